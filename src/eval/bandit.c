/* Linear contextual bandits on the backend's ridge ops, and their offline evaluation
 * (include/longtail/bandit.h). */
#include "longtail/bandit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"
#include "longtail/progress.h"
#include "longtail/rng.h"

void lt_bandit_cfg_init(lt_bandit_cfg *c) {
    *c = (lt_bandit_cfg){.algo = LT_BANDIT_LINUCB, .models = LT_BANDIT_SHARED, .epsilon = 0.1, .alpha = 0.5, .v = 0.1,
                         .lambda = 1.0, .seed = 1};
}

static const char *const algo_names[] = {"random", "egreedy", "linucb", "thompson"};
static const char *const model_names[] = {"shared", "item"};

void lt_bandit_name(const lt_bandit_cfg *c, char *buf, size_t cap) {
    if (c->algo == LT_BANDIT_RANDOM) snprintf(buf, cap, "random");
    else snprintf(buf, cap, "%s/%s", algo_names[c->algo], model_names[c->models]);
}

int lt_bandit_algo_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, algo_names[i])) return i;
    return -1;
}

int lt_bandit_models_parse(const char *s) {
    for (int i = 0; i < 2; i++)
        if (!strcmp(s, model_names[i])) return i;
    return -1;
}

struct lt_bandit {
    lt_bandit_cfg cfg;
    lt_backend *be;
    int64_t n_items, d, D, M, cap;
    float *feats;                   /* [n_items, d] */
    lt_tensor ainv, b, X, R, ids, mean, var; /* on the backend: models, then one round's rows */
    float *hx, *hmean, *hvar, *hscore, *hA, *hb;
    int32_t *hids;
    double *L, *theta, *z;          /* Thompson with the shared model: host scratch */
    lt_rng rng;
};

void lt_bandit_free(lt_bandit *b) {
    if (!b) return;
    lt_tensor *ts[] = {&b->ainv, &b->b, &b->X, &b->R, &b->ids, &b->mean, &b->var};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lt_tensor_free(b->be, ts[i]);
    free(b->feats), free(b->hx), free(b->hmean), free(b->hvar), free(b->hscore), free(b->hA), free(b->hb);
    free(b->hids), free(b->L), free(b->theta), free(b->z), free(b);
}

