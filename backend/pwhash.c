/* Password hashing (argon2id via libsodium) and a worker pool that verifies
 * off the event loop, handing results back to the loop through a pipe. */
#include "pwhash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

_Static_assert(PWHASH_STR_MAX == crypto_pwhash_STRBYTES,
               "PWHASH_STR_MAX must match libsodium's hash string size");

/* The demo cost: argon2id, 2 passes over 4 MiB, about 2.8 ms per hash on a
 * 2020s x86 core (measured: t=1/4 MiB 2.1 ms, t=2/4 MiB 2.8 ms, t=2/8 MiB
 * 5.6 ms). Cheap enough to seed 1,000 users in about a second on two cores,
 * and still a real salted memory-hard hash, not a placeholder. Production
 * cost would be crypto_pwhash_OPSLIMIT_INTERACTIVE/MEMLIMIT_INTERACTIVE
 * (64 MiB, ~50+ ms). Verification reads the cost from the stored string, so
 * changing these affects only new hashes. */
#define PWHASH_DEMO_OPSLIMIT 2ULL
#define PWHASH_DEMO_MEMLIMIT (4u * 1024u * 1024u)

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ready; /* written once under pthread_once */

static void sodium_init_once(void)
{
    sodium_ready = sodium_init() >= 0;
}

/* sodium_init is itself idempotent, but pthread_once makes the "ready" flag
 * safe to read from any thread without relying on that. */
static int ensure_sodium(void)
{
    if (pthread_once(&sodium_once, sodium_init_once) != 0) return -1;
    return sodium_ready ? 0 : -1;
}

int pwhash_hash(const char *password, char *out)
{
    if (password == NULL || out == NULL || ensure_sodium() != 0) return -1;
    if (crypto_pwhash_str_alg(out, password, strlen(password),
                              PWHASH_DEMO_OPSLIMIT, PWHASH_DEMO_MEMLIMIT,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -1; /* out of memory */
    return 0;
}

int pwhash_verify(const char *hash, const char *password)
{
    if (hash == NULL || password == NULL || ensure_sodium() != 0) return 0;
    /* libsodium wants a NUL within crypto_pwhash_STRBYTES; a longer string
     * cannot be one of ours. */
    if (strnlen(hash, crypto_pwhash_STRBYTES) == crypto_pwhash_STRBYTES)
        return 0;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* ---- worker pool ------------------------------------------------------- */

/* One verification, from pwhash_pool_verify until its callback has run. The
 * two strings live in one allocation after the struct. */
struct pwhash_job {
    struct pwhash_job *next;
    pwhash_done_cb cb;
    void *arg;
    int match;
    size_t passlen;
    char *password;
    char *hash;
    char strings[];
};

/* A FIFO of jobs; the pool keeps one for waiting work and one for finished
 * work awaiting delivery on the loop thread. */
struct job_list {
    struct pwhash_job *head, *tail;
};

struct pwhash_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* signalled when todo grows or stop is set */
    struct job_list todo;   /* accepted, not yet picked by a worker */
    struct job_list done;   /* verified, callback not yet called */
    int inflight;           /* accepted and not yet delivered; <= max */
    int max_pending;
    int stop;
    int nthreads; /* threads actually started */
    pthread_t *threads;
    int pipe_rd, pipe_wr; /* a worker writes a byte per finished job */
    struct event *wake;   /* EV_READ on pipe_rd, on the loop's base */
};

static void list_push(struct job_list *l, struct pwhash_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct pwhash_job *list_pop(struct job_list *l)
{
    struct pwhash_job *j = l->head;
    if (j) {
        l->head = j->next;
        if (l->head == NULL) l->tail = NULL;
    }
    return j;
}

/* Takes the whole list, leaving it empty. */
static struct pwhash_job *list_take(struct job_list *l)
{
    struct pwhash_job *j = l->head;
    l->head = l->tail = NULL;
    return j;
}

static void job_free(struct pwhash_job *j)
{
    sodium_memzero(j->password, j->passlen); /* don't leave it in the heap */
    free(j);
}

/* Worker thread: pick a job, verify it without the lock, move it to done
 * and poke the loop. Exits when stop is set; work still waiting is left for
 * pwhash_pool_free to answer. */
static void *worker_main(void *vp)
{
    struct pwhash_pool *pool = vp;

    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stop && pool->todo.head == NULL)
            pthread_cond_wait(&pool->work_cv, &pool->mu);
        if (pool->stop) break;
        struct pwhash_job *j = list_pop(&pool->todo);
        pthread_mutex_unlock(&pool->mu);

        j->match = pwhash_verify(j->hash, j->password);

        pthread_mutex_lock(&pool->mu);
        list_push(&pool->done, j);
        /* One byte per job; if the pipe is full (EAGAIN) the loop already
         * has a wake-up due, and it drains the whole done list anyway. */
        char b = 1;
        ssize_t w;
        do {
            w = write(pool->pipe_wr, &b, 1);
        } while (w == -1 && errno == EINTR);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* Loop-thread callback: empty the pipe, take the done list under the lock,
 * then call the callbacks without it (a callback may queue more work). */
static void on_wake(evutil_socket_t fd, short what, void *vp)
{
    struct pwhash_pool *pool = vp;
    char buf[256];
    (void)what;

    while (read(fd, buf, sizeof buf) > 0) {
    }
    pthread_mutex_lock(&pool->mu);
    struct pwhash_job *j = list_take(&pool->done);
    pthread_mutex_unlock(&pool->mu);

    while (j) {
        struct pwhash_job *next = j->next;
        pthread_mutex_lock(&pool->mu);
        pool->inflight--; /* before cb, so cb may queue a replacement */
        pthread_mutex_unlock(&pool->mu);
        j->cb(j->match, j->arg);
        job_free(j);
        j = next;
    }
}

struct pwhash_pool *pwhash_pool_new(struct event_base *base, int nthreads,
                                    int max_pending)
{
    if (base == NULL || nthreads < 1 || max_pending < 1) return NULL;
    if (ensure_sodium() != 0) return NULL;

    struct pwhash_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) return NULL;
    pool->pipe_rd = pool->pipe_wr = -1;
    pool->max_pending = max_pending;

    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) goto err;
    pool->pipe_rd = fds[0];
    pool->pipe_wr = fds[1];

    pool->wake =
        event_new(base, pool->pipe_rd, EV_READ | EV_PERSIST, on_wake, pool);
    if (pool->wake == NULL || event_add(pool->wake, NULL) != 0) goto err;

    if (pthread_mutex_init(&pool->mu, NULL) != 0) goto err;
    if (pthread_cond_init(&pool->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&pool->mu);
        goto err;
    }
    pool->threads = calloc((size_t)nthreads, sizeof *pool->threads);
    if (pool->threads == NULL) goto err_sync;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0)
            goto err_threads;
        pool->nthreads++;
    }
    return pool;

