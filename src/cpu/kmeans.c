/* k-means on the CPU: the fused assignment (nearest centroid per row) and the segmented sums of
 * the centroid update.
 *
 * Assignment. The distance ||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c is a GEMM plus a rank-1 term,
 * and the arg-min only needs ||c||^2 - 2 x.c. Two implementations:
 *  - AVX-512 (the build's default on x86 servers): a register-blocked micro-kernel of 12 rows x
 *    32 centroids (24 zmm accumulators) whose epilogue folds the 32 distances into a running
 *    per-row, per-lane minimum. The rows x centroids block never leaves registers, so the work is
 *    the GEMM's FMAs and nothing else: no n x k matrix, not even a tile of it, goes to memory.
 *  - BLAS (any other CPU, and a cross-check in the tests): tiles of rows x centroids through
 *    sgemm into one buffer, then a parallel arg-min over the tile. BLAS sums a dot product in an
 *    order that depends on where the centroid falls in its kernel's tile, so two equal centroids
 *    can score differently by an ulp; a score within BLAS's rounding bound of the best is decided
 *    by recomputing both in the fixed order the other kernels use (rare: near-ties only), so every
 *    path picks the same centroid.
 * Ties go to the lower centroid index in both: a lane keeps its first minimum (strict <) and
 * lanes merge by (value, index). The AVX-512 kernel adds x_t c_t in order t = 0..d-1 with FMAs,
 * as the CUDA fp32 kernel does, so the two agree on every assignment. dist is then computed
 * directly, ||x - c||^2, for the winner only (lt__cpu_kmeans_dist).
 *
 * Update. Columns are split between threads; every thread walks all rows in order, so each sum
 * is added in row order, in double, whatever the thread count: bit-reproducible. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* The lower of two (value, index) candidates: smaller value, then lower index; NaN loses. */
static inline int km_better(float v, int32_t i, float bv, int32_t bi) { return v < bv || (v == bv && i < bi); }

/* ||x - c||^2 in the one order every backend uses (cuda/kmeans.cu too): 16 interleaved partial
 * sums, s[j % 16] = fmaf(x_j - c_j, x_j - c_j, s[j % 16]), then a halving tree. */
float lt__cpu_kmeans_dist(const float *x, const float *c, int64_t d) {
    float s[16];
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < d; j += 16) {
        __mmask16 m = d - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (d - j)) - 1);
        __m512 diff = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), _mm512_maskz_loadu_ps(m, c + j));
        acc = _mm512_fmadd_ps(diff, diff, acc); /* masked lanes add 0 * 0: unchanged */
    }
    _mm512_storeu_ps(s, acc);
#else
    for (int l = 0; l < 16; l++) s[l] = 0.0f;
    for (int64_t j = 0; j < d; j++) {
        float diff = x[j] - c[j];
        s[j % 16] = fmaf(diff, diff, s[j % 16]);
    }
#endif
    for (int w = 8; w > 0; w >>= 1)
        for (int l = 0; l < w; l++) s[l] += s[l + w];
    return s[0];
}

static inline void km_finish_row(int32_t arg, const float *x, const float *c, int64_t d, int32_t *assign,
                                 float *dist) {
    *assign = arg;
    *dist = lt__cpu_kmeans_dist(x, c + arg * d, d);
}

/* cnorm - 2 x.c with the dot product summed in order t = 0..d-1 by fmaf, as the AVX-512 and the
 * CUDA fp32 kernels do: the score that decides between centroids BLAS cannot tell apart. */
static float km_score_exact(const float *x, const float *c, float cnorm, int64_t d) {
    float s = 0.0f;
    for (int64_t t = 0; t < d; t++) s = fmaf(x[t], c[t], s);
    return cnorm - 2.0f * s;
}

/* ---- BLAS path ------------------------------------------------------------------------------ */

#define KM_TILE_ROWS 512
#define KM_TILE_COLS 2048

