/* tests/test_ops: every op of the backend table, on every backend.
 *
 * For each op:
 *  1. the CPU backward against central finite differences of the CPU forward: the loss is
 *     L = sum(w * out) with fixed random w, accumulated in double; eps and tolerances per op;
 *     gradient buffers start from random values, so an op that overwrites instead of
 *     accumulating fails;
 *  2. forward-only ops against a plain double-precision reference written here;
 *  3. CUDA against CPU: the same fresh random inputs (never zeros) through both backends,
 *     forward outputs and accumulated gradients compared with a stated tolerance per op.
 *     Without a GPU these cases print "skipped: no CUDA device".
 * The seed is printed; LONGTAIL_TEST_SEED=<seed> repeats a run.
 *
 * Modes for bench/gpu-check.sh (environment variables, each "1" to turn it on):
 *  LONGTAIL_TEST_CUDA_STRICT  a GPU is expected: no CUDA device, or an op that answers "not
 *                             implemented" (LT_ENOTSUP) on CUDA, is a FAILURE instead of a skip;
 *  LONGTAIL_TEST_SMALL        small shapes only and no finite differences (CPU-only work), for a
 *                             run under compute-sanitizer, which slows every kernel a hundredfold;
 *  LONGTAIL_TEST_LARGE        adds CUDA-vs-CPU cases at realistic shapes: LayerNorm and softmax rows
 *                             wider than 1,024 and 4,096, BERT-base batch 64 (seq 128, 12 heads),
 *                             k-means k = 20,000. */
#include <math.h>
#include <stdint.h>

#include "core/backend_impl.h"
#include "cpu/cpu.h"
#include "longtail/backend.h"
#include "longtail/ops.h"
#include "longtail/rng.h"
#include "testutil.h"

static lt_rng g_rng;
static lt_backend *g_cpu, *g_cuda;
static int g_quiet; /* the harness self-check plants an error: do not print it as a failure */
static int g_strict, g_small, g_large; /* the modes above */

static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* No CUDA device: a skip, or a failure where the caller said a GPU is there. */
static void no_cuda(const char *name) {
    printf("  %-28s cuda vs cpu: %s: no CUDA device\n", name, g_strict ? "FAIL" : "skipped");
    CHECK_MSG(!g_strict, "%s: LONGTAIL_TEST_CUDA_STRICT=1 but no CUDA device", name);
}

/* The CUDA backend lacks the op: a skip, or a failure in strict mode. */
static void cuda_unsupported(const char *name) {
    printf("  %-28s cuda vs cpu: %s: not implemented on cuda in this build\n", name, g_strict ? "FAIL" : "skipped");
    CHECK_MSG(!g_strict, "%s: not implemented on cuda (LONGTAIL_TEST_CUDA_STRICT=1 counts that as a failure)", name);
}

/* ---- host arrays ---------------------------------------------------------------------------- */

typedef struct {
    lt_dtype dt;
    int ndim;
    int64_t shape[4];
    void *h;  /* host data (inputs only) */
    int diff; /* inputs: differentiable */
} harr;

static int64_t harr_numel(const harr *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

static harr mk(lt_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    harr a = {.dt = dt, .ndim = ndim, .shape = {d0, d1, d2, 1}};
    a.h = calloc((size_t)harr_numel(&a), lt_dtype_size(dt));
    return a;
}

/* Uniform in [lo, hi), never exactly zero. */
static harr randf(int ndim, int64_t d0, int64_t d1, int64_t d2, float lo, float hi) {
    harr a = mk(LT_F32, ndim, d0, d1, d2);
    float *p = a.h;
    for (int64_t i = 0; i < harr_numel(&a); i++) {
        do p[i] = lo + (hi - lo) * lt_rng_next_uniform(&g_rng);
        while (p[i] == 0.0f);
    }
    return a;
}

static harr randi(int64_t n, int32_t lo, int32_t hi) {
    harr a = mk(LT_I32, 1, n, 0, 0);
    int32_t *p = a.h;
    for (int64_t i = 0; i < n; i++) p[i] = lo + (int32_t)lt_rng_below(&g_rng, (uint64_t)(hi - lo));
    return a;
}

static lt_tensor upload(lt_backend *be, const harr *a) {
    lt_tensor t;
    OK(lt_tensor_new(&t, be, a->dt, a->ndim, a->shape));
    lt_tensor host = lt_view(a->h, a->dt, LT_CPU, a->ndim, a->shape);
    OK(lt_tensor_copy(be, &t, &host));
    return t;
}

static void *download(lt_backend *be, const lt_tensor *t) {
    void *h = malloc(lt_nbytes(t) + 1);
    lt_tensor host = lt_view(h, t->dtype, LT_CPU, t->ndim, t->shape);
    OK(lt_tensor_copy(be, &host, t));
    OK(lt_backend_sync(be));
    return h;
}

/* ---- op specifications ---------------------------------------------------------------------- */

#define MAXT 6
typedef struct spec spec;
struct spec {
    const char *name;
    int nin, nout, nloss; /* outputs [0, nloss) enter the FD loss; later ones are saved stats */
    harr in[MAXT];
    harr out[MAXT]; /* dtype and shape only */
    int (*fwd)(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out);
    /* accumulate gradients of the differentiable inputs into din (others are untouched) */
    int (*bwd)(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din);
    double eps, atol, rtol;  /* finite differences */
    double xatol, xrtol;     /* CUDA vs CPU */
    double sum_atol[MAXT];   /* CUDA vs CPU, when set: atol of input i's gradient, a sum over every row
                              * (a bias, LayerNorm's weight), which the CPU adds up row after row */
    int no_fd;               /* skip finite differences (see the case for why) */
    float p0, p1;            /* op parameters */
    int i0;
    int causal;              /* attention: the causal op pair */
};

static void spec_free(spec *s) {
    for (int i = 0; i < s->nin; i++) free(s->in[i].h);
}

typedef struct {
    lt_tensor in[MAXT], out[MAXT];
} run;

static void run_fwd(lt_backend *be, const spec *s, run *r) {
    for (int i = 0; i < s->nin; i++) r->in[i] = upload(be, &s->in[i]);
    for (int i = 0; i < s->nout; i++) OK(lt_tensor_new(&r->out[i], be, s->out[i].dt, s->out[i].ndim, s->out[i].shape));
    int rc = s->fwd(be, s, r->in, r->out);
    if (rc < 0) {
        fprintf(stderr, "%s fwd on %s failed: %s\n", s->name, lt_backend_name(be), lt_last_error());
        exit(1);
    }
}

static void run_free(lt_backend *be, const spec *s, run *r) {
    for (int i = 0; i < s->nin; i++) lt_tensor_free(be, &r->in[i]);
    for (int i = 0; i < s->nout; i++) lt_tensor_free(be, &r->out[i]);
}

/* L = sum over loss outputs of w * out, in double */
static double loss_of(const spec *s, run *r, float **w) {
    double L = 0;
    for (int o = 0; o < s->nloss; o++) {
        float *y = download(g_cpu, &r->out[o]);
        for (int64_t i = 0; i < lt_numel(&r->out[o]); i++) L += (double)w[o][i] * y[i];
        free(y);
    }
    return L;
}

/* ---- 1. CPU backward vs finite differences -------------------------------------------------- */

static void fd_check(spec *s) {
    if (!s->bwd || s->no_fd || g_small) return;
    float *w[MAXT];
    harr dout_h[MAXT], din0[MAXT];
    for (int o = 0; o < s->nloss; o++) {
        dout_h[o] = randf(s->out[o].ndim, s->out[o].shape[0], s->out[o].shape[1], s->out[o].shape[2], -1, 1);
        dout_h[o].ndim = s->out[o].ndim;
        memcpy(dout_h[o].shape, s->out[o].shape, sizeof dout_h[o].shape);
        w[o] = dout_h[o].h;
    }
    /* analytic: run forward, then backward into buffers that start at random values */
    run r;
    run_fwd(g_cpu, s, &r);
    lt_tensor dout[MAXT], din[MAXT];
    for (int o = 0; o < s->nloss; o++) dout[o] = upload(g_cpu, &dout_h[o]);
    for (int i = 0; i < s->nin; i++) {
        din0[i] = randf(s->in[i].ndim, s->in[i].shape[0], s->in[i].shape[1], s->in[i].shape[2], -1, 1);
        din0[i].ndim = s->in[i].ndim;
        memcpy(din0[i].shape, s->in[i].shape, sizeof din0[i].shape);
        din[i] = upload(g_cpu, &din0[i]);
    }
    OK(s->bwd(g_cpu, s, r.in, r.out, dout, din));
    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = 0; i < s->nin; i++) {
        if (!s->in[i].diff) continue;
        float *g = download(g_cpu, &din[i]);
        float *g0 = din0[i].h;
        float *x = s->in[i].h;
        int64_t n = harr_numel(&s->in[i]);
        int samples = n < 48 ? (int)n : 48;
        for (int k = 0; k < samples; k++) {
            int64_t j = n <= 48 ? k : (int64_t)lt_rng_below(&g_rng, (uint64_t)n);
            float keep = x[j];
            run rp, rm;
            x[j] = keep + (float)s->eps;
            run_fwd(g_cpu, s, &rp);
            double lp = loss_of(s, &rp, w);
            x[j] = keep - (float)s->eps;
            run_fwd(g_cpu, s, &rm);
            double lm = loss_of(s, &rm, w);
            x[j] = keep;
            run_free(g_cpu, s, &rp), run_free(g_cpu, s, &rm);
            /* the eps actually applied, after rounding to float */
            double h = ((double)(keep + (float)s->eps) - (double)(keep - (float)s->eps));
            double num = (lp - lm) / h, ana = (double)g[j] - (double)g0[j];
            double err = fabs(num - ana), lim = s->atol + s->rtol * fabs(num);
            if (err / lim > worst) worst = err / lim;
            checked++;
            if (err > lim && bad++ < 5 && !g_quiet)
                fprintf(stderr, "  %s: d/d%s[%lld]: finite difference %.7g, backward %.7g (|err| %.3g > %.3g)\n",
                        s->name, s->name, (long long)j, num, ana, err, lim);
        }
        free(g);
    }
    if (!g_quiet)
        printf("  %-28s cpu bwd vs finite differences: %d gradients, worst err/tol %.3f %s\n", s->name, checked,
               worst, bad ? "FAIL" : "ok");
    if (g_quiet) tu_failures += bad != 0;
    else CHECK_MSG(bad == 0, "%s: %d of %d gradients off", s->name, bad, checked);
    CHECK_MSG(checked > 0, "%s: no gradient was checked", s->name);
    for (int o = 0; o < s->nloss; o++) lt_tensor_free(g_cpu, &dout[o]), free(dout_h[o].h);
    for (int i = 0; i < s->nin; i++) lt_tensor_free(g_cpu, &din[i]), free(din0[i].h);
    run_free(g_cpu, s, &r);
}

/* ---- 3. CUDA vs CPU ------------------------------------------------------------------------- */

/* max over elements of |a - b| / (atol + rtol |b|); prints the worst element when > 1 */
static double compare(const char *what, const lt_tensor *t, const void *a, const void *b, double atol, double rtol) {
    int64_t n = lt_numel(t), worst_i = -1;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double x, y;
        if (t->dtype == LT_I32) x = ((const int32_t *)a)[i], y = ((const int32_t *)b)[i];
        else x = ((const float *)a)[i], y = ((const float *)b)[i];
        double e = (isnan(x) && isnan(y)) ? 0 : (x == y) ? 0 : fabs(x - y) / (atol + rtol * fabs(y));
        if (isnan(e)) e = INFINITY;
        if (e > worst) worst = e, worst_i = i;
    }
    if (worst > 1) {
        double x = t->dtype == LT_I32 ? ((const int32_t *)a)[worst_i] : ((const float *)a)[worst_i];
        double y = t->dtype == LT_I32 ? ((const int32_t *)b)[worst_i] : ((const float *)b)[worst_i];
        fprintf(stderr, "  %s: element %lld: cuda %.8g, cpu %.8g\n", what, (long long)worst_i, x, y);
    }
    return worst;
}

static void xdev_check(spec *s) {
    if (!g_cuda) {
        no_cuda(s->name);
        return;
    }
    run rc, rg;
    run_fwd(g_cpu, s, &rc);
    run_fwd(g_cuda, s, &rg);
    double worst = 0;
    char what[96];
    for (int o = 0; o < s->nout; o++) {
        void *a = download(g_cuda, &rg.out[o]), *b = download(g_cpu, &rc.out[o]);
        snprintf(what, sizeof what, "%s out[%d]", s->name, o);
        double e = compare(what, &rc.out[o], a, b, s->xatol, s->xrtol);
        if (e > worst) worst = e;
        free(a), free(b);
    }
    if (s->bwd) {
        harr dout_h[MAXT], din_h[MAXT];
        lt_tensor dc[MAXT], dg[MAXT], ic[MAXT], ig[MAXT];
        for (int o = 0; o < s->nloss; o++) {
            dout_h[o] = randf(1, lt_numel(&rc.out[o]), 0, 0, -1, 1);
            dc[o] = upload(g_cpu, &dout_h[o]), dg[o] = upload(g_cuda, &dout_h[o]);
            OK(lt_reshape(&dc[o], &dc[o], rc.out[o].ndim, rc.out[o].shape));
            OK(lt_reshape(&dg[o], &dg[o], rc.out[o].ndim, rc.out[o].shape));
        }
        for (int i = 0; i < s->nin; i++) {
            din_h[i] = randf(1, harr_numel(&s->in[i]), 0, 0, -1, 1);
            ic[i] = upload(g_cpu, &din_h[i]), ig[i] = upload(g_cuda, &din_h[i]);
            OK(lt_reshape(&ic[i], &ic[i], s->in[i].ndim, s->in[i].shape));
            OK(lt_reshape(&ig[i], &ig[i], s->in[i].ndim, s->in[i].shape));
        }
        OK(s->bwd(g_cpu, s, rc.in, rc.out, dc, ic));
        OK(s->bwd(g_cuda, s, rg.in, rg.out, dg, ig));
        for (int i = 0; i < s->nin; i++) {
            if (s->in[i].diff) {
                void *a = download(g_cuda, &ig[i]), *b = download(g_cpu, &ic[i]);
                snprintf(what, sizeof what, "%s grad[%d]", s->name, i);
                double e = compare(what, &ic[i], a, b, s->sum_atol[i] > 0 ? s->sum_atol[i] : s->xatol, s->xrtol);
                if (e > worst) worst = e;
                free(a), free(b);
            }
            lt_tensor_free(g_cpu, &ic[i]), lt_tensor_free(g_cuda, &ig[i]), free(din_h[i].h);
        }
        for (int o = 0; o < s->nloss; o++) lt_tensor_free(g_cpu, &dc[o]), lt_tensor_free(g_cuda, &dg[o]), free(dout_h[o].h);
    }
    double sum_atol = 0;
    for (int i = 0; i < s->nin; i++) sum_atol = fmax(sum_atol, s->sum_atol[i]);
    char sums[48] = "";
    if (sum_atol > 0) snprintf(sums, sizeof sums, ", column sums %.0e", sum_atol);
    printf("  %-28s cuda vs cpu (atol %.0e%s, rtol %.0e): worst err/tol %.3f %s\n", s->name, s->xatol, sums, s->xrtol,
           worst, worst <= 1 ? "ok" : "FAIL");
    CHECK_MSG(worst <= 1, "%s: cuda and cpu differ", s->name);
    run_free(g_cpu, s, &rc), run_free(g_cuda, s, &rg);
}

