/* Tensor views, allocation through the backend, and bf16 conversion. */
#include "longtail/tensor.h"

#include <stdio.h>
#include <string.h>

#include "core/backend_impl.h"
#include "longtail/error.h"

static const struct { const char *name; size_t size; } g_dtypes[LT_DTYPE_COUNT] = {
    [LT_F32] = {"f32", 4}, [LT_BF16] = {"bf16", 2}, [LT_I32] = {"i32", 4},
    [LT_I64] = {"i64", 8}, [LT_U8] = {"u8", 1},
};

size_t lt_dtype_size(lt_dtype t) { return (unsigned)t < LT_DTYPE_COUNT ? g_dtypes[t].size : 0; }
const char *lt_dtype_name(lt_dtype t) { return (unsigned)t < LT_DTYPE_COUNT ? g_dtypes[t].name : "?"; }
const char *lt_device_name(lt_device d) {
    return d == LT_CPU ? "cpu" : d == LT_CUDA ? "cuda" : d == LT_GUARD ? "guard" : "?";
}

int64_t lt_numel(const lt_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t lt_nbytes(const lt_tensor *t) { return (size_t)lt_numel(t) * lt_dtype_size(t->dtype); }
int64_t lt_cols(const lt_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }
int64_t lt_rows(const lt_tensor *t) {
    int64_t c = lt_cols(t);
    return c ? lt_numel(t) / c : 0;
}

lt_tensor lt_view(void *data, lt_dtype dtype, lt_device dev, int ndim, const int64_t *shape) {
    lt_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.device = dev;
    t.ndim = ndim < 0 ? 0 : ndim > LT_MAX_DIMS ? LT_MAX_DIMS : ndim;
    for (int i = 0; i < t.ndim; i++) t.shape[i] = shape[i];
    return t;
}

lt_tensor lt_view1(void *data, lt_dtype dtype, lt_device dev, int64_t d0) {
    return lt_view(data, dtype, dev, 1, &d0);
}
lt_tensor lt_view2(void *data, lt_dtype dtype, lt_device dev, int64_t d0, int64_t d1) {
    int64_t s[2] = {d0, d1};
    return lt_view(data, dtype, dev, 2, s);
}
lt_tensor lt_view3(void *data, lt_dtype dtype, lt_device dev, int64_t d0, int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    return lt_view(data, dtype, dev, 3, s);
}

static int check_shape(int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > LT_MAX_DIMS)
        return lt_error(LT_EINVAL, "tensor: ndim %d outside 1..%d", ndim, LT_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return lt_error(LT_EINVAL, "tensor: dim %d is negative (%lld)", i, (long long)shape[i]);
    return 0;
}

int lt_reshape(lt_tensor *out, const lt_tensor *t, int ndim, const int64_t *shape) {
    LT_TRY(check_shape(ndim, shape));
    lt_tensor r = lt_view(t->data, t->dtype, t->device, ndim, shape);
    if (lt_numel(&r) != lt_numel(t)) {
        char a[96], b[96];
        return lt_error(LT_ESHAPE, "reshape %s to %s: element counts differ",
                        lt_tensor_str(t, a, sizeof a), lt_tensor_str(&r, b, sizeof b));
    }
    *out = r;
    return 0;
}

int lt_tensor_new(lt_tensor *out, lt_backend *be, lt_dtype dtype, int ndim, const int64_t *shape) {
    LT_TRY(check_shape(ndim, shape));
    if ((unsigned)dtype >= LT_DTYPE_COUNT) return lt_error(LT_EDTYPE, "tensor: bad dtype %d", (int)dtype);
    lt_tensor t = lt_view(NULL, dtype, be->device, ndim, shape);
    size_t n = lt_nbytes(&t);
    if (n) {
        LT_TRY(lt_backend_alloc(be, &t.data, n));
        int rc = lt_backend_memset0(be, t.data, n);
        if (rc < 0) {
            lt_backend_free(be, t.data);
            return rc;
        }
    }
    *out = t;
    return 0;
}

void lt_tensor_free(lt_backend *be, lt_tensor *t) {
    if (t && t->data) lt_backend_free(be, t->data);
    if (t) t->data = NULL;
}

int lt_tensor_copy(lt_backend *be, lt_tensor *dst, const lt_tensor *src) {
    if (dst->dtype != src->dtype || lt_numel(dst) != lt_numel(src)) {
        char a[96], b[96];
        return lt_error(LT_ESHAPE, "copy %s into %s: dtype or size differs", lt_tensor_str(src, a, sizeof a),
                        lt_tensor_str(dst, b, sizeof b));
    }
    return lt_backend_memcpy(be, dst->data, dst->device, src->data, src->device, lt_nbytes(src));
}

const char *lt_tensor_str(const lt_tensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "%s[", lt_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]@%s", lt_device_name(t->device));
    return buf;
}
