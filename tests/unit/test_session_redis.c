/* The Redis session store against a real redis-server on a free loopback
 * port: sessions and likes shared by two store instances (two backends),
 * the keys and TTLs it writes, and what happens when Redis dies, comes
 * back, or hangs. Every wait polls with a deadline; nothing sleeps blind.
 *
 * Needs redis-server on PATH (or SB_REDIS_SERVER=/path/to/redis-server). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "session_store.h"

#define REDIS_START_DEADLINE_MS 5000 /* redis-server accepting connections */
#define UP_DEADLINE_MS 5000          /* a store connected (incl. backoff) */
#define OP_DEADLINE_MS 2000          /* a reply from a healthy Redis */
#define DOWN_REPORT_MS 1000          /* a dead Redis reported this fast */
#define TICK_MS 10                   /* the test loop wakes this often */
#define TTL_S 3600

struct fixture {
    struct event_base *base;
    struct event *tick;
    pid_t redis_pid;
    int port;
};

/* ---- redis-server ------------------------------------------------------ */

/* A loopback port nobody listens on right now (the kernel picks it). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_accepts(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

/* Start redis-server on fx->port, without persistence, and wait until it
 * accepts connections. Fails the test with a clear message if it is not
 * installed or dies. */
static void redis_start(struct fixture *fx)
{
    const char *bin = getenv("SB_REDIS_SERVER");
    char port[16];
    int64_t deadline = clock_mono_ms() + REDIS_START_DEADLINE_MS;
    pid_t pid;

    if (bin == NULL || *bin == '\0') bin = "redis-server";
    snprintf(port, sizeof(port), "%d", fx->port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
        execlp(bin, bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    fx->redis_pid = pid;
    while (!port_accepts(fx->port)) {
        int status;

        if (waitpid(pid, &status, WNOHANG) == pid) {
            fx->redis_pid = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                fail_msg("%s not found: install redis-server (CI does) or "
                         "set SB_REDIS_SERVER", bin);
            fail_msg("%s --port %s exited at start (status %d)", bin, port,
                     status);
        }
        if (clock_mono_ms() > deadline)
            fail_msg("redis-server on port %s not accepting after %d ms",
                     port, REDIS_START_DEADLINE_MS);
        sleep_ms(10);
    }
}

static void redis_kill(struct fixture *fx)
{
    if (fx->redis_pid <= 0) return;
    kill(fx->redis_pid, SIGKILL); /* also ends a SIGSTOPped one */
    while (waitpid(fx->redis_pid, NULL, 0) == -1 && errno == EINTR) {}
    fx->redis_pid = 0;
}

/* A blocking side channel to look at what the store wrote. */
static redisContext *peek_connect(struct fixture *fx)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", fx->port, tv);

    assert_non_null(c);
    if (c->err) fail_msg("side connection: %s", c->errstr);
    return c;
}

static long long peek_integer(redisContext *c, const char *fmt, const char *a)
{
    redisReply *r = redisCommand(c, fmt, a);
    long long v;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* ---- the event loop, driven with deadlines ------------------------------ */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

/* Run the loop until *flag is non-zero or ms pass. Returns *flag. */
static int run_until(struct fixture *fx, const int *flag, int ms)
{
    int64_t deadline = clock_mono_ms() + ms;

    while (!*flag && clock_mono_ms() < deadline)
        event_base_loop(fx->base, EVLOOP_ONCE);
    return *flag;
}

/* Run the loop for ms, whatever happens (to catch late, doubled answers). */
static void run_for(struct fixture *fx, int ms)
{
    int never = 0;

    run_until(fx, &never, ms);
}

static int wait_up(struct fixture *fx, struct session_store *s, int want,
                   int ms)
{
    int64_t deadline = clock_mono_ms() + ms;

    while (s->ops->is_up(s) != want && clock_mono_ms() < deadline)
        event_base_loop(fx->base, EVLOOP_ONCE);
    return s->ops->is_up(s) == want;
}

static struct session_store *store_up(struct fixture *fx)
{
    struct session_store *s =
        session_redis_new(fx->base, "127.0.0.1", fx->port, TTL_S);

    assert_non_null(s);
    assert_string_equal(s->ops->name, "redis");
    if (!wait_up(fx, s, 1, UP_DEADLINE_MS))
        fail_msg("store not up within %d ms", UP_DEADLINE_MS);
    return s;
}

/* ---- results ----------------------------------------------------------- */

struct result {
    int calls;
    enum store_status st;
    char sid[SESSION_ID_LEN + 1];
    int64_t user_id, count;
    int added, n;
    int64_t counts[SESSION_LIKE_BATCH_MAX];
    unsigned char liked[SESSION_LIKE_BATCH_MAX];
    enum idem_state state;
    int status, has_body;
    char body[SESSION_IDEM_BODY_MAX + 1];
};

static void on_session(enum store_status st, const char *sid, int64_t uid,
                       void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->st = st;
    r->user_id = uid;
    snprintf(r->sid, sizeof(r->sid), "%s", sid ? sid : "");
}

static void on_like(enum store_status st, int added, int64_t count, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->st = st;
    r->added = added;
    r->count = count;
}

static void on_counts(enum store_status st, const int64_t *counts,
                      const unsigned char *liked, int n, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->st = st;
    r->n = n;
    for (int i = 0; i < n; i++) {
        r->counts[i] = counts[i];
        r->liked[i] = liked[i];
    }
}

static void on_idem(enum store_status st, enum idem_state state, int status,
                    const char *body, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->st = st;
    r->state = state;
    r->status = status;
    r->has_body = body != NULL;
    snprintf(r->body, sizeof(r->body), "%s", body ? body : "");
}

static void on_idem_done(enum store_status st, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->st = st;
}

/* Wait for exactly one answer to the op just started on r. */
static void answered(struct fixture *fx, struct result *r)
{
    if (!run_until(fx, &r->calls, OP_DEADLINE_MS))
        fail_msg("no answer within %d ms", OP_DEADLINE_MS);
    assert_int_equal(r->calls, 1);
}

static struct result create(struct fixture *fx, struct session_store *s,
                            int64_t uid)
{
    struct result r = {0};

    s->ops->session_create(s, uid, on_session, &r);
    answered(fx, &r);
    return r;
}

static struct result get(struct fixture *fx, struct session_store *s,
                         const char *sid)
{
    struct result r = {0};

    s->ops->session_get(s, sid, on_session, &r);
    answered(fx, &r);
    return r;
}

static struct result del(struct fixture *fx, struct session_store *s,
                         const char *sid)
{
    struct result r = {0};

    s->ops->session_delete(s, sid, on_session, &r);
    answered(fx, &r);
    return r;
}

static struct result like(struct fixture *fx, struct session_store *s,
                          int64_t post, int64_t uid)
{
    struct result r = {0};

    s->ops->like(s, post, uid, on_like, &r);
    answered(fx, &r);
    return r;
}

static struct result idem_begin(struct fixture *fx, struct session_store *s,
                                const char *key, int64_t uid)
{
    struct result r = {0};

    s->ops->idem_begin(s, key, uid, on_idem, &r);
    answered(fx, &r);
    if (r.st != STORE_OK || r.state != IDEM_DONE) {
        assert_int_equal(r.status, 0);
        assert_false(r.has_body);
    }
    return r;
}

static enum store_status idem_finish(struct fixture *fx,
                                     struct session_store *s, const char *key,
                                     int64_t uid, int status, const char *body)
{
    struct result r = {0};

    s->ops->idem_finish(s, key, uid, status, body, on_idem_done, &r);
    answered(fx, &r);
    return r.st;
}

/* A caller that, on its answer, at once asks again (as a route might retry):
 * the second op must be answered too, exactly once, even mid-teardown. */
struct chain {
    struct session_store *s;
    struct result first, second;
};

static void on_chain_second(enum store_status st, int added, int64_t count,
                            void *arg)
{
    on_like(st, added, count, &((struct chain *)arg)->second);
}

static void on_chain_first(enum store_status st, const char *sid,
                           int64_t uid, void *arg)
{
    struct chain *ch = arg;

    on_session(st, sid, uid, &ch->first);
    ch->s->ops->like(ch->s, 1, 99, on_chain_second, ch);
}

/* Counts answers to many ops at once. */
struct tally {
    int calls, down;
};

static void on_tally(enum store_status st, const char *sid, int64_t uid,
                     void *arg)
{
    struct tally *t = arg;

    (void)sid, (void)uid;
    t->calls++;
    t->down += st == STORE_DOWN;
}

/* ---- fixture ----------------------------------------------------------- */

static int group_setup(void **state)
{
    static struct fixture fx;
    struct timeval tick = {0, TICK_MS * 1000};

    signal(SIGPIPE, SIG_IGN); /* as sb-backend does: hiredis uses write(2) */
    fx.port = free_port();
    redis_start(&fx);
    fx.base = event_base_new();
    assert_non_null(fx.base);
    fx.tick = event_new(fx.base, -1, EV_PERSIST, on_tick, NULL);
    assert_non_null(fx.tick);
    event_add(fx.tick, &tick);
    *state = &fx;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *fx = *state;

    redis_kill(fx);
    event_free(fx->tick);
    event_base_free(fx->base);
    libevent_global_shutdown();
    return 0;
}

/* Each test starts with a running, empty Redis. */
static int test_setup(void **state)
{
    struct fixture *fx = *state;
    redisContext *c;

    if (fx->redis_pid <= 0) redis_start(fx);
    c = peek_connect(fx);
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    redisFree(c);
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

/* A session made through one backend is seen by another, and gone for both
 * once either deletes it. */
static void test_session_shared(void **state)
{
    struct fixture *fx = *state;
    struct session_store *a = store_up(fx), *b = store_up(fx);
    struct result made = create(fx, a, 42), r;
    char other[SESSION_ID_LEN + 1];

    assert_int_equal(made.st, STORE_OK);
    assert_int_equal(made.user_id, 42);
    assert_true(session_id_valid(made.sid));

    r = get(fx, b, made.sid);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.user_id, 42);
    assert_string_equal(r.sid, made.sid);

    r = del(fx, b, made.sid);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(get(fx, a, made.sid).st, STORE_NOT_FOUND);
    assert_int_equal(get(fx, b, made.sid).st, STORE_NOT_FOUND);
    assert_int_equal(del(fx, a, made.sid).st, STORE_OK); /* again: fine */

    assert_int_equal(session_new_id(other), 0);
    r = get(fx, a, other);
    assert_int_equal(r.st, STORE_NOT_FOUND);
    assert_int_equal(r.user_id, 0);
    assert_int_equal(get(fx, a, "../../etc/passwd").st, STORE_NOT_FOUND);
    a->ops->free(a);
    b->ops->free(b);
}

/* The key is sb:sess:<sid> with the TTL, and a get puts the TTL back. */
static void test_session_key_and_ttl(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    redisContext *c = peek_connect(fx);
    struct result made = create(fx, s, 7);
    redisReply *r;
    long long ttl;

    r = redisCommand(c, "GET sb:sess:%s", made.sid);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "7");
    freeReplyObject(r);
    ttl = peek_integer(c, "TTL sb:sess:%s", made.sid);
    assert_true(ttl > TTL_S - 10 && ttl <= TTL_S);

    freeReplyObject(redisCommand(c, "EXPIRE sb:sess:%s 5", made.sid));
    assert_true(peek_integer(c, "TTL sb:sess:%s", made.sid) <= 5);
    assert_int_equal(get(fx, s, made.sid).st, STORE_OK);
    ttl = peek_integer(c, "TTL sb:sess:%s", made.sid);
    assert_true(ttl > TTL_S - 10 && ttl <= TTL_S);

    /* A value we never wrote reads as no session, not as user 0. */
    freeReplyObject(redisCommand(c, "SET sb:sess:%s junk", made.sid));
    assert_int_equal(get(fx, s, made.sid).st, STORE_NOT_FOUND);
    redisFree(c);
    s->ops->free(s);
}

/* Two backends, one like per user per post. */
static void test_like_once_shared(void **state)
{
    struct fixture *fx = *state;
    struct session_store *a = store_up(fx), *b = store_up(fx);
    struct result r;

    r = like(fx, a, 1, 7);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.added, 1);
    assert_int_equal(r.count, 1);
    r = like(fx, b, 1, 7); /* same user through the other backend */
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.added, 0);
    assert_int_equal(r.count, 1);
    r = like(fx, b, 1, 8);
    assert_int_equal(r.added, 1);
    assert_int_equal(r.count, 2);
    r = like(fx, a, 2, 8);
    assert_int_equal(r.added, 1);
    assert_int_equal(r.count, 1);
    assert_int_equal(like(fx, a, 2, 0).st, STORE_DOWN); /* nobody */
    a->ops->free(a);
    b->ops->free(b);
}

