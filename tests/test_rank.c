/* tests/test_rank: softmax ranking over a catalog, sampled softmax, top-K scoring with
 * exclusions, and the shard driver lt_topk_shards.
 *
 *  1. catalog_xent and sampled_xent backward (du, dv, dbias) against central finite differences
 *     of the forward, with ignored rows, chunks that do not divide N and chunks > N; gradient
 *     buffers start random (the ops accumulate); a planted error shows the check can fail.
 *  2. chunked loss and gradients == the materialised ones (lt_matmul + lt_xent_fwd/bwd).
 *  3. sampled softmax against a direct double-precision reference (log-Q, accidental hits).
 *  4. score_topk against a brute-force reference on integer-valued vectors (exact scores, many
 *     ties): ties to the lower id, exclusions, K > items seen, slabs merged in any order, K = 1,
 *     K = 1000, several tiles per call.
 *  5. lt_topk_shards on small shards written here (HDF5 builds).
 *  6. CUDA against the CPU for every op, or "skipped: no CUDA device".
 * The seed is printed; LONGTAIL_TEST_SEED=<seed> repeats a run. */
#include <math.h>
#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/ops.h"
#include "longtail/rng.h"
#include "testutil.h"
#ifdef LONGTAIL_HAVE_HDF5
#include "longtail/embeddings.h"
#include "longtail/score.h"
#endif

static lt_rng g_rng;
static lt_backend *g_cpu, *g_cuda;

/* ---- host helpers ------------------------------------------------------------------------------- */

static float *randv(int64_t n, float lo, float hi) {
    float *p = malloc(sizeof(float) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * lt_rng_next_uniform(&g_rng);
    return p;
}

/* integers in [lo, hi] as floats: exact dot products, many ties */
static float *randint_f(int64_t n, int lo, int hi) {
    float *p = malloc(sizeof(float) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(lo + (int)lt_rng_below(&g_rng, (uint64_t)(hi - lo + 1)));
    return p;
}

static lt_tensor up(lt_backend *be, const void *h, lt_dtype dt, int ndim, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    lt_tensor t;
    OK(lt_tensor_new(&t, be, dt, ndim, shape));
    lt_tensor host = lt_view((void *)h, dt, LT_CPU, ndim, shape);
    OK(lt_tensor_copy(be, &t, &host));
    return t;
}
static lt_tensor upf(lt_backend *be, const float *h, int64_t d0, int64_t d1) {
    return d1 ? up(be, h, LT_F32, 2, d0, d1) : up(be, h, LT_F32, 1, d0, 0);
}
static lt_tensor upi(lt_backend *be, const int32_t *h, int64_t n) { return up(be, h, LT_I32, 1, n, 0); }

static void *down(lt_backend *be, const lt_tensor *t) {
    void *h = malloc(lt_nbytes(t) + 8);
    lt_tensor host = lt_view(h, t->dtype, LT_CPU, t->ndim, t->shape);
    OK(lt_tensor_copy(be, &host, t));
    OK(lt_backend_sync(be));
    return h;
}

static lt_tensor newf(lt_backend *be, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    lt_tensor t;
    OK(lt_tensor_new(&t, be, LT_F32, d1 ? 2 : 1, shape));
    return t;
}

static double maxabs(const float *a, const float *b, int64_t n, double *scale) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= m)) m = e; /* NaN sticks */
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    if (scale) *scale = s;
    return m;
}

/* ---- a problem: inputs of one op on the host ---------------------------------------------------- */

typedef struct {
    int sampled;
    int64_t B, N, D, S, chunk;
    float *u, *v, *bias, *logq; /* bias, logq may be NULL */
    int32_t *t, *neg;
} prob;

static void prob_free(prob *p) {
    free(p->u), free(p->v), free(p->bias), free(p->logq), free(p->t), free(p->neg);
}

/* forward on backend be: loss[B] and lse[B] (host, malloc'd) */
static void prob_fwd(lt_backend *be, const prob *p, float **loss_out, float **lse_out) {
    lt_tensor u = upf(be, p->u, p->B, p->D), v = upf(be, p->v, p->N, p->D), t = upi(be, p->t, p->B);
    lt_tensor bias, logq, neg, loss = newf(be, p->B, 0), lse = newf(be, p->B, 0);
    if (p->bias) bias = upf(be, p->bias, p->N, 0);
    if (p->logq) logq = upf(be, p->logq, p->N, 0);
    int64_t wn = p->sampled ? p->B * (p->S + 1) : p->B * (p->chunk < p->N ? p->chunk : p->N);
    lt_tensor work = newf(be, wn, 0);
    if (p->sampled) {
        neg = upi(be, p->neg, p->S);
        OK(lt_sampled_xent_fwd(be, &loss, &lse, &u, &v, p->bias ? &bias : NULL, p->logq ? &logq : NULL, &t, &neg, &work));
        lt_tensor_free(be, &neg);
    } else {
        OK(lt_catalog_xent_fwd(be, &loss, &lse, &u, &v, p->bias ? &bias : NULL, &t, p->chunk, &work));
    }
    *loss_out = down(be, &loss);
    if (lse_out) *lse_out = down(be, &lse);
    if (p->bias) lt_tensor_free(be, &bias);
    if (p->logq) lt_tensor_free(be, &logq);
    lt_tensor_free(be, &u), lt_tensor_free(be, &v), lt_tensor_free(be, &t), lt_tensor_free(be, &loss);
    lt_tensor_free(be, &lse), lt_tensor_free(be, &work);
}

