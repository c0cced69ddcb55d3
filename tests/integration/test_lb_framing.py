"""A person (or an attacker) sends requests with hostile framing.

Every request-smuggling shape RFC 9112 asks a proxy to refuse gets a 400
from sb-lb itself and a closed connection, and never reaches the backend;
limits give 431 (head), 414 (URI), 413 (body); sb-lb stays up and serves
the next client. A valid chunked POST goes through intact.

Each case gets its own fresh sb-lb (one crash must not hide the other
cases) in front of one misbehave.py backend in count mode, which records
every whole request it receives. Every case uses its own path, so "the
backend never saw it" is a lookup in that record.
"""

import hashlib
import json
import re
import unittest
import uuid

from harness import raw_exchange, status_of
from lbharness import LbTestCase, RawClient

MAX_BODY = 1000


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().decode("latin-1").lower()] = v.strip().decode("latin-1")
    return headers, body


def req(head_lines, body=b"", start=None):
    """Raw request bytes: the start line (with PATH as a placeholder), head
    lines joined by CRLF, an empty line, then body."""
    return (start or b"POST PATH HTTP/1.1") + b"\r\n" + \
        b"".join(line + b"\r\n" for line in head_lines) + b"\r\n" + body


# name -> (raw request with PATH in it, status sb-lb must answer)
HOSTILE = {
    "content_length_with_transfer_encoding": (req(
        [b"Host: lb", b"Content-Length: 5", b"Transfer-Encoding: chunked"],
        b"0\r\n\r\n"), 400),
    "two_different_content_lengths": (req(
        [b"Host: lb", b"Content-Length: 5", b"Content-Length: 6"], b"hello!"), 400),
    "content_length_list_5_6": (req(
        [b"Host: lb", b"Content-Length: 5, 6"], b"hello!"), 400),
    "content_length_negative": (req(
        [b"Host: lb", b"Content-Length: -1"]), 400),
    "content_length_with_plus_sign": (req(
        [b"Host: lb", b"Content-Length: +5"], b"hello"), 400),
    "unknown_transfer_coding_gzip": (req(
        [b"Host: lb", b"Transfer-Encoding: gzip"], b"abc"), 400),
    "chunked_twice": (req(
        [b"Host: lb", b"Transfer-Encoding: chunked, chunked"], b"0\r\n\r\n"), 400),
    "chunked_not_last": (req(
        [b"Host: lb", b"Transfer-Encoding: chunked, gzip"], b"0\r\n\r\n"), 400),
    "transfer_encoding_in_http_1_0": (req(
        [b"Host: lb", b"Transfer-Encoding: chunked"], b"0\r\n\r\n",
        start=b"POST PATH HTTP/1.0"), 400),
    "bad_chunk_size": (req(
        [b"Host: lb", b"Transfer-Encoding: chunked"], b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk_size_overflow": (req(
        [b"Host: lb", b"Transfer-Encoding: chunked"],
        b"fffffffffffffffff1\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk_data_without_crlf": (req(
        [b"Host: lb", b"Transfer-Encoding: chunked"], b"5\r\nhelloXX0\r\n\r\n"), 400),
    "obs_fold": (req(
        [b"Host: lb", b"X-Folded: a", b"  b"], start=b"GET PATH HTTP/1.1"), 400),
    "whitespace_before_colon": (req(
        [b"Host : lb"], start=b"GET PATH HTTP/1.1"), 400),
    "whitespace_before_colon_in_transfer_encoding": (req(
        [b"Host: lb", b"Transfer-Encoding : chunked"], b"0\r\n\r\n"), 400),
    "nul_in_a_header": (req(
        [b"Host: lb", b"X-Nul: a\x00b"], start=b"GET PATH HTTP/1.1"), 400),
    "bare_cr_in_a_header": (req(
        [b"Host: lb", b"X-Cr: a\rb"], start=b"GET PATH HTTP/1.1"), 400),
    "bare_lf_line_ends": (
        b"GET PATH HTTP/1.1\nHost: lb\nX-A: 1\n\n", 400),
    "no_host": (req([], start=b"GET PATH HTTP/1.1"), 400),
    "two_hosts": (req([b"Host: a", b"Host: b"], start=b"GET PATH HTTP/1.1"), 400),
    "head_over_16_kib": (req(
        [b"Host: lb"] + [b"X-Pad-%d: %s" % (i, b"a" * 200) for i in range(90)],
        start=b"GET PATH HTTP/1.1"), 431),
    "too_many_headers": (req(
        [b"Host: lb"] + [b"X-H%d: 1" % i for i in range(150)],
        start=b"GET PATH HTTP/1.1"), 431),
    "uri_over_8_kib": (req(
        [b"Host: lb"], start=b"GET PATH?" + b"u" * 9000 + b" HTTP/1.1"), 414),
    "body_over_max_body": (req(
        [b"Host: lb", b"Content-Length: %d" % (MAX_BODY * 2)], b"a" * (MAX_BODY * 2)), 413),
    "chunked_body_over_max_body": (req(
        [b"Host: lb", b"Transfer-Encoding: chunked"],
        b"".join(b"100\r\n" + b"a" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"), 413),
}


class FramingTest(LbTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.count = cls.class_misbehave("count", name="count")

    def check_rejected(self, case):
        raw_req, status = HOSTILE[case]
        lb = self.start_lb([self.count], max_body=MAX_BODY, workers=1)
        path = "/%s-%s" % (case.replace("_", "-"), uuid.uuid4().hex[:8])
        data = raw_req.replace(b"PATH", path.encode(), 1)
        got, closed = raw_exchange(lb.port, data, timeout=3.0, send_in_thread=True)
        self.assertEqual(status_of(got), status, "%s: answer %r" % (case, got[:300]))
        headers, body = split_response(got)
        self.assertEqual(headers.get("x-served-by"), "sb-lb",
                         "%s: the LB must answer itself: %r" % (case, got[:300]))
        err = json.loads(body.decode())
        self.assertEqual(err.get("status"), status)
        self.assertTrue(err.get("error"))
        self.assertTrue(closed, "%s: the LB must close the connection after %d"
                        % (case, status))
        # sb-lb is still up and serving, and the backend never got the case.
        after = "/after-%s" % uuid.uuid4().hex[:8]
        try:
            r = lb.get(after, timeout=3.0)
        except OSError as exc:
            try:
                lb.wait(2.0)
            except AssertionError:
                pass
            self.fail("no answer after %s (%r); sb-lb %s" % (
                case, exc, "died (exit %s)" % lb.returncode if not lb.alive()
                else "is still running"))
        self.assertStatus(r, 200, "a valid request after %s" % case)
        self.assertEqual(len(self.count.requests_matching(path=after)), 1)
        seen = [e for e in self.count.requests() if e["path"].startswith(path)]
        self.assertEqual(seen, [], "%s reached the backend" % case)

    for _case in HOSTILE:
        def _test(self, case=_case):
            self.check_rejected(case)
        _test.__name__ = "test_%s_is_refused" % _case
        _test.__doc__ = None
        locals()[_test.__name__] = _test
    del _case, _test

    # RFC 9110 8.6 / RFC 9112 6.3: a Content-Length list of equal values
    # ("5, 5", or two equal lines) must be rejected, or replaced by one
    # valid Content-Length before the message is forwarded; never passed on
    # as it came (a backend may frame it differently).
    def check_equal_content_lengths(self, lines):
        lb = self.start_lb([self.count], max_body=MAX_BODY, workers=1)
        path = "/dup-cl-%s" % uuid.uuid4().hex[:8]
        data = req([b"Host: lb"] + lines, b"hello").replace(b"PATH", path.encode())
        got, _ = raw_exchange(lb.port, data, timeout=3.0, send_in_thread=True)
        headers, _ = split_response(got)
        seen = self.count.requests_matching(path=path)
        if status_of(got) == 400 and headers.get("x-served-by") == "sb-lb":
            self.assertEqual(seen, [])
            return
        self.assertEqual(len(seen), 1, "%r: %r" % (lines, got[:200]))
        cls = [v for k, v in seen[0]["headers"] if k.lower() == "content-length"]
        self.assertEqual(cls, ["5"], "%r: Content-Length lines the backend got" % lines)
        self.assertEqual(seen[0]["body"], "hello")

    def test_content_length_list_5_5_is_refused_or_made_one(self):
        self.check_equal_content_lengths([b"Content-Length: 5, 5"])

    def test_two_equal_content_length_lines_are_refused_or_made_one(self):
        self.check_equal_content_lengths([b"Content-Length: 5", b"Content-Length: 5"])

    def test_a_valid_chunked_post_passes_intact(self):
        lb = self.start_lb([self.count], workers=1)
        chunks = [b"hello ", b"chunked ", b"world", b"!" * 300]
        body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        path = "/chunked-%s" % uuid.uuid4().hex[:8]
        with RawClient(lb.port) as c:
            c.send(req([b"Host: lb", b"Transfer-Encoding: chunked",
                        b"Content-Type: text/plain"], body).replace(
                            b"PATH", path.encode()))
            r = c.read_response(timeout=5.0)
            # and the connection carries on
            r2 = c.get("/after-chunked")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["body"].encode("latin-1"), b"".join(chunks))
        self.assertStatus(r2, 200)
        seen = self.count.requests_matching(path=path)
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0]["body"].encode("latin-1"), b"".join(chunks))

    def test_a_large_chunked_post_streams_through_intact(self):
        # Larger than what the LB holds for replay and than its high-water
        # mark: the body is streamed, and must arrive byte for byte.
        lb = self.start_lb([self.count], workers=1)
        payload = hashlib.sha256(b"seed").hexdigest().encode() * 20000   # 1.28 MB
        pieces = [payload[i:i + 65536] for i in range(0, len(payload), 65536)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        path = "/big-chunked-%s" % uuid.uuid4().hex[:8]
        with RawClient(lb.port, timeout=20.0) as c:
            c.send(req([b"Host: lb", b"Transfer-Encoding: chunked"], body).replace(
                b"PATH", path.encode()))
            r = c.read_response(timeout=20.0)
        self.assertStatus(r, 200)
        got = r.json()
        self.assertEqual(got["body_len"], len(payload))
        self.assertEqual(hashlib.sha256(got["body"].encode("latin-1")).hexdigest(),
                         hashlib.sha256(payload).hexdigest())

    def test_response_carries_no_smuggled_second_response(self):
        # A CL+TE request with a second request hidden in its body: the LB
        # answers 400 and closes, so the hidden request is never served.
        lb = self.start_lb([self.count], workers=1)
        hidden = "/hidden-%s" % uuid.uuid4().hex[:8]
        smuggled = ("GET %s HTTP/1.1\r\nHost: lb\r\n\r\n" % hidden).encode()
        body = b"0\r\n\r\n" + smuggled
        data = req([b"Host: lb", b"Content-Length: %d" % len(body),
                    b"Transfer-Encoding: chunked"], body).replace(b"PATH", b"/front")
        got, closed = raw_exchange(lb.port, data, timeout=3.0, send_in_thread=True)
        self.assertEqual(status_of(got), 400)
        self.assertTrue(closed)
        self.assertEqual(len(re.findall(rb"HTTP/1\.[01] \d{3}", got)), 1,
                         "more than one response: %r" % got[:400])
        self.assertEqual(self.count.requests_matching(path=hidden), [])


if __name__ == "__main__":
    unittest.main()
