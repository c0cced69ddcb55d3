/* Choosing a backend for one request. One file per policy, each filling one
 * small ops table; adding a policy adds a file and a line in balancer.c.
 *
 * A pick is told which backends this request already tried, so a retry
 * never lands on the backend that just failed. */
#ifndef SB_LB_BALANCER_H
#define SB_LB_BALANCER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

enum balancer_policy {
    POLICY_ROUND_ROBIN,
    POLICY_LEAST_CONN,
    POLICY_STICKY,
    POLICY_IP_HASH
};

/* What a pick knows about the request. */
struct lb_pick {
    struct lb_backend *const *backends; /* the current list, n entries */
    int n;                              /* 0..LB_BACKENDS_MAX */
    uint64_t tried;                     /* bit i: backends[i] already failed */
    uint32_t client_hash;               /* ip-hash: hash of the client address */
    int sticky;                         /* sticky: index named by the cookie, or -1 */
    int maxconn;                        /* per-backend limit; 0 = none */
};

#define PICK_NONE (-1) /* no usable backend that was not tried: 503 */
#define PICK_FULL (-2) /* usable backends exist but all are at maxconn: queue */

struct balancer {
    const struct balancer_ops *ops;
    _Atomic uint64_t rr_next; /* shared rotation, strict across threads */
};

struct balancer_ops {
    const char *name; /* "round-robin", ... as given to --policy */
    /* Return an index into p->backends, PICK_NONE or PICK_FULL. Called from
     * any worker thread at once: only atomics may be written. */
    int (*pick)(struct balancer *bal, const struct lb_pick *p);
};

extern const struct balancer_ops balance_rr_ops;
extern const struct balancer_ops balance_leastconn_ops;
extern const struct balancer_ops balance_sticky_ops;
extern const struct balancer_ops balance_iphash_ops;

/* Set up bal for policy. */
void balancer_init(struct balancer *bal, enum balancer_policy policy);

static inline int balancer_pick(struct balancer *bal, const struct lb_pick *p)
{
    return bal->ops->pick(bal, p);
}

/* The next index in strict rotation among the usable, untried backends
 * with room: shared by round-robin and the fallbacks of the other policies.
 * Returns an index, PICK_NONE or PICK_FULL. */
int balance_rr_next(struct balancer *bal, const struct lb_pick *p);

/* 32-bit FNV-1a, for client addresses and backend names. Whoever fills a
 * struct lb_backend sets name_hash = balancer_hash(name, strlen(name)), so
 * ip-hash follows a backend's name, not its place in the list. */
uint32_t balancer_hash(const void *data, size_t len);

/* 1 if backends[i] may take this request: usable (up, enabled) and not
 * already tried by it. i must be in 0..p->n-1; an index the tried mask
 * cannot describe (LB_BACKENDS_MAX and beyond) is never eligible. */
static inline int balance_eligible(const struct lb_pick *p, int i)
{
    return i < LB_BACKENDS_MAX && backend_usable(p->backends[i]) &&
           !((p->tried >> i) & 1u);
}

/* 1 if backends[i] is below p->maxconn (or there is no limit). Picks only
 * read `active`; the proxy increments it after the pick. That
 * check-then-increment is not atomic, so workers picking at the same
 * instant can all see room for one last slot: a backend may overshoot
 * maxconn by at most (workers - 1). This is accepted: a CAS loop on every
 * pick would cost more than a brief overshoot of a soft limit. */
static inline int balance_has_room(const struct lb_pick *p, int i)
{
    return p->maxconn <= 0 ||
           atomic_load_explicit(&p->backends[i]->active,
                                memory_order_relaxed) < p->maxconn;
}

/* The scan every policy ends with when it found nothing: PICK_FULL if some
 * eligible backend exists (all at maxconn), else PICK_NONE. */
static inline int balance_none_or_full(const struct lb_pick *p)
{
    for (int i = 0; i < p->n; i++)
        if (balance_eligible(p, i))
            return PICK_FULL;
    return PICK_NONE;
}

#endif
