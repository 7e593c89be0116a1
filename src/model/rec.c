/* The next-item recommender on the op table (include/longtail/recmodel.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/error.h"
#include "longtail/recmodel.h"
#include "longtail/rng.h"
#include "longtail/sasrec.h"

void lt_rec_config_init(lt_rec_config *c) {
    *c = (lt_rec_config){.dim = 64, .hidden = 128, .cell = LT_CELL_LSTM, .use_id = 1, .id_dropout = 0.5f,
                         .dropout = 0.3f, .max_len = 50, .chunk = 4096, .negatives = 1024,
                         .tower = LT_TOWER_RNN, .layers = 2, .heads = 1};
}

void lt_rec_config_describe(const lt_rec_config *c, char *buf, size_t cap) {
    snprintf(buf, cap, "rec cell=%s items=%lld text=%lld dim=%lld hidden=%lld id=%d", c->cell == LT_CELL_GRU ? "gru" : "lstm",
             (long long)c->n_items, (long long)c->text_dim, (long long)c->dim, (long long)c->hidden, c->use_id);
    if (c->tower == LT_TOWER_TRANSFORMER) { /* appended: RNN descriptions stay as they were */
        size_t n = strlen(buf);
        if (n < cap)
            snprintf(buf + n, cap - n, " tower=transformer layers=%lld heads=%lld max_len=%lld", (long long)c->layers,
                     (long long)c->heads, (long long)c->max_len);
    }
}

int lt_rec_config_parse(const char *desc, lt_rec_config *c) {
    lt_rec_config_init(c);
    char cell[16];
    long long items, text, dim, hidden;
    int id;
    if (sscanf(desc, "rec cell=%15s items=%lld text=%lld dim=%lld hidden=%lld id=%d", cell, &items, &text, &dim, &hidden,
               &id) != 6 || (strcmp(cell, "lstm") && strcmp(cell, "gru")))
        return lt_error(LT_EFORMAT, "not a recommender's description: '%s'", desc);
    c->cell = strcmp(cell, "gru") ? LT_CELL_LSTM : LT_CELL_GRU;
    c->n_items = items, c->text_dim = text, c->dim = dim, c->hidden = hidden, c->use_id = id;
    const char *cb = strstr(desc, "\ncold_boost=");
    if (cb && (sscanf(cb, "\ncold_boost=%lf", &c->cold_boost) != 1 || !isfinite(c->cold_boost)))
        return lt_error(LT_EFORMAT, "a recommender's description has a bad cold_boost line: '%s'", desc);
    const char *tw = strstr(desc, " tower=transformer");
    if (tw) {
        long long layers, heads, max_len;
        if (sscanf(tw, " tower=transformer layers=%lld heads=%lld max_len=%lld", &layers, &heads, &max_len) != 3)
            return lt_error(LT_EFORMAT, "a transformer recommender's description lacks layers, heads or max_len: '%s'", desc);
        c->tower = LT_TOWER_TRANSFORMER, c->layers = layers, c->heads = heads, c->max_len = max_len;
    }
    return 0;
}

struct lt_rec {
    lt_rec_config cfg;
    lt_backend *be;
    lt_params ps;
    lt_param *tw, *tb, *id, *wih, *whh, *bih, *bhh, *pw, *pb;
    lt_tensor text;         /* [N, Dt] */
    lt_tensor V, dV;        /* item vectors [N, d], their gradient */
    lt_tensor seen_dev;     /* u8 [N]: seen, on the backend (the id part's row mask: lt_row_dropout_acc) */
    uint64_t id_seed, id_stream; /* the id dropout of the last item_vectors (its backward redraws it) */
    float id_p;
    /* activations for up to cap_bt rows (B x T) and cap_b users */
    int64_t cap_b, cap_t;
    size_t ws_bytes;
    lt_tensor ids, X, Y, Yd, U, tgt, loss, lse, dloss, work, dU, dY, dYd, dX, ws, hT, cT;
    float *hloss, *hdl;
    int32_t *hids, *htgt, *hlens;
    /* the sampled softmax: negatives, each item's log sampling probability, the sampler's CDF */
    lt_tensor neg, logq;
    int32_t *hneg;
    double *cdf;
    lt_causal_tower *tf;    /* tower = transformer: the user tower (the rnn parameters are absent) */
    lt_tensor sbias;        /* [N] added to every score by the evaluation target (tail boost), or none */
};

static int transformer_create(lt_rec *m, uint64_t seed);
static int transformer_fwd(lt_rec *m, int64_t B, int64_t T, const lt_step *s, int want_seq);
static int transformer_bwd(lt_rec *m, int64_t B, int64_t Ti);

const lt_rec_config *lt_rec_get_config(const lt_rec *m) { return &m->cfg; }
lt_params *lt_rec_params(lt_rec *m) { return &m->ps; }