static void test_like_counts(void **state)
{
    struct fixture *fx = *state;
    struct session_store *a = store_up(fx), *b = store_up(fx);
    static struct result r;
    int64_t posts[SESSION_LIKE_BATCH_MAX];

    like(fx, a, 3, 7);
    like(fx, a, 3, 8);
    like(fx, b, 3, 9);
    like(fx, b, 1, 8);
    like(fx, a, 2, 7);
    posts[0] = 3, posts[1] = 1, posts[2] = 99, posts[3] = 2;

    memset(&r, 0, sizeof(r));
    b->ops->like_counts(b, posts, 4, 7, on_counts, &r);
    answered(fx, &r);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.counts[0], 3);
    assert_int_equal(r.counts[1], 1);
    assert_int_equal(r.counts[2], 0);
    assert_int_equal(r.counts[3], 1);
    assert_int_equal(r.liked[0], 1);
    assert_int_equal(r.liked[1], 0);
    assert_int_equal(r.liked[2], 0);
    assert_int_equal(r.liked[3], 1);

    memset(&r, 0, sizeof(r)); /* nobody asking: no liked_by_me */
    a->ops->like_counts(a, posts, 4, 0, on_counts, &r);
    answered(fx, &r);
    assert_int_equal(r.counts[0], 3);
    for (int i = 0; i < 4; i++) assert_int_equal(r.liked[i], 0);

    /* A full batch: 200 pipelined commands, one answer. */
    for (int i = 0; i < SESSION_LIKE_BATCH_MAX; i++)
        posts[i] = i % 4 == 0 ? 3 : 1000 + i;
    memset(&r, 0, sizeof(r));
    a->ops->like_counts(a, posts, SESSION_LIKE_BATCH_MAX, 9, on_counts, &r);
    answered(fx, &r);
    assert_int_equal(r.n, SESSION_LIKE_BATCH_MAX);
    for (int i = 0; i < SESSION_LIKE_BATCH_MAX; i++) {
        assert_int_equal(r.counts[i], i % 4 == 0 ? 3 : 0);
        assert_int_equal(r.liked[i], i % 4 == 0);
    }

    memset(&r, 0, sizeof(r));
    a->ops->like_counts(a, posts, 0, 9, on_counts, &r);
    assert_int_equal(r.calls, 1); /* nothing to ask: at once */
    assert_int_equal(r.st, STORE_OK);
    a->ops->like_counts(a, posts, SESSION_LIKE_BATCH_MAX + 1, 9, on_counts,
                        &r);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.st, STORE_DOWN);
    run_for(fx, 100);
    assert_int_equal(r.calls, 2);
    a->ops->free(a);
    b->ops->free(b);
}

