/* tests/test_sasrec: the causal self-attention tower (include/longtail/sasrec.h).
 *
 *  1. golden: tests/golden/sasrec, written by make_sasrec_fixture.py from plain torch (2 pre-LN blocks,
 *     2 heads, dropout 0, a right-padded batch with a full, a partial, a one-item and an empty row):
 *     the output and the gradient of every weight and of the input, max relative error printed;
 *  2. the module's backward against central finite differences of a tiny case in training mode with
 *     dropout 0.3 (so the dropout sites' backward is checked too), and its masks repeat for the same
 *     (seed, step) and change with the step;
 *  3. causality and padding, by perturbing the input: the output at a real position t does not move
 *     when x at any later or padded position does, it moves when x at t or before does; padded output
 *     rows and padded rows of dx are exactly 0;
 *  4. CUDA against the CPU (the golden case on the device in fp32 math); "skipped: no CUDA device"
 *     without a GPU.
 * The seed is printed; LONGTAIL_TEST_SEED=<seed> repeats a run. */
#include <math.h>
#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/ops.h"
#include "longtail/rng.h"
#include "golden.h"
#include "testutil.h"
#ifdef LONGTAIL_HAVE_HDF5
#include "longtail/safetensors.h"
#include "longtail/sasrec.h"
#endif

static lt_rng g_rng;
static lt_backend *g_cpu;

#ifdef LONGTAIL_HAVE_HDF5

#define GOLDEN_TOL 1e-4 /* fp32 against the float64 reference */
#define FD_EPS 1.6e-2 /* and half of it (Richardson, in test_fd) */
#define FD_ATOL 5e-4
#define FD_RTOL 5e-3

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

static float *randv(int64_t n, float lo, float hi) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * lt_rng_next_uniform(&g_rng);
    return p;
}

static const lt_st_tensor *fx(const lt_safetensors *st, const char *name) { return golden_tensor(st, "sasrec", name); }

static double fx_compare(lt_backend *be, const lt_safetensors *st, const char *name, const lt_tensor *got,
                         double *worst_all) {
    const lt_st_tensor *t = fx(st, name);
    CHECK_MSG(t->numel == lt_numel(got), "%s: %lld elements, fixture %lld", name, (long long)lt_numel(got),
              (long long)t->numel);
    if (t->numel != lt_numel(got)) return INFINITY;
    float *h = download(be, got);
    double e = golden_rel_err(h, (const float *)t->data, t->numel, 1e-6);
    free(h);
    CHECK_MSG(e <= GOLDEN_TOL, "%s on %s: relative error %.3g > %.0e", name, lt_backend_name(be), e, GOLDEN_TOL);
    if (!(e <= *worst_all)) *worst_all = e;
    return e;
}

/* ---- 1 and 4. golden ---------------------------------------------------------------------------------- */

static void golden_case(lt_backend *be, const lt_safetensors *st) {
    const int32_t *cf = (const int32_t *)fx(st, "config")->data; /* B, T, d, H, L, F, max_len */
    int64_t B = cf[0], T = cf[1], d = cf[2];
    lt_causal_config cfg = {.dim = d, .heads = cf[3], .layers = cf[4], .ffn = cf[5], .max_len = cf[6], .dropout = 0};
    lt_params ps;
    lt_params_init(&ps, be);
    lt_rng r;
    lt_rng_init(&r, 1, 0);
    lt_causal_tower *m;
    OK(lt_causal_tower_create(&m, &ps, "tower.", &cfg, &r));
    CHECK(ps.n == (int)(3 + 12 * cfg.layers));
    OK(lt_params_layout(&ps));
    for (int i = 0; i < ps.n; i++) { /* the fixture's weights, by name */
        const lt_st_tensor *t = fx(st, ps.p[i].name);
        CHECK_MSG(t->numel == lt_numel(&ps.p[i].value), "%s: shape differs from the fixture", ps.p[i].name);
        lt_tensor h = lt_view((void *)t->data, LT_F32, LT_CPU, ps.p[i].value.ndim, ps.p[i].value.shape);
        OK(lt_tensor_copy(be, &ps.p[i].value, &h));
    }
    OK(lt_causal_tower_reserve(m, B, T, 1));
    const lt_st_tensor *xt = fx(st, "x");
    lt_tensor x = upload(be, (const float *)xt->data, 3, xt->shape);
    const int32_t *lens = (const int32_t *)fx(st, "lens")->data;
    OK(lt_causal_tower_forward(m, &x, lens, 1, 7, 0));
    double out_err = 0, grad_err = 0, worst = 0;
    out_err = fx_compare(be, st, "out", lt_causal_tower_output(m), &worst);
    OK(lt_params_zero_grad(&ps));
    const lt_st_tensor *dt = fx(st, "dout");
    lt_tensor dout = upload(be, (const float *)dt->data, 3, dt->shape), dx;
    OK(lt_tensor_new(&dx, be, LT_F32, 3, x.shape));
    OK(lt_fill(be, &dx, 0.0f));
    OK(lt_causal_tower_backward(m, &dout, &dx));
    fx_compare(be, st, "grad.x", &dx, &grad_err);
    for (int i = 0; i < ps.n; i++) {
        char key[160];
        snprintf(key, sizeof key, "grad.%s", ps.p[i].name);
        fx_compare(be, st, key, &ps.p[i].grad, &grad_err);
    }
    printf("  golden vs torch (%lld blocks, %lld heads, d %lld, B %lld T %lld) on %s: output max rel err %.2e, "
           "%d weight gradients + dx max rel err %.2e (tol %.0e)\n",
           (long long)cfg.layers, (long long)cfg.heads, (long long)d, (long long)B, (long long)T, lt_backend_name(be),
           out_err, ps.n, grad_err, GOLDEN_TOL);
    lt_tensor_free(be, &x), lt_tensor_free(be, &dout), lt_tensor_free(be, &dx);
    lt_causal_tower_free(m);
    lt_params_free(&ps);
}

