/* The CPU's per-tile kernels for softmax ranking and top-K scoring; the chunk loops that call
 * them are in src/core/rank.c (the design is described there). Rows run in parallel; within a
 * row the loops are plain C that the compiler vectorises, plus an AVX2 prefilter for top-K. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

/* ---- softmax cross-entropy tiles ---------------------------------------------------------------- */

int lt__cpu_xent_tile_fwd(lt_backend *be, float *loss, float *lse, float *m, float *l, float *ts, float *s,
                          const float *bias, const int32_t *targets, int64_t B, int64_t n, int64_t j0, int64_t N,
                          int tcol0, int first, int last) {
    if (first)
        for (int64_t b = 0; b < B; b++)
            if (targets[b] >= N)
                return lt_error(LT_ERANGE, "%s: target %d of row %lld is outside [0, %lld)",
                                tcol0 ? "sampled_xent_fwd" : "catalog_xent_fwd", targets[b], (long long)b,
                                (long long)N);
#pragma omp parallel for if (B * n >= LT_CPU_PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        float *sr = s + b * n;
        if (bias) {
#pragma omp simd
            for (int64_t j = 0; j < n; j++) sr[j] += bias[j];
        }
        if (first) m[b] = -INFINITY, l[b] = 0, ts[b] = 0;
        float mx = lt__row_max(sr, n, 1.0f), mn = m[b] > mx ? m[b] : mx;
        if (mn > -INFINITY) { /* a tile of only -inf scores adds nothing */
            float sum = lt__row_sumexp(sr, n, mn);
            l[b] = l[b] * expf(m[b] - mn) + sum;
            m[b] = mn;
        }
        int64_t t = targets[b], pos = tcol0 ? 0 : t - j0;
        if (t >= 0 && pos >= 0 && pos < n) ts[b] = sr[pos];
        if (last) {
            lse[b] = m[b] + logf(l[b]);
            loss[b] = t < 0 ? 0.0f : lse[b] - ts[b];
        }
    }
    return 0;
}

int lt__cpu_xent_tile_bwd(lt_backend *be, float *s, float *dbias, const float *bias, const float *lse,
                          const float *dloss, const int32_t *targets, int64_t B, int64_t n, int64_t j0, int tcol0) {
#pragma omp parallel for if (B * n >= LT_CPU_PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        float *sr = s + b * n;
        int64_t t = targets[b], pos = tcol0 ? 0 : t - j0;
        if (t < 0) {
            memset(sr, 0, sizeof(float) * (size_t)n);
            continue;
        }
        float g = dloss[b], L = lse[b];
        if (bias) {
#pragma omp simd
            for (int64_t j = 0; j < n; j++) sr[j] = g * expf(sr[j] + bias[j] - L);
        } else {
#pragma omp simd
            for (int64_t j = 0; j < n; j++) sr[j] = g * expf(sr[j] - L);
        }
        if (pos >= 0 && pos < n) sr[pos] -= g;
    }
    if (!dbias) return 0;
    if (!omp_in_parallel()) return lt__cpu_bias_bwd(be, dbias, s, LT_F32, B, n);
    /* one thread of the driver's parallel loop (src/core/rank.c): the rows in order, here */
    for (int64_t b = 0; b < B; b++) {
        const float *sr = s + b * n;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) dbias[j] += sr[j];
    }
    return 0;
}

/* ---- sampled softmax ------------------------------------------------------------------------------ */

int lt__cpu_sampled_prep(lt_backend *be, float *s, const float *u, const float *v, const float *bias,
                         const float *logq, const int32_t *targets, const int32_t *neg, int64_t B, int64_t S,
                         int64_t D, int64_t N) {
    for (int64_t b = 0; b < B; b++)
        if (targets[b] >= N)
            return lt_error(LT_ERANGE, "sampled_xent: target %d of row %lld is outside [0, %lld)", targets[b],
                            (long long)b, (long long)N);
    for (int64_t k = 0; k < S; k++)
        if (neg[k] < 0 || neg[k] >= N)
            return lt_error(LT_ERANGE, "sampled_xent: negative %d at %lld is outside [0, %lld)", neg[k], (long long)k,
                            (long long)N);
#pragma omp parallel for if (B * S >= LT_CPU_PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        float *sr = s + b * (S + 1);
        int32_t t = targets[b];
        if (t >= 0) {
            const float *ub = u + b * D, *vt = v + (int64_t)t * D;
            float dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int64_t d = 0; d < D; d++) dot += ub[d] * vt[d];
            sr[0] = dot + (bias ? bias[t] : 0.0f) - (logq ? logq[t] : 0.0f);
        } else {
            sr[0] = 0;
        }
        for (int64_t k = 0; k < S; k++) {
            int32_t j = neg[k];
            sr[1 + k] = j == t ? -INFINITY : sr[1 + k] + (bias ? bias[j] : 0.0f) - (logq ? logq[j] : 0.0f);
        }
    }
    return 0;
}

