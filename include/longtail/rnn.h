/* The recurrent module models use (the recommender's user tower, the long-tail classifier): a stack of
 * LSTM or GRU layers over a right-padded batch, written once against ops.h (lt_rnn_fwd / lt_rnn_bwd), so
 * the same code runs on the CPU and CUDA backends.
 *
 *   x[B, T, I] --layer 0--> y0[B, T, H] --dropout--> layer 1 --> ... --> y[L-1]
 *   out = y[L-1]                       or, with an output projection,  out = y[L-1] P^T + p   [B, T, P]
 *
 * Each layer is torch.nn.LSTM / torch.nn.GRU (batch_first) with its parameter names under a prefix the
 * caller gives ("user.lstm." -> "user.lstm.weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
 * ...; the projection is "proj.weight" [P, H] and "proj.bias" [P]) and PyTorch's initialisation,
 * U(-1/sqrt(H), 1/sqrt(H)) for every tensor. Sequence b has lens[b] real steps (0 <= lens[b] <= T):
 * padded steps of every layer's output are 0 (a projection then gives its bias there), and the final
 * states are those after step lens[b] - 1, as pack_padded_sequence gives them. The initial state is 0.
 * Dropout between layers (not after the last, as PyTorch) draws its masks from (seed, step, layer), so a
 * resumed run draws the same ones. Activations live in buffers sized once by lt_recurrent_reserve: a
 * training step allocates nothing. */
#ifndef LONGTAIL_RNN_H
#define LONGTAIL_RNN_H

#include <stdint.h>

#include "longtail/param.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_recurrent_config {
    lt_cell cell;              /* LT_CELL_LSTM or LT_CELL_GRU */
    int64_t input, hidden;     /* I, H */
    int64_t layers;            /* >= 1 */
    float dropout;             /* between layers, in [0, 1) */
    int64_t proj;              /* > 0: an output projection Linear(H -> proj); 0: none */
} lt_recurrent_config;

typedef struct lt_recurrent lt_recurrent;

/* Sizes positive, 0 <= dropout < 1: LT_ECONFIG naming the field. */
int lt_recurrent_config_check(const lt_recurrent_config *c);
/* Registers the parameters in ps (on ps's backend) under prefix and initialises them from rng. */
int lt_recurrent_create(lt_recurrent **out, lt_params *ps, const char *prefix, const lt_recurrent_config *cfg,
                        lt_rng *rng);
void lt_recurrent_free(lt_recurrent *m);
const lt_recurrent_config *lt_recurrent_get_config(const lt_recurrent *m);

/* Size the activations for batches of up to max_batch x max_len; training = 0 keeps no reserve for
 * backward (forward passes only). Call again to resize. */
int lt_recurrent_reserve(lt_recurrent *m, int64_t max_batch, int64_t max_len, int training);

/* Forward over x[B, T, I] (on the backend's device); lens: B host int32. train != 0: dropout between
 * layers with masks from (seed, step, layer), and what backward needs is kept (needs a training
 * reserve). x is read again by backward: keep it unchanged until then. */
int lt_recurrent_forward(lt_recurrent *m, const lt_tensor *x, const int32_t *lens, int train, uint64_t seed,
                         uint64_t step);
/* The last forward's outputs, valid until the next forward: out[B, T, H or proj], the final states
 * h_n[layers, B, H] and (LSTM) c_n[layers, B, H] (NULL for a GRU), as torch returns them. */
const lt_tensor *lt_recurrent_output(const lt_recurrent *m);
const lt_tensor *lt_recurrent_h_n(const lt_recurrent *m);
const lt_tensor *lt_recurrent_c_n(const lt_recurrent *m);

/* Backward of the last (training) forward for L = <dout, out> + <dh_n, h_n> + <dc_n, c_n>: ACCUMULATES
 * into the parameters' gradients and into dx[B, T, I] (dx, dh_n, dc_n may be NULL). */
int lt_recurrent_backward(lt_recurrent *m, const lt_tensor *dout, const lt_tensor *dh_n, const lt_tensor *dc_n,
                          lt_tensor *dx);

#ifdef __cplusplus
}
#endif
#endif
