/* The recommender's data and its evaluation: the leave-one-out split with cold items held out,
 * the metrics (accuracy and long-tail reach), and the baselines every model is compared with.
 *
 * Protocol (the one of ../shared/REFERENCE.md): each user's last item is the test target, the
 * second-to-last the validation target, the rest the training portion. Every item of the catalog
 * is scored and every item of the user's history before the target is excluded. Head = the
 * floor(20 %) most frequent items of the training portions (ties to the lower id), tail = the rest.
 * Cold items are removed from every training portion and from every history given to a model as
 * input; they are still targets of the validation and test cases. */
#ifndef LONGTAIL_REC_H
#define LONGTAIL_REC_H

#include <stdint.h>
#include <stdio.h>

#include "longtail/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_rec_split {
    int64_t n_users, n_items;
    const lt_events *ev;     /* borrowed: the raw histories (exclusions come from them) */
    uint8_t *cold;           /* [n_items] 1: held out of training */
    int64_t n_cold;
    int64_t *off;            /* [n_users + 1] into seq: each user's training portion, cold items removed */
    int32_t *seq;
    int32_t *valid, *test;   /* [n_users] targets, -1 when the user has fewer than 3 events */
    int64_t *freq;           /* [n_items] interactions in the training portions */
    uint8_t *head;           /* [n_items] 1 for the head */
    int32_t *by_pop;         /* [n_items] items by training frequency, most frequent first, ties to the lower id */
    int64_t n_head;
} lt_rec_split;

/* cold: [n_items] flags or NULL (none). */
int lt_rec_split_make(const lt_events *ev, const uint8_t *cold, lt_rec_split *s);
void lt_rec_split_free(lt_rec_split *s);

/* The time split by position (longtail train --time-split, longtail update): out holds, for every user,
 * the first events of the history, all but its last floor((1 - keep) n) (the later period that a
 * model trained on `out` has not seen). 0 < keep <= 1. out->user_id is left empty; free out with
 * lt_events_free. */
int lt_rec_time_split(const lt_events *ev, double keep, lt_events *out);

/* Cold items from "FILE" (one catalog item id per line, as in the catalog's item_id) or from
 * "FRACTION" (0 < f < 1: that share of the catalog, drawn with seed). cold[n_items] is malloc'd. */
int lt_rec_cold_items(const char *spec, const lt_strs *item_ids, int64_t n_items, uint64_t seed, uint8_t **cold);

/* What a model is given for one evaluation case: the history it may use (cold items removed), the
 * items to exclude (the raw history before the target) and where to put its top K. */
typedef enum { LT_REC_VALID = 0, LT_REC_TEST = 1 } lt_rec_phase;

/* A model under evaluation: top[n * K] for users[n] (each row sorted best first; -1 pads). */
typedef struct lt_rec_model {
    const char *name;
    void *ctx;
    int (*topk)(void *ctx, const lt_rec_split *s, lt_rec_phase ph, const int32_t *users, int64_t n, int K,
                int32_t *top);
} lt_rec_model;

/* The input history of a user for a phase: the training portion, plus the validation item (when
 * not cold) for the test phase. Returns its length; *items points into scratch (cap >= length). */
int64_t lt_rec_history(const lt_rec_split *s, lt_rec_phase ph, int32_t u, int32_t *scratch);
/* The items to exclude for a case: the raw history before the target. */
int64_t lt_rec_excluded(const lt_rec_split *s, lt_rec_phase ph, int32_t u, const int32_t **items);

/* The K best of row[n] (best first, ties to the lower index; -inf entries never chosen, -1 pads). */
void lt__rec_topk_row(const float *row, int64_t n, int K, int32_t *out);

#define LT_REC_K 100 /* top-K each model returns: recall/NDCG at 10 and 20, MRR over the top 100 */

typedef struct lt_rec_metrics {
    const char *model;
    int64_t cases, tail_cases, cold_cases;
    double recall10, recall20, ndcg10, ndcg20, mrr, tail_recall10, cold_recall20;
    double se_recall10, se_recall20, se_ndcg10, se_ndcg20, se_mrr, se_tail_recall10, se_cold_recall20;
    double aplt10, coverage10, gini10, se_aplt10;
    double seconds;
} lt_rec_metrics;

/* Evaluate one model on every user with a target in that phase; users in batches of `batch`. */
int lt_rec_evaluate(const lt_rec_split *s, lt_rec_phase ph, const lt_rec_model *m, int64_t batch, lt_rec_metrics *out);
/* One JSON member "name": {...} (no trailing comma), and a table row. */
void lt_rec_metrics_json(FILE *f, const lt_rec_metrics *m);
void lt_rec_metrics_row(FILE *f, const lt_rec_metrics *m, int header);

/* ---- baselines ------------------------------------------------------------------------------------ */

/* Popularity: the most frequent training items the user has not seen. */
lt_rec_model lt_rec_popularity(void);

/* Implicit ALS (Hu, Koren & Volinsky, ICDM 2008): confidence 1 + alpha for observed (user, item)
 * pairs of the training portions, preference 1; factors by alternating exact least squares on
 * BLAS. The user factor of an evaluation case is solved from that case's input history, so the
 * validation and test items count as they would in production (fold-in). */
typedef struct lt_als_cfg {
    int64_t factors, iters;
    double reg, alpha;
    uint64_t seed;
} lt_als_cfg;
void lt_als_cfg_init(lt_als_cfg *c); /* 64 factors, 15 iterations, reg 0.1 (x n_u), alpha 20 */
typedef struct lt_als lt_als;
int lt_als_train(const lt_rec_split *s, const lt_als_cfg *c, lt_als **out);
lt_rec_model lt_als_model(lt_als *a);
void lt_als_free(lt_als *a);

#ifdef __cplusplus
}
#endif
#endif
