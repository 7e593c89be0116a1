/* longtail recommend: the next items for every user of a shop (or a list of them) from a trained
 * recommender, into OUT/recommendations.h5 (schema "recommendations/1") and OUT/recommendations.csv.
 *
 * Each user's input is their whole history in events.h5 (the model sees its last max_len items);
 * every item of the history is excluded. Scoring streams the catalog: the model's item vectors are
 * written once as item-vector shards into a temporary folder under OUT and every chunk of users is
 * scored shard by shard with lt_topk_shards (lt_score_topk: fused GEMM + running top-K with the
 * exclusions), so no users x catalog matrix ever exists.
 *
 *   --tail-boost B  score + B log(1/p_i), p_i = (freq_i + 1) / (sum freq + n_items), freq = the item's
 *                   interactions in events.h5 (rec_cli.h); applied inside the scoring as a per-item bias
 *   --mmr L         maximal marginal relevance: the top --candidates (default 5 K) are re-ranked greedily
 *                   by (1 - L) rel - L max_sim, rel = the score min-max scaled over the candidates,
 *                   sim = cosine of the items' text embeddings (item vectors for a model without text);
 *                   this needs those vectors in memory (n_items x dim)
 * A user of events.h5 always has events; a user with none (possible only in a hand-made events file)
 * gets the model's output for an empty history. An id of --users that events.h5 does not know is an
 * error naming the file, the line and the id.
 *
 * recommendations.h5: users i64[n] (indices into events.h5's users), user_id (strings: values +
 * offsets), items i32[n, K] (catalog indices, -1 when fewer than K items remain), item_id (the n x K
 * recommended ids as strings, row-major, "" for -1), scores f32[n, K]; attributes k, model, tail_boost,
 * mmr, n_items. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/rec_cli.h"
#include "data/dataio.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/progress.h"
#include "longtail/rec.h"
#include "longtail/recmodel.h"
#include "longtail/score.h"
#include "longtail/shard.h"

static const lt_cli_opt opts[] = {
    {"--data", "recommend.data", 0, "folder with the catalog and events.h5 (longtail import)"},
    {"--model", "recommend.model", 0, "a trained recommender (longtail train --out DIR)"},
    {"--out", "recommend.out", 0, "folder for recommendations.h5 and recommendations.csv"},
    {"--k", "recommend.k", 0, "items per user (default 10)"},
    {"--users", "recommend.users", 0, "FILE of user ids (one a line, as events' user_id; default: every user)"},
    {"--tail-boost", "recommend.tail_boost", 0, "beta: score + beta log(1/popularity) (default 0: none)"},
    {"--cold-boost", "recommend.cold_boost", 0, "gamma: score + gamma for items never trained on (new items; default: the model's own, chosen at training)"},
    {"--mmr", "recommend.mmr", 0, "lambda in [0, 1): MMR diversity re-ranking of the candidates (default 0: none)"},
    {"--candidates", "recommend.candidates", 0, "candidates re-ranked by --mmr (default 5 K, at most 1024)"},
    {"--emb", "recommend.emb", 0, "the model's text embeddings (default: the ones it was trained with)"},
    {"--device", "recommend.device", 0, "cpu (default) or cuda[:N]"},
    {"--batch", "recommend.batch", 0, "users scored per pass over the item shards (default 8192)"},
    {"--shard-items", "recommend.shard_items", 0, "items per temporary item-vector shard (default 65536)"},
    {"--no-csv", "recommend.no_csv", 1, "write recommendations.h5 only"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_recommend = opts; /* every setting is checked against these (settings.c) */

