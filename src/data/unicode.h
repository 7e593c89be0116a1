/* Character tables for the BERT tokenizer: UTF-8 decoding and the few Unicode properties BERT's
 * BasicTokenizer needs, as Hugging Face tokenizers applies them (tools/gen_unicode.py says how the
 * tables are built and where they differ from Python's BERT). Internal to src/data. */
#ifndef LONGTAIL_DATA_UNICODE_H
#define LONGTAIL_DATA_UNICODE_H

#include <stdint.h>

enum {
    LT_UNI_REMOVE = 1 << 0, /* dropped by clean_text (controls, format, private use, U+0000, U+FFFD) */
    LT_UNI_SPACE = 1 << 1,  /* whitespace: a word boundary */
    LT_UNI_PUNCT = 1 << 2,  /* punctuation: a word of its own */
    LT_UNI_CJK = 1 << 3,    /* CJK ideograph: a word of its own when handle_chinese_chars */
    LT_UNI_MN = 1 << 4,     /* nonspacing mark: dropped after NFD when stripping accents */
    LT_UNI_LOWER = 1 << 5,  /* has a lowercase mapping */
    LT_UNI_DECOMP = 1 << 6, /* has a canonical decomposition */
    LT_UNI_CCC = 1 << 7,    /* canonical combining class is not 0 */
};

#define LT_UNI_MAX 0x10FFFF

extern const uint8_t lt_uni_stage1[(LT_UNI_MAX + 1) >> 8];
extern const uint8_t lt_uni_stage2[];

/* LT_UNI_* flags of a code point (<= LT_UNI_MAX). */
static inline unsigned lt_uni_flags(uint32_t cp) {
    return lt_uni_stage2[(uint32_t)lt_uni_stage1[cp >> 8] << 8 | (cp & 0xFF)];
}

/* Decode one character at s (s < end). Returns the bytes consumed, >= 1. An invalid sequence
 * (stray continuation, overlong form, surrogate, > U+10FFFF, truncated) yields U+FFFD and consumes
 * one byte, so decoding resumes at the next byte: the valid characters that come out are the ones a
 * WHATWG decoder keeps. */
int lt_utf8_decode(const uint8_t *s, const uint8_t *end, uint32_t *cp);

/* Encode cp (<= LT_UNI_MAX) into out; returns 1 to 4. */
int lt_utf8_encode(uint32_t cp, uint8_t out[4]);

/* Lowercase of cp into out; returns the number of code points (1, or 2 for U+0130). */
int lt_uni_lower(uint32_t cp, uint32_t out[2]);

/* Full canonical decomposition of cp into out (canonically ordered); returns 1 to 4. */
int lt_uni_decomp(uint32_t cp, uint32_t out[4]);

/* Combining class of a mark that survives accent stripping (LT_UNI_CCC set, LT_UNI_MN clear); 0 for
 * everything without LT_UNI_CCC. Stripped marks report 1: only "not 0" matters for them. */
int lt_uni_ccc(uint32_t cp);

/* FNV-1a 64 of tests/fixtures/wordpiece/probe_unicode.mjs's output that the tables reproduce. */
uint64_t lt_uni_probe_hash(void);

#endif