static void free_acts(lt_rec *m) {
    lt_tensor *ts[] = {&m->ids, &m->X, &m->Y, &m->Yd, &m->U, &m->tgt, &m->loss, &m->lse, &m->dloss, &m->work,
                       &m->dU, &m->dY, &m->dYd, &m->dX, &m->ws, &m->hT, &m->cT, &m->neg};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lt_tensor_free(m->be, ts[i]);
    free(m->hloss), free(m->hdl), free(m->hids), free(m->htgt), free(m->hlens), free(m->hneg);
    m->hloss = m->hdl = NULL, m->hids = m->htgt = m->hlens = m->hneg = NULL;
    m->cap_b = m->cap_t = 0;
}

/* Activations for B users x T steps (grown, never shrunk). */
static int reserve(lt_rec *m, int64_t B, int64_t T) {
    if (B <= m->cap_b && T <= m->cap_t) return 0;
    if (B < m->cap_b) B = m->cap_b;
    if (T < m->cap_t) T = m->cap_t;
    free_acts(m);
    lt_backend *be = m->be;
    int64_t d = m->cfg.dim, H = m->cfg.hidden, BT = B * T;
    int64_t ch = m->cfg.loss == LT_REC_LOSS_SAMPLED ? 1 + (m->cfg.sampler == LT_REC_NEG_INBATCH ? BT : m->cfg.negatives)
                                                     : (m->cfg.chunk < m->cfg.n_items ? m->cfg.chunk : m->cfg.n_items);
    size_t ws;
    LT_TRY(lt_rnn_reserve_bytes(be, m->cfg.cell, B, T, d, H, &ws));
    int rc = 0;
    struct { lt_tensor *t; lt_dtype dt; int nd; int64_t s[3]; } list[] = {
        {&m->ids, LT_I32, 1, {BT}}, {&m->X, LT_F32, 3, {B, T, d}}, {&m->Y, LT_F32, 3, {B, T, H}},
        {&m->Yd, LT_F32, 3, {B, T, H}}, {&m->U, LT_F32, 2, {BT, d}}, {&m->tgt, LT_I32, 1, {BT}},
        {&m->loss, LT_F32, 1, {BT}}, {&m->lse, LT_F32, 1, {BT}}, {&m->dloss, LT_F32, 1, {BT}},
        {&m->work, LT_F32, 1, {BT * ch}}, {&m->dU, LT_F32, 2, {BT, d}}, {&m->dY, LT_F32, 3, {B, T, H}},
        {&m->dYd, LT_F32, 3, {B, T, H}}, {&m->dX, LT_F32, 3, {B, T, d}}, {&m->ws, LT_U8, 1, {(int64_t)(ws ? ws : 1)}},
        {&m->hT, LT_F32, 2, {B, H}}, {&m->cT, LT_F32, 2, {B, H}}, {&m->neg, LT_I32, 1, {ch}},
    };
    for (size_t i = 0; i < sizeof list / sizeof *list && !rc; i++) {
        rc = lt_tensor_new(list[i].t, be, list[i].dt, list[i].nd, list[i].s);
    }
    m->hloss = malloc(sizeof *m->hloss * (size_t)BT), m->hdl = malloc(sizeof *m->hdl * (size_t)BT);
    m->hids = malloc(sizeof *m->hids * (size_t)BT), m->htgt = malloc(sizeof *m->htgt * (size_t)BT);
    m->hlens = malloc(sizeof *m->hlens * (size_t)B), m->hneg = malloc(sizeof *m->hneg * (size_t)ch);
    if (!rc && (!m->hloss || !m->hdl || !m->hids || !m->htgt || !m->hlens || !m->hneg))
        rc = lt_error(LT_ENOMEM, "rec: out of memory");
    if (!rc && m->tf) rc = lt_causal_tower_reserve(m->tf, B, T, 1);
    if (rc) return free_acts(m), rc;
    m->cap_b = B, m->cap_t = T, m->ws_bytes = ws;
    return 0;
}

