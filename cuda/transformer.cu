/* The transformer block's row and element ops on CUDA, forward and backward: bias + GELU, LayerNorm
 * and its post-LN residual form, f32 <-> bf16 casts, mean pooling and L2 normalisation.
 *
 * Activations are float or bf16 (E): bf16 is storage only, every sum and product is fp32, and a
 * value is rounded once, when it is stored. Weights, statistics and their gradients are fp32. Rows
 * go to a warp or a block (LT_LAUNCH_ROWS) and move 16 bytes per access when the row length and
 * the pointers allow (lt__row_for); parameter gradients are deterministic column sums (nn.cu). */
#include "cuda_common.cuh"

/* lens[b] as a count of positions in [0, T] */
__device__ __forceinline__ int64_t clamp_len(int32_t len, int64_t T) { return len < 0 ? 0 : len > T ? T : len; }

/* ---- bias + GELU ----------------------------------------------------------------------------------- */

/* y[R, C] = gelu(x + bias[C]). Block (bx, by) (lt__row_block): by rows at a time, W columns per
 * thread step. */
template <int W, typename E>
__global__ void bias_gelu_fwd_kernel(E *y, const E *x, const float *bias, int64_t rows, int64_t cols) {
    int64_t step = (int64_t)gridDim.x * blockDim.y;
    for (int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; r < rows; r += step)
        for (int64_t j = (int64_t)threadIdx.x * W; j < cols; j += (int64_t)blockDim.x * W) {
            float v[W], bb[W];
            lt__load<W>(v, x + r * cols + j);
            lt__load<W>(bb, bias + j);
#pragma unroll
            for (int e = 0; e < W; e++) v[e] = lt__gelu(v[e] + bb[e]);
            lt__store<W>(y + r * cols + j, v);
        }
}

template <typename E>
static int bias_gelu_fwd(lt_cuda *cu, E *y, const E *x, const float *bias, int64_t rows, int64_t cols) {
    constexpr int VW = lt__vw<E>();
    int vec = lt__vec_ok(cols, VW, y, x, bias);
    dim3 block = lt__row_block(vec ? cols / VW : cols);
    unsigned grid = lt__blocks(rows, block.y, LT_MAX_BLOCKS);
    if (vec)
        bias_gelu_fwd_kernel<VW><<<grid, block, 0, cu->stream>>>(y, x, bias, rows, cols);
    else
        bias_gelu_fwd_kernel<1><<<grid, block, 0, cu->stream>>>(y, x, bias, rows, cols);
    LT_LAUNCH_CHECK();
    return 0;
}

extern "C" int lt__cuda_bias_gelu_fwd(lt_backend *be, void *y, const void *x, const float *bias, lt_dtype dt,
                                      int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return 0;
    if (dt == LT_BF16) return bias_gelu_fwd(lt__cu(be), (lt_bf16 *)y, (const lt_bf16 *)x, bias, rows, cols);
    return bias_gelu_fwd(lt__cu(be), (float *)y, (const float *)x, bias, rows, cols);
}

#define BG_ROWS 8 /* row lanes of a bias_gelu_bwd block (32 x BG_ROWS threads) */

/* g = dy * gelu'(x + bias) over x, dy [R, C]: dx += g, and out[blockIdx.y * out_ld + j] (+)= the
 * sum of g over the rows of chunk blockIdx.y (rows [y per, min(R, (y + 1) per))). The colsum_kernel
 * pattern (nn.cu) with g made on the fly: lane tx of each row lane ty owns W columns, the BG_ROWS
 * row lanes' sums are then added in a fixed order. */
