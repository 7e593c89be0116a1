/* The long-tail classifier on the op table (include/longtail/classify.h). Shapes: B items, T tokens,
 * E = embed, H1, H2 the two LSTMs' widths.
 *
 * forward:   X = table[ids]                      [B, T, E]
 *            Y1 = lstm1(X) (every step)          [B, T, H1]
 *            D1 = dropout(Y1)                    [B, T, H1]
 *            h = lstm2(D1)'s final state         [B, H2]
 *            D2 = dropout(h)                     [B, H2]
 *            z = D2 w^T + b                      [B, 1]       p = sigmoid(z) (host)
 * backward:  dz = w_b (p - y) / B (host);  dw += dz^T D2;  db += sum dz;  dD2 = dz w
 *            dh = dropout'(dD2);  dD1 = lstm2'(dout 0, dh_n = dh);  dY1 = dropout'(dD1)
 *            dX = lstm1'(dY1);  dtable[ids] += dX */
#include "longtail/classify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/rnn.h"

void lt_clf_config_init(lt_clf_config *c) {
    *c = (lt_clf_config){.embed = 300, .hidden1 = 128, .hidden2 = 64, .dropout = 0.2f, .max_len = 64};
}

void lt_clf_config_describe(const lt_clf_config *c, char *buf, size_t cap) {
    snprintf(buf, cap, "classify vocab=%lld embed=%lld hidden=%lld,%lld dropout=%g max_len=%lld", (long long)c->vocab,
             (long long)c->embed, (long long)c->hidden1, (long long)c->hidden2, (double)c->dropout, (long long)c->max_len);
}

int lt_clf_config_parse(const char *desc, lt_clf_config *c) {
    lt_clf_config_init(c);
    long long v, e, h1, h2, ml;
    float d;
    if (sscanf(desc, "classify vocab=%lld embed=%lld hidden=%lld,%lld dropout=%g max_len=%lld", &v, &e, &h1, &h2, &d,
               &ml) != 6)
        return lt_error(LT_EFORMAT, "not a classifier's description: '%s'", desc);
    c->vocab = v, c->embed = e, c->hidden1 = h1, c->hidden2 = h2, c->dropout = d, c->max_len = ml;
    return 0;
}

struct lt_clf {
    lt_clf_config cfg;
    lt_backend *be;
    lt_params ps;
    lt_recurrent *r1, *r2;
    int table, dense_w, dense_b; /* indices into ps.p (lt_params_add may move the array) */
    /* activations for up to cap_b items x cap_t tokens */
    int64_t cap_b, cap_t;
    lt_tensor ids, X, D1, h, D2, z, dz, dD2, dh, zero2, dD1, dY1, dX;
    int32_t *hlens;
    float *hz, *hdz;
};

lt_params *lt_clf_params(lt_clf *m) { return &m->ps; }
const lt_clf_config *lt_clf_get_config(const lt_clf *m) { return &m->cfg; }
static lt_param *P(lt_clf *m, int i) { return &m->ps.p[i]; }

static void free_acts(lt_clf *m) {
    lt_tensor *ts[] = {&m->ids, &m->X, &m->D1, &m->h, &m->D2, &m->z, &m->dz, &m->dD2,
                       &m->dh, &m->zero2, &m->dD1, &m->dY1, &m->dX};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        if (ts[i]->data) lt_tensor_free(m->be, ts[i]);
    free(m->hlens), free(m->hz), free(m->hdz);
    m->hlens = NULL, m->hz = m->hdz = NULL, m->cap_b = m->cap_t = 0;
}

