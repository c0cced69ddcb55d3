/* The live dashboard on the admin port: GET / is one HTML page with
 * everything inline (it works offline), GET /events is a Server-Sent Events
 * stream that page listens to. Every DASHBOARD_TICK_MS a timer on the main
 * thread's loop takes a snapshot of the counters (totals, each backend's
 * health, admin state, active requests, requests per second, failures) and
 * sends it to every open stream as "event: stats". The snapshot also
 * carries the last few state changes ("backend 127.0.0.1:9002 down (...)"),
 * written by dashboard_note.
 *
 * Everything but dashboard_note runs on the main thread. */
#ifndef SB_LB_DASHBOARD_H
#define SB_LB_DASHBOARD_H

#include <stddef.h>

struct event_base;
struct evhttp_request;

#define DASHBOARD_TICK_MS 500        /* one snapshot to every stream */
#define DASHBOARD_STREAMS_MAX 64     /* open /events streams; 503 beyond */
#define DASHBOARD_BACKLOG_MAX 262144 /* bytes a stream may have unsent
                                        before it is dropped (a reader that
                                        stopped reading must not grow us) */
#define DASHBOARD_STREAM_SNDBUF 65536 /* socket send buffer of a stream: the
                                        kernel holds little (Linux doubles
                                        it), so a stopped reader reaches
                                        the backlog bound in seconds */
#define DASHBOARD_HISTORY 120        /* snapshots kept per backend for the
                                        sparkline: 60 s at 500 ms */
#define DASHBOARD_NOTES_MAX 20       /* recent state changes kept */
#define DASHBOARD_NOTE_LEN 160

/* Start the snapshot timer on base (the admin server's loop). Returns 0,
 * or -1 if the timer cannot be made. */
int dashboard_start(struct event_base *base);

/* End every open stream cleanly (the last chunk is written before this
 * returns, where the socket takes it) and stop the timer. Call it before
 * the evhttp that owns the streams is freed. */
void dashboard_stop(void);

/* GET /: the page (text/html). */
void dashboard_page(struct evhttp_request *req);

/* GET /events: keep req open as an event stream. Answers 503 when
 * DASHBOARD_STREAMS_MAX streams are open already. The first event comes at
 * once and carries each backend's history, so a fresh page has its
 * sparklines filled; then one event every tick. */
void dashboard_events(struct evhttp_request *req);

/* Record one state change for the event log, as a printf format:
 * "backend %s down (passive: %s)", "backend %s up (%d good checks)".
 * Thread-safe (a mutex; meant for rare events, not per request); may be
 * called before dashboard_start. Health changes should start with
 * "backend NAME up" or "backend NAME down": the timer notes changes of
 * health that nobody explained within a tick as "down (seen by the
 * proxy)" or "up", and skips those already explained this way. */
void dashboard_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The dashboard's HTML (dashboard_page.c); *len gets its length. */
const char *dashboard_html_text(size_t *len);

#endif
