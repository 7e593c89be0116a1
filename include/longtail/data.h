/* The engine's data in memory and on disk: a catalog (items with their text) and event
 * sequences (per user, in time order, CSR), and the importers that build them from raw files.
 *
 * On disk (HDF5, see shard.h):
 *   DIR/catalog-00000.h5 ...  schema "catalog/1": one shard per items_per_shard items; groups
 *                             item_id/, title/, description/, category/ each holding `values`
 *                             (u8, UTF-8 text concatenated) and `offsets` (i64[n+1]); root
 *                             attributes item_begin, n_items, n_items_total, shard_index,
 *                             shard_count.
 *   DIR/events.h5             schema "events/1": user_offsets i64[n_users+1], items i32[n_events]
 *                             (dense item index = position in the catalog), times i64[n_events],
 *                             user_id/{values,offsets}; attributes n_users, n_items, n_events,
 *                             has_time (0: times are positions in the history). */
#ifndef LONGTAIL_DATA_H
#define LONGTAIL_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- strings, CSR style ------------------------------------------------------------------ */

typedef struct lt_strs {
    char *bytes;      /* all strings back to back, no terminators */
    int64_t *off;     /* n + 1 offsets into bytes */
    int64_t n;
    size_t cap_bytes;
    int64_t cap_n;
} lt_strs;

int lt_strs_push(lt_strs *s, const char *str, size_t len);
/* String i (not NUL-terminated) and its length. */
const char *lt_strs_get(const lt_strs *s, int64_t i, size_t *len);
void lt_strs_free(lt_strs *s);

/* A string -> dense index map (open addressing over an lt_strs of its keys). */
typedef struct lt_strmap {
    lt_strs keys;
    int64_t *slot; /* index + 1, 0 = empty */
    uint64_t *hash;
    int64_t cap;
} lt_strmap;

/* Index of key; adds it (index = previous size) when absent. *added tells which. */
int lt_strmap_get_or_add(lt_strmap *m, const char *key, size_t len, int64_t *index, int *added);
/* Index of key or -1. */
int64_t lt_strmap_find(const lt_strmap *m, const char *key, size_t len);
void lt_strmap_free(lt_strmap *m);

/* ---- catalog and events ------------------------------------------------------------------- */

typedef struct lt_catalog {
    int64_t n;
    lt_strs item_id, title, description, category;
} lt_catalog;

typedef struct lt_events {
    int64_t n_users, n_items, n_events;
    int64_t *user_off; /* n_users + 1 */
    int32_t *item;     /* n_events, dense catalog index */
    int64_t *time;     /* n_events */
    int has_time;
    lt_strs user_id;
} lt_events;

void lt_catalog_free(lt_catalog *c);
void lt_events_free(lt_events *e);

/* Write the catalog as shards DIR/catalog-NNNNN.h5 (and remove stale shards of an earlier run
 * with more shards); `source` is recorded as an attribute. */
int lt_catalog_save(const lt_catalog *c, const char *dir, int64_t items_per_shard, const char *source);
/* Read every catalog shard of DIR, checking that they form one complete catalog. */
int lt_catalog_load(lt_catalog *c, const char *dir);
/* The item ids only (c->item_id and c->n; the text stays on disk), checked the same way. */
int lt_catalog_load_ids(lt_catalog *c, const char *dir);
int lt_events_save(const lt_events *e, const char *path, const char *source);
int lt_events_load(lt_events *e, const char *path);

/* ---- import ---------------------------------------------------------------------------------- */

typedef struct lt_import_opts {
    const char *format; /* "generic", "amazon-beauty", "movielens" */
    const char *in;     /* input folder */
    int skip_bad;       /* count and report malformed lines instead of failing at the first */
    int min_rating;     /* movielens: keep ratings >= this (default 0: all) */
    double max_bad;     /* with skip_bad: the import fails when it drops more than this share of a file's
                           lines, or all of them (0: LT_IMPORT_MAX_BAD) */
} lt_import_opts;
#define LT_IMPORT_MAX_BAD 0.1

#define LT_IMPORT_SHOW_BAD 5
typedef struct lt_import_report {
    int64_t lines, skipped;
    char bad[LT_IMPORT_SHOW_BAD][320]; /* the first malformed lines: "file:line: reason" */
} lt_import_report;

int lt_import(const lt_import_opts *o, lt_catalog *cat, lt_events *ev, lt_import_report *rep);

/* The parsers, one per raw file kind, reading from an lt_lines source (textio.h). They are
 * public so the fuzz targets and tests can feed them memory. Each adds to cat/ev. */
struct lt_lines;
typedef struct lt_ev_builder lt_ev_builder;
int lt_ev_builder_new(lt_ev_builder **b);
void lt_ev_builder_free(lt_ev_builder *b);
/* Group by user (first-appearance order) and sort each history by time (stable). */
int lt_ev_builder_finish(lt_ev_builder *b, int64_t n_items, lt_events *ev);

int lt_parse_items_tsv(struct lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep);
int lt_parse_items_jsonl(struct lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep);
int lt_parse_events_tsv(struct lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int skip_bad,
                        lt_import_report *rep);
int lt_parse_events_jsonl(struct lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int skip_bad,
                          lt_import_report *rep);
int lt_parse_beauty_items(struct lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep);
int lt_parse_beauty_seqs(struct lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int skip_bad,
                         lt_import_report *rep);
int lt_parse_movielens_movies(struct lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad,
                              lt_import_report *rep);
int lt_parse_movielens_ratings(struct lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int min_rating,
                               int skip_bad, lt_import_report *rep);

#ifdef __cplusplus
}
#endif
#endif
