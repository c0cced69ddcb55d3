"""An operator changes the backend list of a running sb-lb.

Three ways (issue 3): --backends-file PATH re-read on SIGHUP; the admin API
(POST /backends {"address":"HOST:PORT"}, DELETE /backends/HOST:PORT); and
--backends-dns NAME:PORT, resolved through evdns (/etc/hosts included, so
"localhost" needs no DNS server), where a name that does not resolve at
start is not fatal. A reload that fails (a bad line, a missing file) keeps
the old list and says so in the log; the LB goes on serving. Giving a bad
--backend, or two kinds of backend source at once, is refused at start
(exit 2, one line naming the problem).

Backends are misbehave.py processes answering 200 with X-Served-By: NAME;
"where did the traffic go" is read from that header and from each backend's
own request log. /stats names a backend "HOST:PORT".
"""

import os
import signal
import subprocess
import time
import unittest
import uuid

from harness import HOST, _child_setup, free_port, wait_until
from lbharness import LbTestCase, lb_bin

RUN_TIMEOUT = 5.0


class ReloadTest(LbTestCase):

    def tag(self):
        return uuid.uuid4().hex[:10]

    def write_file(self, path, lines):
        # Written whole and renamed into place: SIGHUP never reads half a file.
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        os.replace(tmp, path)

    def wait_backends(self, lb, names, timeout=5.0):
        want = sorted(names)
        try:
            return wait_until(lambda: sorted(lb.backend_names()) == want, timeout,
                              interval=0.02, what="/stats backends == %r" % want)
        except AssertionError as exc:
            raise AssertionError("%s; /stats has %r" % (exc, lb.backend_names()))

    def served_by(self, lb, n, prefix):
        """n GETs in a row, each on a new connection: the X-Served-By of
        each (all must be 200 from a backend)."""
        out = []
        for i in range(n):
            path = "/%s-%d-%s" % (prefix, i, self.tag())
            r = lb.get(path, timeout=5.0)
            self.assertStatus(r, 200, "GET %s" % path)
            out.append(r.header("X-Served-By"))
        return out

    def assertRotation(self, seq, names, msg):
        """Strict round-robin over names: each in turn, none twice in a row."""
        self.assertEqual(sorted(set(seq)), sorted(names), "%s: %r" % (msg, seq))
        k = len(names)
        for i in range(len(seq) - k):
            self.assertEqual(seq[i], seq[i + k], "%s: not a rotation: %r" % (msg, seq))
        for i in range(len(seq) - 1):
            self.assertNotEqual(seq[i], seq[i + 1], "%s: twice in a row: %r"
                                % (msg, seq))

    def wait_log(self, lb, text, timeout=3.0):
        return wait_until(lambda: text in lb.log_text(), timeout, interval=0.02,
                          what="%r in the sb-lb log" % text)

    # -- --backends-file + SIGHUP ---------------------------------------------

    def test_backends_file_reloaded_on_sighup(self):
        a = self.start_misbehave("ok", name="A")
        b = self.start_misbehave("ok", name="B")
        path = os.path.join(self.tmp, "backends-%s.txt" % self.tag())
        self.write_file(path, ["# the cluster", a.addr])
        lb = self.start_lb([], backends_file=path)
        self.assertEqual(lb.backend_names(), [a.addr])
        self.assertEqual(self.served_by(lb, 3, "only-a"), ["A"] * 3)

        # Add B (comments, blank lines and trailing comments are fine).
        self.write_file(path, ["# the cluster", a.addr, "", "  %s   # new" % b.addr])
        lb.signal(signal.SIGHUP)
        self.wait_backends(lb, [a.addr, b.addr])
        self.assertRotation(self.served_by(lb, 6, "a-and-b"), ["A", "B"],
                            "after adding B")

        # Remove A: only B from now on.
        self.write_file(path, [b.addr])
        lb.signal(signal.SIGHUP)
        self.wait_backends(lb, [b.addr])
        before_a = len(a.requests())
        tag = self.tag()
        self.assertEqual(self.served_by(lb, 4, "only-b-" + tag), ["B"] * 4)
        self.assertEqual(len(a.requests()), before_a, "A got traffic after removal")

        # A broken file: the whole reload is refused, nothing of it applied
        # (A is on a good line of it), the LB says so and serves on.
        self.write_file(path, [a.addr, "this is not a backend", b.addr])
        lb.signal(signal.SIGHUP)
        self.wait_log(lb, "reload failed")
        self.assertTrue(lb.alive(), "sb-lb exited on a bad backends file")
        self.assertEqual(lb.backend_names(), [b.addr], "the old list must stay")
        self.assertEqual(self.served_by(lb, 4, "after-bad"), ["B"] * 4)
        self.assertEqual(len(a.requests()), before_a, "A got traffic after a bad reload")
        errors = [ln for ln in lb.log_text().splitlines() if "reload failed" in ln]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("ERROR", errors[0], "a failed reload is an error: %r" % errors[0])
        self.assertIn("this", errors[0], "the error names the bad entry: %r" % errors[0])

        # A file that is gone: the same.
        os.unlink(path)
        lb.signal(signal.SIGHUP)
        wait_until(lambda: lb.log_text().count("reload failed") == 2, 3.0,
                   what="a second 'reload failed' (missing file)")
        self.assertEqual(lb.backend_names(), [b.addr])
        self.assertEqual(self.served_by(lb, 2, "after-missing"), ["B"] * 2)

        # Fixed again: reloads still work.
        self.write_file(path, [a.addr, b.addr])
        lb.signal(signal.SIGHUP)
        self.wait_backends(lb, [a.addr, b.addr])
        self.assertRotation(self.served_by(lb, 6, "fixed"), ["A", "B"],
                            "after fixing the file")
        self.assertEqual(lb.stats()["errors_5xx"], 0, "no 5xx during the reloads")

    # -- admin API --------------------------------------------------------------

    def test_admin_api_adds_and_removes_backends(self):
        a = self.start_misbehave("ok", name="A")
        b = self.start_misbehave("ok", name="B")
        lb = self.start_lb([a])
        self.assertEqual(self.served_by(lb, 2, "only-a"), ["A"] * 2)

        r = lb.admin_post("/backends", body={"address": b.addr})
        self.assertStatus(r, 201, "POST /backends")
        self.assertEqual(r.json(), {"added": b.addr})
        self.wait_backends(lb, [a.addr, b.addr])
        self.assertRotation(self.served_by(lb, 6, "a-and-b"), ["A", "B"],
                            "after POST /backends")

        # Bad requests change nothing.
        for body in ({"address": "nonsense"}, {"address": "127.0.0.1:99999"},
                     {"addr": b.addr}, "not json"):
            with self.subTest(body=body):
                r = lb.admin_post("/backends", body=body)
                self.assertJsonError(r, 400, "POST /backends %r" % (body,))
                self.assertEqual(sorted(lb.backend_names()), sorted([a.addr, b.addr]))

        r = lb.admin_delete("/backends/%s" % a.addr)
        self.assertStatus(r, 200, "DELETE /backends/%s" % a.addr)
        self.assertEqual(r.json(), {"removed": a.addr})
        self.wait_backends(lb, [b.addr])
        before_a = len(a.requests())
        self.assertEqual(self.served_by(lb, 4, "only-b"), ["B"] * 4)
        self.assertEqual(len(a.requests()), before_a, "A got traffic after DELETE")

        r = lb.admin_delete("/backends/%s" % a.addr)
        self.assertJsonError(r, 404, "DELETE of a backend not in the list")
        self.assertEqual(lb.backend_names(), [b.addr])

        # Back again through the API.
        r = lb.admin_post("/backends", body={"address": a.addr})
        self.assertStatus(r, 201, "POST /backends again")
        self.wait_backends(lb, [a.addr, b.addr])
        self.assertRotation(self.served_by(lb, 6, "again"), ["A", "B"],
                            "after adding A back")

    # -- --backends-dns --------------------------------------------------------

    def test_backends_dns_localhost(self):
        a = self.start_misbehave("ok", name="dnsA")
        lb = self.start_lb([], backends_dns="localhost:%d" % a.port)
        self.wait_backends(lb, ["%s:%d" % (HOST, a.port)])
        self.assertEqual(self.served_by(lb, 3, "dns"), ["dnsA"] * 3)
        lb.signal(signal.SIGHUP)   # a re-resolve on demand changes nothing
        self.wait_log(lb, "SIGHUP")
        self.assertEqual(self.served_by(lb, 2, "dns-hup"), ["dnsA"] * 2)
        self.assertEqual(lb.backend_names(), ["%s:%d" % (HOST, a.port)])

    def test_backends_dns_name_that_does_not_resolve_is_not_fatal(self):
        lb = self.start_lb([], backends_dns="no-such-host.invalid:9000")
        self.assertTrue(lb.alive())
        self.assertEqual(lb.stats()["backends"], [], "no backend for an unknown name")
        for i in range(3):
            t0 = time.monotonic()
            r = lb.get("/nobody-%d" % i, timeout=3.0)
            took = time.monotonic() - t0
            self.assertLbError(r, 503, "no backend resolved yet")
            self.assertLess(took, 0.2, "503 took %.3fs" % took)
        self.assertEqual(lb.stats()["backends"], [])
        lb.signal(signal.SIGTERM)
        code = lb.wait(5.0)
        self.assertEqual(code, 0, "sb-lb exit code after SIGTERM:\n%s" % lb.log_tail())
        self.assertIn("drained, exiting", lb.log_text())

    # -- refused at start -------------------------------------------------------

    def run_lb(self, args):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SB_")}
        argv = [lb_bin(), "--listen", "%s:%d" % (HOST, free_port()),
                "--admin", "%s:%d" % (HOST, free_port())] + [str(a) for a in args]
        try:
            res = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=full_env, timeout=RUN_TIMEOUT,
                                 preexec_fn=_child_setup)
        except subprocess.TimeoutExpired:
            self.fail("sb-lb %r was still running after %.0fs: it accepted a bad "
                      "configuration" % (args, RUN_TIMEOUT))
        return res.returncode, res.stderr.decode(errors="replace")

    def assertRefused(self, args, *words):
        code, err = self.run_lb(args)
        self.assertEqual(code, 2, "%r: exit %d, stderr %r" % (args, code, err))
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "%r: one line on stderr, got %r" % (args, err))
        for w in words:
            self.assertIn(w, lines[0], "%r: the message must mention %r" % (args, w))

    def test_bad_backend_values_are_refused(self):
        for value in ("nonsense", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:0",
                      "127.0.0.1:http"):
            with self.subTest(value=value):
                self.assertRefused(["--backend", value], "--backend", value)

    def test_two_kinds_of_backend_source_are_refused(self):
        path = os.path.join(self.tmp, "both-%s.txt" % self.tag())
        self.write_file(path, ["%s:%d" % (HOST, free_port())])
        one = "%s:%d" % (HOST, free_port())
        self.assertRefused(["--backend", one, "--backends-file", path],
                           "--backend", "--backends-file")
        self.assertRefused(["--backend", one, "--backends-dns", "localhost:9000"],
                           "--backends-dns")
        self.assertRefused(["--backends-file", path, "--backends-dns", "localhost:9000"],
                           "--backends-file")
        self.assertRefused([], "--backend")

    def test_bad_backends_file_at_start_is_refused(self):
        missing = os.path.join(self.tmp, "missing-%s.txt" % self.tag())
        self.assertRefused(["--backends-file", missing], "--backends-file", missing)
        bad = os.path.join(self.tmp, "bad-%s.txt" % self.tag())
        self.write_file(bad, ["%s:%d" % (HOST, free_port()), "127.0.0.1:99999"])
        self.assertRefused(["--backends-file", bad], "--backends-file", "99999")


if __name__ == "__main__":
    unittest.main()
