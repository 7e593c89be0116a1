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

static int cpu_memcpy(lt_backend *be, void *dst, lt_device dd, const void *src, lt_device sd, size_t n) {
    memmove(dst, src, n);
    return 0;
}

static int cpu_memset0(lt_backend *be, void *ptr, size_t n) {
    memset(ptr, 0, n);
    return 0;
}

static int cpu_sync(lt_backend *be) { return 0; }

static const lt_backend_ops cpu_ops = {
    .alloc = cpu_alloc, .free = cpu_free, .memcpy = cpu_memcpy, .memset0 = cpu_memset0,
    .sync = cpu_sync, .release = NULL,
    .gemm = lt__cpu_gemm,
    .bias_add = lt__cpu_bias_add, .bias_bwd = lt__cpu_bias_bwd,
    .gelu_fwd = lt__cpu_gelu_fwd, .gelu_bwd = lt__cpu_gelu_bwd,
    .layernorm_fwd = lt__cpu_layernorm_fwd, .layernorm_bwd = lt__cpu_layernorm_bwd,
    .softmax_fwd = lt__cpu_softmax_fwd, .softmax_bwd = lt__cpu_softmax_bwd,
    .xent_fwd = lt__cpu_xent_fwd, .xent_bwd = lt__cpu_xent_bwd,
    .embedding_fwd = lt__cpu_embedding_fwd, .embedding_bwd = lt__cpu_embedding_bwd,
    .dropout = lt__cpu_dropout,
    .add = lt__cpu_add, .mul = lt__cpu_mul, .scale = lt__cpu_scale, .axpy = lt__cpu_axpy,
    .mul_acc = lt__cpu_mul_acc, .fill = lt__cpu_fill,
    .reduce_rows = lt__cpu_reduce_rows, .sumsq = lt__cpu_sumsq,
    .adamw = lt__cpu_adamw,
    .topk = lt__cpu_topk,
    .kmeans_assign = lt__cpu_kmeans_assign, .kmeans_update = lt__cpu_kmeans_update,
};

/* GEMM goes through the gemm slot, which needs BLAS; if no BLAS loads, every other op still
 * works and gemm reports why it cannot. */
static int gemm_without_blas(lt_backend *be, const lt_gemm_desc *d) {
    int rc = lt__blas_open(1);
    return rc < 0 ? rc : lt__cpu_gemm(be, d);
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
    }
    be.ops = &ops;
    snprintf(be.describe, sizeof be.describe, "cpu: %d OpenMP threads; BLAS: %s", omp_get_max_threads(),
             lt__blas_describe());
    return &be;
}
