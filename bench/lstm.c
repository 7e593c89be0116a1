/* bench/lstm: one LSTM training step (forward + backward through time), longtail beside PyTorch, in one run.
 *
 * Input 128, hidden 256, 50 steps, batch 128, one layer, full-length sequences (the defaults; every size
 * is an option). A step is lt_rnn_fwd with its reserve + lt_rnn_bwd with the gradient of every weight,
 * bias and of the input, for a fixed upstream gradient of y; PyTorch runs torch.nn.LSTM forward +
 * y.backward(dy) with x.requires_grad (bench/lstm_torch.py under /usr/bin/python3), given its best
 * setting here: torch.set_num_threads 1 and 2, with OpenBLAS's kernel family for this CPU and with its
 * own choice. Rounds alternate between the two sides; each figure is the best of all rounds.
 * With a CUDA device: the same step on the GPU, the hand-written kernels beside cuDNN through the same
 * op (lt_rnn_set_impl), and PyTorch on the GPU (LONGTAIL_BENCH_DEVICE=guard: longtail's side on the guarded
 * device instead, bench/bench_device.h).
 *
 *   lstm [--rounds 3] [--reps 5] [--json FILE] [--only cpu|gpu|longtail] [--cell lstm|gru]
 *        [--input 128] [--hidden 256] [--seq 50] [--batch 128] [--varlen]
 * --varlen: sequence b has 1 + (37 b) mod T steps (PyTorch through pack_padded_sequence), the GFLOP/s
 * then count the real steps only. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_device.h"
#include "bench_json.h"
#include "cpu/cpu.h"
#include "longtail/backend.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"
#include "longtail/rng.h"

typedef struct {
    lt_cell cell;
    int64_t I, H, T, B;
    int varlen; /* lens[b] = 1 + (37 b) mod T (both sides), else every sequence full */
} shape;

static int32_t len_of(const shape *s, int64_t b) { return s->varlen ? (int32_t)(1 + (37 * b) % s->T) : (int32_t)s->T; }

static char g_src[4096] = LT_SOURCE_DIR;

static lt_tensor rnd(lt_backend *be, int ndim, const int64_t *sh, float scale, uint64_t seed) {
    lt_tensor t, h;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= sh[i];
    float *p = malloc(sizeof(float) * (size_t)n);
    lt_rng r;
    lt_rng_init(&r, seed, 0);
    for (int64_t i = 0; i < n; i++) p[i] = scale * (2 * lt_rng_next_uniform(&r) - 1);
    if (lt_tensor_new(&t, be, LT_F32, ndim, sh) < 0) exit((fprintf(stderr, "lstm: %s\n", lt_last_error()), 1));
    h = lt_view(p, LT_F32, LT_CPU, ndim, sh);
    if (lt_tensor_copy(be, &t, &h) < 0) exit((fprintf(stderr, "lstm: %s\n", lt_last_error()), 1));
    free(p);
    return t;
}

/* Best ms per training step over reps (after one warm-up); -1 on error (printed), -2 when the op is
 * missing on this backend. */
static double g_fwd_ms, g_bwd_ms; /* the split of the last time_longtail's best step */

