/* libFuzzer target for lb/http1.c: the request and response head parsers
 * and the chunked scanner, each over the whole input and split at a byte
 * chosen by the data. Besides memory errors (ASan, UBSan) it checks the
 * promises the proxy relies on:
 * - a prefix of the input never parses differently: a head that parses
 *   whole is INCOMPLETE in every shorter prefix and the same length in
 *   every longer one; an error stays the same error as bytes arrive;
 * - nothing is read past len (each parse gets its own exact-size copy);
 * - parsed fields are within the head, names are tokens, values carry no
 *   CR, LF, NUL or surrounding whitespace;
 * - the chunked scanner gives the same answer however the body is split.
 * See README.md in this folder for how to build and run it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

static const size_t max_heads[4] = {16, 64, 512, 8192};
static const size_t max_targets[4] = {4, 32, 256, 4096};

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

/* A token byte, written independently of the parser's table. */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The fields of a parsed head lie inside it and are clean. */
static void check_fields(const char *buf, ssize_t r,
                         const struct http1_header *h, size_t n)
{
    CHECK(n <= HTTP1_HEADERS_MAX);
    for (size_t i = 0; i < n; i++) {
        CHECK(h[i].name >= buf && h[i].name + h[i].name_len <= buf + r);
        CHECK(h[i].value >= buf && h[i].value + h[i].value_len <= buf + r);
        CHECK(h[i].name_len > 0);
        for (size_t j = 0; j < h[i].name_len; j++)
            CHECK(is_tchar((unsigned char)h[i].name[j]));
        for (size_t j = 0; j < h[i].value_len; j++) {
            unsigned char c = (unsigned char)h[i].value[j];
            CHECK(c != '\r' && c != '\n' && c != '\0' && c != 0x7f);
        }
        if (h[i].value_len > 0) {
            CHECK(h[i].value[0] != ' ' && h[i].value[0] != '\t');
            CHECK(h[i].value[h[i].value_len - 1] != ' ' &&
                  h[i].value[h[i].value_len - 1] != '\t');
        }
    }
}

/* What the proxy does with parsed fields: drop hop-by-hop ones, which may
 * never include framing or Host, and keep a valid X-Request-Id. */
static void check_forwarding(const struct http1_header *h, size_t n,
                             const struct http1_known *k)
{
    const struct http1_header *conn =
        k->connection >= 0 ? &h[k->connection] : NULL;

    for (size_t i = 0; i < n; i++) {
        int hop = http1_is_hop_by_hop(h[i].name, h[i].name_len, conn);

        CHECK(hop == 0 || hop == 1);
        if (http1_name_is(&h[i], "content-length") ||
            http1_name_is(&h[i], "transfer-encoding") ||
            http1_name_is(&h[i], "host"))
            CHECK(!hop);
        if (http1_name_is(&h[i], "connection"))
            CHECK(hop);
    }
    if (k->request_id >= 0) {
        const struct http1_header *id = &h[k->request_id];
        int ok = id->value_len > 0 && id->value_len <= 128;

        for (size_t j = 0; ok && j < id->value_len; j++)
            ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._:-",
                        id->value[j]) != NULL &&
                 id->value[j] != '\0';
        CHECK(http1_valid_request_id(id->value, id->value_len) == ok);
    }
}

/* Parse a request from an exact-size copy and check what it promises. */
static ssize_t request(const uint8_t *data, size_t len, size_t max_head,
                       size_t max_target, struct http1_request *req,
                       int *status)
{
    char *copy = malloc(len ? len : 1);
    ssize_t r;

    memcpy(copy, data, len);
    r = http1_parse_request(copy, len, max_head, max_target, req);
    *status = req->error_status;
    CHECK(r >= HTTP1_ERROR && r <= (ssize_t)len && r <= (ssize_t)max_head);
    if (r > 0) {
        check_fields(copy, r, req->headers, req->nheaders);
        check_forwarding(req->headers, req->nheaders, &req->known);
        CHECK(req->method_len > 0 && req->target_len > 0 &&
              req->target_len <= max_target);
        CHECK(req->method >= copy && req->target + req->target_len <= copy + r);
        CHECK(req->minor_version == 0 || req->minor_version == 1);
        CHECK(req->body != HTTP1_BODY_UNTIL_CLOSE);
        CHECK(req->body == HTTP1_BODY_LENGTH || req->content_length == 0);
        CHECK(req->content_length <= (UINT64_C(1) << 62));
        CHECK(req->minor_version == 0 || req->known.host >= 0);
        CHECK(req->body != HTTP1_BODY_CHUNKED || req->minor_version == 1);
        CHECK(memcmp(copy + r - 4, "\r\n\r\n", 4) == 0);
    } else if (r == HTTP1_ERROR) {
        CHECK(*status == 400 || *status == 414 || *status == 431 ||
              *status == 501 || *status == 505);
        CHECK(req->error != NULL);
    } else {
        CHECK(len < max_head);
    }
    free(copy);
    return r;
}

