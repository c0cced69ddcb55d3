/* A latency histogram with log-linear buckets, in the manner of
 * HdrHistogram: exact below 256 us, then 128 buckets per power of two, so
 * every bucket is within 0.8% of the values it holds. Fixed size (about
 * 20 KB), no allocation, no sorting of samples: recording is O(1) and a
 * percentile is one walk over the buckets. */
#ifndef SB_CLIENT_HIST_H
#define SB_CLIENT_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 8                      /* exact below 2^8 us */
#define HIST_SUB (1 << HIST_SUB_BITS)        /* 256 */
#define HIST_HALF (HIST_SUB / 2)             /* buckets per power of two */
#define HIST_MSB_MAX 25                      /* 2^26 us > 60 s */
#define HIST_MAX_US 60000000LL               /* larger values count as 60 s */
#define HIST_BUCKETS (HIST_SUB + (HIST_MSB_MAX - HIST_SUB_BITS + 1) * HIST_HALF)

struct hist {
    uint64_t count;
    int64_t min_us, max_us; /* exact, over what was recorded */
    uint64_t buckets[HIST_BUCKETS];
};

/* Empty the histogram. */
void hist_reset(struct hist *h);

/* Record one value in microseconds. Negative values count as 0; values
 * above HIST_MAX_US land in the top bucket (max_us stays exact). */
void hist_record(struct hist *h, int64_t us);

/* The value at percentile q (0 < q <= 100) in microseconds: the middle of
 * the bucket that holds the q-th sample, clamped to the exact min and max;
 * q = 100 is the exact max. Returns -1 when the histogram is empty. */
int64_t hist_percentile(const struct hist *h, double q);

/* Bucket index of a value, and the lowest/highest value a bucket holds
 * (exposed for the unit tests). */
int hist_index(int64_t us);
int64_t hist_bucket_low(int idx);
int64_t hist_bucket_high(int idx);

#endif