static void test_golden(void) {
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/tests/golden/sasrec/fixture.safetensors", tu_source_dir());
    lt_safetensors st;
    OK(lt_safetensors_open(&st, path));
    golden_case(g_cpu, &st);
    lt_backend *gpu = NULL;
    if (tu_gpu(&gpu) < 0) {
        printf("  golden on cuda (cuda vs cpu and torch): skipped: no CUDA device\n");
    } else {
        lt_backend_set_math(gpu, LT_MATH_FP32);
        golden_case(gpu, &st);
        lt_backend_release(gpu);
    }
    lt_safetensors_close(&st);
}

/* ---- 2. finite differences -------------------------------------------------------------------------- */

typedef struct {
    lt_params ps;
    lt_causal_tower *m;
    int64_t B, T, d;
    int32_t lens[4];
} tiny;

static void tiny_make(tiny *t, float dropout) {
    t->B = 3, t->T = 5, t->d = 8;
    int32_t l[3] = {5, 3, 0};
    memcpy(t->lens, l, sizeof l);
    lt_causal_config cfg = {.dim = t->d, .heads = 2, .layers = 2, .ffn = 12, .max_len = 7, .dropout = dropout};
    lt_params_init(&t->ps, g_cpu);
    lt_rng r;
    lt_rng_init(&r, 9, 0);
    OK(lt_causal_tower_create(&t->m, &t->ps, "user.sasrec.", &cfg, &r));
    CHECK(lt_params_find(&t->ps, "user.sasrec.layers.1.attn.in_proj_weight") &&
          lt_params_find(&t->ps, "user.sasrec.ln_f.bias"));
    OK(lt_params_layout(&t->ps));
    /* LayerNorm weights and biases away from 1 / 0, so that their gradients are not special */
    for (int i = 0; i < t->ps.n; i++) {
        lt_param *p = &t->ps.p[i];
        if (strstr(p->name, "ln") || strstr(p->name, "bias")) {
            int64_t n = lt_numel(&p->value);
            float *v = randv(n, -0.3f, 0.3f);
            for (int64_t j = 0; j < n; j++) v[j] += strstr(p->name, "weight") ? 1.0f : 0.0f;
            lt_tensor h = lt_view1(v, LT_F32, LT_CPU, n), dst = lt_view1(p->value.data, LT_F32, p->value.device, n);
            OK(lt_tensor_copy(g_cpu, &dst, &h));
            free(v);
        }
    }
    OK(lt_causal_tower_reserve(t->m, t->B, t->T, 1));
}

static void tiny_free(tiny *t) {
    lt_causal_tower_free(t->m);
    lt_params_free(&t->ps);
}

static double tiny_loss(tiny *t, const lt_tensor *x, const float *w, uint64_t step) {
    OK(lt_causal_tower_forward(t->m, x, t->lens, 1, 11, step));
    float *h = download(g_cpu, lt_causal_tower_output(t->m));
    double L = 0;
    for (int64_t i = 0; i < t->B * t->T * t->d; i++) L += (double)w[i] * h[i];
    free(h);
    return L;
}

static void set_one(lt_tensor *val, float *v, int64_t j, float value) {
    v[j] = value;
    lt_tensor h = lt_view1(v, LT_F32, LT_CPU, lt_numel(val)), dst = lt_view1(val->data, LT_F32, val->device, lt_numel(val));
    OK(lt_tensor_copy(g_cpu, &dst, &h));
}

