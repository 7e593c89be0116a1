/* longtail cluster (cluster.h: lt_cluster_run): embeddings -> (PCA) -> k-means -> popularity and
 * long-tail statistics -> cluster.h5 + report.md with its plots.
 *
 * cluster.h5, schema "clusters/1":
 *   assign i32[n], dist f32[n]           each item's cluster and squared distance to its centroid
 *   centroids f32[k, dc]                 in the clustered space (dc = d, or the PCA dimension)
 *   sizes i64[k], reps i64[k, 5]         items per cluster; the items nearest each centroid
 *   label/{values,offsets}               per cluster: the title of the item nearest its centroid
 *   pca2 f32[n, 2], pca_mean f32[d], pca_components f32[2, d]   the 2-D map
 *   reduce_mean f32[d], reduce_components f32[dc, d]             with --pca D only
 *   tsne f32[m, 2], tsne_items i64[m]    with --tsne N only
 *   with events: popularity i64[n], head u8[n], interactions i64[k], tail_items i64[k],
 *                item_share f32[k], interaction_share f32[k], attention f32[k], long_tail u8[k]
 *   attributes: n, d, k, metric, init, iters, converged, objective, seed, backend, emb, emb_model,
 *               head_fraction, n_head, head_share, max_attention, min_size, n_long_tail */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "eval/eval.h"
#include "longtail/cluster.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/rng.h"
#include "longtail/shard.h"

void lt_cluster_opts_init(lt_cluster_opts *o) {
    memset(o, 0, sizeof *o);
    lt_kmeans_opts_init(&o->km);
    o->km.k = 64;
    o->head_fraction = 0.2;
    o->max_attention = 0.6;
    o->min_size = 10;
    o->device = "cpu";
    o->bf16 = 1;
}

/* the `model` attribute of the first shard (what made the embeddings) */
static void emb_model(const char *dir, char *buf, size_t cap) {
    char path[4096];
    lt_shard *s;
    buf[0] = 0;
    snprintf(path, sizeof path, "%s/emb-00000.h5", dir);
    if (lt_shard_open(&s, path, "embeddings", 1) < 0) {
        lt_clear_error();
        return;
    }
    if (lt_shard_attr_str(s, "", "model", buf, cap) < 0) lt_clear_error(), buf[0] = 0;
    lt_shard_close(s);
}

static int open_backend(const lt_cluster_opts *o, lt_backend **be, int *release) {
    *release = 0;
    const char *dev = o->device ? o->device : "cpu";
    if (!strcmp(dev, "auto")) dev = lt_cuda_device_count() > 0 ? "cuda" : "cpu";
    if (strcmp(dev, "cpu") && strcmp(dev, "cuda") && strcmp(dev, "guard"))
        return lt_error(LT_EINVAL, "cluster.device: expected cpu, cuda or auto (or guard, for tests), got '%s'", dev);
    LT_TRY(lt_backend_open(be, dev));
    *release = lt_backend_device(*be) == LT_CUDA; /* a CUDA backend is opened for this run */
    return 0;
}

typedef struct {
    lt_shard *s;
    int rc;
} writer;

static void w_data(writer *w, const char *name, lt_dtype dt, int ndim, int64_t d0, int64_t d1, const void *p) {
    int64_t shape[2] = {d0, d1};
    if (!w->rc) w->rc = lt_shard_write(w->s, name, dt, ndim, shape, p);
}
static void w_i64(writer *w, const char *key, int64_t v) {
    if (!w->rc) w->rc = lt_shard_set_attr_i64(w->s, "", key, v);
}
static void w_f64(writer *w, const char *key, double v) {
    if (!w->rc) w->rc = lt_shard_set_attr_f64(w->s, "", key, v);
}
static void w_str(writer *w, const char *key, const char *v) {
    if (!w->rc) w->rc = lt_shard_set_attr_str(w->s, "", key, v ? v : "");
}

