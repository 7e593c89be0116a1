/* WordPiece tokenizer tests.
 *
 * Without ../shared/datasets: unit tests on tiny inline vocabularies (longest match, "##",
 * [UNK], max_chars_per_word, truncation, vocab file errors, save/load, training, threads) and an
 * exhaustive check of the Unicode tables against the reference's probe (its hash). With it: the
 * golden fixture (tests/fixtures/wordpiece/golden.tsv, ids from Hugging Face tokenizers on
 * bert-base-uncased/vocab.txt) must match id for id, and a vocabulary trained on the Beauty
 * titles must cover them. Exit 77 (skipped) when the datasets are absent and the rest passed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beauty.h"
#include "data/unicode.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/wordpiece.h"
#include "testutil.h"


/* Ids as "1 2 3". */
static void ids_str(const int32_t *ids, int64_t n, char *out, size_t cap) {
    size_t k = 0;
    out[0] = 0;
    for (int64_t i = 0; i < n && k + 12 < cap; i++) k += (size_t)snprintf(out + k, cap - k, i ? " %d" : "%d", ids[i]);
}

/* Tokenize text and compare with the expected ids ("" for none). */
static void expect_tokens(const lt_vocab *v, const lt_wp_opts *o, const char *text, const char *want, int line) {
    int32_t ids[256];
    int64_t n;
    int rc = lt_tokenize(v, o, text, (int64_t)strlen(text), ids, 256, &n);
    char got[2048];
    ids_str(ids, n, got, sizeof got);
    if (rc != 0 || strcmp(got, want) != 0) {
        tu_failures++;
        fprintf(stderr, "line %d: \"%s\": want [%s] got [%s] rc=%d %s\n", line, text, want, got, rc,
                rc < 0 ? lt_last_error() : "");
    }
}
#define EXPECT(v, o, text, want) expect_tokens(v, o, text, want, __LINE__)

/* ---- unit tests --------------------------------------------------------------------------- */

static const char *const tiny_tokens[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",                       /* 0..4 */
    "un", "##want", "##ed", "wa", "un##", "runn", "##ing", ",", "want", /* 5..13 */
    "##aff", "##able", "unaff", "a", "##a", "é", "e", "中", "!", "##é",  /* 14..23 */
    "hello", "##lo", "hel", "x", "##x",                                  /* 24..28 */
};
enum { TINY_N = sizeof tiny_tokens / sizeof tiny_tokens[0] };

