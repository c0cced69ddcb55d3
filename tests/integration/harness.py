"""Shared helpers for the switchboard integration tests.

The tests start REAL processes (redis-server, sb-backend) on free loopback
ports and talk HTTP to them. Nothing here mocks Redis, SQLite or the network.

Rules the helpers enforce:
  * every wait is a poll with a deadline (wait_until), never a bare sleep;
  * every process is stopped by pid: SIGTERM, wait with a deadline, SIGKILL;
    on Linux the children also get PR_SET_PDEATHSIG so a killed test runner
    does not leave them behind;
  * every process writes its output to its own log file in a temp dir, and a
    failing test prints the tail of every log it knows about.

Python 3 standard library only.
"""

import atexit
import ctypes
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HOST = "127.0.0.1"
PASSWORD = "switchboard"

SID_RE = re.compile(r"^[0-9a-f]{40}$")

# The data set the tests seed (small on purpose: the suite must stay fast).
SEED_USERS = 60
SEED_POSTS_PER_USER = 10
SEED_SEED = 7


def build_dir():
    return os.environ.get("SB_BUILD_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")


def backend_bin():
    return os.path.join(build_dir(), "backend", "sb-backend")


def redis_bin():
    return shutil.which("redis-server") or "/usr/bin/redis-server"


# --------------------------------------------------------------------------
# waiting


class Timeout(AssertionError):
    pass


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Call pred() until it returns a truthy value or timeout seconds pass.

    Returns that value; raises Timeout (an AssertionError, so a test fails
    rather than errors) with the last exception seen, if any."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - remembered and reported
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            raise Timeout("timed out after %.1fs waiting for %s%s"
                          % (timeout, what, extra))
        time.sleep(interval)


def free_port():
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_refuses(port):
    """True when a TCP connect to port is refused (nothing listens)."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# processes

_LIVE = set()
_LIVE_LOCK = threading.Lock()
_PR_SET_PDEATHSIG = 1


def _child_setup(nofile=None):
    # Die with the test runner (Linux only; harmless elsewhere).
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass
    if nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))


class Proc:
    """One child process with its own log file."""

    def __init__(self, name, argv, log_dir, env=None, nofile=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = os.path.join(log_dir, "%s.log" % name)
        n = 1
        while os.path.exists(self.log_path):
            n += 1
            self.log_path = os.path.join(log_dir, "%s.%d.log" % (name, n))
        full_env = dict(os.environ)
        # Do not let the developer's SB_* variables change what a test sees.
        for key in list(full_env):
            if key.startswith("SB_") and key != "SB_BUILD_DIR":
                del full_env[key]
        if env:
            full_env.update(env)
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=full_env,
            preexec_fn=lambda: _child_setup(nofile))
        self.pid = self.popen.pid
        with _LIVE_LOCK:
            _LIVE.add(self)

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Wait for exit; returns the exit code or raises Timeout."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Timeout("%s (pid %d) still running after %.1fs"
                          % (self.name, self.pid, timeout)) from None

    def kill(self):
        """SIGKILL and reap."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._forget()

    def stop(self, timeout=3.0):
        """SIGTERM, wait with a deadline, then SIGKILL. Returns exit code."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._forget()
        return self.popen.returncode

    def _forget(self):
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if not self._log.closed:
            self._log.close()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cpu_seconds(self):
        """User + system CPU time the process has used (Linux /proc)."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def log_tail(self, lines=30):
        text = self.log_text().splitlines()
        return "\n".join(text[-lines:])


@atexit.register
def _kill_leftovers():
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        try:
            p.stop(timeout=1.0)
        except Exception:  # noqa: BLE001
            pass


