"""failover: three stateless backends (sessions in Redis) behind the LB; four
people refresh their feeds while backend-2 is killed with kill -9 and then
started again."""

import time

from common import PEOPLE, LabError, Result, Watch, facts, n, secs, table

TITLE = "kill -9 a backend under load: no request lost, nobody logged out"
ABOUT = """
Three backends behind the load balancer keep their sessions in Redis, so any
of them can answer any person. We kill one mid-run, then start it again.
"""

VICTIM = "backend-2"


def served_by_backend(lab):
    """{'backend-1': requests it answered so far (LB counts), ...}"""
    out = {}
    for b in (lab.lb_stats() or {}).get("backends", []):
        port = int(b["name"].rsplit(":", 1)[1])
        out["backend-%d" % (port - lab.backend_base + 1)] = \
            b.get("requests", 0) - b.get("failures", 0)
    return out


def run(lab, short):
    rate = 10                       # requests a second per person
    steady, outage, after = (3, 3, 2) if short else (5, 6, 4)
    lab.say("starting the cluster: Redis, 3 backends (sessions in Redis), the LB")
    lab.up("--backends", "3", "--sessions", "redis")
    lab.say("%s each refresh their feed %d times a second through the LB "
            "(sb-client watch)" % (", ".join(PEOPLE), rate))
    watches = [Watch(lab, lab.url, who, rate) for who in PEOPLE]
    try:
        for w in watches:
            w.wait_started()
        t_begin = time.monotonic()
        snaps = [served_by_backend(lab)]
        time.sleep(steady)
        snaps.append(served_by_backend(lab))

        lab.say("killing %s now (kill -9: no goodbye, requests in flight die "
                "with it)" % VICTIM)
        t_kill = time.monotonic()
        lab.cluster("kill", VICTIM)
        down_s = lab.wait_for("marked down", lambda: (lab.lb_backend(VICTIM) or {})
                              .get("health") == "down", outage)
        down_s = None if down_s is None else time.monotonic() - t_kill
        if down_s is not None:
            lab.say("the LB took %s out of the rotation %.1f s after the kill; "
                    "the other two take its share" % (VICTIM, down_s))
        time.sleep(max(0.0, outage - (time.monotonic() - t_kill)))

        snaps.append(served_by_backend(lab))
        served_before = snaps[-1].get(VICTIM, 0)
        lab.say("starting %s again" % VICTIM)
        t_start = time.monotonic()
        lab.cluster("start", VICTIM)
        t_listening = time.monotonic()
        up_s = lab.wait_for("health up", lambda: (lab.lb_backend(VICTIM) or {})
                            .get("health") == "up", 15)
        serve_s = lab.wait_for("serving", lambda: (lab.lb_backend(VICTIM) or {})
                               .get("requests", 0) > served_before, 15)
        serve_s = None if serve_s is None else time.monotonic() - t_start
        if serve_s is not None:
            lab.say("%s is back in the rotation: serving again %.1f s after the "
                    "restart (it listened after %.1f s; the LB waited for %s)"
                    % (VICTIM, serve_s, t_listening - t_start,
                       "good health checks" if up_s is not None else "it"))
        else:
            lab.say("%s did not serve again within 15 s" % VICTIM)
        time.sleep(after)
        t_end = time.monotonic()
    finally:
        summaries = [w.stop() for w in watches]
    snaps.append(served_by_backend(lab))
    stats = lab.lb_stats() or {}

    sent = sum(s["sent"] for s in summaries)
    errors = sum(s["errors"] + s["unfinished"] for s in summaries)
    logged_out = sum(s["errors_by"].get("logged-out", 0) for s in summaries)
    kinds = {}
    for s in summaries:
        for k, c in s["errors_by"].items():
            kinds[k] = kinds.get(k, 0) + c

    lab.show()
    lab.show(table(["person", "sent", "ok", "errors", "logged-out", "logins"],
                   [[w.user, n(s["sent"]), n(s["ok"]), n(s["errors"] + s["unfinished"]),
                     n(s["errors_by"].get("logged-out", 0)), n(s["logins"])]
                    for w, s in zip(watches, summaries)]))
    lab.show()
    names = ["backend-1", "backend-2", "backend-3"]
    phases = [("before the kill", t_kill - t_begin),
              ("%s dead" % VICTIM, t_start - t_kill),
              ("after its restart", t_end - t_start)]
    rows = []
    for i, (label, dur) in enumerate(phases):
        rows.append([label, "%.1f s" % dur] +
                    [n(snaps[i + 1].get(x, 0) - snaps[i].get(x, 0)) for x in names])
    dead_served = snaps[2].get(VICTIM, 0) - snaps[1].get(VICTIM, 0)
    lab.show(table(["answered by (LB counts)", "for"] + names, rows))
    lab.show()
    lab.show(facts([
        ("requests sent", n(sent)),
        ("failed", n(errors), " ".join("%s:%d" % kv for kv in sorted(kinds.items()))),
        ("logged out (401)", n(logged_out)),
        ("retried by the LB", n(stats.get("retries", 0)),
         "sent to the dead backend, answered by another"),
        ("kill -> out of rotation", secs(down_s), "the LB saw it fail"),
        ("restart -> serving", secs(serve_s)),
    ]))
    if sent == 0:
        raise LabError("no requests were sent")
    ok = errors == 0 and logged_out == 0 and serve_s is not None and dead_served == 0
    verdict = ("failover lost %s of %s requests; %s logged out; %s served again "
               "%s after its restart" % (
                   n(errors), n(sent),
                   "nobody was" if logged_out == 0 else "%s requests were" % n(logged_out),
                   VICTIM, secs(serve_s)) if serve_s is not None else
               "failover lost %s of %s requests; %s did not rejoin" %
               (n(errors), n(sent), VICTIM))
    return Result(ok, verdict, {
        "sent": sent, "errors": errors, "logged_out": logged_out,
        "retried_by_lb": stats.get("retries", 0),
        "marked_down_s": down_s, "rejoin_s": serve_s,
        "served_while_dead": dead_served, "people": len(PEOPLE)})
