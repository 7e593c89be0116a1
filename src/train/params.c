/* Parameter lists laid out in slabs, the AdamW optimizer with on-device clipping, a warm-up and
 * linear or cosine decay, row-wise updates for embedding tables, and checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/param.h"
#include "longtail/shard.h"

#define SLAB_ALIGN 64 /* floats: every parameter starts on a 256-byte boundary */

void lt_params_init(lt_params *ps, lt_backend *be) {
    memset(ps, 0, sizeof *ps);
    ps->be = be;
}

static int add(lt_params *ps, const char *name, int ndim, const int64_t *shape, int decay, int table, lt_param **out) {
    if (strlen(name) >= sizeof ps->p[0].name) return lt_error(LT_EINVAL, "parameter name too long: %s", name);
    if (lt_params_find(ps, name)) return lt_error(LT_EINVAL, "parameter %s defined twice", name);
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        lt_param *p = realloc(ps->p, sizeof *p * (size_t)cap);
        if (!p) return lt_error(LT_ENOMEM, "parameters: out of memory");
        ps->p = p, ps->cap = cap;
    }
    lt_param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->decay = decay, p->table = table, p->offset = -1; /* its own tensors until the next layout */
    LT_TRY(lt_tensor_new(&p->value, ps->be, LT_F32, ndim, shape));
    int rc = lt_tensor_new(&p->grad, ps->be, LT_F32, ndim, shape);
    if (rc) {
        lt_tensor_free(ps->be, &p->value);
        return rc;
    }
    ps->n++, ps->laid_out = 0;
    if (out) *out = p;
    return 0;
}

int lt_params_add(lt_params *ps, const char *name, int ndim, const int64_t *shape, int decay, lt_param **out) {
    return add(ps, name, ndim, shape, decay, 0, out);
}

int lt_params_add_table(lt_params *ps, const char *name, int64_t rows, int64_t cols, lt_param **out) {
    int64_t shape[2] = {rows, cols};
    if (rows < 1 || cols < 1) return lt_error(LT_EINVAL, "table %s: %lld x %lld", name, (long long)rows, (long long)cols);
    return add(ps, name, 2, shape, 0, 1, out);
}

lt_param *lt_params_find(lt_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name)) return &ps->p[i];
    return NULL;
}

/* The slab order: decayed dense parameters, then the other dense ones, then the tables. */
static int group(const lt_param *p) { return p->table ? 2 : p->decay ? 0 : 1; }

static lt_tensor view(float *base, int64_t off, const lt_tensor *like) {
    return lt_view(base + off, LT_F32, like->device, like->ndim, like->shape);
}

static int alloc_zero(lt_backend *be, float **out, int64_t n) {
    void *ptr;
    LT_TRY(lt_backend_alloc(be, &ptr, sizeof(float) * (size_t)(n ? n : 1)));
    int rc = lt_backend_memset0(be, ptr, sizeof(float) * (size_t)(n ? n : 1));
    if (rc) lt_backend_free(be, ptr);
    *out = rc ? NULL : ptr;
    return rc;
}

void lt_params_touch(lt_params *ps) { ps->version++; }

