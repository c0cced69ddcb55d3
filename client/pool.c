/* Client connections as a small state machine on bufferevents: open (or
 * reuse) a connection, write one request, read the head, read the body,
 * then go idle or close. conn_set_state is the only place a slot moves
 * between the free and idle lists. */
#include "pool.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "http_resp.h"
#include "log.h"

#define POOL_HOST_MAX 256
#define POOL_RESOLVE_EVERY_US 1000000 /* retry a name that failed, 1/s */
#define POOL_PEEK_MAX 8               /* buffer chains looked at per step */

enum conn_state {
    CONN_FREE,       /* no socket; on the free list */
    CONN_IDLE,       /* connected, no request; on the idle list */
    CONN_CONNECTING, /* connect() in progress, request waiting in output */
    CONN_WAIT_HEAD,  /* request written (or being written), head not yet read */
    CONN_BODY,       /* head read, body being read */
    CONN_FAILING     /* failed before the request went out; the timer reports */
};

struct conn {
    struct pool *pool;
    enum conn_state state;
    struct bufferevent *bev;
    struct event *timer;  /* request deadline; fires at once for FAILING */
    struct pool_req req;
    int reused;           /* this connection answered a request before */
    int retried;          /* this request was re-sent once already */
    int got_bytes;        /* some of this request's answer has arrived */
    enum pool_error fail; /* what a FAILING slot will report */
    struct hresp_head head;
    struct hresp_body body;
    TAILQ_ENTRY(conn) link; /* free or idle list */
};

TAILQ_HEAD(conn_list, conn);

struct pool {
    struct event_base *base;
    char host[POOL_HOST_MAX];
    char port_text[8];
    char hostport[POOL_HOST_MAX + 8];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int resolved;
    int resolve_warned;    /* said so once; quiet until it works */
    int64_t resolve_at_us; /* earliest next attempt after a failure */
    const struct timeval *timeout; /* a libevent common timeout */
    pool_result_cb cb;
    void *cbarg;
    int nconns, in_flight, open;
    struct conn *conns;
    struct conn_list free_list, idle_list; /* both LIFO */
};

const char *pool_error_name(enum pool_error e)
{
    static const char *names[] = {"ok",          "refused",  "reset",
                                  "timeout",     "unreachable",
                                  "bad-response", "local"};

    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

/* What a failed connect() means to a person. */
static enum pool_error connect_error(int e)
{
    switch (e) {
    case ECONNREFUSED: return POOL_ERR_REFUSED;
    case ETIMEDOUT: return POOL_ERR_TIMEOUT;
    case ECONNRESET: return POOL_ERR_RESET;
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM: case EADDRNOTAVAIL:
        return POOL_ERR_LOCAL;
    default: return POOL_ERR_UNREACHABLE;
    }
}

/* What a failed read or write on a connected socket means. */
static enum pool_error io_error(int e)
{
    switch (e) {
    case ECONNREFUSED: return POOL_ERR_REFUSED;
    case ETIMEDOUT: return POOL_ERR_TIMEOUT;
    default: return POOL_ERR_RESET;
    }
}

/* Move c to state s, keeping the free and idle lists right. */
static void conn_set_state(struct conn *c, enum conn_state s)
{
    struct pool *p = c->pool;

    if (c->state == s) return;
    if (c->state == CONN_FREE) TAILQ_REMOVE(&p->free_list, c, link);
    if (c->state == CONN_IDLE) TAILQ_REMOVE(&p->idle_list, c, link);
    if (s == CONN_FREE) TAILQ_INSERT_HEAD(&p->free_list, c, link);
    if (s == CONN_IDLE) TAILQ_INSERT_HEAD(&p->idle_list, c, link);
    c->state = s;
}

/* Drop the socket (if any) and return the slot to the free list. Safe
 * inside the connection's own callbacks (libevent defers the free). */
static void conn_close(struct conn *c)
{
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        c->pool->open--;
    }
    evtimer_del(c->timer);
    conn_set_state(c, CONN_FREE);
}

