/* The encoder's pretraining on the trainer (include/longtail/pretrain.h):
 *
 *  1. masked-LM on the catalog's token shards: 15 % of the word pieces hidden (80/10/10), AdamW with
 *     linear warm-up and decay, gradient clipping;
 *  2. optionally, contrastive fine-tuning on co-interactions: items next to each other in a user's
 *     history are pulled together, the other items of the batch pushed apart (in-batch negatives,
 *     a symmetric InfoNCE loss on the L2-normalised pooled embeddings), so that embeddings carry
 *     behaviour as well as words.
 *
 * Each phase is a task (one micro-batch forward + backward); the trainer runs the steps, the
 * optimizer, the logs and the checkpoints. Masks, pairs and dropout are keyed by (seed, rank,
 * step, site), so a resumed run draws exactly what the original would have. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "longtail/bert.h"
#include "longtail/error.h"
#include "longtail/loader.h"
#include "longtail/log.h"
#include "longtail/pretrain.h"
#include "longtail/rec.h"
#include "longtail/tokens.h"
#include "longtail/trainer.h"
#include "longtail/vocab_bind.h"

typedef struct {
    const lt_pretrain_opts *o;
    lt_backend *be;
    lt_bert *m;
    lt_mlm_opts mlm;
    int64_t max_len, max_masked;
    /* masked-LM */
    lt_loader *ld;
    int64_t *pos;
    int32_t *target;
    /* contrastive */
    lt_pairs pairs;
    int32_t *tok_ids, *ids, *lens;
    int64_t *tok_off, n_items;
    float *hloss;
    lt_tensor S, dS, loss, lse, tgt, dl, dpool;
} pretrain;

/* ---- phase 1: masked-LM ------------------------------------------------------------------------ */

static int mlm_micro(void *ctx, const lt_step *s, double *loss_out, int64_t *examples) {
    pretrain *r = ctx;
    lt_batch *b;
    int got;
    while ((got = lt_loader_next(r->ld, &b)) == 0) { /* end of an epoch: go on with the next */
    }
    if (got < 0) return got;
    /* masks keyed by the row's place in the global batch (not by the rank), so W ranks with batch
     * B mask what one rank with batch B W masks */
    int64_t n = lt_mlm_mask_rows(&r->mlm, lt_rng_key(s->seed, 0, LT_SITE_MASK), lt_step_stream(s),
                                 (int64_t)s->rank * r->o->batch, b->ids, b->len, b->n, b->width, r->pos, r->target);
    if (n > r->max_masked) { /* rare: more than reserved; unmask the extras, so input and loss agree */
        for (int64_t i = r->max_masked; i < n; i++) b->ids[r->pos[i]] = r->target[i];
        n = r->max_masked;
    }
    float loss = 0;
    LT_TRY(lt_bert_forward(r->m, b->ids, b->len, b->n, b->width, 1, lt_step_seed(s, LT_SITE_DROPOUT), lt_step_stream(s)));
    LT_TRY(lt_bert_mlm_loss(r->m, r->pos, r->target, n, &loss));
    /* the mean over every rank's masked pieces: this rank's mean x ranks x n / (all of them) */
    int64_t all = n;
    LT_TRY(lt_step_sum_i64(s, &all));
    float scale = all > 0 ? (float)s->ranks * (float)n / (float)all : 0.0f;
    LT_TRY(lt_bert_backward(r->m, NULL, NULL, scale));
    *loss_out = loss * scale, *examples = b->n;
    return 0;
}

static lt_cursor mlm_tell(void *ctx) { return lt_loader_tell(((pretrain *)ctx)->ld); }
static int mlm_seek(void *ctx, lt_cursor c) { return lt_loader_seek(((pretrain *)ctx)->ld, c); }

