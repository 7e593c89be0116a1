/* test_classify: the long-tail classifier (include/longtail/classify.h) and what judges it.
 *  1. golden: logits, loss and every parameter's gradient on a fixed batch against the same network in
 *     torch (tests/golden/classify, made by make_classify_fixture.py: nn.Embedding -> nn.LSTM -> nn.LSTM's
 *     last state -> nn.Linear, BCE with weights, unsorted lengths), on the CPU and on CUDA;
 *  2. the wiring with dropout on (both dropouts, the last-state backward, the embedding scatter) against
 *     finite differences; the masks repeat for a step and change with it; inference has none;
 *  3. CUDA against the CPU with dropout on (same masks: the RNG is counter-based);
 *  4. accuracy, balanced accuracy and ROC AUC on hand-computed cases; the logistic regression against
 *     sklearn's solution (in the same fixture);
 *  5. the description round trip and bad input refused with a message.
 * The end-to-end run on the synthetic shop (it must beat the majority class) is tests/test_classify.sh. */
#include <math.h>
#include <stdint.h>

#include "golden.h"
#include "testutil.h"
#include "longtail/backend.h"
#include "longtail/classify.h"
#include "longtail/rng.h"
#include "longtail/safetensors.h"

#define GOLDEN_TOL 1e-5 /* fp32 against the float64 reference */
#define FD_EPS 4e-3
#define FD_ATOL 5e-4
#define FD_RTOL 5e-3

static lt_backend *g_cpu;
static lt_rng g_rng;

static float *download(lt_backend *be, const lt_tensor *t) {
    float *h = malloc(sizeof(float) * (size_t)lt_numel(t));
    lt_tensor v = lt_view(h, LT_F32, LT_CPU, t->ndim, t->shape);
    OK(lt_tensor_copy(be, &v, t));
    return h;
}

static void set_param(lt_backend *be, lt_param *p, const float *h) {
    lt_tensor v = lt_view((void *)h, LT_F32, LT_CPU, p->value.ndim, p->value.shape);
    OK(lt_tensor_copy(be, &p->value, &v));
}

/* ---- 1. golden ---------------------------------------------------------------------------------- */

static const lt_st_tensor *fx(const lt_safetensors *st, const char *name) { return golden_tensor(st, "classify", name); }

static double compare(const char *what, const float *got, const lt_st_tensor *want, double tol) {
    double e = golden_rel_err(got, (const float *)want->data, want->numel, 1e-6);
    CHECK_MSG(e <= tol, "%s: relative error %.3g > %.0e", what, e, tol);
    return e;
}

static void golden_case(lt_backend *be, const lt_safetensors *st, double tol) {
    const lt_st_tensor *ids = fx(st, "ids"), *emb = fx(st, "embedding.weight");
    int64_t B = ids->shape[0], T = ids->shape[1];
    lt_clf_config c;
    lt_clf_config_init(&c);
    c.vocab = emb->shape[0], c.embed = emb->shape[1], c.hidden1 = fx(st, "lstm1.weight_hh_l0")->shape[1];
    c.hidden2 = fx(st, "lstm2.weight_hh_l0")->shape[1], c.max_len = T, c.dropout = 0.2f; /* s = NULL: no dropout */
    lt_clf *m;
    OK(lt_clf_create(&m, be, &c, 1));
    lt_params *ps = lt_clf_params(m);
    CHECK(ps->n == 11);
    for (int i = 0; i < ps->n; i++) {
        const lt_st_tensor *t = fx(st, ps->p[i].name);
        CHECK_MSG(t->numel == lt_numel(&ps->p[i].value), "%s: shape differs from the fixture", ps->p[i].name);
        set_param(be, &ps->p[i], (const float *)t->data);
    }
    OK(lt_params_zero_grad(ps));
    float *logits = malloc(sizeof(float) * (size_t)B);
    double loss;
    OK(lt_clf_train_batch(m, (const int32_t *)ids->data, (const int32_t *)fx(st, "lens")->data, B, T,
                          (const float *)fx(st, "y")->data, (const float *)fx(st, "w")->data, NULL, &loss, logits));
    double out_err = compare("logits", logits, fx(st, "logits"), tol);
    float lf = (float)loss;
    out_err = fmax(out_err, compare("loss", &lf, fx(st, "loss"), tol));
    double grad_err = 0;
    for (int i = 0; i < ps->n; i++) {
        char key[128];
        snprintf(key, sizeof key, "grad.%s", ps->p[i].name);
        float *g = download(be, &ps->p[i].grad);
        grad_err = fmax(grad_err, compare(key, g, fx(st, key), tol));
        free(g);
    }
    /* inference gives the same logits (no dropout either way) */
    float *inf = malloc(sizeof(float) * (size_t)B);
    OK(lt_clf_logits(m, (const int32_t *)ids->data, (const int32_t *)fx(st, "lens")->data, B, T, inf));
    out_err = fmax(out_err, compare("inference logits", inf, fx(st, "logits"), tol));
    printf("  golden vs torch (Embedding -> LSTM -> LSTM last state -> Linear, BCE) on %s: logits and loss max rel "
           "err %.2e, %d gradients max rel err %.2e (tol %.0e)\n", lt_backend_name(be), out_err, ps->n, grad_err, tol);
    free(logits), free(inf);
    lt_clf_free(m);
}