int lt_params_layout(lt_params *ps) {
    if (ps->laid_out) return 0;
    lt_params_touch(ps);
    lt_backend *be = ps->be;
    int64_t *off = malloc(sizeof *off * (size_t)(ps->n ? ps->n : 1)), total = 0, n_decay = 0, n_dense = 0;
    if (!off) return lt_error(LT_ENOMEM, "parameters: out of memory");
    for (int g = 0; g < 3; g++) {
        for (int i = 0; i < ps->n; i++) {
            if (group(&ps->p[i]) != g) continue;
            off[i] = total;
            total += (lt_numel(&ps->p[i].value) + SLAB_ALIGN - 1) / SLAB_ALIGN * SLAB_ALIGN;
        }
        if (g == 0) n_decay = total;
        if (g == 1) n_dense = total;
    }
    float *values = NULL, *grads = NULL, *moments = NULL;
    int rc = alloc_zero(be, &values, total);
    if (!rc) rc = alloc_zero(be, &grads, total);
    if (!rc && ps->moments) rc = alloc_zero(be, &moments, 2 * total); /* moments so far move along */
    for (int i = 0; i < ps->n && !rc; i++) {
        lt_param *p = &ps->p[i];
        size_t bytes = lt_nbytes(&p->value);
        rc = lt_backend_memcpy(be, values + off[i], lt_backend_device(be), p->value.data, p->value.device, bytes);
        if (!rc && moments && p->m.data) {
            rc = lt_backend_memcpy(be, moments + off[i], p->m.device, p->m.data, p->m.device, bytes);
            if (!rc) rc = lt_backend_memcpy(be, moments + total + off[i], p->v.device, p->v.data, p->v.device, bytes);
        }
    }
    if (rc) {
        lt_backend_free(be, values), lt_backend_free(be, grads), lt_backend_free(be, moments);
        free(off);
        return rc;
    }
    for (int i = 0; i < ps->n; i++) {
        lt_param *p = &ps->p[i];
        if (p->offset < 0) lt_tensor_free(be, &p->value), lt_tensor_free(be, &p->grad);
        p->offset = off[i];
        p->value = view(values, off[i], &p->value), p->grad = view(grads, off[i], &p->value);
        if (moments) p->m = view(moments, off[i], &p->value), p->v = view(moments, total + off[i], &p->value);
        else memset(&p->m, 0, sizeof p->m), memset(&p->v, 0, sizeof p->v);
    }
    if (ps->values) lt_backend_free(be, ps->values), lt_backend_free(be, ps->grads);
    if (ps->moments) lt_backend_free(be, ps->moments);
    ps->values = values, ps->grads = grads, ps->moments = moments;
    ps->total = total, ps->n_decay = n_decay, ps->n_dense = n_dense, ps->laid_out = 1;
    free(off);
    return 0;
}

void lt_params_free(lt_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        lt_param *p = &ps->p[i];
        if (p->offset < 0) lt_tensor_free(ps->be, &p->value), lt_tensor_free(ps->be, &p->grad);
        lt_tensor_free(ps->be, &p->bpow);
    }
    if (ps->values) lt_backend_free(ps->be, ps->values), lt_backend_free(ps->be, ps->grads);
    if (ps->moments) lt_backend_free(ps->be, ps->moments);
    if (ps->sumsq) lt_backend_free(ps->be, ps->sumsq);
    free(ps->p);
    lt_backend *be = ps->be;
    memset(ps, 0, sizeof *ps);
    ps->be = be;
}

int64_t lt_params_count(const lt_params *ps) {
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++) n += lt_numel(&ps->p[i].value);
    return n;
}

int lt_params_zero_grad(lt_params *ps) {
    LT_TRY(lt_params_layout(ps));
    return lt_backend_memset0(ps->be, ps->grads, sizeof(float) * (size_t)(ps->total ? ps->total : 1));
}

int lt_params_ready(lt_params *ps, lt_param *const *p, int n) {
    for (int i = 0; i < n && ps->on_ready; i++)
        if (p[i]) LT_TRY(ps->on_ready(ps->ready_ctx, p[i]));
    return 0;
}

lt_tensor lt_params_grad_slab(const lt_params *ps) {
    return lt_view1(ps->grads, LT_F32, lt_backend_device(ps->be), ps->total);
}

int lt_params_sumsq(lt_params *ps, lt_tensor *acc) {
    if (!ps->sumsq) LT_TRY(alloc_zero(ps->be, &ps->sumsq, 1));
    *acc = lt_view1(ps->sumsq, LT_F32, lt_backend_device(ps->be), 1);
    return 0;
}

/* The moment slabs and the tables' row powers (1 = no update yet), on first need. */
static int ensure_moments(lt_params *ps) {
    LT_TRY(lt_params_layout(ps));
    if (!ps->moments) {
        LT_TRY(alloc_zero(ps->be, &ps->moments, 2 * ps->total));
        for (int i = 0; i < ps->n; i++) {
            lt_param *p = &ps->p[i];
            p->m = view(ps->moments, p->offset, &p->value), p->v = view(ps->moments, ps->total + p->offset, &p->value);
        }
    }
    for (int i = 0; i < ps->n; i++) {
        lt_param *p = &ps->p[i];
        if (!p->table || p->bpow.data) continue;
        int64_t shape[2] = {p->value.shape[0], 2};
        LT_TRY(lt_tensor_new(&p->bpow, ps->be, LT_F32, 2, shape));
        LT_TRY(lt_fill(ps->be, &p->bpow, 1.0f));
    }
    return 0;
}

static int upload(lt_params *ps, lt_param *p, const float *h) {
    lt_tensor host = lt_view((void *)h, LT_F32, LT_CPU, p->value.ndim, p->value.shape);
    lt_params_touch(ps);
    return lt_tensor_copy(ps->be, &p->value, &host);
}

