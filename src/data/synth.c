/* The synthetic shop. Three passes, each parallel and each deterministic per seed:
 *   1. latent items: category, brand, price tier and attribute values from one Philox stream per
 *      item; which items are cold and the popularity order from one setup stream;
 *   2. items.tsv: title and description rendered from the latent attributes (another stream per
 *      item), in chunks that threads fill in parallel and write in order;
 *   3. events.tsv: per user (one stream each) a taste, a history length and the items, drawn
 *      within a category by Zipf popularity x how well the item matches the taste.
 * Text depends on the attributes and behaviour depends on the same attributes: that is what makes
 * the text worth reading for a recommender, and what makes tail items reachable from it. */
#include "longtail/synth.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/synth_words.h"
#include "core/tmpfile.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/progress.h"
#include "longtail/rng.h"

/* Streams: one for the setup, then one per item (attributes, text) and one per user. */
#define STREAM_SETUP 0
#define STREAM_ATTR (1ull << 40)
#define STREAM_TEXT (2ull << 40)
#define STREAM_USER (3ull << 40)

#define T0 1672531200 /* 2023-01-01 UTC: the shop opens; histories start within a year */
#define ITEM_CHUNK 1024
#define USER_CHUNK 256
#define MAX_TRIES 256 /* rejection tries before taking the first unseen candidate */

/* How the next item of a history is chosen. */
#define P_COMP 0.30    /* a complement of the previous item (same brand, same fit) */
#define P_SAME 0.20    /* another item of the previous item's category */
#define P_EXPLORE 0.05 /* any category: real users stray from their tastes */

static const double tier_cum[3] = {0.35, 0.80, 1.0}; /* budget, mid, premium: items and users */
static const double tier_price[3] = {0.5, 1.0, 2.2};

typedef struct {
    uint8_t cat, brand, tier, val[SYNTH_SLOTS];
} item;

/* One entry of a category's alias table, with the item it stands for: a rejection try touches one
 * cache line instead of four arrays (drawing histories is bound by memory latency). */
typedef struct {
    float prob;    /* keep this entry with probability prob, else take entry `alias` */
    int32_t alias; /* within the category */
    int32_t id;
    item it;
} slot;

typedef struct {
    const lt_synth_opts *o;
    int lang, threads;
    int64_t n, n_cold, n_warm, hist_cap;
    item *items;
    int32_t *warm; /* warm items in popularity order: the random permutation Zipf ranks */
    /* Warm items of category c are slots[cat_off[c] .. cat_off[c+1]), most popular first, an
     * alias table over their Zipf weights. */
    int64_t cat_off[SYNTH_NCATS + 1];
    slot *slots;
    double cat_all[SYNTH_NCATS];  /* cumulative category weights: where items go */
    double cat_warm[SYNTH_NCATS]; /* the same over categories with warm items, niche ones scaled down: where users go */
    uint8_t niche[SYNTH_NCATS];   /* the planted long tail */
    int8_t fam_slot[SYNTH_NCATS][SYNTH_NFAM]; /* slot of family f in category c, -1 if none */
    const char *leaf[SYNTH_NCATS];        /* last level of the category path */
    int32_t *counts;                      /* events per item */
} shop;

/* ---- small helpers ---------------------------------------------------------------------------- */

static int pick_cum(const double *cum, int n, double u) {
    int i = 0;
    while (i < n - 1 && u * cum[n - 1] >= cum[i]) i++;
    return i;
}

/* Index in [0, n) with probability ∝ 1 / (k + offset): a few values are everyone's favourites. */
static int pick_harmonic(lt_rng *r, int n, double offset) {
    double tot = 0;
    for (int k = 0; k < n; k++) tot += 1.0 / (k + offset);
    double u = lt_rng_next_double(r) * tot;
    for (int k = 0; k < n - 1; k++)
        if ((u -= 1.0 / (k + offset)) < 0) return k;
    return n - 1;
}

static const char *pick(lt_rng *r, synth_words w) { return w[lt_rng_below(r, (uint64_t)synth_count(w))]; }

static double expo(lt_rng *r) { return -log(1.0 - lt_rng_next_double(r)); }

/* An output buffer that grows; a failed growth is remembered and reported once per chunk. */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n) cap *= 2;
        char *p = b->oom ? NULL : realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Decimal with at least `width` digits (zero-padded), without stdio. */
static void sb_u64(sbuf *b, uint64_t v, int width) {
    char o[24]; /* filled from the end: 20 digits at most, padding stops at the buffer */
    int k = (int)sizeof o;
    do o[--k] = (char)('0' + v % 10), v /= 10;
    while (v);
    while ((int)sizeof o - k < width && k > 0) o[--k] = '0';
    sb_put(b, o + k, sizeof o - (size_t)k);
}

static void sb_id(sbuf *b, char prefix, int64_t id) {
    sb_put(b, &prefix, 1);
    sb_u64(b, (uint64_t)id, 7);
}

/* ---- item text -------------------------------------------------------------------------------- */

typedef struct {
    lt_rng *r;
    int lang;
    const char *brand, *noun, *feat[2], *val[SYNTH_SLOTS], *size, *tier, *leaf, *v;
    char price[24], model[16];
    int num; /* {#}: one number per item, so a listing does not contradict itself */
} fill;

