/* Least-conn: the fewest requests in progress wins, equal loads spread by
 * the shared rotation instead of piling onto backends[0]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define NB 4
#include "balance_fixture.h"

static int setup(void **state)
{
    (void)state;
    return fixture_setup(POLICY_LEAST_CONN);
}

static void set_active(int a0, int a1, int a2)
{
    atomic_store(&be[0].active, a0);
    atomic_store(&be[1].active, a1);
    atomic_store(&be[2].active, a2);
}

/* Whatever the rotation says, the least busy wins: the minimum sits at
 * each position in turn, and several picks start the scan everywhere. */
static void test_picks_min(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    assert_string_equal(bal.ops->name, "least-conn");
    set_active(5, 2, 7);
    for (int k = 0; k < 6; k++)
        assert_int_equal(balancer_pick(&bal, &p), 1);
    set_active(1, 9, 4);
    for (int k = 0; k < 6; k++)
        assert_int_equal(balancer_pick(&bal, &p), 0);
    set_active(8, 3, 2);
    for (int k = 0; k < 6; k++)
        assert_int_equal(balancer_pick(&bal, &p), 2);
}

/* The proxy increments active after each pick: simulated here, the load
 * stays level (never more than one apart). */
static void test_follows_load(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    set_active(4, 0, 2);
    for (int k = 0; k < 30; k++) {
        int i = balancer_pick(&bal, &p);
        assert_in_range(i, 0, 2);
        atomic_fetch_add(&be[i].active, 1);
    }
    /* 36 in total: 12 each. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&be[i].active), 12);
}

/* Equal loads spread: three picks hit three backends, 300 picks 100 each;
 * a tied pair behind a busier backend shares exactly half and half. */
static void test_ties_spread(void **state)
{
    struct lb_pick p = fixture_pick(3);
    int seen[3] = {0};

    (void)state;
    for (int k = 0; k < 3; k++)
        seen[balancer_pick(&bal, &p)]++;
    for (int i = 0; i < 3; i++)
        assert_int_equal(seen[i], 1);
    memset(seen, 0, sizeof(seen));
    for (int k = 0; k < 300; k++)
        seen[balancer_pick(&bal, &p)]++;
    for (int i = 0; i < 3; i++)
        assert_int_equal(seen[i], 100);

    set_active(3, 1, 1);
    memset(seen, 0, sizeof(seen));
    for (int k = 0; k < 100; k++)
        seen[balancer_pick(&bal, &p)]++;
    assert_int_equal(seen[0], 0);
    assert_int_equal(seen[1], 50); /* not 67/33: see leastconn_pick */
    assert_int_equal(seen[2], 50);
}

/* Down, disabled, draining and tried backends are not candidates, however
 * idle they are. */
static void test_skips_ineligible(void **state)
{
    struct lb_pick p = fixture_pick(4);

    (void)state;
    set_active(0, 0, 0);
    atomic_store(&be[3].active, 9);
    atomic_store(&be[0].health, BACKEND_DOWN);
    atomic_store(&be[1].admin, ADMIN_DISABLED);
    atomic_store(&be[2].admin, ADMIN_DRAIN);
    for (int k = 0; k < 8; k++)
        assert_int_equal(balancer_pick(&bal, &p), 3);
    atomic_store(&be[2].admin, ADMIN_ENABLED);
    p.tried = 1u << 2;
    for (int k = 0; k < 8; k++)
        assert_int_equal(balancer_pick(&bal, &p), 3);
    p.tried |= 1u << 3;
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

static void test_full_and_none(void **state)
{
    struct lb_pick p = fixture_pick(3);

    (void)state;
    p.maxconn = 3;
    set_active(3, 3, 3);
    assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
    set_active(3, 2, 3);
    assert_int_equal(balancer_pick(&bal, &p), 1);
    /* Over the limit (the accepted overshoot) counts as full too. */
    set_active(4, 5, 3);
    assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
    for (int i = 0; i < 3; i++)
        atomic_store(&be[i].health, BACKEND_DOWN);
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
    p.n = 0;
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_picks_min, setup),
        cmocka_unit_test_setup(test_follows_load, setup),
        cmocka_unit_test_setup(test_ties_spread, setup),
        cmocka_unit_test_setup(test_skips_ineligible, setup),
        cmocka_unit_test_setup(test_full_and_none, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
