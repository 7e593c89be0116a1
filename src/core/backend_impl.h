/* The backend vtable: what src/cpu/ and cuda/ implement. Internal; models use ops.h.
 * Its compute slots come from the op list, core/op_list.h, which also declares each backend's
 * implementations. Every function returns 0 or a negative LT_E* code. */
#ifndef LONGTAIL_BACKEND_IMPL_H
#define LONGTAIL_BACKEND_IMPL_H

#include "longtail/backend.h"
#include "longtail/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fixed summation orders of the two segmented reductions, shared by the backends so that they
 * give the same bits, and chosen so that a hot id or a giant cluster does not serialise a GPU:
 *
 * embedding_bwd: the occurrences of an id (in position order) form chunks of LT_EMB_CHUNK. The
 * first chunk adds to the table row in order (row += d_0; row += d_1; ...); every later chunk is
 * summed on its own in order (p = d_j; p += d_j+1; ...) and the chunk sums are then added to the
 * row in chunk order. A run of r occurrences costs LT_EMB_CHUNK + r / LT_EMB_CHUNK sequential adds
 * (CUDA sums the chunks in parallel), not r.
 *
 * kmeans_update: a cluster's rows (in row order) form chunks of LT_KM_CHUNK; each chunk is summed
 * in double from 0 in row order, the chunk sums are added in chunk order in double (from 0), and
 * the total is added to sums once. Runs up to one chunk keep the plain in-order sums. */
#define LT_EMB_CHUNK 256
#define LT_KM_CHUNK 1024

typedef struct lt_backend_ops {
    /* memory */
    int (*alloc)(lt_backend *be, void **ptr, size_t nbytes);
    void (*free)(lt_backend *be, void *ptr);
    int (*memcpy)(lt_backend *be, void *dst, lt_device dd, const void *src, lt_device sd, size_t n);
    int (*memset0)(lt_backend *be, void *ptr, size_t nbytes);
    /* page-locked host memory (NULL slots: ordinary aligned memory) */
    int (*host_alloc)(lt_backend *be, void **ptr, size_t nbytes);
    void (*host_free)(lt_backend *be, void *ptr);
    int (*sync)(lt_backend *be);
    void (*release)(lt_backend *be);

    /* compute: one slot per op of the list (its comments say what each op does) */
#define LT_OP(name, params) int(*name) params;
#include "core/op_list.h"
} lt_backend_ops;

struct lt_backend {
    const char *name;
    lt_device device;
    lt_math math;
    const lt_backend_ops *ops;
    void *impl; /* backend-private state (CUDA stream, cuBLAS handle, ...) */
    char describe[384];
    int trace; /* LONGTAIL_CUDA_SYNC=1: lt__arg records each op's tensors (lt__op_trace) */
    int guard; /* the guarded device: ops run between lt__guard_enter and lt__guard_leave */
};

/* Every call into a backend's table goes through LT_CALL(be, slot, args...) = be->ops->slot(be,
 * args...), so that the guarded device (src/cpu/guard.c) knows when an op runs. */
void lt__guard_enter(void);
void lt__guard_leave(void);
static inline int lt__guard_begin(lt_backend *be) {
    if (be->guard) lt__guard_enter();
    return 0;
}
static inline int lt__guard_end(lt_backend *be, int rc) {
    if (be->guard) lt__guard_leave();
    return rc;
}
#define LT_CALL(be, slot, ...) lt__guard_end((be), (lt__guard_begin(be), (be)->ops->slot((be), __VA_ARGS__)))

/* The wrappers' argument checks (src/core/ops.c), shared by every file of wrappers: t exists, has
 * dtype dt and lives on the backend's device / t has n elements.
 * Messages name the op and argument. */
int lt__arg(lt_backend *be, const char *op, const char *name, const lt_tensor *t, lt_dtype dt);
int lt__numel_is(const char *op, const char *name, const lt_tensor *t, int64_t n);

/* Debug mode (be->trace, set by LONGTAIL_CUDA_SYNC=1): lt__arg writes the op it checks and its
 * tensors here ("layernorm_fwd: y f32[4096,768]@cuda x ..."), so a backend that finds a fault
 * after an op can name them. lt__op_trace_seal marks the record as used by a backend call: the
 * next lt__arg starts a new one. Per thread. */
const char *lt__op_trace(void);
void lt__op_trace_seal(void);

/* Constructors each backend file provides. */
lt_backend *lt__cpu_backend_create(void);
lt_backend *lt__guard_backend_create(void);
#ifdef LONGTAIL_HAVE_CUDA
int lt__cuda_device_count(void);
int lt__cuda_backend_create(lt_backend **out, int device);
#endif

#ifdef __cplusplus
}
#endif
#endif