static void expand(sbuf *b, const char *t, const fill *f) {
    for (const char *o; (o = strchr(t, '{')); t = o + 3) {
        sb_put(b, t, (size_t)(o - t));
        const char *s = NULL;
        switch (o[1]) {
        case 'B': s = f->brand; break;
        case 'N': s = f->noun; break;
        case 'F': s = f->feat[0]; break;
        case 'G': s = f->feat[1]; break;
        case 'S': s = f->size; break;
        case 'T': s = f->tier; break;
        case 'P': s = f->price; break;
        case 'C': s = f->leaf; break;
        case 'M': s = f->model; break;
        case 'V': s = f->v; break;
        case '1': s = f->val[0]; break;
        case '2': s = f->val[1]; break;
        case '#': sb_u64(b, (uint64_t)f->num, 0); break;
        }
        if (!s) continue;
        /* "a" before a vowel-initial value is "an" ("an Exfoliating Cleansing Balm") */
        if (f->lang == SYNTH_EN && strchr("AEIOU", s[0]) && b->n >= 2 && (b->p[b->n - 2] | 0x20) == 'a' &&
            b->p[b->n - 1] == ' ' && (b->n == 2 || b->p[b->n - 3] == ' ' || b->p[b->n - 3] == '\t'))
            b->n--, sb_put(b, "n ", 2);
        sb_str(b, s);
    }
    sb_str(b, t);
}

/* Words (en: space-separated tokens) or characters (zh: code points) in p[0, n). */
static int measure(const char *p, size_t n, int lang) {
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (lang == SYNTH_ZH) m += (c & 0xC0) != 0x80;
        else m += c != ' ' && (i == 0 || p[i - 1] == ' ');
    }
    return m;
}

/* A random sentence of w not used yet in this description, or -1. */
static int pick_unused(lt_rng *r, synth_words w, uint32_t *used) {
    int n = synth_count(w);
    if (*used == (n >= 32 ? 0xffffffffu : (1u << n) - 1)) return -1;
    int k = (int)lt_rng_below(r, (uint64_t)n);
    while (*used >> k & 1) k = (k + 1) % n;
    *used |= 1u << k;
    return k;
}

/* 20-120 words (en) or 40-240 characters (zh): the category's intro, one sentence per attribute
 * (so every attribute is in the text), the offer (tier and price), then category and generic
 * sentences with a little catalog noise until the drawn length is reached. */
static void description(sbuf *b, const synth_category *c, fill *f, int lang) {
    const synth_cat_text *t = &c->text[lang];
    const char *sep = lang == SYNTH_ZH ? "" : " ";
    const int unit = lang == SYNTH_ZH ? 2 : 1, lo = 20 * unit, hi = 120 * unit;
    double u = lt_rng_next_double(f->r);
    int target = lo + (int)(75.0 * unit * u * u); /* mostly short, like real catalogs */
    uint32_t used_cat = 0, used_gen = 0;
    size_t start = b->n;
    expand(b, t->sentences[pick_unused(f->r, t->sentences, &used_cat)], f);
    for (int s = 0; s < SYNTH_SLOTS; s++) {
        if (!c->fam[s]) continue;
        f->v = f->val[s];
        sb_str(b, sep);
        expand(b, pick(f->r, synth_fams[c->fam[s]].sentences[lang]), f);
    }
    sb_str(b, sep);
    expand(b, pick(f->r, synth_offer[lang]), f);
    int m = measure(b->p + start, b->n - start, lang);
    while (m < target && !b->oom) {
        size_t mark = b->n;
        double v = lt_rng_next_double(f->r);
        int k;
        sb_str(b, sep);
        if (v < 0.06) sb_str(b, pick(f->r, synth_noise[lang]));
        else if (v < 0.5 && (k = pick_unused(f->r, t->sentences, &used_cat)) >= 0) expand(b, t->sentences[k], f);
        else if ((k = pick_unused(f->r, synth_generic[lang], &used_gen)) >= 0) expand(b, synth_generic[lang][k], f);
        else break;
        int dm = measure(b->p + mark, b->n - mark, lang);
        if (m + dm > hi) { /* never past the upper bound: drop the sentence and stop */
            b->n = mark;
            break;
        }
        m += dm;
    }
}

static void item_line(const shop *s, sbuf *b, int64_t i) {
    const int lang = s->lang;
    const item *it = &s->items[i];
    const synth_category *c = &synth_cats[it->cat];
    const synth_cat_text *t = &c->text[lang];
    lt_rng r;
    lt_rng_init(&r, s->o->seed, STREAM_TEXT + (uint64_t)i);
    fill f = {.r = &r, .lang = lang, .leaf = s->leaf[it->cat]};
    for (int k = 0; k < SYNTH_SLOTS; k++)
        f.val[k] = c->fam[k] ? synth_fams[c->fam[k]].values[lang][it->val[k]] : "";
    f.brand = c->brands ? synth_brands[c->brands][lang][it->brand] : f.val[0];
    f.noun = pick(&r, t->nouns);
    int nf = synth_count(t->features), f0 = (int)lt_rng_below(&r, (uint64_t)nf);
    f.feat[0] = t->features[f0];
    f.feat[1] = t->features[(f0 + 1 + (int)lt_rng_below(&r, (uint64_t)nf - 1)) % nf];
    f.size = pick(&r, t->sizes);
    f.num = 2 + (int)lt_rng_below(&r, 47);
    f.tier = pick(&r, synth_tiers[it->tier][lang]);
    double price = c->price * tier_price[it->tier] * (0.75 + 0.5 * lt_rng_next_double(&r)) * synth_price_rate[lang];
    long whole = price < 1 ? 1 : (long)price;
    if (lang == SYNTH_ZH) snprintf(f.price, sizeof f.price, "%s%ld", synth_currency[lang], whole / 10 * 10 + 9);
    else snprintf(f.price, sizeof f.price, "%s%ld.%02d", synth_currency[lang], whole, (int[]){99, 49, 95, 0}[lt_rng_below(&r, 4)]);
    snprintf(f.model, sizeof f.model, "%c%c-%04u", 'A' + (int)lt_rng_below(&r, 26), 'A' + (int)lt_rng_below(&r, 26),
             (unsigned)lt_rng_below(&r, 10000));

    sb_id(b, 'I', i + 1);
    sb_str(b, "\t");
    if (lt_rng_next_uniform(&r) < 0.05f) {
        sb_str(b, pick(&r, synth_title_noise[lang]));
        sb_str(b, " ");
    }
    if (it->tier != 1 && lt_rng_next_uniform(&r) < 0.35f && strncmp(t->title, "{F}", 3)) { /* not before a book title */
        sb_str(b, f.tier);
        sb_str(b, " ");
    }
    expand(b, t->title, &f);
    sb_str(b, "\t");
    description(b, c, &f, lang);
    sb_str(b, "\t");
    sb_str(b, t->path);
    sb_str(b, "\n");
}

