/* Strict HTTP/1.1 message heads (RFC 9112) and chunked framing for the
 * proxy: one pass over the caller's bytes, results point into them, nothing
 * is allocated. Whatever two implementations could frame differently is an
 * error here (see http1.h for the list and the contract). */
#include "http1.h"
#include "http1_chars.h"

#include <string.h>

/* A larger Content-Length is an error, never a wrap. */
#define CONTENT_LENGTH_MAX (UINT64_C(1) << 62)


/* Word-at-a-time tests: the bytes of w below n (n <= 128), or equal to b,
 * get their high bit set. Borrows can also mark bytes above a true one, so
 * "any" is exact and so is the lowest mark, which is all we ask. */
/* clang-format off */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
#define HAS_LESS(w, n) (((w) - ONES * (n)) & ~(w) & HIGHS)
#define HAS_BYTE(w, b) HAS_LESS((w) ^ (ONES * (b)), 1)
/* clang-format on */

/* Case-insensitive equality of s[0..n) with a literal made of lowercase
 * letters, digits, '-', ':' and '/', for bytes the parser has already
 * checked (tokens, field values, targets: no CTL but HTAB). For those,
 * c | 0x20 equals such a literal byte exactly when c equals it ignoring
 * case: the only other bytes mapping there are CTLs. Eight at a time. */
static inline int same_lower(const uint8_t *s, const char *lit, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;

        memcpy(&a, s + i, 8);
        memcpy(&b, lit + i, 8);
        if ((a | ONES * 0x20) != b)
            return 0;
    }
    for (; i < n; i++)
        if ((s[i] | 0x20) != (unsigned char)lit[i])
            return 0;
    return 1;
}

#define IS_LIT(s, n, lit)                                                      \
    ((n) == sizeof(lit) - 1 && same_lower((s), (lit), sizeof(lit) - 1))


#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The index of the lowest marked byte. */
#define FIRST_MARKED(m) ((size_t)__builtin_ctzll(m) / 8)
#endif

/* Skip the bytes of class from p, stopping at the first other byte or end.
 * Every byte >= low except DEL must belong to the class: then eight bytes
 * are checked at once and only a marked byte (the end of the run, or an
 * HTAB) is looked up. Long cookies and user agents are most of a head, so
 * this is where the time goes. */
static const uint8_t *skip_run(const uint8_t *p, const uint8_t *end,
                               unsigned char class, unsigned low)
{
    while (end - p >= 8) {
        uint64_t w, marks;

        memcpy(&w, p, 8);
        marks = HAS_LESS(w, low) | HAS_BYTE(w, 0x7f);
        if (marks == 0) {
            p += 8;
            continue;
        }
#ifdef FIRST_MARKED
        p += FIRST_MARKED(marks);
        if (!is(*p, class))
            return p;
        p++;
#else
        for (const uint8_t *stop = p + 8; p < stop; p++)
            if (!is(*p, class))
                return p;
#endif
    }
    while (p < end && is(*p, class))
        p++;
    return p;
}


/* Why a parse step could not go on: status 0 means the bytes ran out and
 * more could complete the head; otherwise the status to answer. */
struct stop {
    int status;
    const char *why;
};

/* Record why we stop, so every error path is one "return fail(...)". */
static const uint8_t *fail(struct stop *st, int status, const char *why)
{
    st->status = status;
    st->why = why;
    return NULL;
}

/* Facts about framing and connection handling gathered from the fields and
 * judged once the head is complete: requests and responses differ. */
struct facts {
    unsigned request : 1;    /* set by the caller: Host rules apply */
    unsigned hosts;          /* Host field lines */
    unsigned lengths;        /* Content-Length values (list elements) */
    uint64_t content_length; /* all of them equal this */
    unsigned tes;            /* Transfer-Encoding field lines */
    unsigned te_codings;     /* codings over all of them */
    unsigned te_bad : 1;     /* an empty element, a bad token, chunked;params */
    unsigned te_chunked_last : 1;
    unsigned te_chunked_early : 1; /* chunked followed by another coding */
    unsigned conn_close : 1, conn_keep_alive : 1, conn_upgrade : 1;
    unsigned expect_continue : 1;
};

static const struct http1_known known_none = {-1, -1, -1, -1, -1, -1, -1, -1};

/* "HTTP/" DIGIT "." DIGIT at p, checked byte by byte as far as the bytes
 * go so garbage is refused before the line is complete. Sets st->status
 * to 400 for anything that is not a version at all. */
