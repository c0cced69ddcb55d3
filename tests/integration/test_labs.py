"""A person runs `deploy/lab NAME`: each lab, in its --short form, on a real
cluster of its own (deploy/cluster on free ports in a folder of its own).

Each test runs one lab to the end with a deadline and checks its exit
status, its VERDICT line and the numbers it wrote to result.json (the
verdict's numbers must be those numbers):

  * failover: 0 requests failed, 0 logged out, backend-2 rejoined;
  * spof: requests failed, none answered during the outage, all after it;
  * stateful: round-robin logged people out, sticky did not until its
    backend died, then only that backend's people were; Redis: nobody;
  * redis-down: every session call got 503, every public read 200, and
    logins came back;
  * overload: one server: no queue at 3 clients, a queue at 10, 503s at
    80, p99 rising; three servers: the knee moves past 10, more than twice
    as much served (and the PNG when gnuplot is here);
  * push-vs-pull: every post seen both ways, push sooner than pull;
  * Ctrl-C in the middle of a lab still takes its cluster down;
  * `deploy/lab list`, no name, an unknown name; sb-client's --json
    summary, which the labs read.

The labs use the build/ tree (deploy/cluster builds it), so under another
build tree (the sanitizer pass) the file is skipped: it would run the same
binaries again.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(ROOT, "deploy", "lab")
CLUSTER = os.path.join(ROOT, "deploy", "cluster")
DEADLINE_S = 120


def same_build_tree():
    bd = os.environ.get("SB_BUILD_DIR")
    return bd is None or os.path.realpath(bd) == os.path.realpath(
        os.path.join(ROOT, "build"))


def num(text):
    """'1,203' -> 1203."""
    return int(text.replace(",", ""))


def lab_env(lab_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SB_")}
    env["SB_LAB_DIR"] = lab_dir
    return env


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cluster_pids(lab_dir):
    run = os.path.join(lab_dir, "cluster")
    out = {}
    if os.path.isdir(run):
        for f in os.listdir(run):
            if f.endswith(".pid"):
                try:
                    with open(os.path.join(run, f)) as fh:
                        out[f[:-4]] = int(fh.read().strip())
                except (OSError, ValueError):
                    pass
    return out


@unittest.skipUnless(same_build_tree(), "the labs run build/, tested in that pass")
class LabTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sb-test-lab-")

    def tearDown(self):
        # Whatever happened, no cluster of ours is left running.
        env = lab_env(self.dir)
        env["SB_RUN_DIR"] = os.path.join(self.dir, "cluster")
        if os.path.isdir(env["SB_RUN_DIR"]):
            subprocess.run([CLUSTER, "down"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def lab(self, name, expect_rc=0):
        """Run deploy/lab NAME --short: (output, result.json, verdict)."""
        proc = subprocess.Popen([LAB, name, "--short"], env=lab_env(self.dir),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)   # the lab takes its cluster down
            try:
                out, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            self.fail("deploy/lab %s --short took over %d s:\n%s"
                      % (name, DEADLINE_S, out.decode("utf-8", "replace")))
        text = out.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, expect_rc,
                         "deploy/lab %s exited %d:\n%s" % (name, proc.returncode, text))
        verdicts = [l for l in text.splitlines() if l.startswith("VERDICT: ")]
        self.assertEqual(len(verdicts), 1, text)
        with open(os.path.join(self.dir, "result.json")) as f:
            result = json.load(f)
        self.assertEqual(result["lab"], name)
        self.assertTrue(result["short"])
        self.assertEqual(result["verdict"], verdicts[0][len("VERDICT: "):])
        # The cluster went down: none of its processes is left.
        for who, pid in cluster_pids(self.dir).items():
            self.assertFalse(pid_alive(pid), "%s (pid %d) still runs" % (who, pid))
        return text, result["numbers"], result["verdict"]

    def test_failover(self):
        text, r, verdict = self.lab("failover")
        m = re.search(r"failover lost ([\d,]+) of ([\d,]+) requests; nobody was "
                      r"logged out; backend-2 served again ([\d.]+) s after", verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual(num(m.group(1)), 0)
        self.assertEqual(num(m.group(2)), r["sent"])
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["logged_out"], 0)
        self.assertGreater(r["sent"], 200)          # 4 people x 10/s for 8+ s
        self.assertEqual(r["served_while_dead"], 0)
        self.assertIsNotNone(r["rejoin_s"])
        self.assertLess(r["rejoin_s"], 10)
        self.assertAlmostEqual(float(m.group(3)), r["rejoin_s"], delta=0.06)
        self.assertIn("killing backend-2 now", text)

    def test_spof(self):
        text, r, verdict = self.lab("spof")
        m = re.search(r"([\d,]+) of ([\d,]+) requests failed \(([a-z/-]+)\) during the "
                      r"([\d.]+) s outage", verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual(num(m.group(1)), r["failed"])
        self.assertEqual(num(m.group(2)), r["sent"])
        self.assertGreater(r["failed"], 0)
        self.assertIn("refused", r["kinds"])
        self.assertGreater(r["failed_during_outage"], 0)
        self.assertEqual(r["ok_during_outage"], 0)   # everything failed meanwhile
        self.assertGreater(r["ok_after"], 0)         # and works once it is back
        self.assertEqual(r["failed_after"], 0)
        self.assertGreater(r["outage_s"], 2.5)       # killed for 3 s
        self.assertLess(r["outage_s"], 10)
        self.assertEqual(r["logged_out"], 0)         # sessions are in Redis
        self.assertIn("killing backend-1 now", text)

    def test_stateful(self):
        text, r, verdict = self.lab("stateful")
        m = re.search(r"round-robin logged out ([\d,]+) of ([\d,]+) requests; "
                      r"sticky: ([\d,]+) logged out until (backend-\d) died, then "
                      r"([\d,]+) \(", verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual(num(m.group(1)), r["round_robin_logged_out"])
        self.assertEqual(num(m.group(3)), r["sticky_before_kill"])
        self.assertEqual(m.group(4), r["sticky_victim"])
        self.assertEqual(num(m.group(5)), r["sticky_after_kill"])
        self.assertGreater(r["round_robin_logged_out"], 0)
        self.assertEqual(r["sticky_before_kill"], 0)
        self.assertGreater(r["sticky_after_kill"], 0)
        # Only the people whose backend died were logged out; alice was one.
        self.assertIn("alice", r["sticky_people_out"])
        self.assertLessEqual(set(r["sticky_people_out"]),
                             set(r["sticky_people_on_victim"]))
        self.assertEqual(r["redis_before_kill"], 0)
        self.assertEqual(r["redis_after_kill"], 0)
        self.assertTrue(verdict.endswith("the same kill logged out nobody"), verdict)

    def test_redis_down(self):
        text, r, verdict = self.lab("redis-down")
        m = re.search(r"([\d,]+) of ([\d,]+) logins/likes/feeds got a 503 in "
                      r"[\d.]+ m?s, ([\d,]+) of ([\d,]+) public reads went on; "
                      r"Redis back: logins worked after ([\d.]+) s", verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual(num(m.group(1)), r["session_503_down"])
        self.assertEqual(num(m.group(2)), r["session_requests_down"])
        self.assertEqual(num(m.group(3)), r["reads_ok_down"])
        self.assertEqual(num(m.group(4)), r["reads_down"])
        self.assertGreater(r["session_requests_down"], 0)
        self.assertEqual(r["session_503_down"], r["session_requests_down"])
        self.assertGreater(r["reads_down"], 0)
        self.assertEqual(r["reads_ok_down"], r["reads_down"])
        self.assertEqual(r["baseline_ok"], r["baseline_requests"])
        self.assertLess(r["answer_ms_down"], 500)    # a quick, clear answer
        self.assertIsNotNone(r["recover_login_s"])
        self.assertIsNotNone(r["recover_like_s"])
        self.assertIn("single point of failure", verdict)

    def test_overload(self):
        text, r, verdict = self.lab("overload")
        one, three = r["one_server"], r["three_servers"]
        self.assertEqual([s["clients"] for s in one], [3, 10, 80])
        self.assertEqual([s["clients"] for s in three], [3, 10, 80])
        first, top = one[0], one[-1]
        m = re.search(r"one server \(5 req/s\): the queue built up from (\d+) "
                      r"clients, p99 rose from [\d.]+ m?s to [\d.]+ m?s, (\d+)% "
                      r"rejected at 80; three servers: the knee moved to (\d+) "
                      r"clients, (\d+)% rejected at 80", verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual(int(m.group(1)), r["knee_one"])
        self.assertEqual(int(m.group(2)), round(top["rejected_pct"]))
        self.assertEqual(int(m.group(3)), r["knee_three"])
        self.assertEqual(int(m.group(4)), round(three[-1]["rejected_pct"]))
        # One server: comfortable at 3, a queue at 10, turned away at 80.
        self.assertEqual(first["rejected"], 0)
        self.assertGreater(top["rejected"], 0)
        self.assertGreater(top["rejected_pct"], 50)
        self.assertGreater(one[1]["queue_avg"], 1)
        self.assertGreater(top["queue_max"], 10)                 # a queue of 15
        self.assertGreater(top["p99_ms"], 3 * first["p99_ms"])   # p99 rising
        self.assertGreater(one[1]["p99_ms"], 2 * first["p99_ms"])
        self.assertAlmostEqual(r["max_served_one"], 5.0, delta=1.0)
        # Three servers: the knee moved; more served, fewer turned away.
        self.assertEqual(r["knee_one"], 10)
        self.assertGreater(r["knee_three"], r["knee_one"])
        self.assertLess(three[1]["p99_ms"], one[1]["p99_ms"] / 2)
        self.assertGreater(r["max_served_three"], 2 * r["max_served_one"])
        self.assertLess(three[-1]["rejected_pct"], top["rejected_pct"])
        if shutil.which("gnuplot"):
            self.assertIsNotNone(r["png"])
            with open(r["png"], "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertIn("one server: 80 clients (80 requests a second)", text)

    def test_push_vs_pull(self):
        text, r, verdict = self.lab("push-vs-pull")
        m = re.search(r"push: median ([\d.]+) (ms|s), 1 request; pull: median "
                      r"([\d.]+) (ms|s), ([\d,]+) requests", verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual(num(m.group(5)), r["pull_requests"])
        self.assertEqual(r["push_seen"], r["posts"])
        self.assertEqual(r["pull_seen"], r["posts"])
        self.assertLess(r["push_median_ms"], r["pull_median_ms"])
        self.assertLess(r["push_median_ms"], 250)
        self.assertLess(r["pull_max_ms"], 2500)      # one poll period and change
        self.assertGreater(r["pull_requests"], 3)

    def test_ctrl_c_takes_the_cluster_down(self):
        proc = subprocess.Popen([LAB, "failover", "--short"], env=lab_env(self.dir),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end and "lb" not in cluster_pids(self.dir):
                time.sleep(0.1)
            pids = cluster_pids(self.dir)
            self.assertIn("lb", pids)
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        text = out.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 130, text)
        self.assertIn("interrupted", text)
        self.assertNotIn("VERDICT", text)
        for who, pid in pids.items():
            self.assertFalse(pid_alive(pid), "%s (pid %d) still runs" % (who, pid))

    def test_client_json_summary(self):
        """sb-client --json, which the labs read: nothing listens there."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        out = os.path.join(self.dir, "load.json")
        res = subprocess.run([os.path.join(ROOT, "build", "client", "sb-client"),
                              "load", "--rate", "20", "--duration", "1", "--user", "",
                              "--url", "http://127.0.0.1:%d" % port, "--json", out],
                             env=lab_env(self.dir), capture_output=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        with open(out) as f:
            j = json.load(f)
        self.assertEqual(j["mode"], "load")
        self.assertEqual(j["sent"], 20)
        self.assertEqual(j["ok"], 0)
        self.assertEqual(j["errors"], 20)
        self.assertEqual(j["errors_by"], {"refused": 20})
        self.assertEqual(j["ok_latency_ms"], {"p50": None, "p90": None, "p99": None,
                                              "max": None})
        self.assertEqual(j["served"], {})

    def test_usage(self):
        res = subprocess.run([LAB, "list"], capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0)
        for name in ("failover", "spof", "stateful", "redis-down", "overload",
                     "push-vs-pull"):
            self.assertRegex(res.stdout, r"(?m)^  %s " % re.escape(name))
        res = subprocess.run([LAB], capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 2)
        res = subprocess.run([LAB, "no-such-lab"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(res.returncode, 2)
        self.assertIn("no lab 'no-such-lab'", res.stderr)


if __name__ == "__main__":
    unittest.main()
