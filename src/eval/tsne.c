/* t-SNE (van der Maaten 2014, Barnes-Hut) for the report's map.
 *
 *  1. Neighbours: the K = 3 * perplexity nearest of every point, by blocks of rows: one GEMM
 *     against all points on the backend, then lt_topk of -distance.
 *  2. Affinities: per point, the Gaussian bandwidth whose conditional distribution over its
 *     neighbours has the requested perplexity (bisection on beta), then P = (P + P^T) / 2n, sparse.
 *  3. Layout: start from the data's first two principal components (scaled to std 1e-4), then
 *     gradient descent with momentum and gains: attraction over the sparse P, repulsion from a
 *     quadtree (cells farther than size / theta act as one body), 12x early exaggeration for the
 *     first quarter of the iterations.
 * Deterministic whatever the thread count: the tree is built in point order, every point's
 * forces are computed independently, and the normaliser Z is summed in point order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/cluster.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"

void lt_tsne_opts_init(lt_tsne_opts *o) {
    memset(o, 0, sizeof *o);
    o->perplexity = 30;
    o->iters = 750;
    o->theta = 0.5;
    o->seed = 1;
}

#define TSNE_BLOCK 512

/* nb[n, K], nd[n, K]: the K nearest other points of each point and their squared distances */
static int neighbours(lt_backend *be, const float *x, int64_t n, int64_t d, int K, int32_t *nb, float *nd) {
    int64_t B = n < TSNE_BLOCK ? n : TSNE_BLOCK;
    float *norm = malloc(sizeof(float) * (size_t)n), *s = malloc(sizeof(float) * (size_t)(B * n));
    float *vals = malloc(sizeof(float) * (size_t)(B * (K + 1)));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(B * (K + 1)));
    int rc = norm && s && vals && idx ? 0 : lt_error(LT_ENOMEM, "tsne: out of memory for %lld points", (long long)n);
    for (int64_t i = 0; i < n && !rc; i++) {
        double t = 0;
        for (int64_t j = 0; j < d; j++) t += (double)x[i * d + j] * x[i * d + j];
        norm[i] = (float)t;
    }
    lt_backend *cpu = lt_backend_cpu();
    (void)be; /* the blocks are small; the CPU backend keeps them next to the data */
    for (int64_t b = 0; b < n && !rc; b += B) {
        int64_t m = n - b < B ? n - b : B;
        /* s = 2 x_b x^T - |x|^2: larger = nearer, for lt_topk */
        lt_tensor xb = lt_view2((void *)(x + b * d), LT_F32, LT_CPU, m, d), xa = lt_view2((void *)x, LT_F32, LT_CPU, n, d);
        lt_tensor st = lt_view2(s, LT_F32, LT_CPU, m, n);
        if ((rc = lt_matmul(cpu, &st, &xb, 0, &xa, 1, 2.0f, 0.0f))) break;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) s[i * n + j] -= norm[j];
        lt_tensor tv = lt_view2(vals, LT_F32, LT_CPU, m, K + 1), ti = lt_view2(idx, LT_I32, LT_CPU, m, K + 1);
        if ((rc = lt_topk(cpu, &tv, &ti, &st))) break;
        for (int64_t i = 0; i < m; i++) { /* drop the point itself (or, with duplicates, the last) */
            int64_t row = b + i, w = 0;
            for (int j = 0; j <= K && w < K; j++) {
                int32_t c = idx[i * (K + 1) + j];
                if (c == row) continue;
                float dd = norm[row] - vals[i * (K + 1) + j];
                nb[row * K + w] = c, nd[row * K + w] = dd > 0 ? dd : 0;
                w++;
            }
        }
    }
    free(norm), free(s), free(vals), free(idx);
    return rc;
}

/* p[K]: exp(-beta d) normalised, with beta chosen so that the entropy is log(perplexity) */
static void calibrate(const float *dist, int K, double perplexity, double *p) {
    double lo = 0, hi = INFINITY, beta = 1, target = log(perplexity), dmin = dist[0];
    for (int j = 1; j < K; j++) dmin = dist[j] < dmin ? dist[j] : dmin;
    for (int it = 0; it < 200; it++) {
        double sum = 0, h = 0;
        for (int j = 0; j < K; j++) sum += p[j] = exp(-beta * (dist[j] - dmin)); /* shifted: no underflow */
        for (int j = 0; j < K; j++) {
            p[j] /= sum;
            h += beta * (dist[j] - dmin) * p[j];
        }
        h += log(sum);
        if (fabs(h - target) < 1e-5) break;
        if (h > target) lo = beta, beta = isinf(hi) ? beta * 2 : (beta + hi) / 2;
        else hi = beta, beta = (beta + lo) / 2;
    }
}

