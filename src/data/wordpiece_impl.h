/* Shared by the WordPiece tokenizer and its trainer: BERT's BasicTokenizer as a word splitter. */
#ifndef LONGTAIL_DATA_WORDPIECE_IMPL_H
#define LONGTAIL_DATA_WORDPIECE_IMPL_H

#include <stdint.h>

#include "longtail/wordpiece.h"

/* Called once per word with its normalised UTF-8 bytes. nchars counts all its characters, but
 * only the first max_chars_per_word of them are in word[0..len) (longer words become [UNK]).
 * Return 0 to go on, > 0 to stop splitting, < 0 to fail with that code. */
typedef int (*lt_wp_word_fn)(void *ctx, const uint8_t *word, int len, int nchars);

/* FNV-1a over bytes, continuing from h (LT_WP_HASH_BASIS to start): vocabulary lookups hash
 * a piece's prefixes incrementally, and "##" pieces continue from the hash of "##". */
#define LT_WP_HASH_BASIS 2166136261u

static inline uint32_t lt_wp_hash(uint32_t h, const uint8_t *s, int64_t n) {
    for (int64_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

/* Open-addressing slot index of hash h in a table of 1 << bits slots (Fibonacci hashing spreads
 * FNV's weak low bits). */
static inline uint32_t lt_wp_slot(uint32_t h, int bits) { return (uint32_t)(h * 2654435769u) >> (32 - bits); }

/* opts (NULL: defaults) with strip_accents resolved; LT_EINVAL when out of range. */
int lt_wp_resolve_opts(const lt_wp_opts *opts, lt_wp_opts *out);

/* Normalise text and split it into words, calling fn for each. opts must be resolved. Returns the
 * first non-zero value fn returned, else 0. */
int lt_wp_split(const lt_wp_opts *opts, const uint8_t *text, int64_t len, lt_wp_word_fn fn, void *ctx);

#endif