int lt_bandit_create(lt_bandit **out, lt_backend *be, const lt_bandit_cfg *cfg, const float *feats, int64_t n_items,
                     int64_t d, int64_t max_cands) {
    *out = NULL;
    if (n_items < 1 || d < 1 || max_cands < 1)
        return lt_error(LT_EINVAL, "bandit: need items, features and candidates (%lld, %lld, %lld)", (long long)n_items,
                        (long long)d, (long long)max_cands);
    if (!(cfg->lambda > 0) || !(cfg->epsilon >= 0 && cfg->epsilon <= 1) || !(cfg->alpha >= 0) || !(cfg->v >= 0))
        return lt_error(LT_ECONFIG, "bandit: lambda > 0, epsilon in [0, 1], alpha >= 0 and v >= 0 (got %g, %g, %g, %g)",
                        cfg->lambda, cfg->epsilon, cfg->alpha, cfg->v);
    lt_bandit *b = calloc(1, sizeof *b);
    if (!b) return lt_error(LT_ENOMEM, "bandit: out of memory");
    b->cfg = *cfg, b->be = be, b->n_items = n_items, b->d = d, b->cap = max_cands;
    b->D = cfg->models == LT_BANDIT_SHARED ? 2 * d + 1 : d + 1;
    b->M = cfg->models == LT_BANDIT_SHARED ? 1 : n_items;
    lt_rng_init(&b->rng, cfg->seed, 0xba4d17);
    int64_t D = b->D, M = b->M, K = max_cands;
    int rc = D > LT_RIDGE_MAX_DIM ? lt_error(LT_ECONFIG, "bandit: %lld features per row, at most %d", (long long)D,
                                             LT_RIDGE_MAX_DIM) : 0;
    b->feats = malloc(sizeof(float) * (size_t)(n_items * d));
    b->hx = malloc(sizeof(float) * (size_t)(K * D)), b->hids = malloc(sizeof(int32_t) * (size_t)K);
    b->hmean = malloc(sizeof(float) * (size_t)K), b->hvar = malloc(sizeof(float) * (size_t)K);
    b->hscore = malloc(sizeof(float) * (size_t)K);
    if (!rc && (!b->feats || !b->hx || !b->hids || !b->hmean || !b->hvar || !b->hscore))
        rc = lt_error(LT_ENOMEM, "bandit: out of memory");
    if (!rc) memcpy(b->feats, feats, sizeof(float) * (size_t)(n_items * d));
    if (cfg->algo == LT_BANDIT_RANDOM) { /* no model */
        if (rc) return lt_bandit_free(b), rc;
        return *out = b, 0;
    }
    if (!rc) rc = lt_tensor_new(&b->ainv, be, LT_F32, 3, (int64_t[]){M, D, D});
    if (!rc) rc = lt_tensor_new(&b->b, be, LT_F32, 2, (int64_t[]){M, D});
    if (!rc) rc = lt_tensor_new(&b->X, be, LT_F32, 2, (int64_t[]){K, D});
    if (!rc) rc = lt_tensor_new(&b->R, be, LT_F32, 1, (int64_t[]){1});
    if (!rc) rc = lt_tensor_new(&b->ids, be, LT_I32, 1, (int64_t[]){K});
    if (!rc) rc = lt_tensor_new(&b->mean, be, LT_F32, 1, (int64_t[]){K});
    if (!rc) rc = lt_tensor_new(&b->var, be, LT_F32, 1, (int64_t[]){K});
    if (!rc) { /* A^-1 = I / lambda for every model, built one model at a time on the host */
        float *eye = calloc((size_t)(D * D), sizeof(float));
        rc = eye ? 0 : lt_error(LT_ENOMEM, "bandit: out of memory");
        for (int64_t p = 0; !rc && p < D; p++) eye[p * D + p] = (float)(1.0 / cfg->lambda);
        for (int64_t m = 0; !rc && m < M; m++)
            rc = lt_backend_memcpy(be, (float *)b->ainv.data + m * D * D, lt_backend_device(be), eye, LT_CPU,
                                   sizeof(float) * (size_t)(D * D));
        free(eye);
        if (!rc) rc = lt_backend_memset0(be, b->b.data, sizeof(float) * (size_t)(M * D));
    }
    if (!rc && cfg->algo == LT_BANDIT_THOMPSON && cfg->models == LT_BANDIT_SHARED) {
        b->hA = malloc(sizeof(float) * (size_t)(D * D)), b->hb = malloc(sizeof(float) * (size_t)D);
        b->L = malloc(sizeof(double) * (size_t)(D * D)), b->theta = malloc(sizeof(double) * (size_t)D);
        b->z = malloc(sizeof(double) * (size_t)D);
        if (!b->hA || !b->hb || !b->L || !b->theta || !b->z) rc = lt_error(LT_ENOMEM, "bandit: out of memory");
    }
    if (rc) return lt_bandit_free(b), rc;
    *out = b;
    return 0;
}

/* The model's feature row for a user with context c and item i (see bandit.h). */
static void features(const lt_bandit *b, const float *c, int32_t i, float *x) {
    const int64_t d = b->d;
    const float *f = b->feats + (int64_t)i * d;
    if (b->cfg.models == LT_BANDIT_SHARED) {
        float s = sqrtf((float)d);
        for (int64_t k = 0; k < d; k++) x[k] = s * f[k] * c[k], x[d + k] = f[k];
        x[2 * d] = 1;
    } else {
        memcpy(x, c, sizeof(float) * (size_t)d);
        x[d] = 1;
    }
}

