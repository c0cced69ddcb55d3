"""stateful: sessions kept in each backend's memory. Round-robin logs people
out; sticky sessions hide it until that backend dies; sessions in Redis
survive the same kill."""

import time

from common import PEOPLE, Result, Watch, facts, n, pct, table

TITLE = "sessions in a server's memory: logged out by round-robin and by a crash"
ABOUT = """
Three backends that keep sessions in their own memory (a stateful server).
First round-robin, then sticky sessions (the LB sends each person back to
the backend that logged them in), then we kill one of them. Last, the same
kill with the sessions in Redis.
"""


def logged_out(summary_or_window):
    errs = summary_or_window.get("errors_by", summary_or_window.get("errors", {}))
    return errs.get("logged-out", 0)


def people_watching(lab, rate):
    ws = [Watch(lab, lab.url, who, rate) for who in PEOPLE]
    for w in ws:
        w.wait_started()
    return ws


def kill_phase(lab, rate, run_s, label):
    """People on sticky sessions; kill alice's backend halfway. Returns
    (rows per person, victim, before, after, sent)."""
    ws = people_watching(lab, rate)
    try:
        time.sleep(run_s)
        homes = {w.user: w.last_served() for w in ws}
        victim = homes["alice"] or "backend-1"
        on_it = [p for p in PEOPLE if homes[p] == victim]
        lab.say("%s: each person sticks to one backend: %s" % (label, ", ".join(
            "%s on %s" % (p, homes[p] or "?") for p in PEOPLE)))
        lab.say("killing %s now (kill -9), the backend of %s" % (victim, " and ".join(on_it)))
        t_kill = time.monotonic()
        lab.cluster("kill", victim)
        time.sleep(run_s)
    finally:
        sums = [w.stop() for w in ws]
    rows, before, after, sent = [], 0, 0, 0
    for w, s in zip(ws, sums):
        b = logged_out(w.between(0, t_kill))
        a = logged_out(s) - b
        before += b
        after += a
        sent += s["sent"]
        rows.append((w.user, homes[w.user] or "?", s["sent"], b, a))
    return rows, victim, on_it, before, after, sent


def run(lab, short):
    rate = 5
    run_s = 3 if short else 5

    # 1. round-robin
    lab.say("starting 3 backends with sessions in memory, round-robin LB")
    lab.up("--backends", "3", "--sessions", "memory", "--policy", "round-robin")
    lab.say("%s log in and refresh their feed %d times a second for %d s"
            % (", ".join(PEOPLE), rate, run_s))
    ws = people_watching(lab, rate)
    time.sleep(run_s)
    rr = [(w.user, w.stop()) for w in ws]
    rr_sent = sum(s["sent"] for _, s in rr)
    rr_out = sum(logged_out(s) for _, s in rr)
    lab.say("round-robin: %s of %s feed requests came back 401 (logged out): "
            "the backend they hit had never seen that login" % (n(rr_out), n(rr_sent)))

    # 2. sticky, then kill the sticky backend
    lab.say("again with --policy sticky (a cookie sends each person back to "
            "their backend)")
    lab.up("--backends", "3", "--sessions", "memory", "--policy", "sticky")
    mem_rows, mem_victim, mem_on, mem_before, mem_after, mem_sent = kill_phase(
        lab, rate, run_s, "sticky + memory")
    lab.say("sticky + memory: %s logged out before the kill, %s after it"
            % (n(mem_before), n(mem_after)))

    # 3. the same with Redis sessions
    lab.say("the same kill with sessions in Redis (stateless backends, still sticky)")
    lab.up("--backends", "3", "--sessions", "redis", "--policy", "sticky")
    red_rows, red_victim, red_on, red_before, red_after, red_sent = kill_phase(
        lab, rate, run_s, "sticky + Redis")

    lab.show()
    lab.show(table(["round-robin, memory", "sent", "logged-out", "logins"],
                   [[p, n(s["sent"]), n(logged_out(s)), n(s["logins"])] for p, s in rr]))
    for title, rows, victim in (("sticky, memory", mem_rows, mem_victim),
                                ("sticky, Redis", red_rows, red_victim)):
        lab.show()
        lab.show(table([title, "on", "sent", "out before kill",
                        "out after kill of %s" % victim],
                       [[p, home, n(sent), n(b), n(a)] for p, home, sent, b, a in rows]))
    mem_people_out = [p for p, _, _, _, a in mem_rows if a > 0]
    red_people_out = [p for p, _, _, _, a in red_rows if a > 0]
    lab.show()
    lab.show(facts([
        ("round-robin + memory", "%s of %s" % (n(rr_out), n(rr_sent)),
         "requests logged out (%.0f%%)" % pct(rr_out, rr_sent)),
        ("sticky + memory, before kill", n(mem_before), "logged out"),
        ("sticky + memory, after kill", n(mem_after),
         "logged out: %s" % (", ".join(mem_people_out) or "nobody")),
        ("sticky + Redis, after kill", n(red_after),
         "logged out: %s" % (", ".join(red_people_out) or "nobody")),
    ]))
    ok = rr_out > 0 and mem_before == 0 and mem_after > 0 and \
        red_before == 0 and red_after == 0
    verdict = ("memory sessions: round-robin logged out %s of %s requests; sticky: "
               "%s logged out until %s died, then %s (%s, who were on it); Redis "
               "sessions: the same kill logged out %s" % (
                   n(rr_out), n(rr_sent), n(mem_before), mem_victim, n(mem_after),
                   " and ".join(mem_people_out) or "nobody",
                   "nobody" if red_after == 0 else n(red_after)))
    return Result(ok, verdict, {
        "round_robin_sent": rr_sent, "round_robin_logged_out": rr_out,
        "sticky_sent": mem_sent, "sticky_before_kill": mem_before,
        "sticky_after_kill": mem_after, "sticky_victim": mem_victim,
        "sticky_people_out": mem_people_out, "sticky_people_on_victim": mem_on,
        "redis_sent": red_sent, "redis_before_kill": red_before,
        "redis_after_kill": red_after, "redis_people_out": red_people_out})