static const uint8_t *parse_version(const uint8_t *p, const uint8_t *end,
                                    int *major, int *minor, struct stop *st)
{
    static const char shape[] = "HTTP/0.0"; /* 0 stands for any digit */

    if (end - p >= 8 && memcmp(p, "HTTP/1.", 7) == 0 &&
        (p[7] == '1' || p[7] == '0')) {
        *major = 1; /* the usual case in one comparison */
        *minor = p[7] - '0';
        return p + 8;
    }
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (p + i == end)
            return NULL;
        if (shape[i] == '0' ? (p[i] < '0' || p[i] > '9')
                            : p[i] != (unsigned char)shape[i])
            return fail(st, 400, "bad HTTP version");
    }
    *major = p[5] - '0';
    *minor = p[7] - '0';
    return p + 8;
}

/* CRLF at p: a CR alone or an LF alone ends no line. */
static const uint8_t *parse_crlf(const uint8_t *p, const uint8_t *end,
                                 struct stop *st, const char *why)
{
    if (p == end)
        return NULL;
    if (*p != '\r')
        return fail(st, 400, *p == '\n' ? "bare LF" : why);
    if (p + 1 == end)
        return NULL;
    if (p[1] != '\n')
        return fail(st, 400, "bare CR");
    return p + 2;
}

/* Method flags from the exact (case-sensitive, RFC 9110 9.1) method name. */
static void note_method(struct http1_request *req)
{
    const uint8_t *m = (const uint8_t *)req->method;
    size_t n = req->method_len;

    req->is_head = n == 4 && memcmp(m, "HEAD", 4) == 0;
    req->idempotent =
        (n == 3 && (memcmp(m, "GET", 3) == 0 || memcmp(m, "PUT", 3) == 0)) ||
        req->is_head || (n == 5 && memcmp(m, "TRACE", 5) == 0) ||
        (n == 6 && memcmp(m, "DELETE", 6) == 0) ||
        (n == 7 && memcmp(m, "OPTIONS", 7) == 0);
}

/* The target's form must fit the method (RFC 9112 3.2): origin-form, an
 * http(s) absolute-form with a host, or "*" for OPTIONS. CONNECT's
 * authority-form is refused earlier: we do not tunnel. */
static int target_form_ok(const struct http1_request *req)
{
    const uint8_t *t = (const uint8_t *)req->target;
    size_t n = req->target_len, scheme;

    if (t[0] == '/')
        return 1;
    if (t[0] == '*')
        return n == 1 && req->method_len == 7 &&
               memcmp(req->method, "OPTIONS", 7) == 0;
    if (n > 7 && same_lower(t, "http://", 7))
        scheme = 7;
    else if (n > 8 && same_lower(t, "https://", 8))
        scheme = 8;
    else
        return 0;
    return t[scheme] != '/' && t[scheme] != '?' && t[scheme] != '#';
}

/* method SP request-target SP HTTP-version CRLF, refusing as early as the
 * bytes allow: a target past max_target is a 414 before its end arrives. */
static const uint8_t *parse_request_line(const uint8_t *p, const uint8_t *end,
                                         size_t max_target,
                                         struct http1_request *req,
                                         struct stop *st)
{
    const uint8_t *m = p, *t;
    int major, minor;

    while (p < end && is(*p, C_TCHAR))
        p++;
    if (p == end)
        return NULL;
    if (*p != ' ' || p == m)
        return fail(st, 400, "bad method");
    req->method = (const char *)m;
    req->method_len = (size_t)(p - m);

    t = ++p;
    p = skip_run(p, (size_t)(end - p) > max_target ? p + max_target + 1 : end,
                 C_TARGET, 0x21);
    if ((size_t)(p - t) > max_target)
        return fail(st, 414, "request-target too long");
    if (p == end)
        return NULL;
    if (*p != ' ')
        return fail(st, 400, "bad byte in request-target");
    if (p == t)
        return fail(st, 400, "empty request-target");
    req->target = (const char *)t;
    req->target_len = (size_t)(p - t);

    p = parse_version(p + 1, end, &major, &minor, st);
    if (p == NULL)
        return NULL;
    p = parse_crlf(p, end, st, "bad request line");
    if (p == NULL)
        return NULL;
    if (major != 1 || minor > 1)
        return fail(st, 505, "HTTP version not supported");
    req->minor_version = minor;
    if (req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0)
        return fail(st, 501, "CONNECT not supported");
    if (!target_form_ok(req))
        return fail(st, 400, "bad request-target form");
    note_method(req);
    return p;
}

