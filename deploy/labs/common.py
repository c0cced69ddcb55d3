"""What every lab needs: its own cluster (deploy/cluster on free ports in
its own folder), narration, sb-client runs parsed as they go, small HTTP
calls with cookies, and tables of numbers.

A lab module defines TITLE, ABOUT and run(lab, short) -> Result. The runner
(deploy/lab) makes the Lab, calls run, prints the verdict, and always takes
the cluster down, also on Ctrl-C or an error."""

import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.path.join(ROOT, "deploy", "cluster")
CLIENT = os.path.join(ROOT, "build", "client", "sb-client")
HOST = "127.0.0.1"
PASSWORD = "switchboard"   # every demo user's
PEOPLE = ["alice", "bob", "carol", "dave"]


class LabError(Exception):
    """The lab could not run (not: the lab ran and showed something else)."""


class Result:
    """How a lab ended: ok (it showed what it should), the verdict line,
    and its key numbers (written to result.json for programs)."""

    def __init__(self, ok, verdict, numbers):
        self.ok = ok
        self.verdict = verdict
        self.numbers = numbers


# ---------------------------------------------------------------- formatting

def n(x):
    """1203 -> '1,203'."""
    return "{:,}".format(x)


def ms(x):
    """A latency in milliseconds for people: '0.42 ms', '12.3 ms', '3.21 s'."""
    if x is None:
        return "-"
    if x >= 1000:
        return "%.2f s" % (x / 1000.0)
    if x >= 100:
        return "%.0f ms" % x
    if x >= 10:
        return "%.1f ms" % x
    return "%.2f ms" % x


def secs(x):
    return "-" if x is None else "%.1f s" % x


def pct(part, whole):
    return 0.0 if whole == 0 else 100.0 * part / whole


def median(xs):
    xs = sorted(xs)
    if not xs:
        return None
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2.0


def table(headers, rows, indent="  "):
    """Rows of cells (strings or numbers) under headers, numbers aligned
    right, the first column left. Returns the text."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for r in cells:
        parts = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                           zip(r[1:], widths[1:])]
        out.append(indent + "  ".join(parts).rstrip())
    return "\n".join(out)


def facts(rows, indent="  "):
    """(label, value[, note]) rows: labels left, values right-aligned."""
    lw = max(len(r[0]) for r in rows)
    vw = max(len(str(r[1])) for r in rows)
    out = []
    for r in rows:
        line = "%s%s  %s" % (indent, r[0].ljust(lw), str(r[1]).rjust(vw))
        if len(r) > 2 and r[2]:
            line += "  " + r[2]
        out.append(line)
    return "\n".join(out)


# ---------------------------------------------------------------- ports

def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_block(count):
    """The first of count consecutive free loopback ports, below the
    kernel's ephemeral range (so outgoing connections do not take them)."""
    rnd = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(500):
        base = rnd.randrange(20000, 32000 - count)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise LabError("found no %d free ports in a row on %s" % (count, HOST))


# ---------------------------------------------------------------- HTTP

class Answer:
    """One HTTP exchange: status (None when it failed), body, ms, error
    kind ('refused', 'reset', 'timeout', ...) and served_by."""

    def __init__(self, status=None, body=b"", ms=0.0, error=None, headers=None):
        self.status = status
        self.body = body
        self.ms = ms
        self.error = error
        self.headers = headers or {}

    @property
    def served_by(self):
        return self.headers.get("x-served-by", "")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def __repr__(self):
        return "<%s %.1fms>" % (self.status or self.error, self.ms)


_ALL_HTTP = weakref.WeakSet()


def close_all_http():
    """Close every kept-alive connection: the LB drains idle client
    connections on SIGTERM, and waits for them."""
    for h in list(_ALL_HTTP):
        h.close()


