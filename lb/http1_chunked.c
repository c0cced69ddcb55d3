/* Chunked framing as the bytes stream through, and the small header
 * helpers the proxy uses when it rewrites a head (hop-by-hop, request ids,
 * names). See http1.h. */
#include "http1.h"
#include "http1_chars.h"

#include <string.h>

/* Where http1_chunked_scan stands between two bytes. */
enum chunk_state {
    CH_SIZE,    /* hex digits of a chunk size */
    CH_SIZE_WS, /* BWS after the size: only ";" may follow */
    CH_EXT,     /* chunk extensions, up to the CR */
    CH_SIZE_LF, /* the LF ending the size line */
    CH_DATA,    /* remaining bytes of chunk data */
    CH_DATA_CR, /* the CRLF after chunk data */
    CH_DATA_LF,
    CH_TRAILER_START, /* a trailer field's name, or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_FINAL_LF,
    CH_DONE,
    CH_ERROR /* sticky: a broken framing stays broken */
};

/* A scanner before the first chunk-size line. */
void http1_chunked_init(struct http1_chunked *c)
{
    c->state = CH_SIZE;
    c->remaining = 0;
    c->line_len = 0;
    c->trailer_len = 0;
}

/* The value of a byte already known to be a hex digit. */
static int hex_value(unsigned char c)
{
    return c <= '9' ? c - '0' : lower(c) - 'a' + 10;
}

/* One byte at a time through the framing, but chunk data is skipped in
 * one step, so a body costs a few operations per chunk, not per byte. The
 * size accumulates in c->remaining and its digits are counted by
 * c->line_len, so the state survives any split of the input. Trailers are
 * checked like header fields (a token, a colon, no CTL but HTAB): a
 * backend that merges them into the head must not see what we would
 * refuse there. */
