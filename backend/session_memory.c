/* The memory session store: the stateful server. Sessions and likes live in
 * this process only, so a second backend cannot see them and a restart
 * forgets them - which is exactly what the stateful-server lab shows.
 *
 * Sessions: a chained hash table keyed by sid plus an intrusive LRU list
 * (newest first). A session's expiry is last use + ttl, and every use moves
 * it to the front, so the back of the list is always the next to expire:
 * reaping expired sessions is popping from the back, and making room when
 * full is dropping the back. Likes: a chained hash table keyed by post id,
 * each post holding an open-addressing set of user ids. Idempotency keys: a
 * chained hash table keyed by (user, key) plus a list in the order entries
 * were last written; a claim and a finished result have different lifetimes,
 * so expiry is checked on every lookup, and the list's back (oldest written)
 * is what goes when the table is full.
 *
 * Every callback runs before the call returns. Nothing here logs: a full
 * table is a steady state under load, not news. */
#include "session_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define MEMORY_TTL_DEFAULT_S 86400
#define MEMORY_SESSIONS_DEFAULT 100000
#define MEMORY_LIKED_POSTS_DEFAULT 100000
#define MEMORY_BUCKETS_MIN 16
#define MEMORY_BUCKETS_MAX (1UL << 20) /* hash heads; chains grow beyond */
#define MEMORY_LIKESET_SLOTS_MIN 8     /* first table of a post's like set */
#define MEMORY_ID_TRIES 4              /* fresh ids tried on a collision */

struct mem_session {
    char sid[SESSION_ID_LEN + 1];
    int64_t user_id;
    int64_t last_used_s;
    struct mem_session *hnext;         /* bucket chain */
    struct mem_session *newer, *older; /* LRU list */
};

struct mem_post {
    int64_t post_id;
    struct mem_post *hnext; /* bucket chain */
    int64_t *slots;         /* user ids, 0 = empty slot (ids are > 0) */
    size_t nslots;          /* a power of two, at most half full */
    size_t count;
};

struct mem_idem {
    int64_t user_id;
    char key[SESSION_IDEM_KEY_MAX + 1];
    int64_t expires_s;
    int status;                    /* 0 while claimed, else the result's */
    char *body;                    /* the result's JSON text, when finished */
    struct mem_idem *hnext;        /* bucket chain */
    struct mem_idem *newer, *older; /* write-order list */
};

struct memory_store {
    struct session_store base; /* first: a store pointer is its ops */
    int ttl_s;
    long max_sessions, max_liked_posts, max_likes_per_post;
    int64_t (*now_s)(void *clock_arg);
    void *clock_arg;

    struct mem_session **sess_buckets;
    size_t sess_mask;
    struct mem_session *newest, *oldest;
    long nsessions;

    struct mem_post **post_buckets;
    size_t post_mask;
    long nposts;

    long max_idem;
    struct mem_idem **idem_buckets;
    size_t idem_mask;
    struct mem_idem *idem_newest, *idem_oldest;
    long nidem;
};

/* Bucket count for up to max entries: a power of two, clamped, so a huge
 * bound does not cost a huge array up front. */
static size_t buckets_for(long max)
{
    size_t n = MEMORY_BUCKETS_MIN;

    while (n < (size_t)max && n < MEMORY_BUCKETS_MAX) n <<= 1;
    return n;
}

/* FNV-1a: sids are random hex, so a simple hash spreads them well. */
static size_t hash_sid(const char *sid)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *sid; sid++) h = (h ^ (unsigned char)*sid) * 1099511628211ULL;
    return (size_t)h;
}

/* splitmix64's finalizer: post ids and user ids are small consecutive
 * integers, which must not land in consecutive slots. */
static size_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id;

    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t)x;
}

static int64_t mem_now(struct memory_store *s)
{
    return s->now_s ? s->now_s(s->clock_arg) : clock_wall_s();
}

/* ---- sessions ---------------------------------------------------------- */

static int sess_expired(const struct memory_store *s,
                        const struct mem_session *e, int64_t now)
{
    return now - e->last_used_s >= s->ttl_s;
}

