"""Three stockd nodes over one Redis Cluster (STOCKD_TEST_STORE=redis-cluster://...): any node serves
any hold, expiry is swept by all three and returns every unit exactly once, a race through all nodes
never oversells (also on a hot SKU split over 3 slots), and (with STOCKD_TEST_PG) the ledger brings
PostgreSQL to the same figures."""
import os
import subprocess
import threading
import time
import unittest

from harness import CLUSTER, Stockd


@unittest.skipUnless(CLUSTER, "cluster store only")
class ClusterNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pg = os.environ.get("STOCKD_TEST_PG", "")
        if pg:  # a database of its own: the ledger tests empty theirs
            db = f"e2e_{os.getpid()}"
            subprocess.run(["psql", pg, "-c", f"CREATE DATABASE {db}"], check=True, capture_output=True)
            pg = pg.rsplit("/", 1)[0] + "/" + db
        cls.pg = pg
        first = ["--tick-ms", "50"] + (["--ledger", pg] if pg else [])
        cls.nodes = [Stockd(first).start()]
        cls.nodes += [Stockd(["--tick-ms", "50"], flush=False).start() for _ in range(2)]

    @classmethod
    def tearDownClass(cls):
        codes = [n.stop() for n in cls.nodes]
        for n in cls.nodes:
            n.cleanup()
        assert codes == [0, 0, 0], f"stockd nodes exited with {codes}"

    def node(self, i):
        return self.nodes[i % len(self.nodes)]

    def sku(self, i, name):
        st, v = self.node(i).http("GET", f"/v1/skus/{name}")
        self.assertEqual(st, 200, v)
        return v

    def test_any_node_serves_any_hold_and_expiry_is_exactly_once(self):
        a, b, c = self.nodes
        self.assertEqual(a.http("PUT", "/v1/channels/app", {"priority": 1, "hold_ttl_s": 900})[0], 200)
        self.assertEqual(a.http("PUT", "/v1/skus/exp-1", {"on_hand": 100})[0], 200)
        ids = []
        for i in range(90):
            st, h = self.node(i).http("POST", "/v1/holds", {"id": f"exp-h{i}", "channel": "app", "ttl_s": 4,
                                                           "lines": [{"sku": "exp-1", "qty": 1}]})
            self.assertEqual(st, 201, h)
            ids.append(h["id"])
        st, h = b.http("POST", "/v1/holds", {"id": "exp-sold", "channel": "app", "lines": [{"sku": "exp-1", "qty": 2}]})
        self.assertEqual(st, 201, h)
        st, h = c.http("POST", "/v1/holds/exp-sold/confirm")
        self.assertEqual((st, h["state"]), (200, "confirmed"), h)
        st, e = a.http("POST", "/v1/holds/exp-sold/release")
        self.assertEqual((st, e["error"]["code"]), (409, "invalid_state"), e)
        for i in range(3):
            self.assertEqual(self.sku(i, "exp-1")["held"], 90)
        deadline = time.time() + 15
        while time.time() < deadline and self.sku(0, "exp-1")["held"] > 0:
            time.sleep(0.2)
        for i in range(3):
            v = self.sku(i, "exp-1")
            self.assertEqual((v["on_hand"], v["held"], v["available"]), (98, 0, 98), v)
        for i, hid in enumerate(ids):
            st, h = self.node(i + 1).http("GET", f"/v1/holds/{hid}")
            self.assertEqual((st, h["state"]), (200, "expired"), h)
        st, rec = b.http("POST", "/v1/admin/reconcile")
        self.assertEqual((st, rec["ok"]), (200, True), rec)

    def race(self, prefix, sku, buyers, holds_each):
        """Buyers in threads, buyer k through node k % 3, each holding 1 unit `holds_each` times.
        Returns (status, error code or None, hold id) per attempt."""
        results = []
        lock = threading.Lock()

        def buyer(k):
            for j in range(holds_each):
                hid = f"{prefix}-{k}-{j}"
                st, body = self.node(k).http("POST", "/v1/holds", {"id": hid, "channel": "app",
                                                                 "lines": [{"sku": sku, "qty": 1}]})
                with lock:
                    results.append((st, body.get("error", {}).get("code"), hid))
        threads = [threading.Thread(target=buyer, args=(k,)) for k in range(buyers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_race_through_all_nodes_never_oversells(self):
        a = self.nodes[0]
        self.assertEqual(a.http("PUT", "/v1/channels/app", {"priority": 1})[0], 200)
        self.assertEqual(a.http("PUT", "/v1/skus/race-1", {"on_hand": 50})[0], 200)
        results = self.race("race", "race-1", buyers=15, holds_each=10)
        ok = sum(1 for st, _, _ in results if st == 201)
        short = sum(1 for st, code, _ in results if st == 409 and code == "insufficient_stock")
        self.assertEqual((ok, short, len(results)), (50, 100, 150), results)
        for i in range(3):
            v = self.sku(i, "race-1")
            self.assertEqual((v["held"], v["available"]), (50, 0), v)

    def test_a_split_hot_sku_sells_exactly_its_stock_through_all_nodes(self):
        a, b, c = self.nodes
        self.assertEqual(a.http("PUT", "/v1/channels/app", {"priority": 1})[0], 200)
        st, v = a.http("PUT", "/v1/skus/hot-1", {"on_hand": 60, "split": 3})
        self.assertEqual((st, v.get("split"), v["available"]), (200, 3, 60), v)
        results = self.race("hot", "hot-1", buyers=12, holds_each=8)
        held = [hid for st, _, hid in results if st == 201]
        short = sum(1 for st, code, _ in results if st == 409 and code == "insufficient_stock")
        self.assertEqual((len(held), short, len(results)), (60, 36, 96), results)
        for i in range(3):
            v = self.sku(i, "hot-1")
            self.assertEqual((v["on_hand"], v["held"], v["available"], v["split"]), (60, 60, 0, 3), v)
        for i, hid in enumerate(held[:10]):  # 10 paid, 5 cancelled, through any node
            self.assertEqual(self.node(i).http("POST", f"/v1/holds/{hid}/confirm")[0], 200)
        for i, hid in enumerate(held[10:15]):
            self.assertEqual(self.node(i + 1).http("POST", f"/v1/holds/{hid}/release")[0], 200)
        st, v = b.http("POST", "/v1/skus/hot-1/adjustments", {"delta": 20, "reason": "restock", "ref": "R-1"})
        self.assertEqual((st, v["on_hand"], v["held"], v["available"]), (200, 70, 45, 25), v)
        st, v = c.http("PUT", "/v1/skus/hot-1", {"split": 1})
        self.assertEqual((st, v["on_hand"], v["held"], v["available"]), (200, 70, 45, 25), v)
        self.assertNotIn("split", v)
        st, rec = c.http("POST", "/v1/admin/reconcile")
        self.assertEqual((st, rec["ok"]), (200, True), rec)
        if self.pg:  # the shards' rows add up to the SKU's figures
            self.assertEqual(self.pg_until("SELECT on_hand || '|' || held FROM sku_levels WHERE sku = 'hot-1'", "70|45"),
                             "70|45", "sku_levels in PostgreSQL")

    def pg_until(self, query, want, timeout_s=15):
        """The query's value once it equals `want` (the ledger catching up), or its last value."""
        got = ""
        deadline = time.time() + timeout_s
        while time.time() < deadline and got != want:
            got = subprocess.run(["psql", self.pg, "-At", "-c", query], capture_output=True, text=True).stdout.strip()
            time.sleep(0.2)
        return got

    def masters(self):
        seed = os.environ["STOCKD_TEST_STORE"][len("redis-cluster://"):].split(",")[0]
        host, port = seed.rsplit(":", 1)
        out = subprocess.run(["redis-cli", "-h", host, "-p", port, "CLUSTER", "NODES"], check=True,
                             capture_output=True, text=True).stdout
        return [f[1].split("@")[0] for f in (l.split() for l in out.splitlines())
                if len(f) > 2 and "master" in f[2] and "fail" not in f[2]]

    def wait_calls(self):
        total = 0
        for addr in self.masters():
            host, port = addr.rsplit(":", 1)
            out = subprocess.run(["redis-cli", "-h", host, "-p", port, "INFO", "commandstats"],
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                if line.startswith("cmdstat_wait:"):
                    total += int(line.split("calls=")[1].split(",")[0])
        return total

    def test_a_pipelined_batch_is_acknowledged_with_one_wait(self):
        a = self.nodes[0]
        c = a.resp()
        before = self.wait_calls()
        replies = c.pipeline(*[("SETSTOCK", f"batch-{i}", 10 + i) for i in range(40)])
        self.assertEqual(replies, ["OK"] * 40)
        waits = self.wait_calls() - before
        # One WAIT per master the batch wrote to (3 masters), not one per command (40); the other nodes'
        # sweeps may add a few.
        self.assertLessEqual(waits, 12, f"{waits} WAIT calls for a batch of 40 writes")
        self.assertGreaterEqual(waits, 1)
        self.assertEqual(c.call("AVAIL", "batch-39"), 49)
        c.close()

    def test_a_batch_that_is_not_replicated_is_answered_unavailable(self):
        # Two replicas per write on a cluster with one replica per master: every WAIT falls short.
        node = Stockd(["--tick-ms", "50", "--redis-wait-replicas", "2", "--redis-wait-timeout-ms", "100"],
                      flush=False).start()
        try:
            c = node.resp()
            replies = c.pipeline(("SETSTOCK", "unacked-1", 5), ("PING",), ("AVAIL", "unacked-1"),
                                 ("SETSTOCK", "unacked-2", 6), ("HOLD", "unacked-h", "nochannel", 60, "unacked-1", 1))
            self.assertTrue(replies[0].startswith("UNAVAILABLE"), replies)
            self.assertEqual(replies[1], "PONG")
            self.assertEqual(replies[2], 5)  # applied, just not acknowledged: a retry is safe
            self.assertTrue(replies[3].startswith("UNAVAILABLE"), replies)
            self.assertTrue(replies[4].startswith("UNKNOWN_CHANNEL"), replies)  # errors stay errors
            c.close()
            st, e = node.http("PUT", "/v1/skus/unacked-3", {"on_hand": 1})
            self.assertEqual((st, e["error"]["code"]), (503, "unavailable"), e)
        finally:
            self.assertEqual(node.stop(), 0)
            node.cleanup()

    @unittest.skipUnless(os.environ.get("STOCKD_TEST_PG"), "needs STOCKD_TEST_PG (the ledger's database)")
    def test_ledger_brings_postgresql_to_the_same_figures(self):
        a, b, _ = self.nodes
        self.assertEqual(a.http("PUT", "/v1/channels/app", {"priority": 1})[0], 200)
        self.assertEqual(b.http("PUT", "/v1/skus/led-1", {"on_hand": 40})[0], 200)
        st, h = b.http("POST", "/v1/holds", {"id": "led-h1", "channel": "app", "lines": [{"sku": "led-1", "qty": 3}]})
        self.assertEqual(st, 201, h)
        st, _ = a.http("POST", "/v1/holds/led-h1/confirm")
        self.assertEqual(st, 200)
        st, v = b.http("POST", "/v1/skus/led-1/adjustments", {"delta": 5, "reason": "receipt", "ref": "RCV-9"})
        self.assertEqual(st, 200, v)
        want = f"{v['on_hand']}|{v['held']}|{v['version']}"
        got = self.pg_until("SELECT on_hand || '|' || held || '|' || version FROM stock_levels WHERE sku = 'led-1'", want)
        self.assertEqual(got, want, "stock_levels in PostgreSQL")
        kinds = subprocess.run(["psql", self.pg, "-At", "-c",
                                "SELECT string_agg(kind, ',' ORDER BY version) FROM stock_movements WHERE sku = 'led-1'"],
                               capture_output=True, text=True).stdout.strip()
        self.assertEqual(kinds, "set,hold,confirm,adjust")
        st, rec = a.http("POST", "/v1/admin/reconcile")
        self.assertEqual((st, rec["ok"]), (200, True), rec)


if __name__ == "__main__":
    unittest.main()
