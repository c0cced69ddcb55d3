/* feed_db and feed_db_seed against real SQLite files in a temporary
 * directory. Expected answers come from plain SQL on the same file (an
 * oracle independent of the statements under test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "feed_db.h"
#include "pwhash.h"

#define SMALL_USERS 50
#define SMALL_POSTS 10
#define SMALL_SEED 7

static char dir[] = "/tmp/sb_feed_db_XXXXXX";
static char main_db[sizeof dir + 32];
static struct feed_db *db; /* on main_db, for the whole group */
static sqlite3 *oracle;    /* a second, plain connection to main_db */

static void path_in_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* Remove a database file and its WAL companions. */
static void remove_db(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char name[256];
    for (size_t i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffix[i]);
        unlink(name);
    }
}

static void seed_or_fail(const char *path, long users, long posts, long seed)
{
    struct feed_seed_opts o = {users, posts, seed};
    char err[256] = "";
    int rc = feed_db_seed(path, &o, err, sizeof err);
    if (rc != 0) fail_msg("seed %s: %s", path, err);
}

/* One integer from SQL on the oracle, with arg bound to ?1 if the SQL has
 * one (binding an absent parameter is a harmless SQLITE_RANGE). */
static int64_t sql_int(const char *sql, int64_t arg)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(oracle, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, arg);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int group_teardown(void **state);

static int group_setup(void **state)
{
    char err[256];
    struct feed_seed_opts o = {SMALL_USERS, SMALL_POSTS, SMALL_SEED};

    if (mkdtemp(dir) == NULL) return -1;
    path_in_dir(main_db, sizeof main_db, "main.db");
    if (feed_db_seed(main_db, &o, err, sizeof err) != 0) {
        fprintf(stderr, "seed: %s\n", err);
        goto fail;
    }
    db = feed_db_open(main_db, err, sizeof err);
    if (db == NULL) {
        fprintf(stderr, "open: %s\n", err);
        goto fail;
    }
    if (sqlite3_open_v2(main_db, &oracle, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK)
        goto fail;
    return 0;
fail:
    group_teardown(state); /* leave no temp files behind */
    return -1;
}

/* Removes every file a test may have made, so a failed assertion (which
 * skips that test's own clean-up) leaves nothing behind either. */
static int group_teardown(void **state)
{
    static const char *const names[] = {"main.db", "a.db",     "b.db",
                                        "c.db",    "tiny.db",  "noindex.db",
                                        "notes.txt"};
    char path[256];
    (void)state;
    feed_db_close(db);
    sqlite3_close(oracle);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in_dir(path, sizeof path, names[i]);
        remove_db(path);
    }
    return rmdir(dir);
}

/* ---- open -------------------------------------------------------------- */

static void open_missing_file_fails(void **state)
{
    (void)state;
    char path[256], err[256] = "";
    path_in_dir(path, sizeof path, "missing.db");
    assert_null(feed_db_open(path, err, sizeof err));
    assert_non_null(strstr(err, "no such database"));
    assert_int_not_equal(access(path, F_OK), 0); /* and did not create it */
    assert_null(feed_db_open(path, NULL, 0));    /* err is optional */
}

static void open_foreign_files_fails(void **state)
{
    (void)state;
    char path[256], err[256] = "";
    path_in_dir(path, sizeof path, "notes.txt");

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a database, just some text long enough to have a "
          "header of sorts..........................................\n",
          f);
    fclose(f);
    assert_null(feed_db_open(path, err, sizeof err));
    assert_non_null(strstr(err, "not a switchboard database"));
    unlink(path);

    f = fopen(path, "w"); /* empty: SQLite would call this a database */
    assert_non_null(f);
    fclose(f);
    err[0] = '\0';
    assert_null(feed_db_open(path, err, sizeof err));
    assert_non_null(strstr(err, "not a switchboard database"));
    unlink(path);

    /* A real SQLite database that is someone else's. */
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other,
                                  "CREATE TABLE t(x); INSERT INTO t VALUES(1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);
    err[0] = '\0';
    assert_null(feed_db_open(path, err, sizeof err));
    assert_non_null(strstr(err, "not a switchboard database"));
    remove_db(path);
}

