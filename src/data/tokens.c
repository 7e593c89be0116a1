/* Token shards: tokenize a catalog (in parallel) and read the shards back. */
#include "longtail/tokens.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "data/textio.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/progress.h"
#include "longtail/shard.h"

void lt_tokenize_opts_init(lt_tokenize_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_len = 64;
    o->fields = "title,category";
    o->items_per_shard = 100000;
    o->wp = (lt_wp_opts)LT_WP_OPTS_DEFAULT;
}

uint64_t lt_vocab_hash(const lt_vocab *v) {
    uint64_t h = LT_FNV1A_INIT;
    for (int64_t i = 0; i < lt_vocab_size(v); i++) {
        const char *t = lt_vocab_token(v, (int32_t)i);
        h = lt_fnv1a(lt_fnv1a(h, t, strlen(t)), "\n", 1);
    }
    return h;
}

int lt_catalog_fields(const char *spec, const lt_catalog *c, const lt_strs **out) {
    static const char *names[4] = {"item_id", "title", "description", "category"};
    const lt_strs *f[4] = {&c->item_id, &c->title, &c->description, &c->category};
    int n = 0;
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (strlen(names[i]) == len && !strncmp(p, names[i], len)) k = i;
        if (k < 0 || n == 4)
            return lt_error(LT_ECONFIG, "tokens.fields: '%.*s' is not a catalog field (item_id, title, description, "
                            "category)", (int)len, p);
        out[n++] = f[k];
        p += len + (p[len] == ',');
    }
    if (!n) return lt_error(LT_ECONFIG, "tokens.fields is empty");
    return n;
}