typedef struct {
    int64_t *off; /* n + 1 */
    int32_t *col;
    double *val;
} csr;

static int cmp_edge(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

/* P = (P_cond + P_cond^T) / (2n) as CSR with sorted columns */
static int symmetrize(const int32_t *nb, const double *pc, int64_t n, int K, csr *P) {
    int64_t m = 2 * n * K;
    int64_t *e = malloc(sizeof(int64_t) * 3 * (size_t)m); /* (row, col, bits of the value) */
    P->off = calloc((size_t)n + 1, sizeof(int64_t));
    P->col = malloc(sizeof(int32_t) * (size_t)m);
    P->val = malloc(sizeof(double) * (size_t)m);
    if (!e || !P->off || !P->col || !P->val) {
        free(e);
        return lt_error(LT_ENOMEM, "tsne: out of memory for %lld affinities", (long long)m);
    }
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < K; j++) {
            int64_t t = (i * K + j) * 2;
            double v = pc[i * K + j];
            e[3 * t] = i, e[3 * t + 1] = nb[i * K + j], memcpy(&e[3 * t + 2], &v, sizeof v);
            e[3 * t + 3] = nb[i * K + j], e[3 * t + 4] = i, memcpy(&e[3 * t + 5], &v, sizeof v);
        }
    qsort(e, (size_t)m, 3 * sizeof(int64_t), cmp_edge);
    int64_t w = 0;
    for (int64_t t = 0; t < m; t++) {
        double v;
        memcpy(&v, &e[3 * t + 2], sizeof v);
        if (w && P->col[w - 1] == e[3 * t + 1] && t && e[3 * (t - 1)] == e[3 * t]) {
            P->val[w - 1] += v;
        } else {
            P->col[w] = (int32_t)e[3 * t + 1], P->val[w] = v, P->off[e[3 * t] + 1]++;
            w++;
        }
    }
    for (int64_t i = 0; i < n; i++) P->off[i + 1] += P->off[i];
    for (int64_t t = 0; t < w; t++) P->val[t] /= 2.0 * (double)n;
    free(e);
    return 0;
}

/* ---- the quadtree ---------------------------------------------------------------------------- */

typedef struct {
    double cx, cy, hw;   /* cell centre and half-width */
    double mx, my;       /* centre of mass */
    int64_t count;
    int32_t child;       /* first of 4 children, or -1 for a leaf */
    int32_t point;       /* a leaf's single point (-1: empty or several at the depth limit) */
} qnode;

typedef struct {
    qnode *node;
    int64_t n, cap;
} qtree;

static int32_t q_new(qtree *t, double cx, double cy, double hw) {
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 1024;
        qnode *p = realloc(t->node, sizeof(qnode) * (size_t)cap);
        if (!p) return -1;
        t->node = p, t->cap = cap;
    }
    t->node[t->n] = (qnode){cx, cy, hw, 0, 0, 0, -1, -1};
    return (int32_t)t->n++;
}

static int q_insert(qtree *t, const double *y, int32_t i) {
    int32_t c = 0;
    for (int depth = 0;; depth++) {
        qnode *q = &t->node[c];
        q->mx = (q->mx * (double)q->count + y[2 * i]) / (double)(q->count + 1);
        q->my = (q->my * (double)q->count + y[2 * i + 1]) / (double)(q->count + 1);
        q->count++;
        if (q->child < 0) {
            if (q->count == 1) {
                q->point = i;
                return 0;
            }
            if (depth >= 40) { /* (near-)duplicates: keep them together */
                q->point = -1;
                return 0;
            }
            /* split: the resident point moves down into a child, then continue with i */
            int32_t old = q->point, first = -1;
            double cx = q->cx, cy = q->cy, h = q->hw / 2;
            for (int k = 0; k < 4; k++) {
                int32_t nc = q_new(t, cx + (k & 1 ? h : -h), cy + (k & 2 ? h : -h), h);
                if (nc < 0) return lt_error(LT_ENOMEM, "tsne: out of memory for the quadtree");
                if (k == 0) first = nc;
            }
            q = &t->node[c]; /* q_new may have moved the nodes */
            q->child = first, q->point = -1;
            int k = (y[2 * old] > q->cx) | (y[2 * old + 1] > q->cy) << 1;
            qnode *ch = &t->node[first + k];
            ch->mx = y[2 * old], ch->my = y[2 * old + 1], ch->count = 1, ch->point = old;
        }
        int k = (y[2 * i] > q->cx) | (y[2 * i + 1] > q->cy) << 1;
        c = q->child + k;
    }
}

