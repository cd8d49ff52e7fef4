"""Listed channels over HTTP (docs/api.md, "Listed channels: publications"): the channel's listing and
webhook in its view, the SKU view's exposed and published figures, the publications long poll and its
ack, channel tokens limited to their own channel, restarts keeping the unacknowledged publications.
On the cluster store (STOCKD_TEST_STORE=redis-cluster://...) the same tests run against a node with the
ledger, which numbers the publications in PostgreSQL: a publication is readable once the ledger applied
it (docs/cluster.md "Listed channels on the cluster store"), so reads that expect a new one wait for it
(eventually(): a bound against hanging, not a measure). A node without the ledger refuses listings."""
import threading
import time
import unittest

from harness import CLUSTER, Stockd

CONFIG = """
[auth]
admin_token = "admin-secret"
[auth.channel_tokens]
tmall = "tmall-secret"
jd = "jd-secret"
"""
ADMIN = "admin-secret"


def eventually(read, ok, timeout_s=10):
    """read() until ok(result) (the cluster's publications lag the write by the ledger's poll)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = read()
        if ok(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


class PublicationsTest(unittest.TestCase):
    # A fresh server per test: a listed channel of one test would take the units of the next one's SKUs.
    def setUp(self):
        self.s = Stockd(config=CONFIG).start()

    def tearDown(self):
        self.s.cleanup()

    def http(self, method, path, body=None, token=ADMIN):
        return self.s.http(method, path, body, token=token)

    def ok(self, method, path, body=None, token=ADMIN, status=200):
        st, b = self.http(method, path, body, token)
        self.assertEqual(st, status, b)
        return b

    def pubs(self, ch, after=0, token=ADMIN, wait_s=0):
        return self.ok("GET", f"/v1/channels/{ch}/publications?after={after}&wait_s={wait_s}", token=token)

    def test_listing_publishes_every_sku_and_sales_take_the_exposure(self):
        self.ok("PUT", "/v1/channels/app", {"priority": 1})
        self.ok("PUT", "/v1/skus/pa-1", {"on_hand": 10})
        self.ok("PUT", "/v1/skus/pa-2", {"on_hand": 0})
        ch = self.ok("PUT", "/v1/channels/tmall", {"priority": 2, "listing": {"percent": 100},
                                                  "webhook": {"url": "http://127.0.0.1:9/hook", "secret": "k"}})
        self.assertEqual(ch["frozen_reason"], None)
        self.assertEqual(ch["listing"]["percent"], 100)
        self.assertEqual(ch["listing"]["cap"], None)
        self.assertEqual(ch["webhook"], {"url": "http://127.0.0.1:9/hook", "secret": "***", "freeze_after_s": 60})
        page = eventually(lambda: self.pubs("tmall"), lambda pg: len(pg["publications"]) >= 2)
        got = {p["sku"]: p["quantity"] for p in page["publications"]}
        self.assertEqual(got["pa-1"], 10)
        self.assertEqual(got["pa-2"], 0)  # 0 is published too
        self.assertEqual(page["next"], max(p["seq"] for p in page["publications"]))
        sku = self.ok("GET", "/v1/skus/pa-1")
        self.assertEqual(sku["exposed"], 10)
        self.assertEqual(sku["channels"]["tmall"]["published"], 10)
        self.assertNotIn("published", sku["channels"]["app"])
        self.assertEqual(sku["channels"]["app"]["available"], 0)
        # The direct channel cannot take the exposed units; the marketplace's reported sale can.
        st, b = self.http("POST", "/v1/holds", {"id": "pa-h1", "channel": "app", "lines": [{"sku": "pa-1", "qty": 1}]})
        self.assertEqual((st, b["error"]["code"]), (409, "insufficient_stock"))
        self.ok("POST", "/v1/holds", {"id": "pa-s1", "channel": "tmall", "lines": [{"sku": "pa-1", "qty": 10}],
                                      "confirm": True}, token="tmall-secret", status=201)
        after = eventually(lambda: self.pubs("tmall", page["next"]), lambda pg: pg["publications"])["publications"]
        self.assertEqual([(p["sku"], p["quantity"]) for p in after], [("pa-1", 0)])

    def test_ack_releases_a_lowered_exposure_and_is_idempotent(self):
        self.ok("PUT", "/v1/channels/app", {"priority": 1})
        self.ok("PUT", "/v1/skus/ack-1", {"on_hand": 100})
        self.ok("PUT", "/v1/channels/jd", {"priority": 2, "listing": {"percent": 50}})
        self.assertEqual(self.ok("GET", "/v1/skus/ack-1")["channels"]["jd"]["exposed"], 50)
        # The channel's total over all SKUs: in its view, and in /metrics (the cluster store's node reads
        # it about once a second).
        jd = [c for c in self.ok("GET", "/v1/channels")["channels"] if c["channel"] == "jd"][0]
        self.assertEqual(jd["listing"]["exposed"], 50)
        metric = 'stockd_channel_exposed_units{channel="jd"} 50'
        self.assertIn(metric, eventually(lambda: self.http("GET", "/metrics")[1], lambda text: metric in text))
        self.ok("POST", "/v1/holds", {"id": "ack-h1", "channel": "app", "lines": [{"sku": "ack-1", "qty": 40}]},
                status=201)
        sku = self.ok("GET", "/v1/skus/ack-1")
        self.assertEqual((sku["channels"]["jd"]["published"], sku["channels"]["jd"]["exposed"]), (30, 50))
        page = eventually(lambda: self.pubs("jd", token="jd-secret"),
                          lambda pg: ("ack-1", 30) in [(p["sku"], p["quantity"]) for p in pg["publications"]])
        last = page["next"]
        body = self.ok("POST", "/v1/channels/jd/publications/ack", {"seq": last}, token="jd-secret")
        self.assertEqual(body, {"channel": "jd", "acked_seq": last, "last_publication_seq": last})
        sku = self.ok("GET", "/v1/skus/ack-1")
        self.assertEqual(sku["channels"]["jd"]["exposed"], 30)
        self.assertEqual(sku["channels"]["app"]["available"], 30)
        self.ok("POST", "/v1/channels/jd/publications/ack", {"seq": last}, token="jd-secret")  # idempotent
        st, b = self.http("POST", "/v1/channels/jd/publications/ack", {"seq": last + 1000})
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        self.assertEqual(self.pubs("jd", 0)["publications"], [])

    def test_channel_tokens_reach_only_their_own_channel(self):
        self.ok("PUT", "/v1/channels/tmall", {"priority": 2, "listing": {"percent": 100}})
        self.ok("PUT", "/v1/channels/jd", {"priority": 3, "listing": {"percent": 50}})
        st, b = self.http("GET", "/v1/channels/tmall/publications", token="jd-secret")
        self.assertEqual((st, b["error"]["code"]), (403, "forbidden"))
        st, b = self.http("POST", "/v1/channels/tmall/publications/ack", {"seq": 1}, token="jd-secret")
        self.assertEqual((st, b["error"]["code"]), (403, "forbidden"))
        st, b = self.http("GET", "/v1/channels/nope/publications")
        self.assertEqual((st, b["error"]["code"]), (404, "unknown_channel"))
        st, b = self.http("PUT", "/v1/channels/jd", {"listing": {"percent": 101}})
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        st, b = self.http("PUT", "/v1/channels/jd", {"webhook": {"url": "ftp://x", "secret": "k"}})
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        st, b = self.http("PUT", "/v1/channels/jd", {"webhook": {"url": "http://x", "secret": "k", "freeze_after_s": 0}})
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))

    def test_long_poll_answers_when_a_publication_appears(self):
        self.ok("PUT", "/v1/channels/tmall", {"priority": 2, "listing": {"percent": 100}})
        last = self.pubs("tmall")["next"]
        if self.pubs("tmall", last)["publications"]:
            self.fail("no publication expected after next")
        result = {}

        def poll():
            result["page"] = self.pubs("tmall", last, wait_s=30)

        t = threading.Thread(target=poll)
        t.start()
        self.ok("PUT", "/v1/skus/lp-1", {"on_hand": 7})  # a new SKU is published
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertIn(("lp-1", 7), [(p["sku"], p["quantity"]) for p in result["page"]["publications"]])

    def test_stock_adjusted_below_the_exposure_is_an_exposure_deficit_event(self):
        self.ok("PUT", "/v1/skus/dd-1", {"on_hand": 10})
        self.ok("PUT", "/v1/channels/tmall", {"priority": 1, "listing": {"percent": 100}})
        self.ok("POST", "/v1/skus/dd-1/adjustments", {"delta": -4, "reason": "damaged", "ref": "DMG-1"})
        events = eventually(lambda: self.ok("GET", "/v1/events?after=0&limit=1000")["events"],
                            lambda evs: any(e["type"] == "exposure_deficit" for e in evs))
        deficit = [e for e in events if e["type"] == "exposure_deficit"]
        self.assertEqual(len(deficit), 1, events)
        self.assertEqual((deficit[0]["sku"], deficit[0]["channel"], deficit[0]["exposed"], deficit[0]["deficit"]),
                         ("dd-1", "tmall", 6, 4))
        self.assertEqual(self.ok("GET", "/v1/skus/dd-1")["exposed"], 6)

    def test_listing_null_makes_the_channel_direct(self):
        self.ok("PUT", "/v1/skus/ln-1", {"on_hand": 5})
        self.ok("PUT", "/v1/channels/ln-ch", {"priority": 1, "listing": {"percent": 100}})
        self.assertEqual(self.ok("GET", "/v1/skus/ln-1")["channels"]["ln-ch"]["exposed"], 5)
        ch = self.ok("PUT", "/v1/channels/ln-ch", {"listing": None, "webhook": None})
        self.assertEqual((ch["listing"], ch["webhook"]), (None, None))
        self.assertNotIn("published", self.ok("GET", "/v1/skus/ln-1")["channels"]["ln-ch"])


@unittest.skipIf(CLUSTER, "embedded store only")
class PublicationsRestartTest(unittest.TestCase):
    def test_unacknowledged_publications_survive_a_restart(self):
        s = Stockd().start()
        try:
            s.http("PUT", "/v1/skus/rs-1", {"on_hand": 12})
            st, _ = s.http("PUT", "/v1/channels/tmall", {"priority": 1, "listing": {"percent": 50}})
            self.assertEqual(st, 200)
            st, before = s.http("GET", "/v1/channels/tmall/publications")
            s.restart()
            st, after = s.http("GET", "/v1/channels/tmall/publications")
            self.assertEqual(st, 200)
            self.assertEqual(after, before)
            self.assertEqual(after["publications"], [{"sku": "rs-1", "quantity": 6, "seq": 1}])
            st, _ = s.http("POST", "/v1/admin/snapshot")
            self.assertEqual(st, 200)
            s.restart()
            st, again = s.http("GET", "/v1/channels/tmall/publications")
            self.assertEqual(again, before)
        finally:
            s.cleanup()


@unittest.skipUnless(CLUSTER, "cluster store only")
class ClusterPublicationsTest(unittest.TestCase):
    def test_a_node_without_the_ledger_answers_501_and_refuses_listings(self):
        first = Stockd().start()  # (the one that empties the cluster; it has the ledger when there is one)
        s = Stockd(flush=False).start()  # beside it: no ledger
        try:
            st, _ = s.http("PUT", "/v1/channels/tmall", {"priority": 1})
            self.assertEqual(st, 200)
            st, b = s.http("GET", "/v1/channels/tmall/publications")
            self.assertEqual((st, b["error"]["code"]), (501, "not_implemented"))
            st, b = s.http("POST", "/v1/channels/tmall/publications/ack", {"seq": 1})
            self.assertEqual((st, b["error"]["code"]), (501, "not_implemented"))
            st, b = s.http("PUT", "/v1/channels/tmall", {"listing": {"percent": 100}})
            self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        finally:
            s.cleanup()
            first.cleanup()


if __name__ == "__main__":
    unittest.main()
