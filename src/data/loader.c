/* Loaders (include/longtail/loader.h): a deterministic row order per epoch, cut into batches,
 * made ahead by one prefetch thread into a small ring.
 *
 * The rows of an epoch are segments in order: the token loader has one segment per shard (this
 * rank's slice of the shard's items; shards in a shuffled order when shuffling), the sequence
 * loader one segment (this rank's users). Within a segment the order is a permutation seeded by
 * (seed + rank, epoch, segment), or data order, optionally sorted by length. Batch b of an epoch
 * covers the rows [b B, (b + 1) B) of that concatenation, so it is a pure function of the cursor:
 * seeking is exact, and the prefetch thread cannot change what a batch holds. */
#include "longtail/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataio.h"
#include "longtail/error.h"
#include "longtail/rng.h"
#include "longtail/tokens.h"

enum { KIND_TOKENS, KIND_SEQ };
#define RING 8 /* slots: prefetch + the one the caller holds, at most */

/* One segment's rows for the current epoch (the producer caches the last one it used). */
typedef struct {
    int64_t epoch, seg; /* which one this is; -1: none */
    int64_t n;
    int64_t *row; /* local row ids in epoch order */
} seg_order;

struct lt_loader {
    int kind;
    lt_loader_opts o;
    /* segments: rows of this rank per segment, and the range they cover */
    int nseg;
    int64_t *seg_begin, *seg_count; /* first local row of this rank's slice, rows in it */
    int64_t rows, batches;
    /* token loader */
    char **paths;
    lt_token_shard shard[2]; /* the two most recently loaded shards */
    int64_t shard_id[2];
    int shard_next;          /* which of the two to replace next */
    /* sequence loader */
    const lt_events *ev;
    int64_t *users; /* this rank's users with a long enough history; rows index this */
    /* the producer's caches */
    int64_t order_epoch;
    int64_t *seg_perm; /* segment order of order_epoch */
    seg_order so;
    /* the ring and the thread */
    lt_batch slot[RING];
    size_t cap_ids[RING], cap_rows[RING];
    int ready[RING], nready, rhead; /* FIFO of filled slots */
    int free_[RING], nfree;
    int held;                       /* slot the caller holds, -1 none */
    lt_cursor prod, next;           /* next to produce, next to return */
    int depth;
    pthread_t th;
    int running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int err;
    char errmsg[512];
};

void lt_loader_opts_init(lt_loader_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->world = 1;
    o->prefetch = 2;
}

/* ---- the row order of an epoch ------------------------------------------------------------------ */

/* Events of a user that a batch row gets: after the hold-out, at most max_len. */
static int64_t seq_len(const lt_loader *l, int64_t user) {
    const lt_events *e = l->ev;
    int64_t n = e->user_off[user + 1] - e->user_off[user] - l->o.holdout;
    if (l->o.max_len > 0 && n > l->o.max_len) n = l->o.max_len;
    return n < 0 ? 0 : n;
}

static int64_t seg_len_of(lt_loader *l, int64_t seg, int64_t local, const lt_token_shard *t) {
    (void)seg;
    return l->kind == KIND_SEQ ? seq_len(l, l->users[local]) : t->off[local + 1] - t->off[local];
}

static const lt_token_shard *get_shard(lt_loader *l, int64_t s, int *rc);