/* Activations for B items of T tokens (grown, never shrunk). */
static int reserve(lt_clf *m, int64_t B, int64_t T) {
    if (B <= m->cap_b && T <= m->cap_t) return 0;
    if (B < m->cap_b) B = m->cap_b;
    if (T < m->cap_t) T = m->cap_t;
    free_acts(m);
    const lt_clf_config *c = &m->cfg;
    int64_t BT = B * T, E = c->embed, H1 = c->hidden1, H2 = c->hidden2;
    struct { lt_tensor *t; lt_dtype dt; int64_t n; } list[] = {
        {&m->ids, LT_I32, BT}, {&m->X, LT_F32, BT * E}, {&m->D1, LT_F32, BT * H1}, {&m->h, LT_F32, B * H2},
        {&m->D2, LT_F32, B * H2}, {&m->z, LT_F32, B}, {&m->dz, LT_F32, B}, {&m->dD2, LT_F32, B * H2},
        {&m->dh, LT_F32, B * H2}, {&m->zero2, LT_F32, BT * H2}, {&m->dD1, LT_F32, BT * H1}, {&m->dY1, LT_F32, BT * H1},
        {&m->dX, LT_F32, BT * E},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof list / sizeof *list && !rc; i++) rc = lt_tensor_new(list[i].t, m->be, list[i].dt, 1, &list[i].n);
    if (!rc) rc = lt_fill(m->be, &m->zero2, 0.0f); /* lstm2's output is unused: its gradient stays 0 */
    if (!rc) rc = lt_recurrent_reserve(m->r1, B, T, 1);
    if (!rc) rc = lt_recurrent_reserve(m->r2, B, T, 1);
    m->hlens = malloc(sizeof *m->hlens * (size_t)B), m->hz = malloc(sizeof *m->hz * (size_t)B);
    m->hdz = malloc(sizeof *m->hdz * (size_t)B);
    if (!rc && (!m->hlens || !m->hz || !m->hdz)) rc = lt_error(LT_ENOMEM, "classify: out of memory");
    if (rc) return free_acts(m), rc;
    m->cap_b = B, m->cap_t = T;
    return 0;
}

int lt_clf_create(lt_clf **out, lt_backend *be, const lt_clf_config *c, uint64_t seed) {
    *out = NULL;
    if (c->vocab < 1 || c->embed < 1 || c->hidden1 < 1 || c->hidden2 < 1 || c->max_len < 1)
        return lt_error(LT_ECONFIG, "classify: vocab, embed, hidden sizes and max_len must be >= 1");
    if (!(c->dropout >= 0 && c->dropout < 1)) return lt_error(LT_ECONFIG, "classify: dropout %g must be in [0, 1)", c->dropout);
    lt_clf *m = calloc(1, sizeof *m);
    if (!m) return lt_error(LT_ENOMEM, "classify: out of memory");
    m->cfg = *c, m->be = be;
    lt_params_init(&m->ps, be);
    lt_rng r;
    lt_rng_init(&r, seed, 0);
    lt_recurrent_config r1 = {.cell = LT_CELL_LSTM, .input = c->embed, .hidden = c->hidden1, .layers = 1};
    lt_recurrent_config r2 = {.cell = LT_CELL_LSTM, .input = c->hidden1, .hidden = c->hidden2, .layers = 1};
    int rc = lt_params_add_table(&m->ps, "embedding.weight", c->vocab, c->embed, NULL);
    m->table = m->ps.n - 1;
    if (!rc) rc = lt_recurrent_create(&m->r1, &m->ps, "lstm1.", &r1, &r);
    if (!rc) rc = lt_recurrent_create(&m->r2, &m->ps, "lstm2.", &r2, &r);
    if (!rc) rc = lt_params_add(&m->ps, "dense.weight", 2, (int64_t[]){1, c->hidden2}, 1, NULL);
    m->dense_w = m->ps.n - 1;
    if (!rc) rc = lt_params_add(&m->ps, "dense.bias", 1, (int64_t[]){1}, 0, NULL);
    m->dense_b = m->ps.n - 1;
    if (!rc) rc = lt_params_layout(&m->ps);
    /* Keras' Embedding: U(-0.05, 0.05); torch.nn.Linear(H2, 1): U(-1/sqrt(H2), 1/sqrt(H2)) */
    if (!rc) rc = lt_param_init_uniform(&m->ps, P(m, m->table), &r, 0.05f);
    float a = 1.0f / sqrtf((float)c->hidden2);
    if (!rc) rc = lt_param_init_uniform(&m->ps, P(m, m->dense_w), &r, a);
    if (!rc) rc = lt_param_init_uniform(&m->ps, P(m, m->dense_b), &r, a);
    if (rc) return lt_clf_free(m), rc;
    *out = m;
    return 0;
}

