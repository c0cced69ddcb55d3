/* The live dashboard: the page, the /events streams and the timer that
 * feeds them (see dashboard.h). */
#include "dashboard.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_util.h"
#include "lb.h"
#include "log.h"

#define SSE_RETRY_MS 1000 /* how soon a browser reconnects a lost stream */

static const char *page_text(size_t *len); /* the page: at the end */

/* ---- the event log: any thread writes, the timer reads ----------------- */

struct note {
    uint64_t seq;    /* 1, 2, 3 ... so a page can tell new notes from seen */
    int64_t time_ms; /* wall clock */
    char text[DASHBOARD_NOTE_LEN];
};

static pthread_mutex_t notes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct note notes[DASHBOARD_NOTES_MAX]; /* a ring */
static uint64_t notes_written;                 /* the newest note's seq */

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dashboard_note(const char *fmt, ...)
{
    char text[DASHBOARD_NOTE_LEN];
    int64_t now = wall_ms();
    struct note *n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&notes_lock);
    n = &notes[notes_written % DASHBOARD_NOTES_MAX];
    n->seq = ++notes_written;
    n->time_ms = now;
    memcpy(n->text, text, sizeof(text));
    pthread_mutex_unlock(&notes_lock);
}

/* What the newest note about name's health says: BACKEND_UP, BACKEND_DOWN,
 * or -1 when no kept note is about it. A note is about it when it starts
 * "backend NAME up" or "backend NAME down", then ends or goes on with a
 * space, a colon or a comma. */
static int notes_health_said(const char *name)
{
    size_t nl = strlen(name);
    int said = -1;

    pthread_mutex_lock(&notes_lock);
    for (uint64_t seq = notes_written; seq > 0 && said < 0 &&
                                       seq + DASHBOARD_NOTES_MAX > notes_written;
         seq--) {
        const char *t = notes[(seq - 1) % DASHBOARD_NOTES_MAX].text, *w;
        if (strncmp(t, "backend ", 8) != 0 || strncmp(t + 8, name, nl) != 0 ||
            t[8 + nl] != ' ')
            continue;
        w = t + 8 + nl + 1;
        if (strncmp(w, "up", 2) == 0 && strchr(" :,", w[2]) != NULL)
            said = BACKEND_UP; /* strchr also matches the final '\0' */
        else if (strncmp(w, "down", 4) == 0 && strchr(" :,", w[4]) != NULL)
            said = BACKEND_DOWN;
    }
    pthread_mutex_unlock(&notes_lock);
    return said;
}

/* The kept notes, oldest first: [{"seq","time","text"}]. New reference. */
static json_t *notes_json(void)
{
    json_t *arr = json_array();
    uint64_t first;

    pthread_mutex_lock(&notes_lock);
    first = notes_written > DASHBOARD_NOTES_MAX
                ? notes_written - DASHBOARD_NOTES_MAX + 1
                : 1;
    for (uint64_t seq = first; seq <= notes_written; seq++) {
        const struct note *n = &notes[(seq - 1) % DASHBOARD_NOTES_MAX];
        json_array_append_new(arr, json_pack("{s:I, s:I, s:s}", "seq",
                                             (json_int_t)n->seq, "time",
                                             (json_int_t)n->time_ms, "text",
                                             n->text));
    }
    pthread_mutex_unlock(&notes_lock);
    return arr;
}

/* ---- what the timer remembers about each backend ----------------------- */

enum hist_state { HIST_DOWN = 0, HIST_UP = 1, HIST_ABSENT = 2 };

/* Whether a backend is in the current list. TRACK_SEEN lasts from the
 * first pass of a tick (over the list) to the second (over every track),
 * so that pass can tell which ones left. */
enum track_listed { TRACK_OUT = 0, TRACK_IN, TRACK_SEEN };

/* One backend as the last tick saw it. Found by pointer: a backend object
 * lives until exit, and one that is removed and added again is the same. */
struct track {
    struct lb_backend *be;
    uint64_t requests, failures; /* counters at the last tick */
    double rps, fps;             /* requests and failures per second over
                                    the last tick */
    int health, admin;           /* as last noted */
    enum track_listed listed;
    int unexplained;             /* ticks health has differed from
                                    `health` with no note saying so */
    float hist_rps[DASHBOARD_HISTORY];
    unsigned char hist_state[DASHBOARD_HISTORY]; /* enum hist_state */
};

static struct event *tick_ev;
static struct evbuffer *scratch; /* one event on its way to one stream */
static struct track *tracks;
static int ntracks;
static int hist_next, hist_len; /* ring position shared by every track */
static double last_tick;        /* monotonic seconds */
static uint64_t last_total;
static double total_rps;

/* The track for be, made (and filled with "absent" history) if new.
 * NULL only when out of memory. */
static struct track *track_for(struct lb_backend *be)
{
    struct track *grown, *t;

    for (int i = 0; i < ntracks; i++)
        if (tracks[i].be == be) return &tracks[i];
    grown = realloc(tracks, sizeof(*tracks) * (size_t)(ntracks + 1));
    if (grown == NULL) return NULL;
    tracks = grown;
    t = &tracks[ntracks++];
    memset(t, 0, sizeof(*t));
    t->be = be;
    t->requests = atomic_load(&be->requests);
    t->failures = atomic_load(&be->failures);
    t->health = atomic_load(&be->health);
    t->admin = atomic_load(&be->admin);
    memset(t->hist_state, HIST_ABSENT, sizeof(t->hist_state));
    return t;
}

