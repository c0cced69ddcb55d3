/* The feed API: pages of posts from SQLite, with like counts from the
 * session store; single users and posts; writing posts and likes. */
#include <event2/http.h>
#include <string.h>

#include "call.h"
#include "http_util.h"

#define FEED_PAGE_DEFAULT 20

json_t *post_json(const struct feed_post *p, int64_t likes, int liked_by_me)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:o, s:b}", "id", (json_int_t)p->id,
                     "author", p->author, "text", p->text, "created_at",
                     (json_int_t)p->created_at, "likes",
                     likes < 0 ? json_null() : json_integer(likes),
                     "liked_by_me", liked_by_me);
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

/* Like counts for the page arrived: build the JSON and answer. */
static void feed_counted(enum store_status st, const int64_t *counts,
                         const unsigned char *liked, int n, void *arg)
{
    struct call *c = arg;
    json_t *posts = json_array(), *next;

    if (st != STORE_OK) {
        json_decref(posts);
        call_error(c, 503, "session store unavailable");
        return;
    }
    for (int i = 0; i < n; i++)
        json_array_append_new(posts, post_json(&c->posts[i], counts[i],
                                               liked[i]));
    next = c->nposts == c->limit && c->nposts > 0
               ? json_integer(c->posts[c->nposts - 1].id)
               : json_null();
    call_reply(c, 200, json_pack("{s:o, s:o, s:s}", "posts", posts,
                                 "next_before", next, "served_by",
                                 c->app->id));
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

/* POST /posts {"text": "..."}: a new post by the session's user. */
void route_create_post(struct call *c)
{
    const char *text;
    size_t len;

    if (call_read_json(c) != 0) return;
    text = json_string_value(json_object_get(c->body, "text"));
    len = text ? strlen(text) : 0;
    if (text == NULL || len == 0 || len > FEED_POST_TEXT_MAX) {
        call_error(c, 400, "text must be a string of 1..280 bytes");
        return;
    }
    if (feed_db_create_post(c->app->db, c->user_id, text, &c->post) !=
        FEED_OK) {
        call_error(c, 500, "database error");
        return;
    }
    call_reply(c, 201, post_json(&c->post, 0, 0));
}

static void like_done(enum store_status st, int added, int64_t count,
                      void *arg)
{
    struct call *c = arg;

    if (st != STORE_OK) {
        call_error(c, 503, "session store unavailable");
        return;
    }
    call_reply(c, 200, json_pack("{s:I, s:I, s:b, s:b}", "post_id",
                                 (json_int_t)c->post.id, "likes",
                                 (json_int_t)count, "liked_by_me", 1, "added",
                                 added));
}

/* POST /posts/ID/like: once per user, whichever backend takes it. */
void route_like(struct call *c)
{
    struct session_store *store = c->app->store;

    if (load_post(c) != 0) return;
    store->ops->like(store, c->post.id, c->user_id, like_done, c);
}
