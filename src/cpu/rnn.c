/* Recurrent layers on the CPU: LSTM and GRU with PyTorch's equations and weight layout (ops.h), fp32 (bf16
 * activations run the same kernels on widened copies: see the end of the file).
 *
 * Forward over x[B, T, I], right-padded (sequence b has lens[b] steps):
 *   xg[B*T, G*H] = x W_ih^T                       one GEMM over every step, into the reserve
 *   per step t, over the rows still running (lens > t): with the rows ordered by length, longest
 *   first (an order kept here: callers never sort), they are a prefix of n_t rows. The step is cut
 *   into tiles of (up to 128 rows) x (a chunk of about 128 hidden units, every gate of them); a tile
 *     hg = h_{t-1} W_hh[its gate rows]^T            one GEMM (its rows, all of h_{t-1})
 *     gates, c, h of its units                      one fused, vectorised loop per row
 *   with h double-buffered, so a tile of step t waits only for step t-1 to be complete (no barrier:
 *   see "steps of tiles" below). Rows that have finished write y = 0 and keep their state.
 * Backward through time, t = T-1 .. 0, tiled the same way:
 *     dh_t[its units] = dG_{t+1} W_hh[:, its units] (+ the GRU's z dh)   one GEMM
 *     dG_t of its units                             the fused gate backward per active row
 *   then, over all steps at once: dW_ih += dG^T x, dx += dG W_ih, dW_hh += dGh^T h_prev (h_prev is
 *   saved per step, so this is one GEMM too), and the bias sums.
 * Inside, gate columns are ordered chunk by chunk ([i f g o] of units u0..u1, then the next chunk), so
 * a tile's gates are contiguous; the weights are permuted once per call and gradients permuted back.
 *
 * Activations are kept packed, step by step (the running rows of step 0, then of step 1, ...: the
 * layout of torch's PackedSequence), so padded steps cost no GEMM work and no memory traffic. The
 * reserve, for at most N = B*T packed rows (fp32):
 *   gates [N, G*H]  activations (LSTM i f g o; GRU r z n), chunk order
 *   hprev [N, H]    the state each step started from
 *   aux   [N, H]    LSTM: c after the step; GRU: W_hn h + b_hn (the term r multiplies)
 *   xp    [N, I]    x in packed order (for dW_ih)
 *   dG    [N, G*H]  backward's scratch (GRU: twice, x side and h side), then dx [N, I] packed
 *
 * Tiles and GEMM blocks depend on the shapes only, and every element is computed by one thread in a
 * fixed order, so results are the same bits with any number of threads. */
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
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

/* Rows ordered by length, longest first (stable); n[t] = the number of rows with lens > t, the rows
 * running at step t, which are 0 .. n[t]-1 in this order; off[t] = n[0] + ... + n[t-1], where step t's
 * rows start in the packed (step-major, PackedSequence-like) arrays; off[T] = the real steps in all. */
typedef struct {
    int64_t *perm, *n, *off;
} order;

static int order_make(order *o, const int32_t *lens, int64_t B, int64_t T) {
    o->perm = malloc(sizeof(int64_t) * (size_t)B), o->n = calloc((size_t)T + 1, sizeof(int64_t));
    o->off = calloc((size_t)T + 1, sizeof(int64_t));
    int64_t *count = calloc((size_t)T + 2, sizeof(int64_t));
    if (!o->perm || !o->n || !o->off || !count) {
        free(o->perm), free(o->n), free(o->off), free(count);
        return lt_error(LT_ENOMEM, "rnn: out of memory");
    }
    for (int64_t b = 0; b < B; b++) count[T - lens[b]]++; /* bucket 0 = the longest */
    for (int64_t k = 1; k <= T + 1; k++) count[k] += count[k - 1];
    for (int64_t b = B - 1; b >= 0; b--) o->perm[--count[T - lens[b]]] = b;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < lens[b]; t++) o->n[t]++;
    for (int64_t t = 0; t < T; t++) o->off[t + 1] = o->off[t] + o->n[t];
    free(count);
    return 0;
}

