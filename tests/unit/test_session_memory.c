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

/* What the last idempotency callback said; the body is copied, as the
 * store's pointer is valid only during the callback. */
struct idem_result {
    int calls;
    enum store_status st;
    enum idem_state state;
    int status;
    char body[SESSION_IDEM_BODY_MAX + 1];
    int has_body;
};

static void on_idem(enum store_status st, enum idem_state state, int status,
                    const char *body, void *arg)
{
    struct idem_result *r = arg;

    r->calls++;
    r->st = st;
    r->state = state;
    r->status = status;
    r->has_body = body != NULL;
    snprintf(r->body, sizeof(r->body), "%s", body ? body : "");
}

struct done_result {
    int calls;
    enum store_status st;
};

static void on_done(enum store_status st, void *arg)
{
    struct done_result *r = arg;

    r->calls++;
    r->st = st;
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

/* ---- idempotency keys -------------------------------------------------- */

static struct session_store *new_idem_store(struct fake_clock *clk,
                                            long max_keys)
{
    struct session_memory_opts o = {
        .max_idem_keys = max_keys,
        .now_s = fake_now,
        .clock_arg = clk,
    };
    struct session_store *s;

    clk->now = 1000;
    s = session_memory_new(&o);
    assert_non_null(s);
    return s;
}

/* idem_begin, answered inline exactly once. */
static struct idem_result *begin(struct session_store *s, const char *key,
                                 int64_t uid)
{
    static struct idem_result r;

    memset(&r, 0, sizeof(r));
    s->ops->idem_begin(s, key, uid, on_idem, &r);
    assert_int_equal(r.calls, 1);
    if (r.st != STORE_OK || r.state != IDEM_DONE) {
        assert_int_equal(r.status, 0);
        assert_false(r.has_body);
    }
    if (r.st != STORE_OK) assert_int_equal(r.state, IDEM_IN_PROGRESS);
    return &r;
}

static enum store_status finish(struct session_store *s, const char *key,
                                int64_t uid, int status, const char *body)
{
    struct done_result r = {0};

    s->ops->idem_finish(s, key, uid, status, body, on_done, &r);
    assert_int_equal(r.calls, 1);
    return r.st;
}

static void assert_claimed(struct session_store *s, const char *key,
                           int64_t uid)
{
    struct idem_result *r = begin(s, key, uid);

    assert_int_equal(r->st, STORE_OK);
    assert_int_equal(r->state, IDEM_CLAIMED);
}

static void assert_in_progress(struct session_store *s, const char *key,
                               int64_t uid)
{
    struct idem_result *r = begin(s, key, uid);

    assert_int_equal(r->st, STORE_OK);
    assert_int_equal(r->state, IDEM_IN_PROGRESS);
}

static void assert_done(struct session_store *s, const char *key, int64_t uid,
                        int status, const char *body)
{
    struct idem_result *r = begin(s, key, uid);

    assert_int_equal(r->st, STORE_OK);
    assert_int_equal(r->state, IDEM_DONE);
    assert_int_equal(r->status, status);
    assert_true(r->has_body);
    assert_string_equal(r->body, body);
}

/* Claim, a repeat while it runs, the result, and every repeat after. */
static void test_idem_claim_then_replay(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 0);
    const char *body = "{\"id\":601,\"text\":\"hi\"}";

    (void)state;
    assert_claimed(s, "k-1", 7);
    assert_in_progress(s, "k-1", 7);
    assert_in_progress(s, "k-1", 7);
    assert_int_equal(finish(s, "k-1", 7, 201, body), STORE_OK);
    assert_done(s, "k-1", 7, 201, body);
    assert_done(s, "k-1", 7, 201, body);
    assert_claimed(s, "k-2", 7); /* another key is another request */
    s->ops->free(s);
}

/* Keys are per user: the same key from two users are two requests. */
static void test_idem_scoped_per_user(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 0);

    (void)state;
    assert_claimed(s, "same", 7);
    assert_claimed(s, "same", 8);
    assert_int_equal(finish(s, "same", 8, 200, "{\"u\":8}"), STORE_OK);
    assert_in_progress(s, "same", 7);
    assert_done(s, "same", 8, 200, "{\"u\":8}");
    assert_int_equal(finish(s, "same", 7, 200, "{\"u\":7}"), STORE_OK);
    assert_done(s, "same", 7, 200, "{\"u\":7}");
    assert_done(s, "same", 8, 200, "{\"u\":8}");
    s->ops->free(s);
}

