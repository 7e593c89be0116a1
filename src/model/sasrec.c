/* The causal self-attention tower (include/longtail/sasrec.h) on the op table. N = B T rows, d wide,
 * F the FFN width; per block l (input h_l, output h_{l+1}), what the forward keeps for backward:
 *
 *   a1 = LN1(h_l)                      a1[N, d], mean1, rstd1 [N]
 *   qkv = a1 Wqkv^T + bqkv             qkv[N, 3d]  ([B, T, 3, H, D], what attention reads)
 *   att, lse = causal attention(qkv)   att[N, d], lse[B, H, T]
 *   h1 = h_l + drop(att Wo^T + bo)     h1[N, d]  (the residual sum of the fused residual + LayerNorm)
 *   a2 = LN2(h1)                       a2[N, d], mean2, rstd2
 *   g = drop(gelu(a2 W1^T + b1))       pre[N, F] (before the bias), g[N, F] (after dropout)
 *   h_{l+1} = h1 + drop(g W2^T + b2)
 *
 * Backward carries G = dL/dh (the residual stream's gradient) down the blocks:
 *   D = drop'(G);  db2 += colsum D;  dW2 += D^T g;  dg = D W2;  dpre = gelu'(drop'(dg));  db1, dW1;
 *   da2 = dpre W1;  G += LN2'(da2)                                   (G is now dL/dh1)
 *   D = drop'(G);  dbo, dWo += D^T att;  datt = D Wo;  dqkv = attention'(datt);  dbqkv, dWqkv;
 *   da1 = dqkv Wqkv;  G += LN1'(da1)                                 (G is now dL/dh_l) */
#include "longtail/sasrec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"

enum { LN1_W, LN1_B, QKV_W, QKV_B, O_W, O_B, LN2_W, LN2_B, F1_W, F1_B, F2_W, F2_B, NW };
static const char *w_names[NW] = {"ln1.weight",        "ln1.bias",       "attn.in_proj_weight",
                                  "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
                                  "ln2.weight",        "ln2.bias",       "ffn.0.weight",
                                  "ffn.0.bias",        "ffn.2.weight",   "ffn.2.bias"};

typedef struct {
    lt_tensor a1, mean1, rstd1, qkv, att, lse, h1, a2, mean2, rstd2, pre, g, out;
} block_acts;

struct lt_causal_tower {
    lt_backend *be;
    lt_params *ps;
    lt_causal_config cfg;
    int (*idx)[NW]; /* per block: indices into ps (lt_params_add may move the array) */
    int pos, lnf_w, lnf_b;

    /* reserve */
    int64_t max_b, max_t;
    int training;
    lt_tensor h0, out, meanf, rstdf, lens_dev;
    block_acts *acts;
    lt_tensor G, D, T1, dqkv, F1, F2; /* backward */
    int32_t *lens;

    /* the last forward */
    int64_t B, T;
    int train, ran;
    uint64_t seed, step;
    lt_tensor v_out;
};

static lt_param *P(const lt_causal_tower *m, int i) { return &m->ps->p[i]; }
static lt_tensor *W(const lt_causal_tower *m, int64_t l, int k) { return &P(m, m->idx[l][k])->value; }
static lt_tensor *dW(const lt_causal_tower *m, int64_t l, int k) { return &P(m, m->idx[l][k])->grad; }
static int64_t ffn_of(const lt_causal_config *c) { return c->ffn > 0 ? c->ffn : c->dim; }
static float eps_of(const lt_causal_config *c) { return c->ln_eps > 0 ? c->ln_eps : 1e-5f; }

int lt_causal_config_check(const lt_causal_config *c) {
    if (c->dim < 1) return lt_error(LT_ECONFIG, "causal tower: dim = %lld must be >= 1", (long long)c->dim);
    if (c->heads < 1 || c->dim % c->heads)
        return lt_error(LT_ECONFIG, "causal tower: heads = %lld must divide dim = %lld", (long long)c->heads,
                        (long long)c->dim);
    if (c->layers < 1) return lt_error(LT_ECONFIG, "causal tower: layers = %lld must be >= 1", (long long)c->layers);
    if (c->ffn < 0) return lt_error(LT_ECONFIG, "causal tower: ffn = %lld must be >= 0", (long long)c->ffn);
    if (c->max_len < 1) return lt_error(LT_ECONFIG, "causal tower: max_len = %lld must be >= 1", (long long)c->max_len);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return lt_error(LT_ECONFIG, "causal tower: dropout = %g must be in [0, 1)", c->dropout);
    if (!(c->ln_eps >= 0)) return lt_error(LT_ECONFIG, "causal tower: ln_eps = %g must be >= 0", c->ln_eps);
    return 0;
}

