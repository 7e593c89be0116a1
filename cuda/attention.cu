/* Fused multi-head self-attention with a key-padding mask, forward and backward (FlashAttention-2
 * style: tiles of Q, K, V in shared memory, an online softmax, no T x T matrix in global memory).
 *
 *   qkv [B, T, 3, H, D]   out, dout [B, T, H, D]   lse, dsum [B, H, T] (f32)   lens int32 [B]
 *
 * Keys j >= lens[b] are masked out (lens clamped to [0, T]); every query row is computed, padded
 * ones too; lens[b] = 0 gives out = 0 and lse = -inf, and no gradient. causal (lt_attention_causal_*):
 * query i also masks keys j > i; blocks skip the key tiles past their last query (forward, dQ) and
 * the query tiles before their first key (dK/dV), the diagonal tiles mask element by element.
 *
 * bf16: tensor cores through mma.sync m16n8k16 (bf16 in, fp32 accumulators), fragments read from
 * shared memory with ldmatrix; a block of 4 warps owns 64 rows, 16 per warp. The softmax, the
 * statistics and every accumulation are fp32; P and dS are rounded to bf16 only as mma inputs.
 * f32: the same tiling on CUDA cores (8 warps, 4 rows per warp, a key or query per lane), fp32
 * throughout, for results close to the CPU's.
 *
 * Backward (FlashAttention-2): dsum = rowsum(dout * out) first; then one kernel per (b, h, key
 * tile) recomputes P from lse and accumulates dK and dV over all queries, and one per (b, h, query
 * tile) accumulates dQ over the keys. Every gradient element is written by one block, once, after
 * a fixed-order loop: deterministic, no atomics. Head dims 32, 64, 128 are compiled (templates on
 * the padded width DP); any D up to 128 runs in the next one up with zero padding. */
#include "cuda_common.cuh"
#include "ptx.cuh"

#define LOG2E 1.4426950408889634f
#define LN2 0.69314718055994531f
#define BM 64        /* rows (queries, or keys in dK/dV) of a bf16 block: 4 warps x 16 */
#define BF_THREADS 128
#define FR 32        /* rows of an f32 block: 8 warps x 4, and the 32 keys/queries of its inner tile */
#define F_THREADS 256

static constexpr size_t cmax(size_t a, size_t b) { return a > b ? a : b; }

/* bf16 tiles for padded head dim DP */
template <int DP> struct bf_cfg {
    static constexpr int LD = DP + 8;            /* bf16 row stride: 16-byte rows, ldmatrix without bank conflicts */
    static constexpr int LDF = DP + 8;           /* f32 staging row stride: conflict-free float2 stores */
    static constexpr int BN = DP > 64 ? 32 : 64; /* the looped tile: keys (forward, dQ) or queries (dK/dV) */
    static constexpr size_t stage = (size_t)BM * LDF * 4;
    static constexpr size_t fwd_smem = cmax((size_t)(BM + 2 * BN) * LD * 2, stage);
    static constexpr size_t dkdv_smem = cmax((size_t)(2 * BM + 2 * BN) * LD * 2 + 2 * BN * 4, stage);
    static constexpr size_t dq_smem = cmax((size_t)(2 * BM + 2 * BN) * LD * 2, stage);
};

/* f32 tiles for padded head dim DP */
template <int DP> struct f_cfg {
    static constexpr int LD = DP + 4; /* float4 rows; lane-per-row float4 reads hit distinct banks */
    static constexpr int NI = DP / 32; /* columns per lane: lane + 32 i */
    static constexpr size_t fwd_smem = (size_t)3 * FR * LD * 4;
    static constexpr size_t bwd_smem = (size_t)4 * FR * LD * 4 + 2 * FR * 4;
};

/* ---- where a block's (b, h) lives --------------------------------------------------------------------- */

/* Row t of q of head h is qkv[qkv0 + t rs], k and v follow at + ors and + 2 ors; row t of out/dout
 * is at out0 + t ors; lse/dsum of (b, h) start at stat0. Blocks: blockIdx.x = b H + h. And the
 * thread's warp w, lane, and its fragment coordinates g = lane / 4, t = lane % 4. */
struct attn_at {
    int b, h, len, w, lane, g, t;
    int64_t rs, ors, qkv0, out0, stat0;
};

__device__ __forceinline__ attn_at attn_locate(const int32_t *lens, int T, int H, int d) {
    attn_at a;
    a.b = blockIdx.x / H, a.h = blockIdx.x % H;
    a.w = threadIdx.x >> 5, a.lane = threadIdx.x & 31, a.g = a.lane >> 2, a.t = a.lane & 3;
    int l = lens[a.b];
    a.len = l < 0 ? 0 : l > T ? T : l;
    a.ors = (int64_t)H * d, a.rs = 3 * a.ors;
    a.qkv0 = (int64_t)a.b * T * a.rs + (int64_t)a.h * d;
    a.out0 = (int64_t)a.b * T * a.ors + (int64_t)a.h * d;
    a.stat0 = ((int64_t)a.b * H + a.h) * T;
    return a;
}

/* dst[ROWS][LD] (shared) = rows [0, n) and columns [0, d) of src (row stride `stride` elements),
 * zeros elsewhere (up to DP), so padded rows and columns add nothing. W is the element's storage
 * (uint16_t for bf16, float). vec: 16-byte loads (src 16-byte aligned, d and stride whole words). */
