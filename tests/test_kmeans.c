/* tests/test_kmeans: the clustering library (cluster.h) on the CPU backend, and on CUDA when a
 * device exists.
 *  - well-separated Gaussian blobs are recovered (adjusted Rand index >= 0.99) by every
 *    initialisation, by Lloyd and by mini-batch, in memory and streamed in small chunks;
 *  - a run is deterministic for a seed (bit-identical centroids), and changes with the seed;
 *  - empty clusters are repaired; cosine k-means clusters directions;
 *  - CPU and CUDA agree on the assignments of a whole run;
 *  - PCA matches numpy's SVD on a committed fixture (tests/fixtures/pca), exact and randomized;
 *  - t-SNE separates blobs (smoke test) and is deterministic;
 *  - bad shapes, bad options and NaN inputs fail with messages that name the field. */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "longtail/backend.h"
#include "longtail/cluster.h"
#include "longtail/log.h"
#include "longtail/rng.h"
#include "testutil.h"

static lt_backend *g_cpu, *g_cuda;

/* n points around `blobs` centers in [-10, 10]^d with unit noise; labels[n] = the blob */
static float *make_blobs(int64_t n, int64_t d, int blobs, double spread, uint64_t seed, int32_t *labels) {
    lt_rng r;
    lt_rng_init(&r, seed, 7);
    float *ctr = malloc(sizeof(float) * (size_t)(blobs * d)), *x = malloc(sizeof(float) * (size_t)(n * d));
    for (int64_t i = 0; i < blobs * d; i++) ctr[i] = (float)(spread * (2 * lt_rng_next_double(&r) - 1));
    for (int64_t i = 0; i < n; i++) {
        int b = (int)lt_rng_below(&r, (uint64_t)blobs);
        if (labels) labels[i] = b;
        for (int64_t j = 0; j < d; j++) x[i * d + j] = ctr[b * d + j] + lt_rng_next_normal(&r);
    }
    free(ctr);
    return x;
}

static lt_kmeans_result run_km(lt_backend *be, const float *x, int64_t n, int64_t d, const lt_kmeans_opts *o) {
    lt_vecs *v;
    OK(lt_vecs_memory(&v, x, n, d));
    lt_kmeans_result r;
    OK(lt_kmeans(be, v, o, &r));
    lt_vecs_free(v);
    return r;
}

static void test_blobs(lt_backend *be, const char *label) {
    int64_t n = 6000, d = 24;
    int K = 12;
    int32_t *truth = malloc(sizeof(int32_t) * n);
    float *x = make_blobs(n, d, K, 10, 42, truth);
    static const lt_km_init inits[] = {LT_KM_INIT_PLUSPLUS, LT_KM_INIT_PARALLEL, LT_KM_INIT_RANDOM};
    static const char *names[] = {"k-means++", "k-means||", "random"};
    for (int i = 0; i < 3; i++)
        for (int stream = 0; stream < 2; stream++) {
            lt_kmeans_opts o;
            lt_kmeans_opts_init(&o);
            o.k = K, o.init = inits[i], o.seed = 5, o.max_iter = 50;
            if (stream) o.mem_bytes = -1, o.chunk_rows = 777; /* never load: stream in odd-sized chunks */
            lt_kmeans_result r = run_km(be, x, n, d, &o);
            double ari = lt_adjusted_rand_index(truth, r.assign, n);
            /* random seeds often put two centroids in one blob and Lloyd alone does not escape that
             * local minimum: only a valid, partly right clustering is expected of it */
            double need = inits[i] == LT_KM_INIT_RANDOM ? 0.5 : 0.99;
            printf("  %-6s blobs %lldx%lld K=%d, %-9s %s: ARI %.4f, %d iterations, objective %.1f %s\n", label,
                   (long long)n, (long long)d, K, names[i], stream ? "streamed" : "in memory", ari, r.iters,
                   r.objective, ari >= need ? "ok" : "FAIL");
            CHECK_MSG(ari >= need, "%s %s: ARI %.4f < %.2f", label, names[i], ari, need);
            CHECK(r.converged);
            lt_kmeans_result_free(&r);
        }
    free(x), free(truth);
}

