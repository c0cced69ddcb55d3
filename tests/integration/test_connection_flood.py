"""Someone opens more connections than the backend has file descriptors. The
backend must not spin on accept() (burning a core and flooding its log) and
must serve again as soon as descriptors are free."""

import socket
import time
import unittest

from harness import HOST, ClusterTestCase, seed_db, wait_until

NOFILE = 64       # the backend's descriptor limit in this test
CLIENTS = 100     # more connections than that
WINDOW = 1.0      # seconds we watch the backend while it is out of fds


class ConnectionFloodTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()

    def test_out_of_file_descriptors_does_not_spin(self):
        be = self.start_backend(self.db, name="backend-fds", redis=self.redis.addr,
                                nofile=NOFILE)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(CLIENTS):
            socks.append(socket.create_connection((HOST, be.port), timeout=2))
        wait_until(lambda: be.open_fds() >= NOFILE - 1, 5.0,
                   what="the backend to use up its %d descriptors" % NOFILE)

        # watch it for a while, out of descriptors with connections waiting
        log_before = len(be.log_text().splitlines())
        cpu_before = be.cpu_seconds()
        t0 = time.monotonic()
        while time.monotonic() - t0 < WINDOW:
            self.assertTrue(be.alive(), "the backend died out of descriptors")
            time.sleep(0.1)  # sampling interval of a fixed observation window
        cpu = be.cpu_seconds() - cpu_before
        wall = time.monotonic() - t0
        log_lines = len(be.log_text().splitlines()) - log_before
        what = ("out of descriptors for %.2fs, the backend used %.2fs of CPU and "
                "wrote %d log lines (busy loop on accept?); last lines:\n%s"
                % (wall, cpu, log_lines, be.log_tail(3)))
        self.assertLess(cpu, 0.25 * wall, what)
        self.assertLess(log_lines, 50, what)

        # descriptors come back: it serves again
        for s in socks:
            s.close()
        r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
            be.get("/healthz", timeout=1.0)), 5.0, interval=0.05,
            what="/healthz after the clients left")
        self.assertEqual(r.json()["status"], "ok")
        self.assertStatus(be.get("/posts/1"), 200, "/posts/1 after the flood")


if __name__ == "__main__":
    unittest.main()
