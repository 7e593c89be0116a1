/* Exploration over candidate items (longtail bandit): linear contextual bandits whose ridge models
 * live on the backend (ops.h, lt_ridge_update / lt_ridge_score: Sherman-Morrison rank-1 updates of
 * the inverse), and their offline evaluation.
 *
 * Features. Every item has a feature vector f_i (its text embedding or its trained item vector,
 * reduced by PCA and L2-normalised by the caller, width d); a round's user comes with a context c (the
 * normalised mean of the features of the user's past items, width d).
 *   shared model    one ridge model over x = [sqrt(d) (f_i * c), f_i, 1] (D = 2d + 1): it learns
 *                   which directions of the feature space this kind of user rewards, so what it learns
 *                   from one item carries to every item, new ones included, through their features;
 *   per-item models one ridge model per item over x = [c, 1] (D = d + 1), Li et al.'s disjoint LinUCB:
 *                   it learns each item's audience, but only from that item's own impressions.
 * Policies: random (never learns: the floor), epsilon-greedy (the ridge estimate, a random candidate
 * with probability epsilon), LinUCB (Li et al., WWW 2010: estimate + alpha sqrt(x^T A^-1 x)) and linear
 * Thompson sampling (Agrawal & Goyal, ICML 2013: theta drawn from N(theta_hat, v^2 A^-1); per-item
 * models draw each candidate's score from its own posterior, which is the same thing as their models
 * are independent; the shared model draws one theta per round through a Cholesky factor of A^-1,
 * computed on the host from the backend's matrix).
 *
 * Evaluation.
 *   simulation (the synthetic shop): each round a random user, `candidates` items drawn from a pool,
 *     the policy shows one, the user clicks with the probability the shop's ground truth gives
 *     (synth.h, lt_synth_oracle_ctr); regret = the best candidate's click probability minus the shown
 *     one's, summed over rounds. The users, candidates and coins are the same for every policy.
 *   replay (Li et al., WSDM 2011), on any logged data: events (context, candidates, the candidate the
 *     logging policy showed uniformly at random, its reward) in time order; the policy picks a
 *     candidate; only when it equals the logged one does the event count (its reward is the policy's
 *     and the policy learns from it); other events are skipped. With a uniform logger this estimates
 *     the policy's click-through rate without bias. Regret there is against a policy that always
 *     picks the rewarded candidate (1 per counted event minus the reward).
 * Exposure: the share of the policy's choices (every round or event, counted or not) that are tail
 * items and new items (flags given per item, or per event and candidate). */
#ifndef LONGTAIL_BANDIT_H
#define LONGTAIL_BANDIT_H

#include <stdint.h>
#include <stdio.h>

#include "longtail/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LT_BANDIT_RANDOM = 0, LT_BANDIT_EGREEDY, LT_BANDIT_LINUCB, LT_BANDIT_THOMPSON } lt_bandit_algo;
typedef enum { LT_BANDIT_SHARED = 0, LT_BANDIT_PER_ITEM } lt_bandit_models;

typedef struct lt_bandit_cfg {
    lt_bandit_algo algo;
    lt_bandit_models models;
    double epsilon; /* epsilon-greedy's exploration rate (default 0.1) */
    double alpha;   /* LinUCB's width (default 0.5) */
    double v;       /* Thompson's posterior scale (default 0.1) */
    double lambda;  /* ridge penalty: A starts at lambda I (default 1) */
    uint64_t seed;
} lt_bandit_cfg;

void lt_bandit_cfg_init(lt_bandit_cfg *c);
/* "linucb/shared", "random", ... into buf. */
void lt_bandit_name(const lt_bandit_cfg *c, char *buf, size_t cap);
/* "random", "egreedy", "linucb", "thompson" and "shared", "item": -1 when unknown. */
int lt_bandit_algo_parse(const char *s);
int lt_bandit_models_parse(const char *s);

typedef struct lt_bandit lt_bandit;

/* feats[n_items, d] (host, copied); max_cands: the most candidates a round may have. */
int lt_bandit_create(lt_bandit **out, lt_backend *be, const lt_bandit_cfg *cfg, const float *feats, int64_t n_items,
                     int64_t d, int64_t max_cands);
void lt_bandit_free(lt_bandit *b);
/* The candidate (index into cands[K]) the policy shows to a user with context ctx[d]. */
int lt_bandit_choose(lt_bandit *b, const float *ctx, const int32_t *cands, int64_t K, int64_t *choice);
/* Learn from one shown item and its reward. */
int lt_bandit_update(lt_bandit *b, const float *ctx, int32_t item, float reward);

/* What a policy did over one evaluation. */
#define LT_BANDIT_CURVE 100 /* points of the regret curve */
typedef struct lt_bandit_stats {
    char name[48];
    int64_t rounds;  /* decisions made */
    int64_t counted; /* rounds that count (simulation: all; replay: the matched events) */
    double clicks;   /* rewards of the counted rounds */
    double regret;   /* cumulative regret over the counted rounds */
    double expected; /* simulation: the expected clicks (sum of the shown items' click probabilities) */
    double oracle;   /* simulation: the expected clicks of the oracle (the best candidate every round) */
    int64_t tail, fresh;            /* choices of tail items and of new items */
    double curve[LT_BANDIT_CURVE];  /* cumulative regret after (k + 1) / LT_BANDIT_CURVE of the rounds */
    double seconds;
} lt_bandit_stats;

/* The synthetic shop as an environment: user contexts ctx[n_users, d]; each round draws a user
 * (uniform) and `candidates` distinct items of pool[n_pool]; ctr(ud, user, items, n, p) gives the
 * click probabilities. tail[n_items] and fresh[n_items]: flags of tail and new items. */
typedef struct lt_bandit_sim {
    int64_t n_users, d, n_pool, candidates, rounds;
    const float *ctx;
    const int32_t *pool;
    const uint8_t *tail, *fresh;
    void (*ctr)(void *ud, int64_t user, const int32_t *items, int64_t n, double *p);
    void *ud;
    uint64_t seed; /* users, candidates and coins: the same for every policy */
    int progress;
} lt_bandit_sim;
int lt_bandit_simulate(lt_bandit *b, const lt_bandit_sim *env, lt_bandit_stats *st);

/* A log for replay: n events of K candidates each (cands[n, K] item ids), the index of the one the
 * logger showed (shown[n], uniform over the K), its reward[n], the user's context ctx[n, d] at that
 * time, tail[n_items] and fresh[n, K] (1: the candidate had no event before this one). */
typedef struct lt_bandit_log {
    int64_t n, K, d;
    const int32_t *cands, *shown;
    const float *reward, *ctx;
    const uint8_t *tail, *fresh;
    int progress;
} lt_bandit_log;
int lt_bandit_replay(lt_bandit *b, const lt_bandit_log *log, lt_bandit_stats *st);

/* Output: a table row (header once), one JSON member "name": {...} (no trailing comma), and the
 * regret curves of n policies as an SVG. */
void lt_bandit_stats_row(FILE *f, const lt_bandit_stats *s, int header, int sim);
void lt_bandit_stats_json(FILE *f, const lt_bandit_stats *s, int sim);
int lt_bandit_plot(const char *path, const char *title, const char *xlabel, const lt_bandit_stats *s, int n);

#ifdef __cplusplus
}
#endif
#endif
