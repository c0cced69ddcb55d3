/* The proxy state machine, backend side: choosing a backend, attempts on
 * it (pooled or new connection), the response streaming back, and what a
 * failed attempt leads to (retry, 502/503/504). */
#include <errno.h>
#include <event2/buffer.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "clock.h"
#include "dashboard.h"
#include "log.h"
#include "proxy.h"
#include "proxy_int.h"
#include "upstream.h"
#include "worker.h"

static void attempt_start(struct client *c, struct lb_backend *be,
                          int may_reuse);
static void response_pump(struct client *c);

/* ---- choosing a backend and sending ------------------------------------ */

/* Send the request (head, and the held body) on the attempt's connection. */
static void attempt_send(struct client *c)
{
    struct upstream *u = c->up;

    evbuffer_add(u->io.out, evbuffer_pullup(c->x->head, -1),
                 evbuffer_get_length(c->x->head));
    if (evbuffer_get_length(c->x->body) > 0)
        evbuffer_add(u->io.out, evbuffer_pullup(c->x->body, -1),
                     evbuffer_get_length(c->x->body));
    if (c->req == REQ_BODY && request_body_pump(c) != 0) return;
    c->req_sent = 1;
    timer_set(c, TIMER_SERVER, lb.cfg.timeout_server);
    if (sockio_flush(&u->io) == SOCKIO_ERROR)
        attempt_failed(c, c->up->reused ? FAIL_AFTER_SEND : FAIL_BEFORE_SEND);
}

/* Join the worker's queue for a backend slot. Returns 0, or -1 if full. */
static int exchange_enqueue(struct client *c)
{
    if (atomic_fetch_add(&lb.queued, 1) >= lb.cfg.queue) {
        atomic_fetch_sub(&lb.queued, 1);
        return -1;
    }
    int64_t now = clock_mono_ms(), waited;

    if (c->queued_ms == 0) c->queued_ms = now;
    waited = now - c->queued_ms;
    c->req = REQ_QUEUED;
    TAILQ_INSERT_TAIL(&c->w->queue, c, queue_link);
    c->w->nqueued++;
    /* Back in line after a try keeps the first deadline. */
    timer_set(c, TIMER_QUEUE,
              lb.cfg.queue_timeout > waited ? lb.cfg.queue_timeout - waited : 1);
    return 0;
}

/* Start an attempt on be: a pooled connection when may_reuse and one is
 * idle, else a new one. */
static void attempt_start(struct client *c, struct lb_backend *be,
                          int may_reuse)
{
    /* A request that cannot be retried after it is sent must not go out on
     * a pooled connection the backend may have just closed. */
    int peek = !c->idempotent && !c->has_idem_key;

    c->be = be;
    c->attempts++;
    c->req_sent = 0;
    atomic_fetch_add(&be->active, 1);
    atomic_fetch_add(&be->requests, 1);
    c->resp = RESP_HEAD;
    c->up = may_reuse ? upstream_take_idle(c->w, be, c, peek) : NULL;
    if (c->up != NULL) {
        attempt_send(c);
        return;
    }
    c->up = upstream_connect(c->w, be, c);
    if (c->up == NULL) {
        attempt_failed(c, FAIL_CONNECT);
        return;
    }
    timer_set(c, TIMER_CONNECT, lb.cfg.timeout_connect);
}

/* Pick a backend for the request and start an attempt on it. */
void exchange_dispatch(struct client *c)
{
    struct backend_list *list = lb_backends();
    struct lb_pick p = {
        .backends = list ? (struct lb_backend *const *)list->b : NULL,
        .n = list ? list->n : 0,
        .tried = c->tried,
        .client_hash = c->peer_hash,
        .sticky = c->sticky,
        .maxconn = (int)lb.cfg.maxconn,
    };
    int idx = balancer_pick(&lb.balancer, &p);

    if (idx == PICK_FULL) {
        if (exchange_enqueue(c) == 0) return;
        c->req = REQ_DONE;
        head_error(c, 503, "all backends busy, queue full", 0);
        exchange_finish(c);
        return;
    }
    if (idx == PICK_NONE) {
        /* Unread body bytes would be taken for the next request: close. */
        int close_after = c->req != REQ_DONE;
        c->req = REQ_DONE;
        /* 502 only when a backend took the request and failed it; if none
         * could even be reached, nothing happened: 503, come back later. */
        if (c->attempts > 0 && c->last_failure != FAIL_CONNECT &&
            c->last_failure != FAIL_BEFORE_SEND)
            head_error(c, 502, "backend failed", close_after);
        else
            head_error(c, 503, "no healthy backend", close_after);
        exchange_finish(c);
        return;
    }
    c->sticky_ok = c->sticky == idx;
    c->tried |= 1ull << idx;
    attempt_start(c, list->b[idx], 1);
}

