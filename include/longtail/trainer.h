/* The trainer: one training loop for every model (the encoder's pretraining, the recommender, the
 * classifier). A model hands it its parameter list and a task, a small table of callbacks that run
 * one micro-batch forward and backward; the trainer owns everything else:
 *
 *   for each step:  zero the gradient slab
 *                   task.micro() x accum        (gradients accumulate in the slab)
 *                   all-reduce the slab bucket by bucket (lt_comm), adding each bucket's squared
 *                   norm on the device as it lands
 *                   AdamW, clipped by that norm on the device (no host round trip), row-wise for
 *                   embedding tables
 *                   log / evaluate / checkpoint when due
 *
 * Randomness is keyed by (seed, rank, step, site) — lt_step_seed and lt_step_stream — so ranks
 * never draw the same masks and a resumed run draws exactly what the original would have.
 *
 * Data parallelism (comm of several ranks): every rank runs the same steps on its own part of the
 * global batch; the gradient slab is summed over the ranks in buckets (fired while the backward
 * runs when the model reports finished parameters, lt_params_ready), the optimizer divides by
 * accum x ranks, so every rank takes the same step. A task whose loss is a mean over a count that
 * differs between ranks (targets, masked tokens) scales its gradient by ranks / global count
 * (lt_step_sum_i64) so that the average over ranks is the single-rank mean. The logged loss is the
 * mean over ranks; only rank 0 writes the log, checkpoints and the best weights; the metric of an
 * evaluation is rank 0's, broadcast, so every rank stops early at the same step.
 * Checkpoints (DIR/NAME.ckpt.h5) hold the weights, the AdamW moments, the step, every rank's data
 * cursor and the early-stopping state, written atomically; opening a trainer whose checkpoint
 * exists resumes it bit for bit. DIR/NAME_log.tsv is the loss and metric log, DIR/NAME_loss.svg its
 * plot, DIR/NAME.best.h5 the weights of the best validation metric. */
#ifndef LONGTAIL_TRAINER_H
#define LONGTAIL_TRAINER_H

#include <stdint.h>

#include "longtail/comm.h"
#include "longtail/loader.h"
#include "longtail/param.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a random draw happens: part of its key, so two sites never share numbers. */
typedef enum {
    LT_SITE_DROPOUT = 1,
    LT_SITE_MASK,       /* masked-LM masks */
    LT_SITE_NEGATIVES,  /* sampled-softmax negatives */
    LT_SITE_SHUFFLE,    /* data order */
    LT_SITE_ID_DROPOUT, /* the recommender's item-id dropout */
    LT_SITE_PAIRS,      /* co-interaction pairs */
    LT_SITE_INIT        /* parameter initialisation */
} lt_site;

/* A seed for the draws at `site` of this rank: a pure function of (seed, rank, site). */
uint64_t lt_rng_key(uint64_t seed, int rank, lt_site site);

/* What a micro-batch knows about where it is. */
typedef struct lt_step {
    int64_t step;      /* optimizer step, from 1 */
    int micro, micros; /* this micro-batch and how many make the step */
    uint64_t seed;     /* the run's seed */
    int rank, ranks;
    lt_comm *comm;     /* the job's communicator (lt_comm_sum_i64 for a loss's global count) */
} lt_step;

/* The seed and the stream for a draw at `site` in this micro-batch: pass both to the op
 * (lt_dropout_fwd's seed and stream, lt_rng_init, ...). */
uint64_t lt_step_seed(const lt_step *s, lt_site site);
uint64_t lt_step_stream(const lt_step *s);
/* The sum of v over the ranks of the step's job (v itself on one rank). */
int lt_step_sum_i64(const lt_step *s, int64_t *v);

typedef struct lt_task {
    const char *phase;          /* "mlm", "contrastive", "train": names its lines in the log */
    void *ctx;
    int64_t first_step, last_step; /* the task runs the steps (first_step, last_step] */
    const char *unit;           /* what *examples counts: "seq", "users", ... */
    /* One micro-batch: forward and backward, ACCUMULATING into the parameters' gradients (the
     * trainer zeroed them at the start of the step). *loss: its mean loss; *examples: its size. */
    int (*micro)(void *ctx, const lt_step *s, double *loss, int64_t *examples);
    /* The data cursor after the last micro-batch, for checkpoints (NULL: the task has none). */
    lt_cursor (*tell)(void *ctx);
    /* Continue the data from a checkpoint's cursor (NULL: nothing to do). */
    int (*seek)(void *ctx, lt_cursor c);
    /* The validation metric, every eval_every steps and at the task's end (NULL: none). */
    int (*evaluate)(void *ctx, int64_t step, double *metric);
    const char *metric;         /* its name: "ndcg@10" */
} lt_task;

typedef struct lt_trainer_cfg {
    lt_optim_cfg optim;  /* optim.total_steps: the schedule's length over every task */
    uint64_t seed;
    int64_t accum;       /* micro-batches per optimizer step (default 1) */
    int64_t log_every, ckpt_every, eval_every; /* steps; eval_every 0: only at each task's end */
    int64_t patience;    /* stop when the metric has not improved for this many evaluations (0: never) */
    int higher_is_better;/* for the metric (default 1) */
    int64_t stop_after;  /* stop once this step is done and checkpointed, as if killed (tests; 0: never) */
    int64_t bucket_floats; /* all-reduce bucket size (default 4M floats) */
    const char *dir, *name; /* DIR/NAME.ckpt.h5, DIR/NAME_log.tsv, ... */
    const char *model;   /* the model's configuration, kept in the checkpoint and checked on resume */
    int quiet;           /* no log lines on stderr (tests) */
} lt_trainer_cfg;

void lt_trainer_cfg_init(lt_trainer_cfg *c);

typedef struct lt_trainer lt_trainer;

/* Lay the parameters out, and resume from DIR/NAME.ckpt.h5 when it exists (weights, moments,
 * step, cursor, early-stopping state; a checkpoint of another model is refused). */
int lt_trainer_open(lt_trainer **out, lt_params *ps, lt_comm *comm, const lt_trainer_cfg *cfg);
/* Run the task's steps that are not done yet. 0: done; LT_TRAIN_STOPPED: stopped by stop_after
 * (run again to continue); LT_TRAIN_EARLY: stopped early (patience ran out); < 0: an error. */
#define LT_TRAIN_STOPPED 1
#define LT_TRAIN_EARLY 2
int lt_trainer_run(lt_trainer *t, const lt_task *task);
/* Optimizer steps done so far (after a resume: the checkpoint's). */
int64_t lt_trainer_step(const lt_trainer *t);
/* The best metric and its step (NaN and 0 when nothing was evaluated). */
double lt_trainer_best(const lt_trainer *t, int64_t *step);
/* Load the weights of the best evaluation (DIR/NAME.best.h5) back into the parameters. */
int lt_trainer_load_best(lt_trainer *t);
/* Write the loss plot and release; the parameters stay the caller's. */
int lt_trainer_close(lt_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
