/* Error names and the per-thread detail message. */
#include "longtail/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[1024];

const char *lt_err_name(int code) {
    switch (code) {
    case LT_OK: return "OK";
#define LT__ERR_NAME(name, val, msg) case LT_##name: return #name;
    LT_ERRNO_MAP(LT__ERR_NAME)
#undef LT__ERR_NAME
    default: return "EUNKNOWN";
    }
}

const char *lt_strerror(int code) {
    switch (code) {
    case LT_OK: return "success";
#define LT__ERR_MSG(name, val, msg) case LT_##name: return msg;
    LT_ERRNO_MAP(LT__ERR_MSG)
#undef LT__ERR_MSG
    default: return "unknown error";
    }
}

int lt_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return code;
}

int lt_error_wrap(int code, const char *fmt, ...) {
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t n = strlen(prefix) < sizeof g_msg - 1 ? strlen(prefix) : sizeof g_msg - 1;
    memcpy(g_msg, prefix, n);
    snprintf(g_msg + n, sizeof g_msg - n, "%s", old[0] ? old : lt_strerror(code));
    return code;
}

const char *lt_last_error(void) { return g_msg; }
void lt_clear_error(void) { g_msg[0] = 0; }