int lt_rec_create(lt_rec **out, lt_backend *be, const lt_rec_config *c, const float *text, const uint8_t *seen,
                  uint64_t seed) {
    *out = NULL;
    if (c->n_items < 1 || c->dim < 1 || c->hidden < 1 || c->text_dim < 0 || (!c->text_dim && !c->use_id) ||
        c->max_len < 1 || c->chunk < 1 || !(c->id_dropout >= 0 && c->id_dropout < 1) || !(c->dropout >= 0 && c->dropout < 1))
        return lt_error(LT_ECONFIG, "rec: items, dim, hidden, max_len, chunk >= 1, text or id (or both), dropouts in [0, 1)");
    if (c->text_dim && !text) return lt_error(LT_EINVAL, "rec: text_dim %lld but no text embeddings", (long long)c->text_dim);
    lt_rec *m = calloc(1, sizeof *m);
    if (!m) return lt_error(LT_ENOMEM, "rec: out of memory");
    m->cfg = *c, m->be = be;
    lt_params_init(&m->ps, be);
    int64_t N = c->n_items, Dt = c->text_dim, d = c->dim, H = c->hidden, G = lt_cell_gates(c->cell);
    int rc = 0;
    /* parameters: resolved by name after all are added (lt_params_add may move the array) */
    if (Dt) {
        if (!rc) rc = lt_params_add(&m->ps, "item.text.weight", 2, (int64_t[]){d, Dt}, 1, NULL);
        if (!rc) rc = lt_params_add(&m->ps, "item.text.bias", 1, (int64_t[]){d}, 0, NULL);
    }
    if (c->use_id && !rc) rc = lt_params_add_table(&m->ps, "item.id", N, d, NULL);
    if (c->tower == LT_TOWER_TRANSFORMER) {
        if (!rc) rc = transformer_create(m, seed);
    } else {
        if (!rc) rc = lt_params_add(&m->ps, "user.rnn.weight_ih_l0", 2, (int64_t[]){G * H, d}, 1, NULL);
        if (!rc) rc = lt_params_add(&m->ps, "user.rnn.weight_hh_l0", 2, (int64_t[]){G * H, H}, 1, NULL);
        if (!rc) rc = lt_params_add(&m->ps, "user.rnn.bias_ih_l0", 1, (int64_t[]){G * H}, 0, NULL);
        if (!rc) rc = lt_params_add(&m->ps, "user.rnn.bias_hh_l0", 1, (int64_t[]){G * H}, 0, NULL);
        if (!rc) rc = lt_params_add(&m->ps, "user.proj.weight", 2, (int64_t[]){d, H}, 1, NULL);
        if (!rc) rc = lt_params_add(&m->ps, "user.proj.bias", 1, (int64_t[]){d}, 0, NULL);
    }
    if (!rc) rc = lt_params_layout(&m->ps);
    if (!rc) {
        m->tw = lt_params_find(&m->ps, "item.text.weight"), m->tb = lt_params_find(&m->ps, "item.text.bias");
        m->id = lt_params_find(&m->ps, "item.id");
        m->wih = lt_params_find(&m->ps, "user.rnn.weight_ih_l0"), m->whh = lt_params_find(&m->ps, "user.rnn.weight_hh_l0");
        m->bih = lt_params_find(&m->ps, "user.rnn.bias_ih_l0"), m->bhh = lt_params_find(&m->ps, "user.rnn.bias_hh_l0");
        m->pw = lt_params_find(&m->ps, "user.proj.weight"), m->pb = lt_params_find(&m->ps, "user.proj.bias");
        lt_rng r;
        lt_rng_init(&r, seed, 0);
        float a = 1.0f / sqrtf((float)H);
        if (m->tw) rc = lt_param_init_uniform(&m->ps, m->tw, &r, 1.0f / sqrtf((float)Dt));
        if (!rc && m->id) rc = lt_param_init_normal(&m->ps, m->id, &r, 0.01f);
        lt_param *rnn[] = {m->wih, m->whh, m->bih, m->bhh, m->pw, m->pb};
        for (int i = 0; i < 6 && !rc && !m->tf; i++) rc = lt_param_init_uniform(&m->ps, rnn[i], &r, a);
    }
    int64_t nd[2] = {N, d};
    if (!rc) rc = lt_tensor_new(&m->V, be, LT_F32, 2, nd);
    if (!rc) rc = lt_tensor_new(&m->dV, be, LT_F32, 2, nd);
    if (!rc && c->use_id) rc = lt_tensor_new(&m->seen_dev, be, LT_U8, 1, &N);
    if (!rc && Dt) {
        rc = lt_tensor_new(&m->text, be, LT_F32, 2, (int64_t[]){N, Dt});
        lt_tensor h = lt_view2((void *)text, LT_F32, LT_CPU, N, Dt);
        if (!rc) rc = lt_tensor_copy(be, &m->text, &h);
    }
    if (!rc && c->use_id) { /* seen NULL: every item */
        uint8_t *all = seen ? NULL : malloc((size_t)N);
        if (!seen && !all) rc = lt_error(LT_ENOMEM, "rec: out of memory");
        if (all) memset(all, 1, (size_t)N);
        lt_tensor h = lt_view1(seen ? (void *)seen : all, LT_U8, LT_CPU, N);
        if (!rc) rc = lt_tensor_copy(be, &m->seen_dev, &h);
        free(all);
    }
    if (rc) return lt_rec_free(m), rc;
    *out = m;
    return 0;
}

void lt_rec_free(lt_rec *m) {
    if (!m) return;
    free_acts(m);
    lt_causal_tower_free(m->tf);
    lt_tensor *ts[] = {&m->text, &m->V, &m->dV, &m->seen_dev, &m->logq, &m->sbias};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lt_tensor_free(m->be, ts[i]);
    lt_params_free(&m->ps);
    free(m->cdf), free(m);
}