static int upload(lt_bandit *b, lt_tensor *t, const void *h, size_t bytes) {
    return lt_backend_memcpy(b->be, t->data, lt_backend_device(b->be), h, LT_CPU, bytes);
}

static int download(lt_bandit *b, void *h, const lt_tensor *t, size_t bytes) {
    return lt_backend_memcpy(b->be, h, LT_CPU, t->data, lt_backend_device(b->be), bytes);
}

/* Thompson with the shared model: theta ~ N(A^-1 b, v^2 A^-1) through the Cholesky factor of A^-1
 * (pivots clamped at 0, since fp32 rank-1 updates may leave A^-1 a rounding error short of definite),
 * then every candidate's score x . theta. */
static int thompson_shared(lt_bandit *b, int64_t K) {
    const int64_t D = b->D;
    LT_TRY(download(b, b->hA, &b->ainv, sizeof(float) * (size_t)(D * D)));
    LT_TRY(download(b, b->hb, &b->b, sizeof(float) * (size_t)D));
    LT_TRY(lt_backend_sync(b->be));
    double *L = b->L;
    for (int64_t j = 0; j < D; j++) {
        for (int64_t i = j; i < D; i++) {
            double s = 0.5 * ((double)b->hA[i * D + j] + (double)b->hA[j * D + i]);
            for (int64_t k = 0; k < j; k++) s -= L[i * D + k] * L[j * D + k];
            if (i == j) L[j * D + j] = s > 0 ? sqrt(s) : 0;
            else L[i * D + j] = L[j * D + j] > 0 ? s / L[j * D + j] : 0;
        }
    }
    for (int64_t k = 0; k < D; k++) b->z[k] = lt_rng_next_normal(&b->rng);
    for (int64_t i = 0; i < D; i++) {
        double th = 0, noise = 0;
        for (int64_t k = 0; k < D; k++) th += (double)b->hA[i * D + k] * b->hb[k];
        for (int64_t k = 0; k <= i; k++) noise += L[i * D + k] * b->z[k];
        b->theta[i] = th + b->cfg.v * noise;
    }
    for (int64_t k = 0; k < K; k++) {
        double s = 0;
        for (int64_t i = 0; i < D; i++) s += (double)b->hx[k * D + i] * b->theta[i];
        b->hscore[k] = (float)s;
    }
    return 0;
}

