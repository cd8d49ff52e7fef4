"""Bearer tokens: admin does everything; a channel token only holds of its own channel and availability."""
import unittest

from harness import CLUSTER, RespError, Stockd

CONFIG = """
[auth]
admin_token = "admin-secret"
[auth.channel_tokens]
app = "app-secret"
meituan = "mt-secret"
"""


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stockd(config=CONFIG).start()
        a = "admin-secret"
        for ch in ("app", "meituan"):
            st, _ = cls.s.http("PUT", f"/v1/channels/{ch}", {"priority": 1}, token=a)
            assert st == 200
        st, _ = cls.s.http("PUT", "/v1/skus/au-1", {"on_hand": 10}, token=a)
        assert st == 200

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def code(self, resp):
        st, body = resp
        return st, body["error"]["code"] if isinstance(body, dict) and "error" in body else None

    def test_http_scopes(self):
        hold = {"id": "au-h1", "channel": "app", "lines": [{"sku": "au-1", "qty": 1}]}
        self.assertEqual(self.code(self.s.http("POST", "/v1/holds", hold)), (401, "unauthorized"))
        self.assertEqual(self.code(self.s.http("POST", "/v1/holds", hold, token="wrong")), (401, "unauthorized"))
        self.assertEqual(self.code(self.s.http("POST", "/v1/holds", hold, token="mt-secret")), (403, "forbidden"))
        st, h = self.s.http("POST", "/v1/holds", hold, token="app-secret")
        self.assertEqual(st, 201, h)
        self.assertEqual(self.code(self.s.http("POST", "/v1/holds/au-h1/confirm", token="mt-secret")), (403, "forbidden"))
        st, h = self.s.http("POST", "/v1/holds/au-h1/confirm", token="app-secret")
        self.assertEqual((st, h["state"]), (200, "confirmed"))
        st, a = self.s.http("GET", "/v1/availability?channel=app&sku=au-1", token="app-secret")
        self.assertEqual((st, a["available"]["au-1"]), (200, 9))
        self.assertEqual(self.code(self.s.http("GET", "/v1/availability?channel=meituan&sku=au-1", token="app-secret")),
                         (403, "forbidden"))
        self.assertEqual(self.code(self.s.http("PUT", "/v1/skus/au-1", {"on_hand": 5}, token="app-secret")),
                         (403, "forbidden"))
        self.assertEqual(self.code(self.s.http("POST", "/v1/admin/snapshot", token="app-secret")), (403, "forbidden"))
        st, _ = self.s.http("POST", "/v1/admin/snapshot", token="admin-secret")
        self.assertEqual(st, 409 if CLUSTER else 200)  # the cluster store has no snapshots

    def test_resp_requires_auth(self):
        r = self.s.resp()
        self.assertTrue(r.call("HOLD", "au-r1", "app", "900", "au-1", "1").startswith("UNAUTHORIZED"))
        self.assertTrue(r.call("AUTH", "wrong").startswith("UNAUTHORIZED"))
        self.assertEqual(r.call("AUTH", "mt-secret"), "OK")
        self.assertTrue(r.call("HOLD", "au-r1", "app", "900", "au-1", "1").startswith("FORBIDDEN"))
        self.assertTrue(r.call("SETSTOCK", "au-1", "100").startswith("FORBIDDEN"))
        self.assertEqual(r.call("AUTH", "app-secret"), "OK")
        self.assertEqual(r.call("HOLD", "au-r1", "app", "900", "au-1", "1"), "held")
        r.close()


if __name__ == "__main__":
    unittest.main()