static void check_op(spec *s) {
    fd_check(s);
    xdev_check(s);
    spec_free(s);
}

/* ---- the ops ---------------------------------------------------------------------------------- */

/* matmul: out = a @ b (trans flags in i0: bit 0 = a^T, bit 1 = b^T) */
static int mm_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_matmul(be, &out[0], &in[0], s->i0 & 1, &in[1], (s->i0 >> 1) & 1, 1.0f, 0.0f);
}
/* C = A B: dA += dC B^T, dB += A^T dC (untransposed case, batched or not) */
static int mm_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    LT_TRY(lt_matmul(be, &din[0], &dout[0], 0, &in[1], 1, 1.0f, 1.0f));
    return lt_matmul(be, &din[1], &in[0], 1, &dout[0], 0, 1.0f, 1.0f);
}

static void test_matmul(void) {
    spec s = {.name = "matmul", .nin = 2, .nout = 1, .nloss = 1, .fwd = mm_fwd, .bwd = mm_bwd,
              .eps = 1e-2, .atol = 2e-3, .rtol = 2e-3, .xatol = 1e-4, .xrtol = 1e-4};
    s.in[0] = randf(2, 13, 37, 0, -1, 1), s.in[0].diff = 1;
    s.in[1] = randf(2, 37, 21, 0, -1, 1), s.in[1].diff = 1;
    s.out[0] = mk(LT_F32, 2, 13, 21, 0);
    free(s.out[0].h);
    check_op(&s);

    spec b = s;
    b.name = "matmul batched";
    b.in[0] = randf(3, 3, 9, 16, -1, 1), b.in[0].diff = 1;
    b.in[1] = randf(3, 3, 16, 11, -1, 1), b.in[1].diff = 1;
    b.out[0] = (harr){.dt = LT_F32, .ndim = 3, .shape = {3, 9, 11}};
    check_op(&b);
}

/* Every transpose combination, batching with a broadcast operand, alpha and beta, against a
 * double reference; and bf16 operands against the reference on bf16-rounded inputs.
 * bf16 = 2: fp32 operands already rounded to bf16, through lt_matmul (for bf16 math, which must then
 * be as exact as fp32); bf16 = 3: as 1 with C in bf16 too (read, and written rounded).
 * big: sizes past the CPU's bf16-math threshold (src/cpu/gemm.c). */
static double gemm_reference(lt_backend *be, double tol, int bf16, int big) {
    int64_t B = 3, m = big ? 129 : 17, n = big ? 131 : 19, k = big ? 137 : 23;
    double worst = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            harr a = randf(3, B, ta ? k : m, ta ? m : k, -1, 1);
            harr b = randf(2, tb ? n : k, tb ? k : n, 0, -1, 1); /* broadcast over the batch */
            harr c = randf(3, B, m, n, -1, 1);
            float alpha = 0.75f, beta = -0.5f;
            float *A = a.h, *Bm = b.h, *C = c.h;
            if (bf16) /* round inputs so the reference sees what the GEMM sees */
                for (int64_t i = 0; i < harr_numel(&a); i++) A[i] = lt_bf16_to_f32(lt_f32_to_bf16(A[i]));
            if (bf16)
                for (int64_t i = 0; i < harr_numel(&b); i++) Bm[i] = lt_bf16_to_f32(lt_f32_to_bf16(Bm[i]));
            lt_tensor ta_t = upload(be, &a), tb_t = upload(be, &b), tc = upload(be, &c);
            if (bf16 == 3) /* C is stored in bf16: the reference reads the rounded C */
                for (int64_t i = 0; i < harr_numel(&c); i++) C[i] = lt_bf16_to_f32(lt_f32_to_bf16(C[i]));
            if (bf16 == 1 || bf16 == 3) { /* bf16 x bf16 -> f32 (or bf16) through the raw descriptor */
                uint16_t *ha = malloc(2 * harr_numel(&a)), *hb = malloc(2 * harr_numel(&b));
                for (int64_t i = 0; i < harr_numel(&a); i++) ha[i] = lt_f32_to_bf16(A[i]);
                for (int64_t i = 0; i < harr_numel(&b); i++) hb[i] = lt_f32_to_bf16(Bm[i]);
                lt_tensor a16, b16, c16 = {0};
                harr a16h = a, b16h = b, c16h = c;
                a16h.dt = b16h.dt = c16h.dt = LT_BF16;
                a16h.h = ha, b16h.h = hb;
                a16 = upload(be, &a16h), b16 = upload(be, &b16h);
                if (bf16 == 3) {
                    uint16_t *hc = malloc(2 * harr_numel(&c));
                    for (int64_t i = 0; i < harr_numel(&c); i++) hc[i] = lt_f32_to_bf16(C[i]);
                    c16h.h = hc, c16 = upload(be, &c16h), free(hc);
                }
                lt_gemm_desc d = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
                                  .a = a16.data, .a_type = LT_BF16, .lda = ta ? m : k, .stride_a = m * k,
                                  .b = b16.data, .b_type = LT_BF16, .ldb = tb ? k : n, .stride_b = 0,
                                  .c = bf16 == 3 ? c16.data : tc.data, .c_type = bf16 == 3 ? LT_BF16 : LT_F32,
                                  .ldc = n, .stride_c = m * n, .batch = B};
                OK(lt_gemm(be, &d));
                if (bf16 == 3) { /* the result back into tc, widened */
                    uint16_t *hc = download(be, &c16);
                    float *wc = malloc(4 * harr_numel(&c));
                    for (int64_t i = 0; i < harr_numel(&c); i++) wc[i] = lt_bf16_to_f32(hc[i]);
                    lt_tensor host = lt_view(wc, LT_F32, LT_CPU, c.ndim, c.shape);
                    OK(lt_tensor_copy(be, &tc, &host));
                    free(hc), free(wc), lt_tensor_free(be, &c16);
                }
                lt_tensor_free(be, &a16), lt_tensor_free(be, &b16);
                free(ha), free(hb);
            } else {
                OK(lt_matmul(be, &tc, &ta_t, ta, &tb_t, tb, alpha, beta));
            }
            float *got = download(be, &tc);
            for (int64_t bi = 0; bi < B; bi++)
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double acc = 0;
                        for (int64_t p = 0; p < k; p++) {
                            double av = ta ? A[bi * m * k + p * m + i] : A[bi * m * k + i * k + p];
                            double bv = tb ? Bm[j * k + p] : Bm[p * n + j];
                            acc += av * bv;
                        }
                        double want = alpha * acc + beta * C[bi * m * n + i * n + j];
                        double e = fabs(got[bi * m * n + i * n + j] - want) / (tol * (1 + fabs(want)));
                        if (e > worst) worst = e;
                    }
            free(got);
            lt_tensor_free(be, &ta_t), lt_tensor_free(be, &tb_t), lt_tensor_free(be, &tc);
            free(a.h), free(b.h), free(c.h);
        }
    return worst;
}

static void test_gemm_reference(lt_backend *be, const char *label, double tol, int bf16) {
    double worst = gemm_reference(be, tol, bf16, 0);
    printf("  %-28s vs double reference, 4 transposes x batch 3 (broadcast B), alpha/beta: worst err/tol %.3f %s\n",
           label, worst, worst <= 1 ? "ok" : "FAIL");
    CHECK_MSG(worst <= 1, "%s: gemm differs from reference", label);
}

/* bf16 math on the CPU (oneDNN, src/cpu/dnnl.c): on bf16-exact inputs as exact as fp32; on any
 * inputs within bf16's rounding, and visibly not fp32 (else the bf16 path never ran); bf16 operands
 * and a bf16 C through the raw descriptor. On a CPU without bf16 instructions the same path runs in
 * oneDNN's check mode (fp32 operands holding bf16 values), so the packing, descriptors, batching,
 * broadcast, scales and the bf16 C are checked on every machine that has oneDNN. */
static void test_gemm_cpu_bf16_math(lt_backend *cpu) {
    int check = 0;
    if (!lt__dnnl_available()) {
        if (!lt__dnnl_check(1)) {
            printf("  %-28s skipped: %s\n", "gemm cpu bf16 math", lt__dnnl_describe());
            return;
        }
        check = 1;
    }
    lt_backend_set_math(cpu, LT_MATH_BF16);
    int64_t runs0 = lt__dnnl_runs();
    /* rounding errors of 2^-9 relative per operand add up like a random walk: 2^-8 sqrt(k) */
    double exact = gemm_reference(cpu, 1e-5, 2, 1), rounded = gemm_reference(cpu, 5e-2, 0, 1);
    double fp32_err = gemm_reference(cpu, 1e-5, 0, 1);
    double c16 = gemm_reference(cpu, 1e-2, 3, 1); /* C rounded once: 2^-9 relative */
    double b16 = gemm_reference(cpu, 1e-5, 1, 1); /* bf16 operands, read in place (A when not transposed) */
    int64_t runs = lt__dnnl_runs() - runs0; /* 5 calls x 4 transposes, none declined */
    lt_backend_set_math(cpu, LT_MATH_FP32);
    int ok = exact <= 1 && rounded <= 1 && fp32_err > 10 && c16 <= 1 && b16 <= 1 && runs == 20;
    printf("  %-28s %s, 4 transposes x batch 3, 129x131x137: bf16-exact inputs err/tol(1e-5) %.3f, "
           "any inputs err/tol(5e-2) %.3f (err/1e-5 %.0f: bf16 ran), bf16 operands err/tol(1e-5) %.3f, bf16 C err/tol(1e-2) "
           "%.3f; %lld of 20 through oneDNN %s\n",
           "gemm cpu bf16 math", lt__dnnl_describe(), exact, rounded, fp32_err, b16, c16, (long long)runs,
           ok ? "ok" : "FAIL");
    CHECK_MSG(exact <= 1 && rounded <= 1 && c16 <= 1 && b16 <= 1, "gemm cpu bf16 math differs from reference");
    CHECK_MSG(fp32_err > 10, "gemm cpu bf16 math: result is fp32-exact, the bf16 path did not run");
    CHECK_MSG(runs == 20, "gemm cpu bf16 math: oneDNN ran %lld of the 20 GEMMs (the others were declined)", (long long)runs);
    if (check) lt__dnnl_check(0);
}

static int bias_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    LT_TRY(lt_tensor_copy(be, &out[0], &in[0]));
    return lt_bias_add(be, &out[0], &in[1]);
}
static int bias_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    LT_TRY(lt_axpy(be, &din[0], 1.0f, &dout[0]));
    return lt_bias_bwd(be, &din[1], &dout[0]);
}

static int gelu_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) { return lt_gelu_fwd(be, &out[0], &in[0]); }
static int gelu_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_gelu_bwd(be, &din[0], &dout[0], &in[0]);
}

static int ln_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_layernorm_fwd(be, &out[0], &out[1], &out[2], &in[0], &in[1], &in[2], 1e-5f);
}
static int ln_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_layernorm_bwd(be, &din[0], &din[1], &din[2], &dout[0], &in[0], &in[1], &out[1], &out[2]);
}

static int sm_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_softmax_fwd(be, &out[0], &in[0], s->nin > 1 ? &in[1] : NULL, s->p0);
}
static int sm_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_softmax_bwd(be, &din[0], &dout[0], &out[0], s->p0);
}

static int xent_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_xent_fwd(be, &out[0], &out[1], &in[0], &in[1], s->i0);
}
static int xent_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_xent_bwd(be, &din[0], &in[0], &out[1], &in[1], &dout[0], s->i0);
}

static int emb_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_embedding_fwd(be, &out[0], &in[0], &in[1]);
}
static int emb_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_embedding_bwd(be, &din[0], &dout[0], &in[1]);
}
/* i0: the skip id ([PAD]) */
static int emb_skip_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_embedding_bwd_skip(be, &din[0], &dout[0], &in[1], s->i0);
}

/* The table gradient on `be` from zero: ids[n], dout[n, dim] on the host; skip as the op takes it. */
static float *emb_grad(lt_backend *be, const int32_t *ids, const float *dout, int64_t n, int64_t vocab, int64_t dim,
                       int32_t skip) {
    harr hi = {.dt = LT_I32, .ndim = 1, .shape = {n}, .h = (void *)ids};
    harr hd = {.dt = LT_F32, .ndim = 2, .shape = {n, dim}, .h = (void *)dout};
    lt_tensor ti = upload(be, &hi), td = upload(be, &hd), tg;
    OK(lt_tensor_new(&tg, be, LT_F32, 2, (int64_t[]){vocab, dim})); /* zero-filled */
    OK(lt_embedding_bwd_skip(be, &tg, &td, &ti, skip));
    float *g = download(be, &tg);
    lt_tensor_free(be, &ti), lt_tensor_free(be, &td), lt_tensor_free(be, &tg);
    return g;
}

static int drop_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_dropout_fwd(be, &out[0], &in[0], s->p0, 1234, (uint64_t)s->i0);
}
static int drop_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_dropout_bwd(be, &din[0], &dout[0], s->p0, 1234, (uint64_t)s->i0);
}

/* element-wise: y = a + b, y = a * b, y = 0.7 x, with backward through axpy / mul_acc */
static int add_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) { return lt_add(be, &out[0], &in[0], &in[1]); }
static int add_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    LT_TRY(lt_axpy(be, &din[0], 1.0f, &dout[0]));
    return lt_axpy(be, &din[1], 1.0f, &dout[0]);
}
static int mul_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) { return lt_mul(be, &out[0], &in[0], &in[1]); }
static int mul_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    LT_TRY(lt_mul_acc(be, &din[0], &dout[0], &in[1]));
    return lt_mul_acc(be, &din[1], &dout[0], &in[0]);
}
static int scale_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) { return lt_scale(be, &out[0], &in[0], s->p0); }
static int scale_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_axpy(be, &din[0], s->p0, &dout[0]);
}

static int reduce_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_reduce_rows(be, &out[0], &in[0], (lt_reduce)s->i0);
}
static int topk_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_topk(be, &out[0], &out[1], &in[0]);
}
static int fill_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    LT_TRY(lt_fill(be, &out[0], s->p0));
    return lt_mul_acc(be, &out[0], &in[0], &in[1]); /* fill, then mul_acc on top: both checked */
}

#define F1(d0) (harr){.dt = LT_F32, .ndim = 1, .shape = {d0}}
#define F2(d0, d1) (harr){.dt = LT_F32, .ndim = 2, .shape = {d0, d1}}

