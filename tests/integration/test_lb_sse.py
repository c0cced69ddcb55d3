"""A person watches a Server-Sent Events stream through sb-lb.

misbehave.py in sse mode writes one event every 200 ms ("data: N"), each
flushed as its own chunk, 10 in all. Through sb-lb the first event must
arrive within ~300 ms of the request, long before the stream ends, and the
events must arrive spaced like they were written, not in one lump at the
end (a buffering proxy turns a live feed into a 2-second wait).
"""

import threading
import time
import unittest

from lbharness import LbTestCase, RawClient

EVENTS = 10
INTERVAL = 0.2


class SseTest(LbTestCase):

    def read_events(self, port, path="/events"):
        """(t_request, [(t_arrival, event_text)], t_end) on one connection."""
        with RawClient(port, timeout=10.0) as c:
            t0 = time.monotonic()
            c.send(("GET %s HTTP/1.1\r\nHost: lb\r\nAccept: text/event-stream\r\n\r\n"
                    % path).encode())
            status, _, headers = c.read_head(timeout=5.0)
            self.assertEqual(status, 200)
            h = {k.lower(): v for k, v in headers}
            self.assertEqual(h.get("content-type"), "text/event-stream")
            self.assertIn("chunked", h.get("transfer-encoding", "").lower())
            events = []
            pending = b""
            while True:
                data = c.read_chunk(timeout=5.0)
                now = time.monotonic()
                if not data:
                    break
                pending += data
                while b"\n\n" in pending:
                    ev, pending = pending.split(b"\n\n", 1)
                    events.append((now, ev.decode()))
            t_end = time.monotonic()
            # The stream ended cleanly and the connection is reusable.
            r = c.get("/after-stream")
            self.assertEqual(r.status, 200)
        return t0, events, t_end

    def test_events_arrive_as_they_are_written(self):
        sse = self.start_misbehave("sse", name="sse", events=EVENTS,
                                   event_interval_ms=int(INTERVAL * 1000))
        lb = self.start_lb([sse], workers=2)
        t0, events, t_end = self.read_events(lb.port)
        self.assertEqual([e for _, e in events], ["data: %d" % i for i in range(EVENTS)])
        first = events[0][0] - t0
        self.assertLess(first, 0.3, "first event after %.3fs" % first)
        span = t_end - t0
        self.assertGreater(span, (EVENTS - 1) * INTERVAL * 0.8,
                           "the stream cannot end before it is written")
        self.assertLess(first, span - 1.0, "first event only near the end")
        gaps = [b[0] - a[0] for a, b in zip(events, events[1:])]
        lumped = [g for g in gaps if g < INTERVAL / 2]
        self.assertLessEqual(len(lumped), 1,
                             "events arrived in lumps; gaps %s"
                             % ["%.3f" % g for g in gaps])
        for i, (t, _) in enumerate(events):
            # Event i is written at ~i*INTERVAL; it must be there soon after.
            self.assertLess(t - t0, i * INTERVAL + 0.3,
                            "event %d arrived %.3fs after the request" % (i, t - t0))

    def test_stream_longer_than_the_server_timeout_is_not_cut(self):
        # --timeout-server bounds silence, not a stream that keeps talking:
        # 10 events 200 ms apart (about 2 s) through a 500 ms timeout.
        sse = self.start_misbehave("sse", name="sse", events=EVENTS,
                                   event_interval_ms=int(INTERVAL * 1000))
        lb = self.start_lb([sse], timeout_server=500, workers=1)
        _, events, _ = self.read_events(lb.port)
        self.assertEqual(len(events), EVENTS)

    def test_two_streams_at_once_both_flow(self):
        sse = self.start_misbehave("sse", name="sse", events=EVENTS,
                                   event_interval_ms=int(INTERVAL * 1000))
        lb = self.start_lb([sse], workers=2)
        out = {}

        def watch(i):
            try:
                out[i] = self.read_events(lb.port)
            except Exception as exc:  # noqa: BLE001 - checked below
                out[i] = exc
        ts = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10.0)
        for i in range(2):
            self.assertNotIsInstance(out.get(i), Exception, repr(out.get(i)))
            t0, events, _ = out[i]
            self.assertEqual(len(events), EVENTS)
            self.assertLess(events[0][0] - t0, 0.3)


class SseHangUpTest(LbTestCase):

    def test_a_client_that_hangs_up_ends_the_stream_at_once(self):
        # A stream with no end: when its client hangs up, the LB ends it
        # now, not at the next write that happens to fail.
        import socket
        sse = self.start_misbehave("sse", name="sse", events=100,
                                   event_interval_ms=1000)
        lb = self.start_lb([sse], workers=1)
        with RawClient(lb.port, timeout=5.0) as c:
            c.send(b"GET /events HTTP/1.1\r\nHost: lb\r\n\r\n")
            status, _, _ = c.read_head(timeout=5.0)
            self.assertEqual(status, 200)
            self.assertTrue(c.read_chunk(timeout=5.0))   # the first event
            t0 = time.monotonic()
            c.sock.shutdown(socket.SHUT_WR)
            c.sock.settimeout(0.2)
            closed = False
            while time.monotonic() - t0 < 3.0 and not closed:
                try:
                    closed = c.sock.recv(4096) == b""
                except socket.timeout:
                    pass
            took = time.monotonic() - t0
        self.assertTrue(closed, "the LB kept the stream open after the hang-up")
        self.assertLess(took, 0.8, "closed after %.2fs: it waited for a write" % took)


if __name__ == "__main__":
    unittest.main()
