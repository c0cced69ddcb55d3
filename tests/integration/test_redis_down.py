"""Redis dies under two backends: logins fail fast with a clear 503, public
reads go on, readiness stays up; Redis comes back and logins work again."""

import os
import signal
import time
import unittest

from harness import ClusterTestCase, RedisServer, Timeout, seed_db, wait_until


class RedisDownTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()
        cls.a = cls.class_backend(cls.db, name="backend-a", redis=cls.redis.addr)
        cls.b = cls.class_backend(cls.db, name="backend-b", redis=cls.redis.addr)

    def login_timed(self, be):
        t0 = time.monotonic()
        r = be.post("/login", {"username": "bob", "password": "switchboard"},
                    timeout=5.0)
        return r, time.monotonic() - t0

    def test_redis_dies_and_comes_back(self):
        alice = self.a.login("alice")
        liked = self.a.post("/posts/1/like", sid=alice)
        self.assertStatus(liked, 200, "like before the outage")

        # --- Redis dies (SIGKILL: no goodbye to its clients) ---
        os.kill(self.redis.pid, signal.SIGKILL)
        self.redis.wait(5)
        self.redis.kill()  # reap and forget

        for be in (self.a, self.b):
            with self.subTest(backend=be.name, step="login while redis is down"):
                r, took = self.login_timed(be)
                self.assertJsonError(r, 503, "login with redis down")
                self.assertRetryAfter(r)
                self.assertServedBy(r, be)
                self.assertLess(took, 1.0, "login must fail at once, took %.3fs" % took)
                self.assertIsNone(r.cookie("sid"))

        for be in (self.a, self.b):
            with self.subTest(backend=be.name, step="readyz while redis is down"):
                be.wait_sessions("down", timeout=3.0)
                status, body = be.readyz()
                self.assertEqual(status, 200, "a dead Redis does not make a backend unready")
                self.assertIs(body["ready"], True)
                self.assertEqual(body["store"], "redis")
                self.assertEqual(body["sessions"], "down")

            with self.subTest(backend=be.name, step="session calls while redis is down"):
                for method, path in (("GET", "/me"), ("GET", "/feed"),
                                     ("POST", "/posts/1/like")):
                    t0 = time.monotonic()
                    r = be.post(path, sid=alice) if method == "POST" \
                        else be.get(path, sid=alice)
                    took = time.monotonic() - t0
                    self.assertJsonError(r, 503, "%s %s with a cookie, redis down"
                                         % (method, path))
                    self.assertRetryAfter(r)
                    self.assertLess(took, 1.0, "%s took %.3fs" % (path, took))
                # no cookie at all: still plainly not logged in
                self.assertJsonError(be.get("/me"), 401, "/me without a cookie")

            with self.subTest(backend=be.name, step="public reads while redis is down"):
                r = be.get("/users/alice")
                self.assertStatus(r, 200, "/users/alice needs no Redis")
                self.assertEqual(r.json()["username"], "alice")
                for sid in (None, alice):
                    r = be.get("/posts/1", sid=sid)
                    self.assertStatus(r, 200, "/posts/1 needs no Redis (sid=%r)" % sid)
                    post = r.json()
                    self.assertPostShape(post)
                    self.assertIsNone(post["likes"], "likes unknown: null")
                self.assertStatus(be.get("/healthz"), 200)

        # --- Redis comes back on the same port (empty: --save "") ---
        type(self).redis = RedisServer(self.tmp, port=self.redis.port,
                                       name="redis-again")
        type(self)._class_procs.append(self.redis)

        for be in (self.a, self.b):
            with self.subTest(backend=be.name, step="recovery"):
                try:
                    r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
                        be.post("/login", {"username": "carol",
                                           "password": "switchboard"})),
                        8.0, interval=0.1, what="%s login after redis restart" % be.name)
                except Timeout as exc:
                    self.fail(str(exc))
                self.assertIsNotNone(r.cookie("sid"))
                be.wait_sessions("up", timeout=3.0)
                # the restarted Redis has no sessions: the old one is gone
                self.assertJsonError(be.get("/me", sid=alice), 401,
                                     "pre-outage session after an empty Redis restart")
                carol = r.cookie("sid")[0]
                me = be.get("/me", sid=carol)
                self.assertStatus(me, 200)
                self.assertEqual(me.json()["username"], "carol")
                post = be.get("/posts/1").json()
                self.assertIsInstance(post["likes"], int, "likes are back")

        carol = self.a.login("carol")
        r = self.b.post("/posts/2/like", sid=carol)
        self.assertStatus(r, 200, "like after recovery")
        self.assertEqual((r.json()["added"], r.json()["likes"]), (True, 1))

    def test_redis_hangs_then_resumes(self):
        """A Redis that stops answering (SIGSTOP: the connection stays open)
        must not hang logins: the backend gives up within its deadline."""
        redis = self.start_redis(name="redis-hang")
        be = self.start_backend(self.db, name="backend-hang", redis=redis.addr)
        alice = be.login("alice")
        redis.signal(signal.SIGSTOP)
        self.addCleanup(redis.signal, signal.SIGCONT)

        r, took = self.login_timed(be)
        self.assertJsonError(r, 503, "login with a hung Redis")
        self.assertRetryAfter(r)
        self.assertLess(took, 2.5, "login must not hang on a hung Redis (%.2fs)" % took)
        # once it knows, the next calls fail at once
        be.wait_sessions("down", timeout=3.0)
        t0 = time.monotonic()
        self.assertJsonError(be.get("/me", sid=alice), 503, "/me, Redis hung")
        self.assertLess(time.monotonic() - t0, 1.0)
        r = be.get("/posts/1")
        self.assertStatus(r, 200, "/posts/1 with a hung Redis")
        self.assertLess(r.elapsed, 1.0, "public read must not wait for Redis")
        self.assertStatus(be.get("/healthz", timeout=1.0), 200)

        redis.signal(signal.SIGCONT)
        try:
            wait_until(lambda: be.post("/login", {
                "username": "bob", "password": "switchboard"}).status == 200,
                6.0, interval=0.1, what="login after Redis resumes")
        except Timeout as exc:
            self.fail(str(exc))
        be.wait_sessions("up", timeout=3.0)
        # the session made before the hang survived it (Redis kept its data)
        self.assertStatus(be.get("/me", sid=alice), 200, "/me after Redis resumed")


if __name__ == "__main__":
    unittest.main()
