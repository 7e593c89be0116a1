/* libFuzzer target: arbitrary bytes through the WordPiece tokenizer and trainer.
 *
 *   CC=clang cmake -B build-fuzz -DLONGTAIL_FUZZ=ON -DLONGTAIL_CUDA=OFF -DLONGTAIL_HDF5=OFF
 *   make -C build-fuzz fuzz_wordpiece && build-fuzz/tests/fuzz_wordpiece tests/fuzz/corpus/wordpiece
 *
 * The first two bytes pick the options and the output capacity; the rest is the text. Besides
 * "no crash, no out-of-bounds access" (ASan, UBSan) it checks what must hold for any input:
 * status codes, ids in range, a capped lt_tokenize is a prefix of the uncapped one, lt_encode's
 * [CLS] ... [SEP] frame, and a vocabulary trained on the text tokenizes it without [UNK].
 * test_wordpiece_corpus replays tests/fuzz/corpus/wordpiece through the same function. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/wordpiece.h"

#define REQUIRE(cond)                                                                   \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_wordpiece: %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, \
                    lt_last_error());                                                   \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* A small vocabulary with multi-byte, "##", CJK, Hangul-jamo and mark-carrying pieces. */
static const char *const tokens[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "e", "##a", "##b", "##c", "##e", "ab",
    "abc", "##bc", "##abc", "un", "##want", "##ed", "!", ",", ".", "#", "##", "###", "é", "##é", "中", "日",
    "ᄒ", "##ᅡ", "##ᆫ", "x\xf0\x9d\x85\xa5\xf0\x9d\x85\xad", "##\xf0\x9d\x85\xa5", "i\xcc\x87", "σ", "##σ",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

static lt_vocab *vocab(void) {
    static lt_vocab *v;
    if (!v) REQUIRE(lt_vocab_create(&v, tokens, sizeof tokens / sizeof tokens[0]) == 0);
    return v;
}

static void check_ids(const lt_vocab *v, const int32_t *ids, int64_t n) {
    for (int64_t i = 0; i < n; i++) REQUIRE(ids[i] >= 0 && ids[i] < lt_vocab_size(v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    lt_wp_opts o = LT_WP_OPTS_DEFAULT;
    o.lowercase = data[0] & 1;
    o.strip_accents = (data[0] >> 1 & 3) == 3 ? -1 : data[0] >> 1 & 1;
    o.handle_chinese_chars = data[0] >> 3 & 1;
    o.max_chars_per_word = (data[0] >> 4) == 15 ? LT_WP_MAX_WORD_CHARS : 1 + (data[0] >> 4) * 8;
    int64_t cap = data[1] % 64;
    const char *text = (const char *)data + 2;
    int64_t len = (int64_t)size - 2;
    const lt_vocab *v = vocab();

    /* Uncapped: a byte yields at most a few characters (decomposition, U+0130), each at most one
     * piece, so 4 per byte is room enough. */
    int64_t room = 4 * len + 4;
    int32_t *all = malloc((size_t)room * sizeof *all);
    int64_t n_all;
    REQUIRE(lt_tokenize(v, &o, text, len, all, room, &n_all) == 0);
    check_ids(v, all, n_all);

    int32_t ids[64 + 2]; /* cap pieces, or cap + 2 for lt_encode */
    int64_t n;
    int rc = lt_tokenize(v, &o, text, len, ids, cap, &n);
    REQUIRE(rc == (n_all > cap) && n == (n_all < cap ? n_all : cap));
    REQUIRE(memcmp(ids, all, (size_t)n * sizeof *ids) == 0);

    int64_t max_len = cap + 2;
    rc = lt_encode(v, &o, text, len, max_len, ids, &n);
    REQUIRE(rc == (n_all > cap) && n == 2 + (n_all < cap ? n_all : cap));
    REQUIRE(ids[0] == 2 && ids[n - 1] == 3 && memcmp(ids + 1, all, (size_t)(n - 2) * sizeof *ids) == 0);

    /* A vocabulary trained on the text covers it: every character is in its alphabet. Only when
     * no word can exceed max_chars_per_word and the alphabet was not cut (it ends below size). */
    if (len <= o.max_chars_per_word && (data[1] & 0xC0) == 0) {
        lt_wp_train_opts to = {o, 1 + (data[1] >> 4 & 3)};
        lt_vocab *tv;
        REQUIRE(lt_vocab_train(&tv, &text, &len, 1, 200, &to) == 0);
        REQUIRE(lt_tokenize(tv, &o, text, len, all, room, &n_all) == 0);
        check_ids(tv, all, n_all);
        if (lt_vocab_size(tv) < 200)
            for (int64_t i = 0; i < n_all; i++) REQUIRE(all[i] != lt_vocab_specials(tv).unk);
        lt_vocab_free(tv);
    }
    free(all);
    return 0;
}