/* An error reply (here WRONGTYPE) fails that op only. */
static void test_error_reply(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    redisContext *c = peek_connect(fx);
    static struct result r;
    int64_t posts[] = {5, 6};

    freeReplyObject(redisCommand(c, "SET sb:likes:5 not-a-set"));
    redisFree(c);
    assert_int_equal(like(fx, s, 5, 7).st, STORE_DOWN);
    s->ops->like_counts(s, posts, 2, 7, on_counts, &r);
    answered(fx, &r);
    assert_int_equal(r.st, STORE_DOWN);
    assert_int_equal(s->ops->is_up(s), 1);
    assert_int_equal(like(fx, s, 6, 7).st, STORE_OK);
    s->ops->free(s);
}

/* Kill Redis: ops say STORE_DOWN within a second, in flight or new, and the
 * store is down; start it again: the store reconnects by itself. */
static void test_redis_dies_and_returns(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    struct result made = create(fx, s, 11), r = {0}, l = {0};
    struct chain ch = {.s = s};
    int64_t t0;

    assert_int_equal(made.st, STORE_OK);
    redis_kill(fx);
    t0 = clock_mono_ms();
    s->ops->session_get(s, made.sid, on_session, &r);
    s->ops->like(s, 1, 11, on_like, &l); /* two pipelined commands */
    s->ops->session_get(s, made.sid, on_chain_first, &ch);
    if (!run_until(fx, &r.calls, DOWN_REPORT_MS) ||
        !run_until(fx, &l.calls, DOWN_REPORT_MS) ||
        !run_until(fx, &ch.second.calls, DOWN_REPORT_MS))
        fail_msg("no answer within %d ms of Redis dying", DOWN_REPORT_MS);
    assert_int_equal(ch.first.st, STORE_DOWN);
    assert_int_equal(ch.second.st, STORE_DOWN);
    assert_true(clock_mono_ms() - t0 <= DOWN_REPORT_MS);
    assert_int_equal(r.st, STORE_DOWN);
    assert_null(r.sid[0] ? r.sid : NULL);
    assert_int_equal(l.st, STORE_DOWN);
    assert_true(wait_up(fx, s, 0, DOWN_REPORT_MS));

    /* While down: answered at once, inline, no loop needed. */
    memset(&r, 0, sizeof(r));
    s->ops->session_create(s, 12, on_session, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.st, STORE_DOWN);
    memset(&l, 0, sizeof(l));
    s->ops->like(s, 1, 12, on_like, &l);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.st, STORE_DOWN);

    run_for(fx, 500); /* a few refused reconnects; nothing answers twice */
    assert_int_equal(r.calls, 1);
    assert_int_equal(l.calls, 1);
    assert_int_equal(ch.first.calls + ch.second.calls, 2);
    assert_int_equal(s->ops->is_up(s), 0);

    redis_start(fx); /* same port, empty */
    if (!wait_up(fx, s, 1, UP_DEADLINE_MS))
        fail_msg("store did not reconnect within %d ms", UP_DEADLINE_MS);
    made = create(fx, s, 13);
    assert_int_equal(made.st, STORE_OK);
    r = get(fx, s, made.sid);
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.user_id, 13);
    s->ops->free(s);
}

