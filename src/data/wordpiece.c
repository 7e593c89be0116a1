/* WordPiece tokenizer: vocabulary, BERT word splitting, greedy longest-match-first pieces.
 *
 * The pipeline is Hugging Face tokenizers' (BertNormalizer, BertPreTokenizer, WordPiece), done in
 * one pass over the bytes: each character is cleaned, isolated if CJK, decomposed and stripped of
 * nonspacing marks, lower-cased, then classified as whitespace, punctuation or part of a word, and
 * each finished word is cut into pieces at once. ASCII takes a short path; nothing is allocated. */
#include "longtail/wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/unicode.h"
#include "data/wordpiece_impl.h"
#include "core/tmpfile.h"
#include "longtail/error.h"

/* ---- vocabulary ------------------------------------------------------------------------------ */

typedef struct {
    uint32_t hash; /* FNV-1a of the token bytes */
    int32_t id;    /* -1: empty slot */
} slot;

struct lt_vocab {
    int64_t n;
    char *text;     /* the tokens, each NUL-terminated */
    int64_t *off;   /* token i starts at text + off[i] */
    int32_t *len;   /* and has len[i] bytes */
    slot *slots;    /* open addressing, linear probing */
    int bits;       /* 1 << bits slots, at least twice the tokens */
    int32_t max_len;
    uint32_t cont_hash; /* FNV state after "##": continuation pieces hash on from here */
    lt_special_ids sp;
    uint64_t *bloom;    /* 1 << BLOOM_BITS bits: a cheap "surely absent" before the table */
};

/* Most candidate pieces are absent: a 64 KiB filter (one bit per token; 30k tokens set 6% of
 * the bits) rejects nearly all of them from L2 without touching the larger slot table. */
#define BLOOM_BITS 19

static inline uint32_t bloom_bit(uint32_t h) { return (h * 0x85EBCA6Bu) >> (32 - BLOOM_BITS); }

/* Id of piece s[0..n) (with the "##" prefix when cont), whose hash is h; -1 if absent. */
static inline int32_t lookup(const lt_vocab *v, uint32_t h, const uint8_t *s, int n, int cont) {
    uint32_t bit = bloom_bit(h);
    if (!(v->bloom[bit >> 6] >> (bit & 63) & 1)) return -1;
    uint32_t mask = (1u << v->bits) - 1;
    for (uint32_t i = lt_wp_slot(h, v->bits);; i = (i + 1) & mask) {
        const slot *e = &v->slots[i];
        if (e->id < 0) return -1;
        if (e->hash != h || v->len[e->id] != n + 2 * cont) continue;
        const uint8_t *t = (const uint8_t *)v->text + v->off[e->id];
        if (cont && (t[0] != '#' || t[1] != '#')) continue;
        t += 2 * cont;
        int k = 0; /* pieces are short: a loop beats a call to memcmp */
        while (k < n && t[k] == s[k]) k++;
        if (k == n) return e->id;
    }
}

int64_t lt_vocab_size(const lt_vocab *v) { return v->n; }

const char *lt_vocab_token(const lt_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? v->text + v->off[id] : NULL;
}

int32_t lt_vocab_id(const lt_vocab *v, const char *tok, int64_t len) {
    if (len < 0 || len > v->max_len) return -1;
    return lookup(v, lt_wp_hash(LT_WP_HASH_BASIS, (const uint8_t *)tok, len), (const uint8_t *)tok, (int)len, 0);
}

lt_special_ids lt_vocab_specials(const lt_vocab *v) { return v->sp; }

void lt_vocab_free(lt_vocab *v) {
    if (!v) return;
    free(v->text);
    free(v->off);
    free(v->len);
    free(v->slots);
    free(v->bloom);
    free(v);
}

/* A token as given: n tokens of line i at src[i] with srclen[i] bytes. */
typedef struct {
    const char *const *src;
    const int64_t *srclen;
    int64_t n;
    const char *path; /* for messages: file:line, or "token i" when NULL */
    int64_t first_line;
} token_list;

static int token_error(const token_list *tl, int64_t i, const char *what) {
    if (tl->path) return lt_error(LT_EFORMAT, "%s:%lld: %s", tl->path, (long long)(tl->first_line + i), what);
    return lt_error(LT_EFORMAT, "vocab token %lld: %s", (long long)i, what);
}

