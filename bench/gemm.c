/* bench/gemm: longtail's GEMM beside the best this machine gives, in one run.
 *
 * "Best" is measured, not assumed: the same BLAS library is timed in child processes under every
 * OpenBLAS kernel family this CPU can execute (and its own default choice), since that choice is
 * made once per process. longtail's figure is lt_matmul through the CPU backend, as models call
 * it. Rounds alternate between them, and each figure is the best of all rounds, so a noisy
 * neighbour hurts both alike. On a machine with a CUDA device it also reports lt_matmul on the
 * GPU in fp32, tf32 and bf16 math (n = 8192, or --n if larger; with LONGTAIL_BENCH_DEVICE=guard on the guarded
 * device at --n: bench/bench_device.h).
 *
 *   gemm [--n 2048] [--reps 5] [--rounds 3] [--json FILE]
 *   gemm --raw --n N --reps R     (internal: one BLAS measurement, as the parent configured it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_device.h"
#include "bench_json.h"
#include "cpu/cpu.h"
#include "longtail/backend.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"
#include "longtail/rng.h"

static void fill_random(float *x, int64_t n, uint64_t seed) {
    lt_rng r;
    lt_rng_init(&r, seed, 0);
    for (int64_t i = 0; i < n; i++) x[i] = lt_rng_next_uniform(&r) - 0.5f;
}

typedef int (*gemm_fn)(void *ctx, int n);

/* Best seconds per call over reps calls after one warm-up. */
static double best_time(gemm_fn f, void *ctx, int n, int reps) {
    if (f(ctx, n) < 0) return -1;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = lt_seconds();
        if (f(ctx, n) < 0) return -1;
        t = lt_seconds() - t;
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    lt_backend *be;
    lt_tensor a, b, c;
} mm_ctx;

static int run_longtail(void *p, int n) {
    mm_ctx *m = p;
    int rc = lt_matmul(m->be, &m->c, &m->a, 0, &m->b, 0, 1.0f, 0.0f);
    return rc < 0 ? rc : lt_backend_sync(m->be);
}

typedef struct {
    float *a, *b, *c;
} raw_ctx;

static int run_raw(void *p, int n) {
    raw_ctx *r = p;
    lt__sgemm(LT_CBLAS_ROW_MAJOR, LT_CBLAS_NO_TRANS, LT_CBLAS_NO_TRANS, n, n, n, 1.0f, r->a, n, r->b, n, 0.0f, r->c, n);
    return 0;
}

static double gflops(int n, double t) { return t > 0 ? 2.0 * n * (double)n * n / t / 1e9 : 0; }

/* Child mode: time the loaded BLAS exactly as this process's environment configures it. */
static int raw_main(int n, int reps) {
    lt_log_set_level(LT_LOG_ERROR); /* the child measures the default on purpose: no warning */
    if (lt__blas_open(0) < 0) {
        fprintf(stderr, "%s\n", lt_last_error());
        return 1;
    }
    raw_ctx r = {malloc(sizeof(float) * n * n), malloc(sizeof(float) * n * n), malloc(sizeof(float) * n * n)};
    fill_random(r.a, (int64_t)n * n, 1);
    fill_random(r.b, (int64_t)n * n, 2);
    double t = best_time(run_raw, &r, n, reps);
    printf("%.3f %s\n", gflops(n, t), lt__blas_describe());
    free(r.a), free(r.b), free(r.c);
    return 0;
}

typedef struct {
    const char *label;  /* shown in the table */
    const char *core;   /* OPENBLAS_CORETYPE for the child; NULL = library default */
    double best;
    char desc[200];
} candidate;

static double run_child(const char *self, candidate *c, int n, int reps) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s%s %s --raw --n %d --reps %d", c->core ? "env OPENBLAS_CORETYPE=" : "env -u OPENBLAS_CORETYPE",
             c->core ? c->core : "", self, n, reps);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double g = -1;
    char line[512] = "";
    if (fgets(line, sizeof line, p) && sscanf(line, "%lf", &g) == 1) {
        char *sp = strchr(line, ' ');
        if (sp) {
            snprintf(c->desc, sizeof c->desc, "%s", sp + 1);
            c->desc[strcspn(c->desc, "\n")] = 0;
        }
    }
    pclose(p);
    return g;
}

