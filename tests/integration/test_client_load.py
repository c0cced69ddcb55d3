"""A person measures the cluster with `sb-client load`.

Real redis-server, sb-backends, sb-lb and misbehave.py servers, and the
real sb-client binary; the tests read its final table and its CSV:

  * open loop at 50 req/s for 3 s: a CSV with a header and 3-4 rows, about
    150 requests in all, every one answered;
  * closed loop with 4 clients: never more than 4 in flight, no errors;
  * the overload lab: one backend with --capacity 1 --queue 2 --work-ms
    100, open loop at 30 req/s: latency p99 grows past the light-load p99
    and 503s appear;
  * anonymous requests (--user ''): a public path, no login;
  * servers that hang, reset or cut a body short: counted as timeout,
    overflow (the --max-inflight bound) and reset, never a crash.
"""

import csv
import os
import re
import unittest

from harness import seed_db
from lbharness import LbTestCase
from test_client_watch import client_bin, ms, name_counts, run_client

CSV_HEADER = ["second", "sent", "ok", "errors", "p50_ms", "p99_ms", "max_ms",
              "in_flight"]


def load_table(text):
    """The final table of `sb-client load` as a dict (asserts it is there)."""
    t = {}
    for key in ("sent", "ok", "errors", "unfinished"):
        m = re.search(r"^  %s +(\d+)$" % key, text, re.M)
        if not m:
            raise AssertionError("no '%s' row in:\n%s" % (key, text))
        t[key] = int(m.group(1))
    t["kinds"] = {m.group(1): int(m.group(2)) for m in
                  re.finditer(r"^    (\S+) +(\d+)$", text, re.M)}
    m = re.search(r"^  throughput +([\d.]+) req/s ok", text, re.M)
    t["throughput"] = float(m.group(1))
    m = re.search(r"^  latency p50 +(\S+)$", text, re.M)
    t["p50"] = ms(m.group(1))
    for q in ("p90", "p99", "max"):
        m = re.search(r"^ +%s +(\S+)$" % q, text, re.M)
        t[q] = ms(m.group(1))
    m = re.search(r"^  served by +(.*)$", text, re.M)
    t["served"] = name_counts(m.group(1))
    t["logins"] = re.search(r"^  logins ", text, re.M) is not None
    return t


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


