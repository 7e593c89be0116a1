/* The op table, as models call it. Each function checks dtypes, devices and shapes, then runs
 * the backend's implementation (src/cpu/ or cuda/). Shapes are written [rows, cols]; a tensor of
 * more dims is seen by row ops as [product of leading dims, last dim].
 *
 * Conventions
 *  - All float tensors are fp32 unless a comment says otherwise; indices are int32.
 *  - Backward ops ACCUMULATE into gradients (dx += ...), like llm.c: a model zeroes its gradient
 *    buffers once per step and residual branches just add. Forward ops overwrite their outputs.
 *  - CUDA ops are asynchronous on the backend's stream; lt_backend_sync() waits and reports.
 *  - Randomness (dropout) comes from the counter-based RNG in rng.h, so the CPU and CUDA draw
 *    exactly the same mask for the same (seed, stream). */
#ifndef LONGTAIL_OPS_H
#define LONGTAIL_OPS_H

#include "longtail/backend.h"
#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM ------------------------------------------------------------------------------ */

/* Row-major strided-batched GEMM, for each batch index i:
 *   C_i[m,n] = alpha * op(A_i)[m,k] * op(B_i)[k,n] + beta * C_i[m,n]
 * op(X) = X or X^T. lda/ldb/ldc are row strides in elements; stride_* the distance between
 * batch items (0 broadcasts one matrix to every batch item). A, B, C may be fp32 or bf16;
 * the backend's lt_math picks tensor-core modes for fp32 data on CUDA. */
typedef struct lt_gemm_desc {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const void *a; lt_dtype a_type; int64_t lda, stride_a;
    const void *b; lt_dtype b_type; int64_t ldb, stride_b;
    void *c;       lt_dtype c_type; int64_t ldc, stride_c;
    int64_t batch;
} lt_gemm_desc;

int lt_gemm(lt_backend *be, const lt_gemm_desc *d);

/* c = alpha * op(a) @ op(b) + beta * c for 2-D tensors, or 3-D tensors batched over dim 0
 * (a 2-D operand is broadcast over the batch). */
int lt_matmul(lt_backend *be, lt_tensor *c, const lt_tensor *a, int trans_a, const lt_tensor *b,
              int trans_b, float alpha, float beta);

/* ---- bias, activations, normalisation ----------------------------------------------- */
/* Activations: the ops from here to the pooling ones take activations in f32 or bf16 (one dtype per
 * call, given by the tensors; both backends): bf16 values are read, computed on in fp32 and rounded
 * once when stored. Weights, biases, statistics (mean, rstd, lse), losses and parameter gradients
 * are always f32. Exceptions are noted: softmax, the plain element-wise ops other than add and
 * axpy, and l2norm are f32 only; mean pooling gives f32 from bf16 activations. */

/* y[R,C] += bias[C] (in place) */
int lt_bias_add(lt_backend *be, lt_tensor *y, const lt_tensor *bias);
/* dbias[C] += sum over rows of dy[R,C] */
int lt_bias_bwd(lt_backend *be, lt_tensor *dbias, const lt_tensor *dy);

/* y = x * Phi(x), the exact (erf) GELU that BERT uses. y may alias x. */
int lt_gelu_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x);
/* dx += dy * gelu'(x) */
int lt_gelu_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, const lt_tensor *x);

/* Per row of x[R,C]: y = (x - mean) * rstd * w + b; also writes mean[R], rstd[R] for backward. */
int lt_layernorm_fwd(lt_backend *be, lt_tensor *y, lt_tensor *mean, lt_tensor *rstd,
                     const lt_tensor *x, const lt_tensor *w, const lt_tensor *b, float eps);
/* dx[R,C] += ..., dw[C] += ..., db[C] += ... */
int lt_layernorm_bwd(lt_backend *be, lt_tensor *dx, lt_tensor *dw, lt_tensor *db,
                     const lt_tensor *dy, const lt_tensor *x, const lt_tensor *w,
                     const lt_tensor *mean, const lt_tensor *rstd);

/* ---- softmax ----------------------------------------------------------------------------- */

