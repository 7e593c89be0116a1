/* bench/rec: one training epoch of the next-item recommender on Amazon Beauty, longtail beside an
 * equivalent PyTorch model (bench/rec_torch.py under /usr/bin/python3), in one run.
 *
 * longtail: exactly what `longtail train` runs per epoch (default sizes: dim 64, hidden 128, LSTM,
 * text + id items with id dropout 0.5, dropout 0.2, batch 128, max_len 50, chunk 4096, lr 3e-3 with
 * 100 warm-up steps and a cosine schedule over 30 epochs, clipping at 1): the data read through the
 * engine (lt_import of ../shared/datasets/amazon-beauty, lt_rec_split_make), training users bucketed
 * by length into batches in the trainer's shuffled order (the code of src/train/rec_train.c), and
 * lt_trainer_run driving lt_rec_train_batch + the trainer's norm and AdamW step. The epoch's time runs
 * from the trainer's start to the end of its last optimizer step; the validation and the checkpoint
 * that `longtail train` does after an epoch are not timed (the task's evaluate callback only stamps
 * the time). Text vectors: random (uniform in [-0.5, 0.5), 128 dims, the cost of any text vectors),
 * or the shards of --emb DIR (e.g. build/tools/tfidf-embed's).
 *
 * PyTorch: the same model (nn.Linear 128 -> 64 on the fixed text vectors + nn.Embedding rows zeroed
 * with p = 0.5, inputs gathered and scaled by sqrt(64), nn.LSTM over pack_padded_sequence, dropout 0.2,
 * nn.Linear 128 -> 64, logits u V^T over the whole catalog at every valid position, F.cross_entropy,
 * backward, clip_grad_norm_(1), torch.optim.AdamW with the same schedule) on the SAME batches in the
 * same order: this program writes them (and the text vectors) to a temporary folder the script reads.
 * PyTorch runs at torch.set_num_threads 1 and 2, one fresh process each, and longtail with 1 and 2
 * OpenMP threads (2 = all cores: `longtail train`'s default); each side's faster one counts, and the
 * ratio at longtail's default is printed too. Rounds alternate between the two sides.
 * With a CUDA device: the same epoch on the GPU (longtail --device cuda, math auto) beside PyTorch on
 * the GPU (LONGTAIL_BENCH_DEVICE=guard: longtail's side on the guarded device instead, bench/bench_device.h).
 *
 *   rec [--data DIR] [--emb DIR] [--epochs 1] [--rounds 1] [--json FILE] [--only cpu|gpu|longtail]
 *       [--threads 1,2] [--torch-threads 1,2] [--batch 128] [--max-len 50] [--dim 64] [--hidden 128] [--chunk 4096]
 *       [--keep DIR] [--max-batches K]
 * --max-batches K: only the first K batches of the epoch's order (profiling; not an epoch). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_device.h"
#include "bench_json.h"
#include "longtail/backend.h"
#include "longtail/data.h"
#include "longtail/embeddings.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/rec.h"
#include "longtail/recmodel.h"
#include "longtail/rng.h"
#include "rec_batches.h"

static char g_src[4096] = LT_SOURCE_DIR;

static void die(const char *what) {
    fprintf(stderr, "rec: %s: %s\n", what, lt_last_error());
    exit(1);
}

/* int32 little-endian: n_batches, then per batch B, T, lens[B], items[B * T] */
static int write_batches(const batches *bt, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int32_t nb = (int32_t)bt->n_batches;
    fwrite(&nb, 4, 1, f);
    for (int64_t k = 0; k < bt->n_batches; k++) {
        int32_t hd[2] = {(int32_t)bt->B[k], (int32_t)bt->T[k]};
        fwrite(hd, 4, 2, f);
        fwrite(bt->lens + bt->loff[k], 4, (size_t)bt->B[k], f);
        fwrite(bt->items + bt->off[k], 4, (size_t)(bt->B[k] * bt->T[k]), f);
    }
    return fclose(f);
}

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) || w != n ? -1 : 0;
}