static double time_longtail(lt_backend *be, const shape *s, int reps) {
    int64_t G = lt_cell_gates(s->cell), sx[3] = {s->B, s->T, s->I}, sy[3] = {s->B, s->T, s->H};
    int64_t swi[2] = {G * s->H, s->I}, swh[2] = {G * s->H, s->H}, sb[1] = {G * s->H};
    float k = 1.0f / sqrtf((float)s->H);
    lt_tensor x = rnd(be, 3, sx, 1, 1), dy = rnd(be, 3, sy, 1, 2), wih = rnd(be, 2, swi, k, 3), whh = rnd(be, 2, swh, k, 4);
    lt_tensor bih = rnd(be, 1, sb, k, 5), bhh = rnd(be, 1, sb, k, 6);
    lt_tensor y = {0}, dx = {0}, dwih = {0}, dwhh = {0}, dbih = {0}, dbhh = {0}, ws = {0};
    int rc = 0;
    size_t bytes = 0;
    rc |= lt_tensor_new(&y, be, LT_F32, 3, sy) | lt_tensor_new(&dx, be, LT_F32, 3, sx);
    rc |= lt_tensor_new(&dwih, be, LT_F32, 2, swi) | lt_tensor_new(&dwhh, be, LT_F32, 2, swh);
    rc |= lt_tensor_new(&dbih, be, LT_F32, 1, sb) | lt_tensor_new(&dbhh, be, LT_F32, 1, sb);
    rc |= lt_rnn_reserve_bytes(be, s->cell, s->B, s->T, s->I, s->H, &bytes);
    int64_t nb = (int64_t)bytes;
    if (!rc) rc = lt_tensor_new(&ws, be, LT_U8, 1, &nb);
    int32_t *lens = malloc(sizeof(int32_t) * (size_t)s->B);
    for (int64_t b = 0; b < s->B; b++) lens[b] = len_of(s, b);
    lt_tensor l = lt_view1(lens, LT_I32, LT_CPU, s->B);
    double best = 1e30;
    for (int i = 0; i <= reps && rc >= 0; i++) {
        double t = lt_seconds(), tf = 0;
        rc = lt_rnn_fwd(be, s->cell, &y, NULL, NULL, &ws, &x, &wih, &whh, &bih, &bhh, NULL, NULL, &l);
        if (rc >= 0) rc = lt_backend_sync(be);
        tf = lt_seconds() - t;
        if (rc >= 0)
            rc = lt_rnn_bwd(be, s->cell, &dx, &dwih, &dwhh, &dbih, &dbhh, NULL, NULL, &dy, NULL, NULL, &ws, &x, &y, &wih,
                            &whh, &bih, &bhh, NULL, NULL, &l);
        if (rc >= 0) rc = lt_backend_sync(be);
        t = lt_seconds() - t;
        if (i > 0 && t < best) best = t, g_fwd_ms = tf * 1e3, g_bwd_ms = (t - tf) * 1e3;
    }
    lt_tensor *all[] = {&x, &dy, &wih, &whh, &bih, &bhh, &y, &dx, &dwih, &dwhh, &dbih, &dbhh, &ws};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]->data) lt_tensor_free(be, all[i]);
    free(lens);
    if (rc == LT_ENOTSUP) return -2;
    if (rc < 0) {
        fprintf(stderr, "lstm: %s\n", lt_last_error());
        return -1;
    }
    return best * 1e3;
}

/* PyTorch: ms per step (best over its thread settings), or -1; *threads gets the winner. */
static double torch_once(const shape *s, int reps, const char *device, const char *core, int *threads) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "env %s%s ${LONGTAIL_PYTHON:-/usr/bin/python3} %s/bench/lstm_torch.py --cell %s --input %lld --hidden %lld --seq %lld "
             "--batch %lld --reps %d --threads 1,%d --device %s%s 2>/dev/null",
             core ? "OPENBLAS_CORETYPE=" : "-u OPENBLAS_CORETYPE", core ? core : "", g_src,
             s->cell == LT_CELL_LSTM ? "lstm" : "gru", (long long)s->I, (long long)s->H, (long long)s->T,
             (long long)s->B, reps, omp_get_max_threads(), device, s->varlen ? " --varlen" : "");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024] = "";
    double ms = -1;
    if (fgets(line, sizeof line, p)) {
        char *q = strstr(line, "\"ms_per_step\": ");
        if (q) ms = atof(q + 15);
        q = strstr(line, "\"threads\": ");
        if (q && threads) *threads = atoi(q + 11);
    }
    pclose(p);
    return ms;
}