/* Draw n host values with f, then copy them into the parameter. */
static int init_with(lt_params *ps, lt_param *p, lt_rng *r, float a, float (*f)(lt_rng *, float)) {
    int64_t n = lt_numel(&p->value);
    float *h = malloc(sizeof *h * (size_t)(n ? n : 1));
    if (!h) return lt_error(LT_ENOMEM, "init %s: out of memory", p->name);
    for (int64_t i = 0; i < n; i++) h[i] = f(r, a);
    int rc = upload(ps, p, h);
    free(h);
    return rc;
}
static float draw_normal(lt_rng *r, float std) { return std * lt_rng_next_normal(r); }
static float draw_uniform(lt_rng *r, float a) { return a * (2.0f * lt_rng_next_uniform(r) - 1.0f); }

int lt_param_init_normal(lt_params *ps, lt_param *p, lt_rng *r, float std) { return init_with(ps, p, r, std, draw_normal); }
int lt_param_init_uniform(lt_params *ps, lt_param *p, lt_rng *r, float a) { return init_with(ps, p, r, a, draw_uniform); }
int lt_param_init_const(lt_params *ps, lt_param *p, float value) {
    lt_params_touch(ps);
    return lt_fill(ps->be, &p->value, value);
}

/* ---- optimisation ------------------------------------------------------------------------------- */

void lt_optim_cfg_init(lt_optim_cfg *c) {
    *c = (lt_optim_cfg){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                        .max_grad_norm = 1.0f};
}

float lt_optim_lr(const lt_optim_cfg *c, int64_t step) {
    if (c->warmup_steps > 0 && step <= c->warmup_steps) return c->lr * (float)step / (float)c->warmup_steps;
    if (c->schedule == LT_SCHED_CONSTANT || c->total_steps <= c->warmup_steps || c->total_steps <= 0) return c->lr;
    double done = (double)(step - c->warmup_steps) / (double)(c->total_steps - c->warmup_steps);
    if (done > 1) done = 1;
    double f = c->schedule == LT_SCHED_COSINE ? 0.5 * (1.0 + cos(3.14159265358979323846 * done)) : 1.0 - done;
    return c->lr * (float)(c->final_lr + (1.0 - c->final_lr) * f);
}

int lt_optim_apply(lt_params *ps, const lt_optim_cfg *c, int64_t step, float grad_scale, const lt_tensor *sumsq) {
    LT_TRY(ensure_moments(ps));
    lt_params_touch(ps);
    lt_adamw_cfg a = {.lr = lt_optim_lr(c, step), .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps};
    lt_device dev = lt_backend_device(ps->be);
    /* the dense parts: one call for the decayed run of the slab, one for the rest */
    int64_t run[2][2] = {{0, ps->n_decay}, {ps->n_decay, ps->n_dense}};
    for (int k = 0; k < 2; k++) {
        int64_t n = run[k][1] - run[k][0];
        if (n <= 0) continue;
        lt_tensor p = lt_view1(ps->values + run[k][0], LT_F32, dev, n), g = lt_view1(ps->grads + run[k][0], LT_F32, dev, n);
        lt_tensor m = lt_view1(ps->moments + run[k][0], LT_F32, dev, n);
        lt_tensor v = lt_view1(ps->moments + ps->total + run[k][0], LT_F32, dev, n);
        a.weight_decay = k == 0 ? c->weight_decay : 0.0f;
        LT_TRY(lt_adamw_clipped(ps->be, &p, &g, &m, &v, &a, step, grad_scale, sumsq, c->max_grad_norm));
    }
    a.weight_decay = c->table_decay;
    for (int i = 0; i < ps->n; i++) {
        lt_param *p = &ps->p[i];
        if (p->table) LT_TRY(lt_adamw_rows(ps->be, &p->value, &p->grad, &p->m, &p->v, &p->bpow, &a, grad_scale, sumsq,
                                           c->max_grad_norm));
    }
    return 0;
}

int lt_optim_step(lt_params *ps, const lt_optim_cfg *c, int64_t step, float *grad_norm) {
    lt_tensor acc;
    LT_TRY(lt_params_layout(ps));
    LT_TRY(lt_params_sumsq(ps, &acc));
    lt_tensor g = lt_params_grad_slab(ps);
    float ss = 0;
    LT_TRY(lt_backend_memset0(ps->be, ps->sumsq, sizeof(float)));
    LT_TRY(lt_sumsq_acc(ps->be, &acc, &g));
    LT_TRY(lt_backend_memcpy(ps->be, &ss, LT_CPU, ps->sumsq, lt_backend_device(ps->be), sizeof ss));
    if (grad_norm) *grad_norm = sqrtf(ss);
    if (!isfinite(ss)) return lt_error(LT_ERANGE, "step %lld: the gradient norm is %g", (long long)step, sqrtf(ss));
    return lt_optim_apply(ps, c, step, 1.0f, &acc);
}