/* ---- 2. finite differences with dropout on ------------------------------------------------------- */

enum { FB = 4, FT = 5 };
static const int32_t f_lens[FB] = {5, 1, 3, 4};
static int32_t f_ids[FB * FT];
static const float f_y[FB] = {1, 0, 1, 0}, f_w[FB] = {1.0f, 2.5f, 0.5f, 1.5f};

static lt_clf *small_model(lt_backend *be, float dropout) {
    lt_clf_config c = {.vocab = 9, .embed = 4, .hidden1 = 3, .hidden2 = 3, .dropout = dropout, .max_len = FT};
    lt_clf *m;
    OK(lt_clf_create(&m, be, &c, 77));
    lt_params *ps = lt_clf_params(m);
    lt_rng r;
    lt_rng_init(&r, 5, 1);
    for (int i = 0; i < ps->n; i++) OK(lt_param_init_uniform(ps, &ps->p[i], &r, 0.8f)); /* visible gradients */
    return m;
}

static double loss_at(lt_clf *m, int64_t step) {
    lt_step s = {.step = step, .micro = 0, .micros = 1, .seed = 3};
    double loss;
    OK(lt_clf_train_batch(m, f_ids, f_lens, FB, FT, f_y, f_w, &s, &loss, NULL));
    return loss;
}

static void test_fd(void) {
    for (int i = 0; i < FB * FT; i++) f_ids[i] = (int32_t)lt_rng_below(&g_rng, 9);
    lt_clf *m = small_model(g_cpu, 0.5f);
    lt_params *ps = lt_clf_params(m);
    double a = loss_at(m, 3), b = loss_at(m, 3), c = loss_at(m, 4);
    CHECK_MSG(a == b && a != c, "dropout masks: step 3 twice %.9g %.9g, step 4 %.9g", a, b, c);
    float z1[FB], z2[FB];
    OK(lt_clf_logits(m, f_ids, f_lens, FB, FT, z1));
    OK(lt_clf_logits(m, f_ids, f_lens, FB, FT, z2));
    CHECK(!memcmp(z1, z2, sizeof z1));
    OK(lt_params_zero_grad(ps));
    loss_at(m, 3);
    float *grads[16]; /* taken now: every loss_at below adds to the gradients again */
    for (int i = 0; i < ps->n && i < 16; i++) grads[i] = download(g_cpu, &ps->p[i].grad);
    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = 0; i < ps->n; i++) {
        lt_param *p = &ps->p[i];
        float *v = download(g_cpu, &p->value), *g = grads[i];
        int64_t n = lt_numel(&p->value);
        int tries = n < 8 ? (int)n : 8;
        for (int k = 0; k < tries; k++) {
            int64_t j = n <= 8 ? k : (int64_t)lt_rng_below(&g_rng, (uint64_t)n);
            /* an embedding row no token of the batch uses has gradient 0: sample the used rows too */
            if (i == 0 && k < 4) j = (int64_t)f_ids[k * FT] * 4 + k % 4;
            float keep = v[j];
            v[j] = keep + (float)FD_EPS, set_param(g_cpu, p, v);
            double lp = loss_at(m, 3);
            v[j] = keep - (float)FD_EPS, set_param(g_cpu, p, v);
            double lm = loss_at(m, 3);
            v[j] = keep, set_param(g_cpu, p, v);
            double h = (double)(keep + (float)FD_EPS) - (double)(keep - (float)FD_EPS);
            double num = (lp - lm) / h, err = fabs(num - g[j]), lim = FD_ATOL + FD_RTOL * fabs(num);
            worst = fmax(worst, err / lim);
            checked++;
            if (err > lim && bad++ < 5)
                fprintf(stderr, "  d/d%s[%lld]: finite difference %.7g, backward %.7g\n", p->name, (long long)j, num, g[j]);
        }
        free(v), free(g);
    }
    printf("  classifier bwd (dropout 0.5) vs finite differences: %d gradients, worst err/tol %.3f %s\n", checked, worst,
           bad ? "FAIL" : "ok");
    CHECK_MSG(bad == 0, "%d of %d gradients off", bad, checked);
    lt_clf_free(m);
}

