"""A person meets a hung backend, a dead cluster and a slowloris client.

hung backend + --timeout-server 500 -> 504 in about half a second, and the
request is not sent to a second backend (timeouts are never retried); every
backend down -> 503 with Retry-After at once; a client that sends half a
request head (or half a body) and stops -> 408 or a close within
--timeout-client; an idle keep-alive connection is closed after it.
"""

import threading
import time
import unittest
import uuid

from lbharness import LbTestCase, RawClient, closed_port


class TimeoutsTest(LbTestCase):

    def test_hung_backend_gives_504_within_the_server_timeout(self):
        hung = [self.start_misbehave("hang", name="hang%d" % i) for i in range(2)]
        lb = self.start_lb(hung, no_health=True, timeout_server=500, workers=1)
        for method in ("GET", "POST"):
            path = "/hung-%s-%s" % (method, uuid.uuid4().hex[:8])
            t0 = time.monotonic()
            r = lb.request(method, path, body=b"{}" if method == "POST" else None,
                           timeout=5.0)
            took = time.monotonic() - t0
            self.assertLbError(r, 504, "%s to a hung backend" % method)
            self.assertGreaterEqual(took, 0.45, "504 before the server timeout")
            self.assertLessEqual(took, 1.5, "504 came %.2fs after the request" % took)
            seen = [len(h.requests_matching(path=path)) for h in hung]
            self.assertEqual(sorted(seen), [0, 1],
                             "a timed-out %s was sent to another backend: %r"
                             % (method, seen))
            e = lb.wait_access(lambda e, p=path: e["path"] == p)
            self.assertEqual((e["status"], e["attempts"]), ("504", "1"))

    def test_all_backends_down_gives_503_at_once(self):
        lb = self.start_lb([closed_port() for _ in range(3)], health_interval=100,
                           fall=2, workers=2)
        for addr in lb.backend_addrs:
            lb.wait_health(addr, "down", timeout=3.0)
        for i in range(5):
            t0 = time.monotonic()
            r = lb.get("/anything-%d" % i, timeout=3.0)
            took = time.monotonic() - t0
            self.assertLbError(r, 503, "every backend down")
            self.assertLess(took, 0.2, "503 took %.3fs" % took)
        # POST too, and on one keep-alive connection (the 503 does not
        # close it).
        with RawClient(lb.port) as c:
            for _ in range(3):
                c.send(b"POST /x HTTP/1.1\r\nHost: lb\r\nContent-Length: 2\r\n\r\n{}")
                r = c.read_response(timeout=3.0)
                self.assertLbError(r, 503, "POST with every backend down")

    def test_slowloris_half_a_head_gets_408_or_close_in_time(self):
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([count], timeout_client=500, workers=1)
        with RawClient(lb.port) as c:
            t0 = time.monotonic()
            c.send(b"GET /slowloris HTTP/1.1\r\nHost: lb\r\nX-Slow: ")
            closed = c.wait_closed(timeout=3.0)
            took = time.monotonic() - t0
        self.assertTrue(closed, "the LB kept a half-sent head for 3 s")
        self.assertGreaterEqual(took, 0.4, "closed before --timeout-client")
        self.assertLessEqual(took, 1.5, "closed %.2fs after the half head" % took)
        if c.buf:
            self.assertRegex(c.buf, rb"^HTTP/1\.1 408 ", "answer to a slow head")
        self.assertEqual(count.requests_matching(path="/slowloris"), [])

    def test_slow_body_gets_408_or_close_in_time(self):
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([count], timeout_client=500, workers=1)
        with RawClient(lb.port) as c:
            t0 = time.monotonic()
            c.send(b"POST /slowbody HTTP/1.1\r\nHost: lb\r\nContent-Length: 10\r\n\r\n12345")
            closed = c.wait_closed(timeout=3.0)
            took = time.monotonic() - t0
        self.assertTrue(closed, "the LB waited 3 s for the rest of a body")
        self.assertGreaterEqual(took, 0.4)
        self.assertLessEqual(took, 1.5, "closed %.2fs after the half body" % took)
        if c.buf:
            self.assertRegex(c.buf, rb"^HTTP/1\.1 408 ")
        self.assertEqual(count.requests_matching(path="/slowbody"), [])

    def test_idle_keepalive_connection_is_closed_after_client_timeout(self):
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([count], timeout_client=500, workers=1)
        with RawClient(lb.port) as c:
            r = c.get("/once")
            self.assertStatus(r, 200)
            t0 = time.monotonic()
            closed = c.wait_closed(timeout=3.0)
            took = time.monotonic() - t0
            self.assertTrue(closed, "idle keep-alive connection kept for 3 s")
            self.assertEqual(c.buf, b"", "an idle close needs no answer")
        self.assertGreaterEqual(took, 0.4)
        self.assertLessEqual(took, 1.5)

    def test_slowloris_trickling_header_lines_is_cut_in_time(self):
        # The classic slowloris: a new header line every 100 ms, forever.
        # --timeout-client bounds the whole head, so the trickle does not
        # keep the connection open past it.
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([count], timeout_client=500, workers=1)
        stop = threading.Event()
        c = RawClient(lb.port)

        def trickle():
            n = 0
            try:
                c.send(b"GET /trickle HTTP/1.1\r\nHost: lb\r\n")
                while not stop.wait(0.1):   # pacing the attacker, not a wait
                    n += 1
                    c.send(b"X-Trickle-%d: %d\r\n" % (n, n))
            except OSError:
                pass

        sender = threading.Thread(target=trickle, daemon=True)
        t0 = time.monotonic()
        sender.start()
        try:
            closed = c.wait_closed(timeout=3.0)
            took = time.monotonic() - t0
        finally:
            stop.set()
            sender.join(2.0)
            c.close()
        self.assertTrue(closed, "a trickling head kept the connection for 3 s")
        self.assertGreaterEqual(took, 0.4)
        self.assertLessEqual(took, 1.5, "closed %.2fs after the first byte" % took)
        if c.buf:
            self.assertRegex(c.buf, rb"^HTTP/1\.1 408 ")
        self.assertEqual(count.requests_matching(path="/trickle"), [])

if __name__ == "__main__":
    unittest.main()
