/* bench/scaling: data-parallel training on paper. A small analytic model of the step time against
 * the number of GPUs for three workloads, from what can be known here:
 *
 *   - the gradient bytes: the real parameter slab of each model, built with the engine
 *     (lt_rec_create, lt_bert_create: lt_params.total floats, padding included, split into the dense
 *     part and the embedding tables), bucketed as the trainer buckets it (lt_trainer_cfg.bucket_floats);
 *   - the compute per step: the Beauty recommender's step MEASURED on this machine (K batches of the
 *     trainer's epoch order through lt_rec_train_batch + lt_optim_step, as bench/rec times an epoch),
 *     and an H200 figure per workload DERIVED from its FLOPs and bytes with the efficiencies printed;
 *   - the all-reduce: ring bandwidth term 2 (n - 1) / n x bytes / bus bandwidth plus a tree latency
 *     term 2 ceil(log2 n) alpha per bucket; NVLink within a box of 8, InfiniBand across boxes;
 *   - the overlap the buckets give: which buckets the code fires before the backward ends (the
 *     trainer's rule on the real slab: a bucket fires once every parameter in it was reported final
 *     by the model), and the window they can hide in.
 *
 * Weak scaling: a fixed batch per GPU, the global batch grows with the GPUs (what `longtail train`
 * does: --batch is per rank). Efficiency(n) = compute / (compute + exposed communication).
 *
 *   scaling [--data DIR] [--steps 24] [--threads 1]
 *
 * --data: Amazon Beauty (default ../shared/datasets/amazon-beauty next to the source); without it the
 * measured CPU step is skipped and the Beauty shapes fall back to bench/rec's epoch (stated). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "longtail/backend.h"
#include "longtail/bert.h"
#include "longtail/data.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/param.h"
#include "longtail/rec.h"
#include "longtail/recmodel.h"
#include "longtail/rng.h"
#include "longtail/trainer.h"
#include "rec_batches.h"

static void die(const char *what) {
    fprintf(stderr, "scaling: %s: %s\n", what, lt_last_error());
    exit(1);
}

/* ---- the hardware (assumptions, printed) ---------------------------------------------------------- */

/* H200 SXM (NVIDIA H200 Tensor Core GPU datasheet): bf16 dense 989 TFLOPS (1,979 is with 2:4
 * sparsity), HBM3e 4.8 TB/s, NVLink 4 at 900 GB/s bidirectional per GPU; DGX/HGX H200: 8 GPUs a box,
 * one 400 Gb/s NDR InfiniBand adapter (ConnectX-7) per GPU. */
static const double PEAK_BF16 = 989e12, HBM = 4.8e12;
static const double NVLINK_BUS = 360e9; /* 450 GB/s a direction; NCCL all-reduce bus bandwidth ~80 % of it */
static const double IB_BUS = 40e9;      /* 400 Gb/s = 50 GB/s a direction per GPU; ~80 % of it */
static const double ALPHA_NVLINK = 3e-6, ALPHA_IB = 6e-6; /* latency per tree level */
static const double ETH_BUS = 2.5e9, ALPHA_ETH = 20e-6;   /* CPU ranks: 25 Gb Ethernet, TCP, ~80 % */
static const int BOX = 8;

typedef struct {
    const char *name;
    double bus_in, alpha_in;   /* within a box */
    double bus_out, alpha_out; /* across boxes */
    int box;
} network;

static const network H200 = {"H200 boxes of 8 (NVLink in, NDR IB across)", NVLINK_BUS, ALPHA_NVLINK, IB_BUS, ALPHA_IB, BOX};
static const network CPU_ETH = {"CPU ranks, one a box, 25 GbE", ETH_BUS, ALPHA_ETH, ETH_BUS, ALPHA_ETH, 1};

static int levels(int n) {
    int l = 0;
    while ((1 << l) < n) l++;
    return l;
}

/* The slowest link a ring of n ranks crosses: NVLink within a box, the GPU's own NIC once the job
 * spans boxes. */
static void ring_link(const network *w, int n, double *bus, double *alpha) {
    int across = n > w->box;
    *bus = across ? w->bus_out : w->bus_in, *alpha = across ? w->alpha_out : w->alpha_in;
}

/* One all-reduce of `bytes` over n ranks: the ring's bandwidth term and a tree's latency. */
static double allreduce_s(const network *w, int n, double bytes) {
    if (n <= 1 || bytes <= 0) return 0;
    double bus, alpha;
    ring_link(w, n, &bus, &alpha);
    return 2.0 * (n - 1) / n * bytes / bus + 2.0 * levels(n) * alpha;
}

