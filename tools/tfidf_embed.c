/* tfidf-embed: a simple, honest stand-in for the BERT encoder's item embeddings, so that
 * `longtail cluster` can run on a real catalog before `longtail embed` exists. It writes the same
 * embedding shards (embeddings.h) that the encoder will write.
 *
 *   tfidf-embed --data DIR --out DIR [--dim 128] [--terms 4096] [--shard-items 4096]
 *
 * Each item's text is its title words (lower-cased, 2+ characters, minus a few stop words) plus
 * each of its category attributes as one token ("c:nail polish"). The `terms` most frequent
 * tokens (by document frequency, at least 2 documents) make a TF-IDF vector per item
 * ((1 + log tf) * (ln((1 + n) / (1 + df)) + 1), L2-normalised, as scikit-learn's sublinear TF-IDF),
 * which longtail's own PCA (lt_pca_fit: covariance by GEMM, randomized subspace iteration)
 * reduces to `dim` dimensions; rows are L2-normalised again. The model attribute says all this. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "longtail/backend.h"
#include "longtail/cluster.h"
#include "longtail/data.h"
#include "longtail/embeddings.h"
#include "longtail/error.h"
#include "longtail/log.h"

static const char *stop[] = {"the", "and", "for", "with", "of", "in", "to", "by", "on", "or", "a", "an", "oz", "ml",
                             "fl", "pack", "count", "amp", "quot", "39", NULL};

static int is_stop(const char *w, size_t n) {
    for (int i = 0; stop[i]; i++)
        if (strlen(stop[i]) == n && !memcmp(stop[i], w, n)) return 1;
    return 0;
}

typedef struct {
    int32_t *term;  /* token ids of all items, back to back */
    int64_t *off;   /* n + 1 */
    int64_t len, cap;
} bags;

static int bag_push(bags *b, int32_t t) {
    if (b->len == b->cap) {
        int64_t cap = b->cap ? 2 * b->cap : 1 << 16;
        int32_t *p = realloc(b->term, sizeof(int32_t) * (size_t)cap);
        if (!p) return lt_error(LT_ENOMEM, "tfidf: out of memory");
        b->term = p, b->cap = cap;
    }
    b->term[b->len++] = t;
    return 0;
}

static int add_token(lt_strmap *vocab, bags *b, const char *w, size_t n) {
    int64_t id;
    int added;
    LT_TRY(lt_strmap_get_or_add(vocab, w, n, &id, &added));
    return bag_push(b, (int32_t)id);
}

/* title words and category attributes of item i */
static int tokenize(const lt_catalog *cat, int64_t i, lt_strmap *vocab, bags *b) {
    char w[256];
    size_t len = 0;
    const char *s = lt_strs_get(&cat->title, i, &len);
    for (size_t p = 0; p < len;) {
        size_t n = 0;
        while (p < len && !(isalnum((unsigned char)s[p]) || (unsigned char)s[p] >= 0x80)) p++;
        while (p < len && (isalnum((unsigned char)s[p]) || (unsigned char)s[p] >= 0x80)) {
            if (n < sizeof w - 1) w[n++] = (char)tolower((unsigned char)s[p]);
            p++;
        }
        if (n >= 2 && !is_stop(w, n)) LT_TRY(add_token(vocab, b, w, n));
    }
    s = lt_strs_get(&cat->category, i, &len);
    for (const char *e = s + len; s && s < e;) {
        const char *bar = memchr(s, '|', (size_t)(e - s)), *end = bar ? bar : e;
        while (s < end && *s == ' ') s++;
        const char *t = end;
        while (t > s && t[-1] == ' ') t--;
        size_t n = 2;
        memcpy(w, "c:", 2);
        for (; s < t && n < sizeof w - 1; s++) w[n++] = (char)tolower((unsigned char)*s);
        if (n > 2) LT_TRY(add_token(vocab, b, w, n));
        s = bar ? bar + 1 : e;
    }
    return 0;
}

