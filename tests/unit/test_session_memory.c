/* The memory session store: sessions with a TTL on a fake clock, the bound
 * on sessions (least recently used goes first), like-once sets and their
 * bounds, and session ids. Every callback of this store runs inline, so each
 * check follows its call directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session_store.h"

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now;
}

/* What the last session callback said. calls counts every callback, so a
 * missing or doubled answer shows. */
struct sess_result {
    int calls;
    enum store_status st;
    char sid[SESSION_ID_LEN + 1];
    int64_t user_id;
};

static void on_session(enum store_status st, const char *sid, int64_t uid,
                       void *arg)
{
    struct sess_result *r = arg;

    r->calls++;
    r->st = st;
    r->user_id = uid;
    if (sid) snprintf(r->sid, sizeof(r->sid), "%s", sid);
    else r->sid[0] = '\0';
}

struct like_result {
    int calls;
    enum store_status st;
    int added;
    int64_t count;
};

static void on_like(enum store_status st, int added, int64_t count, void *arg)
{
    struct like_result *r = arg;

    r->calls++;
    r->st = st;
    r->added = added;
    r->count = count;
}

struct counts_result {
    int calls;
    enum store_status st;
    int n;
    int64_t counts[SESSION_LIKE_BATCH_MAX];
    unsigned char liked[SESSION_LIKE_BATCH_MAX];
};

static void on_counts(enum store_status st, const int64_t *counts,
                      const unsigned char *liked, int n, void *arg)
{
    struct counts_result *r = arg;

    r->calls++;
    r->st = st;
    r->n = n;
    for (int i = 0; i < n; i++) {
        r->counts[i] = counts[i];
        r->liked[i] = liked[i];
    }
}

/* A store on a fake clock starting at 1000 s. */
static struct session_store *new_store(struct fake_clock *clk, int ttl,
                                       long max_sessions, long max_posts,
                                       long max_likers)
{
    struct session_memory_opts o = {
        .ttl_s = ttl,
        .max_sessions = max_sessions,
        .max_liked_posts = max_posts,
        .max_likes_per_post = max_likers,
        .now_s = fake_now,
        .clock_arg = clk,
    };
    struct session_store *s;

    clk->now = 1000;
    s = session_memory_new(&o);
    assert_non_null(s);
    assert_string_equal(s->ops->name, "memory");
    return s;
}

/* Create a session for uid; returns it in r (sid filled). */
static void create(struct session_store *s, int64_t uid, struct sess_result *r)
{
    memset(r, 0, sizeof(*r));
    s->ops->session_create(s, uid, on_session, r);
    assert_int_equal(r->calls, 1);
    assert_int_equal(r->st, STORE_OK);
    assert_int_equal(r->user_id, uid);
    assert_int_equal(strlen(r->sid), SESSION_ID_LEN);
}

/* Look sid up; returns the status, and the user in *uid. */
static enum store_status get(struct session_store *s, const char *sid,
                             int64_t *uid)
{
    struct sess_result r = {0};

    s->ops->session_get(s, sid, on_session, &r);
    assert_int_equal(r.calls, 1);
    if (r.st == STORE_OK) assert_string_equal(r.sid, sid);
    else assert_int_equal(r.user_id, 0);
    if (uid) *uid = r.user_id;
    return r.st;
}

static struct like_result like(struct session_store *s, int64_t post,
                               int64_t uid)
{
    struct like_result r = {0};

    s->ops->like(s, post, uid, on_like, &r);
    assert_int_equal(r.calls, 1);
    return r;
}

static void test_create_get_delete(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 0);
    struct sess_result a, b, d = {0};
    int64_t uid = 0;

    (void)state;
    assert_int_equal(s->ops->is_up(s), 1);
    create(s, 42, &a);
    create(s, 43, &b);
    assert_string_not_equal(a.sid, b.sid);
    assert_int_equal(get(s, a.sid, &uid), STORE_OK);
    assert_int_equal(uid, 42);
    assert_int_equal(get(s, b.sid, &uid), STORE_OK);
    assert_int_equal(uid, 43);

    s->ops->session_delete(s, a.sid, on_session, &d);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.st, STORE_OK);
    assert_int_equal(get(s, a.sid, NULL), STORE_NOT_FOUND);
    assert_int_equal(get(s, b.sid, &uid), STORE_OK); /* the other lives */

    /* Deleting what is not there is fine, twice or never made. */
    s->ops->session_delete(s, a.sid, on_session, &d);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.st, STORE_OK);
    s->ops->free(s);
}

static void test_get_unknown(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 0);
    struct sess_result a;
    char other[SESSION_ID_LEN + 1];

    (void)state;
    create(s, 1, &a);
    assert_int_equal(session_new_id(other), 0);
    assert_int_equal(get(s, other, NULL), STORE_NOT_FOUND);
    /* Cookies are user input: junk is simply not found. */
    assert_int_equal(get(s, "", NULL), STORE_NOT_FOUND);
    assert_int_equal(get(s, "not-a-session", NULL), STORE_NOT_FOUND);
    a.sid[0] = 'G';
    assert_int_equal(get(s, a.sid, NULL), STORE_NOT_FOUND);
    assert_int_equal(get(s, NULL, NULL), STORE_NOT_FOUND);
    s->ops->free(s);
}

