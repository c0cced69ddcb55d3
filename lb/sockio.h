/* Moving bytes between a non-blocking socket and evbuffers with the fewest
 * system calls: one readv per read (no FIONREAD probe, as evbuffer_read
 * makes), and writes tried at once rather than on the next loop turn, so a
 * proxied request costs about one read and one write on each side. */
#ifndef SB_LB_SOCKIO_H
#define SB_LB_SOCKIO_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stddef.h>
#include <sys/types.h>

struct evbuffer;

#define SOCKIO_READ_CHUNK 16384 /* bytes asked for per read */

enum sockio_result {
    SOCKIO_OK = 0,     /* moved bytes (read) / everything written (flush) */
    SOCKIO_AGAIN = 1,  /* nothing now (read) / some left, EV_WRITE armed (flush) */
    SOCKIO_EOF = 2,    /* the peer closed (read only) */
    SOCKIO_ERROR = -1  /* errno says why */
};

struct sockio {
    evutil_socket_t fd;
    struct event rev;      /* persistent while reading */
    struct event *wev;     /* made on the first blocked write: most
                              connections never need one, and an idle
                              connection is cheaper without it */
    event_callback_fn on_write;
    void *arg;
    struct evbuffer *in, *out;
    unsigned reading : 1, writing : 1;
};

/* Take fd (already non-blocking) with fresh buffers; callbacks get arg.
 * Reading starts at once. Returns 0 or -1 (no memory). */
int sockio_init(struct sockio *s, struct event_base *base, evutil_socket_t fd,
                event_callback_fn on_read, event_callback_fn on_write,
                void *arg);

/* Close the socket and free the buffers. */
void sockio_close(struct sockio *s);

/* Read at most max bytes into s->in. */
enum sockio_result sockio_read(struct sockio *s, size_t max);

/* Write what s->out holds. Arms EV_WRITE while something is left; disarms
 * it when all is written. */
enum sockio_result sockio_flush(struct sockio *s);

/* Ask for on_write when the socket becomes writable (a connect's outcome).
 * Returns 0 or -1 (no memory). */
int sockio_want_write(struct sockio *s);

/* Pause or resume reading (backpressure); no system call when unchanged. */
void sockio_set_reading(struct sockio *s, int on);

#endif