static const char *admin_word(int a)
{
    return a == ADMIN_DRAIN ? "drain" : a == ADMIN_DISABLED ? "disabled" : "enabled";
}

/* Note a change of health nobody explained. The proxy takes a backend
 * down on its own (a passive check) and may note it just after it
 * publishes the change, so wait one tick before speaking for it. */
static void track_health(struct track *t, int now)
{
    if (now == t->health) {
        t->unexplained = 0;
        return;
    }
    if (notes_health_said(t->be->name) == now) {
        /* the checker or the proxy said so */
    } else if (++t->unexplained < 2) {
        return; /* give whoever changed it a tick to say so */
    } else {
        dashboard_note(now == BACKEND_UP ? "backend %s up"
                                         : "backend %s down (seen by the proxy)",
                       t->be->name);
    }
    t->health = now;
    t->unexplained = 0;
}

/* Read every counter once: rates over dt seconds, history, notes for
 * changes. quiet: the first look, which notes nothing. */
static void take_readings(double dt, int quiet)
{
    struct backend_list *list = lb_backends();
    uint64_t total = atomic_load(&lb.requests);

    for (int i = 0; list != NULL && i < list->n; i++) {
        struct track *t = track_for(list->b[i]);
        if (t == NULL) continue;
        if (t->listed == TRACK_OUT) {
            if (!quiet) dashboard_note("backend %s added", t->be->name);
            t->health = atomic_load(&t->be->health);
            t->admin = atomic_load(&t->be->admin);
        }
        t->listed = TRACK_SEEN;
    }
    for (int i = 0; i < ntracks; i++) {
        struct track *t = &tracks[i];
        uint64_t req = atomic_load(&t->be->requests);
        uint64_t fail = atomic_load(&t->be->failures);
        int admin = atomic_load(&t->be->admin);

        t->rps = (double)(req - t->requests) / dt;
        t->fps = (double)(fail - t->failures) / dt;
        t->requests = req;
        t->failures = fail;
        if (t->listed == TRACK_IN) { /* in the last list, not in this one */
            if (!quiet) dashboard_note("backend %s removed", t->be->name);
            t->listed = TRACK_OUT;
        }
        if (t->listed == TRACK_OUT) {
            t->hist_rps[hist_next] = 0;
            t->hist_state[hist_next] = HIST_ABSENT;
            continue;
        }
        t->listed = TRACK_IN;
        track_health(t, atomic_load(&t->be->health));
        if (admin != t->admin) {
            dashboard_note("backend %s set to %s (admin API)", t->be->name,
                           admin_word(admin));
            t->admin = admin;
        }
        t->hist_rps[hist_next] = (float)t->rps;
        t->hist_state[hist_next] =
            atomic_load(&t->be->health) == BACKEND_UP ? HIST_UP : HIST_DOWN;
    }
    hist_next = (hist_next + 1) % DASHBOARD_HISTORY;
    if (hist_len < DASHBOARD_HISTORY) hist_len++;
    total_rps = (double)(total - last_total) / dt;
    last_total = total;
}

/* ---- the snapshot ------------------------------------------------------- */

/* Round to 0.1 so the JSON stays short. */
static json_t *rate_json(double r)
{
    return json_real((double)(long long)(r * 10.0 + 0.5) / 10.0);
}

static json_t *history_json(const struct track *t)
{
    json_t *rps = json_array(), *up = json_array();

    for (int i = 0; i < hist_len; i++) {
        int k = (hist_next - hist_len + i + DASHBOARD_HISTORY) % DASHBOARD_HISTORY;
        json_array_append_new(rps, rate_json(t->hist_rps[k]));
        json_array_append_new(up, t->hist_state[k] == HIST_ABSENT
                                      ? json_null()
                                      : json_boolean(t->hist_state[k] == HIST_UP));
    }
    return json_pack("{s:o, s:o}", "rps", rps, "up", up);
}

/* Everything a page shows, as one JSON object (new reference). With
 * history, each backend also carries its last DASHBOARD_HISTORY rates. */
static json_t *snapshot(int with_history)
{
    struct backend_list *list = lb_backends();
    json_t *bes = json_array();

    for (int i = 0; list != NULL && i < list->n; i++) {
        struct lb_backend *b = list->b[i];
        struct track *t = track_for(b);
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:o, s:o}", "name", b->name,
            "health", atomic_load(&b->health) == BACKEND_UP ? "up" : "down",
            "admin", admin_word(atomic_load(&b->admin)), "active",
            atomic_load(&b->active), "requests",
            (json_int_t)atomic_load(&b->requests), "failures",
            (json_int_t)atomic_load(&b->failures), "retried_elsewhere",
            (json_int_t)atomic_load(&b->retries_from), "rps",
            rate_json(t ? t->rps : 0), "failures_per_s", rate_json(t ? t->fps : 0));
        if (with_history && t != NULL)
            json_object_set_new(o, "history", history_json(t));
        json_array_append_new(bes, o);
    }
    return json_pack(
        "{s:I, s:i, s:{s:s, s:b, s:i, s:i, s:i, s:i}, "
        "s:{s:I, s:I, s:I, s:I, s:I, s:o}, s:o, s:o}",
        "time", (json_int_t)wall_ms(), "interval_ms", DASHBOARD_TICK_MS,
        "config", "policy", lb.balancer.ops->name, "health_checks",
        !lb.cfg.no_health, "health_interval_ms", (int)lb.cfg.health_interval,
        "rise", (int)lb.cfg.rise, "fall", (int)lb.cfg.fall, "retries",
        (int)lb.cfg.retries,
        "totals", "requests", (json_int_t)atomic_load(&lb.requests),
        "errors_4xx", (json_int_t)atomic_load(&lb.errors_4xx), "errors_5xx",
        (json_int_t)atomic_load(&lb.errors_5xx), "retries",
        (json_int_t)atomic_load(&lb.retries), "queued",
        (json_int_t)atomic_load(&lb.queued), "rps", rate_json(total_rps),
        "backends", bes, "events", notes_json());
}

