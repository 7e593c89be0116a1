/* The recurrent module (include/longtail/rnn.h): layers of lt_rnn_fwd / lt_rnn_bwd, dropout between
 * them, an optional output projection. Shapes: x[B, T, I], y_l[B, T, H] (layer l's output), out[B, T, P].
 *
 * forward:   in_0 = x;  in_l = dropout(y_{l-1}) (train) or y_{l-1};  y_l, h_n[l], c_n[l] = rnn(in_l)
 *            out = y_{L-1} P^T + p  (or out = y_{L-1})
 * backward:  dy_{L-1} = dout P (or dout);  dP += dout^T y_{L-1};  dp += column sums of dout
 *            per layer, top down: d in_l, dW_l += rnn_bwd(dy_l, dh_n[l], dc_n[l]);  dy_{l-1} = dropout'(d in_l)
 *            d in_0 accumulates into the caller's dx. */
#include "longtail/rnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"

enum { W_IH, W_HH, B_IH, B_HH, NW };
static const char *w_names[NW] = {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"};

struct lt_recurrent {
    lt_backend *be;
    lt_params *ps;
    lt_recurrent_config cfg;
    int (*idx)[NW];  /* per layer: indices of its parameters in ps (lt_params_add may move the array) */
    int proj_w, proj_b;

    /* reserve */
    int64_t max_b, max_t;
    int training;
    size_t ws_bytes;            /* per layer */
    lt_tensor *y, *ws, *xin;    /* per layer: output, backward reserve, dropped input (layers >= 1) */
    lt_tensor out, hn, cn;      /* projection output; final states [L, max_b, H] */
    lt_tensor dbuf[3];          /* backward: dy of a layer, of the one below, dropout's input gradient */

    /* the last forward */
    int64_t B, T;
    lt_tensor x;
    int32_t *lens;
    int train, ran;
    uint64_t seed, step;
    lt_tensor v_out, v_hn, v_cn;
};

static lt_param *P(const lt_recurrent *m, int i) { return &m->ps->p[i]; }

int lt_recurrent_config_check(const lt_recurrent_config *c) {
    if (c->cell != LT_CELL_LSTM && c->cell != LT_CELL_GRU)
        return lt_error(LT_ECONFIG, "recurrent: cell = %d is neither LSTM nor GRU", (int)c->cell);
    if (c->input < 1) return lt_error(LT_ECONFIG, "recurrent: input = %lld must be >= 1", (long long)c->input);
    if (c->hidden < 1) return lt_error(LT_ECONFIG, "recurrent: hidden = %lld must be >= 1", (long long)c->hidden);
    if (c->layers < 1) return lt_error(LT_ECONFIG, "recurrent: layers = %lld must be >= 1", (long long)c->layers);
    if (c->proj < 0) return lt_error(LT_ECONFIG, "recurrent: proj = %lld must be >= 0", (long long)c->proj);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return lt_error(LT_ECONFIG, "recurrent: dropout = %g must be in [0, 1)", c->dropout);
    return 0;
}

const lt_recurrent_config *lt_recurrent_get_config(const lt_recurrent *m) { return &m->cfg; }

/* U(-bound, bound) on the host, then copied to the parameter (PyTorch's init for RNNs and Linear) */
static int init_uniform(lt_recurrent *m, lt_param *p, lt_rng *r, float bound) {
    int64_t n = lt_numel(&p->value);
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!h) return lt_error(LT_ENOMEM, "recurrent: init %s: out of memory", p->name);
    for (int64_t i = 0; i < n; i++) h[i] = bound * (2.0f * lt_rng_next_uniform(r) - 1.0f);
    lt_tensor host = lt_view(h, LT_F32, LT_CPU, p->value.ndim, p->value.shape);
    int rc = lt_tensor_copy(m->ps->be, &p->value, &host);
    free(h);
    return rc;
}