static int mlm_open(pretrain *r) {
    lt_loader_opts lo;
    lt_loader_opts_init(&lo);
    lt_comm *comm = r->o->comm ? r->o->comm : lt_comm_single();
    lo.batch = r->o->batch, lo.shuffle = 1, lo.seed = lt_rng_key((uint64_t)r->o->seed, 0, LT_SITE_SHUFFLE);
    lo.pad_id = r->mlm.pad_id, lo.rank = comm->rank, lo.world = comm->size, lo.stripe = 1;
    lo.drop_last = comm->size > 1; /* no rank gets an empty share of a short last batch */
    LT_TRY(lt_token_loader_open(&r->ld, r->o->data, &lo));
    if (lt_loader_batches(r->ld) == 0)
        return lt_error(LT_ECONFIG, "pretrain: %s holds fewer items than one global batch (%lld x %d ranks)",
                        r->o->data, (long long)r->o->batch, comm->size);
    r->pos = malloc(sizeof *r->pos * (size_t)(r->o->batch * r->max_len));
    r->target = malloc(sizeof *r->target * (size_t)(r->o->batch * r->max_len));
    return r->pos && r->target ? 0 : lt_error(LT_ENOMEM, "pretrain: out of memory");
}

/* ---- phase 2: co-interaction contrastive fine-tuning -------------------------------------------- */

/* Every item's token ids in memory (the contrastive phase samples items anywhere in the catalog). */
static int load_all_tokens(pretrain *r) {
    lt_token_set t;
    LT_TRY(lt_token_set_load(r->o->data, &t));
    r->tok_ids = t.ids, r->tok_off = t.off, r->n_items = t.n_items;
    return 0;
}

/* Cold-start evaluation holds items out of every training portion: their co-interactions must not
 * teach the encoder either (their text still goes through masked-LM, as a new product's would). */
static int drop_cold_pairs(pretrain *r, int64_t n_items) {
    lt_catalog cat = {0};
    uint8_t *cold = NULL;
    int rc = lt_catalog_load(&cat, r->o->data);
    if (!rc) rc = lt_rec_cold_items(r->o->cold_items, &cat.item_id, n_items, (uint64_t)r->o->seed, &cold);
    int64_t kept = 0, n = r->pairs.n;
    for (int64_t k = 0; k < n && !rc; k++)
        if (!cold[r->pairs.a[k]] && !cold[r->pairs.b[k]])
            r->pairs.a[kept] = r->pairs.a[k], r->pairs.b[kept] = r->pairs.b[k], kept++;
    if (!rc) r->pairs.n = kept, lt_info("pretrain: %lld of %lld co-interaction pairs kept (cold items: %s)",
                                            (long long)kept, (long long)n, r->o->cold_items);
    lt_catalog_free(&cat), free(cold);
    return rc;
}

