/* Neural-network ops on the CPU, forward and backward: bias, GELU, LayerNorm, softmax,
 * softmax + cross-entropy, embeddings, dropout. Rows are processed in parallel with OpenMP;
 * within a row the loops are plain C that the compiler vectorises. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"
#include "longtail/rng.h"

/* Sum the columns of x[rows, cols] into acc[cols] (+=). Each thread sums a contiguous block of
 * rows into its own buffer; buffers are then added in thread order, so the result does not
 * depend on scheduling. */
static int colsum_acc(float *acc, const float *x, int64_t rows, int64_t cols) {
    int nt = rows * cols >= LT_CPU_PAR_MIN ? omp_get_max_threads() : 1;
    if (nt > rows) nt = rows > 0 ? (int)rows : 1;
    float *part = calloc((size_t)nt * (size_t)cols, sizeof(float));
    if (!part) return lt_error(LT_ENOMEM, "column sum: out of memory");
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
        float *p = part + (size_t)t * (size_t)cols;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * cols;
            for (int64_t j = 0; j < cols; j++) p[j] += xr[j];
        }
    }
    for (int t = 0; t < nt; t++)
        for (int64_t j = 0; j < cols; j++) acc[j] += part[(size_t)t * (size_t)cols + j];
    free(part);
    return 0;
}

/* ---- bias ------------------------------------------------------------------------------------ */

int lt__cpu_bias_add(lt_backend *be, float *y, const float *bias, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols;
        for (int64_t j = 0; j < cols; j++) yr[j] += bias[j];
    }
    return 0;
}

int lt__cpu_bias_bwd(lt_backend *be, float *dbias, const float *dy, int64_t rows, int64_t cols) {
    return colsum_acc(dbias, dy, rows, cols);
}

/* ---- GELU (exact, erf form, as in BERT) ------------------------------------------------------ */

#define LT_INV_SQRT2 0.70710678118654752f
#define LT_INV_SQRT_2PI 0.39894228040143268f

int lt__cpu_gelu_fwd(lt_backend *be, float *y, const float *x, int64_t n) {
#pragma omp parallel for if (n >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * LT_INV_SQRT2));
    return 0;
}

int lt__cpu_gelu_bwd(lt_backend *be, float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for if (n >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * LT_INV_SQRT2));
        float pdf = LT_INV_SQRT_2PI * expf(-0.5f * v * v);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
    return 0;
}

/* ---- LayerNorm --------------------------------------------------------------------------------- */

int lt__cpu_layernorm_fwd(lt_backend *be, float *y, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int64_t rows, int64_t cols, float eps) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float s = 0;
        for (int64_t j = 0; j < cols; j++) s += xr[j];
        float m = s / (float)cols, v = 0;
        for (int64_t j = 0; j < cols; j++) v += (xr[j] - m) * (xr[j] - m); /* two passes: no cancellation */
        float rs = 1.0f / sqrtf(v / (float)cols + eps);
        for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - m) * rs * w[j] + b[j];
        mean[r] = m;
        rstd[r] = rs;
    }
    return 0;
}

/* With n = (x - mean) * rstd and g = dy * w:
 *   dx = rstd * (g - mean(g) - n * mean(g * n)),  dw = sum_rows dy * n,  db = sum_rows dy. */
int lt__cpu_layernorm_bwd(lt_backend *be, float *dx, float *dw, float *db, const float *dy,
                          const float *x, const float *w, const float *mean, const float *rstd,
                          int64_t rows, int64_t cols) {
    float *dyn = malloc((size_t)(rows * cols) * sizeof(float)); /* dy * n, summed into dw below */
    if (!dyn) return lt_error(LT_ENOMEM, "layernorm_bwd: out of memory");
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols, *dynr = dyn + r * cols;
        float m = mean[r], rs = rstd[r], sg = 0, sgn = 0;
        for (int64_t j = 0; j < cols; j++) {
            float n = (xr[j] - m) * rs, g = dyr[j] * w[j];
            sg += g;
            sgn += g * n;
            dynr[j] = dyr[j] * n;
        }
        sg /= (float)cols;
        sgn /= (float)cols;
        for (int64_t j = 0; j < cols; j++) {
            float n = (xr[j] - m) * rs;
            dxr[j] += rs * (dyr[j] * w[j] - sg - n * sgn);
        }
    }
    int rc = colsum_acc(dw, dyn, rows, cols);
    free(dyn);
    return rc ? rc : colsum_acc(db, dy, rows, cols);
}

/* ---- softmax --------------------------------------------------------------------------------- */

int lt__cpu_softmax_fwd(lt_backend *be, float *y, const float *x, const int32_t *lens,
                        int64_t rows_per_len, int64_t rows, int64_t cols, float scale) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        int64_t n = cols;
        if (lens) {
            int64_t l = lens[r / rows_per_len];
            n = l < 0 ? 0 : l < cols ? l : cols;
        }
        float mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < n; j++) mx = fmaxf(mx, scale * xr[j]);
        for (int64_t j = 0; j < n; j++) s += yr[j] = expf(scale * xr[j] - mx);
        float inv = n ? 1.0f / s : 0;
        for (int64_t j = 0; j < n; j++) yr[j] *= inv;
        for (int64_t j = n; j < cols; j++) yr[j] = 0;
    }
    return 0;
}

