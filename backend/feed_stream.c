/* The stream hub: this backend's open Server-Sent Events streams, the
 * keepalive timer, and the Redis links that carry posts between backends.
 * See feed_stream.h for what a client sees. */
#include "feed_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "call.h"
#include "clock.h"
#include "json_out.h"
#include "log.h"
#include "redis_link.h"

#define STREAM_RECENT_IDS 16          /* post ids a stream remembers sending,
                                         so a replayed post that also comes
                                         live is sent once */
#define STREAM_SNDBUF_MAX (64 * 1024) /* kernel send buffer of a stream's
                                         socket (Linux doubles it): without a
                                         cap it autotunes to megabytes, and a
                                         client that stops reading would hide
                                         that much before max_queued counts */
#define STREAM_INPUT_MAX (64 * 1024)  /* bytes a client may send on its
                                         stream's connection (it should send
                                         none); more drops the stream */
#define PUBSUB_MESSAGE_MAX 8192       /* bytes of one message we read; ours
                                         are under 2 KiB */
#define PUBLISH_PENDING_MAX 1000      /* PUBLISHes awaiting Redis; beyond it
                                         posts stay local */
#define REDIS_WATCHDOG_MS 250         /* how often the links are checked */
#define REDIS_CONNECT_DEADLINE_MS 1000 /* connect (+ SUBSCRIBE) by then */
#define REDIS_REPLY_DEADLINE_MS 1000  /* replies due and none for this long:
                                         the link is dead */
#define SUB_HEARTBEAT_MS 1000         /* the subscriber re-SUBSCRIBEs this
                                         often: its confirmation proves the
                                         link alive (in SUBSCRIBE mode hiredis
                                         has no other command that answers) */
#define WARN_INTERVAL_MS 10000        /* repeated warnings: one line per */
#define ORIGIN_LEN 40                 /* hex characters of a process id */

/* ---- types ------------------------------------------------------------- */

/* One of the two Redis links. rl.state is REDIS_LINK_OFF when no Redis is
 * configured; the subscriber's HANDSHAKE is "SUBSCRIBE sent, not
 * confirmed". */
struct pubsub_link {
    struct feed_stream *fs;
    struct redis_link rl;
    int subscriber;
    long pending;           /* replies due on this connection */
    int64_t progress_ms;    /* last reply, or when pending left 0 */
    int64_t beat_ms;        /* subscriber: last heartbeat sent */
};

/* One open stream. Its request belongs to evhttp's connection until the
 * connection fails, when evhttp detaches it and the close callback frees
 * it. */
struct stream {
    struct feed_stream *fs;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    int64_t user_id;
    int64_t *followees;     /* ascending, for bsearch */
    int nfollowees;
    int64_t recent[STREAM_RECENT_IDS];
    unsigned nrecent;       /* ids ever remembered; the ring wraps */
    struct stream *prev, *next;
};

struct feed_stream {
    struct backend_app *app;
    struct feed_stream_opts o;
    char origin[ORIGIN_LEN + 1];  /* this process, in every message it sends */
    struct stream *streams;
    long nstreams;
    struct event *keepalive, *watchdog;
    struct evbuffer *event;       /* one post, formatted once per fan-out */
    struct evbuffer *chunk;       /* what one send hands to evhttp */
    int64_t *ids;                 /* FEED_STREAM_FOLLOWEES_MAX, to load into */
    struct pubsub_link pub, sub;
    int closing;                  /* feed_stream_free is running */
    int64_t warned_slow_ms, warned_bad_ms, warned_publish_ms;
    uint64_t opened, dropped, delivered, published, unpublished,
        bad_messages;
};

/* ---- sending to one stream ----------------------------------------------- */

static struct evbuffer *stream_output(const struct stream *s)
{
    return bufferevent_get_output(evhttp_connection_get_bufferevent(s->evcon));
}

/* Unlink s from the hub and free it; its request is not touched. */
static void stream_forget(struct stream *s)
{
    struct feed_stream *fs = s->fs;

    if (s->prev) s->prev->next = s->next;
    else fs->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    fs->nstreams--;
    free(s->followees);
    free(s);
}

