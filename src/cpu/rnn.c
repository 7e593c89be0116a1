/* Recurrent layers on the CPU: LSTM and GRU with PyTorch's equations and weight layout (ops.h), fp32.
 *
 * Forward over x[B, T, I], right-padded (sequence b has lens[b] steps):
 *   xg[B*T, G*H] = x W_ih^T                       one GEMM over every step, into the reserve
 *   per step t, over the rows still running (lens > t): with the rows ordered by length, longest
 *   first (an order kept here: callers never sort), they are a prefix of n_t rows, so
 *     hg[n_t, G*H] = h_{t-1} W_hh^T                one GEMM of the active rows
 *     gates, c, h                                   one fused, vectorised loop per row
 *   rows that have finished write y = 0 and keep their state.
 * Backward through time, t = T-1 .. 0, over the same prefixes:
 *     dG_t                                          the fused gate backward per active row
 *     dh_{t-1} = dG_t W_hh  (+ the GRU's z dh)      one GEMM of the active rows
 *   then, over all steps at once: dW_ih += dG^T x, dx += dG W_ih, dW_hh += dGh^T h_prev (h_prev is
 *   saved per step, so this is one GEMM too), and the bias sums.
 *
 * The reserve (fp32 rows in x's [B, T] order, padded steps included):
 *   gates [B*T, G*H]  activations: LSTM i f g o, GRU r z n
 *   hprev [B*T, H]    the state each step started from (0 on padded steps)
 *   aux   [B*T, H]    LSTM: c after the step; GRU: W_hn h + b_hn (the term r multiplies)
 *
 * Every element is computed by one thread in a fixed order (GEMMs are split over rows or columns
 * only, bias sums over columns), so results do not depend on the number of threads. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

/* libmvec's vector tanhf (glibc >= 2.35), as cpu.h declares expf and erff */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
float tanhf(float);
#endif

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Below this many elements per step, the gate loops run on one thread. */
#define RNN_PAR_MIN 4096

static int64_t gates_of(lt_cell cell) { return cell == LT_CELL_LSTM ? 4 : 3; }

int lt__cpu_rnn_reserve(lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, size_t *bytes) {
    *bytes = sizeof(float) * (size_t)(B * T) * (size_t)((gates_of(cell) + 2) * H);
    return 0;
}

/* Rows ordered by length, longest first (stable), and n[t] = the number of rows with lens > t. */
typedef struct {
    int64_t *perm, *n;
} order;

static int order_make(order *o, const int32_t *lens, int64_t B, int64_t T) {
    o->perm = malloc(sizeof(int64_t) * (size_t)B), o->n = calloc((size_t)T + 1, sizeof(int64_t));
    int64_t *count = calloc((size_t)T + 2, sizeof(int64_t));
    if (!o->perm || !o->n || !count) {
        free(o->perm), free(o->n), free(count);
        return lt_error(LT_ENOMEM, "rnn: out of memory");
    }
    for (int64_t b = 0; b < B; b++) count[T - lens[b]]++; /* bucket 0 = the longest */
    for (int64_t k = 1; k <= T + 1; k++) count[k] += count[k - 1];
    for (int64_t b = B - 1; b >= 0; b--) o->perm[--count[T - lens[b]]] = b;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < lens[b]; t++) o->n[t]++;
    free(count);
    return 0;
}

static void order_free(order *o) { free(o->perm), free(o->n); }

/* acc[cols] += column sums of m[rows, cols], each column summed in row order by one thread. */
static void colsum_acc(float *acc, const float *m, int64_t rows, int64_t cols) {
    int64_t blocks = (cols + 63) / 64;
#pragma omp parallel for schedule(static) if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t k = 0; k < blocks; k++) {
        int64_t j0 = k * 64, w = cols - j0 < 64 ? cols - j0 : 64;
        float s[64] = {0};
        for (int64_t r = 0; r < rows; r++) {
            const float *row = m + r * cols + j0;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) s[j] += row[j];
        }
        for (int64_t j = 0; j < w; j++) acc[j0 + j] += s[j];
    }
}

/* C[m,n] = alpha op(A) op(B) + beta C, the larger side cut into blocks whose number and size depend on
 * the shape only (at most 8, at multiples of 16 rows or columns), one single-threaded BLAS call each,
 * spread over the threads: the same calls, so the same bits, with any number of threads. */
