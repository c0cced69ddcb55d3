/* Round-robin: one rotation shared by every worker thread, so the order
 * of picks is strict across threads (0, 1, 2, 0, 1, 2, ...). */
#include "balancer.h"

/* Return the next backend in the shared rotation that is eligible (usable,
 * not tried) and has room; PICK_FULL if eligible backends exist but all
 * are at maxconn; PICK_NONE if none is eligible or p->n is 0.
 *
 * Why a miss advances the shared counter instead of probing forward
 * locally: with 0, 1, 2 and 1 down, probing would send the turn that
 * belonged to 1 on to 2, so 2 would get twice 0's share (0, 2, 2, 0, 2,
 * 2). Taking a fresh turn per miss keeps the rotation over the rest even
 * (0, 2, 0, 2). Other threads take turns meanwhile, so n misses in a row
 * do not prove every index was seen: after 2n turns we stop and let one
 * full scan decide. When nothing has room, those 2n turns are a multiple of
 * n, so a queued request re-picking does not shift the rotation.
 * Writes only bal->rr_next (atomically); safe from any thread. */
int balance_rr_next(struct balancer *bal, const struct lb_pick *p)
{
    uint64_t n = (uint64_t)(p->n > 0 ? p->n : 0);
    uint64_t k = 0;

    if (n == 0)
        return PICK_NONE;
    for (uint64_t t = 0; t < 2 * n; t++) {
        k = atomic_fetch_add_explicit(&bal->rr_next, 1, memory_order_relaxed);
        int i = (int)(k % n);
        if (balance_eligible(p, i) && balance_has_room(p, i))
            return i;
    }
    /* The state may have changed under us (a backend came up, a slot
     * freed): one last scan from where the rotation stands. */
    for (uint64_t j = 0; j < n; j++) {
        int i = (int)((k + 1 + j) % n);
        if (balance_eligible(p, i) && balance_has_room(p, i))
            return i;
    }
    return balance_none_or_full(p);
}

/* The round-robin policy is the rotation itself. */
static int rr_pick(struct balancer *bal, const struct lb_pick *p)
{
    return balance_rr_next(bal, p);
}

const struct balancer_ops balance_rr_ops = {
    .name = "round-robin",
    .pick = rr_pick,
};
