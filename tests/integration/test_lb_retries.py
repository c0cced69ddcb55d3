"""A person sends requests while a backend refuses, resets or dies mid-answer.

The rules (issue 3): retry on another backend always when the request never
reached a backend; after it was sent but before any response byte only for
idempotent methods or with an Idempotency-Key; never once response bytes
went out to the client; --retries 0 turns retries off.

Backends are misbehave.py processes that record every request they get, so
"no duplicate" is counted on the backends themselves. Health checks are off
(--no-health) where a test needs a broken backend to stay in the rotation;
with --no-health the LB has no passive checks either, and round-robin sends
the first request to the first --backend.
"""

import json
import unittest
import uuid

from lbharness import LbTestCase, RawClient, closed_port


class RetriesTest(LbTestCase):

    def tag(self):
        return uuid.uuid4().hex[:12]

    def log_entry(self, lb, path):
        return lb.wait_access(lambda e: e["path"] == path,
                              what="access-log line for %s" % path)

    def test_post_to_a_refused_backend_is_retried_elsewhere(self):
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([closed_port(), count], no_health=True, workers=1)
        paths = []
        for i in range(4):
            path = "/refused-%d-%s" % (i, self.tag())
            body = {"n": i}
            r = lb.post(path, body=body)
            self.assertStatus(r, 200, "POST %s" % path)
            self.assertEqual(r.header("X-Served-By"), "count")
            self.assertEqual(json.loads(r.json()["body"]), body)
            paths.append(path)
        for path in paths:
            self.assertEqual(len(count.requests_matching(path=path)), 1,
                             "%s reached the backend once" % path)
        attempts = [int(self.log_entry(lb, p)["attempts"]) for p in paths]
        # The first goes to the closed port first (round-robin starts at the
        # first --backend); without health checks the closed port stays in
        # the rotation, so others may try it first too.
        self.assertEqual(attempts[0], 2, "attempts per request: %r" % attempts)
        self.assertTrue(all(a in (1, 2) for a in attempts), attempts)
        self.assertEqual(lb.stats()["retries"], attempts.count(2))

    def test_post_without_key_to_a_backend_that_dies_gets_502_once(self):
        reset = self.start_misbehave("reset-after-request", name="reset")
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([reset, count], no_health=True, workers=1)
        path = "/posts-%s" % self.tag()
        r = lb.post(path, body={"text": "hello"})
        self.assertLbError(r, 502, "POST without Idempotency-Key after a reset")
        self.assertEqual(len(reset.requests_matching(path=path)), 1,
                         "the resetting backend got the POST once")
        self.assertEqual(count.requests_matching(path=path), [],
                         "a POST that reached a backend was sent again")
        self.assertEqual(self.log_entry(lb, path)["status"], "502")

    def test_post_with_idempotency_key_is_retried_after_a_reset(self):
        reset = self.start_misbehave("reset-after-request", name="reset")
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([reset, count], no_health=True, workers=1)
        path = "/posts-%s" % self.tag()
        key = "key-%s" % self.tag()
        r = lb.post(path, body={"text": "hello"}, headers={"Idempotency-Key": key})
        self.assertStatus(r, 200, "POST with Idempotency-Key after a reset")
        self.assertEqual(r.header("X-Served-By"), "count")
        got_reset = reset.requests_matching(path=path)
        got_count = count.requests_matching(path=path)
        self.assertEqual(len(got_reset), 1)
        self.assertEqual(len(got_count), 1)
        self.assertEqual(got_reset[0]["idempotency_key"], key)
        self.assertEqual(got_count[0]["idempotency_key"], key,
                         "the retry must carry the same key")
        self.assertEqual(got_count[0]["body"], got_reset[0]["body"],
                         "the retry must carry the same body")
        self.assertEqual(self.log_entry(lb, path)["attempts"], "2")

    def test_get_to_a_backend_that_dies_is_retried(self):
        reset = self.start_misbehave("reset-after-request", name="reset")
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([reset, count], no_health=True, workers=1)
        path = "/feed-%s" % self.tag()
        r = lb.get(path)
        self.assertStatus(r, 200, "GET after a reset")
        self.assertEqual(r.header("X-Served-By"), "count")
        self.assertEqual(len(reset.requests_matching(path=path)), 1)
        self.assertEqual(len(count.requests_matching(path=path)), 1)

    def test_reset_marks_a_backend_down_at_once(self):
        # Passive health check: a reset takes the backend out without
        # waiting for `fall` failed checks (its /readyz still says 200, so
        # the active checks bring it back later).
        reset = self.start_misbehave("reset-after-request", name="reset")
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([reset, count], health_interval=5000, workers=1)
        r = lb.get("/first-%s" % self.tag())
        self.assertStatus(r, 200)
        self.assertEqual(lb.health(reset), "down",
                         "a reset backend should be down right after the reset")
        paths = ["/after-%d-%s" % (i, self.tag()) for i in range(4)]
        for p in paths:
            self.assertEqual(lb.get(p).header("X-Served-By"), "count")
        for p in paths:
            self.assertEqual(reset.requests_matching(path=p), [])

    def test_response_cut_after_bytes_is_never_retried(self):
        cut = self.start_misbehave("close-mid-response", name="cut")
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([cut, count], no_health=True, workers=1)
        path = "/cut-%s" % self.tag()
        with RawClient(lb.port) as c:
            c.send(("GET %s HTTP/1.1\r\nHost: lb\r\n\r\n" % path).encode())
            status, _, headers = c.read_head(timeout=5.0)
            self.assertEqual(status, 200, "the head the backend sent goes through")
            self.assertEqual(dict(headers).get("X-Served-By"), "cut")
            self.assertEqual(dict(headers).get("Content-Length"), "100")
            self.assertTrue(c.wait_closed(timeout=5.0),
                            "the LB must close a connection whose response was cut")
            self.assertEqual(c.buf, b"0123456789",
                             "the client gets the 10 bytes, then the close")
        self.assertEqual(len(cut.requests_matching(path=path)), 1)
        self.assertEqual(count.requests_matching(path=path), [],
                         "a request whose answer had begun was retried")
        # The LB itself is fine: the next request is served.
        r = lb.get("/next-%s" % self.tag())
        self.assertStatus(r, 200)

    def test_retries_0_gives_the_error_to_the_client(self):
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([closed_port(), count], no_health=True, retries=0,
                           workers=1)
        path = "/no-retry-%s" % self.tag()
        r = lb.post(path, body={"x": 1})
        self.assertIn(r.status, (502, 503), "refused backend with --retries 0: %r" % r)
        self.assertLbError(r, r.status)
        self.assertEqual(count.requests_matching(path=path), [],
                         "--retries 0 still retried")
        self.assertEqual(self.log_entry(lb, path)["attempts"], "1")
        self.assertEqual(lb.stats()["retries"], 0)
        # The next turn is the working backend.
        r2 = lb.post(path + "-2", body={"x": 2})
        self.assertStatus(r2, 200)

    def test_retries_give_up_after_retries_plus_one_attempts(self):
        # Four refusing backends and --retries 2: three attempts, then an
        # error (never a loop over every backend forever).
        lb = self.start_lb([closed_port() for _ in range(4)], no_health=True,
                           retries=2, workers=1)
        path = "/all-refuse-%s" % self.tag()
        r = lb.get(path)
        self.assertIn(r.status, (502, 503), r)
        self.assertLbError(r, r.status)
        self.assertEqual(self.log_entry(lb, path)["attempts"], "3")


if __name__ == "__main__":
    unittest.main()