const lt_causal_config *lt_causal_tower_config(const lt_causal_tower *m) { return &m->cfg; }

static int add_param(lt_causal_tower *m, const char *prefix, const char *name, int ndim, int64_t d0, int64_t d1,
                     int decay, int *index) {
    char full[256];
    int len = snprintf(full, sizeof full, "%s%s", prefix, name);
    if (len < 0 || (size_t)len >= sizeof full)
        return lt_error(LT_EINVAL, "causal tower: parameter name %s%s too long", prefix, name);
    int64_t shape[2] = {d0, d1};
    LT_TRY(lt_params_add(m->ps, full, ndim, shape, decay, NULL));
    *index = m->ps->n - 1;
    return 0;
}

int lt_causal_tower_create(lt_causal_tower **out, lt_params *ps, const char *prefix, const lt_causal_config *cfg,
                           lt_rng *rng) {
    *out = NULL;
    if (!ps || !cfg || !rng) return lt_error(LT_EINVAL, "causal tower: NULL argument");
    LT_TRY(lt_causal_config_check(cfg));
    if (!prefix) prefix = "";
    lt_causal_tower *m = calloc(1, sizeof *m);
    if (!m || !(m->idx = calloc((size_t)cfg->layers, sizeof *m->idx))) {
        free(m);
        return lt_error(LT_ENOMEM, "causal tower: out of memory");
    }
    m->be = ps->be, m->ps = ps, m->cfg = *cfg;
    int64_t d = cfg->dim, F = ffn_of(cfg);
    int rc = add_param(m, prefix, "pos.weight", 2, cfg->max_len, d, 0, &m->pos);
    /* shapes [d0, d1] (d1 = 0: a vector) and whether weight decay applies */
    const int64_t d0[NW] = {d, d, 3 * d, 3 * d, d, d, d, d, F, F, d, d}, d1[NW] = {0, 0, d, 0, d, 0, 0, 0, d, 0, F, 0};
    for (int64_t l = 0; l < cfg->layers && !rc; l++)
        for (int k = 0; k < NW && !rc; k++) {
            char name[96];
            snprintf(name, sizeof name, "layers.%lld.%s", (long long)l, w_names[k]);
            rc = add_param(m, prefix, name, d1[k] ? 2 : 1, d0[k], d1[k], d1[k] != 0, &m->idx[l][k]);
        }
    if (!rc) rc = add_param(m, prefix, "ln_f.weight", 1, d, 0, 0, &m->lnf_w);
    if (!rc) rc = add_param(m, prefix, "ln_f.bias", 1, d, 0, 0, &m->lnf_b);
    /* init: after every add, so the lt_param pointers are current */
    if (!rc) rc = lt_param_init_normal(ps, P(m, m->pos), rng, 0.02f);
    for (int64_t l = 0; l < cfg->layers && !rc; l++)
        for (int k = 0; k < NW && !rc; k++) {
            lt_param *p = P(m, m->idx[l][k]);
            if (k == LN1_W || k == LN2_W) rc = lt_param_init_const(ps, p, 1.0f);
            else if (d1[k]) rc = lt_param_init_uniform(ps, p, rng, 1.0f / sqrtf((float)d1[k]));
            else rc = lt_param_init_const(ps, p, 0.0f);
        }
    if (!rc) rc = lt_param_init_const(ps, P(m, m->lnf_w), 1.0f);
    if (!rc) rc = lt_param_init_const(ps, P(m, m->lnf_b), 0.0f);
    if (rc) {
        lt_causal_tower_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static void free_t(lt_causal_tower *m, lt_tensor *t) {
    if (t->data) lt_tensor_free(m->be, t);
    memset(t, 0, sizeof *t);
}

static void release(lt_causal_tower *m) {
    if (m->acts)
        for (int64_t l = 0; l < m->cfg.layers; l++) {
            block_acts *a = &m->acts[l];
            lt_tensor *ts[] = {&a->a1, &a->mean1, &a->rstd1, &a->qkv, &a->att, &a->lse, &a->h1,
                               &a->a2, &a->mean2, &a->rstd2, &a->pre, &a->g,   &a->out};
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) free_t(m, ts[i]);
        }
    free(m->acts), free(m->lens);
    m->acts = NULL, m->lens = NULL;
    lt_tensor *ts[] = {&m->h0, &m->out, &m->meanf, &m->rstdf, &m->lens_dev, &m->G, &m->D, &m->T1, &m->dqkv, &m->F1, &m->F2};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) free_t(m, ts[i]);
    m->max_b = m->max_t = 0, m->ran = 0;
}

