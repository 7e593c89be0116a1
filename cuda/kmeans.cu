/* k-means on CUDA: the fused assignment and the deterministic segmented update, equal to
 * src/cpu/kmeans.c (ties to the lower centroid index, dist = max(0, ||x||^2 + ||c||^2 - 2 x.c)).
 *
 * Assignment: a GEMM X C^T whose epilogue keeps, per row, the running minimum of
 * ||c||^2 - 2 x.c in registers (then dist = ||x - c||^2 for the winner, in the CPU's order); a block owns BM rows and walks every centroid tile, so the
 * n x k distance matrix never exists, in global memory or anywhere else. Two kernels:
 *  - fp32 (lt_math FP32): SIMT FMAs on 64 x 64 tiles, each dot product summed in order
 *    t = 0..d-1 like the CPU's AVX-512 kernel, so both pick the same centroids, ties included.
 *  - bf16 tensor cores (lt_math BF16), then an fp32 re-check, so the assignments are the fp32
 *    kernel's: x and c are rounded to bf16 once per call into
 *    scratch (rows padded to a multiple of 8 with zeros, so every row is 16-byte aligned), then
 *    128 x 128 x 32 tiles flow through a 4-stage cp.async pipeline into mma.sync m16n8k16 with
 *    fp32 accumulation; ldmatrix feeds the fragments from padded (conflict-free) shared memory.
 *    The centroid tiles of all blocks are the same 2*k*d bytes, so they stay in L2. A row whose
 *    bf16 runner-up is within twice the bf16 error bound of its best (km_flag) is re-run by the
 *    fp32 kernel; the others provably have the fp32 winner already. lt_math TF32 runs the fp32
 *    kernel: there is no TF32 arg-min kernel, and TF32 must not silently mean bf16.
 *
 * Update: rows are sorted by cluster with a stable radix sort (CUB) of (cluster, row) pairs; a
 * cluster's rows form chunks of LT_KM_CHUNK (backend_impl.h): one pass sums every later chunk in
 * parallel, then one block per cluster adds its first chunk and the chunk sums in order, in
 * double, exactly as the CPU does, so the two backends give the same bits and a cluster holding
 * most points costs CHUNK + size/CHUNK adds per column instead of its size. */
#include <cub/device/device_radix_sort.cuh>
#include <cuda_bf16.h>

#include "cuda_common.cuh"
#include "ptx.cuh"

__device__ __forceinline__ bool km_better(float v, int i, float bv, int bi) { return v < bv || (v == bv && i < bi); }

/* A new score v for column col: the running best (bv, bi) and runner-up bs. */
__device__ __forceinline__ void km_push(float v, int col, float &bv, int &bi, float &bs) {
    if (v < bv) bs = bv, bv = v, bi = col;
    else if (v < bs) bs = v;
}

/* Two candidates (v, i, s) merged: the better best wins, the runner-up is the lesser of the
 * winner's runner-up and the loser's best. */
__device__ __forceinline__ void km_merge(float &v, int &i, float &s, float ov, int oi, float os) {
    if (km_better(ov, oi, v, i)) s = fminf(os, v), v = ov, i = oi;
    else s = fminf(s, ov);
}

/* Merge across the lanes `from` apart and below (xor butterfly): every lane of the group ends
 * with the group's best and runner-up. */
__device__ __forceinline__ void km_shfl_best(float &v, int &i, float &s, int from, int to) {
    for (int m = from; m >= to; m >>= 1) {
        float ov = __shfl_xor_sync(LT_FULL_MASK, v, m), os = __shfl_xor_sync(LT_FULL_MASK, s, m);
        int oi = __shfl_xor_sync(LT_FULL_MASK, i, m);
        km_merge(v, i, s, ov, oi, os);
    }
}

/* ---- fp32 kernel -------------------------------------------------------------------------------- */

#define KF_BM 64
#define KF_BN 64
#define KF_BK 16
#define KF_THREADS 256

