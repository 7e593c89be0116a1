/* The settings longtail knows, so that a mistyped one is an error and not a silent default:
 * `[embed] btach = 3` or `--embed.btach=3` is refused with its file:line and the closest known key.
 *
 * The source of truth is the commands themselves:
 *   1. each command's option table (the lt_cli_opt array of cmd_*.c, published by one line
 *      `const lt_cli_opt *const lt_cli_opts_NAME = opts;` and listed in `tables` below);
 *   2. a short list of extra keys per section, for settings that have no flag (`extra` below);
 *   3. RESERVED SECTIONS: the sections of commands that are not built yet (`reserved` below). Their
 *      keys are accepted unchecked, so a config written for a newer longtail still loads. When a
 *      command is built, move its section from `reserved` to `tables` (and `extra`).
 * A section or key that starts with "x-" is a user's extension and is never checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/error.h"

extern const lt_cli_opt *const lt_cli_opts_synth;
#ifdef LONGTAIL_HAVE_HDF5
extern const lt_cli_opt *const lt_cli_opts_import, *const lt_cli_opts_vocab, *const lt_cli_opts_pretrain,
    *const lt_cli_opts_embed, *const lt_cli_opts_cluster, *const lt_cli_opts_run, *const lt_cli_opts_train,
    *const lt_cli_opts_eval, *const lt_cli_opts_recommend, *const lt_cli_opts_similar,
    *const lt_cli_opts_report, *const lt_cli_opts_classify,
    *const lt_cli_opts_bandit, *const lt_cli_opts_update;
#endif

static const lt_cli_opt *const *const tables[] = {
    &lt_cli_opts_synth,
#ifdef LONGTAIL_HAVE_HDF5
    &lt_cli_opts_import, &lt_cli_opts_vocab, &lt_cli_opts_pretrain, &lt_cli_opts_embed, &lt_cli_opts_cluster,
    &lt_cli_opts_run, &lt_cli_opts_train, &lt_cli_opts_eval, &lt_cli_opts_recommend, &lt_cli_opts_similar,
    &lt_cli_opts_report, &lt_cli_opts_classify, &lt_cli_opts_bandit, &lt_cli_opts_update,
#endif
};

/* Settings read without a flag of their own. */
static const char *const extra[] = {
    "embed.stop_after",    /* stop after N shards, as if killed (tests of resuming) */
    "pretrain.stop_after", /* stop after step N, as if killed */
    "train.stop_after",    /* stop after step N, as if killed */
    "classify.stop_after", /* stop after step N, as if killed */
};

/* Sections of commands this version does not build yet (other branches are adding them). */
static const char *const reserved[] = {
    "rnn", "rec",
#ifndef LONGTAIL_HAVE_HDF5 /* built without the data layer: these commands are absent */
    "import", "vocab", "tokens", "pretrain", "bert", "embed", "cluster", "run", "train", "eval", "recommend", "similar", "report",
    "classify", "bandit", "update",
#endif
};

#define COUNT(a) (int)(sizeof a / sizeof *a)

/* Calls fn on every known "section.key" until it returns nonzero. */
static int each_key(int (*fn)(const char *key, void *ud), void *ud) {
    for (int t = 0; t < COUNT(tables); t++)
        for (const lt_cli_opt *o = *tables[t]; o && o->flag; o++)
            if (fn(o->key, ud)) return 1;
    for (int i = 0; i < COUNT(extra); i++)
        if (fn(extra[i], ud)) return 1;
    return 0;
}

/* Edit distance with adjacent transpositions (optimal string alignment): "btach" is 1 from "batch". */
static int distance(const char *a, size_t na, const char *b, size_t nb) {
    if (na > 63 || nb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

typedef struct {
    const char *sec, *name; /* what is looked up, split at the dot */
    size_t nsec;
    int found, sec_known;
    char best[128], best_sec[64], elsewhere[64]; /* closest key of the section, closest section, same key elsewhere */
    int best_d, best_sec_d;
} lookup;

static int visit(const char *key, void *ud) {
    lookup *l = ud;
    const char *dot = strchr(key, '.');
    size_t ns = (size_t)(dot - key);
    if (ns == l->nsec && !strncmp(key, l->sec, ns)) {
        l->sec_known = 1;
        if (!strcmp(dot + 1, l->name)) return l->found = 1;
        int d = distance(l->name, strlen(l->name), dot + 1, strlen(dot + 1));
        if (d < l->best_d) l->best_d = d, snprintf(l->best, sizeof l->best, "%s", dot + 1);
    } else {
        int d = distance(l->sec, l->nsec, key, ns);
        if (d < l->best_sec_d) l->best_sec_d = d, snprintf(l->best_sec, sizeof l->best_sec, "%.*s", (int)ns, key);
        if (!strcmp(dot + 1, l->name) && !l->elsewhere[0]) snprintf(l->elsewhere, sizeof l->elsewhere, "%.*s", (int)ns, key);
    }
    return 0;
}

int lt_cli_check_setting(const char *key, const char *origin) {
    const char *dot = strchr(key, '.');
    if (!dot) return lt_error(LT_ECONFIG, "%s: '%s' is not a setting name (expected section.key)", origin, key);
    lookup l = {.sec = key, .nsec = (size_t)(dot - key), .name = dot + 1, .best_d = 1 << 20, .best_sec_d = 1 << 20};
    if (!strncmp(key, "x-", 2) || !strncmp(l.name, "x-", 2)) return 0; /* the user's extensions */
    for (int i = 0; i < COUNT(reserved); i++)
        if (strlen(reserved[i]) == l.nsec && !strncmp(key, reserved[i], l.nsec)) return 0;
    if (each_key(visit, &l)) return 0;
    int cmdline = !strcmp(origin, "command line");
    char where[160];
    if (cmdline) snprintf(where, sizeof where, "--%s", key);
    else snprintf(where, sizeof where, "[%.*s] %s", (int)l.nsec, key, l.name);
    if (!l.sec_known)
        return lt_error(LT_ECONFIG, "%s: %s: unknown section [%.*s] (%s%s%ssections of your own start with x-)", origin, where,
                        (int)l.nsec, key, l.best_sec[0] ? "did you mean [" : "", l.best_sec, l.best_sec[0] ? "]? " : "");
    if (l.elsewhere[0])
        return lt_error(LT_ECONFIG, "%s: %s: unknown setting of [%.*s] (%s is a setting of [%s]; settings of your own start "
                        "with x-)", origin, where, (int)l.nsec, key, l.name, l.elsewhere);
    return lt_error(LT_ECONFIG, "%s: %s: unknown setting (did you mean %s%.*s%s%s? settings of your own start with x-)", origin,
                    where, cmdline ? "--" : "", cmdline ? (int)l.nsec : 0, key, cmdline ? "." : "", l.best);
}

int lt_cli_check_config(const lt_config *c) {
    const char *k, *v, *o;
    for (int i = 0; lt_config_entry(c, i, &k, &v, &o) == 0; i++) LT_TRY(lt_cli_check_setting(k, o));
    return 0;
}
