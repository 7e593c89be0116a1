/* longtail pretrain: the text encoder learns the catalog's language, then its shoppers' habits.
 *
 *  1. masked-LM on the catalog's token shards: 15 % of the word pieces hidden (80/10/10), AdamW with
 *     linear warm-up and decay, gradient clipping;
 *  2. optionally, contrastive fine-tuning on co-interactions: items next to each other in a user's
 *     history are pulled together, the other items of the batch pushed apart (in-batch negatives,
 *     a symmetric InfoNCE loss on the L2-normalised pooled embeddings), so that embeddings carry
 *     behaviour as well as words.
 *
 * Everything a resumed run needs is in OUT/pretrain.ckpt.h5 (weights, AdamW moments, step, data
 * cursor, the model's configuration), written atomically every --ckpt-every steps: a killed run
 * started again with the same command continues where the checkpoint left it. The finished model
 * is OUT/config.json + OUT/model.safetensors (Hugging Face's BertModel layout). The loss curve is
 * in OUT/pretrain_log.tsv. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "data/dataio.h"
#include "eval/eval.h"
#include "longtail/bert.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "longtail/loader.h"
#include "longtail/log.h"
#include "longtail/pretrain.h"
#include "longtail/tokens.h"
#include "longtail/vocab_bind.h"
#include "longtail/wordpiece.h"

static const lt_cli_opt opts[] = {
    {"--data", "pretrain.data", 0, "folder with vocab.txt and the token shards (from longtail vocab)"},
    {"--out", "pretrain.out", 0, "folder for the model, its checkpoint and the loss log"},
    {"--init", "pretrain.init", 0, "start from this BERT checkpoint (config.json + model.safetensors)"},
    {"--layers", "bert.layers", 0, "encoder layers (default 4)"},
    {"--hidden", "bert.hidden", 0, "hidden size (default 256)"},
    {"--heads", "bert.heads", 0, "attention heads (default 4)"},
    {"--ffn", "bert.ffn", 0, "feed-forward size (default 4 x hidden)"},
    {"--steps", "pretrain.steps", 0, "masked-LM steps (default 2000)"},
    {"--batch", "pretrain.batch", 0, "sequences per step (default 64)"},
    {"--lr", "pretrain.lr", 0, "peak learning rate (default 5e-4)"},
    {"--warmup", "pretrain.warmup", 0, "warm-up steps (default 10% of the steps)"},
    {"--seed", "pretrain.seed", 0, "seed of initialisation, shuffling, masking and dropout (default 1)"},
    {"--contrastive-steps", "pretrain.contrastive_steps", 0, "co-interaction fine-tuning steps after MLM (default 0)"},
    {"--events", "pretrain.events", 0, "events file for the co-interaction pairs (default DATA/events.h5)"},
    {"--pair-batch", "pretrain.pair_batch", 0, "pairs per contrastive step (default 128)"},
    {"--temperature", "pretrain.temperature", 0, "softmax temperature of the contrastive loss (default 0.05)"},
    {"--holdout", "pretrain.holdout", 0, "last events of each history kept out of the pairs (default 2: leave-one-out)"},
    {"--ckpt-every", "pretrain.ckpt_every", 0, "steps between checkpoints (default 200)"},
    {"--log-every", "pretrain.log_every", 0, "steps between log lines (default 50)"},
    {"--device", "pretrain.device", 0, "cpu or cuda[:N] (default cpu)"},
    {"--math", "pretrain.math", 0, "GEMMs: auto (default: bf16 on GPUs and AMX/AVX512-BF16 CPUs; fp32 master weights), bf16, tf32, fp32"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_pretrain = opts; /* every setting is checked against these (settings.c) */

typedef struct {
    const char *data, *out, *init, *events, *device;
    int64_t steps, batch, warmup, contrastive_steps, pair_batch, ckpt_every, log_every, seed;
    int64_t stop_after; /* stop (as if killed) once this step is done: for testing resume */
    int64_t holdout;
    int64_t layers, hidden, heads, ffn;
    double lr, temperature;
} settings;

