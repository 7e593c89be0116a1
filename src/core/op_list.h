/* The backend's compute ops: one line per op, its name and the signature of its slot. This list
 * is the only place a slot's signature is written; it generates
 *   - the slots of lt_backend_ops (backend_impl.h),
 *   - the CPU backend's declarations (src/cpu/cpu.h: lt__cpu_NAME) and its table (src/cpu/backend.c),
 *   - the CUDA backend's declarations (cuda/cuda_common.cuh: lt__cuda_NAME), its table and the
 *     LONGTAIL_CUDA_SYNC=1 debug table that wraps every slot (cuda/backend.cu).
 * Include it with LT_OP(name, params) defined; it undefines LT_OP at the end.
 *
 * The public ops in src/core/ops.c have already checked dtypes, devices and shapes, so an
 * implementation receives raw pointers and sizes it can trust; pointers are on the backend's
 * device; every op returns 0 or a negative LT_E* code.
 *
 * Activations and parameters. `void *` arguments with an `lt_dtype dt` are activations, f32 or
 * bf16 (all of one op's activations share dt); `float *` arguments are always f32: parameters
 * (biases, LayerNorm weights; fp32 master copies), statistics (mean, rstd, lse) and losses. A bf16
 * op reads bf16, computes and sums in fp32, and rounds once when it stores; an accumulating output
 * (+=) is read, added in fp32 and rounded once. A backend that lacks a dtype returns LT_ENOTSUP. */
#ifndef LT_OP
#error "define LT_OP(name, params) before including core/op_list.h"
#endif

/* gemm: the descriptor is validated (sizes > 0, leading dims large enough) */
LT_OP(gemm, (lt_backend *be, const lt_gemm_desc *d))

/* y[rows, cols] += bias[cols];  dbias[cols] += column sums of dy */
LT_OP(bias_add, (lt_backend *be, void *y, const float *bias, lt_dtype dt, int64_t rows, int64_t cols))
LT_OP(bias_bwd, (lt_backend *be, float *dbias, const void *dy, lt_dtype dt, int64_t rows, int64_t cols))
/* y = gelu(x);  dx += dy gelu'(x) */
LT_OP(gelu_fwd, (lt_backend *be, void *y, const void *x, lt_dtype dt, int64_t n))
LT_OP(gelu_bwd, (lt_backend *be, void *dx, const void *dy, const void *x, lt_dtype dt, int64_t n))
/* rows of x normalised (mean, rstd in fp32), times w plus b;  dx, dw, db += */
LT_OP(layernorm_fwd, (lt_backend *be, void *y, float *mean, float *rstd, const void *x, const float *w, const float *b,
                      lt_dtype dt, int64_t rows, int64_t cols, float eps))
LT_OP(layernorm_bwd, (lt_backend *be, void *dx, float *dw, float *db, const void *dy, const void *x, const float *w,
                      const float *mean, const float *rstd, lt_dtype dt, int64_t rows, int64_t cols))

/* lens may be NULL; otherwise row r uses lens[r / rows_per_len] columns */
LT_OP(softmax_fwd, (lt_backend *be, float *y, const float *x, const int32_t *lens, int64_t rows_per_len, int64_t rows,
                    int64_t cols, float scale))
LT_OP(softmax_bwd, (lt_backend *be, float *dx, const float *dy, const float *y, int64_t rows, int64_t cols, float scale))
/* logits [rows, vocab] in dt; loss and lse in fp32;  dlogits += */
LT_OP(xent_fwd, (lt_backend *be, float *loss, float *lse, const void *logits, const int32_t *targets, lt_dtype dt,
                 int64_t rows, int64_t vocab, int ignore_index))
LT_OP(xent_bwd, (lt_backend *be, void *dlogits, const void *logits, const float *lse, const int32_t *targets,
                 const float *dloss, lt_dtype dt, int64_t rows, int64_t vocab, int ignore_index))

/* out[n, dim] = table[ids];  table and out share dt */
LT_OP(embedding_fwd, (lt_backend *be, void *out, const void *table, const int32_t *ids, lt_dtype dt, int64_t n,
                      int64_t vocab, int64_t dim))
/* dtable[ids] += dout. Positions whose id == skip add nothing (skip < 0: none). The summation
 * order, shared by every backend: see LT_EMB_CHUNK (bf16: the same order in fp32, each touched
 * row rounded once). */
LT_OP(embedding_bwd, (lt_backend *be, void *dtable, const void *dout, const int32_t *ids, lt_dtype dt, int64_t n,
                      int64_t vocab, int64_t dim, int32_t skip))