/* ---- users ------------------------------------------------------------------------------------ */

typedef struct {
    int ncat, cat[3], brand[3], tier;
    double cum[3];       /* cumulative mixture weights over cat[] */
    float picky;         /* the acceptance factor of each attribute that does not match */
    uint8_t pref[SYNTH_NFAM];
} taste;

static int pick_cat(const shop *s, lt_rng *r) { return pick_cum(s->cat_warm, SYNTH_NCATS, lt_rng_next_double(r)); }

/* 1-3 categories (a second one usually from the same department), a favourite brand in each,
 * a price tier, a preferred value of every attribute family, and how much the attributes matter. */
static void make_taste(const shop *s, lt_rng *r, taste *t) {
    double u = lt_rng_next_double(r);
    int want = u < 0.3 ? 1 : u < 0.75 ? 2 : 3;
    t->ncat = 0;
    for (int tries = 0; t->ncat < want && tries < 64; tries++) {
        int c = pick_cat(s, r), dup = 0;
        if (t->ncat && synth_cats[c].dept != synth_cats[t->cat[0]].dept && lt_rng_next_uniform(r) < 0.6f) continue;
        for (int k = 0; k < t->ncat; k++) dup |= t->cat[k] == c;
        if (!dup) t->cat[t->ncat++] = c;
    }
    double tot = 0;
    for (int k = 0; k < t->ncat; k++) {
        int g = synth_cats[t->cat[k]].brands;
        t->brand[k] = g ? pick_harmonic(r, synth_count(synth_brands[g][0]), 1.5) : 0;
        t->cum[k] = tot += 0.2 + lt_rng_next_double(r);
    }
    t->tier = pick_cum(tier_cum, 3, lt_rng_next_double(r));
    for (int f = 1; f < SYNTH_NFAM; f++) t->pref[f] = (uint8_t)pick_harmonic(r, synth_count(synth_fams[f].values[0]), 2.0);
    t->picky = 0.05f + 0.3f * lt_rng_next_uniform(r);
}

/* In (0, 1]: 1 for an item that matches the taste on every attribute. With a reference (the
 * previous item, when this one is its complement) shared attributes must match the reference
 * instead: a case for the phone just bought, conditioner for the same hair type. */
static float match(const shop *s, const taste *t, const item *it, const item *ref) {
    const synth_category *c = &synth_cats[it->cat];
    float m = 1;
    for (int k = 0; k < SYNTH_SLOTS; k++) {
        int f = c->fam[k];
        if (!f) continue;
        int want = t->pref[f], rs = ref ? s->fam_slot[ref->cat][f] : -1;
        float miss = t->picky;
        if (rs >= 0) want = ref->val[rs], miss = 0.1f;
        if (it->val[k] != want) m *= miss;
    }
    int d = abs((int)it->tier - t->tier);
    m *= d == 0 ? 1.0f : d == 1 ? 0.5f : 0.2f;
    if (c->brands && ref && synth_cats[ref->cat].brands == c->brands) {
        if (it->brand != ref->brand) m *= 0.4f;
    } else if (c->brands) {
        for (int k = 0; k < t->ncat; k++)
            if (t->cat[k] == it->cat) {
                if (it->brand != t->brand[k]) m *= 0.6f;
                break;
            }
    }
    return m;
}

static int seen(const int32_t *hist, int64_t n, int32_t j) {
    for (int64_t k = 0; k < n; k++)
        if (hist[k] == j) return 1;
    return 0;
}

/* An item of category `cat` not in hist[0, n): drawn ∝ Zipf weight (alias table), accepted with
 * probability match(). -1 when every warm item of the category is already in the history. */