/* ---- users ------------------------------------------------------------- */

static void alice_is_user_one_and_follows_friends(void **state)
{
    (void)state;
    struct feed_user u;
    assert_int_equal(feed_db_user_by_name(db, "alice", &u), FEED_OK);
    assert_int_equal(u.id, 1);
    assert_string_equal(u.username, "alice");
    assert_string_equal(u.display_name, "Alice Liddell");
    assert_true(u.created_at > 0);
    assert_int_equal(
        sql_int("SELECT count(*) FROM follows WHERE follower_id = ?1"
                " AND followee_id IN (2, 3, 4)",
                1),
        3);
    /* the named users follow each other and 20..40 others */
    assert_in_range(u.following, 3 + 20, 3 + 40);
    assert_int_equal(
        u.following,
        sql_int("SELECT count(*) FROM follows WHERE follower_id = ?1", 1));
    assert_int_equal(
        u.followers,
        sql_int("SELECT count(*) FROM follows WHERE followee_id = ?1", 1));
    assert_int_equal(u.posts, SMALL_POSTS);

    const char *names[] = {"bob", "carol", "dave"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(feed_db_user_by_id(db, i + 2, &u), FEED_OK);
        assert_string_equal(u.username, names[i]);
        assert_int_equal(
            sql_int("SELECT count(*) FROM follows WHERE follower_id = ?1"
                    " AND followee_id IN (1, 2, 3, 4)",
                    i + 2),
            3);
    }
}

static void every_user_is_well_formed(void **state)
{
    (void)state;
    for (int64_t id = 1; id <= SMALL_USERS; id++) {
        struct feed_user u, by_name;
        assert_int_equal(feed_db_user_by_id(db, id, &u), FEED_OK);
        assert_in_range(strlen(u.username), 1, FEED_USERNAME_MAX);
        assert_int_equal(
            strspn(u.username, "abcdefghijklmnopqrstuvwxyz0123456789_"),
            strlen(u.username));
        assert_int_equal(feed_db_user_by_name(db, u.username, &by_name),
                         FEED_OK);
        assert_int_equal(by_name.id, id);
        if (id > 4) assert_in_range(u.following, 20, SMALL_USERS - 1);
        assert_int_equal(u.posts, SMALL_POSTS);
    }
    assert_int_equal(sql_int("SELECT count(DISTINCT username) FROM users", 0),
                     SMALL_USERS);
    assert_int_equal(sql_int("SELECT count(*) FROM follows"
                             " WHERE follower_id = followee_id",
                             0),
                     0);
}

static void unknown_users_are_not_found(void **state)
{
    (void)state;
    struct feed_user u;
    assert_int_equal(feed_db_user_by_name(db, "nobody_here", &u),
                     FEED_NOT_FOUND);
    assert_int_equal(feed_db_user_by_name(db, "alice' OR '1'='1", &u),
                     FEED_NOT_FOUND);
    assert_int_equal(feed_db_user_by_id(db, 0, &u), FEED_NOT_FOUND);
    assert_int_equal(feed_db_user_by_id(db, SMALL_USERS + 1, &u),
                     FEED_NOT_FOUND);
    int64_t id = -1;
    char hash[PWHASH_STR_MAX];
    assert_int_equal(
        feed_db_password_hash(db, "nobody_here", &id, hash, sizeof hash),
        FEED_NOT_FOUND);
}

static void passwords_are_switchboard(void **state)
{
    (void)state;
    int64_t id = 0;
    char h_alice[PWHASH_STR_MAX], h_bob[PWHASH_STR_MAX];
    assert_int_equal(
        feed_db_password_hash(db, "alice", &id, h_alice, sizeof h_alice),
        FEED_OK);
    assert_int_equal(id, 1);
    assert_int_equal(feed_db_password_hash(db, "bob", &id, h_bob, sizeof h_bob),
                     FEED_OK);
    assert_int_equal(id, 2);
    assert_string_not_equal(h_alice, h_bob); /* each salted on its own */
    assert_int_equal(pwhash_verify(h_alice, "switchboard"), 1);
    assert_int_equal(pwhash_verify(h_bob, "switchboard"), 1);
    assert_int_equal(pwhash_verify(h_alice, "Switchboard"), 0);
    assert_int_equal(pwhash_verify(h_alice, "wrong"), 0);
}

