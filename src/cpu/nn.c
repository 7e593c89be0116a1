/* Neural-network ops on the CPU, forward and backward: bias, GELU, softmax,
 * softmax + cross-entropy, embeddings, dropout. Rows are processed in parallel with OpenMP;
 * within a row the loops are plain C that the compiler vectorises. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"
#include "longtail/rng.h"

int lt__cpu_rows_colsum(int64_t rows, int64_t cols, int nacc, float *const *acc, int nscratch, lt__rows_fn fn,
                        void *ctx) {
    if (nacc < 1 || nscratch < 0 || nacc + nscratch > 8)
        return lt_error(LT_EINVAL, "column sums: %d accumulators and %d scratch rows (1 to 8 in all)", nacc, nscratch);
    int nt = rows * cols >= LT_CPU_PAR_MIN ? omp_get_max_threads() : 1;
    if (nt > rows) nt = rows > 0 ? (int)rows : 1;
    size_t per = (size_t)(nacc + nscratch) * (size_t)cols; /* floats per thread */
    float *part = calloc((size_t)nt * per + 1, sizeof(float));
    if (!part) return lt_error(LT_ENOMEM, "column sums: out of memory for %d threads x %zu floats", nt, per);
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        float *parts[8];
        for (int k = 0; k < nacc + nscratch; k++) parts[k] = part + (size_t)t * per + (size_t)k * (size_t)cols;
        fn(ctx, rows * t / nt, rows * (t + 1) / nt, parts);
    }
    for (int t = 0; t < nt; t++)
        for (int k = 0; k < nacc; k++) {
            const float *p = part + (size_t)t * per + (size_t)k * (size_t)cols;
            for (int64_t j = 0; j < cols; j++) acc[k][j] += p[j];
        }
    free(part);
    return 0;
}

typedef struct {
    const float *x;
    int64_t cols;
} colsum_ctx;

static void colsum_rows(void *ctx, int64_t r0, int64_t r1, float *const *parts) {
    const colsum_ctx *c = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = c->x + r * c->cols;
        for (int64_t j = 0; j < c->cols; j++) parts[0][j] += xr[j];
    }
}

/* ---- bias ------------------------------------------------------------------------------------ */

static int bias_add(float *y, const float *bias, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols;
        for (int64_t j = 0; j < cols; j++) yr[j] += bias[j];
    }
    return 0;
}

static int bias_bwd(float *dbias, const float *dy, int64_t rows, int64_t cols) {
    colsum_ctx c = {dy, cols};
    return lt__cpu_rows_colsum(rows, cols, 1, &dbias, 0, colsum_rows, &c);
}

/* ---- GELU (exact, erf form, as in BERT; lt__gelu in cpu.h) ---------------------------------- */

static int gelu_fwd(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd if (n >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = lt__gelu(x[i]);
    return 0;
}

static int gelu_bwd(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd if (n >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * lt__gelu_grad(x[i]);
    return 0;
}

/* LayerNorm lives in transformer.c, beside its residual form. */

/* ---- softmax --------------------------------------------------------------------------------- */

int lt__cpu_softmax_fwd(lt_backend *be, float *y, const float *x, const int32_t *lens,
                        int64_t rows_per_len, int64_t rows, int64_t cols, float scale) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        int64_t n = cols;
        if (lens) {
            int64_t l = lens[r / rows_per_len];
            n = l < 0 ? 0 : l < cols ? l : cols;
        }
        float mx = lt__row_max(xr, n, scale), s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < n; j++) s += yr[j] = expf(scale * xr[j] - mx);
        float inv = n ? 1.0f / s : 0;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) yr[j] *= inv;
        for (int64_t j = n; j < cols; j++) yr[j] = 0;
    }
    return 0;
}

int lt__cpu_softmax_bwd(lt_backend *be, float *dx, const float *dy, const float *y, int64_t rows,
                        int64_t cols, float scale) {
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < cols; j++) dot += dyr[j] * yr[j];
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dxr[j] += scale * yr[j] * (dyr[j] - dot);
    }
    return 0;
}

/* ---- softmax + cross-entropy ---------------------------------------------------------------- */

static LT_ONE_BODY float row_lse(const float *xr, int64_t n) {
    float mx = lt__row_max(xr, n, 1.0f);
    return mx + logf(lt__row_sumexp(xr, n, mx));
}

