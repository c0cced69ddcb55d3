/* Flags and environment variables from one table of options. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CFG_ENV_MAX 64 /* longest SB_* variable name we build */

/* Write a formatted reason into err, which may be NULL. */
static void cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Strict decimal: the whole string, no blanks, fits in a long. */
static int cfg_parse_long(const char *text, long *out)
{
    char *end;
    long v;

    if (text == NULL || *text == '\0' || isspace((unsigned char)*text))
        return -1;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = v;
    return 0;
}

int cfg_parse_hostport(const char *text, struct hostport *out, int allow_zero,
                       char *err, size_t errlen)
{
    const char *colon, *host = text;
    size_t hostlen;
    long port;

    if (text == NULL || *text == '\0') {
        cfg_err(err, errlen, "expected HOST:PORT, got an empty value");
        return -1;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') goto bad;
        host = text + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL) goto bad;
        hostlen = (size_t)(colon - text);
        if (memchr(text, ':', hostlen) != NULL) goto bad; /* bare IPv6 */
    }
    if (hostlen >= sizeof(out->host)) {
        cfg_err(err, errlen, "host name in '%s' is too long", text);
        return -1;
    }
    for (size_t i = 0; i < hostlen; i++) {
        unsigned char c = (unsigned char)host[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':')
            goto bad;
    }
    if (cfg_parse_long(colon + 1, &port) != 0 || port < (allow_zero ? 0 : 1) ||
        port > 65535) {
        cfg_err(err, errlen, "bad port in '%s' (expected %d..65535)", text,
                allow_zero ? 0 : 1);
        return -1;
    }
    if (hostlen == 0) {
        strcpy(out->host, "0.0.0.0");
    } else {
        memcpy(out->host, host, hostlen);
        out->host[hostlen] = '\0';
    }
    out->port = (int)port;
    return 0;
bad:
    cfg_err(err, errlen, "expected HOST:PORT, got '%s'", text);
    return -1;
}

/* Index of word in a "a|b|c" list, or -1. */
static int cfg_choice(const char *choices, const char *word)
{
    size_t wlen = strlen(word);
    int idx = 0;

    for (const char *p = choices; *p != '\0'; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == wlen && strncmp(p, word, len) == 0) return idx;
        if (bar == NULL) break;
        p = bar + 1;
    }
    return -1;
}

/* Store one textual value into the option's target, checking its bounds.
 * origin names where the value came from ("--capacity", "SB_CAPACITY"). */
static int cfg_apply(const struct cfg_opt *o, const char *value,
                     const char *origin, char *err, size_t errlen)
{
    char why[160];
    long v;
    int idx;

    switch (o->type) {
    case CFG_STR:
        *(const char **)o->target = value;
        return 0;
    case CFG_INT:
        if (cfg_parse_long(value, &v) != 0) {
            cfg_err(err, errlen, "%s: '%s' is not a whole number", origin,
                    value);
            return -1;
        }
        if (v < o->min || v > o->max) {
            cfg_err(err, errlen, "%s: %ld is out of range (%ld..%ld)", origin,
                    v, o->min, o->max);
            return -1;
        }
        *(long *)o->target = v;
        return 0;
    case CFG_HOSTPORT:
        if (cfg_parse_hostport(value, o->target, 0, why, sizeof(why)) != 0) {
            cfg_err(err, errlen, "%s: %s", origin, why);
            return -1;
        }
        return 0;
    case CFG_ENUM:
        idx = cfg_choice(o->choices, value);
        if (idx < 0) {
            cfg_err(err, errlen, "%s: '%s' is not one of %s", origin, value,
                    o->choices);
            return -1;
        }
        *(int *)o->target = idx;
        return 0;
    case CFG_LIST: {
        struct cfg_list *l = o->target;
        if (l->n >= CFG_LIST_MAX) {
            cfg_err(err, errlen, "%s: more than %d values", origin,
                    CFG_LIST_MAX);
            return -1;
        }
        l->items[l->n++] = value;
        return 0;
    }
    case CFG_FLAG:
        if (value == NULL || strcmp(value, "1") == 0 ||
            strcmp(value, "true") == 0 || strcmp(value, "yes") == 0) {
            *(int *)o->target = 1;
        } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
                   strcmp(value, "no") == 0 || value[0] == '\0') {
            *(int *)o->target = 0;
        } else {
            cfg_err(err, errlen, "%s: '%s' is not 1/0/true/false", origin,
                    value);
            return -1;
        }
        return 0;
    }
    return -1;
}