void lt_causal_tower_free(lt_causal_tower *m) {
    if (!m) return;
    release(m);
    free(m->idx);
    free(m);
}

static int new1(lt_causal_tower *m, lt_tensor *t, lt_dtype dt, int64_t n) { return lt_tensor_new(t, m->be, dt, 1, &n); }

int lt_causal_tower_reserve(lt_causal_tower *m, int64_t max_batch, int64_t max_len, int training) {
    const lt_causal_config *c = &m->cfg;
    if (max_batch < 1 || max_len < 1 || max_len > c->max_len)
        return lt_error(LT_EINVAL, "causal tower: reserve %lld x %lld: sizes must be >= 1 and max_len <= %lld",
                        (long long)max_batch, (long long)max_len, (long long)c->max_len);
    release(m);
    int64_t N = max_batch * max_len, d = c->dim, F = ffn_of(c), H = c->heads;
    m->max_b = max_batch, m->max_t = max_len, m->training = training != 0;
    m->acts = calloc((size_t)c->layers, sizeof *m->acts), m->lens = calloc((size_t)max_batch, sizeof *m->lens);
    int rc = m->acts && m->lens ? 0 : lt_error(LT_ENOMEM, "causal tower: out of memory");
    for (int64_t l = 0; l < c->layers && !rc; l++) {
        block_acts *a = &m->acts[l];
        struct {
            lt_tensor *t;
            int64_t n;
        } bufs[] = {{&a->a1, N * d}, {&a->mean1, N},  {&a->rstd1, N},  {&a->qkv, N * 3 * d}, {&a->att, N * d},
                    {&a->lse, N * H}, {&a->h1, N * d}, {&a->a2, N * d}, {&a->mean2, N},       {&a->rstd2, N},
                    {&a->pre, N * F}, {&a->g, N * F},  {&a->out, N * d}};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && !rc; i++) rc = new1(m, bufs[i].t, LT_F32, bufs[i].n);
    }
    if (!rc) rc = new1(m, &m->h0, LT_F32, N * d);
    if (!rc) rc = new1(m, &m->out, LT_F32, N * d);
    if (!rc) rc = new1(m, &m->meanf, LT_F32, N);
    if (!rc) rc = new1(m, &m->rstdf, LT_F32, N);
    if (!rc) rc = new1(m, &m->lens_dev, LT_I32, max_batch);
    if (training) {
        lt_tensor *nd[] = {&m->G, &m->D, &m->T1};
        for (int i = 0; i < 3 && !rc; i++) rc = new1(m, nd[i], LT_F32, N * d);
        if (!rc) rc = new1(m, &m->dqkv, LT_F32, N * 3 * d);
        if (!rc) rc = new1(m, &m->F1, LT_F32, N * F);
        if (!rc) rc = new1(m, &m->F2, LT_F32, N * F);
    }
    if (rc) release(m);
    return rc;
}

/* [rows, cols] view of the start of a buffer */
static lt_tensor v2(const lt_tensor *buf, int64_t rows, int64_t cols) {
    return lt_view2(buf->data, LT_F32, buf->device, rows, cols);
}
static lt_tensor v1(const lt_tensor *buf, int64_t n) { return lt_view1(buf->data, buf->dtype, buf->device, n); }

