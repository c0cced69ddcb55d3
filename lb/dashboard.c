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
    const char *page = dashboard_html_text(&len);

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
