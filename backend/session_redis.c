/* The Redis session store: the stateless server, any backend answers any
 * user. Keys: sb:sess:<sid> -> user id (SET EX ttl; GETEX, Redis >= 6.2,
 * refreshes it); sb:likes:<post_id> -> set of user ids; sb:idem:<user>:<key>
 * -> "pending" while a request holds the key, then "<status> <json>".
 *
 * One async hiredis connection, a redis_link (redis_link.c: named states,
 * reconnects with backoff). Ops go out only when it is up, else answer
 * STORE_DOWN inline. A Redis that takes TCP but never answers is caught by
 * a deadline on the oldest op in flight. An op may be several pipelined
 * commands: it counts the replies due and answers once, at the last. The process must ignore SIGPIPE (main.c does):
 * hiredis uses write(2). */
#include "session_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"
#include "redis_link.h"

#define REDIS_SESS_PREFIX "sb:sess:"
#define REDIS_LIKES_PREFIX "sb:likes:"
#define REDIS_IDEM_PREFIX "sb:idem:"
#define REDIS_IDEM_PENDING "pending" /* the value of a claim */
#define REDIS_TTL_DEFAULT_S 86400
#define REDIS_WATCHDOG_MS 250        /* how often deadlines are checked */
#define REDIS_OP_DEADLINE_MS 1000    /* oldest op older: the link is dead */
#define REDIS_CONNECT_DEADLINE_MS 1000 /* connect + PING must finish by then */
#define REDIS_OP_FREELIST_MAX 64     /* finished ops kept for reuse */
#define REDIS_ERRLOG_INTERVAL_MS 10000 /* error replies: one log line per */

enum redis_op_kind { OP_PING, OP_CREATE, OP_GET, OP_DELETE, OP_LIKE,
                     OP_COUNTS, OP_IDEM_BEGIN, OP_IDEM_FINISH };

struct redis_op {
    struct redis_store *s;
    struct redis_op *older, *newer; /* in-flight list, or free list (newer) */
    enum redis_op_kind kind;
    int64_t started_ms;
    int outstanding; /* replies still due, +1 while commands are queued */
    int seen;        /* replies received: the index of the next one */
    int failed;      /* a lost or error reply: report STORE_DOWN */
    int lost;        /* a reply was lost: the connection is going away */
    int not_found;   /* GET: no such key */
    int asking;      /* COUNTS: SISMEMBER follows each SCARD */
    union { store_session_cb session; store_like_cb like;
            store_counts_cb counts; store_idem_cb idem;
            store_idem_done_cb idem_done; } cb;
    void *arg;
    char sid[SESSION_ID_LEN + 1];
    int64_t user_id, count;
    int added, n;
    int claimed;      /* IDEM_BEGIN: our SET NX took the key */
    int idem_status;  /* IDEM_BEGIN: the stored result's status, or 0 */
    char *idem_body;  /* IDEM_BEGIN: its body (ours; freed at op_finish) */
    int64_t counts[SESSION_LIKE_BATCH_MAX];
    unsigned char liked[SESSION_LIKE_BATCH_MAX];
};

struct redis_store {
    struct session_store base; /* first: a store pointer is its ops */
    int ttl_s;
    struct redis_link link; /* HANDSHAKE: PING sent, not trusted until PONG */
    int closing;            /* free() is running: no new ops, no logs */
    int64_t errlog_ms;      /* when an error reply was last logged */
    struct event *watchdog;
    struct redis_op *oldest, *newest; /* in flight, oldest first */
    long inflight;
    struct redis_op *free_ops;
    long nfree_ops;
};

/* ---- ops --------------------------------------------------------------- */

/* A fresh op of this kind, in flight; NULL when the link is not ready for it
 * (PING goes out in the handshake, everything else only when up), too many
 * ops wait already, or memory ran out: the caller answers STORE_DOWN. */
static struct redis_op *op_begin(struct redis_store *s, enum redis_op_kind kind)
{
    enum redis_link_state need =
        kind == OP_PING ? REDIS_LINK_HANDSHAKE : REDIS_LINK_UP;
    struct redis_op *op;

