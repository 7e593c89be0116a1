/* longtail eval: leave-one-out full-ranking evaluation of the recommender and its baselines in one
 * run, under one protocol (include/longtail/rec.h): accuracy, long-tail reach and cold start. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/rec_cli.h"
#include "core/tmpfile.h"
#include "eval/eval.h"
#include "longtail/ops.h"
#include "longtail/shard.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/embeddings.h"
#include "longtail/param.h"
#include "longtail/rec.h"
#include "longtail/recmodel.h"

static const lt_cli_opt opts[] = {
    {"--data", "eval.data", 0, "folder with the catalog and events.h5 (longtail import)"},
    {"--model", "eval.model", 0, "comma list of trained recommenders (longtail train --out DIRs) to evaluate"},
    {"--cold-boost", "eval.cold_boost", 0, "gamma: score + gamma for items never trained on (new items; default: each model's own, chosen at training)"},
    {"--emb", "eval.emb", 0, "text embeddings for the models (default: the ones each model was trained with)"},
    {"--device", "eval.device", 0, "cpu (default) or cuda[:N] for the models"},
    {"--cold-items", "eval.cold_items", 0, "FILE of item ids, or a FRACTION of the catalog, held out of training"},
    {"--baselines", "eval.baselines", 0, "comma list of popularity, als (default popularity,als; none: no baselines)"},
    {"--phase", "eval.phase", 0, "test (default) or valid"},
    {"--json", "eval.json", 1, "print one JSON object: one member per model"},
    {"--json-out", "eval.json_out", 0, "also write that JSON object to FILE (the tables still print)"},
    {"--seed", "eval.seed", 0, "seed of a cold-item FRACTION and of ALS (default 1)"},
    {"--als-factors", "eval.als_factors", 0, "ALS factors (default 64)"},
    {"--als-iters", "eval.als_iters", 0, "ALS sweeps (default 15)"},
    {"--als-reg", "eval.als_reg", 0, "ALS regularisation (default 1)"},
    {"--als-alpha", "eval.als_alpha", 0, "ALS confidence weight of an interaction (default 20)"},
    {"--tail-boost-curve", "eval.tail_boost_curve", 0,
     "comma list of tail boosts beta (e.g. 0,0.05,0.1,0.2,0.5): every model again with score + beta log(1/popularity)"},
    {"--plot", "eval.plot", 0, "SVG of the tail-boost curve (default: tail_boost.svg in the first model's folder)"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_eval = opts; /* every setting is checked against these (settings.c) */

/* The betas of "0,0.05,0.1": at most cap, each finite and >= 0. */
static int parse_betas(const char *spec, double *out, int cap, int *n) {
    *n = 0;
    for (const char *p = spec; *p;) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || v < 0 || (*end && *end != ','))
            return lt_error(LT_ECONFIG, "eval.tail_boost_curve: expected a comma list of numbers >= 0, got '%s'", spec);
        if (*n == cap) return lt_error(LT_ECONFIG, "eval.tail_boost_curve: at most %d values", cap);
        out[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    if (!*n) return lt_error(LT_ECONFIG, "eval.tail_boost_curve: no values in '%s'", spec);
    return 0;
}