/* LT_ERANGE naming op and the first row whose target is neither in [0, vocab) nor ignore_index */
static int check_targets(const char *op, const int32_t *targets, int64_t rows, int64_t vocab, int ignore_index) {
    for (int64_t r = 0; r < rows; r++)
        if (targets[r] != ignore_index && (targets[r] < 0 || targets[r] >= vocab))
            return lt_error(LT_ERANGE, "%s: target %d of row %lld is outside [0, %lld)", op, targets[r], (long long)r,
                            (long long)vocab);
    return 0;
}

static void xent_fwd(float *loss, float *lse, const float *logits, const int32_t *targets, int64_t rows, int64_t vocab,
                     int ignore_index) {
#pragma omp parallel for if (rows * vocab >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = logits + r * vocab;
        lse[r] = row_lse(xr, vocab);
        loss[r] = targets[r] == ignore_index ? 0.0f : lse[r] - xr[targets[r]];
    }
}

/* d(logits) += dloss * softmax(logits), one row (the target's -dloss is the caller's) */
static LT_ONE_BODY void xent_grad_row(float *dr, const float *xr, float g, float lse, int64_t n) {
#pragma omp simd
    for (int64_t j = 0; j < n; j++) dr[j] += g * expf(xr[j] - lse);
}

static void xent_bwd(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                     const float *dloss, int64_t rows, int64_t vocab, int ignore_index) {
#pragma omp parallel for if (rows * vocab >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        if (targets[r] == ignore_index) continue;
        xent_grad_row(dlogits + r * vocab, logits + r * vocab, dloss[r], lse[r], vocab);
        dlogits[r * vocab + targets[r]] -= dloss[r];
    }
}

/* ---- embeddings -------------------------------------------------------------------------------- */

static int check_ids(const char *op, const int32_t *ids, int64_t n, int64_t vocab) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return lt_error(LT_ERANGE, "%s: id %d at position %lld is outside [0, %lld)", op, ids[i],
                            (long long)i, (long long)vocab);
    return 0;
}

/* A gather copies rows whatever their dtype: bf16 rows stay bf16. */
int lt__cpu_embedding_fwd(lt_backend *be, void *out, const void *table, const int32_t *ids, lt_dtype dt, int64_t n,
                          int64_t vocab, int64_t dim) {
    LT_TRY(check_ids("embedding_fwd", ids, n, vocab));
    size_t row = (size_t)dim * lt_dtype_size(dt);
#pragma omp parallel for if (n * dim >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) memcpy((char *)out + (size_t)i * row, (const char *)table + (size_t)ids[i] * row, row);
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Threads split the columns: no two threads touch the same float. The order of the additions is
 * LT_EMB_CHUNK's (backend_impl.h), the one the CUDA kernel makes: with at most LT_EMB_CHUNK
 * positions no id can fill a second chunk, so the plain walk in position order is that order;
 * otherwise the (id, position) pairs are sorted and each id's run is summed chunk by chunk. */
static int embedding_bwd(float *dtable, const float *dout, const int32_t *ids, int64_t n, int64_t dim, int32_t skip) {
    if (n <= 0 || dim <= 0) return 0;
    uint64_t *ord = NULL; /* id << 32 | position, sorted: runs of one id in position order */
    int64_t m = 0;
    if (n > LT_EMB_CHUNK) {
        ord = malloc(sizeof(uint64_t) * (size_t)n);
        if (!ord) return lt_error(LT_ENOMEM, "embedding_bwd: out of memory sorting %lld ids", (long long)n);
        for (int64_t i = 0; i < n; i++)
            if (ids[i] != skip) ord[m++] = (uint64_t)(uint32_t)ids[i] << 32 | (uint64_t)i;
        qsort(ord, (size_t)m, sizeof(uint64_t), cmp_u64);
    }
    int nt = n * dim >= LT_CPU_PAR_MIN ? omp_get_max_threads() : 1;
    if (nt > dim) nt = (int)dim;
    int oom = 0;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        int64_t c0 = dim * t / nt, c1 = dim * (t + 1) / nt, w = c1 - c0;
        if (!ord) {
            for (int64_t i = 0; i < n; i++) {
                if (ids[i] == skip) continue;
                float *dst = dtable + (int64_t)ids[i] * dim;
                const float *src = dout + i * dim;
                for (int64_t j = c0; j < c1; j++) dst[j] += src[j];
            }
        } else {
            float *part = malloc(sizeof(float) * (size_t)(w > 0 ? w : 1));
            if (!part) {
#pragma omp atomic write
                oom = 1;
            }
            for (int64_t s = 0; part && s < m;) {
                uint32_t id = (uint32_t)(ord[s] >> 32);
                int64_t e = s + 1;
                while (e < m && (uint32_t)(ord[e] >> 32) == id) e++;
                float *dst = dtable + (int64_t)id * dim + c0;
                int64_t q = s, ce = e < s + LT_EMB_CHUNK ? e : s + LT_EMB_CHUNK;
                for (; q < ce; q++) { /* the first chunk adds straight into the row */
                    const float *src = dout + (int64_t)(uint32_t)ord[q] * dim + c0;
                    for (int64_t j = 0; j < w; j++) dst[j] += src[j];
                }
                while (q < e) { /* later chunks: summed on their own, then added */
                    ce = e < q + LT_EMB_CHUNK ? e : q + LT_EMB_CHUNK;
                    memcpy(part, dout + (int64_t)(uint32_t)ord[q] * dim + c0, sizeof(float) * (size_t)w);
                    for (q++; q < ce; q++) {
                        const float *src = dout + (int64_t)(uint32_t)ord[q] * dim + c0;
                        for (int64_t j = 0; j < w; j++) part[j] += src[j];
                    }
                    for (int64_t j = 0; j < w; j++) dst[j] += part[j];
                }
                s = e;
            }
            free(part);
        }
    }
    free(ord);
    if (oom) return lt_error(LT_ENOMEM, "embedding_bwd: out of memory for a chunk sum of %lld floats", (long long)dim);
    return 0;
}

