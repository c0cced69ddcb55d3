"""overload: the switchboard. One backend that serves about 5 requests a
second with a queue of 15, clients growing from 3 to 80; then the same load
on three such backends behind the LB."""

import os
import subprocess
import threading
import time

from common import (LabError, Result, ensure_gnuplot, facts, load, ms, n, pct,
                    table)

TITLE = "one server, 3 -> 80 clients: the queue fills, latency rises, 503s"
ABOUT = """
A backend that works on one request at a time for 200 ms (about 5 a second)
and lets 15 more wait (--capacity 1 --work-ms 200 --queue 15). Each client
sends one request a second whether or not the last one was answered (open
loop: people do not wait politely), so N clients offer N requests a second.
Latencies are of the requests that were served; the rest got 503.
"""

CAPACITY, WORK_MS, QUEUE = 1, 200, 15
PER_SERVER = 1000.0 / WORK_MS * CAPACITY      # requests a second
FLAGS = ["--capacity", str(CAPACITY), "--queue", str(QUEUE), "--work-ms", str(WORK_MS)]


class QueueSampler:
    """Every 100 ms, the requests waiting in each backend's queue (/readyz
    answers ahead of the queue)."""

    def __init__(self, lab, names):
        self.lab, self.names = lab, names
        self.samples = []     # (t, waiting summed over the backends)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            waiting = 0
            for name in self.names:
                r = self.lab.readyz(name) or {}
                waiting += (r.get("queue") or {}).get("waiting", 0)
            self.samples.append((time.monotonic(), waiting))
            self.stop.wait(0.1)

    def end(self, a, b):
        self.stop.set()
        self.thread.join(timeout=2)
        w = [x for t, x in self.samples if a <= t <= b]
        return (sum(w) / len(w) if w else 0.0), (max(w) if w else 0)


def step(lab, clients, step_s, names):
    sampler = QueueSampler(lab, names)
    t0 = time.monotonic()
    s = load(lab, lab.url, step_s, rate=clients, user="", path="/users/alice",
             timeout_ms=10000)
    t1 = time.monotonic()
    q_avg, q_max = sampler.end(t0, t0 + step_s)
    rejected = s["errors_by"].get("503", 0)
    lat = s["ok_latency_ms"]
    return {
        "clients": clients, "sent": s["sent"], "ok": s["ok"],
        "served_per_s": s["ok"] / (t1 - t0),
        "p50_ms": lat["p50"], "p99_ms": lat["p99"],
        "queue_avg": round(q_avg, 1), "queue_max": q_max,
        "rejected": rejected, "rejected_pct": round(pct(rejected, s["sent"]), 1),
        "other_errors": s["errors"] - rejected + s["unfinished"],
    }


def curve(lab, label, backends, steps, step_s):
    names = ["backend-%d" % (i + 1) for i in range(backends)]
    if backends == 1:
        lab.up("--single", *FLAGS)
    else:
        lab.up("--backends", str(backends), *FLAGS)
    rows = []
    for c in steps:
        lab.say("%s: %2d clients (%d requests a second) for %d s"
                % (label, c, c, step_s))
        rows.append(step(lab, c, step_s, names))
    lab.show()
    lab.show(table(["%s (queue %d)" % (label, QUEUE * backends), "served/s", "p50",
                    "p99", "queue avg", "queue max", "rejected", "%"],
                   [["%d clients" % r["clients"], "%.1f" % r["served_per_s"],
                     ms(r["p50_ms"]), ms(r["p99_ms"]), "%.1f" % r["queue_avg"],
                     r["queue_max"], n(r["rejected"]), "%.0f%%" % r["rejected_pct"]]
                    for r in rows]))
    lab.show()
    return rows


def knee(rows):
    """The first step where a queue built up: requests waited (p99 over
    twice that of the lightest step, or one waiting on average)."""
    base = rows[0]["p99_ms"] or 0
    for r in rows:
        if (r["p99_ms"] or 0) > 2 * base or r["queue_avg"] >= 1.0:
            return r["clients"]
    return None


def first_503(rows):
    """The first step where requests were turned away (more than 1%)."""
    for r in rows:
        if r["rejected_pct"] > 1.0:
            return r["clients"]
    return None