/* ---- the longtail side: the trainer over those batches --------------------------------------------- */

typedef struct {
    lt_rec *m;
    const batches *bt;
    int64_t next, epochs;
    double t_start, t_end, t_batch, t_first; /* t_batch: inside lt_rec_train_batch; t_first: the first batch */
    double loss_sum;
} task_ctx;

static int micro(void *ctx, const lt_step *s, double *loss, int64_t *examples) {
    task_ctx *t = ctx;
    const batches *bt = t->bt;
    int64_t k = t->next++ % bt->n_batches;
    double t0 = lt_seconds();
    int rc = lt_rec_train_batch(t->m, bt->items + bt->off[k], bt->lens + bt->loff[k], bt->B[k], bt->T[k], s, loss);
    double dt = lt_seconds() - t0;
    t->t_batch += dt;
    if (t->next == 1) t->t_first = dt;
    t->loss_sum += *loss;
    *examples = bt->B[k];
    return rc;
}

static int stamp(void *ctx, int64_t step, double *metric) { /* called after the last optimizer step */
    task_ctx *t = ctx;
    (void)step;
    t->t_end = lt_seconds();
    *metric = 0;
    return 0;
}

typedef struct {
    double seconds, in_batches, first_batch, loss;
} lt_result;

/* One fresh model, `epochs` epochs over bt on backend be; -1 seconds on error (printed). */
static lt_result run_longtail(lt_backend *be, const lt_rec_config *rc_cfg, const float *text, const uint8_t *seen,
                              const batches *bt, int64_t epochs, const char *dir) {
    lt_result res = {-1, 0, 0, 0};
    lt_rec *m = NULL;
    uint64_t seed = 1;
    if (lt_rec_create(&m, be, rc_cfg, text, seen, lt_rng_key(seed, 0, LT_SITE_INIT)) < 0) {
        fprintf(stderr, "rec: model on %s: %s\n", lt_backend_name(be), lt_last_error());
        return res;
    }
    lt_trainer_cfg tc;
    lt_trainer_cfg_init(&tc); /* as longtail train sets it (src/cli/cmd_train.c), defaults */
    tc.optim.lr = 3e-3f, tc.optim.warmup_steps = 100, tc.optim.schedule = LT_SCHED_COSINE, tc.optim.weight_decay = 0;
    tc.optim.total_steps = 30 * bt->n_batches; /* the schedule of a default 30-epoch run */
    tc.seed = seed, tc.patience = 5, tc.log_every = 50, tc.ckpt_every = 500, tc.quiet = 1;
    tc.dir = dir, tc.name = "train", tc.model = "bench/rec";
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/train.ckpt.h5", dir);
    unlink(ckpt); /* never resume a previous round */
    task_ctx ctx = {.m = m, .bt = bt, .epochs = epochs};
    lt_task task = {.phase = "train", .ctx = &ctx, .first_step = 0, .last_step = epochs * bt->n_batches,
                    .unit = "users", .micro = micro, .evaluate = stamp, .metric = "none"};
    lt_trainer *tr = NULL;
    int rc = lt_trainer_open(&tr, lt_rec_params(m), NULL, &tc);
    if (!rc) {
        ctx.t_start = lt_seconds();
        rc = lt_trainer_run(tr, &task);
        if (rc == LT_TRAIN_EARLY) rc = 0;
    }
    if (tr) {
        int crc = lt_trainer_close(tr);
        if (!rc) rc = crc;
    }
    if (rc < 0) fprintf(stderr, "rec: training on %s: %s\n", lt_backend_name(be), lt_last_error());
    else res = (lt_result){ctx.t_end - ctx.t_start, ctx.t_batch, ctx.t_first, ctx.loss_sum / (double)(epochs * bt->n_batches)};
    lt_rec_free(m);
    unlink(ckpt);
    return res;
}