class RedisServer(Proc):
    def __init__(self, log_dir, port=None, name="redis"):
        self.port = port or free_port()
        super().__init__(name, [
            redis_bin(), "--port", str(self.port), "--bind", HOST,
            "--save", "", "--appendonly", "no", "--protected-mode", "yes",
            "--loglevel", "warning"], log_dir)
        try:
            wait_until(self.ping, 5.0, what="redis-server on port %d" % self.port)
        except Timeout:
            self.stop()
            raise AssertionError("redis-server did not start:\n" + self.log_tail())

    @property
    def addr(self):
        return "%s:%d" % (HOST, self.port)

    def command(self, *args):
        """One Redis command over RESP; returns the reply line (without the
        type byte) for simple, integer and error replies, e.g. "0" for DBSIZE."""
        req = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in (str(x).encode() for x in args))
        with socket.create_connection((HOST, self.port), timeout=1.0) as s:
            s.sendall(req)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data[1:].split(b"\r\n", 1)[0].decode()

    def ping(self):
        if not self.alive():
            raise AssertionError("redis-server exited: %s" % self.returncode)
        with socket.create_connection((HOST, self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")


class Backend(Proc):
    """An sb-backend serving on a free loopback port (or the one given)."""

    def __init__(self, log_dir, db, name="backend", sessions="redis",
                 redis=None, extra=(), env=None, wait=True, wait_store=None,
                 nofile=None, port=None):
        self.port = port or free_port()
        self.id = name
        argv = [backend_bin(), "--listen", "%s:%d" % (HOST, self.port),
                "--id", name, "--db", db, "--sessions", sessions,
                "--log-level", "info"]
        if redis is not None:
            argv += ["--redis", redis]
        argv += [str(a) for a in extra]
        super().__init__(name, argv, log_dir, env=env, nofile=nofile)
        if wait:
            self.wait_healthy()
            if wait_store is None:
                wait_store = sessions == "redis" and redis is not None
            if wait_store:
                self.wait_sessions("up")

    def wait_healthy(self, timeout=10.0):
        def healthy():
            if not self.alive():
                raise StartError("%s exited with %s before answering /healthz"
                                 % (self.name, self.returncode))
            return request(self.port, "GET", "/healthz", timeout=1.0).status == 200
        try:
            wait_until(healthy, timeout, what="%s /healthz" % self.name)
        except (Timeout, StartError) as exc:
            tail = self.log_tail()
            self.stop()
            raise AssertionError("%s did not come up: %s\n--- log ---\n%s"
                                 % (self.name, exc, tail)) from None

    def readyz(self):
        r = request(self.port, "GET", "/readyz", timeout=1.0)
        return r.status, r.json()

    def wait_sessions(self, state, timeout=8.0):
        """Poll /readyz until its "sessions" field says state ("up"/"down")."""
        try:
            return wait_until(lambda: self.readyz()[1].get("sessions") == state,
                              timeout, interval=0.05,
                              what='%s /readyz "sessions":"%s"' % (self.name, state))
        except Timeout as exc:
            raise AssertionError("%s\n--- log ---\n%s" % (exc, self.log_tail()))

    # convenience wrappers
    def get(self, path, **kw):
        return request(self.port, "GET", path, **kw)

    def post(self, path, body=None, **kw):
        return request(self.port, "POST", path, body=body, **kw)

    def login(self, username, password=PASSWORD):
        return login(self.port, username, password)


# Memory, leak and UB errors found by a -DSB_SANITIZE=ON build: a process
# stopped with SIGTERM must exit with nothing leaked, drain or no drain.
_SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:")


def sanitizer_reports(procs, kinds=(Backend,), markers=_SANITIZER_MARKERS):
    """Text of any sanitizer error in the logs of the given processes that
    are instances of kinds: per log, the first of markers found and what
    follows it."""
    found = []
    for p in procs:
        if not isinstance(p, kinds):
            continue
        text = p.log_text()
        for marker in markers:
            i = text.find(marker)
            if i >= 0:
                found.append("%s (%s): %s" % (p.name, p.log_path, text[i:i + 1500]))
                break
    return "\n".join(found)


class StartError(Exception):
    pass


def seed_db(directory, users=SEED_USERS, posts_per_user=SEED_POSTS_PER_USER,
            seed=SEED_SEED, timeout=60.0):
    """Run `sb-backend seed` into directory/feed.db and return the path."""
    path = os.path.join(directory, "feed.db")
    argv = [backend_bin(), "seed", "--db", path, "--users", str(users),
            "--posts-per-user", str(posts_per_user), "--seed", str(seed)]
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=timeout, preexec_fn=_child_setup)
    except subprocess.TimeoutExpired:
        raise AssertionError("seed did not finish in %.0fs" % timeout) from None
    if res.returncode != 0 or not os.path.exists(path):
        raise AssertionError("seed failed (exit %s):\n%s%s" % (
            res.returncode, res.stdout.decode(errors="replace"),
            res.stderr.decode(errors="replace")))
    return path


# --------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body                # bytes
        self.elapsed = elapsed          # seconds, send to last byte

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise AssertionError("response %d is not JSON (%s): %r"
                                 % (self.status, exc, self.body[:300])) from None

    def cookie(self, name="sid"):
        """(value, {attr_lower: value_or_True}) of a Set-Cookie, or None."""
        for raw in self.header_all("Set-Cookie"):
            parts = [p.strip() for p in raw.split(";")]
            if not parts or "=" not in parts[0]:
                continue
            k, v = parts[0].split("=", 1)
            if k.strip() != name:
                continue
            attrs = {}
            for p in parts[1:]:
                if "=" in p:
                    ak, av = p.split("=", 1)
                    attrs[ak.strip().lower()] = av.strip()
                elif p:
                    attrs[p.lower()] = True
            return v.strip(), attrs
        return None

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


def request(port, method, path, body=None, headers=None, sid=None,
            timeout=5.0, conn=None):
    """One HTTP request to 127.0.0.1:port. body: dict/list (sent as JSON),
    str or bytes. A new connection unless conn (an HTTPConnection) is given."""
    hdrs = {}
    if headers:
        hdrs.update(headers)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
        hdrs.setdefault("Content-Type", "application/json")
    if sid is not None:
        hdrs["Cookie"] = "sid=%s" % sid
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        t0 = time.monotonic()
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.monotonic() - t0
        return Response(resp.status, resp.reason, resp.getheaders(), data,
                        elapsed)
    finally:
        if own:
            conn.close()


def login(port, username, password=PASSWORD):
    """Log in and return the sid (asserts the 200)."""
    r = request(port, "POST", "/login",
                body={"username": username, "password": password})
    if r.status != 200:
        raise AssertionError("login %s on port %d: %d %r"
                             % (username, port, r.status, r.body[:200]))
    c = r.cookie("sid")
    if c is None:
        raise AssertionError("login %s: no sid cookie in %r" % (username, r.headers))
    return c[0]


def raw_exchange(port, data, timeout=3.0, send_in_thread=False):
    """Send raw bytes, read until the server closes or timeout.

    Returns (bytes_received, closed) where closed is True when the server
    ended the connection (EOF or reset) before the deadline. With
    send_in_thread the bytes are written from a helper thread, so a server
    that answers and closes before reading everything cannot block us."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    received = b""
    closed = False
    sender = None
    try:
        if send_in_thread:
            def send():
                try:
                    s.sendall(data)
                except OSError:
                    pass
            sender = threading.Thread(target=send, daemon=True)
            sender.start()
        else:
            try:
                s.sendall(data)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    finally:
        s.close()
        if sender is not None:
            sender.join(timeout)
    return received, closed


def status_of(raw):
    """Status code of the first response in raw bytes, or None."""
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------
# test case base


class ClusterTestCase(unittest.TestCase):
    """Base class: a temp dir per class, processes registered for cleanup,
    and log tails printed when a test fails."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(backend_bin(), os.X_OK):
            raise AssertionError("no sb-backend binary at %s (build first, or set"
                                 " SB_BUILD_DIR)" % backend_bin())
        cls.tmp = tempfile.mkdtemp(prefix="sb-it-%s-" % cls.__name__)
        cls._class_procs = []
        cls.addClassCleanup(cls._cleanup_class)

    @classmethod
    def _cleanup_class(cls):
        for p in reversed(cls._class_procs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass
        reports = sanitizer_reports(cls._class_procs)
        if os.environ.get("SB_KEEP_TMP") or reports:
            sys.stderr.write("kept %s\n" % cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if reports:
            raise AssertionError(reports)

    # processes that live for the whole class
    @classmethod
    def class_redis(cls, **kw):
        r = RedisServer(cls.tmp, **kw)
        cls._class_procs.append(r)
        return r

    @classmethod
    def class_backend(cls, *a, **kw):
        b = Backend(cls.tmp, *a, **kw)
        cls._class_procs.append(b)
        return b

    # processes that live for one test
    def setUp(self):
        super().setUp()
        self._test_procs = []
        self.addCleanup(self._cleanup_test)

    def _cleanup_test(self):
        for p in reversed(self._test_procs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass
        reports = sanitizer_reports(self._test_procs)
        if reports:
            self.fail(reports)

    def start_redis(self, **kw):
        r = RedisServer(self.tmp, **kw)
        self._test_procs.append(r)
        return r

    def start_backend(self, *a, **kw):
        b = Backend(self.tmp, *a, **kw)
        self._test_procs.append(b)
        return b

    # failing tests show the logs
    def run(self, result=None):
        before = None
        if result is not None:
            before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            self._print_logs()
        return out

    def _print_logs(self):
        procs = list(getattr(type(self), "_class_procs", [])) + \
            list(getattr(self, "_test_procs", []))
        seen = set()
        for p in procs:
            if p.log_path in seen:
                continue
            seen.add(p.log_path)
            sys.stderr.write("\n----- %s (pid %d, exit %s): tail of %s -----\n%s\n"
                             % (p.name, p.pid, p.popen.poll(), p.log_path,
                                p.log_tail(40)))

    # assertions used everywhere
    def assertStatus(self, resp, status, msg=""):
        self.assertEqual(resp.status, status, "%s: got %d, body %r" %
                         (msg, resp.status, resp.body[:300]))

    def assertJsonError(self, resp, status, msg=""):
        self.assertStatus(resp, status, msg)
        body = resp.json()
        self.assertIsInstance(body, dict, msg)
        self.assertIn("error", body, msg)
        self.assertIsInstance(body["error"], str, msg)
        self.assertTrue(body["error"], "%s: empty error text" % msg)
        return body

    def assertServedBy(self, resp, backend):
        self.assertEqual(resp.header("X-Served-By"), backend.id,
                         "X-Served-By on %d %r" % (resp.status, resp.body[:100]))

    def assertRetryAfter(self, resp):
        ra = resp.header("Retry-After")
        self.assertIsNotNone(ra, "503 without Retry-After: %r" % (resp.headers,))
        self.assertRegex(ra.strip(), r"^\d+$", "Retry-After must be seconds")

    def assertHealthy(self, backend):
        self.assertTrue(backend.alive(), "%s exited (%s):\n%s" % (
            backend.name, backend.returncode, backend.log_tail()))
        r = backend.get("/healthz", timeout=2.0)
        self.assertStatus(r, 200, "/healthz")
        self.assertEqual(r.json().get("status"), "ok")

    def assertPostShape(self, post):
        self.assertIsInstance(post, dict)
        for key in ("id", "author", "text", "created_at", "likes", "liked_by_me"):
            self.assertIn(key, post, "post %r lacks %r" % (post, key))
        self.assertIsInstance(post["id"], int)
        self.assertIsInstance(post["text"], str)
        self.assertIsInstance(post["liked_by_me"], bool)
        self.assertTrue(post["likes"] is None or isinstance(post["likes"], int),
                        "likes must be a number or null: %r" % (post["likes"],))

    def assertUserShape(self, user):
        self.assertIsInstance(user, dict)
        for key in ("id", "username", "display_name", "followers", "following",
                    "posts", "created_at"):
            self.assertIn(key, user, "user %r lacks %r" % (user, key))
        for key in ("id", "followers", "following", "posts"):
            self.assertIsInstance(user[key], int, "user.%s" % key)
        for key in user:
            self.assertNotRegex(key.lower(), "pass|hash|salt",
                                "a user object must not carry password material")
        self.assertNotIn("$argon2", json.dumps(user))


def author_name(post):
    """A post's author as a username (the author may be a name or an object)."""
    a = post.get("author")
    if isinstance(a, dict):
        return a.get("username")
    return a
