/* MLM masking and co-interaction pairs (include/longtail/pretrain.h). */
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/pretrain.h"

int lt_mlm_opts_from_vocab(lt_mlm_opts *o, const lt_vocab *v) {
    lt_special_ids s = lt_vocab_specials(v);
    if (s.mask < 0 || s.cls < 0 || s.sep < 0 || s.pad < 0)
        return lt_error(LT_EFORMAT, "vocabulary lacks [MASK], [CLS], [SEP] or [PAD]: masked-LM needs them");
    int32_t first = 0; /* specials ([PAD] [unused..] [UNK] [CLS] [SEP] [MASK]) come first in BERT and ours */
    int32_t hi = s.mask > s.sep ? s.mask : s.sep;
    if (s.cls > hi) hi = s.cls;
    first = hi + 1;
    *o = (lt_mlm_opts){.p = 0.15f, .mask_id = s.mask, .vocab = (int32_t)lt_vocab_size(v), .first_normal = first,
                       .cls_id = s.cls, .sep_id = s.sep, .pad_id = s.pad};
    if (o->first_normal >= o->vocab) return lt_error(LT_EFORMAT, "vocabulary has no ordinary tokens");
    return 0;
}

static int special(const lt_mlm_opts *o, int32_t id) {
    return id == o->cls_id || id == o->sep_id || id == o->pad_id || id == o->mask_id;
}

int64_t lt_mlm_mask(const lt_mlm_opts *o, uint64_t seed, uint64_t step, int32_t *ids, const int32_t *lens, int64_t B,
                    int64_t T, int64_t *pos, int32_t *target) {
    return lt_mlm_mask_rows(o, seed, step, 0, ids, lens, B, T, pos, target);
}

int64_t lt_mlm_mask_rows(const lt_mlm_opts *o, uint64_t seed, uint64_t step, int64_t row0, int32_t *ids,
                         const int32_t *lens, int64_t B, int64_t T, int64_t *pos, int32_t *target) {
    int64_t n = 0;
    for (int64_t b = 0; b < B; b++) {
        lt_rng r; /* one stream per (step, row): the mask of a row does not depend on the others */
        lt_rng_init(&r, seed, (step << 20) ^ (uint64_t)(row0 + b));
        int32_t *row = ids + b * T;
        int64_t len = lens[b] < T ? lens[b] : T, chosen = 0, candidates = 0;
        for (int64_t t = 0; t < len; t++) {
            if (special(o, row[t])) continue;
            candidates++;
            if (lt_rng_next_uniform(&r) >= o->p) continue;
            pos[n + chosen] = b * T + t;
            chosen++;
        }
        if (chosen == 0 && candidates > 0) { /* every sequence teaches something */
            int64_t k = (int64_t)lt_rng_below(&r, (uint64_t)candidates);
            for (int64_t t = 0; t < len; t++)
                if (!special(o, row[t]) && k-- == 0) pos[n + chosen++] = b * T + t;
        }
        for (int64_t c = 0; c < chosen; c++) {
            int64_t t = pos[n + c] - b * T;
            target[n + c] = row[t];
            float u = lt_rng_next_uniform(&r);
            if (u < 0.8f) row[t] = o->mask_id;
            else if (u < 0.9f) row[t] = o->first_normal + (int32_t)lt_rng_below(&r, (uint64_t)(o->vocab - o->first_normal));
        }
        n += chosen;
    }
    return n;
}

/* Sort-and-unique on 64-bit keys (a << 32 | b) gives each unordered pair once, in a fixed order. */
static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

int lt_pairs_from_events(const lt_events *e, int64_t holdout, int64_t max_pairs, lt_pairs *out) {
    memset(out, 0, sizeof *out);
    uint64_t *keys = malloc(sizeof *keys * (size_t)(e->n_events ? e->n_events : 1));
    if (!keys) return lt_error(LT_ENOMEM, "pairs: out of memory");
    int64_t n = 0;
    for (int64_t u = 0; u < e->n_users; u++)
        for (int64_t p = e->user_off[u] + 1; p < e->user_off[u + 1] - (holdout > 0 ? holdout : 0); p++) {
            uint32_t a = (uint32_t)e->item[p - 1], b = (uint32_t)e->item[p];
            if (a == b) continue;
            if (a > b) { uint32_t t = a; a = b; b = t; }
            keys[n++] = ((uint64_t)a << 32) | b;
        }
    qsort(keys, (size_t)n, sizeof *keys, cmp_u64);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || keys[i] != keys[i - 1]) keys[m++] = keys[i];
    if (max_pairs > 0 && m > max_pairs) { /* an even subsample, not the lowest ids */
        for (int64_t i = 0; i < max_pairs; i++) keys[i] = keys[i * m / max_pairs];
        m = max_pairs;
    }
    out->a = malloc(sizeof *out->a * (size_t)(m ? m : 1));
    out->b = malloc(sizeof *out->b * (size_t)(m ? m : 1));
    if (!out->a || !out->b) {
        free(keys);
        lt_pairs_free(out);
        return lt_error(LT_ENOMEM, "pairs: out of memory");
    }
    for (int64_t i = 0; i < m; i++) out->a[i] = (int32_t)(keys[i] >> 32), out->b[i] = (int32_t)(uint32_t)keys[i];
    out->n = m;
    free(keys);
    return 0;
}

void lt_pairs_free(lt_pairs *p) {
    free(p->a), free(p->b);
    memset(p, 0, sizeof *p);
}
