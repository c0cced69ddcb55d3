/* Routing and the life of a call: match, admit, find the session, hand to the
 * endpoint's handler, answer once. The handlers live in routes_*.c. */
#include <ctype.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "http_util.h"
#include "log.h"

#define CALL_CACHE_MAX 256 /* call objects kept for reuse */
#define ROUTE_PATH_MAX 256 /* longer paths match no route */

#define M_GET (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define M_POST EVHTTP_REQ_POST

static const struct route routes[] = {
    {"/healthz", M_GET, "GET, HEAD", SESSION_NONE, 1, route_healthz},
    {"/readyz", M_GET, "GET, HEAD", SESSION_NONE, 1, route_readyz},
    {"/", M_GET, "GET, HEAD", SESSION_NONE, 0, route_page},
    {"/login", M_POST, "POST", SESSION_NONE, 0, route_login},
    {"/logout", M_POST, "POST", SESSION_NONE, 0, route_logout},
    {"/me", M_GET, "GET, HEAD", SESSION_REQUIRED, 0, route_me},
    {"/feed", M_GET, "GET, HEAD", SESSION_REQUIRED, 0, route_feed},
    {"/feed/stream", EVHTTP_REQ_GET, "GET", SESSION_REQUIRED, 0,
     route_feed_stream},
    {"/users/{name}", M_GET, "GET, HEAD", SESSION_NONE, 0, route_user},
    {"/posts", M_POST, "POST", SESSION_REQUIRED, 0, route_create_post},
    {"/posts/{id}", M_GET, "GET, HEAD", SESSION_OPTIONAL, 0, route_post},
    {"/posts/{id}/like", M_POST, "POST", SESSION_REQUIRED, 0, route_like},
};

/* Match one segment of a pattern against one of the path. {name} takes
 * [a-z0-9_]{1,32}; {id} a positive decimal without leading zeros. */
static int match_segment(const char *pat, size_t plen, const char *seg,
                         size_t slen, struct call *c)
{
    if (plen == 6 && memcmp(pat, "{name}", 6) == 0) {
        if (slen == 0 || slen > FEED_USERNAME_MAX) return 0;
        for (size_t i = 0; i < slen; i++)
            if (!islower((unsigned char)seg[i]) &&
                !isdigit((unsigned char)seg[i]) && seg[i] != '_')
                return 0;
        memcpy(c->path_name, seg, slen);
        c->path_name[slen] = '\0';
        return 1;
    }
    if (plen == 4 && memcmp(pat, "{id}", 4) == 0) {
        int64_t v = 0;
        if (slen == 0 || slen > 18 || seg[0] == '0') return 0;
        for (size_t i = 0; i < slen; i++) {
            if (!isdigit((unsigned char)seg[i])) return 0;
            v = v * 10 + (seg[i] - '0');
        }
        c->path_id = v;
        return 1;
    }
    return plen == slen && memcmp(pat, seg, slen) == 0;
}

/* Whole-path match, segment by segment. */
static int match_path(const char *pattern, const char *path, struct call *c)
{
    const char *p = pattern, *s = path;

    for (;;) {
        const char *pe, *se;
        if (*p != '/' || *s != '/') return 0;
        p++, s++;
        pe = strchr(p, '/');
        se = strchr(s, '/');
        if (pe == NULL) pe = p + strlen(p);
        if (se == NULL) se = s + strlen(s);
        if (!match_segment(p, (size_t)(pe - p), s, (size_t)(se - s), c))
            return 0;
        if (*pe == '\0' && *se == '\0') return 1;
        p = pe, s = se;
    }
}

/* A call object from the cache, or a new one. NULL if memory is gone. */
static struct call *call_get(struct backend_app *app)
{
    struct call *c = app->free_calls;

    if (c != NULL) {
        app->free_calls = c->next_free;
        app->nfree_calls--;
    } else {
        c = calloc(1, sizeof(*c));
        if (c == NULL) return NULL;
        c->posts = malloc(sizeof(*c->posts) * FEED_PAGE_MAX);
        if (c->posts == NULL) {
            free(c);
            return NULL;
        }
    }
    struct feed_post *posts = c->posts;
    memset(c, 0, sizeof(*c));
    c->posts = posts;
    c->app = app;
    c->live_next = app->live_calls;
    if (app->live_calls != NULL) app->live_calls->live_prev = c;
    app->live_calls = c;
    return c;
}

