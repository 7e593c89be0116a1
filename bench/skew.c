/* bench/skew: the two segmented reductions on long-tail inputs, on CUDA (or the CPU with --cpu, or
 * when there is no CUDA device). Each case is timed against the same op on uniform ids, so a
 * kernel that serialises the largest run shows as a ratio far above 1.
 *
 *   skew [--cpu] [--tokens N] [--dim D] [--vocab V] [--rows R] [--d D] [--k K] [--reps R]
 *
 * embedding_bwd: N ids (default 65536: 512 sequences of 128) into a [V, D] table (30522 x 768):
 *   uniform; Zipf (s = 1.1); half [PAD] (id 0, summed); 90 % one hot id; half [PAD] skipped.
 * kmeans_update: R rows (1M on CUDA, 100k on the CPU) of width d (256) into K clusters (20000 on
 *   CUDA, 1024 on the CPU): uniform; 90 % in one cluster.
 * Times are per call after a warm-up call, device-synchronised, inputs already on the device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_device.h"
#include "longtail/backend.h"
#include "longtail/error.h"
#include "longtail/ops.h"
#include "longtail/rng.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "skew: %s: %s\n", what, lt_last_error());
    exit(1);
}

static lt_tensor up(lt_backend *be, lt_dtype dt, const void *h, int ndim, const int64_t *shape) {
    lt_tensor t;
    if (lt_tensor_new(&t, be, dt, ndim, shape) < 0) die("alloc");
    lt_tensor v = lt_view((void *)h, dt, LT_CPU, ndim, shape);
    if (lt_tensor_copy(be, &t, &v) < 0) die("upload");
    return t;
}

/* ids[n]: 0 uniform over [1, V), 1 Zipf s = 1.1, 2 half id 0, 3 90 % id 7, 4 = 2 */
static void fill_ids(int32_t *ids, int64_t n, int64_t V, int kind, lt_rng *r) {
    double hs = 0;
    if (kind == 1)
        for (int64_t j = 1; j <= 10000; j++) hs += pow((double)j, -1.1);
    for (int64_t i = 0; i < n; i++) {
        double u = lt_rng_next_double(r);
        int32_t uni = 1 + (int32_t)lt_rng_below(r, (uint64_t)(V - 1));
        if (kind == 1) { /* inverse CDF over the 10,000 most popular ids */
            double acc = 0, target = u * hs;
            int64_t j = 1;
            while (j < 10000 && (acc += pow((double)j, -1.1)) < target) j++;
            ids[i] = (int32_t)j;
        } else if (kind == 2 || kind == 4) ids[i] = u < 0.5 ? 0 : uni;
        else if (kind == 3) ids[i] = u < 0.9 ? 7 : uni;
        else ids[i] = uni;
    }
}

int main(int argc, char **argv) {
    int cpu = 0, reps = 10;
    int64_t N = 65536, D = 768, V = 30522, R = -1, d = 256, K = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cpu")) cpu = 1;
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) N = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc) D = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) V = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) R = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) d = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) K = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: skew [--cpu] [--tokens N] [--dim D] [--vocab V] [--rows R] [--d D] [--k K] [--reps R]\n");
            return 2;
        }
    }
    lt_backend *be = NULL;
    if (!cpu && bench_gpu(&be) < 0) { /* LONGTAIL_BENCH_DEVICE=guard: the guarded device (bench_device.h) */
        printf("cuda: no CUDA device (%s): timing the CPU\n", lt_last_error());
        be = NULL;
    }
    if (!be) be = lt_backend_cpu(), cpu = 1;
    if (R < 0) R = cpu ? 100000 : 1000000;
    if (K < 0) K = cpu ? 1024 : 20000;
    printf("%s\n", lt_backend_describe(be));
    lt_rng r;
    lt_rng_init(&r, 11, 0);

    /* ---- embedding_bwd ---- */
    float *h = malloc(sizeof(float) * (size_t)(N * D));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
    for (int64_t i = 0; i < N * D; i++) h[i] = lt_rng_next_uniform(&r) - 0.5f;
    lt_tensor dout = up(be, LT_F32, h, 2, (int64_t[]){N, D}), table;
    if (lt_tensor_new(&table, be, LT_F32, 2, (int64_t[]){V, D}) < 0) die("alloc");
    static const char *names[5] = {"uniform", "zipf 1.1", "half [PAD], summed", "90% one id", "half [PAD], skipped"};
    double base = 0;
    printf("embedding_bwd %lld ids into %lld x %lld:\n", (long long)N, (long long)V, (long long)D);
    for (int kind = 0; kind < 5; kind++) {
        fill_ids(ids, N, V, kind, &r);
        lt_tensor ti = up(be, LT_I32, ids, 1, (int64_t[]){N});
        int32_t skip = kind == 4 ? 0 : -1;
        if (lt_embedding_bwd_skip(be, &table, &dout, &ti, skip) < 0 || lt_backend_sync(be) < 0) die("embedding_bwd");
        double t0 = now();
        for (int q = 0; q < reps; q++)
            if (lt_embedding_bwd_skip(be, &table, &dout, &ti, skip) < 0) die("embedding_bwd");
        if (lt_backend_sync(be) < 0) die("sync");
        double ms = (now() - t0) / reps * 1e3;
        if (kind == 0) base = ms;
        printf("  %-22s %9.3f ms   x%.2f of uniform\n", names[kind], ms, ms / base);
        lt_tensor_free(be, &ti);
    }
    lt_tensor_free(be, &dout), lt_tensor_free(be, &table);
    free(h), free(ids);

    /* ---- kmeans_update ---- */
    float *x = malloc(sizeof(float) * (size_t)(R * d));
    int32_t *as = malloc(sizeof(int32_t) * (size_t)R);
    for (int64_t i = 0; i < R * d; i++) x[i] = lt_rng_next_uniform(&r) - 0.5f;
    lt_tensor tx = up(be, LT_F32, x, 2, (int64_t[]){R, d}), sums, counts;
    if (lt_tensor_new(&sums, be, LT_F32, 2, (int64_t[]){K, d}) < 0 ||
        lt_tensor_new(&counts, be, LT_I32, 1, (int64_t[]){K}) < 0)
        die("alloc");
    printf("kmeans_update %lld x %lld rows into k = %lld:\n", (long long)R, (long long)d, (long long)K);
    for (int kind = 0; kind < 2; kind++) {
        for (int64_t i = 0; i < R; i++)
            as[i] = kind && lt_rng_next_double(&r) < 0.9 ? 3 : (int32_t)lt_rng_below(&r, (uint64_t)K);
        lt_tensor ta = up(be, LT_I32, as, 1, (int64_t[]){R});
        if (lt_kmeans_update(be, &sums, &counts, &tx, &ta) < 0 || lt_backend_sync(be) < 0) die("kmeans_update");
        double t0 = now();
        for (int q = 0; q < reps; q++)
            if (lt_kmeans_update(be, &sums, &counts, &tx, &ta) < 0) die("kmeans_update");
        if (lt_backend_sync(be) < 0) die("sync");
        double ms = (now() - t0) / reps * 1e3;
        if (kind == 0) base = ms;
        printf("  %-22s %9.3f ms   x%.2f of uniform\n", kind ? "90% in one cluster" : "uniform", ms, ms / base);
        lt_tensor_free(be, &ta);
    }
    lt_tensor_free(be, &tx), lt_tensor_free(be, &sums), lt_tensor_free(be, &counts);
    free(x), free(as);
    return 0;
}