static int add_param(lt_recurrent *m, const char *prefix, const char *name, int ndim, int64_t d0, int64_t d1,
                     int *index) {
    char full[256];
    int len = snprintf(full, sizeof full, "%s%s", prefix, name);
    if (len < 0 || (size_t)len >= sizeof full) return lt_error(LT_EINVAL, "recurrent: parameter name %s%s too long", prefix, name);
    int64_t shape[2] = {d0, d1};
    LT_TRY(lt_params_add(m->ps, full, ndim, shape, ndim == 2, NULL));
    *index = m->ps->n - 1;
    return 0;
}

int lt_recurrent_create(lt_recurrent **out, lt_params *ps, const char *prefix, const lt_recurrent_config *cfg,
                        lt_rng *rng) {
    *out = NULL;
    if (!ps || !cfg || !rng) return lt_error(LT_EINVAL, "recurrent: NULL argument");
    LT_TRY(lt_recurrent_config_check(cfg));
    if (!prefix) prefix = "";
    lt_recurrent *m = calloc(1, sizeof *m);
    if (!m || !(m->idx = calloc((size_t)cfg->layers, sizeof *m->idx))) {
        free(m);
        return lt_error(LT_ENOMEM, "recurrent: out of memory");
    }
    m->be = ps->be, m->ps = ps, m->cfg = *cfg, m->proj_w = m->proj_b = -1;
    int64_t G = lt_cell_gates(cfg->cell), H = cfg->hidden;
    int rc = 0;
    for (int64_t l = 0; l < cfg->layers && !rc; l++) {
        int64_t in = l == 0 ? cfg->input : H;
        int64_t d0[NW] = {G * H, G * H, G * H, G * H}, d1[NW] = {in, H, 0, 0};
        for (int k = 0; k < NW && !rc; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s%lld", w_names[k], (long long)l);
            rc = add_param(m, prefix, name, d1[k] ? 2 : 1, d0[k], d1[k], &m->idx[l][k]);
        }
    }
    if (!rc && cfg->proj > 0) rc = add_param(m, prefix, "proj.weight", 2, cfg->proj, H, &m->proj_w);
    if (!rc && cfg->proj > 0) rc = add_param(m, prefix, "proj.bias", 1, cfg->proj, 0, &m->proj_b);
    /* PyTorch: every RNN tensor U(-1/sqrt(H), 1/sqrt(H)); Linear(H, P): U(-1/sqrt(H), 1/sqrt(H)) too */
    float bound = 1.0f / sqrtf((float)H);
    for (int64_t l = 0; l < cfg->layers && !rc; l++)
        for (int k = 0; k < NW && !rc; k++) rc = init_uniform(m, P(m, m->idx[l][k]), rng, bound);
    if (!rc && cfg->proj > 0) rc = init_uniform(m, P(m, m->proj_w), rng, bound);
    if (!rc && cfg->proj > 0) rc = init_uniform(m, P(m, m->proj_b), rng, bound);
    if (rc) {
        lt_recurrent_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static void free_t(lt_recurrent *m, lt_tensor *t) {
    if (t->data) lt_tensor_free(m->be, t);
    memset(t, 0, sizeof *t);
}

static void release(lt_recurrent *m) {
    for (int64_t l = 0; l < m->cfg.layers; l++) {
        if (m->y) free_t(m, &m->y[l]);
        if (m->ws) free_t(m, &m->ws[l]);
        if (m->xin) free_t(m, &m->xin[l]);
    }
    free(m->y), free(m->ws), free(m->xin), free(m->lens);
    m->y = m->ws = m->xin = NULL, m->lens = NULL;
    free_t(m, &m->out), free_t(m, &m->hn), free_t(m, &m->cn);
    for (int k = 0; k < 3; k++) free_t(m, &m->dbuf[k]);
    m->max_b = m->max_t = 0, m->ran = 0;
}

void lt_recurrent_free(lt_recurrent *m) {
    if (!m) return;
    release(m);
    free(m->idx);
    free(m);
}

static int new1(lt_recurrent *m, lt_tensor *t, lt_dtype dt, int64_t n) { return lt_tensor_new(t, m->be, dt, 1, &n); }

int lt_recurrent_reserve(lt_recurrent *m, int64_t max_batch, int64_t max_len, int training) {
    if (max_batch < 1 || max_len < 1)
        return lt_error(LT_EINVAL, "recurrent: reserve %lld x %lld: sizes must be >= 1", (long long)max_batch,
                        (long long)max_len);
    release(m);
    const lt_recurrent_config *c = &m->cfg;
    int64_t L = c->layers, H = c->hidden, N = max_batch * max_len;
    m->max_b = max_batch, m->max_t = max_len, m->training = training != 0;
    m->y = calloc((size_t)L, sizeof *m->y), m->ws = calloc((size_t)L, sizeof *m->ws);
    m->xin = calloc((size_t)L, sizeof *m->xin), m->lens = calloc((size_t)max_batch, sizeof *m->lens);
    int rc = m->y && m->ws && m->xin && m->lens ? 0 : lt_error(LT_ENOMEM, "recurrent: out of memory");
    m->ws_bytes = 0;
    if (!rc && training) rc = lt_rnn_reserve_bytes(m->be, c->cell, max_batch, max_len, c->input > H ? c->input : H, H,
                                                   &m->ws_bytes);
    for (int64_t l = 0; l < L && !rc; l++) {
        rc = new1(m, &m->y[l], LT_F32, N * H);
        if (!rc && training) rc = new1(m, &m->ws[l], LT_U8, (int64_t)m->ws_bytes);
        if (!rc && training && l > 0 && c->dropout > 0) rc = new1(m, &m->xin[l], LT_F32, N * H);
    }
    if (!rc && c->proj > 0) rc = new1(m, &m->out, LT_F32, N * c->proj);
    if (!rc) rc = new1(m, &m->hn, LT_F32, L * max_batch * H);
    if (!rc && c->cell == LT_CELL_LSTM) rc = new1(m, &m->cn, LT_F32, L * max_batch * H);
    for (int k = 0; k < 3 && !rc && training; k++)
        if (k < 2 || c->dropout > 0) rc = new1(m, &m->dbuf[k], LT_F32, N * H);
    if (rc) release(m);
    return rc;
}

/* A [B, T, C] view of a buffer; a [B, H] view of layer l's final state. */
static lt_tensor btc(const lt_tensor *buf, int64_t B, int64_t T, int64_t C) {
    return lt_view3(buf->data, LT_F32, buf->device, B, T, C);
}
static lt_tensor state(const lt_tensor *buf, int64_t l, int64_t B, int64_t H) {
    return lt_view2((float *)buf->data + l * B * H, LT_F32, buf->device, B, H);
}
static lt_tensor reserve_view(const lt_recurrent *m, int64_t l, int64_t B, int64_t T, int64_t I, size_t *need) {
    lt_rnn_reserve_bytes(m->be, m->cfg.cell, B, T, I, m->cfg.hidden, need);
    return lt_view1(m->ws[l].data, LT_U8, m->ws[l].device, (int64_t)*need);
}
static uint64_t stream(uint64_t step, int64_t layer) { return step << 16 | (uint64_t)layer; }

int lt_recurrent_forward(lt_recurrent *m, const lt_tensor *x, const int32_t *lens, int train, uint64_t seed,
                         uint64_t step) {
    const lt_recurrent_config *c = &m->cfg;
    char s[96];
    m->ran = 0;
    if (!x || !lens) return lt_error(LT_EINVAL, "recurrent: forward: x and lens are required");
    if (x->ndim != 3 || x->shape[2] != c->input || x->dtype != LT_F32)
        return lt_error(LT_ESHAPE, "recurrent: x %s must be f32[B, T, %lld]", lt_tensor_str(x, s, sizeof s),
                        (long long)c->input);
    int64_t B = x->shape[0], T = x->shape[1], H = c->hidden, L = c->layers;
    if (!m->y || B > m->max_b || T > m->max_t || B * T > m->max_b * m->max_t)
        return lt_error(LT_ENOMEM, "recurrent: a batch of %lld x %lld does not fit the reserve (%lld x %lld; call "
                        "lt_recurrent_reserve)", (long long)B, (long long)T, (long long)m->max_b, (long long)m->max_t);
    if (train && !m->training)
        return lt_error(LT_EINVAL, "recurrent: a training forward needs a training reserve");
    memcpy(m->lens, lens, sizeof(int32_t) * (size_t)B);
    lt_tensor lt = lt_view1(m->lens, LT_I32, LT_CPU, B);
    m->B = B, m->T = T, m->x = *x, m->train = train != 0, m->seed = seed, m->step = step;
    for (int64_t l = 0; l < L; l++) {
        lt_tensor in = l == 0 ? *x : btc(&m->y[l - 1], B, T, H), y = btc(&m->y[l], B, T, H);
        if (l > 0 && train && c->dropout > 0) {
            lt_tensor d = btc(&m->xin[l], B, T, H);
            LT_TRY(lt_dropout_fwd(m->be, &d, &in, c->dropout, seed, stream(step, l)));
            in = d;
        }
        lt_tensor hn = state(&m->hn, l, B, H), cn = c->cell == LT_CELL_LSTM ? state(&m->cn, l, B, H) : hn;
        /* the training reserve serves eval passes too (the CPU then allocates nothing) */
        size_t need = 0;
        int use_ws = m->training;
        lt_tensor ws = use_ws ? reserve_view(m, l, B, T, in.shape[2], &need) : hn;
        if (use_ws && need > m->ws_bytes)
            return lt_error(LT_ENOMEM, "recurrent: layer %lld's reserve is too small", (long long)l);
        const int *ix = m->idx[l];
        LT_TRY(lt_rnn_fwd(m->be, c->cell, &y, &hn, c->cell == LT_CELL_LSTM ? &cn : NULL, use_ws ? &ws : NULL, &in,
                          &P(m, ix[W_IH])->value, &P(m, ix[W_HH])->value, &P(m, ix[B_IH])->value,
                          &P(m, ix[B_HH])->value, NULL, NULL, &lt));
    }
    lt_tensor top = btc(&m->y[L - 1], B, T, H);
    if (c->proj > 0) {
        lt_tensor o2 = lt_view2(m->out.data, LT_F32, m->out.device, B * T, c->proj);
        lt_tensor y2 = lt_view2(top.data, LT_F32, top.device, B * T, H);
        LT_TRY(lt_matmul(m->be, &o2, &y2, 0, &P(m, m->proj_w)->value, 1, 1.0f, 0.0f));
        LT_TRY(lt_bias_add(m->be, &o2, &P(m, m->proj_b)->value));
        m->v_out = btc(&m->out, B, T, c->proj);
    } else {
        m->v_out = top;
    }
    m->v_hn = lt_view3(m->hn.data, LT_F32, m->hn.device, L, B, H);
    if (c->cell == LT_CELL_LSTM) m->v_cn = lt_view3(m->cn.data, LT_F32, m->cn.device, L, B, H);
    m->ran = 1;
    return 0;
}

const lt_tensor *lt_recurrent_output(const lt_recurrent *m) { return m->ran ? &m->v_out : NULL; }
const lt_tensor *lt_recurrent_h_n(const lt_recurrent *m) { return m->ran ? &m->v_hn : NULL; }
const lt_tensor *lt_recurrent_c_n(const lt_recurrent *m) {
    return m->ran && m->cfg.cell == LT_CELL_LSTM ? &m->v_cn : NULL;
}

static int check_like(const char *name, const lt_tensor *t, int64_t d0, int64_t d1, int64_t d2) {
    char s[96];
    if (t->ndim == 3 && t->shape[0] == d0 && t->shape[1] == d1 && t->shape[2] == d2 && t->dtype == LT_F32) return 0;
    return lt_error(LT_ESHAPE, "recurrent: backward: %s %s must be f32[%lld, %lld, %lld]", name,
                    lt_tensor_str(t, s, sizeof s), (long long)d0, (long long)d1, (long long)d2);
}

int lt_recurrent_backward(lt_recurrent *m, const lt_tensor *dout, const lt_tensor *dh_n, const lt_tensor *dc_n,
                          lt_tensor *dx) {
    const lt_recurrent_config *c = &m->cfg;
    if (!m->ran || !m->train) return lt_error(LT_EINVAL, "recurrent: backward needs a training forward first");
    if (!dout) return lt_error(LT_EINVAL, "recurrent: backward: dout is NULL");
    int64_t B = m->B, T = m->T, H = c->hidden, L = c->layers, O = c->proj > 0 ? c->proj : H;
    LT_TRY(check_like("dout", dout, B, T, O));
    if (dh_n) LT_TRY(check_like("dh_n", dh_n, L, B, H));
    if (dc_n && c->cell != LT_CELL_LSTM) return lt_error(LT_EINVAL, "recurrent: backward: dc_n must be NULL for a GRU");
    if (dc_n) LT_TRY(check_like("dc_n", dc_n, L, B, H));
    if (dx) LT_TRY(check_like("dx", dx, B, T, c->input));
    lt_tensor lt = lt_view1(m->lens, LT_I32, LT_CPU, B);
    lt_tensor top = btc(&m->y[L - 1], B, T, H), dy = *dout;
    int cur = 0;
    if (c->proj > 0) { /* out = y P^T + p:  dy = dout P,  dP += dout^T y,  dp += column sums of dout */
        lt_tensor d2 = lt_view2(dout->data, LT_F32, dout->device, B * T, O), y2 = lt_view2(top.data, LT_F32, top.device, B * T, H);
        dy = btc(&m->dbuf[cur], B, T, H);
        lt_tensor dy2 = lt_view2(dy.data, LT_F32, dy.device, B * T, H);
        LT_TRY(lt_matmul(m->be, &dy2, &d2, 0, &P(m, m->proj_w)->value, 0, 1.0f, 0.0f));
        LT_TRY(lt_matmul(m->be, &P(m, m->proj_w)->grad, &d2, 1, &y2, 0, 1.0f, 1.0f));
        LT_TRY(lt_bias_bwd(m->be, &P(m, m->proj_b)->grad, &d2));
    }
    for (int64_t l = L - 1; l >= 0; l--) {
        int drop = l > 0 && c->dropout > 0;
        lt_tensor in = l == 0 ? m->x : btc(drop ? &m->xin[l] : &m->y[l - 1], B, T, H), y = btc(&m->y[l], B, T, H);
        lt_tensor below = l > 0 ? btc(&m->dbuf[1 - cur], B, T, H) : (lt_tensor){0};
        lt_tensor dtmp = drop ? btc(&m->dbuf[2], B, T, H) : below;
        if (l > 0) {
            LT_TRY(lt_fill(m->be, &below, 0.0f));
            if (drop) LT_TRY(lt_fill(m->be, &dtmp, 0.0f));
        }
        lt_tensor dh = dh_n ? state(dh_n, l, B, H) : (lt_tensor){0}, dc = dc_n ? state(dc_n, l, B, H) : (lt_tensor){0};
        size_t need;
        lt_tensor ws = reserve_view(m, l, B, T, in.shape[2], &need);
        const int *ix = m->idx[l];
        LT_TRY(lt_rnn_bwd(m->be, c->cell, l > 0 ? &dtmp : dx, &P(m, ix[W_IH])->grad, &P(m, ix[W_HH])->grad,
                          &P(m, ix[B_IH])->grad, &P(m, ix[B_HH])->grad, NULL, NULL, &dy, dh_n ? &dh : NULL,
                          dc_n ? &dc : NULL, &ws, &in, &y, &P(m, ix[W_IH])->value, &P(m, ix[W_HH])->value,
                          &P(m, ix[B_IH])->value, &P(m, ix[B_HH])->value, NULL, NULL, &lt));
        if (drop) LT_TRY(lt_dropout_bwd(m->be, &below, &dtmp, c->dropout, m->seed, stream(m->step, l)));
        dy = below, cur = 1 - cur;
    }
    return 0;
}
