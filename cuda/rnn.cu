/* Recurrent layers (LSTM, GRU) on CUDA: hand-written kernels, and cuDNN when it is built in.
 * The contract is ops.h's "recurrent layers": PyTorch's equations, weights and gate orders
 * (LSTM i,f,g,o; GRU r,z,n), x[B,T,I] batch-first and right-padded, lens on the HOST, padded steps
 * write y = 0 and keep the state, the backward ACCUMULATES.
 *
 * Hand-written path (LT_RNN_NATIVE, the default)
 *   forward
 *     1. G = x W_ih^T for all B*T rows as ONE GEMM (lt__cuda_gemm: cuBLASLt, lt_math picks fp32,
 *        tf32 or bf16 tensor cores, always fp32 accumulation), written straight into the reserve.
 *     2. the recurrence, by H:
 *        - H <= 256 (and every cluster resident at once): ONE persistent launch of
 *          rnn_persist_kernel. Thread-block clusters of nc <= 8 blocks (portable size, no grid-wide
 *          sync, no cooperative launch); the blocks of a cluster split the hidden units (Hs = H/nc
 *          each, all gates of a unit in one block) and the cluster owns a slice of Bc batch rows.
 *          Each block keeps its slice of W_hh in shared memory for all steps, transposed to
 *          [gate][k][unit] so a warp reads consecutive words (bf16 under LT_MATH_BF16, else fp32),
 *          and a full copy of h_{t-1} for its rows, double-buffered. A step: every thread (one unit,
 *          RB = 1 or 4 batch rows, so one weight read serves RB rows) prefetches its x W_ih^T values,
 *          does its G*RB dot products of length H from shared memory, the cell update in registers
 *          (fp32 c and h), writes y and the reserve, then stores its new h into every block of the
 *          cluster through distributed shared memory; one cluster.sync() per step (double buffering
 *          makes one barrier enough: a block only writes the buffer the others finished reading
 *          before the previous barrier). Replaces 2*T launches with one.
 *          Host code picks RB and the rows per cluster by a small cost model (persist_try), among the
 *          shapes whose clusters are all resident at once (cudaOccupancyMaxActiveClusters); none fits
 *          (large B with fp32 weights, say): the per-step path.
 *        - otherwise, per step: one GEMM h_{t-1} W_hh^T into a [B, G*H] buffer, then ONE fused
 *          pointwise kernel (biases, gates, cell, mask by lens, y, state, reserve).
 *        LONGTAIL_RNN_PERSIST=0 in the environment forces the per-step paths, forward and backward
 *        (to test both on a GPU).
 *   backward through time, by H:
 *     - H <= 256 (clusters all resident): ONE launch of rnn_persist_bwd_kernel, the mirror of the
 *       forward (W_hh slice in shared memory; per step the pointwise backward, each block's share of
 *       dG_t W_hh for all k, one cluster.sync(), then each unit gathers the nc shares through
 *       distributed shared memory);
 *     - otherwise per step: one fused pointwise kernel (gate gradients from the saved activations,
 *       the cell gradient carried in place, the direct GRU term z*dh), then ONE GEMM
 *       dh_{t-1} += dG_t W_hh.
 *     Then, over all steps at once: dW_hh += dG^T Hprev, dW_ih += dG^T x,
 *     dx += dG W_ih (GEMMs with beta = 1, so they accumulate), db += column sums (lt__cuda_bias_bwd).
 *     Padded steps get dG = 0 and pass dh, dc through unchanged.
 *   reserve (ws) layout, fp32:  gates[B, T, G*H]  the activated gates (LSTM i,f,g,o; GRU r,z,n)
 *                               aux[B, T, H]      LSTM: c_t;  GRU: h_{t-1} W_hn^T + b_hn
 *                               hr[B, T, H]       h_t as the forward computed it (0 at padded steps:
 *                                                 y in fp32), the backward's h_{t-1}
 *     (each 256-byte aligned). The backward reads h from hr, never from y, which may be bf16.
 *   bf16 activations (x, y, hT, cT, h0, c0, dx, dy, dhT, dcT, dh0, dc0 of dtype dt): the kernels are
 *   templated on the activations' storage type (AT: float or lt_bf16, scalar lt__ldf / lt__stf, so no
 *   alignment beyond the element's is assumed); gates, h, c and every temporary stay fp32 and only
 *   stores to outputs round (dx, dh0, dc0 +=: read, added in fp32, rounded once). The GEMMs that
 *   touch a bf16 activation take bf16 operands whatever lt_math, fp32 accumulation: G = x W_ih^T
 *   (W_ih rounded to a bf16 copy, fp32 G), dW_ih += dGx^T x (dGx rounded to a bf16 copy, fp32
 *   dW_ih), dx += dGx W_ih (bf16 dx, cuBLASLt reads it, adds in fp32 and rounds once). The state's
 *   GEMMs (h W_hh^T, dG W_hh, dW_hh) stay fp32 operands, under lt_math. h0, c0, dhT, dcT are widened
 *   into the fp32 state on entry; hT, cT rounded from it on exit.
 *   temporaries (lens on the device, the recurrent GEMM's output, the state, the gate gradients)
 *   live in a grow-only buffer private to this file, so the shared scratch that other ops (bias_bwd)
 *   may reallocate never holds them.
 *
 * cuDNN path (LT_RNN_CUDNN, built when cuDNN is found: LONGTAIL_HAVE_CUDNN)
 *   cudnnRNNForward / cudnnRNNBackwardData_v8 / cudnnRNNBackwardWeights_v8 (CUDNN_WGRAD_MODE_ADD into a
 *   zeroed weight-gradient space), one unidirectional layer, CUDNN_RNN_DOUBLE_BIAS, batch-major
 *   unpacked data with per-sequence lengths and zero padding fill. cuDNN's gate order is PyTorch's
 *   (LSTM linLayerID 0..3 / 4..7 = i,f,g,o of W / R; GRU 0..2 / 3..5 = r,z,n with the reset gate
 *   applied to R h + b_Rn, as PyTorch), and each gate's matrix is a row-major [H, I] or [H, H] block,
 *   so the lt weights are copied gate by gate to the addresses cudnnGetRNNWeightParams gives (the
 *   shapes are checked) and the gradients are added back the same way. The RNN descriptor, weight
 *   space and offsets are cached by (cell, I, H, math); the workspace is the private buffer;
 *   the reserve is ws. lt_math: FP32 -> CUDNN_FMA_MATH, TF32 -> CUDNN_DEFAULT_MATH,
 *   BF16 -> CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION (cuDNN may down-convert to half precision).
 *   A batch with a zero-length sequence (or T = 0, or sizes past int32) runs the hand-written path
 *   in both directions (the choice depends only on the arguments, so forward and backward agree);
 *   the reserve is sized for either path while cuDNN is chosen. bf16 activations are refused with
 *   LT_ENOTSUP while cuDNN is chosen: cuDNN's RNN API takes one data type for data and weights, and
 *   half, float or double only (no bf16); the hand-written kernels serve bf16.
 */
#include <cooperative_groups.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

#ifdef LONGTAIL_HAVE_CUDNN
#include <cudnn.h>
#endif

namespace cg = cooperative_groups;

#define RNN_ALIGN ((size_t)256)
#define RNN_THREADS 256
#define PERSIST_MAX_H 256
#define PERSIST_MAX_CLUSTER 8 /* the portable cluster size */

static size_t align_up(size_t n) { return (n + RNN_ALIGN - 1) / RNN_ALIGN * RNN_ALIGN; }
static int cell_gates(lt_cell cell) { return cell == LT_CELL_LSTM ? 4 : 3; }

/* ---- state ------------------------------------------------------------------------------------- */

typedef struct persist_cfg {
    int64_t key[5]; /* cell, weight bytes, H, B, activation dtype; key[0] < 0: empty */
    int ok, nc, hs, bc, rb;
    size_t smem;
} persist_cfg;

#ifdef LONGTAIL_HAVE_CUDNN
#define DNN_PLANS 4
typedef struct dnn_plan {
    int used;
    int64_t key[4]; /* cell, I, H, math type */
    cudnnRNNDescriptor_t rnn;
    size_t wbytes;
    float *w, *dw;        /* cuDNN's weight space and its gradient */
    size_t off_m[8], off_b[8]; /* floats from the start of the space: each linLayerID's matrix and bias */
} dnn_plan;
#endif

struct lt_rnn_state {
    lt_rnn_impl impl;
    int persist; /* 0: LONGTAIL_RNN_PERSIST=0, never the persistent kernel */
    int smem_optin;
    void *buf;   /* private grow-only device buffer */
    size_t buf_bytes;
    persist_cfg pc, pcb; /* the last persistent-kernel decisions: forward, backward */
#ifdef LONGTAIL_HAVE_CUDNN
    cudnnHandle_t dnn;
    cudnnDropoutDescriptor_t drop;
    cudnnRNNDataDescriptor_t xd, yd;
    cudnnTensorDescriptor_t hd, md, bd;
    dnn_plan plans[DNN_PLANS];
    int next;
#endif
};

static int state(lt_backend *be, struct lt_rnn_state **out) {
    lt_cuda *cu = lt__cu(be);
    if (!cu->rnn) {
        struct lt_rnn_state *st = (struct lt_rnn_state *)calloc(1, sizeof *st);
        if (!st) return lt_error(LT_ENOMEM, "cuda: out of host memory");
        st->impl = LT_RNN_NATIVE;
        const char *e = getenv("LONGTAIL_RNN_PERSIST");
        st->persist = !(e && e[0] == '0');
        st->pc.key[0] = -1;
        st->pcb.key[0] = -1;
        cudaError_t err = cudaDeviceGetAttribute(&st->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cu->device);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            free(st);
            return lt_error(LT_ECUDA, "%s:%d: cudaDeviceGetAttribute: %s", __FILE__, __LINE__, cudaGetErrorString(err));
        }
        cu->rnn = st;
    }
    *out = cu->rnn;
    return 0;
}

/* The private buffer, at least nbytes; the old one is freed in stream order. */
static int rnn_buf(lt_backend *be, size_t nbytes, void **ptr) {
    lt_cuda *cu = lt__cu(be);
    struct lt_rnn_state *st = cu->rnn;
    if (nbytes > st->buf_bytes) {
        if (st->buf) LT_CUDA_CHECK(cudaFreeAsync(st->buf, cu->stream));
        st->buf = NULL, st->buf_bytes = 0;
        size_t n = nbytes + nbytes / 4;
        cudaError_t e = cudaMallocAsync(&st->buf, n, cu->stream);
        if (e == cudaErrorMemoryAllocation) {
            (void)cudaGetLastError();
            st->buf = NULL;
            return lt_error(LT_ENOMEM, "cuda rnn: cannot allocate %zu bytes of temporaries", n);
        }
        LT_CUDA_CHECK(e);
        st->buf_bytes = n;
    }
    *ptr = st->buf;
    return 0;
}

/* Carves consecutive 256-byte aligned pieces out of one allocation: first pass with base NULL
 * counts the bytes, the second hands out pointers. */
typedef struct carve {
    char *base;
    size_t off;
} carve;
static void *take(carve *c, size_t bytes) {
    void *p = c->base ? c->base + c->off : NULL;
    c->off += align_up(bytes);
    return p;
}