static void order_free(order *o) { free(o->perm), free(o->n), free(o->off); }

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
#pragma omp parallel for schedule(dynamic, 1) if (nb > 1)
    for (int64_t t = 0; t < nb; t++) {
        int64_t lo = t == 0 ? 0 : (dim * t / nb) & ~(int64_t)15, hi = t == nb - 1 ? dim : (dim * (t + 1) / nb) & ~(int64_t)15;
        const float *at = a, *bt = b;
        float *ct = c;
        if (rows) at = ta ? a + lo : a + lo * lda, ct = c + lo * ldc;
        else bt = tb ? b + lo * ldb : b + lo, ct = c + lo;
        lt__cpu_sgemm1(ta, tb, rows ? hi - lo : m, rows ? n : hi - lo, k, alpha, at, lda, bt, ldb, beta, ct, ldc);
    }
}

/* ---- steps of tiles ------------------------------------------------------------------------------ */
/* The tiles of step s need every tile of step s-1 finished, nothing more. Instead of a barrier per
 * step, threads take tickets in order (step by step, tile by tile) and a thread waits only when the
 * tile it took belongs to a step whose predecessor is still running. So a thread that the OS puts
 * aside while it holds no tile holds nobody up (on a busy machine, the others carry on alone), and
 * which thread runs a tile never changes what the tile computes. */
typedef void (*tile_fn)(void *ctx, int64_t s, int64_t tile);

typedef struct {
    int64_t S, *off; /* off[s]: the first ticket of step s; off[S]: the total */
    atomic_llong next, *done;
} steps;

static int steps_make(steps *st, int64_t S) {
    st->S = S;
    st->off = calloc((size_t)S + 1, sizeof *st->off);
    st->done = calloc((size_t)S + 1, sizeof *st->done);
    if (!st->off || !st->done) {
        free(st->off), free(st->done);
        return lt_error(LT_ENOMEM, "rnn: out of memory");
    }
    for (int64_t s = 0; s <= S; s++) atomic_init(&st->done[s], 0);
    atomic_init(&st->next, 0);
    return 0;
}

static void steps_free(steps *st) { free(st->off), free((void *)st->done); }

static void wait_for(atomic_llong *count, long long want) {
    for (int spin = 0; atomic_load_explicit(count, memory_order_acquire) < want; spin++) {
        if (spin < 2000) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield(); /* let the thread we wait for have this core */
        }
    }
}

/* st->off must hold the tile counts' prefix sums. */
static void steps_run(steps *st, tile_fn fn, void *ctx, int parallel) {
    long long total = (long long)st->off[st->S];
#pragma omp parallel if (parallel)
    {
        int64_t s = 0;
        for (;;) {
            long long k = atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed);
            if (k >= total) break;
            while (st->off[s + 1] <= k) s++;
            if (s > 0) wait_for(&st->done[s - 1], (long long)(st->off[s] - st->off[s - 1]));
            fn(ctx, s, k - st->off[s]);
            atomic_fetch_add_explicit(&st->done[s], 1, memory_order_release);
        }
    }
}

/* ---- layout: chunks of hidden units -------------------------------------------------------------- */

#define RNN_ROWS 128 /* rows per tile */
#ifndef RNN_UNITS
#define RNN_UNITS 128 /* about this many hidden units per tile */
#endif

typedef struct {
    int64_t H, G, GH, cw, nc; /* chunk c holds units [c cw, min(H, (c + 1) cw)) */
} plan;

static plan plan_make(lt_cell cell, int64_t H) {
    plan p = {.H = H, .G = gates_of(cell)};
    p.GH = p.G * H;
    p.nc = (H + RNN_UNITS - 1) / RNN_UNITS;
    p.cw = (H + p.nc - 1) / p.nc;
    if (p.nc > 1) p.cw = (p.cw + 7) & ~(int64_t)7;
    p.nc = (H + p.cw - 1) / p.cw;
    return p;
}

static void chunk(const plan *p, int64_t c, int64_t *u0, int64_t *w) {
    *u0 = c * p->cw;
    *w = p->H - *u0 < p->cw ? p->H - *u0 : p->cw;
}

/* the column of gate g, unit u in chunk order */
static int64_t pcol(const plan *p, int64_t g, int64_t u) {
    int64_t u0, w;
    chunk(p, u / p->cw, &u0, &w);
    return p->G * u0 + g * w + (u - u0);
}

