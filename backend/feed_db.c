/* The feed's SQLite access: one connection, a fixed set of statements
 * prepared once at open, each call a single indexed query. */
#include "feed_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "log.h"

#define FEED_SCHEMA_VERSION "1"
/* Other backends write posts to this file; a write lock is held for
 * microseconds, so 2 s of waiting means something is wrong, not busy. */
#define FEED_BUSY_TIMEOUT_MS 2000

/* The feed query.
 *
 * Shapes measured on the default data set (1,000 users x 50 posts; alice
 * follows 42 users, so ~4% of posts are in her feed), limit 20, warm cache,
 * 2 cores, SQLite 3.40:
 *
 *                                      alice x10,000  users 1..1000 x10
 *  A. scan posts by id downwards        100-140 us     146 us
 *     (rowid, no sort), EXISTS probe of
 *     follows' primary key per row
 *  B1. follows -> posts_author join,     60-70 us       82 us
 *     temp B-tree keeps the top `limit`
 *  B2. B1, but the inner select reads   50-80 us       54 us   <- chosen
 *     ids only (covering index), then
 *     `limit` rows of posts and users
 *
 * A reads ~limit/share rows (~500 here), and a user who follows few people
 * reads the whole table: its cost grows with everyone's posts. B walks
 * (author_id, id < before) in posts_author for each followee and the user:
 * cost grows with what the user follows, never a scan of posts. SQLite
 * cannot merge those per-author runs in id order, so a temp B-tree sorts
 * them (a LIMIT sorter that keeps `limit` ids). B2 sorts ids straight from
 * the index and touches posts rows only for the winners, which is why it
 * wins when many users share a cache too small for all of posts (the
 * realistic case); the second, outer temp B-tree sorts `limit` rows. */
static const char FEED_SQL[] =
    "SELECT p.id, p.author_id, u.username, p.text, p.created_at"
    " FROM (SELECT id FROM posts"
    "        WHERE author_id IN (SELECT followee_id FROM follows"
    "                             WHERE follower_id = ?1"
    "                            UNION ALL SELECT ?1)"
    "          AND id < ?2"
    "        ORDER BY id DESC LIMIT ?3) AS page"
    " JOIN posts AS p ON p.id = page.id"
    " JOIN users AS u ON u.id = p.author_id"
    " ORDER BY p.id DESC";

/* What a stream missed: FEED_SQL's shape (B2) the other way up - the newest
 * `limit` ids above ?2 from the index, then their rows oldest first. */
static const char FEED_AFTER_SQL[] =
    "SELECT p.id, p.author_id, u.username, p.text, p.created_at"
    " FROM (SELECT id FROM posts"
    "        WHERE author_id IN (SELECT followee_id FROM follows"
    "                             WHERE follower_id = ?1"
    "                            UNION ALL SELECT ?1)"
    "          AND id > ?2"
    "        ORDER BY id DESC LIMIT ?3) AS page"
    " JOIN posts AS p ON p.id = page.id"
    " JOIN users AS u ON u.id = p.author_id"
    " ORDER BY p.id ASC";

/* Counts as correlated subqueries, each an index-only range count:
 * follows_followee, the follows primary key, posts_author. */
#define USER_SQL(where)                                                        \
    "SELECT u.id, u.username, u.display_name, u.created_at,"                   \
    " (SELECT count(*) FROM follows WHERE followee_id = u.id),"                \
    " (SELECT count(*) FROM follows WHERE follower_id = u.id),"                \
    " (SELECT count(*) FROM posts WHERE author_id = u.id)"                     \
    " FROM users AS u WHERE " where

enum stmt_id {
    ST_USER_BY_NAME,
    ST_USER_BY_ID,
    ST_PASSWORD,
    ST_FEED,
    ST_POST,
    ST_INSERT_POST,
    ST_FEED_AFTER,
    ST_FOLLOWEES,
    ST_COUNT
};

