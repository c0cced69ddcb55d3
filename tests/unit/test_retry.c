/* Retry rules: every failure kind against idempotency, attempts left and
 * whether the body can be sent again; which failures take a backend down;
 * the names in logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "retry.h"

#define NFAIL 6 /* FAIL_CONNECT .. FAIL_AFTER_RESPONSE */

static struct retry_request req(int idem, int key, int replay, int attempts,
                                int max)
{
    struct retry_request r = {.idempotent = idem, .has_idem_key = key,
                              .body_replayable = replay,
                              .attempts = attempts, .retries_max = max};
    return r;
}

/* The rules written out as a table, one row per failure: may it be retried
 * at all, and does it need idempotency to be. */
static const struct {
    enum attempt_failure f;
    int ever;
    int needs_idem;
} rules[NFAIL] = {
    {FAIL_CONNECT, 1, 0},        {FAIL_BEFORE_SEND, 1, 0},
    {FAIL_AFTER_SEND, 1, 1},     {FAIL_SERVER_TIMEOUT, 0, 0},
    {FAIL_BAD_RESPONSE, 1, 1},   {FAIL_AFTER_RESPONSE, 0, 0},
};

/* Every combination against the table. */
static void test_matrix(void **state)
{
    int allowed = 0, checked = 0;

    (void)state;
    for (int row = 0; row < NFAIL; row++)
        for (int idem = 0; idem <= 1; idem++)
            for (int key = 0; key <= 1; key++)
                for (int replay = 0; replay <= 1; replay++)
                    for (int max = 0; max <= 3; max++)
                        for (int att = 1; att <= 5; att++) {
                            struct retry_request r =
                                req(idem, key, replay, att, max);
                            int want = rules[row].ever && replay &&
                                       att <= max &&
                                       (!rules[row].needs_idem || idem || key);
                            assert_int_equal(retry_allowed(rules[row].f, &r),
                                             want);
                            allowed += want;
                            checked++;
                        }
    assert_int_equal(checked, 6 * 2 * 2 * 2 * 4 * 5);
    /* CONNECT/BEFORE_SEND: 4 idem combos x 6 (att<=max pairs); AFTER_SEND,
     * BAD_RESPONSE: 3 idem combos x 6. */
    assert_int_equal(allowed, 2 * 4 * 6 + 2 * 3 * 6);
}

/* The same rules spelled out case by case, as a reader would check them. */
static void test_cases(void **state)
{
    struct retry_request r;

    (void)state;
    /* --retries 2: attempts 1 and 2 may retry, attempt 3 may not. */
    r = req(0, 0, 1, 1, 2);
    assert_true(retry_allowed(FAIL_CONNECT, &r));
    r.attempts = 2;
    assert_true(retry_allowed(FAIL_CONNECT, &r));
    r.attempts = 3;
    assert_false(retry_allowed(FAIL_CONNECT, &r));
    /* --retries 0: never, even before sending. */
    r = req(1, 1, 1, 1, 0);
    assert_false(retry_allowed(FAIL_CONNECT, &r));
    assert_false(retry_allowed(FAIL_BEFORE_SEND, &r));
    /* A POST that was written: only with an Idempotency-Key. */
    r = req(0, 0, 1, 1, 2);
    assert_true(retry_allowed(FAIL_BEFORE_SEND, &r));
    assert_false(retry_allowed(FAIL_AFTER_SEND, &r));
    assert_false(retry_allowed(FAIL_BAD_RESPONSE, &r));
    r.has_idem_key = 1;
    assert_true(retry_allowed(FAIL_AFTER_SEND, &r));
    assert_true(retry_allowed(FAIL_BAD_RESPONSE, &r));
    /* A GET that was written: yes. */
    r = req(1, 0, 1, 1, 2);
    assert_true(retry_allowed(FAIL_AFTER_SEND, &r));
    /* A timeout: never, idempotent and keyed or not (504). */
    r = req(1, 1, 1, 1, 5);
    assert_false(retry_allowed(FAIL_SERVER_TIMEOUT, &r));
    /* Bytes already went to the client: never. */
    assert_false(retry_allowed(FAIL_AFTER_RESPONSE, &r));
    /* A streamed body that is gone: not even a connect failure. */
    r = req(1, 1, 0, 1, 5);
    assert_false(retry_allowed(FAIL_CONNECT, &r));
    /* Out of range failure value: no. */
    r = req(1, 1, 1, 1, 5);
    assert_false(retry_allowed((enum attempt_failure)99, &r));
}

static void test_marks_down(void **state)
{
    (void)state;
    assert_int_equal(retry_marks_down(FAIL_CONNECT), 1);
    assert_int_equal(retry_marks_down(FAIL_BEFORE_SEND), 1);
    assert_int_equal(retry_marks_down(FAIL_AFTER_SEND), 1);
    assert_int_equal(retry_marks_down(FAIL_SERVER_TIMEOUT), 0);
    assert_int_equal(retry_marks_down(FAIL_BAD_RESPONSE), 0);
    assert_int_equal(retry_marks_down(FAIL_AFTER_RESPONSE), 0);
    assert_int_equal(retry_marks_down((enum attempt_failure)99), 0);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(retry_failure_name(FAIL_CONNECT), "connect");
    assert_string_equal(retry_failure_name(FAIL_BEFORE_SEND),
                        "reset-before-send");
    assert_string_equal(retry_failure_name(FAIL_AFTER_SEND),
                        "reset-after-send");
    assert_string_equal(retry_failure_name(FAIL_SERVER_TIMEOUT),
                        "server-timeout");
    assert_string_equal(retry_failure_name(FAIL_BAD_RESPONSE), "bad-response");
    assert_string_equal(retry_failure_name(FAIL_AFTER_RESPONSE),
                        "after-response");
    assert_string_equal(retry_failure_name((enum attempt_failure)99),
                        "unknown");
    assert_string_equal(retry_failure_name((enum attempt_failure)-1),
                        "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_marks_down),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
