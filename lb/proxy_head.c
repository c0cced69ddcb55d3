/* Rewriting message heads on their way through, the LB's own error answers,
 * and the access log. */
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "client.h"
#include "clock.h"
#include "worker.h"

#define STICKY_COOKIE "sb_srv"
#define LOG_LINE_MAX 512

/* Hop-by-hop by name or because any Connection line of the message lists
 * it (a message may carry several Connection lines). */
static int hop_by_hop(const struct http1_header *hs, size_t n,
                      const struct http1_header *h, int first_conn)
{
    if (first_conn < 0) return http1_is_hop_by_hop(h->name, h->name_len, NULL);
    for (size_t j = (size_t)first_conn; j < n; j++)
        if (http1_name_is(&hs[j], "connection") &&
            http1_is_hop_by_hop(h->name, h->name_len, &hs[j]))
            return 1;
    return 0;
}

static void add_header(struct evbuffer *b, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
    evbuffer_add(b, name, nlen);
    evbuffer_add(b, ": ", 2);
    evbuffer_add(b, value, vlen);
    evbuffer_add(b, "\r\n", 2);
}

/* Keep a client's X-Request-Id when it is sane, else make one that is
 * unique without a system call: a random per-process prefix, the worker and
 * a counter. */
static void set_request_id(struct client *c, const struct http1_request *r)
{
    if (r->known.request_id >= 0) {
        const struct http1_header *h = &r->headers[r->known.request_id];
        if (http1_valid_request_id(h->value, h->value_len)) {
            memcpy(c->request_id, h->value, h->value_len);
            c->request_id[h->value_len] = '\0';
            return;
        }
    }
    snprintf(c->request_id, sizeof(c->request_id), "%016" PRIx64 "-%d-%" PRIu64,
             lb.id_prefix, c->w->index, ++c->w->next_id);
}

int head_build_request(struct client *c, const struct http1_request *r,
                       const char *buf)
{
    struct evbuffer *b = c->fwd_head;
    size_t mlen = r->method_len < sizeof(c->method) ? r->method_len
                                                    : sizeof(c->method) - 1;
    size_t plen = r->target_len < sizeof(c->path) ? r->target_len
                                                  : sizeof(c->path) - 1;
    int xff = 0;

    (void)buf;
    memcpy(c->method, r->method, mlen);
    c->method[mlen] = '\0';
    memcpy(c->path, r->target, plen);
    c->path[plen] = '\0';
    set_request_id(c, r);

    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add(b, r->method, r->method_len);
    evbuffer_add(b, " ", 1);
    evbuffer_add(b, r->target, r->target_len);
    evbuffer_add(b, c->http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n", 11);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http1_header *h = &r->headers[i];
        if (hop_by_hop(r->headers, r->nheaders, h, r->known.connection)) {
            if (r->upgrade && http1_name_is(h, "upgrade"))
                add_header(b, h->name, h->name_len, h->value, h->value_len);
            continue;
        }
        /* Ours to set (below), and framing we state once in one form, so
         * the backend cannot read "5, 5" or two lines differently. */
        if (http1_name_is(h, "x-request-id") ||
            http1_name_is(h, "x-forwarded-for") ||
            http1_name_is(h, "x-forwarded-proto") ||
            http1_name_is(h, "content-length") ||
            http1_name_is(h, "transfer-encoding"))
            continue;
        add_header(b, h->name, h->name_len, h->value, h->value_len);
    }
    if (r->body == HTTP1_BODY_LENGTH)
        evbuffer_add_printf(b, "Content-Length: %" PRIu64 "\r\n",
                            r->content_length);
    else if (r->body == HTTP1_BODY_CHUNKED)
        evbuffer_add(b, "Transfer-Encoding: chunked\r\n", 28);
    /* Every X-Forwarded-For line, in order, then the client we saw. */
    evbuffer_add(b, "X-Forwarded-For: ", 17);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http1_header *h = &r->headers[i];
        if (!http1_name_is(h, "x-forwarded-for") || h->value_len == 0) continue;
        if (xff++) evbuffer_add(b, ", ", 2);
        evbuffer_add(b, h->value, h->value_len);
    }
    if (xff) evbuffer_add(b, ", ", 2);
    evbuffer_add_printf(b, "%s\r\n", c->peer_ip);
    evbuffer_add(b, "X-Forwarded-Proto: http\r\n", 25);
    evbuffer_add_printf(b, "X-Request-Id: %s\r\n", c->request_id);
    if (r->upgrade)
        evbuffer_add(b, "Connection: upgrade\r\n", 21);
    else if (c->http10)
        evbuffer_add(b, "Connection: close\r\n", 19);
    evbuffer_add(b, "\r\n", 2);
    return 0;
}

