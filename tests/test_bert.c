/* tests/test_bert: the BERT encoder against PyTorch, then determinism.
 *
 *  1. golden: tests/golden/bert (written by make_bert_fixture.py) through the real loader
 *     (BertForMaskedLM names, F16 and BF16 tensors, LayerNorm gamma/beta, a pooler to ignore):
 *     pooled outputs, final hidden states, the MLM loss and the gradient of every parameter
 *     against the float64 reference;
 *  2. a forward-only reservation (the layers share their buffers) gives the same outputs;
 *  3. save, reload, forward: bit-identical; dropout repeats for the same (seed, step) and changes
 *     with the step;
 *  4. [CLS] pooling without normalisation, training-mode dropout and the MLM head on a small
 *     random model: backward against central finite differences;
 *  5. with a CUDA device, 1 and 2 again on the CUDA backend (fp32 math), against the same reference
 *     (skipped where this build's CUDA backend lacks the transformer ops);
 *  6. bf16 activations (math bf16), on the CPU and on CUDA when there is one: the golden batch's
 *     pooled embeddings within cosine 0.9999 of the fp32 reference, its MLM loss and gradients close;
 *     and 150 masked-LM training steps of a small model in bf16 against the same steps in fp32:
 *     both curves fall and stay within 3 % of each other at every step. */
#include <math.h>
#include <stdint.h>

#include "longtail/bert.h"
#include "longtail/safetensors.h"
#include "golden.h"
#include "testutil.h"

static lt_backend *g_be;

#define TOL 1e-4 /* fp32 against the float64 reference */

/* t's values as host floats (bf16 widened) */
static float *to_host(const lt_tensor *t) {
    int64_t n = lt_numel(t);
    float *h = malloc(sizeof(float) * (size_t)n + 4);
    lt_tensor host = lt_view(h, t->dtype, LT_CPU, t->ndim, t->shape);
    OK(lt_tensor_copy(g_be, &host, t));
    OK(lt_backend_sync(g_be));
    if (t->dtype == LT_BF16) /* the bf16 values fill the first half: widen from the back */
        for (int64_t i = n - 1; i >= 0; i--) h[i] = lt_bf16_to_f32(((const uint16_t *)h)[i]);
    return h;
}

/* cosine of a and b (n values) */
static double cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

static const lt_st_tensor *fixture(const lt_safetensors *st, const char *name, lt_st_dtype dt, int64_t numel) {
    const lt_st_tensor *t = lt_safetensors_find(st, name);
    if (!t || t->dtype != dt || t->numel != numel) {
        fprintf(stderr, "fixture: %s missing or not %s with %lld elements\n", name, lt_st_dtype_name(dt), (long long)numel);
        exit(1);
    }
    return t;
}

static void check_tensor(const char *what, const float *got, const lt_safetensors *st, const char *name, int64_t n,
                         double *worst_all) {
    const lt_st_tensor *t = fixture(st, name, LT_ST_F32, n);
    /* a tensor that is zero in exact math (the key bias: softmax ignores a shift shared by a row) is
     * checked against an absolute 1e-6 */
    double e = golden_rel_err(got, (const float *)t->data, n, 1e-6 / TOL);
    *worst_all = fmax(*worst_all, e);
    CHECK_MSG(e <= TOL, "%s: relative error %.3g > %.0e", what, e, TOL);
}

typedef struct {
    int64_t B, T, M;
    int32_t *ids, *lens, *target;
    int64_t *pos;
} batch;