int lt_bandit_choose(lt_bandit *b, const float *ctx, const int32_t *cands, int64_t K, int64_t *choice) {
    if (K < 1 || K > b->cap) return lt_error(LT_EINVAL, "bandit: %lld candidates, between 1 and %lld", (long long)K, (long long)b->cap);
    for (int64_t k = 0; k < K; k++)
        if (cands[k] < 0 || cands[k] >= b->n_items)
            return lt_error(LT_ERANGE, "bandit: candidate %d outside the %lld items", cands[k], (long long)b->n_items);
    const lt_bandit_cfg *c = &b->cfg;
    if (c->algo == LT_BANDIT_RANDOM || (c->algo == LT_BANDIT_EGREEDY && lt_rng_next_double(&b->rng) < c->epsilon)) {
        *choice = (int64_t)lt_rng_below(&b->rng, (uint64_t)K);
        return 0;
    }
    const int64_t D = b->D;
    for (int64_t k = 0; k < K; k++) features(b, ctx, cands[k], b->hx + k * D);
    if (c->algo == LT_BANDIT_THOMPSON && c->models == LT_BANDIT_SHARED) {
        LT_TRY(thompson_shared(b, K));
    } else {
        int want_var = c->algo != LT_BANDIT_EGREEDY;
        lt_tensor X = lt_view2(b->X.data, LT_F32, lt_backend_device(b->be), K, D);
        lt_tensor ids = lt_view1(b->ids.data, LT_I32, lt_backend_device(b->be), K);
        lt_tensor mean = lt_view1(b->mean.data, LT_F32, lt_backend_device(b->be), K);
        lt_tensor var = lt_view1(b->var.data, LT_F32, lt_backend_device(b->be), K);
        LT_TRY(upload(b, &b->X, b->hx, sizeof(float) * (size_t)(K * D)));
        if (b->M > 1) LT_TRY(upload(b, &b->ids, cands, sizeof(int32_t) * (size_t)K));
        LT_TRY(lt_ridge_score(b->be, &mean, want_var ? &var : NULL, &b->ainv, &b->b, &X, b->M > 1 ? &ids : NULL));
        LT_TRY(download(b, b->hmean, &b->mean, sizeof(float) * (size_t)K));
        if (want_var) LT_TRY(download(b, b->hvar, &b->var, sizeof(float) * (size_t)K));
        LT_TRY(lt_backend_sync(b->be));
        for (int64_t k = 0; k < K; k++) {
            double sd = sqrt(b->hvar[k] > 0 ? (double)b->hvar[k] : 0.0);
            if (c->algo == LT_BANDIT_EGREEDY) b->hscore[k] = b->hmean[k];
            else if (c->algo == LT_BANDIT_LINUCB) b->hscore[k] = (float)(b->hmean[k] + c->alpha * sd);
            else b->hscore[k] = (float)(b->hmean[k] + c->v * sd * lt_rng_next_normal(&b->rng));
        }
    }
    /* the best score; ties broken at random (at the start every estimate is 0) */
    int64_t best = 0, ties = 1;
    for (int64_t k = 1; k < K; k++) {
        if (b->hscore[k] > b->hscore[best] || (isnan(b->hscore[best]) && !isnan(b->hscore[k]))) best = k, ties = 1;
        else if (b->hscore[k] == b->hscore[best] && lt_rng_below(&b->rng, (uint64_t)++ties) == 0) best = k;
    }
    *choice = best;
    return 0;
}

int lt_bandit_update(lt_bandit *b, const float *ctx, int32_t item, float reward) {
    if (b->cfg.algo == LT_BANDIT_RANDOM) return 0;
    if (item < 0 || item >= b->n_items) return lt_error(LT_ERANGE, "bandit: item %d outside the %lld items", item, (long long)b->n_items);
    features(b, ctx, item, b->hx);
    lt_tensor X = lt_view2(b->X.data, LT_F32, lt_backend_device(b->be), 1, b->D);
    lt_tensor ids = lt_view1(b->ids.data, LT_I32, lt_backend_device(b->be), 1);
    LT_TRY(upload(b, &b->X, b->hx, sizeof(float) * (size_t)b->D));
    LT_TRY(upload(b, &b->R, &reward, sizeof(float)));
    if (b->M > 1) LT_TRY(upload(b, &b->ids, &item, sizeof(int32_t)));
    return lt_ridge_update(b->be, &b->ainv, &b->b, &X, &b->R, b->M > 1 ? &ids : NULL);
}

/* ---- evaluation -------------------------------------------------------------------------------- */

static void stats_start(lt_bandit *b, lt_bandit_stats *st) {
    memset(st, 0, sizeof *st);
    lt_bandit_name(&b->cfg, st->name, sizeof st->name);
}

/* After round t (0-based) of n: every curve point whose share of the rounds is now done. *next is the
 * first point not recorded yet. */
static void curve_at(lt_bandit_stats *st, int64_t t, int64_t n, int *next) {
    while (*next < LT_BANDIT_CURVE && (int64_t)(*next + 1) * n <= (t + 1) * LT_BANDIT_CURVE) st->curve[(*next)++] = st->regret;
}

