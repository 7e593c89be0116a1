/* The backend vtable: what src/cpu/ and cuda/ implement. Internal; models use ops.h.
 * The wrappers in src/core/ops.c have already checked dtypes, devices and shapes, so an
 * implementation receives raw pointers and sizes it can trust. Pointers are on the backend's
 * device. Every function returns 0 or a negative LT_E* code. */
#ifndef LONGTAIL_BACKEND_IMPL_H
#define LONGTAIL_BACKEND_IMPL_H

#include "longtail/backend.h"
#include "longtail/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fixed summation orders of the two segmented reductions, shared by the backends so that they
 * give the same bits, and chosen so that a hot id or a giant cluster does not serialise a GPU:
 *
 * embedding_bwd: the occurrences of an id (in position order) form chunks of LT_EMB_CHUNK. The
 * first chunk adds to the table row in order (row += d_0; row += d_1; ...); every later chunk is
 * summed on its own in order (p = d_j; p += d_j+1; ...) and the chunk sums are then added to the
 * row in chunk order. A run of r occurrences costs LT_EMB_CHUNK + r / LT_EMB_CHUNK sequential adds
 * (CUDA sums the chunks in parallel), not r.
 *
 * kmeans_update: a cluster's rows (in row order) form chunks of LT_KM_CHUNK; each chunk is summed
 * in double from 0 in row order, the chunk sums are added in chunk order in double (from 0), and
 * the total is added to sums once. Runs up to one chunk keep the plain in-order sums. */
#define LT_EMB_CHUNK 256
#define LT_KM_CHUNK 1024

