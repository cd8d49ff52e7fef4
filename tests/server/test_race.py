"""A race of 200 concurrent clients for 100 units ends with exactly 100 held, over HTTP and over RESP."""
import threading
import unittest

from harness import Stockd


class RaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stockd().start()
        cls.s.http("PUT", "/v1/channels/app", {"priority": 1, "hold_ttl_s": 900})

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def race(self, sku, buy):
        self.s.http("PUT", f"/v1/skus/{sku}", {"on_hand": 100})
        results = []
        lock = threading.Lock()
        barrier = threading.Barrier(200)

        def client(i):
            barrier.wait()
            ok = buy(i)
            with lock:
                results.append(ok)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 200)
        self.assertEqual(sum(results), 100)
        st, v = self.s.http("GET", f"/v1/skus/{sku}")
        self.assertEqual((v["held"], v["available"]), (100, 0))

    def test_http_race(self):
        def buy(i):
            st, body = self.s.http("POST", "/v1/holds", {"id": f"race-h-{i}", "channel": "app",
                                                         "lines": [{"sku": "race-http", "qty": 1}]})
            assert st in (201, 409), (st, body)
            return st == 201
        self.race("race-http", buy)

    def test_resp_race(self):
        def buy(i):
            r = self.s.resp()
            reply = r.call("HOLD", f"race-r-{i}", "app", "900", "race-resp", "1")
            r.close()
            assert reply == "held" or reply.startswith("INSUFFICIENT_STOCK"), reply
            return reply == "held"
        self.race("race-resp", buy)


if __name__ == "__main__":
    unittest.main()
