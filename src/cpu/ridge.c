/* Ridge models of the bandits on the CPU (ops.h): Sherman-Morrison updates and scores, sums in
 * double. Rows of one model depend on each other, so the update runs row by row and splits each
 * row's O(D^2) work over the threads when D is large enough to pay for it. */
#include <stdlib.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

#define PAR_DIM 128 /* below this a row's work is too small to split over threads */

static int bad_model(const char *op, int64_t i, int32_t m, int64_t M) {
    return lt_error(LT_ERANGE, "%s: row %lld has model %d, outside [0, %lld)", op, (long long)i, m, (long long)M);
}

int lt__cpu_ridge_update(lt_backend *be, float *ainv, float *b, const float *x, const float *r, const int32_t *model,
                         int64_t n, int64_t M, int64_t D) {
    (void)be;
    double *u = malloc(sizeof *u * (size_t)D);
    if (!u) return lt_error(LT_ENOMEM, "ridge_update: out of memory");
    for (int64_t i = 0; i < n; i++) {
        int32_t m = model ? model[i] : 0;
        if (m < 0 || m >= M) return free(u), bad_model("ridge_update", i, m, M);
        float *A = ainv + (size_t)m * (size_t)(D * D), *bm = b + (size_t)m * (size_t)D;
        const float *xi = x + (size_t)i * (size_t)D;
#pragma omp parallel for schedule(static) if (D >= PAR_DIM)
        for (int64_t p = 0; p < D; p++) { /* u = A^-1 x */
            double s = 0;
            for (int64_t q = 0; q < D; q++) s += (double)A[p * D + q] * xi[q];
            u[p] = s;
        }
        double den = 1;
        for (int64_t p = 0; p < D; p++) den += u[p] * xi[p];
        double inv = 1 / den;
#pragma omp parallel for schedule(static) if (D >= PAR_DIM)
        for (int64_t p = 0; p < D; p++) {
            double up = u[p] * inv;
            for (int64_t q = 0; q < D; q++) A[p * D + q] = (float)((double)A[p * D + q] - up * u[q]);
        }
        for (int64_t p = 0; p < D; p++) bm[p] = (float)((double)bm[p] + (double)r[i] * xi[p]);
    }
    free(u);
    return 0;
}

int lt__cpu_ridge_score(lt_backend *be, float *mean, float *var, const float *ainv, const float *b, const float *x,
                        const int32_t *model, int64_t n, int64_t M, int64_t D) {
    (void)be;
    for (int64_t i = 0; i < n; i++)
        if (model && (model[i] < 0 || model[i] >= M)) return bad_model("ridge_score", i, model[i], M);
#pragma omp parallel for schedule(static) if (n * D * D >= 1 << 16)
    for (int64_t i = 0; i < n; i++) {
        int32_t m = model ? model[i] : 0;
        const float *A = ainv + (size_t)m * (size_t)(D * D), *bm = b + (size_t)m * (size_t)D;
        const float *xi = x + (size_t)i * (size_t)D;
        double sm = 0, sv = 0;
        for (int64_t p = 0; p < D; p++) { /* (A^-1 x)_p, then its dot with b and with x */
            double s = 0;
            for (int64_t q = 0; q < D; q++) s += (double)A[p * D + q] * xi[q];
            sm += s * bm[p], sv += s * xi[p];
        }
        mean[i] = (float)sm;
        if (var) var[i] = (float)sv;
    }
    return 0;
}