int lt__cpu_sampled_scatter(lt_backend *be, float *du, float *dv, float *dbias, const float *ds, const float *u,
                            const float *v, const int32_t *targets, const int32_t *neg, int64_t B, int64_t S,
                            int64_t D) {
    int64_t ld = S + 1;
    if (du) {
#pragma omp parallel for if (B * D >= LT_CPU_PAR_MIN)
        for (int64_t b = 0; b < B; b++) {
            if (targets[b] < 0) continue;
            float g = ds[b * ld];
            const float *vt = v + (int64_t)targets[b] * D;
            for (int64_t d = 0; d < D; d++) du[b * D + d] += g * vt[d];
        }
    }
    if (dv) { /* rows in order, so rows sharing a target add up the same way every run */
        for (int64_t b = 0; b < B; b++) {
            if (targets[b] < 0) continue;
            float g = ds[b * ld], *dt = dv + (int64_t)targets[b] * D;
            const float *ub = u + b * D;
            for (int64_t d = 0; d < D; d++) dt[d] += g * ub[d];
        }
    }
    if (dbias) {
        for (int64_t k = 0; k < S; k++) {
            float cs = 0;
            for (int64_t b = 0; b < B; b++) cs += ds[b * ld + 1 + k];
            dbias[neg[k]] += cs;
        }
        for (int64_t b = 0; b < B; b++)
            if (targets[b] >= 0) dbias[targets[b]] += ds[b * ld];
    }
    return 0;
}

/* ---- top-K merge ---------------------------------------------------------------------------------- */

/* The ranking as one 64-bit number, the same on both backends (cuda/rank.cu): an order-preserving
 * key of the score in the high half (-0 = +0) and ~id in the low half, so larger = ranks higher
 * and equal scores go to the lower id. 0 (below every real entry) is an empty slot. */
static inline uint64_t entry_of(float f, int32_t id) {
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b << 1) == 0) b = 0;
    uint32_t key = (b & 0x80000000u) ? ~b : b | 0x80000000u;
    return (uint64_t)key << 32 | (uint32_t)(0xffffffffu - (uint32_t)id);
}

static inline float value_of(uint64_t e) {
    uint32_t key = (uint32_t)(e >> 32), b = (key & 0x80000000u) ? key & 0x7fffffffu : ~key;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* Insert e into the sorted (descending) list h[K] whose last entry it beats. */
static inline void insert(uint64_t *h, int K, uint64_t e) {
    int lo = 0, hi = K - 1; /* first position whose entry is below e */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (h[mid] < e) hi = mid;
        else lo = mid + 1;
    }
    memmove(h + lo + 1, h + lo, sizeof(uint64_t) * (size_t)(K - 1 - lo));
    h[lo] = e;
}

int lt__cpu_topk_tile(lt_backend *be, float *vals, int32_t *idx, float *s, const float *bias, int64_t B, int64_t n,
                      int64_t j0, int K, const int64_t *excl_off, const int32_t *excl_ids) {
#pragma omp parallel for schedule(dynamic, 4) if (B * n >= LT_CPU_PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        float *sr = s + b * n, *vr = vals + b * K;
        int32_t *ir = idx + b * K;
        if (excl_off) /* excluded items become NaN, which no comparison below accepts */
            for (int64_t e = excl_off[b]; e < excl_off[b + 1]; e++) {
                int64_t j = (int64_t)excl_ids[e] - j0;
                if (j >= 0 && j < n) sr[j] = NAN;
            }
        uint64_t hbuf[LT_TOPK_MAX];
        uint64_t *h = hbuf;
        for (int k = 0; k < K; k++) h[k] = ir[k] < 0 ? 0 : entry_of(vr[k], ir[k]);
        /* thr: the score an item must reach to be looked at (the K-th best's, or -inf) */
        float thr = h[K - 1] ? value_of(h[K - 1]) : -INFINITY;
        int changed = 0;
#define CONSIDER(j, x)                                                                 \
    do {                                                                               \
        uint64_t e_ = entry_of((x), (int32_t)(j0 + (j)));                              \
        if (e_ > h[K - 1]) {                                                           \
            insert(h, K, e_);                                                          \
            changed = 1;                                                               \
            if (h[K - 1]) thr = value_of(h[K - 1]);                                    \
        }                                                                              \
    } while (0)
        int64_t j = 0;
#if defined(__AVX2__)
        for (; j + 8 <= n; j += 8) {
            __m256 x = _mm256_loadu_ps(sr + j);
            if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + j));
            unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, _mm256_set1_ps(thr), _CMP_GE_OQ));
            while (mask) {
                int q = __builtin_ctz(mask);
                mask &= mask - 1;
                float xv = bias ? sr[j + q] + bias[j + q] : sr[j + q];
                if (xv >= thr) CONSIDER(j + q, xv);
            }
        }
#endif
        for (; j < n; j++) {
            float xv = bias ? sr[j] + bias[j] : sr[j];
            if (xv >= thr) CONSIDER(j, xv);
        }
#undef CONSIDER
        if (changed)
            for (int k = 0; k < K; k++) {
                vr[k] = h[k] ? value_of(h[k]) : -INFINITY;
                ir[k] = h[k] ? (int32_t)(0xffffffffu - (uint32_t)h[k]) : -1;
            }
    }
    return 0;
}
