/* k-means (cluster.h): initialisation (k-means++, k-means||, random, given), Lloyd iterations and
 * the mini-batch variant, over any row source, on any backend.
 *
 * The data is seen in chunks of rows through a `feed`: when it fits the memory budget it is
 * loaded once (or used in place) and stays on the backend's device; otherwise every pass streams
 * it from its source (embedding shards), so n is bounded by disk, not memory. The heavy work per
 * chunk is two ops, lt_kmeans_assign (fused GEMM + arg-min) and lt_kmeans_update (segmented sums);
 * the host keeps assign/dist for all rows and turns the sums into centroids in double.
 *
 * Determinism: every random choice comes from lt_rng / lt_rng_uniform keyed by the seed and a
 * row index, the ops are deterministic, and host reductions run in a fixed order. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h" /* lt__cpu_kmeans_dist: the pruned pass recomputes dist exactly as the op does */
#include "longtail/cluster.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"
#include "longtail/rng.h"

void lt_kmeans_opts_init(lt_kmeans_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 8;
    o->max_iter = 25;
    o->tol = 1e-4;
    o->seed = 1;
    o->final_assign = 1;
    o->prune = 1;
    o->check_finite = 1;
}

void lt_kmeans_result_free(lt_kmeans_result *r) {
    free(r->centroids), free(r->assign), free(r->dist), free(r->sizes), free(r->history);
    memset(r, 0, sizeof *r);
}

/* RNG streams: one per purpose, so adding a draw to one never shifts another */
enum { STREAM_INIT = 1, STREAM_PARALLEL = 16, STREAM_REPAIR = 64, STREAM_MINIBATCH = 128 };

/* ---- the feed: chunks of rows on the backend's device ------------------------------------------- */

typedef struct {
    lt_backend *be;
    lt_vecs *src;
    int64_t n, d, chunk;
    int on_dev;          /* the backend's memory is not the host's (CUDA, the guarded device) */
    const float *host;   /* every row in host memory (the source's own, or `owned`), else NULL */
    float *owned;
    lt_tensor dev;       /* device memory: every row on the device, when it fits (data == NULL otherwise) */
    float *hbuf;         /* staging [chunk, d] */
    lt_tensor dbuf;      /* device staging [chunk, d] */
} feed;

static void feed_free(feed *f) {
    free(f->owned), free(f->hbuf);
    if (f->dev.data) lt_tensor_free(f->be, &f->dev);
    if (f->dbuf.data) lt_tensor_free(f->be, &f->dbuf);
    memset(f, 0, sizeof *f);
}

static int feed_init(feed *f, lt_backend *be, lt_vecs *src, int64_t chunk, double mem_bytes) {
    memset(f, 0, sizeof *f);
    f->be = be, f->src = src, f->n = lt_vecs_count(src), f->d = lt_vecs_dim(src);
    f->on_dev = lt_backend_device(be) != LT_CPU;
    /* mem_bytes < 0: never keep a copy (the source's memory changes between calls) */
    double bytes = 4.0 * (double)f->n * (double)f->d;
    int fits = bytes <= (mem_bytes > 0 ? mem_bytes : mem_bytes < 0 ? -1.0 : 4.0 * (1 << 30));
    int64_t stream_rows = ((int64_t)1 << 26) / f->d; /* ~256 MiB per streamed chunk */
    f->host = lt_vecs_data(src);
    int rc = 0;
    if (!f->host && fits) { /* load once */
        int64_t step = stream_rows > 0 ? stream_rows : 1;
        f->owned = malloc(sizeof(float) * (size_t)(f->n * f->d + 1));
        if (!f->owned) rc = lt_error(LT_ENOMEM, "kmeans: out of memory loading %s", lt_vecs_name(src));
        for (int64_t b = 0; b < f->n && !rc; b += step)
            rc = lt_vecs_read(src, b, f->n - b < step ? f->n - b : step, f->owned + b * f->d);
        f->host = f->owned;
    }
    if (!rc && f->on_dev && fits) {
        int64_t shape[2] = {f->n, f->d};
        rc = lt_tensor_new(&f->dev, be, LT_F32, 2, shape);
        if (rc == LT_ENOMEM) { /* no room on the device: stream from the host copy instead */
            lt_clear_error();
            rc = 0;
        } else if (!rc) {
            lt_tensor h = lt_view2((void *)f->host, LT_F32, LT_CPU, f->n, f->d);
            rc = lt_tensor_copy(be, &f->dev, &h);
            free(f->owned), f->owned = NULL, f->host = lt_vecs_data(src); /* the device copy is the one used */
        }
    }
    /* Chunks: the whole matrix in one call when it sits in host memory for the CPU; up to 4M rows
     * per call when it sits on the device (one sync per pass, bounded scratch); else streamed. */
    if (chunk <= 0) chunk = f->dev.data ? ((int64_t)1 << 22) : (!f->on_dev && f->host) ? f->n : stream_rows;
    if (chunk > f->n) chunk = f->n;
    if (chunk < 1) chunk = 1;
    f->chunk = chunk;
    if (!rc && !f->host && !f->dev.data) {
        f->hbuf = malloc(sizeof(float) * (size_t)(chunk * f->d));
        if (!f->hbuf) rc = lt_error(LT_ENOMEM, "kmeans: out of memory for a chunk of %lld rows", (long long)chunk);
    }
    if (!rc && f->on_dev && !f->dev.data) {
        int64_t shape[2] = {chunk, f->d};
        rc = lt_tensor_new(&f->dbuf, be, LT_F32, 2, shape);
    }
    if (rc) feed_free(f);
    return rc;
}

/* Host pointer to rows [row0, row0 + m) (m <= chunk): in place, or read into the staging buffer. */
static int feed_host(feed *f, int64_t row0, int64_t m, const float **x) {
    if (f->host) {
        *x = f->host + row0 * f->d;
        return 0;
    }
    LT_TRY(lt_vecs_read(f->src, row0, m, f->hbuf));
    *x = f->hbuf;
    return 0;
}

/* Rows [row0, row0 + m) as a tensor on the backend's device. */
static int feed_get(feed *f, int64_t row0, int64_t m, lt_tensor *x) {
    if (f->dev.data) {
        *x = lt_view2((float *)f->dev.data + row0 * f->d, LT_F32, lt_backend_device(f->be), m, f->d);
        return 0;
    }
    const float *h;
    LT_TRY(feed_host(f, row0, m, &h));
    if (!f->on_dev) {
        *x = lt_view2((float *)h, LT_F32, LT_CPU, m, f->d);
        return 0;
    }
    *x = lt_view2(f->dbuf.data, LT_F32, lt_backend_device(f->be), m, f->d);
    lt_tensor hv = lt_view2((void *)h, LT_F32, LT_CPU, m, f->d);
    return lt_tensor_copy(f->be, x, &hv);
}

