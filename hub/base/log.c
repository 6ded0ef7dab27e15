#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static sy_log_level_t max_level = SY_LOG_INFO;

void sy_log_set_level(sy_log_level_t level)
{
    max_level = level;
}

void sy_log(sy_log_level_t level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    char line[1024], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level > max_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf per line so lines from several threads do not interleave. */
    fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, names[level], line);
}
