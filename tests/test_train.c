/* tests/test_train: parameter lists, the optimizer (clipping, schedule, weight decay only where
 * asked), checkpoints (save/load round trip, resume continues bit for bit, mismatches refused),
 * and embedding shards. */
#include <math.h>

#include "longtail/embeddings.h"
#include "longtail/param.h"
#include "longtail/pretrain.h"
#include "longtail/trainer.h"
#include "testutil.h"

/* A least-squares toy: minimise sum (w x - y)^2 over a fixed data set with the real optimizer. */
static void grad_step(lt_params *ps, const float *x, const float *y, int n) {
    lt_param *w = &ps->p[0], *b = &ps->p[1];
    float *wv = w->value.data, *bv = b->value.data, *wg = w->grad.data, *bg = b->grad.data;
    for (int i = 0; i < n; i++) {
        float e = wv[0] * x[i] + bv[0] - y[i];
        wg[0] += 2 * e * x[i] / (float)n;
        bg[0] += 2 * e / (float)n;
    }
}

static void test_optimizer(const char *dir) {
    lt_backend *cpu = lt_backend_cpu();
    lt_params ps;
    lt_params_init(&ps, cpu);
    int64_t one = 1;
    lt_param *p;
    OK(lt_params_add(&ps, "w", 1, &one, 1, &p));
    OK(lt_params_add(&ps, "b", 1, &one, 0, &p));
    FAILS_WITH(lt_params_add(&ps, "w", 1, &one, 1, &p), LT_EINVAL, "defined twice");
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i / 32.0f - 1.0f, y[i] = 3.0f * x[i] - 0.5f;
    lt_optim_cfg c;
    lt_optim_cfg_init(&c);
    c.lr = 0.05f, c.weight_decay = 0.0f, c.warmup_steps = 10, c.total_steps = 400, c.max_grad_norm = 1.0f;
    CHECK(lt_optim_lr(&c, 5) == 0.025f && lt_optim_lr(&c, 10) == 0.05f && lt_optim_lr(&c, 400) == 0.0f);
    CHECK(fabsf(lt_optim_lr(&c, 205) - 0.025f) < 1e-6f);
    float norm = 0;
    for (int64_t s = 1; s <= 400; s++) {
        OK(lt_params_zero_grad(&ps));
        grad_step(&ps, x, y, 64);
        OK(lt_optim_step(&ps, &c, s, &norm));
        if (s == 150) { /* checkpoint mid-way: a resumed copy must end bit-identical */
            char path[512];
            snprintf(path, sizeof path, "%s/ck.h5", dir);
            lt_train_state st = {.step = s, .rng_seed = 7, .rng_pos = 99, .cursor_epoch = 2, .cursor_batch = 5};
            OK(lt_checkpoint_save(path, &ps, 1, &st, "toy: w x + b"));
        }
    }
    float w = ((float *)ps.p[0].value.data)[0], b = ((float *)ps.p[1].value.data)[0];
    CHECK_MSG(fabsf(w - 3.0f) < 0.02f && fabsf(b + 0.5f) < 0.02f, "fit w=%g b=%g", w, b);

    /* resume from step 150 in a fresh parameter list */
    lt_params q;
    lt_params_init(&q, cpu);
    OK(lt_params_add(&q, "w", 1, &one, 1, &p));
    OK(lt_params_add(&q, "b", 1, &one, 0, &p));
    char path[512], model[64];
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    /* st is read too (which rank of how many loads): an uninitialised one made this test fail at
     * random, refusing the checkpoint for the garbage rank count on the stack */
    lt_train_state st = {.rank = 0, .ranks = 2};
    FAILS_WITH(lt_checkpoint_load(path, &q, 1, &st, model, sizeof model), LT_ECONFIG,
               "written by 1 ranks; resume it with as many (this run has 2)");
    st = (lt_train_state){.rank = 0, .ranks = 1};
    OK(lt_checkpoint_load(path, &q, 1, &st, model, sizeof model));
    CHECK(st.step == 150 && st.rng_seed == 7 && st.rng_pos == 99 && st.cursor_epoch == 2 && st.cursor_batch == 5);
    CHECK(!strcmp(model, "toy: w x + b"));
    for (int64_t s = st.step + 1; s <= 400; s++) {
        OK(lt_params_zero_grad(&q));
        grad_step(&q, x, y, 64);
        OK(lt_optim_step(&q, &c, s, &norm));
    }
    CHECK_MSG(((float *)q.p[0].value.data)[0] == w && ((float *)q.p[1].value.data)[0] == b,
              "resumed run differs: w %.9g vs %.9g", ((float *)q.p[0].value.data)[0], w);

    /* weight decay touches only parameters that ask for it */
    lt_params d;
    lt_params_init(&d, cpu);
    OK(lt_params_add(&d, "decays", 1, &one, 1, &p));
    OK(lt_param_init_const(&d, p, 1.0f));
    OK(lt_params_add(&d, "keeps", 1, &one, 0, &p));
    OK(lt_param_init_const(&d, p, 1.0f));
    lt_optim_cfg_init(&c);
    c.lr = 0.1f, c.weight_decay = 0.5f;
    OK(lt_optim_step(&d, &c, 1, &norm)); /* zero gradients: only decay moves a weight */
    CHECK(fabsf(((float *)d.p[0].value.data)[0] - 0.95f) < 1e-6f && ((float *)d.p[1].value.data)[0] == 1.0f);
    /* a NaN gradient is refused before anything changes */
    ((float *)d.p[0].grad.data)[0] = NAN;
    FAILS_WITH(lt_optim_step(&d, &c, 2, &norm), LT_ERANGE, "step 2");
    CHECK(fabsf(((float *)d.p[0].value.data)[0] - 0.95f) < 1e-6f);

    /* a checkpoint of another shape is refused, naming the tensor and both shapes */
    lt_params e;
    lt_params_init(&e, cpu);
    int64_t two = 2;
    OK(lt_params_add(&e, "w", 1, &two, 1, &p));
    OK(lt_params_add(&e, "b", 1, &one, 0, &p));
    FAILS_WITH(lt_checkpoint_load(path, &e, 0, NULL, NULL, 0), LT_ESHAPE, "params/w is f32[1]@cpu in the checkpoint, the model expects f32[2]");
    lt_params f;
    lt_params_init(&f, cpu);
    OK(lt_params_add(&f, "missing", 1, &one, 1, &p));
    FAILS_WITH(lt_checkpoint_load(path, &f, 0, NULL, NULL, 0), LT_ENOENT, "params/missing");
    lt_params_free(&ps), lt_params_free(&q), lt_params_free(&d), lt_params_free(&e), lt_params_free(&f);
    remove(path);
    printf("  optimizer: fits, schedule, decay, NaN refusal; checkpoint resume is bit-identical\n");
}

