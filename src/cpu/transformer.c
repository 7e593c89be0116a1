/* Transformer blocks on the CPU (ops.h, "transformer blocks"), and the plain LayerNorm that shares
 * their row kernels: fused attention with a key-padding mask (optionally causal), bias + GELU, residual + LayerNorm,
 * casts, mean pooling and L2 normalisation.
 *
 * The kernels compute in fp32; bf16 activations go through fp32 copies (wide.c, the slots at the
 * end of this file), attention's one head at a time (slice_in). Attention runs one (batch, head)
 * pair per OpenMP iteration, its products as GEMMs through lt__sgemm on per-thread [T, T] buffers;
 * like a flash kernel it keeps only the log-sum-exp of each query row, and backward recomputes P
 * from it. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

static int64_t clamp_len(int32_t len, int64_t T) { return len < 0 ? 0 : len > T ? T : len; }

/* Row-major C = alpha op(A) op(B) + beta C. Sizes fit in int: ops.c checked the tensors. */
static void sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    lt__sgemm(LT_CBLAS_ROW_MAJOR, ta ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS, tb ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS,
              (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* ---- attention ---------------------------------------------------------------------------------- */

/* Per-thread scratch of `per` floats each, or NULL (the error is set). */
static float *scratch(const char *op, int nt, int64_t per) {
    float *p = lt__tmp_alloc(sizeof(float) * ((size_t)nt * (size_t)per + 1));
    if (!p) lt_error(LT_ENOMEM, "%s: no memory for %d x %lld floats of scores", op, nt, (long long)per);
    return p;
}

/* Softmax of one row in place; returns the row's log-sum-exp. */
static float softmax_row(float *x, int64_t n) {
    float mx = lt__row_max(x, n, 1.0f), sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) sum += x[j] = expf(x[j] - mx);
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) x[j] *= inv;
    return mx + logf(sum);
}

/* Keys query row t sees among the L real ones: all of them, or j <= t when causal (at least one). */
static int64_t row_keys(int64_t t, int64_t L, int causal) { return causal && t + 1 < L ? t + 1 : L; }

/* One (b, h) pair's [T, D] slices: in place when the activations are fp32 (row stride ld), else
 * widened into the thread's fp32 rows (row stride D) and, for outputs, narrowed back after. In
 * bf16 only one head's rows are widened at a time, so they stay in cache and no copy of a whole
 * tensor is made; the numbers are the same as on whole widened copies. */
typedef struct {
    const void *base; /* the tensor */
    int64_t ld;       /* its row stride, in elements */
    int bf16;
} slices;

static const float *slice_in(const slices *x, int64_t off, int64_t T, int64_t D, float *buf, int64_t *ld) {
    if (!x->bf16) {
        *ld = x->ld;
        return (const float *)x->base + off;
    }
    for (int64_t t = 0; t < T; t++) lt__widen(buf + t * D, (const uint16_t *)x->base + off + t * x->ld, D);
    *ld = D;
    return buf;
}

static void slice_out(const slices *x, int64_t off, int64_t T, int64_t D, const float *buf) {
    if (x->bf16)
        for (int64_t t = 0; t < T; t++) lt__narrow((uint16_t *)x->base + off + t * x->ld, buf + t * D, D);
}

/* Per (b, h), with Q, K, V the [T, D] slices of qkv[b] (row stride 3HD) and L = lens[b] keys:
 *   S[T, L] = scale Q K^T,  lse[t] = logsumexp S[t, :],  P = softmax(S),  out[T, D] = P V
 * causal: row t's softmax runs over its first row_keys(t) columns and P is 0 beyond them (the full
 * S is still one GEMM: the wasted upper triangle is cheaper than T small ones). */
