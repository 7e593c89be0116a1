/* Embedding shards: one vector per catalog item, one shard per token shard.
 *
 * DIR/emb-NNNNN.h5, schema "embeddings/1":
 *   emb [n, dim]  f32 or bf16 (HDF5 u16 with a bf16 marker; read back as f32 by lt_emb_read)
 *   attributes: item_begin, n_items, n_items_total, shard_index, shard_count, dim, normalized
 *               (1: rows have unit L2 norm), model (a description of what made them) */
#ifndef LONGTAIL_EMBEDDINGS_H
#define LONGTAIL_EMBEDDINGS_H

#include <stdint.h>

#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_emb_shard {
    int64_t item_begin, n, n_total, shard_index, shard_count, dim;
    int normalized;
    float *data; /* [n, dim] f32 in memory */
} lt_emb_shard;

/* Write one shard (atomically); stored as f32 or bf16. */
int lt_emb_shard_write(const char *path, const lt_emb_shard *s, lt_dtype stored, const char *model);
int lt_emb_shard_read(const char *path, lt_emb_shard *s);
void lt_emb_shard_free(lt_emb_shard *s);
/* "DIR/emb-00003.h5" */
void lt_emb_shard_path(char *buf, size_t cap, const char *dir, int64_t index);

/* All shards of DIR, checked to form one complete set, concatenated: out[n, dim] f32 (malloc'd). */
int lt_emb_load_all(const char *dir, float **out, int64_t *n, int64_t *dim);

#ifdef __cplusplus
}
#endif
#endif