/* Thread (ty, tx) of a 16 x 16 grid owns rows ty + 16 i and columns tx + 16 j of each tile:
 * the columns it visits only grow, so strict < keeps the first of equal values.
 * list (optional): the kernel's rows are x's rows list[0 .. *count - 1] (the bf16 path's re-check);
 * each row's result depends on that row alone, so the list's order does not matter. */
__global__ void __launch_bounds__(KF_THREADS)
km_assign_f32(int32_t *assign, float *second, const float *x, const float *c, const float *cnorm, int64_t n, int64_t k,
              int64_t d, const int32_t *list, const int *count) {
    __shared__ float xs[KF_BK][KF_BM + 4];
    __shared__ float cs[KF_BK][KF_BN + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int64_t row0 = (int64_t)blockIdx.x * KF_BM;
    if (list) n = *count;
    if (row0 >= n) return; /* the whole block: before any barrier */
    float bv[4], bs[4];
    int bi[4];
#pragma unroll
    for (int i = 0; i < 4; i++) bv[i] = bs[i] = INFINITY, bi[i] = 0;

    for (int64_t c0 = 0; c0 < k; c0 += KF_BN) {
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
        for (int64_t k0 = 0; k0 < d; k0 += KF_BK) {
#pragma unroll
            for (int q = 0; q < (KF_BM * KF_BK) / KF_THREADS; q++) {
                int e = tid + q * KF_THREADS, r = e / KF_BK, kk = e % KF_BK;
                int64_t gk = k0 + kk, gr = row0 + r, gc = c0 + r;
                xs[kk][r] = gr < n && gk < d ? x[(list ? (int64_t)list[gr] : gr) * d + gk] : 0.0f;
                cs[kk][r] = gc < k && gk < d ? c[gc * d + gk] : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < KF_BK; kk++) {
                float a[4], b[4];
#pragma unroll
                for (int i = 0; i < 4; i++) a[i] = xs[kk][ty + 16 * i], b[i] = cs[kk][tx + 16 * i];
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            __syncthreads();
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int64_t col = c0 + tx + 16 * j;
            if (col >= k) break;
            float cn = cnorm[col];
#pragma unroll
            for (int i = 0; i < 4; i++) km_push(cn - 2.0f * acc[i][j], (int)col, bv[i], bi[i], bs[i]);
        }
    }
    /* the 16 threads of a row are lanes tx = 0..15 of one half-warp */
#pragma unroll
    for (int i = 0; i < 4; i++) {
        km_shfl_best(bv[i], bi[i], bs[i], 8, 1);
        int64_t row = row0 + ty + 16 * i;
        if (tx == 0 && row < n) {
            if (list) row = list[row];
            assign[row] = bi[i];
            if (second) second[row] = bs[i];
        }
    }
}

/* ---- bf16 tensor-core kernel ---------------------------------------------------------------------- */

#define KB_BM 128
#define KB_BN 128
#define KB_BK 32
#define KB_STAGES 4
#define KB_THREADS 256
#define KB_LDS (KB_BK + 8) /* shared row stride in bf16: 80 bytes puts ldmatrix's 8 rows on distinct banks */
#define KB_STAGE (KB_BM + KB_BN) * KB_LDS
#define KB_SMEM (KB_STAGES * KB_STAGE * (int)sizeof(__nv_bfloat16))

/* xb[n, dp], cb[k, dp]: bf16 rows padded to dp (a multiple of 8) with zeros.
 * 8 warps as 2 (rows) x 4 (centroids); a warp computes 64 x 32 of each 128 x 128 tile as 4 x 4
 * mma tiles. Thread (g = lane / 4, t = lane % 4) holds rows g and g + 8 of each m16 tile and
 * columns 2t, 2t + 1 of each n8 tile. */
__global__ void __launch_bounds__(KB_THREADS, 2) /* 2 blocks per SM: at most 128 registers */
km_assign_bf16(int32_t *assign, float *second, float *best, const __nv_bfloat16 *xb, const __nv_bfloat16 *cb,
               const float *cnorm, int64_t n, int64_t k, int64_t dp) {
    extern __shared__ __align__(16) unsigned char km_smem[];
    __nv_bfloat16 *smem = (__nv_bfloat16 *)km_smem;
    __shared__ float red_v[4][KB_BM], red_s[4][KB_BM];
    __shared__ int red_i[4][KB_BM];

    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, wm = warp / 4, wn = warp % 4;
    const int g = lane / 4, t = lane % 4;
    const int64_t row0 = (int64_t)blockIdx.x * KB_BM;
    const int kt_n = (int)((dp + KB_BK - 1) / KB_BK);
    const int64_t tiles = (k + KB_BN - 1) / KB_BN, total = tiles * kt_n;

    /* Stage s of iteration it: rows of x and of the centroid tile, columns kt * 32 ... + 31, as
     * 16-byte chunks (4 per row; 512 per operand, 2 per thread each). */
    auto load = [&](int64_t it) {
        if (it >= total) return;
        __nv_bfloat16 *As = smem + (it % KB_STAGES) * KB_STAGE, *Bs = As + KB_BM * KB_LDS;
        int64_t tn = it / kt_n, col = (int64_t)(it % kt_n) * KB_BK;
#pragma unroll
        for (int q = 0; q < 2; q++) {
            int e = tid + q * KB_THREADS, r = e / 4, ch = e % 4;
            int64_t gk = col + ch * 8, gr = row0 + r, gc = tn * KB_BN + r;
            bool ka = gk < dp;
            lt__cp_async16(As + r * KB_LDS + ch * 8, ka && gr < n ? xb + gr * dp + gk : xb, ka && gr < n);
            lt__cp_async16(Bs + r * KB_LDS + ch * 8, ka && gc < k ? cb + gc * dp + gk : cb, ka && gc < k);
        }
    };

    float acc[4][4][4];
    float bv[8], bs[8];
    int bi[8];
#pragma unroll
    for (int i = 0; i < 8; i++) bv[i] = bs[i] = INFINITY, bi[i] = 0;
#pragma unroll
    for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < KB_STAGES - 1; s++) {
        load(s);
        lt__cp_async_commit();
    }
    for (int64_t it = 0; it < total; it++) {
        lt__cp_async_wait<KB_STAGES - 2>(); /* stage it has landed (for this thread) ... */
        __syncthreads();                /* ... for every thread, and stage it - 1 is free again */
        load(it + KB_STAGES - 1);
        lt__cp_async_commit(); /* an empty group near the end keeps the wait count right */

        const __nv_bfloat16 *As = smem + (it % KB_STAGES) * KB_STAGE, *Bs = As + KB_BM * KB_LDS;
#pragma unroll
        for (int kk = 0; kk < KB_BK; kk += 16) {
            unsigned af[4][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; mi++)
                lt__ldsm4(af[mi], As + (wm * 64 + mi * 16 + (lane & 15)) * KB_LDS + kk + (lane >> 4) * 8);
#pragma unroll
            for (int nj = 0; nj < 2; nj++) {
                unsigned r[4];
                lt__ldsm4(r, Bs + (wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * KB_LDS + kk +
                                   ((lane >> 3) & 1) * 8);
                bf[2 * nj][0] = r[0], bf[2 * nj][1] = r[1], bf[2 * nj + 1][0] = r[2], bf[2 * nj + 1][1] = r[3];
            }
#pragma unroll
            for (int mi = 0; mi < 4; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) lt__mma16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
        }

        if (it % kt_n == kt_n - 1) { /* a centroid tile is complete: fold it into the running minimum */
            int64_t c0 = (it / kt_n) * KB_BN + wn * 32 + 2 * t;
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    int64_t col = c0 + ni * 8 + e; /* grows with (ni, e): strict < keeps the first */
                    float cn = col < k ? cnorm[col] : INFINITY;
#pragma unroll
                    for (int mi = 0; mi < 4; mi++)
#pragma unroll
                        for (int h = 0; h < 2; h++) {
                            km_push(cn - 2.0f * acc[mi][ni][2 * h + e], (int)col, bv[2 * mi + h], bi[2 * mi + h],
                                    bs[2 * mi + h]);
                            acc[mi][ni][2 * h + e] = 0.0f;
                        }
                }
        }
    }
    lt__cp_async_wait<0>();

    /* the four lanes t = 0..3 share rows; then the four column warps meet in shared memory */
#pragma unroll
    for (int r = 0; r < 8; r++) {
        km_shfl_best(bv[r], bi[r], bs[r], 2, 1);
        if (t == 0) {
            int lr = wm * 64 + (r / 2) * 16 + (r % 2) * 8 + g;
            red_v[wn][lr] = bv[r], red_i[wn][lr] = bi[r], red_s[wn][lr] = bs[r];
        }
    }
    __syncthreads();
    if (tid < KB_BM && row0 + tid < n) {
        float v = red_v[0][tid], s = red_s[0][tid];
        int i = red_i[0][tid];
        for (int w = 1; w < 4; w++) km_merge(v, i, s, red_v[w][tid], red_i[w][tid], red_s[w][tid]);
        assign[row0 + tid] = i;
        second[row0 + tid] = s, best[row0 + tid] = v;
    }
}

/* dst[rows, dp] = bf16(src[rows, d]), zero in columns d..dp-1 */
__global__ void km_to_bf16(__nv_bfloat16 *dst, const float *src, int64_t rows, int64_t d, int64_t dp) {
    int64_t total = rows * dp, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int64_t r = i / dp, j = i % dp;
        dst[i] = __float2bfloat16_rn(j < d ? src[r * d + j] : 0.0f);
    }
}

