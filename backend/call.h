/* One request's journey through the backend, shared by the route files.
 *
 * A call is made when a request is routed, waits for admission (overload.h),
 * for its session (session_store.h) and for whatever the handler awaits, and
 * ends with exactly one call_reply. Call objects are recycled, so the hot
 * path allocates none once warm. */
#ifndef SB_CALL_H
#define SB_CALL_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "feed_db.h"
#include "overload.h"
#include "session_store.h"

enum session_need {
    SESSION_NONE,     /* public, or reads the cookie itself (logout) */
    SESSION_OPTIONAL, /* used when present and the store answers */
    SESSION_REQUIRED  /* 401 without one, 503 when the store is down */
};

struct call;
typedef void (*route_fn)(struct call *c);

struct route {
    const char *path;    /* "/feed"; "{name}" and "{id}" match one segment */
    unsigned methods;    /* evhttp method bits allowed */
    const char *allow;   /* the Allow header for 405 */
    enum session_need session;
    int bypass_queue;    /* health endpoints never wait behind work */
    route_fn handler;
};

struct call {
    struct backend_app *app;
    struct evhttp_request *req;
    const struct route *route;
    struct overload_ticket ticket;
    int admitted;
    int64_t user_id;                     /* 0 when nobody is logged in */
    char sid[SESSION_ID_LEN + 1];
    int64_t path_id;                     /* {id} */
    char path_name[FEED_USERNAME_MAX + 1]; /* {name} */
    json_t *body;                        /* parsed JSON body, if any; while
                                            idem_finish runs, the reply
                                            (freed with the call if it is
                                            abandoned) */
    const char *idem_key;                /* Idempotency-Key, in req's
                                            headers; NULL when not sent */
    int idem_status;                     /* the reply's status, meanwhile */
    struct feed_user user;
    struct feed_post post;
    struct feed_post *posts;             /* FEED_PAGE_MAX, kept across reuse */
    int nposts;
    int limit;                           /* page size asked for */
    int64_t ids[FEED_PAGE_MAX];
    struct call *next_free;
    struct call *live_prev, *live_next; /* app->live_calls, while in use */
};

/* Send body (taken) with status, free the admission slot and recycle c.
 * c must not be used afterwards. */
void call_reply(struct call *c, int status, json_t *body);

/* Like call_reply, for a JSON body the caller already wrote into the
 * request's output buffer. */
void call_reply_written(struct call *c, int status);

/* Like call_reply, with a static body of another type (the HTML page).
 * data must outlive the send: it is referenced, not copied. */
void call_reply_static(struct call *c, int status, const char *content_type,
                       const char *data, size_t len);

/* The request goes on without the call (a stream answered by other code):
 * free its admission slot, count it as answered and recycle c. */
void call_detach(struct call *c);

/* call_reply with {"error": msg}; 503 and 429 carry Retry-After. */
void call_error(struct call *c, int status, const char *msg);

/* Parse the request body as a JSON object into c->body. On failure it has
 * already answered (400 or 413) and returns -1. */
int call_read_json(struct call *c);

/* JSON for one post; likes < 0 writes null (store down). New reference. */
json_t *post_json(const struct feed_post *p, int64_t likes, int liked_by_me);

/* The same post JSON written straight into out (the feed page, streams). */
struct evbuffer;
void post_json_out(struct evbuffer *out, const struct feed_post *p,
                   int64_t likes, int liked_by_me);

/* JSON for one user. New reference. */
json_t *user_json(const struct feed_user *u);

/* Handlers, one per endpoint (routes_auth.c, routes_feed.c, routes_misc.c). */
void route_login(struct call *c);
void route_logout(struct call *c);
void route_me(struct call *c);
void route_feed(struct call *c);
void route_feed_stream(struct call *c);
void route_user(struct call *c);
void route_post(struct call *c);
void route_create_post(struct call *c);
void route_like(struct call *c);
void route_healthz(struct call *c);
void route_readyz(struct call *c);
void route_page(struct call *c);

#endif