static void call_put(struct call *c)
{
    struct backend_app *app = c->app;

    json_decref(c->body);
    c->body = NULL;
    if (c->live_prev != NULL)
        c->live_prev->live_next = c->live_next;
    else
        app->live_calls = c->live_next;
    if (c->live_next != NULL) c->live_next->live_prev = c->live_prev;
    if (app->nfree_calls >= CALL_CACHE_MAX) {
        free(c->posts);
        free(c);
        return;
    }
    c->next_free = app->free_calls;
    app->free_calls = c;
    app->nfree_calls++;
}

void routes_free_cache(struct backend_app *app)
{
    /* Requests still working when a drain timed out: their evhttp requests
     * went with evhttp_free; only the calls themselves are left. */
    while (app->live_calls != NULL) {
        struct call *c = app->live_calls;
        if (c->admitted) overload_release(&c->ticket);
        c->admitted = 0;
        call_put(c);
    }
    while (app->free_calls != NULL) {
        struct call *c = app->free_calls;
        app->free_calls = c->next_free;
        free(c->posts);
        free(c);
    }
    app->nfree_calls = 0;
}

/* The reply is queued: the request is no longer in flight, which is what a
 * graceful stop waits for. (Counting until evhttp reports the write done
 * would be exact, but evhttp never reports it when the client resets the
 * connection first, and the stop would then wait for its timeout.) */
static void request_answered(struct backend_app *app)
{
    if (--app->inflight == 0 && app->draining && app->on_idle != NULL)
        app->on_idle(app);
}

/* Send a reply on a request we counted as in flight: a JSON body, or (when
 * ctype is not NULL) the len bytes at data, referenced without a copy. */
static void send_counted(struct backend_app *app, struct evhttp_request *req,
                         int status, json_t *body, const char *ctype,
                         const char *data, size_t len)
{
    app->requests++;
    if (app->draining)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                          "close");
    if (evhttp_request_get_connection(req) == NULL) {
        /* The client left: evhttp frees req on this send. */
        json_decref(body);
        evhttp_send_reply(req, status, http_reason(status), NULL);
    } else if (ctype == NULL) {
        http_reply_json(req, status, body);
    } else if (data == NULL) { /* body already in the output buffer */
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", ctype);
        evhttp_send_reply(req, status, http_reason(status), NULL);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", ctype);
        evbuffer_add_reference(evhttp_request_get_output_buffer(req), data,
                               len, NULL, NULL);
        evhttp_send_reply(req, status, http_reason(status), NULL);
    }
    request_answered(app);
}

void call_reply(struct call *c, int status, json_t *body)
{
    struct backend_app *app = c->app;
    struct evhttp_request *req = c->req;

    if (c->admitted) overload_release(&c->ticket);
    call_put(c);
    send_counted(app, req, status, body, NULL, NULL, 0);
}

void call_detach(struct call *c)
{
    struct backend_app *app = c->app;

    if (c->admitted) overload_release(&c->ticket);
    call_put(c);
    app->requests++;
    request_answered(app);
}

void call_reply_written(struct call *c, int status)
{
    struct backend_app *app = c->app;
    struct evhttp_request *req = c->req;

    if (c->admitted) overload_release(&c->ticket);
    call_put(c);
    send_counted(app, req, status, NULL, "application/json", NULL, 0);
}

void call_reply_static(struct call *c, int status, const char *content_type,
                       const char *data, size_t len)
{
    struct backend_app *app = c->app;
    struct evhttp_request *req = c->req;

    if (c->admitted) overload_release(&c->ticket);
    call_put(c);
    send_counted(app, req, status, NULL, content_type, data, len);
}

void call_error(struct call *c, int status, const char *msg)
{
    if (status == 503 || status == 429)
        evhttp_add_header(evhttp_request_get_output_headers(c->req),
                          "Retry-After", "1");
    call_reply(c, status, json_pack("{s:s}", "error", msg));
}

int call_read_json(struct call *c)
{
    enum json_body_error why;

    c->body = json_from_evbuffer(evhttp_request_get_input_buffer(c->req),
                                 (size_t)c->app->max_body, &why);
    if (c->body != NULL) return 0;
    if (why == JSON_BODY_TOO_LARGE)
        call_error(c, 413, "request body too large");
    else
        call_error(c, 400, "body must be a JSON object");
    return -1;
}