/* out[0] = max(cnorm) (NaN ignored), out[1] (an int) = 0: one block */
__global__ void km_cmax(float *out, const float *cnorm, int64_t k) {
    __shared__ float red[256];
    float m = 0.0f;
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, cnorm[j]);
    red[threadIdx.x] = m;
    __syncthreads();
    for (int w = 128; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + w]);
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = red[0], ((int *)out)[1] = 0;
}

/* The bf16 winner of row i is the fp32 winner whenever no other centroid's bf16 score comes
 * within 2 delta of it, delta bounding |bf16 score - fp32 score| for every centroid j:
 *   2 |x~.c~ - x.c| + rounding <= 2 (2u + u^2 + 2 d 2^-24) ||x|| ||c_j|| + 2^-22 (||c_j||^2 + 2 ||x|| ||c_j||)
 * with u = 2^-8 (bf16) and ||c_j|| <= sqrt(max cnorm); times 1.25 for slack. (Proof: the fp32
 * winner j* has bf16_j* <= f32_j* + delta <= f32_win + delta <= best + 2 delta < second, so j* is
 * the bf16 winner, and no fp32 tie is possible.) Other rows (near-ties, NaN, inf) go on the list
 * for the exact fp32 kernel. One warp per row. */
__global__ void km_flag(int32_t *list, int *count, const float *x, const float *best, const float *second,
                        const float *cmax, int64_t n, int64_t d) {
    int lane = threadIdx.x & 31;
    int64_t w0 = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5, ws = ((int64_t)gridDim.x * blockDim.x) >> 5;
    float cm = sqrtf(cmax[0]);
    for (int64_t i = w0; i < n; i += ws) {
        float xx = 0.0f;
        for (int64_t j = lane; j < d; j += 32) xx = fmaf(x[i * d + j], x[i * d + j], xx);
        for (int m = 16; m > 0; m >>= 1) xx += __shfl_xor_sync(LT_FULL_MASK, xx, m);
        float xn = sqrtf(xx), u = 1.0f / 256.0f;
        float delta = 1.25f * (2.0f * (2.0f * u + u * u + 2.0f * (float)d * 5.9604645e-8f) * xn * cm +
                               2.3841858e-7f * (cm * cm + 2.0f * xn * cm));
        float b = best[i], s = second[i];
        bool alone = isinf(s) && s > 0 && isfinite(b);                    /* k = 1, or no other finite score */
        if (lane == 0 && !alone && !(s - b > 2.0f * delta)) list[atomicAdd(count, 1)] = (int32_t)i; /* also NaN, inf */
    }
}

