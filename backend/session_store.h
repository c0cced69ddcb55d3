/* Where sessions, likes and idempotency keys live: one small ops table, two
 * implementations.
 *
 *   redis  (session_redis.c)  - the stateless server: every backend sees the
 *                               same sessions and likes; async hiredis on the
 *                               libevent adapter, so no call blocks the loop.
 *   memory (session_memory.c) - the stateful server: this process only, with
 *                               a TTL and a bound on entries; needs no Redis.
 *
 * Every operation is asynchronous: it reports through its callback exactly
 * once. The callback may run before the call returns (the memory store and a
 * Redis store that is down answer at once), so callers must be ready for it.
 * Pointers handed to a callback are valid only during the callback. */
#ifndef SB_SESSION_STORE_H
#define SB_SESSION_STORE_H

#include <stddef.h>
#include <stdint.h>

#define SESSION_ID_BYTES 20                       /* 160 bits from the OS */
#define SESSION_ID_LEN (SESSION_ID_BYTES * 2)     /* as lowercase hex */
#define SESSION_LIKE_BATCH_MAX 100                /* posts per like_counts */

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND = 1, /* no such session (or expired) */
    STORE_DOWN = 2       /* the store cannot answer now: say 503 */
};

/* Session created or looked up: sid is the NUL-terminated id (for create),
 * user_id the owner. On STORE_NOT_FOUND/STORE_DOWN, sid is NULL, user_id 0. */
typedef void (*store_session_cb)(enum store_status st, const char *sid,
                                 int64_t user_id, void *arg);

/* A like recorded: added is 1 if this user had not liked the post before,
 * count is the post's total after the call. */
typedef void (*store_like_cb)(enum store_status st, int added, int64_t count,
                              void *arg);

/* Like counts for n posts, in the order asked; liked_by_me[i] is 1 when the
 * asking user liked post i (all 0 when user_id was 0). */
typedef void (*store_counts_cb)(enum store_status st, const int64_t *counts,
                                const unsigned char *liked_by_me, int n,
                                void *arg);

/* Idempotency keys (the Idempotency-Key header on POST /posts and
 * POST /posts/ID/like): the first result for a (user, key) pair is kept and
 * a repeat gets it back instead of acting twice, so the load balancer may
 * retry such a POST on another backend. */
#define SESSION_IDEM_KEY_MAX 128       /* bytes of [A-Za-z0-9._:-] */
#define SESSION_IDEM_TTL_S 86400       /* a finished result is kept 24 h */
#define SESSION_IDEM_CLAIM_TTL_S 60    /* a claim whose request never finished
                                          (its backend died) lapses then:
                                          longer than any request runs */
#define SESSION_IDEM_BODY_MAX 16384    /* bytes of result body kept */

/* What idem_begin found for a key. */
enum idem_state {
    IDEM_CLAIMED = 0,     /* nobody had it: it is ours now; act, then finish */
    IDEM_IN_PROGRESS = 1, /* a request with this key is still running */
    IDEM_DONE = 2         /* it finished: status and body are its answer */
};

/* idem_begin answered. On STORE_OK with IDEM_DONE, status is the stored
 * HTTP status and body the stored JSON text (NUL-terminated); otherwise
 * status is 0 and body NULL. On STORE_DOWN, state is IDEM_IN_PROGRESS. */
typedef void (*store_idem_cb)(enum store_status st, enum idem_state state,
                              int status, const char *body, void *arg);

/* idem_finish answered: STORE_OK once the result (or the release) is
 * written. */
typedef void (*store_idem_done_cb)(enum store_status st, void *arg);

struct session_store;