int lt__cpu_kmeans_assign_blas(lt_backend *be, int32_t *assign, float *dist, float *second, const float *x,
                               const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d) {
    int64_t tc = k < KM_TILE_COLS ? k : KM_TILE_COLS;
    float *buf = malloc(sizeof(float) * (size_t)(KM_TILE_ROWS * tc));
    float *bv = malloc(sizeof(float) * KM_TILE_ROWS), *bs = malloc(sizeof(float) * KM_TILE_ROWS);
    int32_t *bi = malloc(sizeof(int32_t) * KM_TILE_ROWS);
    float *tol = malloc(sizeof(float) * KM_TILE_ROWS), *be_ = malloc(sizeof(float) * KM_TILE_ROWS);
    float cmax = 0.0f; /* the largest centroid norm: bounds the rounding of every dot product */
    for (int64_t j = 0; j < k; j++) cmax = fmaxf(cmax, sqrtf(fabsf(cnorm[j])));
    int rc = buf && bv && bs && bi && tol && be_ ? 0 : lt_error(LT_ENOMEM, "kmeans_assign: out of memory for a %d x %lld tile",
                                                  KM_TILE_ROWS, (long long)tc);
    if (!rc && d > 0 && !lt__sgemm) rc = lt__blas_open(1);
    for (int64_t r0 = 0; r0 < n && !rc; r0 += KM_TILE_ROWS) {
        int64_t rows = n - r0 < KM_TILE_ROWS ? n - r0 : KM_TILE_ROWS;
#pragma omp parallel for schedule(static) if (rows * d >= LT_CPU_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            bv[r] = bs[r] = INFINITY, bi[r] = 0, be_[r] = NAN;
            float xn = 0.0f;
            for (int64_t t = 0; t < d; t++) xn = fmaf(x[(r0 + r) * d + t], x[(r0 + r) * d + t], xn);
            /* |error of cnorm - 2 x.c| <= (2d + 4) eps (2 |x| |c| + |cnorm|), doubled for margin */
            tol[r] = 2.0f * (float)(2 * d + 4) * FLT_EPSILON * (2.0f * sqrtf(xn) * cmax + cmax * cmax);
        }
        for (int64_t c0 = 0; c0 < k; c0 += tc) {
            int64_t cols = k - c0 < tc ? k - c0 : tc;
            if (d > 0) /* buf[rows, cols] = x_tile c_tile^T; sgemm runs on BLAS's own threads */
                lt__sgemm(LT_CBLAS_ROW_MAJOR, LT_CBLAS_NO_TRANS, LT_CBLAS_TRANS, (int)rows, (int)cols, (int)d, 1.0f,
                          x + r0 * d, (int)d, c + c0 * d, (int)d, 0.0f, buf, (int)cols);
            else
                memset(buf, 0, sizeof(float) * (size_t)(rows * cols));
#pragma omp parallel for schedule(static) if (rows * cols >= LT_CPU_PAR_MIN)
            for (int64_t r = 0; r < rows; r++) {
                const float *ip = buf + r * cols, *xr = x + (r0 + r) * d;
                float best = bv[r], sec = bs[r], bexact = be_[r];
                int32_t arg = bi[r];
                for (int64_t j = 0; j < cols; j++) {
                    int32_t col = (int32_t)(c0 + j);
                    float v = cnorm[col] - 2.0f * ip[j];
                    if (v < best - tol[r]) { /* clearly better (chunks come in index order) */
                        sec = best, best = v, arg = col, bexact = NAN;
                    } else if (v <= best + tol[r]) { /* within BLAS's rounding of the best: decide exactly */
                        if (isnan(bexact)) bexact = km_score_exact(xr, c + (int64_t)arg * d, cnorm[arg], d);
                        float e = km_score_exact(xr, c + (int64_t)col * d, cnorm[col], d);
                        if (km_better(e, col, bexact, arg)) sec = fminf(sec, best), best = v, arg = col, bexact = e;
                        else if (v < sec) sec = v;
                    } else if (v < sec) {
                        sec = v;
                    }
                }
                bv[r] = best, bs[r] = sec, bi[r] = arg, be_[r] = bexact;
            }
        }
#pragma omp parallel for schedule(static) if (rows * d >= LT_CPU_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            km_finish_row(bi[r], x + (r0 + r) * d, c, d, assign + r0 + r, dist + r0 + r);
            if (second) second[r0 + r] = bs[r];
        }
    }
    free(buf), free(bv), free(bs), free(bi), free(tol), free(be_);
    return rc;
}

/* ---- AVX-512 path --------------------------------------------------------------------------- */

#if defined(__AVX512F__)
#define KM_MR 12              /* rows per micro-tile: 2 x 12 accumulators + 2 centroid vectors in 32 zmm */
#define KM_NR 32              /* centroids per panel (two zmm) */
#define KM_MB (KM_MR * 8)     /* rows per block of work handed to a thread */