/* dist[i] = ||x_i - c_assign[i]||^2 in the CPU's order (src/cpu/kmeans.c lt__cpu_kmeans_dist): 16 interleaved
 * partial sums of fmaf, then a halving tree. One thread per row: the order is fixed. */
__global__ void km_dist_rows(float *dist, const float *x, const float *c, const int32_t *assign, int64_t n,
                             int64_t d) {
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float *xr = x + i * d, *cr = c + (int64_t)assign[i] * d;
        float s[16];
#pragma unroll
        for (int l = 0; l < 16; l++) s[l] = 0.0f;
        for (int64_t j0 = 0; j0 < d; j0 += 16) {
#pragma unroll
            for (int l = 0; l < 16; l++)
                if (j0 + l < d) {
                    float diff = __fsub_rn(xr[j0 + l], cr[j0 + l]);
                    s[l] = fmaf(diff, diff, s[l]);
                }
        }
#pragma unroll
        for (int w = 8; w > 0; w >>= 1)
#pragma unroll
            for (int l = 0; l < w; l++) s[l] = __fadd_rn(s[l], s[l + w]);
        dist[i] = s[0];
    }
}

static size_t km_align(size_t n) { return (n + 255) & ~(size_t)255; }

extern "C" int lt__cuda_kmeans_assign(lt_backend *be, int32_t *assign, float *dist, float *second, const float *x,
                                      const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d) {
    lt_cuda *cu = lt__cu(be);
    unsigned cap = (unsigned)cu->sm_count * 32;
    if (be->math != LT_MATH_BF16) { /* FP32, and TF32: no TF32 kernel here, so fp32 (exact) */
        km_assign_f32<<<lt__blocks(n, KF_BM, INT32_MAX), KF_THREADS, 0, cu->stream>>>(assign, second, x, c, cnorm, n, k,
                                                                                   d, NULL, NULL);
        LT_LAUNCH_CHECK();
    } else {
        if (n > INT32_MAX)
            return lt_error(LT_ERANGE, "kmeans_assign: %lld rows in one call; bf16 math takes up to 2^31-1",
                            (long long)n);
        int64_t dp = (d + 7) / 8 * 8;
        if (dp == 0) dp = 8;
        size_t xbytes = km_align(sizeof(__nv_bfloat16) * (size_t)(n * dp));
        size_t cbytes = km_align(sizeof(__nv_bfloat16) * (size_t)(k * dp)), nbytes = km_align(sizeof(float) * (size_t)n);
        void *scratch;
        LT_TRY(lt__cuda_scratch(be, xbytes + cbytes + 3 * nbytes + 256, &scratch));
        char *p = (char *)scratch;
        __nv_bfloat16 *xb = (__nv_bfloat16 *)p, *cb = (__nv_bfloat16 *)(p + xbytes);
        float *best = (float *)(p + xbytes + cbytes), *sec = (float *)(p + xbytes + cbytes + nbytes);
        int32_t *list = (int32_t *)(p + xbytes + cbytes + 2 * nbytes);
        float *cmax = (float *)(p + xbytes + cbytes + 3 * nbytes); /* cmax[0]; then the list's count */
        int *count = (int *)cmax + 1;
        if (second) sec = second;
        km_to_bf16<<<lt__blocks(n * dp, 256, cap), 256, 0, cu->stream>>>(xb, x, n, d, dp);
        LT_LAUNCH_CHECK();
        km_to_bf16<<<lt__blocks(k * dp, 256, cap), 256, 0, cu->stream>>>(cb, c, k, d, dp);
        LT_LAUNCH_CHECK();
        static unsigned long long smem_set; /* a bit per device: the opt-in above 48 KiB is per device */
        if (cu->device >= 64 || !(smem_set >> cu->device & 1)) {
            LT_CUDA_CHECK(cudaFuncSetAttribute(km_assign_bf16, cudaFuncAttributeMaxDynamicSharedMemorySize, KB_SMEM));
            if (cu->device < 64) smem_set |= 1ull << cu->device;
        }
        km_assign_bf16<<<lt__blocks(n, KB_BM, INT32_MAX), KB_THREADS, KB_SMEM, cu->stream>>>(assign, sec, best, xb, cb,
                                                                                              cnorm, n, k, dp);
        LT_LAUNCH_CHECK();
        /* the fp32 re-check: rows whose bf16 winner might not be the fp32 one run the exact kernel */
        km_cmax<<<1, 256, 0, cu->stream>>>(cmax, cnorm, k);
        LT_LAUNCH_CHECK();
        km_flag<<<lt__blocks(n, 8, cap), 256, 0, cu->stream>>>(list, count, x, best, sec, cmax, n, d);
        LT_LAUNCH_CHECK();
        km_assign_f32<<<lt__blocks(n, KF_BM, INT32_MAX), KF_THREADS, 0, cu->stream>>>(assign, second, x, c, cnorm, n, k,
                                                                                   d, list, count);
        LT_LAUNCH_CHECK();
    }
    km_dist_rows<<<lt__blocks(n, 128, cap), 128, 0, cu->stream>>>(dist, x, c, assign, n, d);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- update ------------------------------------------------------------------------------------ */

/* keys[i] = assign[i], or k (a bucket after every cluster) for rows to skip; rows[i] = i */
__global__ void km_keys(unsigned *keys, int32_t *rows, const int32_t *assign, int64_t n, int64_t k) {
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int32_t a = assign[i];
        keys[i] = a >= 0 && a < k ? (unsigned)a : (unsigned)k;
        rows[i] = (int32_t)i;
    }
}