static int32_t max_len(const int32_t *lens, int64_t B, int64_t T) {
    int32_t m = 0;
    for (int64_t b = 0; b < B; b++) m = lens[b] > m ? lens[b] : m;
    return m > T ? (int32_t)T : m;
}

/* ---- the cell, shared by the per-step and the persistent kernels --------------------------------- */

__device__ __forceinline__ float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One step of one (batch row, unit j): xv[g] = (x W_ih^T + b_ih)[g*H + j], hv[g] = (h_{t-1} W_hh^T + b_hh)[g*H + j];
 * c: the LSTM cell (in/out). act[g]: the activated gates the backward needs; auxv: c_t (LSTM) or
 * hv[n] = h W_hn^T + b_hn (GRU). Returns h_t. */
template <int CELL>
__device__ __forceinline__ float cell_math(const float *xv, const float *hv, float hprev, float &c, float *act,
                                           float &auxv) {
    if constexpr (CELL == LT_CELL_LSTM) {
        float i = sigm(xv[0] + hv[0]), f = sigm(xv[1] + hv[1]), g = tanhf(xv[2] + hv[2]), o = sigm(xv[3] + hv[3]);
        c = f * c + i * g;
        act[0] = i, act[1] = f, act[2] = g, act[3] = o;
        auxv = c;
        return o * tanhf(c);
    } else {
        float r = sigm(xv[0] + hv[0]), z = sigm(xv[1] + hv[1]);
        float n = tanhf(xv[2] + r * hv[2]);
        act[0] = r, act[1] = z, act[2] = n;
        auxv = hv[2];
        return (1.0f - z) * n + z * hprev;
    }
}

/* ---- per-step kernels --------------------------------------------------------------------------- */

/* Step t for every (b, j) of [B, H]: gates, aux, hr: the reserve (gates holds x W_ih^T on entry);
 * hg[B, G*H] = h_{t-1} W_hh^T; hs, cs[B, H]: the state, updated in place (each thread owns its element). */
template <int CELL, typename AT>
__global__ void cell_fwd_kernel(float *gates, float *aux, float *hr, AT *y, float *hs, float *cs, const float *hg,
                                const float *b_ih, const float *b_hh, const int32_t *lens, int64_t B, int64_t T,
                                int64_t H, int64_t t) {
    constexpr int G = CELL == LT_CELL_LSTM ? 4 : 3;
    int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * H) return;
    int64_t b = idx / H, j = idx % H, row = b * T + t;
    if (t >= lens[b]) {
        lt__stf(&y[row * H + j], 0.0f);
        hr[row * H + j] = 0.0f;
        return;
    }
    float *grow = gates + row * G * H;
    float xv[G], hv[G], act[G], auxv;
#pragma unroll
    for (int g = 0; g < G; g++) {
        xv[g] = grow[g * H + j] + (b_ih ? b_ih[g * H + j] : 0.0f);
        hv[g] = hg[b * G * H + g * H + j] + (b_hh ? b_hh[g * H + j] : 0.0f);
    }
    float c = CELL == LT_CELL_LSTM ? cs[idx] : 0.0f;
    float h = cell_math<CELL>(xv, hv, hs[idx], c, act, auxv);
#pragma unroll
    for (int g = 0; g < G; g++) grow[g * H + j] = act[g];
    aux[row * H + j] = auxv;
    hr[row * H + j] = h;
    lt__stf(&y[row * H + j], h);
    hs[idx] = h;
    if (CELL == LT_CELL_LSTM) cs[idx] = c;
}

/* Backward of step t for every (b, j). dh, dc[B, H]: the gradient reaching h_t and c_t from later
 * steps (and dhT, dcT); on return dc holds dc_{t-1}, and dh the part of dh_{t-1} that does not go
 * through W_hh (0 for LSTM, z dh for GRU): the GEMM that follows adds dG_t W_hh. dgx[B, T, G*H]: the
 * gradient of the gate pre-activations on the input side (x W_ih^T + b_ih); dgh the recurrent side
 * (h W_hh^T + b_hh), the same buffer as dgx for LSTM; for GRU they differ in the n gate by r. */
template <int CELL, typename AT>
__global__ void cell_bwd_kernel(float *dgx, float *dgh, float *dh, float *dc, const AT *dy, const float *gates,
                                const float *aux, const float *hr, const float *h0, const float *c0,
                                const int32_t *lens, int64_t B, int64_t T, int64_t H, int64_t t) {
    constexpr int G = CELL == LT_CELL_LSTM ? 4 : 3;
    int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * H) return;
    int64_t b = idx / H, j = idx % H, row = b * T + t;
    float *gx = dgx + row * G * H, *gh = dgh + row * G * H;
    if (t >= lens[b]) { /* padded: no gradient into the weights, the state's gradients pass through */
#pragma unroll
        for (int g = 0; g < G; g++) gx[g * H + j] = 0.0f;
        if (CELL == LT_CELL_GRU)
#pragma unroll
            for (int g = 0; g < G; g++) gh[g * H + j] = 0.0f;
        return;
    }
    const float *gr = gates + row * G * H;
    float dht = dh[idx] + (dy ? lt__ldf(&dy[row * H + j]) : 0.0f); /* dy NULL: y feeds nothing */
    if constexpr (CELL == LT_CELL_LSTM) {
        float i = gr[j], f = gr[H + j], gg = gr[2 * H + j], o = gr[3 * H + j];
        float cc = aux[row * H + j];
        float cp = t > 0 ? aux[(row - 1) * H + j] : (c0 ? c0[idx] : 0.0f);
        float tc = tanhf(cc);
        float dct = dc[idx] + dht * o * (1.0f - tc * tc);
        gx[j] = dct * gg * i * (1.0f - i);
        gx[H + j] = dct * cp * f * (1.0f - f);
        gx[2 * H + j] = dct * i * (1.0f - gg * gg);
        gx[3 * H + j] = dht * tc * o * (1.0f - o);
        dc[idx] = dct * f;
        dh[idx] = 0.0f;
    } else {
        float r = gr[j], z = gr[H + j], n = gr[2 * H + j];
        float hn = aux[row * H + j];
        float hp = t > 0 ? hr[(row - 1) * H + j] : (h0 ? h0[idx] : 0.0f);
        float dn = dht * (1.0f - z) * (1.0f - n * n);
        float dz = dht * (hp - n) * z * (1.0f - z);
        float dr = dn * hn * r * (1.0f - r);
        gx[j] = dr, gx[H + j] = dz, gx[2 * H + j] = dn;
        gh[j] = dr, gh[H + j] = dz, gh[2 * H + j] = dn * r;
        dh[idx] = dht * z;
    }
}

/* hp[b, t, :] = h_{t-1}: hr[b, t-1, :] (the reserve's fp32 h), or h0[b] (fp32; zeros when NULL) at t = 0. */
__global__ void hprev_kernel(float *hp, const float *hr, const float *h0, int64_t B, int64_t T, int64_t H) {
    int64_t n = B * T * H, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride) {
        int64_t j = idx % H, bt = idx / H, t = bt % T, b = bt / T;
        hp[idx] = t > 0 ? hr[idx - H] : (h0 ? h0[b * H + j] : 0.0f);
    }
}

/* y[i] (AT) += x[i] (fp32): read, added in fp32, rounded once */
template <typename AT>
__global__ void acc_kernel(AT *y, const float *x, int64_t n) {
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        lt__stf(&y[i], lt__ldf(&y[i]) + x[i]);
}

/* ---- the persistent kernel (H <= 256) ------------------------------------------------------------ */

/* Grid: nc * ceil(B / bc) blocks in clusters of nc (cluster q = blocks [q*nc, (q+1)*nc)), hs*bc/RB
 * threads each (bc a multiple of RB, at most PERSIST_MAX_THREADS(RB) threads). Block `rank` of cluster q
 * owns units [rank*hs, rank*hs + nj) of batch rows [q*bc, q*bc + nb); thread (jl, bq) = (tid % hs, tid / hs) computes unit jl for the RB rows
 * bq*RB .. bq*RB + RB-1 of the block, so each weight read from shared memory serves RB rows.
 * Dynamic shared memory: W[G][H][hs] (WT) rounded up to 16 bytes, then hbuf[2][bc][H] (f32).
 * gates/aux/hr: the reserve (gates holds x W_ih^T on entry); hs_/cs: the state (in: h0, c0; out: hT, cT);
 * y: AT (the activations' storage type). */
/* RB = 4 keeps 16 accumulators and 16 prefetched projections per thread: fewer threads, more registers */
#define PERSIST_MAX_THREADS(RB) ((RB) == 1 ? 1024 : 256)