/* Close s's connection now, dropping whatever waits in it (a client too
 * slow to take its events, or one sending when it should listen). Frees s;
 * evhttp frees the request with the connection. */
static void stream_drop(struct stream *s, const char *why)
{
    struct feed_stream *fs = s->fs;
    struct evhttp_connection *evcon = s->evcon;
    int64_t now = clock_mono_ms();

    fs->dropped++;
    if (now - fs->warned_slow_ms >= WARN_INTERVAL_MS) {
        fs->warned_slow_ms = now;
        log_warn("streams: dropped a stream of user %lld: %s (%llu dropped "
                 "so far)", (long long)s->user_id, why,
                 (unsigned long long)fs->dropped);
    }
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    stream_forget(s);
    evhttp_connection_free(evcon);
}

/* Queue len bytes on s as one chunk. Returns 0, or -1 when s was dropped
 * instead because its client has not taken what it already has. */
static int stream_send(struct stream *s, const void *data, size_t len)
{
    struct feed_stream *fs = s->fs;

    if (evbuffer_get_length(stream_output(s)) > fs->o.max_queued) {
        stream_drop(s, "its client is not reading");
        return -1;
    }
    evbuffer_add(fs->chunk, data, len);
    evhttp_send_reply_chunk(s->req, fs->chunk);
    /* Moved out by evhttp; emptied anyway should it have declined. */
    evbuffer_drain(fs->chunk, evbuffer_get_length(fs->chunk));
    return 0;
}