/* ---- the streams ------------------------------------------------------- */

struct stream {
    TAILQ_ENTRY(stream) next;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    int chunked; /* HTTP/1.1: evhttp chunks the reply */
};

static TAILQ_HEAD(, stream) streams = TAILQ_HEAD_INITIALIZER(streams);
static int nstreams;

static void stream_forget(struct stream *s)
{
    TAILQ_REMOVE(&streams, s, next);
    nstreams--;
    free(s);
}

/* The client went away (evhttp noticed when a write failed, or at a
 * timeout). evhttp let go of the request when it saw that, so it is ours
 * to free; the connection is being freed by evhttp. */
static void on_stream_closed(struct evhttp_connection *evcon, void *arg)
{
    struct stream *s = arg;

    (void)evcon;
    if (evhttp_request_get_connection(s->req) == NULL)
        evhttp_send_reply_end(s->req); /* with no connection: frees it */
    stream_forget(s);
}

/* Close s from our side, unsent bytes and all (it stopped reading).
 * Frees the connection, its request and s. */
static void stream_drop(struct stream *s)
{
    struct evhttp_connection *evcon = s->evcon;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    stream_forget(s);
    evhttp_connection_free(evcon);
}

static size_t stream_backlog(const struct stream *s)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);

    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Without this, Linux grows a socket's send buffer to megabytes while the
 * reader is stopped, and the backlog bound takes minutes to reach. */
static void stream_limit_sndbuf(struct stream *s)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int size = DASHBOARD_STREAM_SNDBUF;

    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* Queue one event on s, or drop s if it has too much unsent already.
 * Returns 0, or -1 when s was dropped (and freed). */
static int stream_send(struct stream *s, const char *event, size_t len)
{
    if (stream_backlog(s) > DASHBOARD_BACKLOG_MAX) {
        log_warn("dashboard: dropping an /events stream that stopped reading");
        stream_drop(s);
        return -1;
    }
    evbuffer_add(scratch, event, len);
    evhttp_send_reply_chunk(s->req, scratch); /* moves scratch's bytes */
    return 0;
}

/* "event: stats\ndata: {json}\n\n" for the snapshot; NULL when out of
 * memory. The caller frees it. */
static char *stats_event(int with_history, size_t *len)
{
    json_t *snap = snapshot(with_history);
    char *js = snap ? json_dumps(snap, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    char *ev = NULL;
    int n;

    json_decref(snap);
    if (js != NULL && (n = asprintf(&ev, "event: stats\ndata: %s\n\n", js)) >= 0)
        *len = (size_t)n;
    else
        ev = NULL;
    free(js);
    return ev;
}

static void broadcast(void)
{
    struct stream *s, *next;
    size_t len;
    char *ev;

    if (nstreams == 0) return;
    if ((ev = stats_event(0, &len)) == NULL) return;
    for (s = TAILQ_FIRST(&streams); s != NULL; s = next) {
        next = TAILQ_NEXT(s, next);
        stream_send(s, ev, len);
    }
    free(ev);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    double now = mono_s(), dt = now - last_tick;

    (void)fd;
    (void)what;
    (void)arg;
    if (dt <= 0) dt = DASHBOARD_TICK_MS / 1000.0;
    last_tick = now;
    take_readings(dt, 0);
    broadcast();
}

void dashboard_events(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct stream *s;
    char retry[32];
    size_t len;
    char *ev;

    if (tick_ev == NULL || evcon == NULL) {
        http_reply_error(req, 503, "the dashboard is not running");
        return;
    }
    if (nstreams >= DASHBOARD_STREAMS_MAX) {
        http_reply_error(req, 503, "too many dashboard streams open");
        return;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        http_reply_error(req, 503, "out of memory");
        return;
    }
    s->req = req;
    s->evcon = evcon;
    TAILQ_INSERT_TAIL(&streams, s, next);
    nstreams++;
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply_start(req, 200, "OK");
    s->chunked = evhttp_find_header(h, "Transfer-Encoding") != NULL;
    evhttp_connection_set_closecb(evcon, on_stream_closed, s);
    stream_limit_sndbuf(s);
    len = (size_t)snprintf(retry, sizeof(retry), "retry: %d\n\n", SSE_RETRY_MS);
    if (stream_send(s, retry, len) != 0) return;
    if ((ev = stats_event(1, &len)) != NULL) {
        stream_send(s, ev, len);
        free(ev);
    }
}

void dashboard_page(struct evhttp_request *req)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    size_t len;
    const char *page = page_text(&len);

    evbuffer_add_reference(out, page, len, NULL, NULL);
    evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, 200, "OK", NULL);
}