template <int W, typename E>
__global__ void bias_gelu_bwd_kernel(E *dx, float *out, int64_t out_ld, int accumulate, const E *dy, const E *x,
                                     const float *bias, int64_t rows, int64_t cols, int64_t per) {
    __shared__ float s[BG_ROWS][32 * W + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t j = ((int64_t)blockIdx.x * 32 + tx) * W;
    int64_t r0 = (int64_t)blockIdx.y * per, r1 = r0 + per < rows ? r0 + per : rows;
    float acc[W];
#pragma unroll
    for (int e = 0; e < W; e++) acc[e] = 0.0f;
    if (j < cols) {
        float bb[W];
        lt__load<W>(bb, bias + j);
        for (int64_t r = r0 + ty; r < r1; r += BG_ROWS) {
            float d[W], v[W], o[W];
            lt__load<W>(d, dy + r * cols + j);
            lt__load<W>(v, x + r * cols + j);
            lt__load<W>(o, dx + r * cols + j);
#pragma unroll
            for (int e = 0; e < W; e++) {
                float g = d[e] * lt__gelu_grad(v[e] + bb[e]);
                o[e] += g;
                acc[e] += g;
            }
            lt__store<W>(dx + r * cols + j, o);
        }
    }
#pragma unroll
    for (int e = 0; e < W; e++) s[ty][tx * W + e] = acc[e];
    __syncthreads();
    if (ty == 0 && j < cols)
#pragma unroll
        for (int e = 0; e < W; e++) {
            float t = 0.0f;
#pragma unroll
            for (int q = 0; q < BG_ROWS; q++) t += s[q][tx * W + e];
            float *o = out + (int64_t)blockIdx.y * out_ld + j + e;
            *o = accumulate ? *o + t : t;
        }
}

template <int W, typename E>
static int bias_gelu_bwd_w(lt_backend *be, E *dx, float *dbias, const E *dy, const E *x, const float *bias,
                           int64_t rows, int64_t cols) {
    lt_cuda *cu = lt__cu(be);
    int64_t tiles = (cols + 32 * W - 1) / (32 * W), per;
    int64_t chunks = lt__colsum_chunks(cu, rows, tiles, &per);
    dim3 block(32, BG_ROWS);
    if (chunks == 1) { /* one pass, straight into dbias */
        bias_gelu_bwd_kernel<W><<<dim3((unsigned)tiles, 1), block, 0, cu->stream>>>(dx, dbias, 0, 1, dy, x, bias,
                                                                                     rows, cols, rows);
        LT_LAUNCH_CHECK();
        return 0;
    }
    float *part;
    LT_TRY(lt__cuda_scratch(be, (size_t)(chunks * cols) * sizeof(float), (void **)&part));
    bias_gelu_bwd_kernel<W><<<dim3((unsigned)tiles, (unsigned)chunks), block, 0, cu->stream>>>(
        dx, part, cols, 0, dy, x, bias, rows, cols, per);
    LT_LAUNCH_CHECK();
    return lt__colsum(cu, dbias, 0, 1, part, cols, chunks, cols, chunks, 1);
}

template <typename E>
static int bias_gelu_bwd(lt_backend *be, E *dx, float *dbias, const E *dy, const E *x, const float *bias,
                         int64_t rows, int64_t cols) {
    if (lt__vec_ok(cols, lt__vw<E>(), dx, dy, x, bias))
        return bias_gelu_bwd_w<lt__vw<E>()>(be, dx, dbias, dy, x, bias, rows, cols);
    return bias_gelu_bwd_w<1>(be, dx, dbias, dy, x, bias, rows, cols);
}

extern "C" int lt__cuda_bias_gelu_bwd(lt_backend *be, void *dx, float *dbias, const void *dy, const void *x,
                                      const float *bias, lt_dtype dt, int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return 0;
    if (dt == LT_BF16)
        return bias_gelu_bwd(be, (lt_bf16 *)dx, dbias, (const lt_bf16 *)dy, (const lt_bf16 *)x, bias, rows, cols);
    return bias_gelu_bwd(be, (float *)dx, dbias, (const float *)dy, (const float *)x, bias, rows, cols);
}

/* ---- LayerNorm, plain and residual ------------------------------------------------------------------ */

/* Per row of [R, C]: s = a + b, rounded to E and stored, when b is given (else s is a, read only);
 * then, from the stored s, y = (s - mean) * rstd * w + beta with the CPU's two-pass variance, and
 * mean[R], rstd[R]. Every pass reads back what this thread wrote, so s may alias a and y may alias
 * s. */
template <int TPR, typename E>
__global__ void ln_fwd_kernel(E *y, E *s, float *mean, float *rstd, const E *a, const E *b, const float *w,
                              const float *beta, int64_t rows, int64_t cols, float eps, int vec) {
    constexpr int VW = lt__vw<E>();
    lt_row_iter<TPR> it;
    for (int64_t r = it.first; r < rows; r += it.step) {
        const E *ar = a + r * cols, *br = b ? b + r * cols : NULL;
        E *sr = s + r * cols, *yr = y + r * cols;
        float sum = 0.0f;
        lt__row_for<TPR, VW>(cols, it.lane, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float v[N];
            lt__load<N>(v, ar + j);
            if (br) {
                float u[N];
                lt__load<N>(u, br + j);
#pragma unroll
                for (int e = 0; e < N; e++) v[e] = lt__round<E>(v[e] + u[e]);
                lt__store<N>(sr + j, v);
            }
#pragma unroll
            for (int e = 0; e < N; e++) sum += v[e];
        });
        float m = lt__group_sum<TPR>(sum) / (float)cols, var = 0.0f;
        lt__row_for<TPR, VW>(cols, it.lane, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float v[N];
            lt__load<N>(v, sr + j);
#pragma unroll
            for (int e = 0; e < N; e++) var += (v[e] - m) * (v[e] - m);
        });
        var = lt__group_sum<TPR>(var);
        float rs = 1.0f / sqrtf(var / (float)cols + eps);
        lt__row_for<TPR, VW>(cols, it.lane, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float v[N], ww[N], bb[N];
            lt__load<N>(v, sr + j);
            lt__load<N>(ww, w + j);
            lt__load<N>(bb, beta + j);
#pragma unroll
            for (int e = 0; e < N; e++) v[e] = (v[e] - m) * rs * ww[e] + bb[e];
            lt__store<N>(yr + j, v);
        });
        if (it.lane == 0) mean[r] = m, rstd[r] = rs;
    }
}

