"""An operator mistypes a flag: the backend refuses to start with one clear
line naming the flag (exit 2), or a clear message for a missing file (exit 1).
It never crashes and never starts serving with a bad setting."""

import os
import socket
import subprocess
import unittest

from harness import (HOST, ClusterTestCase, Proc, _child_setup, backend_bin,
                     free_port, request, seed_db, wait_until)

RUN_TIMEOUT = 5.0


class ConfigErrorsTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = seed_db(cls.tmp, users=8, posts_per_user=2)

    def run_backend(self, args, env=None):
        """Run sb-backend to completion (killed if it is still up after
        RUN_TIMEOUT: a bad config must not start a server)."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SB_")}
        full_env.update(env or {})
        try:
            res = subprocess.run([backend_bin()] + [str(a) for a in args],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=full_env,
                                 timeout=RUN_TIMEOUT, preexec_fn=_child_setup)
        except subprocess.TimeoutExpired:
            self.fail("sb-backend %r was still running after %.0fs: it accepted "
                      "a bad configuration" % (args, RUN_TIMEOUT))
        return res.returncode, res.stdout.decode(errors="replace"), \
            res.stderr.decode(errors="replace")

    def good_args(self):
        return ["--listen", "%s:%d" % (HOST, free_port()), "--db", self.db,
                "--sessions", "memory"]

    def assertRejected(self, args, flag, env=None):
        code, out, err = self.run_backend(args, env=env)
        self.assertEqual(code, 2, "%r (env %r): exit %d, stderr %r"
                         % (args, env, code, err))
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "one line on stderr, got %r" % err)
        self.assertIn(flag.lower(), lines[0].lower(),
                      "the message must name %r: %r" % (flag, lines[0]))

    def test_bad_listen(self):
        for value in ("nonsense", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:-1"):
            with self.subTest(value=value):
                args = self.good_args()
                args[1] = value
                self.assertRejected(args, "listen")

    def test_bad_capacity(self):
        self.assertRejected(self.good_args() + ["--capacity", "-3"], "capacity")
        self.assertRejected(self.good_args() + ["--capacity", "lots"], "capacity")
        self.assertRejected(self.good_args() + ["--work-ms", "-1"], "work-ms")

    def test_bad_sessions(self):
        args = self.good_args()
        args[args.index("--sessions") + 1] = "bogus"
        self.assertRejected(args, "sessions")

    def test_unknown_flag(self):
        self.assertRejected(self.good_args() + ["--frobnicate", "1"], "frobnicate")

    def test_flag_without_value(self):
        self.assertRejected(self.good_args() + ["--capacity"], "capacity")

    def test_bad_env_value(self):
        self.assertRejected(self.good_args(), "capacity", env={"SB_CAPACITY": "-3"})
        self.assertRejected(self.good_args(), "sessions", env={"SB_SESSIONS": "bogus"})

    def test_bad_flag_loses_even_with_a_good_env(self):
        self.assertRejected(self.good_args() + ["--capacity", "-3"], "capacity",
                            env={"SB_CAPACITY": "4"})

    def test_env_variables_configure_the_backend(self):
        port = free_port()
        # no --listen and no --id: only the environment names them
        proc = Proc("from-env", [backend_bin(), "--db", self.db,
                                 "--sessions", "memory"], self.tmp,
                    env={"SB_LISTEN": "%s:%d" % (HOST, port), "SB_ID": "env-id"})
        self._test_procs.append(proc)
        r = wait_until(lambda: proc.alive() and request(port, "GET", "/healthz",
                                                        timeout=1), 10,
                       what="backend configured by SB_LISTEN")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Served-By"), "env-id", "SB_ID sets the id")

    def test_help(self):
        code, out, err = self.run_backend(["--help"])
        self.assertEqual(code, 0, err)
        self.assertIn("usage", out.lower())
        for flag in ("--listen", "--db", "--sessions", "--redis", "--capacity",
                     "--queue", "--work-ms", "--max-body"):
            self.assertIn(flag, out, "--help lists %s" % flag)

    def test_missing_db_file(self):
        missing = os.path.join(self.tmp, "no-such-dir", "missing.db")
        args = self.good_args()
        args[args.index("--db") + 1] = missing
        code, out, err = self.run_backend(args)
        self.assertEqual(code, 1, "missing --db: exit %d (negative = killed by a "
                         "signal), stderr %r" % (code, err))
        self.assertTrue(err.strip(), "a missing db needs a message")
        self.assertTrue("missing.db" in err or "db" in err.lower(),
                        "the message should name the file: %r" % err)
        self.assertFalse(os.path.exists(missing), "must not create the db")

    def test_missing_db_file_in_existing_dir(self):
        missing = os.path.join(self.tmp, "missing2.db")
        args = self.good_args()
        args[args.index("--db") + 1] = missing
        code, out, err = self.run_backend(args)
        self.assertEqual(code, 1, "missing --db: exit %d, stderr %r" % (code, err))
        self.assertIn("missing2.db", err, "the message names the file")
        self.assertFalse(os.path.exists(missing),
                         "a missing db must not be created empty")

    def test_listen_port_in_use(self):
        with socket.socket() as s:
            s.bind((HOST, 0))
            s.listen(1)
            port = s.getsockname()[1]
            args = self.good_args()
            args[1] = "%s:%d" % (HOST, port)
            code, out, err = self.run_backend(args)
        self.assertGreater(code, 0, "busy port: exit %d, stderr %r" % (code, err))
        self.assertTrue(err.strip(), "a busy port needs a message")


if __name__ == "__main__":
    unittest.main()