int lt_rec_set_popularity(lt_rec *m, const int64_t *freq) {
    int64_t N = m->cfg.n_items;
    double *cdf = malloc(sizeof *cdf * (size_t)N), total = 0;
    float *lq = malloc(sizeof *lq * (size_t)N);
    if (!cdf || !lq) return free(cdf), free(lq), lt_error(LT_ENOMEM, "rec: out of memory");
    for (int64_t i = 0; i < N; i++) total += (double)freq[i] + 1.0; /* +1: every item can be drawn */
    double run = 0;
    for (int64_t i = 0; i < N; i++) {
        run += (double)freq[i] + 1.0, cdf[i] = run / total;
        lq[i] = (float)log(((double)freq[i] + 1.0) / total);
    }
    int rc = m->logq.data ? 0 : lt_tensor_new(&m->logq, m->be, LT_F32, 1, &N);
    lt_tensor h = lt_view1(lq, LT_F32, LT_CPU, N);
    if (!rc) rc = lt_tensor_copy(m->be, &m->logq, &h);
    free(lq), free(m->cdf);
    m->cdf = cdf;
    return rc;
}

/* This step's shared negatives into m->hneg: S draws (uniform or by popularity, keyed by the step),
 * or the batch's own targets. Returns S. */
static int64_t draw_negatives(lt_rec *m, const lt_step *s, int64_t BT) {
    const lt_rec_config *c = &m->cfg;
    int64_t S = 0;
    if (c->sampler == LT_REC_NEG_INBATCH) {
        for (int64_t r = 0; r < BT; r++)
            if (m->htgt[r] >= 0) m->hneg[S++] = m->htgt[r];
        return S;
    }
    lt_rng r;
    lt_rng_init(&r, lt_step_seed(s, LT_SITE_NEGATIVES), lt_step_stream(s));
    for (; S < c->negatives; S++) {
        if (c->sampler == LT_REC_NEG_UNIFORM) {
            m->hneg[S] = (int32_t)lt_rng_below(&r, (uint64_t)c->n_items);
            continue;
        }
        double u = lt_rng_next_double(&r); /* the first item whose cumulative share exceeds u */
        int64_t lo = 0, hi = c->n_items - 1;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (m->cdf[mid] > u) hi = mid;
            else lo = mid + 1;
        }
        m->hneg[S] = (int32_t)lo;
    }
    return S;
}

/* V = text W^T + b (+ mask * id): training draws which id parts are dropped (keyed by the step);
 * s = NULL for inference (every seen item keeps its id part). */
static int item_vectors(lt_rec *m, const lt_step *s) {
    const lt_rec_config *c = &m->cfg;
    if (c->text_dim) {
        LT_TRY(lt_matmul(m->be, &m->V, &m->text, 0, &m->tw->value, 1, 1.0f, 0.0f));
        LT_TRY(lt_bias_add(m->be, &m->V, &m->tb->value));
    } else {
        LT_TRY(lt_fill(m->be, &m->V, 0.0f));
    }
    if (!c->use_id) return 0;
    /* the draw is over the catalog, not the batch: keyed without the rank, so every rank of a
     * data-parallel step drops the same ids, as one rank with the whole batch would; drawn on the
     * backend, row by row (nothing catalog-sized is built on the host or copied) */
    m->id_seed = s ? lt_rng_key(s->seed, 0, LT_SITE_ID_DROPOUT) : 0, m->id_stream = s ? lt_step_stream(s) : 0;
    m->id_p = s ? c->id_dropout : 0.0f;
    return lt_row_dropout_acc(m->be, &m->V, &m->id->value, &m->seen_dev, m->id_p, m->id_seed, m->id_stream);
}

/* The backward of the inputs, whatever the tower: dX[BT, d] (from the tower) through X = sqrt(d) V[ids]
 * into dV, then dV into the text projection and the id table (only the rows whose id part was used). */
static int inputs_bwd(lt_rec *m, int64_t BT) {
    const lt_rec_config *c = &m->cfg;
    int64_t d = c->dim;
    lt_tensor dX2 = lt_view2(m->dX.data, LT_F32, m->dX.device, BT, d), ids = lt_view1(m->ids.data, LT_I32, m->ids.device, BT);
    LT_TRY(lt_scale(m->be, &dX2, &dX2, sqrtf((float)d)));
    LT_TRY(lt_embedding_bwd(m->be, &m->dV, &dX2, &ids));
    if (c->text_dim) {
        LT_TRY(lt_matmul(m->be, &m->tw->grad, &m->dV, 1, &m->text, 0, 1.0f, 1.0f));
        LT_TRY(lt_bias_bwd(m->be, &m->tb->grad, &m->dV));
    }
    if (c->use_id) LT_TRY(lt_row_dropout_acc(m->be, &m->id->grad, &m->dV, &m->seen_dev, m->id_p, m->id_seed, m->id_stream));
    return 0;
}

/* ---- tower = transformer: the causal self-attention tower of sasrec.h -------------------------------- */

#define TF_PREFIX "user.sasrec."

static int transformer_create(lt_rec *m, uint64_t seed) {
    const lt_rec_config *c = &m->cfg;
    lt_causal_config tc = {.dim = c->dim, .heads = c->heads, .layers = c->layers, .ffn = c->dim, .max_len = c->max_len,
                           .dropout = c->dropout};
    lt_rng r;
    lt_rng_init(&r, seed, 1);
    return lt_causal_tower_create(&m->tf, &m->ps, TF_PREFIX, &tc, &r);
}