int dashboard_start(struct event_base *base)
{
    struct timeval tv = {DASHBOARD_TICK_MS / 1000, (DASHBOARD_TICK_MS % 1000) * 1000};
    struct backend_list *list = lb_backends();

    scratch = evbuffer_new();
    tick_ev = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    if (scratch == NULL || tick_ev == NULL || event_add(tick_ev, &tv) != 0) {
        dashboard_stop();
        return -1;
    }
    last_tick = mono_s();
    last_total = atomic_load(&lb.requests);
    take_readings(DASHBOARD_TICK_MS / 1000.0, 1);
    hist_len = 0; /* that first look was no interval */
    hist_next = 0;
    if (lb.cfg.no_health)
        dashboard_note("sb-lb started: %d backends, %s, no health checks",
                       list ? list->n : 0, lb.balancer.ops->name);
    else
        dashboard_note("sb-lb started: %d backends, %s, health checks every "
                       "%ld ms", list ? list->n : 0, lb.balancer.ops->name,
                       lb.cfg.health_interval);
    return 0;
}

/* Write what evhttp has queued for s now, without waiting for the loop:
 * the stream ends as the process stops, and evhttp_free would drop it. A
 * bufferevent freezes the start of its output so that only it drains it;
 * we thaw it for this one write, just before the bufferevent is freed. */
static void stream_flush_now(struct stream *s)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct evbuffer *out = bev ? bufferevent_get_output(bev) : NULL;

    if (fd < 0 || out == NULL) return;
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, fd); /* what the socket takes now; the rest is lost */
    evbuffer_freeze(out, 1);
}

void dashboard_stop(void)
{
    struct stream *s;

    while ((s = TAILQ_FIRST(&streams)) != NULL) {
        evhttp_connection_set_closecb(s->evcon, NULL, NULL);
        /* An HTTP/1.1 stream is chunked and ends with an empty chunk,
         * which evhttp queues. An HTTP/1.0 one ends when the connection
         * closes; ending its reply here would free the connection now. */
        if (s->chunked) evhttp_send_reply_end(s->req);
        stream_flush_now(s);
        /* evhttp_free, next, frees the connection and the request */
        stream_forget(s);
    }
    if (tick_ev) event_free(tick_ev);
    tick_ev = NULL;
    if (scratch) evbuffer_free(scratch);
    scratch = NULL;
    free(tracks);
    tracks = NULL;
    ntracks = 0;
}

/* ---- the page ------------------------------------------------------------
 * One file with its style and script inline and nothing fetched from
 * elsewhere: it must work on a laptop with no network. It opens /events,
 * keeps the last DASHBOARD_HISTORY rates per backend for the sparklines,
 * and POSTs /backends/NAME/enable|drain|disable from the buttons. */
