/* The feed data in SQLite: users, posts and follows.
 *
 * One struct feed_db per process owns one connection (WAL mode) and every
 * statement it runs, prepared once at open and reset after each use: no SQL is
 * ever built from input. Calls are synchronous and meant for the event-loop
 * thread; each is a single indexed query. Like counts are not here: they live
 * in the session store, so that a like counts once whichever backend took it. */
#ifndef SB_FEED_DB_H
#define SB_FEED_DB_H

#include <stddef.h>
#include <stdint.h>

#define FEED_USERNAME_MAX 32     /* bytes, without the NUL */
#define FEED_DISPLAY_MAX 64
#define FEED_POST_TEXT_MAX 280   /* bytes of UTF-8 */
#define FEED_PAGE_MAX 100        /* posts one /feed call may ask for */

enum feed_result {
    FEED_OK = 0,
    FEED_NOT_FOUND = 1,
    FEED_ERROR = -1 /* SQLite failed; already logged with the reason */
};

struct feed_user {
    int64_t id;
    char username[FEED_USERNAME_MAX + 1];
    char display_name[FEED_DISPLAY_MAX + 1];
    int64_t created_at; /* Unix seconds */
    int64_t followers, following, posts;
};

struct feed_post {
    int64_t id;
    int64_t author_id;
    char author[FEED_USERNAME_MAX + 1];
    char text[FEED_POST_TEXT_MAX + 1];
    int64_t created_at; /* Unix seconds */
};

struct feed_db;

/* Open an existing database made by feed_db_seed. Returns NULL with a reason
 * in err if the file is missing, not ours, or a statement fails to prepare. */
struct feed_db *feed_db_open(const char *path, char *err, size_t errlen);
void feed_db_close(struct feed_db *db);

/* One user by name or id, with follower/following/post counts. */
enum feed_result feed_db_user_by_name(struct feed_db *db, const char *name,
                                      struct feed_user *out);
enum feed_result feed_db_user_by_id(struct feed_db *db, int64_t id,
                                    struct feed_user *out);

/* The stored password hash of a user, for the caller to verify off the
 * event loop (see pwhash.h). hash must hold PWHASH_STR_MAX bytes. */
enum feed_result feed_db_password_hash(struct feed_db *db, const char *name,
                                       int64_t *user_id, char *hash,
                                       size_t hashlen);

/* The newest posts by the people user_id follows and by user_id, with
 * id < before (before <= 0: from the newest), newest first, at most limit
 * (1..FEED_PAGE_MAX). Fills out[0..*n). */
enum feed_result feed_db_feed(struct feed_db *db, int64_t user_id,
                              int64_t before, int limit,
                              struct feed_post *out, int *n);

enum feed_result feed_db_post(struct feed_db *db, int64_t id,
                              struct feed_post *out);

/* The newest posts by the people user_id follows and by user_id with
 * id > after, at most limit (1..FEED_PAGE_MAX) of them, OLDEST first: what a
 * reconnecting stream missed, in the order it would have seen them. When
 * more than limit are newer, the oldest of them are left out. */
enum feed_result feed_db_feed_after(struct feed_db *db, int64_t user_id,
                                    int64_t after, int limit,
                                    struct feed_post *out, int *n);

/* The ids of the users user_id follows, ascending (ready for a binary
 * search), at most max of them in out[0..*n). *more is set to 1 when the
 * user follows more than max (out then holds the max lowest ids), else 0;
 * more may be NULL. */
enum feed_result feed_db_followees(struct feed_db *db, int64_t user_id,
                                   int64_t *out, int max, int *n, int *more);

/* Write a new post by author_id; text is 1..FEED_POST_TEXT_MAX bytes (the
 * caller checks). Fills out with the stored row. */
enum feed_result feed_db_create_post(struct feed_db *db, int64_t author_id,
                                     const char *text, struct feed_post *out);

/* The query plan SQLite picks for the feed query, one line per step, for
 * tests and the curious. Writes at most outlen bytes. */
int feed_db_explain_feed(struct feed_db *db, char *out, size_t outlen);

struct feed_seed_opts {
    long users;          /* default 1000; the first four are alice, bob, carol, dave */
    long posts_per_user; /* default 50 */
    long seed;           /* PRNG seed: same seed, same data set */
};

/* Create (or replace) the database at path with a deterministic demo data set.
 * Every user's password is "switchboard", stored as a salted argon2id hash.
 * Returns 0, or -1 with a reason in err. */
int feed_db_seed(const char *path, const struct feed_seed_opts *opts, char *err,
                 size_t errlen);

#endif
