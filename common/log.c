/* One line per event on stderr: time, level, process name, message. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define LOG_NAME_MAX 64
#define LOG_LINE_MAX 1024 /* longer messages are cut, never split */

enum log_level log_threshold = LOG_INFO;
static char log_name[LOG_NAME_MAX] = "sb";

void log_set_name(const char *name)
{
    snprintf(log_name, sizeof(log_name), "%s", name);
}

int log_level_parse(const char *text)
{
    static const char *names[] = {"debug", "info", "warn", "error"};

    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) return i;
    return -1;
}

/* The whole line is formatted first and written with one call, so lines
 * from several processes sharing a log file do not interleave. */
void log_write(enum log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ %s %s ",
                          (int)(tv.tv_usec / 1000), tags[level], log_name);
    if (n < sizeof(line)) {
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (m > 0) n += (size_t)m;
    }
    if (n > sizeof(line) - 2) n = sizeof(line) - 2;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}