/* ---- the slab, the on-device clip and row-wise AdamW ----------------------------------------------- */

static float *fp(const lt_param *p) { return (float *)p->value.data; }

static void test_slab_and_rows(void) {
    lt_backend *cpu = lt_backend_cpu();
    lt_params ps;
    lt_params_init(&ps, cpu);
    int64_t s3[1] = {3}, s23[2] = {2, 3};
    lt_param *p;
    OK(lt_params_add(&ps, "bias", 1, s3, 0, &p));
    OK(lt_params_add(&ps, "w", 2, s23, 1, &p));
    OK(lt_params_add_table(&ps, "items", 6, 4, &p));
    OK(lt_param_init_const(&ps, p, 0.5f)); /* before the layout: the value moves with it */
    OK(lt_params_layout(&ps));
    lt_param *bias = lt_params_find(&ps, "bias"), *w = lt_params_find(&ps, "w"), *items = lt_params_find(&ps, "items");
    /* decayed first, then not decayed, then the tables; 64-float alignment; views into one slab */
    CHECK(w->offset == 0 && bias->offset == 64 && items->offset == 128 && ps.total == 192);
    CHECK(ps.n_decay == 64 && ps.n_dense == 128 && items->table && !items->decay);
    CHECK((float *)w->grad.data == ps.grads && (float *)items->value.data == ps.values + 128);
    CHECK(fp(items)[0] == 0.5f && fp(items)[23] == 0.5f);

    /* row-wise AdamW: rows without gradient keep value, moments and their own step count */
    lt_optim_cfg c;
    lt_optim_cfg_init(&c);
    c.lr = 0.1f, c.max_grad_norm = 0.0f, c.weight_decay = 0.5f;
    float *g = (float *)items->grad.data;
    int touched[2][2] = {{0, 2}, {2, 5}};
    float before[24];
    for (int step = 1; step <= 2; step++) {
        OK(lt_params_zero_grad(&ps));
        memcpy(before, fp(items), sizeof before);
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 4; j++) g[touched[step - 1][k] * 4 + j] = 0.25f * (float)(j + 1);
        float norm;
        OK(lt_optim_step(&ps, &c, step, &norm));
        for (int r = 0; r < 6; r++) {
            int hit = r == touched[step - 1][0] || r == touched[step - 1][1];
            int same = !memcmp(before + r * 4, fp(items) + r * 4, sizeof(float) * 4);
            CHECK_MSG(hit ? !same : same, "step %d row %d: %s", step, r, hit ? "not updated" : "changed without gradient");
        }
    }
    /* row 5, first seen at step 2, moved exactly like a fresh AdamW step 1 (its own bias correction,
     * no decay on tables); row 2, seen twice, like two steps */
    float *bp = (float *)items->bpow.data;
    CHECK(bp[10] == 0.9f && bp[11] == 0.999f && bp[4] == 0.9f * 0.9f && bp[0] == 0.9f && bp[2] == 1.0f);
    lt_params ref;
    lt_params_init(&ref, cpu);
    int64_t s4[1] = {4};
    OK(lt_params_add(&ref, "row", 1, s4, 0, &p));
    OK(lt_param_init_const(&ref, p, 0.5f));
    for (int step = 1; step <= 2; step++) {
        OK(lt_params_zero_grad(&ref));
        for (int j = 0; j < 4; j++) ((float *)ref.p[0].grad.data)[j] = 0.25f * (float)(j + 1);
        float norm;
        OK(lt_optim_step(&ref, &c, step, &norm));
        if (step == 1) CHECK_MSG(!memcmp(fp(&ref.p[0]), fp(items) + 5 * 4, 16), "row 5 differs from a fresh AdamW step");
    }
    CHECK_MSG(!memcmp(fp(&ref.p[0]), fp(items) + 2 * 4, 16), "row 2 differs from two AdamW steps");

    /* the device-side clip equals clipping on the host, and a non-finite norm skips the step */
    lt_params a, b;
    lt_params_init(&a, cpu), lt_params_init(&b, cpu);
    int64_t s5[1] = {5};
    OK(lt_params_add(&a, "x", 1, s5, 1, &p));
    OK(lt_params_add(&b, "x", 1, s5, 1, &p));
    OK(lt_params_layout(&a));
    OK(lt_params_layout(&b));
    float gv[5] = {3, -4, 12, 0.5f, -1};
    memcpy(a.p[0].grad.data, gv, sizeof gv), memcpy(b.p[0].grad.data, gv, sizeof gv);
    c.max_grad_norm = 2.0f;
    float norm;
    OK(lt_optim_step(&a, &c, 1, &norm));
    CHECK(fabsf(norm - sqrtf(9 + 16 + 144 + 0.25f + 1)) < 1e-5f);
    lt_tensor gb = b.p[0].grad, pb = b.p[0].value, mb, vb;
    int64_t n5 = 5;
    OK(lt_tensor_new(&mb, cpu, LT_F32, 1, &n5));
    OK(lt_tensor_new(&vb, cpu, LT_F32, 1, &n5));
    lt_adamw_cfg ac = {.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.eps, .weight_decay = c.weight_decay};
    OK(lt_adamw(cpu, &pb, &gb, &mb, &vb, &ac, 1, 2.0f / norm));
    float worst = 0;
    for (int i = 0; i < 5; i++) worst = fmaxf(worst, fabsf(fp(&a.p[0])[i] - fp(&b.p[0])[i]));
    CHECK_MSG(worst < 1e-6f, "on-device clip differs from the host clip by %g", worst);
    float keep[5];
    memcpy(keep, a.p[0].value.data, sizeof keep);
    ((float *)a.p[0].grad.data)[2] = INFINITY;
    FAILS_WITH(lt_optim_step(&a, &c, 2, &norm), LT_ERANGE, "step 2");
    lt_tensor ss;
    OK(lt_tensor_new(&ss, cpu, LT_F32, 1, (int64_t[]){1}));
    ((float *)ss.data)[0] = NAN;
    OK(lt_optim_apply(&a, &c, 2, 1.0f, &ss)); /* the device-side skip: nothing moves */
    CHECK_MSG(!memcmp(keep, a.p[0].value.data, sizeof keep), "a step with a NaN norm changed the weights");
    lt_tensor_free(cpu, &ss), lt_tensor_free(cpu, &mb), lt_tensor_free(cpu, &vb);

    /* schedules */
    lt_optim_cfg_init(&c);
    c.lr = 1.0f, c.warmup_steps = 10, c.total_steps = 110, c.schedule = LT_SCHED_COSINE;
    CHECK(lt_optim_lr(&c, 5) == 0.5f && lt_optim_lr(&c, 10) == 1.0f);
    CHECK(fabsf(lt_optim_lr(&c, 60) - 0.5f) < 1e-6f && fabsf(lt_optim_lr(&c, 110)) < 1e-6f);
    c.final_lr = 0.1f;
    CHECK(fabsf(lt_optim_lr(&c, 110) - 0.1f) < 1e-6f && fabsf(lt_optim_lr(&c, 60) - 0.55f) < 1e-6f);
    /* keyed randomness: sites and ranks never share a key */
    CHECK(lt_rng_key(1, 0, LT_SITE_DROPOUT) != lt_rng_key(1, 1, LT_SITE_DROPOUT));
    CHECK(lt_rng_key(1, 0, LT_SITE_DROPOUT) != lt_rng_key(1, 0, LT_SITE_MASK));
    CHECK(lt_rng_key(1, 0, LT_SITE_MASK) == lt_rng_key(1, 0, LT_SITE_MASK));
    lt_params_free(&ps), lt_params_free(&ref), lt_params_free(&a), lt_params_free(&b);
    printf("  slab layout, row-wise AdamW (untouched rows exact, per-row bias correction), on-device clip and skip, "
           "cosine schedule, keyed randomness\n");
}

