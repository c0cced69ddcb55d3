/* sb-client: flags, the subcommand, and wiring. The work is in run.c.
 *
 *   sb-client watch [--url URL] [--rate R] [--user NAME] [--duration S] ...
 *   sb-client load (--rate R | --clients C) --duration S [--csv FILE] ...
 *
 * Exit status: 0 after a run (failed requests are what it measures, not
 * its own failure), 1 when it could not run, 2 on bad usage. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "report.h"
#include "run.h"
#include "url.h"

#define PROG "sb-client"
#define DEFAULT_URL "http://127.0.0.1:8080"
#define FD_SPARE 32 /* descriptors kept beyond the connections */
#define WATCH_DURATION_MAX 604800 /* a week */
#define LOAD_DURATION_MAX 3600

/* Every flag of both subcommands lands here. */
struct flags {
    const char *url, *path, *user, *password, *csv, *json;
    long rate, clients, duration, timeout_ms, max_inflight;
    int colour; /* 0 auto, 1 always, 2 never */
};

static struct flags f;

static const struct cfg_opt watch_opts[] = {
    {"url", CFG_STR, DEFAULT_URL, 0, 0, NULL,
     "where to send: http://HOST:PORT[/PATH] (the LB, or one backend)", &f.url},
    {"rate", CFG_INT, "5", 1, 100000, NULL, "requests per second", &f.rate},
    {"user", CFG_STR, "alice", 0, 0, NULL,
     "demo user to log in as ('' for anonymous requests)", &f.user},
    {"password", CFG_STR, "switchboard", 0, 0, NULL, "that user's password",
     &f.password},
    {"duration", CFG_INT, "0", 0, WATCH_DURATION_MAX, NULL,
     "seconds to run; 0 runs until Ctrl-C", &f.duration},
    {"path", CFG_STR, NULL, 0, 0, NULL,
     "request path [/feed?limit=5; /users/alice when anonymous]", &f.path},
    {"timeout-ms", CFG_INT, "2000", 1, 600000, NULL,
     "a request without an answer by then counts as 'timeout'",
     &f.timeout_ms},
    {"max-inflight", CFG_INT, "1000", 1, RUN_INFLIGHT_MAX, NULL,
     "requests out at once; beyond, a due request counts as 'overflow'",
     &f.max_inflight},
    {"json", CFG_STR, NULL, 0, 0, NULL,
     "also write the summary to FILE as JSON (for programs: the labs)",
     &f.json},
    {"color", CFG_ENUM, "auto", 0, 0, "auto|always|never",
     "ANSI colour (auto: when stdout is a terminal and NO_COLOR is unset)",
     &f.colour},
};

static const struct cfg_opt load_opts[] = {
    {"rate", CFG_INT, NULL, 1, 1000000, NULL,
     "open loop: start this many requests a second, answered or not",
     &f.rate},
    {"clients", CFG_INT, NULL, 1, RUN_CLIENTS_MAX, NULL,
     "closed loop: this many clients, each sending when answered",
     &f.clients},
    {"duration", CFG_INT, NULL, 1, LOAD_DURATION_MAX, NULL,
     "seconds to run (required)", &f.duration},
    {"url", CFG_STR, DEFAULT_URL, 0, 0, NULL,
     "where to send: http://HOST:PORT[/PATH]", &f.url},
    {"path", CFG_STR, NULL, 0, 0, NULL,
     "request path [/feed?limit=5; /users/alice when anonymous]", &f.path},
    {"user", CFG_STR, "alice", 0, 0, NULL,
     "demo user to log in as first ('' for anonymous requests)", &f.user},
    {"password", CFG_STR, "switchboard", 0, 0, NULL, "that user's password",
     &f.password},
    {"csv", CFG_STR, NULL, 0, 0, NULL,
     "write one row per second to FILE: second,sent,ok,errors,p50_ms,"
     "p99_ms,max_ms,in_flight", &f.csv},
    {"timeout-ms", CFG_INT, "2000", 1, 600000, NULL,
     "a request without an answer by then counts as 'timeout'",
     &f.timeout_ms},
    {"max-inflight", CFG_INT, "1000", 1, RUN_INFLIGHT_MAX, NULL,
     "open loop: requests out at once; beyond, 'overflow'",
     &f.max_inflight},
    {"json", CFG_STR, NULL, 0, 0, NULL,
     "also write the summary to FILE as JSON (for programs: the labs)",
     &f.json},
    {"color", CFG_ENUM, "auto", 0, 0, "auto|always|never",
     "ANSI colour in the table", &f.colour},
};

/* Where run.c writes the --json summary (NULL: nowhere). */
extern FILE *run_json_out;

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))

/* The top-level synopsis (each subcommand has its own --help). */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " watch [options]   a line a second while you break "
            "the cluster\n"
            "       " PROG " load (--rate R | --clients C) --duration S "
            "[options]\n"
            "       " PROG " SUBCOMMAND --help  for its options\n");
}