/* The first queued client tries again: back to the state it was in. */
static void queue_pop(struct worker *w)
{
    struct client *c = TAILQ_FIRST(&w->queue);

    TAILQ_REMOVE(&w->queue, c, queue_link);
    w->nqueued--;
    atomic_fetch_sub(&lb.queued, 1);
    timer_clear(c);
    c->req = evbuffer_get_length(c->x->body) > 0 || c->req_body == HTTP1_BODY_NONE
                 ? REQ_DONE
                 : REQ_BODY;
    exchange_dispatch(c);
}

void proxy_retry_queue(struct worker *w)
{
    int n = w->nqueued;

    /* Each queued client gets one more try, in order; those still without
     * a slot go back to the end of the line with their first deadline. */
    while (n-- > 0 && !TAILQ_EMPTY(&w->queue)) queue_pop(w);
}

/* ---- backend events ---------------------------------------------------- */

void proxy_upstream_writable(struct client *c)
{
    struct upstream *u = c->up;

    if (!u->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            attempt_failed(c, FAIL_CONNECT);
            return;
        }
        u->connected = 1;
        attempt_send(c);
        return;
    }
    if (sockio_flush(&u->io) == SOCKIO_ERROR) {
        attempt_failed(c, FAIL_AFTER_SEND);
        return;
    }
    /* The backend drained what we sent: the client may send more. */
    if ((c->req == REQ_BODY || c->resp == RESP_TUNNEL) &&
        evbuffer_get_length(u->io.out) < LB_HIGH_WATER / 2 && !c->client_eof)
        sockio_set_reading(&c->io, 1);
}

/* The response head is complete: forward it and start on the body. */
static int response_head(struct client *c)
{
    struct http1_response *r = &c->w->resp;
    struct evbuffer *in = c->up->io.in;
    size_t len = evbuffer_get_length(in), n = len < LB_HEAD_MAX ? len : LB_HEAD_MAX;
    const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    ssize_t rc = http1_parse_response(buf, n, LB_HEAD_MAX, c->is_head, r);

    if (rc == HTTP1_INCOMPLETE && len < LB_HEAD_MAX) return 0;
    if (rc <= 0) {
        attempt_failed(c, FAIL_BAD_RESPONSE);
        return -1;
    }
    if (r->status >= 100 && r->status < 200 && !r->upgrade) {
        /* Interim (100 Continue): pass it on, wait for the final one. */
        evbuffer_remove_buffer(in, c->io.out, (size_t)rc);
        return 1;
    }
    c->status = r->status;
    c->resp_started = 1;
    c->up_keep = r->keep_alive;
    if (r->body == HTTP1_BODY_UNTIL_CLOSE) c->keep_alive = 0;
    c->resp_body = r->body;
    c->resp_left = r->content_length;
    http1_chunked_init(&c->resp_chunk);
    c->upgrade = r->upgrade && c->upgrade;
    if (head_build_response(c, r) != 0) {
        c->resp_started = 0;
        attempt_failed(c, FAIL_BAD_RESPONSE);
        return -1;
    }
    c->resp = c->upgrade ? RESP_TUNNEL : RESP_BODY;
    evbuffer_drain(in, (size_t)rc);
    return 1;
}

/* Move response body bytes to the client, following the framing. Returns
 * 1 when the body is complete, 0 when more is to come. */
static int response_body(struct client *c)
{
    struct evbuffer *in = c->up->io.in;
    size_t avail = evbuffer_get_length(in), n = 0;
    int done = 0;

    switch (c->resp_body) {
    case HTTP1_BODY_NONE:
        return 1;
    case HTTP1_BODY_LENGTH:
        n = avail < c->resp_left ? avail : (size_t)c->resp_left;
        c->resp_left -= n;
        done = c->resp_left == 0;
        break;
    case HTTP1_BODY_CHUNKED: {
        struct evbuffer_iovec vec[16];
        int nvec = evbuffer_peek(in, -1, NULL, vec, 16);
        for (int i = 0; i < nvec && i < 16 && !done; i++) {
            ssize_t k = http1_chunked_scan(&c->resp_chunk, vec[i].iov_base,
                                           vec[i].iov_len, &done);
            if (k < 0) return -1;
            n += (size_t)k;
        }
        break;
    }
    case HTTP1_BODY_UNTIL_CLOSE:
        n = avail;
        break;
    }
    evbuffer_remove_buffer(in, c->io.out, n);
    c->bytes_out += n;
    return done;
}

