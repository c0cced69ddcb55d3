/* An event-loop thread: its own event base and SO_REUSEPORT listener, its
 * own idle-connection pools and request queue. Workers share nothing but
 * the backend list, the balancer's rotation and counters (atomics). */
#ifndef SB_LB_WORKER_H
#define SB_LB_WORKER_H

#include <event2/event_struct.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include "http1.h"
#include "lb.h"

struct client;
struct xbufs;
TAILQ_HEAD(client_queue, client);

struct worker {
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event tick;             /* every LB_TICK_MS: pools, queue, log */
    struct event wake;             /* a backend slot freed: run the queue */
    struct evbuffer *log;          /* access-log lines not yet written */
    struct client_queue clients;   /* every open client connection */
    struct client_queue queue;     /* waiting for a backend slot, FIFO */
    int nqueued;
    struct client *free_clients;   /* recycled connection objects */
    int nfree_clients;
    struct xbufs *free_xbufs;      /* recycled exchange buffers */
    int nfree_xbufs;
    long nclients;                 /* open client connections */
    uint64_t next_id;              /* request-id counter */
    int64_t accept_paused_ms;      /* accepting paused (EMFILE) since */
    struct http1_request req;      /* parse scratch: only during head work */
    char head_scratch[LB_HEAD_MAX + LB_HEAD_EXTRA]; /* heads being rewritten */
    struct http1_response resp;
};

#define LB_TICK_MS 100

/* Make worker index i: event base, listener on the configured address
 * (SO_REUSEPORT, so every worker accepts on its own socket). Returns 0, or
 * -1 with a reason in err. */
int worker_init(struct worker *w, int i, char *err, size_t errlen);

/* Run the worker's loop in a new thread. It ends by itself once lb.draining
 * is set and its last client is gone. */
int worker_start(struct worker *w);

void worker_free(struct worker *w);

/* A slot freed: run the queue on the next loop turn, not deep inside the
 * call that freed it. */
void worker_wake_queue(struct worker *w);

/* Append one finished access-log line (without newline) to the buffer. */
void worker_log_line(struct worker *w, const char *line, size_t len);

#endif
