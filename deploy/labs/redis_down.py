"""redis-down: stop Redis under three healthy backends. What needs a
session (logins, likes, your feed) gets a quick 503; public reads go on.
Start it again and all recovers. Redis is the next single point of failure."""

import threading
import time

from common import Http, LabError, Result, facts, median, ms, n, secs, table

TITLE = "stop Redis: logins and likes get 503, public reads go on"
ABOUT = """
Three stateless backends share one Redis for sessions and like counts. We
stop Redis for a while: what needs it should fail fast and clearly, what
does not should go on. Then we start it again.
"""

OPS = ["login", "like", "my feed", "GET /users/alice", "GET /posts/1"]
PERIOD = 0.2   # one round of the five requests this often


class Prober:
    """alice logs in and likes a post, bob reads his feed, a visitor reads
    two public pages, every PERIOD seconds. Each answer is kept with the
    time it came back."""

    def __init__(self, lab):
        self.lab = lab
        self.alice = Http(lab.port, 3.0)   # her session: logins and likes
        self.bob = Http(lab.port, 3.0)     # his session: his feed
        self.visitor = Http(lab.port, 3.0)
        self.log = []                      # (t, op, Answer)
        self.post = 100
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        if self.bob.login("bob").status != 200 or self.alice.login("alice").status != 200:
            raise LabError("could not log in before Redis went down")
        self.thread.start()

    def _note(self, op, a):
        self.log.append((time.monotonic(), op, a))
        return a

    def _run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            # A login every round, as someone arriving would; the like uses
            # whatever session alice has (after a Redis restart it is gone).
            self._note("login", Http(self.lab.port, 3.0).login("alice"))
            self.post += 1
            a = self._note("like", self.alice.post("/posts/%d/like" % self.post))
            if a.status == 401:
                self.alice.login("alice")
            a = self._note("my feed", self.bob.get("/feed?limit=5"))
            if a.status == 401:
                self.bob.login("bob")
            self._note("GET /users/alice", self.visitor.get("/users/alice"))
            self._note("GET /posts/1", self.visitor.get("/posts/1"))
            self.stop.wait(max(0.0, PERIOD - (time.monotonic() - t0)))

    def first(self, op, after, status=200):
        for t, o, a in list(self.log):
            if o == op and t > after and a.status == status:
                return t
        return None

    def window(self, op, a, b):
        return [ans for t, o, ans in list(self.log) if o == op and a < t <= b]


def statuses(answers):
    """'503 x12' / '200 x10, 401 x1' / '-'."""
    counts = {}
    for a in answers:
        k = str(a.status or a.error)
        counts[k] = counts.get(k, 0) + 1
    return ", ".join("%s x%d" % kv for kv in sorted(counts.items())) or "-"


