/* The backend's state, wired once by main.c and read by the routes. */
#ifndef SB_APP_H
#define SB_APP_H

#include <stdint.h>

struct event_base;
struct evhttp;
struct feed_db;
struct session_store;
struct pwhash_pool;
struct overload;
struct feed_stream;
struct call;
struct evhttp_request;

struct backend_app {
    struct event_base *base;
    struct evhttp *http;
    struct feed_db *db;
    struct session_store *store;
    struct pwhash_pool *pw;
    struct overload *ov;
    struct feed_stream *streams; /* GET /feed/stream: open streams, pub/sub */
    const char *id;       /* sent as X-Served-By */
    long max_body;        /* bytes of request body we accept (413 beyond) */
    long session_ttl;     /* seconds, for the cookie's Max-Age */
    int draining;         /* SIGTERM seen: /readyz says 503 */
    long inflight;        /* requests not yet fully answered */
    void (*on_idle)(struct backend_app *app); /* called when inflight hits 0 */
    struct call *free_calls; /* recycled per-request objects */
    struct call *live_calls; /* calls in progress, freed at exit if a drain
                                timed out with work still pending */
    long nfree_calls;
    uint64_t requests;    /* answered since start */
};

/* The evhttp callback for every request: routing, admission, sessions. */
void routes_handle(struct evhttp_request *req, void *app);

/* For overload_set_gone_check: 1 if the call's client has hung up. */
int routes_client_gone(void *call);

/* Release the recycled per-request objects and any call still waiting for
 * admission or simulated work (at exit, after the event loop stopped). */
void routes_free_cache(struct backend_app *app);

#endif
