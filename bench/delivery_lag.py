#!/usr/bin/env python3
"""Delivery lag of listed channels (docs/benchmarks.md, "Listed channels: delivery lag"): the time from
a stock write's answer to the webhook receiver's 2xx for the publication that reflects it.

A real stockd (tests/server/harness.py) with one listed channel (percent 100) pushing to a local
http.server receiver that verifies the signature and records, per SKU, when each quantity arrived (just
before it answers 200). Every write is POST /v1/skus/{sku}/adjustments {"delta":+1}: a raise, published
at once, so the quantities of a SKU only grow and the write's answer names the quantity to wait for
(`channels.<c>.published`). The lag of a write = first arrival of a quantity >= that one - the moment
the write was answered.

Two runs: `idle` (one write, then wait for its delivery: the lag of a lone write) and `busy` (writes back
to back from one client, deliveries coalescing behind them).

  STOCKD_BIN=build/default/src/apps/stockd/stockd python3 bench/delivery_lag.py [idle_writes] [busy_writes]
"""
import hashlib
import hmac
import http.client
import http.server
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "server"))
from harness import Stockd  # noqa: E402

SECRET = b"lag-secret"
SKUS = [f"lag-{i:02d}" for i in range(50)]


class Receiver:
    def __init__(self):
        self.arrivals = {}  # sku -> [(time, quantity)]
        self.cv = threading.Condition()
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(expected, self.headers.get("X-Stockd-Signature", ""))
                if ok:
                    now = time.time()
                    with rx.cv:
                        for p in json.loads(raw)["publications"]:
                            rx.arrivals.setdefault(p["sku"], []).append((now, p["quantity"]))
                        rx.cv.notify_all()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stock"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first_at_least(self, sku, qty, timeout_s=30):
        end = time.time() + timeout_s
        with self.cv:
            while True:
                for t, q in self.arrivals.get(sku, []):
                    if q >= qty:
                        return t
                if time.time() > end:
                    raise RuntimeError(f"{sku} never reached {qty}")
                self.cv.wait(end - time.time())


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    idle_n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    busy_n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    rx = Receiver()
    s = Stockd().start()
    try:
        c = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=30)

        def call(method, path, body):
            c.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = json.loads(r.read())
            assert r.status == 200, (r.status, data)
            return data

        for sku in SKUS:
            call("PUT", f"/v1/skus/{sku}", {"on_hand": 10})
        call("PUT", "/v1/channels/hook", {"priority": 1, "listing": {"percent": 100},
                                          "webhook": {"url": rx.url, "secret": SECRET.decode()}})
        for sku in SKUS:
            rx.first_at_least(sku, 10)
        n = 0
        for mode, count in (("idle", idle_n), ("busy", busy_n)):
            writes = []
            for i in range(count):
                sku = SKUS[i % len(SKUS)]
                n += 1
                view = call("POST", f"/v1/skus/{sku}/adjustments", {"delta": 1, "ref": f"lag-{n}"})
                writes.append((sku, view["channels"]["hook"]["published"], time.time()))
                if mode == "idle":
                    rx.first_at_least(sku, writes[-1][1])
            lags = [rx.first_at_least(sku, q) - t for sku, q, t in writes]
            lags = [max(0.0, x) * 1000 for x in lags]  # an arrival before the client read the answer: 0
            print(f"{mode}: writes={count} lag_ms p50={pct(lags, 50):.1f} p90={pct(lags, 90):.1f} "
                  f"p99={pct(lags, 99):.1f} max={max(lags):.1f}", flush=True)
    finally:
        s.cleanup()
        rx.server.shutdown()


if __name__ == "__main__":
    main()
