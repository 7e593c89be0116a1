/* Importers: raw catalog and event files -> lt_catalog + lt_events in memory.
 * Each parser reads lines from an lt_lines source (plain, gzip or memory). A malformed line is
 * an error naming file:line and the reason, or with skip_bad it is counted, the first few are
 * kept for the report, and the line is dropped. Header problems are always errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/textio.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "longtail/log.h"

#define MAX_FIELDS 64

static int bad(lt_lines *l, int skip_bad, lt_import_report *rep, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int bad(lt_lines *l, int skip_bad, lt_import_report *rep, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!skip_bad)
        return lt_error(LT_EFORMAT, "%s:%lld: %s (--skip-bad drops such lines)", l->name, (long long)l->lineno, why);
    if (rep->skipped < LT_IMPORT_SHOW_BAD)
        snprintf(rep->bad[rep->skipped], sizeof rep->bad[0], "%s:%lld: %s", l->name, (long long)l->lineno, why);
    rep->skipped++;
    return 0;
}

/* The next line worth parsing: 1, or 0 at the end, <0 on error. Lines with a NUL byte are bad
 * lines (binary garbage); every line read is counted. */
static int next_line(lt_lines *l, int skip_bad, lt_import_report *rep) {
    for (;;) {
        int rc = lt_lines_next(l);
        if (rc <= 0) return rc;
        rep->lines++;
        if (!l->has_nul) return 1;
        LT_TRY(bad(l, skip_bad, rep, "NUL byte in line (binary data?)"));
    }
}

/* The first field of fields[0..n) that is not valid UTF-8, or -1. */
static int bad_utf8_field(char **fields, int n) {
    for (int i = 0; i < n; i++) {
        size_t len = strlen(fields[i]);
        if (lt_utf8_valid_prefix(fields[i], len) != len) return i;
    }
    return -1;
}

/* ---- event builder ---------------------------------------------------------------------------- */

struct lt_ev_builder {
    lt_strmap users;
    int32_t *user, *item;
    int64_t *time;
    int64_t n, cap;
    int has_time; /* -1 unknown, 0 none, 1 all lines */
};

int lt_ev_builder_new(lt_ev_builder **b) {
    *b = calloc(1, sizeof **b);
    if (!*b) return lt_error(LT_ENOMEM, "events: out of memory");
    (*b)->has_time = -1;
    return 0;
}

void lt_ev_builder_free(lt_ev_builder *b) {
    if (!b) return;
    lt_strmap_free(&b->users);
    free(b->user), free(b->item), free(b->time);
    free(b);
}

static int ev_add(lt_ev_builder *b, const char *user, size_t ulen, int32_t item, int64_t time) {
    if (b->n == b->cap) {
        int64_t cap = b->cap ? 2 * b->cap : 4096;
        int32_t *u = realloc(b->user, (size_t)cap * sizeof *u);
        if (u) b->user = u;
        int32_t *it = realloc(b->item, (size_t)cap * sizeof *it);
        if (it) b->item = it;
        int64_t *t = realloc(b->time, (size_t)cap * sizeof *t);
        if (t) b->time = t;
        if (!u || !it || !t) return lt_error(LT_ENOMEM, "events: out of memory at %lld events", (long long)b->n);
        b->cap = cap;
    }
    int64_t ui;
    int added;
    LT_TRY(lt_strmap_get_or_add(&b->users, user, ulen, &ui, &added));
    if (ui > INT32_MAX) return lt_error(LT_ERANGE, "events: more than 2^31 users");
    b->user[b->n] = (int32_t)ui, b->item[b->n] = item, b->time[b->n] = time;
    b->n++;
    return 0;
}

typedef struct {
    int64_t time, pos;
    int32_t item;
} ev_rec;

static int cmp_rec(const void *a, const void *b) {
    const ev_rec *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos; /* ties keep file order: a stable sort */
}

