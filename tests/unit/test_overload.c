/* The switchboard knobs: capacity slots, a bounded FIFO queue, simulated
 * work that does not block the loop, and rejection when the queue is full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "clock.h"
#include "overload.h"

#define NREQ 4

static struct event_base *base;
static struct overload_ticket tickets[NREQ];
static int order[NREQ], nrun;
static int64_t ran_at_ms[NREQ];

/* A request's handler: note when it ran, answer (release) at once. */
static void on_run(void *arg)
{
    int i = (int)(intptr_t)arg;

    order[nrun++] = i;
    ran_at_ms[i] = clock_mono_ms();
    overload_release(&tickets[i]);
    if (nrun == 3) event_base_loopbreak(base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void run_loop_for(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *deadline = evtimer_new(base, on_deadline, base);

    evtimer_add(deadline, &tv);
    event_base_dispatch(base);
    event_free(deadline);
}

static void test_capacity_queue_reject(void **state)
{
    struct overload *ov;
    struct overload_stats st;
    int64_t start;

    (void)state;
    base = event_base_new();
    ov = overload_new(base, 1, 2, 50);
    nrun = 0;
    start = clock_mono_ms();
    for (int i = 0; i < 3; i++)
        assert_int_equal(overload_admit(ov, &tickets[i], on_run,
                                        (void *)(intptr_t)i),
                         OVERLOAD_WAIT);
    assert_int_equal(overload_admit(ov, &tickets[3], on_run, (void *)3),
                     OVERLOAD_REJECTED);
    overload_get_stats(ov, &st);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(nrun, 0); /* nothing runs inside admit */

    run_loop_for(2000);
    assert_int_equal(nrun, 3);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
    /* One at a time, 50 ms each: the third finishes after ~150 ms. */
    assert_true(ran_at_ms[0] - start >= 45);
    assert_true(ran_at_ms[2] - start >= 140);
    overload_get_stats(ov, &st);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.admitted, 3);
    overload_free(ov);
    event_base_free(base);
}

static void test_unlimited_goes_at_once(void **state)
{
    struct overload *ov;
    struct overload_stats st;

    (void)state;
    base = event_base_new();
    ov = overload_new(base, 0, 0, 0);
    for (int i = 0; i < NREQ; i++)
        assert_int_equal(overload_admit(ov, &tickets[i], on_run, NULL),
                         OVERLOAD_GO);
    overload_get_stats(ov, &st);
    assert_int_equal(st.active, NREQ);
    for (int i = 0; i < NREQ; i++) overload_release(&tickets[i]);
    overload_get_stats(ov, &st);
    assert_int_equal(st.active, 0);
    overload_free(ov);
    event_base_free(base);
}

static void test_queued_request_leaves(void **state)
{
    struct overload *ov;
    struct overload_stats st;

    (void)state;
    base = event_base_new();
    ov = overload_new(base, 1, 1, 0);
    assert_int_equal(overload_admit(ov, &tickets[0], on_run, (void *)0),
                     OVERLOAD_GO);
    assert_int_equal(overload_admit(ov, &tickets[1], on_run, (void *)1),
                     OVERLOAD_WAIT);
    assert_int_equal(overload_admit(ov, &tickets[2], on_run, (void *)2),
                     OVERLOAD_REJECTED);
    overload_release(&tickets[1]); /* gave up while queued */
    overload_get_stats(ov, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.active, 1);
    assert_int_equal(overload_admit(ov, &tickets[2], on_run, (void *)2),
                     OVERLOAD_WAIT);
    nrun = 0;
    overload_release(&tickets[0]); /* frees the slot: ticket 2 starts */
    run_loop_for(200);
    assert_int_equal(nrun, 1);
    assert_int_equal(order[0], 2);
    overload_free(ov);
    event_base_free(base);
}

static int gone_flags[NREQ];

static int is_gone(void *arg)
{
    return gone_flags[(int)(intptr_t)arg];
}

/* Runs that finish their own ticket: an abandoned one never held a slot. */
static void on_run_release(void *arg)
{
    int i = (int)(intptr_t)arg;

    order[nrun++] = overload_abandoned(&tickets[i]) ? -i - 1 : i;
    overload_release(&tickets[i]);
}

static void test_clients_gone_from_the_queue_are_skipped(void **state)
{
    struct overload *ov;
    struct overload_stats st;

    (void)state;
    base = event_base_new();
    ov = overload_new(base, 1, 3, 0);
    overload_set_gone_check(ov, is_gone);
    memset(gone_flags, 0, sizeof(gone_flags));
    nrun = 0;
    assert_int_equal(overload_admit(ov, &tickets[0], on_run_release, (void *)0),
                     OVERLOAD_GO);
    for (int i = 1; i < 4; i++)
        assert_int_equal(overload_admit(ov, &tickets[i], on_run_release,
                                        (void *)(intptr_t)i),
                         OVERLOAD_WAIT);
    gone_flags[1] = gone_flags[2] = 1; /* two hung up while waiting */
    overload_release(&tickets[0]);
    run_loop_for(200);
    /* 1 and 2 ran only to clean up (abandoned), 3 got the slot. */
    assert_int_equal(nrun, 3);
    overload_get_stats(ov, &st);
    assert_int_equal(st.abandoned, 2);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.queued, 0);
    int seen3 = 0, abandoned = 0;
    for (int k = 0; k < nrun; k++) {
        if (order[k] == 3) seen3 = 1;
        if (order[k] < 0) abandoned++;
    }
    assert_true(seen3);
    assert_int_equal(abandoned, 2);
    overload_free(ov);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_queue_reject),
        cmocka_unit_test(test_unlimited_goes_at_once),
        cmocka_unit_test(test_queued_request_leaves),
        cmocka_unit_test(test_clients_gone_from_the_queue_are_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