/* accumulate = 0: y = x * keep / (1-p);  accumulate = 1: y += x * keep / (1-p) */
LT_OP(dropout, (lt_backend *be, void *y, const void *x, lt_dtype dt, int64_t n, float p, uint64_t seed,
                uint64_t stream, int accumulate))

LT_OP(add, (lt_backend *be, void *y, const void *a, const void *b, lt_dtype dt, int64_t n))
LT_OP(mul, (lt_backend *be, float *y, const float *a, const float *b, int64_t n))
LT_OP(scale, (lt_backend *be, float *y, const float *x, float alpha, int64_t n))
LT_OP(axpy, (lt_backend *be, void *y, float alpha, const void *x, lt_dtype dt, int64_t n))
LT_OP(mul_acc, (lt_backend *be, float *y, const float *a, const float *b, int64_t n))
/* y[r, :] += x[r, :] for the rows kept: keep[r] != 0 (keep NULL: every row) and, when p > 0,
 * lt_rng_uniform(seed, stream, r) >= p; no 1 / (1 - p) scaling (a row is used or not) */
LT_OP(row_dropout_acc, (lt_backend *be, float *y, const float *x, const uint8_t *keep, int64_t rows, int64_t cols,
                        float p, uint64_t seed, uint64_t stream))
LT_OP(fill, (lt_backend *be, float *y, float value, int64_t n))

LT_OP(reduce_rows, (lt_backend *be, float *y, const float *x, int64_t rows, int64_t cols, lt_reduce op))

LT_OP(adamw, (lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n, const lt_adamw_cfg *cfg,
              int64_t step, float grad_scale))

LT_OP(topk, (lt_backend *be, float *vals, int32_t *idx, const float *x, int64_t rows, int64_t cols, int k))

/* transformer blocks (ops.h) */
LT_OP(attention_fwd, (lt_backend *be, void *out, float *lse, const void *qkv, const int32_t *lens, lt_dtype dt,
                      int64_t B, int64_t T, int64_t H, int64_t D, float scale, int causal))
LT_OP(attention_bwd, (lt_backend *be, void *dqkv, const void *dout, const void *qkv, const void *out, const float *lse,
                      const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t H, int64_t D, float scale,
                      int causal))
LT_OP(bias_gelu_fwd, (lt_backend *be, void *y, const void *x, const float *bias, lt_dtype dt, int64_t rows,
                      int64_t cols))
LT_OP(bias_gelu_bwd, (lt_backend *be, void *dx, float *dbias, const void *dy, const void *x, const float *bias,
                      lt_dtype dt, int64_t rows, int64_t cols))
/* s = a + b (s may alias a), y = LayerNorm(s); bf16: y, mean and rstd are those of s as stored
 * (rounded), which is what the backward reads */
LT_OP(residual_layernorm_fwd, (lt_backend *be, void *y, void *s, float *mean, float *rstd, const void *a,
                               const void *b, const float *w, const float *beta, lt_dtype dt, int64_t rows,
                               int64_t cols, float eps))
LT_OP(residual_layernorm_bwd, (lt_backend *be, void *da, void *db, float *dw, float *dbeta, const void *dy,
                               const void *s, const float *w, const float *mean, const float *rstd, lt_dtype dt,
                               int64_t rows, int64_t cols))
LT_OP(cast, (lt_backend *be, void *y, lt_dtype yt, const void *x, lt_dtype xt, int64_t n))
/* out [B, C] (fp32) = mean over the first lens[b] rows of x [B, T, C];  dx += its gradient */
LT_OP(mean_pool_fwd, (lt_backend *be, float *out, const void *x, const int32_t *lens, lt_dtype dt, int64_t B,
                      int64_t T, int64_t C))
LT_OP(mean_pool_bwd, (lt_backend *be, void *dx, const float *dout, const int32_t *lens, lt_dtype dt, int64_t B,
                      int64_t T, int64_t C))
LT_OP(l2norm_fwd, (lt_backend *be, float *y, float *norm, const float *x, int64_t rows, int64_t cols))
LT_OP(l2norm_bwd, (lt_backend *be, float *dx, const float *dy, const float *y, const float *norm, int64_t rows,
                   int64_t cols))