/* Training: U[B T, d] = the tower's output at every position. Inference: U[b] = its output at position
 * lens[b] - 1, or the final LayerNorm's bias (the output for no input) for an empty history. */
static int transformer_fwd(lt_rec *m, int64_t B, int64_t T, const lt_step *s, int want_seq) {
    int64_t d = m->cfg.dim;
    lt_tensor X = lt_view3(m->X.data, LT_F32, m->X.device, B, T, d);
    LT_TRY(lt_causal_tower_forward(m->tf, &X, m->hlens, s != NULL, s ? lt_step_seed(s, LT_SITE_DROPOUT) : 0,
                                   s ? lt_step_stream(s) : 0));
    const lt_tensor *out = lt_causal_tower_output(m->tf);
    lt_tensor o2 = lt_view2(out->data, LT_F32, out->device, B * T, d);
    if (want_seq) {
        lt_tensor U = lt_view2(m->U.data, LT_F32, m->U.device, B * T, d);
        return lt_tensor_copy(m->be, &U, &o2);
    }
    for (int64_t b = 0; b < B; b++) m->hids[b] = (int32_t)(b * T + (m->hlens[b] > 0 ? m->hlens[b] - 1 : 0));
    lt_tensor hid = lt_view1(m->hids, LT_I32, LT_CPU, B), ids = lt_view1(m->ids.data, LT_I32, m->ids.device, B);
    lt_tensor U = lt_view2(m->U.data, LT_F32, m->U.device, B, d);
    LT_TRY(lt_tensor_copy(m->be, &ids, &hid));
    LT_TRY(lt_embedding_fwd(m->be, &U, &o2, &ids));
    lt_param *bias = lt_params_find(&m->ps, TF_PREFIX "ln_f.bias");
    for (int64_t b = 0; b < B; b++)
        if (m->hlens[b] <= 0) {
            lt_tensor row = lt_view1((float *)m->U.data + b * d, LT_F32, m->U.device, d);
            LT_TRY(lt_tensor_copy(m->be, &row, &bias->value));
        }
    return 0;
}

/* After the loss's backward (dU and dV hold their gradients): the tower, then the inputs X = sqrt(d) V[ids]
 * and V itself, as the rnn path of lt_rec_train_batch. */
static int transformer_bwd(lt_rec *m, int64_t B, int64_t Ti) {
    int64_t d = m->cfg.dim, BT = B * Ti;
    lt_tensor dU = lt_view3(m->dU.data, LT_F32, m->dU.device, B, Ti, d), dX = lt_view3(m->dX.data, LT_F32, m->dX.device, B, Ti, d);
    LT_TRY(lt_fill(m->be, &dX, 0.0f));
    LT_TRY(lt_causal_tower_backward(m->tf, &dU, &dX));
    return inputs_bwd(m, BT);
}

/* The tower over X[B, T, d] (already gathered and scaled): Y = rnn(X), then U = P dropout(Y) + c. */
static int tower_fwd(lt_rec *m, int64_t B, int64_t T, const lt_step *s, int want_seq) {
    if (m->tf) return transformer_fwd(m, B, T, s, want_seq);
    int64_t d = m->cfg.dim, H = m->cfg.hidden;
    lt_tensor X = lt_view3(m->X.data, LT_F32, m->X.device, B, T, d), Y = lt_view3(m->Y.data, LT_F32, m->Y.device, B, T, H);
    lt_tensor lens = lt_view1(m->hlens, LT_I32, LT_CPU, B), hT = lt_view2(m->hT.data, LT_F32, m->hT.device, B, H);
    lt_tensor cT = lt_view2(m->cT.data, LT_F32, m->cT.device, B, H), ws = lt_view1(m->ws.data, LT_U8, m->ws.device, (int64_t)m->ws_bytes);
    LT_TRY(lt_rnn_fwd(m->be, m->cfg.cell, &Y, &hT, m->cfg.cell == LT_CELL_LSTM ? &cT : NULL, s ? &ws : NULL, &X,
                      &m->wih->value, &m->whh->value, &m->bih->value, &m->bhh->value, NULL, NULL, &lens));
    if (!want_seq) { /* inference: the state after each history */
        lt_tensor U = lt_view2(m->U.data, LT_F32, m->U.device, B, d);
        LT_TRY(lt_matmul(m->be, &U, &hT, 0, &m->pw->value, 1, 1.0f, 0.0f));
        return lt_bias_add(m->be, &U, &m->pb->value);
    }
    lt_tensor Yd = lt_view2(m->Yd.data, LT_F32, m->Yd.device, B * T, H), U = lt_view2(m->U.data, LT_F32, m->U.device, B * T, d);
    lt_tensor Y2 = lt_view2(m->Y.data, LT_F32, m->Y.device, B * T, H);
    LT_TRY(lt_dropout_fwd(m->be, &Yd, &Y2, m->cfg.dropout, lt_step_seed(s, LT_SITE_DROPOUT), lt_step_stream(s)));
    LT_TRY(lt_matmul(m->be, &U, &Yd, 0, &m->pw->value, 1, 1.0f, 0.0f));
    return lt_bias_add(m->be, &U, &m->pb->value);
}

