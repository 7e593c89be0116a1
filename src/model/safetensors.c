/* The safetensors reader and writer (safetensors.h). The reader's rule: no byte of the image is
 * read before the offsets and sizes that lead to it have been checked against the image length. */
#include "longtail/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tmpfile.h"
#include "longtail/error.h"
#include "model/io.h"
#include "model/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads little-endian data in place: port the conversions for big-endian hosts"
#endif

static const struct {
    const char *name;
    size_t size;
} g_dtypes[LT_ST_DTYPE_COUNT] = {
    [LT_ST_BOOL] = {"BOOL", 1}, [LT_ST_U8] = {"U8", 1},   [LT_ST_I8] = {"I8", 1},
    [LT_ST_F8_E4M3] = {"F8_E4M3", 1}, [LT_ST_F8_E5M2] = {"F8_E5M2", 1},
    [LT_ST_I16] = {"I16", 2},   [LT_ST_U16] = {"U16", 2}, [LT_ST_F16] = {"F16", 2}, [LT_ST_BF16] = {"BF16", 2},
    [LT_ST_I32] = {"I32", 4},   [LT_ST_U32] = {"U32", 4}, [LT_ST_F32] = {"F32", 4},
    [LT_ST_I64] = {"I64", 8},   [LT_ST_U64] = {"U64", 8}, [LT_ST_F64] = {"F64", 8},
};

const char *lt_st_dtype_name(lt_st_dtype t) { return (unsigned)t < LT_ST_DTYPE_COUNT ? g_dtypes[t].name : "?"; }

static void shape_str(const lt_st_tensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "%s[", lt_st_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
}

/* A non-negative integer from the header, or an error naming the tensor and the field. */
static int header_u63(const lt_json *v, const char *name, const char *field, int64_t *out) {
    if (!v || v->type != LT_JSON_NUMBER || !v->is_int || v->i < 0)
        return lt_error(LT_EFORMAT, "tensor %s: %s must hold non-negative integers (got %s)", name, field,
                        v ? lt_json_type_name(v->type) : "nothing");
    *out = v->i;
    return 0;
}

/* One header entry: dtype, shape and data_offsets, all checked against the data length. */
static int parse_entry(const lt_json_doc *doc, const lt_json *e, size_t data_len, const uint8_t *data,
                       lt_st_tensor *t) {
    const char *name = e->key;
    if (!name[0]) return lt_error(LT_EFORMAT, "a tensor has an empty name");
    if (e->type != LT_JSON_OBJECT)
        return lt_error(LT_EFORMAT, "tensor %s: expected an object, got %s", name, lt_json_type_name(e->type));
    const lt_json *dt = lt_json_get(doc, e, "dtype"), *shape = lt_json_get(doc, e, "shape");
    const lt_json *off = lt_json_get(doc, e, "data_offsets");
    if (!dt || dt->type != LT_JSON_STRING) return lt_error(LT_EFORMAT, "tensor %s: no dtype string", name);
    t->name = name;
    t->dtype = LT_ST_DTYPE_COUNT;
    for (int i = 0; i < LT_ST_DTYPE_COUNT; i++)
        if (!strcmp(dt->str, g_dtypes[i].name)) t->dtype = (lt_st_dtype)i;
    if (t->dtype == LT_ST_DTYPE_COUNT) return lt_error(LT_EFORMAT, "tensor %s: unknown dtype \"%s\"", name, dt->str);
    if (!shape || shape->type != LT_JSON_ARRAY) return lt_error(LT_EFORMAT, "tensor %s: no shape array", name);
    if (shape->count > LT_ST_MAX_DIMS)
        return lt_error(LT_EFORMAT, "tensor %s: %d dimensions (at most %d)", name, shape->count, LT_ST_MAX_DIMS);
    t->ndim = shape->count;
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        LT_TRY(header_u63(lt_json_at(doc, shape, i), name, "shape", &t->shape[i]));
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel) || numel > INT64_MAX)
            return lt_error(LT_EFORMAT, "tensor %s: the shape's element count overflows", name);
    }
    t->numel = (int64_t)numel;
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)g_dtypes[t->dtype].size, &nbytes))
        return lt_error(LT_EFORMAT, "tensor %s: the byte count overflows", name);
    if (!off || off->type != LT_JSON_ARRAY || off->count != 2)
        return lt_error(LT_EFORMAT, "tensor %s: data_offsets must be [begin, end]", name);
    int64_t b = 0, en = 0;
    LT_TRY(header_u63(lt_json_at(doc, off, 0), name, "data_offsets", &b));
    LT_TRY(header_u63(lt_json_at(doc, off, 1), name, "data_offsets", &en));
    char s[160];
    shape_str(t, s, sizeof s);
    if (en < b) return lt_error(LT_EFORMAT, "tensor %s: data_offsets [%lld, %lld] end before they begin", name, (long long)b, (long long)en);
    if ((uint64_t)(en - b) != nbytes)
        return lt_error(LT_EFORMAT, "tensor %s: data_offsets [%lld, %lld] hold %lld bytes but %s needs %llu", name,
                        (long long)b, (long long)en, (long long)(en - b), s, (unsigned long long)nbytes);
    if ((uint64_t)en > data_len)
        return lt_error(LT_EFORMAT, "tensor %s %s: data_offsets [%lld, %lld] run past the end of the data (%zu bytes)",
                        name, s, (long long)b, (long long)en, data_len);
    t->data = data + b;
    t->nbytes = (size_t)nbytes;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const lt_st_tensor *)a)->name, ((const lt_st_tensor *)b)->name);
}

