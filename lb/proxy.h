/* One client connection and the HTTP exchanges on it: read a request head,
 * pick a backend, forward the request, stream the response back, repeat.
 *
 * The states of an exchange have names (enum req_state, enum resp_state)
 * and every failure of an attempt is classified (retry.h), so whether it is
 * retried on another backend is decided in one place. */
#ifndef SB_LB_PROXY_H
#define SB_LB_PROXY_H

#include <event2/util.h>
#include <sys/socket.h>

struct worker;
struct client;

/* A new client connection accepted by w. Takes fd. */
void proxy_accept(struct worker *w, evutil_socket_t fd,
                  const struct sockaddr *peer, socklen_t peerlen);

/* Queued clients try again, in order (a slot freed here, or on another
 * worker: the tick calls it too). */
void proxy_retry_queue(struct worker *w);

/* Close every client connection that is idle between requests (drain). */
void proxy_close_idle(struct worker *w);

/* Free recycled objects at exit. */
void proxy_free_cache(struct worker *w);

#endif