template <int ROWS, int DP, int LD, typename W>
__device__ __forceinline__ void tile_load(W *dst, const W *src, int64_t stride, int n, int d, int vec) {
    constexpr int V = 16 / sizeof(W), CPR = DP / V;
    for (int c = threadIdx.x; c < ROWS * CPR; c += blockDim.x) {
        int r = c / CPR, k = c % CPR * V;
        union {
            uint4 u;
            W w[V];
        } x;
        x.u = make_uint4(0, 0, 0, 0);
        if (r < n && k < d) {
            const W *p = src + r * stride + k;
            if (vec) {
                x.u = *(const uint4 *)p;
            } else {
#pragma unroll
                for (int e = 0; e < V; e++)
                    if (k + e < d) x.w[e] = p[e];
            }
        }
        *(uint4 *)(dst + r * LD + k) = x.u;
    }
}

/* ---- tensor-core building blocks --------------------------------------------------------------------
 * mma.m16n8k16 fragments (PTX ISA), lane = 4 g + t: an accumulator c[4] of a 16 x 8 tile holds
 * (row g, cols 2t, 2t+1) in c[0], c[1] and (row g+8, same cols) in c[2], c[3]. Two neighbouring
 * accumulator tiles are exactly the A fragment of a 16 x 16 operand, so P goes from one mma into
 * the next without leaving registers. */

/* lo in the low half, as fragments hold (col 2t, col 2t+1) */
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(uint32_t *)&v;
}

/* s[16, NT*8] = A[16, KD] B[NT*8, KD]^T, both row-major in shared memory (row stride LD). */
template <int KD, int NT, int LD>
__device__ __forceinline__ void mma_abt(float (&s)[NT][4], const uint16_t *a, const uint16_t *b, int lane) {
    static_assert(KD % 16 == 0 && NT % 2 == 0, "whole k-steps and tile pairs");
    const int mi = lane >> 3, r = lane & 7;
#pragma unroll
    for (int j = 0; j < NT; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KD / 16; kk++) {
        uint32_t af[4]; /* matrices: rows 0-7 / 8-15 x cols k 0-7, then the same x cols 8-15 */
        lt__ldsm4(af, a + ((mi & 1) * 8 + r) * LD + kk * 16 + (mi >> 1) * 8);
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            uint32_t bf[4]; /* B rows of tile j: cols k 0-7, 8-15; then tile j+1 */
            lt__ldsm4(bf, b + ((j + (mi >> 1)) * 8 + r) * LD + kk * 16 + (mi & 1) * 8);
            lt__mma16816(s[j], af, bf[0], bf[1]);
            lt__mma16816(s[j + 1], af, bf[2], bf[3]);
        }
    }
}

/* o[16, NO*8] += P[16, NT*8] V[NT*8, NO*8]: P in accumulator layout (rounded to bf16 here), V
 * row-major in shared memory (row stride LD), read transposed by ldmatrix.trans. */
template <int NT, int NO, int LD>
__device__ __forceinline__ void mma_pv(float (&o)[NO][4], const float (&p)[NT][4], const uint16_t *v, int lane) {
    static_assert(NT % 2 == 0 && NO % 2 == 0, "tile pairs");
    const int mi = lane >> 3, r = lane & 7;
#pragma unroll
    for (int kk = 0; kk < NT / 2; kk++) {
        const uint32_t af[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]), pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                                pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                                pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
        for (int j = 0; j < NO; j += 2) {
            uint32_t bf[4]; /* V rows k 0-7, 8-15 of column tile j, then of tile j+1 */
            lt__ldsm4t(bf, v + (kk * 16 + (mi & 1) * 8 + r) * LD + (j + (mi >> 1)) * 8);
            lt__mma16816(o[j], af, bf[0], bf[1]);
            lt__mma16816(o[j + 1], af, bf[2], bf[3]);
        }
    }
}

/* A warp's 16 x NO*8 accumulators, rows scaled by mul[0] (rows g) and mul[1] (rows g+8), into f32
 * shared rows [0, 16) of dst (row stride LDF). */
template <int NO, int LDF>
__device__ __forceinline__ void frag_stage(float *dst, const float (&o)[NO][4], float mul0, float mul1, int lane) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int j = 0; j < NO; j++) {
        *(float2 *)(dst + g * LDF + j * 8 + 2 * t) = make_float2(o[j][0] * mul0, o[j][1] * mul0);
        *(float2 *)(dst + (g + 8) * LDF + j * 8 + 2 * t) = make_float2(o[j][2] * mul1, o[j][3] * mul1);
    }
}

/* Rows [0, n), columns [0, d) of dst (bf16 bits, row stride `stride`) = src, or += src when acc
 * (src: f32 shared [BM][LDF]); one rounding to bf16 per element. */
template <int DP, int LDF>
__device__ __forceinline__ void tile_store_bf16(uint16_t *dst, int64_t stride, const float *src, int n, int d, int acc,
                                                int vec) {
    constexpr int CPR = DP / 8;
    for (int c = threadIdx.x; c < BM * CPR; c += blockDim.x) {
        int r = c / CPR, k = c % CPR * 8;
        if (r >= n || k >= d) continue;
        uint16_t *p = dst + r * stride + k;
        float v[8], o[8];
        lt__load<8>(v, src + r * LDF + k);
        if (vec) {
            if (acc) {
                lt__load<8>(o, (const lt_bf16 *)p);
#pragma unroll
                for (int e = 0; e < 8; e++) v[e] += o[e];
            }
            lt__store<8>((lt_bf16 *)p, v);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++)
                if (k + e < d) p[e] = lt__bf16_bits(acc ? v[e] + lt__bf16_float(p[e]) : v[e]);
        }
    }
}

