/* Training the recommender on the trainer (include/longtail/recmodel.h): users' training portions
 * in batches of similar length (less padding), the batch order shuffled every epoch, validation
 * NDCG@10 each epoch with early stopping on it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/recmodel.h"
#include "longtail/rng.h"

typedef struct {
    lt_rec *m;
    const lt_rec_split *s;
    const lt_rec_train_opts *o;
    int64_t n_users, n_batches, T;   /* training users (>= 2 items), batches per epoch, items per row */
    int32_t *users;                  /* sorted by length */
    int64_t *bstart;                 /* [n_batches + 1] into users */
    int32_t *order;                  /* this epoch's batch order */
    int32_t *items, *lens;           /* one batch, [batch, T] */
    int32_t *eval_users;
    int64_t n_eval;
    int64_t epoch, next;             /* the cursor */
    int rank, ranks;                 /* this rank's share of each global batch */
} rec_task;

static const lt_rec_split *sort_split;
static int by_len(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int64_t lx = sort_split->off[x + 1] - sort_split->off[x], ly = sort_split->off[y + 1] - sort_split->off[y];
    return lx != ly ? (lx < ly ? -1 : 1) : (x < y ? -1 : x > y);
}

static void shuffle_batches(rec_task *t) {
    for (int64_t i = 0; i < t->n_batches; i++) t->order[i] = (int32_t)i;
    lt_rng r;
    lt_rng_init(&r, lt_rng_key(t->o->trainer.seed, 0, LT_SITE_SHUFFLE), (uint64_t)t->epoch);
    lt_rng_shuffle_i32(&r, t->order, (size_t)t->n_batches);
}

static int micro(void *ctx, const lt_step *s, double *loss, int64_t *examples) {
    rec_task *t = ctx;
    if (t->next == t->n_batches) t->epoch++, t->next = 0, shuffle_batches(t);
    /* a global batch of batch x ranks users; this rank takes its contiguous share of it, so the
     * ranks together see exactly what one rank with the whole batch would */
    int64_t bi = t->order[t->next++], g0 = t->bstart[bi], n = t->bstart[bi + 1] - g0, T = 2;
    int64_t u0 = g0 + n * t->rank / t->ranks, B = g0 + n * (t->rank + 1) / t->ranks - u0;
    const lt_rec_split *sp = t->s;
    for (int64_t i = 0; i < B; i++) { /* the last max_len + 1 items of each training portion */
        int32_t u = t->users[u0 + i];
        int64_t n = sp->off[u + 1] - sp->off[u], l = n < t->T ? n : t->T;
        if (l > T) T = l;
    }
    for (int64_t i = 0; i < B; i++) {
        int32_t u = t->users[u0 + i];
        int64_t n = sp->off[u + 1] - sp->off[u], l = n < T ? n : T;
        t->lens[i] = (int32_t)l;
        memcpy(t->items + i * T, sp->seq + sp->off[u + 1] - l, sizeof *t->items * (size_t)l);
        for (int64_t k = l; k < T; k++) t->items[i * T + k] = 0;
    }
    *examples = B;
    return lt_rec_train_batch(t->m, t->items, t->lens, B, T, s, loss);
}

static lt_cursor tell(void *ctx) { return (lt_cursor){((rec_task *)ctx)->epoch, ((rec_task *)ctx)->next}; }
static int seek(void *ctx, lt_cursor c) {
    rec_task *t = ctx;
    t->epoch = c.epoch, t->next = c.batch;
    shuffle_batches(t);
    return 0;
}

