"""A person likes a post, through one backend and then another: a like counts
once per user, whichever backend took it (the counters live in Redis)."""

import threading
import unittest

from harness import ClusterTestCase, request, seed_db


class LikeOnceTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()
        cls.a = cls.class_backend(cls.db, name="backend-a", redis=cls.redis.addr)
        cls.b = cls.class_backend(cls.db, name="backend-b", redis=cls.redis.addr)
        cls.alice = cls.a.login("alice")
        cls.bob = cls.b.login("bob")
        cls.carol = cls.a.login("carol")
        cls.dave = cls.b.login("dave")

    def new_post(self, sid, text):
        r = self.a.post("/posts", {"text": text}, sid=sid)
        self.assertStatus(r, 201, "POST /posts")
        post = r.json()
        self.assertEqual(post["likes"], 0)
        return post["id"]

    def like(self, backend, sid, post_id):
        r = backend.post("/posts/%d/like" % post_id, sid=sid)
        self.assertStatus(r, 200, "like %d on %s" % (post_id, backend.name))
        self.assertServedBy(r, backend)
        body = r.json()
        self.assertEqual(body["post_id"], post_id)
        self.assertIs(body["liked_by_me"], True)
        self.assertIsInstance(body["likes"], int)
        self.assertIsInstance(body["added"], bool)
        return body

    def post_view(self, backend, post_id, sid=None):
        r = backend.get("/posts/%d" % post_id, sid=sid)
        self.assertStatus(r, 200, "GET /posts/%d" % post_id)
        return r.json()

    def test_a_like_counts_once_whichever_backend_took_it(self):
        x = self.new_post(self.carol, "carol's post to like")

        first = self.like(self.a, self.alice, x)
        self.assertEqual((first["added"], first["likes"]), (True, 1))
        again = self.like(self.b, self.alice, x)
        self.assertEqual((again["added"], again["likes"]), (False, 1),
                         "alice's second like (via B) must not count")
        bob = self.like(self.b, self.bob, x)
        self.assertEqual((bob["added"], bob["likes"]), (True, 2))

        # every view agrees on the count; liked_by_me is per user
        for be in (self.a, self.b):
            with self.subTest(backend=be.name):
                v = self.post_view(be, x, self.alice)
                self.assertEqual((v["likes"], v["liked_by_me"]), (2, True))
                v = self.post_view(be, x, self.bob)
                self.assertEqual((v["likes"], v["liked_by_me"]), (2, True))
                v = self.post_view(be, x, self.dave)
                self.assertEqual((v["likes"], v["liked_by_me"]), (2, False))
                v = self.post_view(be, x)
                self.assertEqual((v["likes"], v["liked_by_me"]), (2, False))

    def test_feed_shows_likes_and_liked_by_me(self):
        x = self.new_post(self.carol, "carol again, for the feed")
        self.like(self.a, self.dave, x)
        # alice and dave both follow carol
        for sid, mine in ((self.dave, True), (self.alice, False)):
            r = self.b.get("/feed?limit=5", sid=sid)
            self.assertStatus(r, 200)
            posts = {p["id"]: p for p in r.json()["posts"]}
            self.assertIn(x, posts, "carol's new post in the feed")
            self.assertEqual(posts[x]["likes"], 1)
            self.assertIs(posts[x]["liked_by_me"], mine)

    def test_concurrent_likes_by_one_user_count_once(self):
        x = self.new_post(self.carol, "race me")
        results, errors = [], []
        start = threading.Barrier(10)

        def worker(i):
            be = self.a if i % 2 else self.b
            try:
                start.wait(5)
                results.append(request(be.port, "POST", "/posts/%d/like" % x,
                                       sid=self.bob))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertFalse(any(t.is_alive() for t in threads), "likes hung")
        self.assertEqual(errors, [])
        self.assertEqual([r.status for r in results], [200] * 10)
        added = [r.json()["added"] for r in results]
        self.assertEqual(added.count(True), 1, "exactly one like is new: %r" % added)
        self.assertEqual(self.post_view(self.a, x)["likes"], 1)

    def test_like_unknown_post_is_404(self):
        r = self.a.post("/posts/987654321/like", sid=self.alice)
        self.assertJsonError(r, 404, "like of a post that does not exist")

    def test_like_without_session_is_401(self):
        r = self.a.post("/posts/1/like")
        self.assertJsonError(r, 401, "like without a session")
        # and nothing was counted
        v = self.post_view(self.a, 1)
        before = v["likes"]
        self.assertJsonError(self.b.post("/posts/1/like"), 401)
        self.assertEqual(self.post_view(self.b, 1)["likes"], before)


if __name__ == "__main__":
    unittest.main()