static int read_settings(const lt_config *c, settings *s) {
    memset(s, 0, sizeof *s);
    s->data = lt_config_str(c, "pretrain.data", NULL);
    s->out = lt_config_str(c, "pretrain.out", NULL);
    s->init = lt_config_str(c, "pretrain.init", NULL);
    s->events = lt_config_str(c, "pretrain.events", NULL);
    s->device = lt_config_str(c, "pretrain.device", "cpu");
    struct { const char *key; int64_t def, *dst; } ints[] = {
        {"pretrain.steps", 2000, &s->steps}, {"pretrain.batch", 64, &s->batch}, {"pretrain.warmup", -1, &s->warmup},
        {"pretrain.contrastive_steps", 0, &s->contrastive_steps}, {"pretrain.pair_batch", 128, &s->pair_batch},
        {"pretrain.ckpt_every", 200, &s->ckpt_every}, {"pretrain.log_every", 50, &s->log_every},
        {"pretrain.seed", 1, &s->seed}, {"pretrain.stop_after", 0, &s->stop_after}, {"pretrain.holdout", 2, &s->holdout},
        {"bert.layers", 4, &s->layers}, {"bert.hidden", 256, &s->hidden},
        {"bert.heads", 4, &s->heads}, {"bert.ffn", 0, &s->ffn},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) LT_TRY(lt_config_int(c, ints[i].key, ints[i].def, ints[i].dst));
    LT_TRY(lt_config_float(c, "pretrain.lr", 5e-4, &s->lr));
    LT_TRY(lt_config_float(c, "pretrain.temperature", 0.05, &s->temperature));
    if (s->warmup < 0) s->warmup = s->steps / 10;
    if (s->ffn <= 0) s->ffn = 4 * s->hidden;
    if (s->steps < 0 || s->batch < 1 || s->pair_batch < 2 || s->ckpt_every < 1 || s->log_every < 1 || !(s->lr > 0) ||
        !(s->temperature > 0))
        return lt_error(LT_ECONFIG, "pretrain: steps >= 0, batch >= 1, pair_batch >= 2, lr > 0, temperature > 0 "
                                    "and positive ckpt/log intervals are required");
    return 0;
}

/* ---- the run's state ---------------------------------------------------------------------------- */

typedef struct {
    settings s;
    lt_backend *be;
    lt_bert *m;
    lt_vocab *vocab;
    lt_mlm_opts mlm;
    lt_optim_cfg optim;
    int64_t max_len, max_masked;
    char ckpt[4096], log_path[4096], model_desc[1024];
    FILE *log;
} run;

static void describe(run *r) {
    const lt_bert_config *c = lt_bert_get_config(r->m);
    snprintf(r->model_desc, sizeof r->model_desc, "bert vocab=%lld hidden=%lld layers=%lld heads=%lld ffn=%lld max_pos=%lld",
             (long long)c->vocab, (long long)c->hidden, (long long)c->layers, (long long)c->heads, (long long)c->ffn,
             (long long)c->max_pos);
}

static int save_checkpoint(run *r, int64_t step, lt_cursor cur) {
    lt_train_state st = {.step = step, .rng_seed = (uint64_t)r->s.seed, .cursor_epoch = cur.epoch, .cursor_batch = cur.batch};
    return lt_checkpoint_save(r->ckpt, lt_bert_params(r->m), 1, &st, r->model_desc);
}

static void log_line(run *r, const char *phase, int64_t step, int64_t total, double loss, float gnorm, double rate) {
    float lr = lt_optim_lr(&r->optim, step);
    lt_info("%s step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.1f seq/s", phase, (long long)step,
            (long long)total, loss, lr, gnorm, rate);
    if (r->log) {
        fprintf(r->log, "%s\t%lld\t%.6f\t%.3e\t%.4f\t%.2f\n", phase, (long long)step, loss, lr, gnorm, rate);
        fflush(r->log);
    }
}

/* The loss log of this run and of the runs it resumed: (step, loss) per phase (0 masked-LM,
 * 1 contrastive). With keep_upto >= 0 the file is rewritten without the lines past that step (a
 * resumed run logs those steps again). */
typedef struct {
    int64_t n, cap;
    double (*pt)[3]; /* step, loss, phase */
} loss_log;

