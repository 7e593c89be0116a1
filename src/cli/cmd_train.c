/* longtail train: the next-item recommender on a shop's histories and its items' text embeddings.
 * The model (include/longtail/recmodel.h) trains on the trainer with validation NDCG@10 every
 * epoch and early stopping; OUT/rec.h5 holds the best weights and the model's description,
 * OUT/train_log.tsv and OUT/train_loss.svg the curve, OUT/train.ckpt.h5 the resumable state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/rec_cli.h"
#include "data/dataio.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/recmodel.h"

static const lt_cli_opt opts[] = {
    {"--data", "train.data", 0, "folder with the catalog and events.h5 (longtail import)"},
    {"--emb", "train.emb", 0, "the items' text embeddings: emb-NNNNN.h5 shards (longtail embed, tfidf-embed)"},
    {"--out", "train.out", 0, "folder for the model (rec.h5), its checkpoint and its log"},
    {"--no-text", "train.no_text", 1, "the id-only model (no text embeddings)"},
    {"--no-id", "train.no_id", 1, "the text-only model (no item-id embeddings)"},
    {"--cold-boost", "train.cold_boost", 0, "gamma added to the scores of items never trained on when serving (default: chosen on validation)"},
    {"--cold-boost-tolerance", "train.cold_boost_tolerance", 0, "the largest relative loss of validation NDCG@10 the chosen boost may cost (default 0.02; 0: no boost)"},
    {"--cell", "train.cell", 0, "user tower: lstm (default) or gru"},
    {"--tower", "train.tower", 0, "user tower: rnn (default: the --cell) or transformer (SASRec-style causal self-attention)"},
    {"--layers", "train.layers", 0, "transformer tower: blocks (default 2)"},
    {"--heads", "train.heads", 0, "transformer tower: attention heads, dividing --dim (default 1)"},
    {"--dim", "train.dim", 0, "item vector size (default 64)"},
    {"--hidden", "train.hidden", 0, "tower hidden size (default 128)"},
    {"--id-dropout", "train.id_dropout", 0, "chance that an item's id part is zeroed in a training step (default 0.5)"},
    {"--dropout", "train.dropout", 0, "dropout on the tower's outputs (default 0.3)"},
    {"--max-len", "train.max_len", 0, "positions per user: the last N + 1 items of a history (default 50)"},
    {"--chunk", "train.chunk", 0, "items per chunk of the full softmax (default 4096)"},
    {"--loss", "train.loss", 0, "full (default: softmax over every item, in chunks) or sampled (log-Q corrected)"},
    {"--sampler", "train.sampler", 0, "negatives of the sampled loss: popularity (default), uniform or inbatch"},
    {"--negatives", "train.negatives", 0, "negatives per step of the sampled loss (default 1024)"},
    {"--accum", "train.accum", 0, "micro-batches per optimizer step (gradient accumulation; default 1)"},
    {"--epochs", "train.epochs", 0, "passes over the training users (default 30)"},
    {"--batch", "train.batch", 0, "users per step and rank (default 128; global batch: x ranks)"},
    {"--lr", "train.lr", 0, "peak learning rate (default 3e-3)"},
    {"--warmup", "train.warmup", 0, "warm-up steps (default 100)"},
    {"--schedule", "train.schedule", 0, "learning-rate decay: linear, cosine (default) or constant"},
    {"--weight-decay", "train.weight_decay", 0, "AdamW weight decay of the dense weights (default 0; tables never)"},
    {"--patience", "train.patience", 0, "stop after this many epochs without a better validation NDCG@10 (default 5)"},
    {"--eval-users", "train.eval_users", 0, "users in the per-epoch validation (default 0: all)"},
    {"--cold-items", "train.cold_items", 0, "FILE of item ids, or a FRACTION, held out of training (as eval's)"},
    {"--time-split", "train.time_split", 0,
     "train on the first share F of every user's events (by position); the rest is the later period that longtail "
     "update continues on (default 1: all)"},
    {"--seed", "train.seed", 0, "seed of initialisation, batches and dropouts (default 1)"},
    {"--ckpt-every", "train.ckpt_every", 0, "steps between checkpoints (default 500)"},
    {"--log-every", "train.log_every", 0, "steps between log lines (default 50)"},
    {"--device", "train.device", 0, "cpu (default) or cuda[:N]"},
    {"--math", "train.math", 0, "GEMMs: auto (default), bf16, tf32, fp32"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_train = opts; /* every setting is checked against these (settings.c) */

