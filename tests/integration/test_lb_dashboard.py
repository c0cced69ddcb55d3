"""A person watches sb-lb's live dashboard while killing a backend.

Real sb-backends (sessions in memory: no Redis needed) behind a real sb-lb.
The admin port's GET / is one HTML page with nothing fetched from
elsewhere; GET /events is a Server-Sent Events stream that sends a stats
snapshot at once and then every 500 ms. A backend killed with -9 shows
"down" in a later snapshot, and the event log says so; a drain from the
admin API shows too. Streams are bounded (64; the 65th gets 503), a reader
that stops reading is dropped, and SIGTERM ends every stream with the last
chunk before the connection closes.
"""

import json
import signal
import socket
import time
import unittest

from harness import HOST, request, seed_db, wait_until
from lbharness import LbTestCase, RawClient, closed_port

STREAMS_MAX = 64       # DASHBOARD_STREAMS_MAX in lb/dashboard.h
TICK = 0.5             # DASHBOARD_TICK_MS
HEALTH_INTERVAL_MS = 200
DROP_WITHIN = 60.0     # s for a stopped reader of 64 backends' snapshots


class EventStream:
    """One GET /events on its own connection, read event by event."""

    def __init__(self, port, timeout=5.0):
        self.client = RawClient(port, timeout=timeout)
        self.t0 = time.monotonic()
        self.client.send(b"GET /events HTTP/1.1\r\nHost: admin\r\n"
                         b"Accept: text/event-stream\r\n\r\n")
        self.status, _, headers = self.client.read_head(timeout=timeout)
        self.headers = {k.lower(): v for k, v in headers}
        self.pending = b""
        self.ended = False   # the last (empty) chunk came

    def close(self):
        self.client.close()

    def next_block(self, timeout=3.0):
        """The next "\\n\\n"-terminated block of fields, as a dict."""
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.pending:
            chunk = self.client.read_chunk(max(0.01, deadline - time.monotonic()))
            if not chunk:
                self.ended = True
                raise EOFError("the stream ended")
            self.pending += chunk
        block, self.pending = self.pending.split(b"\n\n", 1)
        fields = {}
        for line in block.decode().split("\n"):
            k, _, v = line.partition(":")
            fields[k] = v[1:] if v.startswith(" ") else v
        return fields

    def next_stats(self, timeout=3.0):
        """The next stats snapshot, decoded."""
        deadline = time.monotonic() + timeout
        while True:
            fields = self.next_block(max(0.01, deadline - time.monotonic()))
            if fields.get("event") == "stats":
                return json.loads(fields["data"])

    def wait_stats(self, pred, timeout, what):
        """The first snapshot pred accepts, within timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no snapshot with %s within %.1fs" % (what, timeout))
            try:
                snap = self.next_stats(left)
            except socket.timeout:
                continue
            if pred(snap):
                return snap


def backend_in(snap, addr):
    for b in snap["backends"]:
        if b["name"] == addr:
            return b
    raise AssertionError("no backend %s in %r" % (addr, snap["backends"]))


def event_texts(snap):
    return [e["text"] for e in snap["events"]]


class DashboardTest(LbTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp)
        cls.backends = [cls.class_sb_backend(cls.db, name="backend-%d" % i,
                                             sessions="memory")
                        for i in (1, 2, 3)]

    def stream(self, lb, **kw):
        s = EventStream(lb.admin_port, **kw)
        self.addCleanup(s.close)
        return s

    def test_page_is_one_html_file_with_nothing_from_elsewhere(self):
        lb = self.start_lb(self.backends)
        r = request(lb.admin_port, "GET", "/", timeout=2.0)
        self.assertStatus(r, 200)
        self.assertTrue(r.header("Content-Type", "").startswith("text/html"),
                        r.header("Content-Type"))
        page = r.body.decode("utf-8")
        self.assertIn("<title>sb-lb dashboard", page)
        self.assertIn("new EventSource('/events')", page)
        for needle in ('src="http', "src='http", 'href="http', "href='http",
                       "@import", "//cdn", "url(http"):
            self.assertNotIn(needle, page, "the page must work offline")
        # The other admin endpoints are still there.
        self.assertStatus(request(lb.admin_port, "GET", "/stats", timeout=2.0), 200)
        self.assertStatus(request(lb.admin_port, "GET", "/nope", timeout=2.0), 404)

    def test_first_snapshot_within_a_second_lists_the_backends(self):
        lb = self.start_lb(self.backends)
        s = self.stream(lb)
        self.assertEqual(s.status, 200)
        self.assertEqual(s.headers.get("content-type"), "text/event-stream")
        self.assertIn("no-store", s.headers.get("cache-control", ""))
        snap = s.next_stats(timeout=1.0)
        self.assertLess(time.monotonic() - s.t0, 1.0)
        self.assertEqual([b["name"] for b in snap["backends"]],
                         [b.addr for b in self.backends])
        for b in snap["backends"]:
            self.assertEqual((b["health"], b["admin"]), ("up", "enabled"))
            for key in ("active", "requests", "failures", "rps"):
                self.assertIn(key, b)
            # The first snapshot carries the history the sparklines need.
            self.assertEqual(len(b["history"]["rps"]), len(b["history"]["up"]))
        for key in ("requests", "errors_4xx", "errors_5xx", "retries", "queued", "rps"):
            self.assertIn(key, snap["totals"])
        self.assertEqual(snap["interval_ms"], int(TICK * 1000))
        self.assertTrue(any(t.startswith("sb-lb started: 3 backends")
                            for t in event_texts(snap)), event_texts(snap))
        # Then one every tick, without history.
        t1 = time.monotonic()
        later = s.next_stats(timeout=2.0)
        self.assertNotIn("history", later["backends"][0])
        self.assertLess(time.monotonic() - t1, TICK + 0.5)

    def test_requests_per_second_follow_the_traffic(self):
        lb = self.start_lb(self.backends)
        s = self.stream(lb)
        s.next_stats(timeout=1.0)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            self.assertStatus(lb.get("/users/alice", timeout=2.0), 200)
            time.sleep(0.01)
        snap = s.wait_stats(lambda sn: sn["totals"]["requests"] >= 30, 2.0,
                            "the requests counted")
        busy = [b for b in snap["backends"] if b["rps"] > 0]
        self.assertEqual(len(busy), 3, snap["backends"])
        self.assertGreater(snap["totals"]["rps"], 5)

    def test_killed_backend_shows_down_in_a_later_snapshot(self):
        victims = [self.start_sb_backend(self.db, name="victim-%d" % i,
                                         sessions="memory") for i in (1, 2)]
        lb = self.start_lb(victims, health_interval=HEALTH_INTERVAL_MS)
        s = self.stream(lb)
        self.assertEqual(backend_in(s.next_stats(1.0), victims[1].addr)["health"], "up")
        victims[1].kill()
        # Some traffic: the proxy may notice before the health checks do.
        for _ in range(6):
            self.assertStatus(lb.get("/users/alice", timeout=3.0), 200)
        snap = s.wait_stats(
            lambda sn: backend_in(sn, victims[1].addr)["health"] == "down", 5.0,
            "%s down" % victims[1].addr)
        self.assertEqual(backend_in(snap, victims[0].addr)["health"], "up")
        snap = s.wait_stats(
            lambda sn: any(t.startswith("backend %s down" % victims[1].addr)
                           for t in event_texts(sn)), 3.0, "the down in the event log")
        downs = [t for t in event_texts(snap)
                 if t.startswith("backend %s down" % victims[1].addr)]
        self.assertEqual(len(downs), 1, "one note for one change: %r" % downs)
        # Back at the same address: up again after `rise` good checks.
        self.start_sb_backend(self.db, name="victim-2b", port=victims[1].port,
                              sessions="memory")
        snap = s.wait_stats(
            lambda sn: backend_in(sn, victims[1].addr)["health"] == "up" and any(
                t.startswith("backend %s up" % victims[1].addr) for t in event_texts(sn)),
            5.0, "%s up again, and said so" % victims[1].addr)

    def test_drain_from_the_admin_api_shows_in_the_stream(self):
        lb = self.start_lb(self.backends)
        s = self.stream(lb)
        s.next_stats(1.0)
        addr = self.backends[2].addr
        self.assertStatus(lb.admin_post("/backends/%s/drain" % addr), 200)
        snap = s.wait_stats(lambda sn: backend_in(sn, addr)["admin"] == "drain", 2.0,
                            "%s drain" % addr)
        snap = s.wait_stats(lambda sn: "backend %s set to drain (admin API)" % addr
                            in event_texts(sn), 2.0, "the drain in the event log")
        self.assertStatus(lb.admin_post("/backends/%s/enable" % addr), 200)
        s.wait_stats(lambda sn: backend_in(sn, addr)["admin"] == "enabled", 2.0,
                     "%s enabled again" % addr)

    def test_added_and_removed_backends_come_and_go(self):
        lb = self.start_lb(self.backends[:2])
        s = self.stream(lb)
        s.next_stats(1.0)
        addr = self.backends[2].addr
        r = request(lb.admin_port, "POST", "/backends", body={"address": addr}, timeout=2.0)
        self.assertStatus(r, 201)
        s.wait_stats(lambda sn: any(b["name"] == addr for b in sn["backends"]) and
                     "backend %s added" % addr in event_texts(sn), 2.0, "%s added" % addr)
        r = request(lb.admin_port, "DELETE", "/backends/%s" % addr, timeout=2.0)
        self.assertStatus(r, 200)
        s.wait_stats(lambda sn: all(b["name"] != addr for b in sn["backends"]) and
                     "backend %s removed" % addr in event_texts(sn), 2.0,
                     "%s removed" % addr)

    def test_too_many_streams_get_503_and_a_closed_one_frees_its_slot(self):
        lb = self.start_lb(self.backends)
        streams = [self.stream(lb) for _ in range(STREAMS_MAX)]
        self.assertTrue(all(s.status == 200 for s in streams))
        with RawClient(lb.admin_port) as c:
            r = c.get("/events", timeout=3.0)
        self.assertJsonError(r, 503)
        self.assertRetryAfter(r)
        # Every open stream still gets its snapshots.
        for s in streams[:3] + streams[-3:]:
            s.next_stats(timeout=2.0)
        # A client that hangs up frees its slot (noticed at a later write).
        streams[0].close()

        def another():
            s = EventStream(lb.admin_port)
            if s.status != 200:
                s.close()
                return None
            return s
        s = wait_until(another, 5.0, interval=0.2, what="a slot for a new stream")
        self.addCleanup(s.close)
        s.next_stats(timeout=1.0)

    def test_a_reader_that_stops_reading_is_dropped(self):
        # Big snapshots (64 backends) so the backlog bound is reached soon.
        lb = self.start_lb(self.backends, health_interval=1000)
        for _ in range(61):
            r = request(lb.admin_port, "POST", "/backends",
                        body={"address": "%s:%d" % (HOST, closed_port())}, timeout=2.0)
            self.assertStatus(r, 201)
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(stalled.close)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect((HOST, lb.admin_port))
        stalled.sendall(b"GET /events HTTP/1.1\r\nHost: admin\r\n\r\n")
        # Never read. A reader that keeps reading is not affected.
        reader = self.stream(lb)
        t0 = time.monotonic()

        def dropped():
            reader.next_stats(timeout=2.0)
            return "dropping an /events stream" in lb.log_text()
        wait_until(dropped, DROP_WITHIN, interval=0.0, what="the stalled stream dropped")
        # The one that kept reading goes on; the stalled one was closed.
        reader.next_stats(timeout=2.0)
        stalled.settimeout(5.0)
        try:
            while stalled.recv(65536):
                pass
        except ConnectionResetError:
            pass

    def test_sigterm_ends_every_stream_cleanly(self):
        lb = self.start_lb(self.backends)
        streams = [self.stream(lb) for _ in range(3)]
        for s in streams:
            s.next_stats(timeout=1.0)
        # An HTTP/1.0 reader: no chunks, the stream ends when the connection does.
        old = RawClient(lb.admin_port)
        self.addCleanup(old.close)
        old.send(b"GET /events HTTP/1.0\r\n\r\n")
        old.read_until(b"event: stats", timeout=2.0)
        lb.signal(signal.SIGTERM)
        self.assertTrue(old.wait_closed(timeout=2.0), "the HTTP/1.0 stream stayed open")
        for s in streams:
            deadline = time.monotonic() + 2.0
            with self.assertRaises(EOFError):
                while True:
                    s.next_block(timeout=max(0.01, deadline - time.monotonic()))
            self.assertTrue(s.ended, "the stream ended without its last chunk")
            self.assertTrue(s.client.wait_closed(timeout=2.0))
            self.assertEqual(s.client.buf, b"")
        self.assertEqual(lb.wait(5.0), 0, "sb-lb exit code after SIGTERM")


if __name__ == "__main__":
    unittest.main()