static int read_log(const char *path, int64_t keep_upto, loss_log *lg) {
    memset(lg, 0, sizeof *lg);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512], *kept = NULL;
    size_t klen = 0, kcap = 0;
    while (fgets(line, sizeof line, f)) {
        char phase[32];
        long long step;
        double loss;
        int ok = sscanf(line, "%31s %lld %lf", phase, &step, &loss) == 3;
        if (ok && keep_upto >= 0 && step > keep_upto) continue;
        size_t l = strlen(line);
        if (klen + l + 1 > kcap) {
            kcap = 2 * (klen + l + 1);
            char *k = realloc(kept, kcap);
            if (!k) break;
            kept = k;
        }
        memcpy(kept + klen, line, l + 1), klen += l;
        if (!ok) continue; /* the header */
        if (lg->n == lg->cap) {
            lg->cap = lg->cap ? 2 * lg->cap : 256;
            double(*p)[3] = realloc(lg->pt, sizeof *p * (size_t)lg->cap);
            if (!p) break;
            lg->pt = p;
        }
        lg->pt[lg->n][0] = (double)step, lg->pt[lg->n][1] = loss, lg->pt[lg->n][2] = strcmp(phase, "mlm") != 0;
        lg->n++;
    }
    fclose(f);
    int rc = 0;
    if (keep_upto >= 0 && kept) {
        f = fopen(path, "w");
        if (!f || fwrite(kept, 1, klen, f) != klen) rc = lt_error(LT_EIO, "%s: cannot rewrite the loss log", path);
        if (f) fclose(f);
    }
    free(kept);
    return rc;
}

/* OUT/pretrain_loss.svg: the whole loss log against the step, masked-LM then contrastive. */
static int plot_loss(run *r) {
    loss_log lg;
    LT_TRY(read_log(r->log_path, -1, &lg));
    if (lg.n < 2) return free(lg.pt), 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/pretrain_loss.svg", r->s.out);
    double x1 = 0, y1 = 0;
    for (int64_t i = 0; i < lg.n; i++) x1 = fmax(x1, lg.pt[i][0]), y1 = fmax(y1, lg.pt[i][1]);
    lt_svg g;
    int rc = lt__svg_open(&g, path, 720, 420, "longtail pretrain: training loss", "step",
                          "loss (mean over the logging interval)", 0, x1, 0, y1 * 1.05, 0, 0);
    if (rc) return free(lg.pt), rc;
    lt__svg_axes(&g);
    const char *color[2] = {"#1f77b4", "#d62728"};
    for (int part = 0; part < 2; part++) {
        int any = 0;
        for (int64_t i = 0; i < lg.n; i++) {
            if ((int)lg.pt[i][2] != part) continue;
            if (!any) fprintf(g.f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color[part]);
            fprintf(g.f, "%.1f,%.1f ", lt__svg_px(&g, lg.pt[i][0]), lt__svg_py(&g, lg.pt[i][1]));
            any = 1;
        }
        if (!any) continue;
        fputs("\"/>\n", g.f);
        lt__svg_legend(&g, part, color[part], part ? "contrastive (co-interactions)" : "masked-LM");
    }
    free(lg.pt);
    return lt__svg_close(&g);
}

/* ---- phase 1: masked-LM ------------------------------------------------------------------------ */

static int mlm_phase(run *r, int64_t start_step, lt_cursor cursor) {
    lt_loader_opts lo;
    lt_loader_opts_init(&lo);
    lo.batch = r->s.batch, lo.shuffle = 1, lo.seed = (uint64_t)r->s.seed, lo.pad_id = r->mlm.pad_id;
    lt_loader *ld;
    LT_TRY(lt_token_loader_open(&ld, r->s.data, &lo));
    int rc = lt_loader_seek(ld, cursor);
    int64_t *pos = malloc(sizeof *pos * (size_t)(r->s.batch * r->max_len));
    int32_t *target = malloc(sizeof *target * (size_t)(r->s.batch * r->max_len));
    if (!pos || !target) rc = lt_error(LT_ENOMEM, "pretrain: out of memory");
    double loss_sum = 0, t0 = lt_seconds();
    int64_t seqs = 0, nlog = 0;
    float gnorm = 0;
    for (int64_t step = start_step + 1; step <= r->s.steps && !rc; step++) {
        lt_batch *b;
        int got;
        while ((got = lt_loader_next(ld, &b)) == 0) { /* end of an epoch: go on with the next */
        }
        if (got < 0) {
            rc = got;
            break;
        }
        int64_t n = lt_mlm_mask(&r->mlm, (uint64_t)r->s.seed, (uint64_t)step, b->ids, b->len, b->n, b->width, pos, target);
        if (n > r->max_masked) { /* rare: more than reserved; unmask the extras, so input and loss agree */
            for (int64_t i = r->max_masked; i < n; i++) b->ids[pos[i]] = target[i];
            n = r->max_masked;
        }
        float loss = 0;
        if ((rc = lt_params_zero_grad(lt_bert_params(r->m))) ||
            (rc = lt_bert_forward(r->m, b->ids, b->len, b->n, b->width, 1, (uint64_t)r->s.seed, (uint64_t)step)) ||
            (rc = lt_bert_mlm_loss(r->m, pos, target, n, &loss)) || (rc = lt_bert_backward(r->m, NULL, NULL, 1.0f)) ||
            (rc = lt_optim_step(lt_bert_params(r->m), &r->optim, step, &gnorm)))
            break;
        loss_sum += loss, nlog++, seqs += b->n;
        if (step % r->s.log_every == 0 || step == r->s.steps) {
            log_line(r, "mlm", step, r->s.steps, loss_sum / (double)nlog, gnorm, (double)seqs / (lt_seconds() - t0));
            loss_sum = 0, nlog = 0, seqs = 0, t0 = lt_seconds();
        }
        if (step % r->s.ckpt_every == 0 || step == r->s.steps) rc = save_checkpoint(r, step, lt_loader_tell(ld));
        if (!rc && r->s.stop_after > 0 && step >= r->s.stop_after) {
            rc = 1; /* not an error: the caller stops here */
            break;
        }
    }
    free(pos), free(target);
    lt_loader_close(ld);
    return rc;
}

