/* Judging a binary classifier (accuracy, balanced accuracy, ROC AUC) and the logistic-regression
 * baseline (include/longtail/classify.h), on the host in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "longtail/classify.h"
#include "longtail/error.h"

static const float *g_score; /* qsort has no context argument in C11 */
static int by_score(const void *a, const void *b) {
    float x = g_score[*(const int64_t *)a], y = g_score[*(const int64_t *)b];
    return x < y ? -1 : x > y;
}

void lt_bin_metrics_compute(const float *score, const uint8_t *label, int64_t n, double threshold, lt_bin_metrics *m) {
    memset(m, 0, sizeof *m);
    m->n = n;
    int64_t tp = 0, tn = 0;
    double ll = 0;
    for (int64_t i = 0; i < n; i++) {
        int y = label[i] != 0, pred = score[i] >= threshold;
        m->positives += y, tp += y && pred, tn += !y && !pred;
        double p = fmin(fmax((double)score[i], 1e-7), 1 - 1e-7);
        ll -= y ? log(p) : log(1 - p);
    }
    int64_t neg = n - m->positives;
    m->accuracy = n ? (double)(tp + tn) / (double)n : NAN;
    m->tail_recall = m->positives ? (double)tp / (double)m->positives : NAN;
    m->head_recall = neg ? (double)tn / (double)neg : NAN;
    m->balanced_accuracy = 0.5 * (m->tail_recall + m->head_recall);
    m->logloss = n ? ll / (double)n : NAN;
    m->auc = NAN;
    int64_t *idx = m->positives && neg ? malloc(sizeof *idx * (size_t)n) : NULL;
    if (!idx) return;
    /* Mann-Whitney: the positives' rank sum, tied scores sharing their mean rank */
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    g_score = score;
    qsort(idx, (size_t)n, sizeof *idx, by_score);
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, pos = 0;
        while (j < n && score[idx[j]] == score[idx[i]]) pos += label[idx[j]] != 0, j++;
        rank_sum += (double)pos * 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
        i = j;
    }
    double P = (double)m->positives, N = (double)neg;
    double A = m->auc = (rank_sum - P * (P + 1) / 2) / (P * N), q1 = A / (2 - A), q2 = 2 * A * A / (1 + A);
    m->auc_se = sqrt(fmax(0, A * (1 - A) + (P - 1) * (q1 - A * A) + (N - 1) * (q2 - A * A)) / (P * N));
    free(idx);
}

void lt_logreg_free(lt_logreg *m) {
    free(m->mean), free(m->scale), free(m->coef);
    memset(m, 0, sizeof *m);
}


/* sum_i w_i logloss(theta . z_i, y_i) + |theta without the intercept (the last entry)|^2 / (2 C) */
static double objective(const double *z, int64_t n, int64_t D, const uint8_t *y, const float *wt, double C,
                        const double *theta) {
    double f = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 0, yy = y[i] != 0;
        for (int64_t j = 0; j < D; j++) s += z[i * D + j] * theta[j];
        f += (wt ? wt[i] : 1.0) * (fmax(s, 0) - s * yy + log1p(exp(-fabs(s))));
    }
    for (int64_t j = 0; j < D - 1; j++) f += theta[j] * theta[j] / (2 * C);
    return f;
}

/* Newton's method on theta = (coef[d], intercept), features standardised (z = (x - mean) / scale):
 *   f = sum_i w_i logloss(theta . [z_i, 1], y_i) + |coef|^2 / (2 C)
 *   g = sum_i w_i (p_i - y_i) [z_i, 1] + [coef / C, 0],  H = sum_i w_i p_i (1 - p_i) [z_i, 1][z_i, 1]^T + diag(1/C, .., 0)
 * with step halving when f does not fall; stops when the step is below 1e-8 relative. */