/* start[c] = first position of cluster c in the sorted keys, for c = 0..k (start[k] = where the
 * skipped rows begin, or n): each c is written by exactly one i. */
__global__ void km_bounds(int32_t *start, const unsigned *keys, int64_t n, int64_t k) {
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int64_t key = keys[i], prev = i ? (int64_t)keys[i - 1] : -1;
        for (int64_t c = prev + 1; c <= key; c++) start[c] = (int32_t)i;
        if (i == n - 1)
            for (int64_t c = key + 1; c <= k; c++) start[c] = (int32_t)n;
    }
}

/* Pass 1 (LT_KM_CHUNK, backend_impl.h): block q looks at sorted positions [q C, q C + C) for the
 * start of a cluster's later chunk (the first chunk is pass 2's): at most one lies there, since two
 * such starts are at least C apart. That chunk's rows are summed in double in row order into
 * part[q, :]. Every chunk of every cluster runs at once, however big the cluster. */
__global__ void km_chunksum(double *part, const float *x, const unsigned *keys, const int32_t *rows,
                            const int32_t *start, int64_t n, int64_t k, int64_t d) {
    __shared__ int64_t found;
    for (int64_t q = blockIdx.x; q * LT_KM_CHUNK < n; q += gridDim.x) {
        if (threadIdx.x == 0) found = -1;
        __syncthreads();
        int64_t lo = q * LT_KM_CHUNK, hi = lo + LT_KM_CHUNK < n ? lo + LT_KM_CHUNK : n;
        for (int64_t s = lo + threadIdx.x; s < hi; s += blockDim.x) {
            unsigned c = keys[s];
            if (c >= k) continue;
            int64_t off = s - start[c];
            if (off >= LT_KM_CHUNK && off % LT_KM_CHUNK == 0) found = s; /* one writer at most */
        }
        __syncthreads();
        int64_t s = found;
        if (s >= 0) {
            int64_t end = start[keys[s] + 1], e = s + LT_KM_CHUNK < end ? s + LT_KM_CHUNK : end;
            for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
                double acc = 0.0;
                for (int64_t r = s; r < e; r++) acc += (double)x[(int64_t)rows[r] * d + j];
                part[q * d + j] = acc;
            }
        }
        __syncthreads(); /* `found` is reused */
    }
}

