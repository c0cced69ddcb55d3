"""push-vs-pull: bob learns of alice's new posts two ways at once, through
a Server-Sent Events stream (push) and by asking every second (pull)."""

import random
import socket
import struct
import threading
import time

from common import HOST, Http, LabError, Result, median, ms, n, table

TITLE = "a new post: pushed over SSE vs found by polling every second"
ABOUT = """
Bob keeps GET /feed/stream open through the LB (push: the server writes to
him when alice posts) while another of his tabs asks GET /feed every second
(pull). Alice posts at random moments; we time how long each post took to
reach bob either way, and count the requests each way spent.
"""

POLL_S = 1.0


class SseReader:
    """GET /feed/stream over a raw socket: the chunked body decoded as it
    comes, each event's id noted with its arrival time."""

    def __init__(self, port, cookies):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        cookie = "; ".join("%s=%s" % kv for kv in cookies.items())
        self.sock.sendall(("GET /feed/stream HTTP/1.1\r\nHost: %s:%d\r\n"
                           "Accept: text/event-stream\r\nCookie: %s\r\n\r\n"
                           % (HOST, port, cookie)).encode())
        self.bytes = 0
        self.seen = {}       # post id -> time it arrived
        self.status = None
        self.closed = threading.Event()
        self.ready = threading.Event()
        self.buf = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.bytes += len(data)
        self.buf += data

    def _run(self):
        try:
            self.sock.settimeout(None)
            while b"\r\n\r\n" not in self.buf:
                self._recv()
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.status = int(head.split(b" ", 2)[1])
            self.ready.set()
            if self.status != 200:
                return
            text = b""
            while True:
                # one chunk: "SIZE\r\n DATA \r\n"
                while b"\r\n" not in self.buf:
                    self._recv()
                line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    return
                while len(self.buf) < size + 2:
                    self._recv()
                text += self.buf[:size]
                self.buf = self.buf[size + 2:]
                now = time.monotonic()
                while b"\n\n" in text:
                    block, text = text.split(b"\n\n", 1)
                    for field in block.split(b"\n"):
                        if field.startswith(b"id:"):
                            pid = int(field[3:].strip())
                            self.seen.setdefault(pid, now)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            self.ready.set()
            self.closed.set()

    def close(self):
        """Hang up with a reset: a plain FIN may be a half-close, which a
        proxy is right to keep streaming to until its next write fails."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            self.sock.shutdown(socket.SHUT_RD)   # wakes the reader, sends nothing
        except OSError:
            pass
        self.thread.join(timeout=2)
        self.sock.close()                        # the reset


class Poller:
    """GET /feed?limit=10 every POLL_S seconds, on a fixed schedule."""

    def __init__(self, lab):
        self.http = Http(lab.port, 5.0)
        if self.http.login("bob").status != 200:
            raise LabError("bob could not log in")
        self.http.requests = 0
        self.http.bytes_in = 0
        self.seen = {}
        self.polls = 0
        self.new_polls = 0    # polls that brought something new
        self.baseline = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        t_next = time.monotonic()
        while not self.stop.is_set():
            a = self.http.get("/feed?limit=10")
            now = time.monotonic()
            body = a.json() or {}
            ids = {p["id"] for p in body.get("posts", [])}
            if self.baseline is None:
                self.baseline = ids
            else:
                self.polls += 1
                fresh = ids - self.baseline - set(self.seen)
                if fresh:
                    self.new_polls += 1
                for pid in fresh:
                    self.seen[pid] = now
            t_next += POLL_S
            self.stop.wait(max(0.0, t_next - time.monotonic()))


def run(lab, short):
    posts = 5 if short else 15
    gap = (0.3, 1.5) if short else (0.3, 2.5)
    rnd = random.Random()
    lab.say("starting Redis, 3 backends and the LB")
    lab.up("--backends", "3", "--sessions", "redis")

    bob = Http(lab.port)
    if bob.login("bob").status != 200:
        raise LabError("bob could not log in")
    alice = Http(lab.port)
    if alice.login("alice").status != 200:
        raise LabError("alice could not log in")
    lab.say("bob opens GET /feed/stream through the LB (push)")
    sse = SseReader(lab.port, bob.cookies)
    if not sse.ready.wait(5) or sse.status != 200:
        raise LabError("GET /feed/stream answered %s" % sse.status)
    lab.say("bob's other tab asks GET /feed every %.0f s (pull)" % POLL_S)
    poller = Poller(lab)
    try:
        lab.wait_for("first poll", lambda: poller.baseline is not None, 5)
        t_begin = time.monotonic()
        lab.say("alice posts %d times at random moments, %.1f-%.1f s apart"
                % (posts, gap[0], gap[1]))
        sent = []   # (post id, time alice sent it)
        for i in range(posts):
            time.sleep(rnd.uniform(*gap))
            t = time.monotonic()
            a = alice.post("/posts", {"text": "lab post %d of %d" % (i + 1, posts)})
            body = a.json() or {}
            if a.status != 201 or "id" not in body:
                raise LabError("POST /posts answered %s" % (a.status or a.error))
            sent.append((body["id"], t))
        ids = [pid for pid, _ in sent]
        lab.wait_for("both saw all", lambda: all(p in sse.seen and p in poller.seen
                                                for p in ids), 2 * POLL_S + 2)
        t_end = time.monotonic()
    finally:
        poller.stop.set()
        poller.thread.join(timeout=5)
        sse.close()

    rows, push_d, pull_d = [], [], []
    for i, (pid, t) in enumerate(sent):
        p = sse.seen.get(pid)
        q = poller.seen.get(pid)
        if p is not None:
            push_d.append((p - t) * 1000.0)
        if q is not None:
            pull_d.append((q - t) * 1000.0)
        rows.append(["post %d (id %d)" % (i + 1, pid),
                     ms((p - t) * 1000.0) if p else "missed",
                     ms((q - t) * 1000.0) if q else "missed"])
    lab.show()
    lab.show(table(["alice's post reached bob", "push (SSE)", "pull (every 1 s)"], rows))
    lab.show()
    span = t_end - t_begin
    push_med, pull_med = median(push_d), median(pull_d)
    lab.show(table(["over %.0f s" % span, "push (SSE)", "pull (every 1 s)"], [
        ["median delay", ms(push_med), ms(pull_med)],
        ["slowest", ms(max(push_d) if push_d else None),
         ms(max(pull_d) if pull_d else None)],
        ["posts seen", "%d of %d" % (len(push_d), posts), "%d of %d" % (len(pull_d), posts)],
        ["requests", "1", n(poller.polls)],
        ["requests that found nothing new", "-", n(poller.polls - poller.new_polls)],
        ["bytes received", n(sse.bytes), "~" + n(poller.http.bytes_in)],
    ]))
    lab.show()
    lab.show("  Push still began with bob asking: the stream is one long answer to his")
    lab.show("  request, which the server keeps open and writes into when alice posts.")
    ok = (len(push_d) == posts and len(pull_d) == posts and
          push_med is not None and pull_med is not None and push_med < pull_med)
    verdict = ("push: median %s, 1 request; pull: median %s, %s requests (%s found "
               "nothing new)" % (ms(push_med), ms(pull_med), n(poller.polls),
                                 n(poller.polls - poller.new_polls)))
    return Result(ok, verdict, {
        "posts": posts, "push_seen": len(push_d), "pull_seen": len(pull_d),
        "push_median_ms": push_med, "pull_median_ms": pull_med,
        "push_max_ms": max(push_d) if push_d else None,
        "pull_max_ms": max(pull_d) if pull_d else None,
        "push_requests": 1, "pull_requests": poller.polls,
        "pull_empty": poller.polls - poller.new_polls,
        "push_bytes": sse.bytes, "pull_bytes": poller.http.bytes_in})
