/* bench/bert: the BERT encoder forward, longtail beside PyTorch, in one run.
 *
 * Same configuration, batch, sequence length and random weights on both sides (full-length
 * sequences; mean pooling + L2 norm, as `longtail embed` runs it). PyTorch is bench/bert_torch.py
 * under /usr/bin/python3, and gets its best setting on this machine: each OpenBLAS kernel family
 * the CPU runs fast (Debian's torch calls OpenBLAS, and its small-matrix paths differ by family),
 * 1 or all threads, its eager BERT or its fused encoder fast path, whichever is fastest. The machine's
 * best sgemm is measured in the same run (bench/gemm), and the encoder's FLOP/s compared with it.
 * Rounds alternate between the two sides; each figure is the best of all rounds.
 * Then both in bf16: longtail with bf16 math (bf16 activations and GEMM operands: oneDNN's AMX /
 * AVX512-BF16 kernels where the CPU has them, src/cpu/dnnl.c; fp32 products on widened copies where
 * it has no bf16 units) beside PyTorch's model in bf16 (bf16 weights and activations, its oneDNN
 * kernels, or its reference ones on a CPU without bf16 units).
 *
 *   bert [--rounds 3] [--reps 5] [--json FILE] [--only mini|base|gpu] [--gpu-batch 512]
 * With a CUDA device it also runs BERT-base seq 128 on the GPU beside PyTorch on the GPU (bf16), batch 512
 * (--gpu-batch; with LONGTAIL_BENCH_DEVICE=guard on the guarded device, batch 2 unless given: bench_device.h). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_device.h"
#include "bench_json.h"
#include "cpu/cpu.h"
#include "longtail/bert.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/rng.h"

typedef struct {
    const char *name;
    int64_t layers, hidden, heads, ffn, seq, batch;
    double lt_seq_s, torch_seq_s, lt_gflops;
    char torch_impl[128];
    double lt16_seq_s, torch16_seq_s, lt16_gflops; /* bf16 GEMMs (longtail) beside PyTorch in bf16 */
    char torch16_impl[128];
} cfg;

static char g_dir[4096]; /* this executable's folder: bench/ of the build */
static char g_src[4096]; /* the source tree, for bert_torch.py */

/* Best seconds per forward over reps, after one warm-up. */
static double time_longtail(lt_backend *be, const cfg *c, int reps, int bf16_math) {
    lt_bert_config bc;
    lt_bert_config_init(&bc);
    bc.layers = c->layers, bc.hidden = c->hidden, bc.heads = c->heads, bc.ffn = c->ffn, bc.dropout = 0;
    lt_bert *m;
    if (bf16_math) lt_backend_set_math(be, LT_MATH_BF16); /* before reserve: it fixes the activations' dtype */
    if (lt_bert_create(&m, be, &bc, 1) < 0 || lt_bert_reserve(m, c->batch, c->seq, 0, 0) < 0) {
        fprintf(stderr, "bert: %s\n", lt_last_error());
        if (bf16_math) lt_backend_set_math(be, LT_MATH_FP32);
        return -1;
    }
    int32_t *ids = malloc(sizeof *ids * (size_t)(c->batch * c->seq)), *lens = malloc(sizeof *lens * (size_t)c->batch);
    lt_rng r;
    lt_rng_init(&r, 7, 0);
    for (int64_t i = 0; i < c->batch * c->seq; i++) ids[i] = 1000 + (int32_t)lt_rng_below(&r, 29000);
    for (int64_t b = 0; b < c->batch; b++) lens[b] = (int32_t)c->seq;
    double best = 1e30;
    for (int i = 0; i <= reps; i++) {
        double t = lt_seconds();
        if (lt_bert_forward(m, ids, lens, c->batch, c->seq, 0, 0, 0) < 0 || lt_backend_sync(be) < 0) {
            fprintf(stderr, "bert: %s\n", lt_last_error());
            best = -1;
            break;
        }
        t = lt_seconds() - t;
        if (i > 0 && t < best) best = t; /* the first call is the warm-up */
    }
    if (bf16_math) lt_backend_set_math(be, LT_MATH_FP32);
    free(ids), free(lens);
    lt_bert_free(m);
    return best;
}

