/* tests/test_embed: the bulk embedding pipeline with a stand-in encoder (a fixed function of the
 * ids): every item gets its own vector whatever batch it landed in; batches are sorted by length;
 * a run stopped after some shards and restarted writes byte-identical files to an uninterrupted
 * run; a stale or foreign shard is redone. */
#include <math.h>

#include "data/dataio.h"
#include "longtail/embed.h"
#include "longtail/embeddings.h"
#include "longtail/tokens.h"
#include "longtail/wordpiece.h"
#include "testutil.h"

#define DIM 6

static int64_t g_calls, g_padded_max;

/* out = a function of the real ids only: padding and batch neighbours must not matter */
static int fake_encode(void *ctx, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, float *out) {
    g_calls++;
    for (int64_t b = 0; b < B; b++) {
        for (int d = 0; d < DIM; d++) out[b * DIM + d] = 0;
        for (int64_t t = 0; t < lens[b]; t++)
            for (int d = 0; d < DIM; d++) out[b * DIM + d] += sinf((float)(ids[b * T + t] * (d + 1)) + (float)t);
        if (b > 0 && lens[b] < lens[b - 1]) g_padded_max = -1000000; /* batches must rise in length */
    }
    return 0;
}

static lt_vocab *small_vocab(void) {
    const char *toks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "red", "blue", "lip", "##stick", "gloss",
                          "nail", "polish", "matte", "shine", "cream", "for", "dry", "skin", ".", ",", "a", "b"};
    lt_vocab *v;
    OK(lt_vocab_create(&v, toks, (int64_t)(sizeof toks / sizeof *toks)));
    return v;
}

static void make_catalog(lt_catalog *c, int64_t n) {
    memset(c, 0, sizeof *c);
    const char *words[] = {"red", "blue", "lipstick", "gloss", "nail", "polish", "matte", "shine", "cream", "dry"};
    char title[512], id[32];
    for (int64_t i = 0; i < n; i++) {
        int len = 0, words_n = 1 + (int)((i * 7) % 23);
        for (int w = 0; w < words_n; w++) len += snprintf(title + len, sizeof title - (size_t)len, "%s%s", w ? " " : "", words[(i + w * 3) % 10]);
        snprintf(id, sizeof id, "i%lld", (long long)i);
        OK(lt_strs_push(&c->item_id, id, strlen(id)));
        OK(lt_strs_push(&c->title, title, (size_t)len));
        OK(lt_strs_push(&c->description, "", 0));
        OK(lt_strs_push(&c->category, "beauty", 6));
        c->n++;
    }
}

static char *file_bytes(const char *dir, int64_t s, size_t *len) {
    char p[4096];
    lt_emb_shard_path(p, sizeof p, dir, s);
    return read_file(p, len);
}

static void rm_shards(const char *dir, const char *prefix) {
    char **names;
    int count;
    if (lt_list_shards(dir, prefix, &names, &count)) return;
    for (int i = 0; i < count; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        remove(p);
    }
    lt_free_names(names, count);
}

