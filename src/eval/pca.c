/* PCA (cluster.h). Two passes over the rows: the mean (in double), then the covariance
 * C = sum (x - mean)^T (x - mean) / (n - 1) as GEMMs on the backend, one chunk of rows at a time,
 * each chunk's d x d product added into a double accumulator. Then the top q eigenvectors of C:
 *  - exact: Jacobi on all of C (d <= 256 by default);
 *  - randomized (Halko, Martinsson & Tropp): a Gaussian start of l = q + oversample directions,
 *    power_iters rounds of Y = C Q and re-orthonormalisation (subspace iteration), then Jacobi on
 *    the small Q^T C Q. Gaps in the spectrum make this converge geometrically. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "longtail/cluster.h"
#include "longtail/error.h"
#include "longtail/ops.h"
#include "longtail/rng.h"

#define PCA_CHUNK 65536

void lt_pca_opts_init(lt_pca_opts *o) {
    memset(o, 0, sizeof *o);
    o->q = 2;
    o->power_iters = 6;
    o->oversample = 10;
    o->exact = -1;
    o->seed = 1;
}

void lt_pca_free(lt_pca *p) {
    free(p->mean), free(p->components), free(p->variance);
    memset(p, 0, sizeof *p);
}

/* cov[d, d] (double) = sum over rows of (x - mean)^T (x - mean) */
static int covariance(lt_backend *be, lt_vecs *x, const double *mean, double *cov) {
    int64_t n = lt_vecs_count(x), d = lt_vecs_dim(x), chunk = n < PCA_CHUNK ? n : PCA_CHUNK;
    float *h = malloc(sizeof(float) * (size_t)(chunk * d)), *hc = malloc(sizeof(float) * (size_t)(d * d));
    int rc = h && hc ? 0 : lt_error(LT_ENOMEM, "pca: out of memory for %lld rows x %lld", (long long)chunk, (long long)d);
    int on_dev = lt_backend_device(be) != LT_CPU; /* CUDA, the guarded device: copy through device buffers */
    lt_tensor dx = {0}, dc = {0};
    int64_t sx[2] = {chunk, d}, sc[2] = {d, d};
    if (!rc && on_dev) rc = lt_tensor_new(&dx, be, LT_F32, 2, sx);
    if (!rc && on_dev) rc = lt_tensor_new(&dc, be, LT_F32, 2, sc);
    for (int64_t b = 0; b < n && !rc; b += chunk) {
        int64_t m = n - b < chunk ? n - b : chunk;
        if ((rc = lt_vecs_read(x, b, m, h))) break;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) h[i * d + j] = (float)(h[i * d + j] - mean[j]);
        lt_tensor a = lt_view2(h, LT_F32, LT_CPU, m, d), c = lt_view2(hc, LT_F32, LT_CPU, d, d);
        if (on_dev) {
            lt_tensor dv = lt_view2(dx.data, LT_F32, lt_backend_device(be), m, d);
            if ((rc = lt_tensor_copy(be, &dv, &a))) break;
            a = dv, c = dc;
        }
        if ((rc = lt_matmul(be, &c, &a, 1, &a, 0, 1.0f, 0.0f))) break; /* (x - mean)^T (x - mean) */
        if (on_dev) {
            lt_tensor hv = lt_view2(hc, LT_F32, LT_CPU, d, d);
            if ((rc = lt_tensor_copy(be, &hv, &dc))) break;
        }
        for (int64_t i = 0; i < d * d; i++) cov[i] += hc[i];
    }
    if (dx.data) lt_tensor_free(be, &dx);
    if (dc.data) lt_tensor_free(be, &dc);
    free(h), free(hc);
    return rc;
}

/* y[l, d] = q[l, d] C as one f32 GEMM on the CPU backend (cf = C in f32, qf scratch [l, d]):
 * subspace iteration only needs the directions, and they are re-orthonormalised in double. */
static int times_cov(const double *q, const float *cf, float *qf, double *y, int64_t l, int64_t d) {
    for (int64_t i = 0; i < l * d; i++) qf[i] = (float)q[i];
    float *yf = qf + l * d;
    lt_tensor a = lt_view2(qf, LT_F32, LT_CPU, l, d), c = lt_view2((void *)cf, LT_F32, LT_CPU, d, d);
    lt_tensor out = lt_view2(yf, LT_F32, LT_CPU, l, d);
    LT_TRY(lt_matmul(lt_backend_cpu(), &out, &a, 0, &c, 0, 1.0f, 0.0f));
    for (int64_t i = 0; i < l * d; i++) y[i] = yf[i];
    return 0;
}