/* Report the end of c's request and let the slot go (idle when keep is
 * set, else closed). The callback may send at once, even on this slot:
 * nothing of c is touched after it. */
static void conn_report(struct conn *c, enum pool_error err, int keep)
{
    struct pool *p = c->pool;
    char served_by[HRESP_SERVED_BY_MAX], cookies[HRESP_COOKIES_MAX];
    struct pool_result res;

    res.req = c->req;
    res.error = err;
    res.status = err == POOL_OK ? c->head.status : 0;
    served_by[0] = cookies[0] = '\0';
    if (err == POOL_OK) {
        memcpy(served_by, c->head.served_by, sizeof(served_by));
        memcpy(cookies, c->head.cookies, strlen(c->head.cookies) + 1);
    }
    res.served_by = served_by;
    res.set_cookies = cookies;
    res.done_us = clock_mono_us();
    if (keep) {
        evtimer_del(c->timer);
        conn_set_state(c, CONN_IDLE);
    } else {
        conn_close(c);
    }
    p->in_flight--;
    p->cb(&res, p->cbarg);
}

/* Fail before any socket work happened: reported from the timer, so that
 * pool_send never calls back. */
static void conn_defer_failure(struct conn *c, enum pool_error err)
{
    static const struct timeval now = {0, 0};

    c->fail = err;
    conn_set_state(c, CONN_FAILING);
    evtimer_add(c->timer, &now);
}

/* Resolve the pool's host, preferring IPv4 (what our daemons listen on).
 * Returns 0, or -1 with a reason logged. */
static int pool_resolve(struct pool *p)
{
    struct addrinfo hints, *res = NULL, *pick = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(p->host, p->port_text, &hints, &res);
    if (rc != 0) {
        if (!p->resolve_warned)
            log_warn("cannot resolve %s: %s (trying again every second)",
                     p->host, gai_strerror(rc));
        p->resolve_warned = 1;
        return -1;
    }
    p->resolve_warned = 0;
    for (struct addrinfo *ai = res; ai != NULL && pick == NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) pick = ai;
    if (pick == NULL) pick = res;
    memcpy(&p->addr, pick->ai_addr, pick->ai_addrlen);
    p->addrlen = pick->ai_addrlen;
    p->resolved = 1;
    freeaddrinfo(res);
    return 0;
}

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* Open a socket for c's request: CONNECTING (or WAIT_HEAD when connect
 * finished at once), or FAILING with the reason. */
static void conn_open(struct conn *c)
{
    struct pool *p = c->pool;
    int fd, one = 1, pending = 0;

    c->reused = 0;
    if (!p->resolved) {
        int64_t now = clock_mono_us();
        if (now < p->resolve_at_us || pool_resolve(p) != 0) {
            if (now >= p->resolve_at_us)
                p->resolve_at_us = now + POOL_RESOLVE_EVERY_US;
            conn_defer_failure(c, POOL_ERR_UNREACHABLE);
            return;
        }
    }
    fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        conn_defer_failure(c, POOL_ERR_LOCAL);
        return;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&p->addr, p->addrlen) == -1) {
        if (errno != EINPROGRESS) {
            enum pool_error err = connect_error(errno);
            close(fd);
            conn_defer_failure(c, err);
            return;
        }
        pending = 1;
    }
    c->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        conn_defer_failure(c, POOL_ERR_LOCAL);
        return;
    }
    p->open++;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    /* With the socket set and no address, libevent just waits for the
     * connect we started to finish, and says so with BEV_EVENT_CONNECTED. */
    if (pending && bufferevent_socket_connect(c->bev, NULL, 0) != 0) {
        conn_close(c);
        conn_defer_failure(c, POOL_ERR_LOCAL);
        return;
    }
    conn_set_state(c, pending ? CONN_CONNECTING : CONN_WAIT_HEAD);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Put c's request into its output buffer (sent once connected). */
