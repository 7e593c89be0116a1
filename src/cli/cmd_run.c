/* longtail run -c CONFIG: the whole chain from one config. Each stage is the subcommand of the same
 * name, given the same config and overrides; run only fills in the folders that connect the stages
 * (under [run] dir) where the config does not name them, and the device (cuda when this machine has
 * a GPU and the config names none).
 *
 * Up to date: before a stage runs, run hashes its inputs (the bytes of the files it reads from the
 * stages before it) and its config sections; the hash goes into OUT/.run-STAGE as "running HASH",
 * and becomes "done HASH" when the stage has finished. The next run skips a stage whose file says
 * "done" with the same hash and whose main output is there. A stage killed midway ("running" with
 * the same hash) runs again and resumes from its own checkpoint (pretrain, embed, train); one whose
 * inputs or settings changed starts over (its checkpoint is removed first). */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/tmpfile.h"
#include "data/textio.h"
#include "longtail/backend.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "model/json.h"

#define MAX_PATHS 8

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *paths[MAX_PATHS][2]; /* setting, path under run.dir: the folders that connect the stages */
    const char *sections;  /* the config sections the stage reads: hashed */
    const char *inputs;    /* "setting:glob,glob;setting:glob": the files hashed as the stage's inputs */
    const char *out;       /* the setting naming the output folder (the state file goes there) */
    const char *done;      /* the main output, in that folder: missing means not done */
    const char *fresh;     /* a checkpoint in that folder, removed when the stage must start over */
    const char *device;    /* the stage's device setting, or NULL */
    const char *extra[2];  /* settings run adds under run.dir when the config has none ("key=path") */
} stage;

#define DATA_FILES "catalog-*.h5,events.h5"

static const stage stages[] = {
    {"synth", lt_cmd_synth, {{"synth.out", "raw"}}, "synth", "", "synth.out", "events.tsv", NULL, NULL, {0}},
    {"import", lt_cmd_import, {{"import.in", "raw"}, {"import.out", "data"}}, "import", "import.in:items.*,events.*",
     "import.out", "events.h5", NULL, NULL, {0}},
    {"vocab", lt_cmd_vocab, {{"vocab.data", "data"}}, "vocab,tokens", "vocab.data:catalog-*.h5;vocab.bert_vocab:*",
     "vocab.data", "vocab.txt", NULL, NULL, {0}},
    {"pretrain", lt_cmd_pretrain, {{"pretrain.data", "data"}, {"pretrain.out", "model"}}, "pretrain,bert",
     "pretrain.data:tokens-*.h5,vocab.txt,events.h5;pretrain.init:*.json,*.safetensors,vocab.txt", "pretrain.out",
     "model.safetensors", "pretrain.ckpt.h5", "pretrain.device", {0}},
    {"embed", lt_cmd_embed, {{"embed.data", "data"}, {"embed.model", "model"}, {"embed.out", "emb"}}, "embed",
     "embed.data:tokens-*.h5,vocab.txt;embed.model:*.json,*.safetensors,vocab.txt", "embed.out", "emb-00000.h5", NULL,
     "embed.device", {0}},
    {"cluster", lt_cmd_cluster, {{"cluster.data", "data"}, {"cluster.emb", "emb"}, {"cluster.out", "cluster"}}, "cluster",
     "cluster.data:" DATA_FILES ";cluster.emb:emb-*.h5", "cluster.out", "cluster.h5", NULL, "cluster.device", {0}},
    {"train", lt_cmd_train, {{"train.data", "data"}, {"train.emb", "emb"}, {"train.out", "rec"}}, "train",
     "train.data:" DATA_FILES ";train.emb:emb-*.h5", "train.out", "rec.h5", "train.ckpt.h5", "train.device", {0}},
    {"eval", lt_cmd_eval, {{"eval.data", "data"}, {"eval.model", "rec"}}, "eval",
     "eval.data:" DATA_FILES ";eval.model:rec.h5;eval.emb:emb-*.h5", "eval.json_out", "metrics.json", NULL, "eval.device",
     {"eval.json_out=eval/metrics.json", "eval.plot=eval/tail_boost.svg"}},
    {"recommend", lt_cmd_recommend, {{"recommend.data", "data"}, {"recommend.model", "rec"}, {"recommend.out", "recommend"}},
     "recommend", "recommend.data:" DATA_FILES ";recommend.model:rec.h5;recommend.emb:emb-*.h5", "recommend.out",
     "recommendations.h5", NULL, "recommend.device", {0}},
    {"similar", lt_cmd_similar, {{"similar.data", "data"}, {"similar.emb", "emb"}, {"similar.out", "similar"}}, "similar",
     "similar.data:" DATA_FILES ";similar.emb:emb-*.h5;similar.model:rec.h5", "similar.out", "similar.h5", NULL,
     "similar.device", {0}},
    {"classify", lt_cmd_classify, {{"classify.data", "data"}, {"classify.emb", "emb"}, {"classify.out", "classify"}},
     "classify", "classify.data:tokens-*.h5,vocab.txt," DATA_FILES ";classify.emb:emb-*.h5", "classify.out", "classify.h5",
     "classify.ckpt.h5", "classify.device", {0}},
    {"report", lt_cmd_report,
     {{"report.dir", "."}, {"report.data", "data"}, {"report.model", "model"}, {"report.cluster", "cluster"},
      {"report.rec", "rec"}, {"report.eval", "eval"}, {"report.recommend", "recommend"}, {"report.similar", "similar"}},
     "report", NULL, "report.out", NULL, NULL, NULL, {"report.out=report"}},
};
#define NSTAGES (int)(sizeof stages / sizeof *stages)
#define ALL_STAGES "synth,import,vocab,pretrain,embed,cluster,train,eval,recommend,similar,report"

