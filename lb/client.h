/* The client connection object, shared by proxy.c (the state machine) and
 * proxy_head.c (rewriting heads, error answers, the access log). */
#ifndef SB_LB_CLIENT_H
#define SB_LB_CLIENT_H

#include <arpa/inet.h>
#include <stdint.h>
#include <sys/queue.h>

#include "http1.h"
#include "lb.h"
#include "retry.h"
#include "sockio.h"

enum req_state {
    REQ_HEAD,    /* waiting for a complete request head */
    REQ_HOLD,    /* reading a small body whole before sending (replayable) */
    REQ_QUEUED,  /* every backend at maxconn: waiting for a slot */
    REQ_BODY,    /* head sent, body streaming to the backend */
    REQ_DONE     /* the whole request went to the backend */
};

enum resp_state {
    RESP_NONE,   /* no backend attempt in progress */
    RESP_HEAD,   /* waiting for the response head */
    RESP_BODY,   /* streaming the response body to the client */
    RESP_TUNNEL, /* after 101 Switching Protocols: bytes both ways */
    RESP_DONE
};

enum client_timer {
    TIMER_NONE,
    TIMER_CLIENT,  /* head not complete / idle keep-alive: slowloris guard */
    TIMER_QUEUE,   /* waited too long for a backend slot */
    TIMER_CONNECT, /* backend connect */
    TIMER_SERVER   /* backend silent too long */
};

#define LOG_PATH_MAX 128
#define REQUEST_ID_MAX 129

/* Buffers of one exchange, pooled per worker. */
struct xbufs {
    struct evbuffer *head; /* request head as sent to backends */
    struct evbuffer *body; /* whole small body, kept for retries */
    struct xbufs *next;
    char method[16];       /* for the access log */
    char path[LOG_PATH_MAX];
    char request_id[REQUEST_ID_MAX];
};

struct client {
    struct sockio io;
    struct worker *w;
    struct event timer;
    enum client_timer timer_kind;
    TAILQ_ENTRY(client) all_link;   /* w->clients */
    TAILQ_ENTRY(client) queue_link; /* w->queue, while REQ_QUEUED */
    char peer_ip[INET6_ADDRSTRLEN];
    uint32_t peer_hash;
    struct client *next_free;

    /* The exchange in progress. */
    enum req_state req;
    enum resp_state resp;
    struct xbufs *x;               /* only while an exchange is in progress */
    enum http1_body req_body;
    uint64_t req_left;             /* content-length bytes still to forward */
    struct http1_chunked req_chunk;
    uint64_t req_chunked_bytes;    /* of a chunked body, for --max-body */
    unsigned keep_alive : 1, idempotent : 1, has_idem_key : 1, is_head : 1,
        replayable : 1, upgrade : 1, client_eof : 1, closing : 1,
        resp_started : 1, req_sent : 1, sticky_ok : 1, http10 : 1,
        up_keep : 1,    /* the backend keeps its connection after this answer */
        parse_pending : 1, /* a pipelined request waits in io.in */
        stale_retried : 1; /* went again after a stale pooled connection */
    int attempts;
    uint64_t tried;                /* bit i: list index i failed */
    int sticky;                    /* list index from the cookie, or -1 */
    struct lb_backend *be;         /* the backend of the current attempt */
    struct upstream *up;
    enum attempt_failure last_failure;
    enum http1_body resp_body;
    uint64_t resp_left;
    struct http1_chunked resp_chunk;
    int status;
    int64_t started_us, queued_ms;
    uint64_t bytes_out;
};

/* proxy_head.c */

/* Build the head sent to backends into c->fwd_head from the parsed request
 * (buf holds the original head). Also fills c's log fields and request id.
 * Returns 0, or -1 when the rewritten head would not fit (431). */
int head_build_request(struct client *c, const struct http1_request *r,
                       const char *buf);

/* Append the response head for the client to c->io.out, from the parsed
 * backend head: hop-by-hop headers dropped, Connection set for the client,
 * the sticky cookie added when needed. Returns 0, or -1 (nothing written)
 * if the result would not fit. */
int head_build_response(struct client *c, const struct http1_response *r);

/* Queue an error answer made by the LB itself (JSON). close_after: the
 * connection ends once it is written. */
void head_error(struct client *c, int status, const char *msg,
                int close_after);

/* The sticky cookie's list index in the request, or -1. */
int head_sticky_index(const struct http1_request *r, const char *buf,
                      struct backend_list *list);

/* Write one access-log line for the finished exchange. */
void head_log(struct client *c);

#endif