static void gpu_section(FILE *json, int n, int reps) {
    lt_backend *be;
    if (bench_gpu(&be) < 0) {
        printf("cuda: skipped: %s\n", lt_last_error());
        return;
    }
    int gn = n < 8192 && !bench_guard_mode() ? 8192 : n; /* large enough to keep the GPU busy */
    printf("\ncuda: %s, n = %d\n", lt_backend_describe(be), gn);
    float *h = malloc(sizeof(float) * (size_t)gn * gn);
    fill_random(h, (int64_t)gn * gn, 3);
    int64_t s[2] = {gn, gn};
    mm_ctx m = {.be = be};
    lt_tensor host = lt_view(h, LT_F32, LT_CPU, 2, s);
    if (lt_tensor_new(&m.a, be, LT_F32, 2, s) || lt_tensor_new(&m.b, be, LT_F32, 2, s) ||
        lt_tensor_new(&m.c, be, LT_F32, 2, s) || lt_tensor_copy(be, &m.a, &host) || lt_tensor_copy(be, &m.b, &host)) {
        printf("cuda: %s\n", lt_last_error());
        free(h);
        return;
    }
    if (json) fprintf(json, ", \"cuda_device\": \"%s\", \"cuda_n\": %d", bench_gpu_name(), gn);
    for (int mode = LT_MATH_FP32; mode <= LT_MATH_BF16; mode++) {
        lt_backend_set_math(be, (lt_math)mode);
        double t = best_time(run_longtail, &m, gn, reps);
        if (t < 0) printf("  lt_matmul %-5s failed: %s\n", lt_math_name((lt_math)mode), lt_last_error());
        else printf("  lt_matmul %-5s %10.3f TFLOP/s\n", lt_math_name((lt_math)mode), gflops(gn, t) / 1000);
        char key[64];
        snprintf(key, sizeof key, "cuda_%s_tflops", lt_math_name((lt_math)mode));
        if (json) bench_json_meas(json, key, gflops(gn, t) / 1000, 4);
    }
    lt_tensor_free(be, &m.a), lt_tensor_free(be, &m.b), lt_tensor_free(be, &m.c);
    free(h);
    lt_backend_release(be);
}

int main(int argc, char **argv) {
    int n = 2048, reps = 10, rounds = 4, raw = 0;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(argv[i], "--raw")) raw = 1;
        else {
            fprintf(stderr, "usage: gemm [--n N] [--reps R] [--rounds K] [--json FILE]\n");
            return 2;
        }
    }
    if (n < 16 || reps < 1 || rounds < 1) {
        fprintf(stderr, "gemm: need n >= 16, reps >= 1, rounds >= 1\n");
        return 2;
    }
    if (raw) return raw_main(n, reps);

    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return perror("readlink /proc/self/exe"), 1;
    self[len] = 0;

    /* The kernel families to try: the library's own pick, and each one this CPU can run. */
    static const char *families[] = {"Sandybridge", "Haswell", "SkylakeX", "Cooperlake"};
    const char *cpu_best = lt__cpu_coretype();
    int top = 0;
    for (int i = 0; i < 4; i++)
        if (cpu_best && !strcmp(cpu_best, families[i])) top = i;
    candidate cand[8] = {{.label = "OpenBLAS, its own kernel choice", .core = NULL}};
    int nc = 1;
    for (int i = 1; i <= top; i++) cand[nc++] = (candidate){.label = families[i], .core = families[i]};

    lt_backend *cpu = lt_backend_cpu();
    int64_t s[2] = {n, n};
    mm_ctx m = {.be = cpu};
    if (lt_tensor_new(&m.a, cpu, LT_F32, 2, s) || lt_tensor_new(&m.b, cpu, LT_F32, 2, s) ||
        lt_tensor_new(&m.c, cpu, LT_F32, 2, s)) {
        fprintf(stderr, "gemm: %s\n", lt_last_error());
        return 1;
    }
    fill_random(m.a.data, (int64_t)n * n, 1);
    fill_random(m.b.data, (int64_t)n * n, 2);

    printf("gemm: C[n,n] = A[n,n] B[n,n], fp32, n = %d, best of %d calls x %d rounds\n", n, reps, rounds);
    printf("longtail cpu backend: %s\n", lt_backend_describe(cpu));
    double lt_best = 0;
    for (int r = 0; r < rounds; r++) {
        double g = gflops(n, best_time(run_longtail, &m, n, reps));
        if (g > lt_best) lt_best = g;
        for (int c = 0; c < nc; c++) {
            double gc = run_child(self, &cand[c], n, reps);
            if (gc > cand[c].best) cand[c].best = gc;
        }
    }
    double best = 0;
    int best_i = 0;
    printf("\n  %-44s %10s\n", "what", "GFLOP/s");
    printf("  %-44s %10.1f\n", "longtail lt_matmul (cpu backend)", lt_best);
    for (int c = 0; c < nc; c++) {
        char label[128];
        if (cand[c].core) snprintf(label, sizeof label, "OpenBLAS, OPENBLAS_CORETYPE=%s", cand[c].core);
        else snprintf(label, sizeof label, "%s", cand[c].label);
        printf("  %-44s %10.1f   %s\n", label, cand[c].best, cand[c].desc);
        if (cand[c].best > best) best = cand[c].best, best_i = c;
    }
    double ratio = best > 0 ? lt_best / best : 0;
    printf("\nratio longtail / best = %.3f (goal >= 0.8)\n", ratio);

    FILE *json = NULL;
    char json_tmp[4200];
    if (json_path) {
        json = bench_json_open(json_path, json_tmp, sizeof json_tmp);
        if (!json) return 1;
        fprintf(json, "{\"n\": %d, \"longtail_gflops\": %.2f, \"best_gflops\": %.2f, \"best\": \"%s\", \"ratio\": %.4f",
                n, lt_best, best, cand[best_i].core ? cand[best_i].core : "default", ratio);
    }
    gpu_section(json, n, reps);
    if (json) {
        fprintf(json, "}\n");
        if (bench_json_close(json, json_tmp, json_path) < 0) return 1;
    }
    lt_tensor_free(cpu, &m.a), lt_tensor_free(cpu, &m.b), lt_tensor_free(cpu, &m.c);
    return 0;
}
