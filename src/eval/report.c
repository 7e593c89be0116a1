/* The report of longtail cluster: report.md with its SVG plots, written beside cluster.h5.
 *   popularity.svg  log-log interactions by popularity rank, head and tail
 *   map_pca.svg     the catalog on its first two principal components, head vs tail, with the
 *                   centroids of the long-tail clusters marked
 *   map_tsne.svg    the same on a t-SNE map of a sample (when computed)
 *   clusters.svg    every cluster's share of items against its share of interactions
 *   clusters.tsv    one line per cluster: its statistics, its name (its most distinctive title
 *                   words) and its top category attribute, for `longtail report` and tests */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval/eval.h"
#include "longtail/error.h"
#include "longtail/rng.h"
#include "longtail/data.h"
#include "core/tmpfile.h"

#include <unistd.h>

#define HEAD_COLOR "#e8590c"
#define TAIL_COLOR "#1c7ed6"
#define LT_COLOR "#c92a2a"
#define MAP_POINTS 6000
#define NAME_CAP 48 /* bytes of a cluster's name */

/* ---- text helpers ---------------------------------------------------------------------------------- */

/* item i's title (or id), at most max bytes (cut at a UTF-8 boundary), Markdown-safe */
static void md_title(const lt_catalog *cat, int64_t i, size_t max, FILE *f) {
    size_t len = 0;
    const char *s = cat && cat->title.n > i ? lt_strs_get(&cat->title, i, &len) : NULL;
    if (!s || !len) {
        if (cat && cat->item_id.n > i) s = lt_strs_get(&cat->item_id, i, &len);
        if (!s || !len) {
            fprintf(f, "item %lld", (long long)i);
            return;
        }
    }
    size_t n = len < max ? len : max;
    while (n < len && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
    for (size_t j = 0; j < n; j++) {
        if (s[j] == '|') fputs("\\|", f);
        else if (s[j] == '*' || s[j] == '_' || s[j] == '`' || s[j] == '[' || s[j] == ']' || s[j] == '<') fprintf(f, "\\%c", s[j]);
        else fputc(s[j], f);
    }
    if (n < len) fputs("…", f);
}

typedef struct {
    const char *s;
    size_t len;
    int64_t count;
} attr;

static int attr_cmp(const void *a, const void *b) {
    const attr *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The most frequent category attributes (the " | "-separated parts) among the items of cluster j,
 * as "Nail Polish 83%, OPI 21%". */
static void top_attrs(const lt_catalog *cat, const lt_kmeans_result *km, int64_t j, int64_t size, int top, FILE *f) {
    if (!cat || !size) return;
    int64_t cap = 64, n = 0;
    attr *a = malloc(sizeof(attr) * (size_t)cap);
    for (int64_t i = 0; a && i < km->n; i++) {
        if (km->assign[i] != j) continue;
        size_t len = 0;
        const char *s = lt_strs_get(&cat->category, i, &len), *end = s + len;
        while (s && s < end) { /* each distinct part once per item */
            const char *bar = memchr(s, '|', (size_t)(end - s)), *e = bar ? bar : end;
            const char *b = s;
            while (b < e && *b == ' ') b++;
            const char *t = e;
            while (t > b && t[-1] == ' ') t--;
            if (t > b) {
                int64_t q = 0;
                while (q < n && !(a[q].len == (size_t)(t - b) && !memcmp(a[q].s, b, (size_t)(t - b)))) q++;
                if (q == n) {
                    if (n == cap) {
                        attr *g = realloc(a, sizeof(attr) * (size_t)(cap *= 2));
                        if (!g) break;
                        a = g;
                    }
                    a[n++] = (attr){b, (size_t)(t - b), 0};
                }
                a[q].count++;
            }
            s = bar ? bar + 1 : end;
        }
    }
    if (!a) return;
    qsort(a, (size_t)n, sizeof *a, attr_cmp);
    for (int q = 0; q < top && q < n; q++) {
        fprintf(f, "%s", q ? ", " : "");
        for (size_t c = 0; c < a[q].len; c++) fputc(a[q].s[c] == '|' ? '/' : a[q].s[c], f);
        fprintf(f, " %.0f%%", 100.0 * (double)a[q].count / (double)size);
    }
    free(a);
}

/* ---- cluster names: the title words most typical of the cluster ---------------------------------------- */

/* Title words of item i (ASCII letters lowercased, other bytes kept, so UTF-8 words stay whole),
 * at least 3 bytes, not all digits and not a few words every catalog uses ("with", "set");
 * fn(word, len, ud) once per distinct word of the title. */
static void title_words(const lt_catalog *cat, int64_t i, void (*fn)(const char *, size_t, void *), void *ud) {
    size_t len = 0;
    const char *s = cat->title.n > i ? lt_strs_get(&cat->title, i, &len) : NULL;
    char w[16][32];
    int nw = 0;
    for (size_t a = 0; s && a < len && nw < 16;) {
        while (a < len && (unsigned char)s[a] < 0x80 && !((s[a] | 0x20) >= 'a' && (s[a] | 0x20) <= 'z') && !(s[a] >= '0' && s[a] <= '9')) a++;
        size_t b = a;
        int alpha = 0;
        while (b < len && ((unsigned char)s[b] >= 0x80 || ((s[b] | 0x20) >= 'a' && (s[b] | 0x20) <= 'z') || (s[b] >= '0' && s[b] <= '9')))
            alpha |= !(s[b] >= '0' && s[b] <= '9'), b++;
        static const char *const stop[] = {"and", "for", "the", "with", "from", "set", "pack", "piece", NULL};
        int common = 0;
        for (int q = 0; stop[q] && !common; q++) common = strlen(stop[q]) == b - a && !strncasecmp(s + a, stop[q], b - a);
        if (b - a >= 3 && b - a < 32 && alpha && !common) {
            for (size_t q = a; q < b; q++) w[nw][q - a] = (unsigned char)s[q] < 0x80 ? (char)(s[q] | ((s[q] >= 'A' && s[q] <= 'Z') ? 0x20 : 0)) : s[q];
            w[nw][b - a] = 0;
            int dup = 0;
            for (int q = 0; q < nw; q++) dup |= !strcmp(w[q], w[nw]);
            if (!dup) fn(w[nw], b - a, ud), nw++;
        }
        a = b;
    }
}

typedef struct {
    lt_strmap map;
    int64_t *df, cap; /* items whose title has word w, over the whole catalog */
    int64_t *cnt;     /* ... and within the cluster being named */
    int fail;
} words;

static void count_df(const char *w, size_t n, void *ud) {
    words *x = ud;
    int64_t id;
    int added;
    if (x->fail || lt_strmap_get_or_add(&x->map, w, n, &id, &added) < 0) {
        x->fail = 1;
        return;
    }
    if (id >= x->cap) {
        int64_t cap = x->cap ? 2 * x->cap : 1024;
        int64_t *df = realloc(x->df, sizeof *df * (size_t)cap), *cnt = df ? realloc(x->cnt, sizeof *cnt * (size_t)cap) : NULL;
        if (df) x->df = df;
        if (!df || !cnt) {
            x->fail = 1;
            return;
        }
        x->cnt = cnt;
        memset(x->df + x->cap, 0, sizeof *df * (size_t)(cap - x->cap));
        memset(x->cnt + x->cap, 0, sizeof *cnt * (size_t)(cap - x->cap));
        x->cap = cap;
    }
    x->df[id]++;
}

static void count_cluster(const char *w, size_t n, void *ud) {
    words *x = ud;
    int64_t id = lt_strmap_find(&x->map, w, n);
    if (id >= 0) x->cnt[id]++;
}

/* names[k][NAME_CAP]: each cluster's two title words with the highest count x log(n / catalog count)
 * among words in at least a fifth of its titles ("chew, squeaky"); "" without titles. */
static void cluster_names(const lt__report_in *r, char (*names)[NAME_CAP]) {
    const lt_kmeans_result *km = r->km;
    for (int64_t j = 0; j < km->k; j++) names[j][0] = 0;
    if (!r->cat || r->cat->title.n < km->n) return;
    words x = {0};
    for (int64_t i = 0; i < km->n && !x.fail; i++) title_words(r->cat, i, count_df, &x);
    for (int64_t j = 0; j < km->k && !x.fail; j++) {
        memset(x.cnt, 0, sizeof *x.cnt * (size_t)x.cap);
        for (int64_t i = 0; i < km->n; i++)
            if (km->assign[i] == j) title_words(r->cat, i, count_cluster, &x);
        int64_t best[2] = {-1, -1};
        double score[2] = {0, 0};
        for (int64_t w = 0; w < x.map.keys.n; w++) {
            if ((double)x.cnt[w] < 0.2 * (double)r->stats[j].size || !x.cnt[w]) continue;
            double v = (double)x.cnt[w] * log((double)km->n / (double)x.df[w]);
            if (v > score[0]) best[1] = best[0], score[1] = score[0], best[0] = w, score[0] = v;
            else if (v > score[1]) best[1] = w, score[1] = v;
        }
        size_t l0 = 0, l1 = 0;
        const char *w0 = best[0] >= 0 ? lt_strs_get(&x.map.keys, best[0], &l0) : "", *w1 = best[1] >= 0 ? lt_strs_get(&x.map.keys, best[1], &l1) : "";
        snprintf(names[j], NAME_CAP, "%.*s%s%.*s", (int)l0, w0, l1 ? ", " : "", (int)l1, w1);
    }
    lt_strmap_free(&x.map);
    free(x.df), free(x.cnt);
}

/* ---- plots --------------------------------------------------------------------------------------------- */

static int plot_popularity(const lt__report_in *r, const char *path) {
    const lt_popularity *p = r->pop;
    int64_t n = p->n_items, maxc = n ? p->count[p->order[0]] : 1, last = n;
    while (last > 0 && p->count[p->order[last - 1]] == 0) last--; /* zeros have no place on a log axis */
    lt_svg s;
    LT_TRY(lt__svg_open(&s, path, 760, 460, "Interactions per item, by popularity rank (log-log)", "popularity rank",
                        "interactions", 1, (double)(last > 1 ? last : 2), 0.8, (double)maxc * 1.3, 1, 1));
    lt__svg_axes(&s);
    /* log-spaced ranks: a few hundred points draw the curve */
    for (int part = 0; part < 2; part++) {
        int64_t a = part ? p->n_head : 1, b = part ? last : (p->n_head < last ? p->n_head : last);
        if (a > b) continue;
        fprintf(s.f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"", part ? TAIL_COLOR : HEAD_COLOR);
        for (double rk = (double)a; rk <= (double)b; rk = fmax(rk + 1, rk * 1.01)) {
            int64_t i = (int64_t)rk;
            fprintf(s.f, "%.1f,%.1f ", lt__svg_px(&s, (double)i), lt__svg_py(&s, (double)p->count[p->order[i - 1]]));
        }
        fprintf(s.f, "%.1f,%.1f\"/>\n", lt__svg_px(&s, (double)b), lt__svg_py(&s, (double)p->count[p->order[b - 1]]));
    }
    double hx = lt__svg_px(&s, (double)(p->n_head > 0 ? p->n_head : 1));
    fprintf(s.f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"5,4\"/>\n", hx,
            s.top, hx, s.h - s.bottom);
    char buf[160];
    snprintf(buf, sizeof buf, "head: the %lld most popular items (%.0f%%) get %.1f%% of interactions", (long long)p->n_head,
             100.0 * (double)p->n_head / (double)(n ? n : 1), 100 * p->head_share);
    lt__svg_legend(&s, 0, HEAD_COLOR, buf);
    snprintf(buf, sizeof buf, "tail: %lld items get %.1f%%", (long long)(n - p->n_head), 100 * (1 - p->head_share));
    lt__svg_legend(&s, 1, TAIL_COLOR, buf);
    return lt__svg_close(&s);
}

/* A map: pts[m, 2] for items[m] (NULL: item i is row i), coloured head/tail (or by nothing when
 * there are no events), long-tail centroids (mean of their items' map positions) marked. */
static int plot_map(const lt__report_in *r, const char *path, const char *title, const char *axis, const float *pts,
                    const int64_t *items, int64_t m, char (*names)[NAME_CAP]) {
    const lt_popularity *p = r->pop;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int64_t i = 0; i < m; i++) {
        x0 = fmin(x0, pts[2 * i]), x1 = fmax(x1, pts[2 * i]);
        y0 = fmin(y0, pts[2 * i + 1]), y1 = fmax(y1, pts[2 * i + 1]);
    }
    double px = (x1 - x0) * 0.04 + 1e-9, py = (y1 - y0) * 0.04 + 1e-9;
    lt_svg s;
    char xl[64], yl[64];
    snprintf(xl, sizeof xl, "%s 1", axis), snprintf(yl, sizeof yl, "%s 2", axis);
    LT_TRY(lt__svg_open(&s, path, 760, 640, title, xl, yl, x0 - px, x1 + px, y0 - py, y1 + py, 0, 0));
    /* a fixed sample of at most MAP_POINTS, tail drawn first so the head stays visible on top */
    int64_t step = m > MAP_POINTS ? (m + MAP_POINTS - 1) / MAP_POINTS : 1;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !p) break;
        fprintf(s.f, "<g fill=\"%s\" fill-opacity=\"%s\">\n", !p ? "#495057" : pass ? HEAD_COLOR : TAIL_COLOR,
                pass ? "0.75" : "0.45");
        for (int64_t i = 0; i < m; i += step) {
            int64_t it = items ? items[i] : i;
            if (p && p->head[it] != pass) continue;
            fprintf(s.f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.8\"/>\n", lt__svg_px(&s, pts[2 * i]), lt__svg_py(&s, pts[2 * i + 1]));
        }
        fputs("</g>\n", s.f);
    }
    int64_t k = r->km->k, marked = 0;
    double *cx = calloc((size_t)k * 3, sizeof(double));
    for (int64_t i = 0; cx && i < m; i++) {
        int64_t j = r->km->assign[items ? items[i] : i];
        cx[3 * j] += pts[2 * i], cx[3 * j + 1] += pts[2 * i + 1], cx[3 * j + 2] += 1;
    }
    for (int64_t j = 0; cx && j < k; j++) {
        if (!r->stats[j].long_tail || cx[3 * j + 2] == 0) continue;
        double X = lt__svg_px(&s, cx[3 * j] / cx[3 * j + 2]), Y = lt__svg_py(&s, cx[3 * j + 1] / cx[3 * j + 2]);
        fprintf(s.f, "<path d=\"M%.1f %.1fl10 10m0 -10l-10 10\" stroke=\"%s\" stroke-width=\"2.5\"/>\n", X - 5, Y - 5, LT_COLOR);
        char id[NAME_CAP + 24];
        snprintf(id, sizeof id, "%lld%s%s", (long long)j, names[j][0] ? ": " : "", names[j]);
        lt__svg_text(&s, X + 7, Y - 6, "start", 11, LT_COLOR, id);
        marked++;
    }
    free(cx);
    char buf[160];
    if (p) {
        lt__svg_legend(&s, 0, HEAD_COLOR, "head item");
        lt__svg_legend(&s, 1, TAIL_COLOR, "tail item");
        snprintf(buf, sizeof buf, "x: long-tail cluster (%lld), named by its typical title words", (long long)marked);
        lt__svg_legend(&s, 2, LT_COLOR, buf);
    }
    if (step > 1) {
        snprintf(buf, sizeof buf, "every %lld-th of %lld items shown", (long long)step, (long long)m);
        lt__svg_text(&s, s.w - s.right - 6, s.h - s.bottom - 8, "end", 11, "#666", buf);
    }
    return lt__svg_close(&s);
}

