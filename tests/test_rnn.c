/* tests/test_rnn: the recurrent ops (lt_rnn_fwd / lt_rnn_bwd, LSTM and GRU) and the recurrent module.
 *
 *  1. every op case on the CPU: the backward against central finite differences of the forward, for
 *     L = <wy, y> + <whT, hT> + <wcT, cT> with fixed random w, accumulated in double; gradient buffers
 *     start from random values (an op that overwrites instead of accumulating fails). The cases mix
 *     padded variable lengths (with a length-0 and a full-length row), h0/c0 given and NULL, biases
 *     given and NULL, final states asked for or not. A planted 3 % error in one gradient must be caught;
 *  2. padding: padded steps of y are exactly 0 and a length-0 row keeps h0 (and c0);
 *  3. the same bits with 1 thread and with all of them (a case large enough to split every loop);
 *  4. argument validation messages;
 *  5. CUDA against the CPU for the same cases (fp32 math, tight; bf16 math, 2e-2 or 5e-2), and with cuDNN
 *     (lt_rnn_set_impl) where the build has it; "skipped: no CUDA device" without a GPU;
 *  6. golden (HDF5 builds: the module's parameters live in an lt_params list): tests/golden/rnn,
 *     written by make_rnn_fixture.py from torch.nn.LSTM / torch.nn.GRU (2 layers, batch_first,
 *     pack_padded_sequence with unsorted lengths): outputs, final states, the gradient of every
 *     weight and of the input, through the module (include/longtail/rnn.h) with dropout 0.
 * The seed is printed; LONGTAIL_TEST_SEED=<seed> repeats a run. */
#include <math.h>
#include <omp.h>
#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/ops.h"
#include "longtail/rng.h"
#include "golden.h"
#include "testutil.h"
#ifdef LONGTAIL_HAVE_HDF5
#include "longtail/rnn.h"
#include "longtail/safetensors.h"
#endif

static lt_rng g_rng;
static lt_backend *g_cpu;

/* ---- one op case ------------------------------------------------------------------------------ */

enum { X, WIH, WHH, BIH, BHH, H0, C0, NIN };
enum { Y, HT, CT, NOUT };
static const char *in_name[NIN] = {"x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0"};

typedef struct {
    const char *name;
    lt_cell cell;
    int64_t B, T, I, H;
    int32_t lens[160];
    int has[NIN];   /* which optional inputs are given (x and weights always) */
    int states;     /* hT (and cT) are outputs that enter the loss */
    double eps;     /* finite-difference step (0: FD_EPS); larger for wide layers, whose loss sums more rounding */
    float *in[NIN]; /* host values */
} rcase;

static int64_t in_numel(const rcase *c, int k) {
    int64_t GH = lt_cell_gates(c->cell) * c->H;
    switch (k) {
    case X: return c->B * c->T * c->I;
    case WIH: return GH * c->I;
    case WHH: return GH * c->H;
    case BIH: case BHH: return GH;
    default: return c->B * c->H;
    }
}

static int64_t out_numel(const rcase *c, int k) { return k == Y ? c->B * c->T * c->H : c->B * c->H; }

static int out_used(const rcase *c, int k) {
    if (k == Y) return 1;
    return c->states && (k == HT || c->cell == LT_CELL_LSTM);
}

static int in_used(const rcase *c, int k) {
    if (k <= WHH) return 1;
    if (k == C0 && c->cell != LT_CELL_LSTM) return 0;
    return c->has[k];
}

static float *randv(int64_t n, float lo, float hi) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        do p[i] = lo + (hi - lo) * lt_rng_next_uniform(&g_rng);
        while (p[i] == 0.0f);
    }
    return p;
}

static void case_init(rcase *c) {
    for (int k = 0; k < NIN; k++) {
        float s = k == X ? 1.0f : k >= H0 ? 0.8f : 0.6f;
        c->in[k] = in_used(c, k) ? randv(in_numel(c, k), -s, s) : NULL;
    }
}

static void case_free(rcase *c) {
    for (int k = 0; k < NIN; k++) free(c->in[k]), c->in[k] = NULL;
}

static void in_shape(const rcase *c, int k, int *ndim, int64_t *shape) {
    int64_t GH = lt_cell_gates(c->cell) * c->H;
    switch (k) {
    case X: *ndim = 3, shape[0] = c->B, shape[1] = c->T, shape[2] = c->I; break;
    case WIH: *ndim = 2, shape[0] = GH, shape[1] = c->I; break;
    case WHH: *ndim = 2, shape[0] = GH, shape[1] = c->H; break;
    case BIH: case BHH: *ndim = 1, shape[0] = GH; break;
    default: *ndim = 2, shape[0] = c->B, shape[1] = c->H;
    }
}

static lt_tensor upload(lt_backend *be, const float *h, int ndim, const int64_t *shape) {
    lt_tensor t;
    OK(lt_tensor_new(&t, be, LT_F32, ndim, shape));
    lt_tensor host = lt_view((void *)h, LT_F32, LT_CPU, ndim, shape);
    OK(lt_tensor_copy(be, &t, &host));
    return t;
}

static float *download(lt_backend *be, const lt_tensor *t) {
    float *h = malloc(lt_nbytes(t) + 1);
    lt_tensor host = lt_view(h, t->dtype, LT_CPU, t->ndim, t->shape);
    OK(lt_tensor_copy(be, &host, t));
    OK(lt_backend_sync(be));
    return h;
}

/* The case's tensors on one backend. */
typedef struct {
    lt_tensor in[NIN], out[NOUT], ws, lens;
    int has_in[NIN], has_out[NOUT];
} dev;

