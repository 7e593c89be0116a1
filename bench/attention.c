/* bench/attention: the fused attention kernels beside the GEMMs of the same transformer layer,
 * on the CUDA backend. The goal: attention forward a small fraction of the layer's GEMM time.
 *
 *   attention [--batch 32] [--seq 128] [--heads 12] [--dim 64] [--reps 20] [--json FILE]
 *
 * Each figure is the best of 3 rounds of `reps` back-to-back calls and one sync, per call: what a
 * training step sees, launch overheads included. The GEMMs are the layer's four bf16 x bf16 -> bf16
 * products with fp32 accumulation (QKV, attention output, FFN up, FFN down) at C = heads * dim. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_device.h"
#include "bench_json.h"
#include "longtail/backend.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/ops.h"

typedef struct {
    lt_backend *be;
    lt_tensor qkv, out, lse, lens, dout, dqkv, x, w[4], y[4];
    int heads;
    float scale;
} ctx;

typedef int (*op_fn)(ctx *c);

static int attn_fwd(ctx *c) { return lt_attention_fwd(c->be, &c->out, &c->lse, &c->qkv, &c->lens, c->heads, c->scale); }
static int attn_bwd(ctx *c) {
    return lt_attention_bwd(c->be, &c->dqkv, &c->dout, &c->qkv, &c->out, &c->lse, &c->lens, c->heads, c->scale);
}
static int gemms(ctx *c) {
    /* x [BT, C] -> qkv-sized, out-sized, ffn-up, ffn-down: the shapes only matter, not the chain */
    for (int i = 0; i < 4; i++) LT_TRY(lt_matmul(c->be, &c->y[i], i == 3 ? &c->y[2] : &c->x, 0, &c->w[i], 0, 1, 0));
    return 0;
}

/* seconds per call */
static double timed(op_fn f, ctx *c, int reps) {
    if (f(c) < 0 || lt_backend_sync(c->be) < 0) return -1;
    double best = 1e30;
    for (int round = 0; round < 3; round++) {
        double t = lt_seconds();
        for (int r = 0; r < reps; r++)
            if (f(c) < 0) return -1;
        if (lt_backend_sync(c->be) < 0) return -1;
        t = (lt_seconds() - t) / reps;
        if (t < best) best = t;
    }
    return best;
}

static int tensor(lt_backend *be, lt_tensor *t, lt_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t sh[4] = {d0, d1, d2, d3};
    return lt_tensor_new(t, be, dt, ndim, sh);
}

