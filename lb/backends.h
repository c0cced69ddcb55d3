/* Building and replacing the backend list: from --backend flags, from a DNS
 * name that is re-resolved (--backends-dns), on SIGHUP. Runs on the main
 * thread; workers only ever load the current list. */
#ifndef SB_LB_BACKENDS_H
#define SB_LB_BACKENDS_H

#include <sys/socket.h>

#include "lb.h"

struct event_base;

/* Install a list made of the given addresses ("HOST:PORT", numeric or a
 * name resolved now). A backend whose address was in the old list is kept,
 * with its state and pools; new ones start up. Returns 0, or -1 with a
 * reason in err (the old list stays). */
int backends_set_from_names(const char *const *names, int n, char *err,
                            size_t errlen);

/* Install the list named in a file: one HOST:PORT per line, '#' starts a
 * comment. Returns 0, or -1 with a reason in err (the old list stays). */
int backends_set_from_file(const char *path, char *err, size_t errlen);

/* Add one backend to the current list, or remove one (the admin API).
 * Returns 0, or -1 with a reason in err. */
int backends_add(const char *hostport, char *err, size_t errlen);
int backends_remove(const char *name, char *err, size_t errlen);

/* Install a list from resolved socket addresses (the DNS path). */
int backends_set_from_addrs(const struct sockaddr_storage *addrs, int n);

/* Start re-resolving lb.cfg.backends_dns every interval_ms on base, with
 * evdns (no thread blocks on a slow resolver). A name that does not resolve
 * yet leaves the list empty: the LB answers 503 until it does. */
int backends_dns_start(struct event_base *base, long interval_ms, char *err,
                       size_t errlen);

/* Resolve again now (SIGHUP). */
void backends_dns_refresh(void);

void backends_dns_stop(void);

/* Every backend ever made in this run, in or out of the current list (an
 * idle pool may still hold connections to one that was removed). */
struct lb_backend *const *backends_known(int *n);

/* Free every list and backend ever made (at exit, workers stopped). */
void backends_free_all(void);

#endif
