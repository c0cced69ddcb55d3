"""Helpers for the sb-lb integration tests, on top of harness.py.

Everything here starts REAL processes: sb-lb, sb-backend, redis-server and
misbehave.py (a small HTTP server that misbehaves on purpose, run as its own
process). Same rules as harness.py: free loopback ports, every wait a poll
with a deadline, every process stopped by pid, log tails on failure.

Python 3 standard library only.
"""

import json
import os
import re
import socket
import sys
import time

from harness import (HOST, Backend, ClusterTestCase, Proc, Response, Timeout,
                     build_dir, free_port, port_refuses, request,
                     sanitizer_reports, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))


def lb_bin():
    return os.path.join(build_dir(), "lb", "sb-lb")


def misbehave_script():
    return os.path.join(HERE, "misbehave.py")


_RESERVED = []


def closed_port():
    """A loopback port where connects are refused, kept that way: a socket
    bound to it (no SO_REUSEADDR, never listening) is held until the test
    process exits, so no other process of a parallel run can take it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    _RESERVED.append(s)
    port = s.getsockname()[1]
    if not port_refuses(port):
        raise AssertionError("bound, non-listening port %d accepts" % port)
    return port


def addr_of(b):
    """"HOST:PORT" of a backend given as a string or any object with .port
    (the name sb-lb uses for it in /stats and the admin API)."""
    if isinstance(b, str):
        return b
    if isinstance(b, int):
        return "%s:%d" % (HOST, b)
    return "%s:%d" % (HOST, b.port)


# Markers of AddressSanitizer, LeakSanitizer and UBSan reports in any log.
_LB_SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                         "runtime error:",
                         "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")


def lb_sanitizer_reports(procs):
    """harness.sanitizer_reports for the sb-lb processes among procs."""
    return sanitizer_reports(procs, kinds=(LoadBalancer,),
                             markers=_LB_SANITIZER_MARKERS)


# --------------------------------------------------------------------------
# processes


class SbBackend(Backend):
    """An sb-backend like harness.Backend, but on a port the test may choose,
    so that a killed backend can be restarted at the same address."""

    def __init__(self, log_dir, db, port=None, name="backend", sessions="redis",
                 redis=None, extra=(), wait=True):
        super().__init__(log_dir, db, name=name, sessions=sessions,
                         redis=redis, extra=extra, wait=wait, port=port)

    @property
    def addr(self):
        return "%s:%d" % (HOST, self.port)


class Misbehave(Proc):
    """misbehave.py in one mode, on a free port (or the one given)."""

    def __init__(self, log_dir, mode, name=None, port=None, delay_ms=None,
                 readyz_status=None, events=None, event_interval_ms=None,
                 hop_headers=False, record=True, wait=True, close_after_ms=None):
        self.port = port or free_port()
        self.id = name or "mb-%s-%d" % (mode, self.port)
        self.mode = mode
        # Named by port too: tests of one class share log_dir and names.
        self.request_log = os.path.join(
            log_dir, "%s-%d.requests.jsonl" % (self.id, self.port)) if record else None
        argv = [sys.executable, "-u", misbehave_script(), "--port", str(self.port),
                "--name", self.id, "--mode", mode]
        if self.request_log:
            argv += ["--log", self.request_log]
        if delay_ms is not None:
            argv += ["--delay-ms", str(delay_ms)]
        if readyz_status is not None:
            argv += ["--readyz-status", str(readyz_status)]
        if events is not None:
            argv += ["--events", str(events)]
        if event_interval_ms is not None:
            argv += ["--event-interval-ms", str(event_interval_ms)]
        if hop_headers:
            argv.append("--hop-headers")
        if close_after_ms is not None:
            argv += ["--close-after-ms", str(close_after_ms)]
        Proc.__init__(self, self.id, argv, log_dir)
        if wait:
            self.wait_listening()

    @property
    def addr(self):
        return "%s:%d" % (HOST, self.port)

    def wait_listening(self, timeout=10.0):
        def listening():
            if not self.alive():
                raise AssertionError("%s exited with %s:\n%s" % (
                    self.name, self.returncode, self.log_tail()))
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        try:
            wait_until(listening, timeout, what="%s listening" % self.name)
        except Timeout as exc:
            tail = self.log_tail()
            self.stop()
            raise AssertionError("%s\n--- log ---\n%s" % (exc, tail)) from None

    def requests(self):
        """Every request this backend recorded (health checks left out)."""
        if not self.request_log or not os.path.exists(self.request_log):
            return []
        out = []
        with open(self.request_log) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
        return out

    def requests_matching(self, **want):
        return [r for r in self.requests()
                if all(r.get(k) == v for k, v in want.items())]

    def idle_closes(self):
        """close-after-response: [(conn, requests, pending)] for every
        connection the server closed for idleness (from its stdout)."""
        return [tuple(int(x) for x in m.groups()) for m in re.finditer(
            r"^idle-close conn=(\d+) requests=(\d+) pending=(\d)$",
            self.log_text(), re.M)]


# One access-log line: time client method path status backend attempts
# duration bytes request-id.
ACCESS_RE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (?P<client>\S+) (?P<method>\S+) "
    r"(?P<path>\S+) (?P<status>\d{3}) (?P<backend>\S+) (?P<attempts>\d+) "
    r"(?P<duration>[\d.]+)ms (?P<bytes>\d+) (?P<request_id>\S+)$")


class LoadBalancer(Proc):
    """A real sb-lb on free loopback ports (traffic and admin)."""

    def __init__(self, log_dir, backends, name="lb", policy=None,
                 health_interval=200, fall=None, rise=None, no_health=False,
                 retries=None, timeout_connect=None, timeout_server=None,
                 timeout_client=None, max_body=None, workers=None, extra=(),
                 port=None, wait=True, maxconn=None, queue=None,
                 queue_timeout=None, pool_idle=None, backends_file=None,
                 backends_dns=None):
        self.port = port or free_port()
        self.admin_port = free_port()
        self.backend_addrs = [addr_of(b) for b in backends]
        argv = [lb_bin(), "--listen", "%s:%d" % (HOST, self.port),
                "--admin", "%s:%d" % (HOST, self.admin_port),
                "--log-level", "info"]
        for a in self.backend_addrs:
            argv += ["--backend", a]
        opts = [("--policy", policy), ("--fall", fall), ("--rise", rise),
                ("--retries", retries), ("--timeout-connect", timeout_connect),
                ("--timeout-server", timeout_server),
                ("--timeout-client", timeout_client), ("--max-body", max_body),
                ("--workers", workers), ("--maxconn", maxconn),
                ("--queue", queue), ("--queue-timeout", queue_timeout),
                ("--pool-idle", pool_idle), ("--backends-file", backends_file),
                ("--backends-dns", backends_dns)]
        if no_health:
            argv.append("--no-health")
        else:
            opts.append(("--health-interval", health_interval))
        for flag, value in opts:
            if value is not None:
                argv += [flag, str(value)]
        argv += [str(a) for a in extra]
        self.health_interval = health_interval
        Proc.__init__(self, name, argv, log_dir)
        if wait:
            self.wait_ready()

    @property
    def addr(self):
        return "%s:%d" % (HOST, self.port)

    def wait_ready(self, timeout=10.0):
        def ready():
            if not self.alive():
                raise AssertionError("sb-lb exited with %s" % self.returncode)
            if request(self.admin_port, "GET", "/stats", timeout=1.0).status != 200:
                return False
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        try:
            wait_until(ready, timeout, what="sb-lb admin /stats and listener")
        except (Timeout, AssertionError) as exc:
            tail = self.log_tail()
            self.stop()
            raise AssertionError("sb-lb did not come up: %s\n--- log ---\n%s"
                                 % (exc, tail)) from None

    # traffic
    def get(self, path, **kw):
        return request(self.port, "GET", path, **kw)

    def post(self, path, body=None, **kw):
        return request(self.port, "POST", path, body=body, **kw)

    def request(self, method, path, **kw):
        return request(self.port, method, path, **kw)

    # admin
    def stats(self):
        r = request(self.admin_port, "GET", "/stats", timeout=2.0)
        if r.status != 200:
            raise AssertionError("GET /stats: %d %r" % (r.status, r.body[:200]))
        return r.json()

    def backend_stats(self, addr):
        addr = addr_of(addr)
        for b in self.stats()["backends"]:
            if b["name"] == addr:
                return b
        raise AssertionError("no backend %s in /stats" % addr)

    def health(self, addr):
        return self.backend_stats(addr)["health"]

    def wait_health(self, addr, state, timeout=5.0):
        addr = addr_of(addr)
        return wait_until(lambda: self.health(addr) == state, timeout,
                          interval=0.02,
                          what="backend %s %s in /stats" % (addr, state))

    def admin_post(self, path, body=None):
        return request(self.admin_port, "POST", path, body=body, timeout=2.0)

    def admin_delete(self, path):
        return request(self.admin_port, "DELETE", path, timeout=2.0)

    def backend_names(self):
        """Names ("HOST:PORT") of the backends in /stats, in list order."""
        return [b["name"] for b in self.stats()["backends"]]

    # access log
    def access_log(self):
        out = []
        for line in self.log_text().splitlines():
            m = ACCESS_RE.match(line.strip())
            if m:
                out.append(m.groupdict())
        return out

    def wait_access(self, pred, timeout=3.0, what="access log line"):
        """The first access-log entry pred(entry) accepts (the LB writes its
        log every tick, so poll)."""
        def find():
            for e in self.access_log():
                if pred(e):
                    return e
            return None
        return wait_until(find, timeout, interval=0.05, what=what)


# --------------------------------------------------------------------------
# raw HTTP over one socket (pipelining, hostile framing, streaming)


class RawClient:
    """One TCP connection to 127.0.0.1:port with a buffered response reader."""

    def __init__(self, port, timeout=5.0, source=None):
        self.sock = socket.create_connection(
            (HOST, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def get(self, path, host="lb", headers=(), timeout=5.0):
        """Send one GET on this connection and read its response."""
        extra = "".join("%s: %s\r\n" % kv for kv in headers)
        self.send(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                   % (path, host, extra)).encode())
        return self.read_response(timeout=timeout)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            raise EOFError("connection closed by peer")
        self.buf += data
        return data

    def read_until(self, marker, timeout=5.0):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self, timeout=5.0):
        """(status, reason, [(name, value)]) of the next response head."""
        raw = self.read_until(b"\r\n\r\n", timeout)
        lines = raw[:-4].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
        return int(m.group(1)), m.group(2), headers

    def read_chunk(self, timeout=5.0):
        """One chunk of a chunked body: its data (b"" for the last one)."""
        size_line = self.read_until(b"\r\n", timeout)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            self.read_until(b"\r\n", timeout)   # no trailers expected
            return b""
        data = self.read_exact(size, timeout)
        if self.read_exact(2, timeout) != b"\r\n":
            raise AssertionError("chunk data not followed by CRLF")
        return data

    def read_response(self, timeout=5.0, head_request=False):
        """The next whole response, as a harness.Response."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        status, reason, headers = self.read_head(timeout)
        resp = Response(status, reason, headers, b"", 0.0)
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        body = b""
        if head_request or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in te:
            while True:
                chunk = self.read_chunk(max(0.01, deadline - time.monotonic()))
                if not chunk:
                    break
                body += chunk
        elif cl is not None:
            body = self.read_exact(int(cl), max(0.01, deadline - time.monotonic()))
        else:
            try:
                while True:
                    self._fill(deadline)
            except EOFError:
                pass
            body, self.buf = self.buf, b""
        resp.body = body
        resp.elapsed = time.monotonic() - t0
        return resp

    def wait_closed(self, timeout=3.0):
        """True once the peer closes (EOF or reset) before timeout; bytes
        that come first are kept in self.buf."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            return True
        except socket.timeout:
            return False


# --------------------------------------------------------------------------
# test case base


class LbTestCase(ClusterTestCase):
    """ClusterTestCase plus sb-lb and misbehave.py processes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(lb_bin(), os.X_OK):
            raise AssertionError("no sb-lb binary at %s (build first, or set"
                                 " SB_BUILD_DIR)" % lb_bin())

    @classmethod
    def class_misbehave(cls, mode, **kw):
        m = Misbehave(cls.tmp, mode, **kw)
        cls._class_procs.append(m)
        return m

    @classmethod
    def class_sb_backend(cls, db, **kw):
        b = SbBackend(cls.tmp, db, **kw)
        cls._class_procs.append(b)
        return b

    def setUp(self):
        # Registered first, so it runs last: after the processes stopped.
        self.addCleanup(self._check_lb_logs)
        super().setUp()

    def _check_lb_logs(self):
        reports = lb_sanitizer_reports(getattr(self, "_test_procs", []))
        if reports:
            self.fail(reports)

    def start_lb(self, backends, **kw):
        lb = LoadBalancer(self.tmp, backends, **kw)
        self._test_procs.append(lb)
        return lb

    def start_misbehave(self, mode, **kw):
        m = Misbehave(self.tmp, mode, **kw)
        self._test_procs.append(m)
        return m

    def start_sb_backend(self, db, **kw):
        b = SbBackend(self.tmp, db, **kw)
        self._test_procs.append(b)
        return b

    # assertions
    def assertLbError(self, resp, status, msg=""):
        """An error sb-lb made itself: JSON {"error","status"}, X-Served-By: sb-lb."""
        body = self.assertJsonError(resp, status, msg)
        self.assertEqual(body.get("status"), status, msg)
        self.assertEqual(resp.header("X-Served-By"), "sb-lb",
                         "%s: X-Served-By of an LB error" % msg)
        if status == 503:
            self.assertRetryAfter(resp)
        return body