/* ---- 3. CUDA against the CPU -------------------------------------------------------------------- */

static void test_cuda(const lt_safetensors *st) {
    lt_backend *gpu = NULL;
    if (tu_gpu(&gpu) < 0) {
        printf("  golden on cuda, cuda vs cpu: skipped: no CUDA device\n");
        return;
    }
    lt_backend_set_math(gpu, LT_MATH_FP32);
    golden_case(gpu, st, 1e-4);
    lt_clf *mc = small_model(g_cpu, 0.5f), *mg = small_model(gpu, 0.5f);
    double lc = loss_at(mc, 7), lg = loss_at(mg, 7);
    double worst = fabs(lc - lg) / (fabs(lc) + 1e-3);
    lt_params *pc = lt_clf_params(mc), *pg = lt_clf_params(mg);
    for (int i = 0; i < pc->n; i++) {
        float *a = download(g_cpu, &pc->p[i].grad), *b = download(gpu, &pg->p[i].grad);
        worst = fmax(worst, golden_rel_err(b, a, lt_numel(&pc->p[i].grad), 1e-6));
        free(a), free(b);
    }
    printf("  cuda vs cpu with dropout 0.5 (same masks): loss and gradients max rel err %.2e\n", worst);
    CHECK_MSG(worst < 1e-4, "cuda vs cpu: %.3g", worst);
    lt_clf_free(mc), lt_clf_free(mg);
    lt_backend_release(gpu);
}

/* ---- 4. metrics and the logistic regression ------------------------------------------------------ */

