/*
 * responder — a minimal HTTP/1.1 keep-alive server for bench/lb-vs-haproxy.
 *
 * It stands in for the backends so that a benchmark measures the proxy in
 * front of it, not the application: one thread, plain epoll (level
 * triggered, one epoll_ctl per connection, none per request), answers every
 * request with the same small 200 response (a 40-byte JSON body with a
 * Content-Length), pipelined requests in order, in one write per batch.
 *
 *   responder PORT [ID]      listen on 127.0.0.1:PORT
 *
 * Paths it answers itself, and does not count:
 *   GET /__health            200 (the proxies' active health checks)
 *   GET /__count             200 {"count":N}: requests counted so far
 * Every other request is counted: that count is how the benchmark knows how
 * many requests the proxy really delivered.
 *
 * Request bodies are read and dropped when framed by Content-Length (chunked
 * request bodies are not supported: the benchmark sends none). HTTP/1.0
 * without keep-alive, and "Connection: close", close after the answer.
 * SIGTERM/SIGINT: print the count on stdout and exit.
 *
 * Build: cc -O2 -o responder bench/responder.c   (no library needed)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MAX (64 * 1024) /* a request head larger than this closes */

struct conn {
    int fd;
    int closing;          /* close once out is written */
    long skip;            /* request body bytes still to drop */
    size_t in_len, in_cap;
    char *in;
    size_t out_len, out_off, out_cap;
    char *out;
    int want_out;         /* EPOLLOUT registered */
};

static char body[48];
static char resp[256];
static size_t resp_len;
static unsigned long long counted;
static volatile sig_atomic_t stop;
static int ep;

static void on_signal(int sig) { (void)sig; stop = 1; }

static void conn_free(struct conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c->in);
    free(c->out);
    free(c);
}

static int out_append(struct conn *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n) cap *= 2;
        char *q = realloc(c->out, cap);
        if (!q) return -1;
        c->out = q;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* case-insensitive search of NAME: at a line start within [h, end) */
static const char *header(const char *h, const char *end, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(h, '\n', (size_t)(end - h)); /* skip request line */
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

static int contains_ci(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++)
        if (strncasecmp(v + i, tok, tl) == 0) return 1;
    return 0;
}

/* answer every complete request in c->in; -1: close now */
static int handle_requests(struct conn *c)
{
    size_t off = 0;
    for (;;) {
        if (c->skip) {
            size_t n = c->in_len - off;
            if ((long)n > c->skip) n = (size_t)c->skip;
            off += n;
            c->skip -= (long)n;
            if (c->skip) break;
        }
        if (c->closing) { off = c->in_len; break; }
        const char *h = c->in + off;
        size_t avail = c->in_len - off;
        const char *e = avail >= 4 ? memmem(h, avail, "\r\n\r\n", 4) : NULL;
        if (!e) {
            if (avail > IN_MAX) return -1;
            break;
        }
        const char *end = e + 4;
        const char *eol = memchr(h, '\n', (size_t)(end - h));
        size_t vlen;
        const char *v;

        int http10 = eol && eol - h >= 9 && memcmp(eol - 9, "HTTP/1.0", 8) == 0;
        int keep = !http10;
        if ((v = header(h, end, "connection", &vlen))) {
            if (contains_ci(v, vlen, "close")) keep = 0;
            else if (contains_ci(v, vlen, "keep-alive")) keep = 1;
        }
        if ((v = header(h, end, "content-length", &vlen))) c->skip = strtol(v, NULL, 10);
        if (c->skip < 0) return -1;

        if (avail >= 14 && memcmp(h, "GET /__count ", 12) == 0) {
            char b[64], r[160];
            int bl = snprintf(b, sizeof b, "{\"count\":%llu}\n", counted);
            int rl = snprintf(r, sizeof r,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: %d\r\n%s\r\n%s",
                              bl, keep ? "" : "Connection: close\r\n", b);
            if (out_append(c, r, (size_t)rl)) return -1;
        } else {
            if (!(avail >= 14 && memcmp(h, "GET /__health", 13) == 0) &&
                !(avail >= 15 && memcmp(h, "HEAD /__health", 14) == 0) &&
                !(avail >= 16 && memcmp(h, "OPTIONS /__health", 17) == 0))
                counted++;
            if (keep) {
                if (out_append(c, resp, resp_len)) return -1;
            } else {
                /* same answer, announcing the close */
                static const char hd[] = "HTTP/1.1 200 OK\r\n";
                if (out_append(c, hd, sizeof hd - 1) ||
                    out_append(c, "Connection: close\r\n", 19) ||
                    out_append(c, resp + sizeof hd - 1, resp_len - (sizeof hd - 1)))
                    return -1;
            }
        }
        if (!keep) c->closing = 1;
        off = (size_t)(end - c->in);
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return 0;
}

/* write what is pending; -1: close now */
static int flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) { c->out_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        return -1;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->closing) return -1;
    }
    int want = c->out_len > 0;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) return -1;
        c->want_out = want;
    }
    return 0;
}

static int on_readable(struct conn *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
            if (cap > 4 * IN_MAX) return -1;
            char *q = realloc(c->in, cap);
            if (!q) return -1;
            c->in = q;
            c->in_cap = cap;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return -1;
        }
        c->in_len += (size_t)n;
        if ((size_t)n < c->in_cap - (c->in_len - (size_t)n)) break; /* drained */
    }
    if (handle_requests(c)) return -1;
    return flush_out(c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: responder PORT [ID]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int id = argc > 2 ? atoi(argv[2]) : 1;

    /* a fixed 40-byte JSON body: {"backend":N,"ok":true,"pad":"xxxxxxxx"} */
    snprintf(body, sizeof body, "{\"backend\":%d,\"ok\":true,\"pad\":\"xxxxxxxx\"}", (unsigned)id % 10u);
    resp_len = (size_t)snprintf(resp, sizeof resp,
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: %zu\r\n\r\n%s",
                                strlen(body), body);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0) {
        perror("responder: bind/listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    fprintf(stderr, "responder %d: listening on 127.0.0.1:%d\n", id, port);

    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 500);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("responder: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) { /* accept all that wait */
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    if (!c) { close(fd); continue; }
                    c->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { conn_free(c); continue; }
                }
                continue;
            }
            int bad = 0;
            if (evs[i].events & EPOLLOUT) bad = flush_out(c);
            if (!bad && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) bad = on_readable(c);
            if (bad) conn_free(c);
        }
    }
    printf("responder %d: count %llu\n", id, counted);
    return 0;
}
