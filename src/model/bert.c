/* The BERT encoder (bert.h), forward and backward, on the op table only.
 *
 * Shapes: B sequences of T tokens, N = B T rows, H hidden, NH heads of D = H / NH, F = ffn, V vocab,
 * M masked rows. Linear weights are [out, in] (torch's layout): y = x W^T + b.
 *
 * Q, K and V stay three parameters with their Hugging Face names. Each layer's are kept side by
 * side in a copy Wqkv[3H, H] and bqkv[3H] (the GEMM weights, below), so the projection is one GEMM
 * into qkv[N, 3H], the [B, T, 3, NH, D] layout the fused attention op reads: one N = 3H GEMM runs
 * faster than three N = H ones, and its backward gives dWqkv in one GEMM of M = 3H and dx in one of
 * K = 3H.
 *
 * Precision. With the backend's math set to bf16 (lt_backend_set_math; `--math bf16`, the default
 * where the hardware has bf16 units) the encoder keeps its activations, and their gradients, in
 * bf16 (adt below): every GEMM reads bf16 operands (each weight kept rounded in a bf16 copy, the
 * GEMM weights below: the fp32 parameters stay the master weights) and the tensor-core / AMX units
 * sum in fp32; weight gradients are GEMM outputs in fp32. LayerNorm, softmax and loss statistics,
 * biases and every parameter gradient stay fp32, and so does the embedding sum up to its
 * LayerNorm (x0 is rounded once, after it). The pooled vector is fp32 (mean pooling sums in fp32).
 *
 * The GEMM weights (gemm_weights): the fused Wqkv of every layer in adt and, in bf16, every other
 * weight a GEMM reads (Wo, W1, W2, the head's dense and, with the MLM head, the tied decoder) rounded
 * once into a bf16 copy. They are built by a forward and then kept until the parameters change
 * (lt_params.version: an optimizer step, a load, lt_params_touch), so a training step rounds each
 * weight once, for its forward and backward together, and inference once for every batch after. */
#include "longtail/bert.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "longtail/arena.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/safetensors.h"
#include "model/io.h"
#include "model/json.h"

#define IGNORE_INDEX (-100)

typedef struct {
    lt_param *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b, *ln1_w, *ln1_b, *i_w, *i_b, *f_w, *f_b, *ln2_w, *ln2_b;
} layer_params;

/* What a layer's forward keeps for its backward. */
typedef struct {
    lt_tensor qkv;                  /* [N, 3H] */
    lt_tensor att;                  /* [N, H]  attention output, heads side by side */
    lt_tensor lse;                  /* [B, NH, T] */
    lt_tensor s1, mean1, rstd1, x1; /* s1 = x + dropout(att Wo^T + bo) [N, H]; x1 = LayerNorm(s1) */
    lt_tensor pre, g;               /* [N, F]: x1 W1^T, gelu(pre + b1) */
    lt_tensor s2, mean2, rstd2;     /* s2 = x1 + dropout(g W2^T + b2) */
    lt_tensor out;                  /* [N, H] LayerNorm(s2): the next layer's input */
} layer_acts;

struct lt_bert {
    lt_bert_config cfg;
    lt_backend *be;
    lt_params ps;
    lt_param *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    layer_params *lp;
    lt_param *head_w, *head_b, *head_ln_w, *head_ln_b, *head_bias; /* MLM head, or NULL */

    /* activations: one arena, carved again for each forward (carve() lists every buffer) */
    lt_arena arena;
    int64_t max_M;
    int reserved, training, counting;
    lt_dtype adt; /* activations: LT_BF16 when the backend's math is bf16, else LT_F32 */
    size_t need;
    int32_t *host_i32; /* host staging: [CLS] row ids and MLM rows */
    int64_t host_cap;

    /* the last forward */
    int64_t B, T, N;
    int train, have_fwd;
    uint64_t seed, step;
    lt_tensor ids, lens, cls_ids;     /* i32 [B, T], [B], [B] */
    lt_tensor e, emb_mean, emb_rstd;  /* embedding sum [N, H] and its LayerNorm statistics */
    lt_tensor x0;                     /* [N, H] dropout(LayerNorm(e)), in adt */
    lt_tensor x0f, def;               /* bf16 only, f32 [N, H]: LayerNorm(e) before rounding; d(e) */
    lt_tensor cls_act;                /* bf16 only, [B, H]: the [CLS] rows gathered before widening */
    layer_acts *acts;
    lt_tensor hidden;                 /* [B, T, H] view of the last layer's output */
    lt_tensor pooled_raw, pooled, norm; /* [B, H], [B, H], [B] */
    /* the MLM head (max_M rows reserved, mlm_n used) */
    int64_t mlm_n, mlm_count;
    lt_tensor mpos, mtgt, mh, mpre, mg, mln, mmean, mrstd, logits, mlse, mloss;
    /* the GEMM weights (gemm_weights), in their own arena: per layer Wqkv [3H, H] in wdt and bqkv
     * [3H], and in bf16 a copy of each other GEMM weight (wcopy[i] for parameter i; data NULL: none) */
    lt_arena warena;
    lt_dtype wdt;
    uint64_t wver; /* lt_params.version they were made at */
    lt_tensor *wqkv, *bqkv, *wcopy;
    /* backward scratch (training only) */
    lt_tensor dA, dB, ds, dx1, dqkv, dpre, dg, dwqkv, dbqkv, dpooled, dloss, dlogits, dmln, dmg, dmpre, dmh;
};

/* ---- configuration ----------------------------------------------------------------------------- */

void lt_bert_config_init(lt_bert_config *c) {
    *c = (lt_bert_config){.vocab = 30522, .hidden = 768, .layers = 12, .heads = 12, .ffn = 3072, .max_pos = 512,
                          .type_vocab = 2, .pad_id = 0, .ln_eps = 1e-12f, .dropout = 0.1f, .pool = LT_BERT_POOL_MEAN,
                          .normalize = 1, .mlm_head = 0};
}

int lt_bert_config_check(const lt_bert_config *c) {
    const struct {
        const char *name;
        int64_t v;
    } sizes[] = {{"vocab", c->vocab},     {"hidden", c->hidden},   {"layers", c->layers},
                 {"heads", c->heads},     {"ffn", c->ffn},         {"max_pos", c->max_pos},
                 {"type_vocab", c->type_vocab}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].v < 1 || sizes[i].v > INT32_MAX)
            return lt_error(LT_ECONFIG, "bert: %s = %lld must be in 1..2^31-1", sizes[i].name, (long long)sizes[i].v);
    if (c->hidden % c->heads)
        return lt_error(LT_ECONFIG, "bert: hidden %lld is not divisible by heads %lld", (long long)c->hidden,
                        (long long)c->heads);
    if (c->pad_id < -1 || c->pad_id >= c->vocab)
        return lt_error(LT_ECONFIG, "bert: pad_id = %lld must be in -1..vocab-1 (%lld)", (long long)c->pad_id,
                        (long long)c->vocab);
    if (!(c->ln_eps > 0)) return lt_error(LT_ECONFIG, "bert: ln_eps = %g must be > 0", c->ln_eps);
    if (!(c->dropout >= 0 && c->dropout < 1)) return lt_error(LT_ECONFIG, "bert: dropout = %g must be in [0, 1)", c->dropout);
    if (c->pool != LT_BERT_POOL_MEAN && c->pool != LT_BERT_POOL_CLS)
        return lt_error(LT_ECONFIG, "bert: pool = %d is neither mean nor cls", (int)c->pool);
    return 0;
}

static int json_int(const lt_json_doc *d, const char *key, int required, int64_t *out) {
    const lt_json *v = lt_json_get(d, lt_json_root(d), key);
    if (!v) return required ? lt_error(LT_ECONFIG, "config.json: no %s", key) : 0;
    if (v->type != LT_JSON_NUMBER || !v->is_int)
        return lt_error(LT_ECONFIG, "config.json: %s must be an integer (got a %s)", key, lt_json_type_name(v->type));
    *out = v->i;
    return 0;
}

static int json_float(const lt_json_doc *d, const char *key, float *out) {
    const lt_json *v = lt_json_get(d, lt_json_root(d), key);
    if (!v) return 0;
    if (v->type != LT_JSON_NUMBER)
        return lt_error(LT_ECONFIG, "config.json: %s must be a number (got a %s)", key, lt_json_type_name(v->type));
    *out = (float)v->num;
    return 0;
}