/* y[R,C] = softmax(scale * x) along each row. With `lens` (int32[G], G divides R, may be NULL)
 * rows are in G consecutive groups of R/G rows; group g uses only its first lens[g] columns
 * and the rest of its y is 0 (a key-padding mask: G = batch, R/G = heads * queries).
 * A row with lens = 0 is all zeros. */
int lt_softmax_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *lens,
                   float scale);
/* dx += scale * y * (dy - sum(dy * y)) per row (masked entries have y = 0, so dx gets 0). */
int lt_softmax_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, const lt_tensor *y,
                   float scale);

/* Fused softmax + cross-entropy. logits[R,V], targets int32[R].
 * loss[R] = logsumexp(logits_r) - logits_r[target_r]; lse[R] keeps logsumexp for backward.
 * Rows whose target == ignore_index get loss 0 and no gradient. */
int lt_xent_fwd(lt_backend *be, lt_tensor *loss, lt_tensor *lse, const lt_tensor *logits,
                const lt_tensor *targets, int ignore_index);
/* dlogits[R,V] += dloss[r] * (softmax(logits_r) - onehot(target_r)) */
int lt_xent_bwd(lt_backend *be, lt_tensor *dlogits, const lt_tensor *logits, const lt_tensor *lse,
                const lt_tensor *targets, const lt_tensor *dloss, int ignore_index);

/* ---- embeddings ---------------------------------------------------------------------------- */

/* out[N,D] = table[ids[n], :]; ids int32[N] (any shape with N elements), each in [0, V). */
int lt_embedding_fwd(lt_backend *be, lt_tensor *out, const lt_tensor *table, const lt_tensor *ids);
/* dtable[ids[n], :] += dout[n, :]. Deterministic, the same bits on every backend: the rows that
 * share an id are summed in position order, in chunks of 256 occurrences whose sums are added in
 * chunk order (see LT_EMB_CHUNK in src/core/backend_impl.h), so a hot id does not serialise. */
int lt_embedding_bwd(lt_backend *be, lt_tensor *dtable, const lt_tensor *dout, const lt_tensor *ids);
/* The same, but positions whose id is skip_id add nothing (skip_id < 0: none): a [PAD] row gets
 * no gradient, as nn.Embedding(padding_idx=...) in PyTorch. */
int lt_embedding_bwd_skip(lt_backend *be, lt_tensor *dtable, const lt_tensor *dout, const lt_tensor *ids,
                          int32_t skip_id);

/* ---- dropout ----------------------------------------------------------------------------- */

/* y = x * keep_i / (1 - p), keep_i = (lt_rng_uniform(seed, stream, i) >= p). p = 0 copies.
 * No mask is stored: backward redraws it from (seed, stream). y may alias x. */
int lt_dropout_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x, float p, uint64_t seed,
                   uint64_t stream);
/* dx += dy * keep_i / (1 - p) */
int lt_dropout_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, float p, uint64_t seed,
                   uint64_t stream);

/* ---- element-wise (equal shapes; outputs may alias inputs) ---------------------------- */

int lt_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b); /* y = a + b */
int lt_mul(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b); /* y = a * b */
int lt_scale(lt_backend *be, lt_tensor *y, const lt_tensor *x, float alpha);      /* y = alpha x */
int lt_axpy(lt_backend *be, lt_tensor *y, float alpha, const lt_tensor *x);       /* y += alpha x */
int lt_mul_acc(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b); /* y += a*b */
int lt_fill(lt_backend *be, lt_tensor *y, float value);
/* Row dropout without scaling, accumulated: y[r, :] += x[r, :] (y, x f32 [R, C]) for every row r
 * with keep[r] != 0 (keep u8[R] on the backend, or NULL: all rows) and, when p > 0,
 * lt_rng_uniform(seed, stream, r) >= p (rng.h: the same draw on every backend and on the host).
 * The recommender's id dropout: an item's id embedding is used whole or not at all. */
int lt_row_dropout_acc(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *keep, float p,
                       uint64_t seed, uint64_t stream);

/* ---- reductions ---------------------------------------------------------------------------- */

typedef enum { LT_REDUCE_SUM = 0, LT_REDUCE_MEAN, LT_REDUCE_MAX, LT_REDUCE_SUMSQ } lt_reduce;
/* y[R] = reduce over each row of x[R,C] */
int lt_reduce_rows(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_reduce op);

