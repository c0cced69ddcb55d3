"""The switchboard lab: a backend that works on one request at a time, lets
two wait, and turns the rest away at once. Health checks skip the line."""

import http.client
import socket
import struct
import threading
import time
import unittest

from harness import HOST, ClusterTestCase, Response, seed_db, wait_until

CAPACITY, QUEUE, WORK_MS = 1, 2, 200
WORK = WORK_MS / 1000.0


class Shot(threading.Thread):
    """One request on a connection opened beforehand; starts on a barrier."""

    def __init__(self, port, path, barrier, sid=None):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection(HOST, port, timeout=5)
        self.conn.connect()
        self.path, self.barrier, self.sid = path, barrier, sid
        self.sent = threading.Event()
        self.resp = None
        self.error = None
        self.t_sent = self.t_done = None

    def run(self):
        try:
            self.barrier.wait(5)
            hdrs = {"Cookie": "sid=" + self.sid} if self.sid else {}
            self.t_sent = time.monotonic()
            self.conn.request("GET", self.path, headers=hdrs)
            self.sent.set()
            r = self.conn.getresponse()
            body = r.read()
            self.t_done = time.monotonic()
            self.resp = Response(r.status, r.reason, r.getheaders(), body,
                                 self.t_done - self.t_sent)
        except Exception as exc:  # noqa: BLE001 - checked by the test
            self.error = exc
            self.sent.set()
        finally:
            self.conn.close()


class OverloadTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()
        cls.be = cls.class_backend(
            cls.db, name="backend-busy", redis=cls.redis.addr,
            extra=["--capacity", CAPACITY, "--queue", QUEUE, "--work-ms", WORK_MS])

    def burst(self, n, path="/posts/1", sid=None, parties_extra=0):
        barrier = threading.Barrier(n + parties_extra)
        shots = [Shot(self.be.port, path, barrier, sid) for _ in range(n)]
        for s in shots:
            s.start()
        return shots, barrier

    def finish(self, shots):
        for s in shots:
            s.join(10)
        self.assertFalse(any(s.is_alive() for s in shots), "a request hung")
        self.assertEqual([s.error for s in shots], [None] * len(shots))
        return [s.resp for s in shots]

    def test_four_at_once_three_served_one_rejected_at_once(self):
        shots, _ = self.burst(4)
        resps = self.finish(shots)
        ok = sorted(r.elapsed for r in resps if r.status == 200)
        rejected = [r for r in resps if r.status == 503]
        self.assertEqual(sorted(r.status for r in resps), [200, 200, 200, 503],
                         "capacity 1 + queue 2: three served, one rejected: %r" % resps)
        rej = rejected[0]
        self.assertJsonError(rej, 503)
        self.assertRetryAfter(rej)
        self.assertServedBy(rej, self.be)
        self.assertLess(rej.elapsed, 0.15,
                        "rejection must be at once, took %.3fs" % rej.elapsed)
        # one at a time, WORK each: about 0.2, 0.4, 0.6 s
        for k, took in enumerate(ok, start=1):
            self.assertGreaterEqual(took, k * WORK - 0.03,
                                    "request %d of the line took %.3fs" % (k, took))
        self.assertLess(ok[-1], 3 * WORK + 0.5, "the last in line took %.3fs" % ok[-1])

    def test_health_answers_fast_while_the_queue_is_full(self):
        shots, barrier = self.burst(3, parties_extra=1)
        barrier.wait(5)
        for s in shots:
            self.assertTrue(s.sent.wait(5), "request not sent")
        probes = []
        for path in ("/healthz", "/readyz", "/healthz"):
            r = self.be.get(path, timeout=2)
            probes.append((path, r, time.monotonic()))
            self.assertStatus(r, 200, path + " while the queue is full")
            self.assertLess(r.elapsed, 0.1, "%s waited %.3fs behind the queue"
                            % (path, r.elapsed))
        extra = self.be.get("/posts/1", timeout=2)
        t_extra = time.monotonic()
        resps = self.finish(shots)

        self.assertEqual([r.status for r in resps], [200, 200, 200])
        last_done = max(s.t_done for s in shots)
        self.assertLess(t_extra, last_done,
                        "the probes must run while the line is still busy")
        self.assertJsonError(extra, 503, "a fourth request while 1 works and 2 wait")
        self.assertRetryAfter(extra)
        self.assertLess(extra.elapsed, 0.15)

    def test_clients_that_hang_up_do_not_leak_slots(self):
        # fill the working slot and the queue, then hang up on all of them
        socks = []
        for _ in range(CAPACITY + QUEUE):
            s = socket.create_connection((HOST, self.be.port), timeout=2)
            s.sendall(b"GET /posts/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        self.assertStatus(self.be.get("/healthz"), 200)  # the loop has read them
        for i, s in enumerate(socks):
            if i % 2 == 0:  # reset, not FIN: the answer then hits EPIPE
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()
        # the slots come back (at worst after the abandoned work is done)
        r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
            self.be.get("/posts/1")), (CAPACITY + QUEUE) * WORK + 2.0,
            interval=0.05, what="a slot after the clients hung up")
        self.assertEqual(r.json()["id"], 1)
        self.assertHealthy(self.be)

    def test_no_work_is_spent_on_clients_that_left_the_queue(self):
        # One request works; the queue fills with two whose clients then
        # hang up. The server must skip their work: a new request is served
        # after the working one, not after two more rounds of wasted work.
        _, before = self.be.readyz()
        busy = socket.create_connection((HOST, self.be.port), timeout=5)
        busy.sendall(b"GET /posts/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        quitters = []
        for _ in range(QUEUE):
            s = socket.create_connection((HOST, self.be.port), timeout=2)
            s.sendall(b"GET /posts/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            quitters.append(s)
        wait_until(lambda: self.be.readyz()[1]["queue"]["waiting"] == QUEUE,
                   2.0, what="the queue to fill")
        for s in quitters:
            s.close()
        # The slot frees after the busy request; the quitters are skipped.
        r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
            self.be.get("/posts/1")), 3.0, interval=0.02,
            what="a new request served")
        elapsed = time.monotonic() - t0
        busy.close()
        self.assertLess(elapsed, 2 * WORK + 0.35,
                        "%.2fs: the work of clients that left was done anyway"
                        % elapsed)
        _, after = self.be.readyz()
        self.assertEqual(after["queue"]["abandoned"] - before["queue"]["abandoned"],
                         QUEUE)

    def test_everything_works_after_the_burst(self):
        shots, _ = self.burst(6)
        statuses = sorted(r.status for r in self.finish(shots))
        self.assertEqual(statuses, [200] * 3 + [503] * 3, statuses)
        # the line is empty again: one request at a time is served
        for _ in range(3):
            r = self.be.get("/posts/1")
            self.assertStatus(r, 200, "after the burst")
            self.assertGreaterEqual(r.elapsed, WORK - 0.03)
            self.assertLess(r.elapsed, WORK + 0.3)
        sid = self.be.login("alice")
        r = self.be.get("/feed?limit=3", sid=sid)
        self.assertStatus(r, 200, "/feed after the burst")
        self.assertEqual(len(r.json()["posts"]), 3)
        status, body = self.be.readyz()
        self.assertEqual((status, body["ready"]), (200, True))


if __name__ == "__main__":
    unittest.main()
