/* bench/rank: longtail's chunked full-catalog softmax and top-K scoring with exclusions, beside
 * PyTorch's materialised softmax and faiss's exhaustive search, in one run on the same data.
 *
 *   rank [--B 256] [--N 100000] [--D 128] [--chunk 1024] [--users 4096] [--K 10] [--reps 3]
 *        [--json FILE] [--no-ref] [--no-gpu] [--gpu-chunk 16384]
 *
 * (1) Cross-entropy over the whole catalog, forward + backward (du and dv, dloss = 1 per row):
 *     longtail's lt_catalog_xent_fwd/bwd (chunk items at a time, work = B x chunk floats) against
 *     PyTorch's logits = u @ v.T; F.cross_entropy + backward at 1 and 2 threads (the best is
 *     kept). Peak extra memory: longtail's work buffer and running state, PyTorch's measured
 *     resident-set growth over its first step (and the B x N x 4 x 2 bytes of logits and their
 *     gradient that it must hold).
 * (2) Top-K with exclusions (20..50 random items per user): lt_score_topk against faiss
 *     IndexFlatIP search with k = K + the longest exclusion list, then filtered (faiss cannot
 *     exclude); results are compared id by id.
 * Both are GEMM-bound, so the run also measures the engine's best sgemm rate on the same shapes,
 * and prints each op's rate beside it. Best of --reps runs after a warm-up. On a machine with a
 * CUDA device the same ops run on the GPU too (longtail only). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_device.h"
#include "bench_json.h"
#include "cpu/cpu.h"
#include "longtail/backend.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"
#include "longtail/rng.h"

#ifndef LT_SOURCE_DIR
#define LT_SOURCE_DIR "."
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* a call that must succeed; an expression, so several fit on one line */
static void ck(int rc, const char *file, int line, const char *what) {
    if (rc >= 0) return;
    fprintf(stderr, "%s:%d: %s: %s\n", file, line, what, lt_last_error());
    exit(1);
}
#define CK(call) ck((call), __FILE__, __LINE__, #call)

static float *normal(int64_t n, float scale, uint64_t seed) {
    float *p = malloc(sizeof(float) * (size_t)n);
    lt_rng r;
    lt_rng_init(&r, seed, 7);
    for (int64_t i = 0; i < n; i++) p[i] = scale * lt_rng_next_normal(&r);
    return p;
}

static int write_raw(const char *dir, const char *name, const void *p, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, bytes, f);
    return fclose(f) == 0 && w == bytes ? 0 : -1;
}

typedef struct {
    int64_t B, N, D, chunk, users;
    int K, reps;
    float *u, *v, *q;
    int32_t *t, *ex;
    int64_t *off;
} bench;

/* ---- longtail runs ------------------------------------------------------------------------------- */

typedef struct {
    double xent_s, topk_s, gemm_gflops, loss_sum;
    size_t work_bytes, topk_bytes;
    int32_t *idx;
} lt_result;

static lt_tensor up(lt_backend *be, const void *h, lt_dtype dt, int ndim, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    lt_tensor t;
    CK(lt_tensor_new(&t, be, dt, ndim, shape));
    lt_tensor host = lt_view((void *)h, dt, LT_CPU, ndim, shape);
    CK(lt_tensor_copy(be, &t, &host));
    return t;
}