/* The same for a response. */
static ssize_t response(const uint8_t *data, size_t len, size_t max_head,
                        int is_head, struct http1_response *resp)
{
    char *copy = malloc(len ? len : 1);
    ssize_t r;

    memcpy(copy, data, len);
    r = http1_parse_response(copy, len, max_head, is_head, resp);
    CHECK(r >= HTTP1_ERROR && r <= (ssize_t)len && r <= (ssize_t)max_head);
    if (r > 0) {
        check_fields(copy, r, resp->headers, resp->nheaders);
        check_forwarding(resp->headers, resp->nheaders, &resp->known);
        CHECK(resp->status >= 100 && resp->status <= 599);
        CHECK(resp->reason >= copy &&
              resp->reason + resp->reason_len <= copy + r);
        CHECK(resp->body != HTTP1_BODY_UNTIL_CLOSE || !resp->keep_alive);
        CHECK(!resp->upgrade || resp->status == 101);
        CHECK(memcmp(copy + r - 4, "\r\n\r\n", 4) == 0);
    } else if (r == HTTP1_ERROR) {
        CHECK(resp->error_status == 502 && resp->error != NULL);
    }
    free(copy);
    return r;
}

/* The same verdict over a whole buffer and over any prefix of it. */
static void check_prefix(ssize_t whole, int whole_status, ssize_t part,
                         int part_status, size_t cut)
{
    if (whole > 0) {
        CHECK(cut < (size_t)whole ? part == HTTP1_INCOMPLETE : part == whole);
    } else if (whole == HTTP1_INCOMPLETE) {
        CHECK(part == HTTP1_INCOMPLETE);
    } else {
        CHECK(part == HTTP1_INCOMPLETE ||
              (part == HTTP1_ERROR && part_status == whole_status));
    }
}

/* Scan data[0..len) in two pieces split at cut; returns bytes consumed or
 * -1, and *done. */
static ssize_t scan_split(const uint8_t *data, size_t len, size_t cut,
                          int *done)
{
    struct http1_chunked c;
    char *a = malloc(cut ? cut : 1), *b = malloc(len - cut ? len - cut : 1);
    ssize_t r1, r2 = 0;

    memcpy(a, data, cut);
    memcpy(b, data + cut, len - cut);
    http1_chunked_init(&c);
    *done = 0;
    r1 = http1_chunked_scan(&c, a, cut, done);
    CHECK(r1 >= -1 && r1 <= (ssize_t)cut);
    if (r1 >= 0 && !*done) {
        CHECK(r1 == (ssize_t)cut);
        r2 = http1_chunked_scan(&c, b, len - cut, done);
        CHECK(r2 >= -1 && r2 <= (ssize_t)(len - cut));
        if (r2 >= 0 && !*done)
            CHECK(r2 == (ssize_t)(len - cut));
    }
    free(a);
    free(b);
    if (r1 < 0 || r2 < 0)
        return -1;
    return r1 + r2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct http1_request req;
    static struct http1_response resp;
    size_t cut, max_head, max_target;
    int is_head, s1, s2, done1, done2;
    ssize_t r1, r2;

    if (size < 2)
        return 0;
    max_head = max_heads[data[1] & 3];
    max_target = max_targets[(data[1] >> 2) & 3];
    is_head = (data[1] >> 4) & 1;
    data += 2;
    size -= 2;
    cut = size * data[-2] / 255; /* anywhere from 0 to all of it */

    r1 = request(data, size, max_head, max_target, &req, &s1);
    r2 = request(data, cut, max_head, max_target, &req, &s2);
    check_prefix(r1, s1, r2, s2, cut);

    r1 = response(data, size, max_head, is_head, &resp);
    r2 = response(data, cut, max_head, is_head, &resp);
    s1 = s2 = 502;
    check_prefix(r1, s1, r2, s2, cut);

    r1 = scan_split(data, size, size, &done1);
    r2 = scan_split(data, size, cut, &done2);
    CHECK(r1 == r2);
    CHECK(r1 < 0 || done1 == done2);
    CHECK(!done1 || r1 > 0);
    return 0;
}