/* ---- the PyTorch side --------------------------------------------------------------------------------- */

typedef struct {
    double seconds, loss;
    int threads;
} torch_result;

/* math: "fp32", or "bf16" (PyTorch autocast to bf16, as longtail's bf16 math: bf16 GEMMs, fp32 weights) */
static torch_result run_torch(const char *dir, const lt_rec_config *c, int64_t epochs, const char *device, int threads,
                              const char *math) {
    char cmd[16384];
    torch_result r = {-1, 0, threads};
    snprintf(cmd, sizeof cmd,
             "${LONGTAIL_PYTHON:-/usr/bin/python3} %s/bench/rec_torch.py --dir %s --items %lld --text-dim %lld --dim %lld --hidden %lld "
             "--epochs %lld --device %s --threads %d --math %s 2>%s/torch-%s-%d.err",
             g_src, dir, (long long)c->n_items, (long long)c->text_dim, (long long)c->dim, (long long)c->hidden,
             (long long)epochs, device, threads, math, dir, device, threads);
    FILE *p = popen(cmd, "r");
    if (!p) return r;
    char line[2048] = "", why[256] = "";
    while (fgets(line, sizeof line, p)) {
        if (!why[0]) json_str(line, NULL, "skipped", why, sizeof why); /* bench/torch_peer.py: torch sees no such device */
        char *q = strstr(line, "\"seconds\": ");
        if (q) r.seconds = atof(q + 11);
        q = strstr(line, "\"loss\": ");
        if (q) r.loss = atof(q + 8);
    }
    int status = pclose(p);
    if (status == 0 && why[0]) {
        printf("  PyTorch (%s): skipped: %s\n", device, why);
        r.seconds = -1;
    } else if (status != 0 || r.seconds <= 0) {
        char err[4200], buf[512];
        snprintf(err, sizeof err, "%s/torch-%s-%d.err", dir, device, threads);
        FILE *e = fopen(err, "r");
        fprintf(stderr, "rec: PyTorch (%s, %d threads) failed:\n", device, threads);
        while (e && fgets(buf, sizeof buf, e)) fprintf(stderr, "  %s", buf);
        if (e) fclose(e);
        r.seconds = -1;
    }
    return r;
}

static void load_average(char *buf, size_t n) {
    snprintf(buf, n, "?");
    FILE *lf = fopen("/proc/loadavg", "r");
    if (!lf) return;
    if (!fgets(buf, (int)n, lf)) snprintf(buf, n, "?");
    buf[strcspn(buf, "\n")] = 0;
    fclose(lf);
}