typedef struct lt_backend_ops {
    /* memory */
    int (*alloc)(lt_backend *be, void **ptr, size_t nbytes);
    void (*free)(lt_backend *be, void *ptr);
    int (*memcpy)(lt_backend *be, void *dst, lt_device dd, const void *src, lt_device sd, size_t n);
    int (*memset0)(lt_backend *be, void *ptr, size_t nbytes);
    /* page-locked host memory (NULL slots: ordinary aligned memory) */
    int (*host_alloc)(lt_backend *be, void **ptr, size_t nbytes);
    void (*host_free)(lt_backend *be, void *ptr);
    int (*sync)(lt_backend *be);
    void (*release)(lt_backend *be);

    /* gemm: the descriptor is validated (sizes > 0, leading dims large enough) */
    int (*gemm)(lt_backend *be, const lt_gemm_desc *d);

    int (*bias_add)(lt_backend *be, float *y, const float *bias, int64_t rows, int64_t cols);
    int (*bias_bwd)(lt_backend *be, float *dbias, const float *dy, int64_t rows, int64_t cols);
    int (*gelu_fwd)(lt_backend *be, float *y, const float *x, int64_t n);
    int (*gelu_bwd)(lt_backend *be, float *dx, const float *dy, const float *x, int64_t n);
    int (*layernorm_fwd)(lt_backend *be, float *y, float *mean, float *rstd, const float *x,
                         const float *w, const float *b, int64_t rows, int64_t cols, float eps);
    int (*layernorm_bwd)(lt_backend *be, float *dx, float *dw, float *db, const float *dy,
                         const float *x, const float *w, const float *mean, const float *rstd,
                         int64_t rows, int64_t cols);

    /* lens may be NULL; otherwise row r uses lens[r / rows_per_len] columns */
    int (*softmax_fwd)(lt_backend *be, float *y, const float *x, const int32_t *lens,
                       int64_t rows_per_len, int64_t rows, int64_t cols, float scale);
    int (*softmax_bwd)(lt_backend *be, float *dx, const float *dy, const float *y, int64_t rows,
                       int64_t cols, float scale);
    int (*xent_fwd)(lt_backend *be, float *loss, float *lse, const float *logits,
                    const int32_t *targets, int64_t rows, int64_t vocab, int ignore_index);
    int (*xent_bwd)(lt_backend *be, float *dlogits, const float *logits, const float *lse,
                    const int32_t *targets, const float *dloss, int64_t rows, int64_t vocab,
                    int ignore_index);

    int (*embedding_fwd)(lt_backend *be, float *out, const float *table, const int32_t *ids,
                         int64_t n, int64_t vocab, int64_t dim);
    /* positions whose id == skip add nothing (skip < 0: none). The summation order, shared by
     * every backend: see LT_EMB_CHUNK. */
    int (*embedding_bwd)(lt_backend *be, float *dtable, const float *dout, const int32_t *ids,
                         int64_t n, int64_t vocab, int64_t dim, int32_t skip);

    /* accumulate = 0: y = x * keep / (1-p);  accumulate = 1: y += x * keep / (1-p) */
    int (*dropout)(lt_backend *be, float *y, const float *x, int64_t n, float p, uint64_t seed,
                   uint64_t stream, int accumulate);

    int (*add)(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
    int (*mul)(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
    int (*scale)(lt_backend *be, float *y, const float *x, float alpha, int64_t n);
    int (*axpy)(lt_backend *be, float *y, float alpha, const float *x, int64_t n);
    int (*mul_acc)(lt_backend *be, float *y, const float *a, const float *b, int64_t n);
    int (*fill)(lt_backend *be, float *y, float value, int64_t n);

    int (*reduce_rows)(lt_backend *be, float *y, const float *x, int64_t rows, int64_t cols,
                       lt_reduce op);

    int (*adamw)(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                 const lt_adamw_cfg *cfg, int64_t step, float grad_scale);

    int (*topk)(lt_backend *be, float *vals, int32_t *idx, const float *x, int64_t rows,
                int64_t cols, int k);

    /* transformer blocks (ops.h); dt is the activations' dtype (f32 or bf16), already checked
     * consistent; a backend that lacks an op or a dtype returns LT_ENOTSUP. NULL slot = absent. */
    int (*attention_fwd)(lt_backend *be, void *out, float *lse, const void *qkv, const int32_t *lens, lt_dtype dt,
                         int64_t B, int64_t T, int64_t H, int64_t D, float scale, int causal);
    int (*attention_bwd)(lt_backend *be, void *dqkv, const void *dout, const void *qkv, const void *out,
                         const float *lse, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t H,
                         int64_t D, float scale, int causal);
    int (*bias_gelu_fwd)(lt_backend *be, void *y, const void *x, const float *bias, lt_dtype dt, int64_t rows,
                         int64_t cols);
    int (*bias_gelu_bwd)(lt_backend *be, void *dx, float *dbias, const void *dy, const void *x, const float *bias,
                         lt_dtype dt, int64_t rows, int64_t cols);
    int (*residual_layernorm_fwd)(lt_backend *be, void *y, void *s, float *mean, float *rstd, const void *a,
                                  const void *b, const float *w, const float *beta, lt_dtype dt, int64_t rows,
                                  int64_t cols, float eps);
    int (*residual_layernorm_bwd)(lt_backend *be, void *da, void *db, float *dw, float *dbeta, const void *dy,
                                  const void *s, const float *w, const float *mean, const float *rstd, lt_dtype dt,
                                  int64_t rows, int64_t cols);
    int (*cast)(lt_backend *be, void *y, lt_dtype yt, const void *x, lt_dtype xt, int64_t n);
    int (*mean_pool_fwd)(lt_backend *be, float *out, const float *x, const int32_t *lens, int64_t B, int64_t T,
                         int64_t C);
    int (*mean_pool_bwd)(lt_backend *be, float *dx, const float *dout, const int32_t *lens, int64_t B, int64_t T,
                         int64_t C);
    int (*l2norm_fwd)(lt_backend *be, float *y, float *norm, const float *x, int64_t rows, int64_t cols);
    int (*l2norm_bwd)(lt_backend *be, float *dx, const float *dy, const float *y, const float *norm, int64_t rows,
                      int64_t cols);

    /* recurrent layers (ops.h): lens is on the host; ws is the reserve (NULL for inference);
     * gradient pointers other than dw_hh may be NULL. NULL slot = absent (LT_ENOTSUP). */
    int (*rnn_reserve)(lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, size_t *bytes);
    int (*rnn_fwd)(lt_backend *be, lt_cell cell, float *y, float *hT, float *cT, void *ws, const float *x,
                   const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0,
                   const float *c0, const int32_t *lens, int64_t B, int64_t T, int64_t I, int64_t H);
    int (*rnn_bwd)(lt_backend *be, lt_cell cell, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                   float *dh0, float *dc0, const float *dy, const float *dhT, const float *dcT, const void *ws,
                   const float *x, const float *y, const float *w_ih, const float *w_hh, const float *b_ih,
                   const float *b_hh, const float *h0, const float *c0, const int32_t *lens, int64_t B, int64_t T,
                   int64_t I, int64_t H);
    int (*rnn_set_impl)(lt_backend *be, lt_rnn_impl impl);

    /* softmax ranking and top-K scoring (ops.h): the rank helper fills these (see src/core/rank.c) */
    /* The chunk loops live once, in src/core/rank.c, on lt_gemm; a backend supplies only what runs
     * on one tile of scores s[B, n] (contiguous, row stride n) of items j0 .. j0 + n - 1. bias is
     * already offset to item j0 (NULL: none). Targets < 0 mark ignored rows. tcol0 = 1 (sampled
     * softmax): the target of every row is column 0 of the tile, whatever its id.
     * xent_tile_fwd: adds bias to s in place, then merges the tile into the running max m[B] and
     *   sum l[B] (first: start them) and picks up the target's score ts[B]; last: lse = m + log l,
     *   loss = lse - ts (0 for ignored rows). N (the catalog size) is for checking targets.
     * xent_tile_bwd: s (the raw scores) becomes dS = dloss (exp(s + bias - lse) - onehot), 0 in
     *   ignored rows; dbias (offset to j0, may be NULL) += its column sums. The driver then runs
     *   the two GEMMs du += dS v_chunk, dv_chunk += dS^T u.
     * sampled_prep: s[B, S+1] holds u v_neg^T in columns 1..S; writes column 0 = u_b . v_{t_b},
     *   adds bias - logq of each column's item (either may be NULL) and sets a negative equal to
     *   the row's target to -inf. Checks targets < N and negatives in [0, N) where it can.
     * sampled_scatter: after the tile holds dS: du_b += dS[b,0] v_{t_b}, dv[t_b] += dS[b,0] u_b
     *   (rows in order), dbias[neg_k] += column sum of dS[:, 1+k] (k in order), dbias[t_b] +=
     *   dS[b,0]. du, dv, dbias may be NULL. (The negatives' dv goes through embedding_bwd.)
     * topk_tile: merges the tile (plus bias) into the running vals/idx[B, K] of ops.h's
     *   lt_score_topk; excl_off[B + 1] (absolute offsets into excl_ids; NULL: none) lists the
     *   item ids each row skips; s may be overwritten. */
    int (*xent_tile_fwd)(lt_backend *be, float *loss, float *lse, float *m, float *l, float *ts, float *s,
                         const float *bias, const int32_t *targets, int64_t B, int64_t n, int64_t j0, int64_t N,
                         int tcol0, int first, int last);
    int (*xent_tile_bwd)(lt_backend *be, float *s, float *dbias, const float *bias, const float *lse,
                         const float *dloss, const int32_t *targets, int64_t B, int64_t n, int64_t j0, int tcol0);
    int (*sampled_prep)(lt_backend *be, float *s, const float *u, const float *v, const float *bias,
                        const float *logq, const int32_t *targets, const int32_t *neg, int64_t B, int64_t S,
                        int64_t D, int64_t N);
    int (*sampled_scatter)(lt_backend *be, float *du, float *dv, float *dbias, const float *ds, const float *u,
                           const float *v, const int32_t *targets, const int32_t *neg, int64_t B, int64_t S,
                           int64_t D);
    int (*topk_tile)(lt_backend *be, float *vals, int32_t *idx, float *s, const float *bias, int64_t B, int64_t n,
                     int64_t j0, int K, const int64_t *excl_off, const int32_t *excl_ids);

    /* the trainer's optimizer steps (ops.h); sumsq is a device f32[1] */
    int (*sumsq_acc)(lt_backend *be, float *acc, const float *x, int64_t n);
    int (*adamw_clipped)(lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n,
                         const lt_adamw_cfg *cfg, int64_t step, float grad_scale, const float *sumsq, float max_norm);
    int (*adamw_rows)(lt_backend *be, float *p, const float *g, float *m, float *v, float *bpow, int64_t rows,
                      int64_t cols, const lt_adamw_cfg *cfg, float grad_scale, const float *sumsq, float max_norm);

    /* k-means (ops.h): the wrapper checked shapes and 1 <= k; n or d may be 0 */
    int (*kmeans_assign)(lt_backend *be, int32_t *assign, float *dist, float *second,
                         const float *x, const float *c, const float *cnorm, int64_t n, int64_t k, int64_t d);
    int (*kmeans_update)(lt_backend *be, float *sums, int32_t *counts, const float *x, const int32_t *assign,
                         int64_t n, int64_t k, int64_t d);

    /* ridge models of the bandits (ops.h): the wrapper checked shapes; model may be NULL (all 0) */
    int (*ridge_update)(lt_backend *be, float *ainv, float *b, const float *x, const float *r, const int32_t *model,
                        int64_t n, int64_t M, int64_t D);
    int (*ridge_score)(lt_backend *be, float *mean, float *var, const float *ainv, const float *b, const float *x,
                       const int32_t *model, int64_t n, int64_t M, int64_t D);
} lt_backend_ops;

struct lt_backend {
    const char *name;
    lt_device device;
    lt_math math;
    const lt_backend_ops *ops;
    void *impl; /* backend-private state (CUDA stream, cuBLAS handle, ...) */
    char describe[384];
    int trace; /* LONGTAIL_CUDA_SYNC=1: lt__arg records each op's tensors (lt__op_trace) */
};

/* The wrappers' argument checks (src/core/ops.c), shared by every file of wrappers: t exists, has
 * dtype dt and lives on the backend's device / t has n elements / the backend fills the op's slot.
 * Messages name the op and argument. */
int lt__arg(lt_backend *be, const char *op, const char *name, const lt_tensor *t, lt_dtype dt);
int lt__numel_is(const char *op, const char *name, const lt_tensor *t, int64_t n);
int lt__has(lt_backend *be, const char *op, const void *slot);

/* Debug mode (be->trace, set by LONGTAIL_CUDA_SYNC=1): lt__arg writes the op it checks and its
 * tensors here ("layernorm_fwd: y f32[4096,768]@cuda x ..."), so a backend that finds a fault
 * after an op can name them. lt__op_trace_seal marks the record as used by a backend call: the
 * next lt__arg starts a new one. Per thread. */
const char *lt__op_trace(void);
void lt__op_trace_seal(void);

/* Constructors each backend file provides. */
lt_backend *lt__cpu_backend_create(void);
#ifdef LONGTAIL_HAVE_CUDA
int lt__cuda_device_count(void);
int lt__cuda_backend_create(lt_backend **out, int device);
#endif

#ifdef __cplusplus
}
#endif
#endif