/* Length of s[0..n) without trailing whitespace (Rust's trim_end, as HF's vocab reader). */
static int64_t trim_end(const uint8_t *s, int64_t n) {
    while (n > 0) {
        int64_t b = n - 1;
        while (b > 0 && (s[b] & 0xC0) == 0x80 && n - b < 4) b--;
        uint32_t cp;
        if (lt_utf8_decode(s + b, s + n, &cp) != n - b || !(lt_uni_flags(cp) & LT_UNI_SPACE)) break;
        n = b;
    }
    return n;
}

/* What is wrong with token s[0..n), or NULL. */
static const char *token_problem(const uint8_t *s, int64_t n) {
    if (n > INT32_MAX / 4) return "token too long";
    for (int64_t k = 0; k < n;) {
        uint32_t cp;
        int step = lt_utf8_decode(s + k, s + n, &cp);
        if (cp == 0) return "NUL byte in a token";
        if (cp == '\n') return "newline in a token"; /* (lt_vocab_create) it could not be saved */
        if (cp == 0xFFFD && step == 1) return "invalid UTF-8";
        k += step;
    }
    return NULL;
}

static int build(lt_vocab **out, const token_list *tl) {
    *out = NULL;
    if (tl->n <= 0) return tl->path ? lt_error(LT_EFORMAT, "%s: no tokens", tl->path)
                                    : lt_error(LT_EINVAL, "vocab: no tokens");
    if (tl->n > INT32_MAX / 2) return lt_error(LT_ERANGE, "vocab: %lld tokens", (long long)tl->n);
    lt_vocab *v = calloc(1, sizeof *v);
    if (!v) return lt_error(LT_ENOMEM, "vocab: %lld tokens", (long long)tl->n);
    int64_t bytes = 0;
    for (int64_t i = 0; i < tl->n; i++) bytes += tl->srclen[i] + 1;
    v->n = tl->n;
    v->bits = 4;
    while ((1ll << v->bits) < 2 * tl->n) v->bits++;
    v->text = malloc((size_t)bytes);
    v->off = malloc((size_t)tl->n * sizeof *v->off);
    v->len = malloc((size_t)tl->n * sizeof *v->len);
    v->slots = malloc(sizeof(slot) << v->bits);
    v->bloom = calloc((1u << BLOOM_BITS) / 64, sizeof *v->bloom);
    if (!v->text || !v->off || !v->len || !v->slots || !v->bloom) {
        lt_vocab_free(v);
        return lt_error(LT_ENOMEM, "vocab: %lld tokens, %lld bytes", (long long)tl->n, (long long)bytes);
    }
    memset(v->slots, 0xFF, sizeof(slot) << v->bits);
    uint32_t mask = (1u << v->bits) - 1;
    int64_t pos = 0;
    for (int64_t i = 0; i < tl->n; i++) {
        const uint8_t *s = (const uint8_t *)tl->src[i];
        int64_t n = trim_end(s, tl->srclen[i]);
        const char *bad = token_problem(s, n);
        if (bad) {
            lt_vocab_free(v);
            return token_error(tl, i, bad);
        }
        memcpy(v->text + pos, s, (size_t)n);
        v->text[pos + n] = 0;
        v->off[i] = pos;
        v->len[i] = (int32_t)n;
        pos += n + 1;
        if (n > v->max_len) v->max_len = (int32_t)n;
        /* Insert, or take over the slot of an earlier duplicate: the last line wins, as in HF. */
        uint32_t h = lt_wp_hash(LT_WP_HASH_BASIS, s, n), bit = bloom_bit(h);
        v->bloom[bit >> 6] |= 1ull << (bit & 63);
        for (uint32_t j = lt_wp_slot(h, v->bits);; j = (j + 1) & mask) {
            slot *e = &v->slots[j];
            if (e->id < 0 || (e->hash == h && v->len[e->id] == n &&
                              memcmp(v->text + v->off[e->id], s, (size_t)n) == 0)) {
                e->hash = h;
                e->id = (int32_t)i;
                break;
            }
        }
    }
    v->cont_hash = lt_wp_hash(LT_WP_HASH_BASIS, (const uint8_t *)"##", 2);
    static const char *const names[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int32_t *sp[5] = {&v->sp.pad, &v->sp.unk, &v->sp.cls, &v->sp.sep, &v->sp.mask};
    for (int k = 0; k < 5; k++) *sp[k] = lt_vocab_id(v, names[k], (int64_t)strlen(names[k]));
    *out = v;
    return 0;
}

int lt_vocab_create(lt_vocab **out, const char *const *tokens, int64_t n) {
    if (!out || !tokens || n < 0) return lt_error(LT_EINVAL, "lt_vocab_create: n=%lld", (long long)n);
    int64_t *lens = malloc((size_t)(n > 0 ? n : 1) * sizeof *lens);
    if (!lens) return lt_error(LT_ENOMEM, "lt_vocab_create: %lld tokens", (long long)n);
    for (int64_t i = 0; i < n; i++) lens[i] = (int64_t)strlen(tokens[i]);
    token_list tl = {tokens, lens, n, NULL, 0};
    int rc = build(out, &tl);
    free(lens);
    return rc;
}

int lt_vocab_load(lt_vocab **out, const char *path) {
    if (!out || !path) return lt_error(LT_EINVAL, "lt_vocab_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return lt_error(errno == ENOENT ? LT_ENOENT : LT_EIO, "%s: %s", path, strerror(errno));
    char *data = NULL;
    int64_t size = 0, cap = 0;
    for (;;) {
        if (cap - size < 65536) {
            cap = cap ? 2 * cap : 1 << 18;
            char *p = realloc(data, (size_t)cap);
            if (!p) {
                free(data);
                fclose(f);
                return lt_error(LT_ENOMEM, "%s: reading %lld bytes", path, (long long)cap);
            }
            data = p;
        }
        size_t got = fread(data + size, 1, (size_t)(cap - size), f);
        size += (int64_t)got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(data);
        return lt_error(LT_EIO, "%s: read error", path);
    }
    /* Lines end at '\n'; a final line without one counts, an empty tail after the last does not. */
    int64_t n = 0;
    for (int64_t i = 0; i < size; i++) n += data[i] == '\n';
    if (size > 0 && data[size - 1] != '\n') n++;
    const char **src = malloc((size_t)(n > 0 ? n : 1) * sizeof *src);
    int64_t *lens = malloc((size_t)(n > 0 ? n : 1) * sizeof *lens);
    if (!src || !lens) {
        free(src), free(lens), free(data);
        return lt_error(LT_ENOMEM, "%s: %lld lines", path, (long long)n);
    }
    for (int64_t i = 0, start = 0; i < n; i++) {
        const char *nl = memchr(data + start, '\n', (size_t)(size - start));
        int64_t end = nl ? nl - data : size;
        src[i] = data + start;
        lens[i] = end - start;
        start = end + 1;
    }
    token_list tl = {src, lens, n, path, 1};
    int rc = build(out, &tl);
    free(src), free(lens), free(data);
    return rc;
}

int lt_vocab_save(const lt_vocab *v, const char *path) {
    if (!v || !path) return lt_error(LT_EINVAL, "lt_vocab_save: NULL argument");
    char tmp[4096];
    LT_TRY(lt_tmp_path(tmp, sizeof tmp, path));
    FILE *f = fopen(tmp, "wb");
    if (!f) return lt_error(LT_EIO, "%s: %s", tmp, strerror(errno));
    for (int64_t i = 0; i < v->n; i++) {
        fwrite(v->text + v->off[i], 1, (size_t)v->len[i], f);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return lt_error(LT_EIO, "%s: writing the vocabulary: %s", path, strerror(e));
    }
    return 0;
}

/* ---- BERT word splitting --------------------------------------------------------------------- */

int lt_wp_resolve_opts(const lt_wp_opts *opts, lt_wp_opts *out) {
    static const lt_wp_opts def = LT_WP_OPTS_DEFAULT;
    *out = opts ? *opts : def;
    if (out->strip_accents < 0) out->strip_accents = out->lowercase;
    if (out->max_chars_per_word < 1 || out->max_chars_per_word > LT_WP_MAX_WORD_CHARS)
        return lt_error(LT_EINVAL, "wordpiece: max_chars_per_word=%d outside 1..%d",
                        out->max_chars_per_word, LT_WP_MAX_WORD_CHARS);
    return 0;
}

typedef struct {
    int lower, strip, cjk, max_chars;
    lt_wp_word_fn fn;
    void *ctx;
    int rc;       /* first non-zero fn result */
    int len;      /* bytes of the current word in word[] */
    int nchars;   /* its characters, counting those past max_chars that were not stored */
    /* Canonical ordering after NFD: word[run_start..run_end) holds the current run of marks with
     * a nonzero combining class that survived stripping. The run goes on only while nothing else
     * was appended (run_end == len) and no class-0 character came between. */
    int run_start, run_end;
    uint8_t word[LT_WP_MAX_WORD_CHARS * 4];
} splitter;

static inline void flush(splitter *s) {
    if (s->nchars && !s->rc) s->rc = s->fn(s->ctx, s->word, s->len, s->nchars);
    s->len = s->nchars = 0;
    s->run_end = -1;
}

/* Append x, a mark of combining class ccc > 0, moving it before the marks of the current run
 * that have a greater class (stable, as NFD's canonical ordering). */
static void append_mark(splitter *s, uint32_t x, int ccc) {
    uint8_t b[4];
    int n = lt_utf8_encode(x, b);
    if (s->run_end != s->len) s->run_start = s->len;
    int at = s->len;
    while (at > s->run_start) {
        int prev = at - 1;
        while ((s->word[prev] & 0xC0) == 0x80) prev--;
        uint32_t y;
        lt_utf8_decode(s->word + prev, s->word + at, &y);
        if (lt_uni_ccc(y) <= ccc) break;
        at = prev;
    }
    memmove(s->word + at + n, s->word + at, (size_t)(s->len - at));
    memcpy(s->word + at, b, (size_t)n);
    s->len += n;
    s->run_end = s->len;
}

static inline void append(splitter *s, uint32_t x, unsigned f) {
    if (s->nchars++ >= s->max_chars) return; /* the word is [UNK] anyway: count, don't store */
    if (s->strip && (f & LT_UNI_CCC)) {
        append_mark(s, x, lt_uni_ccc(x));
        return;
    }
    s->len += lt_utf8_encode(x, s->word + s->len);
}

/* A normalised character: a word boundary, a word of its own, or part of the current word. */
static void put_char(splitter *s, uint32_t x) {
    unsigned f = lt_uni_flags(x);
    if (f & LT_UNI_SPACE) {
        flush(s);
    } else if (f & LT_UNI_PUNCT) {
        flush(s);
        append(s, x, f);
        flush(s);
    } else {
        append(s, x, f);
    }
}

static void put_lower(splitter *s, uint32_t x, unsigned f) {
    if (s->lower && (f & LT_UNI_LOWER)) {
        uint32_t l[2];
        int n = lt_uni_lower(x, l);
        for (int i = 0; i < n; i++) put_char(s, l[i]);
    } else {
        put_char(s, x);
    }
}

/* Everything but plain ASCII word characters. */
static void put_cp(splitter *s, uint32_t cp) {
    unsigned f = lt_uni_flags(cp);
    if (f & LT_UNI_REMOVE) return;
    if (f & LT_UNI_SPACE) {
        flush(s);
        return;
    }
    int isolate = s->cjk && (f & LT_UNI_CJK);
    if (isolate) flush(s);
    if (s->strip && (f & (LT_UNI_MN | LT_UNI_DECOMP))) {
        uint32_t d[4];
        int n = lt_uni_decomp(cp, d);
        for (int i = 0; i < n; i++) {
            unsigned g = lt_uni_flags(d[i]);
            if (g & LT_UNI_MN) {
                if (!(g & LT_UNI_CCC)) s->run_end = -1; /* a class-0 mark still ends a run */
                continue;
            }
            put_lower(s, d[i], g);
        }
    } else {
        put_lower(s, cp, f);
    }
    if (isolate) flush(s);
}

int lt_wp_split(const lt_wp_opts *o, const uint8_t *p, int64_t len, lt_wp_word_fn fn, void *ctx) {
    splitter s;
    s.lower = o->lowercase;
    s.strip = o->strip_accents;
    s.cjk = o->handle_chinese_chars;
    s.max_chars = o->max_chars_per_word;
    s.fn = fn;
    s.ctx = ctx;
    s.rc = 0;
    s.len = s.nchars = 0;
    s.run_start = s.run_end = -1;
    if (len <= 0) return 0; /* p may be NULL */
    const uint8_t *end = p + len;
    const uint8_t lower_add = s.lower ? 32 : 0;
    while (p < end && !s.rc) {
        uint32_t c = *p;
        if (c < 0x80) {
            unsigned f = lt_uni_stage2[c]; /* block 0 of the table is U+0000..U+00FF */
            if (!(f & ~LT_UNI_LOWER)) {   /* letter, digit or other word character */
                if (s.nchars++ < s.max_chars) s.word[s.len++] = (uint8_t)(f ? c + lower_add : c);
                p++;
                continue;
            }
            if (f & LT_UNI_REMOVE) {
            } else if (f & LT_UNI_SPACE) {
                flush(&s);
            } else { /* ASCII punctuation */
                flush(&s);
                s.word[0] = (uint8_t)c;
                s.len = s.nchars = 1;
                flush(&s);
            }
            p++;
            continue;
        }
        uint32_t cp;
        p += lt_utf8_decode(p, end, &cp);
        put_cp(&s, cp);
    }
    flush(&s);
    return s.rc;
}

/* ---- WordPiece ------------------------------------------------------------------------------- */

typedef struct {
    const lt_vocab *v;
    int32_t *ids;
    int64_t cap, n; /* n counts every piece; only the first cap are stored */
    int max_chars;
} piece_out;

static inline void emit(piece_out *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

/* The word is [UNK]. Returns what wordpiece() returns. */
static int emit_unk(piece_out *o, const uint8_t *w, int len) {
    if (o->v->sp.unk < 0)
        return lt_error(LT_ENOENT, "wordpiece: the vocabulary has no [UNK] token, needed for \"%.*s\"",
                        len > 64 ? 64 : len, (const char *)w);
    emit(o, o->v->sp.unk);
    return o->n > o->cap;
}

/* Greedy longest-match-first pieces of one word; the whole word is [UNK] if any part has no
 * piece. Prefix hashes are computed once per start, so each candidate costs one probe. */
static int wordpiece(void *ctx, const uint8_t *w, int len, int nchars) {
    piece_out *o = ctx;
    const lt_vocab *v = o->v;
    if (nchars > o->max_chars) return emit_unk(o, w, len);
    int64_t n0 = o->n;
    uint32_t hs[LT_WP_MAX_WORD_CHARS * 4];
    for (int start = 0; start < len;) {
        int cont = start > 0;
        int lim = v->max_len - 2 * cont;
        lim = len - start < lim ? len : start + lim;
        uint32_t h = cont ? v->cont_hash : LT_WP_HASH_BASIS;
        for (int i = start; i < lim; i++) hs[i - start] = h = lt_wp_hash(h, w + i, 1);
        int32_t id = -1;
        int end = lim;
        for (; end > start; end--) {
            if (end < len && (w[end] & 0xC0) == 0x80) continue; /* not a character boundary */
            if ((id = lookup(v, hs[end - start - 1], w + start, end - start, cont)) >= 0) break;
        }
        if (id < 0) {
            o->n = n0;
            return emit_unk(o, w, len);
        }
        emit(o, id);
        start = end;
    }
    return o->n > o->cap; /* past cap: stop splitting */
}

int lt_tokenize(const lt_vocab *v, const lt_wp_opts *opts, const char *text, int64_t len,
                int32_t *ids, int64_t cap, int64_t *n) {
    if (n) *n = 0;
    if (!v || !n || (!text && len > 0) || len < 0 || cap < 0 || (!ids && cap > 0))
        return lt_error(LT_EINVAL, "lt_tokenize: len=%lld cap=%lld", (long long)len, (long long)cap);
    lt_wp_opts o;
    LT_TRY(lt_wp_resolve_opts(opts, &o));
    piece_out out = {v, ids, cap, 0, o.max_chars_per_word};
    int rc = lt_wp_split(&o, (const uint8_t *)text, len, wordpiece, &out);
    if (rc < 0) return rc;
    *n = out.n < cap ? out.n : cap;
    return out.n > cap;
}

int lt_encode(const lt_vocab *v, const lt_wp_opts *opts, const char *text, int64_t len,
              int64_t max_len, int32_t *ids, int64_t *n) {
    if (n) *n = 0;
    if (!v || !ids || !n || max_len < 2)
        return lt_error(LT_EINVAL, "lt_encode: max_len=%lld (at least 2, for [CLS] and [SEP])",
                        (long long)max_len);
    if (v->sp.cls < 0 || v->sp.sep < 0)
        return lt_error(LT_ENOENT, "lt_encode: the vocabulary has no %s token",
                        v->sp.cls < 0 ? "[CLS]" : "[SEP]");
    int64_t k;
    int rc = lt_tokenize(v, opts, text, len, ids + 1, max_len - 2, &k);
    if (rc < 0) return rc;
    ids[0] = v->sp.cls;
    ids[k + 1] = v->sp.sep;
    *n = k + 2;
    return rc;
}
