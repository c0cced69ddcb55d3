"""A person logs in, looks at /me, logs out; the session lives in Redis, so
any backend knows it (the stateless server)."""

import os
import threading
import unittest

from harness import SID_RE, ClusterTestCase, request, seed_db, wait_until


class LoginSessionTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()
        cls.a = cls.class_backend(cls.db, name="backend-a", redis=cls.redis.addr)
        cls.b = cls.class_backend(cls.db, name="backend-b", redis=cls.redis.addr)

    def test_login_sets_a_safe_session_cookie(self):
        r = self.a.post("/login", {"username": "alice", "password": "switchboard"})
        self.assertStatus(r, 200, "login alice")
        self.assertServedBy(r, self.a)
        body = r.json()
        self.assertIn("user", body)
        self.assertUserShape(body["user"])
        self.assertEqual(body["user"]["username"], "alice")
        self.assertEqual(body["user"]["id"], 1)

        cookie = r.cookie("sid")
        self.assertIsNotNone(cookie, "no sid cookie: %r" % (r.headers,))
        sid, attrs = cookie
        self.assertRegex(sid, SID_RE, "sid must be 40 lowercase hex")
        self.assertIn("httponly", attrs, "cookie lacks HttpOnly: %r" % attrs)
        self.assertEqual(str(attrs.get("samesite", "")).lower(), "lax",
                         "cookie lacks SameSite=Lax: %r" % attrs)
        self.assertEqual(attrs.get("path"), "/", "cookie Path: %r" % attrs)
        self.assertIn("max-age", attrs, "cookie lacks Max-Age: %r" % attrs)
        self.assertRegex(attrs["max-age"], r"^\d+$")
        self.assertGreater(int(attrs["max-age"]), 0)

    def test_each_login_gets_a_new_sid(self):
        s1 = self.a.login("alice")
        s2 = self.a.login("alice")
        self.assertNotEqual(s1, s2, "two logins must not share a session id")
        # both sessions are valid at once
        for sid in (s1, s2):
            r = self.a.get("/me", sid=sid)
            self.assertStatus(r, 200, "/me")

    def test_sid_is_found_among_other_cookies(self):
        sid = self.a.login("alice")
        for header in ("theme=dark; sid=%s; lang=en" % sid, "sid=%s;lang=en" % sid,
                       "a=1;  sid=%s" % sid):
            with self.subTest(cookie=header):
                r = self.a.get("/me", headers={"Cookie": header})
                self.assertStatus(r, 200, "Cookie: %s" % header)
                self.assertEqual(r.json()["username"], "alice")

    def test_login_ignores_a_session_id_the_client_brings(self):
        # session fixation: a sid chosen by someone else is never adopted
        planted = "ab" * 20
        r = self.a.post("/login", {"username": "alice", "password": "switchboard"},
                        sid=planted)
        self.assertStatus(r, 200)
        self.assertNotEqual(r.cookie("sid")[0], planted)
        self.assertJsonError(self.a.get("/me", sid=planted), 401, "planted sid")

    def test_me_shows_the_logged_in_user(self):
        sid = self.a.login("bob")
        r = self.a.get("/me", sid=sid)
        self.assertStatus(r, 200, "/me with bob's session")
        self.assertServedBy(r, self.a)
        me = r.json()
        self.assertUserShape(me)
        self.assertEqual(me["username"], "bob")
        self.assertEqual(me["id"], 2)
        # bob follows alice, carol and dave at least
        self.assertGreaterEqual(me["following"], 3)
        self.assertGreaterEqual(me["followers"], 3)

    def test_wrong_password_is_401(self):
        r = self.a.post("/login", {"username": "alice", "password": "wrong"})
        self.assertJsonError(r, 401, "wrong password")
        self.assertServedBy(r, self.a)
        self.assertIsNone(r.cookie("sid"), "no session on a failed login")

    def test_unknown_user_is_401(self):
        r = self.a.post("/login", {"username": "nobody_here", "password": "switchboard"})
        self.assertJsonError(r, 401, "unknown user")
        self.assertIsNone(r.cookie("sid"))

    def test_password_is_case_sensitive(self):
        r = self.a.post("/login", {"username": "alice", "password": "Switchboard"})
        self.assertJsonError(r, 401, "password with another case")

    def test_logout_ends_the_session(self):
        sid = self.a.login("carol")
        self.assertStatus(self.a.get("/me", sid=sid), 200, "/me before logout")
        r = self.a.post("/logout", sid=sid)
        self.assertStatus(r, 200, "logout")
        self.assertEqual(r.json(), {"ok": True})
        cookie = r.cookie("sid")
        self.assertIsNotNone(cookie, "logout must clear the cookie: %r" % (r.headers,))
        self.assertEqual(cookie[1].get("max-age"), "0",
                         "logout cookie must have Max-Age=0: %r" % (cookie,))
        # the old sid is dead, on this backend and on the other
        self.assertJsonError(self.a.get("/me", sid=sid), 401, "/me after logout (A)")
        self.assertJsonError(self.b.get("/me", sid=sid), 401, "/me after logout (B)")
        self.assertJsonError(self.a.get("/feed", sid=sid), 401, "/feed after logout")

    def test_logout_without_session_is_harmless(self):
        r = self.a.post("/logout")
        self.assertStatus(r, 200, "logout without a cookie")
        r = self.a.post("/logout", sid="0" * 40)
        self.assertStatus(r, 200, "logout with an unknown sid")

    def test_no_session_is_401_everywhere_it_is_needed(self):
        calls = [("GET", "/me", None), ("GET", "/feed", None),
                 ("POST", "/posts", {"text": "hello"}),
                 ("POST", "/posts/1/like", None)]
        bad_sids = [None,                       # no cookie at all
                    os.urandom(20).hex(),       # well formed, unknown
                    "not-a-session",            # malformed
                    "A" * 40]                   # upper case hex is not ours
        for method, path, body in calls:
            for sid in bad_sids:
                with self.subTest(method=method, path=path, sid=sid):
                    r = self.a.post(path, body, sid=sid) if method == "POST" \
                        else self.a.get(path, sid=sid)
                    self.assertJsonError(r, 401, "%s %s sid=%r" % (method, path, sid))
                    self.assertServedBy(r, self.a)

    def test_a_session_made_on_one_backend_works_on_another(self):
        sid = self.a.login("dave")
        r = self.b.get("/me", sid=sid)
        self.assertStatus(r, 200, "/me on B with a session made on A")
        self.assertServedBy(r, self.b)
        self.assertEqual(r.json()["username"], "dave")
        r = self.b.get("/feed?limit=3", sid=sid)
        self.assertStatus(r, 200, "/feed on B")
        self.assertEqual(r.json()["served_by"], self.b.id)
        # and logging out on B ends it on A too
        self.assertStatus(self.b.post("/logout", sid=sid), 200, "logout on B")
        self.assertJsonError(self.a.get("/me", sid=sid), 401, "/me on A after logout on B")

    def test_a_login_flood_gets_answers_not_hangs(self):
        # password hashing is slow on purpose; a flood of logins is served or
        # turned away with 503 + Retry-After, never left hanging, never a 500
        results, errors = [], []

        def one():
            try:
                results.append(request(self.b.port, "POST", "/login", timeout=10,
                                       body={"username": "alice",
                                             "password": "switchboard"}))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(120)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        self.assertFalse(any(t.is_alive() for t in threads), "logins hung")
        self.assertEqual(errors, [], "connections failed")
        statuses = [r.status for r in results]
        self.assertTrue(set(statuses) <= {200, 503}, sorted(set(statuses)))
        self.assertIn(200, statuses)
        for r in results:
            if r.status == 503:
                self.assertRetryAfter(r)
        # and afterwards a login is a plain login again
        self.assertRegex(self.b.login("alice"), SID_RE)

    def test_session_expires_after_its_ttl(self):
        redis = self.start_redis()  # its own, so DBSIZE counts only this session
        be = self.start_backend(self.db, name="backend-ttl", redis=redis.addr,
                                extra=["--session-ttl", 1])
        r = be.post("/login", {"username": "alice", "password": "switchboard"})
        self.assertStatus(r, 200)
        sid, attrs = r.cookie("sid")
        self.assertEqual(attrs.get("max-age"), "1", "Max-Age follows --session-ttl")
        self.assertStatus(be.get("/me", sid=sid), 200, "/me within the TTL")
        self.assertEqual(redis.command("DBSIZE"), "1", "the session lives in Redis")
        # not touching the session (a read refreshes it): wait for Redis to
        # expire it, then it is gone for the backend too
        wait_until(lambda: redis.command("DBSIZE") == "0", 5.0, interval=0.1,
                   what="the session key to expire in Redis")
        self.assertJsonError(be.get("/me", sid=sid), 401, "/me after the TTL")

    def test_health_endpoints(self):
        for be in (self.a, self.b):
            r = be.get("/healthz")
            self.assertStatus(r, 200, "/healthz")
            self.assertServedBy(r, be)
            self.assertEqual(r.json()["status"], "ok")
            r = be.get("/readyz")
            self.assertStatus(r, 200, "/readyz")
            body = r.json()
            self.assertIs(body["ready"], True)
            self.assertEqual(body["store"], "redis")
            self.assertEqual(body["sessions"], "up")


if __name__ == "__main__":
    unittest.main()
