/* Password hashing and verification (libsodium argon2id), and a small worker
 * thread that runs verification off the event loop: a slow hash is slow on
 * purpose, and must not stall every other connection while it runs. */
#ifndef SB_PWHASH_H
#define SB_PWHASH_H

#include <stddef.h>

#define PWHASH_STR_MAX 128 /* crypto_pwhash_STRBYTES */

struct event_base;
struct pwhash_pool;

/* Hash password into out (PWHASH_STR_MAX bytes) with a fresh random salt, at
 * the cost used for demo users (fast enough to seed thousands of users).
 * Returns 0 or -1. Thread-safe. */
int pwhash_hash(const char *password, char *out);

/* Verify a password against a stored hash string, synchronously.
 * Returns 1 match, 0 no match or bad hash. Thread-safe. */
int pwhash_verify(const char *hash, const char *password);

typedef void (*pwhash_done_cb)(int match, void *arg);

/* Start nthreads workers whose results are delivered on base's thread.
 * max_pending bounds the jobs waiting; beyond it pwhash_pool_verify fails.
 * A job counts against max_pending from pwhash_pool_verify until its
 * callback has run (waiting, being hashed, or done and not yet delivered),
 * so the bound also caps memory. Returns NULL on bad arguments (nthreads or
 * max_pending < 1) or if threads, the pipe or the event cannot be made. */
struct pwhash_pool *pwhash_pool_new(struct event_base *base, int nthreads,
                                    int max_pending);

/* Queue a verification. cb runs later on the event-loop thread, never
 * before this returns. Returns 0, or -1 if the queue is full (the caller
 * answers 503). hash and password are copied. */
int pwhash_pool_verify(struct pwhash_pool *pool, const char *hash,
                       const char *password, pwhash_done_cb cb, void *arg);

/* Stop the workers; pending callbacks are called with match = 0, from this
 * call. Not to be called from inside a pwhash_done_cb. NULL is a no-op. */
void pwhash_pool_free(struct pwhash_pool *pool);

#endif
