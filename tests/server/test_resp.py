"""The RESP fast path: the contract's commands over a raw RESP client, pipelining, and redis-py
(Debian's python3-redis) connecting with its default options."""
import unittest

from harness import RespError, Stockd


class RespTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stockd().start()
        st, _ = cls.s.http("PUT", "/v1/channels/app", {"priority": 1, "hold_ttl_s": 900})
        assert st == 200

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def test_commands(self):
        r = self.s.resp()
        self.assertEqual(r.call("PING"), "PONG")
        self.assertEqual(r.call("SETSTOCK", "r-a", "10"), "OK")
        self.assertEqual(r.call("AVAIL", "r-a"), 10)
        self.assertEqual(r.call("AVAIL", "r-a", "app"), 10)
        self.assertEqual(r.call("HOLD", "r-o1", "app", "900", "r-a", "2"), "held")
        self.assertEqual(r.call("HOLD", "r-o1", "app", "900", "r-a", "2"), "held")  # replay
        self.assertEqual(r.call("AVAIL", "r-a", "app"), 8)
        self.assertEqual(r.call("CONFIRM", "r-o1"), "confirmed")
        self.assertEqual(r.call("SALE", "r-o2", "app", "r-a", "3"), "confirmed")
        self.assertEqual(r.call("AVAIL", "r-a"), 5)
        self.assertEqual(r.call("HOLD", "r-o3", "app", "900", "r-a", "1"), "held")
        self.assertEqual(r.call("RELEASE", "r-o3"), "released")
        err = r.call("HOLD", "r-o4", "app", "900", "r-a", "6")
        self.assertIsInstance(err, RespError)
        self.assertEqual(err, "INSUFFICIENT_STOCK sku r-a requested 6 available 5")
        err = r.call("HOLD", "r-o1", "app", "900", "r-a", "3")
        self.assertTrue(err.startswith("IDEMPOTENCY_CONFLICT"), err)
        self.assertTrue(r.call("CONFIRM", "nope").startswith("UNKNOWN_HOLD"))
        self.assertTrue(r.call("AVAIL", "nope").startswith("UNKNOWN_SKU"))
        self.assertTrue(r.call("HOLD", "bad id", "app", "900", "r-a", "1").startswith("INVALID_REQUEST"))
        self.assertTrue(r.call("HOLD", "r-o5", "app", "900", "r-a", "x").startswith("INVALID_REQUEST"))
        self.assertTrue(r.call("HOLD", "r-o5", "app").startswith("ERR wrong number of arguments"))
        self.assertTrue(r.call("NOSUCHCOMMAND").startswith("ERR unknown command"))
        self.assertEqual(r.call("RELEASE", "r-o1").split()[0], "INVALID_STATE")
        r.close()

    def test_bad_line_named_as_http_names_it(self):
        """RESP and HTTP name a bad field of a hold line the same way, with its index: lines[1].qty."""
        r = self.s.resp()
        r.call("SETSTOCK", "r-f1", "10")
        r.call("SETSTOCK", "r-f2", "10")
        cases = [  # (RESP lines, HTTP lines, the field both must name)
            (["r-f1", "1", "r-f2", "0"], [{"sku": "r-f1", "qty": 1}, {"sku": "r-f2", "qty": 0}], "lines[1].qty"),
            (["r-f1", "0"], [{"sku": "r-f1", "qty": 0}], "lines[0].qty"),
            (["r-f1", "1", "r-f2", "x"], [{"sku": "r-f1", "qty": 1}, {"sku": "r-f2", "qty": "x"}], "lines[1].qty"),
            (["r-f1", "1", "bad sku", "1"], [{"sku": "r-f1", "qty": 1}, {"sku": "bad sku", "qty": 1}],
             "lines[1].sku"),
        ]
        for resp_lines, http_lines, field in cases:
            err = r.call("HOLD", "r-f-hold", "app", "900", *resp_lines)
            self.assertIsInstance(err, RespError, resp_lines)
            self.assertTrue(err.startswith(f"INVALID_REQUEST {field} "), (resp_lines, err))
            st, body = self.s.http("POST", "/v1/holds", {"id": "r-f-hold", "channel": "app", "lines": http_lines})
            self.assertEqual(st, 400, body)
            self.assertTrue(body["error"]["message"].startswith(f"{field} "), (http_lines, body))
        r.close()

    def test_info_names_the_version(self):
        r = self.s.resp()
        self.assertIn("stockd_version:0.1.0\r\n", r.call("INFO"))  # the CMake project version
        r.close()

    def test_pipelining_in_order(self):
        r = self.s.resp()
        r.call("SETSTOCK", "r-pipe", "100")
        n = 64
        for i in range(n):
            r.send("HOLD", f"rp-{i}", "app", "900", "r-pipe", "1")
            r.send("AVAIL", "r-pipe", "app")
        replies = [r.read() for _ in range(2 * n)]
        for i in range(n):
            self.assertEqual(replies[2 * i], "held")
            self.assertEqual(replies[2 * i + 1], 100 - (i + 1))  # each read sees the write before it
        r.close()

    def test_pipelined_errors_stay_in_order(self):
        # An error found before the engine (bad arity, bad id) must not overtake an earlier write of the
        # same connection that is waiting for its batch.
        r = self.s.resp()
        r.call("SETSTOCK", "r-order", "10")
        for i in range(50):
            if i % 2 == 0:
                r.send("HOLD", f"ro-{i}", "app", "900", "r-order", "1")
            else:
                r.send("HOLD", f"bad id {i}", "app", "900", "r-order", "1")
        r.send("HOLD", "ro-odd", "app", "900", "r-order")  # sku without qty: -ERR arity
        replies = [r.read() for _ in range(51)]
        for i in range(50):
            if i % 2 == 1:
                self.assertTrue(replies[i].startswith("INVALID_REQUEST"), (i, replies[i]))
            elif i < 20:  # the first 10 holds take the 10 units
                self.assertEqual(replies[i], "held", (i, replies))
            else:
                self.assertTrue(replies[i].startswith("INSUFFICIENT_STOCK"), (i, replies[i]))
        self.assertTrue(replies[50].startswith("ERR wrong number of arguments"), replies[50])
        r.close()

    def test_inline_commands(self):
        r = self.s.resp()
        r.sock.sendall(b"PING\r\n")
        self.assertEqual(r.read(), "PONG")
        r.close()

    def test_redis_py_default_options(self):
        try:
            import redis
        except ImportError:
            self.fail("python3-redis is required (scripts/bootstrap installs it)")
        c = redis.Redis(host="127.0.0.1", port=self.s.resp_port, client_name="e2e")
        self.assertTrue(c.ping())
        self.assertEqual(c.execute_command("SETSTOCK", "py-a", 3), b"OK")
        self.assertEqual(c.execute_command("HOLD", "py-1", "app", 900, "py-a", 2), b"held")
        self.assertEqual(c.execute_command("AVAIL", "py-a", "app"), 1)
        with self.assertRaises(redis.exceptions.ResponseError) as ctx:
            c.execute_command("HOLD", "py-2", "app", 900, "py-a", 2)
        self.assertIn("INSUFFICIENT_STOCK", str(ctx.exception))
        p = c.pipeline(transaction=False)
        p.execute_command("CONFIRM", "py-1")
        p.execute_command("AVAIL", "py-a")
        self.assertEqual(p.execute(), [b"confirmed", 1])
        c.close()


if __name__ == "__main__":
    unittest.main()