/* One run of bert_torch.py under OPENBLAS_CORETYPE=core (NULL: unset); seq/s or -1, and what won. */
static double torch_once(const cfg *c, int reps, int threads, const char *device, const char *dtype, const char *core,
                         char *impl, size_t cap) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "env %s%s ${LONGTAIL_PYTHON:-/usr/bin/python3} %s/bench/bert_torch.py --layers %lld --hidden %lld --heads %lld --ffn %lld "
             "--seq %lld --batch %lld --reps %d --threads 1,%d --device %s --dtype %s 2>/dev/null",
             core ? "OPENBLAS_CORETYPE=" : "-u OPENBLAS_CORETYPE", core ? core : "", g_src, (long long)c->layers,
             (long long)c->hidden, (long long)c->heads, (long long)c->ffn, (long long)c->seq, (long long)c->batch, reps,
             threads, device, dtype);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024] = "", name[32] = "?", why[256] = "";
    double s = -1;
    int th = 0;
    if (fgets(line, sizeof line, p)) json_str(line, NULL, "skipped", why, sizeof why);
    if (why[0]) { /* no such device for torch (bench/torch_peer.py): say why */
        pclose(p);
        snprintf(impl, cap, "skipped: %s", why);
        return -1;
    } else if (line[0]) {
        char *q = strstr(line, "\"seq_per_s\": ");
        if (q) s = atof(q + 13);
        q = strstr(line, "\"impl\": \"");
        if (q) sscanf(q + 9, "%31[^\"]", name);
        q = strstr(line, "\"threads\": ");
        if (q) th = atoi(q + 11);
    }
    pclose(p);
    if (s <= 0) snprintf(impl, cap, "failed: bench/bert_torch.py gave no result (run it by hand to see why)");
    else snprintf(impl, cap, "%s, %d thread%s, %s", name, th, th == 1 ? "" : "s", core ? core : "its own kernels");
    return s;
}

/* PyTorch at its best: every fast kernel family this CPU runs (on the GPU: once). */
static double time_torch(const cfg *c, int reps, int threads, const char *device, const char *dtype, char *impl,
                         size_t cap) {
    static const char *families[] = {"Haswell", "SkylakeX", "Cooperlake"};
    const char *top = lt__cpu_coretype();
    int last = -1;
    for (int i = 0; i < 3; i++)
        if (top && !strcmp(top, families[i])) last = i;
    /* bf16 goes through oneDNN in PyTorch, whatever OpenBLAS's kernel family */
    if (strcmp(device, "cpu") || last < 0 || !strcmp(dtype, "bf16")) return torch_once(c, reps, threads, device, dtype, top, impl, cap);
    double best = -1;
    for (int i = last > 0 ? 1 : 0; i <= last; i++) { /* the AVX-512 families where the CPU has them */
        char what[128];
        double s = torch_once(c, reps, threads, device, dtype, families[i], what, sizeof what);
        if (s > best) best = s, snprintf(impl, cap, "%s", what);
    }
    return best;
}

/* The machine's best sgemm right now, from bench/gemm (which tries every kernel family). */
static double best_sgemm(void) {
    char cmd[8192], tmp[] = "/tmp/lt_bert_gemm_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return -1;
    close(fd);
    snprintf(cmd, sizeof cmd, "%s/gemm --rounds 2 --reps 5 --json %s > /dev/null 2>&1", g_dir, tmp);
    double g = -1;
    if (system(cmd) == 0) {
        FILE *f = fopen(tmp, "r");
        char buf[1024] = "";
        if (f && fgets(buf, sizeof buf, f)) {
            char *q = strstr(buf, "\"best_gflops\": ");
            if (q) g = atof(q + 15);
        }
        if (f) fclose(f);
    }
    remove(tmp);
    return g;
}

