/* The cookies of one client, and the Cookie header they make. */
#include "jar.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void jar_init(struct jar *j)
{
    memset(j, 0, sizeof(*j));
}

/* Rebuild the Cookie header from the cookies, in the order they came. */
static void jar_rebuild(struct jar *j)
{
    size_t used = 0;

    j->header[0] = '\0';
    for (int i = 0; i < j->n; i++) {
        int n = snprintf(j->header + used, sizeof(j->header) - used, "%s%s=%s",
                         i > 0 ? "; " : "", j->c[i].name, j->c[i].value);
        if (n < 0 || (size_t)n >= sizeof(j->header) - used) break;
        used += (size_t)n;
    }
}

/* Index of the cookie named [name, name+len), or -1. */
static int jar_find(const struct jar *j, const char *name, size_t len)
{
    for (int i = 0; i < j->n; i++)
        if (strlen(j->c[i].name) == len && strncmp(j->c[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Drop cookie i, keeping the order of the others. */
static void jar_remove(struct jar *j, int i)
{
    memmove(&j->c[i], &j->c[i + 1], (size_t)(j->n - i - 1) * sizeof(j->c[0]));
    j->n--;
    jar_rebuild(j);
}

/* Does the attribute list [s, s+len) say Max-Age=0 (or negative)? */
static int says_expired(const char *s, size_t len)
{
    while (len > 0) {
        const char *semi = memchr(s, ';', len);
        size_t n = semi ? (size_t)(semi - s) : len;
        const char *a = s;
        size_t alen = n;

        while (alen > 0 && (*a == ' ' || *a == '\t')) {
            a++;
            alen--;
        }
        if (alen > 8 && strncasecmp(a, "max-age=", 8) == 0) {
            char num[24];
            size_t dl = alen - 8 < sizeof(num) - 1 ? alen - 8 : sizeof(num) - 1;
            memcpy(num, a + 8, dl);
            num[dl] = '\0';
            if (atol(num) <= 0) return 1;
        }
        if (semi == NULL) break;
        s = semi + 1;
        len -= n + 1;
    }
    return 0;
}

int jar_set(struct jar *j, const char *sc, size_t len)
{
    const char *eq, *semi, *value;
    size_t namelen, vlen;
    int i;

    semi = memchr(sc, ';', len);
    eq = memchr(sc, '=', semi ? (size_t)(semi - sc) : len);
    if (eq == NULL || eq == sc) return 0;
    namelen = (size_t)(eq - sc);
    value = eq + 1;
    vlen = (semi ? (size_t)(semi - value) : len - namelen - 1);
    while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t')) vlen--;
    if (namelen >= JAR_NAME_MAX || vlen >= JAR_VALUE_MAX) return 0;
    for (size_t k = 0; k < namelen; k++)
        if (!isgraph((unsigned char)sc[k]) || sc[k] == ',') return 0;
    for (size_t k = 0; k < vlen; k++)
        if (!isgraph((unsigned char)value[k]) || value[k] == ',') return 0;
    i = jar_find(j, sc, namelen);
    if (semi != NULL && says_expired(semi + 1, len - (size_t)(semi + 1 - sc))) {
        if (i < 0) return 0;
        jar_remove(j, i);
        return 1;
    }
    if (i < 0) {
        if (j->n >= JAR_COOKIES_MAX) return 0;
        i = j->n++;
        memcpy(j->c[i].name, sc, namelen);
        j->c[i].name[namelen] = '\0';
        j->c[i].value[0] = '\0';
    } else if (strlen(j->c[i].value) == vlen &&
               strncmp(j->c[i].value, value, vlen) == 0) {
        return 0;
    }
    memcpy(j->c[i].value, value, vlen);
    j->c[i].value[vlen] = '\0';
    jar_rebuild(j);
    return 1;
}

int jar_set_lines(struct jar *j, const char *lines)
{
    int changed = 0;

    while (*lines != '\0') {
        const char *nl = strchr(lines, '\n');
        size_t n = nl ? (size_t)(nl - lines) : strlen(lines);
        changed += jar_set(j, lines, n);
        if (nl == NULL) break;
        lines = nl + 1;
    }
    return changed;
}

const char *jar_get(const struct jar *j, const char *name)
{
    int i = jar_find(j, name, strlen(name));

    return i < 0 ? NULL : j->c[i].value;
}

void jar_delete(struct jar *j, const char *name)
{
    int i = jar_find(j, name, strlen(name));

    if (i >= 0) jar_remove(j, i);
}

const char *jar_header(const struct jar *j)
{
    return j->header;
}
