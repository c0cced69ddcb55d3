/* What sb-client counts: requests sent, answered well, failed (by kind),
 * latency, and who served them, for the current second and for the whole
 * run. A window is plain data; stats_* fill it, report.c prints it. */
#ifndef SB_CLIENT_STATS_H
#define SB_CLIENT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define STATS_STATUS_MAX 600     /* HTTP status codes counted one by one */
#define STATS_BACKENDS_MAX 32    /* distinct X-Served-By names; more -> "other" */
#define STATS_BACKEND_NAME_MAX 64

/* Failures that are not an HTTP status. 401 is counted as LOGGED_OUT, not
 * as a status: it is the stateful-server lab's whole point. */
enum stats_kind {
    KIND_LOGGED_OUT, /* 401: the server did not know our session */
    KIND_REFUSED,    /* connect refused */
    KIND_RESET,      /* connection reset or closed mid-request */
    KIND_TIMEOUT,    /* no answer within --timeout-ms */
    KIND_UNREACHABLE,/* no route to host, name does not resolve */
    KIND_BAD_RESPONSE, /* not HTTP we understand */
    KIND_LOCAL,      /* out of sockets here */
    KIND_OVERFLOW,   /* not sent: too many requests already in flight */
    KIND_COUNT
};

struct stats_window {
    uint64_t sent, ok, errors;
    uint64_t kind[KIND_COUNT];
    uint64_t status[STATS_STATUS_MAX]; /* failed answers by status (not 401) */
    uint64_t served[STATS_BACKENDS_MAX]; /* answers by stats.names index */
    struct hist hist; /* latency of every answered request, any status */
};

struct stats {
    struct stats_window second; /* since the last stats_next_second */
    struct stats_window next;   /* what happened after the second ended but
                                   before its tick ran: the next second's */
    struct stats_window total;
    int nnames;
    char names[STATS_BACKENDS_MAX][STATS_BACKEND_NAME_MAX];
    uint64_t logins, login_failures, relogins; /* relogins: after a 401 */
};

/* Zero everything. */
void stats_init(struct stats *s);

/* In each call below, next says the event belongs to the second after the
 * current one: it happened after that second ended, but before the tick
 * that reports it ran (timers firing at the same moment race). */

/* One request went out (or was due and overflowed: count it sent too). */
void stats_sent(struct stats *s, int next);

/* An answer with this status arrived after latency_us, served by
 * served_by ("" when the header was missing). 2xx and 3xx are ok. */
void stats_answer(struct stats *s, int next, int status, int64_t latency_us,
                  const char *served_by);

/* A request failed without an answer (or was never sent). */
void stats_fail(struct stats *s, int next, enum stats_kind kind);

/* Start a new second: what was counted for it already becomes the
 * current window. */
void stats_next_second(struct stats *s);

/* "logged-out", "refused", ... */
const char *stats_kind_name(enum stats_kind k);

/* Write the failures of w as "503:4 refused:2 logged-out:1" (statuses
 * first, ascending; then kinds) into buf. Returns the length (0: none). */
size_t stats_format_errors(const struct stats_window *w, char *buf,
                           size_t len);

/* Write "backend-1:7 backend-2:6" for w into buf, in name order.
 * Returns the length. */
size_t stats_format_served(const struct stats *s, const struct stats_window *w,
                           char *buf, size_t len);

#endif