int main(int argc, char **argv) {
    int rounds = 3, reps = 5, gpu_batch = 0;
    const char *json = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--gpu-batch") && i + 1 < argc) gpu_batch = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bert [--rounds R] [--reps N] [--json FILE] [--only mini|base|gpu] [--gpu-batch B]\n");
            return 2;
        }
    }
    ssize_t n = readlink("/proc/self/exe", g_dir, sizeof g_dir - 1);
    if (n <= 0) return perror("readlink"), 1;
    g_dir[n] = 0;
    *strrchr(g_dir, '/') = 0;
    snprintf(g_src, sizeof g_src, "%s", LT_SOURCE_DIR);

    cfg cfgs[2] = {
        {.name = "BERT-mini (L4 H256 A4, seq 64, batch 64)", .layers = 4, .hidden = 256, .heads = 4, .ffn = 1024, .seq = 64, .batch = 64},
        {.name = "BERT-base (L12 H768 A12, seq 128, batch 8)", .layers = 12, .hidden = 768, .heads = 12, .ffn = 3072, .seq = 128, .batch = 8},
    };
    lt_backend *cpu = lt_backend_cpu();
    int threads = omp_get_max_threads();
    printf("bert: encoder forward, longtail vs PyTorch, fp32 on the CPU, %d threads, best of %d x %d rounds\n", threads,
           reps, rounds);
    printf("longtail: %s\n", lt_backend_describe(cpu));
    double sgemm = 0;
    for (int r = 0; r < rounds && !(only && !strcmp(only, "gpu")); r++) {
        for (int k = 0; k < 2; k++) {
            cfg *c = &cfgs[k];
            if (only && !strstr(c->name, !strcmp(only, "mini") ? "mini" : "base")) continue;
            lt_bert_config bc;
            lt_bert_config_init(&bc);
            bc.layers = c->layers, bc.hidden = c->hidden, bc.heads = c->heads, bc.ffn = c->ffn;
            double t = time_longtail(cpu, c, reps, 0);
            if (t > 0) {
                c->lt_seq_s = fmax(c->lt_seq_s, (double)c->batch / t);
                c->lt_gflops = fmax(c->lt_gflops, lt_bert_flops(&bc, c->batch, c->seq, 0) / t / 1e9);
            }
            char impl[128] = "";
            double s = time_torch(c, reps, threads, "cpu", "fp32", impl, sizeof impl);
            if (s > c->torch_seq_s) c->torch_seq_s = s, snprintf(c->torch_impl, sizeof c->torch_impl, "%s", impl);
            t = time_longtail(cpu, c, reps, 1);
            if (t > 0) {
                c->lt16_seq_s = fmax(c->lt16_seq_s, (double)c->batch / t);
                c->lt16_gflops = fmax(c->lt16_gflops, lt_bert_flops(&bc, c->batch, c->seq, 0) / t / 1e9);
            }
            s = time_torch(c, reps, threads, "cpu", "bf16", impl, sizeof impl);
            if (s > c->torch16_seq_s) c->torch16_seq_s = s, snprintf(c->torch16_impl, sizeof c->torch16_impl, "%s", impl);
        }
        sgemm = fmax(sgemm, best_sgemm());
    }
    int cpu_ran = !(only && !strcmp(only, "gpu"));
    if (cpu_ran) { /* the CPU tables */
        printf("\n  %-44s %12s %12s %8s %14s %10s\n", "config", "longtail", "PyTorch", "ratio", "longtail", "of sgemm");
        printf("  %-44s %12s %12s %8s %14s %10s\n", "", "seq/s", "seq/s", "", "GFLOP/s", "");
        for (int k = 0; k < 2; k++) {
            cfg *c = &cfgs[k];
            if (c->lt_seq_s <= 0) continue;
            printf("  %-44s %12.1f %12.1f %7.2fx %14.1f %9.0f%%   (PyTorch: %s)\n", c->name, c->lt_seq_s, c->torch_seq_s,
                   c->torch_seq_s > 0 ? c->lt_seq_s / c->torch_seq_s : 0, c->lt_gflops,
                   sgemm > 0 ? 100 * c->lt_gflops / sgemm : 0, c->torch_impl[0] ? c->torch_impl : "not run");
        }
        printf("\nbest sgemm of this machine in the same run: %.1f GFLOP/s (goals: >= 1.5x PyTorch, >= 70%% of sgemm)\n", sgemm);
        {
            printf("\nbf16 on the CPU: longtail with bf16 activations and GEMM operands (%s) beside PyTorch's model in bf16\n",
                   lt__dnnl_available() ? lt__dnnl_describe()
                                        : "this CPU has no bf16 units: bf16 storage, every product in fp32 on widened copies");
            printf("  %-44s %12s %12s %8s %14s %10s\n", "config", "longtail", "PyTorch", "ratio", "longtail", "vs own");
            printf("  %-44s %12s %12s %8s %14s %10s\n", "", "seq/s", "seq/s", "", "GFLOP/s", "fp32");
            for (int k = 0; k < 2; k++) {
                cfg *c = &cfgs[k];
                if (c->lt16_seq_s <= 0) continue;
                printf("  %-44s %12.1f %12.1f %7.2fx %14.1f %9.2fx   (PyTorch: %s)\n", c->name, c->lt16_seq_s,
                       c->torch16_seq_s, c->torch16_seq_s > 0 ? c->lt16_seq_s / c->torch16_seq_s : 0, c->lt16_gflops,
                       c->lt_seq_s > 0 ? c->lt16_seq_s / c->lt_seq_s : 0, c->torch16_impl[0] ? c->torch16_impl : "not run");
            }
        }
    }
    char json_tmp[4200];
    FILE *jf = json ? bench_json_open(json, json_tmp, sizeof json_tmp) : NULL;
    if (json && !jf) return 1;
    if (jf) fprintf(jf, "{\"threads\": %d", threads);
    if (jf && cpu_ran) {
        fprintf(jf, ", \"best_sgemm_gflops\": %.2f", sgemm);
        const char *key[2] = {"mini", "base"};
        for (int k = 0; k < 2; k++)
            fprintf(jf, ", \"%s_longtail_seq_s\": %.2f, \"%s_torch_seq_s\": %.2f, \"%s_ratio\": %.3f, \"%s_gflops\": %.2f, "
                        "\"%s_of_sgemm\": %.3f",
                    key[k], cfgs[k].lt_seq_s, key[k], cfgs[k].torch_seq_s, key[k],
                    cfgs[k].torch_seq_s > 0 ? cfgs[k].lt_seq_s / cfgs[k].torch_seq_s : 0, key[k], cfgs[k].lt_gflops, key[k],
                    sgemm > 0 ? cfgs[k].lt_gflops / sgemm : 0);
        for (int k = 0; k < 2; k++)
            if (cfgs[k].lt16_seq_s > 0)
                fprintf(jf, ", \"%s_bf16_longtail_seq_s\": %.2f, \"%s_bf16_torch_seq_s\": %.2f, \"%s_bf16_ratio\": %.3f",
                        key[k], cfgs[k].lt16_seq_s, key[k], cfgs[k].torch16_seq_s, key[k],
                        cfgs[k].torch16_seq_s > 0 ? cfgs[k].lt16_seq_s / cfgs[k].torch16_seq_s : 0);
    }

    /* the GPU: BERT-base, seq 128, a batch that fills an H200 */
    lt_backend *gpu;
    double gpu_lt = -1, gpu_torch = -1;
    if (bench_gpu(&gpu) == 0) {
        cfg g = {.layers = 12, .hidden = 768, .heads = 12, .ffn = 3072, .seq = 128,
                 .batch = gpu_batch > 0 ? gpu_batch : bench_guard_mode() ? 2 : 512};
        char gname[64];
        snprintf(gname, sizeof gname, "BERT-base (L12 H768 A12, seq 128, batch %lld)", (long long)g.batch);
        g.name = gname;
        printf("\ncuda: %s\n", lt_backend_describe(gpu));
        double t = time_longtail(gpu, &g, reps, 1);
        char impl[128] = "";
        double s = time_torch(&g, reps, threads, "cuda", "bf16", impl, sizeof impl);
        double mine = t > 0 ? (double)g.batch / t : 0;
        if (s > 0)
            printf("  %-44s longtail %.1f seq/s (bf16 activations, bf16 tensor-core GEMMs), PyTorch bf16 %.1f seq/s (%s): "
                   "%.2fx (goals: >= 25000 seq/s, >= 1.3x)\n", g.name, mine, s, impl, mine / s);
        else
            printf("  %-44s longtail %.1f seq/s (bf16 activations, bf16 tensor-core GEMMs), PyTorch bf16 %s"
                   " (goals: >= 25000 seq/s, >= 1.3x PyTorch)\n", g.name, mine, impl[0] ? impl : "not run");
        printf("  times include, both sides: one forward from host token ids (uploaded inside the timed region:\n"
               "    lt_bert_forward copies them, bert_torch.py calls .to(cuda)) to pooled embeddings left on the GPU;\n"
               "    best of %d after warm-up. Math: bf16 GEMMs on both; PyTorch keeps bf16 activations and runs fused\n"
               "    SDPA attention with no mask (nothing is padded); longtail's activations are what the first line says\n",
               reps);
        gpu_lt = mine, gpu_torch = s;
        if (jf) fprintf(jf, ", \"cuda_device\": \"%s\", \"cuda_batch\": %lld", bench_gpu_name(), (long long)g.batch);
        lt_backend_release(gpu);
    } else {
        printf("\ncuda: skipped: %s\n", lt_last_error());
    }
    if (jf) {
        bench_json_meas(jf, "cuda_base_longtail_seq_s", gpu_lt, 2);
        bench_json_meas(jf, "cuda_base_torch_bf16_seq_s", gpu_torch, 2);
        fprintf(jf, "}\n");
        if (bench_json_close(jf, json_tmp, json) < 0) return 1;
    }
    return 0;
}
