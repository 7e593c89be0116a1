/* Top-K over item-vector shards (include/longtail/score.h): one shard in memory at a time, every
 * batch of query rows scored against it with lt_score_topk, the running top-K kept on the host
 * between shards (B x K values, whatever the catalog's size). On the CPU backend the host arrays
 * are used in place; on a device, a batch's rows, its running top-K and the shard are uploaded
 * and the top-K read back after each (shard, batch): transfers are O(batch (D + K) + shard),
 * small beside the batch x shard x D multiply-adds. */
#include "longtail/score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "longtail/embeddings.h"
#include "longtail/error.h"
#include "longtail/ops.h"

/* t = a tensor with host data h: a view on the CPU backend, else a device copy (alloc'd) */
static int place(lt_backend *be, lt_tensor *t, const void *h, lt_dtype dt, int ndim, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    lt_tensor host = lt_view((void *)h, dt, LT_CPU, ndim, shape);
    if (lt_backend_device(be) == LT_CPU) {
        *t = host;
        return 0;
    }
    LT_TRY(lt_tensor_new(t, be, dt, ndim, shape));
    int rc = lt_tensor_copy(be, t, &host);
    if (rc) lt_tensor_free(be, t);
    return rc;
}

static void unplace(lt_backend *be, lt_tensor *t) {
    if (lt_backend_device(be) != LT_CPU && t->data) lt_tensor_free(be, t);
    t->data = NULL;
}

/* copy a device tensor back into host memory h (nothing to do on the CPU: it was a view) */
static int fetch(lt_backend *be, void *h, const lt_tensor *t) {
    if (lt_backend_device(be) == LT_CPU) return 0;
    lt_tensor host = lt_view(h, t->dtype, LT_CPU, t->ndim, t->shape);
    LT_TRY(lt_tensor_copy(be, &host, t));
    return lt_backend_sync(be);
}

int lt_topk_shards(lt_backend *be, const char *dir, const lt_topk_query *q, float *vals, int32_t *idx) {
    if (!q || !dir || !vals || !idx) return lt_error(LT_EINVAL, "topk_shards: NULL argument");
    if (q->B < 0 || q->D < 1 || (q->B > 0 && !q->u))
        return lt_error(LT_EINVAL, "topk_shards: query of %lld rows of %lld needs u", (long long)q->B, (long long)q->D);
    if (q->K < 1 || q->K > LT_TOPK_MAX)
        return lt_error(LT_EINVAL, "topk_shards: K = %d must be in 1..%d", q->K, LT_TOPK_MAX);
    if ((q->excl_off == NULL) != (q->excl_ids == NULL))
        return lt_error(LT_EINVAL, "topk_shards: excl_off and excl_ids go together (both or neither)");
    int64_t B = q->B, D = q->D, K = q->K, batch = q->batch > 0 && q->batch < B ? q->batch : B;
    for (int64_t i = 0; i < B * K; i++) vals[i] = -INFINITY, idx[i] = -1;
    char **names;
    int count;
    LT_TRY(lt_list_shards(dir, "emb-", &names, &count));
    if (!count) {
        lt_free_names(names, count);
        return lt_error(LT_ENOENT, "%s: no emb-NNNNN.h5 shards", dir);
    }
    int rc = 0;
    lt_tensor off = {0}, ex = {0};
    int64_t n_ex = q->excl_off ? q->excl_off[B] : 0;
    if (q->excl_off) {
        rc = place(be, &off, q->excl_off, LT_I64, 1, B + 1, 0);
        if (!rc) rc = place(be, &ex, q->excl_ids, LT_I32, 1, n_ex > 0 ? n_ex : 1, 0);
    }
    int64_t total = 0, n_total = -1;
    for (int s = 0; s < count && !rc && B > 0; s++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[s]);
        lt_emb_shard e;
        if ((rc = lt_emb_shard_read(path, &e))) break;
        if (e.shard_count != count) rc = lt_shard_set_error(dir, "emb-", names, count, e.shard_count);
        else if (e.shard_index != s || e.item_begin != total || e.dim != D)
            rc = lt_error(LT_EFORMAT, "%s: shard %lld from item %lld with dim %lld does not continue the set (item %lld, "
                          "query dim %lld)", path, (long long)e.shard_index, (long long)e.item_begin, (long long)e.dim,
                          (long long)total, (long long)D);
        n_total = e.n_total;
        lt_tensor v = {0}, bias = {0};
        if (!rc && e.n > 0) rc = place(be, &v, e.data, LT_F32, 2, e.n, D);
        if (!rc && e.n > 0 && q->item_bias) rc = place(be, &bias, q->item_bias + e.item_begin, LT_F32, 1, e.n, 0);
        for (int64_t b0 = 0; b0 < B && !rc && e.n > 0; b0 += batch) {
            int64_t bn = B - b0 < batch ? B - b0 : batch;
            lt_tensor u = {0}, tv = {0}, ti = {0}, o = off;
            rc = place(be, &u, q->u + b0 * D, LT_F32, 2, bn, D);
            if (!rc) rc = place(be, &tv, vals + b0 * K, LT_F32, 2, bn, K);
            if (!rc) rc = place(be, &ti, idx + b0 * K, LT_I32, 2, bn, K);
            if (!rc && q->excl_off) { /* the CSR's offsets are absolute: a view from row b0 */
                o.data = (int64_t *)off.data + b0;
                o.shape[0] = bn + 1;
            }
            if (!rc)
                rc = lt_score_topk(be, &tv, &ti, &u, &v, q->item_bias ? &bias : NULL, e.item_begin,
                                   q->excl_off ? &o : NULL, q->excl_off ? &ex : NULL);
            if (!rc) rc = fetch(be, vals + b0 * K, &tv);
            if (!rc) rc = fetch(be, idx + b0 * K, &ti);
            unplace(be, &u), unplace(be, &tv), unplace(be, &ti);
        }
        unplace(be, &v), unplace(be, &bias);
        total += e.n;
        lt_emb_shard_free(&e);
    }
    if (!rc && B > 0 && total != n_total)
        rc = lt_error(LT_EFORMAT, "%s: the shards hold %lld items, n_items_total says %lld", dir, (long long)total,
                      (long long)n_total);
    if (q->excl_off) unplace(be, &off), unplace(be, &ex);
    lt_free_names(names, count);
    return rc;
}