template <typename E>
static int ln_fwd(lt_cuda *cu, E *y, E *s, float *mean, float *rstd, const E *a, const E *b, const float *w,
                  const float *beta, int64_t rows, int64_t cols, float eps) {
    int vec = lt__vec_ok(cols, lt__vw<E>(), y, s, a, b, w, beta);
    LT_LAUNCH_ROWS(cu, rows, cols, ln_fwd_kernel, y, s, mean, rstd, a, b, w, beta, rows, cols, eps, vec);
    LT_LAUNCH_CHECK();
    return 0;
}

/* plain LayerNorm: s is x, read only (no b) */
template <typename E>
static int layernorm_fwd(lt_backend *be, E *y, float *mean, float *rstd, const E *x, const float *w, const float *b,
                         int64_t rows, int64_t cols, float eps) {
    if (rows <= 0) return 0;
    return ln_fwd(lt__cu(be), y, (E *)x, mean, rstd, x, (const E *)NULL, w, b, rows, cols, eps);
}

extern "C" int lt__cuda_residual_layernorm_fwd(lt_backend *be, void *y, void *s, float *mean, float *rstd,
                                               const void *a, const void *b, const float *w, const float *beta,
                                               lt_dtype dt, int64_t rows, int64_t cols, float eps) {
    if (rows <= 0) return 0;
    if (dt == LT_BF16)
        return ln_fwd(lt__cu(be), (lt_bf16 *)y, (lt_bf16 *)s, mean, rstd, (const lt_bf16 *)a, (const lt_bf16 *)b, w,
                      beta, rows, cols, eps);
    return ln_fwd(lt__cu(be), (float *)y, (float *)s, mean, rstd, (const float *)a, (const float *)b, w, beta, rows,
                  cols, eps);
}

#define LN_BWD_THREADS 256
#define LN_BWD_SMEM_COLS 4096 /* 2 * 4096 floats = 32 KiB, under the 48 KiB default limit */
#define LN_BWD_SCRATCH_FLOATS ((int64_t)1 << 25) /* 128 MiB of partials at most */

struct sum2_op {
    __device__ float2 operator()(float2 a, float2 b) const { return make_float2(a.x + b.x, a.y + b.y); }
};

/* With n = (s - mean) * rstd, g = dy * w, per row of s[R, C]:
 *   ds = rstd * (g - mean(g) - n * mean(g * n)),  da += ds, and db += ds when db is given
 * (da == db gets both, added in fp32 and rounded once). part[gridDim.x, 2C] gets this block's sums
 * over its rows of dy * n (for dw, columns [0, C)) and dy (for dbeta, columns [C, 2C)). A block
 * owns a row at a time and each thread the same columns of every row (lt__row_for), so its sums
 * need no atomics; they live in shared memory when they fit, else directly in part. */