static void conn_write_request(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    const struct pool_req *r = &c->req;
    int post = r->method == POOL_POST;
    size_t blen = post && r->body != NULL ? strlen(r->body) : 0;

    c->got_bytes = 0;
    evbuffer_add_printf(out,
                        "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sb-client\r\n"
                        "Accept: application/json\r\n",
                        post ? "POST" : "GET", r->path, c->pool->hostport);
    if (r->cookie != NULL && r->cookie[0] != '\0')
        evbuffer_add_printf(out, "Cookie: %s\r\n", r->cookie);
    if (post) {
        evbuffer_add_printf(out, "Content-Type: application/json\r\n"
                                 "Content-Length: %zu\r\n\r\n", blen);
        evbuffer_add(out, r->body, blen);
    } else {
        evbuffer_add(out, "\r\n", 2);
    }
}

/* The connection died before any byte of the answer to a request sent on
 * a reused connection: the server most likely closed it while idle, which
 * is no failure of the request. Send it once more on a new connection,
 * within the same deadline. */
static void conn_retry(struct conn *c)
{
    bufferevent_free(c->bev);
    c->bev = NULL;
    c->pool->open--;
    c->retried = 1;
    conn_open(c);
    if (c->state != CONN_FAILING) conn_write_request(c);
}

/* Parse the head once it is all in. Returns 1 parsed, 0 need more bytes,
 * -1 failed (already reported: c must not be touched). */
static int conn_read_head(struct conn *c, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    unsigned char *head;
    size_t len;

    if (end.pos < 0) {
        if (evbuffer_get_length(in) <= HRESP_HEAD_MAX) return 0;
        conn_report(c, POOL_ERR_PROTOCOL, 0);
        return -1;
    }
    len = (size_t)end.pos + 4;
    head = len <= HRESP_HEAD_MAX ? evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
    if (head == NULL ||
        hresp_head_parse((const char *)head, len, 0, &c->head) != 0) {
        conn_report(c, POOL_ERR_PROTOCOL, 0);
        return -1;
    }
    evbuffer_drain(in, len);
    return 1;
}

/* Feed what is buffered to the body reader; drains what it used. */
static enum hresp_result conn_read_body(struct conn *c, struct evbuffer *in)
{
    enum hresp_result r = HRESP_MORE;

    while (r == HRESP_MORE && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec vec[POOL_PEEK_MAX];
        int n = evbuffer_peek(in, -1, NULL, vec, POOL_PEEK_MAX);
        size_t total = 0;

        if (n > POOL_PEEK_MAX) n = POOL_PEEK_MAX;
        for (int i = 0; i < n && r == HRESP_MORE; i++) {
            size_t used;
            r = hresp_body_feed(&c->body, vec[i].iov_base, vec[i].iov_len, &used);
            total += used;
        }
        evbuffer_drain(in, total);
    }
    return r;
}

/* Bytes arrived: read heads (skipping 1xx) and the body; report when the
 * response is whole. */
static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    enum hresp_result r;

    if (c->state == CONN_IDLE) { /* unasked-for bytes: stop trusting it */
        conn_close(c);
        return;
    }
    if (c->state == CONN_CONNECTING) conn_set_state(c, CONN_WAIT_HEAD);
    c->got_bytes = 1;
    while (c->state == CONN_WAIT_HEAD) {
        int h = conn_read_head(c, in);
        if (h <= 0) return;
        if (c->head.status == 101) {
            conn_report(c, POOL_ERR_PROTOCOL, 0);
            return;
        }
        if (c->head.status >= 200) {
            hresp_body_init(&c->body, &c->head);
            conn_set_state(c, CONN_BODY);
        }
    }
    if (c->state != CONN_BODY) return;
    r = conn_read_body(c, in);
    if (r == HRESP_ERROR) {
        conn_report(c, POOL_ERR_PROTOCOL, 0);
    } else if (r == HRESP_DONE) {
        conn_report(c, POOL_OK,
                    c->head.keep_alive && evbuffer_get_length(in) == 0);
    }
}