/* Say what is wrong with the command line and return exit status 2. */
static int bad_usage(const char *sub, const char *why)
{
    if (strstr(why, "--help") != NULL)
        fprintf(stderr, PROG " %s: %s\n", sub, why);
    else
        fprintf(stderr, PROG " %s: %s (see " PROG " %s --help)\n", sub, why, sub);
    return 2;
}

/* Allow as many descriptors as the hard limit lets, and fit the
 * connection count into what we got. */
static long fit_fd_limit(long conns)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return conns;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)(conns + FD_SPARE) > rl.rlim_cur) {
        long fit = (long)rl.rlim_cur - FD_SPARE;
        if (fit < 1) fit = 1;
        log_warn("only %ld connections fit the open-file limit (%llu); using "
                 "that many", fit, (unsigned long long)rl.rlim_cur);
        return fit;
    }
    return conns;
}

int main(int argc, char **argv)
{
    const struct cfg_opt *opts;
    size_t nopts;
    const char *sub;
    struct run_opts o;
    struct url url;
    char err[512];
    enum cfg_result cr;
    int load, rc;

    log_set_name(PROG);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
        strcmp(sub, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(sub, "watch") == 0) {
        load = 0;
        opts = watch_opts;
        nopts = NOPTS(watch_opts);
    } else if (strcmp(sub, "load") == 0) {
        load = 1;
        opts = load_opts;
        nopts = NOPTS(load_opts);
    } else {
        fprintf(stderr, PROG ": unknown subcommand '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    memset(&f, 0, sizeof(f));
    f.duration = -1;
    cr = cfg_parse(opts, nopts, argc, argv, 2, err, sizeof(err));
    if (cr == CFG_HELP) {
        cfg_usage(stdout, load ? PROG " load" : PROG " watch",
                  load ? "(--rate R | --clients C) --duration S [options]"
                       : "[options]",
                  opts, nopts);
        return 0;
    }
    if (cr != CFG_OK) return bad_usage(sub, err);
    if (url_parse(f.url, &url, err, sizeof(err)) != 0)
        return bad_usage(sub, err);
    if (load && f.rate > 0 && f.clients > 0)
        return bad_usage(sub, "--rate (open loop) and --clients (closed loop) "
                              "exclude each other");
    if (load && f.rate == 0 && f.clients == 0)
        return bad_usage(sub, "say --rate R (open loop) or --clients C "
                              "(closed loop)");
    if (load && f.duration < 0) return bad_usage(sub, "--duration S is required");
    if (f.path == NULL) f.path = url.path[0] ? url.path : NULL;
    if (f.path == NULL) f.path = f.user[0] ? "/feed?limit=5" : "/users/alice";
    if (!url_path_ok(f.path))
        return bad_usage(sub, "--path must start with '/' and hold no spaces "
                              "or control characters");

    memset(&o, 0, sizeof(o));
    o.load = load;
    o.url = &url;
    o.path = f.path;
    o.user = f.user;
    o.password = f.password;
    o.rate = f.rate;
    o.clients = f.clients;
    o.duration_s = f.duration;
    o.timeout_ms = f.timeout_ms;
    o.max_inflight = f.max_inflight;
    o.colour = f.colour == 1 ||
               (f.colour == 0 && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL);
    if (o.clients > 0)
        o.clients = fit_fd_limit(o.clients + 1) - 1;
    else
        o.max_inflight = fit_fd_limit(o.max_inflight + 1) - 1;
    if (o.clients < 0 || o.max_inflight < 1) {
        fprintf(stderr, PROG ": the open-file limit leaves no room for "
                        "connections\n");
        return 1;
    }
    if (load && f.csv != NULL) {
        o.csv = fopen(f.csv, "w");
        if (o.csv == NULL) {
            snprintf(err, sizeof(err), "cannot write --csv %s: %m", f.csv);
            return bad_usage(sub, err);
        }
        report_csv_header(o.csv);
    }
    if (f.json != NULL) {
        run_json_out = fopen(f.json, "w");
        if (run_json_out == NULL) {
            snprintf(err, sizeof(err), "cannot write --json %s: %m", f.json);
            if (o.csv != NULL) fclose(o.csv);
            return bad_usage(sub, err);
        }
    }
    /* A write to a connection the server reset must fail with EPIPE, not
     * kill us. */
    signal(SIGPIPE, SIG_IGN);
    rc = run(&o);
    if (o.csv != NULL && fclose(o.csv) != 0) {
        fprintf(stderr, PROG ": writing %s failed\n", f.csv);
        if (rc == 0) rc = 1;
    }
    if (run_json_out != NULL && fclose(run_json_out) != 0) {
        fprintf(stderr, PROG ": writing %s failed\n", f.json);
        if (rc == 0) rc = 1;
    }
    return rc;
}
