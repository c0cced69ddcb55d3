/* When a failed attempt may be tried again on another backend. The rules
 * are what keeps a retry from doing a POST twice:
 *   - never reached a backend (connect refused/failed, reset before the
 *     request was written): always retry;
 *   - written, but no response byte came back (reset, closed) or the
 *     response head was malformed: retry only an idempotent method, or a
 *     request with an Idempotency-Key (the backend answers a repeat from
 *     its record);
 *   - written, then --timeout-server passed: never (504). The backend may
 *     still be working on it, and retrying timeouts multiplies the load on
 *     a system that is slow because it is overloaded;
 *   - any response byte already went to the client: never.
 * And only while attempts remain and the request body is still held whole
 * (a streamed body that is gone cannot be sent again). */
#ifndef SB_LB_RETRY_H
#define SB_LB_RETRY_H

enum attempt_failure {
    FAIL_CONNECT,        /* refused, unreachable, connect timeout */
    FAIL_BEFORE_SEND,    /* connection reset or closed before the request was written */
    FAIL_AFTER_SEND,     /* reset/closed after writing, before any response byte */
    FAIL_SERVER_TIMEOUT, /* written, no response within --timeout-server */
    FAIL_BAD_RESPONSE,   /* response head malformed (502), nothing forwarded yet */
    FAIL_AFTER_RESPONSE  /* response bytes already went to the client */
};

struct retry_request {
    int idempotent;      /* method is idempotent (RFC 9110 9.2.2) */
    int has_idem_key;    /* carries an Idempotency-Key header */
    int body_replayable; /* the whole body is still held by the proxy */
    int attempts;        /* attempts made so far, the failed one included */
    int retries_max;     /* --retries */
};

/* 1 if the request may be sent again to another backend. */
int retry_allowed(enum attempt_failure f, const struct retry_request *r);

/* 1 if the failure says the backend itself is unwell, so the passive
 * health check should take it down at once (refused or reset, not a slow
 * answer or a bad response). */
int retry_marks_down(enum attempt_failure f);

/* A short name for logs: "connect", "reset-before-send", ... */
const char *retry_failure_name(enum attempt_failure f);

#endif