static void test_minibatch(lt_backend *be, const char *label) {
    int64_t n = 20000, d = 16;
    int K = 8;
    int32_t *truth = malloc(sizeof(int32_t) * n);
    float *x = make_blobs(n, d, K, 10, 3, truth);
    lt_kmeans_opts o;
    lt_kmeans_opts_init(&o);
    o.k = K, o.seed = 11, o.minibatch = 512, o.max_iter = 10, o.chunk_rows = 4096, o.mem_bytes = -1;
    lt_kmeans_result r = run_km(be, x, n, d, &o);
    double ari = lt_adjusted_rand_index(truth, r.assign, n);
    printf("  %-6s mini-batch (512 rows, streamed): ARI %.4f after %d epochs %s\n", label, ari, r.iters,
           ari >= 0.99 ? "ok" : "FAIL");
    CHECK(ari >= 0.99);
    lt_kmeans_result_free(&r);
    free(x), free(truth);
}

static void test_determinism(void) {
    int64_t n = 5000, d = 20;
    float *x = make_blobs(n, d, 30, 3, 9, NULL); /* overlapping: many ways to end */
    lt_kmeans_opts o;
    lt_kmeans_opts_init(&o);
    o.k = 25, o.seed = 123, o.tol = 0, o.max_iter = 15;
    lt_kmeans_result a = run_km(g_cpu, x, n, d, &o), b = run_km(g_cpu, x, n, d, &o);
    o.seed = 124;
    lt_kmeans_result e = run_km(g_cpu, x, n, d, &o);
    int same = !memcmp(a.centroids, b.centroids, sizeof(float) * 25 * d) && !memcmp(a.assign, b.assign, 4 * n);
    int differs = memcmp(a.centroids, e.centroids, sizeof(float) * 25 * d) != 0;
    /* Chunks add their sums into f32 one chunk at a time, so the chunk size can move the last bit
     * of a centroid: on separated data that never changes an assignment. */
    float *y = make_blobs(n, d, 10, 10, 9, NULL);
    o.k = 10, o.seed = 123;
    lt_kmeans_result f = run_km(g_cpu, y, n, d, &o);
    o.chunk_rows = 333, o.mem_bytes = -1;
    lt_kmeans_result g = run_km(g_cpu, y, n, d, &o);
    int same_chunked = !memcmp(f.assign, g.assign, 4 * n) && fabs(f.objective - g.objective) <= 1e-6 * f.objective;
    printf("  determinism: same seed %s, other seed %s, chunks of 333 rows %s\n",
           same ? "bit-identical (good)" : "DIFFERENT", differs ? "differs (good)" : "IDENTICAL",
           same_chunked ? "same assignments (good)" : "DIFFERENT");
    CHECK(same && same_chunked && differs);
    lt_kmeans_result_free(&a), lt_kmeans_result_free(&b), lt_kmeans_result_free(&e);
    lt_kmeans_result_free(&f), lt_kmeans_result_free(&g);
    free(x), free(y);
}

/* The bounds skip rows, never change an assignment: with and without them, the same bits. */
static void test_prune_exact(void) {
    int64_t n = 8000, d = 16;
    float *x = make_blobs(n, d, 40, 4, 12, NULL); /* overlapping: rows keep changing for a while */
    for (int cosine = 0; cosine < 2; cosine++) {
        lt_kmeans_opts o;
        lt_kmeans_opts_init(&o);
        o.k = 30, o.seed = 8, o.tol = 0, o.max_iter = 30, o.metric = cosine ? LT_KM_COSINE : LT_KM_L2;
        lt_kmeans_result a = run_km(g_cpu, x, n, d, &o);
        o.prune = 0;
        lt_kmeans_result b = run_km(g_cpu, x, n, d, &o);
        int same = !memcmp(a.centroids, b.centroids, sizeof(float) * 30 * d) && !memcmp(a.assign, b.assign, 4 * n) &&
                   a.objective == b.objective;
        double skipped = (double)a.pruned_rows / ((double)a.iters * (double)n);
        printf("  bounds (%s): %.0f%% of the row-iterations skipped, result %s\n", cosine ? "cosine" : "L2",
               100 * skipped, same ? "bit-identical to the full passes (good)" : "DIFFERENT");
        CHECK(same && skipped > 0.2 && b.pruned_rows == 0);
        lt_kmeans_result_free(&a), lt_kmeans_result_free(&b);
    }
    free(x);
}