/* A Redis that takes TCP but never answers (SIGSTOP): the op deadline turns
 * the wait into STORE_DOWN, once per op; SIGCONT and it works again. */
static void test_redis_hangs(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    static struct result r, l, cnt;
    int64_t posts[50], t0, waited;

    for (int i = 0; i < 50; i++) posts[i] = i + 1;
    memset(&r, 0, sizeof(r));
    memset(&l, 0, sizeof(l));
    memset(&cnt, 0, sizeof(cnt));
    assert_int_equal(kill(fx->redis_pid, SIGSTOP), 0);
    t0 = clock_mono_ms();
    s->ops->session_create(s, 21, on_session, &r);
    s->ops->like(s, 2, 21, on_like, &l);
    s->ops->like_counts(s, posts, 50, 21, on_counts, &cnt);
    run_until(fx, &r.calls, 3000);
    run_until(fx, &l.calls, 500);
    run_until(fx, &cnt.calls, 500);
    waited = clock_mono_ms() - t0;
    kill(fx->redis_pid, SIGCONT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(l.calls, 1);
    assert_int_equal(cnt.calls, 1);
    assert_int_equal(r.st, STORE_DOWN);
    assert_int_equal(l.st, STORE_DOWN);
    assert_int_equal(cnt.st, STORE_DOWN);
    assert_true(waited >= 900 && waited < 2000); /* the deadline, not luck */

    if (!wait_up(fx, s, 1, UP_DEADLINE_MS))
        fail_msg("store did not come back within %d ms", UP_DEADLINE_MS);
    assert_int_equal(like(fx, s, 2, 21).st, STORE_OK);
    assert_int_equal(r.calls + l.calls + cnt.calls, 3); /* still once each */
    s->ops->free(s);
}

/* The bound on ops waiting for Redis: with Redis stopped, the one past
 * SESSION_REDIS_INFLIGHT_MAX is refused at once; the rest fail at the
 * deadline, each once. */
static void test_inflight_bound(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    struct tally t = {0}, over = {0};
    char sid[SESSION_ID_LEN + 1];
    int64_t deadline;

    assert_int_equal(session_new_id(sid), 0);
    assert_int_equal(kill(fx->redis_pid, SIGSTOP), 0);
    for (int i = 0; i < SESSION_REDIS_INFLIGHT_MAX; i++)
        s->ops->session_get(s, sid, on_tally, &t);
    assert_int_equal(t.calls, 0);
    s->ops->session_get(s, sid, on_tally, &over);
    assert_int_equal(over.calls, 1);
    assert_int_equal(over.down, 1);
    deadline = clock_mono_ms() + 3000;
    while (t.calls < SESSION_REDIS_INFLIGHT_MAX && clock_mono_ms() < deadline)
        event_base_loop(fx->base, EVLOOP_ONCE);
    kill(fx->redis_pid, SIGCONT);
    assert_int_equal(t.calls, SESSION_REDIS_INFLIGHT_MAX);
    assert_int_equal(t.down, SESSION_REDIS_INFLIGHT_MAX);
    if (!wait_up(fx, s, 1, UP_DEADLINE_MS))
        fail_msg("store did not come back within %d ms", UP_DEADLINE_MS);
    assert_int_equal(get(fx, s, sid).st, STORE_NOT_FOUND);
    s->ops->free(s);
}

/* Nobody listening at start: down, not hung, and ops answer at once. */
static void test_no_redis_at_start(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s =
        session_redis_new(fx->base, "127.0.0.1", free_port(), TTL_S);
    struct result r = {0};

    assert_non_null(s);
    assert_int_equal(s->ops->is_up(s), 0);
    s->ops->session_get(s, "0123456789abcdef0123456789abcdef01234567",
                        on_session, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.st, STORE_DOWN);
    run_for(fx, 300);
    assert_int_equal(s->ops->is_up(s), 0);
    s->ops->free(s);
}

/* Freeing the store with ops in flight answers them STORE_DOWN, once. */
static void test_free_with_ops_in_flight(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    struct result r = {0}, l = {0};

    s->ops->session_create(s, 31, on_session, &r);
    s->ops->like(s, 3, 31, on_like, &l);
    assert_int_equal(r.calls + l.calls, 0);
    s->ops->free(s);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.st, STORE_DOWN);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.st, STORE_DOWN);
    run_for(fx, 100); /* and nothing fires later on freed memory */
    assert_int_equal(r.calls + l.calls, 2);
}

