/* longtail embed: re-embed a whole catalog with a text encoder, shard by shard, resumable.
 * The token shards come from `longtail vocab`; the model from `longtail pretrain` (or any BERT
 * checkpoint in the Hugging Face layout: config.json + model.safetensors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/textio.h"
#include "longtail/bert.h"
#include "longtail/embed.h"
#include "longtail/comm.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/tokens.h"
#include "longtail/vocab_bind.h"

static const lt_cli_opt opts[] = {
    {"--data", "embed.data", 0, "folder with the token shards (from longtail vocab)"},
    {"--model", "embed.model", 0, "encoder: a folder with config.json + model.safetensors"},
    {"--out", "embed.out", 0, "folder for the embedding shards (default: DATA/emb)"},
    {"--batch", "embed.batch", 0, "sequences per batch (default 256)"},
    {"--max-tokens", "embed.max_tokens", 0, "padded tokens per batch (default 16384)"},
    {"--bf16", "embed.bf16", 1, "store embeddings as bf16 (half the disk; default f32)"},
    {"--pooling", "embed.pooling", 0, "mean (over the real tokens) or cls (the [CLS] state); default: the model's config.json "
                                       "longtail_pooling, else mean"},
    {"--device", "embed.device", 0, "cpu or cuda[:N] (default cpu)"},
    {"--math", "embed.math", 0, "auto (default: bf16 on GPUs and on CPUs with AMX/AVX512-BF16), bf16 (bf16 activations and GEMM operands, fp32 sums), tf32, fp32"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_embed = opts; /* every setting is checked against these (settings.c) */


