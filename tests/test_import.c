/* tests/test_import: the raw-file parsers and importers.
 *  - parsers on small inline inputs, checking every parsed field;
 *  - the corpus of nasty inputs in tests/corpus/import/: each file through its parser in strict
 *    and --skip-bad mode; the outcome (error code or records kept and lines skipped) must equal
 *    tests/corpus/import/expected.tsv, and strict-mode errors must name file:line;
 *  - gzip input read through zlib, and gzip streams cut short (also corpus files NAME.txt.gz);
 *  - --skip-bad failing above max_bad;
 *  - the real Amazon Beauty and MovieLens files (skipped when ../shared/datasets is absent):
 *    exact counts, and with HDF5 a save/load round trip. */
#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include "data/textio.h"
#include "longtail/data.h"
#include "testutil.h"
#ifdef LONGTAIL_HAVE_HDF5
#include "data/dataio.h"
#endif

static const char *str(const lt_strs *s, int64_t i) {
    static char buf[4][512];
    static int k;
    size_t n;
    const char *p = lt_strs_get(s, i, &n);
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%.*s", (int)n, p);
    return buf[k];
}

static lt_strmap items_123(void) {
    lt_strmap m = {0};
    const char *ids[] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++) {
        int64_t idx;
        int added;
        OK(lt_strmap_get_or_add(&m, ids[i], 1, &idx, &added));
    }
    return m;
}

static void test_inline(void) {
    lt_lines l;
    lt_catalog cat = {0};
    lt_strmap ids = {0};
    lt_import_report rep = {0};
    const char *tsv = "item_id\tcategory\ttitle\n"
                      "A1\tBeauty > Nails\tRed \"Matte\" polish\r\n"
                      "B2\t\t\n"
                      "C3\tHome\t兰蔻 小黑瓶";
    lt_lines_mem(&l, "items.tsv", tsv, strlen(tsv));
    OK(lt_parse_items_tsv(&l, &cat, &ids, 0, &rep));
    CHECK(cat.n == 3);
    CHECK(!strcmp(str(&cat.item_id, 0), "A1") && !strcmp(str(&cat.title, 0), "Red \"Matte\" polish"));
    CHECK(!strcmp(str(&cat.category, 0), "Beauty > Nails") && !strcmp(str(&cat.description, 0), ""));
    CHECK(!strcmp(str(&cat.title, 1), "") && !strcmp(str(&cat.title, 2), "兰蔻 小黑瓶"));
    lt_lines_close(&l);

    /* events: users in first-appearance order, each history sorted by time, ties in file order */
    lt_ev_builder *b;
    OK(lt_ev_builder_new(&b));
    const char *ev = "timestamp\tuser_id\titem_id\n30\tu9\tC3\n10\tu9\tA1\n5\tu1\tB2\n10\tu9\tB2\n";
    lt_lines_mem(&l, "events.tsv", ev, strlen(ev));
    OK(lt_parse_events_tsv(&l, &ids, b, 0, &rep));
    lt_events e;
    OK(lt_ev_builder_finish(b, cat.n, &e));
    CHECK(e.n_users == 2 && e.n_events == 4 && e.has_time);
    CHECK(!strcmp(str(&e.user_id, 0), "u9") && !strcmp(str(&e.user_id, 1), "u1"));
    CHECK(e.user_off[0] == 0 && e.user_off[1] == 3 && e.user_off[2] == 4);
    int32_t want_items[4] = {0, 1, 2, 1};
    int64_t want_times[4] = {10, 10, 30, 5};
    for (int i = 0; i < 4; i++) CHECK_MSG(e.item[i] == want_items[i] && e.time[i] == want_times[i], "event %d", i);
    lt_events_free(&e);
    lt_ev_builder_free(b);
    lt_lines_close(&l);

    /* JSON lines: escapes, \u with surrogate pairs, numbers as ids, null */
    lt_catalog jc = {0};
    lt_strmap jids = {0};
    const char *js = "{\"item_id\": 7, \"title\": \"Cr\\u00e8me \\\"x\\\" \\ud83d\\udc84\\n\", \"description\": null}\n"
                     "  {\"title\":\"t\",\"item_id\":\"8\",\"category\":\"a/b\"}  \n";
    lt_lines_mem(&l, "items.jsonl", js, strlen(js));
    OK(lt_parse_items_jsonl(&l, &jc, &jids, 0, &rep));
    CHECK(jc.n == 2 && !strcmp(str(&jc.item_id, 0), "7"));
    CHECK_MSG(!strcmp(str(&jc.title, 0), "Crème \"x\" 💄\n"), "title '%s'", str(&jc.title, 0));
    CHECK(!strcmp(str(&jc.description, 0), "") && !strcmp(str(&jc.category, 1), "a/b"));
    lt_lines_close(&l);
    lt_catalog_free(&jc);
    lt_strmap_free(&jids);

    /* MovieLens titles are Latin-1 and become UTF-8 */
    lt_catalog mc = {0};
    lt_strmap mids = {0};
    const char *mv = "12::Caf\xe9 (1993)::Drama|Comedy\n";
    lt_lines_mem(&l, "movies.dat", mv, strlen(mv));
    OK(lt_parse_movielens_movies(&l, &mc, &mids, 0, &rep));
    CHECK(mc.n == 1 && !strcmp(str(&mc.title, 0), "Café (1993)") && !strcmp(str(&mc.category, 0), "Drama|Comedy"));
    lt_lines_close(&l);
    lt_catalog_free(&mc);
    lt_strmap_free(&mids);

    /* strict mode: the first bad line is an error naming file:line; skip mode counts it */
    lt_catalog bc = {0};
    lt_strmap bids = {0};
    const char *bad = "item_id\ttitle\nx\tok\ny\tone\ttoo many\nz\tok\n";
    lt_lines_mem(&l, "shop.tsv", bad, strlen(bad));
    FAILS_WITH(lt_parse_items_tsv(&l, &bc, &bids, 0, &rep), LT_EFORMAT, "shop.tsv:3: expected 2 tab-separated fields, got 3");
    lt_lines_close(&l);
    lt_catalog_free(&bc);
    lt_strmap_free(&bids);
    memset(&rep, 0, sizeof rep);
    lt_lines_mem(&l, "shop.tsv", bad, strlen(bad));
    OK(lt_parse_items_tsv(&l, &bc, &bids, 1, &rep));
    CHECK(bc.n == 2 && rep.skipped == 1 && strstr(rep.bad[0], "shop.tsv:3:"));
    lt_lines_close(&l);
    lt_catalog_free(&bc);
    lt_strmap_free(&bids);
    lt_catalog_free(&cat);
    lt_strmap_free(&ids);
}