/* 3 tight blobs and 5 given centroids, two of them far from everything: they start empty and
 * must be re-seeded, and every cluster ends non-empty. */
static void test_empty_repair(void) {
    int64_t n = 900, d = 4;
    float *x = make_blobs(n, d, 3, 10, 17, NULL);
    float c0[5 * 4];
    for (int j = 0; j < 3; j++) memcpy(c0 + j * d, x + j * d, sizeof(float) * d);
    for (int j = 3; j < 5; j++)
        for (int t = 0; t < d; t++) c0[j * d + t] = 1000.0f + j;
    lt_kmeans_opts o;
    lt_kmeans_opts_init(&o);
    o.k = 5, o.init = LT_KM_INIT_GIVEN, o.centroids0 = c0, o.max_iter = 30;
    lt_kmeans_result r = run_km(g_cpu, x, n, d, &o);
    int64_t smallest = n;
    for (int j = 0; j < 5; j++) smallest = r.sizes[j] < smallest ? r.sizes[j] : smallest;
    printf("  empty clusters: %lld repaired, smallest final cluster %lld %s\n", (long long)r.repaired,
           (long long)smallest, r.repaired >= 2 && smallest > 0 ? "ok" : "FAIL");
    CHECK(r.repaired >= 2 && smallest > 0);
    lt_kmeans_result_free(&r);
    free(x);
}

/* Cosine: blobs of directions at different lengths; L2 would split by length. */
static void test_cosine(void) {
    int64_t n = 3000, d = 8;
    int K = 4;
    int32_t *truth = malloc(sizeof(int32_t) * n);
    float *x = make_blobs(n, d, K, 20, 21, truth);
    lt_rng r;
    lt_rng_init(&r, 5, 5);
    for (int64_t i = 0; i < n; i++) { /* scale each point by 0.1 .. 10 */
        float s = powf(10.0f, 2 * lt_rng_next_uniform(&r) - 1);
        for (int64_t j = 0; j < d; j++) x[i * d + j] *= s;
    }
    lt_kmeans_opts o;
    lt_kmeans_opts_init(&o);
    o.k = K, o.metric = LT_KM_COSINE, o.seed = 2;
    lt_kmeans_result res = run_km(g_cpu, x, n, d, &o);
    double ari = lt_adjusted_rand_index(truth, res.assign, n), norm = 0;
    for (int64_t j = 0; j < d; j++) norm += (double)res.centroids[j] * res.centroids[j];
    printf("  cosine: ARI %.4f, |centroid| = %.6f %s\n", ari, sqrt(norm), ari >= 0.99 && fabs(norm - 1) < 1e-5 ? "ok" : "FAIL");
    CHECK(ari >= 0.99 && fabs(norm - 1) < 1e-5);
    lt_kmeans_result_free(&res);
    free(x), free(truth);
}

static void test_cuda_agrees(void) {
    if (!g_cuda) {
        printf("  cuda vs cpu k-means run: skipped: no CUDA device\n");
        return;
    }
    int64_t n = 20000, d = 32;
    float *x = make_blobs(n, d, 40, 6, 77, NULL);
    lt_kmeans_opts o;
    lt_kmeans_opts_init(&o);
    /* random seeds: the greedy k-means++ scores its candidates with each backend's GEMM, whose
     * rounding may break a near-tie differently; this test is about the iterations */
    o.k = 40, o.seed = 3, o.tol = 0, o.max_iter = 10, o.init = LT_KM_INIT_RANDOM;
    lt_kmeans_result a = run_km(g_cpu, x, n, d, &o), b = run_km(g_cuda, x, n, d, &o);
    int64_t diff = 0;
    for (int64_t i = 0; i < n; i++) diff += a.assign[i] != b.assign[i];
    double rel = fabs(a.objective - b.objective) / a.objective;
    printf("  cuda vs cpu k-means run (fp32): %lld of %lld assignments differ, objective rel diff %.2e %s\n",
           (long long)diff, (long long)n, rel, diff == 0 && rel < 1e-6 ? "ok" : "FAIL");
    CHECK(diff == 0 && rel < 1e-6);
    lt_backend_set_math(g_cuda, LT_MATH_BF16);
    lt_kmeans_result c = run_km(g_cuda, x, n, d, &o);
    lt_backend_set_math(g_cuda, LT_MATH_FP32);
    double ari = lt_adjusted_rand_index(a.assign, c.assign, n);
    rel = fabs(a.objective - c.objective) / a.objective;
    printf("  cuda bf16 k-means run: ARI vs cpu %.4f, objective rel diff %.2e %s\n", ari, rel,
           ari > 0.95 && rel < 5e-3 ? "ok" : "FAIL");
    CHECK(ari > 0.95 && rel < 5e-3);
    lt_kmeans_result_free(&a), lt_kmeans_result_free(&b), lt_kmeans_result_free(&c);
    free(x);
}

