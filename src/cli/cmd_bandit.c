/* longtail bandit: exploration policies over candidate items (include/longtail/bandit.h), judged
 * offline: by replay (Li et al., WSDM 2011) on a shop's logged events, and, for the synthetic shop,
 * by simulation against its ground truth (--truth DIR/synth.ini: the options that generated it, from
 * which the oracle rebuilds every user's taste). Prints a table per evaluation (or --json) and, with
 * --out DIR, writes the regret curves as SVG plots and the JSON.
 *
 * Features: the items' text embeddings (--emb) or a trained recommender's item vectors (--model),
 * reduced to --dim components by PCA and L2-normalised. A user's context is the normalised mean of the
 * features of the user's items: every event in the simulation, the events before the current one in
 * the replay.
 *
 * The replay log comes from the events themselves, in time order (without timestamps: by position in
 * the users' histories, every user's first event, then every second, ...): each event's candidates are its
 * item and --candidates - 1 random other items; a uniform logger "showed" one of them, with reward 1
 * when that is the item the user took. Replay keeps the events where the policy picks the logged one,
 * so its CTR estimates how often the policy would pick the user's actual next item among the
 * candidates (random: 1 / candidates). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/rec_cli.h"
#include "core/tmpfile.h"
#include "data/dataio.h"
#include "longtail/bandit.h"
#include "longtail/cluster.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/rng.h"
#include "longtail/synth.h"

static const lt_cli_opt opts[] = {
    {"--data", "bandit.data", 0, "folder with the catalog and events.h5 (longtail import)"},
    {"--emb", "bandit.emb", 0, "item features: text embeddings, emb-NNNNN.h5 shards (longtail embed, tfidf-embed)"},
    {"--model", "bandit.model", 0, "item features: a trained recommender's item vectors (longtail train --out DIR)"},
    {"--truth", "bandit.truth", 0, "the synthetic shop's synth.ini (longtail synth writes it): simulate against its ground truth"},
    {"--out", "bandit.out", 0, "folder for regret_sim.svg, regret_replay.svg and bandit.json (default: none)"},
    {"--policies", "bandit.policies", 0,
     "comma list of random and ALGO/MODELS, ALGO egreedy, linucb or thompson, MODELS shared or item (default: all seven)"},
    {"--mode", "bandit.mode", 0, "sim, replay or both (default: both with --truth, else replay)"},
    {"--dim", "bandit.dim", 0, "feature width after PCA (default 16)"},
    {"--rounds", "bandit.rounds", 0, "simulation rounds (default 20000)"},
    {"--pool", "bandit.pool", 0, "simulation: items the candidates are drawn from, at random from the catalog (default 200)"},
    {"--candidates", "bandit.candidates", 0, "candidates per round or logged event (default 20)"},
    {"--events", "bandit.events", 0, "replay: the last N events in time order (default 0: all)"},
    {"--epsilon", "bandit.epsilon", 0, "epsilon-greedy's exploration rate (default 0.1)"},
    {"--alpha", "bandit.alpha", 0, "LinUCB's width (default 0.5)"},
    {"--v", "bandit.v", 0, "Thompson sampling's posterior scale (default 0.1)"},
    {"--lambda", "bandit.lambda", 0, "ridge penalty (default 1)"},
    {"--seed", "bandit.seed", 0, "seed of the pool, rounds, log and policies (default 1)"},
    {"--json", "bandit.json", 1, "print one JSON object instead of the tables"},
    {"--device", "bandit.device", 0, "cpu (default) or cuda[:N]: where the ridge models live"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_bandit = opts; /* every setting is checked against these (settings.c) */

#define MAX_POLICIES 16

typedef struct {
    const lt_synth_oracle *oracle;
    const int64_t *synth_item; /* catalog index -> the shop's item */
    const int64_t *synth_user; /* events' user index -> the shop's user */
} truth_ud;

static void oracle_ctr(void *ud, int64_t user, const int32_t *items, int64_t n, double *p) {
    truth_ud *t = ud;
    int64_t ids[256];
    for (int64_t k0 = 0; k0 < n; k0 += 256) {
        int64_t m = n - k0 < 256 ? n - k0 : 256;
        for (int64_t k = 0; k < m; k++) ids[k] = t->synth_item[items[k0 + k]];
        lt_synth_oracle_ctr(t->oracle, t->synth_user[user], ids, m, p + k0);
    }
}