/* backward on be with dloss = w into du, dv, dbias that start at du0, dv0, db0; results malloc'd */
static void prob_bwd(lt_backend *be, const prob *p, const float *w, const float *du0, const float *dv0, const float *db0,
                     float **du_out, float **dv_out, float **db_out) {
    float *loss, *lse_h;
    prob_fwd(be, p, &loss, &lse_h);
    free(loss);
    lt_tensor u = upf(be, p->u, p->B, p->D), v = upf(be, p->v, p->N, p->D), t = upi(be, p->t, p->B);
    lt_tensor lse = upf(be, lse_h, p->B, 0), dloss = upf(be, w, p->B, 0);
    lt_tensor du = upf(be, du0, p->B, p->D), dv = upf(be, dv0, p->N, p->D), db = upf(be, db0, p->N, 0);
    lt_tensor bias, logq, neg;
    if (p->bias) bias = upf(be, p->bias, p->N, 0);
    if (p->logq) logq = upf(be, p->logq, p->N, 0);
    int64_t wn = p->sampled ? p->B * (p->S + 1) : p->B * (p->chunk < p->N ? p->chunk : p->N);
    lt_tensor work = newf(be, wn, 0);
    if (p->sampled) {
        neg = upi(be, p->neg, p->S);
        OK(lt_sampled_xent_bwd(be, &du, &dv, p->bias ? &db : NULL, &dloss, &u, &v, p->bias ? &bias : NULL,
                               p->logq ? &logq : NULL, &t, &neg, &lse, &work));
        lt_tensor_free(be, &neg);
    } else {
        OK(lt_catalog_xent_bwd(be, &du, &dv, p->bias ? &db : NULL, &dloss, &u, &v, p->bias ? &bias : NULL, &t, &lse,
                               p->chunk, &work));
    }
    *du_out = down(be, &du), *dv_out = down(be, &dv), *db_out = down(be, &db);
    if (p->bias) lt_tensor_free(be, &bias);
    if (p->logq) lt_tensor_free(be, &logq);
    lt_tensor_free(be, &u), lt_tensor_free(be, &v), lt_tensor_free(be, &t), lt_tensor_free(be, &lse);
    lt_tensor_free(be, &dloss), lt_tensor_free(be, &du), lt_tensor_free(be, &dv), lt_tensor_free(be, &db);
    lt_tensor_free(be, &work), free(lse_h);
}

static double weighted_loss(const prob *p, const float *w) {
    float *loss;
    prob_fwd(g_cpu, p, &loss, NULL);
    double L = 0;
    for (int64_t b = 0; b < p->B; b++) L += (double)w[b] * loss[b];
    free(loss);
    return L;
}

/* ---- 1. finite differences ------------------------------------------------------------------------ */

/* Returns the number of gradients off; *worst = max err / tol. plant: add this to every analytic
 * gradient (the self-check). */
static int fd_check(const char *name, prob *p, float plant, double *worst_out) {
    float *w = randv(p->B, 0.5f, 1.5f);
    float *du0 = randv(p->B * p->D, -1, 1), *dv0 = randv(p->N * p->D, -1, 1), *db0 = randv(p->N, -1, 1);
    float *du, *dv, *db;
    prob_bwd(g_cpu, p, w, du0, dv0, db0, &du, &dv, &db);
    struct {
        const char *n;
        float *x, *g, *g0;
        int64_t len;
    } in[3] = {{"u", p->u, du, du0, p->B * p->D}, {"v", p->v, dv, dv0, p->N * p->D}, {"bias", p->bias, db, db0, p->N}};
    const double eps = 1e-2, atol = 2e-3, rtol = 1e-2;
    int bad = 0, checked = 0;
    double worst = 0;
    for (int a = 0; a < 3; a++) {
        if (!in[a].x) continue;
        int samples = in[a].len < 40 ? (int)in[a].len : 40;
        for (int k = 0; k < samples; k++) {
            int64_t j = in[a].len <= 40 ? k : (int64_t)lt_rng_below(&g_rng, (uint64_t)in[a].len);
            float keep = in[a].x[j];
            in[a].x[j] = keep + (float)eps;
            double lp = weighted_loss(p, w);
            in[a].x[j] = keep - (float)eps;
            double lm = weighted_loss(p, w);
            in[a].x[j] = keep;
            double h = (double)(keep + (float)eps) - (double)(keep - (float)eps);
            double num = (lp - lm) / h, ana = (double)in[a].g[j] - (double)in[a].g0[j] + plant;
            double err = fabs(num - ana), lim = atol + rtol * fabs(num);
            if (err / lim > worst) worst = err / lim;
            checked++;
            if (err > lim && bad++ < 4 && plant == 0)
                fprintf(stderr, "  %s: d/d%s[%lld]: finite difference %.7g, backward %.7g\n", name, in[a].n,
                        (long long)j, num, ana);
        }
    }
    if (plant == 0) {
        printf("  %-44s cpu bwd vs finite differences: %d gradients, worst err/tol %.3f %s\n", name, checked, worst,
               bad ? "FAIL" : "ok");
        CHECK_MSG(bad == 0, "%s: %d of %d gradients off", name, bad, checked);
    }
    if (worst_out) *worst_out = worst;
    free(w), free(du0), free(dv0), free(db0), free(du), free(dv), free(db);
    return bad;
}