/* Returns 0, or 1 when the backend lacks an op (CUDA builds without the transformer kernels). */
static int golden(const char *dir, lt_bert **out, batch *bt) {
    char path[4096];
    lt_bert *m;
    OK(lt_bert_load(&m, g_be, dir, 1));
    const lt_bert_config *c = lt_bert_get_config(m);
    lt_safetensors st;
    snprintf(path, sizeof path, "%.4000s/fixture.safetensors", dir);
    OK(lt_safetensors_open(&st, path));
    const lt_st_tensor *ids = lt_safetensors_find(&st, "ids"), *pos = lt_safetensors_find(&st, "mlm_pos");
    CHECK(ids && pos && ids->ndim == 2);
    int64_t B = ids->shape[0], T = ids->shape[1], M = pos->numel, H = c->hidden;
    bt->B = B, bt->T = T, bt->M = M;
    bt->ids = malloc(ids->nbytes), bt->lens = malloc(sizeof(int32_t) * B), bt->pos = malloc(pos->nbytes);
    bt->target = malloc(sizeof(int32_t) * M);
    memcpy(bt->ids, ids->data, ids->nbytes);
    memcpy(bt->lens, fixture(&st, "lens", LT_ST_I32, B)->data, sizeof(int32_t) * B);
    memcpy(bt->pos, pos->data, pos->nbytes);
    memcpy(bt->target, fixture(&st, "mlm_target", LT_ST_I32, M)->data, sizeof(int32_t) * M);

    OK(lt_bert_reserve(m, B, T, M, 1));
    size_t train_bytes = lt_bert_reserved_bytes(m);
    int rc = lt_bert_forward(m, bt->ids, bt->lens, B, T, 0, 0, 0);
    if (rc == LT_ENOTSUP) {
        printf("  golden on %s: skipped: %s\n", lt_backend_name(g_be), lt_last_error());
        lt_bert_free(m), lt_safetensors_close(&st);
        return 1;
    }
    OK(rc);
    float loss;
    OK(lt_bert_mlm_loss(m, bt->pos, bt->target, M, &loss));
    double worst_out = 0, worst_grad = 0;
    float *pooled = to_host(lt_bert_pooled(m)), *hidden = to_host(lt_bert_hidden(m));
    check_tensor("pooled", pooled, &st, "pooled", B * H, &worst_out);
    check_tensor("hidden", hidden, &st, "hidden", B * T * H, &worst_out);
    float want_loss = *(const float *)fixture(&st, "mlm_loss", LT_ST_F32, 1)->data;
    double loss_err = fabs(loss - want_loss) / fabs(want_loss);
    CHECK_MSG(loss_err <= TOL, "mlm loss %.7g, want %.7g", loss, want_loss);

    /* L = <dpooled, pooled> + mlm_loss */
    lt_params *ps = lt_bert_params(m);
    OK(lt_params_zero_grad(ps));
    const lt_st_tensor *dp = fixture(&st, "dpooled", LT_ST_F32, B * H);
    lt_tensor dpooled;
    OK(lt_tensor_new(&dpooled, g_be, LT_F32, 2, (int64_t[]){B, H}));
    lt_tensor dph = lt_view2((void *)dp->data, LT_F32, LT_CPU, B, H);
    OK(lt_tensor_copy(g_be, &dpooled, &dph));
    OK(lt_bert_backward(m, &dpooled, NULL, 1.0f));
    int checked = 0;
    for (int i = 0; i < ps->n; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", ps->p[i].name);
        float *g = to_host(&ps->p[i].grad);
        check_tensor(name, g, &st, name, lt_numel(&ps->p[i].grad), &worst_grad);
        free(g);
        checked++;
    }
    CHECK_MSG(checked == st.n - 8, "%d gradients checked, the fixture holds %d", checked, st.n - 8);
    printf("  golden on %s (%lld x %lld, %d layers, hidden %lld): pooled + hidden max rel err %.2e, mlm loss %.7g (rel err "
           "%.2e), %d gradients max rel err %.2e (tolerance %.0e) %s\n",
           lt_backend_name(g_be), (long long)B, (long long)T, (int)c->layers, (long long)H, worst_out, loss, loss_err,
           checked, worst_grad, TOL,
           worst_out <= TOL && worst_grad <= TOL && loss_err <= TOL ? "ok" : "FAIL");

    /* 2. forward-only reservation: layers share one set of buffers, same numbers */
    OK(lt_bert_reserve(m, B, T, M, 0));
    OK(lt_bert_forward(m, bt->ids, bt->lens, B, T, 0, 0, 0));
    float *p2 = to_host(lt_bert_pooled(m)), *h2 = to_host(lt_bert_hidden(m));
    CHECK_MSG(!memcmp(p2, pooled, sizeof(float) * B * H) && !memcmp(h2, hidden, sizeof(float) * B * T * H),
              "forward-only reservation changes the outputs");
    FAILS_WITH(lt_bert_backward(m, &dpooled, NULL, 1.0f), LT_EINVAL, "reserved for inference");
    float *enc = malloc(sizeof(float) * B * H);
    OK(lt_bert_encode(m, bt->ids, bt->lens, B, T, enc)); /* what lt_embed_run calls */
    CHECK_MSG(!memcmp(enc, pooled, sizeof(float) * B * H), "lt_bert_encode differs from the pooled output");
    free(enc);
    printf("  forward-only reservation (%zu bytes of activations, %zu for training): same outputs %s\n",
           lt_bert_reserved_bytes(m), train_bytes,
           !memcmp(p2, pooled, sizeof(float) * B * H) ? "ok" : "FAIL");
    free(p2), free(h2), free(pooled), free(hidden);
    lt_tensor_free(g_be, &dpooled);
    lt_safetensors_close(&st);
    *out = m;
    return 0;
}