static void test_simple_ops(void) {
    spec s;

    /* CUDA: dbias is a 70-row column sum in another order (2 chunks of 8 row lanes), added to a
     * random start: a column near 0 differs from the CPU by ~1e-6 in 7 % of draws (simulated in
     * fp32, worst 2.3e-6 in 300), so xatol 1e-5; y is the same one add on both. */
    s = (spec){.name = "bias_add/bias_bwd", .nin = 2, .nout = 1, .nloss = 1, .fwd = bias_fwd, .bwd = bias_bwd,
               .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-5, .xrtol = 1e-6};
    s.in[0] = randf(2, 70, 33, 0, -2, 2), s.in[0].diff = 1;
    s.in[1] = randf(1, 33, 0, 0, -1, 1), s.in[1].diff = 1;
    s.out[0] = F2(70, 33);
    check_op(&s);
    s.name = "bias_add/bias_bwd 32 cols"; /* a multiple of 4: CUDA's 16-byte path */
    s.in[0] = randf(2, 70, 32, 0, -2, 2), s.in[0].diff = 1;
    s.in[1] = randf(1, 32, 0, 0, -1, 1), s.in[1].diff = 1;
    s.out[0] = F2(70, 32);
    check_op(&s);

    s = (spec){.name = "gelu", .nin = 1, .nout = 1, .nloss = 1, .fwd = gelu_fwd, .bwd = gelu_bwd,
               .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-6, .xrtol = 1e-5};
    s.in[0] = randf(2, 41, 29, 0, -4, 4), s.in[0].diff = 1;
    s.out[0] = F2(41, 29);
    check_op(&s);

    s = (spec){.name = "add", .nin = 2, .nout = 1, .nloss = 1, .fwd = add_fwd, .bwd = add_bwd,
               .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-7, .xrtol = 1e-7};
    s.in[0] = randf(2, 31, 17, 0, -2, 2), s.in[0].diff = 1;
    s.in[1] = randf(2, 31, 17, 0, -2, 2), s.in[1].diff = 1;
    s.out[0] = F2(31, 17);
    check_op(&s);

    s = (spec){.name = "mul/mul_acc", .nin = 2, .nout = 1, .nloss = 1, .fwd = mul_fwd, .bwd = mul_bwd,
               .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-7, .xrtol = 1e-6};
    s.in[0] = randf(2, 31, 17, 0, -2, 2), s.in[0].diff = 1;
    s.in[1] = randf(2, 31, 17, 0, -2, 2), s.in[1].diff = 1;
    s.out[0] = F2(31, 17);
    check_op(&s);

    s = (spec){.name = "scale/axpy", .nin = 1, .nout = 1, .nloss = 1, .fwd = scale_fwd, .bwd = scale_bwd,
               .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-7, .xrtol = 1e-6, .p0 = -0.7f};
    s.in[0] = randf(1, 1001, 0, 0, -2, 2), s.in[0].diff = 1;
    s.out[0] = F1(1001);
    check_op(&s);

    s = (spec){.name = "fill + mul_acc", .nin = 2, .nout = 1, .nloss = 0, .fwd = fill_fwd,
               .xatol = 1e-7, .xrtol = 1e-6, .p0 = 0.25f};
    s.in[0] = randf(1, 5003, 0, 0, -2, 2);
    s.in[1] = randf(1, 5003, 0, 0, -2, 2);
    s.out[0] = F1(5003);
    check_op(&s);
}

static void test_layernorm(void) {
    spec s = {.name = "layernorm", .nin = 3, .nout = 3, .nloss = 1, .fwd = ln_fwd, .bwd = ln_bwd,
              .eps = 1e-2, .atol = 2e-3, .rtol = 5e-3, .xatol = 1e-5, .xrtol = 1e-4};
    s.in[0] = randf(2, 37, 64, 0, -3, 3), s.in[0].diff = 1;
    s.in[1] = randf(1, 64, 0, 0, 0.5f, 1.5f), s.in[1].diff = 1;
    s.in[2] = randf(1, 64, 0, 0, -0.5f, 0.5f), s.in[2].diff = 1;
    s.out[0] = F2(37, 64), s.out[1] = F1(37), s.out[2] = F1(37);
    check_op(&s);

    /* a wide row (BERT-base hidden size) on both backends */
    s = (spec){.name = "layernorm 768", .nin = 3, .nout = 3, .nloss = 1, .fwd = ln_fwd, .bwd = ln_bwd,
               .eps = 3e-2, .atol = 2e-3, .rtol = 5e-3, .xatol = 1e-5, .xrtol = 1e-4};
    s.in[0] = randf(2, 300, 768, 0, -3, 3), s.in[0].diff = 1;
    s.in[1] = randf(1, 768, 0, 0, 0.5f, 1.5f), s.in[1].diff = 1;
    s.in[2] = randf(1, 768, 0, 0, -0.5f, 0.5f), s.in[2].diff = 1;
    s.out[0] = F2(300, 768), s.out[1] = F1(300), s.out[2] = F1(300);
    check_op(&s);
}

static void test_softmax(void) {
    spec s = {.name = "softmax", .nin = 1, .nout = 1, .nloss = 1, .fwd = sm_fwd, .bwd = sm_bwd,
              .eps = 1e-2, .atol = 1e-3, .rtol = 2e-3, .xatol = 1e-6, .xrtol = 1e-5, .p0 = 1.0f};
    s.in[0] = randf(2, 24, 50, 0, -3, 3), s.in[0].diff = 1;
    s.out[0] = F2(24, 50);
    check_op(&s);

    /* key-padding mask: 4 groups of 6 rows, lengths 50, 17, 1, 0; scale 1/sqrt(64) */
    s = (spec){.name = "softmax masked+scaled", .nin = 2, .nout = 1, .nloss = 1, .fwd = sm_fwd, .bwd = sm_bwd,
               .eps = 1e-2, .atol = 1e-3, .rtol = 2e-3, .xatol = 1e-6, .xrtol = 1e-5, .p0 = 0.125f};
    s.in[0] = randf(2, 24, 50, 0, -8, 8), s.in[0].diff = 1;
    s.in[1] = mk(LT_I32, 1, 4, 0, 0);
    int32_t lens[4] = {50, 17, 1, 0};
    memcpy(s.in[1].h, lens, sizeof lens);
    s.out[0] = F2(24, 50);
    /* the forward must zero masked columns and give rows that sum to 1 */
    run r;
    run_fwd(g_cpu, &s, &r);
    float *y = download(g_cpu, &r.out[0]);
    int mask_ok = 1;
    for (int row = 0; row < 24; row++) {
        double sum = 0;
        for (int j = 0; j < 50; j++) {
            if (j >= lens[row / 6] && y[row * 50 + j] != 0) mask_ok = 0;
            sum += y[row * 50 + j];
        }
        if (fabs(sum - (lens[row / 6] ? 1.0 : 0.0)) > 1e-5) mask_ok = 0;
    }
    CHECK_MSG(mask_ok, "masked softmax: masked entries not zero or rows not normalised");
    free(y);
    run_free(g_cpu, &s, &r);
    check_op(&s);

    /* a long row, as a vocabulary softmax */
    s = (spec){.name = "softmax 30522", .nin = 1, .nout = 1, .nloss = 1, .fwd = sm_fwd, .bwd = sm_bwd,
               .eps = 1e-2, .atol = 1e-4, .rtol = 2e-3, .xatol = 1e-7, .xrtol = 1e-4, .p0 = 1.0f};
    s.in[0] = randf(2, 3, 30522, 0, -5, 5), s.in[0].diff = 1;
    s.out[0] = F2(3, 30522);
    check_op(&s);
}

static void test_xent(void) {
    int V = 97, R = 16, ignore = -100;
    spec s = {.name = "xent (ignore_index)", .nin = 2, .nout = 2, .nloss = 1, .fwd = xent_fwd, .bwd = xent_bwd,
              .eps = 1e-2, .atol = 1e-3, .rtol = 2e-3, .xatol = 1e-5, .xrtol = 1e-5, .i0 = ignore};
    s.in[0] = randf(2, R, V, 0, -4, 4), s.in[0].diff = 1;
    s.in[1] = randi(R, 0, V);
    ((int32_t *)s.in[1].h)[3] = ignore;
    ((int32_t *)s.in[1].h)[11] = ignore;
    s.out[0] = F1(R), s.out[1] = F1(R);
    /* reference loss in double; ignored rows give exactly 0 */
    run r;
    run_fwd(g_cpu, &s, &r);
    float *loss = download(g_cpu, &r.out[0]);
    const float *x = s.in[0].h;
    const int32_t *t = s.in[1].h;
    double worst = 0;
    for (int i = 0; i < R; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < V; j++) mx = fmax(mx, x[i * V + j]);
        for (int j = 0; j < V; j++) sum += exp(x[i * V + j] - mx);
        double want = t[i] == ignore ? 0 : mx + log(sum) - x[i * V + t[i]];
        worst = fmax(worst, fabs(loss[i] - want));
    }
    CHECK_MSG(worst < 1e-5, "xent loss differs from the double reference by %g", worst);
    CHECK(loss[3] == 0 && loss[11] == 0);
    free(loss);
    run_free(g_cpu, &s, &r);
    check_op(&s);

    /* A catalogue-sized row, for the long-row kernels on both backends. No finite differences:
     * per-logit gradients are ~1/V, below what differences of an fp32 loss resolve; the math is
     * the same code as the V = 97 case above. */
    s = (spec){.name = "xent 50000", .nin = 2, .nout = 2, .nloss = 1, .fwd = xent_fwd, .bwd = xent_bwd,
               .no_fd = 1, .xatol = 1e-5, .xrtol = 1e-5, .i0 = ignore};
    s.in[0] = randf(2, 4, 50000, 0, -6, 6), s.in[0].diff = 1;
    s.in[1] = randi(4, 0, 50000);
    s.out[0] = F1(4), s.out[1] = F1(4);
    check_op(&s);
}

static void test_embedding(void) {
    int V = 23, D = 40, N = 64;
    spec s = {.name = "embedding", .nin = 2, .nout = 1, .nloss = 1, .fwd = emb_fwd, .bwd = emb_bwd,
              .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-6, .xrtol = 1e-6};
    s.in[0] = randf(2, V, D, 0, -1, 1), s.in[0].diff = 1;
    s.in[1] = randi(N, 0, V); /* 64 ids over 23 rows: many repeats */
    s.out[0] = F2(N, D);
    check_op(&s);

    /* a large table with skewed ids, as item embeddings under Zipf popularity */
    s = (spec){.name = "embedding 20000x64 zipf", .nin = 2, .nout = 1, .nloss = 1, .fwd = emb_fwd, .bwd = emb_bwd,
               .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-5, .xrtol = 1e-5};
    s.in[0] = randf(2, 20000, 64, 0, -1, 1), s.in[0].diff = 1;
    s.in[1] = mk(LT_I32, 1, 4096, 0, 0);
    for (int i = 0; i < 4096; i++) {
        double u = lt_rng_next_double(&g_rng);
        ((int32_t *)s.in[1].h)[i] = (int32_t)fmin(19999, floor(pow(20000.0, u) - 1)); /* log-uniform */
    }
    s.out[0] = F2(4096, 64);
    check_op(&s);

    /* One hot id holding 60 % of 3000 positions (7 chunks of LT_EMB_CHUNK, the rest Zipf): both
     * backends add in the same fixed order, so they agree exactly; the float4 (dim 48) and the
     * scalar (dim 37) kernels. */
    for (int v = 0; v < 2; v++) {
        int n = 3000, dim = v ? 37 : 48, vocab = 1000;
        s = (spec){.name = v ? "embedding hot id, dim 37" : "embedding hot id, dim 48", .nin = 2, .nout = 1,
                   .nloss = 1, .fwd = emb_fwd, .bwd = emb_bwd, .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3,
                   .xatol = 0, .xrtol = 1e-12};
        s.in[0] = randf(2, vocab, dim, 0, -1, 1), s.in[0].diff = 1;
        s.in[1] = mk(LT_I32, 1, n, 0, 0);
        int32_t *id = s.in[1].h;
        for (int i = 0; i < n; i++) {
            double u = lt_rng_next_double(&g_rng);
            id[i] = u < 0.6 ? 3 : (int32_t)fmin(vocab - 1, floor(pow(vocab + 1.0, lt_rng_next_double(&g_rng)) - 1));
        }
        s.out[0] = F2(n, dim);
        /* every row against sums in double: the chunked order is still a sum */
        harr dh = randf(2, n, dim, 0, -1, 1);
        float *g = emb_grad(g_cpu, id, dh.h, n, vocab, dim, -1);
        /* tolerance: the bound of any float summation order, (count + 1) 2^-24 sum |terms| */
        double *ref = calloc((size_t)vocab * dim, sizeof(double)), *mag = calloc((size_t)vocab * dim, sizeof(double)), worst = 0;
        int *occ = calloc((size_t)vocab, sizeof(int));
        for (int i = 0; i < n; i++) {
            occ[id[i]]++;
            for (int j = 0; j < dim; j++) {
                float v = ((float *)dh.h)[(int64_t)i * dim + j];
                ref[(int64_t)id[i] * dim + j] += v, mag[(int64_t)id[i] * dim + j] += fabsf(v);
            }
        }
        for (int64_t i = 0; i < (int64_t)vocab * dim; i++)
            worst = fmax(worst, fabs(g[i] - ref[i]) / (1e-30 + (occ[i / dim] + 1) * 0x1p-24 * mag[i]));
        /* and exactly the documented order (LT_EMB_CHUNK), the one CUDA follows */
        int order_bad = 0, *first = calloc((size_t)vocab + 1, sizeof(int)), *at = malloc(sizeof(int) * n);
        for (int r = 0; r < vocab; r++) first[r + 1] = first[r] + occ[r];
        int *fill = calloc((size_t)vocab, sizeof(int));
        for (int i = 0; i < n; i++) at[first[id[i]] + fill[id[i]]++] = i; /* each row's positions, in order */
        free(fill);
        for (int64_t e = 0; e < (int64_t)vocab * dim; e++) {
            int64_t row = e / dim, j = e % dim;
            float acc = 0.0f, part = 0.0f;
            for (int o = 0; o < occ[row]; o++) {
                float v = ((float *)dh.h)[(int64_t)at[first[row] + o] * dim + j];
                if (o < LT_EMB_CHUNK) acc += v;
                else if (o % LT_EMB_CHUNK == 0) {
                    if (o > LT_EMB_CHUNK) acc += part;
                    part = v;
                } else part += v;
            }
            if (occ[row] > LT_EMB_CHUNK) acc += part;
            order_bad += memcmp(&acc, &g[e], sizeof(float)) != 0;
        }
        free(first), free(at);
        CHECK_MSG(order_bad == 0, "%s: %d gradients differ from the LT_EMB_CHUNK order", s.name, order_bad);
        free(mag), free(occ);
        printf("  %-28s cpu vs sums in double (hot row: %d chunks): worst err/tol %.3f %s, chunk order exact %s\n",
               s.name, (int)((0.6 * n + LT_EMB_CHUNK - 1) / LT_EMB_CHUNK), worst, worst <= 1 ? "ok" : "FAIL",
               order_bad ? "FAIL" : "ok");
        CHECK_MSG(worst <= 1, "%s: a row's gradient is off the double sum by %.3g tolerances", s.name, worst);
        free(g), free(ref), free(dh.h);
        check_op(&s);
    }

    /* A PAD-heavy batch, as the encoder's: 32 sequences of 64 with lens 1..64, padding id 0 (about
     * half the positions). With skip id 0, row 0 gets nothing and every other row is exactly the
     * unskipped gradient; CUDA equals the CPU. */
    {
        int B = 32, T = 64, n = B * T, dim = 32, vocab = 500, pads = 0;
        s = (spec){.name = "embedding PAD-heavy, skip 0", .nin = 2, .nout = 1, .nloss = 1, .fwd = emb_fwd,
                   .bwd = emb_skip_bwd, .no_fd = 1, .xatol = 0, .xrtol = 1e-12, .i0 = 0};
        s.in[0] = randf(2, vocab, dim, 0, -1, 1), s.in[0].diff = 1;
        s.in[1] = mk(LT_I32, 1, n, 0, 0);
        int32_t *id = s.in[1].h;
        for (int b = 0; b < B; b++) {
            int len = 1 + (int)lt_rng_below(&g_rng, T);
            for (int t = 0; t < T; t++) {
                double u = lt_rng_next_double(&g_rng);
                id[b * T + t] = t < len ? 1 + (int32_t)fmin(vocab - 2, floor(pow((double)vocab, u) - 1)) : 0;
                pads += t >= len;
            }
        }
        s.out[0] = F2(n, dim);
        harr dh = randf(2, n, dim, 0, -1, 1);
        float *g = emb_grad(g_cpu, id, dh.h, n, vocab, dim, 0), *all = emb_grad(g_cpu, id, dh.h, n, vocab, dim, -1);
        int pad_zero = 1, same = !memcmp(g + dim, all + dim, sizeof(float) * (size_t)(vocab - 1) * dim), moved = 0;
        for (int j = 0; j < dim; j++) pad_zero &= g[j] == 0.0f, moved |= all[j] != 0.0f;
        printf("  %-28s %d of %d positions PAD: PAD row %s, other rows %s the unskipped gradient\n", s.name, pads, n,
               pad_zero && moved ? "zero" : "NOT ZERO", same ? "equal" : "DIFFER from");
        CHECK_MSG(pad_zero && moved, "embedding_bwd_skip: the PAD row got a gradient (or the test has no PAD)");
        CHECK_MSG(same, "embedding_bwd_skip: skipping PAD changed other rows");
        free(g), free(all), free(dh.h);
        check_op(&s);
    }
}

