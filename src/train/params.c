/* Parameter lists, the AdamW optimizer with clipping and a warm-up/decay schedule, checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/param.h"
#include "longtail/shard.h"

void lt_params_init(lt_params *ps, lt_backend *be) {
    memset(ps, 0, sizeof *ps);
    ps->be = be;
}

int lt_params_add(lt_params *ps, const char *name, int ndim, const int64_t *shape, int decay, lt_param **out) {
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
    p->decay = decay;
    LT_TRY(lt_tensor_new(&p->value, ps->be, LT_F32, ndim, shape));
    int rc = lt_tensor_new(&p->grad, ps->be, LT_F32, ndim, shape);
    if (rc) {
        lt_tensor_free(ps->be, &p->value);
        return rc;
    }
    ps->n++;
    if (out) *out = p;
    return 0;
}

lt_param *lt_params_find(lt_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name)) return &ps->p[i];
    return NULL;
}

void lt_params_free(lt_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        lt_param *p = &ps->p[i];
        lt_tensor_free(ps->be, &p->value), lt_tensor_free(ps->be, &p->grad);
        lt_tensor_free(ps->be, &p->m), lt_tensor_free(ps->be, &p->v);
    }
    free(ps->p);
    ps->p = NULL, ps->n = ps->cap = 0;
}

int64_t lt_params_count(const lt_params *ps) {
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++) n += lt_numel(&ps->p[i].value);
    return n;
}

int lt_params_zero_grad(lt_params *ps) {
    for (int i = 0; i < ps->n; i++) LT_TRY(lt_backend_memset0(ps->be, ps->p[i].grad.data, lt_nbytes(&ps->p[i].grad)));
    return 0;
}

static int upload(lt_params *ps, lt_param *p, const float *h) {
    lt_tensor host = lt_view(( void *)h, LT_F32, LT_CPU, p->value.ndim, p->value.shape);
    return lt_tensor_copy(ps->be, &p->value, &host);
}

int lt_param_init_normal(lt_params *ps, lt_param *p, lt_rng *r, float std) {
    int64_t n = lt_numel(&p->value);
    float *h = malloc(sizeof *h * (size_t)(n ? n : 1));
    if (!h) return lt_error(LT_ENOMEM, "init %s: out of memory", p->name);
    for (int64_t i = 0; i < n; i++) h[i] = std * lt_rng_next_normal(r);
    int rc = upload(ps, p, h);
    free(h);
    return rc;
}

int lt_param_init_const(lt_params *ps, lt_param *p, float value) { return lt_fill(ps->be, &p->value, value); }

void lt_optim_cfg_init(lt_optim_cfg *c) {
    *c = (lt_optim_cfg){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                        .max_grad_norm = 1.0f};
}

float lt_optim_lr(const lt_optim_cfg *c, int64_t step) {
    if (c->warmup_steps > 0 && step <= c->warmup_steps) return c->lr * (float)step / (float)c->warmup_steps;
    if (c->total_steps <= c->warmup_steps || c->total_steps <= 0) return c->lr;
    double left = (double)(c->total_steps - step) / (double)(c->total_steps - c->warmup_steps);
    return c->lr * (float)(left > 0 ? left : 0);
}

int lt_optim_step(lt_params *ps, const lt_optim_cfg *c, int64_t step, float *grad_norm) {
    lt_tensor *grads = malloc(sizeof *grads * (size_t)(ps->n ? ps->n : 1));
    if (!grads) return lt_error(LT_ENOMEM, "optimizer: out of memory");
    for (int i = 0; i < ps->n; i++) grads[i] = ps->p[i].grad;
    float norm, scale;
    int rc = lt_clip_scale(ps->be, grads, ps->n, c->max_grad_norm, &norm, &scale);
    free(grads);
    if (grad_norm) *grad_norm = norm;
    if (rc) return lt_error_wrap(rc, "step %lld: ", (long long)step);
    lt_adamw_cfg a = {.lr = lt_optim_lr(c, step), .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps};
    for (int i = 0; i < ps->n; i++) {
        lt_param *p = &ps->p[i];
        if (!p->m.data) {
            LT_TRY(lt_tensor_new(&p->m, ps->be, LT_F32, p->value.ndim, p->value.shape));
            LT_TRY(lt_tensor_new(&p->v, ps->be, LT_F32, p->value.ndim, p->value.shape));
        }
        a.weight_decay = p->decay ? c->weight_decay : 0.0f;
        LT_TRY(lt_adamw(ps->be, &p->value, &p->grad, &p->m, &p->v, &a, step, scale));
    }
    return 0;
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
        }
    }
    lt_train_state zero = {0};
    if (!st) st = &zero;
    const char *keys[] = {"step", "rng_seed", "rng_stream", "rng_pos", "cursor_epoch", "cursor_batch"};
    int64_t vals[] = {st->step, (int64_t)st->rng_seed, (int64_t)st->rng_stream, (int64_t)st->rng_pos,
                      st->cursor_epoch, st->cursor_batch};
    for (int k = 0; k < 6 && !rc; k++) rc = lt_shard_set_attr_i64(s, "", keys[k], vals[k]);
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

int lt_checkpoint_load(const char *path, lt_params *ps, int with_moments, lt_train_state *st, char *model,
                       size_t model_cap) {
    lt_shard *s;
    LT_TRY(lt_shard_open(&s, path, "checkpoint", 1));
    int rc = 0;
    char name[256];
    for (int i = 0; i < ps->n && !rc; i++) {
        lt_param *p = &ps->p[i];
        snprintf(name, sizeof name, "params/%s", p->name);
        rc = read_tensor(s, ps->be, name, &p->value);
        snprintf(name, sizeof name, "moments/%s/m", p->name);
        if (!rc && with_moments && lt_shard_has(s, name) == 1) {
            if (!p->m.data) {
                rc = lt_tensor_new(&p->m, ps->be, LT_F32, p->value.ndim, p->value.shape);
                if (!rc) rc = lt_tensor_new(&p->v, ps->be, LT_F32, p->value.ndim, p->value.shape);
            }
            if (!rc) rc = read_tensor(s, ps->be, name, &p->m);
            snprintf(name, sizeof name, "moments/%s/v", p->name);
            if (!rc) rc = read_tensor(s, ps->be, name, &p->v);
        }
    }
    if (st && !rc) {
        const char *keys[] = {"step", "rng_seed", "rng_stream", "rng_pos", "cursor_epoch", "cursor_batch"};
        int64_t v[6] = {0};
        for (int k = 0; k < 6 && !rc; k++) rc = lt_shard_attr_i64(s, "", keys[k], &v[k]);
        *st = (lt_train_state){v[0], (uint64_t)v[1], (uint64_t)v[2], (uint64_t)v[3], v[4], v[5]};
    }
    if (model && !rc) rc = lt_shard_attr_str(s, "", "model", model, model_cap);
    lt_shard_close(s);
    return rc;
}
