"""POST /v1/stock/batches on a real stockd, on both stores: every row error, atomic and non-atomic
batches, ref replays (also across restarts and, on the embedded store, snapshots), body-level errors,
the body limit of 10,000 rows, events, a compare-and-set race between two importers, and kill -9 in the
middle of a large batch (embedded store; the cluster store's batch left half way by a dead node is
tested in tests/backends/cluster_batch_test.cc). The numbers (10,000 rows, 10^15, the codes and
statuses) come from the contract (docs/api.md). On the cluster store the events feed and the listing
come from the ledger and lag: those checks wait for the state they expect."""
import json
import signal
import socket
import threading
import time
import unittest

from harness import CLUSTER, RespError, Stockd

BATCHES = "/v1/stock/batches"
LIMIT = 10 ** 15


class BatchTest(unittest.TestCase):
    def setUp(self):
        self.s = Stockd().start()

    def tearDown(self):
        self.s.cleanup()

    def put_sku(self, sku, on_hand):
        st, body = self.s.http("PUT", f"/v1/skus/{sku}", {"on_hand": on_hand})
        self.assertEqual(st, 200, body)

    def on_hand(self, sku):
        st, body = self.s.http("GET", f"/v1/skus/{sku}")
        return body["on_hand"] if st == 200 else None

    def batch(self, rows, ref=None, reason="cycle_count", atomic=None):
        body = {"reason": reason, "rows": rows}
        if ref is not None:
            body["ref"] = ref
        if atomic is not None:
            body["atomic"] = atomic
        return self.s.http("POST", BATCHES, body)

    def feed_next(self, skus):
        """The events feed's `next`, once it has a stock_adjusted event of each of `skus` (the cluster
        store's feed lags its writes; a deadline for a state, not a timing assertion)."""
        deadline = time.monotonic() + 30
        while True:
            st, ev = self.s.http("GET", "/v1/events?after=0&limit=10000")
            seen = {e["sku"] for e in ev["events"] if e["type"] == "stock_adjusted"}
            if set(skus) <= seen or not CLUSTER or time.monotonic() > deadline:
                return ev["next"]
            time.sleep(0.05)

    def hold(self, hold_id, sku, qty):
        self.assertEqual(self.s.http("PUT", "/v1/channels/web", {"priority": 1})[0], 200)
        st, body = self.s.http("POST", "/v1/holds", {"id": hold_id, "channel": "web",
                                                     "lines": [{"sku": sku, "qty": qty}]})
        self.assertEqual(st, 201, body)

    def assert_row_error(self, result, sku, code):
        self.assertEqual((result["sku"], result["ok"]), (sku, False), result)
        self.assertEqual(result["error"]["code"], code, result)
        self.assertIn("message", result["error"])
        self.assertIn("details", result["error"])

    def test_every_row_error_in_a_non_atomic_batch(self):
        self.put_sku("A", 10)
        self.hold("h1", "A", 3)
        rows = [
            {"sku": "A", "on_hand": 12, "expect_on_hand": 11},   # 0 precondition_failed, actual 10
            {"sku": "NOPE", "delta": 1},                         # 1 unknown_sku
            {"sku": "NOPE2", "on_hand": 5, "expect_on_hand": 0},  # 2 unknown_sku (expect on unknown)
            {"sku": "A", "on_hand": 2},                          # 3 invalid_state: 3 held
            {"sku": "A", "delta": -8},                           # 4 invalid_state: 2 < 3 held
            {"sku": "A", "on_hand": -1},                         # 5 invalid_request
            {"sku": "bad sku!", "on_hand": 1},                   # 6 invalid_request
            {"sku": "A", "delta": LIMIT},                        # 7 invalid_request: 10 + 10^15
            {"sku": "A", "delta": LIMIT + 1},                    # 8 invalid_request: |delta|
            {"sku": "A", "on_hand": LIMIT + 1},                  # 9 invalid_request
            {"sku": "A", "on_hand": 5, "expect_on_hand": -1},    # 10 invalid_request
            {"sku": "NEW", "on_hand": 7},                        # 11 ok: created
            {"sku": "A", "on_hand": 20, "expect_on_hand": 10},   # 12 ok
            {"sku": "A", "delta": -5, "expect_on_hand": 20},     # 13 ok: sees row 12
            {"sku": "NEW", "delta": 1, "expect_on_hand": 7},     # 14 ok: sees row 11
        ]
        st, body = self.batch(rows, ref="ERR-1")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["ref"], "ERR-1")
        r = body["results"]
        self.assertEqual(len(r), len(rows))
        self.assert_row_error(r[0], "A", "precondition_failed")
        self.assertEqual(r[0]["error"]["details"]["actual"], 10)
        self.assert_row_error(r[1], "NOPE", "unknown_sku")
        self.assert_row_error(r[2], "NOPE2", "unknown_sku")
        self.assert_row_error(r[3], "A", "invalid_state")
        self.assert_row_error(r[4], "A", "invalid_state")
        for i, sku in [(5, "A"), (6, "bad sku!"), (7, "A"), (8, "A"), (9, "A"), (10, "A")]:
            self.assert_row_error(r[i], sku, "invalid_request")
        for i in (11, 12, 13, 14):
            self.assertTrue(r[i]["ok"], r[i])
            self.assertNotIn("error", r[i])
        self.assertEqual(r[11]["sku_view"]["sku"], "NEW")
        self.assertEqual(r[13]["sku_view"]["on_hand"], 15)
        self.assertEqual(r[13]["sku_view"]["held"], 3)
        self.assertEqual(self.on_hand("A"), 15)
        self.assertEqual(self.on_hand("NEW"), 8)
        self.assertIsNone(self.on_hand("NOPE"))
        self.assertIsNone(self.on_hand("NOPE2"))

    def test_failed_atomic_batch_is_409_and_changes_nothing(self):
        self.put_sku("A", 10)
        self.put_sku("B", 5)
        seq_before = self.feed_next(["A", "B"])
        rows = [{"sku": "A", "on_hand": 50}, {"sku": "C", "on_hand": 1},
                {"sku": "B", "delta": -2, "expect_on_hand": 4}]
        st, body = self.batch(rows, ref="AT-1", atomic=True)
        self.assertEqual(st, 409, body)
        self.assertEqual(body["ref"], "AT-1")
        self.assertEqual([x["ok"] for x in body["results"]], [False, False, False])
        self.assertEqual(body["results"][2]["error"]["code"], "precondition_failed")
        self.assertEqual(body["results"][2]["error"]["details"]["actual"], 5)
        self.assertEqual(body["results"][0]["error"]["code"], "invalid_state")
        self.assertEqual((self.on_hand("A"), self.on_hand("B"), self.on_hand("C")), (10, 5, None))
        st, ev = self.s.http("GET", f"/v1/events?after={seq_before}")
        self.assertEqual(ev["events"], [])
        # The same rows, corrected, under a new ref: all applied.
        rows[2]["expect_on_hand"] = 5
        st, body = self.batch(rows, ref="AT-2", atomic=True)
        self.assertEqual(st, 200, body)
        self.assertTrue(all(x["ok"] for x in body["results"]), body)
        self.assertEqual((self.on_hand("A"), self.on_hand("B"), self.on_hand("C")), (50, 3, 1))

    def test_events_carry_the_batch_reason_and_ref(self):
        self.put_sku("A", 10)
        after = self.feed_next(["A"])
        st, body = self.batch([{"sku": "A", "delta": 4}, {"sku": "Z", "on_hand": 2}], ref="EV-1",
                              reason="received")
        self.assertEqual(st, 200, body)
        deadline = time.monotonic() + 30  # the cluster store's feed lags (a deadline for a state)
        while True:
            st, ev = self.s.http("GET", f"/v1/events?after={after}&limit=10000")
            adjusted = [e for e in ev["events"] if e["type"] == "stock_adjusted"]
            if len(adjusted) >= 2 or not CLUSTER or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(adjusted), 2, ev)
        self.assertEqual({e["sku"] for e in adjusted}, {"A", "Z"})
        for e in adjusted:
            self.assertEqual((e["reason"], e["ref"]), ("received", "EV-1"), e)

    def test_repeated_ref_returns_the_first_answer_across_restarts(self):
        self.put_sku("A", 10)
        first = self.batch([{"sku": "A", "delta": 5}, {"sku": "X", "delta": 1}], ref="R-1")
        self.assertEqual(first[0], 200)
        self.assertEqual(self.on_hand("A"), 15)
        # Another body under the same ref: the first answer, nothing applied.
        again = self.batch([{"sku": "A", "delta": 100}], ref="R-1", reason="other")
        self.assertEqual(again, first)
        self.assertEqual(self.on_hand("A"), 15)
        failed = self.batch([{"sku": "Y", "delta": 1}], ref="R-2", atomic=True)
        self.assertEqual(failed[0], 409)
        for how in (signal.SIGKILL, signal.SIGTERM) + (() if CLUSTER else ("snapshot",)):
            if how == "snapshot":
                self.assertEqual(self.s.http("POST", "/v1/admin/snapshot")[0], 200)
                self.s.restart(signal.SIGKILL)
            else:
                self.s.restart(how)
            self.assertEqual(self.batch([{"sku": "A", "delta": 5}], ref="R-1"), first, how)
            self.assertEqual(self.batch([{"sku": "Y", "on_hand": 1}], ref="R-2"), failed, how)
            self.assertEqual(self.on_hand("A"), 15, how)
            self.assertIsNone(self.on_hand("Y"), how)

    def test_body_level_errors_are_400_and_change_nothing(self):
        self.put_sku("A", 10)
        row = {"sku": "A", "delta": 1}
        bad = [
            '{"reason":"received","rows":[',                                     # malformed JSON
            json.dumps({"reason": "received", "rows": []}),                       # no rows
            json.dumps({"reason": "received", "rows": [row] * 10001}),            # 10,001 rows
            json.dumps({"reason": "stolen", "rows": [row]}),                      # unknown reason
            json.dumps({"rows": [row]}),                                          # no reason
            json.dumps({"reason": "received"}),                                   # no rows field
            json.dumps({"reason": "received", "rows": [{"sku": "A", "on_hand": 1, "delta": 1}]}),
            json.dumps({"reason": "received", "rows": [{"sku": "A"}]}),
            json.dumps({"reason": "received", "rows": [{"sku": "A", "delta": "1"}]}),
            json.dumps({"reason": "received", "rows": [{"sku": "A", "delta": 1, "why": 1}]}),
            json.dumps({"reason": "received", "rows": [row], "ref": "bad ref!"}),
            json.dumps({"reason": "received", "rows": [row], "atomic": "yes"}),
            json.dumps({"reason": "received", "rows": [row], "extra": 1}),
        ]
        for raw in bad:
            st, body = self.s.http("POST", BATCHES, raw=raw)
            self.assertEqual((st, body["error"]["code"]), (400, "invalid_request"), raw[:200])
        self.assertEqual(self.on_hand("A"), 10)

    def test_ten_thousand_rows_over_one_mib_fit(self):
        skus = [f"SKU-{i:06d}-" + "x" * 100 for i in range(10000)]
        rows = [{"sku": s, "on_hand": i} for i, s in enumerate(skus)]
        raw = json.dumps({"reason": "cycle_count", "ref": "BIG-1", "rows": rows})
        self.assertGreater(len(raw), 1 << 20)
        st, body = self.s.http("POST", BATCHES, raw=raw)
        self.assertEqual(st, 200, str(body)[:300])
        self.assertEqual(len(body["results"]), 10000)
        self.assertTrue(all(x["ok"] for x in body["results"]))
        self.assertEqual(self.on_hand(skus[9999]), 9999)
        deadline = time.monotonic() + 30  # the cluster store lists from its ledger (a deadline for a state)
        while True:
            st, body = self.s.http("GET", "/v1/skus?limit=1")
            if body["total"] >= 10000 or not CLUSTER or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(body["total"], 10000)
        # Other routes keep the default 1 MiB limit.
        st, body = self.s.http("PUT", "/v1/skus/A", raw=" " * ((1 << 20) + 1))
        self.assertEqual(st, 413)

    def test_resp_batch(self):
        self.put_sku("A", 10)
        r = self.s.resp()
        got = r.call("BATCH", "RB-1", "received", "EACH", "A", "=12?10", "B", "+1", "A", "-2", "C", "=5")
        self.assertEqual(len(got), 4)
        self.assertEqual(got[0], "OK")
        self.assertIsInstance(got[1], RespError)
        self.assertTrue(str(got[1]).startswith("UNKNOWN_SKU"), got[1])
        self.assertEqual((got[2], got[3]), ("OK", "OK"))
        self.assertEqual((self.on_hand("A"), self.on_hand("C")), (10, 5))
        self.assertEqual(r.call("BATCH", "RB-1", "received", "EACH", "A", "+100"), got)  # the first answer
        failed = r.call("BATCH", "RB-2", "cycle_count", "atomic", "A", "=1?9", "C", "+1")
        self.assertTrue(all(isinstance(x, RespError) for x in failed), failed)
        self.assertTrue(str(failed[0]).startswith("PRECONDITION_FAILED"), failed[0])
        self.assertIn("actual 10", str(failed[0]))
        self.assertEqual(self.on_hand("C"), 5)
        for bad in (["BATCH", "R", "received", "EACH", "A"], ["BATCH", "R", "received", "EACH"]):
            self.assertIn("wrong number", str(r.call(*bad)))
        for bad in (["BATCH", "R", "stolen", "EACH", "A", "+1"], ["BATCH", "R", "other", "MAYBE", "A", "+1"],
                    ["BATCH", "R", "other", "EACH", "A", "1"], ["BATCH", "R", "other", "EACH", "A", "+-1"],
                    ["BATCH", "bad ref", "other", "EACH", "A", "+1"]):
            self.assertTrue(str(r.call(*bad)).startswith("INVALID_REQUEST"), bad)
        self.assertEqual(self.on_hand("A"), 10)
        r.close()

    def test_compare_and_set_race_one_importer_wins_each_row(self):
        n = 300
        skus = [f"R{i}" for i in range(n)]
        st, body = self.batch([{"sku": s, "on_hand": 100} for s in skus], ref="RACE-SETUP")
        self.assertEqual(st, 200)
        answers = {}

        def importer(name, target):
            mine = []
            for k in range(0, n, 10):  # many small batches, so the two importers interleave
                rows = [{"sku": s, "on_hand": target, "expect_on_hand": 100} for s in skus[k:k + 10]]
                st, body = self.s.http("POST", BATCHES, {"reason": "cycle_count", "ref": f"{name}-{k}",
                                                          "rows": rows})
                assert st == 200, body
                mine += body["results"]
            answers[name] = mine

        threads = [threading.Thread(target=importer, args=(name, t)) for name, t in (("X", 111), ("Y", 222))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, s in enumerate(skus):
            x, y = answers["X"][i], answers["Y"][i]
            self.assertEqual(x["ok"] + y["ok"], 1, (s, x, y))
            loser, winner_value = (y, 111) if x["ok"] else (x, 222)
            self.assertEqual(loser["error"]["code"], "precondition_failed")
            self.assertEqual(loser["error"]["details"]["actual"], winner_value)
            self.assertEqual(self.on_hand(s), winner_value)

    @unittest.skipIf(CLUSTER, "embedded store: its journal record; the cluster store's batch whose node dies "
                              "is ended by the sweep (tests/backends/cluster_batch_test.cc)")
    def test_kill_9_during_a_large_batch_is_all_or_nothing(self):
        skus = [f"K{i:05d}" for i in range(10000)]
        applied_seen = set()
        for attempt in range(4):
            ref = f"KILL-{attempt}"
            rows = [{"sku": s, "on_hand": attempt + 1} for s in skus]
            raw = json.dumps({"reason": "correction", "ref": ref, "atomic": attempt % 2 == 0,
                              "rows": rows}).encode()
            head = (f"POST {BATCHES} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(raw)}\r\n\r\n").encode()
            sock = socket.create_connection(("127.0.0.1", self.s.http_port))
            sock.sendall(head + raw)
            if attempt >= 2:  # later attempts wait for a byte of the answer: then it must be there
                sock.recv(1)
            self.s.restart(signal.SIGKILL)
            sock.close()
            st, body = self.s.http("GET", "/v1/skus?limit=1")
            total = body["total"]
            self.assertIn(total, (0, 10000))
            values = set()
            for offset in range(0, total, 1000):
                st, listing = self.s.http("GET", f"/v1/skus?offset={offset}&limit=1000")
                values |= {v["on_hand"] for v in listing["skus"]}
            self.assertLessEqual(len(values), 1, (attempt, values))  # every row or none
            value = values.pop() if values else None
            if attempt >= 2:
                self.assertEqual(value, attempt + 1)
            applied = value == attempt + 1
            if applied:
                applied_seen.add(attempt)
                st, again = self.s.http("POST", BATCHES, raw=raw)
                self.assertEqual(st, 200)
                self.assertEqual(len(again["results"]), 10000)
                self.assertEqual(again["ref"], ref)
        self.assertIn(3, applied_seen)


if __name__ == "__main__":
    unittest.main()
