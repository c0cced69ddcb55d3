/* Query strings, cookies and JSON bodies: the parsing every request leans on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "http_util.h"
#include "json_out.h"

static void test_query_long(void **state)
{
    long v = -1;

    (void)state;
    assert_int_equal(http_query_long("limit=5&before=77", "limit", 1, 100, &v), 1);
    assert_int_equal(v, 5);
    assert_int_equal(http_query_long("limit=5&before=77", "before", 1, 1000, &v), 1);
    assert_int_equal(v, 77);
    assert_int_equal(http_query_long("xlimit=5", "limit", 1, 100, &v), 0);
    assert_int_equal(http_query_long(NULL, "limit", 1, 100, &v), 0);
    assert_int_equal(http_query_long("", "limit", 1, 100, &v), 0);
    assert_int_equal(http_query_long("limit=0", "limit", 1, 100, &v), -1);
    assert_int_equal(http_query_long("limit=101", "limit", 1, 100, &v), -1);
    assert_int_equal(http_query_long("limit=-1", "limit", 1, 100, &v), -1);
    assert_int_equal(http_query_long("limit=abc", "limit", 1, 100, &v), -1);
    assert_int_equal(http_query_long("limit=5x", "limit", 1, 100, &v), -1);
    assert_int_equal(http_query_long("limit=", "limit", 1, 100, &v), -1);
    assert_int_equal(http_query_long("limit", "limit", 1, 100, &v), -1);
    assert_int_equal(http_query_long("limit=+5", "limit", 1, 100, &v), -1);
    assert_int_equal(
        http_query_long("limit=99999999999999999999999", "limit", 1, 100, &v), -1);
}

static void test_cookie_get(void **state)
{
    char out[41];

    (void)state;
    assert_int_equal(http_cookie_get("sid=abc", "sid", out, sizeof(out)), 1);
    assert_string_equal(out, "abc");
    assert_int_equal(http_cookie_get("a=1; sid=xyz; b=2", "sid", out, sizeof(out)), 1);
    assert_string_equal(out, "xyz");
    assert_int_equal(http_cookie_get("xsid=1; sidx=2", "sid", out, sizeof(out)), 0);
    assert_int_equal(http_cookie_get("", "sid", out, sizeof(out)), 0);
    /* Too long for the buffer: not found rather than cut. */
    assert_int_equal(http_cookie_get("sid=0123456789012345678901234567890123456789X",
                                     "sid", out, sizeof(out)), 0);
}

static void test_json_body(void **state)
{
    struct evbuffer *b = evbuffer_new();
    enum json_body_error why;
    json_t *j;

    (void)state;
    evbuffer_add_printf(b, "{\"username\":\"alice\"}");
    j = json_from_evbuffer(b, 1024, &why);
    assert_non_null(j);
    assert_int_equal(why, JSON_BODY_OK);
    assert_string_equal(json_string_value(json_object_get(j, "username")), "alice");
    json_decref(j);

    j = json_from_evbuffer(b, 5, &why);
    assert_null(j);
    assert_int_equal(why, JSON_BODY_TOO_LARGE);

    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add_printf(b, "[1,2]");
    assert_null(json_from_evbuffer(b, 1024, &why));
    assert_int_equal(why, JSON_BODY_INVALID);

    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add_printf(b, "{\"a\":1,\"a\":2}");
    assert_null(json_from_evbuffer(b, 1024, &why));

    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add_printf(b, "{\"a\":");
    assert_null(json_from_evbuffer(b, 1024, &why));

    evbuffer_drain(b, evbuffer_get_length(b));
    assert_null(json_from_evbuffer(b, 1024, &why)); /* empty body */
    assert_int_equal(why, JSON_BODY_INVALID);
    evbuffer_free(b);
}

static void test_json_out_and_reasons(void **state)
{
    struct evbuffer *b = evbuffer_new();
    json_t *j = json_pack("{s:s}", "error", "x\"y");
    char text[64];
    size_t n;

    (void)state;
    assert_int_equal(json_to_evbuffer(j, b), 0);
    n = evbuffer_remove(b, text, sizeof(text) - 1);
    text[n] = '\0';
    assert_string_equal(text, "{\"error\":\"x\\\"y\"}");
    json_decref(j);
    evbuffer_free(b);
    assert_string_equal(http_reason(404), "Not Found");
    assert_string_equal(http_reason(503), "Service Unavailable");
    assert_string_equal(http_reason(799), "Unknown");
}

/* What json_out writes must read back through jansson as the same value. */
static void test_json_out_round_trip(void **state)
{
    const char *samples[] = {"plain", "", "quote \" back \\ slash",
                             "ctl \x01\x1f nl\n tab\t cr\r", "caf\xc3\xa9 \xe2\x99\xa5"};
    struct evbuffer *b = evbuffer_new();
    char text[256];

    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        json_error_t jerr;
        json_t *j;
        size_t n;
        evbuffer_drain(b, evbuffer_get_length(b));
        json_out_lit(b, "{\"s\":");
        json_out_str(b, samples[i]);
        json_out_lit(b, ",\"n\":");
        json_out_int(b, i == 0 ? INT64_MIN : (int64_t)i * -1234567);
        json_out_lit(b, "}");
        n = evbuffer_remove(b, text, sizeof(text) - 1);
        text[n] = '\0';
        j = json_loads(text, 0, &jerr);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "s")), samples[i]);
        assert_true(json_integer_value(json_object_get(j, "n")) ==
                    (i == 0 ? INT64_MIN : (int64_t)i * -1234567));
        json_decref(j);
    }
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_long),
        cmocka_unit_test(test_cookie_get),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_json_out_and_reasons),
        cmocka_unit_test(test_json_out_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