/* ---- idempotency keys -------------------------------------------------- */

static void assert_idem(struct result r, enum idem_state want)
{
    assert_int_equal(r.st, STORE_OK);
    assert_int_equal(r.state, want);
}

/* Claimed through one backend, seen in progress and then finished by the
 * other; the keys and TTLs as written. */
static void test_idem_shared(void **state)
{
    struct fixture *fx = *state;
    struct session_store *a = store_up(fx), *b = store_up(fx);
    redisContext *c = peek_connect(fx);
    const char *body = "{\"id\":601,\"text\":\"two words\"}";
    struct result r;
    redisReply *rep;
    long long ttl;

    assert_idem(idem_begin(fx, a, "key-1", 7), IDEM_CLAIMED);
    assert_idem(idem_begin(fx, b, "key-1", 7), IDEM_IN_PROGRESS);
    assert_idem(idem_begin(fx, a, "key-1", 7), IDEM_IN_PROGRESS);
    rep = redisCommand(c, "GET sb:idem:7:key-1");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "pending");
    freeReplyObject(rep);
    ttl = peek_integer(c, "TTL %s", "sb:idem:7:key-1");
    assert_true(ttl > SESSION_IDEM_CLAIM_TTL_S - 10 &&
                ttl <= SESSION_IDEM_CLAIM_TTL_S);

    assert_int_equal(idem_finish(fx, a, "key-1", 7, 201, body), STORE_OK);
    for (int i = 0; i < 2; i++) {
        r = idem_begin(fx, i ? a : b, "key-1", 7);
        assert_idem(r, IDEM_DONE);
        assert_int_equal(r.status, 201);
        assert_string_equal(r.body, body);
    }
    rep = redisCommand(c, "GET sb:idem:7:key-1");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "201 {\"id\":601,\"text\":\"two words\"}");
    freeReplyObject(rep);
    ttl = peek_integer(c, "TTL %s", "sb:idem:7:key-1");
    assert_true(ttl > SESSION_IDEM_TTL_S - 10 && ttl <= SESSION_IDEM_TTL_S);
    redisFree(c);
    a->ops->free(a);
    b->ops->free(b);
}