/* ---- dropout --------------------------------------------------------------------------------- */

/* One Philox call gives the uniforms of four consecutive elements (lt_rng_u32 computes a whole
 * block per word), and 16 blocks at a time go through the rounds of lt_philox4x32 (rng.h) in the
 * lanes of vector registers: ~20x faster than one lt_rng_uniform per element (AVX-512: ~1 ns per
 * element and core), with exactly the same mask (test_ops checks it element by element).
 * u[4 l + k] = word k of block block0 + l. */
#define DROP_BLOCKS 16

#if defined(__AVX512F__)
#include <immintrin.h>

/* hi:lo = a * m per 32-bit lane, as two vpmuludq (even lanes, odd lanes) */
static inline void mul_hilo(__m512i a, __m512i m, __m512i *hi, __m512i *lo) {
    __m512i even = _mm512_mul_epu32(a, m), odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

static void philox_blocks(uint64_t block0, uint64_t seed, uint64_t stream, uint32_t *u) {
    __m512i base = _mm512_set1_epi32((int)(uint32_t)block0);
    __m512i c0 = _mm512_add_epi32(base, _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    __m512i c1 = _mm512_set1_epi32((int)(uint32_t)(block0 >> 32));
    c1 = _mm512_mask_add_epi32(c1, _mm512_cmplt_epu32_mask(c0, base), c1, _mm512_set1_epi32(1)); /* carry */
    __m512i c2 = _mm512_set1_epi32((int)(uint32_t)stream), c3 = _mm512_set1_epi32((int)(uint32_t)(stream >> 32));
    const __m512i m0 = _mm512_set1_epi32((int)0xD2511F53u), m1 = _mm512_set1_epi32((int)0xCD9E8D57u);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        __m512i hi0, lo0, hi1, lo1;
        mul_hilo(c0, m0, &hi0, &lo0);
        mul_hilo(c2, m1, &hi1, &lo1);
        c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
        c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
        c1 = lo1, c3 = lo0;
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
    /* transpose to u[4 l + k]: after the unpacks, 128-bit lane b of q[i] holds block 4 b + i */
    __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
    __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
    __m512i q[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
                    _mm512_unpackhi_epi64(t1, t3)};
    for (int i = 0; i < 4; i++) {
        _mm_storeu_si128((__m128i *)(u + 4 * i), _mm512_extracti32x4_epi32(q[i], 0));
        _mm_storeu_si128((__m128i *)(u + 4 * (4 + i)), _mm512_extracti32x4_epi32(q[i], 1));
        _mm_storeu_si128((__m128i *)(u + 4 * (8 + i)), _mm512_extracti32x4_epi32(q[i], 2));
        _mm_storeu_si128((__m128i *)(u + 4 * (12 + i)), _mm512_extracti32x4_epi32(q[i], 3));
    }
}
#else
/* The rounds of lt_philox4x32 with scalars instead of arrays, which GCC vectorises across the
 * blocks (noinline: inlined into the OpenMP loop, GCC 12 no longer does). */
__attribute__((noinline))
static void philox_blocks(uint64_t block0, uint64_t seed, uint64_t stream, uint32_t *restrict u) {
#pragma omp simd
    for (int l = 0; l < DROP_BLOCKS; l++) {
        uint64_t block = block0 + (uint64_t)l;
        uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int r = 0; r < 10; r++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint32_t)p1, c3 = (uint32_t)p0, c0 = n0, c2 = n2;
            k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
        }
        u[4 * l] = c0, u[4 * l + 1] = c1, u[4 * l + 2] = c2, u[4 * l + 3] = c3;
    }
}
#endif