/* The optimizer ops on CUDA against the CPU: the same squared norm, the same clipped and row-wise
 * steps (rows without gradient untouched on both). */
static void test_optim_cuda(void) {
    lt_backend *cpu = lt_backend_cpu(), *gpu;
    if (tu_gpu(&gpu) < 0) {
        printf("  optimizer ops cuda vs cpu: skipped: no CUDA device\n");
        return;
    }
    enum { R = 300, C = 40 };
    int64_t shape[2] = {R, C}, one = 1;
    float *h[5];
    lt_rng r;
    lt_rng_init(&r, 5, 0);
    for (int k = 0; k < 5; k++) {
        h[k] = malloc(sizeof(float) * R * C);
        for (int i = 0; i < R * C; i++) h[k][i] = k == 3 ? fabsf(lt_rng_next_normal(&r)) : lt_rng_next_normal(&r);
    }
    for (int i = 0; i < R; i += 3) memset(h[1] + i * C, 0, sizeof(float) * C); /* rows without gradient */
    lt_backend *be[2] = {cpu, gpu};
    lt_tensor t[2][5], ss[2], bp[2];
    float out[2][4][R * C], bpo[2][2 * R], sso[2];
    lt_adamw_cfg ac = {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < 4; k++) { /* p, g, m, v */
            OK(lt_tensor_new(&t[d][k], be[d], LT_F32, 2, shape));
            lt_tensor hv = lt_view(h[k], LT_F32, LT_CPU, 2, shape);
            OK(lt_tensor_copy(be[d], &t[d][k], &hv));
        }
        OK(lt_tensor_new(&ss[d], be[d], LT_F32, 1, &one));
        OK(lt_tensor_new(&bp[d], be[d], LT_F32, 2, (int64_t[]){R, 2}));
        OK(lt_fill(be[d], &bp[d], 1.0f));
        OK(lt_sumsq_acc(be[d], &ss[d], &t[d][1]));
        OK(lt_adamw_rows(be[d], &t[d][0], &t[d][1], &t[d][2], &t[d][3], &bp[d], &ac, 0.5f, &ss[d], 3.0f));
        OK(lt_adamw_clipped(be[d], &t[d][0], &t[d][1], &t[d][2], &t[d][3], &ac, 3, 0.5f, &ss[d], 3.0f));
        for (int k = 0; k < 4; k++) {
            lt_tensor hv = lt_view(out[d][k], LT_F32, LT_CPU, 2, shape);
            OK(lt_tensor_copy(be[d], &hv, &t[d][k]));
        }
        lt_tensor hb = lt_view(bpo[d], LT_F32, LT_CPU, 2, (int64_t[]){R, 2}), hs = lt_view1(&sso[d], LT_F32, LT_CPU, 1);
        OK(lt_tensor_copy(be[d], &hb, &bp[d]));
        OK(lt_tensor_copy(be[d], &hs, &ss[d]));
    }
    CHECK_MSG(fabsf(sso[0] - sso[1]) <= 1e-6f * sso[0], "sumsq: cpu %.9g cuda %.9g", sso[0], sso[1]);
    double worst = 0;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < R * C; i++) worst = fmax(worst, fabs(out[0][k][i] - out[1][k][i]) / (1e-6 + fabs(out[0][k][i])));
    CHECK_MSG(worst < 1e-5, "adamw_rows + adamw_clipped: cuda vs cpu worst relative error %g", worst);
    CHECK_MSG(!memcmp(bpo[0], bpo[1], sizeof bpo[0]), "row powers differ between cuda and cpu");
    printf("  optimizer ops cuda vs cpu: sumsq %.3g vs %.3g, steps worst rel err %.2g\n", sso[0], sso[1], worst);
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < 4; k++) lt_tensor_free(be[d], &t[d][k]);
        lt_tensor_free(be[d], &ss[d]), lt_tensor_free(be[d], &bp[d]);
    }
    for (int k = 0; k < 5; k++) free(h[k]);
    lt_backend_release(gpu);
}