static void gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    int rows = m >= n;
    int64_t dim = rows ? m : n, nb = dim / 64;
    if (nb > 8) nb = 8;
    if (nb < 1 || (double)m * n * k < (1 << 18)) nb = 1;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t t = 0; t < nb; t++) {
        int64_t lo = t == 0 ? 0 : (dim * t / nb) & ~(int64_t)15, hi = t == nb - 1 ? dim : (dim * (t + 1) / nb) & ~(int64_t)15;
        const float *at = a, *bt = b;
        float *ct = c;
        if (rows) at = ta ? a + lo : a + lo * lda, ct = c + lo * ldc;
        else bt = tb ? b + lo * ldb : b + lo, ct = c + lo;
        lt__cpu_sgemm1(ta, tb, rows ? hi - lo : m, rows ? n : hi - lo, k, alpha, at, lda, bt, ldb, beta, ct, ldc);
    }
}

/* ---- forward ------------------------------------------------------------------------------------ */

/* One LSTM step of one row. g[4H]: x W_ih^T (pre-activations in, activations out); hh[4H]: h W_hh^T;
 * bias[4H] = b_ih + b_hh; c[H], h[H]: the state (updated); y, cout: the new h and c. */
static void lstm_row(float *restrict g, const float *restrict hh, const float *restrict bias, float *restrict c,
                     float *restrict h, float *restrict y, float *restrict cout, int64_t H) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        float ig = sigm(g[j] + hh[j] + bias[j]);
        float fg = sigm(g[H + j] + hh[H + j] + bias[H + j]);
        float gg = tanhf(g[2 * H + j] + hh[2 * H + j] + bias[2 * H + j]);
        float og = sigm(g[3 * H + j] + hh[3 * H + j] + bias[3 * H + j]);
        float cn = fg * c[j] + ig * gg, hn = og * tanhf(cn);
        g[j] = ig, g[H + j] = fg, g[2 * H + j] = gg, g[3 * H + j] = og;
        c[j] = cn, h[j] = hn, y[j] = hn, cout[j] = cn;
    }
}

/* One GRU step of one row. bias[3H] = b_ih + b_hh for r and z, b_in for n; bhn[H] = b_hn.
 * hn_out[H] = W_hn h + b_hn (kept for backward). */
static void gru_row(float *restrict g, const float *restrict hh, const float *restrict bias,
                    const float *restrict bhn, float *restrict h, float *restrict y, float *restrict hn_out,
                    int64_t H) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        float rg = sigm(g[j] + hh[j] + bias[j]);
        float zg = sigm(g[H + j] + hh[H + j] + bias[H + j]);
        float hn = hh[2 * H + j] + bhn[j];
        float ng = tanhf(g[2 * H + j] + bias[2 * H + j] + rg * hn);
        float hv = (1.0f - zg) * ng + zg * h[j];
        g[j] = rg, g[H + j] = zg, g[2 * H + j] = ng;
        h[j] = hv, y[j] = hv, hn_out[j] = hn;
    }
}