static prob make_catalog(int64_t B, int64_t N, int64_t D, int64_t chunk, int with_bias, int ignored) {
    prob p = {.B = B, .N = N, .D = D, .chunk = chunk};
    p.u = randv(B * D, -1, 1), p.v = randv(N * D, -1, 1);
    if (with_bias) p.bias = randv(N, -1, 1);
    p.t = malloc(sizeof(int32_t) * (size_t)B);
    for (int64_t b = 0; b < B; b++) p.t[b] = (int32_t)lt_rng_below(&g_rng, (uint64_t)N);
    for (int i = 0; i < ignored && i < B; i++) p.t[(2 * i + 1) % B] = -1;
    return p;
}

static prob make_sampled(int64_t B, int64_t N, int64_t D, int64_t S, int with_bias, int with_logq, int ignored) {
    prob p = make_catalog(B, N, D, 1, with_bias, ignored);
    p.sampled = 1, p.S = S;
    if (with_logq) {
        p.logq = malloc(sizeof(float) * (size_t)N);
        for (int64_t j = 0; j < N; j++) p.logq[j] = logf(0.2f + lt_rng_next_uniform(&g_rng)) - logf((float)N);
    }
    p.neg = malloc(sizeof(int32_t) * (size_t)(S + 1));
    for (int64_t k = 0; k < S; k++) p.neg[k] = (int32_t)lt_rng_below(&g_rng, (uint64_t)N);
    /* accidental hits: some negatives are the targets of some rows; one negative appears twice */
    for (int64_t k = 0; k < S && k < B; k += 3)
        if (p.t[k] >= 0) p.neg[k] = p.t[k];
    if (S >= 4) p.neg[S - 1] = p.neg[S - 2];
    return p;
}

static void test_fd(void) {
    double worst = 0;
    int64_t chunks[] = {7, 37, 64};
    for (int c = 0; c < 3; c++) {
        prob p = make_catalog(5, 37, 6, chunks[c], 1, 1);
        char name[96];
        snprintf(name, sizeof name, "catalog_xent B=5 N=37 chunk=%lld", (long long)chunks[c]);
        fd_check(name, &p, 0, NULL);
        prob_free(&p);
    }
    /* enough rows and items for the CPU's parallel parts (row blocks forward, item sub-chunks backward) */
    prob pp = make_catalog(130, 300, 4, 200, 1, 5);
    fd_check("catalog_xent B=130 N=300 chunk=200 (parallel)", &pp, 0, NULL);
    prob_free(&pp);
    prob p = make_catalog(4, 19, 5, 4, 0, 1);
    fd_check("catalog_xent no bias chunk=4", &p, 0, NULL);
    /* the harness can fail: a gradient 0.01 off everywhere is caught */
    int caught = fd_check("planted", &p, 0.01f, &worst) > 0;
    printf("  harness self-check: the planted error was %s (worst err/tol %.2f)\n", caught ? "caught (good)" : "NOT caught",
           worst);
    CHECK_MSG(caught, "the finite-difference check did not catch a wrong gradient");
    prob_free(&p);
    prob s = make_sampled(6, 40, 5, 12, 1, 1, 1);
    fd_check("sampled_xent B=6 N=40 S=12 (hits, log-Q)", &s, 0, NULL);
    prob_free(&s);
    prob s0 = make_sampled(3, 10, 4, 0, 1, 0, 0);
    fd_check("sampled_xent S=0", &s0, 0, NULL);
    prob_free(&s0);
}

/* ---- 2. chunked == materialised ---------------------------------------------------------------- */

static void test_materialised_case(int64_t B, int64_t N, int64_t D);
static void test_materialised(void) {
    test_materialised_case(24, 1000, 32);
    test_materialised_case(200, 3000, 16); /* the CPU's parallel parts */
    test_materialised_case(300, 9000, 8);  /* chunk 5000: rows in cache-sized blocks of 209 on the CPU */
}