/* ---- the trainer on a toy model: y = items[id] . w + b, a table and two dense parameters --------- */

enum { TOY_N = 64, TOY_V = 50, TOY_D = 4 };
typedef struct {
    lt_params ps;
    int32_t id[TOY_N];
    float y[TOY_N];
    int64_t batch, epoch, next; /* the cursor: batches of `batch` examples in a shuffled order per epoch */
    int32_t order[TOY_N];
    float dropout;
    int evals;
    double (*metric)(int64_t step);
    float snapshot[TOY_V * TOY_D];
    int64_t snap_step;
} toy;

static void toy_order(toy *t) {
    for (int i = 0; i < TOY_N; i++) t->order[i] = i;
    lt_rng r;
    lt_rng_init(&r, lt_rng_key(3, 0, LT_SITE_SHUFFLE), (uint64_t)t->epoch);
    lt_rng_shuffle_i32(&r, t->order, TOY_N);
}

static void toy_init(toy *t, int64_t batch, float dropout) {
    memset(t, 0, sizeof *t);
    t->batch = batch, t->dropout = dropout;
    lt_rng r;
    lt_rng_init(&r, 11, 0);
    for (int i = 0; i < TOY_N; i++) t->id[i] = (int32_t)lt_rng_below(&r, TOY_V), t->y[i] = lt_rng_next_normal(&r);
    lt_params_init(&t->ps, lt_backend_cpu());
    lt_param *p;
    OK(lt_params_add_table(&t->ps, "items", TOY_V, TOY_D, &p));
    OK(lt_param_init_normal(&t->ps, p, &r, 0.5f));
    OK(lt_params_add(&t->ps, "w", 1, (int64_t[]){TOY_D}, 1, &p));
    OK(lt_param_init_const(&t->ps, p, 0.3f));
    OK(lt_params_add(&t->ps, "b", 1, (int64_t[]){1}, 0, NULL));
    OK(lt_params_layout(&t->ps));
    toy_order(t);
}