int lt_logreg_fit(const float *x, int64_t n, int64_t d, const uint8_t *y, const float *wt, double C, lt_logreg *m) {
    memset(m, 0, sizeof *m);
    if (n < 1 || d < 1 || !(C > 0)) return lt_error(LT_EINVAL, "logreg: need rows, columns and C > 0");
    int64_t D = d + 1;
    m->d = d;
    m->mean = calloc((size_t)d, sizeof(double)), m->scale = calloc((size_t)d, sizeof(double));
    m->coef = calloc((size_t)d, sizeof(double));
    double *z = malloc(sizeof(double) * (size_t)(n * D)), *H = malloc(sizeof(double) * (size_t)(D * D));
    double *g = malloc(sizeof(double) * (size_t)D), *th = calloc((size_t)D, sizeof(double));
    double *t2 = malloc(sizeof(double) * (size_t)D), *q = malloc(sizeof(double) * (size_t)n);
    if (!m->mean || !m->scale || !m->coef || !z || !H || !g || !th || !t2 || !q) {
        free(z), free(H), free(g), free(th), free(t2), free(q), lt_logreg_free(m);
        return lt_error(LT_ENOMEM, "logreg: out of memory for %lld x %lld", (long long)n, (long long)d);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) m->mean[j] += x[i * d + j];
    for (int64_t j = 0; j < d; j++) m->mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) m->scale[j] += (x[i * d + j] - m->mean[j]) * (x[i * d + j] - m->mean[j]);
    for (int64_t j = 0; j < d; j++) {
        m->scale[j] = sqrt(m->scale[j] / (double)n);
        if (!(m->scale[j] > 1e-12)) m->scale[j] = 1; /* a constant column */
    }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) z[i * D + j] = (x[i * d + j] - m->mean[j]) / m->scale[j];
        z[i * D + d] = 1;
    }
    double f;
    f = objective(z, n, D, y, wt, C, th);
    int rc = 0;
    for (m->iters = 0; m->iters < 100; m->iters++) {
        memset(g, 0, sizeof(double) * (size_t)D), memset(H, 0, sizeof(double) * (size_t)(D * D));
        for (int64_t i = 0; i < n; i++) {
            double s = 0, wi = wt ? wt[i] : 1.0;
            const double *zi = z + i * D;
            for (int64_t j = 0; j < D; j++) s += zi[j] * th[j];
            double p = 1 / (1 + exp(-s)), r = wi * (p - (y[i] != 0));
            q[i] = wi * p * (1 - p);
            for (int64_t j = 0; j < D; j++) g[j] += r * zi[j];
        }
        for (int64_t j = 0; j < d; j++) g[j] += th[j] / C;
        for (int64_t i = 0; i < n; i++) { /* lower triangle of sum q_i z_i z_i^T */
            const double *zi = z + i * D;
            for (int64_t a = 0; a < D; a++) {
                double qa = q[i] * zi[a];
                double *row = H + a * D;
                for (int64_t b = 0; b <= a; b++) row[b] += qa * zi[b];
            }
        }
        for (int64_t a = 0; a < D; a++)
            for (int64_t b = a + 1; b < D; b++) H[a * D + b] = H[b * D + a];
        for (int64_t j = 0; j < d; j++) H[j * D + j] += 1 / C;
        H[d * D + d] += 1e-10; /* separable data: keep the intercept's pivot positive */
        if (lt__chol_solve(H, g, D)) {
            rc = lt_error(LT_EINVAL, "logreg: the Hessian is not positive definite (iteration %d)", m->iters);
            break;
        }
        double step = 1, fn = f, norm = 0, tn = 0;
        for (int64_t j = 0; j < D; j++) norm += g[j] * g[j], tn += th[j] * th[j];
        for (int h = 0; h < 30; h++, step *= 0.5) {
            for (int64_t j = 0; j < D; j++) t2[j] = th[j] - step * g[j];
            fn = objective(z, n, D, y, wt, C, t2);
            if (fn <= f) break;
        }
        if (!(fn <= f)) break; /* no descent left: converged to rounding */
        memcpy(th, t2, sizeof(double) * (size_t)D);
        f = fn;
        if (step * sqrt(norm) <= 1e-8 * (1 + sqrt(tn))) break;
    }
    memcpy(m->coef, th, sizeof(double) * (size_t)d);
    m->intercept = th[d];
    free(z), free(H), free(g), free(th), free(t2), free(q);
    if (rc) lt_logreg_free(m);
    return rc;
}

void lt_logreg_predict(const lt_logreg *m, const float *x, int64_t n, float *prob) {
    for (int64_t i = 0; i < n; i++) {
        double s = m->intercept;
        for (int64_t j = 0; j < m->d; j++) s += (x[i * m->d + j] - m->mean[j]) / m->scale[j] * m->coef[j];
        prob[i] = (float)(1 / (1 + exp(-s)));
    }
}
