/* longtail run -c CONFIG: the whole chain from one config. Each stage is the subcommand of the same
 * name, given the same config and overrides; run only fills in the folders that connect the stages
 * (under [run] dir) where the config does not name them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/error.h"
#include "longtail/log.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *paths[3][2]; /* setting, path under run.dir */
} stage;

static const stage stages[] = {
    {"synth", lt_cmd_synth, {{"synth.out", "raw"}}},
    {"import", lt_cmd_import, {{"import.in", "raw"}, {"import.out", "data"}}},
    {"vocab", lt_cmd_vocab, {{"vocab.data", "data"}}},
    {"pretrain", lt_cmd_pretrain, {{"pretrain.data", "data"}, {"pretrain.out", "model"}}},
    {"embed", lt_cmd_embed, {{"embed.data", "data"}, {"embed.model", "model"}, {"embed.out", "emb"}}},
    {"cluster", lt_cmd_cluster, {{"cluster.data", "data"}, {"cluster.emb", "emb"}, {"cluster.out", "cluster"}}},
    {"train", lt_cmd_train, {{"train.data", "data"}, {"train.emb", "emb"}, {"train.out", "rec"}}},
    {"eval", lt_cmd_eval, {{"eval.data", "data"}, {"eval.model", "rec"}}},
    {"classify", lt_cmd_classify, {{"classify.data", "data"}, {"classify.emb", "emb"}, {"classify.out", "classify"}}},
};

static const lt_cli_opt opts[] = {
    {"--dir", "run.dir", 0, "folder for every stage's output (default longtail-run)"},
    {"--stages", "run.stages", 0, "comma-separated stages (default synth,import,vocab,pretrain,embed,cluster)"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_run = opts; /* every setting is checked against these (settings.c) */

int lt_cmd_run(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("run", "-c CONFIG [--section.key=value ...]", opts, argc, argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *dir = lt_config_str(c, "run.dir", "longtail-run");
    const char *list = lt_config_str(c, "run.stages", "synth,import,vocab,pretrain,embed,cluster");
    double t0 = lt_seconds();
    int status = 0;
    /* the whole stage list is checked (the settings were, by lt_cli_parse) before any stage runs */
    const char *origin = "default", *k, *v, *o;
    for (int i = 0; lt_config_entry(c, i, &k, &v, &o) == 0; i++)
        if (!strcmp(k, "run.stages")) origin = o;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        int known = 0;
        for (size_t i = 0; i < sizeof stages / sizeof *stages; i++) known |= strlen(stages[i].name) == len && !strncmp(p, stages[i].name, len);
        if (!known) {
            fprintf(stderr, "longtail run: %s: run.stages: '%.*s' is not a stage this version can run (%s); no stage was run\n",
                    origin, (int)len, p, "synth, import, vocab, pretrain, embed, cluster, train, eval");
            lt_config_free(c);
            return 2;
        }
        p += len + (p[len] == ',');
    }
    /* pass 0, the preflight: every stage reads and checks its settings and stops before any work
     * (lt_cli_preflight), so a wrong value of the last stage is found before the first one runs;
     * pass 1 runs the stages */
    for (int pass = 0; pass < 2 && !status; pass++) {
        lt_cli_preflight = pass == 0;
        for (const char *p = list; *p && !status;) {
            size_t len = strcspn(p, ",");
            const stage *st = NULL;
            for (size_t i = 0; i < sizeof stages / sizeof *stages; i++)
                if (strlen(stages[i].name) == len && !strncmp(p, stages[i].name, len)) st = &stages[i];
            /* argv for the stage: the user's own arguments, plus the connecting folders */
            char **av = calloc((size_t)argc + 4, sizeof *av);
            char extra[3][4200];
            int ac = 0;
            av[ac++] = (char *)st->name;
            for (int i = 1; i < argc; i++)
                if (strncmp(argv[i], "--run.", 6) && strcmp(argv[i], "--dir") && strcmp(argv[i], "--stages") &&
                    strncmp(argv[i], "--dir=", 6) && strncmp(argv[i], "--stages=", 9) &&
                    (i == 1 || (strcmp(argv[i - 1], "--dir") && strcmp(argv[i - 1], "--stages"))))
                    av[ac++] = argv[i];
            for (int k = 0; k < 3 && st->paths[k][0]; k++)
                if (!lt_config_has(c, st->paths[k][0])) {
                    snprintf(extra[k], sizeof extra[k], "--%s=%s/%s", st->paths[k][0], dir, st->paths[k][1]);
                    av[ac++] = extra[k];
                }
            if (pass) {
                lt_info("run: stage %s", st->name);
                printf("\n== %s ==\n", st->name);
                fflush(stdout);
            }
            status = st->run(ac, av);
            fflush(stdout);
            if (status && !pass) fprintf(stderr, "longtail run: the settings of stage %s are wrong; no stage was run\n", st->name);
            free(av);
            p += len + (p[len] == ',');
        }
    }
    lt_cli_preflight = 0;
    if (!status) printf("\nrun: done in %.1fs; outputs in %s/\n", lt_seconds() - t0, dir);
    lt_config_free(c);
    return status;
}