/* A ring all-gather: every rank ends with all n contributions of `bytes` each. */
static double allgather_s(const network *w, int n, double bytes) {
    if (n <= 1 || bytes <= 0) return 0;
    double bus, alpha;
    ring_link(w, n, &bus, &alpha);
    return (double)(n - 1) * bytes / bus + levels(n) * alpha;
}

/* ---- the slabs -------------------------------------------------------------------------------------- */

typedef struct {
    double total, dense, table; /* floats of the gradient slab (padding included) */
    double late;                /* floats final only when the backward ends (see late_floats) */
    int64_t buckets, early_buckets;
} slab;

/* The trainer's bucketing (src/train/trainer.c): bucket b holds floats [b F, (b + 1) F) of the slab and
 * fires during the backward once every parameter it touches was reported final (lt_params_ready).
 * early(name) says which parameters the model reports before its backward ends. */
static slab measure(const lt_params *ps, int64_t F, int (*early)(const char *name)) {
    slab s = {.total = (double)ps->total, .dense = (double)ps->n_dense, .table = (double)(ps->total - ps->n_dense)};
    s.buckets = (ps->total + F - 1) / F;
    int *late = calloc((size_t)s.buckets, sizeof *late);
    for (int i = 0; i < ps->n; i++) {
        const lt_param *p = &ps->p[i];
        int64_t n = lt_numel(&p->value), b0 = p->offset / F, b1 = (p->offset + (n ? n : 1) - 1) / F;
        if (early && early(p->name)) continue;
        for (int64_t b = b0; b <= b1; b++) late[b] = 1;
    }
    for (int64_t b = 0; b < s.buckets; b++) s.early_buckets += !late[b];
    free(late);
    return s;
}

/* The recommender reports its tower (projection, recurrent weights) after the tower's backward and
 * before the inputs' (src/model/rec.c, tower_ready); BERT reports its MLM head before the layers and
 * each layer after its backward (src/model/bert.c, layer_ready): all but the embeddings. */
static int rec_tower(const char *name) { return !strncmp(name, "user.", 5); }
static int bert_layers(const char *name) { return strncmp(name, "embeddings.", 11) != 0; }

/* Floats final only at the very end of the backward when every layer reports its gradients as soon as
 * they are final: the input side. For the recommender the item side (id table,
 * text projection) gets its gradient from the inputs' backward, the last thing; for BERT the embeddings
 * (the word embeddings are tied to the MLM decoder but also gather the inputs' gradient, last). */
static double late_floats(const lt_params *ps, const char *prefix) {
    double n = 0;
    for (int i = 0; i < ps->n; i++)
        if (!strncmp(ps->p[i].name, prefix, strlen(prefix))) n += (double)lt_numel(&ps->p[i].value);
    return n;
}

static void print_slab(const char *name, const slab *s, int64_t F) {
    printf("  %-34s %9.2fM floats (%8.1f MB fp32): dense %7.2fM, tables %8.2fM; %lld bucket%s of %lld floats, "
           "%lld fire%s before the backward ends\n",
           name, s->total / 1e6, s->total * 4 / 1e6, s->dense / 1e6, s->table / 1e6, (long long)s->buckets,
           s->buckets == 1 ? "" : "s", (long long)F, (long long)s->early_buckets, s->early_buckets == 1 ? "s" : "");
}

static lt_rec *rec_model(lt_backend *be, const lt_rec_config *c) {
    float *text = calloc((size_t)(c->n_items * c->text_dim), sizeof *text);
    uint8_t *seen = malloc((size_t)c->n_items);
    memset(seen, 1, (size_t)c->n_items);
    lt_rec *m = NULL;
    if (lt_rec_create(&m, be, c, text, seen, 1) < 0 || lt_params_layout(lt_rec_params(m)) < 0) die("recommender");
    free(text), free(seen);
    return m;
}

/* ---- the model ------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    double compute;       /* seconds per step on one GPU */
    double grad_bytes;    /* all-reduced densely per step */
    double late_bytes;    /* of those: final only when the backward ends (not hideable) */
    int64_t buckets;      /* all-reduces per step (each pays the latency) */
    double early_bytes;   /* bytes in buckets that fire before the backward ends, as built */
    double window;        /* seconds of backward left after they fire, as built */
    double sparse_bytes;  /* > 0: per rank, a row-sparse all-gather of the table instead (not built) */
} workload;