/* The same key from two users: two requests. */
static void test_idem_scoped_per_user(void **state)
{
    struct fixture *fx = *state;
    struct session_store *a = store_up(fx), *b = store_up(fx);
    struct result r;

    assert_idem(idem_begin(fx, a, "k", 7), IDEM_CLAIMED);
    assert_idem(idem_begin(fx, b, "k", 8), IDEM_CLAIMED);
    assert_int_equal(idem_finish(fx, b, "k", 8, 200, "{\"u\":8}"), STORE_OK);
    assert_idem(idem_begin(fx, b, "k", 7), IDEM_IN_PROGRESS);
    assert_int_equal(idem_finish(fx, a, "k", 7, 200, "{\"u\":7}"), STORE_OK);
    r = idem_begin(fx, b, "k", 7);
    assert_idem(r, IDEM_DONE);
    assert_string_equal(r.body, "{\"u\":7}");
    r = idem_begin(fx, a, "k", 8);
    assert_idem(r, IDEM_DONE);
    assert_string_equal(r.body, "{\"u\":8}");
    a->ops->free(a);
    b->ops->free(b);
}

/* A 5xx deletes the claim, so a retry through any backend may act. */
static void test_idem_release_on_failure(void **state)
{
    struct fixture *fx = *state;
    struct session_store *a = store_up(fx), *b = store_up(fx);
    redisContext *c = peek_connect(fx);
    struct result r = {0};

    assert_idem(idem_begin(fx, a, "k", 7), IDEM_CLAIMED);
    assert_int_equal(idem_finish(fx, a, "k", 7, 500, NULL), STORE_OK);
    assert_int_equal(peek_integer(c, "EXISTS %s", "sb:idem:7:k"), 0);
    assert_idem(idem_begin(fx, b, "k", 7), IDEM_CLAIMED);
    /* Nobody waiting (cb NULL): the release still happens. */
    b->ops->idem_finish(b, "k", 7, 503, NULL, NULL, NULL);
    a->ops->session_create(a, 1, on_session, &r); /* a later op on a... */
    answered(fx, &r);
    run_for(fx, 50);                              /* ...and b's DEL too */
    assert_int_equal(peek_integer(c, "EXISTS %s", "sb:idem:7:k"), 0);
    /* A 4xx is a result like any other: kept. */
    assert_idem(idem_begin(fx, a, "k", 7), IDEM_CLAIMED);
    assert_int_equal(idem_finish(fx, a, "k", 7, 404, "{\"error\":\"no\"}"),
                     STORE_OK);
    r = idem_begin(fx, b, "k", 7);
    assert_idem(r, IDEM_DONE);
    assert_int_equal(r.status, 404);
    redisFree(c);
    a->ops->free(a);
    b->ops->free(b);
}

