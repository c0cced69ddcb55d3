/* A small cookie jar: what one browser would keep for one site. It holds
 * the session cookie (sid) and the LB's sticky cookie, and makes the Cookie
 * header sent with every request. Paths, domains and expiry dates are
 * ignored (one site, one run); Max-Age=0 deletes. */
#ifndef SB_CLIENT_JAR_H
#define SB_CLIENT_JAR_H

#include <stddef.h>

#define JAR_COOKIES_MAX 8  /* more distinct names than this are dropped */
#define JAR_NAME_MAX 64
#define JAR_VALUE_MAX 256
#define JAR_HEADER_MAX (JAR_COOKIES_MAX * (JAR_NAME_MAX + JAR_VALUE_MAX + 3))

struct jar_cookie {
    char name[JAR_NAME_MAX];
    char value[JAR_VALUE_MAX];
};

struct jar {
    int n;
    struct jar_cookie c[JAR_COOKIES_MAX];
    char header[JAR_HEADER_MAX]; /* "a=1; sid=x", "" when empty */
};

/* Empty the jar. */
void jar_init(struct jar *j);

/* Apply one Set-Cookie value ("sid=abc; Path=/; HttpOnly"). Returns 1 when
 * the jar changed, 0 when not (same value, malformed, too long, or the jar
 * is full). */
int jar_set(struct jar *j, const char *set_cookie, size_t len);

/* Apply every line of a '\n'-separated list of Set-Cookie values (what
 * struct hresp_head collects). Returns how many changed the jar. */
int jar_set_lines(struct jar *j, const char *lines);

/* The value of cookie name, or NULL. Valid until the jar changes. */
const char *jar_get(const struct jar *j, const char *name);

/* Forget cookie name (e.g. a session the server no longer knows). */
void jar_delete(struct jar *j, const char *name);

/* The Cookie header value for the next request: "" when empty. The pointer
 * stays the same for the jar's life; the text changes with the jar. */
const char *jar_header(const struct jar *j);

#endif