/* A string field that, when present, must be one of the accepted values; *which = its index. */
static int json_choice(const lt_json_doc *d, const char *key, const char *const *ok, int nok, const char *why, int *which) {
    const lt_json *v = lt_json_get(d, lt_json_root(d), key);
    if (!v) return 0;
    if (v->type == LT_JSON_STRING)
        for (int i = 0; i < nok; i++)
            if (!strcmp(v->str, ok[i])) return *which = i, 0;
    return lt_error(LT_ECONFIG, "config.json: %s = %s%s%s is not supported (%s)", key, v->type == LT_JSON_STRING ? "\"" : "",
                    v->type == LT_JSON_STRING ? v->str : lt_json_type_name(v->type), v->type == LT_JSON_STRING ? "\"" : "",
                    why);
}

int lt_bert_config_from_json(lt_bert_config *c, const char *json, size_t len) {
    lt_json_doc d;
    int rc = lt_json_parse(&d, json, len);
    if (rc < 0) return lt_error_wrap(rc, "config.json: ");
    int mlm = c->mlm_head, act = 0, posk = 0, pool = 0;
    lt_bert_config_init(c);
    c->mlm_head = mlm;
    static const char *const gelu[] = {"gelu"}, *const absolute[] = {"absolute"}, *const pools[] = {"mean", "cls"},
                             *const bert[] = {"bert"};
    if (lt_json_root(&d)->type != LT_JSON_OBJECT) rc = lt_error(LT_ECONFIG, "config.json: not a JSON object");
    if (!rc) rc = json_int(&d, "vocab_size", 1, &c->vocab);
    if (!rc) rc = json_int(&d, "hidden_size", 1, &c->hidden);
    if (!rc) rc = json_int(&d, "num_hidden_layers", 1, &c->layers);
    if (!rc) rc = json_int(&d, "num_attention_heads", 1, &c->heads);
    if (!rc) rc = json_int(&d, "intermediate_size", 1, &c->ffn);
    if (!rc) rc = json_int(&d, "max_position_embeddings", 0, &c->max_pos);
    if (!rc) rc = json_int(&d, "type_vocab_size", 0, &c->type_vocab);
    const lt_json *pad = rc ? NULL : lt_json_get(&d, lt_json_root(&d), "pad_token_id");
    if (pad && pad->type == LT_JSON_NULL) c->pad_id = -1;
    else if (!rc) rc = json_int(&d, "pad_token_id", 0, &c->pad_id);
    if (!rc) rc = json_float(&d, "layer_norm_eps", &c->ln_eps);
    if (!rc) rc = json_float(&d, "hidden_dropout_prob", &c->dropout);
    if (!rc) rc = json_choice(&d, "hidden_act", gelu, 1, "the encoder computes the exact erf GELU, \"gelu\"", &act);
    if (!rc) rc = json_choice(&d, "position_embedding_type", absolute, 1, "only absolute positions", &posk);
    if (!rc) rc = json_choice(&d, "longtail_pooling", pools, 2, "\"mean\" or \"cls\"", &pool);
    if (!rc) rc = json_choice(&d, "model_type", bert, 1, "longtail runs BERT encoders only, \"bert\"", &(int){0});
    c->pool = pool ? LT_BERT_POOL_CLS : LT_BERT_POOL_MEAN;
    const lt_json *nz = rc ? NULL : lt_json_get(&d, lt_json_root(&d), "longtail_normalize");
    if (nz && nz->type != LT_JSON_BOOL) rc = lt_error(LT_ECONFIG, "config.json: longtail_normalize must be true or false");
    if (nz && !rc) c->normalize = nz->num != 0;
    lt_json_free(&d);
    return rc ? rc : lt_bert_config_check(c);
}

/* ---- parameters ---------------------------------------------------------------------------------- */

/* Adds parameters by name, remembering their indices: lt_params_add may move the array, so the
 * pointers are resolved once all are in. */
typedef struct {
    lt_bert *m;
    int rc, n, cap;
    lt_param ***slot;
    int *index;
} adder;

static void add(adder *a, lt_param **slot, const char *name, int64_t d0, int64_t d1) {
    if (a->rc) return;
    if (a->n == a->cap) {
        a->rc = lt_error(LT_EINVAL, "bert: more parameters than counted");
        return;
    }
    int64_t shape[2] = {d0, d1};
    int ndim = d1 ? 2 : 1;
    a->rc = lt_params_add(&a->m->ps, name, ndim, shape, ndim == 2, NULL); /* no decay on biases and LayerNorm */
    if (!a->rc) a->slot[a->n] = slot, a->index[a->n++] = a->m->ps.n - 1;
}

static int define_params(lt_bert *m) {
    const lt_bert_config *c = &m->cfg;
    int64_t H = c->hidden, F = c->ffn;
    adder a = {.m = m, .cap = (int)(10 + 16 * c->layers)};
    a.slot = malloc(sizeof *a.slot * (size_t)a.cap);
    a.index = malloc(sizeof *a.index * (size_t)a.cap);
    if (!a.slot || !a.index) a.rc = lt_error(LT_ENOMEM, "bert: out of memory");
    char n[96];
    add(&a, &m->word, "embeddings.word_embeddings.weight", c->vocab, H);
    add(&a, &m->pos, "embeddings.position_embeddings.weight", c->max_pos, H);
    add(&a, &m->type, "embeddings.token_type_embeddings.weight", c->type_vocab, H);
    add(&a, &m->emb_ln_w, "embeddings.LayerNorm.weight", H, 0);
    add(&a, &m->emb_ln_b, "embeddings.LayerNorm.bias", H, 0);
    for (int64_t l = 0; l < c->layers; l++) {
        layer_params *p = &m->lp[l];
        struct {
            lt_param **w, **b;
            const char *name;
            int64_t out, in;
        } lin[] = {{&p->q_w, &p->q_b, "attention.self.query", H, H},     {&p->k_w, &p->k_b, "attention.self.key", H, H},
                   {&p->v_w, &p->v_b, "attention.self.value", H, H},     {&p->o_w, &p->o_b, "attention.output.dense", H, H},
                   {&p->ln1_w, &p->ln1_b, "attention.output.LayerNorm", H, 0}, {&p->i_w, &p->i_b, "intermediate.dense", F, H},
                   {&p->f_w, &p->f_b, "output.dense", H, F},             {&p->ln2_w, &p->ln2_b, "output.LayerNorm", H, 0}};
        for (size_t i = 0; i < sizeof lin / sizeof *lin; i++) {
            snprintf(n, sizeof n, "encoder.layer.%lld.%s.weight", (long long)l, lin[i].name);
            add(&a, lin[i].w, n, lin[i].out, lin[i].in);
            snprintf(n, sizeof n, "encoder.layer.%lld.%s.bias", (long long)l, lin[i].name);
            add(&a, lin[i].b, n, lin[i].out, 0);
        }
    }
    if (c->mlm_head) {
        add(&a, &m->head_w, "cls.predictions.transform.dense.weight", H, H);
        add(&a, &m->head_b, "cls.predictions.transform.dense.bias", H, 0);
        add(&a, &m->head_ln_w, "cls.predictions.transform.LayerNorm.weight", H, 0);
        add(&a, &m->head_ln_b, "cls.predictions.transform.LayerNorm.bias", H, 0);
        add(&a, &m->head_bias, "cls.predictions.bias", c->vocab, 0);
    }
    for (int i = 0; i < a.n && !a.rc; i++) *a.slot[i] = &m->ps.p[a.index[i]];
    free(a.slot), free(a.index);
    return a.rc ? a.rc : lt_params_layout(&m->ps); /* one slab for the values, one for the gradients */
}

static int is_head(const lt_param *p) { return !strncmp(p->name, "cls.", 4); }

/* BERT's initialisation: N(0, 0.02) for matrices, 1 for LayerNorm weights, 0 for biases. */
static int init_param(lt_bert *m, lt_param *p, lt_rng *r) {
    if (p->value.ndim == 2) return lt_param_init_normal(&m->ps, p, r, 0.02f);
    return lt_param_init_const(&m->ps, p, strstr(p->name, "LayerNorm.weight") ? 1.0f : 0.0f);
}

