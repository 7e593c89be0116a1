/* Element-wise ops, row reductions and the AdamW step on the CPU. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "longtail/error.h"
#include "longtail/rng.h"

#define EW_LOOP(n) _Pragma("omp parallel for simd if (n >= LT_CPU_PAR_MIN)") for (int64_t i = 0; i < n; i++)

static int add(float *y, const float *a, const float *b, int64_t n) {
    EW_LOOP(n) y[i] = a[i] + b[i];
    return 0;
}
int lt__cpu_mul(lt_backend *be, float *y, const float *a, const float *b, int64_t n) {
    EW_LOOP(n) y[i] = a[i] * b[i];
    return 0;
}
int lt__cpu_scale(lt_backend *be, float *y, const float *x, float alpha, int64_t n) {
    EW_LOOP(n) y[i] = alpha * x[i];
    return 0;
}
static int axpy(float *y, float alpha, const float *x, int64_t n) {
    EW_LOOP(n) y[i] += alpha * x[i];
    return 0;
}

int lt__cpu_add(lt_backend *be, void *y_, const void *a_, const void *b_, lt_dtype dt, int64_t n) {
    lt__wide w = {0};
    const float *a = lt__wide_in(&w, a_, dt, n), *b = lt__wide_in(&w, b_, dt, n);
    float *y = lt__wide_out(&w, y_, dt, n, 0);
    return lt__wide_end(&w, "add", w.failed ? 0 : add(y, a, b, n));
}

int lt__cpu_axpy(lt_backend *be, void *y_, float alpha, const void *x_, lt_dtype dt, int64_t n) {
    lt__wide w = {0};
    const float *x = lt__wide_in(&w, x_, dt, n);
    float *y = lt__wide_out(&w, y_, dt, n, 1);
    return lt__wide_end(&w, "axpy", w.failed ? 0 : axpy(y, alpha, x, n));
}
int lt__cpu_mul_acc(lt_backend *be, float *y, const float *a, const float *b, int64_t n) {
    EW_LOOP(n) y[i] += a[i] * b[i];
    return 0;
}
int lt__cpu_row_dropout_acc(lt_backend *be, float *y, const float *x, const uint8_t *keep, int64_t rows, int64_t cols,
                            float p, uint64_t seed, uint64_t stream) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        if ((keep && !keep[r]) || (p > 0 && lt_rng_uniform(seed, stream, (uint64_t)r) < p)) continue;
        float *yr = y + r * cols;
        const float *xr = x + r * cols;
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] += xr[j];
    }
    return 0;
}

int lt__cpu_fill(lt_backend *be, float *y, float value, int64_t n) {
    EW_LOOP(n) y[i] = value;
    return 0;
}

int lt__cpu_reduce_rows(lt_backend *be, float *y, const float *x, int64_t rows, int64_t cols,
                        lt_reduce op) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float acc = op == LT_REDUCE_MAX ? -INFINITY : 0.0f;
        switch (op) {
        case LT_REDUCE_MAX:
            for (int64_t j = 0; j < cols; j++) acc = fmaxf(acc, xr[j]);
            break;
        case LT_REDUCE_SUMSQ:
            for (int64_t j = 0; j < cols; j++) acc += xr[j] * xr[j];
            break;
        default:
            for (int64_t j = 0; j < cols; j++) acc += xr[j];
            if (op == LT_REDUCE_MEAN) acc = cols ? acc / (float)cols : 0.0f;
        }
        y[r] = acc;
    }
    return 0;
}

/* torch.optim.AdamW, step t:
 *   p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * The same expressions, in the same order, as cuda/elementwise.cu. */
static inline void adamw_one(float *p, float g, float *m, float *v, float b1, float b2, float lr, float eps,
                             float decay, float bc1, float bc2) {
    float mi = *m = b1 * *m + (1.0f - b1) * g;
    float vi = *v = b2 * *v + (1.0f - b2) * g * g;
    *p = *p * decay - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
}

int lt__cpu_adamw(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                  const lt_adamw_cfg *c, int64_t step, float grad_scale) {
    float bc1 = 1.0f - powf(c->beta1, (float)step), bc2 = 1.0f - powf(c->beta2, (float)step);
    float decay = 1.0f - c->lr * c->weight_decay;
#pragma omp parallel for simd if (n >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        adamw_one(p + i, g[i] * grad_scale, m + i, v + i, c->beta1, c->beta2, c->lr, c->eps, decay, bc1, bc2);
    return 0;
}

/* ---- the trainer's steps: squared norm on the device, clipped and row-wise AdamW ------------------- */

/* Partial sums over fixed blocks of SUMSQ_BLOCK elements, added in block order: the same bits
 * whatever the number of threads. */
#define SUMSQ_BLOCK 65536
int lt__cpu_sumsq_acc(lt_backend *be, float *acc, const float *x, int64_t n) {
    int64_t nb = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    double *part = malloc(sizeof *part * (size_t)(nb ? nb : 1));
    if (!part) return lt_error(LT_ENOMEM, "sumsq_acc: out of memory");
#pragma omp parallel for schedule(static) if (n >= LT_CPU_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i1 = (b + 1) * SUMSQ_BLOCK < n ? (b + 1) * SUMSQ_BLOCK : n;
        double s = 0;
        for (int64_t i = b * SUMSQ_BLOCK; i < i1; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double s = 0;
    for (int64_t b = 0; b < nb; b++) s += part[b];
    acc[0] = (float)((double)acc[0] + s);
    free(part);
    return 0;
}

/* The gradient multiplier from the squared norm (lt_adamw_clipped); 0 when the step is skipped. */
float lt__clip_multiplier(float sumsq, float grad_scale, float max_norm) {
    if (!isfinite(sumsq)) return 0.0f;
    float norm = grad_scale * sqrtf(sumsq);
    return max_norm > 0.0f && norm > max_norm ? grad_scale * (max_norm / norm) : grad_scale;
}

int lt__cpu_adamw_clipped(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                          const lt_adamw_cfg *c, int64_t step, float grad_scale, const float *sumsq, float max_norm) {
    if (!isfinite(sumsq[0])) return 0; /* skipped: the trainer reports it */
    return lt__cpu_adamw(be, p, g, m, v, n, c, step, lt__clip_multiplier(sumsq[0], grad_scale, max_norm));
}

int lt__cpu_adamw_rows(lt_backend *be, float *p, const float *g, float *m, float *v, float *bpow, int64_t rows,
                       int64_t cols, const lt_adamw_cfg *c, float grad_scale, const float *sumsq, float max_norm) {
    if (!isfinite(sumsq[0])) return 0;
    float scale = lt__clip_multiplier(sumsq[0], grad_scale, max_norm), decay = 1.0f - c->lr * c->weight_decay;
#pragma omp parallel for schedule(static) if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = g + r * cols;
        int any = 0;
        for (int64_t j = 0; j < cols; j++) any |= gr[j] != 0.0f;
        if (!any) continue; /* not in this step's batches: untouched */
        float b1p = bpow[2 * r] *= c->beta1, b2p = bpow[2 * r + 1] *= c->beta2;
        float bc1 = 1.0f - b1p, bc2 = 1.0f - b2p;
        for (int64_t j = 0; j < cols; j++)
            adamw_one(p + r * cols + j, gr[j] * scale, m + r * cols + j, v + r * cols + j, c->beta1, c->beta2, c->lr,
                      c->eps, decay, bc1, bc2);
    }
    return 0;
}