/* Every warp's 16 x DP accumulators o (rows g scaled by mul0, rows g+8 by mul1) into rows [0, n)
 * of dst (or added to them, acc), staged in f32 over the block's shared memory: it starts with a
 * barrier, after which the caller's tiles are dead. */
template <int DP, int NO>
__device__ __forceinline__ void block_store(unsigned char *smem, const float (&o)[NO][4], float mul0, float mul1,
                                            uint16_t *dst, int64_t stride, int n, int d, int acc, int vec,
                                            const attn_at &at) {
    constexpr int LDF = bf_cfg<DP>::LDF;
    float *st = (float *)smem;
    __syncthreads();
    frag_stage<NO, LDF>(st + at.w * 16 * LDF, o, mul0, mul1, at.lane);
    __syncthreads();
    tile_store_bf16<DP, LDF>(dst, stride, st, n, d, acc, vec);
}

/* ---- bf16 forward ------------------------------------------------------------------------------------ */

/* Block (b h, query tile of BM): warp w owns queries q0 + 16 w + [0, 16). Per key tile of BN:
 * S = Q K^T (tensor cores), online softmax in registers (max and sum over the 4 lanes of a row),
 * O += P V (tensor cores, P straight from the S accumulators). Scores are kept in log2 units
 * (sl2 = scale * log2 e) for exp2. */
template <int DP>
__global__ void __launch_bounds__(BF_THREADS)
    attn_fwd_bf16(uint16_t *out, float *lse, const uint16_t *qkv, const int32_t *lens, int T, int H, int d,
                  float sl2, int vec, int causal) {
    using C = bf_cfg<DP>;
    constexpr int LD = C::LD, BN = C::BN, NT = BN / 8, NO = DP / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    uint16_t *qs = (uint16_t *)smem, *ks = qs + BM * LD, *vs = ks + BN * LD;
    const attn_at at = attn_locate(lens, T, H, d);
    const int q0 = blockIdx.y * BM, len = at.len;
    const int w = at.w, lane = at.lane, g = at.g, t = at.t;
    const uint16_t *q = qkv + at.qkv0, *k = q + at.ors, *v = k + at.ors;

    tile_load<BM, DP, LD>(qs, q + q0 * at.rs, at.rs, min(BM, T - q0), d, vec);
    float o[NO][4] = {}, m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    const int kend = causal ? min(len, q0 + BM) : len; /* causal: no key past the block's last query */
    for (int k0 = 0; k0 < kend; k0 += BN) {
        __syncthreads(); /* the last tile's readers are done */
        tile_load<BN, DP, LD>(ks, k + k0 * at.rs, at.rs, min(BN, len - k0), d, vec);
        tile_load<BN, DP, LD>(vs, v + k0 * at.rs, at.rs, min(BN, len - k0), d, vec);
        __syncthreads();
        float s[NT][4];
        mma_abt<DP, NT, LD>(s, qs + w * 16 * LD, ks, lane);
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int kj = k0 + j * 8 + 2 * t + (e & 1), qi = q0 + w * 16 + g + 8 * (e >> 1);
                s[j][e] = kj < len && (!causal || kj <= qi) ? s[j][e] * sl2 : -INFINITY;
                mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
            }
        float ref[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(LT_FULL_MASK, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(LT_FULL_MASK, mx[r], 2));
            ref[r] = mx[r] == -INFINITY ? 0.0f : mx[r]; /* a row with nothing yet: no -inf - -inf */
            float corr = exp2f(m[r] - ref[r]);
            m[r] = mx[r];
            l[r] *= corr;
#pragma unroll
            for (int j = 0; j < NO; j++) o[j][2 * r] *= corr, o[j][2 * r + 1] *= corr;
        }
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[j][e] = exp2f(s[j][e] - ref[e >> 1]);
                l[e >> 1] += s[j][e];
            }
        mma_pv<NT, NO, LD>(o, s, vs, lane);
    }
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(LT_FULL_MASK, l[r], 1);
        l[r] += __shfl_xor_sync(LT_FULL_MASK, l[r], 2);
        inv[r] = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        int qi = q0 + w * 16 + g + 8 * r;
        if (t == 0 && qi < T) lse[at.stat0 + qi] = l[r] > 0.0f ? (m[r] + log2f(l[r])) * LN2 : -INFINITY;
    }
    block_store<DP>(smem, o, inv[0], inv[1], out + at.out0 + q0 * at.ors, at.ors, min(BM, T - q0), d, 0, vec, at);
}

/* ---- bf16 backward ----------------------------------------------------------------------------------- */

/* Block (b h, key tile of BM): warp w owns keys k0 + 16 w + [0, 16), the tile's K and V stay in
 * shared memory. Per query tile of BN, with the roles of FlashAttention-2 transposed so that the
 * warp's rows are its keys:
 *   S^T = K Q^T, P^T = exp(S^T scale - lse), dP^T = V dO^T, dS^T = P^T (dP^T - dsum)
 *   dV += P^T dO, dK += dS^T Q  (scale applied once at the end)
 * Query rows past T are zeros with lse = dsum = 0: they add exactly nothing. */