/* The order of segment seg in epoch e: this rank's slice, permuted or sorted. */
static int build_seg_order(lt_loader *l, int64_t e, int64_t seg) {
    seg_order *so = &l->so;
    if (so->epoch == e && so->seg == seg) return 0;
    int64_t n = l->seg_count[seg], b = l->seg_begin[seg];
    int64_t *row = realloc(so->row, sizeof *row * (size_t)(n ? n : 1));
    if (!row) return lt_error(LT_ENOMEM, "loader: out of memory for %lld rows", (long long)n);
    so->row = row;
    for (int64_t i = 0; i < n; i++) row[i] = b + i;
    if (l->o.shuffle) {
        lt_rng r;
        lt_rng_init(&r, l->o.seed + (uint64_t)(l->o.stripe ? 0 : l->o.rank), ((uint64_t)e << 24) ^ (uint64_t)seg);
        for (int64_t i = n; i > 1; i--) {
            int64_t j = (int64_t)lt_rng_below(&r, (uint64_t)i), t = row[i - 1];
            row[i - 1] = row[j], row[j] = t;
        }
    } else if (l->o.sort_by_length) {
        int rc = 0;
        const lt_token_shard *t = l->kind == KIND_TOKENS ? get_shard(l, seg, &rc) : NULL;
        if (rc) return rc;
        lt_len_row *lr = malloc(sizeof *lr * (size_t)(n ? n : 1));
        if (!lr) return lt_error(LT_ENOMEM, "loader: out of memory");
        for (int64_t i = 0; i < n; i++) lr[i] = (lt_len_row){seg_len_of(l, seg, row[i], t), row[i]};
        lt_sort_len_rows(lr, n);
        for (int64_t i = 0; i < n; i++) row[i] = lr[i].row;
        free(lr);
    }
    so->epoch = e, so->seg = seg, so->n = n;
    return 0;
}

/* The segment order of epoch e (shards shuffled with the rows when shuffling). */
static void build_seg_perm(lt_loader *l, int64_t e) {
    if (l->order_epoch == e) return;
    for (int i = 0; i < l->nseg; i++) l->seg_perm[i] = i;
    if (l->o.shuffle && l->nseg > 1) {
        lt_rng r;
        lt_rng_init(&r, l->o.seed + (uint64_t)(l->o.stripe ? 0 : l->o.rank), ((uint64_t)e << 24) | 0xffffffu);
        for (int64_t i = l->nseg; i > 1; i--) {
            int64_t j = (int64_t)lt_rng_below(&r, (uint64_t)i), t = l->seg_perm[i - 1];
            l->seg_perm[i - 1] = l->seg_perm[j], l->seg_perm[j] = t;
        }
    }
    l->order_epoch = e;
}

/* ---- token shards -------------------------------------------------------------------------------- */

static const lt_token_shard *get_shard(lt_loader *l, int64_t s, int *rc) {
    for (int k = 0; k < 2; k++)
        if (l->shard_id[k] == s) return &l->shard[k];
    int k = l->shard_next;
    l->shard_next ^= 1;
    lt_token_shard_free(&l->shard[k]);
    l->shard_id[k] = -1;
    *rc = lt_token_shard_read(l->paths[s], &l->shard[k]);
    if (*rc) return NULL;
    l->shard_id[k] = s;
    return &l->shard[k];
}

/* ---- making one batch --------------------------------------------------------------------------- */

static int ensure(lt_loader *l, int slot, int64_t rows, int64_t width) {
    lt_batch *b = &l->slot[slot];
    size_t need = (size_t)(rows * (width ? width : 1));
    if (need > l->cap_ids[slot]) {
        int32_t *ids = realloc(b->ids, need * sizeof *ids);
        int64_t *tm = l->kind == KIND_SEQ ? realloc(b->time, need * sizeof *tm) : NULL;
        if (ids) b->ids = ids;
        if (tm) b->time = tm;
        if (!ids || (l->kind == KIND_SEQ && !tm)) return lt_error(LT_ENOMEM, "loader: out of memory for a batch");
        l->cap_ids[slot] = need;
    }
    if ((size_t)rows > l->cap_rows[slot]) {
        int32_t *len = realloc(b->len, (size_t)rows * sizeof *len);
        int64_t *idx = realloc(b->index, (size_t)rows * sizeof *idx);
        if (len) b->len = len;
        if (idx) b->index = idx;
        if (!len || !idx) return lt_error(LT_ENOMEM, "loader: out of memory for a batch");
        l->cap_rows[slot] = (size_t)rows;
    }
    return 0;
}

/* A row of the batch: its segment and local row (item in the shard, or position in users[]). */
typedef struct {
    int64_t seg, local, len;
} row_ref;