static const int64_t *g_df;
static int by_df(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_df[x] != g_df[y]) return g_df[x] > g_df[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int run(const char *data, const char *out, int64_t dim, int64_t terms, int64_t per) {
    double t0 = lt_seconds();
    lt_catalog cat;
    LT_TRY(lt_catalog_load(&cat, data));
    int64_t n = cat.n;
    lt_strmap vocab = {0};
    bags b = {0};
    b.off = calloc((size_t)n + 1, sizeof(int64_t));
    int rc = b.off ? 0 : lt_error(LT_ENOMEM, "tfidf: out of memory");
    for (int64_t i = 0; i < n && !rc; i++) {
        rc = tokenize(&cat, i, &vocab, &b);
        b.off[i + 1] = b.len;
    }
    int64_t V = vocab.keys.n;
    int64_t *df = calloc((size_t)(V ? V : 1), sizeof(int64_t)), *last = malloc(sizeof(int64_t) * (size_t)(V ? V : 1));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(V ? V : 1)), *col = malloc(sizeof(int32_t) * (size_t)(V ? V : 1));
    if (!rc && (!df || !last || !ids || !col)) rc = lt_error(LT_ENOMEM, "tfidf: out of memory");
    for (int64_t t = 0; t < V && !rc; t++) last[t] = -1, ids[t] = (int32_t)t, col[t] = -1;
    for (int64_t i = 0; i < n && !rc; i++)
        for (int64_t e = b.off[i]; e < b.off[i + 1]; e++)
            if (last[b.term[e]] != i) last[b.term[e]] = i, df[b.term[e]]++;
    /* the `terms` most frequent tokens that occur in at least 2 items */
    int64_t T = 0;
    if (!rc) {
        g_df = df;
        qsort(ids, (size_t)V, sizeof *ids, by_df);
        while (T < V && T < terms && df[ids[T]] >= 2) col[ids[T]] = (int32_t)T, T++;
        if (T < dim) rc = lt_error(LT_EINVAL, "tfidf: only %lld terms occur in 2+ items; --dim %lld is too many",
                                   (long long)T, (long long)dim);
    }
    float *x = rc ? NULL : calloc((size_t)(n * T), sizeof(float));
    if (!rc && !x) rc = lt_error(LT_ENOMEM, "tfidf: out of memory for %lld x %lld", (long long)n, (long long)T);
    int64_t empty = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        float *row = x + i * T;
        for (int64_t e = b.off[i]; e < b.off[i + 1]; e++)
            if (col[b.term[e]] >= 0) row[col[b.term[e]]] += 1.0f;
        double norm = 0;
        for (int64_t t = 0; t < T; t++)
            if (row[t] > 0) {
                row[t] = (float)((1 + log(row[t])) * (log((1.0 + n) / (1.0 + df[ids[t]])) + 1));
                norm += (double)row[t] * row[t];
            }
        empty += norm == 0;
        for (int64_t t = 0; t < T && norm > 0; t++) row[t] = (float)(row[t] / sqrt(norm));
    }
    printf("tfidf: %lld items, %lld distinct tokens, %lld terms kept (df >= 2), %lld items without any (%.1fs)\n",
           (long long)n, (long long)V, (long long)T, (long long)empty, lt_seconds() - t0);
    /* PCA to dim, then unit rows */
    lt_vecs *v = NULL;
    lt_pca p = {0};
    lt_pca_opts po;
    lt_pca_opts_init(&po);
    po.q = dim, po.exact = 0;
    float *y = rc ? NULL : malloc(sizeof(float) * (size_t)(n * dim));
    if (!rc && !y) rc = lt_error(LT_ENOMEM, "tfidf: out of memory");
    if (!rc) rc = lt_vecs_memory(&v, x, n, T);
    if (!rc) rc = lt_pca_fit(lt_backend_cpu(), v, &po, &p);
    if (!rc) rc = lt_pca_project(lt_backend_cpu(), &p, v, y);
    double kept = 0;
    for (int64_t q = 0; !rc && q < dim; q++) kept += p.variance[q];
    for (int64_t i = 0; i < n && !rc; i++) {
        double norm = 0;
        for (int64_t j = 0; j < dim; j++) norm += (double)y[i * dim + j] * y[i * dim + j];
        for (int64_t j = 0; j < dim && norm > 0; j++) y[i * dim + j] = (float)(y[i * dim + j] / sqrt(norm));
    }
    if (!rc)
        printf("pca: %lld -> %lld dimensions keep %.1f%% of the TF-IDF variance (%.1fs)\n", (long long)T, (long long)dim,
               100 * kept / p.total_variance, lt_seconds() - t0);
    char model[256], path[4096];
    snprintf(model, sizeof model, "tfidf-pca: title words + category attributes, TF-IDF over %lld terms, PCA to %lld, "
             "L2-normalised (tools/tfidf_embed.c; a stand-in for the BERT encoder)", (long long)T, (long long)dim);
    int64_t shards = (n + per - 1) / per;
    if (!rc) rc = lt_mkdirs(out);
    for (int64_t s = 0; s < shards && !rc; s++) {
        lt_emb_shard e = {.item_begin = s * per, .n = (s + 1) * per < n ? per : n - s * per, .n_total = n,
                          .shard_index = s, .shard_count = shards, .dim = dim, .normalized = 1, .data = y + s * per * dim};
        lt_emb_shard_path(path, sizeof path, out, s);
        rc = lt_emb_shard_write(path, &e, LT_F32, model);
    }
    if (!rc) printf("wrote %lld shard%s of %lld x %lld embeddings to %s (%.1fs)\n", (long long)shards, shards == 1 ? "" : "s",
                    (long long)n, (long long)dim, out, lt_seconds() - t0);
    lt_vecs_free(v);
    lt_pca_free(&p);
    free(x), free(y), free(df), free(last), free(ids), free(col), free(b.term), free(b.off);
    lt_strmap_free(&vocab);
    lt_catalog_free(&cat);
    return rc;
}

int main(int argc, char **argv) {
    const char *data = NULL, *out = NULL;
    int64_t dim = 128, terms = 4096, per = 4096;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc) dim = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--terms") && i + 1 < argc) terms = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--shard-items") && i + 1 < argc) per = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: tfidf-embed --data DIR --out DIR [--dim 128] [--terms 4096] [--shard-items 4096]\n");
            return 2;
        }
    }
    if (!data || !out || dim < 2 || terms < dim || per < 1) {
        fprintf(stderr, "tfidf-embed: --data and --out are required; need 2 <= dim <= terms and shard-items >= 1\n");
        return 2;
    }
    int rc = run(data, out, dim, terms, per);
    if (rc < 0) fprintf(stderr, "tfidf-embed: %s\n", lt_last_error());
    return rc < 0;
}