static void test_dropout(void) {
    spec s = {.name = "dropout p=0.3", .nin = 1, .nout = 1, .nloss = 1, .fwd = drop_fwd, .bwd = drop_bwd,
              .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 0, .xrtol = 1e-6, .p0 = 0.3f, .i0 = 7};
    s.in[0] = randf(2, 100, 101, 0, -2, 2), s.in[0].diff = 1;
    s.out[0] = F2(100, 101);
    run r;
    run_fwd(g_cpu, &s, &r);
    float *y = download(g_cpu, &r.out[0]);
    const float *x = s.in[0].h;
    int64_t kept = 0, exact = 1;
    for (int i = 0; i < 10100; i++) {
        if (y[i] != 0) {
            kept++;
            if (fabsf(y[i] - x[i] / 0.7f) > 1e-6f * fabsf(x[i])) exact = 0;
        }
        float u = lt_rng_uniform(1234, 7, (uint64_t)i);
        if ((u >= 0.3f) != (y[i] != 0)) exact = 0;
    }
    double frac = kept / 10100.0; /* binomial sd ~ 0.0046 */
    CHECK_MSG(fabs(frac - 0.7) < 0.025, "dropout kept %.4f of elements, expected 0.7", frac);
    CHECK_MSG(exact, "dropout mask or scaling differs from lt_rng_uniform(seed, stream, i) >= p");
    free(y);
    run_free(g_cpu, &s, &r);
    check_op(&s);
    spec o = {.name = "dropout p=0.3, 999 values", .nin = 1, .nout = 1, .nloss = 1, .fwd = drop_fwd, .bwd = drop_bwd,
              .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3, .xatol = 0, .xrtol = 1e-6, .p0 = 0.3f, .i0 = 7};
    o.in[0] = randf(2, 37, 27, 0, -2, 2), o.in[0].diff = 1; /* not a multiple of 4: CUDA's scalar tail */
    o.out[0] = F2(37, 27);
    check_op(&o);
}

/* Row dropout (the recommender's id dropout): y[r] += x[r] for the rows kept by keep[r] and by
 * lt_rng_uniform(seed, stream, r) >= p, exactly (a row is added whole or not at all), on the CPU
 * against that reference and on CUDA against the CPU, bit for bit. */
static int row_drop(lt_backend *be, float *out, const float *y0, const float *x, const uint8_t *keep, int64_t R,
                    int64_t C, float p) {
    lt_tensor y, tx, tk;
    int64_t shape[2] = {R, C};
    OK(lt_tensor_new(&y, be, LT_F32, 2, shape));
    OK(lt_tensor_new(&tx, be, LT_F32, 2, shape));
    OK(lt_tensor_new(&tk, be, LT_U8, 1, &R));
    lt_tensor hy = lt_view2((void *)y0, LT_F32, LT_CPU, R, C), hx = lt_view2((void *)x, LT_F32, LT_CPU, R, C);
    lt_tensor hk = lt_view1((void *)keep, LT_U8, LT_CPU, R), ho = lt_view2(out, LT_F32, LT_CPU, R, C);
    OK(lt_tensor_copy(be, &y, &hy));
    OK(lt_tensor_copy(be, &tx, &hx));
    if (keep) OK(lt_tensor_copy(be, &tk, &hk));
    int rc = lt_row_dropout_acc(be, &y, &tx, keep ? &tk : NULL, p, 99, 5);
    if (!rc) OK(lt_tensor_copy(be, &ho, &y));
    OK(lt_backend_sync(be));
    lt_tensor_free(be, &y), lt_tensor_free(be, &tx), lt_tensor_free(be, &tk);
    return rc;
}

static void test_row_dropout(void) {
    const int64_t R = 3001, C = 37;
    float *x = malloc(sizeof(float) * R * C), *y0 = malloc(sizeof(float) * R * C), *want = malloc(sizeof(float) * R * C);
    float *got = malloc(sizeof(float) * R * C), *gpu = malloc(sizeof(float) * R * C);
    uint8_t *keep = malloc((size_t)R);
    for (int64_t i = 0; i < R * C; i++) x[i] = lt_rng_next_uniform(&g_rng) - 0.5f, y0[i] = lt_rng_next_uniform(&g_rng);
    for (int64_t r = 0; r < R; r++) keep[r] = lt_rng_next_uniform(&g_rng) < 0.8f;
    for (int k = 0; k < 3; k++) { /* p = 0.5 with keep, p = 0.5 without, p = 0 with keep */
        float p = k == 2 ? 0.0f : 0.5f;
        const uint8_t *kp = k == 1 ? NULL : keep;
        int64_t used = 0;
        for (int64_t r = 0; r < R; r++) {
            int on = (!kp || kp[r]) && (p == 0 || lt_rng_uniform(99, 5, (uint64_t)r) >= p);
            used += on;
            for (int64_t j = 0; j < C; j++) want[r * C + j] = on ? y0[r * C + j] + x[r * C + j] : y0[r * C + j];
        }
        OK(row_drop(g_cpu, got, y0, x, kp, R, C, p));
        int same = !memcmp(got, want, sizeof(float) * R * C);
        double expect = (kp ? 0.8 : 1.0) * (1 - p), frac = (double)used / R; /* binomial sd < 0.01 */
        printf("  row_dropout_acc p=%.1f %s   cpu vs reference: %s; %.3f of the rows added (expected ~%.2f) %s\n", p,
               kp ? "keep" : "all ", same ? "bit-exact" : "DIFFERS", frac, expect,
               same && fabs(frac - expect) < 0.04 ? "ok" : "FAIL");
        CHECK_MSG(same, "row_dropout_acc differs from y + x on the rows lt_rng_uniform keeps");
        CHECK_MSG(fabs(frac - expect) < 0.04, "row_dropout_acc added %.3f of the rows, expected %.2f", frac, expect);
        if (!g_cuda) {
            if (k == 0) no_cuda("row_dropout_acc");
            continue;
        }
        int rc = row_drop(g_cuda, gpu, y0, x, kp, R, C, p);
        if (rc == LT_ENOTSUP) {
            cuda_unsupported("row_dropout_acc");
            continue;
        }
        OK(rc);
        int eq = !memcmp(gpu, got, sizeof(float) * R * C);
        printf("  row_dropout_acc p=%.1f %s   cuda vs cpu: %s\n", p, kp ? "keep" : "all ", eq ? "bit-exact ok" : "DIFFER FAIL");
        CHECK_MSG(eq, "row_dropout_acc: cuda and cpu differ");
    }
    lt_tensor y = lt_view2(got, LT_F32, LT_CPU, R, C), xb = lt_view2(x, LT_F32, LT_CPU, R, C);
    lt_tensor kb = lt_view1(keep, LT_I32, LT_CPU, R / 4), ks = lt_view1(keep, LT_U8, LT_CPU, R - 1);
    FAILS_WITH(lt_row_dropout_acc(g_cpu, &y, &xb, &kb, 0.5f, 1, 1), LT_EDTYPE, "row_dropout_acc: keep");
    FAILS_WITH(lt_row_dropout_acc(g_cpu, &y, &xb, &ks, 0.5f, 1, 1), LT_ESHAPE, "row_dropout_acc: keep");
    FAILS_WITH(lt_row_dropout_acc(g_cpu, &y, &xb, NULL, 1.0f, 1, 1), LT_EINVAL, "p must be in [0, 1)");
    free(x), free(y0), free(want), free(got), free(gpu), free(keep);
}

static void test_reduce(void) {
    /* rows wider than 1,024: CUDA's block-per-row path (CUDA vs CPU only; the loop below checks the
     * values); a sum of 1,500 terms within [-3, 3] errs by a part of their magnitude, not of the sum */
    spec w = {.name = "reduce sum 1500 wide", .nin = 1, .nout = 1, .nloss = 0, .fwd = reduce_fwd, .xatol = 1e-3,
              .xrtol = 1e-5, .i0 = LT_REDUCE_SUM};
    w.in[0] = randf(2, 5, 1500, 0, -3, 3);
    w.out[0] = F1(5);
    check_op(&w);
    static const char *names[] = {"reduce sum", "reduce mean", "reduce max", "reduce sumsq"};
    for (int op = 0; op < 4; op++) {
        /* CUDA sums in lanes, the CPU in a row: a sum of 301 terms of either sign errs by a part of
         * the sum of |terms| (~450), not of the result, which can be near 0: 1e-5 failed 6 % of
         * draws (simulated in fp32, worst 1.9e-5 in 300), so 1e-4 for the sum */
        spec s = {.name = names[op], .nin = 1, .nout = 1, .nloss = 0, .fwd = reduce_fwd,
                  .xatol = op == LT_REDUCE_SUM ? 1e-4 : 1e-5, .xrtol = 1e-5, .i0 = op};
        s.in[0] = randf(2, 77, 301, 0, -3, 3);
        s.out[0] = F1(77);
        run r;
        run_fwd(g_cpu, &s, &r);
        float *y = download(g_cpu, &r.out[0]);
        const float *x = s.in[0].h;
        double worst = 0;
        for (int i = 0; i < 77; i++) {
            double acc = op == 2 ? -INFINITY : 0, mag = 0; /* mag: sum of |terms|, what fp32 error scales with */
            for (int j = 0; j < 301; j++) {
                double v = x[i * 301 + j];
                acc = op == 2 ? fmax(acc, v) : acc + (op == 3 ? v * v : v);
                mag += op == 3 ? v * v : fabs(v);
            }
            if (op == 1) acc /= 301, mag /= 301;
            worst = fmax(worst, fabs(y[i] - acc) / (2e-5 * (1 + (op == 2 ? fabs(acc) : mag))));
        }
        printf("  %-28s vs double reference: worst err/tol %.3f %s\n", names[op], worst, worst <= 1 ? "ok" : "FAIL");
        CHECK_MSG(worst <= 1, "%s differs from the reference", names[op]);
        free(y);
        run_free(g_cpu, &s, &r);
        check_op(&s);
    }
}

/* lt_sumsq_acc: the squared norm added on the device into an f32[1] accumulator (the trainer's
 * clipping norm), tensor after tensor, against a double reference. */
static void test_sumsq_acc(lt_backend *be, const char *label) {
    harr a = randf(1, 100000, 0, 0, -1, 1), b = randf(2, 33, 17, 0, -3, 3);
    lt_tensor t[2] = {upload(be, &a), upload(be, &b)}, acc;
    int64_t one = 1;
    double want = 1.5;
    for (int i = 0; i < 100000; i++) want += (double)((float *)a.h)[i] * ((float *)a.h)[i];
    for (int i = 0; i < 33 * 17; i++) want += (double)((float *)b.h)[i] * ((float *)b.h)[i];
    OK(lt_tensor_new(&acc, be, LT_F32, 1, &one));
    OK(lt_fill(be, &acc, 1.5f)); /* it accumulates */
    OK(lt_sumsq_acc(be, &acc, &t[0]));
    OK(lt_sumsq_acc(be, &acc, &t[1]));
    float got;
    lt_tensor h = lt_view1(&got, LT_F32, LT_CPU, 1);
    OK(lt_tensor_copy(be, &h, &acc));
    int ok = fabs(got - want) <= 3e-7 * want; /* two roundings to f32 */
    CHECK_MSG(ok, "%s sumsq_acc %.9g, want %.12g", label, got, want);
    printf("  %-28s sumsq_acc vs double reference: %s\n", label, ok ? "ok" : "FAIL");
    lt_tensor_free(be, &t[0]), lt_tensor_free(be, &t[1]), lt_tensor_free(be, &acc);
    free(a.h), free(b.h);
}

/* AdamW: 5 steps against torch.optim.AdamW's update rule in double, with clipping scale and
 * weight decay; the CUDA run must match the CPU run. */
static void adamw_run(lt_backend *be, const harr *p0, const harr *gs, int steps, float *out) {
    lt_adamw_cfg cfg = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    int64_t n = harr_numel(p0);
    lt_tensor p = upload(be, p0), m, v, g;
    OK(lt_tensor_new(&m, be, LT_F32, 1, &n));
    OK(lt_tensor_new(&v, be, LT_F32, 1, &n));
    for (int s = 1; s <= steps; s++) {
        harr gh = {.dt = LT_F32, .ndim = 1, .shape = {n}, .h = (float *)gs->h + (s - 1) * n};
        g = upload(be, &gh);
        OK(lt_adamw(be, &p, &g, &m, &v, &cfg, s, 0.5f));
        lt_tensor_free(be, &g);
    }
    float *r = download(be, &p);
    memcpy(out, r, (size_t)n * sizeof(float));
    free(r);
    lt_tensor_free(be, &p), lt_tensor_free(be, &m), lt_tensor_free(be, &v);
}

