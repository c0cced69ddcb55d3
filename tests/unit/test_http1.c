/* The proxy's HTTP/1.1 head parser and chunked scanner: valid heads parse
 * to the right fields and framing, and every way two implementations could
 * frame a message differently is refused with the status we answer.
 * Build with -DHTTP1_BENCH for a parse-speed loop instead of the tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"

#define MAX_HEAD   8192
#define MAX_TARGET 2048

static struct http1_request req;
static struct http1_response resp;

/* Parse a request head of n bytes into req, with the test limits. */
static ssize_t parse_req_n(const char *s, size_t n)
{
    memset(&req, 0xa5, sizeof(req)); /* no field may rely on a clean struct */
    return http1_parse_request(s, n, MAX_HEAD, MAX_TARGET, &req);
}

/* The same for a C string. */
static ssize_t parse_req(const char *s)
{
    return parse_req_n(s, strlen(s));
}

/* Parse a response head of n bytes into resp. */
static ssize_t parse_resp_n(const char *s, size_t n, int request_is_head)
{
    memset(&resp, 0xa5, sizeof(resp));
    return http1_parse_response(s, n, MAX_HEAD, request_is_head, &resp);
}

/* The same for a C string, answering a request that was not HEAD. */
static ssize_t parse_resp(const char *s)
{
    return parse_resp_n(s, strlen(s), 0);
}

/* A whole head parses to exactly its own length. */
#define ACCEPT(s) assert_int_equal(parse_req(s), (ssize_t)strlen(s))

/* A head is refused with this status. */
#define REJECT(s, status)                                                      \
    do {                                                                       \
        assert_int_equal(parse_req(s), HTTP1_ERROR);                           \
        assert_int_equal(req.error_status, (status));                          \
        assert_non_null(req.error);                                            \
    } while (0)

#define REJECT_N(s, n, status)                                                 \
    do {                                                                       \
        assert_int_equal(parse_req_n(s, n), HTTP1_ERROR);                      \
        assert_int_equal(req.error_status, (status));                          \
    } while (0)

#define RESP_REJECT(s)                                                         \
    do {                                                                       \
        assert_int_equal(parse_resp(s), HTTP1_ERROR);                          \
        assert_int_equal(resp.error_status, 502);                              \
        assert_non_null(resp.error);                                           \
    } while (0)

/* A request head around one extra field line (with its CRLF). */
static const char *with_field(const char *field)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf), "POST /x HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n",
             field);
    return buf;
}

/* 1 if the field's (trimmed) value is exactly v. */
static int value_is(const struct http1_header *h, const char *v)
{
    return h->value_len == strlen(v) && memcmp(h->value, v, h->value_len) == 0;
}

/* The smallest good GET: every result field, and -1 for absent fields. */
static void test_get_minimal(void **state)
{
    const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";

    (void)state;
    ACCEPT(s);
    assert_int_equal(req.method_len, 3);
    assert_memory_equal(req.method, "GET", 3);
    assert_int_equal(req.target_len, strlen("/index.html?q=1"));
    assert_memory_equal(req.target, "/index.html?q=1", req.target_len);
    assert_int_equal(req.minor_version, 1);
    assert_int_equal(req.nheaders, 1);
    assert_true(http1_name_is(&req.headers[0], "host"));
    assert_true(value_is(&req.headers[0], "example.com"));
    assert_int_equal(req.body, HTTP1_BODY_NONE);
    assert_int_equal(req.keep_alive, 1);
    assert_int_equal(req.idempotent, 1);
    assert_int_equal(req.is_head, 0);
    assert_int_equal(req.upgrade, 0);
    assert_int_equal(req.expect_continue, 0);
    assert_int_equal(req.known.host, 0);
    assert_int_equal(req.known.connection, -1);
    assert_int_equal(req.known.cookie, -1);
    assert_int_equal(req.error_status, 0);
}