static void test_wordpiece_basics(void) {
    lt_vocab *v;
    CHECK_MSG(lt_vocab_create(&v, tiny_tokens, TINY_N) == 0, "%s", lt_last_error());
    CHECK_MSG(lt_vocab_size(v) == TINY_N, "size");
    lt_special_ids sp = lt_vocab_specials(v);
    CHECK_MSG(sp.pad == 0 && sp.unk == 1 && sp.cls == 2 && sp.sep == 3 && sp.mask == 4, "specials");
    CHECK_MSG(lt_vocab_id(v, "##want", 6) == 6 && lt_vocab_id(v, "want", 4) == 13, "lookup");
    CHECK_MSG(lt_vocab_id(v, "wan", 3) == -1 && lt_vocab_id(v, "", 0) == -1, "absent");
    CHECK_MSG(strcmp(lt_vocab_token(v, 11), "##ing") == 0 && !lt_vocab_token(v, TINY_N) && !lt_vocab_token(v, -1), "token");

    EXPECT(v, NULL, "unwanted running", "5 6 7 10 11");  /* BERT's own example */
    EXPECT(v, NULL, "UNwanted,RUNNING", "5 6 7 12 10 11");
    EXPECT(v, NULL, "unaffable", "16 15");               /* longest first: unaff + ##able */
    EXPECT(v, NULL, "unwantedx", "5 6 7 28");
    EXPECT(v, NULL, "unwantedz", "1");                   /* one unmatched part: the word is [UNK] */
    EXPECT(v, NULL, "hello hellolo", "24 24 25");
    EXPECT(v, NULL, "aaa", "17 18 18");
    EXPECT(v, NULL, "", "");
    EXPECT(v, NULL, " \t\n ", "");
    EXPECT(v, NULL, "É", "20");                          /* lower-cased, accent stripped */
    EXPECT(v, NULL, "ae\xcc\x81", "1");                  /* a + e + U+0301: "##e" is missing */
    EXPECT(v, NULL, "x中x", "27 21 27");                 /* a CJK ideograph is a word */
    EXPECT(v, NULL, "x!x", "27 22 27");
    EXPECT(v, NULL, "un##", "5 1 1");                    /* '#' is punctuation: "un##" never matches */
    EXPECT(v, NULL, "[CLS]", "1 1 1");                   /* specials in text are plain text */
    EXPECT(v, NULL, "\xff\xfe" "a\x80" "a", "17 18");    /* invalid bytes are dropped */

    lt_wp_opts cased = {0, -1, 1, 100};
    EXPECT(v, &cased, "É", "1");
    EXPECT(v, &cased, "é", "19");
    EXPECT(v, &cased, "aé", "17 23");
    lt_wp_opts strip_only = {0, 1, 1, 100};
    EXPECT(v, &strip_only, "aé", "1");
    lt_wp_opts no_cjk = {1, -1, 0, 100};
    EXPECT(v, &no_cjk, "x中x", "1");

    /* max_chars_per_word counts characters of the normalised word; longer is [UNK]. */
    lt_wp_opts max5 = {1, -1, 1, 5};
    EXPECT(v, &max5, "hello", "24");
    EXPECT(v, &max5, "hellolo", "1");
    EXPECT(v, &max5, "aaaaa aaaaaa", "17 18 18 18 18 1");
    lt_wp_opts bad = {1, -1, 1, 0};
    int32_t ids[8];
    int64_t n;
    CHECK_MSG(lt_tokenize(v, &bad, "a", 1, ids, 8, &n) == LT_EINVAL, "max_chars_per_word=0");
    bad.max_chars_per_word = LT_WP_MAX_WORD_CHARS + 1;
    CHECK_MSG(lt_tokenize(v, &bad, "a", 1, ids, 8, &n) == LT_EINVAL, "max_chars_per_word too large");

    /* Truncation: lt_tokenize stops at cap, lt_encode keeps [SEP]. */
    const char *text = "a hello unwanted a";
    int64_t len = (int64_t)strlen(text);
    CHECK_MSG(lt_tokenize(v, NULL, text, len, ids, 6, &n) == 0 && n == 6, "exact fit n=%lld", (long long)n);
    CHECK_MSG(lt_tokenize(v, NULL, text, len, ids, 5, &n) == 1 && n == 5, "cut n=%lld", (long long)n);
    CHECK_MSG(lt_tokenize(v, NULL, text, len, ids, 3, &n) == 1 && n == 3 && ids[2] == 5, "cut mid-word");
    CHECK_MSG(lt_tokenize(v, NULL, text, len, NULL, 0, &n) == 1 && n == 0, "cap 0");
    CHECK_MSG(lt_encode(v, NULL, text, len, 8, ids, &n) == 0 && n == 8 && ids[0] == 2 && ids[7] == 3, "encode fits");
    CHECK_MSG(lt_encode(v, NULL, text, len, 4, ids, &n) == 1 && n == 4 && ids[0] == 2 && ids[1] == 17 &&
              ids[2] == 24 && ids[3] == 3, "encode cut");
    CHECK_MSG(lt_encode(v, NULL, text, len, 2, ids, &n) == 1 && n == 2 && ids[1] == 3, "encode [CLS][SEP]");
    CHECK_MSG(lt_encode(v, NULL, "", 0, 2, ids, &n) == 0 && n == 2, "encode empty");
    CHECK_MSG(lt_encode(v, NULL, text, len, 1, ids, &n) == LT_EINVAL, "max_len 1");
    lt_vocab_free(v);

    /* No [UNK]: fine until a word needs it; no [CLS]: lt_encode fails. */
    static const char *const no_unk[] = {"a", "##b"};
    CHECK_MSG(lt_vocab_create(&v, no_unk, 2) == 0, "%s", lt_last_error());
    CHECK_MSG(lt_tokenize(v, NULL, "ab a", 4, ids, 8, &n) == 0 && n == 3, "no [UNK] needed");
    CHECK_MSG(lt_tokenize(v, NULL, "ab c", 4, ids, 8, &n) == LT_ENOENT && strstr(lt_last_error(), "[UNK]"),
          "missing [UNK]: %s", lt_last_error());
    CHECK_MSG(lt_encode(v, NULL, "a", 1, 8, ids, &n) == LT_ENOENT && strstr(lt_last_error(), "[CLS]"), "no [CLS]");
    lt_vocab_free(v);
}