/* NDCG@10 against Coverage@10 and against APLT@10, one line per model, one point per beta. */
static int curve_plot(const char *path, const lt_rec_metrics *r, int nmodels, int nb) {
    static const char *color[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"};
    double y1 = 0, x1 = 0;
    for (int i = 0; i < nmodels * nb; i++) {
        y1 = fmax(y1, r[i].ndcg10);
        x1 = fmax(x1, fmax(r[i].coverage10, r[i].aplt10));
    }
    lt_svg g;
    LT_TRY(lt__svg_open(&g, path, 760, 460, "longtail eval: the tail boost trade-off (points: beta)",
                        "Coverage@10 (solid) and APLT@10 (dashed)", "NDCG@10", 0, fmin(1.0, x1 * 1.1 + 1e-3), 0,
                        y1 * 1.1 + 1e-3, 0, 0));
    lt__svg_axes(&g);
    for (int m = 0; m < nmodels; m++) {
        const char *col = color[m % 8];
        for (int which = 0; which < 2; which++) {
            fprintf(g.f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col,
                    which ? " stroke-dasharray=\"6 4\"" : "");
            for (int k = 0; k < nb; k++) {
                const lt_rec_metrics *p = &r[m * nb + k];
                fprintf(g.f, "%.1f,%.1f ", lt__svg_px(&g, which ? p->aplt10 : p->coverage10), lt__svg_py(&g, p->ndcg10));
            }
            fputs("\"/>\n", g.f);
            for (int k = 0; k < nb; k++) {
                const lt_rec_metrics *p = &r[m * nb + k];
                double px = lt__svg_px(&g, which ? p->aplt10 : p->coverage10), py = lt__svg_py(&g, p->ndcg10);
                fprintf(g.f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px, py, col);
                const char *at = strstr(p->model, "@beta=");
                if (!which && at) lt__svg_text(&g, px + 4, py - 5, "start", 10, "#444", at + 6);
            }
        }
        char label[600];
        snprintf(label, sizeof label, "%.*s", (int)strcspn(r[m * nb].model, "@"), r[m * nb].model);
        lt__svg_legend(&g, m, col, label);
    }
    return lt__svg_close(&g);
}

/* One JSON object: a member per model, then the curve's members ("m@beta=B"). */
static void write_json(FILE *f, const lt_rec_metrics *res, int nres, const lt_rec_metrics *crv, int ncrv) {
    fputc('{', f);
    for (int i = 0; i < nres + ncrv; i++) {
        if (i) fputs(", ", f);
        lt_rec_metrics_json(f, i < nres ? &res[i] : &crv[i - nres]);
    }
    fputs("}\n", f);
}

/* --json-out FILE: written to a temporary name and renamed when complete. */
static int write_json_file(const char *path, const lt_rec_metrics *res, int nres, const lt_rec_metrics *crv, int ncrv) {
    char tmp[4400];
    LT_TRY(lt_tmp_path(tmp, sizeof tmp, path));
    FILE *f = fopen(tmp, "w");
    if (!f) return lt_error(LT_EIO, "eval.json_out: cannot create %s", tmp);
    write_json(f, res, nres, crv, ncrv);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) return unlink(tmp), lt_error(LT_EIO, "eval.json_out: cannot write %s", path);
    return 0;
}

