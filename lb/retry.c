/* The retry rules of retry.h: whether a failed attempt may go to another
 * backend, and whether the failure says the backend is down. */
#include <stddef.h>

#include "retry.h"

/* 1 if r may be sent again after failure f, 0 if the client gets the
 * error. Common conditions: retries are on (retries_max > 0), one is left
 * (attempts, the failed one included, is at most retries_max: with
 * --retries 2, attempts 1 and 2 may retry and attempt 3 may not), and the
 * body is still held whole. Then by failure:
 *   FAIL_CONNECT, FAIL_BEFORE_SEND: the backend never saw the request, so
 *     a repeat cannot do anything twice: allowed.
 *   FAIL_AFTER_SEND, FAIL_BAD_RESPONSE: the backend may have acted on it;
 *     allowed only for an idempotent method or with an Idempotency-Key.
 *   FAIL_SERVER_TIMEOUT: never. A slow backend may still answer and act,
 *     so a non-idempotent request would run twice; and backends are slow
 *     mostly because they are overloaded, where retrying every timeout
 *     multiplies the load that caused it. The client gets 504.
 *   FAIL_AFTER_RESPONSE: never; the client already has part of an answer. */
int retry_allowed(enum attempt_failure f, const struct retry_request *r)
{
    if (r->retries_max <= 0 || r->attempts > r->retries_max ||
        !r->body_replayable)
        return 0;
    switch (f) {
    case FAIL_CONNECT:
    case FAIL_BEFORE_SEND:
        return 1;
    case FAIL_AFTER_SEND:
    case FAIL_BAD_RESPONSE:
        return r->idempotent || r->has_idem_key;
    case FAIL_SERVER_TIMEOUT:
    case FAIL_AFTER_RESPONSE:
        return 0;
    }
    return 0;
}

/* 1 for refused or reset connections (CONNECT, BEFORE_SEND, AFTER_SEND):
 * the backend process is gone or not accepting, and waiting for `fall`
 * failed checks would send it more requests meanwhile. 0 for a slow or
 * malformed answer, or a failure after the response began: the backend is
 * alive, and taking it down would push its load onto the others. */
int retry_marks_down(enum attempt_failure f)
{
    switch (f) {
    case FAIL_CONNECT:
    case FAIL_BEFORE_SEND:
    case FAIL_AFTER_SEND:
        return 1;
    case FAIL_SERVER_TIMEOUT:
    case FAIL_BAD_RESPONSE:
    case FAIL_AFTER_RESPONSE:
        return 0;
    }
    return 0;
}

/* A static string naming f for logs and metrics labels; "unknown" for a
 * value outside the enum. Never NULL; the caller does not free it. */
const char *retry_failure_name(enum attempt_failure f)
{
    static const char *const names[] = {
        [FAIL_CONNECT] = "connect",
        [FAIL_BEFORE_SEND] = "reset-before-send",
        [FAIL_AFTER_SEND] = "reset-after-send",
        [FAIL_SERVER_TIMEOUT] = "server-timeout",
        [FAIL_BAD_RESPONSE] = "bad-response",
        [FAIL_AFTER_RESPONSE] = "after-response",
    };

    if ((unsigned)f >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[f];
}
