/* Error codes, libuv style: functions return 0 on success or a negative LT_E* code.
 * The code says what kind of failure it was; the thread-local detail message says where
 * (file, line, field, shapes). Callers print lt_last_error() or pass the code up. */
#ifndef LONGTAIL_ERROR_H
#define LONGTAIL_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#define LT_ERRNO_MAP(X)                                                  \
    X(EINVAL,   -1,  "invalid argument")                                 \
    X(ESHAPE,   -2,  "tensor shape mismatch")                            \
    X(EDTYPE,   -3,  "unsupported or mismatched dtype")                  \
    X(EDEVICE,  -4,  "tensor on the wrong device")                       \
    X(ENOMEM,   -5,  "out of memory")                                    \
    X(EIO,      -6,  "i/o error")                                        \
    X(EFORMAT,  -7,  "malformed input")                                  \
    X(ESCHEMA,  -8,  "unknown or unsupported file schema")               \
    X(ENOENT,   -9,  "no such file, dataset or key")                     \
    X(ECUDA,    -10, "CUDA error")                                       \
    X(ENOTSUP,  -11, "not supported in this build")                      \
    X(ECONFIG,  -12, "bad configuration")                                \
    X(ENODEV,   -13, "no such device")                                   \
    X(ERANGE,   -14, "value out of range")                               \
    X(ETIMEDOUT, -15, "timed out")                                       \
    X(ECOMM,    -16, "communication between ranks failed")

typedef enum {
    LT_OK = 0,
#define LT__ERR_ENUM(name, val, msg) LT_##name = val,
    LT_ERRNO_MAP(LT__ERR_ENUM)
#undef LT__ERR_ENUM
} lt_errno;

/* "EINVAL", "ESHAPE", ... and their one-line descriptions. */
const char *lt_err_name(int code);
const char *lt_strerror(int code);

/* Record a detailed message for the current thread and return `code`, so call sites read
 *     if (rows < 0) return lt_error(LT_EINVAL, "layernorm: rows=%lld", rows);          */
int lt_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefix the current message with more context ("loading foo.h5: " + old message). */
int lt_error_wrap(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The detail message of the last lt_error() on this thread ("" if none). */
const char *lt_last_error(void);
void lt_clear_error(void);

/* Propagate a failure: LT_TRY(lt_foo(...)); */
#define LT_TRY(expr)                 \
    do {                             \
        int lt__rc = (expr);         \
        if (lt__rc < 0) return lt__rc; \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
