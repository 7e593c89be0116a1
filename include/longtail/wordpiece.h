/* WordPiece tokenizer: BERT's BasicTokenizer (clean text, CJK split, optional lower-casing and
 * accent stripping, whitespace and punctuation split) followed by greedy longest-match-first
 * WordPiece with "##" continuations. Ids match Hugging Face tokenizers' BertNormalizer +
 * BertPreTokenizer + WordPiece on the same vocab.txt (tests/fixtures/wordpiece holds the proof).
 *
 * A loaded vocabulary is read-only: lt_tokenize/lt_encode may run on it from any number of threads
 * at once. They allocate nothing and keep their scratch on the stack.
 *
 * Text is UTF-8. Invalid bytes never stop or crash it: each one reads as U+FFFD, which clean_text
 * removes (the reference drops them too, once its caller has decoded the bytes to a string). Text
 * such as "[CLS]" is ordinary text: special tokens are only added by lt_encode, never matched. */
#ifndef LONGTAIL_WORDPIECE_H
#define LONGTAIL_WORDPIECE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_vocab lt_vocab;

/* Ids of the special tokens ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"); -1 when absent. */
typedef struct {
    int32_t pad, unk, cls, sep, mask;
} lt_special_ids;

/* Load a BERT vocab.txt: one token per line, id = 0-based line number. As in Hugging Face's
 * loader, trailing whitespace (so CRLF) is trimmed, an empty line is an (unmatchable) token that
 * still takes its id, and a token listed twice maps to its last line. A NUL byte, invalid UTF-8 or
 * an empty file is LT_EFORMAT naming file:line. */
int lt_vocab_load(lt_vocab **out, const char *path);

/* Build a vocabulary from n NUL-terminated tokens (id = index); the rules of a loaded line, and
 * no newline inside a token. */
int lt_vocab_create(lt_vocab **out, const char *const *tokens, int64_t n);

/* Write one token per line; to a temporary name first, renamed when complete. */
int lt_vocab_save(const lt_vocab *v, const char *path);

void lt_vocab_free(lt_vocab *v);

int64_t lt_vocab_size(const lt_vocab *v);

/* Id of the token bytes tok[0..len), or -1. */
int32_t lt_vocab_id(const lt_vocab *v, const char *tok, int64_t len);

/* NUL-terminated text of token id, or NULL when id is out of range. */
const char *lt_vocab_token(const lt_vocab *v, int32_t id);

lt_special_ids lt_vocab_specials(const lt_vocab *v);

/* Tokenizer options. Pass NULL for the defaults (bert-base-uncased). */
typedef struct {
    int lowercase;            /* 1: lower-case text (default) */
    int strip_accents;        /* 1: NFD, then drop nonspacing marks; -1: same as lowercase (default) */
    int handle_chinese_chars; /* 1: each CJK ideograph is a word of its own (default) */
    int max_chars_per_word;   /* longer words become [UNK]; 1..LT_WP_MAX_WORD_CHARS, default 100 */
} lt_wp_opts;

#define LT_WP_MAX_WORD_CHARS 512
#define LT_WP_OPTS_DEFAULT {1, -1, 1, 100}

/* Word-piece ids of text[0..len), without special tokens, into ids[0..cap). Sets *n to the number
 * written. Returns 0 when the whole text fit, 1 when it stopped at cap (more pieces would follow),
 * or a negative LT_E* code: LT_ENOENT when a word needs [UNK] and the vocabulary has none. */
int lt_tokenize(const lt_vocab *v, const lt_wp_opts *opts, const char *text, int64_t len,
                int32_t *ids, int64_t cap, int64_t *n);

/* [CLS] pieces [SEP] into ids[0..max_len): the pieces are truncated to max_len - 2, [SEP] is always
 * kept. *n is the length written (2..max_len); no padding. Returns 0, 1 when pieces were cut, or a
 * negative LT_E* code (max_len < 2, no [CLS]/[SEP] in the vocabulary, as lt_tokenize). */
int lt_encode(const lt_vocab *v, const lt_wp_opts *opts, const char *text, int64_t len,
              int64_t max_len, int32_t *ids, int64_t *n);

/* Vocabulary training (the method is described in src/data/wordpiece_train.c). */
typedef struct {
    lt_wp_opts text;        /* normalisation and word split, as for tokenizing (default: uncased) */
    int64_t min_pair_count; /* a pair seen fewer times is never merged (default 2) */
} lt_wp_train_opts;

#define LT_WP_TRAIN_OPTS_DEFAULT {LT_WP_OPTS_DEFAULT, 2}

/* Learn a vocabulary of at most size tokens from n texts (lens NULL: NUL-terminated). Specials
 * come first ([PAD] [UNK] [CLS] [SEP] [MASK] = 0..4), then the alphabet, then merged pieces in the
 * order they were learned. It can end smaller than size when no pair is left to merge. */
int lt_vocab_train(lt_vocab **out, const char *const *texts, const int64_t *lens, int64_t n,
                   int64_t size, const lt_wp_train_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