/* NFD puts marks in canonical order before stripping; spacing marks with a nonzero class survive
 * it, so their order shows. Expected results are the reference's (BertNormalizer outputs noted). */
static void test_canonical_order(void) {
#define STEM "\xf0\x9d\x85\xa5" /* U+1D165, class 216 */
#define DOT "\xf0\x9d\x85\xad"  /* U+1D16D, class 226 */
    static const char *const toks[] = {"[UNK]", "x" STEM DOT, "x" DOT, "##" STEM, "x" STEM STEM DOT DOT,
                                       "x" STEM DOT STEM DOT};
    lt_vocab *v;
    CHECK_MSG(lt_vocab_create(&v, toks, 6) == 0, "%s", lt_last_error());
    EXPECT(v, NULL, "x" DOT STEM, "1");                        /* -> x 1d165 1d16d */
    EXPECT(v, NULL, "x" DOT "\xe2\x80\x8d" STEM, "1");         /* ZWJ is removed before NFD */
    EXPECT(v, NULL, "x" DOT "\xcc\x81" STEM, "1");             /* U+0301 (class 230) is dropped */
    EXPECT(v, NULL, "x" DOT "\xe0\xb8\xb1" STEM, "2 3");       /* U+0E31 (class 0) ends the run */
    EXPECT(v, NULL, "x" DOT STEM DOT STEM, "4");               /* stable: 216 216 226 226 */
    EXPECT(v, NULL, "x" DOT "\xcc\x80" STEM "\xe0\xb8\xb1" DOT STEM, "5");
    lt_wp_opts keep = {1, 0, 1, 100};                          /* no NFD, no reordering */
    EXPECT(v, &keep, "x" DOT STEM, "2 3");
    lt_vocab_free(v);
#undef STEM
#undef DOT
}

/* ---- vocabulary files ------------------------------------------------------------------------ */

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

static void expect_load_error(const char *dir, const char *data, size_t n, int code, const char *where) {
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    write_file(path, data, n);
    lt_vocab *v = NULL;
    int rc = lt_vocab_load(&v, path);
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, where);
    CHECK_MSG(rc == code && !v && strstr(lt_last_error(), want), "rc=%d (%s), want %d and \"%s\"", rc,
          lt_last_error(), code, want);
    lt_vocab_free(v);
}

static void test_vocab_files(void) {
    char dir[] = "/tmp/lt_wordpiece_XXXXXX";
    CHECK_MSG(mkdtemp(dir) != NULL, "mkdtemp");
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    snprintf(path2, sizeof path2, "%s/saved.txt", dir);

    /* CRLF and trailing whitespace trimmed, an empty line keeps its id, duplicates: last wins,
     * no newline at the end is fine. */
    const char ok[] = "[PAD]\r\n[UNK]\r\nfoo  \r\n\r\n##bar\nfoo\nbaz";
    write_file(path, ok, sizeof ok - 1);
    lt_vocab *v;
    CHECK_MSG(lt_vocab_load(&v, path) == 0, "%s", lt_last_error());
    if (v) {
        CHECK_MSG(lt_vocab_size(v) == 7, "size %lld", (long long)lt_vocab_size(v));
        CHECK_MSG(lt_vocab_id(v, "foo", 3) == 5, "duplicate -> last line, got %d", lt_vocab_id(v, "foo", 3));
        CHECK_MSG(lt_vocab_id(v, "baz", 3) == 6 && lt_vocab_id(v, "##bar", 5) == 4, "ids");
        CHECK_MSG(strcmp(lt_vocab_token(v, 3), "") == 0 && strcmp(lt_vocab_token(v, 2), "foo") == 0, "tokens");
        CHECK_MSG(lt_vocab_specials(v).unk == 1 && lt_vocab_specials(v).cls == -1, "specials");
        EXPECT(v, NULL, "FOObar baz", "5 4 6");
        CHECK_MSG(lt_vocab_save(v, path2) == 0, "%s", lt_last_error());
        lt_vocab *w;
        CHECK_MSG(lt_vocab_load(&w, path2) == 0, "%s", lt_last_error());
        if (w) {
            CHECK_MSG(lt_vocab_size(w) == lt_vocab_size(v), "round trip size");
            for (int32_t i = 0; i < lt_vocab_size(v); i++)
                CHECK_MSG(strcmp(lt_vocab_token(v, i), lt_vocab_token(w, i)) == 0, "round trip token %d", i);
            CHECK_MSG(lt_vocab_id(w, "foo", 3) == 5, "round trip duplicate");
            lt_vocab_free(w);
        }
        lt_vocab_free(v);
    }

    const char bad_utf8[] = "a\nb\nc\xff\n";
    expect_load_error(dir, bad_utf8, sizeof bad_utf8 - 1, LT_EFORMAT, ":3: invalid UTF-8");
    const char nul[] = "a\nb\0c\n";
    expect_load_error(dir, nul, sizeof nul - 1, LT_EFORMAT, ":2: NUL");
    const char surrogate[] = "a\n\xed\xa0\x80\n";
    expect_load_error(dir, surrogate, sizeof surrogate - 1, LT_EFORMAT, ":2: invalid UTF-8");
    expect_load_error(dir, "", 0, LT_EFORMAT, ": no tokens");
    remove(path);
    lt_vocab *v2 = NULL;
    CHECK_MSG(lt_vocab_load(&v2, path) == LT_ENOENT && strstr(lt_last_error(), path), "missing: %s", lt_last_error());
    remove(path2);
    rmdir(dir);
}