static int attention_fwd(void *out_, float *lse, const void *qkv_, const int32_t *lens, int bf16, int64_t B, int64_t T,
                         int64_t H, int64_t D, float scale, int causal) {
    if (!lt__sgemm) LT_TRY(lt__blas_open(1));
    slices qkv = {qkv_, 3 * H * D, bf16}, out = {out_, H * D, bf16};
    int nt = omp_get_max_threads();
    int64_t per = T * T + (bf16 ? 4 * T * D : 0);
    float *buf = scratch("attention_fwd", nt, per);
    if (!buf) return LT_ENOMEM;
#pragma omp parallel num_threads(nt)
    {
        float *s = buf + (size_t)omp_get_thread_num() * (size_t)per, *w = s + T * T; /* w: q, k, v, o rows (bf16) */
#pragma omp for schedule(dynamic)
        for (int64_t bh = 0; bh < B * H; bh++) {
            int64_t b = bh / H, h = bh % H, L = clamp_len(lens[b], T), ld, ldo;
            int64_t at = b * T * qkv.ld + h * D, ato = b * T * out.ld + h * D;
            float *o = bf16 ? w + 3 * T * D : (float *)out_ + ato, *l = lse + bh * T;
            ldo = bf16 ? D : out.ld;
            if (L == 0) { /* no keys: zeros, lse = -inf */
                for (int64_t t = 0; t < T; t++) memset(o + t * ldo, 0, sizeof(float) * (size_t)D), l[t] = -INFINITY;
            } else {
                const float *q = slice_in(&qkv, at, T, D, w, &ld);
                const float *k = slice_in(&qkv, at + H * D, T, D, w + T * D, &ld);
                const float *v = slice_in(&qkv, at + 2 * H * D, T, D, w + 2 * T * D, &ld);
                sgemm(0, 1, T, L, D, scale, q, ld, k, ld, 0, s, L);
                for (int64_t t = 0; t < T; t++) {
                    int64_t n = row_keys(t, L, causal);
                    l[t] = softmax_row(s + t * L, n);
                    if (n < L) memset(s + t * L + n, 0, sizeof(float) * (size_t)(L - n)); /* masked: P = 0 */
                }
                sgemm(0, 0, T, D, L, 1, s, L, v, ld, 0, o, ldo);
            }
            slice_out(&out, ato, T, D, o);
        }
    }
    lt__tmp_free(buf);
    return 0;
}

/* Per (b, h), P recomputed from lse, and Di = dO[t] . O[t] (= sum_j P dP, as flash attention):
 *   dV += P^T dO,  dP = dO V^T,  dS = P (dP - Di),  dQ += scale dS K,  dK += scale dS^T Q   */
