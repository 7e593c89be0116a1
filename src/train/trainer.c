/* The training loop every model uses (include/longtail/trainer.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/eval.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/trainer.h"

/* ---- keyed randomness ------------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t lt_rng_key(uint64_t seed, int rank, lt_site site) {
    return splitmix64(splitmix64(seed) ^ splitmix64(((uint64_t)(uint32_t)rank << 32) | (uint32_t)site));
}
uint64_t lt_step_seed(const lt_step *s, lt_site site) { return lt_rng_key(s->seed, s->rank, site); }
uint64_t lt_step_stream(const lt_step *s) { return (uint64_t)s->step * (uint64_t)s->micros + (uint64_t)s->micro; }
int lt_step_sum_i64(const lt_step *s, int64_t *v) { return s && s->comm && s->ranks > 1 ? lt_comm_sum_i64(s->comm, v, 1) : 0; }

/* ---- the trainer ------------------------------------------------------------------------------------ */

struct lt_trainer {
    lt_trainer_cfg cfg;
    lt_params *ps;
    lt_comm *comm;
    lt_backend *be;
    lt_train_state st;    /* step, early-stopping state; cursor of the last checkpoint */
    int resumed;
    char ckpt[4096], best[4096], log_path[4096], plot[4096];
    FILE *log;
    /* buckets of the gradient slab: params not final yet in each, fired or not; params reported */
    int64_t nbuckets;
    int *left;
    uint8_t *fired, *ready;
    int fail_rank, fail_hang; /* LONGTAIL_TEST_FAIL=RANK:STEP[:hang], for the failure tests */
    int64_t fail_step;
};

void lt_trainer_cfg_init(lt_trainer_cfg *c) {
    memset(c, 0, sizeof *c);
    lt_optim_cfg_init(&c->optim);
    c->seed = 1, c->accum = 1, c->log_every = 50, c->ckpt_every = 200, c->higher_is_better = 1;
    c->bucket_floats = 4 << 20, c->name = "train";
}

int64_t lt_trainer_step(const lt_trainer *t) { return t->st.step; }

double lt_trainer_best(const lt_trainer *t, int64_t *step) {
    if (step) *step = t->st.best_step;
    return t->st.best_metric;
}

/* Rewrite the log without the lines past `keep_upto` (a resumed run logs those steps again). */
static int truncate_log(const char *path, int64_t keep_upto) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024], *kept = NULL;
    size_t klen = 0, kcap = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f) && !rc) {
        char phase[64];
        long long step;
        if (sscanf(line, "%63s %lld", phase, &step) == 2 && step > keep_upto) continue;
        size_t l = strlen(line);
        if (klen + l + 1 > kcap) {
            kcap = 2 * (klen + l + 1);
            char *k = realloc(kept, kcap);
            if (!k) rc = lt_error(LT_ENOMEM, "%s: out of memory", path);
            else kept = k;
        }
        if (!rc) memcpy(kept + klen, line, l + 1), klen += l;
    }
    fclose(f);
    if (!rc) {
        f = fopen(path, "w");
        if (!f || (klen && fwrite(kept, 1, klen, f) != klen)) rc = lt_error(LT_EIO, "%s: cannot rewrite the log", path);
        if (f) fclose(f);
    }
    free(kept);
    return rc;
}