/* The users of FILE as indices into ev's users (*n of them, malloc'd). */
static int read_users(const char *file, const lt_events *ev, int64_t **out, int64_t *n) {
    FILE *f = fopen(file, "r");
    if (!f) return lt_error(LT_EIO, "%s: cannot read the user list", file);
    lt_strmap map = {0};
    int rc = 0;
    for (int64_t i = 0; i < ev->n_users && !rc; i++) {
        size_t len;
        const char *s = lt_strs_get(&ev->user_id, i, &len);
        int64_t idx;
        int added;
        rc = lt_strmap_get_or_add(&map, s, len, &idx, &added);
    }
    int64_t cap = 1024, cnt = 0, line = 0;
    int64_t *u = malloc(sizeof *u * (size_t)cap);
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t len;
    if (!rc && !u) rc = lt_error(LT_ENOMEM, "out of memory");
    while (!rc && (len = getline(&buf, &bcap, f)) >= 0) {
        line++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t')) len--;
        size_t b = 0;
        while ((ssize_t)b < len && (buf[b] == ' ' || buf[b] == '\t')) b++;
        if ((ssize_t)b == len || buf[b] == '#') continue; /* blank lines and comments */
        int64_t idx = lt_strmap_find(&map, buf + b, (size_t)(len - (ssize_t)b));
        if (idx < 0) {
            rc = lt_error(LT_ENOENT, "%s:%lld: unknown user id '%.*s' (not in events.h5)", file, (long long)line,
                          (int)(len - (ssize_t)b > 200 ? 200 : len - (ssize_t)b), buf + b);
            break;
        }
        if (cnt == cap) {
            int64_t *p = realloc(u, sizeof *u * (size_t)(cap *= 2));
            if (!p) {
                rc = lt_error(LT_ENOMEM, "out of memory");
                break;
            }
            u = p;
        }
        u[cnt++] = idx;
    }
    free(buf);
    fclose(f);
    lt_strmap_free(&map);
    if (!rc && !cnt) rc = lt_error(LT_EFORMAT, "%s: no user ids", file);
    if (rc) free(u), u = NULL;
    *out = u, *n = rc ? 0 : cnt;
    return rc;
}

/* Greedy MMR: from cand[C] (scores val[C], best first, -1 padded) pick K into out/outv. */
static void mmr(const int32_t *cand, const float *val, int C, int K, double lambda, const float *rep, int64_t dim,
                int32_t *out, float *outv, double *maxsim, uint8_t *used) {
    int n = 0;
    while (n < C && cand[n] >= 0) n++;
    double lo = n ? val[n - 1] : 0, hi = n ? val[0] : 1, span = hi - lo > 0 ? hi - lo : 1;
    for (int i = 0; i < n; i++) maxsim[i] = -INFINITY, used[i] = 0;
    for (int k = 0; k < K; k++) {
        int best = -1;
        double bv = -INFINITY;
        for (int i = 0; i < n; i++) {
            if (used[i]) continue;
            double sim = k ? maxsim[i] : 0, v = (1 - lambda) * (val[i] - lo) / span - lambda * sim;
            if (v > bv) bv = v, best = i;
        }
        if (best < 0) {
            out[k] = -1, outv[k] = -INFINITY;
            continue;
        }
        used[best] = 1, out[k] = cand[best], outv[k] = val[best];
        const float *a = rep + (int64_t)cand[best] * dim;
        for (int i = 0; i < n; i++) {
            if (used[i]) continue;
            const float *b = rep + (int64_t)cand[i] * dim;
            double dot = 0;
            for (int64_t j = 0; j < dim; j++) dot += (double)a[j] * b[j];
            if (dot > maxsim[i]) maxsim[i] = dot;
        }
    }
}

static int write_h5(const char *path, const lt_events *ev, const lt_catalog *cat, const int64_t *users, int64_t n, int K,
                    const int32_t *items, const float *scores, const char *model, double beta, double gamma, double lambda) {
    lt_shard *s;
    LT_TRY(lt_shard_create(&s, path, "recommendations", 1));
    int rc = lt_cli_write_topk_h5(s, "users", "user_id", &ev->user_id, users, NULL, n, K, "items", "item_id", &cat->item_id,
                                  items, scores);
    if (!rc) rc = lt_shard_set_attr_str(s, "", "model", model);
    if (!rc) rc = lt_shard_set_attr_f64(s, "", "tail_boost", beta);
    if (!rc) rc = lt_shard_set_attr_f64(s, "", "cold_boost", gamma);
    if (!rc) rc = lt_shard_set_attr_f64(s, "", "mmr", lambda);
    if (rc) {
        lt_shard_abort(s);
        return rc;
    }
    return lt_shard_commit(s);
}