template <int DP>
__global__ void __launch_bounds__(BF_THREADS)
    attn_dkdv_bf16(uint16_t *dqkv, const uint16_t *dout, const uint16_t *qkv, const float *lse, const float *dsum,
                   const int32_t *lens, int T, int H, int d, float scale, float sl2, int vec, int causal) {
    using C = bf_cfg<DP>;
    constexpr int LD = C::LD, BN = C::BN, NT = BN / 8, NO = DP / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    uint16_t *ks = (uint16_t *)smem, *vs = ks + BM * LD, *qs = vs + BM * LD, *dos = qs + BN * LD;
    float *ls = (float *)(dos + BN * LD), *ds = ls + BN;
    const attn_at at = attn_locate(lens, T, H, d);
    const int k0 = blockIdx.y * BM, len = at.len;
    if (k0 >= len) return; /* masked keys: no gradient (the whole block leaves together) */
    const int w = at.w, lane = at.lane, g = at.g, t = at.t;
    const uint16_t *q = qkv + at.qkv0, *k = q + at.ors, *v = k + at.ors, *dov = dout + at.out0;
    const int nk = min(BM, len - k0);

    tile_load<BM, DP, LD>(ks, k + k0 * at.rs, at.rs, nk, d, vec);
    tile_load<BM, DP, LD>(vs, v + k0 * at.rs, at.rs, nk, d, vec);
    const bool kv0 = k0 + w * 16 + g < len, kv1 = k0 + w * 16 + g + 8 < len;
    float dk[NO][4] = {}, dv[NO][4] = {};
    for (int q0 = causal ? k0 - k0 % BN : 0; q0 < T; q0 += BN) { /* causal: queries before k0 see no key here */
        const int nq = min(BN, T - q0);
        __syncthreads();
        tile_load<BN, DP, LD>(qs, q + q0 * at.rs, at.rs, nq, d, vec);
        tile_load<BN, DP, LD>(dos, dov + q0 * at.ors, at.ors, nq, d, vec);
        for (int i = threadIdx.x; i < BN; i += blockDim.x) {
            ls[i] = i < nq ? lse[at.stat0 + q0 + i] * LOG2E : 0.0f;
            ds[i] = i < nq ? dsum[at.stat0 + q0 + i] : 0.0f;
        }
        __syncthreads();
        float p[NT][4], dp[NT][4];
        mma_abt<DP, NT, LD>(p, ks + w * 16 * LD, qs, lane);
        mma_abt<DP, NT, LD>(dp, vs + w * 16 * LD, dos, lane);
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int qi = j * 8 + 2 * t + (e & 1), kj = k0 + w * 16 + g + 8 * (e >> 1);
                float pv = (e < 2 ? kv0 : kv1) && (!causal || kj <= q0 + qi) ? exp2f(p[j][e] * sl2 - ls[qi]) : 0.0f;
                p[j][e] = pv;
                dp[j][e] = pv * (dp[j][e] - ds[qi]);
            }
        mma_pv<NT, NO, LD>(dv, p, dos, lane);
        mma_pv<NT, NO, LD>(dk, dp, qs, lane);
    }
    uint16_t *dk_out = dqkv + at.qkv0 + at.ors + k0 * at.rs, *dv_out = dk_out + at.ors;
    block_store<DP>(smem, dk, scale, scale, dk_out, at.rs, nk, d, 1, vec, at);
    block_store<DP>(smem, dv, 1.0f, 1.0f, dv_out, at.rs, nk, d, 1, vec, at);
}

/* Block (b h, query tile of BM): warp w owns queries q0 + 16 w + [0, 16). Per key tile of BN:
 *   S = Q K^T, P = exp(S scale - lse), dP = dO V^T, dS = P (dP - dsum), dQ += dS K
 * (scale applied once at the end). */