/* Drive the response: head, then body; forward, flush, apply backpressure. */
static void response_pump(struct client *c)
{
    int rc;

    while (c->resp == RESP_HEAD) {
        if (evbuffer_get_length(c->up->io.in) == 0) return;
        rc = response_head(c);
        if (rc <= 0) return; /* incomplete, or the attempt failed */
    }
    if (c->resp == RESP_TUNNEL) {
        c->bytes_out += evbuffer_get_length(c->up->io.in);
        evbuffer_add_buffer(c->io.out, c->up->io.in);
        timer_clear(c);
        if (evbuffer_get_length(c->io.in) > 0) client_advance(c);
    } else {
        rc = response_body(c);
        if (rc < 0) { /* bad framing from the backend mid-response */
            attempt_failed(c, FAIL_AFTER_RESPONSE);
            return;
        }
        if (rc == 1) {
            c->resp = RESP_DONE;
            exchange_finish(c);
            return;
        }
        timer_set(c, TIMER_SERVER, lb.cfg.timeout_server);
    }
    if (client_flush(c) < 0) return;
    /* Backpressure: a slow client pauses reading from the backend. */
    if (c->up != NULL)
        sockio_set_reading(&c->up->io,
                           evbuffer_get_length(c->io.out) < LB_HIGH_WATER);
}

void proxy_upstream_readable(struct client *c)
{
    enum sockio_result r = sockio_read(&c->up->io, SOCKIO_READ_CHUNK);

    if (r == SOCKIO_AGAIN) return;
    if (r == SOCKIO_OK) {
        response_pump(c);
        return;
    }
    /* The backend closed or reset the connection. */
    if (c->resp == RESP_BODY && c->resp_body == HTTP1_BODY_UNTIL_CLOSE &&
        r == SOCKIO_EOF) {
        c->resp = RESP_DONE;
        c->up_keep = 0;
        exchange_finish(c);
        return;
    }
    if (c->resp == RESP_TUNNEL) {
        c->up_keep = 0;
        c->keep_alive = 0;
        c->resp = RESP_DONE;
        exchange_finish(c);
        return;
    }
    if (c->resp == RESP_HEAD && evbuffer_get_length(c->up->io.in) == 0)
        attempt_failed(c, c->req_sent ? FAIL_AFTER_SEND : FAIL_BEFORE_SEND);
    else if (c->resp == RESP_HEAD)
        attempt_failed(c, FAIL_BAD_RESPONSE);
    else
        attempt_failed(c, FAIL_AFTER_RESPONSE);
}

/* ---- the end of an attempt and of an exchange -------------------------- */

void attempt_failed(struct client *c, enum attempt_failure f)
{
    struct retry_request rr = {
        .idempotent = c->idempotent,
        .has_idem_key = c->has_idem_key,
        .body_replayable = c->replayable,
        .attempts = c->attempts,
        .retries_max = (int)lb.cfg.retries,
    };
    struct lb_backend *be = c->be;
    int stale = c->up != NULL && c->up->reused;

    timer_clear(c);
    c->last_failure = f;
    attempt_end(c, 0);
    /* The keep-alive race: a pooled connection that the backend closed as
     * idle just as we reused it. The backend is fine and saw nothing, so it
     * is not marked down, and the request goes again on a new connection to
     * the same backend - once, and outside the --retries budget. A request
     * that may not be repeated (written, not idempotent, no key) is not:
     * the close cannot be told from a crash after reading it. */
    if (stale && !c->resp_started && !c->stale_retried && be != NULL &&
        (f == FAIL_BEFORE_SEND ||
         (f == FAIL_AFTER_SEND && (c->idempotent || c->has_idem_key))) &&
        c->replayable) {
        c->stale_retried = 1;
        attempt_start(c, be, 0);
        return;
    }
    rr.attempts -= c->stale_retried;
    if (be != NULL && !stale) {
        atomic_fetch_add(&be->failures, 1);
        if (!lb.cfg.no_health && retry_marks_down(f) &&
            atomic_exchange(&be->health, BACKEND_DOWN) == BACKEND_UP)
        {
            log_warn("backend %s down: %s (passive check)", be->name,
                     retry_failure_name(f));
            dashboard_note("backend %s down (passive: %s)", be->name,
                           retry_failure_name(f));
        }
    }
    if (!c->resp_started && retry_allowed(f, &rr)) {
        atomic_fetch_add(&lb.retries, 1);
        if (be != NULL) atomic_fetch_add(&be->retries_from, 1);
        exchange_dispatch(c);
        return;
    }
    if (c->resp_started) {
        /* Part of the answer is out: the only honest thing left is to cut
         * the connection so the client sees the response is incomplete. */
        c->status = c->status ? c->status : 502;
        head_log(c);
        client_close(c);
        return;
    }
    int close_after = c->req != REQ_DONE;
    c->req = REQ_DONE;
    if (f == FAIL_SERVER_TIMEOUT)
        head_error(c, 504, "backend timeout", close_after);
    else if (f == FAIL_CONNECT || f == FAIL_BEFORE_SEND)
        head_error(c, 503, "no backend reachable", close_after);
    else
        head_error(c, 502, "backend failed", close_after);
    exchange_finish(c);
}

