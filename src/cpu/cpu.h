/* The CPU backend's pieces, shared by the files in src/cpu/. The ops' declarations come from the
 * op list (src/core/op_list.h); below are the helpers the files share. */
#ifndef LONGTAIL_CPU_H
#define LONGTAIL_CPU_H

#include "core/backend_impl.h"

/* every op of the list: lt__cpu_NAME, with its slot's signature */
#define LT_OP(name, params) int lt__cpu_##name params;
#include "core/op_list.h"

/* Temporaries of an op (scratch.c): malloc and free, except that large blocks are kept for the
 * next call rather than returned to the kernel, so an op called again does not fault in fresh
 * pages. 64-byte aligned; lt__tmp_free(NULL) does nothing. lt__tmp_trim gives every kept block
 * back; lt__tmp_stats tells how many bytes are kept and how many requests a kept block served. */
void *lt__tmp_alloc(size_t bytes);
void lt__tmp_free(void *p);
void lt__tmp_trim(void);
void lt__tmp_stats(size_t *kept, uint64_t *reused);

/* bf16 activations (wide.c): an op computes in fp32 on widened copies of its bf16 arguments and
 * rounds each output once, in lt__wide_end. f32 arguments are used in place (no copy).
 *   lt__wide w = {0};
 *   const float *x = lt__wide_in(&w, x_, dt, n);       x_ itself when f32
 *   float *y = lt__wide_out(&w, y_, dt, n, load);      load = 1: y's values too (for +=)
 *   return lt__wide_end(&w, "op", w.failed ? 0 : kernel(y, x, n));   narrows y, frees the copies
 * After a failed allocation the pointers are NULL and lt__wide_end reports it. */
#define LT__WIDE_MAX 8
typedef struct lt__wide {
    float *buf[LT__WIDE_MAX];
    void *out[LT__WIDE_MAX];
    float *outf[LT__WIDE_MAX];
    int64_t outn[LT__WIDE_MAX];
    int nbuf, nout, failed;
    size_t bytes;
} lt__wide;
const float *lt__wide_in(lt__wide *w, const void *x, lt_dtype dt, int64_t n);
float *lt__wide_out(lt__wide *w, void *y, lt_dtype dt, int64_t n, int load);
int lt__wide_end(lt__wide *w, const char *op, int rc);
/* n values between bf16 and fp32: a row of row-by-row code, or a whole tensor (split over the
 * threads when large and called outside a parallel region). */
void lt__widen(float *f, const uint16_t *h, int64_t n);
void lt__narrow(uint16_t *h, const float *f, int64_t n);
/* fn(ctx, r, scratch) for every row r < rows, in parallel when rows x cols is large; scratch holds
 * nbuf x cols floats private to the thread (the fp32 rows of a bf16 op that works a row at a time).
 * LT_ENOMEM naming op when a thread cannot have its scratch. */
typedef void (*lt__row_fn)(void *ctx, int64_t r, float *scratch);
int lt__cpu_rows_scratch(int64_t rows, int64_t cols, int nbuf, lt__row_fn fn, void *ctx, const char *op);

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

/* bf16 GEMMs through oneDNN (dnnl.c), used by lt__cpu_gemm when lt_math is LT_MATH_BF16.
 * available: 1 when this build has oneDNN and the CPU has bf16 instructions (AMX or AVX512-BF16);
 * gemm: 0 done, 1 declined (run sgemm instead), < 0 error. */
int lt__dnnl_available(void);
const char *lt__dnnl_describe(void);
int lt__dnnl_gemm(const lt_gemm_desc *d);
/* Check mode on (1) or off (0), for tests: the oneDNN path runs on any CPU with fp32 operands that
 * hold bf16 values (see dnnl.c; LONGTAIL_DNNL_CHECK=1 sets it for a whole run). Returns
 * lt__dnnl_available() after the switch. */
int lt__dnnl_check(int on);
/* How many GEMMs oneDNN has run (not declined) so far, for tests. */
int64_t lt__dnnl_runs(void);
/* C[m,n] = alpha op(A) op(B) + beta C in fp32: one BLAS call on the calling thread (no-op when m, n
 * or k is 0) */
void lt__cpu_sgemm1(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

float lt__clip_multiplier(float sumsq, float grad_scale, float max_norm);

/* k-means (kmeans.c): the assignment picks the AVX-512 micro-kernel when the build targets it,
 * else the BLAS path, which the tests and benchmarks can also call by name. */
int lt__cpu_kmeans_assign_blas(lt_backend *be, int32_t *assign, float *dist, float *second,
                               const float *x, const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d);
/* ||x - c||^2 exactly as kmeans_assign computes dist (the driver's pruned passes use it) */
float lt__cpu_kmeans_dist(const float *x, const float *c, int64_t d);

/* Below this many elements, OpenMP's fork/join costs more than the loop. */
#define LT_CPU_PAR_MIN 32768

/* Column sums that do not depend on scheduling (nn.c). Rows are cut into one contiguous block per
 * thread; fn(ctx, r0, r1, parts) handles rows [r0, r1) and adds its column sums into parts[k]
 * (nacc thread-private arrays of cols floats, zeroed); the parts are then added into acc[k] in
 * thread order. parts[nacc .. nacc + nscratch - 1] are nscratch more thread-private rows of cols
 * floats for fn's own use (a bf16 op's widened rows); nacc + nscratch <= 8. */
typedef void (*lt__rows_fn)(void *ctx, int64_t r0, int64_t r1, float *const *parts);
int lt__cpu_rows_colsum(int64_t rows, int64_t cols, int nacc, float *const *acc, int nscratch, lt__rows_fn fn,
                        void *ctx);

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

/* Row code that an f32 op and its bf16 twin (on widened rows) both run is compiled once, never
 * inlined into each: two copies of a loop may be vectorised differently (a fused bf16 loop 16 wide
 * sent other elements to the scalar tail), and then libmvec's vector erff/expf and libm's scalar
 * ones differ in the last bit, and a simd reduction adds in another order, so the bf16 op would
 * stop being the f32 op's result rounded once. */
#if defined(__GNUC__) && !defined(__clang__)
#define LT_ONE_BODY __attribute__((noinline, noclone)) /* GCC also clones a function for constant arguments */
#else
#define LT_ONE_BODY __attribute__((noinline))
#endif
/* A bf16 op that widens a row in blocks for that row code uses blocks of this many columns: a
 * multiple of any vector width, so the last block's columns split between vector body and scalar
 * tail as the whole row's do, and a block of inputs and outputs stays in L1. */
#define LT_BF16_BLOCK 512

#define LT_INV_SQRT2 0.70710678118654752f
#define LT_INV_SQRT_2PI 0.39894228040143268f
static inline float lt__gelu(float x) { return 0.5f * x * (1.0f + erff(x * LT_INV_SQRT2)); }
static inline float lt__gelu_grad(float x) {
    return 0.5f * (1.0f + erff(x * LT_INV_SQRT2)) + x * LT_INV_SQRT_2PI * expf(-0.5f * x * x);
}

#endif