int lt_ev_builder_finish(lt_ev_builder *b, int64_t n_items, lt_events *ev) {
    memset(ev, 0, sizeof *ev);
    int64_t U = b->users.keys.n, N = b->n;
    ev->n_users = U, ev->n_items = n_items, ev->n_events = N, ev->has_time = b->has_time == 1;
    ev->user_off = calloc((size_t)U + 1, sizeof *ev->user_off);
    ev->item = malloc((size_t)(N ? N : 1) * sizeof *ev->item);
    ev->time = malloc((size_t)(N ? N : 1) * sizeof *ev->time);
    ev_rec *tmp = malloc((size_t)(N ? N : 1) * sizeof *tmp);
    if (!ev->user_off || !ev->item || !ev->time || !tmp) {
        free(tmp);
        lt_events_free(ev);
        return lt_error(LT_ENOMEM, "events: out of memory grouping %lld events", (long long)N);
    }
    /* counting sort by user keeps file order within a user */
    for (int64_t i = 0; i < N; i++) ev->user_off[b->user[i] + 1]++;
    for (int64_t u = 0; u < U; u++) ev->user_off[u + 1] += ev->user_off[u];
    int64_t *fill = malloc((size_t)(U ? U : 1) * sizeof *fill);
    if (!fill) {
        free(tmp);
        lt_events_free(ev);
        return lt_error(LT_ENOMEM, "events: out of memory");
    }
    memcpy(fill, ev->user_off, (size_t)U * sizeof *fill);
    for (int64_t i = 0; i < N; i++) {
        int64_t p = fill[b->user[i]]++;
        tmp[p] = (ev_rec){b->time[i], i, b->item[i]};
    }
    free(fill);
    for (int64_t u = 0; u < U; u++) {
        int64_t s = ev->user_off[u], e = ev->user_off[u + 1];
        if (ev->has_time) qsort(tmp + s, (size_t)(e - s), sizeof *tmp, cmp_rec);
        for (int64_t p = s; p < e; p++) {
            ev->item[p] = tmp[p].item;
            ev->time[p] = ev->has_time ? tmp[p].time : p - s;
        }
    }
    free(tmp);
    ev->user_id = b->users.keys; /* hand the id strings over */
    memset(&b->users.keys, 0, sizeof b->users.keys);
    return 0;
}

/* ---- catalog helpers --------------------------------------------------------------------------- */

static int add_item(lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep,
                    const char *id, const char *title, const char *desc, const char *category) {
    if (!*id) return bad(l, skip_bad, rep, "empty item_id");
    int64_t idx;
    int added;
    LT_TRY(lt_strmap_get_or_add(ids, id, strlen(id), &idx, &added));
    if (!added) return bad(l, skip_bad, rep, "duplicate item_id '%.64s'", id);
    if (idx > INT32_MAX) return lt_error(LT_ERANGE, "%s: more than 2^31 items", l->name);
    LT_TRY(lt_strs_push(&cat->item_id, id, strlen(id)));
    LT_TRY(lt_strs_push(&cat->title, title, strlen(title)));
    LT_TRY(lt_strs_push(&cat->description, desc, strlen(desc)));
    LT_TRY(lt_strs_push(&cat->category, category, strlen(category)));
    cat->n++;
    return 0;
}

/* Column positions from a TSV header; required columns missing is an error. */
typedef struct {
    int n, col[4];
} header;

static int read_header(lt_lines *l, const char **names, int nnames, int nrequired, header *h) {
    int rc = lt_lines_next(l);
    if (rc < 0) return rc;
    if (rc == 0) return lt_error(LT_EFORMAT, "%s: empty file (expected a header line)", l->name);
    if (l->has_nul) return lt_error(LT_EFORMAT, "%s:1: NUL byte in the header line (binary file?)", l->name);
    char *f[MAX_FIELDS];
    h->n = lt_split(l->buf, "\t", f, MAX_FIELDS);
    for (int k = 0; k < nnames; k++) {
        h->col[k] = -1;
        for (int i = 0; i < h->n; i++)
            if (!strcmp(f[i], names[k])) h->col[k] = i;
        if (k < nrequired && h->col[k] < 0)
            return lt_error(LT_EFORMAT, "%s:1: header has no '%s' column (header: tab-separated %s ...)", l->name,
                            names[k], names[0]);
    }
    return 0;
}

static const char *col(char **f, const header *h, int k) { return h->col[k] >= 0 ? f[h->col[k]] : ""; }

/* Split a data line of a TSV with header h; 0 = ok, 1 = line was bad and skipped, <0 error. */
static int tsv_fields(lt_lines *l, const header *h, char **f, int skip_bad, lt_import_report *rep) {
    int n = lt_split(l->buf, "\t", f, MAX_FIELDS);
    if (n != h->n) {
        LT_TRY(bad(l, skip_bad, rep, "expected %d tab-separated fields, got %d", h->n, n));
        return 1;
    }
    int u = bad_utf8_field(f, n);
    if (u >= 0) {
        LT_TRY(bad(l, skip_bad, rep, "field %d is not valid UTF-8", u + 1));
        return 1;
    }
    return 0;
}

