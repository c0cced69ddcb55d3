/* client/hist.c: the log-linear latency histogram. sb-client has no core
 * library, so the module's source is compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../client/hist.c"

/* Every value maps into a bucket whose bounds hold it, buckets are
 * contiguous, and no bucket is wider than 1/128 of its low end. */
static void test_buckets_cover_the_range(void **state)
{
    (void)state;
    assert_int_equal(hist_index(0), 0);
    assert_int_equal(hist_index(255), 255);
    assert_int_equal(hist_index(256), 256);
    assert_int_equal(hist_index(HIST_MAX_US), hist_index(HIST_MAX_US * 10));
    assert_true(hist_index(HIST_MAX_US) < HIST_BUCKETS);
    assert_int_equal(hist_index(-5), 0);
    /* Buckets past the one holding HIST_MAX_US stay unused (clamped). */
    for (int i = 1; i <= hist_index(HIST_MAX_US); i++) {
        int64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
        assert_true(lo == hist_bucket_high(i - 1) + 1);
        assert_true(hi >= lo);
        assert_int_equal(hist_index(lo), i);
        if (hi <= HIST_MAX_US) assert_int_equal(hist_index(hi), i);
        if (lo >= HIST_SUB) assert_true((hi - lo + 1) * 128 <= lo);
    }
    assert_true(hist_bucket_high(HIST_BUCKETS - 1) >= HIST_MAX_US);
}

static void test_empty_and_single(void **state)
{
    struct hist *h = malloc(sizeof(*h));

    (void)state;
    hist_reset(h);
    assert_int_equal(hist_percentile(h, 50), -1);
    hist_record(h, 1234);
    assert_int_equal(hist_percentile(h, 50), 1234); /* clamped to min/max */
    assert_int_equal(hist_percentile(h, 99), 1234);
    assert_int_equal(hist_percentile(h, 100), 1234);
    free(h);
}

/* 1..100000 us uniformly: each percentile within 1% of the exact one. */
static void test_percentiles_within_one_percent(void **state)
{
    struct hist *h = malloc(sizeof(*h));
    const double qs[] = {1, 10, 50, 90, 99, 99.9};

    (void)state;
    hist_reset(h);
    for (int64_t v = 1; v <= 100000; v++) hist_record(h, v);
    assert_int_equal(h->count, 100000);
    assert_int_equal(h->min_us, 1);
    assert_int_equal(h->max_us, 100000);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        double exact = qs[i] * 1000.0, got = (double)hist_percentile(h, qs[i]);
        assert_true(got >= exact * 0.99 && got <= exact * 1.01);
    }
    assert_int_equal(hist_percentile(h, 100), 100000);
    free(h);
}

/* A slow tail shows in p99 and max, not in p50. Values past 60 s keep an
 * exact max. */
static void test_tail_and_overflow(void **state)
{
    struct hist *h = malloc(sizeof(*h));

    (void)state;
    hist_reset(h);
    for (int i = 0; i < 980; i++) hist_record(h, 1000);
    for (int i = 0; i < 20; i++) hist_record(h, 500000);
    assert_true(hist_percentile(h, 50) <= 1010 && hist_percentile(h, 50) >= 990);
    assert_true(hist_percentile(h, 99) >= 495000);
    hist_record(h, 90 * 1000000LL);
    assert_int_equal(hist_percentile(h, 100), 90 * 1000000LL);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_cover_the_range),
        cmocka_unit_test(test_empty_and_single),
        cmocka_unit_test(test_percentiles_within_one_percent),
        cmocka_unit_test(test_tail_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
