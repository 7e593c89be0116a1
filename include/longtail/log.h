/* Logging: one line per message on stderr, "12.3s I message". The level comes from
 * lt_log_set_level() or the LONGTAIL_LOG environment variable (debug, info, warn, error). */
#ifndef LONGTAIL_LOG_H
#define LONGTAIL_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LT_LOG_DEBUG = 0, LT_LOG_INFO, LT_LOG_WARN, LT_LOG_ERROR, LT_LOG_OFF } lt_log_level;

void lt_log_set_level(lt_log_level level);
lt_log_level lt_log_get_level(void);
void lt_log(lt_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define lt_debug(...) lt_log(LT_LOG_DEBUG, __VA_ARGS__)
#define lt_info(...) lt_log(LT_LOG_INFO, __VA_ARGS__)
#define lt_warn(...) lt_log(LT_LOG_WARN, __VA_ARGS__)
#define lt_errorf(...) lt_log(LT_LOG_ERROR, __VA_ARGS__)

/* Seconds since the process started (monotonic clock). */
double lt_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