static void test_materialised_case(int64_t B, int64_t N, int64_t D) {
    prob p = make_catalog(B, N, D, 1, 1, 3);
    /* materialised: logits = u v^T + bias, xent_fwd / xent_bwd, then the two GEMMs */
    lt_backend *be = g_cpu;
    lt_tensor u = upf(be, p.u, B, D), v = upf(be, p.v, N, D), bias = upf(be, p.bias, N, 0), t = upi(be, p.t, B);
    lt_tensor logits = newf(be, B, N), loss = newf(be, B, 0), lse = newf(be, B, 0), dlog = newf(be, B, N);
    OK(lt_matmul(be, &logits, &u, 0, &v, 1, 1.0f, 0.0f));
    OK(lt_bias_add(be, &logits, &bias));
    OK(lt_xent_fwd(be, &loss, &lse, &logits, &t, -1));
    float *w = randv(B, 0.5f, 1.5f);
    lt_tensor dloss = upf(be, w, B, 0);
    OK(lt_fill(be, &dlog, 0));
    OK(lt_xent_bwd(be, &dlog, &logits, &lse, &t, &dloss, -1));
    lt_tensor du = newf(be, B, D), dv = newf(be, N, D), db = newf(be, N, 0);
    OK(lt_matmul(be, &du, &dlog, 0, &v, 0, 1.0f, 0.0f));
    OK(lt_matmul(be, &dv, &dlog, 1, &u, 0, 1.0f, 0.0f));
    OK(lt_fill(be, &db, 0));
    OK(lt_bias_bwd(be, &db, &dlog));
    float *rloss = down(be, &loss), *rlse = down(be, &lse), *rdu = down(be, &du), *rdv = down(be, &dv),
          *rdb = down(be, &db);
    float *z_u = calloc((size_t)(B * D), sizeof(float)), *z_v = calloc((size_t)(N * D), sizeof(float)),
          *z_b = calloc((size_t)N, sizeof(float));
    int64_t chunks[] = {1, 17, 256, 1000, 5000};
    for (int c = 0; c < 5; c++) {
        p.chunk = chunks[c];
        float *cl, *cs, *cdu, *cdv, *cdb;
        prob_fwd(be, &p, &cl, &cs);
        prob_bwd(be, &p, w, z_u, z_v, z_b, &cdu, &cdv, &cdb);
        double sl, sg, e_loss = maxabs(cl, rloss, B, &sl), e_lse = maxabs(cs, rlse, B, NULL);
        double e_du = maxabs(cdu, rdu, B * D, &sg), e_dv = maxabs(cdv, rdv, N * D, NULL), e_db = maxabs(cdb, rdb, N, NULL);
        double eg = fmax(e_du, fmax(e_dv, e_db));
        int ok = e_loss <= 4e-6 * (1 + sl) && e_lse <= 4e-6 * (1 + sl) && eg <= 1e-5 * (1 + sg);
        char name[64];
        snprintf(name, sizeof name, "chunked vs materialised, B=%lld N=%lld chunk=%lld", (long long)B, (long long)N,
                 (long long)chunks[c]);
        printf("  %-44s max |diff| loss %.2g lse %.2g (|loss| <= %.2f), grads %.2g (|g| <= %.2f) %s\n", name, e_loss,
               e_lse, sl, eg, sg, ok ? "ok" : "FAIL");
        CHECK_MSG(ok, "chunk %lld: chunked loss/gradients differ from the materialised ones", (long long)chunks[c]);
        free(cl), free(cs), free(cdu), free(cdv), free(cdb);
    }
    free(z_u), free(z_v), free(z_b), free(w), free(rloss), free(rlse), free(rdu), free(rdv), free(rdb);
    lt_tensor *all[] = {&u, &v, &bias, &t, &logits, &loss, &lse, &dlog, &dloss, &du, &dv, &db};
    for (int i = 0; i < 12; i++) lt_tensor_free(be, all[i]);
    prob_free(&p);
}

/* ---- 3. sampled softmax vs a direct reference ------------------------------------------------- */

static void test_sampled_reference(void) {
    prob p = make_sampled(9, 50, 7, 20, 1, 1, 2);
    float *loss, *lse;
    prob_fwd(g_cpu, &p, &loss, &lse);
    double worst = 0;
    int hits = 0;
    for (int64_t b = 0; b < p.B; b++) {
        int32_t t = p.t[b];
        if (t < 0) {
            CHECK(loss[b] == 0);
            continue;
        }
        double sc[64] = {0};
        int n = 0;
        for (int64_t k = -1; k < p.S; k++) {
            int32_t j = k < 0 ? t : p.neg[k];
            if (k >= 0 && j == t) {
                hits++;
                continue; /* accidental hit: masked out */
            }
            double s = 0;
            for (int64_t d = 0; d < p.D; d++) s += (double)p.u[b * p.D + d] * p.v[(int64_t)j * p.D + d];
            sc[n++] = s + p.bias[j] - p.logq[j];
        }
        double mx = sc[0], sum = 0;
        for (int i = 0; i < n; i++) mx = fmax(mx, sc[i]);
        for (int i = 0; i < n; i++) sum += exp(sc[i] - mx);
        double ref_lse = mx + log(sum), ref = ref_lse - sc[0];
        worst = fmax(worst, fmax(fabs(ref - loss[b]), fabs(ref_lse - lse[b])) / (1 + fabs(ref_lse)));
    }
    int ok = worst < 2e-6 && hits > 0;
    printf("  %-44s max rel err %.2g, %d accidental hits masked %s\n", "sampled_xent vs double reference", worst, hits,
           ok ? "ok" : "FAIL");
    CHECK_MSG(ok, "sampled loss off by %.3g (hits %d)", worst, hits);
    free(loss), free(lse);
    prob_free(&p);
}

