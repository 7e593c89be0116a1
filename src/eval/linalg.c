/* Small dense linear algebra in double (eval.h): enough for PCA's d x d problems without LAPACK. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "longtail/error.h"

int lt__eig_sym(double *a, int64_t n, double *evals, double *evecs) {
    double *v = calloc((size_t)(n * n), sizeof(double));
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    if (!v || !order) {
        free(v), free(order);
        return lt_error(LT_ENOMEM, "eigen: out of memory for %lld x %lld", (long long)n, (long long)n);
    }
    for (int64_t i = 0; i < n; i++) v[i * n + i] = 1.0;
    /* cyclic sweeps of rotations A <- J^T A J that zero a[p][q]; V <- V J collects them */
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int64_t p = 0; p < n; p++) {
            diag += a[p * n + p] * a[p * n + p];
            for (int64_t q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
        }
        if (off <= 1e-30 * (diag + off)) break;
        for (int64_t p = 0; p < n; p++)
            for (int64_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < n; k++) { /* columns p, q */
                    double kp = a[k * n + p], kq = a[k * n + q];
                    a[k * n + p] = c * kp - s * kq, a[k * n + q] = s * kp + c * kq;
                }
                for (int64_t k = 0; k < n; k++) { /* rows p, q */
                    double pk = a[p * n + k], qk = a[q * n + k];
                    a[p * n + k] = c * pk - s * qk, a[q * n + k] = s * pk + c * qk;
                }
                for (int64_t k = 0; k < n; k++) {
                    double kp = v[k * n + p], kq = v[k * n + q];
                    v[k * n + p] = c * kp - s * kq, v[k * n + q] = s * kp + c * kq;
                }
            }
    }
    /* sort by eigenvalue, descending (stable: equal values keep their order) */
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = 1; i < n; i++) {
        int64_t o = order[i], j = i;
        while (j > 0 && a[order[j - 1] * n + order[j - 1]] < a[o * n + o]) order[j] = order[j - 1], j--;
        order[j] = o;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t o = order[i];
        evals[i] = a[o * n + o];
        for (int64_t k = 0; k < n; k++) evecs[i * n + k] = v[k * n + o];
    }
    free(v), free(order);
    return 0;
}

void lt__orthonormalize_rows(double *q, int64_t l, int64_t d) {
    int64_t fresh = 0; /* next unit vector to try when a row collapses */
    for (int64_t i = 0; i < l; i++) {
        double *qi = q + i * d;
        double before = 0;
        for (int64_t t = 0; t < d; t++) before += qi[t] * qi[t];
        for (int attempt = 0;; attempt++) {
            for (int pass = 0; pass < 2; pass++)
                for (int64_t j = 0; j < i; j++) {
                    const double *qj = q + j * d;
                    double r = 0;
                    for (int64_t t = 0; t < d; t++) r += qi[t] * qj[t];
                    for (int64_t t = 0; t < d; t++) qi[t] -= r * qj[t];
                }
            double norm = 0;
            for (int64_t t = 0; t < d; t++) norm += qi[t] * qi[t];
            if (norm > 1e-20 * (before > 0 ? before : 1) || attempt > d) {
                norm = sqrt(norm);
                for (int64_t t = 0; t < d; t++) qi[t] = norm > 0 ? qi[t] / norm : 0;
                break;
            }
            memset(qi, 0, sizeof(double) * (size_t)d); /* dependent: try e_fresh */
            qi[fresh++ % d] = 1.0;
            before = 1;
        }
    }
}

void lt__fix_sign(double *v, int64_t d) {
    int64_t arg = 0;
    for (int64_t t = 1; t < d; t++)
        if (fabs(v[t]) > fabs(v[arg])) arg = t;
    if (d > 0 && v[arg] < 0)
        for (int64_t t = 0; t < d; t++) v[t] = -v[t];
}

int lt__chol_solve(double *A, double *b, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double s = A[j * n + j];
        for (int64_t k = 0; k < j; k++) s -= A[j * n + k] * A[j * n + k];
        if (!(s > 0)) return -1;
        double d = sqrt(s);
        A[j * n + j] = d;
        for (int64_t i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (int64_t k = 0; k < j; k++) t -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = t / d;
        }
    }
    for (int64_t i = 0; i < n; i++) { /* L y = b */
        double t = b[i];
        for (int64_t k = 0; k < i; k++) t -= A[i * n + k] * b[k];
        b[i] = t / A[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; i--) { /* L^T x = y */
        double t = b[i];
        for (int64_t k = i + 1; k < n; k++) t -= A[k * n + i] * b[k];
        b[i] = t / A[i * n + i];
    }
    return 0;
}
