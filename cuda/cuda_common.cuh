/* What the files of the CUDA backend share: the backend's private state, error macros, launch
 * helpers and the warp/block reductions the row kernels are built from. Internal to cuda/. */
#ifndef LONGTAIL_CUDA_COMMON_CUH
#define LONGTAIL_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "core/backend_impl.h"
#include "longtail/error.h"

/* ---- backend state ------------------------------------------------------------------------ */

/* Codes a kernel leaves in the device status word when it meets data it cannot use (an id or a
 * target outside [0, vocab)); sync reports the first one. */
enum { LT_FAULT_NONE = 0, LT_FAULT_EMBEDDING_FWD, LT_FAULT_EMBEDDING_BWD, LT_FAULT_XENT_FWD,
       LT_FAULT_XENT_BWD };

/* Small host values the device writes back: pinned, so the copies are true async copies. */
typedef struct lt_cuda_pinned {
    int status;
    double sum;
} lt_cuda_pinned;

typedef struct lt_cuda {
    int device, sm_count;
    cudaStream_t stream;  /* every op runs on this one stream, in order */
    cublasHandle_t blas;  /* bound to stream */
    cublasLtHandle_t blaslt;
    int *status;          /* device word: 0 or the LT_FAULT_* of the first bad input */
    lt_cuda_pinned *pinned;
    void *scratch;        /* grow-only scratch for ops that need temporaries (see lt__cuda_scratch) */
    size_t scratch_bytes;
} lt_cuda;

static inline lt_cuda *lt__cu(lt_backend *be) { return (lt_cuda *)be->impl; }

/* ---- errors ------------------------------------------------------------------------------- */

/* A failing runtime call becomes LT_ECUDA naming the file, line and call. The failure is also
 * cleared from cudaGetLastError so the next launch check does not report it a second time. */
#define LT_CUDA_CHECK(call)                                                                     \
    do {                                                                                        \
        cudaError_t lt__e = (call);                                                             \
        if (lt__e != cudaSuccess) {                                                             \
            (void)cudaGetLastError();                                                           \
            return lt_error(LT_ECUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,               \
                            cudaGetErrorString(lt__e));                                         \
        }                                                                                       \
    } while (0)

#define LT_CUBLAS_CHECK(call)                                                                   \
    do {                                                                                        \
        cublasStatus_t lt__s = (call);                                                          \
        if (lt__s != CUBLAS_STATUS_SUCCESS)                                                     \
            return lt_error(LT_ECUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,               \
                            cublasGetStatusString(lt__s));                                      \
    } while (0)

/* After every kernel launch: a bad launch configuration shows up here, not at sync. */
#define LT_LAUNCH_CHECK() LT_CUDA_CHECK(cudaGetLastError())

/* Record the first fault; later ones keep it. */
__device__ __forceinline__ void lt__fault(int *status, int code) { atomicCAS(status, 0, code); }

/* ---- launch helpers ----------------------------------------------------------------------- */

#define LT_FULL_MASK 0xffffffffu
#define LT_ROW_BLOCK 512     /* threads of a block that owns one long row */
#define LT_ROW_WARP_MAX 1024 /* rows up to this many columns get a warp each */
#define LT_MAX_BLOCKS ((int64_t)1 << 22) /* grid cap for grid-stride kernels (well under 2^31) */