/* ---- optimizer ----------------------------------------------------------------------------- */

typedef struct lt_adamw_cfg {
    float lr, beta1, beta2, eps, weight_decay;
} lt_adamw_cfg;

/* One AdamW step (decoupled weight decay, bias-corrected moments) on fp32 params p with grads g
 * and moments m, v (all the same shape). step counts from 1. grad_scale multiplies g first
 * (loss scaling, averaging; clipping by the global norm is lt_adamw_clipped below). */
int lt_adamw(lt_backend *be, lt_tensor *p, const lt_tensor *g, lt_tensor *m, lt_tensor *v,
             const lt_adamw_cfg *cfg, int64_t step, float grad_scale);

/* ---- transformer blocks ------------------------------------------------------------------------- */
/* Activations f32 or bf16, as above (CUDA: tensor-core attention in bf16; the CPU: fp32 kernels on
 * widened copies). */

/* Multi-head self-attention with a key-padding mask, fused (flash-style on CUDA: no T x T matrix
 * in global memory). qkv[B, T, 3, H, D] is the output of one QKV projection; lens int32[B]: keys
 * j >= lens[b] are masked out (every query row is computed, padded ones too).
 *   out[B, T, H, D] = softmax(scale * q k^T) v  per (b, h);  lse[B, H, T] (f32) = log-sum-exp of
 *   the scaled scores, kept for backward. lens[b] = 0 gives zeros and lse = -inf. */
int lt_attention_fwd(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *qkv, const lt_tensor *lens,
                     int heads, float scale);
/* dqkv[B, T, 3, H, D] += the gradient through attention of dout[B, T, H, D]. */
int lt_attention_bwd(lt_backend *be, lt_tensor *dqkv, const lt_tensor *dout, const lt_tensor *qkv,
                     const lt_tensor *out, const lt_tensor *lse, const lt_tensor *lens, int heads, float scale);
/* Causal self-attention (a decoder, SASRec's user tower): the same op with query t attending keys
 * j <= t only (and j < lens[b]), i.e. out[b, t] = softmax over j <= min(t, lens[b] - 1). Query rows
 * t >= lens[b] (padding) attend every real key, as in lt_attention_fwd. lse as above (every row with
 * lens[b] >= 1 has key 0, so it is finite); backward has the same contract as lt_attention_bwd. */
int lt_attention_causal_fwd(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *qkv,
                            const lt_tensor *lens, int heads, float scale);
int lt_attention_causal_bwd(lt_backend *be, lt_tensor *dqkv, const lt_tensor *dout, const lt_tensor *qkv,
                            const lt_tensor *out, const lt_tensor *lse, const lt_tensor *lens, int heads,
                            float scale);

/* y[R, C] = gelu(x + bias[C]) with x the GEMM output before its bias (kept for backward). */
int lt_bias_gelu_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *bias);
/* g = dy * gelu'(x + bias):  dx += g,  dbias += column sums of g */
int lt_bias_gelu_bwd(lt_backend *be, lt_tensor *dx, lt_tensor *dbias, const lt_tensor *dy, const lt_tensor *x,
                     const lt_tensor *bias);

/* Post-LN residual (BERT): s = a + b (kept for backward; s may alias a), y = LayerNorm(s) w + beta,
 * mean[R] and rstd[R] as lt_layernorm_fwd. */
int lt_residual_layernorm_fwd(lt_backend *be, lt_tensor *y, lt_tensor *s, lt_tensor *mean, lt_tensor *rstd,
                              const lt_tensor *a, const lt_tensor *b, const lt_tensor *w, const lt_tensor *beta,
                              float eps);
/* ds = LayerNorm backward of dy:  da += ds, db += ds (da == db receives 2 ds), dw += ..., dbeta += ... */
int lt_residual_layernorm_bwd(lt_backend *be, lt_tensor *da, lt_tensor *db, lt_tensor *dw, lt_tensor *dbeta,
                              const lt_tensor *dy, const lt_tensor *s, const lt_tensor *w, const lt_tensor *mean,
                              const lt_tensor *rstd);

