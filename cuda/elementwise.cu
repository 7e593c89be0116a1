/* Element-wise ops, GELU, dropout, AdamW, row reductions and the global sum of squares.
 * Element-wise kernels are grid-stride loops that move 16 bytes at a time (4 floats, 8 bf16) when
 * every pointer is 16-byte aligned, with a scalar tail. Outputs may alias inputs (same index in,
 * same index out). Activations (add, axpy, GELU, dropout) are float or bf16: loaded as fp32,
 * computed in fp32, rounded once when stored. */
#include "cuda_common.cuh"
#include "longtail/rng.h"

#define EW_THREADS 256

/* Loop trips of a vector pass of vw elements a trip (n / vw) plus the scalar tail, or n scalar
 * trips. */
static int64_t ew_units(int64_t n, int vec, int vw = 4) { return vec ? n / vw + n % vw : n; }

static unsigned ew_blocks(lt_backend *be, int64_t units) {
    /* enough blocks to fill the GPU a few times over; the loop covers the rest */
    return lt__blocks(units, EW_THREADS, (int64_t)lt__cu(be)->sm_count * 16);
}

/* ---- generic map: y[i] = f(y[i], a[i], b[i]) -------------------------------------------------- */

enum { READ_Y = 1, READ_A = 2, READ_B = 4 };

/* y[n] = f(y, a, b) element-wise, all three float or all bf16 (E), f in fp32. F::reads says
 * which of y, a, b it uses; the others may be NULL and are never loaded. */
template <typename E, typename F>
__global__ void map_kernel(E *y, const E *a, const E *b, int64_t n, int vec, F f) {
    constexpr int VW = lt__vw<E>();
    int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t nv = vec ? n / VW : 0;
    for (int64_t i = i0; i < nv; i += stride) {
        float yv[VW] = {}, av[VW] = {}, bv[VW] = {};
        if constexpr ((F::reads & READ_Y) != 0) lt__load<VW>(yv, y + i * VW);
        if constexpr ((F::reads & READ_A) != 0) lt__load<VW>(av, a + i * VW);
        if constexpr ((F::reads & READ_B) != 0) lt__load<VW>(bv, b + i * VW);
#pragma unroll
        for (int e = 0; e < VW; e++) yv[e] = f(yv[e], av[e], bv[e]);
        lt__store<VW>(y + i * VW, yv);
    }
    for (int64_t i = nv * VW + i0; i < n; i += stride) {
        float yv = 0.0f, av = 0.0f, bv = 0.0f;
        if constexpr ((F::reads & READ_Y) != 0) yv = lt__ldf(y + i);
        if constexpr ((F::reads & READ_A) != 0) av = lt__ldf(a + i);
        if constexpr ((F::reads & READ_B) != 0) bv = lt__ldf(b + i);
        lt__stf(y + i, f(yv, av, bv));
    }
}

template <typename E, typename F>
static int map(lt_backend *be, E *y, const E *a, const E *b, int64_t n, F f) {
    if (n <= 0) return 0;
    int vec = lt__aligned16(y) && (!(F::reads & READ_A) || lt__aligned16(a)) &&
              (!(F::reads & READ_B) || lt__aligned16(b));
    map_kernel<<<ew_blocks(be, ew_units(n, vec, lt__vw<E>())), EW_THREADS, 0, lt__cu(be)->stream>>>(y, a, b, n, vec,
                                                                                                   f);
    LT_LAUNCH_CHECK();
    return 0;
}

struct add_f {
    static const int reads = READ_A | READ_B;
    __device__ float operator()(float, float a, float b) const { return a + b; }
};
struct mul_f {
    static const int reads = READ_A | READ_B;
    __device__ float operator()(float, float a, float b) const { return a * b; }
};
struct scale_f {
    static const int reads = READ_A;
    float alpha;
    __device__ float operator()(float, float a, float) const { return alpha * a; }
};
struct axpy_f {
    static const int reads = READ_Y | READ_A;
    float alpha;
    __device__ float operator()(float y, float a, float) const { return y + alpha * a; }
};
struct mul_acc_f {
    static const int reads = READ_Y | READ_A | READ_B;
    __device__ float operator()(float y, float a, float b) const { return y + a * b; }
};
struct fill_f {
    static const int reads = 0;
    float value;
    __device__ float operator()(float, float, float) const { return value; }
};

