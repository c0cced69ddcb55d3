/* Connections from a worker to the backends, and each worker's pool of idle
 * keep-alive ones. A connection belongs to one client exchange while in use
 * and to its backend's idle pool between requests; an idle one that the
 * backend closes is noticed (it stays readable in the loop) and dropped. */
#ifndef SB_LB_UPSTREAM_H
#define SB_LB_UPSTREAM_H

#include <stdint.h>
#include <sys/queue.h>

#include "backend.h"
#include "sockio.h"

struct worker;
struct client;

struct upstream {
    struct sockio io;
    struct lb_backend *be;
    struct worker *w;
    struct client *owner;          /* NULL while idle in the pool */
    TAILQ_ENTRY(upstream) link;    /* in be->idle[w->index] */
    int64_t idle_since_ms;
    unsigned connected : 1, reused : 1, in_pool : 1;
};

#define UPSTREAM_IDLE_MAX 256 /* idle connections per backend per worker */

/* Start a non-blocking connect to be for owner. Returns the connection (its
 * write event fires when the connect completes or fails), or NULL with
 * errno set when it failed at once (ECONNREFUSED on loopback, EMFILE...). */
struct upstream *upstream_connect(struct worker *w, struct lb_backend *be,
                                  struct client *owner);

/* The most recently used idle connection to be, now owned by owner, or
 * NULL. With check_alive, a connection idle for a while is first probed
 * with a non-blocking peek, so one the backend has just closed is not used
 * for a request that could not be retried. */
struct upstream *upstream_take_idle(struct worker *w, struct lb_backend *be,
                                    struct client *owner, int check_alive);

/* The exchange is done with u: keep it for reuse when reusable, else close
 * it. */
void upstream_release(struct upstream *u, int reusable);

/* Close idle connections older than idle_ms (called from the worker tick),
 * or all of them when idle_ms < 0 (at exit). */
void upstream_sweep(struct worker *w, int64_t now_ms, long idle_ms);

/* Set by the proxy: where an owned connection's events go. */
void proxy_upstream_readable(struct client *c);
void proxy_upstream_writable(struct client *c);

#endif