/* ---- 4. top-K ------------------------------------------------------------------------------------- */

typedef struct {
    int64_t B, N, D;
    float *u, *v, *bias;
    int64_t *off;
    int32_t *ex;
} tk_prob;

static tk_prob make_tk(int64_t B, int64_t N, int64_t D, int max_excl, int with_bias) {
    tk_prob p = {.B = B, .N = N, .D = D};
    p.u = randint_f(B * D, -2, 2), p.v = randint_f(N * D, -2, 2);
    if (with_bias) p.bias = randint_f(N, -1, 1);
    p.off = malloc(sizeof(int64_t) * (size_t)(B + 1));
    p.ex = malloc(sizeof(int32_t) * (size_t)(B * max_excl + 1));
    p.off[0] = 0;
    for (int64_t b = 0; b < B; b++) {
        int n = max_excl ? (int)lt_rng_below(&g_rng, (uint64_t)max_excl + 1) : 0;
        for (int i = 0; i < n; i++) /* some ids outside the catalog, some twice */
            p.ex[p.off[b] + i] = i > 0 && i % 7 == 0 ? p.ex[p.off[b] + i - 1]
                                 : (int32_t)lt_rng_below(&g_rng, (uint64_t)N + 5);
        p.off[b + 1] = p.off[b] + n;
    }
    return p;
}

static void tk_free(tk_prob *p) { free(p->u), free(p->v), free(p->bias), free(p->off), free(p->ex); }

