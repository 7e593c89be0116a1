/* The synthetic shop: a catalog with product text and users whose histories follow latent
 * tastes, written in the generic raw layout of datasets/README.md (items.tsv + events.tsv) so
 * that `longtail import` reads it like any real shop. It is the engine's default data for demos
 * and tests: the text is informative (item attributes drive both the words and who buys the
 * item), popularity is Zipf, histories have sequential structure (complements follow each other)
 * and a fraction of items is cold (no events at all). A few niche categories (chosen by the seed)
 * hold their fair share of the items but get a small share of users' interest: the long-tail
 * regions that `longtail cluster` should find (written down in planted.tsv).
 *
 * Every item and every user draws from its own Philox stream, so the bytes written depend only
 * on the options, never on the number of threads. */
#ifndef LONGTAIL_SYNTH_H
#define LONGTAIL_SYNTH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_synth_opts {
    const char *out;         /* output folder (created if missing); required */
    int64_t items;           /* catalog size */
    int64_t users;           /* 0 writes an events.tsv with only its header */
    uint64_t seed;
    double zipf;             /* popularity exponent over item ranks */
    double cold;             /* share of items with no events, in [0, 1) */
    double brand_pull;       /* 0..1: how much an item's brand (named in its title) decides its place in
                                the popularity order (default 0: the order is random, independent of text) */
    double events_per_user;  /* mean history length (every history has at least 3) */
    const char *lang;        /* "en" or "zh" (Simplified Chinese text) */
    int niche;               /* niche categories: users seek them out rarely (the planted long tail) */
    double niche_attention;  /* a niche category's share of users' interest / its share of the items */
    int threads;             /* 0: OpenMP's default */
    int progress;            /* show progress lines on stderr */
} lt_synth_opts;

/* What was written, for the summary line. */
typedef struct lt_synth_stats {
    int64_t items, cold_items, users, events;
    double head_share;       /* share of events on the top 20% of items by event count */
    double niche_item_share, niche_event_share; /* the niche categories' share of items and of events */
    double mean_history;     /* events per user */
    int64_t bytes;           /* both files together */
    double seconds;
} lt_synth_stats;

/* items 10000, users 5000, seed 1, zipf 1.1, cold 0.05, events_per_user 10, lang "en", niche 6,
 * niche_attention 0.15, threads 0, progress 1, out NULL. */
void lt_synth_opts_init(lt_synth_opts *o);

/* Write out/items.tsv, out/events.tsv, out/synth.ini (the options: the bandit's oracle rebuilds the
 * tastes from them) and out/planted.tsv, the structure that was planted: one line per category (path,
 * niche 0/1, items, events, share of items, share of events), so tests can check that `cluster` finds
 * the niche categories as long-tail regions. Each is written to a temporary name, renamed when
 * complete. stats may be NULL. */
int lt_synth_write(const lt_synth_opts *o, lt_synth_stats *stats);

/* Which items (0-based, file order) lt_synth_write makes cold for these options: cold[i] = 1.
 * cold holds o->items bytes. For cold-start evaluation and tests. */
int lt_synth_cold_items(const lt_synth_opts *o, uint8_t *cold);

/* ---- the ground truth, for judging exploration (longtail bandit) ----------------------------- */
/* lt_synth_write also writes OUT/synth.ini, the options as a [synth] section. From the same options
 * the oracle rebuilds every item's latent attributes and every user's taste (the first draws of the
 * user's own stream), so it knows what the shop's users like without reading the events:
 *   P(user u clicks item i when shown) = MAX * w * match(u, i)
 * match: the acceptance factor the histories were drawn with (1 when the item matches the user's
 * taste on every attribute, price tier and brand; smaller per mismatch); w: the weight of the item's
 * category in the user's taste relative to the user's main category, or STRAY for categories outside
 * it. Users and items are 0-based: U0000001 is user 0, I0000001 item 0. */
#define LT_SYNTH_ORACLE_MAX 0.5
#define LT_SYNTH_ORACLE_STRAY 0.05
typedef struct lt_synth_oracle lt_synth_oracle;
int lt_synth_oracle_open(lt_synth_oracle **out, const lt_synth_opts *o); /* o->out is not used */
void lt_synth_oracle_free(lt_synth_oracle *or);
int64_t lt_synth_oracle_items(const lt_synth_oracle *or);
int64_t lt_synth_oracle_users(const lt_synth_oracle *or);
/* p[j] = P(click) of items[j] for this user (0 for an item outside the shop). Thread-safe. */
void lt_synth_oracle_ctr(const lt_synth_oracle *or, int64_t user, const int64_t *items, int64_t n, double *p);

#ifdef __cplusplus
}
#endif
#endif
