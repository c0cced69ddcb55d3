/* HTTP/1.x response heads and body framing, from bytes. */
#include "http_resp.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Chunked framing states: size line, data, CRLF after data, trailers. */
enum {
    CH_SIZE,
    CH_EXT,
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,
    CH_TRAILER_LINE,
    CH_END_LF,
    CH_DONE
};

/* tchar from RFC 9110: what a header name may contain. */
static int is_tchar(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Is [name, name+len) the header name want, in any case? */
static int name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Trim spaces and tabs from both ends of [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

/* Strict decimal within HRESP_LENGTH_MAX. Returns 0 or -1. */
static int parse_length(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0) return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > HRESP_LENGTH_MAX) return -1;
    }
    *out = v;
    return 0;
}

/* Does the comma-separated list [s, s+len) hold token (any case)? With
 * last_only, only its final element counts (Transfer-Encoding). */
static int list_has(const char *s, size_t len, const char *token,
                    int last_only)
{
    int found = 0;

    while (len > 0) {
        const char *comma = memchr(s, ',', len);
        size_t n = comma ? (size_t)(comma - s) : len;
        const char *item = s;
        size_t ilen = n;

        trim(&item, &ilen);
        found = name_is(item, ilen, token) ? 1 : (last_only ? 0 : found);
        if (comma == NULL) break;
        s = comma + 1;
        len -= n + 1;
    }
    return found;
}

/* Copy an X-Served-By value, keeping only characters that are safe to put
 * on a terminal. */
static void copy_served_by(char *dst, const char *s, size_t len)
{
    size_t n = len < HRESP_SERVED_BY_MAX - 1 ? len : HRESP_SERVED_BY_MAX - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-')
                     ? (char)c
                     : '?';
    }
    dst[n] = '\0';
}

/* Append one Set-Cookie value and a '\n', if it fits whole. */
static void add_cookie(struct hresp_head *h, size_t *used, const char *s,
                       size_t len)
{
    if (*used + len + 2 > HRESP_COOKIES_MAX) return;
    memcpy(h->cookies + *used, s, len);
    *used += len;
    h->cookies[(*used)++] = '\n';
    h->cookies[*used] = '\0';
}

/* Record why a head was refused; returns -1 for the caller to pass on. */
static int head_fail(struct hresp_head *h, const char *why)
{
    h->error = why;
    return -1;
}

int hresp_head_parse(const char *buf, size_t len, int head_request,
                     struct hresp_head *out)
{
    const char *p = buf, *end = buf + len, *eol;
    size_t linelen, cookies_used = 0;
    int has_length = 0, te = 0, chunked = 0, conn_close = 0, conn_ka = 0;
    unsigned nheaders = 0;
    uint64_t length = 0;

    out->status = 0;
    out->minor = 0;
    out->keep_alive = 0;
    out->body = HRESP_BODY_CLOSE;
    out->length = 0;
    out->served_by[0] = '\0';
    out->cookies[0] = '\0';
    out->error = NULL;

    eol = memchr(p, '\n', len);
    if (eol == NULL) return head_fail(out, "no status line");
    linelen = (size_t)(eol - p);
    if (linelen > 0 && p[linelen - 1] == '\r') linelen--;
    if (linelen < 12 || memcmp(p, "HTTP/1.", 7) != 0 ||
        !isdigit((unsigned char)p[7]) || p[8] != ' ' ||
        !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
        !isdigit((unsigned char)p[11]) || (linelen > 12 && p[12] != ' '))
        return head_fail(out, "bad status line");
    out->minor = p[7] - '0';
    out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (out->status < 100) return head_fail(out, "bad status code");
    p = eol + 1;

    for (;;) {
        const char *line = p, *colon, *value;
        size_t namelen, vlen;

        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) return head_fail(out, "head does not end with a blank line");
        linelen = (size_t)(eol - p);
        if (linelen > 0 && p[linelen - 1] == '\r') linelen--;
        p = eol + 1;
        if (linelen == 0) break;
        if (++nheaders > HRESP_HEADERS_MAX) return head_fail(out, "too many headers");
        if (line[0] == ' ' || line[0] == '\t')
            return head_fail(out, "folded header line");
        colon = memchr(line, ':', linelen);
        if (colon == NULL || colon == line) return head_fail(out, "bad header line");
        namelen = (size_t)(colon - line);
        for (size_t i = 0; i < namelen; i++)
            if (!is_tchar((unsigned char)line[i]))
                return head_fail(out, "bad header name");
        value = colon + 1;
        vlen = linelen - namelen - 1;
        for (size_t i = 0; i < vlen; i++) {
            unsigned char c = (unsigned char)value[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return head_fail(out, "control character in a header");
        }
        trim(&value, &vlen);
        if (name_is(line, namelen, "content-length")) {
            uint64_t v;
            if (parse_length(value, vlen, &v) != 0)
                return head_fail(out, "bad Content-Length");
            if (has_length && v != length)
                return head_fail(out, "conflicting Content-Length headers");
            has_length = 1;
            length = v;
        } else if (name_is(line, namelen, "transfer-encoding")) {
            te = 1;
            chunked = list_has(value, vlen, "chunked", 1);
        } else if (name_is(line, namelen, "connection")) {
            conn_close |= list_has(value, vlen, "close", 0);
            conn_ka |= list_has(value, vlen, "keep-alive", 0);
        } else if (name_is(line, namelen, "x-served-by")) {
            copy_served_by(out->served_by, value, vlen);
        } else if (name_is(line, namelen, "set-cookie")) {
            add_cookie(out, &cookies_used, value, vlen);
        }
    }
    if (p != end) return head_fail(out, "bytes after the end of the head");

