/* Training the long-tail classifier on the trainer (include/longtail/classify.h): the training items in
 * batches of `batch`, in a new random order every epoch (as Keras' fit shuffles), each item's first
 * max_len token ids; the validation AUC logged every epoch; the final weights kept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/classify.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/rng.h"

/* Gather items[0..B) into ids[B, T] (T = the longest, at most max_len; 0 pads) and lens[B]. Returns T. */
static int64_t gather(const lt_token_set *tok, const int32_t *items, int64_t B, int64_t max_len, int32_t *ids,
                      int32_t *lens) {
    int64_t T = 1;
    for (int64_t b = 0; b < B; b++) {
        int64_t l = tok->off[items[b] + 1] - tok->off[items[b]];
        lens[b] = (int32_t)(l < max_len ? l : max_len);
        if (lens[b] > T) T = lens[b];
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(ids + b * T, tok->ids + tok->off[items[b]], sizeof *ids * (size_t)lens[b]);
        for (int64_t k = lens[b]; k < T; k++) ids[b * T + k] = 0;
        if (!lens[b]) lens[b] = 1; /* an item without text: one padding token (ids never empty in shards) */
    }
    return T;
}

int lt_clf_predict(lt_clf *m, const lt_token_set *tok, const int32_t *items, int64_t n, int64_t batch, float *prob) {
    int64_t L = lt_clf_get_config(m)->max_len;
    if (batch < 1) batch = 256;
    int32_t *ids = malloc(sizeof *ids * (size_t)(batch * L)), *lens = malloc(sizeof *lens * (size_t)batch);
    int32_t *all = items ? NULL : malloc(sizeof *all * (size_t)(batch));
    int rc = ids && lens && (items || all) ? 0 : lt_error(LT_ENOMEM, "classify: out of memory");
    for (int64_t i0 = 0; i0 < n && !rc; i0 += batch) {
        int64_t B = n - i0 < batch ? n - i0 : batch;
        const int32_t *it = items ? items + i0 : all;
        for (int64_t b = 0; !items && b < B; b++) all[b] = (int32_t)(i0 + b);
        for (int64_t b = 0; b < B && !rc; b++)
            if (it[b] < 0 || it[b] >= tok->n_items)
                rc = lt_error(LT_ERANGE, "classify: item %d is not in the token shards (%lld items)", it[b],
                              (long long)tok->n_items);
        if (rc) break;
        int64_t T = gather(tok, it, B, L, ids, lens);
        rc = lt_clf_logits(m, ids, lens, B, T, prob + i0);
        for (int64_t b = 0; b < B && !rc; b++) prob[i0 + b] = 1.0f / (1.0f + expf(-prob[i0 + b]));
    }
    free(ids), free(lens), free(all);
    return rc;
}

typedef struct {
    lt_clf *m;
    const lt_token_set *tok;
    const lt_clf_train_opts *o;
    int64_t n_batches;
    int32_t *order, *ids, *lens;  /* this epoch's item order; one batch */
    float *y, *w, *prob;
    float weight[2];               /* per class */
    int64_t epoch, next;           /* the cursor: epoch, batch within it */
} clf_task;

static void shuffle(clf_task *t) {
    memcpy(t->order, t->o->train, sizeof *t->order * (size_t)t->o->n_train);
    lt_rng r;
    lt_rng_init(&r, lt_rng_key(t->o->trainer.seed, 0, LT_SITE_SHUFFLE), (uint64_t)t->epoch);
    lt_rng_shuffle_i32(&r, t->order, (size_t)t->o->n_train);
}

static int micro(void *ctx, const lt_step *s, double *loss, int64_t *examples) {
    clf_task *t = ctx;
    if (t->next == t->n_batches) t->epoch++, t->next = 0, shuffle(t);
    int64_t i0 = t->next++ * t->o->batch, B = t->o->n_train - i0 < t->o->batch ? t->o->n_train - i0 : t->o->batch;
    const int32_t *items = t->order + i0;
    int64_t T = gather(t->tok, items, B, lt_clf_get_config(t->m)->max_len, t->ids, t->lens);
    for (int64_t b = 0; b < B; b++) {
        int tail = t->o->tail[items[b]] != 0;
        t->y[b] = (float)tail, t->w[b] = t->weight[tail];
    }
    *examples = B;
    return lt_clf_train_batch(t->m, t->ids, t->lens, B, T, t->y, t->w, s, loss, NULL);
}

static lt_cursor tell(void *ctx) { return (lt_cursor){((clf_task *)ctx)->epoch, ((clf_task *)ctx)->next}; }
static int seek(void *ctx, lt_cursor c) {
    clf_task *t = ctx;
    t->epoch = c.epoch, t->next = c.batch;
    shuffle(t);
    return 0;
}