/* 3. save / reload / forward, and dropout's determinism */
static void save_reload(lt_bert *m, const batch *bt) {
    char dir[] = "/tmp/test_bert.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    OK(lt_bert_save(m, dir));
    lt_bert *r;
    OK(lt_bert_load(&r, g_be, dir, 1));
    lt_params *a = lt_bert_params(m), *b = lt_bert_params(r);
    int same = a->n == b->n;
    for (int i = 0; same && i < a->n; i++) {
        float *x = to_host(&a->p[i].value), *y = to_host(&b->p[i].value);
        same = !strcmp(a->p[i].name, b->p[i].name) && !memcmp(x, y, lt_nbytes(&a->p[i].value));
        free(x), free(y);
    }
    CHECK_MSG(same, "parameters differ after save and reload");
    int64_t B = bt->B, T = bt->T, H = lt_bert_get_config(m)->hidden;
    size_t np = sizeof(float) * B * H;
    OK(lt_bert_reserve(m, B, T, bt->M, 1));
    OK(lt_bert_reserve(r, B, T, bt->M, 1));
    float *out[4];
    OK(lt_bert_forward(m, bt->ids, bt->lens, B, T, 0, 0, 0));
    out[0] = to_host(lt_bert_pooled(m));
    OK(lt_bert_forward(r, bt->ids, bt->lens, B, T, 0, 0, 0));
    out[1] = to_host(lt_bert_pooled(r));
    int eval_same = !memcmp(out[0], out[1], np);
    CHECK_MSG(eval_same, "the reloaded model's forward differs");
    free(out[0]), free(out[1]);
    /* training mode: (seed, step) fixes the dropout masks */
    OK(lt_bert_forward(m, bt->ids, bt->lens, B, T, 1, 42, 7));
    out[0] = to_host(lt_bert_pooled(m));
    OK(lt_bert_forward(r, bt->ids, bt->lens, B, T, 1, 42, 7));
    out[1] = to_host(lt_bert_pooled(r));
    OK(lt_bert_forward(r, bt->ids, bt->lens, B, T, 1, 42, 8));
    out[2] = to_host(lt_bert_pooled(r));
    OK(lt_bert_forward(r, bt->ids, bt->lens, B, T, 0, 42, 8));
    out[3] = to_host(lt_bert_pooled(r));
    int drop_same = !memcmp(out[0], out[1], np), drop_moves = memcmp(out[1], out[2], np) && memcmp(out[2], out[3], np);
    CHECK_MSG(drop_same, "dropout differs for the same (seed, step)");
    CHECK_MSG(drop_moves, "dropout does not change with the step, or eval mode drops");
    printf("  save / reload / forward: parameters %s, eval outputs %s, dropout repeats for (seed, step) %s and moves "
           "with it %s\n", same ? "identical" : "DIFFER", eval_same ? "identical" : "DIFFER", drop_same ? "ok" : "FAIL",
           drop_moves ? "ok" : "FAIL");
    for (int i = 0; i < 4; i++) free(out[i]);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    rmdir(dir);
    lt_bert_free(r);
}