/* A 5xx releases the claim: the retry may act. 4xx results are kept. */
static void test_idem_release_on_failure(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 0);
    struct done_result d = {0};

    (void)state;
    assert_claimed(s, "k", 7);
    assert_int_equal(finish(s, "k", 7, 500, NULL), STORE_OK);
    assert_claimed(s, "k", 7);
    s->ops->idem_finish(s, "k", 7, 503, "{\"error\":\"x\"}", NULL, NULL);
    assert_claimed(s, "k", 7); /* released again, nobody told (cb NULL) */
    assert_int_equal(finish(s, "k", 7, 404, "{\"error\":\"no\"}"),
                     STORE_OK);
    assert_done(s, "k", 7, 404, "{\"error\":\"no\"}");
    /* Releasing what nobody holds is fine. */
    s->ops->idem_finish(s, "never", 7, 500, NULL, on_done, &d);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.st, STORE_OK);
    assert_claimed(s, "never", 7);
    s->ops->free(s);
}

/* A claim whose request never finished lapses after the claim TTL; a
 * result lives SESSION_IDEM_TTL_S, to the second (as Redis EX does). */
static void test_idem_ttls(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 0);
    int64_t t0;

    (void)state;
    assert_claimed(s, "orphan", 7);
    assert_claimed(s, "kept", 7);
    t0 = clk.now;
    clk.now = t0 + SESSION_IDEM_CLAIM_TTL_S - 1;
    assert_in_progress(s, "orphan", 7);
    assert_int_equal(finish(s, "kept", 7, 201, "{}"), STORE_OK);
    clk.now = t0 + SESSION_IDEM_CLAIM_TTL_S;
    assert_claimed(s, "orphan", 7); /* lapsed: a retry may act */
    t0 = clk.now - 1;               /* when "kept" was finished */
    clk.now = t0 + SESSION_IDEM_TTL_S - 1;
    assert_done(s, "kept", 7, 201, "{}");
    clk.now = t0 + SESSION_IDEM_TTL_S;
    assert_claimed(s, "kept", 7);
    s->ops->free(s);
}

/* A finish after its claim lapsed (or was dropped) still records. */
static void test_idem_finish_after_lapse(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 0);

    (void)state;
    assert_claimed(s, "slow", 7);
    clk.now += SESSION_IDEM_CLAIM_TTL_S + 5;
    assert_int_equal(finish(s, "slow", 7, 201, "{\"late\":true}"), STORE_OK);
    assert_done(s, "slow", 7, 201, "{\"late\":true}");
    s->ops->free(s);
}

/* The table's bound: the oldest written entry goes first; finishing an
 * entry makes it the newest. */
static void test_idem_bound_drops_oldest(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 3);

    (void)state;
    assert_claimed(s, "a", 1);
    assert_claimed(s, "b", 1);
    assert_claimed(s, "c", 1);
    assert_int_equal(finish(s, "a", 1, 200, "{}"), STORE_OK); /* a newest */
    assert_claimed(s, "d", 1);                                /* drops b */
    assert_claimed(s, "b", 1);                                /* drops c */
    assert_done(s, "a", 1, 200, "{}");
    assert_in_progress(s, "d", 1);
    assert_in_progress(s, "b", 1);
    assert_claimed(s, "c", 1);                                /* drops a */
    assert_claimed(s, "a", 1);
    s->ops->free(s);
}

/* Many keys past the default-sized table's chains, each answered right. */
static void test_idem_many_keys(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 1000);
    char key[32], body[32];

    (void)state;
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        snprintf(body, sizeof(body), "{\"n\":%d}", i);
        assert_claimed(s, key, 1 + i % 7);
        assert_int_equal(finish(s, key, 1 + i % 7, 201, body), STORE_OK);
    }
    /* The last 1000 are kept; the first 2000 went (looked at last, as a
     * fresh claim drops the oldest kept). */
    for (int i = 2000; i < 3000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        snprintf(body, sizeof(body), "{\"n\":%d}", i);
        assert_done(s, key, 1 + i % 7, 201, body);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_claimed(s, key, 1 + i % 7);
    }
    s->ops->free(s);
}

/* What the store refuses, without looking: nobody's keys, malformed keys,
 * impossible statuses, missing or oversized bodies. */
