/* The CPU backend's pieces, shared by the files in src/cpu/. Each function has exactly the
 * signature of its slot in lt_backend_ops (src/core/backend_impl.h). */
#ifndef LONGTAIL_CPU_H
#define LONGTAIL_CPU_H

#include "core/backend_impl.h"

/* ---- BLAS, loaded at start-up (blas.c) ---- */
enum { LT_CBLAS_ROW_MAJOR = 101, LT_CBLAS_NO_TRANS = 111, LT_CBLAS_TRANS = 112 };
typedef void (*lt_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float *a, int lda, const float *b, int ldb, float beta, float *c,
                            int ldc);
extern lt_sgemm_fn lt__sgemm;
/* Load the BLAS library. fix_coretype = 1 picks OpenBLAS's kernel from CPUID first (the engine
 * does this); 0 leaves the environment alone (bench/gemm measures the alternatives with it). */
int lt__blas_open(int fix_coretype);
/* Make BLAS calls run on the calling thread only (the backend splits GEMMs over OpenMP, gemm.c);
 * -1 when the library has no knob for it. */
int lt__blas_single_thread(void);
/* "OpenBLAS 0.3.21 Cooperlake kernels (set by longtail), 2 threads" */
const char *lt__blas_describe(void);
/* The kernel family this CPU supports, by CPUID feature bits ("Cooperlake", "SkylakeX",
 * "Haswell", "Sandybridge"), or NULL when none beyond the baseline applies. */
const char *lt__cpu_coretype(void);

int lt__cpu_gemm(lt_backend *be, const lt_gemm_desc *d);
/* bf16 GEMMs through oneDNN (dnnl.c), used by lt__cpu_gemm when lt_math is LT_MATH_BF16.
 * available: 1 when this build has oneDNN and the CPU has bf16 instructions (AMX or AVX512-BF16);
 * gemm: 0 done, 1 declined (run sgemm instead), < 0 error. */
int lt__dnnl_available(void);
const char *lt__dnnl_describe(void);
int lt__dnnl_gemm(const lt_gemm_desc *d);
/* C[m,n] = alpha op(A) op(B) + beta C in fp32: one BLAS call on the calling thread (no-op when m, n
 * or k is 0) */