int lt_bandit_simulate(lt_bandit *b, const lt_bandit_sim *env, lt_bandit_stats *st) {
    stats_start(b, st);
    if (env->candidates < 1 || env->candidates > env->n_pool || env->candidates > b->cap || env->n_users < 1 ||
        env->rounds < 1 || env->d != b->d)
        return lt_error(LT_EINVAL, "bandit: simulation needs 1 <= candidates <= pool, users, rounds and matching widths");
    int64_t K = env->candidates;
    int32_t *cands = malloc(sizeof *cands * (size_t)K);
    double *p = malloc(sizeof *p * (size_t)K);
    if (!cands || !p) return free(cands), free(p), lt_error(LT_ENOMEM, "bandit: out of memory");
    double t0 = lt_seconds();
    lt_progress pr;
    if (env->progress) lt_progress_start(&pr, st->name, "rounds", env->rounds);
    int rc = 0, next = 0;
    for (int64_t t = 0; t < env->rounds && !rc; t++) {
        lt_rng r; /* the round's user, candidates and coin: the same for every policy */
        lt_rng_init(&r, env->seed, (uint64_t)t);
        int64_t u = (int64_t)lt_rng_below(&r, (uint64_t)env->n_users);
        for (int64_t k = 0; k < K; k++) {
            int dup;
            do {
                cands[k] = env->pool[lt_rng_below(&r, (uint64_t)env->n_pool)];
                dup = 0;
                for (int64_t q = 0; q < k; q++) dup |= cands[q] == cands[k];
            } while (dup);
        }
        double coin = lt_rng_next_double(&r), best = 0;
        env->ctr(env->ud, u, cands, K, p);
        for (int64_t k = 0; k < K; k++) best = p[k] > best ? p[k] : best;
        const float *ctx = env->ctx + u * env->d;
        int64_t c = 0;
        rc = lt_bandit_choose(b, ctx, cands, K, &c);
        float reward = coin < p[c] ? 1.0f : 0.0f;
        st->rounds++, st->counted++, st->clicks += reward, st->expected += p[c], st->oracle += best;
        st->regret += best - p[c];
        st->tail += env->tail[cands[c]] != 0, st->fresh += env->fresh[cands[c]] != 0;
        curve_at(st, t, env->rounds, &next);
        if (!rc) rc = lt_bandit_update(b, ctx, cands[c], reward);
        if (env->progress && (t + 1) % 1000 == 0) lt_progress_add(&pr, 1000);
    }
    if (env->progress) lt_progress_end(&pr);
    if (!rc) rc = lt_backend_sync(b->be);
    st->seconds = lt_seconds() - t0;
    free(cands), free(p);
    return rc;
}

int lt_bandit_replay(lt_bandit *b, const lt_bandit_log *log, lt_bandit_stats *st) {
    stats_start(b, st);
    if (log->K < 1 || log->K > b->cap || log->d != b->d || log->n < 1)
        return lt_error(LT_EINVAL, "bandit: replay needs events, 1 <= K <= %lld candidates and matching widths",
                        (long long)b->cap);
    double t0 = lt_seconds();
    lt_progress pr;
    if (log->progress) lt_progress_start(&pr, st->name, "events", log->n);
    int rc = 0, next = 0;
    for (int64_t e = 0; e < log->n && !rc; e++) {
        const int32_t *cands = log->cands + e * log->K;
        const float *ctx = log->ctx + e * log->d;
        int64_t c = 0;
        rc = lt_bandit_choose(b, ctx, cands, log->K, &c);
        st->rounds++;
        st->tail += log->tail[cands[c]] != 0, st->fresh += log->fresh[e * log->K + c] != 0;
        if (!rc && c == log->shown[e]) { /* the logger showed what the policy would: the event counts */
            st->counted++, st->clicks += log->reward[e], st->regret += 1.0 - log->reward[e];
            rc = lt_bandit_update(b, ctx, cands[c], log->reward[e]);
        }
        curve_at(st, e, log->n, &next);
        if (log->progress && (e + 1) % 1000 == 0) lt_progress_add(&pr, 1000);
    }
    if (log->progress) lt_progress_end(&pr);
    if (!rc) rc = lt_backend_sync(b->be);
    st->seconds = lt_seconds() - t0;
    return rc;
}

static double share(int64_t a, int64_t n) { return n ? (double)a / (double)n : 0.0; }

