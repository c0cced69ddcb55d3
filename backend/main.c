/* sb-backend: the application server. Flags, signals and wiring only; the
 * work is in routes*.c, feed_db.c, session_*.c and overload.c. */
#include <event2/event.h>
#include <errno.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "feed_db.h"
#include "feed_stream.h"
#include "log.h"
#include "overload.h"
#include "pwhash.h"
#include "session_store.h"

#define HARD_BODY_FACTOR 4      /* evhttp drops bodies past max_body x this */
#define MAX_HEADERS_SIZE 16384  /* bytes of request line + headers */
#define PWHASH_THREADS 1        /* login hashing runs beside the loop */
#define PWHASH_PENDING_MAX 64   /* logins waiting for the hasher */
#define MEMORY_SESSIONS_MAX 100000
#define DRAIN_LINGER_MS 100       /* after the last answer, before exit */
#define ACCEPT_PAUSE_MS 100       /* accepting paused after EMFILE */
#define MEMORY_LIKED_POSTS_MAX 200000
#define STR_(x) #x
#define STR(x) STR_(x) /* a named default as a flag's default text */

enum { SESSIONS_REDIS, SESSIONS_MEMORY };

struct backend_opts {
    struct hostport listen, redis;
    const char *id, *db, *log_level;
    int sessions;
    long capacity, queue, work_ms, session_ttl, max_body, drain_timeout,
        client_timeout, stream_keepalive_ms, max_streams, stream_buffer;
};

static struct backend_opts o;

static const struct cfg_opt serve_opts[] = {
    {"listen", CFG_HOSTPORT, "127.0.0.1:9001", 0, 0, NULL,
     "address to serve HTTP on", &o.listen},
    {"id", CFG_STR, NULL, 0, 0, NULL,
     "name sent as X-Served-By (default backend-PORT)", &o.id},
    {"db", CFG_STR, "switchboard.db", 0, 0, NULL,
     "SQLite file made by 'sb-backend seed'", &o.db},
    {"sessions", CFG_ENUM, "redis", 0, 0, "redis|memory",
     "where sessions and likes live", &o.sessions},
    {"redis", CFG_HOSTPORT, "127.0.0.1:6379", 0, 0, NULL,
     "Redis server for --sessions redis", &o.redis},
    {"capacity", CFG_INT, NULL, 1, 100000, NULL,
     "requests worked on at once (unset: unlimited)", &o.capacity},
    {"queue", CFG_INT, NULL, 0, 100000, NULL,
     "requests waiting beyond capacity; more get 503", &o.queue},
    {"work-ms", CFG_INT, "0", 0, 60000, NULL,
     "simulated work per request, in ms", &o.work_ms},
    {"session-ttl", CFG_INT, "86400", 1, 31536000, NULL,
     "session lifetime in seconds", &o.session_ttl},
    {"max-body", CFG_INT, "65536", 1, 16777216, NULL,
     "largest request body in bytes (413 beyond)", &o.max_body},
    {"drain-timeout", CFG_INT, "10000", 0, 600000, NULL,
     "ms to finish in-flight requests after SIGTERM", &o.drain_timeout},
    {"client-timeout", CFG_INT, "60000", 100, 3600000, NULL,
     "ms a client connection may sit idle", &o.client_timeout},
    {"stream-keepalive-ms", CFG_INT, STR(FEED_STREAM_KEEPALIVE_MS), 10,
     600000, NULL, "ms between keepalive comments on /feed/stream",
     &o.stream_keepalive_ms},
    {"max-streams", CFG_INT, STR(FEED_STREAMS_MAX), 1, 1000000, NULL,
     "open /feed/stream streams at once; more get 503", &o.max_streams},
    {"stream-buffer", CFG_INT, STR(FEED_STREAM_QUEUED_MAX), 1024, 67108864,
     NULL, "bytes a stream may have unsent before its slow client is dropped",
     &o.stream_buffer},
    {"log-level", CFG_STR, "info", 0, 0, NULL, "debug|info|warn|error",
     &o.log_level},
};
#define NSERVE (sizeof(serve_opts) / sizeof(serve_opts[0]))

static struct feed_seed_opts seed_o;
static const char *seed_db;

static const struct cfg_opt seed_opts[] = {
    {"db", CFG_STR, "switchboard.db", 0, 0, NULL, "SQLite file to (re)create",
     &seed_db},
    {"users", CFG_INT, "1000", 4, 10000000, NULL, "number of users",
     &seed_o.users},
    {"posts-per-user", CFG_INT, "50", 0, 100000, NULL, "posts each user wrote",
     &seed_o.posts_per_user},
    {"seed", CFG_INT, "42", 0, 2147483647, NULL,
     "random seed: the same seed gives the same data", &seed_o.seed},
};
#define NSEED (sizeof(seed_opts) / sizeof(seed_opts[0]))

