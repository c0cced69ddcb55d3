/* Admission control: capacity slots, a bounded FIFO queue, simulated work. */
#include "overload.h"

#include <event2/event.h>
#include <stdlib.h>

enum ticket_state {
    TICKET_IDLE,
    TICKET_QUEUED,
    TICKET_WORKING,
    TICKET_DONE,
    TICKET_ABANDONED /* its client left while it waited: no slot, no work */
};

struct overload {
    struct event_base *base;
    long capacity, queue_max, work_ms;
    long active, queued;
    uint64_t admitted, rejected, abandoned;
    int (*gone)(void *arg);
    TAILQ_HEAD(, overload_ticket) waiting;
};

struct overload *overload_new(struct event_base *base, long capacity,
                              long queue, long work_ms)
{
    struct overload *ov = calloc(1, sizeof(*ov));

    if (ov == NULL) return NULL;
    ov->base = base;
    ov->capacity = capacity > 0 ? capacity : 0;
    ov->queue_max = queue > 0 ? queue : 0;
    ov->work_ms = work_ms > 0 ? work_ms : 0;
    TAILQ_INIT(&ov->waiting);
    return ov;
}

void overload_free(struct overload *ov)
{
    free(ov);
}

/* The simulated work is over: hand the request to its handler. */
static void overload_work_done(evutil_socket_t fd, short what, void *arg)
{
    struct overload_ticket *t = arg;

    (void)fd;
    (void)what;
    if (t->state != TICKET_ABANDONED) t->state = TICKET_DONE;
    t->run(t->arg);
}

/* Take a slot and start the work timer; a zero timer still defers run to the
 * next loop turn, so a handler never runs inside overload_admit. */
static void overload_start(struct overload *ov, struct overload_ticket *t)
{
    struct timeval tv = {ov->work_ms / 1000, (ov->work_ms % 1000) * 1000};

    ov->active++;
    t->state = TICKET_WORKING;
    evtimer_add(&t->timer, &tv);
}

enum overload_admit overload_admit(struct overload *ov,
                                   struct overload_ticket *t,
                                   overload_run_cb run, void *arg)
{
    t->ov = ov;
    t->run = run;
    t->arg = arg;
    t->state = TICKET_IDLE;
    if (ov->capacity > 0 && ov->active >= ov->capacity &&
        ov->queued >= ov->queue_max) {
        ov->rejected++;
        return OVERLOAD_REJECTED;
    }
    ov->admitted++;
    if (ov->work_ms == 0 && (ov->capacity == 0 || ov->active < ov->capacity)) {
        /* The common case costs no timer and no extra loop turn. */
        ov->active++;
        t->state = TICKET_DONE;
        return OVERLOAD_GO;
    }
    evtimer_assign(&t->timer, ov->base, overload_work_done, t);
    if (ov->capacity == 0 || ov->active < ov->capacity) {
        overload_start(ov, t);
        return OVERLOAD_WAIT;
    }
    TAILQ_INSERT_TAIL(&ov->waiting, t, link);
    ov->queued++;
    t->state = TICKET_QUEUED;
    return OVERLOAD_WAIT;
}

void overload_release(struct overload_ticket *t)
{
    struct overload *ov = t->ov;
    struct overload_ticket *next;

    if (ov == NULL) return;
    if (t->state == TICKET_QUEUED) { /* gave up while waiting */
        TAILQ_REMOVE(&ov->waiting, t, link);
        ov->queued--;
    } else if (t->state == TICKET_WORKING) {
        evtimer_del(&t->timer);
        ov->active--;
    } else if (t->state == TICKET_DONE) {
        ov->active--;
    } else if (t->state == TICKET_ABANDONED) {
        evtimer_del(&t->timer); /* released before its clean-up turn */
    }
    t->state = TICKET_IDLE;
    t->ov = NULL;
    while (ov->capacity > 0 && ov->active < ov->capacity &&
           (next = TAILQ_FIRST(&ov->waiting)) != NULL) {
        struct timeval now = {0, 0};
        TAILQ_REMOVE(&ov->waiting, next, link);
        ov->queued--;
        if (ov->gone == NULL || !ov->gone(next->arg)) {
            overload_start(ov, next);
            break;
        }
        /* Nobody waits for this answer any more: skip the work, let the
         * next in line have the slot, and let the request clean up on the
         * next loop turn. */
        ov->abandoned++;
        next->state = TICKET_ABANDONED;
        evtimer_add(&next->timer, &now);
    }
}

void overload_set_gone_check(struct overload *ov, int (*gone)(void *arg))
{
    ov->gone = gone;
}

int overload_abandoned(const struct overload_ticket *t)
{
    return t->state == TICKET_ABANDONED;
}

void overload_get_stats(const struct overload *ov, struct overload_stats *st)
{
    st->capacity = ov->capacity;
    st->queue_max = ov->queue_max;
    st->work_ms = ov->work_ms;
    st->active = ov->active;
    st->queued = ov->queued;
    st->admitted = ov->admitted;
    st->rejected = ov->rejected;
    st->abandoned = ov->abandoned;
}
