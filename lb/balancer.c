/* The policy table and the hash every policy shares. Adding a policy adds
 * a file and one row below. */
#include "balancer.h"

static const struct balancer_ops *const policy_ops[] = {
    [POLICY_ROUND_ROBIN] = &balance_rr_ops,
    [POLICY_LEAST_CONN] = &balance_leastconn_ops,
    [POLICY_STICKY] = &balance_sticky_ops,
    [POLICY_IP_HASH] = &balance_iphash_ops,
};
#define POLICIES (sizeof(policy_ops) / sizeof(policy_ops[0]))

/* Point bal at policy's ops and start the shared rotation at 0, so the
 * first round-robin pick is backends[0]. A policy outside the enum gets
 * round-robin, the documented default, rather than a NULL ops table.
 * Not thread-safe: call before any worker picks. */
void balancer_init(struct balancer *bal, enum balancer_policy policy)
{
    if ((unsigned)policy >= POLICIES)
        policy = POLICY_ROUND_ROBIN;
    bal->ops = policy_ops[policy];
    atomic_init(&bal->rr_next, 0);
}

/* 32-bit FNV-1a over len bytes of data (NULL allowed when len is 0). Used
 * for client addresses and for lb_backend.name_hash; both sides of the
 * ip-hash score must come from this one function. FNV alone mixes its last
 * bytes poorly, which is why ip-hash runs the result through a finaliser. */
uint32_t balancer_hash(const void *data, size_t len)
{
    const unsigned char *b = data;
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}
