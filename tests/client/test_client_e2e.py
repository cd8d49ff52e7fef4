"""End-to-end: stockctl against every endpoint of a real stockd (tables and --json, exit codes), and
stockbench flash-sale (200 connections, 100 units: exactly 100 sold) and mixed (a few seconds,
invariant check) over HTTP and RESP. Uses tests/server/harness.py to start stockd on free ports."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from harness import Stockd  # noqa: E402

STOCKCTL = os.environ.get("STOCKCTL_BIN", "stockctl")
STOCKBENCH = os.environ.get("STOCKBENCH_BIN", "stockbench")


class ClientE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stockd().start()
        cls.url = f"http://127.0.0.1:{cls.s.http_port}"

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def ctl(self, *args, rc=0, js=False):
        cmd = [STOCKCTL, "--url", self.url] + (["--json"] if js else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, rc, f"{' '.join(cmd)}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return json.loads(p.stdout) if js and p.stdout.strip() and rc == 0 else p.stdout + p.stderr

    def test_01_every_endpoint(self):
        self.assertIn("ok", self.ctl("health"))
        self.assertIn("ready", self.ctl("ready"))
        self.assertEqual(self.ctl("channels", "put", "app", "--priority", "1", "--hold-ttl", "900", js=True)["state"], "active")
        self.assertIn("web", self.ctl("channels", "put", "web", "--priority", "2"))
        self.assertIn("douyin", self.ctl("channels", "put", "douyin", "--priority", "3"))
        chans = self.ctl("channels", "list", js=True)["channels"]
        self.assertEqual({c["channel"] for c in chans} >= {"app", "web", "douyin"}, True)
        self.assertIn("PRIORITY", self.ctl("channels", "list"))
        self.assertEqual(self.ctl("channels", "get", "web", js=True)["priority"], 2)
        sku = self.ctl("skus", "put", "E2E-A", "--on-hand", "100", "--safety-stock", "5", js=True)
        self.assertEqual((sku["on_hand"], sku["available"]), (100, 95))
        self.assertIn("available:", self.ctl("skus", "get", "E2E-A"))
        sku = self.ctl("allocation", "set", "E2E-A", "--fence", "app=ratio:0.2", "--pool", "live=10:douyin",
                       "--preempt", js=True)
        self.assertIn("live", sku["allocation"]["pools"])
        self.assertIn("FENCE", self.ctl("allocation", "get", "E2E-A"))
        self.assertIn("live", self.ctl("allocation", "get", "E2E-A", js=True)["pools"])
        av = self.ctl("availability", "-c", "douyin", "E2E-A", "NOPE", js=True)
        self.assertEqual(av["unknown"], ["NOPE"])
        self.assertIn("unknown: NOPE", self.ctl("availability", "-c", "douyin", "E2E-A", "NOPE"))
        self.ctl("pools", "close", "E2E-A", "live", js=True)
        self.assertEqual(self.ctl("skus", "adjust", "E2E-A", "--delta", "-3", "--reason", "damaged", "--ref", "ADJ-1",
                                  js=True)["on_hand"], 97)
        self.assertEqual(self.ctl("skus", "adjust", "E2E-A", "--delta", "-3", "--ref", "ADJ-1", js=True)["on_hand"], 97)
        self.ctl("skus", "adjust", "E2E-A", "--delta", "-4", "--ref", "ADJ-1", rc=15)  # idempotency_conflict
        self.assertIn("created", self.ctl("holds", "create", "o1", "-c", "app", "-l", "E2E-A:2", "--ttl", "60"))
        self.assertIn("replayed", self.ctl("holds", "create", "o1", "-c", "app", "-l", "E2E-A:2", "--ttl", "60"))
        self.assertEqual(self.ctl("holds", "get", "o1", js=True)["state"], "held")
        self.assertEqual(self.ctl("holds", "extend", "o1", "--ttl", "300", js=True)["state"], "held")
        self.assertEqual(self.ctl("holds", "confirm", "o1", "-l", "E2E-A:1", js=True)["lines"], [{"sku": "E2E-A", "qty": 1}])
        self.ctl("holds", "release", "o1", rc=17)  # invalid_state: release a confirmed hold
        self.ctl("holds", "create", "o2", "-c", "web", "-l", "E2E-A:1")
        self.assertEqual(self.ctl("holds", "release", "o2", js=True)["state"], "released")
        self.assertEqual(self.ctl("holds", "create", "o3", "-c", "app", "-l", "E2E-A:1", "--confirm", js=True)["state"],
                         "confirmed")
        skus = self.ctl("skus", "list", "--all", js=True)
        self.assertIn("E2E-A", [s["sku"] for s in skus["skus"]])
        self.assertIn("E2E-A", self.ctl("skus", "list"))
        page = self.ctl("events", "--limit", "5", js=True)
        self.assertEqual(len(page["events"]), 5)
        self.assertIn("next:", self.ctl("events", "--after", "1", "--limit", "3"))
        watched = self.ctl("watch", "--after", "0", "--count", "3", "--wait", "1")
        self.assertEqual(len(watched.strip().splitlines()), 3, watched)
        first = page["events"][0]["seq"]
        w = self.ctl("watch", "--after", str(first), "--count", "1", js=True)
        self.assertGreater(w["seq"], first)
        # --json watch prints each event as the server sent it (key order and spelling), one per line.
        raw_page = self.ctl("request", "GET", "/v1/events?after=0&limit=3")
        lines = self.ctl("--json", "watch", "--after", "0", "--count", "3", "--wait", "1").strip().splitlines()
        self.assertEqual(len(lines), 3, lines)
        for line in lines:
            self.assertIn(line, raw_page)
        self.assertIn("lsn", json.dumps(self.ctl("snapshot", js=True)))
        self.assertIn("snapshot durable", self.ctl("snapshot"))
        self.assertTrue(self.ctl("reconcile", js=True)["ok"])
        self.assertIn("skus_checked", self.ctl("reconcile"))
        self.assertIn("stockd_", self.ctl("metrics"))
        self.assertIn("ok", self.ctl("request", "GET", "/healthz"))

    def test_04_movements(self):
        self.ctl("channels", "put", "mv", "--priority", "1")
        self.ctl("skus", "put", "E2E-M", "--on-hand", "20")
        self.ctl("holds", "create", "m1", "-c", "mv", "-l", "E2E-M:2")
        self.ctl("skus", "adjust", "E2E-M", "--delta", "-1", "--reason", "damaged", "--ref", "ADJ-M")
        page = self.ctl("movements", "E2E-M", js=True)
        self.assertEqual([m["cause"] for m in page["movements"]], ["set", "hold", "adjust"])
        table = self.ctl("movements", "E2E-M", "--after", str(page["movements"][0]["seq"]))
        lines = table.strip().splitlines()
        self.assertEqual(lines[0].split(), ["SEQ", "AT", "CAUSE", "ON_HAND", "HELD", "EXPOSED", "CHANNEL", "HOLD",
                                            "REF", "REASON"])
        self.assertEqual(lines[1].split()[2:], ["hold", "0", "2", "0", "mv", "m1", "-", "-"])
        self.assertEqual(lines[2].split()[2:], ["adjust", "-1", "0", "0", "-", "-", "ADJ-M", "damaged"])
        self.assertEqual(lines[3], f"next: {page['next']}")
        self.ctl("movements", "NOPE", rc=11)  # unknown_sku

    def test_02_error_codes_and_exit_codes(self):
        self.ctl("channels", "put", "ea", "--priority", "1")
        self.ctl("skus", "put", "E2E-B", "--on-hand", "3", "--max-per-hold", "2")
        self.ctl("skus", "get", "NO-SUCH", rc=11)
        self.ctl("holds", "create", "x1", "-c", "no-such", "-l", "E2E-B:1", rc=12)
        self.ctl("holds", "get", "no-such", rc=13)
        self.ctl("holds", "create", "x2", "-c", "ea", "-l", "E2E-B:2")
        out = self.ctl("holds", "create", "x3", "-c", "ea", "-l", "E2E-B:2", rc=14)
        self.assertIn("insufficient_stock", out)
        self.ctl("holds", "create", "x2", "-c", "ea", "-l", "E2E-B:1", rc=15)
        self.ctl("holds", "create", "x4", "-c", "ea", "-l", "E2E-B:3", rc=16)
        self.ctl("skus", "put", "E2E-B", "--on-hand", "1", rc=17)
        self.ctl("holds", "create", "bad id!", "-c", "ea", "-l", "E2E-B:1", rc=10)
        self.ctl("channels", "freeze", "ea")
        self.ctl("holds", "create", "x5", "-c", "ea", "-l", "E2E-B:1", rc=19)
        err = self.ctl("holds", "create", "x5", "-c", "ea", "-l", "E2E-B:1", rc=19, js=True)
        self.assertIn("channel_frozen", err)
        self.ctl("channels", "unfreeze", "ea")

    def test_03_hold_expired(self):
        self.ctl("channels", "put", "ex", "--priority", "1")
        self.ctl("skus", "put", "E2E-C", "--on-hand", "5")
        self.ctl("holds", "create", "h-exp", "-c", "ex", "-l", "E2E-C:1", "--ttl", "1")
        import time
        deadline = time.time() + 10
        while time.time() < deadline and self.ctl("holds", "get", "h-exp", js=True)["state"] != "expired":
            time.sleep(0.2)
        self.ctl("holds", "confirm", "h-exp", rc=18)
        self.assertEqual(self.ctl("holds", "release", "h-exp", js=True)["state"], "expired")

    def test_04_import_dry_run_and_export(self):
        # A server of its own: 25,000 SKUs here must not meet the stockbench tests' checks.
        s = Stockd().start()
        url = f"http://127.0.0.1:{s.http_port}"

        def ctl(*args, rc=0):
            p = subprocess.run([STOCKCTL, "--url", url] + list(args), capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, rc, f"{args}\nstdout: {p.stdout}\nstderr: {p.stderr}")
            return p

        try:
            d = tempfile.mkdtemp(prefix="stockctl-import-")
            path = os.path.join(d, "set.csv")
            with open(path, "w") as f:
                f.write("sku,on_hand\n" + "".join(f"IMP-{i},{i % 50}\n" for i in range(25000)))
            p = ctl("import", path, "--reason", "received", "--ref", "IMP")
            self.assertIn("25000 rows: 25000 applied, 0 failed", p.stdout)
            self.assertIn("batch 3/3", p.stderr)  # 10,000 rows per batch: 3 batches
            self.assertEqual(s.http("GET", "/v1/skus/IMP-24999")[1]["on_hand"], 24999 % 50)
            # The same --ref again: the first answers, nothing applied twice.
            dpath = os.path.join(d, "delta.csv")
            with open(dpath, "w") as f:
                f.write("sku,delta\nIMP-1,5\nIMP-2,-2\nNOPE,1\n")
            p = ctl("import", dpath, "--reason", "correction", "--ref", "DELTA", rc=11)  # unknown_sku
            self.assertIn("line 4 NOPE: unknown_sku", p.stderr)
            self.assertIn("3 rows: 2 applied, 1 failed", p.stdout)
            ctl("import", dpath, "--reason", "correction", "--ref", "DELTA", rc=11)
            self.assertEqual(s.http("GET", "/v1/skus/IMP-1")[1]["on_hand"], 6)
            # Compare-and-set, dry run first: nothing sent.
            cpath = os.path.join(d, "cas.csv")
            with open(cpath, "w") as f:
                f.write("sku,on_hand,expect_on_hand\nIMP-1,100,6\nIMP-3,100,99\nNEW-1,7,\n")
            p = ctl("import", cpath, "--reason", "cycle_count", "--dry-run")
            self.assertIn("IMP-1: 6 -> 100", p.stdout)
            self.assertIn("IMP-3: 3 -> 100  (precondition_failed: on_hand is 3)", p.stdout)
            self.assertIn("NEW-1: - -> 7  (new)", p.stdout)
            self.assertIn("3 rows: 2 would change, 0 unchanged, 1 would fail", p.stdout)
            self.assertEqual(s.http("GET", "/v1/skus/IMP-1")[1]["on_hand"], 6)
            self.assertEqual(s.http("GET", "/v1/skus/NEW-1")[0], 404)
            p = ctl("--dry-run", "import", cpath, "--reason", "cycle_count")  # the global flag: requests printed
            self.assertIn("POST /v1/stock/batches", p.stdout)
            self.assertEqual(s.http("GET", "/v1/skus/NEW-1")[0], 404)
            # --atomic: the failed batch changes nothing; exit 26 (precondition_failed).
            p = ctl("import", cpath, "--reason", "cycle_count", "--atomic", rc=26)
            self.assertIn("atomic batch 1 failed", p.stderr)
            self.assertEqual(s.http("GET", "/v1/skus/IMP-1")[1]["on_hand"], 6)
            p = ctl("import", cpath, "--reason", "cycle_count", rc=26)
            self.assertEqual(s.http("GET", "/v1/skus/IMP-1")[1]["on_hand"], 100)
            self.assertEqual(s.http("GET", "/v1/skus/NEW-1")[1]["on_hand"], 7)
            # Export every SKU, change the stock, import the export back: restored.
            epath = os.path.join(d, "export.csv")
            ctl("export", epath)
            with open(epath) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[0], "sku,on_hand,safety_stock,held,available")
            self.assertEqual(len(lines), 1 + 25001)
            self.assertIn("IMP-1,100,0,0,100", lines)
            s.http("PUT", "/v1/skus/IMP-7", {"on_hand": 999})
            ctl("import", epath, "--reason", "correction")
            self.assertEqual(s.http("GET", "/v1/skus/IMP-7")[1]["on_hand"], 7)
            ctl("import", os.path.join(d, "missing.csv"), "--reason", "other", rc=2)
            with open(os.path.join(d, "bad.csv"), "w") as f:
                f.write("sku,qty\nA,1\n")
            ctl("import", os.path.join(d, "bad.csv"), "--reason", "other", rc=2)
            ctl("import", path, "--reason", "stolen", rc=2)
            shutil.rmtree(d, ignore_errors=True)
        finally:
            s.cleanup()

    def bench(self, *args):
        cmd = [STOCKBENCH] + list(args) + ["--url", self.url, "--json", "--no-progress"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, f"{' '.join(cmd)}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return json.loads(p.stdout)

    def test_10_flash_sale_http_exactly_k(self):
        r = self.bench("flash-sale", "-c", "200", "--units", "100", "--requests", "400")
        self.assertEqual(r["flash_sale"]["sold"], 100)
        self.assertEqual(r["flash_sale"]["rejected"], 300)
        self.assertTrue(r["invariants"]["ok"])
        self.assertTrue(r["ok"])

    def test_11_flash_sale_resp_pipelined_sales(self):
        r = self.bench("flash-sale", "-c", "200", "--units", "100", "--resp", f"127.0.0.1:{self.s.resp_port}",
                       "--pipeline", "4", "--sale")
        self.assertEqual(r["flash_sale"]["sold"], 100)
        self.assertTrue(r["ok"], r["failures"])

    def test_12_mixed_http_and_resp(self):
        r = self.bench("mixed", "-c", "20", "-d", "3", "--skus", "50", "--on-hand", "300", "--expire-ttl", "1")
        self.assertTrue(r["ok"], r["failures"])
        self.assertGreater(r["requests"], 0)
        self.assertTrue(r["invariants"]["ok"])
        r = self.bench("mixed", "-c", "10", "-n", "3000", "--skus", "50", "--resp", f"127.0.0.1:{self.s.resp_port}",
                       "-P", "8", "--expire-ttl", "1")
        self.assertTrue(r["ok"], r["failures"])

    def test_13_mixed_at_a_fixed_rate(self):
        r = self.bench("mixed", "-c", "4", "-d", "2", "--rate", "200", "--skus", "20", "--expire-ttl", "1")
        self.assertTrue(r["ok"], r["failures"])

    def test_14_repeated_runs_leave_nothing_behind(self):
        # docs/stockbench.md, "What a run leaves in the server": fixed names per --namespace, and a
        # flash-sale releases its holds at the end unless --no-cleanup.
        ns = ["--namespace", "e2e14"]
        r = self.bench("flash-sale", "-c", "10", "--units", "30", "--requests", "40", *ns)
        self.assertTrue(r["ok"], r["failures"])
        channels = self.ctl("channels", "list", js=True)
        hot = self.ctl("skus", "get", "e2e14-hot", js=True)
        self.assertEqual(hot["held"], 0, f"the run's holds were not released: {hot}")
        for _ in range(2):
            r = self.bench("flash-sale", "-c", "10", "--units", "30", "--requests", "40", *ns)
            self.assertTrue(r["ok"], r["failures"])
        self.assertEqual(self.ctl("channels", "list", js=True), channels, "repeated runs added channels")
        # Holds kept by --no-cleanup: the next run still offers --units and sells exactly that many.
        r = self.bench("flash-sale", "-c", "10", "--units", "30", "--requests", "40", "--no-cleanup", *ns)
        self.assertEqual(r["flash_sale"]["sold"], 30)
        self.assertEqual(self.ctl("skus", "get", "e2e14-hot", js=True)["held"], 30)
        r = self.bench("flash-sale", "-c", "10", "--units", "20", "--requests", "25", *ns)
        self.assertEqual(r["flash_sale"]["sold"], 20)
        self.assertTrue(r["ok"], r["failures"])
        self.assertEqual(self.ctl("skus", "get", "e2e14-hot", js=True)["held"], 30, "only this run's holds are released")


if __name__ == "__main__":
    unittest.main()
