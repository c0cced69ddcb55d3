/* GET /feed/stream: new posts pushed to the people who follow their authors,
 * as Server-Sent Events - the "push" half of the push-vs-pull lab.
 *
 * One struct feed_stream per backend (the hub) keeps this process's open
 * streams and moves posts to them:
 *
 *   POST /posts on this backend --feed_stream_publish--> local streams, at once
 *                                 \--PUBLISH sb:posts--> Redis --> every other
 *   backend's subscriber --> its local streams
 *
 * With Redis (--sessions redis) the hub keeps two extra hiredis links of its
 * own: a publisher, and a subscriber in SUBSCRIBE mode on FEED_STREAM_CHANNEL.
 * Both reconnect by themselves with backoff, like the session store. Each
 * message carries the id of the process that wrote it, so a backend skips
 * its own posts coming back (it delivered them already, without waiting on
 * Redis). Without Redis (--sessions memory) posts reach this backend's
 * streams only.
 *
 * Delivery is at most once, like Redis pub/sub itself: a post written while
 * Redis is down, or while this backend's subscriber is reconnecting, reaches
 * only the streams of the backend that wrote it. A client that reconnects
 * with Last-Event-ID gets what it missed from SQLite (the route does that).
 *
 * Every event is
 *     id: <post id>\nevent: post\ndata: <post JSON as in /feed>\n\n
 * with "likes":0 and "liked_by_me":false - the post as it was written; the
 * stream does not follow likes. A ": keepalive" comment goes to every stream
 * each keepalive_ms so that proxies with idle timeouts keep it open.
 *
 * Everything here runs on the event-loop thread. */
#ifndef SB_FEED_STREAM_H
#define SB_FEED_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define FEED_STREAM_CHANNEL "sb:posts"      /* the Redis pub/sub channel */
#define FEED_STREAM_KEEPALIVE_MS 5000       /* default comment interval */
#define FEED_STREAMS_MAX 1000               /* default open streams; 503 beyond */
#define FEED_STREAM_QUEUED_MAX 262144      /* default bytes (256 KiB) one
                                               stream may have waiting for
                                               its client; a slower client
                                               is dropped (a literal: main.c
                                               prints it as a flag default) */
#define FEED_STREAM_REPLAY_MAX 50           /* posts one Last-Event-ID brings
                                               back (the newest of those
                                               missed) */
#define FEED_STREAM_FOLLOWEES_MAX 10000     /* followees a stream matches
                                               posts against; the posts of
                                               any beyond are not pushed */

struct backend_app;
struct call;
struct feed_post;
struct feed_stream;

struct feed_stream_opts {
    long keepalive_ms;       /* ": keepalive" interval, > 0 */
    long max_streams;        /* open streams at once, > 0 */
    size_t max_queued;       /* bytes waiting per stream before it is dropped */
    long write_timeout_ms;   /* a client that takes nothing this long while
                                bytes wait is dropped (by evhttp); a stream
                                has no read timeout: its client says nothing */
    const char *redis_host;  /* NULL: no Redis, this backend's posts only.
                                Numeric or localhost: lookups block */
    int redis_port;
};

/* What /readyz shows. pubsub: "off" without Redis, "up" when both links
 * are up (posts travel between backends), else "down". */
struct feed_stream_stats {
    long open, max;
    uint64_t opened, dropped, delivered, published;
    const char *pubsub;
};

/* A hub for app (whose db, base and counters it uses). Does not wait for
 * Redis: the links come up through the event loop. NULL on allocation
 * failure. */
struct feed_stream *feed_stream_new(struct backend_app *app,
                                    const struct feed_stream_opts *o);

/* Free the hub and its Redis links. Streams still open are left to their
 * connections (evhttp_free closes them and frees their requests). Call it
 * from outside the event loop's callbacks, before evhttp_free. NULL is a
 * no-op. */
void feed_stream_free(struct feed_stream *fs);

/* 1 when max_streams are open: a new stream must be refused (503). */
int feed_stream_full(const struct feed_stream *fs);

/* Turn call c - GET /feed/stream with a logged-in user, checked and not
 * full - into an open stream: 200 with the event-stream headers, then
 * replay[0..nreplay) (oldest first) as events, then every new post by
 * someone the user follows (as of now: the follow list is read once) or by
 * the user. c is finished either way: on success its admission slot is
 * released, the request counts as answered (a drain does not wait for a
 * stream; it ends it) and the call object is gone; on failure (database,
 * memory) c is answered with an error. replay may point into c. */
void feed_stream_start(struct feed_stream *fs, struct call *c,
                       const struct feed_post *replay, int nreplay);

/* A post was just written on this backend: push it to this backend's
 * streams and, with Redis, publish it to the others. p is copied. NULL fs
 * is a no-op. */
void feed_stream_publish(struct feed_stream *fs, const struct feed_post *p);

/* SIGTERM: end every open stream cleanly (the terminating chunk, then the
 * connection closes), so that the drain has nothing to wait for. */
void feed_stream_end_all(struct feed_stream *fs);

void feed_stream_get_stats(const struct feed_stream *fs,
                           struct feed_stream_stats *st);

#endif