static int dropping(const lt_causal_tower *m) { return m->train && m->cfg.dropout > 0; }
static uint64_t stream(const lt_causal_tower *m, int site) { return m->step << 16 | (uint64_t)site; }
static int site_attn(int64_t l) { return (int)(1 + 3 * l); }
static int site_hidden(int64_t l) { return (int)(2 + 3 * l); }
static int site_ffn(int64_t l) { return (int)(3 + 3 * l); }

/* in place */
static int drop_fwd(lt_causal_tower *m, lt_tensor *x, int site) {
    if (!dropping(m)) return 0;
    return lt_dropout_fwd(m->be, x, x, m->cfg.dropout, m->seed, stream(m, site));
}
/* The gradient through dropout of g: g itself when no dropout ran, else tmp = drop'(g). */
static int drop_bwd(lt_causal_tower *m, lt_tensor *tmp, const lt_tensor *g, int site, const lt_tensor **res) {
    *res = g;
    if (!dropping(m)) return 0;
    LT_TRY(lt_fill(m->be, tmp, 0.0f));
    LT_TRY(lt_dropout_bwd(m->be, tmp, g, m->cfg.dropout, m->seed, stream(m, site)));
    *res = tmp;
    return 0;
}

/* Rows t >= lens[b] of x[B T, C] = 0: one fill per padded sequence (its padded rows are contiguous). */
static int zero_padding(lt_causal_tower *m, lt_tensor *x, int64_t C) {
    for (int64_t b = 0; b < m->B; b++) {
        int64_t L = m->lens[b];
        if (L >= m->T) continue;
        lt_tensor r = lt_view2((float *)x->data + (b * m->T + L) * C, LT_F32, x->device, m->T - L, C);
        LT_TRY(lt_fill(m->be, &r, 0.0f));
    }
    return 0;
}

static float attn_scale(const lt_causal_config *c) { return 1.0f / sqrtf((float)(c->dim / c->heads)); }

static int block_fwd(lt_causal_tower *m, int64_t l, const lt_tensor *h) {
    const lt_causal_config *c = &m->cfg;
    block_acts *a = &m->acts[l];
    int64_t B = m->B, T = m->T, N = B * T, d = c->dim, F = ffn_of(c), H = c->heads;
    float eps = eps_of(c);
    lt_tensor hv = v2(h, N, d), a1 = v2(&a->a1, N, d), m1 = v1(&a->mean1, N), r1 = v1(&a->rstd1, N);
    LT_TRY(lt_layernorm_fwd(m->be, &a1, &m1, &r1, &hv, W(m, l, LN1_W), W(m, l, LN1_B), eps));
    lt_tensor qkv = v2(&a->qkv, N, 3 * d);
    LT_TRY(lt_matmul(m->be, &qkv, &a1, 0, W(m, l, QKV_W), 1, 1.0f, 0.0f));
    LT_TRY(lt_bias_add(m->be, &qkv, W(m, l, QKV_B)));
    lt_tensor qkv3 = lt_view3(a->qkv.data, LT_F32, a->qkv.device, B, T, 3 * d);
    lt_tensor att3 = lt_view3(a->att.data, LT_F32, a->att.device, B, T, d);
    lt_tensor lse = lt_view3(a->lse.data, LT_F32, a->lse.device, B, H, T), lens = v1(&m->lens_dev, B);
    LT_TRY(lt_attention_causal_fwd(m->be, &att3, &lse, &qkv3, &lens, (int)H, attn_scale(c)));
    /* h1 = h + drop(att Wo^T + bo);  a2 = LN2(h1) */
    lt_tensor att = v2(&a->att, N, d), h1 = v2(&a->h1, N, d), a2 = v2(&a->a2, N, d);
    lt_tensor m2 = v1(&a->mean2, N), r2 = v1(&a->rstd2, N);
    LT_TRY(lt_matmul(m->be, &h1, &att, 0, W(m, l, O_W), 1, 1.0f, 0.0f));
    LT_TRY(lt_bias_add(m->be, &h1, W(m, l, O_B)));
    LT_TRY(drop_fwd(m, &h1, site_attn(l)));
    LT_TRY(lt_residual_layernorm_fwd(m->be, &a2, &h1, &m2, &r2, &h1, &hv, W(m, l, LN2_W), W(m, l, LN2_B), eps));
    /* out = h1 + drop(drop(gelu(a2 W1^T + b1)) W2^T + b2) */
    lt_tensor pre = v2(&a->pre, N, F), g = v2(&a->g, N, F), out = v2(&a->out, N, d);
    LT_TRY(lt_matmul(m->be, &pre, &a2, 0, W(m, l, F1_W), 1, 1.0f, 0.0f));
    LT_TRY(lt_bias_gelu_fwd(m->be, &g, &pre, W(m, l, F1_B)));
    LT_TRY(drop_fwd(m, &g, site_hidden(l)));
    LT_TRY(lt_matmul(m->be, &out, &g, 0, W(m, l, F2_W), 1, 1.0f, 0.0f));
    LT_TRY(lt_bias_add(m->be, &out, W(m, l, F2_B)));
    LT_TRY(drop_fwd(m, &out, site_ffn(l)));
    return lt_add(m->be, &out, &out, &h1);
}