/* One micro-tile: 12 packed rows xp[d][12] against one packed panel p[d][32] of centroids
 * col0..col0+31, then the epilogue: v = cnorm - 2 x.c folded into the running per-lane minimum
 * bv/bi (12 rows x 16 lanes). Lane l sees centroids col0 + l, then col0 + 16 + l, so the indices
 * a lane visits only grow and strict < keeps the first of equal values. */
#define KM_ACC(r) __m512 a##r##_0 = _mm512_setzero_ps(), a##r##_1 = _mm512_setzero_ps();
#define KM_FMA(r)                                                                                   \
    {                                                                                               \
        __m512 xr = _mm512_set1_ps(xt[r]);                                                          \
        a##r##_0 = _mm512_fmadd_ps(xr, b0, a##r##_0);                                               \
        a##r##_1 = _mm512_fmadd_ps(xr, b1, a##r##_1);                                               \
    }
#define KM_EPI(r)                                                                                   \
    {                                                                                               \
        __m512 best = _mm512_load_ps(bv + 16 * r);                                                  \
        __m512i arg = _mm512_load_si512((const void *)(bi + 16 * r));                               \
        __m512 v = _mm512_fnmadd_ps(two, a##r##_0, cn0);                                            \
        __mmask16 m = _mm512_cmp_ps_mask(v, best, _CMP_LT_OQ);                                      \
        best = _mm512_mask_blend_ps(m, best, v), arg = _mm512_mask_blend_epi32(m, arg, i0);         \
        v = _mm512_fnmadd_ps(two, a##r##_1, cn1);                                                   \
        m = _mm512_cmp_ps_mask(v, best, _CMP_LT_OQ);                                                \
        best = _mm512_mask_blend_ps(m, best, v), arg = _mm512_mask_blend_epi32(m, arg, i1);         \
        _mm512_store_ps(bv + 16 * r, best);                                                         \
        _mm512_store_si512((void *)(bi + 16 * r), arg);                                             \
    }
/* The same, also keeping each lane's runner-up value bs: a value that does not beat the best may
 * still beat the runner-up; one that beats the best pushes the old best down to runner-up. */
#define KM_EPI2(r)                                                                                  \
    {                                                                                               \
        __m512 best = _mm512_load_ps(bv + 16 * r), sec = _mm512_load_ps(bs + 16 * r);               \
        __m512i arg = _mm512_load_si512((const void *)(bi + 16 * r));                               \
        __m512 v = _mm512_fnmadd_ps(two, a##r##_0, cn0);                                            \
        __mmask16 m = _mm512_cmp_ps_mask(v, best, _CMP_LT_OQ);                                      \
        sec = _mm512_mask_blend_ps(m, _mm512_min_ps(sec, v), best);                                 \
        best = _mm512_mask_blend_ps(m, best, v), arg = _mm512_mask_blend_epi32(m, arg, i0);         \
        v = _mm512_fnmadd_ps(two, a##r##_1, cn1);                                                   \
        m = _mm512_cmp_ps_mask(v, best, _CMP_LT_OQ);                                                \
        sec = _mm512_mask_blend_ps(m, _mm512_min_ps(sec, v), best);                                 \
        best = _mm512_mask_blend_ps(m, best, v), arg = _mm512_mask_blend_epi32(m, arg, i1);         \
        _mm512_store_ps(bv + 16 * r, best), _mm512_store_ps(bs + 16 * r, sec);                      \
        _mm512_store_si512((void *)(bi + 16 * r), arg);                                             \
    }
#define KM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

/* km_micro (arg-min only) and km_micro2 (arg-min and runner-up) differ in their epilogue */
#define KM_MICRO(name, EPI)                                                                         \
    static void name(const float *xp, const float *p, int64_t d, const float *cn, int32_t col0, float *bv,  \
                     int32_t *bi, float *bs) {                                                      \
        (void)bs;                                                                                   \
        KM_ROWS(KM_ACC)                                                                             \
        for (int64_t t = 0; t < d; t++) {                                                           \
            __m512 b0 = _mm512_load_ps(p + t * KM_NR), b1 = _mm512_load_ps(p + t * KM_NR + 16);     \
            const float *xt = xp + t * KM_MR;                                                       \
            KM_ROWS(KM_FMA)                                                                         \
        }                                                                                           \
        const __m512 two = _mm512_set1_ps(2.0f), cn0 = _mm512_load_ps(cn), cn1 = _mm512_load_ps(cn + 16); \
        const __m512i i0 = _mm512_add_epi32(                                                        \
            _mm512_set1_epi32(col0), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)); \
        const __m512i i1 = _mm512_add_epi32(i0, _mm512_set1_epi32(16));                            \
        KM_ROWS(EPI)                                                                                \
    }
KM_MICRO(km_micro, KM_EPI)
KM_MICRO(km_micro2, KM_EPI2)

static int assign_avx512(int32_t *assign, float *dist, float *second, const float *x, const float *c,
                         const float *cnorm, int64_t n, int64_t k, int64_t d) {
    int64_t np = (k + KM_NR - 1) / KM_NR;
    /* Centroids packed once per call: panel p is [d][32] (centroid p*32 + j at column j), padded
     * with zero centroids whose norm is +inf so they never win. */
    float *pk = aligned_alloc(64, sizeof(float) * (size_t)(np * KM_NR * (d ? d : 1)));
    float *cn = aligned_alloc(64, sizeof(float) * (size_t)(np * KM_NR));
    if (!pk || !cn) {
        free(pk), free(cn);
        return lt_error(LT_ENOMEM, "kmeans_assign: out of memory packing %lld x %lld centroids", (long long)k,
                        (long long)d);
    }
#pragma omp parallel for schedule(static) if (k * d >= LT_CPU_PAR_MIN)
    for (int64_t p = 0; p < np; p++) {
        for (int j = 0; j < KM_NR; j++) {
            int64_t col = p * KM_NR + j;
            cn[p * KM_NR + j] = col < k ? cnorm[col] : INFINITY;
            for (int64_t t = 0; t < d; t++) pk[(p * d + t) * KM_NR + j] = col < k ? c[col * d + t] : 0.0f;
        }
    }
    int64_t nb = (n + KM_MB - 1) / KM_MB;
    int failed = 0;
#pragma omp parallel if (n * k * d >= LT_CPU_PAR_MIN)
    {
        float *xp = aligned_alloc(64, sizeof(float) * (size_t)(KM_MB * (d ? d : 1)));
        float *bv = aligned_alloc(64, sizeof(float) * KM_MB * 16), *bs = aligned_alloc(64, sizeof(float) * KM_MB * 16);
        int32_t *bi = aligned_alloc(64, sizeof(int32_t) * KM_MB * 16);
        if (!xp || !bv || !bs || !bi) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; b++) {
            if (!xp || !bv || !bs || !bi) continue;
            int64_t r0 = b * KM_MB, rows = n - r0 < KM_MB ? n - r0 : KM_MB;
            int64_t tiles = (rows + KM_MR - 1) / KM_MR;
            /* rows packed per micro-tile as [d][12] (missing rows are zeros) so the kernel
             * broadcasts from one stream */
            for (int64_t m = 0; m < tiles; m++)
                for (int r = 0; r < KM_MR; r++) {
                    int64_t row = m * KM_MR + r;
                    float *dst = xp + m * KM_MR * d + r;
                    if (row < rows)
                        for (int64_t t = 0; t < d; t++) dst[t * KM_MR] = x[(r0 + row) * d + t];
                    else
                        for (int64_t t = 0; t < d; t++) dst[t * KM_MR] = 0.0f;
                }
            for (int64_t i = 0; i < tiles * KM_MR * 16; i++) bv[i] = bs[i] = INFINITY, bi[i] = 0;
            /* the panel stays in L1 while every micro-tile of the block passes over it */
            for (int64_t p = 0; p < np; p++)
                for (int64_t m = 0; m < tiles; m++)
                    (second ? km_micro2 : km_micro)(xp + m * KM_MR * d, pk + p * d * KM_NR, d, cn + p * KM_NR,
                                                    (int32_t)(p * KM_NR), bv + m * KM_MR * 16, bi + m * KM_MR * 16,
                                                    bs + m * KM_MR * 16);
            for (int64_t r = 0; r < rows; r++) {
                const float *v = bv + r * 16, *vs = bs + r * 16;
                const int32_t *ix = bi + r * 16;
                int w = 0; /* the winning lane; the runner-up is its own, or another lane's best */
                for (int l = 1; l < 16; l++)
                    if (km_better(v[l], ix[l], v[w], ix[w])) w = l;
                km_finish_row(ix[w], x + (r0 + r) * d, c, d, assign + r0 + r, dist + r0 + r);
                if (second) {
                    float sec = vs[w];
                    for (int l = 0; l < 16; l++)
                        if (l != w && v[l] < sec) sec = v[l];
                    second[r0 + r] = sec;
                }
            }
        }
        free(xp), free(bv), free(bs), free(bi);
    }
    free(pk), free(cn);
    return failed ? lt_error(LT_ENOMEM, "kmeans_assign: out of memory for per-thread tiles") : 0;
}
#endif

int lt__cpu_kmeans_assign(lt_backend *be, int32_t *assign, float *dist, float *second, const float *x,
                          const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d) {
#if defined(__AVX512F__)
    return assign_avx512(assign, dist, second, x, c, cnorm, n, k, d);
#else
    return lt__cpu_kmeans_assign_blas(be, assign, dist, second, x, c, cnorm, n, k, d);
#endif
}

/* ---- update --------------------------------------------------------------------------------- */

/* LT_KM_CHUNK's order (backend_impl.h), the CUDA kernel's, in one walk over the rows in row order
 * (sequential reads; the sums stay in cache): row i is occurrence occ[i] of its cluster, so it
 * adds into the cluster's total while occ < CHUNK, else into the cluster's current chunk sum,
 * which is added to the total when the next chunk starts and at the end. Only clusters of more
 * than CHUNK rows have a chunk-sum slot: at most n / CHUNK of them. Threads split the columns
 * (slices of whole cache lines). */
int lt__cpu_kmeans_update(lt_backend *be, float *sums, int32_t *counts, const float *x, const int32_t *assign,
                          int64_t n, int64_t k, int64_t d) {
    if (n <= 0) return 0; /* nothing to add (sums keep their bits, as on CUDA) */
    int64_t *cnt = calloc((size_t)(k > 0 ? k : 1), sizeof(int64_t)), *slot = malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1));
    int32_t *occ = malloc(sizeof(int32_t) * (size_t)n);
    double *acc = calloc((size_t)(k * d > 0 ? k * d : 1), sizeof(double));
    if (!cnt || !slot || !occ || !acc) {
        free(cnt), free(slot), free(occ), free(acc);
        return lt_error(LT_ENOMEM, "kmeans_update: out of memory for %lld x %lld sums", (long long)k, (long long)d);
    }
    for (int64_t i = 0; i < n; i++)
        if (assign[i] >= 0 && assign[i] < k) occ[i] = (int32_t)cnt[assign[i]]++;
    int64_t big = 0;
    for (int64_t c = 0; c < k; c++) {
        counts[c] += (int32_t)cnt[c];
        slot[c] = cnt[c] > LT_KM_CHUNK ? big++ : -1;
    }
    double *part = calloc((size_t)(big * d > 0 ? big * d : 1), sizeof(double));
    if (!part) {
        free(cnt), free(slot), free(occ), free(acc);
        return lt_error(LT_ENOMEM, "kmeans_update: out of memory for %lld chunk sums", (long long)big);
    }
    int64_t slice = (d + omp_get_max_threads() - 1) / omp_get_max_threads();
    slice = (slice + 15) / 16 * 16;
    if (slice < 16) slice = 16;
    int64_t ns = (d + slice - 1) / slice;
#pragma omp parallel for schedule(static) if (n * d >= LT_CPU_PAR_MIN && ns > 1)
    for (int64_t s = 0; s < ns; s++) {
        int64_t j0 = s * slice, j1 = j0 + slice < d ? j0 + slice : d;
        for (int64_t i = 0; i < n; i++) {
            int32_t a = assign[i];
            if (a < 0 || a >= k) continue;
            const float *xr = x + i * d;
            double *ar = acc + a * d;
            if (occ[i] < LT_KM_CHUNK) {
                for (int64_t j = j0; j < j1; j++) ar[j] += xr[j];
                continue;
            }
            double *pr = part + slot[a] * d;
            if (occ[i] % LT_KM_CHUNK == 0) { /* a new chunk: the previous one (if not the first) joins the total */
                if (occ[i] > LT_KM_CHUNK)
                    for (int64_t j = j0; j < j1; j++) ar[j] += pr[j];
                for (int64_t j = j0; j < j1; j++) pr[j] = 0.0;
            }
            for (int64_t j = j0; j < j1; j++) pr[j] += xr[j];
        }
        for (int64_t c = 0; c < k; c++) /* the last chunk of each big cluster */
            if (slot[c] >= 0)
                for (int64_t j = j0; j < j1; j++) acc[c * d + j] += part[slot[c] * d + j];
    }
#pragma omp parallel for schedule(static) if (k * d >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < k * d; i++) sums[i] = (float)((double)sums[i] + acc[i]);
    free(cnt), free(slot), free(occ), free(acc), free(part);
    return 0;
}
