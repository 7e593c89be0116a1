/* longtail pretrain: the text encoder learns the catalog's language, then its shoppers' habits.
 * This file only reads the settings; the run itself (masked-LM, then co-interaction contrastive
 * fine-tuning, on the trainer) is src/train/pretrain.c.
 *
 * Everything a resumed run needs is in OUT/pretrain.ckpt.h5 (weights, AdamW moments, step, data
 * cursor, the model's configuration), written atomically every --ckpt-every steps: a killed run
 * started again with the same command continues where the checkpoint left it. The finished model
 * is OUT/config.json + OUT/model.safetensors (Hugging Face's BertModel layout). The loss curve is
 * in OUT/pretrain_log.tsv and OUT/pretrain_loss.svg. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/comm.h"
#include "longtail/error.h"
#include "longtail/pretrain.h"
#include "longtail/trainer.h"

static const lt_cli_opt opts[] = {
    {"--data", "pretrain.data", 0, "folder with vocab.txt and the token shards (from longtail vocab)"},
    {"--out", "pretrain.out", 0, "folder for the model, its checkpoint and the loss log"},
    {"--init", "pretrain.init", 0, "start from this BERT checkpoint (config.json + model.safetensors)"},
    {"--layers", "bert.layers", 0, "encoder layers (default 4)"},
    {"--hidden", "bert.hidden", 0, "hidden size (default 256)"},
    {"--heads", "bert.heads", 0, "attention heads (default 4)"},
    {"--ffn", "bert.ffn", 0, "feed-forward size (default 4 x hidden)"},
    {"--steps", "pretrain.steps", 0, "masked-LM steps (default 2000)"},
    {"--batch", "pretrain.batch", 0, "sequences per step and rank (default 64; global batch: x ranks)"},
    {"--lr", "pretrain.lr", 0, "peak learning rate (default 5e-4)"},
    {"--warmup", "pretrain.warmup", 0, "warm-up steps (default 10% of the steps)"},
    {"--seed", "pretrain.seed", 0, "seed of initialisation, shuffling, masking and dropout (default 1)"},
    {"--contrastive-steps", "pretrain.contrastive_steps", 0, "co-interaction fine-tuning steps after MLM (default 0)"},
    {"--events", "pretrain.events", 0, "events file for the co-interaction pairs (default DATA/events.h5)"},
    {"--pair-batch", "pretrain.pair_batch", 0, "pairs per contrastive step (default 128)"},
    {"--temperature", "pretrain.temperature", 0, "softmax temperature of the contrastive loss (default 0.05)"},
    {"--cold-items", "pretrain.cold_items", 0, "FILE of item ids, or a FRACTION (with --seed), kept out of the contrastive pairs (as train's)"},
    {"--holdout", "pretrain.holdout", 0, "last events of each history kept out of the pairs (default 2: leave-one-out)"},
    {"--accum", "pretrain.accum", 0, "micro-batches per optimizer step (gradient accumulation; default 1)"},
    {"--ckpt-every", "pretrain.ckpt_every", 0, "steps between checkpoints (default 200)"},
    {"--log-every", "pretrain.log_every", 0, "steps between log lines (default 50)"},
    {"--device", "pretrain.device", 0, "cpu or cuda[:N] (default cpu)"},
    {"--dropout", "pretrain.dropout", 0, "hidden dropout of a new encoder (default 0.1)"},
    {"--math", "pretrain.math", 0, "auto (default: bf16 on GPUs and on CPUs with AMX/AVX512-BF16), bf16 (bf16 activations and GEMM operands, fp32 sums and master weights), tf32, fp32"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_pretrain = opts; /* every setting is checked against these (settings.c) */

static int read_settings(const lt_config *c, lt_pretrain_opts *s) {
    memset(s, 0, sizeof *s);
    s->data = lt_config_str(c, "pretrain.data", NULL);
    s->out = lt_config_str(c, "pretrain.out", NULL);
    s->init = lt_config_str(c, "pretrain.init", NULL);
    s->events = lt_config_str(c, "pretrain.events", NULL);
    s->cold_items = lt_config_str(c, "pretrain.cold_items", NULL);
    struct { const char *key; int64_t def, *dst; } ints[] = {
        {"pretrain.steps", 2000, &s->steps}, {"pretrain.batch", 64, &s->batch}, {"pretrain.warmup", -1, &s->warmup},
        {"pretrain.contrastive_steps", 0, &s->contrastive_steps}, {"pretrain.pair_batch", 128, &s->pair_batch},
        {"pretrain.ckpt_every", 200, &s->ckpt_every}, {"pretrain.log_every", 50, &s->log_every},
        {"pretrain.seed", 1, &s->seed}, {"pretrain.stop_after", 0, &s->stop_after}, {"pretrain.holdout", 2, &s->holdout},
        {"pretrain.accum", 1, &s->accum},
        {"bert.layers", 4, &s->layers}, {"bert.hidden", 256, &s->hidden},
        {"bert.heads", 4, &s->heads}, {"bert.ffn", 0, &s->ffn},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) LT_TRY(lt_config_int(c, ints[i].key, ints[i].def, ints[i].dst));
    LT_TRY(lt_config_float(c, "pretrain.lr", 5e-4, &s->lr));
    LT_TRY(lt_config_float(c, "pretrain.temperature", 0.05, &s->temperature));
    LT_TRY(lt_config_float(c, "pretrain.dropout", 0.1, &s->dropout));
    if (s->warmup < 0) s->warmup = s->steps / 10;
    if (s->ffn <= 0) s->ffn = 4 * s->hidden;
    if (s->steps < 0 || s->batch < 1 || s->pair_batch < 2 || s->ckpt_every < 1 || s->log_every < 1 || s->accum < 1 ||
        !(s->lr > 0) || !(s->temperature > 0))
        return lt_error(LT_ECONFIG, "pretrain: steps >= 0, batch >= 1, pair_batch >= 2, accum >= 1, lr > 0, "
                                    "temperature > 0 and positive ckpt/log intervals are required");
    return 0;
}

int lt_cmd_pretrain(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("pretrain", "--data DIR --out DIR [--steps N] [--contrastive-steps N]", opts, argc, argv, &c,
                         &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    lt_pretrain_opts o;
    lt_backend *be = NULL;
    int rc = read_settings(c, &o);
    if (!rc && (!o.data || !o.out)) {
        fprintf(stderr, "longtail pretrain: needs --data DIR and --out DIR (longtail pretrain --help)\n");
        lt_config_free(c);
        return 2;
    }
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */
    if (!rc) rc = lt_cli_backend(lt_config_str(c, "pretrain.device", "cpu"), lt_config_str(c, "pretrain.math", NULL), &be);
    if (!rc) rc = lt_comm_world(&o.comm, be); /* mpirun -np N: data-parallel */
    if (!rc) rc = lt_pretrain(be, &o);
    if (rc == LT_TRAIN_STOPPED) {
        rc = 0;
        printf("pretrain: stopped after step %lld (pretrain.stop_after); run again to continue\n", (long long)o.stop_after);
    } else if (!rc) {
        printf("pretrained model: %s/config.json + model.safetensors; loss log: %s/pretrain_log.tsv\n", o.out, o.out);
    }
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("pretrain", rc) : 0;
}