static int toy_micro(void *ctx, const lt_step *s, double *loss, int64_t *examples) {
    toy *t = ctx;
    if (t->next + t->batch > TOY_N) t->epoch++, t->next = 0, toy_order(t);
    lt_param *items = &t->ps.p[0], *w = &t->ps.p[1], *b = &t->ps.p[2];
    float *E = items->value.data, *W = w->value.data, *gE = items->grad.data, *gW = w->grad.data, *gb = b->grad.data;
    double sum = 0;
    for (int64_t k = 0; k < t->batch; k++) {
        int i = t->order[t->next + k], id = t->id[i];
        float keep[TOY_D], pred = ((float *)b->value.data)[0];
        for (int j = 0; j < TOY_D; j++) { /* dropout on the item vector, keyed by (seed, rank, step, site) */
            float u = lt_rng_uniform(lt_step_seed(s, LT_SITE_DROPOUT), lt_step_stream(s), (uint64_t)(k * TOY_D + j));
            keep[j] = u >= t->dropout ? 1.0f / (1.0f - t->dropout) : 0.0f;
            pred += E[id * TOY_D + j] * keep[j] * W[j];
        }
        float e = pred - t->y[i];
        sum += (double)e * e;
        float d = 2.0f * e / (float)t->batch;
        for (int j = 0; j < TOY_D; j++) gE[id * TOY_D + j] += d * keep[j] * W[j], gW[j] += d * keep[j] * E[id * TOY_D + j];
        gb[0] += d;
    }
    t->next += t->batch;
    *loss = sum / (double)t->batch, *examples = t->batch;
    return 0;
}
static lt_cursor toy_tell(void *ctx) { return (lt_cursor){((toy *)ctx)->epoch, ((toy *)ctx)->next}; }
static int toy_seek(void *ctx, lt_cursor c) {
    toy *t = ctx;
    t->epoch = c.epoch, t->next = c.batch;
    toy_order(t);
    return 0;
}
static int toy_eval(void *ctx, int64_t step, double *metric) {
    toy *t = ctx;
    *metric = t->metric(step);
    if (step == 12) memcpy(t->snapshot, t->ps.p[0].value.data, sizeof t->snapshot), t->snap_step = step;
    t->evals++;
    return 0;
}
static double peak_at_12(int64_t step) { return -(double)((step - 12) * (step - 12)); }