static int by_offset(const void *a, const void *b) {
    const lt_st_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data ? 1 : x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Names are unique; tensors may not overlap, and together they cover the data exactly (no hidden
 * bytes). */
static int check_layout(const lt_safetensors *st, const uint8_t *data, size_t data_len) {
    lt_st_tensor *sorted = malloc(sizeof *sorted * (size_t)(st->n ? st->n : 1));
    if (!sorted) return lt_error(LT_ENOMEM, "safetensors: out of memory");
    memcpy(sorted, st->t, sizeof *sorted * (size_t)st->n);
    qsort(sorted, (size_t)st->n, sizeof *sorted, by_name);
    int rc = 0;
    for (int i = 1; i < st->n && !rc; i++)
        if (!strcmp(sorted[i - 1].name, sorted[i].name))
            rc = lt_error(LT_EFORMAT, "tensor %s appears twice in the header", sorted[i].name);
    qsort(sorted, (size_t)st->n, sizeof *sorted, by_offset);
    size_t at = 0;
    for (int i = 0; i < st->n && !rc; i++) {
        size_t b = (size_t)(sorted[i].data - data);
        if (b < at)
            rc = lt_error(LT_EFORMAT, "tensors %s and %s overlap (bytes %zu..%zu of the data)", sorted[i - 1].name,
                          sorted[i].name, b, at);
        else if (b > at)
            rc = lt_error(LT_EFORMAT, "bytes %zu..%zu of the data belong to no tensor (before %s)", at, b, sorted[i].name);
        at = b + sorted[i].nbytes;
    }
    if (!rc && at != data_len)
        rc = lt_error(LT_EFORMAT, "the tensors end at byte %zu of the data but it holds %zu bytes", at, data_len);
    free(sorted);
    return rc;
}

int lt_safetensors_parse(lt_safetensors *st, const void *image, size_t len) {
    memset(st, 0, sizeof *st);
    const uint8_t *u = image;
    if (len < 8) return lt_error(LT_EFORMAT, "%zu bytes: shorter than the 8-byte header length", len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | u[i];
    if (n > len - 8)
        return lt_error(LT_EFORMAT, "header length %llu runs past the end of the file (%zu bytes)", (unsigned long long)n, len);
    if (n > LT_ST_MAX_HEADER)
        return lt_error(LT_EFORMAT, "header length %llu is over the limit of %u bytes", (unsigned long long)n, LT_ST_MAX_HEADER);
    if (n < 2 || u[8] != '{') return lt_error(LT_EFORMAT, "the header is not a JSON object");
    st->image = u, st->len = len;
    st->header = calloc(1, sizeof *st->header);
    if (!st->header) return lt_error(LT_ENOMEM, "safetensors: out of memory");
    int rc = lt_json_parse(st->header, (const char *)u + 8, (size_t)n);
    if (rc < 0) {
        free(st->header), st->header = NULL;
        return lt_error_wrap(rc, "header: ");
    }
    const lt_json_doc *doc = st->header;
    const lt_json *root = lt_json_root(doc);
    if (root->type != LT_JSON_OBJECT) rc = lt_error(LT_EFORMAT, "the header is not a JSON object");
    if (!rc && !(st->t = calloc((size_t)root->count + 1, sizeof *st->t))) rc = lt_error(LT_ENOMEM, "safetensors: out of memory");
    const uint8_t *data = u + 8 + n;
    size_t data_len = len - 8 - (size_t)n;
    for (int i = rc ? -1 : root->first; i >= 0 && !rc; i = doc->nodes[i].next) {
        const lt_json *e = &doc->nodes[i];
        if (!strcmp(e->key, "__metadata__")) {
            if (e->type != LT_JSON_OBJECT) rc = lt_error(LT_EFORMAT, "__metadata__ must be an object");
            for (int j = e->first; j >= 0 && !rc; j = doc->nodes[j].next)
                if (doc->nodes[j].type != LT_JSON_STRING)
                    rc = lt_error(LT_EFORMAT, "__metadata__.%s must be a string", doc->nodes[j].key);
            continue;
        }
        rc = parse_entry(doc, e, data_len, data, &st->t[st->n]);
        if (!rc) st->n++;
    }
    if (!rc) rc = check_layout(st, data, data_len);
    if (rc) lt_safetensors_close(st);
    return rc;
}

int lt_safetensors_open(lt_safetensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f) return lt_error(errno == ENOENT ? LT_ENOENT : LT_EIO, "%s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    int rc = size < 0 || fseek(f, 0, SEEK_SET) ? lt_error(LT_EIO, "%s: cannot seek", path) : 0;
    if (!rc && !(buf = malloc((size_t)size + 1))) rc = lt_error(LT_ENOMEM, "%s: no memory for %ld bytes", path, size);
    if (!rc && fread(buf, 1, (size_t)size, f) != (size_t)size) rc = lt_error(LT_EIO, "%s: read failed", path);
    fclose(f);
    if (!rc) rc = lt_safetensors_parse(st, buf, (size_t)size);
    if (rc) {
        free(buf);
        return lt_error_wrap(rc, "%s: ", path);
    }
    st->owned = buf;
    return 0;
}

void lt_safetensors_close(lt_safetensors *st) {
    if (st->header) lt_json_free(st->header);
    free(st->header), free(st->t), free(st->owned);
    memset(st, 0, sizeof *st);
}

const lt_st_tensor *lt_safetensors_find(const lt_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->t[i].name, name)) return &st->t[i];
    return NULL;
}