void lt__cpu_sgemm1(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

int lt__cpu_bias_add(lt_backend *be, float *y, const float *bias, int64_t rows, int64_t cols);
int lt__cpu_bias_bwd(lt_backend *be, float *dbias, const float *dy, int64_t rows, int64_t cols);
int lt__cpu_gelu_fwd(lt_backend *be, float *y, const float *x, int64_t n);
int lt__cpu_gelu_bwd(lt_backend *be, float *dx, const float *dy, const float *x, int64_t n);
int lt__cpu_layernorm_fwd(lt_backend *be, float *y, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int64_t rows, int64_t cols, float eps);
int lt__cpu_layernorm_bwd(lt_backend *be, float *dx, float *dw, float *db, const float *dy,
                          const float *x, const float *w, const float *mean, const float *rstd,
                          int64_t rows, int64_t cols);
int lt__cpu_softmax_fwd(lt_backend *be, float *y, const float *x, const int32_t *lens,
                        int64_t rows_per_len, int64_t rows, int64_t cols, float scale);
int lt__cpu_softmax_bwd(lt_backend *be, float *dx, const float *dy, const float *y, int64_t rows,
                        int64_t cols, float scale);
int lt__cpu_xent_fwd(lt_backend *be, float *loss, float *lse, const float *logits,
                     const int32_t *targets, int64_t rows, int64_t vocab, int ignore_index);
int lt__cpu_xent_bwd(lt_backend *be, float *dlogits, const float *logits, const float *lse,
                     const int32_t *targets, const float *dloss, int64_t rows, int64_t vocab,
                     int ignore_index);
int lt__cpu_embedding_fwd(lt_backend *be, float *out, const float *table, const int32_t *ids,
                          int64_t n, int64_t vocab, int64_t dim);
int lt__cpu_embedding_bwd(lt_backend *be, float *dtable, const float *dout, const int32_t *ids,
                          int64_t n, int64_t vocab, int64_t dim, int32_t skip);
int lt__cpu_dropout(lt_backend *be, float *y, const float *x, int64_t n, float p, uint64_t seed,
                    uint64_t stream, int accumulate);

int lt__cpu_add(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
int lt__cpu_mul(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
int lt__cpu_scale(lt_backend *be, float *y, const float *x, float alpha, int64_t n);
int lt__cpu_axpy(lt_backend *be, float *y, float alpha, const float *x, int64_t n);
int lt__cpu_mul_acc(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
int lt__cpu_fill(lt_backend *be, float *y, float value, int64_t n);
int lt__cpu_reduce_rows(lt_backend *be, float *y, const float *x, int64_t rows, int64_t cols,
                        lt_reduce op);
int lt__cpu_sumsq_acc(lt_backend *be, float *acc, const float *x, int64_t n);
int lt__cpu_adamw_clipped(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                          const lt_adamw_cfg *c, int64_t step, float grad_scale, const float *sumsq, float max_norm);
int lt__cpu_adamw_rows(lt_backend *be, float *p, const float *g, float *m, float *v, float *bpow, int64_t rows,
                       int64_t cols, const lt_adamw_cfg *c, float grad_scale, const float *sumsq, float max_norm);
float lt__clip_multiplier(float sumsq, float grad_scale, float max_norm);
int lt__cpu_adamw(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                  const lt_adamw_cfg *cfg, int64_t step, float grad_scale);
int lt__cpu_topk(lt_backend *be, float *vals, int32_t *idx, const float *x, int64_t rows,
                 int64_t cols, int k);

/* transformer blocks (transformer.c): f32 activations; bf16 is refused with LT_ENOTSUP (cast handles both) */
int lt__cpu_attention_fwd(lt_backend *be, void *out, float *lse, const void *qkv, const int32_t *lens, lt_dtype dt,
                          int64_t B, int64_t T, int64_t H, int64_t D, float scale, int causal);
int lt__cpu_attention_bwd(lt_backend *be, void *dqkv, const void *dout, const void *qkv, const void *out,
                          const float *lse, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t H,
                          int64_t D, float scale, int causal);
int lt__cpu_bias_gelu_fwd(lt_backend *be, void *y, const void *x, const float *bias, lt_dtype dt, int64_t rows,
                          int64_t cols);
int lt__cpu_bias_gelu_bwd(lt_backend *be, void *dx, float *dbias, const void *dy, const void *x, const float *bias,
                          lt_dtype dt, int64_t rows, int64_t cols);
int lt__cpu_residual_layernorm_fwd(lt_backend *be, void *y, void *s, float *mean, float *rstd, const void *a,
                                   const void *b, const float *w, const float *beta, lt_dtype dt, int64_t rows,
                                   int64_t cols, float eps);
int lt__cpu_residual_layernorm_bwd(lt_backend *be, void *da, void *db, float *dw, float *dbeta, const void *dy,
                                   const void *s, const float *w, const float *mean, const float *rstd, lt_dtype dt,
                                   int64_t rows, int64_t cols);
int lt__cpu_cast(lt_backend *be, void *y, lt_dtype yt, const void *x, lt_dtype xt, int64_t n);
int lt__cpu_mean_pool_fwd(lt_backend *be, float *out, const float *x, const int32_t *lens, int64_t B, int64_t T,
                          int64_t C);
int lt__cpu_mean_pool_bwd(lt_backend *be, float *dx, const float *dout, const int32_t *lens, int64_t B, int64_t T,
                          int64_t C);
int lt__cpu_l2norm_fwd(lt_backend *be, float *y, float *norm, const float *x, int64_t rows, int64_t cols);
int lt__cpu_l2norm_bwd(lt_backend *be, float *dx, const float *dy, const float *y, const float *norm, int64_t rows,
                       int64_t cols);
/* k-means (kmeans.c): the assignment picks the AVX-512 micro-kernel when the build targets it,
 * else the BLAS path, which the tests and benchmarks can also call by name. */
int lt__cpu_kmeans_assign(lt_backend *be, int32_t *assign, float *dist, float *second,
                          const float *x, const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d);
int lt__cpu_kmeans_assign_blas(lt_backend *be, int32_t *assign, float *dist, float *second,
                               const float *x, const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d);
/* ||x - c||^2 exactly as kmeans_assign computes dist (the driver's pruned passes use it) */
float lt__cpu_kmeans_dist(const float *x, const float *c, int64_t d);
/* ridge models of the bandits (ridge.c / ridge.cu) */
int lt__cpu_ridge_update(lt_backend *be, float *ainv, float *b, const float *x, const float *r, const int32_t *model,
                         int64_t n, int64_t M, int64_t D);
int lt__cpu_ridge_score(lt_backend *be, float *mean, float *var, const float *ainv, const float *b, const float *x,
                        const int32_t *model, int64_t n, int64_t M, int64_t D);
int lt__cpu_kmeans_update(lt_backend *be, float *sums, int32_t *counts, const float *x, const int32_t *assign,
                          int64_t n, int64_t k, int64_t d);

/* recurrent layers (rnn.c): LSTM and GRU, PyTorch's equations, fp32 */
int lt__cpu_rnn_reserve(lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, size_t *bytes);
int lt__cpu_rnn_fwd(lt_backend *be, lt_cell cell, float *y, float *hT, float *cT, void *ws, const float *x,
                    const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0,
                    const float *c0, const int32_t *lens, int64_t B, int64_t T, int64_t I, int64_t H);
int lt__cpu_rnn_bwd(lt_backend *be, lt_cell cell, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                    float *dh0, float *dc0, const float *dy, const float *dhT, const float *dcT, const void *ws,
                    const float *x, const float *y, const float *w_ih, const float *w_hh, const float *b_ih,
                    const float *b_hh, const float *h0, const float *c0, const int32_t *lens, int64_t B, int64_t T,
                    int64_t I, int64_t H);
/* softmax ranking and top-K scoring tiles (rank.c; the loops are in src/core/rank.c) */
int lt__cpu_xent_tile_fwd(lt_backend *be, float *loss, float *lse, float *m, float *l, float *ts, float *s,
                          const float *bias, const int32_t *targets, int64_t B, int64_t n, int64_t j0, int64_t N,
                          int tcol0, int first, int last);
int lt__cpu_xent_tile_bwd(lt_backend *be, float *s, float *dbias, const float *bias, const float *lse,
                          const float *dloss, const int32_t *targets, int64_t B, int64_t n, int64_t j0, int tcol0);
int lt__cpu_sampled_prep(lt_backend *be, float *s, const float *u, const float *v, const float *bias,
                         const float *logq, const int32_t *targets, const int32_t *neg, int64_t B, int64_t S,
                         int64_t D, int64_t N);
int lt__cpu_sampled_scatter(lt_backend *be, float *du, float *dv, float *dbias, const float *ds, const float *u,
                            const float *v, const int32_t *targets, const int32_t *neg, int64_t B, int64_t S,
                            int64_t D);
int lt__cpu_topk_tile(lt_backend *be, float *vals, int32_t *idx, float *s, const float *bias, int64_t B, int64_t n,
                      int64_t j0, int K, const int64_t *excl_off, const int32_t *excl_ids);

/* Below this many elements, OpenMP's fork/join costs more than the loop. */
#define LT_CPU_PAR_MIN 32768

/* Column sums that do not depend on scheduling (nn.c). Rows are cut into one contiguous block per
 * thread; fn(ctx, r0, r1, parts) handles rows [r0, r1) and adds its column sums into parts[k]
 * (nacc thread-private arrays of cols floats, zeroed); the parts are then added into acc[k] in
 * thread order. */
typedef void (*lt__rows_fn)(void *ctx, int64_t r0, int64_t r1, float *const *parts);
int lt__cpu_rows_colsum(int64_t rows, int64_t cols, int nacc, float *const *acc, lt__rows_fn fn, void *ctx);

/* The exact (erf) GELU and its derivative, shared by gelu and bias_gelu. With glibc >= 2.35 the
 * loops that call these are vectorised through libmvec's erff/expf (about 10x the scalar calls). */
#include <math.h>
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
float erff(float);
#pragma omp declare simd notinbranch
float expf(float);
#endif
/* Row reductions the softmax-like ops share, vectorised (a loop over fmaxf is not). */
static inline float lt__row_max(const float *x, int64_t n, float scale) { /* max of scale * x; -inf if n = 0 */
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = scale * x[j] > m ? scale * x[j] : m;
    return m;
}
static inline float lt__row_sumexp(const float *x, int64_t n, float shift) { /* sum of exp(x - shift) */
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; j++) s += expf(x[j] - shift);
    return s;
}

#define LT_INV_SQRT2 0.70710678118654752f
#define LT_INV_SQRT_2PI 0.39894228040143268f
static inline float lt__gelu(float x) { return 0.5f * x * (1.0f + erff(x * LT_INV_SQRT2)); }
static inline float lt__gelu_grad(float x) {
    return 0.5f * (1.0f + erff(x * LT_INV_SQRT2)) + x * LT_INV_SQRT_2PI * expf(-0.5f * x * x);
}

#endif
