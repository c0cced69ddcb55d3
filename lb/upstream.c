/* Backend connections: connect, pool, reuse, sweep. */
#include "upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "clock.h"
#include "backends.h"
#include "lb.h"
#include "worker.h"

#define PEEK_AFTER_IDLE_MS 250 /* idle longer than this: probe before reuse */

static void upstream_free(struct upstream *u);

/* Readable: for an owned connection the proxy reads; an idle one should
 * say nothing, so anything here (EOF, a stray byte) ends it. */
static void upstream_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct upstream *u = arg;

    (void)fd;
    (void)what;
    if (u->owner != NULL) {
        proxy_upstream_readable(u->owner);
        return;
    }
    upstream_free(u);
}

static void upstream_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct upstream *u = arg;

    (void)fd;
    (void)what;
    if (u->owner != NULL) proxy_upstream_writable(u->owner);
}

struct upstream *upstream_connect(struct worker *w, struct lb_backend *be,
                                  struct client *owner)
{
    struct upstream *u;
    int fd, one = 1;

    fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) return NULL;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&be->addr, be->addrlen) < 0 &&
        errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    u = calloc(1, sizeof(*u));
    if (u == NULL || sockio_init(&u->io, w->base, fd, upstream_on_read,
                                 upstream_on_write, u) != 0) {
        free(u);
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    u->be = be;
    u->w = w;
    u->owner = owner;
    atomic_fetch_add(&be->refs, 1);
    /* The connect's outcome arrives as writability. */
    if (sockio_want_write(&u->io) != 0) {
        sockio_close(&u->io);
        atomic_fetch_sub(&be->refs, 1);
        free(u);
        errno = ENOMEM;
        return NULL;
    }
    return u;
}

/* Whether a connection idle for a while is still open: peek without
 * consuming. EAGAIN means open and quiet, which is what we want. */
static int upstream_alive(struct upstream *u)
{
    char byte;
    ssize_t n = recv(u->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct upstream *upstream_take_idle(struct worker *w, struct lb_backend *be,
                                    struct client *owner, int check_alive)
{
    struct idle_pool *pool = &be->idle[w->index];
    struct upstream *u;

    while ((u = TAILQ_FIRST(&pool->conns)) != NULL) {
        TAILQ_REMOVE(&pool->conns, u, link);
        pool->n--;
        u->in_pool = 0;
        if (check_alive &&
            clock_mono_ms() - u->idle_since_ms > PEEK_AFTER_IDLE_MS &&
            !upstream_alive(u)) {
            upstream_free(u);
            continue;
        }
        u->owner = owner;
        u->reused = 1;
        return u;
    }
    return NULL;
}

static void upstream_free(struct upstream *u)
{
    if (u->in_pool) {
        struct idle_pool *pool = &u->be->idle[u->w->index];
        TAILQ_REMOVE(&pool->conns, u, link);
        pool->n--;
    }
    sockio_close(&u->io);
    atomic_fetch_sub(&u->be->refs, 1);
    free(u);
}

void upstream_release(struct upstream *u, int reusable)
{
    struct idle_pool *pool = &u->be->idle[u->w->index];

    u->owner = NULL;
    if (!reusable || !u->connected || pool->n >= UPSTREAM_IDLE_MAX ||
        evbuffer_get_length(u->io.in) > 0 || evbuffer_get_length(u->io.out) > 0 ||
        atomic_load(&lb.draining)) {
        upstream_free(u);
        return;
    }
    sockio_set_reading(&u->io, 1); /* to notice the backend closing it */
    u->idle_since_ms = clock_mono_ms();
    u->in_pool = 1;
    TAILQ_INSERT_HEAD(&pool->conns, u, link);
    pool->n++;
}

void upstream_sweep(struct worker *w, int64_t now_ms, long idle_ms)
{
    int n;
    struct lb_backend *const *known = backends_known(&n);

    for (int i = 0; i < n; i++) {
        struct idle_pool *pool = &known[i]->idle[w->index];
        struct upstream *u;
        /* Oldest at the tail. */
        while ((u = TAILQ_LAST(&pool->conns, upstream_list)) != NULL &&
               (idle_ms < 0 || now_ms - u->idle_since_ms > idle_ms))
            upstream_free(u);
    }
}