/* Run the toy for `steps` in `dir`; returns the trainer's result. */
static int toy_run(toy *t, const char *dir, int64_t steps, int64_t accum, int64_t stop_after, int64_t patience) {
    lt_trainer_cfg c;
    lt_trainer_cfg_init(&c);
    c.optim.lr = 0.05f, c.optim.warmup_steps = 3, c.optim.total_steps = steps, c.optim.max_grad_norm = 5.0f;
    c.seed = 3, c.accum = accum, c.log_every = 5, c.ckpt_every = 7, c.stop_after = stop_after, c.quiet = 1;
    c.dir = dir, c.name = "toy", c.model = "toy v1", c.patience = patience, c.eval_every = patience ? 4 : 0;
    lt_trainer *tr;
    OK(lt_trainer_open(&tr, &t->ps, NULL, &c));
    lt_task task = {.phase = "train", .ctx = t, .first_step = 0, .last_step = steps, .micro = toy_micro,
                    .tell = toy_tell, .seek = toy_seek, .evaluate = patience ? toy_eval : NULL, .metric = "score"};
    int rc = lt_trainer_run(tr, &task);
    if (rc == LT_TRAIN_EARLY) OK(lt_trainer_load_best(tr));
    OK(lt_trainer_close(tr));
    return rc;
}

static void rm_toy(const char *dir) {
    const char *files[] = {"toy.ckpt.h5", "toy.best.h5", "toy_log.tsv", "toy_loss.svg"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) snprintf(path, sizeof path, "%s/%s", dir, files[i]), remove(path);
}

