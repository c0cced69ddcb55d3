/* The fixture the balancer tests share: NB backends named 127.0.0.1:9001..,
 * all up, enabled and idle (name_hash set as lb/backends.c sets it), the
 * list the policies pick from, and one balancer. Each test file defines NB
 * and includes this once: it is its own executable, so the statics here
 * are its own. */
#ifndef SB_TESTS_BALANCE_FIXTURE_H
#define SB_TESTS_BALANCE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "balancer.h"

#ifndef NB
#error "define NB (the number of backends) before including balance_fixture.h"
#endif

static struct lb_backend be[NB];
static struct lb_backend *list[NB];
static struct balancer bal;

/* Fresh backends and a balancer with the given policy, for a cmocka setup. */
static inline int fixture_setup(enum balancer_policy policy)
{
    memset(be, 0, sizeof(be));
    for (int i = 0; i < NB; i++) {
        snprintf(be[i].name, sizeof(be[i].name), "127.0.0.1:%d", 9001 + i);
        be[i].name_hash = balancer_hash(be[i].name, strlen(be[i].name));
        atomic_init(&be[i].health, BACKEND_UP);
        atomic_init(&be[i].admin, ADMIN_ENABLED);
        atomic_init(&be[i].active, 0);
        list[i] = &be[i];
    }
    balancer_init(&bal, policy);
    return 0;
}

/* A pick over the first n of list: nothing tried, no client hash, no
 * cookie, no maxconn. Tests set the fields they are about. */
static inline struct lb_pick fixture_pick(int n)
{
    struct lb_pick p = {.backends = list, .n = n, .tried = 0,
                        .client_hash = 0, .sticky = -1, .maxconn = 0};
    return p;
}

#endif