static int32_t draw(const shop *s, lt_rng *r, const taste *t, int cat, const item *ref, const int32_t *hist, int64_t n) {
    const slot *sl = s->slots + s->cat_off[cat];
    int64_t m = s->cat_off[cat + 1] - s->cat_off[cat];
    int32_t first = -1;
    for (int tries = 0; m > 0 && tries < MAX_TRIES; tries++) {
        int64_t j = (int64_t)lt_rng_below(r, (uint64_t)m);
        if (lt_rng_next_uniform(r) >= sl[j].prob) j = sl[j].alias;
        if (seen(hist, n, sl[j].id)) continue;
        if (first < 0) first = sl[j].id;
        if (lt_rng_next_uniform(r) < match(s, t, &sl[j].it, ref)) return sl[j].id;
    }
    if (first >= 0 || m == 0) return first;
    for (int64_t k = 0, st = (int64_t)lt_rng_below(r, (uint64_t)m); k < m; k++)
        if (!seen(hist, n, sl[(st + k) % m].id)) return sl[(st + k) % m].id;
    return -1;
}

/* One user's history into hist/times; returns its length. */
static int64_t user_history(const shop *s, int64_t u, int32_t *hist, int64_t *times) {
    lt_rng r;
    lt_rng_init(&r, s->o->seed, STREAM_USER + (uint64_t)u);
    taste t = {0};
    make_taste(s, &r, &t);
    int64_t len = 3 + (int64_t)(expo(&r) * (s->o->events_per_user - 2.5));
    if (len > s->hist_cap) len = s->hist_cap;
    int64_t ts = T0 + (int64_t)lt_rng_below(&r, 365 * 86400);
    for (int64_t k = 0; k < len; k++) {
        const item *prev = k ? &s->items[hist[k - 1]] : NULL;
        const synth_category *pc = prev ? &synth_cats[prev->cat] : NULL;
        double u = lt_rng_next_double(&r), gap;
        const item *ref = NULL;
        int cat;
        if (prev && u < P_COMP && pc->comp[0] != C_NONE) {
            int nc = 0;
            while (pc->comp[nc] != C_NONE) nc++;
            cat = pc->comp[lt_rng_below(&r, (uint64_t)nc)];
            ref = prev;
            gap = 60 + 1200 * expo(&r); /* same session */
            if (s->niche[cat] && lt_rng_next_double(&r) >= s->o->niche_attention) /* few follow a lead into a niche */
                cat = t.cat[pick_cum(t.cum, t.ncat, lt_rng_next_double(&r))], ref = NULL;
        } else if (prev && u >= P_COMP && u < P_COMP + P_SAME) {
            cat = prev->cat;
            gap = 600 + 86400 * expo(&r);
        } else {
            if (u >= P_COMP + P_SAME && u < P_COMP + P_SAME + P_EXPLORE) cat = pick_cat(s, &r);
            else cat = t.cat[pick_cum(t.cum, t.ncat, lt_rng_next_double(&r))];
            gap = 3600 + 5 * 86400 * expo(&r);
        }
        int32_t j = draw(s, &r, &t, cat, ref, hist, k);
        for (int tries = 0; j < 0 && tries < 2 * SYNTH_NCATS; tries++) j = draw(s, &r, &t, pick_cat(s, &r), NULL, hist, k);
        for (int64_t q = 0, st = (int64_t)lt_rng_below(&r, (uint64_t)s->n_warm); j < 0; q++) /* tiny catalogs only */
            if (!seen(hist, k, s->warm[(st + q) % s->n_warm])) j = s->warm[(st + q) % s->n_warm];
        hist[k] = j;
        times[k] = ts += 1 + (int64_t)gap;
    }
    return len;
}

/* ---- chunked, ordered output ------------------------------------------------------------------ */

typedef struct {
    sbuf b;
    int32_t *hist;
    int64_t *times;
} worker;

static void items_chunk(shop *s, worker *w, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) item_line(s, &w->b, i);
}

static void users_chunk(shop *s, worker *w, int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; u++) {
        int64_t n = user_history(s, u, w->hist, w->times);
        for (int64_t k = 0; k < n; k++) {
            sb_id(&w->b, 'U', u + 1);
            sb_str(&w->b, "\t");
            sb_id(&w->b, 'I', w->hist[k] + 1);
            sb_str(&w->b, "\t");
            sb_u64(&w->b, (uint64_t)w->times[k], 0);
            sb_str(&w->b, "\n");
#pragma omp atomic
            s->counts[w->hist[k]]++;
        }
    }
}

/* Threads fill chunks in parallel; each chunk is written as soon as the ones before it are, so
 * the file is the same whatever the thread count. */
static int write_chunks(shop *s, FILE *f, const char *path, int64_t total, int64_t chunk,
                        void (*fn)(shop *, worker *, int64_t, int64_t), const char *label, const char *unit,
                        int64_t *bytes) {
    lt_progress p;
    if (s->o->progress) lt_progress_start(&p, label, unit, total);
    int64_t nchunks = (total + chunk - 1) / chunk;
    int err = 0;
    char msg[512] = ""; /* lt_error's message is per thread: carry it out of the parallel region */
#pragma omp parallel num_threads(s->threads)
    {
        worker w = {{0}, malloc(sizeof(int32_t) * (size_t)s->hist_cap), malloc(sizeof(int64_t) * (size_t)s->hist_cap)};
        w.b.oom = !w.hist || !w.times;
#pragma omp for ordered schedule(static, 1)
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t lo = c * chunk, hi = lo + chunk < total ? lo + chunk : total;
            int failed;
#pragma omp atomic read
            failed = err;
            w.b.n = 0;
            if (!failed && !w.b.oom) fn(s, &w, lo, hi);
#pragma omp ordered
            {
                int code = 0;
                if (!err && w.b.oom) code = LT_ENOMEM, snprintf(msg, sizeof msg, "synth: %s: out of memory", path);
                else if (!err && fwrite(w.b.p, 1, w.b.n, f) != w.b.n)
                    code = LT_EIO, snprintf(msg, sizeof msg, "synth: writing %s: %s", path, strerror(errno));
                if (code) {
#pragma omp atomic write
                    err = code;
                }
                *bytes += (int64_t)w.b.n;
                if (s->o->progress) lt_progress_add(&p, hi - lo);
            }
        }
        free(w.b.p);
        free(w.hist);
        free(w.times);
    }
    if (s->o->progress) lt_progress_end(&p);
    return err ? lt_error(err, "%s", msg) : 0;
}