/* ---- generic TSV / JSON lines ------------------------------------------------------------------ */

static const char *item_cols[] = {"item_id", "title", "description", "category"};
static const char *event_cols[] = {"user_id", "item_id", "timestamp"};

int lt_parse_items_tsv(lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep) {
    header h;
    LT_TRY(read_header(l, item_cols, 4, 2, &h));
    int rc;
    char *f[MAX_FIELDS];
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        if (l->len == 0) continue;
        int r = tsv_fields(l, &h, f, skip_bad, rep);
        if (r < 0) return r;
        if (r) continue;
        LT_TRY(add_item(l, cat, ids, skip_bad, rep, col(f, &h, 0), col(f, &h, 1), col(f, &h, 2), col(f, &h, 3)));
    }
    return rc;
}

int lt_parse_events_tsv(lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int skip_bad, lt_import_report *rep) {
    header h;
    LT_TRY(read_header(l, event_cols, 3, 2, &h));
    int has_time = h.col[2] >= 0;
    b->has_time = b->has_time == -1 ? has_time : (b->has_time && has_time);
    int rc;
    char *f[MAX_FIELDS];
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        if (l->len == 0) continue;
        int r = tsv_fields(l, &h, f, skip_bad, rep);
        if (r < 0) return r;
        if (r) continue;
        const char *user = col(f, &h, 0), *item = col(f, &h, 1);
        int64_t t = b->n;
        if (!*user) {
            LT_TRY(bad(l, skip_bad, rep, "empty user_id"));
            continue;
        }
        int64_t it = lt_strmap_find(items, item, strlen(item));
        if (it < 0) {
            LT_TRY(bad(l, skip_bad, rep, "unknown item_id '%.64s'", item));
            continue;
        }
        if (has_time && lt_parse_i64(col(f, &h, 2), &t) < 0) {
            LT_TRY(bad(l, skip_bad, rep, "timestamp '%.32s' is not an integer", col(f, &h, 2)));
            continue;
        }
        LT_TRY(ev_add(b, user, strlen(user), (int32_t)it, t));
    }
    return rc;
}

/* A JSON value as text: strings as they are, numbers as written; NULL when absent or null. */
static const char *jget(const lt_json_obj *o, const char *key) {
    int k = lt_json_find(o, key);
    return k < 0 || o->is_null[k] ? NULL : o->val[k];
}

static int json_line(lt_lines *l, lt_json_obj *o, int skip_bad, lt_import_report *rep) {
    int rc = lt_json_parse_flat(l->buf, o);
    if (rc < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", lt_last_error());
        LT_TRY(bad(l, skip_bad, rep, "bad JSON: %s", why));
        return 1;
    }
    for (int k = 0; k < o->n; k++) {
        size_t len = strlen(o->val[k]);
        if (lt_utf8_valid_prefix(o->val[k], len) != len) {
            LT_TRY(bad(l, skip_bad, rep, "value of '%.32s' is not valid UTF-8", o->key[k]));
            return 1;
        }
    }
    return 0;
}

int lt_parse_items_jsonl(lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep) {
    int rc;
    lt_json_obj o;
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        if (l->len == 0) continue;
        int r = json_line(l, &o, skip_bad, rep);
        if (r < 0) return r;
        if (r) continue;
        const char *id = jget(&o, "item_id"), *title = jget(&o, "title");
        if (!id || !title) {
            LT_TRY(bad(l, skip_bad, rep, "missing \"%s\"", id ? "title" : "item_id"));
            continue;
        }
        const char *d = jget(&o, "description"), *c = jget(&o, "category");
        LT_TRY(add_item(l, cat, ids, skip_bad, rep, id, title, d ? d : "", c ? c : ""));
    }
    return rc;
}

