/* The feed API: pages of posts from SQLite, with like counts from the
 * session store; single users and posts; writing posts and likes, which
 * honour an Idempotency-Key so that a retried POST acts once. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "feed_stream.h"
#include "http_util.h"
#include "json_out.h"

#define FEED_PAGE_DEFAULT 20
#define IDEM_HEADER "Idempotency-Key"
#define IDEM_REPLAYED_HEADER "Idempotent-Replayed"

json_t *post_json(const struct feed_post *p, int64_t likes, int liked_by_me)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:o, s:b}", "id", (json_int_t)p->id,
                     "author", p->author, "text", p->text, "created_at",
                     (json_int_t)p->created_at, "likes",
                     likes < 0 ? json_null() : json_integer(likes),
                     "liked_by_me", liked_by_me);
}

void post_json_out(struct evbuffer *out, const struct feed_post *p,
                   int64_t likes, int liked_by_me)
{
    json_out_lit(out, "{\"id\":");
    json_out_int(out, p->id);
    json_out_lit(out, ",\"author\":");
    json_out_str(out, p->author);
    json_out_lit(out, ",\"text\":");
    json_out_str(out, p->text);
    json_out_lit(out, ",\"created_at\":");
    json_out_int(out, p->created_at);
    json_out_lit(out, ",\"likes\":");
    json_out_int(out, likes);
    if (liked_by_me)
        json_out_lit(out, ",\"liked_by_me\":true}");
    else
        json_out_lit(out, ",\"liked_by_me\":false}");
}

json_t *user_json(const struct feed_user *u)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I}", "id",
                     (json_int_t)u->id, "username", u->username,
                     "display_name", u->display_name, "followers",
                     (json_int_t)u->followers, "following",
                     (json_int_t)u->following, "posts", (json_int_t)u->posts,
                     "created_at", (json_int_t)u->created_at);
}

/* Like counts for the page arrived: write the JSON and answer. The page is
 * written straight into the response buffer: a jansson tree per post cost
 * more than the SQLite query (callgrind, bench/backend-feed). */
static void feed_counted(enum store_status st, const int64_t *counts,
                         const unsigned char *liked, int n, void *arg)
{
    struct call *c = arg;
    struct evbuffer *out;

    if (st != STORE_OK) {
        call_error(c, 503, "session store unavailable");
        return;
    }
    out = evhttp_request_get_output_buffer(c->req);
    json_out_lit(out, "{\"posts\":[");
    for (int i = 0; i < n; i++) {
        if (i > 0) json_out_lit(out, ",");
        post_json_out(out, &c->posts[i], counts[i], liked[i]);
    }
    json_out_lit(out, "],\"next_before\":");
    if (c->nposts == c->limit && c->nposts > 0)
        json_out_int(out, c->posts[c->nposts - 1].id);
    else
        json_out_lit(out, "null");
    json_out_lit(out, ",\"served_by\":");
    json_out_str(out, c->app->id);
    json_out_lit(out, "}\n");
    call_reply_written(c, 200);
}

/* GET /feed?limit=N&before=ID: one page, newest first, cursor paging. */
void route_feed(struct call *c)
{
    const char *query = evhttp_uri_get_query(
        evhttp_request_get_evhttp_uri(c->req));
    struct session_store *store = c->app->store;
    long limit = FEED_PAGE_DEFAULT, before = 0;

    if (http_query_long(query, "limit", 1, FEED_PAGE_MAX, &limit) < 0 ||
        http_query_long(query, "before", 1, INT64_MAX, &before) < 0) {
        call_error(c, 400, "limit must be 1..100 and before a post id");
        return;
    }
    c->limit = (int)limit;
    if (feed_db_feed(c->app->db, c->user_id, before, c->limit, c->posts,
                     &c->nposts) != FEED_OK) {
        call_error(c, 500, "database error");
        return;
    }
    for (int i = 0; i < c->nposts; i++) c->ids[i] = c->posts[i].id;
    store->ops->like_counts(store, c->ids, c->nposts, c->user_id,
                            feed_counted, c);
}