static int write_file(shop *s, const char *path, const char *header, int64_t total, int64_t chunk,
                      void (*fn)(shop *, worker *, int64_t, int64_t), const char *label, const char *unit,
                      int64_t *bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return lt_error(LT_EIO, "synth: cannot create %s: %s", path, strerror(errno));
    int rc = fputs(header, f) < 0 ? lt_error(LT_EIO, "synth: writing %s: %s", path, strerror(errno)) : 0;
    *bytes += (int64_t)strlen(header);
    if (rc == 0) rc = write_chunks(s, f, path, total, chunk, fn, label, unit, bytes);
    if (fclose(f) != 0 && rc == 0) rc = lt_error(LT_EIO, "synth: closing %s: %s", path, strerror(errno));
    return rc;
}

/* ---- setup ------------------------------------------------------------------------------------ */

/* Vose's alias method over w[0, n) (w is overwritten): O(1) draws ∝ w. */
static void alias_build(double *w, int64_t n, slot *sl, int32_t *work) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += w[i];
    int64_t ns = 0, nl = n; /* small indices grow up from 0, large ones down from n */
    for (int64_t i = 0; i < n; i++) {
        w[i] *= (double)n / sum;
        if (w[i] < 1) work[ns++] = (int32_t)i;
        else work[--nl] = (int32_t)i;
    }
    while (ns > 0 && nl < n) {
        int32_t a = work[--ns], l = work[nl++];
        sl[a].prob = (float)w[a];
        sl[a].alias = l;
        w[l] -= 1 - w[a];
        if (w[l] < 1) work[ns++] = l;
        else work[--nl] = l;
    }
    while (ns > 0) ns--, sl[work[ns]].prob = 1, sl[work[ns]].alias = work[ns];
    while (nl < n) sl[work[nl]].prob = 1, sl[work[nl]].alias = work[nl], nl++;
}

static int64_t cold_count(const lt_synth_opts *o) { return (int64_t)llround(o->cold * (double)o->items); }

/* One shuffle decides both: its first cold_count() items are cold, the rest is the popularity order. */
static void shuffled_items(const lt_synth_opts *o, int32_t *perm) {
    lt_rng r;
    lt_rng_init(&r, o->seed, STREAM_SETUP);
    for (int64_t i = 0; i < o->items; i++) perm[i] = (int32_t)i;
    lt_rng_shuffle_i32(&r, perm, (size_t)o->items);
}

/* brand_pull a > 0: the popularity order sorts the warm items by (1 - a) u + a appeal(brand), u their
 * place in the random order (0..1) and appeal a uniform draw per brand (per brand group and brand, from
 * the setup seed; unbranded categories 0.5), so a brand named in the title tells how popular an item
 * tends to be, as known brands sell more in real shops. key: scratch of n_warm doubles. */
static const double *g_key; /* qsort has no context argument in C11 */
static int by_key(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return g_key[x] != g_key[y] ? (g_key[x] < g_key[y] ? -1 : 1) : (x < y ? -1 : x > y);
}

static int brand_order(shop *s, double *key) {
    const lt_synth_opts *o = s->o;
    int32_t *rank = malloc(sizeof *rank * (size_t)s->n_warm);
    if (!rank) return lt_error(LT_ENOMEM, "synth: out of memory");
    for (int64_t k = 0; k < s->n_warm; k++) {
        const item *it = &s->items[s->warm[k]];
        int g = synth_cats[it->cat].brands;
        double appeal = g ? lt_rng_uniform(o->seed, STREAM_SETUP + 1, (uint64_t)g << 8 | it->brand) : 0.5;
        key[k] = (1 - o->brand_pull) * (double)k / (double)s->n_warm + o->brand_pull * appeal;
        rank[k] = (int32_t)k;
    }
    g_key = key;
    qsort(rank, (size_t)s->n_warm, sizeof *rank, by_key);
    for (int64_t k = 0; k < s->n_warm; k++) rank[k] = s->warm[rank[k]];
    memcpy(s->warm, rank, sizeof *rank * (size_t)s->n_warm);
    free(rank);
    return 0;
}

