/* tests/test_ridge: the bandits' ridge ops (ops.h, "ridge regression for the bandits").
 *  1. lt_ridge_update after many rows against a double reference that builds every
 *     A_m = lambda I + sum x x^T and b_m = sum r x directly and inverts A_m by Gauss-Jordan;
 *  2. lt_ridge_score (x . theta and x^T A^-1 x) against the same reference;
 *  3. argument errors (a model id out of range, model ids missing, bad shapes);
 *  4. CUDA against CPU on the same inputs ("skipped: no CUDA device" without a GPU).
 * Sizes cover the single-thread path (D < 128) and the threaded one (D >= 128). */
#include <math.h>
#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/ops.h"
#include "longtail/rng.h"
#include "testutil.h"

static lt_rng g_rng;

typedef struct {
    int64_t M, D, n;
    float lambda;
    float *x, *r;
    int32_t *model;
} case_t;

static case_t make_case(int64_t M, int64_t D, int64_t n) {
    case_t c = {.M = M, .D = D, .n = n, .lambda = 0.7f};
    c.x = malloc(sizeof(float) * (size_t)(n * D)), c.r = malloc(sizeof(float) * (size_t)n);
    c.model = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n * D; i++) c.x[i] = (lt_rng_next_uniform(&g_rng) - 0.5f) / sqrtf((float)D) * 2.0f;
    for (int64_t i = 0; i < n; i++) {
        c.r[i] = lt_rng_next_uniform(&g_rng) < 0.3f ? 1.0f : 0.0f;
        c.model[i] = (int32_t)lt_rng_below(&g_rng, (uint64_t)M);
    }
    return c;
}

static void free_case(case_t *c) { free(c->x), free(c->r), free(c->model); }

/* Run the ops on backend be: ainv and b after the updates (applied in `parts` calls, to check that
 * splitting the rows changes nothing), then mean and var of every row of x. Host outputs. */
static void run_ops(lt_backend *be, const case_t *c, int parts, float *ainv, float *b, float *mean, float *var) {
    int64_t M = c->M, D = c->D, n = c->n;
    for (int64_t e = 0; e < M * D * D; e++) ainv[e] = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t p = 0; p < D; p++) ainv[(m * D + p) * D + p] = 1.0f / c->lambda;
    for (int64_t e = 0; e < M * D; e++) b[e] = 0;
    lt_tensor A, B, X, R, I, Mu, V;
    OK(lt_tensor_new(&A, be, LT_F32, 3, (int64_t[]){M, D, D}));
    OK(lt_tensor_new(&B, be, LT_F32, 2, (int64_t[]){M, D}));
    lt_tensor hA = lt_view(ainv, LT_F32, LT_CPU, 3, (int64_t[]){M, D, D}), hB = lt_view2(b, LT_F32, LT_CPU, M, D);
    OK(lt_tensor_copy(be, &A, &hA));
    OK(lt_tensor_copy(be, &B, &hB));
    for (int k = 0; k < parts; k++) {
        int64_t lo = n * k / parts, hi = n * (k + 1) / parts;
        lt_tensor hx = lt_view2(c->x + lo * D, LT_F32, LT_CPU, hi - lo, D);
        lt_tensor hr = lt_view1(c->r + lo, LT_F32, LT_CPU, hi - lo), hi32 = lt_view1(c->model + lo, LT_I32, LT_CPU, hi - lo);
        OK(lt_tensor_new(&X, be, LT_F32, 2, (int64_t[]){hi - lo, D}));
        OK(lt_tensor_new(&R, be, LT_F32, 1, (int64_t[]){hi - lo}));
        OK(lt_tensor_new(&I, be, LT_I32, 1, (int64_t[]){hi - lo}));
        OK(lt_tensor_copy(be, &X, &hx));
        OK(lt_tensor_copy(be, &R, &hr));
        OK(lt_tensor_copy(be, &I, &hi32));
        OK(lt_ridge_update(be, &A, &B, &X, &R, M == 1 ? NULL : &I));
        lt_tensor_free(be, &X), lt_tensor_free(be, &R), lt_tensor_free(be, &I);
    }
    lt_tensor hx = lt_view2(c->x, LT_F32, LT_CPU, n, D), hi32 = lt_view1(c->model, LT_I32, LT_CPU, n);
    OK(lt_tensor_new(&X, be, LT_F32, 2, (int64_t[]){n, D}));
    OK(lt_tensor_new(&I, be, LT_I32, 1, (int64_t[]){n}));
    OK(lt_tensor_new(&Mu, be, LT_F32, 1, (int64_t[]){n}));
    OK(lt_tensor_new(&V, be, LT_F32, 1, (int64_t[]){n}));
    OK(lt_tensor_copy(be, &X, &hx));
    OK(lt_tensor_copy(be, &I, &hi32));
    OK(lt_ridge_score(be, &Mu, &V, &A, &B, &X, M == 1 ? NULL : &I));
    lt_tensor hm = lt_view1(mean, LT_F32, LT_CPU, n), hv = lt_view1(var, LT_F32, LT_CPU, n);
    OK(lt_tensor_copy(be, &hA, &A));
    OK(lt_tensor_copy(be, &hB, &B));
    OK(lt_tensor_copy(be, &hm, &Mu));
    OK(lt_tensor_copy(be, &hv, &V));
    OK(lt_backend_sync(be));
    lt_tensor *ts[] = {&A, &B, &X, &I, &Mu, &V};
    for (int k = 0; k < 6; k++) lt_tensor_free(be, ts[k]);
}