static void test_trainer(const char *dir) {
    /* 40 steps straight = 20 steps, a stop, a resume and 20 more: identical weights and moments */
    toy a, b;
    toy_init(&a, 8, 0.25f);
    rm_toy(dir);
    CHECK(toy_run(&a, dir, 40, 1, 0, 0) == 0);
    rm_toy(dir);
    toy_init(&b, 8, 0.25f);
    CHECK(toy_run(&b, dir, 40, 1, 20, 0) == LT_TRAIN_STOPPED);
    lt_params_free(&b.ps);
    toy_init(&b, 8, 0.25f); /* a new process: fresh weights, everything else from the checkpoint */
    CHECK(toy_run(&b, dir, 40, 1, 0, 0) == 0);
    CHECK_MSG(!memcmp(a.ps.values, b.ps.values, sizeof(float) * (size_t)a.ps.total) &&
                  !memcmp(a.ps.moments, b.ps.moments, sizeof(float) * (size_t)(2 * a.ps.total)),
              "a resumed run differs from the straight one");
    CHECK_MSG(!memcmp(a.ps.p[0].bpow.data, b.ps.p[0].bpow.data, sizeof(float) * 2 * TOY_V), "row step counts differ");
    /* the loss log of the resumed run has each step once, and the loss fell */
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/toy_log.tsv", dir);
    FILE *f = fopen(path, "r");
    int lines = 0;
    double first = 0, last = 0;
    while (f && fgets(line, sizeof line, f)) {
        long long step;
        double loss;
        if (sscanf(line, "train %lld %lf", &step, &loss) == 2) last = loss, first = lines++ ? first : loss;
    }
    if (f) fclose(f);
    CHECK_MSG(lines == 8 && last < 0.85 * first, "log: %d lines, loss %g -> %g", lines, first, last);
    /* a checkpoint of another model is refused */
    lt_trainer_cfg c;
    lt_trainer_cfg_init(&c);
    c.dir = dir, c.name = "toy", c.model = "toy v2", c.quiet = 1;
    lt_trainer *tr;
    FAILS_WITH(lt_trainer_open(&tr, &b.ps, NULL, &c), LT_ECONFIG, "another model");
    lt_params_free(&a.ps), lt_params_free(&b.ps);

    /* gradient accumulation: 2 micro-batches of 4 step like 1 batch of 8 */
    rm_toy(dir);
    toy_init(&a, 8, 0.0f);
    CHECK(toy_run(&a, dir, 16, 1, 0, 0) == 0);
    rm_toy(dir);
    toy_init(&b, 4, 0.0f);
    CHECK(toy_run(&b, dir, 16, 2, 0, 0) == 0);
    float worst = 0;
    for (int64_t i = 0; i < a.ps.total; i++) worst = fmaxf(worst, fabsf(a.ps.values[i] - b.ps.values[i]));
    CHECK_MSG(worst < 1e-5f, "accumulated micro-batches differ from one batch by %g", worst);
    lt_params_free(&a.ps), lt_params_free(&b.ps);

    /* early stopping: the metric peaks at step 12, evaluated every 4 steps, patience 2: stops at step
     * 20 and hands back the weights of step 12 */
    rm_toy(dir);
    toy_init(&a, 8, 0.0f);
    a.metric = peak_at_12;
    CHECK(toy_run(&a, dir, 100, 1, 0, 2) == LT_TRAIN_EARLY);
    CHECK_MSG(a.evals == 5 && a.snap_step == 12, "evaluations %d", a.evals);
    CHECK_MSG(!memcmp(a.snapshot, a.ps.p[0].value.data, sizeof a.snapshot), "the best weights were not restored");
    lt_params_free(&a.ps);
    rm_toy(dir);
    printf("  trainer: resume is bit-identical (weights, moments, row counts, log), accumulation = one big batch, "
           "early stopping keeps the best weights, another model's checkpoint refused\n");
}

static void test_embeddings(const char *dir) {
    float data[2][10 * 8];
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 80; i++) data[s][i] = (float)(s * 80 + i) * 0.25f - 3.0f;
    for (int s = 0; s < 2; s++) {
        lt_emb_shard e = {.item_begin = s * 10, .n = 10, .n_total = 20, .shard_index = s, .shard_count = 2, .dim = 8,
                          .normalized = 0, .data = data[s]};
        char path[512];
        lt_emb_shard_path(path, sizeof path, dir, s);
        OK(lt_emb_shard_write(path, &e, s ? LT_BF16 : LT_F32, "test"));
    }
    float *all;
    int64_t n, d;
    OK(lt_emb_load_all(dir, &all, &n, &d));
    CHECK(n == 20 && d == 8);
    int exact = 1;
    for (int i = 0; i < 80; i++) exact &= all[i] == data[0][i] && all[80 + i] == data[1][i]; /* quarters are exact in bf16 */
    CHECK_MSG(exact, "embedding shards did not round-trip (f32 and bf16)");
    free(all);
    char path[512];
    lt_emb_shard_path(path, sizeof path, dir, 1);
    remove(path);
    FAILS_WITH(lt_emb_load_all(dir, &all, &n, &d), LT_EFORMAT, "emb-00001.h5 is missing");
    lt_emb_shard_path(path, sizeof path, dir, 0);
    remove(path);
    printf("  embedding shards: f32 and bf16 round trip, incomplete sets refused\n");
}