static int dropout(float *y, const float *x, int64_t n, float p, uint64_t seed, uint64_t stream, int accumulate) {
    float inv = 1.0f / (1.0f - p);
    int64_t chunk = 4 * DROP_BLOCKS, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for if (n >= LT_CPU_PAR_MIN / 8)
    for (int64_t c = 0; c < nchunks; c++) {
        uint32_t u[4 * DROP_BLOCKS]; /* u[4 l + k]: word k of block l, the uniform of element i0 + 4 l + k */
        if (p > 0.0f) philox_blocks((uint64_t)c * DROP_BLOCKS, seed, stream, u);
        int64_t i0 = c * chunk, m = n - i0 < chunk ? n - i0 : chunk;
        for (int64_t j = 0; j < m; j++) {
            float v = (p == 0.0f || lt_u32_to_uniform(u[j]) >= p) ? x[i0 + j] * inv : 0.0f;
            if (accumulate) y[i0 + j] += v;
            else y[i0 + j] = v;
        }
    }
    return 0;
}

/* ---- the slots: f32 in place, bf16 through fp32 copies (wide.c) --------------------------------- */

int lt__cpu_bias_add(lt_backend *be, void *y_, const float *bias, lt_dtype dt, int64_t rows, int64_t cols) {
    if (dt == LT_BF16) { /* one pass, on every GEMM output of the encoder: fused rather than widened */
        uint16_t *y = y_;
#pragma omp parallel for if (rows * cols >= LT_CPU_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            uint16_t *yr = y + r * cols;
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) yr[j] = lt_f32_to_bf16(lt_bf16_to_f32(yr[j]) + bias[j]);
        }
        return 0;
    }
    return bias_add(y_, bias, rows, cols);
}

int lt__cpu_bias_bwd(lt_backend *be, float *dbias, const void *dy_, lt_dtype dt, int64_t rows, int64_t cols) {
    lt__wide w = {0};
    const float *dy = lt__wide_in(&w, dy_, dt, rows * cols);
    return lt__wide_end(&w, "bias_bwd", w.failed ? 0 : bias_bwd(dbias, dy, rows, cols));
}

int lt__cpu_gelu_fwd(lt_backend *be, void *y_, const void *x_, lt_dtype dt, int64_t n) {
    lt__wide w = {0};
    const float *x = lt__wide_in(&w, x_, dt, n);
    float *y = lt__wide_out(&w, y_, dt, n, 0);
    return lt__wide_end(&w, "gelu_fwd", w.failed ? 0 : gelu_fwd(y, x, n));
}

int lt__cpu_gelu_bwd(lt_backend *be, void *dx_, const void *dy_, const void *x_, lt_dtype dt, int64_t n) {
    lt__wide w = {0};
    const float *dy = lt__wide_in(&w, dy_, dt, n), *x = lt__wide_in(&w, x_, dt, n);
    float *dx = lt__wide_out(&w, dx_, dt, n, 1);
    return lt__wide_end(&w, "gelu_bwd", w.failed ? 0 : gelu_bwd(dx, dy, x, n));
}

/* bf16 cross-entropy: the forward widens one row at a time into a thread's own fp32 row (its max and
 * sum run over the whole row; a vocabulary-wide row stays in cache), the backward blocks of a row on
 * the stack; both run the fp32 row code and round what they write once: the same numbers as
 * widening the whole [rows, vocab] tensors, without their traffic. */
typedef struct {
    float *loss, *lse;
    const uint16_t *logits;
    const int32_t *targets;
    int64_t vocab;
    int ignore_index;
} xent16_ctx;