static const lt_cli_opt opts[] = {
    {"--dir", "run.dir", 0, "folder for every stage's output (default longtail-run)"},
    {"--stages", "run.stages", 0, "comma-separated stages (default " ALL_STAGES ")"},
    {"--force", "run.force", 1, "run every stage even when its outputs are up to date"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_run = opts; /* every setting is checked against these (settings.c) */

static const stage *find_stage(const char *p, size_t len) {
    for (int i = 0; i < NSTAGES; i++)
        if (strlen(stages[i].name) == len && !strncmp(p, stages[i].name, len)) return &stages[i];
    return NULL;
}

static int mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return lt_error(LT_EIO, "run: cannot create folder %s: %s", buf, strerror(errno));
        if (!(*p = c)) return 0;
    }
}

/* ---- the stage's hash: its config sections and the bytes of its inputs ------------------------- */

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int in_list(const char *list, const char *s, size_t n) {
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, s, n)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* The files of folder (or the file) `path` that match one of the comma-separated globs, in name
 * order: their names and bytes go into *h (not the path itself: a run folder that moved is still up
 * to date). A missing path adds nothing (the stage will say). */
static int hash_path(const char *path, const char *globs, uint64_t *h) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) {
        uint64_t fh;
        LT_TRY(lt_file_fnv1a(path, &fh));
        *h = lt_fnv1a(*h, &fh, sizeof fh);
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) return lt_error(LT_EIO, "run: cannot read folder %s: %s", path, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp-")) continue;
        int match = 0;
        for (const char *g = globs; *g && !match;) {
            char pat[256];
            size_t len = strcspn(g, ",");
            snprintf(pat, sizeof pat, "%.*s", (int)len, g);
            match = fnmatch(pat, e->d_name, 0) == 0;
            g += len + (g[len] == ',');
        }
        if (!match) continue;
        if (n == cap) {
            char **g = realloc(names, sizeof *names * (size_t)(cap = cap ? 2 * cap : 64));
            if (!g) break;
            names = g;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, by_str);
    for (int i = 0; i < n; i++) {
        char file[4400];
        uint64_t fh = 0;
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        if (!rc) rc = lt_file_fnv1a(file, &fh);
        *h = lt_fnv1a(*h, names[i], strlen(names[i]) + 1);
        *h = lt_fnv1a(*h, &fh, sizeof fh);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* The stage's settings (sorted, so their order in the file does not matter; quiet and the log
 * interval change no output) and the files of its inputs. */
static int stage_hash(const stage *st, const lt_config *c, const char *dir, uint64_t *out) {
    uint64_t h = lt_fnv1a(LT_FNV1A_INIT, st->name, strlen(st->name) + 1);
    const char *k, *v, *o;
    char **kv = NULL;
    int n = 0;
    for (int i = 0; lt_config_entry(c, i, &k, &v, &o) == 0; i++) {
        const char *dot = strchr(k, '.');
        if (!dot || !in_list(st->sections, k, (size_t)(dot - k)) || !strcmp(dot + 1, "quiet") || !strcmp(dot + 1, "log_every"))
            continue;
        char **g = realloc(kv, sizeof *kv * (size_t)(n + 1));
        if (!g) break;
        kv = g;
        size_t len = strlen(k) + strlen(v) + 2;
        kv[n] = malloc(len);
        snprintf(kv[n++], len, "%s=%s", k, v);
    }
    if (n) qsort(kv, (size_t)n, sizeof *kv, by_str);
    for (int i = 0; i < n; i++) h = lt_fnv1a(h, kv[i], strlen(kv[i]) + 1), free(kv[i]);
    free(kv);
    int rc = 0;
    for (const char *p = st->inputs; p && *p && !rc;) {
        size_t len = strcspn(p, ";");
        char setting[128], globs[512];
        const char *colon = memchr(p, ':', len);
        snprintf(setting, sizeof setting, "%.*s", (int)(colon - p), p);
        snprintf(globs, sizeof globs, "%.*s", (int)(len - (size_t)(colon - p) - 1), colon + 1);
        p += len + (p[len] == ';');
        const char *path = lt_config_str(c, setting, NULL);
        char def[4200];
        for (int q = 0; !path && q < MAX_PATHS && st->paths[q][0]; q++)
            if (!strcmp(st->paths[q][0], setting)) snprintf(def, sizeof def, "%s/%s", dir, st->paths[q][1]), path = def;
        if (!path) continue;
        h = lt_fnv1a(h, setting, strlen(setting) + 1);
        /* a comma list of folders (eval.model): each one */
        for (const char *q = path; *q && !rc;) {
            size_t l = strcspn(q, ",");
            char one[4200];
            snprintf(one, sizeof one, "%.*s", (int)l, q);
            rc = hash_path(one, globs, &h);
            q += l + (q[l] == ',');
        }
    }
    *out = h;
    return rc;
}

/* ---- the state file: OUT/.run-STAGE holds "running HASH" or "done HASH" ------------------------- */

static void state_path(char *buf, size_t cap, const char *outdir, const stage *st) {
    snprintf(buf, cap, "%s/.run-%s", outdir, st->name);
}

/* 2: done with this hash, 1: started with this hash, 0: nothing or another hash */
static int state_read(const char *path, uint64_t h) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char word[16] = "";
    unsigned long long v = 0;
    int ok = fscanf(f, "%15s %llx", word, &v) == 2 && v == h;
    fclose(f);
    return !ok ? 0 : !strcmp(word, "done") ? 2 : !strcmp(word, "running");
}