/* ---- feed -------------------------------------------------------------- */

/* Every post of user_id's feed, newest first, walked in pages of `page`.
 * Checks order and membership on the way; returns how many. */
static int walk_feed(struct feed_db *fdb, int64_t user_id, int page,
                     uint64_t *checksum)
{
    struct feed_post out[FEED_PAGE_MAX];
    int64_t before = 0, last = INT64_MAX;
    int total = 0, n;
    do {
        assert_int_equal(feed_db_feed(fdb, user_id, before, page, out, &n),
                         FEED_OK);
        assert_in_range(n, 0, page);
        for (int i = 0; i < n; i++) {
            assert_true(out[i].id < last); /* strictly descending, no overlap */
            last = out[i].id;
            if (checksum) {
                /* FNV-1a over what a reader sees */
                const unsigned char *parts[2] = {
                    (const unsigned char *)out[i].author,
                    (const unsigned char *)out[i].text};
                uint64_t h = *checksum;
                int64_t nums[2] = {out[i].id, out[i].created_at};
                for (int k = 0; k < 2; k++)
                    for (size_t b = 0; b < sizeof nums[k]; b++)
                        h = (h ^ ((uint64_t)nums[k] >> (8 * b) & 0xff)) *
                            0x100000001b3ULL;
                for (int k = 0; k < 2; k++)
                    for (const unsigned char *c = parts[k]; *c; c++)
                        h = (h ^ *c) * 0x100000001b3ULL;
                *checksum = h;
            }
        }
        total += n;
        if (n > 0) before = out[n - 1].id;
    } while (n == page);
    return total;
}

static void feed_pages_continue_without_gaps(void **state)
{
    (void)state;
    struct feed_post p1[5], p2[5], p10[10];
    int n1, n2, n10;
    assert_int_equal(feed_db_feed(db, 1, 0, 5, p1, &n1), FEED_OK);
    assert_int_equal(n1, 5);
    for (int i = 1; i < 5; i++) assert_true(p1[i].id < p1[i - 1].id);
    assert_int_equal(feed_db_feed(db, 1, p1[4].id, 5, p2, &n2), FEED_OK);
    assert_int_equal(n2, 5);
    assert_true(p2[0].id < p1[4].id);
    assert_int_equal(feed_db_feed(db, 1, -1, 10, p10, &n10), FEED_OK);
    assert_int_equal(n10, 10);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(p10[i].id, p1[i].id);
        assert_int_equal(p10[i + 5].id, p2[i].id);
        assert_string_equal(p10[i + 5].text, p2[i].text);
    }
    /* The newest page starts at the newest post alice may see. */
    assert_int_equal(
        p1[0].id,
        sql_int("SELECT max(id) FROM posts WHERE author_id = ?1 OR author_id IN"
                " (SELECT followee_id FROM follows WHERE follower_id = ?1)",
                1));
}

static void feed_is_exactly_followed_and_own_posts(void **state)
{
    (void)state;
    static const char expect_sql[] =
        "SELECT count(*) FROM posts WHERE author_id = ?1 OR author_id IN"
        " (SELECT followee_id FROM follows WHERE follower_id = ?1)";
    for (int64_t uid = 1; uid <= 6; uid++)
        assert_int_equal(walk_feed(db, uid, 7, NULL), sql_int(expect_sql, uid));

    /* Each post of one page: its author is followed or is alice, and its
     * fields match the stored row. */
    struct feed_post out[FEED_PAGE_MAX];
    int n;
    assert_int_equal(feed_db_feed(db, 1, 0, FEED_PAGE_MAX, out, &n), FEED_OK);
    assert_int_equal(n, FEED_PAGE_MAX);
    for (int i = 0; i < n; i++) {
        assert_true(out[i].author_id == 1 ||
                    sql_int("SELECT count(*) FROM follows WHERE follower_id = 1"
                            " AND followee_id = ?1",
                            out[i].author_id) == 1);
        struct feed_user u;
        assert_int_equal(feed_db_user_by_id(db, out[i].author_id, &u), FEED_OK);
        assert_string_equal(out[i].author, u.username);
        assert_int_equal(
            out[i].author_id,
            sql_int("SELECT author_id FROM posts WHERE id = ?1", out[i].id));
    }
}