/* sb-backend seed: make the demo data set and exit. */
static int run_seed(int argc, char **argv)
{
    char err[256];

    switch (cfg_parse(seed_opts, NSEED, argc, argv, 2, err, sizeof(err))) {
    case CFG_HELP:
        cfg_usage(stdout, "sb-backend seed", "[options]", seed_opts, NSEED);
        return 0;
    case CFG_ERROR:
        fprintf(stderr, "sb-backend seed: %s\n", err);
        return 2;
    case CFG_OK:
        break;
    }
    if (feed_db_seed(seed_db, &seed_o, err, sizeof(err)) != 0) {
        fprintf(stderr, "sb-backend seed: %s\n", err);
        return 1;
    }
    printf("seeded %s: %ld users, %ld posts each\n", seed_db, seed_o.users,
           seed_o.posts_per_user);
    return 0;
}

static struct event *drain_deadline;
static struct evhttp_bound_socket *bound;
static struct event *accept_resume;
static int accept_paused;

/* Nothing is in flight any more (or the drain took too long): leave, after
 * a short linger so the last answers queued on their connections are
 * written out. */
static void drain_finish(struct backend_app *app)
{
    struct timeval linger = {0, DRAIN_LINGER_MS * 1000};

    log_info("drained after %llu requests, exiting",
             (unsigned long long)app->requests);
    event_base_loopexit(app->base, &linger);
}

/* Out of file descriptors: stop accepting for a moment instead of spinning
 * on a listening socket that stays readable (libevent would retry at once,
 * forever, logging each time). */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};

    (void)arg;
    if (!accept_paused)
        log_warn("accept failed (%s): pausing accepts for %d ms",
                 strerror(errno), ACCEPT_PAUSE_MS);
    accept_paused = 1;
    evconnlistener_disable(l);
    event_add(accept_resume, &pause);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    accept_paused = 0;
    if (bound != NULL)
        evconnlistener_enable(evhttp_bound_socket_get_listener(bound));
    (void)arg;
}

static void drain_timed_out(evutil_socket_t fd, short what, void *arg)
{
    struct backend_app *app = arg;

    (void)fd;
    (void)what;
    log_warn("drain timeout with %ld requests still in flight", app->inflight);
    drain_finish(app);
}

/* SIGTERM/SIGINT: report not-ready, stop accepting, finish what is in
 * flight, then exit 0. A second signal exits at once. */
static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct backend_app *app = arg;
    struct timeval tv = {o.drain_timeout / 1000,
                         (o.drain_timeout % 1000) * 1000};

    (void)what;
    if (app->draining) {
        log_warn("second signal %d: exiting now", (int)sig);
        event_base_loopbreak(app->base);
        return;
    }
    app->draining = 1;
    log_info("signal %d: draining %ld in-flight requests", (int)sig,
             app->inflight);
    /* Streams never finish by themselves: end them now, cleanly. */
    feed_stream_end_all(app->streams);
    if (bound != NULL) {
        evhttp_del_accept_socket(app->http, bound); /* closes the listener */
        bound = NULL;
    }
    app->on_idle = drain_finish;
    if (app->inflight == 0) {
        drain_finish(app);
        return;
    }
    drain_deadline = evtimer_new(app->base, drain_timed_out, app);
    evtimer_add(drain_deadline, &tv);
}

/* Open the session store the flags ask for. */
static struct session_store *open_store(struct event_base *base)
{
    if (o.sessions == SESSIONS_MEMORY) {
        struct session_memory_opts mo = {
            .ttl_s = (int)o.session_ttl,
            .max_sessions = MEMORY_SESSIONS_MAX,
            .max_liked_posts = MEMORY_LIKED_POSTS_MAX,
        };
        return session_memory_new(&mo);
    }
    return session_redis_new(base, o.redis.host, o.redis.port,
                             (int)o.session_ttl);
}