def run(lab, short):
    base_s, outage_s, after_s = (2, 3, 2) if short else (3, 8, 4)
    lab.say("starting Redis, 3 backends (sessions in Redis) and the LB")
    lab.up("--backends", "3", "--sessions", "redis")
    lab.say("every %.1f s: alice logs in and likes a post, bob reads his feed, "
            "a visitor reads /users/alice and /posts/1" % PERIOD)
    probe = Prober(lab)
    try:
        t_begin = time.monotonic()
        time.sleep(base_s)
        lab.say("stopping Redis now")
        t_stop_cmd = time.monotonic()
        lab.cluster("stop-redis")
        t_down = time.monotonic()
        time.sleep(outage_s)
        lab.say("starting Redis again (empty: it keeps nothing on disk here)")
        t_start = time.monotonic()
        lab.cluster("start-redis")
        lab.wait_for("login ok", lambda: probe.first("login", t_start) is not None, 15)
        t_login_ok = probe.first("login", t_start)
        if t_login_ok is not None:
            lab.say("logins work again, %.1f s after Redis was started"
                    % (t_login_ok - t_start))
        lab.wait_for("like ok", lambda: probe.first("like", t_start) is not None, 5)
        time.sleep(after_s)
        t_end = time.monotonic()
    finally:
        probe.stop.set()
        probe.thread.join(timeout=5)

    phases = [("Redis up", t_begin, t_stop_cmd),
              ("Redis down", t_down, t_start),
              ("Redis back", t_start, t_end)]
    lab.show()
    rows = []
    for op in OPS:
        row = [op]
        for _, a, b in phases:
            row.append(statuses(probe.window(op, a, b)))
        down = [x for x in probe.window(op, t_down, t_start) if x.status is not None]
        row.append(ms(median([x.ms for x in down])))
        rows.append(row)
    lab.show(table(["answers"] + [p for p, _, _ in phases] + ["time to answer, down"],
                   rows))

    def count(op, a, b, pred):
        w = probe.window(op, a, b)
        return sum(1 for x in w if pred(x)), len(w)

    def is503(x):
        return x.status == 503

    def is200(x):
        return x.status == 200

    base_ok, base_all = 0, 0
    for op in OPS:
        k, m = count(op, t_begin, t_stop_cmd, is200)
        base_ok, base_all = base_ok + k, base_all + m
    writes_503, writes = 0, 0
    for op in ("login", "like", "my feed"):
        k, m = count(op, t_down, t_start, is503)
        writes_503, writes = writes_503 + k, writes + m
    reads_ok, reads = 0, 0
    for op in ("GET /users/alice", "GET /posts/1"):
        k, m = count(op, t_down, t_start, is200)
        reads_ok, reads = reads_ok + k, reads + m
    answer_ms = median([x.ms for op in ("login", "like")
                        for x in probe.window(op, t_down, t_start) if x.status == 503])
    recover_s = None if t_login_ok is None else t_login_ok - t_start
    t_like_ok = probe.first("like", t_start)
    like_s = None if t_like_ok is None else t_like_ok - t_start
    relogin = any(x.status == 401 for x in probe.window("like", t_start, t_end) +
                  probe.window("my feed", t_start, t_end))
    body = next((x.json() for x in probe.window("GET /posts/1", t_down, t_start)
                 if x.status == 200), None) or {}
    lab.show()
    lab.show(facts([
        ("Redis down: session calls", "%s of %s" % (n(writes_503), n(writes)),
         "logins, likes and feeds got 503, in %s (median)" % ms(answer_ms)),
        ("Redis down: public reads", "%s of %s" % (n(reads_ok), n(reads)),
         "public reads answered 200 (a post's likes: %s, the counts live in Redis)"
         % ("null" if body.get("likes", 0) is None else body.get("likes", "?"))),
        ("Redis back -> logins work", secs(recover_s)),
        ("Redis back -> likes work", secs(like_s),
         "after logging in again: the restarted Redis had lost every session"
         if relogin else ""),
    ]))
    lab.show()
    lab.show("  Three backends, and still one Redis: it is now the single point of")
    lab.show("  failure. Next steps: a replica with Sentinel, or a managed Redis.")
    if writes == 0 or reads == 0:
        raise LabError("no requests while Redis was down")
    ok = (base_ok == base_all and writes_503 == writes and reads_ok == reads and
          recover_s is not None and like_s is not None)
    verdict = ("Redis down: %s of %s logins/likes/feeds got a 503 in %s, %s of %s "
               "public reads went on; Redis back: logins worked after %s. Redis "
               "is the next single point of failure" % (
                   n(writes_503), n(writes), ms(answer_ms), n(reads_ok), n(reads),
                   secs(recover_s)))
    return Result(ok, verdict, {
        "baseline_ok": base_ok, "baseline_requests": base_all,
        "session_requests_down": writes, "session_503_down": writes_503,
        "answer_ms_down": answer_ms, "reads_down": reads, "reads_ok_down": reads_ok,
        "recover_login_s": recover_s, "recover_like_s": like_s,
        "relogin_needed": relogin})
