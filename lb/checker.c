/* Health checks on fresh connections, one at a time per backend. */
#include "checker.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "dashboard.h"
#include "health.h"
#include "lb.h"
#include "log.h"

#define CHECK_TIMEOUT_MAX_MS 2000 /* a check slower than this failed */
#define CHECK_STATUS_LINE_MAX 256

/* One backend's checker state, found by backend pointer. */
struct check {
    struct lb_backend *be;
    struct health_state hs;
    struct bufferevent *bev; /* the check in progress, or NULL */
};

static struct event_base *cbase;
static struct event *ctimer;
static struct check **checks; /* one per backend ever known */
static int nchecks;

static struct check *check_for(struct lb_backend *be)
{
    struct check **grown, *ck;

    for (int i = 0; i < nchecks; i++)
        if (checks[i]->be == be) return checks[i];
    grown = realloc(checks, sizeof(*checks) * (size_t)(nchecks + 1));
    if (grown == NULL) return NULL;
    checks = grown;
    ck = calloc(1, sizeof(*ck));
    if (ck == NULL) return NULL;
    ck->be = be;
    health_init(&ck->hs, 1);
    checks[nchecks++] = ck;
    return ck;
}

/* Feed one result into the hysteresis and publish a change. */
static void check_done(struct check *ck, int ok, const char *why)
{
    enum health_change ch;

    if (ck->bev != NULL) {
        bufferevent_free(ck->bev);
        ck->bev = NULL;
    }
    /* A proxy may have taken it down on its own (passive check). */
    if (ck->hs.up && atomic_load(&ck->be->health) == BACKEND_DOWN)
        health_passive_failure(&ck->hs);
    ch = health_observe(&ck->hs, ok, (int)lb.cfg.rise, (int)lb.cfg.fall);
    if (ch == HEALTH_WENT_UP) {
        dashboard_note("backend %s up (%ld good checks in a row)", ck->be->name,
                       lb.cfg.rise);
        atomic_store(&ck->be->health, BACKEND_UP);
        log_info("backend %s up (%ld good checks)", ck->be->name, lb.cfg.rise);
    } else if (ch == HEALTH_WENT_DOWN) {
        dashboard_note("backend %s down (%s)", ck->be->name, why);
        atomic_store(&ck->be->health, BACKEND_DOWN);
        log_warn("backend %s down: %s", ck->be->name, why);
    } else if (ck->hs.up && atomic_load(&ck->be->health) == BACKEND_DOWN) {
        atomic_store(&ck->be->health, BACKEND_UP);
    }
}

static void check_read(struct bufferevent *bev, void *arg)
{
    struct check *ck = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF);
    char line[CHECK_STATUS_LINE_MAX];
    int status = 0;

    if (eol.pos < 0) {
        if (evbuffer_get_length(in) > CHECK_STATUS_LINE_MAX)
            check_done(ck, 0, "bad status line");
        return;
    }
    evbuffer_remove(in, line, (size_t)eol.pos < sizeof(line) - 1 ? (size_t)eol.pos : sizeof(line) - 1);
    line[(size_t)eol.pos < sizeof(line) - 1 ? (size_t)eol.pos : sizeof(line) - 1] = '\0';
    if (sscanf(line, "HTTP/1.%*d %d", &status) != 1) status = 0;
    if (status >= 200 && status < 400) {
        check_done(ck, 1, NULL);
    } else {
        char why[64];
        snprintf(why, sizeof(why), "health check answered %d", status);
        check_done(ck, 0, why);
    }
}

static void check_event(struct bufferevent *bev, short what, void *arg)
{
    struct check *ck = arg;

    if (what & BEV_EVENT_CONNECTED) {
        bufferevent_enable(bev, EV_READ);
        return;
    }
    check_done(ck, 0, what & BEV_EVENT_TIMEOUT ? "health check timed out"
                      : what & BEV_EVENT_EOF   ? "closed without an answer"
                                               : "connection refused");
}

static void check_start(struct check *ck)
{
    long ms = lb.cfg.health_interval < CHECK_TIMEOUT_MAX_MS
                  ? lb.cfg.health_interval
                  : CHECK_TIMEOUT_MAX_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (ck->bev != NULL) return; /* still waiting for the last one */
    ck->bev = bufferevent_socket_new(cbase, -1, BEV_OPT_CLOSE_ON_FREE);
    if (ck->bev == NULL) return;
    bufferevent_setcb(ck->bev, check_read, NULL, check_event, ck);
    bufferevent_set_timeouts(ck->bev, &tv, &tv);
    evbuffer_add_printf(bufferevent_get_output(ck->bev),
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sb-lb-health\r\n"
                        "Connection: close\r\n\r\n",
                        lb.cfg.health_path, ck->be->name);
    if (bufferevent_socket_connect(ck->bev, (struct sockaddr *)&ck->be->addr,
                                   (int)ck->be->addrlen) != 0)
        check_done(ck, 0, "connection refused");
}

static void checker_tick(evutil_socket_t fd, short what, void *arg)
{
    struct backend_list *list = lb_backends();

    (void)fd;
    (void)what;
    (void)arg;
    for (int i = 0; list != NULL && i < list->n; i++) {
        struct check *ck = check_for(list->b[i]);
        if (ck != NULL) check_start(ck);
    }
}

int checker_start(struct event_base *base)
{
    struct timeval tv = {lb.cfg.health_interval / 1000,
                         (lb.cfg.health_interval % 1000) * 1000};

    cbase = base;
    ctimer = event_new(base, -1, EV_PERSIST, checker_tick, NULL);
    if (ctimer == NULL) return -1;
    event_add(ctimer, &tv);
    checker_tick(-1, 0, NULL);
    return 0;
}

void checker_stop(void)
{
    for (int i = 0; i < nchecks; i++) {
        if (checks[i]->bev) bufferevent_free(checks[i]->bev);
        free(checks[i]);
    }
    free(checks);
    checks = NULL;
    nchecks = 0;
    if (ctimer) event_free(ctimer);
    ctimer = NULL;
}