    if (s->closing || s->link.state != need ||
        s->inflight >= SESSION_REDIS_INFLIGHT_MAX)
        return NULL;
    if (s->free_ops) {
        op = s->free_ops;
        s->free_ops = op->newer;
        s->nfree_ops--;
    } else if ((op = malloc(sizeof(*op))) == NULL) {
        return NULL;
    }
    memset(op, 0, offsetof(struct redis_op, counts));
    op->s = s;
    op->kind = kind;
    op->started_ms = clock_mono_ms();
    op->outstanding = 1; /* the guard, dropped by op_sent */
    op->older = s->newest;
    if (s->newest) s->newest->newer = op;
    else s->oldest = op;
    s->newest = op;
    s->inflight++;
    return op;
}

static void op_finish(struct redis_op *op);
static void op_reply(redisAsyncContext *ac, void *r, void *privdata);

/* Queue one command of op; hiredis formats the args (nothing is pasted by
 * hand). A refused command (link closing) marks the op failed. */
static void op_send(struct redis_op *op, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = redisvAsyncCommand(op->s->link.ac, op_reply, op, fmt, ap);
    va_end(ap);
    if (rc == REDIS_OK) op->outstanding++;
    else op->failed = 1;
}

/* Queue one command already in RESP form. Formatting it ourselves skips
 * hiredis's printf-style parser, which cost more than the rest of a feed
 * page's like lookups together (callgrind). */
static void op_send_resp(struct redis_op *op, const char *cmd, size_t len)
{
    if (redisAsyncFormattedCommand(op->s->link.ac, op_reply, op, cmd, len) ==
        REDIS_OK)
        op->outstanding++;
    else
        op->failed = 1;
}

/* RESP for "VERB sb:likes:POST [USER]": verb and numbers only, so no
 * escaping is needed. Returns the length written into out (RESP_CMD_MAX). */
#define RESP_CMD_MAX 128
static size_t resp_likes_cmd(char *out, const char *verb, long long post_id,
                             long long user_id)
{
    char key[48], user[24];
    int klen = snprintf(key, sizeof(key), REDIS_LIKES_PREFIX "%lld", post_id);
    int ulen = user_id ? snprintf(user, sizeof(user), "%lld", user_id) : 0;
    int n;

    if (user_id)
        n = snprintf(out, RESP_CMD_MAX, "*3\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
                     strlen(verb), verb, klen, key, ulen, user);
    else
        n = snprintf(out, RESP_CMD_MAX, "*2\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
                     strlen(verb), verb, klen, key);
    return (size_t)n;
}

/* One reply fewer due - or, after queuing, the guard dropped. At zero the op
 * is answered; if no command could be queued, that is now (STORE_DOWN). */
static void op_sent(struct redis_op *op)
{
    if (--op->outstanding == 0) op_finish(op);
}

/* An error reply (OOM, WRONGTYPE...) fails its op; logged at most once per
 * REDIS_ERRLOG_INTERVAL_MS, not once per request. */
static void note_error_reply(struct redis_store *s, const redisReply *reply)
{
    int64_t now = clock_mono_ms();

    if (s->closing ||
        (s->errlog_ms && now - s->errlog_ms < REDIS_ERRLOG_INTERVAL_MS))
        return;
    s->errlog_ms = now;
    log_warn("sessions: redis %s:%d answered an error: %.*s", s->link.host,
             s->link.port, (int)(reply->len > 200 ? 200 : reply->len), reply->str);
}

/* The GET after a SET NX that found the key taken: "pending" (or nil: the
 * holder released it, or it lapsed, between our two commands - as good as
 * still in progress; the caller retries) leaves idem_status 0; a result
 * "<status> <json>" is copied into the op. Anything else is a value we
 * never wrote: the op fails rather than guess. */
static void idem_take_value(struct redis_op *op, const redisReply *r)
{
    long status;
    char *end;

    if (r->type == REDIS_REPLY_NIL) return;
    if (r->type != REDIS_REPLY_STRING) {
        op->failed = 1;
        return;
    }
    if (strcmp(r->str, REDIS_IDEM_PENDING) == 0) return;
    errno = 0;
    status = strtol(r->str, &end, 10);
    if (errno || end == r->str || *end != ' ' || status < 100 ||
        status > 599 || (op->idem_body = strdup(end + 1)) == NULL) {
        op->failed = 1;
        return;
    }
    op->idem_status = (int)status;
}

/* Read the k-th reply of op into it. A reply of a type the command never
 * answers marks the op failed. */
