/* Training data for the text encoder: masked-language-model batches and co-interaction pairs.
 * Pure functions of (seed, step), so a resumed run masks exactly what the original would have. */
#ifndef LONGTAIL_PRETRAIN_H
#define LONGTAIL_PRETRAIN_H

#include <stdint.h>

#include "longtail/comm.h"

#include "longtail/backend.h"
#include "longtail/data.h"
#include "longtail/rng.h"
#include "longtail/wordpiece.h"

#ifdef __cplusplus
extern "C" {
#endif

/* BERT's masking: each real word piece (not [CLS]/[SEP]/[PAD]) is chosen with probability p
 * (0.15); a chosen piece becomes [MASK] 80 % of the time, a random non-special piece 10 %, and
 * stays 10 %. At least one piece of every sequence with one is chosen.
 *   ids[B, T] (changed in place), lens[B];  out: pos[*n] = b * T + t of the chosen pieces,
 *   target[*n] = their original ids. pos/target need room for B * T entries. */
typedef struct lt_mlm_opts {
    float p;
    int32_t mask_id, vocab, first_normal; /* random replacements come from [first_normal, vocab) */
    int32_t cls_id, sep_id, pad_id;
} lt_mlm_opts;

int lt_mlm_opts_from_vocab(lt_mlm_opts *o, const lt_vocab *v);
int64_t lt_mlm_mask(const lt_mlm_opts *o, uint64_t seed, uint64_t step, int32_t *ids, const int32_t *lens, int64_t B,
                    int64_t T, int64_t *pos, int32_t *target);
/* The same for rows row0 .. row0 + B - 1 of a larger batch: row b draws what row row0 + b of the
 * whole batch would (a rank's share of a data-parallel batch masks as the single rank would). */
int64_t lt_mlm_mask_rows(const lt_mlm_opts *o, uint64_t seed, uint64_t step, int64_t row0, int32_t *ids,
                         const int32_t *lens, int64_t B, int64_t T, int64_t *pos, int32_t *target);

/* Co-interaction pairs for contrastive fine-tuning: items next to each other in a user's history
 * (a, b) with a != b, each unordered pair once, in a deterministic order. The last `holdout`
 * events of every history are left out (2 under leave-one-out evaluation: the validation and test
 * targets must not teach the encoder). max_pairs > 0 keeps an even subsample. */
typedef struct lt_pairs {
    int64_t n;
    int32_t *a, *b;
} lt_pairs;

int lt_pairs_from_events(const lt_events *e, int64_t holdout, int64_t max_pairs, lt_pairs *out);
void lt_pairs_free(lt_pairs *p);

/* ---- the pretraining run (src/train/pretrain.c) -------------------------------------------------- */

/* `longtail pretrain` without its command line: masked-LM on the token shards in DATA, then
 * optionally co-interaction contrastive fine-tuning, on the trainer (include/longtail/trainer.h),
 * resumable from OUT/pretrain.ckpt.h5. Writes OUT/config.json + OUT/model.safetensors when done. */
typedef struct lt_pretrain_opts {
    const char *data, *out, *init, *events;
    const char *cold_items; /* FILE or FRACTION (with seed) of items whose pairs the contrastive phase never sees */
    int64_t steps, batch, warmup, contrastive_steps, pair_batch, ckpt_every, log_every, seed, stop_after, holdout;
    int64_t accum; /* micro-batches per step */
    int64_t layers, hidden, heads, ffn;
    double lr, temperature;
    double dropout;  /* hidden dropout of a new encoder */
    lt_comm *comm;   /* the job's ranks (NULL: one). Masked-LM reads the token shards striped
                        (lt_loader_opts.stripe): W ranks with batch B train as one rank with B W */
} lt_pretrain_opts;

/* 0: finished; 1 (LT_TRAIN_STOPPED): stopped after o->stop_after, run again to continue. */
int lt_pretrain(lt_backend *be, const lt_pretrain_opts *o);

#ifdef __cplusplus
}
#endif
#endif
