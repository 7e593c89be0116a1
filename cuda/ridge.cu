/* Ridge models of the bandits on CUDA (ops.h, "ridge regression for the bandits").
 *   ridge_update: one block per model (grid-strided over models); the block walks the rows in
 *     order and applies those of its model: u = A^-1 x (a thread per row of A^-1), the denominator
 *     by a block reduction, then the rank-1 update spread over the threads. Models run in parallel,
 *     rows of one model in order, as the CPU does.
 *   ridge_score: one block per candidate row: u = A^-1 x, then u . b and u . x by block reductions.
 * Sums in double, like the CPU; the shared memory holds x (D floats) and u (D doubles). */
#include "cuda_common.cuh"

#define RIDGE_THREADS 256

/* Sum of v over the block (every thread gets it); red holds RIDGE_THREADS / 32 doubles. */
__device__ static double ridge_block_sum(double v, double *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(LT_FULL_MASK, v, o);
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    __syncthreads(); /* red may still be read by the previous call */
    if (lane == 0) red[w] = v;
    __syncthreads();
    double s = 0;
    for (int k = 0; k < RIDGE_THREADS / 32; k++) s += red[k];
    return s;
}

/* u[p] = (A x)_p for the D rows of A, x in shared memory. */
__device__ static void ridge_mv(double *u, const float *A, const float *x, int64_t D) {
    for (int64_t p = threadIdx.x; p < D; p += blockDim.x) {
        const float *row = A + p * D;
        double s = 0;
        for (int64_t q = 0; q < D; q++) s += (double)row[q] * x[q];
        u[p] = s;
    }
}

__global__ void ridge_update_kernel(float *ainv, float *b, const float *x, const float *r, const int32_t *model,
                                    int64_t n, int64_t M, int64_t D) {
    extern __shared__ double ridge_smem[];
    double *u = ridge_smem, *red = ridge_smem + D;
    float *xs = (float *)(red + RIDGE_THREADS / 32);
    for (int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        float *A = ainv + m * D * D, *bm = b + m * D;
        for (int64_t i = 0; i < n; i++) {
            if ((model ? (int64_t)model[i] : 0) != m) continue; /* uniform over the block */
            __syncthreads();
            for (int64_t p = threadIdx.x; p < D; p += blockDim.x) xs[p] = x[i * D + p];
            __syncthreads();
            ridge_mv(u, A, xs, D);
            __syncthreads();
            double part = 0;
            for (int64_t p = threadIdx.x; p < D; p += blockDim.x) part += u[p] * xs[p];
            double inv = 1.0 / (1.0 + ridge_block_sum(part, red));
            for (int64_t e = threadIdx.x; e < D * D; e += blockDim.x) {
                int64_t p = e / D, q = e - p * D;
                A[e] = (float)((double)A[e] - u[p] * inv * u[q]);
            }
            for (int64_t p = threadIdx.x; p < D; p += blockDim.x) bm[p] = (float)((double)bm[p] + (double)r[i] * xs[p]);
            __syncthreads(); /* A is read again by the next row of this model */
        }
    }
}

__global__ void ridge_score_kernel(float *mean, float *var, const float *ainv, const float *b, const float *x,
                                   const int32_t *model, int64_t n, int64_t M, int64_t D) {
    extern __shared__ double ridge_smem[];
    double *u = ridge_smem, *red = ridge_smem + D;
    float *xs = (float *)(red + RIDGE_THREADS / 32);
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        int64_t m = model ? (int64_t)model[i] : 0;
        if (m < 0 || m >= M) { /* the CPU refuses these; here the row reads as unknown */
            if (threadIdx.x == 0) {
                mean[i] = __int_as_float(0x7fc00000);
                if (var) var[i] = __int_as_float(0x7fc00000);
            }
            continue;
        }
        const float *A = ainv + m * D * D, *bm = b + m * D;
        __syncthreads();
        for (int64_t p = threadIdx.x; p < D; p += blockDim.x) xs[p] = x[i * D + p];
        __syncthreads();
        ridge_mv(u, A, xs, D);
        __syncthreads();
        double pm = 0, pv = 0;
        for (int64_t p = threadIdx.x; p < D; p += blockDim.x) pm += u[p] * bm[p], pv += u[p] * xs[p];
        double sm = ridge_block_sum(pm, red), sv = ridge_block_sum(pv, red);
        if (threadIdx.x == 0) {
            mean[i] = (float)sm;
            if (var) var[i] = (float)sv;
        }
    }
}

static size_t ridge_smem_bytes(int64_t D) {
    return sizeof(double) * (size_t)(D + RIDGE_THREADS / 32) + sizeof(float) * (size_t)D;
}

extern "C" int lt__cuda_ridge_update(lt_backend *be, float *ainv, float *b, const float *x, const float *r,
                                     const int32_t *model, int64_t n, int64_t M, int64_t D) {
    lt_cuda *cu = lt__cu(be);
    ridge_update_kernel<<<lt__blocks(M, 1, (int64_t)cu->sm_count * 8), RIDGE_THREADS, ridge_smem_bytes(D), cu->stream>>>(
        ainv, b, x, r, model, n, M, D);
    LT_LAUNCH_CHECK();
    return 0;
}

extern "C" int lt__cuda_ridge_score(lt_backend *be, float *mean, float *var, const float *ainv, const float *b,
                                    const float *x, const int32_t *model, int64_t n, int64_t M, int64_t D) {
    lt_cuda *cu = lt__cu(be);
    ridge_score_kernel<<<lt__blocks(n, 1, LT_MAX_BLOCKS), RIDGE_THREADS, ridge_smem_bytes(D), cu->stream>>>(
        mean, var, ainv, b, x, model, n, M, D);
    LT_LAUNCH_CHECK();
    return 0;
}