static void test_metrics(const lt_safetensors *st) {
    /* sklearn's roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75 */
    const float s1[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    const uint8_t y1[4] = {0, 0, 1, 1};
    lt_bin_metrics m;
    lt_bin_metrics_compute(s1, y1, 4, 0.38, &m);
    CHECK_MSG(fabs(m.auc - 0.75) < 1e-12, "auc %g, expected 0.75", m.auc);
    /* Hanley-McNeil: q1 = 0.6, q2 = 9/14, var = (0.1875 + 0.0375 + 0.080357) / 4 */
    CHECK_MSG(fabs(m.auc_se - 0.2762957) < 1e-6, "auc se %.7f, expected 0.2762957", m.auc_se);
    /* at 0.38: predicted 0, 1, 0, 1 -> tail recall 1/2, head recall 1/2, accuracy 1/2 */
    CHECK(fabs(m.accuracy - 0.5) < 1e-12 && fabs(m.balanced_accuracy - 0.5) < 1e-12 && m.positives == 2);
    /* ties count half: a constant score is 0.5; the majority answer on 80 % tail has accuracy 0.8 and
     * balanced accuracy 0.5 */
    float s2[10];
    uint8_t y2[10];
    for (int i = 0; i < 10; i++) s2[i] = 0.8f, y2[i] = i < 8;
    lt_bin_metrics_compute(s2, y2, 10, 0.5, &m);
    CHECK_MSG(fabs(m.auc - 0.5) < 1e-12 && fabs(m.accuracy - 0.8) < 1e-12 && fabs(m.balanced_accuracy - 0.5) < 1e-12,
              "constant: auc %g accuracy %g balanced %g", m.auc, m.accuracy, m.balanced_accuracy);
    /* a perfect ranking with ties inside each class: 1 */
    const float s3[5] = {0.2f, 0.2f, 0.9f, 0.9f, 0.7f};
    const uint8_t y3[5] = {0, 0, 1, 1, 1};
    lt_bin_metrics_compute(s3, y3, 5, 0.5, &m);
    CHECK(m.auc == 1.0 && m.accuracy == 1.0);
    lt_bin_metrics_compute(s3, y3, 2, 0.5, &m); /* one class only: no AUC */
    CHECK(isnan(m.auc));

    const lt_st_tensor *x = fx(st, "logreg.x");
    int64_t n = x->shape[0], d = x->shape[1];
    const int32_t *yi = (const int32_t *)fx(st, "logreg.y")->data;
    uint8_t *y = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) y[i] = (uint8_t)yi[i];
    lt_logreg lr;
    OK(lt_logreg_fit((const float *)x->data, n, d, y, (const float *)fx(st, "logreg.w")->data, 0.5, &lr));
    float coef[16], icpt = (float)lr.intercept;
    for (int64_t j = 0; j < d; j++) coef[j] = (float)lr.coef[j];
    double e = fmax(compare("logreg.coef", coef, fx(st, "logreg.coef"), 1e-4),
                    compare("logreg.intercept", &icpt, fx(st, "logreg.intercept"), 1e-4));
    printf("  logistic regression vs sklearn (C 0.5, weighted, standardised): %d Newton steps, max rel err %.2e\n",
           lr.iters, e);
    float p[2];
    lt_logreg_predict(&lr, (const float *)x->data, 2, p);
    CHECK(p[0] > 0 && p[0] < 1 && p[1] > 0 && p[1] < 1);
    lt_logreg_free(&lr);
    free(y);
}

/* ---- 5. descriptions and bad input ---------------------------------------------------------------- */

static void test_config(void) {
    lt_clf_config c, d;
    lt_clf_config_init(&c);
    CHECK(c.embed == 300 && c.hidden1 == 128 && c.hidden2 == 64 && fabsf(c.dropout - 0.2f) < 1e-7f);
    c.vocab = 30522;
    char buf[256];
    lt_clf_config_describe(&c, buf, sizeof buf);
    OK(lt_clf_config_parse(buf, &d));
    CHECK_MSG(!memcmp(&c, &d, sizeof c), "round trip of '%s'", buf);
    FAILS_WITH(lt_clf_config_parse("rec cell=lstm", &d), LT_EFORMAT, "not a classifier");
    lt_clf *m;
    c.dropout = 1;
    FAILS_WITH(lt_clf_create(&m, g_cpu, &c, 1), LT_ECONFIG, "dropout");
    m = small_model(g_cpu, 0.2f);
    int32_t ids[FB * FT] = {0}, lens[FB] = {5, 1, 3, 4};
    float z[FB];
    ids[7] = 9;
    FAILS_WITH(lt_clf_logits(m, ids, lens, FB, FT, z), LT_ERANGE, "outside the vocabulary of 9");
    ids[7] = 0, lens[2] = 0;
    FAILS_WITH(lt_clf_logits(m, ids, lens, FB, FT, z), LT_EINVAL, "has 0 tokens");
    lt_clf_free(m);
}

int main(void) {
    lt_rng_init(&g_rng, tu_seed(), 0);
    g_cpu = lt_backend_cpu();
    char path[4096];
    snprintf(path, sizeof path, "%.4000s/tests/golden/classify/fixture.safetensors", tu_source_dir());
    lt_safetensors st;
    OK(lt_safetensors_open(&st, path));
    golden_case(g_cpu, &st, GOLDEN_TOL);
    test_fd();
    test_cuda(&st);
    test_metrics(&st);
    test_config();
    lt_safetensors_close(&st);
    return tu_finish("test_classify");
}
