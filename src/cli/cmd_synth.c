/* longtail synth: write the synthetic shop (items.tsv + events.tsv) into a folder. Settings come
 * from the [synth] section of a config (-c FILE), then --synth.key=value, then the flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/config.h"
#include "longtail/error.h"
#include "longtail/synth.h"

static const lt_cli_opt opts[] = {
    {"--out", "synth.out", 0, "output folder, created if missing"},
    {"--items", "synth.items", 0, "catalog size (default 10000)"},
    {"--users", "synth.users", 0, "users (default 5000)"},
    {"--seed", "synth.seed", 0, "random seed (default 1)"},
    {"--zipf", "synth.zipf", 0, "popularity exponent (default 1.1)"},
    {"--cold", "synth.cold", 0, "share of items with no events (default 0.05)"},
    {"--brand-pull", "synth.brand_pull", 0, "0..1: how much the brand in an item's title decides its popularity (default 0)"},
    {"--events-per-user", "synth.events_per_user", 0, "mean history length, at least 3 (default 10)"},
    {"--lang", "synth.lang", 0, "en or zh: English or Simplified Chinese text (default en)"},
    {"--niche", "synth.niche", 0, "niche categories: users rarely seek them out, the planted long tail (default 6)"},
    {"--niche-attention", "synth.niche_attention", 0, "a niche category's interest / its share of items (default 0.15)"},
    {"--threads", "synth.threads", 0, "worker threads, 0 = all; the output does not depend on it"},
    {"--quiet", "synth.quiet", 1, "no progress lines"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_synth = opts; /* every setting is checked against these (settings.c) */

/* Settings from the config (file, --synth.key=value, flags) over the defaults. */
int lt_cli_synth_opts(const lt_config *c, lt_synth_opts *o) {
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
    LT_TRY(lt_config_float(c, "synth.brand_pull", o->brand_pull, &o->brand_pull));
    LT_TRY(lt_config_float(c, "synth.events_per_user", o->events_per_user, &o->events_per_user));
    LT_TRY(lt_config_int(c, "synth.niche", o->niche, &v));
    o->niche = (int)v;
    LT_TRY(lt_config_float(c, "synth.niche_attention", o->niche_attention, &o->niche_attention));
    LT_TRY(lt_config_int(c, "synth.threads", o->threads, &v));
    o->threads = (int)v;
    LT_TRY(lt_config_bool(c, "synth.quiet", !o->progress, &b));
    o->progress = !b;
    return 0;
}

int lt_cmd_synth(int argc, char **argv) {
    lt_config *cfg;
    char **pos;
    int npos;
    int r = lt_cli_parse("synth",
                         "--out DIR [options]\n\n"
                         "Writes a synthetic shop in the generic raw layout (DIR/items.tsv, DIR/events.tsv):\n"
                         "categories with their own vocabularies, Zipf popularity, users with latent tastes and\n"
                         "sequential habits, a share of cold items, and niche categories that users rarely seek out\n"
                         "(DIR/planted.tsv says which). The same options give the same bytes.",
                         opts, argc, argv, &cfg, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    lt_synth_opts o;
    lt_synth_opts_init(&o);
    int rc = lt_cli_synth_opts(cfg, &o), status = 0;
    if (rc < 0) {
        lt_cli_fail("synth", rc);
        lt_config_free(cfg);
        return 2;
    }
    if (LT_CLI_PREFLIGHT_DONE(cfg)) return 0; /* longtail run checks every stage's settings first */
    lt_synth_stats st;
    if (!status && (rc = lt_synth_write(&o, &st)) < 0) status = lt_cli_fail("synth", rc);
    if (!status) {
        printf("longtail synth: wrote %s/items.tsv and %s/events.tsv: %.1f MB in %.1f s\n", o.out, o.out,
               (double)st.bytes / 1e6, st.seconds);
        printf("  items %lld (%lld cold), users %lld, events %lld, mean history %.2f, "
               "top 20%% of items: %.1f%% of events\n",
               (long long)st.items, (long long)st.cold_items, (long long)st.users, (long long)st.events,
               st.mean_history, 100.0 * st.head_share);
        printf("  niche categories (%s/planted.tsv): %.1f%% of items, %.1f%% of events\n", o.out, 100.0 * st.niche_item_share,
               100.0 * st.niche_event_share);
    }
    lt_config_free(cfg); /* last: o.out and o.lang may point into it */
    return status;
}
