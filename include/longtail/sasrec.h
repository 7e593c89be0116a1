/* A causal self-attention user tower (SASRec, Kang & McAuley 2018), written once against ops.h, so the same
 * code runs on the CPU and CUDA backends. Pre-LN blocks:
 *
 *   h_0 = dropout(x + pos[0 .. T))                          x[B, T, d]: item vectors, scaled by the caller
 *   per block:  h = h + dropout(Attn(LN1(h)) Wo^T + bo)     Attn: causal multi-head self-attention,
 *               h = h + dropout(W2 dropout(gelu(W1 LN2(h) + b1)) + b2)   query t sees keys j <= t, j < lens[b]
 *   out = LN_f(h_L), rows t >= lens[b] set to 0             out[B, T, d]: the next-item state at every position
 *
 * Sequences are RIGHT-padded: position t of a sequence of length L is real for t < L. Positions are counted
 * from the START of the sequence (left-aligned: the first item is position 0), so a prefix is computed the
 * same way whatever follows it: the output at t depends on x[0 .. t] only (never on later or padded
 * positions), which is what training at every position and inference at position L - 1 both need. A
 * history longer than max_len must be cut by the caller (the recommender keeps the last max_len items).
 * Padded input rows must be finite (their values never reach a real output; zeros are fine); padded output
 * rows are exactly 0 and get no gradient. lens[b] = 0 gives an all-zero row.
 *
 * Parameters under a caller-given prefix ("user.sasrec."), torch-like names:
 *   pos.weight [max_len, d]
 *   layers.<l>.ln1.weight/bias [d], layers.<l>.attn.in_proj_weight [3d, d] (q, k, v stacked, as
 *   torch.nn.MultiheadAttention), layers.<l>.attn.in_proj_bias [3d], layers.<l>.attn.out_proj.weight [d, d],
 *   layers.<l>.attn.out_proj.bias [d], layers.<l>.ln2.weight/bias, layers.<l>.ffn.0.weight [F, d],
 *   layers.<l>.ffn.0.bias [F], layers.<l>.ffn.2.weight [d, F], layers.<l>.ffn.2.bias [d]
 *   ln_f.weight/bias [d]
 * Init: Linear weights U(+-1/sqrt(fan_in)) (torch.nn.Linear), projection biases 0, LayerNorms 1 / 0,
 * positions N(0, 0.02). Weights decay; biases, LayerNorms and positions do not.
 *
 * Dropout (attention probabilities are not dropped: that would live inside the fused kernel) on the
 * embeddings, the attention output, the FFN's hidden activation and its output, with masks drawn from
 * (seed, step << 16 | site), site 0 for the embeddings and 1 + 3 l, 2 + 3 l, 3 + 3 l for block l, so a
 * resumed run draws the same ones. Activations live in buffers sized by lt_causal_tower_reserve: a
 * training step allocates nothing. */
#ifndef LONGTAIL_SASREC_H
#define LONGTAIL_SASREC_H

#include <stdint.h>

#include "longtail/param.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_causal_config {
    int64_t dim;     /* d */
    int64_t heads;   /* d % heads == 0 (CUDA: d / heads <= 128) */
    int64_t layers;  /* blocks, >= 1 */
    int64_t ffn;     /* the FFN's inner width; 0: d (SASRec) */
    int64_t max_len; /* positions (T <= max_len) */
    float dropout;   /* in [0, 1) */
    float ln_eps;    /* 0: 1e-5 (torch.nn.LayerNorm's default) */
} lt_causal_config;

typedef struct lt_causal_tower lt_causal_tower;

/* LT_ECONFIG naming the field. */
int lt_causal_config_check(const lt_causal_config *c);
/* Registers the parameters in ps (on ps's backend) under prefix and initialises them from rng. */
int lt_causal_tower_create(lt_causal_tower **out, lt_params *ps, const char *prefix, const lt_causal_config *cfg,
                           lt_rng *rng);
void lt_causal_tower_free(lt_causal_tower *m);
const lt_causal_config *lt_causal_tower_config(const lt_causal_tower *m);

/* Size the activations for batches of up to max_batch x max_len (max_len <= cfg.max_len); training = 0
 * keeps no backward buffers. Call again to resize. */
int lt_causal_tower_reserve(lt_causal_tower *m, int64_t max_batch, int64_t max_len, int training);

/* Forward over x[B, T, d] (f32, on the backend's device); lens: B host int32 in [0, T]. train != 0:
 * dropout with masks from (seed, step), and what backward needs is kept (needs a training reserve). x is
 * not read again by backward. */
int lt_causal_tower_forward(lt_causal_tower *m, const lt_tensor *x, const int32_t *lens, int train, uint64_t seed,
                            uint64_t step);
/* The last forward's output out[B, T, d], valid until the next forward. */
const lt_tensor *lt_causal_tower_output(const lt_causal_tower *m);
/* Backward of the last (training) forward for L = <dout, out>: ACCUMULATES into the parameters'
 * gradients and into dx[B, T, d] (may be NULL). dout's padded rows are ignored. */
int lt_causal_tower_backward(lt_causal_tower *m, const lt_tensor *dout, lt_tensor *dx);

#ifdef __cplusplus
}
#endif
#endif