static void op_take(struct redis_op *op, int k, const redisReply *r)
{
    int is_int = r->type == REDIS_REPLY_INTEGER;

    switch (op->kind) {
    case OP_PING:
    case OP_CREATE: /* +PONG, +OK */
        if (r->type != REDIS_REPLY_STATUS) op->failed = 1;
        break;
    case OP_GET:
        if (r->type == REDIS_REPLY_NIL) {
            op->not_found = 1;
        } else if (r->type == REDIS_REPLY_STRING) {
            char *end;

            errno = 0;
            op->user_id = strtoll(r->str, &end, 10);
            /* Not a number we wrote: as good as no session. */
            if (errno || end == r->str || *end || op->user_id <= 0)
                op->not_found = 1;
        } else {
            op->failed = 1;
        }
        break;
    case OP_DELETE:
        if (!is_int) op->failed = 1;
        break;
    case OP_LIKE: /* SADD, then SCARD */
        if (!is_int) op->failed = 1;
        else if (k == 0) op->added = r->integer > 0;
        else op->count = r->integer;
        break;
    case OP_IDEM_BEGIN: /* SET NX (+OK or nil), then GET */
        if (k == 0) {
            if (r->type == REDIS_REPLY_STATUS) op->claimed = 1;
            else if (r->type != REDIS_REPLY_NIL) op->failed = 1;
        } else if (!op->claimed) {
            idem_take_value(op, r);
        }
        break;
    case OP_IDEM_FINISH: /* +OK for SET, :n for DEL */
        if (r->type != REDIS_REPLY_STATUS && !is_int) op->failed = 1;
        break;
    case OP_COUNTS: { /* SCARD [SISMEMBER] per post, in order */
        int i = op->asking ? k / 2 : k;

        if (!is_int || i >= op->n) op->failed = 1;
        else if (op->asking && (k & 1)) op->liked[i] = r->integer != 0;
        else op->counts[i] = r->integer;
        break;
    }
    }
}

/* hiredis's callback for each command of an op; reply is NULL when the
 * connection went away, and is hiredis's (valid only during this call). */
static void op_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_op *op = privdata;
    const redisReply *reply = r;

    (void)ac;
    if (reply == NULL) {
        op->failed = op->lost = 1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        op->failed = 1;
        note_error_reply(op->s, reply);
    } else if (!op->failed) {
        op_take(op, op->seen, reply);
    }
    op->seen++;
    op_sent(op); /* one fewer due */
}

/* The handshake PING answered: trust the link. On an error reply (NOAUTH,
 * LOADING) disconnect cleanly (nothing else is in flight yet) and retry via
 * the link's disconnect callback; a lost reply means the link is going
 * already. */
static void ping_done(struct redis_store *s, const struct redis_op *op)
{
    if (s->link.state != REDIS_LINK_HANDSHAKE || op->lost) return;
    if (!op->failed) redis_link_ready(&s->link);
    else redisAsyncDisconnect(s->link.ac);
}

/* Take op off the in-flight list, answer its caller exactly once, recycle
 * it. The caller's callback may start new ops (even on this store). */
static void op_finish(struct redis_op *op)
{
    struct redis_store *s = op->s;
    enum store_status st = op->failed ? STORE_DOWN : STORE_OK;

    if (op->older) op->older->newer = op->newer;
    else s->oldest = op->newer;
    if (op->newer) op->newer->older = op->older;
    else s->newest = op->older;
    s->inflight--;

    if (st == STORE_OK && op->not_found) st = STORE_NOT_FOUND;
    switch (op->kind) {
    case OP_PING:
        ping_done(s, op);
        break;
    case OP_CREATE:
    case OP_GET:
    case OP_DELETE: /* user_id stays 0 for DELETE */
        op->cb.session(st, st == STORE_OK ? op->sid : NULL,
                       st == STORE_OK ? op->user_id : 0, op->arg);
        break;
    case OP_LIKE:
        op->cb.like(st, st == STORE_OK ? op->added : 0,
                    st == STORE_OK ? op->count : 0, op->arg);
        break;
    case OP_COUNTS:
        op->cb.counts(st, st == STORE_OK ? op->counts : NULL,
                      st == STORE_OK ? op->liked : NULL,
                      st == STORE_OK ? op->n : 0, op->arg);
        break;
    case OP_IDEM_BEGIN:
        if (st != STORE_OK)
            op->cb.idem(st, IDEM_IN_PROGRESS, 0, NULL, op->arg);
        else if (op->claimed)
            op->cb.idem(st, IDEM_CLAIMED, 0, NULL, op->arg);
        else if (op->idem_body)
            op->cb.idem(st, IDEM_DONE, op->idem_status, op->idem_body,
                        op->arg);
        else
            op->cb.idem(st, IDEM_IN_PROGRESS, 0, NULL, op->arg);
        free(op->idem_body);
        op->idem_body = NULL;
        break;
    case OP_IDEM_FINISH:
        if (op->cb.idem_done) op->cb.idem_done(st, op->arg);
        break;
    }
    if (s->nfree_ops < REDIS_OP_FREELIST_MAX) { /* recycle, boundedly */
        op->newer = s->free_ops;
        s->free_ops = op;
        s->nfree_ops++;
    } else {
        free(op);
    }
}

