/* Everything sb-client prints: the watch line each second, the watch
 * summary, the load table, and the CSV rows. Colour is the caller's choice
 * (a terminal gets it, a pipe does not). */
#ifndef SB_CLIENT_REPORT_H
#define SB_CLIENT_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "stats.h"

#define REPORT_LINE_MAX 2048 /* one printed line; longer lists are cut */

/* What the run was, for the headings. */
struct report_run {
    const char *mode;    /* "watch" or "load" */
    const char *target;  /* "http://127.0.0.1:8080/feed?limit=5" */
    const char *user;    /* "" when anonymous */
    long rate, clients, duration_s;
    double elapsed_s;    /* from the first request to the end of sending */
    int unfinished;      /* still in flight when the run ended */
    int colour;
};

/* One line before the first watch line: what is watched and how to stop. */
void report_watch_header(FILE *out, const struct report_run *run);

/* The watch line for the second that ended at wall-clock time now:
 * "12:00:01  sent 20  ok 20  err 0  p50 1.21ms  p99 3.40ms  backend-1:7 ..."
 * with "  errors 502:1 refused:2" at the end when something failed. */
void report_watch_line(FILE *out, const struct report_run *run,
                       const struct stats *s, time_t now);

/* The watch summary over the whole run. */
void report_watch_summary(FILE *out, const struct report_run *run,
                          const struct stats *s);

/* The load table over the whole run. */
void report_load_table(FILE *out, const struct report_run *run,
                       const struct stats *s);

/* CSV: the header line, and one row for second n (1-based). Latency cells
 * are empty in a second without answers. */
void report_csv_header(FILE *out);
void report_csv_row(FILE *out, long n, const struct stats_window *w,
                    int in_flight);

/* A latency for people: "0.85ms", "12.3ms", "250ms", "-" when us < 0. */
void report_ms(char *buf, size_t len, int64_t us);

#endif
