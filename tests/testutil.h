/* Tiny test helpers shared by the test programs: CHECK macros that print file:line, a fresh seed
 * that is printed (set LONGTAIL_TEST_SEED to repeat a run), and paths to the shared datasets. */
#ifndef LONGTAIL_TESTUTIL_H
#define LONGTAIL_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "beauty.h" /* read_file */
#include "longtail/backend.h"
#include "longtail/error.h"

static int tu_failures;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
            tu_failures++;                                                                \
        }                                                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                                              \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            tu_failures++;                                                                \
        }                                                                                 \
    } while (0)

/* Call must succeed (rc >= 0); otherwise print the error and stop the test program. */
#define OK(call)                                                                          \
    do {                                                                                  \
        int tu__rc = (call);                                                              \
        if (tu__rc < 0) {                                                                 \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call,      \
                    lt_err_name(tu__rc), lt_last_error());                                \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* Call must fail with `code` and its message must contain `needle`. */
#define FAILS_WITH(call, code, needle)                                                    \
    do {                                                                                  \
        lt_clear_error();                                                                 \
        int tu__rc = (call);                                                              \
        CHECK_MSG(tu__rc == (code), "%s returned %s, expected %s (%s)", #call,            \
                  lt_err_name(tu__rc), lt_err_name(code), lt_last_error());               \
        CHECK_MSG(strstr(lt_last_error(), (needle)) != NULL,                              \
                  "message '%s' does not mention '%s'", lt_last_error(), (needle));       \
    } while (0)

/* The backend the tests' CUDA cases run on: CUDA device 0 (as lt_backend_cuda: < 0 when there is
 * none), or with LONGTAIL_TEST_DEVICE=guard the guarded device (src/cpu/guard.c: the CPU's kernels
 * on memory only ops may touch). On the guarded device the cases compare the CPU with itself, so
 * they check their own host code (uploads, downloads, device buffers, which backend they hand what)
 * before a GPU runs them. */
static inline int tu_guard_mode(void) {
    const char *e = getenv("LONGTAIL_TEST_DEVICE");
    return e && !strcmp(e, "guard");
}
/* whether tu_gpu will give a backend, without opening one */
static inline int tu_have_gpu(void) { return tu_guard_mode() || lt_cuda_device_count() > 0; }
static inline int tu_gpu(lt_backend **out) {
    if (tu_guard_mode()) {
        static int said;
        if (!said++) printf("(LONGTAIL_TEST_DEVICE=guard: the CUDA cases run on the guarded device, CPU kernels)\n");
    }
    return lt_backend_open(out, tu_guard_mode() ? "guard" : "cuda");
}

static inline unsigned long long tu_seed(void) {
    const char *e = getenv("LONGTAIL_TEST_SEED");
    unsigned long long s = e ? strtoull(e, NULL, 0)
                             : ((unsigned long long)time(NULL) * 2654435761ull) ^ (unsigned long long)getpid();
    printf("seed = %llu (LONGTAIL_TEST_SEED=%llu repeats this run)\n", s, s);
    return s;
}

/* The source tree (for fixtures and corpora): $LONGTAIL_SOURCE_DIR, else where CMake saw it. */
static inline const char *tu_source_dir(void) {
    const char *src = getenv("LONGTAIL_SOURCE_DIR");
#ifdef LONGTAIL_SOURCE_DIR_DEFAULT
    if (!src) src = LONGTAIL_SOURCE_DIR_DEFAULT;
#endif
    return src ? src : ".";
}

/* ../shared/datasets relative to the source tree, or NULL (tests then skip with exit code 77). */
static inline const char *tu_datasets(void) {
    static char path[4096];
    const char *src = tu_source_dir();
    const char *over = getenv("LONGTAIL_DATASETS");
    if (over) snprintf(path, sizeof path, "%s", over);
    else snprintf(path, sizeof path, "%s/../shared/datasets", src);
    return access(path, R_OK) == 0 ? path : NULL;
}

static inline int tu_finish(const char *name) {
    if (tu_failures) {
        fprintf(stderr, "%s: %d check%s FAILED\n", name, tu_failures, tu_failures == 1 ? "" : "s");
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
