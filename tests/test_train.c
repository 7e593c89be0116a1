/* tests/test_train: parameter lists, the optimizer (clipping, schedule, weight decay only where
 * asked), checkpoints (save/load round trip, resume continues bit for bit, mismatches refused),
 * and embedding shards. */
#include <math.h>

#include "longtail/embeddings.h"
#include "longtail/param.h"
#include "longtail/pretrain.h"
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
    lt_train_state st;
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
    test_embeddings(dir);
    test_mlm_and_pairs();
    rmdir(dir);
    return tu_finish("test_train");
}