template <int DP>
__global__ void __launch_bounds__(BF_THREADS)
    attn_dq_bf16(uint16_t *dqkv, const uint16_t *dout, const uint16_t *qkv, const float *lse, const float *dsum,
                 const int32_t *lens, int T, int H, int d, float scale, float sl2, int vec, int causal) {
    using C = bf_cfg<DP>;
    constexpr int LD = C::LD, BN = C::BN, NT = BN / 8, NO = DP / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    uint16_t *qs = (uint16_t *)smem, *dos = qs + BM * LD, *ks = dos + BM * LD, *vs = ks + BN * LD;
    const attn_at at = attn_locate(lens, T, H, d);
    const int q0 = blockIdx.y * BM, len = at.len;
    if (len == 0) return; /* no keys: dq += 0 */
    const int w = at.w, lane = at.lane, g = at.g, t = at.t;
    const uint16_t *q = qkv + at.qkv0, *k = q + at.ors, *v = k + at.ors;
    const int nq = min(BM, T - q0);

    tile_load<BM, DP, LD>(qs, q + q0 * at.rs, at.rs, nq, d, vec);
    tile_load<BM, DP, LD>(dos, dout + at.out0 + q0 * at.ors, at.ors, nq, d, vec);
    float lr[2], dr[2]; /* lse (log2 units) and dsum of rows g and g+8; 0 past T */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int qi = q0 + w * 16 + g + 8 * r;
        lr[r] = qi < T ? lse[at.stat0 + qi] * LOG2E : 0.0f;
        dr[r] = qi < T ? dsum[at.stat0 + qi] : 0.0f;
    }
    float dq[NO][4] = {};
    const int kend = causal ? min(len, q0 + BM) : len;
    for (int k0 = 0; k0 < kend; k0 += BN) {
        __syncthreads();
        tile_load<BN, DP, LD>(ks, k + k0 * at.rs, at.rs, min(BN, len - k0), d, vec);
        tile_load<BN, DP, LD>(vs, v + k0 * at.rs, at.rs, min(BN, len - k0), d, vec);
        __syncthreads();
        float p[NT][4], dp[NT][4];
        mma_abt<DP, NT, LD>(p, qs + w * 16 * LD, ks, lane);
        mma_abt<DP, NT, LD>(dp, dos + w * 16 * LD, vs, lane);
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int kj = k0 + j * 8 + 2 * t + (e & 1), qi = q0 + w * 16 + g + 8 * (e >> 1);
                float pv = kj < len && (!causal || kj <= qi) ? exp2f(p[j][e] * sl2 - lr[e >> 1]) : 0.0f;
                dp[j][e] = pv * (dp[j][e] - dr[e >> 1]);
            }
        mma_pv<NT, NO, LD>(dq, dp, ks, lane);
    }
    block_store<DP>(smem, dq, scale, scale, dqkv + at.qkv0 + q0 * at.rs, at.rs, nq, d, 1, vec, at);
}

/* ---- f32 building blocks (CUDA cores) ---------------------------------------------------------------- */

/* s[r] = a_r . b over DP columns: a_r rows r < 4 of a (shared, row stride LD, read by the whole
 * warp: broadcast), b this lane's row (shared). */
template <int DP, int LD> __device__ __forceinline__ void dot4(float (&s)[4], const float *a, const float *b) {
#pragma unroll
    for (int r = 0; r < 4; r++) s[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < DP; c += 4) {
        float4 y = *(const float4 *)(b + c);
#pragma unroll
        for (int r = 0; r < 4; r++) {
            float4 x = *(const float4 *)(a + r * LD + c);
            s[r] = fmaf(x.x, y.x, s[r]);
            s[r] = fmaf(x.y, y.y, s[r]);
            s[r] = fmaf(x.z, y.z, s[r]);
            s[r] = fmaf(x.w, y.w, s[r]);
        }
    }
}

/* o[r][i] += sum over lanes j of p[r] (as lane j holds it) * v[j][lane + 32 i]: v rows in shared
 * memory (row stride LD). */
template <int NI, int LD>
__device__ __forceinline__ void pv4(float (&o)[4][NI], const float (&p)[4], const float *v, int lane) {
#pragma unroll 4
    for (int j = 0; j < 32; j++) {
        float pj[4];
#pragma unroll
        for (int r = 0; r < 4; r++) pj[r] = __shfl_sync(LT_FULL_MASK, p[r], j);
#pragma unroll
        for (int i = 0; i < NI; i++) {
            float x = v[j * LD + lane + 32 * i];
#pragma unroll
            for (int r = 0; r < 4; r++) o[r][i] = fmaf(pj[r], x, o[r][i]);
        }
    }
}

/* ---- f32 forward ------------------------------------------------------------------------------------- */

/* Block (b h, query tile of FR): warp w owns queries q0 + 4 w + [0, 4); per key tile of FR keys, lane
 * j scores key k0 + j against the warp's 4 queries, the online softmax runs over the warp, and
 * O (lanes across columns) += P V. */
template <int DP>
__global__ void __launch_bounds__(F_THREADS)
    attn_fwd_f32(float *out, float *lse, const float *qkv, const int32_t *lens, int T, int H, int d, float scale,
                 int vec, int causal) {
    using C = f_cfg<DP>;
    constexpr int LD = C::LD, NI = C::NI;
    extern __shared__ __align__(16) unsigned char smem[];
    float *qs = (float *)smem, *ks = qs + FR * LD, *vs = ks + FR * LD;
    const attn_at at = attn_locate(lens, T, H, d);
    const int q0 = blockIdx.y * FR, len = at.len;
    const int w = at.w, lane = at.lane;
    const float *q = qkv + at.qkv0, *k = q + at.ors, *v = k + at.ors;

    tile_load<FR, DP, LD>(qs, q + q0 * at.rs, at.rs, min(FR, T - q0), d, vec);
    float o[4][NI] = {}, m[4], l[4];
#pragma unroll
    for (int r = 0; r < 4; r++) m[r] = -INFINITY, l[r] = 0.0f;
    const int kend = causal ? min(len, q0 + FR) : len;
    for (int k0 = 0; k0 < kend; k0 += FR) {
        __syncthreads();
        tile_load<FR, DP, LD>(ks, k + k0 * at.rs, at.rs, min(FR, len - k0), d, vec);
        tile_load<FR, DP, LD>(vs, v + k0 * at.rs, at.rs, min(FR, len - k0), d, vec);
        __syncthreads();
        float s[4];
        dot4<DP, LD>(s, qs + w * 4 * LD, ks + lane * LD);
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const bool valid = k0 + lane < len && (!causal || k0 + lane <= q0 + w * 4 + r);
            float x = valid ? s[r] * scale : -INFINITY;
            float mx = fmaxf(m[r], lt__warp_allreduce(x, lt_max_op()));
            float ref = mx == -INFINITY ? 0.0f : mx, corr = expf(m[r] - ref);
            float p = valid ? expf(x - ref) : 0.0f;
            l[r] = l[r] * corr + lt__warp_allreduce(p, lt_sum_op());
            m[r] = mx;
#pragma unroll
            for (int i = 0; i < NI; i++) o[r][i] *= corr;
            s[r] = p;
        }
        pv4<NI, LD>(o, s, vs, lane);
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int qi = q0 + w * 4 + r;
        if (qi >= T) continue;
        float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f, *orow = out + at.out0 + qi * at.ors;
#pragma unroll
        for (int i = 0; i < NI; i++)
            if (lane + 32 * i < d) orow[lane + 32 * i] = o[r][i] * inv;
        if (lane == 0) lse[at.stat0 + qi] = l[r] > 0.0f ? m[r] + logf(l[r]) : -INFINITY;
    }
}

