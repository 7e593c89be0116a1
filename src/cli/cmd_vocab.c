/* longtail vocab: a WordPiece vocabulary for the catalog (a BERT vocab.txt, or one trained on the
 * catalog's text), then every item tokenized into token shards beside the catalog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/tokens.h"
#include "longtail/wordpiece.h"

static const lt_cli_opt opts[] = {
    {"--data", "vocab.data", 0, "folder with the catalog shards (from longtail import); outputs go here too"},
    {"--bert-vocab", "vocab.bert_vocab", 0, "use this BERT vocab.txt (e.g. bert-base-uncased)"},
    {"--train", "vocab.train", 1, "train a WordPiece vocabulary on the catalog text instead"},
    {"--size", "vocab.size", 0, "vocabulary size when training (default 8000)"},
    {"--max-len", "tokens.max_len", 0, "ids per item with [CLS] and [SEP] (default 64)"},
    {"--fields", "tokens.fields", 0, "catalog fields joined into an item's text (default title,category)"},
    {"--cased", "tokens.cased", 1, "keep case and accents (for cased BERT vocabularies)"},
    {"--items-per-shard", "tokens.items_per_shard", 0, "items per token shard (default 100000)"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_vocab = opts; /* every setting is checked against these (settings.c) */

static int train(const lt_catalog *cat, const char *fields_spec, int64_t size, const lt_wp_opts *wp, lt_vocab **out) {
    const lt_strs *f[4];
    int nf = lt_catalog_fields(fields_spec, cat, f);
    if (nf < 0) return nf;
    char **texts = calloc((size_t)(cat->n ? cat->n : 1), sizeof *texts);
    int64_t *lens = calloc((size_t)(cat->n ? cat->n : 1), sizeof *lens);
    int rc = texts && lens ? 0 : lt_error(LT_ENOMEM, "vocab: out of memory");
    for (int64_t i = 0; i < cat->n && !rc; i++) {
        size_t cap = 0;
        size_t len = lt_item_text(f, nf, i, &texts[i], &cap);
        if (len == (size_t)-1) rc = lt_error(LT_ENOMEM, "vocab: out of memory");
        lens[i] = (int64_t)len;
    }
    lt_wp_train_opts to = LT_WP_TRAIN_OPTS_DEFAULT;
    to.text = *wp;
    double t0 = lt_seconds();
    if (!rc) rc = lt_vocab_train(out, (const char *const *)texts, lens, cat->n, size, &to);
    if (!rc) printf("trained a WordPiece vocabulary of %lld tokens on %lld items in %.1fs\n",
                    (long long)lt_vocab_size(*out), (long long)cat->n, lt_seconds() - t0);
    for (int64_t i = 0; texts && i < cat->n; i++) free(texts[i]);
    free(texts), free(lens);
    return rc;
}

int lt_cmd_vocab(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("vocab", "--data DIR (--bert-vocab vocab.txt | --train [--size N])", opts, argc, argv, &c, &pos,
                         &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "vocab.data", NULL), *bert = lt_config_str(c, "vocab.bert_vocab", NULL);
    lt_tokenize_opts to;
    lt_tokenize_opts_init(&to);
    to.fields = lt_config_str(c, "tokens.fields", to.fields);
    int do_train, cased, rc;
    int64_t size;
    if ((rc = lt_config_bool(c, "vocab.train", 0, &do_train)) < 0 || (rc = lt_config_int(c, "vocab.size", 8000, &size)) < 0 ||
        (rc = lt_config_int(c, "tokens.max_len", to.max_len, &to.max_len)) < 0 ||
        (rc = lt_config_bool(c, "tokens.cased", 0, &cased)) < 0 ||
        (rc = lt_config_int(c, "tokens.items_per_shard", to.items_per_shard, &to.items_per_shard)) < 0) {
        lt_config_free(c);
        return lt_cli_fail("vocab", rc) + 1;
    }
    if (!data || (!bert == !do_train)) {
        fprintf(stderr, "longtail vocab: needs --data DIR and exactly one of --bert-vocab FILE or --train "
                        "(longtail vocab --help)\n");
        lt_config_free(c);
        return 2;
    }
    if (LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */
    to.wp.lowercase = !cased;
    to.wp.strip_accents = -1;
    lt_catalog cat;
    lt_vocab *v = NULL;
    rc = lt_catalog_load(&cat, data);
    if (!rc) rc = bert ? lt_vocab_load(&v, bert) : train(&cat, to.fields, size, &to.wp, &v);
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", data);
    if (!rc) rc = lt_vocab_save(v, path);
    lt_tokenize_stats st;
    if (!rc) rc = lt_tokenize_catalog(&cat, v, &to, data, &st);
    if (!rc) {
        printf("vocabulary: %s (%lld tokens)\n", path, (long long)lt_vocab_size(v));
        printf("tokenized %lld items in %.1fs (%.1f MB/s): %lld ids, length mean %.1f, p50 %lld, p90 %lld, p99 %lld, "
               "max %lld (cap %lld)\n", (long long)st.items, st.seconds, st.mb_per_s, (long long)st.tokens, st.len_mean,
               (long long)st.len_p50, (long long)st.len_p90, (long long)st.len_p99, (long long)st.len_max,
               (long long)to.max_len);
        printf("  truncated %lld items (%.1f%%), [UNK] %.2f%% of word pieces, %lld items with no text\n",
               (long long)st.truncated, st.items ? 100.0 * (double)st.truncated / (double)st.items : 0,
               st.tokens > 2 * st.items ? 100.0 * (double)st.unk / (double)(st.tokens - 2 * st.items) : 0,
               (long long)st.empty);
    }
    lt_vocab_free(v);
    lt_catalog_free(&cat);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("vocab", rc) : 0;
}
