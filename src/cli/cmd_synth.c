/* longtail synth: write the synthetic shop (items.tsv + events.tsv) into a folder. Settings come
 * from the [synth] section of a config (-c FILE), then --synth.key=value, then the flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/config.h"
#include "longtail/error.h"
#include "longtail/synth.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: longtail synth --out DIR [options] [-c config.ini] [--synth.key=value ...]\n"
            "\n"
            "Writes a synthetic shop in the generic raw layout (DIR/items.tsv, DIR/events.tsv):\n"
            "categories with their own vocabularies, Zipf popularity, users with latent tastes and\n"
            "sequential habits, and a share of cold items. The same options give the same bytes.\n"
            "\n"
            "options (config key in [synth] in brackets):\n"
            "  --out DIR               output folder, created if missing [out]\n"
            "  --items N               catalog size (default 10000) [items]\n"
            "  --users N               users (default 5000) [users]\n"
            "  --seed S                random seed (default 1) [seed]\n"
            "  --zipf X                popularity exponent (default 1.1) [zipf]\n"
            "  --cold X                share of items with no events (default 0.05) [cold]\n"
            "  --events-per-user X     mean history length, at least 3 (default 10) [events_per_user]\n"
            "  --lang en|zh            English or Simplified Chinese text (default en) [lang]\n"
            "  --threads N             worker threads, 0 = all (default 0); output does not depend on it [threads]\n"
            "  --quiet                 no progress lines [progress = false]\n"
            "  -c, --config FILE       read settings from the [synth] section of FILE\n");
}

static int bad_value(const char *flag, const char *v) {
    fprintf(stderr, "longtail synth: %s: bad value '%s' (see longtail synth --help)\n", flag, v);
    return 2;
}

/* Settings from the config (file + --synth.key=value) over the defaults. */
static int from_config(const lt_config *c, lt_synth_opts *o) {
    int64_t v;
    int b;
    o->out = lt_config_str(c, "synth.out", o->out);
    o->lang = lt_config_str(c, "synth.lang", o->lang);
    LT_TRY(lt_config_int(c, "synth.items", o->items, &o->items));
    LT_TRY(lt_config_int(c, "synth.users", o->users, &o->users));
    LT_TRY(lt_config_int(c, "synth.seed", (int64_t)o->seed, &v));
    o->seed = (uint64_t)v;
    LT_TRY(lt_config_float(c, "synth.zipf", o->zipf, &o->zipf));
    LT_TRY(lt_config_float(c, "synth.cold", o->cold, &o->cold));
    LT_TRY(lt_config_float(c, "synth.events_per_user", o->events_per_user, &o->events_per_user));
    LT_TRY(lt_config_int(c, "synth.threads", o->threads, &v));
    o->threads = (int)v;
    LT_TRY(lt_config_bool(c, "synth.progress", o->progress, &b));
    o->progress = b;
    return 0;
}

static int parse_i64(const char *s, int64_t *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_f64(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) return -1;
    *out = v;
    return 0;
}

int lt_cmd_synth(int argc, char **argv) {
    lt_synth_opts o;
    lt_synth_opts_init(&o);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;

    lt_config *cfg;
    int rc = lt_config_new(&cfg);
    if (rc < 0) return lt_cli_fail("synth", rc);
    /* The file first, then --synth.key=value over it, then the flags over both. */
    for (int i = 1; i + 1 < argc && rc == 0; i++)
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) rc = lt_config_load(cfg, argv[i + 1]);
    if (rc == 0 && (rc = lt_config_apply_args(cfg, argc, argv)) >= 0) argc = rc, rc = 0;
    if (rc == 0) rc = from_config(cfg, &o);
    if (rc < 0) {
        lt_cli_fail("synth", rc);
        lt_config_free(cfg);
        return 1;
    }

    int status = 0;
    for (int i = 1; i < argc && !status; i++) {
        char *a = argv[i], *eq = strchr(a, '='), *v;
        if (!strcmp(a, "--quiet")) {
            o.progress = 0;
            continue;
        }
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        if (eq) v = eq + 1;
        else if (i + 1 < argc) v = argv[++i];
        else {
            fprintf(stderr, "longtail synth: %s needs a value\n", a);
            status = 2;
            break;
        }
#define FLAG(name) (alen == strlen(name) && !strncmp(a, name, alen))
        int64_t n;
        if (FLAG("-c") || FLAG("--config")) continue; /* loaded above */
        else if (FLAG("--out")) o.out = v;
        else if (FLAG("--lang")) o.lang = v;
        else if (FLAG("--items")) status = parse_i64(v, &o.items) ? bad_value(a, v) : 0;
        else if (FLAG("--users")) status = parse_i64(v, &o.users) ? bad_value(a, v) : 0;
        else if (FLAG("--seed")) status = parse_i64(v, &n) ? bad_value(a, v) : (o.seed = (uint64_t)n, 0);
        else if (FLAG("--threads")) status = parse_i64(v, &n) ? bad_value(a, v) : (o.threads = (int)n, 0);
        else if (FLAG("--zipf")) status = parse_f64(v, &o.zipf) ? bad_value(a, v) : 0;
        else if (FLAG("--cold")) status = parse_f64(v, &o.cold) ? bad_value(a, v) : 0;
        else if (FLAG("--events-per-user")) status = parse_f64(v, &o.events_per_user) ? bad_value(a, v) : 0;
        else {
            fprintf(stderr, "longtail synth: unknown option '%s'\n\n", a);
            usage(stderr);
            status = 2;
        }
#undef FLAG
    }

    lt_synth_stats st;
    if (!status && (rc = lt_synth_write(&o, &st)) < 0) status = lt_cli_fail("synth", rc);
    if (!status) {
        printf("longtail synth: wrote %s/items.tsv and %s/events.tsv: %.1f MB in %.1f s\n", o.out, o.out,
               (double)st.bytes / 1e6, st.seconds);
        printf("  items %lld (%lld cold), users %lld, events %lld, mean history %.2f, "
               "top 20%% of items: %.1f%% of events\n",
               (long long)st.items, (long long)st.cold_items, (long long)st.users, (long long)st.events,
               st.mean_history, 100.0 * st.head_share);
    }
    lt_config_free(cfg); /* last: o.out and o.lang may point into it */
    return status;
}
