/* Health, readiness, and the event stream of new posts. */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "call.h"
#include "feed_stream.h"
#include "http_util.h"

/* Alive: the process answers. Nothing else is checked on purpose, so a
 * supervisor restarts only a process that truly hangs. */
void route_healthz(struct call *c)
{
    call_reply(c, 200, json_pack("{s:s, s:s}", "status", "ok", "served_by",
                                 c->app->id));
}

/* Ready for traffic: not draining. The session store's state is reported but
 * does not make us unready: public reads still work without it, and taking
 * every backend out of rotation because Redis is down would turn a partial
 * outage into a full one. */
void route_readyz(struct call *c)
{
    struct backend_app *app = c->app;
    struct overload_stats st;
    struct feed_stream_stats fst;
    int up = app->store->ops->is_up(app->store);

    overload_get_stats(app->ov, &st);
    feed_stream_get_stats(app->streams, &fst);
    call_reply(c, app->draining ? 503 : 200,
               json_pack("{s:b, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I},"
                         " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:s}}",
                         "ready", !app->draining, "sessions",
                         up ? "up" : "down", "store", app->store->ops->name,
                         "served_by", app->id, "queue", "active",
                         (json_int_t)st.active, "waiting",
                         (json_int_t)st.queued, "capacity",
                         (json_int_t)st.capacity, "queue_max",
                         (json_int_t)st.queue_max, "rejected",
                         (json_int_t)st.rejected, "abandoned",
                         (json_int_t)st.abandoned, "streams", "open",
                         (json_int_t)fst.open, "max", (json_int_t)fst.max,
                         "opened", (json_int_t)fst.opened, "dropped",
                         (json_int_t)fst.dropped, "delivered",
                         (json_int_t)fst.delivered, "published",
                         (json_int_t)fst.published, "pubsub", fst.pubsub));
}

/* The replay is read into the call's page buffer. */
_Static_assert(FEED_STREAM_REPLAY_MAX <= FEED_PAGE_MAX,
               "a replay must fit in struct call's posts");

/* Parse a Last-Event-ID: the id of the last post the client saw, a
 * positive decimal (what our "id:" lines carry). Returns 0 and sets *id (0
 * for an empty value: no id, nothing to replay), or -1 for anything else. */
static int parse_last_event_id(const char *v, int64_t *id)
{
    int64_t n = 0;
    size_t i = 0;

    while (v[i] == ' ') i++;
    if (v[i] == '\0') {
        *id = 0;
        return 0;
    }
    if (!isdigit((unsigned char)v[i])) return -1;
    for (; isdigit((unsigned char)v[i]); i++) {
        if (n > (INT64_MAX - 9) / 10) return -1;
        n = n * 10 + (v[i] - '0');
    }
    while (v[i] == ' ') i++;
    if (v[i] != '\0' || n <= 0) return -1;
    *id = n;
    return 0;
}

/* GET /feed/stream: Server-Sent Events of new posts by the people the user
 * follows (feed_stream.h). With Last-Event-ID, the posts written since that
 * one come first, from SQLite (at most FEED_STREAM_REPLAY_MAX, the newest),
 * so a client that reconnects misses nothing in between. */
void route_feed_stream(struct call *c)
{
    struct backend_app *app = c->app;
    const char *last = evhttp_find_header(
        evhttp_request_get_input_headers(c->req), "Last-Event-ID");
    int64_t after = 0;

    if (last != NULL && parse_last_event_id(last, &after) != 0) {
        call_error(c, 400, "Last-Event-ID must be a post id");
        return;
    }
    if (app->draining) { /* this process is leaving: stream from another */
        call_error(c, 503, "shutting down");
        return;
    }
    if (app->streams == NULL || feed_stream_full(app->streams)) {
        call_error(c, 503, "too many open streams");
        return;
    }
    c->nposts = 0;
    if (after > 0 &&
        feed_db_feed_after(app->db, c->user_id, after, FEED_STREAM_REPLAY_MAX,
                           c->posts, &c->nposts) != FEED_OK) {
        call_error(c, 500, "database error");
        return;
    }
    feed_stream_start(app->streams, c, c->posts, c->nposts);
}
