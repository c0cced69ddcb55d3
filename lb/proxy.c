/* The proxy state machine, client side: the connection, reading requests,
 * the end of an exchange. The backend side is in proxy_backend.c. */
#include "proxy.h"

#include <errno.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "proxy_int.h"
#include "clock.h"
#include "dashboard.h"
#include "health.h"
#include "log.h"
#include "upstream.h"
#include "worker.h"

#define CLIENT_CACHE_MAX 1024 /* connection objects kept for reuse */

/* ---- timers ------------------------------------------------------------ */

void timer_set(struct client *c, enum client_timer kind, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    c->timer_kind = kind;
    evtimer_add(&c->timer, &tv);
}

void timer_clear(struct client *c)
{
    if (c->timer_kind != TIMER_NONE) {
        evtimer_del(&c->timer);
        c->timer_kind = TIMER_NONE;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    enum client_timer kind = c->timer_kind;

    (void)fd;
    (void)what;
    c->timer_kind = TIMER_NONE;
    switch (kind) {
    case TIMER_CLIENT:
        /* Slow or idle client: answer 408 if it started a request,
         * otherwise just close the idle keep-alive connection. */
        if (evbuffer_get_length(c->io.in) > 0 || c->req != REQ_HEAD) {
            head_error(c, 408, "request not received in time", 1);
            head_log(c);
            c->closing = 1;
            if (sockio_flush(&c->io) != SOCKIO_AGAIN) client_close(c);
        } else {
            client_close(c);
        }
        return;
    case TIMER_QUEUE:
        TAILQ_REMOVE(&c->w->queue, c, queue_link);
        c->w->nqueued--;
        atomic_fetch_sub(&lb.queued, 1);
        c->req = REQ_DONE;
        head_error(c, 503, "all backends busy, queue timeout", 0);
        exchange_finish(c);
        return;
    case TIMER_CONNECT:
        attempt_failed(c, FAIL_CONNECT);
        return;
    case TIMER_SERVER:
        attempt_failed(c, c->resp_started ? FAIL_AFTER_RESPONSE
                                          : FAIL_SERVER_TIMEOUT);
        return;
    case TIMER_NONE:
        return;
    }
}

/* ---- connection lifetime ----------------------------------------------- */

/* The buffers an exchange needs (the head as sent, a held body) come from a
 * per-worker pool while a request is in progress: most connections sit
 * idle between requests, and need not carry them. Returns -1 if memory is
 * gone. */
static int xbufs_get(struct worker *w, struct client *c)
{
    struct xbufs *x = w->free_xbufs;

    if (c->x != NULL) return 0;
    if (x != NULL) {
        w->free_xbufs = x->next;
        w->nfree_xbufs--;
    } else if ((x = calloc(1, sizeof(*x))) == NULL ||
               (x->head = evbuffer_new()) == NULL ||
               (x->body = evbuffer_new()) == NULL) {
        if (x && x->head) evbuffer_free(x->head);
        free(x);
        return -1;
    }
    c->x = x;
    return 0;
}

static void xbufs_put(struct worker *w, struct client *c)
{
    struct xbufs *x = c->x;

    if (x == NULL) return;
    c->x = NULL;
    evbuffer_drain(x->head, evbuffer_get_length(x->head));
    evbuffer_drain(x->body, evbuffer_get_length(x->body));
    if (w->nfree_xbufs >= CLIENT_CACHE_MAX) {
        evbuffer_free(x->head);
        evbuffer_free(x->body);
        free(x);
        return;
    }
    x->next = w->free_xbufs;
    w->free_xbufs = x;
    w->nfree_xbufs++;
}

static void client_on_read(evutil_socket_t fd, short what, void *arg);
static void client_on_write(evutil_socket_t fd, short what, void *arg);

void proxy_accept(struct worker *w, evutil_socket_t fd,
                  const struct sockaddr *peer, socklen_t peerlen)
{
    struct client *c = w->free_clients;
    int one = 1;

    (void)peerlen;
    if (c != NULL) {
        w->free_clients = c->next_free;
        w->nfree_clients--;
    } else if ((c = calloc(1, sizeof(*c))) == NULL) {
        evutil_closesocket(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sockio_init(&c->io, w->base, fd, client_on_read, client_on_write, c)) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->w = w;
    evtimer_assign(&c->timer, w->base, on_timer, c);
    c->timer_kind = TIMER_NONE;
    if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)peer;
        inet_ntop(AF_INET6, &a->sin6_addr, c->peer_ip, sizeof(c->peer_ip));
        c->peer_hash = balancer_hash(&a->sin6_addr, sizeof(a->sin6_addr));
    } else {
        const struct sockaddr_in *a = (const void *)peer;
        inet_ntop(AF_INET, &a->sin_addr, c->peer_ip, sizeof(c->peer_ip));
        c->peer_hash = balancer_hash(&a->sin_addr, sizeof(a->sin_addr));
    }
    c->req = REQ_HEAD;
    c->resp = RESP_NONE;
    TAILQ_INSERT_TAIL(&w->clients, c, all_link);
    w->nclients++;
    timer_set(c, TIMER_CLIENT, lb.cfg.timeout_client);
}