/* Run one corpus file through the parser its name selects. Returns the parser's rc; *records is
 * the number of items or events kept. A .txt.gz corpus file (gz_path) is read from the file through
 * zlib, the others from memory. */
static int run_corpus_file(const char *name, const char *gz_path, const char *data, size_t len, int skip,
                           int64_t *records, lt_import_report *rep) {
    lt_lines l;
    if (gz_path) OK(lt_lines_open(&l, gz_path));
    else lt_lines_mem(&l, name, data, len);
    lt_catalog cat = {0};
    lt_strmap ids = {0}, items = items_123();
    lt_ev_builder *b;
    OK(lt_ev_builder_new(&b));
    memset(rep, 0, sizeof *rep);
    int rc, events = 1;
    if (!strncmp(name, "items_tsv", 9)) rc = lt_parse_items_tsv(&l, &cat, &ids, skip, rep), events = 0;
    else if (!strncmp(name, "items_jsonl", 11)) rc = lt_parse_items_jsonl(&l, &cat, &ids, skip, rep), events = 0;
    else if (!strncmp(name, "beauty_items", 12)) rc = lt_parse_beauty_items(&l, &cat, &ids, skip, rep), events = 0;
    else if (!strncmp(name, "ml_movies", 9)) rc = lt_parse_movielens_movies(&l, &cat, &ids, skip, rep), events = 0;
    else if (!strncmp(name, "events_tsv", 10)) rc = lt_parse_events_tsv(&l, &items, b, skip, rep);
    else if (!strncmp(name, "events_jsonl", 12)) rc = lt_parse_events_jsonl(&l, &items, b, skip, rep);
    else if (!strncmp(name, "beauty_seqs", 11)) rc = lt_parse_beauty_seqs(&l, &items, b, skip, rep);
    else if (!strncmp(name, "ml_ratings", 10)) rc = lt_parse_movielens_ratings(&l, &items, b, 0, skip, rep);
    else rc = lt_error(LT_EINVAL, "no parser for corpus file %s", name);
    *records = cat.n;
    if (events && rc >= 0) {
        lt_events e;
        OK(lt_ev_builder_finish(b, 3, &e));
        *records = e.n_events;
        lt_events_free(&e);
    }
    lt_lines_close(&l);
    lt_catalog_free(&cat);
    lt_strmap_free(&ids), lt_strmap_free(&items);
    lt_ev_builder_free(b);
    return rc;
}