static int plot_clusters(const lt__report_in *r, const char *path) {
    int64_t k = r->km->k;
    double lo = INFINITY, hi = 0;
    for (int64_t j = 0; j < k; j++) {
        const lt_cluster_stat *c = &r->stats[j];
        if (c->item_share > 0) lo = fmin(lo, c->item_share), hi = fmax(hi, c->item_share);
        if (c->interaction_share > 0) lo = fmin(lo, c->interaction_share), hi = fmax(hi, c->interaction_share);
    }
    if (!(lo < hi)) lo = 1e-4, hi = 1;
    lo /= 1.5, hi *= 1.5;
    lt_svg s;
    LT_TRY(lt__svg_open(&s, path, 760, 620, "Clusters: share of the catalog vs share of the attention", "share of items",
                        "share of interactions", lo, hi, lo, hi, 1, 1));
    lt__svg_axes(&s);
    fprintf(s.f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-dasharray=\"6,4\"/>\n",
            lt__svg_px(&s, lo), lt__svg_py(&s, lo), lt__svg_px(&s, hi), lt__svg_py(&s, hi));
    double a = r->opts->max_attention;
    fprintf(s.f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"2,4\"/>\n",
            lt__svg_px(&s, lo), lt__svg_py(&s, lo * a), lt__svg_px(&s, hi), lt__svg_py(&s, hi * a), LT_COLOR);
    for (int64_t j = 0; j < k; j++) {
        const lt_cluster_stat *c = &r->stats[j];
        if (!c->size) continue;
        double y = c->interaction_share > lo ? c->interaction_share : lo;
        fprintf(s.f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" fill-opacity=\"0.6\"><title>cluster %lld: %lld items, "
                     "attention %.2f</title></circle>\n",
                lt__svg_px(&s, c->item_share), lt__svg_py(&s, y), 2.5 + 2 * sqrt(c->item_share * 100),
                c->long_tail ? LT_COLOR : TAIL_COLOR, (long long)j, (long long)c->size, c->attention);
    }
    char buf[160];
    lt__svg_legend(&s, 0, "#888", "fair share (attention 1)");
    snprintf(buf, sizeof buf, "long-tail cluster (attention < %g, >= %lld items)", a, (long long)r->opts->min_size);
    lt__svg_legend(&s, 1, LT_COLOR, buf);
    lt__svg_legend(&s, 2, TAIL_COLOR, "other cluster");
    return lt__svg_close(&s);
}

