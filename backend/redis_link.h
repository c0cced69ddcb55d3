/* A Redis connection that comes back by itself: one async hiredis context on
 * the libevent adapter, named states, a retry timer with exponential backoff
 * (REDIS_LINK_BACKOFF_MIN_MS doubling to REDIS_LINK_BACKOFF_MAX_MS), and one
 * log line when it goes down and one when it comes up.
 *
 * The owner embeds a struct redis_link, reads its fields (ac, state,
 * since_ms, host, port) and never writes them. When TCP connects the link
 * enters REDIS_LINK_HANDSHAKE and calls on_connected: the owner proves the
 * link (PING, SUBSCRIBE) and calls redis_link_ready, or redis_link_ready at
 * once. on_down says the context is gone (hiredis frees it); it runs from
 * inside hiredis callbacks, so it must not free the owner or the link.
 * hiredis 0.14 rules: redis_link_drop and redis_link_free never from inside
 * one of the link's hiredis callbacks; replies for a context other than
 * l->ac are for one let go, and are to be ignored. The process must ignore
 * SIGPIPE. */
#ifndef SB_REDIS_LINK_H
#define SB_REDIS_LINK_H

#include <stdint.h>

#include <event2/event.h>
#include <hiredis/async.h>

#define REDIS_LINK_HOST_MAX 256
#define REDIS_LINK_BACKOFF_MIN_MS 100 /* first retry after a lost link */
#define REDIS_LINK_BACKOFF_MAX_MS 2000 /* retries never wait longer */

enum redis_link_state {
    REDIS_LINK_OFF,        /* not started, or freed */
    REDIS_LINK_DOWN,       /* no connection; a retry is scheduled */
    REDIS_LINK_CONNECTING, /* TCP connect in progress */
    REDIS_LINK_HANDSHAKE,  /* connected, not trusted until the owner says */
    REDIS_LINK_UP          /* ready for commands */
};

struct redis_link;

struct redis_link_cbs {
    void (*on_connected)(struct redis_link *l, void *arg); /* required */
    void (*on_down)(struct redis_link *l, void *arg);      /* may be NULL */
};

struct redis_link {
    redisAsyncContext *ac;  /* NULL unless CONNECTING, HANDSHAKE or UP */
    enum redis_link_state state;
    int64_t since_ms;       /* when state last changed */
    char host[REDIS_LINK_HOST_MAX];
    int port;
    /* private */
    struct event_base *base;
    const char *who, *name, *down_note; /* log: "<who>: redis h:p [name] " */
    struct redis_link_cbs cbs;
    void *arg;
    int backoff_ms;
    int closing;
    int reported;           /* last logged: 0 nothing, 1 up, 2 down */
    struct event *retry_timer;
};

/* Set l up (DOWN, not connecting yet). who prefixes the log lines, name
 * (may be NULL) names the link in them, down_note ends the "down" line.
 * Strings must outlive l. Returns 0, or -1 (out of memory; still call
 * redis_link_free). */
int redis_link_init(struct redis_link *l, struct event_base *base,
                    const char *host, int port, const char *who,
                    const char *name, const char *down_note,
                    const struct redis_link_cbs *cbs, void *arg);

/* Start connecting now; a failure schedules a retry. */
void redis_link_start(struct redis_link *l);

/* The handshake succeeded: UP, backoff reset, "up" logged once. */
void redis_link_ready(struct redis_link *l);

/* Drop the connection now (pending commands get NULL replies) and retry
 * later. Never from inside a hiredis callback of l. */
void redis_link_drop(struct redis_link *l, const char *why);

/* Close and free what l holds (not l itself): pending commands get NULL
 * replies now, with l->ac already NULL. No retries or logs afterwards.
 * Never from inside a hiredis callback of l. Safe on a zeroed link. */
void redis_link_free(struct redis_link *l);

#endif
