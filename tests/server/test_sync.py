"""Real-disk durability: the real stockd (Env::posix(), not FaultEnv) syncs its journal before it
acknowledges a write. The crash tests cannot see a missing sync (SIGKILL keeps the page cache), so this
one counts the sync calls of the running process with an LD_PRELOAD shim
(tests/engine/sync_count_shim.cc, named by STOCKD_SYNC_SHIM) and checks the count after every answer."""
import os
import signal
import tempfile
import unittest

from harness import CLUSTER, Stockd

SHIM = os.environ.get("STOCKD_SYNC_SHIM", "")
WRITES = 25


@unittest.skipIf(CLUSTER, "the embedded store's journal only")
class SyncCountTest(unittest.TestCase):
    def setUp(self):
        if not SHIM:
            self.fail("STOCKD_SYNC_SHIM (the path of libsync_count_shim.so) is not set")
        fd, self.count_file = tempfile.mkstemp(prefix="stockd-sync-count-")
        os.close(fd)

    def tearDown(self):
        os.unlink(self.count_file)

    def start(self, fsync):
        """A stockd with the shim preloaded (only into it: the environment is put back at once)."""
        saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "STOCKD_SYNC_COUNT_FILE")}
        os.environ["LD_PRELOAD"] = SHIM
        os.environ["STOCKD_SYNC_COUNT_FILE"] = self.count_file
        try:
            s = Stockd(extra_args=["--fsync", fsync]).start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(s.cleanup)
        return s

    def syncs(self):
        with open(self.count_file) as f:
            text = f.read()
        self.assertRegex(text, r"^\d{20}\n$", "the shim did not publish a count: was it preloaded?")
        return int(text)

    def write(self, s, conn, i):
        st, h = s.http("POST", "/v1/holds", {"id": f"w-{i}", "channel": "app",
                                             "lines": [{"sku": "sync-sku", "qty": 1}]}, conn=conn)
        self.assertEqual(st, 201, h)

    def prepare(self, s):
        self.assertEqual(s.http("PUT", "/v1/channels/app", {"priority": 1, "hold_ttl_s": 900})[0], 200)
        st, v = s.http("PUT", "/v1/skus/sync-sku", {"on_hand": 1000})
        self.assertIn(st, (200, 201), v)

    def test_fsync_always_syncs_before_every_acknowledgement(self):
        s = self.start("always")
        self.prepare(s)
        c = s.conn()
        before = self.syncs()
        for i in range(WRITES):
            self.write(s, c, i)
            now = self.syncs()
            # Writes are sequential on one connection: each is its own batch, so its 201 must come
            # after a sync that the previous answer had not seen.
            self.assertGreater(now, before, f"hold w-{i} was acknowledged without a sync (count {now})")
            before = now
        c.close()

    def test_fsync_off_does_not_sync_per_write(self):
        # The other half of the proof: the shim sees the process (its count is there and a clean
        # shutdown syncs), yet with --fsync off the writes themselves add no sync.
        s = self.start("off")
        self.prepare(s)
        c = s.conn()
        before = self.syncs()
        for i in range(WRITES):
            self.write(s, c, i)
        c.close()
        self.assertEqual(self.syncs(), before, f"--fsync off synced during {WRITES} writes")
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        self.assertGreater(self.syncs(), before, "a clean shutdown syncs the journal even with --fsync off")


if __name__ == "__main__":
    unittest.main()