/* ---- phase 2: co-interaction contrastive fine-tuning -------------------------------------------- */

/* Every item's token ids in memory (the contrastive phase samples items anywhere in the catalog). */
typedef struct {
    int32_t *ids;
    int64_t *off, n;
} all_tokens;

static int load_all_tokens(const char *dir, all_tokens *t) {
    memset(t, 0, sizeof *t);
    char **names;
    int count;
    LT_TRY(lt_list_shards(dir, "tokens-", &names, &count));
    int rc = 0;
    int64_t nids = 0;
    for (int i = 0; i < count && !rc; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        lt_token_shard s;
        if ((rc = lt_token_shard_read(p, &s))) break;
        int32_t *ids = realloc(t->ids, sizeof *ids * (size_t)(nids + s.off[s.n] + 1));
        int64_t *off = realloc(t->off, sizeof *off * (size_t)(t->n + s.n + 1));
        if (ids) t->ids = ids;
        if (off) t->off = off;
        if (!ids || !off) rc = lt_error(LT_ENOMEM, "pretrain: out of memory for the token ids");
        if (!rc) {
            memcpy(t->ids + nids, s.ids, sizeof *ids * (size_t)s.off[s.n]);
            for (int64_t k = 0; k <= s.n; k++) t->off[t->n + k] = nids + s.off[k];
            nids += s.off[s.n], t->n += s.n;
        }
        lt_token_shard_free(&s);
    }
    lt_free_names(names, count);
    return rc;
}

