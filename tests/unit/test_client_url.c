/* client/url.c: the one URL shape sb-client takes. The module's source is
 * compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../client/url.c"

static void test_good_urls(void **state)
{
    struct url u;
    char err[256];

    (void)state;
    assert_int_equal(url_parse("http://127.0.0.1:8080", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "");
    assert_string_equal(u.hostport, "127.0.0.1:8080");

    assert_int_equal(url_parse("HTTP://lb/", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "lb");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "");

    assert_int_equal(url_parse("http://backend-1.local:9001/users/alice?x=1",
                               &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "backend-1.local");
    assert_int_equal(u.port, 9001);
    assert_string_equal(u.path, "/users/alice?x=1");

    assert_int_equal(url_parse("http://[::1]:8080/feed", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.hostport, "[::1]:8080");
    assert_string_equal(u.path, "/feed");
}

static void test_bad_urls(void **state)
{
    static const char *bad[] = {
        "", "127.0.0.1:8080", "ftp://x/", "http://", "http://:80",
        "http://h:0", "http://h:65536", "http://h:80x", "http://h:",
        "http://user:pw@h/", "http://h/a b", "http://h/#frag", "http://h?x",
        "http://[::1", "http://[zz]:1", "http://h\x01/",
    };
    struct url u;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(url_parse(bad[i], &u, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(url_parse("https://h:443/", &u, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "https is not supported"));
    assert_int_equal(url_parse(NULL, &u, NULL, 0), -1);
}

static void test_path_ok(void **state)
{
    char long_path[URL_PATH_MAX + 2];

    (void)state;
    assert_true(url_path_ok("/feed?limit=5"));
    assert_false(url_path_ok("feed"));
    assert_false(url_path_ok(""));
    assert_false(url_path_ok("/a b"));
    assert_false(url_path_ok("/a\r\nX: y"));
    memset(long_path, 'a', sizeof(long_path));
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    assert_false(url_path_ok(long_path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_urls),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_path_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