int lt_cmd_train(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("train", "--data DIR --emb DIR --out DIR [--epochs N] [--cell lstm|gru] [--tower transformer]", opts, argc, argv, &c,
                         &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "train.data", NULL), *emb = lt_config_str(c, "train.emb", NULL);
    const char *out = lt_config_str(c, "train.out", NULL), *cell = lt_config_str(c, "train.cell", "lstm");
    const char *sched = lt_config_str(c, "train.schedule", "cosine"), *cold_spec = lt_config_str(c, "train.cold_items", NULL);
    int no_text = 0, no_id = 0;
    int rc = lt_config_bool(c, "train.no_text", 0, &no_text);
    if (!rc) rc = lt_config_bool(c, "train.no_id", 0, &no_id);
    if (!rc && (!data || !out || (!emb && !no_text))) {
        fprintf(stderr, "longtail train: needs --data DIR, --out DIR and --emb DIR (or --no-text) (longtail train --help)\n");
        lt_config_free(c);
        return 2;
    }
    lt_rec_config rc_cfg;
    lt_rec_config_init(&rc_cfg);
    lt_rec_train_opts o;
    memset(&o, 0, sizeof o);
    lt_trainer_cfg_init(&o.trainer);
    int64_t seed = 1, warmup = 100;
    double lr = 3e-3, wd = 0, idd = rc_cfg.id_dropout, dr = rc_cfg.dropout, cb_tol = 0.02, gamma = 0, keep = 1;
    struct { const char *k; int64_t def, *dst; } ints[] = {
        {"train.dim", rc_cfg.dim, &rc_cfg.dim}, {"train.hidden", rc_cfg.hidden, &rc_cfg.hidden},
        {"train.max_len", rc_cfg.max_len, &rc_cfg.max_len}, {"train.chunk", rc_cfg.chunk, &rc_cfg.chunk},
        {"train.negatives", rc_cfg.negatives, &rc_cfg.negatives},
        {"train.layers", rc_cfg.layers, &rc_cfg.layers}, {"train.heads", rc_cfg.heads, &rc_cfg.heads},
        {"train.epochs", 30, &o.epochs}, {"train.batch", 128, &o.batch}, {"train.warmup", 100, &warmup},
        {"train.patience", 5, &o.trainer.patience}, {"train.eval_users", 0, &o.eval_users}, {"train.seed", 1, &seed},
        {"train.accum", 1, &o.trainer.accum}, {"train.ckpt_every", 500, &o.trainer.ckpt_every}, {"train.stop_after", 0, &o.trainer.stop_after}, {"train.log_every", 50, &o.trainer.log_every},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints && !rc; i++) rc = lt_config_int(c, ints[i].k, ints[i].def, ints[i].dst);
    if (!rc) rc = lt_config_float(c, "train.lr", lr, &lr);
    if (!rc) rc = lt_config_float(c, "train.weight_decay", wd, &wd);
    if (!rc) rc = lt_config_float(c, "train.id_dropout", idd, &idd);
    if (!rc) rc = lt_config_float(c, "train.dropout", dr, &dr);
    if (!rc) rc = lt_config_float(c, "train.cold_boost_tolerance", cb_tol, &cb_tol);
    if (!rc) rc = lt_config_float(c, "train.cold_boost", 0, &gamma);
    if (!rc && (!isfinite(gamma) || !(cb_tol >= 0 && cb_tol < 1)))
        rc = lt_error(LT_ECONFIG, "train.cold_boost must be a number and train.cold_boost_tolerance in [0, 1)");
    if (!rc) rc = lt_config_float(c, "train.time_split", keep, &keep);
    if (!rc && !(keep > 0 && keep <= 1)) rc = lt_error(LT_ECONFIG, "train.time_split = %g: expected a share in (0, 1]", keep);
    if (!rc && strcmp(cell, "lstm") && strcmp(cell, "gru"))
        rc = lt_error(LT_ECONFIG, "train.cell: expected lstm or gru, got '%s'", cell);
    const char *loss = lt_config_str(c, "train.loss", "full"), *sampler = lt_config_str(c, "train.sampler", "popularity");
    if (!rc && strcmp(loss, "full") && strcmp(loss, "sampled"))
        rc = lt_error(LT_ECONFIG, "train.loss: expected full or sampled, got '%s'", loss);
    if (!rc && strcmp(sampler, "popularity") && strcmp(sampler, "uniform") && strcmp(sampler, "inbatch"))
        rc = lt_error(LT_ECONFIG, "train.sampler: expected popularity, uniform or inbatch, got '%s'", sampler);
    if (!rc && rc_cfg.negatives < 1) rc = lt_error(LT_ECONFIG, "train.negatives: must be >= 1");
    rc_cfg.loss = strcmp(loss, "sampled") ? LT_REC_LOSS_FULL : LT_REC_LOSS_SAMPLED;
    rc_cfg.sampler = !strcmp(sampler, "uniform") ? LT_REC_NEG_UNIFORM
                   : !strcmp(sampler, "inbatch") ? LT_REC_NEG_INBATCH : LT_REC_NEG_POPULARITY;
    const char *tower = lt_config_str(c, "train.tower", "rnn");
    if (!rc && strcmp(tower, "rnn") && strcmp(tower, "transformer"))
        rc = lt_error(LT_ECONFIG, "train.tower: expected rnn or transformer, got '%s'", tower);
    rc_cfg.tower = !strcmp(tower, "transformer") ? LT_TOWER_TRANSFORMER : LT_TOWER_RNN;
    lt_schedule sc = LT_SCHED_COSINE;
    if (!rc && !strcmp(sched, "linear")) sc = LT_SCHED_LINEAR;
    else if (!rc && !strcmp(sched, "constant")) sc = LT_SCHED_CONSTANT;
    else if (!rc && strcmp(sched, "cosine")) rc = lt_error(LT_ECONFIG, "train.schedule: expected linear, cosine or constant, got '%s'", sched);
    rc_cfg.cell = !strcmp(cell, "gru") ? LT_CELL_GRU : LT_CELL_LSTM, rc_cfg.use_id = !no_id;
    rc_cfg.id_dropout = (float)idd, rc_cfg.dropout = (float)dr;
    o.trainer.optim.lr = (float)lr, o.trainer.optim.warmup_steps = warmup, o.trainer.optim.schedule = sc;
    o.trainer.optim.weight_decay = (float)wd, o.trainer.seed = (uint64_t)seed;
    o.trainer.dir = out, o.trainer.name = "train";
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */

    lt_backend *be = NULL;
    lt_events ev = {0};
    lt_catalog cat = {0};
    lt_rec_split split = {0};
    uint8_t *cold = NULL, *seen = NULL;
    float *text = NULL;
    lt_rec *m = NULL;
    char path[4096], desc[4600];
    snprintf(path, sizeof path, "%s/events.h5", data);
    if (!rc) rc = lt_events_load(&ev, path);
    if (!rc && keep < 1) { /* the earlier period only: each user's first events */
        lt_events all = ev;
        rc = lt_rec_time_split(&all, keep, &ev);
        if (rc) ev = all, memset(&all, 0, sizeof all);
        lt_events_free(&all);
    }
    if (!rc && cold_spec) {
        rc = lt_catalog_load(&cat, data);
        if (!rc) rc = lt_rec_cold_items(cold_spec, &cat.item_id, ev.n_items, (uint64_t)seed, &cold);
    }
    if (!rc) rc = lt_rec_split_make(&ev, cold, &split);
    rc_cfg.n_items = ev.n_items;
    if (!rc && !no_text) rc = lt_cli_load_text(emb, ev.n_items, 0, &text, &rc_cfg.text_dim);
    seen = rc ? NULL : malloc((size_t)(ev.n_items ? ev.n_items : 1));
    for (int64_t i = 0; seen && i < ev.n_items; i++) seen[i] = split.freq[i] > 0;
    if (!rc) rc = lt_mkdirs(out);
    if (!rc) rc = lt_cli_backend(lt_config_str(c, "train.device", "cpu"), lt_config_str(c, "train.math", NULL), &be);
    lt_comm *comm = NULL; /* mpirun -np N / srun: data-parallel over the job's ranks */
    if (!rc) rc = lt_comm_world(&comm, be);
    o.comm = comm;
    if (!rc) rc = lt_rec_create(&m, be, &rc_cfg, text, seen, lt_rng_key((uint64_t)seed, 0, LT_SITE_INIT));
    if (!rc) rc = lt_rec_set_popularity(m, split.freq);
    if (!rc) {
        lt_rec_config_describe(&rc_cfg, desc, sizeof desc);
        if (keep < 1) snprintf(desc + strlen(desc), sizeof desc - strlen(desc), "\ntime_split=%.17g", keep);
        if (!no_text) snprintf(desc + strlen(desc), sizeof desc - strlen(desc), "\nemb=%s", emb);
        o.trainer.model = desc;
        if (comm->rank == 0)
            lt_info("train: %s on %s; %lld cold items held out", desc, lt_backend_describe(be), (long long)split.n_cold);
        rc = lt_rec_train(m, &split, &o);
    }
    if (rc == LT_TRAIN_STOPPED) {
        printf("train: stopped; run again to continue\n");
        rc = 0;
    } else if (!rc && comm->rank == 0) { /* every rank holds the same weights: rank 0 writes them */
        /* the new-item boost serving will use: given, or the largest validation tolerates */
        if (!lt_config_str(c, "train.cold_boost", NULL) && rc_cfg.text_dim) rc = lt_rec_tune_cold_boost(m, &split, cb_tol, &gamma);
        if (!rc && gamma != 0) snprintf(desc + strlen(desc), sizeof desc - strlen(desc), "\ncold_boost=%g", gamma);
        snprintf(path, sizeof path, "%s/rec.h5", out);
        if (!rc) rc = lt_checkpoint_save(path, lt_rec_params(m), 0, NULL, desc);
        if (!rc) printf("trained recommender: %s (log %s/train_log.tsv, plot %s/train_loss.svg)\n", path, out, out);
    }
    lt_rec_free(m);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    lt_rec_split_free(&split);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    free(cold), free(seen), free(text);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("train", rc) : 0;
}