static int contrastive_phase(run *r, int64_t start_step) {
    char ev_path[4096];
    if (r->s.events) snprintf(ev_path, sizeof ev_path, "%s", r->s.events);
    else snprintf(ev_path, sizeof ev_path, "%s/events.h5", r->s.data);
    lt_events ev;
    lt_pairs pairs = {0};
    all_tokens tok = {0};
    LT_TRY(lt_events_load(&ev, ev_path));
    int rc = lt_pairs_from_events(&ev, r->s.holdout, 0, &pairs);
    if (!rc) rc = load_all_tokens(r->s.data, &tok);
    if (!rc && tok.n != ev.n_items)
        rc = lt_error(LT_EFORMAT, "%s has %lld items but the token shards hold %lld", ev_path, (long long)ev.n_items,
                      (long long)tok.n);
    if (!rc && pairs.n < 2) rc = lt_error(LT_EFORMAT, "%s: fewer than 2 co-interaction pairs", ev_path);
    lt_events_free(&ev);
    int64_t P = r->s.pair_batch, H = lt_bert_get_config(r->m)->hidden, T = r->max_len;
    int32_t *ids = malloc(sizeof *ids * (size_t)(2 * P * T)), *lens = malloc(sizeof *lens * (size_t)(2 * P));
    int32_t *diag = malloc(sizeof *diag * (size_t)P);
    float *ones = malloc(sizeof *ones * (size_t)P);
    if (!ids || !lens || !diag || !ones) rc = lt_error(LT_ENOMEM, "pretrain: out of memory");
    for (int64_t i = 0; !rc && i < P; i++) diag[i] = (int32_t)i, ones[i] = 1.0f / (float)P;
    /* device buffers: similarities, their gradients, the cross-entropy's bookkeeping, d(pooled) */
    lt_tensor S, dS, loss, lse, tgt, dl, dpool;
    int64_t pp[2] = {P, P}, p1[1] = {P}, ph[2] = {2 * P, H};
    memset(&S, 0, sizeof S), memset(&dS, 0, sizeof dS), memset(&loss, 0, sizeof loss), memset(&lse, 0, sizeof lse);
    memset(&tgt, 0, sizeof tgt), memset(&dl, 0, sizeof dl), memset(&dpool, 0, sizeof dpool);
    if (!rc) rc = lt_tensor_new(&S, r->be, LT_F32, 2, pp);
    if (!rc) rc = lt_tensor_new(&dS, r->be, LT_F32, 2, pp);
    if (!rc) rc = lt_tensor_new(&loss, r->be, LT_F32, 1, p1);
    if (!rc) rc = lt_tensor_new(&lse, r->be, LT_F32, 1, p1);
    if (!rc) rc = lt_tensor_new(&tgt, r->be, LT_I32, 1, p1);
    if (!rc) rc = lt_tensor_new(&dl, r->be, LT_F32, 1, p1);
    if (!rc) rc = lt_tensor_new(&dpool, r->be, LT_F32, 2, ph);
    lt_tensor hd = lt_view1(diag, LT_I32, LT_CPU, P), ho = lt_view1(ones, LT_F32, LT_CPU, P);
    if (!rc) rc = lt_tensor_copy(r->be, &tgt, &hd);
    if (!rc) rc = lt_tensor_copy(r->be, &dl, &ho);
    if (!rc) rc = lt_bert_reserve(r->m, 2 * P, T, 0, 1);
    float inv_t = (float)(1.0 / r->s.temperature), gnorm = 0;
    float *hloss = malloc(sizeof *hloss * (size_t)P);
    double loss_sum = 0, t0 = lt_seconds();
    int64_t nlog = 0, total = r->s.steps + r->s.contrastive_steps;
    lt_rng rng;
    for (int64_t step = start_step + 1; step <= total && !rc; step++) {
        lt_rng_init(&rng, (uint64_t)r->s.seed, 0x5ea + (uint64_t)step); /* the pairs of a step depend on (seed, step) only */
        int64_t width = 1;
        for (int64_t i = 0; i < P; i++) {
            int64_t k = (int64_t)lt_rng_below(&rng, (uint64_t)pairs.n);
            int32_t item[2] = {pairs.a[k], pairs.b[k]};
            for (int side = 0; side < 2; side++) {
                int64_t row = side * P + i, len = tok.off[item[side] + 1] - tok.off[item[side]];
                lens[row] = (int32_t)len;
                if (len > width) width = len;
            }
        }
        lt_rng_init(&rng, (uint64_t)r->s.seed, 0x5ea + (uint64_t)step);
        for (int64_t i = 0; i < P; i++) {
            int64_t k = (int64_t)lt_rng_below(&rng, (uint64_t)pairs.n);
            int32_t item[2] = {pairs.a[k], pairs.b[k]};
            for (int side = 0; side < 2; side++) {
                int64_t row = side * P + i, len = lens[row];
                memcpy(ids + row * width, tok.ids + tok.off[item[side]], sizeof *ids * (size_t)len);
                for (int64_t t = len; t < width; t++) ids[row * width + t] = r->mlm.pad_id;
            }
        }
        if ((rc = lt_params_zero_grad(lt_bert_params(r->m))) ||
            (rc = lt_bert_forward(r->m, ids, lens, 2 * P, width, 1, (uint64_t)r->s.seed, (uint64_t)step)))
            break;
        const lt_tensor *pooled = lt_bert_pooled(r->m);
        /* A = pooled[0:P], B = pooled[P:2P]; loss = (xent(A B^T / t, diag) + xent(B A^T / t, diag)) / 2 */
        lt_tensor A = lt_view2(pooled->data, LT_F32, pooled->device, P, H);
        lt_tensor Bm = lt_view2((float *)pooled->data + P * H, LT_F32, pooled->device, P, H);
        lt_tensor dA = lt_view2(dpool.data, LT_F32, dpool.device, P, H);
        lt_tensor dB = lt_view2((float *)dpool.data + P * H, LT_F32, dpool.device, P, H);
        double step_loss = 0;
        rc = lt_fill(r->be, &dpool, 0.0f);
        for (int dir = 0; dir < 2 && !rc; dir++) {
            const lt_tensor *X = dir ? &Bm : &A, *Y = dir ? &A : &Bm;
            lt_tensor *dX = dir ? &dB : &dA, *dY = dir ? &dA : &dB;
            lt_tensor hl = lt_view1(hloss, LT_F32, LT_CPU, P);
            if ((rc = lt_matmul(r->be, &S, X, 0, Y, 1, inv_t, 0.0f)) || (rc = lt_xent_fwd(r->be, &loss, &lse, &S, &tgt, -100)) ||
                (rc = lt_tensor_copy(r->be, &hl, &loss)) || (rc = lt_fill(r->be, &dS, 0.0f)) ||
                (rc = lt_xent_bwd(r->be, &dS, &S, &lse, &tgt, &dl, -100)) ||
                (rc = lt_matmul(r->be, dX, &dS, 0, Y, 0, 0.5f * inv_t, 1.0f)) || /* dX += dS Y / t / 2 */
                (rc = lt_matmul(r->be, dY, &dS, 1, X, 0, 0.5f * inv_t, 1.0f)))  /* dY += dS^T X / t / 2 */
                break;
            for (int64_t i = 0; i < P; i++) step_loss += 0.5 * hloss[i] / (double)P;
        }
        if (rc || (rc = lt_bert_backward(r->m, &dpool, NULL, 0.0f)) ||
            (rc = lt_optim_step(lt_bert_params(r->m), &r->optim, step, &gnorm)))
            break;
        loss_sum += step_loss, nlog++;
        if (step % r->s.log_every == 0 || step == total) {
            log_line(r, "contrastive", step, total, loss_sum / (double)nlog, gnorm,
                     (double)(2 * P * nlog) / (lt_seconds() - t0));
            loss_sum = 0, nlog = 0, t0 = lt_seconds();
        }
        if (step % r->s.ckpt_every == 0 || step == total) rc = save_checkpoint(r, step, (lt_cursor){0, 0});
        if (!rc && r->s.stop_after > 0 && step >= r->s.stop_after) rc = 1;
    }
    lt_tensor *ts[] = {&S, &dS, &loss, &lse, &tgt, &dl, &dpool};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lt_tensor_free(r->be, ts[i]);
    free(ids), free(lens), free(diag), free(ones), free(hloss), free(tok.ids), free(tok.off);
    lt_pairs_free(&pairs);
    return rc;
}