template <int CELL, typename WT, int RB, typename AT>
__global__ void __launch_bounds__(PERSIST_MAX_THREADS(RB), 1)
rnn_persist_kernel(float *gates, float *aux, float *hr, AT *y, float *hs_, float *cs, const float *w_hh,
                   const float *b_ih, const float *b_hh, const int32_t *lens, int B, int T, int H, int Tmax, int hs,
                   int bc) {
    constexpr int G = CELL == LT_CELL_LSTM ? 4 : 3;
    cg::cluster_group cluster = cg::this_cluster();
    extern __shared__ __align__(16) unsigned char smem[];
    const int nc = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
    const int q = (int)(blockIdx.x / (unsigned)nc);
    WT *W = (WT *)smem;
    size_t wbytes = ((size_t)G * H * hs * sizeof(WT) + 15) / 16 * 16;
    float *hbuf = (float *)(smem + wbytes);
    const int j0 = rank * hs, nj = min(hs, H - j0);
    const int b0 = q * bc, nb = min(bc, B - b0);
    const int64_t GH = (int64_t)G * H;

    /* this block's slice of W_hh, transposed: W[(g*H + k)*hs + jl] = w_hh[(g*H + j0 + jl)*H + k] */
    for (int e = threadIdx.x; e < G * H * hs; e += blockDim.x) {
        int jl = e % hs, k = e / hs % H, g = e / (hs * H);
        float v = jl < nj ? w_hh[((int64_t)g * H + j0 + jl) * H + k] : 0.0f;
        lt__stf(&W[e], v);
    }
    /* h_{-1} of the cluster's rows, in every block (rows past the batch: zeros, never used) */
    for (int e = threadIdx.x; e < bc * H; e += blockDim.x) {
        int bl = e / H, k = e % H;
        hbuf[e] = bl < nb ? hs_[(int64_t)(b0 + bl) * H + k] : 0.0f;
    }
    const int jl = threadIdx.x % hs, bq = threadIdx.x / hs;
    const int64_t j = j0 + jl;
    const bool unit_ok = jl < nj;
    float bi[G], bh[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
        bi[g] = unit_ok && b_ih ? b_ih[g * H + j] : 0.0f;
        bh[g] = unit_ok && b_hh ? b_hh[g * H + j] : 0.0f;
    }
    bool ok[RB];
    float h[RB], c[RB];
    int len[RB];
#pragma unroll
    for (int r = 0; r < RB; r++) {
        int bl = bq * RB + r;
        ok[r] = unit_ok && bl < nb;
        int64_t b = b0 + bl;
        h[r] = ok[r] ? hs_[b * H + j] : 0.0f;
        c[r] = ok[r] && CELL == LT_CELL_LSTM ? cs[b * H + j] : 0.0f;
        len[r] = ok[r] ? lens[b] : 0;
    }
    /* every block of the cluster has started and filled its shared memory before anyone writes to it */
    cluster.sync();

    for (int t = 0; t < Tmax; t++) {
        const float *hcur = hbuf + (size_t)(t & 1) * bc * H;
        float *hnext = hbuf + (size_t)((t + 1) & 1) * bc * H;
        /* this step's input projections first, so their latency hides behind the dot products */
        float xv[RB][G];
#pragma unroll
        for (int r = 0; r < RB; r++) {
            int64_t row = (int64_t)(b0 + bq * RB + r) * T + t;
#pragma unroll
            for (int g = 0; g < G; g++) xv[r][g] = ok[r] && t < len[r] ? gates[row * GH + g * H + j] + bi[g] : 0.0f;
        }
        float acc[RB][G];
#pragma unroll
        for (int r = 0; r < RB; r++)
#pragma unroll
            for (int g = 0; g < G; g++) acc[r][g] = 0.0f;
        const float *hrow = hcur + (size_t)bq * RB * H;
#pragma unroll 4
        for (int k = 0; k < H; k++) {
            float w[G];
#pragma unroll
            for (int g = 0; g < G; g++) w[g] = lt__ldf(&W[((size_t)g * H + k) * hs + jl]);
#pragma unroll
            for (int r = 0; r < RB; r++) {
                float hk = hrow[(size_t)r * H + k];
#pragma unroll
                for (int g = 0; g < G; g++) acc[r][g] += w[g] * hk;
            }
        }
#pragma unroll
        for (int r = 0; r < RB; r++) {
            if (!ok[r]) continue;
            int64_t row = (int64_t)(b0 + bq * RB + r) * T + t;
            if (t < len[r]) {
                float hv[G], act[G], auxv;
#pragma unroll
                for (int g = 0; g < G; g++) hv[g] = acc[r][g] + bh[g];
                h[r] = cell_math<CELL>(xv[r], hv, h[r], c[r], act, auxv);
#pragma unroll
                for (int g = 0; g < G; g++) gates[row * GH + g * H + j] = act[g];
                aux[row * H + j] = auxv;
                hr[row * H + j] = h[r];
                lt__stf(&y[row * H + j], h[r]);
            } else {
                hr[row * H + j] = 0.0f;
                lt__stf(&y[row * H + j], 0.0f);
            }
            /* h_t to every block of the cluster (its own included); padded rows pass h on unchanged */
            float *dst = hnext + (size_t)(bq * RB + r) * H + j;
            for (int p = 0; p < nc; p++) *cluster.map_shared_rank(dst, p) = h[r];
        }
        cluster.sync();
    }
#pragma unroll
    for (int r = 0; r < RB; r++)
        if (ok[r]) {
            int64_t b = b0 + bq * RB + r;
            hs_[b * H + j] = h[r];
            if (CELL == LT_CELL_LSTM) cs[b * H + j] = c[r];
        }
}

static cudaLaunchConfig_t persist_launch_cfg(lt_cuda *cu, cudaLaunchAttribute *attr, int nc, int hs, int bc, int rb,
                                             int64_t clusters, size_t smem) {
    cudaLaunchConfig_t cfg = {};
    attr[0] = cudaLaunchAttribute{};
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = (unsigned)nc, attr[0].val.clusterDim.y = 1, attr[0].val.clusterDim.z = 1;
    cfg.gridDim = dim3((unsigned)(clusters * nc));
    cfg.blockDim = dim3((unsigned)(hs * bc / rb));
    cfg.dynamicSmemBytes = smem;
    cfg.stream = cu->stream;
    cfg.attrs = attr, cfg.numAttrs = 1;
    return cfg;
}

/* Tries every (rows per thread RB, rows per cluster bc) for this shape and keeps, among those whose
 * clusters are all resident at once (persistent: a second wave would walk all T steps again), the one
 * with the smallest estimated step time: each warp issues about (G + RB + RB*G) * H instructions
 * per step (weight loads, h loads, FMAs), 4 schedulers share a block's warps, and a block's shared
 * memory serves one 128-byte wavefront per clock, (G + RB) * H of them per warp. */
template <int CELL, typename WT, int RB, typename AT>
static void persist_try(lt_cuda *cu, struct lt_rnn_state *st, int64_t B, int64_t H, persist_cfg *best,
                        double *best_cost) {
    constexpr int G = CELL == LT_CELL_LSTM ? 4 : 3;
    auto kern = rnn_persist_kernel<CELL, WT, RB, AT>;
    int nc = (int)((H + 31) / 32);
    if (nc > PERSIST_MAX_CLUSTER) nc = PERSIST_MAX_CLUSTER;
    int hs = (int)((H + nc - 1) / nc);
    nc = (int)((H + hs - 1) / hs); /* every block owns at least one unit */
    int64_t bmax = (B + RB - 1) / RB * RB;
    for (int bc = RB; (int64_t)hs * bc / RB <= PERSIST_MAX_THREADS(RB); bc *= 2) {
        int use_bc = bc > bmax ? (int)bmax : bc;
        size_t smem = ((size_t)G * H * hs * sizeof(WT) + 15) / 16 * 16 + 2 * (size_t)use_bc * H * sizeof(float);
        if (smem > (size_t)st->smem_optin) break;
        int64_t clusters = (B + use_bc - 1) / use_bc;
        if (clusters * nc <= INT32_MAX) {
            if (cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess) {
                (void)cudaGetLastError();
                return;
            }
            cudaLaunchAttribute attr[1];
            cudaLaunchConfig_t cfg = persist_launch_cfg(cu, attr, nc, hs, use_bc, RB, clusters, smem);
            int active = 0;
            if (cudaOccupancyMaxActiveClusters(&active, kern, &cfg) != cudaSuccess) {
                (void)cudaGetLastError();
                return;
            }
            if (active >= clusters) {
                int warps = (hs * use_bc / RB + 31) / 32;
                double issue = (double)(G + RB + RB * G) * (double)H * (warps > 4 ? warps / 4.0 : 1.0);
                double lds = (double)warps * (G + RB) * (double)H;
                double cost = issue > lds ? issue : lds;
                if (!best->ok || cost < *best_cost) {
                    best->ok = 1, best->nc = nc, best->hs = hs, best->bc = use_bc, best->rb = RB, best->smem = smem;
                    *best_cost = cost;
                }
            }
        }
        if (use_bc == bmax) break;
    }
}

template <int CELL, typename AT>
static void persist_try_all(lt_cuda *cu, struct lt_rnn_state *st, int wsize, int64_t B, int64_t H, persist_cfg *pc) {
    double cost = 0;
    if (wsize == 2) {
        persist_try<CELL, lt_bf16, 1, AT>(cu, st, B, H, pc, &cost);
        persist_try<CELL, lt_bf16, 4, AT>(cu, st, B, H, pc, &cost);
    } else {
        persist_try<CELL, float, 1, AT>(cu, st, B, H, pc, &cost);
        persist_try<CELL, float, 4, AT>(cu, st, B, H, pc, &cost);
    }
}

/* Whether the persistent kernel runs this shape, and how (cached for the last shape and dtype). */
static const persist_cfg *persist_choose(lt_backend *be, struct lt_rnn_state *st, lt_cell cell, lt_dtype dt,
                                         int64_t B, int64_t H) {
    if (!st->persist || H > PERSIST_MAX_H || H < 1 || B < 1 || B > INT32_MAX / 2) return NULL;
    int wsize = be->math == LT_MATH_BF16 ? 2 : 4;
    int64_t key[5] = {(int64_t)cell, wsize, H, B, (int64_t)dt};
    persist_cfg *pc = &st->pc;
    if (memcmp(pc->key, key, sizeof key) != 0) {
        memset(pc, 0, sizeof *pc);
        memcpy(pc->key, key, sizeof key);
        lt_cuda *cu = lt__cu(be);
        int lstm = cell == LT_CELL_LSTM, bf = dt == LT_BF16;
        if (lstm && bf) persist_try_all<LT_CELL_LSTM, lt_bf16>(cu, st, wsize, B, H, pc);
        else if (lstm) persist_try_all<LT_CELL_LSTM, float>(cu, st, wsize, B, H, pc);
        else if (bf) persist_try_all<LT_CELL_GRU, lt_bf16>(cu, st, wsize, B, H, pc);
        else persist_try_all<LT_CELL_GRU, float>(cu, st, wsize, B, H, pc);
    }
    return pc->ok ? pc : NULL;
}

template <int CELL, typename WT, int RB, typename AT>
static cudaError_t persist_launch_t(lt_cuda *cu, const persist_cfg *pc, float *gates, float *aux, float *hr, void *y,
                                   float *hs, float *cs, const float *w_hh, const float *b_ih, const float *b_hh,
                                   const int32_t *lens, int64_t B, int64_t T, int64_t H, int32_t Tmax) {
    cudaLaunchAttribute attr[1];
    cudaLaunchConfig_t cfg =
        persist_launch_cfg(cu, attr, pc->nc, pc->hs, pc->bc, RB, (B + pc->bc - 1) / pc->bc, pc->smem);
    /* the limit persist_try set may since have been set for another shape */
    cudaError_t e = cudaFuncSetAttribute(rnn_persist_kernel<CELL, WT, RB, AT>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)pc->smem);
    if (e != cudaSuccess) return e;
    return cudaLaunchKernelEx(&cfg, rnn_persist_kernel<CELL, WT, RB, AT>, gates, aux, hr, (AT *)y, hs, cs, w_hh, b_ih,
                              b_hh, lens, (int)B, (int)T, (int)H, (int)Tmax, pc->hs, pc->bc);
}

template <int CELL, typename AT>
static cudaError_t persist_launch_c(lt_cuda *cu, const persist_cfg *pc, float *gates, float *aux, float *hr, void *y,
                                    float *hs, float *cs, const float *w_hh, const float *b_ih, const float *b_hh,
                                    const int32_t *lens, int64_t B, int64_t T, int64_t H, int32_t Tmax) {
    int bf = pc->key[1] == 2;
#define PERSIST_ARGS cu, pc, gates, aux, hr, y, hs, cs, w_hh, b_ih, b_hh, lens, B, T, H, Tmax
    if (bf) return pc->rb == 4 ? persist_launch_t<CELL, lt_bf16, 4, AT>(PERSIST_ARGS)
                               : persist_launch_t<CELL, lt_bf16, 1, AT>(PERSIST_ARGS);
    return pc->rb == 4 ? persist_launch_t<CELL, float, 4, AT>(PERSIST_ARGS)
                       : persist_launch_t<CELL, float, 1, AT>(PERSIST_ARGS);
#undef PERSIST_ARGS
}

/* The launch for pc's cell, weight type, RB and activation dtype; a launch error comes back as is
 * (the caller falls back). */
