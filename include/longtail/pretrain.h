/* Training data for the text encoder: masked-language-model batches and co-interaction pairs.
 * Pure functions of (seed, step), so a resumed run masks exactly what the original would have. */
#ifndef LONGTAIL_PRETRAIN_H
#define LONGTAIL_PRETRAIN_H

#include <stdint.h>

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

#ifdef __cplusplus
}
#endif
#endif