static void test_adamw(void) {
    int n = 1000, steps = 5;
    harr p0 = randf(1, n, 0, 0, -1, 1), gs = randf(1, (int64_t)n * steps, 0, 0, -1, 1);
    float *got = malloc(sizeof(float) * n);
    adamw_run(g_cpu, &p0, &gs, steps, got);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double p = ((float *)p0.h)[i], m = 0, v = 0;
        for (int s = 1; s <= steps; s++) {
            double g = 0.5 * ((float *)gs.h)[(s - 1) * n + i];
            p *= 1 - 1e-2 * 0.1;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            p -= 1e-2 * (m / (1 - pow(0.9, s))) / (sqrt(v / (1 - pow(0.999, s))) + 1e-8);
        }
        worst = fmax(worst, fabs(got[i] - p));
    }
    printf("  %-28s cpu vs double reference, 5 steps: max |err| %.3g %s\n", "adamw", worst, worst < 1e-5 ? "ok" : "FAIL");
    CHECK_MSG(worst < 1e-5, "adamw differs from the reference by %g", worst);
    if (g_cuda) {
        float *gg = malloc(sizeof(float) * n);
        adamw_run(g_cuda, &p0, &gs, steps, gg);
        double e = 0;
        for (int i = 0; i < n; i++) e = fmax(e, fabs(gg[i] - got[i]));
        printf("  %-28s cuda vs cpu: max |err| %.3g %s\n", "adamw", e, e < 1e-6 ? "ok" : "FAIL");
        CHECK_MSG(e < 1e-6, "adamw cuda vs cpu %g", e);
        free(gg);
    } else {
        printf("  %-28s cuda vs cpu: skipped: no CUDA device\n", "adamw");
    }
    free(got), free(p0.h), free(gs.h);
}

/* top-k against a full sort with the documented order: value descending, ties to the lower
 * index, NaN last. The rows hold ties, NaN and infinities on purpose. */
static int rank_cmp(const void *a, const void *b, void *ctx) {
    const float *x = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float u = x[i], v = x[j];
    if (isnan(u) != isnan(v)) return isnan(u) ? 1 : -1;
    if (!isnan(u) && u != v) return u > v ? -1 : 1;
    return i < j ? -1 : 1;
}

static void test_topk(void) {
    int R = 9, N = 700;
    int ks[3] = {1, 10, 700};
    for (int ki = 0; ki < 3; ki++) {
        int k = ks[ki];
        spec s = {.name = ki == 0 ? "topk k=1" : ki == 1 ? "topk k=10" : "topk k=N", .nin = 1, .nout = 2, .nloss = 0,
                  .fwd = topk_fwd, .xatol = 0, .xrtol = 1e-9};
        s.in[0] = randf(2, R, N, 0, -1, 1);
        float *x = s.in[0].h;
        for (int i = 0; i < R * N; i += 7) x[i] = roundf(x[i] * 4) / 4; /* many ties */
        x[5] = NAN, x[N + 9] = INFINITY, x[2 * N + 3] = -INFINITY, x[3 * N] = NAN, x[3 * N + 1] = NAN;
        for (int j = 0; j < N; j++) x[4 * N + j] = 0.5f; /* a row of one value */
        s.out[0] = F2(R, k), s.out[1] = (harr){.dt = LT_I32, .ndim = 2, .shape = {R, k}};
        run r;
        run_fwd(g_cpu, &s, &r);
        float *vals = download(g_cpu, &r.out[0]);
        int32_t *idx = download(g_cpu, &r.out[1]);
        int bad = 0;
        int32_t *order = malloc(sizeof(int32_t) * N);
        for (int row = 0; row < R; row++) {
            for (int j = 0; j < N; j++) order[j] = j;
            qsort_r(order, (size_t)N, sizeof *order, rank_cmp, x + row * N);
            for (int j = 0; j < k; j++) {
                float want = x[row * N + order[j]], got = vals[row * k + j];
                if (idx[row * k + j] != order[j] || !(got == want || (isnan(got) && isnan(want)))) bad++;
            }
        }
        printf("  %-28s vs full sort (ties, NaN, inf): %s\n", s.name, bad ? "FAIL" : "ok");
        CHECK_MSG(bad == 0, "%s: %d entries differ from the sorted reference", s.name, bad);
        free(order), free(vals), free(idx);
        run_free(g_cpu, &s, &r);
        check_op(&s);
    }
}

/* ---- transformer blocks ------------------------------------------------------------------------- */

/* The new ops may not exist yet on this build's CUDA backend: then only the CPU checks run. */
static int cuda_lacks(const spec *s) {
    if (!g_cuda) return 0;
    run r;
    for (int i = 0; i < s->nin; i++) r.in[i] = upload(g_cuda, &s->in[i]);
    for (int i = 0; i < s->nout; i++) OK(lt_tensor_new(&r.out[i], g_cuda, s->out[i].dt, s->out[i].ndim, s->out[i].shape));
    int rc = s->fwd(g_cuda, s, r.in, r.out);
    run_free(g_cuda, s, &r);
    return rc == LT_ENOTSUP;
}

static void check_new_op(spec *s) {
    if (cuda_lacks(s)) {
        fd_check(s);
        cuda_unsupported(s->name);
        spec_free(s);
        return;
    }
    check_op(s);
}

static harr lens_of(int n, const int32_t *v) {
    harr a = mk(LT_I32, 1, n, 0, 0);
    memcpy(a.h, v, sizeof(int32_t) * (size_t)n);
    return a;
}

/* attention: in = qkv [B, T, 3HD], lens [B]; out = o [B, T, HD], lse [B, H, T]; heads in i0, scale in p0 */
static int att_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    if (s->causal) return lt_attention_causal_fwd(be, &out[0], &out[1], &in[0], &in[1], s->i0, s->p0);
    return lt_attention_fwd(be, &out[0], &out[1], &in[0], &in[1], s->i0, s->p0);
}
static int att_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    if (s->causal) return lt_attention_causal_bwd(be, &din[0], &dout[0], &in[0], &out[0], &out[1], &in[1], s->i0, s->p0);
    return lt_attention_bwd(be, &din[0], &dout[0], &in[0], &out[0], &out[1], &in[1], s->i0, s->p0);
}

/* The forward against a double reference: softmax over the first lens[b] keys (causal: and keys
 * j <= t only, the -inf above the diagonal applied here by hand), zeros and -inf when there are none. */
static double attention_ref(const spec *s, const float *o, const float *lse) {
    int64_t B = s->in[0].shape[0], T = s->in[0].shape[1], H = s->i0, D = s->in[0].shape[2] / (3 * H);
    const float *qkv = s->in[0].h;
    const int32_t *lens = s->in[1].h;
    double worst = 0, *p = malloc(sizeof(double) * (size_t)T);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                int64_t L = lens[b] < T ? lens[b] : T;
                if (s->causal && t + 1 < L) L = t + 1;
                const float *q = qkv + (b * T + t) * 3 * H * D + h * D;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < L; j++) {
                    const float *k = qkv + (b * T + j) * 3 * H * D + H * D + h * D;
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++) dot += (double)q[d] * k[d];
                    p[j] = s->p0 * dot;
                    mx = fmax(mx, p[j]);
                }
                for (int64_t j = 0; j < L; j++) sum += p[j] = exp(p[j] - mx);
                double want_lse = L ? mx + log(sum) : -INFINITY, got_lse = lse[(b * H + h) * T + t];
                if (L == 0) worst = fmax(worst, got_lse == -INFINITY ? 0 : INFINITY);
                else worst = fmax(worst, fabs(got_lse - want_lse) / (1e-5 * (1 + fabs(want_lse))));
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < L; j++) acc += p[j] / sum * qkv[(b * T + j) * 3 * H * D + 2 * H * D + h * D + d];
                    worst = fmax(worst, fabs(o[(b * T + t) * H * D + h * D + d] - acc) / 1e-5);
                }
            }
    free(p);
    return worst;
}

/* Causal row t of sequence b is the unmasked op's row t on the prefix: lens[b] = t + 1 (for t < lens[b]). */
static void causal_vs_prefix(const spec *s, const float *o, const float *lse) {
    int64_t B = s->in[0].shape[0], T = s->in[0].shape[1], H = s->i0, D = s->in[0].shape[2] / (3 * H);
    const int32_t *lens = s->in[1].h;
    lt_tensor qkv = upload(g_cpu, &s->in[0]), lt, po, pl;
    OK(lt_tensor_new(&lt, g_cpu, LT_I32, 1, &B));
    OK(lt_tensor_new(&po, g_cpu, LT_F32, 3, (int64_t[]){B, T, H * D}));
    OK(lt_tensor_new(&pl, g_cpu, LT_F32, 3, (int64_t[]){B, H, T}));
    double worst = 0;
    for (int64_t t = 0; t < T; t++) {
        for (int64_t b = 0; b < B; b++) ((int32_t *)lt.data)[b] = (int32_t)(t + 1 < lens[b] ? t + 1 : lens[b]);
        OK(lt_attention_fwd(g_cpu, &po, &pl, &qkv, &lt, (int)H, s->p0));
        const float *pod = po.data, *pld = pl.data;
        for (int64_t b = 0; b < B; b++) {
            if (t >= lens[b]) continue;
            for (int64_t i = 0; i < H * D; i++)
                worst = fmax(worst, fabs(pod[(b * T + t) * H * D + i] - o[(b * T + t) * H * D + i]) / 1e-6);
            for (int64_t h = 0; h < H; h++)
                worst = fmax(worst, fabs(pld[(b * H + h) * T + t] - lse[(b * H + h) * T + t]) / 1e-6);
        }
    }
    printf("  %-28s vs the unmasked op on each prefix: worst err/tol %.3f %s\n", s->name, worst, worst <= 1 ? "ok" : "FAIL");
    CHECK_MSG(worst <= 1, "%s differs from the unmasked op on prefixes", s->name);
    lt_tensor_free(g_cpu, &qkv), lt_tensor_free(g_cpu, &lt), lt_tensor_free(g_cpu, &po), lt_tensor_free(g_cpu, &pl);
}

static void attention_case_x(const char *name, int64_t B, int64_t T, int H, int64_t D, const int32_t *lens, int causal) {
    spec s = {.name = name, .nin = 2, .nout = 2, .nloss = 1, .fwd = att_fwd, .bwd = att_bwd, .eps = 1e-2,
              .atol = 1e-3, .rtol = 2e-3, .xatol = 1e-5, .xrtol = 1e-4, .i0 = H, .p0 = 1.0f / sqrtf((float)D),
              .causal = causal};
    s.in[0] = randf(3, B, T, 3 * H * D, -1, 1), s.in[0].diff = 1;
    s.in[1] = lens_of((int)B, lens);
    s.out[0] = (harr){.dt = LT_F32, .ndim = 3, .shape = {B, T, H * D}};
    s.out[1] = (harr){.dt = LT_F32, .ndim = 3, .shape = {B, H, T}};
    run r;
    run_fwd(g_cpu, &s, &r);
    float *o = download(g_cpu, &r.out[0]), *lse = download(g_cpu, &r.out[1]);
    double worst = attention_ref(&s, o, lse);
    printf("  %-28s vs double reference (masked keys, lse): worst err/tol %.3f %s\n", name, worst,
           worst <= 1 ? "ok" : "FAIL");
    CHECK_MSG(worst <= 1, "%s differs from the double reference", name);
    if (causal) causal_vs_prefix(&s, o, lse);
    free(o), free(lse);
    run_free(g_cpu, &s, &r);
    check_new_op(&s);
}

static void attention_case(const char *name, int64_t B, int64_t T, int H, int64_t D, const int32_t *lens) {
    attention_case_x(name, B, T, H, D, lens, 0);
}

static void test_attention(void) {
    int32_t l4[4] = {9, 4, 1, 0}; /* full, partial, one key, none */
    attention_case("attention 4x9 h2 d8", 4, 9, 2, 8, l4);
    int32_t l2[2] = {1, 0};
    attention_case("attention T=1", 2, 1, 3, 4, l2);
    int32_t l3[3] = {70, 33, 70}; /* longer rows, BERT-like head size */
    attention_case("attention 3x70 h3 d32", 3, 70, 3, 32, l3);
    /* causal: full, partial, one key, none; rows crossing the CUDA tiles (32 f32, 64 bf16) */
    attention_case_x("causal attention 4x9 h2 d8", 4, 9, 2, 8, l4, 1);
    attention_case_x("causal attention T=1", 2, 1, 3, 4, l2, 1);
    int32_t l5[3] = {70, 33, 65};
    attention_case_x("causal attention 3x70 h3 d32", 3, 70, 3, 32, l5, 1);
    int32_t l6[2] = {130, 97};
    attention_case_x("causal attention 2x130 h1 d64", 2, 130, 1, 64, l6, 1);
    int32_t l7[3] = {11, 6, 11}; /* a head size that is not a multiple of 4: CUDA's scalar f32 loads */
    attention_case("attention 3x11 h2 d6", 3, 11, 2, 6, l7);
}

static int bgelu_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_bias_gelu_fwd(be, &out[0], &in[0], &in[1]);
}
static int bgelu_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_bias_gelu_bwd(be, &din[0], &din[1], &dout[0], &in[0], &in[1]);
}

/* residual layernorm: in = a, b, w, beta; out = y, s, mean, rstd */
static int rln_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_residual_layernorm_fwd(be, &out[0], &out[1], &out[2], &out[3], &in[0], &in[1], &in[2], &in[3], 1e-5f);
}
static int rln_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_residual_layernorm_bwd(be, &din[0], &din[1], &din[2], &din[3], &dout[0], &out[1], &in[2], &out[2],
                                     &out[3]);
}

static int mpool_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_mean_pool_fwd(be, &out[0], &in[0], &in[1]);
}
static int mpool_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_mean_pool_bwd(be, &din[0], &dout[0], &in[1]);
}

static int l2_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_l2norm_fwd(be, &out[0], &out[1], &in[0]);
}
static int l2_bwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    return lt_l2norm_bwd(be, &din[0], &dout[0], &out[0], &out[1]);
}

/* Forward of a row op against a double reference computed by ref(row input...) */
static void report_ref(const char *name, double worst) {
    printf("  %-28s vs double reference: worst err/tol %.3f %s\n", name, worst, worst <= 1 ? "ok" : "FAIL");
    CHECK_MSG(worst <= 1, "%s differs from the double reference", name);
}

static void test_bias_gelu(void) {
    int64_t R = 37, C = 50;
    spec s = {.name = "bias_gelu", .nin = 2, .nout = 1, .nloss = 1, .fwd = bgelu_fwd, .bwd = bgelu_bwd, .eps = 1e-2,
              .atol = 1e-3, .rtol = 2e-3, .xatol = 1e-6, .xrtol = 1e-5};
    s.in[0] = randf(2, R, C, 0, -4, 4), s.in[0].diff = 1;
    s.in[1] = randf(1, C, 0, 0, -1, 1), s.in[1].diff = 1;
    s.out[0] = F2(R, C);
    run r;
    run_fwd(g_cpu, &s, &r);
    float *y = download(g_cpu, &r.out[0]);
    const float *x = s.in[0].h, *bias = s.in[1].h;
    double worst = 0;
    for (int64_t i = 0; i < R * C; i++) {
        double v = (double)x[i] + bias[i % C], want = 0.5 * v * (1 + erf(v / sqrt(2.0)));
        worst = fmax(worst, fabs(y[i] - want) / (1e-6 * (1 + fabs(want))));
    }
    report_ref("bias_gelu", worst);
    free(y);
    run_free(g_cpu, &s, &r);
    check_new_op(&s);
}

