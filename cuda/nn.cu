/* Neural-network ops on CUDA, forward and backward: bias, softmax, softmax + cross-entropy, and the
 * column sums that every dbias / dw uses. Each computes what its twin in src/cpu/nn.c computes. Row
 * ops give a row to a warp or a block (LT_LAUNCH_ROWS); column sums (dbias, dw, db) are made
 * deterministic by summing fixed row chunks into partials and then the partials in a fixed order.
 * LayerNorm lives in transformer.cu, beside its residual twin. */
#include "cuda_common.cuh"

/* ---- column sums ---------------------------------------------------------------------------- */

#define CS_COLS 32
#define CS_ROWS 8

/* out[blockIdx.y * out_ld + j] (+)= sum of x[r * ld + j] over the rows r of chunk blockIdx.y,
 * i.e. r in [y * per, min(rows, (y + 1) * per)), for j < cols; x float or bf16, sums in fp32.
 * Block (32, 8): each warp reads 32 consecutive columns of a row; the 8 row lanes' sums are then
 * added in a fixed order. */
template <typename E>
__global__ void colsum_kernel(float *out, int64_t out_ld, int accumulate, const E *x, int64_t ld, int64_t rows,
                              int64_t cols, int64_t per) {
    __shared__ float s[CS_ROWS][CS_COLS + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t j = (int64_t)blockIdx.x * CS_COLS + tx;
    int64_t r0 = (int64_t)blockIdx.y * per, r1 = r0 + per < rows ? r0 + per : rows;
    float acc = 0.0f;
    if (j < cols)
        for (int64_t r = r0 + ty; r < r1; r += CS_ROWS) acc += lt__ldf(x + r * ld + j);
    s[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && j < cols) {
        float t = 0.0f;
#pragma unroll
        for (int q = 0; q < CS_ROWS; q++) t += s[q][tx];
        float *o = out + (int64_t)blockIdx.y * out_ld + j;
        *o = accumulate ? *o + t : t;
    }
}

template <typename E>
static int colsum(lt_cuda *cu, float *out, int64_t out_ld, int accumulate, const E *x, int64_t ld, int64_t rows,
                  int64_t cols, int64_t per, int64_t chunks) {
    dim3 grid((unsigned)((cols + CS_COLS - 1) / CS_COLS), (unsigned)chunks), block(CS_COLS, CS_ROWS);
    colsum_kernel<<<grid, block, 0, cu->stream>>>(out, out_ld, accumulate, x, ld, rows, cols, per);
    LT_LAUNCH_CHECK();
    return 0;
}

int lt__colsum(lt_cuda *cu, float *out, int64_t out_ld, int accumulate, const float *x, int64_t ld, int64_t rows,
               int64_t cols, int64_t per, int64_t chunks) {
    return colsum(cu, out, out_ld, accumulate, x, ld, rows, cols, per, chunks);
}

int64_t lt__colsum_chunks(lt_cuda *cu, int64_t rows, int64_t tiles, int64_t *per) {
    int64_t chunks = (int64_t)cu->sm_count * 8 / tiles, most = (rows + 63) / 64;
    if (chunks > most) chunks = most;
    if (chunks > 65535) chunks = 65535; /* grid.y */
    if (chunks <= 1) {
        *per = rows;
        return 1;
    }
    *per = (rows + chunks - 1) / chunks;
    return (rows + *per - 1) / *per;
}

/* dst[cols] (fp32) += column sums of x[rows, cols] (float or bf16), through fp32 partials in
 * scratch when the rows are many. */
template <typename E> static int colsum_acc(lt_backend *be, float *dst, const E *x, int64_t rows, int64_t cols) {
    lt_cuda *cu = lt__cu(be);
    if (rows <= 0 || cols <= 0) return 0;
    int64_t per, chunks = lt__colsum_chunks(cu, rows, (cols + CS_COLS - 1) / CS_COLS, &per);
    if (chunks == 1) return colsum(cu, dst, 0, 1, x, cols, rows, cols, rows, 1);
    float *part;
    LT_TRY(lt__cuda_scratch(be, (size_t)(chunks * cols) * sizeof(float), (void **)&part));
    LT_TRY(colsum(cu, part, cols, 0, x, cols, rows, cols, per, chunks));
    return colsum(cu, dst, 0, 1, (const float *)part, cols, chunks, cols, chunks, 1);
}

/* ---- bias ------------------------------------------------------------------------------------ */

/* y[R, C] (E) += bias[C] (fp32), W columns per thread step (16 bytes of y, or 1). Block (bx, by):
 * by rows at a time, bx threads across the columns. */
template <int W, typename E> __global__ void bias_add_kernel(E *y, const float *bias, int64_t rows, int64_t cols) {
    int64_t step = (int64_t)gridDim.x * blockDim.y;
    for (int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; r < rows; r += step) {
        E *yr = y + r * cols;
        for (int64_t j = (int64_t)threadIdx.x * W; j < cols; j += (int64_t)blockDim.x * W) {
            float v[W], bb[W];
            lt__load<W>(v, yr + j);
            lt__load<W>(bb, bias + j);
#pragma unroll
            for (int e = 0; e < W; e++) v[e] += bb[e];
            lt__store<W>(yr + j, v);
        }
    }
}

template <typename E> static int bias_add(lt_backend *be, E *y, const float *bias, int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    constexpr int VW = lt__vw<E>();
    int vec = lt__vec_ok(cols, VW, y, bias);
    dim3 block = lt__row_block(vec ? cols / VW : cols);
    unsigned grid = lt__blocks(rows, block.y, LT_MAX_BLOCKS);
    if (vec)
        bias_add_kernel<VW><<<grid, block, 0, cu->stream>>>(y, bias, rows, cols);
    else
        bias_add_kernel<1><<<grid, block, 0, cu->stream>>>(y, bias, rows, cols);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- softmax -------------------------------------------------------------------------------- */

/* Online softmax state: the running max m and sum s of exp(v - m) over the values seen. */
struct ms {
    float m, s;
};

__device__ __forceinline__ ms lt__shfl_xor(ms v, int mask) {
    return ms{__shfl_xor_sync(LT_FULL_MASK, v.m, mask), __shfl_xor_sync(LT_FULL_MASK, v.s, mask)};
}

/* -inf values add nothing (exp(-inf - m) = 0); a NaN poisons s, as it does on the CPU. */
__device__ __forceinline__ void ms_add(ms &a, float v) {
    if (v > a.m) {
        a.s = a.s * expf(a.m - v) + 1.0f;
        a.m = v;
    } else if (v != -INFINITY) {
        a.s += expf(v - a.m);
    }
}

/* Symmetric in a and b, so both butterfly partners get the same bits. */
struct ms_op {
    __device__ ms operator()(ms a, ms b) const {
        float m = fmaxf(a.m, b.m);
        float sa = a.m == -INFINITY ? 0.0f : a.s * expf(a.m - m);
        float sb = b.m == -INFINITY ? 0.0f : b.s * expf(b.m - m);
        return ms{m, sa + sb};
    }
};

/* Over the values of row xr (n of them, float or bf16) times scale, all threads of the row group. */
template <int TPR, typename E>
__device__ __forceinline__ ms row_ms(const E *xr, int64_t n, float scale, int lane) {
    ms a = {-INFINITY, 0.0f};
    for (int64_t j = lane; j < n; j += TPR) ms_add(a, __fmul_rn(scale, lt__ldf(xr + j))); /* no FMA: as the CPU rounds */
    return lt__group_allreduce<TPR>(a, ms_op(), ms{-INFINITY, 0.0f});
}

/* y[R, C] = softmax(scale * x) per row over its first n columns (n = lens[r / per] clamped to
 * [0, C], or C without lens); the other columns, and rows with n = 0, are 0. */
template <int TPR>
__global__ void softmax_fwd_kernel(float *y, const float *x, const int32_t *lens, int64_t per, int64_t rows,
                                   int64_t cols, float scale) {
    lt_row_iter<TPR> it;
    for (int64_t r = it.first; r < rows; r += it.step) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        int64_t n = cols;
        if (lens) {
            int64_t l = lens[r / per];
            n = l < 0 ? 0 : l < cols ? l : cols;
        }
        ms a = row_ms<TPR>(xr, n, scale, it.lane);
        float inv = n ? 1.0f / a.s : 0.0f;
        for (int64_t j = it.lane; j < cols; j += TPR)
            yr[j] = j < n ? expf(__fmul_rn(scale, xr[j]) - a.m) * inv : 0.0f;
    }
}

extern "C" int lt__cuda_softmax_fwd(lt_backend *be, float *y, const float *x, const int32_t *lens,
                                    int64_t rows_per_len, int64_t rows, int64_t cols, float scale) {
    if (rows <= 0 || cols <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    LT_LAUNCH_ROWS(cu, rows, cols, softmax_fwd_kernel, y, x, lens, rows_per_len, rows, cols, scale);
    LT_LAUNCH_CHECK();
    return 0;
}

/* dx[R, C] += scale * y * (dy - sum(dy * y)) per row */
template <int TPR>
__global__ void softmax_bwd_kernel(float *dx, const float *dy, const float *y, int64_t rows, int64_t cols,
                                   float scale) {
    lt_row_iter<TPR> it;
    for (int64_t r = it.first; r < rows; r += it.step) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        float dot = 0.0f;
        for (int64_t j = it.lane; j < cols; j += TPR) dot += dyr[j] * yr[j];
        dot = lt__group_sum<TPR>(dot);
        for (int64_t j = it.lane; j < cols; j += TPR) dxr[j] += scale * yr[j] * (dyr[j] - dot);
    }
}

extern "C" int lt__cuda_softmax_bwd(lt_backend *be, float *dx, const float *dy, const float *y, int64_t rows,
                                    int64_t cols, float scale) {
    if (rows <= 0 || cols <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    LT_LAUNCH_ROWS(cu, rows, cols, softmax_bwd_kernel, dx, dy, y, rows, cols, scale);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- softmax + cross-entropy ---------------------------------------------------------------- */

/* Per row of logits[R, V] (float or bf16): lse[r] = logsumexp (one online pass), loss[r] = lse -
 * logits[target] or 0 for ignore_index, both fp32. A target outside [0, V) is reported through the
 * status word and its loss is NaN. */
template <int TPR, typename E>
__global__ void xent_fwd_kernel(float *loss, float *lse, const E *logits, const int32_t *targets, int64_t rows,
                                int64_t vocab, int ignore_index, int *status) {
    lt_row_iter<TPR> it;
    for (int64_t r = it.first; r < rows; r += it.step) {
        const E *xr = logits + r * vocab;
        ms a = row_ms<TPR>(xr, vocab, 1.0f, it.lane);
        if (it.lane != 0) continue;
        float l = a.m + logf(a.s);
        int32_t t = targets[r];
        lse[r] = l;
        if (t == ignore_index) {
            loss[r] = 0.0f;
        } else if (t < 0 || t >= vocab) {
            lt__fault(status, LT_FAULT_XENT_FWD);
            loss[r] = NAN;
        } else {
            loss[r] = l - lt__ldf(xr + t);
        }
    }
}

template <typename E>
static int xent_fwd(lt_backend *be, float *loss, float *lse, const E *logits, const int32_t *targets, int64_t rows,
                    int64_t vocab, int ignore_index) {
    if (rows <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    LT_LAUNCH_ROWS(cu, rows, vocab, xent_fwd_kernel, loss, lse, logits, targets, rows, vocab, ignore_index,
                   cu->status);
    LT_LAUNCH_CHECK();
    return 0;
}

#define XENT_BWD_THREADS 256
#define XENT_BWD_CHUNK (XENT_BWD_THREADS * 8)

/* dlogits[R, V] += dloss[r] * (exp(logits - lse[r]) - onehot(target_r)), skipping ignore_index
 * rows; dlogits and logits float or bf16 (each element read, summed in fp32, rounded once). A
 * block per (row, chunk of XENT_BWD_CHUNK columns), so a long row spreads over many blocks;
 * grid-strided over all of them. The target column gets the two terms one after the other, as on
 * the CPU. */
template <typename E>
__global__ void xent_bwd_kernel(E *dlogits, const E *logits, const float *lse, const int32_t *targets,
                                const float *dloss, int64_t rows, int64_t vocab, int64_t chunks, int ignore_index,
                                int *status) {
    for (int64_t u = blockIdx.x; u < rows * chunks; u += gridDim.x) {
        int64_t r = u / chunks, c0 = u % chunks * XENT_BWD_CHUNK;
        int64_t c1 = c0 + XENT_BWD_CHUNK < vocab ? c0 + XENT_BWD_CHUNK : vocab;
        int32_t t = targets[r];
        if (t == ignore_index) continue;
        if (t < 0 || t >= vocab) {
            if (c0 == 0 && threadIdx.x == 0) lt__fault(status, LT_FAULT_XENT_BWD);
            continue;
        }
        const E *xr = logits + r * vocab;
        E *dr = dlogits + r * vocab;
        float g = dloss[r], l = lse[r];
        for (int64_t j = c0 + threadIdx.x; j < c1; j += XENT_BWD_THREADS) {
            float d = lt__ldf(dr + j) + g * expf(lt__ldf(xr + j) - l);
            if (j == t) d -= g;
            lt__stf(dr + j, d);
        }
    }
}

template <typename E>
static int xent_bwd(lt_backend *be, E *dlogits, const E *logits, const float *lse, const int32_t *targets,
                    const float *dloss, int64_t rows, int64_t vocab, int ignore_index) {
    if (rows <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    /* at least one chunk per row, so a bad target is reported even when vocab = 0 (as the CPU does) */
    int64_t chunks = vocab > 0 ? (vocab + XENT_BWD_CHUNK - 1) / XENT_BWD_CHUNK : 1;
    xent_bwd_kernel<<<lt__blocks(rows * chunks, 1, LT_MAX_BLOCKS), XENT_BWD_THREADS, 0, cu->stream>>>(
        dlogits, logits, lse, targets, dloss, rows, vocab, chunks, ignore_index, cu->status);
    LT_LAUNCH_CHECK();
    return 0;
}

/* ---- the slots: activations f32 or bf16 ---------------------------------------------------- */

extern "C" int lt__cuda_bias_add(lt_backend *be, void *y, const float *bias, lt_dtype dt, int64_t rows, int64_t cols) {
    if (dt == LT_BF16) return bias_add(be, (lt_bf16 *)y, bias, rows, cols);
    return bias_add(be, (float *)y, bias, rows, cols);
}

extern "C" int lt__cuda_bias_bwd(lt_backend *be, float *dbias, const void *dy, lt_dtype dt, int64_t rows, int64_t cols) {
    if (dt == LT_BF16) return colsum_acc(be, dbias, (const lt_bf16 *)dy, rows, cols);
    return colsum_acc(be, dbias, (const float *)dy, rows, cols);
}

extern "C" int lt__cuda_xent_fwd(lt_backend *be, float *loss, float *lse, const void *logits, const int32_t *targets,
                                 lt_dtype dt, int64_t rows, int64_t vocab, int ignore_index) {
    if (dt == LT_BF16) return xent_fwd(be, loss, lse, (const lt_bf16 *)logits, targets, rows, vocab, ignore_index);
    return xent_fwd(be, loss, lse, (const float *)logits, targets, rows, vocab, ignore_index);
}

extern "C" int lt__cuda_xent_bwd(lt_backend *be, void *dlogits, const void *logits, const float *lse,
                                 const int32_t *targets, const float *dloss, lt_dtype dt, int64_t rows, int64_t vocab,
                                 int ignore_index) {
    if (dt == LT_BF16)
        return xent_bwd(be, (lt_bf16 *)dlogits, (const lt_bf16 *)logits, lse, targets, dloss, rows, vocab,
                        ignore_index);
    return xent_bwd(be, (float *)dlogits, (const float *)logits, lse, targets, dloss, rows, vocab, ignore_index);
}