/* Give back the backend slot and connection of the current attempt. */
void attempt_end(struct client *c, int reusable)
{
    if (c->up != NULL) {
        upstream_release(c->up, reusable);
        c->up = NULL;
    }
    if (c->resp != RESP_NONE && c->be != NULL) {
        atomic_fetch_sub(&c->be->active, 1);
        if (c->w->nqueued > 0) worker_wake_queue(c->w); /* a slot freed */
    }
    c->resp = RESP_NONE;
}

void client_close(struct client *c)
{
    struct worker *w = c->w;

    timer_clear(c);
    if (c->req == REQ_QUEUED) {
        TAILQ_REMOVE(&w->queue, c, queue_link);
        w->nqueued--;
        atomic_fetch_sub(&lb.queued, 1);
    }
    attempt_end(c, 0);
    sockio_close(&c->io);
    TAILQ_REMOVE(&w->clients, c, all_link);
    w->nclients--;
    xbufs_put(w, c);
    if (w->nfree_clients >= CLIENT_CACHE_MAX) {
        free(c);
        return;
    }
    memset(c, 0, sizeof(*c));
    c->next_free = w->free_clients;
    w->free_clients = c;
    w->nfree_clients++;
}

void proxy_free_cache(struct worker *w)
{
    while (!TAILQ_EMPTY(&w->clients)) client_close(TAILQ_FIRST(&w->clients));
    while (w->free_clients != NULL) {
        struct client *c = w->free_clients;
        w->free_clients = c->next_free;
        free(c);
    }
    while (w->free_xbufs != NULL) {
        struct xbufs *x = w->free_xbufs;
        w->free_xbufs = x->next;
        evbuffer_free(x->head);
        evbuffer_free(x->body);
        free(x);
    }
}

void proxy_close_idle(struct worker *w)
{
    struct client *c, *next;

    for (c = TAILQ_FIRST(&w->clients); c != NULL; c = next) {
        next = TAILQ_NEXT(c, all_link);
        if (c->req == REQ_HEAD && c->resp == RESP_NONE &&
            evbuffer_get_length(c->io.in) == 0 &&
            evbuffer_get_length(c->io.out) == 0)
            client_close(c);
    }
}

/* Write what is queued for the client; close when that was the last of it.
 * Returns -1 if c is gone. */
int client_flush(struct client *c)
{
    enum sockio_result r = sockio_flush(&c->io);

    if (r == SOCKIO_ERROR || (r == SOCKIO_OK && c->closing)) {
        client_close(c);
        return -1;
    }
    return 0;
}

/* ---- reading requests -------------------------------------------------- */

static void client_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    enum sockio_result r;

    (void)fd;
    (void)what;
    if (c->parse_pending) {
        c->parse_pending = 0;
        client_advance(c);
        return;
    }
    r = sockio_read(&c->io, SOCKIO_READ_CHUNK);
    if (r == SOCKIO_AGAIN) return;
    if (r == SOCKIO_ERROR ||
        (r == SOCKIO_EOF && c->req == REQ_HEAD && c->resp == RESP_NONE)) {
        client_close(c);
        return;
    }
    if (r == SOCKIO_EOF) {
        /* Half-closed: the answer to what was asked may still go out. */
        c->client_eof = 1;
        c->keep_alive = 0;
        sockio_set_reading(&c->io, 0);
        if (c->req == REQ_HOLD || c->req == REQ_BODY) {
            client_close(c); /* the request body will never be complete */
            return;
        }
        if (c->resp == RESP_TUNNEL && c->up != NULL)
            shutdown(c->up->io.fd, SHUT_WR);
        /* A stream with no end (SSE, a body until close) to a client that
         * has hung up would run until the next write fails: stop it now. */
        if (c->resp == RESP_BODY && c->resp_body != HTTP1_BODY_LENGTH) {
            head_log(c);
            client_close(c);
        }
        return;
    }
    client_advance(c);
}

/* The request body broke its framing or its size limit mid-way: the
 * backend has part of it, so its connection goes; the client gets status
 * and its connection ends after. */