/* 4. L = <w, pooled> + 0.7 mlm, [CLS] pooling, no normalisation, dropout 0.2 in training mode */
static double fd_loss(lt_bert *m, const batch *bt, const float *w, float *mlm) {
    OK(lt_bert_forward(m, bt->ids, bt->lens, bt->B, bt->T, 1, 99, 3));
    OK(lt_bert_mlm_loss(m, bt->pos, bt->target, bt->M, mlm));
    float *p = to_host(lt_bert_pooled(m));
    double L = 0.7 * *mlm;
    for (int64_t i = 0; i < lt_numel(lt_bert_pooled(m)); i++) L += (double)w[i] * p[i];
    free(p);
    return L;
}

/* 5. [PAD] gets no gradient (padding_idx): a model without the MLM head (whose tied decoder would
 * rightly give every word row one), mean pooling over a batch where half the positions are [PAD],
 * one of them among the real tokens (so a missing skip would show). */
static void pad_no_gradient(void) {
    lt_bert_config c;
    lt_bert_config_init(&c);
    c.vocab = 30, c.hidden = 16, c.layers = 2, c.heads = 2, c.ffn = 32, c.max_pos = 8, c.pad_id = 0;
    lt_bert *m;
    OK(lt_bert_create(&m, g_be, &c, 9));
    int32_t ids[24], lens[3] = {8, 3, 1};
    for (int i = 0; i < 24; i++) ids[i] = i % 8 < lens[i / 8] ? 1 + i % 29 : 0;
    ids[2] = 0; /* a [PAD] inside the real tokens too: its hidden state reaches the loss */
    OK(lt_bert_reserve(m, 3, 8, 0, 1));
    OK(lt_bert_forward(m, ids, lens, 3, 8, 1, 5, 1));
    lt_params *ps = lt_bert_params(m);
    OK(lt_params_zero_grad(ps));
    float w[48];
    for (int i = 0; i < 48; i++) w[i] = (float)(i % 7) - 3.0f;
    lt_tensor dp, wh = lt_view2(w, LT_F32, LT_CPU, 3, 16);
    OK(lt_tensor_new(&dp, g_be, LT_F32, 2, (int64_t[]){3, 16}));
    OK(lt_tensor_copy(g_be, &dp, &wh));
    OK(lt_bert_backward(m, &dp, NULL, 0.0f));
    int pad_zero = 0, real_moves = 0;
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, "embeddings.word_embeddings.weight")) {
            float *g = to_host(&ps->p[i].grad);
            pad_zero = 1;
            for (int j = 0; j < 16; j++) pad_zero &= g[j] == 0.0f, real_moves |= g[16 + j] != 0.0f;
            free(g);
        }
    printf("  [PAD] word-embedding row, 12 of 24 positions padding: gradient %s (a real token's: %s)\n",
           pad_zero ? "zero ok" : "NOT ZERO", real_moves ? "nonzero ok" : "ZERO");
    CHECK_MSG(pad_zero && real_moves, "the [PAD] row got a gradient, or a real token's row none");
    lt_tensor_free(g_be, &dp);
    lt_bert_free(m);
}