/* y = x converted between f32 and bf16 (round to nearest even), equal shapes. */
int lt_cast(lt_backend *be, lt_tensor *y, const lt_tensor *x);

/* out[B, C] = mean of x[B, T, C] over t < lens[b] (0 when lens[b] = 0). */
int lt_mean_pool_fwd(lt_backend *be, lt_tensor *out, const lt_tensor *x, const lt_tensor *lens);
/* dx[b, t] += dout[b] / lens[b] for t < lens[b] */
int lt_mean_pool_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dout, const lt_tensor *lens);

/* y[R, C] = x / max(||x||, 1e-12) per row; norm[R] = ||x|| for backward. y may alias x. */
int lt_l2norm_fwd(lt_backend *be, lt_tensor *y, lt_tensor *norm, const lt_tensor *x);
/* dx += (dy - y (y . dy)) / max(norm, 1e-12) */
int lt_l2norm_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, const lt_tensor *y, const lt_tensor *norm);

/* ---- k-means ------------------------------------------------------------------------------ */

/* The nearest centroid of every row, squared L2. x[n, d] rows, c[k, d] centroids, cnorm[k] their
 * squared norms (computed once per centroid update by the caller):
 *   assign[i] = argmin_j (cnorm[j] - 2 x_i . c_j)            ties to the lower j
 *   dist[i]   = ||x_i - c_assign[i]||^2, computed directly in fp32 (no cancellation) with one
 *               fixed order (16 interleaved partial sums of fmaf, then a halving tree), so every
 *               backend gives the same bits for the same assignment.
 *   second[i] = the runner-up score: min over j != assign[i] of cnorm[j] - 2 x_i . c_j (+inf when
 *               k = 1); ||x_i||^2 + second[i] is the squared distance to the second-nearest
 *               centroid (bounds-based pruning uses it). Optional: pass NULL.
 * Fused: one GEMM whose epilogue keeps a running arg-min; no n x k matrix is ever stored.
 * The CPU computes in fp32. CUDA follows lt_math: FP32 runs an fp32 kernel that sums in the
 * CPU's order (same assignments, ties included); TF32 runs that fp32 kernel too (there is no TF32
 * arg-min kernel); BF16 searches with the bf16 tensor-core kernel (x and c rounded to bf16, fp32
 * accumulation), then re-runs in fp32 every row whose runner-up lies within the bf16 error bound
 * of its best, so the assignments are the fp32 kernel's; second is the bf16 runner-up on rows not
 * re-run. dist is exact fp32 either way. A row whose every score is NaN gets assign 0. */
int lt_kmeans_assign(lt_backend *be, lt_tensor *assign, lt_tensor *dist, lt_tensor *second, const lt_tensor *x,
                     const lt_tensor *c, const lt_tensor *cnorm);

/* Segmented sums for the centroid update. ACCUMULATES (zero sums and counts first), so a pass
 * over many chunks of rows adds chunk by chunk: for every row i of x[n, d] with assign[i] in
 * [0, k) (other rows are skipped: padding, masks)
 *   sums[assign[i], :] += x_i      counts[assign[i]] += 1      (sums f32[k, d], counts i32[k])
 * Deterministic: each cluster's rows are added in row order in double, in chunks of 1024 rows
 * whose sums are added in chunk order (LT_KM_CHUNK in src/core/backend_impl.h), then added to
 * sums once, so both backends give the same bits for the same inputs and a giant cluster does
 * not serialise the GPU. */
int lt_kmeans_update(lt_backend *be, lt_tensor *sums, lt_tensor *counts, const lt_tensor *x, const lt_tensor *assign);