/* ---- Unicode tables vs the reference ---------------------------------------------------------- */

/* The line probe_unicode.mjs writes for cp, from our tables ("" when trivial). */
static int probe_line(uint32_t cp, char *out, size_t cap) {
    unsigned f = lt_uni_flags(cp);
    int k = snprintf(out, cap, "%x", cp), start = k;
    if (f & LT_UNI_REMOVE)
        k += snprintf(out + k, cap - k, " C=");
    else if ((f & LT_UNI_SPACE) && cp != 0x20)
        k += snprintf(out + k, cap - k, " C=20");
    if (f & LT_UNI_CJK) k += snprintf(out + k, cap - k, " K");
    uint32_t d[4], s[4];
    int nd = lt_uni_decomp(cp, d), ns = 0;
    for (int i = 0; i < nd; i++)
        if (!(lt_uni_flags(d[i]) & LT_UNI_MN)) s[ns++] = d[i];
    if (ns != 1 || s[0] != cp) {
        k += snprintf(out + k, cap - k, " S=");
        for (int i = 0; i < ns; i++) k += snprintf(out + k, cap - k, i ? ",%x" : "%x", s[i]);
    }
    uint32_t l[2];
    int nl = lt_uni_lower(cp, l);
    if (nl != 1 || l[0] != cp) {
        k += snprintf(out + k, cap - k, " L=");
        for (int i = 0; i < nl; i++) k += snprintf(out + k, cap - k, i ? ",%x" : "%x", l[i]);
    }
    if (f & LT_UNI_SPACE)
        k += snprintf(out + k, cap - k, " P=2");
    else if (f & LT_UNI_PUNCT)
        k += snprintf(out + k, cap - k, " P=3");
    if (k == start) return 0;
    k += snprintf(out + k, cap - k, "\n");
    return k;
}

