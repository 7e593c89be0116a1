/* Bulk embedding (include/longtail/embed.h): a three-stage pipeline over shards.
 *   reader thread: token shard s+1 from disk     (HDF5, under the shard lock)
 *   this thread:   encode shard s, batch by batch (the encoder: CPU or CUDA)
 *   writer thread: embedding shard s-1 to disk   (temporary name, renamed when complete)
 * Each stage hands its shard to the next through a one-slot mailbox. */
#include "longtail/embed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataio.h"
#include "data/textio.h"
#include "longtail/embeddings.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/progress.h"
#include "longtail/tokens.h"

void lt_embed_opts_init(lt_embed_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_batch = 256;
    o->max_tokens = 16384;
    o->stored = LT_F32;
    o->progress = 1;
}

/* A one-slot mailbox between two threads. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void *item;
    int full, closed;
} mailbox;

static void mb_init(mailbox *m) {
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->item = NULL, m->full = m->closed = 0;
}

static void mb_put(mailbox *m, void *item) {
    pthread_mutex_lock(&m->mu);
    while (m->full && !m->closed) pthread_cond_wait(&m->cv, &m->mu);
    m->item = item, m->full = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* NULL when closed and empty */
static void *mb_get(mailbox *m) {
    pthread_mutex_lock(&m->mu);
    while (!m->full && !m->closed) pthread_cond_wait(&m->cv, &m->mu);
    void *it = m->full ? m->item : NULL;
    m->full = 0;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return it;
}

static void mb_close(mailbox *m) {
    pthread_mutex_lock(&m->mu);
    m->closed = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* The model attribute of an embedding shard: the encoder's own description (model, weights
 * fingerprint, math, device), then the token shard's fingerprint and the stored type. A finished
 * shard is kept by a restarted run only when this matches exactly, so new weights, an edited
 * catalog or another --bf16 setting embed it again. */
#define MADE_BY 1024

/* A shard in flight: tokens in, embeddings out. */
typedef struct {
    int64_t index;
    lt_token_shard tok;
    lt_emb_shard emb;
    char path[4096];
    int rc;
    char err[512];
} job;

typedef struct {
    const char *tokens_dir, *out_dir;
    char **names;
    int count;
    int *todo; /* shard indices still to embed, in order */
    int ntodo;
    char (*made_by)[MADE_BY]; /* per shard: what its embeddings come from (the shards' model attribute) */
    const lt_encoder *enc;
    const lt_embed_opts *o;
    mailbox to_encode, to_write;
    int write_rc;
    char write_err[512];
    int64_t written;
    int stop; /* set by the encoder loop on an error or at stop_after: the reader reads no more */
} pipeline;

static void *reader(void *arg) {
    pipeline *p = arg;
    for (int i = 0; i < p->ntodo && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE); i++) {
        job *j = calloc(1, sizeof *j);
        if (!j) break;
        j->index = p->todo[i];
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", p->tokens_dir, p->names[j->index]);
        int rc = j->rc = lt_token_shard_read(path, &j->tok);
        if (rc) snprintf(j->err, sizeof j->err, "%s", lt_last_error());
        mb_put(&p->to_encode, j); /* j belongs to the encoder now: do not touch it again */
        if (rc) break;
    }
    mb_close(&p->to_encode);
    return NULL;
}

static void *writer(void *arg) {
    pipeline *p = arg;
    job *j;
    while ((j = mb_get(&p->to_write))) {
        if (!p->write_rc) {
            p->write_rc = lt_emb_shard_write(j->path, &j->emb, p->o->stored, p->made_by[j->index]);
            if (p->write_rc) snprintf(p->write_err, sizeof p->write_err, "%s", lt_last_error());
            else p->written++;
        }
        lt_emb_shard_free(&j->emb);
        free(j);
    }
    return NULL;
}

