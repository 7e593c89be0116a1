/* Loaders: batches for training and bulk work, made ahead of time on a prefetch thread.
 *
 *  - token loader: item token ids from the token shards (DIR/tokens-NNNNN.h5, see tokens.h),
 *    streamed shard by shard: memory holds the shard being served and the one being read.
 *  - sequence loader: users' event histories from events.h5 (held in memory: 12 bytes an event).
 *
 * Data parallelism: rank r of W owns a contiguous slice of the items of each token shard, or of
 * the users, [r n / W, (r + 1) n / W), so ranks never see the same example. Shuffling (when on)
 * permutes the rank's slice anew each epoch with an RNG seeded by seed + rank (stream = epoch,
 * shard), and also the order of the shards. The position in the data is a cursor (epoch, batch);
 * a loader seeked to a saved cursor yields exactly the batches that followed it. */
#ifndef LONGTAIL_LOADER_H
#define LONGTAIL_LOADER_H

#include <stdint.h>

#include "longtail/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_cursor {
    int64_t epoch, batch; /* the next batch to be returned */
} lt_cursor;

/* One batch. Arrays are owned by the loader and valid until the next lt_loader_next. */
typedef struct lt_batch {
    int64_t n;        /* rows in this batch (the last batch of an epoch may be short) */
    int64_t width;    /* columns of ids: the longest row of the batch */
    int32_t *ids;     /* [n, width] row-major, padded with pad_id */
    int32_t *len;     /* [n] real length of each row */
    int64_t *index;   /* [n] item index (token loader) or user index (sequence loader) */
    int64_t *time;    /* sequence loader: [n, width] timestamps, padded with 0 */
    lt_cursor cursor; /* the cursor of this batch; save cursor + 1 batch to resume after it */
} lt_batch;

typedef struct lt_loader_opts {
    int64_t batch;       /* rows per batch */
    int shuffle;         /* permute each epoch (else data order) */
    int sort_by_length;  /* token loader without shuffle: batches of similar length (embedding) */
    int drop_last;       /* skip an epoch's last, short batch */
    uint64_t seed;
    int rank, world;     /* 0 and 1 without data parallelism */
    int stripe;          /* the other way to split (token loader): every rank walks the whole data in
                            the order one rank would (shuffle seeded by seed alone) in batches of
                            batch x world rows, and takes its own batch rows of each; so W ranks with
                            batch B read exactly what one rank with batch B W reads */
    int prefetch;        /* batches made ahead (0: synchronous, for tests) */
    int32_t pad_id;      /* padding value of ids */
    int64_t max_len;     /* sequence loader: keep the last max_len events of a history (0: all) */
    int64_t holdout;     /* sequence loader: drop the last holdout events (leave-one-out: 2) */
    int64_t min_len;     /* sequence loader: skip users with fewer events left than this */
} lt_loader_opts;

void lt_loader_opts_init(lt_loader_opts *o); /* batch 64, no shuffle, world 1, prefetch 2 */

typedef struct lt_loader lt_loader;

/* Token loader over DIR's token shards (all of them are opened and checked first). */
int lt_token_loader_open(lt_loader **out, const char *dir, const lt_loader_opts *o);
/* Sequence loader over an events file already in memory (the loader keeps a pointer to ev). */
int lt_seq_loader_open(lt_loader **out, const lt_events *ev, const lt_loader_opts *o);

/* The next batch, made ahead on the prefetch thread. Returns 1 with a batch, 0 at the end of an
 * epoch (the following call starts the next epoch), or a negative error from reading. */
int lt_loader_next(lt_loader *l, lt_batch **batch);
/* Continue from a cursor (the batch it names is the next one returned). */
int lt_loader_seek(lt_loader *l, lt_cursor c);
/* Where the next lt_loader_next continues: save it in a checkpoint. */
lt_cursor lt_loader_tell(const lt_loader *l);
/* Rows this rank sees per epoch, and batches per epoch. */
int64_t lt_loader_rows(const lt_loader *l);
int64_t lt_loader_batches(const lt_loader *l);
void lt_loader_close(lt_loader *l);

#ifdef __cplusplus
}
#endif
#endif
