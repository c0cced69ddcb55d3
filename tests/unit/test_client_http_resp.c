/* client/http_resp.c: response heads and body framing, fed in pieces the
 * way a socket delivers them. The module's source is compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../client/http_resp.c"

static struct hresp_head head;

static int parse(const char *text, int head_request)
{
    return hresp_head_parse(text, strlen(text), head_request, &head);
}

static void test_head_fields(void **state)
{
    (void)state;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                           "X-Served-By: backend-2\r\n"
                           "Set-Cookie: sid=abc; Path=/; HttpOnly\r\n"
                           "set-cookie: sb_backend=1f\r\n\r\n", 0), 0);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.minor, 1);
    assert_int_equal(head.keep_alive, 1);
    assert_int_equal(head.body, HRESP_BODY_LENGTH);
    assert_int_equal(head.length, 12);
    assert_string_equal(head.served_by, "backend-2");
    assert_string_equal(head.cookies, "sid=abc; Path=/; HttpOnly\nsb_backend=1f\n");

    assert_int_equal(parse("HTTP/1.1 503 Service Unavailable\r\n"
                           "Connection: close\r\nContent-Length: 0\r\n\r\n", 0), 0);
    assert_int_equal(head.status, 503);
    assert_int_equal(head.keep_alive, 0);

    /* HTTP/1.0 keeps the connection only when it says keep-alive. */
    assert_int_equal(parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0), 0);
    assert_int_equal(head.keep_alive, 0);
    assert_int_equal(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
                           "Content-Length: 1\r\n\r\n", 0), 0);
    assert_int_equal(head.keep_alive, 1);

    /* Without a length the body runs to the close. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\n\r\n", 0), 0);
    assert_int_equal(head.body, HRESP_BODY_CLOSE);
    assert_int_equal(head.keep_alive, 0);

    /* No body after HEAD, 204, 304, 1xx; chunked wins over a length. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1), 0);
    assert_int_equal(head.body, HRESP_BODY_NONE);
    assert_int_equal(parse("HTTP/1.1 204 No Content\r\n\r\n", 0), 0);
    assert_int_equal(head.body, HRESP_BODY_NONE);
    assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\n", 0), 0);
    assert_int_equal(head.body, HRESP_BODY_NONE);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
                           "Content-Length: 5\r\n\r\n", 0), 0);
    assert_int_equal(head.body, HRESP_BODY_CHUNKED);
    assert_int_equal(head.keep_alive, 0);

    /* Bare LF line ends are tolerated; a status line without reason too. */
    assert_int_equal(parse("HTTP/1.1 404\nContent-Length: 0\n\n", 0), 0);
    assert_int_equal(head.status, 404);
}

static void test_head_rejects(void **state)
{
    char big[HRESP_HEADERS_MAX * 8 + 64];
    size_t n = 0;

    (void)state;
    assert_int_equal(parse("HTTP/2 200 OK\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 20 OK\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200OK\r\n\r\n", 0), -1);
    assert_int_equal(parse("ICY 200 OK\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                           "Content-Length: 2\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: "
                           "99999999999999999999\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nX: a\x01" "b\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nX: y\r\n", 0), -1);
    assert_non_null(head.error);

    n += (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= HRESP_HEADERS_MAX; i++) n += (size_t)sprintf(big + n, "X: 1\r\n");
    sprintf(big + n, "\r\n");
    assert_int_equal(parse(big, 0), -1);
    assert_string_equal(head.error, "too many headers");
}

/* Names that could carry terminal escapes are made harmless; long ones
 * are cut; cookies that do not fit are dropped whole. */
static void test_head_limits(void **state)
{
    char text[4096], value[HRESP_COOKIES_MAX];

    (void)state;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nX-Served-By: \x1b[31mred\r\n\r\n", 0), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nX-Served-By: a b;c\r\n\r\n", 0), 0);
    assert_string_equal(head.served_by, "a?b?c");
    memset(value, 'n', sizeof(value));
    value[200] = '\0';
    snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nX-Served-By: %s\r\n\r\n", value);
    assert_int_equal(parse(text, 0), 0);
    assert_int_equal(strlen(head.served_by), HRESP_SERVED_BY_MAX - 1);
    memset(value, 'n', sizeof(value));
    value[HRESP_COOKIES_MAX - 4] = '\0';
    snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\n"
             "Set-Cookie: b=%s\r\n\r\n", value);
    assert_int_equal(parse(text, 0), 0);
    assert_string_equal(head.cookies, "a=1\n");
}

/* Feed text to a fresh body reader in pieces of step bytes; returns the
 * final result and how many bytes belonged to the body. */
static enum hresp_result feed(const char *head_text, const char *body,
                              size_t len, size_t step, size_t *consumed)
{
    struct hresp_body b;
    enum hresp_result r = HRESP_MORE;
    size_t off = 0;

    assert_int_equal(parse(head_text, 0), 0);
    hresp_body_init(&b, &head);
    while (off < len && r == HRESP_MORE) {
        size_t n = len - off < step ? len - off : step, used;
        r = hresp_body_feed(&b, body + off, n, &used);
        assert_true(used <= n);
        off += used;
        if (r == HRESP_MORE) assert_int_equal(used, n);
    }
    *consumed = off;
    return r;
}

static void test_body_length_and_chunked(void **state)
{
    static const char chunked[] =
        "5\r\nhello\r\n1;ext=1\r\n \r\n10\r\n0123456789abcdef\r\n0\r\n"
        "Trailer: x\r\n\r\nNEXT";
    size_t used;

    (void)state;
    for (size_t step = 1; step <= 7; step++) {
        assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                              "helloNEXT", 9, step, &used), HRESP_DONE);
        assert_int_equal(used, 5);
        assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                              chunked, sizeof(chunked) - 1, step, &used),
                         HRESP_DONE);
        assert_int_equal(used, sizeof(chunked) - 1 - 4);
    }
    /* Content-Length: 0 is done before any byte. */
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "x", 1,
                          1, &used), HRESP_DONE);
    assert_int_equal(used, 0);
}

static void test_body_errors_and_eof(void **state)
{
    struct hresp_body b;
    size_t used;

    (void)state;
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "zz\r\n", 4, 1, &used), HRESP_ERROR);
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "2\r\nabX", 6, 3, &used), HRESP_ERROR);
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "fffffffffffffffff\r\n", 19, 19, &used), HRESP_ERROR);

    /* EOF: fine for read-until-close, a cut for a known length. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\n\r\n", 0), 0);
    hresp_body_init(&b, &head);
    assert_int_equal(hresp_body_feed(&b, "abc", 3, &used), HRESP_MORE);
    assert_int_equal(used, 3);
    assert_int_equal(hresp_body_eof(&b), HRESP_DONE);
    assert_int_equal(b.bytes, 3);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 0), 0);
    hresp_body_init(&b, &head);
    assert_int_equal(hresp_body_feed(&b, "abc", 3, &used), HRESP_MORE);
    assert_int_equal(hresp_body_eof(&b), HRESP_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_fields),
        cmocka_unit_test(test_head_rejects),
        cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_body_length_and_chunked),
        cmocka_unit_test(test_body_errors_and_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