static cudaError_t persist_launch(lt_backend *be, lt_cell cell, const persist_cfg *pc, float *gates, float *aux,
                                  float *hr, void *y, float *hs, float *cs, const float *w_hh, const float *b_ih,
                                  const float *b_hh, const int32_t *lens, int64_t B, int64_t T, int64_t H,
                                  int32_t Tmax) {
    lt_cuda *cu = lt__cu(be);
    int lstm = cell == LT_CELL_LSTM, abf = pc->key[4] == LT_BF16;
#define PERSIST_ARGS cu, pc, gates, aux, hr, y, hs, cs, w_hh, b_ih, b_hh, lens, B, T, H, Tmax
    if (lstm && abf) return persist_launch_c<LT_CELL_LSTM, lt_bf16>(PERSIST_ARGS);
    if (lstm) return persist_launch_c<LT_CELL_LSTM, float>(PERSIST_ARGS);
    if (abf) return persist_launch_c<LT_CELL_GRU, lt_bf16>(PERSIST_ARGS);
    return persist_launch_c<LT_CELL_GRU, float>(PERSIST_ARGS);
#undef PERSIST_ARGS
}

/* ---- the persistent backward kernel (H <= 256) ----------------------------------------------------- */

/* Backward through time in one launch, the mirror of the forward: clusters of nc blocks, block `rank`
 * owns units [rank*hs, rank*hs + nj) of the cluster's bc batch rows (one thread per row and unit).
 * Shared memory: W[G][hs][H] (WT, its units' rows of W_hh as they are, rounded up to 16 bytes), then
 * dgs[bc][G][hs] (this step's recurrent-side gate gradients of its units), then part[2][bc][H] (f32).
 * A step, from t = Tmax-1 down:
 *   A. each thread: the pointwise backward of its (row, unit) as cell_bwd_kernel, dG to dgx/dgh in
 *      device memory (for the weight GEMMs after the launch) and to dgs;
 *   B. the block: its units' share of dh_{t-1} for all rows and all k, part[r][k] = sum over its
 *      (g, unit) of dgs[r][g][unit] * W[g][unit][k] (a warp reads consecutive k: no bank conflicts);
 *   cluster.sync();
 *   C. each thread: dh_{t-1}[row][unit] = direct term + the nc blocks' part[row][unit] (distributed
 *      shared memory, in block order, so runs repeat bit for bit).
 * part is double-buffered: a block writes part[s & 1] only after every block has passed the barrier
 * that follows its reads of the step before. dh_, dc_[B, H]: in dhT, dcT; out dh0, dc0 (the host adds).
 * dy: AT (the activations' storage type); hr, h0, c0: fp32 (the reserve's h, the widened initial state). */
template <int CELL, typename WT, typename AT>
__global__ void __launch_bounds__(1024, 1)
rnn_persist_bwd_kernel(float *dgx, float *dgh, float *dh_, float *dc_, const AT *dy, const float *gates,
                       const float *aux, const float *hr, const float *h0, const float *c0, const float *w_hh,
                       const int32_t *lens, int B, int T, int H, int Tmax, int hs, int bc) {
    constexpr int G = CELL == LT_CELL_LSTM ? 4 : 3;
    cg::cluster_group cluster = cg::this_cluster();
    extern __shared__ __align__(16) unsigned char smem[];
    const int nc = (int)cluster.num_blocks(), rank = (int)cluster.block_rank();
    const int q = (int)(blockIdx.x / (unsigned)nc);
    WT *W = (WT *)smem;
    size_t wbytes = ((size_t)G * hs * H * sizeof(WT) + 15) / 16 * 16;
    float *dgs = (float *)(smem + wbytes);
    float *part = dgs + (size_t)bc * G * hs;
    const int j0 = rank * hs, nj = min(hs, H - j0);
    const int b0 = q * bc, nb = min(bc, B - b0);
    const int64_t GH = (int64_t)G * H;

    /* W[(g*hs + jl)*H + k] = w_hh[(g*H + j0 + jl)*H + k]: whole rows, coalesced */
    for (int e = threadIdx.x; e < G * hs * H; e += blockDim.x) {
        int k = e % H, r = e / H, jl = r % hs, g = r / hs;
        float v = jl < nj ? w_hh[((int64_t)g * H + j0 + jl) * H + k] : 0.0f;
        lt__stf(&W[e], v);
    }
    const int jl = threadIdx.x % hs, bl = threadIdx.x / hs;
    const bool act = jl < nj && bl < nb;
    const int64_t b = b0 + bl, j = j0 + jl;
    float dh = 0.0f, dc = 0.0f;
    int len = 0;
    if (act) {
        dh = dh_[b * H + j];
        if (CELL == LT_CELL_LSTM) dc = dc_[b * H + j];
        len = lens[b];
    }
    cluster.sync(); /* W filled; every block of the cluster running before any remote read */

    for (int s = 0; s < Tmax; s++) {
        const int t = Tmax - 1 - s;
        float *pbuf = part + (size_t)(s & 1) * bc * H;
        /* A: pointwise */
        float gsv[G];
#pragma unroll
        for (int g = 0; g < G; g++) gsv[g] = 0.0f;
        float direct = 0.0f;
        if (act) {
            int64_t row = b * T + t;
            float *gx = dgx + row * GH, *gh = dgh + row * GH;
            if (t < len) {
                const float *gr = gates + row * GH;
                float dht = dh + (dy ? lt__ldf(&dy[row * H + j]) : 0.0f);
                if constexpr (CELL == LT_CELL_LSTM) {
                    float i = gr[j], f = gr[H + j], gg = gr[2 * H + j], o = gr[3 * H + j];
                    float cc = aux[row * H + j];
                    float cp = t > 0 ? aux[(row - 1) * H + j] : (c0 ? c0[b * H + j] : 0.0f);
                    float tc = tanhf(cc);
                    float dct = dc + dht * o * (1.0f - tc * tc);
                    gsv[0] = dct * gg * i * (1.0f - i);
                    gsv[1] = dct * cp * f * (1.0f - f);
                    gsv[2] = dct * i * (1.0f - gg * gg);
                    gsv[3] = dht * tc * o * (1.0f - o);
#pragma unroll
                    for (int g = 0; g < 4; g++) gx[g * H + j] = gsv[g];
                    dc = dct * f;
                } else {
                    float r = gr[j], z = gr[H + j], n = gr[2 * H + j];
                    float hn = aux[row * H + j];
                    float hp = t > 0 ? hr[(row - 1) * H + j] : (h0 ? h0[b * H + j] : 0.0f);
                    float dn = dht * (1.0f - z) * (1.0f - n * n);
                    float dz = dht * (hp - n) * z * (1.0f - z);
                    float dr = dn * hn * r * (1.0f - r);
                    gx[j] = dr, gx[H + j] = dz, gx[2 * H + j] = dn;
                    gsv[0] = dr, gsv[1] = dz, gsv[2] = dn * r;
#pragma unroll
                    for (int g = 0; g < 3; g++) gh[g * H + j] = gsv[g];
                    direct = dht * z;
                }
            } else { /* padded: no weight gradient, dh and dc pass through */
#pragma unroll
                for (int g = 0; g < G; g++) gx[g * H + j] = 0.0f;
                if (CELL == LT_CELL_GRU)
#pragma unroll
                    for (int g = 0; g < G; g++) gh[g * H + j] = 0.0f;
                direct = dh;
            }
        }
        /* every slot, idle threads' included (zeros), so B never multiplies stale values */
#pragma unroll
        for (int g = 0; g < G; g++) dgs[((size_t)bl * G + g) * hs + jl] = gsv[g];
        __syncthreads();
        /* B: this block's units' share of dh_{t-1} */
        for (int e = threadIdx.x; e < bc * H; e += blockDim.x) {
            int r = e / H, k = e % H;
            const float *dg = dgs + (size_t)r * G * hs;
            float sum = 0.0f;
#pragma unroll
            for (int g = 0; g < G; g++)
#pragma unroll 4
                for (int u = 0; u < hs; u++) sum += dg[g * hs + u] * lt__ldf(&W[((size_t)g * hs + u) * H + k]);
            pbuf[e] = sum;
        }
        cluster.sync();
        /* C: gather the shares of this thread's unit */
        if (act) {
            float sum = direct;
            for (int p = 0; p < nc; p++) sum += *cluster.map_shared_rank(pbuf + (size_t)bl * H + j, p);
            dh = sum;
        }
    }
    /* the last step's C read the other blocks' part: none may exit (its shared memory gone) before all have */
    cluster.sync();
    if (act) {
        dh_[b * H + j] = dh;
        if (CELL == LT_CELL_LSTM) dc_[b * H + j] = dc;
    }
}

/* The smallest rows per cluster (the most SMs working on each step) whose clusters are all resident. */
template <int CELL, typename WT, typename AT>
static void persist_bwd_try(lt_cuda *cu, struct lt_rnn_state *st, int64_t B, int64_t H, persist_cfg *pc) {
    constexpr int G = CELL == LT_CELL_LSTM ? 4 : 3;
    auto kern = rnn_persist_bwd_kernel<CELL, WT, AT>;
    int nc = (int)((H + 31) / 32);
    if (nc > PERSIST_MAX_CLUSTER) nc = PERSIST_MAX_CLUSTER;
    int hs = (int)((H + nc - 1) / nc);
    nc = (int)((H + hs - 1) / hs);
    for (int bc = 1; hs * bc <= 1024; bc *= 2) {
        int use_bc = bc > B ? (int)B : bc;
        size_t smem = ((size_t)G * hs * H * sizeof(WT) + 15) / 16 * 16 + (size_t)use_bc * G * hs * sizeof(float) +
                      2 * (size_t)use_bc * H * sizeof(float);
        if (smem > (size_t)st->smem_optin) break;
        int64_t clusters = (B + use_bc - 1) / use_bc;
        if (clusters * nc <= INT32_MAX) {
            if (cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess) {
                (void)cudaGetLastError();
                return;
            }
            cudaLaunchAttribute attr[1];
            cudaLaunchConfig_t cfg = persist_launch_cfg(cu, attr, nc, hs, use_bc, 1, clusters, smem);
            int active = 0;
            if (cudaOccupancyMaxActiveClusters(&active, kern, &cfg) != cudaSuccess) {
                (void)cudaGetLastError();
                return;
            }
            if (active >= clusters) {
                pc->ok = 1, pc->nc = nc, pc->hs = hs, pc->bc = use_bc, pc->rb = 1, pc->smem = smem;
                return;
            }
        }
        if (use_bc == B) break;
    }
}

static const persist_cfg *persist_bwd_choose(lt_backend *be, struct lt_rnn_state *st, lt_cell cell, lt_dtype dt,
                                             int64_t B, int64_t H) {
    if (!st->persist || H > PERSIST_MAX_H || H < 1 || B < 1 || B > INT32_MAX / 2) return NULL;
    int wsize = be->math == LT_MATH_BF16 ? 2 : 4;
    int64_t key[5] = {(int64_t)cell, wsize, H, B, (int64_t)dt};
    persist_cfg *pc = &st->pcb;
    if (memcmp(pc->key, key, sizeof key) != 0) {
        memset(pc, 0, sizeof *pc);
        memcpy(pc->key, key, sizeof key);
        lt_cuda *cu = lt__cu(be);
        int lstm = cell == LT_CELL_LSTM, wbf = wsize == 2, abf = dt == LT_BF16;
        if (lstm && wbf) abf ? persist_bwd_try<LT_CELL_LSTM, lt_bf16, lt_bf16>(cu, st, B, H, pc)
                             : persist_bwd_try<LT_CELL_LSTM, lt_bf16, float>(cu, st, B, H, pc);
        else if (lstm) abf ? persist_bwd_try<LT_CELL_LSTM, float, lt_bf16>(cu, st, B, H, pc)
                           : persist_bwd_try<LT_CELL_LSTM, float, float>(cu, st, B, H, pc);
        else if (wbf) abf ? persist_bwd_try<LT_CELL_GRU, lt_bf16, lt_bf16>(cu, st, B, H, pc)
                          : persist_bwd_try<LT_CELL_GRU, lt_bf16, float>(cu, st, B, H, pc);
        else abf ? persist_bwd_try<LT_CELL_GRU, float, lt_bf16>(cu, st, B, H, pc)
                 : persist_bwd_try<LT_CELL_GRU, float, float>(cu, st, B, H, pc);
    }
    return pc->ok ? pc : NULL;
}

