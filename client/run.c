/* The schedule: a login, then requests on a timer (open loop) or one after
 * another per client (closed loop), a report every second, and a bounded
 * drain at the end. Everything hangs off one event loop. */
#include "run.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "jar.h"
#include "log.h"
#include "pool.h"
#include "report.h"
#include "stats.h"

/* --json FILE: the summary as JSON as well (main.c sets it). */
FILE *run_json_out;

#define RUN_SEND_BATCH_MAX 1000    /* requests started per timer callback */
#define RUN_LOGIN_RETRY_US 500000  /* after a failed login, wait this long */
#define RUN_BACKOFF_MS 10          /* closed loop: pause after a failure */
#define RUN_DRAIN_SLACK_MS 200     /* drain waits timeout + this at most */
#define RUN_TARGET_MAX (URL_HOST_MAX + URL_PATH_MAX + 16)
#define TAG_LOGIN (-1)             /* pool_req.tag of a login */
#define RUN_FLUSH (-2)             /* run_send_cb's fd: no batch limit */

enum run_phase {
    PH_LOGIN,    /* the first login is out; nothing else yet */
    PH_RUNNING,  /* sending */
    PH_DRAINING, /* no more sending; waiting for answers */
    PH_DONE
};

struct run;

/* A closed-loop client: who it is, and its pause timer. */
struct run_client {
    struct run *run;
    int n;
    struct event *backoff;
};

struct run {
    const struct run_opts *o;
    struct event_base *base;
    struct pool *pool;
    struct event *send_ev, *tick_ev, *drain_ev, *sigint_ev, *sigterm_ev;
    struct run_client *clients; /* closed loop: o->clients of them */
    struct stats stats;
    struct jar jar;
    char *login_body;       /* {"username","password"}, from jansson */
    char target[RUN_TARGET_MAX];
    enum run_phase phase;
    int64_t start_us;       /* first request of the schedule */
    int64_t end_us;         /* start + duration, 0: no end */
    int64_t stop_us;        /* when sending stopped */
    uint64_t slots;         /* open loop: scheduled requests started */
    long ticks;             /* seconds reported */
    int data_in_flight;
    int login_in_flight;
    int have_session;       /* logged in, and no 401 since */
    int64_t next_login_us;  /* no login attempt before this */
    int exit_code;
    struct hist ok_hist;    /* latency of the ok (2xx/3xx) answers only */
};

static void run_send_cb(evutil_socket_t fd, short what, void *arg);
static void run_finish(struct run *r);
static void run_drain(struct run *r);

/* Arm ev to fire after us microseconds (0: at once), counted from now:
 * libevent counts from the time it cached when this loop turn began,
 * which may be well in the past by now. */
static void arm_us(struct event *ev, int64_t us)
{
    struct timeval tv;

    event_base_update_cache_time(event_get_base(ev));
    if (us < 0) us = 0;
    tv.tv_sec = (time_t)(us / 1000000);
    tv.tv_usec = (suseconds_t)(us % 1000000);
    evtimer_add(ev, &tv);
}

/* Did time t fall after the current second ended (its tick not run yet)?
 * Only while running: when draining, no tick is coming. */
static int past_tick(const struct run *r, int64_t t)
{
    return r->phase == PH_RUNNING &&
           t >= r->start_us + (int64_t)(r->ticks + 1) * 1000000;
}

/* Send a login unless one is out, or the last failed too recently.
 * after_401 counts it as a re-login in the summary. */
static void run_login(struct run *r, int after_401)
{
    int64_t now = clock_mono_us();
    struct pool_req q = {POOL_POST, "/login", jar_header(&r->jar),
                         r->login_body, now, TAG_LOGIN};

    if (r->o->user[0] == '\0' || r->login_in_flight || now < r->next_login_us)
        return;
    if (pool_send(r->pool, &q) != 0) return; /* full: the next request tries */
    r->login_in_flight = 1;
    if (after_401) r->stats.relogins++;
}

/* One request of the schedule, meant to start at intended_us. Returns 0,
 * or -1 when it overflowed (counted as an error, not sent). */