template <typename E>
__global__ void ln_bwd_kernel(E *da, E *db, float *part, const E *dy, const E *s, const float *w, const float *mean,
                              const float *rstd, int64_t rows, int64_t cols, int use_smem, int vec) {
    constexpr int VW = lt__vw<E>();
    extern __shared__ __align__(16) float sacc[];
    float *out = part + (int64_t)blockIdx.x * 2 * cols;
    float *acc = use_smem ? sacc : out;
    int tid = threadIdx.x;
    lt__row_for<LN_BWD_THREADS, VW>(cols, tid, vec, [&](int64_t j, auto n) {
#pragma unroll
        for (int e = 0; e < decltype(n)::value; e++) acc[j + e] = 0.0f, acc[cols + j + e] = 0.0f;
    });
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const E *sr = s + r * cols, *dyr = dy + r * cols;
        E *dar = da + r * cols, *dbr = db ? db + r * cols : NULL;
        float m = mean[r], rs = rstd[r];
        float2 sg = make_float2(0.0f, 0.0f);
        lt__row_for<LN_BWD_THREADS, VW>(cols, tid, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float x[N], d[N], ww[N];
            lt__load<N>(x, sr + j);
            lt__load<N>(d, dyr + j);
            lt__load<N>(ww, w + j);
#pragma unroll
            for (int e = 0; e < N; e++) {
                float nn = (x[e] - m) * rs, g = d[e] * ww[e];
                sg.x += g;
                sg.y += g * nn;
                acc[j + e] += d[e] * nn;
                acc[cols + j + e] += d[e];
            }
        });
        sg = lt__group_allreduce<LN_BWD_THREADS>(sg, sum2_op(), make_float2(0.0f, 0.0f));
        float mg = sg.x / (float)cols, mgn = sg.y / (float)cols;
        lt__row_for<LN_BWD_THREADS, VW>(cols, tid, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float x[N], d[N], ww[N], ds[N], o[N];
            lt__load<N>(x, sr + j);
            lt__load<N>(d, dyr + j);
            lt__load<N>(ww, w + j);
#pragma unroll
            for (int e = 0; e < N; e++) ds[e] = rs * (d[e] * ww[e] - mg - (x[e] - m) * rs * mgn);
            lt__load<N>(o, dar + j);
#pragma unroll
            for (int e = 0; e < N; e++) o[e] += ds[e];
            if (dbr == dar) /* da == db: both shares added in fp32, one rounding (as the CPU) */
#pragma unroll
                for (int e = 0; e < N; e++) o[e] += ds[e];
            lt__store<N>(dar + j, o);
            if (dbr && dbr != dar) {
                lt__load<N>(o, dbr + j);
#pragma unroll
                for (int e = 0; e < N; e++) o[e] += ds[e];
                lt__store<N>(dbr + j, o);
            }
        });
    }
    if (use_smem)
        lt__row_for<LN_BWD_THREADS, VW>(cols, tid, vec, [&](int64_t j, auto n) {
#pragma unroll
            for (int e = 0; e < decltype(n)::value; e++) out[j + e] = acc[j + e], out[cols + j + e] = acc[cols + j + e];
        });
}

template <typename E>
static int ln_bwd(lt_backend *be, E *da, E *db, float *dw, float *dbeta, const E *dy, const E *s, const float *w,
                  const float *mean, const float *rstd, int64_t rows, int64_t cols) {
    lt_cuda *cu = lt__cu(be);
    /* The number of blocks fixes which rows each partial sums, so it depends only on the shape
     * and the GPU: the same result every run. */
    int64_t blocks = (int64_t)cu->sm_count * 4, most = LN_BWD_SCRATCH_FLOATS / (2 * cols);
    if (blocks > most) blocks = most; /* very wide rows: fewer partials, bounded scratch */
    if (blocks > rows) blocks = rows;
    if (blocks < 1) blocks = 1;
    float *part;
    LT_TRY(lt__cuda_scratch(be, (size_t)(blocks * 2 * cols) * sizeof(float), (void **)&part));
    int use_smem = cols <= LN_BWD_SMEM_COLS;
    size_t smem = use_smem ? (size_t)(2 * cols) * sizeof(float) : 0;
    int vec = lt__vec_ok(cols, lt__vw<E>(), da, db, dy, s, w);
    ln_bwd_kernel<E><<<(unsigned)blocks, LN_BWD_THREADS, smem, cu->stream>>>(da, db, part, dy, s, w, mean, rstd, rows,
                                                                          cols, use_smem, vec);
    LT_LAUNCH_CHECK();
    /* dw += sum of the partials' first halves, dbeta += their second halves, in block order */
    LT_TRY(lt__colsum(cu, dw, 0, 1, part, 2 * cols, blocks, cols, blocks, 1));
    return lt__colsum(cu, dbeta, 0, 1, part + cols, 2 * cols, blocks, cols, blocks, 1);
}

