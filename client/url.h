/* The one URL shape sb-client speaks: http://HOST[:PORT][/PATH]. */
#ifndef SB_CLIENT_URL_H
#define SB_CLIENT_URL_H

#include <stddef.h>

#define URL_HOST_MAX 256  /* a DNS name is at most 253 characters */
#define URL_PATH_MAX 2048 /* request target, query included */

struct url {
    char host[URL_HOST_MAX]; /* without brackets for IPv6 literals */
    int port;                /* 80 when the URL names none */
    char path[URL_PATH_MAX]; /* "" when the URL has none (or just "/") */
    char hostport[URL_HOST_MAX + 8]; /* for the Host header: "h:p", "[v6]:p" */
};

/* Parse text into out. https:// and other schemes are refused with a
 * reason saying so; so are user:password@, fragments, spaces and control
 * characters. Returns 0, or -1 with a one-line reason in err. */
int url_parse(const char *text, struct url *out, char *err, size_t errlen);

/* 1 when path is a usable request target: starts with '/', no spaces or
 * control characters, shorter than URL_PATH_MAX. */
int url_path_ok(const char *path);

#endif
