/* One epoch of the recommender's training batches, as src/train/rec_train.c makes them (users with
 * at least 2 events sorted by length, then by user, cut into batches of `batch`, in the trainer's
 * shuffled order for `epoch`): shared by bench/rec and bench/scaling. */
#ifndef LONGTAIL_BENCH_REC_BATCHES_H
#define LONGTAIL_BENCH_REC_BATCHES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/rec.h"
#include "longtail/rng.h"
#include "longtail/trainer.h"

typedef struct {
    int64_t n_batches, n_users, positions, padded; /* positions: targets; padded: B x (T - 1) rows */
    int64_t *B, *T, *off;                         /* batch k: B[k] rows of T[k] items at items + off[k] */
    int32_t *lens, *items;                        /* lens at loff[k] */
    int64_t *loff;
} batches;

static const lt_rec_split *g_sp;
static inline int by_len(const void *a, const void *b) { /* as rec_train.c: by length, then by user */
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int64_t lx = g_sp->off[x + 1] - g_sp->off[x], ly = g_sp->off[y + 1] - g_sp->off[y];
    return lx != ly ? (lx < ly ? -1 : 1) : (x < y ? -1 : x > y);
}

static inline void make_batches(const lt_rec_split *sp, int64_t batch, int64_t max_len, uint64_t seed, int64_t epoch,
                                       batches *bt) {
    int64_t Tmax = max_len + 1, nu = 0;
    int32_t *users = malloc(sizeof *users * (size_t)(sp->n_users + 1));
    for (int64_t u = 0; u < sp->n_users; u++)
        if (sp->off[u + 1] - sp->off[u] >= 2) users[nu++] = (int32_t)u;
    g_sp = sp;
    qsort(users, (size_t)nu, sizeof *users, by_len);
    int64_t nb = (nu + batch - 1) / batch;
    int32_t *order = malloc(sizeof *order * (size_t)nb);
    for (int64_t i = 0; i < nb; i++) order[i] = (int32_t)i;
    lt_rng r;
    lt_rng_init(&r, lt_rng_key(seed, 0, LT_SITE_SHUFFLE), (uint64_t)epoch);
    lt_rng_shuffle_i32(&r, order, (size_t)nb);
    *bt = (batches){.n_batches = nb, .n_users = nu};
    bt->B = malloc(sizeof(int64_t) * (size_t)nb), bt->T = malloc(sizeof(int64_t) * (size_t)nb);
    bt->off = malloc(sizeof(int64_t) * (size_t)(nb + 1)), bt->loff = malloc(sizeof(int64_t) * (size_t)(nb + 1));
    bt->items = malloc(sizeof(int32_t) * (size_t)(nu * Tmax)), bt->lens = malloc(sizeof(int32_t) * (size_t)nu);
    bt->off[0] = bt->loff[0] = 0;
    for (int64_t k = 0; k < nb; k++) {
        int64_t bi = order[k], u0 = bi * batch, B = (bi + 1) * batch < nu ? batch : nu - u0, T = 2;
        for (int64_t i = 0; i < B; i++) {
            int32_t u = users[u0 + i];
            int64_t n = sp->off[u + 1] - sp->off[u], l = n < Tmax ? n : Tmax;
            if (l > T) T = l;
        }
        int32_t *it = bt->items + bt->off[k], *ln = bt->lens + bt->loff[k];
        for (int64_t i = 0; i < B; i++) {
            int32_t u = users[u0 + i];
            int64_t n = sp->off[u + 1] - sp->off[u], l = n < T ? n : T;
            ln[i] = (int32_t)l;
            memcpy(it + i * T, sp->seq + sp->off[u + 1] - l, sizeof *it * (size_t)l);
            for (int64_t j = l; j < T; j++) it[i * T + j] = 0;
            bt->positions += l - 1;
        }
        bt->B[k] = B, bt->T[k] = T, bt->padded += B * (T - 1);
        bt->off[k + 1] = bt->off[k] + B * T, bt->loff[k + 1] = bt->loff[k] + B;
    }
    free(users), free(order);
}

static inline void free_batches(batches *bt) {
    free(bt->B), free(bt->T), free(bt->off), free(bt->loff), free(bt->items), free(bt->lens);
}

#endif
