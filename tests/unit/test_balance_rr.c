/* Round-robin: strict rotation across threads, even over what is left when
 * a backend is down, tried backends skipped, and PICK_FULL told apart from
 * PICK_NONE. Also the policy table of balancer.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#define NB 8
#include "balance_fixture.h"

static int setup(void **state)
{
    (void)state;
    return fixture_setup(POLICY_ROUND_ROBIN);
}

static void test_strict_rotation(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    for (int k = 0; k < 9; k++)
        assert_int_equal(balancer_pick(&bal, &p), k % 3);
}

/* With 1 of 0,1,2 down the turns must go 0,2,0,2: a local forward probe
 * would give 0,2,2,0,2,2. */
static void test_down_backend_even(void **state)
{
    struct lb_pick p = fixture_pick(3);
    int count[3] = {0};

    (void)state;
    atomic_store(&be[1].health, BACKEND_DOWN);
    for (int k = 0; k < 12; k++) {
        int i = balancer_pick(&bal, &p);
        assert_int_equal(i, k % 2 == 0 ? 0 : 2);
        count[i]++;
    }
    assert_int_equal(count[0], 6);
    assert_int_equal(count[1], 0);
    assert_int_equal(count[2], 6);
}

/* Two adjacent backends out of five (one down, one disabled): 0,3,4 in
 * turn, each exactly a third. */
static void test_two_out_even(void **state)
{
    struct lb_pick p = fixture_pick(5);
    static const int want[] = {0, 3, 4};
    int count[5] = {0};

    (void)state;
    atomic_store(&be[1].health, BACKEND_DOWN);
    atomic_store(&be[2].admin, ADMIN_DISABLED);
    for (int k = 0; k < 300; k++) {
        int i = balancer_pick(&bal, &p);
        assert_int_equal(i, want[k % 3]);
        count[i]++;
    }
    assert_int_equal(count[0], 100);
    assert_int_equal(count[3], 100);
    assert_int_equal(count[4], 100);
}

/* A draining backend gets no new requests from round-robin. */
static void test_drain_not_picked(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    atomic_store(&be[0].admin, ADMIN_DRAIN);
    for (int k = 0; k < 10; k++)
        assert_int_not_equal(balancer_pick(&bal, &p), 0);
}

static void test_skips_tried(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    p.tried = 1u << 1;
    for (int k = 0; k < 10; k++)
        assert_int_not_equal(balancer_pick(&bal, &p), 1);
    p.tried = (1u << 0) | (1u << 2);
    for (int k = 0; k < 5; k++)
        assert_int_equal(balancer_pick(&bal, &p), 1);
}