/* 1 if s sent post id already (as a replay, or live), else remember it. */
static int stream_seen(struct stream *s, int64_t id)
{
    unsigned n = s->nrecent < STREAM_RECENT_IDS ? s->nrecent
                                                : STREAM_RECENT_IDS;

    for (unsigned i = 0; i < n; i++)
        if (s->recent[i] == id) return 1;
    s->recent[s->nrecent++ % STREAM_RECENT_IDS] = id;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* 1 if s's user follows author (or is the author). */
static int stream_wants(const struct stream *s, int64_t author_id)
{
    return author_id == s->user_id ||
           (s->nfollowees > 0 &&
            bsearch(&author_id, s->followees, (size_t)s->nfollowees,
                    sizeof(s->followees[0]), cmp_id) != NULL);
}

/* Append one post as an event: id, event type, and the post JSON of /feed
 * on one data line (JSON escapes every newline, so it stays one line). */
static void format_event(struct evbuffer *b, const struct feed_post *p)
{
    evbuffer_add_printf(b, "id: %lld\nevent: post\ndata: ", (long long)p->id);
    post_json_out(b, p, 0, 0);
    json_out_lit(b, "\n\n");
}

/* Push p to every local stream that wants it. The event is formatted once,
 * when the first stream needs it. */
static void fan_out(struct feed_stream *fs, const struct feed_post *p)
{
    struct stream *s, *next;
    const unsigned char *data = NULL;
    size_t len = 0;

    for (s = fs->streams; s != NULL; s = next) {
        next = s->next; /* s may be dropped */
        if (!stream_wants(s, p->author_id) || stream_seen(s, p->id)) continue;
        if (data == NULL) {
            evbuffer_drain(fs->event, evbuffer_get_length(fs->event));
            format_event(fs->event, p);
            len = evbuffer_get_length(fs->event);
            data = evbuffer_pullup(fs->event, -1);
            if (data == NULL) return; /* out of memory: nobody gets it */
        }
        if (stream_send(s, data, len) == 0) fs->delivered++;
    }
}

/* ---- stream life --------------------------------------------------------- */

/* evhttp: s's connection is going away - the client left (EOF, reset, a
 * failed write, the write timeout), or evhttp_free at exit. A failure
 * detaches the request from the connection first, making it ours to free;
 * one still attached goes with the connection. */
static void on_stream_closed(struct evhttp_connection *evcon, void *arg)
{
    struct stream *s = arg;

    (void)evcon;
    if (evhttp_request_get_connection(s->req) == NULL)
        evhttp_request_free(s->req);
    stream_forget(s);
}

int feed_stream_full(const struct feed_stream *fs)
{
    return fs->nstreams >= fs->o.max_streams;
}

void feed_stream_start(struct feed_stream *fs, struct call *c,
                       const struct feed_post *replay, int nreplay)
{
    struct evhttp_request *req = c->req;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *conn;
    struct timeval wt = {fs->o.write_timeout_ms / 1000,
                         (fs->o.write_timeout_ms % 1000) * 1000};
    struct bufferevent *bev;
    struct stream *s;
    int n, more, sndbuf;

    if (evcon == NULL) { /* the client left while we worked: nobody hears */
        call_error(c, 503, "client went away");
        return;
    }
    if (feed_db_followees(fs->app->db, c->user_id, fs->ids,
                          FEED_STREAM_FOLLOWEES_MAX, &n, &more) != FEED_OK) {
        call_error(c, 500, "database error");
        return;
    }
    if (more)
        log_warn("streams: user %lld follows more than %d; posts of the rest "
                 "are not pushed", (long long)c->user_id,
                 FEED_STREAM_FOLLOWEES_MAX);
    s = calloc(1, sizeof(*s));
    if (s == NULL ||
        (s->followees = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1))) ==
            NULL) {
        free(s);
        call_error(c, 503, "out of memory");
        return;
    }
    memcpy(s->followees, fs->ids, sizeof(int64_t) * (size_t)n);
    s->nfollowees = n;
    s->fs = fs;
    s->req = req;
    s->evcon = evcon;
    s->user_id = c->user_id;

    evhttp_add_header(out, "Content-Type", "text/event-stream");
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Accel-Buffering", "no"); /* nginx: do not hold */
    /* A stream ends only when one side is done with the connection too.
     * An HTTP/1.0 "Connection: keep-alive" must go: evhttp would answer it
     * with Content-Length: 0, an empty body, and the events after it would
     * read as garbage. */
    evhttp_add_header(out, "Connection", "close");
    conn = evhttp_find_header(in, "Connection");
    if (conn != NULL && evutil_ascii_strncasecmp(conn, "keep-alive", 10) == 0)
        evhttp_remove_header(in, "Connection");
    evhttp_send_reply_start(req, 200, "OK");
    /* The client says nothing while it listens: no read timeout (evhttp's
     * would cut every stream after --client-timeout), only a write one. */
    bev = evhttp_connection_get_bufferevent(evcon);
    bufferevent_set_timeouts(bev, NULL,
                             fs->o.write_timeout_ms > 0 ? &wt : NULL);
    sndbuf = fs->o.max_queued < STREAM_SNDBUF_MAX ? (int)fs->o.max_queued
                                                  : STREAM_SNDBUF_MAX;
    if (setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf,
                   sizeof(sndbuf)) == -1)
        log_debug("streams: SO_SNDBUF: %s", strerror(errno));
    evhttp_connection_set_closecb(evcon, on_stream_closed, s);

    s->next = fs->streams;
    if (fs->streams) fs->streams->prev = s;
    fs->streams = s;
    fs->nstreams++;
    fs->opened++;

    for (int i = 0; i < nreplay; i++) {
        stream_seen(s, replay[i].id);
        format_event(fs->chunk, &replay[i]);
    }
    if (nreplay > 0) {
        evhttp_send_reply_chunk(req, fs->chunk);
        evbuffer_drain(fs->chunk, evbuffer_get_length(fs->chunk));
    }
    log_debug("streams: user %lld opened a stream (%d replayed, %ld open)",
              (long long)s->user_id, nreplay, fs->nstreams);
    call_detach(c); /* replay may live in c: last */
}

void feed_stream_end_all(struct feed_stream *fs)
{
    long n = fs ? fs->nstreams : 0;

    if (fs == NULL) return;
    while (fs->streams != NULL) {
        struct stream *s = fs->streams;
        struct evhttp_request *req = s->req;

        evhttp_connection_set_closecb(s->evcon, NULL, NULL);
        stream_forget(s);
        /* The terminating chunk; evhttp closes the connection once it is
         * written (Connection: close) and frees req. */
        evhttp_send_reply_end(req);
    }
    if (n > 0) log_info("streams: ended %ld open streams", n);
}

/* Every keepalive_ms: a comment line to every stream, so that idle
 * proxies keep it; and the per-stream bounds checked even when no posts
 * flow. */