template <typename E>
static int layernorm_bwd(lt_backend *be, E *dx, float *dw, float *db, const E *dy, const E *x, const float *w,
                         const float *mean, const float *rstd, int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return 0;
    return ln_bwd(be, dx, (E *)NULL, dw, db, dy, x, w, mean, rstd, rows, cols);
}

extern "C" int lt__cuda_residual_layernorm_bwd(lt_backend *be, void *da, void *db, float *dw, float *dbeta,
                                               const void *dy, const void *s, const float *w, const float *mean,
                                               const float *rstd, lt_dtype dt, int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return 0;
    if (dt == LT_BF16)
        return ln_bwd(be, (lt_bf16 *)da, (lt_bf16 *)db, dw, dbeta, (const lt_bf16 *)dy, (const lt_bf16 *)s, w, mean,
                      rstd, rows, cols);
    return ln_bwd(be, (float *)da, (float *)db, dw, dbeta, (const float *)dy, (const float *)s, w, mean, rstd, rows,
                  cols);
}

/* ---- cast ------------------------------------------------------------------------------------------- */

/* y[n] = x[n] converted (bf16 rounding: lt__bf16_bits, the host's bits); 8 elements per step
 * (16 or 32 bytes) when both are 16-byte aligned, then a scalar tail. */
template <typename Y, typename X> __global__ void cast_kernel(Y *y, const X *x, int64_t n, int vec) {
    int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t n8 = vec ? n / 8 : 0;
    for (int64_t i = i0; i < n8; i += stride) {
        float v[8];
        lt__load<8>(v, x + i * 8);
        lt__store<8>(y + i * 8, v);
    }
    for (int64_t i = n8 * 8 + i0; i < n; i += stride) lt__stf(y + i, lt__ldf(x + i));
}

extern "C" int lt__cuda_cast(lt_backend *be, void *y, lt_dtype yt, const void *x, lt_dtype xt, int64_t n) {
    lt_cuda *cu = lt__cu(be);
    if (n <= 0) return 0;
    if (yt == xt) {
        if (y != x) LT_CUDA_CHECK(cudaMemcpyAsync(y, x, (size_t)n * lt_dtype_size(xt), cudaMemcpyDeviceToDevice, cu->stream));
        return 0;
    }
    int vec = lt__aligned16(y) && lt__aligned16(x);
    unsigned blocks = lt__blocks(vec ? n / 8 + n % 8 : n, 256, (int64_t)cu->sm_count * 16);
    if (yt == LT_BF16)
        cast_kernel<<<blocks, 256, 0, cu->stream>>>((lt_bf16 *)y, (const float *)x, n, vec);
    else
        cast_kernel<<<blocks, 256, 0, cu->stream>>>((float *)y, (const lt_bf16 *)x, n, vec);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- mean pooling ------------------------------------------------------------------------------------ */

#define MP_ROWS 8

/* out[b, j] (fp32) = mean of x[b, t, j] (E) over t < lens[b] (clamped to [0, T]; 0 when empty).
 * Block (32, MP_ROWS) per (32 columns, b), grid-strided over b: row lane ty sums every MP_ROWS-th t,
 * the lanes' sums are added in a fixed order. */
template <typename E>
__global__ void mean_pool_fwd_kernel(float *out, const E *x, const int32_t *lens, int64_t B, int64_t T, int64_t C) {
    __shared__ float s[MP_ROWS][33];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t j = (int64_t)blockIdx.x * 32 + tx;
    for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
        int64_t len = clamp_len(lens[b], T);
        float acc = 0.0f;
        if (j < C)
            for (int64_t t = ty; t < len; t += MP_ROWS) acc += lt__ldf(x + (b * T + t) * C + j);
        s[ty][tx] = acc;
        __syncthreads();
        if (ty == 0 && j < C) {
            float tot = 0.0f;
#pragma unroll
            for (int q = 0; q < MP_ROWS; q++) tot += s[q][tx];
            out[b * C + j] = len ? tot / (float)len : 0.0f;
        }
        __syncthreads(); /* s is reused for the next b */
    }
}