static int state_write(const char *path, const char *word, uint64_t h) {
    char tmp[4400];
    LT_TRY(lt_tmp_path(tmp, sizeof tmp, path));
    FILE *f = fopen(tmp, "w");
    if (!f) return lt_error(LT_EIO, "run: cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "%s %016llx\n", word, (unsigned long long)h);
    if (fclose(f) != 0 || rename(tmp, path) != 0) return unlink(tmp), lt_error(LT_EIO, "run: cannot write %s", path);
    return 0;
}

/* ---- the summary ---------------------------------------------------------------------------------- */

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static double num(const lt_json_doc *d, const lt_json *o, const char *k) {
    const lt_json *v = o ? lt_json_get(d, o, k) : NULL;
    return v && v->type == LT_JSON_NUMBER ? v->num : -1;
}

/* The models of eval's metrics.json against the baselines: accuracy, the tail, cold start; of the
 * tail-boost curve, the point at beta (recommend's tail boost when the config has one). */
static void print_metrics(const char *path, double beta) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char *text = NULL;
    size_t n = 0;
    if (fseek(f, 0, SEEK_END) == 0 && (n = (size_t)ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc(n)))
        n = fread(text, 1, n, f);
    fclose(f);
    lt_json_doc d = {0};
    if (!text || lt_json_parse(&d, text, n) != 0) {
        free(text);
        return;
    }
    free(text);
    const lt_json *root = lt_json_root(&d);
    printf("\n%-18s %16s %16s %10s %9s %8s %16s\n", "model (test)", "Recall@10", "NDCG@10", "TailR@10", "Cov@10", "APLT@10",
           "ColdR@20");
    for (int i = 0; i < root->count; i++) {
        const lt_json *m = lt_json_at(&d, root, i);
        char point[48];
        snprintf(point, sizeof point, "@beta=%g", beta);
        const char *at = strchr(m->key, '@');
        if (at && strcmp(at, point)) continue; /* the curve: one point of it */
        char cold[40] = "-";
        if (num(&d, m, "cold_recall@20") >= 0)
            snprintf(cold, sizeof cold, "%.4f ± %.4f", num(&d, m, "cold_recall@20"), num(&d, m, "cold_recall@20_se"));
        char r10[40], n10[40];
        snprintf(r10, sizeof r10, "%.4f ± %.4f", num(&d, m, "recall@10"), num(&d, m, "recall@10_se"));
        snprintf(n10, sizeof n10, "%.4f ± %.4f", num(&d, m, "ndcg@10"), num(&d, m, "ndcg@10_se"));
        printf("%-18.18s %18s %18s %10.4f %9.4f %8.4f %18s\n", m->key, r10, n10, num(&d, m, "tail_recall@10"),
               num(&d, m, "coverage@10"), num(&d, m, "aplt@10"), cold);
    }
    printf("(± one standard error; TailR@10: recall on targets outside the head; Cov@10: share of the catalog ever\n"
           " recommended; APLT@10: share of recommended items from the tail; ColdR@20: recall on items never seen in\n"
           " training; NAME@beta=B: the tail boost score + B log(1/popularity), see %s)\n", path);
    lt_json_free(&d);
}

