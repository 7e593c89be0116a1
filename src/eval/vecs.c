/* Vector sources (cluster.h): memory, embedding shards read a range at a time, transformed views. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/backend.h"
#include "longtail/cluster.h"
#include "longtail/error.h"
#include "longtail/ops.h"
#ifdef LONGTAIL_HAVE_HDF5
#include "data/dataio.h"
#include "longtail/embeddings.h"
#include "longtail/shard.h"
#endif

enum { ROWS_MEMORY, ROWS_SHARDS, ROWS_TRANSFORM };

#define XFORM_BLOCK 4096 /* base rows per step of a transformed read */

struct lt_vecs {
    int kind;
    int64_t n, d;
    char name[256];
    const float *x; /* memory */
#ifdef LONGTAIL_HAVE_HDF5
    int count;          /* shards */
    char **paths;
    int64_t *begin;     /* [count + 1]: first row of each shard, then n */
    lt_dtype *stored;   /* f32 or bf16 */
    lt_shard *open;     /* the last shard read, kept open */
    int open_i;
#endif
    lt_vecs *base;      /* transform */
    float *mean, *w, *buf;
    int normalize;
};

static lt_vecs *rows_new(int kind, int64_t n, int64_t d) {
    lt_vecs *r = calloc(1, sizeof *r);
    if (r) r->kind = kind, r->n = n, r->d = d;
    return r;
}

int lt_vecs_memory(lt_vecs **out, const float *x, int64_t n, int64_t d) {
    *out = NULL;
    if (n < 0 || d < 1 || (n > 0 && !x))
        return lt_error(LT_EINVAL, "rows: a memory source needs data, n >= 0 and d >= 1 (got n=%lld d=%lld)",
                        (long long)n, (long long)d);
    lt_vecs *r = rows_new(ROWS_MEMORY, n, d);
    if (!r) return lt_error(LT_ENOMEM, "rows: out of memory");
    r->x = x;
    snprintf(r->name, sizeof r->name, "memory [%lld, %lld]", (long long)n, (long long)d);
    *out = r;
    return 0;
}

int lt_vecs_transform(lt_vecs **out, lt_vecs *base, const float *mean, const float *w, int64_t q, int normalize) {
    *out = NULL;
    int64_t d = base->d, qd = w ? q : d;
    if (w && q < 1) return lt_error(LT_EINVAL, "rows: a projection needs q >= 1 (got %lld)", (long long)q);
    lt_vecs *r = rows_new(ROWS_TRANSFORM, base->n, qd);
    if (!r) return lt_error(LT_ENOMEM, "rows: out of memory");
    r->base = base, r->normalize = normalize;
    r->buf = malloc(sizeof(float) * (size_t)(XFORM_BLOCK * d));
    if (w) {
        r->w = malloc(sizeof(float) * (size_t)(d * q));
        r->mean = calloc((size_t)d, sizeof(float));
        if (r->w) memcpy(r->w, w, sizeof(float) * (size_t)(d * q));
        if (r->mean && mean) memcpy(r->mean, mean, sizeof(float) * (size_t)d);
    }
    if (!r->buf || (w && (!r->w || !r->mean))) {
        lt_vecs_free(r);
        return lt_error(LT_ENOMEM, "rows: out of memory for a transform of %s", base->name);
    }
    snprintf(r->name, sizeof r->name, "%.200s%s%s", base->name, w ? ", projected" : "", normalize ? ", normalised" : "");
    *out = r;
    return 0;
}

int64_t lt_vecs_count(const lt_vecs *r) { return r->n; }
int64_t lt_vecs_dim(const lt_vecs *r) { return r->d; }
const char *lt_vecs_name(const lt_vecs *r) { return r->name; }
const float *lt_vecs_data(const lt_vecs *r) { return r->kind == ROWS_MEMORY ? r->x : NULL; }

static void normalize_rows(float *y, int64_t n, int64_t d) {
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)y[i * d + j] * y[i * d + j];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (int64_t j = 0; j < d; j++) y[i * d + j] *= inv;
        }
    }
}

static int transform_read(lt_vecs *r, int64_t row0, int64_t count, float *out) {
    int64_t d = r->base->d, q = r->d;
    for (int64_t b = 0; b < count; b += XFORM_BLOCK) {
        int64_t m = count - b < XFORM_BLOCK ? count - b : XFORM_BLOCK;
        float *y = out + b * q;
        if (!r->w) {
            LT_TRY(lt_vecs_read(r->base, row0 + b, m, y));
        } else {
            LT_TRY(lt_vecs_read(r->base, row0 + b, m, r->buf));
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < d; j++) r->buf[i * d + j] -= r->mean[j];
            lt_gemm_desc g = {.m = m, .n = q, .k = d, .alpha = 1, .beta = 0,
                              .a = r->buf, .a_type = LT_F32, .lda = d,
                              .b = r->w, .b_type = LT_F32, .ldb = q,
                              .c = y, .c_type = LT_F32, .ldc = q, .batch = 1};
            LT_TRY(lt_gemm(lt_backend_cpu(), &g));
        }
        if (r->normalize) normalize_rows(y, m, q);
    }
    return 0;
}