int lt_causal_tower_forward(lt_causal_tower *m, const lt_tensor *x, const int32_t *lens, int train, uint64_t seed,
                            uint64_t step) {
    const lt_causal_config *c = &m->cfg;
    char s[96];
    m->ran = 0;
    if (!x || !lens) return lt_error(LT_EINVAL, "causal tower: forward: x and lens are required");
    if (x->ndim != 3 || x->shape[2] != c->dim || x->dtype != LT_F32)
        return lt_error(LT_ESHAPE, "causal tower: x %s must be f32[B, T, %lld]", lt_tensor_str(x, s, sizeof s),
                        (long long)c->dim);
    int64_t B = x->shape[0], T = x->shape[1], d = c->dim, N = B * T;
    if (B < 1 || T < 1) return lt_error(LT_ESHAPE, "causal tower: empty batch %lld x %lld", (long long)B, (long long)T);
    if (!m->acts || B > m->max_b || T > m->max_t)
        return lt_error(LT_ENOMEM, "causal tower: a batch of %lld x %lld does not fit the reserve (%lld x %lld; call "
                        "lt_causal_tower_reserve)", (long long)B, (long long)T, (long long)m->max_b, (long long)m->max_t);
    if (train && !m->training) return lt_error(LT_EINVAL, "causal tower: a training forward needs a training reserve");
    for (int64_t b = 0; b < B; b++)
        if (lens[b] < 0 || lens[b] > T)
            return lt_error(LT_ERANGE, "causal tower: lens[%lld] = %d is outside [0, %lld]", (long long)b, lens[b],
                            (long long)T);
    memcpy(m->lens, lens, sizeof(int32_t) * (size_t)B);
    lt_tensor lh = lt_view1(m->lens, LT_I32, LT_CPU, B), ld = v1(&m->lens_dev, B);
    LT_TRY(lt_tensor_copy(m->be, &ld, &lh));
    m->B = B, m->T = T, m->train = train != 0, m->seed = seed, m->step = step;
    /* h0 = drop(x + pos[0 .. T)): positions as one bias over the rows [B, T d] */
    lt_tensor h0 = lt_view3(m->h0.data, LT_F32, m->h0.device, B, T, d), h0r = v2(&m->h0, B, T * d);
    lt_tensor pos = v1(&P(m, m->pos)->value, T * d);
    LT_TRY(lt_tensor_copy(m->be, &h0, x));
    LT_TRY(lt_bias_add(m->be, &h0r, &pos));
    LT_TRY(drop_fwd(m, &h0r, 0));
    const lt_tensor *h = &m->h0;
    for (int64_t l = 0; l < c->layers; l++) {
        LT_TRY(block_fwd(m, l, h));
        h = &m->acts[l].out;
    }
    lt_tensor hv = v2(h, N, d), out = v2(&m->out, N, d), mf = v1(&m->meanf, N), rf = v1(&m->rstdf, N);
    LT_TRY(lt_layernorm_fwd(m->be, &out, &mf, &rf, &hv, &P(m, m->lnf_w)->value, &P(m, m->lnf_b)->value, eps_of(c)));
    LT_TRY(zero_padding(m, &out, d));
    m->v_out = lt_view3(m->out.data, LT_F32, m->out.device, B, T, d);
    m->ran = 1;
    return 0;
}

