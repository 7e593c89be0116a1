/* Helpers of the recommender's commands (rec_cli.h). */
#include "cli/rec_cli.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tmpfile.h"
#include "data/dataio.h"
#include "longtail/embeddings.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/param.h"
#include "longtail/shard.h"

int lt_cli_load_text(const char *dir, int64_t n_items, int64_t want_dim, float **text, int64_t *dim) {
    int64_t n;
    LT_TRY(lt_emb_load_all(dir, text, &n, dim));
    int rc = 0;
    if (n != n_items)
        rc = lt_error(LT_EFORMAT, "%s holds embeddings of %lld items, the catalog has %lld: embed this catalog first",
                      dir, (long long)n, (long long)n_items);
    else if (want_dim > 0 && *dim != want_dim)
        rc = lt_error(LT_EFORMAT, "%s holds %lld-dimensional embeddings; the model was trained on %lld", dir,
                      (long long)*dim, (long long)want_dim);
    if (rc) free(*text), *text = NULL;
    return rc;
}

int lt_cli_model_desc(const char *path, char *desc, size_t cap) {
    lt_shard *sh;
    LT_TRY(lt_shard_open(&sh, path, "checkpoint", 1));
    int rc = lt_shard_attr_str(sh, "", "model", desc, cap);
    lt_shard_close(sh);
    return rc;
}

int lt_cli_rec_desc(const char *dir, char *desc, size_t cap) {
    char path[4200];
    snprintf(path, sizeof path, "%s/rec.h5", dir);
    return lt_cli_model_desc(path, desc, cap);
}

int lt_cli_load_rec(const char *dir, const char *emb_override, lt_backend *be, int64_t n_items, const int64_t *freq,
                    lt_rec **out, float **text_out) {
    char path[4200], desc[4600];
    *out = NULL;
    if (text_out) *text_out = NULL;
    snprintf(path, sizeof path, "%s/rec.h5", dir);
    int rc;
    LT_TRY(lt_cli_rec_desc(dir, desc, sizeof desc));
    lt_rec_config c;
    LT_TRY(lt_rec_config_parse(desc, &c));
    if (c.n_items != n_items)
        return lt_error(LT_ECONFIG, "%s was trained on a catalog of %lld items; this one has %lld", path,
                        (long long)c.n_items, (long long)n_items);
    float *text = NULL;
    const char *emb = emb_override;
    const char *at = strstr(desc, "\nemb=");
    char emb_dir[4600];
    if (!emb && at) { /* up to the end of its line */
        snprintf(emb_dir, sizeof emb_dir, "%.*s", (int)strcspn(at + 5, "\n"), at + 5);
        emb = emb_dir;
    }
    if (c.text_dim) {
        int64_t dim;
        if (!emb) return lt_error(LT_ECONFIG, "%s uses text embeddings: give them with --emb DIR", path);
        LT_TRY(lt_cli_load_text(emb, c.n_items, c.text_dim, &text, &dim));
    }
    uint8_t *seen = malloc((size_t)(n_items ? n_items : 1));
    for (int64_t i = 0; seen && i < n_items; i++) seen[i] = freq[i] > 0;
    rc = seen ? lt_rec_create(out, be, &c, text, seen, 0) : lt_error(LT_ENOMEM, "out of memory");
    free(seen);
    if (text_out && !rc) *text_out = text;
    else free(text);
    if (!rc) rc = lt_checkpoint_load(path, lt_rec_params(*out), 0, NULL, NULL, 0);
    if (rc && *out) lt_rec_free(*out), *out = NULL;
    if (rc && text_out) free(*text_out), *text_out = NULL;
    return rc;
}

void lt_cli_tail_bias(const int64_t *freq, int64_t n, double beta, float *bias) {
    double total = (double)n;
    for (int64_t i = 0; i < n; i++) total += (double)freq[i];
    for (int64_t i = 0; i < n; i++) bias[i] = (float)(beta * log(total / ((double)freq[i] + 1.0)));
}

void lt_cli_cold_boost(const int64_t *freq, int64_t n, double gamma, float *bias) {
    for (int64_t i = 0; i < n; i++) bias[i] += freq[i] ? 0.0f : (float)gamma;
}

int lt_cli_write_vec_shards(const char *dir, const float *v, int64_t n, int64_t d, int64_t per_shard, int normalized,
                            const char *model) {
    LT_TRY(lt_mkdirs(dir));
    if (per_shard < 1) per_shard = 65536;
    int64_t count = n > 0 ? (n + per_shard - 1) / per_shard : 1;
    for (int64_t s = 0; s < count; s++) {
        int64_t b = s * per_shard, e = b + per_shard < n ? b + per_shard : n;
        lt_emb_shard sh = {.item_begin = b, .n = e - b, .n_total = n, .shard_index = s, .shard_count = count, .dim = d,
                           .normalized = normalized, .data = (float *)v + b * d};
        char path[4300];
        lt_emb_shard_path(path, sizeof path, dir, s);
        LT_TRY(lt_emb_shard_write(path, &sh, LT_F32, model));
    }
    return 0;
}