template <int CELL, typename WT, typename AT>
static cudaError_t persist_bwd_launch_t(lt_cuda *cu, const persist_cfg *pc, float *dgx, float *dgh, float *dh,
                                        float *dc, const void *dy, const float *gates, const float *aux,
                                        const float *hr, const float *h0, const float *c0, const float *w_hh,
                                        const int32_t *lens, int64_t B, int64_t T, int64_t H, int32_t Tmax) {
    cudaLaunchAttribute attr[1];
    cudaLaunchConfig_t cfg = persist_launch_cfg(cu, attr, pc->nc, pc->hs, pc->bc, 1, (B + pc->bc - 1) / pc->bc, pc->smem);
    cudaError_t e = cudaFuncSetAttribute(rnn_persist_bwd_kernel<CELL, WT, AT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)pc->smem);
    if (e != cudaSuccess) return e;
    return cudaLaunchKernelEx(&cfg, rnn_persist_bwd_kernel<CELL, WT, AT>, dgx, dgh, dh, dc, (const AT *)dy, gates, aux,
                              hr, h0, c0, w_hh, lens, (int)B, (int)T, (int)H, (int)Tmax, pc->hs, pc->bc);
}

static cudaError_t persist_bwd_launch(lt_backend *be, lt_cell cell, const persist_cfg *pc, float *dgx, float *dgh,
                                      float *dh, float *dc, const void *dy, const float *gates, const float *aux,
                                      const float *hr, const float *h0, const float *c0, const float *w_hh,
                                      const int32_t *lens, int64_t B, int64_t T, int64_t H, int32_t Tmax) {
    lt_cuda *cu = lt__cu(be);
    int wbf = pc->key[1] == 2, lstm = cell == LT_CELL_LSTM, abf = pc->key[4] == LT_BF16;
#define PERSIST_BWD_ARGS cu, pc, dgx, dgh, dh, dc, dy, gates, aux, hr, h0, c0, w_hh, lens, B, T, H, Tmax
    if (lstm && wbf) return abf ? persist_bwd_launch_t<LT_CELL_LSTM, lt_bf16, lt_bf16>(PERSIST_BWD_ARGS)
                                : persist_bwd_launch_t<LT_CELL_LSTM, lt_bf16, float>(PERSIST_BWD_ARGS);
    if (lstm) return abf ? persist_bwd_launch_t<LT_CELL_LSTM, float, lt_bf16>(PERSIST_BWD_ARGS)
                         : persist_bwd_launch_t<LT_CELL_LSTM, float, float>(PERSIST_BWD_ARGS);
    if (wbf) return abf ? persist_bwd_launch_t<LT_CELL_GRU, lt_bf16, lt_bf16>(PERSIST_BWD_ARGS)
                        : persist_bwd_launch_t<LT_CELL_GRU, lt_bf16, float>(PERSIST_BWD_ARGS);
    return abf ? persist_bwd_launch_t<LT_CELL_GRU, float, lt_bf16>(PERSIST_BWD_ARGS)
               : persist_bwd_launch_t<LT_CELL_GRU, float, float>(PERSIST_BWD_ARGS);
#undef PERSIST_BWD_ARGS
}

/* ---- the hand-written path: host side ------------------------------------------------------------ */

/* the reserve: gates[B*T, G*H], aux[B*T, H], hr[B*T, H], fp32, each 256-byte aligned */
static size_t native_reserve(int G, int64_t B, int64_t T, int64_t H) {
    return align_up((size_t)(B * T * G * H) * sizeof(float)) + 2 * align_up((size_t)(B * T * H) * sizeof(float));
}

typedef struct native_res {
    float *gates, *aux, *hr;
} native_res;

static native_res native_at(void *ws, int G, int64_t B, int64_t T, int64_t H) {
    native_res r;
    r.gates = (float *)ws;
    r.aux = (float *)((char *)ws + align_up((size_t)(B * T * G * H) * sizeof(float)));
    r.hr = (float *)((char *)r.aux + align_up((size_t)(B * T * H) * sizeof(float)));
    return r;
}

template <int CELL>
static void cell_fwd_launch(lt_cuda *cu, unsigned blocks, lt_dtype dt, float *gates, float *aux, float *hr, void *y,
                            float *hs, float *cs, const float *hg, const float *b_ih, const float *b_hh,
                            const int32_t *lens, int64_t B, int64_t T, int64_t H, int64_t t) {
    if (dt == LT_BF16)
        cell_fwd_kernel<CELL, lt_bf16><<<blocks, RNN_THREADS, 0, cu->stream>>>(gates, aux, hr, (lt_bf16 *)y, hs, cs, hg,
                                                                              b_ih, b_hh, lens, B, T, H, t);
    else
        cell_fwd_kernel<CELL, float><<<blocks, RNN_THREADS, 0, cu->stream>>>(gates, aux, hr, (float *)y, hs, cs, hg,
                                                                            b_ih, b_hh, lens, B, T, H, t);
}

static int launch_cell_fwd(lt_cuda *cu, lt_cell cell, lt_dtype dt, float *gates, float *aux, float *hr, void *y,
                           float *hs, float *cs, const float *hg, const float *b_ih, const float *b_hh,
                           const int32_t *lens, int64_t B, int64_t T, int64_t H, int64_t t) {
    unsigned blocks = lt__blocks(B * H, RNN_THREADS, INT32_MAX);
    if (cell == LT_CELL_LSTM)
        cell_fwd_launch<LT_CELL_LSTM>(cu, blocks, dt, gates, aux, hr, y, hs, cs, hg, b_ih, b_hh, lens, B, T, H, t);
    else
        cell_fwd_launch<LT_CELL_GRU>(cu, blocks, dt, gates, aux, hr, y, hs, cs, hg, b_ih, b_hh, lens, B, T, H, t);
    LT_LAUNCH_CHECK();
    return 0;
}

template <int CELL, typename AT>
static void cell_bwd_launch(lt_cuda *cu, unsigned blocks, float *dgx, float *dgh, float *dh, float *dc, const void *dy,
                            const float *gates, const float *aux, const float *hr, const float *h0, const float *c0,
                            const int32_t *lens, int64_t B, int64_t T, int64_t H, int64_t t) {
    cell_bwd_kernel<CELL, AT><<<blocks, RNN_THREADS, 0, cu->stream>>>(dgx, dgh, dh, dc, (const AT *)dy, gates, aux, hr,
                                                                      h0, c0, lens, B, T, H, t);
}

static int launch_cell_bwd(lt_cuda *cu, lt_cell cell, lt_dtype dt, float *dgx, float *dgh, float *dh, float *dc,
                           const void *dy, const float *gates, const float *aux, const float *hr, const float *h0,
                           const float *c0, const int32_t *lens, int64_t B, int64_t T, int64_t H, int64_t t) {
    unsigned blocks = lt__blocks(B * H, RNN_THREADS, INT32_MAX);
#define CELL_BWD_ARGS cu, blocks, dgx, dgh, dh, dc, dy, gates, aux, hr, h0, c0, lens, B, T, H, t
    if (cell == LT_CELL_LSTM && dt == LT_BF16) cell_bwd_launch<LT_CELL_LSTM, lt_bf16>(CELL_BWD_ARGS);
    else if (cell == LT_CELL_LSTM) cell_bwd_launch<LT_CELL_LSTM, float>(CELL_BWD_ARGS);
    else if (dt == LT_BF16) cell_bwd_launch<LT_CELL_GRU, lt_bf16>(CELL_BWD_ARGS);
    else cell_bwd_launch<LT_CELL_GRU, float>(CELL_BWD_ARGS);
#undef CELL_BWD_ARGS
    LT_LAUNCH_CHECK();
    return 0;
}

/* c = op(a) op(b) (+ c when acc), row-major, through the backend's GEMM: f32 operands follow lt_math,
 * bf16 operands run bf16 tensor cores; fp32 accumulation either way. */
static int gemm_t(lt_backend *be, int ta, int tb, int64_t m, int64_t n, int64_t k, const void *a, const void *b,
                  lt_dtype ab, int64_t lda, int64_t ldb, void *c, lt_dtype ct, int64_t ldc, int acc) {
    lt_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.trans_a = ta, d.trans_b = tb, d.m = m, d.n = n, d.k = k, d.alpha = 1.0f, d.beta = acc ? 1.0f : 0.0f;
    d.a = a, d.a_type = ab, d.lda = lda;
    d.b = b, d.b_type = ab, d.ldb = ldb;
    d.c = c, d.c_type = ct, d.ldc = ldc;
    d.batch = 1;
    return lt__cuda_gemm(be, &d);
}

/* the fp32 GEMMs of the state */
static int gemm(lt_backend *be, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                const float *b, int64_t ldb, float *c, int64_t ldc, int acc) {
    return gemm_t(be, ta, tb, m, n, k, a, b, LT_F32, lda, ldb, c, LT_F32, ldc, acc);
}

/* dst (fp32 state) = src (dt; widened), or zeros when src is NULL */
static int init_state(lt_backend *be, float *dst, const void *src, lt_dtype dt, int64_t n) {
    if (src) return lt__cuda_cast(be, dst, LT_F32, src, dt, n);
    LT_CUDA_CHECK(cudaMemsetAsync(dst, 0, (size_t)n * sizeof(float), lt__cu(be)->stream));
    return 0;
}

/* dst (dt) += src (fp32): rounded once (f32: the backend's axpy, as before bf16 existed) */
static int acc_state(lt_backend *be, void *dst, const float *src, lt_dtype dt, int64_t n) {
    if (dt == LT_F32) return lt__cuda_axpy(be, dst, 1.0f, src, LT_F32, n);
    lt_cuda *cu = lt__cu(be);
    acc_kernel<lt_bf16><<<lt__blocks(n, RNN_THREADS, (int64_t)cu->sm_count * 16), RNN_THREADS, 0, cu->stream>>>(
        (lt_bf16 *)dst, src, n);
    LT_LAUNCH_CHECK();
    return 0;
}

/* rows [B] of `row` elements of `es` bytes each, row stride `pitch` elements: zero the elements
 * [from, row) of every row */
static int zero_tail(lt_cuda *cu, void *p, size_t es, int64_t B, int64_t pitch, int64_t from, int64_t row) {
    if (from >= row || B == 0) return 0;
    LT_CUDA_CHECK(cudaMemset2DAsync((char *)p + (size_t)from * es, (size_t)pitch * es, 0, (size_t)(row - from) * es,
                                    (size_t)B, cu->stream));
    return 0;
}