struct session_store_ops {
    const char *name; /* "redis" or "memory" */
    void (*session_create)(struct session_store *s, int64_t user_id,
                           store_session_cb cb, void *arg);
    void (*session_get)(struct session_store *s, const char *sid,
                        store_session_cb cb, void *arg);
    /* Deleting a session that does not exist is STORE_OK. */
    void (*session_delete)(struct session_store *s, const char *sid,
                           store_session_cb cb, void *arg);
    void (*like)(struct session_store *s, int64_t post_id, int64_t user_id,
                 store_like_cb cb, void *arg);
    /* n is 0..SESSION_LIKE_BATCH_MAX; user_id 0 means nobody is asking. */
    void (*like_counts)(struct session_store *s, const int64_t *post_ids,
                        int n, int64_t user_id, store_counts_cb cb, void *arg);
    /* Claim key for user_id, atomically across backends: IDEM_CLAIMED if
     * nobody had it (the claim lapses after SESSION_IDEM_CLAIM_TTL_S unless
     * finished), IDEM_DONE with the stored result, or IDEM_IN_PROGRESS while
     * another request holds the claim. Keys are scoped per user. STORE_DOWN
     * when the store cannot answer, user_id is not > 0, or key is not
     * session_idem_key_valid: the caller must then not act. */
    void (*idem_begin)(struct session_store *s, const char *key,
                       int64_t user_id, store_idem_cb cb, void *arg);
    /* Record the result of a claimed key: status (100..599) and body (JSON
     * text, NUL-terminated, at most SESSION_IDEM_BODY_MAX bytes; copied
     * before the call returns), kept SESSION_IDEM_TTL_S. A status >= 500
     * releases the claim instead (body may be NULL), so a retry may act.
     * cb may be NULL: nobody is told. Bad arguments are STORE_DOWN, and the
     * claim then stays until it lapses. */
    void (*idem_finish)(struct session_store *s, const char *key,
                        int64_t user_id, int status, const char *body,
                        store_idem_done_cb cb, void *arg);
    /* 1 if the store can answer now (Redis connected), else 0. */
    int (*is_up)(struct session_store *s);
    void (*free)(struct session_store *s);
};

/* Every implementation starts with this, so a store pointer is its ops. */
struct session_store {
    const struct session_store_ops *ops;
};

/* Default bound on one post's like set in the memory store. */
#define SESSION_MEMORY_LIKES_MAX 100000

/* Default bound on idempotency keys the memory store keeps (claimed or
 * finished); beyond it the oldest written is dropped. */
#define SESSION_MEMORY_IDEM_MAX 100000

/* Fields <= 0 take defaults: ttl 86400 s, 100000 sessions, 100000 posts,
 * SESSION_MEMORY_IDEM_MAX idempotency keys. */
struct session_memory_opts {
    int ttl_s;           /* session lifetime, refreshed on session_get */
    long max_sessions;   /* beyond it the oldest session is dropped */
    long max_liked_posts; /* posts with a like set; beyond it, likes fail DOWN */
    long max_likes_per_post; /* users in one post's set; beyond it, new likes
                                fail DOWN (<= 0: SESSION_MEMORY_LIKES_MAX) */
    long max_idem_keys;  /* idempotency keys kept; beyond it the oldest
                            written is dropped (<= 0: SESSION_MEMORY_IDEM_MAX) */
    /* Clock in seconds; NULL uses the wall clock. Tests pass their own. */
    int64_t (*now_s)(void *clock_arg);
    void *clock_arg;
};

struct session_store *session_memory_new(const struct session_memory_opts *o);

struct event_base;

/* Ops a Redis store lets wait for replies at once; beyond it, new ones are
 * answered STORE_DOWN at once (a slow Redis must not eat our memory). */
#define SESSION_REDIS_INFLIGHT_MAX 10000

/* Connect to Redis at host:port on base. Does not wait: the store starts as
 * down and comes up when the connection is made; if it drops it reconnects by
 * itself with exponential backoff (100 ms up to 2 s). An op Redis leaves
 * unanswered for 1 s fails STORE_DOWN and the link is re-made. host should
 * be numeric or localhost (name lookup blocks). ttl_s is the session
 * lifetime. Returns NULL only on allocation failure. The process must ignore
 * SIGPIPE. ops->free answers pending ops STORE_DOWN; call it from outside
 * the store's callbacks. */
struct session_store *session_redis_new(struct event_base *base,
                                        const char *host, int port, int ttl_s);

/* Fill out (SESSION_ID_LEN + 1 bytes) with a fresh id from the OS random
 * source. Returns 0, or -1 if the OS could not give random bytes. */
int session_new_id(char *out);

/* 1 if sid could be one of ours (exactly SESSION_ID_LEN lowercase hex
 * characters), else 0. Stores answer STORE_NOT_FOUND for anything else
 * without looking, so a junk cookie costs nothing. */
int session_id_valid(const char *sid);

/* 1 if key is a usable idempotency key: 1..SESSION_IDEM_KEY_MAX bytes of
 * [A-Za-z0-9._:-] (nothing that could split a store key or a log line),
 * else 0. The route answers 400 for anything else; stores refuse it too. */
static inline int session_idem_key_valid(const char *key)
{
    size_t n = 0;

    if (key == NULL) return 0;
    for (; key[n] != '\0'; n++) {
        char ch = key[n];

        if (n >= SESSION_IDEM_KEY_MAX) return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == ':' || ch == '-'))
            return 0;
    }
    return n > 0;
}

#endif
