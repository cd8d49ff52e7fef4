"""Every HTTP endpoint and error code of the contract (docs/api.md), against a real stockd process."""
import http.client
import json
import re
import socket
import time
import unittest

from harness import CLUSTER, Stockd


def wait_for(condition, what, timeout_s=60):
    """Polls condition() until it returns a true value (returned) or timeout_s passes (AssertionError).
    The timeout only bounds a hung test; how long the condition took never passes or fails one."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)

# The cluster store has no snapshots (docs/cluster.md): those tests are replaced by tests of what it
# answers instead (ClusterDifferencesTest below).
EMBEDDED_ONLY = unittest.skipIf(CLUSTER, "embedded store only; see ClusterDifferencesTest")


def events_until(s, after, want, what, wait_s=5, rounds=12):
    """The feed's events after `after`, long-polling until want(events) holds. On the embedded store
    an acknowledged write's events are in the feed at once; on the cluster store they are once the
    ledger applied them (docs/cluster.md "Events feed": p99 well under 1 s), so both stores pass."""
    events = []
    for _ in range(rounds):
        st, page = s.http("GET", f"/v1/events?after={after}&limit=10000&wait_s={wait_s}")
        assert st == 200, page
        events += page["events"]
        after = page["next"]
        if want(events):
            return events
    raise AssertionError(f"not in the feed: {what}: {events}")


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stockd().start()

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def put_channel(self, name, priority=1, ttl=900, state="active"):
        st, body = self.s.http("PUT", f"/v1/channels/{name}", {"priority": priority, "hold_ttl_s": ttl, "state": state})
        self.assertEqual(st, 200, body)
        return body

    def put_sku(self, sku, on_hand, **extra):
        st, body = self.s.http("PUT", f"/v1/skus/{sku}", dict({"on_hand": on_hand}, **extra))
        self.assertEqual(st, 200, body)
        return body

    def hold(self, id, channel, lines, **extra):
        return self.s.http("POST", "/v1/holds", dict({"id": id, "channel": channel,
                                                      "lines": [{"sku": k, "qty": q} for k, q in lines]}, **extra))

    def assertError(self, resp, status, code):
        st, body = resp
        self.assertEqual(st, status, body)
        self.assertIn("error", body, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertIsInstance(body["error"]["message"], str)
        return body["error"]

    def test_channels(self):
        ch = self.put_channel("ch-a", priority=3, ttl=600)
        self.assertEqual(ch["priority"], 3)
        self.assertEqual(ch["hold_ttl_s"], 600)
        self.assertEqual(ch["state"], "active")
        st, body = self.s.http("GET", "/v1/channels")
        self.assertEqual(st, 200)
        names = [c["channel"] for c in body["channels"]]
        self.assertIn("ch-a", names)

    def test_sku_view_and_adjustments(self):
        self.put_channel("app")
        v = self.put_sku("sku-adj", 100, safety_stock=5)
        for k in ("sku", "on_hand", "safety_stock", "held", "available", "channels", "version"):
            self.assertIn(k, v)
        self.assertEqual((v["on_hand"], v["safety_stock"], v["held"], v["available"]), (100, 5, 0, 95))
        self.assertEqual(v["channels"]["app"]["available"], 95)
        st, v2 = self.s.http("POST", "/v1/skus/sku-adj/adjustments", {"delta": -3, "reason": "damaged", "ref": "ADJ-17"})
        self.assertEqual(st, 200, v2)
        self.assertEqual(v2["on_hand"], 97)
        # the same ref again is applied once
        st, v3 = self.s.http("POST", "/v1/skus/sku-adj/adjustments", {"delta": -3, "reason": "damaged", "ref": "ADJ-17"})
        self.assertEqual(st, 200, v3)
        self.assertEqual(v3["on_hand"], 97)
        self.assertError(self.s.http("POST", "/v1/skus/sku-adj/adjustments", {"delta": -4, "ref": "ADJ-17"}),
                         409, "idempotency_conflict")
        st, g = self.s.http("GET", "/v1/skus/sku-adj")
        self.assertEqual((st, g["on_hand"]), (200, 97))
        self.assertGreater(g["version"], v["version"])

    def test_adjust_below_held_is_invalid_state(self):
        self.put_channel("app")
        self.put_sku("sku-ih", 10)
        st, h = self.hold("ih-1", "app", [("sku-ih", 8)])
        self.assertEqual(st, 201, h)
        self.assertError(self.s.http("POST", "/v1/skus/sku-ih/adjustments", {"delta": -5, "reason": "x"}),
                         409, "invalid_state")
        self.assertError(self.s.http("PUT", "/v1/skus/sku-ih", {"on_hand": 7}), 409, "invalid_state")
        st, v = self.s.http("GET", "/v1/skus/sku-ih")
        self.assertEqual((v["on_hand"], v["held"], v["available"]), (10, 8, 2))

    def test_hold_lifecycle_and_replays(self):
        self.put_channel("app")
        self.put_sku("sku-h1", 10)
        self.put_sku("sku-h2", 5)
        st, h = self.hold("order-1", "app", [("sku-h1", 2), ("sku-h2", 1)], ttl_s=900)
        self.assertEqual(st, 201, h)
        self.assertEqual(h["state"], "held")
        self.assertEqual(h["id"], "order-1")
        self.assertEqual(h["channel"], "app")
        self.assertTrue(h["expires_at"].endswith("Z"))
        self.assertIn("created_at", h)
        self.assertEqual(sorted((l["sku"], l["qty"]) for l in h["lines"]), [("sku-h1", 2), ("sku-h2", 1)])
        # replay, lines in another order: 200 and the hold as it is
        st, h2 = self.hold("order-1", "app", [("sku-h2", 1), ("sku-h1", 2)], ttl_s=900)
        self.assertEqual(st, 200, h2)
        self.assertEqual(h2["state"], "held")
        self.assertError(self.hold("order-1", "app", [("sku-h1", 3)]), 409, "idempotency_conflict")
        st, v = self.s.http("GET", "/v1/skus/sku-h1")
        self.assertEqual((v["held"], v["available"]), (2, 8))
        st, g = self.s.http("GET", "/v1/holds/order-1")
        self.assertEqual((st, g["state"]), (200, "held"))
        st, c = self.s.http("POST", "/v1/holds/order-1/confirm")
        self.assertEqual((st, c["state"]), (200, "confirmed"), c)
        st, c2 = self.s.http("POST", "/v1/holds/order-1/confirm")
        self.assertEqual((st, c2["state"]), (200, "confirmed"))
        st, v = self.s.http("GET", "/v1/skus/sku-h1")
        self.assertEqual((v["on_hand"], v["held"], v["available"]), (8, 0, 8))
        self.assertError(self.s.http("POST", "/v1/holds/order-1/release"), 409, "invalid_state")
        # release then confirm
        st, h = self.hold("order-2", "app", [("sku-h1", 1)])
        self.assertEqual(st, 201)
        st, r = self.s.http("POST", "/v1/holds/order-2/release")
        self.assertEqual((st, r["state"]), (200, "released"))
        st, r = self.s.http("POST", "/v1/holds/order-2/release")
        self.assertEqual((st, r["state"]), (200, "released"))
        self.assertError(self.s.http("POST", "/v1/holds/order-2/confirm"), 409, "invalid_state")
        self.assertError(self.s.http("GET", "/v1/holds/nope"), 404, "unknown_hold")
        self.assertError(self.s.http("POST", "/v1/holds/nope/confirm"), 404, "unknown_hold")

    def test_insufficient_stock_details_and_all_or_nothing(self):
        self.put_channel("app")
        self.put_sku("sku-i1", 5)
        self.put_sku("sku-i2", 1)
        err = self.assertError(self.hold("ins-1", "app", [("sku-i1", 2), ("sku-i2", 2)]), 409, "insufficient_stock")
        self.assertEqual(err["details"], {"sku": "sku-i2", "requested": 2, "available": 1})
        st, v = self.s.http("GET", "/v1/skus/sku-i1")
        self.assertEqual(v["held"], 0)  # nothing held
        # a rejected attempt is not remembered
        self.s.http("POST", "/v1/skus/sku-i2/adjustments", {"delta": 5, "reason": "receipt"})
        st, h = self.hold("ins-1", "app", [("sku-i1", 2), ("sku-i2", 2)])
        self.assertEqual(st, 201, h)

    def test_limit_exceeded(self):
        self.put_channel("app")
        self.put_sku("sku-lim", 100, max_per_hold=2)
        self.assertError(self.hold("lim-1", "app", [("sku-lim", 3)]), 409, "limit_exceeded")
        st, v = self.s.http("GET", "/v1/skus/sku-lim")
        self.assertEqual(v["held"], 0)
        st, h = self.hold("lim-2", "app", [("sku-lim", 2)])
        self.assertEqual(st, 201)

    def test_stock_figures_limit_is_10_to_15(self):
        # docs/api.md, Conventions: stock figures and |delta| up to 1,000,000,000,000,000 (10^15).
        v = self.put_sku("sku-big", 1000000000000000)
        self.assertEqual(v["on_hand"], 1000000000000000)
        err = self.assertError(self.s.http("PUT", "/v1/skus/sku-big", {"on_hand": 1000000000000001}),
                               400, "invalid_request")
        self.assertIn("on_hand must be an integer between 0 and 1000000000000000", err["message"])
        err = self.assertError(self.s.http("POST", "/v1/skus/sku-big/adjustments", {"delta": 1000000000000001}),
                               400, "invalid_request")
        self.assertIn("delta", err["message"])
        st, v = self.s.http("POST", "/v1/skus/sku-big/adjustments", {"delta": -1000000000000000})
        self.assertEqual((st, v["on_hand"]), (200, 0), v)

    def test_adjustment_past_10_to_15_is_refused(self):
        self.put_sku("sku-big2", 999999999999999)
        err = self.assertError(self.s.http("POST", "/v1/skus/sku-big2/adjustments", {"delta": 2}), 400, "invalid_request")
        self.assertEqual(err["message"], "on_hand would exceed 1000000000000000")
        st, v = self.s.http("POST", "/v1/skus/sku-big2/adjustments", {"delta": 1})
        self.assertEqual((st, v["on_hand"]), (200, 1000000000000000), v)

    def test_frozen_channel(self):
        self.put_channel("frz", priority=2)
        self.put_sku("sku-frz", 10)
        st, h = self.hold("frz-1", "frz", [("sku-frz", 1)])
        self.assertEqual(st, 201)
        self.put_channel("frz", priority=2, state="frozen")
        self.assertError(self.hold("frz-2", "frz", [("sku-frz", 1)]), 423, "channel_frozen")
        st, v = self.s.http("GET", "/v1/skus/sku-frz")
        self.assertEqual(v["channels"]["frz"]["available"], 0)
        st, c = self.s.http("POST", "/v1/holds/frz-1/confirm")
        self.assertEqual((st, c["state"]), (200, "confirmed"))
        st, a = self.s.http("GET", "/v1/availability?channel=frz&sku=sku-frz")
        self.assertEqual(a["available"]["sku-frz"], 0)

    def test_unknowns(self):
        self.put_channel("app")
        self.put_sku("sku-u", 1)
        self.assertError(self.hold("u-1", "no-such-channel", [("sku-u", 1)]), 404, "unknown_channel")
        self.assertError(self.hold("u-2", "app", [("no-such-sku", 1)]), 404, "unknown_sku")
        self.assertError(self.s.http("GET", "/v1/skus/no-such-sku"), 404, "unknown_sku")
        st, a = self.s.http("GET", "/v1/availability?channel=app&sku=sku-u&sku=zzz")
        self.assertEqual(st, 200, a)
        self.assertEqual(a["channel"], "app")
        self.assertEqual(a["available"], {"sku-u": 1})
        self.assertEqual(a["unknown"], ["zzz"])

    def test_invalid_requests_change_nothing(self):
        self.put_channel("app")
        self.put_sku("sku-bad", 10)
        cases = [
            (None, "{not json"),
            ({"id": "bad id!", "channel": "app", "lines": [{"sku": "sku-bad", "qty": 1}]}, None),
            ({"id": "b1", "channel": "app", "lines": [{"sku": "sku-bad", "qty": 0}]}, None),
            ({"id": "b1", "channel": "app", "lines": [{"sku": "sku-bad", "qty": 1000000001}]}, None),
            ({"id": "b1", "channel": "app", "lines": [{"sku": "sku-bad", "qty": "2"}]}, None),
            ({"id": "b1", "channel": "app", "lines": [{"sku": "sku-bad", "qty": 1.5}]}, None),
            ({"id": "b1", "channel": "app", "lines": []}, None),
            ({"id": "b1", "channel": "app", "lines": [{"sku": "sku-bad", "qty": 1}] * 101}, None),
            ({"id": "x" * 129, "channel": "app", "lines": [{"sku": "sku-bad", "qty": 1}]}, None),
            ({"channel": "app", "lines": [{"sku": "sku-bad", "qty": 1}]}, None),
        ]
        for body, raw in cases:
            with self.subTest(body=body, raw=raw):
                self.assertError(self.s.http("POST", "/v1/holds", body, raw=raw), 400, "invalid_request")
        self.assertError(self.s.http("PUT", "/v1/skus/sku-bad", {"on_hand": -1}), 400, "invalid_request")
        self.assertError(self.s.http("PUT", "/v1/skus/bad%20sku", {"on_hand": 1}), 400, "invalid_request")
        st, v = self.s.http("GET", "/v1/skus/sku-bad")
        self.assertEqual((v["on_hand"], v["held"]), (10, 0))
        self.assertError(self.s.http("GET", "/v1/holds/b1"), 404, "unknown_hold")

    def test_payload_too_large(self):
        big = json.dumps({"id": "big", "channel": "app", "lines": [], "pad": "x" * (2 << 20)})
        st, body = self.s.http("POST", "/v1/holds", raw=big)
        self.assertEqual(st, 413, body)
        self.assertEqual(body["error"]["code"], "payload_too_large")

    def test_partial_confirm_releases_the_rest(self):
        self.put_channel("app")
        self.put_sku("sku-p1", 10)
        self.put_sku("sku-p2", 10)
        st, h = self.hold("part-1", "app", [("sku-p1", 3), ("sku-p2", 2)])
        self.assertEqual(st, 201)
        st, c = self.s.http("POST", "/v1/holds/part-1/confirm", {"lines": [{"sku": "sku-p1", "qty": 1}]})
        self.assertEqual((st, c["state"]), (200, "confirmed"), c)
        self.assertEqual([(l["sku"], l["qty"]) for l in c["lines"]], [("sku-p1", 1)])
        st, v1 = self.s.http("GET", "/v1/skus/sku-p1")
        st, v2 = self.s.http("GET", "/v1/skus/sku-p2")
        self.assertEqual((v1["on_hand"], v1["held"], v1["available"]), (9, 0, 9))
        self.assertEqual((v2["on_hand"], v2["held"], v2["available"]), (10, 0, 10))

    def test_confirm_true_is_a_sale(self):
        self.put_channel("pos")
        self.put_sku("sku-pos", 4)
        st, h = self.hold("pos-1", "pos", [("sku-pos", 3)], confirm=True)
        self.assertEqual((st, h["state"]), (201, "confirmed"), h)
        st, v = self.s.http("GET", "/v1/skus/sku-pos")
        self.assertEqual((v["on_hand"], v["held"], v["available"]), (1, 0, 1))

    def test_ttl_expiry_without_requests(self):
        self.put_channel("app")
        self.put_sku("sku-ttl", 5)
        st, h = self.hold("ttl-1", "app", [("sku-ttl", 2)], ttl_s=1)
        self.assertEqual(st, 201)
        st, v = self.s.http("GET", "/v1/skus/sku-ttl")
        self.assertEqual(v["available"], 3)
        # The server's timer expires it (no confirm, release or extend comes); when is not the check.
        wait_for(lambda: self.s.http("GET", "/v1/holds/ttl-1")[1].get("state") == "expired", "ttl-1 expired")
        st, v = self.s.http("GET", "/v1/skus/sku-ttl")
        self.assertEqual((v["held"], v["available"]), (0, 5))
        st, g = self.s.http("GET", "/v1/holds/ttl-1")
        self.assertEqual(g["state"], "expired")
        self.assertError(self.s.http("POST", "/v1/holds/ttl-1/confirm"), 410, "hold_expired")
        self.assertError(self.s.http("POST", "/v1/holds/ttl-1/extend", {"ttl_s": 60}), 410, "hold_expired")
        st, r = self.s.http("POST", "/v1/holds/ttl-1/release")
        self.assertEqual((st, r["state"]), (200, "expired"))

    def test_extend(self):
        self.put_channel("app")
        self.put_sku("sku-ext", 5)
        st, h = self.hold("ext-1", "app", [("sku-ext", 1)], ttl_s=1)
        st, c = self.hold("ext-control", "app", [("sku-ext", 1)], ttl_s=1)  # same deadline, not extended
        st, e = self.s.http("POST", "/v1/holds/ext-1/extend", {"ttl_s": 300})
        self.assertEqual((st, e["state"]), (200, "held"), e)
        self.assertGreater(e["expires_at"], h["expires_at"])
        # Once the control hold has expired, the sweep has passed ext-1's original deadline too.
        wait_for(lambda: self.s.http("GET", "/v1/holds/ext-control")[1]["state"] == "expired",
                 "the control hold expires")
        st, g = self.s.http("GET", "/v1/holds/ext-1")
        self.assertEqual(g["state"], "held")

    def test_allocation_fences_pools_preempt(self):
        self.put_channel("app", priority=1)
        self.put_channel("meituan", priority=2)
        self.put_channel("douyin", priority=3)
        self.put_sku("sku-al", 100)
        st, v = self.s.http("PUT", "/v1/skus/sku-al/allocation",
                            {"fences": {"meituan": {"ratio": 0.2}},
                             "pools": {"live": {"units": 30, "channels": ["douyin"]}}, "preempt": True})
        self.assertEqual(st, 200, v)
        ch = {k: c["available"] for k, c in v["channels"].items()}
        # shared = 100 - 20 (fence) - 30 (pool) = 50
        self.assertEqual(ch["meituan"], 70)   # fence + shared
        self.assertEqual(ch["douyin"], 80)    # pool + shared
        self.assertEqual(ch["app"], 70)       # shared + preemptible meituan fence
        self.assertEqual(v["available"], 100)
        st, h = self.hold("al-1", "douyin", [("sku-al", 80)])
        self.assertEqual(st, 201, h)
        st, v = self.s.http("GET", "/v1/skus/sku-al")
        self.assertEqual(v["channels"]["app"]["available"], 20)  # only meituan's fence, by preemption
        self.assertEqual(v["channels"]["meituan"]["available"], 20)
        self.assertError(self.hold("al-2", "douyin", [("sku-al", 1)]), 409, "insufficient_stock")
        self.assertError(self.s.http("PUT", "/v1/skus/sku-al/allocation", {"fences": {"nope": {"units": 1}}}),
                         404, "unknown_channel")

    def test_events_feed_and_long_poll(self):
        st, page = self.s.http("GET", "/v1/events?after=0&limit=5")
        self.assertEqual(st, 200, page)
        self.assertIn("next", page)
        seqs = [e["seq"] for e in page["events"]]
        self.assertEqual(seqs, sorted(seqs))
        for e in page["events"]:
            self.assertIn("type", e)
            self.assertIn("at", e)
        st, last = self.s.http("GET", "/v1/events?after=0&limit=10000")
        nxt = last["next"]
        t0 = time.time()
        st, empty = self.s.http("GET", f"/v1/events?after={nxt + 1000000}&wait_s=1")
        self.assertEqual(st, 200)
        self.assertEqual(empty["events"], [])
        self.assertGreaterEqual(time.time() - t0, 0.9)
        # a long poll returns as soon as an event exists
        import threading
        result = {}

        def poll():
            result["r"] = self.s.http("GET", f"/v1/events?after={nxt}&wait_s=30")
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.3)  # let the poll start waiting first (if it has not, it finds the events at once)
        self.put_channel("app")
        self.put_sku("sku-ev", 50)
        t.join(60)
        self.assertFalse(t.is_alive())
        st, page = result["r"]  # wait_s=30: events in the page mean it returned because of them
        self.assertEqual(st, 200)
        self.assertTrue(page["events"])
        self.assertGreater(page["events"][0]["seq"], nxt)
        self.assertGreaterEqual(page["next"], page["events"][-1]["seq"])

    def test_low_stock_event(self):
        self.put_channel("app")
        st, last = self.s.http("GET", "/v1/events?after=0&limit=10000")
        self.put_sku("sku-low", 20, low_stock_threshold=5)
        st, h = self.hold("low-1", "app", [("sku-low", 16)])
        self.assertEqual(st, 201)
        self.put_sku("sku-low-end", 1)  # the last write: its event comes after the hold's
        events = events_until(self.s, last["next"], lambda ev: any(e.get("sku") == "sku-low-end" for e in ev),
                              "the writes' events")
        lows = [e for e in events if e["type"] == "low_stock" and e.get("sku") == "sku-low"]
        self.assertEqual(len(lows), 1, events)
        self.assertEqual((lows[0]["available"], lows[0]["threshold"]), (4, 5))
        types = {e["type"] for e in events}
        self.assertIn("availability", types)
        self.assertIn("stock_adjusted", types)

    def test_sku_listing(self):
        for name in ("lst-b", "lst-a", "lst-c"):
            self.put_sku(name, 7)
        self.put_sku("lst-z-end", 1)
        # The cluster store lists from its ledger: a SKU appears once the ledger applied its creation.
        events_until(self.s, 0, lambda ev: any(e.get("sku") == "lst-z-end" for e in ev), "lst-z-end's creation")
        st, page = self.s.http("GET", "/v1/skus?offset=0&limit=1000")
        self.assertEqual(st, 200, page)
        names = [v["sku"] for v in page["skus"]]
        # creation order on the embedded store, byte order on the cluster store (docs/api.md)
        order = [names.index(k) for k in ("lst-b", "lst-a", "lst-c")]
        if CLUSTER:
            self.assertEqual(names, sorted(names))
        else:
            self.assertEqual(order, sorted(order))
        self.assertEqual(len(set(names)), len(names))
        self.assertLessEqual({"lst-a", "lst-b", "lst-c"}, set(names))
        self.assertEqual(page["total"], len(names))
        a = next(v for v in page["skus"] if v["sku"] == "lst-a")
        self.assertEqual((a["on_hand"], a["available"]), (7, 7))
        st, first = self.s.http("GET", "/v1/skus?offset=1&limit=1")
        self.assertEqual(st, 200, first)
        self.assertEqual([v["sku"] for v in first["skus"]], names[1:2])

    def test_ops_endpoints(self):
        st, _ = self.s.http("GET", "/healthz")
        self.assertEqual(st, 200)
        st, _ = self.s.http("GET", "/readyz")
        self.assertEqual(st, 200)
        st, text = self.s.http("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn("stockd_requests_total", text)
        if CLUSTER:
            self.assertIn("stockd_storage_healthy 1", text)
        else:
            self.assertIn("stockd_journal_sync_seconds_bucket", text)
            self.assertIn('stockd_holds{state="held"}', text)
            st, snap = self.s.http("POST", "/v1/admin/snapshot")
            self.assertEqual(st, 200, snap)
        st, rec = self.s.http("POST", "/v1/admin/reconcile")
        self.assertEqual(st, 200, rec)
        self.assertEqual((rec["ok"], rec["drift"]), (True, []), rec)

    def test_keep_alive_and_pipelining(self):
        self.put_channel("app")
        self.put_sku("sku-ka", 100)
        c = self.s.conn()
        for i in range(20):
            st, h = self.s.http("POST", "/v1/holds", {"id": f"ka-{i}", "channel": "app",
                                                      "lines": [{"sku": "sku-ka", "qty": 1}]}, conn=c)
            self.assertEqual(st, 201)
        c.close()
        # raw pipelining: a hold followed by a read on one connection sees the hold
        body = json.dumps({"id": "pipe-1", "channel": "app", "lines": [{"sku": "sku-ka", "qty": 5}]})
        req = (f"POST /v1/holds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}"
               "GET /v1/skus/sku-ka HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.s.http_port)) as sock:
            sock.sendall(req.encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        text = data.decode()
        self.assertEqual(text.count("HTTP/1.1 "), 2, text)
        self.assertTrue(text.startswith("HTTP/1.1 201"), text)
        last_body = text[text.rindex("\r\n\r\n") + 4:]
        self.assertEqual(json.loads(last_body)["held"], 25)

    def test_pipelined_error_after_write_stays_in_order(self):
        self.put_channel("app")
        self.put_sku("sku-po", 10)
        body = json.dumps({"id": "po-1", "channel": "app", "lines": [{"sku": "sku-po", "qty": 1}]})
        req = (f"POST /v1/holds HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n{body}"
               "POST /v1/holds HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
               "GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.s.http_port)) as sock:
            sock.sendall(req.encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        statuses = re.findall(r"HTTP/1\.1 (\d{3}) ", data.decode())
        self.assertEqual(statuses, ["201", "400", "400"], data)

    def test_connection_limit_answers_429(self):
        s = Stockd(extra_args=["--max-connections", "2"], flush=False).start()
        try:
            # Two connections that the server has answered, so it counts both. A connection refused
            # while it still counted one that the harness had closed is retried.
            def answered_connection():
                c = s.conn()
                try:
                    if s.http("GET", "/healthz", conn=c)[0] == 200:
                        return c
                except (OSError, http.client.HTTPException):
                    pass
                c.close()
                return None
            held = []
            for i in range(2):
                held.append(wait_for(answered_connection, f"connection {i + 1} of 2 answered"))
            with socket.create_connection(("127.0.0.1", s.http_port)) as sock:
                sock.settimeout(30)
                data = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            head, body = data.decode().split("\r\n\r\n", 1)
            self.assertTrue(head.startswith("HTTP/1.1 429"), head)
            length = int([h.split(":")[1] for h in head.split("\r\n") if h.lower().startswith("content-length")][0])
            self.assertEqual(length, len(body.encode()))
            self.assertEqual(json.loads(body)["error"]["code"], "overloaded")
            for h in held:
                h.close()
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(CLUSTER, "cluster store only")
class ClusterDifferencesTest(unittest.TestCase):
    """What the cluster store answers where the embedded one differs (docs/cluster.md)."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stockd(flush=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def test_movements_history_is_not_implemented(self):
        st, body = self.s.http("GET", "/v1/movements?sku=A")
        self.assertEqual((st, body["error"]["code"]), (501, "not_implemented"), body)

    def test_snapshot_is_invalid_state(self):
        st, body = self.s.http("POST", "/v1/admin/snapshot")
        self.assertEqual((st, body["error"]["code"]), (409, "invalid_state"), body)