/* dst[pcol(g, u), :] = src[g H + u, :] for a [G H, cols] matrix (rows of weights, or biases with cols 1) */
static void to_chunks(const plan *p, float *dst, const float *src, int64_t cols) {
    for (int64_t g = 0; g < p->G; g++)
        for (int64_t u = 0; u < p->H; u++)
            memcpy(dst + pcol(p, g, u) * cols, src + (g * p->H + u) * cols, sizeof(float) * (size_t)cols);
}

/* dst[g H + u, :] += src[pcol(g, u), :] */
static void add_from_chunks(const plan *p, float *dst, const float *src, int64_t cols) {
    for (int64_t g = 0; g < p->G; g++)
        for (int64_t u = 0; u < p->H; u++) {
            float *d = dst + (g * p->H + u) * cols;
            const float *s = src + pcol(p, g, u) * cols;
            for (int64_t j = 0; j < cols; j++) d[j] += s[j];
        }
}

/* The reserve's arrays (see the top of the file); forward alone needs the first four. */
typedef struct {
    float *gates, *hprev, *aux, *xp, *dg, *dgh, *dxp;
} reserve;

static size_t reserve_floats(lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, int with_bwd) {
    int64_t G = gates_of(cell), N = B * T, fwd = N * (G * H + 2 * H + I);
    return (size_t)(with_bwd ? fwd + N * ((cell == LT_CELL_LSTM ? 1 : 2) * G * H + I) : fwd);
}

static reserve reserve_at(void *ws, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H) {
    int64_t GH = gates_of(cell) * H, N = B * T;
    reserve r;
    r.gates = ws, r.hprev = r.gates + N * GH, r.aux = r.hprev + N * H, r.xp = r.aux + N * H, r.dg = r.xp + N * I;
    r.dgh = cell == LT_CELL_LSTM ? r.dg : r.dg + N * GH;
    r.dxp = r.dgh + N * GH;
    return r;
}

/* One implementation on the CPU: native is a no-op, anything else is refused. */
int lt__cpu_rnn_set_impl(lt_backend *be, lt_rnn_impl impl) {
    if (impl == LT_RNN_NATIVE) return 0;
    return lt_error(LT_ENOTSUP, "rnn_set_impl: the cpu backend has one recurrent implementation (no cuDNN to choose)");
}

int lt__cpu_rnn_reserve(lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, size_t *bytes) {
    *bytes = sizeof(float) * reserve_floats(cell, B, T, I, H, 1);
    return 0;
}

/* ---- forward ------------------------------------------------------------------------------------ */

/* One LSTM step of one row over w units. g[4w]: x W_ih^T (pre-activations in, activations out);
 * hh[4w]: h W_hh^T; bias[4w] = b_ih + b_hh; c[w] the cell state (updated); h, y: the new h; cout: the new c. */
static void lstm_row(float *restrict g, const float *restrict hh, const float *restrict bias, float *restrict c,
                     float *restrict h, float *restrict y, float *restrict cout, int64_t w) {
#pragma omp simd
    for (int64_t j = 0; j < w; j++) {
        float ig = sigm(g[j] + hh[j] + bias[j]);
        float fg = sigm(g[w + j] + hh[w + j] + bias[w + j]);
        float gg = tanhf(g[2 * w + j] + hh[2 * w + j] + bias[2 * w + j]);
        float og = sigm(g[3 * w + j] + hh[3 * w + j] + bias[3 * w + j]);
        float cn = fg * c[j] + ig * gg, hn = og * tanhf(cn);
        g[j] = ig, g[w + j] = fg, g[2 * w + j] = gg, g[3 * w + j] = og;
        c[j] = cn, h[j] = hn, y[j] = hn, cout[j] = cn;
    }
}

/* One GRU step of one row over w units. bias[3w] = b_ih + b_hh for r and z, b_in for n; bhn[w] = b_hn;
 * hp[w] the previous h; hn_out[w] = W_hn h + b_hn (kept for backward). */