class Http:
    """A keep-alive HTTP/1.1 client for one host:port with a cookie jar
    (the backend's sid and the LB's sticky cookie)."""

    def __init__(self, port, timeout=5.0):
        _ALL_HTTP.add(self)
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.cookies = {}
        self.bytes_in = 0
        self.requests = 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None):
        headers = {"Host": "%s:%d" % (HOST, self.port)}
        if self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        t0 = time.monotonic()
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(HOST, self.port,
                                                       timeout=self.timeout)
            try:
                self.requests += 1
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (ConnectionRefusedError, ConnectionResetError,
                    BrokenPipeError, http.client.RemoteDisconnected,
                    http.client.BadStatusLine, socket.timeout, OSError) as e:
                self.close()
                # A kept-alive connection the server closed: once more.
                if not fresh and attempt == 0 and not isinstance(e, socket.timeout):
                    self.requests -= 1
                    continue
                return Answer(error=_error_kind(e),
                              ms=(time.monotonic() - t0) * 1000.0)
            self.bytes_in += len(payload) + 200  # a head is about 200 bytes
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
            if hdrs.get("connection", "").lower() == "close":
                self.close()
            return Answer(resp.status, payload, (time.monotonic() - t0) * 1000.0,
                          headers=hdrs)
        return Answer(error="reset", ms=(time.monotonic() - t0) * 1000.0)

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None):
        return self.request("POST", path, body if body is not None else {})

    def login(self, user):
        return self.post("/login", {"username": user, "password": PASSWORD})


def _error_kind(e):
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, (ConnectionResetError, BrokenPipeError,
                      http.client.RemoteDisconnected)):
        return "reset"
    if isinstance(e, http.client.HTTPException):
        return "bad-response"
    return "error"


# ---------------------------------------------------------------- sb-client

WATCH_LINE = re.compile(
    r"^\d\d:\d\d:\d\d  sent +(?P<sent>\d+)  ok +(?P<ok>\d+)  err +(?P<err>\d+)"
    r"  p50 +\S+  p99 +\S+  (?P<served>.*?)(?:  errors (?P<errors>.*))?$")


def _counts(text):
    """{'backend-1': 7, ...} from 'backend-1:7 backend-2:6' ('-': none)."""
    out = {}
    for tok in (text or "").split():
        name, sep, num = tok.rpartition(":")
        if sep and num.isdigit():
            out[name] = int(num)
    return out


class Second:
    """One watch line: the second that ended at t (time.monotonic())."""

    def __init__(self, t, m):
        self.t = t
        self.sent = int(m.group("sent"))
        self.ok = int(m.group("ok"))
        self.err = int(m.group("err"))
        self.served = _counts(m.group("served"))
        self.errors = _counts(m.group("errors"))