int lt_cmd_embed(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("embed", "--data DIR --model DIR [--out DIR]", opts, argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "embed.data", NULL), *model = lt_config_str(c, "embed.model", NULL);
    char out_default[4096];
    lt_embed_opts o;
    lt_embed_opts_init(&o);
    int bf16 = 0, rc;
    if ((rc = lt_config_int(c, "embed.batch", o.max_batch, &o.max_batch)) < 0 ||
        (rc = lt_config_int(c, "embed.max_tokens", o.max_tokens, &o.max_tokens)) < 0 ||
        (rc = lt_config_bool(c, "embed.bf16", 0, &bf16)) < 0 ||
        (rc = lt_config_int(c, "embed.stop_after", 0, &o.stop_after)) < 0) { /* shards, as if killed: tests resume */
        lt_config_free(c);
        return lt_cli_fail("embed", rc) + 1;
    }
    if (!data || !model || o.max_batch < 1 || o.max_tokens < 1) {
        fprintf(stderr, "longtail embed: needs --data DIR and --model DIR, and a positive batch (longtail embed --help)\n");
        lt_config_free(c);
        return 2;
    }
    snprintf(out_default, sizeof out_default, "%s/emb", data);
    const char *out = lt_config_str(c, "embed.out", out_default);
    o.stored = bf16 ? LT_BF16 : LT_F32;
    const char *pooling = lt_config_str(c, "embed.pooling", NULL);
    if (pooling && strcmp(pooling, "mean") && strcmp(pooling, "cls"))
        rc = lt_error(LT_ECONFIG, "embed.pooling: expected mean or cls, got '%s'", pooling);
    if (rc < 0 || (rc = lt_cli_out_dir("embed.out", out)) < 0) {
        lt_config_free(c);
        return lt_cli_fail("embed", rc);
    }
    if (LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */
    lt_backend *be = NULL;
    lt_bert *m = NULL;
    rc = lt_cli_backend(lt_config_str(c, "embed.device", "cpu"), lt_config_str(c, "embed.math", NULL), &be);
    if (!rc) rc = lt_bert_load(&m, be, model, 0);
    if (!rc && pooling) rc = lt_bert_set_pool(m, strcmp(pooling, "cls") ? LT_BERT_POOL_MEAN : LT_BERT_POOL_CLS);
    if (!rc) rc = lt_model_vocab_check(model, data, lt_bert_get_config(m)->vocab); /* token ids mean nothing under another */
    /* the longest token row of the catalog bounds T */
    int64_t max_len = 0;
    if (!rc) {
        char p[8192];
        lt_token_shard t;
        snprintf(p, sizeof p, "%s/tokens-00000.h5", data);
        rc = lt_token_shard_read(p, &t);
        if (!rc) max_len = t.max_len, lt_token_shard_free(&t);
    }
    const lt_bert_config *bc = m ? lt_bert_get_config(m) : NULL;
    /* what the shards record as their source: a restarted run keeps a finished shard only when this matches */
    char made_by[768] = "";
    if (!rc) {
        char p[8192];
        uint64_t hw = 0, hc = 0;
        snprintf(p, sizeof p, "%s/model.safetensors", model);
        rc = lt_file_fnv1a(p, &hw);
        snprintf(p, sizeof p, "%s/config.json", model);
        if (!rc) rc = lt_file_fnv1a(p, &hc);
        if (!rc)
            snprintf(made_by, sizeof made_by, "bert L%lld H%lld A%lld, weights fnv1a %016llx config %016llx, %s pooling, %s math on %s",
                     (long long)bc->layers, (long long)bc->hidden, (long long)bc->heads, (unsigned long long)hw,
                     (unsigned long long)hc, bc->pool == LT_BERT_POOL_CLS ? "cls" : "mean",
                     lt_math_name(lt_backend_math(be)), lt_backend_name(be));
    }
    if (!rc && max_len > bc->max_pos)
        rc = lt_error(LT_ECONFIG, "token shards hold up to %lld ids, the model has %lld positions", (long long)max_len,
                      (long long)bc->max_pos);
    if (!rc) rc = lt_bert_reserve(m, o.max_batch, max_len, 0, 0);
    lt_embed_stats st;
    int rank0 = 1; /* the summary is rank 0's to print */
    if (!rc) {
        char desc[512];
        snprintf(desc, sizeof desc, "bert L%lld H%lld A%lld from %s", (long long)bc->layers, (long long)bc->hidden,
                 (long long)bc->heads, model);
        lt_encoder enc = {.ctx = m, .dim = bc->hidden, .normalized = bc->normalize, .model = made_by, .be = be,
                          .encode = lt_bert_encode};
        lt_comm *comm = NULL; /* mpirun -np N: shards split across the ranks */
        rc = lt_comm_world(&comm, be);
        if (!rc) {
            o.rank = comm->rank, o.ranks = comm->size, o.progress = o.progress && comm->rank == 0;
            rank0 = comm->rank == 0;
            if (comm->rank == 0)
                lt_info("embed: %s, %s math, on %s%s", desc, lt_math_name(lt_backend_math(be)), lt_backend_describe(be),
                        comm->size > 1 ? " (each rank)" : "");
            rc = lt_embed_run(data, out, &enc, &o, &st);
        }
        if (!rc && comm->size > 1) { /* every rank's shards are written: the totals, on rank 0 */
            int64_t v[5] = {st.items, st.shards, st.skipped, st.tokens, st.padded};
            rc = lt_comm_sum_i64(comm, v, 5);
            st.items = v[0], st.shards = v[1], st.skipped = v[2], st.tokens = v[3], st.padded = v[4];
            st.items_per_s = st.seconds > 0 ? (double)st.items / st.seconds : 0;
        }
    }
    if (!rc && rank0) {
        printf("embedded %lld items in %.1fs (%.0f items/s; %lld shards written, %lld already done) -> %s\n",
               (long long)st.items, st.seconds, st.items_per_s, (long long)st.shards, (long long)st.skipped, out);
        if (st.tokens)
            printf("  %lld tokens, padding %.1f%%\n", (long long)st.tokens,
                   100.0 * ((double)st.padded / (double)st.tokens - 1.0));
    }
    lt_bert_free(m);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("embed", rc) : 0;
}