/* ---- f32 backward ------------------------------------------------------------------------------------ */

/* Block (b h, key tile of FR): warp w owns keys k0 + 4 w + [0, 4); per query tile of FR, lane j takes
 * query q0 + j: P^T, dP^T, dS^T as in attn_dkdv_bf16, then dV += P^T dO and dK += dS^T Q with lanes
 * across columns. */
template <int DP>
__global__ void __launch_bounds__(F_THREADS)
    attn_dkdv_f32(float *dqkv, const float *dout, const float *qkv, const float *lse, const float *dsum,
                  const int32_t *lens, int T, int H, int d, float scale, int vec, int causal) {
    using C = f_cfg<DP>;
    constexpr int LD = C::LD, NI = C::NI;
    extern __shared__ __align__(16) unsigned char smem[];
    float *ks = (float *)smem, *vs = ks + FR * LD, *qs = vs + FR * LD, *dos = qs + FR * LD;
    float *ls = dos + FR * LD, *ds = ls + FR;
    const attn_at at = attn_locate(lens, T, H, d);
    const int k0 = blockIdx.y * FR, len = at.len;
    if (k0 >= len) return;
    const int w = at.w, lane = at.lane;
    const float *q = qkv + at.qkv0, *k = q + at.ors, *v = k + at.ors, *dov = dout + at.out0;

    tile_load<FR, DP, LD>(ks, k + k0 * at.rs, at.rs, min(FR, len - k0), d, vec);
    tile_load<FR, DP, LD>(vs, v + k0 * at.rs, at.rs, min(FR, len - k0), d, vec);
    float dk[4][NI] = {}, dv[4][NI] = {};
    for (int q0 = causal ? k0 : 0; q0 < T; q0 += FR) { /* causal: queries before k0 see no key here */
        const int nq = min(FR, T - q0);
        __syncthreads();
        tile_load<FR, DP, LD>(qs, q + q0 * at.rs, at.rs, nq, d, vec);
        tile_load<FR, DP, LD>(dos, dov + q0 * at.ors, at.ors, nq, d, vec);
        if (threadIdx.x < FR) {
            int i = threadIdx.x;
            ls[i] = i < nq ? lse[at.stat0 + q0 + i] : 0.0f;
            ds[i] = i < nq ? dsum[at.stat0 + q0 + i] : 0.0f;
        }
        __syncthreads();
        float s[4], dp[4];
        dot4<DP, LD>(s, ks + w * 4 * LD, qs + lane * LD);
        dot4<DP, LD>(dp, vs + w * 4 * LD, dos + lane * LD);
        const float lq = ls[lane], dq = ds[lane];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int kj = k0 + w * 4 + r;
            float p = kj < len && (!causal || kj <= q0 + lane) ? expf(s[r] * scale - lq) : 0.0f;
            s[r] = p;
            dp[r] = p * (dp[r] - dq);
        }
        pv4<NI, LD>(dv, s, dos, lane);
        pv4<NI, LD>(dk, dp, qs, lane);
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int kj = k0 + w * 4 + r;
        if (kj >= len) continue;
        float *dkrow = dqkv + at.qkv0 + at.ors + kj * at.rs, *dvrow = dkrow + at.ors;
#pragma unroll
        for (int i = 0; i < NI; i++)
            if (lane + 32 * i < d) dkrow[lane + 32 * i] += dk[r][i] * scale, dvrow[lane + 32 * i] += dv[r][i];
    }
}

/* Block (b h, query tile of FR): warp w owns queries q0 + 4 w + [0, 4); per key tile of FR, lane j
 * takes key k0 + j; dQ += dS K with lanes across columns. */