/* "I0000123" -> 122: the shop's 0-based index of a synth id, or -1. */
static int64_t synth_index(const char *s, size_t len, char prefix) {
    if (len < 2 || s[0] != prefix) return -1;
    int64_t v = 0;
    for (size_t k = 1; k < len; k++) {
        if (s[k] < '0' || s[k] > '9' || v > INT64_MAX / 10) return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v - 1;
}

/* Item features feats[n, dim]: PCA of the source to dim (when narrower), rows L2-normalised. */
static int load_features(const char *emb, const char *model, lt_backend *be, const lt_events *ev, int64_t dim,
                         float **feats) {
    *feats = NULL;
    int64_t n = ev->n_items, din = 0;
    float *src = NULL;
    int rc = 0;
    if (model) {
        int64_t *freq = calloc((size_t)n, sizeof *freq);
        if (!freq) return lt_error(LT_ENOMEM, "bandit: out of memory");
        for (int64_t e = 0; e < ev->n_events; e++) freq[ev->item[e]]++;
        lt_rec *m = NULL;
        rc = lt_cli_load_rec(model, emb, be, n, freq, &m, NULL);
        free(freq);
        if (!rc) din = lt_rec_get_config(m)->dim, src = malloc(sizeof(float) * (size_t)(n * din));
        if (!rc && !src) rc = lt_error(LT_ENOMEM, "bandit: out of memory");
        if (!rc) rc = lt_rec_item_vectors(m, src);
        lt_rec_free(m);
    } else {
        rc = lt_cli_load_text(emb, n, 0, &src, &din);
    }
    if (rc) return free(src), rc;
    if (dim >= din) {
        lt_cli_normalize_rows(src, n, din);
        *feats = src;
        return din == dim ? 0 : lt_error(LT_ECONFIG, "bandit.dim = %lld: the features have only %lld dimensions",
                                         (long long)dim, (long long)din);
    }
    lt_vecs *v = NULL;
    lt_pca p = {0};
    lt_pca_opts po;
    lt_pca_opts_init(&po);
    po.q = dim;
    float *y = malloc(sizeof(float) * (size_t)(n * dim));
    rc = y ? lt_vecs_memory(&v, src, n, din) : lt_error(LT_ENOMEM, "bandit: out of memory");
    if (!rc) rc = lt_pca_fit(lt_backend_cpu(), v, &po, &p);
    if (!rc) rc = lt_pca_project(lt_backend_cpu(), &p, v, y);
    lt_vecs_free(v);
    lt_pca_free(&p);
    free(src);
    if (rc) return free(y), rc;
    lt_cli_normalize_rows(y, n, dim);
    *feats = y;
    return 0;
}

/* Head: the floor(20 %) items with the most events (ties to the lower id); tail = the rest. */
static const int64_t *sort_freq;
static int by_freq(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return sort_freq[x] != sort_freq[y] ? (sort_freq[x] > sort_freq[y] ? -1 : 1) : (x > y) - (x < y);
}

static int tail_flags(const lt_events *ev, const int64_t *freq, uint8_t *tail) {
    int64_t n = ev->n_items;
    int32_t *order = malloc(sizeof *order * (size_t)n);
    if (!order) return lt_error(LT_ENOMEM, "bandit: out of memory");
    for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i, tail[i] = 1;
    sort_freq = freq;
    qsort(order, (size_t)n, sizeof *order, by_freq);
    for (int64_t k = 0; k < n / 5; k++) tail[order[k]] = 0;
    free(order);
    return 0;
}

/* ctx[u] = the normalised mean of the features of user u's events. */
static void user_contexts(const lt_events *ev, const float *feats, int64_t d, float *ctx) {
    for (int64_t u = 0; u < ev->n_users; u++) {
        float *c = ctx + u * d;
        memset(c, 0, sizeof(float) * (size_t)d);
        for (int64_t e = ev->user_off[u]; e < ev->user_off[u + 1]; e++)
            for (int64_t k = 0; k < d; k++) c[k] += feats[(int64_t)ev->item[e] * d + k];
    }
    lt_cli_normalize_rows(ctx, ev->n_users, d);
}

/* ---- the replay log ------------------------------------------------------------------------------ */

typedef struct {
    lt_bandit_log log;
    int32_t *cands, *shown;
    float *reward, *ctx;
    uint8_t *fresh;
} replay_log;

static const lt_events *sort_ev;
static int64_t *sort_user;
/* By time, then by position in the user's history, then by user: without timestamps (Beauty), every
 * user's first event, then every user's second, ... */
static int by_time(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int64_t px = x - sort_ev->user_off[sort_user[x]], py = y - sort_ev->user_off[sort_user[y]];
    int64_t tx = sort_ev->has_time ? sort_ev->time[x] : px, ty = sort_ev->has_time ? sort_ev->time[y] : py;
    if (tx != ty) return tx < ty ? -1 : 1;
    if (px != py) return px < py ? -1 : 1;
    return (x > y) - (x < y);
}

static void log_free(replay_log *l) { free(l->cands), free(l->shown), free(l->reward), free(l->ctx), free(l->fresh); }

/* Every event in time order; the last `last` of them (0: all) become the log. */
static int build_log(const lt_events *ev, const float *feats, int64_t d, int64_t K, int64_t last, uint64_t seed,
                     replay_log *l) {
    memset(l, 0, sizeof *l);
    int64_t N = ev->n_events, ni = ev->n_items;
    if (K > ni) return lt_error(LT_ECONFIG, "bandit.candidates = %lld: the catalog has %lld items", (long long)K, (long long)ni);
    int64_t n = last > 0 && last < N ? last : N, first = N - n;
    int64_t *order = malloc(sizeof *order * (size_t)N), *user = malloc(sizeof *user * (size_t)N);
    float *sum = calloc((size_t)(ev->n_users * d), sizeof(float));
    uint8_t *seen = calloc((size_t)ni, 1);
    l->cands = malloc(sizeof(int32_t) * (size_t)(n * K)), l->shown = malloc(sizeof(int32_t) * (size_t)n);
    l->reward = malloc(sizeof(float) * (size_t)n), l->ctx = malloc(sizeof(float) * (size_t)(n * d));
    l->fresh = malloc((size_t)(n * K));
    if (!order || !user || !sum || !seen || !l->cands || !l->shown || !l->reward || !l->ctx || !l->fresh) {
        free(order), free(user), free(sum), free(seen), log_free(l);
        return lt_error(LT_ENOMEM, "bandit: a log of %lld events does not fit in memory", (long long)n);
    }
    for (int64_t u = 0; u < ev->n_users; u++)
        for (int64_t e = ev->user_off[u]; e < ev->user_off[u + 1]; e++) user[e] = u;
    for (int64_t e = 0; e < N; e++) order[e] = e;
    sort_ev = ev, sort_user = user;
    qsort(order, (size_t)N, sizeof *order, by_time);
    for (int64_t k = 0; k < N; k++) {
        int64_t e = order[k], u = user[e];
        int32_t it = ev->item[e];
        float *s = sum + u * d;
        if (k >= first) {
            int64_t j = k - first;
            lt_rng r;
            lt_rng_init(&r, seed, 0x7e9 + (uint64_t)j);
            int32_t *c = l->cands + j * K;
            int64_t at = (int64_t)lt_rng_below(&r, (uint64_t)K);
            for (int64_t q = 0; q < K; q++) {
                if (q == at) {
                    c[q] = it;
                    continue;
                }
                int dup;
                do {
                    c[q] = (int32_t)lt_rng_below(&r, (uint64_t)ni);
                    dup = c[q] == it;
                    for (int64_t p = 0; p < q; p++) dup |= c[p] == c[q];
                } while (dup);
            }
            l->shown[j] = (int32_t)lt_rng_below(&r, (uint64_t)K); /* the uniform logger */
            l->reward[j] = l->shown[j] == at ? 1.0f : 0.0f;
            for (int64_t q = 0; q < K; q++) l->fresh[j * K + q] = !seen[c[q]];
            memcpy(l->ctx + j * d, s, sizeof(float) * (size_t)d);
            lt_cli_normalize_rows(l->ctx + j * d, 1, d);
        }
        for (int64_t q = 0; q < d; q++) s[q] += feats[(int64_t)it * d + q];
        seen[it] = 1;
    }
    free(order), free(user), free(sum), free(seen);
    l->log = (lt_bandit_log){.n = n, .K = K, .d = d, .cands = l->cands, .shown = l->shown, .reward = l->reward,
                             .ctx = l->ctx, .fresh = l->fresh};
    return 0;
}

/* ---- the command ----------------------------------------------------------------------------------- */

static int parse_policies(const char *spec, const lt_bandit_cfg *base, lt_bandit_cfg *out, int *n) {
    *n = 0;
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf) return lt_error(LT_ECONFIG, "bandit.policies: too long");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_POLICIES) return lt_error(LT_ECONFIG, "bandit.policies: at most %d", MAX_POLICIES);
        char *slash = strchr(tok, '/');
        if (slash) *slash = 0;
        int a = lt_bandit_algo_parse(tok), m = slash ? lt_bandit_models_parse(slash + 1) : LT_BANDIT_SHARED;
        if (a < 0 || m < 0 || (a != LT_BANDIT_RANDOM && !slash))
            return lt_error(LT_ECONFIG, "bandit.policies: '%s%s%s': expected random or ALGO/MODELS (ALGO egreedy, linucb or "
                            "thompson; MODELS shared or item)", tok, slash ? "/" : "", slash ? slash + 1 : "");
        out[*n] = *base;
        out[*n].algo = (lt_bandit_algo)a, out[*n].models = (lt_bandit_models)m;
        (*n)++;
    }
    return *n ? 0 : lt_error(LT_ECONFIG, "bandit.policies: none given");
}

