"""A person kills -9 one of 3 backends while people read their feeds.

Real redis-server (sessions), 3 real sb-backends, a real sb-lb with fast
health checks. Logged-in clients send GET /feed from a few threads; one
backend is killed mid-run: no request may fail and nobody may be logged
out. The dead backend shows "down" in /stats; restarted at the same
address, it is back in the rotation within about rise x interval.
"""

import http.client
import sys
import threading
import time
import unittest

from harness import HOST, login, seed_db, wait_until
from lbharness import LbTestCase, SbBackend

USERS = ("alice", "bob", "carol")
THREADS = 3
LOAD_SECONDS = 3.0
KILL_AFTER = 1.0
HEALTH_INTERVAL_MS = 200
RISE = 2
FALL = 2


class FeedLoad:
    """THREADS clients, each on its own keep-alive connection to the LB,
    sending GET /feed with a session cookie until stopped. Every answer is
    checked: 200, JSON with posts, and an X-Served-By."""

    def __init__(self, port, sids):
        self.port = port
        self.sids = sids
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = []          # (monotonic time, served_by)
        self.failures = []    # (monotonic time, user, what)
        self.threads = [threading.Thread(target=self.run, args=(u,), daemon=True)
                        for u in sids]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self, timeout):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def run(self, user):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=5.0)
        headers = {"Cookie": "sid=%s" % self.sids[user]}
        while not self.stop.is_set():
            what = None
            served = None
            try:
                conn.request("GET", "/feed?limit=5", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                served = resp.getheader("X-Served-By")
                if resp.status != 200:
                    what = "status %d %r (served by %s)" % (resp.status, body[:200], served)
                elif b'"posts"' not in body:
                    what = "200 without posts: %r" % body[:200]
                elif not served or served == "sb-lb":
                    what = "X-Served-By %r" % served
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except Exception as exc:  # noqa: BLE001 - a failed request
                what = "exception %r" % (exc,)
                conn.close()
            with self.lock:
                if what is None:
                    self.ok.append((time.monotonic(), served))
                else:
                    self.failures.append((time.monotonic(), user, what))
        conn.close()


class FailoverTest(LbTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()

    def test_kill_9_one_backend_under_load_loses_nothing(self):
        backends = [self.start_sb_backend(self.db, name="b%d" % (i + 1),
                                          redis=self.redis.addr)
                    for i in range(3)]
        lb = self.start_lb(backends, health_interval=HEALTH_INTERVAL_MS,
                           rise=RISE, fall=FALL, workers=2)
        sids = {u: login(lb.port, u) for u in USERS}
        victim = backends[1]

        load = FeedLoad(lb.port, sids)
        t0 = time.monotonic()
        load.start()
        try:
            # Steady state first: every backend serving.
            wait_until(lambda: {s for _, s in load.ok} >= {"b1", "b2", "b3"}, 3.0,
                       what="all three backends serving the load")
            wait_until(lambda: time.monotonic() - t0 >= KILL_AFTER, 3.0,
                       what="the steady phase to pass")
            victim.kill()
            killed_at = time.monotonic()
            # The LB notices (passively, or by checks) and says so.
            lb.wait_health(victim, "down", timeout=FALL * HEALTH_INTERVAL_MS / 1000 + 2.0)
            wait_until(lambda: time.monotonic() - t0 >= LOAD_SECONDS, LOAD_SECONDS + 1,
                       what="the load phase to pass")
        finally:
            self.assertTrue(load.join(10.0), "load threads did not stop")

        self.assertEqual(load.failures, [],
                         "requests failed during the kill -9 (%d ok)" % len(load.ok))
        before = [s for t, s in load.ok if t < killed_at]
        after = [s for t, s in load.ok if t > killed_at + 0.2]
        self.assertIn("b2", before)
        self.assertGreater(len(after), 20, "too little load after the kill")
        self.assertNotIn("b2", after, "a dead backend cannot have answered")
        self.assertEqual(set(after), {"b1", "b3"})
        self.assertEqual(lb.health(victim), "down")

        # Nobody was logged out: every session still works, on any backend.
        for u, sid in sids.items():
            for _ in range(2):
                r = lb.get("/me", sid=sid)
                self.assertStatus(r, 200, "/me of %s after the kill" % u)
                self.assertEqual(r.json().get("username"), u)

        # Restart at the same address: back in rotation within about
        # rise x interval (plus one interval of phase, plus a margin).
        restarted = SbBackend(self.tmp, self.db, port=victim.port, name="b2",
                              redis=self.redis.addr)
        self._test_procs.append(restarted)
        ready_at = time.monotonic()     # it answers /healthz from here on

        def serving():
            r = lb.get("/healthz", timeout=2.0)
            if r.status != 200:
                raise AssertionError("GET /healthz through the LB: %d" % r.status)
            return r.header("X-Served-By") == "b2"
        wait_until(serving, 5.0, interval=0.01, what="b2 serving again")
        back_after = time.monotonic() - ready_at
        limit = (RISE + 1) * HEALTH_INTERVAL_MS / 1000.0 + 0.4
        self.assertLess(back_after, limit,
                        "b2 came back after %.2fs (rise %d x %d ms)"
                        % (back_after, RISE, HEALTH_INTERVAL_MS))
        self.assertEqual(lb.health(victim), "up")
        sys_note = "b2 back in rotation %.2fs after it was ready" % back_after
        sys.stderr.write("\n%s (limit %.2fs); %d requests ok during the kill\n"
                         % (sys_note, limit, len(load.ok)))
        # And in strict rotation again: three in a row hit three backends.
        served = [lb.get("/healthz").header("X-Served-By") for _ in range(6)]
        self.assertEqual(sorted(served), ["b1", "b1", "b2", "b2", "b3", "b3"],
                         "%s, but rotation is %r" % (sys_note, served))


if __name__ == "__main__":
    unittest.main()