/* ids -> X = sqrt(d) V[ids] */
static int gather_inputs(lt_rec *m, int64_t B, int64_t T) {
    int64_t d = m->cfg.dim;
    lt_tensor hid = lt_view1(m->hids, LT_I32, LT_CPU, B * T), ids = lt_view1(m->ids.data, LT_I32, m->ids.device, B * T);
    lt_tensor X = lt_view2(m->X.data, LT_F32, m->X.device, B * T, d);
    LT_TRY(lt_tensor_copy(m->be, &ids, &hid));
    LT_TRY(lt_embedding_fwd(m->be, &X, &m->V, &ids));
    return lt_scale(m->be, &X, &X, sqrtf((float)d));
}

/* The tower's gradients are final (lt_params_ready): the trainer may reduce them while the inputs'
 * backward runs. Called at the same point on every rank, an empty share of a batch included. */
static int tower_ready(lt_rec *m) {
    lt_param *ps[] = {m->pw, m->pb, m->wih, m->whh, m->bih, m->bhh};
    return m->tf ? 0 : lt_params_ready(&m->ps, ps, 6);
}

int lt_rec_train_batch(lt_rec *m, const int32_t *items, const int32_t *lens, int64_t B, int64_t T, const lt_step *s,
                       double *loss_out) {
    const lt_rec_config *c = &m->cfg;
    int64_t Ti = T - 1, d = c->dim, H = c->hidden, N = c->n_items; /* Ti input steps */
    if (T < 2) return lt_error(LT_EINVAL, "rec: a training batch needs histories of at least 2 items");
    *loss_out = 0;
    LT_TRY(reserve(m, B > 0 ? B : 1, Ti));
    int64_t BT = B * Ti, count = 0;
    for (int64_t b = 0; b < B; b++) {
        int32_t len = lens[b] > T ? (int32_t)T : lens[b];
        m->hlens[b] = len > 1 ? len - 1 : 0;
        for (int64_t t = 0; t < Ti; t++) {
            int valid = t < m->hlens[b];
            m->hids[b * Ti + t] = valid ? items[b * T + t] : 0;
            m->htgt[b * Ti + t] = valid ? items[b * T + t + 1] : -1;
            count += valid;
        }
    }
    /* the loss is the mean over the global batch's targets: on several ranks, this rank's part
     * of the gradient is scaled by ranks / (targets of every rank), and the trainer's average over
     * the ranks makes it the single-rank mean */
    int64_t all = count;
    LT_TRY(lt_step_sum_i64(s, &all));
    if (!all) return lt_error(LT_EINVAL, "rec: a training batch without a single target");
    if (!count) return tower_ready(m); /* this rank's share of a short last batch is empty */
    int ranks = s && s->ranks > 1 ? s->ranks : 1;
    for (int64_t r = 0; r < BT; r++) m->hdl[r] = m->htgt[r] >= 0 ? (float)ranks / (float)all : 0.0f;
    lt_tensor tgt = lt_view1(m->tgt.data, LT_I32, m->tgt.device, BT), htgt = lt_view1(m->htgt, LT_I32, LT_CPU, BT);
    lt_tensor dl = lt_view1(m->dloss.data, LT_F32, m->dloss.device, BT), hdl = lt_view1(m->hdl, LT_F32, LT_CPU, BT);
    lt_tensor loss = lt_view1(m->loss.data, LT_F32, m->loss.device, BT), lse = lt_view1(m->lse.data, LT_F32, m->lse.device, BT);
    lt_tensor hloss = lt_view1(m->hloss, LT_F32, LT_CPU, BT);
    lt_tensor work = lt_view1(m->work.data, LT_F32, m->work.device, BT * (c->chunk < N ? c->chunk : N));
    lt_tensor U = lt_view2(m->U.data, LT_F32, m->U.device, BT, d), dU = lt_view2(m->dU.data, LT_F32, m->dU.device, BT, d);
    LT_TRY(lt_tensor_copy(m->be, &tgt, &htgt));
    LT_TRY(lt_tensor_copy(m->be, &dl, &hdl));
    /* forward */
    LT_TRY(item_vectors(m, s));
    LT_TRY(gather_inputs(m, B, Ti));
    LT_TRY(tower_fwd(m, B, Ti, s, 1));
    int sampled = c->loss == LT_REC_LOSS_SAMPLED;
    lt_tensor neg = {0}, *logq = m->logq.data && c->sampler != LT_REC_NEG_UNIFORM ? &m->logq : NULL;
    if (sampled) {
        if (c->sampler != LT_REC_NEG_UNIFORM && !m->cdf)
            return lt_error(LT_EINVAL, "rec: the popularity and in-batch samplers need lt_rec_set_popularity first");
        int64_t S = draw_negatives(m, s, BT);
        lt_tensor hneg = lt_view1(m->hneg, LT_I32, LT_CPU, S);
        neg = lt_view1(m->neg.data, LT_I32, m->neg.device, S);
        work = lt_view1(m->work.data, LT_F32, m->work.device, BT * (S + 1));
        LT_TRY(lt_tensor_copy(m->be, &neg, &hneg));
        LT_TRY(lt_sampled_xent_fwd(m->be, &loss, &lse, &U, &m->V, NULL, logq, &tgt, &neg, &work));
    } else {
        LT_TRY(lt_catalog_xent_fwd(m->be, &loss, &lse, &U, &m->V, NULL, &tgt, c->chunk, &work));
    }
    LT_TRY(lt_tensor_copy(m->be, &hloss, &loss));
    double sum = 0;
    for (int64_t r = 0; r < BT; r++) sum += m->htgt[r] >= 0 ? m->hloss[r] : 0.0;
    *loss_out = sum * (double)ranks / (double)all; /* the trainer averages it over the ranks */
    /* backward: the loss -> U and V; the projection; dropout; the recurrent layer; the inputs -> V */
    LT_TRY(lt_fill(m->be, &dU, 0.0f));
    LT_TRY(lt_fill(m->be, &m->dV, 0.0f));
    if (sampled) LT_TRY(lt_sampled_xent_bwd(m->be, &dU, &m->dV, NULL, &dl, &U, &m->V, NULL, logq, &tgt, &neg, &lse, &work));
    else LT_TRY(lt_catalog_xent_bwd(m->be, &dU, &m->dV, NULL, &dl, &U, &m->V, NULL, &tgt, &lse, c->chunk, &work));
    if (m->tf) return transformer_bwd(m, B, Ti);
    lt_tensor Yd = lt_view2(m->Yd.data, LT_F32, m->Yd.device, BT, H), dYd = lt_view2(m->dYd.data, LT_F32, m->dYd.device, BT, H);
    lt_tensor dY = lt_view2(m->dY.data, LT_F32, m->dY.device, BT, H);
    LT_TRY(lt_matmul(m->be, &m->pw->grad, &dU, 1, &Yd, 0, 1.0f, 1.0f)); /* dP += dU^T Yd */
    LT_TRY(lt_bias_bwd(m->be, &m->pb->grad, &dU));
    LT_TRY(lt_matmul(m->be, &dYd, &dU, 0, &m->pw->value, 0, 1.0f, 0.0f)); /* dYd = dU P */
    LT_TRY(lt_fill(m->be, &dY, 0.0f));
    LT_TRY(lt_dropout_bwd(m->be, &dY, &dYd, c->dropout, lt_step_seed(s, LT_SITE_DROPOUT), lt_step_stream(s)));
    lt_tensor X = lt_view3(m->X.data, LT_F32, m->X.device, B, Ti, d), dX = lt_view3(m->dX.data, LT_F32, m->dX.device, B, Ti, d);
    lt_tensor Y3 = lt_view3(m->Y.data, LT_F32, m->Y.device, B, Ti, H), dY3 = lt_view3(m->dY.data, LT_F32, m->dY.device, B, Ti, H);
    lt_tensor tlens = lt_view1(m->hlens, LT_I32, LT_CPU, B), ws = lt_view1(m->ws.data, LT_U8, m->ws.device, (int64_t)m->ws_bytes);
    LT_TRY(lt_fill(m->be, &dX, 0.0f));
    LT_TRY(lt_rnn_bwd(m->be, c->cell, &dX, &m->wih->grad, &m->whh->grad, &m->bih->grad, &m->bhh->grad, NULL, NULL, &dY3,
                      NULL, NULL, &ws, &X, &Y3, &m->wih->value, &m->whh->value, &m->bih->value, &m->bhh->value, NULL,
                      NULL, &tlens));
    LT_TRY(tower_ready(m));
    return inputs_bwd(m, BT);
}