/* Rows idx[0..m) (ascending) into out[m, d]: from memory, or in runs from the source. */
static int feed_gather(feed *f, const int64_t *idx, int64_t m, float *out);

/* One row into out[d] (for seeding and repairs). */
static int feed_row(feed *f, int64_t i, float *out) {
    if (f->host) {
        memcpy(out, f->host + i * f->d, sizeof(float) * (size_t)f->d);
        return 0;
    }
    if (f->dev.data) {
        lt_tensor src = lt_view1((float *)f->dev.data + i * f->d, LT_F32, lt_backend_device(f->be), f->d);
        lt_tensor dst = lt_view1(out, LT_F32, LT_CPU, f->d);
        return lt_tensor_copy(f->be, &dst, &src);
    }
    return lt_vecs_read(f->src, i, 1, out);
}

static int feed_gather(feed *f, const int64_t *idx, int64_t m, float *out) {
    if (f->host || f->dev.data) {
        for (int64_t q = 0; q < m; q++) LT_TRY(feed_row(f, idx[q], out + q * f->d));
        return 0;
    }
    return lt_vecs_gather(f->src, idx, m, out);
}

/* ---- centroids on the device ------------------------------------------------------------------- */

typedef struct {
    lt_backend *be;
    int64_t k, d, chunk;
    lt_tensor c, cn, sums, counts, assign, dist; /* [k, d], [k], [k, d], [k], [chunk], [chunk] */
    float *cn_host;
    float *sums_host;
    int32_t *counts_host;
} dev_state;

static void dev_free(dev_state *s) {
    lt_tensor *t[6] = {&s->c, &s->cn, &s->sums, &s->counts, &s->assign, &s->dist};
    for (int i = 0; i < 6; i++)
        if (t[i]->data) lt_tensor_free(s->be, t[i]);
    free(s->cn_host), free(s->sums_host), free(s->counts_host);
    memset(s, 0, sizeof *s);
}

static int dev_init(dev_state *s, lt_backend *be, int64_t k, int64_t d, int64_t chunk) {
    memset(s, 0, sizeof *s);
    s->be = be, s->k = k, s->d = d, s->chunk = chunk;
    int64_t kd[2] = {k, d}, k1[1] = {k}, c1[1] = {chunk};
    int rc = lt_tensor_new(&s->c, be, LT_F32, 2, kd);
    if (!rc) rc = lt_tensor_new(&s->cn, be, LT_F32, 1, k1);
    if (!rc) rc = lt_tensor_new(&s->sums, be, LT_F32, 2, kd);
    if (!rc) rc = lt_tensor_new(&s->counts, be, LT_I32, 1, k1);
    if (!rc) rc = lt_tensor_new(&s->assign, be, LT_I32, 1, c1);
    if (!rc) rc = lt_tensor_new(&s->dist, be, LT_F32, 1, c1);
    s->cn_host = malloc(sizeof(float) * (size_t)k);
    s->sums_host = malloc(sizeof(float) * (size_t)(k * d));
    s->counts_host = malloc(sizeof(int32_t) * (size_t)k);
    if (!rc && (!s->cn_host || !s->sums_host || !s->counts_host))
        rc = lt_error(LT_ENOMEM, "kmeans: out of memory for %lld x %lld centroids", (long long)k, (long long)d);
    if (rc) dev_free(s);
    return rc;
}

/* Upload m centroids c[m, d] (m <= k: the first m rows are used) and their squared norms. */
static int dev_set_centroids(dev_state *s, const float *c, int64_t m) {
#pragma omp parallel for schedule(static) if (m * s->d >= 65536)
    for (int64_t j = 0; j < m; j++) {
        double t = 0;
        for (int64_t i = 0; i < s->d; i++) t += (double)c[j * s->d + i] * c[j * s->d + i];
        s->cn_host[j] = (float)t;
    }
    lt_tensor hc = lt_view2((void *)c, LT_F32, LT_CPU, m, s->d), hn = lt_view1(s->cn_host, LT_F32, LT_CPU, m);
    lt_tensor dc = lt_view2(s->c.data, LT_F32, lt_backend_device(s->be), m, s->d);
    lt_tensor dn = lt_view1(s->cn.data, LT_F32, lt_backend_device(s->be), m);
    LT_TRY(lt_tensor_copy(s->be, &dc, &hc));
    return lt_tensor_copy(s->be, &dn, &hn);
}

/* Assign rows [row0, row0 + m) to the first kk uploaded centroids; assign/dist land in host
 * arrays a[m], dd[m] (and the runner-up scores in sec[m], on the CPU only, when sec is given).
 * With update, also adds the rows into sums/counts. */
static int dev_assign2(dev_state *s, feed *f, int64_t row0, int64_t m, int64_t kk, int32_t *a, float *dd, float *sec,
                       int update) {
    lt_tensor x;
    LT_TRY(feed_get(f, row0, m, &x));
    lt_device dv = lt_backend_device(s->be);
    lt_tensor c = lt_view2(s->c.data, LT_F32, dv, kk, s->d), cn = lt_view1(s->cn.data, LT_F32, dv, kk);
    lt_tensor as = lt_view1(s->assign.data, LT_I32, dv, m), ds = lt_view1(s->dist.data, LT_F32, dv, m);
    lt_tensor ss = lt_view1(sec, LT_F32, LT_CPU, m);
    if (dv == LT_CPU) as.data = a, ds.data = dd; /* write straight into the host arrays */
    LT_TRY(lt_kmeans_assign(s->be, &as, &ds, sec && dv == LT_CPU ? &ss : NULL, &x, &c, &cn));
    if (update) LT_TRY(lt_kmeans_update(s->be, &s->sums, &s->counts, &x, &as));
    if (dv != LT_CPU) {
        lt_tensor ha = lt_view1(a, LT_I32, LT_CPU, m), hd = lt_view1(dd, LT_F32, LT_CPU, m);
        LT_TRY(lt_tensor_copy(s->be, &ha, &as));
        LT_TRY(lt_tensor_copy(s->be, &hd, &ds));
    }
    return 0;
}

static int dev_assign(dev_state *s, feed *f, int64_t row0, int64_t m, int64_t kk, int32_t *a, float *dd,
                      int update) {
    return dev_assign2(s, f, row0, m, kk, a, dd, NULL, update);
}