void lt_bandit_stats_row(FILE *f, const lt_bandit_stats *s, int header, int sim) {
    if (header) {
        if (sim) fprintf(f, "%-18s %8s %8s %8s %8s %10s %8s %8s %7s\n", "policy", "rounds", "CTR", "E[CTR]", "oracle",
                         "regret", "tail", "new", "s");
        else fprintf(f, "%-18s %8s %8s %8s %10s %8s %8s %7s\n", "policy", "events", "matched", "CTR", "regret", "tail",
                     "new", "s");
    }
    if (sim)
        fprintf(f, "%-18s %8lld %8.4f %8.4f %8.4f %10.1f %8.3f %8.3f %7.1f\n", s->name, (long long)s->rounds,
                share((int64_t)s->clicks, s->counted), s->counted ? s->expected / (double)s->counted : 0,
                s->counted ? s->oracle / (double)s->counted : 0, s->regret, share(s->tail, s->rounds),
                share(s->fresh, s->rounds), s->seconds);
    else
        fprintf(f, "%-18s %8lld %8lld %8.4f %10.1f %8.3f %8.3f %7.1f\n", s->name, (long long)s->rounds,
                (long long)s->counted, s->counted ? s->clicks / (double)s->counted : 0, s->regret,
                share(s->tail, s->rounds), share(s->fresh, s->rounds), s->seconds);
}

void lt_bandit_stats_json(FILE *f, const lt_bandit_stats *s, int sim) {
    fprintf(f, "\"%s\": {\"rounds\": %lld, \"counted\": %lld, \"clicks\": %.0f, \"ctr\": %.6f, \"regret\": %.4f, ", s->name,
            (long long)s->rounds, (long long)s->counted, s->clicks, s->counted ? s->clicks / (double)s->counted : 0,
            s->regret);
    if (sim)
        fprintf(f, "\"expected_ctr\": %.6f, \"oracle_ctr\": %.6f, ", s->expected / (double)(s->counted ? s->counted : 1),
                s->oracle / (double)(s->counted ? s->counted : 1));
    fprintf(f, "\"tail_share\": %.6f, \"new_share\": %.6f, \"seconds\": %.3f, \"regret_curve\": [", share(s->tail, s->rounds),
            share(s->fresh, s->rounds), s->seconds);
    for (int k = 0; k < LT_BANDIT_CURVE; k++) fprintf(f, "%s%.3f", k ? ", " : "", s->curve[k]);
    fputs("]}", f);
}

int lt_bandit_plot(const char *path, const char *title, const char *xlabel, const lt_bandit_stats *s, int n) {
    static const char *color[] = {"#7f7f7f", "#1f77b4", "#aec7e8", "#d62728", "#ff9896", "#2ca02c", "#98df8a", "#9467bd"};
    double y1 = 0;
    int64_t x1 = 1;
    for (int i = 0; i < n; i++) {
        y1 = fmax(y1, s[i].regret);
        x1 = s[i].rounds > x1 ? s[i].rounds : x1;
    }
    lt_svg g;
    LT_TRY(lt__svg_open(&g, path, 760, 460, title, xlabel, "cumulative regret", 0, (double)x1, 0, y1 * 1.05 + 1e-9, 0, 0));
    lt__svg_axes(&g);
    for (int i = 0; i < n; i++) {
        fprintf(g.f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%.1f,%.1f ", color[i % 8],
                lt__svg_px(&g, 0), lt__svg_py(&g, 0));
        for (int k = 0; k < LT_BANDIT_CURVE; k++)
            fprintf(g.f, "%.1f,%.1f ", lt__svg_px(&g, (double)s[i].rounds * (k + 1) / LT_BANDIT_CURVE),
                    lt__svg_py(&g, s[i].curve[k]));
        fputs("\"/>\n", g.f);
        lt__svg_legend(&g, i, color[i % 8], s[i].name);
    }
    return lt__svg_close(&g);
}
