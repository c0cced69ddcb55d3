"""A person puts sb-lb in front of 3 real sb-backends and watches who answers.

round-robin: strict 1,2,3,1,2,3 across the whole process (2 worker threads),
on one keep-alive connection, on new connections, and on two connections
that are served by different workers. least-conn: requests go to the least
busy backend. sticky: a cookie keeps a client on its backend, and it falls
back to another when that one is killed. ip-hash: one client address, one
backend.
"""

import threading
import unittest

from harness import seed_db, wait_until
from lbharness import LbTestCase, RawClient

N_REQUESTS = 12


class RotationTest(LbTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.backends = [cls.class_backend(cls.db, name="b%d" % (i + 1),
                                          sessions="memory") for i in range(3)]
        cls.ids = [b.id for b in cls.backends]

    def expected(self, n, start=0):
        return [self.ids[(start + i) % 3] for i in range(n)]

    def start_rr_lb(self, **kw):
        kw.setdefault("workers", 2)
        return self.start_lb(self.backends, **kw)

    def test_round_robin_on_one_keepalive_connection_is_strict(self):
        lb = self.start_rr_lb()
        served = []
        with RawClient(lb.port) as c:
            local = c.sock.getsockname()
            for _ in range(N_REQUESTS):
                r = c.get("/users/alice")
                self.assertStatus(r, 200, "GET /users/alice through the LB")
                self.assertNotEqual((r.header("Connection") or "").lower(), "close",
                                    "the LB closed a keep-alive connection")
                served.append(r.header("X-Served-By"))
            self.assertEqual(c.sock.getsockname(), local)
            self.assertFalse(c.eof, "connection closed during the run")
        self.assertEqual(served, self.expected(N_REQUESTS),
                         "rotation on one keep-alive connection")

    def test_round_robin_on_new_connections_is_strict(self):
        lb = self.start_rr_lb()
        served = []
        for _ in range(N_REQUESTS):
            r = lb.get("/healthz")
            self.assertStatus(r, 200, "GET /healthz through the LB")
            served.append(r.header("X-Served-By"))
        self.assertEqual(served, self.expected(N_REQUESTS),
                         "rotation on new connections")

    def test_round_robin_is_strict_across_worker_threads(self):
        # Connections accepted by different workers (SO_REUSEPORT spreads
        # them) take turns; the rotation must stay strict. The count
        # backends echo the X-Request-Id the LB made (PREFIX-WORKER-N), which
        # tells which worker served a connection.
        counts = [self.start_misbehave("count", name="c%d" % (i + 1))
                  for i in range(3)]
        ids = [m.id for m in counts]
        lb = self.start_lb(counts, workers=2)
        by_worker = {}
        opened = []
        probes = []
        try:
            for _ in range(40):
                c = RawClient(lb.port)
                opened.append(c)
                r = c.get("/which-worker")
                self.assertStatus(r, 200)
                probes.append(r.header("X-Served-By"))
                rid = dict((k.lower(), v) for k, v in r.json()["headers"])["x-request-id"]
                by_worker.setdefault(rid.split("-")[1], []).append(c)
                if len(by_worker) >= 2 and all(len(v) >= 2 for v in by_worker.values()):
                    break
            self.assertGreaterEqual(len(by_worker), 2,
                                    "40 connections all landed on one worker")
            self.assertEqual(probes, [ids[i % 3] for i in range(len(probes))],
                             "rotation over new connections on both workers")
            # Rotation continues from where the probes left it.
            start = len(probes)
            order = []
            w0, w1 = list(by_worker.values())[:2]
            for i in range(N_REQUESTS):
                conn = (w0 if i % 2 == 0 else w1)[(i // 2) % 2]
                order.append(conn.get("/turn").header("X-Served-By"))
        finally:
            for c in opened:
                c.close()
        self.assertEqual(order, [ids[(start + i) % 3] for i in range(N_REQUESTS)],
                         "rotation over connections on two workers")

    def test_least_conn_sends_to_the_least_busy_backend(self):
        lb = self.start_lb(self.backends, policy="least-conn", workers=2)
        # Sequential requests: every backend idle, ties shared out.
        served = [lb.get("/healthz").header("X-Served-By") for _ in range(9)]
        for bid in self.ids:
            self.assertEqual(served.count(bid), 3,
                             "least-conn with equal loads should spread: %r" % served)

    def test_least_conn_avoids_a_busy_backend(self):
        slow = self.start_misbehave("slow", name="busy", delay_ms=2000)
        fast = [self.start_misbehave("ok", name="free%d" % i) for i in range(2)]
        lb = self.start_lb([slow] + fast, policy="least-conn", workers=2)
        results = []
        holders = []

        def hold():
            try:
                results.append(lb.get("/hold", timeout=10.0))
            except Exception as exc:  # noqa: BLE001 - reported below
                results.append(exc)

        # Send requests one by one until one is held by the slow backend
        # (ties are shared out in turn, so it is one of the first three).
        for i in range(3):
            t = threading.Thread(target=hold, daemon=True)
            t.start()
            holders.append(t)
            wait_until(lambda: slow.requests() or len(results) > i, 3.0,
                       what="request %d answered or held" % i)
            if slow.requests():
                break
        self.assertEqual(len(slow.requests()), 1, "no request reached 'busy'")
        self.assertEqual(lb.backend_stats(slow)["active"], 1)
        served = []
        for _ in range(8):
            r = lb.get("/quick", timeout=5.0)
            self.assertStatus(r, 200)
            served.append(r.header("X-Served-By"))
        self.assertNotIn("busy", served,
                         "least-conn sent work to the backend that is busy")
        self.assertEqual(sorted(set(served)), ["free0", "free1"], served)
        for t in holders:
            t.join(10.0)
        self.assertEqual(len(results), len(holders))
        for r in results:
            self.assertNotIsInstance(r, Exception)
            self.assertStatus(r, 200, "held request")

    def test_sticky_cookie_keeps_a_client_on_its_backend(self):
        lb = self.start_lb(self.backends, policy="sticky", workers=2)
        first = lb.get("/healthz")
        self.assertStatus(first, 200)
        cookie = first.cookie("sb_srv")
        self.assertIsNotNone(cookie, "no sb_srv cookie: %r" % (first.headers,))
        value, attrs = cookie
        self.assertEqual(attrs.get("path"), "/")
        home = first.header("X-Served-By")
        others = []
        for i in range(9):
            r = lb.get("/healthz", headers={"Cookie": "sb_srv=%s" % value})
            self.assertStatus(r, 200)
            self.assertEqual(r.header("X-Served-By"), home,
                             "request %d with the cookie left its backend" % i)
            self.assertIsNone(r.cookie("sb_srv"),
                              "cookie set again though it was still good")
            # A cookieless client in between still gets the rotation.
            o = lb.get("/healthz")
            others.append(o.header("X-Served-By"))
            self.assertIsNotNone(o.cookie("sb_srv"))
        self.assertEqual(len(set(others)), 3,
                         "cookieless clients should rotate: %r" % others)

    def test_sticky_falls_back_when_its_backend_is_killed(self):
        mine = [self.start_backend(self.db, name="s%d" % (i + 1), sessions="memory")
                for i in range(3)]
        lb = self.start_lb(mine, policy="sticky", workers=2, fall=2, rise=2)
        first = lb.get("/healthz")
        value = first.cookie("sb_srv")[0]
        home = next(b for b in mine if b.id == first.header("X-Served-By"))
        for _ in range(3):
            self.assertEqual(lb.get("/healthz", headers={
                "Cookie": "sb_srv=%s" % value}).header("X-Served-By"), home.id)
        home.kill()
        r = lb.get("/healthz", headers={"Cookie": "sb_srv=%s" % value})
        self.assertStatus(r, 200, "sticky client after its backend died")
        new_home = r.header("X-Served-By")
        self.assertNotEqual(new_home, home.id)
        new_cookie = r.cookie("sb_srv")
        self.assertIsNotNone(new_cookie, "no new cookie after the fallback")
        self.assertNotEqual(new_cookie[0], value)
        for _ in range(4):
            r2 = lb.get("/healthz", headers={"Cookie": "sb_srv=%s" % new_cookie[0]})
            self.assertStatus(r2, 200)
            self.assertEqual(r2.header("X-Served-By"), new_home,
                             "the new cookie should stick too")
        # The old cookie also keeps working (fallback, not an error).
        r3 = lb.get("/healthz", headers={"Cookie": "sb_srv=%s" % value})
        self.assertStatus(r3, 200)
        self.assertNotEqual(r3.header("X-Served-By"), home.id)

    def test_ip_hash_keeps_one_client_on_one_backend(self):
        lb = self.start_lb(self.backends, policy="ip-hash", workers=2)
        # Client addresses 127.0.0.2..: connect to 127.0.0.1 from other
        # loopback sources (Linux routes all of 127/8 to lo).
        homes = {}
        for k in range(2, 18):
            src = "127.0.0.%d" % k
            seen = set()
            for _ in range(4):
                try:
                    c = RawClient(lb.port, source=src)
                except OSError as exc:
                    self.skipTest("cannot connect from %s: %s" % (src, exc))
                with c:
                    r = c.get("/healthz")
                self.assertStatus(r, 200)
                seen.add(r.header("X-Served-By"))
            self.assertEqual(len(seen), 1, "client %s moved between %r" % (src, seen))
            homes[src] = seen.pop()
        # And 127.0.0.1 itself, on one keep-alive connection and on new ones.
        local = {lb.get("/healthz").header("X-Served-By") for _ in range(6)}
        self.assertEqual(len(local), 1, "127.0.0.1 moved between %r" % local)
        self.assertGreater(len(set(homes.values())), 1,
                           "16 client addresses all hashed to one backend: %r" % homes)


if __name__ == "__main__":
    unittest.main()