static void test_fd(void) {
    tiny t;
    tiny_make(&t, 0.3f);
    int64_t B = t.B, T = t.T, d = t.d, n = B * T * d;
    float *xh = randv(n, -1, 1), *w = randv(n, -1, 1);
    lt_tensor x = upload(g_cpu, xh, 3, (int64_t[]){B, T, d});
    double l1 = tiny_loss(&t, &x, w, 3), l2 = tiny_loss(&t, &x, w, 3), l3 = tiny_loss(&t, &x, w, 4);
    CHECK_MSG(l1 == l2 && l1 != l3, "dropout masks: step 3 twice %.9g %.9g, step 4 %.9g", l1, l2, l3);
    OK(lt_params_zero_grad(&t.ps));
    tiny_loss(&t, &x, w, 3);
    lt_tensor dout = upload(g_cpu, w, 3, (int64_t[]){B, T, d}), dx;
    OK(lt_tensor_new(&dx, g_cpu, LT_F32, 3, (int64_t[]){B, T, d}));
    OK(lt_fill(g_cpu, &dx, 0.0f));
    OK(lt_causal_tower_backward(t.m, &dout, &dx));
    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = -1; i < t.ps.n; i++) { /* -1: the input */
        lt_tensor *val = i < 0 ? &x : &t.ps.p[i].value;
        float *v = download(g_cpu, val), *g = download(g_cpu, i < 0 ? &dx : &t.ps.p[i].grad);
        int64_t nv = lt_numel(val);
        int samples = i < 0 ? 24 : 4;
        for (int sdx = 0; sdx < samples; sdx++) {
            int64_t j = (int64_t)lt_rng_below(&g_rng, (uint64_t)nv);
            if (i >= 0 && strstr(t.ps.p[i].name, "pos.weight")) j %= T * d; /* positions past T get no gradient */
            float keep = v[j];
            double fd[2]; /* central differences with steps FD_EPS and FD_EPS / 2 */
            for (int k = 0; k < 2; k++) {
                float e = (float)FD_EPS / (float)(1 << k);
                set_one(val, v, j, keep + e);
                double lp = tiny_loss(&t, &x, w, 3);
                set_one(val, v, j, keep - e);
                double lm = tiny_loss(&t, &x, w, 3);
                fd[k] = (lp - lm) / ((double)(keep + e) - (double)(keep - e));
            }
            set_one(val, v, j, keep);
            /* Richardson: the steps' h^2 error cancels. A plain central difference at h = 4e-3 was
             * 4 % off one gradient of seed 385082771 from curvature alone (0.0156 at 1e-2, 0.0199 at
             * 4e-3, 0.0207 at 1e-3, backward 0.0207); smaller steps drown in fp32 noise */
            double num = (4 * fd[1] - fd[0]) / 3, err = fabs(num - g[j]), lim = FD_ATOL + FD_RTOL * fabs(num);
            worst = fmax(worst, err / lim);
            checked++;
            if (err > lim && bad++ < 8)
                fprintf(stderr, "  d/d%s[%lld]: finite difference %.7g, backward %.7g\n", i < 0 ? "x" : t.ps.p[i].name,
                        (long long)j, num, g[j]);
        }
        free(v), free(g);
    }
    printf("  tiny tower (2 blocks, 2 heads, dropout 0.3, lens 5 3 0): bwd vs finite differences: %d gradients, "
           "worst err/tol %.3f %s\n", checked, worst, bad ? "FAIL" : "ok");
    CHECK_MSG(bad == 0, "finite differences: %d of %d gradients off", bad, checked);
    /* padded rows of dx are 0: sequence 1 from t = 3, sequence 2 entirely */
    float *g = download(g_cpu, &dx);
    int nz = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t tt = t.lens[b]; tt < T; tt++)
            for (int64_t k = 0; k < d; k++) nz += g[(b * T + tt) * d + k] != 0.0f;
    CHECK_MSG(nz == 0, "%d gradients at padded positions of x are not 0", nz);
    printf("  padded rows of dx are 0: %s\n", nz ? "FAIL" : "ok");
    free(g);
    lt_tensor_free(g_cpu, &x), lt_tensor_free(g_cpu, &dout), lt_tensor_free(g_cpu, &dx);
    free(xh), free(w);
    tiny_free(&t);
}

/* ---- 3. causality and padding by perturbation --------------------------------------------------------- */

