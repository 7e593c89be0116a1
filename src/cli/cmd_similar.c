/* longtail similar: related products (what a product page shows) for one item, a list, or every
 * item of the catalog, into OUT/similar.h5 (schema "similar/1") and OUT/similar.csv.
 *
 *   --by text    cosine of the items' text embeddings (an emb-NNNNN.h5 folder: --emb)
 *   --by model   cosine of a trained recommender's item vectors (--model DIR with rec.h5)
 *   --by blend   alpha cos_text + (1 - alpha) cos_model (--alpha, default 0.5): both unit-norm
 *                vectors are scaled by sqrt(alpha) and sqrt(1 - alpha) and concatenated, so one dot
 *                product gives the blend
 * The vectors are written as item-vector shards into a temporary folder under OUT and every batch of
 * query items is scored shard by shard with lt_topk_shards (lt_score_topk), the query item itself
 * excluded through the exclusion CSR.
 *
 * similar.h5: items i32[n] (catalog indices of the query items), item_id (their ids, strings: values +
 * offsets), similar i32[n, K] (catalog indices, -1 pads), similar_id (n x K strings, row-major, "" for
 * -1), scores f32[n, K] (cosines); attributes k, by, alpha, n_items. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/rec_cli.h"
#include "data/dataio.h"
#include "longtail/data.h"
#include "longtail/embeddings.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/progress.h"
#include "longtail/rec.h"
#include "longtail/recmodel.h"
#include "longtail/score.h"
#include "longtail/shard.h"

static const lt_cli_opt opts[] = {
    {"--data", "similar.data", 0, "folder with the catalog (and events.h5 for --by model/blend)"},
    {"--item", "similar.item", 0, "item id (comma list) to find related items for (default: every item)"},
    {"--by", "similar.by", 0, "text (default), model or blend"},
    {"--emb", "similar.emb", 0, "text embeddings (default for model/blend: the ones the model was trained with)"},
    {"--model", "similar.model", 0, "a trained recommender (longtail train --out DIR), for --by model or blend"},
    {"--alpha", "similar.alpha", 0, "weight of text in --by blend (default 0.5)"},
    {"--k", "similar.k", 0, "related items per item (default 10)"},
    {"--out", "similar.out", 0, "folder for similar.h5 and similar.csv"},
    {"--device", "similar.device", 0, "cpu (default) or cuda[:N]"},
    {"--batch", "similar.batch", 0, "query items per pass over the shards (default 8192)"},
    {"--shard-items", "similar.shard_items", 0, "items per temporary shard (default 65536)"},
    {"--no-csv", "similar.no_csv", 1, "write similar.h5 only"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_similar = opts; /* every setting is checked against these (settings.c) */

static int write_out(const char *out, const lt_catalog *cat, const int32_t *q, int64_t n, int K, const int32_t *nb,
                     const float *sc, const char *by, double alpha, int csv) {
    char path[4400];
    snprintf(path, sizeof path, "%s/similar.h5", out);
    lt_shard *s;
    LT_TRY(lt_shard_create(&s, path, "similar", 1));
    int rc = lt_cli_write_topk_h5(s, "items", "item_id", &cat->item_id, NULL, q, n, K, "similar", "similar_id", &cat->item_id,
                                  nb, sc);
    if (!rc) rc = lt_shard_set_attr_str(s, "", "by", by);
    if (!rc) rc = lt_shard_set_attr_f64(s, "", "alpha", alpha);
    if (rc) lt_shard_abort(s);
    else rc = lt_shard_commit(s);
    if (rc || !csv) return rc;
    snprintf(path, sizeof path, "%s/similar.csv", out);
    return lt_cli_write_topk_csv(path, "item_id,rank,similar_item_id,score", &cat->item_id, NULL, q, n, K, &cat->item_id,
                                 nb, sc);
}

