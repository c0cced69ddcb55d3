"""An operator stops a backend with SIGTERM while it is answering: it reports
not-ready, stops taking connections, finishes what it started, exits 0."""

import http.client
import signal
import socket
import struct
import threading
import time
import unittest

from harness import (HOST, ClusterTestCase, Response, port_refuses, request,
                     seed_db, wait_until)

WORK_MS = 1500


class InFlight(threading.Thread):
    def __init__(self, port, path="/posts/1"):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection(HOST, port, timeout=15)
        self.conn.connect()
        self.path = path
        self.sent = threading.Event()
        self.resp = self.error = None
        self.t_done = None

    def run(self):
        try:
            t0 = time.monotonic()
            self.conn.request("GET", self.path)
            self.sent.set()
            r = self.conn.getresponse()
            body = r.read()
            self.t_done = time.monotonic()
            self.resp = Response(r.status, r.reason, r.getheaders(), body,
                                 self.t_done - t0)
        except Exception as exc:  # noqa: BLE001
            self.error = exc
            self.sent.set()
        finally:
            self.conn.close()


class GracefulStopTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()

    def backend(self, work_ms=WORK_MS, extra=()):
        return self.start_backend(self.db, name="backend-stop",
                                  redis=self.redis.addr,
                                  extra=["--work-ms", work_ms] + list(extra))

    def test_sigterm_finishes_the_request_in_flight(self):
        be = self.backend(extra=["--drain-timeout", 10000])
        # a keep-alive connection made before the stop, to ask /readyz during it
        probe = http.client.HTTPConnection(HOST, be.port, timeout=3)
        self.addCleanup(probe.close)
        probe.request("GET", "/healthz")
        first = probe.getresponse()
        first.read()
        self.assertEqual(first.status, 200)

        job = InFlight(be.port)
        job.start()
        self.assertTrue(job.sent.wait(5), "request not sent")
        # a round trip through the loop, so the backend has read the request
        self.assertStatus(be.get("/healthz"), 200)

        t_term = time.monotonic()
        be.signal(signal.SIGTERM)

        # the signal is handled asynchronously: once new connections are
        # refused, the backend is draining ...
        wait_until(lambda: port_refuses(be.port), 1.0, interval=0.01,
                   what="the listener to close after SIGTERM")
        self.assertIsNone(job.t_done, "listener must close while the request still works")

        # ... and says it is not ready, on the keep-alive connection made
        # before the stop (the only way left to ask it)
        try:
            ready = request(be.port, "GET", "/readyz", conn=probe, timeout=2)
        except (OSError, http.client.HTTPException) as exc:
            self.fail("the backend dropped an idle keep-alive connection at "
                      "SIGTERM, so /readyz cannot be seen during the drain: %r" % exc)
        self.assertIsNone(job.t_done, "the request finished before the probe")
        self.assertStatus(ready, 503, "/readyz while draining")
        self.assertServedBy(ready, be)
        self.assertIs(ready.json()["ready"], False)

        # the request in flight still gets its answer
        job.join(WORK_MS / 1000.0 + 5)
        self.assertFalse(job.is_alive(), "in-flight request hung")
        self.assertIsNone(job.error, "in-flight request failed: %r" % (job.error,))
        self.assertStatus(job.resp, 200, "request in flight at SIGTERM")
        self.assertEqual(job.resp.json()["id"], 1)

        code = be.wait(5)
        took = time.monotonic() - t_term
        self.assertEqual(code, 0, "exit code after a graceful stop")
        self.assertLess(took, WORK_MS / 1000.0 + 3, "drain took %.2fs" % took)
        self.assertTrue(port_refuses(be.port))

    def test_sigterm_finishes_queued_requests_too(self):
        be = self.backend(work_ms=300, extra=["--capacity", 1, "--queue", 2])
        jobs = [InFlight(be.port) for _ in range(3)]
        for j in jobs:
            j.start()
        for j in jobs:
            self.assertTrue(j.sent.wait(5), "request not sent")
        self.assertStatus(be.get("/healthz"), 200)  # the loop has read them
        t0 = time.monotonic()
        be.signal(signal.SIGTERM)
        for j in jobs:
            j.join(5)
        self.assertFalse(any(j.is_alive() for j in jobs), "a queued request hung")
        self.assertEqual([j.error for j in jobs], [None] * 3)
        self.assertEqual([j.resp.status for j in jobs], [200] * 3,
                         "one working and two waiting at SIGTERM: all answered")
        self.assertEqual(be.wait(5), 0)
        self.assertGreaterEqual(time.monotonic() - t0, 0.5,
                                "the waiting ones were worked on, not dropped")

    def test_a_client_that_reset_does_not_hold_up_the_stop(self):
        # A client resets its connection (RST) while its request is being
        # worked on. Once that work is over, nothing is in flight any more, so
        # a SIGTERM must stop the backend at once, not after --drain-timeout.
        be = self.backend(work_ms=300, extra=["--capacity", 1,
                                              "--drain-timeout", 5000])
        s = socket.create_connection((HOST, be.port), timeout=2)
        s.sendall(b"GET /posts/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertStatus(be.get("/healthz"), 200)  # the loop has read it
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        # capacity 1: a 200 here means the abandoned work is over
        wait_until(lambda: be.get("/posts/1").status == 200, 3.0, interval=0.05,
                   what="the slot of the abandoned request")
        t0 = time.monotonic()
        be.signal(signal.SIGTERM)
        code = be.wait(8)
        took = time.monotonic() - t0
        self.assertEqual(code, 0)
        self.assertLess(took, 1.5, "an idle backend took %.2fs to stop (the reset "
                        "request still counted as in flight?); log:\n%s"
                        % (took, be.log_tail(3)))

    def test_idle_backend_stops_at_once(self):
        be = self.backend(work_ms=0)
        self.assertStatus(be.get("/posts/1"), 200)
        t0 = time.monotonic()
        be.signal(signal.SIGTERM)
        code = be.wait(3)
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - t0, 1.5, "an idle backend drains at once")
        self.assertTrue(port_refuses(be.port))

    def test_drain_timeout_bounds_the_stop(self):
        be = self.backend(work_ms=5000, extra=["--drain-timeout", 300])
        job = InFlight(be.port)
        job.start()
        self.assertTrue(job.sent.wait(5))
        self.assertStatus(be.get("/healthz"), 200)
        t0 = time.monotonic()
        be.signal(signal.SIGTERM)
        code = be.wait(4)
        took = time.monotonic() - t0
        self.assertLess(took, 2.0, "--drain-timeout 300 ms, yet the stop took %.2fs" % took)
        self.assertGreaterEqual(code, 0, "killed by signal %d instead of exiting" % -code)
        job.join(3)
        self.assertFalse(job.is_alive(), "client left hanging after the exit")
        self.assertTrue(job.resp is None or job.resp.status != 200,
                        "a 5 s request cannot have finished in %.2fs" % took)


if __name__ == "__main__":
    unittest.main()