static int shop_build(shop *s) {
    const lt_synth_opts *o = s->o;
    int64_t n = s->n;
    s->items = malloc(sizeof(item) * (size_t)n);
    s->warm = malloc(sizeof(int32_t) * (size_t)n);
    s->slots = malloc(sizeof(slot) * (size_t)n);
    s->counts = calloc((size_t)n, sizeof(int32_t));
    double *w = malloc(sizeof(double) * (size_t)n);
    int32_t *work = malloc(sizeof(int32_t) * (size_t)n);
    if (!s->items || !s->warm || !s->slots || !s->counts || !w || !work) {
        free(w), free(work);
        return lt_error(LT_ENOMEM, "synth: %lld items do not fit in memory", (long long)n);
    }

    double tot = 0;
    for (int c = 0; c < SYNTH_NCATS; c++) {
        s->cat_all[c] = tot += synth_cats[c].weight;
        const char *p = synth_cats[c].text[s->lang].path, *q;
        while ((q = strstr(p, " > "))) p = q + 3;
        s->leaf[c] = p;
        for (int f = 0; f < SYNTH_NFAM; f++) s->fam_slot[c][f] = -1;
        for (int k = 0; k < SYNTH_SLOTS; k++)
            if (synth_cats[c].fam[k]) s->fam_slot[c][synth_cats[c].fam[k]] = (int8_t)k;
    }

#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        lt_rng r;
        lt_rng_init(&r, o->seed, STREAM_ATTR + (uint64_t)i);
        item *it = &s->items[i];
        const synth_category *c = &synth_cats[it->cat = (uint8_t)pick_cum(s->cat_all, SYNTH_NCATS, lt_rng_next_double(&r))];
        it->brand = c->brands ? (uint8_t)pick_harmonic(&r, synth_count(synth_brands[c->brands][0]), 1.5) : 0;
        it->tier = (uint8_t)pick_cum(tier_cum, 3, lt_rng_next_double(&r));
        for (int k = 0; k < SYNTH_SLOTS; k++)
            it->val[k] = c->fam[k] ? (uint8_t)lt_rng_below(&r, (uint64_t)synth_count(synth_fams[c->fam[k]].values[0])) : 0;
    }

    shuffled_items(o, s->warm);
    memmove(s->warm, s->warm + s->n_cold, sizeof(int32_t) * (size_t)s->n_warm);
    if (o->brand_pull > 0 && brand_order(s, w)) {
        free(w), free(work);
        return LT_ENOMEM;
    }

    /* Zipf-Mandelbrot weights (rank + q)^-zipf: the offset q = sqrt(n_warm) / 2 keeps the first
     * few ranks from taking every event of their category while the top 20% still take most. */
    int64_t fill_at[SYNTH_NCATS];
    for (int64_t k = 0; k < s->n_warm; k++) s->cat_off[s->items[s->warm[k]].cat + 1]++;
    for (int c = 0; c < SYNTH_NCATS; c++) s->cat_off[c + 1] += s->cat_off[c];
    memcpy(fill_at, s->cat_off, sizeof fill_at);
    double q = 0.5 * sqrt((double)s->n_warm);
    for (int64_t k = 0; k < s->n_warm; k++) {
        int32_t i = s->warm[k];
        int64_t at = fill_at[s->items[i].cat]++;
        s->slots[at].id = i;
        s->slots[at].it = s->items[i];
        w[at] = pow((double)(k + 1) + q, -o->zipf);
    }
    /* the niche categories: the first o->niche of a shuffle of the categories (their own stream, so
     * the items and the popularity order do not depend on it); users' interest in them is scaled
     * by niche_attention, so as a group they get a small share of the events */
    int32_t cats[SYNTH_NCATS];
    lt_rng r;
    lt_rng_init(&r, o->seed, STREAM_SETUP + 1);
    for (int c = 0; c < SYNTH_NCATS; c++) cats[c] = c;
    lt_rng_shuffle_i32(&r, cats, SYNTH_NCATS);
    for (int c = 0; c < o->niche && c < SYNTH_NCATS; c++) s->niche[cats[c]] = 1;
    tot = 0;
    for (int c = 0; c < SYNTH_NCATS; c++) {
        int64_t off = s->cat_off[c], m = s->cat_off[c + 1] - off;
        alias_build(w + off, m, s->slots + off, work);
        s->cat_warm[c] = tot += m > 0 ? synth_cats[c].weight * (s->niche[c] ? o->niche_attention : 1.0) : 0;
    }
    free(w);
    free(work);
    return 0;
}

static void shop_free(shop *s) {
    free(s->items), free(s->warm), free(s->slots), free(s->counts);
}

/* ---- public ----------------------------------------------------------------------------------- */

void lt_synth_opts_init(lt_synth_opts *o) {
    *o = (lt_synth_opts){.items = 10000, .users = 5000, .seed = 1, .zipf = 1.1, .cold = 0.05,
                         .events_per_user = 10, .lang = "en", .niche = 6, .niche_attention = 0.15, .threads = 0,
                         .progress = 1};
}

static int mkdirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return lt_error(LT_EINVAL, "synth: path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return lt_error(LT_EIO, "synth: cannot create folder %s: %s", buf, strerror(errno));
        if (!(*p = c)) return 0;
    }
}