static void run_longtail(lt_backend *be, const bench *b, lt_result *r) {
    int64_t B = b->B, N = b->N, D = b->D, cn = b->chunk < N ? b->chunk : N, U = b->users;
    lt_tensor u = up(be, b->u, LT_F32, 2, B, D), v = up(be, b->v, LT_F32, 2, N, D), t = up(be, b->t, LT_I32, 1, B, 0);
    lt_tensor loss, lse, dloss, du, dv, work;
    int64_t sB[1] = {B}, sW[1] = {B * cn}, sU[2] = {B, D}, sV[2] = {N, D};
    CK(lt_tensor_new(&loss, be, LT_F32, 1, sB)), CK(lt_tensor_new(&lse, be, LT_F32, 1, sB));
    CK(lt_tensor_new(&dloss, be, LT_F32, 1, sB)), CK(lt_tensor_new(&work, be, LT_F32, 1, sW));
    CK(lt_tensor_new(&du, be, LT_F32, 2, sU)), CK(lt_tensor_new(&dv, be, LT_F32, 2, sV));
    CK(lt_fill(be, &dloss, 1.0f));
    r->work_bytes = sizeof(float) * (size_t)(B * cn + 3 * B);
    /* (1) fwd + bwd, gradients zeroed inside the timing (PyTorch allocates fresh ones) */
    double best = 1e30;
    for (int rep = 0; rep <= b->reps; rep++) {
        CK(lt_backend_sync(be));
        double t0 = now();
        CK(lt_catalog_xent_fwd(be, &loss, &lse, &u, &v, NULL, &t, cn, &work));
        CK(lt_fill(be, &du, 0)), CK(lt_fill(be, &dv, 0));
        CK(lt_catalog_xent_bwd(be, &du, &dv, NULL, &dloss, &u, &v, NULL, &t, &lse, cn, &work));
        CK(lt_backend_sync(be));
        double s = now() - t0;
        if (rep > 0 && s < best) best = s; /* rep 0 is the warm-up */
    }
    r->xent_s = best;
    float *hl = malloc(sizeof(float) * (size_t)B);
    lt_tensor hv = lt_view1(hl, LT_F32, LT_CPU, B);
    CK(lt_tensor_copy(be, &hv, &loss)), CK(lt_backend_sync(be));
    r->loss_sum = 0;
    for (int64_t i = 0; i < B; i++) r->loss_sum += hl[i];
    free(hl);
    /* the best sgemm rate on the op's own shape: scores of B users x chunk items */
    double gbest = 1e30;
    for (int rep = 0; rep <= b->reps; rep++) {
        CK(lt_backend_sync(be));
        double t0 = now();
        for (int64_t j0 = 0; j0 < N; j0 += cn) {
            int64_t n = N - j0 < cn ? N - j0 : cn;
            lt_gemm_desc d = {.trans_b = 1, .m = B, .n = n, .k = D, .alpha = 1, .a = u.data, .a_type = LT_F32,
                              .lda = D, .b = (float *)v.data + j0 * D, .b_type = LT_F32, .ldb = D, .c = work.data,
                              .c_type = LT_F32, .ldc = n, .batch = 1};
            CK(lt_gemm(be, &d));
        }
        CK(lt_backend_sync(be));
        double s = now() - t0;
        if (rep > 0 && s < gbest) gbest = s;
    }
    r->gemm_gflops = 2.0 * B * N * D / gbest * 1e-9;
    lt_tensor *f1[] = {&u, &t, &loss, &lse, &dloss, &du, &work};
    for (int i = 0; i < 7; i++) lt_tensor_free(be, f1[i]);
    /* (2) top-K with exclusions over the whole catalog as one slab */
    lt_tensor q = up(be, b->q, LT_F32, 2, U, D), off = up(be, b->off, LT_I64, 1, U + 1, 0),
              ex = up(be, b->ex, LT_I32, 1, b->off[U], 0);
    float *iv = malloc(sizeof(float) * (size_t)(U * b->K));
    int32_t *ii = malloc(sizeof(int32_t) * (size_t)(U * b->K));
    for (int64_t i = 0; i < U * b->K; i++) iv[i] = -INFINITY, ii[i] = -1;
    lt_tensor vals = up(be, iv, LT_F32, 2, U, b->K), idx = up(be, ii, LT_I32, 2, U, b->K);
    lt_tensor iv_h = lt_view2(iv, LT_F32, LT_CPU, U, b->K), ii_h = lt_view2(ii, LT_I32, LT_CPU, U, b->K);
    best = 1e30;
    for (int rep = 0; rep <= b->reps; rep++) {
        CK(lt_tensor_copy(be, &vals, &iv_h)), CK(lt_tensor_copy(be, &idx, &ii_h)); /* -inf / -1 */
        CK(lt_backend_sync(be));
        double t0 = now();
        CK(lt_score_topk(be, &vals, &idx, &q, &v, NULL, 0, &off, &ex));
        CK(lt_backend_sync(be));
        double s = now() - t0;
        if (rep > 0 && s < best) best = s;
    }
    r->topk_s = best;
    r->topk_bytes = be->device == LT_CPU ? ((size_t)1 << 20) * 4 : ((size_t)1 << 26) * 4; /* rank.c's tile cap */
    r->idx = malloc(sizeof(int32_t) * (size_t)(U * b->K));
    lt_tensor out = lt_view2(r->idx, LT_I32, LT_CPU, U, b->K);
    CK(lt_tensor_copy(be, &out, &idx)), CK(lt_backend_sync(be));
    free(iv), free(ii);
    lt_tensor *f2[] = {&v, &dv, &q, &off, &ex, &vals, &idx};
    for (int i = 0; i < 7; i++) lt_tensor_free(be, f2[i]);
}

