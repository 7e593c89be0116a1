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
    lt_tensor value;   /* f32 master weights: a view into the value slab once the list is laid out */
    lt_tensor grad;    /* f32, same shape: a view into the gradient slab */
    lt_tensor m, v;    /* AdamW moments: views into the moment slabs (after the first step or a load) */
    lt_tensor bpow;    /* tables only: f32[rows, 2], each row's beta1^k and beta2^k (lt_adamw_rows) */
    int decay;         /* weight decay applies (not to biases and LayerNorm) */
    int table;         /* an embedding table: row-wise lazy AdamW, rows without gradient untouched */
    int64_t offset;    /* in floats, into the slabs */
} lt_param;

/* A model's parameters. Each parameter starts as a tensor of its own; lt_params_layout then moves
 * all of them into ONE value slab and ONE gradient slab (and, at the first optimizer step, one slab
 * per AdamW moment), the parameters becoming views into them. So zeroing the gradients is one
 * memset, the squared norm one pass and the data-parallel all-reduce works on a few large buckets.
 * The slab order groups parameters by how AdamW treats them: decayed, not decayed, then each table,
 * so a step is two dense AdamW calls plus one row-wise call per table, whatever the model. */
typedef struct lt_params {
    lt_backend *be;
    lt_param *p;
    int n, cap;
    int laid_out;               /* every parameter lives in the slabs */
    float *values, *grads;      /* the slabs (device memory), `total` floats each */
    float *moments;             /* m then v: 2 * total floats (NULL until needed) */
    int64_t total;              /* floats per slab, each parameter's start aligned to 64 floats */
    int64_t n_decay, n_dense;   /* the slab's [0, n_decay) is decayed, [n_decay, n_dense) is not */
    float *sumsq;               /* device f32[1]: the gradient slab's squared norm (lt_params_sumsq) */
    /* Data-parallel overlap: while the trainer runs the last micro-batch of a step, on_ready is
     * set, and a model's backward reports each parameter whose gradient is final (lt_params_ready)
     * so that the buckets holding it are all-reduced while the backward goes on. */
    int (*on_ready)(void *ctx, lt_param *p);
    void *ready_ctx;
    /* Bumped whenever the values may have changed: the layout, the initialisers, an optimizer step,
     * a checkpoint load, lt_params_touch. A model that keeps derived copies of its weights (BERT's
     * bf16 GEMM operands) builds them again when it differs from the one they were made at. */
    uint64_t version;
} lt_params;

void lt_params_init(lt_params *ps, lt_backend *be);
/* A new zero-initialised parameter; *out points into ps (valid until the next add). A parameter
 * added after lt_params_layout lives on its own until the next layout. */
int lt_params_add(lt_params *ps, const char *name, int ndim, const int64_t *shape, int decay, lt_param **out);
/* An embedding table [rows, cols]: no weight decay by default (lt_optim_cfg.table_decay) and
 * row-wise lazy AdamW, so the rows of rarely seen long-tail ids keep their vectors between sightings. */
int lt_params_add_table(lt_params *ps, const char *name, int64_t rows, int64_t cols, lt_param **out);
/* Move every parameter into the slabs (values kept, gradients zeroed). Models call it once all
 * their parameters exist; the optimizer and checkpoint loading call it too. Data pointers taken
 * before it are stale after it; lt_param pointers stay valid. */
int lt_params_layout(lt_params *ps);
lt_param *lt_params_find(lt_params *ps, const char *name);
/* The values were written outside the functions here (a load, a test's finite differences): copies a
 * model derived from them are stale. */
void lt_params_touch(lt_params *ps);
void lt_params_free(lt_params *ps);
int64_t lt_params_count(const lt_params *ps); /* number of scalars */
int lt_params_zero_grad(lt_params *ps);
/* The whole gradient slab as one f32[total] tensor (after lt_params_layout): what the all-reduce,
 * the clipping norm and the bucketing see. Padding between parameters is always zero. */
lt_tensor lt_params_grad_slab(const lt_params *ps);
/* The gradients of these n parameters are final for this step (nothing adds to them before the
 * optimizer): the trainer may start reducing them. Nothing happens outside the data-parallel step;
 * a parameter never reported is reduced after the backward. Call in the same order on every rank. */
