/* Sticky: the cookie's backend keeps its client (also while draining);
 * down, disabled, tried or unknown backends fall back to the rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define NB 3
#include "balance_fixture.h"

static int setup(void **state)
{
    (void)state;
    return fixture_setup(POLICY_STICKY);
}

/* A pick over all NB backends with the cookie naming backend sticky. */
static struct lb_pick mkpick(int sticky)
{
    struct lb_pick p = fixture_pick(NB);

    p.sticky = sticky;
    return p;
}

static void test_keeps_named(void **state)
{
    (void)state;
    assert_string_equal(bal.ops->name, "sticky");
    for (int s = 0; s < NB; s++) {
        struct lb_pick p = mkpick(s);
        for (int k = 0; k < 7; k++)
            assert_int_equal(balancer_pick(&bal, &p), s);
    }
}

/* No cookie, or one naming an index that is not in the list (the list
 * shrank): plain rotation. */
static void test_no_cookie_rotates(void **state)
{
    struct lb_pick p = mkpick(-1);

    (void)state;
    for (int k = 0; k < 6; k++)
        assert_int_equal(balancer_pick(&bal, &p), k % 3);
    p.sticky = NB;
    assert_int_equal(balancer_pick(&bal, &p), 0);
    p.sticky = 99;
    assert_int_equal(balancer_pick(&bal, &p), 1);
    p.sticky = -7;
    assert_int_equal(balancer_pick(&bal, &p), 2);
}

static void test_falls_back_when_down(void **state)
{
    struct lb_pick p = mkpick(1);

    (void)state;
    atomic_store(&be[1].health, BACKEND_DOWN);
    /* The fallback is the rotation over the rest, evenly. */
    for (int k = 0; k < 6; k++)
        assert_int_equal(balancer_pick(&bal, &p), k % 2 == 0 ? 0 : 2);
    atomic_store(&be[1].health, BACKEND_UP);
    assert_int_equal(balancer_pick(&bal, &p), 1);
}

static void test_falls_back_when_disabled(void **state)
{
    struct lb_pick p = mkpick(2);

    (void)state;
    atomic_store(&be[2].admin, ADMIN_DISABLED);
    for (int k = 0; k < 6; k++)
        assert_int_not_equal(balancer_pick(&bal, &p), 2);
}

/* Draining: the backend keeps the clients whose cookie names it, but a
 * client without a cookie never lands there. */
static void test_keeps_when_draining(void **state)
{
    struct lb_pick p = mkpick(0);

    (void)state;
    atomic_store(&be[0].admin, ADMIN_DRAIN);
    for (int k = 0; k < 6; k++)
        assert_int_equal(balancer_pick(&bal, &p), 0);
    p.sticky = -1;
    for (int k = 0; k < 6; k++)
        assert_int_not_equal(balancer_pick(&bal, &p), 0);
    /* Draining and down: gone. */
    atomic_store(&be[0].health, BACKEND_DOWN);
    p.sticky = 0;
    for (int k = 0; k < 6; k++)
        assert_int_not_equal(balancer_pick(&bal, &p), 0);
}

/* A retry after the sticky backend failed goes elsewhere. */
static void test_tried_falls_back(void **state)
{
    struct lb_pick p = mkpick(1);

    (void)state;
    p.tried = 1u << 1;
    for (int k = 0; k < 6; k++)
        assert_int_not_equal(balancer_pick(&bal, &p), 1);
    p.tried = 0x7;
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

/* The named backend at maxconn: the client waits for it (PICK_FULL)
 * instead of being moved to a server that does not hold its session. */
static void test_full_waits(void **state)
{
    struct lb_pick p = mkpick(1);

    (void)state;
    p.maxconn = 2;
    atomic_store(&be[1].active, 2);
    assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
    atomic_store(&be[1].active, 1);
    assert_int_equal(balancer_pick(&bal, &p), 1);
    /* Without a cookie, a full backend is simply skipped. */
    atomic_store(&be[1].active, 2);
    p.sticky = -1;
    for (int k = 0; k < 6; k++)
        assert_int_not_equal(balancer_pick(&bal, &p), 1);
    for (int i = 0; i < NB; i++)
        atomic_store(&be[i].active, 2);
    assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
}

static void test_all_down_none(void **state)
{
    struct lb_pick p = mkpick(0);

    (void)state;
    for (int i = 0; i < NB; i++)
        atomic_store(&be[i].health, BACKEND_DOWN);
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
    p.n = 0;
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_keeps_named, setup),
        cmocka_unit_test_setup(test_no_cookie_rotates, setup),
        cmocka_unit_test_setup(test_falls_back_when_down, setup),
        cmocka_unit_test_setup(test_falls_back_when_disabled, setup),
        cmocka_unit_test_setup(test_keeps_when_draining, setup),
        cmocka_unit_test_setup(test_tried_falls_back, setup),
        cmocka_unit_test_setup(test_full_waits, setup),
        cmocka_unit_test_setup(test_all_down_none, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