int lt__cpu_softmax_bwd(lt_backend *be, float *dx, const float *dy, const float *y, int64_t rows,
                        int64_t cols, float scale) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        float dot = 0;
        for (int64_t j = 0; j < cols; j++) dot += dyr[j] * yr[j];
        for (int64_t j = 0; j < cols; j++) dxr[j] += scale * yr[j] * (dyr[j] - dot);
    }
    return 0;
}

/* ---- softmax + cross-entropy ---------------------------------------------------------------- */

static float row_lse(const float *xr, int64_t n) {
    float mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < n; j++) mx = fmaxf(mx, xr[j]);
    for (int64_t j = 0; j < n; j++) s += expf(xr[j] - mx);
    return mx + logf(s);
}

/* The first row whose target is neither in [0, vocab) nor ignore_index, or -1. */
static int64_t bad_target(const int32_t *targets, int64_t rows, int64_t vocab, int ignore_index) {
    for (int64_t r = 0; r < rows; r++)
        if (targets[r] != ignore_index && (targets[r] < 0 || targets[r] >= vocab)) return r;
    return -1;
}

int lt__cpu_xent_fwd(lt_backend *be, float *loss, float *lse, const float *logits,
                     const int32_t *targets, int64_t rows, int64_t vocab, int ignore_index) {
    int64_t bad = bad_target(targets, rows, vocab, ignore_index);
    if (bad >= 0)
        return lt_error(LT_ERANGE, "xent_fwd: target %d of row %lld is outside [0, %lld)", targets[bad],
                        (long long)bad, (long long)vocab);
#pragma omp parallel for if (rows * vocab >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = logits + r * vocab;
        lse[r] = row_lse(xr, vocab);
        loss[r] = targets[r] == ignore_index ? 0.0f : lse[r] - xr[targets[r]];
    }
    return 0;
}

int lt__cpu_xent_bwd(lt_backend *be, float *dlogits, const float *logits, const float *lse,
                     const int32_t *targets, const float *dloss, int64_t rows, int64_t vocab,
                     int ignore_index) {
    int64_t bad = bad_target(targets, rows, vocab, ignore_index);
    if (bad >= 0)
        return lt_error(LT_ERANGE, "xent_bwd: target %d of row %lld is outside [0, %lld)", targets[bad],
                        (long long)bad, (long long)vocab);
#pragma omp parallel for if (rows * vocab >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        if (targets[r] == ignore_index) continue;
        const float *xr = logits + r * vocab;
        float *dr = dlogits + r * vocab, g = dloss[r], l = lse[r];
        for (int64_t j = 0; j < vocab; j++) dr[j] += g * expf(xr[j] - l);
        dr[targets[r]] -= g;
    }
    return 0;
}

/* ---- embeddings -------------------------------------------------------------------------------- */

static int check_ids(const char *op, const int32_t *ids, int64_t n, int64_t vocab) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return lt_error(LT_ERANGE, "%s: id %d at position %lld is outside [0, %lld)", op, ids[i],
                            (long long)i, (long long)vocab);
    return 0;
}

int lt__cpu_embedding_fwd(lt_backend *be, float *out, const float *table, const int32_t *ids,
                          int64_t n, int64_t vocab, int64_t dim) {
    LT_TRY(check_ids("embedding_fwd", ids, n, vocab));
#pragma omp parallel for if (n * dim >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) memcpy(out + i * dim, table + (int64_t)ids[i] * dim, (size_t)dim * sizeof(float));
    return 0;
}

/* Threads split the columns, and each walks all n rows in order: no two threads touch the same
 * float, and every table row sums its contributions in input order (deterministic). */
int lt__cpu_embedding_bwd(lt_backend *be, float *dtable, const float *dout, const int32_t *ids,
                          int64_t n, int64_t vocab, int64_t dim) {
    LT_TRY(check_ids("embedding_bwd", ids, n, vocab));
    int nt = n * dim >= LT_CPU_PAR_MIN ? omp_get_max_threads() : 1;
    if (nt > dim) nt = (int)dim;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        int64_t c0 = dim * t / nt, c1 = dim * (t + 1) / nt;
        for (int64_t i = 0; i < n; i++) {
            float *dst = dtable + (int64_t)ids[i] * dim;
            const float *src = dout + i * dim;
            for (int64_t j = c0; j < c1; j++) dst[j] += src[j];
        }
    }
    return 0;
}

/* ---- dropout --------------------------------------------------------------------------------- */

int lt__cpu_dropout(lt_backend *be, float *y, const float *x, int64_t n, float p, uint64_t seed,
                    uint64_t stream, int accumulate) {
    float inv = 1.0f / (1.0f - p);
#pragma omp parallel for if (n >= LT_CPU_PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        float v = (p == 0.0f || lt_rng_uniform(seed, stream, (uint64_t)i) >= p) ? x[i] * inv : 0.0f;
        if (accumulate) y[i] += v;
        else y[i] = v;
    }
    return 0;
}