int lt_trainer_open(lt_trainer **out, lt_params *ps, lt_comm *comm, const lt_trainer_cfg *cfg) {
    *out = NULL;
    if (!cfg->dir || !cfg->name) return lt_error(LT_EINVAL, "trainer: a folder and a name are required");
    if (cfg->accum < 1 || cfg->log_every < 1 || cfg->ckpt_every < 1 || cfg->eval_every < 0 || cfg->patience < 0)
        return lt_error(LT_ECONFIG, "trainer: accum, log_every and ckpt_every must be >= 1, eval_every and patience >= 0");
    lt_trainer *t = calloc(1, sizeof *t);
    if (!t) return lt_error(LT_ENOMEM, "trainer: out of memory");
    t->cfg = *cfg, t->ps = ps, t->comm = comm ? comm : lt_comm_single(), t->be = ps->be;
    if (t->cfg.bucket_floats < 1024) t->cfg.bucket_floats = 1024;
    t->st = (lt_train_state){.rank = t->comm->rank, .ranks = t->comm->size, .best_metric = NAN};
    snprintf(t->ckpt, sizeof t->ckpt, "%s/%s.ckpt.h5", cfg->dir, cfg->name);
    snprintf(t->best, sizeof t->best, "%s/%s.best.h5", cfg->dir, cfg->name);
    snprintf(t->log_path, sizeof t->log_path, "%s/%s_log.tsv", cfg->dir, cfg->name);
    snprintf(t->plot, sizeof t->plot, "%s/%s_loss.svg", cfg->dir, cfg->name);
    int rc = lt_params_layout(ps);
    t->nbuckets = (ps->total + t->cfg.bucket_floats - 1) / t->cfg.bucket_floats;
    t->left = calloc((size_t)t->nbuckets + 1, sizeof *t->left);
    t->fired = calloc((size_t)t->nbuckets + 1, 1), t->ready = calloc((size_t)ps->n + 1, 1);
    if (!rc && (!t->left || !t->fired || !t->ready)) rc = lt_error(LT_ENOMEM, "trainer: out of memory");
    t->fail_rank = -1;
    const char *fail = getenv("LONGTAIL_TEST_FAIL");
    if (fail) {
        char how[16] = "";
        long long step = 0;
        if (sscanf(fail, "%d:%lld:%15s", &t->fail_rank, &step, how) < 2) t->fail_rank = -1;
        t->fail_step = step, t->fail_hang = !strcmp(how, "hang");
    }
    if (!rc && access(t->ckpt, F_OK) == 0) {
        char model[2048] = "";
        lt_train_state st = {.rank = t->comm->rank, .ranks = t->comm->size};
        rc = lt_checkpoint_load(t->ckpt, ps, 1, &st, model, sizeof model);
        if (!rc && cfg->model && strcmp(model, cfg->model))
            rc = lt_error(LT_ECONFIG, "%s holds a run of another model (%s); this run builds %s: remove it or choose "
                          "another folder", t->ckpt, model, cfg->model);
        if (!rc) t->st = st, t->resumed = 1;
        if (!rc && !cfg->quiet && t->comm->rank == 0)
            lt_info("%s: resuming from %s at step %lld", cfg->name, t->ckpt, (long long)st.step);
    }
    if (!rc && t->comm->rank == 0) { /* only rank 0 writes logs and checkpoints */
        if (t->resumed) rc = truncate_log(t->log_path, t->st.step);
        if (!rc) t->log = fopen(t->log_path, t->resumed ? "a" : "w");
        if (!rc && !t->log) rc = lt_error(LT_EIO, "%s: cannot write the log", t->log_path);
        if (!rc && !t->resumed) fprintf(t->log, "phase\tstep\tloss\tlr\tgrad_norm\tper_s\tmetric\n");
    }
    if (rc) {
        if (t->log) fclose(t->log);
        free(t->left), free(t->fired), free(t->ready), free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int save(lt_trainer *t, const lt_task *task) {
    lt_cursor c = task->tell ? task->tell(task->ctx) : (lt_cursor){0, 0};
    int64_t mine[2] = {c.epoch, c.batch}, *all = malloc(sizeof *all * (size_t)(2 * t->comm->size));
    if (!all) return lt_error(LT_ENOMEM, "trainer: out of memory");
    int rc = lt_comm_allgather_i64(t->comm, mine, 2, all);
    t->st.cursor_epoch = c.epoch, t->st.cursor_batch = c.batch;
    t->st.all_cursors = all, t->st.ranks = t->comm->size;
    if (!rc && t->comm->rank == 0) rc = lt_checkpoint_save(t->ckpt, t->ps, 1, &t->st, t->cfg.model);
    t->st.all_cursors = NULL;
    free(all);
    return rc ? rc : lt_comm_barrier(t->comm);
}

/* ---- the bucketed all-reduce --------------------------------------------------------------------- */

static lt_tensor bucket(lt_trainer *t, int64_t b) {
    lt_tensor slab = lt_params_grad_slab(t->ps);
    int64_t at = b * t->cfg.bucket_floats, n = t->ps->total - at < t->cfg.bucket_floats ? t->ps->total - at : t->cfg.bucket_floats;
    return lt_view1((float *)slab.data + at, LT_F32, slab.device, n);
}

static int fire(lt_trainer *t, int64_t b) {
    if (t->fired[b]) return 0;
    t->fired[b] = 1;
    lt_tensor v = bucket(t, b);
    return lt_comm_allreduce_start(t->comm, &v);
}

/* Buckets a parameter covers (its padding included: always zero). */
static void span(const lt_trainer *t, const lt_param *p, int64_t *b0, int64_t *b1) {
    int64_t n = lt_numel(&p->grad);
    *b0 = p->offset / t->cfg.bucket_floats, *b1 = (p->offset + (n ? n : 1) - 1) / t->cfg.bucket_floats;
}

/* lt_params_ready: a bucket fires once every parameter in it is final. */
static int on_ready(void *ctx, lt_param *p) {
    lt_trainer *t = ctx;
    int i = (int)(p - t->ps->p);
    if (i < 0 || i >= t->ps->n || t->ready[i] || p->offset < 0) return 0;
    t->ready[i] = 1;
    int64_t b0, b1;
    span(t, p, &b0, &b1);
    for (int64_t b = b0; b <= b1; b++)
        if (--t->left[b] == 0) LT_TRY(fire(t, b));
    return 0;
}

/* Before the last micro-batch's backward: count the parameters of each bucket and listen. */
static void arm(lt_trainer *t) {
    memset(t->left, 0, sizeof *t->left * (size_t)t->nbuckets);
    memset(t->fired, 0, (size_t)t->nbuckets);
    memset(t->ready, 0, (size_t)t->ps->n);
    for (int i = 0; i < t->ps->n; i++) {
        int64_t b0, b1;
        span(t, &t->ps->p[i], &b0, &b1);
        for (int64_t b = b0; b <= b1; b++) t->left[b]++;
    }
    t->ps->on_ready = on_ready, t->ps->ready_ctx = t;
}

/* After the backward: the buckets not fired yet, then wait for all of them, adding each bucket's
 * squared norm once it has landed. */
static int reduce_and_norm(lt_trainer *t, lt_tensor *sumsq) {
    t->ps->on_ready = NULL, t->ps->ready_ctx = NULL;
    LT_TRY(lt_params_sumsq(t->ps, sumsq));
    LT_TRY(lt_backend_memset0(t->be, sumsq->data, sizeof(float)));
    if (t->comm->size > 1) {
        for (int64_t b = 0; b < t->nbuckets; b++) LT_TRY(fire(t, b));
        LT_TRY(lt_comm_wait(t->comm));
    }
    for (int64_t b = 0; b < t->nbuckets; b++) {
        lt_tensor v = bucket(t, b);
        LT_TRY(lt_sumsq_acc(t->be, sumsq, &v));
    }
    return 0;
}

/* The squared norm of the last step, read back (one sync): only when logging. */
static float last_norm(lt_trainer *t, const lt_tensor *sumsq) {
    float ss = NAN;
    if (lt_backend_memcpy(t->be, &ss, LT_CPU, sumsq->data, sumsq->device, sizeof ss) < 0) return NAN;
    float scale = 1.0f / (float)(t->cfg.accum * t->comm->size);
    return scale * sqrtf(ss);
}

static void log_line(lt_trainer *t, const lt_task *task, int64_t step, double loss, float gnorm, double rate,
                     double metric, double eta) {
    if (t->comm->rank != 0) return;
    float lr = lt_optim_lr(&t->cfg.optim, step);
    if (!t->cfg.quiet) {
        char m[96] = "";
        if (!isnan(metric)) snprintf(m, sizeof m, " | %s %.4f", task->metric ? task->metric : "metric", metric);
        lt_info("%s step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.1f %s/s | ETA %.0f s%s", task->phase,
                (long long)step, (long long)task->last_step, loss, lr, gnorm, rate, task->unit ? task->unit : "ex",
                eta, m);
    }
    if (t->log) {
        fprintf(t->log, "%s\t%lld\t%.6f\t%.3e\t%.4f\t%.2f\t%.6f\n", task->phase, (long long)step, loss, lr, gnorm, rate,
                metric);
        fflush(t->log);
    }
}

/* Evaluate, keep the best weights, count evaluations without improvement. 1: patience ran out. */
static int evaluate(lt_trainer *t, const lt_task *task, int64_t step, double *metric) {
    *metric = NAN;
    if (!task->evaluate) return 0;
    /* rank 0 evaluates (the weights are the same everywhere) and tells the others: one decision */
    if (t->comm->rank == 0) LT_TRY(task->evaluate(task->ctx, step, metric));
    if (t->comm->size > 1) LT_TRY(lt_comm_broadcast(t->comm, metric, sizeof *metric, 0));
    double best = t->st.best_metric;
    int better = isnan(best) || (t->cfg.higher_is_better ? *metric > best : *metric < best);
    if (better) {
        t->st.best_metric = *metric, t->st.best_step = step, t->st.bad_evals = 0;
        if (t->comm->rank == 0) LT_TRY(lt_checkpoint_save(t->best, t->ps, 0, NULL, t->cfg.model));
    } else {
        t->st.bad_evals++;
    }
    return t->cfg.patience > 0 && t->st.bad_evals >= t->cfg.patience;
}

int lt_trainer_run(lt_trainer *t, const lt_task *task) {
    int64_t first = task->first_step > t->st.step ? task->first_step : t->st.step;
    if (first >= task->last_step) return 0;
    if (t->cfg.patience > 0 && t->st.bad_evals >= t->cfg.patience) return LT_TRAIN_EARLY;
    /* resuming in the middle of this task: its data continues from the checkpoint's cursor */
    if (t->resumed && t->st.step > task->first_step && task->seek)
        LT_TRY(task->seek(task->ctx, (lt_cursor){t->st.cursor_epoch, t->st.cursor_batch}));
    lt_step s = {.micros = (int)t->cfg.accum, .seed = t->cfg.seed, .rank = t->comm->rank, .ranks = t->comm->size,
                 .comm = t->comm};
    float grad_scale = 1.0f / (float)(t->cfg.accum * t->comm->size);
    double loss_sum = 0, t0 = lt_seconds(), t_start = t0;
    int64_t nlog = 0, examples = 0;
    for (int64_t step = first + 1; step <= task->last_step; step++) {
        s.step = step;
        LT_TRY(lt_params_zero_grad(t->ps));
        double step_loss = 0;
        for (int k = 0; k < t->cfg.accum; k++) {
            s.micro = k;
            if (k == t->cfg.accum - 1 && t->comm->size > 1) arm(t); /* gradients become final in this one */
            if (t->comm->rank == t->fail_rank && step == t->fail_step) {
                if (t->fail_hang) { /* a rank that hangs: the others must time out, not wait forever */
                    lt_warn("rank %d: LONGTAIL_TEST_FAIL: hanging at step %lld", t->comm->rank, (long long)step);
                    for (;;) sleep(1);
                }
                return lt_error(LT_EIO, "%s step %lld: LONGTAIL_TEST_FAIL: a failure injected on rank %d", task->phase,
                                (long long)step, t->comm->rank);
            }
            double loss = 0;
            int64_t n = 0;
            LT_TRY(task->micro(task->ctx, &s, &loss, &n));
            if (!isfinite(loss))
                return lt_error(LT_ERANGE, "%s step %lld: the loss is %g (lower the learning rate?)", task->phase,
                                (long long)step, loss);
            step_loss += loss / (double)t->cfg.accum, examples += n;
        }
        lt_tensor sumsq;
        LT_TRY(reduce_and_norm(t, &sumsq));
        LT_TRY(lt_optim_apply(t->ps, &t->cfg.optim, step, grad_scale, &sumsq));
        t->st.step = step;
        loss_sum += step_loss, nlog++;
        int last = step == task->last_step;
        double metric = NAN;
        int early = 0;
        if ((t->cfg.eval_every > 0 && step % t->cfg.eval_every == 0) || last) {
            int r = evaluate(t, task, step, &metric);
            if (r < 0) return r;
            early = r;
        }
        if (step % t->cfg.log_every == 0 || last || early || !isnan(metric)) {
            float gnorm = last_norm(t, &sumsq);
            if (!isfinite(gnorm)) {
                t->st.skipped_steps++;
                lt_warn("%s step %lld: the gradient is not finite; the step was skipped", task->phase, (long long)step);
            }
            double mean = loss_sum / (double)nlog;
            if (t->comm->size > 1) { /* the loss over every rank's examples, and their count */
                int64_t v[2] = {(int64_t)llround(mean * 1e9), examples};
                LT_TRY(lt_comm_sum_i64(t->comm, v, 2));
                mean = (double)v[0] * 1e-9 / (double)t->comm->size, examples = v[1];
            }
            double now = lt_seconds(), rate = (double)examples / (now - t0 > 1e-9 ? now - t0 : 1e-9);
            double eta = (now - t_start) / (double)(step - first) * (double)(task->last_step - step);
            log_line(t, task, step, mean, gnorm, rate, metric, eta);
            loss_sum = 0, nlog = 0, examples = 0, t0 = now;
        }
        int stop = t->cfg.stop_after > 0 && step >= t->cfg.stop_after;
        if (step % t->cfg.ckpt_every == 0 || last || early || stop) LT_TRY(save(t, task));
        if (early) {
            if (t->comm->rank == 0 && !t->cfg.quiet)
                lt_info("%s: stopping early at step %lld: %s has not improved for %lld evaluations (best %.4f at step "
                        "%lld)", task->phase, (long long)step, task->metric ? task->metric : "the metric",
                        (long long)t->st.bad_evals, t->st.best_metric, (long long)t->st.best_step);
            return LT_TRAIN_EARLY;
        }
        if (stop) return LT_TRAIN_STOPPED;
    }
    return 0;
}

int lt_trainer_load_best(lt_trainer *t) {
    if (access(t->best, F_OK) != 0) return 0; /* never evaluated: the weights are the last ones */
    return lt_checkpoint_load(t->best, t->ps, 0, NULL, NULL, 0);
}

/* DIR/NAME_loss.svg: the loss of every phase against the step (one colour per phase). */
static int plot(lt_trainer *t) {
    FILE *f = fopen(t->log_path, "r");
    if (!f) return 0;
    enum { MAXPH = 6 };
    char names[MAXPH][32] = {{0}}, line[1024];
    int nph = 0;
    int64_t n = 0, cap = 0;
    double(*pt)[3] = NULL, x1 = 0, y1 = 0;
    while (fgets(line, sizeof line, f)) {
        char phase[32];
        long long step;
        double loss;
        if (sscanf(line, "%31s %lld %lf", phase, &step, &loss) != 3 || !isfinite(loss)) continue;
        int ph = 0;
        while (ph < nph && strcmp(names[ph], phase)) ph++;
        if (ph == nph && nph < MAXPH) snprintf(names[nph++], sizeof names[0], "%s", phase);
        if (ph == MAXPH) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            double(*p)[3] = realloc(pt, sizeof *p * (size_t)cap);
            if (!p) break;
            pt = p;
        }
        pt[n][0] = (double)step, pt[n][1] = loss, pt[n][2] = ph, n++;
        x1 = fmax(x1, (double)step), y1 = fmax(y1, loss);
    }
    fclose(f);
    if (n < 2) return free(pt), 0;
    char title[160];
    snprintf(title, sizeof title, "longtail %s: training loss", t->cfg.name);
    lt_svg g;
    int rc = lt__svg_open(&g, t->plot, 720, 420, title, "step", "loss (mean over the logging interval)", 0, x1, 0,
                          y1 * 1.05, 0, 0);
    if (rc) return free(pt), rc;
    lt__svg_axes(&g);
    static const char *color[MAXPH] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
    for (int ph = 0; ph < nph; ph++) {
        int any = 0;
        for (int64_t i = 0; i < n; i++) {
            if ((int)pt[i][2] != ph) continue;
            if (!any) fprintf(g.f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color[ph]);
            fprintf(g.f, "%.1f,%.1f ", lt__svg_px(&g, pt[i][0]), lt__svg_py(&g, pt[i][1]));
            any = 1;
        }
        if (!any) continue;
        fputs("\"/>\n", g.f);
        lt__svg_legend(&g, ph, color[ph], names[ph]);
    }
    free(pt);
    return lt__svg_close(&g);
}

int lt_trainer_close(lt_trainer *t) {
    if (!t) return 0;
    int rc = 0;
    if (t->log) fclose(t->log);
    if (t->comm->rank == 0) rc = plot(t);
    t->ps->on_ready = NULL;
    free(t->left), free(t->fired), free(t->ready), free(t);
    return rc;
}
