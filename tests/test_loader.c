/* tests/test_loader: the token and sequence loaders.
 *  - every row appears exactly once per epoch, on exactly one rank, with its data intact;
 *  - shuffling differs between epochs and seeds and repeats for the same seed;
 *  - hold-out, max_len, min_len and padding;
 *  - length-sorted batches for embedding;
 *  - a loader seeked to a saved cursor yields exactly the batches that followed it, with and
 *    without the prefetch thread, across epoch ends and shard boundaries. */
#include <stdio.h>
#include <unistd.h>

#include "data/dataio.h"
#include "longtail/loader.h"
#include "longtail/rng.h"
#include "longtail/shard.h"
#include "longtail/tokens.h"
#include "testutil.h"

/* Token shards with known content: item g has length 3 + g % 11 and ids (g * 7 + j) % 1000. */
static void write_token_shards(const char *dir, int64_t n, int64_t per) {
    int64_t shards = (n + per - 1) / per;
    for (int64_t s = 0; s < shards; s++) {
        int64_t b = s * per, e = b + per < n ? b + per : n;
        int32_t *ids = malloc(sizeof *ids * (size_t)(per * 16));
        int64_t *off = malloc(sizeof *off * (size_t)(per + 1));
        off[0] = 0;
        for (int64_t i = 0; i < e - b; i++) {
            int64_t g = b + i, len = 3 + g % 11;
            for (int64_t j = 0; j < len; j++) ids[off[i] + j] = (int32_t)((g * 7 + j) % 1000);
            off[i + 1] = off[i] + len;
        }
        char path[512];
        snprintf(path, sizeof path, "%s/tokens-%05lld.h5", dir, (long long)s);
        lt_shard *sh;
        OK(lt_shard_create(&sh, path, "tokens", 1));
        OK(lt_ragged_write(sh, "ids", LT_I32, ids, off, 0, e - b));
        const char *k[] = {"item_begin", "n_items", "n_items_total", "shard_index", "shard_count", "max_len", "vocab_size",
                           "vocab_hash"};
        int64_t v[] = {b, e - b, n, s, shards, 16, 1000, 42};
        for (int i = 0; i < 8; i++) OK(lt_shard_set_attr_i64(sh, "", k[i], v[i]));
        OK(lt_shard_commit(sh));
        free(ids), free(off);
    }
}

/* Check an epoch of token batches: returns how often each item was seen (caller's array). */
static void check_token_epoch(lt_loader *l, int64_t *seen, int64_t n_items, int expect_sorted) {
    lt_batch *b;
    int rc, sorted = 1, intact = 1;
    int64_t last_len = -1;
    while ((rc = lt_loader_next(l, &b)) == 1) {
        for (int64_t i = 0; i < b->n; i++) {
            int64_t g = b->index[i];
            CHECK(g >= 0 && g < n_items);
            seen[g]++;
            if (b->len[i] != 3 + g % 11) intact = 0;
            for (int64_t j = 0; j < b->width; j++) {
                int32_t want = j < b->len[i] ? (int32_t)((g * 7 + j) % 1000) : -7;
                if (b->ids[i * b->width + j] != want) intact = 0;
            }
            if (b->len[i] < last_len) sorted = 0;
            last_len = b->len[i];
        }
    }
    CHECK_MSG(rc == 0, "epoch ended with %d (%s)", rc, lt_last_error());
    CHECK_MSG(intact, "token rows or padding differ from the shard contents");
    if (expect_sorted) CHECK_MSG(sorted, "sort_by_length: lengths decrease inside an epoch");
}

static void test_tokens(const char *dir) {
    int64_t n = 1003;
    write_token_shards(dir, n, 200); /* 6 shards, the last short */
    for (int world = 1; world <= 3; world++) {
        int64_t *seen = calloc((size_t)n, sizeof *seen);
        int64_t rows = 0;
        for (int rank = 0; rank < world; rank++) {
            lt_loader_opts o;
            lt_loader_opts_init(&o);
            o.batch = 37, o.rank = rank, o.world = world, o.shuffle = 1, o.seed = 5, o.pad_id = -7;
            lt_loader *l;
            OK(lt_token_loader_open(&l, dir, &o));
            rows += lt_loader_rows(l);
            check_token_epoch(l, seen, n, 0);
            lt_loader_close(l);
        }
        int once = 1;
        for (int64_t g = 0; g < n; g++) once &= seen[g] == 1;
        CHECK_MSG(once && rows == n, "world %d: items not seen exactly once across ranks", world);
        free(seen);
    }
    /* embedding order: no shuffle, sorted by length within each shard */
    lt_loader_opts o;
    lt_loader_opts_init(&o);
    o.batch = 64, o.sort_by_length = 1, o.pad_id = -7, o.prefetch = 0;
    lt_loader *l;
    OK(lt_token_loader_open(&l, dir, &o));
    int64_t *seen = calloc((size_t)n, sizeof *seen);
    /* lengths rise within a shard; across shards they restart, so check one shard's worth */
    lt_batch *b;
    OK(lt_loader_next(l, &b));
    int sorted = 1;
    for (int64_t i = 1; i < b->n; i++) sorted &= b->len[i] >= b->len[i - 1];
    CHECK_MSG(sorted && b->width == b->len[b->n - 1], "sort_by_length: first batch not sorted or too wide");
    free(seen);
    lt_loader_close(l);
    printf("  token loader: every item once per epoch over 1-3 ranks, data intact, length-sorted batches\n");
}

