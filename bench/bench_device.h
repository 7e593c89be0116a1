/* The device a benchmark's GPU section runs on: CUDA device 0, or with LONGTAIL_BENCH_DEVICE=guard the
 * guarded device (src/cpu/guard.c: the CPU's kernels on memory only ops may touch, behind a device that is
 * not the host's), so the section's host code takes every branch it takes on CUDA, and a host access to
 * device memory aborts with a backtrace, on a machine without a GPU. The numbers are then CPU numbers; the
 * JSON keys stay the cuda_* / gpu_* ones gpu-check reads, and the JSON says "device": "guard".
 * PyTorch peers still ask for CUDA (and report themselves skipped where torch sees none).
 * As tests/testutil.h's tu_gpu does for the tests (LONGTAIL_TEST_DEVICE=guard). */
#ifndef LONGTAIL_BENCH_DEVICE_H
#define LONGTAIL_BENCH_DEVICE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/backend.h"
#include "longtail/error.h"

static inline int bench_guard_mode(void) {
    const char *e = getenv("LONGTAIL_BENCH_DEVICE");
    return e && !strcmp(e, "guard");
}

/* "guard" or "cuda": what the GPU section's JSON calls its device */
static inline const char *bench_gpu_name(void) { return bench_guard_mode() ? "guard" : "cuda"; }

/* The GPU section's backend; < 0 (the reason in lt_last_error) when there is none. */
static inline int bench_gpu(lt_backend **out) {
    const char *e = getenv("LONGTAIL_BENCH_DEVICE");
    *out = NULL;
    if (e && *e && strcmp(e, "guard") && strcmp(e, "cuda"))
        return lt_error(LT_EINVAL, "LONGTAIL_BENCH_DEVICE=%s: expected guard or cuda", e);
    if (bench_guard_mode())
        printf("(LONGTAIL_BENCH_DEVICE=guard: the GPU section runs on the guarded device, CPU kernels; "
               "its numbers are CPU numbers)\n");
    return lt_backend_open(out, bench_gpu_name());
}

#endif