int lt_parse_events_jsonl(lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int skip_bad, lt_import_report *rep) {
    int rc;
    lt_json_obj o;
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        if (l->len == 0) continue;
        int r = json_line(l, &o, skip_bad, rep);
        if (r < 0) return r;
        if (r) continue;
        const char *user = jget(&o, "user_id"), *item = jget(&o, "item_id"), *ts = jget(&o, "timestamp");
        if (!user || !*user || !item) {
            LT_TRY(bad(l, skip_bad, rep, "missing \"%s\"", !user || !*user ? "user_id" : "item_id"));
            continue;
        }
        int64_t it = lt_strmap_find(items, item, strlen(item)), t = b->n;
        if (it < 0) {
            LT_TRY(bad(l, skip_bad, rep, "unknown item_id '%.64s'", item));
            continue;
        }
        if (ts) {
            char *end;
            double v = strtod(ts, &end);
            if (*end || !(v > -9.2e18 && v < 9.2e18)) {
                LT_TRY(bad(l, skip_bad, rep, "timestamp '%.32s' is not a number", ts));
                continue;
            }
            t = (int64_t)v;
        }
        b->has_time = (b->has_time != 0) && ts != NULL;
        LT_TRY(ev_add(b, user, strlen(user), (int32_t)it, t));
    }
    return rc;
}

/* ---- Amazon Beauty (the S3-Rec split: Beauty.txt + beauty_items.tsv) -------------------------- */

/* beauty_items.tsv: no header; item_id, ASIN, title, attributes (" | "-joined brand + categories). */
int lt_parse_beauty_items(lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep) {
    int rc;
    char *f[MAX_FIELDS];
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        int n = lt_split(l->buf, "\t", f, MAX_FIELDS);
        int64_t id;
        if (n != 4) {
            LT_TRY(bad(l, skip_bad, rep, "expected 4 tab-separated fields (id, ASIN, title, attributes), got %d", n));
            continue;
        }
        if (lt_parse_i64(f[0], &id) < 0 || id < 1) {
            LT_TRY(bad(l, skip_bad, rep, "item id '%.32s' is not a positive integer", f[0]));
            continue;
        }
        if (bad_utf8_field(f, 4) >= 0) {
            LT_TRY(bad(l, skip_bad, rep, "not valid UTF-8"));
            continue;
        }
        LT_TRY(add_item(l, cat, ids, skip_bad, rep, f[0], f[2], "", f[3]));
    }
    return rc;
}

/* Beauty.txt: "user item item ..." in time order, no timestamps. */
int lt_parse_beauty_seqs(lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int skip_bad, lt_import_report *rep) {
    int rc;
    b->has_time = 0;
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        char *save = NULL, *user = strtok_r(l->buf, " ", &save), *tok;
        if (!user) {
            LT_TRY(bad(l, skip_bad, rep, "empty line"));
            continue;
        }
        int32_t buf[4096];
        int n = 0, ok = 1;
        while ((tok = strtok_r(NULL, " ", &save))) {
            int64_t it = lt_strmap_find(items, tok, strlen(tok));
            if (it < 0 || n == 4096) {
                if (it < 0) LT_TRY(bad(l, skip_bad, rep, "unknown item id '%.32s'", tok));
                else LT_TRY(bad(l, skip_bad, rep, "history longer than 4096 items"));
                ok = 0;
                break;
            }
            buf[n++] = (int32_t)it;
        }
        if (ok && n == 0) {
            LT_TRY(bad(l, skip_bad, rep, "user '%.32s' has no items", user));
            ok = 0;
        }
        if (!ok) continue;
        if (lt_strmap_find(&b->users, user, strlen(user)) >= 0) {
            LT_TRY(bad(l, skip_bad, rep, "user '%.32s' appears twice", user));
            continue;
        }
        for (int i = 0; i < n; i++) LT_TRY(ev_add(b, user, strlen(user), buf[i], i));
    }
    return rc;
}

/* ---- MovieLens (ratings.dat "UserID::MovieID::Rating::Timestamp", movies.dat Latin-1) ---------- */

int lt_parse_movielens_movies(lt_lines *l, lt_catalog *cat, lt_strmap *ids, int skip_bad, lt_import_report *rep) {
    int rc;
    char *f[8];
    char *utf8 = NULL;
    size_t cap = 0;
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        if (2 * l->len + 1 > cap) {
            cap = 2 * l->len + 1;
            char *t = realloc(utf8, cap);
            if (!t) {
                free(utf8);
                return lt_error(LT_ENOMEM, "%s: out of memory", l->name);
            }
            utf8 = t;
        }
        lt_latin1_to_utf8(l->buf, l->len, utf8); /* movies.dat is ISO-8859-1 */
        int n = lt_split(utf8, "::", f, 8);
        int64_t id;
        if (n != 3) {
            rc = bad(l, skip_bad, rep, "expected MovieID::Title::Genres, got %d fields", n);
        } else if (lt_parse_i64(f[0], &id) < 0 || id < 1) {
            rc = bad(l, skip_bad, rep, "movie id '%.32s' is not a positive integer", f[0]);
        } else {
            rc = add_item(l, cat, ids, skip_bad, rep, f[0], f[1], "", f[2]);
        }
        if (rc < 0) break;
    }
    free(utf8);
    return rc;
}

