/* longtail import: raw catalog + events -> HDF5 shards (catalog-NNNNN.h5, events.h5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "longtail/log.h"

static const lt_cli_opt opts[] = {
    {"--format", "import.format", 0, "generic (items/events .tsv or .jsonl), amazon-beauty, movielens"},
    {"--in", "import.in", 0, "folder with the raw files (plain or .gz)"},
    {"--out", "import.out", 0, "folder for the shards"},
    {"--skip-bad", "import.skip_bad", 1, "drop malformed lines (counted and reported) instead of failing"},
    {"--max-bad", "import.max_bad", 0, "with --skip-bad: fail when more than this share of a file's lines is bad (default 0.1)"},
    {"--items-per-shard", "import.items_per_shard", 0, "items per catalog shard (default 100000)"},
    {"--min-rating", "import.min_rating", 0, "movielens: keep ratings >= this (default: all)"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_import = opts; /* every setting is checked against these (settings.c) */

int lt_cmd_import(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("import", "--in DIR --out DIR [--format F] [--skip-bad]", opts, argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    lt_import_opts o = {.format = lt_config_str(c, "import.format", "generic"),
                        .in = lt_config_str(c, "import.in", NULL)};
    const char *out = lt_config_str(c, "import.out", NULL);
    int64_t per, minr;
    double max_bad;
    int skip, rc;
    if ((rc = lt_config_bool(c, "import.skip_bad", 0, &skip)) < 0 ||
        (rc = lt_config_float(c, "import.max_bad", LT_IMPORT_MAX_BAD, &max_bad)) < 0 ||
        (rc = lt_config_int(c, "import.items_per_shard", 100000, &per)) < 0 ||
        (rc = lt_config_int(c, "import.min_rating", 0, &minr)) < 0) {
        lt_config_free(c);
        return lt_cli_fail("import", rc) + 1;
    }
    if (!o.in || !out) {
        fprintf(stderr, "longtail import: --in and --out are required (longtail import --help)\n");
        lt_config_free(c);
        return 2;
    }
    if (!(max_bad > 0 && max_bad <= 1)) {
        fprintf(stderr, "longtail import: import.max_bad: expected a share in (0, 1], got %g\n", max_bad);
        lt_config_free(c);
        return 2;
    }
    if (strcmp(o.format, "generic") && strcmp(o.format, "amazon-beauty") && strcmp(o.format, "movielens"))
        rc = lt_error(LT_ECONFIG, "import.format: expected generic, amazon-beauty or movielens, got '%s'", o.format);
    if (rc < 0 || (rc = lt_cli_out_dir("import.out", out)) < 0) {
        lt_config_free(c);
        return lt_cli_fail("import", rc);
    }
    if (LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */
    o.skip_bad = skip;
    o.max_bad = max_bad;
    o.min_rating = (int)minr;
    double t0 = lt_seconds();
    lt_catalog cat;
    lt_events ev;
    lt_import_report rep;
    rc = lt_import(&o, &cat, &ev, &rep);
    if (rc == 0) {
        char ev_path[4096], source[4200];
        snprintf(ev_path, sizeof ev_path, "%s/events.h5", out);
        snprintf(source, sizeof source, "%s:%s", o.format, o.in);
        rc = lt_catalog_save(&cat, out, per, source);
        if (rc == 0) rc = lt_events_save(&ev, ev_path, source);
    }
    if (rc == 0) {
        printf("imported %s (%s): %lld items, %lld users, %lld interactions%s in %.1fs -> %s\n", o.in, o.format,
               (long long)cat.n, (long long)ev.n_users, (long long)ev.n_events, ev.has_time ? "" : " (no timestamps)",
               lt_seconds() - t0, out);
        if (rep.skipped) {
            printf("skipped %lld malformed line%s of %lld; the first:\n", (long long)rep.skipped, rep.skipped == 1 ? "" : "s",
                   (long long)rep.lines);
            for (int i = 0; i < LT_IMPORT_SHOW_BAD && i < rep.skipped; i++) printf("  %s\n", rep.bad[i]);
        }
    }
    lt_catalog_free(&cat);
    lt_events_free(&ev);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("import", rc) : 0;
}
