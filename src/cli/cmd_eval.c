/* longtail eval: leave-one-out full-ranking evaluation of the recommender and its baselines in one
 * run, under one protocol (include/longtail/rec.h): accuracy, long-tail reach and cold start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
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
    {"--emb", "eval.emb", 0, "text embeddings for the models (default: the ones each model was trained with)"},
    {"--device", "eval.device", 0, "cpu (default) or cuda[:N] for the models"},
    {"--cold-items", "eval.cold_items", 0, "FILE of item ids, or a FRACTION of the catalog, held out of training"},
    {"--baselines", "eval.baselines", 0, "comma list of popularity, als (default popularity,als; none: no baselines)"},
    {"--phase", "eval.phase", 0, "test (default) or valid"},
    {"--json", "eval.json", 1, "print one JSON object: one member per model"},
    {"--seed", "eval.seed", 0, "seed of a cold-item FRACTION and of ALS (default 1)"},
    {"--als-factors", "eval.als_factors", 0, "ALS factors (default 64)"},
    {"--als-iters", "eval.als_iters", 0, "ALS sweeps (default 15)"},
    {"--als-reg", "eval.als_reg", 0, "ALS regularisation (default 1)"},
    {"--als-alpha", "eval.als_alpha", 0, "ALS confidence weight of an interaction (default 20)"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_eval = opts; /* every setting is checked against these (settings.c) */

/* A trained recommender from DIR/rec.h5: its description, its text embeddings, its weights. */
static int load_model(const char *dir, const char *emb_override, lt_backend *be, const lt_rec_split *s, lt_rec **out) {
    char path[4200], desc[4600];
    snprintf(path, sizeof path, "%s/rec.h5", dir);
    lt_shard *sh;
    LT_TRY(lt_shard_open(&sh, path, "checkpoint", 1));
    int rc = lt_shard_attr_str(sh, "", "model", desc, sizeof desc);
    lt_shard_close(sh);
    LT_TRY(rc);
    lt_rec_config c;
    LT_TRY(lt_rec_config_parse(desc, &c));
    if (c.n_items != s->n_items)
        return lt_error(LT_ECONFIG, "%s was trained on a catalog of %lld items; this one has %lld", path,
                        (long long)c.n_items, (long long)s->n_items);
    float *text = NULL;
    const char *emb = emb_override;
    const char *at = strstr(desc, "\nemb=");
    if (!emb && at) emb = at + 5;
    if (c.text_dim) {
        int64_t n, dim;
        if (!emb) return lt_error(LT_ECONFIG, "%s uses text embeddings: give them with --emb DIR", path);
        LT_TRY(lt_emb_load_all(emb, &text, &n, &dim));
        if (n != c.n_items || dim != c.text_dim) {
            free(text);
            return lt_error(LT_EFORMAT, "%s holds %lld x %lld embeddings; %s needs %lld x %lld", emb, (long long)n,
                            (long long)dim, path, (long long)c.n_items, (long long)c.text_dim);
        }
    }
    uint8_t *seen = malloc((size_t)(s->n_items ? s->n_items : 1));
    for (int64_t i = 0; seen && i < s->n_items; i++) seen[i] = s->freq[i] > 0;
    rc = seen ? lt_rec_create(out, be, &c, text, seen, 0) : lt_error(LT_ENOMEM, "eval: out of memory");
    free(text), free(seen);
    if (!rc) rc = lt_checkpoint_load(path, lt_rec_params(*out), 0, NULL, NULL, 0);
    if (rc && *out) lt_rec_free(*out), *out = NULL;
    return rc;
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
    lt_als_cfg ac;
    lt_als_cfg_init(&ac);
    int rc = lt_config_bool(c, "eval.json", 0, &json);
    if (!rc) rc = lt_config_int(c, "eval.seed", 1, &seed);
    if (!rc) rc = lt_config_int(c, "eval.als_factors", ac.factors, &ac.factors);
    if (!rc) rc = lt_config_int(c, "eval.als_iters", ac.iters, &ac.iters);
    if (!rc) rc = lt_config_float(c, "eval.als_reg", ac.reg, &ac.reg);
    if (!rc) rc = lt_config_float(c, "eval.als_alpha", ac.alpha, &ac.alpha);
    ac.seed = (uint64_t)seed;
    lt_rec_phase ph = LT_REC_TEST;
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
        rc = load_model(dir, lt_config_str(c, "eval.emb", NULL), be, &split, &recs[nrec]);
        if (!rc) nrec++;
    }
    if (!rc && !json)
        printf("eval: %lld users, %lld items (head %lld), %lld cold items; %s targets, every item scored\n",
               (long long)split.n_users, (long long)split.n_items, (long long)split.n_head, (long long)split.n_cold,
               ph == LT_REC_TEST ? "test" : "validation");
    lt_rec_metrics res[16];
    int nres = 0;
    lt_als *als = NULL;
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
    for (int i = 0; i < nrec; i++) lt_rec_free(recs[i]);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    if (!rc && json) {
        printf("{");
        for (int i = 0; i < nres; i++) {
            if (i) printf(", ");
            lt_rec_metrics_json(stdout, &res[i]);
        }
        printf("}\n");
    } else if (!rc) {
        for (int i = 0; i < nres; i++) lt_rec_metrics_row(stdout, &res[i], i == 0);
    }
    lt_als_free(als);
    lt_rec_split_free(&split);
    free(cold);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("eval", rc) : 0;
}
