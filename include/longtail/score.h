/* Top-K scoring over a catalog stored as item-vector shards (the embedding-shard format of
 * embeddings.h: DIR/emb-NNNNN.h5). One function serves evaluation, `recommend` and `similar`:
 * the shards are read one at a time (memory stays flat in the catalog size), each is uploaded to
 * the backend and scored for every batch of users with lt_score_topk (a fused GEMM + running
 * top-K with exclusions), so the result is the top-K over the whole catalog. */
#ifndef LONGTAIL_SCORE_H
#define LONGTAIL_SCORE_H

#include <stdint.h>

#include "longtail/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_topk_query {
    const float *u;           /* [B, D] query vectors (users, or items for `similar`), on the host */
    int64_t B, D;             /* D must equal the shards' dim */
    int K;                    /* 1 <= K <= LT_TOPK_MAX */
    const float *item_bias;   /* [n_items_total] added to every score, on the host; NULL: none */
    const int64_t *excl_off;  /* exclusions as CSR on the host: row b skips excl_ids[excl_off[b] ..
                               * excl_off[b + 1]) (item ids; ids outside the catalog are ignored) */
    const int32_t *excl_ids;  /* both NULL: no exclusions */
    int64_t batch;            /* query rows per scoring call (bounds device memory); 0: all B */
} lt_topk_query;

/* vals[B, K], idx[B, K] (host) = the K best items of the catalog in emb_dir for each query row,
 * sorted descending, ties to the lower item id; -inf / -1 where fewer than K items remain. */
int lt_topk_shards(lt_backend *be, const char *emb_dir, const lt_topk_query *q, float *vals, int32_t *idx);

#ifdef __cplusplus
}
#endif
#endif