/* Many claims for one key from two backends at once: exactly one wins. */
static void test_idem_race_one_winner(void **state)
{
    struct fixture *fx = *state;
    struct session_store *a = store_up(fx), *b = store_up(fx);
    static struct result r[40];
    int claimed = 0, busy = 0;

    memset(r, 0, sizeof(r));
    for (int i = 0; i < 40; i++)
        (i & 1 ? a : b)->ops->idem_begin(i & 1 ? a : b, "race", 7, on_idem,
                                         &r[i]);
    for (int i = 0; i < 40; i++) {
        answered(fx, &r[i]);
        assert_int_equal(r[i].st, STORE_OK);
        claimed += r[i].state == IDEM_CLAIMED;
        busy += r[i].state == IDEM_IN_PROGRESS;
    }
    assert_int_equal(claimed, 1);
    assert_int_equal(busy, 39);
    a->ops->free(a);
    b->ops->free(b);
}

/* A value we never wrote is not guessed at: STORE_DOWN (the route says
 * 503 and does not act). Bad arguments are refused without asking. */
static void test_idem_junk_and_bad_arguments(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    redisContext *c = peek_connect(fx);
    struct result r = {0};
    static char big[SESSION_IDEM_BODY_MAX + 2];
    static const char *junk[] = {"junk", "42 {}", "201", "201{}", "abc {}"};

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        freeReplyObject(redisCommand(c, "SET sb:idem:7:j %s", junk[i]));
        r = idem_begin(fx, s, "j", 7);
        assert_int_equal(r.st, STORE_DOWN);
        assert_int_equal(r.state, IDEM_IN_PROGRESS);
    }
    freeReplyObject(redisCommand(c, "SET sb:idem:7:j %s", "299 "));
    r = idem_begin(fx, s, "j", 7); /* an empty body is still a result */
    assert_idem(r, IDEM_DONE);
    assert_int_equal(r.status, 299);
    assert_string_equal(r.body, "");
    assert_int_equal(s->ops->is_up(s), 1);

    memset(&r, 0, sizeof(r));
    s->ops->idem_begin(s, "no spaces allowed", 7, on_idem, &r);
    assert_int_equal(r.calls, 1); /* at once */
    assert_int_equal(r.st, STORE_DOWN);
    s->ops->idem_begin(s, "k", 0, on_idem, &r);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.st, STORE_DOWN);
    memset(&r, 0, sizeof(r));
    s->ops->idem_finish(s, "k", 7, 201, NULL, on_idem_done, &r);
    s->ops->idem_finish(s, "k", 7, 600, "{}", on_idem_done, &r);
    memset(big, ' ', SESSION_IDEM_BODY_MAX + 1);
    s->ops->idem_finish(s, "k", 7, 201, big, on_idem_done, &r);
    s->ops->idem_finish(s, "k*", 7, 201, "{}", on_idem_done, &r);
    assert_int_equal(r.calls, 4);
    assert_int_equal(r.st, STORE_DOWN);
    s->ops->idem_finish(s, "k*", 7, 201, "{}", NULL, NULL); /* no cb: fine */
    assert_int_equal(peek_integer(c, "EXISTS %s", "sb:idem:7:k"), 0);
    redisFree(c);
    s->ops->free(s);
}