int main(int argc, char **argv) {
    const char *data = NULL, *emb = NULL, *json = NULL, *only = NULL, *keep = NULL, *tthreads = "1,2", *lthreads = "1,2";
    int64_t epochs = 1, rounds = 1, max_batches = 0;
    lt_rec_config rc_cfg;
    lt_rec_config_init(&rc_cfg);
    int64_t batch = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--emb") && i + 1 < argc) emb = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep = argv[++i];
        else if (!strcmp(argv[i], "--torch-threads") && i + 1 < argc) tthreads = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) lthreads = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--max-batches") && i + 1 < argc) max_batches = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) rc_cfg.max_len = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc) rc_cfg.dim = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--hidden") && i + 1 < argc) rc_cfg.hidden = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--chunk") && i + 1 < argc) rc_cfg.chunk = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: rec [--data DIR] [--emb DIR] [--epochs 1] [--rounds 1] [--json FILE] "
                            "[--only cpu|gpu|longtail] [--threads 1,2] [--torch-threads 1,2] [--batch 128] [--max-len 50] [--dim 64] "
                            "[--hidden 128] [--chunk 4096] [--keep DIR] [--max-batches K]\n");
            return 2;
        }
    }
    if (epochs < 1 || rounds < 1 || batch < 1) return fprintf(stderr, "rec: epochs, rounds, batch >= 1\n"), 2;
    if (getenv("LONGTAIL_SOURCE_DIR")) snprintf(g_src, sizeof g_src, "%s", getenv("LONGTAIL_SOURCE_DIR"));
    char dpath[4200];
    if (!data) snprintf(dpath, sizeof dpath, "%s/../shared/datasets/amazon-beauty", g_src), data = dpath;
    struct stat st;
    if (stat(data, &st) != 0) {
        printf("rec: skipped: %s not found\n", data);
        char tmp[4200], why[4300];
        FILE *f = json ? bench_json_open(json, tmp, sizeof tmp) : NULL;
        if (f) { /* the keys gpu-check reads, null, and why */
            snprintf(why, sizeof why, "%s not found", data);
            fprintf(f, "{\"epochs\": %lld", (long long)epochs);
            bench_json_str(f, "skipped", why);
            bench_json_meas(f, "cpu_longtail_s", -1, 3), bench_json_meas(f, "gpu_longtail_s", -1, 4);
            bench_json_meas(f, "gpu_torch_s", -1, 4);
            fputs("}\n", f);
            if (bench_json_close(f, tmp, json) < 0) return 1;
        }
        return 0;
    }

    /* the data, through the engine: import in memory, the split, the training users' batches */
    double t0 = lt_seconds();
    lt_import_opts io = {.format = "amazon-beauty", .in = data};
    lt_catalog cat;
    lt_events ev;
    lt_import_report rep;
    if (lt_import(&io, &cat, &ev, &rep) < 0) die("import");
    lt_rec_split sp;
    if (lt_rec_split_make(&ev, NULL, &sp) < 0) die("split");
    rc_cfg.n_items = ev.n_items;
    uint8_t *seen = malloc((size_t)ev.n_items);
    for (int64_t i = 0; i < ev.n_items; i++) seen[i] = sp.freq[i] > 0;
    float *text = NULL;
    if (emb) {
        int64_t n = 0;
        if (lt_emb_load_all(emb, &text, &n, &rc_cfg.text_dim) < 0) die("text embeddings");
        if (n != ev.n_items) return fprintf(stderr, "rec: %s: %lld embeddings for %lld items\n", emb, (long long)n, (long long)ev.n_items), 1;
    } else {
        rc_cfg.text_dim = 128;
        text = malloc(sizeof *text * (size_t)(ev.n_items * 128));
        lt_rng r;
        lt_rng_init(&r, 7, 0);
        for (int64_t i = 0; i < ev.n_items * 128; i++) text[i] = lt_rng_next_uniform(&r) - 0.5f;
    }
    batches bt;
    make_batches(&sp, batch, rc_cfg.max_len, 1, 0, &bt);
    if (max_batches > 0 && max_batches < bt.n_batches) { /* profiling: the first K batches of the order */
        bt.n_batches = max_batches, bt.n_users = bt.positions = bt.padded = 0;
        for (int64_t k = 0; k < max_batches; k++) {
            bt.n_users += bt.B[k], bt.padded += bt.B[k] * (bt.T[k] - 1);
            for (int64_t i = 0; i < bt.B[k]; i++) bt.positions += bt.lens[bt.loff[k] + i] - 1;
        }
    }
    char dir[4200];
    if (keep) {
        snprintf(dir, sizeof dir, "%s", keep);
        mkdir(dir, 0755);
    } else {
        snprintf(dir, sizeof dir, "/tmp/lt_benchrec_XXXXXX");
        if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/batches.i32", dir);
    int werr = write_batches(&bt, path);
    snprintf(path, sizeof path, "%s/text.f32", dir);
    werr |= write_file(path, text, sizeof *text * (size_t)(ev.n_items * rc_cfg.text_dim));
    snprintf(path, sizeof path, "%s/seen.u8", dir);
    werr |= write_file(path, seen, (size_t)ev.n_items);
    if (werr) return fprintf(stderr, "rec: cannot write the batches to %s\n", dir), 1;
    double t_data = lt_seconds() - t0;

    lt_backend *cpu = lt_backend_cpu();
    lt_backend_set_math(cpu, lt_backend_bf16_native(cpu) ? LT_MATH_BF16 : LT_MATH_FP32); /* train's --math auto */
    char load[128];
    load_average(load, sizeof load);
    printf("rec: one epoch of the recommender on Amazon Beauty, longtail vs PyTorch\n");
    printf("%s\n", lt_backend_describe(cpu));
    printf("load average at start: %s\n", load);
    printf("data: %lld users, %lld items, %lld interactions (lt_import + split in %.1f s); %lld training users in %lld "
           "batches of <= %lld, %lld positions (%lld rows with padding); text: %s (%lld dims)\n",
           (long long)ev.n_users, (long long)ev.n_items, (long long)ev.n_events, t_data, (long long)bt.n_users,
           (long long)bt.n_batches, (long long)batch, (long long)bt.positions, (long long)bt.padded,
           emb ? emb : "random vectors", (long long)rc_cfg.text_dim);
    printf("model: LSTM tower, dim %lld, hidden %lld, max_len %lld, full softmax over %lld items in chunks of %lld; "
           "%lld epoch%s, best of %lld round%s\n",
           (long long)rc_cfg.dim, (long long)rc_cfg.hidden, (long long)rc_cfg.max_len, (long long)rc_cfg.n_items,
           (long long)rc_cfg.chunk, (long long)epochs, epochs == 1 ? "" : "s", (long long)rounds, rounds == 1 ? "" : "s");
    fflush(stdout);

    int maxt = omp_get_max_threads(), nlt = 0, nth = 0, best_t = -1, best_l = -1, def_l = -1;
    lt_result lts[8];
    int ltn[8];
    torch_result th[8];
    for (const char *p = lthreads; *p && nlt < 8;) { /* longtail's thread counts (omp_set_num_threads) */
        int n = atoi(p);
        if (n >= 1 && n <= maxt) ltn[nlt] = n, lts[nlt++] = (lt_result){-1, 0, 0, 0};
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    for (const char *p = tthreads; *p && nth < 8;) {
        th[nth++] = (torch_result){-1, 0, atoi(p)};
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    double users = (double)bt.n_users * (double)epochs;
    if (!only || !strcmp(only, "cpu") || !strcmp(only, "longtail")) {
        for (int64_t r = 0; r < rounds; r++) { /* rounds alternate between the two sides */
            for (int k = 0; k < nlt; k++) {
                omp_set_num_threads(ltn[k]);
                lt_result a = run_longtail(cpu, &rc_cfg, text, seen, &bt, epochs, dir);
                if (a.seconds > 0 && (lts[k].seconds < 0 || a.seconds < lts[k].seconds)) lts[k] = a;
            }
            omp_set_num_threads(maxt);
            for (int k = 0; k < nth && strcmp(only ? only : "", "longtail"); k++) {
                torch_result b = run_torch(dir, &rc_cfg, epochs, "cpu", th[k].threads, "fp32");
                if (b.seconds > 0 && (th[k].seconds < 0 || b.seconds < th[k].seconds)) th[k] = b;
            }
        }
        for (int k = 0; k < nth; k++)
            if (th[k].seconds > 0 && (best_t < 0 || th[k].seconds < th[best_t].seconds)) best_t = k;
        for (int k = 0; k < nlt; k++) {
            if (lts[k].seconds > 0 && (best_l < 0 || lts[k].seconds < lts[best_l].seconds)) best_l = k;
            if (ltn[k] == maxt) def_l = k;
        }
        printf("\n  one epoch (%lld users, %lld positions), fp32, the CPU's %d cores\n", (long long)bt.n_users,
               (long long)bt.positions, maxt);
        for (int k = 0; k < nlt; k++) {
            char name[64];
            snprintf(name, sizeof name, "longtail, %d thread%s%s", ltn[k], ltn[k] == 1 ? "" : "s",
                     ltn[k] == maxt ? " (default)" : "");
            if (lts[k].seconds > 0)
                printf("  %-28s %9.2f s/epoch  %8.0f users/s  mean loss %.5f  (lt_rec_train_batch %.2f s, optimizer + "
                       "rest %.2f s; first batch %.3f s)%s\n",
                       name, lts[k].seconds, users / lts[k].seconds, lts[k].loss, lts[k].in_batches,
                       lts[k].seconds - lts[k].in_batches, lts[k].first_batch, k == best_l && nlt > 1 ? "  (best)" : "");
            else printf("  %-28s failed\n", name);
        }
        for (int k = 0; k < nth; k++) {
            char name[64];
            snprintf(name, sizeof name, "PyTorch, %d thread%s", th[k].threads, th[k].threads == 1 ? "" : "s");
            if (th[k].seconds > 0)
                printf("  %-28s %9.2f s/epoch  %8.0f users/s  mean loss %.5f%s\n", name, th[k].seconds,
                       users / th[k].seconds, th[k].loss, k == best_t ? "  (best)" : "");
            else if (!only || strcmp(only, "longtail")) printf("  %-28s skipped: /usr/bin/python3 with torch did not run\n", name);
        }
        if (def_l >= 0 && best_t >= 0 && lts[def_l].seconds > 0)
            printf("  %-28s %9.2fx (PyTorch's best / longtail's default %d threads)\n", "ratio at longtail's default",
                   th[best_t].seconds / lts[def_l].seconds, maxt);
        if (best_l >= 0 && best_t >= 0)
            printf("  %-28s %9.2fx (PyTorch s / longtail s, each at its best thread count; goal >= 2)\n", "ratio",
                   th[best_t].seconds / lts[best_l].seconds);
        fflush(stdout);
    }

    lt_result g = {-1, 0, 0, 0};
    torch_result gt = {-1, 0, 0};
    char gdesc[512] = "";
    if (!only || !strcmp(only, "gpu")) {
        lt_backend *gpu = NULL;
        if (bench_gpu(&gpu) < 0) {
            printf("\n  gpu: skipped: %s\n", lt_last_error());
        } else {
            lt_backend_set_math(gpu, lt_backend_bf16_native(gpu) ? LT_MATH_BF16 : LT_MATH_FP32);
            snprintf(gdesc, sizeof gdesc, "%s", lt_backend_describe(gpu));
            printf("\n  %s\n  one epoch on the GPU, %s math (longtail train --device cuda's default)\n", gdesc,
                   lt_math_name(lt_backend_math(gpu)));
            for (int64_t r = 0; r < rounds; r++) {
                lt_result a = run_longtail(gpu, &rc_cfg, text, seen, &bt, epochs, dir);
                if (a.seconds > 0 && (g.seconds < 0 || a.seconds < g.seconds)) g = a;
                torch_result b = run_torch(dir, &rc_cfg, epochs, "cuda", 1, lt_math_name(lt_backend_math(gpu)));
                if (b.seconds > 0 && (gt.seconds < 0 || b.seconds < gt.seconds)) gt = b;
            }
            if (g.seconds > 0)
                printf("  %-28s %9.3f s/epoch  %8.0f users/s  mean loss %.5f\n", "longtail (cuda)", g.seconds,
                       users / g.seconds, g.loss);
            else printf("  %-28s failed (see above)\n", "longtail (cuda)");
            if (gt.seconds > 0)
                printf("  %-28s %9.3f s/epoch  %8.0f users/s  mean loss %.5f\n",
                       lt_backend_math(gpu) == LT_MATH_BF16 ? "PyTorch (cuda, bf16 autocast)" : "PyTorch (cuda, fp32)",
                       gt.seconds, users / gt.seconds, gt.loss);
            else printf("  %-28s skipped or failed (see above)\n", "PyTorch (cuda)");
            printf("  times include: longtail: the epoch's steps from host batches (each batch uploaded in its step, the\n"
                   "  first step's set-up included); PyTorch: the steps only (batches uploaded before timing, after a\n"
                   "  warm-up step). Same math on both (%s).\n", lt_math_name(lt_backend_math(gpu)));
            if (g.seconds > 0 && gt.seconds > 0) printf("  %-28s %9.2fx (PyTorch s / longtail s)\n", "ratio", gt.seconds / g.seconds);
            lt_backend_release(gpu);
        }
    }

    if (json) {
        char tmp[4200];
        FILE *f = bench_json_open(json, tmp, sizeof tmp);
        if (!f) return 1;
        double t1 = -1, t2 = -1, l1 = -1, l2 = -1, lb = best_l >= 0 ? lts[best_l].seconds : -1;
        double tb = best_t >= 0 ? th[best_t].seconds : -1, ld = def_l >= 0 ? lts[def_l].seconds : -1;
        for (int k = 0; k < nth; k++) {
            if (th[k].threads == 1) t1 = th[k].seconds;
            if (th[k].threads == 2) t2 = th[k].seconds;
        }
        for (int k = 0; k < nlt; k++) {
            if (ltn[k] == 1) l1 = lts[k].seconds;
            if (ltn[k] == 2) l2 = lts[k].seconds;
        }
        fprintf(f, "{\"users\": %lld, \"items\": %lld, \"batches\": %lld, \"positions\": %lld, \"epochs\": %lld, "
                   "\"cpu_threads\": %d, \"cpu_longtail_s\": %.3f, \"cpu_longtail_threads\": %d, "
                   "\"cpu_longtail_users_s\": %.1f, \"cpu_longtail_1t_s\": %.3f, \"cpu_longtail_2t_s\": %.3f, "
                   "\"cpu_torch_1t_s\": %.3f, \"cpu_torch_2t_s\": %.3f, \"cpu_torch_s\": %.3f, \"cpu_torch_threads\": %d, "
                   "\"cpu_ratio\": %.3f, \"cpu_ratio_at_default\": %.3f, \"gpu_device\": \"%s\"",
                (long long)bt.n_users, (long long)rc_cfg.n_items, (long long)bt.n_batches, (long long)bt.positions,
                (long long)epochs, maxt, lb, best_l >= 0 ? ltn[best_l] : 0, lb > 0 ? users / lb : -1, l1, l2, t1, t2, tb,
                best_t >= 0 ? th[best_t].threads : 0, lb > 0 && tb > 0 ? tb / lb : -1, ld > 0 && tb > 0 ? tb / ld : -1,
                bench_gpu_name());
        bench_json_meas(f, "gpu_longtail_s", g.seconds, 4); /* null: not run, failed, or skipped */
        bench_json_meas(f, "gpu_torch_s", gt.seconds, 4);
        bench_json_meas(f, "gpu_ratio", g.seconds > 0 && gt.seconds > 0 ? gt.seconds / g.seconds : -1, 3);
        fputs("}\n", f);
        if (bench_json_close(f, tmp, json) < 0) return 1;
    }
    if (!keep) {
        const char *files[] = {"batches.i32", "text.f32", "seen.u8", "train_log.tsv", "train_loss.svg", "train.best.h5",
                               "torch-cpu-1.err", "torch-cpu-2.err", "torch-cuda-1.err"};
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        for (int k = 0; k < nth; k++) {
            snprintf(path, sizeof path, "%s/torch-cpu-%d.err", dir, th[k].threads);
            unlink(path);
        }
        rmdir(dir);
    }
    free_batches(&bt);
    free(text), free(seen);
    lt_rec_split_free(&sp);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    return 0;
}