static void feed_limits_are_enforced(void **state)
{
    (void)state;
    struct feed_post out[FEED_PAGE_MAX];
    int n = -1;
    assert_int_equal(feed_db_feed(db, 1, 0, 0, out, &n), FEED_OK);
    assert_int_equal(n, 0);
    /* more than FEED_PAGE_MAX asked: FEED_PAGE_MAX given, out never overrun */
    assert_int_equal(feed_db_feed(db, 1, 0, FEED_PAGE_MAX + 50, out, &n),
                     FEED_OK);
    assert_int_equal(n, FEED_PAGE_MAX);
    assert_int_equal(feed_db_feed(db, 1, 1, 10, out, &n), FEED_OK); /* id < 1 */
    assert_int_equal(n, 0);
    assert_int_equal(feed_db_feed(db, 999999, 0, 10, out, &n), FEED_OK);
    assert_int_equal(n, 0);
}

static void posts_by_id(void **state)
{
    (void)state;
    struct feed_post p;
    assert_int_equal(feed_db_post(db, 1, &p), FEED_OK);
    assert_int_equal(p.id, 1);
    assert_true(p.text[0] != '\0');
    assert_int_equal(p.author_id,
                     sql_int("SELECT author_id FROM posts WHERE id = ?1", 1));
    assert_int_equal(feed_db_post(db, 0, &p), FEED_NOT_FOUND);
    assert_int_equal(feed_db_post(db, INT64_MAX, &p), FEED_NOT_FOUND);
    /* ids follow time */
    assert_int_equal(
        sql_int("SELECT count(*) FROM posts a JOIN posts b ON b.id = a.id + ?1"
                " WHERE b.created_at < a.created_at",
                1),
        0);
}

static void created_post_tops_followers_feed(void **state)
{
    (void)state;
    struct feed_post p, top;
    int n;
    time_t t0 = time(NULL);
    int64_t max_before = sql_int("SELECT max(id) FROM posts", 0);
    assert_int_equal(feed_db_create_post(db, 3, "hello from carol's test", &p),
                     FEED_OK);
    assert_true(p.id > max_before);
    assert_int_equal(p.author_id, 3);
    assert_string_equal(p.author, "carol");
    assert_string_equal(p.text, "hello from carol's test");
    assert_in_range(p.created_at, t0 - 1, time(NULL) + 1);

    /* alice follows carol; carol sees her own post too */
    for (int64_t reader = 1; reader <= 3; reader += 2) {
        assert_int_equal(feed_db_feed(db, reader, 0, 1, &top, &n), FEED_OK);
        assert_int_equal(n, 1);
        assert_int_equal(top.id, p.id);
        assert_string_equal(top.text, p.text);
    }
    assert_int_equal(feed_db_post(db, p.id, &top), FEED_OK);
    assert_string_equal(top.author, "carol");

    assert_int_equal(feed_db_create_post(db, 999999, "nobody", &p),
                     FEED_NOT_FOUND);
}

static void long_texts_are_cut_safely(void **state)
{
    (void)state;
    /* "a" then 200 two-byte characters: 401 bytes, more than the caller
     * should ever pass, and byte 280 falls inside a character. */
    char text[402];
    text[0] = 'a';
    for (int i = 0; i < 200; i++) memcpy(text + 1 + 2 * i, "\xc3\xa9", 2);
    text[401] = '\0';
    struct feed_post p;
    assert_int_equal(feed_db_create_post(db, 2, text, &p), FEED_OK);
    assert_int_equal(strlen(p.text), FEED_POST_TEXT_MAX - 1);
    assert_int_equal(memcmp(p.text, text, FEED_POST_TEXT_MAX - 1), 0);
}