const lt_tensor *lt_causal_tower_output(const lt_causal_tower *m) { return m->ran ? &m->v_out : NULL; }

/* G holds dL/d(block l's output) on entry and dL/d(its input) on return. */
static int block_bwd(lt_causal_tower *m, int64_t l, const lt_tensor *h) {
    const lt_causal_config *c = &m->cfg;
    block_acts *a = &m->acts[l];
    int64_t B = m->B, T = m->T, N = B * T, d = c->dim, F = ffn_of(c), H = c->heads;
    lt_tensor G = v2(&m->G, N, d), Dt = v2(&m->D, N, d), T1 = v2(&m->T1, N, d);
    lt_tensor F1 = v2(&m->F1, N, F), F2 = v2(&m->F2, N, F);
    const lt_tensor *D;
    /* FFN: out = h1 + drop(g W2^T + b2), g = drop(gelu(a2 W1^T + b1)) */
    lt_tensor g = v2(&a->g, N, F), pre = v2(&a->pre, N, F), a2 = v2(&a->a2, N, d), h1 = v2(&a->h1, N, d);
    LT_TRY(drop_bwd(m, &Dt, &G, site_ffn(l), &D));
    LT_TRY(lt_bias_bwd(m->be, dW(m, l, F2_B), D));
    LT_TRY(lt_matmul(m->be, dW(m, l, F2_W), D, 1, &g, 0, 1.0f, 1.0f));
    LT_TRY(lt_matmul(m->be, &F1, D, 0, W(m, l, F2_W), 0, 1.0f, 0.0f)); /* dg */
    const lt_tensor *dg = &F1;
    if (dropping(m)) {
        LT_TRY(lt_fill(m->be, &F2, 0.0f));
        LT_TRY(lt_dropout_bwd(m->be, &F2, &F1, c->dropout, m->seed, stream(m, site_hidden(l))));
        LT_TRY(lt_fill(m->be, &F1, 0.0f));
        LT_TRY(lt_bias_gelu_bwd(m->be, &F1, dW(m, l, F1_B), &F2, &pre, W(m, l, F1_B)));
        dg = &F1; /* now dpre */
    } else {
        LT_TRY(lt_fill(m->be, &F2, 0.0f));
        LT_TRY(lt_bias_gelu_bwd(m->be, &F2, dW(m, l, F1_B), &F1, &pre, W(m, l, F1_B)));
        dg = &F2;
    }
    LT_TRY(lt_matmul(m->be, dW(m, l, F1_W), dg, 1, &a2, 0, 1.0f, 1.0f));
    LT_TRY(lt_matmul(m->be, &T1, dg, 0, W(m, l, F1_W), 0, 1.0f, 0.0f)); /* da2 */
    lt_tensor m2 = v1(&a->mean2, N), r2 = v1(&a->rstd2, N);
    LT_TRY(lt_layernorm_bwd(m->be, &G, dW(m, l, LN2_W), dW(m, l, LN2_B), &T1, &h1, W(m, l, LN2_W), &m2, &r2));
    /* attention: h1 = h + drop(att Wo^T + bo) */
    lt_tensor att = v2(&a->att, N, d), dq = v2(&m->dqkv, N, 3 * d), a1 = v2(&a->a1, N, d);
    LT_TRY(drop_bwd(m, &Dt, &G, site_attn(l), &D));
    LT_TRY(lt_bias_bwd(m->be, dW(m, l, O_B), D));
    LT_TRY(lt_matmul(m->be, dW(m, l, O_W), D, 1, &att, 0, 1.0f, 1.0f));
    LT_TRY(lt_matmul(m->be, &T1, D, 0, W(m, l, O_W), 0, 1.0f, 0.0f)); /* datt */
    LT_TRY(lt_fill(m->be, &dq, 0.0f));
    lt_tensor qkv3 = lt_view3(a->qkv.data, LT_F32, a->qkv.device, B, T, 3 * d);
    lt_tensor dqkv3 = lt_view3(m->dqkv.data, LT_F32, m->dqkv.device, B, T, 3 * d);
    lt_tensor att3 = lt_view3(a->att.data, LT_F32, a->att.device, B, T, d);
    lt_tensor datt3 = lt_view3(m->T1.data, LT_F32, m->T1.device, B, T, d);
    lt_tensor lse = lt_view3(a->lse.data, LT_F32, a->lse.device, B, H, T), lens = v1(&m->lens_dev, B);
    LT_TRY(lt_attention_causal_bwd(m->be, &dqkv3, &datt3, &qkv3, &att3, &lse, &lens, (int)H, attn_scale(c)));
    LT_TRY(lt_bias_bwd(m->be, dW(m, l, QKV_B), &dq));
    LT_TRY(lt_matmul(m->be, dW(m, l, QKV_W), &dq, 1, &a1, 0, 1.0f, 1.0f));
    LT_TRY(lt_matmul(m->be, &T1, &dq, 0, W(m, l, QKV_W), 0, 1.0f, 0.0f)); /* da1 */
    lt_tensor hv = v2(h, N, d), m1 = v1(&a->mean1, N), r1 = v1(&a->rstd1, N);
    return lt_layernorm_bwd(m->be, &G, dW(m, l, LN1_W), dW(m, l, LN1_B), &T1, &hv, W(m, l, LN1_W), &m1, &r1);
}

