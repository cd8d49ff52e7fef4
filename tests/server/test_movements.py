"""GET /v1/movements (docs/api.md, "Movements"): one movement per SKU change with its cause and deltas,
every key always present (null when absent), paged by seq like the events feed, and on the embedded
store the same history after a SIGTERM or SIGKILL restart and after a snapshot. On the cluster store
(with its ledger) the history is the ledger's: a movement is readable once the ledger applied it, so
the tests wait for the number of movements they expect (docs/cluster.md "Movements")."""
import re
import signal
import time
import unittest

from harness import CLUSTER, Stockd

KEYS = ["seq", "at", "sku", "on_hand_delta", "held_delta", "exposed_delta", "cause", "ref", "reason",
        "channel", "hold"]
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class MovementsTest(unittest.TestCase):
    def setUp(self):
        self.s = Stockd().start()

    def tearDown(self):
        self.s.cleanup()

    def ok(self, method, path, body=None):
        st, reply = self.s.http(method, path, body)
        self.assertIn(st, (200, 201), reply)
        return reply

    def history(self, sku, limit=1000, want=0):
        """The SKU's whole history, page by page. On the cluster store, first waits (up to a deadline for
        a state, not a timing assertion) until the ledger has at least `want` movements of the SKU."""
        deadline = time.monotonic() + 30
        while CLUSTER and len(self.ok("GET", f"/v1/movements?sku={sku}&limit=1000")["movements"]) < want:
            self.assertLess(time.monotonic(), deadline, f"the ledger never had {want} movements of {sku}")
            time.sleep(0.05)
        out, after = [], 0
        while True:
            page = self.ok("GET", f"/v1/movements?sku={sku}&after={after}&limit={limit}")
            if not page["movements"]:
                self.assertEqual(page["next"], after, "an empty page's next is the request's after")
                return out
            out += page["movements"]
            self.assertEqual(page["next"], page["movements"][-1]["seq"])
            after = page["next"]

    def populate(self):
        self.ok("PUT", "/v1/channels/web", {"hold_ttl_s": 900})
        self.ok("PUT", "/v1/channels/fast", {"hold_ttl_s": 1})
        self.ok("PUT", "/v1/skus/A", {"on_hand": 10})
        self.ok("PUT", "/v1/skus/B", {"on_hand": 5})
        self.ok("POST", "/v1/holds", {"id": "h1", "channel": "web", "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]})
        self.ok("POST", "/v1/holds/h1/confirm")
        self.ok("POST", "/v1/holds", {"id": "h2", "channel": "web", "lines": [{"sku": "A", "qty": 3}]})
        self.ok("POST", "/v1/holds/h2/release")
        self.ok("POST", "/v1/skus/A/adjustments", {"delta": -1, "reason": "damaged", "ref": "ADJ-1"})
        self.ok("POST", "/v1/holds", {"id": "h3", "channel": "fast", "lines": [{"sku": "A", "qty": 4}]})
        deadline = time.monotonic() + 30  # a deadline for a state, not a timing assertion
        while self.ok("GET", "/v1/holds/h3")["state"] != "expired":
            self.assertLess(time.monotonic(), deadline, "hold h3 never expired")
            time.sleep(0.1)

    def test_each_change_has_its_cause_deltas_and_fields(self):
        self.populate()
        a = self.history("A", want=8)
        rows = [(m["cause"], m["on_hand_delta"], m["held_delta"], m["channel"], m["hold"]) for m in a]
        self.assertEqual(rows, [
            ("set", 10, 0, None, None),
            ("hold", 0, 2, "web", "h1"),
            ("confirm", -2, -2, "web", "h1"),
            ("hold", 0, 3, "web", "h2"),
            ("release", 0, -3, "web", "h2"),
            ("adjust", -1, 0, None, None),
            ("hold", 0, 4, "fast", "h3"),
            ("expire", 0, -4, "fast", "h3"),
        ])
        adjust = a[5]
        self.assertEqual((adjust["ref"], adjust["reason"]), ("ADJ-1", "damaged"))
        for m in a:
            self.assertEqual(list(m.keys()), KEYS)
            self.assertRegex(m["at"], RFC3339_MS)
            self.assertEqual((m["sku"], m["exposed_delta"]), ("A", 0))
            if m["cause"] != "adjust":
                self.assertIsNone(m["ref"])
                self.assertIsNone(m["reason"])
        seqs = [m["seq"] for m in a]
        self.assertEqual(seqs, sorted(set(seqs)))
        # The deltas add up to the SKU's figures.
        for sku in ("A", "B"):
            v = self.ok("GET", f"/v1/skus/{sku}")
            h = self.history(sku, want=3)
            self.assertEqual(sum(m["on_hand_delta"] for m in h), v["on_hand"], sku)
            self.assertEqual(sum(m["held_delta"] for m in h), v["held"], sku)
        # Movements of the two SKUs never share a seq; h1 gave one per line.
        b = self.history("B", want=3)
        self.assertEqual([m["cause"] for m in b], ["set", "hold", "confirm"])
        self.assertFalse({m["seq"] for m in a} & {m["seq"] for m in b})

    def test_holds_at_once_are_one_movement_each(self):
        # Many connections hold the same SKU at once: on the cluster store they go to Redis in one call
        # (a hold round, docs/cluster.md "Front end") whose takes share one outbox entry (its `parts`):
        # still one movement per hold, with its own hold, channel and held_delta, in version order.
        import threading
        self.ok("PUT", "/v1/channels/web", {"hold_ttl_s": 900})
        self.ok("PUT", "/v1/channels/app", {"hold_ttl_s": 900})
        self.ok("PUT", "/v1/skus/C", {"on_hand": 1000})
        n = 48
        errors = []

        def buyer(i):
            st, reply = self.s.http("POST", "/v1/holds", {"id": f"c{i}", "channel": ("web", "app")[i % 2],
                                                          "lines": [{"sku": "C", "qty": 1 + i % 3}]})
            if st != 201:
                errors.append((i, st, reply))

        threads = [threading.Thread(target=buyer, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        holds = [m for m in self.history("C", want=n + 1) if m["cause"] == "hold"]
        self.assertEqual(sorted(m["hold"] for m in holds), sorted(f"c{i}" for i in range(n)))
        for m in holds:
            i = int(m["hold"][1:])
            self.assertEqual((m["channel"], m["held_delta"], m["on_hand_delta"]), (("web", "app")[i % 2], 1 + i % 3, 0))
        self.assertEqual(sum(m["held_delta"] for m in holds), self.ok("GET", "/v1/skus/C")["held"])
        seqs = [m["seq"] for m in holds]
        self.assertEqual(seqs, sorted(set(seqs)))

    def test_paging_and_errors(self):
        self.populate()
        whole = self.history("A", want=8)
        paged = self.history("A", limit=3)
        self.assertEqual(paged, whole)
        page = self.ok("GET", "/v1/movements?sku=A&limit=2")
        self.assertEqual(page["movements"], whole[:2], "after defaults to 0")
        far = whole[-1]["seq"] + 1000
        self.assertEqual(self.ok("GET", f"/v1/movements?sku=A&after={far}"), {"movements": [], "next": far})
        default = self.ok("GET", "/v1/movements?sku=A")
        self.assertEqual(default["movements"], whole)  # fewer than the default limit of 100
        for path, status, code in [("/v1/movements", 400, "invalid_request"),
                                   ("/v1/movements?sku=A&limit=0", 400, "invalid_request"),
                                   ("/v1/movements?sku=A&limit=1001", 400, "invalid_request"),
                                   ("/v1/movements?sku=A&after=-1", 400, "invalid_request"),
                                   ("/v1/movements?sku=nope", 404, "unknown_sku")]:
            st, body = self.s.http("GET", path)
            self.assertEqual((st, body["error"]["code"]), (status, code), path)
        self.assertEqual(len(self.ok("GET", "/v1/movements?sku=A&limit=1000")["movements"]), len(whole))

    def test_a_split_sku_has_one_history(self):
        # On the cluster store a SKU split over shards (docs/cluster.md "Hot SKUs") is several hashes;
        # its history is still one: the shards' holds and confirms, and no transfer between the hashes
        # (they add up to 0). The embedded store accepts "split" and ignores it.
        self.ok("PUT", "/v1/channels/web", {"hold_ttl_s": 900})
        self.ok("PUT", "/v1/skus/S", {"on_hand": 100, "split": 4})
        for i in range(20):
            self.ok("POST", "/v1/holds", {"id": f"s{i}", "channel": "web", "lines": [{"sku": "S", "qty": 1}]})
        for i in range(10):
            self.ok("POST", f"/v1/holds/s{i}/confirm")
        for i in range(10, 15):
            self.ok("POST", f"/v1/holds/s{i}/release")
        h = self.history("S", want=1 + 20 + 10 + 5)
        causes = [m["cause"] for m in h]
        self.assertEqual((causes.count("set"), causes.count("hold"), causes.count("confirm"), causes.count("release")),
                         (1, 20, 10, 5), causes)
        v = self.ok("GET", "/v1/skus/S")
        self.assertEqual((v["on_hand"], v["held"]), (90, 5))
        self.assertEqual(sum(m["on_hand_delta"] for m in h), v["on_hand"])
        self.assertEqual(sum(m["held_delta"] for m in h), v["held"])
        self.assertEqual({m["sku"] for m in h}, {"S"})
        self.assertEqual({m["hold"] for m in h if m["cause"] != "set"}, {f"s{i}" for i in range(20)})

    @unittest.skipIf(CLUSTER, "embedded store: its own movement files and snapshots (the cluster store's "
                              "history is PostgreSQL's table, which a node's restart does not touch)")
    def test_restarts_keep_the_history_identical_and_contiguous(self):
        self.populate()
        before = {s: self.history(s) for s in ("A", "B")}
        self.assertEqual(self.s.restart(signal.SIGTERM), 0)
        self.assertEqual({s: self.history(s) for s in ("A", "B")}, before)
        self.s.restart(signal.SIGKILL)
        self.assertEqual({s: self.history(s) for s in ("A", "B")}, before)
        self.ok("POST", "/v1/admin/snapshot")  # the journal before it may go; the movements stay
        self.ok("PUT", "/v1/skus/B", {"on_hand": 100})
        for i in range(30):
            self.ok("POST", "/v1/holds", {"id": f"k{i}", "channel": "web", "lines": [{"sku": "B", "qty": 1}]})
            if i % 2:
                self.ok("POST", f"/v1/holds/k{i}/release")
        self.ok("POST", "/v1/admin/snapshot")
        self.ok("POST", "/v1/skus/B/adjustments", {"delta": 7, "reason": "received"})
        after = {s: self.history(s) for s in ("A", "B")}
        self.s.restart(signal.SIGKILL)
        self.assertEqual({s: self.history(s) for s in ("A", "B")}, after)
        seqs = sorted(m["seq"] for s in after for m in after[s])
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seqs 1..N, none lost, none twice")
        # New movements continue the sequence.
        self.ok("PUT", "/v1/skus/A", {"on_hand": 50})
        last = self.history("A")[-1]
        self.assertEqual((last["seq"], last["cause"]), (seqs[-1] + 1, "set"))


if __name__ == "__main__":
    unittest.main()