/* recurrent layers (ops.h): lens is on the host; ws is the reserve (NULL for inference);
 * gradient pointers other than dw_hh may be NULL. Activations x, y, hT, cT, h0, c0 and their
 * gradients are dt; the weights, biases and their gradients f32. bf16: the state (h, c) and the
 * gates stay fp32 from step to step and in ws; only what is stored to y, hT, cT, dx, dh0, dc0 is
 * rounded (dx, dh0, dc0 +=: read, added in fp32, rounded once). rnn_set_impl: LT_ENOTSUP for an
 * impl the backend lacks. */
LT_OP(rnn_reserve, (lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, size_t *bytes))
LT_OP(rnn_fwd, (lt_backend *be, lt_cell cell, void *y, void *hT, void *cT, void *ws, const void *x,
                const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const void *h0,
                const void *c0, const int32_t *lens, lt_dtype dt, int64_t B, int64_t T, int64_t I, int64_t H))
LT_OP(rnn_bwd, (lt_backend *be, lt_cell cell, void *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                void *dh0, void *dc0, const void *dy, const void *dhT, const void *dcT, const void *ws,
                const void *x, const void *y, const float *w_ih, const float *w_hh, const float *b_ih,
                const float *b_hh, const void *h0, const void *c0, const int32_t *lens, lt_dtype dt, int64_t B,
                int64_t T, int64_t I, int64_t H))
LT_OP(rnn_set_impl, (lt_backend *be, lt_rnn_impl impl))

/* softmax ranking and top-K scoring (ops.h). The chunk loops live once, in src/core/rank.c, on
 * lt_gemm; a backend supplies only what runs on one tile of scores s[B, n] (contiguous, row
 * stride n) of items j0 .. j0 + n - 1. bias is already offset to item j0 (NULL: none). Targets
 * < 0 mark ignored rows. tcol0 = 1 (sampled softmax): the target of every row is column 0 of the
 * tile, whatever its id.
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
LT_OP(xent_tile_fwd, (lt_backend *be, float *loss, float *lse, float *m, float *l, float *ts, float *s,
                      const float *bias, const int32_t *targets, int64_t B, int64_t n, int64_t j0, int64_t N,
                      int tcol0, int first, int last))
LT_OP(xent_tile_bwd, (lt_backend *be, float *s, float *dbias, const float *bias, const float *lse, const float *dloss,
                      const int32_t *targets, int64_t B, int64_t n, int64_t j0, int tcol0))
LT_OP(sampled_prep, (lt_backend *be, float *s, const float *u, const float *v, const float *bias, const float *logq,
                     const int32_t *targets, const int32_t *neg, int64_t B, int64_t S, int64_t D, int64_t N))
LT_OP(sampled_scatter, (lt_backend *be, float *du, float *dv, float *dbias, const float *ds, const float *u,
                        const float *v, const int32_t *targets, const int32_t *neg, int64_t B, int64_t S, int64_t D))
LT_OP(topk_tile, (lt_backend *be, float *vals, int32_t *idx, float *s, const float *bias, int64_t B, int64_t n,
                  int64_t j0, int K, const int64_t *excl_off, const int32_t *excl_ids))

/* the trainer's optimizer steps (ops.h); sumsq is a device f32[1] */
LT_OP(sumsq_acc, (lt_backend *be, float *acc, const float *x, int64_t n))
LT_OP(adamw_clipped, (lt_backend *be, float *p, const float *g, float *m, float *v, int64_t n, const lt_adamw_cfg *cfg,
                      int64_t step, float grad_scale, const float *sumsq, float max_norm))
LT_OP(adamw_rows, (lt_backend *be, float *p, const float *g, float *m, float *v, float *bpow, int64_t rows,
                   int64_t cols, const lt_adamw_cfg *cfg, float grad_scale, const float *sumsq, float max_norm))

/* k-means (ops.h): the wrapper checked shapes and 1 <= k; n or d may be 0 */
LT_OP(kmeans_assign, (lt_backend *be, int32_t *assign, float *dist, float *second, const float *x, const float *c,
                      const float *cnorm, int64_t n, int64_t k, int64_t d))
LT_OP(kmeans_update, (lt_backend *be, float *sums, int32_t *counts, const float *x, const int32_t *assign, int64_t n,
                      int64_t k, int64_t d))

/* ridge models of the bandits (ops.h): the wrapper checked shapes; model may be NULL (all 0) */
LT_OP(ridge_update, (lt_backend *be, float *ainv, float *b, const float *x, const float *r, const int32_t *model,
                     int64_t n, int64_t M, int64_t D))
LT_OP(ridge_score, (lt_backend *be, float *mean, float *var, const float *ainv, const float *b, const float *x,
                    const int32_t *model, int64_t n, int64_t M, int64_t D))

#undef LT_OP