/* HTTP-version SP 3DIGIT SP reason-phrase CRLF; the SP before an empty
 * reason may be missing. Any failure becomes 502 in the caller. */
static const uint8_t *parse_status_line(const uint8_t *p, const uint8_t *end,
                                        struct http1_response *resp,
                                        struct stop *st)
{
    int major, minor, status = 0;
    const uint8_t *reason;

    p = parse_version(p, end, &major, &minor, st);
    if (p == NULL)
        return NULL;
    if (major != 1 || minor > 1)
        return fail(st, 502, "unsupported HTTP version");
    if (p == end)
        return NULL;
    if (*p++ != ' ')
        return fail(st, 502, "bad status line");
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return NULL;
        if (*p < '0' || *p > '9')
            return fail(st, 502, "bad status code");
        status = status * 10 + (*p - '0');
    }
    if (status < 100 || status > 599)
        return fail(st, 502, "bad status code");
    if (p == end)
        return NULL;
    if (*p == ' ')
        p++;
    else if (*p != '\r')
        return fail(st, 502, "bad status code");
    reason = p;
    p = skip_run(p, end, C_VALUE, 0x20);
    resp->reason = (const char *)reason;
    resp->reason_len = (size_t)(p - reason);
    resp->status = status;
    resp->minor_version = minor;
    return parse_crlf(p, end, st, "bad status line");
}

/* Content-Length: 1*DIGIT, or a list of them, all equal to each other and
 * to every earlier Content-Length (RFC 9112 6.3 item 5). */
static const uint8_t *note_content_length(const uint8_t *v, const uint8_t *ve,
                                          struct facts *f, struct stop *st)
{
    for (const uint8_t *p = v;; p++) {
        const uint8_t *s = p, *e = element_end(p, ve), *next = e;
        uint64_t n = 0;

        trim(&s, &e);
        if (s == e)
            return fail(st, 400, "bad Content-Length");
        for (; s < e; s++) {
            if (*s < '0' || *s > '9')
                return fail(st, 400, "bad Content-Length");
            if (n > CONTENT_LENGTH_MAX / 10)
                return fail(st, 400, "Content-Length too large");
            n = n * 10 + (uint64_t)(*s - '0');
            if (n > CONTENT_LENGTH_MAX)
                return fail(st, 400, "Content-Length too large");
        }
        if (f->lengths++ > 0 && n != f->content_length)
            return fail(st, 400, "conflicting Content-Length");
        f->content_length = n;
        p = next;
        if (p == ve)
            return ve;
    }
}

/* Transfer-Encoding codings, over all its field lines in order. Judged
 * later: a request allows exactly "chunked", a response a final chunked. */
static void note_transfer_encoding(const uint8_t *v, const uint8_t *ve,
                                   struct facts *f)
{
    f->tes++;
    for (const uint8_t *p = v;; p++) {
        const uint8_t *s = p, *e = element_end(p, ve), *next = e, *name, *rest;
        int chunked;

        trim(&s, &e);
        for (name = s; s < e && is(*s, C_TCHAR); s++)
            ;
        rest = s;
        while (rest < e && is_ows(*rest))
            rest++;
        chunked = IS_LIT(name, (size_t)(s - name), "chunked");
        if (s == name || (rest < e && (*rest != ';' || chunked)))
            f->te_bad = 1;
        if (f->te_chunked_last)
            f->te_chunked_early = 1;
        f->te_chunked_last = chunked;
        f->te_codings++;
        p = next;
        if (p == ve)
            return;
    }
}

/* Connection: the close, keep-alive and upgrade tokens; others name
 * hop-by-hop fields (see http1_is_hop_by_hop). */
static void note_connection(const uint8_t *v, const uint8_t *ve,
                            struct facts *f)
{
    for (const uint8_t *p = v;; p++) {
        const uint8_t *s = p, *e = element_end(p, ve), *next = e;
        size_t n;

        trim(&s, &e);
        n = (size_t)(e - s);
        if (IS_LIT(s, n, "close"))
            f->conn_close = 1;
        else if (IS_LIT(s, n, "keep-alive"))
            f->conn_keep_alive = 1;
        else if (IS_LIT(s, n, "upgrade"))
            f->conn_upgrade = 1;
        p = next;
        if (p == ve)
            return;
    }
}

/* Act on the fields the proxy cares about; everything else passes through.
 * The switch on length keeps this to one comparison for most fields. */