typedef struct {
    const lt_cluster_opts *o;
    const char *backend, *model;
    const lt_kmeans_result *km;
    const lt_cluster_stat *st;
    const lt_popularity *pop;
    const lt_catalog *cat;
    const lt_pca *map, *reduce;
    const float *pca2, *tsne;
    const int64_t *tsne_items;
    int64_t tsne_n, d;
} outputs;

static int write_h5(const char *path, const outputs *x) {
    const lt_kmeans_result *km = x->km;
    int64_t n = km->n, k = km->k;
    writer w = {0};
    LT_TRY(lt_shard_create(&w.s, path, "clusters", 1));
    w_data(&w, "assign", LT_I32, 1, n, 0, km->assign);
    w_data(&w, "dist", LT_F32, 1, n, 0, km->dist);
    w_data(&w, "centroids", LT_F32, 2, k, km->d, km->centroids);
    w_data(&w, "sizes", LT_I64, 1, k, 0, km->sizes);
    w_data(&w, "pca2", LT_F32, 2, n, 2, x->pca2);
    w_data(&w, "pca_mean", LT_F32, 1, x->d, 0, x->map->mean);
    w_data(&w, "pca_components", LT_F32, 2, 2, x->d, x->map->components);
    if (x->reduce) {
        w_data(&w, "reduce_mean", LT_F32, 1, x->d, 0, x->reduce->mean);
        w_data(&w, "reduce_components", LT_F32, 2, x->reduce->q, x->d, x->reduce->components);
    }
    if (x->tsne) {
        w_data(&w, "tsne", LT_F32, 2, x->tsne_n, 2, x->tsne);
        w_data(&w, "tsne_items", LT_I64, 1, x->tsne_n, 0, x->tsne_items);
    }
    /* per-cluster columns, gathered from the stats */
    int64_t *reps = malloc(sizeof(int64_t) * (size_t)(k * LT_CLUSTER_REPS)), *i64 = malloc(sizeof(int64_t) * 2 * (size_t)k);
    float *f32 = malloc(sizeof(float) * 3 * (size_t)k);
    uint8_t *lt = malloc((size_t)k);
    lt_strs labels = {0};
    if (!reps || !i64 || !f32 || !lt) w.rc = lt_error(LT_ENOMEM, "%s: out of memory", path);
    int64_t nlt = 0;
    for (int64_t j = 0; j < k && !w.rc; j++) {
        const lt_cluster_stat *s = &x->st[j];
        memcpy(reps + j * LT_CLUSTER_REPS, s->reps, sizeof s->reps);
        i64[j] = s->interactions, i64[k + j] = s->tail_items;
        f32[j] = (float)s->item_share, f32[k + j] = (float)s->interaction_share, f32[2 * k + j] = (float)s->attention;
        lt[j] = (uint8_t)s->long_tail, nlt += s->long_tail;
        size_t len = 0;
        const char *t = x->cat && s->reps[0] >= 0 ? lt_strs_get(&x->cat->title, s->reps[0], &len) : "";
        if (lt_strs_push(&labels, t, len) < 0) w.rc = lt_error(LT_ENOMEM, "%s: out of memory", path);
    }
    w_data(&w, "reps", LT_I64, 2, k, LT_CLUSTER_REPS, reps);
    if (!w.rc && x->cat) w.rc = lt_ragged_write(w.s, "label", LT_U8, labels.bytes, labels.off, 0, k);
    if (x->pop) {
        w_data(&w, "popularity", LT_I64, 1, n, 0, x->pop->count);
        w_data(&w, "head", LT_U8, 1, n, 0, x->pop->head);
        w_data(&w, "interactions", LT_I64, 1, k, 0, i64);
        w_data(&w, "tail_items", LT_I64, 1, k, 0, i64 + k);
        w_data(&w, "item_share", LT_F32, 1, k, 0, f32);
        w_data(&w, "interaction_share", LT_F32, 1, k, 0, f32 + k);
        w_data(&w, "attention", LT_F32, 1, k, 0, f32 + 2 * k);
        w_data(&w, "long_tail", LT_U8, 1, k, 0, lt);
        w_f64(&w, "head_fraction", x->o->head_fraction);
        w_i64(&w, "n_head", x->pop->n_head);
        w_f64(&w, "head_share", x->pop->head_share);
        w_f64(&w, "max_attention", x->o->max_attention);
        w_i64(&w, "min_size", x->o->min_size);
        w_i64(&w, "n_long_tail", nlt);
    }
    free(reps), free(i64), free(f32), free(lt);
    lt_strs_free(&labels);
    w_i64(&w, "n", n), w_i64(&w, "d", x->d), w_i64(&w, "k", k);
    w_str(&w, "metric", x->o->km.metric == LT_KM_COSINE ? "cosine" : "l2");
    w_str(&w, "init", km->init_used);
    w_i64(&w, "iters", km->iters), w_i64(&w, "converged", km->converged);
    w_f64(&w, "objective", km->objective);
    w_i64(&w, "seed", (int64_t)x->o->km.seed);
    w_str(&w, "backend", x->backend), w_str(&w, "emb", x->o->emb), w_str(&w, "emb_model", x->model);
    if (w.rc) {
        lt_shard_abort(w.s);
        return w.rc;
    }
    return lt_shard_commit(w.s);
}