static void test_ttl_refreshed_on_get(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 100, 0, 0, 0);
    struct sess_result a, b;

    (void)state;
    create(s, 7, &a);
    create(s, 8, &b);
    clk.now += 99; /* ttl - 1 since creation: alive, and now refreshed */
    assert_int_equal(get(s, a.sid, NULL), STORE_OK);
    clk.now += 99; /* ttl - 1 since that use: still alive */
    assert_int_equal(get(s, a.sid, NULL), STORE_OK);
    /* b was never used: 198 s > ttl, gone. */
    assert_int_equal(get(s, b.sid, NULL), STORE_NOT_FOUND);
    clk.now += 101; /* ttl + 1 since the last use */
    assert_int_equal(get(s, a.sid, NULL), STORE_NOT_FOUND);
    s->ops->free(s);
}

static void test_ttl_expires_exactly(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 100, 0, 0, 0);
    struct sess_result a;

    (void)state;
    create(s, 7, &a);
    clk.now += 100; /* like Redis EX 100: gone at 100 s */
    assert_int_equal(get(s, a.sid, NULL), STORE_NOT_FOUND);
    s->ops->free(s);
}

static void test_bound_drops_oldest(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 3, 0, 0);
    struct sess_result r[4];
    int64_t uid;

    (void)state;
    for (int i = 0; i < 4; i++) create(s, 100 + i, &r[i]);
    assert_int_equal(get(s, r[0].sid, NULL), STORE_NOT_FOUND);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(get(s, r[i].sid, &uid), STORE_OK);
        assert_int_equal(uid, 100 + i);
    }
    s->ops->free(s);
}

static void test_bound_drops_least_recently_used(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 3, 0, 0);
    struct sess_result r[4];

    (void)state;
    for (int i = 0; i < 3; i++) create(s, 100 + i, &r[i]);
    assert_int_equal(get(s, r[0].sid, NULL), STORE_OK); /* 1 is now oldest */
    create(s, 103, &r[3]);
    assert_int_equal(get(s, r[1].sid, NULL), STORE_NOT_FOUND);
    assert_int_equal(get(s, r[0].sid, NULL), STORE_OK);
    assert_int_equal(get(s, r[2].sid, NULL), STORE_OK);
    assert_int_equal(get(s, r[3].sid, NULL), STORE_OK);
    s->ops->free(s);
}

static void test_many_sessions(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 1000, 0, 0);
    static struct sess_result r[3000];

    (void)state;
    for (int i = 0; i < 3000; i++) create(s, i + 1, &r[i]);
    for (int i = 0; i < 3000; i++) {
        int64_t uid = 0;
        enum store_status st = get(s, r[i].sid, &uid);

        assert_int_equal(st, i < 2000 ? STORE_NOT_FOUND : STORE_OK);
        if (st == STORE_OK) assert_int_equal(uid, i + 1);
    }
    s->ops->free(s);
}

static void test_like_once(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 0);
    struct like_result r;

    (void)state;
    r = like(s, 1, 7);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.added, 1);
    assert_int_equal(r.count, 1);
    r = like(s, 1, 7);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.added, 0);
    assert_int_equal(r.count, 1);
    r = like(s, 1, 8);
    assert_int_equal(r.added, 1);
    assert_int_equal(r.count, 2);
    r = like(s, 2, 7); /* another post has its own set */
    assert_int_equal(r.added, 1);
    assert_int_equal(r.count, 1);
    r = like(s, 1, 0); /* nobody cannot like */
    assert_int_equal(r.st, STORE_DOWN);
    s->ops->free(s);
}

static void test_like_many_users(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 0);
    struct like_result r;

    (void)state;
    for (int64_t u = 1; u <= 5000; u++) { /* grows the set several times */
        r = like(s, 9, u * 7919);
        assert_int_equal(r.added, 1);
        assert_int_equal(r.count, u);
    }
    for (int64_t u = 1; u <= 5000; u++)
        assert_int_equal(like(s, 9, u * 7919).added, 0);
    assert_int_equal(like(s, 9, 1).count, 5001);
    s->ops->free(s);
}