static const uint8_t *note_field(const uint8_t *name, size_t nlen,
                                 const uint8_t *v, const uint8_t *ve, int index,
                                 struct http1_known *k, struct facts *f,
                                 struct stop *st)
{
#define FIRST(slot) ((slot) = (slot) < 0 ? index : (slot))
    switch (nlen) {
    case 4:
        if (f->request && IS_LIT(name, nlen, "host")) {
            FIRST(k->host);
            if (++f->hosts > 1)
                return fail(st, 400, "more than one Host");
            for (const uint8_t *p = v; p < ve; p++)
                if (!is(*p, C_HOST))
                    return fail(st, 400, "bad Host");
        }
        break;
    case 6:
        if (IS_LIT(name, nlen, "cookie")) {
            FIRST(k->cookie);
        } else if (IS_LIT(name, nlen, "expect")) {
            FIRST(k->expect);
            if (IS_LIT(v, (size_t)(ve - v), "100-continue"))
                f->expect_continue = 1;
        }
        break;
    case 7:
        if (IS_LIT(name, nlen, "upgrade"))
            FIRST(k->upgrade);
        break;
    case 10:
        if (IS_LIT(name, nlen, "connection")) {
            FIRST(k->connection);
            note_connection(v, ve, f);
        }
        break;
    case 12:
        if (IS_LIT(name, nlen, "x-request-id"))
            FIRST(k->request_id);
        break;
    case 14:
        if (IS_LIT(name, nlen, "content-length"))
            return note_content_length(v, ve, f, st);
        break;
    case 15:
        if (IS_LIT(name, nlen, "x-forwarded-for"))
            FIRST(k->x_forwarded_for);
        else if (IS_LIT(name, nlen, "idempotency-key"))
            FIRST(k->idempotency_key);
        break;
    case 17:
        if (IS_LIT(name, nlen, "transfer-encoding"))
            note_transfer_encoding(v, ve, f);
        break;
    }
#undef FIRST
    return ve;
}

/* Field lines up to and including the empty line: name ":" OWS value OWS
 * CRLF, the name a token right against the colon, the value free of CTLs
 * but HTAB. Returns the end of the head, or NULL (see struct stop). */
static const uint8_t *parse_fields(const uint8_t *p, const uint8_t *end,
                                   struct http1_header *hdr, size_t *nhdr,
                                   struct http1_known *k, struct facts *f,
                                   struct stop *st)
{
    size_t n = 0;

    for (;;) {
        const uint8_t *name, *colon, *v, *ve;

        if (p == end)
            return NULL;
        if (*p == '\r') {
            if (p + 1 == end)
                return NULL;
            if (p[1] != '\n')
                return fail(st, 400, "bare CR");
            *nhdr = n;
            return p + 2;
        }
        if (*p == '\n')
            return fail(st, 400, "bare LF");
        if (is_ows(*p))
            return fail(st, 400, "obs-fold");
        name = p;
        while (end - p >= 4 && is(p[0], C_TCHAR) && is(p[1], C_TCHAR) &&
               is(p[2], C_TCHAR) && is(p[3], C_TCHAR))
            p += 4; /* names are short: unrolled beats word tricks */
        while (p < end && is(*p, C_TCHAR))
            p++;
        if (p == end)
            return NULL;
        if (*p != ':' || p == name)
            return fail(st, 400, "bad header name");
        if (n == HTTP1_HEADERS_MAX)
            return fail(st, 431, "too many headers");
        colon = p++;
        while (p < end && is_ows(*p))
            p++;
        v = p;
        p = skip_run(p, end, C_VALUE, 0x20);
        if (p == end)
            return NULL;
        if (*p != '\r')
            return fail(st, 400,
                        *p == '\n' ? "bare LF" : "bad byte in header value");
        if (p + 1 == end)
            return NULL;
        if (p[1] != '\n')
            return fail(st, 400, "bare CR");
        for (ve = p; ve > v && is_ows(ve[-1]); ve--)
            ;
        hdr[n].name = (const char *)name;
        hdr[n].name_len = (size_t)(colon - name);
        hdr[n].value = (const char *)v;
        hdr[n].value_len = (size_t)(ve - v);
        if (note_field(name, hdr[n].name_len, v, ve, (int)n, k, f, st) == NULL)
            return NULL;
        n++;
        p += 2;
    }
}