static int dev_zero_sums(dev_state *s) {
    LT_TRY(lt_backend_memset0(s->be, s->sums.data, lt_nbytes(&s->sums)));
    return lt_backend_memset0(s->be, s->counts.data, lt_nbytes(&s->counts));
}

static int dev_get_sums(dev_state *s) {
    lt_tensor hs = lt_view2(s->sums_host, LT_F32, LT_CPU, s->k, s->d), hc = lt_view1(s->counts_host, LT_I32, LT_CPU, s->k);
    LT_TRY(lt_tensor_copy(s->be, &hs, &s->sums));
    return lt_tensor_copy(s->be, &hc, &s->counts);
}

static void normalize_row(float *c, int64_t d) {
    double t = 0;
    for (int64_t i = 0; i < d; i++) t += (double)c[i] * c[i];
    if (t > 0)
        for (int64_t i = 0; i < d; i++) c[i] = (float)(c[i] / sqrt(t));
}

/* ---- seeding by D^2 sampling ------------------------------------------------------------------ */

/* Items by cumulative weight: `count` systematic draws (one uniform offset, equal steps), so a
 * batch never repeats an item unless its weight exceeds a step. Returns how many distinct items
 * went to out (ascending). */
static int64_t systematic_pick(const double *w, int64_t m, double total, int64_t count, double u, int64_t *out) {
    double step = total / (double)count, target = u * step, cum = 0;
    int64_t got = 0, i = 0;
    for (int64_t j = 0; j < count; j++, target += step) {
        while (i < m && cum + w[i] <= target) cum += w[i++];
        if (i >= m) break;
        if (!got || out[got - 1] != i) out[got++] = i;
    }
    return got;
}

/* Scratch for scoring a few candidate centroids against every point with one GEMM per chunk:
 * ||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c, with ||x||^2 cached for all points. */
typedef struct {
    lt_tensor c, dots, xn; /* device: [L, d], [chunk, L], [chunk] */
    float *dots_h, *xn_h;  /* host: [chunk, L], [n] */
    int64_t L;
} scorer;

static void scorer_free(feed *f, scorer *sc) {
    lt_tensor *t[3] = {&sc->c, &sc->dots, &sc->xn};
    for (int i = 0; i < 3; i++)
        if (t[i]->data) lt_tensor_free(f->be, t[i]);
    free(sc->dots_h), free(sc->xn_h);
    memset(sc, 0, sizeof *sc);
}

static int scorer_init(feed *f, scorer *sc, int64_t L) {
    memset(sc, 0, sizeof *sc);
    sc->L = L;
    int64_t cs[2] = {L, f->d}, ds[2] = {f->chunk, L}, xs[1] = {f->chunk};
    int rc = lt_tensor_new(&sc->c, f->be, LT_F32, 2, cs);
    if (!rc) rc = lt_tensor_new(&sc->dots, f->be, LT_F32, 2, ds);
    if (!rc) rc = lt_tensor_new(&sc->xn, f->be, LT_F32, 1, xs);
    sc->dots_h = malloc(sizeof(float) * (size_t)(f->chunk * L));
    sc->xn_h = malloc(sizeof(float) * (size_t)f->n);
    if (!rc && (!sc->dots_h || !sc->xn_h)) rc = lt_error(LT_ENOMEM, "kmeans: out of memory for seeding");
    for (int64_t b = 0; b < f->n && !rc; b += f->chunk) { /* ||x||^2 once */
        int64_t m = f->n - b < f->chunk ? f->n - b : f->chunk;
        lt_tensor x, xn = lt_view1(sc->xn.data, LT_F32, sc->xn.device, m), h = lt_view1(sc->xn_h + b, LT_F32, LT_CPU, m);
        rc = feed_get(f, b, m, &x);
        if (!rc) rc = lt_reduce_rows(f->be, &xn, &x, LT_REDUCE_SUMSQ);
        if (!rc) rc = lt_tensor_copy(f->be, &h, &xn);
    }
    if (rc) scorer_free(f, sc);
    return rc;
}

/* pot[l] = sum_i w_i min(D_i, ||x_i - c_l||^2) for the L candidates c[L, d] */
static int scorer_potentials(feed *f, scorer *sc, const float *c, int64_t L, const double *weight, const double *D,
                             double *pot) {
    double cn[64];
    for (int64_t l = 0; l < L; l++) {
        double t = 0;
        for (int64_t j = 0; j < f->d; j++) t += (double)c[l * f->d + j] * c[l * f->d + j];
        cn[l] = t, pot[l] = 0;
    }
    lt_tensor hc = lt_view2((void *)c, LT_F32, LT_CPU, L, f->d), dc = lt_view2(sc->c.data, LT_F32, sc->c.device, L, f->d);
    LT_TRY(lt_tensor_copy(f->be, &dc, &hc));
    for (int64_t b = 0; b < f->n; b += f->chunk) {
        int64_t m = f->n - b < f->chunk ? f->n - b : f->chunk;
        lt_tensor x, dots = lt_view2(sc->dots.data, LT_F32, sc->dots.device, m, L);
        lt_tensor h = lt_view2(sc->dots_h, LT_F32, LT_CPU, m, L);
        LT_TRY(feed_get(f, b, m, &x));
        LT_TRY(lt_matmul(f->be, &dots, &x, 0, &dc, 1, 1.0f, 0.0f));
        LT_TRY(lt_tensor_copy(f->be, &h, &dots));
        for (int64_t i = 0; i < m; i++)
            for (int64_t l = 0; l < L; l++) {
                double v = (double)sc->xn_h[b + i] + cn[l] - 2.0 * sc->dots_h[i * L + l];
                v = v > 0 ? v : 0;
                pot[l] += (weight ? weight[b + i] : 1.0) * (v < D[b + i] ? v : D[b + i]);
            }
    }
    return 0;
}

/* Choose k centroids from the feed's points by D^2 sampling (mass = weight * D^2).
 * batch == 1: greedy k-means++ as in scikit-learn: each step draws 2 + ln k candidates and keeps
 * the one that lowers the potential most (all scored in one GEMM pass). batch > 1: that many
 * draws per round, all kept (for k in the thousands, where k steps would be too many). After
 * each step one pass of the assign op folds the new centroids into D. */
