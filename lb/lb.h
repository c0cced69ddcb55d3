/* What every part of sb-lb shares: the configuration, read once at start,
 * and the current list of backends, swapped whole on reload. */
#ifndef SB_LB_H
#define SB_LB_H

#include <stdatomic.h>
#include <stdint.h>

#include "backend.h"
#include "balancer.h"
#include "config.h"

#define LB_HEAD_MAX 16384        /* request or response head: 431/502 beyond */
#define LB_TARGET_MAX 8192       /* request-target: 414 beyond */
#define LB_HEAD_EXTRA 1024       /* what the LB adds to a head it forwards */
#define LB_REPLAY_BODY_MAX 65536 /* bodies held whole so a retry can resend them */
#define LB_HIGH_WATER 262144     /* bytes buffered toward a slow peer before
                                    reading from the other side pauses */

struct lb_config {
    struct hostport listen, admin;
    struct cfg_list backend;     /* --backend HOST:PORT, repeatable */
    const char *backends_dns;    /* --backends-dns NAME:PORT */
    const char *backends_file;   /* --backends-file PATH, re-read on SIGHUP */
    int policy;                  /* enum balancer_policy */
    const char *health_path;
    long health_interval, fall, rise;
    int no_health;
    long retries;
    long timeout_connect, timeout_server, timeout_client; /* ms */
    long maxconn, queue, queue_timeout;
    long max_body;               /* 413 beyond, bytes */
    long pool_idle;              /* ms an idle backend connection is kept */
    long workers;
    int quiet;
    const char *log_level;
};

/* An immutable list of backends. A reload builds a new one and swaps the
 * pointer; old lists are kept until exit (reloads are rare and small). */
struct backend_list {
    int n;
    struct lb_backend *b[LB_BACKENDS_MAX];
    struct backend_list *retired_next;
};

struct lb_shared {
    struct lb_config cfg;
    struct balancer balancer;
    _Atomic(struct backend_list *) backends;
    _Atomic int draining;          /* SIGTERM: stop accepting, finish, exit */
    _Atomic int force_exit;        /* the drain took too long: stop anyway */
    _Atomic int workers_running;
    _Atomic long queued;           /* requests waiting for a backend slot */
    _Atomic uint64_t requests, errors_4xx, errors_5xx, retries;
    uint64_t id_prefix;            /* random, for X-Request-Id */
};

extern struct lb_shared lb;

static inline struct backend_list *lb_backends(void)
{
    return atomic_load_explicit(&lb.backends, memory_order_acquire);
}

#endif