void route_user(struct call *c)
{
    switch (feed_db_user_by_name(c->app->db, c->path_name, &c->user)) {
    case FEED_OK:
        call_reply(c, 200, user_json(&c->user));
        return;
    case FEED_NOT_FOUND:
        call_error(c, 404, "no such user");
        return;
    default:
        call_error(c, 500, "database error");
    }
}

/* Count for one post arrived. A store that is down makes the count null:
 * reading a post needs no session store. */
static void post_counted(enum store_status st, const int64_t *counts,
                         const unsigned char *liked, int n, void *arg)
{
    struct call *c = arg;

    (void)n;
    if (st != STORE_OK)
        call_reply(c, 200, post_json(&c->post, -1, 0));
    else
        call_reply(c, 200, post_json(&c->post, counts[0], liked[0]));
}

/* Load c->post from {id}; answers 404/500 itself and returns -1. */
static int load_post(struct call *c)
{
    switch (feed_db_post(c->app->db, c->path_id, &c->post)) {
    case FEED_OK:
        return 0;
    case FEED_NOT_FOUND:
        call_error(c, 404, "no such post");
        return -1;
    default:
        call_error(c, 500, "database error");
        return -1;
    }
}

void route_post(struct call *c)
{
    struct session_store *store = c->app->store;

    if (load_post(c) != 0) return;
    c->ids[0] = c->post.id;
    store->ops->like_counts(store, c->ids, 1, c->user_id, post_counted, c);
}

/* ---- Idempotency-Key ---------------------------------------------------
 *
 * A keyed POST first claims (user, key) in the session store. Claimed: act,
 * record the answer, then send it - recording first, so that once a client
 * holds the answer a repeat replays it rather than meeting a claim. Already
 * finished: send the recorded answer again, marked Idempotent-Replayed. Still
 * running elsewhere: 409 with Retry-After (a retry racing its original). The
 * store down: 503 - acting without the guard could act twice. A 5xx (the
 * act failed) releases the claim instead, so a retry may act. */

/* Read the Idempotency-Key header into c->idem_key (NULL when absent).
 * Returns 0, or -1 after answering 400 for a malformed key or two of them
 * (which one a proxy saw is anyone's guess). */
static int idem_key_read(struct call *c)
{
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(c->req);
    struct evkeyval *h;
    const char *key = NULL;

    TAILQ_FOREACH(h, hdrs, next) {
        if (evutil_ascii_strcasecmp(h->key, IDEM_HEADER) != 0) continue;
        if (key != NULL) {
            call_error(c, 400, "more than one " IDEM_HEADER " header");
            return -1;
        }
        key = h->value;
    }
    if (key != NULL && !session_idem_key_valid(key)) {
        call_error(c, 400, IDEM_HEADER " must be 1..128 characters of "
                           "A-Z a-z 0-9 . _ : -");
        return -1;
    }
    c->idem_key = key;
    return 0;
}

/* idem_begin answered: 1 if this call holds the key and should act; else it
 * has answered (replay, 409 or 503) and returns 0. */
static int idem_claimed(struct call *c, enum store_status st,
                        enum idem_state state, int status, const char *body)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
    json_t *json;

    if (st != STORE_OK) {
        call_error(c, 503, "session store unavailable");
        return 0;
    }
    switch (state) {
    case IDEM_CLAIMED:
        return 1;
    case IDEM_DONE:
        /* Stored compact, sent compact: the same bytes as the first time. */
        json = json_loads(body, 0, NULL);
        if (json == NULL) {
            call_error(c, 500, "stored result unreadable");
            return 0;
        }
        evhttp_add_header(out, IDEM_REPLAYED_HEADER, "true");
        call_reply(c, status, json);
        return 0;
    case IDEM_IN_PROGRESS:
        break;
    }
    evhttp_add_header(out, "Retry-After", "1");
    call_error(c, 409, "a request with this " IDEM_HEADER
                       " is still in progress");
    return 0;
}

/* The answer is recorded (or could not be): send it. A failed record
 * leaves the claim until it lapses: repeats meanwhile get 409, but the work
 * is done and this client must hear about it. */
static void idem_recorded(enum store_status st, void *arg)
{
    struct call *c = arg;
    json_t *body = c->body;

    (void)st;
    c->body = NULL;
    call_reply(c, c->idem_status, body);
}

