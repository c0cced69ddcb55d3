/* pwhash: argon2id hash/verify, and the worker pool delivering results on a
 * real libevent loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "pwhash.h"

#define LOOP_TIMEOUT_S 10 /* generous: valgrind makes argon2 ~50x slower */

static void hash_then_verify(void **state)
{
    (void)state;
    char h1[PWHASH_STR_MAX], h2[PWHASH_STR_MAX];
    assert_int_equal(pwhash_hash("switchboard", h1), 0);
    assert_int_equal(pwhash_hash("switchboard", h2), 0);
    assert_int_equal(strncmp(h1, "$argon2id$", 10), 0);
    assert_string_not_equal(h1, h2); /* each hash has its own salt */
    assert_int_equal(pwhash_verify(h1, "switchboard"), 1);
    assert_int_equal(pwhash_verify(h2, "switchboard"), 1);
    assert_int_equal(pwhash_verify(h1, "switchboarD"), 0);
    assert_int_equal(pwhash_verify(h1, ""), 0);
}

static void verify_rejects_bad_hashes(void **state)
{
    (void)state;
    char h[PWHASH_STR_MAX];
    assert_int_equal(pwhash_hash("switchboard", h), 0);
    h[strlen(h) - 3] ^= 1; /* flip a bit of the digest */
    assert_int_equal(pwhash_verify(h, "switchboard"), 0);
    assert_int_equal(pwhash_verify("", "switchboard"), 0);
    assert_int_equal(pwhash_verify("$argon2id$nonsense", "switchboard"), 0);
    char long_hash[PWHASH_STR_MAX * 2];
    memset(long_hash, 'a', sizeof long_hash - 1);
    long_hash[sizeof long_hash - 1] = '\0';
    assert_int_equal(pwhash_verify(long_hash, "switchboard"), 0);
    assert_int_equal(pwhash_verify(NULL, "switchboard"), 0);
}

/* ---- pool -------------------------------------------------------------- */

struct result {
    int called; /* how many times the callback ran: must end at 1 */
    int match;
};

static int delivered;

static void on_done(int match, void *arg)
{
    struct result *r = arg;
    r->called++;
    r->match = match;
    delivered++;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Run base until `want` callbacks have been delivered in total, or the
 * timeout fires. Returns 0 if they all came. */
static int run_until(struct event_base *base, int want)
{
    int timed_out = 0;
    struct timeval tv = {LOOP_TIMEOUT_S, 0};
    struct event *t = evtimer_new(base, on_timeout, &timed_out);
    assert_non_null(t);
    evtimer_add(t, &tv);
    while (delivered < want && !timed_out) event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return delivered >= want ? 0 : -1;
}

static void pool_delivers_on_loop(void **state)
{
    (void)state;
    char good[PWHASH_STR_MAX], other[PWHASH_STR_MAX];
    assert_int_equal(pwhash_hash("switchboard", good), 0);
    assert_int_equal(pwhash_hash("hunter2", other), 0);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct pwhash_pool *pool = pwhash_pool_new(base, 2, 8);
    assert_non_null(pool);

    struct result r[4] = {{0, -1}, {0, -1}, {0, -1}, {0, -1}};
    delivered = 0;
    assert_int_equal(
        pwhash_pool_verify(pool, good, "switchboard", on_done, &r[0]), 0);
    assert_int_equal(pwhash_pool_verify(pool, good, "wrong", on_done, &r[1]),
                     0);
    assert_int_equal(pwhash_pool_verify(pool, other, "hunter2", on_done, &r[2]),
                     0);
    assert_int_equal(pwhash_pool_verify(pool, "garbage", "x", on_done, &r[3]),
                     0);
    assert_int_equal(delivered, 0); /* never before verify returns */

    assert_int_equal(run_until(base, 4), 0);
    assert_int_equal(r[0].called, 1);
    assert_int_equal(r[0].match, 1);
    assert_int_equal(r[1].called, 1);
    assert_int_equal(r[1].match, 0);
    assert_int_equal(r[2].called, 1);
    assert_int_equal(r[2].match, 1);
    assert_int_equal(r[3].called, 1);
    assert_int_equal(r[3].match, 0);

    pwhash_pool_free(pool);
    for (int i = 0; i < 4; i++) assert_int_equal(r[i].called, 1);
    event_base_free(base);
}

static void pool_bound_rejects_when_full(void **state)
{
    (void)state;
    char good[PWHASH_STR_MAX];
    assert_int_equal(pwhash_hash("switchboard", good), 0);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    enum { MAX_PENDING = 3 };
    struct pwhash_pool *pool = pwhash_pool_new(base, 1, MAX_PENDING);
    assert_non_null(pool);

    struct result r[MAX_PENDING + 2];
    memset(r, 0, sizeof r);
    delivered = 0;
    /* Jobs count until their callback has run, and callbacks only run in
     * the loop, which is not running: exactly MAX_PENDING fit. */
    for (int i = 0; i < MAX_PENDING; i++)
        assert_int_equal(
            pwhash_pool_verify(pool, good, "switchboard", on_done, &r[i]), 0);
    assert_int_equal(
        pwhash_pool_verify(pool, good, "switchboard", on_done, &r[MAX_PENDING]),
        -1);
    assert_int_equal(run_until(base, MAX_PENDING), 0);
    assert_int_equal(r[MAX_PENDING].called, 0); /* the rejected one: never */
    for (int i = 0; i < MAX_PENDING; i++) assert_int_equal(r[i].match, 1);

    /* Delivered jobs free their slots. */
    assert_int_equal(pwhash_pool_verify(pool, good, "switchboard", on_done,
                                        &r[MAX_PENDING + 1]),
                     0);
    assert_int_equal(run_until(base, MAX_PENDING + 1), 0);
    assert_int_equal(r[MAX_PENDING + 1].match, 1);

    pwhash_pool_free(pool);
    event_base_free(base);
}

/* Queue six good verifications, wait settle_ms without running the loop,
 * free the pool: every callback runs once, from the free, with match 0. */
static void free_with_pending(int settle_ms)
{
    char good[PWHASH_STR_MAX];
    assert_int_equal(pwhash_hash("switchboard", good), 0);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct pwhash_pool *pool = pwhash_pool_new(base, 1, 16);
    assert_non_null(pool);

    struct result r[6];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 6; i++) r[i].match = -1;
    delivered = 0;
    for (int i = 0; i < 6; i++)
        assert_int_equal(
            pwhash_pool_verify(pool, good, "switchboard", on_done, &r[i]), 0);
    if (settle_ms) {
        struct timespec ts = {settle_ms / 1000, (settle_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(delivered, 0);
    pwhash_pool_free(pool);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].called, 1);
        assert_int_equal(r[i].match, 0);
    }
    /* The pool's event is gone from the base: nothing more is delivered. */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(delivered, 6);
    event_base_free(base);
}