/* Blocks for `units` of work at `per_block` units per block, at least 1 and at most cap. */
static inline unsigned lt__blocks(int64_t units, int64_t per_block, int64_t cap) {
    int64_t b = (units + per_block - 1) / per_block;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

static inline int lt__aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* A device buffer of at least nbytes for this op's temporaries. It only grows; the old one is
 * freed in stream order, after the kernels queued before that still use it. Valid until the
 * next call, so an op asks once for everything it needs. */
int lt__cuda_scratch(lt_backend *be, size_t nbytes, void **ptr);

/* Row kernels give each row to a group of TPR threads: a warp (TPR = 32, 8 rows per block of
 * 256) for rows up to LT_ROW_WARP_MAX columns, else the whole block (TPR = LT_ROW_BLOCK).
 * Each row kernel is a template on TPR; this launches the right one. Rows are grid-strided. */
#define LT_LAUNCH_ROWS(cu, rows, cols, kernel, ...)                                              \
    do {                                                                                         \
        if ((cols) <= LT_ROW_WARP_MAX)                                                           \
            kernel<32><<<lt__blocks((rows), 8, LT_MAX_BLOCKS), 256, 0, (cu)->stream>>>(__VA_ARGS__); \
        else                                                                                     \
            kernel<LT_ROW_BLOCK><<<lt__blocks((rows), 1, LT_MAX_BLOCKS), LT_ROW_BLOCK, 0,        \
                                   (cu)->stream>>>(__VA_ARGS__);                                 \
    } while (0)

/* The rows this thread's group handles: for (r = first; r < rows; r += step), and the thread's
 * index within the group. */
template <int TPR> struct lt_row_iter {
    int lane;
    int64_t first, step;
    __device__ lt_row_iter()
        : lane((int)(threadIdx.x % TPR)),
          first((int64_t)blockIdx.x * (blockDim.x / TPR) + threadIdx.x / TPR),
          step((int64_t)gridDim.x * (blockDim.x / TPR)) {}
};

/* Addition on a scalar or a float4, for kernels templated on their load width. */
__device__ __forceinline__ float lt__vadd(float a, float b) { return a + b; }
__device__ __forceinline__ float4 lt__vadd(float4 a, float4 b) {
    return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

/* ---- reductions --------------------------------------------------------------------------- */

struct lt_sum_op {
    template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct lt_max_op {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename T> __device__ __forceinline__ T lt__shfl_xor(T v, int m) {
    return __shfl_xor_sync(LT_FULL_MASK, v, m);
}
__device__ __forceinline__ float2 lt__shfl_xor(float2 v, int m) {
    return make_float2(__shfl_xor_sync(LT_FULL_MASK, v.x, m), __shfl_xor_sync(LT_FULL_MASK, v.y, m));
}

/* Butterfly all-reduce within a warp. Both partners of each step add the same two numbers, and
 * a + b == b + a exactly, so every lane ends with the same bits. */
template <typename T, typename Op> __device__ __forceinline__ T lt__warp_allreduce(T v, Op op) {
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) v = op(v, lt__shfl_xor(v, m));
    return v;
}

/* All-reduce over the TPR threads of a row group (see LT_LAUNCH_ROWS); every thread of the group
 * must call it. For a whole block: warp results go through shared memory and every warp reduces
 * them in the same order, so all threads get the same value and runs are reproducible. */
template <int TPR, typename T, typename Op>
__device__ __forceinline__ T lt__group_allreduce(T v, Op op, T identity) {
    v = lt__warp_allreduce(v, op);
    if constexpr (TPR > 32) {
        __shared__ T buf[32];
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        __syncthreads(); /* the previous call's readers are done with buf */
        if (lane == 0) buf[warp] = v;
        __syncthreads();
        v = lane < TPR / 32 ? buf[lane] : identity;
        v = lt__warp_allreduce(v, op);
    }
    return v;
}

template <int TPR> __device__ __forceinline__ float lt__group_sum(float v) {
    return lt__group_allreduce<TPR>(v, lt_sum_op(), 0.0f);
}

/* ---- the op table's CUDA entries (one .cu per family) ------------------------------------- */

#ifdef __cplusplus
extern "C" {
#endif

int lt__cuda_gemm(lt_backend *be, const lt_gemm_desc *d);

int lt__cuda_bias_add(lt_backend *be, float *y, const float *bias, int64_t rows, int64_t cols);
int lt__cuda_bias_bwd(lt_backend *be, float *dbias, const float *dy, int64_t rows, int64_t cols);
int lt__cuda_layernorm_fwd(lt_backend *be, float *y, float *mean, float *rstd, const float *x,
                           const float *w, const float *b, int64_t rows, int64_t cols, float eps);
int lt__cuda_layernorm_bwd(lt_backend *be, float *dx, float *dw, float *db, const float *dy,
                           const float *x, const float *w, const float *mean, const float *rstd,
                           int64_t rows, int64_t cols);
int lt__cuda_softmax_fwd(lt_backend *be, float *y, const float *x, const int32_t *lens,
                         int64_t rows_per_len, int64_t rows, int64_t cols, float scale);
int lt__cuda_softmax_bwd(lt_backend *be, float *dx, const float *dy, const float *y, int64_t rows,
                         int64_t cols, float scale);
int lt__cuda_xent_fwd(lt_backend *be, float *loss, float *lse, const float *logits,
                      const int32_t *targets, int64_t rows, int64_t vocab, int ignore_index);
int lt__cuda_xent_bwd(lt_backend *be, float *dlogits, const float *logits, const float *lse,
                      const int32_t *targets, const float *dloss, int64_t rows, int64_t vocab,
                      int ignore_index);

int lt__cuda_embedding_fwd(lt_backend *be, float *out, const float *table, const int32_t *ids,
                           int64_t n, int64_t vocab, int64_t dim);
int lt__cuda_embedding_bwd(lt_backend *be, float *dtable, const float *dout, const int32_t *ids,
                           int64_t n, int64_t vocab, int64_t dim);

int lt__cuda_gelu_fwd(lt_backend *be, float *y, const float *x, int64_t n);
int lt__cuda_gelu_bwd(lt_backend *be, float *dx, const float *dy, const float *x, int64_t n);
int lt__cuda_dropout(lt_backend *be, float *y, const float *x, int64_t n, float p, uint64_t seed,
                     uint64_t stream, int accumulate);
int lt__cuda_add(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
int lt__cuda_mul(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
int lt__cuda_scale(lt_backend *be, float *y, const float *x, float alpha, int64_t n);
int lt__cuda_axpy(lt_backend *be, float *y, float alpha, const float *x, int64_t n);
int lt__cuda_mul_acc(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
int lt__cuda_fill(lt_backend *be, float *y, float value, int64_t n);
int lt__cuda_reduce_rows(lt_backend *be, float *y, const float *x, int64_t rows, int64_t cols,
                         lt_reduce op);
int lt__cuda_sumsq(lt_backend *be, const float *const *xs, const int64_t *ns, int count, double *out);
int lt__cuda_adamw(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                   const lt_adamw_cfg *cfg, int64_t step, float grad_scale);

int lt__cuda_topk(lt_backend *be, float *vals, int32_t *idx, const float *x, int64_t rows,
                  int64_t cols, int k);

int lt__cuda_kmeans_assign(lt_backend *be, int32_t *assign, float *dist, float *second,
                           const float *x, const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d);
int lt__cuda_kmeans_update(lt_backend *be, float *sums, int32_t *counts, const float *x, const int32_t *assign,
                           int64_t n, int64_t k, int64_t d);

#ifdef __cplusplus
}
#endif

#endif
