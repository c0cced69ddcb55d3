/* Small helpers for answering HTTP with JSON on top of libevent's evhttp:
 * status reasons, JSON bodies in and out, query strings and cookies.
 * Nothing here keeps state between calls. */
#ifndef SB_HTTP_UTIL_H
#define SB_HTTP_UTIL_H

#include <jansson.h>
#include <stddef.h>

struct evhttp_request;
struct evbuffer;

/* The reason phrase for a status code ("Not Found"); "Unknown" otherwise. */
const char *http_reason(int status);

/* Serialise body as compact JSON and send it with status. Takes ownership of
 * body (it is decref'd). Adds Content-Type: application/json. */
void http_reply_json(struct evhttp_request *req, int status, json_t *body);

/* Send {"error": msg} with status. For 429 and 503 it also adds
 * Retry-After: 1, so a client knows when to come back. */
void http_reply_error(struct evhttp_request *req, int status, const char *msg);

/* Append body as compact JSON to buf. Returns 0, or -1 if jansson fails. */
int json_to_evbuffer(const json_t *body, struct evbuffer *buf);

/* Parse the whole of buf as one JSON object of at most limit bytes.
 * Returns a new reference, or NULL with a short reason in *why ("body too
 * large" is reported as such so the caller can answer 413). */
enum json_body_error { JSON_BODY_OK, JSON_BODY_TOO_LARGE, JSON_BODY_INVALID };
json_t *json_from_evbuffer(struct evbuffer *buf, size_t limit,
                           enum json_body_error *why);

/* Look up key in a query string "a=1&b=2" (no leading '?', may be NULL) and
 * parse it as a decimal integer within [min,max].
 * Returns 1 found and valid, 0 absent, -1 present but invalid. */
int http_query_long(const char *query, const char *key, long min, long max,
                    long *out);

/* Copy the value of cookie name from a Cookie header into out.
 * Returns 1 found (and it fit), 0 otherwise. */
int http_cookie_get(const char *header, const char *name, char *out,
                    size_t outlen);

#endif