/* t-SNE of m items chosen by a seeded shuffle (sorted), on at most 50 PCA dimensions */
static int tsne_sample(lt_backend *be, lt_vecs *v, const lt_cluster_opts *o, float **out, int64_t **items, int64_t *m_out) {
    int64_t n = lt_vecs_count(v), d = lt_vecs_dim(v), m = o->tsne_points < n ? o->tsne_points : n;
    if (m > 50000) m = 50000;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
    int64_t *it = malloc(sizeof(int64_t) * (size_t)m);
    float *x = malloc(sizeof(float) * (size_t)(m * d)), *y = malloc(sizeof(float) * 2 * (size_t)m), *r = NULL;
    int rc = perm && it && x && y ? 0 : lt_error(LT_ENOMEM, "tsne: out of memory for %lld points", (long long)m);
    if (!rc) {
        lt_rng g;
        lt_rng_init(&g, o->km.seed, 0x75e);
        for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
        lt_rng_shuffle_i32(&g, perm, (size_t)n);
        /* the first m of the shuffle, in item order */
        uint8_t *mark = calloc((size_t)n, 1);
        if (!mark) rc = lt_error(LT_ENOMEM, "tsne: out of memory");
        for (int64_t i = 0; mark && i < m; i++) mark[perm[i]] = 1;
        for (int64_t i = 0, w = 0; mark && i < n; i++)
            if (mark[i]) it[w++] = i;
        free(mark);
    }
    if (!rc) rc = lt_vecs_gather(v, it, m, x);
    int64_t dd = d;
    if (!rc && d > 50) { /* the usual first step: PCA to 50 */
        lt_vecs *s = NULL;
        lt_pca p;
        lt_pca_opts po;
        lt_pca_opts_init(&po);
        po.q = 50, po.seed = o->km.seed;
        r = malloc(sizeof(float) * (size_t)(m * 50));
        rc = r ? lt_vecs_memory(&s, x, m, d) : lt_error(LT_ENOMEM, "tsne: out of memory");
        if (!rc) rc = lt_pca_fit(be, s, &po, &p);
        if (!rc) rc = lt_pca_project(be, &p, s, r), lt_pca_free(&p);
        lt_vecs_free(s);
        dd = 50;
    }
    lt_tsne_opts to;
    lt_tsne_opts_init(&to);
    to.seed = o->km.seed, to.verbose = !o->quiet;
    if (!rc) rc = lt_tsne(be, r ? r : x, m, dd, &to, y);
    free(perm), free(x), free(r);
    if (rc) {
        free(it), free(y);
        return rc;
    }
    *out = y, *items = it, *m_out = m;
    return 0;
}