static int native_fwd(lt_backend *be, lt_cell cell, void *y, void *hT, void *cT, void *ws, const void *x,
                      const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const void *h0,
                      const void *c0, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t I, int64_t H) {
    lt_cuda *cu = lt__cu(be);
    struct lt_rnn_state *st = cu->rnn;
    const int G = cell_gates(cell);
    const int64_t GH = G * H, BT = B * T;
    const int32_t Tmax = max_len(lens, B, T);
    const int lstm = cell == LT_CELL_LSTM, bf = dt == LT_BF16;

    /* temporaries: lens, h W_hh^T, h, c, W_ih in bf16 (bf16 x), and the reserve itself when the
     * caller keeps none */
    carve c0_ = {NULL, 0};
    take(&c0_, (size_t)B * sizeof(int32_t));
    take(&c0_, (size_t)(B * GH) * sizeof(float));
    take(&c0_, (size_t)(B * H) * sizeof(float));
    take(&c0_, (size_t)(B * H) * sizeof(float));
    if (bf) take(&c0_, (size_t)(GH * I) * sizeof(lt_bf16));
    if (!ws) take(&c0_, native_reserve(G, B, T, H));
    void *base = NULL;
    LT_TRY(rnn_buf(be, c0_.off, &base));
    carve cv = {(char *)base, 0};
    int32_t *dlens = (int32_t *)take(&cv, (size_t)B * sizeof(int32_t));
    float *hg = (float *)take(&cv, (size_t)(B * GH) * sizeof(float));
    float *hs = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
    float *cs = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
    void *wb = bf ? take(&cv, (size_t)(GH * I) * sizeof(lt_bf16)) : NULL;
    native_res rs = native_at(ws ? ws : take(&cv, native_reserve(G, B, T, H)), G, B, T, H);

    /* lens is pageable host memory: the copy has read it when cudaMemcpyAsync returns */
    LT_CUDA_CHECK(cudaMemcpyAsync(dlens, lens, (size_t)B * sizeof(int32_t), cudaMemcpyHostToDevice, cu->stream));
    LT_TRY(init_state(be, hs, h0, dt, B * H));
    if (lstm) LT_TRY(init_state(be, cs, c0, dt, B * H));
    /* steps no sequence reaches: y and hr are 0 */
    LT_TRY(zero_tail(cu, y, lt_dtype_size(dt), B, T * H, (int64_t)Tmax * H, T * H));
    LT_TRY(zero_tail(cu, rs.hr, sizeof(float), B, T * H, (int64_t)Tmax * H, T * H));

    if (Tmax > 0) {
        /* every step's input projection at once: gates[B*T, G*H] = x W_ih^T (bf16 x: bf16 operands, fp32 out) */
        if (bf) {
            LT_TRY(lt__cuda_cast(be, wb, LT_BF16, w_ih, LT_F32, GH * I));
            LT_TRY(gemm_t(be, 0, 1, BT, GH, I, x, wb, LT_BF16, I, I, rs.gates, LT_F32, GH, 0));
        } else {
            LT_TRY(gemm(be, 0, 1, BT, GH, I, (const float *)x, I, w_ih, I, rs.gates, GH, 0));
        }
        const persist_cfg *pc = persist_choose(be, st, cell, dt, B, H);
        int done = 0;
        if (pc) {
            cudaError_t e = persist_launch(be, cell, pc, rs.gates, rs.aux, rs.hr, y, hs, cs, w_hh, b_ih, b_hh, dlens, B,
                                           T, H, Tmax);
            if (e == cudaSuccess) {
                done = 1;
            } else { /* a configuration the device declines after all: this shape takes the per-step path */
                (void)cudaGetLastError();
                st->pc.ok = 0;
            }
        }
        if (!done) {
            for (int64_t t = 0; t < Tmax; t++) {
                LT_TRY(gemm(be, 0, 1, B, GH, H, hs, H, w_hh, H, hg, GH, 0)); /* hg = h_{t-1} W_hh^T */
                LT_TRY(launch_cell_fwd(cu, cell, dt, rs.gates, rs.aux, rs.hr, y, hs, cs, hg, b_ih, b_hh, dlens, B, T,
                                       H, t));
            }
        }
    }
    if (hT) LT_TRY(lt__cuda_cast(be, hT, dt, hs, LT_F32, B * H));
    if (cT && lstm) LT_TRY(lt__cuda_cast(be, cT, dt, cs, LT_F32, B * H));
    return 0;
}

static int native_bwd(lt_backend *be, lt_cell cell, void *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                      void *dh0, void *dc0, const void *dy, const void *dhT, const void *dcT, const void *ws,
                      const void *x, const float *w_ih, const float *w_hh, const void *h0, const void *c0,
                      const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t I, int64_t H) {
    lt_cuda *cu = lt__cu(be);
    const int G = cell_gates(cell);
    const int64_t GH = G * H, BT = B * T;
    const int32_t Tmax = max_len(lens, B, T);
    const int lstm = cell == LT_CELL_LSTM, bf = dt == LT_BF16;
    if (!ws) return lt_error(LT_EINVAL, "rnn_bwd: the forward's reserve (ws) is required");
    const native_res rs = native_at((void *)ws, G, B, T, H);
    const int need_xg = dx || dw_ih; /* the GEMMs with x's side */

    /* temporaries: lens, dG (input side; GRU also the recurrent side), h_{t-1} of every step, dh, dc;
     * bf16: h0 and c0 in fp32, dGx and W_ih in bf16 (the operands of the GEMMs with x and dx) */
    size_t sz_g = (size_t)(BT * GH) * sizeof(float);
    carve c0_ = {NULL, 0};
    take(&c0_, (size_t)B * sizeof(int32_t));
    take(&c0_, sz_g);
    if (!lstm) take(&c0_, sz_g);
    take(&c0_, (size_t)(BT * H) * sizeof(float));
    take(&c0_, (size_t)(B * H) * sizeof(float));
    take(&c0_, (size_t)(B * H) * sizeof(float));
    if (bf) {
        take(&c0_, (size_t)(B * H) * sizeof(float));
        take(&c0_, (size_t)(B * H) * sizeof(float));
        if (need_xg) take(&c0_, (size_t)(BT * GH) * sizeof(lt_bf16));
        if (dx) take(&c0_, (size_t)(GH * I) * sizeof(lt_bf16));
    }
    void *base = NULL;
    LT_TRY(rnn_buf(be, c0_.off, &base));
    carve cv = {(char *)base, 0};
    int32_t *dlens = (int32_t *)take(&cv, (size_t)B * sizeof(int32_t));
    float *dgx = (float *)take(&cv, sz_g);
    float *dgh = lstm ? dgx : (float *)take(&cv, sz_g);
    float *hp = (float *)take(&cv, (size_t)(BT * H) * sizeof(float));
    float *dh = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
    float *dc = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
    const float *h0f = (const float *)h0, *c0f = (const float *)c0;
    void *dgxb = NULL, *wb = NULL;
    if (bf) {
        float *h0w = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
        float *c0w = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
        if (need_xg) dgxb = take(&cv, (size_t)(BT * GH) * sizeof(lt_bf16));
        if (dx) wb = take(&cv, (size_t)(GH * I) * sizeof(lt_bf16));
        if (h0) {
            LT_TRY(lt__cuda_cast(be, h0w, LT_F32, h0, LT_BF16, B * H));
            h0f = h0w;
        }
        if (c0 && lstm) {
            LT_TRY(lt__cuda_cast(be, c0w, LT_F32, c0, LT_BF16, B * H));
            c0f = c0w;
        }
    }

    LT_CUDA_CHECK(cudaMemcpyAsync(dlens, lens, (size_t)B * sizeof(int32_t), cudaMemcpyHostToDevice, cu->stream));
    LT_TRY(init_state(be, dh, dhT, dt, B * H));
    if (lstm) LT_TRY(init_state(be, dc, dcT, dt, B * H));

    if (Tmax > 0) {
        /* the steps no sequence reaches have no gradient */
        LT_TRY(zero_tail(cu, dgx, sizeof(float), B, T * GH, (int64_t)Tmax * GH, T * GH));
        if (!lstm) LT_TRY(zero_tail(cu, dgh, sizeof(float), B, T * GH, (int64_t)Tmax * GH, T * GH));
        const persist_cfg *pc = persist_bwd_choose(be, cu->rnn, cell, dt, B, H);
        int done = 0;
        if (pc) {
            cudaError_t e = persist_bwd_launch(be, cell, pc, dgx, dgh, dh, dc, dy, rs.gates, rs.aux, rs.hr, h0f, c0f,
                                               w_hh, dlens, B, T, H, Tmax);
            if (e == cudaSuccess) {
                done = 1;
            } else { /* declined after all: this shape takes the per-step path */
                (void)cudaGetLastError();
                cu->rnn->pcb.ok = 0;
            }
        }
        for (int64_t t = Tmax - 1; !done && t >= 0; t--) {
            LT_TRY(launch_cell_bwd(cu, cell, dt, dgx, dgh, dh, dc, dy, rs.gates, rs.aux, rs.hr, h0f, c0f, dlens, B, T,
                                   H, t));
            /* dh_{t-1} += dG_t W_hh: rows b*T + t of dgh, row stride T*G*H */
            LT_TRY(gemm(be, 0, 0, B, H, GH, dgh + t * GH, T * GH, w_hh, H, dh, H, 1));
        }
        /* the weights, over all steps at once */
        hprev_kernel<<<lt__blocks(BT * H, RNN_THREADS, (int64_t)cu->sm_count * 32), RNN_THREADS, 0, cu->stream>>>(
            hp, rs.hr, h0f, B, T, H);
        LT_LAUNCH_CHECK();
        LT_TRY(gemm(be, 1, 0, GH, H, BT, dgh, GH, hp, H, dw_hh, H, 1)); /* dW_hh += dGh^T Hprev */
        if (bf) { /* bf16 operands: dGx and W_ih rounded to bf16 copies, x and dx as they are */
            if (need_xg) LT_TRY(lt__cuda_cast(be, dgxb, LT_BF16, dgx, LT_F32, BT * GH));
            if (dw_ih) LT_TRY(gemm_t(be, 1, 0, GH, I, BT, dgxb, x, LT_BF16, GH, I, dw_ih, LT_F32, I, 1));
            if (dx) {
                LT_TRY(lt__cuda_cast(be, wb, LT_BF16, w_ih, LT_F32, GH * I));
                LT_TRY(gemm_t(be, 0, 0, BT, I, GH, dgxb, wb, LT_BF16, GH, I, dx, LT_BF16, I, 1));
            }
        } else {
            if (dw_ih) LT_TRY(gemm(be, 1, 0, GH, I, BT, dgx, GH, (const float *)x, I, dw_ih, I, 1)); /* dW_ih += dGx^T x */
            if (dx) LT_TRY(gemm(be, 0, 0, BT, I, GH, dgx, GH, w_ih, I, (float *)dx, I, 1));      /* dx += dGx W_ih */
        }
        if (db_ih) LT_TRY(lt__cuda_bias_bwd(be, db_ih, dgx, LT_F32, BT, GH));
        if (db_hh) LT_TRY(lt__cuda_bias_bwd(be, db_hh, dgh, LT_F32, BT, GH));
    }
    if (dh0) LT_TRY(acc_state(be, dh0, dh, dt, B * H));
    if (dc0 && lstm) LT_TRY(acc_state(be, dc0, dc, dt, B * H));
    return 0;
}

/* ---- cuDNN -------------------------------------------------------------------------------------- */