static int seed_dsq(feed *f, dev_state *s, const double *weight, int64_t k, int64_t batch, lt_rng *rng, float *cent) {
    int64_t m = f->n, d = f->d, chosen = 0;
    int64_t trials = batch == 1 ? 2 + (int64_t)log((double)k) : batch;
    if (batch == 1 && trials > 64) trials = 64;
    double *D = malloc(sizeof(double) * (size_t)m), *mass = malloc(sizeof(double) * (size_t)m), pot[64];
    int32_t *a = malloc(sizeof(int32_t) * (size_t)f->chunk);
    float *dd = malloc(sizeof(float) * (size_t)f->chunk), *cand = malloc(sizeof(float) * (size_t)(trials * d));
    int64_t *pick = malloc(sizeof(int64_t) * (size_t)(trials + 1));
    scorer sc = {0};
    int rc = D && mass && a && dd && cand && pick ? 0 : lt_error(LT_ENOMEM, "kmeans: out of memory seeding %lld points",
                                                                   (long long)m);
    if (!rc && batch == 1 && k > 1) rc = scorer_init(f, &sc, trials);
    for (int64_t i = 0; i < m && !rc; i++) D[i] = INFINITY;
    while (!rc && chosen < k) {
        double total = 0;
        for (int64_t i = 0; i < m; i++) {
            mass[i] = (weight ? weight[i] : 1.0) * (chosen ? D[i] : 1.0);
            total += mass[i];
        }
        int64_t want = !chosen ? 1 : batch == 1 ? trials : (k - chosen < batch ? k - chosen : batch), got = 0;
        if (total > 0 && isfinite(total)) got = systematic_pick(mass, m, total, want, lt_rng_next_double(rng), pick);
        if (!got) /* every point sits on a centroid already: duplicates are all that is left */
            pick[got++] = (int64_t)lt_rng_below(rng, (uint64_t)m);
        if (batch == 1 && got > 1) { /* greedy: the candidate whose addition leaves the least potential */
            for (int64_t j = 0; j < got && !rc; j++) rc = feed_row(f, pick[j], cand + j * d);
            if (!rc) rc = scorer_potentials(f, &sc, cand, got, weight, D, pot);
            int64_t arg = 0;
            for (int64_t j = 1; j < got; j++)
                if (pot[j] < pot[arg]) arg = j;
            pick[0] = pick[arg], got = 1;
        }
        for (int64_t j = 0; j < got && !rc; j++) rc = feed_row(f, pick[j], cent + (chosen + j) * d);
        chosen += got;
        if (rc || chosen >= k) break;
        rc = dev_set_centroids(s, cent + (chosen - got) * d, got);
        for (int64_t b = 0; b < m && !rc; b += f->chunk) {
            int64_t mm = m - b < f->chunk ? m - b : f->chunk;
            rc = dev_assign(s, f, b, mm, got, a, dd, 0);
            for (int64_t i = 0; i < mm && !rc; i++)
                if (dd[i] < D[b + i]) D[b + i] = dd[i];
        }
    }
    if (sc.dots_h || sc.xn_h || sc.c.data) scorer_free(f, &sc);
    free(D), free(mass), free(a), free(dd), free(cand), free(pick);
    return rc;
}

/* k-means||: 5 rounds, each keeping every row with probability min(1, 2k D^2 / phi) (drawn from
 * lt_rng_uniform(seed, round, row), so the choice does not depend on chunking), then weighted
 * D^2 seeding over the candidates, weight = rows nearest to each. */
static int seed_parallel(feed *f, const lt_kmeans_opts *o, lt_rng *rng, float *cent) {
    int64_t n = f->n, d = f->d, k = o->k, ell = 2 * k, rounds = 5;
    int64_t cap = 1 + ell * rounds + ell; /* the expected count plus headroom; more draws are dropped */
    if (cap > n) cap = n;
    double *D = malloc(sizeof(double) * (size_t)n);
    int32_t *near = malloc(sizeof(int32_t) * (size_t)n), *a = malloc(sizeof(int32_t) * (size_t)f->chunk);
    float *dd = malloc(sizeof(float) * (size_t)f->chunk), *cand = malloc(sizeof(float) * (size_t)(cap * d));
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)cap);
    int rc = D && near && a && dd && cand && rows ? 0 : lt_error(LT_ENOMEM, "kmeans||: out of memory");
    int64_t m = 0;
    if (!rc) {
        rows[m] = (int64_t)lt_rng_below(rng, (uint64_t)n);
        rc = feed_row(f, rows[m], cand);
        m = 1;
    }
    for (int64_t i = 0; i < n && !rc; i++) D[i] = INFINITY, near[i] = 0;
    dev_state cs = {0};
    if (!rc) rc = dev_init(&cs, f->be, cap, d, f->chunk);
    int64_t first = 0; /* candidates [first, m) are not yet folded into D */
    for (int64_t r = 0; r <= rounds && !rc; r++) {
        rc = dev_set_centroids(&cs, cand + first * d, m - first);
        for (int64_t b = 0; b < n && !rc; b += f->chunk) {
            int64_t mm = n - b < f->chunk ? n - b : f->chunk;
            rc = dev_assign(&cs, f, b, mm, m - first, a, dd, 0);
            for (int64_t i = 0; i < mm && !rc; i++)
                if (dd[i] < D[b + i]) D[b + i] = dd[i], near[b + i] = (int32_t)(first + a[i]);
        }
        if (rc || r == rounds) break;
        double phi = 0;
        for (int64_t i = 0; i < n; i++) phi += D[i];
        first = m;
        if (!(phi > 0)) break; /* every row is a candidate already */
        for (int64_t i = 0; i < n && m < cap; i++)
            if (lt_rng_uniform(o->seed, STREAM_PARALLEL + (uint64_t)r, (uint64_t)i) < (double)ell * D[i] / phi &&
                D[i] > 0)
                rows[m++] = i;
        rc = feed_gather(f, rows + first, m - first, cand + first * d); /* ascending: one pass */
    }
    if (cs.be) dev_free(&cs);
    double *w = calloc((size_t)m, sizeof(double));
    if (!rc && !w) rc = lt_error(LT_ENOMEM, "kmeans||: out of memory");
    for (int64_t i = 0; i < n && !rc; i++) w[near[i]] += 1.0;
    free(D), free(near), free(a), free(dd), free(rows);
    /* weighted k-means++ over the m candidates; batched draws when m k d is large (k in the thousands) */
    if (!rc) {
        lt_vecs *cr = NULL;
        feed cf = {0};
        dev_state ss = {0};
        rc = lt_vecs_memory(&cr, cand, m, d);
        if (!rc) rc = feed_init(&cf, f->be, cr, 0, 0);
        if (!rc) rc = dev_init(&ss, f->be, k, d, cf.chunk);
        if (!rc) {
            double work = (double)m * (double)k * (double)d;
            int64_t batch = work <= 3e10 ? 1 : (k + 63) / 64;
            rc = seed_dsq(&cf, &ss, w, k, batch, rng, cent);
        }
        if (ss.be) dev_free(&ss);
        if (cf.be) feed_free(&cf);
        lt_vecs_free(cr);
    }
    free(w), free(cand);
    return rc;
}

