/* Sticky: cookie affinity. A client whose cookie names a backend goes back
 * to it, which servers that keep sessions in their own memory need. A
 * client without one (or whose backend is gone) gets the next one in the
 * rotation, and the proxy then sets a cookie naming it. */
#include "balancer.h"

/* 1 if the backend the cookie names may take its client: up, not
 * disabled, and not already tried by this request. Unlike
 * balance_eligible, a draining backend qualifies: draining means "no new
 * clients", and letting its own clients finish is the point of draining
 * instead of disabling. */
static int sticky_acceptable(const struct lb_pick *p, int i)
{
    struct lb_backend *b = p->backends[i];

    return atomic_load_explicit(&b->health, memory_order_relaxed) ==
               BACKEND_UP &&
           atomic_load_explicit(&b->admin, memory_order_relaxed) !=
               ADMIN_DISABLED &&
           !((p->tried >> i) & 1u);
}

/* Return p->sticky if it is a valid index whose backend is acceptable
 * (above) and has room. If it is acceptable but at maxconn, return
 * PICK_FULL: the client waits in the queue for its own backend instead of
 * being sent to another one, where a stateful server would not know its
 * session (HAProxy queues persistent requests on their server the same
 * way). Otherwise (no cookie, stale index, backend down, disabled or
 * already tried) fall back to balance_rr_next. Writes only bal->rr_next. */
static int sticky_pick(struct balancer *bal, const struct lb_pick *p)
{
    int s = p->sticky;

    if (s >= 0 && s < p->n && sticky_acceptable(p, s))
        return balance_has_room(p, s) ? s : PICK_FULL;
    return balance_rr_next(bal, p);
}

const struct balancer_ops balance_sticky_ops = {
    .name = "sticky",
    .pick = sticky_pick,
};
