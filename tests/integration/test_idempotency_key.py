"""A person's POST is retried on another backend (as sb-lb does for a POST
that carries an Idempotency-Key): it acts once. The first answer for a key
is kept in Redis and every repeat, through any backend, gets that answer
back, marked Idempotent-Replayed; a repeat racing its original gets 409;
without Redis nothing is written and the answer is 503."""

import os
import signal
import threading
import unittest
import uuid

from harness import (ClusterTestCase, raw_exchange, request, seed_db,
                     status_of)

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def new_key():
    return "it-" + uuid.uuid4().hex


class IdempotencyKeyTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()
        cls.a = cls.class_backend(cls.db, name="backend-a", redis=cls.redis.addr)
        cls.b = cls.class_backend(cls.db, name="backend-b", redis=cls.redis.addr)
        cls.alice = cls.a.login("alice")
        cls.bob = cls.b.login("bob")

    # helpers

    def post_count(self, username):
        r = self.a.get("/users/%s" % username)
        self.assertStatus(r, 200, "/users/%s" % username)
        return r.json()["posts"]

    def user_id(self, username):
        return self.a.get("/users/%s" % username).json()["id"]

    def keyed_post(self, backend, sid, text, key):
        return backend.post("/posts", {"text": text}, sid=sid,
                            headers={KEY: key})

    def assertNotReplayed(self, r):
        self.assertIsNone(r.header(REPLAYED), "a first answer is no replay")

    def assertReplayOf(self, r, first, backend):
        self.assertStatus(r, first.status, "replay")
        self.assertServedBy(r, backend)
        self.assertEqual(r.header(REPLAYED), "true")
        self.assertEqual(r.body, first.body, "a replay is the first answer, "
                         "byte for byte")
        self.assertEqual(r.header("Content-Type"), "application/json")

    def feed_texts(self, backend, sid, limit=100):
        r = backend.get("/feed?limit=%d" % limit, sid=sid)
        self.assertStatus(r, 200, "/feed")
        return [p["text"] for p in r.json()["posts"]]

    # POST /posts

    def test_a_post_retried_on_another_backend_is_written_once(self):
        key, text = new_key(), "posted once, whatever the retries"
        before = self.post_count("alice")

        first = self.keyed_post(self.a, self.alice, text, key)
        self.assertStatus(first, 201, "first POST /posts with a key")
        self.assertServedBy(first, self.a)
        self.assertNotReplayed(first)
        post = first.json()
        self.assertPostShape(post)
        self.assertEqual(post["text"], text)

        again = self.keyed_post(self.b, self.alice, text, key)
        self.assertReplayOf(again, first, self.b)
        self.assertEqual(again.json()["id"], post["id"], "the same post")
        self.assertReplayOf(self.keyed_post(self.a, self.alice, text, key),
                            first, self.a)
        # a repeat is its first answer, whatever its body says now
        other = self.keyed_post(self.b, self.alice, "another text", key)
        self.assertReplayOf(other, first, self.b)

        self.assertEqual(self.post_count("alice"), before + 1,
                         "one post written for one key")
        self.assertEqual(self.feed_texts(self.b, self.bob).count(text), 1,
                         "bob (who follows alice) sees it once")
        r = self.b.get("/posts/%d" % post["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["text"], text)

    def test_without_a_key_every_post_acts(self):
        before = self.post_count("alice")
        for be in (self.a, self.b):
            r = be.post("/posts", {"text": "no key, no guard"}, sid=self.alice)
            self.assertStatus(r, 201)
            self.assertNotReplayed(r)
        self.assertEqual(self.post_count("alice"), before + 2)

    def test_the_same_key_from_another_user_acts_on_its_own(self):
        key = new_key()
        alice_before = self.post_count("alice")
        bob_before = self.post_count("bob")
        ra = self.keyed_post(self.a, self.alice, "alice's, key shared", key)
        rb = self.keyed_post(self.a, self.bob, "bob's, key shared", key)
        self.assertStatus(ra, 201)
        self.assertStatus(rb, 201, "bob's key is not alice's")
        self.assertNotReplayed(rb)
        self.assertNotEqual(ra.json()["id"], rb.json()["id"])
        self.assertEqual(rb.json()["author"], "bob")
        self.assertEqual(self.post_count("alice"), alice_before + 1)
        self.assertEqual(self.post_count("bob"), bob_before + 1)
        # and each replays its own
        self.assertReplayOf(self.keyed_post(self.b, self.bob, "x", key), rb,
                            self.b)
        self.assertReplayOf(self.keyed_post(self.b, self.alice, "x", key), ra,
                            self.b)

    def test_concurrent_repeats_act_once(self):
        key, text = new_key(), "ten at once, one post"
        before = self.post_count("alice")
        results, errors = [], []
        start = threading.Barrier(10)

        def worker(i):
            be = self.a if i % 2 else self.b
            try:
                start.wait(5)
                results.append(request(be.port, "POST", "/posts",
                                       body={"text": text}, sid=self.alice,
                                       headers={KEY: key}))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertFalse(any(t.is_alive() for t in threads), "posts hung")
        self.assertEqual(errors, [])
        acted = [r for r in results if r.status == 201 and r.header(REPLAYED) is None]
        self.assertEqual(len(acted), 1, "exactly one request acts: %r"
                         % [(r.status, r.header(REPLAYED)) for r in results])
        for r in results:
            if r.status == 201:
                self.assertEqual(r.body, acted[0].body)
            else:
                self.assertJsonError(r, 409, "a repeat racing its original")
                self.assertRetryAfter(r)
        self.assertEqual(self.post_count("alice"), before + 1)
        # once the original is done, every repeat is a replay
        self.assertReplayOf(self.keyed_post(self.a, self.alice, text, key),
                            acted[0], self.a)

    def test_a_repeat_while_the_original_runs_is_409(self):
        # The original is still working (its claim is in Redis, as a backend
        # writes it): the repeat must neither act nor wait.
        key = new_key()
        self.assertEqual(self.redis.command(
            "SET", "sb:idem:%d:%s" % (self.user_id("alice"), key), "pending",
            "EX", "60"), "OK")
        before = self.post_count("alice")
        r = self.keyed_post(self.b, self.alice, "must not be written", key)
        self.assertJsonError(r, 409, "repeat of a running request")
        self.assertRetryAfter(r)
        self.assertEqual(self.post_count("alice"), before)

    # POST /posts/ID/like

    def test_a_like_retried_counts_once_and_answers_the_same(self):
        made = self.a.post("/posts", {"text": "like me, idempotently"},
                           sid=self.bob)
        self.assertStatus(made, 201)
        pid = made.json()["id"]
        key = new_key()

        first = self.a.post("/posts/%d/like" % pid, sid=self.alice,
                            headers={KEY: key})
        self.assertStatus(first, 200, "first like with a key")
        self.assertNotReplayed(first)
        self.assertEqual((first.json()["added"], first.json()["likes"]),
                         (True, 1))
        again = self.b.post("/posts/%d/like" % pid, sid=self.alice,
                            headers={KEY: key})
        self.assertReplayOf(again, first, self.b)
        self.assertEqual(again.json()["added"], True,
                         "the replay says what the first like did")
        self.assertEqual(self.b.get("/posts/%d" % pid).json()["likes"], 1)

        # bob's like with the same key is his own
        bob = self.b.post("/posts/%d/like" % pid, sid=self.bob,
                          headers={KEY: key})
        self.assertStatus(bob, 200)
        self.assertNotReplayed(bob)
        self.assertEqual((bob.json()["added"], bob.json()["likes"]), (True, 2))
        self.assertEqual(self.a.get("/posts/%d" % pid).json()["likes"], 2)

        # without a key, a repeat like acts (and finds it liked already)
        plain = self.a.post("/posts/%d/like" % pid, sid=self.alice)
        self.assertStatus(plain, 200)
        self.assertNotReplayed(plain)
        self.assertEqual((plain.json()["added"], plain.json()["likes"]),
                         (False, 2))

    def test_a_like_of_no_post_is_404_and_claims_nothing(self):
        key = new_key()
        r = self.a.post("/posts/987654321/like", sid=self.alice,
                        headers={KEY: key})
        self.assertJsonError(r, 404)
        self.assertNotReplayed(r)
        self.assertEqual(self.redis.command(
            "EXISTS", "sb:idem:%d:%s" % (self.user_id("alice"), key)), "0")

    # bad keys

    def test_a_malformed_key_is_400_and_acts_not(self):
        before = self.post_count("alice")
        for bad in ("", "has space", "semi;colon", "slash/y", "x" * 129,
                    "caf\u00e9".encode().decode("latin-1")):
            with self.subTest(key=bad[:20]):
                r = self.keyed_post(self.a, self.alice, "bad key", bad)
                self.assertJsonError(r, 400, "key %r" % bad[:20])
                r = self.a.post("/posts/1/like", sid=self.alice,
                                headers={KEY: bad})
                self.assertJsonError(r, 400, "like, key %r" % bad[:20])
        r = self.keyed_post(self.a, self.alice, "longest key", "k" * 128)
        self.assertStatus(r, 201, "a 128-character key is fine")
        self.assertEqual(self.post_count("alice"), before + 1)

    def test_two_keys_in_one_request_are_400(self):
        before = self.post_count("alice")
        body = b'{"text":"two keys"}'
        raw = (b"POST /posts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Cookie: sid=" + self.alice.encode() + b"\r\n"
               b"Idempotency-Key: one\r\nidempotency-key: two\r\n"
               b"Content-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" +
               body)
        got, _ = raw_exchange(self.a.port, raw)
        self.assertEqual(status_of(got), 400, got[:200])
        self.assertEqual(self.post_count("alice"), before)

    def test_no_session_is_still_401(self):
        r = self.a.post("/posts", {"text": "x"}, headers={KEY: new_key()})
        self.assertJsonError(r, 401)

    # the store cannot guard: no action

    def test_a_key_the_store_cannot_read_is_503_and_acts_not(self):
        # A value Redis will not GET (a list): the guard fails, so the route
        # must not act - as when Redis is down.
        key = new_key()
        self.redis.command("RPUSH", "sb:idem:%d:%s" % (self.user_id("alice"),
                                                       key), "x")
        before = self.post_count("alice")
        r = self.keyed_post(self.a, self.alice, "unguarded", key)
        self.assertJsonError(r, 503)
        self.assertRetryAfter(r)
        self.assertEqual(self.post_count("alice"), before)
        # the session store itself is fine: the same POST without a key acts
        self.assertStatus(self.a.post("/posts", {"text": "unkeyed"},
                                      sid=self.alice), 201)


class IdempotencyRedisDownTest(ClusterTestCase):
    """Redis dies: a keyed POST is refused with 503, not done unguarded.
    (With Redis gone the session lookup fails first; the guard's own 503,
    with sessions working, is test_a_key_the_store_cannot_read_is_503.)"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)

    def test_redis_down_is_503_and_nothing_is_written(self):
        redis = self.start_redis(name="redis-dies")
        be = self.start_backend(self.db, name="backend-alone", redis=redis.addr)
        alice = be.login("alice")
        posts = lambda: be.get("/users/alice").json()["posts"]  # noqa: E731
        before = posts()
        os.kill(redis.pid, signal.SIGKILL)
        redis.wait(5)
        redis.kill()
        be.wait_sessions("down", timeout=3.0)
        r = be.post("/posts", {"text": "redis is down"}, sid=alice,
                    headers={KEY: new_key()})
        self.assertJsonError(r, 503, "keyed POST, Redis down")
        self.assertRetryAfter(r)
        r = be.post("/posts/1/like", sid=alice, headers={KEY: new_key()})
        self.assertJsonError(r, 503, "keyed like, Redis down")
        self.assertEqual(posts(), before, "nothing written without the guard")


class IdempotencyMemoryModeTest(ClusterTestCase):
    """--sessions memory keeps the keys in the process: repeats to the same
    backend replay (a stateful server, as its sessions are)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.be = cls.class_backend(cls.db, name="mem", sessions="memory")

    def test_repeat_replays(self):
        sid = self.be.login("carol")
        key = new_key()
        first = self.be.post("/posts", {"text": "memory keyed"}, sid=sid,
                             headers={KEY: key})
        self.assertStatus(first, 201)
        self.assertIsNone(first.header(REPLAYED))
        again = self.be.post("/posts", {"text": "memory keyed"}, sid=sid,
                             headers={KEY: key})
        self.assertStatus(again, 201)
        self.assertEqual(again.header(REPLAYED), "true")
        self.assertEqual(again.body, first.body)
        pid = first.json()["id"]
        l1 = self.be.post("/posts/%d/like" % pid, sid=sid, headers={KEY: key + "l"})
        l2 = self.be.post("/posts/%d/like" % pid, sid=sid, headers={KEY: key + "l"})
        self.assertStatus(l1, 200)
        self.assertEqual(l2.body, l1.body)
        self.assertEqual(l2.header(REPLAYED), "true")
        self.assertEqual(self.be.get("/posts/%d" % pid).json()["likes"], 1)


if __name__ == "__main__":
    unittest.main()