/* ---- checkpoints ---------------------------------------------------------------------------------- */

/* A device tensor to a host buffer (malloc'd). */
static float *to_host(lt_backend *be, const lt_tensor *t) {
    float *h = malloc(lt_nbytes(t) ? lt_nbytes(t) : 1);
    lt_tensor host = lt_view(h, t->dtype, LT_CPU, t->ndim, t->shape);
    if (h && lt_tensor_copy(be, &host, t) < 0) free(h), h = NULL;
    return h;
}

static int write_tensor(lt_shard *s, lt_backend *be, const char *name, const lt_tensor *t) {
    float *h = to_host(be, t);
    if (!h) return lt_error(LT_ENOMEM, "checkpoint: cannot read %s", name);
    int rc = lt_shard_write(s, name, LT_F32, t->ndim, t->shape, h);
    free(h);
    return rc;
}

int lt_checkpoint_save(const char *path, const lt_params *ps, int with_moments, const lt_train_state *st,
                       const char *model) {
    lt_shard *s;
    LT_TRY(lt_shard_create(&s, path, "checkpoint", 1));
    int rc = 0;
    char name[256];
    for (int i = 0; i < ps->n && !rc; i++) {
        const lt_param *p = &ps->p[i];
        snprintf(name, sizeof name, "params/%s", p->name);
        rc = write_tensor(s, ps->be, name, &p->value);
        if (!rc && with_moments && p->m.data) {
            snprintf(name, sizeof name, "moments/%s/m", p->name);
            rc = write_tensor(s, ps->be, name, &p->m);
            snprintf(name, sizeof name, "moments/%s/v", p->name);
            if (!rc) rc = write_tensor(s, ps->be, name, &p->v);
            snprintf(name, sizeof name, "moments/%s/bpow", p->name);
            if (!rc && p->bpow.data) rc = write_tensor(s, ps->be, name, &p->bpow);
        }
    }
    lt_train_state zero = {.best_metric = NAN};
    if (!st) st = &zero;
    int ranks = st->all_cursors && st->ranks > 1 ? st->ranks : 1;
    int64_t own[2] = {st->cursor_epoch, st->cursor_batch}, shape[2] = {ranks, 2};
    if (!rc) rc = lt_shard_write(s, "cursors", LT_I64, 2, shape, st->all_cursors && st->ranks > 1 ? st->all_cursors : own);
    const char *keys[] = {"step", "rng_seed", "rng_stream", "rng_pos", "cursor_epoch", "cursor_batch", "ranks",
                          "best_step", "bad_evals", "skipped_steps"};
    int64_t vals[] = {st->step, (int64_t)st->rng_seed, (int64_t)st->rng_stream, (int64_t)st->rng_pos,
                      st->cursor_epoch, st->cursor_batch, ranks, st->best_step, st->bad_evals, st->skipped_steps};
    for (size_t k = 0; k < sizeof keys / sizeof *keys && !rc; k++) rc = lt_shard_set_attr_i64(s, "", keys[k], vals[k]);
    if (!rc) rc = lt_shard_set_attr_f64(s, "", "best_metric", st->best_metric);
    if (!rc) rc = lt_shard_set_attr_str(s, "", "model", model ? model : "");
    if (rc) {
        lt_shard_abort(s);
        return rc;
    }
    return lt_shard_commit(s);
}

static int read_tensor(lt_shard *s, lt_backend *be, const char *name, lt_tensor *t) {
    lt_dtype dt;
    int nd;
    int64_t shape[LT_MAX_DIMS] = {0};
    LT_TRY(lt_shard_shape(s, name, &dt, &nd, shape));
    int same = nd == t->ndim;
    for (int i = 0; same && i < nd; i++) same = shape[i] == t->shape[i];
    if (!same || dt != LT_F32) {
        char a[96];
        lt_tensor stored = lt_view(NULL, dt, LT_CPU, nd, shape);
        return lt_error(LT_ESHAPE, "%s: %s is %s in the checkpoint, the model expects %s", lt_shard_path(s), name,
                        lt_tensor_str(&stored, a, sizeof a), lt_tensor_str(t, (char[96]){0}, 96));
    }
    float *h = malloc(lt_nbytes(t) ? lt_nbytes(t) : 1);
    if (!h) return lt_error(LT_ENOMEM, "checkpoint: out of memory");
    int rc = lt_shard_read(s, name, LT_F32, h, lt_nbytes(t));
    lt_tensor host = lt_view(h, LT_F32, LT_CPU, t->ndim, t->shape);
    if (!rc) rc = lt_tensor_copy(be, t, &host);
    free(h);
    return rc;
}

