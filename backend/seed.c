/* The demo data set: a deterministic SQLite file of users, follows and posts,
 * made from one PRNG seed, so every machine (and every test) sees the same
 * feed. Only the password hashes differ between runs: each has a fresh salt. */
#include "feed_db.h"
#include "pwhash.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define SEED_DEFAULT_USERS 1000
#define SEED_DEFAULT_POSTS 50
#define SEED_DEFAULT_SEED 42
/* 2026-01-01 UTC: posts are dated before this fixed time, not "now", so two
 * runs make the same rows. */
#define SEED_BASE_TIME 1767225600LL
#define SEED_POST_SPAN (30LL * 86400) /* posts spread over 30 days before it */
#define SEED_MAX_USERS 1000000L       /* ids must fit the int32 post records */
#define SEED_MAX_POSTS 10000000L      /* total; 16 bytes each while sorting */
#define SEED_HASH_THREADS 2           /* hashing is most of the seed time */
#define SEED_PASSWORD "switchboard"
#define SEED_NAMED 4                  /* alice, bob, carol, dave */

/* The schema. Secondary indexes are made after the bulk insert (faster than
 * maintaining them row by row); meta is what feed_db_open checks. */
static const char SCHEMA_SQL[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE users("
    " id INTEGER PRIMARY KEY,"
    " username TEXT UNIQUE NOT NULL,"
    " display_name TEXT NOT NULL DEFAULT '',"
    " password_hash TEXT NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE posts("
    " id INTEGER PRIMARY KEY,"
    " author_id INTEGER NOT NULL REFERENCES users(id),"
    " text TEXT NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE follows("
    " follower_id INTEGER NOT NULL REFERENCES users(id),"
    " followee_id INTEGER NOT NULL REFERENCES users(id),"
    " PRIMARY KEY(follower_id, followee_id)) WITHOUT ROWID;";

/* posts_author: (author_id) plus the implicit rowid = (author_id, id), what
 * the feed query walks per followee and what a user's post count reads.
 * follows_followee: follower counts, "who follows X" (the primary key
 * answers "whom does X follow"). */
static const char INDEX_SQL[] =
    "CREATE INDEX posts_author ON posts(author_id);"
    "CREATE INDEX follows_followee ON follows(followee_id, follower_id);";

static const char *const NAMED_USER[SEED_NAMED][2] = {
    {"alice", "Alice Liddell"},
    {"bob", "Bob Cratchit"},
    {"carol", "Carol Danvers"},
    {"dave", "Dave Bowman"},
};

static const char *const FIRST_NAME[] = {
    "Ada",  "Ben",  "Cleo", "Dmitri", "Elif", "Farah", "Gus",   "Hana",  "Ivo",
    "Jun",  "Kofi", "Lena", "Mina",   "Nils", "Omar",  "Priya", "Quinn", "Rosa",
    "Sami", "Tove", "Uma",  "Vik",    "Wen",  "Xavi",  "Yara",  "Zeno"};
static const char *const LAST_NAME[] = {
    "Park",  "Okafor", "Silva",    "Novak", "Haddad", "Berg",
    "Ito",   "Moreau", "Kowal",    "Diaz",  "Singh",  "Larsen",
    "Costa", "Reyes",  "Nakamura", "Stone"};
static const char *const WORD[] = {
    "coffee",  "morning", "switchboard", "latency", "queue",    "sunset",
    "cat",     "train",   "deploy",      "friday",  "garden",   "rain",
    "backend", "bicycle", "pizza",       "ocean",   "mountain", "tea",
    "book",    "music",   "failover",    "weekend", "city",     "lights",
    "bread",   "redis",   "sqlite",      "walk",    "river",    "snow",
    "concert", "code",    "review",      "retry",   "cluster",  "shipping",
    "today",   "again",   "finally",     "new",     "old",      "tiny",
    "huge",    "quiet",   "loud",        "happy",   "tired",    "fast",
    "slow",    "green"};
static const char *const ENDING[] = {".", "!", "...", " #demo", " :)", "?"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* splitmix64: tiny, fast, well mixed, and the same on every platform,
 * which rand() is not. */
struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for n far below 2^64 (bias ~n/2^64). */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- password hashing on worker threads -------------------------------- */

/* Thread t hashes users t, t + nthreads, ...; hashes[i] is user i + 1's. */
struct hash_work {
    char (*hashes)[PWHASH_STR_MAX];
    long users;
    int t, nthreads;
    int failed;
    atomic_int *cancel; /* set by the main thread when the seed fails */
};

static void *hash_main(void *vp)
{
    struct hash_work *w = vp;
    for (long i = w->t; i < w->users; i += w->nthreads) {
        if (atomic_load(w->cancel)) break;
        if (pwhash_hash(SEED_PASSWORD, w->hashes[i]) != 0) {
            w->failed = 1;
            break;
        }
    }
    return NULL;
}

/* ---- data generation --------------------------------------------------- */

/* One post before ids are given: ids follow created_at, so posts are made
 * first, sorted, then numbered. text_seed makes the text on insert. */
struct post_rec {
    int64_t created_at;
    int32_t author;
    uint32_t text_seed;
};

static int post_cmp(const void *a, const void *b)
{
    const struct post_rec *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    if (x->author != y->author) return x->author < y->author ? -1 : 1;
    if (x->text_seed != y->text_seed)
        return x->text_seed < y->text_seed ? -1 : 1;
    return 0; /* identical records: their order cannot show */
}

/* A few words from the word list, e.g. "Coffee latency again!". */
static void make_text(uint32_t text_seed, char *out, size_t outlen)
{
    struct rng r = {text_seed};
    size_t len = 0;
    int words = 3 + (int)rng_below(&r, 7);
    out[0] = '\0';
    for (int i = 0; i < words; i++) {
        int n = snprintf(out + len, outlen - len, "%s%s", i ? " " : "",
                         WORD[rng_below(&r, NELEM(WORD))]);
        if (n < 0 || (size_t)n >= outlen - len) return;
        len += (size_t)n;
    }
    snprintf(out + len, outlen - len, "%s",
             ENDING[rng_below(&r, NELEM(ENDING))]);
    if (out[0] >= 'a' && out[0] <= 'z') out[0] = (char)(out[0] - 'a' + 'A');
}

/* Username and display name of user id (1-based). Generated usernames are
 * a lower-case name plus the id ("mina_park17"): names have no digits, so
 * the id suffix alone makes them unique, and never clash with the four
 * named users. */
static void make_user(struct rng *r, long id, char *username, char *display)
{
    if (id <= SEED_NAMED) {
        snprintf(username, FEED_USERNAME_MAX + 1, "%s", NAMED_USER[id - 1][0]);
        snprintf(display, FEED_DISPLAY_MAX + 1, "%s", NAMED_USER[id - 1][1]);
        return;
    }
    const char *first = FIRST_NAME[rng_below(r, NELEM(FIRST_NAME))];
    const char *last = LAST_NAME[rng_below(r, NELEM(LAST_NAME))];
    snprintf(display, FEED_DISPLAY_MAX + 1, "%s %s", first, last);
    snprintf(username, FEED_USERNAME_MAX + 1, "%s_%s%ld", first, last, id);
    for (char *c = username; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
}

/* Insert one follows row; 0 or -1 (error left on the connection). */
static int insert_follow(sqlite3_stmt *st, long a, long b)
{
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Every user follows a pseudo-random set of others: the named users each
 * other plus 20..40 generated users, everyone else 20..50 of anyone.
 * mark[] (users + 1 entries) remembers who u already follows: mark[v] == u. */
static int insert_follows(sqlite3 *db, struct rng *r, long users, long *mark)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO follows VALUES(?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    long named = users < SEED_NAMED ? users : SEED_NAMED;
    for (long u = 1; u <= users; u++) {
        long lo, want; /* pick from lo..users */
        if (u <= named) {
            for (long v = 1; v <= named; v++) {
                if (v == u) continue;
                mark[v] = u;
                if (insert_follow(st, u, v) != 0) goto err;
            }
            lo = SEED_NAMED + 1;
            want = 20 + (long)rng_below(r, 21);
        } else {
            lo = 1;
            want = 20 + (long)rng_below(r, 31);
        }
        long pool = users - lo + 1 - (u >= lo ? 1 : 0); /* candidates */
        if (want > pool) want = pool < 0 ? 0 : pool;
        mark[u] = u;
        for (long k = 0; k < want;) {
            long v = lo + (long)rng_below(r, (uint64_t)(users - lo + 1));
            if (mark[v] == u) continue; /* self or already followed */
            mark[v] = u;
            if (insert_follow(st, u, v) != 0) goto err;
            k++;
        }
    }
    sqlite3_finalize(st);
    return 0;
err:
    sqlite3_finalize(st);
    return -1;
}

/* posts_per_user posts for every user, times uniform over the 30 days
 * before SEED_BASE_TIME, numbered 1.. in time order. */
static int insert_posts(sqlite3 *db, struct rng *r, long users, long per_user)
{
    size_t total = (size_t)users * (size_t)per_user;
    struct post_rec *recs = malloc(total * sizeof *recs);
    sqlite3_stmt *st = NULL;
    if (recs == NULL) return -1;
    size_t i = 0;
    for (long u = 1; u <= users; u++)
        for (long k = 0; k < per_user; k++, i++) {
            recs[i].author = (int32_t)u;
            recs[i].created_at =
                SEED_BASE_TIME - (int64_t)rng_below(r, SEED_POST_SPAN);
            recs[i].text_seed = (uint32_t)rng_next(r);
        }
    qsort(recs, total, sizeof *recs, post_cmp);

    if (sqlite3_prepare_v2(db, "INSERT INTO posts VALUES(?1, ?2, ?3, ?4)", -1,
                           &st, NULL) != SQLITE_OK)
        goto err;
    for (i = 0; i < total; i++) {
        char text[FEED_POST_TEXT_MAX + 1];
        make_text(recs[i].text_seed, text, sizeof text);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_int64(st, 2, recs[i].author);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, recs[i].created_at);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) goto err;
    }
    sqlite3_finalize(st);
    free(recs);
    return 0;
err:
    sqlite3_finalize(st);
    free(recs);
    return -1;
}

/* Users with their (already computed) hashes. Names come from their own
 * PRNG stream so they do not depend on how many follows were drawn. */
static int insert_users(sqlite3 *db, uint64_t seed, long users,
                        char (*hashes)[PWHASH_STR_MAX])
{
    struct rng r = {seed ^ 0x5eed0005e75ULL};
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO users VALUES(?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (long id = 1; id <= users; id++) {
        char username[FEED_USERNAME_MAX + 1], display[FEED_DISPLAY_MAX + 1];
        make_user(&r, id, username, display);
        /* joined some time in the year before the posts start */
        int64_t joined = SEED_BASE_TIME - SEED_POST_SPAN -
                         (int64_t)rng_below(&r, 365LL * 86400);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, display, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, hashes[id - 1], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, joined);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

static int insert_meta(sqlite3 *db, uint64_t seed, long users, long per_user)
{
    char buf[256];
    snprintf(buf, sizeof buf,
             "INSERT INTO meta VALUES('app','switchboard'),"
             "('schema_version','1'),('seed','%llu'),('users','%ld'),"
             "('posts_per_user','%ld')",
             (unsigned long long)seed, users, per_user); /* numbers only */
    return sqlite3_exec(db, buf, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* unlink that tolerates "already gone". */
static int remove_file(const char *path, char *err, size_t errlen)
{
    if (unlink(path) == 0 || errno == ENOENT) return 0;
    set_err(err, errlen, "%s: cannot remove: %s", path, strerror(errno));
    return -1;
}

static int remove_db_files(const char *path, char *err, size_t errlen)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char name[4096];
    for (size_t i = 0; i < NELEM(suffix); i++) {
        if ((size_t)snprintf(name, sizeof name, "%s%s", path, suffix[i]) >=
            sizeof name) {
            set_err(err, errlen, "database path too long");
            return -1;
        }
        if (remove_file(name, err, errlen) != 0) return -1;
    }
    return 0;
}

int feed_db_seed(const char *path, const struct feed_seed_opts *opts, char *err,
                 size_t errlen)
{
    long users = opts && opts->users > 0 ? opts->users : SEED_DEFAULT_USERS;
    long per_user = opts && opts->posts_per_user > 0 ? opts->posts_per_user
                                                     : SEED_DEFAULT_POSTS;
    uint64_t seed =
        opts && opts->seed > 0 ? (uint64_t)opts->seed : SEED_DEFAULT_SEED;
    sqlite3 *db = NULL;
    struct hash_work work[SEED_HASH_THREADS];
    pthread_t threads[SEED_HASH_THREADS];
    atomic_int cancel = 0;
    int started = 0, rc = -1;
    const char *stage = "open";

    if (path == NULL || *path == '\0') {
        set_err(err, errlen, "no database path");
        return -1;
    }
    if (users > SEED_MAX_USERS || per_user > SEED_MAX_POSTS / users) {
        set_err(err, errlen, "too much data: at most %ld users and %ld posts",
                SEED_MAX_USERS, SEED_MAX_POSTS);
        return -1;
    }
    char (*hashes)[PWHASH_STR_MAX] = calloc((size_t)users, sizeof *hashes);
    long *mark = calloc((size_t)users + 1, sizeof *mark);
    if (hashes == NULL || mark == NULL) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    if (remove_db_files(path, err, errlen) != 0) goto out;

    /* Hash on worker threads while this one writes follows and posts. */
    for (; started < SEED_HASH_THREADS; started++) {
        work[started] = (struct hash_work){
            hashes, users, started, SEED_HASH_THREADS, 0, &cancel};
        if (pthread_create(&threads[started], NULL, hash_main,
                           &work[started]) != 0)
            break;
    }
    if (started == 0) {
        set_err(err, errlen, "cannot start hashing threads");
        goto out;
    }
    for (int t = started; t < SEED_HASH_THREADS; t++) /* main helps out */
        work[t] =
            (struct hash_work){hashes, users, t, SEED_HASH_THREADS, 0, &cancel};

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        goto sql_err;
    /* WAL is a property of the file: set once here, kept for the backends.
     * The rest only speeds up this one big transaction. */
    stage = "pragmas";
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA cache_size=-65536; BEGIN;",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto sql_err;
    struct rng r = {seed};
    stage = "schema";
    if (sqlite3_exec(db, SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK)
        goto sql_err;
    stage = "follows";
    if (insert_follows(db, &r, users, mark) != 0) goto sql_err;
    stage = "posts";
    if (insert_posts(db, &r, users, per_user) != 0) goto sql_err;

    for (int t = started; t < SEED_HASH_THREADS; t++) hash_main(&work[t]);
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    started = 0;
    for (int t = 0; t < SEED_HASH_THREADS; t++)
        if (work[t].failed) {
            set_err(err, errlen, "password hashing failed (out of memory?)");
            goto out;
        }
    stage = "users";
    if (insert_users(db, seed, users, hashes) != 0) goto sql_err;
    stage = "indexes";
    if (sqlite3_exec(db, INDEX_SQL, NULL, NULL, NULL) != SQLITE_OK)
        goto sql_err;
    stage = "meta";
    if (insert_meta(db, seed, users, per_user) != 0) goto sql_err;
    stage = "commit";
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto sql_err;
    rc = 0;
    goto out;

sql_err:
    set_err(err, errlen, "%s: seed %s: %s", path, stage,
            db ? sqlite3_errmsg(db) : "out of memory");
out:
    atomic_store(&cancel, 1);
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    if (db && sqlite3_close(db) != SQLITE_OK && rc == 0) {
        set_err(err, errlen, "%s: close: %s", path, sqlite3_errmsg(db));
        rc = -1;
    }
    if (rc != 0) remove_db_files(path, NULL, 0); /* no half-made file */
    free(hashes);
    free(mark);
    return rc;
}