static int dev_fwd(lt_backend *be, const rcase *c, dev *d, int train) {
    memset(d, 0, sizeof *d);
    for (int k = 0; k < NIN; k++) {
        if (!(d->has_in[k] = in_used(c, k))) continue;
        int nd;
        int64_t sh[3];
        in_shape(c, k, &nd, sh);
        d->in[k] = upload(be, c->in[k], nd, sh);
    }
    int64_t ys[3] = {c->B, c->T, c->H}, hs[2] = {c->B, c->H};
    OK(lt_tensor_new(&d->out[Y], be, LT_F32, 3, ys));
    d->has_out[Y] = 1;
    for (int k = HT; k <= CT; k++)
        if ((d->has_out[k] = out_used(c, k))) OK(lt_tensor_new(&d->out[k], be, LT_F32, 2, hs));
    d->lens = lt_view1((void *)c->lens, LT_I32, LT_CPU, c->B);
    if (train) {
        size_t bytes;
        int rc = lt_rnn_reserve_bytes(be, c->cell, c->B, c->T, c->I, c->H, &bytes);
        if (rc < 0) return rc; /* LT_ENOTSUP where the backend lacks the recurrent ops */
        int64_t n = (int64_t)bytes;
        OK(lt_tensor_new(&d->ws, be, LT_U8, 1, &n));
    }
#define IN(k) (d->has_in[k] ? &d->in[k] : NULL)
#define OUT(k) (d->has_out[k] ? &d->out[k] : NULL)
    return lt_rnn_fwd(be, c->cell, &d->out[Y], OUT(HT), OUT(CT), train ? &d->ws : NULL, &d->in[X], &d->in[WIH],
                      &d->in[WHH], IN(BIH), IN(BHH), IN(H0), IN(C0), &d->lens);
}

static void dev_free(lt_backend *be, dev *d) {
    for (int k = 0; k < NIN; k++)
        if (d->has_in[k]) lt_tensor_free(be, &d->in[k]);
    for (int k = 0; k < NOUT; k++)
        if (d->has_out[k]) lt_tensor_free(be, &d->out[k]);
    if (d->ws.data) lt_tensor_free(be, &d->ws);
}

/* Backward with upstream gradients w[NOUT] (host), accumulating into g[NIN] (host arrays, updated). */
static int dev_bwd(lt_backend *be, const rcase *c, dev *d, float *const *w, float **g) {
    lt_tensor dout[NOUT], din[NIN];
    int has_dout[NOUT] = {0}, has_din[NIN] = {0};
    for (int k = 0; k < NOUT; k++)
        if ((has_dout[k] = d->has_out[k])) dout[k] = upload(be, w[k], d->out[k].ndim, d->out[k].shape);
    for (int k = 0; k < NIN; k++) {
        if (!(has_din[k] = g[k] != NULL)) continue;
        int nd;
        int64_t sh[3];
        in_shape(c, k, &nd, sh);
        din[k] = upload(be, g[k], nd, sh);
    }
#define DIN(k) (has_din[k] ? &din[k] : NULL)
#define DOUT(k) (has_dout[k] ? &dout[k] : NULL)
    int rc = lt_rnn_bwd(be, c->cell, DIN(X), DIN(WIH), &din[WHH], DIN(BIH), DIN(BHH), DIN(H0), DIN(C0), &dout[Y],
                        DOUT(HT), DOUT(CT), &d->ws, &d->in[X], &d->out[Y], &d->in[WIH], &d->in[WHH], IN(BIH),
                        IN(BHH), IN(H0), IN(C0), &d->lens);
    for (int k = 0; k < NIN; k++)
        if (has_din[k]) {
            if (rc >= 0) {
                float *h = download(be, &din[k]);
                memcpy(g[k], h, sizeof(float) * (size_t)in_numel(c, k));
                free(h);
            }
            lt_tensor_free(be, &din[k]);
        }
    for (int k = 0; k < NOUT; k++)
        if (has_dout[k]) lt_tensor_free(be, &dout[k]);
    return rc;
}

/* L = sum over outputs of <w, out>, in double (CPU forward without reserve) */
static double loss_cpu(const rcase *c, float *const *w) {
    dev d;
    OK(dev_fwd(g_cpu, c, &d, 0));
    double L = 0;
    for (int k = 0; k < NOUT; k++) {
        if (!d.has_out[k]) continue;
        float *y = download(g_cpu, &d.out[k]);
        for (int64_t i = 0; i < out_numel(c, k); i++) L += (double)w[k][i] * y[i];
        free(y);
    }
    dev_free(g_cpu, &d);
    return L;
}

/* ---- 1. finite differences -------------------------------------------------------------------------- */

#define FD_EPS 4e-3
#define FD_ATOL 5e-4
#define FD_RTOL 5e-3

static double g_fd_worst; /* over every case: worst |err| / tol */

/* planted: the factor the wrong backward puts on dw_hh (1 = none). Returns the number of bad gradients. */
static int fd_check(rcase *c, float planted, int quiet) {
    float *w[NOUT] = {0}, *g0[NIN] = {0}, *g[NIN] = {0};
    for (int k = 0; k < NOUT; k++)
        if (out_used(c, k)) w[k] = randv(out_numel(c, k), -1, 1);
    for (int k = 0; k < NIN; k++)
        if (in_used(c, k)) {
            g0[k] = randv(in_numel(c, k), -1, 1);
            g[k] = malloc(sizeof(float) * (size_t)in_numel(c, k));
            memcpy(g[k], g0[k], sizeof(float) * (size_t)in_numel(c, k));
        }
    dev d;
    OK(dev_fwd(g_cpu, c, &d, 1));
    OK(dev_bwd(g_cpu, c, &d, w, g));
    dev_free(g_cpu, &d);
    int checked = 0, bad = 0;
    double worst = 0;
    for (int k = 0; k < NIN; k++) {
        if (!g[k]) continue;
        int64_t n = in_numel(c, k);
        int samples = n < 24 ? (int)n : 24;
        for (int s = 0; s < samples; s++) {
            int64_t j = n <= 24 ? s : (int64_t)lt_rng_below(&g_rng, (uint64_t)n);
            float keep = c->in[k][j], eps = (float)(c->eps > 0 ? c->eps : FD_EPS);
            c->in[k][j] = keep + eps;
            double lp = loss_cpu(c, w);
            c->in[k][j] = keep - eps;
            double lm = loss_cpu(c, w);
            c->in[k][j] = keep;
            double h = (double)(keep + eps) - (double)(keep - eps);
            double num = (lp - lm) / h, ana = (double)g[k][j] - (double)g0[k][j];
            if (k == WHH) ana *= planted;
            double err = fabs(num - ana), lim = FD_ATOL + FD_RTOL * fabs(num);
            if (err / lim > worst) worst = err / lim;
            checked++;
            if (err > lim && bad++ < 5 && !quiet)
                fprintf(stderr, "  %s: d/d%s[%lld]: finite difference %.7g, backward %.7g (|err| %.3g > %.3g)\n",
                        c->name, in_name[k], (long long)j, num, ana, err, lim);
        }
    }
    if (!quiet) {
        printf("  %-34s cpu bwd vs finite differences: %3d gradients, worst err/tol %.3f %s\n", c->name, checked,
               worst, bad ? "FAIL" : "ok");
        CHECK_MSG(bad == 0, "%s: %d of %d gradients off", c->name, bad, checked);
        if (worst > g_fd_worst) g_fd_worst = worst;
    }
    CHECK_MSG(checked > 0, "%s: no gradient was checked", c->name);
    for (int k = 0; k < NOUT; k++) free(w[k]);
    for (int k = 0; k < NIN; k++) free(g0[k]), free(g[k]);
    return bad;
}