/* Validation NDCG@10 (a fixed sample of users when eval_users is set). */
static int evaluate(void *ctx, int64_t step, double *metric) {
    rec_task *t = ctx;
    (void)step;
    lt_rec_model m = lt_rec_as_model(t->m, "rec");
    lt_rec_metrics r;
    if (t->n_eval) { /* a split that holds only the sampled users' targets */
        lt_rec_split sub = *t->s;
        int32_t *valid = malloc(sizeof *valid * (size_t)t->s->n_users);
        if (!valid) return lt_error(LT_ENOMEM, "rec: out of memory");
        for (int64_t u = 0; u < t->s->n_users; u++) valid[u] = -1;
        for (int64_t i = 0; i < t->n_eval; i++) valid[t->eval_users[i]] = t->s->valid[t->eval_users[i]];
        sub.valid = valid;
        int rc = lt_rec_evaluate(&sub, LT_REC_VALID, &m, 256, &r);
        free(valid);
        LT_TRY(rc);
    } else {
        LT_TRY(lt_rec_evaluate(t->s, LT_REC_VALID, &m, 256, &r));
    }
    *metric = r.ndcg10;
    return 0;
}

int lt_rec_tune_cold_boost(lt_rec *m, const lt_rec_split *s, double tolerance, double *gamma) {
    static const double grid[] = {0.25, 0.5, 1, 1.5, 2, 3};
    int64_t N = s->n_items, never = 0, cases = 0;
    *gamma = 0;
    for (int64_t i = 0; i < N; i++) never += !s->freq[i];
    for (int64_t u = 0; u < s->n_users; u++) cases += s->valid[u] >= 0 && !s->freq[s->valid[u]];
    if (!never || !cases || tolerance <= 0) return 0;
    float *bias = malloc(sizeof *bias * (size_t)N);
    if (!bias) return lt_error(LT_ENOMEM, "rec: out of memory");
    lt_rec_model rm = lt_rec_as_model(m, "rec");
    lt_rec_metrics r0, r;
    int rc = lt_rec_set_score_bias(m, NULL);
    if (!rc) rc = lt_rec_evaluate(s, LT_REC_VALID, &rm, 256, &r0);
    char cr[64] = "";
    if (!rc && r0.cold_cases) snprintf(cr, sizeof cr, ", cold recall@20 %.4f", r0.cold_recall20);
    if (!rc) lt_info("train: new-item boost on validation (%lld items never trained on, %lld validation targets among "
                     "them): gamma 0: ndcg@10 %.4f%s", (long long)never, (long long)cases, r0.ndcg10, cr);
    for (size_t k = 0; k < sizeof grid / sizeof *grid && !rc; k++) {
        for (int64_t i = 0; i < N; i++) bias[i] = s->freq[i] ? 0.0f : (float)grid[k];
        rc = lt_rec_set_score_bias(m, bias);
        if (!rc) rc = lt_rec_evaluate(s, LT_REC_VALID, &rm, 256, &r);
        if (rc) break;
        int ok = r.ndcg10 >= (1.0 - tolerance) * r0.ndcg10;
        if (r.cold_cases) snprintf(cr, sizeof cr, ", cold recall@20 %.4f", r.cold_recall20);
        lt_info("train: new-item boost gamma %g: ndcg@10 %.4f%s%s", grid[k], r.ndcg10, cr,
                ok ? "" : " (beyond the tolerance: stop)");
        if (!ok) break;
        *gamma = grid[k];
    }
    free(bias);
    int rc2 = lt_rec_set_score_bias(m, NULL);
    return rc ? rc : rc2;
}