/* The session lookup answered: go on to the handler, or say why not. */
static void call_session_found(enum store_status st, const char *sid,
                               int64_t user_id, void *arg)
{
    struct call *c = arg;

    (void)sid;
    if (st == STORE_OK) {
        c->user_id = user_id;
    } else if (c->route->session == SESSION_REQUIRED) {
        if (st == STORE_DOWN)
            call_error(c, 503, "session store unavailable");
        else
            call_error(c, 401, "not logged in");
        return;
    }
    c->route->handler(c);
}

/* Admitted and done with the simulated work: resolve the session, if the
 * route cares, then run the handler. */
static void call_run(void *arg)
{
    struct call *c = arg;
    struct session_store *store = c->app->store;
    const char *cookie;

    if (overload_abandoned(&c->ticket)) {
        /* The client hung up while queued; this frees the request. */
        call_error(c, 503, "client left while queued");
        return;
    }

    if (c->route->session == SESSION_NONE) {
        c->route->handler(c);
        return;
    }
    cookie = evhttp_find_header(evhttp_request_get_input_headers(c->req),
                                "Cookie");
    if (cookie == NULL || !http_cookie_get(cookie, "sid", c->sid,
                                           sizeof(c->sid)) ||
        strlen(c->sid) != SESSION_ID_LEN) {
        if (c->route->session == SESSION_REQUIRED) {
            call_error(c, 401, "not logged in");
            return;
        }
        c->route->handler(c);
        return;
    }
    store->ops->session_get(store, c->sid, call_session_found, c);
}

/* Answer a request that never became a call (404, 405, 503 when full). */
static void reply_plain(struct backend_app *app, struct evhttp_request *req,
                        int status, const char *msg)
{
    if (status == 503)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Retry-After", "1");
    send_counted(app, req, status, json_pack("{s:s}", "error", msg), NULL,
                 NULL, 0);
}

int routes_client_gone(void *arg)
{
    struct call *c = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    struct bufferevent *bev;
    char byte;
    ssize_t n;

    if (evcon == NULL) return 1; /* evhttp already saw it go */
    bev = evhttp_connection_get_bufferevent(evcon);
    if (bev == NULL) return 0;
    /* evhttp stops reading while a request is handled, so it cannot see an
     * EOF: peek for it. Only queued requests pay this system call. */
    n = recv(bufferevent_getfd(bev), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

void routes_handle(struct evhttp_request *req, void *arg)
{
    struct backend_app *app = arg;
    const char *uri = evhttp_request_get_uri(req);
    char path[ROUTE_PATH_MAX];
    unsigned method = (unsigned)evhttp_request_get_command(req);
    const struct route *found = NULL;
    struct call *c;

    app->inflight++;
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Served-By",
                      app->id);
    /* The raw target, not evhttp's parsed URI: that reads "//x" as a host
     * name and an empty path, which would route it to "/". */
    size_t plen = uri ? strcspn(uri, "?#") : 0;
    if (plen >= sizeof(path)) plen = 0; /* too long to be one of ours: 404 */
    memcpy(path, uri ? uri : "", plen);
    path[plen] = '\0';
    c = call_get(app);
    if (c == NULL) {
        reply_plain(app, req, 503, "out of memory");
        return;
    }
    c->req = req;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!match_path(routes[i].path, path, c)) continue;
        found = &routes[i];
        if (routes[i].methods & method) break;
    }
    if (found == NULL || !(found->methods & method)) {
        call_put(c);
        if (found == NULL) {
            reply_plain(app, req, 404, "no such endpoint");
        } else {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                              found->allow);
            reply_plain(app, req, 405, "method not allowed");
        }
        return;
    }
    c->route = found;
    if (found->bypass_queue) {
        found->handler(c);
        return;
    }
    switch (overload_admit(app->ov, &c->ticket, call_run, c)) {
    case OVERLOAD_REJECTED:
        call_error(c, 503, "server busy, queue full");
        return;
    case OVERLOAD_GO:
        c->admitted = 1;
        call_run(c);
        return;
    case OVERLOAD_WAIT:
        c->admitted = 1;
        return;
    }
}