static int contrastive_open(pretrain *r) {
    char ev_path[4096];
    if (r->o->events) snprintf(ev_path, sizeof ev_path, "%s", r->o->events);
    else snprintf(ev_path, sizeof ev_path, "%s/events.h5", r->o->data);
    lt_events ev;
    LT_TRY(lt_events_load(&ev, ev_path));
    int rc = lt_pairs_from_events(&ev, r->o->holdout, 0, &r->pairs);
    if (!rc && r->o->cold_items) rc = drop_cold_pairs(r, ev.n_items);
    if (!rc) rc = load_all_tokens(r);
    if (!rc && r->n_items != ev.n_items)
        rc = lt_error(LT_EFORMAT, "%s has %lld items but the token shards hold %lld", ev_path, (long long)ev.n_items,
                      (long long)r->n_items);
    if (!rc && r->pairs.n < 2) rc = lt_error(LT_EFORMAT, "%s: fewer than 2 co-interaction pairs", ev_path);
    lt_events_free(&ev);
    LT_TRY(rc);
    int64_t P = r->o->pair_batch, H = lt_bert_get_config(r->m)->hidden, T = r->max_len;
    r->ids = malloc(sizeof *r->ids * (size_t)(2 * P * T)), r->lens = malloc(sizeof *r->lens * (size_t)(2 * P));
    r->hloss = malloc(sizeof *r->hloss * (size_t)P);
    int32_t *diag = malloc(sizeof *diag * (size_t)P);
    float *ones = malloc(sizeof *ones * (size_t)P);
    if (!r->ids || !r->lens || !r->hloss || !diag || !ones) rc = lt_error(LT_ENOMEM, "pretrain: out of memory");
    for (int64_t i = 0; !rc && i < P; i++) diag[i] = (int32_t)i, ones[i] = 1.0f / (float)P;
    /* device buffers: similarities, their gradients, the cross-entropy's bookkeeping, d(pooled) */
    int64_t pp[2] = {P, P}, p1[1] = {P}, ph[2] = {2 * P, H};
    if (!rc) rc = lt_tensor_new(&r->S, r->be, LT_F32, 2, pp);
    if (!rc) rc = lt_tensor_new(&r->dS, r->be, LT_F32, 2, pp);
    if (!rc) rc = lt_tensor_new(&r->loss, r->be, LT_F32, 1, p1);
    if (!rc) rc = lt_tensor_new(&r->lse, r->be, LT_F32, 1, p1);
    if (!rc) rc = lt_tensor_new(&r->tgt, r->be, LT_I32, 1, p1);
    if (!rc) rc = lt_tensor_new(&r->dl, r->be, LT_F32, 1, p1);
    if (!rc) rc = lt_tensor_new(&r->dpool, r->be, LT_F32, 2, ph);
    lt_tensor hd = lt_view1(diag, LT_I32, LT_CPU, P), ho = lt_view1(ones, LT_F32, LT_CPU, P);
    if (!rc) rc = lt_tensor_copy(r->be, &r->tgt, &hd);
    if (!rc) rc = lt_tensor_copy(r->be, &r->dl, &ho);
    if (!rc) rc = lt_bert_reserve(r->m, 2 * P, T, 0, 1);
    free(diag), free(ones);
    return rc;
}

static int contrastive_micro(void *ctx, const lt_step *s, double *loss_out, int64_t *examples) {
    pretrain *r = ctx;
    int64_t P = r->o->pair_batch, H = lt_bert_get_config(r->m)->hidden, width = 1;
    float inv_t = (float)(1.0 / r->o->temperature);
    lt_rng rng; /* the pairs of a step depend on (seed, rank, step) only */
    lt_rng_init(&rng, lt_step_seed(s, LT_SITE_PAIRS), lt_step_stream(s));
    for (int64_t i = 0; i < P; i++) {
        int64_t k = (int64_t)lt_rng_below(&rng, (uint64_t)r->pairs.n);
        int32_t item[2] = {r->pairs.a[k], r->pairs.b[k]};
        for (int side = 0; side < 2; side++) {
            int64_t row = side * P + i, len = r->tok_off[item[side] + 1] - r->tok_off[item[side]];
            r->lens[row] = (int32_t)len;
            if (len > width) width = len;
        }
    }
    lt_rng_init(&rng, lt_step_seed(s, LT_SITE_PAIRS), lt_step_stream(s));
    for (int64_t i = 0; i < P; i++) {
        int64_t k = (int64_t)lt_rng_below(&rng, (uint64_t)r->pairs.n);
        int32_t item[2] = {r->pairs.a[k], r->pairs.b[k]};
        for (int side = 0; side < 2; side++) {
            int64_t row = side * P + i, len = r->lens[row];
            memcpy(r->ids + row * width, r->tok_ids + r->tok_off[item[side]], sizeof *r->ids * (size_t)len);
            for (int64_t t = len; t < width; t++) r->ids[row * width + t] = r->mlm.pad_id;
        }
    }
    LT_TRY(lt_bert_forward(r->m, r->ids, r->lens, 2 * P, width, 1, lt_step_seed(s, LT_SITE_DROPOUT), lt_step_stream(s)));
    const lt_tensor *pooled = lt_bert_pooled(r->m);
    /* A = pooled[0:P], B = pooled[P:2P]; loss = (xent(A B^T / t, diag) + xent(B A^T / t, diag)) / 2 */
    lt_tensor A = lt_view2(pooled->data, LT_F32, pooled->device, P, H);
    lt_tensor Bm = lt_view2((float *)pooled->data + P * H, LT_F32, pooled->device, P, H);
    lt_tensor dA = lt_view2(r->dpool.data, LT_F32, r->dpool.device, P, H);
    lt_tensor dB = lt_view2((float *)r->dpool.data + P * H, LT_F32, r->dpool.device, P, H);
    double step_loss = 0;
    LT_TRY(lt_fill(r->be, &r->dpool, 0.0f));
    for (int dir = 0; dir < 2; dir++) {
        const lt_tensor *X = dir ? &Bm : &A, *Y = dir ? &A : &Bm;
        lt_tensor *dX = dir ? &dB : &dA, *dY = dir ? &dA : &dB;
        lt_tensor hl = lt_view1(r->hloss, LT_F32, LT_CPU, P);
        LT_TRY(lt_matmul(r->be, &r->S, X, 0, Y, 1, inv_t, 0.0f));
        LT_TRY(lt_xent_fwd(r->be, &r->loss, &r->lse, &r->S, &r->tgt, -100));
        LT_TRY(lt_tensor_copy(r->be, &hl, &r->loss));
        LT_TRY(lt_fill(r->be, &r->dS, 0.0f));
        LT_TRY(lt_xent_bwd(r->be, &r->dS, &r->S, &r->lse, &r->tgt, &r->dl, -100));
        LT_TRY(lt_matmul(r->be, dX, &r->dS, 0, Y, 0, 0.5f * inv_t, 1.0f)); /* dX += dS Y / t / 2 */
        LT_TRY(lt_matmul(r->be, dY, &r->dS, 1, X, 0, 0.5f * inv_t, 1.0f)); /* dY += dS^T X / t / 2 */
        for (int64_t i = 0; i < P; i++) step_loss += 0.5 * r->hloss[i] / (double)P;
    }
    LT_TRY(lt_bert_backward(r->m, &r->dpool, NULL, 0.0f));
    *loss_out = step_loss, *examples = 2 * P;
    return 0;
}