static void shape_str(const shape *s, char *buf, size_t n) {
    snprintf(buf, n, "%s I %lld H %lld T %lld B %lld%s", s->cell == LT_CELL_LSTM ? "LSTM" : "GRU", (long long)s->I,
             (long long)s->H, (long long)s->T, (long long)s->B, s->varlen ? " lens 1 + 37b mod T" : "");
}

int main(int argc, char **argv) {
    int rounds = 3, reps = 5;
    const char *json = NULL, *only = NULL;
    shape s = {.cell = LT_CELL_LSTM, .I = 128, .H = 256, .T = 50, .B = 128, .varlen = 0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--cell") && i + 1 < argc) s.cell = strcmp(argv[++i], "gru") ? LT_CELL_LSTM : LT_CELL_GRU;
        else if (!strcmp(argv[i], "--input") && i + 1 < argc) s.I = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--hidden") && i + 1 < argc) s.H = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc) s.T = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) s.B = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--varlen")) s.varlen = 1;
        else {
            fprintf(stderr, "usage: lstm [--rounds R] [--reps N] [--json FILE] [--only cpu|gpu|longtail] [--cell lstm|gru] "
                            "[--input I] [--hidden H] [--seq T] [--batch B] [--varlen]\n");
            return 2;
        }
    }
    if (getenv("LONGTAIL_SOURCE_DIR")) snprintf(g_src, sizeof g_src, "%s", getenv("LONGTAIL_SOURCE_DIR"));
    char desc[128];
    shape_str(&s, desc, sizeof desc);
    double steps = 0;
    for (int64_t b = 0; b < s.B; b++) steps += len_of(&s, b);
    double G = lt_cell_gates(s.cell), flops = 2.0 * steps * G * s.H * (3.0 * s.I + 3.0 * s.H);
    lt_backend *cpu = lt_backend_cpu();
    printf("%s\n", lt_backend_describe(cpu));
    /* other processes take turns with a step's per-time-step barriers: say how busy the machine was */
    char load[64] = "?";
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (!fgets(load, sizeof load, lf)) snprintf(load, sizeof load, "?");
        load[strcspn(load, "\n")] = 0;
        fclose(lf);
    }
    printf("load average at start: %s\n", load);

    double lt_ms = -1, th_ms = -1, lt_fwd = 0, lt_bwd = 0;
    int th_threads = 0;
    char th_impl[128] = "";
    if (!only || !strcmp(only, "cpu") || !strcmp(only, "longtail")) {
        const char *core = lt__cpu_coretype();
        for (int r = 0; r < rounds; r++) {
            double a = time_longtail(cpu, &s, reps);
            if (a > 0 && (lt_ms < 0 || a < lt_ms)) lt_ms = a, lt_fwd = g_fwd_ms, lt_bwd = g_bwd_ms;
            for (int k = 0; k < 2 && strcmp(only ? only : "", "longtail"); k++) { /* OpenBLAS's kernel family for this CPU, then torch's own choice */
                int th = 0;
                double b = torch_once(&s, reps, "cpu", k == 0 ? core : NULL, &th);
                if (b > 0 && (th_ms < 0 || b < th_ms))
                    th_ms = b, th_threads = th, snprintf(th_impl, sizeof th_impl, "%s", k == 0 && core ? core : "own kernels");
            }
        }
        printf("\n  one training step (fwd + bwd), %s, fp32, %d CPU threads\n", desc, omp_get_max_threads());
        printf("  %-22s %10.2f ms/step  %7.1f GFLOP/s  (forward %.2f ms, backward %.2f ms)\n", "longtail", lt_ms,
               lt_ms > 0 ? flops / lt_ms * 1e-6 : 0, lt_fwd, lt_bwd);
        if (th_ms > 0)
            printf("  %-22s %10.2f ms/step  %7.1f GFLOP/s  (best: torch.set_num_threads(%d), OpenBLAS %s)\n",
                   s.cell == LT_CELL_LSTM ? "PyTorch nn.LSTM" : "PyTorch nn.GRU", th_ms, flops / th_ms * 1e-6, th_threads,
                   th_impl);
        else printf("  %-22s skipped: /usr/bin/python3 with torch did not run\n", "PyTorch");
        if (lt_ms > 0 && th_ms > 0) printf("  %-22s %10.2fx (PyTorch ms / longtail ms; goal >= 2)\n", "ratio", th_ms / lt_ms);
    }

    double gn = -1, gc = -1, gt = -1;
    if (!only || !strcmp(only, "gpu")) {
        lt_backend *gpu = NULL;
        if (bench_gpu(&gpu) < 0) {
            printf("\n  gpu: skipped: %s\n", lt_last_error());
        } else {
            printf("\n  %s\n  one training step on the GPU, %s, %s math\n", lt_backend_describe(gpu), desc,
                   lt_math_name(lt_backend_math(gpu)));
            for (int r = 0; r < rounds; r++) {
                double a = time_longtail(gpu, &s, reps);
                if (a > 0 && (gn < 0 || a < gn)) gn = a;
                if (lt_rnn_set_impl(gpu, LT_RNN_CUDNN) == 0) {
                    double b = time_longtail(gpu, &s, reps);
                    if (b > 0 && (gc < 0 || b < gc)) gc = b;
                    lt_rnn_set_impl(gpu, LT_RNN_NATIVE);
                }
                double c = torch_once(&s, reps, "cuda", NULL, NULL);
                if (c > 0 && (gt < 0 || c < gt)) gt = c;
            }
            if (gn > 0) printf("  %-22s %10.3f ms/step\n", "longtail hand-written", gn);
            else printf("  %-22s skipped: the recurrent ops are not in this build's CUDA backend\n", "longtail hand-written");
            if (gc > 0) printf("  %-22s %10.3f ms/step  (hand-written / cuDNN: %.2fx the time)\n", "longtail cuDNN", gc,
                               gn > 0 ? gn / gc : 0);
            else printf("  %-22s skipped: %s\n", "longtail cuDNN", "lt_rnn_set_impl(LT_RNN_CUDNN) refused or failed");
            if (gt > 0) printf("  %-22s %10.3f ms/step\n", "PyTorch (cuDNN)", gt);
            else printf("  %-22s skipped: bench/lstm_torch.py --device cuda gave no time (no torch, or no CUDA device for it)\n",
                        "PyTorch (cuDNN)");
            printf("  times include, both sides: one forward + backward with inputs and weights already on the GPU\n"
                   "  (longtail: an extra sync between them), best after a warm-up; fp32 on both (PyTorch: TF32 off)\n");
            lt_backend_release(gpu);
        }
    }

    if (json) { /* a figure not measured (that side skipped or failed) is null */
        char tmp[4200];
        FILE *f = bench_json_open(json, tmp, sizeof tmp);
        if (!f) return 1;
        fprintf(f, "{\"shape\": \"%s\", \"cpu_threads\": %d, \"cpu_torch_threads\": %d, \"gpu_device\": \"%s\"", desc,
                omp_get_max_threads(), th_threads, bench_gpu_name());
        bench_json_meas(f, "cpu_longtail_ms", lt_ms, 3);
        bench_json_meas(f, "cpu_torch_ms", th_ms, 3);
        bench_json_meas(f, "cpu_ratio", lt_ms > 0 && th_ms > 0 ? th_ms / lt_ms : -1, 3);
        bench_json_meas(f, "gpu_native_ms", gn, 4);
        bench_json_meas(f, "gpu_cudnn_ms", gc, 4);
        bench_json_meas(f, "gpu_torch_ms", gt, 4);
        bench_json_meas(f, "gpu_native_vs_cudnn_ratio", gn > 0 && gc > 0 ? gc / gn : -1, 3);
        bench_json_meas(f, "gpu_torch_ratio", gn > 0 && gt > 0 ? gt / gn : -1, 3);
        fputs("}\n", f);
        if (bench_json_close(f, tmp, json) < 0) return 1;
    }
    return 0;
}
