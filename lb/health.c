/* Rise/fall hysteresis on one counter: a backend changes state only after
 * `fall` (or `rise`) results in a row against its current state, so one
 * lost check does not flap it. */
#include "health.h"

/* Start up (start_up != 0) or down, with no streak. */
void health_init(struct health_state *h, int start_up)
{
    h->up = start_up ? 1 : 0;
    h->streak = 0;
}

/* Count one active check result. A result that agrees with the current
 * state clears the streak (fall/rise counts are "in a row"); one against
 * it lengthens the streak, and reaching fall (when up) or rise (when down)
 * flips the state, clears the streak and reports the change. rise or fall
 * below 1 count as 1. The caller writes the change into the backend's
 * atomic health; this module keeps no shared state. */
enum health_change health_observe(struct health_state *h, int ok, int rise,
                                  int fall)
{
    if (rise < 1)
        rise = 1;
    if (fall < 1)
        fall = 1;
    if (h->up) {
        if (ok) {
            h->streak = 0;
            return HEALTH_SAME;
        }
        if (++h->streak >= fall) {
            h->up = 0;
            h->streak = 0;
            return HEALTH_WENT_DOWN;
        }
        return HEALTH_SAME;
    }
    if (!ok) {
        h->streak = 0;
        return HEALTH_SAME;
    }
    if (++h->streak >= rise) {
        h->up = 1;
        h->streak = 0;
        return HEALTH_WENT_UP;
    }
    return HEALTH_SAME;
}

/* A refused or reset connection: an up backend goes down at once
 * (HEALTH_WENT_DOWN). A down one stays down and its rise count starts
 * over (HEALTH_SAME): good checks that came before the refusal do not
 * count towards bringing back a backend that is still refusing. */
enum health_change health_passive_failure(struct health_state *h)
{
    h->streak = 0;
    if (h->up) {
        h->up = 0;
        return HEALTH_WENT_DOWN;
    }
    return HEALTH_SAME;
}