static int make_batch(lt_loader *l, lt_cursor c, int slot) {
    /* striped: batch c.batch of the run is rows [c.batch B W, (c.batch + 1) B W) and this rank's
     * share of it the rank-th B of them */
    int64_t B = l->o.batch, W = l->o.stripe ? l->o.world : 1, first = c.batch * B * W + (W > 1 ? l->o.rank * B : 0);
    int64_t n = l->rows - first < B ? l->rows - first : B;
    if (n < 0) n = 0;
    row_ref *refs = malloc(sizeof *refs * (size_t)n);
    if (!refs) return lt_error(LT_ENOMEM, "loader: out of memory");
    build_seg_perm(l, c.epoch);
    /* pass 1: walk the segments in epoch order to row `first`; note each row and the width */
    int64_t pos = 0, k = 0, width = 0;
    int rc = 0;
    for (int si = 0; si < l->nseg && k < n && !rc; si++) {
        int64_t seg = l->seg_perm[si], cnt = l->seg_count[seg];
        if (pos + cnt <= first) {
            pos += cnt;
            continue;
        }
        if ((rc = build_seg_order(l, c.epoch, seg))) break;
        const lt_token_shard *t = l->kind == KIND_TOKENS ? get_shard(l, seg, &rc) : NULL;
        if (rc) break;
        for (int64_t i = first + k - pos; i < cnt && k < n; i++, k++) {
            int64_t local = l->so.row[i];
            refs[k] = (row_ref){seg, local, seg_len_of(l, seg, local, t)};
            if (refs[k].len > width) width = refs[k].len;
        }
        pos += cnt;
    }
    if (!rc) rc = ensure(l, slot, n, width);
    /* pass 2: copy (a batch spanning more than two small shards may reload one: still correct) */
    lt_batch *b = &l->slot[slot];
    for (int64_t i = 0; i < n && !rc; i++) {
        const row_ref *r = &refs[i];
        int32_t *dst = b->ids + i * width;
        b->len[i] = (int32_t)r->len;
        if (l->kind == KIND_TOKENS) {
            const lt_token_shard *t = get_shard(l, r->seg, &rc);
            if (rc) break;
            memcpy(dst, t->ids + t->off[r->local], sizeof *dst * (size_t)r->len);
            b->index[i] = t->item_begin + r->local;
        } else { /* the last len events before the held-out tail */
            const lt_events *e = l->ev;
            int64_t user = l->users[r->local], end = e->user_off[user + 1] - l->o.holdout, start = end - r->len;
            memcpy(dst, e->item + start, sizeof *dst * (size_t)r->len);
            memcpy(b->time + i * width, e->time + start, sizeof *b->time * (size_t)r->len);
            for (int64_t j = r->len; j < width; j++) b->time[i * width + j] = 0;
            b->index[i] = user;
        }
        for (int64_t j = r->len; j < width; j++) dst[j] = l->o.pad_id;
    }
    if (!rc) b->n = n, b->width = width, b->cursor = c;
    free(refs);
    return rc;
}

static lt_cursor advance(const lt_loader *l, lt_cursor c) {
    if (++c.batch >= l->batches) c.epoch++, c.batch = 0;
    return c;
}

/* ---- the prefetch thread ---------------------------------------------------------------------- */

