/* Flags and SB_* variables: defaults, precedence, and every kind of bad
 * value giving a clear error instead of a silent default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static struct hostport listen_at;
static long capacity;
static int sessions, verbose;
static const char *name;

static const struct cfg_opt opts[] = {
    {"listen", CFG_HOSTPORT, "127.0.0.1:9001", 0, 0, NULL, "where", &listen_at},
    {"capacity", CFG_INT, NULL, 1, 1000, NULL, "how many", &capacity},
    {"sessions", CFG_ENUM, "redis", 0, 0, "redis|memory", "store", &sessions},
    {"verbose", CFG_FLAG, "0", 0, 0, NULL, "talk more", &verbose},
    {"name", CFG_STR, "x", 0, 0, NULL, "a name", &name},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static char err[256];

/* Parse a NULL-terminated list of arguments after a program name. */
static enum cfg_result parse(const char *first, ...)
{
    char *argv[16] = {"prog"};
    int argc = 1;
    va_list ap;

    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    capacity = 0;
    err[0] = '\0';
    return cfg_parse(opts, NOPTS, argc, argv, 1, err, sizeof(err));
}

static int setup(void **state)
{
    (void)state;
    unsetenv("SB_LISTEN");
    unsetenv("SB_CAPACITY");
    unsetenv("SB_SESSIONS");
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(parse(NULL), CFG_OK);
    assert_string_equal(listen_at.host, "127.0.0.1");
    assert_int_equal(listen_at.port, 9001);
    assert_int_equal(capacity, 0); /* no default: left as it was */
    assert_int_equal(sessions, 0);
    assert_int_equal(verbose, 0);
}

static void test_good_values(void **state)
{
    (void)state;
    assert_int_equal(parse("--listen", "0.0.0.0:8080", "--capacity=5",
                           "--sessions", "memory", "--verbose", "--name", "b1",
                           NULL),
                     CFG_OK);
    assert_string_equal(listen_at.host, "0.0.0.0");
    assert_int_equal(listen_at.port, 8080);
    assert_int_equal(capacity, 5);
    assert_int_equal(sessions, 1);
    assert_int_equal(verbose, 1);
    assert_string_equal(name, "b1");
    assert_int_equal(parse("--listen", "[::1]:7", NULL), CFG_OK);
    assert_string_equal(listen_at.host, "::1");
    assert_int_equal(parse("--listen", ":9", NULL), CFG_OK);
    assert_string_equal(listen_at.host, "0.0.0.0");
}

static void test_bad_values(void **state)
{
    (void)state;
    assert_int_equal(parse("--listen", "nonsense", NULL), CFG_ERROR);
    assert_non_null(strstr(err, "--listen"));
    assert_int_equal(parse("--listen", "host:0", NULL), CFG_ERROR);
    assert_int_equal(parse("--listen", "host:65536", NULL), CFG_ERROR);
    assert_int_equal(parse("--listen", "host:80x", NULL), CFG_ERROR);
    assert_int_equal(parse("--listen", "::1:80", NULL), CFG_ERROR);
    assert_int_equal(parse("--capacity", "-3", NULL), CFG_ERROR);
    assert_non_null(strstr(err, "--capacity"));
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(parse("--capacity", "3x", NULL), CFG_ERROR);
    assert_int_equal(parse("--capacity", "", NULL), CFG_ERROR);
    assert_int_equal(parse("--capacity", " 3", NULL), CFG_ERROR);
    assert_int_equal(parse("--capacity", "99999999999999999999", NULL),
                     CFG_ERROR);
    assert_int_equal(parse("--sessions", "disk", NULL), CFG_ERROR);
    assert_non_null(strstr(err, "redis|memory"));
    assert_int_equal(parse("--bogus", NULL), CFG_ERROR);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(parse("--capacity", NULL), CFG_ERROR);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(parse("stray", NULL), CFG_ERROR);
    assert_int_equal(parse("--verbose=maybe", NULL), CFG_ERROR);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(parse("--capacity", "2", "--help", NULL), CFG_HELP);
    assert_int_equal(parse("-h", NULL), CFG_HELP);
}

static void test_env_and_precedence(void **state)
{
    (void)state;
    setenv("SB_CAPACITY", "7", 1);
    assert_int_equal(parse(NULL), CFG_OK);
    assert_int_equal(capacity, 7);
    assert_int_equal(parse("--capacity", "9", NULL), CFG_OK);
    assert_int_equal(capacity, 9); /* the flag wins */
    setenv("SB_CAPACITY", "-3", 1);
    assert_int_equal(parse(NULL), CFG_ERROR);
    assert_non_null(strstr(err, "SB_CAPACITY"));
    unsetenv("SB_CAPACITY");
}

static void test_hostport_direct(void **state)
{
    struct hostport hp;

    (void)state;
    assert_int_equal(cfg_parse_hostport("127.0.0.1:0", &hp, 1, NULL, 0), 0);
    assert_int_equal(hp.port, 0);
    assert_int_equal(cfg_parse_hostport("127.0.0.1:0", &hp, 0, NULL, 0), -1);
    assert_int_equal(cfg_parse_hostport("", &hp, 0, err, sizeof(err)), -1);
    assert_int_equal(cfg_parse_hostport("a b:1", &hp, 0, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_good_values, setup),
        cmocka_unit_test_setup(test_bad_values, setup),
        cmocka_unit_test_setup(test_help, setup),
        cmocka_unit_test_setup(test_env_and_precedence, setup),
        cmocka_unit_test_setup(test_hostport_direct, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
