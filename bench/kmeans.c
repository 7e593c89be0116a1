/* bench/kmeans: longtail's k-means beside faiss and scikit-learn (CPU), and beside a PyTorch
 * k-means (GPU), in one run, on the same data, the same k, the same iteration count and the same
 * initial centroids.
 *
 *   kmeans [--n 200000] [--d 128] [--k 1024] [--iters 20] [--rounds 2] [--json FILE] [--no-ref] [--keep DIR]
 *          [--no-cpu | --no-gpu] (one section only; gpu-check runs the GPU one)
 *          [--gpu-n 1000000] [--gpu-d 256] [--gpu-k 20000] [--gpu-iters 25] [--no-gpu] [--gpu-fp32]
 *
 * Data: a deterministic Gaussian mixture (2k centres, unit-variance centres, noise 0.5); initial
 * centroids: k distinct rows chosen by a seeded shuffle. longtail runs lt_kmeans from those
 * centroids (tol 0: exactly `iters` Lloyd iterations); bench/kmeans_ref.py runs faiss and
 * scikit-learn from the same files (OPENBLAS_CORETYPE set to this CPU's best kernel family, the
 * fast setting, so faiss's GEMMs run at full speed too). Times cover the training call only.
 * Every result's final centroids are then scored by one evaluator (longtail's fp32 assignment:
 * sum over rows of the squared distance to the nearest centroid), so the objectives compare
 * like with like. On a machine with a CUDA device the GPU section does the same at 1M x 256,
 * k = 20000, 25 iterations, with longtail's bf16 tensor-core assignment and PyTorch (with
 * LONGTAIL_BENCH_DEVICE=guard longtail's side on the guarded device instead: bench/bench_device.h). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_device.h"
#include "bench_json.h"
#include "cpu/cpu.h"
#include "longtail/backend.h"
#include "longtail/cluster.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"
#include "longtail/rng.h"

#ifndef LT_SOURCE_DIR
#define LT_SOURCE_DIR "."
#endif

/* x[n, d]: row i = centre[(hash of i) mod 2k] + 0.5 N(0, 1); one RNG stream per row, so it is
 * the same data whatever the thread count */
static float *make_data(int64_t n, int64_t d, int64_t k, uint64_t seed) {
    int64_t nc = 2 * k;
    float *ctr = malloc(sizeof(float) * (size_t)(nc * d)), *x = malloc(sizeof(float) * (size_t)(n * d));
    if (!ctr || !x) return free(ctr), free(x), NULL;
    lt_rng r;
    lt_rng_init(&r, seed, 1);
    for (int64_t i = 0; i < nc * d; i++) ctr[i] = lt_rng_next_normal(&r);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        lt_rng ri;
        lt_rng_init(&ri, seed, 1000 + (uint64_t)i);
        int64_t c = (int64_t)lt_rng_below(&ri, (uint64_t)nc);
        for (int64_t j = 0; j < d; j++) x[i * d + j] = ctr[c * d + j] + 0.5f * lt_rng_next_normal(&ri);
    }
    free(ctr);
    return x;
}

static float *pick_init(const float *x, int64_t n, int64_t d, int64_t k, uint64_t seed) {
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
    float *c = malloc(sizeof(float) * (size_t)(k * d));
    if (!perm || !c) return free(perm), free(c), NULL;
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    lt_rng r;
    lt_rng_init(&r, seed, 2);
    lt_rng_shuffle_i32(&r, perm, (size_t)n);
    for (int64_t j = 0; j < k; j++) memcpy(c + j * d, x + (int64_t)perm[j] * d, sizeof(float) * (size_t)d);
    free(perm);
    return c;
}

static int write_f32(const char *dir, const char *name, const float *p, size_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, sizeof(float), count, f);
    return fclose(f) == 0 && w == count ? 0 : -1;
}

static float *read_f32(const char *dir, const char *name, size_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    float *p = f ? malloc(sizeof(float) * count) : NULL;
    if (p && fread(p, sizeof(float), count, f) != count) free(p), p = NULL;
    if (f) fclose(f);
    return p;
}

/* sum over rows of the squared distance to the nearest of c[k, d]: one evaluator for everyone
 * (fp32 assignment, distances computed directly) */