/* ---- PCA against numpy (tests/fixtures/pca/make_fixture.py) ------------------------------------------ */

static void test_pca(lt_backend *be, const char *label) {
    char path[4096];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/tests/fixtures/pca/x.f32", tu_source_dir());
    float *x = (float *)read_file(path, &len);
    snprintf(path, sizeof path, "%s/tests/fixtures/pca/expected.txt", tu_source_dir());
    char *txt = read_file(path, &len);
    if (!x || !txt) {
        CHECK_MSG(0, "cannot read the PCA fixture under %s/tests/fixtures/pca", tu_source_dir());
        free(x), free(txt);
        return;
    }
    enum { N = 500, D = 20, Q = 5 };
    double mean[D], var[Q], comp[Q][D], total = 0;
    char *p = txt;
    for (char *line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
        char *s = line;
        if (!strncmp(s, "mean ", 5)) {
            s += 5;
            for (int j = 0; j < D; j++) mean[j] = strtod(s, &s);
        } else if (!strncmp(s, "variance ", 9)) {
            s += 9;
            for (int j = 0; j < Q; j++) var[j] = strtod(s, &s);
        } else if (!strncmp(s, "total ", 6)) {
            total = strtod(s + 6, NULL);
        } else if (!strncmp(s, "component ", 10)) {
            int i = (int)strtol(s + 10, &s, 10);
            for (int j = 0; j < D && i >= 0 && i < Q; j++) comp[i][j] = strtod(s, &s);
        }
    }
    lt_vecs *v;
    OK(lt_vecs_memory(&v, x, N, D));
    for (int exact = 1; exact >= 0; exact--) {
        lt_pca_opts o;
        lt_pca_opts_init(&o);
        o.q = Q, o.exact = exact, o.seed = 3;
        lt_pca pca;
        OK(lt_pca_fit(be, v, &o, &pca));
        double em = 0, ev = 0, ec = 0;
        for (int j = 0; j < D; j++) em = fmax(em, fabs(pca.mean[j] - mean[j]));
        for (int i = 0; i < Q; i++) {
            ev = fmax(ev, fabs(pca.variance[i] - var[i]) / var[i]);
            for (int j = 0; j < D; j++) ec = fmax(ec, fabs(pca.components[i * D + j] - comp[i][j]));
        }
        double et = fabs(pca.total_variance - total) / total;
        int ok = em < 1e-5 && ev < 1e-5 && ec < 1e-4 && et < 1e-5;
        printf("  %-6s pca %s vs numpy svd: mean err %.1e, variance rel err %.1e, component err %.1e, total %.1e %s\n",
               label, exact ? "exact (Jacobi)   " : "randomized (6 it)", em, ev, ec, et, ok ? "ok" : "FAIL");
        CHECK_MSG(ok, "%s pca (exact=%d) does not match numpy", label, exact);
        /* the projection of the mean is 0, of mean + component i is e_i */
        float row[2 * D], y[2 * Q];
        for (int j = 0; j < D; j++) row[j] = pca.mean[j], row[D + j] = pca.mean[j] + pca.components[j];
        lt_vecs *two;
        OK(lt_vecs_memory(&two, row, 2, D));
        OK(lt_pca_project(be, &pca, two, y));
        CHECK(fabs(y[0]) < 1e-5 && fabs(y[Q] - 1) < 1e-5 && fabs(y[Q + 1]) < 1e-5);
        lt_vecs_free(two);
        lt_pca_free(&pca);
    }
    lt_pca_opts o;
    lt_pca_opts_init(&o);
    lt_pca bad;
    o.q = 21;
    FAILS_WITH(lt_pca_fit(be, v, &o, &bad), LT_EINVAL, "q = 21 components of 20 dimensions");
    lt_vecs_free(v);
    free(x), free(txt);
}