static void pool_free_answers_queued(void **state)
{
    (void)state;
    free_with_pending(0); /* most jobs still waiting for the worker */
}

static void pool_free_answers_finished(void **state)
{
    (void)state;
    free_with_pending(300); /* most jobs hashed, waiting for the loop */
}

/* A callback that queues the next verification: the pool must not hold its
 * lock while calling back. */
struct chain {
    struct pwhash_pool *pool;
    const char *hash;
    int remaining, matches;
};

static void on_chain(int match, void *arg)
{
    struct chain *c = arg;
    c->matches += match;
    delivered++;
    if (--c->remaining > 0)
        assert_int_equal(
            pwhash_pool_verify(c->pool, c->hash, "switchboard", on_chain, c),
            0);
}

static void pool_callback_may_queue_more(void **state)
{
    (void)state;
    char good[PWHASH_STR_MAX];
    assert_int_equal(pwhash_hash("switchboard", good), 0);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct pwhash_pool *pool = pwhash_pool_new(base, 1, 1);
    assert_non_null(pool);
    struct chain c = {pool, good, 3, 0};
    delivered = 0;
    assert_int_equal(
        pwhash_pool_verify(pool, good, "switchboard", on_chain, &c), 0);
    assert_int_equal(run_until(base, 3), 0);
    assert_int_equal(c.matches, 3);
    pwhash_pool_free(pool);
    event_base_free(base);
}

static void pool_bad_arguments(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_null(pwhash_pool_new(NULL, 1, 1));
    assert_null(pwhash_pool_new(base, 0, 1));
    assert_null(pwhash_pool_new(base, 1, 0));
    pwhash_pool_free(NULL);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_then_verify),
        cmocka_unit_test(verify_rejects_bad_hashes),
        cmocka_unit_test(pool_delivers_on_loop),
        cmocka_unit_test(pool_bound_rejects_when_full),
        cmocka_unit_test(pool_free_answers_queued),
        cmocka_unit_test(pool_free_answers_finished),
        cmocka_unit_test(pool_callback_may_queue_more),
        cmocka_unit_test(pool_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
