/* The lines and tables sb-client prints. */
#include "report.h"

#include <string.h>

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RED "\033[1;31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"

/* The escape sequence when colour is on, "" otherwise. */
static const char *col(const struct report_run *run, const char *code)
{
    return run->colour ? code : "";
}

void report_ms(char *buf, size_t len, int64_t us)
{
    double ms = (double)us / 1000.0;

    if (us < 0)
        snprintf(buf, len, "-");
    else if (ms < 10.0)
        snprintf(buf, len, "%.2fms", ms);
    else if (ms < 100.0)
        snprintf(buf, len, "%.1fms", ms);
    else
        snprintf(buf, len, "%.0fms", ms);
}

void report_watch_header(FILE *out, const struct report_run *run)
{
    fprintf(out, "%ssb-client watch: GET %s%s%s, %ld req/s%s%s\n",
            col(run, C_BOLD), run->target, run->user[0] ? " as " : "",
            run->user, run->rate,
            run->duration_s > 0 ? "" : " (Ctrl-C for the summary)",
            col(run, C_RESET));
    fflush(out);
}

void report_watch_line(FILE *out, const struct report_run *run,
                       const struct stats *s, time_t now)
{
    const struct stats_window *w = &s->second;
    char stamp[16], p50[16], p99[16], served[REPORT_LINE_MAX],
        errors[REPORT_LINE_MAX];
    struct tm tm;
    int failed = w->errors > 0;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
    report_ms(p50, sizeof(p50), hist_percentile(&w->hist, 50.0));
    report_ms(p99, sizeof(p99), hist_percentile(&w->hist, 99.0));
    stats_format_served(s, w, served, sizeof(served));
    stats_format_errors(w, errors, sizeof(errors));
    fprintf(out,
            "%s%s%s  sent %4llu  ok %s%4llu%s  err %s%4llu%s  p50 %8s  "
            "p99 %8s  %s",
            col(run, C_DIM), stamp, col(run, C_RESET),
            (unsigned long long)w->sent, col(run, failed ? "" : C_GREEN),
            (unsigned long long)w->ok, col(run, failed ? "" : C_RESET),
            col(run, failed ? C_RED : C_DIM), (unsigned long long)w->errors,
            col(run, C_RESET), p50, p99, served[0] ? served : "-");
    if (failed)
        fprintf(out, "  %serrors %s%s", col(run, C_RED), errors,
                col(run, C_RESET));
    fputc('\n', out);
    fflush(out);
}

/* "p50 1.21ms  p90 2.00ms  p99 8.00ms  max 31.0ms" of a histogram. */
static void latency_line(char *buf, size_t len, const struct hist *h)
{
    char p50[16], p90[16], p99[16], max[16];

    report_ms(p50, sizeof(p50), hist_percentile(h, 50.0));
    report_ms(p90, sizeof(p90), hist_percentile(h, 90.0));
    report_ms(p99, sizeof(p99), hist_percentile(h, 99.0));
    report_ms(max, sizeof(max), hist_percentile(h, 100.0));
    snprintf(buf, len, "p50 %s  p90 %s  p99 %s  max %s", p50, p90, p99, max);
}

void report_watch_summary(FILE *out, const struct report_run *run,
                          const struct stats *s)
{
    const struct stats_window *t = &s->total;
    char buf[REPORT_LINE_MAX];

    fprintf(out, "%s--- summary: %.1f s of GET %s%s%s ---%s\n",
            col(run, C_BOLD), run->elapsed_s, run->target,
            run->user[0] ? " as " : "", run->user, col(run, C_RESET));
    fprintf(out, "requests  sent %llu  ok %llu  errors %s%llu%s  unfinished %d\n",
            (unsigned long long)t->sent, (unsigned long long)t->ok,
            col(run, t->errors ? C_RED : ""), (unsigned long long)t->errors,
            col(run, t->errors ? C_RESET : ""), run->unfinished);
    stats_format_errors(t, buf, sizeof(buf));
    fprintf(out, "errors    %s%s%s\n", col(run, t->errors ? C_RED : ""),
            buf[0] ? buf : "none", col(run, t->errors ? C_RESET : ""));
    latency_line(buf, sizeof(buf), &t->hist);
    fprintf(out, "latency   %s\n", buf);
    stats_format_served(s, t, buf, sizeof(buf));
    fprintf(out, "served    %s\n", buf[0] ? buf : "-");
    if (run->user[0])
        fprintf(out, "logins    %llu (%llu after a 401, %llu failed)\n",
                (unsigned long long)s->logins, (unsigned long long)s->relogins,
                (unsigned long long)s->login_failures);
    fflush(out);
}

