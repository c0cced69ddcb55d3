/* sb-lb: the load balancer. Flags, signals and wiring only; the proxy is in
 * proxy.c, the workers in worker.c, the backends in backends.c. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "admin.h"
#include "backends.h"
#include "checker.h"
#include "lb.h"
#include "log.h"
#include "worker.h"

#define DNS_INTERVAL_MS 2000  /* --backends-dns re-resolved this often */
#define DRAIN_TIMEOUT_MS 10000 /* after SIGTERM, in-flight work gets this long */

struct lb_shared lb;
static struct lb_config *o = &lb.cfg;

static const struct cfg_opt opts[] = {
    {"listen", CFG_HOSTPORT, "0.0.0.0:8080", 0, 0, NULL, "traffic address", &lb.cfg.listen},
    {"admin", CFG_HOSTPORT, "127.0.0.1:8404", 0, 0, NULL,
     "admin address (stats, metrics)", &lb.cfg.admin},
    {"backend", CFG_LIST, NULL, 0, 0, NULL, "a backend HOST:PORT (repeat it)",
     &lb.cfg.backend},
    {"backends-dns", CFG_STR, NULL, 0, 0, NULL,
     "NAME:PORT re-resolved every 2 s (compose, Kubernetes)", &lb.cfg.backends_dns},
    {"backends-file", CFG_STR, NULL, 0, 0, NULL,
     "file of HOST:PORT lines, re-read on SIGHUP", &lb.cfg.backends_file},
    {"policy", CFG_ENUM, "round-robin", 0, 0,
     "round-robin|least-conn|sticky|ip-hash", "how a backend is chosen", &lb.cfg.policy},
    {"health-path", CFG_STR, "/readyz", 0, 0, NULL, "path of active checks",
     &lb.cfg.health_path},
    {"health-interval", CFG_INT, "1000", 50, 3600000, NULL, "ms between checks",
     &lb.cfg.health_interval},
    {"fall", CFG_INT, "2", 1, 100, NULL, "failed checks that take a backend down",
     &lb.cfg.fall},
    {"rise", CFG_INT, "2", 1, 100, NULL, "good checks that bring it back", &lb.cfg.rise},
    {"no-health", CFG_FLAG, "0", 0, 0, NULL, "no health checks, active or passive",
     &lb.cfg.no_health},
    {"retries", CFG_INT, "2", 0, 10, NULL, "tries on other backends", &lb.cfg.retries},
    {"timeout-connect", CFG_INT, "1000", 1, 600000, NULL, "ms to connect to a backend",
     &lb.cfg.timeout_connect},
    {"timeout-server", CFG_INT, "10000", 1, 3600000, NULL,
     "ms a backend may stay silent", &lb.cfg.timeout_server},
    {"timeout-client", CFG_INT, "10000", 1, 3600000, NULL,
     "ms for a request head, and idle keep-alive", &lb.cfg.timeout_client},
    {"maxconn", CFG_INT, "0", 0, 1000000, NULL,
     "requests at once per backend (0: no limit)", &lb.cfg.maxconn},
    {"queue", CFG_INT, "1024", 0, 1000000, NULL, "requests waiting beyond maxconn",
     &lb.cfg.queue},
    {"queue-timeout", CFG_INT, "5000", 1, 3600000, NULL, "ms a request may wait",
     &lb.cfg.queue_timeout},
    {"max-body", CFG_INT, "10485760", 0, 1099511627776L, NULL,
     "largest request body in bytes (413 beyond)", &lb.cfg.max_body},
    {"pool-idle", CFG_INT, "15000", 1, 3600000, NULL,
     "ms an idle backend connection is kept (below the backend's own)", &lb.cfg.pool_idle},
    {"workers", CFG_INT, "0", 0, LB_WORKERS_MAX, NULL, "event-loop threads (0: cores)",
     &lb.cfg.workers},
    {"quiet", CFG_FLAG, "0", 0, 0, NULL, "no access log", &lb.cfg.quiet},
    {"log-level", CFG_STR, "info", 0, 0, NULL, "debug|info|warn|error", &lb.cfg.log_level},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static struct worker workers[LB_WORKERS_MAX];
static struct event_base *main_base;
static struct event *drain_timer;

/* While draining: leave once every worker has finished its clients, or
 * when the drain has taken too long (the workers then stop anyway). */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    static int ticks;

    (void)fd;
    (void)what;
    (void)arg;
    if (atomic_load(&lb.workers_running) == 0) {
        event_base_loopexit(main_base, NULL);
        return;
    }
    if (++ticks * 100 == DRAIN_TIMEOUT_MS) {
        log_warn("drain timeout: closing connections still in flight");
        atomic_store(&lb.force_exit, 1);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct timeval tv = {0, 100000};

    (void)what;
    (void)arg;
    if (sig == SIGHUP) {
        char err[256];
        log_info("SIGHUP: reloading the backend list");
        if (o->backends_dns != NULL)
            backends_dns_refresh();
        else if (o->backends_file != NULL &&
                 backends_set_from_file(o->backends_file, err, sizeof(err)) != 0)
            log_error("reload failed, keeping the old list: %s", err);
        return;
    }
    if (atomic_exchange(&lb.draining, 1)) {
        log_warn("second signal: exiting now");
        _exit(0);
    }
    log_info("signal %d: draining (no new connections, finishing requests)",
             (int)sig);
    drain_timer = event_new(main_base, -1, EV_PERSIST, on_drain_tick, NULL);
    event_add(drain_timer, &tv);
    admin_stop();
}

int main(int argc, char **argv)
{
    char err[256];
    struct event *sig[3];
    int level, nworkers;

    switch (cfg_parse(opts, NOPTS, argc, argv, 1, err, sizeof(err))) {
    case CFG_HELP:
        cfg_usage(stdout, "sb-lb", "[options]", opts, NOPTS);
        return 0;
    case CFG_ERROR:
        fprintf(stderr, "sb-lb: %s\n", err);
        return 2;
    case CFG_OK:
        break;
    }
    if ((level = log_level_parse(o->log_level)) < 0) {
        fprintf(stderr, "sb-lb: --log-level: '%s' is not one of debug|info|warn|error\n",
                o->log_level);
        return 2;
    }
    if ((o->backend.n > 0) + (o->backends_dns != NULL) +
            (o->backends_file != NULL) != 1) {
        fprintf(stderr, "sb-lb: give --backend HOST:PORT (repeatable), "
                        "--backends-file PATH or --backends-dns NAME:PORT: "
                        "exactly one kind\n");
        return 2;
    }
    log_threshold = (enum log_level)level;
    log_set_name("sb-lb");
    signal(SIGPIPE, SIG_IGN);
    if (getrandom(&lb.id_prefix, sizeof(lb.id_prefix), 0) != sizeof(lb.id_prefix))
        lb.id_prefix = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    balancer_init(&lb.balancer, (enum balancer_policy)o->policy);
    nworkers = o->workers > 0 ? (int)o->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1) nworkers = 1;
    if (nworkers > LB_WORKERS_MAX) nworkers = LB_WORKERS_MAX;

    main_base = event_base_new();
    if (main_base == NULL) return 1;
    if (o->backends_dns != NULL) {
        if (backends_dns_start(main_base, DNS_INTERVAL_MS, err, sizeof(err)) != 0) {
            fprintf(stderr, "sb-lb: --backends-dns: %s\n", err);
            return 2;
        }
    } else if (o->backends_file != NULL) {
        if (backends_set_from_file(o->backends_file, err, sizeof(err)) != 0) {
            fprintf(stderr, "sb-lb: --backends-file: %s\n", err);
            return 2;
        }
    } else if (backends_set_from_names(o->backend.items, o->backend.n, err,
                                       sizeof(err)) != 0) {
        fprintf(stderr, "sb-lb: %s\n", err);
        return 2;
    }
    for (int i = 0; i < nworkers; i++)
        if (worker_init(&workers[i], i, err, sizeof(err)) != 0) {
            log_error("%s", err);
            return 1;
        }
    if (admin_start(main_base, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return 1;
    }
    if (!o->no_health && checker_start(main_base) != 0) return 1;
    sig[0] = evsignal_new(main_base, SIGTERM, on_signal, NULL);
    sig[1] = evsignal_new(main_base, SIGINT, on_signal, NULL);
    sig[2] = evsignal_new(main_base, SIGHUP, on_signal, NULL);
    for (int i = 0; i < 3; i++) evsignal_add(sig[i], NULL);
    for (int i = 0; i < nworkers; i++) worker_start(&workers[i]);
    log_info("listening on %s:%d (admin %s:%d), %d workers, policy %s%s, "
             "retries %ld", o->listen.host, o->listen.port, o->admin.host,
             o->admin.port, nworkers, lb.balancer.ops->name,
             o->no_health ? ", no health checks" : "", o->retries);

    event_base_dispatch(main_base);   /* until a drain has finished */
    checker_stop();
    backends_dns_stop();
    for (int i = 0; i < nworkers; i++) pthread_join(workers[i].thread, NULL);
    log_info("drained, exiting");
    for (int i = 0; i < 3; i++) event_free(sig[i]);
    if (drain_timer) event_free(drain_timer);
    for (int i = 0; i < nworkers; i++) worker_free(&workers[i]);
    backends_free_all();
    event_base_free(main_base);
    return 0;
}
