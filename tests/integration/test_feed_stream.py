"""A person watches GET /feed/stream: new posts pushed as Server-Sent Events.

Bob follows alice (the seed's named users follow each other; checked against
the SQLite file). Posts written on one backend reach streams on another
through Redis pub/sub within a second; posts by people bob does not follow
never reach him; a reconnect with Last-Event-ID misses nothing; keepalive
comments flow; the stream survives Redis dying and picks up again when it
returns; SIGTERM ends streams cleanly; and the bounds (streams per backend,
bytes queued for a slow client) hold.
"""

import json
import signal
import socket
import sqlite3
import sys
import threading
import time
import unittest

from harness import (HOST, ClusterTestCase, RedisServer, Timeout, seed_db,
                     wait_until)

KEEPALIVE_MS = 300
CLIENT_TIMEOUT_MS = 1000   # streams must outlive it: they have no read timeout
DELIVERY_MAX_S = 1.0


class SseClient:
    """GET /feed/stream over a raw socket, read incrementally: the chunked
    body is decoded as it arrives and split into SSE blocks."""

    def __init__(self, port, sid=None, last_event_id=None, timeout=5.0,
                 rcvbuf=None, read_head=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        req = "GET /feed/stream HTTP/1.1\r\nHost: sb\r\nAccept: text/event-stream\r\n"
        if sid is not None:
            req += "Cookie: sid=%s\r\n" % sid
        if last_event_id is not None:
            req += "Last-Event-ID: %s\r\n" % last_event_id
        self.sock.sendall((req + "\r\n").encode())
        self.raw = b""       # bytes not yet de-chunked
        self.text = b""      # body bytes not yet split into blocks
        self.ended = False   # the terminating chunk arrived
        self.eof = False     # the server closed the connection
        self.status = None
        self.headers = {}
        self.body = b""      # non-streamed (error) body
        if read_head:
            self.read_head(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.eof:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.raw += data
        return True

    def read_head(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline):
                raise AssertionError("no response head within %.1fs (got %r)"
                                     % (timeout, self.raw[:200]))
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        if "content-length" in self.headers:  # an error, not a stream
            n = int(self.headers["content-length"])
            while len(self.raw) < n and self._recv(deadline):
                pass
            self.body, self.raw = self.raw[:n], self.raw[n:]
        return self.status

    def _dechunk(self):
        while not self.ended:
            if b"\r\n" not in self.raw:
                return
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.ended = True
                self.raw = rest
                return
            if len(rest) < size + 2:
                return
            self.text += rest[:size]
            self.raw = rest[size + 2:]

    def next_block(self, timeout):
        """The next SSE block as a dict ({"comment": text} or the fields
        id/event/data), or None when the stream ended or timeout passed."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            if b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                out = {}
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":"):
                        out.setdefault("comment", line[1:].strip())
                        continue
                    k, _, v = line.partition(":")
                    out[k] = v[1:] if v.startswith(" ") else v
                return out
            if self.ended or not self._recv(deadline):
                return None

    def next_event(self, timeout):
        """The next post event (keepalives skipped): (arrival time, dict with
        the parsed post under "post"), or (None, None)."""
        deadline = time.monotonic() + timeout
        while True:
            b = self.next_block(max(0.0, deadline - time.monotonic()))
            if b is None:
                return None, None
            if "comment" in b and "data" not in b:
                continue
            b["post"] = json.loads(b["data"])
            return time.monotonic(), b

    def events_until_quiet(self, quiet):
        """Every post event until none comes for quiet seconds."""
        out = []
        while True:
            _, ev = self.next_event(quiet)
            if ev is None:
                return out
            out.append(ev)


class FeedStreamTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        with sqlite3.connect(cls.db) as con:
            ids = dict(con.execute("SELECT username, id FROM users"))
            follows = set(con.execute("SELECT follower_id, followee_id FROM follows"))
            # someone bob (2) does not follow
            cls.stranger = con.execute(
                "SELECT username FROM users WHERE id NOT IN (SELECT followee_id"
                " FROM follows WHERE follower_id = 2) AND id <> 2 ORDER BY id"
                " LIMIT 1").fetchone()[0]
        assert (ids["bob"], ids["alice"]) in follows, "the seed: bob follows alice"
        cls.redis = cls.class_redis()
        extra = ["--stream-keepalive-ms", KEEPALIVE_MS,
                 "--client-timeout", CLIENT_TIMEOUT_MS]
        cls.a = cls.class_backend(cls.db, name="stream-a", redis=cls.redis.addr,
                                  extra=extra)
        cls.b = cls.class_backend(cls.db, name="stream-b", redis=cls.redis.addr,
                                  extra=extra)
        for be in (cls.a, cls.b):
            wait_pubsub(be, "up")

    def setUp(self):
        super().setUp()
        self.alice = self.a.login("alice")
        self.bob = self.b.login("bob")

    def open_stream(self, be, sid, **kw):
        # The head is sent once the stream is registered: from here on, a
        # post written anywhere reaches it.
        c = SseClient(be.port, sid=sid, **kw)
        self.addCleanup(c.close)
        self.assertEqual(c.status, 200, "stream: %r" % (c.body[:200],))
        return c

    def post(self, be, sid, text):
        r = be.post("/posts", {"text": text}, sid=sid)
        self.assertStatus(r, 201, "POST /posts")
        return r.json()

    # ------------------------------------------------------------------

    def test_no_session_is_401(self):
        for sid in (None, "0" * 40, "not-a-session"):
            with SseClient(self.b.port, sid=sid) as c:
                self.assertEqual(c.status, 401, "sid=%r" % sid)
                self.assertIn(b"error", c.body)

    def test_stream_headers(self):
        c = self.open_stream(self.b, self.bob)
        self.assertEqual(c.headers.get("content-type"), "text/event-stream")
        self.assertEqual(c.headers.get("cache-control"), "no-cache")
        self.assertIn("chunked", c.headers.get("transfer-encoding", ""))
        self.assertEqual(c.headers.get("x-served-by"), self.b.id)

    def test_post_on_another_backend_arrives_within_a_second(self):
        c = self.open_stream(self.b, self.bob)
        stranger = self.a.login(self.stranger)
        not_followed = self.post(self.a, stranger, "bob does not follow me")
        t0 = time.monotonic()
        followed = self.post(self.a, self.alice, "hello bob, from backend a")
        t_arrived, ev = c.next_event(5.0)
        self.assertIsNotNone(ev, "alice's post never reached bob's stream")
        latency = t_arrived - t0
        sys.stderr.write("\n  delivery A -> Redis -> B: %.1f ms\n" % (latency * 1000))
        # Same publisher, same channel: had the stranger's post been sent it
        # would have come first.
        self.assertEqual(ev["post"]["id"], followed["id"],
                         "first event is alice's, not %r" % (ev["post"],))
        self.assertLess(latency, DELIVERY_MAX_S)
        self.assertEqual(ev["id"], str(followed["id"]))
        self.assertEqual(ev["event"], "post")
        self.assertEqual(ev["post"], {
            "id": followed["id"], "author": "alice",
            "text": "hello bob, from backend a",
            "created_at": followed["created_at"], "likes": 0,
            "liked_by_me": False})
        self.assertPostShape(ev["post"])
        rest = c.events_until_quiet(2 * KEEPALIVE_MS / 1000)
        self.assertNotIn(not_followed["id"], [e["post"]["id"] for e in rest])

    def test_same_backend_and_own_posts_arrive_once(self):
        c = self.open_stream(self.b, self.bob)
        p1 = self.post(self.b, self.bob, "my own post")
        p2 = self.post(self.b, self.b.login("alice"), "alice via backend b")
        got = [e["post"]["id"] for e in c.events_until_quiet(1.0)]
        # local delivery, and the copy that comes back through Redis skipped
        self.assertEqual(got, [p1["id"], p2["id"]])

    def test_every_stream_of_a_follower_gets_it(self):
        streams = [self.open_stream(self.a, self.a.login("bob")),
                   self.open_stream(self.b, self.bob),
                   self.open_stream(self.b, self.b.login("carol"))]
        p = self.post(self.a, self.alice, "to all my followers")
        for i, c in enumerate(streams):
            _, ev = c.next_event(3.0)
            self.assertIsNotNone(ev, "stream %d got nothing" % i)
            self.assertEqual(ev["post"]["id"], p["id"])

    def test_last_event_id_replays_what_was_missed(self):
        c = self.open_stream(self.b, self.bob)
        seen = self.post(self.a, self.alice, "seen live")
        _, ev = c.next_event(3.0)
        self.assertEqual(ev["post"]["id"], seen["id"])
        c.close()
        wait_until(lambda: self.b.readyz()[1]["streams"]["open"] == 0, 3.0,
                   what="the closed stream to go")

        missed = [self.post(self.a, self.alice, "missed %d" % i) for i in range(3)]
        stranger = self.post(self.a, self.a.login(self.stranger), "not for bob")
        c2 = self.open_stream(self.b, self.bob, last_event_id=ev["id"])
        live = self.post(self.a, self.alice, "live after the replay")
        got = [e["post"]["id"] for e in c2.events_until_quiet(1.0)]
        self.assertEqual(got, [p["id"] for p in missed] + [live["id"]])
        self.assertNotIn(stranger["id"], got)

    def test_last_event_id_is_bounded_and_checked(self):
        with SseClient(self.b.port, sid=self.bob, last_event_id="12abc") as c:
            self.assertEqual(c.status, 400)
        with SseClient(self.b.port, sid=self.bob, last_event_id="-5") as c:
            self.assertEqual(c.status, 400)
        # An empty one is no id at all: a plain stream, nothing replayed.
        with SseClient(self.b.port, sid=self.bob, last_event_id="") as c:
            self.assertEqual(c.status, 200)
            self.assertEqual(c.next_block(2.0), {"comment": "keepalive"})
        # From the very start: only the newest FEED_STREAM_REPLAY_MAX (50),
        # oldest first, ending at the newest post of bob's feed.
        c = self.open_stream(self.b, self.bob, last_event_id="1")
        newest = self.b.get("/feed?limit=1", sid=self.bob).json()["posts"][0]["id"]
        got = [int(e["id"]) for e in c.events_until_quiet(0.7)]
        self.assertEqual(len(got), 50)
        self.assertEqual(got, sorted(got))
        self.assertEqual(got[-1], newest)

    def test_keepalive_comments_and_no_idle_timeout(self):
        c = self.open_stream(self.b, self.bob)
        t0 = time.monotonic()
        b = c.next_block(2.0)
        self.assertEqual(b, {"comment": "keepalive"})
        self.assertLess(time.monotonic() - t0, 3 * KEEPALIVE_MS / 1000)
        # Beyond --client-timeout with the client silent: still streaming.
        deadline = time.monotonic() + 2.5 * CLIENT_TIMEOUT_MS / 1000
        comments = 0
        while time.monotonic() < deadline:
            b = c.next_block(1.0)
            self.assertIsNotNone(b, "the stream went quiet or closed")
            comments += 1
        self.assertGreaterEqual(comments, 4)
        p = self.post(self.a, self.alice, "still there?")
        _, ev = c.next_event(2.0)
        self.assertEqual(ev["post"]["id"], p["id"])

    def test_an_http10_client_streams_until_close(self):
        # No chunked encoding before HTTP/1.1: the body is the raw event
        # stream, ended by closing. "keep-alive" must not make it empty.
        s = socket.create_connection((HOST, self.b.port), timeout=3.0)
        self.addCleanup(s.close)
        s.sendall(("GET /feed/stream HTTP/1.0\r\nConnection: keep-alive\r\n"
                   "Cookie: sid=%s\r\n\r\n" % self.bob).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.0 200"), head)
        self.assertNotIn(b"content-length", head.lower())
        self.assertNotIn(b"chunked", head.lower())
        p = self.post(self.a, self.alice, "hello, old client")
        want = ("id: %d\nevent: post\n" % p["id"]).encode()
        deadline = time.monotonic() + 3.0
        while want not in body and time.monotonic() < deadline:
            body += s.recv(4096)
        self.assertIn(want, body)

    def test_a_client_that_leaves_frees_its_stream(self):
        base = self.b.readyz()[1]["streams"]["open"]
        c = self.open_stream(self.b, self.bob)
        self.assertEqual(self.b.readyz()[1]["streams"]["open"], base + 1)
        c.close()
        wait_until(lambda: self.b.readyz()[1]["streams"]["open"] == base, 3.0,
                   what="the stream of a client that left to go")
        self.post(self.a, self.alice, "nobody listens")  # no harm done
        self.assertHealthy(self.b)


def wait_pubsub(be, state, timeout=8.0):
    try:
        wait_until(lambda: be.readyz()[1]["streams"]["pubsub"] == state,
                   timeout, interval=0.05,
                   what='%s "pubsub":"%s"' % (be.name, state))
    except Timeout as exc:
        raise AssertionError("%s\n--- log ---\n%s" % (exc, be.log_tail()))


class FeedStreamLifeTest(ClusterTestCase):
    """Backends of their own, per test: bounds, SIGTERM, memory mode,
    Redis outages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)

    def stream(self, be, sid, **kw):
        c = SseClient(be.port, sid=sid, **kw)
        self.addCleanup(c.close)
        return c

    def test_streams_per_backend_are_bounded(self):
        be = self.start_backend(self.db, name="few-streams", sessions="memory",
                                extra=["--max-streams", 2])
        bob = be.login("bob")
        s1, s2 = self.stream(be, bob), self.stream(be, bob)
        self.assertEqual((s1.status, s2.status), (200, 200))
        with SseClient(be.port, sid=bob) as s3:
            self.assertEqual(s3.status, 503, "a third stream beyond --max-streams 2")
            self.assertRegex(s3.headers.get("retry-after", ""), r"^\d+$")
        self.assertEqual(be.readyz()[1]["streams"]["open"], 2)
        s1.close()
        wait_until(lambda: be.readyz()[1]["streams"]["open"] == 1, 3.0,
                   what="a closed stream to free its place")
        self.assertEqual(self.stream(be, bob).status, 200)

    def test_an_open_stream_holds_no_work_slot(self):
        # One request at a time, none waiting: were the stream counted as
        # working, every other request would get 503.
        be = self.start_backend(self.db, name="one-slot", sessions="memory",
                                extra=["--capacity", 1, "--queue", 0])
        bob = be.login("bob")
        c = self.stream(be, bob)
        self.assertEqual(c.status, 200)
        for _ in range(3):
            self.assertStatus(be.get("/me", sid=bob), 200, "/me beside a stream")
        r = be.post("/posts", {"text": "while streaming"}, sid=bob)
        self.assertStatus(r, 201)
        _, ev = c.next_event(2.0)
        self.assertEqual(ev["post"]["id"], r.json()["id"])
        self.assertEqual(be.readyz()[1]["queue"]["active"], 0)

    def test_a_slow_client_is_dropped(self):
        be = self.start_backend(self.db, name="slow-client", sessions="memory",
                                extra=["--stream-buffer", 4096,
                                       "--stream-keepalive-ms", 60000])
        bob, alice = be.login("bob"), be.login("alice")
        # A client that reads nothing after the head, with a small window.
        slow = self.stream(be, bob, rcvbuf=4096)
        self.assertEqual(slow.status, 200)
        fast = self.stream(be, be.login("carol"))
        got = []
        reader = threading.Thread(
            target=lambda: got.extend(fast.events_until_quiet(1.5)), daemon=True)
        reader.start()
        text = "x" * 280
        sent = 0
        while be.readyz()[1]["streams"]["dropped"] == 0:
            self.assertLess(sent, 3000, "the slow stream was never dropped")
            self.assertStatus(be.post("/posts", {"text": text}, sid=alice), 201)
            sent += 1
        sys.stderr.write("\n  slow client dropped after %d posts\n" % sent)
        self.assertEqual(be.readyz()[1]["streams"]["open"], 1, "the fast one stays")
        self.assertHealthy(be)
        # The fast reader, reading all along, got every post.
        reader.join(10.0)
        self.assertEqual(len(got), sent)
        # The slow one's connection is closed: draining it ends in EOF.
        deadline = time.monotonic() + 5.0
        while not slow.eof and time.monotonic() < deadline:
            slow._recv(deadline)
            slow.raw = b""
        self.assertTrue(slow.eof, "the dropped stream's connection stays open")

    def test_memory_mode_delivers_on_the_same_backend(self):
        be = self.start_backend(self.db, name="stream-mem", sessions="memory",
                                extra=["--stream-keepalive-ms", KEEPALIVE_MS])
        self.assertEqual(be.readyz()[1]["streams"]["pubsub"], "off")
        c = self.stream(be, be.login("bob"))
        self.assertEqual(c.status, 200)
        t0 = time.monotonic()
        r = be.post("/posts", {"text": "memory mode push"}, sid=be.login("alice"))
        self.assertStatus(r, 201)
        t, ev = c.next_event(2.0)
        self.assertIsNotNone(ev)
        self.assertEqual(ev["post"]["id"], r.json()["id"])
        self.assertLess(t - t0, DELIVERY_MAX_S)

    def test_sigterm_ends_streams_and_exits_promptly(self):
        be = self.start_backend(self.db, name="stream-stop", sessions="memory")
        streams = [self.stream(be, be.login(u)) for u in ("bob", "carol", "bob")]
        for c in streams:
            self.assertEqual(c.status, 200)
        t0 = time.monotonic()
        be.signal(signal.SIGTERM)
        for i, c in enumerate(streams):
            while c.next_block(3.0) is not None:
                pass
            self.assertTrue(c.ended, "stream %d: no terminating chunk" % i)
            c._recv(time.monotonic() + 2.0)
            self.assertTrue(c.eof, "stream %d: connection left open" % i)
        self.assertEqual(be.wait(2.0), 0)
        took = time.monotonic() - t0
        self.assertLess(took, 2.0, "stop took %.2fs" % took)

    def test_redis_dies_streams_stay_and_resume_when_it_returns(self):
        redis = self.start_redis(name="redis-stream")
        extra = ["--stream-keepalive-ms", KEEPALIVE_MS]
        a = self.start_backend(self.db, name="outage-a", redis=redis.addr, extra=extra)
        b = self.start_backend(self.db, name="outage-b", redis=redis.addr, extra=extra)
        for be in (a, b):
            wait_pubsub(be, "up")
        c = self.stream(b, b.login("bob"))
        self.assertEqual(c.status, 200)

        redis.kill()  # SIGKILL: no goodbye
        for be in (a, b):
            wait_pubsub(be, "down", timeout=3.0)
        # The stream stays open: keepalives keep coming, nobody crashed.
        for _ in range(3):
            self.assertEqual(c.next_block(2.0), {"comment": "keepalive"})
        self.assertHealthy(a)
        self.assertHealthy(b)
        # (Posts cannot be written meanwhile: sessions live in the same Redis.)

        again = RedisServer(self.tmp, port=redis.port, name="redis-stream-again")
        self._test_procs.append(again)
        for be in (a, b):
            wait_pubsub(be, "up", timeout=8.0)
        alice = a.login("alice")  # the restarted Redis is empty
        t0 = time.monotonic()
        r = a.post("/posts", {"text": "after the outage"}, sid=alice)
        self.assertStatus(r, 201)
        t, ev = c.next_event(3.0)
        self.assertIsNotNone(ev, "no delivery after Redis came back")
        self.assertEqual(ev["post"]["id"], r.json()["id"])
        self.assertLess(t - t0, DELIVERY_MAX_S)

    def test_a_hung_redis_is_noticed_and_left_behind(self):
        redis = self.start_redis(name="redis-hung")
        a = self.start_backend(self.db, name="hung-a", redis=redis.addr)
        b = self.start_backend(self.db, name="hung-b", redis=redis.addr)
        for be in (a, b):
            wait_pubsub(be, "up")
        c = self.stream(b, b.login("bob"))
        alice = a.login("alice")
        redis.signal(signal.SIGSTOP)
        self.addCleanup(redis.signal, signal.SIGCONT)
        # The subscriber's heartbeat goes unanswered: it gives up on the link.
        wait_pubsub(b, "down", timeout=4.0)
        redis.signal(signal.SIGCONT)
        for be in (a, b):
            wait_pubsub(be, "up", timeout=8.0)
        r = a.post("/posts", {"text": "after the hang"}, sid=alice)
        self.assertStatus(r, 201)
        _, ev = c.next_event(3.0)
        self.assertIsNotNone(ev, "no delivery after Redis resumed")
        self.assertEqual(ev["post"]["id"], r.json()["id"])


if __name__ == "__main__":
    unittest.main()
