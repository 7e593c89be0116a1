/* Tensors: a typed, shaped, contiguous (row-major) block of memory that knows its device.
 * A tensor is a plain value: copying the struct copies the view, not the data. Memory comes
 * from the backend that owns the device (lt_tensor_new) or from an arena (arena.h). */
#ifndef LONGTAIL_TENSOR_H
#define LONGTAIL_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LT_MAX_DIMS 4

typedef enum { LT_F32 = 0, LT_BF16, LT_I32, LT_I64, LT_U8, LT_DTYPE_COUNT } lt_dtype;
/* LT_GUARD: the guarded device, CPU kernels on memory only ops may touch (lt_backend_guard) */
typedef enum { LT_CPU = 0, LT_CUDA, LT_GUARD } lt_device;

typedef struct lt_tensor {
    void *data;
    int64_t shape[LT_MAX_DIMS];
    int ndim;
    lt_dtype dtype;
    lt_device device;
} lt_tensor;

typedef struct lt_backend lt_backend;

size_t lt_dtype_size(lt_dtype t);
const char *lt_dtype_name(lt_dtype t);
const char *lt_device_name(lt_device d);

int64_t lt_numel(const lt_tensor *t);
size_t lt_nbytes(const lt_tensor *t);
/* Product of all dims but the last (rows) and the last dim (cols): how row-wise ops see a tensor. */
int64_t lt_rows(const lt_tensor *t);
int64_t lt_cols(const lt_tensor *t);

/* A view of existing memory. ndim = number of shape values given (1..4). */
lt_tensor lt_view(void *data, lt_dtype dtype, lt_device dev, int ndim, const int64_t *shape);
lt_tensor lt_view1(void *data, lt_dtype dtype, lt_device dev, int64_t d0);
lt_tensor lt_view2(void *data, lt_dtype dtype, lt_device dev, int64_t d0, int64_t d1);
lt_tensor lt_view3(void *data, lt_dtype dtype, lt_device dev, int64_t d0, int64_t d1, int64_t d2);
/* Same memory, other shape (numel must match). */
int lt_reshape(lt_tensor *out, const lt_tensor *t, int ndim, const int64_t *shape);

/* Allocate on the backend's device (zero-filled) / free. */
int lt_tensor_new(lt_tensor *out, lt_backend *be, lt_dtype dtype, int ndim, const int64_t *shape);
void lt_tensor_free(lt_backend *be, lt_tensor *t);
/* Copy data between tensors of equal dtype and numel, on any pair of devices. */
int lt_tensor_copy(lt_backend *be, lt_tensor *dst, const lt_tensor *src);

/* "f32[8,128]@cpu" into buf; returns buf. */
const char *lt_tensor_str(const lt_tensor *t, char *buf, size_t n);

/* bf16 <-> fp32 (round to nearest even; a NaN stays a quiet NaN), the same on CPU and CUDA.
 * Inline and branch-free, so the loops that convert whole arrays vectorise. */
static inline uint16_t lt_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40 : rounded);
}
static inline float lt_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#ifdef __cplusplus
}
#endif
#endif