static void finite_differences(void) {
    lt_bert_config c;
    lt_bert_config_init(&c);
    c.vocab = 40, c.hidden = 16, c.layers = 4, c.heads = 2, c.ffn = 32, c.max_pos = 8; /* 74 parameters: the list grows */
    c.pool = LT_BERT_POOL_CLS, c.normalize = 0, c.dropout = 0.2f, c.mlm_head = 1;
    lt_bert *m;
    OK(lt_bert_create(&m, g_be, &c, 5));
    lt_params *ps = lt_bert_params(m);
    lt_rng r;
    lt_rng_init(&r, 77, 0);
    for (int i = 0; i < ps->n; i++) OK(lt_param_init_normal(ps, &ps->p[i], &r, 0.3f)); /* away from BERT's tiny init */
    int32_t ids[18], lens[3] = {6, 3, 1}, target[4] = {7, 11, -100, 30};
    int64_t pos[4] = {1, 5, 6, 12};
    for (int i = 0; i < 18; i++) /* real tokens 1..39, padding [PAD] = 0 (the config's pad_id) */
        ids[i] = i % 6 < lens[i / 6] ? 1 + (int32_t)lt_rng_below(&r, 39) : 0;
    batch bt = {3, 6, 4, ids, lens, target, pos};
    float w[48];
    for (int i = 0; i < 48; i++) w[i] = lt_rng_next_uniform(&r) - 0.5f;
    OK(lt_bert_reserve(m, 3, 6, 4, 1));
    float mlm;
    fd_loss(m, &bt, w, &mlm);
    OK(lt_params_zero_grad(ps));
    lt_tensor dp;
    OK(lt_tensor_new(&dp, g_be, LT_F32, 2, (int64_t[]){3, 16}));
    lt_tensor wh = lt_view2(w, LT_F32, LT_CPU, 3, 16);
    OK(lt_tensor_copy(g_be, &dp, &wh));
    OK(lt_bert_backward(m, &dp, NULL, 0.7f));
    int bad = 0, checked = 0;
    double worst = 0;
    for (int k = 0; k < 60; k++) {
        lt_param *p = &ps->p[lt_rng_below(&r, (uint64_t)ps->n)];
        int64_t j = (int64_t)lt_rng_below(&r, (uint64_t)lt_numel(&p->value));
        float *v = (float *)p->value.data + j, keep = *v, eps = 1e-2f; /* the CPU backend: host memory */
        *v = keep + eps; /* written behind the model's back: lt_params_touch, or its GEMM weights are stale */
        lt_params_touch(ps);
        double lp = fd_loss(m, &bt, w, &mlm);
        *v = keep - eps;
        lt_params_touch(ps);
        double lm = fd_loss(m, &bt, w, &mlm);
        *v = keep;
        lt_params_touch(ps);
        double num = (lp - lm) / ((double)(keep + eps) - (double)(keep - eps)), ana = ((float *)p->grad.data)[j];
        double err = fabs(num - ana) / (2e-3 + 2e-2 * fabs(num));
        worst = fmax(worst, err);
        checked++;
        if (err > 1 && bad++ < 5)
            fprintf(stderr, "  d/d %s[%lld]: finite difference %.6g, backward %.6g\n", p->name, (long long)j, num, ana);
    }
    printf("  cls pooling, dropout 0.2, mlm head: backward vs finite differences, %d entries, worst err/tol %.3f %s\n",
           checked, worst, bad ? "FAIL" : "ok");
    CHECK_MSG(bad == 0, "%d of %d gradients differ from finite differences", bad, checked);
    lt_tensor_free(g_be, &dp);
    lt_bert_free(m);
}

static void errors(lt_bert *m, const batch *bt) {
    int32_t lens[1] = {99};
    FAILS_WITH(lt_bert_forward(m, bt->ids, lens, 1, bt->T, 0, 0, 0), LT_ERANGE, "lens[0] = 99");
    FAILS_WITH(lt_bert_forward(m, bt->ids, bt->lens, bt->B + 1, bt->T, 0, 0, 0), LT_ENOMEM, "are reserved");
    FAILS_WITH(lt_bert_forward(m, bt->ids, bt->lens, bt->B, 1000, 0, 0, 0), LT_ESHAPE, "max_pos");
    lt_backend_set_math(g_be, LT_MATH_BF16); /* the activations' dtype was fixed by the reserve */
    FAILS_WITH(lt_bert_forward(m, bt->ids, bt->lens, bt->B, bt->T, 0, 0, 0), LT_EINVAL, "call lt_bert_reserve again");
    lt_backend_set_math(g_be, LT_MATH_FP32);
    OK(lt_bert_forward(m, bt->ids, bt->lens, bt->B / 2, bt->T, 0, 0, 0)); /* smaller batches reuse the arena */
    OK(lt_bert_forward(m, bt->ids, bt->lens, bt->B, bt->T, 0, 0, 0));
    int64_t pos[1] = {bt->B * bt->T};
    int32_t target[1] = {1};
    float loss;
    FAILS_WITH(lt_bert_mlm_loss(m, pos, target, 1, &loss), LT_ERANGE, "pos[0]");
    lt_bert_config c;
    lt_bert_config_init(&c);
    const char *bad_act = "{\"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
                          " \"intermediate_size\": 16, \"hidden_act\": \"gelu_new\"}";
    FAILS_WITH(lt_bert_config_from_json(&c, bad_act, strlen(bad_act)), LT_ECONFIG, "hidden_act = \"gelu_new\"");
    const char *no_vocab = "{\"hidden_size\": 8}";
    FAILS_WITH(lt_bert_config_from_json(&c, no_vocab, strlen(no_vocab)), LT_ECONFIG, "no vocab_size");
    const char *heads = "{\"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 3,"
                        " \"intermediate_size\": 16}";
    FAILS_WITH(lt_bert_config_from_json(&c, heads, strlen(heads)), LT_ECONFIG, "not divisible");
    printf("  argument errors name the field and the numbers\n");
}

