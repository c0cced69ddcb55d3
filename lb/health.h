/* A backend's health as rise/fall hysteresis on one counter, the way
 * HAProxy's checks work: `fall` failed checks in a row take a healthy
 * backend down, `rise` good ones bring it back. A passive failure seen by
 * the proxy (connection refused or reset) takes it down at once. */
#ifndef SB_LB_HEALTH_H
#define SB_LB_HEALTH_H

#include "backend.h"

struct health_state {
    int up;     /* 1 healthy, 0 down */
    int streak; /* consecutive results against the current state */
};

enum health_change { HEALTH_SAME, HEALTH_WENT_UP, HEALTH_WENT_DOWN };

/* Start state: down until the first `rise` good checks, unless start_up
 * (when checks are off, every backend is simply up). */
void health_init(struct health_state *h, int start_up);

/* Feed one active check result (ok = 1 good). */
enum health_change health_observe(struct health_state *h, int ok, int rise,
                                  int fall);

/* A proxy saw the backend refuse or reset a connection: down now. */
enum health_change health_passive_failure(struct health_state *h);

#endif