static void test_unicode_tables(void) {
    uint64_t h = 0xcbf29ce484222325ull;
    char line[256];
    for (uint32_t cp = 0; cp <= LT_UNI_MAX; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        int n = probe_line(cp, line, sizeof line);
        for (int i = 0; i < n; i++) h = (h ^ (uint8_t)line[i]) * 0x100000001b3ull;
    }
    CHECK_MSG(h == lt_uni_probe_hash(), "the tables do not reproduce the reference probe (%016llx != %016llx): "
          "run tests/fixtures/wordpiece/probe_unicode.mjs and tools/gen_unicode.py --probe",
          (unsigned long long)h, (unsigned long long)lt_uni_probe_hash());

    /* UTF-8 decoding: invalid forms read as U+FFFD, one byte at a time. */
    static const struct { const char *s; int len; uint32_t cp; } cases[] = {
        {"\x41", 1, 0x41}, {"\xc3\xa9", 2, 0xE9}, {"\xe4\xb8\xad", 3, 0x4E2D}, {"\xf0\x9f\x98\x80", 4, 0x1F600},
        {"\x80", 1, 0xFFFD}, {"\xc0\xaf", 1, 0xFFFD}, {"\xe0\x80\xaf", 1, 0xFFFD}, {"\xed\xa0\x80", 1, 0xFFFD},
        {"\xf4\x90\x80\x80", 1, 0xFFFD}, {"\xf5\x80\x80\x80", 1, 0xFFFD}, {"\xe4\xb8", 1, 0xFFFD},
        {"\xef\xbf\xbd", 3, 0xFFFD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *s = (const uint8_t *)cases[i].s;
        uint32_t cp;
        int n = lt_utf8_decode(s, s + strlen(cases[i].s), &cp);
        CHECK_MSG(n == cases[i].len && cp == cases[i].cp, "decode case %zu: n=%d cp=%x", i, n, cp);
    }
}

/* ---- training ----------------------------------------------------------------------------------- */

/* Fraction of [UNK] among the pieces of texts. */
static double unk_rate(const lt_vocab *v, const char *const *texts, int64_t n, int64_t *pieces) {
    int32_t ids[1024];
    int64_t unk = 0, total = 0, k;
    for (int64_t i = 0; i < n; i++) {
        if (lt_tokenize(v, NULL, texts[i], (int64_t)strlen(texts[i]), ids, 1024, &k) < 0) return 1;
        for (int64_t j = 0; j < k; j++) unk += ids[j] == lt_vocab_specials(v).unk;
        total += k;
    }
    *pieces = total;
    return total ? (double)unk / (double)total : 0;
}

static void check_trained(const lt_vocab *v, const char *const *texts, int64_t n, const char *what) {
    int64_t pieces;
    double r = unk_rate(v, texts, n, &pieces);
    CHECK_MSG(r == 0, "%s: [UNK] rate %.4f", what, r);
    lt_special_ids sp = lt_vocab_specials(v);
    CHECK_MSG(sp.pad == 0 && sp.unk == 1 && sp.cls == 2 && sp.sep == 3 && sp.mask == 4, "%s: specials", what);
    char path[] = "/tmp/lt_vocab_trained_XXXXXX";
    int fd = mkstemp(path);
    CHECK_MSG(fd >= 0, "mkstemp");
    close(fd);
    lt_vocab *w = NULL;
    CHECK_MSG(lt_vocab_save(v, path) == 0 && lt_vocab_load(&w, path) == 0, "%s: %s", what, lt_last_error());
    if (w) {
        CHECK_MSG(lt_vocab_size(w) == lt_vocab_size(v), "%s: round trip size", what);
        for (int32_t i = 0; i < lt_vocab_size(v) && i < lt_vocab_size(w); i++)
            if (strcmp(lt_vocab_token(v, i), lt_vocab_token(w, i)) || lt_vocab_id(w, lt_vocab_token(v, i), (int64_t)strlen(lt_vocab_token(v, i))) != i) {
                CHECK_MSG(0, "%s: token %d differs after save/load", what, i);
                break;
            }
        lt_vocab_free(w);
    }
    remove(path);
}

static void test_train_small(void) {
    static const char *const texts[] = {
        "hydrating face cream", "hydrating body lotion", "face serum", "Face Cream, 50ml",
        "lip balm", "lip gloss", "body wash", "hydrating lip balm", "Crème hydratante", "面霜 face",
    };
    int64_t n = sizeof texts / sizeof texts[0];
    lt_vocab *v = NULL;
    CHECK_MSG(lt_vocab_train(&v, texts, NULL, n, 60, NULL) == 0, "%s", lt_last_error());
    if (!v) return;
    CHECK_MSG(lt_vocab_size(v) <= 60 && lt_vocab_size(v) > 40, "size %lld", (long long)lt_vocab_size(v));
    CHECK_MSG(lt_vocab_id(v, "c", 1) >= 5 && lt_vocab_id(v, "##c", 3) >= 5, "alphabet has c and ##c");
    check_trained(v, texts, n, "small");
    lt_vocab_free(v);
    /* Too small for the alphabet: the most frequent symbols stay. */
    CHECK_MSG(lt_vocab_train(&v, texts, NULL, n, 12, NULL) == 0 && lt_vocab_size(v) == 12, "cut alphabet");
    lt_vocab_free(v);
    CHECK_MSG(lt_vocab_train(&v, texts, NULL, n, 5, NULL) == LT_EINVAL, "size 5");
}

/* ---- threads -------------------------------------------------------------------------------- */

typedef struct {
    const lt_vocab *v;
    const char *const *texts;
    int n, rounds;
    const int32_t *want; /* n * 64 ids, -1 padded */
    int bad;
} thread_job;

static void *thread_main(void *p) {
    thread_job *j = p;
    for (int r = 0; r < j->rounds; r++)
        for (int i = 0; i < j->n; i++) {
            int32_t ids[64];
            int64_t n;
            lt_encode(j->v, NULL, j->texts[i], (int64_t)strlen(j->texts[i]), 64, ids, &n);
            for (int k = 0; k < 64; k++)
                if ((k < n ? ids[k] : -1) != j->want[i * 64 + k]) j->bad++;
        }
    return NULL;
}

/* Several threads encode the same texts with one vocabulary and must agree with one thread. */
static void test_threads(const lt_vocab *v, const char *const *texts, int n) {
    int32_t *want = malloc((size_t)n * 64 * sizeof *want);
    for (int i = 0; i < n; i++) {
        int64_t k;
        lt_encode(v, NULL, texts[i], (int64_t)strlen(texts[i]), 64, want + i * 64, &k);
        for (int64_t j = k; j < 64; j++) want[i * 64 + j] = -1;
    }
    enum { NT = 4 };
    pthread_t th[NT];
    thread_job jobs[NT];
    for (int t = 0; t < NT; t++) {
        jobs[t] = (thread_job){v, texts, n, 20, want, 0};
        pthread_create(&th[t], NULL, thread_main, &jobs[t]);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(jobs[t].bad == 0, "thread %d: %d ids differ", t, jobs[t].bad);
    }
    free(want);
}

/* ---- the golden fixture ------------------------------------------------------------------------ */

/* Undo make_fixture.mjs's escapes in place; returns the byte length. */
static int64_t unescape(char *s) {
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 't': *o++ = '\t'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 'x': {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
            break;
        }
        default: *o++ = *p; break;
        }
    }
    return o - s;
}