/* ---- t-SNE smoke test --------------------------------------------------------------------------------- */

static void test_tsne(void) {
    int64_t n = 600, d = 10;
    int32_t *truth = malloc(sizeof(int32_t) * n);
    float *x = make_blobs(n, d, 4, 10, 8, truth);
    float *y = malloc(sizeof(float) * 2 * n), *y2 = malloc(sizeof(float) * 2 * n);
    lt_tsne_opts o;
    lt_tsne_opts_init(&o);
    o.iters = 300;
    OK(lt_tsne(g_cpu, x, n, d, &o, y));
    OK(lt_tsne(g_cpu, x, n, d, &o, y2));
    /* blobs stay blobs: k-means on the 2-D map finds them again */
    lt_kmeans_opts ko;
    lt_kmeans_opts_init(&ko);
    ko.k = 4;
    lt_kmeans_result r = run_km(g_cpu, y, n, 2, &ko);
    double ari = lt_adjusted_rand_index(truth, r.assign, n);
    int same = !memcmp(y, y2, sizeof(float) * 2 * n), finite = 1;
    for (int64_t i = 0; i < 2 * n; i++) finite &= isfinite(y[i]);
    printf("  t-SNE %lld points: blobs recovered on the map (ARI %.3f), deterministic %s %s\n", (long long)n, ari,
           same ? "yes" : "NO", ari > 0.99 && same && finite ? "ok" : "FAIL");
    CHECK(ari > 0.99 && same && finite);
    FAILS_WITH(lt_tsne(g_cpu, x, 3, d, &o, y), LT_EINVAL, "n = 3 points");
    lt_kmeans_result_free(&r);
    free(x), free(y), free(y2), free(truth);
}

/* ---- longtail cluster end to end -------------------------------------------------------------------- */

#ifdef LONGTAIL_HAVE_HDF5
#include "longtail/embeddings.h"
#include "longtail/shard.h"

/* A shop of 3 product families on 3 blobs: family 0 gets 20 interactions per item, family 1 gets
 * 6, family 2 (the planted long tail) 1. Embeddings in 2 shards, catalog, events; then
 * lt_cluster_run must find family 2 as the one long-tail cluster, write cluster.h5 with its
 * schema and datasets, and the report with its plots. */