static void test_mlm_and_pairs(void) {
    lt_mlm_opts o = {.p = 0.15f, .mask_id = 4, .vocab = 1000, .first_normal = 5, .cls_id = 2, .sep_id = 3, .pad_id = 0};
    int64_t B = 400, T = 40;
    int32_t *ids = malloc(sizeof *ids * (size_t)(B * T)), *orig = malloc(sizeof *orig * (size_t)(B * T));
    int32_t *lens = malloc(sizeof *lens * (size_t)B), *target = malloc(sizeof *target * (size_t)(B * T));
    int64_t *pos = malloc(sizeof *pos * (size_t)(B * T));
    int64_t real = 0;
    for (int64_t b = 0; b < B; b++) {
        lens[b] = (int32_t)(3 + b % 38);
        for (int64_t t = 0; t < T; t++)
            ids[b * T + t] = t == 0 ? 2 : t == lens[b] - 1 ? 3 : t >= lens[b] ? 0 : (int32_t)(5 + (b * 31 + t * 7) % 995);
        real += lens[b] - 2;
    }
    memcpy(orig, ids, sizeof *ids * (size_t)(B * T));
    int64_t n = lt_mlm_mask(&o, 11, 3, ids, lens, B, T, pos, target);
    double frac = (double)n / (double)real;
    CHECK_MSG(frac > 0.14 && frac < 0.17, "masked %.3f of pieces, expected ~0.15", frac);
    int64_t to_mask = 0, kept = 0, special_hit = 0, wrong_target = 0, per_row_zero = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = pos[i];
        if (orig[p] == 2 || orig[p] == 3 || orig[p] == 0) special_hit++;
        if (target[i] != orig[p]) wrong_target++;
        to_mask += ids[p] == 4;
        kept += ids[p] == orig[p];
    }
    for (int64_t b = 0; b < B; b++) {
        int any = 0;
        for (int64_t i = 0; i < n; i++) any |= pos[i] / T == b;
        per_row_zero += !any;
    }
    CHECK(special_hit == 0 && wrong_target == 0 && per_row_zero == 0);
    CHECK_MSG(fabs((double)to_mask / (double)n - 0.8) < 0.04 && fabs((double)kept / (double)n - 0.1) < 0.03,
              "80/10/10 split off: mask %.3f kept %.3f", (double)to_mask / (double)n, (double)kept / (double)n);
    /* unchosen positions are untouched, and the same (seed, step) masks the same way */
    int64_t changed = 0;
    for (int64_t i = 0; i < B * T; i++) changed += ids[i] != orig[i];
    CHECK(changed <= n);
    int32_t *again = malloc(sizeof *again * (size_t)(B * T));
    memcpy(again, orig, sizeof *again * (size_t)(B * T));
    CHECK(lt_mlm_mask(&o, 11, 3, again, lens, B, T, pos, target) == n && !memcmp(again, ids, sizeof *ids * (size_t)(B * T)));
    memcpy(again, orig, sizeof *again * (size_t)(B * T));
    lt_mlm_mask(&o, 11, 4, again, lens, B, T, pos, target);
    CHECK(memcmp(again, ids, sizeof *ids * (size_t)(B * T)) != 0);
    free(ids), free(orig), free(lens), free(target), free(pos), free(again);

    /* pairs: neighbours in histories, unordered, each once */
    int64_t off[4] = {0, 4, 7, 9};
    int32_t item[9] = {5, 1, 5, 1, 2, 2, 3, 1, 5};
    lt_events e = {.n_users = 3, .n_items = 6, .n_events = 9, .user_off = off, .item = item};
    lt_pairs pr;
    OK(lt_pairs_from_events(&e, 0, 0, &pr));
    /* (1,5) from users 0 and 2, (2,3) from user 1; (2,2) is not a pair */
    CHECK_MSG(pr.n == 2 && pr.a[0] == 1 && pr.b[0] == 5 && pr.a[1] == 2 && pr.b[1] == 3, "pairs n=%lld", (long long)pr.n);
    lt_pairs_free(&pr);
    /* holding out the last event of each history drops (2,3) (user 1 ends 2,3) and user 2's (1,5),
     * but user 0 still has 5,1,5 */
    OK(lt_pairs_from_events(&e, 1, 0, &pr));
    CHECK_MSG(pr.n == 1 && pr.a[0] == 1 && pr.b[0] == 5, "pairs with hold-out: n=%lld", (long long)pr.n);
    lt_pairs_free(&pr);
    printf("  masked-LM masking (15%%, 80/10/10, deterministic) and co-interaction pairs\n");
}

int main(void) {
    char dir[] = "/tmp/lt_train_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_optimizer(dir);
    test_slab_and_rows();
    test_optim_cuda();
    test_trainer(dir);
    test_embeddings(dir);
    test_mlm_and_pairs();
    rmdir(dir);
    return tu_finish("test_train");
}