/* The model with its parameters allocated (zero) but not initialised. */
static int bert_new(lt_bert **out, lt_backend *be, const lt_bert_config *cfg) {
    *out = NULL;
    LT_TRY(lt_bert_config_check(cfg));
    lt_bert *m = calloc(1, sizeof *m);
    if (!m) return lt_error(LT_ENOMEM, "bert: out of memory");
    m->cfg = *cfg;
    m->be = be;
    lt_params_init(&m->ps, be);
    m->lp = calloc((size_t)cfg->layers, sizeof *m->lp);
    m->acts = calloc((size_t)cfg->layers, sizeof *m->acts);
    int rc = m->lp && m->acts ? define_params(m) : lt_error(LT_ENOMEM, "bert: out of memory");
    if (rc) {
        lt_bert_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int lt_bert_create(lt_bert **out, lt_backend *be, const lt_bert_config *cfg, uint64_t seed) {
    lt_bert *m;
    LT_TRY(bert_new(&m, be, cfg));
    lt_rng r;
    lt_rng_init(&r, seed, 0);
    int rc = 0;
    for (int i = 0; i < m->ps.n && !rc; i++) rc = init_param(m, &m->ps.p[i], &r);
    if (rc) {
        lt_bert_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void lt_bert_free(lt_bert *m) {
    if (!m) return;
    lt_params_free(&m->ps);
    lt_arena_free(&m->arena);
    lt_arena_free(&m->warena);
    free(m->wqkv), free(m->bqkv), free(m->wcopy);
    free(m->lp), free(m->acts), free(m->host_i32), free(m);
}

const lt_bert_config *lt_bert_get_config(const lt_bert *m) { return &m->cfg; }

int lt_bert_set_pool(lt_bert *m, lt_bert_pool pool) {
    if (pool != LT_BERT_POOL_MEAN && pool != LT_BERT_POOL_CLS)
        return lt_error(LT_EINVAL, "bert: pool = %d is neither mean nor cls", (int)pool);
    m->cfg.pool = pool;
    m->have_fwd = 0;
    return 0;
}
lt_params *lt_bert_params(lt_bert *m) { return &m->ps; }

/* ---- loading and saving ----------------------------------------------------------------------------- */

static int read_text(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return lt_error(errno == ENOENT ? LT_ENOENT : LT_EIO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n + 4096 > cap) {
            char *b = realloc(buf, cap = 2 * cap + 4096);
            if (!b) {
                rc = lt_error(LT_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    if (!rc && ferror(f)) rc = lt_error(LT_EIO, "%s: read failed", path);
    fclose(f);
    if (rc) free(buf);
    else *text = buf, *len = n;
    return rc;
}

/* The checkpoint's tensor for a parameter: the name itself, with the "bert." prefix, and with
 * LayerNorm gamma/beta for weight/bias. */
static const lt_st_tensor *find_tensor(const lt_safetensors *st, const char *name) {
    char alt[136], base[128];
    snprintf(base, sizeof base, "%s", name);
    for (int gamma = 0; gamma < 2; gamma++) {
        if (gamma) { /* old TF conversions: LayerNorm.gamma / LayerNorm.beta */
            char *ln = strstr(base, "LayerNorm.");
            if (!ln) break;
            const char *what = !strcmp(ln + 10, "weight") ? "gamma" : !strcmp(ln + 10, "bias") ? "beta" : NULL;
            if (!what) break;
            snprintf(ln + 10, sizeof base - (size_t)(ln + 10 - base), "%s", what);
        }
        const lt_st_tensor *t = lt_safetensors_find(st, base);
        if (t) return t;
        snprintf(alt, sizeof alt, "bert.%s", base);
        if ((t = lt_safetensors_find(st, alt))) return t;
    }
    return NULL;
}

static int load_param(lt_bert *m, lt_param *p, const lt_st_tensor *t, const char *file) {
    int same = t->ndim == p->value.ndim;
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == p->value.shape[i];
    if (!same) {
        char want[96], got[96];
        int k = snprintf(got, sizeof got, "[");
        for (int i = 0; i < t->ndim && k < (int)sizeof got; i++)
            k += snprintf(got + k, sizeof got - (size_t)k, i ? ",%lld" : "%lld", (long long)t->shape[i]);
        snprintf(got + (k < (int)sizeof got ? k : (int)sizeof got - 1), sizeof got - (size_t)(k < (int)sizeof got ? k : (int)sizeof got - 1), "]");
        return lt_error(LT_ESHAPE, "%s: tensor %s has shape %s%s, the model (config.json) needs %s", file, t->name,
                        lt_st_dtype_name(t->dtype), got, lt_tensor_str(&p->value, want, sizeof want));
    }
    float *h = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    if (!h) return lt_error(LT_ENOMEM, "%s: no memory for tensor %s", file, t->name);
    int rc = lt_st_to_f32(t, h);
    if (!rc) {
        lt_tensor host = lt_view(h, LT_F32, LT_CPU, p->value.ndim, p->value.shape);
        rc = lt_tensor_copy(m->be, &p->value, &host);
        lt_params_touch(&m->ps);
    }
    free(h);
    return rc < 0 ? lt_error_wrap(rc, "%s: ", file) : 0;
}

/* The sizes of config.json against the tensors in the safetensors header, before the model is
 * allocated: a config that does not describe the file (100000 layers against a 2-layer file, another
 * vocabulary or width) fails at once, naming both, instead of after allocating for it. */
static int check_header(const lt_bert_config *c, const lt_safetensors *st, const char *cfg_path, const char *path) {
    int64_t file_layers = 0;
    for (int i = 0; i < st->n; i++) {
        const char *n = st->t[i].name;
        if (!strncmp(n, "bert.", 5)) n += 5;
        if (strncmp(n, "encoder.layer.", 14)) continue;
        char *end;
        long long k = strtoll(n + 14, &end, 10);
        if (end != n + 14 && *end == '.' && k >= 0 && k < (1ll << 31) && k + 1 > file_layers) file_layers = k + 1;
    }
    if (file_layers != c->layers)
        return lt_error(LT_ESHAPE, "%s: num_hidden_layers = %lld, but %s holds %lld encoder layer%s", cfg_path,
                        (long long)c->layers, path, (long long)file_layers, file_layers == 1 ? "" : "s");
    const struct {
        const char *name, *what;
        int64_t rows, cols;
    } want[] = {
        {"embeddings.word_embeddings.weight", "vocab_size x hidden_size", c->vocab, c->hidden},
        {"embeddings.position_embeddings.weight", "max_position_embeddings x hidden_size", c->max_pos, c->hidden},
        {"embeddings.token_type_embeddings.weight", "type_vocab_size x hidden_size", c->type_vocab, c->hidden},
        {"encoder.layer.0.intermediate.dense.weight", "intermediate_size x hidden_size", c->ffn, c->hidden},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const lt_st_tensor *t = find_tensor(st, want[i].name);
        if (!t) continue; /* reported by name when the parameters are loaded */
        if (t->ndim != 2 || t->shape[0] != want[i].rows || t->shape[1] != want[i].cols)
            return lt_error(LT_ESHAPE, "%s: %s = [%lld, %lld], but %s has %s of shape [%lld%s%lld]", cfg_path, want[i].what,
                            (long long)want[i].rows, (long long)want[i].cols, path, t->name,
                            (long long)(t->ndim > 0 ? t->shape[0] : 0), t->ndim > 1 ? ", " : "",
                            (long long)(t->ndim > 1 ? t->shape[1] : 0));
    }
    return 0;
}

int lt_bert_load(lt_bert **out, lt_backend *be, const char *dir, int mlm_head) {
    *out = NULL;
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    LT_TRY(read_text(path, &text, &len));
    lt_bert_config cfg = {.mlm_head = mlm_head};
    int rc = lt_bert_config_from_json(&cfg, text, len);
    free(text);
    if (rc) return lt_error_wrap(rc, "%s: ", path);
    char cfg_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s", path);
    lt_safetensors st;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    LT_TRY(lt_safetensors_open(&st, path));
    rc = check_header(&cfg, &st, cfg_path, path);
    lt_bert *m = NULL;
    if (!rc) rc = bert_new(&m, be, &cfg);
    if (rc) {
        lt_safetensors_close(&st);
        return rc;
    }
    lt_rng r; /* for a head the checkpoint lacks */
    lt_rng_init(&r, 0, 0);
    int missing_head = 0;
    for (int i = 0; i < m->ps.n && !rc; i++) {
        lt_param *p = &m->ps.p[i];
        const lt_st_tensor *t = find_tensor(&st, p->name);
        if (t) rc = load_param(m, p, t, path);
        else if (is_head(p)) missing_head++, rc = init_param(m, p, &r);
        else rc = lt_error(LT_ENOENT, "%s: no tensor %s (nor bert.%s), which the model (config.json) needs as %s", path,
                           p->name, p->name, lt_tensor_str(&p->value, (char[96]){0}, 96));
    }
    if (!rc && missing_head)
        lt_warn("%s: no masked-LM head (cls.predictions.*): it starts from BERT's initialisation", path);
    lt_safetensors_close(&st);
    if (rc) {
        lt_bert_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* The shortest of %.6g / %.9g that reads back as the same float. */
static const char *fmt_float(float v, char *buf, size_t n) {
    snprintf(buf, n, "%.6g", (double)v);
    if (strtof(buf, NULL) != v) snprintf(buf, n, "%.9g", (double)v);
    return buf;
}

int lt_bert_save(const lt_bert *m, const char *dir) {
    const lt_bert_config *c = &m->cfg;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return lt_error(LT_EIO, "%s: cannot create: %s", dir, strerror(errno));
    char path[4096], eps[32], drop[32], cfgtext[2048], padtext[24] = "null";
    if (c->pad_id >= 0) snprintf(padtext, sizeof padtext, "%lld", (long long)c->pad_id);
    int k = snprintf(cfgtext, sizeof cfgtext,
                     "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"bert\",\n  \"vocab_size\": %lld,\n"
                     "  \"hidden_size\": %lld,\n  \"num_hidden_layers\": %lld,\n  \"num_attention_heads\": %lld,\n"
                     "  \"intermediate_size\": %lld,\n  \"hidden_act\": \"gelu\",\n  \"hidden_dropout_prob\": %s,\n"
                     "  \"attention_probs_dropout_prob\": 0.0,\n  \"max_position_embeddings\": %lld,\n"
                     "  \"type_vocab_size\": %lld,\n  \"initializer_range\": 0.02,\n  \"layer_norm_eps\": %s,\n"
                     "  \"pad_token_id\": %s,\n  \"position_embedding_type\": \"absolute\",\n"
                     "  \"longtail_pooling\": \"%s\",\n  \"longtail_normalize\": %s\n}\n",
                     c->mlm_head ? "BertForMaskedLM" : "BertModel", (long long)c->vocab, (long long)c->hidden,
                     (long long)c->layers, (long long)c->heads, (long long)c->ffn, fmt_float(c->dropout, drop, sizeof drop),
                     (long long)c->max_pos, (long long)c->type_vocab, fmt_float(c->ln_eps, eps, sizeof eps), padtext,
                     c->pool == LT_BERT_POOL_CLS ? "cls" : "mean", c->normalize ? "true" : "false");
    snprintf(path, sizeof path, "%s/config.json", dir);
    const void *part = cfgtext;
    size_t size = (size_t)k;
    LT_TRY(lt__write_file(path, &part, &size, 1));

    /* BertForMaskedLM keeps the encoder under "bert."; the decoder weight is the word embeddings */
    int n = m->ps.n, rc = 0;
    lt_st_entry *e = calloc((size_t)n, sizeof *e);
    char (*names)[112] = calloc((size_t)n, sizeof *names);
    if (!e || !names) rc = lt_error(LT_ENOMEM, "saving bert: out of memory");
    for (int i = 0; i < n && !rc; i++) {
        const lt_param *p = &m->ps.p[i];
        snprintf(names[i], sizeof names[i], "%s%s", c->mlm_head && !is_head(p) ? "bert." : "", p->name);
        float *h = malloc(lt_nbytes(&p->value) + 1);
        lt_tensor host = lt_view(h, LT_F32, LT_CPU, p->value.ndim, p->value.shape);
        rc = h ? lt_tensor_copy(m->be, &host, &p->value) : lt_error(LT_ENOMEM, "saving bert: out of memory");
        e[i] = (lt_st_entry){names[i], p->value.ndim, p->value.shape, h};
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = lt_safetensors_write(path, e, n);
    for (int i = 0; e && i < n; i++) free((void *)e[i].data);
    free(e), free(names);
    return rc;
}

/* ---- activation memory ------------------------------------------------------------------------------ */

/* A tensor from the arena, or (while counting) only its size. */
static int take(lt_bert *m, lt_tensor *t, lt_dtype dt, int64_t d0, int64_t d1, int64_t d2) {
    int64_t shape[3] = {d0, d1, d2};
    int ndim = d2 ? 3 : d1 ? 2 : 1;
    if (!m->counting) return lt_arena_tensor(&m->arena, t, dt, ndim, shape);
    lt_tensor v = lt_view(NULL, dt, LT_CPU, ndim, shape);
    m->need += (lt_nbytes(&v) + 63) & ~(size_t)63;
    *t = v;
    return 0;
}

/* Every buffer of a step, for B x T tokens (and the reserved MLM rows), in one place: reserve()
 * runs it to count, forward() to allocate. */
static int carve(lt_bert *m, int64_t B, int64_t T) {
    const lt_bert_config *c = &m->cfg;
    int64_t N = B * T, H = c->hidden, F = c->ffn, M = m->max_M, V = c->vocab;
    LT_TRY(take(m, &m->ids, LT_I32, B, T, 0));
    LT_TRY(take(m, &m->lens, LT_I32, B, 0, 0));
    LT_TRY(take(m, &m->cls_ids, LT_I32, B, 0, 0));
    lt_dtype A = m->adt;
    LT_TRY(take(m, &m->e, LT_F32, N, H, 0));
    LT_TRY(take(m, &m->emb_mean, LT_F32, N, 0, 0));
    LT_TRY(take(m, &m->emb_rstd, LT_F32, N, 0, 0));
    LT_TRY(take(m, &m->x0, A, N, H, 0));
    if (A == LT_BF16) {
        LT_TRY(take(m, &m->x0f, LT_F32, N, H, 0));
        LT_TRY(take(m, &m->cls_act, LT_BF16, B, H, 0));
        if (m->training) LT_TRY(take(m, &m->def, LT_F32, N, H, 0));
    }
    /* forward only: every layer reuses one set, and its output overwrites its input (x0), which is
     * dead by then (read last by the first residual LayerNorm) */
    for (int64_t l = 0; l < c->layers; l++) {
        layer_acts *a = &m->acts[l];
        if (l > 0 && !m->training) {
            *a = m->acts[0];
            continue;
        }
        LT_TRY(take(m, &a->qkv, A, N, 3 * H, 0));
        LT_TRY(take(m, &a->att, A, N, H, 0));
        LT_TRY(take(m, &a->lse, LT_F32, B, c->heads, T));
        LT_TRY(take(m, &a->s1, A, N, H, 0));
        LT_TRY(take(m, &a->mean1, LT_F32, N, 0, 0));
        LT_TRY(take(m, &a->rstd1, LT_F32, N, 0, 0));
        LT_TRY(take(m, &a->x1, A, N, H, 0));
        LT_TRY(take(m, &a->pre, A, N, F, 0));
        LT_TRY(take(m, &a->g, A, N, F, 0));
        LT_TRY(take(m, &a->s2, A, N, H, 0));
        LT_TRY(take(m, &a->mean2, LT_F32, N, 0, 0));
        LT_TRY(take(m, &a->rstd2, LT_F32, N, 0, 0));
        if (m->training) LT_TRY(take(m, &a->out, A, N, H, 0));
        else a->out = m->x0;
    }
    LT_TRY(take(m, &m->pooled_raw, LT_F32, B, H, 0));
    LT_TRY(take(m, &m->pooled, LT_F32, B, H, 0));
    LT_TRY(take(m, &m->norm, LT_F32, B, 0, 0));
    if (M > 0) {
        LT_TRY(take(m, &m->mpos, LT_I32, M, 0, 0));
        LT_TRY(take(m, &m->mtgt, LT_I32, M, 0, 0));
        lt_tensor *mh[] = {&m->mh, &m->mpre, &m->mg, &m->mln};
        for (int i = 0; i < 4; i++) LT_TRY(take(m, mh[i], A, M, H, 0));
        LT_TRY(take(m, &m->mmean, LT_F32, M, 0, 0));
        LT_TRY(take(m, &m->mrstd, LT_F32, M, 0, 0));
        LT_TRY(take(m, &m->logits, A, M, V, 0));
        LT_TRY(take(m, &m->mlse, LT_F32, M, 0, 0));
        LT_TRY(take(m, &m->mloss, LT_F32, M, 0, 0));
    }
    if (!m->training) return 0;
    lt_tensor *nh[] = {&m->dA, &m->dB, &m->ds, &m->dx1};
    for (int i = 0; i < 4; i++) LT_TRY(take(m, nh[i], A, N, H, 0));
    LT_TRY(take(m, &m->dqkv, A, N, 3 * H, 0));
    LT_TRY(take(m, &m->dpre, A, N, F, 0));
    LT_TRY(take(m, &m->dg, A, N, F, 0));
    LT_TRY(take(m, &m->dwqkv, LT_F32, 3 * H, H, 0));
    LT_TRY(take(m, &m->dbqkv, LT_F32, 3 * H, 0, 0));
    LT_TRY(take(m, &m->dpooled, LT_F32, B, H, 0));
    if (M > 0) {
        LT_TRY(take(m, &m->dloss, LT_F32, M, 0, 0));
        LT_TRY(take(m, &m->dlogits, A, M, V, 0));
        lt_tensor *mh[] = {&m->dmln, &m->dmg, &m->dmpre, &m->dmh};
        for (int i = 0; i < 4; i++) LT_TRY(take(m, mh[i], A, M, H, 0));
    }
    return 0;
}

/* Bytes of activations a [B, T] batch takes. */
static size_t need_bytes(lt_bert *m, int64_t B, int64_t T) {
    m->counting = 1, m->need = 0;
    carve(m, B, T);
    m->counting = 0;
    return m->need;
}

/* Host staging for n int32 values. */
static int host_room(lt_bert *m, int64_t n) {
    if (n <= m->host_cap) return 0;
    int32_t *h = realloc(m->host_i32, sizeof(int32_t) * (size_t)n);
    if (!h) return lt_error(LT_ENOMEM, "bert: out of memory for %lld ids", (long long)n);
    m->host_i32 = h, m->host_cap = n;
    return 0;
}

int lt_bert_reserve(lt_bert *m, int64_t max_batch, int64_t max_len, int64_t max_masked, int training) {
    if (max_batch < 1 || max_len < 1 || max_len > m->cfg.max_pos || max_masked < 0)
        return lt_error(LT_EINVAL, "bert reserve: need max_batch >= 1, 1 <= max_len <= %lld and max_masked >= 0 (got %lld, %lld, %lld)",
                        (long long)m->cfg.max_pos, (long long)max_batch, (long long)max_len, (long long)max_masked);
    if (max_batch > INT32_MAX / max_len)
        return lt_error(LT_ERANGE, "bert reserve: %lld x %lld tokens exceed int32 indices", (long long)max_batch, (long long)max_len);
    lt_arena_free(&m->arena);
    m->have_fwd = m->reserved = 0;
    m->max_M = m->cfg.mlm_head ? max_masked : 0;
    m->training = training != 0;
    m->adt = lt_backend_math(m->be) == LT_MATH_BF16 ? LT_BF16 : LT_F32;
    size_t need = need_bytes(m, max_batch, max_len);
    LT_TRY(host_room(m, max_batch > 2 * m->max_M ? max_batch : 2 * m->max_M));
    int rc = lt_arena_init(&m->arena, m->be, need);
    if (rc)
        return lt_error_wrap(rc, "bert reserve (%lld x %lld tokens, %zu bytes of activations): ", (long long)max_batch,
                             (long long)max_len, need);
    m->reserved = 1;
    return 0;
}

size_t lt_bert_reserved_bytes(const lt_bert *m) { return m->arena.cap; }

/* ---- building blocks ------------------------------------------------------------------------------- */

static lt_tensor v2(const lt_tensor *t, int64_t r, int64_t c) { return lt_view2(t->data, t->dtype, t->device, r, c); }

/* rows [r0, r0 + n) of a 2-D [*, cols] tensor */
static lt_tensor rows(const lt_tensor *t, int64_t r0, int64_t n, int64_t cols) {
    return lt_view2((char *)t->data + (size_t)(r0 * cols) * lt_dtype_size(t->dtype), t->dtype, t->device, n, cols);
}

static int zero(lt_bert *m, lt_tensor *t) { return lt_backend_memset0(m->be, t->data, lt_nbytes(t)); }

/* C = op(A) op(B) + beta C, each operand in the dtype given with it. */
static int gemm(lt_bert *m, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *a, lt_dtype at, int64_t lda,
                const void *b, lt_dtype bt, int64_t ldb, float beta, void *c, lt_dtype ct, int64_t ldc) {
    lt_gemm_desc d = {.trans_a = ta, .trans_b = tb, .m = M, .n = N, .k = K, .alpha = 1, .beta = beta,
                      .a = a, .a_type = at, .lda = lda, .b = b, .b_type = bt, .ldb = ldb,
                      .c = c, .c_type = ct, .ldc = ldc, .batch = 1};
    return lt_gemm(m->be, &d);
}

/* The weight as the GEMMs read it: itself in fp32 (and the fused Wqkv, already in adt), else its bf16
 * copy among the GEMM weights. */
static int weight(lt_bert *m, const lt_param *w, const void **data) {
    *data = w->value.data;
    if (w->value.dtype == m->adt) return 0;
    ptrdiff_t i = w - m->ps.p;
    if (i < 0 || i >= m->ps.n || !m->wcopy || !(*data = m->wcopy[i].data))
        return lt_error(LT_EINVAL, "bert: %s has no %s copy among the GEMM weights", w->name, lt_dtype_name(m->adt));
    return 0;
}

/* y[rows, out] (row stride ldy) = x[rows, in] (row stride ldx) W^T, W = [out, in] */
static int linear_fwd(lt_bert *m, void *y, int64_t ldy, const void *x, int64_t ldx, const lt_param *w, int64_t n) {
    int64_t out = w->value.shape[0], in = w->value.shape[1];
    const void *wd;
    LT_TRY(weight(m, w, &wd));
    return gemm(m, 0, 1, n, out, in, x, m->adt, ldx, wd, m->adt, in, 0, y, m->adt, ldy);
}

/* dW += dy^T x (fp32);  dx = dy W (beta_dx 0) or dx += dy W (beta_dx 1) */
static int linear_bwd(lt_bert *m, void *dx, int64_t lddx, float beta_dx, const void *dy, int64_t lddy, const void *x,
                      int64_t ldx, lt_param *w, int64_t n) {
    int64_t out = w->value.shape[0], in = w->value.shape[1];
    const void *wd;
    LT_TRY(gemm(m, 1, 0, out, in, n, dy, m->adt, lddy, x, m->adt, ldx, 1, w->grad.data, LT_F32, in));
    LT_TRY(weight(m, w, &wd));
    return gemm(m, 0, 0, n, in, out, dy, m->adt, lddy, wd, m->adt, in, beta_dx, dx, m->adt, lddx);
}

/* Hidden dropout in place. Its backward is the same linear map (the mask is redrawn from
 * (seed, stream) and scaled by 1 / (1 - p)), so backward calls this on the gradient too. */
static int dropout(lt_bert *m, lt_tensor *x, int site) {
    if (!m->train || m->cfg.dropout == 0) return 0;
    uint64_t stream = m->step << 16 | (uint64_t)site; /* < 2^16 sites: 1 + 2 per layer */
    return lt_dropout_fwd(m->be, x, x, m->cfg.dropout, m->seed, stream);
}
static int site_attn(int64_t l) { return (int)(1 + 2 * l); }
static int site_ffn(int64_t l) { return (int)(2 + 2 * l); }

static float attn_scale(const lt_bert_config *c) { return 1.0f / sqrtf((float)(c->hidden / c->heads)); }

/* ---- forward ------------------------------------------------------------------------------------------ */

/* The GEMM weights other than Wqkv, which get a bf16 copy: 3 per layer, and 2 with the MLM head. */
static int copied_weights(lt_bert *m, lt_param **out) {
    int n = 0;
    for (int64_t l = 0; l < m->cfg.layers; l++)
        out[n++] = m->lp[l].o_w, out[n++] = m->lp[l].i_w, out[n++] = m->lp[l].f_w;
    if (m->cfg.mlm_head) out[n++] = m->head_w, out[n++] = m->word; /* the decoder is tied to the word embeddings */
    return n;
}

/* The GEMM weights' arena, laid out for adt (their values come after). */
static int gemm_weights_layout(lt_bert *m) {
    int64_t L = m->cfg.layers, H = m->cfg.hidden;
    lt_arena_free(&m->warena);
    free(m->wqkv), free(m->bqkv), free(m->wcopy);
    m->wqkv = calloc((size_t)L, sizeof *m->wqkv), m->bqkv = calloc((size_t)L, sizeof *m->bqkv);
    m->wcopy = calloc((size_t)m->ps.n, sizeof *m->wcopy);
    lt_param **cw = malloc(sizeof *cw * (size_t)(3 * L + 2));
    if (!m->wqkv || !m->bqkv || !m->wcopy || !cw) {
        free(cw);
        return lt_error(LT_ENOMEM, "bert: out of memory");
    }
    int nc = m->adt == LT_BF16 ? copied_weights(m, cw) : 0;
    size_t bytes = (size_t)L * (lt_dtype_size(m->adt) * (size_t)(3 * H * H) + 4 * (size_t)(3 * H) + 2 * 63);
    for (int i = 0; i < nc; i++) bytes += 2 * (size_t)lt_numel(&cw[i]->value) + 63; /* the arena aligns each to 64 */
    int rc = lt_arena_init(&m->warena, m->be, bytes);
    if (rc < 0) rc = lt_error_wrap(rc, "bert: the GEMM weights (%zu bytes): ", bytes);
    for (int64_t l = 0; l < L && !rc; l++) {
        rc = lt_arena_tensor(&m->warena, &m->wqkv[l], m->adt, 2, (int64_t[]){3 * H, H});
        if (!rc) rc = lt_arena_tensor(&m->warena, &m->bqkv[l], LT_F32, 1, (int64_t[]){3 * H});
    }
    for (int i = 0; i < nc && !rc; i++)
        rc = lt_arena_tensor(&m->warena, &m->wcopy[cw[i] - m->ps.p], LT_BF16, 2, cw[i]->value.shape);
    free(cw);
    if (rc) lt_arena_free(&m->warena); /* laid out again by the next forward */
    m->wdt = m->adt;
    return rc;
}

/* Make the GEMM weights current: laid out once for adt, filled again whenever the parameters have
 * changed since they were made (see the top of the file). A fill that fails leaves wver behind, so
 * the next forward fills them again. */
static int gemm_weights(lt_bert *m) {
    int64_t H = m->cfg.hidden;
    if (m->warena.base && m->wdt == m->adt && m->wver == m->ps.version) return 0;
    if (!m->warena.base || m->wdt != m->adt) LT_TRY(gemm_weights_layout(m));
    for (int64_t l = 0; l < m->cfg.layers; l++) { /* Q, K, V side by side: copies, or their rounding to bf16 */
        lt_param *w[3] = {m->lp[l].q_w, m->lp[l].k_w, m->lp[l].v_w}, *b[3] = {m->lp[l].q_b, m->lp[l].k_b, m->lp[l].v_b};
        for (int k = 0; k < 3; k++) {
            lt_tensor wk = rows(&m->wqkv[l], k * H, H, H);
            lt_tensor bk = lt_view1((float *)m->bqkv[l].data + k * H, LT_F32, m->bqkv[l].device, H);
            LT_TRY(lt_cast(m->be, &wk, &w[k]->value));
            LT_TRY(lt_tensor_copy(m->be, &bk, &b[k]->value));
        }
    }
    for (int i = 0; i < m->ps.n; i++)
        if (m->wcopy[i].data) LT_TRY(lt_cast(m->be, &m->wcopy[i], &m->ps.p[i].value));
    m->wver = m->ps.version;
    return 0;
}

static int layer_fwd(lt_bert *m, int64_t l, const lt_tensor *x) {
    const lt_bert_config *c = &m->cfg;
    layer_params *p = &m->lp[l];
    layer_acts *a = &m->acts[l];
    int64_t N = m->N, H = c->hidden;
    /* qkv[N, 3H] = x [Wq | Wk | Wv]^T + [bq | bk | bv]: the [B, T, 3, NH, D] layout attention reads */
    lt_param wqkv = {.value = m->wqkv[l]};
    LT_TRY(linear_fwd(m, a->qkv.data, 3 * H, x->data, H, &wqkv, N));
    LT_TRY(lt_bias_add(m->be, &a->qkv, &m->bqkv[l]));
    lt_tensor qkv3 = lt_view3(a->qkv.data, m->adt, a->qkv.device, m->B, m->T, 3 * H);
    LT_TRY(lt_attention_fwd(m->be, &a->att, &a->lse, &qkv3, &m->lens, (int)c->heads, attn_scale(c)));
    /* x1 = LayerNorm(x + dropout(att Wo^T + bo)) */
    LT_TRY(linear_fwd(m, a->s1.data, H, a->att.data, H, p->o_w, N));
    LT_TRY(lt_bias_add(m->be, &a->s1, &p->o_b->value));
    LT_TRY(dropout(m, &a->s1, site_attn(l)));
    LT_TRY(lt_residual_layernorm_fwd(m->be, &a->x1, &a->s1, &a->mean1, &a->rstd1, &a->s1, x, &p->ln1_w->value,
                                     &p->ln1_b->value, c->ln_eps));
    /* out = LayerNorm(x1 + dropout(gelu(x1 W1^T + b1) W2^T + b2)) */
    LT_TRY(linear_fwd(m, a->pre.data, c->ffn, a->x1.data, H, p->i_w, N));
    LT_TRY(lt_bias_gelu_fwd(m->be, &a->g, &a->pre, &p->i_b->value));
    LT_TRY(linear_fwd(m, a->s2.data, H, a->g.data, c->ffn, p->f_w, N));
    LT_TRY(lt_bias_add(m->be, &a->s2, &p->f_b->value));
    LT_TRY(dropout(m, &a->s2, site_ffn(l)));
    return lt_residual_layernorm_fwd(m->be, &a->out, &a->s2, &a->mean2, &a->rstd2, &a->s2, &a->x1, &p->ln2_w->value,
                                     &p->ln2_b->value, c->ln_eps);
}

static int upload_i32(lt_bert *m, lt_tensor *dst, const int32_t *src, int64_t n) {
    lt_tensor host = lt_view1((void *)src, LT_I32, LT_CPU, n), d = lt_view1(dst->data, LT_I32, dst->device, n);
    return lt_tensor_copy(m->be, &d, &host);
}

int lt_bert_forward(lt_bert *m, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, int train,
                    uint64_t seed, uint64_t step) {
    const lt_bert_config *c = &m->cfg;
    if (!m->reserved) return lt_error(LT_EINVAL, "bert forward: call lt_bert_reserve first");
    if ((lt_backend_math(m->be) == LT_MATH_BF16) != (m->adt == LT_BF16))
        return lt_error(LT_EINVAL, "bert forward: the backend's math is %s but the activations were reserved in %s: call "
                        "lt_bert_reserve again after lt_backend_set_math", lt_math_name(lt_backend_math(m->be)),
                        lt_dtype_name(m->adt));
    m->have_fwd = 0, m->mlm_n = 0; /* need_bytes() below rewrites the tensors of the last forward */
    if (B < 1 || T < 1 || T > c->max_pos || B > INT32_MAX / T)
        return lt_error(LT_ESHAPE, "bert forward: batch [%lld, %lld] needs B >= 1 and 1 <= T <= max_pos %lld",
                        (long long)B, (long long)T, (long long)c->max_pos);
    size_t need = need_bytes(m, B, T);
    if (need > m->arena.cap)
        return lt_error(LT_ENOMEM, "bert forward: a [%lld, %lld] batch needs %zu bytes of activations, %zu are reserved "
                        "(lt_bert_reserve)", (long long)B, (long long)T, need, m->arena.cap);
    LT_TRY(host_room(m, B));
    if (train && !m->training)
        return lt_error(LT_EINVAL, "bert forward: training mode needs lt_bert_reserve(..., training = 1)");
    for (int64_t b = 0; b < B; b++)
        if (lens[b] < 0 || lens[b] > T)
            return lt_error(LT_ERANGE, "bert forward: lens[%lld] = %d is outside [0, %lld]", (long long)b, lens[b],
                            (long long)T);
    m->B = B, m->T = T, m->N = B * T, m->train = train != 0, m->seed = seed, m->step = step;
    lt_arena_reset(&m->arena);
    LT_TRY(carve(m, B, T));
    LT_TRY(gemm_weights(m));
    int64_t N = m->N, H = c->hidden;
    LT_TRY(upload_i32(m, &m->ids, ids, N));
    LT_TRY(upload_i32(m, &m->lens, lens, B));
    /* embeddings: word[ids] + position[0..T) + token_type[0], LayerNorm, dropout */
    LT_TRY(lt_embedding_fwd(m->be, &m->e, &m->word->value, &m->ids));
    lt_tensor pos = rows(&m->pos->value, 0, T, H), type0 = lt_view1(m->type->value.data, LT_F32, m->type->value.device, H);
    for (int64_t b = 0; b < B; b++) {
        lt_tensor eb = rows(&m->e, b * T, T, H);
        LT_TRY(lt_add(m->be, &eb, &eb, &pos));
    }
    LT_TRY(lt_bias_add(m->be, &m->e, &type0));
    lt_tensor *ln = m->adt == LT_F32 ? &m->x0 : &m->x0f;
    LT_TRY(lt_layernorm_fwd(m->be, ln, &m->emb_mean, &m->emb_rstd, &m->e, &m->emb_ln_w->value, &m->emb_ln_b->value,
                            c->ln_eps));
    if (ln != &m->x0) LT_TRY(lt_cast(m->be, &m->x0, ln));
    LT_TRY(dropout(m, &m->x0, 0));
    const lt_tensor *x = &m->x0;
    for (int64_t l = 0; l < c->layers; l++) {
        LT_TRY(layer_fwd(m, l, x));
        x = &m->acts[l].out;
    }
    m->hidden = lt_view3(x->data, m->adt, x->device, B, T, H);
    /* pooling */
    if (c->pool == LT_BERT_POOL_MEAN) {
        LT_TRY(lt_mean_pool_fwd(m->be, &m->pooled_raw, &m->hidden, &m->lens));
    } else {
        for (int64_t b = 0; b < B; b++) m->host_i32[b] = (int32_t)(b * T);
        LT_TRY(upload_i32(m, &m->cls_ids, m->host_i32, B));
        lt_tensor table = v2(x, N, H);
        if (m->adt == LT_F32) {
            LT_TRY(lt_embedding_fwd(m->be, &m->pooled_raw, &table, &m->cls_ids));
        } else {
            lt_tensor cls = v2(&m->cls_act, B, H);
            LT_TRY(lt_embedding_fwd(m->be, &cls, &table, &m->cls_ids));
            LT_TRY(lt_cast(m->be, &m->pooled_raw, &cls));
        }
    }
    if (c->normalize) LT_TRY(lt_l2norm_fwd(m->be, &m->pooled, &m->norm, &m->pooled_raw));
    else m->pooled = m->pooled_raw;
    m->have_fwd = 1;
    return 0;
}

const lt_tensor *lt_bert_pooled(const lt_bert *m) { return m->have_fwd ? &m->pooled : NULL; }
const lt_tensor *lt_bert_hidden(const lt_bert *m) { return m->have_fwd ? &m->hidden : NULL; }

int lt_bert_encode(void *bert, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, float *out) {
    lt_bert *m = bert;
    LT_TRY(lt_bert_forward(m, ids, lens, B, T, 0, 0, 0));
    lt_tensor host = lt_view2(out, LT_F32, LT_CPU, B, m->cfg.hidden);
    LT_TRY(lt_tensor_copy(m->be, &host, &m->pooled));
    return lt_backend_sync(m->be);
}

/* ---- the masked-LM head ---------------------------------------------------------------------------------- */

int lt_bert_mlm_loss(lt_bert *m, const int64_t *pos, const int32_t *target, int64_t n, float *loss) {
    const lt_bert_config *c = &m->cfg;
    *loss = 0;
    if (!c->mlm_head) return lt_error(LT_EINVAL, "bert mlm: the model has no MLM head (create or load it with mlm_head)");
    if (!m->have_fwd) return lt_error(LT_EINVAL, "bert mlm: no forward pass to take the hidden states from");
    if (n < 0 || n > m->max_M)
        return lt_error(LT_ERANGE, "bert mlm: %lld masked rows, %lld reserved (lt_bert_reserve's max_masked)",
                        (long long)n, (long long)m->max_M);
    int32_t *p32 = m->host_i32, *t32 = m->host_i32 + m->max_M;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (pos[i] < 0 || pos[i] >= m->N)
            return lt_error(LT_ERANGE, "bert mlm: pos[%lld] = %lld is outside the batch's %lld x %lld tokens", (long long)i,
                            (long long)pos[i], (long long)m->B, (long long)m->T);
        if (target[i] != IGNORE_INDEX && (target[i] < 0 || target[i] >= c->vocab))
            return lt_error(LT_ERANGE, "bert mlm: target[%lld] = %d is outside [0, %lld)", (long long)i, target[i],
                            (long long)c->vocab);
        p32[i] = (int32_t)pos[i], t32[i] = target[i];
        count += target[i] != IGNORE_INDEX;
    }
    m->mlm_n = 0, m->mlm_count = count;
    if (n == 0) return 0;
    int64_t H = c->hidden, V = c->vocab;
    lt_tensor mpos = lt_view1(m->mpos.data, LT_I32, m->mpos.device, n), mtgt = lt_view1(m->mtgt.data, LT_I32, m->mtgt.device, n);
    LT_TRY(upload_i32(m, &mpos, p32, n));
    LT_TRY(upload_i32(m, &mtgt, t32, n));
    /* gather the masked rows, then transform: LayerNorm(gelu(h W^T + b)) */
    lt_tensor table = v2(&m->hidden, m->N, H), mh = v2(&m->mh, n, H), mpre = v2(&m->mpre, n, H), mg = v2(&m->mg, n, H);
    lt_tensor mln = v2(&m->mln, n, H), mmean = lt_view1(m->mmean.data, LT_F32, m->mmean.device, n);
    lt_tensor mrstd = lt_view1(m->mrstd.data, LT_F32, m->mrstd.device, n), logits = v2(&m->logits, n, V);
    lt_tensor mlse = lt_view1(m->mlse.data, LT_F32, m->mlse.device, n), mloss = lt_view1(m->mloss.data, LT_F32, m->mloss.device, n);
    LT_TRY(lt_embedding_fwd(m->be, &mh, &table, &mpos));
    LT_TRY(linear_fwd(m, mpre.data, H, mh.data, H, m->head_w, n));
    LT_TRY(lt_bias_gelu_fwd(m->be, &mg, &mpre, &m->head_b->value));
    LT_TRY(lt_layernorm_fwd(m->be, &mln, &mmean, &mrstd, &mg, &m->head_ln_w->value, &m->head_ln_b->value, c->ln_eps));
    /* logits[n, V] = mln word^T + bias (the decoder is tied to the word embeddings) */
    LT_TRY(linear_fwd(m, logits.data, V, mln.data, H, m->word, n));
    LT_TRY(lt_bias_add(m->be, &logits, &m->head_bias->value));
    LT_TRY(lt_xent_fwd(m->be, &mloss, &mlse, &logits, &mtgt, IGNORE_INDEX));
    float *h = malloc(sizeof(float) * (size_t)n);
    if (!h) return lt_error(LT_ENOMEM, "bert mlm: out of memory");
    lt_tensor host = lt_view1(h, LT_F32, LT_CPU, n);
    int rc = lt_tensor_copy(m->be, &host, &mloss);
    if (!rc) rc = lt_backend_sync(m->be);
    double sum = 0;
    for (int64_t i = 0; i < n && !rc; i++) sum += h[i]; /* ignored rows are 0 */
    free(h);
    if (rc) return rc;
    *loss = count ? (float)(sum / (double)count) : 0.0f;
    m->mlm_n = n;
    return 0;
}

/* d(mlm_scale * mean loss) into the head's parameters, the word embeddings and dH[N, H] */
static int mlm_bwd(lt_bert *m, lt_tensor *dH, float scale) {
    const lt_bert_config *c = &m->cfg;
    int64_t n = m->mlm_n, H = c->hidden, V = c->vocab;
    lt_tensor dloss = lt_view1(m->dloss.data, LT_F32, m->dloss.device, n), dlogits = v2(&m->dlogits, n, V);
    lt_tensor logits = v2(&m->logits, n, V), mlse = lt_view1(m->mlse.data, LT_F32, m->mlse.device, n);
    lt_tensor mtgt = lt_view1(m->mtgt.data, LT_I32, m->mtgt.device, n), mpos = lt_view1(m->mpos.data, LT_I32, m->mpos.device, n);
    lt_tensor dmln = v2(&m->dmln, n, H), dmg = v2(&m->dmg, n, H), dmpre = v2(&m->dmpre, n, H), dmh = v2(&m->dmh, n, H);
    lt_tensor mg = v2(&m->mg, n, H), mpre = v2(&m->mpre, n, H);
    lt_tensor mmean = lt_view1(m->mmean.data, LT_F32, m->mmean.device, n), mrstd = lt_view1(m->mrstd.data, LT_F32, m->mrstd.device, n);
    LT_TRY(lt_fill(m->be, &dloss, scale / (float)m->mlm_count));
    LT_TRY(zero(m, &dlogits));
    LT_TRY(lt_xent_bwd(m->be, &dlogits, &logits, &mlse, &mtgt, &dloss, IGNORE_INDEX));
    LT_TRY(lt_bias_bwd(m->be, &m->head_bias->grad, &dlogits));
    LT_TRY(linear_bwd(m, dmln.data, H, 0, dlogits.data, V, m->mln.data, H, m->word, n));
    LT_TRY(zero(m, &dmg));
    LT_TRY(lt_layernorm_bwd(m->be, &dmg, &m->head_ln_w->grad, &m->head_ln_b->grad, &dmln, &mg, &m->head_ln_w->value,
                            &mmean, &mrstd));
    LT_TRY(zero(m, &dmpre));
    LT_TRY(lt_bias_gelu_bwd(m->be, &dmpre, &m->head_b->grad, &dmg, &mpre, &m->head_b->value));
    LT_TRY(linear_bwd(m, dmh.data, H, 0, dmpre.data, H, m->mh.data, H, m->head_w, n));
    lt_tensor table = v2(dH, m->N, H);
    return lt_embedding_bwd(m->be, &table, &dmh, &mpos); /* scatter-add back to the hidden states */
}

/* ---- backward ----------------------------------------------------------------------------------------------- */

/* dy = d(layer output) [N, H]; dx (zero on entry) receives d(layer input). */
static int layer_bwd(lt_bert *m, int64_t l, const lt_tensor *x, const lt_tensor *dy, lt_tensor *dx) {
    const lt_bert_config *c = &m->cfg;
    layer_params *p = &m->lp[l];
    layer_acts *a = &m->acts[l];
    int64_t N = m->N, H = c->hidden, F = c->ffn;
    /* out = LayerNorm(s2), s2 = x1 + dropout(g W2^T + b2) */
    LT_TRY(zero(m, &m->ds));
    LT_TRY(zero(m, &m->dx1));
    LT_TRY(lt_residual_layernorm_bwd(m->be, &m->ds, &m->dx1, &p->ln2_w->grad, &p->ln2_b->grad, dy, &a->s2,
                                     &p->ln2_w->value, &a->mean2, &a->rstd2));
    LT_TRY(dropout(m, &m->ds, site_ffn(l)));
    LT_TRY(lt_bias_bwd(m->be, &p->f_b->grad, &m->ds));
    LT_TRY(linear_bwd(m, m->dg.data, F, 0, m->ds.data, H, a->g.data, F, p->f_w, N));
    /* g = gelu(x1 W1^T + b1) */
    LT_TRY(zero(m, &m->dpre));
    LT_TRY(lt_bias_gelu_bwd(m->be, &m->dpre, &p->i_b->grad, &m->dg, &a->pre, &p->i_b->value));
    LT_TRY(linear_bwd(m, m->dx1.data, H, 1, m->dpre.data, F, a->x1.data, H, p->i_w, N));
    /* x1 = LayerNorm(s1), s1 = x + dropout(att Wo^T + bo) */
    LT_TRY(zero(m, &m->ds));
    LT_TRY(lt_residual_layernorm_bwd(m->be, &m->ds, dx, &p->ln1_w->grad, &p->ln1_b->grad, &m->dx1, &a->s1,
                                     &p->ln1_w->value, &a->mean1, &a->rstd1));
    LT_TRY(dropout(m, &m->ds, site_attn(l)));
    LT_TRY(lt_bias_bwd(m->be, &p->o_b->grad, &m->ds));
    lt_tensor *datt = &m->dx1; /* dx1 is consumed: reuse it */
    LT_TRY(linear_bwd(m, datt->data, H, 0, m->ds.data, H, a->att.data, H, p->o_w, N));
    /* attention, then the three projections that wrote qkv */
    LT_TRY(zero(m, &m->dqkv));
    lt_tensor qkv3 = lt_view3(a->qkv.data, m->adt, a->qkv.device, m->B, m->T, 3 * H);
    lt_tensor dqkv3 = lt_view3(m->dqkv.data, m->adt, m->dqkv.device, m->B, m->T, 3 * H);
    LT_TRY(lt_attention_bwd(m->be, &dqkv3, datt, &qkv3, &a->att, &a->lse, &m->lens, (int)c->heads, attn_scale(c)));
    LT_TRY(zero(m, &m->dbqkv));
    LT_TRY(zero(m, &m->dwqkv));
    LT_TRY(lt_bias_bwd(m->be, &m->dbqkv, &m->dqkv));
    lt_param wqkv = {.value = m->wqkv[l], .grad = m->dwqkv};
    LT_TRY(linear_bwd(m, dx->data, H, 1, m->dqkv.data, 3 * H, x->data, H, &wqkv, N));
    lt_param *w3[3] = {p->q_w, p->k_w, p->v_w}, *b3[3] = {p->q_b, p->k_b, p->v_b};
    for (int k = 0; k < 3; k++) { /* the fused gradients back to Q, K and V */
        lt_tensor dw = rows(&m->dwqkv, k * H, H, H), db = lt_view1((float *)m->dbqkv.data + k * H, LT_F32, m->dbqkv.device, H);
        LT_TRY(lt_axpy(m->be, &w3[k]->grad, 1.0f, &dw));
        LT_TRY(lt_axpy(m->be, &b3[k]->grad, 1.0f, &db));
    }
    return 0;
}

/* Layer l's gradients are final once its backward ran (lt_params_ready: a data-parallel trainer
 * starts reducing them while the layers below run theirs). */
static int layer_ready(lt_bert *m, int64_t l) {
    const layer_params *p = &m->lp[l];
    lt_param *const done[] = {p->q_w, p->q_b, p->k_w, p->k_b, p->v_w, p->v_b, p->o_w, p->o_b,
                              p->ln1_w, p->ln1_b, p->i_w, p->i_b, p->f_w, p->f_b, p->ln2_w, p->ln2_b};
    return lt_params_ready(&m->ps, done, (int)(sizeof done / sizeof done[0]));
}

int lt_bert_backward(lt_bert *m, const lt_tensor *dpooled, const lt_tensor *dhidden, float mlm_scale) {
    const lt_bert_config *c = &m->cfg;
    if (!m->have_fwd) return lt_error(LT_EINVAL, "bert backward: no forward pass");
    if (!m->training) return lt_error(LT_EINVAL, "bert backward: reserved for inference (lt_bert_reserve training = 0)");
    int64_t B = m->B, T = m->T, N = m->N, H = c->hidden;
    lt_tensor *dH = &m->dA, *dX = &m->dB; /* ping-pong: d(layer output), d(layer input) */
    LT_TRY(zero(m, dH));
    if (dhidden) { /* dH = dhidden, rounded to adt when it is fp32 (cast copies when the dtypes agree) */
        lt_tensor d3 = lt_view3(dH->data, m->adt, dH->device, B, T, H);
        LT_TRY(lt_cast(m->be, &d3, dhidden));
    }
    if (dpooled) {
        const lt_tensor *dp = dpooled;
        if (c->normalize) {
            LT_TRY(zero(m, &m->dpooled));
            LT_TRY(lt_l2norm_bwd(m->be, &m->dpooled, dpooled, &m->pooled, &m->norm));
            dp = &m->dpooled;
        }
        if (c->pool == LT_BERT_POOL_MEAN) {
            lt_tensor d3 = lt_view3(dH->data, m->adt, dH->device, B, T, H);
            LT_TRY(lt_mean_pool_bwd(m->be, &d3, dp, &m->lens));
        } else {
            lt_tensor table = v2(dH, N, H), cls = v2(&m->cls_act, B, H);
            if (m->adt != LT_F32) {
                LT_TRY(lt_cast(m->be, &cls, dp));
                dp = &cls;
            }
            LT_TRY(lt_embedding_bwd(m->be, &table, dp, &m->cls_ids));
        }
    }
    if (mlm_scale != 0 && m->mlm_n > 0 && m->mlm_count > 0) LT_TRY(mlm_bwd(m, dH, mlm_scale));
    if (c->mlm_head) { /* the head's own parameters (not the tied word embeddings) are final */
        lt_param *const head[] = {m->head_w, m->head_b, m->head_ln_w, m->head_ln_b, m->head_bias};
        LT_TRY(lt_params_ready(&m->ps, head, 5));
    }
    for (int64_t l = c->layers - 1; l >= 0; l--) {
        const lt_tensor *x = l ? &m->acts[l - 1].out : &m->x0;
        LT_TRY(zero(m, dX));
        LT_TRY(layer_bwd(m, l, x, dH, dX));
        LT_TRY(layer_ready(m, l));
        lt_tensor *t = dH;
        dH = dX, dX = t;
    }
    /* embeddings: x0 = dropout(LayerNorm(e)), e = word[ids] + position[t] + token_type[0] */
    LT_TRY(dropout(m, dH, 0));
    lt_tensor *de = dX;
    if (m->adt != LT_F32) { /* the embedding stage is fp32: widen d(x0) (into x0f, free now) */
        LT_TRY(lt_cast(m->be, &m->x0f, dH));
        dH = &m->x0f, de = &m->def;
    }
    LT_TRY(zero(m, de));
    LT_TRY(lt_layernorm_bwd(m->be, de, &m->emb_ln_w->grad, &m->emb_ln_b->grad, dH, &m->e, &m->emb_ln_w->value,
                            &m->emb_mean, &m->emb_rstd));
    LT_TRY(lt_embedding_bwd_skip(m->be, &m->word->grad, de, &m->ids, (int32_t)c->pad_id)); /* [PAD]: none */
    lt_tensor dpos = rows(&m->pos->grad, 0, T, H), dtype0 = lt_view1(m->type->grad.data, LT_F32, m->type->grad.device, H);
    for (int64_t b = 0; b < B; b++) {
        lt_tensor db = rows(de, b * T, T, H);
        LT_TRY(lt_axpy(m->be, &dpos, 1.0f, &db));
    }
    LT_TRY(lt_bias_bwd(m->be, &dtype0, de));
    lt_param *const emb[] = {m->word, m->pos, m->type, m->emb_ln_w, m->emb_ln_b};
    return lt_params_ready(&m->ps, emb, 5);
}

double lt_bert_flops(const lt_bert_config *c, int64_t B, int64_t T, int with_backward) {
    double N = (double)B * (double)T, H = (double)c->hidden, F = (double)c->ffn;
    double per_layer = 2 * N * H * (3 * H) + 2 * N * H * H + 2 * 2 * N * H * F /* projections and FFN */
                       + 2 * 2 * (double)B * (double)T * (double)T * H;         /* q k^T and p v over all heads */
    double fwd = per_layer * (double)c->layers;
    return with_backward ? 3 * fwd : fwd;
}
