/* Ragged (CSR) arrays in shards: name/values + name/offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "longtail/error.h"

int lt_ragged_write(lt_shard *s, const char *name, lt_dtype dt, const void *values, const int64_t *off, int64_t b,
                    int64_t e) {
    char path[512];
    int64_t n = e - b, nv = off ? off[e] - off[b] : 0, no = n + 1;
    int64_t *rel = malloc(sizeof(int64_t) * (size_t)no);
    if (!rel) return lt_error(LT_ENOMEM, "%s: out of memory", name);
    for (int64_t i = 0; i <= n; i++) rel[i] = off ? off[b + i] - off[b] : 0;
    const char *v = values ? (const char *)values + (size_t)(off ? off[b] : 0) * lt_dtype_size(dt) : "";
    snprintf(path, sizeof path, "%s/values", name);
    int rc = lt_shard_write(s, path, dt, 1, &nv, v);
    snprintf(path, sizeof path, "%s/offsets", name);
    if (!rc) rc = lt_shard_write(s, path, LT_I64, 1, &no, rel);
    free(rel);
    return rc;
}

int lt_ragged_read(lt_shard *s, const char *name, lt_dtype dt, void **values, int64_t **off, int64_t *n) {
    char vp[512], op[512];
    snprintf(vp, sizeof vp, "%s/values", name);
    snprintf(op, sizeof op, "%s/offsets", name);
    lt_dtype t;
    int nd;
    int64_t vs[4], os[4];
    *values = NULL, *off = NULL, *n = 0;
    LT_TRY(lt_shard_shape(s, vp, &t, &nd, vs));
    LT_TRY(lt_shard_shape(s, op, &t, &nd, os));
    if (nd != 1 || os[0] < 1)
        return lt_error(LT_EFORMAT, "%s: %s must be a 1-D array of at least one offset", lt_shard_path(s), op);
    int64_t *o = malloc(sizeof(int64_t) * (size_t)os[0]);
    void *v = malloc(lt_dtype_size(dt) * (size_t)(vs[0] ? vs[0] : 1));
    if (!o || !v) {
        free(o), free(v);
        return lt_error(LT_ENOMEM, "%s: out of memory reading %s", lt_shard_path(s), name);
    }
    int rc = lt_shard_read(s, op, LT_I64, o, sizeof(int64_t) * (size_t)os[0]);
    if (!rc) rc = lt_shard_read(s, vp, dt, v, lt_dtype_size(dt) * (size_t)vs[0]);
    for (int64_t i = 0; !rc && i < os[0]; i++)
        if ((i == 0 && o[0] != 0) || (i > 0 && o[i] < o[i - 1]) || o[i] > vs[0])
            rc = lt_error(LT_EFORMAT, "%s: %s[%lld] = %lld is out of order or past the %lld values", lt_shard_path(s), op,
                          (long long)i, (long long)o[i], (long long)vs[0]);
    if (!rc && o[os[0] - 1] != vs[0])
        rc = lt_error(LT_EFORMAT, "%s: %s ends at %lld but there are %lld values", lt_shard_path(s), op,
                      (long long)o[os[0] - 1], (long long)vs[0]);
    if (rc) {
        free(o), free(v);
        return rc;
    }
    *values = v, *off = o, *n = os[0] - 1;
    return 0;
}

int lt_ragged_read_append(lt_shard *s, const char *name, lt_strs *dst, int64_t *n) {
    void *v;
    int64_t *o;
    LT_TRY(lt_ragged_read(s, name, LT_U8, &v, &o, n));
    int rc = 0;
    for (int64_t i = 0; i < *n && !rc; i++) rc = lt_strs_push(dst, (const char *)v + o[i], (size_t)(o[i + 1] - o[i]));
    free(v), free(o);
    return rc;
}

static int cmp_len_row(const void *a, const void *b) {
    const lt_len_row *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

void lt_sort_len_rows(lt_len_row *v, int64_t n) { qsort(v, (size_t)n, sizeof *v, cmp_len_row); }