static void test_corpus(const char *src) {
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/tests/corpus/import", src);
    snprintf(path, sizeof path, "%s/expected.tsv", dir);
    FILE *ex = fopen(path, "r");
    CHECK_MSG(ex != NULL, "missing %s", path);
    if (!ex) return;
    char line[1024];
    int files = 0;
    /* expected.tsv: name, strict result (ok or an error name), records kept in skip mode, skipped */
    while (fgets(line, sizeof line, ex)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char name[256], strict[32];
        long long want_rec, want_skip;
        if (sscanf(line, "%255s %31s %lld %lld", name, strict, &want_rec, &want_skip) != 4) continue;
        snprintf(path, sizeof path, "%s/%s.txt", dir, name);
        int gz = access(path, F_OK) != 0;
        if (gz) snprintf(path, sizeof path, "%s/%s.txt.gz", dir, name);
        size_t len;
        char *data = read_file(path, &len);
        CHECK_MSG(data != NULL, "corpus file %s missing", path);
        if (!data) continue;
        lt_import_report rep;
        int64_t rec;
        lt_clear_error();
        int rc = run_corpus_file(name, gz ? path : NULL, data, len, 0, &rec, &rep);
        const char *got = rc < 0 ? lt_err_name(rc) : "ok";
        CHECK_MSG(!strcmp(got, strict), "%s strict: got %s (%s), expected %s", name, got, lt_last_error(), strict);
        if (rc == LT_EFORMAT) { /* the message names the file and, for line errors, the line */
            char prefix[300];
            snprintf(prefix, sizeof prefix, "%s%s:", name, gz ? ".txt.gz" : "");
            CHECK_MSG(strstr(lt_last_error(), prefix) != NULL, "%s: message '%s' does not name the file", name,
                      lt_last_error());
        }
        rc = run_corpus_file(name, gz ? path : NULL, data, len, 1, &rec, &rep);
        if (rc < 0) rec = -1, rep.skipped = -1;
        if (getenv("LONGTAIL_CORPUS_PRINT")) /* to write expected.tsv after a deliberate change */
            printf("%s\t%s\t%lld\t%lld\n", name, got, (long long)rec, (long long)rep.skipped);
        CHECK_MSG(rec == want_rec && rep.skipped == want_skip, "%s skip-bad: kept %lld, skipped %lld; expected %lld, %lld (%s)",
                  name, (long long)rec, (long long)rep.skipped, want_rec, want_skip, rc < 0 ? lt_last_error() : "ok");
        free(data);
        files++;
    }
    fclose(ex);
    /* every corpus file is listed */
    DIR *d = opendir(dir);
    struct dirent *de;
    int present = 0;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".txt")) present++;
    if (d) closedir(d);
    CHECK_MSG(files == present && files > 20, "%d corpus files checked of %d present", files, present);
    printf("  corpus: %d nasty inputs, strict and skip-bad outcomes as expected\n", files);
}