int lt__cpu_rnn_fwd(lt_backend *be, lt_cell cell, float *y, float *hT, float *cT, void *ws, const float *x,
                    const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0,
                    const float *c0, const int32_t *lens, int64_t B, int64_t T, int64_t I, int64_t H) {
    const int lstm = cell == LT_CELL_LSTM;
    const int64_t G = gates_of(cell), GH = G * H, N = B * T;
    if (!lt__sgemm) return lt_error(LT_ENOTSUP, "rnn_fwd: no BLAS library was loaded (%s)", lt__blas_describe());
    size_t wsb;
    lt__cpu_rnn_reserve(be, cell, B, T, I, H, &wsb);
    void *own = NULL;
    if (!ws && !(ws = own = malloc(wsb))) return lt_error(LT_ENOMEM, "rnn_fwd: out of memory (%zu bytes)", wsb);
    float *gates = ws, *hprev = gates + N * GH, *aux = hprev + N * H;
    order o;
    float *bias = calloc((size_t)(GH + H), sizeof(float)), *hs = malloc(sizeof(float) * (size_t)(B * H));
    float *cs = malloc(sizeof(float) * (size_t)(B * H)), *hg = malloc(sizeof(float) * (size_t)(B * GH));
    int rc = order_make(&o, lens, B, T);
    if (!rc && (!bias || !hs || !cs || !hg)) {
        order_free(&o);
        rc = lt_error(LT_ENOMEM, "rnn_fwd: out of memory");
    }
    if (rc) {
        free(own), free(bias), free(hs), free(cs), free(hg);
        return rc;
    }
    /* bias[GH]: every bias that is simply added; bhn[H]: the GRU's b_hn, which r multiplies */
    float *bhn = bias + GH;
    for (int64_t j = 0; j < GH; j++) {
        int hside_n = !lstm && j >= 2 * H;
        bias[j] = (b_ih ? b_ih[j] : 0) + (b_hh && !hside_n ? b_hh[j] : 0);
        if (hside_n && b_hh) bhn[j - 2 * H] = b_hh[j];
    }
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (h0) memcpy(hs + i * H, h0 + b * H, sizeof(float) * (size_t)H);
        else memset(hs + i * H, 0, sizeof(float) * (size_t)H);
        if (c0 && lstm) memcpy(cs + i * H, c0 + b * H, sizeof(float) * (size_t)H);
        else memset(cs + i * H, 0, sizeof(float) * (size_t)H);
    }

    gemm(0, 1, N, GH, I, 1.0f, x, I, w_ih, I, 0.0f, gates, GH); /* xg = x W_ih^T */
    for (int64_t t = 0; t < T; t++) {
        int64_t n = o.n[t];
        gemm(0, 1, n, GH, H, 1.0f, hs, H, w_hh, H, 0.0f, hg, GH); /* hg = h W_hh^T, active rows */
#pragma omp parallel for schedule(static) if (B * GH >= RNN_PAR_MIN)
        for (int64_t i = 0; i < B; i++) {
            int64_t b = o.perm[i], r = b * T + t;
            float *yr = y + r * H, *hp = hprev + r * H, *ax = aux + r * H;
            if (i >= n) { /* finished: y = 0, the state stays */
                memset(yr, 0, sizeof(float) * (size_t)H);
                memset(hp, 0, sizeof(float) * (size_t)H);
                memset(ax, 0, sizeof(float) * (size_t)H);
                continue;
            }
            memcpy(hp, hs + i * H, sizeof(float) * (size_t)H);
            if (lstm) lstm_row(gates + r * GH, hg + i * GH, bias, cs + i * H, hs + i * H, yr, ax, H);
            else gru_row(gates + r * GH, hg + i * GH, bias, bhn, hs + i * H, yr, ax, H);
        }
    }
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (hT) memcpy(hT + b * H, hs + i * H, sizeof(float) * (size_t)H);
        if (cT && lstm) memcpy(cT + b * H, cs + i * H, sizeof(float) * (size_t)H);
    }
    order_free(&o);
    free(own), free(bias), free(hs), free(cs), free(hg);
    return 0;
}

/* ---- backward ------------------------------------------------------------------------------------ */

/* LSTM gate backward of one row. dh[H] (in: the gradient of h after the step, without dy; out:
 * untouched, the GEMM overwrites it), dc[H] in: of c after the step, out: of c before it. */
static void lstm_row_bwd(const float *restrict g, const float *restrict c, const float *restrict cprev,
                         const float *restrict dy, const float *restrict dh, float *restrict dc,
                         float *restrict dg, float *restrict dstep, int64_t H) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        float ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
        float d = dh[j] + dy[j], tc = tanhf(c[j]);
        float dcj = dc[j] + d * og * (1.0f - tc * tc);
        float di = dcj * gg * ig * (1.0f - ig), df = dcj * cprev[j] * fg * (1.0f - fg);
        float dgg = dcj * ig * (1.0f - gg * gg), dog = d * tc * og * (1.0f - og);
        dg[j] = dstep[j] = di, dg[H + j] = dstep[H + j] = df;
        dg[2 * H + j] = dstep[2 * H + j] = dgg, dg[3 * H + j] = dstep[3 * H + j] = dog;
        dc[j] = dcj * fg;
    }
}

/* GRU gate backward of one row: dgx[3H] the gradient of the x-side pre-activations, dgh (and
 * dstep) the h side's (they differ in n: r multiplies W_hn h + b_hn); dh becomes z dh. */
static void gru_row_bwd(const float *restrict g, const float *restrict hn, const float *restrict hp,
                        const float *restrict dy, float *restrict dh, float *restrict dgx, float *restrict dgh,
                        float *restrict dstep, int64_t H) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        float rg = g[j], zg = g[H + j], ng = g[2 * H + j];
        float d = dh[j] + dy[j];
        float dn = d * (1.0f - zg) * (1.0f - ng * ng);
        float dz = d * (hp[j] - ng) * zg * (1.0f - zg);
        float dr = dn * hn[j] * rg * (1.0f - rg);
        dgx[j] = dgh[j] = dstep[j] = dr;
        dgx[H + j] = dgh[H + j] = dstep[H + j] = dz;
        dgx[2 * H + j] = dn;
        dgh[2 * H + j] = dstep[2 * H + j] = dn * rg;
        dh[j] = d * zg;
    }
}

