"""A burst meets a backend that can take only so much: --maxconn, --queue,
--queue-timeout.

With --maxconn 1 a backend takes one request at a time; up to --queue more
wait in line (served in order as the slot frees); beyond that the LB answers
503 with Retry-After at once, and a request that waited --queue-timeout ms
gets 503 then. The depth of the line is "queued" in /stats while it waits,
and 0 again after the burst.

The backend is misbehave.py in slow mode (every answer after --delay-ms), so
a slot stays taken for a known time. One worker, so there is one line and
its order is the arrival order; health checks off, so nothing but the test's
requests reaches the backend. Requests go in one at a time, each after
/stats shows the previous one in place, so "which one was queued" does not
depend on thread scheduling.
"""

import threading
import time
import unittest
import uuid

from harness import request, wait_until
from lbharness import LbTestCase

SLOW_MS = 400


class InFlight:
    """One request running in its own thread; .wait() returns the Response
    (or raises what the request raised)."""

    def __init__(self, port, method, path, timeout=10.0):
        self.path = path
        self.resp = None
        self.exc = None
        self.t0 = time.monotonic()
        self.t_done = None

        def run():
            try:
                self.resp = request(port, method, path, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - reported by wait()
                self.exc = exc
            self.t_done = time.monotonic()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait(self, timeout=10.0):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("%s: no answer after %.0fs" % (self.path, timeout))
        if self.exc is not None:
            raise AssertionError("%s: %r" % (self.path, self.exc))
        return self.resp

    @property
    def took(self):
        return self.t_done - self.t0


class QueueTest(LbTestCase):

    def tag(self):
        return uuid.uuid4().hex[:10]

    def active(self, lb, backend):
        return lb.backend_stats(backend)["active"]

    def wait_queued(self, lb, n, timeout=3.0):
        return wait_until(lambda: lb.stats()["queued"] == n, timeout,
                          interval=0.01, what='/stats "queued" == %d' % n)

    def wait_active(self, lb, backend, n, timeout=3.0):
        return wait_until(lambda: self.active(lb, backend) == n, timeout,
                          interval=0.01,
                          what="/stats active == %d for %s" % (n, backend.addr))

    def metric(self, lb, name):
        r = request(lb.admin_port, "GET", "/metrics", timeout=2.0)
        self.assertStatus(r, 200, "/metrics")
        for line in r.body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail("no %s in /metrics:\n%s" % (name, r.body.decode()))

    def assertAllClear(self, lb, backend):
        """After a burst: the line is empty, the slot is free, and the LB
        serves again as if nothing happened."""
        self.wait_queued(lb, 0)
        self.wait_active(lb, backend, 0)
        for i in range(2):
            r = lb.get("/after-%d-%s" % (i, self.tag()), timeout=5.0)
            self.assertStatus(r, 200, "a request after the burst")
            self.assertServedBy(r, backend)
        self.assertEqual(lb.stats()["queued"], 0, '"queued" after the burst')

    def test_burst_beyond_maxconn_and_queue(self):
        slow = self.start_misbehave("slow", name="slow", delay_ms=SLOW_MS)
        lb = self.start_lb([slow], no_health=True, workers=1, maxconn=1, queue=2)
        tag = self.tag()
        paths = ["/burst-%d-%s" % (i, tag) for i in range(1, 5)]

        first = InFlight(lb.port, "GET", paths[0])
        self.wait_active(lb, slow, 1)
        self.assertEqual(lb.stats()["queued"], 0, "the first request is not queued")
        second = InFlight(lb.port, "GET", paths[1])
        self.wait_queued(lb, 1)
        third = InFlight(lb.port, "GET", paths[2])
        self.wait_queued(lb, 2)
        # The line is full and visible, on /metrics too.
        self.assertEqual(self.metric(lb, "sb_lb_queued"), 2)
        self.assertEqual(self.active(lb, slow), 1, "maxconn 1: one at the backend")
        self.assertIsNone(first.resp, "the slot must still be taken (the backend "
                          "answers after %d ms)" % SLOW_MS)

        # The fourth: no slot, no room in the line -> 503 at once.
        t0 = time.monotonic()
        r4 = lb.get(paths[3], timeout=5.0)
        took4 = time.monotonic() - t0
        self.assertLbError(r4, 503, "a request beyond maxconn + queue")
        self.assertLess(took4, 0.1, "queue full: 503 took %.3fs" % took4)
        self.assertIn("queue", r4.json()["error"], "the error says why: %r" % r4.body)
        self.assertEqual(slow.requests_matching(path=paths[3]), [],
                         "a refused request reached the backend")
        # The refused one did not take a place in the line.
        self.assertEqual(lb.stats()["queued"], 2)

        results = [f.wait() for f in (first, second, third)]
        for f, r in zip((first, second, third), results):
            self.assertStatus(r, 200, f.path)
            self.assertServedBy(r, slow)
            self.assertEqual(r.json()["path"], f.path)
        # Served in order, one at a time: the backend saw them in arrival
        # order, each after the one before had been answered.
        seen = [e["path"] for e in slow.requests() if e["path"] in paths]
        self.assertEqual(seen, paths[:3], "order the backend served them in")
        self.assertLess(first.t_done, second.t_done)
        self.assertLess(second.t_done, third.t_done)
        delay = SLOW_MS / 1000.0
        self.assertGreaterEqual(second.took, 1.8 * delay - 0.15,
                                "the second waited for the first (took %.3fs)"
                                % second.took)
        self.assertGreaterEqual(third.took, 2.7 * delay - 0.15,
                                "the third waited for two (took %.3fs)" % third.took)
        self.assertLess(third.took, 3 * delay + 1.5,
                        "the third was served late: %.3fs" % third.took)
        statuses = {e["path"]: e["status"] for e in lb.access_log()}
        for p in paths[:3]:
            e = lb.wait_access(lambda e, p=p: e["path"] == p)
            self.assertEqual(e["status"], "200", "access log of %s" % p)
        self.assertEqual(lb.wait_access(lambda e: e["path"] == paths[3])["status"],
                         "503", "access log of the refused one (%r)" % statuses)
        self.assertAllClear(lb, slow)

    def test_queue_timeout(self):
        slow = self.start_misbehave("slow", name="slow1s", delay_ms=1000)
        lb = self.start_lb([slow], no_health=True, workers=1, maxconn=1, queue=2,
                           queue_timeout=200)
        tag = self.tag()
        first = InFlight(lb.port, "GET", "/holder-%s" % tag)
        self.wait_active(lb, slow, 1)
        waiter_path = "/waiter-%s" % tag
        t0 = time.monotonic()
        r = lb.get(waiter_path, timeout=5.0)
        took = time.monotonic() - t0
        self.assertLbError(r, 503, "a request that waited past --queue-timeout")
        self.assertIn("timeout", r.json()["error"], "the error says why: %r" % r.body)
        self.assertGreaterEqual(took, 0.18, "503 before the queue timeout (%.3fs)" % took)
        self.assertLess(took, 0.6, "503 %.3fs after the request, queue timeout "
                        "200 ms" % took)
        self.assertEqual(slow.requests_matching(path=waiter_path), [],
                         "a request that timed out in the queue reached the backend")
        self.assertEqual(lb.stats()["queued"], 0, "the timed-out one left the line")
        # The one holding the slot is unaffected.
        r1 = first.wait()
        self.assertStatus(r1, 200, "the request holding the slot")
        self.assertGreaterEqual(first.took, 0.9)
        self.assertAllClear(lb, slow)

    def test_queue_0_refuses_at_once_beyond_maxconn(self):
        slow = self.start_misbehave("slow", name="slow0", delay_ms=SLOW_MS)
        lb = self.start_lb([slow], no_health=True, workers=1, maxconn=1, queue=0)
        first = InFlight(lb.port, "GET", "/holder-%s" % self.tag())
        self.wait_active(lb, slow, 1)
        for i in range(3):
            t0 = time.monotonic()
            r = lb.get("/no-room-%d" % i, timeout=5.0)
            took = time.monotonic() - t0
            self.assertLbError(r, 503, "--queue 0, the slot taken")
            self.assertLess(took, 0.1, "503 took %.3fs" % took)
        self.assertIsNone(first.resp, "checked while the slot was still taken")
        self.assertStatus(first.wait(), 200, "the request holding the slot")
        self.assertAllClear(lb, slow)


if __name__ == "__main__":
    unittest.main()
