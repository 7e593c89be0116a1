/* Bulk (re-)embedding of a catalog: token shards in, embedding shards out, one shard at a time.
 *
 * Memory stays flat whatever the catalog size: the shard being encoded, the next one being read
 * (a reader thread) and the previous one being written (a writer thread). Within a shard, items
 * are encoded in batches of similar length (sorted by length), so padding costs almost nothing.
 * A finished shard is written to a temporary name and renamed; a restarted run skips shards that
 * are already complete and, since every batch depends only on its shard, produces byte-identical
 * output to an uninterrupted run. */
#ifndef LONGTAIL_EMBED_H
#define LONGTAIL_EMBED_H

#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What turns token ids into vectors (the BERT encoder, or anything else). */
typedef struct lt_encoder {
    void *ctx;
    int64_t dim;
    int normalized;     /* rows come out with unit L2 norm */
    const char *model;  /* recorded in the shards */
    lt_backend *be;     /* where it computes (may be NULL): batch buffers come from its page-locked
                           host memory, so a GPU encoder's copies run at full bus speed */
    /* out[B, dim] (host memory) for ids[B, T] (padded) with real lengths lens[B]. */
    int (*encode)(void *ctx, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, float *out);
} lt_encoder;

typedef struct lt_embed_opts {
    int64_t max_batch;   /* rows per batch (default 256) */
    int64_t max_tokens;  /* and at most this many padded tokens per batch (default 16384) */
    lt_dtype stored;     /* LT_F32 or LT_BF16 */
    int64_t stop_after;  /* testing: return after this many shards were written (0: all) */
    int progress;
    int rank, ranks;     /* data parallel: this rank embeds shards rank, rank + ranks, ... (0 of 1: all) */
} lt_embed_opts;

typedef struct lt_embed_stats {
    int64_t shards, skipped, items, tokens, padded;
    double seconds, items_per_s;
} lt_embed_stats;

void lt_embed_opts_init(lt_embed_opts *o);
int lt_embed_run(const char *tokens_dir, const char *out_dir, const lt_encoder *enc, const lt_embed_opts *o,
                 lt_embed_stats *st);

#ifdef __cplusplus
}
#endif
#endif