/* Repulsion on point i: sum over bodies of N q^2 (y_i - y_body) into f, and of N q into *z,
 * q = 1 / (1 + |y_i - y_body|^2). */
static void q_repulse(const qtree *t, const double *y, int32_t i, double theta, double *f, double *z) {
    int32_t stack[256];
    int sp = 0;
    stack[sp++] = 0;
    double fx = 0, fy = 0, zz = 0, theta2 = theta * theta;
    while (sp) {
        const qnode *q = &t->node[stack[--sp]];
        if (q->count == 0 || (q->child < 0 && q->point == i)) continue;
        double dx = y[2 * i] - q->mx, dy = y[2 * i + 1] - q->my, d2 = dx * dx + dy * dy;
        if (q->child < 0 || 4 * q->hw * q->hw < theta2 * d2) { /* size / distance < theta */
            double N = (double)q->count - (d2 == 0 && q->child < 0 ? 1 : 0); /* a duplicate leaf holding i */
            double qq = 1 / (1 + d2);
            zz += N * qq;
            fx += N * qq * qq * dx, fy += N * qq * qq * dy;
        } else {
            for (int k = 3; k >= 0; k--)
                if (sp < 256) stack[sp++] = q->child + k;
        }
    }
    f[0] = fx, f[1] = fy, *z = zz;
}

