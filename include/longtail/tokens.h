/* Token shards: the catalog's text as WordPiece ids, one shard per catalog shard.
 *
 * DIR/tokens-NNNNN.h5, schema "tokens/1":
 *   ids/values i32, ids/offsets i64[n+1]   [CLS] text [SEP] of item item_begin + i (no padding)
 *   attributes: item_begin, n_items, n_items_total, shard_index, shard_count, max_len,
 *               vocab_size, vocab_hash (FNV-1a of vocab.txt's tokens: a mismatch is refused),
 *               fields (which catalog fields made the text), truncated (items cut at max_len) */
#ifndef LONGTAIL_TOKENS_H
#define LONGTAIL_TOKENS_H

#include <stdint.h>

#include "longtail/data.h"
#include "longtail/wordpiece.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_token_shard {
    int64_t item_begin, n, n_total, shard_index, shard_count, max_len, vocab_size;
    uint64_t vocab_hash;
    int32_t *ids; /* values */
    int64_t *off; /* n + 1 */
} lt_token_shard;

int lt_token_shard_read(const char *path, lt_token_shard *t);
void lt_token_shard_free(lt_token_shard *t);

/* Hash of a vocabulary's tokens, recorded in token shards so a loader can refuse a mismatch. */
uint64_t lt_vocab_hash(const lt_vocab *v);

typedef struct lt_tokenize_opts {
    int64_t max_len;     /* ids per item including [CLS] and [SEP] (default 64) */
    const char *fields;  /* comma-separated catalog fields joined into the text (default "title,category") */
    int64_t items_per_shard;
    lt_wp_opts wp;
} lt_tokenize_opts;

typedef struct lt_tokenize_stats {
    int64_t items, tokens, truncated, unk, empty;
    int64_t len_p50, len_p90, len_p99, len_max;
    double len_mean, seconds, mb_per_s;
} lt_tokenize_stats;

void lt_tokenize_opts_init(lt_tokenize_opts *o);

/* The catalog fields named in spec ("title,category"), in order, into out[4]; returns how many. */
int lt_catalog_fields(const char *spec, const lt_catalog *c, const lt_strs **out);
/* Item i's text: the fields joined with " . ", NUL-terminated in *buf (grown as needed).
 * Returns its length, or (size_t)-1 when out of memory. */
size_t lt_item_text(const lt_strs *const *fields, int nf, int64_t i, char **buf, size_t *cap);
/* Tokenize every item of the catalog (in parallel) and write DIR/tokens-NNNNN.h5. */
int lt_tokenize_catalog(const lt_catalog *c, const lt_vocab *v, const lt_tokenize_opts *o, const char *dir,
                        lt_tokenize_stats *st);

/* Every item's token ids in memory (the classifier and the contrastive phase of pretraining read
 * items anywhere in the catalog). */
typedef struct lt_token_set {
    int64_t n_items, vocab_size;
    uint64_t vocab_hash;
    int32_t *ids; /* item i: ids[off[i] .. off[i + 1]) */
    int64_t *off;
} lt_token_set;

/* Every DIR/tokens-NNNNN.h5, checked to be one complete set made with one vocabulary. */
int lt_token_set_load(const char *dir, lt_token_set *t);
void lt_token_set_free(lt_token_set *t);

#ifdef __cplusplus
}
#endif
#endif
