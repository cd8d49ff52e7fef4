"""Bearer tokens: admin does everything; a channel token only holds of its own channel and availability.
The config file fails closed: any mistake in it (above all in [auth]) stops stockd with exit code 2 and
a message naming the file, the line and the key, before anything listens."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import CLUSTER, STOCKD, RespError, Stockd, free_port

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

    def test_movements_need_the_admin_token(self):
        path = "/v1/movements?sku=au-1"
        self.assertEqual(self.code(self.s.http("GET", path)), (401, "unauthorized"))
        self.assertEqual(self.code(self.s.http("GET", path, token="app-secret")), (403, "forbidden"))
        st, page = self.s.http("GET", path, token="admin-secret")
        self.assertEqual(st, 200, page)
        deadline = time.monotonic() + 30  # the cluster store's history is its ledger's (it lags)
        while CLUSTER and not page["movements"] and time.monotonic() < deadline:
            time.sleep(0.05)
            st, page = self.s.http("GET", path, token="admin-secret")
        self.assertEqual(page["movements"][0]["cause"], "set")

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

    def test_start_log_says_auth_is_on_and_for_which_channels(self):
        self.assertIn("event=auth state=on admin_token=yes channel_tokens=app,meituan", self.s.tail_log())

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


# Each: (config text, line the message must name, key it must name). The first four are issue 14's.
BAD_CONFIGS = [
    ('# stockd\n[auth]\nadmin_tokn = "adm-secret"\n', 3, "auth.admin_tokn"),
    ('[auth.channel_token]\napp = "x"\n', 1, "auth.channel_token"),
    ('[auth]\nadmin_token = 123\n', 2, "auth.admin_token"),
    ('[auth.channel_tokens]\napp = 5\n', 2, "auth.channel_tokens.app"),
    ('[auth]\nadmin_token = "a"\n[auth.channel_tokens]\napp = "x"\nweb = ["y"]\n', 5, "auth.channel_tokens.web"),
    ('[auth]\nadmin_token = "a"\nchannel_tokens = "app=x"\n', 3, "auth.channel_tokens"),
    ('[auth]\nadmin_token = ""\n', 2, "auth.admin_token"),  # an empty token would turn auth off
    ('[auth]\nadmin_token = "a"\n[auth.channel_tokens]\n"bad name" = "x"\n', 4, "auth.channel_tokens.bad name"),
    ('[auth]\nadmin_token = "same"\n[auth.channel_tokens]\napp = "same"\n', 4, "auth.channel_tokens.app"),
    ('http = "127.0.0.1:0"\n[auth]\n', 2, "[auth]"),  # configures no token at all
    ('auth = "secret"\n', 1, "auth"),
    ('fsync = "always"\n\nmax_queeu = 10\n', 3, "max_queeu"),
    ('[server]\nmax_queue = 10\n', 1, "server"),
    ('max_queue = "10"\n', 1, "max_queue"),  # wrong type
    ('fsync = "always"\nmax_queue = 0\n', 2, "max_queue"),  # out of range: the file's line, not the flag
    ('fsync = "sometimes"\n', 1, "fsync"),
    ('log_level = "verbose"\n', 1, "log_level"),
    ('fsync = "always"\nmax_queue = = 3\n', 2, ""),  # not TOML
]


class ConfigFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stockd-config-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_stockd(self, config, *args):
        """Runs stockd with this config file; returns (exit code, stderr, config path). A stockd that
        starts serving instead of refusing the file is stopped and the test fails."""
        path = os.path.join(self.dir, "stockd.toml")
        with open(path, "w") as f:
            f.write(config)
        port = free_port()
        cmd = [STOCKD, "--data-dir", os.path.join(self.dir, "data"), "--http", f"127.0.0.1:{port}",
               "--resp", "off", "--config", path] + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        serving = False
        while p.poll() is None and not serving:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    serving = True
            except OSError:
                time.sleep(0.05)
        if serving:
            p.kill()
        _, err = p.communicate()
        self.assertFalse(serving, f"stockd started with the config {config!r} instead of refusing it: {err}")
        return p.returncode, err, path

    def test_every_mistake_stops_stockd_naming_file_line_and_key(self):
        for config, line, key in BAD_CONFIGS:
            with self.subTest(config=config):
                rc, err, path = self.run_stockd(config)
                self.assertEqual(rc, 2, err)
                self.assertIn(f"stockd: config {path}:{line}: ", err)
                self.assertIn(key, err)

    def test_file_value_is_checked_even_when_a_flag_overrides_it(self):
        rc, err, path = self.run_stockd('max_queue = "10"\n', "--max-queue", "10")
        self.assertEqual(rc, 2, err)
        self.assertIn(f"config {path}:1: max_queue", err)

    def test_a_flag_out_of_range_is_named_as_the_flag(self):
        rc, err, _ = self.run_stockd('fsync = "always"\n', "--max-queue", "0")
        self.assertEqual(rc, 2, err)
        self.assertIn("stockd: --max-queue must be 1 .. 1000000", err)
        self.assertNotIn("config", err)


class StartupTest(unittest.TestCase):
    def test_version(self):
        p = subprocess.run([STOCKD, "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stdout), (0, "stockd 0.1.0\n"), p.stderr)

    def test_start_log_says_auth_is_off_without_auth(self):
        s = Stockd(config='fsync = "always"\n', flush=False).start()
        try:
            self.assertIn('event=auth state=off reason="no [auth] in ', s.tail_log())
            st, _ = s.http("PUT", "/v1/channels/cfg-open", {"priority": 1})
            self.assertEqual(st, 200)
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()