/* ---- streams: followees and what a reconnecting stream missed ---------- */

static void followees_are_sorted_and_exact(void **state)
{
    (void)state;
    int64_t ids[SMALL_USERS + 1];
    int n = -1, more = -1;

    for (int64_t uid = 1; uid <= 6; uid++) {
        int64_t count =
            sql_int("SELECT count(*) FROM follows WHERE follower_id = ?1", uid);
        assert_int_equal(feed_db_followees(db, uid, ids, SMALL_USERS + 1, &n,
                                           &more),
                         FEED_OK);
        assert_int_equal(n, count);
        assert_int_equal(more, 0);
        for (int i = 0; i < n; i++) {
            if (i > 0) assert_true(ids[i] > ids[i - 1]); /* ascending */
            assert_true(ids[i] != uid);
            char sql[128];
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM follows WHERE follower_id = %lld"
                     " AND followee_id = ?1", (long long)uid);
            assert_int_equal(sql_int(sql, ids[i]), 1);
        }
    }

    /* Exactly max is not "more"; one short of it is, and keeps the lowest. */
    int64_t all[SMALL_USERS + 1], few[3];
    int nall, nfew;
    assert_int_equal(feed_db_followees(db, 1, all, SMALL_USERS + 1, &nall,
                                       NULL),
                     FEED_OK);
    assert_true(nall > 3);
    assert_int_equal(feed_db_followees(db, 1, ids, nall, &n, &more), FEED_OK);
    assert_int_equal(n, nall);
    assert_int_equal(more, 0);
    assert_int_equal(feed_db_followees(db, 1, ids, nall - 1, &n, &more),
                     FEED_OK);
    assert_int_equal(n, nall - 1);
    assert_int_equal(more, 1);
    few[2] = -7; /* a canary: max 2 must not write a third id */
    assert_int_equal(feed_db_followees(db, 1, few, 2, &nfew, &more), FEED_OK);
    assert_int_equal(nfew, 2);
    assert_int_equal(more, 1);
    assert_int_equal(few[0], all[0]);
    assert_int_equal(few[1], all[1]);
    assert_int_equal(few[2], -7);
    assert_int_equal(feed_db_followees(db, 1, few, 0, &nfew, &more), FEED_OK);
    assert_int_equal(nfew, 0);
    assert_int_equal(more, 1);

    /* Nobody: nothing, and not more. */
    assert_int_equal(feed_db_followees(db, 999999, ids, 10, &n, &more),
                     FEED_OK);
    assert_int_equal(n, 0);
    assert_int_equal(more, 0);
}

static void feed_after_is_the_newest_after_oldest_first(void **state)
{
    (void)state;
    struct feed_post page[10], out[FEED_PAGE_MAX];
    int npage, n = -1;

    assert_int_equal(feed_db_feed(db, 1, 0, 10, page, &npage), FEED_OK);
    assert_int_equal(npage, 10); /* newest first */

    /* After page[5]: page[4] .. page[0], oldest first. */
    assert_int_equal(feed_db_feed_after(db, 1, page[5].id, 50, out, &n),
                     FEED_OK);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(out[i].id, page[4 - i].id);
        assert_int_equal(out[i].author_id, page[4 - i].author_id);
        assert_string_equal(out[i].author, page[4 - i].author);
        assert_string_equal(out[i].text, page[4 - i].text);
        assert_int_equal(out[i].created_at, page[4 - i].created_at);
    }
    /* Bounded: the newest two of those five, still oldest first. */
    assert_int_equal(feed_db_feed_after(db, 1, page[5].id, 2, out, &n),
                     FEED_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].id, page[1].id);
    assert_int_equal(out[1].id, page[0].id);
    /* Nothing newer than the newest. */
    assert_int_equal(feed_db_feed_after(db, 1, page[0].id, 50, out, &n),
                     FEED_OK);
    assert_int_equal(n, 0);
    /* From the start (after <= 0): the newest `limit`, the page reversed. */
    assert_int_equal(feed_db_feed_after(db, 1, 0, 10, out, &n), FEED_OK);
    assert_int_equal(n, 10);
    for (int i = 0; i < 10; i++) assert_int_equal(out[i].id, page[9 - i].id);
    /* Limits: 0 gives nothing, beyond FEED_PAGE_MAX is capped. */
    assert_int_equal(feed_db_feed_after(db, 1, 0, 0, out, &n), FEED_OK);
    assert_int_equal(n, 0);
    assert_int_equal(feed_db_feed_after(db, 1, 0, FEED_PAGE_MAX + 50, out, &n),
                     FEED_OK);
    assert_int_equal(n, FEED_PAGE_MAX);
    for (int i = 1; i < n; i++) assert_true(out[i].id > out[i - 1].id);
    assert_int_equal(feed_db_feed_after(db, 999999, 0, 10, out, &n), FEED_OK);
    assert_int_equal(n, 0);
}