class ClientLoadTest(LbTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(client_bin(), os.X_OK):
            raise AssertionError("no sb-client binary at %s" % client_bin())
        cls.db = seed_db(cls.tmp)
        cls.redis = cls.class_redis()

    def load(self, url, *args, timeout=20):
        rc, out, err = run_client(["load", "--url", url] + list(args), timeout)
        self.assertEqual(rc, 0, "exit %d\n%s\n%s" % (rc, out, err))
        return load_table(out), out

    def test_open_loop_rate_with_csv(self):
        backends = [self.start_sb_backend(self.db, name="backend-%d" % (i + 1),
                                          redis=self.redis.addr)
                    for i in range(3)]
        lb = self.start_lb(backends)
        path = os.path.join(self.tmp, "open.csv")
        t, out = self.load("http://%s" % lb.addr, "--rate", 50, "--duration", 3,
                           "--csv", path)
        header, rows = read_csv(path)
        self.assertEqual(header, CSV_HEADER)
        self.assertTrue(3 <= len(rows) <= 4, rows)
        self.assertEqual([int(r["second"]) for r in rows],
                         list(range(1, len(rows) + 1)))
        sent = sum(int(r["sent"]) for r in rows)
        ok = sum(int(r["ok"]) for r in rows)
        self.assertTrue(135 <= sent <= 165, rows)
        self.assertEqual(ok, sent, rows)
        self.assertEqual(sum(int(r["errors"]) for r in rows), 0, rows)
        for r in rows[:3]:
            self.assertTrue(45 <= int(r["sent"]) <= 55, r)
            self.assertTrue(0 < float(r["p50_ms"]) <= float(r["p99_ms"])
                            <= float(r["max_ms"]), r)
        self.assertEqual(t["sent"], sent, out)
        self.assertEqual(t["ok"], sent, out)
        self.assertEqual(t["errors"], 0, out)
        self.assertEqual(t["unfinished"], 0, out)
        self.assertTrue(45 <= t["throughput"] <= 55, out)
        self.assertEqual(set(t["served"]), {"backend-1", "backend-2", "backend-3"})
        self.assertTrue(t["logins"], out)

    def test_closed_loop_clients(self):
        backend = self.start_sb_backend(self.db, name="b1", redis=self.redis.addr)
        path = os.path.join(self.tmp, "closed.csv")
        t, out = self.load("http://%s" % backend.addr, "--clients", 4,
                           "--duration", 2, "--csv", path)
        self.assertIn("closed loop, 4 clients", out)
        self.assertGreater(t["ok"], 20, out)
        self.assertEqual(t["errors"], 0, out)
        self.assertEqual(t["ok"], t["sent"], out)
        _, rows = read_csv(path)
        self.assertTrue(2 <= len(rows) <= 3, rows)
        for r in rows:
            self.assertLessEqual(int(r["in_flight"]), 4, r)

    def test_overload_open_loop_queues_then_rejects(self):
        backend = self.start_sb_backend(
            self.db, name="small", redis=self.redis.addr,
            extra=["--capacity", 1, "--queue", 2, "--work-ms", 100])
        url = "http://%s" % backend.addr
        light, out = self.load(url, "--rate", 5, "--duration", 2)
        self.assertEqual(light["errors"], 0, out)
        heavy, out = self.load(url, "--rate", 30, "--duration", 3)
        self.assertGreater(heavy["kinds"].get("503", 0), 0, out)
        self.assertEqual(set(heavy["kinds"]), {"503"}, out)
        # Three answered a second at most (capacity 1 x 100 ms of work)...
        self.assertLess(heavy["ok"], 45, out)
        # ...and the ones that got in waited in the queue.
        self.assertGreater(heavy["p99"], light["p99"] + 100, out)

    def test_anonymous_requests_use_a_public_path(self):
        backend = self.start_sb_backend(self.db, name="b1", redis=self.redis.addr)
        t, out = self.load("http://%s" % backend.addr, "--user", "", "--rate", 20,
                           "--duration", 1)
        self.assertIn("GET http://%s/users/alice" % backend.addr, out)
        self.assertEqual(t["ok"], 20, out)
        self.assertFalse(t["logins"], out)

    def test_misbehaving_servers_are_counted_not_fatal(self):
        hang = self.start_misbehave("hang", readyz_status=200)
        t, out = self.load("http://%s" % hang.addr, "--user", "", "--rate", 20,
                           "--duration", 1, "--timeout-ms", 300,
                           "--max-inflight", 3, timeout=10)
        self.assertEqual(t["ok"], 0, out)
        self.assertEqual(t["sent"], 20, out)
        self.assertGreater(t["kinds"].get("timeout", 0), 0, out)
        self.assertGreater(t["kinds"].get("overflow", 0), 0, out)
        self.assertEqual(t["errors"] + t["unfinished"], 20, out)

        for mode in ("reset-after-request", "close-mid-response"):
            m = self.start_misbehave(mode)
            t, out = self.load("http://%s" % m.addr, "--user", "", "--rate", 20,
                               "--duration", 1, timeout=10)
            self.assertEqual(t["kinds"], {"reset": 20}, "%s:\n%s" % (mode, out))

        sse = self.start_misbehave("sse", events=3, event_interval_ms=5)
        t, out = self.load("http://%s" % sse.addr, "--user", "", "--path",
                           "/events", "--rate", 10, "--duration", 1, timeout=10)
        self.assertEqual(t["ok"], 10, "a chunked stream, read to its end:\n" + out)


if __name__ == "__main__":
    unittest.main()