size_t lt_item_text(const lt_strs *const *fields, int nf, int64_t i, char **buf, size_t *cap) {
    size_t len = 0, need = 1;
    for (int k = 0; k < nf; k++) {
        size_t fl;
        lt_strs_get(fields[k], i, &fl);
        need += fl + 3;
    }
    if (need > *cap) {
        char *t = realloc(*buf, need * 2);
        if (!t) return (size_t)-1;
        *buf = t, *cap = need * 2;
    }
    for (int k = 0; k < nf; k++) { /* "title . category": a sentence break between fields */
        size_t fl;
        const char *f = lt_strs_get(fields[k], i, &fl);
        if (!fl) continue;
        if (len) memcpy(*buf + len, " . ", 3), len += 3;
        memcpy(*buf + len, f, fl);
        len += fl;
    }
    (*buf)[len] = 0;
    return len;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int lt_tokenize_catalog(const lt_catalog *c, const lt_vocab *v, const lt_tokenize_opts *o, const char *dir,
                        lt_tokenize_stats *st) {
    memset(st, 0, sizeof *st);
    const lt_strs *fields[4];
    int nf = lt_catalog_fields(o->fields, c, fields);
    if (nf < 0) return nf;
    if (o->max_len < 2 || o->max_len > 4096)
        return lt_error(LT_ECONFIG, "tokens.max_len must be in 2..4096 (got %lld)", (long long)o->max_len);
    lt_special_ids sp = lt_vocab_specials(v);
    if (sp.cls < 0 || sp.sep < 0 || sp.unk < 0 || sp.pad < 0)
        return lt_error(LT_EFORMAT, "vocabulary lacks [PAD], [UNK], [CLS] or [SEP]");
    LT_TRY(lt_mkdirs(dir));
    int64_t N = c->n, per = o->items_per_shard > 0 ? o->items_per_shard : 100000, L = o->max_len;
    int64_t shards = N ? (N + per - 1) / per : 1;
    uint64_t vhash = lt_vocab_hash(v);
    int32_t *ids = malloc(sizeof *ids * (size_t)(per * L));
    int64_t *off = malloc(sizeof *off * (size_t)(per + 1));
    int64_t *lens = malloc(sizeof *lens * (size_t)(N ? N : 1));
    if (!ids || !off || !lens) {
        free(ids), free(off), free(lens);
        return lt_error(LT_ENOMEM, "tokenize: out of memory");
    }
    lt_progress pg;
    lt_progress_start(&pg, "tokenize", "items", N);
    double t0 = lt_seconds();
    int64_t bytes = 0, unk = 0, truncated = 0, empty = 0;
    int rc = 0;
    char path[4096];
    for (int64_t s = 0; s < shards && !rc; s++) {
        int64_t b = s * per, e = b + per < N ? b + per : N, n = e - b;
        int32_t *row_n = malloc(sizeof *row_n * (size_t)(n ? n : 1));
        int bad = 0;
        /* each item into its own max_len slot, in parallel; compacted below */
#pragma omp parallel reduction(+ : bytes, unk, truncated, empty) reduction(| : bad)
        {
            char *text = NULL;
            size_t cap = 0;
#pragma omp for schedule(dynamic, 256)
            for (int64_t i = 0; i < n; i++) {
                size_t len = lt_item_text(fields, nf, b + i, &text, &cap);
                if (len == (size_t)-1) { bad = 1; continue; }
                int64_t got = 0;
                int r = lt_encode(v, &o->wp, text, (int64_t)len, L, ids + i * L, &got);
                if (r < 0) { bad = 1; got = 0; }
                truncated += r == 1;
                empty += got == 2;
                bytes += (int64_t)len;
                for (int64_t j = 1; j + 1 < got; j++) unk += ids[i * L + j] == sp.unk;
                row_n[i] = (int32_t)got;
            }
            free(text);
        }
        if (bad) rc = lt_error(LT_ENOMEM, "tokenize: an item of shard %lld could not be tokenized", (long long)s);
        off[0] = 0;
        for (int64_t i = 0; i < n && !rc; i++) { /* compact the fixed slots into CSR, in place */
            memmove(ids + off[i], ids + i * L, sizeof *ids * (size_t)row_n[i]);
            off[i + 1] = off[i] + row_n[i];
            lens[b + i] = row_n[i];
        }
        free(row_n);
        if (rc) break;
        snprintf(path, sizeof path, "%s/tokens-%05lld.h5", dir, (long long)s);
        lt_shard *sh;
        if ((rc = lt_shard_create(&sh, path, "tokens", 1))) break;
        rc = lt_ragged_write(sh, "ids", LT_I32, ids, off, 0, n);
        const char *keys[] = {"item_begin", "n_items", "n_items_total", "shard_index", "shard_count", "max_len",
                              "vocab_size", "truncated"};
        int64_t vals[] = {b, n, N, s, shards, L, lt_vocab_size(v), truncated};
        for (int k = 0; k < 8 && !rc; k++) rc = lt_shard_set_attr_i64(sh, "", keys[k], vals[k]);
        if (!rc) rc = lt_shard_set_attr_i64(sh, "", "vocab_hash", (int64_t)vhash);
        if (!rc) rc = lt_shard_set_attr_str(sh, "", "fields", o->fields);
        if (rc) lt_shard_abort(sh);
        else rc = lt_shard_commit(sh);
        lt_progress_add(&pg, n);
    }
    lt_progress_end(&pg);
    for (int64_t s = shards; !rc; s++) { /* stale shards of an earlier, larger catalog */
        snprintf(path, sizeof path, "%s/tokens-%05lld.h5", dir, (long long)s);
        if (remove(path) < 0) break;
    }
    if (!rc) {
        st->seconds = lt_seconds() - t0;
        st->items = N, st->truncated = truncated, st->unk = unk, st->empty = empty;
        st->mb_per_s = st->seconds > 0 ? (double)bytes / 1e6 / st->seconds : 0;
        for (int64_t i = 0; i < N; i++) st->tokens += lens[i];
        st->len_mean = N ? (double)st->tokens / (double)N : 0;
        qsort(lens, (size_t)N, sizeof *lens, cmp_i64);
        if (N) {
            st->len_p50 = lens[N / 2], st->len_p90 = lens[N * 9 / 10], st->len_p99 = lens[N * 99 / 100];
            st->len_max = lens[N - 1];
        }
    }
    free(ids), free(off), free(lens);
    return rc;
}

int lt_token_shard_read(const char *path, lt_token_shard *t) {
    memset(t, 0, sizeof *t);
    lt_shard *s;
    LT_TRY(lt_shard_open(&s, path, "tokens", 1));
    const char *keys[] = {"item_begin", "n_items", "n_items_total", "shard_index", "shard_count", "max_len", "vocab_size"};
    int64_t *dst[] = {&t->item_begin, &t->n, &t->n_total, &t->shard_index, &t->shard_count, &t->max_len, &t->vocab_size};
    int rc = 0;
    for (int k = 0; k < 7 && !rc; k++) rc = lt_shard_attr_i64(s, "", keys[k], dst[k]);
    int64_t h = 0, n = 0;
    if (!rc) rc = lt_shard_attr_i64(s, "", "vocab_hash", &h);
    t->vocab_hash = (uint64_t)h;
    void *vals = NULL;
    if (!rc) rc = lt_ragged_read(s, "ids", LT_I32, &vals, &t->off, &n);
    t->ids = vals;
    if (!rc && n != t->n)
        rc = lt_error(LT_EFORMAT, "%s: ids has %lld rows, n_items says %lld", path, (long long)n, (long long)t->n);
    for (int64_t i = 0; !rc && i < t->off[n]; i++) /* every id indexes the embedding table: check once here */
        if (t->ids[i] < 0 || t->ids[i] >= t->vocab_size)
            rc = lt_error(LT_EFORMAT, "%s: token id %d outside the vocabulary of %lld", path, t->ids[i],
                          (long long)t->vocab_size);
    lt_shard_close(s);
    if (rc) lt_token_shard_free(t);
    return rc;
}

void lt_token_shard_free(lt_token_shard *t) {
    free(t->ids), free(t->off);
    t->ids = NULL, t->off = NULL;
}

void lt_token_set_free(lt_token_set *t) {
    free(t->ids), free(t->off);
    memset(t, 0, sizeof *t);
}

int lt_token_set_load(const char *dir, lt_token_set *t) {
    memset(t, 0, sizeof *t);
    char **names;
    int count;
    LT_TRY(lt_list_shards(dir, "tokens-", &names, &count));
    int rc = count ? 0 : lt_error(LT_ENOENT, "%s: no tokens-NNNNN.h5 shards (run longtail vocab first)", dir);
    int64_t nids = 0;
    for (int i = 0; i < count && !rc; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        lt_token_shard s;
        if ((rc = lt_token_shard_read(p, &s))) break;
        if (s.shard_count != count) rc = lt_shard_set_error(dir, "tokens-", names, count, s.shard_count);
        else if (s.item_begin != t->n_items)
            rc = lt_error(LT_EFORMAT, "%s: item_begin %lld, but the shards before it end at item %lld", p,
                          (long long)s.item_begin, (long long)t->n_items);
        else if (i && (s.vocab_hash != t->vocab_hash || s.vocab_size != t->vocab_size))
            rc = lt_error(LT_EFORMAT, "%s: made with another vocabulary than %s/%s (vocab_hash or vocab_size differ)", p,
                          dir, names[0]);
        int32_t *ids = rc ? NULL : realloc(t->ids, sizeof *ids * (size_t)(nids + s.off[s.n] + 1));
        int64_t *off = rc ? NULL : realloc(t->off, sizeof *off * (size_t)(t->n_items + s.n + 1));
        if (ids) t->ids = ids;
        if (off) t->off = off;
        if (!rc && (!ids || !off)) rc = lt_error(LT_ENOMEM, "%s: out of memory for the token ids", dir);
        if (!rc) {
            memcpy(t->ids + nids, s.ids, sizeof *ids * (size_t)s.off[s.n]);
            for (int64_t k = 0; k <= s.n; k++) t->off[t->n_items + k] = nids + s.off[k];
            nids += s.off[s.n], t->n_items += s.n;
            t->vocab_hash = s.vocab_hash, t->vocab_size = s.vocab_size;
            if (i == count - 1 && t->n_items != s.n_total)
                rc = lt_error(LT_EFORMAT, "%s: the shards hold %lld items, they declare %lld", dir, (long long)t->n_items,
                              (long long)s.n_total);
        }
        lt_token_shard_free(&s);
    }
    lt_free_names(names, count);
    if (rc) lt_token_set_free(t);
    return rc;
}