/* Encode every item of a shard into j->emb, batching items of similar length. */
static int encode_shard(pipeline *p, job *j, lt_progress *pg, lt_embed_stats *st) {
    const lt_token_shard *t = &j->tok;
    const lt_encoder *enc = p->enc;
    int64_t n = t->n, dim = enc->dim, B = p->o->max_batch;
    j->emb = (lt_emb_shard){.item_begin = t->item_begin, .n = n, .n_total = t->n_total, .shard_index = t->shard_index,
                            .shard_count = t->shard_count, .dim = dim, .normalized = enc->normalized};
    j->emb.data = malloc(sizeof(float) * (size_t)(n * dim + 1));
    lt_len_row *order = malloc(sizeof *order * (size_t)(n + 1));
    /* the buffers that cross to the device: page-locked when the encoder runs on a GPU */
    int32_t *ids = NULL, *lens = NULL;
    float *out = NULL;
    lt_backend_host_alloc(enc->be, (void **)&ids, sizeof *ids * (size_t)(B * (t->max_len > 0 ? t->max_len : 1) + 1));
    lt_backend_host_alloc(enc->be, (void **)&lens, sizeof *lens * (size_t)(B + 1));
    lt_backend_host_alloc(enc->be, (void **)&out, sizeof *out * (size_t)(B * dim + 1));
    int rc = j->emb.data && order && ids && lens && out ? 0 : lt_error(LT_ENOMEM, "embed: out of memory");
    for (int64_t i = 0; i < n; i++) order[i] = (lt_len_row){t->off[i + 1] - t->off[i], i};
    lt_sort_len_rows(order, n);
    for (int64_t b = 0; b < n && !rc;) {
        /* a batch: up to B items, and padded tokens within max_tokens (lengths rise: the last is the widest) */
        int64_t e = b;
        while (e < n && e - b < B && (e - b + 1) * order[e].len <= p->o->max_tokens) e++;
        if (e == b) e = b + 1; /* one item longer than max_tokens goes alone */
        int64_t rows = e - b, T = order[e - 1].len;
        if (T > t->max_len) T = t->max_len > 0 ? t->max_len : T;
        for (int64_t r = 0; r < rows; r++) {
            const int32_t *src = t->ids + t->off[order[b + r].row];
            int64_t len = order[b + r].len;
            memcpy(ids + r * T, src, sizeof *ids * (size_t)len);
            for (int64_t k = len; k < T; k++) ids[r * T + k] = 0; /* [PAD]; masked out by lens */
            lens[r] = (int32_t)len;
            st->tokens += len;
            st->padded += T;
        }
        rc = enc->encode(enc->ctx, ids, lens, rows, T, out);
        for (int64_t r = 0; r < rows && !rc; r++)
            memcpy(j->emb.data + order[b + r].row * dim, out + r * dim, sizeof(float) * (size_t)dim);
        if (p->o->progress) lt_progress_add(pg, rows);
        st->items += rows;
        b = e;
    }
    free(order);
    lt_backend_host_free(enc->be, ids), lt_backend_host_free(enc->be, lens), lt_backend_host_free(enc->be, out);
    return rc;
}

/* item_begin, n_items, shard_count of a shard of the given kind (attributes only: cheap). */
static int shard_attrs(const char *path, const char *kind, int64_t v[3]) {
    lt_shard *s;
    LT_TRY(lt_shard_open(&s, path, kind, 1));
    int rc = lt_shard_attr_i64(s, "", "item_begin", &v[0]);
    if (!rc) rc = lt_shard_attr_i64(s, "", "n_items", &v[1]);
    if (!rc) rc = lt_shard_attr_i64(s, "", "shard_count", &v[2]);
    lt_shard_close(s);
    return rc;
}

/* An embedding shard from an earlier run that matches what this run would write. */
static int done_before(const char *path, const int64_t tok[3], int64_t dim, const char *made_by) {
    if (access(path, F_OK) != 0) return 0;
    int64_t v[3], d = -1;
    char was[MADE_BY] = "";
    lt_shard *s;
    int ok = shard_attrs(path, "embeddings", v) == 0 && v[0] == tok[0] && v[1] == tok[1] && v[2] == tok[2];
    if (ok && lt_shard_open(&s, path, "embeddings", 1) == 0) {
        ok = lt_shard_attr_i64(s, "", "dim", &d) == 0 && d == dim &&
             lt_shard_attr_str(s, "", "model", was, sizeof was) == 0 && !strcmp(was, made_by);
        lt_shard_close(s);
    }
    if (!ok) lt_warn("embed: %s does not match this catalog or encoder; embedding it again", path);
    return ok;
}