static int run_send(struct run *r, int64_t intended_us, int tag)
{
    struct pool_req q = {POOL_GET, r->o->path, jar_header(&r->jar), NULL,
                         intended_us, tag};

    stats_sent(&r->stats, past_tick(r, intended_us));
    if (r->o->user[0] != '\0' && !r->have_session) run_login(r, 0);
    if (r->data_in_flight >= r->o->max_inflight || pool_send(r->pool, &q) != 0) {
        stats_fail(&r->stats, past_tick(r, intended_us), KIND_OVERFLOW);
        return -1;
    }
    r->data_in_flight++;
    return 0;
}

/* Closed loop: client n sends its next request, now or after a pause. */
static void run_client_next(struct run *r, int n, int pause)
{
    if (r->phase != PH_RUNNING) return;
    if (pause) {
        arm_us(r->clients[n].backoff, RUN_BACKOFF_MS * 1000);
        return;
    }
    if (run_send(r, clock_mono_us(), n) != 0)
        arm_us(r->clients[n].backoff, RUN_BACKOFF_MS * 1000);
}

/* A closed-loop client's pause is over. */
static void run_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run_client *c = arg;

    (void)fd;
    (void)what;
    run_client_next(c->run, c->n, 0);
}

/* Start the schedule: from now on, requests go out. */
static void run_start(struct run *r)
{
    r->phase = PH_RUNNING;
    r->start_us = clock_mono_us();
    r->end_us = r->o->duration_s > 0 ? r->start_us + r->o->duration_s * 1000000
                                     : 0;
    if (!r->o->load) {
        struct report_run rr = {"watch", r->target, r->o->user, r->o->rate, 0,
                                r->o->duration_s, 0, 0, r->o->colour};
        report_watch_header(stdout, &rr);
    }
    arm_us(r->tick_ev, 1000000);
    if (r->o->rate > 0) {
        arm_us(r->send_ev, 0);
    } else {
        for (long n = 0; n < r->o->clients && r->phase == PH_RUNNING; n++)
            run_client_next(r, (int)n, 0);
    }
}

/* The first login's answer decides whether the run starts; later logins
 * just restore the session. */
static void run_login_done(struct run *r, const struct pool_result *res)
{
    int ok = res->error == POOL_OK && res->status == 200 &&
             jar_get(&r->jar, "sid") != NULL;

    r->login_in_flight = 0;
    if (ok) {
        r->stats.logins++;
        r->have_session = 1;
        if (r->phase == PH_LOGIN) run_start(r);
        return;
    }
    r->stats.login_failures++;
    r->next_login_us = res->done_us + RUN_LOGIN_RETRY_US;
    if (r->phase != PH_LOGIN) return;
    if (res->error == POOL_OK && res->status >= 400 && res->status < 500) {
        fprintf(stderr, "sb-client: login as '%s' at %s/login failed: HTTP %d "
                "(wrong user name or password?)\n", r->o->user,
                r->o->url->hostport, res->status);
        r->exit_code = 1;
        r->phase = PH_DONE;
        event_base_loopbreak(r->base);
        return;
    }
    if (res->error == POOL_OK)
        log_warn("login as %s failed: HTTP %d; starting anyway, logging in "
                 "again as the run goes", r->o->user, res->status);
    else
        log_warn("login as %s failed: %s; starting anyway, logging in again "
                 "as the run goes", r->o->user, pool_error_name(res->error));
    run_start(r);
}

/* What a connection-level failure counts as. */
static enum stats_kind kind_of(enum pool_error e)
{
    switch (e) {
    case POOL_ERR_REFUSED: return KIND_REFUSED;
    case POOL_ERR_RESET: return KIND_RESET;
    case POOL_ERR_TIMEOUT: return KIND_TIMEOUT;
    case POOL_ERR_UNREACHABLE: return KIND_UNREACHABLE;
    case POOL_ERR_PROTOCOL: return KIND_BAD_RESPONSE;
    case POOL_OK:
    case POOL_ERR_LOCAL: break;
    }
    return KIND_LOCAL;
}

/* Every request ends here: count it, keep cookies, re-login after a 401,
 * and (closed loop) send the client's next one. */