/* Exposed communication of one step: the buckets' all-reduces minus what hides behind the backward.
 * overlap = 0: as built (only early buckets, in their window); 1: every layer reports its gradients
 * (the backward, 2/3 of the step, hides all but the late bytes). bf16: half the bytes. */
static double exposed_s(const workload *w, const network *net, int n, int overlap, int bf16) {
    double k = bf16 ? 0.5 : 1.0, bytes = w->grad_bytes * k, per = bytes / (double)(w->buckets ? w->buckets : 1);
    double comm = 0;
    for (int64_t b = 0; b < w->buckets; b++) comm += allreduce_s(net, n, per);
    if (w->sparse_bytes > 0) comm += allgather_s(net, n, w->sparse_bytes * k);
    if (n <= 1) return 0;
    if (!overlap) {
        double hidden = fmin(allreduce_s(net, n, w->early_bytes * k), w->window);
        return comm - hidden;
    }
    /* the late bytes and a sparse table's rows are final only when the backward ends */
    double late = allreduce_s(net, n, w->late_bytes * k) + allgather_s(net, n, w->sparse_bytes * k);
    return fmax(late, comm - w->compute * 2.0 / 3.0);
}

static void print_workload(const workload *w, const network *net) {
    static const int ns[] = {1, 2, 8, 64};
    printf("\n%s  [%s]\n", w->name, net->name);
    printf("  %5s %11s %14s %14s %12s %14s %14s\n", "ranks", "compute ms", "all-reduce ms", "exposed ms", "eff. as built",
           "layers report", "+ bf16 reduce");
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int n = ns[i];
        double e0 = exposed_s(w, net, n, 0, 0), e1 = exposed_s(w, net, n, 1, 0), e2 = exposed_s(w, net, n, 1, 1);
        double comm = exposed_s(&(workload){.grad_bytes = w->grad_bytes, .buckets = w->buckets,
                                            .sparse_bytes = w->sparse_bytes}, net, n, 0, 0);
        printf("  %5d %11.3f %14.3f %14.3f %11.1f%% %13.1f%% %13.1f%%\n", n, w->compute * 1e3, comm * 1e3, e0 * 1e3,
               100 * w->compute / (w->compute + e0), 100 * w->compute / (w->compute + e1),
               100 * w->compute / (w->compute + e2));
    }
}