/* ---- recurrent layers (LSTM, GRU) --------------------------------------------------------------- */
/* One recurrent layer over a right-padded batch, with PyTorch's equations and weight layout
 * (torch.nn.LSTM / torch.nn.GRU, one layer, batch_first):
 *   LSTM, G = 4 gates in the order i, f, g, o:  c' = f c + i g,  h' = o tanh(c')
 *   GRU,  G = 3 gates in the order r, z, n:     n = tanh(x W_in + b_in + r (h W_hn + b_hn)),
 *                                               h' = (1 - z) n + z h
 * Shapes: x[B, T, I], w_ih[G*H, I], w_hh[G*H, H], b_ih[G*H], b_hh[G*H] (biases may be NULL),
 * h0[B, H] and c0[B, H] (LSTM only) the initial state (NULL: zeros). lens: int32[B] ON THE HOST
 * (LT_CPU) whatever the backend: sequence b has lens[b] steps (0 <= lens[b] <= T); steps t >= lens[b]
 * write zeros to y and leave the state alone, so hT/cT hold the state after step lens[b] - 1 (h0
 * when lens[b] = 0). Outputs: y[B, T, H] (every step's h), hT[B, H] and cT[B, H] (may be NULL).
 * ws: the reserve the backward pass needs (u8[lt_rnn_reserve_bytes], backend-specific content; the
 * CPU also keeps the backward's scratch there, so lt_rnn_bwd writes into it; what the forward stored
 * stays intact); NULL for inference. The CPU computes in fp32; CUDA follows lt_math (bf16 tensor cores with fp32
 * state and accumulation by default) and runs the hand-written kernels or cuDNN (lt_rnn_impl).
 * Activations f32 or bf16: x sets the dtype and y, hT, cT, h0, c0 (and in lt_rnn_bwd dx, dy, dhT,
 * dcT, dh0, dc0) must share it; weights, biases and their gradients are f32. With bf16 the
 * recurrence still runs in fp32 (gates, h and c stay fp32 between steps and in ws); only what is
 * stored to an output is rounded, once (bf16 gradients +=: read, added in fp32, rounded once). On
 * CUDA, bf16 x feeds its GEMMs as bf16 operands (W_ih rounded to a bf16 copy) whatever lt_math;
 * cuDNN's RNN API has no bf16 data, so bf16 runs on the hand-written kernels only: a bf16 call
 * while LT_RNN_CUDNN is chosen is refused with LT_ENOTSUP. */
typedef enum { LT_CELL_LSTM = 0, LT_CELL_GRU = 1 } lt_cell;
int lt_cell_gates(lt_cell cell); /* 4 or 3 */
/* Bytes of the reserve tensor ws for a batch of this shape on this backend. */
int lt_rnn_reserve_bytes(lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, size_t *bytes);
int lt_rnn_fwd(lt_backend *be, lt_cell cell, lt_tensor *y, lt_tensor *hT, lt_tensor *cT, lt_tensor *ws,
               const lt_tensor *x, const lt_tensor *w_ih, const lt_tensor *w_hh, const lt_tensor *b_ih,
               const lt_tensor *b_hh, const lt_tensor *h0, const lt_tensor *c0, const lt_tensor *lens);
/* Backward through time, ACCUMULATING: dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0 += ... (any of
 * them may be NULL when not wanted, except dw_hh). dy[B, T, H], dhT and dcT (may be NULL) are the
 * gradients of y, hT and cT; x, y, the weights, h0, c0 and lens are the forward's, ws its reserve. */
int lt_rnn_bwd(lt_backend *be, lt_cell cell, lt_tensor *dx, lt_tensor *dw_ih, lt_tensor *dw_hh, lt_tensor *db_ih,
               lt_tensor *db_hh, lt_tensor *dh0, lt_tensor *dc0, const lt_tensor *dy, const lt_tensor *dhT,
               const lt_tensor *dcT, const lt_tensor *ws, const lt_tensor *x, const lt_tensor *y,
               const lt_tensor *w_ih, const lt_tensor *w_hh, const lt_tensor *b_ih, const lt_tensor *b_hh,
               const lt_tensor *h0, const lt_tensor *c0, const lt_tensor *lens);
/* Which implementation runs the recurrent ops: the hand-written kernels (LT_RNN_NATIVE, the
 * default, every backend) or cuDNN (CUDA built with cuDNN only; LT_ENOTSUP on the CPU and in a
 * CUDA build without cuDNN). */
typedef enum { LT_RNN_NATIVE = 0, LT_RNN_CUDNN = 1 } lt_rnn_impl;
int lt_rnn_set_impl(lt_backend *be, lt_rnn_impl impl);