void report_load_table(FILE *out, const struct report_run *run,
                       const struct stats *s)
{
    const struct stats_window *t = &s->total;
    char served[REPORT_LINE_MAX], v[16];
    double secs = run->elapsed_s > 0 ? run->elapsed_s : 1.0;

    if (run->rate > 0)
        fprintf(out, "%ssb-client load: open loop, %ld req/s for %ld s",
                col(run, C_BOLD), run->rate, run->duration_s);
    else
        fprintf(out, "%ssb-client load: closed loop, %ld clients for %ld s",
                col(run, C_BOLD), run->clients, run->duration_s);
    fprintf(out, ", GET %s%s%s%s\n", run->target, run->user[0] ? " as " : "",
            run->user, col(run, C_RESET));
    fprintf(out, "  %-14s %llu\n", "sent", (unsigned long long)t->sent);
    fprintf(out, "  %-14s %llu\n", "ok", (unsigned long long)t->ok);
    fprintf(out, "  %-14s %s%llu%s\n", "errors", col(run, t->errors ? C_RED : ""),
            (unsigned long long)t->errors, col(run, t->errors ? C_RESET : ""));
    for (int st = 0; st < STATS_STATUS_MAX; st++)
        if (t->status[st] > 0)
            fprintf(out, "    %-12d %llu\n", st, (unsigned long long)t->status[st]);
    for (int k = 0; k < KIND_COUNT; k++)
        if (t->kind[k] > 0)
            fprintf(out, "    %-12s %llu\n", stats_kind_name(k),
                    (unsigned long long)t->kind[k]);
    fprintf(out, "  %-14s %d\n", "unfinished", run->unfinished);
    fprintf(out, "  %-14s %.1f req/s ok (%.1f sent/s over %.2f s)\n",
            "throughput", (double)t->ok / secs, (double)t->sent / secs, secs);
    report_ms(v, sizeof(v), hist_percentile(&t->hist, 50.0));
    fprintf(out, "  %-14s %s\n", "latency p50", v);
    report_ms(v, sizeof(v), hist_percentile(&t->hist, 90.0));
    fprintf(out, "  %-14s %s\n", "        p90", v);
    report_ms(v, sizeof(v), hist_percentile(&t->hist, 99.0));
    fprintf(out, "  %-14s %s\n", "        p99", v);
    report_ms(v, sizeof(v), hist_percentile(&t->hist, 100.0));
    fprintf(out, "  %-14s %s\n", "        max", v);
    stats_format_served(s, t, served, sizeof(served));
    fprintf(out, "  %-14s %s\n", "served by", served[0] ? served : "-");
    if (run->user[0])
        fprintf(out, "  %-14s %llu (%llu after a 401, %llu failed)\n", "logins",
                (unsigned long long)s->logins, (unsigned long long)s->relogins,
                (unsigned long long)s->login_failures);
    fflush(out);
}

void report_csv_header(FILE *out)
{
    fprintf(out, "second,sent,ok,errors,p50_ms,p99_ms,max_ms,in_flight\n");
}

/* A latency cell: milliseconds with 3 decimals, empty when none. */
static void csv_ms(char *buf, size_t len, int64_t us)
{
    if (us < 0)
        buf[0] = '\0';
    else
        snprintf(buf, len, "%.3f", (double)us / 1000.0);
}

void report_csv_row(FILE *out, long n, const struct stats_window *w,
                    int in_flight)
{
    char p50[24], p99[24], max[24];

    csv_ms(p50, sizeof(p50), hist_percentile(&w->hist, 50.0));
    csv_ms(p99, sizeof(p99), hist_percentile(&w->hist, 99.0));
    csv_ms(max, sizeof(max), hist_percentile(&w->hist, 100.0));
    fprintf(out, "%ld,%llu,%llu,%llu,%s,%s,%s,%d\n", n,
            (unsigned long long)w->sent, (unsigned long long)w->ok,
            (unsigned long long)w->errors, p50, p99, max, in_flight);
    fflush(out);
}