err_threads:
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    free(pool->threads);
err_sync:
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->mu);
err:
    if (pool->wake) event_free(pool->wake);
    if (pool->pipe_rd != -1) close(pool->pipe_rd);
    if (pool->pipe_wr != -1) close(pool->pipe_wr);
    free(pool);
    return NULL;
}

int pwhash_pool_verify(struct pwhash_pool *pool, const char *hash,
                       const char *password, pwhash_done_cb cb, void *arg)
{
    if (pool == NULL || hash == NULL || password == NULL || cb == NULL)
        return -1;

    /* Reserve a slot first, so a full pool costs the caller no memory. */
    pthread_mutex_lock(&pool->mu);
    int ok = !pool->stop && pool->inflight < pool->max_pending;
    if (ok) pool->inflight++;
    pthread_mutex_unlock(&pool->mu);
    if (!ok) return -1;

    size_t hlen = strnlen(hash, PWHASH_STR_MAX); /* longer: cannot match */
    size_t plen = strlen(password);
    struct pwhash_job *j = malloc(sizeof *j + hlen + 1 + plen + 1);
    if (j == NULL) {
        pthread_mutex_lock(&pool->mu);
        pool->inflight--; /* give the slot back */
        pthread_mutex_unlock(&pool->mu);
        return -1;
    }
    j->cb = cb;
    j->arg = arg;
    j->match = 0;
    j->hash = j->strings;
    memcpy(j->hash, hash, hlen);
    j->hash[hlen] = '\0';
    j->password = j->hash + hlen + 1;
    memcpy(j->password, password, plen + 1);
    j->passlen = plen;

    pthread_mutex_lock(&pool->mu);
    list_push(&pool->todo, j);
    pthread_cond_signal(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

void pwhash_pool_free(struct pwhash_pool *pool)
{
    if (pool == NULL) return;

    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    /* A worker finishes the hash it is on (milliseconds) and exits. */
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);

    /* No thread touches the lists now. Everything not yet delivered is
     * answered "no match": we are shutting down, nobody logs in. */
    struct job_list *lists[2] = {&pool->done, &pool->todo};
    for (int k = 0; k < 2; k++) {
        struct pwhash_job *j;
        while ((j = list_pop(lists[k])) != NULL) {
            j->cb(0, j->arg);
            job_free(j);
        }
    }

    event_free(pool->wake);
    close(pool->pipe_rd);
    close(pool->pipe_wr);
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}