static int evaluate(void *ctx, int64_t step, double *metric) {
    clf_task *t = ctx;
    (void)step;
    const lt_clf_train_opts *o = t->o;
    LT_TRY(lt_clf_predict(t->m, t->tok, o->valid, o->n_valid, 256, t->prob));
    uint8_t *lab = malloc((size_t)o->n_valid + 1);
    if (!lab) return lt_error(LT_ENOMEM, "classify: out of memory");
    for (int64_t i = 0; i < o->n_valid; i++) lab[i] = o->tail[o->valid[i]] != 0;
    lt_bin_metrics bm;
    lt_bin_metrics_compute(t->prob, lab, o->n_valid, 0.5, &bm);
    free(lab);
    *metric = isnan(bm.auc) ? 0.5 : bm.auc;
    return 0;
}

void lt_clf_class_weights(const uint8_t *tail, const int32_t *items, int64_t n, int balanced, float w[2]) {
    int64_t n_tail = 0;
    for (int64_t i = 0; i < n; i++) n_tail += tail[items[i]] != 0;
    w[0] = w[1] = 1;
    if (balanced && n_tail && n_tail < n) /* n / (2 n_class), sklearn's and Keras' 'balanced' */
        w[1] = (float)((double)n / (2.0 * (double)n_tail)), w[0] = (float)((double)n / (2.0 * (double)(n - n_tail)));
}

int lt_clf_train(lt_clf *m, const lt_token_set *tok, const lt_clf_train_opts *o) {
    if (o->batch < 1 || o->epochs < 1) return lt_error(LT_ECONFIG, "classify: batch and epochs must be >= 1");
    if (o->n_train < 1) return lt_error(LT_EINVAL, "classify: no training items");
    clf_task t = {.m = m, .tok = tok, .o = o};
    t.n_batches = (o->n_train + o->batch - 1) / o->batch;
    int64_t L = lt_clf_get_config(m)->max_len, n_tail = 0;
    for (int64_t i = 0; i < o->n_train; i++) n_tail += o->tail[o->train[i]] != 0;
    lt_clf_class_weights(o->tail, o->train, o->n_train, o->balanced, t.weight);
    t.order = malloc(sizeof *t.order * (size_t)o->n_train);
    t.ids = malloc(sizeof *t.ids * (size_t)(o->batch * L)), t.lens = malloc(sizeof *t.lens * (size_t)o->batch);
    t.y = malloc(sizeof *t.y * (size_t)o->batch), t.w = malloc(sizeof *t.w * (size_t)o->batch);
    t.prob = malloc(sizeof *t.prob * (size_t)(o->n_valid + 1));
    int rc = t.order && t.ids && t.lens && t.y && t.w && t.prob ? 0 : lt_error(LT_ENOMEM, "classify: out of memory");
    if (!rc) shuffle(&t);
    lt_trainer_cfg tc = o->trainer;
    int64_t accum = tc.accum > 0 ? tc.accum : 1, per_epoch = (t.n_batches + accum - 1) / accum;
    tc.optim.total_steps = o->epochs * per_epoch;
    if (!tc.eval_every) tc.eval_every = per_epoch;
    lt_trainer *tr = NULL;
    if (!rc) rc = lt_trainer_open(&tr, lt_clf_params(m), NULL, &tc);
    lt_task task = {.phase = "train", .ctx = &t, .first_step = 0, .last_step = tc.optim.total_steps, .unit = "items",
                    .micro = micro, .tell = tell, .seek = seek, .evaluate = o->n_valid ? evaluate : NULL,
                    .metric = "valid auc"};
    if (!rc) {
        if (!tc.quiet)
            lt_info("classify: %lld training items (%.1f%% tail) in batches of %lld, %lld epochs (%lld steps), "
                    "%.2fM parameters%s", (long long)o->n_train, 100.0 * (double)n_tail / (double)o->n_train,
                    (long long)o->batch, (long long)o->epochs, (long long)tc.optim.total_steps,
                    (double)lt_params_count(lt_clf_params(m)) / 1e6, o->balanced ? ", classes weighted 'balanced'" : "");
        rc = lt_trainer_run(tr, &task);
        if (rc == LT_TRAIN_EARLY) rc = 0;
    }
    if (tr) {
        int crc = lt_trainer_close(tr);
        if (!rc) rc = crc;
    }
    free(t.order), free(t.ids), free(t.lens), free(t.y), free(t.w), free(t.prob);
    return rc;
}