/* y = x Phi(x), the exact erf form (as src/cpu/nn.c) */
struct gelu_f {
    static const int reads = READ_A;
    __device__ float operator()(float, float x, float) const { return lt__gelu(x); }
};
/* dx += dy (Phi(x) + x phi(x)); y = dx, a = dy, b = x */
struct gelu_bwd_f {
    static const int reads = READ_Y | READ_A | READ_B;
    __device__ float operator()(float dx, float dy, float x) const { return dx + dy * lt__gelu_grad(x); }
};

extern "C" {
int lt__cuda_mul(lt_backend *be, float *y, const float *a, const float *b, int64_t n) {
    return map<float>(be, y, a, b, n, mul_f());
}
int lt__cuda_scale(lt_backend *be, float *y, const float *x, float alpha, int64_t n) {
    return map<float>(be, y, x, NULL, n, scale_f{alpha});
}
int lt__cuda_mul_acc(lt_backend *be, float *y, const float *a, const float *b, int64_t n) {
    return map<float>(be, y, a, b, n, mul_acc_f());
}
int lt__cuda_fill(lt_backend *be, float *y, float value, int64_t n) {
    return map<float>(be, y, NULL, NULL, n, fill_f{value});
}
}

/* ---- row dropout (the recommender's id dropout) --------------------------------------------- */

/* One warp per row: every lane draws the row's uniform (one Philox call, cheaper than sharing it),
 * then the lanes add the row's columns. */
__global__ void row_dropout_acc_kernel(float *y, const float *x, const uint8_t *keep, int64_t rows, int64_t cols,
                                       float p, uint64_t seed, uint64_t stream) {
    int lane = threadIdx.x & 31;
    int64_t w0 = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5, ws = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = w0; r < rows; r += ws) {
        if ((keep && !keep[r]) || (p > 0 && lt_rng_uniform(seed, stream, (uint64_t)r) < p)) continue;
        for (int64_t j = lane; j < cols; j += 32) y[r * cols + j] += x[r * cols + j];
    }
}

extern "C" int lt__cuda_row_dropout_acc(lt_backend *be, float *y, const float *x, const uint8_t *keep, int64_t rows,
                                        int64_t cols, float p, uint64_t seed, uint64_t stream) {
    if (rows <= 0 || cols <= 0) return 0;
    unsigned blocks = ew_blocks(be, rows * 32); /* a warp a row */
    row_dropout_acc_kernel<<<blocks, EW_THREADS, 0, lt__cu(be)->stream>>>(y, x, keep, rows, cols, p, seed, stream);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- dropout ------------------------------------------------------------------------------ */

/* The 4 words of Philox block `blk` of (seed, stream): element i uses word i & 3 of block i >> 2.
 * This is lt_rng_u32 (rng.h) for 4 consecutive indices with one Philox call. */
__device__ __forceinline__ void rng_block4(uint64_t seed, uint64_t stream, uint64_t blk, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    lt_philox4x32(ctr, key, out);
}

/* y[n] (+)= x[n] * keep / (1 - p), keep_i = uniform(seed, stream, i) >= p; y and x float or bf16
 * (E), the product and the sum in fp32, rounded once. One thread per 4 consecutive elements (one
 * Philox block, the same mask for either E); one 16-byte (float) or 8-byte (bf16) access when y
 * and x are aligned to it. */
template <typename E>
__global__ void dropout_kernel(E *y, const E *x, int64_t n, float p, float inv, uint64_t seed, uint64_t stream,
                               int accumulate, int vec) {
    int64_t nblk = (n + 3) / 4, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t blk = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; blk < nblk; blk += stride) {
        uint32_t u[4] = {0, 0, 0, 0};
        if (p > 0.0f) rng_block4(seed, stream, (uint64_t)blk, u);
        float v[4] = {0, 0, 0, 0};
        int64_t i0 = blk * 4;
        int cnt = n - i0 < 4 ? (int)(n - i0) : 4;
        if (vec && cnt == 4)
            lt__load<4>(v, x + i0);
        else
            for (int q = 0; q < cnt; q++) v[q] = lt__ldf(x + i0 + q);
#pragma unroll
        for (int q = 0; q < 4; q++) {
            int keep = p == 0.0f || lt_u32_to_uniform(u[q]) >= p; /* exactly the CPU's test */
            v[q] = keep ? __fmul_rn(v[q], inv) : 0.0f; /* unfused: the CPU's product, bit for bit */
        }
        if (vec && cnt == 4) {
            if (accumulate) {
                float o[4];
                lt__load<4>(o, y + i0);
#pragma unroll
                for (int q = 0; q < 4; q++) v[q] = __fadd_rn(v[q], o[q]);
            }
            lt__store<4>(y + i0, v);
        } else {
            for (int q = 0; q < cnt; q++) lt__stf(y + i0 + q, accumulate ? __fadd_rn(lt__ldf(y + i0 + q), v[q]) : v[q]);
        }
    }
}

