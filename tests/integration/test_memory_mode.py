"""The stateful server: --sessions memory needs no Redis at all, and a
session lives only in the process that made it."""

import unittest

from harness import ClusterTestCase, free_port, port_refuses, seed_db


class MemoryModeTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        # No redis-server at all; point --redis at a port where nothing
        # listens, to prove memory mode never needs it.
        cls.nowhere = "127.0.0.1:%d" % free_port()
        cls.a = cls.class_backend(cls.db, name="mem-a", sessions="memory",
                                  redis=cls.nowhere)
        cls.b = cls.class_backend(cls.db, name="mem-b", sessions="memory",
                                  redis=cls.nowhere)

    def test_readyz_reports_the_memory_store(self):
        self.assertTrue(port_refuses(int(self.nowhere.rsplit(":", 1)[1])),
                        "the test needs no Redis listening")
        for be in (self.a, self.b):
            status, body = be.readyz()
            self.assertEqual(status, 200)
            self.assertIs(body["ready"], True)
            self.assertEqual(body["store"], "memory")
            self.assertEqual(body["sessions"], "up")

    def test_login_me_like_on_one_backend(self):
        sid = self.a.login("alice")
        r = self.a.get("/me", sid=sid)
        self.assertStatus(r, 200, "/me on the backend that made the session")
        self.assertEqual(r.json()["username"], "alice")
        self.assertServedBy(r, self.a)

        r = self.a.post("/posts", {"text": "memory mode post"}, sid=sid)
        self.assertStatus(r, 201)
        pid = r.json()["id"]
        r = self.a.post("/posts/%d/like" % pid, sid=sid)
        self.assertStatus(r, 200, "like in memory mode")
        self.assertEqual((r.json()["added"], r.json()["likes"]), (True, 1))
        r = self.a.post("/posts/%d/like" % pid, sid=sid)
        self.assertEqual((r.json()["added"], r.json()["likes"]), (False, 1))
        r = self.a.get("/posts/%d" % pid, sid=sid)
        self.assertEqual((r.json()["likes"], r.json()["liked_by_me"]), (1, True))

        r = self.a.get("/feed?limit=5", sid=sid)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["served_by"], self.a.id)

        self.assertStatus(self.a.post("/logout", sid=sid), 200)
        self.assertJsonError(self.a.get("/me", sid=sid), 401, "/me after logout")

    def test_a_session_is_unknown_on_another_backend(self):
        sid = self.a.login("bob")
        self.assertStatus(self.a.get("/me", sid=sid), 200, "/me on A")
        # the stateful-server lesson: B has never heard of this session
        for path in ("/me", "/feed"):
            r = self.b.get(path, sid=sid)
            self.assertJsonError(r, 401, "%s on B with A's session" % path)
            self.assertServedBy(r, self.b)
        self.assertJsonError(self.b.post("/posts/1/like", sid=sid), 401)
        # ... and it still works on A
        self.assertStatus(self.a.get("/me", sid=sid), 200, "/me on A again")
        # B's own sessions work on B and not on A
        sid_b = self.b.login("bob")
        self.assertNotEqual(sid, sid_b)
        self.assertStatus(self.b.get("/me", sid=sid_b), 200)
        self.assertJsonError(self.a.get("/me", sid=sid_b), 401)


if __name__ == "__main__":
    unittest.main()