static double objective(lt_backend *be, const lt_tensor *x, const float *c, int64_t k) {
    int64_t n = x->shape[0], d = x->shape[1], ks[1] = {k}, kd[2] = {k, d}, ns[1] = {n};
    lt_math keep = lt_backend_math(be);
    lt_backend_set_math(be, LT_MATH_FP32);
    float *cn = malloc(sizeof(float) * (size_t)k), *dist = malloc(sizeof(float) * (size_t)n);
    for (int64_t j = 0; j < k; j++) {
        double t = 0;
        for (int64_t i = 0; i < d; i++) t += (double)c[j * d + i] * c[j * d + i];
        cn[j] = (float)t;
    }
    lt_tensor tc, tn, ta, td;
    double obj = NAN;
    if (!lt_tensor_new(&tc, be, LT_F32, 2, kd) && !lt_tensor_new(&tn, be, LT_F32, 1, ks) &&
        !lt_tensor_new(&ta, be, LT_I32, 1, ns) && !lt_tensor_new(&td, be, LT_F32, 1, ns)) {
        lt_tensor hc = lt_view2((void *)c, LT_F32, LT_CPU, k, d), hn = lt_view1(cn, LT_F32, LT_CPU, k);
        lt_tensor hd = lt_view1(dist, LT_F32, LT_CPU, n);
        if (!lt_tensor_copy(be, &tc, &hc) && !lt_tensor_copy(be, &tn, &hn) &&
            !lt_kmeans_assign(be, &ta, &td, NULL, x, &tc, &tn) && !lt_tensor_copy(be, &hd, &td)) {
            obj = 0;
            for (int64_t i = 0; i < n; i++) obj += dist[i];
        }
        lt_tensor_free(be, &tc), lt_tensor_free(be, &tn), lt_tensor_free(be, &ta), lt_tensor_free(be, &td);
    }
    if (isnan(obj)) fprintf(stderr, "kmeans: evaluating an objective failed: %s\n", lt_last_error());
    lt_backend_set_math(be, keep);
    free(cn), free(dist);
    return obj;
}

typedef struct {
    double seconds, seconds_iter, objective, pruned; /* pruned: share of row x iteration work skipped */
    int iters;
    float *centroids;
} lt_run;

static int run_longtail(lt_backend *be, const float *x, int64_t n, int64_t d, const float *init, int64_t k, int iters,
                        int prune, lt_run *out) {
    lt_vecs *v;
    LT_TRY(lt_vecs_memory(&v, x, n, d));
    lt_kmeans_opts o;
    lt_kmeans_opts_init(&o);
    o.k = k, o.init = LT_KM_INIT_GIVEN, o.centroids0 = init, o.max_iter = iters, o.tol = 0, o.final_assign = 0;
    o.mem_bytes = 64.0 * (1 << 30), o.prune = prune;
    lt_kmeans_result r;
    double t = lt_seconds();
    int rc = lt_kmeans(be, v, &o, &r);
    t = lt_seconds() - t;
    lt_vecs_free(v);
    if (rc) return rc;
    out->seconds = t, out->seconds_iter = r.seconds_iter, out->iters = r.iters;
    out->pruned = r.iters ? (double)r.pruned_rows / ((double)r.iters * (double)n) : 0;
    free(out->centroids);
    out->centroids = r.centroids, r.centroids = NULL;
    lt_kmeans_result_free(&r);
    return 0;
}

/* ---- the reference runs (bench/kmeans_ref.py) ------------------------------------------------------- */

typedef struct {
    const char *name, *label;
    double seconds, objective, own_objective;
    int iters, ok;
    char note[256];
} ref_run;


static char *run_refs(const char *dir, int64_t n, int64_t d, int64_t k, int iters, const char *which) {
    const char *core = lt__cpu_coretype();
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s%s ${LONGTAIL_PYTHON:-/usr/bin/python3} %s/bench/kmeans_ref.py --dir %s --n %lld --d %lld --k %lld --iters %d "
             "--which %s", core ? "env OPENBLAS_CORETYPE=" : "", core ? core : "", LT_SOURCE_DIR, dir, (long long)n,
             (long long)d, (long long)k, iters, which);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(cap, 1);
    while (out && len + 1 < cap && fgets(out + len, (int)(cap - len), p)) len = strlen(out);
    pclose(p);
    return out;
}