static void test_causality(void) {
    tiny t;
    tiny_make(&t, 0.0f);
    int64_t B = t.B, T = t.T, d = t.d, n = B * T * d;
    float *xh = randv(n, -1, 1);
    lt_tensor x = upload(g_cpu, xh, 3, (int64_t[]){B, T, d});
    OK(lt_causal_tower_forward(t.m, &x, t.lens, 0, 0, 0));
    float *base = download(g_cpu, lt_causal_tower_output(t.m));
    int wrong = 0, padded_nonzero = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t tt = t.lens[b]; tt < T; tt++)
            for (int64_t k = 0; k < d; k++) padded_nonzero += base[(b * T + tt) * d + k] != 0.0f;
    /* perturb x at each (b, p): real rows t < p (and every row of other sequences) must not move; rows t >= p
     * of a real p must move; a padded p moves nothing */
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < T; p++) {
            float *xp = malloc(sizeof(float) * (size_t)n);
            memcpy(xp, xh, sizeof(float) * (size_t)n);
            for (int64_t k = 0; k < d; k++) xp[(b * T + p) * d + k] += 0.5f + (float)k;
            lt_tensor x2 = upload(g_cpu, xp, 3, (int64_t[]){B, T, d});
            OK(lt_causal_tower_forward(t.m, &x2, t.lens, 0, 0, 0));
            float *o = download(g_cpu, lt_causal_tower_output(t.m));
            for (int64_t bb = 0; bb < B; bb++)
                for (int64_t tt = 0; tt < T; tt++) {
                    double diff = 0;
                    for (int64_t k = 0; k < d; k++)
                        diff = fmax(diff, fabs((double)o[(bb * T + tt) * d + k] - base[(bb * T + tt) * d + k]));
                    int real_p = p < t.lens[b], real_t = tt < t.lens[bb];
                    int should_move = bb == b && real_p && real_t && tt >= p;
                    if (should_move ? diff < 1e-4 : diff > 1e-6) {
                        if (wrong++ < 5)
                            fprintf(stderr, "  perturbing x[%lld, %lld] moved out[%lld, %lld] by %.3g (expected %s)\n",
                                    (long long)b, (long long)p, (long long)bb, (long long)tt, diff,
                                    should_move ? "a change" : "none");
                    }
                }
            free(o), free(xp);
            lt_tensor_free(g_cpu, &x2);
        }
    printf("  causality and padding by perturbation (%lld x %lld positions): %s; padded outputs are 0: %s\n",
           (long long)B, (long long)T, wrong ? "FAIL" : "ok", padded_nonzero ? "FAIL" : "ok");
    CHECK_MSG(wrong == 0, "%d output rows depend on positions they must not (or miss ones they must)", wrong);
    CHECK_MSG(padded_nonzero == 0, "%d padded outputs are not 0", padded_nonzero);
    /* the prefix property: the same sequence cut to its first 2 items gives the same first 2 rows */
    int32_t cut[3] = {2, 2, 0};
    OK(lt_causal_tower_forward(t.m, &x, cut, 0, 0, 0));
    float *o = download(g_cpu, lt_causal_tower_output(t.m));
    double diff = 0;
    for (int64_t tt = 0; tt < 2; tt++)
        for (int64_t k = 0; k < d; k++) diff = fmax(diff, fabs((double)o[tt * d + k] - base[tt * d + k]));
    printf("  a prefix (lens 5 -> 2) keeps its rows: max diff %.2e %s\n", diff, diff <= 1e-6 ? "ok" : "FAIL");
    CHECK_MSG(diff <= 1e-6, "prefix rows moved by %.3g", diff);
    free(o), free(base), free(xh);
    lt_tensor_free(g_cpu, &x);
    tiny_free(&t);
}

static void test_validation(void) {
    lt_causal_config bad = {.dim = 10, .heads = 3, .layers = 1, .max_len = 4};
    FAILS_WITH(lt_causal_config_check(&bad), LT_ECONFIG, "heads");
    tiny t;
    tiny_make(&t, 0.0f);
    FAILS_WITH(lt_causal_tower_reserve(t.m, 2, 8, 1), LT_EINVAL, "max_len");
    lt_tensor x;
    OK(lt_tensor_new(&x, g_cpu, LT_F32, 3, (int64_t[]){3, 5, 8}));
    OK(lt_fill(g_cpu, &x, 0.0f));
    int32_t l[3] = {6, 1, 1};
    FAILS_WITH(lt_causal_tower_forward(t.m, &x, l, 0, 0, 0), LT_ERANGE, "lens[0]");
    lt_tensor_free(g_cpu, &x);
    tiny_free(&t);
    printf("  argument validation: ok\n");
}

#endif

int main(void) {
    lt_rng_init(&g_rng, tu_seed(), 0);
    g_cpu = lt_backend_cpu();
    printf("%s\n", lt_backend_describe(g_cpu));
#ifdef LONGTAIL_HAVE_HDF5
    test_validation();
    test_golden();
    test_fd();
    test_causality();
#else
    printf("  skipped: built without HDF5 (the module's parameter list needs it)\n");
#endif
    return tu_finish("test_sasrec");
}