template <typename E>
static int mean_pool_fwd(lt_backend *be, float *out, const E *x, const int32_t *lens, int64_t B, int64_t T,
                         int64_t C) {
    if (B <= 0 || C <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    dim3 grid((unsigned)((C + 31) / 32), (unsigned)(B < 65535 ? B : 65535)), block(32, MP_ROWS);
    mean_pool_fwd_kernel<<<grid, block, 0, cu->stream>>>(out, x, lens, B, T, C);
    LT_LAUNCH_CHECK();
    return 0;
}

/* dx[b, t, :] (E) += dout[b, :] (fp32) / lens[b] for t < lens[b]; rows (b, t) grid-strided, by at
 * a time, W columns per thread step. */
template <int W, typename E>
__global__ void mean_pool_bwd_kernel(E *dx, const float *dout, const int32_t *lens, int64_t rows, int64_t T,
                                     int64_t C) {
    int64_t step = (int64_t)gridDim.x * blockDim.y;
    for (int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; r < rows; r += step) {
        int64_t b = r / T, len = clamp_len(lens[b], T);
        if (r % T >= len) continue;
        for (int64_t j = (int64_t)threadIdx.x * W; j < C; j += (int64_t)blockDim.x * W) {
            float d[W], o[W];
            lt__load<W>(d, dout + b * C + j);
            lt__load<W>(o, dx + r * C + j);
#pragma unroll
            for (int e = 0; e < W; e++) o[e] += d[e] / (float)len;
            lt__store<W>(dx + r * C + j, o);
        }
    }
}

template <typename E>
static int mean_pool_bwd(lt_backend *be, E *dx, const float *dout, const int32_t *lens, int64_t B, int64_t T,
                         int64_t C) {
    if (B <= 0 || T <= 0 || C <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    constexpr int VW = lt__vw<E>();
    int vec = lt__vec_ok(C, VW, dx, dout);
    dim3 block = lt__row_block(vec ? C / VW : C);
    unsigned grid = lt__blocks(B * T, block.y, LT_MAX_BLOCKS);
    if (vec)
        mean_pool_bwd_kernel<VW><<<grid, block, 0, cu->stream>>>(dx, dout, lens, B * T, T, C);
    else
        mean_pool_bwd_kernel<1><<<grid, block, 0, cu->stream>>>(dx, dout, lens, B * T, T, C);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- L2 normalisation -------------------------------------------------------------------------------- */

#define L2_MIN_NORM 1e-12f

/* y = x / max(||x||, 1e-12) and norm[r] = ||x|| per row; the sum ends before any write, so y may
 * alias x. */
template <int TPR>
__global__ void l2norm_fwd_kernel(float *y, float *norm, const float *x, int64_t rows, int64_t cols, int vec) {
    lt_row_iter<TPR> it;
    for (int64_t r = it.first; r < rows; r += it.step) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols, ss = 0.0f;
        lt__row_for<TPR, 4>(cols, it.lane, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float v[N];
            lt__load<N>(v, xr + j);
#pragma unroll
            for (int e = 0; e < N; e++) ss += v[e] * v[e];
        });
        float nrm = sqrtf(lt__group_sum<TPR>(ss)), den = fmaxf(nrm, L2_MIN_NORM);
        lt__row_for<TPR, 4>(cols, it.lane, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float v[N];
            lt__load<N>(v, xr + j);
#pragma unroll
            for (int e = 0; e < N; e++) v[e] /= den;
            lt__store<N>(yr + j, v);
        });
        if (it.lane == 0) norm[r] = nrm;
    }
}

