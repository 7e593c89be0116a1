/* Helpers shared by the commands around the trained recommender (eval, recommend, similar):
 * loading a model from OUT/rec.h5, the long-tail boost, temporary item-vector shards, CSV fields. */
#ifndef LONGTAIL_CLI_REC_CLI_H
#define LONGTAIL_CLI_REC_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "longtail/backend.h"
#include "longtail/data.h"
#include "longtail/recmodel.h"
#include "longtail/shard.h"

/* A trained recommender from DIR/rec.h5: its description, its text embeddings (emb_override, else the
 * folder recorded at training), its weights. freq[n_items]: training interactions (items with none get
 * no id part, as in training). When text is not NULL and the model has text, *text receives the text
 * embeddings (n_items x text_dim, malloc'd) instead of them being freed. */
/* The text embeddings of every catalog item from the shards in DIR: text[n_items x *dim] (malloc'd),
 * or an error naming both counts; want_dim > 0 also requires that width. */
int lt_cli_load_text(const char *dir, int64_t n_items, int64_t want_dim, float **text, int64_t *dim);
/* The description a trained recommender keeps in DIR/rec.h5: its configuration line, then optional
 * "\ntime_split=F" (train --time-split), "\nemb=DIR" and "\ncold_boost=G" (the new-item boost chosen at
 * training), one per line. */
int lt_cli_rec_desc(const char *dir, char *desc, size_t cap);
/* The "model" description of any trained model's file (rec.h5, classify.h5, ...). */
int lt_cli_model_desc(const char *path, char *desc, size_t cap);
int lt_cli_load_rec(const char *dir, const char *emb_override, lt_backend *be, int64_t n_items, const int64_t *freq,
                    lt_rec **out, float **text);

/* The long-tail boost, an additive per-item bias on the scores:
 *   bias_i = beta * log(1 / p_i),   p_i = (freq_i + 1) / (sum_j freq_j + n)
 * (popularity = frequency + 1, as a share of the catalog's interactions). log(1/p_i) is positive and
 * largest for the rarest items; a constant shift of it would not change any ranking. */
void lt_cli_tail_bias(const int64_t *freq, int64_t n, double beta, float *bias);
/* The new-item boost: bias_i += gamma for every item with no training interaction (freq_i = 0), which
 * the model scores by its text alone; gamma > 0 gives new products exposure they cannot earn yet. */
void lt_cli_cold_boost(const int64_t *freq, int64_t n, double gamma, float *bias);

/* Write v[n, d] as embedding shards DIR/emb-NNNNN.h5 of per_shard rows (DIR is created). */
int lt_cli_write_vec_shards(const char *dir, const float *v, int64_t n, int64_t d, int64_t per_shard, int normalized,
                            const char *model);
/* Remove the emb-*.h5 shards of DIR and DIR itself (a temporary folder of the above). */
void lt_cli_remove_vec_shards(const char *dir);

/* Remove OUT/.item_vectors-PID folders (the temporary shards of recommend and similar) whose process is
 * gone: what a killed run left behind. */
void lt_cli_sweep_vec_dirs(const char *out);

/* One CSV field, quoted when it holds a comma, quote or line break. */
void lt_cli_csv_field(FILE *f, const char *s, size_t len);
/* PATH, atomically: the header line, then "key,rank,item,score" for every row's top K (an item -1
 * ends a row). Row i's key is names[keys64[i]] (or names[keys32[i]]), items are item_ids[items]. */
/* The same lists into an open shard s: row_set (keys64 as i64 or keys32 as i32, [n]) with their names
 * as the ragged row_names, item_set (i32 [n, K], -1 where fewer) with their ids as the ragged item_names
 * ("" for -1), "scores" (f32 [n, K]) and the attributes k and n_items (= item_ids->n). The caller adds
 * its own attributes and commits. */
int lt_cli_write_topk_h5(lt_shard *s, const char *row_set, const char *row_names, const lt_strs *names,
                         const int64_t *keys64, const int32_t *keys32, int64_t n, int K, const char *item_set,
                         const char *item_names, const lt_strs *item_ids, const int32_t *items, const float *scores);
int lt_cli_write_topk_csv(const char *path, const char *header, const lt_strs *names, const int64_t *keys64,
                          const int32_t *keys32, int64_t n, int K, const lt_strs *item_ids, const int32_t *items,
                          const float *scores);

/* Unit L2 norm for every row of x[n, d] (zero rows stay zero). */
void lt_cli_normalize_rows(float *x, int64_t n, int64_t d);


/* An info line "what: resident N MB (peak so far M MB)" from /proc/self/status (nothing elsewhere). */
void lt_cli_log_memory(const char *what);

#endif
