"""A person checks what headers sb-lb adds, keeps and strips.

The backend is misbehave.py in count mode: it records every request and
echoes the header lines it received, so each test reads what a backend
really got. X-Forwarded-For is appended, X-Forwarded-Proto set,
X-Request-Id generated or kept, Host passed through, hop-by-hop headers
dropped both ways; pipelined requests are answered in order.
"""

import unittest
import uuid

from lbharness import LbTestCase, RawClient

HOP_BY_HOP = ("connection", "keep-alive", "te", "proxy-connection", "trailer",
              "upgrade", "proxy-authenticate", "proxy-authorization")


def headers_named(headers, name):
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


class HeadersTest(LbTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.count = cls.class_misbehave("count", name="count")
        cls.hoppy = cls.class_misbehave("count", name="hoppy", hop_headers=True)

    def setUp(self):
        super().setUp()
        self.lb = self.start_lb([self.count], workers=2)

    def seen(self, path):
        """The one request the backend recorded for path."""
        got = self.count.requests_matching(path=path)
        self.assertEqual(len(got), 1, "backend got %s %d times" % (path, len(got)))
        return got[0]

    def send(self, extra_headers, host="lb.example:8080", method="GET"):
        path = "/h-%s" % uuid.uuid4().hex[:12]
        with RawClient(self.lb.port) as c:
            head = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, host)
            head += "".join("%s: %s\r\n" % kv for kv in extra_headers)
            c.send((head + "\r\n").encode("latin-1"))
            r = c.read_response()
        self.assertStatus(r, 200, "GET %s with %r" % (path, extra_headers))
        return path, r, self.seen(path)

    def test_x_forwarded_for_is_added(self):
        _, _, got = self.send([])
        self.assertEqual(headers_named(got["headers"], "X-Forwarded-For"),
                         ["127.0.0.1"])

    def test_x_forwarded_for_is_appended_to(self):
        _, _, got = self.send([("X-Forwarded-For", "10.9.9.9")])
        self.assertEqual(headers_named(got["headers"], "X-Forwarded-For"),
                         ["10.9.9.9, 127.0.0.1"])

    def test_two_x_forwarded_for_lines_keep_their_order(self):
        # RFC 9110 5.3: field lines of one name form one list, in order; a
        # proxy must not reorder them. The backend must see the client's
        # list in order, with the LB's peer address last.
        _, _, got = self.send([("X-Forwarded-For", "10.0.0.1"),
                               ("X-Forwarded-For", "10.0.0.2")])
        lines = headers_named(got["headers"], "X-Forwarded-For")
        joined = ", ".join(lines)
        self.assertEqual(joined, "10.0.0.1, 10.0.0.2, 127.0.0.1",
                         "X-Forwarded-For lines the backend got: %r" % lines)

    def test_x_forwarded_proto_is_http_and_not_the_clients(self):
        _, _, got = self.send([])
        self.assertEqual(headers_named(got["headers"], "X-Forwarded-Proto"), ["http"])
        _, _, got = self.send([("X-Forwarded-Proto", "https")])
        self.assertEqual(headers_named(got["headers"], "X-Forwarded-Proto"), ["http"],
                         "a client must not make the backend think it used TLS")

    def test_x_request_id_is_generated_when_absent(self):
        ids = []
        for _ in range(3):
            path, r, got = self.send([])
            rid = headers_named(got["headers"], "X-Request-Id")
            self.assertEqual(len(rid), 1, got["headers"])
            self.assertEqual(r.header("X-Request-Id"), rid[0],
                             "the client is told the id the backend got")
            self.assertRegex(rid[0], r"^[A-Za-z0-9._:-]{8,128}$")
            ids.append(rid[0])
            e = self.lb.wait_access(lambda e, p=path: e["path"] == p)
            self.assertEqual(e["request_id"], rid[0],
                             "the access log names the id the backend got")
        self.assertEqual(len(set(ids)), 3, "request ids repeat: %r" % ids)

    def test_a_valid_x_request_id_is_kept(self):
        rid = "client-req.42:" + uuid.uuid4().hex
        path, _, got = self.send([("X-Request-Id", rid)])
        self.assertEqual(headers_named(got["headers"], "X-Request-Id"), [rid])
        e = self.lb.wait_access(lambda e: e["path"] == path)
        self.assertEqual(e["request_id"], rid)

    def test_an_invalid_x_request_id_is_replaced(self):
        for bad in ("has spaces in it", "x" * 300, "semi;colon", "quote\"d"):
            path, _, got = self.send([("X-Request-Id", bad)])
            rid = headers_named(got["headers"], "X-Request-Id")
            self.assertEqual(len(rid), 1, "X-Request-Id lines: %r" % rid)
            self.assertNotEqual(rid[0], bad)
            self.assertRegex(rid[0], r"^[A-Za-z0-9._:-]{8,128}$")
            e = self.lb.wait_access(lambda e, p=path: e["path"] == p)
            self.assertEqual(e["request_id"], rid[0])

    def test_the_backend_gets_exactly_one_x_request_id(self):
        # A client sending two X-Request-Id lines must not get an unchecked
        # id past the LB: the backend sees one id, the one the LB logged.
        path, _, got = self.send([("X-Request-Id", "first-id"),
                                  ("X-Request-Id", "second id with spaces")])
        rid = headers_named(got["headers"], "X-Request-Id")
        e = self.lb.wait_access(lambda e: e["path"] == path)
        self.assertEqual(rid, [e["request_id"]],
                         "X-Request-Id lines the backend got (access log says %r)"
                         % e["request_id"])

    def test_host_is_passed_through_unchanged(self):
        for host in ("lb.example:8080", "Feed.Example.COM", "127.0.0.1"):
            _, _, got = self.send([], host=host)
            self.assertEqual(headers_named(got["headers"], "Host"), [host])

    def test_hop_by_hop_request_headers_are_not_forwarded(self):
        _, _, got = self.send([
            ("Connection", "Foo, X-Private"),
            ("Foo", "bar"),
            ("X-Private", "secret"),
            ("Keep-Alive", "timeout=30"),
            ("TE", "trailers"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("X-End-To-End", "kept"),
        ])
        names = [k.lower() for k, _ in got["headers"]]
        for hop in ("foo", "x-private", "keep-alive", "te", "proxy-connection",
                    "proxy-authorization"):
            self.assertNotIn(hop, names, "%s was forwarded: %r" % (hop, got["headers"]))
        for v in headers_named(got["headers"], "Connection"):
            self.assertNotRegex(v.lower(), "foo|x-private",
                                "the client's Connection header was forwarded")
        self.assertEqual(headers_named(got["headers"], "X-End-To-End"), ["kept"])

    def test_names_in_a_second_connection_line_are_not_forwarded(self):
        _, _, got = self.send([
            ("Connection", "Foo"),
            ("Foo", "bar"),
            ("Connection", "X-Second"),
            ("X-Second", "secret"),
            ("X-End-To-End", "kept"),
        ])
        names = [k.lower() for k, _ in got["headers"]]
        self.assertNotIn("foo", names, got["headers"])
        self.assertNotIn("x-second", names, got["headers"])
        self.assertEqual(headers_named(got["headers"], "X-End-To-End"), ["kept"])

    def test_hop_by_hop_response_headers_are_not_passed_back(self):
        lb = self.start_lb([self.hoppy], workers=1)
        with RawClient(lb.port) as c:
            for _ in range(2):   # and the connection stays usable
                r = c.get("/hops")
                self.assertStatus(r, 200)
                self.assertEqual(r.header("X-Served-By"), "hoppy")
                names = [k.lower() for k, _ in r.headers]
                for hop in ("keep-alive", "proxy-connection", "x-backend-secret"):
                    self.assertNotIn(hop, names, "%s reached the client: %r"
                                     % (hop, r.headers))
                for v in r.header_all("Connection"):
                    self.assertNotIn("x-backend-secret", v.lower())
                self.assertEqual(r.header("X-End-To-End"), "kept")

    def test_pipelined_requests_are_answered_in_order(self):
        tag = uuid.uuid4().hex[:8]
        paths = ["/pipe-%d-%s" % (i, tag) for i in range(3)]
        data = b"".join(("GET %s HTTP/1.1\r\nHost: lb\r\n\r\n" % p).encode()
                        for p in paths)
        with RawClient(self.lb.port) as c:
            c.send(data)     # all three in one write
            got = [c.read_response(timeout=5.0) for _ in paths]
            # The connection is still open for a fourth.
            r4 = c.get("/pipe-4-%s" % tag)
        for p, r in zip(paths, got):
            self.assertStatus(r, 200)
            self.assertEqual(r.json()["path"], p, "answers out of order")
        self.assertStatus(r4, 200)

    def test_pipelined_post_with_body_between_gets(self):
        tag = uuid.uuid4().hex[:8]
        body = b'{"text":"between"}'
        data = (("GET /pa-%s HTTP/1.1\r\nHost: lb\r\n\r\n" % tag).encode() +
                ("POST /pb-%s HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json"
                 "\r\nContent-Length: %d\r\n\r\n" % (tag, len(body))).encode() + body +
                ("GET /pc-%s HTTP/1.1\r\nHost: lb\r\n\r\n" % tag).encode())
        with RawClient(self.lb.port) as c:
            c.send(data)
            got = [c.read_response(timeout=5.0) for _ in range(3)]
        self.assertEqual([r.json()["path"] for r in got],
                         ["/pa-%s" % tag, "/pb-%s" % tag, "/pc-%s" % tag])
        self.assertEqual(got[1].json()["body"], body.decode())
        self.assertEqual(got[1].json()["method"], "POST")


if __name__ == "__main__":
    unittest.main()