static void test_idem_bad_arguments(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 0);
    static char big[SESSION_IDEM_BODY_MAX + 2];
    char longest[SESSION_IDEM_KEY_MAX + 2];

    (void)state;
    assert_int_equal(begin(s, "k", 0)->st, STORE_DOWN);
    assert_int_equal(begin(s, "", 7)->st, STORE_DOWN);
    assert_int_equal(begin(s, NULL, 7)->st, STORE_DOWN);
    assert_int_equal(begin(s, "has space", 7)->st, STORE_DOWN);
    assert_int_equal(begin(s, "sb:idem:7:*", 7)->st, STORE_DOWN);
    memset(longest, 'x', SESSION_IDEM_KEY_MAX + 1);
    longest[SESSION_IDEM_KEY_MAX + 1] = '\0';
    assert_int_equal(begin(s, longest, 7)->st, STORE_DOWN);
    longest[SESSION_IDEM_KEY_MAX] = '\0';
    assert_claimed(s, longest, 7); /* exactly the limit is fine */

    assert_claimed(s, "k", 7);
    assert_int_equal(finish(s, "k", 7, 99, "{}"), STORE_DOWN);
    assert_int_equal(finish(s, "k", 7, 600, "{}"), STORE_DOWN);
    assert_int_equal(finish(s, "k", 7, 201, NULL), STORE_DOWN);
    memset(big, ' ', SESSION_IDEM_BODY_MAX + 1);
    assert_int_equal(finish(s, "k", 7, 201, big), STORE_DOWN);
    assert_int_equal(finish(s, "k", 0, 201, "{}"), STORE_DOWN);
    assert_in_progress(s, "k", 7); /* refusals leave the claim */
    big[SESSION_IDEM_BODY_MAX] = '\0'; /* exactly the limit is fine */
    assert_int_equal(finish(s, "k", 7, 201, big), STORE_OK);
    assert_done(s, "k", 7, 201, big);
    s->ops->idem_finish(s, "bad key", 7, 201, "{}", NULL, NULL); /* no cb */
    s->ops->free(s);
}

static void test_idem_key_valid(void **state)
{
    char k[SESSION_IDEM_KEY_MAX + 2];

    (void)state;
    assert_true(session_idem_key_valid("a"));
    assert_true(session_idem_key_valid("AZaz09._:-"));
    assert_true(session_idem_key_valid("4f1c2a9e-8b7d-4c3e-9f00-1234567890ab"));
    assert_false(session_idem_key_valid(""));
    assert_false(session_idem_key_valid(NULL));
    assert_false(session_idem_key_valid("a b"));
    assert_false(session_idem_key_valid("a/b"));
    assert_false(session_idem_key_valid("a*"));
    assert_false(session_idem_key_valid("caf\xc3\xa9"));
    assert_false(session_idem_key_valid("a\r\nb"));
    memset(k, 'k', sizeof(k) - 1);
    k[SESSION_IDEM_KEY_MAX] = '\0';
    assert_true(session_idem_key_valid(k));
    k[SESSION_IDEM_KEY_MAX] = 'k';
    k[SESSION_IDEM_KEY_MAX + 1] = '\0';
    assert_false(session_idem_key_valid(k));
}

/* A replay's callback that finishes the very key it was handed: the body
 * it holds must stay valid (the store hands out a copy). */
struct refinish {
    struct session_store *s;
    struct idem_result r;
};

static void on_idem_refinish(enum store_status st, enum idem_state state,
                             int status, const char *body, void *arg)
{
    struct refinish *rf = arg;

    rf->s->ops->idem_finish(rf->s, "k", 7, 500, NULL, NULL, NULL);
    on_idem(st, state, status, body, &rf->r); /* reads body after */
}

static void test_idem_callback_may_touch_key(void **state)
{
    struct fake_clock clk;
    struct session_store *s = new_idem_store(&clk, 0);
    static struct refinish rf;

    (void)state;
    rf.s = s;
    assert_claimed(s, "k", 7);
    assert_int_equal(finish(s, "k", 7, 201, "{\"x\":1}"), STORE_OK);
    s->ops->idem_begin(s, "k", 7, on_idem_refinish, &rf);
    assert_int_equal(rf.r.calls, 1);
    assert_int_equal(rf.r.state, IDEM_DONE);
    assert_string_equal(rf.r.body, "{\"x\":1}");
    assert_claimed(s, "k", 7); /* the callback's release took */
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
        cmocka_unit_test(test_idem_claim_then_replay),
        cmocka_unit_test(test_idem_scoped_per_user),
        cmocka_unit_test(test_idem_release_on_failure),
        cmocka_unit_test(test_idem_ttls),
        cmocka_unit_test(test_idem_finish_after_lapse),
        cmocka_unit_test(test_idem_bound_drops_oldest),
        cmocka_unit_test(test_idem_many_keys),
        cmocka_unit_test(test_idem_bad_arguments),
        cmocka_unit_test(test_idem_key_valid),
        cmocka_unit_test(test_idem_callback_may_touch_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