int lt_cmd_recommend(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("recommend", "--data DIR --model DIR --out DIR [--k N] [--users FILE] [--tail-boost B] [--mmr L]",
                         opts, argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "recommend.data", NULL), *model = lt_config_str(c, "recommend.model", NULL);
    const char *out = lt_config_str(c, "recommend.out", NULL), *ufile = lt_config_str(c, "recommend.users", NULL);
    if (!data || !model || !out) {
        fprintf(stderr, "longtail recommend: needs --data DIR, --model DIR and --out DIR (longtail recommend --help)\n");
        lt_config_free(c);
        return 2;
    }
    int64_t K = 10, cand = 0, batch = 8192, per_shard = 65536;
    double beta = 0, gamma = 0, lambda = 0;
    int no_csv = 0;
    int rc = lt_config_int(c, "recommend.k", K, &K);
    if (!rc) rc = lt_config_int(c, "recommend.candidates", 0, &cand);
    if (!rc) rc = lt_config_int(c, "recommend.batch", batch, &batch);
    if (!rc) rc = lt_config_int(c, "recommend.shard_items", per_shard, &per_shard);
    if (!rc) rc = lt_config_float(c, "recommend.tail_boost", 0, &beta);
    if (!rc) rc = lt_config_float(c, "recommend.mmr", 0, &lambda);
    if (!rc) rc = lt_config_float(c, "recommend.cold_boost", 0, &gamma);
    if (!rc && !isfinite(gamma)) rc = lt_error(LT_ECONFIG, "recommend.cold_boost: %g is not a number", gamma);
    if (!rc) rc = lt_config_bool(c, "recommend.no_csv", 0, &no_csv);
    if (!rc && (K < 1 || K > LT_TOPK_MAX)) rc = lt_error(LT_ECONFIG, "recommend.k: %lld is not in 1..%d", (long long)K, LT_TOPK_MAX);
    if (!rc && (!isfinite(beta) || beta < 0)) rc = lt_error(LT_ECONFIG, "recommend.tail_boost: %g must be >= 0", beta);
    if (!rc && (!isfinite(lambda) || lambda < 0 || lambda >= 1))
        rc = lt_error(LT_ECONFIG, "recommend.mmr: %g must be in [0, 1)", lambda);
    if (!rc && !cand) cand = lambda > 0 ? (5 * K < LT_TOPK_MAX ? 5 * K : LT_TOPK_MAX) : K;
    if (!rc && (cand < K || cand > LT_TOPK_MAX))
        rc = lt_error(LT_ECONFIG, "recommend.candidates: %lld is not in k..%d", (long long)cand, LT_TOPK_MAX);
    if (!rc && batch < 1) rc = lt_error(LT_ECONFIG, "recommend.batch: must be >= 1");
    if (!rc) rc = lt_cli_out_dir("recommend.out", out);
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */

    double t0 = lt_seconds();
    lt_events ev = {0};
    lt_catalog cat = {0};
    lt_rec_split split = {0};
    lt_backend *be = NULL;
    lt_rec *m = NULL;
    float *text = NULL, *rep = NULL, *V = NULL, *U = NULL, *bias = NULL, *vals = NULL, *scores = NULL;
    int64_t *users = NULL, nu = 0, *off = NULL, rep_dim = 0;
    int32_t *idx = NULL, *items = NULL, *hist = NULL, *lens = NULL, *ex = NULL;
    char path[4400], vdir[4400] = "", desc[512] = "";
    snprintf(path, sizeof path, "%s/events.h5", data);
    if (!rc) rc = lt_events_load(&ev, path);
    if (!rc) rc = lt_catalog_load_ids(&cat, data);
    if (!rc && cat.n != ev.n_items)
        rc = lt_error(LT_EFORMAT, "%s: the catalog has %lld items, events.h5 %lld", data, (long long)cat.n, (long long)ev.n_items);
    if (!rc) rc = lt_rec_split_make(&ev, NULL, &split); /* the training split: which items have id parts */
    if (!rc && ufile) rc = read_users(ufile, &ev, &users, &nu);
    else if (!rc) {
        nu = ev.n_users;
        users = malloc(sizeof *users * (size_t)(nu ? nu : 1));
        for (int64_t i = 0; users && i < nu; i++) users[i] = i;
        if (!users) rc = lt_error(LT_ENOMEM, "out of memory");
    }
    if (!rc) rc = lt_cli_backend(lt_config_str(c, "recommend.device", "cpu"), NULL, &be);
    if (!rc) rc = lt_cli_load_rec(model, lt_config_str(c, "recommend.emb", NULL), be, ev.n_items, split.freq, &m,
                                  lambda > 0 ? &text : NULL);
    const lt_rec_config *mc = m ? lt_rec_get_config(m) : NULL;
    int64_t N = ev.n_items, d = mc ? mc->dim : 0, L = mc ? mc->max_len : 1;
    if (mc && !lt_config_str(c, "recommend.cold_boost", NULL)) gamma = mc->cold_boost;
    if (!rc) rc = lt_mkdirs(out);
    if (!rc) lt_cli_sweep_vec_dirs(out); /* temporary shards of a killed run */
    if (!rc) {
        lt_rec_config_describe(mc, desc, sizeof desc);
        lt_info("recommend: %lld users, %lld items, K %lld, tail boost %g, new-item boost %g, mmr %g; %s", (long long)nu,
                (long long)N, (long long)K, beta, gamma, lambda, desc);
    }
    if (!rc) lt_cli_log_memory("recommend: data and model loaded");
    /* 1. the user vectors, in batches of histories (their last max_len items) */
    U = rc ? NULL : malloc(sizeof *U * (size_t)(nu * d + 1));
    /* lt_rec_user_vectors recomputes every item vector per call, so batches are large, but the model's
     * activations (with a B x max_len x chunk work buffer) grow with them: about 256 MB of those */
    int64_t ub = mc ? (int64_t)(256.0 * (1 << 20) / (4.0 * (double)L * (double)(mc->chunk > 0 ? mc->chunk : 1))) : 1;
    ub = ub < 64 ? 64 : ub > 4096 ? 4096 : ub;
    hist = rc ? NULL : malloc(sizeof *hist * (size_t)(ub * L + 1));
    lens = rc ? NULL : malloc(sizeof *lens * (size_t)ub);
    if (!rc && (!U || !hist || !lens)) rc = lt_error(LT_ENOMEM, "recommend: out of memory");
    lt_progress pg;
    if (!rc) lt_progress_start(&pg, "recommend: user vectors", "users", nu);
    for (int64_t b0 = 0; b0 < nu && !rc; b0 += ub) {
        int64_t bn = nu - b0 < ub ? nu - b0 : ub;
        for (int64_t i = 0; i < bn; i++) {
            int64_t u = users[b0 + i], e0 = ev.user_off[u], e1 = ev.user_off[u + 1];
            if (e1 - e0 > L) e0 = e1 - L;
            lens[i] = (int32_t)(e1 - e0);
            memcpy(hist + i * L, ev.item + e0, sizeof *hist * (size_t)(e1 - e0));
        }
        rc = lt_rec_user_vectors(m, hist, lens, bn, L, U + b0 * d);
        if (!rc) lt_progress_add(&pg, bn);
    }
    if (!rc) lt_progress_end(&pg);
    if (!rc) lt_cli_log_memory("recommend: the model and the user vectors");
    /* 2. the item vectors, as shards in a temporary folder under OUT */
    V = rc ? NULL : malloc(sizeof *V * (size_t)(N * d + 1));
    if (!rc && !V) rc = lt_error(LT_ENOMEM, "recommend: out of memory for the item vectors");
    if (!rc) rc = lt_rec_item_vectors(m, V);
    snprintf(vdir, sizeof vdir, "%s/.item_vectors-%ld", out, (long)getpid());
    if (!rc) rc = lt_cli_write_vec_shards(vdir, V, N, d, per_shard, 0, desc);
    if (!rc && lambda > 0) { /* MMR's similarity: text when the model has it, else the item vectors */
        rep = text ? text : V, rep_dim = text ? mc->text_dim : d;
        if (text) text = NULL, free(V);
        V = NULL;
        lt_cli_normalize_rows(rep, N, rep_dim);
    }
    free(V), V = NULL;
    lt_rec_free(m), m = NULL;
    free(text), text = NULL;
    /* 3. top-K, a chunk of users per pass over the shards */
    if (!rc && (beta > 0 || gamma != 0)) {
        bias = calloc((size_t)(N ? N : 1), sizeof *bias);
        if (bias) lt_cli_tail_bias(split.freq, N, beta, bias), lt_cli_cold_boost(split.freq, N, gamma, bias);
        else rc = lt_error(LT_ENOMEM, "recommend: out of memory");
    }
    int64_t C = cand, cb = batch < nu ? batch : (nu ? nu : 1), maxex = 0;
    for (int64_t b0 = 0; b0 < nu; b0 += cb) { /* the largest exclusion list of a chunk */
        int64_t s = 0;
        for (int64_t i = b0; i < nu && i < b0 + cb; i++) s += ev.user_off[users[i] + 1] - ev.user_off[users[i]];
        if (s > maxex) maxex = s;
    }
    items = rc ? NULL : malloc(sizeof *items * (size_t)(nu * K + 1));
    scores = rc ? NULL : malloc(sizeof *scores * (size_t)(nu * K + 1));
    vals = rc ? NULL : malloc(sizeof *vals * (size_t)(cb * C));
    idx = rc ? NULL : malloc(sizeof *idx * (size_t)(cb * C));
    off = rc ? NULL : malloc(sizeof *off * (size_t)(cb + 1));
    ex = rc ? NULL : malloc(sizeof *ex * (size_t)(maxex + 1));
    double *maxsim = rc ? NULL : malloc(sizeof *maxsim * (size_t)C);
    uint8_t *used = rc ? NULL : malloc((size_t)C);
    if (!rc && (!items || !scores || !vals || !idx || !off || !ex || !maxsim || !used))
        rc = lt_error(LT_ENOMEM, "recommend: out of memory");
    double ts = lt_seconds();
    if (!rc) lt_progress_start(&pg, "recommend: top-K", "users", nu);
    for (int64_t b0 = 0; b0 < nu && !rc; b0 += cb) {
        int64_t bn = nu - b0 < cb ? nu - b0 : cb;
        off[0] = 0;
        for (int64_t i = 0; i < bn; i++) {
            int64_t u = users[b0 + i], e0 = ev.user_off[u], e1 = ev.user_off[u + 1];
            memcpy(ex + off[i], ev.item + e0, sizeof *ex * (size_t)(e1 - e0));
            off[i + 1] = off[i] + (e1 - e0);
        }
        lt_topk_query q = {.u = U + b0 * d, .B = bn, .D = d, .K = (int)C, .item_bias = bias, .excl_off = off,
                           .excl_ids = ex, .batch = 1024};
        rc = lt_topk_shards(be, vdir, &q, vals, idx);
        for (int64_t i = 0; i < bn && !rc; i++) {
            if (lambda > 0)
                mmr(idx + i * C, vals + i * C, (int)C, (int)K, lambda, rep, rep_dim, items + (b0 + i) * K,
                    scores + (b0 + i) * K, maxsim, used);
            else {
                memcpy(items + (b0 + i) * K, idx + i * C, sizeof *items * (size_t)K);
                memcpy(scores + (b0 + i) * K, vals + i * C, sizeof *scores * (size_t)K);
            }
        }
        if (!rc) lt_progress_add(&pg, bn);
    }
    if (!rc) lt_progress_end(&pg);
    double t_score = lt_seconds() - ts;
    if (!rc) lt_cli_log_memory("recommend: scored (the model freed)");
    if (vdir[0]) lt_cli_remove_vec_shards(vdir);
    char csv[4400];
    snprintf(path, sizeof path, "%s/recommendations.h5", out);
    snprintf(csv, sizeof csv, "%s/recommendations.csv", out);
    if (!rc) rc = write_h5(path, &ev, &cat, users, nu, (int)K, items, scores, desc, beta, gamma, lambda);
    if (!rc && !no_csv)
        rc = lt_cli_write_topk_csv(csv, "user_id,rank,item_id,score", &ev.user_id, users, NULL, nu, (int)K,
                                   &cat.item_id, items, scores);
    if (!rc)
        printf("recommend: %lld users x top %lld over %lld items in %.1f s (scoring %.0f users/s): %s%s%s\n", (long long)nu,
               (long long)K, (long long)N, lt_seconds() - t0, t_score > 0 ? (double)nu / t_score : 0.0, path,
               no_csv ? "" : ", ", no_csv ? "" : csv);
    free(maxsim), free(used);
    free(rep), free(U), free(bias), free(vals), free(scores), free(users), free(off), free(idx), free(items), free(hist);
    free(lens), free(ex);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    lt_rec_split_free(&split);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("recommend", rc) : 0;
}
