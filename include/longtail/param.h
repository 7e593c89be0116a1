/* Parameters of a model: named tensors with their gradients and AdamW moments, kept in one list so
 * that the optimizer, gradient clipping, checkpoints and (later) the all-reduce of data-parallel
 * training work on any model the same way. */
#ifndef LONGTAIL_PARAM_H
#define LONGTAIL_PARAM_H

#include "longtail/ops.h"
#include "longtail/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_param {
    char name[96];     /* Hugging Face style: "encoder.layer.0.attention.self.query.weight" */
    lt_tensor value;   /* f32 master weights */
    lt_tensor grad;    /* f32, same shape */
    lt_tensor m, v;    /* AdamW moments (allocated on the first optimizer step) */
    int decay;         /* weight decay applies (not to biases and LayerNorm) */
} lt_param;

typedef struct lt_params {
    lt_backend *be;
    lt_param *p;
    int n, cap;
} lt_params;

void lt_params_init(lt_params *ps, lt_backend *be);
/* A new zero-initialised parameter; *out points into ps (valid until the next add). */
int lt_params_add(lt_params *ps, const char *name, int ndim, const int64_t *shape, int decay, lt_param **out);
lt_param *lt_params_find(lt_params *ps, const char *name);
void lt_params_free(lt_params *ps);
int64_t lt_params_count(const lt_params *ps); /* number of scalars */
int lt_params_zero_grad(lt_params *ps);

/* Initialisers (on the host, then copied): normal(0, std) and a constant. */
int lt_param_init_normal(lt_params *ps, lt_param *p, lt_rng *r, float std);
int lt_param_init_const(lt_params *ps, lt_param *p, float value);

/* ---- optimisation ---------------------------------------------------------------------------- */

typedef struct lt_optim_cfg {
    float lr, beta1, beta2, eps, weight_decay;
    float max_grad_norm;   /* global-norm clipping; <= 0 disables */
    int64_t warmup_steps;  /* linear warm-up from 0 */
    int64_t total_steps;   /* linear decay to 0 after warm-up (0: constant after warm-up) */
} lt_optim_cfg;

void lt_optim_cfg_init(lt_optim_cfg *c); /* lr 1e-3, betas 0.9/0.999, eps 1e-8, wd 0.01, clip 1.0 */
/* The learning rate at step (1-based) under the schedule. */
float lt_optim_lr(const lt_optim_cfg *c, int64_t step);
/* Clip by the global norm of all gradients, then one AdamW step on every parameter. Reports the
 * gradient norm before clipping (NaN/inf is an error: the step is not taken). */
int lt_optim_step(lt_params *ps, const lt_optim_cfg *c, int64_t step, float *grad_norm);

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* HDF5 "checkpoint/1": params/<name> (values), and with optimizer state moments/<name>/m and /v,
 * plus attributes step, rng_seed, rng_pos, cursor_epoch, cursor_batch and a free-form model
 * string (the model's configuration). Written to a temporary name, renamed when complete. */
typedef struct lt_train_state {
    int64_t step;
    uint64_t rng_seed, rng_stream, rng_pos;
    int64_t cursor_epoch, cursor_batch;
} lt_train_state;

int lt_checkpoint_save(const char *path, const lt_params *ps, int with_moments, const lt_train_state *st,
                       const char *model);
/* Load values (and moments, when present and wanted) into an existing parameter list whose names
 * and shapes must match: a missing tensor or another shape is an error naming the tensor. */
int lt_checkpoint_load(const char *path, lt_params *ps, int with_moments, lt_train_state *st, char *model,
                       size_t model_cap);

#ifdef __cplusplus
}
#endif
#endif