static void gru_row(float *restrict g, const float *restrict hh, const float *restrict bias,
                    const float *restrict bhn, const float *restrict hp, float *restrict h, float *restrict y,
                    float *restrict hn_out, int64_t w) {
#pragma omp simd
    for (int64_t j = 0; j < w; j++) {
        float rg = sigm(g[j] + hh[j] + bias[j]);
        float zg = sigm(g[w + j] + hh[w + j] + bias[w + j]);
        float hn = hh[2 * w + j] + bhn[j];
        float ng = tanhf(g[2 * w + j] + bias[2 * w + j] + rg * hn);
        float hv = (1.0f - zg) * ng + zg * hp[j];
        g[j] = rg, g[w + j] = zg, g[2 * w + j] = ng;
        h[j] = hv, y[j] = hv, hn_out[j] = hn;
    }
}

/* Forward, step t = s: tile = row block x unit chunk over the n rows still running, then one tile per
 * chunk for the rows that have finished. Packed row of running row i: off[t] + i. */
typedef struct {
    const plan *p;
    const order *o;
    int lstm;
    int64_t B, T;
    float *y, *gates, *hprev, *aux;
    const float *wp_hh, *bias, *bhn;
    float *hbuf[2], *cs, *hg;
} fwd_ctx;

static void fwd_tile(void *ctx, int64_t t, int64_t tile) {
    const fwd_ctx *f = ctx;
    const plan *p = f->p;
    const int64_t H = p->H, G = p->G, GH = p->GH, B = f->B, T = f->T, n = f->o->n[t], off = f->o->off[t];
    const int64_t *perm = f->o->perm;
    const float *hin = f->hbuf[t & 1];
    float *hout = f->hbuf[(t + 1) & 1];
    int64_t active = (n + RNN_ROWS - 1) / RNN_ROWS * p->nc, u0, w;
    chunk(p, tile % p->nc, &u0, &w);
    if (tile >= active) { /* rows that have finished: y = 0, the state stays */
        for (int64_t i = n; i < B; i++) {
            memset(f->y + (perm[i] * T + t) * H + u0, 0, sizeof(float) * (size_t)w);
            memcpy(hout + i * H + u0, hin + i * H + u0, sizeof(float) * (size_t)w);
        }
        return;
    }
    int64_t i0 = tile / p->nc * RNN_ROWS, i1 = i0 + RNN_ROWS < n ? i0 + RNN_ROWS : n;
    float *hg = f->hg + G * u0;
    lt__cpu_sgemm1(0, 1, i1 - i0, G * w, H, 1.0f, hin + i0 * H, H, f->wp_hh + G * u0 * H, H, 0.0f, hg + i0 * GH, GH);
    for (int64_t i = i0; i < i1; i++) {
        int64_t r = off + i;
        float *g = f->gates + r * GH + G * u0, *yr = f->y + (perm[i] * T + t) * H + u0, *ax = f->aux + r * H + u0;
        memcpy(f->hprev + r * H + u0, hin + i * H + u0, sizeof(float) * (size_t)w);
        if (f->lstm) lstm_row(g, hg + i * GH, f->bias + G * u0, f->cs + i * H + u0, hout + i * H + u0, yr, ax, w);
        else gru_row(g, hg + i * GH, f->bias + G * u0, f->bhn + u0, hin + i * H + u0, hout + i * H + u0, yr, ax, w);
    }
}