static void request_body_refused(struct client *c, int status,
                                 const char *msg)
{
    attempt_end(c, 0);
    c->req = REQ_DONE;
    head_error(c, status, msg, 1);
    exchange_finish(c);
}

/* Move request body bytes from the client toward the backend, following
 * the framing; when the body is complete the request is DONE. Returns 0,
 * or -1 when it answered an error itself (c may be gone). */
int request_body_pump(struct client *c)
{
    struct evbuffer *in = c->io.in, *out = c->up->io.out;
    size_t avail = evbuffer_get_length(in);

    if (c->req_body == HTTP1_BODY_LENGTH) {
        size_t n = avail < c->req_left ? avail : (size_t)c->req_left;
        evbuffer_remove_buffer(in, out, n);
        c->req_left -= n;
        if (c->req_left == 0) c->req = REQ_DONE;
    } else if (c->req_body == HTTP1_BODY_CHUNKED) {
        struct evbuffer_iovec vec[8];
        int nvec = evbuffer_peek(in, -1, NULL, vec, 8), done = 0;
        size_t take = 0;
        for (int i = 0; i < nvec && i < 8 && !done; i++) {
            ssize_t k = http1_chunked_scan(&c->req_chunk, vec[i].iov_base,
                                           vec[i].iov_len, &done);
            if (k < 0) {
                request_body_refused(c, 400, "bad chunked framing");
                return -1;
            }
            take += (size_t)k;
        }
        c->req_chunked_bytes += take;
        if (c->req_chunked_bytes > (uint64_t)lb.cfg.max_body) {
            request_body_refused(c, 413, "request body too large");
            return -1;
        }
        evbuffer_remove_buffer(in, out, take);
        if (done) c->req = REQ_DONE;
    } else {
        c->req = REQ_DONE;
    }
    c->replayable = 0;
    /* Backpressure: a backend that reads slowly pauses the client. */
    sockio_set_reading(&c->io, evbuffer_get_length(out) < LB_HIGH_WATER);
    return 0;
}

/* A complete request head is at the front of c->io.in. */
static void request_start(struct client *c, struct http1_request *r,
                          const char *buf, size_t head_len)
{
    c->started_us = clock_mono_us();
    c->queued_ms = 0;
    c->attempts = 0;
    c->stale_retried = 0;
    c->tried = 0;
    c->bytes_out = 0;
    c->status = 0;
    c->be = NULL;
    c->resp_started = 0;
    c->http10 = r->minor_version == 0;
    c->keep_alive = r->keep_alive && !c->client_eof;
    c->idempotent = r->idempotent;
    c->is_head = r->is_head;
    c->upgrade = r->upgrade;
    c->has_idem_key = r->known.idempotency_key >= 0;
    c->req_body = r->body;
    c->req_left = r->content_length;
    c->req_chunked_bytes = 0;
    http1_chunked_init(&c->req_chunk);
    c->sticky = lb.cfg.policy == POLICY_STICKY
                    ? head_sticky_index(r, buf, lb_backends())
                    : -1;
    c->sticky_ok = c->sticky >= 0;
    if (xbufs_get(c->w, c) != 0) {
        head_error(c, 503, "out of memory", 1);
        head_log(c);
        c->closing = 1;
        client_flush(c);
        return;
    }
    if (head_build_request(c, r, buf) != 0) {
        head_error(c, 431, "request head too large", 1);
        head_log(c);
        c->closing = 1;
        client_flush(c);
        return;
    }
    evbuffer_drain(c->io.in, head_len);
    timer_clear(c);
    if (r->body == HTTP1_BODY_LENGTH && r->content_length > (uint64_t)lb.cfg.max_body) {
        head_error(c, 413, "request body too large", 1);
        head_log(c);
        c->closing = 1;
        client_flush(c);
        return;
    }
    /* A small body is read whole first, so a retry can send it again. */
    c->replayable = 1;
    if (r->body == HTTP1_BODY_LENGTH && r->content_length > 0 &&
        r->content_length <= LB_REPLAY_BODY_MAX && !r->expect_continue) {
        c->req = REQ_HOLD;
        timer_set(c, TIMER_CLIENT, lb.cfg.timeout_client);
        client_advance(c);
        return;
    }
    c->req = r->body == HTTP1_BODY_NONE ? REQ_DONE : REQ_BODY;
    exchange_dispatch(c);
}