/* 6a. The golden batch with bf16 activations against the fp32 reference. bf16 keeps 8 bits of
 * mantissa (one rounding: 2^-9 relative), and every layer rounds its activations again, so outputs
 * are compared by cosine (the embeddings' own metric) and the loss relatively. */
static void bf16_golden(const char *dir) {
    char path[4096];
    lt_math keep = lt_backend_math(g_be);
    lt_backend_set_math(g_be, LT_MATH_BF16);
    lt_bert *m;
    OK(lt_bert_load(&m, g_be, dir, 1));
    int64_t H = lt_bert_get_config(m)->hidden;
    lt_safetensors st;
    snprintf(path, sizeof path, "%.4000s/fixture.safetensors", dir);
    OK(lt_safetensors_open(&st, path));
    const lt_st_tensor *ids = lt_safetensors_find(&st, "ids"), *pos = lt_safetensors_find(&st, "mlm_pos");
    int64_t B = ids->shape[0], T = ids->shape[1], M = pos->numel;
    const int32_t *lens = (const int32_t *)fixture(&st, "lens", LT_ST_I32, B)->data;
    const int32_t *target = (const int32_t *)fixture(&st, "mlm_target", LT_ST_I32, M)->data;
    OK(lt_bert_reserve(m, B, T, M, 1));
    OK(lt_bert_forward(m, (const int32_t *)ids->data, lens, B, T, 0, 0, 0));
    CHECK_MSG(lt_bert_hidden(m)->dtype == LT_BF16, "math bf16: the hidden states are %s, not bf16",
              lt_dtype_name(lt_bert_hidden(m)->dtype));
    float loss;
    OK(lt_bert_mlm_loss(m, (const int64_t *)pos->data, target, M, &loss));
    float *pooled = to_host(lt_bert_pooled(m));
    const float *want = (const float *)fixture(&st, "pooled", LT_ST_F32, B * H)->data;
    double worst_cos = 1;
    for (int64_t b = 0; b < B; b++) worst_cos = fmin(worst_cos, cosine(pooled + b * H, want + b * H, H));
    float want_loss = *(const float *)fixture(&st, "mlm_loss", LT_ST_F32, 1)->data;
    double loss_err = fabs(loss - want_loss) / fabs(want_loss);
    /* gradients: L = <dpooled, pooled> + mlm, as the fp32 golden test */
    lt_params *ps = lt_bert_params(m);
    OK(lt_params_zero_grad(ps));
    lt_tensor dpooled, dph = lt_view2((void *)fixture(&st, "dpooled", LT_ST_F32, B * H)->data, LT_F32, LT_CPU, B, H);
    OK(lt_tensor_new(&dpooled, g_be, LT_F32, 2, (int64_t[]){B, H}));
    OK(lt_tensor_copy(g_be, &dpooled, &dph));
    OK(lt_bert_backward(m, &dpooled, NULL, 1.0f));
    double worst_grad = 1, worst_norm = 0;
    const char *worst_name = "";
    for (int i = 0; i < ps->n; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", ps->p[i].name);
        int64_t n = lt_numel(&ps->p[i].grad);
        float *g = to_host(&ps->p[i].grad);
        const float *w = (const float *)fixture(&st, name, LT_ST_F32, n)->data;
        double big = 0, gg = 0, ww = 0;
        for (int64_t j = 0; j < n; j++) big = fmax(big, fabs(w[j])), gg += (double)g[j] * g[j], ww += (double)w[j] * w[j];
        double cs = big > 1e-6 ? cosine(g, w, n) : 1; /* the key bias: 0 in exact math */
        if (cs < worst_grad) worst_grad = cs, worst_name = ps->p[i].name;
        if (big > 1e-6) worst_norm = fmax(worst_norm, fabs(sqrt(gg / ww) - 1)); /* cosine misses a wrong scale */
        free(g);
    }
    int ok = worst_cos >= 0.9999 && loss_err <= 1e-2 && worst_grad >= 0.999 && worst_norm <= 1e-2;
    printf("  bf16 activations on %s, golden batch: pooled cosine to fp32 >= %.6f (>= 0.9999), mlm loss %.6g vs %.6g (rel "
           "%.1e, <= 1e-2), gradients cosine >= %.5f (%s; >= 0.999), norms within %.1e (<= 1e-2) %s\n",
           lt_backend_name(g_be), worst_cos, loss, want_loss, loss_err, worst_grad, worst_name, worst_norm,
           ok ? "ok" : "FAIL");
    CHECK_MSG(ok, "bf16 activations drift from the fp32 reference");
    free(pooled);
    lt_tensor_free(g_be, &dpooled);
    lt_safetensors_close(&st);
    lt_bert_free(m);
    lt_backend_set_math(g_be, keep);
}

