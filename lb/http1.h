/* A strict HTTP/1.1 message-head parser for the proxy, in the manner of
 * picohttpparser: it returns pointers into the caller's buffer and fills a
 * header array the caller owns, so parsing allocates nothing.
 *
 * Strict on purpose: whatever two HTTP implementations could frame
 * differently (request smuggling, RFC 9112 section 11.2) is an error here:
 * Content-Length together with Transfer-Encoding, Content-Lengths that
 * disagree, a transfer coding other than "chunked", obs-fold, whitespace
 * before a colon, NUL or bare CR anywhere in the head, a bad chunk size.
 * Bodies are not parsed, only framed: http1_chunked_scan follows chunked
 * framing while the bytes stream through unchanged. */
#ifndef SB_HTTP1_H
#define SB_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_HEADERS_MAX 100 /* headers in one head; 431 beyond */

struct http1_header {
    const char *name;
    size_t name_len;
    const char *value; /* without leading or trailing whitespace */
    size_t value_len;
};

enum http1_body {
    HTTP1_BODY_NONE,       /* no body follows the head */
    HTTP1_BODY_LENGTH,     /* content_length bytes follow */
    HTTP1_BODY_CHUNKED,    /* chunked framing follows */
    HTTP1_BODY_UNTIL_CLOSE /* responses only: body ends when the server closes */
};

/* Headers the proxy acts on, found while parsing: index into headers[],
 * or -1 when absent. */
struct http1_known {
    int host, connection, upgrade, request_id, idempotency_key, cookie,
        x_forwarded_for, expect;
};

struct http1_request {
    const char *method;
    size_t method_len;
    const char *target; /* origin-form "/path?query", or absolute-form */
    size_t target_len;
    int minor_version;  /* HTTP/1.0 or HTTP/1.1 */
    struct http1_header headers[HTTP1_HEADERS_MAX];
    size_t nheaders;
    struct http1_known known;
    enum http1_body body;
    uint64_t content_length;     /* with HTTP1_BODY_LENGTH */
    unsigned keep_alive : 1;     /* after this exchange, by version + Connection */
    unsigned upgrade : 1;        /* Connection: upgrade with an Upgrade header */
    unsigned expect_continue : 1;
    unsigned idempotent : 1;     /* GET HEAD PUT DELETE OPTIONS TRACE (RFC 9110 9.2.2) */
    unsigned is_head : 1;
    /* On error: the status to answer (400, 414, 431, 501, 505) and why. */
    int error_status;
    const char *error;
};

struct http1_response {
    int minor_version;
    int status;
    const char *reason;
    size_t reason_len;
    struct http1_header headers[HTTP1_HEADERS_MAX];
    size_t nheaders;
    struct http1_known known;
    enum http1_body body;
    uint64_t content_length;
    unsigned keep_alive : 1; /* the server will keep the connection open */
    unsigned upgrade : 1;    /* 101 Switching Protocols: becomes a tunnel */
    int error_status;        /* 502 on error */
    const char *error;
};

/* Results of the head parsers. A positive result is the length of the
 * head (request or status line + headers + the empty line). */
#define HTTP1_INCOMPLETE 0 /* need more bytes; len < max_head */
#define HTTP1_ERROR (-1)   /* see error_status and error */

/* Parse a request head from buf[0..len). max_head is the largest head we
 * accept (431 when the head is not complete within it); max_target the
 * longest request-target (414). */
ssize_t http1_parse_request(const char *buf, size_t len, size_t max_head,
                            size_t max_target, struct http1_request *req);

/* Parse a response head. request_is_head: the request was HEAD, so no body
 * follows whatever the headers say; 1xx, 204 and 304 have none either. */
ssize_t http1_parse_response(const char *buf, size_t len, size_t max_head,
                             int request_is_head, struct http1_response *resp);

/* Follows chunked framing across reads. */
struct http1_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk's data */
    size_t line_len;    /* bytes of the current size or trailer line so far */
    size_t trailer_len; /* bytes of trailers so far */
};

#define HTTP1_CHUNK_LINE_MAX 1024    /* a chunk-size line with extensions */
#define HTTP1_TRAILERS_MAX 8192

void http1_chunked_init(struct http1_chunked *c);

/* Scan the next len bytes of a chunked body. Returns how many belong to the
 * body (all of them, or fewer when the body ended inside data, and then
 * *done is set to 1), or -1 on a framing error (bad hex, size overflow, a
 * missing CRLF, a size line or trailers over their limits). */
ssize_t http1_chunked_scan(struct http1_chunked *c, const char *data,
                           size_t len, int *done);

/* 1 if the header must not be forwarded by a proxy (RFC 9110 7.6.1):
 * Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade,
 * Proxy-Authenticate/Authorization, or any name listed in the message's
 * Connection header (connection may be NULL). Transfer-Encoding is NOT
 * reported: the proxy forwards chunked framing unchanged. */
int http1_is_hop_by_hop(const char *name, size_t name_len,
                        const struct http1_header *connection);

/* 1 if a client-supplied X-Request-Id is safe to keep: 1..128 bytes of
 * [A-Za-z0-9._:-]. */
int http1_valid_request_id(const char *value, size_t len);

/* Case-insensitive compare of a header name with a NUL-terminated one. */
int http1_name_is(const struct http1_header *h, const char *name);

#endif