static void test_gzip(void) {
    char dir[] = "/tmp/lt_import_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/items.tsv.gz", dir);
    gzFile gz = gzopen(path, "wb");
    gzputs(gz, "item_id\ttitle\n");
    for (int i = 0; i < 20000; i++) gzprintf(gz, "id%d\tproduct number %d with a longer title\n", i, i);
    gzclose(gz);
    lt_lines l;
    OK(lt_lines_open(&l, path));
    lt_catalog cat = {0};
    lt_strmap ids = {0};
    lt_import_report rep = {0};
    OK(lt_parse_items_tsv(&l, &cat, &ids, 0, &rep));
    CHECK(cat.n == 20000 && !strcmp(str(&cat.title, 19999), "product number 19999 with a longer title"));
    lt_lines_close(&l);
    lt_catalog_free(&cat);
    lt_strmap_free(&ids);

    /* a gzip stream cut short (its CRC + length trailer lost, or cut mid-line) is an error naming the
     * file and the byte offset, in strict and in --skip-bad mode: never its prefix imported quietly */
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    static char whole[1 << 20];
    size_t size = fread(whole, 1, sizeof whole, f);
    fclose(f);
    CHECK(size > 1000 && size < sizeof whole);
    char cut[300];
    snprintf(cut, sizeof cut, "%s/cut.tsv.gz", dir);
    size_t cuts[] = {size - 8, size - 1, size / 2, 20};
    for (int k = 0; k < 4; k++)
        for (int skip = 0; skip < 2; skip++) {
            f = fopen(cut, "wb");
            CHECK(f && fwrite(whole, 1, cuts[k], f) == cuts[k]);
            fclose(f);
            lt_catalog cc = {0};
            lt_strmap ci = {0};
            lt_import_report cr = {0};
            OK(lt_lines_open(&l, cut));
            int rc = lt_parse_items_tsv(&l, &cc, &ci, skip, &cr);
            char want[64];
            snprintf(want, sizeof want, "at byte %zu", cuts[k]);
            CHECK_MSG(rc == LT_EFORMAT && strstr(lt_last_error(), cut) && strstr(lt_last_error(), want) &&
                          strstr(lt_last_error(), "truncated"),
                      "gzip cut at %zu (skip %d): rc %d, %s", cuts[k], skip, rc, lt_last_error());
            lt_lines_close(&l);
            lt_catalog_free(&cc);
            lt_strmap_free(&ci);
        }
    remove(cut);
    remove(path);
    rmdir(dir);
    printf("  gzip input read through zlib; cut short, an error naming the byte: ok\n");
}

/* --skip-bad: a file that is mostly garbage fails (more than max_bad of its lines, or all of them) */
static void test_max_bad(void) {
    char dir[] = "/tmp/lt_import_XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/events.tsv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "user_id\titem_id\nu1\ta\nu1\tb\nu2\ta\nu2\tb\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/items.tsv", dir);
    lt_import_opts o = {.format = "generic", .in = dir, .skip_bad = 1};
    lt_catalog cat;
    lt_events ev;
    lt_import_report rep;
    const char *bodies[] = {"a\tA\nb\tB\n" "c\tC\tx\n",   /* 1 of 3 bad */
                            "a\tA\n" "c\tC\tx\nd\tD\ty\n", /* 2 of 3 bad */
                            "c\tC\tx\nd\tD\ty\n"};            /* all bad */
    double max_bad[] = {0.5, 0.5, 1.0};
    int want_ok[] = {1, 0, 0};
    for (int k = 0; k < 3; k++) {
        f = fopen(path, "w");
        fprintf(f, "item_id\ttitle\n%s", bodies[k]);
        fclose(f);
        o.max_bad = max_bad[k];
        int rc = lt_import(&o, &cat, &ev, &rep);
        CHECK_MSG((rc == 0) == want_ok[k], "max_bad case %d: rc %d %s", k, rc, rc ? lt_last_error() : "");
        if (!rc) CHECK(cat.n == 2 && rep.skipped == 1);
        else CHECK_MSG(strstr(lt_last_error(), path) && strstr(lt_last_error(), "--skip-bad dropped"), "%s", lt_last_error());
        if (!rc) lt_catalog_free(&cat), lt_events_free(&ev);
    }
    remove(path);
    snprintf(path, sizeof path, "%s/events.tsv", dir);
    remove(path);
    rmdir(dir);
    printf("  --skip-bad fails above max_bad, and when every line is bad: ok\n");
}