int lt_tsne(lt_backend *be, const float *x, int64_t n, int64_t d, const lt_tsne_opts *o, float *out) {
    if (n < 4 || n > 50000) return lt_error(LT_EINVAL, "tsne: n = %lld points; 4 to 50000 are supported", (long long)n);
    if (!(o->perplexity >= 2)) return lt_error(LT_EINVAL, "tsne: perplexity = %g must be >= 2", o->perplexity);
    int K = (int)(3 * o->perplexity);
    if (K > n - 1) K = (int)(n - 1);
    if (K > LT_TOPK_MAX - 1) K = LT_TOPK_MAX - 1;
    double perp = o->perplexity < K ? o->perplexity : K / 3.0 + 1;
    int32_t *nb = malloc(sizeof(int32_t) * (size_t)(n * K));
    float *nd = malloc(sizeof(float) * (size_t)(n * K));
    double *pc = malloc(sizeof(double) * (size_t)(n * K));
    double *y = malloc(sizeof(double) * 2 * (size_t)n), *upd = calloc(2 * (size_t)n, sizeof(double));
    double *gain = malloc(sizeof(double) * 2 * (size_t)n), *grad = malloc(sizeof(double) * 2 * (size_t)n);
    double *zi = malloc(sizeof(double) * (size_t)n), *rep = malloc(sizeof(double) * 2 * (size_t)n);
    csr P = {0};
    qtree tree = {0};
    int rc = nb && nd && pc && y && upd && gain && grad && zi && rep ? 0 : lt_error(LT_ENOMEM, "tsne: out of memory");
    double t0 = lt_seconds();
    if (!rc) rc = neighbours(be, x, n, d, K, nb, nd);
    if (!rc) {
#pragma omp parallel for schedule(dynamic, 64)
        for (int64_t i = 0; i < n; i++) calibrate(nd + i * K, K, perp, pc + i * K);
        rc = symmetrize(nb, pc, n, K, &P);
    }
    /* the start: the first two principal components, scaled to std 1e-4 */
    if (!rc) {
        lt_vecs *v = NULL;
        lt_pca pca;
        lt_pca_opts po;
        lt_pca_opts_init(&po);
        po.q = 2, po.seed = o->seed;
        float *y2 = malloc(sizeof(float) * 2 * (size_t)n);
        rc = y2 ? lt_vecs_memory(&v, x, n, d) : lt_error(LT_ENOMEM, "tsne: out of memory");
        if (!rc && d >= 2) rc = lt_pca_fit(lt_backend_cpu(), v, &po, &pca);
        if (!rc && d >= 2) rc = lt_pca_project(lt_backend_cpu(), &pca, v, y2), lt_pca_free(&pca);
        if (!rc) {
            double sd = 0;
            for (int64_t i = 0; i < n; i++) y[2 * i] = d >= 2 ? y2[2 * i] : x[i], y[2 * i + 1] = d >= 2 ? y2[2 * i + 1] : 0;
            for (int64_t i = 0; i < n; i++) sd += y[2 * i] * y[2 * i];
            sd = sqrt(sd / (double)n);
            for (int64_t i = 0; i < 2 * n; i++) y[i] = sd > 0 ? y[i] * 1e-4 / sd : 0;
        }
        free(y2);
        lt_vecs_free(v);
    }
    for (int64_t i = 0; i < 2 * n; i++) gain[i] = 1;
    double lr = (double)n / 12.0 / 4.0;
    if (lr < 50) lr = 50;
    int exag_until = o->iters / 4 < 250 ? o->iters / 4 : 250;
    for (int it = 0; it < o->iters && !rc; it++) {
        double exag = it < exag_until ? 12.0 : 1.0, mom = it < exag_until ? 0.5 : 0.8;
        /* the tree over the current layout */
        double minx = INFINITY, maxx = -INFINITY, miny = INFINITY, maxy = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            minx = fmin(minx, y[2 * i]), maxx = fmax(maxx, y[2 * i]);
            miny = fmin(miny, y[2 * i + 1]), maxy = fmax(maxy, y[2 * i + 1]);
        }
        double hw = fmax(maxx - minx, maxy - miny) / 2 * (1 + 1e-9) + 1e-12;
        tree.n = 0;
        if (q_new(&tree, (minx + maxx) / 2, (miny + maxy) / 2, hw) < 0) rc = lt_error(LT_ENOMEM, "tsne: quadtree");
        for (int64_t i = 0; i < n && !rc; i++) rc = q_insert(&tree, y, (int32_t)i);
        if (rc) break;
#pragma omp parallel for schedule(dynamic, 64)
        for (int64_t i = 0; i < n; i++) { /* per point only: no shared writes, any thread count */
            double ax = 0, ay = 0;
            q_repulse(&tree, y, (int32_t)i, o->theta, rep + 2 * i, &zi[i]);
            for (int64_t e = P.off[i]; e < P.off[i + 1]; e++) {
                int32_t j = P.col[e];
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1], q = 1 / (1 + dx * dx + dy * dy);
                ax += P.val[e] * q * dx, ay += P.val[e] * q * dy;
            }
            grad[2 * i] = exag * ax, grad[2 * i + 1] = exag * ay;
        }
        double Z = 0; /* in point order */
        for (int64_t i = 0; i < n; i++) Z += zi[i];
        if (!(Z > 0)) Z = 1;
        for (int64_t i = 0; i < 2 * n; i++) grad[i] = 4 * (grad[i] - rep[i] / Z);
        double mx = 0, my = 0;
        for (int64_t i = 0; i < 2 * n; i++) {
            /* gains grow where the gradient keeps pointing against the last step, as in bhtsne */
            gain[i] = (grad[i] > 0) != (upd[i] > 0) ? gain[i] + 0.2 : gain[i] * 0.8;
            if (gain[i] < 0.01) gain[i] = 0.01;
            upd[i] = mom * upd[i] - lr * gain[i] * grad[i];
            y[i] += upd[i];
        }
        for (int64_t i = 0; i < n; i++) mx += y[2 * i], my += y[2 * i + 1];
        mx /= (double)n, my /= (double)n;
        for (int64_t i = 0; i < n; i++) y[2 * i] -= mx, y[2 * i + 1] -= my;
        if (o->verbose && ((it + 1) % 250 == 0 || it + 1 == o->iters))
            lt_info("tsne: %lld points, iteration %d/%d, %.1fs", (long long)n, it + 1, o->iters, lt_seconds() - t0);
    }
    for (int64_t i = 0; i < 2 * n && !rc; i++) out[i] = (float)y[i];
    free(nb), free(nd), free(pc), free(y), free(upd), free(gain), free(grad), free(zi), free(rep);
    free(P.off), free(P.col), free(P.val), free(tree.node);
    return rc;
}