int lt_parse_movielens_ratings(lt_lines *l, const lt_strmap *items, lt_ev_builder *b, int min_rating, int skip_bad,
                               lt_import_report *rep) {
    int rc;
    char *f[8];
    b->has_time = 1;
    while ((rc = next_line(l, skip_bad, rep)) > 0) {
        int n = lt_split(l->buf, "::", f, 8);
        int64_t user, rating, t;
        if (n != 4) {
            LT_TRY(bad(l, skip_bad, rep, "expected UserID::MovieID::Rating::Timestamp, got %d fields", n));
            continue;
        }
        if (lt_parse_i64(f[0], &user) < 0 || user < 1 || lt_parse_i64(f[2], &rating) < 0 || rating < 1 || rating > 5 ||
            lt_parse_i64(f[3], &t) < 0) {
            LT_TRY(bad(l, skip_bad, rep, "user, rating (1-5) and timestamp must be integers"));
            continue;
        }
        int64_t it = lt_strmap_find(items, f[1], strlen(f[1]));
        if (it < 0) {
            LT_TRY(bad(l, skip_bad, rep, "movie %.32s is not in movies.dat", f[1]));
            continue;
        }
        if (rating < min_rating) continue;
        LT_TRY(ev_add(b, f[0], strlen(f[0]), (int32_t)it, t));
    }
    return rc;
}

/* ---- lt_import: find the files of a format and run its parsers ---------------------------------- */

/* The first of dir/name{,.gz} for each candidate name that exists. */
static int find_file(const char *dir, const char **names, char *out, size_t cap) {
    static const char *suffix[] = {"", ".gz"};
    for (int i = 0; names[i]; i++)
        for (int s = 0; s < 2; s++) {
            snprintf(out, cap, "%s/%s%s", dir, names[i], suffix[s]);
            if (access(out, R_OK) == 0) return 0;
        }
    return lt_error(LT_ENOENT, "%s: no %s (or .gz) found", dir, names[0]);
}

typedef int (*item_parser)(lt_lines *, lt_catalog *, lt_strmap *, int, lt_import_report *);

static int run_items(const char *path, item_parser p, lt_catalog *cat, lt_strmap *ids, int skip, lt_import_report *rep) {
    lt_lines l;
    LT_TRY(lt_lines_open(&l, path));
    int rc = p(&l, cat, ids, skip, rep);
    lt_lines_close(&l);
    return rc;
}

/* --skip-bad drops malformed lines, but a file that is mostly (or all) garbage is the wrong file, not
 * a few bad lines: fail when the lines dropped from one file exceed max_bad of its lines. lines0 and
 * skipped0 are the report's counts before the file was read. */
static int check_skipped(const char *path, const lt_import_opts *o, const lt_import_report *rep, int64_t lines0,
                         int64_t skipped0) {
    int64_t lines = rep->lines - lines0, skipped = rep->skipped - skipped0;
    double max_bad = o->max_bad > 0 ? o->max_bad : LT_IMPORT_MAX_BAD;
    if (!skipped) return 0;
    const char *first = skipped0 < LT_IMPORT_SHOW_BAD ? rep->bad[skipped0] : "";
    if (skipped >= lines)
        return lt_error(LT_EFORMAT, "%s: --skip-bad dropped all %lld lines: nothing left to import (the first: %s)", path,
                        (long long)lines, first);
    if ((double)skipped > max_bad * (double)lines)
        return lt_error(LT_EFORMAT, "%s: --skip-bad dropped %lld of %lld lines (%.1f%%), more than --max-bad %g (the first: %s)",
                        path, (long long)skipped, (long long)lines, 100.0 * (double)skipped / (double)lines, max_bad,
                        first);
    return 0;
}