int lt_causal_tower_backward(lt_causal_tower *m, const lt_tensor *dout, lt_tensor *dx) {
    const lt_causal_config *c = &m->cfg;
    char s[96];
    if (!m->ran || !m->train) return lt_error(LT_EINVAL, "causal tower: backward needs a training forward first");
    int64_t B = m->B, T = m->T, N = B * T, d = c->dim;
    if (!dout || dout->ndim != 3 || dout->shape[0] != B || dout->shape[1] != T || dout->shape[2] != d ||
        dout->dtype != LT_F32)
        return lt_error(LT_ESHAPE, "causal tower: backward: dout %s must be f32[%lld, %lld, %lld]",
                        dout ? lt_tensor_str(dout, s, sizeof s) : "NULL", (long long)B, (long long)T, (long long)d);
    if (dx && (dx->ndim != 3 || dx->shape[0] != B || dx->shape[1] != T || dx->shape[2] != d || dx->dtype != LT_F32))
        return lt_error(LT_ESHAPE, "causal tower: backward: dx %s must be f32[%lld, %lld, %lld]",
                        lt_tensor_str(dx, s, sizeof s), (long long)B, (long long)T, (long long)d);
    /* out = LN_f(h_L) with padded rows zeroed: G = LN_f'(dout with padded rows zeroed) */
    lt_tensor Dt = v2(&m->D, N, d), G = v2(&m->G, N, d), d2 = lt_view2(dout->data, LT_F32, dout->device, N, d);
    LT_TRY(lt_tensor_copy(m->be, &Dt, &d2));
    LT_TRY(zero_padding(m, &Dt, d));
    LT_TRY(lt_fill(m->be, &G, 0.0f));
    const lt_tensor *top = c->layers > 0 ? &m->acts[c->layers - 1].out : &m->h0;
    lt_tensor hv = v2(top, N, d), mf = v1(&m->meanf, N), rf = v1(&m->rstdf, N);
    LT_TRY(lt_layernorm_bwd(m->be, &G, &P(m, m->lnf_w)->grad, &P(m, m->lnf_b)->grad, &Dt, &hv, &P(m, m->lnf_w)->value,
                            &mf, &rf));
    for (int64_t l = c->layers - 1; l >= 0; l--) LT_TRY(block_bwd(m, l, l > 0 ? &m->acts[l - 1].out : &m->h0));
    /* h0 = drop(x + pos): dpos += column sums of drop'(G) over the batch, dx += drop'(G) */
    const lt_tensor *D;
    LT_TRY(drop_bwd(m, &Dt, &G, 0, &D));
    lt_tensor Dr = v2(D, B, T * d), dpos = v1(&P(m, m->pos)->grad, T * d);
    LT_TRY(lt_bias_bwd(m->be, &dpos, &Dr));
    if (dx) {
        lt_tensor dxv = v2(dx, N, d), Dv = v2(D, N, d);
        LT_TRY(lt_axpy(m->be, &dxv, 1.0f, &Dv));
    }
    return 0;
}