/* ---- report.md --------------------------------------------------------------------------------------- */

static const lt_cluster_stat *g_stats;
static int by_attention(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    double u = g_stats[x].attention, v = g_stats[y].attention;
    if (u != v) return u < v ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void cluster_row(const lt__report_in *r, int64_t j, const char *name, FILE *f) {
    const lt_cluster_stat *c = &r->stats[j];
    fprintf(f, "| %lld%s%s | %lld | %.2f%% |", (long long)j, name[0] ? " " : "", name, (long long)c->size, 100 * c->item_share);
    if (r->pop)
        fprintf(f, " %lld | %.2f%% | %.2f | %.0f%% |", (long long)c->interactions, 100 * c->interaction_share, c->attention,
                100 * c->tail_share);
    fputc(' ', f);
    top_attrs(r->cat, r->km, j, c->size, 3, f);
    fputs(" | ", f);
    for (int q = 0; q < 3 && c->reps[q] >= 0; q++) {
        fputs(q ? "; " : "", f);
        md_title(r->cat, c->reps[q], 60, f);
    }
    fputs(" |\n", f);
}

static void table_head(const lt__report_in *r, FILE *f) {
    if (r->pop)
        fputs("| cluster | items | share of items | interactions | share of interactions | attention | tail items | top "
              "attributes | nearest the centroid |\n|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
              f);
    else
        fputs("| cluster | items | share of items | top attributes | nearest the centroid |\n|---:|---:|---:|---|---|\n", f);
}

/* clusters.tsv: per cluster its statistics, name and top category attribute (machine-readable). */
static int write_tsv(const lt__report_in *r, char (*names)[NAME_CAP]) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/clusters.tsv", r->out);
    LT_TRY(lt_tmp_path(tmp, sizeof tmp, path));
    FILE *f = fopen(tmp, "w");
    if (!f) return lt_error(LT_EIO, "%s: cannot write", tmp);
    fputs("cluster\titems\titem_share\tinteractions\tinteraction_share\tattention\tlong_tail\tname\ttop_attribute\n", f);
    for (int64_t j = 0; j < r->km->k; j++) {
        const lt_cluster_stat *c = &r->stats[j];
        fprintf(f, "%lld\t%lld\t%.6f\t%lld\t%.6f\t%.4f\t%d\t%s\t", (long long)j, (long long)c->size, c->item_share,
                (long long)c->interactions, c->interaction_share, c->attention, c->long_tail, names[j]);
        top_attrs(r->cat, r->km, j, c->size, 1, f);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) return unlink(tmp), lt_error(LT_EIO, "%s: write failed", path);
    return 0;
}