ssize_t http1_chunked_scan(struct http1_chunked *c, const char *data,
                           size_t len, int *done)
{
    const uint8_t *p = (const uint8_t *)data, *end = p + len;

    *done = 0;
    if (c->state == CH_DONE) {
        *done = 1;
        return 0;
    }
    while (p < end && c->state != CH_ERROR) {
        unsigned char ch;

        if (c->state == CH_DATA) { /* the bulk: skip data without looking */
            size_t n = (size_t)(end - p) < c->remaining ? (size_t)(end - p)
                                                        : c->remaining;

            p += n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        ch = *p++;
        if (c->state <= CH_SIZE_LF && ++c->line_len > HTTP1_CHUNK_LINE_MAX) {
            c->state = CH_ERROR;
            break;
        }
        if (c->state >= CH_TRAILER_START &&
            ++c->trailer_len > HTTP1_TRAILERS_MAX) {
            c->state = CH_ERROR;
            break;
        }
        switch (c->state) {
        case CH_SIZE:
            if (is(ch, C_HEX) && c->line_len <= CHUNK_DIGITS_MAX)
                c->remaining = c->remaining * 16 + (uint64_t)hex_value(ch);
            else if (is(ch, C_HEX))
                c->state = CH_ERROR; /* 16 digits could overflow */
            else if (c->line_len == 1)
                c->state = CH_ERROR; /* no digit: whitespace, sign, "0x" */
            else if (ch == ';')
                c->state = CH_EXT;
            else if (is_ows(ch))
                c->state = CH_SIZE_WS;
            else
                c->state = ch == '\r' ? CH_SIZE_LF : CH_ERROR;
            break;
        case CH_SIZE_WS:
            if (ch == ';')
                c->state = CH_EXT;
            else if (!is_ows(ch))
                c->state = CH_ERROR;
            break;
        case CH_EXT:
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (!is(ch, C_VALUE))
                c->state = CH_ERROR;
            break;
        case CH_SIZE_LF:
            c->line_len = 0;
            if (ch != '\n')
                c->state = CH_ERROR;
            else if (c->remaining == 0)
                c->state = CH_TRAILER_START; /* the last chunk */
            else
                c->state = CH_DATA;
            break;
        case CH_DATA_CR: c->state = ch == '\r' ? CH_DATA_LF : CH_ERROR; break;
        case CH_DATA_LF: c->state = ch == '\n' ? CH_SIZE : CH_ERROR; break;
        case CH_TRAILER_START:
            if (ch == '\r')
                c->state = CH_FINAL_LF;
            else
                c->state = is(ch, C_TCHAR) ? CH_TRAILER_NAME : CH_ERROR;
            break;
        case CH_TRAILER_NAME:
            if (ch == ':')
                c->state = CH_TRAILER_VALUE;
            else if (!is(ch, C_TCHAR))
                c->state = CH_ERROR;
            break;
        case CH_TRAILER_VALUE:
            if (ch == '\r')
                c->state = CH_TRAILER_LF;
            else if (!is(ch, C_VALUE))
                c->state = CH_ERROR;
            break;
        case CH_TRAILER_LF:
            c->state = ch == '\n' ? CH_TRAILER_START : CH_ERROR;
            break;
        case CH_FINAL_LF:
            if (ch != '\n') {
                c->state = CH_ERROR;
                break;
            }
            c->state = CH_DONE;
            *done = 1;
            return p - (const uint8_t *)data;
        }
    }
    return c->state == CH_ERROR ? -1 : p - (const uint8_t *)data;
}

/* Called for every field the proxy forwards: the fixed names are found by
 * length first, then the Connection list is walked. The name comes from
 * the caller, so case is folded exactly (IS_NAME). */
int http1_is_hop_by_hop(const char *name, size_t name_len,
                        const struct http1_header *connection)
{
    const uint8_t *n = (const uint8_t *)name;

    switch (name_len) {
    case 2:
        if (IS_NAME(n, name_len, "te"))
            return 1;
        break;
    case 7:
        if (IS_NAME(n, name_len, "trailer") || IS_NAME(n, name_len, "upgrade"))
            return 1;
        break;
    case 10:
        if (IS_NAME(n, name_len, "connection") ||
            IS_NAME(n, name_len, "keep-alive"))
            return 1;
        break;
    case 16:
        if (IS_NAME(n, name_len, "proxy-connection"))
            return 1;
        break;
    case 18:
        if (IS_NAME(n, name_len, "proxy-authenticate"))
            return 1;
        break;
    case 19:
        if (IS_NAME(n, name_len, "proxy-authorization"))
            return 1;
        break;
    }
    if (connection == NULL || name_len == 0)
        return 0;
    /* A client must not make us drop framing or Host by listing them:
     * forwarding a body without its Content-Length is request smuggling. */
    if (IS_NAME(n, name_len, "content-length") ||
        IS_NAME(n, name_len, "transfer-encoding") ||
        IS_NAME(n, name_len, "host"))
        return 0;
    const uint8_t *v = (const uint8_t *)connection->value,
                  *ve = v + connection->value_len;
    for (const uint8_t *p = v;; p++) {
        const uint8_t *s = p, *e = element_end(p, ve), *next = e;

        trim(&s, &e);
        if ((size_t)(e - s) == name_len) {
            size_t i = 0;

            while (i < name_len && lower(s[i]) == lower(n[i]))
                i++;
            if (i == name_len)
                return 1;
        }
        p = next;
        if (p == ve)
            return 0;
    }
}

/* We log and forward the id, so it must not carry anything a log line or
 * a header could be split with. */
int http1_valid_request_id(const char *value, size_t len)
{
    if (len == 0 || len > REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is((unsigned char)value[i], C_REQID))
            return 0;
    return 1;
}

/* For the proxy's own lookups; name is a C string literal of ours, so
 * strlen on it is fine (never on the buffer). */
int http1_name_is(const struct http1_header *h, const char *name)
{
    size_t n = strlen(name);

    if (h->name_len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)h->name[i]) != lower((unsigned char)name[i]))
            return 0;
    return 1;
}
