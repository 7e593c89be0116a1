/* What the files of the CUDA backend share: the backend's private state, error macros, launch
 * helpers and the warp/block reductions the row kernels are built from. Internal to cuda/. */
#ifndef LONGTAIL_CUDA_COMMON_CUH
#define LONGTAIL_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
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
} lt_cuda_pinned;

struct lt_gemm_plans; /* gemm.cu */

typedef struct lt_cuda {
    int device, sm_count;
    cudaStream_t stream;  /* every op runs on this one stream, in order */
    cublasHandle_t blas;  /* bound to stream */
    cublasLtHandle_t blaslt;
    void *lt_workspace;   /* cuBLASLt workspace (gemm.cu) */
    struct lt_gemm_plans *plans; /* cuBLASLt descriptors and algorithms by shape (gemm.cu) */
    int *status;          /* device word: 0 or the LT_FAULT_* of the first bad input */
    lt_cuda_pinned *pinned;
    void *scratch;        /* grow-only scratch for ops that need temporaries (see lt__cuda_scratch) */
    size_t scratch_bytes;
    struct lt_rnn_state *rnn; /* the recurrent layers' state (rnn.cu): chosen impl, buffers, cuDNN; NULL until used */
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

/* 16-byte accesses for every pointer given (NULLs are ignored) and rows of whole 16-byte words:
 * cols a multiple of width, the elements per 16 bytes (lt__vw). */
static inline int lt__vec_ok(int64_t cols, int width, const void *p0, const void *p1, const void *p2 = NULL,
                             const void *p3 = NULL, const void *p4 = NULL, const void *p5 = NULL) {
    const void *ps[6] = {p0, p1, p2, p3, p4, p5};
    if (cols % width) return 0;
    for (int i = 0; i < 6; i++)
        if (ps[i] && !lt__aligned16(ps[i])) return 0;
    return 1;
}

/* Block shape (bx, by) for kernels that walk rows of `units` 16-byte (or scalar) units: bx threads
 * across a row, by rows at a time, 256 threads in all. */
static inline dim3 lt__row_block(int64_t units) {
    int bx = units >= 256 ? 256 : (int)((units + 31) / 32 * 32);
    return dim3(bx, 256 / bx);
}

/* A kernel that needs more than the default 48 KiB of dynamic shared memory must opt in. */
template <typename K> static inline cudaError_t lt__smem_optin(K *kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return cudaSuccess;
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

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

/* ---- bf16 and 16-byte accesses -------------------------------------------------------------- */

typedef __nv_bfloat16 lt_bf16;

/* f32 -> bf16 bits, round to nearest even, NaN kept (quiet): bit for bit lt_f32_to_bf16 in
 * include/longtail/tensor.h, which __float2bfloat16_rn is not for NaN. */
__device__ __forceinline__ uint16_t lt__bf16_bits(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
__device__ __forceinline__ float lt__bf16_float(uint32_t bits) { return __uint_as_float(bits << 16); }

/* Activations are float or lt_bf16 in memory, float in registers. */
__device__ __forceinline__ float lt__ldf(const float *p) { return *p; }
__device__ __forceinline__ float lt__ldf(const lt_bf16 *p) { return lt__bf16_float(__bfloat16_as_ushort(*p)); }
__device__ __forceinline__ void lt__stf(float *p, float v) { *p = v; }
__device__ __forceinline__ void lt__stf(lt_bf16 *p, float v) { *p = __ushort_as_bfloat16(lt__bf16_bits(v)); }
/* v as it reads back after a store to E */
template <typename E> __device__ __forceinline__ float lt__round(float v) {
    if constexpr (sizeof(E) == 2) return lt__bf16_float(lt__bf16_bits(v));
    else return v;
}

/* Elements per 16-byte access. */
template <typename E> constexpr int lt__vw() { return (int)(16 / sizeof(E)); }

/* v[N] = p[0..N) as floats: one element (N = 1), or 16-byte accesses (p 16-byte aligned, N a
 * multiple of lt__vw<E>()); bf16 also takes N a multiple of 4 only: 8-byte accesses (p 8-byte
 * aligned). lt__store writes the same way. */
template <int N> __device__ __forceinline__ void lt__load(float *v, const float *p) {
    if constexpr (N == 1) {
        v[0] = *p;
    } else {
        static_assert(N % 4 == 0, "whole float4s");
#pragma unroll
        for (int i = 0; i < N / 4; i++) {
            float4 q = ((const float4 *)p)[i];
            v[4 * i] = q.x, v[4 * i + 1] = q.y, v[4 * i + 2] = q.z, v[4 * i + 3] = q.w;
        }
    }
}
template <int N> __device__ __forceinline__ void lt__load(float *v, const lt_bf16 *p) {
    if constexpr (N == 1) {
        v[0] = lt__ldf(p);
    } else if constexpr (N % 8 == 0) {
#pragma unroll
        for (int i = 0; i < N / 8; i++) {
            uint4 q = ((const uint4 *)p)[i];
            uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
            for (int e = 0; e < 4; e++)
                v[8 * i + 2 * e] = __uint_as_float(w[e] << 16), v[8 * i + 2 * e + 1] = __uint_as_float(w[e] & 0xffff0000u);
        }
    } else {
        static_assert(N % 4 == 0, "whole 8-byte words");
#pragma unroll
        for (int i = 0; i < N / 4; i++) {
            uint2 q = ((const uint2 *)p)[i];
            v[4 * i] = __uint_as_float(q.x << 16), v[4 * i + 1] = __uint_as_float(q.x & 0xffff0000u);
            v[4 * i + 2] = __uint_as_float(q.y << 16), v[4 * i + 3] = __uint_as_float(q.y & 0xffff0000u);
        }
    }
}
template <int N> __device__ __forceinline__ void lt__store(float *p, const float *v) {
    if constexpr (N == 1) {
        *p = v[0];
    } else {
        static_assert(N % 4 == 0, "whole float4s");
#pragma unroll
        for (int i = 0; i < N / 4; i++) ((float4 *)p)[i] = make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
    }
}
template <int N> __device__ __forceinline__ void lt__store(lt_bf16 *p, const float *v) {
    if constexpr (N == 1) {
        lt__stf(p, v[0]);
    } else if constexpr (N % 8 == 0) {
#pragma unroll
        for (int i = 0; i < N / 8; i++) {
            uint32_t w[4];
#pragma unroll
            for (int e = 0; e < 4; e++)
                w[e] = (uint32_t)lt__bf16_bits(v[8 * i + 2 * e]) | (uint32_t)lt__bf16_bits(v[8 * i + 2 * e + 1]) << 16;
            ((uint4 *)p)[i] = make_uint4(w[0], w[1], w[2], w[3]);
        }
    } else {
        static_assert(N % 4 == 0, "whole 8-byte words");
#pragma unroll
        for (int i = 0; i < N / 4; i++)
            ((uint2 *)p)[i] = make_uint2((uint32_t)lt__bf16_bits(v[4 * i]) | (uint32_t)lt__bf16_bits(v[4 * i + 1]) << 16,
                                         (uint32_t)lt__bf16_bits(v[4 * i + 2]) | (uint32_t)lt__bf16_bits(v[4 * i + 3]) << 16);
    }
}

/* Compile-time width for the callbacks of lt__row_for. */
template <int N> struct lt_n {
    static constexpr int value = N;
};

/* Calls f(j, lt_n<N>()) over this thread's share of a row of `cols` columns, split over a group of
 * TPR threads: W columns [j, j + W) at a time when vec (cols % W == 0 and every row pointer 16-byte
 * aligned), else one. The callback reads its width as decltype(n)::value. */
template <int TPR, int W, typename F>
__device__ __forceinline__ void lt__row_for(int64_t cols, int lane, int vec, F &&f) {
    if (vec)
        for (int64_t j = (int64_t)lane * W; j < cols; j += (int64_t)TPR * W) f(j, lt_n<W>());
    else
        for (int64_t j = lane; j < cols; j += TPR) f(j, lt_n<1>());
}

/* The exact (erf) GELU that BERT uses and its derivative, as src/cpu/nn.c computes them. */
#define LT_INV_SQRT2 0.70710678118654752f
#define LT_INV_SQRT_2PI 0.39894228040143268f
__device__ __forceinline__ float lt__gelu(float x) { return 0.5f * x * (1.0f + erff(x * LT_INV_SQRT2)); }
__device__ __forceinline__ float lt__gelu_grad(float x) {
    float cdf = 0.5f * (1.0f + erff(x * LT_INV_SQRT2));
    float pdf = LT_INV_SQRT_2PI * expf(-0.5f * x * x);
    return cdf + x * pdf;
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

/* ---- column sums (nn.cu) -------------------------------------------------------------------- */

/* Deterministic column sums go in two passes: fixed row chunks into partials, then the partials in
 * chunk order. lt__colsum_chunks picks the chunks for rows x (tiles column tiles): enough to fill
 * the GPU, at least 64 rows each, *per rows per chunk; 1 means one pass straight into the output. */
int64_t lt__colsum_chunks(lt_cuda *cu, int64_t rows, int64_t tiles, int64_t *per);
/* out[y * out_ld + j] (+)= sum of x[r * ld + j] over the rows r of chunk y (per rows each), for
 * chunks y < chunks and columns j < cols. */
int lt__colsum(lt_cuda *cu, float *out, int64_t out_ld, int accumulate, const float *x, int64_t ld, int64_t rows,
               int64_t cols, int64_t per, int64_t chunks);

/* ---- the op table's CUDA entries (one .cu per family) ------------------------------------- */

#ifdef __cplusplus
extern "C" {
#endif

/* every op of the list: lt__cuda_NAME, with its slot's signature */
#define LT_OP(name, params) int lt__cuda_##name params;
#include "core/op_list.h"

/* gemm.cu: the cuBLASLt plan cache, created with the backend and released with it */
int lt__cuda_gemm_init(lt_backend *be);
void lt__cuda_gemm_release(lt_backend *be);
/* rnn.cu: frees the recurrent layers' buffers and cuDNN objects (backend destruction) */
void lt__cuda_rnn_release(lt_backend *be);

#ifdef __cplusplus
}
#endif

#endif
