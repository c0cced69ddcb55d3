/* Keep-alive HTTP/1.1 connections to one server, one request at a time on
 * each (no pipelining), on bufferevents. The pool has a fixed number of
 * connection slots, so the requests in flight are bounded; a full pool
 * refuses a request instead of queueing it. Every request ends in exactly
 * one call of the result callback, never from inside pool_send. */
#ifndef SB_CLIENT_POOL_H
#define SB_CLIENT_POOL_H

#include <stddef.h>
#include <stdint.h>

#define POOL_CONNS_MAX 20000 /* slots in one pool: each is a socket */

struct event_base;
struct pool;

enum pool_method { POOL_GET, POOL_POST };

/* How a request ended. Anything but POOL_OK means no (whole) response. */
enum pool_error {
    POOL_OK = 0,          /* a response arrived, whatever its status */
    POOL_ERR_REFUSED,     /* connect refused: nothing listens there */
    POOL_ERR_RESET,       /* reset or closed before the whole response */
    POOL_ERR_TIMEOUT,     /* no whole response within the timeout */
    POOL_ERR_UNREACHABLE, /* no route, or the name does not resolve */
    POOL_ERR_PROTOCOL,    /* the answer was not HTTP/1.x we understand */
    POOL_ERR_LOCAL        /* out of sockets or memory here */
};

struct pool_req {
    enum pool_method method;
    const char *path;   /* caller's; valid until the result */
    const char *cookie; /* Cookie header value or ""; caller's; read again
                           if the request is re-sent */
    const char *body;   /* POST: JSON text, caller's; NULL for GET */
    int64_t intended_us; /* when it should have started (CLOCK_MONOTONIC) */
    int tag;             /* the caller's: kind of request, client number */
};

struct pool_result {
    struct pool_req req;    /* a copy of what was sent */
    enum pool_error error;
    int status;             /* HTTP status when error is POOL_OK, else 0 */
    const char *served_by;  /* X-Served-By or ""; valid during the call */
    const char *set_cookies; /* '\n'-separated Set-Cookie values or "" */
    int64_t done_us;        /* when it ended (CLOCK_MONOTONIC) */
};

typedef void (*pool_result_cb)(const struct pool_result *res, void *arg);

/* A pool of max_conns slots (1..POOL_CONNS_MAX) to host:port; hostport is
 * the Host header. The name is resolved now; if that fails, requests fail
 * as POOL_ERR_UNREACHABLE and resolving is tried again at most once a
 * second. timeout_ms bounds each request from the moment it is sent.
 * Returns NULL with a reason in err on bad arguments or no memory. */
struct pool *pool_new(struct event_base *base, const char *host, int port,
                      const char *hostport, int max_conns, long timeout_ms,
                      pool_result_cb cb, void *arg, char *err, size_t errlen);

/* Send req (copied) on an idle connection, else on a new one. Returns 0,
 * or -1 when every slot is busy (nothing was sent, no callback follows). */
int pool_send(struct pool *p, const struct pool_req *req);

/* Requests sent whose result callback has not run yet. */
int pool_in_flight(const struct pool *p);

/* Connections open or opening (busy and idle). */
int pool_open_conns(const struct pool *p);

/* Close every connection and free the pool. Requests still in flight are
 * abandoned: their callbacks never run. NULL is fine. */
void pool_free(struct pool *p);

/* "refused", "reset", "timeout", ... for messages. */
const char *pool_error_name(enum pool_error e);

#endif