static void run_result(const struct pool_result *res, void *arg)
{
    struct run *r = arg;

    if (res->set_cookies[0] != '\0') jar_set_lines(&r->jar, res->set_cookies);
    if (res->req.tag == TAG_LOGIN) {
        run_login_done(r, res);
    } else {
        r->data_in_flight--;
        int next = past_tick(r, res->done_us);
        if (res->error == POOL_OK) {
            stats_answer(&r->stats, next, res->status,
                         res->done_us - res->req.intended_us, res->served_by);
            if (res->status >= 200 && res->status < 400)
                hist_record(&r->ok_hist, res->done_us - res->req.intended_us);
            if (res->status == 401 && r->o->user[0] != '\0') {
                r->have_session = 0;
                run_login(r, 1);
            }
        } else {
            stats_fail(&r->stats, next, kind_of(res->error));
        }
        if (r->o->clients > 0)
            run_client_next(r, res->req.tag, res->error != POOL_OK);
    }
    if (r->phase == PH_DRAINING && r->data_in_flight == 0 &&
        !r->login_in_flight)
        run_finish(r);
}

/* Open loop: start every request whose time has come; then sleep until
 * the next one. Start times are start + i/rate, whatever happened before.
 * At most RUN_SEND_BATCH_MAX per call, unless fd is RUN_FLUSH. */
static void run_send_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    int64_t now = clock_mono_us();
    int batch = 0;

    (void)fd;
    (void)what;
    while (r->phase == PH_RUNNING) {
        int64_t due = r->start_us +
                      (int64_t)(r->slots * 1000000 / (uint64_t)r->o->rate);
        if (r->end_us != 0 && due >= r->end_us) return; /* schedule done */
        if (due > now) {
            arm_us(r->send_ev, due - now);
            return;
        }
        if (batch++ == RUN_SEND_BATCH_MAX && fd != RUN_FLUSH) {
            /* let answers in, then go on */
            arm_us(r->send_ev, 0);
            return;
        }
        run_send(r, due, 0);
        r->slots++;
    }
}

/* Print (watch) or write (CSV) the second that just ended, then start a
 * new one. */
static void run_report_second(struct run *r, long n)
{
    if (!r->o->load) {
        struct report_run rr = {"watch", r->target, r->o->user, r->o->rate, 0,
                                r->o->duration_s, 0, 0, r->o->colour};
        report_watch_line(stdout, &rr, &r->stats, time(NULL));
    }
    if (r->o->csv != NULL)
        report_csv_row(r->o->csv, n, &r->stats.second, r->data_in_flight);
    stats_next_second(&r->stats);
    /* Nobody reads us any more (`| head` ended): stop as on Ctrl-C. */
    if (ferror(stdout)) run_drain(r);
}

/* Stop sending; finish once the answers are in (or the deadline passes). */
static void run_drain(struct run *r)
{
    if (r->phase >= PH_DRAINING) return;
    if (r->phase == PH_RUNNING) r->stop_us = clock_mono_us();
    r->phase = PH_DRAINING;
    evtimer_del(r->send_ev);
    evtimer_del(r->tick_ev);
    for (long n = 0; r->clients != NULL && n < r->o->clients; n++)
        evtimer_del(r->clients[n].backoff);
    if (r->data_in_flight == 0 && !r->login_in_flight) {
        run_finish(r);
        return;
    }
    arm_us(r->drain_ev, (r->o->timeout_ms + RUN_DRAIN_SLACK_MS) * 1000);
}

/* A second is over. At the end of --duration, the last due requests go
 * out, the second is reported, and the run drains. */
static void run_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    int64_t next;

    (void)fd;
    (void)what;
    next = r->start_us + (int64_t)(r->ticks + 1) * 1000000;
    if (clock_mono_us() < next) { /* early (coarse clock): not yet */
        arm_us(r->tick_ev, next - clock_mono_us());
        return;
    }
    r->ticks++;
    next += 1000000;
    if (r->end_us != 0 && next > r->end_us) {
        /* Requests due before the end go out even if we fell behind
         * (they count as sent; overflow if too many are out). */
        if (r->o->rate > 0) run_send_cb(RUN_FLUSH, 0, r);
        run_report_second(r, r->ticks);
        run_drain(r);
        return;
    }
    run_report_second(r, r->ticks);
    arm_us(r->tick_ev, next - clock_mono_us());
}

/* The drain deadline passed: what is still out counts as unfinished. */
static void run_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_finish(arg);
}

