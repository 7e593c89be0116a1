/* Element-wise ops, row reductions and the AdamW step on the CPU. */
#include <math.h>
#include <omp.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

#define EW_LOOP(n) _Pragma("omp parallel for simd if (n >= LT_CPU_PAR_MIN)") for (int64_t i = 0; i < n; i++)

int lt__cpu_add(lt_backend *be, float *y, const float *a, const float *b, int64_t n) {
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
int lt__cpu_axpy(lt_backend *be, float *y, float alpha, const float *x, int64_t n) {
    EW_LOOP(n) y[i] += alpha * x[i];
    return 0;
}
int lt__cpu_mul_acc(lt_backend *be, float *y, const float *a, const float *b, int64_t n) {
    EW_LOOP(n) y[i] += a[i] * b[i];
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

int lt__cpu_sumsq(lt_backend *be, const float *const *xs, const int64_t *ns, int count, double *out) {
    double total = 0;
    for (int t = 0; t < count; t++) {
        const float *x = xs[t];
        int64_t n = ns[t];
        double s = 0;
#pragma omp parallel for reduction(+ : s) if (n >= LT_CPU_PAR_MIN)
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
        total += s;
    }
    *out = total;
    return 0;
}

/* torch.optim.AdamW, step t:
 *   p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)                              */
int lt__cpu_adamw(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                  const lt_adamw_cfg *c, int64_t step, float grad_scale) {
    float bc1 = 1.0f - powf(c->beta1, (float)step), bc2 = 1.0f - powf(c->beta2, (float)step);
    float decay = 1.0f - c->lr * c->weight_decay;
#pragma omp parallel for simd if (n >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        float mi = m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * gi;
        float vi = v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * gi * gi;
        p[i] = p[i] * decay - c->lr * (mi / bc1) / (sqrtf(vi / bc2) + c->eps);
    }
    return 0;
}
