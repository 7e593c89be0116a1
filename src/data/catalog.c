/* Catalog shards and the events file on disk (layout in include/longtail/data.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataio.h"
#include "longtail/data.h"
#include "core/tmpfile.h"
#include "longtail/error.h"
#include "longtail/shard.h"

static const char *text_fields[4] = {"item_id", "title", "description", "category"};

static lt_strs *field(lt_catalog *c, int k) {
    lt_strs *f[4] = {&c->item_id, &c->title, &c->description, &c->category};
    return f[k];
}

int lt_mkdirs(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) < 0 && errno != EEXIST) return lt_error(LT_EIO, "mkdir %s: %s", p, strerror(errno));
            struct stat sb;
            if (stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode)) return lt_error(LT_EIO, "%s exists and is not a folder", p);
            *s = c;
            if (!c) break;
        }
    }
    lt_tmp_sweep(dir); /* an output folder: the temporary files of killed writers go */
    return 0;
}

int lt_catalog_save(const lt_catalog *c, const char *dir, int64_t per, const char *source) {
    if (per < 1) return lt_error(LT_EINVAL, "catalog: items_per_shard must be >= 1");
    LT_TRY(lt_mkdirs(dir));
    int64_t shards = c->n ? (c->n + per - 1) / per : 1;
    char path[4096];
    for (int64_t s = 0; s < shards; s++) {
        int64_t b = s * per, e = b + per < c->n ? b + per : c->n;
        snprintf(path, sizeof path, "%s/catalog-%05lld.h5", dir, (long long)s);
        lt_shard *sh;
        LT_TRY(lt_shard_create(&sh, path, "catalog", 1));
        int rc = 0;
        for (int k = 0; k < 4 && !rc; k++) {
            const lt_strs *f = field((lt_catalog *)c, k);
            rc = lt_ragged_write(sh, text_fields[k], LT_U8, f->bytes, f->off, b, e);
        }
        if (!rc) rc = lt_shard_set_attr_i64(sh, "", "item_begin", b);
        if (!rc) rc = lt_shard_set_attr_i64(sh, "", "n_items", e - b);
        if (!rc) rc = lt_shard_set_attr_i64(sh, "", "n_items_total", c->n);
        if (!rc) rc = lt_shard_set_attr_i64(sh, "", "shard_index", s);
        if (!rc) rc = lt_shard_set_attr_i64(sh, "", "shard_count", shards);
        if (!rc) rc = lt_shard_set_attr_str(sh, "", "source", source ? source : "");
        if (rc) {
            lt_shard_abort(sh);
            return rc;
        }
        LT_TRY(lt_shard_commit(sh));
    }
    /* shards beyond the new count belong to an earlier, larger catalog */
    for (int64_t s = shards;; s++) {
        snprintf(path, sizeof path, "%s/catalog-%05lld.h5", dir, (long long)s);
        if (remove(path) < 0) break;
    }
    return 0;
}