/* Gauss-Jordan inverse of a[D, D] (symmetric positive definite here) into inv, in double. */
static void invert(double *a, double *inv, int64_t D) {
    for (int64_t p = 0; p < D; p++)
        for (int64_t q = 0; q < D; q++) inv[p * D + q] = p == q;
    for (int64_t c = 0; c < D; c++) {
        int64_t piv = c;
        for (int64_t r = c + 1; r < D; r++)
            if (fabs(a[r * D + c]) > fabs(a[piv * D + c])) piv = r;
        for (int64_t q = 0; q < D; q++) {
            double t = a[c * D + q]; a[c * D + q] = a[piv * D + q], a[piv * D + q] = t;
            t = inv[c * D + q], inv[c * D + q] = inv[piv * D + q], inv[piv * D + q] = t;
        }
        double d = a[c * D + c];
        for (int64_t q = 0; q < D; q++) a[c * D + q] /= d, inv[c * D + q] /= d;
        for (int64_t r = 0; r < D; r++) {
            if (r == c) continue;
            double f = a[r * D + c];
            for (int64_t q = 0; q < D; q++) a[r * D + q] -= f * a[c * D + q], inv[r * D + q] -= f * inv[c * D + q];
        }
    }
}

/* Largest |got - want| / (atol + |want|) over n values. */
static double rel_err(const float *got, const double *want, int64_t n, double atol) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (atol + fabs(want[i]));
        if (!(e <= worst)) worst = e; /* NaN becomes the worst */
    }
    return worst;
}

static void test_reference(int64_t M, int64_t D, int64_t n) {
    case_t c = make_case(M, D, n);
    float *ainv = malloc(sizeof(float) * (size_t)(M * D * D)), *b = malloc(sizeof(float) * (size_t)(M * D));
    float *mean = malloc(sizeof(float) * (size_t)n), *var = malloc(sizeof(float) * (size_t)n);
    run_ops(lt_backend_cpu(), &c, 3, ainv, b, mean, var);
    double *a = malloc(sizeof(double) * (size_t)(D * D)), *inv = malloc(sizeof(double) * (size_t)(M * D * D));
    double *bref = calloc((size_t)(M * D), sizeof(double)), *mref = malloc(sizeof(double) * (size_t)n);
    double *vref = malloc(sizeof(double) * (size_t)n), *babs = calloc((size_t)(M * D), sizeof(double));
    int64_t *rows = calloc((size_t)M, sizeof(int64_t));
    for (int64_t m = 0; m < M; m++) {
        for (int64_t p = 0; p < D; p++)
            for (int64_t q = 0; q < D; q++) a[p * D + q] = p == q ? c.lambda : 0;
        for (int64_t i = 0; i < n; i++) {
            if ((M == 1 ? 0 : c.model[i]) != m) continue;
            const float *x = c.x + i * D;
            rows[m] += c.r[i] != 0; /* r = 0 adds an exact zero */
            for (int64_t p = 0; p < D; p++) {
                bref[m * D + p] += (double)c.r[i] * x[p];
                babs[m * D + p] += fabs((double)c.r[i] * x[p]);
                for (int64_t q = 0; q < D; q++) a[p * D + q] += (double)x[p] * x[q];
            }
        }
        invert(a, inv + m * D * D, D);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t m = M == 1 ? 0 : c.model[i];
        const double *Ai = inv + m * D * D;
        double sm = 0, sv = 0;
        for (int64_t p = 0; p < D; p++) {
            double s = 0;
            for (int64_t q = 0; q < D; q++) s += Ai[p * D + q] * c.x[i * D + q];
            sm += s * bref[m * D + p], sv += s * c.x[i * D + p];
        }
        mref[i] = sm, vref[i] = sv;
    }
    /* b is stored in fp32 after every row: rows[m] roundings of partial sums, each at most 2^-24
     * of sum |r x|. That bound, not a tolerance on b's own value (a sum that cancels to ~0). */
    double e_b = 0;
    for (int64_t e = 0; e < M * D; e++) {
        double err = fabs((double)b[e] - bref[e]) / ((double)rows[e / D] * 0x1p-24 * babs[e] + 1e-30);
        if (!(err <= e_b)) e_b = err;
    }
    double e_a = rel_err(ainv, inv, M * D * D, 1e-3);
    double e_m = rel_err(mean, mref, n, 1e-3), e_v = rel_err(var, vref, n, 1e-3);
    printf("  cpu vs reference M=%lld D=%lld n=%lld: ainv %.2e b %.3f of its bound mean %.2e var %.2e\n", (long long)M,
           (long long)D, (long long)n, e_a, e_b, e_m, e_v);
    CHECK_MSG(e_a < 2e-3 && e_b <= 1 && e_m < 2e-3 && e_v < 2e-3, "M=%lld D=%lld", (long long)M, (long long)D);
    free(a), free(inv), free(bref), free(mref), free(vref), free(babs), free(rows);
    free(ainv), free(b), free(mean), free(var);
    free_case(&c);
}