template <typename E>
static int dropout(lt_backend *be, E *y, const E *x, int64_t n, float p, uint64_t seed, uint64_t stream,
                   int accumulate) {
    if (n <= 0) return 0;
    float inv = 1.0f / (1.0f - p); /* on the host, as the CPU computes it */
    const uintptr_t align = 4 * sizeof(E) - 1; /* 4 elements: 16 bytes of float, 8 of bf16 */
    int vec = ((uintptr_t)y & align) == 0 && ((uintptr_t)x & align) == 0;
    dropout_kernel<<<ew_blocks(be, (n + 3) / 4), EW_THREADS, 0, lt__cu(be)->stream>>>(y, x, n, p, inv, seed, stream,
                                                                                      accumulate, vec);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- AdamW -------------------------------------------------------------------------------- */

struct adamw_args {
    float lr, beta1, beta2, eps, decay, bc1, bc2, grad_scale;
};

/* One element of the step; the same expressions, in the same order, as src/cpu/elementwise.c. */
__device__ __forceinline__ void adamw_one(float &p, float g, float &m, float &v, const adamw_args &c) {
    float gi = g * c.grad_scale;
    m = c.beta1 * m + (1.0f - c.beta1) * gi;
    v = c.beta2 * v + (1.0f - c.beta2) * gi * gi;
    p = p * c.decay - c.lr * (m / c.bc1) / (sqrtf(v / c.bc2) + c.eps);
}

/* The gradient multiplier from the squared norm, as lt__clip_multiplier in src/cpu/elementwise.c;
 * 0 when the step is skipped (sumsq not finite). */
__device__ __forceinline__ float clip_multiplier(float sumsq, float grad_scale, float max_norm) {
    if (!isfinite(sumsq)) return 0.0f;
    float norm = grad_scale * sqrtf(sumsq);
    return max_norm > 0.0f && norm > max_norm ? grad_scale * (max_norm / norm) : grad_scale;
}

/* p, g, m, v [n]. With sumsq (a device f32[1]: the gradient slab's squared norm) the multiplier is
 * the clipped one, and a non-finite norm skips the step: lt_adamw_clipped, no host round trip. */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, int64_t n, adamw_args c, int vec,
                             const float *sumsq, float max_norm) {
    if (sumsq) {
        float ss = *sumsq;
        if (!isfinite(ss)) return;
        c.grad_scale = clip_multiplier(ss, c.grad_scale, max_norm);
    }
    int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t n4 = vec ? n / 4 : 0;
    for (int64_t i = i0; i < n4; i += stride) {
        float4 pv = ((float4 *)p)[i], gv = ((const float4 *)g)[i], mv = ((float4 *)m)[i], vv = ((float4 *)v)[i];
        adamw_one(pv.x, gv.x, mv.x, vv.x, c);
        adamw_one(pv.y, gv.y, mv.y, vv.y, c);
        adamw_one(pv.z, gv.z, mv.z, vv.z, c);
        adamw_one(pv.w, gv.w, mv.w, vv.w, c);
        ((float4 *)p)[i] = pv, ((float4 *)m)[i] = mv, ((float4 *)v)[i] = vv;
    }
    for (int64_t i = n4 * 4 + i0; i < n; i += stride) adamw_one(p[i], g[i], m[i], v[i], c);
}