/* Bit 63 is a real backend: the tried mask must not be truncated to 32. */
static void test_tried_high_bit(void **state)
{
    static struct lb_backend many[LB_BACKENDS_MAX];
    struct lb_backend *ml[LB_BACKENDS_MAX];
    struct lb_pick p = fixture_pick(LB_BACKENDS_MAX);

    (void)state;
    memset(many, 0, sizeof(many));
    for (int i = 0; i < LB_BACKENDS_MAX; i++) {
        atomic_init(&many[i].health, i >= 32 ? BACKEND_UP : BACKEND_DOWN);
        atomic_init(&many[i].admin, ADMIN_ENABLED);
        ml[i] = &many[i];
    }
    p.backends = ml;
    p.tried = ~UINT64_C(0) & ~(UINT64_C(1) << 63);
    for (int k = 0; k < 5; k++)
        assert_int_equal(balancer_pick(&bal, &p), 63);
    p.tried = ~UINT64_C(0);
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

static void test_all_tried_none(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    p.tried = 0x7;
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
    p.maxconn = 1; /* room or not, tried is tried */
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

static void test_all_down_none(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    for (int i = 0; i < 3; i++)
        atomic_store(&be[i].health, BACKEND_DOWN);
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
    p.maxconn = 1;
    for (int i = 0; i < 3; i++)
        atomic_store(&be[i].active, 5); /* full and down: still NONE */
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
    atomic_store(&be[1].health, BACKEND_UP);
    atomic_store(&be[1].admin, ADMIN_DISABLED);
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

static void test_maxconn_full(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    p.maxconn = 2;
    for (int i = 0; i < 3; i++)
        atomic_store(&be[i].active, 2);
    assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
    atomic_store(&be[2].active, 1); /* one slot frees */
    assert_int_equal(balancer_pick(&bal, &p), 2);
    assert_int_equal(balancer_pick(&bal, &p), 2);
    atomic_store(&be[2].active, 2);
    /* The only backend with room was already tried: wait, not 503. */
    atomic_store(&be[0].active, 0);
    p.tried = 1u << 0;
    assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
    /* Full ones are down: nothing to wait for. */
    atomic_store(&be[1].health, BACKEND_DOWN);
    atomic_store(&be[2].health, BACKEND_DOWN);
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
    /* maxconn 0 means no limit. */
    p.maxconn = 0;
    p.tried = 0;
    atomic_store(&be[0].active, 1000);
    assert_int_equal(balancer_pick(&bal, &p), 0);
}

/* A request that found everything full and re-picks later must not shift
 * the rotation for everyone else. */
static void test_full_keeps_rotation(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    p.maxconn = 1;
    assert_int_equal(balancer_pick(&bal, &p), 0);
    for (int i = 0; i < 3; i++)
        atomic_store(&be[i].active, 1);
    for (int k = 0; k < 4; k++)
        assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
    for (int i = 0; i < 3; i++)
        atomic_store(&be[i].active, 0);
    assert_int_equal(balancer_pick(&bal, &p), 1);
    assert_int_equal(balancer_pick(&bal, &p), 2);
}

static void test_n_zero(void **state)
{
    struct lb_pick p = fixture_pick(0);

    (void)state;
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
    assert_int_equal(balance_rr_next(&bal, &p), PICK_NONE);
    p.backends = NULL; /* an empty list may come without an array */
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

/* The list can grow between picks: the rotation follows the new n. */
static void test_list_grows(void **state)
{
    struct lb_pick p = fixture_pick(2);

    (void)state;
    assert_int_equal(balancer_pick(&bal, &p), 0);
    assert_int_equal(balancer_pick(&bal, &p), 1);
    p.n = 4;
    int seen[4] = {0};
    for (int k = 0; k < 8; k++)
        seen[balancer_pick(&bal, &p)]++;
    for (int i = 0; i < 4; i++)
        assert_int_equal(seen[i], 2);
}

#define THREADS 4
#define PICKS_PER_THREAD 30000

struct rr_worker {
    pthread_t tid;
    int count[3];
    int bad;
};

static void *rr_thread(void *arg)
{
    struct rr_worker *w = arg;
    struct lb_pick p = fixture_pick(3);

    for (int k = 0; k < PICKS_PER_THREAD; k++) {
        int i = balancer_pick(&bal, &p);
        if (i < 0 || i > 2)
            w->bad++;
        else
            w->count[i]++;
    }
    return NULL;
}

/* Four threads share one rotation: every backend gets exactly a third,
 * since each fetch_add hands out one distinct turn. */
static void test_threads_exact(void **state)
{
    struct rr_worker w[THREADS];
    int total[3] = {0};

    (void)state;
    memset(w, 0, sizeof(w));
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&w[t].tid, NULL, rr_thread, &w[t]), 0);
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(w[t].tid, NULL), 0);
        assert_int_equal(w[t].bad, 0);
        for (int i = 0; i < 3; i++)
            total[i] += w[t].count[i];
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(total[i], THREADS * PICKS_PER_THREAD / 3);
    assert_int_equal(atomic_load(&bal.rr_next), THREADS * PICKS_PER_THREAD);
}

static void test_policy_table(void **state)
{
    struct balancer b;

    (void)state;
    balancer_init(&b, POLICY_ROUND_ROBIN);
    assert_ptr_equal(b.ops, &balance_rr_ops);
    assert_string_equal(b.ops->name, "round-robin");
    balancer_init(&b, POLICY_LEAST_CONN);
    assert_string_equal(b.ops->name, "least-conn");
    balancer_init(&b, POLICY_STICKY);
    assert_string_equal(b.ops->name, "sticky");
    balancer_init(&b, POLICY_IP_HASH);
    assert_string_equal(b.ops->name, "ip-hash");
    balancer_init(&b, (enum balancer_policy)42);
    assert_ptr_equal(b.ops, &balance_rr_ops);
    assert_int_equal(atomic_load(&b.rr_next), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_strict_rotation, setup),
        cmocka_unit_test_setup(test_down_backend_even, setup),
        cmocka_unit_test_setup(test_two_out_even, setup),
        cmocka_unit_test_setup(test_drain_not_picked, setup),
        cmocka_unit_test_setup(test_skips_tried, setup),
        cmocka_unit_test_setup(test_tried_high_bit, setup),
        cmocka_unit_test_setup(test_all_tried_none, setup),
        cmocka_unit_test_setup(test_all_down_none, setup),
        cmocka_unit_test_setup(test_maxconn_full, setup),
        cmocka_unit_test_setup(test_full_keeps_rotation, setup),
        cmocka_unit_test_setup(test_n_zero, setup),
        cmocka_unit_test_setup(test_list_grows, setup),
        cmocka_unit_test_setup(test_threads_exact, setup),
        cmocka_unit_test_setup(test_policy_table, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
