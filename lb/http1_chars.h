/* Byte classes and small text helpers shared by the HTTP/1.1 head parser
 * (http1.c) and the chunked scanner and header helpers (http1_chunked.c).
 * Internal to lb/http1*.c. */
#ifndef SB_HTTP1_CHARS_H
#define SB_HTTP1_CHARS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Byte classes: one table lookup per byte on the hot path. C_TCHAR is a
 * token byte (RFC 9110 5.6.2): methods, field names, codings. */
#define C_TCHAR  0x01
#define C_VALUE  0x02 /* field-value bytes: VCHAR, obs-text, SP, HTAB */
#define C_TARGET 0x04 /* request-target bytes: anything but CTL, SP and DEL */
#define C_HOST   0x08 /* Host: reg-name, IP-literal and port characters */
#define C_HEX    0x10
#define C_REQID  0x20 /* X-Request-Id we keep: [A-Za-z0-9._:-] */

/* clang-format off */
static const unsigned char cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 00 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 10 */
     2, 15,  6,  7, 15, 15, 15, 15, 14, 14, 15, 15, 14, 47, 47,  6,  /* 20 */
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 46, 14,  6, 14,  6,  6,  /* 30 */
     6, 63, 63, 63, 63, 63, 63, 47, 47, 47, 47, 47, 47, 47, 47, 47,  /* 40 */
    47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 14,  6, 14,  7, 47,  /* 50 */
     7, 63, 63, 63, 63, 63, 63, 47, 47, 47, 47, 47, 47, 47, 47, 47,  /* 60 */
    47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47,  6,  7,  6, 15,  0,  /* 70 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 80 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 90 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* a0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* b0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* c0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* d0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* e0 */
     6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* f0 */
};
/* clang-format on */

static inline int is(unsigned char c, unsigned char class)
{
    return (cls[c] & class) != 0;
}

static inline int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Drop OWS from both ends of [*s, *e). */
static inline void trim(const uint8_t **s, const uint8_t **e)
{
    while (*s < *e && is_ows(**s))
        (*s)++;
    while (*e > *s && is_ows((*e)[-1]))
        (*e)--;
}

/* The end of the comma-list element starting at p in [p, end). */
static inline const uint8_t *element_end(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *comma = memchr(p, ',', (size_t)(end - p));

    return comma != NULL ? comma : end;
}

/* The longest client X-Request-Id we keep. */
#define REQUEST_ID_MAX 128
/* Hex digits in a chunk size: 15 keep it below 2^60, 16 could overflow. */
#define CHUNK_DIGITS_MAX 15
/* The same for bytes nobody checked (a caller's header name): exact
 * ASCII case folding. */
static inline int same_nocase(const uint8_t *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

#define IS_NAME(s, n, lit)                                                     \
    ((n) == sizeof(lit) - 1 && same_nocase((s), (lit), sizeof(lit) - 1))

#endif
