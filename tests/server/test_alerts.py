"""Alerts (the contract's "Alerts"): PUT/GET /v1/alerts, the bodies a receiver gets, deduplication per
state change, retries of a failing receiver, `stockctl alerts test`, persistence across restarts, and
the config file's [alerts] failing closed. The receiver is a local http.server in a thread.

Ordering is the barrier, not time: alerts are sent one at a time in the order they were raised, so once
a test alert raised after an action has arrived, every alert that action raised has arrived too."""
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import CLUSTER, STOCKD, Stockd, free_port

STOCKCTL = os.environ.get("STOCKCTL_BIN", "stockctl")
WAIT_S = 20  # the longest wait for a receiver to see something; a bound, never a pass/fail measure


class Receiver:
    """Records every POST (path, headers, parsed body); answers `fail_next` requests with 500 first."""

    def __init__(self):
        self.requests = []
        self.fail_next = 0
        self.cv = threading.Condition()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                with rec.cv:
                    failing = rec.fail_next > 0
                    if failing:
                        rec.fail_next -= 1
                    rec.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw,
                                         "body": json.loads(raw), "answered": 500 if failing else 200})
                    rec.cv.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=t1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, pred, what):
        """Waits until pred(requests) holds; fails the test with what it saw otherwise."""
        deadline = time.time() + WAIT_S
        with self.cv:
            while not pred(self.requests):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"receiver never saw {what}; it saw {[r['body'] for r in self.requests]}")
                self.cv.wait(left)
            return list(self.requests)

    def delivered(self, kind):
        """The alerts of `kind` answered 200, but not the barrier's markers (SKUs "mk-...")."""
        with self.cv:
            return [r["body"] for r in self.requests if r["answered"] == 200 and r["body"].get("alert") == kind
                    and not str(r["body"].get("sku", "")).startswith("mk-")]