/* A list from a variable: "a,b,c". The pieces are kept in a copy that
 * lives as long as the process, like argv. */
static int cfg_apply_list_env(const struct cfg_opt *o, const char *value,
                              const char *origin, char *err, size_t errlen)
{
    char *copy = strdup(value), *save = NULL;

    if (copy == NULL) {
        cfg_err(err, errlen, "%s: out of memory", origin);
        return -1;
    }
    for (char *tok = strtok_r(copy, ", ", &save); tok != NULL;
         tok = strtok_r(NULL, ", ", &save))
        if (cfg_apply(o, tok, origin, err, errlen) != 0) return -1;
    return 0;
}

/* "session-ttl" -> "SB_SESSION_TTL". */
static void cfg_env_name(const char *name, char *out, size_t outlen)
{
    size_t i = 0, j = 3;

    memcpy(out, "SB_", 3);
    for (; name[i] != '\0' && j + 1 < outlen; i++, j++)
        out[j] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    out[j] = '\0';
}

static const struct cfg_opt *cfg_find(const struct cfg_opt *opts,
                                      size_t nopts, const char *name,
                                      size_t len)
{
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

enum cfg_result cfg_parse(const struct cfg_opt *opts, size_t nopts, int argc,
                          char **argv, int first, char *err, size_t errlen)
{
    char env[CFG_ENV_MAX], origin[CFG_ENV_MAX + 8];

    for (size_t i = 0; i < nopts; i++) {
        const struct cfg_opt *o = &opts[i];
        const char *value;

        if (o->def != NULL &&
            cfg_apply(o, o->def, o->name, err, errlen) != 0)
            return CFG_ERROR; /* a bad default is our bug; say so */
        cfg_env_name(o->name, env, sizeof(env));
        value = getenv(env);
        if (value != NULL && o->type == CFG_LIST) {
            if (cfg_apply_list_env(o, value, env, err, errlen) != 0)
                return CFG_ERROR;
        } else if (value != NULL &&
                   cfg_apply(o, value, env, err, errlen) != 0) {
            return CFG_ERROR;
        }
    }
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *value;
        const struct cfg_opt *o;
        size_t len;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return CFG_HELP;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            cfg_err(err, errlen, "unexpected argument '%s'", arg);
            return CFG_ERROR;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        o = cfg_find(opts, nopts, name, len);
        if (o == NULL) {
            cfg_err(err, errlen, "unknown option '--%.*s' (see --help)",
                    (int)len, name);
            return CFG_ERROR;
        }
        snprintf(origin, sizeof(origin), "--%s", o->name);
        if (o->type == CFG_FLAG && eq == NULL) {
            value = NULL;
        } else if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            cfg_err(err, errlen, "%s needs a value", origin);
            return CFG_ERROR;
        }
        if (cfg_apply(o, value, origin, err, errlen) != 0) return CFG_ERROR;
    }
    return CFG_OK;
}

void cfg_usage(FILE *out, const char *prog, const char *synopsis,
               const struct cfg_opt *opts, size_t nopts)
{
    char env[CFG_ENV_MAX], flag[64];

    fprintf(out, "usage: %s %s\n\noptions (each also read from its SB_* "
                 "environment variable):\n", prog, synopsis);
    for (size_t i = 0; i < nopts; i++) {
        const struct cfg_opt *o = &opts[i];
        const char *arg = o->type == CFG_INT        ? " N"
                          : o->type == CFG_HOSTPORT ? " HOST:PORT"
                          : o->type == CFG_ENUM     ? " WHICH"
                          : o->type == CFG_STR      ? " VALUE"
                          : o->type == CFG_LIST     ? " VALUE..."
                                                    : "";
        cfg_env_name(o->name, env, sizeof(env));
        snprintf(flag, sizeof(flag), "--%s%s", o->name, arg);
        fprintf(out, "  %-26s %s", flag, o->help);
        if (o->type == CFG_ENUM) fprintf(out, " (%s)", o->choices);
        if (o->def != NULL) fprintf(out, " [%s]", o->def);
        fprintf(out, " {%s}\n", env);
    }
    fprintf(out, "  %-26s %s\n", "--help", "show this help and exit");
}