/* Ctrl-C (or SIGTERM): the first stops and drains, the second stops now. */
static void run_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct run *r = arg;

    (void)sig;
    (void)what;
    if (r->phase < PH_DRAINING) {
        if (!r->o->load && isatty(fileno(stdout))) fputc('\n', stdout);
        run_drain(r);
    } else {
        run_finish(r);
    }
}

/* {"p50":ms,"p90":ms,"p99":ms,"max":ms} of h; nulls when it is empty. */
static json_t *json_latency(const struct hist *h)
{
    static const double qs[] = {50.0, 90.0, 99.0, 100.0};
    static const char *names[] = {"p50", "p90", "p99", "max"};
    json_t *o = json_object();

    for (size_t i = 0; o != NULL && i < sizeof(qs) / sizeof(qs[0]); i++) {
        int64_t us = hist_percentile(h, qs[i]);
        json_object_set_new(o, names[i],
                            us < 0 ? json_null() : json_real((double)us / 1e3));
    }
    return o;
}

/* --json: the whole run's numbers, for programs (the labs). */
static void run_write_json(const struct run *r, const struct report_run *rr)
{
    const struct stats_window *t = &r->stats.total;
    json_t *o, *errs = json_object(), *served = json_object();
    char code[16];

    for (int st = 0; errs != NULL && st < STATS_STATUS_MAX; st++) {
        if (t->status[st] == 0) continue;
        snprintf(code, sizeof(code), "%d", st);
        json_object_set_new(errs, code, json_integer((json_int_t)t->status[st]));
    }
    for (int k = 0; errs != NULL && k < KIND_COUNT; k++)
        if (t->kind[k] > 0)
            json_object_set_new(errs, stats_kind_name(k),
                                json_integer((json_int_t)t->kind[k]));
    for (int i = 0; served != NULL && i < r->stats.nnames; i++)
        if (t->served[i] > 0)
            json_object_set_new(served, r->stats.names[i],
                                json_integer((json_int_t)t->served[i]));
    o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:i, "
                  "s:o*, s:o*, s:o*, s:o*, s:I, s:I, s:I}",
                  "mode", rr->mode, "target", rr->target, "user", rr->user,
                  "rate", (json_int_t)rr->rate, "clients", (json_int_t)rr->clients,
                  "duration_s", (json_int_t)rr->duration_s,
                  "elapsed_s", rr->elapsed_s,
                  "sent", (json_int_t)t->sent, "ok", (json_int_t)t->ok,
                  "errors", (json_int_t)t->errors, "unfinished", rr->unfinished,
                  "errors_by", errs, "latency_ms", json_latency(&t->hist),
                  "ok_latency_ms", json_latency(&r->ok_hist), "served", served,
                  "logins", (json_int_t)r->stats.logins,
                  "relogins", (json_int_t)r->stats.relogins,
                  "login_failures", (json_int_t)r->stats.login_failures);
    if (o == NULL || json_dumpf(o, run_json_out,
                               JSON_INDENT(1) | JSON_REAL_PRECISION(10)) != 0 ||
        fputc('\n', run_json_out) == EOF)
        log_warn("could not write the --json summary");
    json_decref(o);
}

/* Print the partial last second (if anything happened in it) and the
 * summary, then leave the loop. */
static void run_finish(struct run *r)
{
    const struct stats_window *w = &r->stats.second;
    struct report_run rr = {r->o->load ? "load" : "watch", r->target,
                            r->o->user, r->o->rate, r->o->clients,
                            r->o->duration_s, 0, r->data_in_flight,
                            r->o->colour};

    if (r->phase == PH_DONE) return;
    if (r->stop_us == 0) r->stop_us = clock_mono_us();
    r->phase = PH_DONE;
    if (r->start_us != 0) {
        /* Answers that came in while draining: a CSV row of their own; the
         * watch keeps to whole seconds (they are in the summary). */
        if (r->o->csv != NULL && w->sent + w->ok + w->errors > 0)
            report_csv_row(r->o->csv, r->ticks + 1, w, r->data_in_flight);
        rr.elapsed_s = (double)(r->stop_us - r->start_us) / 1e6;
        if (r->o->load)
            report_load_table(stdout, &rr, &r->stats);
        else
            report_watch_summary(stdout, &rr, &r->stats);
        if (run_json_out != NULL) run_write_json(r, &rr);
    }
    event_base_loopbreak(r->base);
}