/* brute force: scores in float (exact: integers), sort by (score desc, id asc), skip exclusions */
static const float *g_sc;
static int by_rank(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_sc[x] != g_sc[y]) return g_sc[x] > g_sc[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void tk_reference(const tk_prob *p, int K, float *vals, int32_t *idx) {
    float *sc = calloc((size_t)p->N + 1, sizeof(float));
    int32_t *ord = malloc(sizeof(int32_t) * (size_t)p->N);
    char *skip = malloc((size_t)p->N);
    for (int64_t b = 0; b < p->B; b++) {
        memset(skip, 0, (size_t)p->N);
        for (int64_t e = p->off[b]; e < p->off[b + 1]; e++)
            if (p->ex[e] >= 0 && p->ex[e] < p->N) skip[p->ex[e]] = 1;
        int n = 0;
        for (int64_t j = 0; j < p->N; j++) {
            if (skip[j]) continue;
            float s = 0;
            for (int64_t d = 0; d < p->D; d++) s += p->u[b * p->D + d] * p->v[j * p->D + d];
            sc[j] = s + (p->bias ? p->bias[j] : 0.0f);
            ord[n++] = (int32_t)j;
        }
        g_sc = sc;
        qsort(ord, (size_t)n, sizeof *ord, by_rank);
        for (int k = 0; k < K; k++) {
            vals[b * K + k] = k < n ? sc[ord[k]] : -INFINITY;
            idx[b * K + k] = k < n ? ord[k] : -1;
        }
    }
    free(sc), free(ord), free(skip);
}

/* Runs score_topk on be over the slabs [cuts[i], cuts[i+1]) in the given order. */
static void tk_run(lt_backend *be, const tk_prob *p, int K, const int64_t *cuts, const int *order, int nslabs,
                   float *vals, int32_t *idx) {
    for (int64_t i = 0; i < p->B * K; i++) vals[i] = -INFINITY, idx[i] = -1;
    lt_tensor tv = up(be, vals, LT_F32, 2, p->B, K), ti = up(be, idx, LT_I32, 2, p->B, K);
    lt_tensor u = upf(be, p->u, p->B, p->D);
    lt_tensor off = up(be, p->off, LT_I64, 1, p->B + 1, 0), ex = upi(be, p->ex, p->off[p->B] ? p->off[p->B] : 1);
    for (int s = 0; s < nslabs; s++) {
        int64_t a = cuts[order[s]], z = cuts[order[s] + 1];
        lt_tensor v = upf(be, p->v + a * p->D, z - a, p->D), bias;
        if (p->bias) bias = upf(be, p->bias + a, z - a, 0);
        OK(lt_score_topk(be, &tv, &ti, &u, &v, p->bias ? &bias : NULL, a, &off, &ex));
        lt_tensor_free(be, &v);
        if (p->bias) lt_tensor_free(be, &bias);
    }
    float *hv = down(be, &tv);
    int32_t *hi = down(be, &ti);
    memcpy(vals, hv, sizeof(float) * (size_t)(p->B * K)), memcpy(idx, hi, sizeof(int32_t) * (size_t)(p->B * K));
    free(hv), free(hi);
    lt_tensor_free(be, &tv), lt_tensor_free(be, &ti), lt_tensor_free(be, &u), lt_tensor_free(be, &off);
    lt_tensor_free(be, &ex);
}

static int tk_same(const char *what, const tk_prob *p, int K, const float *va, const int32_t *ia, const float *vb,
                   const int32_t *ib) {
    for (int64_t i = 0; i < p->B * K; i++)
        if (ia[i] != ib[i] || !(va[i] == vb[i])) {
            fprintf(stderr, "  %s: row %lld rank %lld: got (%d, %g), expected (%d, %g)\n", what, (long long)(i / K),
                    (long long)(i % K), ia[i], va[i], ib[i], vb[i]);
            return 0;
        }
    return 1;
}

static void test_topk_case(lt_backend *be, const char *label, int64_t B, int64_t N, int K, int max_excl, int bias) {
    tk_prob p = make_tk(B, N, 8, max_excl, bias);
    float *rv = malloc(sizeof(float) * (size_t)(B * K)), *gv = malloc(sizeof(float) * (size_t)(B * K));
    int32_t *ri = malloc(sizeof(int32_t) * (size_t)(B * K)), *gi = malloc(sizeof(int32_t) * (size_t)(B * K));
    tk_reference(&p, K, rv, ri);
    int64_t one[] = {0, N}, three[] = {0, N / 5, N / 5 + 1, N};
    int ord1[] = {0}, fwd[] = {0, 1, 2}, rev[] = {2, 0, 1};
    char what[128];
    snprintf(what, sizeof what, "%s %s one slab", lt_backend_name(be), label);
    tk_run(be, &p, K, one, ord1, 1, gv, gi);
    int ok = tk_same(what, &p, K, gv, gi, rv, ri);
    snprintf(what, sizeof what, "%s %s 3 slabs", lt_backend_name(be), label);
    tk_run(be, &p, K, three, fwd, 3, gv, gi);
    ok &= tk_same(what, &p, K, gv, gi, rv, ri);
    snprintf(what, sizeof what, "%s %s 3 slabs out of order", lt_backend_name(be), label);
    tk_run(be, &p, K, three, rev, 3, gv, gi);
    ok &= tk_same(what, &p, K, gv, gi, rv, ri);
    snprintf(what, sizeof what, "score_topk %s %s", lt_backend_name(be), label);
    printf("  %-44s == brute force (1 slab, 3 slabs, 3 out of order) %s\n", what, ok ? "ok" : "FAIL");
    CHECK_MSG(ok, "%s differs from the brute-force reference", what);
    free(rv), free(gv), free(ri), free(gi);
    tk_free(&p);
}

static void test_topk(lt_backend *be) {
    test_topk_case(be, "B=7 N=300 K=10 excl<=20 bias", 7, 300, 10, 20, 1);
    test_topk_case(be, "B=5 N=200 K=1", 5, 200, 1, 5, 0);
    test_topk_case(be, "B=3 N=40 K=64 (K > items)", 3, 40, 64, 10, 1);
    test_topk_case(be, "B=4 N=1500 K=1000", 4, 1500, 1000, 50, 1);
    test_topk_case(be, "B=1100 N=2500 K=10 (many tiles)", 1100, 2500, 10, 30, 0);
}

static void test_validation(void) {
    float buf[64] = {0};
    int32_t ib[8] = {0};
    lt_tensor u = lt_view2(buf, LT_F32, LT_CPU, 2, 4), v = lt_view2(buf, LT_F32, LT_CPU, 3, 4);
    lt_tensor v5 = lt_view2(buf, LT_F32, LT_CPU, 3, 5), l2 = lt_view1(buf, LT_F32, LT_CPU, 2);
    lt_tensor t2 = lt_view1(ib, LT_I32, LT_CPU, 2), w = lt_view1(buf, LT_F32, LT_CPU, 4);
    FAILS_WITH(lt_catalog_xent_fwd(g_cpu, &l2, &l2, &u, &v5, NULL, &t2, 2, &w), LT_ESHAPE, "catalog_xent_fwd: u");
    FAILS_WITH(lt_catalog_xent_fwd(g_cpu, &l2, &l2, &u, &v, NULL, &t2, 3, &w), LT_ESHAPE, "work");
    FAILS_WITH(lt_catalog_xent_fwd(g_cpu, &l2, &l2, &u, &v, NULL, &t2, 0, &w), LT_EINVAL, "chunk");
    ib[1] = 3;
    FAILS_WITH(lt_catalog_xent_fwd(g_cpu, &l2, &l2, &u, &v, NULL, &t2, 2, &w), LT_ERANGE, "target 3");
    lt_tensor vals = lt_view2(buf, LT_F32, LT_CPU, 2, 3), idx = lt_view2(ib, LT_I32, LT_CPU, 2, 2);
    FAILS_WITH(lt_score_topk(g_cpu, &vals, &idx, &u, &v, NULL, 0, NULL, NULL), LT_ESHAPE, "score_topk: vals");
    printf("  %-44s messages name the op and the argument\n", "argument validation");
}

/* ---- 5. the shard driver ------------------------------------------------------------------------- */

#ifdef LONGTAIL_HAVE_HDF5
static void test_shards(lt_backend *be) {
    int64_t B = 13, N = 530, D = 8;
    int K = 7;
    tk_prob p = make_tk(B, N, D, 25, 1);
    char dir[] = "/tmp/lt_rank_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int64_t cuts[] = {0, 200, 201, 530};
    for (int s = 0; s < 3; s++) {
        lt_emb_shard e = {.item_begin = cuts[s], .n = cuts[s + 1] - cuts[s], .n_total = N, .shard_index = s,
                          .shard_count = 3, .dim = D, .data = p.v + cuts[s] * D};
        char path[256];
        lt_emb_shard_path(path, sizeof path, dir, s);
        OK(lt_emb_shard_write(path, &e, LT_F32, "test"));
    }
    float *rv = malloc(sizeof(float) * (size_t)(B * K)), *gv = malloc(sizeof(float) * (size_t)(B * K));
    int32_t *ri = malloc(sizeof(int32_t) * (size_t)(B * K)), *gi = malloc(sizeof(int32_t) * (size_t)(B * K));
    tk_reference(&p, K, rv, ri);
    lt_topk_query q = {.u = p.u, .B = B, .D = D, .K = K, .item_bias = p.bias, .excl_off = p.off, .excl_ids = p.ex,
                       .batch = 5};
    OK(lt_topk_shards(be, dir, &q, gv, gi));
    char what[96];
    snprintf(what, sizeof what, "topk_shards %s (3 shards, batches of 5)", lt_backend_name(be));
    int ok = tk_same(what, &p, K, gv, gi, rv, ri);
    printf("  %-44s == brute force %s\n", what, ok ? "ok" : "FAIL");
    CHECK_MSG(ok, "%s differs from the reference", what);
    if (be == g_cpu) { /* a query whose width is not the shards' is refused, naming the shard */
        lt_topk_query bad = q;
        bad.D = D - 1;
        FAILS_WITH(lt_topk_shards(be, dir, &bad, gv, gi), LT_EFORMAT, "emb-00000.h5");
        bad = q, bad.K = 0;
        FAILS_WITH(lt_topk_shards(be, dir, &bad, gv, gi), LT_EINVAL, "K = 0");
    }
    for (int s = 0; s < 3; s++) {
        char path[256];
        lt_emb_shard_path(path, sizeof path, dir, s);
        unlink(path);
    }
    rmdir(dir);
    free(rv), free(gv), free(ri), free(gi);
    tk_free(&p);
}
#endif

/* ---- 6. CUDA vs CPU ------------------------------------------------------------------------------- */

static void test_cuda(void) {
    if (!g_cuda) {
        printf("  %-44s skipped: no CUDA device\n", "catalog/sampled xent cuda vs cpu");
        printf("  %-44s skipped: no CUDA device\n", "score_topk cuda vs brute force");
        return;
    }
    struct {
        const char *name;
        prob p;
    } cases[] = {
        {"catalog_xent cuda vs cpu (B=33 N=3001 chunk=512)", make_catalog(33, 3001, 64, 512, 1, 3)},
        {"catalog_xent cuda vs cpu (no bias, chunk > N)", make_catalog(8, 700, 16, 4096, 0, 1)},
        {"sampled_xent cuda vs cpu (S=300, hits, log-Q)", make_sampled(40, 900, 32, 300, 1, 1, 2)},
        /* tiles wider than 1024 columns: a block per row instead of a warp */
        {"catalog_xent cuda vs cpu (chunk=2000, block rows)", make_catalog(9, 5000, 16, 2000, 1, 2)},
        {"sampled_xent cuda vs cpu (S=1500, block rows)", make_sampled(12, 3000, 16, 1500, 1, 1, 2)},
    };
    for (int c = 0; c < 5; c++) {
        prob *p = &cases[c].p;
        float *w = randv(p->B, 0.5f, 1.5f), *du0 = randv(p->B * p->D, -1, 1), *dv0 = randv(p->N * p->D, -1, 1),
              *db0 = randv(p->N, -1, 1);
        float *l0, *s0, *l1, *s1, *a[3], *g[3];
        prob_fwd(g_cpu, p, &l0, &s0);
        prob_fwd(g_cuda, p, &l1, &s1);
        prob_bwd(g_cpu, p, w, du0, dv0, db0, &a[0], &a[1], &a[2]);
        prob_bwd(g_cuda, p, w, du0, dv0, db0, &g[0], &g[1], &g[2]);
        double sl, e_l = fmax(maxabs(l1, l0, p->B, &sl), maxabs(s1, s0, p->B, NULL));
        int64_t len[3] = {p->B * p->D, p->N * p->D, p->N};
        double e_g = 0, sg = 0;
        for (int k = 0; k < 3; k++) {
            double sk, e = maxabs(g[k], a[k], len[k], &sk);
            e_g = fmax(e_g, e), sg = fmax(sg, sk);
        }
        int ok = e_l <= 1e-4 * (1 + sl) && e_g <= 1e-4 * (1 + sg);
        printf("  %-44s loss/lse %.2g, grads %.2g %s\n", cases[c].name, e_l, e_g, ok ? "ok" : "FAIL");
        CHECK_MSG(ok, "%s: cuda differs from cpu", cases[c].name);
        free(w), free(du0), free(dv0), free(db0), free(l0), free(s0), free(l1), free(s1);
        for (int k = 0; k < 3; k++) free(a[k]), free(g[k]);
        prob_free(p);
    }
    test_topk(g_cuda);
    test_topk_case(g_cuda, "B=300 N=70000 K=100", 300, 70000, 100, 50, 1);
}

/* A NaN score (here: one item's bias) makes the loss and lse of every row it reaches NaN on the
 * CPU (lt__row_sumexp adds exp(NaN)); CUDA must not drop it and report a finite loss. Both tile
 * kernels (a warp per row up to 1024 columns, a block per row above), the NaN in the first chunk
 * or a later one. The CPU half runs everywhere: it shows the case has NaNs to miss. */
static void test_nan_scores(void) {
    static const struct {
        int64_t N, chunk, nan_item;
    } cs[] = {{700, 256, 3}, {700, 256, 600}, {5000, 2000, 4500}};
    for (int c = 0; c < 3; c++) {
        prob p = make_catalog(16, cs[c].N, 8, cs[c].chunk, 1, 2);
        p.bias[cs[c].nan_item] = NAN;
        float *l0, *s0;
        prob_fwd(g_cpu, &p, &l0, &s0);
        int cpu_nan = 0;
        for (int64_t b = 0; b < p.B; b++) cpu_nan += p.t[b] >= 0 && isnan(l0[b]) && isnan(s0[b]);
        int rows = 0;
        for (int64_t b = 0; b < p.B; b++) rows += p.t[b] >= 0;
        char name[96];
        snprintf(name, sizeof name, "catalog_xent NaN score (N=%lld, item %lld)", (long long)cs[c].N,
                 (long long)cs[c].nan_item);
        CHECK_MSG(cpu_nan == rows, "%s: cpu: %d of %d rows have a NaN loss and lse", name, cpu_nan, rows);
        if (!g_cuda) {
            printf("  %-44s cpu: %d of %d rows NaN; cuda: skipped: no CUDA device\n", name, cpu_nan, rows);
        } else {
            float *l1, *s1;
            prob_fwd(g_cuda, &p, &l1, &s1);
            int bad = 0;
            for (int64_t b = 0; b < p.B; b++)
                bad += isnan(l0[b]) != isnan(l1[b]) || isnan(s0[b]) != isnan(s1[b]) ||
                       (!isnan(l0[b]) && fabs(l0[b] - l1[b]) > 1e-4 * (1 + fabs(l0[b])));
            printf("  %-44s cpu: %d of %d rows NaN; cuda: %d rows differ %s\n", name, cpu_nan, rows, bad,
                   bad ? "FAIL" : "ok");
            CHECK_MSG(bad == 0, "%s: cuda: %d rows differ from the cpu in NaN-ness or value", name, bad);
            free(l1), free(s1);
        }
        free(l0), free(s0);
        prob_free(&p);
    }
}

int main(void) {
    lt_rng_init(&g_rng, tu_seed(), 0);
    g_cpu = lt_backend_cpu();
    printf("%s\n", lt_backend_describe(g_cpu));
    if (tu_gpu(&g_cuda) < 0) {
        g_cuda = NULL;
        printf("cuda: skipped: no CUDA device (%s)\n", lt_last_error());
    } else {
        printf("%s\n", lt_backend_describe(g_cuda));
    }
    test_validation();
    test_fd();
    test_materialised();
    test_sampled_reference();
    test_topk(g_cpu);
#ifdef LONGTAIL_HAVE_HDF5
    test_shards(g_cpu);
    if (g_cuda) test_shards(g_cuda);
    else printf("  %-44s skipped: no CUDA device\n", "topk_shards cuda");
#endif
    test_cuda();
    test_nan_scores();
    if (g_cuda) lt_backend_release(g_cuda);
    return tu_finish("test_rank");
}