    if (head_request || out->status < 200 || out->status == 204 ||
        out->status == 304)
        out->body = HRESP_BODY_NONE;
    else if (te)
        out->body = chunked ? HRESP_BODY_CHUNKED : HRESP_BODY_CLOSE;
    else if (has_length)
        out->body = HRESP_BODY_LENGTH;
    else
        out->body = HRESP_BODY_CLOSE;
    out->length = length;
    out->keep_alive = out->minor >= 1 ? !conn_close : conn_ka && !conn_close;
    /* Both framings at once smells of smuggling: finish this one, then
     * do not trust the connection again. */
    if (out->body == HRESP_BODY_CLOSE || (te && has_length)) out->keep_alive = 0;
    return 0;
}

void hresp_body_init(struct hresp_body *b, const struct hresp_head *head)
{
    memset(b, 0, sizeof(*b));
    b->mode = head->body;
    b->remaining = head->body == HRESP_BODY_LENGTH ? head->length : 0;
    b->state = CH_SIZE;
}

/* Value of a hex digit, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (unsigned char)tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Record why the body framing is bad; returns HRESP_ERROR. */
static enum hresp_result body_error(struct hresp_body *b, const char *why)
{
    b->error = why;
    return HRESP_ERROR;
}

/* A chunk size line has ended: data follows, or the trailers. */
static void chunk_size_done(struct hresp_body *b)
{
    b->remaining = b->chunk;
    b->state = b->chunk == 0 ? CH_TRAILER_START : CH_DATA;
}

/* The chunked framing, byte by byte (data runs are skipped in one step). */
static enum hresp_result chunked_feed(struct hresp_body *b, const char *data,
                                      size_t len, size_t *used)
{
    size_t i = 0;

    while (i < len && b->state != CH_DONE) {
        unsigned char c = (unsigned char)data[i];
        int h;

        switch (b->state) {
        case CH_SIZE:
            h = hexval(c);
            if (h >= 0) {
                if (b->chunk > (HRESP_LENGTH_MAX >> 4))
                    return body_error(b, "chunk too large");
                b->chunk = (b->chunk << 4) | (uint64_t)h;
                b->digits++;
            } else if (b->digits == 0) {
                return body_error(b, "bad chunk size");
            } else if (c == ';' || c == ' ' || c == '\t') {
                b->state = CH_EXT;
            } else if (c == '\r') {
                b->state = CH_SIZE_LF;
            } else if (c == '\n') {
                chunk_size_done(b);
            } else {
                return body_error(b, "bad chunk size");
            }
            i++;
            break;
        case CH_EXT:
            if (c == '\r') b->state = CH_SIZE_LF;
            else if (c == '\n') chunk_size_done(b);
            else if (++b->trailer > HRESP_TRAILER_MAX)
                return body_error(b, "chunk extension too long");
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n') return body_error(b, "bad chunk size line");
            chunk_size_done(b);
            i++;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > b->remaining) n = (size_t)b->remaining;
            i += n;
            b->bytes += n;
            b->remaining -= n;
            if (b->remaining == 0) b->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c == '\n') {
                b->state = CH_SIZE;
            } else if (c == '\r') {
                b->state = CH_DATA_LF;
            } else {
                return body_error(b, "chunk data not followed by CRLF");
            }
            b->chunk = 0;
            b->digits = 0;
            i++;
            break;
        case CH_DATA_LF:
            if (c != '\n') return body_error(b, "chunk data not followed by CRLF");
            b->state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER_START:
            b->state = c == '\r' ? CH_END_LF : c == '\n' ? CH_DONE : CH_TRAILER_LINE;
            i++;
            break;
        case CH_TRAILER_LINE:
            if (++b->trailer > HRESP_TRAILER_MAX)
                return body_error(b, "trailers too long");
            if (c == '\n') b->state = CH_TRAILER_START;
            i++;
            break;
        case CH_END_LF:
            if (c != '\n') return body_error(b, "bad end of chunked body");
            b->state = CH_DONE;
            i++;
            break;
        }
    }
    *used = i;
    return b->state == CH_DONE ? HRESP_DONE : HRESP_MORE;
}

enum hresp_result hresp_body_feed(struct hresp_body *b, const char *data,
                                  size_t len, size_t *used)
{
    size_t n;

    *used = 0;
    switch (b->mode) {
    case HRESP_BODY_NONE:
        return HRESP_DONE;
    case HRESP_BODY_LENGTH:
        n = (uint64_t)len > b->remaining ? (size_t)b->remaining : len;
        b->remaining -= n;
        b->bytes += n;
        *used = n;
        return b->remaining == 0 ? HRESP_DONE : HRESP_MORE;
    case HRESP_BODY_CLOSE:
        b->bytes += len;
        *used = len;
        return HRESP_MORE;
    case HRESP_BODY_CHUNKED:
        return chunked_feed(b, data, len, used);
    }
    return body_error(b, "unknown body mode");
}

enum hresp_result hresp_body_eof(struct hresp_body *b)
{
    switch (b->mode) {
    case HRESP_BODY_NONE:
    case HRESP_BODY_CLOSE:
        return HRESP_DONE;
    case HRESP_BODY_LENGTH:
        return b->remaining == 0 ? HRESP_DONE
                                 : body_error(b, "connection closed mid-body");
    case HRESP_BODY_CHUNKED:
        return b->state == CH_DONE ? HRESP_DONE
                                   : body_error(b, "connection closed mid-body");
    }
    return HRESP_ERROR;
}