/* Content-Length framing; the body is not part of the head. */
static void test_post_content_length(void **state)
{
    const char *head =
        "POST /posts HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    char buf[256];

    (void)state;
    snprintf(buf, sizeof(buf), "%shello", head);
    assert_int_equal(parse_req(buf),
                     (ssize_t)strlen(head)); /* body not in the head */
    assert_int_equal(req.body, HTTP1_BODY_LENGTH);
    assert_int_equal(req.content_length, 5);
    assert_int_equal(req.idempotent, 0);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(req.body, HTTP1_BODY_LENGTH);
    assert_int_equal(req.content_length, 0);
    /* identical repeats are one length (RFC 9112 6.3) */
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: "
           "7\r\n\r\n");
    assert_int_equal(req.content_length, 7);
    ACCEPT(with_field("Content-Length: 7 , 7"));
    assert_int_equal(req.content_length, 7);
    ACCEPT(with_field("Content-Length: 4611686018427387904")); /* 2^62 */
    assert_int_equal(req.content_length, UINT64_C(1) << 62);
}

/* "chunked" alone, in any case and with OWS, is chunked framing. */
static void test_post_chunked(void **state)
{
    (void)state;
    ACCEPT(
        "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_int_equal(req.body, HTTP1_BODY_CHUNKED);
    ACCEPT(with_field("transfer-encoding:  ChUnKeD \t"));
    assert_int_equal(req.body, HTTP1_BODY_CHUNKED);
}

/* Values lose their OWS at both ends and keep it inside; obs-text is
 * allowed. */
static void test_ows_trimmed(void **state)
{
    (void)state;
    ACCEPT("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t spaced  value \t "
           "\r\nX-B:\r\nX-C:   \r\n"
           "X-D: \x80\xff obs\r\n\r\n");
    assert_int_equal(req.nheaders, 5);
    assert_true(value_is(&req.headers[0], "a"));
    assert_true(value_is(&req.headers[1], "spaced  value"));
    assert_int_equal(req.headers[2].value_len, 0);
    assert_int_equal(req.headers[3].value_len, 0);
    assert_true(value_is(&req.headers[4], "\x80\xff obs"));
    assert_int_equal(req.headers[1].name_len, 3);
    assert_memory_equal(req.headers[1].name, "X-A", 3);
}

/* Each field the proxy acts on is found, case-insensitively, first one
 * wins. */
static void test_known_indexes(void **state)
{
    (void)state;
    ACCEPT(
        "GET / HTTP/1.1\r\nAccept: */*\r\nCOOKIE: sid=1\r\nhost: a\r\n"
        "X-Request-Id: r1\r\nIdempotency-Key: k\r\nx-forwarded-for: 1.2.3.4\r\n"
        "Connection: upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n"
        "Cookie: b=2\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n");
    assert_int_equal(req.known.cookie, 1); /* the first of two */
    assert_int_equal(req.known.host, 2);
    assert_int_equal(req.known.request_id, 3);
    assert_int_equal(req.known.idempotency_key, 4);
    assert_int_equal(req.known.x_forwarded_for, 5);
    assert_int_equal(req.known.connection, 6);
    assert_int_equal(req.known.upgrade, 7);
    assert_int_equal(req.known.expect, 8);
    assert_int_equal(req.nheaders, 11);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(req.known.request_id, -1);
    assert_int_equal(req.known.idempotency_key, -1);
    assert_int_equal(req.known.x_forwarded_for, -1);
    assert_int_equal(req.known.upgrade, -1);
    assert_int_equal(req.known.expect, -1);
}

/* Persistence by version and Connection tokens (RFC 9112 9.3). */
static void test_keep_alive(void **state)
{
    (void)state;
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(req.keep_alive, 1);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_int_equal(req.keep_alive, 0);
    ACCEPT(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive , CLOSE\r\n\r\n");
    assert_int_equal(req.keep_alive, 0);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-close, closed\r\n\r\n");
    assert_int_equal(req.keep_alive, 1); /* tokens, not substrings */
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: "
           "close\r\n\r\n");
    assert_int_equal(req.keep_alive, 0); /* every Connection line counts */
    ACCEPT("GET / HTTP/1.0\r\n\r\n");    /* no Host needed in 1.0 */
    assert_int_equal(req.minor_version, 0);
    assert_int_equal(req.keep_alive, 0);
    ACCEPT("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(req.keep_alive, 1);
    ACCEPT("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    assert_int_equal(req.keep_alive, 0);
}

/* upgrade needs the token and the field; 1.0 ignores both features. */
static void test_upgrade_and_expect(void **state)
{
    (void)state;
    ACCEPT("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
           "Upgrade: websocket\r\n\r\n");
    assert_int_equal(req.upgrade, 1);
    ACCEPT("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n");
    assert_int_equal(req.upgrade, 0); /* no Upgrade field */
    ACCEPT("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    assert_int_equal(req.upgrade, 0); /* not in Connection */
    ACCEPT("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: "
           "websocket\r\n\r\n");
    assert_int_equal(req.upgrade, 0); /* RFC 9110 7.8: ignored in 1.0 */
    ACCEPT("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: "
           "100-Continue\r\nContent-Length: 3\r\n\r\n");
    assert_int_equal(req.expect_continue, 1);
    ACCEPT("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continuez\r\n\r\n");
    assert_int_equal(req.expect_continue, 0);
    ACCEPT("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(req.expect_continue, 0);
}

/* Methods are case-sensitive tokens; the target's form must fit. */
static void test_methods_and_targets(void **state)
{
    (void)state;
    ACCEPT("get / HTTP/1.1\r\nHost: a\r\n\r\n"); /* a token, but not GET */
    assert_int_equal(req.method_len, 3);
    assert_int_equal(req.idempotent, 0);
    ACCEPT("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(req.is_head, 1);
    assert_int_equal(req.idempotent, 1);
    ACCEPT("DELETE /p/1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(req.idempotent, 1);
    ACCEPT("PATCH /p/1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(req.idempotent, 0);
    ACCEPT("X-CUSTOM! / HTTP/1.1\r\nHost: a\r\n\r\n");
    ACCEPT("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(req.idempotent, 1);
    REJECT("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ACCEPT("GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_int_equal(req.target_len, strlen("http://example.com/x?y"));
    ACCEPT("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    REJECT("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET a.com/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ACCEPT("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n");
    REJECT("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_string_equal(req.error, "empty request-target");
    REJECT("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
           501);
    REJECT_N("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 29, 400);
}

/* A well-formed other version is 505, anything else 400. */
static void test_versions(void **state)
{
    (void)state;
    REJECT("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/x\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/11\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /\r\nHost: a\r\n\r\n", 400);
}

/* Every framing two implementations could read differently is 400. */
static void test_smuggling_framing(void **state)
{
    (void)state;
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
           "5\r\nTransfer-Encoding: chunked\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
           "chunked\r\nContent-Length: 5\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: "
           "6\r\n\r\n",
           400);
    REJECT(with_field("Content-Length: 5, 6"), 400);
    REJECT(with_field("Content-Length: 5,"), 400);
    REJECT(with_field("Content-Length: ,5"), 400);
    REJECT(with_field("Content-Length: +5"), 400);
    REJECT(with_field("Content-Length: -1"), 400);
    REJECT(with_field("Content-Length: 5 5"), 400);
    REJECT(with_field("Content-Length: 0x5"), 400);
    REJECT(with_field("Content-Length: 5.0"), 400);
    REJECT(with_field("Content-Length:"), 400);
    /* 2^62 + 1, then 2^64 + 5, which wraps to 5 */
    REJECT(with_field("Content-Length: 4611686018427387905"), 400);
    REJECT(with_field("Content-Length: 18446744073709551621"), 400);
    REJECT(with_field("Content-Length: 99999999999999999999999999999999999999"),
           400);
    REJECT(with_field("Transfer-Encoding: gzip"), 400);
    REJECT(with_field("Transfer-Encoding: chunked, chunked"), 400);
    REJECT(
        with_field("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
        400);
    REJECT(with_field("Transfer-Encoding: gzip, chunked"), 400);
    REJECT(with_field("Transfer-Encoding: chunked;x=1"), 400);
    REJECT(with_field("Transfer-Encoding: chunked,"), 400);
    REJECT(with_field("Transfer-Encoding: xchunked"), 400);
    REJECT(with_field("Transfer-Encoding:"), 400);
    REJECT(with_field("Transfer-Encoding: \"chunked\""), 400);
    assert_int_equal(parse_req(with_field("Transfer-Encoding: identity")),
                     HTTP1_ERROR);
    assert_string_equal(req.error, "unsupported transfer coding");
    REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    REJECT("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: "
           "chunked\r\nContent-Length: 3\r\n\r\n",
           400);
}

/* Syntax that some parsers repair and others do not is 400. */
static void test_smuggling_syntax(void **state)
{
    (void)state;
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400);
    assert_string_equal(req.error, "obs-fold");
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400); /* space before colon */
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nNo-Colon\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX[1]: b\r\n\r\n", 400);
    REJECT_N("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 38, 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400); /* bare CR */
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400);
    REJECT("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\nHost: a\r\n\r\n", 400); /* bare LF */
    REJECT("GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    REJECT("GET / HTTP/1.1\nHost: a\n\n", 400);
    assert_string_equal(req.error, "bare LF");
    /* known before the head could end */
    REJECT("GET / HTTP/1.1\nHost: a\n", 400);
    REJECT("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400);
    ACCEPT("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    ACCEPT(
        "GET / HTTP/1.1\r\nHost:\r\n\r\n"); /* empty is valid (RFC 9110 7.2) */
}

/* HTTP1_HEADERS_MAX, max_head and max_target: at the limit and one past. */
static void test_limits(void **state)
{
    char buf[16384], target[MAX_TARGET + 2];
    size_t n = 0;

    (void)state;
    /* HTTP1_HEADERS_MAX fields parse, one more is 431 */
    n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < HTTP1_HEADERS_MAX; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    snprintf(buf + n, sizeof(buf) - n, "\r\n");
    ACCEPT(buf);
    assert_int_equal(req.nheaders, HTTP1_HEADERS_MAX);
    snprintf(buf + n, sizeof(buf) - n, "X-Last: v\r\n\r\n");
    REJECT(buf, 431);

    /* a complete head one byte over max_head is 431; at max_head it parses */
    n = (size_t)snprintf(buf, sizeof(buf),
                         "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    memset(buf + n, 'p', MAX_HEAD - n - 4);
    memcpy(buf + MAX_HEAD - 4, "\r\n\r\n", 5);
    ACCEPT(buf);
    buf[MAX_HEAD + 1] = '\0';
    memcpy(buf + MAX_HEAD - 4, "p\r\n\r\n", 6);
    REJECT(buf, 431);
    /* incomplete: INCOMPLETE below max_head, 431 once it is reached */
    assert_int_equal(parse_req_n(buf, MAX_HEAD - 1), HTTP1_INCOMPLETE);
    REJECT_N(buf, MAX_HEAD, 431);

    /* the target: max_target parses, one more is 414, even before the head ends
     */
    target[0] = '/';
    memset(target + 1, 't', MAX_TARGET - 1);
    target[MAX_TARGET] = '\0';
    snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", target);
    ACCEPT(buf);
    assert_int_equal(req.target_len, MAX_TARGET);
    strcpy(target + MAX_TARGET, "t");
    snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", target);
    REJECT(buf, 414);
    REJECT_N(buf, 4 + MAX_TARGET + 1, 414); /* only the target so far */
    assert_int_equal(parse_req_n(buf, 4 + MAX_TARGET), HTTP1_INCOMPLETE);
    REJECT_N(buf, strlen(buf) - 4, 414); /* request line, no end yet */
}

/* A head arriving one byte at a time is INCOMPLETE until its last byte. */
static void test_incremental(void **state)
{
    const char *s =
        "\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\n"
        "Content-Length: 12\r\nCookie: a=b; c=d\r\nX-Tab:\tv\t\r\n\r\n";
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: "
                    "keep-alive\r\n\r\n";
    size_t n = strlen(s);

    (void)state;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(parse_req_n(s, i), HTTP1_INCOMPLETE);
    assert_int_equal(parse_req_n(s, n),
                     (ssize_t)n); /* the leading CRLF counts */
    assert_int_equal(req.content_length, 12);
    assert_memory_equal(req.method, "POST", 4);
    for (size_t i = 0; i < strlen(r); i++)
        assert_int_equal(parse_resp_n(r, i, 0), HTTP1_INCOMPLETE);
    assert_int_equal(parse_resp(r), (ssize_t)strlen(r));
}

/* Two requests in one buffer: the first length is exact; leading empty
 * lines count. */
static void test_pipelined(void **state)
{
    const char *a = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *b =
        "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
    char buf[256];
    size_t na = strlen(a);

    (void)state;
    snprintf(buf, sizeof(buf), "%s%s", a, b);
    assert_int_equal(parse_req(buf), (ssize_t)na);
    assert_memory_equal(req.target, "/one", 4);
    assert_int_equal(parse_req(buf + na), (ssize_t)strlen(b) - 2);
    assert_memory_equal(req.target, "/two", 4);
    /* leading empty lines are skipped and counted */
    assert_int_equal(parse_req("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
                     4 + 27);
    assert_int_equal(parse_req_n("\r\n\r", 3), HTTP1_INCOMPLETE);
    REJECT("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

/* Response bodies per RFC 9112 6.3, and the persistence of the
 * connection. */
static void test_response_framing(void **state)
{
    (void)state;
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n") >
                0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.minor_version, 1);
    assert_int_equal(resp.reason_len, 2);
    assert_memory_equal(resp.reason, "OK", 2);
    assert_int_equal(resp.body, HTTP1_BODY_LENGTH);
    assert_int_equal(resp.content_length, 12);
    assert_int_equal(resp.keep_alive, 1);
    assert_int_equal(resp.upgrade, 0);

    assert_true(
        parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") >
        0);
    assert_int_equal(resp.body, HTTP1_BODY_CHUNKED);
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n") > 0);
    assert_int_equal(resp.body, HTTP1_BODY_CHUNKED);
    assert_true(
        parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") > 0);
    assert_int_equal(resp.body, HTTP1_BODY_UNTIL_CLOSE);
    assert_int_equal(resp.keep_alive, 0);

    assert_true(parse_resp("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n") > 0);
    assert_int_equal(resp.body, HTTP1_BODY_UNTIL_CLOSE);
    assert_int_equal(resp.keep_alive, 0);

    assert_true(
        parse_resp("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n") > 0);
    assert_int_equal(resp.body, HTTP1_BODY_NONE);
    assert_int_equal(resp.keep_alive, 1);
    assert_true(
        parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n") >
        0);
    assert_int_equal(resp.body, HTTP1_BODY_NONE);
    assert_true(parse_resp("HTTP/1.1 100 Continue\r\n\r\n") > 0);
    assert_int_equal(resp.body, HTTP1_BODY_NONE);
    assert_int_equal(resp.upgrade, 0);
    const char *head_ok = "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
    assert_true(parse_resp_n(head_ok, strlen(head_ok), 1) > 0);
    assert_int_equal(resp.body, HTTP1_BODY_NONE);
    assert_int_equal(resp.keep_alive, 1);

    assert_true(
        parse_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                   "Upgrade: websocket\r\n\r\n") > 0);
    assert_int_equal(resp.upgrade, 1);
    assert_int_equal(resp.body, HTTP1_BODY_NONE);
    assert_int_equal(resp.known.upgrade, 1);

    assert_true(parse_resp("HTTP/1.1 200 OK\r\nConnection: "
                           "close\r\nContent-Length: 1\r\n\r\n") > 0);
    assert_int_equal(resp.keep_alive, 0);
    assert_true(parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n") > 0);
    assert_int_equal(resp.keep_alive, 0);
    assert_int_equal(resp.minor_version, 0);
    assert_true(parse_resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                           "Content-Length: 1\r\n\r\n") > 0);
    assert_int_equal(resp.keep_alive, 1);
    /* an empty reason, with or without its SP */
    assert_true(parse_resp("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n") > 0);
    assert_int_equal(resp.reason_len, 0);
    assert_true(parse_resp("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n") > 0);
    assert_int_equal(resp.reason_len, 0);
    assert_int_equal(resp.status, 404);
    /* the body after the head is not part of it */
    const char *with_body = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(parse_resp(with_body), (ssize_t)strlen(with_body) - 5);
    assert_true(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip ;q=1, "
                           "chunked\r\n\r\n") > 0);
    assert_int_equal(resp.body, HTTP1_BODY_CHUNKED);
}

/* Whatever is wrong with a response head is the proxy's 502. */
static void test_response_errors(void **state)
{
    char big[MAX_HEAD + 64];
    size_t n;

    (void)state;
    RESP_REJECT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: "
                "chunked\r\n\r\n");
    RESP_REJECT("HTTP/1.1 204 OK\r\nContent-Length: 5\r\nTransfer-Encoding: "
                "chunked\r\n\r\n");
    RESP_REJECT(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x\r\n\r\n");
    RESP_REJECT("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    RESP_REJECT("HTTP/1.1 2x0 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1x200 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200 OK\nX"); /* a bare LF is refused at once */
    RESP_REJECT("HTTP/1.1 99 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1 099 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1 600 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1 2000 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1  200 OK\r\n\r\n");
    RESP_REJECT("HTTP/2 200 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.2 200 OK\r\n\r\n");
    RESP_REJECT("ICY 200 OK\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200 OK\nContent-Length: 0\n\n");
    RESP_REJECT("HTTP/1.1 200 O\x01K\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n");
    RESP_REJECT("HTTP/1.1 200 OK\r\nX : a\r\n\r\n");
    RESP_REJECT("\r\nHTTP/1.1 200 OK\r\n\r\n");
    n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX: ");
    memset(big + n, 'v', sizeof(big) - n);
    assert_int_equal(parse_resp_n(big, MAX_HEAD - 1, 0), HTTP1_INCOMPLETE);
    assert_int_equal(parse_resp_n(big, sizeof(big), 0), HTTP1_ERROR);
    assert_int_equal(resp.error_status, 502);
}

/* Scan a whole body in one call from a fresh scanner. */
static ssize_t scan_all(const char *s, size_t n, int *done)
{
    struct http1_chunked c;

    http1_chunked_init(&c);
    return http1_chunked_scan(&c, s, n, done);
}

#define SCAN_FAILS(s)                                                          \
    do {                                                                       \
        int done_;                                                             \
        assert_int_equal(scan_all((s), strlen(s), &done_), -1);                \
    } while (0)

/* Sizes, extensions, the last chunk; bytes after the body stay unread. */
static void test_chunked_basic(void **state)
{
    const char *body =
        "5\r\nhello\r\n1a;name=value;x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        "0\r\n\r\nGET /next";
    size_t blen = strlen(body) - strlen("GET /next");
    int done;

    (void)state;
    assert_int_equal(scan_all(body, strlen(body), &done), (ssize_t)blen);
    assert_int_equal(done, 1);
    assert_int_equal(scan_all(body, blen - 1, &done), (ssize_t)blen - 1);
    assert_int_equal(done, 0);
    assert_int_equal(scan_all("0\r\n\r\n", 5, &done), 5);
    assert_int_equal(done, 1);
    assert_int_equal(
        scan_all("A \t;ext=\"q\"\r\n0123456789\r\n0\r\n\r\n", 30, &done), 30);
    assert_int_equal(done, 1);
    assert_int_equal(scan_all("0;last\r\n\r\n", 10, &done), 10);
    assert_int_equal(done, 1);
    /* 15 hex digits are fine */
    assert_int_equal(scan_all("fffffffffffffff\r\n", 17, &done), 17);
    assert_int_equal(done, 0);
}

/* The scanner answers the same however the body is cut. */
static void test_chunked_split_everywhere(void **state)
{
    const char *body =
        "4;a=b\r\nwiki\r\n10\r\n0123456789abcdef\r\n0\r\nExpires: never\r\n"
        "X-Sum: 1\r\n\r\nXYZ";
    size_t n = strlen(body), whole = n - 3;

    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        struct http1_chunked c;
        int done = 0;
        ssize_t a, b = 0;

        http1_chunked_init(&c);
        a = http1_chunked_scan(&c, body, cut, &done);
        assert_true(a >= 0);
        if (!done) {
            b = http1_chunked_scan(&c, body + a, n - (size_t)a, &done);
            assert_true(b >= 0);
        }
        assert_int_equal(done, 1);
        assert_int_equal(a + b, (ssize_t)whole);
    }
    /* and one byte at a time */
    struct http1_chunked c;
    size_t used = 0;
    int done = 0;

    http1_chunked_init(&c);
    for (size_t i = 0; i < n && !done; i++) {
        ssize_t r = http1_chunked_scan(&c, body + i, 1, &done);

        assert_true(r == 1);
        used += (size_t)r;
    }
    assert_int_equal(done, 1);
    assert_int_equal(used, whole);
    /* finished stays finished */
    assert_int_equal(http1_chunked_scan(&c, "more", 4, &done), 0);
    assert_int_equal(done, 1);
}

/* Bad sizes, missing CRLFs, bad trailers and both limits are errors. */
static void test_chunked_errors(void **state)
{
    char line[HTTP1_CHUNK_LINE_MAX + 16], trailers[HTTP1_TRAILERS_MAX + 64];
    struct http1_chunked c;
    int done;
    size_t n;

    (void)state;
    SCAN_FAILS("g\r\n");
    SCAN_FAILS("5g\r\nhello\r\n");
    SCAN_FAILS(" 5\r\nhello\r\n");
    SCAN_FAILS("-1\r\n");
    SCAN_FAILS("+5\r\nhello\r\n");
    SCAN_FAILS("0x5\r\nhello\r\n");
    SCAN_FAILS("\r\n");
    SCAN_FAILS("5 \r\nhello\r\n");
    SCAN_FAILS("0000000000000005\r\nhello\r\n"); /* 16 digits */
    SCAN_FAILS("10000000000000000\r\n");
    SCAN_FAILS("5\nhello\r\n");
    SCAN_FAILS("5\rhello\r\n");
    SCAN_FAILS("5\r\nhelloX\r\n0\r\n\r\n");
    SCAN_FAILS("5\r\nhelloX\n0\r\n\r\n");
    SCAN_FAILS("5\r\nhello\r0\r\n\r\n");
    SCAN_FAILS("5\r\nhello\n0\r\n\r\n");
    SCAN_FAILS("5;a\x01\r\nhello\r\n");
    SCAN_FAILS("0\r\n X: folded\r\n\r\n");
    SCAN_FAILS("0\r\nX: a\nY: b\r\n\r\n");
    SCAN_FAILS("0\r\nX: a\rY: b\r\n\r\n");
    SCAN_FAILS("0\r\nNo colon\r\n\r\n");
    SCAN_FAILS("0\r\n\n");
    SCAN_FAILS("0\r\n\rX");
    assert_int_equal(scan_all("0\r\nX: a\0b\r\n\r\n", 14, &done), -1);

    /* the size line: HTTP1_CHUNK_LINE_MAX bytes with its CRLF, not one more */
    n = (size_t)snprintf(line, sizeof(line), "1;");
    memset(line + n, 'e', HTTP1_CHUNK_LINE_MAX - n - 2);
    memcpy(line + HTTP1_CHUNK_LINE_MAX - 2, "\r\n", 3);
    assert_int_equal(scan_all(line, strlen(line), &done), HTTP1_CHUNK_LINE_MAX);
    memcpy(line + HTTP1_CHUNK_LINE_MAX - 2, "e\r\n", 4);
    assert_int_equal(scan_all(line, strlen(line), &done), -1);

    /* trailers beyond HTTP1_TRAILERS_MAX */
    n = (size_t)snprintf(trailers, sizeof(trailers), "0\r\nX: ");
    memset(trailers + n, 'v', sizeof(trailers) - n - 1);
    trailers[sizeof(trailers) - 1] = '\0';
    assert_int_equal(scan_all(trailers, strlen(trailers), &done), -1);

    /* an error is sticky */
    http1_chunked_init(&c);
    assert_int_equal(http1_chunked_scan(&c, "z", 1, &done), -1);
    assert_int_equal(http1_chunked_scan(&c, "0\r\n\r\n", 5, &done), -1);
}

/* The fixed hop-by-hop names, names listed in Connection, and never the
 * framing fields. */
static void test_hop_by_hop(void **state)
{
    struct http1_header conn = {"Connection", 10, "close, X-Secret ,keep-alive",
                                27};
    struct http1_header smug = {"Connection", 10,
                                "Content-Length, Transfer-Encoding, host", 39};

    (void)state;
    assert_true(http1_is_hop_by_hop("Connection", 10, NULL));
    assert_true(http1_is_hop_by_hop("keep-alive", 10, NULL));
    assert_true(http1_is_hop_by_hop("Proxy-Connection", 16, NULL));
    assert_true(http1_is_hop_by_hop("TE", 2, NULL));
    assert_true(http1_is_hop_by_hop("Trailer", 7, NULL));
    assert_true(http1_is_hop_by_hop("UPGRADE", 7, NULL));
    assert_true(http1_is_hop_by_hop("Proxy-Authenticate", 18, NULL));
    assert_true(http1_is_hop_by_hop("Proxy-Authorization", 19, NULL));
    assert_false(http1_is_hop_by_hop("Transfer-Encoding", 17, NULL));
    assert_false(http1_is_hop_by_hop("Content-Length", 14, NULL));
    assert_false(http1_is_hop_by_hop("Authorization", 13, NULL));
    assert_false(http1_is_hop_by_hop("X-Secret", 8, NULL));
    assert_true(http1_is_hop_by_hop("x-secret", 8, &conn));
    assert_false(http1_is_hop_by_hop("X-Secre", 7, &conn));
    assert_false(http1_is_hop_by_hop("X-Other", 7, &conn));
    /* listing framing fields must not make the proxy drop them */
    assert_false(http1_is_hop_by_hop("Content-Length", 14, &smug));
    assert_false(http1_is_hop_by_hop("Transfer-Encoding", 17, &smug));
    assert_false(http1_is_hop_by_hop("Host", 4, &smug));
}

/* X-Request-Id values we keep, and http1_name_is. */
static void test_request_id_and_names(void **state)
{
    char id[130];
    struct http1_header h = {"X-Request-ID", 12, "v", 1};

    (void)state;
    assert_true(http1_valid_request_id("abc-123_x.y:z", 13));
    assert_false(http1_valid_request_id("", 0));
    assert_false(http1_valid_request_id("a b", 3));
    assert_false(http1_valid_request_id("a/b", 3));
    assert_false(http1_valid_request_id("a\r\nb", 4));
    assert_false(http1_valid_request_id("a\"", 2));
    memset(id, 'a', sizeof(id));
    assert_true(http1_valid_request_id(id, 128));
    assert_false(http1_valid_request_id(id, 129));
    assert_true(http1_name_is(&h, "x-request-id"));
    assert_true(http1_name_is(&h, "X-REQUEST-ID"));
    assert_false(http1_name_is(&h, "x-request-i"));
    assert_false(http1_name_is(&h, "x-request-idd"));
}

/* Every test above, in cmocka's runner. */
static int run_all_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_minimal),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_post_chunked),
        cmocka_unit_test(test_ows_trimmed),
        cmocka_unit_test(test_known_indexes),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_upgrade_and_expect),
        cmocka_unit_test(test_methods_and_targets),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_smuggling_framing),
        cmocka_unit_test(test_smuggling_syntax),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_response_framing),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_chunked_basic),
        cmocka_unit_test(test_chunked_split_everywhere),
        cmocka_unit_test(test_chunked_errors),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_request_id_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#ifndef HTTP1_BENCH
int main(void)
{
    return run_all_tests();
}
#else
#include <time.h>

/* A typical browser GET head of about 300 bytes, parsed BENCH_ITERATIONS
 * times; prints nanoseconds per parse. "--test" runs the tests instead. */
#ifndef BENCH_ITERATIONS
#define BENCH_ITERATIONS 10000000
#endif

int main(int argc, char **argv)
{
    static const char head[] =
        "GET /feed?limit=20&before=1234 HTTP/1.1\r\n"
        "Host: localhost:8080\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
        "Firefox/121.0\r\n"
        "Accept: application/json,text/html;q=0.9,*/*;q=0.8\r\n"
        "Accept-Language: en-US,en;q=0.5\r\n"
        "Accept-Encoding: gzip, deflate, br\r\n"
        "Cookie: sid=4f3c2a9b8e7d6c5b\r\n"
        "Connection: keep-alive\r\n"
        "\r\n";
    static char with_body[sizeof(head) + 16];
    struct timespec t0, t1;
    volatile ssize_t sink = 0;

    if (argc > 1 && strcmp(argv[1], "--test") == 0)
        return run_all_tests();
    /* the buffer is the head alone, then the head with body bytes after it
     * (the line walk looks for its end) */
    snprintf(with_body, sizeof(with_body), "%shello", head);
    for (int round = 0; round < 2; round++) {
        const char *buf = round == 0 ? head : with_body;
        size_t len = strlen(buf);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < BENCH_ITERATIONS; i++)
            sink += http1_parse_request(buf, len, MAX_HEAD, MAX_TARGET, &req);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 +
                    (double)(t1.tv_nsec - t0.tv_nsec);
        printf("%zu-byte head, %zu headers%s: %.1f ns/parse (%ld parses, "
               "result %zd)\n",
               sizeof(head) - 1, req.nheaders,
               round == 0 ? "" : ", body after it", ns / BENCH_ITERATIONS,
               (long)BENCH_ITERATIONS, sink / BENCH_ITERATIONS);
        sink = 0;
    }
    return 0;
}
#endif
