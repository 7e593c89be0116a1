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
    .reduce_rows = lt__cpu_reduce_rows,
    .adamw = lt__cpu_adamw,
    .sumsq_acc = lt__cpu_sumsq_acc, .adamw_clipped = lt__cpu_adamw_clipped, .adamw_rows = lt__cpu_adamw_rows,
    .topk = lt__cpu_topk,
    .attention_fwd = lt__cpu_attention_fwd, .attention_bwd = lt__cpu_attention_bwd,
    .bias_gelu_fwd = lt__cpu_bias_gelu_fwd, .bias_gelu_bwd = lt__cpu_bias_gelu_bwd,
    .residual_layernorm_fwd = lt__cpu_residual_layernorm_fwd, .residual_layernorm_bwd = lt__cpu_residual_layernorm_bwd,
    .cast = lt__cpu_cast,
    .mean_pool_fwd = lt__cpu_mean_pool_fwd, .mean_pool_bwd = lt__cpu_mean_pool_bwd,
    .l2norm_fwd = lt__cpu_l2norm_fwd, .l2norm_bwd = lt__cpu_l2norm_bwd,
    .kmeans_assign = lt__cpu_kmeans_assign, .kmeans_update = lt__cpu_kmeans_update,
    .rnn_reserve = lt__cpu_rnn_reserve, .rnn_fwd = lt__cpu_rnn_fwd, .rnn_bwd = lt__cpu_rnn_bwd,
    .rnn_set_impl = NULL, /* one implementation on the CPU */
    .xent_tile_fwd = lt__cpu_xent_tile_fwd, .xent_tile_bwd = lt__cpu_xent_tile_bwd,
    .sampled_prep = lt__cpu_sampled_prep, .sampled_scatter = lt__cpu_sampled_scatter,
    .topk_tile = lt__cpu_topk_tile,
    .ridge_update = lt__cpu_ridge_update, .ridge_score = lt__cpu_ridge_score,
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
