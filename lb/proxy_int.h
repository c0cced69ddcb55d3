/* What proxy.c (the client side) and proxy_backend.c (attempts on
 * backends) call of each other. Internal to those two files. */
#ifndef SB_LB_PROXY_INT_H
#define SB_LB_PROXY_INT_H

#include "client.h"
#include "retry.h"

/* proxy.c */
void timer_set(struct client *c, enum client_timer kind, long ms);
void timer_clear(struct client *c);
/* Give back the slot and connection of the current attempt. */
void attempt_end(struct client *c, int reusable);
void client_close(struct client *c);
/* Write what is queued for the client; -1 if c is gone. */
int client_flush(struct client *c);
void client_advance(struct client *c);
/* Move request body bytes toward the backend; -1 when it answered an error
 * itself (c may be gone). */
int request_body_pump(struct client *c);
void exchange_finish(struct client *c);

/* proxy_backend.c */
void exchange_dispatch(struct client *c);
void attempt_failed(struct client *c, enum attempt_failure f);

#endif
