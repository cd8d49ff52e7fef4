"""Restart keeps everything acknowledged: SIGTERM drains and exits 0; SIGKILL loses nothing that was
answered; the events sequence continues after a restart; a second stockd cannot open the same data dir."""
import signal
import subprocess
import unittest

from harness import STOCKD, Stockd, free_port


class DurabilityTest(unittest.TestCase):
    def setUp(self):
        self.s = Stockd().start()

    def tearDown(self):
        self.s.cleanup()

    def populate(self, prefix, n):
        self.s.http("PUT", "/v1/channels/app", {"priority": 1, "hold_ttl_s": 900})
        self.s.http("PUT", f"/v1/skus/{prefix}-sku", {"on_hand": 1000})
        c = self.s.conn()
        for i in range(n):
            st, h = self.s.http("POST", "/v1/holds", {"id": f"{prefix}-{i}", "channel": "app",
                                                      "lines": [{"sku": f"{prefix}-sku", "qty": 1}]}, conn=c)
            self.assertEqual(st, 201, h)
        for i in range(0, n, 3):
            st, _ = self.s.http("POST", f"/v1/holds/{prefix}-{i}/confirm", conn=c)
            self.assertEqual(st, 200)
        st, v = self.s.http("GET", f"/v1/skus/{prefix}-sku", conn=c)
        c.close()
        return v

    def test_sigterm_drains_and_restart_keeps_state(self):
        before = self.populate("t", 60)
        st, ev = self.s.http("GET", "/v1/events?after=0&limit=10000")
        rc = self.s.restart(signal.SIGTERM)
        self.assertEqual(rc, 0)
        st, after = self.s.http("GET", "/v1/skus/t-sku")
        for k in ("on_hand", "held", "available", "version"):
            self.assertEqual(after[k], before[k], k)
        st, h = self.s.http("GET", "/v1/holds/t-3")
        self.assertEqual(h["state"], "confirmed")
        # the replay of an acknowledged hold still answers as a replay
        st, h = self.s.http("POST", "/v1/holds", {"id": "t-1", "channel": "app", "lines": [{"sku": "t-sku", "qty": 1}]})
        self.assertEqual((st, h["state"]), (200, "held"))
        # events continue with larger sequence numbers
        self.s.http("POST", "/v1/skus/t-sku/adjustments", {"delta": 1, "reason": "receipt"})
        st, ev2 = self.s.http("GET", f"/v1/events?after={ev['next']}&limit=100")
        self.assertTrue(ev2["events"])
        self.assertGreater(ev2["events"][0]["seq"], ev["next"] - 1)

    def test_sigkill_loses_nothing_acknowledged(self):
        before = self.populate("k", 40)
        self.s.restart(signal.SIGKILL)
        st, after = self.s.http("GET", "/v1/skus/k-sku")
        for k in ("on_hand", "held", "available"):
            self.assertEqual(after[k], before[k], k)
        st, snap = self.s.http("POST", "/v1/admin/snapshot")
        self.assertEqual(st, 200)
        more = self.populate("k2", 10)
        self.s.restart(signal.SIGKILL)
        st, after = self.s.http("GET", "/v1/skus/k2-sku")
        self.assertEqual((after["held"], after["on_hand"]), (more["held"], more["on_hand"]))
        st, after = self.s.http("GET", "/v1/skus/k-sku")
        self.assertEqual(after["held"], before["held"])

    def test_data_dir_is_locked(self):
        p = subprocess.run([STOCKD, "--data-dir", self.s.data_dir, "--http", f"127.0.0.1:{free_port()}",
                            "--resp", "off"], capture_output=True, timeout=60)
        out = (p.stdout + p.stderr).decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, out)
        # The lock, not any other start-up failure (a port, a flag), is what stopped it.
        self.assertIn(f"{self.s.data_dir} is locked by another stockd", out)


if __name__ == "__main__":
    unittest.main()