static int serve(struct backend_app *app)
{
    struct event *sigterm, *sigint;
    struct timeval idle = {o.client_timeout / 1000,
                           (o.client_timeout % 1000) * 1000};
    char err[256];
    int rc = 1;

    app->db = feed_db_open(o.db, err, sizeof(err));
    if (app->db == NULL) {
        log_error("cannot open database: %s", err);
        return 1;
    }
    app->base = event_base_new();
    app->http = app->base ? evhttp_new(app->base) : NULL;
    if (app->http == NULL) {
        log_error("cannot start the event loop");
        goto out;
    }
    app->store = open_store(app->base);
    app->pw = pwhash_pool_new(app->base, PWHASH_THREADS, PWHASH_PENDING_MAX);
    app->ov = overload_new(app->base, o.capacity, o.queue, o.work_ms);
    struct feed_stream_opts so = {
        .keepalive_ms = o.stream_keepalive_ms,
        .max_streams = o.max_streams,
        .max_queued = (size_t)o.stream_buffer,
        .write_timeout_ms = o.client_timeout,
        /* Posts travel between backends through the Redis the sessions
         * use; a stateful (memory) backend keeps its posts to itself. */
        .redis_host = o.sessions == SESSIONS_REDIS ? o.redis.host : NULL,
        .redis_port = o.redis.port,
    };
    app->streams = feed_stream_new(app, &so);
    if (app->store == NULL || app->pw == NULL || app->ov == NULL ||
        app->streams == NULL) {
        log_error("out of memory at start");
        goto out;
    }
    overload_set_gone_check(app->ov, routes_client_gone);
    evhttp_set_gencb(app->http, routes_handle, app);
    evhttp_set_allowed_methods(app->http,
        EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(app->http, app->max_body * HARD_BODY_FACTOR);
    evhttp_set_max_headers_size(app->http, MAX_HEADERS_SIZE);
    evhttp_set_timeout_tv(app->http, &idle);
    evhttp_set_default_content_type(app->http, "application/json");
    bound = evhttp_bind_socket_with_handle(app->http, o.listen.host,
                                           (ev_uint16_t)o.listen.port);
    if (bound == NULL) {
        log_error("cannot listen on %s:%d (in use, or not a local address?)",
                  o.listen.host, o.listen.port);
        goto out;
    }
    accept_resume = evtimer_new(app->base, on_accept_resume, NULL);
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound),
                                on_accept_error);
    sigterm = evsignal_new(app->base, SIGTERM, on_stop_signal, app);
    sigint = evsignal_new(app->base, SIGINT, on_stop_signal, app);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    log_info("listening on %s:%d, sessions %s, db %s%s", o.listen.host,
             o.listen.port, app->store->ops->name, o.db,
             o.capacity > 0 ? ", overload knobs on" : "");
    event_base_dispatch(app->base);
    rc = 0;
    event_free(sigterm);
    event_free(sigint);
    if (drain_deadline != NULL) event_free(drain_deadline);
    event_free(accept_resume);
out:
    /* The store and the hasher first: their last callbacks may still answer
     * requests, which needs evhttp alive. */
    if (app->pw) pwhash_pool_free(app->pw);
    if (app->store) app->store->ops->free(app->store);
    /* Before evhttp_free: streams still open (a second signal) are left
     * to their connections, which evhttp_free closes. */
    feed_stream_free(app->streams);
    if (app->http) evhttp_free(app->http);
    routes_free_cache(app);
    if (app->ov) overload_free(app->ov);
    if (app->base) event_base_free(app->base);
    feed_db_close(app->db);
    return rc;
}

int main(int argc, char **argv)
{
    struct backend_app app = {0};
    char err[256], idbuf[64];
    int level;

    if (argc > 1 && strcmp(argv[1], "seed") == 0) return run_seed(argc, argv);
    switch (cfg_parse(serve_opts, NSERVE, argc, argv, 1, err, sizeof(err))) {
    case CFG_HELP:
        cfg_usage(stdout, "sb-backend", "[options] | seed [options]",
                  serve_opts, NSERVE);
        return 0;
    case CFG_ERROR:
        fprintf(stderr, "sb-backend: %s\n", err);
        return 2;
    case CFG_OK:
        break;
    }
    if ((level = log_level_parse(o.log_level)) < 0) {
        fprintf(stderr, "sb-backend: --log-level: '%s' is not one of "
                        "debug|info|warn|error\n", o.log_level);
        return 2;
    }
    log_threshold = (enum log_level)level;
    if (o.id == NULL) {
        snprintf(idbuf, sizeof(idbuf), "backend-%d", o.listen.port);
        o.id = idbuf;
    }
    log_set_name(o.id);
    signal(SIGPIPE, SIG_IGN);
    app.id = o.id;
    app.max_body = o.max_body;
    app.session_ttl = o.session_ttl;
    return serve(&app);
}