static void *producer(void *arg) {
    lt_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop && !l->err) {
        if (l->nfree == 0 || l->nready >= l->depth) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        int slot = l->free_[--l->nfree];
        lt_cursor c = l->prod;
        pthread_mutex_unlock(&l->mu);
        int rc = make_batch(l, c, slot);
        pthread_mutex_lock(&l->mu);
        if (rc) {
            l->err = rc;
            snprintf(l->errmsg, sizeof l->errmsg, "%s", lt_last_error());
            l->free_[l->nfree++] = slot;
        } else {
            l->ready[(l->rhead + l->nready) % RING] = slot;
            l->nready++;
            l->prod = advance(l, c);
        }
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void stop_thread(lt_loader *l) {
    if (!l->running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    l->running = 0;
}

static int start(lt_loader *l, lt_cursor c) {
    stop_thread(l);
    l->nready = l->rhead = 0;
    l->nfree = 0;
    for (int i = 0; i < RING; i++) l->free_[l->nfree++] = i;
    l->held = -1;
    l->prod = l->next = c;
    l->stop = 0;
    l->err = 0;
    if (l->depth > 0 && l->batches > 0) {
        if (pthread_create(&l->th, NULL, producer, l)) return lt_error(LT_ENOMEM, "loader: cannot start the prefetch thread");
        l->running = 1;
    }
    return 0;
}

int lt_loader_seek(lt_loader *l, lt_cursor c) {
    if (c.epoch < 0 || c.batch < 0 || (l->batches && c.batch > l->batches))
        return lt_error(LT_EINVAL, "loader: cursor (epoch %lld, batch %lld) is outside an epoch of %lld batches",
                        (long long)c.epoch, (long long)c.batch, (long long)l->batches);
    return start(l, c);
}

lt_cursor lt_loader_tell(const lt_loader *l) { return l->next; }
int64_t lt_loader_rows(const lt_loader *l) { return l->rows; }
int64_t lt_loader_batches(const lt_loader *l) { return l->batches; }

int lt_loader_next(lt_loader *l, lt_batch **out) {
    *out = NULL;
    if (l->next.batch >= l->batches) { /* end of an epoch; the producer is already in the next */
        l->next.epoch++, l->next.batch = 0;
        return 0;
    }
    if (!l->running) { /* synchronous */
        int rc = make_batch(l, l->next, 0);
        if (rc) return rc;
        *out = &l->slot[0];
        l->next = (lt_cursor){l->next.epoch, l->next.batch + 1};
        return 1;
    }
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) l->free_[l->nfree++] = l->held, l->held = -1;
    pthread_cond_broadcast(&l->cv);
    while (l->nready == 0 && !l->err) pthread_cond_wait(&l->cv, &l->mu);
    int rc = 0;
    if (l->nready == 0) {
        rc = lt_error(l->err, "%s", l->errmsg);
    } else {
        int slot = l->ready[l->rhead];
        l->rhead = (l->rhead + 1) % RING;
        l->nready--;
        l->held = slot;
        *out = &l->slot[slot];
        l->next = (lt_cursor){l->next.epoch, l->next.batch + 1};
    }
    pthread_mutex_unlock(&l->mu);
    return rc ? rc : 1;
}

/* ---- opening ------------------------------------------------------------------------------------ */

static int alloc_loader(lt_loader **out, const lt_loader_opts *o, int kind, int nseg) {
    if (o->batch < 1 || o->world < 1 || o->rank < 0 || o->rank >= o->world || o->prefetch < 0)
        return lt_error(LT_EINVAL, "loader: need batch >= 1 and 0 <= rank < world (batch %lld, rank %d, world %d)",
                        (long long)o->batch, o->rank, o->world);
    lt_loader *l = calloc(1, sizeof *l);
    if (!l) return lt_error(LT_ENOMEM, "loader: out of memory");
    l->kind = kind;
    l->o = *o;
    l->nseg = nseg;
    l->seg_begin = calloc((size_t)nseg + 1, sizeof *l->seg_begin);
    l->seg_count = calloc((size_t)nseg + 1, sizeof *l->seg_count);
    l->seg_perm = calloc((size_t)nseg + 1, sizeof *l->seg_perm);
    l->shard_id[0] = l->shard_id[1] = -1;
    l->so.epoch = l->so.seg = -1;
    l->order_epoch = -1;
    l->depth = o->prefetch > RING - 1 ? RING - 1 : o->prefetch;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    *out = l;
    if (!l->seg_begin || !l->seg_count || !l->seg_perm) {
        lt_loader_close(l);
        *out = NULL;
        return lt_error(LT_ENOMEM, "loader: out of memory");
    }
    return 0;
}

static int finish_open(lt_loader *l) {
    l->rows = 0;
    for (int s = 0; s < l->nseg; s++) l->rows += l->seg_count[s];
    int64_t B = l->o.batch * (l->o.stripe ? l->o.world : 1); /* striped: the run's batch */
    l->batches = l->o.drop_last ? l->rows / B : (l->rows + B - 1) / B;
    if (l->o.drop_last) l->rows = l->batches * B;
    return start(l, (lt_cursor){0, 0});
}

/* This rank's contiguous slice [r n / W, (r + 1) n / W) of n rows. */
static void slice(const lt_loader_opts *o, int64_t n, int64_t *begin, int64_t *count) {
    int64_t b = o->stripe ? 0 : n * o->rank / o->world, e = o->stripe ? n : n * (o->rank + 1) / o->world;
    *begin = b, *count = e - b;
}

int lt_token_loader_open(lt_loader **out, const char *dir, const lt_loader_opts *o) {
    *out = NULL;
    char **names;
    int count;
    LT_TRY(lt_list_shards(dir, "tokens-", &names, &count));
    if (count == 0) {
        lt_free_names(names, count);
        return lt_error(LT_ENOENT, "%s: no tokens-NNNNN.h5 shards (run longtail vocab first)", dir);
    }
    lt_loader *l;
    int rc = alloc_loader(&l, o, KIND_TOKENS, count);
    if (rc) {
        lt_free_names(names, count);
        return rc;
    }
    l->paths = calloc((size_t)count, sizeof *l->paths);
    int64_t total = 0, vocab = -1;
    uint64_t hash = 0;
    /* validate every shard up front: a missing or foreign shard fails now, not hours in */
    for (int i = 0; i < count && !rc; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        l->paths[i] = strdup(path);
        lt_token_shard t;
        if ((rc = lt_token_shard_read(path, &t))) break;
        if (t.shard_count != count)
            rc = lt_shard_set_error(dir, "tokens-", names, count, t.shard_count);
        else if (t.shard_index != i || t.item_begin != total)
            rc = lt_error(LT_EFORMAT, "%s: shard %lld of %lld from item %lld, but %d shards are present and item %lld "
                          "comes next", path, (long long)t.shard_index, (long long)t.shard_count,
                          (long long)t.item_begin, count, (long long)total);
        else if (vocab >= 0 && (t.vocab_size != vocab || t.vocab_hash != hash))
            rc = lt_error(LT_EFORMAT, "%s: tokenized with another vocabulary than %s", path, l->paths[0]);
        vocab = t.vocab_size, hash = t.vocab_hash;
        slice(o, t.n, &l->seg_begin[i], &l->seg_count[i]);
        total += t.n;
        lt_token_shard_free(&t);
    }
    lt_free_names(names, count);
    if (!rc) rc = finish_open(l);
    if (rc) {
        lt_loader_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

int lt_seq_loader_open(lt_loader **out, const lt_events *ev, const lt_loader_opts *o) {
    *out = NULL;
    lt_loader *l;
    LT_TRY(alloc_loader(&l, o, KIND_SEQ, 1));
    l->ev = ev;
    int64_t b, n, k = 0;
    slice(o, ev->n_users, &b, &n);
    l->users = malloc(sizeof *l->users * (size_t)(n ? n : 1));
    if (!l->users) {
        lt_loader_close(l);
        return lt_error(LT_ENOMEM, "loader: out of memory");
    }
    for (int64_t u = b; u < b + n; u++)
        if (seq_len(l, u) >= (o->min_len > 0 ? o->min_len : 1)) l->users[k++] = u;
    l->seg_begin[0] = 0, l->seg_count[0] = k;
    int rc = finish_open(l);
    if (rc) {
        lt_loader_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

void lt_loader_close(lt_loader *l) {
    if (!l) return;
    stop_thread(l);
    for (int i = 0; i < RING; i++) {
        free(l->slot[i].ids), free(l->slot[i].len), free(l->slot[i].index), free(l->slot[i].time);
    }
    for (int k = 0; k < 2; k++) lt_token_shard_free(&l->shard[k]);
    if (l->paths)
        for (int i = 0; i < l->nseg; i++) free(l->paths[i]);
    free(l->paths);
    free(l->seg_begin), free(l->seg_count), free(l->seg_perm), free(l->so.row), free(l->users);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}