/* The forward in fp32 (lt__cpu_rnn_fwd below widens bf16 activations for it). */
static int rnn_fwd32(lt_cell cell, float *y, float *hT, float *cT, void *ws, const float *x, const float *w_ih,
                     const float *w_hh, const float *b_ih, const float *b_hh, const float *h0, const float *c0,
                     const int32_t *lens, int64_t B, int64_t T, int64_t I, int64_t H) {
    const int lstm = cell == LT_CELL_LSTM;
    const plan p = plan_make(cell, H);
    const int64_t G = p.G, GH = p.GH;
    if (!lt__sgemm) return lt_error(LT_ENOTSUP, "rnn_fwd: no BLAS library was loaded (%s)", lt__blas_describe());
    void *own = NULL;
    if (!ws && !(ws = own = malloc(sizeof(float) * reserve_floats(cell, B, T, I, H, 0))))
        return lt_error(LT_ENOMEM, "rnn_fwd: out of memory");
    reserve rs = reserve_at(ws, cell, B, T, I, H);
    float *gates = rs.gates, *hprev = rs.hprev, *aux = rs.aux;
    order o;
    int rc = order_make(&o, lens, B, T);
    float *wp = malloc(sizeof(float) * (size_t)(GH * (I + H) + GH + H + 3 * B * H + B * GH));
    if (!rc && !wp) order_free(&o), rc = lt_error(LT_ENOMEM, "rnn_fwd: out of memory");
    if (rc) {
        free(own), free(wp);
        return rc;
    }
    float *wp_ih = wp, *wp_hh = wp_ih + GH * I, *bias = wp_hh + GH * H, *bhn = bias + GH;
    float *hbuf[2] = {bhn + H, bhn + H + B * H}, *cs = hbuf[1] + B * H, *hg = cs + B * H;
    to_chunks(&p, wp_ih, w_ih, I);
    to_chunks(&p, wp_hh, w_hh, H);
    /* bias: every bias that is simply added; bhn: the GRU's b_hn, which r multiplies */
    for (int64_t g = 0; g < G; g++)
        for (int64_t u = 0; u < H; u++) {
            int hside_n = !lstm && g == 2;
            bias[pcol(&p, g, u)] = (b_ih ? b_ih[g * H + u] : 0) + (b_hh && !hside_n ? b_hh[g * H + u] : 0);
            if (hside_n) bhn[u] = b_hh ? b_hh[g * H + u] : 0;
        }
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (h0) memcpy(hbuf[0] + i * H, h0 + b * H, sizeof(float) * (size_t)H);
        else memset(hbuf[0] + i * H, 0, sizeof(float) * (size_t)H);
        if (c0 && lstm) memcpy(cs + i * H, c0 + b * H, sizeof(float) * (size_t)H);
        else memset(cs + i * H, 0, sizeof(float) * (size_t)H);
    }

    /* x in packed order (kept for backward's dW_ih), then xg = x W_ih^T over every real step at once */
    const int64_t Np = o.off[T];
#pragma omp parallel for schedule(static) if (Np * I >= LT_CPU_PAR_MIN)
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < o.n[t]; i++)
            memcpy(rs.xp + (o.off[t] + i) * I, x + (o.perm[i] * T + t) * I, sizeof(float) * (size_t)I);
    gemm(0, 1, Np, GH, I, 1.0f, rs.xp, I, wp_ih, I, 0.0f, gates, GH);
    fwd_ctx f = {.p = &p, .o = &o, .lstm = lstm, .B = B, .T = T, .y = y, .gates = gates, .hprev = hprev, .aux = aux,
                 .wp_hh = wp_hh, .bias = bias, .bhn = bhn, .hbuf = {hbuf[0], hbuf[1]}, .cs = cs, .hg = hg};
    steps st;
    if ((rc = steps_make(&st, T)) < 0) {
        order_free(&o), free(own), free(wp);
        return rc;
    }
    for (int64_t t = 0; t < T; t++) {
        int64_t n = o.n[t];
        st.off[t + 1] = st.off[t] + (n + RNN_ROWS - 1) / RNN_ROWS * p.nc + (n < B ? p.nc : 0);
    }
    steps_run(&st, fwd_tile, &f, B * GH >= RNN_PAR_MIN);
    steps_free(&st);
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (hT) memcpy(hT + b * H, hbuf[T & 1] + i * H, sizeof(float) * (size_t)H);
        if (cT && lstm) memcpy(cT + b * H, cs + i * H, sizeof(float) * (size_t)H);
    }
    order_free(&o);
    free(own), free(wp);
    return 0;
}

/* ---- backward ------------------------------------------------------------------------------------ */

/* LSTM gate backward of one row over w units. dh[w]: the gradient of h after the step from later
 * steps (without dy; read only), dc[w] in: of c after the step, out: of c before it. dg gets the
 * gradient of the pre-activations. */
