/* longtail report --dir RUN: RUN/report/index.html, the page a person reads after `longtail run`.
 * Self-contained: the plots are copied beside it as SVG files, nothing is fetched from a network.
 *   the popularity curve with the head/tail split            (cluster/popularity.svg)
 *   the cluster map, head vs tail, long-tail clusters named  (cluster/map_tsne.svg or map_pca.svg,
 *     by their most typical title words, and their table      cluster/clusters.svg, clusters.tsv)
 *   the training curves                                      (model/pretrain_loss.svg, rec/train_loss.svg)
 *   the metrics against the baselines, with standard errors  (eval/metrics.json)
 *   the accuracy / coverage trade-off of the tail boost      (eval/tail_boost.svg, metrics.json)
 *   sample recommendations and related products with titles, tail and new items marked
 *                                                            (recommend/, similar/ CSV, the catalog)
 * A missing piece is left out with a note, so the report also works for a partial run. The page
 * checks itself when opened: every image loaded, no script error (tests/test_report.sh). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/tmpfile.h"
#include "longtail/cluster.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "model/json.h"

static const lt_cli_opt opts[] = {
    {"--dir", "report.dir", 0, "the run's folder (longtail run's [run] dir); the pieces default to its subfolders"},
    {"--out", "report.out", 0, "folder for index.html and its images (default DIR/report)"},
    {"--data", "report.data", 0, "catalog + events.h5 (default DIR/data)"},
    {"--model", "report.model", 0, "the text encoder's folder, for its training curve (default DIR/model)"},
    {"--cluster", "report.cluster", 0, "longtail cluster's output (default DIR/cluster)"},
    {"--rec", "report.rec", 0, "the recommender's folder (default DIR/rec)"},
    {"--eval", "report.eval", 0, "folder with eval's metrics.json and tail_boost.svg (default DIR/eval)"},
    {"--recommend", "report.recommend", 0, "longtail recommend's output (default DIR/recommend)"},
    {"--similar", "report.similar", 0, "longtail similar's output (default DIR/similar)"},
    {"--users", "report.users", 0, "sample users shown (default 4)"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_report = opts; /* every setting is checked against these (settings.c) */

/* ---- small helpers ---------------------------------------------------------------------------------- */

static void html(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n && s[i]; i++) {
        if (s[i] == '<') fputs("&lt;", f);
        else if (s[i] == '>') fputs("&gt;", f);
        else if (s[i] == '&') fputs("&amp;", f);
        else if (s[i] == '"') fputs("&quot;", f);
        else fputc(s[i], f);
    }
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *p = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)len + 1))) {
        *n = fread(p, 1, (size_t)len, f);
        p[*n] = 0;
    }
    fclose(f);
    return p;
}