/* Answer a call that acted: call_reply, recording status and body (taken)
 * for its key first, if it has one. c must not be used afterwards. */
static void idem_reply(struct call *c, int status, json_t *body)
{
    struct session_store *store = c->app->store;
    char *text;

    if (c->idem_key == NULL) {
        call_reply(c, status, body);
        return;
    }
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text == NULL) { /* no memory: answer; the claim lapses */
        call_reply(c, status, body);
        return;
    }
    /* The request body is done with: park the reply in its place, where
     * call_put frees it should the call be abandoned. */
    json_decref(c->body);
    c->body = body;
    c->idem_status = status;
    store->ops->idem_finish(store, c->idem_key, c->user_id, status, text,
                            idem_recorded, c);
    free(text); /* copied by the store; c may be gone already */
}

/* Answer a 5xx for a call that tried to act, releasing its key (if any) so
 * that a retry may act. Nobody waits for the release. */
static void idem_fail(struct call *c, int status, const char *msg)
{
    struct session_store *store = c->app->store;

    if (c->idem_key != NULL)
        store->ops->idem_finish(store, c->idem_key, c->user_id, status, NULL,
                                NULL, NULL);
    call_error(c, status, msg);
}

/* ---- writing ------------------------------------------------------------ */

/* The post is checked (and claimed, if keyed): write it. */
static void create_post_act(struct call *c)
{
    const char *text = json_string_value(json_object_get(c->body, "text"));

    if (feed_db_create_post(c->app->db, c->user_id, text, &c->post) !=
        FEED_OK) {
        idem_fail(c, 500, "database error");
        return;
    }
    feed_stream_publish(c->app->streams, &c->post); /* push to streams */
    idem_reply(c, 201, post_json(&c->post, 0, 0));
}

static void create_post_begun(enum store_status st, enum idem_state state,
                              int status, const char *body, void *arg)
{
    struct call *c = arg;

    if (idem_claimed(c, st, state, status, body)) create_post_act(c);
}

/* POST /posts {"text": "..."}: a new post by the session's user; with an
 * Idempotency-Key, once per key. */
void route_create_post(struct call *c)
{
    struct session_store *store = c->app->store;
    const char *text;
    size_t len;

    if (idem_key_read(c) != 0 || call_read_json(c) != 0) return;
    text = json_string_value(json_object_get(c->body, "text"));
    len = text ? strlen(text) : 0;
    if (text == NULL || len == 0 || len > FEED_POST_TEXT_MAX) {
        call_error(c, 400, "text must be a string of 1..280 bytes");
        return;
    }
    if (c->idem_key == NULL) {
        create_post_act(c);
        return;
    }
    store->ops->idem_begin(store, c->idem_key, c->user_id, create_post_begun,
                           c);
}

static void like_done(enum store_status st, int added, int64_t count,
                      void *arg)
{
    struct call *c = arg;

    if (st != STORE_OK) {
        idem_fail(c, 503, "session store unavailable");
        return;
    }
    idem_reply(c, 200, json_pack("{s:I, s:I, s:b, s:b}", "post_id",
                                 (json_int_t)c->post.id, "likes",
                                 (json_int_t)count, "liked_by_me", 1,
                                 "added", added));
}

static void like_act(struct call *c)
{
    struct session_store *store = c->app->store;

    store->ops->like(store, c->post.id, c->user_id, like_done, c);
}

static void like_begun(enum store_status st, enum idem_state state,
                       int status, const char *body, void *arg)
{
    struct call *c = arg;

    if (idem_claimed(c, st, state, status, body)) like_act(c);
}

/* POST /posts/ID/like: once per user, whichever backend takes it; with an
 * Idempotency-Key the answer, too, is the first one (its count included). */
void route_like(struct call *c)
{
    struct session_store *store = c->app->store;

    if (idem_key_read(c) != 0 || load_post(c) != 0) return;
    if (c->idem_key == NULL) {
        like_act(c);
        return;
    }
    store->ops->idem_begin(store, c->idem_key, c->user_id, like_begun, c);
}