void lt_cli_remove_vec_shards(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "emb-", 4)) continue;
        char path[8800];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void lt_cli_csv_field(FILE *f, const char *s, size_t len) {
    int quote = 0;
    for (size_t i = 0; i < len && !quote; i++) quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        fwrite(s, 1, len, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

void lt_cli_normalize_rows(float *x, int64_t n, int64_t d) {
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
        if (ss <= 0) continue;
        float inv = (float)(1.0 / sqrt(ss));
        for (int64_t j = 0; j < d; j++) x[i * d + j] *= inv;
    }
}

void lt_cli_log_memory(const char *what) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    long rss = -1, hwm = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) rss = atol(line + 6);
        if (!strncmp(line, "VmHWM:", 6)) hwm = atol(line + 6);
    }
    fclose(f);
    lt_info("%s: resident %.0f MB (peak so far %.0f MB)", what, rss / 1024.0, hwm / 1024.0);
}

void lt_cli_sweep_vec_dirs(const char *out) {
    DIR *d = opendir(out);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *p = e->d_name;
        if (strncmp(p, ".item_vectors-", 14)) continue;
        char *end;
        long pid = strtol(p + 14, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        char path[4400];
        snprintf(path, sizeof path, "%.4000s/%.255s", out, p);
        lt_cli_remove_vec_shards(path);
    }
    closedir(d);
}

int lt_cli_write_topk_h5(lt_shard *s, const char *row_set, const char *row_names, const lt_strs *names,
                         const int64_t *keys64, const int32_t *keys32, int64_t n, int K, const char *item_set,
                         const char *item_names, const lt_strs *item_ids, const int32_t *items, const float *scores) {
    lt_strs rid = {0}, iid = {0};
    int rc = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        size_t len;
        const char *p = lt_strs_get(names, keys64 ? keys64[i] : keys32[i], &len);
        rc = lt_strs_push(&rid, p, len);
    }
    for (int64_t i = 0; i < n * K && !rc; i++) {
        size_t len = 0;
        const char *p = items[i] >= 0 ? lt_strs_get(item_ids, items[i], &len) : "";
        rc = lt_strs_push(&iid, p, len);
    }
    int64_t shp[2] = {n, K};
    if (!rc) rc = keys64 ? lt_shard_write(s, row_set, LT_I64, 1, shp, keys64) : lt_shard_write(s, row_set, LT_I32, 1, shp, keys32);
    if (!rc) rc = lt_ragged_write(s, row_names, LT_U8, rid.bytes, rid.off, 0, n);
    if (!rc) rc = lt_shard_write(s, item_set, LT_I32, 2, shp, items);
    if (!rc) rc = lt_ragged_write(s, item_names, LT_U8, iid.bytes, iid.off, 0, n * K);
    if (!rc) rc = lt_shard_write(s, "scores", LT_F32, 2, shp, scores);
    if (!rc) rc = lt_shard_set_attr_i64(s, "", "k", K);
    if (!rc) rc = lt_shard_set_attr_i64(s, "", "n_items", item_ids->n);
    lt_strs_free(&rid), lt_strs_free(&iid);
    return rc;
}

int lt_cli_write_topk_csv(const char *path, const char *header, const lt_strs *names, const int64_t *keys64,
                          const int32_t *keys32, int64_t n, int K, const lt_strs *item_ids, const int32_t *items,
                          const float *scores) {
    char tmp[4400];
    LT_TRY(lt_tmp_path(tmp, sizeof tmp, path));
    FILE *f = fopen(tmp, "w");
    if (!f) return lt_error(LT_EIO, "%s: cannot write", tmp);
    fprintf(f, "%s\n", header);
    for (int64_t i = 0; i < n; i++) {
        size_t kl;
        const char *key = lt_strs_get(names, keys64 ? keys64[i] : keys32[i], &kl);
        for (int k = 0; k < K && items[i * K + k] >= 0; k++) {
            size_t il;
            const char *it = lt_strs_get(item_ids, items[i * K + k], &il);
            lt_cli_csv_field(f, key, kl);
            fprintf(f, ",%d,", k + 1);
            lt_cli_csv_field(f, it, il);
            fprintf(f, ",%.6g\n", scores[i * K + k]);
        }
    }
    int bad = ferror(f);
    if (fflush(f) || fsync(fileno(f))) bad = 1;
    if (fclose(f)) bad = 1;
    if (bad || rename(tmp, path)) {
        unlink(tmp);
        return lt_error(LT_EIO, "%s: write failed", path);
    }
    return 0;
}
