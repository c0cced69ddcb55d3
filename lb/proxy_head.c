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

/* A message head being written into the worker's scratch buffer, added to
 * its evbuffer in one piece at the end: one copy, no printf, no evbuffer
 * call per header (these were a third of a proxied request's instructions
 * under callgrind). */
struct headbuf {
    char *p, *end;
    int overflow;
};

static void hb_put(struct headbuf *hb, const void *data, size_t len)
{
    if ((size_t)(hb->end - hb->p) < len) {
        hb->overflow = 1;
        return;
    }
    memcpy(hb->p, data, len);
    hb->p += len;
}

#define hb_lit(hb, lit) hb_put((hb), (lit), sizeof(lit) - 1)

static void hb_u64(struct headbuf *hb, uint64_t v)
{
    char tmp[20], *q = tmp + sizeof(tmp);

    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    hb_put(hb, q, (size_t)(tmp + sizeof(tmp) - q));
}

static void hb_header(struct headbuf *hb, const struct http1_header *h)
{
    hb_put(hb, h->name, h->name_len);
    hb_lit(hb, ": ");
    hb_put(hb, h->value, h->value_len);
    hb_lit(hb, "\r\n");
}

/* Keep a client's X-Request-Id when it is sane, else make one that is
 * unique without a system call: a random per-process prefix, the worker and
 * a counter. */
static void set_request_id(struct client *c, const struct http1_request *r)
{
    static const char hex[] = "0123456789abcdef";
    struct headbuf hb = {c->x->request_id, c->x->request_id + sizeof(c->x->request_id) - 1, 0};
    char prefix[16];

    if (r->known.request_id >= 0) {
        const struct http1_header *h = &r->headers[r->known.request_id];
        if (http1_valid_request_id(h->value, h->value_len)) {
            memcpy(c->x->request_id, h->value, h->value_len);
            c->x->request_id[h->value_len] = '\0';
            return;
        }
    }
    for (int i = 0; i < 16; i++)
        prefix[i] = hex[(lb.id_prefix >> (60 - 4 * i)) & 15];
    hb_put(&hb, prefix, 16);
    hb_lit(&hb, "-");
    hb_u64(&hb, (uint64_t)c->w->index);
    hb_lit(&hb, "-");
    hb_u64(&hb, ++c->w->next_id);
    *hb.p = '\0';
}

int head_build_request(struct client *c, const struct http1_request *r,
                       const char *buf)
{
    struct headbuf hb = {c->w->head_scratch,
                         c->w->head_scratch + sizeof(c->w->head_scratch), 0};
    size_t mlen = r->method_len < sizeof(c->x->method) ? r->method_len
                                                    : sizeof(c->x->method) - 1;
    size_t plen = r->target_len < sizeof(c->x->path) ? r->target_len
                                                  : sizeof(c->x->path) - 1;
    int xff = 0;

    (void)buf;
    memcpy(c->x->method, r->method, mlen);
    c->x->method[mlen] = '\0';
    memcpy(c->x->path, r->target, plen);
    c->x->path[plen] = '\0';
    set_request_id(c, r);

    hb_put(&hb, r->method, r->method_len);
    hb_lit(&hb, " ");
    hb_put(&hb, r->target, r->target_len);
    if (c->http10)
        hb_lit(&hb, " HTTP/1.0\r\n");
    else
        hb_lit(&hb, " HTTP/1.1\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http1_header *h = &r->headers[i];
        if (hop_by_hop(r->headers, r->nheaders, h, r->known.connection)) {
            if (r->upgrade && http1_name_is(h, "upgrade")) hb_header(&hb, h);
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
        hb_header(&hb, h);
    }
    if (r->body == HTTP1_BODY_LENGTH) {
        hb_lit(&hb, "Content-Length: ");
        hb_u64(&hb, r->content_length);
        hb_lit(&hb, "\r\n");
    } else if (r->body == HTTP1_BODY_CHUNKED) {
        hb_lit(&hb, "Transfer-Encoding: chunked\r\n");
    }
    /* Every X-Forwarded-For line, in order, then the client we saw. */
    hb_lit(&hb, "X-Forwarded-For: ");
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http1_header *h = &r->headers[i];
        if (!http1_name_is(h, "x-forwarded-for") || h->value_len == 0) continue;
        if (xff++) hb_lit(&hb, ", ");
        hb_put(&hb, h->value, h->value_len);
    }
    if (xff) hb_lit(&hb, ", ");
    hb_put(&hb, c->peer_ip, strlen(c->peer_ip));
    hb_lit(&hb, "\r\nX-Forwarded-Proto: http\r\nX-Request-Id: ");
    hb_put(&hb, c->x->request_id, strlen(c->x->request_id));
    hb_lit(&hb, "\r\n");
    if (r->upgrade)
        hb_lit(&hb, "Connection: upgrade\r\n");
    else if (c->http10)
        hb_lit(&hb, "Connection: close\r\n");
    hb_lit(&hb, "\r\n");
    if (hb.overflow) return -1;
    evbuffer_drain(c->x->head, evbuffer_get_length(c->x->head));
    evbuffer_add(c->x->head, c->w->head_scratch,
                 (size_t)(hb.p - c->w->head_scratch));
    return 0;
}