int lt_cmd_similar(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("similar", "--data DIR --out DIR [--item ID] [--by text|model|blend] [--emb DIR] [--model DIR]",
                         opts, argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "similar.data", NULL), *out = lt_config_str(c, "similar.out", NULL);
    const char *by = lt_config_str(c, "similar.by", "text"), *emb = lt_config_str(c, "similar.emb", NULL);
    const char *model = lt_config_str(c, "similar.model", NULL), *item = lt_config_str(c, "similar.item", NULL);
    if (!data || !out) {
        fprintf(stderr, "longtail similar: needs --data DIR and --out DIR (longtail similar --help)\n");
        lt_config_free(c);
        return 2;
    }
    int64_t K = 10, batch = 8192, per_shard = 65536;
    double alpha = 0.5;
    int no_csv = 0, use_text = 0, use_model = 0;
    int rc = lt_config_int(c, "similar.k", K, &K);
    if (!rc) rc = lt_config_int(c, "similar.batch", batch, &batch);
    if (!rc) rc = lt_config_int(c, "similar.shard_items", per_shard, &per_shard);
    if (!rc) rc = lt_config_float(c, "similar.alpha", alpha, &alpha);
    if (!rc) rc = lt_config_bool(c, "similar.no_csv", 0, &no_csv);
    if (!rc && (K < 1 || K > LT_TOPK_MAX)) rc = lt_error(LT_ECONFIG, "similar.k: %lld is not in 1..%d", (long long)K, LT_TOPK_MAX);
    if (!rc && !strcmp(by, "text")) use_text = 1;
    else if (!rc && !strcmp(by, "model")) use_model = 1;
    else if (!rc && !strcmp(by, "blend")) use_text = use_model = 1;
    else if (!rc) rc = lt_error(LT_ECONFIG, "similar.by: expected text, model or blend, got '%s'", by);
    if (!rc && (!isfinite(alpha) || alpha < 0 || alpha > 1)) rc = lt_error(LT_ECONFIG, "similar.alpha: %g is not in [0, 1]", alpha);
    if (!rc && use_text && !use_model && !emb) rc = lt_error(LT_ECONFIG, "similar: --by text needs --emb DIR (text embeddings)");
    if (!rc && use_model && !model) rc = lt_error(LT_ECONFIG, "similar: --by %s needs --model DIR (a trained recommender)", by);
    if (!rc && batch < 1) rc = lt_error(LT_ECONFIG, "similar.batch: must be >= 1");
    if (!rc) rc = lt_cli_out_dir("similar.out", out);
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0;

    double t0 = lt_seconds();
    lt_catalog cat = {0};
    lt_events ev = {0};
    lt_rec_split split = {0};
    lt_backend *be = NULL;
    lt_rec *m = NULL;
    float *text = NULL, *V = NULL, *X = NULL, *vals = NULL;
    int64_t N = 0, dt = 0, dm = 0, nq = 0;
    int32_t *q = NULL, *idx = NULL;
    char path[4400], vdir[4400] = "";
    if (!rc) rc = lt_catalog_load_ids(&cat, data);
    N = cat.n;
    if (!rc) rc = lt_cli_backend(lt_config_str(c, "similar.device", "cpu"), NULL, &be);
    if (!rc && use_model) {
        snprintf(path, sizeof path, "%s/events.h5", data);
        rc = lt_events_load(&ev, path);
        if (!rc && ev.n_items != N)
            rc = lt_error(LT_EFORMAT, "%s: the catalog has %lld items, events.h5 %lld", data, (long long)N, (long long)ev.n_items);
        if (!rc) rc = lt_rec_split_make(&ev, NULL, &split);
        if (!rc) rc = lt_cli_load_rec(model, emb, be, N, split.freq, &m, use_text ? &text : NULL);
        if (!rc && use_text && !text)
            rc = lt_error(LT_ECONFIG, "similar: --by blend: %s/rec.h5 has no text (an id-only model): use --by model", model);
        if (!rc) dm = lt_rec_get_config(m)->dim, dt = use_text ? lt_rec_get_config(m)->text_dim : 0;
        V = rc ? NULL : malloc(sizeof *V * (size_t)(N * dm + 1));
        if (!rc && !V) rc = lt_error(LT_ENOMEM, "similar: out of memory");
        if (!rc) rc = lt_rec_item_vectors(m, V);
        lt_rec_free(m), m = NULL;
    } else if (!rc) {
        rc = lt_cli_load_text(emb, N, 0, &text, &dt);
    }
    /* X = [sqrt(a) text, sqrt(1 - a) model], rows unit norm */
    int64_t D = dt + dm;
    X = rc ? NULL : malloc(sizeof *X * (size_t)(N * D + 1));
    if (!rc && !X) rc = lt_error(LT_ENOMEM, "similar: out of memory");
    if (!rc) {
        if (text) lt_cli_normalize_rows(text, N, dt);
        if (V) lt_cli_normalize_rows(V, N, dm);
        float wt = (float)(use_model && use_text ? sqrt(alpha) : 1.0), wm = (float)(use_model && use_text ? sqrt(1 - alpha) : 1.0);
        for (int64_t i = 0; i < N; i++) {
            for (int64_t j = 0; j < dt; j++) X[i * D + j] = wt * text[i * dt + j];
            for (int64_t j = 0; j < dm; j++) X[i * D + dt + j] = wm * V[i * dm + j];
        }
    }
    free(text), text = NULL;
    free(V), V = NULL;
    /* the query items */
    if (!rc && item) {
        lt_strmap map = {0};
        for (int64_t i = 0; i < N && !rc; i++) {
            size_t len;
            const char *s = lt_strs_get(&cat.item_id, i, &len);
            int64_t ix;
            int added;
            rc = lt_strmap_get_or_add(&map, s, len, &ix, &added);
        }
        q = malloc(sizeof *q * (strlen(item) + 1));
        if (!rc && !q) rc = lt_error(LT_ENOMEM, "out of memory");
        for (const char *p = item; !rc && *p;) {
            size_t len = strcspn(p, ",");
            int64_t ix = lt_strmap_find(&map, p, len);
            if (ix < 0) rc = lt_error(LT_ENOENT, "similar.item: unknown item id '%.*s' (not in %s's catalog)", (int)len, p, data);
            else q[nq++] = (int32_t)ix;
            p += len + (p[len] == ',');
        }
        lt_strmap_free(&map);
        if (!rc && !nq) rc = lt_error(LT_ECONFIG, "similar.item: no item ids in '%s'", item);
    } else if (!rc) {
        nq = N;
        q = malloc(sizeof *q * (size_t)(N + 1));
        for (int64_t i = 0; q && i < N; i++) q[i] = (int32_t)i;
        if (!q) rc = lt_error(LT_ENOMEM, "out of memory");
    }
    if (!rc) rc = lt_mkdirs(out);
    if (!rc) lt_cli_sweep_vec_dirs(out); /* temporary shards of a killed run */
    snprintf(vdir, sizeof vdir, "%s/.item_vectors-%ld", out, (long)getpid());
    char desc[64];
    snprintf(desc, sizeof desc, "similar by %s", by);
    if (!rc) rc = lt_cli_write_vec_shards(vdir, X, N, D, per_shard, 1, desc);
    int64_t cb = batch < nq ? batch : (nq ? nq : 1);
    float *U = rc ? NULL : malloc(sizeof *U * (size_t)(cb * D)), *sc = rc ? NULL : malloc(sizeof *sc * (size_t)(nq * K + 1));
    int32_t *nb = rc ? NULL : malloc(sizeof *nb * (size_t)(nq * K + 1)), *self = rc ? NULL : malloc(sizeof *self * (size_t)cb);
    int64_t *off = rc ? NULL : malloc(sizeof *off * (size_t)(cb + 1));
    if (!rc && (!U || !sc || !nb || !self || !off)) rc = lt_error(LT_ENOMEM, "similar: out of memory");
    lt_progress pg;
    if (!rc) lt_progress_start(&pg, "similar", "items", nq);
    for (int64_t b0 = 0; b0 < nq && !rc; b0 += cb) {
        int64_t bn = nq - b0 < cb ? nq - b0 : cb;
        for (int64_t i = 0; i < bn; i++) {
            memcpy(U + i * D, X + (int64_t)q[b0 + i] * D, sizeof *U * (size_t)D);
            self[i] = q[b0 + i], off[i] = i;
        }
        off[bn] = bn;
        lt_topk_query qq = {.u = U, .B = bn, .D = D, .K = (int)K, .excl_off = off, .excl_ids = self, .batch = 1024};
        rc = lt_topk_shards(be, vdir, &qq, sc + b0 * K, nb + b0 * K);
        if (!rc) lt_progress_add(&pg, bn);
    }
    if (!rc) lt_progress_end(&pg);
    lt_cli_remove_vec_shards(vdir);
    if (!rc) rc = write_out(out, &cat, q, nq, (int)K, nb, sc, by, alpha, !no_csv);
    if (!rc)
        printf("similar: %lld items x top %lld by %s over %lld items in %.1f s: %s/similar.h5%s\n", (long long)nq,
               (long long)K, by, (long long)N, lt_seconds() - t0, out, no_csv ? "" : " and similar.csv");
    free(U), free(sc), free(nb), free(self), free(off), free(X), free(q), free(idx), free(vals);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    lt_rec_split_free(&split);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("similar", rc) : 0;
}