/* ---- softmax ranking over a catalog ------------------------------------------------------------- */
/* Full softmax cross-entropy over every item of a catalog, never holding B x N scores:
 *   s[b, j] = u_b . v_j + bias_j (bias may be NULL),  loss[b] = logsumexp_j s[b, j] - s[b, target_b]
 * computed `chunk` items at a time with an online max / log-sum-exp; lse[B] kept for backward.
 * u[B, D], v[N, D], targets int32[B] (target < 0: row ignored, loss 0, no gradient).
 * work: f32 scratch of at least B * chunk elements (the one chunk of scores in flight; B * min(chunk, N)
 * suffices). The chunk loop is in src/core/rank.c; besides work, only 3 B floats of running state (and,
 * in the multi-threaded CPU backward, one B x D partial of du per thread). */
int lt_catalog_xent_fwd(lt_backend *be, lt_tensor *loss, lt_tensor *lse, const lt_tensor *u, const lt_tensor *v,
                        const lt_tensor *bias, const lt_tensor *targets, int64_t chunk, lt_tensor *work);
/* The backward recomputes each chunk's scores: du += dloss (softmax - onehot) v, dv += ..^T u,
 * dbias += column sums (du, dv, dbias may be NULL). dloss[B]. */
int lt_catalog_xent_bwd(lt_backend *be, lt_tensor *du, lt_tensor *dv, lt_tensor *dbias, const lt_tensor *dloss,
                        const lt_tensor *u, const lt_tensor *v, const lt_tensor *bias, const lt_tensor *targets,
                        const lt_tensor *lse, int64_t chunk, lt_tensor *work);

/* Sampled softmax with the log-Q correction (Bengio & Senecal; Yi et al. 2019): each row b scores
 * its target and S shared negatives neg int32[S] (item ids; in-batch negatives = the batch's
 * targets), s' = u.v + bias - logq (logq f32[N]: log of each item's sampling probability, may be
 * NULL for uniform), a negative equal to the row's target is masked out (accidental hit).
 * loss[b] = logsumexp over {target, negatives} - s'_target.  work: f32 of B * (S + 1). */
int lt_sampled_xent_fwd(lt_backend *be, lt_tensor *loss, lt_tensor *lse, const lt_tensor *u, const lt_tensor *v,
                        const lt_tensor *bias, const lt_tensor *logq, const lt_tensor *targets, const lt_tensor *neg,
                        lt_tensor *work);
int lt_sampled_xent_bwd(lt_backend *be, lt_tensor *du, lt_tensor *dv, lt_tensor *dbias, const lt_tensor *dloss,
                        const lt_tensor *u, const lt_tensor *v, const lt_tensor *bias, const lt_tensor *logq,
                        const lt_tensor *targets, const lt_tensor *neg, const lt_tensor *lse, lt_tensor *work);

/* Running top-K scoring with exclusions, for one slab of items (a shard, or part of one):
 *   s[b, j] = u_b . v_j + bias_j for items j = first .. first + n - 1 (v[n, D], bias f32[n] or NULL),
 * merged into the running best vals[B, K] / idx int32[B, K] (sorted descending, ties to the lower
 * item id, idx -1 and vals -inf where fewer than K items were seen: initialise them so). Items
 * listed for row b in the exclusion CSR (excl_off int64[B + 1], excl_ids int32[...], both on the
 * backend's device; NULL: none) are skipped. No B x n matrix is kept beyond the backend's tile.
 * 1 <= K <= LT_TOPK_MAX. Calling it slab after slab gives the catalog's top-K. Exclusion ids outside the
 * slab are ignored (so one CSR serves every slab); a NaN score is never returned. */
int lt_score_topk(lt_backend *be, lt_tensor *vals, lt_tensor *idx, const lt_tensor *u, const lt_tensor *v,
                  const lt_tensor *bias, int64_t first, const lt_tensor *excl_off, const lt_tensor *excl_ids);

/* ---- the trainer's optimizer steps: clipping on the device, row-wise updates for embeddings ------- */
/* acc f32[1] (on the backend's device) += sum of x^2 over every element of x. The trainer adds up
 * the squared norm of the whole gradient slab this way, bucket by bucket, without a host round trip. */
int lt_sumsq_acc(lt_backend *be, lt_tensor *acc, const lt_tensor *x);

