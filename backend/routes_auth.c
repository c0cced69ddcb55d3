/* Logging in and out: passwords checked off the event loop, sessions kept in
 * the session store, the id handed to the browser as an HttpOnly cookie. */
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "http_util.h"
#include "log.h"
#include "pwhash.h"

#define PASSWORD_MAX 256 /* bytes; longer ones are refused before hashing */

/* Verified against when the user does not exist, so a wrong name costs as
 * much time as a wrong password and timing does not reveal who has an
 * account. Made once, lazily, with the same cost as real hashes. */
static char dummy_hash[PWHASH_STR_MAX];

static void set_session_cookie(struct call *c, const char *sid, long max_age)
{
    char cookie[SESSION_ID_LEN + 96];

    snprintf(cookie, sizeof(cookie),
             "sid=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%ld", sid,
             max_age);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie",
                      cookie);
}

/* The store made the session: hand its id to the browser. */
static void login_session_made(enum store_status st, const char *sid,
                               int64_t user_id, void *arg)
{
    struct call *c = arg;

    (void)user_id;
    if (st != STORE_OK) {
        call_error(c, 503, "session store unavailable");
        return;
    }
    set_session_cookie(c, sid, c->app->session_ttl);
    call_reply(c, 200, json_pack("{s:o, s:s}", "user", user_json(&c->user),
                                 "served_by", c->app->id));
}

/* The worker thread has compared the password with its hash. */
static void login_checked(int match, void *arg)
{
    struct call *c = arg;
    struct session_store *store = c->app->store;

    if (!match || c->user.id == 0) {
        call_error(c, 401, "wrong username or password");
        return;
    }
    store->ops->session_create(store, c->user.id, login_session_made, c);
}

void route_login(struct call *c)
{
    struct backend_app *app = c->app;
    char hash[PWHASH_STR_MAX];
    const char *name, *password;
    int64_t user_id = 0;

    if (call_read_json(c) != 0) return;
    name = json_string_value(json_object_get(c->body, "username"));
    password = json_string_value(json_object_get(c->body, "password"));
    if (name == NULL || password == NULL) {
        call_error(c, 400, "username and password must be strings");
        return;
    }
    if (strlen(password) > PASSWORD_MAX || strlen(name) > FEED_USERNAME_MAX) {
        call_error(c, 401, "wrong username or password");
        return;
    }
    /* Say so at once when sessions cannot be stored, before any hashing. */
    if (!app->store->ops->is_up(app->store)) {
        call_error(c, 503, "session store unavailable");
        return;
    }
    switch (feed_db_password_hash(app->db, name, &user_id, hash,
                                  sizeof(hash))) {
    case FEED_OK:
        if (feed_db_user_by_id(app->db, user_id, &c->user) != FEED_OK) {
            call_error(c, 500, "database error");
            return;
        }
        break;
    case FEED_NOT_FOUND:
        if (dummy_hash[0] == '\0' && pwhash_hash("not a password", dummy_hash))
            dummy_hash[0] = '\0';
        snprintf(hash, sizeof(hash), "%s", dummy_hash);
        c->user.id = 0;
        break;
    default:
        call_error(c, 500, "database error");
        return;
    }
    if (pwhash_pool_verify(app->pw, hash, password, login_checked, c) != 0)
        call_error(c, 503, "too many logins at once");
}

/* The store forgot the session (or never had it). */
static void logout_done(enum store_status st, const char *sid, int64_t uid,
                        void *arg)
{
    struct call *c = arg;

    (void)sid;
    (void)uid;
    if (st == STORE_DOWN) {
        call_error(c, 503, "session store unavailable");
        return;
    }
    set_session_cookie(c, "", 0);
    call_reply(c, 200, json_pack("{s:b}", "ok", 1));
}

void route_logout(struct call *c)
{
    struct session_store *store = c->app->store;
    const char *cookie = evhttp_find_header(
        evhttp_request_get_input_headers(c->req), "Cookie");

    if (cookie != NULL && http_cookie_get(cookie, "sid", c->sid,
                                          sizeof(c->sid)) &&
        strlen(c->sid) == SESSION_ID_LEN) {
        store->ops->session_delete(store, c->sid, logout_done, c);
        return;
    }
    logout_done(STORE_OK, NULL, 0, c);
}

void route_me(struct call *c)
{
    switch (feed_db_user_by_id(c->app->db, c->user_id, &c->user)) {
    case FEED_OK:
        call_reply(c, 200, user_json(&c->user));
        return;
    case FEED_NOT_FOUND: /* a session for a user who is gone */
        call_error(c, 401, "not logged in");
        return;
    default:
        call_error(c, 500, "database error");
    }
}