static void test_cluster_run(void) {
    char root[] = "/tmp/lt-test-cluster-XXXXXX";
    if (!mkdtemp(root)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    char data[4200], emb[4200], out[4200], path[4300];
    snprintf(data, sizeof data, "%s/data", root), snprintf(emb, sizeof emb, "%s/emb", root);
    snprintf(out, sizeof out, "%s/out", root);
    int64_t n = 300, d = 8;
    int32_t *fam = malloc(sizeof(int32_t) * n);
    float *x = make_blobs(n, d, 3, 10, 4, fam);
    lt_catalog cat = {0};
    lt_events ev = {.n_items = n};
    static const char *names[3] = {"Lipstick", "Shampoo", "Rare Perfume"};
    int64_t per_family[3] = {20, 6, 1}, total = 0;
    for (int64_t i = 0; i < n; i++) total += per_family[fam[i]];
    ev.n_users = 10, ev.n_events = total;
    ev.user_off = malloc(sizeof(int64_t) * 11), ev.item = malloc(sizeof(int32_t) * total), ev.time = malloc(8 * total);
    int64_t e = 0;
    for (int64_t i = 0; i < n; i++) {
        char id[32], title[64];
        snprintf(id, sizeof id, "item%lld", (long long)i);
        snprintf(title, sizeof title, "%s no. %lld", names[fam[i]], (long long)i);
        OK(lt_strs_push(&cat.item_id, id, strlen(id)));
        OK(lt_strs_push(&cat.title, title, strlen(title)));
        OK(lt_strs_push(&cat.description, "", 0));
        OK(lt_strs_push(&cat.category, names[fam[i]], strlen(names[fam[i]])));
        for (int64_t c = 0; c < per_family[fam[i]]; c++) ev.item[e] = (int32_t)i, ev.time[e] = e, e++;
    }
    cat.n = n;
    for (int u = 0; u <= 10; u++) ev.user_off[u] = total * u / 10;
    for (int u = 0; u < 10; u++) {
        char id[16];
        snprintf(id, sizeof id, "u%d", u);
        OK(lt_strs_push(&ev.user_id, id, strlen(id)));
    }
    OK(lt_catalog_save(&cat, data, 1000, "test"));
    snprintf(path, sizeof path, "%s/events.h5", data);
    OK(lt_events_save(&ev, path, "test"));
    for (int sh = 0; sh < 2; sh++) {
        lt_emb_shard es = {.item_begin = sh * 150, .n = 150, .n_total = n, .shard_index = sh, .shard_count = 2, .dim = d,
                           .data = x + sh * 150 * d};
        lt_emb_shard_path(path, sizeof path, emb, sh);
        if (sh == 0) mkdir(emb, 0777);
        OK(lt_emb_shard_write(path, &es, sh ? LT_BF16 : LT_F32, "test blobs"));
    }
    lt_cluster_opts o;
    lt_cluster_opts_init(&o);
    o.data = data, o.emb = emb, o.out = out, o.km.k = 3, o.tsne_points = 200, o.quiet = 1;
    OK(lt_cluster_run(&o));

    lt_shard *h;
    snprintf(path, sizeof path, "%s/cluster.h5", out);
    OK(lt_shard_open(&h, path, "clusters", 1));
    int32_t *as = malloc(sizeof(int32_t) * n);
    uint8_t lt[3];
    float att[3];
    int64_t k = 0;
    OK(lt_shard_read(h, "assign", LT_I32, as, sizeof(int32_t) * n));
    OK(lt_shard_read(h, "long_tail", LT_U8, lt, sizeof lt));
    OK(lt_shard_read(h, "attention", LT_F32, att, sizeof att));
    OK(lt_shard_attr_i64(h, "", "k", &k));
    static const char *need[] = {"dist", "centroids", "sizes", "reps", "pca2", "pca_components", "tsne", "tsne_items",
                                 "popularity", "head", "interactions", "label/values"};
    int missing = 0;
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) missing += !lt_shard_has(h, need[i]);
    lt_shard_close(h);
    double ari = lt_adjusted_rand_index(fam, as, n);
    int32_t rare = -1; /* the cluster of family 2 */
    for (int64_t i = 0; i < n; i++)
        if (fam[i] == 2) rare = as[i];
    int flagged_right = 1;
    for (int j = 0; j < 3; j++) flagged_right &= lt[j] == (j == rare);
    int files = 1;
    static const char *outs[] = {"report.md", "popularity.svg", "clusters.svg", "map_pca.svg", "map_tsne.svg"};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        snprintf(path, sizeof path, "%s/%s", out, outs[i]);
        files &= access(path, R_OK) == 0;
    }
    size_t len = 0;
    snprintf(path, sizeof path, "%s/report.md", out);
    char *md = read_file(path, &len);
    int says = md && strstr(md, "**1 of 3 clusters** are long-tail") && strstr(md, "Rare Perfume 100%");
    printf("  longtail cluster end to end: ARI %.3f, long-tail cluster %d (attention %.2f) %s, %d datasets missing, "
           "report and plots %s %s\n", ari, rare, rare >= 0 ? att[rare] : -1.0, flagged_right ? "flagged alone" : "NOT flagged",
           missing, files && says ? "written" : "MISSING", ari > 0.99 && flagged_right && !missing && files && says && k == 3 ? "ok" : "FAIL");
    CHECK(ari > 0.99 && flagged_right && missing == 0 && files && says && k == 3);

    /* an embedding set that does not match the catalog is refused, naming both */
    lt_cluster_opts bad = o;
    snprintf(path, sizeof path, "%s/emb2", root);
    mkdir(path, 0777);
    char p2[4400];
    lt_emb_shard es = {.n = 100, .n_total = 100, .shard_count = 1, .dim = d, .data = x};
    lt_emb_shard_path(p2, sizeof p2, path, 0);
    OK(lt_emb_shard_write(p2, &es, LT_F32, "short"));
    bad.emb = path;
    FAILS_WITH(lt_cluster_run(&bad), LT_ESHAPE, "has 300 items, the embeddings in");
    free(md), free(as), free(fam), free(x);
    lt_catalog_free(&cat);
    lt_events_free(&ev);
    snprintf(path, sizeof path, "rm -rf '%s'", root);
    if (system(path) != 0) fprintf(stderr, "could not remove %s\n", root);
}
#else
static void test_cluster_run(void) { printf("  longtail cluster end to end: skipped: built without HDF5\n"); }
#endif

