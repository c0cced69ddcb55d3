"""spof: one backend, no balancer, no spare. Kill it and everybody is cut
off until it is back."""

import threading
import time

from common import PEOPLE, Http, LabError, Result, Watch, facts, n, secs, table

TITLE = "one server, killed: every request fails until it is back"
ABOUT = """
One backend and nothing in front of it: the single point of failure. Four
people use it directly; we kill it, wait, and start it again.
"""


class Probe:
    """GET /healthz every 50 ms: when the server stopped and started
    answering, to the tenth of a second the watch lines cannot give."""

    def __init__(self, port):
        self.port = port
        self.last_ok = None      # time of the last answer before the outage
        self.back = None         # first answer after it
        self.failing_since = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            a = Http(self.port, 0.5).get("/healthz")
            t = time.monotonic()
            if a.status == 200:
                if self.failing_since is not None and self.back is None:
                    self.back = t
                elif self.failing_since is None:
                    self.last_ok = t
            elif self.failing_since is None:
                self.failing_since = t
            self.stop.wait(0.05)


def run(lab, short):
    rate = 5
    steady, outage, after = (2, 3, 2) if short else (4, 8, 4)
    lab.say("starting one backend (sessions in Redis) and no load balancer")
    lab.up("--single")
    lab.say("%s each refresh their feed %d times a second, straight at "
            "backend-1" % (", ".join(PEOPLE), rate))
    watches = [Watch(lab, lab.url, who, rate) for who in PEOPLE]
    probe = None
    try:
        for w in watches:
            w.wait_started()
        time.sleep(steady)
        probe = Probe(lab.port)
        time.sleep(0.2)
        lab.say("killing backend-1 now (kill -9): the only server there is")
        t_kill = time.monotonic()
        lab.cluster("kill", "backend-1")
        time.sleep(outage)
        lab.say("starting backend-1 again")
        lab.cluster("start", "backend-1")
        lab.wait_for("answering", lambda: probe.back is not None, 10)
        t_back = probe.back or time.monotonic()
        lab.say("backend-1 answers again, %.1f s after the kill" % (t_back - t_kill))
        time.sleep(after)
    finally:
        if probe is not None:
            probe.stop.set()
        summaries = [w.stop() for w in watches]

    outage_s = (probe.back - t_kill) if probe.back else None
    sent = sum(s["sent"] for s in summaries)
    failed = sum(s["errors"] + s["unfinished"] for s in summaries)
    logged_out = sum(s["errors_by"].get("logged-out", 0) for s in summaries)
    kinds = {}
    for s in summaries:
        for k, c in s["errors_by"].items():
            kinds[k] = kinds.get(k, 0) + c
    # Seconds wholly inside the outage, and the ones after it.
    during = [w.between(t_kill + 1.0, t_back) for w in watches]
    after_back = [w.between(t_back + 1.0) for w in watches]
    ok_during = sum(d["ok"] for d in during)
    failed_during = sum(d["err"] for d in during)
    ok_after = sum(a["ok"] for a in after_back)
    failed_after = sum(a["err"] for a in after_back)

    lab.show()
    lab.show(table(["person", "sent", "ok", "failed", "logged-out"],
                   [[w.user, n(s["sent"]), n(s["ok"]), n(s["errors"] + s["unfinished"]),
                     n(s["errors_by"].get("logged-out", 0))]
                    for w, s in zip(watches, summaries)]))
    lab.show()
    lab.show(facts([
        ("outage", secs(outage_s), "from the kill to the first answer"),
        ("requests sent", n(sent)),
        ("failed", n(failed), " ".join("%s:%d" % kv for kv in sorted(kinds.items()))),
        ("answered in the outage", n(ok_during),
         "of %s sent in its whole seconds" % n(ok_during + failed_during)),
        ("answered after it came back", n(ok_after),
         "%s failed, %s logged out (the sessions live in Redis, not in it)"
         % (n(failed_after), n(logged_out))),
    ]))
    if sent == 0:
        raise LabError("no requests were sent")
    ok = (failed > 0 and ok_during == 0 and outage_s is not None and ok_after > 0
          and failed_after == 0)
    verdict = ("one server, no spare: %s of %s requests failed (%s) during the %s "
               "outage; nothing got through until it was back" % (
                   n(failed), n(sent),
                   "/".join(k for k, _ in sorted(kinds.items(), key=lambda kv: -kv[1])),
                   secs(outage_s)))
    return Result(ok, verdict, {
        "sent": sent, "failed": failed, "outage_s": outage_s,
        "ok_during_outage": ok_during, "failed_during_outage": failed_during,
        "ok_after": ok_after, "failed_after": failed_after,
        "logged_out": logged_out, "kinds": kinds})