#ifdef LONGTAIL_HAVE_CUDNN

#define LT_CUDNN_CHECK(call)                                                                     \
    do {                                                                                         \
        cudnnStatus_t lt__d = (call);                                                            \
        if (lt__d != CUDNN_STATUS_SUCCESS)                                                       \
            return lt_error(LT_ECUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                \
                            cudnnGetErrorString(lt__d));                                         \
    } while (0)

static int dnn_init(lt_backend *be, struct lt_rnn_state *st) {
    if (st->dnn) return 0;
    LT_CUDNN_CHECK(cudnnCreate(&st->dnn));
    LT_CUDNN_CHECK(cudnnSetStream(st->dnn, lt__cu(be)->stream));
    LT_CUDNN_CHECK(cudnnCreateDropoutDescriptor(&st->drop));
    /* one layer: cuDNN applies no dropout; a descriptor with p = 0 needs no state buffer */
    LT_CUDNN_CHECK(cudnnSetDropoutDescriptor(st->drop, st->dnn, 0.0f, NULL, 0, 0));
    LT_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&st->xd));
    LT_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&st->yd));
    LT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&st->hd));
    LT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&st->md));
    LT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&st->bd));
    return 0;
}

static void plan_free(lt_cuda *cu, dnn_plan *p) {
    if (p->rnn) (void)cudnnDestroyRNNDescriptor(p->rnn);
    if (p->w) (void)cudaFreeAsync(p->w, cu->stream);
    if (p->dw) (void)cudaFreeAsync(p->dw, cu->stream);
    (void)cudaGetLastError();
    memset(p, 0, sizeof *p);
}

static cudnnMathType_t dnn_math(lt_math m) {
    return m == LT_MATH_BF16 ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : m == LT_MATH_TF32 ? CUDNN_DEFAULT_MATH
                                                                                         : CUDNN_FMA_MATH;
}

/* Number of elements a descriptor cudnnGetRNNWeightParams filled describes. */
static int desc_elems(cudnnTensorDescriptor_t d, int64_t *n) {
    cudnnDataType_t t;
    int nb = 0, dims[8], strides[8];
    LT_CUDNN_CHECK(cudnnGetTensorNdDescriptor(d, 8, &t, &nb, dims, strides));
    int64_t e = 1;
    for (int i = 0; i < nb && i < 8; i++) e *= dims[i];
    *n = e;
    return 0;
}

static int dnn_plan_for(lt_backend *be, struct lt_rnn_state *st, lt_cell cell, int64_t I, int64_t H, dnn_plan **out) {
    lt_cuda *cu = lt__cu(be);
    cudnnMathType_t mt = dnn_math(be->math);
    int64_t key[4] = {(int64_t)cell, I, H, (int64_t)mt};
    for (int i = 0; i < DNN_PLANS; i++)
        if (st->plans[i].used && memcmp(st->plans[i].key, key, sizeof key) == 0) {
            *out = &st->plans[i];
            return 0;
        }
    dnn_plan *p = &st->plans[st->next];
    st->next = (st->next + 1) % DNN_PLANS;
    plan_free(cu, p);
    memcpy(p->key, key, sizeof key);
    LT_CUDNN_CHECK(cudnnCreateRNNDescriptor(&p->rnn));
    p->used = 1; /* from here on plan_free releases what exists, whatever fails below */
    int rc = 0;
#define PLAN_TRY(call)                                                                              \
    do {                                                                                           \
        cudnnStatus_t lt__d = (call);                                                              \
        if (lt__d != CUDNN_STATUS_SUCCESS) {                                                       \
            rc = lt_error(LT_ECUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudnnGetErrorString(lt__d)); \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
    {
        cudnnStatus_t ds = CUDNN_STATUS_SUCCESS;
        for (int attempt = 0; attempt < 2; attempt++) {
            ds = cudnnSetRNNDescriptor_v8(p->rnn, CUDNN_RNN_ALGO_STANDARD, cell == LT_CELL_LSTM ? CUDNN_LSTM : CUDNN_GRU,
                                          CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT,
                                          CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, mt, (int32_t)I, (int32_t)H, (int32_t)H, 1,
                                          st->drop, CUDNN_RNN_PADDED_IO_ENABLED);
            /* a math type cuDNN declines for fp32 data: its default (tensor cores with tf32 where allowed) */
            if (ds == CUDNN_STATUS_SUCCESS || mt == CUDNN_DEFAULT_MATH) break;
            mt = CUDNN_DEFAULT_MATH;
        }
        PLAN_TRY(ds);
        PLAN_TRY(cudnnGetRNNWeightSpaceSize(st->dnn, p->rnn, &p->wbytes));
        cudaError_t e1 = cudaMallocAsync((void **)&p->w, p->wbytes, cu->stream);
        cudaError_t e2 = e1 == cudaSuccess ? cudaMallocAsync((void **)&p->dw, p->wbytes, cu->stream) : e1;
        if (e2 != cudaSuccess) {
            (void)cudaGetLastError();
            rc = lt_error(LT_ENOMEM, "cuda rnn: cannot allocate cuDNN's weight space (%zu bytes)", p->wbytes);
            goto fail;
        }
        const int G = cell_gates(cell);
        for (int id = 0; id < 2 * G; id++) {
            void *m = NULL, *bp = NULL;
            PLAN_TRY(cudnnGetRNNWeightParams(st->dnn, p->rnn, 0, p->wbytes, p->w, id, st->md, &m, st->bd, &bp));
            int64_t nm = 0, nbias = 0;
            if (desc_elems(st->md, &nm) < 0 || desc_elems(st->bd, &nbias) < 0) {
                rc = LT_ECUDA;
                goto fail;
            }
            if (!m || !bp || nm != H * (id < G ? I : H) || nbias != H) {
                rc = lt_error(LT_ECUDA, "cuda rnn: cuDNN's weight layout is not the expected one (linLayerID %d: %lld "
                                        "weights, %lld biases for H %lld, I %lld)",
                              id, (long long)nm, (long long)nbias, (long long)H, (long long)I);
                goto fail;
            }
            p->off_m[id] = (size_t)((float *)m - p->w);
            p->off_b[id] = (size_t)((float *)bp - p->w);
        }
    }
#undef PLAN_TRY
    *out = p;
    return 0;
fail:
    plan_free(cu, p);
    return rc;
}

/* lt weights -> cuDNN's weight space (gate by gate; NULL biases are zeros) */
static int dnn_load_weights(lt_cuda *cu, dnn_plan *p, lt_cell cell, const float *w_ih, const float *w_hh,
                            const float *b_ih, const float *b_hh, int64_t I, int64_t H) {
    const int G = cell_gates(cell);
    for (int g = 0; g < G; g++) {
        LT_CUDA_CHECK(cudaMemcpyAsync(p->w + p->off_m[g], w_ih + g * H * I, (size_t)(H * I) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, cu->stream));
        LT_CUDA_CHECK(cudaMemcpyAsync(p->w + p->off_m[G + g], w_hh + g * H * H, (size_t)(H * H) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, cu->stream));
        const float *bs[2] = {b_ih, b_hh};
        for (int s = 0; s < 2; s++) {
            float *dst = p->w + p->off_b[s * G + g];
            if (bs[s])
                LT_CUDA_CHECK(cudaMemcpyAsync(dst, bs[s] + g * H, (size_t)H * sizeof(float), cudaMemcpyDeviceToDevice,
                                              cu->stream));
            else
                LT_CUDA_CHECK(cudaMemsetAsync(dst, 0, (size_t)H * sizeof(float), cu->stream));
        }
    }
    return 0;
}

/* x, y and h descriptors for this batch; lens on the host (NULL: every sequence T long) */
static int dnn_set_data(struct lt_rnn_state *st, const int32_t *lens, int64_t B, int64_t T, int64_t I, int64_t H) {
    int32_t *full = NULL;
    if (!lens) {
        full = (int32_t *)malloc((size_t)B * sizeof *full);
        if (!full) return lt_error(LT_ENOMEM, "cuda rnn: out of host memory");
        for (int64_t b = 0; b < B; b++) full[b] = (int32_t)T;
        lens = full;
    }
    float zero = 0.0f;
    cudnnStatus_t s1 = cudnnSetRNNDataDescriptor(st->xd, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                                 (int)T, (int)B, (int)I, lens, &zero);
    cudnnStatus_t s2 = cudnnSetRNNDataDescriptor(st->yd, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                                 (int)T, (int)B, (int)H, lens, &zero);
    free(full);
    LT_CUDNN_CHECK(s1);
    LT_CUDNN_CHECK(s2);
    int dims[3] = {1, (int)B, (int)H}, strides[3] = {(int)(B * H), (int)H, 1};
    LT_CUDNN_CHECK(cudnnSetTensorNdDescriptor(st->hd, CUDNN_DATA_FLOAT, 3, dims, strides));
    return 0;
}

/* cuDNN runs this call: chosen, and a shape it takes (every sequence at least one step, int sizes) */
static int dnn_use(struct lt_rnn_state *st, const int32_t *lens, int64_t B, int64_t T, int64_t I, int64_t H) {
    if (!st || st->impl != LT_RNN_CUDNN || !st->dnn || T < 1 || B < 1 || H < 1 || I < 1) return 0;
    if (B * T * (I > H ? I : H) > INT32_MAX || B * H > INT32_MAX) return 0;
    for (int64_t b = 0; b < B; b++)
        if (lens[b] < 1) return 0;
    return 1;
}

static int dnn_fwd(lt_backend *be, lt_cell cell, float *y, float *hT, float *cT, void *ws, const float *x,
                   const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0,
                   const float *c0, const int32_t *lens, int64_t B, int64_t T, int64_t I, int64_t H) {
    lt_cuda *cu = lt__cu(be);
    struct lt_rnn_state *st = cu->rnn;
    dnn_plan *p = NULL;
    LT_TRY(dnn_plan_for(be, st, cell, I, H, &p));
    LT_TRY(dnn_set_data(st, lens, B, T, I, H));
    cudnnForwardMode_t mode = ws ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
    size_t work_bytes = 0, res_bytes = 0;
    LT_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(st->dnn, p->rnn, mode, st->xd, &work_bytes, &res_bytes));
    carve c0_ = {NULL, 0};
    take(&c0_, (size_t)B * sizeof(int32_t));
    take(&c0_, work_bytes);
    void *base = NULL;
    LT_TRY(rnn_buf(be, c0_.off, &base));
    carve cv = {(char *)base, 0};
    int32_t *dlens = (int32_t *)take(&cv, (size_t)B * sizeof(int32_t));
    void *work = take(&cv, work_bytes);
    LT_CUDA_CHECK(cudaMemcpyAsync(dlens, lens, (size_t)B * sizeof(int32_t), cudaMemcpyHostToDevice, cu->stream));
    LT_TRY(dnn_load_weights(cu, p, cell, w_ih, w_hh, b_ih, b_hh, I, H));
    int lstm = cell == LT_CELL_LSTM;
    LT_CUDNN_CHECK(cudnnRNNForward(st->dnn, p->rnn, mode, dlens, st->xd, x, st->yd, y, st->hd, h0, hT, st->hd,
                                   lstm ? c0 : NULL, lstm ? cT : NULL, p->wbytes, p->w, work_bytes, work,
                                   ws ? res_bytes : 0, ws));
    return 0;
}

static int dnn_bwd(lt_backend *be, lt_cell cell, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                   float *dh0, float *dc0, const float *dy, const float *dhT, const float *dcT, const void *ws,
                   const float *x, const float *y, const float *w_ih, const float *w_hh, const float *b_ih,
                   const float *b_hh, const float *h0, const float *c0, const int32_t *lens, int64_t B, int64_t T,
                   int64_t I, int64_t H) {
    lt_cuda *cu = lt__cu(be);
    struct lt_rnn_state *st = cu->rnn;
    const int G = cell_gates(cell), lstm = cell == LT_CELL_LSTM;
    dnn_plan *p = NULL;
    LT_TRY(dnn_plan_for(be, st, cell, I, H, &p));
    LT_TRY(dnn_set_data(st, lens, B, T, I, H));
    size_t work_bytes = 0, res_bytes = 0;
    LT_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(st->dnn, p->rnn, CUDNN_FWD_MODE_TRAINING, st->xd, &work_bytes, &res_bytes));
    carve c0_ = {NULL, 0};
    take(&c0_, (size_t)B * sizeof(int32_t));
    take(&c0_, work_bytes);
    take(&c0_, (size_t)(B * T * I) * sizeof(float));
    take(&c0_, (size_t)(B * H) * sizeof(float));
    take(&c0_, (size_t)(B * H) * sizeof(float));
    if (!dy) take(&c0_, (size_t)(B * T * H) * sizeof(float));
    void *base = NULL;
    LT_TRY(rnn_buf(be, c0_.off, &base));
    carve cv = {(char *)base, 0};
    int32_t *dlens = (int32_t *)take(&cv, (size_t)B * sizeof(int32_t));
    void *work = take(&cv, work_bytes);
    float *dxt = (float *)take(&cv, (size_t)(B * T * I) * sizeof(float));
    float *dhx = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
    float *dcx = (float *)take(&cv, (size_t)(B * H) * sizeof(float));
    if (!dy) { /* no gradient reaches y: cuDNN still reads one */
        float *z = (float *)take(&cv, (size_t)(B * T * H) * sizeof(float));
        LT_CUDA_CHECK(cudaMemsetAsync(z, 0, (size_t)(B * T * H) * sizeof(float), cu->stream));
        dy = z;
    }
    LT_CUDA_CHECK(cudaMemcpyAsync(dlens, lens, (size_t)B * sizeof(int32_t), cudaMemcpyHostToDevice, cu->stream));
    /* the plan's weight space may hold another layer's weights since the forward */
    LT_TRY(dnn_load_weights(cu, p, cell, w_ih, w_hh, b_ih, b_hh, I, H));
    /* cuDNN writes (does not add) dx, dhx, dcx: into temporaries, added below. The reserve is the
     * forward's ws; cuDNN's backward may write into it, as its API allows. */
    void *res = (void *)ws;
    /* padded steps of dx are 0 whether or not cuDNN writes them */
    LT_CUDA_CHECK(cudaMemsetAsync(dxt, 0, (size_t)(B * T * I) * sizeof(float), cu->stream));
    LT_CUDNN_CHECK(cudnnRNNBackwardData_v8(st->dnn, p->rnn, dlens, st->yd, y, dy, st->xd, dxt, st->hd, h0, dhT,
                                           dh0 ? dhx : NULL, st->hd, lstm ? c0 : NULL, lstm ? dcT : NULL,
                                           lstm && dc0 ? dcx : NULL, p->wbytes, p->w, work_bytes, work, res_bytes, res));
    LT_CUDA_CHECK(cudaMemsetAsync(p->dw, 0, p->wbytes, cu->stream));
    LT_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(st->dnn, p->rnn, CUDNN_WGRAD_MODE_ADD, dlens, st->xd, x, st->hd, h0,
                                              st->yd, y, p->wbytes, p->dw, work_bytes, work, res_bytes, res));
    if (dx) LT_TRY(lt__cuda_axpy(be, dx, 1.0f, dxt, LT_F32, B * T * I));
    if (dh0) LT_TRY(lt__cuda_axpy(be, dh0, 1.0f, dhx, LT_F32, B * H));
    if (dc0 && lstm) LT_TRY(lt__cuda_axpy(be, dc0, 1.0f, dcx, LT_F32, B * H));
    for (int g = 0; g < G; g++) {
        if (dw_ih) LT_TRY(lt__cuda_axpy(be, dw_ih + g * H * I, 1.0f, p->dw + p->off_m[g], LT_F32, H * I));
        LT_TRY(lt__cuda_axpy(be, dw_hh + g * H * H, 1.0f, p->dw + p->off_m[G + g], LT_F32, H * H));
        if (db_ih) LT_TRY(lt__cuda_axpy(be, db_ih + g * H, 1.0f, p->dw + p->off_b[g], LT_F32, H));
        if (db_hh) LT_TRY(lt__cuda_axpy(be, db_hh + g * H, 1.0f, p->dw + p->off_b[G + g], LT_F32, H));
    }
    return 0;
}

