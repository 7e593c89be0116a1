/* Logging to stderr with a time stamp relative to process start. */
#include "longtail/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_level = -1; /* -1: not yet read from LONGTAIL_LOG */

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double g_t0;
__attribute__((constructor)) static void lt__log_clock_start(void) { g_t0 = now_mono(); }

double lt_seconds(void) { return now_mono() - g_t0; }

void lt_log_set_level(lt_log_level level) { g_level = (int)level; }

lt_log_level lt_log_get_level(void) {
    if (g_level < 0) {
        const char *e = getenv("LONGTAIL_LOG");
        g_level = LT_LOG_INFO;
        if (e) {
            if (!strcmp(e, "debug")) g_level = LT_LOG_DEBUG;
            else if (!strcmp(e, "warn")) g_level = LT_LOG_WARN;
            else if (!strcmp(e, "error")) g_level = LT_LOG_ERROR;
            else if (!strcmp(e, "off")) g_level = LT_LOG_OFF;
        }
    }
    return (lt_log_level)g_level;
}

void lt_log(lt_log_level level, const char *fmt, ...) {
    if (level < lt_log_get_level()) return;
    static const char tag[] = "DIWE";
    char line[2048];
    int n = snprintf(line, sizeof line, "%8.2fs %c ", lt_seconds(), tag[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line); /* one write per line: lines from threads do not interleave */
}