int lt_params_ready(lt_params *ps, lt_param *const *p, int n);
/* The device f32[1] the gradient slab's squared norm is added into (lt_sumsq_acc), allocated on first
 * use: the trainer fills it bucket by bucket after the all-reduce, lt_optim_step in one pass, and
 * lt_optim_apply clips by it. */
int lt_params_sumsq(lt_params *ps, lt_tensor *acc);

/* Initialisers (on the host, then copied): normal(0, std), uniform(-a, a) and a constant. */
int lt_param_init_normal(lt_params *ps, lt_param *p, lt_rng *r, float std);
int lt_param_init_uniform(lt_params *ps, lt_param *p, lt_rng *r, float a);
int lt_param_init_const(lt_params *ps, lt_param *p, float value);

/* ---- optimisation ---------------------------------------------------------------------------- */

typedef enum { LT_SCHED_LINEAR = 0, LT_SCHED_COSINE, LT_SCHED_CONSTANT } lt_schedule;

typedef struct lt_optim_cfg {
    float lr, beta1, beta2, eps, weight_decay;
    float table_decay;     /* weight decay of embedding tables (default 0: never shrink unseen items) */
    float max_grad_norm;   /* global-norm clipping; <= 0 disables */
    int64_t warmup_steps;  /* linear warm-up from 0 */
    int64_t total_steps;   /* decay to final_lr * lr after warm-up (0: constant after warm-up) */
    lt_schedule schedule;  /* linear (default) or cosine decay, or constant */
    float final_lr;        /* the schedule's floor as a fraction of lr (default 0) */
} lt_optim_cfg;

void lt_optim_cfg_init(lt_optim_cfg *c); /* lr 1e-3, betas 0.9/0.999, eps 1e-8, wd 0.01, clip 1.0 */
/* The learning rate at step (1-based) under the schedule. */
float lt_optim_lr(const lt_optim_cfg *c, int64_t step);
/* One optimizer step on the slabs, nothing read back: sumsq f32[1] on the device must hold the
 * squared norm of the raw gradient slab (lt_sumsq_acc); the step uses grad * grad_scale, clipped
 * to c->max_grad_norm, and is skipped on the device when sumsq is not finite. */
int lt_optim_apply(lt_params *ps, const lt_optim_cfg *c, int64_t step, float grad_scale, const lt_tensor *sumsq);
/* The simple form: the norm computed here and read back (one sync), then lt_optim_apply. Reports
 * the gradient norm before clipping; NaN/inf is an error and the step is not taken. */
int lt_optim_step(lt_params *ps, const lt_optim_cfg *c, int64_t step, float *grad_norm);

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* HDF5 "checkpoint/1": params/<name> (values), and with optimizer state moments/<name>/m and /v
 * (tables also moments/<name>/bpow), the data cursor of every rank as cursors i64[ranks, 2], and
 * attributes step, rng_seed, rng_stream, rng_pos, ranks, the early-stopping state and a free-form
 * model string (the model's configuration). Written to a temporary name, renamed when complete. */
typedef struct lt_train_state {
    int64_t step;
    uint64_t rng_seed, rng_stream, rng_pos;
    int64_t cursor_epoch, cursor_batch; /* this rank's data position */
    int rank, ranks;                    /* 0 of 1 unless data-parallel (0 is read as 1) */
    const int64_t *all_cursors;         /* save only: (epoch, batch) of every rank, 2 * ranks values;
                                           NULL: this rank's cursor, with ranks = 1 */
    double best_metric;                 /* early stopping: the best validation metric so far (NaN: none) */
    int64_t best_step, bad_evals;       /* its step; evaluations since it improved */
    int64_t skipped_steps;              /* optimizer steps skipped on a non-finite gradient */
} lt_train_state;

int lt_checkpoint_save(const char *path, const lt_params *ps, int with_moments, const lt_train_state *st,
                       const char *model);
/* Load values (and moments, when present and wanted) into an existing parameter list whose names
 * and shapes must match: a missing tensor or another shape is an error naming the tensor. With st,
 * st->rank and st->ranks say which rank reads (ranks 0 is read as 1); a checkpoint written by
 * another number of ranks is refused. */
int lt_checkpoint_load(const char *path, lt_params *ps, int with_moments, lt_train_state *st, char *model,
                       size_t model_cap);

#ifdef __cplusplus
}
#endif
#endif