int lt_rec_item_vectors(lt_rec *m, float *out) {
    LT_TRY(item_vectors(m, NULL));
    lt_tensor h = lt_view2(out, LT_F32, LT_CPU, m->cfg.n_items, m->cfg.dim);
    return lt_tensor_copy(m->be, &h, &m->V);
}

/* User vectors for B histories with V already computed; result in m->U[0 : B]. */
static int users_fwd(lt_rec *m, const int32_t *items, const int32_t *lens, int64_t B, int64_t T) {
    int64_t Tr = 1; /* steps actually needed: the longest history, capped at max_len */
    for (int64_t b = 0; b < B; b++) {
        int64_t l = lens[b] > m->cfg.max_len ? m->cfg.max_len : lens[b];
        if (l > Tr) Tr = l;
    }
    LT_TRY(reserve(m, B, Tr));
    for (int64_t b = 0; b < B; b++) {
        int64_t l = lens[b] > m->cfg.max_len ? m->cfg.max_len : lens[b], skip = lens[b] - l; /* the last l items */
        m->hlens[b] = (int32_t)l;
        for (int64_t t = 0; t < Tr; t++) m->hids[b * Tr + t] = t < l ? items[b * T + skip + t] : 0;
    }
    LT_TRY(gather_inputs(m, B, Tr));
    return tower_fwd(m, B, Tr, NULL, 0);
}

