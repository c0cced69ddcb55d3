/* Rise/fall hysteresis: only results in a row count, a passive failure
 * takes a backend down at once and restarts its rise count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health.h"

#define OK 1
#define BAD 0

static void test_init(void **state)
{
    struct health_state h = {.up = 7, .streak = 5};

    (void)state;
    health_init(&h, 1);
    assert_int_equal(h.up, 1);
    assert_int_equal(h.streak, 0);
    health_init(&h, 0);
    assert_int_equal(h.up, 0);
    assert_int_equal(h.streak, 0);
    health_init(&h, 42); /* any true value is up, stored as 1 */
    assert_int_equal(h.up, 1);
}

static void test_fall_needs_two(void **state)
{
    struct health_state h;

    (void)state;
    health_init(&h, 1);
    assert_int_equal(health_observe(&h, OK, 2, 2), HEALTH_SAME);
    assert_int_equal(health_observe(&h, BAD, 2, 2), HEALTH_SAME);
    assert_int_equal(h.up, 1);
    assert_int_equal(health_observe(&h, BAD, 2, 2), HEALTH_WENT_DOWN);
    assert_int_equal(h.up, 0);
    assert_int_equal(h.streak, 0);
    /* Further failures while down change nothing. */
    assert_int_equal(health_observe(&h, BAD, 2, 2), HEALTH_SAME);
    assert_int_equal(h.up, 0);
}

static void test_fall_interleaved_resets(void **state)
{
    struct health_state h;

    (void)state;
    health_init(&h, 1);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(health_observe(&h, BAD, 2, 2), HEALTH_SAME);
        assert_int_equal(health_observe(&h, OK, 2, 2), HEALTH_SAME);
        assert_int_equal(h.up, 1);
    }
    assert_int_equal(health_observe(&h, BAD, 2, 2), HEALTH_SAME);
    assert_int_equal(health_observe(&h, BAD, 2, 2), HEALTH_WENT_DOWN);

    /* fall 3: two, a success, two more: still up; a third: down. */
    health_init(&h, 1);
    assert_int_equal(health_observe(&h, BAD, 2, 3), HEALTH_SAME);
    assert_int_equal(health_observe(&h, BAD, 2, 3), HEALTH_SAME);
    assert_int_equal(health_observe(&h, OK, 2, 3), HEALTH_SAME);
    assert_int_equal(health_observe(&h, BAD, 2, 3), HEALTH_SAME);
    assert_int_equal(health_observe(&h, BAD, 2, 3), HEALTH_SAME);
    assert_int_equal(h.up, 1);
    assert_int_equal(health_observe(&h, BAD, 2, 3), HEALTH_WENT_DOWN);
}

static void test_rise(void **state)
{
    struct health_state h;

    (void)state;
    health_init(&h, 0);
    assert_int_equal(health_observe(&h, OK, 3, 2), HEALTH_SAME);
    assert_int_equal(health_observe(&h, OK, 3, 2), HEALTH_SAME);
    assert_int_equal(health_observe(&h, BAD, 3, 2), HEALTH_SAME);
    assert_int_equal(h.streak, 0);
    assert_int_equal(health_observe(&h, OK, 3, 2), HEALTH_SAME);
    assert_int_equal(health_observe(&h, OK, 3, 2), HEALTH_SAME);
    assert_int_equal(h.up, 0);
    assert_int_equal(health_observe(&h, OK, 3, 2), HEALTH_WENT_UP);
    assert_int_equal(h.up, 1);
    assert_int_equal(h.streak, 0);
    /* Up: successes change nothing; one failure (fall 2) does not flap. */
    assert_int_equal(health_observe(&h, OK, 3, 2), HEALTH_SAME);
    assert_int_equal(health_observe(&h, BAD, 3, 2), HEALTH_SAME);
    assert_int_equal(h.up, 1);
}

/* A full cycle: down after fall, back after rise, the counts independent. */
static void test_cycle(void **state)
{
    struct health_state h;

    (void)state;
    health_init(&h, 1);
    assert_int_equal(health_observe(&h, BAD, 2, 1), HEALTH_WENT_DOWN);
    assert_int_equal(health_observe(&h, OK, 2, 1), HEALTH_SAME);
    assert_int_equal(health_observe(&h, OK, 2, 1), HEALTH_WENT_UP);
    assert_int_equal(health_observe(&h, BAD, 2, 1), HEALTH_WENT_DOWN);
}

static void test_zero_counts_as_one(void **state)
{
    struct health_state h;

    (void)state;
    health_init(&h, 1);
    assert_int_equal(health_observe(&h, BAD, 0, 0), HEALTH_WENT_DOWN);
    assert_int_equal(health_observe(&h, OK, 0, 0), HEALTH_WENT_UP);
    assert_int_equal(health_observe(&h, BAD, -5, -1), HEALTH_WENT_DOWN);
    assert_int_equal(health_observe(&h, OK, -5, -1), HEALTH_WENT_UP);
}

static void test_passive(void **state)
{
    struct health_state h;

    (void)state;
    health_init(&h, 1);
    assert_int_equal(health_observe(&h, BAD, 2, 3), HEALTH_SAME);
    assert_int_equal(health_passive_failure(&h), HEALTH_WENT_DOWN);
    assert_int_equal(h.up, 0);
    assert_int_equal(h.streak, 0);
    /* Already down: same, but a rise count under way starts over. */
    assert_int_equal(health_observe(&h, OK, 2, 3), HEALTH_SAME);
    assert_int_equal(h.streak, 1);
    assert_int_equal(health_passive_failure(&h), HEALTH_SAME);
    assert_int_equal(h.up, 0);
    assert_int_equal(h.streak, 0);
    assert_int_equal(health_observe(&h, OK, 2, 3), HEALTH_SAME);
    assert_int_equal(health_observe(&h, OK, 2, 3), HEALTH_WENT_UP);
    /* Back up, the failure streak starts from zero too. */
    assert_int_equal(health_observe(&h, BAD, 2, 2), HEALTH_SAME);
    assert_int_equal(h.up, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_fall_needs_two),
        cmocka_unit_test(test_fall_interleaved_resets),
        cmocka_unit_test(test_rise),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_zero_counts_as_one),
        cmocka_unit_test(test_passive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