class AlertsTest(unittest.TestCase):
    def setUp(self):
        self.rx = Receiver()
        self.s = Stockd().start()

    def tearDown(self):
        self.s.cleanup()
        self.rx.close()

    def put_alerts(self, fmt="json"):
        st, body = self.s.http("PUT", "/v1/alerts", {"url": self.rx.url, "format": fmt})
        self.assertEqual(st, 200, body)
        return body

    def barrier(self):
        """Waits until every alert the writes before it raise has been delivered. Embedded store: a test
        alert, queued after them. Cluster store (alerts come from the ledger's feed, in feed order): a
        marker SKU's low_stock alert, then an empty queue (docs/cluster.md "Alerts")."""
        if CLUSTER:
            self.markers = getattr(self, "markers", 0) + 1
            sku = f"mk-{self.markers}"
            self.assertEqual(self.s.http("PUT", "/v1/channels/mk", {"priority": 1})[0], 200)
            self.assertEqual(self.s.http("PUT", f"/v1/skus/{sku}", {"on_hand": 10, "low_stock_threshold": 5})[0], 200)
            hold = {"id": f"{sku}-h", "channel": "mk", "lines": [{"sku": sku, "qty": 6}]}
            self.assertEqual(self.s.http("POST", "/v1/holds", hold)[0], 201)
            self.rx.wait_for(lambda rs: any(r["body"].get("sku") == sku and r["answered"] == 200 for r in rs),
                             f"the marker alert of {sku}")
            deadline = time.time() + WAIT_S
            while self.s.http("GET", "/v1/alerts")[1]["queued"] > 0:
                self.assertLess(time.time(), deadline, "the alert queue never emptied")
                time.sleep(0.05)
            return
        with self.rx.cv:
            seen = sum(1 for r in self.rx.requests if r["body"].get("alert") == "test" and r["answered"] == 200)
        st, body = self.s.http("POST", "/v1/alerts/test")
        self.assertEqual(st, 200, body)
        self.rx.wait_for(lambda rs: sum(1 for r in rs if r["body"].get("alert") == "test" and r["answered"] == 200) > seen,
                         "the test alert")

    def test_put_get_and_validation(self):
        st, body = self.s.http("GET", "/v1/alerts")
        self.assertEqual((st, body["url"], body["source"]), (200, None, "none"))
        st, body = self.s.http("POST", "/v1/alerts/test")
        self.assertEqual((st, body["error"]["code"]), (409, "invalid_state"))
        body = self.put_alerts("slack")
        self.assertEqual((body["url"], body["format"], body["source"]), (self.rx.url, "slack", "api"))
        for bad in ({"url": "https://example.com/x"}, {"url": "ftp://x"}, {"url": self.rx.url, "format": "teams"},
                    {"url": self.rx.url, "extra": 1}, {"format": "json"}, {"url": 5}):
            with self.subTest(body=bad):
                st, reply = self.s.http("PUT", "/v1/alerts", bad)
                self.assertEqual((st, reply["error"]["code"]), (400, "invalid_request"), reply)
        st, body = self.s.http("GET", "/v1/alerts")
        self.assertEqual((body["url"], body["format"]), (self.rx.url, "slack"), "a refused PUT changed the config")

    def test_low_stock_event_sends_exactly_one_json_alert(self):
        self.put_alerts("json")
        self.assertEqual(self.s.http("PUT", "/v1/channels/app", {"priority": 1})[0], 200)
        st, sku = self.s.http("PUT", "/v1/skus/lw-1", {"on_hand": 100, "low_stock_threshold": 10})
        self.assertEqual(st, 200, sku)
        st, hold = self.s.http("POST", "/v1/holds", {"id": "lw-h1", "channel": "app", "lines": [{"sku": "lw-1", "qty": 95}]})
        self.assertEqual(st, 201, hold)
        if CLUSTER:  # its feed sees a SKU's state per ledger round: let this one be seen alone
            self.barrier()
        # Still below the threshold: no new state change, no second alert.
        st, hold = self.s.http("POST", "/v1/holds", {"id": "lw-h2", "channel": "app", "lines": [{"sku": "lw-1", "qty": 1}]})
        self.assertEqual(st, 201, hold)
        self.barrier()
        alerts = self.rx.delivered("low_stock")
        self.assertEqual(len(alerts), 1, alerts)
        a = alerts[0]
        self.assertEqual((a["sku"], a["available"], a["threshold"]), ("lw-1", 5, 10), a)
        self.assertRegex(a["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertIn("lw-1", a["message"])
        self.assertNotIn("channel", a)

    @unittest.skipUnless(CLUSTER, "cluster store: several nodes run the ledger")
    def test_two_nodes_with_alerts_send_each_alert_once(self):
        # A second node on the same cluster and ledger, with alerts too: one of them sends (the holder
        # of the alerts lock in PostgreSQL), so the robot gets each alert once.
        ledger = self.s.extra_args[self.s.extra_args.index("--ledger") + 1]
        other = Stockd(extra_args=["--ledger", ledger], flush=False).start()
        try:
            self.put_alerts("json")
            st, body = other.http("PUT", "/v1/alerts", {"url": self.rx.url, "format": "json"})
            self.assertEqual(st, 200, body)
            self.assertEqual(self.s.http("PUT", "/v1/channels/app", {"priority": 1})[0], 200)
            self.assertEqual(self.s.http("PUT", "/v1/skus/tn-1", {"on_hand": 100, "low_stock_threshold": 10})[0], 200)
            self.barrier()
            st, hold = other.http("POST", "/v1/holds", {"id": "tn-h1", "channel": "app",
                                                        "lines": [{"sku": "tn-1", "qty": 95}]})
            self.assertEqual(st, 201, hold)
            self.barrier()
            self.assertEqual([a["sku"] for a in self.rx.delivered("low_stock")], ["tn-1"])
            markers = [r["body"]["sku"] for r in self.rx.requests if str(r["body"].get("sku", "")).startswith("mk-")]
            self.assertEqual(len(markers), len(set(markers)), f"a marker alert was sent twice: {markers}")

            def leading(node):
                st, text = node.http("GET", "/metrics")
                self.assertEqual(st, 200)
                line = [l for l in text.splitlines() if l.startswith("stockd_alerts_feed_leading ")]
                self.assertEqual(len(line), 1, text[-2000:])
                return int(float(line[0].split()[1]))
            self.assertEqual(leading(self.s) + leading(other), 1, "exactly one node sends")
        finally:
            other.cleanup()

    def test_out_of_stock_once_per_state_change(self):
        self.put_alerts("json")
        self.assertEqual(self.s.http("PUT", "/v1/channels/app", {"priority": 1})[0], 200)
        # A SKU created empty never reached 0: no alert for it.
        self.assertEqual(self.s.http("PUT", "/v1/skus/oo-0", {"on_hand": 0})[0], 200)
        self.assertEqual(self.s.http("PUT", "/v1/skus/oo-1", {"on_hand": 3})[0], 200)
        if CLUSTER:  # its feed sees a SKU's state per ledger round: let "3 available" be seen first
            self.barrier()
        hold = {"id": "oo-h1", "channel": "app", "lines": [{"sku": "oo-1", "qty": 3}]}
        self.assertEqual(self.s.http("POST", "/v1/holds", hold)[0], 201)
        # Stays at 0 (stock set to what is held): the same state, no second alert.
        self.assertEqual(self.s.http("PUT", "/v1/skus/oo-1", {"on_hand": 3})[0], 200)
        self.barrier()
        self.assertEqual([a["sku"] for a in self.rx.delivered("out_of_stock")], ["oo-1"])
        # Back above 0 re-arms; 0 again fires again.
        self.assertEqual(self.s.http("POST", "/v1/holds/oo-h1/release")[0], 200)
        if CLUSTER:
            self.barrier()
        hold["id"] = "oo-h2"
        self.assertEqual(self.s.http("POST", "/v1/holds", hold)[0], 201)
        self.barrier()
        self.assertEqual([a["sku"] for a in self.rx.delivered("out_of_stock")], ["oo-1", "oo-1"])

    def test_failing_receiver_gets_retries_until_it_succeeds(self):
        self.put_alerts("dingtalk")
        with self.rx.cv:
            self.rx.fail_next = 2
        st, body = self.s.http("POST", "/v1/alerts/test")
        self.assertEqual(st, 200, body)
        reqs = self.rx.wait_for(lambda rs: any(r["answered"] == 200 for r in rs), "a successful attempt")
        self.assertEqual([r["answered"] for r in reqs], [500, 500, 200])
        self.assertEqual(len({r["raw"] for r in reqs}), 1, "a retry must send the same body")
        body = reqs[-1]["body"]
        self.assertEqual(body["msgtype"], "text")
        self.assertIn("[stockd] test alert", body["text"]["content"])
        self.assertEqual(reqs[-1]["path"], "/hook?token=t1")
        self.assertEqual(reqs[-1]["headers"]["Content-Type"], "application/json")
        deadline = time.time() + WAIT_S
        while True:  # the server learns of the success at its next tick
            st, state = self.s.http("GET", "/v1/alerts")
            if state["sent_total"] == 1 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual((state["sent_total"], state["failures_total"], state["queued"]), (1, 2, 0), state)
        self.assertEqual(state["last_error"], "HTTP 500")

    def test_stockctl_alerts_test_and_show(self):
        url = f"http://127.0.0.1:{self.s.http_port}"
        p = subprocess.run([STOCKCTL, "--url", url, "alerts", "set", self.rx.url, "--format", "feishu"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([STOCKCTL, "--url", url, "alerts", "test"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("test alert delivered", p.stdout)
        body = self.rx.wait_for(lambda rs: len(rs) >= 1, "the sample")[0]["body"]
        self.assertEqual(body["msg_type"], "text")
        self.assertIn("[stockd] test alert", body["content"]["text"])
        p = subprocess.run([STOCKCTL, "--url", url, "--json", "alerts"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        shown = json.loads(p.stdout)
        self.assertEqual((shown["url"], shown["format"], shown["sent_total"]), (self.rx.url, "feishu", 1))
        if not CLUSTER:  # (the cluster store has no webhook deliveries: 501)
            p = subprocess.run([STOCKCTL, "--url", url, "deliveries"], capture_output=True, text=True, timeout=60)
            self.assertEqual((p.returncode, p.stdout), (0, "no channel has a webhook\n"), p.stderr)

    def test_config_survives_restart(self):
        self.put_alerts("feishu")
        self.assertEqual(self.s.restart(), 0, "SIGTERM must drain and exit 0 with the alert sender running")
        st, body = self.s.http("GET", "/v1/alerts")
        self.assertEqual((st, body["url"], body["format"], body["source"]), (200, self.rx.url, "feishu", "api"))


class AlertsConfigFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stockd-alerts-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_config_file_alerts_until_an_api_put(self):
        rx = Receiver()
        try:
            s = Stockd(config=f'[alerts]\nurl = "{rx.url}"\nformat = "slack"\n').start()
            try:
                st, body = s.http("GET", "/v1/alerts")
                self.assertEqual((body["url"], body["format"], body["source"]), (rx.url, "slack", "config_file"))
                st, body = s.http("PUT", "/v1/alerts", {"url": rx.url + "&b=1", "format": "json"})
                s.restart()
                st, body = s.http("GET", "/v1/alerts")
                self.assertEqual((body["url"], body["source"]), (rx.url + "&b=1", "api"))
            finally:
                s.cleanup()
        finally:
            rx.close()

    def test_mistakes_in_alerts_stop_stockd(self):
        for config in ('[alerts]\nurl = "http://127.0.0.1:1/x"\nchannel = "x"\n',
                       '[alerts]\nurl = "https://oapi.dingtalk.com/robot/send"\n',
                       '[alerts]\nurl = "http://127.0.0.1:1/x"\nformat = "teams"\n',
                       '[alerts]\nurl = 5\n',
                       '[alerts]\nformat = "json"\n',
                       'alerts = "http://127.0.0.1:1/x"\n'):
            with self.subTest(config=config):
                path = os.path.join(self.dir, "stockd.toml")
                with open(path, "w") as f:
                    f.write(config)
                port = free_port()
                p = subprocess.run([STOCKD, "--data-dir", os.path.join(self.dir, "data"), "--http", f"127.0.0.1:{port}",
                                    "--resp", "off", "--config", path], capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(f"stockd: config {path}:", p.stderr)


@unittest.skipUnless(CLUSTER, "cluster store only")
class ClusterAlertsTest(unittest.TestCase):
    """A cluster node without the ledger has no alerts (they come from the ledger's feed), and no node
    has webhook deliveries: 501 not_implemented (docs/api.md)."""

    def test_routes_are_not_implemented(self):
        s = Stockd(flush=False).start()  # (a second stockd: no ledger, see harness.py)
        try:
            for method, path, body in (("GET", "/v1/alerts", None), ("PUT", "/v1/alerts", {"url": "http://127.0.0.1:1/"}),
                                       ("POST", "/v1/alerts/test", None), ("GET", "/v1/deliveries", None)):
                with self.subTest(route=f"{method} {path}"):
                    st, reply = s.http(method, path, body)
                    self.assertEqual((st, reply["error"]["code"]), (501, "not_implemented"), reply)
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()
