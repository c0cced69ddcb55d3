/* Worker threads: one event loop and one SO_REUSEPORT listener each. */
#include "worker.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "lb.h"
#include "log.h"
#include "proxy.h"
#include "upstream.h"

#define LOG_FLUSH_BYTES 32768 /* access log written when this much waits */
#define ACCEPT_PAUSE_MS 100   /* after EMFILE: stop accepting this long */

static void worker_flush_log(struct worker *w)
{
    while (evbuffer_get_length(w->log) > 0)
        if (evbuffer_write(w->log, STDOUT_FILENO) <= 0) {
            evbuffer_drain(w->log, evbuffer_get_length(w->log));
            break;
        }
}

void worker_log_line(struct worker *w, const char *line, size_t len)
{
    evbuffer_add(w->log, line, len);
    evbuffer_add(w->log, "\n", 1);
    if (evbuffer_get_length(w->log) >= LOG_FLUSH_BYTES) worker_flush_log(w);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *peer, int len, void *arg)
{
    (void)l;
    proxy_accept(arg, fd, peer, (socklen_t)len);
}

/* Out of file descriptors (EMFILE): stop accepting for a moment rather
 * than spin on a listener that is always readable. The tick resumes it. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct worker *w = arg;

    log_warn("accept failed (%s): pausing accepts for %d ms",
             strerror(errno), ACCEPT_PAUSE_MS);
    evconnlistener_disable(l);
    w->accept_paused_ms = clock_mono_ms();
}

/* Every LB_TICK_MS: drop stale idle connections, give queued clients
 * another try, write the access log, and notice the end of a drain. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    int64_t now = clock_mono_ms();

    (void)fd;
    (void)what;
    upstream_sweep(w, now, lb.cfg.pool_idle);
    if (w->nqueued > 0) proxy_retry_queue(w);
    worker_flush_log(w);
    if (w->accept_paused_ms && now - w->accept_paused_ms >= ACCEPT_PAUSE_MS &&
        w->listener != NULL && !atomic_load(&lb.draining)) {
        evconnlistener_enable(w->listener);
        w->accept_paused_ms = 0;
    }
    if (atomic_load(&lb.draining)) {
        if (w->listener != NULL) {
            evconnlistener_free(w->listener);
            w->listener = NULL;
        }
        proxy_close_idle(w);
        if (w->nclients == 0 || atomic_load(&lb.force_exit))
            event_base_loopexit(w->base, NULL);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy_retry_queue(arg);
}

void worker_wake_queue(struct worker *w)
{
    event_active(&w->wake, EV_TIMEOUT, 0);
}

int worker_init(struct worker *w, int i, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    struct timeval tick = {0, LB_TICK_MS * 1000};
    char port[16];
    int rc;

    memset(w, 0, sizeof(*w));
    w->index = i;
    TAILQ_INIT(&w->clients);
    TAILQ_INIT(&w->queue);
    w->base = event_base_new();
    w->log = evbuffer_new();
    if (w->base == NULL || w->log == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", lb.cfg.listen.port);
    rc = getaddrinfo(lb.cfg.listen.host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", lb.cfg.listen.host,
                 gai_strerror(rc));
        return -1;
    }
    w->listener = evconnlistener_new_bind(
        w->base, on_accept, w,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
            LEV_OPT_CLOSE_ON_EXEC,
        1024, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (w->listener == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", lb.cfg.listen.host,
                 lb.cfg.listen.port, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(w->listener, on_accept_error);
    event_assign(&w->tick, w->base, -1, EV_PERSIST, on_tick, w);
    event_add(&w->tick, &tick);
    event_assign(&w->wake, w->base, -1, 0, on_wake, w);
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];

    snprintf(name, sizeof(name), "sb-lb/%d", w->index);
    pthread_setname_np(pthread_self(), name);
    event_base_dispatch(w->base);
    atomic_fetch_sub(&lb.workers_running, 1);
    return NULL;
}

int worker_start(struct worker *w)
{
    atomic_fetch_add(&lb.workers_running, 1);
    if (pthread_create(&w->thread, NULL, worker_main, w) == 0) return 0;
    atomic_fetch_sub(&lb.workers_running, 1);
    return -1;
}

void worker_free(struct worker *w)
{
    if (w->base == NULL) return;
    proxy_free_cache(w);
    upstream_sweep(w, 0, -1);
    worker_flush_log(w);
    if (w->listener) evconnlistener_free(w->listener);
    event_del(&w->tick);
    event_del(&w->wake);
    evbuffer_free(w->log);
    event_base_free(w->base);
    w->base = NULL;
}
