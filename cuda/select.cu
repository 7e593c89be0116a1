/* Per-row top-k on CUDA, equal to src/cpu/select.c: sorted descending, ties to the lower index,
 * NaN below everything (-inf included).
 *
 * One block per row:
 *  1. Each float maps to a uint32 key whose unsigned order is the ranking (NaN -> 0, -0 -> +0).
 *  2. Radix select finds T, the k-th largest key: 4 passes of an 8-bit histogram (shared-memory
 *     atomics) over the keys that match the digits chosen so far.
 *  3. One more pass collects every key > T (any slot: they are sorted next) and the first
 *     `need` keys == T by index (a block-wide ordered count, only until enough are found).
 *  4. A bitonic sort of (key, ~index) in shared memory orders the k winners; values are read
 *     back from x, so they are the original bits. */
#include "cuda_common.cuh"

#define TOPK_THREADS 512
#define TOPK_WARPS (TOPK_THREADS / 32)

/* Order-preserving key: larger float -> larger key; every NaN -> 0, below -inf (0x007fffff). */
__device__ __forceinline__ uint32_t topk_key(float f) {
    uint32_t b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) return 0; /* NaN */
    if ((b << 1) == 0) b = 0;                     /* -0 == +0, as the CPU's comparison says */
    return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

/* Sort entry: key in the high half, ~index in the low half, so larger entry = ranks higher
 * (larger key, then lower index). 0 is below every real entry: it is the padding. */
__device__ __forceinline__ uint64_t topk_entry(uint32_t key, int64_t j) {
    return (uint64_t)key << 32 | (uint32_t)(0xffffffffu - (uint32_t)j);
}

/* Warp 0: among the 256 digit counts, the digit d where the `need`-th largest falls, counting
 * from digit 255 down; writes d and how many of digit d are still needed. Lane l owns digits
 * 255 - 8l down to 248 - 8l, so a prefix sum over lanes counts from the top. */
__device__ void select_digit(const unsigned *hist, unsigned need, unsigned *digit, unsigned *need_out) {
    int lane = threadIdx.x;
    unsigned c[8], sum = 0;
#pragma unroll
    for (int q = 0; q < 8; q++) sum += c[q] = hist[255 - 8 * lane - q];
    unsigned incl = sum;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        unsigned t = __shfl_up_sync(LT_FULL_MASK, incl, o);
        if (lane >= o) incl += t;
    }
    unsigned excl = incl - sum;
    if (excl < need && need <= incl) { /* exactly one lane: counts are >= need in total */
        unsigned rem = need - excl;
        for (int q = 0; q < 8; q++) {
            if (c[q] >= rem) {
                *digit = 255 - 8 * lane - q;
                *need_out = rem;
                break;
            }
            rem -= c[q];
        }
    }
}

/* vals[R, k], idx[R, k] = the k largest of each row of x[R, N], descending. */
__global__ void __launch_bounds__(TOPK_THREADS)
topk_kernel(float *vals, int32_t *idx, const float *x, int64_t rows, int64_t cols, int k) {
    __shared__ unsigned hist[256];
    __shared__ uint64_t cand[LT_TOPK_MAX];
    __shared__ unsigned sel_digit, sel_need, n_greater;
    __shared__ unsigned warp_count[TOPK_WARPS];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols;

        /* 2. radix select: T = prefix after 4 passes; need = how many keys == T are in the top k */
        uint32_t prefix = 0, mask = 0;
        unsigned need = (unsigned)k;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int i = tid; i < 256; i += TOPK_THREADS) hist[i] = 0;
            __syncthreads();
            for (int64_t j = tid; j < cols; j += TOPK_THREADS) {
                uint32_t key = topk_key(xr[j]);
                if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
            }
            __syncthreads();
            if (warp == 0) select_digit(hist, need, &sel_digit, &sel_need);
            __syncthreads();
            prefix |= sel_digit << shift;
            mask |= 255u << shift;
            need = sel_need;
        }
        const uint32_t T = prefix;
        const unsigned greater = (unsigned)k - need; /* keys > T, all in the top k */

        /* 3. collect. Keys > T take slots [0, greater) in any order; the first `need` keys == T
         * by index take [greater, k), ranked by a block-wide count while any are still missing. */
        if (tid == 0) n_greater = 0;
        __syncthreads();
        unsigned taken = 0; /* keys == T seen so far, in index order; the same in every thread */
        for (int64_t c0 = 0; c0 < cols; c0 += TOPK_THREADS) {
            int64_t j = c0 + tid;
            uint32_t key = j < cols ? topk_key(xr[j]) : 0;
            if (j < cols && key > T) cand[atomicAdd(&n_greater, 1u)] = topk_entry(key, j);
            if (taken < need) { /* uniform: taken only changes by block-wide counts */
                bool eq = j < cols && key == T;
                unsigned ballot = __ballot_sync(LT_FULL_MASK, eq);
                if (lane == 0) warp_count[warp] = __popc(ballot);
                __syncthreads();
                unsigned before = 0, total = 0;
                for (int w = 0; w < TOPK_WARPS; w++) {
                    unsigned cw = warp_count[w];
                    before += w < warp ? cw : 0;
                    total += cw;
                }
                unsigned rank = taken + before + __popc(ballot & ((1u << lane) - 1));
                if (eq && rank < need) cand[greater + rank] = topk_entry(T, j);
                taken += total;
                __syncthreads(); /* warp_count is rewritten next chunk */
            }
        }

        /* 4. bitonic sort, descending, over the next power of two >= k (padding entries are 0) */
        int P = 1;
        while (P < k) P <<= 1;
        for (int i = k + tid; i < P; i += TOPK_THREADS) cand[i] = 0;
        __syncthreads();
        for (int size = 2; size <= P; size <<= 1) {
            for (int stride = size >> 1; stride > 0; stride >>= 1) {
                for (int t = tid; t < P / 2; t += TOPK_THREADS) {
                    int lo = 2 * t - (t & (stride - 1)), hi = lo + stride;
                    bool desc = (lo & size) == 0; /* the last merge (size == P) is all descending */
                    uint64_t a = cand[lo], b = cand[hi];
                    if ((a < b) == desc) cand[lo] = b, cand[hi] = a;
                }
                __syncthreads();
            }
        }
        for (int i = tid; i < k; i += TOPK_THREADS) {
            int32_t j = (int32_t)(0xffffffffu - (uint32_t)cand[i]);
            vals[r * k + i] = xr[j];
            idx[r * k + i] = j;
        }
        __syncthreads(); /* cand and hist are reused by the next row */
    }
}

extern "C" int lt__cuda_topk(lt_backend *be, float *vals, int32_t *idx, const float *x, int64_t rows,
                             int64_t cols, int k) {
    if (rows <= 0) return 0;
    if (cols > INT32_MAX) /* indices are int32, and the sort entry keeps 32 bits of index */
        return lt_error(LT_ERANGE, "topk: rows of %lld columns; the CUDA backend takes up to 2^31-1",
                        (long long)cols);
    lt_cuda *cu = lt__cu(be);
    topk_kernel<<<lt__blocks(rows, 1, LT_MAX_BLOCKS), TOPK_THREADS, 0, cu->stream>>>(vals, idx, x, rows, cols, k);
    LT_LAUNCH_CHECK();
    return 0;
}
