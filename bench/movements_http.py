#!/usr/bin/env python3
"""GET /v1/movements over HTTP on SKU "HOT" (give it 1,000,000 movements first, docs/benchmarks.md
"Movements"): N pages of LIMIT movements at a random `after`, p50/p99/max latency.
Usage: bench/movements_http.py HOST PORT LIMIT N"""
import http.client, json, random, sys, time
host, port, limit, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPConnection(host, port)
def get(path):
    c.request("GET", path); r = c.getresponse(); return r.status, r.read()
hi = 2_000_010
lat = []
for _ in range(n):
    after = random.randint(0, hi)
    t = time.perf_counter(); st, body = get(f"/v1/movements?sku=HOT&after={after}&limit={limit}"); lat.append(time.perf_counter() - t)
    assert st == 200, body
lat.sort()
print(f"limit {limit}: {n} pages, p50 {lat[n//2]*1e3:.2f} ms, p99 {lat[int(n*0.99)]*1e3:.2f} ms, max {lat[-1]*1e3:.2f} ms")
