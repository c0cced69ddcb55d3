/* The admin port (loopback by default): GET /stats (JSON), GET /metrics
 * (Prometheus text), GET /healthz, and POST /backends/NAME/drain|enable|
 * disable. Runs on the main thread with evhttp: nothing here is hot. */
#ifndef SB_LB_ADMIN_H
#define SB_LB_ADMIN_H

struct event_base;

int admin_start(struct event_base *base, char *err, size_t errlen);
void admin_stop(void);

#endif
