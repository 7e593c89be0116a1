/* The CUDA per-tile kernels for softmax ranking and top-K scoring; the chunk loops that call them
 * (and the cuBLAS GEMMs between them) are in src/core/rank.c, whose header comment describes the
 * design. They compute what src/cpu/rank.c computes:
 *  - xent_tile_fwd: one row per warp (tiles up to 1024 columns) or per block; each thread keeps an
 *    online (max, sum) over its columns in one pass, the group merges them, one thread merges the
 *    tile's pair into the running state of its row.
 *  - xent_tile_bwd: element-wise dS, then the column sums through nn.cu's deterministic colsum.
 *  - sampled_prep / sampled_scatter: a warp per row for the target's dot product; the scatters
 *    into dv and dbias walk rows (or negatives) in order, so repeated ids add up deterministically.
 *  - topk_tile: one block per row. The running top-K is loaded into shared memory as 64-bit
 *    entries (an order-preserving key of the score above ~id, exactly as the CPU ranks: larger
 *    wins, ties to the lower id, 0 = empty slot). Threads stream the row 512 scores per round and
 *    append every entry above the current K-th to a candidate area after the list; when the area
 *    could overflow in the next round (and at the end) a bitonic sort of list + candidates in
 *    shared memory keeps the best K and raises the threshold. After the first rounds almost every
 *    score is rejected by one compare. Exclusions are written into the tile as NaN first (NaN is
 *    never a candidate). K up to LT_TOPK_MAX: the list + candidate area is at most 2048 entries. */
#include "cuda_common.cuh"

/* ---- softmax cross-entropy tiles --------------------------------------------------------------- */

struct rk_ms { /* online softmax state: max m and sum s of exp(x - m) */
    float m, s;
};