/* An attribute that older checkpoints lack: the default when absent. */
static int optional_i64(lt_shard *s, const char *key, int64_t def, int64_t *v) {
    int rc = lt_shard_attr_i64(s, "", key, v);
    if (rc == LT_ENOENT) lt_clear_error(), *v = def, rc = 0;
    return rc;
}

int lt_checkpoint_load(const char *path, lt_params *ps, int with_moments, lt_train_state *st, char *model,
                       size_t model_cap) {
    LT_TRY(lt_params_layout(ps));
    lt_shard *s;
    LT_TRY(lt_shard_open(&s, path, "checkpoint", 1));
    int rc = 0;
    char name[256];
    lt_params_touch(ps);
    for (int i = 0; i < ps->n && !rc; i++) {
        lt_param *p = &ps->p[i];
        snprintf(name, sizeof name, "params/%s", p->name);
        rc = read_tensor(s, ps->be, name, &p->value);
        snprintf(name, sizeof name, "moments/%s/m", p->name);
        if (!rc && with_moments && lt_shard_has(s, name) == 1) {
            rc = ensure_moments(ps);
            if (!rc) rc = read_tensor(s, ps->be, name, &p->m);
            snprintf(name, sizeof name, "moments/%s/v", p->name);
            if (!rc) rc = read_tensor(s, ps->be, name, &p->v);
            snprintf(name, sizeof name, "moments/%s/bpow", p->name);
            if (!rc && p->table && lt_shard_has(s, name) == 1) rc = read_tensor(s, ps->be, name, &p->bpow);
        }
    }
    if (st && !rc) {
        int rank = st->rank, want = st->ranks > 0 ? st->ranks : 1;
        const char *keys[] = {"step", "rng_seed", "rng_stream", "rng_pos", "cursor_epoch", "cursor_batch"};
        int64_t v[6] = {0}, ranks = 1, best_step = 0, bad = 0, skipped = 0;
        for (int k = 0; k < 6 && !rc; k++) rc = lt_shard_attr_i64(s, "", keys[k], &v[k]);
        if (!rc) rc = optional_i64(s, "ranks", 1, &ranks);
        if (!rc) rc = optional_i64(s, "best_step", 0, &best_step);
        if (!rc) rc = optional_i64(s, "bad_evals", 0, &bad);
        if (!rc) rc = optional_i64(s, "skipped_steps", 0, &skipped);
        double best = NAN;
        if (!rc && (rc = lt_shard_attr_f64(s, "", "best_metric", &best)) == LT_ENOENT) lt_clear_error(), best = NAN, rc = 0;
        if (!rc && ranks != want)
            rc = lt_error(LT_ECONFIG, "%s was written by %lld ranks; resume it with as many (this run has %d)", path,
                          (long long)ranks, want);
        if (!rc && ranks > 1) { /* this rank's own data position */
            int64_t *cur = malloc(sizeof *cur * (size_t)(2 * ranks));
            rc = cur ? lt_shard_read(s, "cursors", LT_I64, cur, sizeof *cur * (size_t)(2 * ranks))
                     : lt_error(LT_ENOMEM, "checkpoint: out of memory");
            if (!rc) v[4] = cur[2 * rank], v[5] = cur[2 * rank + 1];
            free(cur);
        }
        if (!rc)
            *st = (lt_train_state){.step = v[0], .rng_seed = (uint64_t)v[1], .rng_stream = (uint64_t)v[2],
                                   .rng_pos = (uint64_t)v[3], .cursor_epoch = v[4], .cursor_batch = v[5],
                                   .rank = rank, .ranks = (int)ranks, .best_metric = best, .best_step = best_step,
                                   .bad_evals = bad, .skipped_steps = skipped};
    }
    if (model && !rc) rc = lt_shard_attr_str(s, "", "model", model, model_cap);
    lt_shard_close(s);
    return rc;
}
