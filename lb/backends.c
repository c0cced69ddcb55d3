/* The backend list: made, replaced whole, retired at exit. */
#include "backends.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ALL_BACKENDS_MAX 1024 /* backends ever made in one run */

static struct lb_backend *all[ALL_BACKENDS_MAX]; /* for freeing at exit */
static _Atomic int nall;
static struct backend_list *retired;             /* every list ever made */

/* "127.0.0.1:9001" / "[::1]:9001" for a socket address. */
static void addr_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(out, len, "[%s]:%d", host, port);
    } else {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(out, len, "%s:%d", host, port);
    }
}

/* The backend for this address: the one already known, or a new one. */
static struct lb_backend *backend_for(const struct sockaddr_storage *ss,
                                      socklen_t sslen)
{
    char name[LB_BACKEND_NAME_MAX];
    struct lb_backend *be;

    addr_name(ss, name, sizeof(name));
    for (int i = 0; i < nall; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    if (nall >= ALL_BACKENDS_MAX) return NULL;
    be = calloc(1, sizeof(*be));
    if (be == NULL) return NULL;
    snprintf(be->name, sizeof(be->name), "%s", name);
    memcpy(&be->addr, ss, sslen);
    be->addrlen = sslen;
    be->name_hash = balancer_hash(be->name, strlen(be->name));
    atomic_init(&be->health, BACKEND_UP);
    atomic_init(&be->admin, ADMIN_ENABLED);
    for (int w = 0; w < LB_WORKERS_MAX; w++) TAILQ_INIT(&be->idle[w].conns);
    all[nall] = be;
    atomic_fetch_add(&nall, 1); /* published after the slot is filled */
    return be;
}

/* Swap in a new list; the old one is kept (workers may still read it). */
static int install(struct lb_backend **bes, int n)
{
    struct backend_list *list = calloc(1, sizeof(*list)), *old;

    if (list == NULL) return -1;
    list->n = n;
    memcpy(list->b, bes, sizeof(*bes) * (size_t)n);
    list->retired_next = retired;
    retired = list;
    old = atomic_exchange(&lb.backends, list);
    if (old == NULL || old->n != n ||
        memcmp(old->b, list->b, sizeof(*bes) * (size_t)n) != 0) {
        char names[512] = "";
        for (int i = 0; i < n; i++) {
            strncat(names, i ? ", " : "", sizeof(names) - strlen(names) - 1);
            strncat(names, bes[i]->name, sizeof(names) - strlen(names) - 1);
        }
        log_info("backends (%d): %s", n, n ? names : "none yet");
    }
    return 0;
}

int backends_set_from_addrs(const struct sockaddr_storage *addrs, int n)
{
    struct lb_backend *bes[LB_BACKENDS_MAX];
    int m = 0;

    for (int i = 0; i < n && m < LB_BACKENDS_MAX; i++) {
        socklen_t len = addrs[i].ss_family == AF_INET6
                            ? sizeof(struct sockaddr_in6)
                            : sizeof(struct sockaddr_in);
        struct lb_backend *be = backend_for(&addrs[i], len);
        int dup = 0;
        if (be == NULL) return -1;
        for (int j = 0; j < m; j++) dup |= bes[j] == be;
        if (!dup) bes[m++] = be;
    }
    return install(bes, m);
}

int backends_set_from_names(const char *const *names, int n, char *err,
                            size_t errlen)
{
    struct sockaddr_storage addrs[LB_BACKENDS_MAX];
    int m = 0;

    if (n > LB_BACKENDS_MAX) {
        snprintf(err, errlen, "at most %d backends", LB_BACKENDS_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct hostport hp;
        struct addrinfo hints = {0}, *ai;
        char port[16], why[128];
        int rc;
        if (cfg_parse_hostport(names[i], &hp, 0, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "--backend: %s", why);
            return -1;
        }
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        snprintf(port, sizeof(port), "%d", hp.port);
        rc = getaddrinfo(hp.host, port, &hints, &ai);
        if (rc != 0) {
            snprintf(err, errlen, "--backend %s: %s", names[i], gai_strerror(rc));
            return -1;
        }
        memcpy(&addrs[m++], ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
    }
    if (backends_set_from_addrs(addrs, m) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int backends_set_from_file(const char *path, char *err, size_t errlen)
{
    char *names[LB_BACKENDS_MAX], line[CFG_HOST_MAX + 16];
    FILE *f = fopen(path, "r");
    int n = 0, lineno = 0, rc = -1;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *end;
        struct hostport hp;
        char why[128];

        lineno++;
        line[strcspn(line, "#\r\n")] = '\0'; /* comments and line ends */
        while (*p == ' ' || *p == '\t') p++;
        end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
        if (*p == '\0') continue;
        if (strpbrk(p, " \t") != NULL ||
            cfg_parse_hostport(p, &hp, 0, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s line %d: expected one HOST:PORT, got '%s'",
                     path, lineno, p);
            goto out;
        }
        if (n == LB_BACKENDS_MAX) {
            snprintf(err, errlen, "%s: more than %d backends", path,
                     LB_BACKENDS_MAX);
            goto out;
        }
        if ((names[n] = strdup(p)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        n++;
    }
    rc = backends_set_from_names((const char *const *)names, n, err, errlen);
out:
    fclose(f);
    for (int i = 0; i < n; i++) free(names[i]);
    return rc;
}

int backends_add(const char *hostport, char *err, size_t errlen)
{
    struct backend_list *cur = lb_backends();
    const char *names[LB_BACKENDS_MAX + 1];
    int n = 0;

    for (int i = 0; cur != NULL && i < cur->n && n < LB_BACKENDS_MAX; i++)
        names[n++] = cur->b[i]->name;
    if (n == LB_BACKENDS_MAX) {
        snprintf(err, errlen, "at most %d backends", LB_BACKENDS_MAX);
        return -1;
    }
    names[n++] = hostport;
    return backends_set_from_names(names, n, err, errlen);
}

int backends_remove(const char *name, char *err, size_t errlen)
{
    struct backend_list *cur = lb_backends();
    struct lb_backend *keep[LB_BACKENDS_MAX];
    int n = 0, found = 0;

    for (int i = 0; cur != NULL && i < cur->n; i++) {
        if (strcmp(cur->b[i]->name, name) == 0)
            found = 1;
        else
            keep[n++] = cur->b[i];
    }
    if (!found) {
        snprintf(err, errlen, "no backend %s", name);
        return -1;
    }
    return install(keep, n);
}

/* ---- DNS ---------------------------------------------------------------- */

static struct evdns_base *dns;
static struct event *dns_timer;
static struct evdns_getaddrinfo_request *dns_pending;
static struct hostport dns_name;

static void dns_answer(int result, struct evutil_addrinfo *res, void *arg)
{
    struct sockaddr_storage addrs[LB_BACKENDS_MAX];
    int n = 0;

    (void)arg;
    dns_pending = NULL;
    if (result != 0) {
        /* Not resolvable (yet): keep what we have. Compose starts the LB
         * before its backends; a name may appear later. */
        log_debug("dns %s: %s", dns_name.host, evutil_gai_strerror(result));
        if (lb_backends() == NULL) backends_set_from_addrs(addrs, 0);
        return;
    }
    for (struct evutil_addrinfo *a = res; a != NULL && n < LB_BACKENDS_MAX;
         a = a->ai_next) {
        memcpy(&addrs[n], a->ai_addr, a->ai_addrlen);
        ((struct sockaddr_in *)&addrs[n])->sin_port = htons((uint16_t)dns_name.port);
        n++;
    }
    evutil_freeaddrinfo(res);
    backends_set_from_addrs(addrs, n);
}

void backends_dns_refresh(void)
{
    struct evutil_addrinfo hints = {0};

    if (dns == NULL || dns_pending != NULL) return;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    dns_pending = evdns_getaddrinfo(dns, dns_name.host, NULL, &hints,
                                    dns_answer, NULL);
}

static void dns_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    backends_dns_refresh();
}

int backends_dns_start(struct event_base *base, long interval_ms, char *err,
                       size_t errlen)
{
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};

    if (cfg_parse_hostport(lb.cfg.backends_dns, &dns_name, 0, err, errlen))
        return -1;
    dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (dns == NULL) {
        /* No /etc/resolv.conf: still resolve /etc/hosts names. */
        dns = evdns_base_new(base, 0);
        if (dns == NULL) {
            snprintf(err, errlen, "cannot start the DNS resolver");
            return -1;
        }
    }
    evdns_base_load_hosts(dns, NULL);
    dns_timer = event_new(base, -1, EV_PERSIST, dns_tick, NULL);
    event_add(dns_timer, &tv);
    backends_dns_refresh();
    return 0;
}

void backends_dns_stop(void)
{
    if (dns_timer) event_free(dns_timer);
    if (dns_pending) evdns_getaddrinfo_cancel(dns_pending);
    if (dns) evdns_base_free(dns, 0);
    dns = NULL;
    dns_timer = NULL;
    dns_pending = NULL;
}

struct lb_backend *const *backends_known(int *n)
{
    *n = atomic_load(&nall);
    return all;
}

void backends_free_all(void)
{
    while (retired != NULL) {
        struct backend_list *next = retired->retired_next;
        free(retired);
        retired = next;
    }
    atomic_store(&lb.backends, NULL);
    for (int i = 0; i < nall; i++) free(all[i]);
    atomic_store(&nall, 0);
}