static void test_errors(void) {
    lt_backend *be = lt_backend_cpu();
    float ainv[2 * 4] = {1, 0, 0, 1, 1, 0, 0, 1}, b[4] = {0}, x[2] = {1, 2}, r[1] = {1}, mean[1], var[1];
    int32_t bad[1] = {2};
    lt_tensor A = lt_view(ainv, LT_F32, LT_CPU, 3, (int64_t[]){2, 2, 2}), B = lt_view2(b, LT_F32, LT_CPU, 2, 2);
    lt_tensor X = lt_view2(x, LT_F32, LT_CPU, 1, 2), R = lt_view1(r, LT_F32, LT_CPU, 1), I = lt_view1(bad, LT_I32, LT_CPU, 1);
    lt_tensor Mu = lt_view1(mean, LT_F32, LT_CPU, 1), V = lt_view1(var, LT_F32, LT_CPU, 1);
    FAILS_WITH(lt_ridge_update(be, &A, &B, &X, &R, &I), LT_ERANGE, "model 2");
    FAILS_WITH(lt_ridge_score(be, &Mu, &V, &A, &B, &X, &I), LT_ERANGE, "model 2");
    FAILS_WITH(lt_ridge_update(be, &A, &B, &X, &R, NULL), LT_EINVAL, "no model ids");
    lt_tensor X3 = lt_view2(x, LT_F32, LT_CPU, 2, 1);
    FAILS_WITH(lt_ridge_score(be, &Mu, &V, &A, &B, &X3, &I), LT_ESHAPE, "expected [M, D, D]");
    printf("  argument errors: ok\n");
}

static void test_cuda(lt_backend *cuda, int64_t M, int64_t D, int64_t n) {
    case_t c = make_case(M, D, n);
    size_t na = (size_t)(M * D * D), nb = (size_t)(M * D);
    float *a0 = malloc(sizeof(float) * na), *b0 = malloc(sizeof(float) * nb), *m0 = malloc(sizeof(float) * (size_t)n);
    float *v0 = malloc(sizeof(float) * (size_t)n), *a1 = malloc(sizeof(float) * na), *b1 = malloc(sizeof(float) * nb);
    float *m1 = malloc(sizeof(float) * (size_t)n), *v1 = malloc(sizeof(float) * (size_t)n);
    run_ops(lt_backend_cpu(), &c, 2, a0, b0, m0, v0);
    run_ops(cuda, &c, 2, a1, b1, m1, v1);
    double *w = malloc(sizeof(double) * (na > (size_t)n ? na : (size_t)n));
    double e[4];
    for (size_t i = 0; i < na; i++) w[i] = a0[i];
    e[0] = rel_err(a1, w, (int64_t)na, 1e-3);
    for (size_t i = 0; i < nb; i++) w[i] = b0[i];
    e[1] = rel_err(b1, w, (int64_t)nb, 1e-3);
    for (int64_t i = 0; i < n; i++) w[i] = m0[i];
    e[2] = rel_err(m1, w, n, 1e-3);
    for (int64_t i = 0; i < n; i++) w[i] = v0[i];
    e[3] = rel_err(v1, w, n, 1e-3);
    printf("  cuda vs cpu M=%lld D=%lld n=%lld: ainv %.2e b %.2e mean %.2e var %.2e\n", (long long)M, (long long)D,
           (long long)n, e[0], e[1], e[2], e[3]);
    CHECK(e[0] < 1e-4 && e[1] < 1e-6 && e[2] < 1e-4 && e[3] < 1e-4);
    free(w), free(a0), free(b0), free(m0), free(v0), free(a1), free(b1), free(m1), free(v1);
    free_case(&c);
}

int main(void) {
    lt_rng_init(&g_rng, tu_seed(), 0);
    test_reference(1, 9, 200);   /* one shared model */
    test_reference(5, 6, 300);   /* per-item models */
    test_reference(1, 160, 400); /* the threaded path */
    test_errors();
    lt_backend *cuda = NULL;
    if (tu_gpu(&cuda) < 0) {
        printf("  cuda vs cpu: skipped: no CUDA device (%s)\n", lt_last_error());
    } else {
        test_cuda(cuda, 1, 33, 500);
        test_cuda(cuda, 40, 17, 900);
        test_cuda(cuda, 3, 300, 64);
        lt_backend_release(cuda);
    }
    printf(tu_failures ? "test_ridge: %d FAILED\n" : "test_ridge: ok%.0d\n", tu_failures);
    return tu_failures != 0;
}
