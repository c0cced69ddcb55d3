/* http://HOST[:PORT][/PATH] and nothing cleverer. */
#include "url.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Write a reason into err (may be NULL). */
static void url_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int url_path_ok(const char *path)
{
    size_t n = strlen(path);

    if (n == 0 || path[0] != '/' || n >= URL_PATH_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= ' ' || c == 0x7f || c == '#') return 0;
    }
    return 1;
}

/* Host name characters we accept (names and IPv4 literals). */
static int host_char_ok(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-' || c == '_';
}

int url_parse(const char *text, struct url *out, char *err, size_t errlen)
{
    const char *p, *host, *host_end, *path;
    size_t hostlen;
    long port = 80;
    int v6 = 0;

    memset(out, 0, sizeof(*out));
    if (text == NULL || *text == '\0') {
        url_err(err, errlen, "empty URL (expected http://HOST:PORT/PATH)");
        return -1;
    }
    if (strncasecmp(text, "https://", 8) == 0) {
        url_err(err, errlen, "'%s': https is not supported; sb-client speaks "
                "plain HTTP (e.g. http://127.0.0.1:8080)", text);
        return -1;
    }
    if (strncasecmp(text, "http://", 7) != 0) {
        url_err(err, errlen, "'%s' is not an http:// URL (expected "
                "http://HOST:PORT/PATH)", text);
        return -1;
    }
    host = text + 7;
    if (*host == '[') {
        host++;
        host_end = strchr(host, ']');
        if (host_end == NULL) goto bad;
        for (p = host; p < host_end; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                goto bad;
        p = host_end + 1;
        v6 = 1;
    } else {
        for (p = host; host_char_ok((unsigned char)*p); p++) {}
        host_end = p;
    }
    hostlen = (size_t)(host_end - host);
    if (hostlen == 0) goto bad;
    if (hostlen >= URL_HOST_MAX) {
        url_err(err, errlen, "host name in '%s' is too long", text);
        return -1;
    }
    if (*p == ':') {
        const char *digits = ++p;
        port = 0;
        while (isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (*p++ - '0');
        if (p == digits || port < 1 || port > 65535 ||
            isdigit((unsigned char)*p)) {
            url_err(err, errlen, "bad port in '%s' (expected 1..65535)", text);
            return -1;
        }
    }
    if (*p == '@') {
        url_err(err, errlen, "'%s': user:password@ in URLs is not supported",
                text);
        return -1;
    }
    if (*p != '\0' && *p != '/') goto bad;
    path = p;
    if (*path != '\0' && !url_path_ok(path)) {
        url_err(err, errlen, "bad path in '%s' (no spaces, control characters "
                "or #fragment; under %d bytes)", text, URL_PATH_MAX);
        return -1;
    }
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    out->port = (int)port;
    if (strcmp(path, "/") != 0) snprintf(out->path, sizeof(out->path), "%s", path);
    snprintf(out->hostport, sizeof(out->hostport), v6 ? "[%s]:%d" : "%s:%d",
             out->host, out->port);
    return 0;
bad:
    url_err(err, errlen, "cannot parse '%s' (expected http://HOST:PORT/PATH)",
            text);
    return -1;
}