static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    static const char comment[] = ": keepalive\n\n";
    struct feed_stream *fs = arg;
    struct stream *s, *next;

    (void)fd, (void)what;
    for (s = fs->streams; s != NULL; s = next) {
        struct evbuffer *in = bufferevent_get_input(
            evhttp_connection_get_bufferevent(s->evcon));

        next = s->next;
        if (evbuffer_get_length(in) > STREAM_INPUT_MAX) {
            stream_drop(s, "its client sends instead of listening");
            continue;
        }
        stream_send(s, comment, sizeof(comment) - 1);
    }
}

/* ---- messages between backends ------------------------------------------- */

/* The message for p: its fields, and our origin so we can skip our own. */
static void format_message(struct evbuffer *b, const struct feed_post *p,
                           const char *origin)
{
    json_out_lit(b, "{\"id\":");
    json_out_int(b, p->id);
    json_out_lit(b, ",\"author_id\":");
    json_out_int(b, p->author_id);
    json_out_lit(b, ",\"author\":");
    json_out_str(b, p->author);
    json_out_lit(b, ",\"text\":");
    json_out_str(b, p->text);
    json_out_lit(b, ",\"created_at\":");
    json_out_int(b, p->created_at);
    json_out_lit(b, ",\"origin\":");
    json_out_str(b, origin);
    json_out_lit(b, "}");
}

/* A message arrived on the channel: check it (any process may publish
 * there), skip our own, fan it out. */
static void take_message(struct feed_stream *fs, const char *data, size_t len)
{
    json_t *root = NULL;
    json_int_t id, author_id, created_at;
    const char *author, *text, *origin = NULL;
    struct feed_post p;

    if (len <= PUBSUB_MESSAGE_MAX &&
        (root = json_loadb(data, len, 0, NULL)) != NULL &&
        json_unpack(root, "{s:I, s:I, s:s, s:s, s:I, s?s}", "id", &id,
                    "author_id", &author_id, "author", &author, "text", &text,
                    "created_at", &created_at, "origin", &origin) == 0 &&
        id > 0 && author_id > 0 && strlen(author) <= FEED_USERNAME_MAX &&
        strlen(text) <= FEED_POST_TEXT_MAX) {
        if (origin == NULL || strcmp(origin, fs->origin) != 0) {
            p.id = id;
            p.author_id = author_id;
            p.created_at = created_at;
            memcpy(p.author, author, strlen(author) + 1);
            memcpy(p.text, text, strlen(text) + 1);
            fan_out(fs, &p);
        }
    } else {
        int64_t now = clock_mono_ms();

        fs->bad_messages++;
        if (now - fs->warned_bad_ms >= WARN_INTERVAL_MS) {
            fs->warned_bad_ms = now;
            log_warn("streams: ignored a message on " FEED_STREAM_CHANNEL
                     " that is not a post (%llu so far)",
                     (unsigned long long)fs->bad_messages);
        }
    }
    json_decref(root);
}

/* ---- Redis links ----------------------------------------------------------
 *
 * Each a redis_link (redis_link.c: states, reconnects with backoff), and
 * here a watchdog for replies that never come. Callbacks of a context we
 * have let go (l->rl.ac moved on) are ignored. */

/* The link is trusted: publishing, or receiving messages. */
static void pubsub_up(struct pubsub_link *l)
{
    redis_link_ready(&l->rl);
    l->pending = 0;
    l->progress_ms = l->beat_ms = clock_mono_ms();
}

/* One more reply due on l. */
static void link_expect(struct pubsub_link *l)
{
    if (l->pending++ == 0) l->progress_ms = clock_mono_ms();
}

/* The subscriber's callback for everything on the channel: subscribe
 * confirmations (the first makes the link up; later ones answer
 * heartbeats) and messages. reply is NULL when the connection goes. */
static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pubsub_link *l = privdata;
    const redisReply *reply = r;
    const redisReply *kind, *payload;

    if (reply == NULL || l->rl.ac != ac) return;
    l->progress_ms = clock_mono_ms();
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    kind = reply->element[0];
    payload = reply->element[2];
    if (kind->type != REDIS_REPLY_STRING) return;
    if (strcasecmp(kind->str, "subscribe") == 0) {
        if (l->pending > 0) l->pending--;
        if (l->rl.state == REDIS_LINK_HANDSHAKE) pubsub_up(l);
    } else if (strcasecmp(kind->str, "message") == 0 &&
               payload->type == REDIS_REPLY_STRING) {
        take_message(l->fs, payload->str, payload->len);
    }
}