/* ---- the command ----------------------------------------------------------------------------------- */

int lt_cmd_pretrain(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("pretrain", "--data DIR --out DIR [--steps N] [--contrastive-steps N]", opts, argc, argv, &c,
                         &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    run R = {0};
    int rc = read_settings(c, &R.s);
    if (!rc && (!R.s.data || !R.s.out)) {
        fprintf(stderr, "longtail pretrain: needs --data DIR and --out DIR (longtail pretrain --help)\n");
        lt_config_free(c);
        return 2;
    }
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */
    char path[4096];
    if (!rc) rc = lt_cli_backend(R.s.device, lt_config_str(c, "pretrain.math", NULL), &R.be);
    snprintf(path, sizeof path, "%s/vocab.txt", R.s.data);
    if (!rc) rc = lt_vocab_load(&R.vocab, path);
    if (!rc) rc = lt_mlm_opts_from_vocab(&R.mlm, R.vocab);
    /* the longest item bounds the sequence length */
    if (!rc) {
        lt_token_shard t;
        snprintf(path, sizeof path, "%s/tokens-00000.h5", R.s.data);
        rc = lt_token_shard_read(path, &t);
        if (!rc) {
            R.max_len = t.max_len;
            if (t.vocab_size != lt_vocab_size(R.vocab))
                rc = lt_error(LT_EFORMAT, "%s was tokenized with a vocabulary of %lld, vocab.txt has %lld", path,
                              (long long)t.vocab_size, (long long)lt_vocab_size(R.vocab));
            lt_token_shard_free(&t);
        }
    }
    if (!rc && R.s.init) {
        rc = lt_bert_load(&R.m, R.be, R.s.init, 1);
        if (!rc && lt_bert_get_config(R.m)->vocab != lt_vocab_size(R.vocab))
            rc = lt_error(LT_ECONFIG, "%s has a vocabulary of %lld, %s/vocab.txt has %lld", R.s.init,
                          (long long)lt_bert_get_config(R.m)->vocab, R.s.data, (long long)lt_vocab_size(R.vocab));
        if (!rc) rc = lt_model_vocab_check(R.s.init, R.s.data, lt_bert_get_config(R.m)->vocab);
    } else if (!rc) {
        lt_bert_config bc;
        lt_bert_config_init(&bc);
        bc.vocab = lt_vocab_size(R.vocab), bc.hidden = R.s.hidden, bc.layers = R.s.layers, bc.heads = R.s.heads;
        bc.ffn = R.s.ffn, bc.max_pos = R.max_len > 64 ? R.max_len : 64, bc.mlm_head = 1;
        rc = lt_bert_create(&R.m, R.be, &bc, (uint64_t)R.s.seed);
    }
    if (!rc) rc = lt_mkdirs(R.s.out);
    R.max_masked = R.s.batch + (int64_t)(0.2 * (double)(R.s.batch * R.max_len));
    if (!rc) rc = lt_bert_reserve(R.m, R.s.batch, R.max_len, R.max_masked, 1);
    lt_optim_cfg_init(&R.optim);
    R.optim.lr = (float)R.s.lr, R.optim.warmup_steps = R.s.warmup;
    R.optim.total_steps = R.s.steps + R.s.contrastive_steps;
    if (!rc) describe(&R);

    /* resume from the checkpoint of an earlier run of this command */
    snprintf(R.ckpt, sizeof R.ckpt, "%s/pretrain.ckpt.h5", R.s.out);
    lt_train_state st = {0};
    if (!rc && access(R.ckpt, F_OK) == 0) {
        char model[1024];
        rc = lt_checkpoint_load(R.ckpt, lt_bert_params(R.m), 1, &st, model, sizeof model);
        if (!rc && strcmp(model, R.model_desc))
            rc = lt_error(LT_ECONFIG, "%s holds a run of another model (%s); this run builds %s: remove it or choose "
                          "another --out", R.ckpt, model, R.model_desc);
        if (!rc) lt_info("pretrain: resuming from %s at step %lld", R.ckpt, (long long)st.step);
    }
    if (!rc) {
        snprintf(R.log_path, sizeof R.log_path, "%s/pretrain_log.tsv", R.s.out);
        loss_log lg; /* a resumed run logs the steps after its checkpoint again: drop the old lines */
        if (st.step) rc = read_log(R.log_path, st.step, &lg), free(lg.pt);
        R.log = fopen(R.log_path, st.step ? "a" : "w");
        if (R.log && !st.step) fprintf(R.log, "phase\tstep\tloss\tlr\tgrad_norm\tseq_per_s\n");
        lt_info("pretrain: %s, %.2fM parameters, %s GEMMs, on %s", R.model_desc,
                (double)lt_params_count(lt_bert_params(R.m)) / 1e6, lt_math_name(lt_backend_math(R.be)),
                lt_backend_describe(R.be));
    }
    if (!rc && st.step < R.s.steps) rc = mlm_phase(&R, st.step, (lt_cursor){st.cursor_epoch, st.cursor_batch});
    if (!rc && R.s.contrastive_steps > 0)
        rc = contrastive_phase(&R, st.step > R.s.steps ? st.step : R.s.steps);
    int stopped = rc == 1;
    if (stopped) {
        rc = 0;
        printf("pretrain: stopped after step %lld (pretrain.stop_after); run again to continue\n", (long long)R.s.stop_after);
    }
    if (!rc && !stopped) rc = lt_bert_save(R.m, R.s.out);
    if (!rc && !stopped) rc = lt_model_vocab_bind(R.s.out, R.s.data); /* the model's vocabulary: MODEL/vocab.txt */
    if (!rc && !stopped) rc = plot_loss(&R);
    if (!rc && !stopped) printf("pretrained model: %s/config.json + model.safetensors; loss log: %s\n", R.s.out, R.log_path);
    if (R.log) fclose(R.log);
    lt_bert_free(R.m);
    lt_vocab_free(R.vocab);
    if (R.be && R.be != lt_backend_cpu()) lt_backend_release(R.be);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("pretrain", rc) : 0;
}