#ifdef LONGTAIL_HAVE_HDF5
int lt_vecs_shards(lt_vecs **out, const char *dir) {
    *out = NULL;
    char **names;
    int count;
    LT_TRY(lt_list_shards(dir, "emb-", &names, &count));
    if (!count) {
        lt_free_names(names, count);
        return lt_error(LT_ENOENT, "%s: no emb-NNNNN.h5 shards (run longtail embed first)", dir);
    }
    lt_vecs *r = rows_new(ROWS_SHARDS, 0, 0);
    int rc = r ? 0 : lt_error(LT_ENOMEM, "rows: out of memory");
    if (!rc) {
        r->count = count, r->open_i = -1;
        r->paths = calloc((size_t)count, sizeof *r->paths);
        r->begin = calloc((size_t)count + 1, sizeof *r->begin);
        r->stored = calloc((size_t)count, sizeof *r->stored);
        if (!r->paths || !r->begin || !r->stored) rc = lt_error(LT_ENOMEM, "rows: out of memory");
    }
    /* the same checks as lt_emb_load_all, without reading the vectors */
    int64_t total = 0, n_total = -1, d = -1;
    for (int i = 0; i < count && !rc; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        r->paths[i] = malloc(len);
        if (!r->paths[i]) {
            rc = lt_error(LT_ENOMEM, "rows: out of memory");
            break;
        }
        snprintf(r->paths[i], len, "%s/%s", dir, names[i]);
        lt_shard *s;
        if ((rc = lt_shard_open(&s, r->paths[i], "embeddings", 1))) break;
        int64_t v[5] = {0}, shape[LT_MAX_DIMS] = {0};
        const char *keys[5] = {"item_begin", "n_items", "n_items_total", "shard_index", "shard_count"};
        for (int k = 0; k < 5 && !rc; k++) rc = lt_shard_attr_i64(s, "", keys[k], &v[k]);
        int nd = 0;
        if (!rc) rc = lt_shard_shape(s, "emb", &r->stored[i], &nd, shape);
        lt_shard_close(s);
        if (rc) break;
        if (v[4] != count) rc = lt_shard_set_error(dir, "emb-", names, count, v[4]);
        else if (nd != 2 || shape[0] != v[1] || (r->stored[i] != LT_F32 && r->stored[i] != LT_BF16))
            rc = lt_error(LT_EFORMAT, "%s: emb is %s[%lld, %lld], attributes say %lld rows of f32 or bf16", r->paths[i],
                          lt_dtype_name(r->stored[i]), (long long)shape[0], (long long)shape[1], (long long)v[1]);
        else if (v[3] != i || v[0] != total || (d >= 0 && shape[1] != d) || (n_total >= 0 && v[2] != n_total))
            rc = lt_error(LT_EFORMAT, "%s: shard %lld from item %lld with dim %lld does not continue the set (item %lld, "
                          "dim %lld)", r->paths[i], (long long)v[3], (long long)v[0], (long long)shape[1],
                          (long long)total, (long long)d);
        r->begin[i] = total;
        total += v[1], d = shape[1], n_total = v[2];
    }
    if (!rc && total != n_total)
        rc = lt_error(LT_EFORMAT, "%s: the shards hold %lld rows, n_items_total says %lld", dir, (long long)total,
                      (long long)n_total);
    if (!rc && d < 1) rc = lt_error(LT_EFORMAT, "%s: embeddings of width %lld", dir, (long long)d);
    lt_free_names(names, count);
    if (rc) {
        lt_vecs_free(r);
        return rc;
    }
    r->begin[count] = total;
    r->n = total, r->d = d;
    snprintf(r->name, sizeof r->name, "%.200s (%d shard%s, %lld x %lld)", dir, count, count == 1 ? "" : "s",
             (long long)total, (long long)d);
    *out = r;
    return 0;
}