/* ---- the store's ops ----------------------------------------------------- */

static const int64_t no_counts[1];      /* like_counts of no posts */
static const unsigned char no_likes[1];

/* The op for a session command, or NULL once cb has been answered: a
 * malformed sid is NOT_FOUND for a get and OK (nothing to delete) for a
 * delete, without asking Redis; no link is STORE_DOWN. */
static struct redis_op *session_op(struct redis_store *s,
                                   enum redis_op_kind kind, const char *sid,
                                   store_session_cb cb, void *arg)
{
    struct redis_op *op;

    if (kind != OP_CREATE && !session_id_valid(sid)) {
        if (kind == OP_GET) cb(STORE_NOT_FOUND, NULL, 0, arg);
        else cb(STORE_OK, sid, 0, arg);
        return NULL;
    }
    if ((op = op_begin(s, kind)) == NULL) {
        cb(STORE_DOWN, NULL, 0, arg);
        return NULL;
    }
    op->cb.session = cb;
    op->arg = arg;
    if (sid) memcpy(op->sid, sid, sizeof(op->sid));
    return op;
}

/* SET sb:sess:<new sid> <user> EX ttl. */
static void redis_session_create(struct session_store *store, int64_t user_id,
                                 store_session_cb cb, void *arg)
{
    struct redis_store *s = (struct redis_store *)store;
    struct redis_op *op = session_op(s, OP_CREATE, NULL, cb, arg);

    if (op == NULL) return;
    op->user_id = user_id;
    if (session_new_id(op->sid) == -1) op->failed = 1;
    else
        op_send(op, "SET " REDIS_SESS_PREFIX "%s %lld EX %d", op->sid,
                (long long)user_id, s->ttl_s);
    op_sent(op);
}

/* GETEX sb:sess:<sid> EX ttl: the user, and the session lives on. */
static void redis_session_get(struct session_store *store, const char *sid,
                              store_session_cb cb, void *arg)
{
    struct redis_store *s = (struct redis_store *)store;
    struct redis_op *op = session_op(s, OP_GET, sid, cb, arg);

    if (op == NULL) return;
    op_send(op, "GETEX " REDIS_SESS_PREFIX "%s EX %d", op->sid, s->ttl_s);
    op_sent(op);
}

/* DEL sb:sess:<sid>; a missing or malformed sid is STORE_OK. */
static void redis_session_delete(struct session_store *store, const char *sid,
                                 store_session_cb cb, void *arg)
{
    struct redis_store *s = (struct redis_store *)store;
    struct redis_op *op = session_op(s, OP_DELETE, sid, cb, arg);

    if (op == NULL) return;
    op_send(op, "DEL " REDIS_SESS_PREFIX "%s", op->sid);
    op_sent(op);
}

/* SADD then SCARD on sb:likes:<post>, pipelined: "first time?" and the
 * count. user_id must be > 0. */
static void redis_like(struct session_store *store, int64_t post_id,
                       int64_t user_id, store_like_cb cb, void *arg)
{
    struct redis_store *s = (struct redis_store *)store;
    struct redis_op *op;

    if (user_id <= 0 || (op = op_begin(s, OP_LIKE)) == NULL) {
        cb(STORE_DOWN, 0, 0, arg);
        return;
    }
    op->cb.like = cb;
    op->arg = arg;
    op_send(op, "SADD " REDIS_LIKES_PREFIX "%lld %lld", (long long)post_id,
            (long long)user_id);
    op_send(op, "SCARD " REDIS_LIKES_PREFIX "%lld", (long long)post_id);
    op_sent(op);
}