static const char dashboard_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>sb-lb dashboard · switchboard</title>\n"
    "<link rel=\"icon\" href=\"data:,\">\n"
    "<style>\n"
    ":root {\n"
    "  --bg: #f4f5f7; --card: #fff; --ink: #1f2933; --muted: #6b7785; --line: #e3e6ea;\n"
    "  --up: #15803d; --up-bg: #dcfce7; --down: #c81e1e; --down-bg: #fde2e2;\n"
    "  --drain: #b45309; --drain-bg: #fef3c7; --off: #4b5563; --off-bg: #e5e7eb;\n"
    "  --accent: #2563eb;\n"
    "}\n"
    "* { box-sizing: border-box; }\n"
    "body { margin: 0; background: var(--bg); color: var(--ink);\n"
    "  font: 14px/1.45 system-ui, -apple-system, \"Segoe UI\", Roboto, \"DejaVu Sans\", sans-serif; }\n"
    "header { display: flex; align-items: center; gap: 16px; padding: 14px 24px;\n"
    "  background: #111827; color: #f9fafb; }\n"
    "header h1 { font-size: 18px; margin: 0; font-weight: 600; letter-spacing: .2px; }\n"
    "header h1 small { font-weight: 400; color: #9ca3af; margin-left: 6px; font-size: 14px; }\n"
    "header .cfg { color: #cbd5e1; font-size: 13px; flex: 1; }\n"
    ".conn { font-size: 13px; padding: 3px 10px; border-radius: 999px; background: #1f2937; }\n"
    ".conn::before { content: \"●\"; margin-right: 6px; }\n"
    ".conn.live::before { color: #4ade80; }\n"
    ".conn.wait::before { color: #fbbf24; }\n"
    ".conn.dead::before { color: #f87171; }\n"
    ".wrap { max-width: 1180px; margin: 0 auto; padding: 18px 24px 28px; }\n"
    ".totals { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 12px; }\n"
    ".total { background: var(--card); border: 1px solid var(--line); border-radius: 10px;\n"
    "  padding: 8px 14px; min-width: 112px; }\n"
    ".total b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }\n"
    ".total span { color: var(--muted); font-size: 12px; }\n"
    ".total.bad b { color: var(--down); }\n"
    ".lead { color: var(--muted); margin: 4px 0 14px; }\n"
    ".lead b { color: var(--ink); }\n"
    ".grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(340px, 100%), 1fr)); gap: 14px; }\n"
    "@media (max-width: 760px) {\n"
    "  header { flex-wrap: wrap; padding: 12px 16px; }\n"
    "  header .cfg { order: 3; flex-basis: 100%; }\n"
    "  .wrap { padding: 14px 12px 24px; }\n"
    "}\n"
    ".card { background: var(--card); border: 1px solid var(--line); border-top: 5px solid var(--up);\n"
    "  border-radius: 12px; padding: 14px 16px 12px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }\n"
    ".card.down { border-top-color: var(--down); background: #fffafa; }\n"
    ".card.drain { border-top-color: var(--drain); }\n"
    ".card.disabled { border-top-color: var(--off); }\n"
    ".top { display: flex; align-items: center; justify-content: space-between; gap: 10px; }\n"
    ".name { font: 600 15px/1.2 ui-monospace, \"DejaVu Sans Mono\", Menlo, monospace; word-break: break-all; }\n"
    ".badge { display: flex; flex-direction: column; align-items: flex-end; }\n"
    ".for { color: var(--muted); font-size: 11px; margin-top: 2px; }\n"
    ".state { font-weight: 800; font-size: 20px; letter-spacing: 1px; text-transform: uppercase;\n"
    "  padding: 2px 12px; border-radius: 8px; background: var(--up-bg); color: var(--up); }\n"
    ".card.down .state { background: var(--down-bg); color: var(--down); }\n"
    ".meta { margin-top: 6px; color: var(--muted); font-size: 13px; display: flex; gap: 8px; align-items: center; }\n"
    ".pill { display: inline-block; padding: 0 8px; border-radius: 999px; font-weight: 600; font-size: 12px;\n"
    "  background: var(--up-bg); color: var(--up); }\n"
    ".pill.drain { background: var(--drain-bg); color: var(--drain); }\n"
    ".pill.disabled { background: var(--off-bg); color: var(--off); }\n"
    ".traffic { margin-left: auto; font-weight: 600; color: var(--up); }\n"
    ".traffic.none { color: var(--muted); font-weight: 400; }\n"
    ".spark { position: relative; margin: 10px 0 2px; }\n"
    ".spark canvas { display: block; width: 100%; height: 64px; }\n"
    ".axis { display: flex; justify-content: space-between; color: var(--muted); font-size: 11px; }\n"
    ".rate { font-size: 13px; color: var(--muted); }\n"
    ".rate b { font-size: 20px; color: var(--ink); font-variant-numeric: tabular-nums; }\n"
    ".nums { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; margin: 8px 0 6px; }\n"
    ".nums div { background: var(--bg); border-radius: 8px; padding: 4px 8px; }\n"
    ".nums dt { color: var(--muted); font-size: 11px; }\n"
    ".nums dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }\n"
    ".nums dd.bad { color: var(--down); }\n"
    ".explain { margin: 6px 0 10px; font-size: 13px; min-height: 38px; }\n"
    ".explain b { font-weight: 700; }\n"
    ".buttons { display: flex; gap: 8px; }\n"
    "button { font: inherit; font-size: 13px; padding: 4px 12px; border-radius: 7px; cursor: pointer;\n"
    "  border: 1px solid var(--line); background: #fff; color: var(--ink); }\n"
    "button:hover { border-color: var(--accent); color: var(--accent); }\n"
    "button.current { background: var(--ink); color: #fff; border-color: var(--ink); cursor: default; }\n"
    ".log { margin-top: 18px; background: var(--card); border: 1px solid var(--line); border-radius: 12px;\n"
    "  padding: 12px 16px; }\n"
    ".log h2 { font-size: 15px; margin: 0 0 6px; }\n"
    ".log ol { list-style: none; margin: 0; padding: 0; max-height: 260px; overflow: auto; }\n"
    ".log li { display: flex; gap: 10px; padding: 3px 0; border-bottom: 1px solid #f0f1f3; font-size: 13px; }\n"
    ".log li:last-child { border-bottom: 0; }\n"
    ".log time { color: var(--muted); font-variant-numeric: tabular-nums; min-width: 64px; }\n"
    ".log li::before { content: \"●\"; color: var(--accent); }\n"
    ".log li.down::before { color: var(--down); }\n"
    ".log li.up::before { color: var(--up); }\n"
    ".log li.admin::before { color: var(--drain); }\n"
    ".log .empty { color: var(--muted); }\n"
    ".legend { color: var(--muted); font-size: 12px; margin-top: 8px; }\n"
    "footer { color: var(--muted); font-size: 12px; margin-top: 14px; }\n"
    "footer a { color: var(--accent); }\n"
    "code { font-family: ui-monospace, \"DejaVu Sans Mono\", monospace; font-size: 12px; }\n"
    ".toast { position: fixed; right: 16px; bottom: 16px; background: #111827; color: #fff;\n"
    "  padding: 8px 14px; border-radius: 8px; opacity: 0; transition: opacity .2s; }\n"
    ".toast.show { opacity: .92; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<header>\n"
    "  <h1>switchboard <small>sb-lb dashboard</small></h1>\n"
    "  <div class=\"cfg\" id=\"cfg\"></div>\n"
    "  <div class=\"conn wait\" id=\"conn\">connecting</div>\n"
    "</header>\n"
    "<div class=\"wrap\">\n"
    "  <div class=\"totals\">\n"
    "    <div class=\"total\"><b id=\"t-rps\">0</b><span>requests / s now</span></div>\n"
    "    <div class=\"total\"><b id=\"t-requests\">0</b><span>requests in total</span></div>\n"
    "    <div class=\"total\" id=\"tb-5xx\"><b id=\"t-5xx\">0</b><span>5xx answers to clients</span></div>\n"
    "    <div class=\"total\"><b id=\"t-4xx\">0</b><span>4xx answers</span></div>\n"
    "    <div class=\"total\"><b id=\"t-retries\">0</b><span>retried on another backend</span></div>\n"
    "    <div class=\"total\"><b id=\"t-queued\">0</b><span>waiting in the queue</span></div>\n"
    "  </div>\n"
    "  <p class=\"lead\">Each card is one backend behind this balancer. New requests go only to\n"
    "    backends that are <b>up</b> and <b>enabled</b>. Kill one (<code>deploy/cluster kill backend-2</code>)\n"
    "    and watch its card, the totals and the log below.</p>\n"
    "  <main class=\"grid\" id=\"cards\"></main>\n"
    "  <section class=\"log\">\n"
    "    <h2>What just happened</h2>\n"
    "    <ol id=\"events\"><li class=\"empty\">nothing yet</li></ol>\n"
    "    <div class=\"legend\">Health checks, the proxy and the admin buttons write here. Newest first.</div>\n"
    "  </section>\n"
    "  <footer>Updated every <span id=\"every\">500</span> ms over Server-Sent Events from\n"
    "    <code>/events</code> · <a href=\"/stats\">/stats</a> (JSON) · <a href=\"/metrics\">/metrics</a> (Prometheus)</footer>\n"
    "</div>\n"
    "<div class=\"toast\" id=\"toast\"></div>\n"
    "<script>\n"
    "'use strict';\n"
    "const HISTORY = 120;\n"
    "const $ = (id) => document.getElementById(id);\n"
    "const cards = new Map();\n"
    "let cfg = {}, lastEvent = 0, lastSeq = -1, interval = 500;\n"
    "\n"
    "function fmt(n) { return Number(n).toLocaleString('en-US'); }\n"
    "function rate(r) { return r >= 100 ? Math.round(r).toString() : r.toFixed(1); }\n"
    "function el(tag, cls, text) {\n"
    "  const e = document.createElement(tag);\n"
    "  if (cls) e.className = cls;\n"
    "  if (text !== undefined) e.textContent = text;\n"
    "  return e;\n"
    "}\n"
    "function setConn(cls, text) { const c = $('conn'); c.className = 'conn ' + cls; c.textContent = text; }\n"
    "function toast(text) {\n"
    "  const t = $('toast'); t.textContent = text; t.classList.add('show');\n"
    "  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove('show'), 2500);\n"
    "}\n"
    "\n"
    "function explain(b) {\n"
    "  const rise = cfg.rise, every = cfg.health_interval_ms;\n"
    "  if (b.health === 'down')\n"
    "    return ['down', ': the balancer stops sending it traffic; health checks (every ' + every +\n"
    "            ' ms) bring it back after ' + rise + ' good answer' + (rise === 1 ? '' : 's') + ' in a row.'];\n"
    "  if (b.admin === 'drain')\n"
    "    return ['drain', ': finishes the requests it has and keeps its sticky clients, but gets no new ones.' +\n"
    "            ' Safe to stop once active is 0.'];\n"
    "  if (b.admin === 'disabled')\n"
    "    return ['disabled', ': gets no traffic at all until someone enables it again.'];\n"
    "  if (!cfg.health_checks)\n"
    "    return ['up', ' (assumed): health checks are off, so if it dies requests fail until someone notices.'];\n"
    "  return ['up', ': answers its health checks and gets its share of new requests; ' + cfg.fall +\n"
    "          ' failed checks in a row, or a refused connection, take it down.'];\n"
    "}\n"
    "\n"
    "function makeCard(name) {\n"
    "  const c = { rps: [], up: [] };\n"
    "  const card = el('article', 'card');\n"
    "  card.dataset.backend = name;\n"
    "  const top = el('div', 'top');\n"
    "  top.append(el('span', 'name', name));\n"
    "  const badge = el('div', 'badge');\n"
    "  c.state = el('span', 'state', 'up');\n"
    "  c.for = el('span', 'for', '');\n"
    "  badge.append(c.state, c.for);\n"
    "  top.append(badge);\n"
    "  const meta = el('div', 'meta');\n"
    "  meta.append('admin');\n"
    "  c.admin = el('span', 'pill admin', 'enabled');\n"
    "  meta.append(c.admin);\n"
    "  c.traffic = el('span', 'traffic', '');\n"
    "  meta.append(c.traffic);\n"
    "  const spark = el('div', 'spark');\n"
    "  c.canvas = el('canvas');\n"
    "  spark.append(c.canvas);\n"
    "  const axis = el('div', 'axis');\n"
    "  axis.append(el('span', '', '60 s ago'), el('span', '', 'req/s'), el('span', '', 'now'));\n"
    "  const r = el('div', 'rate');\n"
    "  c.rate = el('b', '', '0');\n"
    "  r.append(c.rate, ' req/s');\n"
    "  c.max = el('span', '', '');\n"
    "  r.append(c.max);\n"
    "  const nums = el('dl', 'nums');\n"
    "  for (const [k, label, tip] of [\n"
    "      ['active', 'active now', 'requests it is working on right now'],\n"
    "      ['requests', 'requests', 'requests sent to it since sb-lb started'],\n"
    "      ['failures', 'failures', 'tries that failed here: refused, reset, timed out'],\n"
    "      ['retried', 'retried', 'failed here, then retried on another backend']]) {\n"
    "    const d = el('div'); d.title = tip; d.append(el('dt', '', label));\n"
    "    c[k] = el('dd', k, '0'); d.append(c[k]); nums.append(d);\n"
    "  }\n"
    "  c.explain = el('p', 'explain');\n"
    "  const buttons = el('div', 'buttons');\n"
    "  c.buttons = {};\n"
    "  for (const act of ['enable', 'drain', 'disable']) {\n"
    "    const b = el('button', '', act);\n"
    "    b.dataset.action = act;\n"
    "    b.title = { enable: 'send it new requests', drain: 'no new requests; finish the ones it has',\n"
    "                disable: 'no traffic at all' }[act];\n"
    "    b.addEventListener('click', () => setAdmin(name, act, c));\n"
    "    c.buttons[act] = b;\n"
    "    buttons.append(b);\n"
    "  }\n"
    "  card.append(top, meta, spark, axis, r, nums, c.explain, buttons);\n"
    "  c.card = card;\n"
    "  $('cards').append(card);\n"
    "  return c;\n"
    "}\n"
    "\n"
    "async function setAdmin(name, act, c) {\n"
    "  try {\n"
    "    const res = await fetch('/backends/' + name + '/' + act, { method: 'POST' });\n"
    "    const body = await res.json().catch(() => ({}));\n"
    "    if (!res.ok) throw new Error(body.error || ('HTTP ' + res.status));\n"
    "    c.admin.textContent = body.admin;\n"
    "    toast(name + ': ' + body.admin);\n"
    "  } catch (e) {\n"
    "    toast(name + ': ' + act + ' failed (' + e.message + ')');\n"
    "  }\n"
    "}\n"
    "\n"
    "function draw(c) {\n"
    "  const cv = c.canvas, dpr = window.devicePixelRatio || 1;\n"
    "  const w = cv.clientWidth, h = cv.clientHeight;\n"
    "  if (!w || !h) return;\n"
    "  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {\n"
    "    cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);\n"
    "  }\n"
    "  const g = cv.getContext('2d');\n"
    "  g.setTransform(dpr, 0, 0, dpr, 0, 0);\n"
    "  g.clearRect(0, 0, w, h);\n"
    "  const n = c.rps.length, step = w / (HISTORY - 1), x0 = w - (n - 1) * step;\n"
    "  const max = Math.max(1, ...c.rps);\n"
    "  const y = (v) => h - 2 - (v / max) * (h - 8);\n"
    "  g.fillStyle = '#f3f4f6';                /* where there is data */\n"
    "  g.fillRect(Math.max(0, x0 - step / 2), 0, w, h);\n"
    "  g.strokeStyle = '#e5e7eb'; g.setLineDash([3, 3]);\n"
    "  g.beginPath(); g.moveTo(0, h - 1.5); g.lineTo(Math.max(0, x0 - step / 2), h - 1.5); g.stroke();\n"
    "  g.setLineDash([]);\n"
    "  g.fillStyle = 'rgba(200,30,30,.18)';   /* red where it was down */\n"
    "  for (let i = 0; i < n; i++) {\n"
    "    if (c.up[i] !== false) continue;\n"
    "    let j = i;\n"
    "    while (j + 1 < n && c.up[j + 1] === false) j++;\n"
    "    g.fillRect(x0 + (i - 0.5) * step, 0, (j - i + 1) * step, h);\n"
    "    i = j;\n"
    "  }\n"
    "  g.strokeStyle = '#e5e7eb'; g.lineWidth = 1;\n"
    "  g.beginPath(); g.moveTo(0, y(max) + 0.5); g.lineTo(w, y(max) + 0.5); g.stroke();\n"
    "  if (n > 1) {\n"
    "    g.beginPath();\n"
    "    for (let i = 0; i < n; i++) {\n"
    "      const px = x0 + i * step, py = y(c.rps[i]);\n"
    "      if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);\n"
    "    }\n"
    "    g.strokeStyle = '#2563eb'; g.lineWidth = 1.6; g.lineJoin = 'round'; g.stroke();\n"
    "    g.lineTo(x0 + (n - 1) * step, h); g.lineTo(x0, h); g.closePath();\n"
    "    g.fillStyle = 'rgba(37,99,235,.12)';\n"
    "    g.fill();\n"
    "  }\n"
    "  c.max.textContent = ' · peak ' + rate(Math.max(0, ...c.rps)) + ' in the last 60 s';\n"
    "}\n"
    "\n"
    "/* When the last change of up/down in a history was, as a time, or null\n"
    " * when the history is full and shows none (the change is older). */\n"
    "function changedAt(up) {\n"
    "  let i = up.length - 1;\n"
    "  while (i > 0 && up[i - 1] === up[up.length - 1]) i--;\n"
    "  if (i === 0 && up.length >= HISTORY) return null;\n"
    "  return Date.now() - (up.length - 1 - i) * interval;\n"
    "}\n"
    "function since(t) {\n"
    "  if (t === null) return 'for over a minute';\n"
    "  const s = Math.max(0, Math.round((Date.now() - t) / 1000));\n"
    "  if (s < 60) return 'for ' + s + ' s';\n"
    "  return s < 3600 ? 'for ' + Math.floor(s / 60) + ' min' : 'for ' + Math.floor(s / 3600) + ' h';\n"
    "}\n"
    "\n"
    "function updateCard(c, b) {\n"
    "  if (b.history) { c.rps = b.history.rps.slice(); c.up = b.history.up.slice(); }\n"
    "  else {\n"
    "    c.rps.push(b.rps); c.up.push(b.health === 'up');\n"
    "    if (c.rps.length > HISTORY) { c.rps.shift(); c.up.shift(); }\n"
    "  }\n"
    "  c.card.className = 'card ' + (b.health === 'down' ? 'down' : b.admin !== 'enabled' ? b.admin : 'up');\n"
    "  c.state.textContent = b.health;\n"
    "  c.admin.textContent = b.admin;\n"
    "  c.admin.className = 'pill admin ' + b.admin;\n"
    "  if (b.health !== c.health) { c.health = b.health; c.since = changedAt(c.up); }\n"
    "  const gets = b.health === 'up' && b.admin === 'enabled';\n"
    "  c.traffic.textContent = gets ? '● gets new requests' : '○ no new requests';\n"
    "  c.traffic.className = 'traffic' + (gets ? '' : ' none');\n"
    "  c.for.textContent = since(c.since);\n"
    "  c.rate.textContent = rate(b.rps);\n"
    "  c.active.textContent = fmt(b.active);\n"
    "  c.requests.textContent = fmt(b.requests);\n"
    "  c.failures.textContent = fmt(b.failures);\n"
    "  c.failures.classList.toggle('bad', b.failures > 0);\n"
    "  c.retried.textContent = fmt(b.retried_elsewhere);\n"
    "  const [word, rest] = explain(b);\n"
    "  c.explain.replaceChildren(el('b', '', word), rest);\n"
    "  for (const [act, state] of [['enable', 'enabled'], ['drain', 'drain'], ['disable', 'disabled']])\n"
    "    c.buttons[act].classList.toggle('current', b.admin === state);\n"
    "  draw(c);\n"
    "}\n"
    "\n"
    "function updateEvents(list) {\n"
    "  const last = list.length ? list[list.length - 1].seq : 0;\n"
    "  if (last === lastSeq) return;\n"
    "  lastSeq = last;\n"
    "  const ol = $('events');\n"
    "  ol.replaceChildren();\n"
    "  for (const e of list.slice().reverse()) {\n"
    "    const kind = / down\\b/.test(e.text) ? 'down' : / up\\b/.test(e.text) ? 'up'\n"
    "               : / set to /.test(e.text) ? 'admin' : '';\n"
    "    const li = el('li', kind);\n"
    "    li.append(el('time', '', new Date(e.time).toLocaleTimeString('en-GB')), el('span', '', e.text));\n"
    "    ol.append(li);\n"
    "  }\n"
    "  if (!list.length) ol.append(el('li', 'empty', 'nothing yet'));\n"
    "}\n"
    "\n"
    "function update(s) {\n"
    "  lastEvent = Date.now();\n"
    "  cfg = s.config;\n"
    "  setConn('live', 'live');\n"
    "  interval = s.interval_ms;\n"
    "  $('every').textContent = s.interval_ms;\n"
    "  $('cfg').textContent = 'policy ' + cfg.policy + ' · ' +\n"
    "    (cfg.health_checks ? 'health checks every ' + cfg.health_interval_ms + ' ms (down after ' +\n"
    "      cfg.fall + ' failed, up after ' + cfg.rise + ' good)' : 'no health checks') +\n"
    "    ' · retries ' + cfg.retries;\n"
    "  const t = s.totals;\n"
    "  $('t-rps').textContent = rate(t.rps);\n"
    "  $('t-requests').textContent = fmt(t.requests);\n"
    "  $('t-5xx').textContent = fmt(t.errors_5xx);\n"
    "  $('tb-5xx').classList.toggle('bad', t.errors_5xx > 0);\n"
    "  $('t-4xx').textContent = fmt(t.errors_4xx);\n"
    "  $('t-retries').textContent = fmt(t.retries);\n"
    "  $('t-queued').textContent = fmt(t.queued);\n"
    "  const seen = new Set();\n"
    "  for (const b of s.backends) {\n"
    "    seen.add(b.name);\n"
    "    let c = cards.get(b.name);\n"
    "    if (!c) { c = makeCard(b.name); cards.set(b.name, c); }\n"
    "    updateCard(c, b);\n"
    "  }\n"
    "  for (const [name, c] of cards)\n"
    "    if (!seen.has(name)) { c.card.remove(); cards.delete(name); }\n"
    "  if (!s.backends.length && !$('cards').children.length)\n"
    "    $('cards').append(el('p', 'lead', 'No backends yet: the balancer answers 503 until one appears.'));\n"
    "  updateEvents(s.events);\n"
    "}\n"
    "\n"
    "const es = new EventSource('/events');\n"
    "es.addEventListener('stats', (e) => update(JSON.parse(e.data)));\n"
    "es.onopen = () => setConn('live', 'live');\n"
    "es.onerror = () => setConn('wait', 'reconnecting: is sb-lb running?');\n"
    "setInterval(() => {\n"
    "  if (lastEvent && Date.now() - lastEvent > 3000 && es.readyState !== EventSource.OPEN)\n"
    "    setConn('dead', 'no updates since ' + new Date(lastEvent).toLocaleTimeString('en-GB'));\n"
    "}, 1000);\n"
    "window.addEventListener('resize', () => { for (const c of cards.values()) draw(c); });\n"
    "</script>\n"
    "</body>\n"
    "</html>\n"
    ;

static const char *page_text(size_t *len)
{
    *len = sizeof(dashboard_html) - 1;
    return dashboard_html;
}