static int check_opts(const lt_synth_opts *o) {
    if (!o->out || !o->out[0]) return lt_error(LT_EINVAL, "synth: no output folder (--out DIR)");
    if (o->items < 1 || o->items > INT32_MAX) return lt_error(LT_ERANGE, "synth: items=%lld: need 1..%d", (long long)o->items, INT32_MAX);
    if (o->users < 0 || o->users > INT32_MAX) return lt_error(LT_ERANGE, "synth: users=%lld: need 0..%d", (long long)o->users, INT32_MAX);
    if (!(o->brand_pull >= 0 && o->brand_pull <= 1))
        return lt_error(LT_ERANGE, "synth: brand_pull=%g: need 0..1", o->brand_pull);
    if (!(o->zipf >= 0 && o->zipf <= 10)) return lt_error(LT_ERANGE, "synth: zipf=%g: need 0..10", o->zipf);
    if (!(o->cold >= 0 && o->cold < 1)) return lt_error(LT_ERANGE, "synth: cold=%g: need a share in [0, 1)", o->cold);
    if (!(o->events_per_user >= 3 && o->events_per_user <= 1e5))
        return lt_error(LT_ERANGE, "synth: events per user=%g: need 3..100000 (every history has at least 3)", o->events_per_user);
    if (!o->lang || (strcmp(o->lang, "en") && strcmp(o->lang, "zh")))
        return lt_error(LT_EINVAL, "synth: lang '%s': expected en or zh", o->lang ? o->lang : "(null)");
    if (o->threads < 0) return lt_error(LT_ERANGE, "synth: threads=%d", o->threads);
    if (o->niche < 0 || o->niche >= SYNTH_NCATS)
        return lt_error(LT_ERANGE, "synth: niche=%d: need 0..%d categories (there are %d)", o->niche, SYNTH_NCATS - 1, SYNTH_NCATS);
    if (!(o->niche_attention > 0 && o->niche_attention <= 1))
        return lt_error(LT_ERANGE, "synth: niche_attention=%g: need a factor in (0, 1]", o->niche_attention);
    return 0;
}

/* head share: events on the top 20% of items by event count, from a histogram of the counts. */
static double head_share(const int32_t *counts, int64_t n, int64_t events) {
    int32_t max = 0;
    for (int64_t i = 0; i < n; i++) max = counts[i] > max ? counts[i] : max;
    int64_t *h = calloc((size_t)max + 1, sizeof(int64_t));
    if (!h || events == 0) return free(h), 0.0;
    for (int64_t i = 0; i < n; i++) h[counts[i]]++;
    int64_t left = (n + 4) / 5, head = 0;
    for (int64_t c = max; c > 0 && left > 0; c--) {
        int64_t take = h[c] < left ? h[c] : left;
        head += take * c, left -= take;
    }
    free(h);
    return (double)head / (double)events;
}

/* planted.tsv: per category its path, whether it is niche, its items and events and their shares. */
static int write_planted(const shop *s, const char *path, const char *tmp, double *niche_items, double *niche_events) {
    int64_t items[SYNTH_NCATS] = {0}, events[SYNTH_NCATS] = {0}, total = 0;
    for (int64_t i = 0; i < s->n; i++) items[s->items[i].cat]++, events[s->items[i].cat] += s->counts[i], total += s->counts[i];
    FILE *f = fopen(tmp, "wb");
    if (!f) return lt_error(LT_EIO, "synth: cannot create %s: %s", tmp, strerror(errno));
    fputs("category\tniche\titems\tevents\titem_share\tevent_share\n", f);
    *niche_items = *niche_events = 0;
    for (int c = 0; c < SYNTH_NCATS; c++) {
        double is = (double)items[c] / (double)s->n, es = total ? (double)events[c] / (double)total : 0;
        fprintf(f, "%s\t%d\t%lld\t%lld\t%.6f\t%.6f\n", synth_cats[c].text[SYNTH_EN].path, s->niche[c], (long long)items[c],
                (long long)events[c], is, es);
        if (s->niche[c]) *niche_items += is, *niche_events += es;
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return unlink(tmp), lt_error(LT_EIO, "synth: writing %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) return unlink(tmp), lt_error(LT_EIO, "synth: renaming %s: %s", path, strerror(errno));
    return 0;
}

int lt_synth_cold_items(const lt_synth_opts *o, uint8_t *cold) {
    LT_TRY(check_opts(o));
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)o->items);
    if (!perm) return lt_error(LT_ENOMEM, "synth: %lld items do not fit in memory", (long long)o->items);
    shuffled_items(o, perm);
    memset(cold, 0, (size_t)o->items);
    for (int64_t k = 0, n_cold = cold_count(o); k < n_cold; k++) cold[perm[k]] = 1;
    free(perm);
    return 0;
}

/* OUT/synth.ini: the options that made the shop, as a [synth] section longtail reads back (the
 * bandit's oracle rebuilds the users' tastes from them). */
static int write_ini(const lt_synth_opts *o, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return lt_error(LT_EIO, "synth: cannot create %s: %s", path, strerror(errno));
    fprintf(f, "# the options that generated this shop (longtail synth); longtail bandit --truth reads them\n"
               "[synth]\nitems = %lld\nusers = %lld\nseed = %llu\nzipf = %.17g\ncold = %.17g\n"
               "events_per_user = %.17g\nlang = %s\n",
            (long long)o->items, (long long)o->users, (unsigned long long)o->seed, o->zipf, o->cold,
            o->events_per_user, o->lang);
    if (ferror(f) | (fclose(f) != 0)) return lt_error(LT_EIO, "synth: writing %s: %s", path, strerror(errno));
    return 0;
}