int head_build_response(struct client *c, const struct http1_response *r)
{
    struct headbuf hb = {c->w->head_scratch,
                         c->w->head_scratch + sizeof(c->w->head_scratch), 0};
    char status[3] = {(char)('0' + r->status / 100 % 10),
                      (char)('0' + r->status / 10 % 10),
                      (char)('0' + r->status % 10)};

    hb_lit(&hb, "HTTP/1.1 ");
    hb_put(&hb, status, 3);
    hb_lit(&hb, " ");
    hb_put(&hb, r->reason, r->reason_len);
    hb_lit(&hb, "\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http1_header *h = &r->headers[i];
        if (hop_by_hop(r->headers, r->nheaders, h, r->known.connection)) {
            if (r->upgrade && http1_name_is(h, "upgrade")) hb_header(&hb, h);
            continue;
        }
        hb_header(&hb, h);
    }
    if (r->known.request_id < 0 && c->x != NULL) {
        /* The id the backend saw, so a client can quote it in a report. */
        hb_lit(&hb, "X-Request-Id: ");
        hb_put(&hb, c->x->request_id, strlen(c->x->request_id));
        hb_lit(&hb, "\r\n");
    }
    if (r->upgrade)
        hb_lit(&hb, "Connection: upgrade\r\n");
    else if (!c->keep_alive)
        hb_lit(&hb, "Connection: close\r\n");
    if (lb.cfg.policy == POLICY_STICKY && !c->sticky_ok && c->be != NULL) {
        static const char hex[] = "0123456789abcdef";
        char v[8];
        for (int i = 0; i < 8; i++) v[i] = hex[(c->be->name_hash >> (28 - 4 * i)) & 15];
        hb_lit(&hb, "Set-Cookie: " STICKY_COOKIE "=");
        hb_put(&hb, v, 8);
        hb_lit(&hb, "; Path=/; HttpOnly; SameSite=Lax\r\n");
    }
    hb_lit(&hb, "\r\n");
    /* The backend's head fitted in LB_HEAD_MAX and ours adds less than
     * LB_HEAD_EXTRA; should it ever not fit, nothing half-written goes out. */
    if (hb.overflow) return -1;
    evbuffer_add(c->io.out, c->w->head_scratch,
                 (size_t)(hb.p - c->w->head_scratch));
    return 0;
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
    if (c->x != NULL && c->x->request_id[0] != '\0')
        evbuffer_add_printf(c->io.out, "X-Request-Id: %s\r\n", c->x->request_id);
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
                 log_time(), c->peer_ip,
                 c->x && c->x->method[0] ? c->x->method : "-",
                 c->x && c->x->path[0] ? c->x->path : "-", c->status,
                 c->be ? c->be->name : "-", c->attempts, us / 1000,
                 (int)(us % 1000), c->bytes_out,
                 c->x && c->x->request_id[0] ? c->x->request_id : "-");
    if (n > 0) worker_log_line(c->w, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