/* Send SUBSCRIBE on the subscriber: the first time, and as a heartbeat. */
static void sub_subscribe(struct pubsub_link *l)
{
    if (redisAsyncCommand(l->rl.ac, on_sub_reply, l,
                          "SUBSCRIBE " FEED_STREAM_CHANNEL) == REDIS_OK)
        link_expect(l);
    l->beat_ms = clock_mono_ms();
}

/* A PUBLISH answered (with the number of receivers, which we do not need),
 * or the connection went (reply NULL). */
static void on_published(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pubsub_link *l = privdata;
    const redisReply *reply = r;
    struct feed_stream *fs = l->fs;

    if (l->rl.ac != ac) return;
    if (l->pending > 0) l->pending--;
    l->progress_ms = clock_mono_ms();
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
        l->progress_ms - fs->warned_publish_ms >= WARN_INTERVAL_MS) {
        fs->warned_publish_ms = l->progress_ms;
        log_warn("streams: redis refused a PUBLISH: %.*s",
                 (int)(reply->len > 200 ? 200 : reply->len), reply->str);
    }
}

/* The link connected: the publisher is up; the subscriber is not until
 * Redis confirms its SUBSCRIBE (the watchdog's connect deadline drops a
 * link whose SUBSCRIBE could not even be queued). */
static void on_link_connected(struct redis_link *rl, void *arg)
{
    struct pubsub_link *l = arg;

    (void)rl;
    l->pending = 0;
    if (!l->subscriber) pubsub_up(l);
    else sub_subscribe(l);
}

/* The link is gone; so are the replies it owed. */
static void on_link_down(struct redis_link *rl, void *arg)
{
    struct pubsub_link *l = arg;

    (void)rl;
    l->pending = 0;
}

/* Every REDIS_WATCHDOG_MS: a connect too slow, or replies due and none for
 * REDIS_REPLY_DEADLINE_MS, means Redis is not really there (stopped, or the
 * network ate the connection): drop the link and reconnect. And the
 * subscriber's heartbeat, without which a dead subscriber would look like
 * a quiet channel. */
static void link_check(struct pubsub_link *l, int64_t now)
{
    enum redis_link_state st = l->rl.state;

    if ((st == REDIS_LINK_CONNECTING || st == REDIS_LINK_HANDSHAKE) &&
        now - l->rl.since_ms > REDIS_CONNECT_DEADLINE_MS)
        redis_link_drop(&l->rl, "connect timed out");
    else if (st == REDIS_LINK_UP && l->pending > 0 &&
             now - l->progress_ms > REDIS_REPLY_DEADLINE_MS)
        redis_link_drop(&l->rl, "no reply within the deadline");
    else if (st == REDIS_LINK_UP && l->subscriber && l->pending == 0 &&
             now - l->beat_ms >= SUB_HEARTBEAT_MS)
        sub_subscribe(l);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct feed_stream *fs = arg;
    int64_t now = clock_mono_ms();

    (void)fd, (void)what;
    link_check(&fs->pub, now);
    link_check(&fs->sub, now);
}

void feed_stream_publish(struct feed_stream *fs, const struct feed_post *p)
{
    struct pubsub_link *l;
    const unsigned char *data;
    size_t len;

    if (fs == NULL) return;
    fan_out(fs, p); /* ours first: they need no Redis */
    l = &fs->pub;
    if (l->rl.state == REDIS_LINK_OFF) return;
    if (l->rl.state != REDIS_LINK_UP || l->pending >= PUBLISH_PENDING_MAX) {
        fs->unpublished++;
        return;
    }
    evbuffer_drain(fs->event, evbuffer_get_length(fs->event));
    format_message(fs->event, p, fs->origin);
    len = evbuffer_get_length(fs->event);
    data = evbuffer_pullup(fs->event, -1);
    /* hiredis copies the formatted command: the buffer may change after. */
    if (data != NULL &&
        redisAsyncCommand(l->rl.ac, on_published, l,
                          "PUBLISH " FEED_STREAM_CHANNEL " %b", data,
                          len) == REDIS_OK) {
        link_expect(l);
        fs->published++;
    } else {
        fs->unpublished++;
    }
}