/* Parse the next request head, if a whole one has arrived. */
static void request_head(struct client *c)
{
    struct http1_request *r = &c->w->req;
    size_t len = evbuffer_get_length(c->io.in), n;
    const char *buf;
    ssize_t rc;

    if (len == 0) return;
    n = len < LB_HEAD_MAX ? len : LB_HEAD_MAX;
    buf = (const char *)evbuffer_pullup(c->io.in, (ev_ssize_t)n);
    rc = http1_parse_request(buf, n, LB_HEAD_MAX, LB_TARGET_MAX, r);
    if (rc == HTTP1_INCOMPLETE) {
        if (len >= LB_HEAD_MAX) {
            head_error(c, 431, "request head too large", 1);
        } else {
            if (c->timer_kind != TIMER_CLIENT)
                timer_set(c, TIMER_CLIENT, lb.cfg.timeout_client);
            return;
        }
    } else if (rc < 0) {
        head_error(c, r->error_status ? r->error_status : 400,
                   r->error ? r->error : "bad request", 1);
    } else {
        request_start(c, r, buf, (size_t)rc);
        return;
    }
    /* An error answer for an unparseable request: log, close after. */
    c->started_us = clock_mono_us();
    head_log(c);
    c->closing = 1;
    sockio_set_reading(&c->io, 0);
    client_flush(c);
}

void client_advance(struct client *c)
{
    if (c->resp == RESP_TUNNEL) {
        evbuffer_add_buffer(c->up->io.out, c->io.in);
        if (sockio_flush(&c->up->io) == SOCKIO_ERROR) {
            client_close(c);
            return;
        }
        /* Backpressure both ways: a backend that reads slowly pauses us. */
        sockio_set_reading(&c->io,
                           evbuffer_get_length(c->up->io.out) < LB_HIGH_WATER);
        return;
    }
    switch (c->req) {
    case REQ_HEAD:
        if (c->resp == RESP_NONE && !c->closing) request_head(c);
        break;
    case REQ_HOLD:
        if (evbuffer_get_length(c->io.in) >= c->req_left) {
            evbuffer_remove_buffer(c->io.in, c->x->body, (size_t)c->req_left);
            c->req_left = 0;
            c->req = REQ_DONE;
            timer_clear(c);
            exchange_dispatch(c);
        }
        break;
    case REQ_BODY:
        if (c->up != NULL && c->up->connected) {
            if (request_body_pump(c) != 0) return;
            if (sockio_flush(&c->up->io) == SOCKIO_ERROR)
                attempt_failed(c, FAIL_AFTER_SEND);
        } else if (evbuffer_get_length(c->io.in) > LB_HIGH_WATER) {
            sockio_set_reading(&c->io, 0); /* until the backend is there */
        }
        break;
    case REQ_QUEUED:
    case REQ_DONE:
        /* Pipelined bytes wait for their turn; bounded by the high water. */
        if (evbuffer_get_length(c->io.in) > LB_HIGH_WATER)
            sockio_set_reading(&c->io, 0);
        break;
    }
}

/* The exchange is over (answered by a backend or by us): log it, free the
 * attempt, and get ready for the next request on this connection. */
void exchange_finish(struct client *c)
{
    int reusable = c->up_keep && c->req == REQ_DONE && c->resp == RESP_DONE &&
                   !c->upgrade;

    timer_clear(c);
    if (c->status >= 500) atomic_fetch_add(&lb.errors_5xx, 1);
    else if (c->status >= 400) atomic_fetch_add(&lb.errors_4xx, 1);
    atomic_fetch_add(&lb.requests, 1);
    head_log(c);
    attempt_end(c, reusable);
    xbufs_put(c->w, c);
    c->resp = RESP_NONE;
    c->up_keep = 0;
    if (!c->keep_alive || c->req != REQ_DONE || atomic_load(&lb.draining)) {
        c->closing = 1;
        sockio_set_reading(&c->io, 0);
        client_flush(c);
        return;
    }
    c->req = REQ_HEAD;
    if (client_flush(c) < 0) return;
    timer_set(c, TIMER_CLIENT, lb.cfg.timeout_client);
    if (!c->client_eof) sockio_set_reading(&c->io, 1);
    if (evbuffer_get_length(c->io.in) > 0) {
        /* Pipelined: parse the next one from the loop, not from here, so a
         * long pipeline of quick answers cannot recurse deeply. */
        c->parse_pending = 1;
        event_active(&c->io.rev, EV_READ, 0);
    }
}

static void client_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;

    (void)fd;
    (void)what;
    if (client_flush(c) < 0) return;
    /* The client caught up: resume reading from the backend. */
    if (c->up != NULL && evbuffer_get_length(c->io.out) < LB_HIGH_WATER / 2)
        sockio_set_reading(&c->up->io, 1);
}
