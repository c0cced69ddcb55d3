/* client/jar.c: the cookies sb-client keeps (sid, the LB's sticky cookie)
 * and the Cookie header they make. The module's source is compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../client/jar.c"

static int set(struct jar *j, const char *sc)
{
    return jar_set(j, sc, strlen(sc));
}

static void test_set_replace_header(void **state)
{
    struct jar j;

    (void)state;
    jar_init(&j);
    assert_string_equal(jar_header(&j), "");
    assert_null(jar_get(&j, "sid"));
    assert_int_equal(set(&j, "sid=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400"), 1);
    assert_string_equal(jar_get(&j, "sid"), "abc");
    assert_string_equal(jar_header(&j), "sid=abc");
    assert_int_equal(set(&j, "sb_backend=0000beef; Path=/"), 1);
    assert_string_equal(jar_header(&j), "sid=abc; sb_backend=0000beef");
    assert_int_equal(set(&j, "sid=abc; Path=/"), 0); /* no change */
    assert_int_equal(set(&j, "sid=def"), 1);
    assert_string_equal(jar_header(&j), "sid=def; sb_backend=0000beef");
    assert_int_equal(jar_set_lines(&j, "a=1\nsid=ghi; HttpOnly\n"), 2);
    assert_string_equal(jar_header(&j), "sid=ghi; sb_backend=0000beef; a=1");
}

static void test_delete_and_expire(void **state)
{
    struct jar j;

    (void)state;
    jar_init(&j);
    set(&j, "sid=abc");
    set(&j, "x=1");
    assert_int_equal(set(&j, "sid=; Path=/; Max-Age=0"), 1);
    assert_null(jar_get(&j, "sid"));
    assert_string_equal(jar_header(&j), "x=1");
    assert_int_equal(set(&j, "y=2; max-age=-1"), 0); /* expired: not added */
    jar_delete(&j, "x");
    assert_string_equal(jar_header(&j), "");
}

static void test_rejects_and_limits(void **state)
{
    struct jar j;
    char big[JAR_VALUE_MAX + 16], name[16];

    (void)state;
    jar_init(&j);
    assert_int_equal(set(&j, "novalue"), 0);
    assert_int_equal(set(&j, "=x"), 0);
    assert_int_equal(set(&j, "a b=1"), 0);
    assert_int_equal(set(&j, "a=1 2"), 0);
    memset(big, 'v', sizeof(big));
    memcpy(big, "k=", 2);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(set(&j, big), 0);
    for (int i = 0; i < JAR_COOKIES_MAX; i++) {
        snprintf(name, sizeof(name), "c%d=1", i);
        assert_int_equal(set(&j, name), 1);
    }
    assert_int_equal(set(&j, "one_too_many=1"), 0);
    assert_int_equal(j.n, JAR_COOKIES_MAX);
    assert_true(strlen(jar_header(&j)) < JAR_HEADER_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_replace_header),
        cmocka_unit_test(test_delete_and_expire),
        cmocka_unit_test(test_rejects_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