/* ---- empty clusters ------------------------------------------------------------------------------ */

typedef struct {
    float v;
    int64_t i;
} far_row;

static int far_cmp(const void *a, const void *b) {
    const far_row *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Re-seed each empty cluster (in index order) with one of the rows farthest from their own
 * centroid: the points the current solution explains worst. */
static int repair_empty(feed *f, const float *dist, const int64_t *count, int64_t k, float *cent, int64_t *repaired) {
    int64_t empty = 0, n = f->n;
    for (int64_t j = 0; j < k; j++) empty += count[j] == 0;
    if (!empty) return 0;
    int64_t top = empty < n ? empty : n;
    far_row *h = malloc(sizeof(far_row) * (size_t)(top + 1));
    if (!h) return lt_error(LT_ENOMEM, "kmeans: out of memory repairing empty clusters");
    /* the `top` largest (dist, -index) by insertion into a small sorted array */
    int64_t got = 0;
    for (int64_t i = 0; i < n; i++) {
        far_row c = {dist[i] == dist[i] ? dist[i] : INFINITY, i};
        if (got == top && far_cmp(&c, &h[got - 1]) >= 0) continue;
        int64_t p = got < top ? got++ : top - 1;
        while (p > 0 && far_cmp(&c, &h[p - 1]) < 0) h[p] = h[p - 1], p--;
        h[p] = c;
    }
    int rc = 0;
    for (int64_t j = 0, u = 0; j < k && u < got && !rc; j++)
        if (count[j] == 0) rc = feed_row(f, h[u++].i, cent + j * f->d), (*repaired)++;
    free(h);
    return rc;
}

/* ---- Lloyd ------------------------------------------------------------------------------------- */

static void log_iter(const lt_kmeans_opts *o, const char *what, int it, double obj, double prev, int64_t changed,
                     int64_t empty, double t) {
    if (!o->verbose) return;
    lt_info("kmeans %s %3d: objective %.6g (%+.2e)  changed %lld  empty %lld  %.2fs", what, it, obj,
            prev > 0 ? (obj - prev) / prev : 0.0, (long long)changed, (long long)empty, t);
}

/* One pass: assign every row (update: and accumulate sums); objective = sum of dist; changed =
 * rows whose assignment differs from before (all rows on the first pass). */
static int pass(feed *f, dev_state *s, int update, lt_kmeans_result *r, double *objective, int64_t *changed) {
    int32_t *a = malloc(sizeof(int32_t) * (size_t)f->chunk);
    int rc = a ? 0 : lt_error(LT_ENOMEM, "kmeans: out of memory");
    if (!rc && update) rc = dev_zero_sums(s);
    double obj = 0;
    int64_t ch = 0;
    for (int64_t b = 0; b < f->n && !rc; b += f->chunk) {
        int64_t m = f->n - b < f->chunk ? f->n - b : f->chunk;
        rc = dev_assign(s, f, b, m, s->k, a, r->dist + b, update);
        for (int64_t i = 0; i < m && !rc; i++) {
            ch += a[i] != r->assign[b + i];
            r->assign[b + i] = a[i];
            obj += r->dist[b + i];
        }
    }
    free(a);
    *objective = obj, *changed = ch;
    return rc;
}

/* centroids = sums / counts in double (cosine: renormalised); counts into cnt64 */
static void new_centroids(dev_state *s, float *cent, int64_t *cnt64, int cosine) {
    int64_t k = s->k, d = s->d;
#pragma omp parallel for schedule(static) if (k * d >= 65536)
    for (int64_t j = 0; j < k; j++) {
        cnt64[j] = s->counts_host[j];
        if (!cnt64[j]) continue; /* keeps its old position until repaired */
        for (int64_t i = 0; i < d; i++) cent[j * d + i] = (float)((double)s->sums_host[j * d + i] / (double)cnt64[j]);
        if (cosine) normalize_row(cent + j * d, d);
    }
}

/* ---- pruning: Lloyd's assignments with less work ----------------------------------------------------
 * Hamerly's bounds: per row u = its distance to its own centroid (computed exactly every pass, d
 * flops) and lo <= its distance to any other centroid. After an update that moved centroid j by
 * drift_j, lo drops by the largest drift among the other centroids; a row with u < lo keeps its
 * centroid, so only the other rows go through the fused GEMM (gathered into a block), which also
 * returns their runner-up and so a fresh lo. The skip test keeps a margin for fp32 rounding (a
 * few units in the last place of ||x||^2 + ||c||^2 per dimension), so the assignments are those
 * the full pass computes. Used on the CPU with the rows in memory. */

#define PRUNE_GATHER 32768 /* rows per gathered block */

typedef struct {
    double *xn, *lo, *drift; /* [n], [n], [k] */
    float *prev, *buf, *sec; /* [k, d] centroids before the update, [block, d] gathered rows, [n] */
    int32_t *a, *idx;        /* [n] scratch */
    uint8_t *mark;           /* [n] */
    int32_t *ga;             /* [block] a gathered block's assignments, dist and runner-ups */
    float *gd, *gs;
    int ready;               /* lo holds for the current centroids */
    int64_t computed;        /* rows through the GEMM, over the run */
} prune_state;

static void prune_free(prune_state *p) {
    free(p->xn), free(p->lo), free(p->drift), free(p->prev), free(p->buf), free(p->sec), free(p->a), free(p->idx),
        free(p->mark), free(p->ga), free(p->gd), free(p->gs);
    memset(p, 0, sizeof *p);
}

static int prune_init(prune_state *p, const feed *f, int64_t k) {
    memset(p, 0, sizeof *p);
    int64_t n = f->n, d = f->d;
    p->xn = malloc(sizeof(double) * (size_t)n), p->lo = malloc(sizeof(double) * (size_t)n);
    p->drift = malloc(sizeof(double) * (size_t)k), p->prev = malloc(sizeof(float) * (size_t)(k * d));
    p->buf = malloc(sizeof(float) * (size_t)((n < PRUNE_GATHER ? n : PRUNE_GATHER) * d));
    p->sec = malloc(sizeof(float) * (size_t)n), p->a = malloc(sizeof(int32_t) * (size_t)n);
    p->idx = malloc(sizeof(int32_t) * (size_t)n), p->mark = malloc((size_t)n);
    p->ga = malloc(sizeof(int32_t) * PRUNE_GATHER), p->gd = malloc(sizeof(float) * PRUNE_GATHER);
    p->gs = malloc(sizeof(float) * PRUNE_GATHER);
    if (!p->xn || !p->lo || !p->drift || !p->prev || !p->buf || !p->sec || !p->a || !p->idx || !p->mark || !p->ga ||
        !p->gd || !p->gs) {
        prune_free(p);
        return lt_error(LT_ENOMEM, "kmeans: out of memory for the bounds of %lld rows", (long long)n);
    }
#pragma omp parallel for schedule(static) if (n * d >= 65536)
    for (int64_t i = 0; i < n; i++) {
        double t = 0;
        for (int64_t j = 0; j < d; j++) t += (double)f->host[i * d + j] * f->host[i * d + j];
        p->xn[i] = t;
    }
    return 0;
}

/* the pass of Lloyd with bounds: assignments (all rows), dist, objective, changed; sums/counts
 * accumulated over all rows */
static int pass_pruned(feed *f, dev_state *s, prune_state *p, lt_kmeans_result *r, double *objective,
                       int64_t *changed) {
    int64_t n = f->n, d = f->d, k = s->k, marked = 0;
    const float *x = f->host, *c = r->centroids;
    double cnmax = 0, eps = 4.0 * (double)(d + 2) * 0x1p-24, d1 = 0, d2 = 0;
    int64_t j1 = -1;
    for (int64_t j = 0; j < k; j++) cnmax = s->cn_host[j] > cnmax ? s->cn_host[j] : cnmax;
    for (int64_t j = 0; p->ready && j < k; j++) /* the two largest drifts */
        if (p->drift[j] > d1) d2 = d1, d1 = p->drift[j], j1 = j;
        else if (p->drift[j] > d2) d2 = p->drift[j];
#pragma omp parallel for schedule(static) if (n * d >= 65536)
    for (int64_t i = 0; i < n; i++) {
        if (!p->ready) {
            p->mark[i] = 1;
            continue;
        }
        int32_t a = r->assign[i];
        double lo = p->lo[i] - (a == j1 ? d2 : d1);
        p->lo[i] = lo > 0 ? lo : 0;
        float u2 = lt__cpu_kmeans_dist(x + i * d, c + (int64_t)a * d, d);
        r->dist[i] = u2;
        double tol = eps * (p->xn[i] + cnmax + 2 * sqrt(p->xn[i] * cnmax));
        p->mark[i] = !(p->lo[i] * p->lo[i] - (double)u2 > tol);
    }
    for (int64_t i = 0; i < n; i++)
        if (p->mark[i]) p->idx[marked++] = (int32_t)i;
    p->computed += marked;
    memcpy(p->a, r->assign, sizeof(int32_t) * (size_t)n);
    if (2 * marked >= n) { /* most rows: one pass over all of them, in place */
        LT_TRY(dev_assign2(s, f, 0, n, k, p->a, r->dist, p->sec, 0));
        for (int64_t i = 0; i < n; i++) p->lo[i] = sqrt(fmax(0.0, p->xn[i] + p->sec[i]));
    } else { /* the few: gathered in blocks */
        lt_tensor cv = lt_view2(s->c.data, LT_F32, LT_CPU, k, d), cn = lt_view1(s->cn.data, LT_F32, LT_CPU, k);
        for (int64_t b = 0; b < marked; b += PRUNE_GATHER) {
            int64_t m = marked - b < PRUNE_GATHER ? marked - b : PRUNE_GATHER;
            const int32_t *rows = p->idx + b;
            for (int64_t q = 0; q < m; q++) memcpy(p->buf + q * d, x + (int64_t)rows[q] * d, sizeof(float) * (size_t)d);
            lt_tensor xb = lt_view2(p->buf, LT_F32, LT_CPU, m, d), ab = lt_view1(p->ga, LT_I32, LT_CPU, m);
            lt_tensor db = lt_view1(p->gd, LT_F32, LT_CPU, m), sb = lt_view1(p->gs, LT_F32, LT_CPU, m);
            LT_TRY(lt_kmeans_assign(s->be, &ab, &db, &sb, &xb, &cv, &cn));
            for (int64_t q = 0; q < m; q++) {
                int64_t i = rows[q];
                p->a[i] = p->ga[q], r->dist[i] = p->gd[q];
                p->lo[i] = sqrt(fmax(0.0, p->xn[i] + p->gs[q]));
            }
        }
    }
    p->ready = 1;
    double obj = 0;
    int64_t ch = 0;
    for (int64_t i = 0; i < n; i++) obj += r->dist[i];
    for (int64_t i = 0; i < n; i++) ch += p->a[i] != r->assign[i], r->assign[i] = p->a[i];
    *objective = obj, *changed = ch;
    LT_TRY(dev_zero_sums(s));
    lt_tensor xa = lt_view2((void *)x, LT_F32, LT_CPU, n, d), aa = lt_view1(r->assign, LT_I32, LT_CPU, n);
    return lt_kmeans_update(s->be, &s->sums, &s->counts, &xa, &aa);
}

static int lloyd(feed *f, dev_state *s, const lt_kmeans_opts *o, lt_kmeans_result *r, int64_t *cnt) {
    double prev = 0;
    for (int64_t i = 0; i < f->n; i++) r->assign[i] = -1;
    prune_state ps = {0};
    int prune = o->prune && lt_backend_device(s->be) == LT_CPU && f->host;
    if (prune) LT_TRY(prune_init(&ps, f, s->k));
    int rc = 0;
    for (int it = 0; it < o->max_iter && !rc; it++) {
        double t0 = lt_seconds(), obj = 0;
        int64_t changed = 0, empty = 0;
        rc = dev_set_centroids(s, r->centroids, s->k);
        if (!rc) rc = prune ? pass_pruned(f, s, &ps, r, &obj, &changed) : pass(f, s, 1, r, &obj, &changed);
        if (!rc) rc = dev_get_sums(s);
        if (rc) break;
        if (prune) memcpy(ps.prev, r->centroids, sizeof(float) * (size_t)(s->k * s->d));
        new_centroids(s, r->centroids, cnt, o->metric == LT_KM_COSINE);
        for (int64_t j = 0; j < s->k; j++) empty += cnt[j] == 0;
        if ((rc = repair_empty(f, r->dist, cnt, s->k, r->centroids, &r->repaired))) break;
        for (int64_t j = 0; prune && j < s->k; j++) { /* how far each centroid moved, repairs included */
            double t = 0;
            for (int64_t q = 0; q < s->d; q++) {
                double e = (double)r->centroids[j * s->d + q] - ps.prev[j * s->d + q];
                t += e * e;
            }
            ps.drift[j] = sqrt(t) * (1 + 1e-6);
        }
        r->history[it] = obj;
        r->iters = it + 1;
        log_iter(o, "iter", it + 1, obj, prev, changed, empty, lt_seconds() - t0);
        /* converged: nothing moved, or the objective barely improved */
        if ((it > 0 && changed == 0 && empty == 0) || (o->tol > 0 && it > 0 && prev - obj <= o->tol * prev)) {
            r->converged = 1;
            break;
        }
        prev = obj;
    }
    if (prune && o->verbose)
        lt_info("kmeans: bounds skipped %.1f%% of the row x iteration distance work", r->iters && f->n
                    ? 100.0 * (1.0 - (double)ps.computed / ((double)r->iters * (double)f->n)) : 0.0);
    r->pruned_rows = prune ? (int64_t)r->iters * f->n - ps.computed : 0;
    prune_free(&ps);
    return rc;
}

/* ---- mini-batch ---------------------------------------------------------------------------------- */

/* Epochs over the data in blocks (visited in a seeded order), each block's rows shuffled and cut
 * into batches; after each batch, every centroid j that got m_j rows moves toward their mean with
 * rate m_j / N_j (N_j = rows it has absorbed so far), as in Sculley's web-scale k-means. */
static int minibatch(feed *f, dev_state *s, const lt_kmeans_opts *o, lt_kmeans_result *r, int64_t *cnt) {
    int64_t n = f->n, d = f->d, k = s->k, B = o->minibatch;
    if (B > n) B = n;
    /* blocks: the unit read from the source and shuffled, large enough to mix many batches */
    int64_t block = 16 * B > 65536 ? 16 * B : 65536, nblocks;
    if (block > n) block = n;
    nblocks = (n + block - 1) / block;
    int32_t *order = malloc(sizeof(int32_t) * (size_t)nblocks);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)block), *a = malloc(sizeof(int32_t) * (size_t)B);
    float *batch = malloc(sizeof(float) * (size_t)(B * d)), *dd = malloc(sizeof(float) * (size_t)B);
    float *blk = malloc(sizeof(float) * (size_t)(block * d));
    int rc = order && perm && a && batch && dd && blk ? 0 : lt_error(LT_ENOMEM, "kmeans: out of memory for mini-batches");
    lt_vecs *br = NULL;
    feed bf = {0};
    if (!rc) rc = lt_vecs_memory(&br, batch, B, d);
    if (!rc) rc = feed_init(&bf, f->be, br, B, -1); /* `batch` is refilled: never cache it */
    for (int64_t j = 0; j < k; j++) cnt[j] = 0;
    double prev = 0;
    lt_rng rng;
    for (int ep = 0; ep < o->max_iter && !rc; ep++) {
        double t0 = lt_seconds(), obj = 0;
        lt_rng_init(&rng, o->seed, STREAM_MINIBATCH + (uint64_t)ep);
        for (int64_t i = 0; i < nblocks; i++) order[i] = (int32_t)i;
        lt_rng_shuffle_i32(&rng, order, (size_t)nblocks);
        for (int64_t bi = 0; bi < nblocks && !rc; bi++) {
            int64_t b0 = (int64_t)order[bi] * block, m = n - b0 < block ? n - b0 : block;
            const float *rows = f->host ? f->host + b0 * d : blk;
            if (!f->host && (rc = lt_vecs_read(f->src, b0, m, blk))) break;
            for (int64_t i = 0; i < m; i++) perm[i] = (int32_t)i;
            lt_rng_shuffle_i32(&rng, perm, (size_t)m);
            for (int64_t p = 0; p < m && !rc; p += B) {
                int64_t mb = m - p < B ? m - p : B;
                for (int64_t i = 0; i < mb; i++) memcpy(batch + i * d, rows + perm[p + i] * d, sizeof(float) * (size_t)d);
                rc = dev_set_centroids(s, r->centroids, k);
                if (!rc) rc = dev_zero_sums(s);
                if (!rc) rc = dev_assign(s, &bf, 0, mb, k, a, dd, 1);
                if (!rc) rc = dev_get_sums(s);
                for (int64_t i = 0; i < mb && !rc; i++) obj += dd[i];
                for (int64_t j = 0; j < k && !rc; j++) {
                    int64_t mj = s->counts_host[j];
                    if (!mj) continue;
                    cnt[j] += mj;
                    float *c = r->centroids + j * d;
                    for (int64_t t = 0; t < d; t++)
                        c[t] = (float)(c[t] + ((double)s->sums_host[j * d + t] - (double)mj * c[t]) / (double)cnt[j]);
                    if (o->metric == LT_KM_COSINE) normalize_row(c, d);
                }
            }
        }
        if (rc) break;
        /* centroids that have absorbed nothing: re-seed at random rows */
        int64_t empty = 0;
        for (int64_t j = 0; j < k && !rc; j++)
            if (!cnt[j]) {
                empty++, r->repaired++;
                rc = lt_vecs_read(f->src, (int64_t)lt_rng_below(&rng, (uint64_t)n), 1, r->centroids + j * d);
                if (!rc && o->metric == LT_KM_COSINE) normalize_row(r->centroids + j * d, d);
            }
        r->history[ep] = obj;
        r->iters = ep + 1;
        log_iter(o, "epoch", ep + 1, obj, prev, -1, empty, lt_seconds() - t0);
        if (o->tol > 0 && ep > 0 && fabs(prev - obj) <= o->tol * prev) {
            r->converged = 1;
            break;
        }
        prev = obj;
    }
    if (bf.be) feed_free(&bf);
    lt_vecs_free(br);
    free(order), free(perm), free(a), free(batch), free(dd), free(blk);
    return rc;
}