/* IEEE half to float, subnormals, infinities and NaN included. */
static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0x1f) u = sign | 0x7f800000u | man << 13;
    else if (exp) u = sign | (exp + 112) << 23 | man << 13;
    else if (!man) u = sign;
    else { /* subnormal: normalise */
        int e = -1;
        do man <<= 1, e++;
        while (!(man & 0x400));
        u = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int lt_st_to_f32(const lt_st_tensor *t, float *out) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case LT_ST_F32: memcpy(out, p, t->nbytes); return 0;
    case LT_ST_F16:
    case LT_ST_BF16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            if (t->dtype == LT_ST_F16) out[i] = half_to_f32(h);
            else {
                uint32_t u = (uint32_t)h << 16;
                memcpy(&out[i], &u, 4);
            }
        }
        return 0;
    default:
        return lt_error(LT_EDTYPE, "tensor %s is %s; floating-point weights must be F32, F16 or BF16", t->name,
                        lt_st_dtype_name(t->dtype));
    }
}

/* ---- writing ------------------------------------------------------------------------------------ */

int lt__write_file(const char *path, const void *const *parts, const size_t *sizes, int n) {
    char tmp[4096];
    LT_TRY(lt_tmp_path(tmp, sizeof tmp, path));
    FILE *f = fopen(tmp, "wb");
    if (!f) return lt_error(LT_EIO, "%s: %s", tmp, strerror(errno));
    int ok = 1;
    for (int i = 0; i < n && ok; i++) ok = fwrite(parts[i], 1, sizes[i], f) == sizes[i];
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int rc = lt_error(LT_EIO, "writing %s: %s", path, strerror(errno));
        remove(tmp);
        return rc;
    }
    return 0;
}

/* Append to a growing string. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = b->oom ? 0 : vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->oom || k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
}

int lt_safetensors_write(const char *path, const lt_st_entry *ts, int n) {
    sbuf h = {0};
    uint64_t off = 0;
    sb_add(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        for (const char *c = ts[i].name; *c; c++)
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
                return free(h.s), lt_error(LT_EINVAL, "%s: tensor name %s needs escaping", path, ts[i].name);
        uint64_t numel = 1;
        sb_add(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", ts[i].name);
        for (int d = 0; d < ts[i].ndim; d++) {
            sb_add(&h, d ? ",%lld" : "%lld", (long long)ts[i].shape[d]);
            numel *= (uint64_t)ts[i].shape[d];
        }
        sb_add(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + 4 * numel));
        off += 4 * numel;
    }
    sb_add(&h, "}");
    while (!h.oom && (8 + h.n) % 8) sb_add(&h, " "); /* the data starts 8-byte aligned, as the reference writer pads */
    if (h.oom) return free(h.s), lt_error(LT_ENOMEM, "%s: out of memory for the header", path);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    const void **parts = malloc(sizeof *parts * (size_t)(n + 2));
    size_t *sizes = malloc(sizeof *sizes * (size_t)(n + 2));
    int rc = parts && sizes ? 0 : lt_error(LT_ENOMEM, "%s: out of memory", path);
    if (!rc) {
        parts[0] = len, sizes[0] = 8, parts[1] = h.s, sizes[1] = h.n;
        for (int i = 0; i < n; i++) {
            size_t numel = 1;
            for (int d = 0; d < ts[i].ndim; d++) numel *= (size_t)ts[i].shape[d];
            parts[i + 2] = ts[i].data, sizes[i + 2] = 4 * numel;
        }
        rc = lt__write_file(path, parts, sizes, n + 2);
    }
    free(parts), free(sizes), free(h.s);
    return rc;
}