/* Copy DIR/NAME to OUT/AS; 1 when copied, 0 when there is no such file. */
static int copy_file(const char *dir, const char *name, const char *out, const char *as) {
    char src[4300], dst[4300], tmp[4400];
    size_t n = 0;
    snprintf(src, sizeof src, "%s/%s", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", out, as);
    char *p = slurp(src, &n);
    if (!p) return 0;
    int ok = lt_tmp_path(tmp, sizeof tmp, dst) == 0;
    FILE *f = ok ? fopen(tmp, "wb") : NULL;
    ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    if (ok) ok = rename(tmp, dst) == 0;
    else if (f) unlink(tmp);
    free(p);
    return ok;
}

static void figure(FILE *f, const char *file, const char *alt, const char *caption) {
    fprintf(f, "<figure><img src=\"%s\" alt=\"%s\"><figcaption>%s</figcaption></figure>\n", file, alt, caption);
}

static void missing(FILE *f, const char *what, const char *where) {
    fprintf(f, "<p class=\"note\">No %s: %s was not found (run that stage first).</p>\n", what, where);
}

/* The figure dir/name copied beside the page and shown; 0 (nothing written) when it is not there. */
static int copied_figure(FILE *f, const char *dir, const char *name, const char *out, const char *alt, const char *caption) {
    if (!copy_file(dir, name, out, name)) return 0;
    figure(f, name, alt, caption);
    return 1;
}

/* The fields of one CSV line (quoted fields as lt_cli_csv_field writes them), in place. */
static int csv_split(char *line, char **field, int cap) {
    int n = 0;
    for (char *p = line; n < cap;) {
        if (*p == '"') {
            char *w = ++p;
            field[n++] = w;
            for (; *p; p++) {
                if (*p == '"' && p[1] == '"') *w++ = '"', p++;
                else if (*p == '"') { p++; break; }
                else *w++ = *p;
            }
            *w = 0;
            if (*p == ',') p++;
            else break;
        } else {
            field[n++] = p;
            p += strcspn(p, ",\n\r");
            if (*p != ',') { *p = 0; break; }
            *p++ = 0;
        }
    }
    return n;
}

/* ---- the page's pieces ------------------------------------------------------------------------------- */

typedef struct {
    lt_catalog cat;
    lt_strmap ids;   /* item id -> catalog index */
    int64_t *count;  /* interactions per item */
    uint8_t *head;   /* the most popular 20% */
    lt_events ev;
    int have_cat, have_ev;
} shop;

static int64_t item_index(const shop *s, const char *id) {
    return s->have_cat ? lt_strmap_find(&s->ids, id, strlen(id)) : -1;
}

/* An item as a table cell: its title, with "tail" / "new" badges. */
static void item_cell(FILE *f, const shop *s, const char *id) {
    int64_t i = item_index(s, id);
    size_t len = 0;
    const char *t = i >= 0 && s->cat.title.n > i ? lt_strs_get(&s->cat.title, i, &len) : NULL;
    fputs("<td>", f);
    size_t cut = len > 90 ? 90 : len;
    while (cut < len && cut > 0 && ((unsigned char)t[cut] & 0xc0) == 0x80) cut--; /* not inside a UTF-8 character */
    if (t && len) html(f, t, cut), fputs(cut < len ? "…" : "", f);
    else html(f, id, strlen(id));
    if (i >= 0 && s->count && s->count[i] == 0) fputs(" <span class=\"new\">new</span>", f);
    else if (i >= 0 && s->head && !s->head[i]) fputs(" <span class=\"tail\">tail</span>", f);
    fprintf(f, " <span class=\"id\">%s</span></td>", id);
}

static void metrics_table(FILE *f, const char *path) {
    size_t n = 0;
    char *text = slurp(path, &n);
    lt_json_doc d = {0};
    if (!text || lt_json_parse(&d, text, n) != 0) {
        free(text);
        missing(f, "metrics", path);
        return;
    }
    free(text);
    const lt_json *root = lt_json_root(&d);
    static const char *cols[][2] = {{"recall@10", "Recall@10"}, {"ndcg@10", "NDCG@10"}, {"mrr", "MRR"},
                                    {"tail_recall@10", "Tail recall@10"}, {"coverage@10", "Coverage@10"},
                                    {"aplt@10", "APLT@10"}, {"gini@10", "Gini@10"}, {"cold_recall@20", "Cold recall@20"}};
    int nc = (int)(sizeof cols / sizeof *cols);
    for (int curve = 0; curve < 2; curve++) {
        if (curve) fputs("<h3>The tail boost: score + &beta; log(1/popularity)</h3>\n", f);
        fputs("<table><tr><th>model</th>", f);
        for (int c = 0; c < nc; c++) fprintf(f, "<th>%s</th>", cols[c][1]);
        fputs("</tr>\n", f);
        for (int i = 0; i < root->count; i++) {
            const lt_json *m = lt_json_at(&d, root, i);
            if (!!strchr(m->key, '@') != curve) continue;
            fputs("<tr><td>", f);
            html(f, m->key, strlen(m->key));
            fputs("</td>", f);
            for (int c = 0; c < nc; c++) {
                char se[64];
                snprintf(se, sizeof se, "%s_se", cols[c][0]);
                const lt_json *v = lt_json_get(&d, m, cols[c][0]), *e = lt_json_get(&d, m, se);
                if (!v || v->type != LT_JSON_NUMBER) fputs("<td>–</td>", f);
                else if (e && e->type == LT_JSON_NUMBER) fprintf(f, "<td>%.4f <small>± %.4f</small></td>", v->num, e->num);
                else fprintf(f, "<td>%.4f</td>", v->num);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    lt_json_free(&d);
}

static void clusters_table(FILE *f, const char *path) {
    size_t n = 0;
    char *text = slurp(path, &n);
    if (!text) return;
    int shown = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fld[9];
        int nf = 0;
        for (char *p = line; nf < 9; p++) {
            fld[nf++] = p;
            p = strchr(p, '\t');
            if (!p) break;
            *p = 0;
        }
        if (nf < 9 || strcmp(fld[6], "1")) continue;
        if (!shown++)
            fputs("<table><tr><th>cluster</th><th>named by its titles</th><th>items</th><th>share of items</th><th>share of "
                  "interactions</th><th>attention</th><th>top category</th></tr>\n", f);
        fprintf(f, "<tr><td>%s</td><td><b>", fld[0]);
        html(f, fld[7], strlen(fld[7]));
        fprintf(f, "</b></td><td>%s</td><td>%.2f%%</td><td>%.2f%%</td><td>%s</td><td>", fld[1], 100 * atof(fld[2]),
                100 * atof(fld[4]), fld[5]);
        html(f, fld[8], strlen(fld[8]));
        fputs("</td></tr>\n", f);
    }
    if (shown) fputs("</table>\n", f);
    else fputs("<p class=\"note\">No long-tail cluster was found.</p>\n", f);
    free(text);
}

/* The related products of item `id` in similar.csv (read line by line: it has a line per item and
 * neighbour, so it is never held in memory), up to 5 rows. */
static void related(FILE *f, const shop *s, const char *sim_csv, const char *id) {
    FILE *in = fopen(sim_csv, "r");
    if (!in) return;
    char *line = NULL, *fl[4];
    size_t cap = 0, n = strlen(id);
    int k = 0;
    fputs("<table><tr><th>related to their last item</th></tr>\n", f);
    while (k < 5 && getline(&line, &cap, in) > 0)
        if (!strncmp(line, id, n) && line[n] == ',' && csv_split(line, fl, 4) == 4)
            fputs("<tr>", f), item_cell(f, s, fl[2]), fputs("</tr>\n", f), k++;
    fputs("</table>\n", f);
    free(line);
    fclose(in);
}

/* The first nu users of recommendations.csv (read line by line): their last items, the products
 * related to their last item (similar.csv), and their recommendations. */
static void samples(FILE *f, const shop *s, const char *rec_csv, const char *sim_csv, int nu, const char *boost) {
    FILE *in = fopen(rec_csv, "r");
    if (!in) {
        missing(f, "recommendations", rec_csv);
        return;
    }
    lt_strmap users = {0};
    if (s->have_ev)
        for (int64_t u = 0; u < s->ev.n_users; u++) {
            size_t l;
            const char *id = lt_strs_get(&s->ev.user_id, u, &l);
            int64_t idx;
            int added;
            if (lt_strmap_get_or_add(&users, id, l, &idx, &added) < 0) break;
        }
    char *line = NULL, cur[256] = "";
    size_t cap = 0;
    int shown = 0;
    while (getline(&line, &cap, in) > 0) {
        char *fl[4];
        if (!strncmp(line, "user_id,", 8) || csv_split(line, fl, 4) < 4) continue;
        if (strcmp(fl[0], cur)) { /* a new user: close the last one's table, open this one's */
            if (shown) fputs("</table></div>\n", f);
            if (++shown > nu) break;
            snprintf(cur, sizeof cur, "%s", fl[0]);
            fputs("<div class=\"user\"><h3>User ", f);
            html(f, cur, strlen(cur));
            fputs("</h3>\n", f);
            int64_t u = s->have_ev ? lt_strmap_find(&users, cur, strlen(cur)) : -1;
            char last[256] = "";
            if (u >= 0) {
                int64_t a = s->ev.user_off[u], b = s->ev.user_off[u + 1];
                fputs("<table><tr><th>their last items</th></tr>\n", f);
                for (int64_t e = b - 5 > a ? b - 5 : a; e < b; e++) {
                    size_t l;
                    const char *id = lt_strs_get(&s->cat.item_id, s->ev.item[e], &l);
                    snprintf(last, sizeof last, "%.*s", (int)l, id);
                    fputs("<tr>", f);
                    item_cell(f, s, last);
                    fputs("</tr>\n", f);
                }
                fputs("</table>\n", f);
            }
            if (last[0]) related(f, s, sim_csv, last);
            fprintf(f, "<table><tr><th>#</th><th>recommended next%s</th></tr>\n", boost);
        }
        fprintf(f, "<tr><td>%s</td>", fl[1]);
        item_cell(f, s, fl[2]);
        fputs("</tr>\n", f);
    }
    if (shown && shown <= nu) fputs("</table></div>\n", f);
    lt_strmap_free(&users);
    free(line);
    fclose(in);
}

/* ---- the page ------------------------------------------------------------------------------------ */

static const char *style =
    "body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#212529}"
    "h1{font-size:1.7em}h2{margin-top:2em;border-bottom:1px solid #dee2e6}"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #dee2e6;padding:3px 8px;text-align:left}"
    "th{background:#f1f3f5}small{color:#868e96}figure{margin:1em 0}img{max-width:100%;border:1px solid #e9ecef}"
    "figcaption{color:#495057;font-size:.9em}.note{color:#868e96}.id{color:#adb5bd;font-size:.8em}"
    ".tail{background:#1c7ed6;color:#fff;border-radius:3px;padding:0 4px;font-size:.8em}"
    ".new{background:#2f9e44;color:#fff;border-radius:3px;padding:0 4px;font-size:.8em}"
    ".user{display:inline-block;vertical-align:top;margin-right:1.5em;max-width:520px}"
    ".pair{display:flex;flex-wrap:wrap;gap:1em}.pair figure{flex:1 1 480px}#check{color:#868e96;font-size:.8em}";

/* The page checks itself once loaded: every image complete with a width, no script error. A
 * headless browser reads the verdict from the DOM (tests/test_report.sh). */
static const char *check_script =
    "<script>\nvar errors = [];\nwindow.addEventListener('error', function (e) { errors.push(String(e.message || "
    "e.target.src)); }, true);\nwindow.addEventListener('load', function () {\n  var imgs = document.images, ok = 0;\n"
    "  for (var i = 0; i < imgs.length; i++) if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;\n"
    "  document.getElementById('check').textContent = 'report-check: images ' + ok + '/' + imgs.length + ', errors ' + "
    "errors.length + (errors.length ? ': ' + errors.join('; ') : '');\n});\n</script>\n";

static int write_page(const lt_config *c, const char *dir, const char *out, FILE *f, int nu) {
    char def[8][4300];
    const char *keys[] = {"report.data", "report.model", "report.cluster", "report.rec", "report.eval", "report.recommend",
                          "report.similar"};
    const char *subs[] = {"data", "model", "cluster", "rec", "eval", "recommend", "similar"};
    const char *p[7];
    for (int i = 0; i < 7; i++) {
        snprintf(def[i], sizeof def[i], "%s/%s", dir, subs[i]);
        p[i] = lt_config_str(c, keys[i], def[i]);
    }
    const char *data = p[0], *model = p[1], *cl = p[2], *rec = p[3], *ev = p[4], *recm = p[5], *sim = p[6];
    shop s = {0};
    char path[4400];
    s.have_cat = lt_catalog_load(&s.cat, data) == 0;
    for (int64_t i = 0; s.have_cat && i < s.cat.n; i++) {
        size_t l;
        const char *id = lt_strs_get(&s.cat.item_id, i, &l);
        int64_t idx;
        int added;
        if (lt_strmap_get_or_add(&s.ids, id, l, &idx, &added) < 0) s.have_cat = 0;
    }
    snprintf(path, sizeof path, "%s/events.h5", data);
    s.have_ev = s.have_cat && lt_events_load(&s.ev, path) == 0 && s.ev.n_items == s.cat.n;
    lt_popularity pop = {0};
    if (s.have_ev && lt_popularity_compute(&s.ev, s.cat.n, 0.2, &pop) == 0) s.count = pop.count, s.head = pop.head;

    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>longtail report: ");
    html(f, dir, strlen(dir));
    fprintf(f, "</title>\n<style>%s</style>\n%s</head><body>\n<h1>longtail report</h1>\n<p>Run folder <code>", style, check_script);
    html(f, dir, strlen(dir));
    fputs("</code>", f);
    if (s.have_ev)
        fprintf(f, ": %lld items, %lld users, %lld interactions", (long long)s.cat.n, (long long)s.ev.n_users, (long long)s.ev.n_events);
    fputs(". Items marked <span class=\"tail\">tail</span> are outside the most popular 20%; <span class=\"new\">new</span> "
          "items have no interactions at all.</p>\n", f);

    fputs("<h2 id=\"s1\">1. Popularity: the head and the long tail</h2>\n", f);
    if (!copied_figure(f, cl, "popularity.svg", out, "popularity curve",
                       "Interactions per item by popularity rank (log-log); the dashed line splits the head from the tail."))
        missing(f, "popularity curve", cl);

    fputs("<h2 id=\"s2\">2. The catalog map and its long-tail regions</h2>\n", f);
    int tsne = copy_file(cl, "map_tsne.svg", out, "map.svg");
    if (tsne || copy_file(cl, "map_pca.svg", out, "map.svg")) {
        fputs("<div class=\"pair\">", f);
        figure(f, "map.svg", "cluster map", tsne ? "t-SNE map of the item embeddings, head vs tail; x marks a long-tail cluster, named by its typical title words."
                                                 : "The item embeddings on two principal components, head vs tail; x marks a long-tail cluster, named by its typical title words.");
        copied_figure(f, cl, "clusters.svg", out, "clusters",
                      "Each cluster's share of the items against its share of the interactions; red: long-tail clusters.");
        fputs("</div>\n", f);
        snprintf(path, sizeof path, "%s/clusters.tsv", cl);
        fputs("<p>A cluster is long-tail when it gets far less attention than its size deserves (share of interactions / "
              "share of items below the threshold of <code>cluster.attention</code>).</p>\n", f);
        clusters_table(f, path);
    } else missing(f, "cluster map", cl);

    fputs("<h2 id=\"s3\">3. Training</h2>\n<div class=\"pair\">", f);
    int curves = copied_figure(f, model, "pretrain_loss.svg", out, "encoder pretraining",
                               "The text encoder: masked-LM and contrastive losses.");
    curves += copied_figure(f, rec, "train_loss.svg", out, "recommender training", "The recommender: training loss.");
    fputs("</div>\n", f);
    if (!curves) missing(f, "training curves", model);

    fputs("<h2 id=\"s4\">4. Accuracy, the tail and cold start, against the baselines</h2>\n", f);
    snprintf(path, sizeof path, "%s/metrics.json", ev);
    metrics_table(f, path);
    fputs("<p>Leave-one-out on each user's last item, every item ranked; ± one standard error. Tail recall: recall on "
          "targets outside the head; coverage: share of the catalog recommended to anyone; APLT: share of recommended items "
          "from the tail; cold recall: recall on items held out of training.</p>\n", f);

    fputs("<h2 id=\"s5\">5. Accuracy against coverage: re-ranking toward the tail</h2>\n", f);
    if (!copied_figure(f, ev, "tail_boost.svg", out, "tail boost trade-off",
                       "NDCG@10 against Coverage@10 (solid) and APLT@10 (dashed), one point per boost &beta;."))
        missing(f, "trade-off curve", ev);

    fputs("<h2 id=\"s6\">6. Sample recommendations and related products</h2>\n", f);
    char rc_csv[4400], sim_csv[4400];
    snprintf(rc_csv, sizeof rc_csv, "%s/recommendations.csv", recm);
    snprintf(sim_csv, sizeof sim_csv, "%s/similar.csv", sim);
    /* recommend's own setting, when the run's config has one: the page says how the list was ranked */
    const char *beta = lt_config_str(c, "recommend.tail_boost", NULL);
    char boost[96] = "";
    if (beta && atof(beta) > 0) snprintf(boost, sizeof boost, " (tail boost &beta; = %.3g)", atof(beta));
    samples(f, &s, rc_csv, sim_csv, nu, boost);
    fputs("\n<p id=\"check\">report-check: not run (scripts disabled)</p>\n</body></html>\n", f);
    lt_popularity_free(&pop);
    if (s.have_ev) lt_events_free(&s.ev);
    lt_strmap_free(&s.ids);
    if (s.have_cat) lt_catalog_free(&s.cat);
    return 0;
}

int lt_cmd_report(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("report", "--dir RUN [--out DIR]", opts, argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *dir = lt_config_str(c, "report.dir", NULL);
    int64_t nu = 4;
    int rc = lt_config_int(c, "report.users", 4, &nu);
    if (!rc && !dir) {
        fprintf(stderr, "longtail report: needs --dir RUN (longtail report --help)\n");
        lt_config_free(c);
        return 2;
    }
    char outbuf[4300];
    snprintf(outbuf, sizeof outbuf, "%s/report", dir ? dir : ".");
    const char *out = lt_config_str(c, "report.out", outbuf);
    if (!rc) rc = lt_cli_out_dir("report.out", out);
    if (rc < 0) {
        lt_config_free(c);
        return lt_cli_fail("report", rc);
    }
    if (LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */
    char page[4400], tmp[4500];
    snprintf(page, sizeof page, "%s/index.html", out);
    if (mkdir(out, 0777) != 0 && errno != EEXIST) rc = lt_error(LT_EIO, "report: cannot create %s: %s", out, strerror(errno));
    if (!rc) rc = lt_tmp_path(tmp, sizeof tmp, page);
    FILE *f = rc ? NULL : fopen(tmp, "w");
    if (!rc && !f) rc = lt_error(LT_EIO, "report: cannot write %s", tmp);
    if (!rc) rc = write_page(c, dir, out, f, (int)nu);
    if (f) {
        int bad = ferror(f);
        if (fclose(f) != 0 || bad) rc = rc ? rc : lt_error(LT_EIO, "report: writing %s failed", tmp);
        if (!rc && rename(tmp, page) != 0) rc = lt_error(LT_EIO, "report: renaming %s", page);
        if (rc) unlink(tmp);
    }
    if (!rc) printf("longtail report: wrote %s\n", page);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("report", rc) : 0;
}
