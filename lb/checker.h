/* Active health checks: every interval, each backend gets a GET of the
 * health path on a fresh connection; rise/fall (health.h) turns results
 * into up and down. Runs on the main thread's loop; the proxies only read
 * the outcome (backend->health). */
#ifndef SB_LB_CHECKER_H
#define SB_LB_CHECKER_H

struct event_base;

/* Start checking on base with the configured path, interval, rise, fall. */
int checker_start(struct event_base *base);
void checker_stop(void);

#endif
