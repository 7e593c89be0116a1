/* Popularity and the long tail (cluster.h): interactions per item, the head/tail split, and per
 * cluster how much attention its items get compared with how many there are. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/cluster.h"
#include "longtail/error.h"

void lt_popularity_free(lt_popularity *p) {
    free(p->count), free(p->order), free(p->head);
    memset(p, 0, sizeof *p);
}

static const int64_t *g_count; /* qsort has no context argument in C11 */
static int by_count(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (g_count[x] != g_count[y]) return g_count[x] > g_count[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

int lt_popularity_compute(const lt_events *ev, int64_t n_items, double head_fraction, lt_popularity *p) {
    memset(p, 0, sizeof *p);
    if (!(head_fraction > 0 && head_fraction <= 1))
        return lt_error(LT_EINVAL, "popularity: head fraction %g must be in (0, 1]", head_fraction);
    if (ev->n_items != n_items)
        return lt_error(LT_ESHAPE, "popularity: the events cover %lld items, the embeddings %lld", (long long)ev->n_items,
                        (long long)n_items);
    p->n_items = n_items;
    p->count = calloc((size_t)(n_items ? n_items : 1), sizeof(int64_t));
    p->order = malloc(sizeof(int64_t) * (size_t)(n_items ? n_items : 1));
    p->head = calloc((size_t)(n_items ? n_items : 1), 1);
    if (!p->count || !p->order || !p->head) {
        lt_popularity_free(p);
        return lt_error(LT_ENOMEM, "popularity: out of memory for %lld items", (long long)n_items);
    }
    for (int64_t e = 0; e < ev->n_events; e++) {
        int32_t it = ev->item[e];
        if (it < 0 || it >= n_items) {
            lt_popularity_free(p);
            return lt_error(LT_ERANGE, "popularity: event %lld names item %d of %lld", (long long)e, it, (long long)n_items);
        }
        p->count[it]++;
    }
    p->total = ev->n_events;
    for (int64_t i = 0; i < n_items; i++) p->order[i] = i;
    g_count = p->count;
    qsort(p->order, (size_t)n_items, sizeof(int64_t), by_count);
    /* head = the floor(fraction * n) most popular, ties to the lower index (the REFERENCE protocol) */
    p->n_head = (int64_t)floor(head_fraction * (double)n_items + 1e-9);
    if (p->n_head < 1 && n_items) p->n_head = 1;
    int64_t head_events = 0;
    for (int64_t r = 0; r < p->n_head; r++) p->head[p->order[r]] = 1, head_events += p->count[p->order[r]];
    p->head_share = p->total ? (double)head_events / (double)p->total : 0;
    return 0;
}

static int64_t pop_count(const lt_popularity *p, int64_t i) { return p ? p->count[i] : 0; }

int lt_cluster_analyze(const lt_kmeans_result *km, const lt_popularity *pop, double max_attention, int64_t min_size,
                       lt_cluster_stat *st) {
    int64_t n = km->n, k = km->k;
    if (pop && pop->n_items != n)
        return lt_error(LT_ESHAPE, "cluster stats: popularity of %lld items for %lld clustered rows",
                        (long long)pop->n_items, (long long)n);
    double *dsum = calloc((size_t)k, sizeof(double));
    if (!dsum) return lt_error(LT_ENOMEM, "cluster stats: out of memory");
    for (int64_t j = 0; j < k; j++) {
        memset(&st[j], 0, sizeof st[j]);
        st[j].top_item = -1;
        for (int r = 0; r < LT_CLUSTER_REPS; r++) st[j].reps[r] = -1;
    }
    for (int64_t i = 0; i < n; i++) {
        lt_cluster_stat *s = &st[km->assign[i]];
        int64_t c = pop ? pop->count[i] : 0;
        s->size++;
        s->interactions += c;
        if (pop) s->head_items += pop->head[i], s->tail_items += !pop->head[i];
        if (s->top_item < 0 || c > pop_count(pop, s->top_item)) s->top_item = i;
        dsum[km->assign[i]] += km->dist[i];
        /* the nearest few by (dist, index): insertion into a sorted list of LT_CLUSTER_REPS */
        int r = LT_CLUSTER_REPS;
        while (r > 0 && (s->reps[r - 1] < 0 || km->dist[s->reps[r - 1]] > km->dist[i])) r--;
        if (r < LT_CLUSTER_REPS) {
            memmove(&s->reps[r + 1], &s->reps[r], sizeof(int64_t) * (LT_CLUSTER_REPS - 1 - r));
            s->reps[r] = i;
        }
    }
    for (int64_t j = 0; j < k; j++) {
        lt_cluster_stat *s = &st[j];
        s->item_share = n ? (double)s->size / (double)n : 0;
        s->interaction_share = pop && pop->total ? (double)s->interactions / (double)pop->total : 0;
        s->tail_share = s->size ? (double)s->tail_items / (double)s->size : 0;
        s->attention = s->item_share > 0 ? s->interaction_share / s->item_share : 0;
        s->mean_dist = s->size ? dsum[j] / (double)s->size : 0;
        s->long_tail = pop && s->size >= min_size && s->attention < max_attention;
    }
    free(dsum);
    return 0;
}