/* ---- 2. padding ------------------------------------------------------------------------------------- */

static void padding_check(const rcase *c) {
    dev d;
    OK(dev_fwd(g_cpu, c, &d, 1));
    float *y = download(g_cpu, &d.out[Y]);
    float *hT = d.has_out[HT] ? download(g_cpu, &d.out[HT]) : NULL;
    float *cT = d.has_out[CT] ? download(g_cpu, &d.out[CT]) : NULL;
    int bad = 0;
    for (int64_t b = 0; b < c->B; b++) {
        for (int64_t t = c->lens[b]; t < c->T; t++)
            for (int64_t j = 0; j < c->H; j++) bad += y[(b * c->T + t) * c->H + j] != 0.0f;
        if (c->lens[b] > 0 && hT) /* hT is the last real step's h */
            bad += memcmp(hT + b * c->H, y + (b * c->T + c->lens[b] - 1) * c->H, sizeof(float) * (size_t)c->H) != 0;
        if (c->lens[b] == 0) {
            for (int64_t j = 0; j < c->H; j++) {
                if (hT) bad += hT[b * c->H + j] != (c->in[H0] ? c->in[H0][b * c->H + j] : 0.0f);
                if (cT) bad += cT[b * c->H + j] != (c->in[C0] ? c->in[C0][b * c->H + j] : 0.0f);
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %d padded outputs or final states wrong", c->name, bad);
    free(y), free(hT), free(cT);
    dev_free(g_cpu, &d);
}

/* ---- the cases ----------------------------------------------------------------------------------------- */

#define NCASES 8
static void make_cases(rcase *cs) {
    rcase all[NCASES] = {
        {.name = "lstm h0 c0 biases", .cell = LT_CELL_LSTM, .B = 5, .T = 6, .I = 4, .H = 3,
         .lens = {6, 0, 3, 1, 6}, .has = {[BIH] = 1, [BHH] = 1, [H0] = 1, [C0] = 1}, .states = 1},
        {.name = "lstm no h0/c0, no biases", .cell = LT_CELL_LSTM, .B = 4, .T = 5, .I = 3, .H = 4,
         .lens = {2, 5, 0, 4}, .has = {0}, .states = 1},
        {.name = "lstm y only, b_ih only", .cell = LT_CELL_LSTM, .B = 3, .T = 4, .I = 5, .H = 2,
         .lens = {4, 1, 3}, .has = {[BIH] = 1, [H0] = 1}, .states = 0},
        {.name = "gru h0 biases", .cell = LT_CELL_GRU, .B = 5, .T = 6, .I = 4, .H = 3,
         .lens = {6, 0, 3, 1, 6}, .has = {[BIH] = 1, [BHH] = 1, [H0] = 1}, .states = 1},
        {.name = "gru no h0, no biases", .cell = LT_CELL_GRU, .B = 4, .T = 5, .I = 3, .H = 4,
         .lens = {2, 5, 0, 4}, .has = {0}, .states = 1},
        {.name = "gru y only, b_hh only", .cell = LT_CELL_GRU, .B = 3, .T = 4, .I = 5, .H = 2,
         .lens = {4, 1, 3}, .has = {[BHH] = 1, [H0] = 1}, .states = 0},
        /* H > 128: the CPU cuts the hidden units into chunks (72 + 68 here) */
        {.name = "lstm H 140 (chunked)", .cell = LT_CELL_LSTM, .B = 3, .T = 3, .I = 2, .H = 140,
         .lens = {3, 0, 2}, .has = {[BIH] = 1, [BHH] = 1, [H0] = 1, [C0] = 1}, .states = 1, .eps = 1e-2},
        {.name = "gru H 140 (chunked)", .cell = LT_CELL_GRU, .B = 3, .T = 3, .I = 2, .H = 140,
         .lens = {3, 0, 2}, .has = {[BIH] = 1, [BHH] = 1, [H0] = 1}, .states = 1, .eps = 1e-2},
    };
    for (int i = 0; i < NCASES; i++) cs[i] = all[i], case_init(&cs[i]);
}

/* The harness must catch a 3 % error in dw_hh. On a fixed draw of the case and of the sampled
 * entries: with the run's random seed, about one run in 50 sampled only entries of dw_hh too small
 * for 3 % of them to pass the tolerance, and the self-check failed by chance. */
static void test_harness_can_fail(void) {
    lt_rng run = g_rng;
    lt_rng_init(&g_rng, 20261203, 0);
    rcase c = {.name = "lstm (planted 3% error in dw_hh)", .cell = LT_CELL_LSTM, .B = 3, .T = 4, .I = 3, .H = 3,
               .lens = {4, 2, 3}, .has = {[BIH] = 1, [BHH] = 1}, .states = 1};
    case_init(&c);
    int before = tu_failures;
    int bad = fd_check(&c, 1.03f, 1);
    tu_failures = before;
    printf("  harness self-check: the planted error was %s\n", bad ? "caught (good)" : "NOT caught");
    CHECK_MSG(bad > 0, "the finite-difference harness did not catch a wrong gradient");
    case_free(&c);
    g_rng = run;
}

/* ---- 3. thread-count independence ----------------------------------------------------------------- */

static void run_all(const rcase *c, float **out, float **g, float *const *w) {
    dev d;
    OK(dev_fwd(g_cpu, c, &d, 1));
    for (int k = 0; k < NOUT; k++) out[k] = d.has_out[k] ? download(g_cpu, &d.out[k]) : NULL;
    for (int k = 0; k < NIN; k++) g[k] = in_used(c, k) ? calloc((size_t)in_numel(c, k), sizeof(float)) : NULL;
    OK(dev_bwd(g_cpu, c, &d, w, g));
    dev_free(g_cpu, &d);
}

static void test_threads(void) {
    for (int cell = 0; cell < 2; cell++) {
        /* 160 rows and 150 units: two row blocks x two unit chunks on the CPU */
        rcase c = {.name = cell ? "gru" : "lstm", .cell = (lt_cell)cell, .B = 160, .T = 9, .I = 40, .H = 150,
                   .has = {[BIH] = 1, [BHH] = 1, [H0] = 1, [C0] = 1}, .states = 1};
        for (int b = 0; b < 160; b++) c.lens[b] = (int32_t)((b * 7) % 10);
        case_init(&c);
        float *w[NOUT] = {0};
        for (int k = 0; k < NOUT; k++)
            if (out_used(&c, k)) w[k] = randv(out_numel(&c, k), -1, 1);
        float *o1[NOUT], *g1[NIN], *on[NOUT], *gn[NIN];
        int nt = omp_get_max_threads();
        omp_set_num_threads(1);
        run_all(&c, o1, g1, w);
        omp_set_num_threads(nt);
        run_all(&c, on, gn, w);
        int diff = 0;
        for (int k = 0; k < NOUT; k++)
            if (o1[k]) diff += memcmp(o1[k], on[k], sizeof(float) * (size_t)out_numel(&c, k)) != 0;
        for (int k = 0; k < NIN; k++)
            if (g1[k]) diff += memcmp(g1[k], gn[k], sizeof(float) * (size_t)in_numel(&c, k)) != 0;
        printf("  %-34s 1 thread vs %d: outputs and gradients %s\n", cell ? "gru [160, 9, 40] H 150" : "lstm [160, 9, 40] H 150",
               nt, diff ? "DIFFER" : "bit-identical");
        CHECK_MSG(diff == 0, "%s: %d tensors depend on the thread count", c.name, diff);
        for (int k = 0; k < NOUT; k++) free(o1[k]), free(on[k]), free(w[k]);
        for (int k = 0; k < NIN; k++) free(g1[k]), free(gn[k]);
        case_free(&c);
    }
}

/* ---- 4. validation -------------------------------------------------------------------------------- */

static void test_validation(void) {
    lt_backend *be = g_cpu;
    static float buf[4096];
    int32_t lens[2] = {3, 1}, badlens[2] = {3, 4};
    int64_t B = 2, T = 3, I = 4, H = 5;
    lt_tensor x = lt_view3(buf, LT_F32, LT_CPU, B, T, I), y = lt_view3(buf, LT_F32, LT_CPU, B, T, H);
    lt_tensor wih = lt_view2(buf, LT_F32, LT_CPU, 4 * H, I), whh = lt_view2(buf, LT_F32, LT_CPU, 4 * H, H);
    lt_tensor gwhh = lt_view2(buf, LT_F32, LT_CPU, 3 * H, H), bias = lt_view1(buf, LT_F32, LT_CPU, 3 * H);
    lt_tensor l = lt_view1(lens, LT_I32, LT_CPU, B), lb = lt_view1(badlens, LT_I32, LT_CPU, B);
    lt_tensor h = lt_view2(buf, LT_F32, LT_CPU, B, H), hbad = lt_view2(buf, LT_F32, LT_CPU, B, H + 1);
    FAILS_WITH(lt_rnn_fwd(be, LT_CELL_LSTM, &y, NULL, NULL, NULL, &x, &wih, &whh, &bias, NULL, NULL, NULL, &l),
               LT_ESHAPE, "rnn_fwd: b_ih: expected f32[20]");
    FAILS_WITH(lt_rnn_fwd(be, LT_CELL_LSTM, &y, NULL, NULL, NULL, &x, &wih, &whh, NULL, NULL, NULL, NULL, &lb),
               LT_ERANGE, "lens[1] = 4 is outside [0, T = 3]");
    FAILS_WITH(lt_rnn_fwd(be, LT_CELL_GRU, &y, NULL, NULL, NULL, &x, &wih, &whh, NULL, NULL, NULL, NULL, &l),
               LT_ESHAPE, "w_hh");
    FAILS_WITH(lt_rnn_fwd(be, LT_CELL_LSTM, &y, &hbad, NULL, NULL, &x, &wih, &whh, NULL, NULL, NULL, NULL, &l),
               LT_ESHAPE, "hT: expected f32[2, 5]");
    lt_tensor gwih = lt_view2(buf, LT_F32, LT_CPU, 3 * H, I);
    FAILS_WITH(lt_rnn_fwd(be, LT_CELL_GRU, &y, NULL, &h, NULL, &x, &gwih, &gwhh, NULL, NULL, NULL, NULL, &l),
               LT_EINVAL, "cT must be NULL for a GRU");
    lt_tensor lf = lt_view1(lens, LT_F32, LT_CPU, B), ldev = l;
    ldev.device = LT_CUDA;
    FAILS_WITH(lt_rnn_fwd(be, LT_CELL_LSTM, &y, NULL, NULL, NULL, &x, &wih, &whh, NULL, NULL, NULL, NULL, &lf),
               LT_EDTYPE, "lens: expected i32[2]");
    FAILS_WITH(lt_rnn_fwd(be, LT_CELL_LSTM, &y, NULL, NULL, NULL, &x, &wih, &whh, NULL, NULL, NULL, NULL, &ldev),
               LT_EDEVICE, "lens: expected a tensor on the host");
    lt_tensor ws = lt_view1(buf, LT_U8, LT_CPU, 16);
    FAILS_WITH(lt_rnn_bwd(be, LT_CELL_LSTM, NULL, NULL, &whh, NULL, NULL, NULL, NULL, &y, NULL, NULL, &ws, &x, &y,
                          &wih, &whh, NULL, NULL, NULL, NULL, &l),
               LT_ESHAPE, "smaller than the");
    FAILS_WITH(lt_rnn_bwd(be, LT_CELL_LSTM, NULL, NULL, NULL, NULL, NULL, NULL, NULL, &y, NULL, NULL, NULL, &x, &y,
                          &wih, &whh, NULL, NULL, NULL, NULL, &l),
               LT_EINVAL, "rnn_bwd: ws");
    FAILS_WITH(lt_rnn_set_impl(be, LT_RNN_CUDNN), LT_ENOTSUP, "rnn_set_impl: the cpu backend");
    size_t bytes = 0;
    FAILS_WITH(lt_rnn_reserve_bytes(be, LT_CELL_GRU, 0, 3, 4, 5, &bytes), LT_ESHAPE, "rnn_reserve_bytes");
    CHECK(lt_cell_gates(LT_CELL_LSTM) == 4 && lt_cell_gates(LT_CELL_GRU) == 3);
    printf("  argument validation: messages name the op and the argument\n");
}

/* ---- 5. CUDA vs CPU --------------------------------------------------------------------------------- */

static double cmp(const float *a, const float *b, int64_t n, double atol, double rtol) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* 1: compared, 0: the op is not there on this backend (printed) */
static int xdev_case(lt_backend *gpu, const char *label, const rcase *c, double atol, double rtol) {
    float *w[NOUT] = {0}, *gc[NIN] = {0}, *gg[NIN] = {0};
    for (int k = 0; k < NOUT; k++)
        if (out_used(c, k)) w[k] = randv(out_numel(c, k), -1, 1);
    for (int k = 0; k < NIN; k++)
        if (in_used(c, k)) {
            gc[k] = randv(in_numel(c, k), -1, 1);
            gg[k] = malloc(sizeof(float) * (size_t)in_numel(c, k));
            memcpy(gg[k], gc[k], sizeof(float) * (size_t)in_numel(c, k));
        }
    dev dc, dg;
    OK(dev_fwd(g_cpu, c, &dc, 1));
    int rc = dev_fwd(gpu, c, &dg, 1);
    if (rc == LT_ENOTSUP) {
        printf("  %-34s %s: skipped: %s\n", c->name, label, lt_last_error());
        dev_free(g_cpu, &dc), dev_free(gpu, &dg);
        for (int k = 0; k < NOUT; k++) free(w[k]);
        for (int k = 0; k < NIN; k++) free(gc[k]), free(gg[k]);
        return 0;
    }
    OK(rc);
    double worst = 0;
    for (int k = 0; k < NOUT; k++) {
        if (!dc.has_out[k]) continue;
        float *a = download(gpu, &dg.out[k]), *b = download(g_cpu, &dc.out[k]);
        worst = fmax(worst, cmp(a, b, out_numel(c, k), atol, rtol));
        free(a), free(b);
    }
    OK(dev_bwd(g_cpu, c, &dc, w, gc));
    OK(dev_bwd(gpu, c, &dg, w, gg));
    for (int k = 0; k < NIN; k++)
        if (gc[k]) worst = fmax(worst, cmp(gg[k], gc[k], in_numel(c, k), atol, rtol));
    printf("  %-34s %s (atol %.0e, rtol %.0e): worst err/tol %.3f %s\n", c->name, label, atol, rtol, worst,
           worst <= 1 ? "ok" : "FAIL");
    CHECK_MSG(worst <= 1, "%s: %s differs", c->name, label);
    dev_free(g_cpu, &dc), dev_free(gpu, &dg);
    for (int k = 0; k < NOUT; k++) free(w[k]);
    for (int k = 0; k < NIN; k++) free(gc[k]), free(gg[k]);
    return 1;
}

/* bf16 math against the fp32 CPU: 2e-2, and 5e-2 for the H 140 cases, whose weights are drawn
 * within 0.6 like the small ones (the finite differences need them so) but summed over 140 units:
 * their bf16-rounded products reach about 1.2 x 2e-2 (cuemu, 6 seeds). */
static double bf16_tol(const rcase *c) { return c->H > 128 ? 5e-2 : 2e-2; }

static void test_cuda(rcase *cs) {
    lt_backend *gpu = NULL;
    if (tu_gpu(&gpu) < 0) {
        printf("  cuda vs cpu: skipped: no CUDA device\n");
        return;
    }
    for (int i = 0; i < NCASES; i++) {
        lt_backend_set_math(gpu, LT_MATH_FP32);
        if (!xdev_case(gpu, "cuda fp32 vs cpu", &cs[i], 1e-5, 1e-4)) continue;
        lt_backend_set_math(gpu, LT_MATH_BF16);
        xdev_case(gpu, "cuda bf16 vs cpu", &cs[i], bf16_tol(&cs[i]), bf16_tol(&cs[i]));
    }
    if (lt_rnn_set_impl(gpu, LT_RNN_CUDNN) == 0) {
        for (int i = 0; i < NCASES; i++) {
            lt_backend_set_math(gpu, LT_MATH_FP32);
            xdev_case(gpu, "cudnn fp32 vs cpu", &cs[i], 1e-5, 1e-4);
            lt_backend_set_math(gpu, LT_MATH_BF16);
            xdev_case(gpu, "cudnn bf16 vs cpu", &cs[i], bf16_tol(&cs[i]), bf16_tol(&cs[i]));
        }
        OK(lt_rnn_set_impl(gpu, LT_RNN_NATIVE));
    } else {
        printf("  cudnn vs cpu: skipped: %s\n", lt_last_error());
    }
    lt_backend_set_math(gpu, LT_MATH_FP32);
    lt_backend_release(gpu);
}

/* Shapes the cases above never reach on CUDA, each against the CPU: H = 256, the persistent kernels'
 * widest (clusters of 8 blocks of 32 units; B = 37 spreads over several clusters, the last one
 * partial); H = 300, the per-step path; and H = 256 again on a backend made under
 * LONGTAIL_RNN_PERSIST=0 (the per-step path where the persistent kernels would run). Weights within
 * 1/sqrt(H) (PyTorch's init) so the gates do not saturate; lengths from 0 to T. The tolerances are a
 * little looser than the small cases' (sums over 256 to 1,200 terms in another order); a race or a
 * wrong index is off by far more. */
static void test_cuda_wide(void) {
    if (!tu_have_gpu()) {
        printf("  cuda wide shapes: skipped: no CUDA device\n");
        return;
    }
    rcase cs[4] = {
        {.name = "lstm H 256 B 37 (clusters of 8)", .cell = LT_CELL_LSTM, .B = 37, .T = 7, .I = 8, .H = 256,
         .has = {[BIH] = 1, [BHH] = 1, [H0] = 1, [C0] = 1}, .states = 1},
        {.name = "gru H 256 B 37 (clusters of 8)", .cell = LT_CELL_GRU, .B = 37, .T = 7, .I = 8, .H = 256,
         .has = {[BIH] = 1, [BHH] = 1, [H0] = 1}, .states = 1},
        {.name = "lstm H 300 (per-step)", .cell = LT_CELL_LSTM, .B = 6, .T = 5, .I = 8, .H = 300,
         .has = {[BIH] = 1, [BHH] = 1, [H0] = 1, [C0] = 1}, .states = 1},
        {.name = "gru H 300 (per-step)", .cell = LT_CELL_GRU, .B = 6, .T = 5, .I = 8, .H = 300,
         .has = {[BIH] = 1, [BHH] = 1, [H0] = 1}, .states = 1},
    };
    for (int i = 0; i < 4; i++) {
        rcase *c = &cs[i];
        for (int64_t b = 0; b < c->B; b++) c->lens[b] = (int32_t)((b * 5 + 3) % (c->T + 1));
        c->lens[1] = 0, c->lens[2] = (int32_t)c->T;
        case_init(c);
        for (int k = WIH; k <= BHH; k++) /* case_init draws within 0.6 */
            for (int64_t e = 0; c->in[k] && e < in_numel(c, k); e++) c->in[k][e] *= (float)(1.0 / (0.6 * sqrt((double)c->H)));
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) setenv("LONGTAIL_RNN_PERSIST", "0", 1); /* read when a backend's rnn state is made */
        lt_backend *gpu = NULL;
        CHECK_MSG(tu_gpu(&gpu) == 0, "cuda backend: %s", lt_last_error());
        if (!gpu) break;
        for (int i = 0; i < (pass == 0 ? 4 : 2); i++) {
            char label[64];
            snprintf(label, sizeof label, "cuda fp32 vs cpu%s", pass ? ", PERSIST=0" : "");
            lt_backend_set_math(gpu, LT_MATH_FP32);
            if (!xdev_case(gpu, label, &cs[i], 1e-4, 1e-3)) continue;
            snprintf(label, sizeof label, "cuda bf16 vs cpu%s", pass ? ", PERSIST=0" : "");
            lt_backend_set_math(gpu, LT_MATH_BF16);
            xdev_case(gpu, label, &cs[i], 5e-2, 5e-2);
        }
        lt_backend_release(gpu);
        if (pass == 1) unsetenv("LONGTAIL_RNN_PERSIST");
    }
    for (int i = 0; i < 4; i++) case_free(&cs[i]);
}

/* ---- 6. golden: the module against PyTorch ------------------------------------------------------------ */

#ifdef LONGTAIL_HAVE_HDF5
#define GOLDEN_TOL 1e-5 /* fp32 against the float64 reference */

static const lt_st_tensor *fx(const lt_safetensors *st, const char *name) { return golden_tensor(st, "rnn", name); }

static lt_tensor fx_upload(lt_backend *be, const lt_safetensors *st, const char *name) {
    const lt_st_tensor *t = fx(st, name);
    return upload(be, (const float *)t->data, t->ndim, t->shape);
}

static double fx_compare(lt_backend *be, const lt_safetensors *st, const char *name, const lt_tensor *got) {
    const lt_st_tensor *t = fx(st, name);
    CHECK_MSG(t->numel == lt_numel(got), "%s: %lld elements, fixture %lld", name, (long long)lt_numel(got),
              (long long)t->numel);
    if (t->numel != lt_numel(got)) return INFINITY;
    float *h = download(be, got);
    double e = golden_rel_err(h, (const float *)t->data, t->numel, 1e-6);
    free(h);
    CHECK_MSG(e <= GOLDEN_TOL, "%s: relative error %.3g > %.0e", name, e, GOLDEN_TOL);
    return e;
}

/* 0 done, 1 the backend lacks the ops (printed) */
static int golden_case(lt_backend *be, const lt_safetensors *st, const char *name, lt_cell cell, int64_t proj) {
    char key[128], pre[32];
    snprintf(pre, sizeof pre, "%s.", name);
    snprintf(key, sizeof key, "%s.x", name);
    const lt_st_tensor *xt = fx(st, key);
    int64_t B = xt->shape[0], T = xt->shape[1];
    snprintf(key, sizeof key, "%s.h_n", name);
    int64_t L = fx(st, key)->shape[0], H = fx(st, key)->shape[2];
    lt_recurrent_config cfg = {.cell = cell, .input = xt->shape[2], .hidden = H, .layers = L, .dropout = 0, .proj = proj};
    lt_params ps;
    lt_params_init(&ps, be);
    lt_rng r;
    lt_rng_init(&r, 1, 0);
    lt_recurrent *m;
    OK(lt_recurrent_create(&m, &ps, pre, &cfg, &r));
    CHECK(ps.n == (int)(4 * L + (proj > 0 ? 2 : 0)));
    for (int i = 0; i < ps.n; i++) { /* the fixture's weights, by PyTorch's names */
        const lt_st_tensor *t = fx(st, ps.p[i].name);
        CHECK_MSG(t->numel == lt_numel(&ps.p[i].value), "%s: shape differs from the fixture", ps.p[i].name);
        lt_tensor h = lt_view((void *)t->data, LT_F32, LT_CPU, ps.p[i].value.ndim, ps.p[i].value.shape);
        OK(lt_tensor_copy(be, &ps.p[i].value, &h));
    }
    int rc = lt_recurrent_reserve(m, B, T, 1);
    snprintf(key, sizeof key, "%s.x", name);
    lt_tensor x = fx_upload(be, st, key);
    snprintf(key, sizeof key, "%s.lens", name);
    const int32_t *lens = (const int32_t *)fx(st, key)->data;
    if (rc >= 0) rc = lt_recurrent_forward(m, &x, lens, 1, 7, 0);
    if (rc == LT_ENOTSUP) {
        printf("  golden %s on %s: skipped: %s\n", name, lt_backend_name(be), lt_last_error());
        lt_tensor_free(be, &x), lt_recurrent_free(m), lt_params_free(&ps);
        return 1;
    }
    OK(rc);
    double out_err = 0, grad_err = 0;
    snprintf(key, sizeof key, "%s.out", name);
    out_err = fmax(out_err, fx_compare(be, st, key, lt_recurrent_output(m)));
    snprintf(key, sizeof key, "%s.h_n", name);
    out_err = fmax(out_err, fx_compare(be, st, key, lt_recurrent_h_n(m)));
    if (cell == LT_CELL_LSTM) {
        snprintf(key, sizeof key, "%s.c_n", name);
        out_err = fmax(out_err, fx_compare(be, st, key, lt_recurrent_c_n(m)));
    }
    OK(lt_params_zero_grad(&ps));
    snprintf(key, sizeof key, "%s.dout", name);
    lt_tensor dout = fx_upload(be, st, key);
    snprintf(key, sizeof key, "%s.dh_n", name);
    lt_tensor dh = fx_upload(be, st, key), dc = {0};
    if (cell == LT_CELL_LSTM) {
        snprintf(key, sizeof key, "%s.dc_n", name);
        dc = fx_upload(be, st, key);
    }
    lt_tensor dx;
    OK(lt_tensor_new(&dx, be, LT_F32, 3, x.shape));
    OK(lt_recurrent_backward(m, &dout, &dh, cell == LT_CELL_LSTM ? &dc : NULL, &dx));
    snprintf(key, sizeof key, "%s.grad.x", name);
    grad_err = fmax(grad_err, fx_compare(be, st, key, &dx));
    for (int i = 0; i < ps.n; i++) {
        snprintf(key, sizeof key, "grad.%s", ps.p[i].name);
        grad_err = fmax(grad_err, fx_compare(be, st, key, &ps.p[i].grad));
    }
    printf("  golden %-4s vs torch (%s, 2 layers%s) on %s: outputs and final states max rel err %.2e, "
           "%d weight gradients + dx max rel err %.2e (tol %.0e)\n",
           name, cell == LT_CELL_LSTM ? "nn.LSTM" : "nn.GRU", proj ? " + Linear" : "", lt_backend_name(be), out_err,
           ps.n, grad_err, GOLDEN_TOL);

    lt_tensor_free(be, &x), lt_tensor_free(be, &dout), lt_tensor_free(be, &dh), lt_tensor_free(be, &dx);
    if (dc.data) lt_tensor_free(be, &dc);
    lt_recurrent_free(m);
    lt_params_free(&ps);
    return 0;
}

/* The module's own wiring (projection, dropout between layers, final states of every layer) against
 * finite differences, in training mode with dropout 0.4; and its dropout masks repeat for the same
 * (seed, step) and change with the step. */
static double module_loss(lt_recurrent *m, const lt_tensor *x, const int32_t *lens, float *const *w, uint64_t step) {
    OK(lt_recurrent_forward(m, x, lens, 1, 11, step));
    const lt_tensor *outs[3] = {lt_recurrent_output(m), lt_recurrent_h_n(m), lt_recurrent_c_n(m)};
    double L = 0;
    for (int k = 0; k < 3; k++) {
        if (!outs[k]) continue;
        float *h = download(g_cpu, outs[k]);
        for (int64_t i = 0; i < lt_numel(outs[k]); i++) L += (double)w[k][i] * h[i];
        free(h);
    }
    return L;
}

static void test_module_fd(lt_cell cell) {
    const int64_t B = 3, T = 4, I = 3, H = 5, L = 2, Pj = 4;
    int32_t lens[3] = {4, 0, 2};
    lt_recurrent_config cfg = {.cell = cell, .input = I, .hidden = H, .layers = L, .dropout = 0.4f, .proj = Pj};
    lt_params ps;
    lt_params_init(&ps, g_cpu);
    lt_rng r;
    lt_rng_init(&r, 5, 0);
    lt_recurrent *m;
    OK(lt_recurrent_create(&m, &ps, "user.rnn.", &cfg, &r));
    CHECK(lt_params_find(&ps, "user.rnn.weight_hh_l1") && lt_params_find(&ps, "user.rnn.proj.bias"));
    OK(lt_recurrent_reserve(m, B, T, 1));
    float *xh = randv(B * T * I, -1, 1);
    lt_tensor x = upload(g_cpu, xh, 3, (int64_t[]){B, T, I});
    float *w[3] = {randv(B * T * Pj, -1, 1), randv(L * B * H, -1, 1), cell == LT_CELL_LSTM ? randv(L * B * H, -1, 1) : NULL};
    /* masks: same (seed, step) -> same output; another step -> another */
    double l1 = module_loss(m, &x, lens, w, 3), l2 = module_loss(m, &x, lens, w, 3), l3 = module_loss(m, &x, lens, w, 4);
    CHECK_MSG(l1 == l2 && l1 != l3, "dropout masks: step 3 twice %.9g %.9g, step 4 %.9g", l1, l2, l3);
    /* analytic gradients */
    OK(lt_params_zero_grad(&ps));
    module_loss(m, &x, lens, w, 3);
    lt_tensor dout = upload(g_cpu, w[0], 3, (int64_t[]){B, T, Pj}), dh = upload(g_cpu, w[1], 3, (int64_t[]){L, B, H});
    lt_tensor dc = w[2] ? upload(g_cpu, w[2], 3, (int64_t[]){L, B, H}) : (lt_tensor){0}, dx;
    OK(lt_tensor_new(&dx, g_cpu, LT_F32, 3, (int64_t[]){B, T, I}));
    OK(lt_recurrent_backward(m, &dout, &dh, w[2] ? &dc : NULL, &dx));
    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = -1; i < ps.n; i++) { /* -1: the input */
        lt_tensor *val = i < 0 ? &x : &ps.p[i].value;
        float *v = download(g_cpu, val), *g = download(g_cpu, i < 0 ? &dx : &ps.p[i].grad);
        int64_t n = lt_numel(val);
        for (int sdx = 0; sdx < 6; sdx++) {
            int64_t j = (int64_t)lt_rng_below(&g_rng, (uint64_t)n);
            float keep = v[j];
            v[j] = keep + (float)FD_EPS;
            OK(lt_tensor_copy(g_cpu, val, &(lt_tensor){.data = v, .ndim = val->ndim, .dtype = LT_F32, .device = LT_CPU,
                                                        .shape = {val->shape[0], val->shape[1], val->shape[2], val->shape[3]}}));
            double lp = module_loss(m, &x, lens, w, 3);
            v[j] = keep - (float)FD_EPS;
            OK(lt_tensor_copy(g_cpu, val, &(lt_tensor){.data = v, .ndim = val->ndim, .dtype = LT_F32, .device = LT_CPU,
                                                        .shape = {val->shape[0], val->shape[1], val->shape[2], val->shape[3]}}));
            double lm = module_loss(m, &x, lens, w, 3);
            v[j] = keep;
            OK(lt_tensor_copy(g_cpu, val, &(lt_tensor){.data = v, .ndim = val->ndim, .dtype = LT_F32, .device = LT_CPU,
                                                        .shape = {val->shape[0], val->shape[1], val->shape[2], val->shape[3]}}));
            double h = (double)(keep + (float)FD_EPS) - (double)(keep - (float)FD_EPS);
            double num = (lp - lm) / h, err = fabs(num - g[j]), lim = FD_ATOL + FD_RTOL * fabs(num);
            worst = fmax(worst, err / lim);
            checked++;
            if (err > lim && bad++ < 5)
                fprintf(stderr, "  module %s: d/d%s[%lld]: finite difference %.7g, backward %.7g\n",
                        cell == LT_CELL_LSTM ? "lstm" : "gru", i < 0 ? "x" : ps.p[i].name, (long long)j, num, g[j]);
        }
        free(v), free(g);
    }
    printf("  %-34s module bwd vs finite differences: %3d gradients, worst err/tol %.3f %s\n",
           cell == LT_CELL_LSTM ? "module lstm 2 layers, dropout, proj" : "module gru 2 layers, dropout, proj", checked,
           worst, bad ? "FAIL" : "ok");
    CHECK_MSG(bad == 0, "module: %d of %d gradients off", bad, checked);
    if (worst > g_fd_worst) g_fd_worst = worst;
    lt_tensor_free(g_cpu, &x), lt_tensor_free(g_cpu, &dout), lt_tensor_free(g_cpu, &dh), lt_tensor_free(g_cpu, &dx);
    if (dc.data) lt_tensor_free(g_cpu, &dc);
    free(xh), free(w[0]), free(w[1]), free(w[2]);
    lt_recurrent_free(m);
    lt_params_free(&ps);
}

static void test_golden(void) {
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/tests/golden/rnn/fixture.safetensors", tu_source_dir());
    lt_safetensors st;
    OK(lt_safetensors_open(&st, path));
    golden_case(g_cpu, &st, "lstm", LT_CELL_LSTM, 5);
    golden_case(g_cpu, &st, "gru", LT_CELL_GRU, 0);
    lt_backend *gpu = NULL;
    if (tu_gpu(&gpu) < 0) {
        printf("  golden on cuda: skipped: no CUDA device\n");
    } else {
        lt_backend_set_math(gpu, LT_MATH_FP32);
        golden_case(gpu, &st, "lstm", LT_CELL_LSTM, 5);
        golden_case(gpu, &st, "gru", LT_CELL_GRU, 0);
        lt_backend_release(gpu);
    }
    lt_safetensors_close(&st);
}
#else
static void test_module_fd(lt_cell cell) { (void)cell; printf("  module: skipped: built without HDF5\n"); }
static void test_golden(void) { printf("  golden: skipped: built without HDF5 (the module's parameter list needs it)\n"); }
#endif

int main(void) {
    lt_rng_init(&g_rng, tu_seed(), 0);
    g_cpu = lt_backend_cpu();
    printf("%s\n", lt_backend_describe(g_cpu));
    test_harness_can_fail();
    test_validation();
    rcase cs[NCASES];
    make_cases(cs);
    for (int i = 0; i < NCASES; i++) fd_check(&cs[i], 1.0f, 0), padding_check(&cs[i]);
    printf("  finite differences: worst err/tol over every case %.3f (eps %.0e, atol %.0e, rtol %.0e)\n", g_fd_worst,
           FD_EPS, FD_ATOL, FD_RTOL);
    test_threads();
    test_cuda(cs);
    test_cuda_wide();
    test_module_fd(LT_CELL_LSTM);
    test_module_fd(LT_CELL_GRU);
    test_golden();
    for (int i = 0; i < NCASES; i++) case_free(&cs[i]);
    return tu_finish("test_rnn");
}
