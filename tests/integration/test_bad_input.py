"""Someone sends the backend garbage: broken JSON, huge bodies, wrong methods,
malformed HTTP. Every answer is a clean 4xx, never a 500 and never a crash."""

import http.client
import json
import socket
import unittest

from harness import (HOST, ClusterTestCase, raw_exchange, request, seed_db,
                     status_of)


class BadInputTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()
        cls.be = cls.class_backend(cls.db, name="backend-bad", redis=cls.redis.addr)
        cls.sid = cls.be.login("alice")

    def tearDown(self):
        # whatever the test sent, the process still answers
        self.assertHealthy(self.be)
        super().tearDown()

    def test_login_with_broken_json_is_400(self):
        bodies = [b"", b"{", b"not json", b'{"username": "alice",}',
                  b"\xff\xfe\x00garbage", b'{"username": "alice"} trailing']
        for body in bodies:
            with self.subTest(body=body):
                r = self.be.post("/login", body)
                self.assertJsonError(r, 400, "login body %r" % body)
                self.assertServedBy(r, self.be)

    def test_json_that_is_not_an_object_is_400(self):
        for body in (b"[]", b'["alice", "switchboard"]', b'"alice"', b"42",
                     b"null", b"true"):
            with self.subTest(body=body):
                self.assertJsonError(self.be.post("/login", body), 400,
                                     "login body %r" % body)
                self.assertJsonError(self.be.post("/posts", body, sid=self.sid),
                                     400, "post body %r" % body)

    def test_missing_or_mistyped_fields_are_400(self):
        bodies = [{}, {"username": "alice"}, {"password": "switchboard"},
                  {"username": 1, "password": "switchboard"},
                  {"username": "alice", "password": None},
                  {"username": ["alice"], "password": "switchboard"},
                  {"username": "alice", "password": {"x": 1}}]
        for body in bodies:
            with self.subTest(body=body):
                self.assertJsonError(self.be.post("/login", body), 400,
                                     "login %r" % body)

    def test_odd_but_valid_json_never_500(self):
        bodies = [
            json.dumps({"username": "alice\u0000", "password": "switchboard"}),
            json.dumps({"username": "x" * 5000, "password": "switchboard"}),
            json.dumps({"username": "alice", "password": "p" * 5000}),
            json.dumps({"username": "\u00e9\u4e2d\U0001f600", "password": "x"}),
            "[" * 5000 + "]" * 5000,                   # deep nesting
            '{"username": "alice", "password": "switchboard", "extra": ' + "[" * 3000 + "]" * 3000 + "}",
        ]
        for body in bodies:
            with self.subTest(body=body[:40]):
                r = self.be.post("/login", body)
                self.assertIn(r.status, (400, 401),
                              "login %r...: %d %r" % (body[:40], r.status, r.body[:200]))
                r.json()

    def test_huge_body_is_413(self):
        big = json.dumps({"username": "alice", "password": "x" * 200_000})
        r = self.be.post("/login", big, timeout=5)
        self.assertJsonError(r, 413, "200 KB login body")
        r = self.be.post("/posts", json.dumps({"text": "y" * 200_000}),
                         sid=self.sid, timeout=5)
        self.assertEqual(r.status, 413, "200 KB post body: %r" % r)

    def test_chunked_huge_body_is_413(self):
        # no Content-Length to check up front: the limit must hold anyway
        conn = http.client.HTTPConnection(HOST, self.be.port, timeout=5)
        try:
            conn.request("POST", "/login", body=(b"a" * 8192 for _ in range(25)),
                         headers={"Content-Type": "application/json"},
                         encode_chunked=True)
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 413, "200 KB chunked body")
        finally:
            conn.close()

    def test_megabyte_body_is_413(self):
        data = (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (1 << 20)) + b"x" * (1 << 20)
        got, closed = raw_exchange(self.be.port, data, timeout=5.0, send_in_thread=True)
        self.assertEqual(status_of(got), 413, "1 MB body: %r" % got[:200])

    def test_max_body_flag_sets_the_limit(self):
        be = self.start_backend(self.db, name="backend-small-body",
                                redis=self.redis.addr, extra=["--max-body", 200])
        ok = {"username": "alice", "password": "switchboard"}
        self.assertStatus(be.post("/login", ok), 200, "a small body fits")
        big = dict(ok, pad="p" * 300)
        self.assertJsonError(be.post("/login", big), 413, "body over --max-body 200")
        self.assertHealthy(be)

    def test_body_just_under_the_limit_is_read(self):
        # 60 KB of valid JSON under the default 64 KB limit: not 413
        body = json.dumps({"username": "alice", "password": "switchboard",
                           "pad": "p" * 60_000})
        r = self.be.post("/login", body)
        self.assertNotEqual(r.status, 413, "a body under --max-body is accepted")
        self.assertIn(r.status, (200, 400), r)

    def test_wrong_method_is_405_with_allow(self):
        cases = [("GET", "/login", "POST"), ("GET", "/logout", "POST"),
                 ("DELETE", "/me", "GET"), ("POST", "/feed", "GET"),
                 ("GET", "/posts", "POST"), ("PUT", "/posts/1", "GET"),
                 ("GET", "/posts/1/like", "POST"), ("POST", "/healthz", "GET"),
                 ("DELETE", "/users/alice", "GET")]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                r = self.be.post(path) if method == "POST" else \
                    self._request(method, path)
                self.assertJsonError(r, 405, "%s %s" % (method, path))
                allow = r.header("Allow")
                self.assertIsNotNone(allow, "405 without Allow")
                self.assertIn(allowed, [m.strip() for m in allow.split(",")],
                              "Allow: %s" % allow)
                self.assertServedBy(r, self.be)

    def _request(self, method, path, **kw):
        return request(self.be.port, method, path, **kw)

    def test_unknown_path_is_404_json(self):
        for path in ("/nope", "/users", "/users/alice/extra", "/feed/x/y",
                     "/posts/1/likes", "/.env", "/%00", "/login/"):
            with self.subTest(path=path):
                r = self.be.get(path)
                self.assertJsonError(r, 404, path)
                self.assertServedBy(r, self.be)

    def test_double_slash_path_is_not_the_home_page(self):
        # "//nope" is an origin-form path (RFC 9112: absolute-path allows
        # empty segments), not a URI with an authority; it names no endpoint.
        # Either 404, or the path with its slashes merged (/feed -> 401 without
        # a session); never the HTML home page.
        for path, allowed in (("//nope", (404,)), ("//feed", (401, 404)),
                              ("//me", (401, 404))):
            with self.subTest(path=path):
                r = self.be.get(path)
                self.assertIn(r.status, allowed, "GET %s: %d %r"
                              % (path, r.status, r.body[:80]))
                self.assertIn("error", r.json())

    def assertRaw400Closed(self, data):
        got, closed = raw_exchange(self.be.port, data, timeout=3.0)
        self.assertEqual(status_of(got), 400, "raw %r -> %r" % (data[:60], got[:200]))
        self.assertTrue(closed, "connection must be closed after %r" % data[:60])

    def test_garbage_request_is_400_and_closed(self):
        self.assertRaw400Closed(b"GARBAGE\r\n\r\n")

    def test_bad_request_lines_are_400_and_closed(self):
        for data in (b"GET\r\n\r\n",
                     b"GET /healthz\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nNoColonHere\r\n\r\n",
                     b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                     b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"):
            with self.subTest(data=data):
                self.assertRaw400Closed(data)

    def test_binary_junk_does_not_crash(self):
        got, closed = raw_exchange(self.be.port, bytes(range(256)) * 4 + b"\r\n\r\n")
        self.assertTrue(closed, "junk: connection left open")
        if got:
            self.assertEqual(status_of(got), 400, got[:200])

    def test_very_long_url_is_4xx(self):
        data = b"GET /healthz?pad=" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        got, closed = raw_exchange(self.be.port, data, timeout=5.0, send_in_thread=True)
        st = status_of(got)
        self.assertIsNotNone(st, "no answer to a 200 KB URL (closed=%s)" % closed)
        self.assertTrue(400 <= st < 500, "200 KB URL: got %r" % got[:200])

    def test_many_headers_are_4xx(self):
        hdrs = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 100) for i in range(2000))
        data = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n"
        got, closed = raw_exchange(self.be.port, data, timeout=5.0, send_in_thread=True)
        st = status_of(got)
        self.assertIsNotNone(st, "no answer to 2000 headers (closed=%s)" % closed)
        self.assertTrue(400 <= st < 500, "2000 headers (200 KB): got %r" % got[:200])

    def test_half_sent_request_does_not_block_others(self):
        s = socket.create_connection((HOST, self.be.port), timeout=3)
        try:
            s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            r = self.be.get("/users/alice", timeout=2.0)
            self.assertStatus(r, 200, "another client while one is stuck mid-body")
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