static const char *const STMT_SQL[ST_COUNT] = {
    [ST_USER_BY_NAME] = USER_SQL("u.username = ?1"),
    [ST_USER_BY_ID] = USER_SQL("u.id = ?1"),
    [ST_PASSWORD] = "SELECT id, password_hash FROM users WHERE username = ?1",
    [ST_FEED] = FEED_SQL,
    [ST_POST] = "SELECT p.id, p.author_id, u.username, p.text, p.created_at"
                " FROM posts AS p JOIN users AS u ON u.id = p.author_id"
                " WHERE p.id = ?1",
    /* Inserts nothing when the author does not exist. */
    [ST_INSERT_POST] = "INSERT INTO posts(author_id, text, created_at)"
                       " SELECT id, ?2, ?3 FROM users WHERE id = ?1",
    [ST_FEED_AFTER] = FEED_AFTER_SQL,
    /* The follows primary key (follower_id, followee_id) answers this in
     * order, without a sort. ?2 is max + 1, to tell "exactly max" from
     * "more". */
    [ST_FOLLOWEES] = "SELECT followee_id FROM follows WHERE follower_id = ?1"
                     " ORDER BY followee_id LIMIT ?2",
};

struct feed_db {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

/* Copy column col into dst (dstsize >= 1 bytes, always NUL-terminated).
 * Too long a value is cut at a UTF-8 character boundary, so what reaches
 * the JSON encoder is still valid UTF-8. NULL becomes "". */
static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t dstsize)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= dstsize) {
        n = dstsize - 1;
        while (n > 0 && (s[n] & 0xC0) == 0x80) n--; /* s[n]: continuation */
    }
    if (n) memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Log a failed step once, where it happened, and say FEED_ERROR. */
static enum feed_result db_fail(struct feed_db *db, const char *what)
{
    log_error("feed_db: %s: %s", what, sqlite3_errmsg(db->db));
    return FEED_ERROR;
}

/* Ready a statement for reuse: reset (keeps the plan) and drop bindings so
 * no pointer to a caller's buffer outlives the call. */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Check that the open file is a database made by feed_db_seed, with the
 * schema version this code reads. 0, or -1 with a reason. */
static int check_schema(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
        NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen,
                 "%s: not a switchboard database (%s); make one with "
                 "'sb-backend seed --db %s'",
                 path, sqlite3_errmsg(db), path);
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "%s: no schema_version in meta (%s)", path,
                 rc == SQLITE_DONE ? "missing" : sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -1;
    }
    const char *v = (const char *)sqlite3_column_text(st, 0);
    if (v == NULL || strcmp(v, FEED_SCHEMA_VERSION) != 0) {
        snprintf(err, errlen,
                 "%s: schema version %s, this program reads %s; re-seed it",
                 path, v ? v : "(null)", FEED_SCHEMA_VERSION);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

struct feed_db *feed_db_open(const char *path, char *err, size_t errlen)
{
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (path == NULL) {
        snprintf(err, errlen, "no database path");
        return NULL;
    }
    struct feed_db *fdb = calloc(1, sizeof *fdb);
    if (fdb == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* READWRITE without CREATE: a typo in --db must fail, not make an
     * empty database that answers every login with 401. */
    int rc = sqlite3_open_v2(path, &fdb->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        if (access(path, F_OK) != 0)
            snprintf(err, errlen,
                     "%s: no such database; make one with "
                     "'sb-backend seed --db %s'",
                     path, path);
        else
            snprintf(err, errlen, "%s: %s", path,
                     fdb->db ? sqlite3_errmsg(fdb->db) : "out of memory");
        goto err;
    }
    sqlite3_busy_timeout(fdb->db, FEED_BUSY_TIMEOUT_MS);
    /* Check before any pragma that could write to a file that is not ours. */
    if (check_schema(fdb->db, path, err, errlen) != 0) goto err;
    /* journal_mode is stored in the file by seed; asking again is cheap and
     * repairs a file someone switched back. NORMAL is durable enough in WAL
     * (a power cut may lose the last posts, never corrupt the file). */
    rc = sqlite3_exec(fdb->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: pragmas: %s", path, sqlite3_errmsg(fdb->db));
        goto err;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(fdb->db, STMT_SQL[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &fdb->st[i], NULL);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: prepare statement %d: %s", path, i,
                     sqlite3_errmsg(fdb->db));
            goto err;
        }
    }
    return fdb;
err:
    feed_db_close(fdb);
    return NULL;
}

void feed_db_close(struct feed_db *db)
{
    if (db == NULL) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(db->st[i]);
    sqlite3_close(db->db); /* NULL is a no-op; all statements are gone */
    free(db);
}

/* Run a bound ST_USER_* statement and fill out. */
static enum feed_result read_user(struct feed_db *db, sqlite3_stmt *st,
                                  struct feed_user *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(st, 1, out->username, sizeof out->username);
        copy_text(st, 2, out->display_name, sizeof out->display_name);
        out->created_at = sqlite3_column_int64(st, 3);
        out->followers = sqlite3_column_int64(st, 4);
        out->following = sqlite3_column_int64(st, 5);
        out->posts = sqlite3_column_int64(st, 6);
    }
    enum feed_result res = rc == SQLITE_ROW    ? FEED_OK
                           : rc == SQLITE_DONE ? FEED_NOT_FOUND
                                               : db_fail(db, "user");
    done(st);
    return res;
}