__device__ __forceinline__ rk_ms rk_merge(rk_ms a, rk_ms b) {
    float m = fmaxf(a.m, b.m);
    if (m == -INFINITY) return rk_ms{m, a.s + b.s}; /* 0, or NaN: a NaN score is kept until a finite max comes */
    return rk_ms{m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

/* all-reduce of rk_ms over a row group of TPR threads (warp shuffles, then shared memory) */
template <int TPR> __device__ __forceinline__ rk_ms rk_group_merge(rk_ms v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = rk_merge(v, rk_ms{__shfl_xor_sync(LT_FULL_MASK, v.m, o), __shfl_xor_sync(LT_FULL_MASK, v.s, o)});
    if constexpr (TPR > 32) {
        __shared__ rk_ms buf[32];
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        __syncthreads();
        if (lane == 0) buf[warp] = v;
        __syncthreads();
        v = lane < TPR / 32 ? buf[lane] : rk_ms{-INFINITY, 0.0f};
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            v = rk_merge(v, rk_ms{__shfl_xor_sync(LT_FULL_MASK, v.m, o), __shfl_xor_sync(LT_FULL_MASK, v.s, o)});
    }
    return v;
}

template <int TPR>
__global__ void xent_tile_fwd_kernel(float *loss, float *lse, float *m, float *l, float *ts, float *s,
                                     const float *bias, const int32_t *targets, int64_t B, int64_t n, int64_t j0,
                                     int64_t N, int tcol0, int first, int last, int *status) {
    lt_row_iter<TPR> it;
    for (int64_t b = it.first; b < B; b += it.step) {
        float *sr = s + b * n;
        int64_t t = targets[b], pos = tcol0 ? 0 : t - j0;
        bool hit = t >= 0 && pos >= 0 && pos < n; /* the same in every thread of the group */
        rk_ms acc{-INFINITY, 0.0f};
        float tval = 0.0f; /* the target's score, in the thread that reads it (a group sum hands it to all) */
        for (int64_t j = it.lane; j < n; j += TPR) {
            float x = sr[j];
            if (bias) sr[j] = x = x + bias[j];
            if (j == pos) tval = x;
            if (x > acc.m) {
                acc.s = acc.s * expf(acc.m - x) + 1.0f; /* exp(-inf) = 0 on the first */
                acc.m = x;
            } else if (!(x <= -INFINITY)) { /* NaN too: it makes the sum NaN, as on the CPU */
                acc.s += expf(x - acc.m);
            }
        }
        acc = rk_group_merge<TPR>(acc);
        if (hit) tval = lt__group_sum<TPR>(tval); /* one non-zero term: exact */
        if (it.lane == 0) {
            if (first && t >= N) lt__fault(status, LT_FAULT_XENT_FWD);
            rk_ms run = first ? rk_ms{-INFINITY, 0.0f} : rk_ms{m[b], l[b]};
            run = rk_merge(run, acc);
            if (run.m == -INFINITY) run.s = 0.0f; /* as the CPU: only -inf and NaN scores so far add nothing */
            m[b] = run.m, l[b] = run.s;
            if (first) ts[b] = 0.0f;
            if (hit) ts[b] = tval;
            if (last) {
                float z = run.m + logf(run.s);
                lse[b] = z;
                loss[b] = t < 0 ? 0.0f : z - ts[b];
            }
        }
    }
}

extern "C" int lt__cuda_xent_tile_fwd(lt_backend *be, float *loss, float *lse, float *m, float *l, float *ts, float *s,
                                      const float *bias, const int32_t *targets, int64_t B, int64_t n, int64_t j0,
                                      int64_t N, int tcol0, int first, int last) {
    if (B <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    LT_LAUNCH_ROWS(cu, B, n, xent_tile_fwd_kernel, loss, lse, m, l, ts, s, bias, targets, B, n, j0, N, tcol0, first,
                   last, cu->status);
    LT_LAUNCH_CHECK();
    return 0;
}

/* s[B, n] = dloss_b (exp(s + bias - lse_b) - onehot), 0 in ignored rows */
__global__ void xent_tile_bwd_kernel(float *s, const float *bias, const float *lse, const float *dloss,
                                     const int32_t *targets, int64_t B, int64_t n, int64_t j0, int tcol0) {
    int64_t total = B * n, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t b = i / n, j = i - b * n, t = targets[b];
        if (t < 0) {
            s[i] = 0.0f;
            continue;
        }
        float g = dloss[b], x = s[i] + (bias ? bias[j] : 0.0f);
        float d = g * expf(x - lse[b]);
        if (j == (tcol0 ? 0 : t - j0)) d -= g;
        s[i] = d;
    }
}

extern "C" int lt__cuda_xent_tile_bwd(lt_backend *be, float *s, float *dbias, const float *bias, const float *lse,
                                      const float *dloss, const int32_t *targets, int64_t B, int64_t n, int64_t j0,
                                      int tcol0) {
    if (B <= 0 || n <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    xent_tile_bwd_kernel<<<lt__blocks(B * n, 256, LT_MAX_BLOCKS), 256, 0, cu->stream>>>(s, bias, lse, dloss, targets,
                                                                                        B, n, j0, tcol0);
    LT_LAUNCH_CHECK();
    return dbias ? lt__cuda_bias_bwd(be, dbias, s, LT_F32, B, n) : 0;
}

/* ---- sampled softmax ---------------------------------------------------------------------------- */

/* One warp per row: column 0 = u_b . v_t + bias_t - logq_t; negatives corrected and masked. */
__global__ void sampled_prep_kernel(float *s, const float *u, const float *v, const float *bias, const float *logq,
                                    const int32_t *targets, const int32_t *neg, int64_t B, int64_t S, int64_t D,
                                    int64_t N, int *status) {
    lt_row_iter<32> it;
    for (int64_t b = it.first; b < B; b += it.step) {
        float *sr = s + b * (S + 1);
        int32_t t = targets[b];
        if (t >= N) {
            if (it.lane == 0) lt__fault(status, LT_FAULT_XENT_FWD);
            t = -1;
        }
        float dot = 0.0f;
        if (t >= 0)
            for (int64_t d = it.lane; d < D; d += 32) dot += u[b * D + d] * v[(int64_t)t * D + d];
        dot = lt__warp_allreduce(dot, lt_sum_op());
        if (it.lane == 0)
            sr[0] = t >= 0 ? dot + (bias ? bias[t] : 0.0f) - (logq ? logq[t] : 0.0f) : 0.0f;
        for (int64_t k = it.lane; k < S; k += 32) {
            int32_t j = neg[k];
            if (j < 0 || j >= N) continue; /* embedding_fwd already reported it */
            sr[1 + k] = j == t ? -INFINITY : sr[1 + k] + (bias ? bias[j] : 0.0f) - (logq ? logq[j] : 0.0f);
        }
    }
}

extern "C" int lt__cuda_sampled_prep(lt_backend *be, float *s, const float *u, const float *v, const float *bias,
                                     const float *logq, const int32_t *targets, const int32_t *neg, int64_t B,
                                     int64_t S, int64_t D, int64_t N) {
    if (B <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    sampled_prep_kernel<<<lt__blocks(B, 8, LT_MAX_BLOCKS), 256, 0, cu->stream>>>(s, u, v, bias, logq, targets, neg, B,
                                                                                 S, D, N, cu->status);
    LT_LAUNCH_CHECK();
    return 0;
}

/* du_b += dS[b, 0] v_{t_b}: one warp per row (rows are distinct) */
__global__ void sampled_du_kernel(float *du, const float *ds, const float *v, const int32_t *targets, int64_t B,
                                  int64_t S, int64_t D) {
    lt_row_iter<32> it;
    for (int64_t b = it.first; b < B; b += it.step) {
        int32_t t = targets[b];
        if (t < 0) continue;
        float g = ds[b * (S + 1)];
        for (int64_t d = it.lane; d < D; d += 32) du[b * D + d] += g * v[(int64_t)t * D + d];
    }
}

/* dv[t_b] += dS[b, 0] u_b: a thread per column d walks the rows in order (deterministic) */
__global__ void sampled_dv_kernel(float *dv, const float *ds, const float *u, const int32_t *targets, int64_t B,
                                  int64_t S, int64_t D) {
    int64_t d = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    for (int64_t b = 0; b < B; b++) {
        int32_t t = targets[b];
        if (t >= 0) dv[(int64_t)t * D + d] += ds[b * (S + 1)] * u[b * D + d];
    }
}

/* cs[k] = sum over rows of dS[:, 1 + k], rows in order */
__global__ void sampled_colsum_kernel(float *cs, const float *ds, int64_t B, int64_t S) {
    int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= S) return;
    float acc = 0.0f;
    for (int64_t b = 0; b < B; b++) acc += ds[b * (S + 1) + 1 + k];
    cs[k] = acc;
}

/* dbias[neg_k] += cs[k] (k in order), then dbias[t_b] += dS[b, 0] (b in order): one thread, so
 * repeated ids add up the same way every run */
__global__ void sampled_dbias_kernel(float *dbias, const float *cs, const float *ds, const int32_t *targets,
                                     const int32_t *neg, int64_t B, int64_t S) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (int64_t k = 0; k < S; k++) dbias[neg[k]] += cs[k];
    for (int64_t b = 0; b < B; b++)
        if (targets[b] >= 0) dbias[targets[b]] += ds[b * (S + 1)];
}

extern "C" int lt__cuda_sampled_scatter(lt_backend *be, float *du, float *dv, float *dbias, const float *ds,
                                        const float *u, const float *v, const int32_t *targets, const int32_t *neg,
                                        int64_t B, int64_t S, int64_t D) {
    if (B <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    if (du) {
        sampled_du_kernel<<<lt__blocks(B, 8, LT_MAX_BLOCKS), 256, 0, cu->stream>>>(du, ds, v, targets, B, S, D);
        LT_LAUNCH_CHECK();
    }
    if (dv) {
        sampled_dv_kernel<<<lt__blocks(D, 128, LT_MAX_BLOCKS), 128, 0, cu->stream>>>(dv, ds, u, targets, B, S, D);
        LT_LAUNCH_CHECK();
    }
    if (dbias) {
        float *cs = NULL;
        LT_TRY(lt__cuda_scratch(be, sizeof(float) * (size_t)(S > 0 ? S : 1), (void **)&cs));
        if (S > 0) {
            sampled_colsum_kernel<<<lt__blocks(S, 128, LT_MAX_BLOCKS), 128, 0, cu->stream>>>(cs, ds, B, S);
            LT_LAUNCH_CHECK();
        }
        sampled_dbias_kernel<<<1, 32, 0, cu->stream>>>(dbias, cs, ds, targets, neg, B, S);
        LT_LAUNCH_CHECK();
    }
    return 0;
}

/* ---- top-K merge ---------------------------------------------------------------------------------- */

#define TK_THREADS 128
#define TK_PER 4                            /* scores per thread per round */
#define TK_ROUND (TK_THREADS * TK_PER)      /* 512 */
#define TK_MAXP 2048                        /* list + candidates, entries: pow2 >= LT_TOPK_MAX + TK_ROUND */

/* The same 64-bit ranking as src/cpu/rank.c: key(score) << 32 | ~id; 0 = empty. */
__device__ __forceinline__ uint64_t tk_entry(float f, int64_t id) {
    uint32_t b = __float_as_uint(f);
    if ((b << 1) == 0) b = 0;
    uint32_t key = (b & 0x80000000u) ? ~b : b | 0x80000000u;
    return (uint64_t)key << 32 | (uint32_t)(0xffffffffu - (uint32_t)id);
}
__device__ __forceinline__ float tk_value(uint64_t e) {
    uint32_t key = (uint32_t)(e >> 32);
    return __uint_as_float((key & 0x80000000u) ? key & 0x7fffffffu : ~key);
}

/* Bitonic sort of ent[0, P) descending (P a power of two); every thread of the block calls it. */
__device__ void tk_sort(uint64_t *ent, int P) {
    for (int size = 2; size <= P; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int t = threadIdx.x; t < P / 2; t += TK_THREADS) {
                int lo = 2 * t - (t & (stride - 1)), hi = lo + stride;
                bool desc = (lo & size) == 0;
                uint64_t a = ent[lo], b = ent[hi];
                if ((a < b) == desc) ent[lo] = b, ent[hi] = a;
            }
            __syncthreads();
        }
    }
}

__global__ void __launch_bounds__(TK_THREADS)
topk_tile_kernel(float *vals, int32_t *idx, float *s, const float *bias, int64_t B, int64_t n, int64_t j0, int K,
                 int P, const int64_t *excl_off, const int32_t *excl_ids) {
    __shared__ uint64_t ent[TK_MAXP];
    __shared__ unsigned cnt;
    const int tid = threadIdx.x, cap = P - K; /* candidate slots: [K, P) */
    for (int64_t b = blockIdx.x; b < B; b += gridDim.x) {
        float *sr = s + b * n, *vr = vals + b * K;
        int32_t *ir = idx + b * K;
        if (excl_off)
            for (int64_t e = excl_off[b] + tid; e < excl_off[b + 1]; e += TK_THREADS) {
                int64_t j = (int64_t)excl_ids[e] - j0;
                if (j >= 0 && j < n) sr[j] = __int_as_float(0x7fc00000); /* NaN */
            }
        for (int i = tid; i < P; i += TK_THREADS) ent[i] = i < K && ir[i] >= 0 ? tk_entry(vr[i], ir[i]) : 0;
        if (tid == 0) cnt = 0;
        __syncthreads(); /* the exclusions' NaNs (global) and the list are visible to the block */
        uint64_t thr = ent[K - 1];
        for (int64_t c0 = 0; c0 < n; c0 += TK_ROUND) {
#pragma unroll
            for (int q = 0; q < TK_PER; q++) {
                int64_t j = c0 + q * TK_THREADS + tid;
                if (j < n) {
                    float x = sr[j];
                    if (bias) x += bias[j];
                    if (!isnan(x)) {
                        uint64_t e = tk_entry(x, j0 + j);
                        if (e > thr) ent[K + atomicAdd(&cnt, 1u)] = e;
                    }
                }
            }
            __syncthreads();
            unsigned c = cnt; /* the same in every thread */
            bool more = c0 + TK_ROUND < n;
            if (c > 0 && (!more || c + TK_ROUND > (unsigned)cap)) {
                tk_sort(ent, P); /* the best K are now ent[0, K) */
                for (int i = K + tid; i < P; i += TK_THREADS) ent[i] = 0;
                __syncthreads();
                if (tid == 0) cnt = 0;
                thr = ent[K - 1];
            }
            __syncthreads(); /* cnt reset is seen before the next round's appends */
        }
        for (int i = tid; i < K; i += TK_THREADS) {
            uint64_t e = ent[i];
            vr[i] = e ? tk_value(e) : -INFINITY;
            ir[i] = e ? (int32_t)(0xffffffffu - (uint32_t)e) : -1;
        }
        __syncthreads(); /* ent and cnt are reused by the block's next row */
    }
}

extern "C" int lt__cuda_topk_tile(lt_backend *be, float *vals, int32_t *idx, float *s, const float *bias, int64_t B,
                                  int64_t n, int64_t j0, int K, const int64_t *excl_off, const int32_t *excl_ids) {
    if (B <= 0 || n <= 0) return 0;
    if (K < 1 || K > LT_TOPK_MAX) return lt_error(LT_EINVAL, "score_topk: K = %d", K);
    int P = 1;
    while (P < K + TK_ROUND) P <<= 1;
    lt_cuda *cu = lt__cu(be);
    topk_tile_kernel<<<lt__blocks(B, 1, LT_MAX_BLOCKS), TK_THREADS, 0, cu->stream>>>(vals, idx, s, bias, B, n, j0, K,
                                                                                     P, excl_off, excl_ids);
    LT_LAUNCH_CHECK();
    return 0;
}