static void test_residual_layernorm(void) {
    int64_t R = 37, C = 64;
    spec s = {.name = "residual_layernorm", .nin = 4, .nout = 4, .nloss = 1, .fwd = rln_fwd, .bwd = rln_bwd,
              .eps = 1e-2, .atol = 2e-3, .rtol = 5e-3, .xatol = 1e-5, .xrtol = 1e-4};
    s.in[0] = randf(2, R, C, 0, -3, 3), s.in[0].diff = 1;
    s.in[1] = randf(2, R, C, 0, -1, 1), s.in[1].diff = 1;
    s.in[2] = randf(1, C, 0, 0, 0.5f, 1.5f), s.in[2].diff = 1;
    s.in[3] = randf(1, C, 0, 0, -0.5f, 0.5f), s.in[3].diff = 1;
    s.out[0] = F2(R, C), s.out[1] = F2(R, C), s.out[2] = F1(R), s.out[3] = F1(R);

    /* forward vs double; s = a + b; then the documented aliasing: s may be a, and da == db gets 2 ds */
    run r;
    run_fwd(g_cpu, &s, &r);
    float *y = download(g_cpu, &r.out[0]), *sum = download(g_cpu, &r.out[1]);
    const float *a = s.in[0].h, *b = s.in[1].h, *w = s.in[2].h, *beta = s.in[3].h;
    double worst = 0;
    for (int64_t i = 0; i < R; i++) {
        double m = 0, v = 0;
        for (int64_t j = 0; j < C; j++) m += (double)a[i * C + j] + b[i * C + j];
        m /= C;
        for (int64_t j = 0; j < C; j++) v += pow((double)a[i * C + j] + b[i * C + j] - m, 2);
        v /= C;
        for (int64_t j = 0; j < C; j++) {
            double x = (double)a[i * C + j] + b[i * C + j], want = (x - m) / sqrt(v + 1e-5) * w[j] + beta[j];
            worst = fmax(worst, fabs(y[i * C + j] - want) / (1e-5 * (1 + fabs(want))));
            worst = fmax(worst, fabs(sum[i * C + j] - x) / (1e-6 * (1 + fabs(x))));
        }
    }
    report_ref("residual_layernorm", worst);

    lt_tensor y2, mean2, rstd2, a2 = upload(g_cpu, &s.in[0]);
    OK(lt_tensor_new(&y2, g_cpu, LT_F32, 2, (int64_t[]){R, C}));
    OK(lt_tensor_new(&mean2, g_cpu, LT_F32, 1, &R));
    OK(lt_tensor_new(&rstd2, g_cpu, LT_F32, 1, &R));
    OK(lt_residual_layernorm_fwd(g_cpu, &y2, &a2, &mean2, &rstd2, &a2, &r.in[1], &r.in[2], &r.in[3], 1e-5f));
    float *ya = download(g_cpu, &y2), *sa = download(g_cpu, &a2);
    CHECK_MSG(!memcmp(ya, y, sizeof(float) * (size_t)(R * C)) && !memcmp(sa, sum, sizeof(float) * (size_t)(R * C)),
              "residual_layernorm with s aliasing a differs");
    /* backward with da == db: exactly twice what da alone receives */
    harr g = randf(2, R, C, 0, -1, 1);
    lt_tensor dy = upload(g_cpu, &g), d[3], dw, dbeta;
    for (int i = 0; i < 3; i++) OK(lt_tensor_new(&d[i], g_cpu, LT_F32, 2, (int64_t[]){R, C}));
    OK(lt_tensor_new(&dw, g_cpu, LT_F32, 1, &C));
    OK(lt_tensor_new(&dbeta, g_cpu, LT_F32, 1, &C));
    OK(lt_residual_layernorm_bwd(g_cpu, &d[0], &d[0], &dw, &dbeta, &dy, &r.out[1], &r.in[2], &r.out[2], &r.out[3]));
    OK(lt_residual_layernorm_bwd(g_cpu, &d[1], &d[2], &dw, &dbeta, &dy, &r.out[1], &r.in[2], &r.out[2], &r.out[3]));
    const float *twice = d[0].data, *once = d[1].data, *other = d[2].data;
    int alias_ok = 1;
    for (int64_t i = 0; i < R * C; i++) alias_ok &= twice[i] == 2 * once[i] && once[i] == other[i];
    CHECK_MSG(alias_ok, "residual_layernorm_bwd with da == db does not give 2 ds");
    free(ya), free(sa), free(y), free(sum), free(g.h);
    lt_tensor_free(g_cpu, &y2), lt_tensor_free(g_cpu, &mean2), lt_tensor_free(g_cpu, &rstd2), lt_tensor_free(g_cpu, &a2);
    for (int i = 0; i < 3; i++) lt_tensor_free(g_cpu, &d[i]);
    lt_tensor_free(g_cpu, &dy), lt_tensor_free(g_cpu, &dw), lt_tensor_free(g_cpu, &dbeta);
    run_free(g_cpu, &s, &r);
    check_new_op(&s);
}

static void test_mean_pool(void) {
    int64_t B = 4, T = 9, C = 16;
    int32_t lens[4] = {9, 4, 1, 0};
    spec s = {.name = "mean_pool", .nin = 2, .nout = 1, .nloss = 1, .fwd = mpool_fwd, .bwd = mpool_bwd, .eps = 1e-2,
              .atol = 1e-3, .rtol = 1e-3, .xatol = 1e-6, .xrtol = 1e-5};
    s.in[0] = randf(3, B, T, C, -2, 2), s.in[0].diff = 1;
    s.in[1] = lens_of((int)B, lens);
    s.out[0] = F2(B, C);
    run r;
    run_fwd(g_cpu, &s, &r);
    float *y = download(g_cpu, &r.out[0]);
    const float *x = s.in[0].h;
    double worst = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < C; j++) {
            double acc = 0;
            for (int64_t t = 0; t < lens[b]; t++) acc += x[(b * T + t) * C + j];
            if (lens[b]) acc /= lens[b];
            worst = fmax(worst, fabs(y[b * C + j] - acc) / 1e-6);
        }
    report_ref("mean_pool (lens 9, 4, 1, 0)", worst);
    free(y);
    run_free(g_cpu, &s, &r);
    check_new_op(&s);
}

static void test_l2norm(void) {
    int64_t R = 23, C = 40;
    spec s = {.name = "l2norm", .nin = 1, .nout = 2, .nloss = 1, .fwd = l2_fwd, .bwd = l2_bwd, .eps = 1e-3,
              .atol = 1e-3, .rtol = 2e-3, .xatol = 1e-6, .xrtol = 1e-5};
    s.in[0] = randf(2, R, C, 0, -1, 1), s.in[0].diff = 1;
    s.out[0] = F2(R, C), s.out[1] = F1(R);
    run r;
    run_fwd(g_cpu, &s, &r);
    float *y = download(g_cpu, &r.out[0]), *n = download(g_cpu, &r.out[1]);
    const float *x = s.in[0].h;
    double worst = 0;
    for (int64_t i = 0; i < R; i++) {
        double ss = 0;
        for (int64_t j = 0; j < C; j++) ss += (double)x[i * C + j] * x[i * C + j];
        worst = fmax(worst, fabs(n[i] - sqrt(ss)) / (1e-6 * sqrt(ss)));
        for (int64_t j = 0; j < C; j++) worst = fmax(worst, fabs(y[i * C + j] - x[i * C + j] / sqrt(ss)) / 1e-6);
    }
    report_ref("l2norm", worst);
    free(y), free(n);
    run_free(g_cpu, &s, &r);
    check_new_op(&s);

    /* a zero row stays zero (the norm is floored at 1e-12, as torch's normalize) */
    float z[8] = {0}, zy[8], zn;
    lt_tensor zx = lt_view2(z, LT_F32, LT_CPU, 1, 8), zyt = lt_view2(zy, LT_F32, LT_CPU, 1, 8);
    lt_tensor znt = lt_view1(&zn, LT_F32, LT_CPU, 1);
    OK(lt_l2norm_fwd(g_cpu, &zyt, &znt, &zx));
    CHECK(zn == 0 && zy[0] == 0 && zy[7] == 0);
}

/* cast: f32 -> bf16 rounds to nearest even (lt_f32_to_bf16), bf16 -> f32 is exact; on every backend */
static void cast_check(lt_backend *be, const char *label) {
    int64_t n = 1000;
    harr x = randf(1, n, 0, 0, -100, 100);
    float *xf = x.h;
    xf[0] = INFINITY, xf[1] = -0.0f, xf[2] = 1.00390625f; /* halfway between two bf16: ties to even */
    lt_tensor tx = upload(be, &x), th, tb;
    OK(lt_tensor_new(&th, be, LT_BF16, 1, &n));
    OK(lt_tensor_new(&tb, be, LT_F32, 1, &n));
    OK(lt_cast(be, &th, &tx));
    OK(lt_cast(be, &tb, &th));
    uint16_t *h = download(be, &th);
    float *back = download(be, &tb);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += h[i] != lt_f32_to_bf16(xf[i]) || back[i] != lt_bf16_to_f32(h[i]);
    printf("  %-28s f32 -> bf16 -> f32 vs lt_f32_to_bf16: %s\n", label, bad ? "FAIL" : "ok");
    CHECK_MSG(bad == 0, "%s: %d elements differ", label, bad);
    free(h), free(back), free(x.h);
    lt_tensor_free(be, &tx), lt_tensor_free(be, &th), lt_tensor_free(be, &tb);
}

static void test_cast(void) {
    cast_check(g_cpu, "cast cpu");
    if (!g_cuda) printf("  %-28s skipped: no CUDA device\n", "cast cuda");
    else if (g_cuda) { /* absent ops report LT_ENOTSUP: skip rather than fail */
        int64_t one = 1;
        lt_tensor a, b;
        OK(lt_tensor_new(&a, g_cuda, LT_F32, 1, &one));
        OK(lt_tensor_new(&b, g_cuda, LT_BF16, 1, &one));
        int rc = lt_cast(g_cuda, &b, &a);
        lt_tensor_free(g_cuda, &a), lt_tensor_free(g_cuda, &b);
        if (rc == LT_ENOTSUP) cuda_unsupported("cast cuda");
        else cast_check(g_cuda, "cast cuda");
    }
}

/* ---- k-means ---------------------------------------------------------------------------------- */

static int km_assign_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_kmeans_assign(be, &out[0], &out[1], &out[2], &in[0], &in[1], &in[2]);
}
static int km_assign_fwd2(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_kmeans_assign(be, &out[0], &out[1], NULL, &in[0], &in[1], &in[2]);
}
static int km_update_fwd(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out) {
    return lt_kmeans_update(be, &out[0], &out[1], &in[0], &in[1]); /* outputs start zeroed */
}

/* x[n, d]: rows near `blobs` well-apart centers when blobs > 0 (else uniform in [-1, 1)); c[k, d]:
 * noisy copies of the centers, with centroid k-1 an exact copy of centroid 1 (a tie the lower
 * index must win); cn[k] = ||c||^2 in double. */
static void km_inputs(spec *s, int n, int k, int d, int blobs) {
    s->in[0] = randf(2, n, d, 0, -1, 1);
    s->in[1] = randf(2, k, d, 0, -1, 1);
    s->in[2] = mk(LT_F32, 1, k, 0, 0);
    float *x = s->in[0].h, *c = s->in[1].h, *cn = s->in[2].h;
    if (blobs) {
        float *ctr = malloc(sizeof(float) * blobs * d);
        for (int i = 0; i < blobs * d; i++) ctr[i] = 4.0f * (lt_rng_next_uniform(&g_rng) - 0.5f);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) x[i * d + j] = ctr[(i % blobs) * d + j] + 0.05f * x[i * d + j];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < d; j++) c[i * d + j] = ctr[(i % blobs) * d + j] + 0.02f * c[i * d + j];
        free(ctr);
    }
    memcpy(c + (size_t)(k - 1) * d, c + d, sizeof(float) * d);
    for (int i = 0; i < k; i++) {
        double t = 0;
        for (int j = 0; j < d; j++) t += (double)c[i * d + j] * c[i * d + j];
        cn[i] = (float)t;
    }
}

/* The CPU against a double-precision brute force: same centroid wherever the best is ahead of the
 * runner-up (other than its exact duplicate) by more than rounding can explain, dist to 1e-5. */
static void km_reference(lt_backend *be, const char *label, spec *s, int n, int k, int d,
                         int (*assign_fn)(lt_backend *, int32_t *, float *, float *, const float *, const float *,
                                          const float *, int64_t, int64_t, int64_t)) {
    const float *x = s->in[0].h, *c = s->in[1].h, *cn = s->in[2].h;
    int32_t *as = malloc(sizeof(int32_t) * n);
    float *dist = malloc(sizeof(float) * n), *sec = malloc(sizeof(float) * n);
    double *v = malloc(sizeof(double) * k);
    if (assign_fn) {
        OK(assign_fn(be, as, dist, sec, x, c, cn, n, k, d));
    } else {
        run r;
        run_fwd(be, s, &r);
        int32_t *a = download(be, &r.out[0]);
        float *dd = download(be, &r.out[1]), *ss = download(be, &r.out[2]);
        memcpy(as, a, sizeof(int32_t) * n), memcpy(dist, dd, sizeof(float) * n), memcpy(sec, ss, sizeof(float) * n);
        free(a), free(dd), free(ss);
        run_free(be, s, &r);
    }
    int bad = 0, checked = 0, ties = 0, bad_sec = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double best = INFINITY, second = INFINITY, bestd = 0, xn = 0;
        int arg = 0;
        for (int j = 0; j < k; j++) {
            double dot = 0, dd = 0;
            for (int t = 0; t < d; t++) {
                dot += (double)x[i * d + t] * c[j * d + t];
                double e = (double)x[i * d + t] - c[j * d + t];
                dd += e * e;
            }
            v[j] = (double)cn[j] - 2 * dot;
            if (v[j] < best) second = best, best = v[j], arg = j, bestd = dd;
            else if (v[j] < second && memcmp(c + (size_t)j * d, c + (size_t)arg * d, sizeof(float) * d)) second = v[j];
        }
        /* the runner-up counts an exact duplicate of the winner (then it equals the best) */
        double runner = INFINITY;
        for (int j = 0; j < k; j++)
            if (j != as[i] && v[j] < runner) runner = v[j];
        for (int t = 0; t < d; t++) xn += (double)x[i * d + t] * x[i * d + t];
        if (fabs(sec[i] - runner) > 1e-5 * (1 + fabs(runner) + xn) && !(isinf(runner) && isinf(sec[i])) && bad_sec++ < 3)
            fprintf(stderr, "  %s: row %d: runner-up %.7g, reference %.7g\n", label, i, sec[i], runner);
        ties += arg == 1;
        double scale = 1e-5 * (1 + fabs(best));
        if (second - best > scale) {
            checked++;
            if (as[i] != arg && bad++ < 3)
                fprintf(stderr, "  %s: row %d: centroid %d, reference %d\n", label, i, as[i], arg);
        }
        double e = fabs(dist[i] - bestd) / (1e-6 + 1e-5 * bestd);
        if (as[i] == arg && e > worst) worst = e;
    }
    printf("  %-28s vs double reference: %d rows checked (%d on the tied centroid), dist err/tol %.3f, runner-up %s\n",
           label, checked, ties, worst, bad || worst > 1 || bad_sec ? "FAIL" : "ok");
    CHECK_MSG(bad == 0 && worst <= 1 && bad_sec == 0, "%s: %d assignments differ, dist err/tol %.3f, %d runner-ups off",
              label, bad, worst, bad_sec);
    CHECK_MSG(checked > n / 2, "%s: only %d of %d rows had a clear nearest centroid", label, checked, n);
    free(as), free(dist), free(sec), free(v);
}