/* Events: user u has 2 + u % 9 events, item (u * 13 + p) % 50 at time 100 * p. */
static lt_events make_events(int64_t users) {
    lt_events e = {0};
    e.n_users = users, e.n_items = 50;
    e.user_off = malloc(sizeof(int64_t) * (size_t)(users + 1));
    e.user_off[0] = 0;
    for (int64_t u = 0; u < users; u++) e.user_off[u + 1] = e.user_off[u] + 2 + u % 9;
    e.n_events = e.user_off[users];
    e.item = malloc(sizeof(int32_t) * (size_t)e.n_events);
    e.time = malloc(sizeof(int64_t) * (size_t)e.n_events);
    for (int64_t u = 0; u < users; u++)
        for (int64_t p = 0; p < e.user_off[u + 1] - e.user_off[u]; p++) {
            e.item[e.user_off[u] + p] = (int32_t)((u * 13 + p) % 50);
            e.time[e.user_off[u] + p] = 100 * p;
        }
    return e;
}

static uint64_t batch_hash(const lt_batch *b) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < b->n * b->width; i++) h = (h ^ (uint32_t)b->ids[i]) * 1099511628211ull;
    for (int64_t i = 0; i < b->n; i++) h = (h ^ (uint64_t)b->index[i]) * 1099511628211ull;
    return h;
}

static void test_sequences(void) {
    lt_events ev = make_events(501);
    lt_loader_opts o;
    lt_loader_opts_init(&o);
    o.batch = 16, o.shuffle = 1, o.seed = 9, o.holdout = 2, o.max_len = 5, o.min_len = 2, o.pad_id = -1;
    lt_loader *l;
    OK(lt_seq_loader_open(&l, &ev, &o));
    /* users with 2 + u % 9 - 2 >= 2 events left: u % 9 >= 2 */
    int64_t want_rows = 0;
    for (int64_t u = 0; u < 501; u++) want_rows += u % 9 >= 2;
    CHECK_MSG(lt_loader_rows(l) == want_rows, "rows %lld, want %lld", (long long)lt_loader_rows(l), (long long)want_rows);
    int64_t *seen = calloc(501, sizeof *seen);
    lt_batch *b;
    int rc, intact = 1;
    uint64_t first_epoch[64] = {0};
    int nb = 0;
    while ((rc = lt_loader_next(l, &b)) == 1) {
        if (nb < 64) first_epoch[nb] = batch_hash(b);
        nb++;
        for (int64_t i = 0; i < b->n; i++) {
            int64_t u = b->index[i], total = 2 + u % 9, keep = total - 2 > 5 ? 5 : total - 2;
            seen[u]++;
            if (b->len[i] != keep) intact = 0;
            for (int64_t j = 0; j < b->width; j++) {
                int64_t p = total - 2 - keep + j; /* the last `keep` before the hold-out */
                int32_t want = j < keep ? (int32_t)((u * 13 + p) % 50) : -1;
                if (b->ids[i * b->width + j] != want) intact = 0;
                if (j < keep && b->time[i * b->width + j] != 100 * p) intact = 0;
            }
        }
    }
    CHECK(rc == 0 && nb == lt_loader_batches(l));
    CHECK_MSG(intact, "sequence rows differ from the histories (hold-out, max_len or padding wrong)");
    int once = 1;
    for (int64_t u = 0; u < 501; u++) once &= seen[u] == (u % 9 >= 2);
    CHECK_MSG(once, "users not seen exactly once");
    /* epoch 2 is another permutation */
    OK(lt_loader_next(l, &b));
    CHECK(batch_hash(b) != first_epoch[0] && b->cursor.epoch == 1 && b->cursor.batch == 0);
    lt_loader_close(l);
    /* the same seed repeats epoch 1; another seed does not */
    OK(lt_seq_loader_open(&l, &ev, &o));
    OK(lt_loader_next(l, &b));
    CHECK(batch_hash(b) == first_epoch[0]);
    lt_loader_close(l);
    o.seed = 10;
    OK(lt_seq_loader_open(&l, &ev, &o));
    OK(lt_loader_next(l, &b));
    CHECK(batch_hash(b) != first_epoch[0]);
    lt_loader_close(l);
    free(seen);
    lt_events_free(&ev);
    printf("  sequence loader: users once per epoch, hold-out/max_len/min_len/padding, seeded shuffles\n");
}