static void test_errors(void) {
    float x[4 * 3] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    lt_vecs *v;
    lt_kmeans_result r;
    lt_kmeans_opts o;
    lt_kmeans_opts_init(&o);
    OK(lt_vecs_memory(&v, x, 4, 3));
    o.k = 5;
    FAILS_WITH(lt_kmeans(g_cpu, v, &o, &r), LT_EINVAL, "k = 5 exceeds the 4 rows");
    o.k = 0;
    FAILS_WITH(lt_kmeans(g_cpu, v, &o, &r), LT_EINVAL, "k = 0");
    o.k = 2, o.init = LT_KM_INIT_GIVEN;
    FAILS_WITH(lt_kmeans(g_cpu, v, &o, &r), LT_EINVAL, "centroids0");
    x[7] = NAN;
    FAILS_WITH(lt_vecs_check_finite(v), LT_EINVAL, "row 2, column 1 is nan");
    o.init = LT_KM_INIT_AUTO;
    FAILS_WITH(lt_kmeans(g_cpu, v, &o, &r), LT_EINVAL, "row 2, column 1 is nan");
    x[7] = 7;
    float c0[2 * 3] = {0, 0, 0, INFINITY, 1, 1};
    o.init = LT_KM_INIT_GIVEN, o.centroids0 = c0;
    FAILS_WITH(lt_kmeans(g_cpu, v, &o, &r), LT_EINVAL, "centroids0[1][0] is inf");
    lt_vecs_free(v);
    FAILS_WITH(lt_vecs_memory(&v, x, 4, 0), LT_EINVAL, "d >= 1");
#ifdef LONGTAIL_HAVE_HDF5
    FAILS_WITH(lt_vecs_shards(&v, "/nonexistent-dir"), LT_ENOENT, "/nonexistent-dir");
#else
    FAILS_WITH(lt_vecs_shards(&v, "/nonexistent-dir"), LT_ENOTSUP, "needs the HDF5 build");
#endif
    printf("  errors: k > n, k = 0, missing or infinite centroids, NaN (names row and column), bad width, missing shards\n");
}

int main(void) {
    tu_seed(); /* the tests draw from fixed seeds; printed for the harness's convention */
    lt_log_set_level(LT_LOG_WARN);
    g_cpu = lt_backend_cpu();
    if (tu_gpu(&g_cuda) < 0) g_cuda = NULL, lt_clear_error();
    test_blobs(g_cpu, "cpu");
    if (g_cuda) test_blobs(g_cuda, "cuda");
    test_minibatch(g_cpu, "cpu");
    if (g_cuda) test_minibatch(g_cuda, "cuda");
    test_determinism();
    test_prune_exact();
    test_empty_repair();
    test_cosine();
    test_cuda_agrees();
    test_pca(g_cpu, "cpu");
    if (g_cuda) test_pca(g_cuda, "cuda");
    test_tsne();
    test_cluster_run();
    test_errors();
    if (g_cuda) lt_backend_release(g_cuda);
    return tu_finish("test_kmeans");
}