/* Framing, Host and connection rules of a complete request head. */
static const uint8_t *judge_request(struct http1_request *req,
                                    const struct facts *f,
                                    const uint8_t *head_end, struct stop *st)
{
    int v11 = req->minor_version == 1;

    if (f->hosts == 0 && v11)
        return fail(st, 400, "missing Host");
    req->content_length = 0;
    if (f->tes > 0) {
        if (!v11)
            return fail(st, 400, "Transfer-Encoding in HTTP/1.0");
        if (f->lengths > 0)
            return fail(st, 400, "Content-Length with Transfer-Encoding");
        if (f->te_bad || f->te_codings != 1 || !f->te_chunked_last)
            return fail(st, 400, "unsupported transfer coding");
        req->body = HTTP1_BODY_CHUNKED;
    } else if (f->lengths > 0) {
        req->body = HTTP1_BODY_LENGTH;
        req->content_length = f->content_length;
    } else {
        req->body = HTTP1_BODY_NONE;
    }
    req->keep_alive = !f->conn_close && (v11 || f->conn_keep_alive);
    /* RFC 9110 7.8 and 10.1.1: Upgrade and 100-continue mean nothing in 1.0 */
    req->upgrade = v11 && f->conn_upgrade && req->known.upgrade >= 0;
    req->expect_continue = v11 && f->expect_continue;
    return head_end;
}

/* Parse one request head in buf[start, stop). Returns the offset past it,
 * 0 when the bytes ran out first, -1 with error_status set. */
static ssize_t request_head(const uint8_t *buf, size_t start, size_t stop,
                            size_t max_target, struct http1_request *req)
{
    struct stop st = {0, NULL};
    struct facts f;
    const uint8_t *p, *end = buf + stop;

    memset(&f, 0, sizeof(f));
    f.request = 1;
    req->nheaders = 0;
    req->known = known_none;
    p = parse_request_line(buf + start, end, max_target, req, &st);
    if (p != NULL)
        p = parse_fields(p, end, req->headers, &req->nheaders, &req->known, &f,
                         &st);
    if (p != NULL)
        p = judge_request(req, &f, p, &st);
    if (p != NULL)
        return p - buf;
    if (st.status == 0)
        return HTTP1_INCOMPLETE;
    req->error_status = st.status;
    req->error = st.why;
    return HTTP1_ERROR;
}

/* Framing of a complete response head (RFC 9112 6.3), in that order. */
static const uint8_t *judge_response(struct http1_response *resp,
                                     const struct facts *f, int request_is_head,
                                     const uint8_t *head_end, struct stop *st)
{
    int s = resp->status;

    if (f->tes > 0) {
        if (f->lengths > 0)
            return fail(st, 502, "Content-Length with Transfer-Encoding");
        if (resp->minor_version == 0)
            return fail(st, 502, "Transfer-Encoding in HTTP/1.0");
        if (f->te_bad || f->te_chunked_early)
            return fail(st, 502, "bad transfer coding");
    }
    resp->keep_alive =
        !f->conn_close && (resp->minor_version == 1 || f->conn_keep_alive);
    resp->upgrade = 0;
    resp->content_length = 0;
    if (s == 101) {
        resp->upgrade = 1;
        resp->keep_alive = 0; /* the connection becomes a tunnel */
        resp->body = HTTP1_BODY_NONE;
    } else if (request_is_head || s < 200 || s == 204 || s == 304) {
        resp->body = HTTP1_BODY_NONE;
    } else if (f->tes > 0 && f->te_chunked_last) {
        resp->body = HTTP1_BODY_CHUNKED;
    } else if (f->tes == 0 && f->lengths > 0) {
        resp->body = HTTP1_BODY_LENGTH;
        resp->content_length = f->content_length;
    } else {
        resp->body = HTTP1_BODY_UNTIL_CLOSE;
        resp->keep_alive = 0;
    }
    return head_end;
}

/* Parse one response head in buf[0, stop); results as request_head, every
 * error a 502 for the client. */
static ssize_t response_head(const uint8_t *buf, size_t stop,
                             int request_is_head, struct http1_response *resp)
{
    struct stop st = {0, NULL};
    struct facts f;
    const uint8_t *p, *end = buf + stop;

    memset(&f, 0, sizeof(f));
    resp->nheaders = 0;
    resp->known = known_none;
    p = parse_status_line(buf, end, resp, &st);
    if (p != NULL)
        p = parse_fields(p, end, resp->headers, &resp->nheaders, &resp->known,
                         &f, &st);
    if (p != NULL)
        p = judge_response(resp, &f, request_is_head, p, &st);
    if (p != NULL)
        return p - buf;
    if (st.status == 0)
        return HTTP1_INCOMPLETE;
    resp->error_status = 502;
    resp->error = st.why;
    return HTTP1_ERROR;
}