static void lstm_row_bwd(const float *restrict g, const float *restrict c, const float *restrict cprev,
                         const float *restrict dy, const float *restrict dh, float *restrict dc,
                         float *restrict dg, int64_t w) {
#pragma omp simd
    for (int64_t j = 0; j < w; j++) {
        float ig = g[j], fg = g[w + j], gg = g[2 * w + j], og = g[3 * w + j];
        float d = dh[j] + dy[j], tc = tanhf(c[j]);
        float dcj = dc[j] + d * og * (1.0f - tc * tc);
        float di = dcj * gg * ig * (1.0f - ig), df = dcj * cprev[j] * fg * (1.0f - fg);
        float dgg = dcj * ig * (1.0f - gg * gg), dog = d * tc * og * (1.0f - og);
        dg[j] = di, dg[w + j] = df, dg[2 * w + j] = dgg, dg[3 * w + j] = dog;
        dc[j] = dcj * fg;
    }
}

/* GRU gate backward of one row over w units: dgx[3w] the gradient of the x-side pre-activations,
 * dgh the h side's (they differ in n: r multiplies W_hn h + b_hn); dh becomes z dh. */
static void gru_row_bwd(const float *restrict g, const float *restrict hn, const float *restrict hp,
                        const float *restrict dy, float *restrict dh, float *restrict dgx, float *restrict dgh,
                        int64_t w) {
#pragma omp simd
    for (int64_t j = 0; j < w; j++) {
        float rg = g[j], zg = g[w + j], ng = g[2 * w + j];
        float d = dh[j] + dy[j];
        float dn = d * (1.0f - zg) * (1.0f - ng * ng);
        float dz = d * (hp[j] - ng) * zg * (1.0f - zg);
        float dr = dn * hn[j] * rg * (1.0f - rg);
        dgx[j] = dgh[j] = dr;
        dgx[w + j] = dgh[w + j] = dz;
        dgx[2 * w + j] = dn;
        dgh[2 * w + j] = dn * rg;
        dh[j] = d * zg;
    }
}

/* Backward, step t = T-1-s (t = -1 last): a tile first adds the recurrent gradient of step t+1 into dh
 * for its rows still running at t+1, then runs the gate backward of step t for its rows running at t.
 * Rows that have finished have no packed rows: their dh, dc pass through untouched. */
typedef struct {
    const plan *p;
    const order *o;
    int lstm;
    int64_t B, T;
    const float *gates, *hprev, *aux, *dy, *c0, *wp_hh, *zero;
    float *dg, *dgh, *dhs, *dcs;
} bwd_ctx;

static void bwd_tile(void *ctx, int64_t s, int64_t tile) {
    const bwd_ctx *c = ctx;
    const plan *p = c->p;
    const int64_t H = p->H, G = p->G, GH = p->GH, T = c->T, t = T - 1 - s;
    const int64_t *perm = c->o->perm;
    int64_t n = t >= 0 ? c->o->n[t] : 0, nn = t + 1 < T ? c->o->n[t + 1] : 0, m = t >= 0 ? n : nn, u0, w;
    chunk(p, tile % p->nc, &u0, &w);
    int64_t i0 = tile / p->nc * RNN_ROWS, i1 = i0 + RNN_ROWS < m ? i0 + RNN_ROWS : m;
    int64_t k1 = i1 < nn ? i1 : nn; /* dh_t = dG_{t+1} W_hh (LSTM); z dh + dGh_{t+1} W_hh (GRU) */
    if (k1 > i0)
        lt__cpu_sgemm1(0, 0, k1 - i0, w, GH, 1.0f, c->dgh + (c->o->off[t + 1] + i0) * GH, GH, c->wp_hh + u0, H,
                       c->lstm ? 0.0f : 1.0f, c->dhs + i0 * H + u0, H);
    int64_t e = i1 < n ? i1 : n;
    for (int64_t i = i0; i < e; i++) {
        int64_t b = perm[i], r = c->o->off[t] + i, q = r * GH + G * u0;
        const float *dyr = c->dy + (b * T + t) * H + u0;
        if (c->lstm) {
            const float *cprev = t > 0 ? c->aux + (c->o->off[t - 1] + i) * H + u0 : c->c0 ? c->c0 + b * H + u0 : c->zero;
            lstm_row_bwd(c->gates + q, c->aux + r * H + u0, cprev, dyr, c->dhs + i * H + u0, c->dcs + i * H + u0,
                         c->dg + q, w);
        } else {
            gru_row_bwd(c->gates + q, c->aux + r * H + u0, c->hprev + r * H + u0, dyr, c->dhs + i * H + u0, c->dg + q,
                        c->dgh + q, w);
        }
    }
}