int main(void) {
    char root[] = "/tmp/lt_embed_XXXXXX", tok[512], full[512], resumed[512];
    CHECK(mkdtemp(root) != NULL);
    snprintf(tok, sizeof tok, "%s/tok", root);
    snprintf(full, sizeof full, "%s/full", root);
    snprintf(resumed, sizeof resumed, "%s/resumed", root);
    lt_vocab *v = small_vocab();
    lt_catalog cat;
    make_catalog(&cat, 1000);
    lt_tokenize_opts to;
    lt_tokenize_opts_init(&to);
    to.items_per_shard = 300, to.max_len = 16; /* 4 shards, some items truncated */
    lt_tokenize_stats ts;
    OK(lt_tokenize_catalog(&cat, v, &to, tok, &ts));
    CHECK(ts.items == 1000 && ts.truncated > 0);

    lt_encoder enc = {.ctx = NULL, .dim = DIM, .normalized = 0, .model = "fake", .encode = fake_encode};
    lt_embed_opts o;
    lt_embed_opts_init(&o);
    o.max_batch = 32, o.max_tokens = 200, o.progress = 0;
    lt_embed_stats st;
    OK(lt_embed_run(tok, full, &enc, &o, &st));
    CHECK(st.shards == 4 && st.items == 1000 && st.skipped == 0);
    CHECK_MSG(g_padded_max == 0, "a batch was not sorted by length");
    CHECK_MSG((double)st.padded / (double)st.tokens < 1.05, "padding overhead %.3f", (double)st.padded / (double)st.tokens);

    /* each item's vector is the encoder's output for that item's own ids */
    float *all;
    int64_t n, d;
    OK(lt_emb_load_all(full, &all, &n, &d));
    CHECK(n == 1000 && d == DIM);
    int right = 1;
    for (int s = 0; s < 4; s++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/tokens-%05d.h5", tok, s);
        lt_token_shard t;
        OK(lt_token_shard_read(p, &t));
        for (int64_t i = 0; i < t.n; i++) {
            float want[DIM];
            int32_t len = (int32_t)(t.off[i + 1] - t.off[i]);
            fake_encode(NULL, t.ids + t.off[i], &len, 1, len, want);
            for (int k = 0; k < DIM; k++) right &= all[(t.item_begin + i) * DIM + k] == want[k];
        }
        lt_token_shard_free(&t);
    }
    CHECK_MSG(right, "embeddings are not the encoder's output for each item");
    free(all);

    /* stopped after 2 shards ("killed"), a stray temporary file left behind, then run again */
    o.stop_after = 2;
    OK(lt_embed_run(tok, resumed, &enc, &o, &st));
    CHECK(st.shards == 2);
    char stray[600];
    snprintf(stray, sizeof stray, "%s/emb-00002.h5.tmp-99999", resumed);
    FILE *f = fopen(stray, "w");
    fputs("half-written", f), fclose(f);
    o.stop_after = 0;
    g_calls = 0;
    OK(lt_embed_run(tok, resumed, &enc, &o, &st));
    CHECK_MSG(st.skipped == 2 && st.shards == 2 && st.items == 400, "resume: skipped %lld, wrote %lld, items %lld",
              (long long)st.skipped, (long long)st.shards, (long long)st.items);
    int same = 1;
    for (int s = 0; s < 4; s++) {
        size_t la = 0, lb = 1;
        char *a = file_bytes(full, s, &la), *b = file_bytes(resumed, s, &lb);
        same &= a && b && la == lb && !memcmp(a, b, la);
        free(a), free(b);
    }
    CHECK_MSG(same, "a resumed run's shards differ from an uninterrupted run's");
    remove(stray);

    /* a shard from another encoder (another dim) is redone, not trusted */
    enc.dim = DIM; /* same encoder; fake a foreign shard: */
    char p1[4096];
    lt_emb_shard_path(p1, sizeof p1, resumed, 1);
    float junk[4 * 3] = {0};
    lt_emb_shard foreign = {.item_begin = 300, .n = 4, .n_total = 1000, .shard_index = 1, .shard_count = 4, .dim = 3, .data = junk};
    OK(lt_emb_shard_write(p1, &foreign, LT_F32, "other"));
    OK(lt_embed_run(tok, resumed, &enc, &o, &st));
    CHECK(st.skipped == 3 && st.shards == 1);
    size_t la = 0, lb = 1;
    char *a = file_bytes(full, 1, &la), *b = file_bytes(resumed, 1, &lb);
    CHECK(a && b && la == lb && !memcmp(a, b, la));
    free(a), free(b);
    printf("  embed: per-item vectors, length-sorted batches (padding %.1f%%), byte-identical resume, foreign shard redone\n",
           100.0 * ((double)st.padded / (double)(st.tokens ? st.tokens : 1) - 1));

    rm_shards(full, "emb-"), rm_shards(resumed, "emb-"), rm_shards(tok, "tokens-");
    rmdir(full), rmdir(resumed), rmdir(tok), rmdir(root);
    lt_catalog_free(&cat);
    lt_vocab_free(v);
    return tu_finish("test_embed");
}
