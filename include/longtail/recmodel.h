/* The next-item recommender (src/model/rec.c), written once on the op table:
 *
 *   item vector  v_i = W t_i + b  (+ e_i)        t_i: the item's text embedding (embed's shards, or
 *                                                any embedding shards); e_i: an item-id embedding,
 *                                                zeroed at random in training (id_dropout) so that
 *                                                text carries the signal, and absent for items never
 *                                                seen in training (scored by their text alone)
 *   user tower   h_1..h_T = LSTM or GRU(sqrt(d) v_{x_1}, ..., sqrt(d) v_{x_T}),  u_t = P h_t + c
 *                or (tower = transformer) u_1..u_T = the causal self-attention tower of sasrec.h
 *                (SASRec: `layers` pre-LN blocks of `heads` heads, width d, FFN width d, learned
 *                positions counted from the first item, dropout `dropout` inside) over the same
 *                inputs; no projection. Inference takes u at the last real position (len - 1); an
 *                empty history gives the tower's output for no input, its final LayerNorm's bias.
 *   loss         at every position t: cross-entropy of softmax_i(u_t . v_i) over the WHOLE
 *                catalog against the next item, computed in chunks (lt_catalog_xent), never
 *                B x T x N logits in memory
 *
 * Shapes: N items, Dt text dims, d item dims, H hidden, B users a batch, T positions. */
#ifndef LONGTAIL_RECMODEL_H
#define LONGTAIL_RECMODEL_H

#include <stdint.h>

#include "longtail/ops.h"
#include "longtail/param.h"
#include "longtail/rec.h"
#include "longtail/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LT_TOWER_RNN = 0, LT_TOWER_TRANSFORMER = 1 } lt_rec_tower;

typedef struct lt_rec_config {
    int64_t n_items, text_dim;  /* text_dim 0: no text (the id-only model) */
    int64_t dim, hidden;        /* d (default 64) and H (default 128) */
    lt_cell cell;               /* LT_CELL_LSTM (default) or LT_CELL_GRU */
    lt_rec_tower tower;         /* LT_TOWER_RNN (default: the cell above) or LT_TOWER_TRANSFORMER */
    int64_t layers, heads;      /* the transformer tower's blocks (default 2) and heads (default 1) */
    int use_id;                 /* item-id embeddings (default 1) */
    float id_dropout;           /* probability of zeroing an item's id part in a training step (0.5) */
    float dropout;              /* on the tower's outputs (0.3) */
    int64_t max_len;            /* positions per user (the last max_len + 1 items; default 50) */
    int64_t chunk;              /* items per chunk of the full softmax (default 4096) */
    /* the loss: the full softmax over every item (default), or a sampled softmax with the log-Q
     * correction over `negatives` items shared by the batch, drawn uniformly, in proportion to
     * popularity, or taken from the batch's own targets (in-batch negatives); for catalogs of
     * millions, where even a chunked full softmax costs too much per step */
    enum { LT_REC_LOSS_FULL = 0, LT_REC_LOSS_SAMPLED } loss;
    enum { LT_REC_NEG_UNIFORM = 0, LT_REC_NEG_POPULARITY, LT_REC_NEG_INBATCH } sampler;
    int64_t negatives;          /* S (default 1024; in-batch: the batch's targets) */
    double cold_boost;          /* serving: the new-item boost chosen at training (lt_rec_tune_cold_boost; the
                                 * description's "\ncold_boost=" line, appended after training; default 0) */
} lt_rec_config;

void lt_rec_config_init(lt_rec_config *c);
/* "rec cell=lstm items=12101 text=128 dim=64 hidden=128 id=1" (checked on load); a transformer tower
 * appends " tower=transformer layers=2 heads=1 max_len=50" (older descriptions parse as RNN towers) */
void lt_rec_config_describe(const lt_rec_config *c, char *buf, size_t cap);
int lt_rec_config_parse(const char *desc, lt_rec_config *c);

