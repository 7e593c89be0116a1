/* The recommender's split, metrics and popularity baseline (include/longtail/rec.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/rec.h"
#include "longtail/rng.h"

/* ---- the split ----------------------------------------------------------------------------------- */

void lt_rec_split_free(lt_rec_split *s) {
    free(s->cold), free(s->off), free(s->seq), free(s->valid), free(s->test), free(s->freq), free(s->head), free(s->by_pop);
    memset(s, 0, sizeof *s);
}

static const int64_t *freq_for_sort;
static int by_freq_desc(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (freq_for_sort[x] != freq_for_sort[y]) return freq_for_sort[x] > freq_for_sort[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}
/* Items by training frequency, most frequent first, ties to the lower id. */
static int32_t *popularity_order(const lt_rec_split *s) {
    int32_t *o = malloc(sizeof *o * (size_t)(s->n_items ? s->n_items : 1));
    if (!o) return NULL;
    for (int64_t i = 0; i < s->n_items; i++) o[i] = (int32_t)i;
    freq_for_sort = s->freq; /* qsort has no context argument; called once, when the split is made */
    qsort(o, (size_t)s->n_items, sizeof *o, by_freq_desc);
    return o;
}

int lt_rec_split_make(const lt_events *ev, const uint8_t *cold, lt_rec_split *s) {
    memset(s, 0, sizeof *s);
    s->n_users = ev->n_users, s->n_items = ev->n_items, s->ev = ev;
    size_t nu = (size_t)(ev->n_users ? ev->n_users : 1), ni = (size_t)(ev->n_items ? ev->n_items : 1);
    s->cold = calloc(ni, 1), s->off = calloc(nu + 1, sizeof *s->off);
    s->seq = malloc(sizeof *s->seq * (size_t)(ev->n_events ? ev->n_events : 1));
    s->valid = malloc(sizeof *s->valid * nu), s->test = malloc(sizeof *s->test * nu);
    s->freq = calloc(ni, sizeof *s->freq), s->head = calloc(ni, 1);
    if (!s->cold || !s->off || !s->seq || !s->valid || !s->test || !s->freq || !s->head) {
        lt_rec_split_free(s);
        return lt_error(LT_ENOMEM, "split: out of memory for %lld users", (long long)ev->n_users);
    }
    if (cold) memcpy(s->cold, cold, ni);
    for (int64_t i = 0; i < ev->n_items; i++) s->n_cold += s->cold[i] != 0;
    int64_t at = 0;
    for (int64_t u = 0; u < ev->n_users; u++) {
        int64_t b = ev->user_off[u], n = ev->user_off[u + 1] - b;
        s->valid[u] = n >= 3 ? ev->item[b + n - 2] : -1;
        s->test[u] = n >= 3 ? ev->item[b + n - 1] : -1;
        s->off[u] = at;
        for (int64_t k = 0; k < n - 2; k++) {
            int32_t it = ev->item[b + k];
            if (it < 0 || it >= ev->n_items) {
                lt_rec_split_free(s);
                return lt_error(LT_EFORMAT, "events: user %lld has item %d outside the catalog of %lld", (long long)u,
                                it, (long long)ev->n_items);
            }
            if (s->cold[it]) continue;
            s->seq[at++] = it, s->freq[it]++;
        }
    }
    s->off[ev->n_users] = at;
    s->by_pop = popularity_order(s);
    if (!s->by_pop) {
        lt_rec_split_free(s);
        return lt_error(LT_ENOMEM, "split: out of memory");
    }
    s->n_head = ev->n_items / 5;
    for (int64_t i = 0; i < s->n_head; i++) s->head[s->by_pop[i]] = 1;
    return 0;
}

int lt_rec_time_split(const lt_events *ev, double keep, lt_events *out) {
    memset(out, 0, sizeof *out);
    if (!(keep > 0 && keep <= 1)) return lt_error(LT_ECONFIG, "time split: keep = %g, expected a share in (0, 1]", keep);
    out->n_users = ev->n_users, out->n_items = ev->n_items, out->has_time = ev->has_time;
    out->user_off = malloc(sizeof *out->user_off * (size_t)(ev->n_users + 1));
    out->item = malloc(sizeof *out->item * (size_t)(ev->n_events ? ev->n_events : 1));
    out->time = malloc(sizeof *out->time * (size_t)(ev->n_events ? ev->n_events : 1));
    if (!out->user_off || !out->item || !out->time) {
        lt_events_free(out);
        return lt_error(LT_ENOMEM, "time split: out of memory for %lld events", (long long)ev->n_events);
    }
    int64_t at = 0;
    out->user_off[0] = 0;
    for (int64_t u = 0; u < ev->n_users; u++) {
        int64_t b = ev->user_off[u], n = ev->user_off[u + 1] - b;
        int64_t k = n - (int64_t)floor((1.0 - keep) * (double)n + 1e-9);
        memcpy(out->item + at, ev->item + b, sizeof *out->item * (size_t)k);
        if (ev->time) memcpy(out->time + at, ev->time + b, sizeof *out->time * (size_t)k);
        else memset(out->time + at, 0, sizeof *out->time * (size_t)k);
        at += k;
        out->user_off[u + 1] = at;
    }
    out->n_events = at;
    return 0;
}

int lt_rec_cold_items(const char *spec, const lt_strs *item_ids, int64_t n_items, uint64_t seed, uint8_t **cold) {
    *cold = calloc((size_t)(n_items ? n_items : 1), 1);
    if (!*cold) return lt_error(LT_ENOMEM, "cold items: out of memory");
    char *end;
    double f = strtod(spec, &end);
    if (*spec && !*end) { /* a fraction */
        if (!(f > 0 && f < 1)) return free(*cold), *cold = NULL, lt_error(LT_ECONFIG, "--cold-items %s: a fraction must be in (0, 1)", spec);
        int32_t *o = malloc(sizeof *o * (size_t)n_items);
        if (!o) return free(*cold), *cold = NULL, lt_error(LT_ENOMEM, "cold items: out of memory");
        for (int64_t i = 0; i < n_items; i++) o[i] = (int32_t)i;
        lt_rng r;
        lt_rng_init(&r, seed, 0xc01d);
        lt_rng_shuffle_i32(&r, o, (size_t)n_items);
        for (int64_t i = 0; i < (int64_t)(f * (double)n_items); i++) (*cold)[o[i]] = 1;
        free(o);
        return 0;
    }
    FILE *fp = fopen(spec, "r");
    if (!fp) return free(*cold), *cold = NULL, lt_error(LT_EIO, "--cold-items %s: cannot open (a file of item ids, or a fraction)", spec);
    lt_strmap map = {0};
    int rc = 0;
    for (int64_t i = 0; i < n_items && !rc; i++) {
        size_t len;
        const char *id = lt_strs_get(item_ids, i, &len);
        int64_t idx;
        int added;
        rc = lt_strmap_get_or_add(&map, id, len, &idx, &added);
    }
    char line[512];
    int64_t lineno = 0;
    while (!rc && fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        if (!len || line[0] == '#') continue;
        int64_t idx = lt_strmap_find(&map, line, len);
        if (idx < 0) rc = lt_error(LT_EFORMAT, "%s:%lld: item '%s' is not in the catalog", spec, (long long)lineno, line);
        else (*cold)[idx] = 1;
    }
    fclose(fp);
    lt_strmap_free(&map);
    if (rc) free(*cold), *cold = NULL;
    return rc;
}

int64_t lt_rec_history(const lt_rec_split *s, lt_rec_phase ph, int32_t u, int32_t *scratch) {
    int64_t n = s->off[u + 1] - s->off[u];
    memcpy(scratch, s->seq + s->off[u], sizeof *scratch * (size_t)n);
    if (ph == LT_REC_TEST && s->valid[u] >= 0 && !s->cold[s->valid[u]]) scratch[n++] = s->valid[u];
    return n;
}

int64_t lt_rec_excluded(const lt_rec_split *s, lt_rec_phase ph, int32_t u, const int32_t **items) {
    int64_t b = s->ev->user_off[u], n = s->ev->user_off[u + 1] - b;
    *items = s->ev->item + b;
    return n - (ph == LT_REC_TEST ? 1 : 2);
}

/* ---- metrics --------------------------------------------------------------------------------------- */

typedef struct { double sum, sumsq; int64_t n; } moments;
static void add(moments *m, double x) { m->sum += x, m->sumsq += x * x, m->n++; }
static double mean(const moments *m) { return m->n ? m->sum / (double)m->n : NAN; }
static double stderr_of(const moments *m) {
    if (m->n < 2) return NAN;
    double mu = mean(m), var = (m->sumsq - (double)m->n * mu * mu) / (double)(m->n - 1);
    return sqrt(var > 0 ? var : 0) / sqrt((double)m->n);
}
static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int lt_rec_evaluate(const lt_rec_split *s, lt_rec_phase ph, const lt_rec_model *m, int64_t batch, lt_rec_metrics *out) {
    memset(out, 0, sizeof *out);
    out->model = m->name;
    const int K = LT_REC_K;
    int32_t *users = malloc(sizeof *users * (size_t)batch), *top = malloc(sizeof *top * (size_t)(batch * K));
    int64_t *exposure = calloc((size_t)(s->n_items ? s->n_items : 1), sizeof *exposure);
    if (!users || !top || !exposure) {
        free(users), free(top), free(exposure);
        return lt_error(LT_ENOMEM, "evaluate: out of memory");
    }
    moments r10 = {0}, r20 = {0}, n10 = {0}, n20 = {0}, rr = {0}, tail = {0}, cold = {0}, aplt = {0};
    const int32_t *target = ph == LT_REC_TEST ? s->test : s->valid;
    double t0 = lt_seconds();
    int rc = 0;
    for (int64_t u0 = 0; u0 < s->n_users && !rc;) {
        int64_t n = 0;
        for (; u0 < s->n_users && n < batch; u0++)
            if (target[u0] >= 0) users[n++] = (int32_t)u0;
        if (!n) break;
        if ((rc = m->topk(m->ctx, s, ph, users, n, K, top))) break;
        for (int64_t i = 0; i < n; i++) {
            int32_t t = target[users[i]];
            const int32_t *row = top + i * K;
            int rank = 0, ntail = 0;
            for (int k = 0; k < K && row[k] >= 0; k++) {
                if (row[k] == t && !rank) rank = k + 1;
                if (k < 10) exposure[row[k]]++, ntail += !s->head[row[k]];
            }
            double h10 = rank && rank <= 10, h20 = rank && rank <= 20;
            add(&r10, h10), add(&r20, h20);
            add(&n10, h10 ? 1.0 / log2(rank + 1.0) : 0), add(&n20, h20 ? 1.0 / log2(rank + 1.0) : 0);
            add(&rr, rank ? 1.0 / rank : 0), add(&aplt, ntail / 10.0);
            if (!s->head[t]) add(&tail, h10);
            if (s->cold[t]) add(&cold, h20);
        }
    }
    if (!rc) {
        out->cases = r10.n, out->tail_cases = tail.n, out->cold_cases = cold.n;
        out->recall10 = mean(&r10), out->recall20 = mean(&r20), out->ndcg10 = mean(&n10), out->ndcg20 = mean(&n20);
        out->mrr = mean(&rr), out->tail_recall10 = mean(&tail), out->cold_recall20 = mean(&cold);
        out->aplt10 = mean(&aplt);
        out->se_recall10 = stderr_of(&r10), out->se_recall20 = stderr_of(&r20), out->se_ndcg10 = stderr_of(&n10);
        out->se_ndcg20 = stderr_of(&n20), out->se_mrr = stderr_of(&rr), out->se_tail_recall10 = stderr_of(&tail);
        out->se_cold_recall20 = stderr_of(&cold), out->se_aplt10 = stderr_of(&aplt);
        /* coverage and Gini of the exposure the top-10 lists give the catalog */
        int64_t covered = 0, total = 0;
        for (int64_t i = 0; i < s->n_items; i++) covered += exposure[i] > 0, total += exposure[i];
        out->coverage10 = s->n_items ? (double)covered / (double)s->n_items : 0;
        qsort(exposure, (size_t)s->n_items, sizeof *exposure, cmp_i64);
        double g = 0;
        for (int64_t i = 0; i < s->n_items; i++) g += (double)(2 * (i + 1) - s->n_items - 1) * (double)exposure[i];
        out->gini10 = total ? g / ((double)s->n_items * (double)total) : 0;
        out->seconds = lt_seconds() - t0;
    }
    free(users), free(top), free(exposure);
    return rc;
}

static void json_num(FILE *f, const char *key, double v, int last) {
    if (isnan(v)) fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
    else fprintf(f, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
}

void lt_rec_metrics_json(FILE *f, const lt_rec_metrics *m) {
    fprintf(f, "\"%s\": {", m->model);
    struct { const char *k; double v; } kv[] = {
        {"recall@10", m->recall10}, {"recall@20", m->recall20}, {"ndcg@10", m->ndcg10}, {"ndcg@20", m->ndcg20},
        {"mrr", m->mrr}, {"tail_recall@10", m->tail_recall10}, {"aplt@10", m->aplt10}, {"coverage@10", m->coverage10},
        {"gini@10", m->gini10},
        {"recall@10_se", m->se_recall10}, {"recall@20_se", m->se_recall20}, {"ndcg@10_se", m->se_ndcg10},
        {"ndcg@20_se", m->se_ndcg20}, {"mrr_se", m->se_mrr}, {"tail_recall@10_se", m->se_tail_recall10},
        {"aplt@10_se", m->se_aplt10},
        {"cases", (double)m->cases}, {"tail_cases", (double)m->tail_cases}, {"seconds", m->seconds},
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) json_num(f, kv[i].k, kv[i].v, 0);
    if (m->cold_cases) {
        json_num(f, "cold_recall@20", m->cold_recall20, 0);
        json_num(f, "cold_recall@20_se", m->se_cold_recall20, 0);
    }
    json_num(f, "cold_cases", (double)m->cold_cases, 1);
    fputc('}', f);
}

void lt_rec_metrics_row(FILE *f, const lt_rec_metrics *m, int header) {
    if (header)
        fprintf(f, "%-22s %8s %8s %8s %8s %8s %9s %8s %8s %8s %9s\n", "model", "R@10", "R@20", "N@10", "N@20", "MRR",
                "TailR@10", "APLT@10", "Cov@10", "Gini@10", "ColdR@20");
    char cold[32] = "-";
    if (m->cold_cases) snprintf(cold, sizeof cold, "%.4f", m->cold_recall20);
    fprintf(f, "%-22s %8.4f %8.4f %8.4f %8.4f %8.4f %9.4f %8.4f %8.4f %8.4f %9s\n", m->model, m->recall10, m->recall20,
            m->ndcg10, m->ndcg20, m->mrr, m->tail_recall10, m->aplt10, m->coverage10, m->gini10, cold);
}

/* ---- popularity ------------------------------------------------------------------------------------- */

static int popularity_topk(void *ctx, const lt_rec_split *s, lt_rec_phase ph, const int32_t *users, int64_t n, int K,
                           int32_t *top) {
    (void)ctx;
    const int32_t *order = s->by_pop;
    uint8_t *seen = calloc((size_t)(s->n_items ? s->n_items : 1), 1);
    if (!seen) return lt_error(LT_ENOMEM, "popularity: out of memory");
    for (int64_t i = 0; i < n; i++) {
        const int32_t *ex;
        int64_t ne = lt_rec_excluded(s, ph, users[i], &ex);
        for (int64_t k = 0; k < ne; k++) seen[ex[k]] = 1;
        int got = 0;
        for (int64_t j = 0; j < s->n_items && got < K; j++)
            if (!seen[order[j]]) top[i * K + got++] = order[j];
        for (; got < K; got++) top[i * K + got] = -1;
        for (int64_t k = 0; k < ne; k++) seen[ex[k]] = 0;
    }
    free(seen);
    return 0;
}

lt_rec_model lt_rec_popularity(void) { return (lt_rec_model){"popularity", NULL, popularity_topk}; }

/* ---- top-K of one host row ----------------------------------------------------------------------- */

/* (value, index) order: larger value first, then the lower index. */
static int worse(float v, int32_t i, float w, int32_t j) { return v < w || (v == w && i > j); }

void lt__rec_topk_row(const float *row, int64_t n, int K, int32_t *out) {
    /* a min-heap of the best K so far: the root is the worst kept */
    float hv[1024];
    int32_t hi[1024];
    if (K > 1024) K = 1024;
    int m = 0;
    for (int64_t j = 0; j < n; j++) {
        float v = row[j];
        if (!(v > -INFINITY)) continue;
        if (m == K && !worse(hv[0], hi[0], v, (int32_t)j)) continue;
        int pos;
        if (m < K) { /* sift up */
            pos = m++;
            while (pos > 0 && worse(v, (int32_t)j, hv[(pos - 1) / 2], hi[(pos - 1) / 2])) {
                hv[pos] = hv[(pos - 1) / 2], hi[pos] = hi[(pos - 1) / 2], pos = (pos - 1) / 2;
            }
        } else { /* replace the root, sift down */
            pos = 0;
            for (;;) {
                int c = 2 * pos + 1;
                if (c >= m) break;
                if (c + 1 < m && worse(hv[c + 1], hi[c + 1], hv[c], hi[c])) c++;
                if (!worse(hv[c], hi[c], v, (int32_t)j)) break;
                hv[pos] = hv[c], hi[pos] = hi[c], pos = c;
            }
        }
        hv[pos] = v, hi[pos] = (int32_t)j;
    }
    int kept = m;
    for (int k = kept - 1; k >= 0; k--) { /* pop the worst to the back */
        out[k] = hi[0];
        float v = hv[m - 1];
        int32_t i = hi[m - 1];
        m--;
        int pos = 0;
        for (;;) {
            int c = 2 * pos + 1;
            if (c >= m) break;
            if (c + 1 < m && worse(hv[c + 1], hi[c + 1], hv[c], hi[c])) c++;
            if (!worse(hv[c], hi[c], v, i)) break;
            hv[pos] = hv[c], hi[pos] = hi[c], pos = c;
        }
        hv[pos] = v, hi[pos] = i;
    }
    for (int k = kept; k < K; k++) out[k] = -1;
}
