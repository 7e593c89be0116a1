/* The CPU backend: host memory, the op table, and BLAS set-up. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"
#include "longtail/log.h"

static int cpu_alloc(lt_backend *be, void **ptr, size_t nbytes) {
    /* 64-byte alignment: whole cache lines, and AVX-512 loads never straddle two */
    if (posix_memalign(ptr, 64, (nbytes + 63) & ~(size_t)63)) {
        *ptr = NULL;
        return lt_error(LT_ENOMEM, "cpu: cannot allocate %zu bytes", nbytes);
    }
    return 0;
}

static void cpu_free(lt_backend *be, void *ptr) { free(ptr); }

/* Large copies and fills (activations, gradient buffers) are split over the threads: one core
 * alone does not reach the memory bandwidth, and the others would only wait for it. */
#define CPU_MEM_PAR_MIN ((size_t)1 << 20)

static int cpu_memcpy(lt_backend *be, void *dst, lt_device dd, const void *src, lt_device sd, size_t n) {
    char *d = dst;
    const char *s = src;
    if (n < CPU_MEM_PAR_MIN || (d < s + n && s < d + n)) { /* small, or overlapping: one memmove */
        memmove(dst, src, n);
        return 0;
    }
#pragma omp parallel
    {
        size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        memcpy(d + n * t / nt, s + n * t / nt, n * (t + 1) / nt - n * t / nt);
    }
    return 0;
}

static int cpu_memset0(lt_backend *be, void *ptr, size_t n) {
    if (n < CPU_MEM_PAR_MIN) {
        memset(ptr, 0, n);
        return 0;
    }
#pragma omp parallel
    {
        size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        memset((char *)ptr + n * t / nt, 0, n * (t + 1) / nt - n * t / nt);
    }
    return 0;
}

static int cpu_sync(lt_backend *be) { return 0; }

static const lt_backend_ops cpu_ops = {
    .alloc = cpu_alloc, .free = cpu_free, .memcpy = cpu_memcpy, .memset0 = cpu_memset0,
    .sync = cpu_sync, .release = NULL,
#define LT_OP(name, params) .name = lt__cpu_##name,
#include "core/op_list.h"
};

/* GEMM goes through the gemm slot, which needs BLAS; if no BLAS loads, every other op still
 * works and gemm reports why it cannot. */
static int gemm_without_blas(lt_backend *be, const lt_gemm_desc *d) {
    int rc = lt__blas_open(1);
    if (rc < 0) return rc;
    lt__blas_single_thread();
    return lt__cpu_gemm(be, d);
}

lt_backend *lt__cpu_backend_create(void) {
    static lt_backend be;
    static lt_backend_ops ops;
    ops = cpu_ops;
    be.name = "cpu";
    be.device = LT_CPU;
    be.math = LT_MATH_FP32;
    if (lt__blas_open(1) < 0) {
        lt_warn("cpu backend: %s", lt_last_error());
        ops.gemm = gemm_without_blas;
    } else {
        lt__blas_single_thread(); /* one pool of threads: see blas.c */
    }
    be.ops = &ops;
    snprintf(be.describe, sizeof be.describe, "cpu: %d OpenMP threads (GEMMs split over them); BLAS: %s; bf16 math: %s",
             omp_get_max_threads(), lt__blas_describe(), lt__dnnl_describe());
    return &be;
}