int lt_embed_run(const char *tokens_dir, const char *out_dir, const lt_encoder *enc, const lt_embed_opts *o,
                 lt_embed_stats *st) {
    memset(st, 0, sizeof *st);
    pipeline p = {.tokens_dir = tokens_dir, .out_dir = out_dir, .enc = enc, .o = o};
    LT_TRY(lt_mkdirs(out_dir));
    LT_TRY(lt_list_shards(tokens_dir, "tokens-", &p.names, &p.count));
    int rc = p.count ? 0 : lt_error(LT_ENOENT, "%s: no tokens-NNNNN.h5 shards (run longtail vocab first)", tokens_dir);
    p.todo = malloc(sizeof *p.todo * (size_t)(p.count + 1));
    p.made_by = malloc(sizeof *p.made_by * (size_t)(p.count + 1));
    if (!p.todo || !p.made_by) rc = lt_error(LT_ENOMEM, "embed: out of memory");
    int64_t total = 0;
    int rank = o->ranks > 1 ? o->rank : 0, ranks = o->ranks > 1 ? o->ranks : 1;
    for (int i = 0; i < p.count && !rc; i++) {
        char tp[8192], ep[4096];
        int64_t v[3];
        if (i % ranks != rank) continue; /* another rank's shard */
        snprintf(tp, sizeof tp, "%s/%s", tokens_dir, p.names[i]);
        if ((rc = shard_attrs(tp, "tokens", v))) break;
        if (v[2] != p.count) {
            rc = lt_shard_set_error(tokens_dir, "tokens-", p.names, p.count, v[2]);
            break;
        }
        uint64_t h;
        if ((rc = lt_file_fnv1a(tp, &h))) break;
        snprintf(p.made_by[i], MADE_BY, "%s; %s fnv1a %016llx; stored %s", enc->model ? enc->model : "?", p.names[i],
                 (unsigned long long)h, lt_dtype_name(o->stored));
        lt_emb_shard_path(ep, sizeof ep, out_dir, i);
        if (done_before(ep, v, enc->dim, p.made_by[i])) st->skipped++;
        else p.todo[p.ntodo++] = i, total += v[1];
    }
    for (int64_t s = p.count; !rc && rank == 0; s++) { /* shards of an earlier, larger catalog */
        char ep[4096];
        lt_emb_shard_path(ep, sizeof ep, out_dir, s);
        if (remove(ep) < 0) break;
    }
    if (rc) {
        free(p.todo), free(p.made_by);
        lt_free_names(p.names, p.count);
        return rc;
    }
    if (st->skipped) lt_info("embed: %lld of %d shards were finished by an earlier run", (long long)st->skipped, p.count);
    mb_init(&p.to_encode), mb_init(&p.to_write);
    pthread_t rt, wt;
    pthread_create(&rt, NULL, reader, &p);
    pthread_create(&wt, NULL, writer, &p);
    lt_progress pg;
    lt_progress_start(&pg, "embed", "items", total);
    double t0 = lt_seconds();
    job *j;
    int64_t encoded = 0;
    while ((j = mb_get(&p.to_encode))) {
        if (!rc && j->rc) rc = lt_error(j->rc, "%s", j->err);
        if (!rc && (o->stop_after <= 0 || encoded < o->stop_after)) {
            rc = encode_shard(&p, j, &pg, st);
            lt_emb_shard_path(j->path, sizeof j->path, out_dir, j->index);
        }
        lt_token_shard_free(&j->tok);
        if (rc || (o->stop_after > 0 && encoded >= o->stop_after)) { /* drain the reader, write nothing more */
            __atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
            lt_emb_shard_free(&j->emb);
            free(j);
            continue;
        }
        encoded++;
        mb_put(&p.to_write, j);
    }
    mb_close(&p.to_write);
    pthread_join(rt, NULL);
    pthread_join(wt, NULL);
    if (o->progress && total) lt_progress_end(&pg);
    if (!rc && p.write_rc) rc = lt_error(p.write_rc, "%s", p.write_err);
    st->shards = p.written;
    st->seconds = lt_seconds() - t0;
    st->items_per_s = st->seconds > 0 ? (double)st->items / st->seconds : 0;
    free(p.todo), free(p.made_by);
    lt_free_names(p.names, p.count);
    return rc;
}