/* ---- the run ------------------------------------------------------------------------------------- */

static int build_model(pretrain *r, lt_vocab **vocab) {
    const lt_pretrain_opts *o = r->o;
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", o->data);
    LT_TRY(lt_vocab_load(vocab, path));
    LT_TRY(lt_mlm_opts_from_vocab(&r->mlm, *vocab));
    /* the longest item bounds the sequence length */
    lt_token_shard t;
    snprintf(path, sizeof path, "%s/tokens-00000.h5", o->data);
    LT_TRY(lt_token_shard_read(path, &t));
    r->max_len = t.max_len;
    int rc = 0;
    if (t.vocab_size != lt_vocab_size(*vocab))
        rc = lt_error(LT_EFORMAT, "%s was tokenized with a vocabulary of %lld, vocab.txt has %lld", path,
                      (long long)t.vocab_size, (long long)lt_vocab_size(*vocab));
    lt_token_shard_free(&t);
    LT_TRY(rc);
    if (o->init) {
        LT_TRY(lt_bert_load(&r->m, r->be, o->init, 1));
        if (lt_bert_get_config(r->m)->vocab != lt_vocab_size(*vocab))
            return lt_error(LT_ECONFIG, "%s has a vocabulary of %lld, %s/vocab.txt has %lld", o->init,
                            (long long)lt_bert_get_config(r->m)->vocab, o->data, (long long)lt_vocab_size(*vocab));
        return lt_model_vocab_check(o->init, o->data, lt_bert_get_config(r->m)->vocab);
    }
    lt_bert_config bc;
    lt_bert_config_init(&bc);
    bc.vocab = lt_vocab_size(*vocab), bc.hidden = o->hidden, bc.layers = o->layers, bc.heads = o->heads;
    bc.ffn = o->ffn, bc.max_pos = r->max_len > 64 ? r->max_len : 64, bc.mlm_head = 1, bc.dropout = (float)o->dropout;
    bc.pad_id = r->mlm.pad_id; /* its word-embedding row learns nothing, as padding_idx in transformers */
    return lt_bert_create(&r->m, r->be, &bc, lt_rng_key((uint64_t)o->seed, 0, LT_SITE_INIT));
}