/* CUDA's fp32 assignment sums each dot product in order t = 0..d-1, as the CPU's AVX-512 kernel
 * does: the same bits. A CPU without it runs lt__cpu_kmeans_assign_blas, whose sums take BLAS's
 * order, so there the runner-up's value may differ in its last bits (and an assignment on a
 * near-tie): CUDA is compared to it within KM_XDEV_RTOL, on data without near-ties. */
#if defined(__AVX512F__)
#define KM_XDEV_RTOL 1e-9
#define KM_SAME_ORDER 1
#else
#define KM_XDEV_RTOL 1e-5
#define KM_SAME_ORDER 0
#endif

static void test_kmeans(void) {
    static const int shapes[3][4] = {{1000, 45, 37, 7}, {3001, 300, 64, 50}, {129, 1, 8, 0}}; /* n, k, d, blobs */
    for (int sh = 0; sh < 3; sh++) {
        int n = shapes[sh][0], k = shapes[sh][1], d = shapes[sh][2], blobs = shapes[sh][3];
        if (g_small && n > 1000) continue;
        if (k < 2) { /* one centroid: no tie to plant, every row is 0 */
            spec s = {.name = "kmeans_assign k=1", .nin = 3, .nout = 3, .fwd = km_assign_fwd, .xatol = 0, .xrtol = 1e-9};
            s.in[0] = randf(2, n, d, 0, -1, 1), s.in[1] = randf(2, 1, d, 0, -1, 1), s.in[2] = randf(1, 1, 0, 0, 1, 2);
            s.out[0] = (harr){.dt = LT_I32, .ndim = 1, .shape = {n}}, s.out[1] = F1(n), s.out[2] = F1(n);
            check_op(&s);
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "kmeans_assign %dx%d k=%d", n, d, k);
        spec s = {.name = name, .nin = 3, .nout = 3, .fwd = km_assign_fwd, .xatol = 0, .xrtol = 1e-9};
        km_inputs(&s, n, k, d, blobs);
        s.out[0] = (harr){.dt = LT_I32, .ndim = 1, .shape = {n}}, s.out[1] = F1(n), s.out[2] = F1(n);
        km_reference(g_cpu, name, &s, n, k, d, NULL);
        km_reference(g_cpu, "  (cpu blas path)", &s, n, k, d, lt__cpu_kmeans_assign_blas);
        s.xrtol = KM_XDEV_RTOL;
        if (g_cuda) xdev_check(&s); /* fp32: the same sums in the same order, so the same bits */
        else printf("  %-28s cuda vs cpu (fp32 and bf16 math): skipped: no CUDA device\n", name);
        spec_free(&s);
        /* bf16 math: the bf16 search with its fp32 re-check gives the fp32 kernel's centroids (ties
         * included) and so the same dist; here on blobs (k - 1 of them; the last centroid is the tie),
         * below on near-ties everywhere */
        if (!g_cuda) continue;
        spec b = {.name = "  (cuda bf16 math)", .nin = 3, .nout = 3, .fwd = km_assign_fwd, .xatol = 0, .xrtol = 1e-9};
        km_inputs(&b, n, k, d, k - 1);
        b.out[0] = s.out[0], b.out[1] = s.out[1];
        b.nout = 2, b.fwd = km_assign_fwd2; /* the runner-up comes from bf16 scores on rows not re-run: not compared */
        lt_backend_set_math(g_cuda, LT_MATH_BF16);
        xdev_check(&b);
        lt_backend_set_math(g_cuda, LT_MATH_FP32);
        spec_free(&b);
        /* TF32 runs the fp32 kernel: everything equal to the CPU, runner-up included */
        spec t = {.name = "  (cuda tf32 math)", .nin = 3, .nout = 3, .fwd = km_assign_fwd, .xatol = 0, .xrtol = KM_XDEV_RTOL};
        km_inputs(&t, n, k, d, blobs);
        t.out[0] = s.out[0], t.out[1] = s.out[1], t.out[2] = s.out[2];
        lt_backend_set_math(g_cuda, LT_MATH_TF32);
        xdev_check(&t);
        lt_backend_set_math(g_cuda, LT_MATH_FP32);
        spec_free(&t);
    }
    /* bf16 math on data full of near-ties (uniform rows, no blobs): the fp32 re-check must make
     * every assignment, and so every dist, the fp32 kernel's exactly. */
    if (g_cuda) {
        int n = 4000, k = 500, d = 96;
        spec r = {.name = "kmeans_assign bf16 near-ties", .nin = 3, .nout = 2, .fwd = km_assign_fwd2};
        km_inputs(&r, n, k, d, 0);
        r.out[0] = (harr){.dt = LT_I32, .ndim = 1, .shape = {n}}, r.out[1] = F1(n);
        run a32, a16;
        run_fwd(g_cuda, &r, &a32);
        lt_backend_set_math(g_cuda, LT_MATH_BF16);
        run_fwd(g_cuda, &r, &a16);
        lt_backend_set_math(g_cuda, LT_MATH_FP32);
        int32_t *i32 = download(g_cuda, &a32.out[0]), *i16 = download(g_cuda, &a16.out[0]);
        float *d32 = download(g_cuda, &a32.out[1]), *d16 = download(g_cuda, &a16.out[1]);
        int diff = 0;
        for (int i = 0; i < n; i++) diff += i32[i] != i16[i] || memcmp(&d32[i], &d16[i], sizeof(float)) != 0;
        printf("  %-28s bf16 search + fp32 re-check vs fp32 kernel: %d of %d rows differ %s\n", r.name, diff, n,
               diff ? "FAIL" : "ok");
        CHECK_MSG(diff == 0, "kmeans_assign bf16: %d assignments differ from fp32", diff);
        free(i32), free(i16), free(d32), free(d16);
        run_free(g_cuda, &r, &a32), run_free(g_cuda, &r, &a16);
        spec_free(&r);
    } else {
        printf("  %-28s bf16 search + fp32 re-check vs fp32 kernel: skipped: no CUDA device\n",
               "kmeans_assign bf16 near-ties");
    }
#if defined(__AVX512F__)
    /* Uniform data has near-ties everywhere: the CPU's AVX-512 kernel and CUDA's fp32 kernel add
     * every dot product in the same order, so they must still agree exactly. */
    spec r = {.name = "kmeans_assign near-ties", .nin = 3, .nout = 3, .fwd = km_assign_fwd, .xatol = 0, .xrtol = 1e-9};
    km_inputs(&r, 2000, 200, 24, 0);
    r.out[0] = (harr){.dt = LT_I32, .ndim = 1, .shape = {2000}}, r.out[1] = F1(2000), r.out[2] = F1(2000);
    check_op(&r);
#endif

    /* update: rows assigned -1 or k are skipped; some clusters stay empty; exact on both backends */
    int n = 2500, k = 70, d = 33;
    spec u = {.name = "kmeans_update", .nin = 2, .nout = 2, .fwd = km_update_fwd, .xatol = 0, .xrtol = 1e-9};
    u.in[0] = randf(2, n, d, 0, -3, 3);
    u.in[1] = randi(n, -1, k + 1);
    int32_t *a = u.in[1].h;
    for (int i = 0; i < n; i++)
        if (a[i] % 10 == 3) a[i] = 4; /* clusters 13, 23, ... empty, 4 large */
    u.out[0] = F2(k, d), u.out[1] = (harr){.dt = LT_I32, .ndim = 1, .shape = {k}};
    run rr;
    run_fwd(g_cpu, &u, &rr);
    float *sums = download(g_cpu, &rr.out[0]);
    int32_t *counts = download(g_cpu, &rr.out[1]);
    const float *x = u.in[0].h;
    int bad = 0;
    for (int j = 0; j < k; j++) {
        int cnt = 0;
        for (int i = 0; i < n; i++) cnt += a[i] == j;
        bad += cnt != counts[j];
        for (int t = 0; t < d; t++) {
            double ref = 0;
            for (int i = 0; i < n; i++)
                if (a[i] == j) ref += x[i * d + t];
            bad += sums[j * d + t] != (float)ref;
        }
    }
    printf("  %-28s vs sums in double: %s\n", u.name, bad ? "FAIL" : "ok");
    CHECK_MSG(bad == 0, "kmeans_update: %d sums or counts differ", bad);
    free(sums), free(counts);
    run_free(g_cpu, &u, &rr);
    check_op(&u);

    /* Zipf-skewed clusters: one holds ~70 % of 20000 rows (14 chunks of LT_KM_CHUNK), the rest
     * Zipf over k = 200, some rows skipped. Against sums in double (the chunked order is still a
     * sum), and exactly CUDA vs CPU (the same chunks in the same order). */
    {
        int zn = 20000, zk = 200, zd = 40;
        spec z = {.name = "kmeans_update zipf", .nin = 2, .nout = 2, .fwd = km_update_fwd, .xatol = 0, .xrtol = 1e-12};
        z.in[0] = randf(2, zn, zd, 0, -3, 3);
        z.in[1] = mk(LT_I32, 1, zn, 0, 0);
        int32_t *za = z.in[1].h;
        for (int i = 0; i < zn; i++) {
            double v = lt_rng_next_double(&g_rng);
            za[i] = v < 0.7 ? 17 : v < 0.72 ? -1 : (int32_t)fmin(zk - 1, floor(pow(zk + 1.0, lt_rng_next_double(&g_rng)) - 1));
        }
        z.out[0] = F2(zk, zd), z.out[1] = (harr){.dt = LT_I32, .ndim = 1, .shape = {zk}};
        run zr;
        run_fwd(g_cpu, &z, &zr);
        float *zs = download(g_cpu, &zr.out[0]);
        int32_t *zc = download(g_cpu, &zr.out[1]);
        const float *zx = z.in[0].h;
        double *ref = calloc((size_t)zk * zd, sizeof(double));
        int *cnt = calloc((size_t)zk, sizeof(int)), zbad = 0;
        for (int i = 0; i < zn; i++) {
            if (za[i] < 0) continue;
            cnt[za[i]]++;
            for (int t = 0; t < zd; t++) ref[za[i] * zd + t] += zx[i * zd + t];
        }
        for (int j = 0; j < zk; j++) {
            zbad += cnt[j] != zc[j];
            for (int t = 0; t < zd; t++) zbad += fabs(zs[j * zd + t] - ref[j * zd + t]) > 1e-6 * (1 + fabs(ref[j * zd + t]));
        }
        /* and exactly the documented order (LT_KM_CHUNK), the one CUDA follows: chunk sums from 0 */
        int order_bad = 0;
        for (int j = 0; j < zk; j++)
            for (int t = 0; t < zd; t++) {
                double tot = 0, part = 0;
                int o = 0;
                for (int i = 0; i < zn; i++) {
                    if (za[i] != j) continue;
                    if (o < LT_KM_CHUNK) tot += zx[i * zd + t];
                    else {
                        if (o % LT_KM_CHUNK == 0) {
                            if (o > LT_KM_CHUNK) tot += part;
                            part = 0;
                        }
                        part += zx[i * zd + t];
                    }
                    o++;
                }
                if (o > LT_KM_CHUNK) tot += part;
                order_bad += zs[j * zd + t] != (float)(0.0 + tot);
            }
        printf("  %-28s cluster 17 holds %d of %d rows: sums vs double %s, chunk order exact %s\n", z.name, cnt[17], zn,
               zbad ? "FAIL" : "ok", order_bad ? "FAIL" : "ok");
        CHECK_MSG(order_bad == 0, "kmeans_update zipf: %d sums differ from the LT_KM_CHUNK order", order_bad);
        CHECK_MSG(zbad == 0, "kmeans_update zipf: %d sums or counts differ", zbad);
        CHECK(cnt[17] > 10 * LT_KM_CHUNK);
        free(zs), free(zc), free(ref), free(cnt);
        run_free(g_cpu, &z, &zr);
        check_op(&z);
    }

    /* argument checks name the op and the argument */
    float buf[64] = {0};
    int32_t ib[8] = {0};
    lt_tensor x2 = lt_view2(buf, LT_F32, LT_CPU, 4, 8), c2 = lt_view2(buf, LT_F32, LT_CPU, 2, 7);
    lt_tensor c0 = lt_view2(buf, LT_F32, LT_CPU, 0, 8), cn2 = lt_view1(buf, LT_F32, LT_CPU, 2);
    lt_tensor as = lt_view1(ib, LT_I32, LT_CPU, 4), ds = lt_view1(buf + 40, LT_F32, LT_CPU, 4);
    FAILS_WITH(lt_kmeans_assign(g_cpu, &as, &ds, NULL, &x2, &c2, &cn2), LT_ESHAPE, "differ in width");
    FAILS_WITH(lt_kmeans_assign(g_cpu, &as, &ds, NULL, &x2, &c0, &cn2), LT_ESHAPE, "no centroids");
    lt_tensor c28 = lt_view2(buf, LT_F32, LT_CPU, 2, 8), as3 = lt_view1(ib, LT_I32, LT_CPU, 3);
    FAILS_WITH(lt_kmeans_assign(g_cpu, &as3, &ds, NULL, &x2, &c28, &cn2), LT_ESHAPE, "assign: expected 4 elements");
    FAILS_WITH(lt_kmeans_assign(g_cpu, &ds, &ds, NULL, &x2, &c28, &cn2), LT_EDTYPE, "assign: expected i32");
    FAILS_WITH(lt_kmeans_assign(g_cpu, &as, &ds, &cn2, &x2, &c28, &cn2), LT_ESHAPE, "second: expected 4 elements");
    lt_tensor cnt = lt_view1(ib, LT_I32, LT_CPU, 3);
    FAILS_WITH(lt_kmeans_update(g_cpu, &c28, &cnt, &x2, &as), LT_ESHAPE, "counts: expected 2 elements");
    printf("  kmeans argument validation: messages name the op and the argument\n");
}

/* The harness must be able to fail: a backward that is 2% off is caught. */
static int gelu_bwd_wrong(lt_backend *be, const spec *s, lt_tensor *in, lt_tensor *out, lt_tensor *dout, lt_tensor *din) {
    LT_TRY(lt_gelu_bwd(be, &din[0], &dout[0], &in[0]));
    return lt_axpy(be, &din[0], 0.02f, &dout[0]);
}

static void test_harness_can_fail(void) {
    spec s = {.name = "gelu (planted 2% error)", .nin = 1, .nout = 1, .nloss = 1, .fwd = gelu_fwd, .bwd = gelu_bwd_wrong,
              .eps = 1e-2, .atol = 1e-3, .rtol = 1e-3};
    s.in[0] = randf(1, 64, 0, 0, -3, 3), s.in[0].diff = 1;
    s.out[0] = F1(64);
    int before = tu_failures;
    int small = g_small; /* small mode skips finite differences, but not this check of them */
    g_quiet = 1, g_small = 0;
    fd_check(&s);
    g_quiet = 0, g_small = small;
    int caught = tu_failures > before;
    tu_failures = before;
    printf("  harness self-check: the planted error was %s\n", caught ? "caught (good)" : "NOT caught");
    CHECK_MSG(caught, "the finite-difference harness did not catch a wrong gradient");
    spec_free(&s);
}

