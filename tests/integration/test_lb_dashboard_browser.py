"""A person opens sb-lb's dashboard in a real browser and kills a backend.

Runs tests/browser/dashboard.test.js (Playwright's playwright-core driving
Debian's Chromium at /usr/bin/chromium; no browser is ever downloaded): it
starts its own sb-backends and sb-lb from this build, sees three backend
cards, kills one with -9 and sees its card turn "down", clicks "drain" on
another and sees its admin state say so, and leaves a screenshot.

What it needs is installed here when missing and we are root: the Debian
packages chromium, nodejs and npm, then node_modules with `npm ci`. The test
is skipped only when Chromium cannot be installed.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from harness import build_dir

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.normpath(os.path.join(HERE, "..", "browser"))
CHROMIUM = os.environ.get("SB_CHROMIUM", "/usr/bin/chromium")
RUN_TIMEOUT = 180     # s for the whole browser test
INSTALL_TIMEOUT = 600  # s for apt-get or npm


def apt_install(*packages):
    """apt-get install, as root only; update the lists once if needed.
    Returns "" on success, or why not."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root, or no apt-get: install %s by hand" % " ".join(packages)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq"] + list(packages)
    try:
        if subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=INSTALL_TIMEOUT).returncode == 0:
            return ""
        subprocess.run(["apt-get", "update", "-qq"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=INSTALL_TIMEOUT)
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return "apt-get install %s timed out" % " ".join(packages)
    if r.returncode != 0:
        return "apt-get install %s failed: %s" % (
            " ".join(packages), r.stderr.decode(errors="replace")[-500:])
    return ""


class DashboardBrowserTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(CHROMIUM, os.X_OK):
            why = apt_install("chromium")
            if not os.access(CHROMIUM, os.X_OK):
                raise unittest.SkipTest("no Chromium at %s and it cannot be installed: %s"
                                        % (CHROMIUM, why or "installed, but not there"))
        if shutil.which("node") is None or shutil.which("npm") is None:
            why = apt_install("nodejs", "npm")
            if shutil.which("node") is None or shutil.which("npm") is None:
                raise AssertionError("node and npm are needed: %s" % why)
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
            cls.npm_install()

    @staticmethod
    def npm_install():
        env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        for cmd in (["npm", "ci", "--no-audit", "--no-fund"],
                    ["npm", "install", "--no-audit", "--no-fund"]):
            try:
                r = subprocess.run(cmd, cwd=BROWSER_DIR, env=env, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                continue
            if r.returncode == 0:
                return
        raise AssertionError("npm could not install tests/browser's node_modules:\n%s%s"
                             % (r.stdout.decode(errors="replace")[-1500:],
                                r.stderr.decode(errors="replace")[-1500:]))

    def test_dashboard_in_chromium(self):
        tmp = tempfile.mkdtemp(prefix="sb-browser-")
        self.addCleanup(shutil.rmtree, tmp, True)
        shot = os.path.join(tmp, "dashboard.png")
        env = dict(os.environ, SB_BUILD_DIR=os.path.abspath(build_dir()),
                   SB_SCREENSHOT=shot, SB_CHROMIUM=CHROMIUM)
        # Its own session, so a timeout ends node, Chromium and the cluster
        # it started, and nothing else.
        p = subprocess.Popen(["node", "dashboard.test.js"], cwd=BROWSER_DIR, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            self.fail("the browser test took over %d s:\n%s"
                      % (RUN_TIMEOUT, out.decode(errors="replace")))
        text = out.decode(errors="replace")
        sys.stderr.write(text)
        self.assertEqual(p.returncode, 0, "dashboard.test.js failed:\n%s" % text)
        self.assertTrue(os.path.getsize(shot) > 10000, "no screenshot at %s" % shot)


if __name__ == "__main__":
    unittest.main()
