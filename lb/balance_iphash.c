/* IP hash by rendezvous (highest random weight) hashing: every backend
 * scores the client, the highest score wins. Unlike `hash % n`, a backend
 * going down moves only its own clients (each to its second-best), and its
 * return moves exactly those back; adding or removing a backend does the
 * same. Needs no table, so it is correct the moment the list changes. */
#include "balancer.h"

/* murmur3's 32-bit finaliser: a bijection in which every input bit
 * affects every output bit, so scores of one client against different
 * backends look independent, even for FNV hashes of similar names. */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* The score of backend b for a client: higher wins. b->name_hash must be
 * balancer_hash(b->name), so scores follow the backend's name, not its
 * position in the list. */
static uint32_t iphash_score(uint32_t client_hash, const struct lb_backend *b)
{
    return fmix32(client_hash ^ b->name_hash);
}

/* Return the eligible backend (usable, not tried) with the highest score
 * for p->client_hash (ties to the lower index); PICK_NONE if none is
 * eligible or p->n is 0. If that backend is at maxconn, return PICK_FULL
 * rather than the runner-up: affinity is the point of this policy (a
 * cache warmed for this client, a session it holds), so the client waits
 * in the queue for its own backend; spilling over would also move clients
 * back and forth as load rises and falls. A tried backend is skipped, so
 * a retry lands on the client's second choice. Writes nothing. */
static int iphash_pick(struct balancer *bal, const struct lb_pick *p)
{
    int best = PICK_NONE;
    uint32_t best_score = 0;

    (void)bal;
    for (int i = 0; i < p->n; i++) {
        if (!balance_eligible(p, i))
            continue;
        uint32_t s = iphash_score(p->client_hash, p->backends[i]);
        if (best < 0 || s > best_score) {
            best = i;
            best_score = s;
        }
    }
    if (best < 0)
        return PICK_NONE;
    return balance_has_room(p, best) ? best : PICK_FULL;
}

const struct balancer_ops balance_iphash_ops = {
    .name = "ip-hash",
    .pick = iphash_pick,
};