static int attention_bwd(void *dqkv_, const void *dout_, const void *qkv_, const void *out_, const float *lse,
                         const int32_t *lens, int bf16, int64_t B, int64_t T, int64_t H, int64_t D, float scale,
                         int causal) {
    if (!lt__sgemm) LT_TRY(lt__blas_open(1));
    slices qkv = {qkv_, 3 * H * D, bf16}, dqkv = {dqkv_, 3 * H * D, bf16};
    slices out = {out_, H * D, bf16}, dout = {dout_, H * D, bf16};
    int nt = omp_get_max_threads();
    int64_t per = 2 * T * T + (bf16 ? 8 * T * D : 0);
    float *buf = scratch("attention_bwd", nt, per);
    if (!buf) return LT_ENOMEM;
#pragma omp parallel num_threads(nt)
    {
        float *p = buf + (size_t)omp_get_thread_num() * (size_t)per, *dp = p + T * T, *w = dp + T * T;
#pragma omp for schedule(dynamic)
        for (int64_t bh = 0; bh < B * H; bh++) {
            int64_t b = bh / H, h = bh % H, L = clamp_len(lens[b], T), ld, ldo, ldd;
            if (L == 0) continue; /* the output was constant zero */
            int64_t at = b * T * qkv.ld + h * D, ato = b * T * out.ld + h * D;
            const float *q = slice_in(&qkv, at, T, D, w, &ld), *k = slice_in(&qkv, at + H * D, T, D, w + T * D, &ld);
            const float *v = slice_in(&qkv, at + 2 * H * D, T, D, w + 2 * T * D, &ld);
            const float *o = slice_in(&out, ato, T, D, w + 3 * T * D, &ldo);
            const float *dO = slice_in(&dout, ato, T, D, w + 4 * T * D, &ldo);
            float *dq = (float *)slice_in(&dqkv, at, T, D, w + 5 * T * D, &ldd); /* accumulated into: loaded */
            float *dk = (float *)slice_in(&dqkv, at + H * D, T, D, w + 6 * T * D, &ldd);
            float *dv = (float *)slice_in(&dqkv, at + 2 * H * D, T, D, w + 7 * T * D, &ldd);
            const float *l = lse + bh * T;
            sgemm(0, 1, T, L, D, scale, q, ld, k, ld, 0, p, L);
            for (int64_t t = 0; t < T; t++) {
                float *pr = p + t * L, lt = l[t];
                int64_t n = row_keys(t, L, causal);
#pragma omp simd
                for (int64_t j = 0; j < n; j++) pr[j] = expf(pr[j] - lt);
                for (int64_t j = n; j < L; j++) pr[j] = 0.0f;
            }
            sgemm(1, 0, L, D, T, 1, p, L, dO, ldo, 1, dv, ldd);
            sgemm(0, 1, T, L, D, 1, dO, ldo, v, ld, 0, dp, L);
            for (int64_t t = 0; t < T; t++) {
                const float *dor = dO + t * ldo, *orow = o + t * ldo, *pr = p + t * L;
                float *dpr = dp + t * L, di = 0;
#pragma omp simd reduction(+ : di)
                for (int64_t d = 0; d < D; d++) di += dor[d] * orow[d];
#pragma omp simd
                for (int64_t j = 0; j < L; j++) dpr[j] = pr[j] * (dpr[j] - di);
            }
            sgemm(0, 0, T, D, L, scale, dp, L, k, ld, 1, dq, ldd);
            sgemm(1, 0, L, D, T, scale, dp, L, q, ld, 1, dk, ldd);
            slice_out(&dqkv, at, T, D, dq), slice_out(&dqkv, at + H * D, L, D, dk), slice_out(&dqkv, at + 2 * H * D, L, D, dv);
        }
    }
    lt__tmp_free(buf);
    return 0;
}

/* ---- bias + GELU -------------------------------------------------------------------------------- */

static LT_ONE_BODY void bias_gelu_row_fwd(float *yr, const float *xr, const float *bias, int64_t C) {
#pragma omp simd
    for (int64_t j = 0; j < C; j++) yr[j] = lt__gelu(xr[j] + bias[j]);
}

static int bias_gelu_fwd(float *y, const float *x, const float *bias, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) bias_gelu_row_fwd(y + r * cols, x + r * cols, bias, cols);
    return 0;
}

typedef struct {
    float *dx;
    const float *dy, *x, *bias;
    int64_t cols;
} bias_gelu_ctx;

static LT_ONE_BODY void bias_gelu_row(float *dxr, float *db, const float *dyr, const float *xr, const float *bias,
                                       int64_t C) {
#pragma omp simd
    for (int64_t j = 0; j < C; j++) {
        float g = dyr[j] * lt__gelu_grad(xr[j] + bias[j]);
        dxr[j] += g;
        db[j] += g;
    }
}

static void bias_gelu_rows(void *ctx, int64_t r0, int64_t r1, float *const *parts) {
    const bias_gelu_ctx *c = ctx;
    int64_t C = c->cols;
    for (int64_t r = r0; r < r1; r++) bias_gelu_row(c->dx + r * C, parts[0], c->dy + r * C, c->x + r * C, c->bias, C);
}

static int bias_gelu_bwd(float *dx, float *dbias, const float *dy, const float *x, const float *bias, int64_t rows,
                         int64_t cols) {
    bias_gelu_ctx c = {dx, dy, x, bias, cols};
    return lt__cpu_rows_colsum(rows, cols, 1, &dbias, 0, bias_gelu_rows, &c);
}

/* ---- LayerNorm, plain and after a residual sum ---------------------------------------------------- */

