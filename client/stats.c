/* Counting requests, failures, latency and backends. */
#include "stats.h"

#include <stdio.h>
#include <string.h> /* strverscmp (_GNU_SOURCE) */

#define STATS_OTHER "other" /* where names past STATS_BACKENDS_MAX go */

void stats_init(struct stats *s)
{
    memset(s, 0, sizeof(*s));
}

const char *stats_kind_name(enum stats_kind k)
{
    static const char *names[KIND_COUNT] = {
        "logged-out", "refused",      "reset", "timeout",
        "unreachable", "bad-response", "local", "overflow"};

    return (unsigned)k < KIND_COUNT ? names[k] : "?";
}

void stats_sent(struct stats *s, int next)
{
    (next ? &s->next : &s->second)->sent++;
    s->total.sent++;
}

/* Index of a backend name, adding it when new; the last slot is "other"
 * once the table is full. */
static int stats_name_index(struct stats *s, const char *name)
{
    if (name[0] == '\0') name = "?";
    for (int i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i], name) == 0) return i;
    if (s->nnames == STATS_BACKENDS_MAX - 1) {
        snprintf(s->names[s->nnames], STATS_BACKEND_NAME_MAX, "%s", STATS_OTHER);
        return s->nnames++;
    }
    if (s->nnames == STATS_BACKENDS_MAX) return STATS_BACKENDS_MAX - 1;
    snprintf(s->names[s->nnames], STATS_BACKEND_NAME_MAX, "%s", name);
    return s->nnames++;
}

/* Count one failure of kind in w. */
static void window_fail(struct stats_window *w, enum stats_kind kind)
{
    w->errors++;
    w->kind[kind]++;
}

void stats_answer(struct stats *s, int next, int status, int64_t latency_us,
                  const char *served_by)
{
    int b = stats_name_index(s, served_by);
    struct stats_window *ws[2] = {next ? &s->next : &s->second, &s->total};

    for (int i = 0; i < 2; i++) {
        struct stats_window *w = ws[i];
        hist_record(&w->hist, latency_us);
        w->served[b]++;
        if (status >= 200 && status < 400) {
            w->ok++;
        } else if (status == 401) {
            window_fail(w, KIND_LOGGED_OUT);
        } else {
            w->errors++;
            w->status[status > 0 && status < STATS_STATUS_MAX ? status : 0]++;
        }
    }
}

void stats_fail(struct stats *s, int next, enum stats_kind kind)
{
    window_fail(next ? &s->next : &s->second, kind);
    window_fail(&s->total, kind);
}

void stats_next_second(struct stats *s)
{
    memcpy(&s->second, &s->next, sizeof(s->second));
    memset(&s->next, 0, sizeof(s->next));
}

/* snprintf that never runs past len and returns the new used length. */
static size_t append(char *buf, size_t len, size_t used, const char *name,
                     uint64_t n)
{
    int w;

    if (used >= len) return used;
    w = snprintf(buf + used, len - used, "%s%s:%llu", used > 0 ? " " : "", name,
                 (unsigned long long)n);
    if (w < 0) return used;
    return used + (size_t)w < len ? used + (size_t)w : len - 1;
}

size_t stats_format_errors(const struct stats_window *w, char *buf, size_t len)
{
    size_t used = 0;
    char code[16]; /* an int in decimal */

    buf[0] = '\0';
    for (int st = 0; st < STATS_STATUS_MAX; st++) {
        if (w->status[st] == 0) continue;
        snprintf(code, sizeof(code), "%d", st);
        used = append(buf, len, used, code, w->status[st]);
    }
    for (int k = 0; k < KIND_COUNT; k++)
        if (w->kind[k] > 0)
            used = append(buf, len, used, stats_kind_name(k), w->kind[k]);
    return used;
}

size_t stats_format_served(const struct stats *s, const struct stats_window *w,
                           char *buf, size_t len)
{
    int order[STATS_BACKENDS_MAX];
    size_t used = 0;

    /* In name order, numbers compared as numbers (backend-2 < backend-10),
     * so each backend keeps its place from line to line. */
    for (int i = 0; i < s->nnames; i++) {
        int j = i;
        while (j > 0 && strverscmp(s->names[order[j - 1]], s->names[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    buf[0] = '\0';
    for (int i = 0; i < s->nnames; i++)
        if (w->served[order[i]] > 0)
            used = append(buf, len, used, s->names[order[i]], w->served[order[i]]);
    return used;
}