int lt_cmd_eval(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("eval", "--data DIR [--cold-items FILE|FRACTION] [--json]", opts, argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "eval.data", NULL), *cold_spec = lt_config_str(c, "eval.cold_items", NULL);
    const char *baselines = lt_config_str(c, "eval.baselines", "popularity,als");
    const char *phase = lt_config_str(c, "eval.phase", "test");
    int json = 0;
    if (!data) {
        fprintf(stderr, "longtail eval: needs --data DIR (longtail eval --help)\n");
        lt_config_free(c);
        return 2;
    }
    int64_t seed = 1;
    double cold_boost = 0;
    lt_als_cfg ac;
    lt_als_cfg_init(&ac);
    int rc = lt_config_bool(c, "eval.json", 0, &json);
    if (!rc) rc = lt_config_int(c, "eval.seed", 1, &seed);
    if (!rc) rc = lt_config_float(c, "eval.cold_boost", 0, &cold_boost);
    if (!rc && !isfinite(cold_boost)) rc = lt_error(LT_ECONFIG, "eval.cold_boost: %g is not a number", cold_boost);
    if (!rc) rc = lt_config_int(c, "eval.als_factors", ac.factors, &ac.factors);
    if (!rc) rc = lt_config_int(c, "eval.als_iters", ac.iters, &ac.iters);
    if (!rc) rc = lt_config_float(c, "eval.als_reg", ac.reg, &ac.reg);
    if (!rc) rc = lt_config_float(c, "eval.als_alpha", ac.alpha, &ac.alpha);
    ac.seed = (uint64_t)seed;
    lt_rec_phase ph = LT_REC_TEST;
    double betas[16];
    int nbeta = 0;
    const char *curve = lt_config_str(c, "eval.tail_boost_curve", NULL);
    if (!rc && curve) rc = parse_betas(curve, betas, 16, &nbeta);
    if (!rc && curve && !lt_config_str(c, "eval.model", NULL))
        rc = lt_error(LT_ECONFIG, "eval.tail_boost_curve: needs --model (the boost re-ranks a trained model)");
    if (!rc && !strcmp(phase, "valid")) ph = LT_REC_VALID;
    else if (!rc && strcmp(phase, "test")) rc = lt_error(LT_ECONFIG, "eval.phase: expected test or valid, got '%s'", phase);
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */

    lt_events ev = {0};
    lt_catalog cat = {0};
    lt_rec_split split = {0};
    uint8_t *cold = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/events.h5", data);
    if (!rc) rc = lt_events_load(&ev, path);
    if (!rc && cold_spec) {
        rc = lt_catalog_load(&cat, data);
        if (!rc && cat.n != ev.n_items)
            rc = lt_error(LT_EFORMAT, "%s: the catalog has %lld items, events.h5 %lld", data, (long long)cat.n,
                          (long long)ev.n_items);
        if (!rc) rc = lt_rec_cold_items(cold_spec, &cat.item_id, ev.n_items, (uint64_t)seed, &cold);
    }
    if (!rc) rc = lt_rec_split_make(&ev, cold, &split);
    /* the models first: a model that does not fit this data fails before any work */
    const char *models = lt_config_str(c, "eval.model", NULL);
    lt_backend *be = NULL;
    char names[8][512];
    lt_rec *recs[8] = {0};
    int nrec = 0;
    if (!rc && models) rc = lt_cli_backend(lt_config_str(c, "eval.device", "cpu"), NULL, &be);
    for (const char *p = models; !rc && p && *p && nrec < 8;) {
        size_t len = strcspn(p, ",");
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        const char *base = strrchr(dir, '/');
        snprintf(names[nrec], sizeof names[nrec], "%.500s", base && base[1] ? base + 1 : dir);
        rc = lt_cli_load_rec(dir, lt_config_str(c, "eval.emb", NULL), be, split.n_items, split.freq, &recs[nrec], NULL);
        if (!rc) nrec++;
    }
    if (!rc && !json)
        printf("eval: %lld users, %lld items (head %lld), %lld cold items; %s targets, every item scored\n",
               (long long)split.n_users, (long long)split.n_items, (long long)split.n_head, (long long)split.n_cold,
               ph == LT_REC_TEST ? "test" : "validation");
    lt_rec_metrics res[16];
    int nres = 0;
    lt_als *als = NULL;
    float *bias = nrec && !rc ? calloc((size_t)(split.n_items ? split.n_items : 1), sizeof *bias) : NULL;
    if (!rc && nrec && !bias) rc = lt_error(LT_ENOMEM, "eval: out of memory");
    /* the new-item boost (score + gamma for items never trained on): --cold-boost, else each model's own */
    double gammas[16] = {0};
    int64_t never = 0;
    for (int64_t i = 0; i < split.n_items; i++) never += !split.freq[i];
    for (int i = 0; i < nrec && !rc; i++) {
        gammas[i] = lt_config_str(c, "eval.cold_boost", NULL) ? cold_boost : lt_rec_get_config(recs[i])->cold_boost;
        if (gammas[i] == 0) continue;
        memset(bias, 0, sizeof *bias * (size_t)split.n_items);
        lt_cli_cold_boost(split.freq, split.n_items, gammas[i], bias);
        rc = lt_rec_set_score_bias(recs[i], bias);
        if (!rc && !json) printf("eval: %s: new-item boost: score + %g for the %lld items never trained on\n", names[i],
                                 gammas[i], (long long)never);
    }
    for (int i = 0; i < nrec && !rc; i++) {
        lt_rec_model rm = lt_rec_as_model(recs[i], names[i]);
        rc = lt_rec_evaluate(&split, ph, &rm, 256, &res[nres++]);
    }
    if (!rc && strstr(baselines, "popularity")) {
        lt_rec_model m = lt_rec_popularity();
        rc = lt_rec_evaluate(&split, ph, &m, 512, &res[nres++]);
    }
    if (!rc && strstr(baselines, "als")) {
        double t0 = lt_seconds();
        rc = lt_als_train(&split, &ac, &als);
        if (!rc && !json) printf("eval: implicit ALS trained in %.1f s (%lld factors, %lld sweeps)\n", lt_seconds() - t0,
                                 (long long)ac.factors, (long long)ac.iters);
        lt_rec_model m = lt_als_model(als);
        if (!rc) rc = lt_rec_evaluate(&split, ph, &m, 256, &res[nres++]);
    }
    /* the tail-boost curve: every model again, for every beta */
    lt_rec_metrics *crv = nbeta && nrec ? calloc((size_t)(nrec * nbeta), sizeof *crv) : NULL;
    char (*cnames)[600] = nbeta && nrec ? calloc((size_t)(nrec * nbeta), sizeof *cnames) : NULL;
    if (!rc && nbeta && nrec && (!crv || !cnames)) rc = lt_error(LT_ENOMEM, "eval: out of memory");
    for (int i = 0; i < nrec && nbeta && !rc; i++) { /* the tail boost: a per-item bias on the scores */
        for (int k = 0; k < nbeta && !rc; k++) {
            lt_cli_tail_bias(split.freq, split.n_items, betas[k], bias);
            lt_cli_cold_boost(split.freq, split.n_items, gammas[i], bias);
            snprintf(cnames[i * nbeta + k], sizeof cnames[0], "%.500s@beta=%g", names[i], betas[k]);
            lt_rec_model bmod = lt_rec_as_model(recs[i], cnames[i * nbeta + k]);
            rc = lt_rec_set_score_bias(recs[i], bias);
            if (!rc) rc = lt_rec_evaluate(&split, ph, &bmod, 256, &crv[i * nbeta + k]);
        }
        if (!rc) rc = lt_rec_set_score_bias(recs[i], NULL);
    }
    char plot_path[4300] = "";
    if (!rc && nbeta && nrec) {
        const char *pp = lt_config_str(c, "eval.plot", NULL);
        if (pp) snprintf(plot_path, sizeof plot_path, "%s", pp);
        else snprintf(plot_path, sizeof plot_path, "%.*s/tail_boost.svg", (int)strcspn(models, ","), models);
        rc = curve_plot(plot_path, crv, nrec, nbeta);
    }
    for (int i = 0; i < nrec; i++) lt_rec_free(recs[i]);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    const char *json_out = lt_config_str(c, "eval.json_out", NULL);
    if (!rc && json_out) rc = write_json_file(json_out, res, nres, crv, nrec * nbeta);
    if (!rc && json) {
        write_json(stdout, res, nres, crv, nrec * nbeta);
    } else if (!rc) {
        for (int i = 0; i < nres; i++) lt_rec_metrics_row(stdout, &res[i], i == 0);
        if (nrec && nbeta) {
            printf("\ntail boost: score + beta log(1/popularity), popularity = training frequency + 1 (plot %s)\n", plot_path);
            printf("%-28s %8s %10s %8s %12s %8s%s\n", "model", "beta", "NDCG@10", "Recall@10", "Coverage@10", "APLT@10",
                   split.n_cold ? "  ColdR@20" : "");
            for (int i = 0; i < nrec * nbeta; i++) {
                printf("%-28.28s %8g %10.4f %8.4f %12.4f %8.4f", names[i / nbeta], betas[i % nbeta], crv[i].ndcg10,
                       crv[i].recall10, crv[i].coverage10, crv[i].aplt10);
                if (split.n_cold) printf("   %8.4f", crv[i].cold_recall20);
                printf("\n");
            }
        }
    }
    lt_als_free(als);
    free(crv), free(cnames), free(bias);
    lt_rec_split_free(&split);
    free(cold);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("eval", rc) : 0;
}