template <int DP>
__global__ void __launch_bounds__(F_THREADS)
    attn_dq_f32(float *dqkv, const float *dout, const float *qkv, const float *lse, const float *dsum,
                const int32_t *lens, int T, int H, int d, float scale, int vec, int causal) {
    using C = f_cfg<DP>;
    constexpr int LD = C::LD, NI = C::NI;
    extern __shared__ __align__(16) unsigned char smem[];
    float *qs = (float *)smem, *dos = qs + FR * LD, *ks = dos + FR * LD, *vs = ks + FR * LD;
    const attn_at at = attn_locate(lens, T, H, d);
    const int q0 = blockIdx.y * FR, len = at.len;
    if (len == 0) return;
    const int w = at.w, lane = at.lane;
    const float *q = qkv + at.qkv0, *k = q + at.ors, *v = k + at.ors;

    tile_load<FR, DP, LD>(qs, q + q0 * at.rs, at.rs, min(FR, T - q0), d, vec);
    tile_load<FR, DP, LD>(dos, dout + at.out0 + q0 * at.ors, at.ors, min(FR, T - q0), d, vec);
    float lr[4], dr[4], dq[4][NI] = {};
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int qi = q0 + w * 4 + r;
        lr[r] = qi < T ? lse[at.stat0 + qi] : 0.0f;
        dr[r] = qi < T ? dsum[at.stat0 + qi] : 0.0f;
    }
    const int kend = causal ? min(len, q0 + FR) : len;
    for (int k0 = 0; k0 < kend; k0 += FR) {
        __syncthreads();
        tile_load<FR, DP, LD>(ks, k + k0 * at.rs, at.rs, min(FR, len - k0), d, vec);
        tile_load<FR, DP, LD>(vs, v + k0 * at.rs, at.rs, min(FR, len - k0), d, vec);
        __syncthreads();
        float s[4], dp[4];
        dot4<DP, LD>(s, qs + w * 4 * LD, ks + lane * LD);
        dot4<DP, LD>(dp, dos + w * 4 * LD, vs + lane * LD);
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const bool valid = k0 + lane < len && (!causal || k0 + lane <= q0 + w * 4 + r);
            float p = valid ? expf(s[r] * scale - lr[r]) : 0.0f;
            dp[r] = p * (dp[r] - dr[r]);
        }
        pv4<NI, LD>(dq, dp, ks, lane);
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int qi = q0 + w * 4 + r;
        if (qi >= T) continue;
        float *row = dqkv + at.qkv0 + qi * at.rs;
#pragma unroll
        for (int i = 0; i < NI; i++)
            if (lane + 32 * i < d) row[lane + 32 * i] += dq[r][i] * scale;
    }
}

/* ---- dsum = rowsum(dout * out) ------------------------------------------------------------------------ */

/* dsum[b, h, t] = sum over d of dout * out of row (b, t, h); a warp per row, rows grid-strided */
template <typename E>
__global__ void attn_dsum_kernel(float *dsum, const E *dout, const E *out, int64_t rows, int T, int H, int d) {
    lt_row_iter<32> it;
    for (int64_t r = it.first; r < rows; r += it.step) { /* r = (b T + t) H + h */
        const E *a = dout + r * d, *o = out + r * d;
        float s = 0.0f;
        for (int j = it.lane; j < d; j += 32) s += lt__ldf(a + j) * lt__ldf(o + j);
        s = lt__group_sum<32>(s);
        if (it.lane == 0) {
            int64_t h = r % H, bt = r / H;
            dsum[(bt / T * H + h) * T + bt % T] = s;
        }
    }
}

/* ---- launchers ------------------------------------------------------------------------------------------ */

/* The padded head dim, or an error for shapes the kernels do not take. */
static int attn_dims(const char *op, int64_t B, int64_t T, int64_t H, int64_t D, int *dp) {
    if (D < 1 || D > 128)
        return lt_error(LT_ENOTSUP, "%s: head dim %lld on cuda: 1 to 128 (fastest 32, 64, 128)", op, (long long)D);
    if (B * H > INT32_MAX || T > INT32_MAX / 4 || (T + FR - 1) / FR > 65535)
        return lt_error(LT_ERANGE, "%s: B*H = %lld, T = %lld exceed the CUDA grid", op, (long long)(B * H),
                        (long long)T);
    *dp = D <= 32 ? 32 : D <= 64 ? 64 : 128;
    return 0;
}

/* 16-byte tile loads and stores: every pointer aligned and rows of whole 16-byte words */
static int attn_vec(int64_t D, size_t esize, const void *a, const void *b, const void *c = NULL,
                    const void *d = NULL) {
    return D % (int64_t)(16 / esize) == 0 && lt__aligned16(a) && lt__aligned16(b) && (!c || lt__aligned16(c)) &&
           (!d || lt__aligned16(d));
}

template <int DP>
static int attn_fwd_launch(lt_cuda *cu, void *out, float *lse, const void *qkv, const int32_t *lens, lt_dtype dt,
                           int BH, int T, int H, int d, float scale, int causal) {
    if (dt == LT_BF16) {
        const size_t smem = bf_cfg<DP>::fwd_smem;
        LT_CUDA_CHECK(lt__smem_optin(attn_fwd_bf16<DP>, smem));
        attn_fwd_bf16<DP><<<dim3(BH, (T + BM - 1) / BM), BF_THREADS, smem, cu->stream>>>(
            (uint16_t *)out, lse, (const uint16_t *)qkv, lens, T, H, d, scale * LOG2E, attn_vec(d, 2, out, qkv), causal);
    } else {
        const size_t smem = f_cfg<DP>::fwd_smem;
        LT_CUDA_CHECK(lt__smem_optin(attn_fwd_f32<DP>, smem));
        attn_fwd_f32<DP><<<dim3(BH, (T + FR - 1) / FR), F_THREADS, smem, cu->stream>>>(
            (float *)out, lse, (const float *)qkv, lens, T, H, d, scale, attn_vec(d, 4, out, qkv), causal);
    }
    LT_LAUNCH_CHECK();
    return 0;
}