class Watch:
    """`sb-client watch` as one person: its lines parsed as they come, each
    stamped with the moment it arrived; stop() ends it like Ctrl-C and
    returns the --json summary."""

    def __init__(self, lab, url, user, rate, label=None):
        self.lab = lab
        self.user = user
        label = label or user or "anonymous"
        self.json_path = lab.path("watch-%s-%d.json" % (label, lab.next_id()))
        self.cmd = [CLIENT, "watch", "--url", url, "--rate", str(rate),
                    "--user", user, "--color", "never", "--json", self.json_path]
        self.proc = lab.spawn(self.cmd, stdout=subprocess.PIPE)
        self.seconds = []
        self.started = threading.Event()
        self.other = []   # lines that are not per-second lines
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            m = WATCH_LINE.match(line)
            if m:
                self.seconds.append(Second(time.monotonic(), m))
            else:
                self.other.append(line)
                if line.startswith("sb-client watch:"):
                    self.started.set()
        self.started.set()

    def wait_started(self, timeout=10.0):
        if not self.started.wait(timeout) or self.proc.poll() is not None:
            raise LabError("sb-client watch as %s did not start: %s"
                           % (self.user, " | ".join(self.other[-5:])))

    def stop(self):
        """Ctrl-C: the answers still out come in, then the summary."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=2)
        try:
            with open(self.json_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            raise LabError("sb-client watch as %s left no summary (%s)"
                           % (self.user, " | ".join(self.other[-5:])))

    def between(self, t_from, t_to=None):
        """Totals over the seconds that ended after t_from (and by t_to)."""
        tot = {"sent": 0, "ok": 0, "err": 0, "served": {}, "errors": {},
               "seconds": 0}
        for s in list(self.seconds):
            if s.t <= t_from or (t_to is not None and s.t > t_to):
                continue
            tot["seconds"] += 1
            for k in ("sent", "ok", "err"):
                tot[k] += getattr(s, k)
            for d, src in (("served", s.served), ("errors", s.errors)):
                for name, c in src.items():
                    tot[d][name] = tot[d].get(name, 0) + c
        return tot

    def last_served(self):
        """The backend that answered most in the latest second, or None."""
        for s in reversed(list(self.seconds)):
            if s.served:
                return max(s.served, key=s.served.get)
        return None


def load(lab, url, duration, rate=None, clients=None, user="", path=None,
         timeout_ms=2000):
    """`sb-client load` to the end; returns its --json summary."""
    out = lab.path("load-%d.json" % lab.next_id())
    cmd = [CLIENT, "load", "--url", url, "--duration", str(duration),
           "--user", user, "--color", "never", "--timeout-ms", str(timeout_ms),
           "--json", out]
    cmd += ["--rate", str(rate)] if rate else ["--clients", str(clients)]
    if path:
        cmd += ["--path", path]
    proc = lab.spawn(cmd, stdout=subprocess.PIPE)
    text, _ = proc.communicate(timeout=duration + timeout_ms / 1000.0 + 20)
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise LabError("sb-client load left no summary: %s (exit %s)\n%s"
                       % (" ".join(cmd), proc.returncode,
                          text.decode("utf-8", "replace")))


# ---------------------------------------------------------------- the lab

class Lab:
    """One lab run: its folder, ports, cluster, child processes, clock."""

    def __init__(self, name, short):
        self.name = name
        self.short = short
        given = os.environ.get("SB_LAB_DIR")
        if given:
            os.makedirs(given, exist_ok=True)
            self.dir = os.path.abspath(given)
        else:
            self.dir = tempfile.mkdtemp(prefix="sb-lab-%s-" % name)
        self.own_dir = not given
        self.keep = False          # a lab that made files to look at sets it
        self.run_dir = os.path.join(self.dir, "cluster")
        base = free_port_block(6)
        self.redis_port = base
        self.lb_port = base + 1
        self.admin_port = base + 2
        self.backend_base = base + 3
        self.single = False
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SB_")}
        self.env.update(SB_RUN_DIR=self.run_dir, SB_REDIS_PORT=str(self.redis_port),
                        SB_BACKEND_BASE_PORT=str(self.backend_base),
                        SB_LB_PORT=str(self.lb_port),
                        SB_ADMIN_PORT=str(self.admin_port))
        self.children = []
        self.cluster_up = False
        self._id = 0
        self.t0 = time.monotonic()
        self.log_path = self.path("lab.log")

    # files and ids
    def path(self, name):
        return os.path.join(self.dir, name)

    def next_id(self):
        self._id += 1
        return self._id

    # narration
    def now(self):
        return time.monotonic() - self.t0

    def say(self, text):
        print("[%5.1fs] %s" % (self.now(), text), flush=True)

    def show(self, text=""):
        print(text, flush=True)

    # processes
    def spawn(self, cmd, stdout=None):
        """A child in its own session (Ctrl-C reaches only us; we end it)."""
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout or log,
                                    stderr=log, env=self.env, start_new_session=True)
        self.children.append(proc)
        return proc

    def timed(self, *args, **kw):
        t0 = time.monotonic()
        out = self.cluster(*args, **kw)
        with open(self.log_path, "a") as log:
            log.write("(%.2f s)\n" % (time.monotonic() - t0))
        return out

    def cluster(self, *args, check=True):
        """deploy/cluster ARGS against this lab's cluster; its output goes
        to lab.log (shown when it fails)."""
        res = subprocess.run([CLUSTER] + list(args), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=self.env, timeout=300)
        out = res.stdout.decode("utf-8", "replace")
        with open(self.log_path, "a") as log:
            log.write("$ deploy/cluster %s\n%s\n" % (" ".join(args), out))
        if check and res.returncode != 0:
            raise LabError("deploy/cluster %s failed (exit %d):\n%s"
                           % (" ".join(args), res.returncode, out))
        return out

    def up(self, *flags):
        if self.cluster_up:
            self.down()
        self.single = "--single" in flags
        self.cluster_up = True
        self.cluster("up", *flags)

    def down(self):
        close_all_http()
        if self.cluster_up:
            self.timed("down", check=False)
            self.cluster_up = False

    def cleanup(self, ok):
        """End our children, take the cluster down, tidy the folder."""
        for p in self.children:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self.down()
        if ok and self.own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif os.path.isdir(self.run_dir):     # keep the logs, not the data
            for f in os.listdir(self.run_dir):
                if ".db" in f:
                    os.unlink(os.path.join(self.run_dir, f))

    # addresses
    @property
    def url(self):
        """Where clients go: the LB, or the one backend in single mode."""
        return "http://%s:%d" % (HOST, self.backend_base if self.single else self.lb_port)

    @property
    def port(self):
        return self.backend_base if self.single else self.lb_port

    def backend_port(self, name):
        return self.backend_base + int(name.rsplit("-", 1)[1]) - 1

    def http(self, port=None, timeout=5.0):
        return Http(port or self.port, timeout)

    def lb_stats(self):
        a = Http(self.admin_port, 2.0).get("/stats")
        return a.json() if a.status == 200 else None

    def lb_backend(self, name):
        """This backend's entry in the LB's /stats (named by HOST:PORT)."""
        st = self.lb_stats() or {}
        want = "%s:%d" % (HOST, self.backend_port(name))
        for b in st.get("backends", []):
            if b.get("name") == want:
                return b
        return None

    def readyz(self, name):
        a = Http(self.backend_port(name), 1.0).get("/readyz")
        return a.json() if a.status is not None else None

    def wait_for(self, what, pred, timeout, step=0.05):
        """Poll pred() until true; seconds it took, or None on timeout."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pred():
                return time.monotonic() - t0
            time.sleep(step)
        return None

    def sleep_until(self, t):
        """Sleep until lab time t (seconds since the lab began)."""
        left = t - self.now()
        if left > 0:
            time.sleep(left)