static void feed_after_sees_new_posts_of_followed_only(void **state)
{
    (void)state;
    struct feed_post p, out[FEED_PAGE_MAX];
    int n;
    int64_t max_id = sql_int("SELECT max(id) FROM posts", 0);
    /* Someone who does not follow carol (3), and is not carol. */
    int64_t stranger = sql_int(
        "SELECT min(id) FROM users WHERE id <> ?1 AND id NOT IN"
        " (SELECT follower_id FROM follows WHERE followee_id = ?1)", 3);
    assert_true(stranger > 0);

    assert_int_equal(feed_db_create_post(db, 3, "for the streams", &p),
                     FEED_OK);
    /* alice follows carol; carol sees her own */
    for (int64_t reader = 1; reader <= 3; reader += 2) {
        assert_int_equal(feed_db_feed_after(db, reader, max_id, 50, out, &n),
                         FEED_OK);
        assert_int_equal(n, 1);
        assert_int_equal(out[0].id, p.id);
        assert_string_equal(out[0].author, "carol");
        assert_string_equal(out[0].text, "for the streams");
    }
    assert_int_equal(feed_db_feed_after(db, stranger, max_id, 50, out, &n),
                     FEED_OK);
    assert_int_equal(n, 0);
}

/* ---- query plan -------------------------------------------------------- */

/* The feed plan walks posts through posts_author and never scans posts. */
static int plan_uses_index(const char *plan)
{
    if (strstr(plan, "INDEX posts_author (author_id=? AND rowid<?)") == NULL)
        return 0;
    if (strstr(plan, "SCAN posts") != NULL) return 0;
    /* "SCAN p" as a whole line would be posts under its alias ("SCAN page",
     * the 20-row materialised page, is fine). */
    const char *l = plan;
    while ((l = strstr(l, "SCAN p")) != NULL) {
        l += 6;
        if (*l == '\n' || *l == ' ' || *l == '\0') return 0;
    }
    return 1;
}

static void feed_plan_uses_index(void **state)
{
    (void)state;
    char plan[4096];
    assert_int_equal(feed_db_explain_feed(db, plan, sizeof plan), 0);
    if (!plan_uses_index(plan)) fail_msg("feed plan without index:\n%s", plan);

    /* The same check on a copy without the index must fail, or it proves
     * nothing. */
    char path[256], err[256];
    path_in_dir(path, sizeof path, "noindex.db");
    seed_or_fail(path, 6, 3, 1);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(raw, "DROP INDEX posts_author", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(raw);
    struct feed_db *fdb = feed_db_open(path, err, sizeof err);
    assert_non_null(fdb);
    assert_int_equal(feed_db_explain_feed(fdb, plan, sizeof plan), 0);
    assert_false(plan_uses_index(plan));
    /* and the query still answers correctly, just slower */
    struct feed_post out[3];
    int n;
    assert_int_equal(feed_db_feed(fdb, 1, 0, 3, out, &n), FEED_OK);
    assert_int_equal(n, 3);
    feed_db_close(fdb);
    remove_db(path);

    /* A tiny buffer truncates but stays a string. */
    char tiny[16];
    assert_int_equal(feed_db_explain_feed(db, tiny, sizeof tiny), 0);
    assert_true(strlen(tiny) < sizeof tiny);
}

/* ---- seed -------------------------------------------------------------- */

/* Checksum of a whole data set, through the public API: every user and
 * every user's full feed. */
static uint64_t dataset_checksum(const char *path, long users)
{
    char err[256];
    struct feed_db *fdb = feed_db_open(path, err, sizeof err);
    if (fdb == NULL) fail_msg("open %s: %s", path, err);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t id = 1; id <= users; id++) {
        struct feed_user u;
        assert_int_equal(feed_db_user_by_id(fdb, id, &u), FEED_OK);
        for (const char *c = u.username; *c; c++)
            h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
        for (const char *c = u.display_name; *c; c++)
            h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
        h = (h ^ (uint64_t)u.following) * 0x100000001b3ULL;
        walk_feed(fdb, id, 9, &h);
    }
    feed_db_close(fdb);
    return h;
}

