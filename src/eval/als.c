/* Implicit ALS, the collaborative-filtering baseline (include/longtail/rec.h).
 *
 * For user u with training items S_u (confidence c = 1 + alpha, preference 1; all other items
 * confidence 1, preference 0) the factor solves
 *     (Y^T Y + sum_{i in S_u} (c - 1) y_i y_i^T + reg I) x_u = c sum_{i in S_u} y_i
 * and the items likewise with the users (Hu, Koren & Volinsky 2008: Y^T Y once per sweep, then a
 * small f x f system per row). Systems are solved in double by Cholesky, rows in parallel. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "longtail/error.h"
#include "longtail/ops.h"
#include "longtail/rec.h"
#include "longtail/rng.h"

struct lt_als {
    lt_als_cfg cfg;
    int64_t n_users, n_items, f;
    float *X, *Y; /* [n_users, f], [n_items, f] */
    double *YtY;  /* [f, f] of the final Y */
};

void lt_als_cfg_init(lt_als_cfg *c) { *c = (lt_als_cfg){.factors = 64, .iters = 15, .reg = 1.0, .alpha = 20.0, .seed = 1}; }

/* G[f, f] = M^T M for M[n, f] (float), in double through the CPU backend's GEMM. */
static int gram(const float *M, int64_t n, int64_t f, double *G) {
    float *g = malloc(sizeof *g * (size_t)(f * f));
    if (!g) return lt_error(LT_ENOMEM, "als: out of memory");
    lt_tensor tm = lt_view2((void *)M, LT_F32, LT_CPU, n, f), tg = lt_view2(g, LT_F32, LT_CPU, f, f);
    int rc = lt_matmul(lt_backend_cpu(), &tg, &tm, 1, &tm, 0, 1.0f, 0.0f);
    for (int64_t i = 0; i < f * f; i++) G[i] = g[i];
    free(g);
    return rc;
}


/* One row's factor from the rows `idx[n]` of the other side's factors Y (f columns). */
static int solve_row(const double *YtY, const float *Y, const int32_t *idx, int64_t n, int64_t f, double reg,
                     double alpha, double *A, double *b, float *out) {
    memcpy(A, YtY, sizeof *A * (size_t)(f * f));
    for (int64_t i = 0; i < f; i++) A[i * f + i] += reg, b[i] = 0;
    for (int64_t k = 0; k < n; k++) {
        const float *y = Y + (int64_t)idx[k] * f;
        for (int64_t i = 0; i < f; i++) {
            b[i] += (1.0 + alpha) * y[i];
            for (int64_t j = 0; j <= i; j++) A[i * f + j] += alpha * y[i] * y[j];
        }
    }
    if (lt__chol_solve(A, b, f)) return -1;
    for (int64_t i = 0; i < f; i++) out[i] = (float)b[i];
    return 0;
}

/* Every row of one side: CSR rows (off, idx) against the other side's factors Y. */
static int sweep(float *X, int64_t rows, const int64_t *off, const int32_t *idx, const float *Y, int64_t ny, int64_t f,
                 const lt_als_cfg *c) {
    double *YtY = malloc(sizeof *YtY * (size_t)(f * f));
    if (!YtY) return lt_error(LT_ENOMEM, "als: out of memory");
    int rc = gram(Y, ny, f, YtY), failed = 0;
#pragma omp parallel if (!rc)
    {
        double *A = malloc(sizeof *A * (size_t)(f * f)), *b = malloc(sizeof *b * (size_t)f);
        if (!A || !b) failed = 1;
#pragma omp for schedule(dynamic, 64)
        for (int64_t r = 0; r < rows; r++)
            if (A && b && solve_row(YtY, Y, idx + off[r], off[r + 1] - off[r], f, c->reg, c->alpha, A, b, X + r * f)) failed = 1;
        free(A), free(b);
    }
    free(YtY);
    return rc ? rc : failed ? lt_error(LT_ERANGE, "als: a system was not positive definite (reg %g)", c->reg) : 0;
}