/* Per post SCARD and, when someone asks, SISMEMBER: all pipelined in one op
 * that answers once. n == 0 needs no Redis and is answered at once. */
static void redis_like_counts(struct session_store *store,
                              const int64_t *post_ids, int n, int64_t user_id,
                              store_counts_cb cb, void *arg)
{
    struct redis_store *s = (struct redis_store *)store;
    struct redis_op *op;

    if (n < 0 || n > SESSION_LIKE_BATCH_MAX) {
        cb(STORE_DOWN, NULL, NULL, 0, arg);
        return;
    }
    if (n == 0) { /* nothing to ask: no Redis needed */
        cb(STORE_OK, no_counts, no_likes, 0, arg);
        return;
    }
    if ((op = op_begin(s, OP_COUNTS)) == NULL) {
        cb(STORE_DOWN, NULL, NULL, 0, arg);
        return;
    }
    op->cb.counts = cb;
    op->arg = arg;
    op->n = n;
    op->asking = user_id != 0;
    memset(op->counts, 0, sizeof(op->counts[0]) * (size_t)n);
    memset(op->liked, 0, (size_t)n);
    for (int i = 0; i < n && !op->failed; i++) {
        char cmd[RESP_CMD_MAX];
        op_send_resp(op, cmd, resp_likes_cmd(cmd, "SCARD", post_ids[i], 0));
        if (op->asking)
            op_send_resp(op, cmd, resp_likes_cmd(cmd, "SISMEMBER", post_ids[i],
                                                 user_id));
    }
    op_sent(op);
}

/* Claim: SET sb:idem:<user>:<key> pending NX EX claim-ttl, then GET it,
 * pipelined in one op (one round trip). The SET NX is the atomic step: of
 * any number of backends, exactly one gets +OK. The GET only reads what a
 * loser found; another client may slip in between the two, but the worst it
 * can do is delete the key (a failed holder releasing it, or the claim
 * lapsing), which reads as "in progress" - a 409 and a retry, never a second
 * claim. That is why no Lua script is needed: EVAL would make the pair
 * atomic, but the pair does not need to be, and plain commands work on any
 * Redis and under ACLs or managed services that forbid scripts. */
static void redis_idem_begin(struct session_store *store, const char *key,
                             int64_t user_id, store_idem_cb cb, void *arg)
{
    struct redis_store *s = (struct redis_store *)store;
    struct redis_op *op;

    if (user_id <= 0 || !session_idem_key_valid(key) ||
        (op = op_begin(s, OP_IDEM_BEGIN)) == NULL) {
        cb(STORE_DOWN, IDEM_IN_PROGRESS, 0, NULL, arg);
        return;
    }
    op->cb.idem = cb;
    op->arg = arg;
    op_send(op, "SET " REDIS_IDEM_PREFIX "%lld:%s " REDIS_IDEM_PENDING
                " NX EX %d", (long long)user_id, key,
            SESSION_IDEM_CLAIM_TTL_S);
    op_send(op, "GET " REDIS_IDEM_PREFIX "%lld:%s", (long long)user_id, key);
    op_sent(op);
}

/* Finish: SET sb:idem:<user>:<key> "<status> <body>" EX ttl, or DEL it for
 * a status >= 500 (so a retry may act). Unconditional: the claim is ours. */
static void redis_idem_finish(struct session_store *store, const char *key,
                              int64_t user_id, int status, const char *body,
                              store_idem_done_cb cb, void *arg)
{
    struct redis_store *s = (struct redis_store *)store;
    struct redis_op *op;
    size_t blen = status < 500 && body ? strlen(body) : 0;
    char *value;
    int vlen;

    if (user_id <= 0 || !session_idem_key_valid(key) || status < 100 ||
        status > 599 || (status < 500 && body == NULL) ||
        blen > SESSION_IDEM_BODY_MAX ||
        (op = op_begin(s, OP_IDEM_FINISH)) == NULL) {
        if (cb) cb(STORE_DOWN, arg);
        return;
    }
    op->cb.idem_done = cb;
    op->arg = arg;
    if (status >= 500) {
        op_send(op, "DEL " REDIS_IDEM_PREFIX "%lld:%s", (long long)user_id,
                key);
    } else if ((value = malloc(blen + 8)) == NULL) {
        op->failed = 1;
    } else {
        /* hiredis copies the formatted command: value can go at once. */
        vlen = snprintf(value, blen + 8, "%d %s", status, body);
        op_send(op, "SET " REDIS_IDEM_PREFIX "%lld:%s %b EX %d",
                (long long)user_id, key, value, (size_t)vlen,
                SESSION_IDEM_TTL_S);
        free(value);
    }
    op_sent(op);
}