static void lru_unlink(struct memory_store *s, struct mem_session *e)
{
    if (e->newer) e->newer->older = e->older;
    else s->newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else s->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_newest(struct memory_store *s, struct mem_session *e)
{
    e->older = s->newest;
    e->newer = NULL;
    if (s->newest) s->newest->newer = e;
    else s->oldest = e;
    s->newest = e;
}

/* The bucket link that points at the session with this sid, or at the NULL
 * ending its chain: removal needs the link, lookup the entry. */
static struct mem_session **sess_link(struct memory_store *s, const char *sid)
{
    struct mem_session **pp = &s->sess_buckets[hash_sid(sid) & s->sess_mask];

    while (*pp && strcmp((*pp)->sid, sid) != 0) pp = &(*pp)->hnext;
    return pp;
}

/* Unlink e from its chain and the LRU list and free it. */
static void sess_remove(struct memory_store *s, struct mem_session *e)
{
    struct mem_session **pp = sess_link(s, e->sid);

    *pp = e->hnext;
    lru_unlink(s, e);
    s->nsessions--;
    free(e);
}

/* Reclaim every expired session: they sit together at the back of the LRU
 * list, so this stops at the first live one. */
static void sess_reap(struct memory_store *s, int64_t now)
{
    while (s->oldest && sess_expired(s, s->oldest, now))
        sess_remove(s, s->oldest);
}

/* A new session for user_id, dropping the least recently used one when the
 * table is full. Reports the new sid; STORE_DOWN if no id or no memory. */
static void mem_session_create(struct session_store *store, int64_t user_id,
                               store_session_cb cb, void *arg)
{
    struct memory_store *s = (struct memory_store *)store;
    int64_t now = mem_now(s);
    struct mem_session *e;
    struct mem_session **pp = NULL;
    char sid[SESSION_ID_LEN + 1];
    int tries;

    sess_reap(s, now);
    for (tries = 0; tries < MEMORY_ID_TRIES; tries++) {
        if (session_new_id(sid) == -1) break;
        pp = sess_link(s, sid);
        if (*pp == NULL) break;
        pp = NULL;
    }
    if (pp == NULL || (e = calloc(1, sizeof(*e))) == NULL) {
        cb(STORE_DOWN, NULL, 0, arg);
        return;
    }
    memcpy(e->sid, sid, sizeof(e->sid));
    e->user_id = user_id;
    e->last_used_s = now;
    if (s->nsessions >= s->max_sessions) {
        sess_remove(s, s->oldest);
        pp = sess_link(s, sid); /* the removal may have moved our link */
    }
    *pp = e;
    lru_push_newest(s, e);
    s->nsessions++;
    cb(STORE_OK, sid, user_id, arg);
}

/* The session's user, refreshing its lifetime; NOT_FOUND if unknown,
 * expired (then reclaimed) or not a well-formed sid. */
static void mem_session_get(struct session_store *store, const char *sid,
                            store_session_cb cb, void *arg)
{
    struct memory_store *s = (struct memory_store *)store;
    int64_t now = mem_now(s);
    struct mem_session *e;
    char copy[SESSION_ID_LEN + 1];
    int64_t user_id;

    if (!session_id_valid(sid)) {
        cb(STORE_NOT_FOUND, NULL, 0, arg);
        return;
    }
    sess_reap(s, now);
    e = *sess_link(s, sid);
    if (e && sess_expired(s, e, now)) { /* a clock that stepped back */
        sess_remove(s, e);
        e = NULL;
    }
    if (e == NULL) {
        cb(STORE_NOT_FOUND, NULL, 0, arg);
        return;
    }
    e->last_used_s = now;
    lru_unlink(s, e);
    lru_push_newest(s, e);
    /* The callback may delete this very session: hand it copies. */
    memcpy(copy, e->sid, sizeof(copy));
    user_id = e->user_id;
    cb(STORE_OK, copy, user_id, arg);
}

/* Forget a session; unknown or malformed sids are fine (STORE_OK). The
 * callback gets the caller's sid back and user_id 0. */
static void mem_session_delete(struct session_store *store, const char *sid,
                               store_session_cb cb, void *arg)
{
    struct memory_store *s = (struct memory_store *)store;
    struct mem_session *e;

    if (session_id_valid(sid) && (e = *sess_link(s, sid)) != NULL)
        sess_remove(s, e);
    cb(STORE_OK, sid, 0, arg);
}

/* ---- likes ------------------------------------------------------------- */

/* The slot holding uid, or the empty slot where it would go. The set is at
 * most half full, so the probe always ends. */
static size_t likeset_slot(const struct mem_post *p, int64_t uid)
{
    size_t mask = p->nslots - 1;
    size_t i = hash_id(uid) & mask;

    while (p->slots[i] != 0 && p->slots[i] != uid) i = (i + 1) & mask;
    return i;
}

/* Double the set's table. Returns 0, or -1 without memory (set unchanged). */
static int likeset_grow(struct mem_post *p)
{
    size_t n = p->nslots ? p->nslots * 2 : MEMORY_LIKESET_SLOTS_MIN;
    struct mem_post bigger = {.nslots = n};

    bigger.slots = calloc(n, sizeof(*bigger.slots));
    if (bigger.slots == NULL) return -1;
    for (size_t i = 0; i < p->nslots; i++)
        if (p->slots[i] != 0)
            bigger.slots[likeset_slot(&bigger, p->slots[i])] = p->slots[i];
    free(p->slots);
    p->slots = bigger.slots;
    p->nslots = n;
    return 0;
}

static int likeset_has(const struct mem_post *p, int64_t uid)
{
    return p->nslots != 0 && p->slots[likeset_slot(p, uid)] == uid;
}

/* Add uid to the set. Returns 1 if added, 0 if it was there, -1 if the set
 * is at its bound (max users) or memory ran out. */
static int likeset_add(struct mem_post *p, int64_t uid, long max)
{
    size_t i;

    if (likeset_has(p, uid)) return 0;
    if ((long)p->count >= max) return -1;
    if ((p->count + 1) * 2 > p->nslots && likeset_grow(p) == -1) return -1;
    i = likeset_slot(p, uid);
    p->slots[i] = uid;
    p->count++;
    return 1;
}

static struct mem_post **post_link(struct memory_store *s, int64_t post_id)
{
    struct mem_post **pp = &s->post_buckets[hash_id(post_id) & s->post_mask];

    while (*pp && (*pp)->post_id != post_id) pp = &(*pp)->hnext;
    return pp;
}

/* user_id likes post_id, once: added is 1 only the first time. STORE_DOWN
 * when a new post would pass max_liked_posts, a new liker would pass the
 * post's set bound, user_id is not > 0, or memory ran out. */
static void mem_like(struct session_store *store, int64_t post_id,
                     int64_t user_id, store_like_cb cb, void *arg)
{
    struct memory_store *s = (struct memory_store *)store;
    struct mem_post **pp = post_link(s, post_id);
    struct mem_post *p = *pp;
    int added;

    if (user_id <= 0) {
        cb(STORE_DOWN, 0, 0, arg);
        return;
    }
    if (p == NULL) {
        if (s->nposts >= s->max_liked_posts ||
            (p = calloc(1, sizeof(*p))) == NULL) {
            cb(STORE_DOWN, 0, 0, arg);
            return;
        }
        p->post_id = post_id;
        *pp = p;
        s->nposts++;
    }
    added = likeset_add(p, user_id, s->max_likes_per_post);
    if (added == -1) {
        cb(STORE_DOWN, 0, 0, arg);
        return;
    }
    cb(STORE_OK, added, (int64_t)p->count, arg);
}

/* Counts (and whether user_id liked each) for n posts, in the order asked;
 * posts nobody liked count 0. STORE_DOWN only for n out of range. */
static void mem_like_counts(struct session_store *store,
                            const int64_t *post_ids, int n, int64_t user_id,
                            store_counts_cb cb, void *arg)
{
    struct memory_store *s = (struct memory_store *)store;
    int64_t counts[SESSION_LIKE_BATCH_MAX];
    unsigned char liked[SESSION_LIKE_BATCH_MAX];

    if (n < 0 || n > SESSION_LIKE_BATCH_MAX) {
        cb(STORE_DOWN, NULL, NULL, 0, arg);
        return;
    }
    for (int i = 0; i < n; i++) {
        const struct mem_post *p = *post_link(s, post_ids[i]);

        counts[i] = p ? (int64_t)p->count : 0;
        liked[i] = p && user_id > 0 && likeset_has(p, user_id);
    }
    cb(STORE_OK, counts, liked, n, arg);
}

/* ---- idempotency keys -------------------------------------------------- */

static size_t hash_idem(int64_t user_id, const char *key)
{
    return hash_sid(key) ^ hash_id(user_id);
}

/* The bucket link pointing at (user_id, key)'s entry, or at the NULL ending
 * its chain. */
static struct mem_idem **idem_link(struct memory_store *s, int64_t user_id,
                                   const char *key)
{
    struct mem_idem **pp =
        &s->idem_buckets[hash_idem(user_id, key) & s->idem_mask];

    while (*pp && ((*pp)->user_id != user_id || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->hnext;
    return pp;
}

static void idem_unlink_order(struct memory_store *s, struct mem_idem *e)
{
    if (e->newer) e->newer->older = e->older;
    else s->idem_newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else s->idem_oldest = e->newer;
    e->newer = e->older = NULL;
}

static void idem_push_newest(struct memory_store *s, struct mem_idem *e)
{
    e->older = s->idem_newest;
    e->newer = NULL;
    if (s->idem_newest) s->idem_newest->newer = e;
    else s->idem_oldest = e;
    s->idem_newest = e;
}

/* Unlink e from its chain and the order list and free it. */
static void idem_remove(struct memory_store *s, struct mem_idem *e)
{
    struct mem_idem **pp = idem_link(s, e->user_id, e->key);

    *pp = e->hnext;
    idem_unlink_order(s, e);
    s->nidem--;
    free(e->body);
    free(e);
}

/* Reclaim expired entries from the back of the order list. Claims live
 * shorter than results, so one may expire behind a live result and wait
 * for its lookup or its turn at the back: this bounds work, not accuracy
 * (lookups check expiry themselves). */
static void idem_reap(struct memory_store *s, int64_t now)
{
    while (s->idem_oldest && now >= s->idem_oldest->expires_s)
        idem_remove(s, s->idem_oldest);
}

/* (user_id, key)'s live entry, or NULL; an expired one is reclaimed. */
static struct mem_idem *idem_find(struct memory_store *s, int64_t user_id,
                                  const char *key, int64_t now)
{
    struct mem_idem *e = *idem_link(s, user_id, key);

    if (e && now >= e->expires_s) {
        idem_remove(s, e);
        e = NULL;
    }
    return e;
}

/* A new claimed entry, dropping the oldest written one when the table is
 * full. NULL without memory. */
static struct mem_idem *idem_add(struct memory_store *s, int64_t user_id,
                                 const char *key, int64_t now)
{
    struct mem_idem *e = calloc(1, sizeof(*e));
    struct mem_idem **pp;

    if (e == NULL) return NULL;
    if (s->nidem >= s->max_idem) idem_remove(s, s->idem_oldest);
    e->user_id = user_id;
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->expires_s = now + SESSION_IDEM_CLAIM_TTL_S;
    pp = idem_link(s, user_id, key); /* after the removal: links move */
    *pp = e;
    idem_push_newest(s, e);
    s->nidem++;
    return e;
}

/* Claim (user_id, key), or report who has it. Inline, so atomic. */
static void mem_idem_begin(struct session_store *store, const char *key,
                           int64_t user_id, store_idem_cb cb, void *arg)
{
    struct memory_store *s = (struct memory_store *)store;
    int64_t now = mem_now(s);
    struct mem_idem *e;
    char *body;

    if (user_id <= 0 || !session_idem_key_valid(key)) {
        cb(STORE_DOWN, IDEM_IN_PROGRESS, 0, NULL, arg);
        return;
    }
    idem_reap(s, now);
    e = idem_find(s, user_id, key, now);
    if (e == NULL) {
        if (idem_add(s, user_id, key, now) == NULL)
            cb(STORE_DOWN, IDEM_IN_PROGRESS, 0, NULL, arg);
        else
            cb(STORE_OK, IDEM_CLAIMED, 0, NULL, arg);
        return;
    }
    if (e->status == 0) {
        cb(STORE_OK, IDEM_IN_PROGRESS, 0, NULL, arg);
        return;
    }
    /* The callback may finish or drop this very key: hand it a copy. */
    if ((body = strdup(e->body)) == NULL) {
        cb(STORE_DOWN, IDEM_IN_PROGRESS, 0, NULL, arg);
        return;
    }
    cb(STORE_OK, IDEM_DONE, e->status, body, arg);
    free(body);
}

/* Keep the result of (user_id, key) for SESSION_IDEM_TTL_S, or forget the
 * key for a status >= 500. A key that lapsed or was dropped meanwhile is
 * written anew, as Redis's SET would. */
static void mem_idem_finish(struct session_store *store, const char *key,
                            int64_t user_id, int status, const char *body,
                            store_idem_done_cb cb, void *arg)
{
    struct memory_store *s = (struct memory_store *)store;
    int64_t now = mem_now(s);
    struct mem_idem *e;
    char *copy;

    if (user_id <= 0 || !session_idem_key_valid(key) || status < 100 ||
        status > 599 ||
        (status < 500 &&
         (body == NULL || strlen(body) > SESSION_IDEM_BODY_MAX))) {
        if (cb) cb(STORE_DOWN, arg);
        return;
    }
    idem_reap(s, now);
    e = idem_find(s, user_id, key, now);
    if (status >= 500) {
        if (e) idem_remove(s, e);
        if (cb) cb(STORE_OK, arg);
        return;
    }
    if ((copy = strdup(body)) == NULL ||
        (e == NULL && (e = idem_add(s, user_id, key, now)) == NULL)) {
        free(copy);
        if (cb) cb(STORE_DOWN, arg);
        return;
    }
    free(e->body);
    e->body = copy;
    e->status = status;
    e->expires_s = now + SESSION_IDEM_TTL_S;
    idem_unlink_order(s, e);
    idem_push_newest(s, e);
    if (cb) cb(STORE_OK, arg);
}

/* ---- life cycle -------------------------------------------------------- */

static int mem_is_up(struct session_store *store)
{
    (void)store;
    return 1; /* this process is the store */
}

static void mem_free(struct session_store *store)
{
    struct memory_store *s = (struct memory_store *)store;

    if (s == NULL) return;
    while (s->oldest) sess_remove(s, s->oldest);
    while (s->idem_oldest) idem_remove(s, s->idem_oldest);
    for (size_t b = 0; s->post_buckets && b <= s->post_mask; b++) {
        struct mem_post *p = s->post_buckets[b], *next;

        for (; p; p = next) {
            next = p->hnext;
            free(p->slots);
            free(p);
        }
    }
    free(s->sess_buckets);
    free(s->post_buckets);
    free(s->idem_buckets);
    free(s);
}

static const struct session_store_ops memory_ops = {
    .name = "memory",
    .session_create = mem_session_create,
    .session_get = mem_session_get,
    .session_delete = mem_session_delete,
    .like = mem_like,
    .like_counts = mem_like_counts,
    .idem_begin = mem_idem_begin,
    .idem_finish = mem_idem_finish,
    .is_up = mem_is_up,
    .free = mem_free,
};

/* A memory store with o's bounds (o may be NULL: all defaults). Returns NULL
 * only when memory runs out. The caller frees it with ops->free. */
struct session_store *session_memory_new(const struct session_memory_opts *o)
{
    struct session_memory_opts none = {0};
    struct memory_store *s;
    size_t nb;

    if (o == NULL) o = &none;
    s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->base.ops = &memory_ops;
    s->ttl_s = o->ttl_s > 0 ? o->ttl_s : MEMORY_TTL_DEFAULT_S;
    s->max_sessions = o->max_sessions > 0 ? o->max_sessions
                                          : MEMORY_SESSIONS_DEFAULT;
    s->max_liked_posts = o->max_liked_posts > 0 ? o->max_liked_posts
                                                : MEMORY_LIKED_POSTS_DEFAULT;
    s->max_likes_per_post = o->max_likes_per_post > 0
                                ? o->max_likes_per_post
                                : SESSION_MEMORY_LIKES_MAX;
    s->max_idem = o->max_idem_keys > 0 ? o->max_idem_keys
                                       : SESSION_MEMORY_IDEM_MAX;
    s->now_s = o->now_s;
    s->clock_arg = o->clock_arg;

    nb = buckets_for(s->max_sessions);
    s->sess_buckets = calloc(nb, sizeof(*s->sess_buckets));
    s->sess_mask = nb - 1;
    nb = buckets_for(s->max_liked_posts);
    s->post_buckets = calloc(nb, sizeof(*s->post_buckets));
    s->post_mask = nb - 1;
    nb = buckets_for(s->max_idem);
    s->idem_buckets = calloc(nb, sizeof(*s->idem_buckets));
    s->idem_mask = nb - 1;
    if (s->sess_buckets == NULL || s->post_buckets == NULL ||
        s->idem_buckets == NULL)
        goto err;
    return &s->base;
err:
    mem_free(&s->base);
    return NULL;
}
