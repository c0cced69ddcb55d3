/* Reading an HTTP/1.x response, without libevent: a parser for a complete
 * response head, and a byte-at-a-time state machine for the body framing
 * (Content-Length, chunked, or until close). Bodies are counted, not kept:
 * sb-client only needs the status, X-Served-By and Set-Cookie. Nothing
 * here allocates; every limit is below. */
#ifndef SB_CLIENT_HTTP_RESP_H
#define SB_CLIENT_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>

#define HRESP_HEAD_MAX 16384      /* status line + headers + blank line */
#define HRESP_HEADERS_MAX 100     /* header lines in one head */
#define HRESP_SERVED_BY_MAX 64    /* X-Served-By kept (longer is cut) */
#define HRESP_COOKIES_MAX 1024    /* Set-Cookie values kept, '\n'-separated */
#define HRESP_TRAILER_MAX 8192    /* chunk extensions + trailers skipped */
#define HRESP_LENGTH_MAX (1ULL << 53) /* largest body or chunk we accept */

enum hresp_body_mode {
    HRESP_BODY_NONE,    /* HEAD request, 1xx, 204, 304 */
    HRESP_BODY_LENGTH,  /* Content-Length bytes */
    HRESP_BODY_CHUNKED, /* Transfer-Encoding: chunked */
    HRESP_BODY_CLOSE    /* until the server closes the connection */
};

struct hresp_head {
    int status;     /* 100..599 */
    int minor;      /* HTTP/1.minor */
    int keep_alive; /* the connection may carry another request */
    enum hresp_body_mode body;
    uint64_t length; /* HRESP_BODY_LENGTH only */
    char served_by[HRESP_SERVED_BY_MAX]; /* "" when absent; only
                                            [A-Za-z0-9._:-], others '?' */
    char cookies[HRESP_COOKIES_MAX];     /* Set-Cookie values, each ending
                                            in '\n'; ones that do not fit
                                            are dropped */
    const char *error; /* static text when parsing failed */
};

/* Parse a complete head: buf[0..len) must end with "\r\n\r\n" (bare "\n"
 * line ends are accepted too). head_request says the request was HEAD, so
 * no body follows. Returns 0, or -1 with out->error set. */
int hresp_head_parse(const char *buf, size_t len, int head_request,
                     struct hresp_head *out);

/* The body framing state machine. */
struct hresp_body {
    enum hresp_body_mode mode;
    int state;          /* chunked: where in the framing we are */
    uint64_t remaining; /* bytes left in the body or the current chunk */
    uint64_t chunk;     /* chunk size being read */
    int digits;         /* hex digits read for it */
    size_t trailer;     /* trailer bytes skipped so far */
    uint64_t bytes;     /* body bytes seen (payload only) */
    const char *error;
};

enum hresp_result { HRESP_MORE, HRESP_DONE, HRESP_ERROR };

/* Start reading the body that head announces. */
void hresp_body_init(struct hresp_body *b, const struct hresp_head *head);

/* Feed len bytes. *used says how many belong to this body (bytes after its
 * end are left for the caller). Returns HRESP_DONE at the end of the body,
 * HRESP_ERROR on bad chunk framing (b->error), HRESP_MORE otherwise. */
enum hresp_result hresp_body_feed(struct hresp_body *b, const char *data,
                                  size_t len, size_t *used);

/* The server closed the connection: HRESP_DONE when the body ran until
 * close (or was already complete), HRESP_ERROR when it was cut short. */
enum hresp_result hresp_body_eof(struct hresp_body *b);

#endif