static int redis_is_up(struct session_store *store)
{
    return ((struct redis_store *)store)->link.state == REDIS_LINK_UP;
}

/* ---- connection -------------------------------------------------------- */

/* The link connected: it has to answer PING before ops go out (a stopped
 * Redis accepts TCP in the kernel). */
static void on_link_connected(struct redis_link *l, void *arg)
{
    struct redis_store *s = arg;
    struct redis_op *op;

    (void)l;
    /* No op (out of memory): the watchdog's connect deadline drops it. */
    if ((op = op_begin(s, OP_PING)) == NULL) return;
    op_send(op, "PING");
    op_sent(op);
}

/* Every REDIS_WATCHDOG_MS: a connect or handshake too slow, or an op with no
 * reply for REDIS_OP_DEADLINE_MS, means Redis is not really there: drop the
 * link (allowed: this is our timer, not a hiredis callback). */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct redis_store *s = arg;
    int64_t now = clock_mono_ms();

    (void)fd, (void)what;
    if ((s->link.state == REDIS_LINK_CONNECTING ||
         s->link.state == REDIS_LINK_HANDSHAKE) &&
        now - s->link.since_ms > REDIS_CONNECT_DEADLINE_MS)
        redis_link_drop(&s->link, "connect timed out");
    else if (s->link.ac && s->oldest &&
             now - s->oldest->started_ms > REDIS_OP_DEADLINE_MS)
        redis_link_drop(&s->link, "no reply within the deadline");
}

/* ---- life cycle -------------------------------------------------------- */

/* Close the connection (pending ops report STORE_DOWN through their
 * callbacks now, and must not free the store from there) and free all.
 * Must not be called from inside one of this store's callbacks. */
static void redis_free(struct session_store *store)
{
    struct redis_store *s = (struct redis_store *)store;

    if (s == NULL) return;
    s->closing = 1;
    if (s->watchdog) event_free(s->watchdog);
    s->watchdog = NULL;
    redis_link_free(&s->link);
    /* Every queued command had its callback; nothing is in flight now. */
    while (s->oldest) {
        s->oldest->failed = 1;
        op_finish(s->oldest);
    }
    while (s->free_ops) {
        struct redis_op *op = s->free_ops;

        s->free_ops = op->newer;
        free(op);
    }
    free(s);
}

static const struct session_store_ops redis_ops = {
    .name = "redis",
    .session_create = redis_session_create,
    .session_get = redis_session_get,
    .session_delete = redis_session_delete,
    .like = redis_like,
    .like_counts = redis_like_counts,
    .idem_begin = redis_idem_begin,
    .idem_finish = redis_idem_finish,
    .is_up = redis_is_up,
    .free = redis_free,
};

/* See session_store.h. The first connect starts here; its outcome arrives
 * through the event loop. A host longer than REDIS_LINK_HOST_MAX is cut
 * (and will not connect), not trusted. */
struct session_store *session_redis_new(struct event_base *base,
                                        const char *host, int port, int ttl_s)
{
    struct redis_store *s = calloc(1, sizeof(*s));
    struct timeval tick = {0, REDIS_WATCHDOG_MS * 1000};

    static const struct redis_link_cbs cbs = {
        .on_connected = on_link_connected,
    };

    if (s == NULL) return NULL;
    s->base.ops = &redis_ops;
    s->ttl_s = ttl_s > 0 ? ttl_s : REDIS_TTL_DEFAULT_S;
    s->watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, s);
    if (redis_link_init(&s->link, base, host, port, "sessions", NULL,
                        "reconnecting", &cbs, s) != 0 ||
        s->watchdog == NULL || event_add(s->watchdog, &tick) == -1)
        goto err;
    redis_link_start(&s->link);
    return &s->base;
err:
    redis_free(&s->base);
    return NULL;
}