/* One row: x = a (b NULL) or s = a + b (written; s may alias a); y = (x - mean) rstd w + beta. */
static LT_ONE_BODY void ln_fwd_row(float *y, float *s, float *mean, float *rstd, const float *a, const float *b,
                                   const float *w, const float *beta, int64_t C, float eps) {
    const float *x = a;
    if (b) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) s[j] = a[j] + b[j];
        x = s;
    }
    float sum = 0, var = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < C; j++) sum += x[j];
    float m = sum / (float)C;
#pragma omp simd reduction(+ : var)
    for (int64_t j = 0; j < C; j++) var += (x[j] - m) * (x[j] - m); /* two passes: no cancellation */
    float rs = 1.0f / sqrtf(var / (float)C + eps);
#pragma omp simd
    for (int64_t j = 0; j < C; j++) y[j] = (x[j] - m) * rs * w[j] + beta[j];
    *mean = m, *rstd = rs;
}

static void ln_fwd(float *y, float *s, float *mean, float *rstd, const float *a, const float *b, const float *w,
                   const float *beta, int64_t rows, int64_t cols, float eps) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        ln_fwd_row(y + r * cols, s ? s + r * cols : NULL, mean + r, rstd + r, a + r * cols, b ? b + r * cols : NULL,
                   w, beta, cols, eps);
}

typedef struct {
    float *d1, *d2; /* d2 may be NULL */
    const float *dy, *x, *w, *mean, *rstd;
    int64_t cols;
} ln_bwd_ctx;

/* With n = (x - mean) rstd and g = dy w:  dx = rstd (g - mean(g) - n mean(g n)),  dw += dy n,  dbeta += dy.
 * dx is added to d1 and to d2 when given (d1 == d2 receives it twice). */
static LT_ONE_BODY void ln_bwd_row(float *d1, float *d2, const float *dyr, const float *xr, const float *w, float m,
                                   float rs, int64_t C, float *dw, float *db) {
    float sg = 0, sgn = 0;
#pragma omp simd reduction(+ : sg, sgn)
    for (int64_t j = 0; j < C; j++) {
        float n = (xr[j] - m) * rs, g = dyr[j] * w[j];
        sg += g;
        sgn += g * n;
        dw[j] += dyr[j] * n;
        db[j] += dyr[j];
    }
    sg /= (float)C;
    sgn /= (float)C;
#pragma omp simd
    for (int64_t j = 0; j < C; j++) d1[j] += rs * (dyr[j] * w[j] - sg - (xr[j] - m) * rs * sgn);
    if (d2) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) d2[j] += rs * (dyr[j] * w[j] - sg - (xr[j] - m) * rs * sgn);
    }
}

static void ln_bwd_rows(void *ctx, int64_t r0, int64_t r1, float *const *parts) {
    const ln_bwd_ctx *c = ctx;
    int64_t C = c->cols;
    for (int64_t r = r0; r < r1; r++)
        ln_bwd_row(c->d1 + r * C, c->d2 ? c->d2 + r * C : NULL, c->dy + r * C, c->x + r * C, c->w, c->mean[r],
                   c->rstd[r], C, parts[0], parts[1]);
}

/* bf16: each row widened into the thread's fp32 scratch rows (parts[2..5]), ln_bwd_row, d1 and d2
 * rounded once (d1 == d2: one row that receives dx twice, as in fp32) */
typedef struct {
    uint16_t *d1, *d2;
    const uint16_t *dy, *x;
    const float *w, *mean, *rstd;
    int64_t cols;
} ln_bwd16_ctx;