extern "C" int lt__cuda_l2norm_fwd(lt_backend *be, float *y, float *norm, const float *x, int64_t rows,
                                   int64_t cols) {
    if (rows <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    int vec = lt__vec_ok(cols, 4, y, x);
    LT_LAUNCH_ROWS(cu, rows, cols, l2norm_fwd_kernel, y, norm, x, rows, cols, vec);
    LT_LAUNCH_CHECK();
    return 0;
}

/* dx += (dy - y (y . dy)) / max(norm, 1e-12) per row */
template <int TPR>
__global__ void l2norm_bwd_kernel(float *dx, const float *dy, const float *y, const float *norm, int64_t rows,
                                  int64_t cols, int vec) {
    lt_row_iter<TPR> it;
    for (int64_t r = it.first; r < rows; r += it.step) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols, dot = 0.0f;
        lt__row_for<TPR, 4>(cols, it.lane, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float a[N], d[N];
            lt__load<N>(a, yr + j);
            lt__load<N>(d, dyr + j);
#pragma unroll
            for (int e = 0; e < N; e++) dot += a[e] * d[e];
        });
        dot = lt__group_sum<TPR>(dot);
        float den = fmaxf(norm[r], L2_MIN_NORM);
        lt__row_for<TPR, 4>(cols, it.lane, vec, [&](int64_t j, auto n) {
            constexpr int N = decltype(n)::value;
            float a[N], d[N], o[N];
            lt__load<N>(a, yr + j);
            lt__load<N>(d, dyr + j);
            lt__load<N>(o, dxr + j);
#pragma unroll
            for (int e = 0; e < N; e++) o[e] += (d[e] - a[e] * dot) / den;
            lt__store<N>(dxr + j, o);
        });
    }
}

extern "C" int lt__cuda_l2norm_bwd(lt_backend *be, float *dx, const float *dy, const float *y, const float *norm,
                                   int64_t rows, int64_t cols) {
    if (rows <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    int vec = lt__vec_ok(cols, 4, dx, dy, y);
    LT_LAUNCH_ROWS(cu, rows, cols, l2norm_bwd_kernel, dx, dy, y, norm, rows, cols, vec);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- the slots: activations f32 or bf16 ---------------------------------------------------------- */

extern "C" int lt__cuda_layernorm_fwd(lt_backend *be, void *y, float *mean, float *rstd, const void *x, const float *w,
                                      const float *b, lt_dtype dt, int64_t rows, int64_t cols, float eps) {
    if (dt == LT_BF16)
        return layernorm_fwd(be, (lt_bf16 *)y, mean, rstd, (const lt_bf16 *)x, w, b, rows, cols, eps);
    return layernorm_fwd(be, (float *)y, mean, rstd, (const float *)x, w, b, rows, cols, eps);
}

extern "C" int lt__cuda_layernorm_bwd(lt_backend *be, void *dx, float *dw, float *db, const void *dy, const void *x,
                                      const float *w, const float *mean, const float *rstd, lt_dtype dt, int64_t rows,
                                      int64_t cols) {
    if (dt == LT_BF16)
        return layernorm_bwd(be, (lt_bf16 *)dx, dw, db, (const lt_bf16 *)dy, (const lt_bf16 *)x, w, mean, rstd, rows,
                             cols);
    return layernorm_bwd(be, (float *)dx, dw, db, (const float *)dy, (const float *)x, w, mean, rstd, rows, cols);
}

extern "C" int lt__cuda_mean_pool_fwd(lt_backend *be, float *out, const void *x, const int32_t *lens, lt_dtype dt,
                                      int64_t B, int64_t T, int64_t C) {
    if (dt == LT_BF16) return mean_pool_fwd(be, out, (const lt_bf16 *)x, lens, B, T, C);
    return mean_pool_fwd(be, out, (const float *)x, lens, B, T, C);
}

extern "C" int lt__cuda_mean_pool_bwd(lt_backend *be, void *dx, const float *dout, const int32_t *lens, lt_dtype dt,
                                      int64_t B, int64_t T, int64_t C) {
    if (dt == LT_BF16) return mean_pool_bwd(be, (lt_bf16 *)dx, dout, lens, B, T, C);
    return mean_pool_bwd(be, (float *)dx, dout, lens, B, T, C);
}