typedef struct lt_rec lt_rec;

/* text[n_items * text_dim] (host, copied to the backend; NULL when text_dim = 0). seen[n_items]:
 * 1 for items with training interactions (others never get an id part); NULL: all. */
int lt_rec_create(lt_rec **out, lt_backend *be, const lt_rec_config *c, const float *text, const uint8_t *seen,
                  uint64_t seed);
void lt_rec_free(lt_rec *m);
/* Item popularity (training frequencies, [n_items]) for the popularity and in-batch samplers and
 * their log-Q correction. Needed before training with those samplers. */
int lt_rec_set_popularity(lt_rec *m, const int64_t *freq);
lt_params *lt_rec_params(lt_rec *m);
const lt_rec_config *lt_rec_get_config(const lt_rec *m);

/* One training micro-batch: B histories (items[b * T .. ], lens[b] >= 2; inputs are items[0 ..
 * len - 2], targets items[1 .. len - 1]), forward and backward into the gradients. *loss is the
 * mean cross-entropy over the positions. Dropouts are keyed by the step (the tower's dropout by the
 * rank too; the item-id dropout, a mask over the catalog, by the step alone). On several ranks
 * (s->ranks > 1, a collective call) the loss is the mean over every rank's targets, so the ranks'
 * averaged gradient is that of one rank with the whole batch; a rank may then have B = 0. */
int lt_rec_train_batch(lt_rec *m, const int32_t *items, const int32_t *lens, int64_t B, int64_t T, const lt_step *s,
                       double *loss);

/* Inference: the user vectors u[B, d] after each history (host ids, lens >= 0; an empty history
 * gives the tower's output for no input), and the item vectors, into host arrays. */
int lt_rec_item_vectors(lt_rec *m, float *out);
int lt_rec_user_vectors(lt_rec *m, const int32_t *items, const int32_t *lens, int64_t B, int64_t T, float *out);

/* The model as an evaluation target (lt_rec_evaluate): top K of u . v (+ the score bias) over the
 * catalog with the case's exclusions, scored by lt_score_topk as recommend does. */
lt_rec_model lt_rec_as_model(lt_rec *m, const char *name);
/* A per-item bias[n_items] (host) added to every score of the evaluation target, e.g. the tail boost
 * beta log(1 / popularity); NULL removes it. */
int lt_rec_set_score_bias(lt_rec *m, const float *bias);

/* ---- training on a split (src/train/rec_train.c) --------------------------------------------------- */

typedef struct lt_rec_train_opts {
    lt_trainer_cfg trainer;     /* lr, schedule, checkpoints, patience; steps come from epochs */
    int64_t epochs, batch;      /* batch: users per rank and micro-batch (global batch: batch x ranks) */
    int64_t eval_users;         /* validation NDCG@10 on this many users (0: all) */
    lt_comm *comm;              /* the job's ranks (lt_comm_world; NULL: one) */
} lt_rec_train_opts;

/* Train on the split's training portions with validation NDCG@10 every epoch and early stopping;
 * the best weights are loaded back at the end. 0, LT_TRAIN_STOPPED or an error. */
int lt_rec_train(lt_rec *m, const lt_rec_split *s, const lt_rec_train_opts *o);

/* The new-item boost chosen on validation: items never trained on are scored by their text alone and
 * lose to warm items whose id part adds what their interactions taught, so serving adds gamma to their
 * scores. *gamma = the largest of 0.25, 0.5, 1, 1.5, 2, 3 whose validation NDCG@10 stays within
 * `tolerance` (a fraction, e.g. 0.02) of the unboosted one; 0 when no item or validation target is new.
 * The model's score bias is left unset. */
int lt_rec_tune_cold_boost(lt_rec *m, const lt_rec_split *s, double tolerance, double *gamma);

#ifdef __cplusplus
}
#endif
#endif