static int shards_read(lt_vecs *r, int64_t row0, int64_t count, float *out) {
    int i = 0;
    while (i + 1 < r->count && r->begin[i + 1] <= row0) i++;
    for (int64_t done = 0; done < count; i++) {
        int64_t from = row0 + done - r->begin[i], avail = r->begin[i + 1] - r->begin[i] - from;
        int64_t m = count - done < avail ? count - done : avail;
        if (m <= 0) continue;
        if (r->open_i != i) {
            if (r->open) lt_shard_close(r->open);
            r->open = NULL, r->open_i = -1;
            LT_TRY(lt_shard_open(&r->open, r->paths[i], "embeddings", 1));
            r->open_i = i;
        }
        float *dst = out + done * r->d;
        size_t cnt = (size_t)(m * r->d);
        if (r->stored[i] == LT_F32) {
            LT_TRY(lt_shard_read_rows(r->open, "emb", LT_F32, from, m, dst, sizeof(float) * cnt));
        } else { /* bf16 into the upper half of dst, widened forwards */
            uint16_t *h = (uint16_t *)dst + cnt;
            LT_TRY(lt_shard_read_rows(r->open, "emb", LT_BF16, from, m, h, sizeof(uint16_t) * cnt));
            for (size_t j = 0; j < cnt; j++) dst[j] = lt_bf16_to_f32(h[j]);
        }
        done += m;
    }
    return 0;
}
#else
int lt_vecs_shards(lt_vecs **out, const char *dir) {
    *out = NULL;
    return lt_error(LT_ENOTSUP, "%s: reading embedding shards needs the HDF5 build", dir);
}
#endif

int lt_vecs_read(lt_vecs *r, int64_t row0, int64_t count, float *buf) {
    if (row0 < 0 || count < 0 || row0 + count > r->n)
        return lt_error(LT_ERANGE, "%s: rows [%lld, %lld) outside [0, %lld)", r->name, (long long)row0,
                        (long long)(row0 + count), (long long)r->n);
    if (count == 0) return 0;
    switch (r->kind) {
    case ROWS_MEMORY: memcpy(buf, r->x + row0 * r->d, sizeof(float) * (size_t)(count * r->d)); return 0;
    case ROWS_TRANSFORM: return transform_read(r, row0, count, buf);
#ifdef LONGTAIL_HAVE_HDF5
    case ROWS_SHARDS: return shards_read(r, row0, count, buf);
#endif
    default: return lt_error(LT_EINVAL, "%s: unknown source", r->name);
    }
}

#define GATHER_RUN 16384 /* rows read in one go when gathering */

int lt_vecs_gather(lt_vecs *r, const int64_t *idx, int64_t m, float *out) {
    if (r->kind == ROWS_MEMORY) {
        for (int64_t q = 0; q < m; q++) LT_TRY(lt_vecs_read(r, idx[q], 1, out + q * r->d));
        return 0;
    }
    float *buf = malloc(sizeof(float) * (size_t)(GATHER_RUN * r->d));
    if (!buf) return lt_error(LT_ENOMEM, "%s: out of memory gathering rows", r->name);
    int rc = 0;
    for (int64_t q = 0; q < m && !rc;) {
        if (q && idx[q] < idx[q - 1]) {
            rc = lt_error(LT_EINVAL, "%s: gather indices must ascend (%lld after %lld)", r->name, (long long)idx[q],
                          (long long)idx[q - 1]);
            break;
        }
        int64_t start = idx[q], end = q; /* one run: the requests within GATHER_RUN rows of start */
        while (end < m && idx[end] - start < GATHER_RUN) end++;
        int64_t len = idx[end - 1] - start + 1;
        if ((rc = lt_vecs_read(r, start, len, buf))) break;
        for (; q < end; q++) memcpy(out + q * r->d, buf + (idx[q] - start) * r->d, sizeof(float) * (size_t)r->d);
    }
    free(buf);
    return rc;
}

int lt_vecs_check_finite(lt_vecs *r) {
    int64_t block = 1 + (1 << 22) / r->d;
    float *buf = malloc(sizeof(float) * (size_t)((block < r->n ? block : r->n) * r->d + 1));
    if (!buf) return lt_error(LT_ENOMEM, "%s: out of memory", r->name);
    int rc = 0;
    for (int64_t b = 0; b < r->n && !rc; b += block) {
        int64_t m = r->n - b < block ? r->n - b : block;
        const float *x = lt_vecs_data(r);
        if (x) x += b * r->d;
        else if ((rc = lt_vecs_read(r, b, m, buf))) break;
        else x = buf;
        for (int64_t i = 0; i < m * r->d; i++)
            if (!isfinite(x[i])) {
                rc = lt_error(LT_EINVAL, "%s: row %lld, column %lld is %g: vectors must be finite", r->name,
                              (long long)(b + i / r->d), (long long)(i % r->d), (double)x[i]);
                break;
            }
    }
    free(buf);
    return rc;
}

void lt_vecs_free(lt_vecs *r) {
    if (!r) return;
#ifdef LONGTAIL_HAVE_HDF5
    if (r->open) lt_shard_close(r->open);
    for (int i = 0; r->paths && i < r->count; i++) free(r->paths[i]);
    free(r->paths), free(r->begin), free(r->stored);
#endif
    free(r->mean), free(r->w), free(r->buf);
    free(r);
}