int lt_synth_write(const lt_synth_opts *o, lt_synth_stats *stats) {
    LT_TRY(check_opts(o));
    LT_TRY(lt_synth_words_check());
    double t_start = lt_seconds();
    shop s = {.o = o, .lang = strcmp(o->lang, "zh") ? SYNTH_EN : SYNTH_ZH, .n = o->items};
    s.threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    s.n_cold = cold_count(o);
    s.n_warm = s.n - s.n_cold;
    if (o->users > 0 && s.n_warm < 1) return lt_error(LT_EINVAL, "synth: every item is cold, users have nothing to buy");
    s.hist_cap = (int64_t)(10 * o->events_per_user) > 1000 ? (int64_t)(10 * o->events_per_user) : 1000;
    if (s.hist_cap > s.n_warm) s.hist_cap = s.n_warm > 0 ? s.n_warm : 1;
    LT_TRY(mkdirs(o->out));

    char items_path[4200], events_path[4200], items_tmp[4300], events_tmp[4300], ini_path[4200], ini_tmp[4300];
    snprintf(items_path, sizeof items_path, "%s/items.tsv", o->out);
    snprintf(events_path, sizeof events_path, "%s/events.tsv", o->out);
    snprintf(ini_path, sizeof ini_path, "%s/synth.ini", o->out);
    LT_TRY(lt_tmp_path(items_tmp, sizeof items_tmp, items_path));
    LT_TRY(lt_tmp_path(events_tmp, sizeof events_tmp, events_path));
    LT_TRY(lt_tmp_path(ini_tmp, sizeof ini_tmp, ini_path));

    int64_t bytes = 0;
    int rc = shop_build(&s);
    if (rc == 0)
        rc = write_file(&s, items_tmp, "item_id\ttitle\tdescription\tcategory\n", s.n, ITEM_CHUNK, items_chunk,
                        "synth items", "items", &bytes);
    if (rc == 0)
        rc = write_file(&s, events_tmp, "user_id\titem_id\ttimestamp\n", o->users, USER_CHUNK, users_chunk,
                        "synth users", "users", &bytes);
    if (rc == 0) rc = write_ini(o, ini_tmp);
    if (rc == 0 && (rename(items_tmp, items_path) != 0 || rename(events_tmp, events_path) != 0 ||
                    rename(ini_tmp, ini_path) != 0))
        rc = lt_error(LT_EIO, "synth: renaming into %s: %s", o->out, strerror(errno));
    double niche_items = 0, niche_events = 0;
    if (rc == 0) {
        char planted[4200], planted_tmp[4300];
        snprintf(planted, sizeof planted, "%s/planted.tsv", o->out);
        rc = lt_tmp_path(planted_tmp, sizeof planted_tmp, planted);
        if (rc == 0) rc = write_planted(&s, planted, planted_tmp, &niche_items, &niche_events);
    }
    if (rc < 0) {
        unlink(items_tmp);
        unlink(events_tmp);
        unlink(ini_tmp);
    } else if (stats) {
        int64_t events = 0;
        for (int64_t i = 0; i < s.n; i++) events += s.counts[i];
        *stats = (lt_synth_stats){.items = s.n, .cold_items = s.n_cold, .users = o->users, .events = events,
                                  .head_share = head_share(s.counts, s.n, events),
                                  .niche_item_share = niche_items, .niche_event_share = niche_events,
                                  .mean_history = o->users ? (double)events / (double)o->users : 0, .bytes = bytes,
                                  .seconds = lt_seconds() - t_start};
    }
    shop_free(&s);
    return rc;
}

/* ---- the oracle ------------------------------------------------------------------------------- */

struct lt_synth_oracle {
    shop s;
    lt_synth_opts o;
    char lang[4];
};

int lt_synth_oracle_open(lt_synth_oracle **out, const lt_synth_opts *o) {
    *out = NULL;
    lt_synth_opts chk = *o;
    if (!chk.out) chk.out = "-"; /* no folder is written */
    LT_TRY(check_opts(&chk));
    lt_synth_oracle *or = calloc(1, sizeof *or);
    if (!or) return lt_error(LT_ENOMEM, "synth: out of memory");
    or->o = chk;
    snprintf(or->lang, sizeof or->lang, "%s", o->lang);
    or->o.lang = or->lang, or->o.out = NULL, or->o.progress = 0;
    shop *s = &or->s;
    *s = (shop){.o = &or->o, .lang = strcmp(o->lang, "zh") ? SYNTH_EN : SYNTH_ZH, .n = o->items, .threads = 1};
    s->n_cold = cold_count(o);
    s->n_warm = s->n - s->n_cold;
    int rc = shop_build(s);
    if (rc) return shop_free(s), free(or), rc;
    *out = or;
    return 0;
}

void lt_synth_oracle_free(lt_synth_oracle *or) {
    if (!or) return;
    shop_free(&or->s);
    free(or);
}

int64_t lt_synth_oracle_items(const lt_synth_oracle *or) { return or->s.n; }
int64_t lt_synth_oracle_users(const lt_synth_oracle *or) { return or->o.users; }

void lt_synth_oracle_ctr(const lt_synth_oracle *or, int64_t user, const int64_t *items, int64_t n, double *p) {
    const shop *s = &or->s;
    lt_rng r;
    lt_rng_init(&r, or->o.seed, STREAM_USER + (uint64_t)user);
    taste t = {0};
    make_taste(s, &r, &t); /* the first draws of the user's stream, as in user_history */
    double wmax = 0, w[3];
    for (int k = 0; k < t.ncat; k++) w[k] = t.cum[k] - (k ? t.cum[k - 1] : 0), wmax = w[k] > wmax ? w[k] : wmax;
    for (int64_t j = 0; j < n; j++) {
        if (items[j] < 0 || items[j] >= s->n) {
            p[j] = 0;
            continue;
        }
        const item *it = &s->items[items[j]];
        double wc = LT_SYNTH_ORACLE_STRAY;
        for (int k = 0; k < t.ncat; k++)
            if (t.cat[k] == it->cat) wc = w[k] / wmax;
        p[j] = LT_SYNTH_ORACLE_MAX * wc * match(s, &t, it, NULL);
    }
}
