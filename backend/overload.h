/* The overload knobs of the switchboard lab: a server that works on at most
 * `capacity` requests at once, lets `queue` more wait in line, rejects the
 * rest at once, and spends `work_ms` of simulated work on each one.
 *
 * The work is a timer, not a sleep: while one request "works", the event loop
 * keeps answering health checks and rejecting what does not fit. */
#ifndef SB_OVERLOAD_H
#define SB_OVERLOAD_H

#include <event2/event_struct.h>
#include <stdint.h>
#include <sys/queue.h>

struct overload;

typedef void (*overload_run_cb)(void *arg);

/* Lives inside the caller's per-request object, so admission allocates
 * nothing. Opaque to callers. */
struct overload_ticket {
    struct event timer;
    TAILQ_ENTRY(overload_ticket) link;
    struct overload *ov;
    overload_run_cb run;
    void *arg;
    int state;
};

enum overload_admit {
    OVERLOAD_GO,       /* holds a slot, no work to simulate: go on now;
                          run will not be called */
    OVERLOAD_WAIT,     /* working or queued: run is called later */
    OVERLOAD_REJECTED  /* queue full: answer 503 + Retry-After */
};

struct overload_stats {
    long capacity, queue_max, work_ms; /* 0 capacity = unlimited */
    long active, queued;
    uint64_t admitted, rejected;
    uint64_t abandoned; /* left the queue because the client had gone */
};

/* capacity <= 0 means unlimited (and then queue is unused); work_ms >= 0.
 * Returns NULL on allocation failure. */
struct overload *overload_new(struct event_base *base, long capacity,
                              long queue, long work_ms);
void overload_free(struct overload *ov);

/* Ask for a slot for one request. With OVERLOAD_WAIT, run(arg) is called
 * after work_ms once the request holds a slot, never before this returns.
 * Unless rejected, the request must call overload_release once it has
 * answered. */
enum overload_admit overload_admit(struct overload *ov,
                                   struct overload_ticket *t,
                                   overload_run_cb run, void *arg);

/* The request holding t is done: free its slot and start the next in line. */
void overload_release(struct overload_ticket *t);

void overload_get_stats(const struct overload *ov, struct overload_stats *st);

/* How to tell that a queued request's client has gone (hung up while it
 * waited): asked when the request reaches the front of the line, so that
 * no work is spent on an answer nobody will read. gone(arg) returns 1 for
 * gone. Such a request's run is still called (so it can clean up), without
 * a slot and without the work, and overload_abandoned() says so. */
void overload_set_gone_check(struct overload *ov, int (*gone)(void *arg));

/* 1 if t's request was dropped from the queue because its client had gone. */
int overload_abandoned(const struct overload_ticket *t);

#endif