extern "C" int lt__cuda_adamw(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                              const lt_adamw_cfg *cfg, int64_t step, float grad_scale) {
    if (n <= 0) return 0;
    /* bias corrections and decay in host float, exactly as the CPU computes them */
    adamw_args c = {cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, 1.0f - cfg->lr * cfg->weight_decay,
                    1.0f - powf(cfg->beta1, (float)step), 1.0f - powf(cfg->beta2, (float)step), grad_scale};
    int vec = lt__aligned16(p) && lt__aligned16(g) && lt__aligned16(m) && lt__aligned16(v);
    adamw_kernel<<<ew_blocks(be, ew_units(n, vec)), EW_THREADS, 0, lt__cu(be)->stream>>>(p, g, m, v, n, c, vec, NULL, 0.0f);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- the trainer's steps: squared norm on the device, clipped and row-wise AdamW ------------------- */


extern "C" int lt__cuda_adamw_clipped(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                                      const lt_adamw_cfg *cfg, int64_t step, float grad_scale, const float *sumsq,
                                      float max_norm) {
    if (n <= 0) return 0;
    adamw_args c = {cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, 1.0f - cfg->lr * cfg->weight_decay,
                    1.0f - powf(cfg->beta1, (float)step), 1.0f - powf(cfg->beta2, (float)step), grad_scale};
    int vec = lt__aligned16(p) && lt__aligned16(g) && lt__aligned16(m) && lt__aligned16(v);
    adamw_kernel<<<ew_blocks(be, ew_units(n, vec)), EW_THREADS, 0, lt__cu(be)->stream>>>(p, g, m, v, n, c, vec, sumsq,
                                                                                         max_norm);
    LT_LAUNCH_CHECK();
    return 0;
}

/* One warp per row of the table: the warp first asks whether any gradient of the row is non-zero
 * (rows not in this step's batches are left exactly as they are), then steps the row with its own
 * bias corrections, kept as running powers in bpow[r] = (beta1^k, beta2^k). */
#define ROWS_WARPS 8
__global__ void adamw_rows_kernel(float *p, const float *g, float *m, float *v, float *bpow, int64_t rows,
                                  int64_t cols, adamw_args c, const float *sumsq, float max_norm) {
    float ss = *sumsq;
    if (!isfinite(ss)) return;
    float scale = clip_multiplier(ss, c.grad_scale, max_norm);
    int lane = threadIdx.x & 31;
    int64_t warp = (int64_t)blockIdx.x * ROWS_WARPS + (threadIdx.x >> 5), nwarps = (int64_t)gridDim.x * ROWS_WARPS;
    for (int64_t r = warp; r < rows; r += nwarps) {
        const float *gr = g + r * cols;
        int any = 0;
        for (int64_t j = lane; j < cols && !any; j += 32) any = gr[j] != 0.0f;
        if (!__any_sync(0xffffffffu, any)) continue;
        float b1p = bpow[2 * r] * c.beta1, b2p = bpow[2 * r + 1] * c.beta2;
        __syncwarp();
        if (lane == 0) bpow[2 * r] = b1p, bpow[2 * r + 1] = b2p;
        adamw_args rc = c;
        rc.bc1 = 1.0f - b1p, rc.bc2 = 1.0f - b2p, rc.grad_scale = 1.0f;
        for (int64_t j = lane; j < cols; j += 32) {
            int64_t i = r * cols + j;
            adamw_one(p[i], gr[j] * scale, m[i], v[i], rc);
        }
    }
}

extern "C" int lt__cuda_adamw_rows(lt_backend *be, float *p, const float *g, float *m, float *v, float *bpow,
                                   int64_t rows, int64_t cols, const lt_adamw_cfg *cfg, float grad_scale,
                                   const float *sumsq, float max_norm) {
    if (rows <= 0 || cols <= 0) return 0;
    adamw_args c = {cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, 1.0f - cfg->lr * cfg->weight_decay, 1.0f, 1.0f,
                    grad_scale};
    unsigned blocks = lt__blocks(rows, ROWS_WARPS, (int64_t)lt__cu(be)->sm_count * 32);
    adamw_rows_kernel<<<blocks, 32 * ROWS_WARPS, 0, lt__cu(be)->stream>>>(p, g, m, v, bpow, rows, cols, c, sumsq,
                                                                         max_norm);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- row reductions ----------------------------------------------------------------------- */

/* y[R] = sum / mean / max / sum of squares of each row of x[R,C] */
template <int TPR> __global__ void reduce_rows_kernel(float *y, const float *x, int64_t rows, int64_t cols, lt_reduce op) {
    lt_row_iter<TPR> it;
    for (int64_t r = it.first; r < rows; r += it.step) {
        const float *xr = x + r * cols;
        float acc;
        if (op == LT_REDUCE_MAX) {
            acc = -INFINITY;
            for (int64_t j = it.lane; j < cols; j += TPR) acc = fmaxf(acc, xr[j]);
            acc = lt__group_allreduce<TPR>(acc, lt_max_op(), -INFINITY);
        } else {
            acc = 0.0f;
            if (op == LT_REDUCE_SUMSQ)
                for (int64_t j = it.lane; j < cols; j += TPR) acc += xr[j] * xr[j];
            else
                for (int64_t j = it.lane; j < cols; j += TPR) acc += xr[j];
            acc = lt__group_sum<TPR>(acc);
            if (op == LT_REDUCE_MEAN) acc = cols ? acc / (float)cols : 0.0f;
        }
        if (it.lane == 0) y[r] = acc;
    }
}

extern "C" int lt__cuda_reduce_rows(lt_backend *be, float *y, const float *x, int64_t rows, int64_t cols,
                                    lt_reduce op) {
    if (rows <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    LT_LAUNCH_ROWS(cu, rows, cols, reduce_rows_kernel, y, x, rows, cols, op);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- sum of squares ------------------------------------------------------------------------- */

#define SUMSQ_THREADS 256
#define SUMSQ_MAX_BLOCKS 1024

/* part[blockIdx.x] = sum of x[i]^2 (in double) over this block's grid-stride share of x[n].
 * The grid size depends only on n and the GPU, so the partials, and their sum, are the same
 * every run. */
__global__ void sumsq_partial_kernel(double *part, const float *x, int64_t n, int vec) {
    int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t n4 = vec ? n / 4 : 0;
    double s = 0;
    for (int64_t i = i0; i < n4; i += stride) {
        float4 v = ((const float4 *)x)[i];
        s += (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
    }
    for (int64_t i = n4 * 4 + i0; i < n; i += stride) s += (double)x[i] * x[i];
    s = lt__group_allreduce<SUMSQ_THREADS>(s, lt_sum_op(), 0.0);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* acc[0] += the sum of squares of x, on the device: partials in double per block, then one block
 * adds them in order (the same bits every run) and folds the total into acc. */
__global__ void sumsq_fold_kernel(float *acc, const double *part, int np) {
    double s = 0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += part[i];
    s = lt__group_allreduce<SUMSQ_THREADS>(s, lt_sum_op(), 0.0);
    if (threadIdx.x == 0) *acc = (float)((double)*acc + s);
}

extern "C" int lt__cuda_sumsq_acc(lt_backend *be, float *acc, const float *x, int64_t n) {
    if (n <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    int vec = lt__aligned16(x);
    unsigned np = lt__blocks(ew_units(n, vec), SUMSQ_THREADS * 4, SUMSQ_MAX_BLOCKS);
    double *part;
    LT_TRY(lt__cuda_scratch(be, (size_t)np * sizeof(double), (void **)&part));
    sumsq_partial_kernel<<<np, SUMSQ_THREADS, 0, cu->stream>>>(part, x, n, vec);
    LT_LAUNCH_CHECK();
    sumsq_fold_kernel<<<1, SUMSQ_THREADS, 0, cu->stream>>>(acc, part, (int)np);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- the slots: activations f32 or bf16 ---------------------------------------------------- */

extern "C" int lt__cuda_gelu_fwd(lt_backend *be, void *y, const void *x, lt_dtype dt, int64_t n) {
    if (dt == LT_BF16) return map<lt_bf16>(be, (lt_bf16 *)y, (const lt_bf16 *)x, NULL, n, gelu_f());
    return map<float>(be, (float *)y, (const float *)x, NULL, n, gelu_f());
}

extern "C" int lt__cuda_gelu_bwd(lt_backend *be, void *dx, const void *dy, const void *x, lt_dtype dt, int64_t n) {
    if (dt == LT_BF16) return map(be, (lt_bf16 *)dx, (const lt_bf16 *)dy, (const lt_bf16 *)x, n, gelu_bwd_f());
    return map(be, (float *)dx, (const float *)dy, (const float *)x, n, gelu_bwd_f());
}

extern "C" int lt__cuda_dropout(lt_backend *be, void *y, const void *x, lt_dtype dt, int64_t n, float p,
                                uint64_t seed, uint64_t stream, int accumulate) {
    if (dt == LT_BF16) return dropout(be, (lt_bf16 *)y, (const lt_bf16 *)x, n, p, seed, stream, accumulate);
    return dropout(be, (float *)y, (const float *)x, n, p, seed, stream, accumulate);
}

extern "C" int lt__cuda_add(lt_backend *be, void *y, const void *a, const void *b, lt_dtype dt, int64_t n) {
    if (dt == LT_BF16) return map(be, (lt_bf16 *)y, (const lt_bf16 *)a, (const lt_bf16 *)b, n, add_f());
    return map(be, (float *)y, (const float *)a, (const float *)b, n, add_f());
}

extern "C" int lt__cuda_axpy(lt_backend *be, void *y, float alpha, const void *x, lt_dtype dt, int64_t n) {
    if (dt == LT_BF16) return map<lt_bf16>(be, (lt_bf16 *)y, (const lt_bf16 *)x, NULL, n, axpy_f{alpha});
    return map<float>(be, (float *)y, (const float *)x, NULL, n, axpy_f{alpha});
}