static int parse_ids(char *s, int32_t *ids, int cap) {
    int n = 0;
    for (char *tok = strtok(s, " "); tok && n < cap; tok = strtok(NULL, " ")) ids[n++] = (int32_t)atoi(tok);
    return n;
}

static void print_pieces(const char *label, const lt_vocab *v, const int32_t *ids, int64_t n) {
    fprintf(stderr, "    %-9s", label);
    for (int64_t i = 0; i < n && i < 48; i++) fprintf(stderr, " %d:%s", ids[i], lt_vocab_token(v, ids[i]));
    fprintf(stderr, n > 48 ? " ...\n" : "\n");
}

enum { ENCODE_LEN = 24, MAX_IDS = 4096 };

/* Tokenize every fixture line; returns the number of cases. */
static int test_golden(const lt_vocab *v, const char *fixture) {
    FILE *f = fopen(fixture, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", fixture);
    if (!f) return 0;
    static char line[1 << 16];
    static int32_t want[MAX_IDS], got[MAX_IDS];
    int cases = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = 0;
        char *field[5] = {line};
        int nf = 1;
        for (char *p = line; *p && nf < 5; p++)
            if (*p == '\t') *p = 0, field[nf++] = p + 1;
        if (nf != 5) {
            CHECK_MSG(0, "%s: malformed line after %d cases", fixture, cases);
            break;
        }
        cases++;
        lt_wp_opts o = LT_WP_OPTS_DEFAULT;
        if (strcmp(field[1], "cased") == 0) o.lowercase = 0, o.strip_accents = 0;
        if (strncmp(field[1], "opts:", 5) == 0)
            sscanf(field[1] + 5, "%d,%d,%d", &o.lowercase, &o.strip_accents, &o.handle_chinese_chars);
        char text_shown[256];
        snprintf(text_shown, sizeof text_shown, "%s", field[2]);
        int64_t len = unescape(field[2]);
        int nw = parse_ids(field[3], want, MAX_IDS);
        int64_t n;
        int rc = lt_tokenize(v, &o, field[2], len, got, MAX_IDS, &n);
        int same = rc == 0 && n == nw && memcmp(want, got, (size_t)n * sizeof *got) == 0;
        int nwe = parse_ids(field[4], want + nw, MAX_IDS - nw);
        int64_t ne;
        int rce = lt_encode(v, &o, field[2], len, ENCODE_LEN, got + n, &ne);
        same = same && rce >= 0 && ne == nwe && memcmp(want + nw, got + n, (size_t)ne * sizeof *got) == 0;
        if (!same && ++bad <= 10) {
            fprintf(stderr, "golden mismatch: %s (%s) \"%s\" rc=%d/%d\n", field[0], field[1], text_shown, rc, rce);
            print_pieces("expected", v, want, nw);
            print_pieces("got", v, got, n);
            print_pieces("enc want", v, want + nw, nwe);
            print_pieces("enc got", v, got + n, ne);
        }
    }
    fclose(f);
    CHECK_MSG(bad == 0, "%d of %d golden cases differ", bad, cases);
    printf("golden: %d cases, %d identical\n", cases, cases - bad);
    return cases;
}

