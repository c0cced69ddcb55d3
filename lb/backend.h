/* The backends the balancer sends traffic to, as every worker thread sees
 * them. Health and admin state are written by one place (the checker, the
 * admin API) and read by the proxies: each is a single atomic, so readers
 * never lock. */
#ifndef SB_LB_BACKEND_H
#define SB_LB_BACKEND_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define LB_BACKENDS_MAX 64 /* one bit each in a request's "tried" mask */
#define LB_BACKEND_NAME_MAX 64
#define LB_WORKERS_MAX 64  /* event-loop threads */

struct upstream;
TAILQ_HEAD(upstream_list, upstream);

/* One worker's idle keep-alive connections to one backend. Only that
 * worker's thread touches it, so it needs no lock. */
struct idle_pool {
    struct upstream_list conns; /* most recently used first */
    int n;
};

enum backend_health { BACKEND_DOWN = 0, BACKEND_UP = 1 };
enum backend_admin { ADMIN_ENABLED = 0, ADMIN_DRAIN = 1, ADMIN_DISABLED = 2 };

struct lb_backend {
    char name[LB_BACKEND_NAME_MAX]; /* "127.0.0.1:9001": shown, and the
                                       sticky cookie's value */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t name_hash;             /* for ip-hash (rendezvous) */
    _Atomic int health;             /* enum backend_health */
    _Atomic int admin;              /* enum backend_admin */
    _Atomic int active;             /* requests in progress (least-conn, maxconn) */
    _Atomic uint64_t requests, failures, retries_from;
    _Atomic int refs;               /* lists and connections holding it */
    struct idle_pool idle[LB_WORKERS_MAX];
};

/* 1 if new requests may go to b: healthy and enabled (a draining backend
 * keeps its sticky clients but gets no new ones). */
static inline int backend_usable(struct lb_backend *b)
{
    return atomic_load_explicit(&b->health, memory_order_relaxed) ==
               BACKEND_UP &&
           atomic_load_explicit(&b->admin, memory_order_relaxed) ==
               ADMIN_ENABLED;
}

#endif