static char *run_ref(const bench *b, const char *dir, const char *device) {
    const char *core = lt__cpu_coretype();
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "%s%s ${LONGTAIL_PYTHON:-/usr/bin/python3} %s/bench/rank_ref.py --dir %s --B %lld --N %lld --D %lld --users %lld --K %d "
             "--reps %d --threads 1,2 --device %s --which %s",
             core ? "env OPENBLAS_CORETYPE=" : "", core ? core : "", LT_SOURCE_DIR, dir, (long long)b->B,
             (long long)b->N, (long long)b->D, (long long)b->users, b->K, b->reps, device,
             strcmp(device, "cpu") ? "xent" : "xent,faiss");
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(cap, 1);
    while (out && len + 1 < cap && fgets(out + len, (int)(cap - len), p)) len = strlen(out);
    pclose(p);
    return out;
}

int main(int argc, char **argv) {
    bench b = {.B = 256, .N = 100000, .D = 128, .chunk = 1024, .users = 4096, .K = 10, .reps = 3};
    int64_t gchunk = 16384; /* a GPU wants big tiles: fewer, fuller GEMMs */
    int refs = 1, gpu = 1;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--B") && more) b.B = atoll(argv[++i]);
        else if (!strcmp(a, "--N") && more) b.N = atoll(argv[++i]);
        else if (!strcmp(a, "--D") && more) b.D = atoll(argv[++i]);
        else if (!strcmp(a, "--chunk") && more) b.chunk = atoll(argv[++i]);
        else if (!strcmp(a, "--users") && more) b.users = atoll(argv[++i]);
        else if (!strcmp(a, "--gpu-chunk") && more) gchunk = atoll(argv[++i]);
        else if (!strcmp(a, "--K") && more) b.K = atoi(argv[++i]);
        else if (!strcmp(a, "--reps") && more) b.reps = atoi(argv[++i]);
        else if (!strcmp(a, "--json") && more) json_path = argv[++i];
        else if (!strcmp(a, "--no-ref")) refs = 0;
        else if (!strcmp(a, "--no-gpu")) gpu = 0;
        else {
            fprintf(stderr, "usage: rank [--B 256] [--N 100000] [--D 128] [--chunk 1024] [--users 4096] [--K 10] "
                            "[--reps 3] [--json FILE] [--no-ref] [--no-gpu] [--gpu-chunk 16384]\n");
            return 2;
        }
    }
    if (b.B < 1 || b.N < 1 || b.D < 1 || b.chunk < 1 || b.users < 1 || b.K < 1 || b.K > LT_TOPK_MAX || b.reps < 1) {
        fprintf(stderr, "rank: sizes must be >= 1 and K <= %d\n", LT_TOPK_MAX);
        return 2;
    }
    lt_log_set_level(LT_LOG_WARN);
    /* data: users and items N(0, 0.3^2) per coordinate; targets and exclusions seeded */
    b.u = normal(b.B * b.D, 0.3f, 1), b.v = normal(b.N * b.D, 0.3f, 2), b.q = normal(b.users * b.D, 0.3f, 3);
    b.t = malloc(sizeof(int32_t) * (size_t)b.B);
    b.off = malloc(sizeof(int64_t) * (size_t)(b.users + 1));
    b.ex = malloc(sizeof(int32_t) * (size_t)(b.users * 50));
    lt_rng r;
    lt_rng_init(&r, 4, 0);
    for (int64_t i = 0; i < b.B; i++) b.t[i] = (int32_t)lt_rng_below(&r, (uint64_t)b.N);
    b.off[0] = 0;
    for (int64_t i = 0; i < b.users; i++) {
        int n = 20 + (int)lt_rng_below(&r, 31);
        for (int k = 0; k < n; k++) b.ex[b.off[i] + k] = (int32_t)lt_rng_below(&r, (uint64_t)b.N);
        b.off[i + 1] = b.off[i] + n;
    }

    lt_backend *cpu = lt_backend_cpu();
    printf("%s\n", lt_backend_describe(cpu));
    printf("rank (cpu): (1) catalog softmax fwd+bwd B = %lld, N = %lld, D = %lld, chunk = %lld; (2) top-%d of %lld users "
           "with 20-50 exclusions each\n", (long long)b.B, (long long)b.N, (long long)b.D, (long long)b.chunk, b.K,
           (long long)b.users);
    /* like PyTorch and faiss, longtail runs at 1 and 2 threads and keeps its best of each op: on a
     * machine whose other core is busy, one thread can beat two that wait for each other */
    lt_result lr = {0};
    int nth = omp_get_max_threads();
    char lnote[256] = "";
    for (int th = 1; th <= (nth < 2 ? nth : 2); th++) {
        lt_result x = {0};
        omp_set_num_threads(th);
        run_longtail(cpu, &b, &x);
        size_t len = strlen(lnote);
        snprintf(lnote + len, sizeof lnote - len, "%s%d threads: xent %.4f s, topk %.4f s, sgemm %.1f GFLOP/s",
                 th > 1 ? "; " : "", th, x.xent_s, x.topk_s, x.gemm_gflops);
        if (th == 1) {
            lr = x;
            continue;
        }
        if (x.xent_s < lr.xent_s) lr.xent_s = x.xent_s, lr.loss_sum = x.loss_sum;
        if (x.topk_s < lr.topk_s) lr.topk_s = x.topk_s, free(lr.idx), lr.idx = x.idx, x.idx = NULL;
        if (x.gemm_gflops > lr.gemm_gflops) lr.gemm_gflops = x.gemm_gflops;
        free(x.idx);
    }
    omp_set_num_threads(nth);
    printf("longtail per thread count: %s\n", lnote);
    char *js = NULL, dir[] = "/tmp/lt-bench-rank-XXXXXX";
    int have_dir = 0;
    if (refs && mkdtemp(dir)) {
        have_dir = 1;
        if (write_raw(dir, "u.f32", b.u, sizeof(float) * (size_t)(b.B * b.D)) ||
            write_raw(dir, "v.f32", b.v, sizeof(float) * (size_t)(b.N * b.D)) ||
            write_raw(dir, "t.i32", b.t, sizeof(int32_t) * (size_t)b.B) ||
            write_raw(dir, "q.f32", b.q, sizeof(float) * (size_t)(b.users * b.D)) ||
            write_raw(dir, "excl_off.i64", b.off, sizeof(int64_t) * (size_t)(b.users + 1)) ||
            write_raw(dir, "excl_ids.i32", b.ex, sizeof(int32_t) * (size_t)b.off[b.users]))
            fprintf(stderr, "rank: cannot write the data for rank_ref.py in %s\n", dir);
        else
            js = run_ref(&b, dir, "cpu");
    }
    double ts = 0, tth = 0, tpeak = 0, tmat = 0, tloss = 0, fs = 0, fsearch = 0, ffilter = 0, fk = 0;
    int have_t = !json_num(js, "torch_xent", "seconds", &ts), have_f = !json_num(js, "faiss_topk", "seconds", &fs);
    char tnote[512], fnote[512];
    json_str(js, "torch_xent", have_t ? "note" : "skipped", tnote, sizeof tnote);
    json_str(js, "faiss_topk", have_f ? "note" : "skipped", fnote, sizeof fnote);
    if (have_t) {
        json_num(js, "torch_xent", "threads", &tth), json_num(js, "torch_xent", "peak_extra_bytes", &tpeak);
        json_num(js, "torch_xent", "materialised_bytes", &tmat), json_num(js, "torch_xent", "loss_sum", &tloss);
    }
    if (have_f) {
        json_num(js, "faiss_topk", "search_seconds", &fsearch), json_num(js, "faiss_topk", "filter_seconds", &ffilter);
        json_num(js, "faiss_topk", "k_searched", &fk);
    }
    double xflop = 4.0 * 2 * b.B * b.N * b.D, tflop = 3.0 * 2 * b.B * b.N * b.D, kflop = 2.0 * b.users * b.N * b.D;
    printf("\nengine sgemm on the scores' shape (%lld x %lld x %lld per tile): %.1f GFLOP/s\n", (long long)b.B,
           (long long)(b.chunk < b.N ? b.chunk : b.N), (long long)b.D, lr.gemm_gflops);
    printf("\n(1) catalog cross-entropy fwd + bwd\n");
    printf("  %-28s %9.4f s  %6.1f GFLOP/s (4 GEMMs: fwd, recompute, du, dv)  peak extra %8.2f MiB\n", "longtail (chunked)",
           lr.xent_s, xflop / lr.xent_s * 1e-9, lr.work_bytes / 1048576.0);
    double xratio = 0, mratio = 0;
    if (have_t) {
        double tpk = tpeak > tmat ? tpeak : tmat;
        xratio = ts / lr.xent_s, mratio = lr.work_bytes / tpk;
        printf("  %-28s %9.4f s  %6.1f GFLOP/s (3 GEMMs)  peak extra %8.2f MiB measured (%.2f MiB of logits + grad)\n",
               "pytorch (materialised)", ts, tflop / ts * 1e-9, tpeak / 1048576.0, tmat / 1048576.0);
        printf("  %s\n", tnote);
        printf("  loss sum: longtail %.6f, pytorch %.6f (rel diff %.2g)\n", lr.loss_sum, tloss,
               fabs(lr.loss_sum - tloss) / fabs(tloss));
        printf("  ratio pytorch / longtail time = %.2f (goal >= 1.5); memory longtail / pytorch = %.4f (goal <= 0.1)\n",
               xratio, mratio);
    } else {
        printf("  pytorch: skipped: %s\n", refs ? tnote : "--no-ref");
    }
    printf("\n(2) top-%d with exclusions, %lld users x %lld items\n", b.K, (long long)b.users, (long long)b.N);
    printf("  %-28s %9.4f s  %6.1f GFLOP/s  tile %.0f MiB\n", "longtail score_topk", lr.topk_s, kflop / lr.topk_s * 1e-9,
           lr.topk_bytes / 1048576.0);
    double kratio = 0;
    if (have_f) {
        kratio = fs / lr.topk_s;
        printf("  %-28s %9.4f s  (search k = %.0f: %.4f s, filter: %.4f s)\n", "faiss IndexFlatIP + filter", fs, fk,
               fsearch, ffilter);
        printf("  %s\n", fnote);
        /* agreement: the same ids, rank by rank (ties of float rounding may swap neighbours) */
        char path[4096];
        snprintf(path, sizeof path, "%s/faiss_idx.i32", dir);
        FILE *f = fopen(path, "rb");
        int64_t n = b.users * b.K, same = 0, inset = 0;
        int32_t *fi = malloc(sizeof(int32_t) * (size_t)n);
        if (f && fread(fi, sizeof(int32_t), (size_t)n, f) == (size_t)n) {
            for (int64_t i = 0; i < n; i++) {
                same += fi[i] == lr.idx[i];
                int64_t row = i / b.K;
                for (int k = 0; k < b.K; k++) inset += fi[i] == lr.idx[row * b.K + k];
            }
            printf("  agreement with faiss: %.4f%% same id at the same rank, %.4f%% of faiss's ids in longtail's top-%d\n",
                   100.0 * same / n, 100.0 * inset / n, b.K);
        }
        if (f) fclose(f);
        free(fi);
        printf("  ratio faiss / longtail time = %.2f (goal >= 1.5)\n", kratio);
    } else {
        printf("  faiss: skipped: %s\n", refs ? fnote : "--no-ref");
    }
    char json_tmp[4200];
    FILE *json = json_path ? bench_json_open(json_path, json_tmp, sizeof json_tmp) : NULL;
    if (json_path && !json) return 1;
    if (json) {
        fprintf(json, "{\"cpu\": {\"B\": %lld, \"N\": %lld, \"D\": %lld, \"chunk\": %lld, \"users\": %lld, \"K\": %d, "
                "\"sgemm_gflops\": %.2f, \"longtail_xent_s\": %.5f, \"longtail_xent_peak_bytes\": %zu, "
                "\"longtail_topk_s\": %.5f", (long long)b.B, (long long)b.N, (long long)b.D, (long long)b.chunk,
                (long long)b.users, b.K, lr.gemm_gflops, lr.xent_s, lr.work_bytes, lr.topk_s);
        if (have_t)
            fprintf(json, ", \"torch_xent_s\": %.5f, \"torch_threads\": %.0f, \"torch_peak_extra_bytes\": %.0f, "
                    "\"xent_time_ratio\": %.4f, \"xent_memory_ratio\": %.6f", ts, tth, tpeak, xratio, mratio);
        if (have_f) fprintf(json, ", \"faiss_topk_s\": %.5f, \"topk_time_ratio\": %.4f", fs, kratio);
        fputc('}', json);
    }
    lt_backend *cuda = NULL;
    if (gpu && bench_gpu(&cuda) < 0) printf("\ncuda: skipped: %s\n", lt_last_error());
    if (cuda) {
        bench gb = b;
        gb.chunk = gchunk > 0 ? gchunk : b.chunk;
        printf("\n%s\nrank (cuda), the same sizes, chunk = %lld:\n", lt_backend_describe(cuda), (long long)gb.chunk);
        lt_result gr = {0};
        run_longtail(cuda, &gb, &gr);
        printf("  catalog xent fwd+bwd %.5f s (%.1f GFLOP/s, work %.2f MiB); score_topk %.5f s (%.1f GFLOP/s); "
               "sgemm %.1f GFLOP/s\n", gr.xent_s, xflop / gr.xent_s * 1e-9, gr.work_bytes / 1048576.0, gr.topk_s,
               kflop / gr.topk_s * 1e-9, gr.gemm_gflops);
        int64_t n = b.users * b.K, same = 0;
        for (int64_t i = 0; i < n; i++) same += gr.idx[i] == lr.idx[i];
        printf("  top-%d ids equal to the cpu's at %.3f%% of ranks; loss sum %.6f (cpu %.6f)\n", b.K, 100.0 * same / n,
               gr.loss_sum, lr.loss_sum);
        char *gj = refs && have_dir ? run_ref(&b, dir, "cuda") : NULL;
        double gts = 0, gpeak = 0;
        if (!json_num(gj, "torch_xent", "seconds", &gts)) {
            json_num(gj, "torch_xent", "peak_extra_bytes", &gpeak);
            printf("  pytorch cuda xent fwd+bwd %.5f s, peak extra %.1f MiB: ratio %.2f\n", gts, gpeak / 1048576.0,
                   gts / gr.xent_s);
        }
        if (json) {
            fprintf(json, ", \"cuda\": {\"device\": \"%s\", \"longtail_xent_s\": %.6f, \"longtail_topk_s\": %.6f, "
                    "\"sgemm_gflops\": %.1f", bench_gpu_name(), gr.xent_s, gr.topk_s, gr.gemm_gflops);
            if (gts > 0) fprintf(json, ", \"torch_xent_s\": %.6f, \"xent_time_ratio\": %.4f", gts, gts / gr.xent_s);
            fputc('}', json);
        }
        free(gj), free(gr.idx);
        lt_backend_release(cuda);
    }
    if (json && (fputs("}\n", json), bench_json_close(json, json_tmp, json_path) < 0)) return 1;
    if (have_dir) {
        const char *names[] = {"u.f32", "v.f32", "t.i32", "q.f32", "excl_off.i64", "excl_ids.i32", "faiss_idx.i32"};
        char path[4096];
        for (int i = 0; i < 7; i++) snprintf(path, sizeof path, "%s/%s", dir, names[i]), unlink(path);
        rmdir(dir);
    }
    free(js), free(lr.idx), free(b.u), free(b.v), free(b.q), free(b.t), free(b.off), free(b.ex);
    return 0;
}