/* Pass 2, one block per cluster: its first chunk of rows (in row order, the sort is stable) summed
 * in double per column, then the later chunks' sums from pass 1 in chunk order. */
__global__ void km_segsum(float *sums, int32_t *counts, const float *x, const double *part, const int32_t *rows,
                          const int32_t *start, int64_t k, int64_t d) {
    for (int64_t c = blockIdx.x; c < k; c += gridDim.x) {
        int64_t beg = start[c], end = start[c + 1], e = beg + LT_KM_CHUNK < end ? beg + LT_KM_CHUNK : end;
        if (threadIdx.x == 0) counts[c] += (int32_t)(end - beg);
        for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
            double acc = 0.0;
            for (int64_t r = beg; r < e; r++) acc += (double)x[(int64_t)rows[r] * d + j];
            for (int64_t q = beg + LT_KM_CHUNK; q < end; q += LT_KM_CHUNK) acc += part[q / LT_KM_CHUNK * d + j];
            sums[c * d + j] = (float)((double)sums[c * d + j] + acc);
        }
    }
}

extern "C" int lt__cuda_kmeans_update(lt_backend *be, float *sums, int32_t *counts, const float *x,
                                      const int32_t *assign, int64_t n, int64_t k, int64_t d) {
    if (n <= 0) return 0; /* as the CPU */
    lt_cuda *cu = lt__cu(be);
    if (n > INT32_MAX)
        return lt_error(LT_ERANGE, "kmeans_update: %lld rows in one call; the CUDA backend takes up to 2^31-1",
                        (long long)n);
    int end_bit = 1;
    while (end_bit < 32 && ((int64_t)1 << end_bit) <= k) end_bit++; /* keys are 0..k */
    size_t temp = 0;
    LT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, temp, (const unsigned *)NULL, (unsigned *)NULL,
                                                  (const int32_t *)NULL, (int32_t *)NULL, (int)n, 0, end_bit,
                                                  cu->stream));
    int64_t slots = n / LT_KM_CHUNK + 1;
    size_t nk = km_align(sizeof(unsigned) * (size_t)n), ns = km_align(sizeof(int32_t) * (size_t)(k + 1));
    size_t np = km_align(sizeof(double) * (size_t)slots * (size_t)(d > 0 ? d : 1));
    void *scratch;
    LT_TRY(lt__cuda_scratch(be, np + 4 * nk + ns + temp, &scratch));
    char *p = (char *)scratch;
    double *part = (double *)p;
    p += np;
    unsigned *keys_in = (unsigned *)p, *keys_out = (unsigned *)(p + nk);
    int32_t *rows_in = (int32_t *)(p + 2 * nk), *rows_out = (int32_t *)(p + 3 * nk), *start = (int32_t *)(p + 4 * nk);
    void *tmp = p + 4 * nk + ns;
    unsigned cap = (unsigned)cu->sm_count * 32;
    km_keys<<<lt__blocks(n, 256, cap), 256, 0, cu->stream>>>(keys_in, rows_in, assign, n, k);
    LT_LAUNCH_CHECK();
    LT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(tmp, temp, keys_in, keys_out, rows_in, rows_out, (int)n, 0, end_bit,
                                                  cu->stream));
    km_bounds<<<lt__blocks(n, 256, cap), 256, 0, cu->stream>>>(start, keys_out, n, k);
    LT_LAUNCH_CHECK();
    if (n > LT_KM_CHUNK) {
        km_chunksum<<<lt__blocks(slots, 1, cap), 128, 0, cu->stream>>>(part, x, keys_out, rows_out, start, n, k, d);
        LT_LAUNCH_CHECK();
    }
    km_segsum<<<lt__blocks(k, 1, cap), 128, 0, cu->stream>>>(sums, counts, x, part, rows_out, start, k, d);
    LT_LAUNCH_CHECK();
    return 0;
}