enum feed_result feed_db_user_by_name(struct feed_db *db, const char *name,
                                      struct feed_user *out)
{
    sqlite3_stmt *st = db->st[ST_USER_BY_NAME];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return read_user(db, st, out);
}

enum feed_result feed_db_user_by_id(struct feed_db *db, int64_t id,
                                    struct feed_user *out)
{
    sqlite3_stmt *st = db->st[ST_USER_BY_ID];
    sqlite3_bind_int64(st, 1, id);
    return read_user(db, st, out);
}

enum feed_result feed_db_password_hash(struct feed_db *db, const char *name,
                                       int64_t *user_id, char *hash,
                                       size_t hashlen)
{
    sqlite3_stmt *st = db->st[ST_PASSWORD];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *user_id = sqlite3_column_int64(st, 0);
        if (hashlen > 0) copy_text(st, 1, hash, hashlen);
    }
    enum feed_result res = rc == SQLITE_ROW    ? FEED_OK
                           : rc == SQLITE_DONE ? FEED_NOT_FOUND
                                               : db_fail(db, "password hash");
    done(st);
    return res;
}

/* Fill one post from columns id, author_id, username, text, created_at. */
static void read_post(sqlite3_stmt *st, struct feed_post *p)
{
    p->id = sqlite3_column_int64(st, 0);
    p->author_id = sqlite3_column_int64(st, 1);
    copy_text(st, 2, p->author, sizeof p->author);
    copy_text(st, 3, p->text, sizeof p->text);
    p->created_at = sqlite3_column_int64(st, 4);
}

/* Run one of the two page queries (older than a cursor, or newer than
 * one) bound to (user, cursor, limit) and copy its rows into out. */
static enum feed_result feed_page(struct feed_db *db, int which,
                                  const char *what, int64_t user_id,
                                  int64_t cursor, int limit,
                                  struct feed_post *out, int *n)
{
    sqlite3_stmt *st = db->st[which];
    *n = 0;
    if (limit <= 0) return FEED_OK;
    if (limit > FEED_PAGE_MAX) limit = FEED_PAGE_MAX;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, cursor);
    sqlite3_bind_int(st, 3, limit);
    int rc = SQLITE_DONE;
    while (*n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW)
        read_post(st, &out[(*n)++]);
    enum feed_result res = FEED_OK;
    if (*n < limit && rc != SQLITE_DONE) {
        res = db_fail(db, what);
        *n = 0;
    }
    done(st);
    return res;
}