void lt_clf_free(lt_clf *m) {
    if (!m) return;
    free_acts(m);
    lt_recurrent_free(m->r1), lt_recurrent_free(m->r2);
    lt_params_free(&m->ps);
    free(m);
}

/* z[B] for the batch (train: dropouts keyed by the step s). */
static int forward(lt_clf *m, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, const lt_step *s) {
    const lt_clf_config *c = &m->cfg;
    if (B < 1 || T < 1) return lt_error(LT_EINVAL, "classify: empty batch (%lld x %lld)", (long long)B, (long long)T);
    for (int64_t b = 0; b < B; b++)
        if (lens[b] < 1 || lens[b] > T)
            return lt_error(LT_EINVAL, "classify: item %lld of the batch has %d tokens (need 1..%lld)", (long long)b, lens[b],
                            (long long)T);
    for (int64_t i = 0; i < B * T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return lt_error(LT_ERANGE, "classify: token id %d outside the vocabulary of %lld", ids[i], (long long)c->vocab);
    LT_TRY(reserve(m, B, T));
    lt_backend *be = m->be;
    int64_t E = c->embed, H1 = c->hidden1, H2 = c->hidden2;
    int train = s != NULL;
    uint64_t seed = train ? lt_step_seed(s, LT_SITE_DROPOUT) : 0, stream = train ? lt_step_stream(s) << 2 : 0;
    memcpy(m->hlens, lens, sizeof *lens * (size_t)B);
    lt_tensor hids = lt_view1((void *)ids, LT_I32, LT_CPU, B * T), dids = lt_view1(m->ids.data, LT_I32, m->ids.device, B * T);
    LT_TRY(lt_tensor_copy(be, &dids, &hids));
    lt_tensor X = lt_view2(m->X.data, LT_F32, m->X.device, B * T, E);
    LT_TRY(lt_embedding_fwd(be, &X, &P(m, m->table)->value, &dids));
    X = lt_view3(m->X.data, LT_F32, m->X.device, B, T, E);
    LT_TRY(lt_recurrent_forward(m->r1, &X, m->hlens, train, seed, stream));
    const lt_tensor *Y1 = lt_recurrent_output(m->r1);
    lt_tensor D1 = lt_view3(m->D1.data, LT_F32, m->D1.device, B, T, H1);
    if (train) LT_TRY(lt_dropout_fwd(be, &D1, Y1, c->dropout, seed, stream | 1));
    else LT_TRY(lt_tensor_copy(be, &D1, Y1));
    LT_TRY(lt_recurrent_forward(m->r2, &D1, m->hlens, train, seed, stream | 2));
    const lt_tensor *hn = lt_recurrent_h_n(m->r2); /* [1, B, H2] */
    lt_tensor h = lt_view2(hn->data, LT_F32, hn->device, B, H2), D2 = lt_view2(m->D2.data, LT_F32, m->D2.device, B, H2);
    if (train) LT_TRY(lt_dropout_fwd(be, &D2, &h, c->dropout, seed, stream | 3));
    else LT_TRY(lt_tensor_copy(be, &D2, &h));
    lt_tensor z = lt_view2(m->z.data, LT_F32, m->z.device, B, 1);
    LT_TRY(lt_matmul(be, &z, &D2, 0, &P(m, m->dense_w)->value, 1, 1.0f, 0.0f));
    LT_TRY(lt_bias_add(be, &z, &P(m, m->dense_b)->value));
    lt_tensor hz = lt_view1(m->hz, LT_F32, LT_CPU, B), z1 = lt_view1(m->z.data, LT_F32, m->z.device, B);
    return lt_tensor_copy(be, &hz, &z1);
}

int lt_clf_logits(lt_clf *m, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, float *logits) {
    LT_TRY(forward(m, ids, lens, B, T, NULL));
    memcpy(logits, m->hz, sizeof *logits * (size_t)B);
    return 0;
}

/* log(1 + exp(-|z|)) + max(z, 0) - y z: BCE of sigmoid(z) without overflow */
static double bce_logits(double z, double y) { return fmax(z, 0) - z * y + log1p(exp(-fabs(z))); }

int lt_clf_train_batch(lt_clf *m, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, const float *y,
                       const float *w, const lt_step *s, double *loss, float *logits) {
    const lt_clf_config *c = &m->cfg;
    /* a NULL step: no dropout (the golden test); the recurrent module still keeps its training reserve */
    lt_step none = {.step = 0, .micro = 0, .micros = 1};
    float p_keep = c->dropout;
    if (!s) m->cfg.dropout = 0, s = &none;
    int rc = forward(m, ids, lens, B, T, s);
    m->cfg.dropout = p_keep;
    LT_TRY(rc);
    int drop = s != &none && c->dropout > 0;
    lt_backend *be = m->be;
    int64_t H1 = c->hidden1, H2 = c->hidden2;
    uint64_t seed = lt_step_seed(s, LT_SITE_DROPOUT), stream = lt_step_stream(s) << 2;
    double L = 0;
    for (int64_t b = 0; b < B; b++) {
        double z = m->hz[b], wb = w ? w[b] : 1.0, p = 1.0 / (1.0 + exp(-z));
        L += wb * bce_logits(z, y[b]);
        m->hdz[b] = (float)(wb * (p - y[b]) / (double)B);
    }
    *loss = L / (double)B;
    if (logits) memcpy(logits, m->hz, sizeof *logits * (size_t)B);
    lt_tensor hdz = lt_view2(m->hdz, LT_F32, LT_CPU, B, 1), dz = lt_view2(m->dz.data, LT_F32, m->dz.device, B, 1);
    LT_TRY(lt_tensor_copy(be, &dz, &hdz));
    lt_tensor D2 = lt_view2(m->D2.data, LT_F32, m->D2.device, B, H2), dD2 = lt_view2(m->dD2.data, LT_F32, m->dD2.device, B, H2);
    LT_TRY(lt_matmul(be, &P(m, m->dense_w)->grad, &dz, 1, &D2, 0, 1.0f, 1.0f)); /* [1, H2] += dz^T D2 */
    LT_TRY(lt_bias_bwd(be, &P(m, m->dense_b)->grad, &dz));
    LT_TRY(lt_matmul(be, &dD2, &dz, 0, &P(m, m->dense_w)->value, 0, 1.0f, 0.0f)); /* [B, H2] = dz w */
    lt_tensor dh = lt_view3(m->dh.data, LT_F32, m->dh.device, 1, B, H2);
    if (drop) {
        lt_tensor dh2 = lt_view2(m->dh.data, LT_F32, m->dh.device, B, H2);
        LT_TRY(lt_fill(be, &dh2, 0.0f));
        LT_TRY(lt_dropout_bwd(be, &dh2, &dD2, c->dropout, seed, stream | 3));
    } else {
        dh = lt_view3(m->dD2.data, LT_F32, m->dD2.device, 1, B, H2);
    }
    lt_tensor zero = lt_view3(m->zero2.data, LT_F32, m->zero2.device, B, T, H2);
    lt_tensor dD1 = lt_view3(m->dD1.data, LT_F32, m->dD1.device, B, T, H1);
    LT_TRY(lt_fill(be, &dD1, 0.0f));
    LT_TRY(lt_recurrent_backward(m->r2, &zero, &dh, NULL, &dD1));
    lt_tensor dY1 = dD1;
    if (drop) {
        dY1 = lt_view3(m->dY1.data, LT_F32, m->dY1.device, B, T, H1);
        LT_TRY(lt_fill(be, &dY1, 0.0f));
        LT_TRY(lt_dropout_bwd(be, &dY1, &dD1, c->dropout, seed, stream | 1));
    }
    lt_tensor dX = lt_view3(m->dX.data, LT_F32, m->dX.device, B, T, c->embed);
    LT_TRY(lt_fill(be, &dX, 0.0f));
    LT_TRY(lt_recurrent_backward(m->r1, &dY1, NULL, NULL, &dX));
    lt_tensor dX2 = lt_view2(m->dX.data, LT_F32, m->dX.device, B * T, c->embed);
    lt_tensor dids = lt_view1(m->ids.data, LT_I32, m->ids.device, B * T);
    return lt_embedding_bwd(be, &P(m, m->table)->grad, &dX2, &dids);
}
