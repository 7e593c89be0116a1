/* longtail cluster: k-means on embedding shards, PCA (and t-SNE) maps, and the long-tail report:
 * which items, and which whole regions of the catalog, get no attention. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/cluster.h"
#include "longtail/error.h"

static const lt_cli_opt opts[] = {
    {"--data", "cluster.data", 0, "catalog + events.h5 (longtail import): popularity, titles, long tail"},
    {"--emb", "cluster.emb", 0, "embedding shards emb-NNNNN.h5 (longtail embed, or any writer of that format)"},
    {"--out", "cluster.out", 0, "output folder: cluster.h5, report.md and its SVG plots"},
    {"--k", "cluster.k", 0, "number of clusters (default 64)"},
    {"--metric", "cluster.metric", 0, "l2 (default) or cosine"},
    {"--iters", "cluster.iters", 0, "Lloyd iterations, or mini-batch epochs (default 25)"},
    {"--tol", "cluster.tol", 0, "stop when the objective improves by less than this, relative (default 1e-4; 0: never)"},
    {"--seed", "cluster.seed", 0, "random seed (default 1)"},
    {"--init", "cluster.init", 0, "auto (default), kmeans++, kmeans||, random"},
    {"--minibatch", "cluster.minibatch", 0, "rows per mini-batch (default 0: full-batch Lloyd)"},
    {"--pca", "cluster.pca", 0, "reduce to this many dimensions by PCA before clustering (default 0: no)"},
    {"--tsne", "cluster.tsne", 0, "t-SNE map of a sample of this many items (default 0: none; at most 50000)"},
    {"--head", "cluster.head", 0, "share of the catalog that is the head, by popularity (default 0.2)"},
    {"--attention", "cluster.attention", 0, "long-tail clusters: interaction share / item share below this (default 0.6)"},
    {"--min-size", "cluster.min_size", 0, "long-tail clusters: at least this many items (default 10)"},
    {"--device", "cluster.device", 0, "cpu (default), cuda or auto"},
    {"--fp32", "cluster.fp32", 1, "on CUDA: fp32 assignment kernel instead of bf16 tensor cores"},
    {"--mem-gb", "cluster.mem_gb", 0, "keep the vectors in memory up to this size, else stream them (default 4)"},
    {"--quiet", "cluster.quiet", 1, "no progress lines"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_cluster = opts; /* every setting is checked against these (settings.c) */

static int parse_init(const char *s, lt_km_init *out) {
    static const struct {
        const char *name;
        lt_km_init v;
    } t[] = {{"auto", LT_KM_INIT_AUTO}, {"kmeans++", LT_KM_INIT_PLUSPLUS}, {"k-means++", LT_KM_INIT_PLUSPLUS},
             {"kmeans||", LT_KM_INIT_PARALLEL}, {"k-means||", LT_KM_INIT_PARALLEL}, {"parallel", LT_KM_INIT_PARALLEL},
             {"random", LT_KM_INIT_RANDOM}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(s, t[i].name)) return *out = t[i].v, 0;
    return lt_error(LT_ECONFIG, "cluster.init: expected auto, kmeans++, kmeans|| or random, got '%s'", s);
}

int lt_cmd_cluster(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("cluster", "--emb DIR --out DIR [--data DIR] [--k K] [--metric cosine] [--pca D] [--tsne N]", opts,
                         argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    lt_cluster_opts o;
    lt_cluster_opts_init(&o);
    o.data = lt_config_str(c, "cluster.data", NULL);
    o.emb = lt_config_str(c, "cluster.emb", NULL);
    o.out = lt_config_str(c, "cluster.out", NULL);
    o.device = lt_config_str(c, "cluster.device", "cpu");
    const char *metric = lt_config_str(c, "cluster.metric", "l2");
    int64_t k, iters, seed, mb, pca, tsne, min_size;
    double tol, head, att, mem;
    int fp32, quiet, rc;
    if ((rc = lt_config_int(c, "cluster.k", o.km.k, &k)) < 0 || (rc = lt_config_int(c, "cluster.iters", 25, &iters)) < 0 ||
        (rc = lt_config_int(c, "cluster.seed", 1, &seed)) < 0 || (rc = lt_config_int(c, "cluster.minibatch", 0, &mb)) < 0 ||
        (rc = lt_config_int(c, "cluster.pca", 0, &pca)) < 0 || (rc = lt_config_int(c, "cluster.tsne", 0, &tsne)) < 0 ||
        (rc = lt_config_int(c, "cluster.min_size", o.min_size, &min_size)) < 0 ||
        (rc = lt_config_float(c, "cluster.tol", o.km.tol, &tol)) < 0 ||
        (rc = lt_config_float(c, "cluster.head", o.head_fraction, &head)) < 0 ||
        (rc = lt_config_float(c, "cluster.attention", o.max_attention, &att)) < 0 ||
        (rc = lt_config_float(c, "cluster.mem_gb", 4, &mem)) < 0 || (rc = lt_config_bool(c, "cluster.fp32", 0, &fp32)) < 0 ||
        (rc = lt_config_bool(c, "cluster.quiet", 0, &quiet)) < 0 ||
        (rc = parse_init(lt_config_str(c, "cluster.init", "auto"), &o.km.init)) < 0) {
        rc = lt_cli_fail("cluster", rc) + 1;
        lt_config_free(c);
        return rc;
    }
    if (!o.emb || !o.out) {
        fprintf(stderr, "longtail cluster: --emb and --out are required (longtail cluster --help)\n");
        lt_config_free(c);
        return 2;
    }
    if (strcmp(metric, "l2") && strcmp(metric, "cosine")) {
        fprintf(stderr, "longtail cluster: cluster.metric: expected l2 or cosine, got '%s'\n", metric);
        lt_config_free(c);
        return 2;
    }
    if ((rc = lt_cli_out_dir("cluster.out", o.out)) < 0) {
        lt_config_free(c);
        return lt_cli_fail("cluster", rc);
    }
    if (LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */
    o.km.k = k, o.km.max_iter = (int)iters, o.km.seed = (uint64_t)seed, o.km.minibatch = mb, o.km.tol = tol;
    o.km.metric = strcmp(metric, "cosine") ? LT_KM_L2 : LT_KM_COSINE;
    o.km.mem_bytes = mem * 1073741824.0;
    o.pca_dims = pca, o.tsne_points = tsne, o.head_fraction = head, o.max_attention = att, o.min_size = min_size;
    o.bf16 = !fp32, o.quiet = quiet;
    rc = lt_cluster_run(&o);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("cluster", rc) : 0;
}