int lt_pca_fit(lt_backend *be, lt_vecs *x, const lt_pca_opts *o, lt_pca *p) {
    memset(p, 0, sizeof *p);
    int64_t n = lt_vecs_count(x), d = lt_vecs_dim(x), q = o->q;
    if (q < 1 || q > d) return lt_error(LT_EINVAL, "pca: q = %lld components of %lld dimensions", (long long)q, (long long)d);
    if (n < 2) return lt_error(LT_EINVAL, "pca: %s has %lld rows; at least 2 are needed", lt_vecs_name(x), (long long)n);
    int exact = o->exact >= 0 ? o->exact : d <= 256;
    int64_t l = exact ? d : (q + o->oversample < d ? q + o->oversample : d);
    double *mean = calloc((size_t)d, sizeof(double)), *C = calloc((size_t)(d * d), sizeof(double));
    double *Q = malloc(sizeof(double) * (size_t)(l * d)), *Y = malloc(sizeof(double) * (size_t)(l * d));
    double *B = malloc(sizeof(double) * (size_t)(l * l)), *ev = malloc(sizeof(double) * (size_t)l);
    double *V = malloc(sizeof(double) * (size_t)(l * l));
    float *h = malloc(sizeof(float) * (size_t)((n < PCA_CHUNK ? n : PCA_CHUNK) * d));
    p->mean = malloc(sizeof(float) * (size_t)d);
    p->components = malloc(sizeof(float) * (size_t)(q * d));
    p->variance = malloc(sizeof(double) * (size_t)q);
    int rc = mean && C && Q && Y && B && ev && V && h && p->mean && p->components && p->variance
                 ? 0
                 : lt_error(LT_ENOMEM, "pca: out of memory for d = %lld", (long long)d);
    /* pass 1: the mean */
    for (int64_t b = 0; b < n && !rc; b += PCA_CHUNK) {
        int64_t m = n - b < PCA_CHUNK ? n - b : PCA_CHUNK;
        if ((rc = lt_vecs_read(x, b, m, h))) break;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) mean[j] += h[i * d + j];
    }
    for (int64_t j = 0; j < d && !rc; j++) mean[j] /= (double)n;
    /* pass 2: the covariance */
    if (!rc) rc = covariance(be, x, mean, C);
    if (!rc) {
        for (int64_t i = 0; i < d * d; i++) C[i] /= (double)(n - 1);
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < i; j++) C[i * d + j] = C[j * d + i] = (C[i * d + j] + C[j * d + i]) / 2;
        for (int64_t j = 0; j < d; j++) p->total_variance += C[j * d + j];
    }
    if (!rc && exact) {
        double *evals = malloc(sizeof(double) * (size_t)d);
        rc = evals ? lt__eig_sym(C, d, evals, Q) : lt_error(LT_ENOMEM, "pca: out of memory");
        for (int64_t i = 0; i < q && !rc; i++) p->variance[i] = evals[i];
        free(evals);
    } else if (!rc) {
        float *cf = malloc(sizeof(float) * (size_t)(d * d)), *qf = malloc(sizeof(float) * 2 * (size_t)(l * d));
        if (!cf || !qf) rc = lt_error(LT_ENOMEM, "pca: out of memory for d = %lld", (long long)d);
        for (int64_t i = 0; !rc && i < d * d; i++) cf[i] = (float)C[i];
        lt_rng r;
        lt_rng_init(&r, o->seed, 0x9ca);
        for (int64_t i = 0; !rc && i < l * d; i++) Q[i] = lt_rng_next_normal(&r);
        if (!rc) lt__orthonormalize_rows(Q, l, d);
        for (int it = 0; it < o->power_iters && !rc; it++) {
            rc = times_cov(Q, cf, qf, Y, l, d);
            memcpy(Q, Y, sizeof(double) * (size_t)(l * d));
            lt__orthonormalize_rows(Q, l, d);
        }
        /* B = Q C Q^T (l x l); its eigenvectors V rotate Q onto the principal directions */
        if (!rc) rc = times_cov(Q, cf, qf, Y, l, d);
        free(cf), free(qf);
        for (int64_t i = 0; i < l && !rc; i++)
            for (int64_t j = 0; j < l; j++) {
                double s = 0;
                for (int64_t t = 0; t < d; t++) s += Y[i * d + t] * Q[j * d + t];
                B[i * l + j] = s;
            }
        if (!rc) rc = lt__eig_sym(B, l, ev, V);
        for (int64_t i = 0; i < q && !rc; i++) {
            p->variance[i] = ev[i];
            for (int64_t t = 0; t < d; t++) {
                double s = 0;
                for (int64_t j = 0; j < l; j++) s += V[i * l + j] * Q[j * d + t];
                Y[i * d + t] = s;
            }
        }
        if (!rc) memcpy(Q, Y, sizeof(double) * (size_t)(q * d));
    }
    for (int64_t i = 0; i < q && !rc; i++) {
        lt__fix_sign(Q + i * d, d);
        for (int64_t t = 0; t < d; t++) p->components[i * d + t] = (float)Q[i * d + t];
    }
    for (int64_t j = 0; j < d && !rc; j++) p->mean[j] = (float)mean[j];
    free(mean), free(C), free(Q), free(Y), free(B), free(ev), free(V), free(h);
    if (rc) lt_pca_free(p);
    else p->d = d, p->q = q;
    return rc;
}

int lt_pca_project(lt_backend *be, const lt_pca *p, lt_vecs *x, float *y) {
    if (lt_vecs_dim(x) != p->d)
        return lt_error(LT_ESHAPE, "pca: %s has width %lld, the fit had %lld", lt_vecs_name(x), (long long)lt_vecs_dim(x),
                        (long long)p->d);
    float *w = malloc(sizeof(float) * (size_t)(p->d * p->q)); /* components^T: [d, q] */
    if (!w) return lt_error(LT_ENOMEM, "pca: out of memory");
    for (int64_t i = 0; i < p->q; i++)
        for (int64_t t = 0; t < p->d; t++) w[t * p->q + i] = p->components[i * p->d + t];
    lt_vecs *v;
    int rc = lt_vecs_transform(&v, x, p->mean, w, p->q, 0);
    free(w);
    if (!rc) rc = lt_vecs_read(v, 0, lt_vecs_count(v), y);
    lt_vecs_free(v);
    return rc;
}