int lt_rec_user_vectors(lt_rec *m, const int32_t *items, const int32_t *lens, int64_t B, int64_t T, float *out) {
    LT_TRY(item_vectors(m, NULL));
    LT_TRY(users_fwd(m, items, lens, B, T));
    lt_tensor h = lt_view2(out, LT_F32, LT_CPU, B, m->cfg.dim), U = lt_view2(m->U.data, LT_F32, m->U.device, B, m->cfg.dim);
    return lt_tensor_copy(m->be, &h, &U);
}

/* ---- as an evaluation target ------------------------------------------------------------------------- */

/* Top K of u . v (+ the score bias) for each case, with the case's exclusions, through lt_score_topk:
 * the op recommend streams with, so evaluation and serving rank the same way. */
static int rec_topk(void *ctx, const lt_rec_split *s, lt_rec_phase ph, const int32_t *users, int64_t n, int K,
                    int32_t *top) {
    lt_rec *m = ctx;
    lt_backend *be = m->be;
    int64_t d = m->cfg.dim, T = 1, ne = 0;
    int32_t *lens = malloc(sizeof *lens * (size_t)n);
    int64_t *off = malloc(sizeof *off * (size_t)(n + 1));
    int rc = lens && off ? 0 : lt_error(LT_ENOMEM, "rec: out of memory");
    for (int64_t i = 0; i < n && !rc; i++) {
        const int32_t *ex;
        int64_t h = lt_rec_excluded(s, ph, users[i], &ex); /* the input history is never longer */
        if (h > T) T = h;
        ne += h;
    }
    int32_t *items = rc ? NULL : calloc((size_t)(n * T), sizeof *items), *ids = rc ? NULL : malloc(sizeof *ids * (size_t)(ne + 1));
    float *vals = rc ? NULL : malloc(sizeof *vals * (size_t)(n * K));
    if (!rc && (!items || !ids || !vals)) rc = lt_error(LT_ENOMEM, "rec: out of memory");
    if (!rc) off[0] = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        lens[i] = (int32_t)lt_rec_history(s, ph, users[i], items + i * T);
        const int32_t *ex;
        int64_t h = lt_rec_excluded(s, ph, users[i], &ex);
        memcpy(ids + off[i], ex, sizeof *ids * (size_t)h);
        off[i + 1] = off[i] + h;
    }
    for (int64_t i = 0; i < n * K && !rc; i++) vals[i] = -INFINITY, top[i] = -1;
    if (!rc) rc = item_vectors(m, NULL);
    if (!rc) rc = users_fwd(m, items, lens, n, T);
    /* the running top-K and the exclusion CSR on the backend's device */
    lt_tensor dv = {0}, di = {0}, doff = {0}, dids = {0};
    int64_t nk[2] = {n, K}, n1 = n + 1, ne1 = ne + 1;
    lt_tensor hv = lt_view2(vals, LT_F32, LT_CPU, n, K), hi = lt_view2(top, LT_I32, LT_CPU, n, K);
    lt_tensor hoff = lt_view1(off, LT_I64, LT_CPU, n1), hids = lt_view1(ids, LT_I32, LT_CPU, ne1);
    if (!rc) rc = lt_tensor_new(&dv, be, LT_F32, 2, nk);
    if (!rc) rc = lt_tensor_new(&di, be, LT_I32, 2, nk);
    if (!rc) rc = lt_tensor_new(&doff, be, LT_I64, 1, &n1);
    if (!rc) rc = lt_tensor_new(&dids, be, LT_I32, 1, &ne1);
    if (!rc) rc = lt_tensor_copy(be, &dv, &hv);
    if (!rc) rc = lt_tensor_copy(be, &di, &hi);
    if (!rc) rc = lt_tensor_copy(be, &doff, &hoff);
    if (!rc) rc = lt_tensor_copy(be, &dids, &hids);
    lt_tensor U = lt_view2(m->U.data, LT_F32, m->U.device, n, d);
    if (!rc) rc = lt_score_topk(be, &dv, &di, &U, &m->V, m->sbias.data ? &m->sbias : NULL, 0, &doff, &dids);
    if (!rc) rc = lt_tensor_copy(be, &hi, &di);
    lt_tensor *ts[] = {&dv, &di, &doff, &dids};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lt_tensor_free(be, ts[i]);
    free(lens), free(off), free(items), free(ids), free(vals);
    return rc;
}

int lt_rec_set_score_bias(lt_rec *m, const float *bias) {
    if (!bias) return lt_tensor_free(m->be, &m->sbias), 0;
    int64_t N = m->cfg.n_items;
    if (!m->sbias.data) LT_TRY(lt_tensor_new(&m->sbias, m->be, LT_F32, 1, &N));
    lt_tensor h = lt_view1((void *)bias, LT_F32, LT_CPU, N);
    return lt_tensor_copy(m->be, &m->sbias, &h);
}

lt_rec_model lt_rec_as_model(lt_rec *m, const char *name) { return (lt_rec_model){name, m, rec_topk}; }