int main(int argc, char **argv) {
    int64_t B = 32, T = 128, H = 12, D = 64;
    int reps = 20;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc) T = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--heads") && i + 1 < argc) H = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc) D = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else {
            fprintf(stderr, "usage: attention [--batch B] [--seq T] [--heads H] [--dim D] [--reps R] [--json FILE]\n");
            return 2;
        }
    }
    printf("attention: B = %lld, T = %lld, H = %lld, D = %lld (all keys valid), %d calls x 3 rounds\n", (long long)B,
           (long long)T, (long long)H, (long long)D, reps);
    ctx c = {.heads = (int)H, .scale = 1.0f / sqrtf((float)D)};
    if (bench_gpu(&c.be) < 0) {
        printf("cuda: skipped: %s\n", lt_last_error());
        return 0;
    }
    printf("%s\n", lt_backend_describe(c.be));
    int64_t C = H * D, BT = B * T;
    const int64_t wn[4] = {3 * C, C, 4 * C, C};
    char json_tmp[4200];
    FILE *json = json_path ? bench_json_open(json_path, json_tmp, sizeof json_tmp) : NULL;
    if (json_path && !json) return 1;
    if (json) fprintf(json, "{\"device\": \"%s\", \"B\": %lld, \"T\": %lld, \"H\": %lld, \"D\": %lld", bench_gpu_name(),
                      (long long)B, (long long)T, (long long)H, (long long)D);
    double gemm_t = -1, fwd_bf16 = -1;
    for (int pass = 0; pass < 2; pass++) {
        lt_dtype dt = pass == 0 ? LT_BF16 : LT_F32;
        const char *dn = lt_dtype_name(dt);
        int32_t *hl = malloc((size_t)B * sizeof(int32_t));
        for (int64_t b = 0; b < B; b++) hl[b] = (int32_t)T;
        lt_tensor hlens = lt_view1(hl, LT_I32, LT_CPU, B);
        if (tensor(c.be, &c.qkv, dt, 3, B, T, 3 * H * D, 0) < 0 || tensor(c.be, &c.out, dt, 3, B, T, H * D, 0) < 0 ||
            tensor(c.be, &c.dout, dt, 3, B, T, H * D, 0) < 0 || tensor(c.be, &c.dqkv, dt, 3, B, T, 3 * H * D, 0) < 0 ||
            tensor(c.be, &c.lse, LT_F32, 3, B, H, T, 0) < 0 || tensor(c.be, &c.lens, LT_I32, 1, B, 0, 0, 0) < 0 ||
            lt_tensor_copy(c.be, &c.lens, &hlens) < 0) {
            fprintf(stderr, "attention: %s\n", lt_last_error());
            bench_json_abort(json, json_tmp);
            return 1;
        }
        free(hl);
        /* zeros are a fine input for timing: the kernels do the same work for any values */
        double tf = timed(attn_fwd, &c, reps), tb = timed(attn_bwd, &c, reps);
        if (tf < 0 || tb < 0) {
            fprintf(stderr, "attention %s: %s\n", dn, lt_last_error());
            bench_json_abort(json, json_tmp);
            return 1;
        }
        double flop = 4.0 * B * H * T * T * D; /* QK^T and PV */
        printf("  attention fwd %-5s %9.1f us  %7.1f TFLOP/s\n", dn, tf * 1e6, flop / tf / 1e12);
        printf("  attention bwd %-5s %9.1f us  %7.1f TFLOP/s (2.5x the forward's FLOPs)\n", dn, tb * 1e6,
               2.5 * flop / tb / 1e12);
        if (json) fprintf(json, ", \"attn_fwd_%s_us\": %.1f, \"attn_bwd_%s_us\": %.1f", dn, tf * 1e6, dn, tb * 1e6);
        if (dt == LT_BF16) fwd_bf16 = tf;
        lt_tensor ts[] = {c.qkv, c.out, c.dout, c.dqkv, c.lse, c.lens};
        for (int i = 0; i < 6; i++) lt_tensor_free(c.be, &ts[i]);
    }
    int ok = tensor(c.be, &c.x, LT_BF16, 2, BT, C, 0, 0) >= 0;
    for (int i = 0; i < 4 && ok; i++)
        ok = tensor(c.be, &c.w[i], LT_BF16, 2, i == 3 ? 4 * C : C, wn[i], 0, 0) >= 0 &&
             tensor(c.be, &c.y[i], LT_BF16, 2, BT, wn[i], 0, 0) >= 0;
    if (ok) gemm_t = timed(gemms, &c, reps);
    if (gemm_t < 0) {
        fprintf(stderr, "gemm: %s\n", lt_last_error());
        bench_json_abort(json, json_tmp);
        return 1;
    }
    double gflop = 2.0 * BT * C * (3 * C + C + 4 * C + 4 * C);
    printf("  layer GEMMs bf16  %9.1f us  %7.1f TFLOP/s (QKV, out, FFN up, FFN down)\n", gemm_t * 1e6,
           gflop / gemm_t / 1e12);
    printf("ratio attention fwd / layer GEMMs (bf16) = %.3f\n", fwd_bf16 / gemm_t);
    if (json) {
        fprintf(json, ", \"gemm_layer_bf16_us\": %.1f, \"fwd_ratio\": %.4f}\n", gemm_t * 1e6, fwd_bf16 / gemm_t);
        if (bench_json_close(json, json_tmp, json_path) < 0) return 1;
    }
    lt_tensor_free(c.be, &c.x);
    for (int i = 0; i < 4; i++) lt_tensor_free(c.be, &c.w[i]), lt_tensor_free(c.be, &c.y[i]);
    lt_backend_release(c.be);
    return 0;
}