/* Redis dies: begin and finish say STORE_DOWN (in flight, then at once);
 * it comes back: keys work again. */
static void test_idem_store_down(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    struct result r = {0}, f = {0};

    assert_idem(idem_begin(fx, s, "k", 7), IDEM_CLAIMED);
    redis_kill(fx);
    s->ops->idem_begin(s, "k2", 7, on_idem, &r);
    s->ops->idem_finish(s, "k", 7, 201, "{}", on_idem_done, &f);
    s->ops->idem_finish(s, "k", 7, 500, NULL, NULL, NULL);
    if (!run_until(fx, &r.calls, DOWN_REPORT_MS) ||
        !run_until(fx, &f.calls, DOWN_REPORT_MS))
        fail_msg("no answer within %d ms of Redis dying", DOWN_REPORT_MS);
    assert_int_equal(r.st, STORE_DOWN);
    assert_int_equal(r.state, IDEM_IN_PROGRESS);
    assert_int_equal(f.st, STORE_DOWN);
    assert_true(wait_up(fx, s, 0, DOWN_REPORT_MS));

    memset(&r, 0, sizeof(r)); /* known down: at once */
    s->ops->idem_begin(s, "k3", 7, on_idem, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.st, STORE_DOWN);
    memset(&f, 0, sizeof(f));
    s->ops->idem_finish(s, "k3", 7, 201, "{}", on_idem_done, &f);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.st, STORE_DOWN);
    s->ops->idem_finish(s, "k3", 7, 500, NULL, NULL, NULL);
    run_for(fx, 200);
    assert_int_equal(r.calls + f.calls, 2);

    redis_start(fx); /* empty */
    if (!wait_up(fx, s, 1, UP_DEADLINE_MS))
        fail_msg("store did not reconnect within %d ms", UP_DEADLINE_MS);
    assert_idem(idem_begin(fx, s, "k", 7), IDEM_CLAIMED);
    s->ops->free(s);
}

/* Freed with idempotency ops in flight (a replay holding a copied body
 * among them): each answered STORE_DOWN once, nothing leaks. */
static void test_idem_free_in_flight(void **state)
{
    struct fixture *fx = *state;
    struct session_store *s = store_up(fx);
    struct result r = {0}, d = {0}, f = {0};

    assert_idem(idem_begin(fx, s, "done", 7), IDEM_CLAIMED);
    assert_int_equal(idem_finish(fx, s, "done", 7, 201, "{\"a\":1}"),
                     STORE_OK);
    s->ops->idem_begin(s, "fresh", 7, on_idem, &r);
    s->ops->idem_begin(s, "done", 7, on_idem, &d);
    s->ops->idem_finish(s, "x", 7, 201, "{}", on_idem_done, &f);
    s->ops->idem_finish(s, "y", 7, 201, "{}", NULL, NULL);
    s->ops->free(s);
    assert_int_equal(r.calls + d.calls + f.calls, 3);
    assert_int_equal(r.st, STORE_DOWN);
    assert_int_equal(d.st, STORE_DOWN);
    assert_int_equal(f.st, STORE_DOWN);
    run_for(fx, 100);
    assert_int_equal(r.calls + d.calls + f.calls, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_session_shared, test_setup),
        cmocka_unit_test_setup(test_session_key_and_ttl, test_setup),
        cmocka_unit_test_setup(test_like_once_shared, test_setup),
        cmocka_unit_test_setup(test_like_counts, test_setup),
        cmocka_unit_test_setup(test_error_reply, test_setup),
        cmocka_unit_test_setup(test_redis_dies_and_returns, test_setup),
        cmocka_unit_test_setup(test_redis_hangs, test_setup),
        cmocka_unit_test_setup(test_inflight_bound, test_setup),
        cmocka_unit_test_setup(test_no_redis_at_start, test_setup),
        cmocka_unit_test_setup(test_free_with_ops_in_flight, test_setup),
        cmocka_unit_test_setup(test_idem_shared, test_setup),
        cmocka_unit_test_setup(test_idem_scoped_per_user, test_setup),
        cmocka_unit_test_setup(test_idem_release_on_failure, test_setup),
        cmocka_unit_test_setup(test_idem_race_one_winner, test_setup),
        cmocka_unit_test_setup(test_idem_junk_and_bad_arguments, test_setup),
        cmocka_unit_test_setup(test_idem_store_down, test_setup),
        cmocka_unit_test_setup(test_idem_free_in_flight, test_setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