int lt__write_report(const lt__report_in *r) {
    char path[4096];
    const lt_kmeans_result *km = r->km;
    const lt_popularity *p = r->pop;
    int rc = 0;
    char(*names)[NAME_CAP] = calloc((size_t)km->k, NAME_CAP);
    if (!names) return lt_error(LT_ENOMEM, "report: out of memory");
    cluster_names(r, names);
    if (p) {
        snprintf(path, sizeof path, "%s/popularity.svg", r->out);
        rc = plot_popularity(r, path);
        snprintf(path, sizeof path, "%s/clusters.svg", r->out);
        if (!rc) rc = plot_clusters(r, path);
    }
    snprintf(path, sizeof path, "%s/map_pca.svg", r->out);
    if (!rc) rc = plot_map(r, path, "The catalog on its first two principal components", "principal component", r->pca2, NULL, km->n, names);
    if (r->tsne) {
        snprintf(path, sizeof path, "%s/map_tsne.svg", r->out);
        if (!rc) rc = plot_map(r, path, "t-SNE map of the catalog", "t-SNE", r->tsne, r->tsne_items, r->tsne_n, names);
    }
    snprintf(path, sizeof path, "%s/report.md", r->out);
    FILE *f = rc ? NULL : fopen(path, "w");
    if (!f) return free(names), rc ? rc : lt_error(LT_EIO, "%s: cannot write", path);
    const lt_cluster_opts *o = r->opts;
    fprintf(f, "# Long-tail report%s%s\n\n", r->data ? ": " : "", r->data ? r->data : "");
    fprintf(f, "- embeddings: `%s`%s%s%s, %lld items x %lld dimensions", r->emb, r->emb_model && *r->emb_model ? " (model: " : "",
            r->emb_model && *r->emb_model ? r->emb_model : "", r->emb_model && *r->emb_model ? ")" : "", (long long)km->n,
            (long long)r->emb_dim);
    if (o->pca_dims) fprintf(f, " -> PCA to %lld before clustering", (long long)km->d);
    fprintf(f, "\n- k-means: k = %lld, %s, init %s, %d %s%s, objective %.6g, %.2f s on %s\n", (long long)km->k,
            o->km.metric == LT_KM_COSINE ? "cosine" : "squared L2", km->init_used, km->iters,
            o->km.minibatch ? "mini-batch epochs" : "Lloyd iterations", km->converged ? " (converged)" : "", km->objective,
            km->seconds_total, r->backend);
    if (p)
        fprintf(f, "- events: %lld interactions by %lld users; head = the %.0f%% most popular items\n", (long long)p->total,
                (long long)r->n_users, 100 * o->head_fraction);
    fprintf(f, "- outputs: `cluster.h5` (schema clusters/1: assignments, distances, centroids, 2-D maps, per-cluster "
               "statistics); %.1f s for the whole run\n\n", r->seconds);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)km->k);
    if (!order) rc = lt_error(LT_ENOMEM, "report: out of memory");
    for (int64_t j = 0; order && j < km->k; j++) order[j] = j;
    if (p && order) {
        int64_t below10 = 0, median = p->count[p->order[p->n_items / 2]];
        for (int64_t i = 0; i < p->n_items; i++) below10 += p->count[i] < 10;
        fprintf(f, "## Popularity\n\nThe head, the %lld most popular items (%.0f%% of the catalog), gets **%.1f%%** of the "
                   "interactions; the other %lld items share %.1f%%. The median item has %lld interactions; %lld items "
                   "(%.0f%%) have fewer than 10.\n\n![popularity](popularity.svg)\n\n",
                (long long)p->n_head, 100.0 * (double)p->n_head / (double)p->n_items, 100 * p->head_share,
                (long long)(p->n_items - p->n_head), 100 * (1 - p->head_share), (long long)median, (long long)below10,
                100.0 * (double)below10 / (double)p->n_items);
        g_stats = r->stats;
        qsort(order, (size_t)km->k, sizeof *order, by_attention);
        int64_t nlt = 0, items = 0, inter = 0;
        for (int64_t j = 0; j < km->k; j++)
            if (r->stats[j].long_tail) nlt++, items += r->stats[j].size, inter += r->stats[j].interactions;
        fprintf(f, "## Long-tail clusters\n\nA cluster is long-tail when its share of the interactions is below %g times "
                   "its share of the items (attention < %g) and it has at least %lld items. **%lld of %lld clusters** are "
                   "long-tail: %lld items (%.1f%% of the catalog) that get %.2f%% of the interactions.\n\n",
                o->max_attention, o->max_attention, (long long)o->min_size, (long long)nlt, (long long)km->k,
                (long long)items, 100.0 * (double)items / (double)km->n, p->total ? 100.0 * (double)inter / (double)p->total : 0);
        if (nlt) {
            table_head(r, f);
            for (int64_t q = 0; q < km->k; q++)
                if (r->stats[order[q]].long_tail) cluster_row(r, order[q], names[order[q]], f);
        }
        fputs("\n![clusters](clusters.svg)\n\n", f);
    }
    fprintf(f, "## Maps\n\nThe catalog on its first two principal components (%.1f%% and %.1f%% of the variance)%s; long-tail "
               "clusters are marked at the mean of their items.\n\n![PCA map](map_pca.svg)\n\n",
            100 * r->pca_var[0] / (r->total_var > 0 ? r->total_var : 1), 100 * r->pca_var[1] / (r->total_var > 0 ? r->total_var : 1),
            p ? ", head and tail coloured" : "");
    if (r->tsne)
        fprintf(f, "t-SNE of %lld items (perplexity 30, Barnes-Hut):\n\n![t-SNE map](map_tsne.svg)\n\n", (long long)r->tsne_n);
    fprintf(f, "## All clusters%s\n\n", p ? ", from the least attention to the most" : "");
    if (order) {
        table_head(r, f);
        for (int64_t q = 0; q < km->k; q++) cluster_row(r, order[q], names[order[q]], f);
    }
    free(order);
    if (!rc) rc = write_tsv(r, names);
    free(names);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (!rc && bad) rc = lt_error(LT_EIO, "%s: write failed", path);
    return rc;
}