static void ln_bwd16_rows(void *ctx, int64_t r0, int64_t r1, float *const *parts) {
    const ln_bwd16_ctx *c = ctx;
    int64_t C = c->cols;
    float *xf = parts[2], *dyf = parts[3], *d1f = parts[4], *d2f = parts[5];
    int two = c->d2 && c->d2 != c->d1;
    for (int64_t r = r0; r < r1; r++) {
        lt__widen(xf, c->x + r * C, C), lt__widen(dyf, c->dy + r * C, C), lt__widen(d1f, c->d1 + r * C, C);
        if (two) lt__widen(d2f, c->d2 + r * C, C);
        ln_bwd_row(d1f, c->d2 ? (two ? d2f : d1f) : NULL, dyf, xf, c->w, c->mean[r], c->rstd[r], C, parts[0], parts[1]);
        lt__narrow(c->d1 + r * C, d1f, C);
        if (two) lt__narrow(c->d2 + r * C, d2f, C);
    }
}

/* bias + GELU backward in bf16: rows widened as ln_bwd16_rows does */
typedef struct {
    uint16_t *dx;
    const uint16_t *dy, *x;
    const float *bias;
    int64_t cols;
} bias_gelu16_ctx;

static void bias_gelu16_rows(void *ctx, int64_t r0, int64_t r1, float *const *parts) {
    const bias_gelu16_ctx *c = ctx;
    int64_t C = c->cols;
    float *xf = parts[1], *dyf = parts[2], *dxf = parts[3];
    for (int64_t r = r0; r < r1; r++) {
        lt__widen(xf, c->x + r * C, C), lt__widen(dyf, c->dy + r * C, C), lt__widen(dxf, c->dx + r * C, C);
        bias_gelu_row(dxf, parts[0], dyf, xf, c->bias, C);
        lt__narrow(c->dx + r * C, dxf, C);
    }
}

static int ln_bwd16(void *d1, void *d2, float *dw, float *dbeta, const void *dy, const void *x, const float *w,
                    const float *mean, const float *rstd, int64_t rows, int64_t cols) {
    ln_bwd16_ctx c = {d1, d2, dy, x, w, mean, rstd, cols};
    float *acc[2] = {dw, dbeta};
    return lt__cpu_rows_colsum(rows, cols, 2, acc, 4, ln_bwd16_rows, &c);
}

static int ln_bwd(float *d1, float *d2, float *dw, float *dbeta, const float *dy, const float *x, const float *w,
                  const float *mean, const float *rstd, int64_t rows, int64_t cols) {
    ln_bwd_ctx c = {d1, d2, dy, x, w, mean, rstd, cols};
    float *acc[2] = {dw, dbeta};
    return lt__cpu_rows_colsum(rows, cols, 2, acc, 0, ln_bwd_rows, &c);
}

/* ---- cast ------------------------------------------------------------------------------------------ */

int lt__cpu_cast(lt_backend *be, void *y, lt_dtype yt, const void *x, lt_dtype xt, int64_t n) {
    if (yt == xt) {
        memmove(y, x, (size_t)n * lt_dtype_size(xt));
        return 0;
    }
    if (xt == LT_F32) lt__narrow(y, x, n);
    else lt__widen(y, x, n);
    return 0;
}

/* ---- pooling and normalisation --------------------------------------------------------------------- */

static int mean_pool_fwd(float *out, const float *x, const int32_t *lens, int64_t B, int64_t T, int64_t C) {
#pragma omp parallel for if (B * T * C >= LT_CPU_PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        int64_t L = clamp_len(lens[b], T);
        float *o = out + b * C;
        memset(o, 0, sizeof(float) * (size_t)C);
        for (int64_t t = 0; t < L; t++) {
            const float *xr = x + (b * T + t) * C;
#pragma omp simd
            for (int64_t j = 0; j < C; j++) o[j] += xr[j];
        }
        float inv = L ? 1.0f / (float)L : 0.0f;
        for (int64_t j = 0; j < C; j++) o[j] *= inv;
    }
    return 0;
}

static int mean_pool_bwd(float *dx, const float *dout, const int32_t *lens, int64_t B, int64_t T, int64_t C) {
#pragma omp parallel for if (B * T * C >= LT_CPU_PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        int64_t L = clamp_len(lens[b], T);
        const float *g = dout + b * C;
        float inv = L ? 1.0f / (float)L : 0.0f;
        for (int64_t t = 0; t < L; t++) {
            float *dr = dx + (b * T + t) * C;
#pragma omp simd
            for (int64_t j = 0; j < C; j++) dr[j] += g[j] * inv;
        }
    }
    return 0;
}