def interrupt_on_signals():
    """SIGTERM and SIGHUP end a lab like Ctrl-C (the cluster still goes down)."""
    def raise_interrupt(sig, frame):
        raise KeyboardInterrupt
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_interrupt)


# The cluster's daemons are started by deploy/cluster with setsid and
# outlive it: their parent is then init, and an init that reaps late keeps a
# killed backend a zombie for a second or more, which deploy/cluster (kill -0)
# takes for alive. The lab becomes their parent instead (a child subreaper)
# and reaps them at once. Our own sb-client and deploy/cluster children are
# left to subprocess.
DAEMONS = ("sb-backend", "sb-lb", "redis-server")


def _reap_daemons():
    me = os.getpid()
    while True:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.find("(") + 1:stat.rfind(")")]
            fields = stat[stat.rfind(")") + 2:].split()
            if fields[0] == "Z" and int(fields[1]) == me and comm in DAEMONS:
                try:
                    os.waitpid(int(entry), os.WNOHANG)
                except ChildProcessError:
                    pass
        time.sleep(0.05)


def adopt_daemons():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, 1, 0, 0, 0) != 0:   # PR_SET_CHILD_SUBREAPER
            return
    except (OSError, AttributeError):
        return
    threading.Thread(target=_reap_daemons, daemon=True).start()


def ensure_gnuplot(lab, install):
    """The gnuplot binary, installing Debian's gnuplot-nox when we are root
    and install is true; None (with a note) when there is none."""
    exe = shutil.which("gnuplot")
    if exe or not install:
        return exe
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    lab.say("installing gnuplot-nox (Debian) to draw the curve...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-qq", "gnuplot-nox"],
                ["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "gnuplot-nox"]):
        try:
            subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            return None
        exe = shutil.which("gnuplot")
        if exe:
            return exe
    return None


def fatal(msg):
    print("lab: %s" % msg, file=sys.stderr, flush=True)