/* ---- life cycle -------------------------------------------------------- */

static int link_init(struct feed_stream *fs, struct pubsub_link *l,
                     const char *host, const char *name, int subscriber)
{
    static const struct redis_link_cbs cbs = {
        .on_connected = on_link_connected,
        .on_down = on_link_down,
    };

    l->fs = fs;
    l->subscriber = subscriber;
    return redis_link_init(&l->rl, fs->app->base, host, fs->o.redis_port,
                           "streams", name,
                           "posts stay on this backend until it is back",
                           &cbs, l);
}

/* A random id for this process, so that its own messages are known when
 * they come back. */
static void make_origin(char *out)
{
    if (session_new_id(out) == 0) return;
    snprintf(out, ORIGIN_LEN + 1, "%d-%lld", (int)getpid(),
             (long long)clock_mono_us());
}

struct feed_stream *feed_stream_new(struct backend_app *app,
                                    const struct feed_stream_opts *o)
{
    struct feed_stream *fs = calloc(1, sizeof(*fs));
    struct timeval ka = {o->keepalive_ms / 1000,
                         (o->keepalive_ms % 1000) * 1000};
    struct timeval tick = {0, REDIS_WATCHDOG_MS * 1000};

    if (fs == NULL) return NULL;
    fs->app = app;
    fs->o = *o;
    fs->o.redis_host = NULL; /* the copy in host[] is what we use */
    make_origin(fs->origin);
    fs->event = evbuffer_new();
    fs->chunk = evbuffer_new();
    fs->ids = malloc(sizeof(int64_t) * FEED_STREAM_FOLLOWEES_MAX);
    fs->keepalive = event_new(app->base, -1, EV_PERSIST, on_keepalive, fs);
    if (fs->event == NULL || fs->chunk == NULL || fs->ids == NULL ||
        fs->keepalive == NULL || event_add(fs->keepalive, &ka) == -1)
        goto err;
    if (o->redis_host == NULL) return fs; /* both links stay OFF */

    if (link_init(fs, &fs->pub, o->redis_host, "publisher", 0) != 0 ||
        link_init(fs, &fs->sub, o->redis_host, "subscriber", 1) != 0)
        goto err;
    fs->watchdog = event_new(app->base, -1, EV_PERSIST, on_watchdog, fs);
    if (fs->watchdog == NULL || event_add(fs->watchdog, &tick) == -1) goto err;
    redis_link_start(&fs->pub.rl);
    redis_link_start(&fs->sub.rl);
    return fs;
err:
    feed_stream_free(fs);
    return NULL;
}

void feed_stream_free(struct feed_stream *fs)
{
    if (fs == NULL) return;
    fs->closing = 1;
    while (fs->streams != NULL) {
        evhttp_connection_set_closecb(fs->streams->evcon, NULL, NULL);
        stream_forget(fs->streams);
    }
    redis_link_free(&fs->pub.rl);
    redis_link_free(&fs->sub.rl);
    if (fs->watchdog) event_free(fs->watchdog);
    if (fs->keepalive) event_free(fs->keepalive);
    if (fs->event) evbuffer_free(fs->event);
    if (fs->chunk) evbuffer_free(fs->chunk);
    free(fs->ids);
    free(fs);
}

void feed_stream_get_stats(const struct feed_stream *fs,
                           struct feed_stream_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->pubsub = "off";
    if (fs == NULL) return;
    st->open = fs->nstreams;
    st->max = fs->o.max_streams;
    st->opened = fs->opened;
    st->dropped = fs->dropped;
    st->delivered = fs->delivered;
    st->published = fs->published;
    if (fs->pub.rl.state != REDIS_LINK_OFF)
        st->pubsub = fs->pub.rl.state == REDIS_LINK_UP &&
                             fs->sub.rl.state == REDIS_LINK_UP
                         ? "up"
                         : "down";
}