void head_build_response(struct client *c, const struct http1_response *r)
{
    struct evbuffer *b = c->io.out;
    struct backend_list *list;

    evbuffer_add_printf(b, "HTTP/1.1 %d ", r->status);
    evbuffer_add(b, r->reason, r->reason_len);
    evbuffer_add(b, "\r\n", 2);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http1_header *h = &r->headers[i];
        if (hop_by_hop(r->headers, r->nheaders, h, r->known.connection)) {
            if (r->upgrade && http1_name_is(h, "upgrade"))
                add_header(b, h->name, h->name_len, h->value, h->value_len);
            continue;
        }
        add_header(b, h->name, h->name_len, h->value, h->value_len);
    }
    if (r->upgrade)
        evbuffer_add(b, "Connection: upgrade\r\n", 21);
    else if (!c->keep_alive)
        evbuffer_add(b, "Connection: close\r\n", 19);
    list = lb_backends();
    if (lb.cfg.policy == POLICY_STICKY && !c->sticky_ok && c->be != NULL &&
        list != NULL)
        evbuffer_add_printf(b,
                            "Set-Cookie: " STICKY_COOKIE
                            "=%08x; Path=/; HttpOnly; SameSite=Lax\r\n",
                            c->be->name_hash);
    evbuffer_add(b, "\r\n", 2);
}

void head_error(struct client *c, int status, const char *msg, int close_after)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {{400, "Bad Request"},
                   {408, "Request Timeout"},
                   {413, "Payload Too Large"},
                   {414, "URI Too Long"},
                   {431, "Request Header Fields Too Large"},
                   {501, "Not Implemented"},
                   {502, "Bad Gateway"},
                   {503, "Service Unavailable"},
                   {504, "Gateway Timeout"},
                   {505, "HTTP Version Not Supported"}};
    const char *reason = "Error";
    char body[256];
    int blen;

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status) reason = reasons[i].reason;
    blen = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d}\n",
                    msg, status);
    if (close_after) c->keep_alive = 0;
    c->status = status;
    evbuffer_add_printf(c->io.out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\nX-Served-By: sb-lb\r\n",
                        status, reason, blen);
    if (c->request_id[0] != '\0')
        evbuffer_add_printf(c->io.out, "X-Request-Id: %s\r\n", c->request_id);
    if (status == 503) evbuffer_add(c->io.out, "Retry-After: 1\r\n", 16);
    if (!c->keep_alive) evbuffer_add(c->io.out, "Connection: close\r\n", 19);
    evbuffer_add(c->io.out, "\r\n", 2);
    if (!c->is_head) evbuffer_add(c->io.out, body, (size_t)blen);
    c->bytes_out += (uint64_t)blen;
}

int head_sticky_index(const struct http1_request *r, const char *buf,
                      struct backend_list *list)
{
    const size_t klen = sizeof(STICKY_COOKIE) - 1;

    (void)buf;
    if (list == NULL) return -1;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http1_header *h = &r->headers[i];
        const char *v = h->value, *end = h->value + h->value_len;
        if (!http1_name_is(h, "cookie")) continue;
        while (v < end) {
            while (v < end && (*v == ' ' || *v == ';')) v++;
            if ((size_t)(end - v) > klen && memcmp(v, STICKY_COOKIE, klen) == 0 &&
                v[klen] == '=') {
                uint32_t hash = 0;
                const char *p = v + klen + 1;
                int digits = 0;
                for (; p < end && *p != ';' && digits < 9; p++, digits++) {
                    int d = *p >= '0' && *p <= '9'   ? *p - '0'
                            : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                                                     : -1;
                    if (d < 0) break;
                    hash = hash << 4 | (uint32_t)d;
                }
                if (digits != 8) return -1;
                for (int j = 0; j < list->n; j++)
                    if (list->b[j]->name_hash == hash) return j;
                return -1;
            }
            while (v < end && *v != ';') v++;
        }
    }
    return -1;
}

/* The current second as text, formatted once per second per thread. */
static const char *log_time(void)
{
    static __thread time_t cached;
    static __thread char text[32];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    if (tv.tv_sec != cached) {
        cached = tv.tv_sec;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return text;
}

void head_log(struct client *c)
{
    char line[LOG_LINE_MAX];
    int64_t us;
    int n;

    if (lb.cfg.quiet) return;
    us = clock_mono_us() - c->started_us;
    n = snprintf(line, sizeof(line),
                 "%s %s %s %s %d %s %d %" PRId64 ".%03dms %" PRIu64 " %s",
                 log_time(), c->peer_ip, c->method[0] ? c->method : "-",
                 c->path[0] ? c->path : "-", c->status,
                 c->be ? c->be->name : "-", c->attempts, us / 1000,
                 (int)(us % 1000), c->bytes_out,
                 c->request_id[0] ? c->request_id : "-");
    if (n > 0) worker_log_line(c->w, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