static void test_train_beauty(const char *datasets) {
    char path[1200];
    snprintf(path, sizeof path, "%s/amazon-beauty/beauty_items.tsv", datasets);
    beauty_titles bt;
    CHECK_MSG(beauty_titles_read(&bt, path) == 0 && bt.n == 12101, "%s: %lld titles", path, (long long)bt.n);
    if (!bt.data) return;
    const char *const *titles = (const char *const *)bt.text;
    double t0 = lt_seconds();
    lt_vocab *v = NULL;
    CHECK_MSG(lt_vocab_train(&v, titles, bt.len, bt.n, 8000, NULL) == 0, "%s", lt_last_error());
    double dt = lt_seconds() - t0;
    if (v) {
        int64_t pieces;
        double r = unk_rate(v, titles, bt.n, &pieces);
        printf("train: %lld titles -> %lld tokens in %.2f s; re-tokenized: %lld pieces, [UNK] rate %.4f%%\n",
               (long long)bt.n, (long long)lt_vocab_size(v), dt, (long long)pieces, 100 * r);
        CHECK_MSG(lt_vocab_size(v) == 8000, "size %lld", (long long)lt_vocab_size(v));
        CHECK_MSG(dt < 20, "training took %.1f s", dt);
        check_trained(v, titles, bt.n, "beauty");
        test_threads(v, titles, 500);
        lt_vocab_free(v);
    }
    beauty_titles_free(&bt);
}

int main(int argc, char **argv) {
    char datasets[1024], vocab_path[1100], fixture[1100];
    snprintf(datasets, sizeof datasets, "%s/../shared/datasets", tu_source_dir());
    snprintf(vocab_path, sizeof vocab_path, "%s/bert-base-uncased/vocab.txt", datasets);
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/wordpiece/golden.tsv", tu_source_dir());
    if (argc > 1) { /* test_wordpiece FILE: only compare FILE (make_fixture.mjs --random) */
        lt_vocab *v;
        if (lt_vocab_load(&v, vocab_path) < 0) {
            fprintf(stderr, "%s\n", lt_last_error());
            return 1;
        }
        test_golden(v, argv[1]);
        lt_vocab_free(v);
        return tu_failures ? 1 : 0;
    }
    test_wordpiece_basics();
    test_canonical_order();
    test_vocab_files();
    test_unicode_tables();
    test_train_small();
    {
        lt_vocab *v;
        static const char *const texts[] = {"unwanted running", "É中x!", "aaa hello", "unaffable , x", ""};
        CHECK_MSG(lt_vocab_create(&v, tiny_tokens, TINY_N) == 0, "%s", lt_last_error());
        test_threads(v, texts, 5);
        lt_vocab_free(v);
    }
    printf("unit tests: %s\n", tu_failures ? "FAILED" : "passed");
    if (access(vocab_path, R_OK) != 0) {
        printf("skipped: %s not found (golden and training tests need ../shared/datasets)\n", vocab_path);
        return tu_failures ? 1 : 77;
    }
    lt_vocab *v;
    CHECK_MSG(lt_vocab_load(&v, vocab_path) == 0, "%s", lt_last_error());
    if (v) {
        CHECK_MSG(lt_vocab_size(v) == 30522, "bert vocab size %lld", (long long)lt_vocab_size(v));
        lt_special_ids sp = lt_vocab_specials(v);
        CHECK_MSG(sp.pad == 0 && sp.unk == 100 && sp.cls == 101 && sp.sep == 102 && sp.mask == 103, "bert specials");
        test_golden(v, fixture);
        lt_vocab_free(v);
    }
    test_train_beauty(datasets);
    printf("%s\n", tu_failures ? "FAILED" : "all passed");
    return tu_failures ? 1 : 0;
}