/* ---- main -------------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    const char *data = NULL;
    int64_t steps = 24;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else return fprintf(stderr, "usage: scaling [--data DIR] [--steps 24] [--threads 1]\n"), 2;
    }
    if (steps < 1 || threads < 1) return fprintf(stderr, "scaling: steps and threads >= 1\n"), 2;
    char dpath[4200];
    if (!data) snprintf(dpath, sizeof dpath, "%s/../shared/datasets/amazon-beauty", LT_SOURCE_DIR), data = dpath;
    lt_backend *cpu = lt_backend_cpu();
    omp_set_num_threads(threads);
    lt_trainer_cfg tc;
    lt_trainer_cfg_init(&tc);
    int64_t F = tc.bucket_floats;

    /* ---- Beauty: the data, the model, K measured steps ---- */
    struct stat st;
    int have_data = stat(data, &st) == 0;
    lt_rec_config beauty;
    lt_rec_config_init(&beauty);
    beauty.text_dim = 128, beauty.n_items = 12101; /* bench/rec's figures when the data is absent */
    double rows = 131398.0 / 175, tmean = 0, cpu_step = 0;
    lt_catalog cat;
    lt_events ev;
    lt_rec_split sp;
    batches bt = {0};
    if (have_data) {
        lt_import_opts io = {.format = "amazon-beauty", .in = data};
        lt_import_report rep;
        if (lt_import(&io, &cat, &ev, &rep) < 0) die("import");
        if (lt_rec_split_make(&ev, NULL, &sp) < 0) die("split");
        beauty.n_items = ev.n_items;
        make_batches(&sp, 128, beauty.max_len, 1, 0, &bt);
    }
    lt_rec *bm = rec_model(cpu, &beauty);
    lt_params *bps = lt_rec_params(bm);
    slab sb = measure(bps, F, rec_tower);
    printf("scaling: data-parallel step time against GPUs, on paper (weak scaling: a fixed batch per GPU)\n");
    printf("%s\n", lt_backend_describe(cpu));
    if (have_data) {
        /* the first K batches of the epoch's shuffled order, after 2 untimed ones */
        int64_t K = steps + 2 < bt.n_batches ? steps + 2 : bt.n_batches;
        lt_optim_cfg oc = tc.optim;
        oc.lr = 3e-3f, oc.warmup_steps = 100, oc.total_steps = 30 * bt.n_batches;
        double t = 0, r = 0, T = 0;
        for (int64_t k = 0; k < K; k++) {
            lt_step s = {.step = k + 1, .micros = 1, .seed = 1, .rank = 0, .ranks = 1};
            double loss, t0 = lt_seconds();
            float norm;
            if (lt_params_zero_grad(bps) < 0 ||
                lt_rec_train_batch(bm, bt.items + bt.off[k], bt.lens + bt.loff[k], bt.B[k], bt.T[k], &s, &loss) < 0 ||
                lt_optim_step(bps, &oc, k + 1, &norm) < 0)
                die("training step");
            if (k < 2) continue;
            t += lt_seconds() - t0, r += (double)(bt.B[k] * (bt.T[k] - 1)), T += (double)bt.T[k];
        }
        int64_t n = K - 2;
        cpu_step = t / (double)n;
        printf("measured: Beauty recommender (%s, %lld items, dim %lld, hidden %lld, LSTM, full softmax), %lld steps of "
               "the epoch's order at batch 128 on %d thread%s: %.1f ms/step (zero grad + lt_rec_train_batch + AdamW), "
               "%.0f rows (B x (T-1)) and T = %.1f a step on average\n",
               data, (long long)beauty.n_items, (long long)beauty.dim, (long long)beauty.hidden, (long long)n, threads,
               threads == 1 ? "" : "s", cpu_step * 1e3, r / (double)n, T / (double)n);
        /* the H200 figure: the whole epoch's average step */
        T = 0;
        for (int64_t k = 0; k < bt.n_batches; k++) T += (double)bt.T[k];
        rows = (double)bt.padded / (double)bt.n_batches, tmean = T / (double)bt.n_batches;
    } else {
        tmean = 20;
        printf("measured: skipped (%s not found): the Beauty shapes are bench/rec's epoch (%.0f rows a step), T = %.0f "
               "assumed\n", data, rows, tmean);
    }

    /* ---- BERT-base pretraining: the real slab ---- */
    lt_bert_config bc;
    lt_bert_config_init(&bc);
    bc.vocab = 30522, bc.hidden = 768, bc.layers = 12, bc.heads = 12, bc.ffn = 3072, bc.max_pos = 512, bc.mlm_head = 1;
    lt_bert *bert = NULL;
    if (lt_bert_create(&bert, cpu, &bc, 1) < 0 || lt_params_layout(lt_bert_params(bert)) < 0) die("bert-base");
    slab sbert = measure(lt_bert_params(bert), F, bert_layers);
    sbert.late = late_floats(lt_bert_params(bert), "embeddings.");
    double bert_params = (double)lt_params_count(lt_bert_params(bert)), bert_emb = sbert.late;
    lt_bert_free(bert);

    /* ---- the 10M-item catalog, sampled softmax: the slab is affine in the catalog size; built at 3
     * sizes (a 10M one does not fit here: V, the id mask and the text copy are catalog-sized) ---- */
    lt_rec_config big = beauty;
    big.loss = LT_REC_LOSS_SAMPLED, big.sampler = LT_REC_NEG_UNIFORM, big.negatives = 1024;
    double at[3] = {20000, 40000, 80000}, tot[3], tab[3], dense_big = 0;
    for (int i = 0; i < 3; i++) {
        big.n_items = (int64_t)at[i];
        lt_rec *m = rec_model(cpu, &big);
        slab s = measure(lt_rec_params(m), F, rec_tower);
        tot[i] = s.total, tab[i] = s.table, dense_big = s.dense;
        lt_rec_free(m);
    }
    double slope = (tot[1] - tot[0]) / (at[1] - at[0]), N10 = 1e7;
    if (fabs(tot[0] + slope * (at[2] - at[0]) - tot[2]) > 0.5) {
        fprintf(stderr, "scaling: the recommender's slab is not affine in the catalog size\n");
        return 1;
    }
    slab s10 = {.total = tot[0] + slope * (N10 - at[0]), .dense = dense_big};
    s10.table = s10.total - s10.dense, s10.buckets = (int64_t)ceil(s10.total / (double)F), s10.early_buckets = 0;
    (void)tab;

    printf("\ngradient slabs (built with the engine; bucket = lt_trainer_cfg.bucket_floats):\n");
    print_slab("Beauty recommender", &sb, F);
    print_slab("BERT-base (MLM head, vocab 30522)", &sbert, F);
    printf("    BERT-base: %.2fM parameters (%.2fM of them embeddings)\n", bert_params / 1e6, bert_emb / 1e6);
    printf("  %-34s %9.2fM floats (%8.1f MB fp32): dense %7.2fM, tables %8.2fM; %lld buckets (built at %.0f, %.0f and "
           "%.0f items: %.1f floats an item, affine to the float)\n",
           "10M-item catalog, sampled softmax", s10.total / 1e6, s10.total * 4 / 1e6, s10.dense / 1e6, s10.table / 1e6,
           (long long)s10.buckets, at[0], at[1], at[2], slope);

    /* ---- compute per step on an H200, derived ---- */
    const double mfu_gemm = 0.40, hbm_eff = 0.70, t_kernel = 4e-6, t_cell = 10e-6;
    double d = (double)beauty.dim, H = (double)beauty.hidden, td = (double)beauty.text_dim;
    /* the recommender: catalog softmax (4 GEMMs of rows x N x d, src/core/rank.c), item tower (text W^T
     * forward, dW backward over the catalog), LSTM (3 GEMM passes of rows x 4H x (d + H)), projection;
     * the recurrent steps are sequential: (T - 1) x forward + backward, each a few kernels */
    double Nb = (double)beauty.n_items;
    double fl_beauty = 8 * rows * Nb * d + 4 * Nb * td * d + 6 * rows * 4 * H * (d + H) + 6 * rows * H * d;
    double lat_beauty = 2 * (tmean - 1) * t_cell + 150 * t_kernel;
    double h200_beauty = fl_beauty / (mfu_gemm * PEAK_BF16) + lat_beauty;
    /* BERT-base MLM: 64 sequences of 128 tokens a GPU, 15 % masked: 6 x (parameters - embeddings) x
     * tokens + attention (12 L H T a token) + the tied decoder on the masked positions */
    double tokens = 64 * 128, masked = 0.15 * tokens;
    double fl_bert = 6 * (bert_params - bert_emb) * tokens + 12.0 * 12 * 768 * 128 * tokens + 6.0 * 30522 * 768 * masked;
    double h200_bert = fl_bert / (mfu_gemm * PEAK_BF16);
    /* the 10M catalog, the step as the code runs it: 128 users x 50 positions, S = 1024 shared
     * negatives; item tower over the WHOLE catalog every step (V = text W^T + b + mask * id forward,
     * dW = dV^T text, id grad += mask * dV backward, row-wise AdamW over the table, zero grad, norm):
     * catalog-sized passes, bound by memory */
    double rows10 = 128 * 50, S = 1024;
    double fl_10 = 6 * rows10 * S * d + 4 * N10 * td * d + 6 * rows10 * 4 * H * (d + H) + 6 * rows10 * H * d;
    /* passes over catalog x d floats: forward V written (1), + b (2), V += id on the rows the id dropout
     * keeps (lt_row_dropout_acc, drawn on the device: at most 3); backward dV zeroed (1), read by dW and
     * db (2), id grad += dV on the same rows (3); the optimizer's zero grad (1), norm (1) and row-wise
     * AdamW (p g m v read, p m v written: 7); and text read twice */
    double passes_nd = 1 + 2 + 3 + 1 + 2 + 3 + 1 + 1 + 7;
    double bytes_10 = 4 * N10 * (passes_nd * d + 2 * td);
    double h200_10 = fmax(fl_10 / (mfu_gemm * PEAK_BF16), bytes_10 / (hbm_eff * HBM)) + 2 * 49 * t_cell + 150 * t_kernel;

    printf("\nassumptions (H200 SXM, NVIDIA's datasheets; none of it measured here):\n");
    printf("  compute: bf16 dense peak %.0f TFLOPS, achieved %.0f %% on the GEMMs; HBM %.1f TB/s, %.0f %% achieved; "
           "a kernel %.0f us of launch and tail, a recurrent step (cell GEMM + gates) %.0f us\n",
           PEAK_BF16 / 1e12, mfu_gemm * 100, HBM / 1e12, hbm_eff * 100, t_kernel * 1e6, t_cell * 1e6);
    printf("  NVLink 4: 900 GB/s bidirectional = 450 GB/s a direction a GPU; all-reduce bus bandwidth %.0f GB/s, "
           "%.0f us a tree level; boxes of %d\n", NVLINK_BUS / 1e9, ALPHA_NVLINK * 1e6, BOX);
    printf("  InfiniBand NDR: 400 Gb/s a GPU (one adapter each) = 50 GB/s a direction; bus bandwidth %.0f GB/s, %.0f us "
           "a tree level; beyond one box the ring's slowest hop is the GPU's own adapter\n", IB_BUS / 1e9, ALPHA_IB * 1e6);
    printf("  all-reduce of B bytes on n GPUs: 2 (n-1)/n B / bus + 2 ceil(log2 n) alpha, per bucket (ring bandwidth, "
           "tree latency: what NCCL picks for large and small buffers)\n");
    printf("  overlap: as built, a bucket fires early only when every parameter in it was reported final; "
           "'layers report' = every layer reports its gradients (as BERT's do; the recommender's inputs do not), hiding all but the late bytes "
           "behind the backward, taken as 2/3 of the step; '+ bf16 reduce' = that and LONGTAIL_NCCL_REDUCE=bf16 "
           "(half the bytes)\n");
    printf("  Beauty on an H200: the epoch's average step, %.0f rows and T = %.1f: %.2f GFLOP -> %.3f ms of GEMMs + %.3f "
           "ms of latency (%.1f recurrent steps forward and backward, 150 other kernels) = %.2f ms\n", rows, tmean,
           fl_beauty / 1e9, fl_beauty / (mfu_gemm * PEAK_BF16) * 1e3, lat_beauty * 1e3, tmean - 1, h200_beauty * 1e3);
    printf("  BERT-base MLM on an H200: 64 x 128 tokens a GPU, %.2f TFLOP a step -> %.1f ms\n", fl_bert / 1e12,
           h200_bert * 1e3);
    printf("  10M catalog on an H200: 128 users x 50 positions, S = 1024; the item tower over all 10M items every step: "
           "%.0f GB of HBM traffic, %.0f GFLOP -> %.1f ms (the id dropout is drawn on the device, row by row)\n",
           bytes_10 / 1e9, fl_10 / 1e9, h200_10 * 1e3);
    printf("  10M catalog, row-sparse (not built): each rank all-gathers the rows it touched: <= B T + S = %.0f rows "
           "of %.0f floats + an id\n", 128.0 * 51 + S, d);

    /* ---- the predictions ---- */
    printf("\nefficiency = compute / (compute + exposed all-reduce), weak scaling; 'as built': the buckets as the code "
           "fires them; 'layers report': every layer reports its final gradients (the backward hides what is not late); "
           "'+ bf16 reduce': that and LONGTAIL_NCCL_REDUCE=bf16\n");
    workload wb = {"Beauty recommender (full softmax, 12k items, batch 128 a GPU)", h200_beauty, sb.total * 4,
                   late_floats(bps, "item.") * 4, sb.buckets, 0, 0, 0};
    workload wbert = {"BERT-base MLM pretraining (64 x 128 tokens a GPU)", h200_bert, sbert.total * 4, sbert.late * 4,
                      sbert.buckets, 0, 0, 0};
    workload w10 = {"10M-item catalog, sampled softmax, dense all-reduce of the id table (as built)", h200_10,
                    s10.total * 4, s10.total * 4, s10.buckets, 0, 0, 0};
    double rows_touched = 128.0 * 51 + S;
    workload w10s = {"10M-item catalog, sampled softmax, row-sparse id table (not built)", h200_10, s10.dense * 4,
                     s10.dense * 4, (int64_t)ceil(s10.dense / (double)F), 0, 0, rows_touched * (d + 1) * 4};
    /* as built: the early buckets and their window (computed from the slabs: the recommender's tower
     * fires while its inputs' backward runs, ~5 % of its step; BERT's layers while the layers below run
     * theirs, the backward's 2/3 of the step) */
    wb.early_bytes = (double)sb.early_buckets * (double)F * 4, wb.window = 0.05 * h200_beauty;
    wbert.early_bytes = (double)sbert.early_buckets * (double)F * 4, wbert.window = 2.0 / 3.0 * h200_bert;
    print_workload(&wb, &H200);
    print_workload(&wbert, &H200);
    print_workload(&w10, &H200);
    print_workload(&w10s, &H200);
    if (have_data) {
        workload wc = wb;
        wc.name = "Beauty recommender, CPU ranks of this machine's kind (measured step)", wc.compute = cpu_step;
        print_workload(&wc, &CPU_ETH);
    }
    lt_rec_free(bm);
    if (have_data) free_batches(&bt), lt_rec_split_free(&sp), lt_events_free(&ev), lt_catalog_free(&cat);
    return 0;
}