extern "C" int lt__cuda_attention_fwd(lt_backend *be, void *out, float *lse, const void *qkv, const int32_t *lens,
                                      lt_dtype dt, int64_t B, int64_t T, int64_t H, int64_t D, float scale, int causal) {
    if (B <= 0 || T <= 0 || H <= 0) return 0;
    int dp = 0;
    LT_TRY(attn_dims("attention_fwd", B, T, H, D, &dp));
    lt_cuda *cu = lt__cu(be);
    int BH = (int)(B * H);
    if (dp == 32) return attn_fwd_launch<32>(cu, out, lse, qkv, lens, dt, BH, (int)T, (int)H, (int)D, scale, causal);
    if (dp == 64) return attn_fwd_launch<64>(cu, out, lse, qkv, lens, dt, BH, (int)T, (int)H, (int)D, scale, causal);
    return attn_fwd_launch<128>(cu, out, lse, qkv, lens, dt, BH, (int)T, (int)H, (int)D, scale, causal);
}

template <int DP>
static int attn_bwd_launch(lt_cuda *cu, void *dqkv, const void *dout, const void *qkv, const float *lse,
                           const float *dsum, const int32_t *lens, lt_dtype dt, int BH, int T, int H, int d,
                           float scale, int causal) {
    if (dt == LT_BF16) {
        const int vec = attn_vec(d, 2, dqkv, dout, qkv);
        const size_t s1 = bf_cfg<DP>::dkdv_smem, s2 = bf_cfg<DP>::dq_smem;
        LT_CUDA_CHECK(lt__smem_optin(attn_dkdv_bf16<DP>, s1));
        LT_CUDA_CHECK(lt__smem_optin(attn_dq_bf16<DP>, s2));
        attn_dkdv_bf16<DP><<<dim3(BH, (T + BM - 1) / BM), BF_THREADS, s1, cu->stream>>>(
            (uint16_t *)dqkv, (const uint16_t *)dout, (const uint16_t *)qkv, lse, dsum, lens, T, H, d, scale,
            scale * LOG2E, vec, causal);
        LT_LAUNCH_CHECK();
        attn_dq_bf16<DP><<<dim3(BH, (T + BM - 1) / BM), BF_THREADS, s2, cu->stream>>>(
            (uint16_t *)dqkv, (const uint16_t *)dout, (const uint16_t *)qkv, lse, dsum, lens, T, H, d, scale,
            scale * LOG2E, vec, causal);
    } else {
        const int vec = attn_vec(d, 4, dqkv, dout, qkv);
        const size_t smem = f_cfg<DP>::bwd_smem;
        LT_CUDA_CHECK(lt__smem_optin(attn_dkdv_f32<DP>, smem));
        LT_CUDA_CHECK(lt__smem_optin(attn_dq_f32<DP>, smem));
        attn_dkdv_f32<DP><<<dim3(BH, (T + FR - 1) / FR), F_THREADS, smem, cu->stream>>>(
            (float *)dqkv, (const float *)dout, (const float *)qkv, lse, dsum, lens, T, H, d, scale, vec, causal);
        LT_LAUNCH_CHECK();
        attn_dq_f32<DP><<<dim3(BH, (T + FR - 1) / FR), F_THREADS, smem, cu->stream>>>(
            (float *)dqkv, (const float *)dout, (const float *)qkv, lse, dsum, lens, T, H, d, scale, vec, causal);
    }
    LT_LAUNCH_CHECK();
    return 0;
}

extern "C" int lt__cuda_attention_bwd(lt_backend *be, void *dqkv, const void *dout, const void *qkv, const void *out,
                                      const float *lse, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T,
                                      int64_t H, int64_t D, float scale, int causal) {
    if (B <= 0 || T <= 0 || H <= 0) return 0;
    int dp = 0;
    LT_TRY(attn_dims("attention_bwd", B, T, H, D, &dp));
    lt_cuda *cu = lt__cu(be);
    float *dsum;
    int64_t rows = B * T * H;
    LT_TRY(lt__cuda_scratch(be, (size_t)rows * sizeof(float), (void **)&dsum));
    unsigned blocks = lt__blocks(rows, 8, LT_MAX_BLOCKS);
    if (dt == LT_BF16)
        attn_dsum_kernel<<<blocks, 256, 0, cu->stream>>>(dsum, (const lt_bf16 *)dout, (const lt_bf16 *)out, rows,
                                                         (int)T, (int)H, (int)D);
    else
        attn_dsum_kernel<<<blocks, 256, 0, cu->stream>>>(dsum, (const float *)dout, (const float *)out, rows, (int)T,
                                                         (int)H, (int)D);
    LT_LAUNCH_CHECK();
    int BH = (int)(B * H);
    if (dp == 32) return attn_bwd_launch<32>(cu, dqkv, dout, qkv, lse, dsum, lens, dt, BH, (int)T, (int)H, (int)D, scale, causal);
    if (dp == 64) return attn_bwd_launch<64>(cu, dqkv, dout, qkv, lse, dsum, lens, dt, BH, (int)T, (int)H, (int)D, scale, causal);
    return attn_bwd_launch<128>(cu, dqkv, dout, qkv, lse, dsum, lens, dt, BH, (int)T, (int)H, (int)D, scale, causal);
}