int lt_import(const lt_import_opts *o, lt_catalog *cat, lt_events *ev, lt_import_report *rep) {
    memset(cat, 0, sizeof *cat);
    memset(ev, 0, sizeof *ev);
    memset(rep, 0, sizeof *rep);
    lt_strmap ids = {0};
    lt_ev_builder *b;
    LT_TRY(lt_ev_builder_new(&b));
    char items[4096], events[4096];
    int rc;
    lt_lines l;
    int64_t lines0 = 0, skipped0 = 0; /* the report's counts before the events file */
    const char *fmt = o->format ? o->format : "generic";
    if (!strcmp(fmt, "generic")) {
        const char *tsv_i[] = {"items.tsv", NULL}, *json_i[] = {"items.jsonl", NULL};
        const char *tsv_e[] = {"events.tsv", NULL}, *json_e[] = {"events.jsonl", NULL};
        int items_json = find_file(o->in, tsv_i, items, sizeof items) < 0;
        int events_json = find_file(o->in, tsv_e, events, sizeof events) < 0;
        rc = items_json ? find_file(o->in, json_i, items, sizeof items) : 0;
        if (!rc && events_json) rc = find_file(o->in, json_e, events, sizeof events);
        if (rc < 0) {
            lt_error_wrap(rc, "generic layout (items.tsv or items.jsonl, events.tsv or events.jsonl): ");
            goto done;
        }
        rc = run_items(items, items_json ? lt_parse_items_jsonl : lt_parse_items_tsv, cat, &ids, o->skip_bad, rep);
        if (!rc) rc = check_skipped(items, o, rep, 0, 0);
        lines0 = rep->lines, skipped0 = rep->skipped;
        if (rc < 0 || (rc = lt_lines_open(&l, events)) < 0) goto done;
        rc = events_json ? lt_parse_events_jsonl(&l, &ids, b, o->skip_bad, rep)
                         : lt_parse_events_tsv(&l, &ids, b, o->skip_bad, rep);
    } else if (!strcmp(fmt, "amazon-beauty")) {
        const char *ni[] = {"beauty_items.tsv", NULL}, *ne[] = {"Beauty.txt", NULL};
        if ((rc = find_file(o->in, ni, items, sizeof items)) < 0 || (rc = find_file(o->in, ne, events, sizeof events)) < 0)
            goto done;
        rc = run_items(items, lt_parse_beauty_items, cat, &ids, o->skip_bad, rep);
        if (!rc) rc = check_skipped(items, o, rep, 0, 0);
        lines0 = rep->lines, skipped0 = rep->skipped;
        if (rc < 0 || (rc = lt_lines_open(&l, events)) < 0) goto done;
        rc = lt_parse_beauty_seqs(&l, &ids, b, o->skip_bad, rep);
    } else if (!strcmp(fmt, "movielens")) {
        const char *ni[] = {"movies.dat", NULL}, *ne[] = {"ratings.dat", "ratings_u1-2999.dat", NULL};
        if ((rc = find_file(o->in, ni, items, sizeof items)) < 0 || (rc = find_file(o->in, ne, events, sizeof events)) < 0)
            goto done;
        rc = run_items(items, lt_parse_movielens_movies, cat, &ids, o->skip_bad, rep);
        if (!rc) rc = check_skipped(items, o, rep, 0, 0);
        lines0 = rep->lines, skipped0 = rep->skipped;
        if (rc < 0 || (rc = lt_lines_open(&l, events)) < 0) goto done;
        rc = lt_parse_movielens_ratings(&l, &ids, b, o->min_rating, o->skip_bad, rep);
    } else {
        rc = lt_error(LT_EINVAL, "unknown format '%s' (generic, amazon-beauty, movielens)", fmt);
        goto done;
    }
    lt_lines_close(&l);
    if (rc >= 0) rc = check_skipped(events, o, rep, lines0, skipped0);
    if (rc >= 0) rc = lt_ev_builder_finish(b, cat->n, ev);
done:
    lt_ev_builder_free(b);
    lt_strmap_free(&ids);
    if (rc < 0) lt_catalog_free(cat);
    return rc < 0 ? rc : 0;
}

void lt_catalog_free(lt_catalog *c) {
    lt_strs_free(&c->item_id), lt_strs_free(&c->title), lt_strs_free(&c->description), lt_strs_free(&c->category);
    c->n = 0;
}

void lt_events_free(lt_events *e) {
    free(e->user_off), free(e->item), free(e->time);
    lt_strs_free(&e->user_id);
    memset(e, 0, sizeof *e);
}
