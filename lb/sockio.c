/* Non-blocking socket reads and writes into evbuffers. */
#include "sockio.h"

#include <errno.h>
#include <event2/buffer.h>
#include <sys/uio.h>
#include <unistd.h>

int sockio_init(struct sockio *s, struct event_base *base, evutil_socket_t fd,
                event_callback_fn on_read, event_callback_fn on_write,
                void *arg)
{
    s->fd = fd;
    s->in = evbuffer_new();
    s->out = evbuffer_new();
    if (s->in == NULL || s->out == NULL) {
        if (s->in) evbuffer_free(s->in);
        if (s->out) evbuffer_free(s->out);
        s->in = s->out = NULL;
        return -1;
    }
    event_assign(&s->rev, base, fd, EV_READ | EV_PERSIST, on_read, arg);
    s->wev = NULL;
    s->on_write = on_write;
    s->arg = arg;
    s->writing = 0;
    s->reading = 1;
    event_add(&s->rev, NULL);
    return 0;
}

void sockio_close(struct sockio *s)
{
    if (s->in == NULL) return;
    event_del(&s->rev);
    if (s->wev != NULL) event_free(s->wev);
    s->wev = NULL;
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    evbuffer_free(s->in);
    evbuffer_free(s->out);
    s->in = s->out = NULL;
    s->reading = s->writing = 0;
}

enum sockio_result sockio_read(struct sockio *s, size_t max)
{
    struct evbuffer_iovec vec[2];
    int nvec = evbuffer_reserve_space(s->in, (ev_ssize_t)max, vec, 2);
    struct iovec iov[2];
    ssize_t n;

    if (nvec <= 0) return SOCKIO_ERROR;
    for (int i = 0; i < nvec; i++) {
        iov[i].iov_base = vec[i].iov_base;
        iov[i].iov_len = vec[i].iov_len;
    }
    if (nvec == 2 && vec[0].iov_len >= max) nvec = 1;
    do {
        n = readv(s->fd, iov, nvec);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        evbuffer_commit_space(s->in, vec, 0);
        return errno == EAGAIN || errno == EWOULDBLOCK ? SOCKIO_AGAIN
                                                       : SOCKIO_ERROR;
    }
    if (n == 0) {
        evbuffer_commit_space(s->in, vec, 0);
        return SOCKIO_EOF;
    }
    /* Say how much of each reserved piece was filled. */
    for (int i = 0; i < nvec; i++) {
        size_t take = (size_t)n < vec[i].iov_len ? (size_t)n : vec[i].iov_len;
        vec[i].iov_len = take;
        n -= (ssize_t)take;
    }
    evbuffer_commit_space(s->in, vec, nvec);
    return SOCKIO_OK;
}

enum sockio_result sockio_flush(struct sockio *s)
{
    /* One writev: if the kernel takes less than all, its buffer is full and
     * a second try now would only cost an EAGAIN. */
    if (evbuffer_get_length(s->out) > 0) {
        int n;
        do {
            n = evbuffer_write(s->out, s->fd);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return SOCKIO_ERROR;
    }
    if (evbuffer_get_length(s->out) == 0) {
        if (s->writing) {
            event_del(s->wev);
            s->writing = 0;
        }
        return SOCKIO_OK;
    }
    return sockio_want_write(s) == 0 ? SOCKIO_AGAIN : SOCKIO_ERROR;
}

int sockio_want_write(struct sockio *s)
{
    if (s->writing) return 0;
    if (s->wev == NULL) {
        s->wev = event_new(event_get_base(&s->rev), s->fd,
                           EV_WRITE | EV_PERSIST, s->on_write, s->arg);
        if (s->wev == NULL) return -1;
    }
    event_add(s->wev, NULL);
    s->writing = 1;
    return 0;
}

void sockio_set_reading(struct sockio *s, int on)
{
    if (on && !s->reading) {
        event_add(&s->rev, NULL);
        s->reading = 1;
    } else if (!on && s->reading) {
        event_del(&s->rev);
        s->reading = 0;
    }
}