/* Take k batches, save the cursor, take m more; a fresh loader seeked there gives the same m. */
static void check_resume(lt_loader *a, lt_loader *b, int k, int m, const char *what) {
    lt_batch *x;
    for (int i = 0; i < k;) {
        int rc = lt_loader_next(a, &x);
        OK(rc);
        i += rc == 1;
    }
    lt_cursor c = lt_loader_tell(a);
    uint64_t *h = malloc(sizeof *h * (size_t)m);
    int ends_a = 0, ends_b = 0;
    for (int i = 0; i < m;) {
        int rc = lt_loader_next(a, &x);
        OK(rc);
        if (rc == 1) h[i++] = batch_hash(x) ^ (uint64_t)x->cursor.epoch * 31 ^ (uint64_t)x->cursor.batch;
        else ends_a++;
    }
    OK(lt_loader_seek(b, c));
    int same = 1;
    for (int i = 0; i < m;) {
        int rc = lt_loader_next(b, &x);
        OK(rc);
        if (rc == 1) same &= h[i++] == (batch_hash(x) ^ (uint64_t)x->cursor.epoch * 31 ^ (uint64_t)x->cursor.batch);
        else ends_b++;
    }
    CHECK_MSG(same && ends_a == ends_b && ends_a > 0, "%s: resumed batches differ (%d/%d epoch ends)", what, ends_a, ends_b);
    printf("  %s: resumed after %d batches, the next %d (across %d epoch end%s) identical\n", what, k, m, ends_a,
           ends_a == 1 ? "" : "s");
    free(h);
}

static void test_resume(const char *dir) {
    lt_events ev = make_events(300);
    for (int pf = 0; pf <= 3; pf += 3) {
        lt_loader_opts o;
        lt_loader_opts_init(&o);
        o.batch = 7, o.shuffle = 1, o.seed = 3, o.prefetch = pf, o.rank = 1, o.world = 2;
        lt_loader *a, *b;
        OK(lt_seq_loader_open(&a, &ev, &o));
        OK(lt_seq_loader_open(&b, &ev, &o));
        check_resume(a, b, 17, 40, pf ? "sequence loader, prefetch 3" : "sequence loader, no prefetch");
        lt_loader_close(a), lt_loader_close(b);
        o.batch = 50;
        OK(lt_token_loader_open(&a, dir, &o));
        OK(lt_token_loader_open(&b, dir, &o));
        check_resume(a, b, 5, 30, pf ? "token loader, prefetch 3" : "token loader, no prefetch");
        lt_loader_close(a), lt_loader_close(b);
    }
    lt_events_free(&ev);
}

static void test_bad_dirs(const char *dir) {
    lt_loader_opts o;
    lt_loader_opts_init(&o);
    lt_loader *l;
    FAILS_WITH(lt_token_loader_open(&l, "/nonexistent/tokens", &o), LT_ENOENT, "/nonexistent/tokens");
    char path[512];
    snprintf(path, sizeof path, "%s/tokens-00002.h5", dir); /* a missing middle shard */
    char moved[600];
    snprintf(moved, sizeof moved, "%s.away", path);
    CHECK(rename(path, moved) == 0);
    FAILS_WITH(lt_token_loader_open(&l, dir, &o), LT_EFORMAT, "tokens-00002.h5 is missing");
    CHECK(rename(moved, path) == 0);
    o.rank = 2, o.world = 2;
    FAILS_WITH(lt_token_loader_open(&l, dir, &o), LT_EINVAL, "rank");
}

int main(void) {
    char dir[] = "/tmp/lt_loader_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_tokens(dir);
    test_sequences();
    test_resume(dir);
    test_bad_dirs(dir);
    char **names;
    int count;
    OK(lt_list_shards(dir, "tokens-", &names, &count));
    for (int i = 0; i < count; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        remove(p);
    }
    lt_free_names(names, count);
    rmdir(dir);
    return tu_finish("test_loader");
}
