#!/usr/bin/python3
"""events_http_lag: how long after a write is acknowledged over HTTP its event can be read from
GET /v1/events, end to end through a running stockd (either store; docs/cluster.md "Events feed",
figures in docs/benchmarks.md). A program that prints figures, not a test.

  bench/events_http_lag.py --url http://127.0.0.1:8080 [--writes 2000] [--rate 200] [--skus 50]

A writer sets SKUs lag-<run>-<k> (k < --skus) to on_hand = i for write i, paced to --rate writes/s
(PUT /v1/skus/{sku}, one connection). A reader long-polls the feed from its newest seq (wait_s=5) as a
channel adapter would, on its own connection. Lag of write i = the time the reader got the
stock_adjusted event of (sku, on_hand = i) - the time the PUT's answer arrived (0 when the event came
first). Prints p50, p90, p99 and max in ms, and how many events were never seen within --tail-s after
the last write. Needs an admin token (--token) when the node has [auth].
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def request(conn, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"{}")


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100.0 * len(sorted_values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="stockd's HTTP address, e.g. http://127.0.0.1:8080")
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=200.0, help="writes per second")
    ap.add_argument("--skus", type=int, default=50)
    ap.add_argument("--tail-s", type=float, default=10.0, help="how long to wait for the last events")
    ap.add_argument("--token", default=None)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    host, port = u.hostname, u.port or 80
    run = f"{int(time.time()) % 100000}"
    names = [f"lag-{run}-{k}" for k in range(a.skus)]

    reader_conn = http.client.HTTPConnection(host, port, timeout=30)
    st, page = request(reader_conn, "GET", "/v1/events?after=0&limit=1", token=a.token)
    if st != 200:
        raise SystemExit(f"GET /v1/events answered {st}: {page}")
    # The newest seq: page through quickly (limit 10,000) from the first page's next.
    after = page["next"]
    while True:
        st, page = request(reader_conn, "GET", f"/v1/events?after={after}&limit=10000", token=a.token)
        if not page["events"]:
            break
        after = page["next"]

    acked = {}  # (sku, on_hand) -> time the PUT was answered
    seen = {}   # (sku, on_hand) -> time the reader got its event
    done = threading.Event()

    def reader():
        nonlocal after
        while not done.is_set():
            st, page = request(reader_conn, "GET", f"/v1/events?after={after}&limit=10000&wait_s=5", token=a.token)
            now = time.monotonic()
            if st != 200:
                raise SystemExit(f"GET /v1/events answered {st}: {page}")
            for e in page["events"]:
                if e.get("type") == "stock_adjusted" and e.get("sku", "").startswith(f"lag-{run}-"):
                    seen.setdefault((e["sku"], e["on_hand"]), now)
            after = page["next"]

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    writer_conn = http.client.HTTPConnection(host, port, timeout=30)
    start = time.monotonic()
    for i in range(1, a.writes + 1):
        due = start + i / a.rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sku = names[i % a.skus]
        st, body = request(writer_conn, "PUT", f"/v1/skus/{sku}", {"on_hand": i}, token=a.token)
        if st != 200:
            raise SystemExit(f"PUT /v1/skus/{sku} answered {st}: {body}")
        acked[(sku, i)] = time.monotonic()
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + a.tail_s
    while time.monotonic() < deadline and not all(k in seen for k in acked):
        time.sleep(0.05)
    done.set()
    lags = sorted(max(0.0, seen[k] - acked[k]) * 1000.0 for k in acked if k in seen)
    missing = sum(1 for k in acked if k not in seen)
    print(f"events_http_lag: {a.url}, {a.writes} writes at {a.writes / elapsed:.0f}/s achieved "
          f"({a.rate:g}/s asked) over {a.skus} SKUs")
    print(f"lag ms: p50 {percentile(lags, 50):.1f}  p90 {percentile(lags, 90):.1f}  "
          f"p99 {percentile(lags, 99):.1f}  max {lags[-1] if lags else float('nan'):.1f}  never seen {missing}")


if __name__ == "__main__":
    main()
