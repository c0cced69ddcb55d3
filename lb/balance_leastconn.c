/* Least connections: the backend with the fewest requests in progress,
 * which suits requests of uneven cost (a slow feed, an SSE stream). */
#include "balancer.h"

/* Return the eligible backend with room whose `active` is smallest;
 * PICK_FULL if eligible backends exist but all are at maxconn; PICK_NONE
 * if none is eligible or p->n is 0.
 *
 * Ties are shared out by the rotation (bal->rr_next, advanced once per
 * pick): the k-th pick takes tie number k % ties. Taking the first tie of
 * a scan would pile equal loads onto backends[0]; even starting the scan
 * at the rotation skews, since with 0 busier and 1, 2 tied, the turns of
 * 0 and 1 both end on 1 and 1 gets twice 2's share. `active` values are
 * read one by one, not as a snapshot: another thread may change them
 * mid-scan, which at worst picks a backend one request busier than the
 * least. Writes only bal->rr_next. */
static int leastconn_pick(struct balancer *bal, const struct lb_pick *p)
{
    int ties[LB_BACKENDS_MAX];
    int n = p->n, nties = 0, best_active = 0, any = 0;

    if (n <= 0)
        return PICK_NONE;
    if (n > LB_BACKENDS_MAX)
        n = LB_BACKENDS_MAX;
    uint64_t k = atomic_fetch_add_explicit(&bal->rr_next, 1,
                                           memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        if (!balance_eligible(p, i))
            continue;
        any = 1;
        int a = atomic_load_explicit(&p->backends[i]->active,
                                     memory_order_relaxed);
        if (p->maxconn > 0 && a >= p->maxconn)
            continue;
        if (nties == 0 || a < best_active) {
            best_active = a;
            nties = 0;
        } else if (a > best_active) {
            continue;
        }
        ties[nties++] = i;
    }
    if (nties > 0)
        return ties[k % (uint64_t)nties];
    return any ? PICK_FULL : PICK_NONE;
}

const struct balancer_ops balance_leastconn_ops = {
    .name = "least-conn",
    .pick = leastconn_pick,
};
