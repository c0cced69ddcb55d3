/* One sb-client run on one event loop: log in, send on schedule (open
 * loop) or as answers come back (closed loop), report every second, stop
 * at the end of the duration or on SIGINT/SIGTERM, then print the summary. */
#ifndef SB_CLIENT_RUN_H
#define SB_CLIENT_RUN_H

#include <stdio.h>

#include "url.h"

#define RUN_INFLIGHT_MAX 10000 /* --max-inflight upper bound (sockets) */
#define RUN_CLIENTS_MAX 10000  /* --clients upper bound */

struct run_opts {
    int load;             /* 0: watch (a line a second), 1: load (a table) */
    const struct url *url;
    const char *path;     /* request target, "/feed?limit=5" */
    const char *user;     /* "" sends anonymous requests */
    const char *password;
    long rate;            /* open loop: requests per second, or 0 */
    long clients;         /* closed loop: concurrent clients, or 0 */
    long duration_s;      /* 0: until SIGINT or SIGTERM */
    long timeout_ms;      /* per request */
    long max_inflight;    /* requests in flight at most (open loop) */
    FILE *csv;            /* per-second rows, or NULL */
    int colour;           /* ANSI colour on stdout */
};

/* Run until the end and print the results on stdout (warnings on stderr).
 * Returns the exit status: 0 after a run (failed requests are results, not
 * failures of sb-client), 1 when it could not run (login refused with bad
 * credentials, no memory). */
int run(const struct run_opts *o);

#endif