/* The backward in fp32. x, y and h0 are not arguments: the forward kept x and every step's h_{t-1}
 * (fp32) in ws. */
static int rnn_bwd32(lt_cell cell, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dh0,
                     float *dc0, const float *dy, const float *dhT, const float *dcT, const void *ws,
                     const float *w_ih, const float *w_hh, const float *c0, const int32_t *lens, int64_t B,
                     int64_t T, int64_t I, int64_t H) {
    const int lstm = cell == LT_CELL_LSTM;
    const plan p = plan_make(cell, H);
    const int64_t GH = p.GH, K = I > H ? I : H;
    /* the reserve: what forward stored, and backward's scratch (dG, dx in packed order) */
    reserve rs = reserve_at((void *)ws, cell, B, T, I, H);
    if (!lt__sgemm) return lt_error(LT_ENOTSUP, "rnn_bwd: no BLAS library was loaded (%s)", lt__blas_describe());
    order o;
    LT_TRY(order_make(&o, lens, B, T));
    const int64_t Np = o.off[T];
    float *wp = malloc(sizeof(float) * (size_t)(GH * (I + H) + GH * K + 2 * B * H + H));
    if (!wp) {
        order_free(&o);
        return lt_error(LT_ENOMEM, "rnn_bwd: out of memory");
    }
    float *wp_ih = wp, *wp_hh = wp_ih + GH * I, *tmp = wp_hh + GH * H, *dhs = tmp + GH * K, *dcs = dhs + B * H;
    float *zero = dcs + B * H;
    memset(zero, 0, sizeof(float) * (size_t)H);
    to_chunks(&p, wp_ih, w_ih, I);
    to_chunks(&p, wp_hh, w_hh, H);
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (dhT) memcpy(dhs + i * H, dhT + b * H, sizeof(float) * (size_t)H);
        else memset(dhs + i * H, 0, sizeof(float) * (size_t)H);
        if (dcT && lstm) memcpy(dcs + i * H, dcT + b * H, sizeof(float) * (size_t)H);
        else memset(dcs + i * H, 0, sizeof(float) * (size_t)H);
    }
    /* steps s = 0 .. T: t = T-1-s; the last (t = -1) only adds step 0's recurrent gradient into dh */
    bwd_ctx bc = {.p = &p, .o = &o, .lstm = lstm, .B = B, .T = T, .gates = rs.gates, .hprev = rs.hprev, .aux = rs.aux,
                  .dy = dy, .c0 = c0, .wp_hh = wp_hh, .zero = zero, .dg = rs.dg, .dgh = rs.dgh, .dhs = dhs, .dcs = dcs};
    steps st;
    int rc = steps_make(&st, T + 1);
    if (rc < 0) {
        order_free(&o), free(wp);
        return rc;
    }
    for (int64_t s = 0; s <= T; s++) {
        int64_t t = T - 1 - s, n = t >= 0 ? o.n[t] : 0, nn = t + 1 < T ? o.n[t + 1] : 0, m = t >= 0 ? n : nn;
        st.off[s + 1] = st.off[s] + (m + RNN_ROWS - 1) / RNN_ROWS * p.nc;
    }
    steps_run(&st, bwd_tile, &bc, B * GH >= RNN_PAR_MIN);
    steps_free(&st);
    for (int64_t i = 0; i < B; i++) {
        int64_t b = o.perm[i];
        if (dh0)
            for (int64_t j = 0; j < H; j++) dh0[b * H + j] += dhs[i * H + j];
        if (dc0 && lstm)
            for (int64_t j = 0; j < H; j++) dc0[b * H + j] += dcs[i * H + j];
    }
    /* over every real step at once (weight gradients through tmp, in chunk order, then added back) */
    if (dw_ih) {
        gemm(1, 0, GH, I, Np, 1.0f, rs.dg, GH, rs.xp, I, 0.0f, tmp, I);
        add_from_chunks(&p, dw_ih, tmp, I);
    }
    if (dx && Np > 0) { /* dx (packed) = dG W_ih, then added to x's rows */
        gemm(0, 0, Np, I, GH, 1.0f, rs.dg, GH, wp_ih, I, 0.0f, rs.dxp, I);
#pragma omp parallel for schedule(static) if (Np * I >= LT_CPU_PAR_MIN)
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < o.n[t]; i++) {
                float *d = dx + (o.perm[i] * T + t) * I;
                const float *sp = rs.dxp + (o.off[t] + i) * I;
#pragma omp simd
                for (int64_t j = 0; j < I; j++) d[j] += sp[j];
            }
    }
    if (Np > 0) {
        gemm(1, 0, GH, H, Np, 1.0f, rs.dgh, GH, rs.hprev, H, 0.0f, tmp, H);
        add_from_chunks(&p, dw_hh, tmp, H);
    }
    if (db_ih || (db_hh && lstm)) { /* an LSTM's two biases get the same gradient: one pass */
        memset(tmp, 0, sizeof(float) * (size_t)GH);
        colsum_acc(tmp, rs.dg, Np, GH);
        if (db_ih) add_from_chunks(&p, db_ih, tmp, 1);
        if (db_hh && lstm) add_from_chunks(&p, db_hh, tmp, 1);
    }
    if (db_hh && !lstm) {
        memset(tmp, 0, sizeof(float) * (size_t)GH);
        colsum_acc(tmp, rs.dgh, Np, GH);
        add_from_chunks(&p, db_hh, tmp, 1);
    }
    order_free(&o);
    free(wp);
    return 0;
}

