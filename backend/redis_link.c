/* See redis_link.h. */
#include "redis_link.h"

#include <stdio.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"

enum { REPORTED_NONE, REPORTED_UP, REPORTED_DOWN };

static void link_set(struct redis_link *l, enum redis_link_state to)
{
    l->state = to;
    l->since_ms = clock_mono_ms();
}

/* Try again after the current backoff, doubling it for next time. A retry
 * already scheduled stands. */
static void schedule_retry(struct redis_link *l)
{
    struct timeval tv;

    if (l->closing || l->retry_timer == NULL ||
        evtimer_pending(l->retry_timer, NULL))
        return;
    tv.tv_sec = l->backoff_ms / 1000;
    tv.tv_usec = (l->backoff_ms % 1000) * 1000;
    evtimer_add(l->retry_timer, &tv);
    l->backoff_ms *= 2;
    if (l->backoff_ms > REDIS_LINK_BACKOFF_MAX_MS)
        l->backoff_ms = REDIS_LINK_BACKOFF_MAX_MS;
}

/* The connection is gone (or never came): forget the context - hiredis or
 * the caller frees it - say so once, schedule a retry, tell the owner. */
static void link_lost(struct redis_link *l, const char *why)
{
    l->ac = NULL;
    link_set(l, REDIS_LINK_DOWN);
    if (l->closing) return;
    if (l->reported != REPORTED_DOWN) {
        log_warn("%s: redis %s:%d%s%s down (%s); %s", l->who, l->host,
                 l->port, l->name ? " " : "", l->name ? l->name : "",
                 why && *why ? why : "unknown", l->down_note);
        l->reported = REPORTED_DOWN;
    }
    schedule_retry(l);
    if (l->cbs.on_down) l->cbs.on_down(l, l->arg);
}

void redis_link_ready(struct redis_link *l)
{
    link_set(l, REDIS_LINK_UP);
    l->backoff_ms = REDIS_LINK_BACKOFF_MIN_MS;
    if (l->reported != REPORTED_UP) {
        log_info("%s: redis %s:%d%s%s up", l->who, l->host, l->port,
                 l->name ? " " : "", l->name ? l->name : "");
        l->reported = REPORTED_UP;
    }
}

void redis_link_drop(struct redis_link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;

    link_lost(l, why);
    if (ac) redisAsyncFree(ac);
}

/* hiredis: the TCP connect finished. On failure hiredis frees ac right
 * after this returns. */
static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_link *l = ac->data;

    if (l->ac != ac) return;
    if (status != REDIS_OK) {
        link_lost(l, ac->errstr);
        return;
    }
    link_set(l, REDIS_LINK_HANDSHAKE);
    l->cbs.on_connected(l, l->arg);
}

/* hiredis: an established connection ended; pending commands got their
 * NULL replies already and ac is freed after this. One we let go ourselves
 * (drop, free) is no longer l->ac and is ignored. */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_link *l = ac->data;

    if (l->ac != ac) return;
    link_lost(l, status == REDIS_OK ? "connection closed" : ac->errstr);
}

/* DNS is blocking here: use numeric hosts or localhost. */
void redis_link_start(struct redis_link *l)
{
    redisAsyncContext *ac = redisAsyncConnect(l->host, l->port);

    if (ac == NULL || ac->err) { /* never attached: ours to free, now */
        link_lost(l, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        return;
    }
    ac->data = l;
    if (redisLibeventAttach(ac, l->base) != REDIS_OK ||
        redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK) {
        redisAsyncFree(ac);
        link_lost(l, "cannot attach to the event loop");
        return;
    }
    l->ac = ac;
    link_set(l, REDIS_LINK_CONNECTING);
}

/* The retry timer fired: try again (a failure reschedules it). */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    redis_link_start(arg);
}

int redis_link_init(struct redis_link *l, struct event_base *base,
                    const char *host, int port, const char *who,
                    const char *name, const char *down_note,
                    const struct redis_link_cbs *cbs, void *arg)
{
    l->ac = NULL;
    snprintf(l->host, sizeof(l->host), "%s", host ? host : "127.0.0.1");
    l->port = port;
    l->base = base;
    l->who = who;
    l->name = name;
    l->down_note = down_note;
    l->cbs = *cbs;
    l->arg = arg;
    l->backoff_ms = REDIS_LINK_BACKOFF_MIN_MS;
    l->closing = 0;
    l->reported = REPORTED_NONE;
    link_set(l, REDIS_LINK_DOWN);
    l->retry_timer = evtimer_new(base, on_retry, l);
    return l->retry_timer != NULL ? 0 : -1;
}

void redis_link_free(struct redis_link *l)
{
    redisAsyncContext *ac = l->ac;

    l->closing = 1;
    if (l->retry_timer) event_free(l->retry_timer);
    l->retry_timer = NULL;
    l->ac = NULL; /* its callbacks, run by the free, see a stranger */
    link_set(l, REDIS_LINK_OFF);
    if (ac) redisAsyncFree(ac);
}