static void collect(const char *js, ref_run *r) {
    r->ok = js && !json_num(js, r->name, "seconds", &r->seconds);
    double it = 0;
    if (r->ok) json_num(js, r->name, "iters", &it), json_num(js, r->name, "objective", &r->own_objective);
    r->iters = (int)it;
    json_str(js, r->name, r->ok ? "note" : "skipped", r->note, sizeof r->note);
    if (!js) snprintf(r->note, sizeof r->note, "bench/kmeans_ref.py did not run");
    else if (!r->ok && !r->note[0])
        snprintf(r->note, sizeof r->note, "bench/kmeans_ref.py gave no result (its python or numpy missing? run it by hand)");
}

static const char *g_keep; /* --keep DIR: the files stay there for a rerun of kmeans_ref.py by hand */

/* where the files for kmeans_ref.py go: --keep DIR, else a fresh temporary folder */
static int work_dir(char *dir, size_t cap) {
    snprintf(dir, cap, "%s", g_keep ? g_keep : "/tmp/lt-bench-kmeans-XXXXXX");
    return g_keep ? mkdir(dir, 0777) == 0 || access(dir, W_OK) == 0 : mkdtemp(dir) != NULL;
}

static void rmdir_files(const char *dir, const char **names, int count) {
    char path[4096];
    if (g_keep) {
        printf("kept the data, initial and final centroids in %s\n", dir);
        return;
    }
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- sections ------------------------------------------------------------------------------------- */

static void print_row(const char *what, double secs, int iters, double obj, double base_obj, double base_secs,
                      const char *note) {
    printf("  %-34s %8.2f s %4d it  %14.6g  %+7.3f%%  %6.2fx   %s\n", what, secs, iters, obj,
           100 * (obj - base_obj) / base_obj, base_secs / secs, note);
}

static int cpu_section(int64_t n, int64_t d, int64_t k, int iters, int rounds, int refs, FILE *json) {
    lt_backend *cpu = lt_backend_cpu();
    printf("kmeans (cpu): n = %lld, d = %lld, k = %lld, %d Lloyd iterations from the same initial centroids\n",
           (long long)n, (long long)d, (long long)k, iters);
    printf("longtail cpu backend: %s\n", lt_backend_describe(cpu));
    double t = lt_seconds();
    float *x = make_data(n, d, k, 1), *init = x ? pick_init(x, n, d, k, 1) : NULL;
    if (!x || !init) return fprintf(stderr, "kmeans: out of memory for the data\n"), 1;
    printf("data: Gaussian mixture of %lld centres, generated in %.1fs\n", (long long)(2 * k), lt_seconds() - t);
    /* rounds alternate longtail and the references, each figure the best of its rounds, so a
     * noisy neighbour on this shared machine hurts both alike */
    ref_run rr[2] = {{.name = "faiss", .label = "faiss Clustering (cpu)"}, {.name = "sklearn", .label = "scikit-learn KMeans (lloyd)"}};
    const char *files[] = {"x.f32", "init.f32", "faiss.f32", "sklearn.f32"};
    char dir[4096];
    int have_dir = refs && work_dir(dir, sizeof dir);
    if (have_dir && (write_f32(dir, "x.f32", x, (size_t)(n * d)) || write_f32(dir, "init.f32", init, (size_t)(k * d))))
        have_dir = 0;
    lt_run lt = {0}, best = {0}, full = {0}; /* with and without the bounds */
    for (int r = 0; r < rounds; r++) {
        for (int prune = 1; prune >= 0; prune--) {
            lt_run *keep = prune ? &best : &full;
            if (run_longtail(cpu, x, n, d, init, k, iters, prune, &lt) < 0)
                return fprintf(stderr, "kmeans: %s\n", lt_last_error()), 1;
            if (!keep->seconds || lt.seconds < keep->seconds) {
                free(keep->centroids);
                *keep = lt, lt.centroids = NULL;
            }
        }
        char *js = have_dir ? run_refs(dir, n, d, k, iters, "faiss,sklearn") : NULL;
        for (int i = 0; i < 2 && refs; i++) {
            ref_run got = rr[i];
            collect(js, &got);
            if (got.ok && (!rr[i].ok || got.seconds < rr[i].seconds)) rr[i] = got;
            else if (!rr[i].ok) snprintf(rr[i].note, sizeof rr[i].note, "%s", got.note);
        }
        free(js);
    }
    free(lt.centroids);
    lt_tensor xt = lt_view2(x, LT_F32, LT_CPU, n, d);
    best.objective = objective(cpu, &xt, best.centroids, k);
    full.objective = objective(cpu, &xt, full.centroids, k);
    int same = !memcmp(best.centroids, full.centroids, sizeof(float) * (size_t)(k * d));
    for (int i = 0; i < 2 && have_dir; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.f32", rr[i].name);
        float *c = rr[i].ok ? read_f32(dir, name, (size_t)(k * d)) : NULL;
        rr[i].objective = c ? objective(cpu, &xt, c, k) : NAN;
        free(c);
    }
    if (have_dir) rmdir_files(dir, files, 4);
    double base_obj = rr[0].ok ? rr[0].objective : best.objective, base_s = rr[0].ok ? rr[0].seconds : best.seconds;
    printf("\n  %-34s %10s %7s  %14s  %8s  %7s\n", "what", "time", "iters", "objective", "vs faiss", "speed");
    char note[128];
    snprintf(note, sizeof note, "bounds skipped %.0f%% of the row-iterations; best of %d rounds", 100 * best.pruned, rounds);
    print_row("longtail lt_kmeans (cpu)", best.seconds, best.iters, best.objective, base_obj, base_s, note);
    snprintf(note, sizeof note, "every row every iteration; centroids %s the above", same ? "bit-identical to" : "DIFFER from");
    print_row("longtail, bounds off (prune = 0)", full.seconds, full.iters, full.objective, base_obj, base_s, note);
    for (int i = 0; i < 2; i++) {
        if (rr[i].ok) print_row(rr[i].label, rr[i].seconds, rr[i].iters, rr[i].objective, base_obj, base_s, rr[i].note);
        else printf("  %-34s skipped: %s\n", rr[i].label, refs ? rr[i].note : "--no-ref");
    }
    printf("  (objective: sum of squared distances to the nearest final centroid, all scored by one evaluator)\n");
    if (rr[0].ok) {
        double ratio = rr[0].seconds / best.seconds, dobj = (best.objective - rr[0].objective) / rr[0].objective;
        printf("\nratio faiss / longtail = %.2f (goal >= 2), objective vs faiss %+.3f%% (goal within 0.5%%)\n", ratio, 100 * dobj);
    }
    if (json) {
        fprintf(json, "\"cpu\": {\"n\": %lld, \"d\": %lld, \"k\": %lld, \"iters\": %d, \"longtail_s\": %.4f, "
                      "\"longtail_objective\": %.8g, \"longtail_pruned\": %.4f, \"longtail_noprune_s\": %.4f, "
                      "\"longtail_noprune_objective\": %.8g, \"same_centroids\": %d",
                (long long)n, (long long)d, (long long)k, iters, best.seconds, best.objective, best.pruned, full.seconds,
                full.objective, same);
        for (int i = 0; i < 2; i++)
            if (rr[i].ok)
                fprintf(json, ", \"%s_s\": %.4f, \"%s_objective\": %.8g", rr[i].name, rr[i].seconds, rr[i].name, rr[i].objective);
        if (rr[0].ok)
            fprintf(json, ", \"ratio_faiss\": %.4f, \"objective_rel_faiss\": %.3e", rr[0].seconds / best.seconds,
                    (best.objective - rr[0].objective) / rr[0].objective);
        fputc('}', json);
    }
    if (rr[0].ok)
        printf("ratio faiss / longtail with the bounds off = %.2f\n", rr[0].seconds / full.seconds);
    free(best.centroids), free(full.centroids), free(x), free(init);
    return 0;
}

static int gpu_section(int64_t n, int64_t d, int64_t k, int iters, int refs, int fp32, FILE *json) {
    lt_backend *be;
    if (bench_gpu(&be) < 0) {
        printf("\ncuda: skipped: %s\n", lt_last_error());
        return 0;
    }
    printf("\nkmeans (cuda): n = %lld, d = %lld, k = %lld, %d Lloyd iterations, %s\n", (long long)n, (long long)d,
           (long long)k, iters, lt_backend_describe(be));
    float *x = make_data(n, d, k, 2), *init = x ? pick_init(x, n, d, k, 2) : NULL;
    if (!x || !init) return fprintf(stderr, "kmeans: out of memory for the data\n"), 1;
    lt_tensor xt;
    int64_t s[2] = {n, d};
    lt_tensor hx = lt_view2(x, LT_F32, LT_CPU, n, d);
    if (lt_tensor_new(&xt, be, LT_F32, 2, s) || lt_tensor_copy(be, &xt, &hx))
        return fprintf(stderr, "kmeans: %s\n", lt_last_error()), 1;
    lt_run warm = {0}, bf = {0}, f32 = {0};
    lt_backend_set_math(be, LT_MATH_BF16);
    int rc = run_longtail(be, x, n, d, init, k, 1, 0, &warm); /* module load, pools, cuBLAS: not timed */
    if (!rc) rc = run_longtail(be, x, n, d, init, k, iters, 0, &bf);
    if (!rc && fp32) lt_backend_set_math(be, LT_MATH_FP32), rc = run_longtail(be, x, n, d, init, k, iters, 0, &f32);
    if (rc) return fprintf(stderr, "kmeans (cuda): %s\n", lt_last_error()), 1;
    bf.objective = objective(be, &xt, bf.centroids, k);
    if (fp32) f32.objective = objective(be, &xt, f32.centroids, k);
    ref_run rr[2] = {{.name = "torch_tf32", .label = "PyTorch k-means (TF32 matmul)"}, {.name = "torch", .label = "PyTorch k-means (fp32)"}};
    char dir[4096];
    const char *files[] = {"x.f32", "init.f32", "torch_tf32.f32", "torch.f32"};
    g_keep = NULL; /* a gigabyte of data is not kept */
    if (refs && work_dir(dir, sizeof dir)) {
        char *js = NULL;
        if (!write_f32(dir, "x.f32", x, (size_t)(n * d)) && !write_f32(dir, "init.f32", init, (size_t)(k * d)))
            js = run_refs(dir, n, d, k, iters, "torch_tf32,torch");
        for (int i = 0; i < 2; i++) {
            collect(js, &rr[i]);
            char name[64];
            snprintf(name, sizeof name, "%s.f32", rr[i].name);
            float *c = rr[i].ok ? read_f32(dir, name, (size_t)(k * d)) : NULL;
            rr[i].objective = c ? objective(be, &xt, c, k) : NAN;
            free(c);
        }
        free(js);
        rmdir_files(dir, files, 4);
    }
    printf("\n  %-34s %10s %7s  %14s  %8s  %7s\n", "what", "time", "iters", "objective", "vs bf16", "speed");
    char note[128];
    snprintf(note, sizeof note, "iterations alone %.3f s (the rest: upload and set-up)", bf.seconds_iter);
    print_row("longtail lt_kmeans (cuda, bf16 mma)", bf.seconds, bf.iters, bf.objective, bf.objective, bf.seconds, note);
    if (fp32) print_row("longtail lt_kmeans (cuda, fp32)", f32.seconds, f32.iters, f32.objective, bf.objective, bf.seconds, "");
    for (int i = 0; i < 2; i++) {
        if (rr[i].ok) print_row(rr[i].label, rr[i].seconds, rr[i].iters, rr[i].objective, bf.objective, bf.seconds, rr[i].note);
        else printf("  %-34s skipped: %s\n", rr[i].label, refs ? rr[i].note : "--no-ref");
    }
    printf("\ntimes include: longtail: the upload of x, set-up and the iterations (iterations alone %.3f s);\n"
           "  PyTorch: the iterations only (x uploaded before timing, after a warm-up on one chunk).\n"
           "math: longtail bf16 tensor-core search with fp32 distances (and fp32 as asked); PyTorch TF32 and fp32 matmul\n",
           bf.seconds_iter);
    printf("\ngoal: %lld x %lld, k = %lld, %d iterations in <= 1.5 s: %.3f s (%s)\n", (long long)n, (long long)d,
           (long long)k, iters, bf.seconds, bf.seconds <= 1.5 ? "met" : "NOT met");
    if (json) {
        fprintf(json, "%s\"gpu\": {\"device\": \"%s\", \"n\": %lld, \"d\": %lld, \"k\": %lld, \"iters\": %d, "
                      "\"longtail_bf16_s\": %.4f, \"longtail_bf16_iter_s\": %.4f, \"longtail_bf16_objective\": %.8g",
                ftell(json) > 1 ? ", " : "", bench_gpu_name(), (long long)n, (long long)d, (long long)k, iters, bf.seconds,
                bf.seconds_iter, bf.objective);
        if (fp32) fprintf(json, ", \"longtail_fp32_s\": %.4f, \"longtail_fp32_objective\": %.8g", f32.seconds, f32.objective);
        for (int i = 0; i < 2; i++) { /* a peer that did not run: its figures are null, and why */
            char key[64];
            snprintf(key, sizeof key, "%s_s", rr[i].name);
            bench_json_meas(json, key, rr[i].ok ? rr[i].seconds : -1, 4);
            if (rr[i].ok) fprintf(json, ", \"%s_objective\": %.8g", rr[i].name, rr[i].objective);
            else snprintf(key, sizeof key, "%s_skipped", rr[i].name), bench_json_str(json, key, refs ? rr[i].note : "--no-ref");
        }
        fputc('}', json);
    }
    lt_tensor_free(be, &xt);
    free(warm.centroids), free(bf.centroids), free(f32.centroids), free(x), free(init);
    lt_backend_release(be);
    return 0;
}

int main(int argc, char **argv) {
    int64_t n = 200000, d = 128, k = 1024, gn = 1000000, gd = 256, gk = 20000;
    int iters = 20, giters = 25, rounds = 2, refs = 1, cpu = 1, gpu = 1, gfp32 = 0;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--n") && more) n = atoll(argv[++i]);
        else if (!strcmp(a, "--d") && more) d = atoll(argv[++i]);
        else if (!strcmp(a, "--k") && more) k = atoll(argv[++i]);
        else if (!strcmp(a, "--iters") && more) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--rounds") && more) rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--gpu-n") && more) gn = atoll(argv[++i]);
        else if (!strcmp(a, "--gpu-d") && more) gd = atoll(argv[++i]);
        else if (!strcmp(a, "--gpu-k") && more) gk = atoll(argv[++i]);
        else if (!strcmp(a, "--gpu-iters") && more) giters = atoi(argv[++i]);
        else if (!strcmp(a, "--json") && more) json_path = argv[++i];
        else if (!strcmp(a, "--keep") && more) g_keep = argv[++i];
        else if (!strcmp(a, "--no-ref")) refs = 0;
        else if (!strcmp(a, "--no-gpu")) gpu = 0;
        else if (!strcmp(a, "--no-cpu")) cpu = 0;
        else if (!strcmp(a, "--gpu-fp32")) gfp32 = 1;
        else {
            fprintf(stderr, "usage: kmeans [--n N] [--d D] [--k K] [--iters I] [--rounds R] [--json FILE] [--no-ref]\n"
                            "              [--gpu-n N] [--gpu-d D] [--gpu-k K] [--gpu-iters I] [--no-gpu] [--no-cpu] [--gpu-fp32]\n");
            return 2;
        }
    }
    if (n < 2 || d < 1 || k < 1 || k > n || iters < 1 || rounds < 1 || gk > gn) {
        fprintf(stderr, "kmeans: need 1 <= k <= n, d >= 1, iters >= 1, rounds >= 1\n");
        return 2;
    }
    lt_log_set_level(LT_LOG_WARN);
    char json_tmp[4200];
    FILE *json = json_path ? bench_json_open(json_path, json_tmp, sizeof json_tmp) : NULL;
    if (json_path && !json) return 1;
    if (json) fputc('{', json);
    int rc = cpu ? cpu_section(n, d, k, iters, rounds, refs, json) : 0;
    if (!rc && gpu) rc = gpu_section(gn, gd, gk, giters, refs, gfp32, json);
    if (rc) bench_json_abort(json, json_tmp);
    else if (json && (fputs("}\n", json), bench_json_close(json, json_tmp, json_path) < 0)) rc = 1;
    return rc;
}