int lt__cpu_rnn_bwd(lt_backend *be, lt_cell cell, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                    float *dh0, float *dc0, const float *dy, const float *dhT, const float *dcT, const void *ws,
                    const float *x, const float *y, const float *w_ih, const float *w_hh, const float *b_ih,
                    const float *b_hh, const float *h0, const float *c0, const int32_t *lens, int64_t B, int64_t T,
                    int64_t I, int64_t H) {
    const int lstm = cell == LT_CELL_LSTM;
    const int64_t G = gates_of(cell), GH = G * H, N = B * T;
    const float *gates = ws, *hprev = gates + N * GH, *aux = hprev + N * H;
    if (!lt__sgemm) return lt_error(LT_ENOTSUP, "rnn_bwd: no BLAS library was loaded (%s)", lt__blas_describe());
    order o;
    LT_TRY(order_make(&o, lens, B, T));
    float *dg = malloc(sizeof(float) * (size_t)(N * GH)), *dgh = lstm ? dg : malloc(sizeof(float) * (size_t)(N * GH));
    float *dhs = malloc(sizeof(float) * (size_t)(B * H)), *dcs = malloc(sizeof(float) * (size_t)(B * H));
    float *dstep = malloc(sizeof(float) * (size_t)(B * GH)), *zero = calloc((size_t)H, sizeof(float));
    if (!dg || !dgh || !dhs || !dcs || !dstep || !zero) {
        order_free(&o);
        if (dgh != dg) free(dgh);
        free(dg), free(dhs), free(dcs), free(dstep), free(zero);
        return lt_error(LT_ENOMEM, "rnn_bwd: out of memory");
    }
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (dhT) memcpy(dhs + i * H, dhT + b * H, sizeof(float) * (size_t)H);
        else memset(dhs + i * H, 0, sizeof(float) * (size_t)H);
        if (dcT && lstm) memcpy(dcs + i * H, dcT + b * H, sizeof(float) * (size_t)H);
        else memset(dcs + i * H, 0, sizeof(float) * (size_t)H);
    }
    for (int64_t t = T - 1; t >= 0; t--) {
        int64_t n = o.n[t];
#pragma omp parallel for schedule(static) if (B * GH >= RNN_PAR_MIN)
        for (int64_t i = 0; i < B; i++) {
            int64_t b = o.perm[i], r = b * T + t;
            if (i >= n) { /* a padded step: no gradient; dh, dc pass through */
                memset(dg + r * GH, 0, sizeof(float) * (size_t)GH);
                if (dgh != dg) memset(dgh + r * GH, 0, sizeof(float) * (size_t)GH);
                continue;
            }
            if (lstm) {
                const float *cprev = t > 0 ? aux + (r - 1) * H : c0 ? c0 + b * H : zero;
                lstm_row_bwd(gates + r * GH, aux + r * H, cprev, dy + r * H, dhs + i * H, dcs + i * H, dg + r * GH,
                             dstep + i * GH, H);
            } else {
                gru_row_bwd(gates + r * GH, aux + r * H, hprev + r * H, dy + r * H, dhs + i * H, dg + r * GH,
                            dgh + r * GH, dstep + i * GH, H);
            }
        }
        /* dh_{t-1} = dG_t W_hh (LSTM), z dh + dGh_t W_hh (GRU), for the active rows */
        gemm(0, 0, n, H, GH, 1.0f, dstep, GH, w_hh, H, lstm ? 0.0f : 1.0f, dhs, H);
    }
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (dh0)
            for (int64_t j = 0; j < H; j++) dh0[b * H + j] += dhs[i * H + j];
        if (dc0 && lstm)
            for (int64_t j = 0; j < H; j++) dc0[b * H + j] += dcs[i * H + j];
    }
    /* over every step at once */
    if (dw_ih) gemm(1, 0, GH, I, N, 1.0f, dg, GH, x, I, 1.0f, dw_ih, I);
    if (dx) gemm(0, 0, N, I, GH, 1.0f, dg, GH, w_ih, I, 1.0f, dx, I);
    gemm(1, 0, GH, H, N, 1.0f, dgh, GH, hprev, H, 1.0f, dw_hh, H);
    if (db_ih) colsum_acc(db_ih, dg, N, GH);
    if (db_hh) colsum_acc(db_hh, dgh, N, GH);
    order_free(&o);
    if (dgh != dg) free(dgh);
    free(dg), free(dhs), free(dcs), free(dstep), free(zero);
    return 0;
}