static int dnn_reserve(lt_backend *be, struct lt_rnn_state *st, lt_cell cell, int64_t B, int64_t T, int64_t I,
                       int64_t H, size_t *bytes) {
    *bytes = 0;
    if (T < 1 || B < 1 || H < 1 || I < 1 || B * T * (I > H ? I : H) > INT32_MAX) return 0; /* the native path runs */
    dnn_plan *p = NULL;
    LT_TRY(dnn_plan_for(be, st, cell, I, H, &p));
    LT_TRY(dnn_set_data(st, NULL, B, T, I, H)); /* every sequence T long: the largest reserve */
    size_t work_bytes = 0;
    LT_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(st->dnn, p->rnn, CUDNN_FWD_MODE_TRAINING, st->xd, &work_bytes, bytes));
    return 0;
}

#endif /* LONGTAIL_HAVE_CUDNN */

/* ---- the op table's entries ---------------------------------------------------------------------- */

extern "C" int lt__cuda_rnn_reserve(lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H,
                                    size_t *bytes) {
    size_t n = native_reserve(cell_gates(cell), B, T, H);
#ifdef LONGTAIL_HAVE_CUDNN
    struct lt_rnn_state *st = lt__cu(be)->rnn;
    if (st && st->impl == LT_RNN_CUDNN) {
        size_t d = 0;
        LT_TRY(dnn_reserve(be, st, cell, B, T, I, H, &d));
        if (d > n) n = d;
    }
#endif
    *bytes = n;
    return 0;
}

/* cuDNN is chosen and dt is bf16: refused (see the top of the file) */
static int dnn_refuses(struct lt_rnn_state *st, lt_dtype dt, const char *op) {
    if (st->impl != LT_RNN_CUDNN || dt == LT_F32) return 0;
    return lt_error(LT_ENOTSUP, "%s: bf16 activations with LT_RNN_CUDNN: cuDNN's RNN API takes half, float or double "
                                "data (one type for data and weights), not bf16; choose LT_RNN_NATIVE "
                                "(lt_rnn_set_impl) for bf16", op);
}

extern "C" int lt__cuda_rnn_fwd(lt_backend *be, lt_cell cell, void *y, void *hT, void *cT, void *ws, const void *x,
                                const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                                const void *h0, const void *c0, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T,
                                int64_t I, int64_t H) {
    if (B == 0 || H == 0) return 0;
    struct lt_rnn_state *st = NULL;
    LT_TRY(state(be, &st));
    LT_TRY(dnn_refuses(st, dt, "rnn_fwd"));
#ifdef LONGTAIL_HAVE_CUDNN
    if (dnn_use(st, lens, B, T, I, H))
        return dnn_fwd(be, cell, (float *)y, (float *)hT, (float *)cT, ws, (const float *)x, w_ih, w_hh, b_ih, b_hh,
                       (const float *)h0, (const float *)c0, lens, B, T, I, H);
#endif
    return native_fwd(be, cell, y, hT, cT, ws, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lens, dt, B, T, I, H);
}

extern "C" int lt__cuda_rnn_bwd(lt_backend *be, lt_cell cell, void *dx, float *dw_ih, float *dw_hh, float *db_ih,
                                float *db_hh, void *dh0, void *dc0, const void *dy, const void *dhT, const void *dcT,
                                const void *ws, const void *x, const void *y, const float *w_ih, const float *w_hh,
                                const float *b_ih, const float *b_hh, const void *h0, const void *c0,
                                const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t I, int64_t H) {
    if (B == 0 || H == 0) return 0;
    struct lt_rnn_state *st = NULL;
    LT_TRY(state(be, &st));
    LT_TRY(dnn_refuses(st, dt, "rnn_bwd"));
#ifdef LONGTAIL_HAVE_CUDNN
    if (dnn_use(st, lens, B, T, I, H))
        return dnn_bwd(be, cell, (float *)dx, dw_ih, dw_hh, db_ih, db_hh, (float *)dh0, (float *)dc0, (const float *)dy,
                       (const float *)dhT, (const float *)dcT, ws, (const float *)x, (const float *)y, w_ih, w_hh,
                       b_ih, b_hh, (const float *)h0, (const float *)c0, lens, B, T, I, H);
#else
    (void)y, (void)b_ih, (void)b_hh;
#endif
    return native_bwd(be, cell, dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, dy, dhT, dcT, ws, x, w_ih, w_hh, h0, c0, lens,
                      dt, B, T, I, H);
}

extern "C" int lt__cuda_rnn_set_impl(lt_backend *be, lt_rnn_impl impl) {
    struct lt_rnn_state *st = NULL;
    LT_TRY(state(be, &st));
    if (impl == LT_RNN_NATIVE) {
        st->impl = LT_RNN_NATIVE;
        return 0;
    }
    if (impl != LT_RNN_CUDNN) return lt_error(LT_EINVAL, "cuda rnn: unknown implementation %d", (int)impl);
#ifdef LONGTAIL_HAVE_CUDNN
    LT_TRY(dnn_init(be, st));
    st->impl = LT_RNN_CUDNN;
    return 0;
#else
    return lt_error(LT_ENOTSUP, "cuda rnn: this build has no cuDNN (install it and rebuild to use LT_RNN_CUDNN); "
                                "the hand-written kernels stay in use");
#endif
}

extern "C" void lt__cuda_rnn_release(lt_backend *be) {
    lt_cuda *cu = lt__cu(be);
    struct lt_rnn_state *st = cu->rnn;
    if (!st) return;
#ifdef LONGTAIL_HAVE_CUDNN
    for (int i = 0; i < DNN_PLANS; i++)
        if (st->plans[i].used) plan_free(cu, &st->plans[i]);
    if (st->xd) (void)cudnnDestroyRNNDataDescriptor(st->xd);
    if (st->yd) (void)cudnnDestroyRNNDataDescriptor(st->yd);
    if (st->hd) (void)cudnnDestroyTensorDescriptor(st->hd);
    if (st->md) (void)cudnnDestroyTensorDescriptor(st->md);
    if (st->bd) (void)cudnnDestroyTensorDescriptor(st->bd);
    if (st->drop) (void)cudnnDestroyDropoutDescriptor(st->drop);
    if (st->dnn) (void)cudnnDestroy(st->dnn);
#endif
    if (st->buf) (void)cudaFreeAsync(st->buf, cu->stream);
    (void)cudaGetLastError();
    free(st);
    cu->rnn = NULL;
}
