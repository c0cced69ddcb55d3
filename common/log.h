/* Leveled one-line logging to stderr with a UTC timestamp.
 * The macros test the level before formatting, so a skipped line costs one
 * comparison. */
#ifndef SB_LOG_H
#define SB_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_threshold;

/* Name printed on every line (the process id, e.g. "backend-9001"). The
 * string is copied. */
void log_set_name(const char *name);

/* Parse "debug|info|warn|error"; returns -1 for anything else. */
int log_level_parse(const char *text);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                                                       \
    do {                                                                       \
        if ((lvl) >= log_threshold) log_write((lvl), __VA_ARGS__);             \
    } while (0)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