#define L2_FLOOR 1e-12f /* as torch.nn.functional.normalize */

int lt__cpu_l2norm_fwd(lt_backend *be, float *y, float *norm, const float *x, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols, ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t j = 0; j < cols; j++) ss += xr[j] * xr[j];
        float n = sqrtf(ss), inv = 1.0f / fmaxf(n, L2_FLOOR);
        norm[r] = n;
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * inv;
    }
    return 0;
}

int lt__cpu_l2norm_bwd(lt_backend *be, float *dx, const float *dy, const float *y, const float *norm, int64_t rows,
                       int64_t cols) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols, dot = 0, inv = 1.0f / fmaxf(norm[r], L2_FLOOR);
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < cols; j++) dot += yr[j] * dyr[j];
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dxr[j] += (dyr[j] - yr[j] * dot) * inv;
    }
    return 0;
}

/* ---- the slots: f32 in place, bf16 through fp32 copies (wide.c) --------------------------------- */

int lt__cpu_attention_fwd(lt_backend *be, void *out, float *lse, const void *qkv, const int32_t *lens, lt_dtype dt,
                          int64_t B, int64_t T, int64_t H, int64_t D, float scale, int causal) {
    return attention_fwd(out, lse, qkv, lens, dt == LT_BF16, B, T, H, D, scale, causal);
}

int lt__cpu_attention_bwd(lt_backend *be, void *dqkv, const void *dout, const void *qkv, const void *out,
                          const float *lse, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t H,
                          int64_t D, float scale, int causal) {
    return attention_bwd(dqkv, dout, qkv, out, lse, lens, dt == LT_BF16, B, T, H, D, scale, causal);
}

int lt__cpu_bias_gelu_fwd(lt_backend *be, void *y_, const void *x_, const float *bias, lt_dtype dt, int64_t rows,
                          int64_t cols) {
    if (dt == LT_BF16) { /* the f32 row code on blocks widened on the stack, each result rounded once */
        enum { BLOCK = LT_BF16_BLOCK };
        const uint16_t *x = x_;
        uint16_t *y = y_;
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            float xf[BLOCK], yf[BLOCK];
            for (int64_t j = 0; j < cols; j += BLOCK) {
                int64_t n = cols - j < BLOCK ? cols - j : BLOCK;
                lt__widen(xf, x + r * cols + j, n);
                bias_gelu_row_fwd(yf, xf, bias + j, n);
                lt__narrow(y + r * cols + j, yf, n);
            }
        }
        return 0;
    }
    return bias_gelu_fwd(y_, x_, bias, rows, cols);
}

int lt__cpu_bias_gelu_bwd(lt_backend *be, void *dx_, float *dbias, const void *dy_, const void *x_, const float *bias,
                          lt_dtype dt, int64_t rows, int64_t cols) {
    if (dt == LT_BF16) {
        bias_gelu16_ctx c = {dx_, dy_, x_, bias, cols};
        return lt__cpu_rows_colsum(rows, cols, 1, &dbias, 3, bias_gelu16_rows, &c);
    }
    return bias_gelu_bwd(dx_, dbias, dy_, x_, bias, rows, cols);
}

/* bf16 LayerNorm forward, a row at a time through two fp32 rows: x = a, or (residual) s = a + b
 * rounded as it is stored, and y, mean and rstd those of the stored s (what the backward reads), as
 * the CUDA kernel computes them. s may alias a: a row is read before it is written. */
typedef struct {
    uint16_t *y, *s; /* s NULL: the plain LayerNorm */
    float *mean, *rstd;
    const uint16_t *a, *b;
    const float *w, *beta;
    int64_t cols;
    float eps;
} ln16_ctx;

