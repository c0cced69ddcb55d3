/* Log-linear latency histogram: constant memory, ~1% precision. */
#include "hist.h"

#include <string.h>

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

/* Position of the highest set bit of v (v > 0). */
static int msb64(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

int hist_index(int64_t us)
{
    int shift;

    if (us < 0) us = 0;
    if (us > HIST_MAX_US) us = HIST_MAX_US;
    if (us < HIST_SUB) return (int)us;
    /* Keep HIST_SUB_BITS significant bits: the top bit is always 1, so
     * (us >> shift) lies in [HIST_HALF, HIST_SUB). */
    shift = msb64((uint64_t)us) - (HIST_SUB_BITS - 1);
    return HIST_SUB + (shift - 1) * HIST_HALF +
           (int)((us >> shift) - HIST_HALF);
}

int64_t hist_bucket_low(int idx)
{
    int k, shift;

    if (idx < HIST_SUB) return idx;
    k = idx - HIST_SUB;
    shift = k / HIST_HALF + 1;
    return (int64_t)(k % HIST_HALF + HIST_HALF) << shift;
}

int64_t hist_bucket_high(int idx)
{
    if (idx < HIST_SUB) return idx;
    return hist_bucket_low(idx) +
           ((int64_t)1 << ((idx - HIST_SUB) / HIST_HALF + 1)) - 1;
}

void hist_record(struct hist *h, int64_t us)
{
    if (us < 0) us = 0;
    if (h->count == 0 || us < h->min_us) h->min_us = us;
    if (h->count == 0 || us > h->max_us) h->max_us = us;
    h->count++;
    h->buckets[hist_index(us)]++;
}

int64_t hist_percentile(const struct hist *h, double q)
{
    uint64_t rank, seen = 0;
    double want;
    int64_t v;

    if (h->count == 0) return -1;
    if (q >= 100.0) return h->max_us;
    if (q < 0.0) q = 0.0;
    /* The rank of the q-th sample, 1-based: ceil(q% of count), at least 1. */
    want = q / 100.0 * (double)h->count;
    rank = (uint64_t)want;
    if ((double)rank < want) rank++;
    if (rank < 1) rank = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            v = (hist_bucket_low(i) + hist_bucket_high(i)) / 2;
            if (v < h->min_us) v = h->min_us;
            if (v > h->max_us) v = h->max_us;
            return v;
        }
    }
    return h->max_us;
}