static void xent16_fwd_row(void *ctx, int64_t r, float *xr) {
    const xent16_ctx *c = ctx;
    int64_t V = c->vocab;
    int32_t t = c->targets[r];
    lt__widen(xr, c->logits + r * V, V);
    c->lse[r] = row_lse(xr, V);
    c->loss[r] = t == c->ignore_index ? 0.0f : c->lse[r] - xr[t];
}

static void xent16_bwd(uint16_t *dlogits, const uint16_t *logits, const float *lse, const int32_t *targets,
                       const float *dloss, int64_t rows, int64_t V, int ignore_index) {
    enum { BLOCK = LT_BF16_BLOCK };
#pragma omp parallel for if (rows * V >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int32_t t = targets[r];
        if (t == ignore_index) continue;
        float xb[BLOCK], db[BLOCK];
        const uint16_t *xh = logits + r * V;
        uint16_t *dh = dlogits + r * V;
        for (int64_t j = 0; j < V; j += BLOCK) {
            int64_t n = V - j < BLOCK ? V - j : BLOCK;
            lt__widen(xb, xh + j, n), lt__widen(db, dh + j, n);
            xent_grad_row(db, xb, dloss[r], lse[r], n);
            if (t >= j && t < j + n) db[t - j] -= dloss[r];
            lt__narrow(dh + j, db, n);
        }
    }
}

int lt__cpu_xent_fwd(lt_backend *be, float *loss, float *lse, const void *logits_, const int32_t *targets, lt_dtype dt,
                     int64_t rows, int64_t vocab, int ignore_index) {
    LT_TRY(check_targets("xent_fwd", targets, rows, vocab, ignore_index));
    if (dt == LT_BF16) {
        xent16_ctx c = {loss, lse, logits_, targets, vocab, ignore_index};
        return lt__cpu_rows_scratch(rows, vocab, 1, xent16_fwd_row, &c, "xent_fwd");
    }
    xent_fwd(loss, lse, logits_, targets, rows, vocab, ignore_index);
    return 0;
}

int lt__cpu_xent_bwd(lt_backend *be, void *dlogits_, const void *logits_, const float *lse, const int32_t *targets,
                     const float *dloss, lt_dtype dt, int64_t rows, int64_t vocab, int ignore_index) {
    LT_TRY(check_targets("xent_bwd", targets, rows, vocab, ignore_index));
    if (dt == LT_BF16) xent16_bwd(dlogits_, logits_, lse, targets, dloss, rows, vocab, ignore_index);
    else xent_bwd(dlogits_, logits_, lse, targets, dloss, rows, vocab, ignore_index);
    return 0;
}

int lt__cpu_embedding_bwd(lt_backend *be, void *dtable_, const void *dout_, const int32_t *ids, lt_dtype dt, int64_t n,
                          int64_t vocab, int64_t dim, int32_t skip) {
    LT_TRY(check_ids("embedding_bwd", ids, n, vocab));
    lt__wide w = {0};
    const float *dout = lt__wide_in(&w, dout_, dt, n * dim);
    float *dtable = lt__wide_out(&w, dtable_, dt, vocab * dim, 1);
    return lt__wide_end(&w, "embedding_bwd", w.failed ? 0 : embedding_bwd(dtable, dout, ids, n, dim, skip));
}

int lt__cpu_dropout(lt_backend *be, void *y_, const void *x_, lt_dtype dt, int64_t n, float p, uint64_t seed,
                    uint64_t stream, int accumulate) {
    if (dt == LT_BF16) { /* fused: dropout's loop with bf16 loads and one rounding per store */
        const uint16_t *x = x_;
        uint16_t *y = y_;
        float inv = 1.0f / (1.0f - p);
        int64_t chunk = 4 * DROP_BLOCKS, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for if (n >= LT_CPU_PAR_MIN / 8)
        for (int64_t c = 0; c < nchunks; c++) {
            uint32_t u[4 * DROP_BLOCKS];
            if (p > 0.0f) philox_blocks((uint64_t)c * DROP_BLOCKS, seed, stream, u);
            int64_t i0 = c * chunk, m = n - i0 < chunk ? n - i0 : chunk;
            for (int64_t j = 0; j < m; j++) {
                float v = (p == 0.0f || lt_u32_to_uniform(u[j]) >= p) ? lt_bf16_to_f32(x[i0 + j]) * inv : 0.0f;
                y[i0 + j] = lt_f32_to_bf16(accumulate ? lt_bf16_to_f32(y[i0 + j]) + v : v);
            }
        }
        return 0;
    }
    return dropout(y_, x_, n, p, seed, stream, accumulate);
}