static int write_json(FILE *f, const lt_bandit_stats *sim, int nsim, const lt_bandit_stats *rep, int nrep,
                      const char *what) {
    fprintf(f, "{\"features\": \"%s\"", what);
    for (int pass = 0; pass < 2; pass++) {
        const lt_bandit_stats *s = pass ? rep : sim;
        int n = pass ? nrep : nsim;
        if (!n) continue;
        fprintf(f, ", \"%s\": {", pass ? "replay" : "simulation");
        for (int i = 0; i < n; i++) {
            fputs(i ? ", " : "", f);
            lt_bandit_stats_json(f, &s[i], !pass);
        }
        fputs("}", f);
    }
    fputs("}\n", f);
    return ferror(f) ? lt_error(LT_EIO, "bandit: writing the JSON failed") : 0;
}

int lt_cmd_bandit(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("bandit", "--data DIR (--emb DIR | --model DIR) [--truth RAW/synth.ini] [--out DIR] [--json]", opts,
                         argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "bandit.data", NULL), *emb = lt_config_str(c, "bandit.emb", NULL);
    const char *model = lt_config_str(c, "bandit.model", NULL), *truth = lt_config_str(c, "bandit.truth", NULL);
    const char *out = lt_config_str(c, "bandit.out", NULL);
    const char *mode = lt_config_str(c, "bandit.mode", truth ? "both" : "replay");
    const char *pspec = lt_config_str(c, "bandit.policies",
                                      "random,egreedy/shared,egreedy/item,linucb/shared,linucb/item,thompson/shared,thompson/item");
    if (!data || (!emb && !model)) {
        fprintf(stderr, "longtail bandit: needs --data DIR and --emb DIR or --model DIR (longtail bandit --help)\n");
        lt_config_free(c);
        return 2;
    }
    lt_bandit_cfg base;
    lt_bandit_cfg_init(&base);
    int64_t dim = 16, rounds = 20000, pool = 200, K = 20, last = 0, seed = 1;
    int json = 0;
    int rc = lt_config_bool(c, "bandit.json", 0, &json);
    struct { const char *k; int64_t *dst; } ints[] = {{"bandit.dim", &dim}, {"bandit.rounds", &rounds}, {"bandit.pool", &pool},
                                                      {"bandit.candidates", &K}, {"bandit.events", &last}, {"bandit.seed", &seed}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints && !rc; i++) rc = lt_config_int(c, ints[i].k, *ints[i].dst, ints[i].dst);
    if (!rc) rc = lt_config_float(c, "bandit.epsilon", base.epsilon, &base.epsilon);
    if (!rc) rc = lt_config_float(c, "bandit.alpha", base.alpha, &base.alpha);
    if (!rc) rc = lt_config_float(c, "bandit.v", base.v, &base.v);
    if (!rc) rc = lt_config_float(c, "bandit.lambda", base.lambda, &base.lambda);
    base.seed = (uint64_t)seed;
    int do_sim = !strcmp(mode, "sim") || !strcmp(mode, "both"), do_rep = !strcmp(mode, "replay") || !strcmp(mode, "both");
    if (!rc && !do_sim && !do_rep) rc = lt_error(LT_ECONFIG, "bandit.mode: expected sim, replay or both, got '%s'", mode);
    if (!rc && do_sim && !truth) rc = lt_error(LT_ECONFIG, "bandit.mode = %s: the simulation needs --truth RAW/synth.ini", mode);
    if (!rc && (dim < 1 || rounds < 1 || pool < 1 || K < 2 || last < 0))
        rc = lt_error(LT_ECONFIG, "bandit: dim, rounds and pool >= 1, candidates >= 2, events >= 0");
    if (!rc && do_sim && K > pool) rc = lt_error(LT_ECONFIG, "bandit.candidates = %lld > bandit.pool = %lld", (long long)K, (long long)pool);
    lt_bandit_cfg pol[MAX_POLICIES];
    int np = 0;
    if (!rc) rc = parse_policies(pspec, &base, pol, &np);
    lt_synth_opts so;
    lt_synth_opts_init(&so);
    lt_config *tc = NULL;
    if (!rc && truth) {
        rc = lt_config_new(&tc);
        if (!rc) rc = lt_config_load(tc, truth);
        if (!rc) rc = lt_cli_synth_opts(tc, &so);
    }
    if (!rc && out) rc = lt_cli_out_dir("bandit.out", out);
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return lt_config_free(tc), 0;

    lt_backend *be = NULL;
    lt_events ev = {0};
    lt_catalog cat = {0};
    lt_synth_oracle *oracle = NULL;
    float *feats = NULL, *ctx = NULL;
    int64_t *freq = NULL, *synth_item = NULL, *synth_user = NULL;
    uint8_t *tail = NULL, *fresh = NULL;
    int32_t *poolv = NULL;
    lt_bandit_stats sim[MAX_POLICIES], rep[MAX_POLICIES];
    int nsim = 0, nrep = 0;
    replay_log lg = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/events.h5", data);
    if (!rc) rc = lt_events_load(&ev, path);
    if (!rc) rc = lt_cli_backend(lt_config_str(c, "bandit.device", "cpu"), "fp32", &be);
    if (!rc) rc = load_features(emb, model, be, &ev, dim, &feats);
    if (!rc) {
        freq = calloc((size_t)ev.n_items, sizeof *freq), tail = malloc((size_t)ev.n_items), fresh = malloc((size_t)ev.n_items);
        if (!freq || !tail || !fresh) rc = lt_error(LT_ENOMEM, "bandit: out of memory");
    }
    if (!rc) {
        for (int64_t e = 0; e < ev.n_events; e++) freq[ev.item[e]]++;
        for (int64_t i = 0; i < ev.n_items; i++) fresh[i] = freq[i] == 0;
        rc = tail_flags(&ev, freq, tail);
    }
    const char *what = model ? "item vectors" : "text embeddings";
    if (!rc && do_sim) { /* the ground truth: the shop's items and users behind the catalog's ids */
        rc = lt_synth_oracle_open(&oracle, &so);
        if (!rc) rc = lt_catalog_load_ids(&cat, data);
        synth_item = rc ? NULL : malloc(sizeof *synth_item * (size_t)ev.n_items);
        synth_user = rc ? NULL : malloc(sizeof *synth_user * (size_t)(ev.n_users ? ev.n_users : 1));
        ctx = rc ? NULL : malloc(sizeof *ctx * (size_t)(ev.n_users * dim));
        poolv = rc ? NULL : malloc(sizeof *poolv * (size_t)ev.n_items);
        if (!rc && (!synth_item || !synth_user || !ctx || !poolv)) rc = lt_error(LT_ENOMEM, "bandit: out of memory");
        for (int64_t i = 0; !rc && i < ev.n_items; i++) {
            size_t len;
            const char *s = lt_strs_get(&cat.item_id, i, &len);
            synth_item[i] = synth_index(s, len, 'I');
            if (synth_item[i] < 0 || synth_item[i] >= lt_synth_oracle_items(oracle))
                rc = lt_error(LT_EFORMAT, "%s: item '%.*s' is not an item of the shop %s describes", data, (int)len, s, truth);
        }
        for (int64_t u = 0; !rc && u < ev.n_users; u++) {
            size_t len;
            const char *s = lt_strs_get(&ev.user_id, u, &len);
            synth_user[u] = synth_index(s, len, 'U');
            if (synth_user[u] < 0 || synth_user[u] >= lt_synth_oracle_users(oracle))
                rc = lt_error(LT_EFORMAT, "%s: user '%.*s' is not a user of the shop %s describes", data, (int)len, s, truth);
        }
        if (!rc && pool > ev.n_items) rc = lt_error(LT_ECONFIG, "bandit.pool = %lld: the catalog has %lld items", (long long)pool, (long long)ev.n_items);
        if (!rc) {
            user_contexts(&ev, feats, dim, ctx);
            lt_rng pr;
            lt_rng_init(&pr, (uint64_t)seed, 0x9001);
            for (int64_t i = 0; i < ev.n_items; i++) poolv[i] = (int32_t)i;
            lt_rng_shuffle_i32(&pr, poolv, (size_t)ev.n_items);
        }
        truth_ud ud = {oracle, synth_item, synth_user};
        lt_bandit_sim env = {.n_users = ev.n_users, .d = dim, .n_pool = pool, .candidates = K, .rounds = rounds,
                             .ctx = ctx, .pool = poolv, .tail = tail, .fresh = fresh, .ctr = oracle_ctr, .ud = &ud,
                             .seed = (uint64_t)seed, .progress = !json};
        if (!rc) {
            int64_t nt = 0, nf = 0;
            for (int64_t k = 0; k < pool; k++) nt += tail[poolv[k]], nf += fresh[poolv[k]];
            lt_info("bandit: simulation on %s: %lld rounds, %lld candidates from a pool of %lld items (%lld tail, %lld new), "
                    "%s reduced to %lld dims, on %s", truth, (long long)rounds, (long long)K, (long long)pool,
                    (long long)nt, (long long)nf, what, (long long)dim, lt_backend_describe(be));
        }
        for (int i = 0; i < np && !rc; i++, nsim++) {
            lt_bandit *b = NULL;
            rc = lt_bandit_create(&b, be, &pol[i], feats, ev.n_items, dim, K);
            if (!rc) rc = lt_bandit_simulate(b, &env, &sim[i]);
            lt_bandit_free(b);
        }
    }
    if (!rc && do_rep) {
        rc = build_log(&ev, feats, dim, K, last, (uint64_t)seed, &lg);
        lg.log.tail = tail, lg.log.progress = !json;
        if (!rc)
            lt_info("bandit: replay of %lld events (%lld candidates each, the logged one uniform), %s reduced to %lld dims",
                    (long long)lg.log.n, (long long)K, what, (long long)dim);
        for (int i = 0; i < np && !rc; i++, nrep++) {
            lt_bandit *b = NULL;
            rc = lt_bandit_create(&b, be, &pol[i], feats, ev.n_items, dim, K);
            if (!rc) rc = lt_bandit_replay(b, &lg.log, &rep[i]);
            lt_bandit_free(b);
        }
    }
    if (!rc && json) rc = write_json(stdout, sim, nsim, rep, nrep, what);
    if (!rc && !json) {
        if (nsim) printf("simulation against the shop's ground truth (%s, %lld rounds of %lld candidates):\n", what,
                         (long long)rounds, (long long)K);
        for (int i = 0; i < nsim; i++) lt_bandit_stats_row(stdout, &sim[i], i == 0, 1);
        if (nrep) printf("%sreplay on the logged events (%s, %lld events of %lld candidates):\n", nsim ? "\n" : "", what,
                         (long long)lg.log.n, (long long)K);
        for (int i = 0; i < nrep; i++) lt_bandit_stats_row(stdout, &rep[i], i == 0, 0);
    }
    if (!rc && out) {
        rc = lt_mkdirs(out);
        if (!rc && nsim) {
            snprintf(path, sizeof path, "%s/regret_sim.svg", out);
            rc = lt_bandit_plot(path, "longtail bandit: regret against the shop's oracle", "rounds", sim, nsim);
        }
        if (!rc && nrep) {
            snprintf(path, sizeof path, "%s/regret_replay.svg", out);
            if (!rc) rc = lt_bandit_plot(path, "longtail bandit: replay regret (1 - reward per matched event)", "logged events", rep, nrep);
        }
        if (!rc) {
            char tmp[4300];
            snprintf(path, sizeof path, "%s/bandit.json", out);
            rc = lt_tmp_path(tmp, sizeof tmp, path);
            FILE *f = rc ? NULL : fopen(tmp, "w");
            if (!rc) rc = f ? write_json(f, sim, nsim, rep, nrep, what) : lt_error(LT_EIO, "%s: cannot write", tmp);
            if (f && fclose(f) != 0 && !rc) rc = lt_error(LT_EIO, "%s: cannot write", tmp);
            if (!rc && rename(tmp, path) != 0) rc = lt_error(LT_EIO, "%s: cannot rename into place", path);
            if (rc) remove(tmp);
            else if (!json) printf("\nwrote %s/bandit.json and the regret plots in %s\n", out, out);
        }
    }
    log_free(&lg);
    lt_synth_oracle_free(oracle);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    free(feats), free(ctx), free(freq), free(synth_item), free(synth_user), free(tail), free(fresh), free(poolv);
    lt_config_free(tc);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("bandit", rc) : 0;
}
