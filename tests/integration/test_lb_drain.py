"""A person stops sb-lb with SIGTERM, or drains one backend from the admin API.

SIGTERM: a slow request in flight still gets its 200, new connections are
refused from then on, and sb-lb exits 0 within a few seconds (an idle
keep-alive client does not hold it up). Admin drain: no new requests go to
the drained backend, its request in flight finishes, and enable brings it
back; disable takes it out too.
"""

import signal
import threading
import time
import unittest

from harness import port_refuses, wait_until
from lbharness import LbTestCase, RawClient


class DrainTest(LbTestCase):

    def test_sigterm_finishes_the_slow_request_then_exits_0(self):
        slow = self.start_misbehave("slow", name="slow", delay_ms=1000)
        lb = self.start_lb([slow], workers=2)
        # An idle keep-alive client, connected before the signal.
        idle = RawClient(lb.port)
        self.addCleanup(idle.close)
        self.assertStatus(idle.get("/warm-up", timeout=5.0), 200)

        result = {}

        def slow_request():
            try:
                result["resp"] = lb.get("/slow-in-flight", timeout=10.0)
            except Exception as exc:  # noqa: BLE001 - checked below
                result["resp"] = exc
            result["done_at"] = time.monotonic()
        t = threading.Thread(target=slow_request, daemon=True)
        t.start()
        wait_until(lambda: slow.requests_matching(path="/slow-in-flight"), 3.0,
                   what="the slow request at the backend")
        lb.signal(signal.SIGTERM)
        sent_at = time.monotonic()
        # New connections are refused while the slow request is still out.
        wait_until(lambda: port_refuses(lb.port), 2.0, interval=0.01,
                   what="the listener to close after SIGTERM")
        refused_at = time.monotonic()
        self.assertNotIn("done_at", result,
                         "the in-flight request ended before the listener closed")
        self.assertTrue(idle.wait_closed(timeout=2.0),
                        "an idle keep-alive connection was kept during the drain")
        t.join(5.0)
        resp = result.get("resp")
        self.assertNotIsInstance(resp, Exception, "in-flight request: %r" % (resp,))
        self.assertStatus(resp, 200, "the request in flight at SIGTERM")
        self.assertEqual(resp.header("X-Served-By"), "slow")
        self.assertLess(refused_at, result["done_at"])
        code = lb.wait(5.0)
        exited_at = time.monotonic()
        self.assertEqual(code, 0, "sb-lb exit code after SIGTERM")
        self.assertLess(exited_at - sent_at, 3.0, "drain took %.2fs" % (exited_at - sent_at))
        self.assertTrue(port_refuses(lb.port))
        self.assertTrue(port_refuses(lb.admin_port), "the admin port outlived the drain")
        e = lb.wait_access(lambda e: e["path"] == "/slow-in-flight", timeout=0.5)
        self.assertEqual(e["status"], "200")

    def test_sigterm_with_nothing_in_flight_exits_at_once(self):
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([count], workers=2)
        self.assertStatus(lb.get("/one"), 200)
        t0 = time.monotonic()
        lb.signal(signal.SIGTERM)
        self.assertEqual(lb.wait(3.0), 0)
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_admin_drain_sends_no_new_requests_to_the_backend(self):
        backends = [self.start_misbehave("count", name="d%d" % (i + 1)) for i in range(3)]
        lb = self.start_lb(backends, workers=2)
        target = backends[1]
        r = lb.admin_post("/backends/%s/drain" % target.addr)
        self.assertStatus(r, 200, "POST drain")
        self.assertEqual(r.json().get("admin"), "drain")
        self.assertEqual(lb.backend_stats(target)["admin"], "drain")
        served = [lb.get("/after-drain-%d" % i).header("X-Served-By") for i in range(12)]
        self.assertNotIn("d2", served, "a drained backend got new requests")
        self.assertEqual(sorted(set(served)), ["d1", "d3"])
        self.assertEqual([e for e in target.requests() if e["path"].startswith("/after-drain")],
                         [])
        # Enable: back in the rotation.
        self.assertStatus(lb.admin_post("/backends/%s/enable" % target.addr), 200)
        served = [lb.get("/after-enable-%d" % i).header("X-Served-By") for i in range(6)]
        self.assertEqual(served.count("d2"), 2, served)
        # Disable: out again.
        self.assertStatus(lb.admin_post("/backends/%s/disable" % target.addr), 200)
        self.assertEqual(lb.backend_stats(target)["admin"], "disabled")
        served = [lb.get("/after-disable-%d" % i).header("X-Served-By") for i in range(6)]
        self.assertNotIn("d2", served)

    def test_admin_drain_lets_the_request_in_flight_finish(self):
        slow = self.start_misbehave("slow", name="slow", delay_ms=500)
        fast = self.start_misbehave("count", name="fast")
        lb = self.start_lb([slow, fast], workers=2)
        result = {}

        def go():
            try:
                result["resp"] = lb.get("/slow-one", timeout=5.0)
            except Exception as exc:  # noqa: BLE001
                result["resp"] = exc
        t = threading.Thread(target=go, daemon=True)
        t.start()
        wait_until(lambda: slow.requests_matching(path="/slow-one"), 3.0,
                   what="the slow request at the backend")
        self.assertStatus(lb.admin_post("/backends/%s/drain" % slow.addr), 200)
        others = [lb.get("/while-draining-%d" % i).header("X-Served-By") for i in range(4)]
        self.assertEqual(others, ["fast"] * 4)
        t.join(5.0)
        resp = result.get("resp")
        self.assertNotIsInstance(resp, Exception, repr(resp))
        self.assertStatus(resp, 200, "request in flight on a drained backend")
        self.assertEqual(resp.header("X-Served-By"), "slow")
        wait_until(lambda: lb.backend_stats(slow)["active"] == 0, 2.0,
                   what="no request active on the drained backend")

    def test_admin_api_rejects_an_unknown_backend(self):
        count = self.start_misbehave("count", name="count")
        lb = self.start_lb([count], workers=1)
        r = lb.admin_post("/backends/127.0.0.1:1/drain")
        self.assertJsonError(r, 404, "drain of an unknown backend")
        r = lb.admin_post("/backends/%s/explode" % count.addr)
        self.assertJsonError(r, 404, "an unknown action")
        self.assertEqual(lb.backend_stats(count)["admin"], "enabled")


if __name__ == "__main__":
    unittest.main()