def plot(lab, one, three, install):
    """Draw the curves into the lab's folder; the PNG's path, or None."""
    gp = ensure_gnuplot(lab, install)
    if gp is None:
        lab.say("no gnuplot here%s: no picture this time (apt-get install "
                "gnuplot-nox)" % ("" if install else " (the full lab installs it)"))
        return None
    dat = lab.path("overload.dat")
    with open(dat, "w") as f:
        for title, rows in (("one server", one), ("three servers", three)):
            f.write("# %s\n# clients served_per_s p50_s p99_s queue_avg rejected_pct\n"
                    % title)
            for r in rows:
                f.write("%d %.2f %.4f %.4f %.2f %.1f\n" % (
                    r["clients"], r["served_per_s"],
                    (r["p50_ms"] or 0) / 1000.0, (r["p99_ms"] or 0) / 1000.0,
                    r["queue_avg"], r["rejected_pct"]))
            f.write("\n\n")
    png = lab.path("overload.png")
    xs = sorted({r["clients"] for r in one + three})
    xtics = ", ".join('"%d" %d' % (x, x) for x in xs)
    script = """
set terminal pngcairo size 1200,850 font "Sans,11"
set output '%(png)s'
set multiplot layout 2,2 title "switchboard overload lab: one server (capacity %(cap).0f req/s, queue %(q)d) vs three behind the LB" font "Sans,14"
set logscale x
set xrange [%(xmin)f:%(xmax)f]
set xtics (%(xtics)s)
set xlabel "clients (each sends 1 request a second)"
set grid
set key top left
set style line 1 lc rgb "#c0392b" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#2471a3" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#888888" lw 1 dt 2

set title "Requests served per second"
set ylabel "requests/s"
set yrange [0:%(ymax_served)f]
plot x title "offered (clients x 1/s)" ls 3, \\
     '%(dat)s' index 0 using 1:2 with linespoints ls 1 title "one server", \\
     '%(dat)s' index 1 using 1:2 with linespoints ls 2 title "three servers"

set title "Latency of the requests that were served"
set ylabel "seconds"
set key bottom right
set yrange [0:*]
plot '%(dat)s' index 0 using 1:4 with linespoints ls 1 title "one server p99", \\
     '%(dat)s' index 0 using 1:3 with linespoints ls 1 dt 2 title "one server p50", \\
     '%(dat)s' index 1 using 1:4 with linespoints ls 2 title "three servers p99", \\
     '%(dat)s' index 1 using 1:3 with linespoints ls 2 dt 2 title "three servers p50"

set title "Requests waiting in the queue (average while loaded)"
set ylabel "requests waiting"
set key top left
set yrange [0:%(ymax_queue)f]
plot %(qfull1)d title "one server's queue is full at %(q)d" ls 3 lc rgb "#c0392b", \\
     %(qfull3)d title "three servers' queues are full at %(q3)d" ls 3 lc rgb "#2471a3", \\
     '%(dat)s' index 0 using 1:5 with linespoints ls 1 title "one server", \\
     '%(dat)s' index 1 using 1:5 with linespoints ls 2 title "three servers"

set title "Rejected with 503 (queue full)"
set ylabel "%% of requests"
set key top left
set yrange [0:100]
plot '%(dat)s' index 0 using 1:6 with linespoints ls 1 title "one server", \\
     '%(dat)s' index 1 using 1:6 with linespoints ls 2 title "three servers"
unset multiplot
""" % {"png": png, "dat": dat, "cap": PER_SERVER, "q": QUEUE, "q3": 3 * QUEUE,
       "qfull1": QUEUE, "qfull3": 3 * QUEUE,
       "xmin": min(xs) * 0.85, "xmax": max(xs) * 1.15, "xtics": xtics,
       "ymax_served": max(25.0, max(r["served_per_s"] for r in one + three) * 1.4),
       "ymax_queue": 3 * QUEUE * 1.6}
    with open(lab.path("overload.gp"), "w") as f:
        f.write(script)
    res = subprocess.run([gp, lab.path("overload.gp")], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if res.returncode != 0 or not os.path.exists(png):
        lab.say("gnuplot failed: %s" % res.stdout.decode("utf-8", "replace")[-300:])
        return None
    return png


def run(lab, short):
    steps = [3, 10, 80] if short else [3, 5, 10, 20, 40, 80]
    step_s = 2 if short else 5
    lab.say("one server: --single %s" % " ".join(FLAGS))
    one = curve(lab, "one server", 1, steps, step_s)
    lab.say("the same load on three such servers behind the LB (round-robin)")
    three = curve(lab, "three servers", 3, steps, step_s)
    lab.down()
    lab.keep = True
    png = plot(lab, one, three, install=not short)

    if not one or not three:
        raise LabError("no steps ran")
    first, top, top3 = one[0], one[-1], three[-1]
    k1, k3 = knee(one), knee(three)
    r1, r3 = first_503(one), first_503(three)
    max1 = max(r["served_per_s"] for r in one)
    max3 = max(r["served_per_s"] for r in three)
    lab.show(facts([
        ("one server: most served", "%.1f/s" % max1, "capacity %.0f/s" % PER_SERVER),
        ("three servers: most served", "%.1f/s" % max3,
         "capacity %.0f/s" % (3 * PER_SERVER)),
        ("one server: queue builds from", "%s clients" % (k1 or "-"),
         "503s from %s" % (r1 or "-")),
        ("three servers: queue builds from", "%s clients" % (k3 or "-"),
         "503s from %s" % (r3 or "-")),
    ]))
    lab.show()
    lab.show("  the curve: %s" % (png or "(no plot: no gnuplot)"))
    lab.show("  its data:  %s" % lab.path("overload.dat"))
    ok = (top["rejected"] > 0 and first["rejected"] == 0 and top["p99_ms"] is not None
          and first["p99_ms"] is not None and top["p99_ms"] > 3 * first["p99_ms"]
          and k1 is not None and (k3 is None or k3 > k1) and max3 > 2 * max1)
    verdict = ("one server (%.0f req/s): the queue built up from %s clients, p99 "
               "rose from %s to %s, %.0f%% rejected at %d; three servers: the knee "
               "moved to %s clients, %.0f%% rejected at %d" % (
                   PER_SERVER, k1 or "-", ms(first["p99_ms"]), ms(top["p99_ms"]),
                   top["rejected_pct"], top["clients"],
                   k3 or "beyond %d" % top3["clients"], top3["rejected_pct"],
                   top3["clients"]))
    return Result(ok, verdict, {"one_server": one, "three_servers": three,
                                "knee_one": k1, "knee_three": k3,
                                "first_503_one": r1, "first_503_three": r3,
                                "max_served_one": max1, "max_served_three": max3,
                                "png": png})