enum feed_result feed_db_feed(struct feed_db *db, int64_t user_id,
                              int64_t before, int limit, struct feed_post *out,
                              int *n)
{
    return feed_page(db, ST_FEED, "feed", user_id,
                     before > 0 ? before : INT64_MAX, limit, out, n);
}

enum feed_result feed_db_feed_after(struct feed_db *db, int64_t user_id,
                                    int64_t after, int limit,
                                    struct feed_post *out, int *n)
{
    return feed_page(db, ST_FEED_AFTER, "feed after", user_id,
                     after > 0 ? after : 0, limit, out, n);
}

enum feed_result feed_db_followees(struct feed_db *db, int64_t user_id,
                                   int64_t *out, int max, int *n, int *more)
{
    sqlite3_stmt *st = db->st[ST_FOLLOWEES];
    int rc;

    *n = 0;
    if (more) *more = 0;
    if (max < 0) max = 0;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, (int64_t)max + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == max) { /* the one beyond max: there are more */
            if (more) *more = 1;
            rc = SQLITE_DONE;
            break;
        }
        out[(*n)++] = sqlite3_column_int64(st, 0);
    }
    enum feed_result res = FEED_OK;
    if (rc != SQLITE_DONE) {
        res = db_fail(db, "followees");
        *n = 0;
    }
    done(st);
    return res;
}

enum feed_result feed_db_post(struct feed_db *db, int64_t id,
                              struct feed_post *out)
{
    sqlite3_stmt *st = db->st[ST_POST];
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) read_post(st, out);
    enum feed_result res = rc == SQLITE_ROW    ? FEED_OK
                           : rc == SQLITE_DONE ? FEED_NOT_FOUND
                                               : db_fail(db, "post");
    done(st);
    return res;
}

enum feed_result feed_db_create_post(struct feed_db *db, int64_t author_id,
                                     const char *text, struct feed_post *out)
{
    sqlite3_stmt *st = db->st[ST_INSERT_POST];
    sqlite3_bind_int64(st, 1, author_id);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, clock_wall_s());
    int rc = sqlite3_step(st);
    /* Read these before anything else runs on the connection. */
    int changed = sqlite3_changes(db->db);
    int64_t id = sqlite3_last_insert_rowid(db->db);
    enum feed_result res = rc != SQLITE_DONE ? db_fail(db, "create post")
                           : changed == 0    ? FEED_NOT_FOUND
                                             : FEED_OK;
    done(st);
    if (res != FEED_OK) return res;
    /* The stored row, author name included. Nobody deletes posts, so the
     * second (read) statement finds what the first wrote. */
    res = feed_db_post(db, id, out);
    return res == FEED_NOT_FOUND ? db_fail(db, "created post vanished") : res;
}

int feed_db_explain_feed(struct feed_db *db, char *out, size_t outlen)
{
    static const char prefix[] = "EXPLAIN QUERY PLAN ";
    char sql[sizeof prefix + sizeof FEED_SQL];
    sqlite3_stmt *st = NULL;
    size_t len = 0;

    if (out == NULL || outlen == 0) return -1;
    out[0] = '\0';
    snprintf(sql, sizeof sql, "%s%s", prefix, FEED_SQL);
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, "explain feed");
        return -1;
    }
    /* Columns: id, parent, notused, detail. Indent children under their
     * parent, like the sqlite3 shell does. */
    int ids[64], depth[64], nids = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int id = sqlite3_column_int(st, 0), parent = sqlite3_column_int(st, 1);
        int d = 0;
        for (int i = 0; i < nids; i++)
            if (ids[i] == parent) d = depth[i] + 1;
        if (nids < 64) {
            ids[nids] = id;
            depth[nids++] = d;
        }
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        int w = snprintf(out + len, outlen - len, "%*s%s\n", 2 * d, "",
                         detail ? detail : "");
        if (w < 0 || (size_t)w >= outlen - len) {
            len = outlen - 1; /* truncated; out stays terminated */
            break;
        }
        len += (size_t)w;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(db, "explain feed");
        return -1;
    }
    return 0;
}