/* AdamW whose gradient scale is derived on the device from the slab's squared norm sumsq f32[1]
 * (the sum of squares of the raw gradients g): the step uses g * scale with
 *   scale = grad_scale * min(1, max_norm / (grad_scale * sqrt(sumsq)))   (max_norm <= 0: grad_scale)
 * so clipping applies to the gradient the step sees (grad_scale averages accumulated micro-batches
 * and ranks). When sumsq is not finite the step is skipped (nothing changes), so a NaN never reaches
 * the weights; the trainer reads sumsq back only when it logs, and then reports skipped steps. */
int lt_adamw_clipped(lt_backend *be, lt_tensor *p, const lt_tensor *g, lt_tensor *m, lt_tensor *v,
                     const lt_adamw_cfg *cfg, int64_t step, float grad_scale, const lt_tensor *sumsq, float max_norm);

/* Row-wise (lazy) AdamW for an embedding table p[V, D] with gradient g and moments m, v [V, D]: a
 * row whose gradient is entirely zero this step (its id was in no batch) is not touched at all: no
 * moment decay, no weight decay, no update, so the vectors of rarely seen long-tail items are not
 * shrunk or dragged by stale momentum between sightings. A row that got gradient takes one AdamW
 * step whose bias correction counts that row's own updates: bpow f32[V, 2] holds beta1^k and beta2^k
 * after its k updates (initialise to 1; multiplied here, so every backend computes the same bits).
 * Scale, clipping and skipping as lt_adamw_clipped. */
int lt_adamw_rows(lt_backend *be, lt_tensor *p, const lt_tensor *g, lt_tensor *m, lt_tensor *v, lt_tensor *bpow,
                  const lt_adamw_cfg *cfg, float grad_scale, const lt_tensor *sumsq, float max_norm);

/* ---- ridge regression for the bandits (Sherman-Morrison) ------------------------------------------ */
/* M linear ridge models over D features (one shared model: M = 1; one per item: M = items), each kept
 * as its inverse Gram matrix ainv[m] = A_m^-1 (A_m = lambda I + sum of x x^T over its rows; initialise
 * to I / lambda) and b[m] = sum of r x, so theta_m = A_m^-1 b_m. Shapes: ainv f32[M, D, D], b f32[M, D],
 * x f32[n, D], r f32[n], model int32[n] (NULL: every row is model 0). 1 <= D <= LT_RIDGE_MAX_DIM.
 *
 * lt_ridge_update, for every row i in row order, with m = model[i]:
 *     u = A_m^-1 x_i;   A_m^-1 -= u u^T / (1 + x_i . u);   b_m += r_i x_i
 * the Sherman-Morrison rank-1 update of the inverse: O(D^2) a row instead of an O(D^3) inversion.
 * Rows of one model are applied in order; models are independent (CUDA updates them in parallel).
 * Sums in double. A model id outside [0, M) is an error on the CPU; CUDA skips that row.
 *
 * lt_ridge_score, for every row i: mean[i] = x_i . theta_m = x_i^T A_m^-1 b_m (the ridge estimate)
 * and var[i] = x_i^T A_m^-1 x_i (its variance up to the noise scale): what epsilon-greedy, LinUCB
 * (mean + alpha sqrt(var)) and Thompson sampling need of every candidate. var may be NULL. */
#define LT_RIDGE_MAX_DIM 2048
int lt_ridge_update(lt_backend *be, lt_tensor *ainv, lt_tensor *b, const lt_tensor *x, const lt_tensor *r,
                    const lt_tensor *model);
int lt_ridge_score(lt_backend *be, lt_tensor *mean, lt_tensor *var, const lt_tensor *ainv, const lt_tensor *b,
                   const lt_tensor *x, const lt_tensor *model);

/* ---- selection ----------------------------------------------------------------------------- */

/* Per row of x[R,N]: the k largest values, sorted descending, into vals[R,k] and their column
 * indices into idx (int32[R,k]). Ties go to the lower index; NaN ranks below everything.
 * 1 <= k <= min(N, LT_TOPK_MAX). */
#define LT_TOPK_MAX 1024
int lt_topk(lt_backend *be, lt_tensor *vals, lt_tensor *idx, const lt_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
