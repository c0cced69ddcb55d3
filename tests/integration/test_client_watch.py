"""A person runs `sb-client watch` and breaks the cluster while it runs.

Real redis-server, real sb-backends, a real sb-lb (fast health checks), and
the real sb-client binary; its printed lines are what the tests read:

  * through the LB, three backends: a line a second, all three backends
    named, no errors;
  * kill -9 one backend mid-run: still no errors (the LB retries), and the
    dead one drops out of the lines;
  * one backend without the LB, killed: the errors show as "refused", in
    the lines and in the summary (the single point of failure);
  * memory sessions behind round-robin: requests come back 401, counted as
    "logged-out", and sb-client logs in again by itself;
  * nothing listening: errors counted, no crash, exit 0;
  * bad flags: a message and exit 2.

The helpers at the top are shared with test_client_load.py.
"""

import os
import re
import signal
import subprocess
import time
import unittest

from harness import Proc, Timeout, build_dir, seed_db, wait_until
from lbharness import LbTestCase, closed_port


def client_bin():
    return os.path.join(build_dir(), "client", "sb-client")


def clean_env():
    """Our environment without SB_* variables (they would set flags)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SB_") or k == "SB_BUILD_DIR"}


def run_client(args, timeout):
    """Run sb-client to the end: (exit code, stdout, stderr)."""
    try:
        res = subprocess.run([client_bin()] + [str(a) for a in args],
                             stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=timeout, env=clean_env())
    except subprocess.TimeoutExpired:
        raise AssertionError("sb-client %s did not end within %.0fs"
                             % (" ".join(map(str, args)), timeout)) from None
    return (res.returncode, res.stdout.decode("utf-8", "replace"),
            res.stderr.decode("utf-8", "replace"))


WATCH_LINE_RE = re.compile(
    r"^(?P<time>\d\d:\d\d:\d\d)  sent +(?P<sent>\d+)  ok +(?P<ok>\d+)  "
    r"err +(?P<err>\d+)  p50 +(?P<p50>\S+)  p99 +(?P<p99>\S+)  (?P<rest>.*)$")


def name_counts(text):
    """{"backend-1": 7, ...} from "backend-1:7 backend-2:6"."""
    out = {}
    for tok in text.split():
        name, sep, n = tok.rpartition(":")
        if sep and n.isdigit():
            out[name] = int(n)
    return out


def ms(text):
    """Milliseconds from "2.97ms" / "250ms"; None for "-"."""
    return None if text == "-" else float(text[:-2])


def watch_lines(text):
    """The per-second lines of watch output, parsed."""
    lines = []
    for raw in text.splitlines():
        m = WATCH_LINE_RE.match(raw)
        if not m:
            continue
        served, _, errors = m.group("rest").partition("  errors ")
        lines.append({"sent": int(m.group("sent")), "ok": int(m.group("ok")),
                      "err": int(m.group("err")), "p50": ms(m.group("p50")),
                      "p99": ms(m.group("p99")), "served": name_counts(served),
                      "errors": name_counts(errors), "raw": raw})
    return lines


def watch_summary(text):
    """The summary block of watch output as a dict (asserts it is there)."""
    m = re.search(r"^requests  sent (\d+)  ok (\d+)  errors (\d+)  "
                  r"unfinished (\d+)$", text, re.M)
    if not m:
        raise AssertionError("no summary in:\n%s" % text)
    s = {"sent": int(m.group(1)), "ok": int(m.group(2)),
         "errors": int(m.group(3)), "unfinished": int(m.group(4))}
    m = re.search(r"^errors    (.*)$", text, re.M)
    s["kinds"] = {} if m.group(1) == "none" else name_counts(m.group(1))
    m = re.search(r"^latency   p50 (\S+)  p90 (\S+)  p99 (\S+)  max (\S+)$",
                  text, re.M)
    s["p50"], s["p90"], s["p99"], s["max"] = (ms(g) for g in m.groups())
    m = re.search(r"^served    (.*)$", text, re.M)
    s["served"] = name_counts(m.group(1))
    m = re.search(r"^logins    (\d+) \((\d+) after a 401, (\d+) failed\)$",
                  text, re.M)
    if m:
        s["logins"], s["relogins"], s["login_failures"] = map(int, m.groups())
    return s


class ClientWatchTest(LbTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(client_bin(), os.X_OK):
            raise AssertionError("no sb-client binary at %s" % client_bin())
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()

    def three_backends_and_lb(self, sessions="redis"):
        redis = self.redis.addr if sessions == "redis" else None
        backends = [self.start_sb_backend(self.db, name="backend-%d" % (i + 1),
                                          sessions=sessions, redis=redis)
                    for i in range(3)]
        lb = self.start_lb(backends, health_interval=200, fall=2, rise=2)
        return backends, lb

    def start_watch(self, url, *args):
        """sb-client watch in the background; its output goes to a log."""
        argv = [client_bin(), "watch", "--url", url] + [str(a) for a in args]
        p = Proc("sb-client", argv, self.tmp)
        self._test_procs.append(p)
        return p

    def wait_lines(self, proc, n, timeout):
        return wait_until(lambda: len(watch_lines(proc.log_text())) >= n,
                          timeout, interval=0.05,
                          what="%d watch lines from sb-client" % n)

    def test_watch_through_the_lb_shows_every_backend_and_no_errors(self):
        _, lb = self.three_backends_and_lb()
        rc, out, err = run_client(["watch", "--url", "http://%s" % lb.addr,
                                   "--duration", 3, "--rate", 20], timeout=15)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("\033[", out, "colour codes on a pipe")
        self.assertIn("sb-client watch: GET http://%s/feed?limit=5 as alice"
                      % lb.addr, out)
        lines = watch_lines(out)
        self.assertEqual(len(lines), 3, out)
        seen = set()
        for line in lines:
            self.assertGreater(line["ok"], 0, line["raw"])
            self.assertEqual(line["err"], 0, line["raw"])
            self.assertTrue(17 <= line["sent"] <= 23, line["raw"])
            self.assertIsNotNone(line["p99"], line["raw"])
            seen |= set(line["served"])
        self.assertEqual(seen, {"backend-1", "backend-2", "backend-3"}, out)
        s = watch_summary(out)
        self.assertEqual(s["sent"], 60, out)
        self.assertEqual(s["ok"], 60, out)
        self.assertEqual(s["errors"], 0, out)
        self.assertEqual(s["kinds"], {}, out)
        self.assertEqual(sum(s["served"].values()), 60, out)
        self.assertEqual(s["logins"], 1, out)
        self.assertTrue(0 < s["p50"] <= s["p90"] <= s["p99"] <= s["max"], out)

    def test_kill_9_one_backend_behind_the_lb_loses_nothing(self):
        backends, lb = self.three_backends_and_lb()
        watch = self.start_watch("http://%s" % lb.addr, "--duration", 4,
                                 "--rate", 20)
        self.wait_lines(watch, 1, timeout=5)
        backends[1].kill()
        self.assertEqual(watch.wait(timeout=10), 0, watch.log_text())
        out = watch.log_text()
        lines = watch_lines(out)
        self.assertEqual(len(lines), 4, out)
        s = watch_summary(out)
        self.assertEqual(s["errors"], 0, "errors while a backend died:\n" + out)
        self.assertEqual(s["ok"], s["sent"], out)
        self.assertEqual(s["sent"], 80, out)
        self.assertNotIn("backend-2", lines[-1]["served"],
                         "the dead backend still serving:\n" + out)
        self.assertEqual(set(lines[-1]["served"]), {"backend-1", "backend-3"}, out)

    def test_single_backend_killed_shows_refused(self):
        backend = self.start_sb_backend(self.db, name="only",
                                        redis=self.redis.addr)
        watch = self.start_watch("http://%s" % backend.addr, "--duration", 4,
                                 "--rate", 20)
        self.wait_lines(watch, 1, timeout=5)
        backend.kill()
        self.assertEqual(watch.wait(timeout=10), 0, watch.log_text())
        out = watch.log_text()
        lines = watch_lines(out)
        self.assertEqual(len(lines), 4, out)
        self.assertEqual(lines[0]["err"], 0, out)
        # From the kill on, nothing answers: every request is refused.
        self.assertEqual(lines[-1]["ok"], 0, out)
        self.assertGreater(lines[-1]["errors"].get("refused", 0), 0, out)
        s = watch_summary(out)
        self.assertGreater(s["kinds"].get("refused", 0), 20, out)
        self.assertLessEqual(set(s["kinds"]), {"refused", "reset"}, out)
        self.assertEqual(s["ok"] + s["errors"] + s["unfinished"], s["sent"], out)
        self.assertGreater(s["ok"], 0, out)

    def test_memory_sessions_behind_round_robin_log_people_out(self):
        _, lb = self.three_backends_and_lb(sessions="memory")
        rc, out, err = run_client(["watch", "--url", "http://%s" % lb.addr,
                                   "--duration", 2, "--rate", 20], timeout=15)
        self.assertEqual(rc, 0, err)
        s = watch_summary(out)
        self.assertGreater(s["kinds"].get("logged-out", 0), 0, out)
        self.assertGreater(s["relogins"], 0, "no login again after a 401:\n" + out)
        self.assertGreater(s["logins"], 1, out)
        self.assertTrue(any("logged-out" in l["errors"] for l in watch_lines(out)),
                        out)

    def test_nothing_listening_counts_errors_and_exits_0(self):
        port = closed_port()
        rc, out, err = run_client(["watch", "--url", "http://127.0.0.1:%d" % port,
                                   "--duration", 1, "--rate", 10], timeout=10)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("login as alice failed: refused", err)
        s = watch_summary(out)
        self.assertEqual(s["sent"], 10, out)
        self.assertEqual(s["kinds"], {"refused": 10}, out)
        self.assertEqual(s["ok"], 0, out)

    def test_ctrl_c_prints_the_summary_and_exits_0(self):
        _, lb = self.three_backends_and_lb()
        watch = self.start_watch("http://%s" % lb.addr, "--rate", 20)
        self.wait_lines(watch, 1, timeout=5)
        watch.signal(signal.SIGINT)
        self.assertEqual(watch.wait(timeout=5), 0, watch.log_text())
        s = watch_summary(watch.log_text())
        self.assertGreater(s["ok"], 0)
        self.assertEqual(s["errors"], 0)

    def test_bad_flags_exit_2(self):
        cases = [
            [], ["frobnicate"], ["watch", "--bogus"], ["watch", "--rate", "0"],
            ["watch", "--rate", "many"], ["watch", "--rate"],
            ["watch", "--url", "https://127.0.0.1:8080"],
            ["watch", "--url", "127.0.0.1:8080"],
            ["watch", "--url", "http://h:99999"], ["watch", "--path", "feed"],
            ["watch", "positional"], ["watch", "--color", "purple"],
            ["load", "--rate", "5"], ["load", "--duration", "1"],
            ["load", "--rate", "5", "--clients", "2", "--duration", "1"],
            ["load", "--rate", "5", "--duration", "99999"],
            ["load", "--clients", "0", "--duration", "1"],
            ["load", "--rate", "5", "--duration", "1", "--csv", "/nonexistent/x.csv"],
        ]
        for args in cases:
            rc, out, err = run_client(args, timeout=5)
            self.assertEqual(rc, 2, "%r: exit %d, %r %r" % (args, rc, out, err))
            self.assertTrue(err.strip(), "%r: no message" % (args,))
        self.assertIn("https is not supported",
                      run_client(["watch", "--url", "https://x"], 5)[2])
        for args in (["--help"], ["watch", "--help"], ["load", "--help"]):
            rc, out, _ = run_client(args, timeout=5)
            self.assertEqual(rc, 0, args)
            self.assertIn("usage:", out)
        self.assertIn("--rate", run_client(["load", "--help"], 5)[1])


if __name__ == "__main__":
    unittest.main()
