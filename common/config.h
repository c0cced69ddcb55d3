/* Command-line flags and environment variables from one table.
 *
 * Every option is a row: name, type, default, bounds, help text and where the
 * value goes. Parsing, --help and validation all read the same rows, so a flag
 * cannot exist without its help line or its bounds. Each flag --some-name also
 * reads the environment variable SB_SOME_NAME; the flag wins over the
 * variable, the variable over the default. */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type {
    CFG_STR,      /* target: const char **            */
    CFG_INT,      /* target: long *, within [min,max] */
    CFG_HOSTPORT, /* target: struct hostport *        */
    CFG_ENUM,     /* target: int *, index into choices ("a|b|c") */
    CFG_FLAG,     /* target: int *, set to 1 when present; takes no value */
    CFG_LIST      /* target: struct cfg_list *; repeatable flag, or a
                     comma-separated variable */
};

#define CFG_LIST_MAX 64

struct cfg_list {
    const char *items[CFG_LIST_MAX];
    int n;
};

#define CFG_HOST_MAX 256

struct hostport {
    char host[CFG_HOST_MAX];
    int port;
};

struct cfg_opt {
    const char *name;    /* "listen" is --listen and SB_LISTEN */
    enum cfg_type type;
    const char *def;     /* default as text; NULL leaves the target as it is */
    long min, max;       /* CFG_INT bounds, inclusive */
    const char *choices; /* CFG_ENUM: "redis|memory" */
    const char *help;
    void *target;
};

enum cfg_result {
    CFG_OK = 0,
    CFG_HELP = 1,  /* --help or -h was given: print usage, exit 0 */
    CFG_ERROR = -1 /* err holds one line saying which option and why */
};

/* Apply defaults, then SB_* variables, then argv[first..argc). On error
 * writes a one-line reason into err (when not NULL). Positional arguments are
 * an error: subcommands are split off by the caller first. */
enum cfg_result cfg_parse(const struct cfg_opt *opts, size_t nopts, int argc,
                          char **argv, int first, char *err, size_t errlen);

/* Print "usage: PROG SYNOPSIS" and one line per option with its default. */
void cfg_usage(FILE *out, const char *prog, const char *synopsis,
               const struct cfg_opt *opts, size_t nopts);

/* Parse "HOST:PORT", "[V6]:PORT" or ":PORT" (host "0.0.0.0"). The port must
 * be 1..65535 unless allow_zero. Returns 0, or -1 with a reason in err. */
int cfg_parse_hostport(const char *text, struct hostport *out, int allow_zero,
                       char *err, size_t errlen);

#endif