#ifdef LONGTAIL_HAVE_HDF5
static void roundtrip(const lt_catalog *cat, const lt_events *ev, int64_t per) {
    char dir[] = "/tmp/lt_import_rt_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/events.h5", dir);
    OK(lt_catalog_save(cat, dir, per, "test"));
    OK(lt_events_save(ev, path, "test"));
    lt_catalog c2;
    lt_events e2;
    OK(lt_catalog_load(&c2, dir));
    OK(lt_events_load(&e2, path));
    CHECK(c2.n == cat->n && e2.n_users == ev->n_users && e2.n_events == ev->n_events);
    CHECK(c2.n == cat->n && !memcmp(c2.title.off, cat->title.off, sizeof(int64_t) * (size_t)(cat->n + 1)));
    CHECK(!memcmp(c2.title.bytes, cat->title.bytes, (size_t)cat->title.off[cat->n]));
    CHECK(!memcmp(c2.category.bytes, cat->category.bytes, (size_t)cat->category.off[cat->n]));
    CHECK(!memcmp(e2.item, ev->item, sizeof(int32_t) * (size_t)ev->n_events));
    CHECK(!memcmp(e2.user_off, ev->user_off, sizeof(int64_t) * (size_t)(ev->n_users + 1)));
    lt_catalog_free(&c2);
    lt_events_free(&e2);
    char **names;
    int count;
    OK(lt_list_shards(dir, "catalog-", &names, &count));
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    lt_free_names(names, count);
    snprintf(path, sizeof path, "%s/events.h5", dir);
    remove(path);
    rmdir(dir);
}
#endif

static void test_real(const char *datasets) {
    char in[4096];
    lt_catalog cat;
    lt_events ev;
    lt_import_report rep;
    snprintf(in, sizeof in, "%s/amazon-beauty", datasets);
    lt_import_opts o = {.format = "amazon-beauty", .in = in};
    OK(lt_import(&o, &cat, &ev, &rep));
    printf("  amazon-beauty: %lld users, %lld items, %lld interactions, %lld skipped\n", (long long)ev.n_users,
           (long long)cat.n, (long long)ev.n_events, (long long)rep.skipped);
    CHECK(ev.n_users == 22363 && cat.n == 12101 && ev.n_events == 198502 && rep.skipped == 0);
    CHECK(!strcmp(str(&ev.user_id, 0), "1") && !strcmp(str(&cat.item_id, 12100), "12101"));
    /* 7 items have an empty title (ids 495, 1454, 2015, 5336, 7406, 7410, 9178) */
    int empty = 0;
    for (int64_t i = 0; i < cat.n; i++) empty += cat.title.off[i + 1] == cat.title.off[i];
    CHECK(empty == 7 && cat.title.off[495] == cat.title.off[494]);
    int64_t minlen = 1 << 30, maxlen = 0;
    for (int64_t u = 0; u < ev.n_users; u++) {
        int64_t n = ev.user_off[u + 1] - ev.user_off[u];
        minlen = n < minlen ? n : minlen, maxlen = n > maxlen ? n : maxlen;
    }
    CHECK(minlen == 5 && maxlen == 204);
#ifdef LONGTAIL_HAVE_HDF5
    roundtrip(&cat, &ev, 5000); /* 3 shards */
#endif
    lt_catalog_free(&cat);
    lt_events_free(&ev);

    snprintf(in, sizeof in, "%s/movielens-1m", datasets);
    o = (lt_import_opts){.format = "movielens", .in = in};
    OK(lt_import(&o, &cat, &ev, &rep));
    printf("  movielens-1m subset: %lld users, %lld movies, %lld ratings\n", (long long)ev.n_users, (long long)cat.n,
           (long long)ev.n_events);
    CHECK(ev.n_users == 2999 && cat.n == 3883 && ev.n_events == 487650 && ev.has_time);
    int sorted = 1, latin = 0;
    for (int64_t u = 0; u < ev.n_users; u++)
        for (int64_t p = ev.user_off[u] + 1; p < ev.user_off[u + 1]; p++) sorted &= ev.time[p - 1] <= ev.time[p];
    for (int64_t i = 0; i < cat.n; i++) {
        size_t n;
        const char *t = lt_strs_get(&cat.title, i, &n);
        CHECK(lt_utf8_valid_prefix(t, n) == n);
        for (size_t k = 0; k < n; k++) latin += (unsigned char)t[k] >= 0xc0;
    }
    CHECK(sorted);
    CHECK_MSG(latin >= 50, "only %d converted Latin-1 characters", latin);
    lt_catalog_free(&cat);
    lt_events_free(&ev);
}

int main(void) {
    test_inline();
    test_corpus(tu_source_dir());
    test_gzip();
    test_max_bad();
    const char *ds = tu_datasets();
    if (ds) test_real(ds);
    else printf("  real datasets: skipped: ../shared/datasets not found\n");
    return tu_finish("test_import");
}