/* The cheap check before a parse: walk the lines of buf[start, limit) with
 * memchr and return the offset just past the first empty line, or 0 when
 * there is none yet. Then *check says how far the caller should parse to
 * refuse early: through a bare LF or a CR CR LF line (the client may think
 * the head is complete), else through the first line (a bad or too long
 * request line), else everything. Other errors in an incomplete head wait
 * for its end or max_head: finding them would mean parsing it again. */
static size_t find_head_end(const uint8_t *buf, size_t start, size_t limit,
                            size_t *check)
{
    size_t line = start;

    *check = limit;
    while (line < limit) {
        const uint8_t *q = memchr(buf + line, '\n', limit - line);
        size_t i;

        if (q == NULL)
            break;
        i = (size_t)(q - buf);
        if (i == line || buf[i - 1] != '\r') {
            *check = i + 1;
            return 0;
        }
        if (i - 1 == line)
            return i + 1;
        if (i - 2 == line && buf[line] == '\r') {
            *check = i + 1; /* "\r\r\n": meant to end the head */
            return 0;
        }
        if (line == start)
            *check = i + 1;
        line = i + 1;
    }
    return 0;
}

/* Called again from the start each time more bytes arrive, so the cost
 * of an incomplete head must stay small: when the buffer ends with CRLF
 * CRLF it is parsed at once; otherwise a memchr walk over the lines finds
 * the end, and without one only the request line (and a bare LF) is
 * checked, so 414 and 400 come early but nothing is parsed twice. */
ssize_t http1_parse_request(const char *buf, size_t len, size_t max_head,
                            size_t max_target, struct http1_request *req)
{
    const uint8_t *b = (const uint8_t *)buf;
    size_t limit = len < max_head ? len : max_head, start = 0, check, end;
    ssize_t r;

    req->error_status = 0;
    req->error = NULL;
    /* RFC 9112 2.2: empty lines before the request line are skipped; they
     * still count towards max_head and the length we return. */
    while (limit - start >= 2 && b[start] == '\r' && b[start + 1] == '\n')
        start += 2;
    /* the usual case: the buffer is exactly one head, no walk needed */
    if (len <= max_head && len - start >= 4 &&
        memcmp(b + len - 4, "\r\n\r\n", 4) == 0 &&
        (r = request_head(b, start, len, max_target, req)) != HTTP1_INCOMPLETE)
        return r;
    if (limit - start == 1 && b[start] == '\r')
        check = start; /* maybe another empty line: nothing to refuse yet */
    else if ((end = find_head_end(b, start, limit, &check)) != 0)
        return request_head(b, start, end, max_target, req);
    else if ((r = request_head(b, start, check, max_target, req)) !=
             HTTP1_INCOMPLETE)
        return r;
    if (len < max_head)
        return HTTP1_INCOMPLETE;
    if (check < limit &&
        (r = request_head(b, start, limit, max_target, req)) != 0)
        return r;
    req->error_status = 431;
    req->error = "request head too large";
    return HTTP1_ERROR;
}

/* Like http1_parse_request; a response has no leading empty lines and
 * every error is the proxy's 502. */
ssize_t http1_parse_response(const char *buf, size_t len, size_t max_head,
                             int request_is_head, struct http1_response *resp)
{
    const uint8_t *b = (const uint8_t *)buf;
    size_t limit = len < max_head ? len : max_head, check, end;
    ssize_t r;

    resp->error_status = 0;
    resp->error = NULL;
    if (len <= max_head && len >= 4 &&
        memcmp(b + len - 4, "\r\n\r\n", 4) == 0 &&
        (r = response_head(b, len, request_is_head, resp)) != HTTP1_INCOMPLETE)
        return r;
    end = find_head_end(b, 0, limit, &check);
    if (end != 0)
        return response_head(b, end, request_is_head, resp);
    r = response_head(b, check, request_is_head, resp);
    if (r != HTTP1_INCOMPLETE)
        return r;
    if (len < max_head)
        return HTTP1_INCOMPLETE;
    if (check < limit &&
        (r = response_head(b, limit, request_is_head, resp)) != 0)
        return r;
    resp->error_status = 502;
    resp->error = "response head too large";
    return HTTP1_ERROR;
}