static void test_like_counts(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 0);
    static struct counts_result r;
    int64_t posts[] = {3, 1, 99, 2};

    (void)state;
    like(s, 1, 7);
    like(s, 1, 8);
    like(s, 2, 8);
    like(s, 3, 7);
    like(s, 3, 8);
    like(s, 3, 9);

    s->ops->like_counts(s, posts, 4, 7, on_counts, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.counts[0], 3);
    assert_int_equal(r.counts[1], 2);
    assert_int_equal(r.counts[2], 0);
    assert_int_equal(r.counts[3], 1);
    assert_int_equal(r.liked[0], 1);
    assert_int_equal(r.liked[1], 1);
    assert_int_equal(r.liked[2], 0);
    assert_int_equal(r.liked[3], 0); /* only 8 liked post 2 */

    s->ops->like_counts(s, posts, 4, 0, on_counts, &r); /* nobody asking */
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.counts[0], 3);
    for (int i = 0; i < 4; i++) assert_int_equal(r.liked[i], 0);

    s->ops->like_counts(s, posts, 0, 7, on_counts, &r);
    assert_int_equal(r.calls, 3);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.n, 0);

    s->ops->like_counts(s, posts, SESSION_LIKE_BATCH_MAX + 1, 7, on_counts,
                        &r);
    assert_int_equal(r.calls, 4);
    assert_int_equal(r.st, STORE_DOWN);
    s->ops->free(s);
}

static void test_like_counts_full_batch(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 0);
    static struct counts_result r;
    int64_t posts[SESSION_LIKE_BATCH_MAX];

    (void)state;
    for (int i = 0; i < SESSION_LIKE_BATCH_MAX; i++) {
        posts[i] = 1000 - i;
        for (int u = 0; u <= i % 5; u++) like(s, posts[i], u + 1);
    }
    s->ops->like_counts(s, posts, SESSION_LIKE_BATCH_MAX, 3, on_counts, &r);
    assert_int_equal(r.n, SESSION_LIKE_BATCH_MAX);
    for (int i = 0; i < SESSION_LIKE_BATCH_MAX; i++) {
        assert_int_equal(r.counts[i], i % 5 + 1);
        assert_int_equal(r.liked[i], i % 5 >= 2);
    }
    s->ops->free(s);
}

static void test_liked_posts_bound(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 2, 0);

    (void)state;
    assert_int_equal(like(s, 1, 7).st, STORE_OK);
    assert_int_equal(like(s, 2, 7).st, STORE_OK);
    assert_int_equal(like(s, 3, 7).st, STORE_DOWN); /* a third post */
    /* Posts already held still take likes. */
    assert_int_equal(like(s, 1, 8).count, 2);
    assert_int_equal(like(s, 2, 8).st, STORE_OK);
    s->ops->free(s);
}

static void test_likes_per_post_bound(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 3);
    struct like_result r;

    (void)state;
    for (int u = 1; u <= 3; u++) assert_int_equal(like(s, 1, u).st, STORE_OK);
    assert_int_equal(like(s, 1, 4).st, STORE_DOWN);
    r = like(s, 1, 2); /* a liker already in the full set is fine */
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.added, 0);
    assert_int_equal(r.count, 3);
    assert_int_equal(like(s, 2, 4).st, STORE_OK); /* other posts unaffected */
    s->ops->free(s);
}

static void test_default_bound_per_post(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_store(&clk, 0, 0, 0, 0);

    (void)state;
    for (int64_t u = 1; u <= SESSION_MEMORY_LIKES_MAX; u++)
        if (like(s, 5, u).st != STORE_OK)
            fail_msg("like by %lld failed", (long long)u);
    assert_int_equal(like(s, 5, SESSION_MEMORY_LIKES_MAX + 1).st, STORE_DOWN);
    s->ops->free(s);
}

static int is_lower_hex(const char *p)
{
    for (; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static void test_ids(void **state)
{
    char a[SESSION_ID_LEN + 1], b[SESSION_ID_LEN + 1];

    (void)state;
    memset(a, 'x', sizeof(a));
    assert_int_equal(session_new_id(a), 0);
    assert_int_equal(session_new_id(b), 0);
    assert_int_equal(strlen(a), 40);
    assert_int_equal(strlen(b), 40);
    assert_true(is_lower_hex(a));
    assert_true(is_lower_hex(b));
    assert_string_not_equal(a, b);
    assert_true(session_id_valid(a));
    a[39] = 'A';
    assert_false(session_id_valid(a));
    a[39] = '\0';
    assert_false(session_id_valid(a));
    assert_false(session_id_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_get_delete),
        cmocka_unit_test(test_get_unknown),
        cmocka_unit_test(test_ttl_refreshed_on_get),
        cmocka_unit_test(test_ttl_expires_exactly),
        cmocka_unit_test(test_bound_drops_oldest),
        cmocka_unit_test(test_bound_drops_least_recently_used),
        cmocka_unit_test(test_many_sessions),
        cmocka_unit_test(test_like_once),
        cmocka_unit_test(test_like_many_users),
        cmocka_unit_test(test_like_counts),
        cmocka_unit_test(test_like_counts_full_batch),
        cmocka_unit_test(test_liked_posts_bound),
        cmocka_unit_test(test_likes_per_post_bound),
        cmocka_unit_test(test_default_bound_per_post),
        cmocka_unit_test(test_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