int lt_cluster_run(const lt_cluster_opts *o) {
    if (!o->emb || !o->out) return lt_error(LT_EINVAL, "cluster: the embeddings folder and the output folder are required");
    if (!(o->head_fraction > 0 && o->head_fraction <= 1))
        return lt_error(LT_EINVAL, "cluster.head: %g must be in (0, 1]", o->head_fraction);
    double t0 = lt_seconds();
    lt_backend *be;
    int release;
    LT_TRY(open_backend(o, &be, &release));
    lt_vecs *base = NULL, *reduced = NULL;
    lt_catalog cat = {0};
    lt_events ev = {0};
    lt_popularity pop = {0};
    lt_pca map = {0}, red = {0};
    lt_kmeans_result km = {0};
    lt_cluster_stat *st = NULL;
    float *pca2 = NULL, *tsne = NULL;
    int64_t *tsne_items = NULL, tsne_n = 0;
    int have_cat = 0, have_ev = 0;
    char model[512], path[4096];
    int rc = lt_vecs_shards(&base, o->emb);
    int64_t n = rc ? 0 : lt_vecs_count(base), d = rc ? 0 : lt_vecs_dim(base);
    if (!rc) emb_model(o->emb, model, sizeof model);
    if (!rc && !o->quiet)
        printf("embeddings: %s%s%s%s on %s\n", lt_vecs_name(base), model[0] ? " (" : "", model, model[0] ? ")" : "",
               lt_backend_describe(be));
    fflush(stdout); /* before the progress lines on stderr */
    if (!rc) rc = lt_vecs_check_finite(base);
    if (!rc && !o->quiet) lt_info("cluster: %lld vectors read and checked (all finite)", (long long)n);
    if (!rc && o->data) {
        rc = lt_catalog_load(&cat, o->data);
        have_cat = !rc;
        snprintf(path, sizeof path, "%s/events.h5", o->data);
        if (!rc) rc = lt_events_load(&ev, path);
        have_ev = !rc;
        if (!rc && cat.n != n)
            rc = lt_error(LT_ESHAPE, "cluster: the catalog in %s has %lld items, the embeddings in %s %lld rows", o->data,
                          (long long)cat.n, o->emb, (long long)n);
        if (!rc) rc = lt_popularity_compute(&ev, n, o->head_fraction, &pop);
    }
    /* the map's PCA; with --pca D the same fit reduces the vectors before clustering */
    lt_pca_opts po;
    lt_pca_opts_init(&po);
    po.seed = o->km.seed;
    if (!rc && o->pca_dims && (o->pca_dims < 2 || o->pca_dims > d))
        rc = lt_error(LT_EINVAL, "cluster.pca: %lld dimensions of %lld", (long long)o->pca_dims, (long long)d);
    po.q = o->pca_dims > 2 ? o->pca_dims : 2;
    if (!rc) rc = lt_pca_fit(be, base, &po, &red);
    if (!rc && !o->quiet)
        lt_info("cluster: PCA (%lld components): the first two explain %.1f%% and %.1f%% of the variance",
                (long long)po.q, 100 * red.variance[0] / red.total_variance, 100 * red.variance[1] / red.total_variance);
    if (!rc) { /* the first two components of the same fit */
        map = red;
        map.q = 2;
        pca2 = malloc(sizeof(float) * 2 * (size_t)n);
        rc = pca2 ? lt_pca_project(be, &map, base, pca2) : lt_error(LT_ENOMEM, "cluster: out of memory");
    }
    lt_vecs *cv = base;
    if (!rc && o->pca_dims) {
        float *w = malloc(sizeof(float) * (size_t)(d * o->pca_dims));
        if (!w) rc = lt_error(LT_ENOMEM, "cluster: out of memory");
        for (int64_t i = 0; w && i < o->pca_dims; i++)
            for (int64_t t = 0; t < d; t++) w[t * o->pca_dims + i] = red.components[i * d + t];
        if (!rc) rc = lt_vecs_transform(&reduced, base, red.mean, w, o->pca_dims, 0);
        free(w);
        cv = reduced;
    }
    lt_kmeans_opts ko = o->km;
    ko.verbose = !o->quiet;
    ko.check_finite = 0; /* checked above, before the PCA */
    /* on CUDA the assignment may use bf16 tensor cores; PCA and t-SNE keep fp32 GEMMs */
    if (!rc && lt_backend_device(be) == LT_CUDA && o->bf16) lt_backend_set_math(be, LT_MATH_BF16);
    if (!rc) rc = lt_kmeans(be, cv, &ko, &km);
    lt_backend_set_math(be, LT_MATH_FP32);
    if (!rc) {
        st = malloc(sizeof *st * (size_t)km.k);
        rc = st ? lt_cluster_analyze(&km, have_ev ? &pop : NULL, o->max_attention, o->min_size, st)
                : lt_error(LT_ENOMEM, "cluster: out of memory");
    }
    if (!rc && have_ev && !o->quiet) lt_info("cluster: popularity and per-cluster statistics done");
    if (!rc && o->tsne_points > 0) rc = tsne_sample(be, cv, o, &tsne, &tsne_items, &tsne_n);
    if (!rc) rc = lt_mkdirs(o->out);
    outputs x = {.o = o, .backend = lt_backend_name(be), .model = model, .km = &km, .st = st, .pop = have_ev ? &pop : NULL,
                 .cat = have_cat ? &cat : NULL, .map = &map, .reduce = o->pca_dims ? &red : NULL, .pca2 = pca2,
                 .tsne = tsne, .tsne_items = tsne_items, .tsne_n = tsne_n, .d = d};
    snprintf(path, sizeof path, "%s/cluster.h5", o->out);
    if (!rc) rc = write_h5(path, &x);
    if (!rc) {
        lt__report_in r = {.out = o->out, .data = o->data, .emb = o->emb, .emb_model = model,
                           .backend = lt_backend_describe(be), .opts = o, .km = &km, .stats = st,
                           .pop = have_ev ? &pop : NULL, .cat = have_cat ? &cat : NULL, .n_users = ev.n_users,
                           .emb_dim = d, .pca2 = pca2, .pca_var = {map.variance[0], map.variance[1]},
                           .total_var = map.total_variance, .tsne = tsne, .tsne_items = tsne_items, .tsne_n = tsne_n,
                           .seconds = lt_seconds() - t0};
        rc = lt__write_report(&r);
    }
    if (!rc && !o->quiet) {
        int64_t nlt = 0, items = 0, inter = 0;
        for (int64_t j = 0; j < km.k; j++)
            if (st[j].long_tail) nlt++, items += st[j].size, inter += st[j].interactions;
        printf("k-means: %lld items -> %lld clusters, %s init, %d %s%s, objective %.6g, %.2fs\n", (long long)n,
               (long long)km.k, km.init_used, km.iters, o->km.minibatch ? "mini-batch epochs" : "iterations",
               km.converged ? " (converged)" : "", km.objective, km.seconds_total);
        if (have_ev)
            printf("long tail: head = %lld items with %.1f%% of %lld interactions; %lld long-tail clusters hold %lld items "
                   "(%.1f%%) and get %.2f%% of the interactions\n",
                   (long long)pop.n_head, 100 * pop.head_share, (long long)pop.total, (long long)nlt, (long long)items,
                   100.0 * (double)items / (double)n, pop.total ? 100.0 * (double)inter / (double)pop.total : 0);
        printf("wrote %s/cluster.h5 and %s/report.md (+ %s plots) in %.1fs\n", o->out, o->out,
               have_ev ? (tsne ? "popularity, clusters, PCA and t-SNE map" : "popularity, clusters and PCA map")
                       : (tsne ? "PCA and t-SNE map" : "PCA map"),
               lt_seconds() - t0);
    }
    free(st), free(pca2), free(tsne), free(tsne_items);
    lt_kmeans_result_free(&km);
    lt_pca_free(&red);
    lt_popularity_free(&pop);
    if (have_cat) lt_catalog_free(&cat);
    if (have_ev) lt_events_free(&ev);
    lt_vecs_free(reduced);
    lt_vecs_free(base);
    if (release) lt_backend_release(be);
    return rc;
}