typedef struct {
    const char *name;
    int ran;
    double secs, cpu;
} stage_time;

/* ---- run ------------------------------------------------------------------------------------------ */

int lt_cmd_run(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    /* lt_cli_parse reorders the argv it is given; the stages get the user's arguments as they were */
    char **copy = malloc(sizeof *copy * (size_t)(argc + 1));
    if (!copy) return lt_cli_fail("run", LT_ENOMEM);
    memcpy(copy, argv, sizeof *copy * (size_t)argc);
    copy[argc] = NULL;
    int r = lt_cli_parse("run", "-c CONFIG [--force] [--section.key=value ...]", opts, argc, copy, &c, &pos, &npos);
    free(copy);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *dir = lt_config_str(c, "run.dir", "longtail-run");
    const char *list = lt_config_str(c, "run.stages", ALL_STAGES);
    int force = 0;
    if (lt_config_bool(c, "run.force", 0, &force) < 0) {
        lt_cli_fail("run", LT_ECONFIG);
        lt_config_free(c);
        return 2;
    }
    double t0 = lt_seconds(), c0 = cpu_seconds();
    int status = 0, gpu = lt_cuda_device_count() > 0;
    /* the whole stage list is checked (the settings were, by lt_cli_parse) before any stage runs */
    const char *origin = "default", *k, *v, *o;
    for (int i = 0; lt_config_entry(c, i, &k, &v, &o) == 0; i++)
        if (!strcmp(k, "run.stages")) origin = o;
    int total = 0;
    for (const char *p = list; *p; total++) {
        size_t len = strcspn(p, ",");
        if (!find_stage(p, len)) {
            fprintf(stderr, "longtail run: %s: run.stages: '%.*s' is not a stage this version can run (%s); no stage was run\n",
                    origin, (int)len, p, ALL_STAGES);
            lt_config_free(c);
            return 2;
        }
        p += len + (p[len] == ',');
    }
    stage_time done[16];
    int ndone = 0;
    char metrics[4200] = "";
    /* pass 0, the preflight: every stage reads and checks its settings and stops before any work
     * (lt_cli_preflight), so a wrong value of the last stage is found before the first one runs;
     * pass 1 runs the stages */
    for (int pass = 0; pass < 2 && !status; pass++) {
        lt_cli_preflight = pass == 0;
        int idx = 0;
        for (const char *p = list; *p && !status; idx++) {
            size_t len = strcspn(p, ",");
            const stage *st = find_stage(p, len);
            p += len + (p[len] == ',');
            /* argv for the stage: the user's own arguments, plus the connecting folders and the device */
            char **av = calloc((size_t)argc + MAX_PATHS + 4, sizeof *av);
            char extra[MAX_PATHS + 3][4300];
            int ac = 0, ne = 0;
            av[ac++] = (char *)st->name;
            for (int i = 1; i < argc; i++)
                if (strncmp(argv[i], "--run.", 6) && strcmp(argv[i], "--dir") && strcmp(argv[i], "--stages") &&
                    strcmp(argv[i], "--force") && strncmp(argv[i], "--dir=", 6) && strncmp(argv[i], "--stages=", 9) &&
                    (i == 1 || (strcmp(argv[i - 1], "--dir") && strcmp(argv[i - 1], "--stages"))))
                    av[ac++] = argv[i];
            for (int q = 0; q < MAX_PATHS && st->paths[q][0]; q++)
                if (!lt_config_has(c, st->paths[q][0])) {
                    if (!strcmp(st->paths[q][1], ".")) snprintf(extra[ne], sizeof extra[ne], "--%s=%s", st->paths[q][0], dir);
                    else snprintf(extra[ne], sizeof extra[ne], "--%s=%s/%s", st->paths[q][0], dir, st->paths[q][1]);
                    av[ac++] = extra[ne++];
                }
            for (int q = 0; q < 2 && st->extra[q]; q++) {
                size_t kl = strcspn(st->extra[q], "=");
                char key[128];
                snprintf(key, sizeof key, "%.*s", (int)kl, st->extra[q]);
                if (lt_config_has(c, key)) continue;
                snprintf(extra[ne], sizeof extra[ne], "--%s=%s/%s", key, dir, st->extra[q] + kl + 1);
                av[ac++] = extra[ne++];
            }
            if (gpu && st->device && !lt_config_has(c, st->device)) { /* a GPU box: the same config uses it */
                snprintf(extra[ne], sizeof extra[ne], "--%s=cuda", st->device);
                av[ac++] = extra[ne++];
            }
            if (!pass) {
                status = st->run(ac, av);
                if (status) fprintf(stderr, "longtail run: the settings of stage %s are wrong; no stage was run\n", st->name);
                free(av);
                continue;
            }
            /* the output folder, the state file and the hash */
            char outdir[4200] = "", state[4400], main_out[4400];
            const char *od = lt_config_str(c, st->out, NULL);
            if (od) snprintf(outdir, sizeof outdir, "%s", od);
            for (int q = 0; q < ne && !od; q++)
                if (!strncmp(extra[q] + 2, st->out, strlen(st->out)) && extra[q][2 + strlen(st->out)] == '=')
                    snprintf(outdir, sizeof outdir, "%s", extra[q] + 3 + strlen(st->out));
            if (st->done && !strcmp(st->done, "metrics.json")) { /* eval: a file setting; its folder */
                char *slash = strrchr(outdir, '/');
                if (slash) *slash = 0;
            }
            uint64_t h = 0;
            int rc = mkdirs(outdir);
            if (!rc && st->inputs) rc = stage_hash(st, c, dir, &h);
            state_path(state, sizeof state, outdir, st);
            snprintf(main_out, sizeof main_out, "%s/%s", outdir, st->done ? st->done : "");
            int was = rc || !st->inputs || force ? 0 : state_read(state, h);
            if (rc) {
                status = lt_cli_fail("run", rc);
            } else if (was == 2 && access(main_out, F_OK) == 0) {
                printf("[%d/%d] %-9s up to date (%s), skipped\n", idx + 1, total, st->name, state);
                done[ndone++] = (stage_time){st->name, 0, 0, 0};
            } else {
                if (st->fresh && was == 0) { /* new inputs or settings: the old checkpoint is not a start */
                    char ck[4400];
                    snprintf(ck, sizeof ck, "%s/%s", outdir, st->fresh);
                    if (unlink(ck) == 0) lt_info("run: %s: inputs or settings changed, %s removed", st->name, ck);
                }
                printf("[%d/%d] %-9s %s...\n", idx + 1, total, st->name, was == 1 ? "resuming" : "running");
                fflush(stdout);
                double s0 = lt_seconds(), u0 = cpu_seconds();
                if (st->inputs && (rc = state_write(state, "running", h)) < 0) status = lt_cli_fail("run", rc);
                if (!status) status = st->run(ac, av);
                fflush(stdout);
                if (!status && st->inputs && (rc = state_write(state, "done", h)) < 0) status = lt_cli_fail("run", rc);
                double secs = lt_seconds() - s0, cpu = cpu_seconds() - u0;
                if (!status) printf("[%d/%d] %-9s done in %.1f s (CPU %.1f s)\n", idx + 1, total, st->name, secs, cpu);
                else fprintf(stderr, "longtail run: stage %s failed; run the same command again to resume\n", st->name);
                done[ndone++] = (stage_time){st->name, 1, secs, cpu};
            }
            if (!strcmp(st->name, "eval")) snprintf(metrics, sizeof metrics, "%s/metrics.json", outdir);
            free(av);
        }
    }
    lt_cli_preflight = 0;
    if (!status) {
        printf("\n== longtail run: summary (%s) ==\n%-10s %10s %10s\n", dir, "stage", "wall s", "CPU s");
        for (int i = 0; i < ndone; i++)
            if (done[i].ran) printf("%-10s %10.1f %10.1f\n", done[i].name, done[i].secs, done[i].cpu);
            else printf("%-10s %21s\n", done[i].name, "up to date");
        printf("%-10s %10.1f %10.1f\n", "total", lt_seconds() - t0, cpu_seconds() - c0);
        const char *boost = lt_config_str(c, "recommend.tail_boost", NULL);
        if (metrics[0]) print_metrics(metrics, boost && atof(boost) > 0 ? atof(boost) : 0.1);
        struct stat sb;
        char report[4300];
        snprintf(report, sizeof report, "%s/index.html", lt_config_str(c, "report.out", ""));
        if (!lt_config_has(c, "report.out")) snprintf(report, sizeof report, "%s/report/index.html", dir);
        if (stat(report, &sb) == 0) printf("\nreport: %s\n", report);
        printf("run: done in %.1f s (CPU %.1f s%s); outputs in %s/\n", lt_seconds() - t0, cpu_seconds() - c0,
               gpu ? ", GPU stages on cuda" : "", dir);
    }
    lt_config_free(c);
    return status;
}