/* The sorted catalog-NNNNN.h5 names in dir. */
int lt_list_shards(const char *dir, const char *prefix, char ***names, int *count) {
    DIR *d = opendir(dir);
    if (!d) return lt_error(LT_ENOENT, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    int n = 0, cap = 0;
    char **v = NULL;
    size_t pl = strlen(prefix);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l != pl + 8 || strncmp(de->d_name, prefix, pl) || strcmp(de->d_name + l - 3, ".h5")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        v[n++] = strdup(de->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: few names */
        for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
    *names = v;
    *count = n;
    return 0;
}

int lt_shard_set_error(const char *dir, const char *prefix, char **names, int count, int64_t declared) {
    for (int64_t i = 0; i < declared; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s%05lld.h5", prefix, (long long)i);
        if (i >= count || strcmp(names[i], want))
            return lt_error(LT_EFORMAT, "%s: the shards say there are %lld, %d are present: %s is missing", dir,
                            (long long)declared, count, want);
    }
    return lt_error(LT_EFORMAT, "%s: the shards say there are %lld, but %d are present (%s is left over from "
                    "another run?)", dir, (long long)declared, count, names[count - 1]);
}

void lt_free_names(char **names, int count) {
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
}

/* The first nfields of text_fields (1: item ids only) from every shard of DIR. */
static int catalog_load(lt_catalog *c, const char *dir, int nfields) {
    memset(c, 0, sizeof *c);
    char **names;
    int count;
    LT_TRY(lt_list_shards(dir, "catalog-", &names, &count));
    int rc = count ? 0 : lt_error(LT_ENOENT, "%s: no catalog-NNNNN.h5 shards (run longtail import first)", dir);
    for (int i = 0; i < count && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        lt_shard *s;
        if ((rc = lt_shard_open(&s, path, "catalog", 1)) < 0) break;
        int64_t idx, cnt, begin, n;
        if ((rc = lt_shard_attr_i64(s, "", "shard_index", &idx)) >= 0 &&
            (rc = lt_shard_attr_i64(s, "", "shard_count", &cnt)) >= 0 &&
            (rc = lt_shard_attr_i64(s, "", "item_begin", &begin)) >= 0 &&
            (rc = lt_shard_attr_i64(s, "", "n_items", &n)) >= 0) {
            if (cnt != count)
                rc = lt_shard_set_error(dir, "catalog-", names, count, cnt);
            else if (idx != i || begin != c->n)
                rc = lt_error(LT_EFORMAT, "%s: shard %lld of %lld starting at item %lld, but %d shards are present and "
                              "item %lld comes next (a missing or stale shard?)", path, (long long)idx, (long long)cnt,
                              (long long)begin, count, (long long)c->n);
            for (int k = 0; k < nfields && !rc; k++) {
                int64_t got;
                rc = lt_ragged_read_append(s, text_fields[k], field(c, k), &got);
                if (!rc && got != n)
                    rc = lt_error(LT_EFORMAT, "%s: %s has %lld entries, n_items says %lld", path, text_fields[k],
                                  (long long)got, (long long)n);
            }
            c->n += n;
        }
        lt_shard_close(s);
    }
    lt_free_names(names, count);
    if (rc < 0) lt_catalog_free(c);
    return rc < 0 ? rc : 0;
}

int lt_catalog_load(lt_catalog *c, const char *dir) { return catalog_load(c, dir, 4); }
int lt_catalog_load_ids(lt_catalog *c, const char *dir) { return catalog_load(c, dir, 1); }

int lt_events_save(const lt_events *e, const char *path, const char *source) {
    lt_shard *s;
    LT_TRY(lt_shard_create(&s, path, "events", 1));
    int64_t nu = e->n_users + 1, ne = e->n_events;
    int rc = lt_shard_write(s, "user_offsets", LT_I64, 1, &nu, e->user_off);
    if (!rc) rc = lt_shard_write(s, "items", LT_I32, 1, &ne, e->item);
    if (!rc) rc = lt_shard_write(s, "times", LT_I64, 1, &ne, e->time);
    if (!rc) rc = lt_ragged_write(s, "user_id", LT_U8, e->user_id.bytes, e->user_id.off, 0, e->user_id.n);
    if (!rc) rc = lt_shard_set_attr_i64(s, "", "n_users", e->n_users);
    if (!rc) rc = lt_shard_set_attr_i64(s, "", "n_items", e->n_items);
    if (!rc) rc = lt_shard_set_attr_i64(s, "", "n_events", e->n_events);
    if (!rc) rc = lt_shard_set_attr_i64(s, "", "has_time", e->has_time);
    if (!rc) rc = lt_shard_set_attr_str(s, "", "source", source ? source : "");
    if (rc) {
        lt_shard_abort(s);
        return rc;
    }
    return lt_shard_commit(s);
}

int lt_events_load(lt_events *e, const char *path) {
    memset(e, 0, sizeof *e);
    lt_shard *s;
    LT_TRY(lt_shard_open(&s, path, "events", 1));
    int64_t ht = 0, got = 0;
    int rc = lt_shard_attr_i64(s, "", "n_users", &e->n_users);
    if (!rc) rc = lt_shard_attr_i64(s, "", "n_items", &e->n_items);
    if (!rc) rc = lt_shard_attr_i64(s, "", "n_events", &e->n_events);
    if (!rc) rc = lt_shard_attr_i64(s, "", "has_time", &ht);
    if (!rc && (e->n_users < 0 || e->n_events < 0 || e->n_items < 0))
        rc = lt_error(LT_EFORMAT, "%s: negative counts", path);
    if (!rc) {
        e->has_time = ht != 0;
        e->user_off = malloc(sizeof(int64_t) * (size_t)(e->n_users + 1));
        e->item = malloc(sizeof(int32_t) * (size_t)(e->n_events ? e->n_events : 1));
        e->time = malloc(sizeof(int64_t) * (size_t)(e->n_events ? e->n_events : 1));
        if (!e->user_off || !e->item || !e->time) rc = lt_error(LT_ENOMEM, "%s: out of memory", path);
    }
    if (!rc) rc = lt_shard_read(s, "user_offsets", LT_I64, e->user_off, sizeof(int64_t) * (size_t)(e->n_users + 1));
    if (!rc) rc = lt_shard_read(s, "items", LT_I32, e->item, sizeof(int32_t) * (size_t)e->n_events);
    if (!rc) rc = lt_shard_read(s, "times", LT_I64, e->time, sizeof(int64_t) * (size_t)e->n_events);
    if (!rc) rc = lt_ragged_read_append(s, "user_id", &e->user_id, &got);
    lt_shard_close(s);
    /* the CSR and the item ids must be consistent before anyone indexes with them */
    if (!rc && (e->user_off[0] != 0 || e->user_off[e->n_users] != e->n_events || got != e->n_users))
        rc = lt_error(LT_EFORMAT, "%s: user_offsets do not span the %lld events of %lld users", path,
                      (long long)e->n_events, (long long)e->n_users);
    for (int64_t u = 0; !rc && u < e->n_users; u++)
        if (e->user_off[u + 1] < e->user_off[u])
            rc = lt_error(LT_EFORMAT, "%s: user_offsets decrease at user %lld", path, (long long)u);
    for (int64_t i = 0; !rc && i < e->n_events; i++)
        if (e->item[i] < 0 || e->item[i] >= e->n_items)
            rc = lt_error(LT_EFORMAT, "%s: items[%lld] = %d is outside [0, %lld)", path, (long long)i, e->item[i],
                          (long long)e->n_items);
    if (rc) lt_events_free(e);
    return rc;
}