int lt_als_train(const lt_rec_split *s, const lt_als_cfg *c, lt_als **out) {
    *out = NULL;
    if (c->factors < 1 || c->iters < 1 || !(c->reg > 0) || !(c->alpha >= 0))
        return lt_error(LT_ECONFIG, "als: factors and iters >= 1, reg > 0, alpha >= 0 are required");
    lt_als *a = calloc(1, sizeof *a);
    int64_t U = s->n_users, I = s->n_items, f = c->factors, E = s->off[U];
    if (!a) return lt_error(LT_ENOMEM, "als: out of memory");
    a->cfg = *c, a->n_users = U, a->n_items = I, a->f = f;
    a->X = calloc((size_t)(U * f + 1), sizeof *a->X), a->Y = malloc(sizeof *a->Y * (size_t)(I * f + 1));
    a->YtY = malloc(sizeof *a->YtY * (size_t)(f * f));
    /* the items' side of the matrix: users of each item (CSR transpose) */
    int64_t *ioff = calloc((size_t)(I + 1), sizeof *ioff);
    int32_t *iusr = malloc(sizeof *iusr * (size_t)(E + 1));
    int rc = a->X && a->Y && a->YtY && ioff && iusr ? 0 : lt_error(LT_ENOMEM, "als: out of memory");
    if (!rc) {
        for (int64_t e = 0; e < E; e++) ioff[s->seq[e] + 1]++;
        for (int64_t i = 0; i < I; i++) ioff[i + 1] += ioff[i];
        int64_t *fill = malloc(sizeof *fill * (size_t)(I + 1));
        if (!fill) rc = lt_error(LT_ENOMEM, "als: out of memory");
        else {
            memcpy(fill, ioff, sizeof *fill * (size_t)(I + 1));
            for (int64_t u = 0; u < U; u++)
                for (int64_t e = s->off[u]; e < s->off[u + 1]; e++) iusr[fill[s->seq[e]]++] = (int32_t)u;
            free(fill);
        }
        lt_rng r;
        lt_rng_init(&r, c->seed, 0xa15);
        for (int64_t i = 0; i < I * f; i++) a->Y[i] = 0.01f * lt_rng_next_normal(&r);
    }
    for (int64_t it = 0; it < c->iters && !rc; it++) {
        rc = sweep(a->X, U, s->off, s->seq, a->Y, I, f, c);
        if (!rc) rc = sweep(a->Y, I, ioff, iusr, a->X, U, f, c);
    }
    if (!rc) rc = gram(a->Y, I, f, a->YtY);
    free(ioff), free(iusr);
    if (rc) return lt_als_free(a), rc;
    *out = a;
    return 0;
}

void lt_als_free(lt_als *a) {
    if (!a) return;
    free(a->X), free(a->Y), free(a->YtY), free(a);
}

/* Fold-in: each case's factor solved from its input history, then Y x for every item. */
static int als_topk(void *ctx, const lt_rec_split *s, lt_rec_phase ph, const int32_t *users, int64_t n, int K,
                    int32_t *top) {
    lt_als *a = ctx;
    int64_t f = a->f, I = a->n_items;
    float *Xb = malloc(sizeof *Xb * (size_t)(n * f)), *S = malloc(sizeof *S * (size_t)(n * I));
    int rc = Xb && S ? 0 : lt_error(LT_ENOMEM, "als: out of memory");
    int failed = 0;
#pragma omp parallel if (!rc)
    {
        double *A = malloc(sizeof *A * (size_t)(f * f)), *b = malloc(sizeof *b * (size_t)f);
        int32_t *h = malloc(sizeof *h * (size_t)(s->ev->n_events + 1));
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < n; i++) {
            int64_t len = h ? lt_rec_history(s, ph, users[i], h) : 0;
            if (!A || !b || !h || solve_row(a->YtY, a->Y, h, len, f, a->cfg.reg, a->cfg.alpha, A, b, Xb + i * f))
                failed = 1;
        }
        free(A), free(b), free(h);
    }
    if (!rc && failed) rc = lt_error(LT_ERANGE, "als: fold-in failed");
    if (!rc) {
        lt_tensor tx = lt_view2(Xb, LT_F32, LT_CPU, n, f), ty = lt_view2(a->Y, LT_F32, LT_CPU, I, f);
        lt_tensor ts = lt_view2(S, LT_F32, LT_CPU, n, I);
        rc = lt_matmul(lt_backend_cpu(), &ts, &tx, 0, &ty, 1, 1.0f, 0.0f);
    }
    for (int64_t i = 0; i < n && !rc; i++) {
        const int32_t *ex;
        int64_t ne = lt_rec_excluded(s, ph, users[i], &ex);
        float *row = S + i * I;
        for (int64_t k = 0; k < ne; k++) row[ex[k]] = -INFINITY;
        lt__rec_topk_row(row, I, K, top + i * K);
    }
    free(Xb), free(S);
    return rc;
}

lt_rec_model lt_als_model(lt_als *a) { return (lt_rec_model){"implicit-als", a, als_topk}; }