static void seed_is_deterministic(void **state)
{
    (void)state;
    char a[256], b[256], c[256];
    path_in_dir(a, sizeof a, "a.db");
    path_in_dir(b, sizeof b, "b.db");
    path_in_dir(c, sizeof c, "c.db");
    seed_or_fail(a, 30, 5, 1234);
    seed_or_fail(b, 30, 5, 1234);
    seed_or_fail(c, 30, 5, 1235);
    uint64_t ha = dataset_checksum(a, 30), hb = dataset_checksum(b, 30);
    uint64_t hc = dataset_checksum(c, 30);
    assert_true(ha == hb);
    assert_true(ha != hc);

    /* Seeding again replaces the file, it does not append. */
    seed_or_fail(a, 30, 5, 1234);
    assert_true(dataset_checksum(a, 30) == ha);
    remove_db(a);
    remove_db(b);
    remove_db(c);
}

static void seed_small_and_bad_inputs(void **state)
{
    (void)state;
    char path[256], err[256];
    path_in_dir(path, sizeof path, "tiny.db");
    seed_or_fail(path, 2, 1, 5); /* fewer users than the named four */
    struct feed_db *fdb = feed_db_open(path, err, sizeof err);
    assert_non_null(fdb);
    struct feed_user u;
    assert_int_equal(feed_db_user_by_name(fdb, "bob", &u), FEED_OK);
    assert_int_equal(u.following, 1);
    assert_int_equal(feed_db_user_by_name(fdb, "carol", &u), FEED_NOT_FOUND);
    feed_db_close(fdb);
    remove_db(path);

    struct feed_seed_opts o = {10, 1, 1};
    err[0] = '\0';
    assert_int_equal(feed_db_seed("/nonexistent-dir/x.db", &o, err, sizeof err),
                     -1);
    assert_true(err[0] != '\0');
    o.users = 2000000;
    err[0] = '\0';
    assert_int_equal(feed_db_seed(path, &o, err, sizeof err), -1);
    assert_true(err[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_missing_file_fails),
        cmocka_unit_test(open_foreign_files_fails),
        cmocka_unit_test(alice_is_user_one_and_follows_friends),
        cmocka_unit_test(every_user_is_well_formed),
        cmocka_unit_test(unknown_users_are_not_found),
        cmocka_unit_test(passwords_are_switchboard),
        cmocka_unit_test(feed_pages_continue_without_gaps),
        cmocka_unit_test(feed_is_exactly_followed_and_own_posts),
        cmocka_unit_test(feed_limits_are_enforced),
        cmocka_unit_test(posts_by_id),
        cmocka_unit_test(created_post_tops_followers_feed),
        cmocka_unit_test(long_texts_are_cut_safely),
        cmocka_unit_test(followees_are_sorted_and_exact),
        cmocka_unit_test(feed_after_is_the_newest_after_oldest_first),
        cmocka_unit_test(feed_after_sees_new_posts_of_followed_only),
        cmocka_unit_test(feed_plan_uses_index),
        cmocka_unit_test(seed_is_deterministic),
        cmocka_unit_test(seed_small_and_bad_inputs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