static void ln16_row(void *ctx, int64_t r, float *xf) {
    const ln16_ctx *c = ctx;
    int64_t C = c->cols;
    const uint16_t *ar = c->a + r * C;
    float *yf = xf + C;
    if (c->s) {
        const uint16_t *br = c->b + r * C;
#pragma omp simd
        for (int64_t j = 0; j < C; j++) xf[j] = lt_bf16_to_f32(lt_f32_to_bf16(lt_bf16_to_f32(ar[j]) + lt_bf16_to_f32(br[j])));
        lt__narrow(c->s + r * C, xf, C);
    } else {
        lt__widen(xf, ar, C);
    }
    ln_fwd_row(yf, NULL, c->mean + r, c->rstd + r, xf, NULL, c->w, c->beta, C, c->eps);
    lt__narrow(c->y + r * C, yf, C);
}

int lt__cpu_layernorm_fwd(lt_backend *be, void *y_, float *mean, float *rstd, const void *x_, const float *w,
                          const float *b, lt_dtype dt, int64_t rows, int64_t cols, float eps) {
    if (dt == LT_F32) {
        ln_fwd(y_, NULL, mean, rstd, x_, NULL, w, b, rows, cols, eps);
        return 0;
    }
    ln16_ctx c = {y_, NULL, mean, rstd, x_, NULL, w, b, cols, eps};
    return lt__cpu_rows_scratch(rows, cols, 2, ln16_row, &c, "layernorm_fwd");
}

int lt__cpu_layernorm_bwd(lt_backend *be, void *dx_, float *dw, float *db, const void *dy_, const void *x_,
                          const float *w, const float *mean, const float *rstd, lt_dtype dt, int64_t rows,
                          int64_t cols) {
    if (dt == LT_BF16) return ln_bwd16(dx_, NULL, dw, db, dy_, x_, w, mean, rstd, rows, cols);
    return ln_bwd(dx_, NULL, dw, db, dy_, x_, w, mean, rstd, rows, cols);
}

int lt__cpu_residual_layernorm_fwd(lt_backend *be, void *y_, void *s_, float *mean, float *rstd, const void *a_,
                                   const void *b_, const float *w, const float *beta, lt_dtype dt, int64_t rows,
                                   int64_t cols, float eps) {
    if (dt == LT_F32) {
        ln_fwd(y_, s_, mean, rstd, a_, b_, w, beta, rows, cols, eps);
        return 0;
    }
    ln16_ctx c = {y_, s_, mean, rstd, a_, b_, w, beta, cols, eps};
    return lt__cpu_rows_scratch(rows, cols, 2, ln16_row, &c, "residual_layernorm_fwd");
}

int lt__cpu_residual_layernorm_bwd(lt_backend *be, void *da_, void *db_, float *dw, float *dbeta, const void *dy_,
                                   const void *s_, const float *w, const float *mean, const float *rstd, lt_dtype dt,
                                   int64_t rows, int64_t cols) {
    if (dt == LT_BF16) return ln_bwd16(da_, db_, dw, dbeta, dy_, s_, w, mean, rstd, rows, cols);
    return ln_bwd(da_, db_, dw, dbeta, dy_, s_, w, mean, rstd, rows, cols);
}

int lt__cpu_mean_pool_fwd(lt_backend *be, float *out, const void *x_, const int32_t *lens, lt_dtype dt, int64_t B,
                          int64_t T, int64_t C) {
    lt__wide w = {0};
    const float *x = lt__wide_in(&w, x_, dt, B * T * C);
    return lt__wide_end(&w, "mean_pool_fwd", w.failed ? 0 : mean_pool_fwd(out, x, lens, B, T, C));
}

int lt__cpu_mean_pool_bwd(lt_backend *be, void *dx_, const float *dout, const int32_t *lens, lt_dtype dt, int64_t B,
                          int64_t T, int64_t C) {
    lt__wide w = {0};
    float *dx = lt__wide_out(&w, dx_, dt, B * T * C, 1);
    return lt__wide_end(&w, "mean_pool_bwd", w.failed ? 0 : mean_pool_bwd(dx, dout, lens, B, T, C));
}