/* Argument validation is shared by both backends (src/core/ops.c); check a few messages. */
static void test_validation(void) {
    lt_backend *be = g_cpu;
    float buf[64] = {0};
    int32_t ids[4] = {0, 1, 2, 99};
    lt_tensor x = lt_view2(buf, LT_F32, LT_CPU, 4, 8), y = lt_view2(buf + 32, LT_F32, LT_CPU, 4, 7);
    lt_tensor w = lt_view1(buf, LT_F32, LT_CPU, 7), m = lt_view1(buf, LT_F32, LT_CPU, 4);
    FAILS_WITH(lt_gelu_fwd(be, &y, &x), LT_ESHAPE, "gelu_fwd");
    FAILS_WITH(lt_layernorm_fwd(be, &x, &m, &m, &x, &w, &w, 1e-5f), LT_ESHAPE, "w: expected 8 elements");
    lt_tensor xi = lt_view2(buf, LT_I32, LT_CPU, 4, 8);
    FAILS_WITH(lt_gelu_fwd(be, &x, &xi), LT_EDTYPE, "x: expected f32");
    lt_tensor xg = x;
    xg.device = LT_CUDA;
    FAILS_WITH(lt_gelu_fwd(be, &x, &xg), LT_EDEVICE, "expected a tensor on cpu");
    lt_tensor c = lt_view2(buf, LT_F32, LT_CPU, 4, 4), a = lt_view2(buf, LT_F32, LT_CPU, 4, 3);
    FAILS_WITH(lt_matmul(be, &c, &a, 0, &a, 0, 1, 0), LT_ESHAPE, "matmul");
    lt_tensor table = lt_view2(buf, LT_F32, LT_CPU, 8, 4), idt = lt_view1(ids, LT_I32, LT_CPU, 4);
    lt_tensor eo = lt_view2(buf + 32, LT_F32, LT_CPU, 4, 4);
    FAILS_WITH(lt_embedding_fwd(be, &eo, &table, &idt), LT_ERANGE, "id 99");
    lt_tensor xh = lt_view2(buf, LT_BF16, LT_CPU, 4, 8); /* the cross-entropy's targets, in f32 and bf16 */
    FAILS_WITH(lt_xent_fwd(be, &m, &m, &x, &idt, -100), LT_ERANGE, "xent_fwd: target 99 of row 3");
    FAILS_WITH(lt_xent_fwd(be, &m, &m, &xh, &idt, -100), LT_ERANGE, "xent_fwd: target 99 of row 3");
    FAILS_WITH(lt_xent_bwd(be, &x, &x, &m, &idt, &m, -100), LT_ERANGE, "xent_bwd: target 99 of row 3");
    FAILS_WITH(lt_xent_bwd(be, &xh, &xh, &m, &idt, &m, -100), LT_ERANGE, "xent_bwd: target 99 of row 3");
    FAILS_WITH(lt_topk(be, &c, &c, &x), LT_EDTYPE, "idx");
    FAILS_WITH(lt_dropout_fwd(be, &x, &x, 1.0f, 1, 1), LT_EINVAL, "p must be in [0, 1)");
    printf("  argument validation: messages name the op and the argument\n");
}

/* The debug mode's record (LONGTAIL_CUDA_SYNC=1 turns it on for the CUDA backend, whose op table
 * then syncs after each op and quotes it on a fault): each public op's tensors, as lt__arg checked
 * them; a new op, or the first check after a backend call (seal), starts a new record. Tried here
 * on the CPU backend, since the record is the backend-independent half. */
static void test_op_trace(void) {
    int64_t r = 3, c = 1500;
    lt_tensor x, y, mean, rstd, w, b;
    OK(lt_tensor_new(&x, g_cpu, LT_F32, 2, (int64_t[]){r, c}));
    OK(lt_tensor_new(&y, g_cpu, LT_F32, 2, (int64_t[]){r, c}));
    OK(lt_tensor_new(&mean, g_cpu, LT_F32, 1, &r));
    OK(lt_tensor_new(&rstd, g_cpu, LT_F32, 1, &r));
    OK(lt_tensor_new(&w, g_cpu, LT_F32, 1, &c));
    OK(lt_tensor_new(&b, g_cpu, LT_F32, 1, &c));
    g_cpu->trace = 1;
    OK(lt_layernorm_fwd(g_cpu, &y, &mean, &rstd, &x, &w, &b, 1e-5f));
    char first[1024];
    snprintf(first, sizeof first, "%s", lt__op_trace());
    lt__op_trace_seal();
    OK(lt_add(g_cpu, &y, &x, &y));
    const char *second = lt__op_trace();
    g_cpu->trace = 0;
    int ok = strstr(first, "layernorm_fwd: y f32[3,1500]") == first && strstr(first, " w f32[1500]") &&
             strstr(first, " rstd f32[3]") && strncmp(second, "add:", 4) == 0 && !strstr(second, "layernorm");
    printf("  %-28s %s | %s: %s\n", "op trace (debug mode)", first, second, ok ? "ok" : "FAIL");
    CHECK_MSG(ok, "the debug trace does not name the op and its tensors");
    lt_tensor_free(g_cpu, &x), lt_tensor_free(g_cpu, &y), lt_tensor_free(g_cpu, &mean);
    lt_tensor_free(g_cpu, &rstd), lt_tensor_free(g_cpu, &w), lt_tensor_free(g_cpu, &b);
}

/* ---- realistic shapes (LONGTAIL_TEST_LARGE=1): CUDA against CPU only ----------------------------
 * Rows wider than one block's worth of threads (1,024) and than a 4,096-wide tile, BERT-base at
 * batch 64 (seq 128, hidden 768, 12 heads, FFN 3072), k-means at k = 20,000. No finite differences
 * (the small cases do those); the tolerances allow for longer sums in a different order. A bias's
 * or LayerNorm weight's gradient over 8,192 rows is a float sum that the CPU takes row after row
 * (~1e-4 off for terms of size 1; CUDA adds chunks of rows, then the chunks): LARGE_SUM_ATOL. */
#define LARGE_SUM_ATOL 1e-3
static void test_large_cuda(void) {
    if (!g_cuda) {
        no_cuda("realistic shapes");
        return;
    }
    static const int64_t ln_shapes[3][2] = {{512, 1536}, {256, 5000}, {8192, 768}}; /* rows, cols */
    char name[3][64];
    for (int i = 0; i < 3; i++) {
        int64_t R = ln_shapes[i][0], C = ln_shapes[i][1];
        snprintf(name[i], sizeof name[i], "layernorm %lldx%lld", (long long)R, (long long)C);
        spec s = {.name = name[i], .nin = 3, .nout = 3, .nloss = 1, .fwd = ln_fwd, .bwd = ln_bwd, .no_fd = 1,
                  .xatol = 5e-5, .xrtol = 5e-4, .sum_atol = {0, LARGE_SUM_ATOL, LARGE_SUM_ATOL}};
        s.in[0] = randf(2, R, C, 0, -3, 3), s.in[0].diff = 1;
        s.in[1] = randf(1, C, 0, 0, 0.5f, 1.5f), s.in[1].diff = 1;
        s.in[2] = randf(1, C, 0, 0, -0.5f, 0.5f), s.in[2].diff = 1;
        s.out[0] = F2(R, C), s.out[1] = F1(R), s.out[2] = F1(R);
        check_op(&s);
    }
    static const int64_t sm_shapes[3][2] = {{256, 1500}, {64, 4097}, {32, 8192}};
    char smn[3][64];
    for (int i = 0; i < 3; i++) {
        int64_t R = sm_shapes[i][0], C = sm_shapes[i][1];
        snprintf(smn[i], sizeof smn[i], "softmax %lldx%lld", (long long)R, (long long)C);
        spec s = {.name = smn[i], .nin = 1, .nout = 1, .nloss = 1, .fwd = sm_fwd, .bwd = sm_bwd, .no_fd = 1,
                  .xatol = 1e-7, .xrtol = 1e-4, .p0 = 0.125f};
        s.in[0] = randf(2, R, C, 0, -8, 8), s.in[0].diff = 1;
        s.out[0] = F2(R, C);
        check_op(&s);
    }

    /* BERT-base, batch 64: the encoder layer's row ops and attention with every sequence full */
    int64_t B = 64, T = 128, H = 12, D = 64, C = H * D, R = B * T, F = 4 * C;
    spec g = {.name = "bias_gelu bert-base b64", .nin = 2, .nout = 1, .nloss = 1, .fwd = bgelu_fwd, .bwd = bgelu_bwd,
              .no_fd = 1, .xatol = 1e-5, .xrtol = 1e-4, .sum_atol = {0, LARGE_SUM_ATOL}};
    g.in[0] = randf(2, R, F, 0, -4, 4), g.in[0].diff = 1;
    g.in[1] = randf(1, F, 0, 0, -1, 1), g.in[1].diff = 1;
    g.out[0] = F2(R, F);
    check_new_op(&g);
    spec l = {.name = "residual_layernorm b64", .nin = 4, .nout = 4, .nloss = 1, .fwd = rln_fwd, .bwd = rln_bwd,
              .no_fd = 1, .xatol = 5e-5, .xrtol = 5e-4, .sum_atol = {0, 0, LARGE_SUM_ATOL, LARGE_SUM_ATOL}};
    l.in[0] = randf(2, R, C, 0, -3, 3), l.in[0].diff = 1;
    l.in[1] = randf(2, R, C, 0, -1, 1), l.in[1].diff = 1;
    l.in[2] = randf(1, C, 0, 0, 0.5f, 1.5f), l.in[2].diff = 1;
    l.in[3] = randf(1, C, 0, 0, -0.5f, 0.5f), l.in[3].diff = 1;
    l.out[0] = F2(R, C), l.out[1] = F2(R, C), l.out[2] = F1(R), l.out[3] = F1(R);
    check_new_op(&l);
    int32_t *full = malloc(sizeof(int32_t) * B);
    for (int64_t b = 0; b < B; b++) full[b] = (int32_t)(b % 4 ? T : T - 1 - b % 97); /* mostly full, some short */
    spec a = {.name = "attention bert-base b64", .nin = 2, .nout = 2, .nloss = 1, .fwd = att_fwd, .bwd = att_bwd,
              .no_fd = 1, .xatol = 5e-5, .xrtol = 5e-4, .i0 = (int)H, .p0 = 1.0f / sqrtf((float)D)};
    a.in[0] = randf(3, B, T, 3 * C, -1, 1), a.in[0].diff = 1;
    a.in[1] = lens_of((int)B, full);
    a.out[0] = (harr){.dt = LT_F32, .ndim = 3, .shape = {B, T, C}};
    a.out[1] = (harr){.dt = LT_F32, .ndim = 3, .shape = {B, H, T}};
    check_new_op(&a);
    free(full);

    /* k-means at k = 20,000: fp32 math, the same dot products in the same order on both sides
     * (uniform data, near-ties everywhere); without the CPU's AVX-512 kernel, blobs (KM_XDEV_RTOL) */
    int n = 20000, k = 20000, d = 64;
    spec m = {.name = "kmeans_assign k=20000", .nin = 3, .nout = 3, .fwd = km_assign_fwd, .xatol = 0, .xrtol = KM_XDEV_RTOL};
    km_inputs(&m, n, k, d, KM_SAME_ORDER ? 0 : 1000);
    m.out[0] = (harr){.dt = LT_I32, .ndim = 1, .shape = {n}}, m.out[1] = F1(n), m.out[2] = F1(n);
    check_op(&m);
    n = 200000;
    spec u = {.name = "kmeans_update k=20000", .nin = 2, .nout = 2, .fwd = km_update_fwd, .xatol = 0, .xrtol = 1e-9};
    u.in[0] = randf(2, n, d, 0, -3, 3);
    u.in[1] = randi(n, 0, k);
    u.out[0] = F2(k, d), u.out[1] = (harr){.dt = LT_I32, .ndim = 1, .shape = {k}};
    check_op(&u);
}

int main(void) {
    g_strict = env_on("LONGTAIL_TEST_CUDA_STRICT"), g_small = env_on("LONGTAIL_TEST_SMALL");
    g_large = env_on("LONGTAIL_TEST_LARGE");
    if (g_strict || g_small || g_large)
        printf("modes:%s%s%s\n", g_strict ? " cuda-strict (no device or unsupported op = FAIL)" : "",
               g_small ? " small (small shapes, no finite differences)" : "",
               g_large ? " large (CUDA cases at realistic shapes)" : "");
    lt_rng_init(&g_rng, tu_seed(), 0);
    g_cpu = lt_backend_cpu();
    printf("%s\n", lt_backend_describe(g_cpu));
    int rc = tu_gpu(&g_cuda);
    if (rc < 0) {
        g_cuda = NULL;
        printf("cuda: %s: no CUDA device (%s)\n", g_strict ? "FAIL" : "skipped", lt_last_error());
        CHECK_MSG(!g_strict, "LONGTAIL_TEST_CUDA_STRICT=1 but no CUDA device");
    } else {
        printf("%s\n", lt_backend_describe(g_cuda));
    }

    test_harness_can_fail();
    test_validation();
    test_matmul();
    test_gemm_reference(g_cpu, "gemm cpu fp32", 1e-5, 0);
    test_gemm_reference(g_cpu, "gemm cpu bf16 operands", 1e-5, 1);
    test_gemm_cpu_bf16_math(g_cpu);
    if (g_cuda) {
        test_gemm_reference(g_cuda, "gemm cuda fp32", 1e-5, 0);
        test_gemm_reference(g_cuda, "gemm cuda bf16 operands", 1e-5, 1);
        lt_backend_set_math(g_cuda, LT_MATH_TF32);
        test_gemm_reference(g_cuda, "gemm cuda tf32 math", 3e-3, 0);
        lt_backend_set_math(g_cuda, LT_MATH_BF16);
        test_gemm_reference(g_cuda, "gemm cuda bf16 math", 2e-2, 0);
        lt_backend_set_math(g_cuda, LT_MATH_FP32);
    } else {
        printf("  %-28s skipped: no CUDA device\n", "gemm cuda (fp32/tf32/bf16)");
    }
    test_simple_ops();
    test_layernorm();
    test_softmax();
    test_xent();
    test_embedding();
    test_dropout();
    test_row_dropout();
    test_reduce();
    test_sumsq_acc(g_cpu, "sumsq cpu");
    if (g_cuda) test_sumsq_acc(g_cuda, "sumsq cuda");
    else printf("  %-28s skipped: no CUDA device\n", "sumsq cuda");
    test_adamw();
    test_topk();
    test_attention();
    test_bias_gelu();
    test_residual_layernorm();
    test_mean_pool();
    test_l2norm();
    test_cast();
    test_kmeans();
    test_op_trace();
    if (g_large) test_large_cuda();
    if (g_cuda) lt_backend_release(g_cuda);
    return tu_finish("test_ops");
}
