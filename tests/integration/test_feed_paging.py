"""A person scrolls the feed page by page, looks at users and posts, and
writes a post that their followers see first."""

import time
import unittest

from harness import ClusterTestCase, author_name, seed_db

MAX_PAGES = 200  # bound on any paging loop


class FeedPagingTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()
        cls.be = cls.class_backend(cls.db, name="backend-feed", redis=cls.redis.addr)
        cls.alice = cls.be.login("alice")
        cls.bob = cls.be.login("bob")

    def feed(self, sid, query=""):
        r = self.be.get("/feed" + query, sid=sid)
        self.assertStatus(r, 200, "GET /feed%s" % query)
        self.assertServedBy(r, self.be)
        body = r.json()
        self.assertEqual(set(body) >= {"posts", "next_before", "served_by"}, True,
                         "feed keys: %r" % sorted(body))
        self.assertEqual(body["served_by"], self.be.id)
        for p in body["posts"]:
            self.assertPostShape(p)
        ids = [p["id"] for p in body["posts"]]
        self.assertEqual(ids, sorted(ids, reverse=True), "newest first")
        self.assertEqual(len(ids), len(set(ids)), "no duplicates in a page")
        return body

    def walk(self, sid, limit):
        """All feed ids, page by page, checking the cursor contract."""
        seen, before, pages = [], None, 0
        while True:
            pages += 1
            self.assertLess(pages, MAX_PAGES, "paging does not end")
            q = "?limit=%d" % limit + ("&before=%d" % before if before else "")
            body = self.feed(sid, q)
            ids = [p["id"] for p in body["posts"]]
            self.assertLessEqual(len(ids), limit)
            if before is not None:
                self.assertTrue(all(i < before for i in ids),
                                "before=%d returned %r" % (before, ids))
            if len(ids) == limit:
                self.assertEqual(body["next_before"], ids[-1],
                                 "a full page's next_before is its last id")
            else:
                self.assertIsNone(body["next_before"],
                                  "a short page ends the feed (next_before null)")
            seen.extend(ids)
            if body["next_before"] is None:
                return seen
            before = body["next_before"]

    def test_default_page_is_20_newest_first(self):
        body = self.feed(self.alice)
        self.assertEqual(len(body["posts"]), 20,
                         "alice follows >= 3 users with 10 posts each")
        self.assertEqual(body["next_before"], body["posts"][-1]["id"])

    def test_paging_covers_the_feed_without_overlap(self):
        small = self.walk(self.alice, 7)
        self.assertGreaterEqual(len(small), 30)
        self.assertEqual(len(small), len(set(small)), "pages overlap")
        self.assertEqual(small, sorted(small, reverse=True),
                         "ids strictly decrease across pages")
        big = self.walk(self.alice, 100)
        self.assertEqual(small, big, "page size must not change the feed")

    def test_limit_bounds(self):
        self.assertEqual(len(self.feed(self.alice, "?limit=1")["posts"]), 1)
        body = self.feed(self.alice, "?limit=100")
        self.assertLessEqual(len(body["posts"]), 100)
        self.assertGreater(len(body["posts"]), 20)

    def test_before_beyond_the_oldest_is_an_empty_page(self):
        first = self.walk(self.alice, 100)
        oldest = first[-1]
        body = self.feed(self.alice, "?before=%d" % oldest)
        self.assertEqual(body["posts"], [])
        self.assertIsNone(body["next_before"])

    def test_bad_limit_or_before_is_400(self):
        bad = ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5",
               "limit=99999999999999999999999", "before=abc", "before=0",
               "before=-5", "before=1e3", "limit=10&before=x"]
        for q in bad:
            with self.subTest(query=q):
                r = self.be.get("/feed?" + q, sid=self.alice)
                self.assertJsonError(r, 400, "GET /feed?" + q)
                self.assertServedBy(r, self.be)

    def test_user_lookup(self):
        r = self.be.get("/users/alice")
        self.assertStatus(r, 200, "/users/alice (no session needed)")
        u = r.json()
        self.assertUserShape(u)
        self.assertEqual((u["id"], u["username"]), (1, "alice"))
        self.assertGreaterEqual(u["following"], 3)
        self.assertGreaterEqual(u["posts"], 1)
        r = self.be.get("/users/dave")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["id"], 4)
        for path in ("/users/nobody_like_this", "/users/ALICE", "/users/a%20b"):
            with self.subTest(path=path):
                self.assertJsonError(self.be.get(path), 404, path)

    def test_post_lookup(self):
        r = self.be.get("/posts/1")
        self.assertStatus(r, 200, "/posts/1 (public)")
        p = r.json()
        self.assertPostShape(p)
        self.assertEqual(p["id"], 1)
        self.assertIsInstance(p["likes"], int)
        self.assertIs(p["liked_by_me"], False, "nobody is asking")
        for path in ("/posts/999999999", "/posts/abc", "/posts/0", "/posts/-1",
                     "/posts/01", "/posts/99999999999999999999999999"):
            with self.subTest(path=path):
                self.assertJsonError(self.be.get(path), 404, path)

    def test_feed_post_matches_post_lookup(self):
        post = self.feed(self.alice, "?limit=1")["posts"][0]
        r = self.be.get("/posts/%d" % post["id"], sid=self.alice)
        self.assertStatus(r, 200)
        same = r.json()
        for key in ("id", "author", "text", "created_at", "likes", "liked_by_me"):
            self.assertEqual(same[key], post[key], key)

    def test_new_post_shows_first_in_a_followers_feed(self):
        text = 'hello from alice "%s" \u00e9\u00e8 <b>&' % time.monotonic_ns()
        r = self.be.post("/posts", {"text": text}, sid=self.alice)
        self.assertStatus(r, 201, "POST /posts")
        self.assertServedBy(r, self.be)
        post = r.json()
        self.assertPostShape(post)
        self.assertEqual(post["text"], text, "text round-trips exactly")
        self.assertEqual(author_name(post), "alice")
        self.assertEqual(post["likes"], 0)
        self.assertIs(post["liked_by_me"], False)

        top = self.feed(self.bob, "?limit=5")["posts"]
        self.assertEqual(top[0]["id"], post["id"],
                         "bob follows alice: her new post comes first")
        self.assertEqual(top[0]["text"], text)

        r = self.be.get("/posts/%d" % post["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["text"], text)

    def test_post_text_limits(self):
        ok = ["x", "y" * 280, "\u00e9" * 140]  # 280 bytes of UTF-8
        for text in ok:
            with self.subTest(text_len=len(text.encode())):
                r = self.be.post("/posts", {"text": text}, sid=self.bob)
                self.assertStatus(r, 201, "text of %d bytes" % len(text.encode()))
                self.assertEqual(r.json()["text"], text)
        bad = [{"text": ""}, {"text": "z" * 281}, {"text": "\u00e9" * 141},
               {"text": 42}, {"text": None}, {"text": ["a"]}, {}]
        for body in bad:
            with self.subTest(body=str(body)[:40]):
                r = self.be.post("/posts", body, sid=self.bob)
                self.assertJsonError(r, 400, "POST /posts %s" % str(body)[:40])


if __name__ == "__main__":
    unittest.main()
