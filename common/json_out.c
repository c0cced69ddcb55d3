/* JSON writing without a tree: strings and integers into an evbuffer. */
#include "json_out.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

void json_out_str(struct evbuffer *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    evbuffer_add(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[6];
        size_t elen;

        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        evbuffer_add(b, run, (size_t)(s - run));
        run = s + 1;
        switch (ch) {
        case '"': memcpy(esc, "\\\"", 2); elen = 2; break;
        case '\\': memcpy(esc, "\\\\", 2); elen = 2; break;
        case '\n': memcpy(esc, "\\n", 2); elen = 2; break;
        case '\r': memcpy(esc, "\\r", 2); elen = 2; break;
        case '\t': memcpy(esc, "\\t", 2); elen = 2; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        }
        evbuffer_add(b, esc, elen);
    }
    evbuffer_add(b, run, (size_t)(s - run));
    evbuffer_add(b, "\"", 1);
}

void json_out_int(struct evbuffer *b, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) *--p = '-';
    evbuffer_add(b, p, (size_t)(buf + sizeof(buf) - p));
}