int lt_rec_train(lt_rec *m, const lt_rec_split *s, const lt_rec_train_opts *o) {
    lt_comm *comm = o->comm ? o->comm : lt_comm_single();
    rec_task t = {.m = m, .s = s, .o = o, .T = lt_rec_get_config(m)->max_len + 1, .rank = comm->rank, .ranks = comm->size};
    if (o->batch < 1 || o->epochs < 1) return lt_error(LT_ECONFIG, "train: batch and epochs must be >= 1");
    int64_t gbatch = o->batch * t.ranks; /* the global batch */
    t.users = malloc(sizeof *t.users * (size_t)(s->n_users + 1));
    int rc = t.users ? 0 : lt_error(LT_ENOMEM, "train: out of memory");
    for (int64_t u = 0; u < s->n_users && !rc; u++)
        if (s->off[u + 1] - s->off[u] >= 2) t.users[t.n_users++] = (int32_t)u;
    if (!rc && !t.n_users) rc = lt_error(LT_EFORMAT, "train: no user has 2 training items (histories too short?)");
    if (!rc) {
        sort_split = s;
        qsort(t.users, (size_t)t.n_users, sizeof *t.users, by_len);
        t.n_batches = (t.n_users + gbatch - 1) / gbatch;
        t.bstart = malloc(sizeof *t.bstart * (size_t)(t.n_batches + 1));
        t.order = malloc(sizeof *t.order * (size_t)t.n_batches);
        t.items = malloc(sizeof *t.items * (size_t)(o->batch * t.T)), t.lens = malloc(sizeof *t.lens * (size_t)o->batch);
        if (!t.bstart || !t.order || !t.items || !t.lens) rc = lt_error(LT_ENOMEM, "train: out of memory");
    }
    if (!rc) {
        for (int64_t b = 0; b <= t.n_batches; b++) t.bstart[b] = b * gbatch < t.n_users ? b * gbatch : t.n_users;
        shuffle_batches(&t);
        int64_t with_valid = 0;
        for (int64_t u = 0; u < s->n_users; u++) with_valid += s->valid[u] >= 0;
        if (o->eval_users > 0 && o->eval_users < with_valid) { /* a fixed random sample */
            int32_t *all = malloc(sizeof *all * (size_t)with_valid);
            t.eval_users = all;
            if (!all) rc = lt_error(LT_ENOMEM, "train: out of memory");
            for (int64_t u = 0, k = 0; u < s->n_users && all; u++)
                if (s->valid[u] >= 0) all[k++] = (int32_t)u;
            if (all) {
                lt_rng r;
                lt_rng_init(&r, lt_rng_key(o->trainer.seed, 0, LT_SITE_SHUFFLE), 0xe7a1);
                lt_rng_shuffle_i32(&r, all, (size_t)with_valid);
                t.n_eval = o->eval_users;
            }
        }
    }
    lt_trainer_cfg tc = o->trainer;
    int64_t accum = tc.accum > 0 ? tc.accum : 1, per_epoch = (t.n_batches + accum - 1) / accum; /* optimizer steps */
    tc.optim.total_steps = o->epochs * per_epoch;
    if (!tc.eval_every) tc.eval_every = per_epoch;
    lt_trainer *tr = NULL;
    if (!rc) rc = lt_trainer_open(&tr, lt_rec_params(m), comm, &tc);
    lt_task task = {.phase = "train", .ctx = &t, .first_step = 0, .last_step = tc.optim.total_steps, .unit = "users",
                    .micro = micro, .tell = tell, .seek = seek, .evaluate = evaluate, .metric = "valid ndcg@10"};
    if (!rc) {
        if (!tc.quiet && t.rank == 0)
            lt_info("train: %lld users in %lld batches of <= %lld (%d rank%s x %lld), %lld epochs (%lld steps), %.2fM "
                    "parameters", (long long)t.n_users, (long long)t.n_batches, (long long)gbatch, t.ranks,
                    t.ranks > 1 ? "s" : "", (long long)o->batch, (long long)o->epochs,
                    (long long)tc.optim.total_steps, (double)lt_params_count(lt_rec_params(m)) / 1e6);
        rc = lt_trainer_run(tr, &task);
        if (rc == LT_TRAIN_EARLY) rc = 0;
        if (rc == 0) rc = lt_trainer_load_best(tr);
    }
    if (tr) {
        int crc = lt_trainer_close(tr);
        if (!rc) rc = crc;
    }
    free(t.users), free(t.bstart), free(t.order), free(t.items), free(t.lens), free(t.eval_users);
    return rc;
}