/* ---- lt_kmeans ---------------------------------------------------------------------------------- */

static const char *init_name(lt_km_init i) {
    static const char *names[] = {"auto", "k-means++", "k-means||", "random", "given"};
    return i >= 0 && i <= LT_KM_INIT_GIVEN ? names[i] : "?";
}

static int init_centroids(feed *f, dev_state *s, const lt_kmeans_opts *o, lt_kmeans_result *r) {
    int64_t n = f->n, k = o->k, d = f->d;
    lt_km_init how = o->init;
    if (how == LT_KM_INIT_AUTO)
        how = (double)n * (double)k <= (double)(1 << 28) ? LT_KM_INIT_PLUSPLUS : LT_KM_INIT_PARALLEL;
    snprintf(r->init_used, sizeof r->init_used, "%s", init_name(how));
    lt_rng rng;
    lt_rng_init(&rng, o->seed, STREAM_INIT);
    int rc = 0;
    if (how == LT_KM_INIT_GIVEN) {
        if (!o->centroids0) return lt_error(LT_EINVAL, "kmeans: init = given but no centroids0");
        memcpy(r->centroids, o->centroids0, sizeof(float) * (size_t)(k * d));
        for (int64_t j = 0; j < k * d; j++)
            if (!isfinite(r->centroids[j]))
                return lt_error(LT_EINVAL, "kmeans: centroids0[%lld][%lld] is %g", (long long)(j / d),
                                (long long)(j % d), (double)r->centroids[j]);
    } else if (how == LT_KM_INIT_RANDOM) { /* k distinct rows: Floyd's sampling, in draw order */
        int64_t *pick = malloc(sizeof(int64_t) * (size_t)k);
        if (!pick) return lt_error(LT_ENOMEM, "kmeans: out of memory");
        for (int64_t j = n - k, m = 0; j < n && !rc; j++, m++) {
            int64_t t = (int64_t)lt_rng_below(&rng, (uint64_t)j + 1);
            for (int64_t q = 0; q < m; q++)
                if (pick[q] == t) t = j;
            pick[m] = t;
            rc = feed_row(f, t, r->centroids + m * d);
        }
        free(pick);
    } else if (how == LT_KM_INIT_PLUSPLUS) {
        rc = seed_dsq(f, s, NULL, k, 1, &rng, r->centroids);
    } else {
        rc = seed_parallel(f, o, &rng, r->centroids);
    }
    if (!rc && o->metric == LT_KM_COSINE)
        for (int64_t j = 0; j < k; j++) normalize_row(r->centroids + j * d, d);
    return rc;
}

