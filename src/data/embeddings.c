/* Embedding shards (include/longtail/embeddings.h). */
#include "longtail/embeddings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "longtail/error.h"
#include "longtail/shard.h"

void lt_emb_shard_path(char *buf, size_t cap, const char *dir, int64_t index) {
    snprintf(buf, cap, "%s/emb-%05lld.h5", dir, (long long)index);
}

int lt_emb_shard_write(const char *path, const lt_emb_shard *e, lt_dtype stored, const char *model) {
    if (stored != LT_F32 && stored != LT_BF16) return lt_error(LT_EDTYPE, "%s: embeddings are stored as f32 or bf16", path);
    lt_shard *s;
    LT_TRY(lt_shard_create(&s, path, "embeddings", 1));
    int64_t shape[2] = {e->n, e->dim};
    uint16_t *h = NULL;
    int rc = 0;
    if (stored == LT_BF16) {
        h = malloc(sizeof *h * (size_t)(e->n * e->dim + 1));
        if (!h) rc = lt_error(LT_ENOMEM, "%s: out of memory", path);
        for (int64_t i = 0; h && i < e->n * e->dim; i++) h[i] = lt_f32_to_bf16(e->data[i]);
    }
    if (!rc) rc = lt_shard_write(s, "emb", stored, 2, shape, h ? (const void *)h : (const void *)e->data);
    free(h);
    const char *keys[] = {"item_begin", "n_items", "n_items_total", "shard_index", "shard_count", "dim", "normalized"};
    int64_t vals[] = {e->item_begin, e->n, e->n_total, e->shard_index, e->shard_count, e->dim, e->normalized};
    for (int k = 0; k < 7 && !rc; k++) rc = lt_shard_set_attr_i64(s, "", keys[k], vals[k]);
    if (!rc) rc = lt_shard_set_attr_str(s, "", "model", model ? model : "");
    if (rc) {
        lt_shard_abort(s);
        return rc;
    }
    return lt_shard_commit(s);
}

int lt_emb_shard_read(const char *path, lt_emb_shard *e) {
    memset(e, 0, sizeof *e);
    lt_shard *s;
    LT_TRY(lt_shard_open(&s, path, "embeddings", 1));
    const char *keys[] = {"item_begin", "n_items", "n_items_total", "shard_index", "shard_count", "dim"};
    int64_t *dst[] = {&e->item_begin, &e->n, &e->n_total, &e->shard_index, &e->shard_count, &e->dim};
    int64_t norm = 0, shape[LT_MAX_DIMS] = {0};
    int rc = 0, nd = 0;
    for (int k = 0; k < 6 && !rc; k++) rc = lt_shard_attr_i64(s, "", keys[k], dst[k]);
    if (!rc) rc = lt_shard_attr_i64(s, "", "normalized", &norm);
    e->normalized = norm != 0;
    lt_dtype dt = LT_F32;
    if (!rc) rc = lt_shard_shape(s, "emb", &dt, &nd, shape);
    if (!rc && (nd != 2 || shape[0] != e->n || shape[1] != e->dim || (dt != LT_F32 && dt != LT_BF16)))
        rc = lt_error(LT_EFORMAT, "%s: emb is %s[%lld, %lld], attributes say [%lld, %lld] of f32 or bf16", path,
                      lt_dtype_name(dt), (long long)shape[0], (long long)shape[1], (long long)e->n, (long long)e->dim);
    size_t count = (size_t)(e->n * e->dim);
    if (!rc) {
        e->data = malloc(sizeof(float) * (count ? count : 1));
        if (!e->data) rc = lt_error(LT_ENOMEM, "%s: out of memory for %zu floats", path, count);
    }
    if (!rc && dt == LT_F32) rc = lt_shard_read(s, "emb", LT_F32, e->data, sizeof(float) * count);
    if (!rc && dt == LT_BF16) { /* widen in place: read into the upper half, convert forwards */
        uint16_t *h = (uint16_t *)e->data + count;
        rc = lt_shard_read(s, "emb", LT_BF16, h, sizeof(uint16_t) * count);
        for (size_t i = 0; !rc && i < count; i++) e->data[i] = lt_bf16_to_f32(h[i]);
    }
    lt_shard_close(s);
    if (rc) lt_emb_shard_free(e);
    return rc;
}

void lt_emb_shard_free(lt_emb_shard *e) {
    free(e->data);
    e->data = NULL;
}

int lt_emb_load_all(const char *dir, float **out, int64_t *n, int64_t *dim) {
    *out = NULL, *n = *dim = 0;
    char **names;
    int count;
    LT_TRY(lt_list_shards(dir, "emb-", &names, &count));
    int rc = count ? 0 : lt_error(LT_ENOENT, "%s: no emb-NNNNN.h5 shards (run longtail embed first)", dir);
    float *all = NULL;
    int64_t total = 0, d = -1;
    for (int i = 0; i < count && !rc; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        lt_emb_shard e;
        if ((rc = lt_emb_shard_read(path, &e))) break;
        if (e.shard_count != count) rc = lt_shard_set_error(dir, "emb-", names, count, e.shard_count);
        else if (e.shard_index != i || e.item_begin != total || (d >= 0 && e.dim != d))
            rc = lt_error(LT_EFORMAT, "%s: shard %lld from item %lld with dim %lld does not continue the set (item %lld, "
                          "dim %lld)", path, (long long)e.shard_index, (long long)e.item_begin, (long long)e.dim,
                          (long long)total, (long long)d);
        if (!rc) {
            if (!all) {
                all = malloc(sizeof(float) * (size_t)(e.n_total * e.dim + 1));
                if (!all) rc = lt_error(LT_ENOMEM, "%s: out of memory for %lld x %lld", dir, (long long)e.n_total,
                                        (long long)e.dim);
            }
            if (!rc && total + e.n > e.n_total) rc = lt_error(LT_EFORMAT, "%s: more rows than n_items_total", path);
            if (!rc) memcpy(all + total * e.dim, e.data, sizeof(float) * (size_t)(e.n * e.dim));
            d = e.dim;
            total += e.n;
        }
        lt_emb_shard_free(&e);
    }
    lt_free_names(names, count);
    if (rc) {
        free(all);
        return rc;
    }
    *out = all, *n = total, *dim = d;
    return 0;
}