static void describe(const lt_bert *m, char *buf, size_t cap) {
    const lt_bert_config *c = lt_bert_get_config(m);
    snprintf(buf, cap, "bert vocab=%lld hidden=%lld layers=%lld heads=%lld ffn=%lld max_pos=%lld", (long long)c->vocab,
             (long long)c->hidden, (long long)c->layers, (long long)c->heads, (long long)c->ffn, (long long)c->max_pos);
}

static void release(pretrain *r) {
    lt_tensor *ts[] = {&r->S, &r->dS, &r->loss, &r->lse, &r->tgt, &r->dl, &r->dpool};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lt_tensor_free(r->be, ts[i]);
    free(r->ids), free(r->lens), free(r->hloss), free(r->tok_ids), free(r->tok_off), free(r->pos), free(r->target);
    lt_pairs_free(&r->pairs);
    if (r->ld) lt_loader_close(r->ld);
    lt_bert_free(r->m);
}

int lt_pretrain(lt_backend *be, const lt_pretrain_opts *o) {
    pretrain r = {.o = o, .be = be};
    lt_vocab *vocab = NULL;
    char desc[1024] = "";
    lt_trainer *t = NULL;
    int rc = build_model(&r, &vocab);
    lt_vocab_free(vocab);
    if (!rc) rc = lt_mkdirs(o->out);
    r.max_masked = o->batch + (int64_t)(0.2 * (double)(o->batch * r.max_len));
    if (!rc) rc = lt_bert_reserve(r.m, o->batch, r.max_len, r.max_masked, 1);
    if (!rc) describe(r.m, desc, sizeof desc);
    lt_trainer_cfg tc;
    lt_trainer_cfg_init(&tc);
    tc.optim.lr = (float)o->lr, tc.optim.warmup_steps = o->warmup;
    tc.optim.total_steps = o->steps + o->contrastive_steps;
    tc.seed = (uint64_t)o->seed, tc.accum = o->accum > 0 ? o->accum : 1;
    tc.log_every = o->log_every, tc.ckpt_every = o->ckpt_every, tc.stop_after = o->stop_after;
    tc.dir = o->out, tc.name = "pretrain", tc.model = desc;
    if (!rc) rc = lt_trainer_open(&t, lt_bert_params(r.m), o->comm, &tc);
    if (!rc && (!o->comm || o->comm->rank == 0))
        lt_info("pretrain: %s, %.2fM parameters, %s GEMMs, on %s", desc,
                (double)lt_params_count(lt_bert_params(r.m)) / 1e6, lt_math_name(lt_backend_math(be)),
                lt_backend_describe(be));
    lt_task mlm = {.phase = "mlm", .ctx = &r, .first_step = 0, .last_step = o->steps, .unit = "seq",
                   .micro = mlm_micro, .tell = mlm_tell, .seek = mlm_seek};
    if (!rc && lt_trainer_step(t) < o->steps) rc = mlm_open(&r);
    if (!rc) rc = lt_trainer_run(t, &mlm);
    lt_task con = {.phase = "contrastive", .ctx = &r, .first_step = o->steps, .last_step = o->steps + o->contrastive_steps,
                   .unit = "seq", .micro = contrastive_micro};
    if (!rc && o->contrastive_steps > 0 && lt_trainer_step(t) < con.last_step) rc = contrastive_open(&r);
    if (!rc) rc = lt_trainer_run(t, &con);
    int rank0 = !o->comm || o->comm->rank == 0; /* the same weights everywhere: rank 0 writes them */
    if (!rc && rank0) rc = lt_bert_save(r.m, o->out);
    if (!rc && rank0) rc = lt_model_vocab_bind(o->out, o->data); /* the model's vocabulary: MODEL/vocab.txt */
    if (t) {
        int crc = lt_trainer_close(t);
        if (!rc) rc = crc;
    }
    release(&r);
    return rc;
}