/* {"username":U,"password":P}, escaped by jansson. NULL on no memory. */
static char *login_json(const char *user, const char *password)
{
    json_t *o = json_pack("{s:s, s:s}", "username", user, "password", password);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return text;
}

/* Free what run_setup made; safe on a half-made run. */
static void run_teardown(struct run *r)
{
    pool_free(r->pool);
    for (long n = 0; r->clients != NULL && n < r->o->clients; n++)
        if (r->clients[n].backoff != NULL) event_free(r->clients[n].backoff);
    free(r->clients);
    if (r->send_ev != NULL) event_free(r->send_ev);
    if (r->tick_ev != NULL) event_free(r->tick_ev);
    if (r->drain_ev != NULL) event_free(r->drain_ev);
    if (r->sigint_ev != NULL) event_free(r->sigint_ev);
    if (r->sigterm_ev != NULL) event_free(r->sigterm_ev);
    free(r->login_body);
    if (r->base != NULL) event_base_free(r->base);
}

/* The loop, timers, signals, pool and clients. Returns 0, or -1 with a
 * reason in err. */
static int run_setup(struct run *r, char *err, size_t errlen)
{
    const struct run_opts *o = r->o;
    /* Open loop: the in-flight bound; closed loop: one per client. One
     * more slot keeps room for a login. */
    int conns = (int)(o->clients > 0 ? o->clients : o->max_inflight) + 1;
    struct event_config *cfg;

    snprintf(r->target, sizeof(r->target), "http://%s%s", o->url->hostport,
             o->path);
    cfg = event_config_new();
    if (cfg == NULL) goto nomem;
    /* Timers on the precise clock: the schedule is what we measure. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    r->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (r->base == NULL) goto nomem;
    r->send_ev = evtimer_new(r->base, run_send_cb, r);
    r->tick_ev = evtimer_new(r->base, run_tick_cb, r);
    r->drain_ev = evtimer_new(r->base, run_drain_cb, r);
    r->sigint_ev = evsignal_new(r->base, SIGINT, run_signal_cb, r);
    r->sigterm_ev = evsignal_new(r->base, SIGTERM, run_signal_cb, r);
    if (r->send_ev == NULL || r->tick_ev == NULL || r->drain_ev == NULL ||
        r->sigint_ev == NULL || r->sigterm_ev == NULL ||
        evsignal_add(r->sigint_ev, NULL) != 0 ||
        evsignal_add(r->sigterm_ev, NULL) != 0)
        goto nomem;
    if (o->clients > 0) {
        r->clients = calloc((size_t)o->clients, sizeof(*r->clients));
        if (r->clients == NULL) goto nomem;
        for (long n = 0; n < o->clients; n++) {
            r->clients[n].run = r;
            r->clients[n].n = (int)n;
            r->clients[n].backoff =
                evtimer_new(r->base, run_backoff_cb, &r->clients[n]);
            if (r->clients[n].backoff == NULL) goto nomem;
        }
    }
    if (o->user[0] != '\0') {
        r->login_body = login_json(o->user, o->password);
        if (r->login_body == NULL) goto nomem;
    }
    r->pool = pool_new(r->base, o->url->host, o->url->port, o->url->hostport,
                       conns, o->timeout_ms, run_result, r, err, errlen);
    return r->pool != NULL ? 0 : -1;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int run(const struct run_opts *o)
{
    struct run r;
    char err[256];

    memset(&r, 0, sizeof(r));
    r.o = o;
    stats_init(&r.stats);
    hist_reset(&r.ok_hist);
    jar_init(&r.jar);
    if (run_setup(&r, err, sizeof(err)) != 0) {
        fprintf(stderr, "sb-client: %s\n", err);
        run_teardown(&r);
        return 1;
    }
    if (o->user[0] != '\0') {
        r.phase = PH_LOGIN;
        run_login(&r, 0);
    } else {
        run_start(&r);
    }
    event_base_dispatch(r.base);
    run_teardown(&r);
    return r.exit_code;
}