/* 6b. One masked-LM training run of a small model, in the backend's math: the loss at each step. A
 * made-up language of 4 topics of 12 words each: a sequence draws its topic, then its words from
 * that topic, so a masked word is predictable (to one of 12) from the others and the loss falls
 * smoothly from ln 50 towards ln 12 (no sudden phase of learning for the two runs to cross at
 * different steps). For scale: two fp32 runs that differ only in their dropout seed differ by up to
 * 11 % at some step of this curve; bf16 against fp32 with the same seed stays within 1 %. */
#define CURVE_STEPS 150
static void mlm_curve(lt_math math, float *losses) {
    lt_math keep = lt_backend_math(g_be);
    lt_backend_set_math(g_be, math);
    lt_bert_config c;
    lt_bert_config_init(&c);
    c.vocab = 50, c.hidden = 64, c.layers = 2, c.heads = 4, c.ffn = 128, c.max_pos = 16, c.mlm_head = 1, c.dropout = 0.1f;
    lt_bert *m;
    OK(lt_bert_create(&m, g_be, &c, 11));
    lt_params *ps = lt_bert_params(m);
    lt_rng ri;
    lt_rng_init(&ri, 5, 0);
    for (int i = 0; i < ps->n; i++) /* matrices at std 0.1: BERT's 0.02 sits on a plateau for ~80 steps here */
        if (ps->p[i].value.ndim == 2) OK(lt_param_init_normal(ps, &ps->p[i], &ri, 0.1f));
    enum { B = 16, T = 16, MPS = 3 };
    OK(lt_bert_reserve(m, B, T, B * MPS, 1));
    lt_optim_cfg oc;
    lt_optim_cfg_init(&oc);
    oc.lr = 5e-3f, oc.warmup_steps = 10;
    lt_rng r;
    lt_rng_init(&r, 2024, 0);
    int32_t ids[B * T], lens[B], target[B * MPS];
    int64_t pos[B * MPS];
    for (int step = 1; step <= CURVE_STEPS; step++) {
        for (int b = 0; b < B; b++) {
            int32_t topic = (int32_t)lt_rng_below(&r, 4);
            lens[b] = T;
            for (int t = 0; t < T; t++) ids[b * T + t] = 2 + 12 * topic + (int32_t)lt_rng_below(&r, 12);
            for (int k = 0; k < MPS; k++) { /* three masked positions a sequence: token 1 is [MASK] */
                int t = 1 + (int)lt_rng_below(&r, T - 2);
                pos[b * MPS + k] = b * T + t, target[b * MPS + k] = ids[b * T + t];
            }
            for (int k = 0; k < MPS; k++) ids[pos[b * MPS + k]] = 1;
        }
        float loss, gn;
        OK(lt_bert_forward(m, ids, lens, B, T, 1, 7, (uint64_t)step));
        OK(lt_bert_mlm_loss(m, pos, target, B * MPS, &loss));
        OK(lt_params_zero_grad(lt_bert_params(m)));
        OK(lt_bert_backward(m, NULL, NULL, 1.0f));
        OK(lt_optim_step(lt_bert_params(m), &oc, step, &gn));
        losses[step - 1] = loss;
    }
    /* the GEMM weights (bf16 copies, fused Q/K/V) follow the last optimizer step: a forward now
     * equals one whose GEMM weights were rebuilt by force */
    OK(lt_bert_forward(m, ids, lens, B, T, 0, 0, 0));
    float *now = to_host(lt_bert_pooled(m));
    lt_params_touch(ps);
    OK(lt_bert_forward(m, ids, lens, B, T, 0, 0, 0));
    float *rebuilt = to_host(lt_bert_pooled(m));
    CHECK_MSG(!memcmp(now, rebuilt, sizeof(float) * B * c.hidden),
              "%s: a forward after the optimizer step used stale GEMM weights", lt_math_name(math));
    free(now), free(rebuilt);
    lt_bert_free(m);
    lt_backend_set_math(g_be, keep);
}