/* Connected, closed, or failed. */
static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    int e = EVUTIL_SOCKET_ERROR();
    int eof = (what & BEV_EVENT_EOF) != 0;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == CONN_CONNECTING) conn_set_state(c, CONN_WAIT_HEAD);
        return;
    }
    switch (c->state) {
    case CONN_IDLE: /* the server closed a spare connection */
        conn_close(c);
        return;
    case CONN_CONNECTING:
        conn_report(c, eof ? POOL_ERR_RESET : connect_error(e), 0);
        return;
    case CONN_BODY:
        if (eof && hresp_body_eof(&c->body) == HRESP_DONE) {
            conn_report(c, POOL_OK, 0);
            return;
        }
        /* fall through */
    case CONN_WAIT_HEAD:
        if (c->reused && !c->got_bytes && !c->retried) {
            conn_retry(c);
            return;
        }
        conn_report(c, eof ? POOL_ERR_RESET : io_error(e), 0);
        return;
    case CONN_FREE:
    case CONN_FAILING:
        return;
    }
}

/* The deadline passed, or a deferred failure is due. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == CONN_FAILING)
        conn_report(c, c->fail, 0);
    else if (c->state == CONN_CONNECTING || c->state == CONN_WAIT_HEAD ||
             c->state == CONN_BODY)
        conn_report(c, POOL_ERR_TIMEOUT, 0);
}

struct pool *pool_new(struct event_base *base, const char *host, int port,
                      const char *hostport, int max_conns, long timeout_ms,
                      pool_result_cb cb, void *arg, char *err, size_t errlen)
{
    struct pool *p;
    struct timeval tv;

    if (max_conns < 1 || max_conns > POOL_CONNS_MAX || timeout_ms < 1 ||
        strlen(host) >= POOL_HOST_MAX || strlen(hostport) >= POOL_HOST_MAX) {
        snprintf(err, errlen, "bad pool arguments");
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) goto nomem;
    p->base = base;
    snprintf(p->host, sizeof(p->host), "%s", host);
    snprintf(p->port_text, sizeof(p->port_text), "%d", port);
    snprintf(p->hostport, sizeof(p->hostport), "%s", hostport);
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    p->timeout = event_base_init_common_timeout(base, &tv);
    p->cb = cb;
    p->cbarg = arg;
    TAILQ_INIT(&p->free_list);
    TAILQ_INIT(&p->idle_list);
    p->conns = calloc((size_t)max_conns, sizeof(*p->conns));
    if (p->conns == NULL || p->timeout == NULL) goto nomem;
    p->nconns = max_conns;
    for (int i = 0; i < max_conns; i++) {
        struct conn *c = &p->conns[i];
        c->pool = p;
        c->state = CONN_FREE;
        c->timer = evtimer_new(base, conn_timer_cb, c);
        if (c->timer == NULL) goto nomem;
        TAILQ_INSERT_TAIL(&p->free_list, c, link);
    }
    if (pool_resolve(p) != 0)
        p->resolve_at_us = clock_mono_us() + POOL_RESOLVE_EVERY_US;
    return p;
nomem:
    snprintf(err, errlen, "out of memory for %d connections", max_conns);
    pool_free(p);
    return NULL;
}

int pool_send(struct pool *p, const struct pool_req *req)
{
    struct conn *c = TAILQ_FIRST(&p->idle_list);
    int fresh = c == NULL;

    if (fresh) c = TAILQ_FIRST(&p->free_list);
    if (c == NULL) return -1;
    c->req = *req;
    c->retried = 0;
    p->in_flight++;
    if (fresh) {
        conn_open(c);
        if (c->state == CONN_FAILING) return 0;
    } else {
        c->reused = 1;
        conn_set_state(c, CONN_WAIT_HEAD);
    }
    conn_write_request(c);
    evtimer_add(c->timer, p->timeout);
    return 0;
}

int pool_in_flight(const struct pool *p)
{
    return p->in_flight;
}

int pool_open_conns(const struct pool *p)
{
    return p->open;
}

void pool_free(struct pool *p)
{
    if (p == NULL) return;
    for (int i = 0; p->conns != NULL && i < p->nconns; i++) {
        if (p->conns[i].bev != NULL) bufferevent_free(p->conns[i].bev);
        if (p->conns[i].timer != NULL) event_free(p->conns[i].timer);
    }
    free(p->conns);
    free(p);
}