int lt_kmeans(lt_backend *be, lt_vecs *x, const lt_kmeans_opts *o, lt_kmeans_result *r) {
    memset(r, 0, sizeof *r);
    double t0 = lt_seconds();
    int64_t n = lt_vecs_count(x), d = lt_vecs_dim(x), k = o->k;
    if (k < 1 || k > INT32_MAX) return lt_error(LT_EINVAL, "kmeans: k = %lld must be >= 1", (long long)k);
    if (k > n)
        return lt_error(LT_EINVAL, "kmeans: k = %lld exceeds the %lld rows of %s", (long long)k, (long long)n,
                        lt_vecs_name(x));
    if (o->max_iter < 0) return lt_error(LT_EINVAL, "kmeans: max_iter = %d", o->max_iter);
    if (o->minibatch < 0) return lt_error(LT_EINVAL, "kmeans: minibatch = %lld", (long long)o->minibatch);
    if (o->check_finite) LT_TRY(lt_vecs_check_finite(x));
    lt_vecs *src = x, *view = NULL;
    if (o->metric == LT_KM_COSINE) {
        LT_TRY(lt_vecs_transform(&view, x, NULL, NULL, 0, 1));
        src = view;
    }
    r->n = n, r->k = k, r->d = d;
    r->centroids = malloc(sizeof(float) * (size_t)(k * d));
    r->assign = malloc(sizeof(int32_t) * (size_t)n);
    r->dist = malloc(sizeof(float) * (size_t)n);
    r->sizes = calloc((size_t)k, sizeof(int64_t));
    r->history = calloc((size_t)o->max_iter + 1, sizeof(double));
    int rc = r->centroids && r->assign && r->dist && r->sizes && r->history
                 ? 0
                 : lt_error(LT_ENOMEM, "kmeans: out of memory for %lld rows, %lld centroids", (long long)n, (long long)k);
    feed f = {0};
    dev_state s = {0};
    if (!rc) rc = feed_init(&f, be, src, o->chunk_rows, o->mem_bytes);
    if (!rc) rc = dev_init(&s, be, k, d, f.chunk);
    if (!rc) rc = init_centroids(&f, &s, o, r);
    r->seconds_init = lt_seconds() - t0;
    if (o->verbose && !rc)
        lt_info("kmeans: %lld x %lld, k = %lld, %s, init %s in %.2fs, %s%s", (long long)n, (long long)d, (long long)k,
                o->metric == LT_KM_COSINE ? "cosine" : "L2", r->init_used, r->seconds_init, lt_backend_name(be),
                f.host || f.dev.data ? "" : ", streaming");
    double t1 = lt_seconds();
    if (!rc) rc = o->minibatch ? minibatch(&f, &s, o, r, r->sizes) : lloyd(&f, &s, o, r, r->sizes);
    if (!rc && (o->final_assign || o->minibatch || o->max_iter == 0)) {
        int64_t changed;
        rc = dev_set_centroids(&s, r->centroids, k);
        if (!rc) rc = pass(&f, &s, 0, r, &r->objective, &changed);
        if (!rc) {
            memset(r->sizes, 0, sizeof(int64_t) * (size_t)k);
            for (int64_t i = 0; i < n; i++) r->sizes[r->assign[i]]++;
        }
    } else if (!rc) {
        r->objective = r->iters ? r->history[r->iters - 1] : 0;
    }
    r->seconds_iter = lt_seconds() - t1;
    r->seconds_total = lt_seconds() - t0;
    dev_free(&s);
    feed_free(&f);
    lt_vecs_free(view);
    if (rc) lt_kmeans_result_free(r);
    return rc;
}