/* ---- the op table's entries: f32 in place, bf16 through widened copies ---------------------------- */
/* bf16 activations (wide.c): the fp32 kernels above run on fp32 copies of x, h0, c0 (dy, dhT, dcT,
 * c0 and the += outputs' values in the backward); each output is rounded once at the end. The state
 * and the gates stay fp32 in the kernels and in ws, so a bf16 run gives the f32 run's values on the
 * same (bf16) inputs, rounded. */

int lt__cpu_rnn_fwd(lt_backend *be, lt_cell cell, void *y_, void *hT_, void *cT_, void *ws, const void *x_,
                    const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const void *h0_,
                    const void *c0_, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t I, int64_t H) {
    (void)be;
    lt__wide w = {0};
    const float *x = lt__wide_in(&w, x_, dt, B * T * I), *h0 = lt__wide_in(&w, h0_, dt, B * H);
    const float *c0 = lt__wide_in(&w, c0_, dt, B * H);
    float *y = lt__wide_out(&w, y_, dt, B * T * H, 0), *hT = lt__wide_out(&w, hT_, dt, B * H, 0);
    float *cT = lt__wide_out(&w, cT_, dt, B * H, 0);
    return lt__wide_end(&w, "rnn_fwd",
                        w.failed ? 0 : rnn_fwd32(cell, y, hT, cT, ws, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lens, B, T, I, H));
}

int lt__cpu_rnn_bwd(lt_backend *be, lt_cell cell, void *dx_, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                    void *dh0_, void *dc0_, const void *dy_, const void *dhT_, const void *dcT_, const void *ws,
                    const void *x, const void *y, const float *w_ih, const float *w_hh, const float *b_ih,
                    const float *b_hh, const void *h0, const void *c0_, const int32_t *lens, lt_dtype dt, int64_t B,
                    int64_t T, int64_t I, int64_t H) {
    (void)be, (void)x, (void)y, (void)b_ih, (void)b_hh, (void)h0; /* the forward kept what it needs in ws */
    lt__wide w = {0};
    const float *dy = lt__wide_in(&w, dy_, dt, B * T * H), *dhT = lt__wide_in(&w, dhT_, dt, B * H);
    const float *dcT = lt__wide_in(&w, dcT_, dt, B * H), *c0 = lt__wide_in(&w, c0_, dt, B * H);
    float *dx = lt__wide_out(&w, dx_, dt, B * T * I, 1), *dh0 = lt__wide_out(&w, dh0_, dt, B * H, 1);
    float *dc0 = lt__wide_out(&w, dc0_, dt, B * H, 1);
    return lt__wide_end(&w, "rnn_bwd",
                        w.failed ? 0
                                 : rnn_bwd32(cell, dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, dy, dhT, dcT, ws, w_ih,
                                             w_hh, c0, lens, B, T, I, H));
}