static void bf16_curve(void) {
    float f32[CURVE_STEPS], bf16[CURVE_STEPS];
    mlm_curve(LT_MATH_FP32, f32);
    mlm_curve(LT_MATH_BF16, bf16);
    double worst = 0;
    int at = 0;
    for (int i = 0; i < CURVE_STEPS; i++) {
        double d = fabs(bf16[i] - f32[i]) / f32[i];
        if (d > worst) worst = d, at = i + 1;
    }
    double end32 = 0, end16 = 0; /* the last 10 steps' mean */
    for (int i = CURVE_STEPS - 10; i < CURVE_STEPS; i++) end32 += f32[i] / 10, end16 += bf16[i] / 10;
    int learns = end32 < 0.7 * f32[0] && end16 < 0.7 * bf16[0];
    printf("  bf16 activations on %s, %d masked-LM steps: loss %.4f -> %.4f (fp32 %.4f -> %.4f, last 10 steps' mean), "
           "curves within %.2f %% (worst at step %d; <= 3 %%, and not identical) %s\n",
           lt_backend_name(g_be), CURVE_STEPS, bf16[0], end16, f32[0], end32, 100 * worst, at,
           learns && worst <= 0.03 && worst > 0 ? "ok" : "FAIL");
    CHECK_MSG(learns, "masked-LM loss does not fall below 0.7 of its start in %d steps", CURVE_STEPS);
    CHECK_MSG(worst <= 0.03, "bf16 and fp32 loss curves differ by %.2f %% at step %d", 100 * worst, at);
    CHECK_MSG(worst > 0, "the bf16 run gave the fp32 losses bit for bit: it did not run in bf16");
}

int main(void) {
    g_be = lt_backend_cpu();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden/bert", tu_source_dir());
    lt_bert *m;
    batch bt;
    golden(dir, &m, &bt);
    save_reload(m, &bt);
    errors(m, &bt);
    finite_differences();
    pad_no_gradient();
    bf16_golden(dir);
    bf16_curve();
    lt_bert_free(m);
    free(bt.ids), free(bt.lens), free(bt.pos), free(bt.target);
    lt_backend *cuda;
    if (tu_gpu(&cuda) < 0) {
        printf("  golden on cuda: skipped: no CUDA device\n");
    } else {
        g_be = cuda;
        if (!golden(dir, &m, &bt)) {
            save_reload(m, &bt);
            lt_bert_free(m);
            bf16_golden(dir);
            bf16_curve();
        }
        free(bt.ids), free(bt.lens), free(bt.pos), free(bt.target);
        lt_backend_release(cuda);
    }
    return tu_finish("test_bert");
}