/* ---- adjusted Rand index ------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* sum over groups of C(size, 2), groups = runs of equal keys after sorting */
static double pairs_of_runs(uint64_t *key, int64_t n) {
    qsort(key, (size_t)n, sizeof *key, cmp_u64);
    double s = 0;
    for (int64_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && key[j] == key[i]; j++) {}
        double m = (double)(j - i);
        s += m * (m - 1) / 2;
    }
    return s;
}

double lt_adjusted_rand_index(const int32_t *a, const int32_t *b, int64_t n) {
    if (n < 2) return 1.0;
    uint64_t *key = malloc(sizeof(uint64_t) * (size_t)n);
    if (!key) return NAN;
    for (int64_t i = 0; i < n; i++) key[i] = (uint64_t)(uint32_t)a[i] << 32 | (uint32_t)b[i];
    double nij = pairs_of_runs(key, n);
    for (int64_t i = 0; i < n; i++) key[i] = (uint32_t)a[i];
    double ai = pairs_of_runs(key, n);
    for (int64_t i = 0; i < n; i++) key[i] = (uint32_t)b[i];
    double bj = pairs_of_runs(key, n);
    free(key);
    double all = (double)n * (double)(n - 1) / 2, expected = ai * bj / all, top = (ai + bj) / 2;
    if (top == expected) return 1.0; /* both labelings trivial (one cluster, or all singletons) */
    return (nij - expected) / (top - expected);
}
