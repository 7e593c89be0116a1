/* The public ops: check every argument once, here, then call the backend's implementation.
 * Messages name the op and the argument: "layernorm_fwd: w: expected f32[768], got f32[512]@cpu". */
#include "longtail/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend_impl.h"
#include "longtail/error.h"

/* ---- debug trace (LONGTAIL_CUDA_SYNC=1) ------------------------------------------------------- */

static _Thread_local char trace_buf[1024];
static _Thread_local const char *trace_op;
static _Thread_local int trace_sealed;

const char *lt__op_trace(void) { return trace_buf[0] ? trace_buf : "(no op checked yet)"; }
void lt__op_trace_seal(void) { trace_sealed = 1; }

static void trace_add(const char *op, const char *name, const lt_tensor *t) {
    size_t len = strlen(trace_buf);
    if (trace_sealed || !trace_op || strcmp(trace_op, op)) {
        len = (size_t)snprintf(trace_buf, sizeof trace_buf, "%s:", op);
        trace_op = op, trace_sealed = 0;
    }
    char s[96];
    if (len < sizeof trace_buf)
        snprintf(trace_buf + len, sizeof trace_buf - len, " %s %s", name, t ? lt_tensor_str(t, s, sizeof s) : "NULL");
}

/* t must exist, have dtype dt and live on the backend's device. */
int lt__arg(lt_backend *be, const char *op, const char *name, const lt_tensor *t, lt_dtype dt) {
    char s[96];
    if (be->trace) trace_add(op, name, t);
    if (!t) return lt_error(LT_EINVAL, "%s: %s is NULL", op, name);
    if (t->ndim < 1 || t->ndim > LT_MAX_DIMS)
        return lt_error(LT_ESHAPE, "%s: %s has ndim %d", op, name, t->ndim);
    if (t->dtype != dt)
        return lt_error(LT_EDTYPE, "%s: %s: expected %s, got %s", op, name, lt_dtype_name(dt),
                        lt_tensor_str(t, s, sizeof s));
    if (t->device != be->device)
        return lt_error(LT_EDEVICE, "%s: %s: expected a tensor on %s, got %s", op, name,
                        lt_device_name(be->device), lt_tensor_str(t, s, sizeof s));
    if (!t->data && lt_numel(t) > 0) return lt_error(LT_EINVAL, "%s: %s has no data", op, name);
    return 0;
}

static int same_shape(const char *op, const char *na, const lt_tensor *a, const char *nb,
                      const lt_tensor *b) {
    int same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (same) return 0;
    char sa[96], sb[96];
    return lt_error(LT_ESHAPE, "%s: %s %s and %s %s differ in shape", op, na,
                    lt_tensor_str(a, sa, sizeof sa), nb, lt_tensor_str(b, sb, sizeof sb));
}

int lt__numel_is(const char *op, const char *name, const lt_tensor *t, int64_t n) {
    if (lt_numel(t) == n) return 0;
    char s[96];
    return lt_error(LT_ESHAPE, "%s: %s: expected %lld elements, got %s", op, name, (long long)n,
                    lt_tensor_str(t, s, sizeof s));
}

/* ---- GEMM ---------------------------------------------------------------------------------- */

static int gemm_type_ok(lt_dtype t) { return t == LT_F32 || t == LT_BF16; }

int lt_gemm(lt_backend *be, const lt_gemm_desc *d) {
    if (!d) return lt_error(LT_EINVAL, "gemm: NULL descriptor");
    if (d->m < 0 || d->n < 0 || d->k < 0 || d->batch < 0)
        return lt_error(LT_EINVAL, "gemm: negative size m=%lld n=%lld k=%lld batch=%lld",
                        (long long)d->m, (long long)d->n, (long long)d->k, (long long)d->batch);
    /* What cuBLAS supports: f32 x f32 -> f32, bf16 x bf16 -> bf16 or f32 (fp32 accumulation). */
    if (!gemm_type_ok(d->a_type) || d->a_type != d->b_type || !gemm_type_ok(d->c_type) ||
        (d->a_type == LT_F32 && d->c_type != LT_F32))
        return lt_error(LT_EDTYPE, "gemm: supported operand types are f32 x f32 -> f32 and bf16 x bf16 -> "
                        "bf16/f32 (got a=%s b=%s c=%s)",
                        lt_dtype_name(d->a_type), lt_dtype_name(d->b_type), lt_dtype_name(d->c_type));
    if (d->m == 0 || d->n == 0 || d->batch == 0) return 0;
    /* Stored shapes: A is [m,k] (or [k,m] when transposed), B is [k,n] (or [n,k]), C is [m,n]. */
    int64_t a_cols = d->trans_a ? d->m : d->k, b_cols = d->trans_b ? d->k : d->n;
    if (d->lda < (a_cols > 0 ? a_cols : 1) || d->ldb < (b_cols > 0 ? b_cols : 1) || d->ldc < d->n)
        return lt_error(LT_EINVAL, "gemm: leading dimension too small (lda=%lld needs %lld, ldb=%lld needs %lld, "
                        "ldc=%lld needs %lld)", (long long)d->lda, (long long)a_cols, (long long)d->ldb,
                        (long long)b_cols, (long long)d->ldc, (long long)d->n);
    if (d->k > 0 && (!d->a || !d->b)) return lt_error(LT_EINVAL, "gemm: NULL operand");
    if (!d->c) return lt_error(LT_EINVAL, "gemm: NULL output");
    if (d->m > INT32_MAX || d->n > INT32_MAX || d->k > INT32_MAX || d->lda > INT32_MAX ||
        d->ldb > INT32_MAX || d->ldc > INT32_MAX)
        return lt_error(LT_ERANGE, "gemm: a dimension exceeds 2^31-1 (BLAS takes 32-bit sizes)");
    return LT_CALL(be, gemm, d);
}

/* One matmul operand: a 2-D matrix (broadcast, stride 0) or a 3-D batch of them. */
static int mm_operand(const char *name, const lt_tensor *t, int64_t batch, int64_t *rows,
                      int64_t *cols, int64_t *stride) {
    char s[96];
    if (t->ndim == 2) {
        *rows = t->shape[0], *cols = t->shape[1], *stride = 0;
    } else if (t->ndim == 3 && t->shape[0] == batch) {
        *rows = t->shape[1], *cols = t->shape[2], *stride = t->shape[1] * t->shape[2];
    } else {
        return lt_error(LT_ESHAPE, "matmul: %s %s must be 2-D or 3-D with batch %lld", name,
                        lt_tensor_str(t, s, sizeof s), (long long)batch);
    }
    return 0;
}

int lt_matmul(lt_backend *be, lt_tensor *c, const lt_tensor *a, int trans_a, const lt_tensor *b,
              int trans_b, float alpha, float beta) {
    if (!a || !b || !c) return lt_error(LT_EINVAL, "matmul: NULL tensor");
    LT_TRY(lt__arg(be, "matmul", "a", a, a->dtype));
    LT_TRY(lt__arg(be, "matmul", "b", b, b->dtype));
    LT_TRY(lt__arg(be, "matmul", "c", c, c->dtype));
    if (c->ndim != 2 && c->ndim != 3) return lt_error(LT_ESHAPE, "matmul: c must be 2-D or 3-D");
    int64_t batch = c->ndim == 3 ? c->shape[0] : 1;
    if (c->ndim == 2 && (a->ndim == 3 || b->ndim == 3))
        return lt_error(LT_ESHAPE, "matmul: batched operands need a 3-D output");
    int64_t ar = 0, ac = 0, as = 0, br = 0, bc = 0, bs = 0;
    LT_TRY(mm_operand("a", a, batch, &ar, &ac, &as));
    LT_TRY(mm_operand("b", b, batch, &br, &bc, &bs));
    int64_t m = trans_a ? ac : ar, k = trans_a ? ar : ac;
    int64_t kb = trans_b ? bc : br, n = trans_b ? br : bc;
    int64_t cm = c->shape[c->ndim - 2], cn = c->shape[c->ndim - 1];
    if (k != kb || m != cm || n != cn) {
        char sa[96], sb[96], sc[96];
        return lt_error(LT_ESHAPE, "matmul: %s%s @ %s%s does not give %s", lt_tensor_str(a, sa, sizeof sa),
                        trans_a ? "^T" : "", lt_tensor_str(b, sb, sizeof sb), trans_b ? "^T" : "",
                        lt_tensor_str(c, sc, sizeof sc));
    }
    lt_gemm_desc d = {
        .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
        .a = a->data, .a_type = a->dtype, .lda = ac, .stride_a = as,
        .b = b->data, .b_type = b->dtype, .ldb = bc, .stride_b = bs,
        .c = c->data, .c_type = c->dtype, .ldc = cn, .stride_c = m * n, .batch = batch,
    };
    return lt_gemm(be, &d);
}

/* ---- bias, activations, normalisation ---------------------------------------------------- */

/* An activation: f32 or bf16, on the backend's device. The first one an op checks sets its dtype;
 * the others are checked against it (lt__arg with that dtype). */
static int act(lt_backend *be, const char *op, const char *name, const lt_tensor *t) {
    if (t && t->dtype == LT_BF16) return lt__arg(be, op, name, t, LT_BF16);
    return lt__arg(be, op, name, t, LT_F32);
}

int lt_bias_add(lt_backend *be, lt_tensor *y, const lt_tensor *bias) {
    LT_TRY(act(be, "bias_add", "y", y));
    LT_TRY(lt__arg(be, "bias_add", "bias", bias, LT_F32));
    LT_TRY(lt__numel_is("bias_add", "bias", bias, lt_cols(y)));
    return LT_CALL(be, bias_add, y->data, bias->data, y->dtype, lt_rows(y), lt_cols(y));
}

int lt_bias_bwd(lt_backend *be, lt_tensor *dbias, const lt_tensor *dy) {
    LT_TRY(lt__arg(be, "bias_bwd", "dbias", dbias, LT_F32));
    LT_TRY(act(be, "bias_bwd", "dy", dy));
    LT_TRY(lt__numel_is("bias_bwd", "dbias", dbias, lt_cols(dy)));
    return LT_CALL(be, bias_bwd, dbias->data, dy->data, dy->dtype, lt_rows(dy), lt_cols(dy));
}

int lt_gelu_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x) {
    LT_TRY(act(be, "gelu_fwd", "y", y));
    LT_TRY(lt__arg(be, "gelu_fwd", "x", x, y->dtype));
    LT_TRY(same_shape("gelu_fwd", "y", y, "x", x));
    return LT_CALL(be, gelu_fwd, y->data, x->data, y->dtype, lt_numel(x));
}

int lt_gelu_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, const lt_tensor *x) {
    LT_TRY(act(be, "gelu_bwd", "dx", dx));
    LT_TRY(lt__arg(be, "gelu_bwd", "dy", dy, dx->dtype));
    LT_TRY(lt__arg(be, "gelu_bwd", "x", x, dx->dtype));
    LT_TRY(same_shape("gelu_bwd", "dx", dx, "x", x));
    LT_TRY(same_shape("gelu_bwd", "dy", dy, "x", x));
    return LT_CALL(be, gelu_bwd, dx->data, dy->data, x->data, dx->dtype, lt_numel(x));
}

int lt_layernorm_fwd(lt_backend *be, lt_tensor *y, lt_tensor *mean, lt_tensor *rstd,
                     const lt_tensor *x, const lt_tensor *w, const lt_tensor *b, float eps) {
    const char *op = "layernorm_fwd";
    LT_TRY(act(be, op, "y", y));
    LT_TRY(lt__arg(be, op, "mean", mean, LT_F32));
    LT_TRY(lt__arg(be, op, "rstd", rstd, LT_F32));
    LT_TRY(lt__arg(be, op, "x", x, y->dtype));
    LT_TRY(lt__arg(be, op, "w", w, LT_F32));
    LT_TRY(lt__arg(be, op, "b", b, LT_F32));
    LT_TRY(same_shape(op, "y", y, "x", x));
    int64_t R = lt_rows(x), C = lt_cols(x);
    LT_TRY(lt__numel_is(op, "w", w, C));
    LT_TRY(lt__numel_is(op, "b", b, C));
    LT_TRY(lt__numel_is(op, "mean", mean, R));
    LT_TRY(lt__numel_is(op, "rstd", rstd, R));
    if (!(eps > 0)) return lt_error(LT_EINVAL, "%s: eps must be > 0 (got %g)", op, eps);
    return LT_CALL(be, layernorm_fwd, y->data, mean->data, rstd->data, x->data, w->data, b->data, y->dtype, R, C, eps);
}

int lt_layernorm_bwd(lt_backend *be, lt_tensor *dx, lt_tensor *dw, lt_tensor *db,
                     const lt_tensor *dy, const lt_tensor *x, const lt_tensor *w,
                     const lt_tensor *mean, const lt_tensor *rstd) {
    const char *op = "layernorm_bwd";
    LT_TRY(act(be, op, "dx", dx));
    LT_TRY(lt__arg(be, op, "dw", dw, LT_F32));
    LT_TRY(lt__arg(be, op, "db", db, LT_F32));
    LT_TRY(lt__arg(be, op, "dy", dy, dx->dtype));
    LT_TRY(lt__arg(be, op, "x", x, dx->dtype));
    LT_TRY(lt__arg(be, op, "w", w, LT_F32));
    LT_TRY(lt__arg(be, op, "mean", mean, LT_F32));
    LT_TRY(lt__arg(be, op, "rstd", rstd, LT_F32));
    LT_TRY(same_shape(op, "dx", dx, "x", x));
    LT_TRY(same_shape(op, "dy", dy, "x", x));
    int64_t R = lt_rows(x), C = lt_cols(x);
    LT_TRY(lt__numel_is(op, "w", w, C));
    LT_TRY(lt__numel_is(op, "dw", dw, C));
    LT_TRY(lt__numel_is(op, "db", db, C));
    LT_TRY(lt__numel_is(op, "mean", mean, R));
    LT_TRY(lt__numel_is(op, "rstd", rstd, R));
    return LT_CALL(be, layernorm_bwd, dx->data, dw->data, db->data, dy->data, x->data, w->data, mean->data, rstd->data,
                   dx->dtype, R, C);
}

/* ---- softmax -------------------------------------------------------------------------------- */

int lt_softmax_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *lens,
                   float scale) {
    const char *op = "softmax_fwd";
    LT_TRY(lt__arg(be, op, "y", y, LT_F32));
    LT_TRY(lt__arg(be, op, "x", x, LT_F32));
    LT_TRY(same_shape(op, "y", y, "x", x));
    int64_t R = lt_rows(x), per = R;
    if (lens) {
        LT_TRY(lt__arg(be, op, "lens", lens, LT_I32));
        int64_t G = lt_numel(lens);
        if (G < 1 || R % G)
            return lt_error(LT_ESHAPE, "%s: %lld lens do not divide %lld rows", op, (long long)G, (long long)R);
        per = R / G;
    }
    return LT_CALL(be, softmax_fwd, y->data, x->data, lens ? lens->data : NULL, per, R, lt_cols(x), scale);
}

int lt_softmax_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, const lt_tensor *y,
                   float scale) {
    const char *op = "softmax_bwd";
    LT_TRY(lt__arg(be, op, "dx", dx, LT_F32));
    LT_TRY(lt__arg(be, op, "dy", dy, LT_F32));
    LT_TRY(lt__arg(be, op, "y", y, LT_F32));
    LT_TRY(same_shape(op, "dx", dx, "y", y));
    LT_TRY(same_shape(op, "dy", dy, "y", y));
    return LT_CALL(be, softmax_bwd, dx->data, dy->data, y->data, lt_rows(y), lt_cols(y), scale);
}

int lt_xent_fwd(lt_backend *be, lt_tensor *loss, lt_tensor *lse, const lt_tensor *logits,
                const lt_tensor *targets, int ignore_index) {
    const char *op = "xent_fwd";
    LT_TRY(lt__arg(be, op, "loss", loss, LT_F32));
    LT_TRY(lt__arg(be, op, "lse", lse, LT_F32));
    LT_TRY(act(be, op, "logits", logits));
    LT_TRY(lt__arg(be, op, "targets", targets, LT_I32));
    int64_t R = lt_rows(logits), V = lt_cols(logits);
    LT_TRY(lt__numel_is(op, "loss", loss, R));
    LT_TRY(lt__numel_is(op, "lse", lse, R));
    LT_TRY(lt__numel_is(op, "targets", targets, R));
    return LT_CALL(be, xent_fwd, loss->data, lse->data, logits->data, targets->data, logits->dtype, R, V, ignore_index);
}

int lt_xent_bwd(lt_backend *be, lt_tensor *dlogits, const lt_tensor *logits, const lt_tensor *lse,
                const lt_tensor *targets, const lt_tensor *dloss, int ignore_index) {
    const char *op = "xent_bwd";
    LT_TRY(act(be, op, "dlogits", dlogits));
    LT_TRY(lt__arg(be, op, "logits", logits, dlogits->dtype));
    LT_TRY(lt__arg(be, op, "lse", lse, LT_F32));
    LT_TRY(lt__arg(be, op, "targets", targets, LT_I32));
    LT_TRY(lt__arg(be, op, "dloss", dloss, LT_F32));
    LT_TRY(same_shape(op, "dlogits", dlogits, "logits", logits));
    int64_t R = lt_rows(logits), V = lt_cols(logits);
    LT_TRY(lt__numel_is(op, "lse", lse, R));
    LT_TRY(lt__numel_is(op, "targets", targets, R));
    LT_TRY(lt__numel_is(op, "dloss", dloss, R));
    return LT_CALL(be, xent_bwd, dlogits->data, logits->data, lse->data, targets->data, dloss->data, logits->dtype, R,
                   V, ignore_index);
}

/* ---- embeddings ---------------------------------------------------------------------------- */

static int embedding_args(lt_backend *be, const char *op, const char *oname, const lt_tensor *out,
                          const char *tname, const lt_tensor *table, const lt_tensor *ids) {
    LT_TRY(act(be, op, tname, table));
    LT_TRY(lt__arg(be, op, oname, out, table->dtype));
    LT_TRY(lt__arg(be, op, "ids", ids, LT_I32));
    if (table->ndim != 2) return lt_error(LT_ESHAPE, "%s: %s must be 2-D [vocab, dim]", op, tname);
    return lt__numel_is(op, oname, out, lt_numel(ids) * table->shape[1]);
}

int lt_embedding_fwd(lt_backend *be, lt_tensor *out, const lt_tensor *table, const lt_tensor *ids) {
    LT_TRY(embedding_args(be, "embedding_fwd", "out", out, "table", table, ids));
    return LT_CALL(be, embedding_fwd, out->data, table->data, ids->data, table->dtype, lt_numel(ids), table->shape[0],
                   table->shape[1]);
}

int lt_embedding_bwd_skip(lt_backend *be, lt_tensor *dtable, const lt_tensor *dout, const lt_tensor *ids,
                          int32_t skip_id) {
    LT_TRY(embedding_args(be, "embedding_bwd", "dout", dout, "dtable", dtable, ids));
    return LT_CALL(be, embedding_bwd, dtable->data, dout->data, ids->data, dtable->dtype, lt_numel(ids),
                   dtable->shape[0], dtable->shape[1], skip_id < 0 ? -1 : skip_id);
}

int lt_embedding_bwd(lt_backend *be, lt_tensor *dtable, const lt_tensor *dout, const lt_tensor *ids) {
    return lt_embedding_bwd_skip(be, dtable, dout, ids, -1);
}

/* ---- dropout -------------------------------------------------------------------------------- */

static int dropout_args(lt_backend *be, const char *op, const lt_tensor *y, const lt_tensor *x, float p) {
    LT_TRY(act(be, op, "out", y));
    LT_TRY(lt__arg(be, op, "in", x, y->dtype));
    LT_TRY(same_shape(op, "out", y, "in", x));
    if (!(p >= 0.0f && p < 1.0f)) return lt_error(LT_EINVAL, "%s: p must be in [0, 1), got %g", op, p);
    return 0;
}

int lt_dropout_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x, float p, uint64_t seed,
                   uint64_t stream) {
    LT_TRY(dropout_args(be, "dropout_fwd", y, x, p));
    return LT_CALL(be, dropout, y->data, x->data, y->dtype, lt_numel(x), p, seed, stream, 0);
}

int lt_dropout_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, float p, uint64_t seed,
                   uint64_t stream) {
    LT_TRY(dropout_args(be, "dropout_bwd", dx, dy, p));
    return LT_CALL(be, dropout, dx->data, dy->data, dx->dtype, lt_numel(dy), p, seed, stream, 1);
}

/* ---- element-wise -------------------------------------------------------------------------- */

/* y, a, b (ew3) or y, x (ew2) of one shape; y f32, or (acts) an activation the others match */
static int ew3(lt_backend *be, const char *op, const lt_tensor *y, const lt_tensor *a, const lt_tensor *b, int acts) {
    LT_TRY(acts ? act(be, op, "y", y) : lt__arg(be, op, "y", y, LT_F32));
    LT_TRY(lt__arg(be, op, "a", a, y->dtype));
    LT_TRY(lt__arg(be, op, "b", b, y->dtype));
    LT_TRY(same_shape(op, "a", a, "y", y));
    return same_shape(op, "b", b, "y", y);
}

static int ew2(lt_backend *be, const char *op, const lt_tensor *y, const lt_tensor *x, int acts) {
    LT_TRY(acts ? act(be, op, "y", y) : lt__arg(be, op, "y", y, LT_F32));
    LT_TRY(lt__arg(be, op, "x", x, y->dtype));
    return same_shape(op, "x", x, "y", y);
}

int lt_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b) {
    LT_TRY(ew3(be, "add", y, a, b, 1));
    return LT_CALL(be, add, y->data, a->data, b->data, y->dtype, lt_numel(y));
}
int lt_mul(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b) {
    LT_TRY(ew3(be, "mul", y, a, b, 0));
    return LT_CALL(be, mul, y->data, a->data, b->data, lt_numel(y));
}
int lt_mul_acc(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b) {
    LT_TRY(ew3(be, "mul_acc", y, a, b, 0));
    return LT_CALL(be, mul_acc, y->data, a->data, b->data, lt_numel(y));
}
int lt_scale(lt_backend *be, lt_tensor *y, const lt_tensor *x, float alpha) {
    LT_TRY(ew2(be, "scale", y, x, 0));
    return LT_CALL(be, scale, y->data, x->data, alpha, lt_numel(y));
}
int lt_axpy(lt_backend *be, lt_tensor *y, float alpha, const lt_tensor *x) {
    LT_TRY(ew2(be, "axpy", y, x, 1));
    return LT_CALL(be, axpy, y->data, alpha, x->data, y->dtype, lt_numel(y));
}
int lt_row_dropout_acc(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *keep, float p,
                       uint64_t seed, uint64_t stream) {
    const char *op = "row_dropout_acc";
    LT_TRY(ew2(be, op, y, x, 0));
    if (keep) {
        LT_TRY(lt__arg(be, op, "keep", keep, LT_U8));
        LT_TRY(lt__numel_is(op, "keep", keep, lt_rows(y)));
    }
    if (!(p >= 0.0f && p < 1.0f)) return lt_error(LT_EINVAL, "%s: p must be in [0, 1), got %g", op, p);
    return LT_CALL(be, row_dropout_acc, y->data, x->data, keep ? keep->data : NULL, lt_rows(y), lt_cols(y), p, seed,
                   stream);
}

int lt_fill(lt_backend *be, lt_tensor *y, float value) {
    LT_TRY(lt__arg(be, "fill", "y", y, LT_F32));
    return LT_CALL(be, fill, y->data, value, lt_numel(y));
}

/* ---- reductions ---------------------------------------------------------------------------- */

int lt_reduce_rows(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_reduce op) {
    LT_TRY(lt__arg(be, "reduce_rows", "y", y, LT_F32));
    LT_TRY(lt__arg(be, "reduce_rows", "x", x, LT_F32));
    LT_TRY(lt__numel_is("reduce_rows", "y", y, lt_rows(x)));
    if ((unsigned)op > LT_REDUCE_SUMSQ) return lt_error(LT_EINVAL, "reduce_rows: bad op %d", (int)op);
    if (lt_cols(x) == 0 && op == LT_REDUCE_MAX)
        return lt_error(LT_ESHAPE, "reduce_rows: max over zero columns");
    return LT_CALL(be, reduce_rows, y->data, x->data, lt_rows(x), lt_cols(x), op);
}

/* ---- optimizer ----------------------------------------------------------------------------- */

/* p, g, m, v: f32 of one shape; the configuration in range. */
static int adamw_args(lt_backend *be, const char *op, const lt_tensor *p, const lt_tensor *g, const lt_tensor *m,
                      const lt_tensor *v, const lt_adamw_cfg *cfg) {
    LT_TRY(lt__arg(be, op, "param", p, LT_F32));
    LT_TRY(lt__arg(be, op, "grad", g, LT_F32));
    LT_TRY(lt__arg(be, op, "m", m, LT_F32));
    LT_TRY(lt__arg(be, op, "v", v, LT_F32));
    LT_TRY(same_shape(op, "grad", g, "param", p));
    LT_TRY(same_shape(op, "m", m, "param", p));
    LT_TRY(same_shape(op, "v", v, "param", p));
    if (!cfg || !(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 && cfg->beta2 < 1 && cfg->eps > 0))
        return lt_error(LT_EINVAL, "%s: need 0 <= beta < 1 and eps > 0 (beta1=%g beta2=%g eps=%g)", op,
                        cfg ? cfg->beta1 : 0, cfg ? cfg->beta2 : 0, cfg ? cfg->eps : 0);
    return 0;
}

int lt_adamw(lt_backend *be, lt_tensor *p, const lt_tensor *g, lt_tensor *m, lt_tensor *v,
             const lt_adamw_cfg *cfg, int64_t step, float grad_scale) {
    LT_TRY(adamw_args(be, "adamw", p, g, m, v, cfg));
    if (step < 1) return lt_error(LT_EINVAL, "adamw: step counts from 1 (got %lld)", (long long)step);
    return LT_CALL(be, adamw, p->data, g->data, m->data, v->data, lt_numel(p), cfg, step, grad_scale);
}

/* a device-resident f32[1] accumulator */
static int scalar_arg(lt_backend *be, const char *op, const char *name, const lt_tensor *t) {
    LT_TRY(lt__arg(be, op, name, t, LT_F32));
    return lt__numel_is(op, name, t, 1);
}

int lt_sumsq_acc(lt_backend *be, lt_tensor *acc, const lt_tensor *x) {
    LT_TRY(scalar_arg(be, "sumsq_acc", "acc", acc));
    LT_TRY(lt__arg(be, "sumsq_acc", "x", x, LT_F32));
    return LT_CALL(be, sumsq_acc, acc->data, x->data, lt_numel(x));
}

int lt_adamw_clipped(lt_backend *be, lt_tensor *p, const lt_tensor *g, lt_tensor *m, lt_tensor *v,
                     const lt_adamw_cfg *cfg, int64_t step, float grad_scale, const lt_tensor *sumsq, float max_norm) {
    const char *op = "adamw_clipped";
    LT_TRY(adamw_args(be, op, p, g, m, v, cfg));
    LT_TRY(scalar_arg(be, op, "sumsq", sumsq));
    if (step < 1) return lt_error(LT_EINVAL, "%s: step counts from 1 (got %lld)", op, (long long)step);
    return LT_CALL(be, adamw_clipped, p->data, g->data, m->data, v->data, lt_numel(p), cfg, step, grad_scale,
                   sumsq->data, max_norm);
}

int lt_adamw_rows(lt_backend *be, lt_tensor *p, const lt_tensor *g, lt_tensor *m, lt_tensor *v, lt_tensor *bpow,
                  const lt_adamw_cfg *cfg, float grad_scale, const lt_tensor *sumsq, float max_norm) {
    const char *op = "adamw_rows";
    LT_TRY(adamw_args(be, op, p, g, m, v, cfg));
    LT_TRY(scalar_arg(be, op, "sumsq", sumsq));
    LT_TRY(lt__arg(be, op, "bpow", bpow, LT_F32));
    if (p->ndim != 2) return lt_error(LT_ESHAPE, "%s: param must be a table [rows, cols]", op);
    LT_TRY(lt__numel_is(op, "bpow", bpow, 2 * p->shape[0]));
    return LT_CALL(be, adamw_rows, p->data, g->data, m->data, v->data, bpow->data, p->shape[0], p->shape[1], cfg,
                   grad_scale, sumsq->data, max_norm);
}

/* ---- transformer blocks ---------------------------------------------------------------------- */

static int same_dtype(const char *op, const char *na, const lt_tensor *a, const char *nb, const lt_tensor *b) {
    if (a->dtype == b->dtype) return 0;
    return lt_error(LT_EDTYPE, "%s: %s is %s but %s is %s (activations share one dtype)", op, na,
                    lt_dtype_name(a->dtype), nb, lt_dtype_name(b->dtype));
}

/* qkv[B, T, 3, H, D] (or [B, T, 3 H D]) and lens[B]: B, T, D from the shapes */
static int attention_shape(const char *op, const lt_tensor *qkv, const lt_tensor *lens, int heads, int64_t *B,
                           int64_t *T, int64_t *D) {
    char s[96];
    if (heads < 1) return lt_error(LT_EINVAL, "%s: heads = %d", op, heads);
    if (qkv->ndim < 3)
        return lt_error(LT_ESHAPE, "%s: qkv %s must be [B, T, 3, H, D] or [B, T, 3*H*D]", op, lt_tensor_str(qkv, s, sizeof s));
    *B = qkv->shape[0], *T = qkv->shape[1];
    int64_t per = lt_numel(qkv) / (*B && *T ? *B * *T : 1);
    if (per % (3 * heads)) return lt_error(LT_ESHAPE, "%s: qkv rows of %lld do not split into 3 x %d heads", op, (long long)per, heads);
    *D = per / (3 * heads);
    return lt__numel_is(op, "lens", lens, *B);
}

static int attention_fwd(lt_backend *be, const char *op, lt_tensor *out, lt_tensor *lse, const lt_tensor *qkv,
                         const lt_tensor *lens, int heads, float scale, int causal) {
    LT_TRY(act(be, op, "out", out));
    LT_TRY(act(be, op, "qkv", qkv));
    LT_TRY(same_dtype(op, "out", out, "qkv", qkv));
    LT_TRY(lt__arg(be, op, "lse", lse, LT_F32));
    LT_TRY(lt__arg(be, op, "lens", lens, LT_I32));
    int64_t B = 0, T = 0, D = 0;
    LT_TRY(attention_shape(op, qkv, lens, heads, &B, &T, &D));
    LT_TRY(lt__numel_is(op, "out", out, B * T * heads * D));
    LT_TRY(lt__numel_is(op, "lse", lse, B * heads * T));
    return LT_CALL(be, attention_fwd, out->data, lse->data, qkv->data, lens->data, qkv->dtype, B, T, heads, D, scale,
                   causal);
}

static int attention_bwd(lt_backend *be, const char *op, lt_tensor *dqkv, const lt_tensor *dout, const lt_tensor *qkv,
                         const lt_tensor *out, const lt_tensor *lse, const lt_tensor *lens, int heads, float scale,
                         int causal) {
    LT_TRY(act(be, op, "dqkv", dqkv));
    LT_TRY(act(be, op, "dout", dout));
    LT_TRY(act(be, op, "qkv", qkv));
    LT_TRY(act(be, op, "out", out));
    LT_TRY(same_dtype(op, "dqkv", dqkv, "qkv", qkv));
    LT_TRY(same_dtype(op, "dout", dout, "qkv", qkv));
    LT_TRY(same_dtype(op, "out", out, "qkv", qkv));
    LT_TRY(lt__arg(be, op, "lse", lse, LT_F32));
    LT_TRY(lt__arg(be, op, "lens", lens, LT_I32));
    int64_t B = 0, T = 0, D = 0;
    LT_TRY(attention_shape(op, qkv, lens, heads, &B, &T, &D));
    LT_TRY(lt__numel_is(op, "dqkv", dqkv, lt_numel(qkv)));
    LT_TRY(lt__numel_is(op, "out", out, B * T * heads * D));
    LT_TRY(lt__numel_is(op, "dout", dout, B * T * heads * D));
    LT_TRY(lt__numel_is(op, "lse", lse, B * heads * T));
    return LT_CALL(be, attention_bwd, dqkv->data, dout->data, qkv->data, out->data, lse->data, lens->data, qkv->dtype,
                   B, T, heads, D, scale, causal);
}

int lt_attention_fwd(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *qkv, const lt_tensor *lens,
                     int heads, float scale) {
    return attention_fwd(be, "attention_fwd", out, lse, qkv, lens, heads, scale, 0);
}

int lt_attention_bwd(lt_backend *be, lt_tensor *dqkv, const lt_tensor *dout, const lt_tensor *qkv,
                     const lt_tensor *out, const lt_tensor *lse, const lt_tensor *lens, int heads, float scale) {
    return attention_bwd(be, "attention_bwd", dqkv, dout, qkv, out, lse, lens, heads, scale, 0);
}

int lt_attention_causal_fwd(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *qkv,
                            const lt_tensor *lens, int heads, float scale) {
    return attention_fwd(be, "attention_causal_fwd", out, lse, qkv, lens, heads, scale, 1);
}

int lt_attention_causal_bwd(lt_backend *be, lt_tensor *dqkv, const lt_tensor *dout, const lt_tensor *qkv,
                            const lt_tensor *out, const lt_tensor *lse, const lt_tensor *lens, int heads,
                            float scale) {
    return attention_bwd(be, "attention_causal_bwd", dqkv, dout, qkv, out, lse, lens, heads, scale, 1);
}

int lt_bias_gelu_fwd(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *bias) {
    const char *op = "bias_gelu_fwd";
    LT_TRY(act(be, op, "y", y));
    LT_TRY(act(be, op, "x", x));
    LT_TRY(same_dtype(op, "y", y, "x", x));
    LT_TRY(same_shape(op, "y", y, "x", x));
    LT_TRY(lt__arg(be, op, "bias", bias, LT_F32));
    LT_TRY(lt__numel_is(op, "bias", bias, lt_cols(x)));
    return LT_CALL(be, bias_gelu_fwd, y->data, x->data, bias->data, x->dtype, lt_rows(x), lt_cols(x));
}

int lt_bias_gelu_bwd(lt_backend *be, lt_tensor *dx, lt_tensor *dbias, const lt_tensor *dy, const lt_tensor *x,
                     const lt_tensor *bias) {
    const char *op = "bias_gelu_bwd";
    LT_TRY(act(be, op, "dx", dx));
    LT_TRY(act(be, op, "dy", dy));
    LT_TRY(act(be, op, "x", x));
    LT_TRY(same_dtype(op, "dx", dx, "x", x));
    LT_TRY(same_dtype(op, "dy", dy, "x", x));
    LT_TRY(same_shape(op, "dx", dx, "x", x));
    LT_TRY(same_shape(op, "dy", dy, "x", x));
    LT_TRY(lt__arg(be, op, "dbias", dbias, LT_F32));
    LT_TRY(lt__arg(be, op, "bias", bias, LT_F32));
    LT_TRY(lt__numel_is(op, "bias", bias, lt_cols(x)));
    LT_TRY(lt__numel_is(op, "dbias", dbias, lt_cols(x)));
    return LT_CALL(be, bias_gelu_bwd, dx->data, dbias->data, dy->data, x->data, bias->data, x->dtype, lt_rows(x),
                   lt_cols(x));
}

int lt_residual_layernorm_fwd(lt_backend *be, lt_tensor *y, lt_tensor *s, lt_tensor *mean, lt_tensor *rstd,
                              const lt_tensor *a, const lt_tensor *b, const lt_tensor *w, const lt_tensor *beta,
                              float eps) {
    const char *op = "residual_layernorm_fwd";
    const lt_tensor *acts[4] = {y, s, a, b};
    const char *names[4] = {"y", "s", "a", "b"};
    for (int i = 0; i < 4; i++) {
        LT_TRY(act(be, op, names[i], acts[i]));
        LT_TRY(same_dtype(op, names[i], acts[i], "a", a));
        LT_TRY(same_shape(op, names[i], acts[i], "a", a));
    }
    int64_t R = lt_rows(a), C = lt_cols(a);
    LT_TRY(lt__arg(be, op, "mean", mean, LT_F32));
    LT_TRY(lt__arg(be, op, "rstd", rstd, LT_F32));
    LT_TRY(lt__arg(be, op, "w", w, LT_F32));
    LT_TRY(lt__arg(be, op, "beta", beta, LT_F32));
    LT_TRY(lt__numel_is(op, "mean", mean, R));
    LT_TRY(lt__numel_is(op, "rstd", rstd, R));
    LT_TRY(lt__numel_is(op, "w", w, C));
    LT_TRY(lt__numel_is(op, "beta", beta, C));
    if (!(eps > 0)) return lt_error(LT_EINVAL, "%s: eps must be > 0 (got %g)", op, eps);
    return LT_CALL(be, residual_layernorm_fwd, y->data, s->data, mean->data, rstd->data, a->data, b->data, w->data,
                   beta->data, a->dtype, R, C, eps);
}

int lt_residual_layernorm_bwd(lt_backend *be, lt_tensor *da, lt_tensor *db, lt_tensor *dw, lt_tensor *dbeta,
                              const lt_tensor *dy, const lt_tensor *s, const lt_tensor *w, const lt_tensor *mean,
                              const lt_tensor *rstd) {
    const char *op = "residual_layernorm_bwd";
    const lt_tensor *acts[4] = {da, db, dy, s};
    const char *names[4] = {"da", "db", "dy", "s"};
    for (int i = 0; i < 4; i++) {
        LT_TRY(act(be, op, names[i], acts[i]));
        LT_TRY(same_dtype(op, names[i], acts[i], "s", s));
        LT_TRY(same_shape(op, names[i], acts[i], "s", s));
    }
    int64_t R = lt_rows(s), C = lt_cols(s);
    LT_TRY(lt__arg(be, op, "dw", dw, LT_F32));
    LT_TRY(lt__arg(be, op, "dbeta", dbeta, LT_F32));
    LT_TRY(lt__arg(be, op, "w", w, LT_F32));
    LT_TRY(lt__arg(be, op, "mean", mean, LT_F32));
    LT_TRY(lt__arg(be, op, "rstd", rstd, LT_F32));
    LT_TRY(lt__numel_is(op, "dw", dw, C));
    LT_TRY(lt__numel_is(op, "dbeta", dbeta, C));
    LT_TRY(lt__numel_is(op, "w", w, C));
    LT_TRY(lt__numel_is(op, "mean", mean, R));
    LT_TRY(lt__numel_is(op, "rstd", rstd, R));
    return LT_CALL(be, residual_layernorm_bwd, da->data, db->data, dw->data, dbeta->data, dy->data, s->data, w->data,
                   mean->data, rstd->data, s->dtype, R, C);
}

int lt_cast(lt_backend *be, lt_tensor *y, const lt_tensor *x) {
    LT_TRY(act(be, "cast", "y", y));
    LT_TRY(act(be, "cast", "x", x));
    LT_TRY(lt__numel_is("cast", "y", y, lt_numel(x)));
    return LT_CALL(be, cast, y->data, y->dtype, x->data, x->dtype, lt_numel(x));
}

static int pool_args(lt_backend *be, const char *op, const lt_tensor *pooled, const lt_tensor *x, const lt_tensor *lens,
                     int64_t *B, int64_t *T, int64_t *C) {
    char s[96];
    LT_TRY(lt__arg(be, op, "pooled", pooled, LT_F32));
    LT_TRY(act(be, op, "x", x));
    LT_TRY(lt__arg(be, op, "lens", lens, LT_I32));
    if (x->ndim != 3) return lt_error(LT_ESHAPE, "%s: x %s must be [B, T, C]", op, lt_tensor_str(x, s, sizeof s));
    *B = x->shape[0], *T = x->shape[1], *C = x->shape[2];
    LT_TRY(lt__numel_is(op, "lens", lens, *B));
    return lt__numel_is(op, "pooled", pooled, *B * *C);
}

int lt_mean_pool_fwd(lt_backend *be, lt_tensor *out, const lt_tensor *x, const lt_tensor *lens) {
    int64_t B = 0, T = 0, C = 0;
    LT_TRY(pool_args(be, "mean_pool_fwd", out, x, lens, &B, &T, &C));
    return LT_CALL(be, mean_pool_fwd, out->data, x->data, lens->data, x->dtype, B, T, C);
}

int lt_mean_pool_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dout, const lt_tensor *lens) {
    int64_t B = 0, T = 0, C = 0;
    LT_TRY(pool_args(be, "mean_pool_bwd", dout, dx, lens, &B, &T, &C));
    return LT_CALL(be, mean_pool_bwd, dx->data, dout->data, lens->data, dx->dtype, B, T, C);
}

int lt_l2norm_fwd(lt_backend *be, lt_tensor *y, lt_tensor *norm, const lt_tensor *x) {
    LT_TRY(ew2(be, "l2norm_fwd", y, x, 0));
    LT_TRY(lt__arg(be, "l2norm_fwd", "norm", norm, LT_F32));
    LT_TRY(lt__numel_is("l2norm_fwd", "norm", norm, lt_rows(x)));
    return LT_CALL(be, l2norm_fwd, y->data, norm->data, x->data, lt_rows(x), lt_cols(x));
}

int lt_l2norm_bwd(lt_backend *be, lt_tensor *dx, const lt_tensor *dy, const lt_tensor *y, const lt_tensor *norm) {
    LT_TRY(ew2(be, "l2norm_bwd", dx, y, 0));
    LT_TRY(ew2(be, "l2norm_bwd", dy, y, 0));
    LT_TRY(lt__arg(be, "l2norm_bwd", "norm", norm, LT_F32));
    LT_TRY(lt__numel_is("l2norm_bwd", "norm", norm, lt_rows(y)));
    return LT_CALL(be, l2norm_bwd, dx->data, dy->data, y->data, norm->data, lt_rows(y), lt_cols(y));
}

/* ---- selection ----------------------------------------------------------------------------- */

int lt_topk(lt_backend *be, lt_tensor *vals, lt_tensor *idx, const lt_tensor *x) {
    LT_TRY(lt__arg(be, "topk", "vals", vals, LT_F32));
    LT_TRY(lt__arg(be, "topk", "idx", idx, LT_I32));
    LT_TRY(lt__arg(be, "topk", "x", x, LT_F32));
    LT_TRY(same_shape("topk", "idx", idx, "vals", vals));
    int64_t R = lt_rows(x), N = lt_cols(x), k = lt_cols(vals);
    if (lt_rows(vals) != R)
        return lt_error(LT_ESHAPE, "topk: vals has %lld rows, x has %lld", (long long)lt_rows(vals), (long long)R);
    if (k < 1 || k > N || k > LT_TOPK_MAX)
        return lt_error(LT_EINVAL, "topk: k=%lld must be in 1..min(%lld, %d)", (long long)k, (long long)N,
                        LT_TOPK_MAX);
    return LT_CALL(be, topk, vals->data, idx->data, x->data, R, N, (int)k);
}

/* ---- k-means ------------------------------------------------------------------------------- */

/* x[n, d] and the centroid-shaped c[k, d] (named cn): both 2-D, equal widths, 1 <= k, and n, k
 * within int32 (assignments are int32). */
static int kmeans_rows(const char *op, const lt_tensor *x, const char *cn, const lt_tensor *c, int64_t *n, int64_t *k,
                       int64_t *d) {
    char sx[96], sc[96];
    lt_tensor_str(x, sx, sizeof sx), lt_tensor_str(c, sc, sizeof sc);
    if (x->ndim != 2 || c->ndim != 2) return lt_error(LT_ESHAPE, "%s: x %s and %s %s must be 2-D", op, sx, cn, sc);
    *n = x->shape[0], *d = x->shape[1], *k = c->shape[0];
    if (c->shape[1] != *d) return lt_error(LT_ESHAPE, "%s: x %s and %s %s differ in width", op, sx, cn, sc);
    if (*k < 1) return lt_error(LT_ESHAPE, "%s: %s %s has no centroids", op, cn, sc);
    if (*n > INT32_MAX || *k > INT32_MAX)
        return lt_error(LT_ERANGE, "%s: x %s, %s %s: rows and centroids must fit int32", op, sx, cn, sc);
    return 0;
}

int lt_kmeans_assign(lt_backend *be, lt_tensor *assign, lt_tensor *dist, lt_tensor *second, const lt_tensor *x,
                     const lt_tensor *c, const lt_tensor *cnorm) {
    const char *op = "kmeans_assign";
    LT_TRY(lt__arg(be, op, "assign", assign, LT_I32));
    LT_TRY(lt__arg(be, op, "dist", dist, LT_F32));
    LT_TRY(lt__arg(be, op, "x", x, LT_F32));
    LT_TRY(lt__arg(be, op, "c", c, LT_F32));
    LT_TRY(lt__arg(be, op, "cnorm", cnorm, LT_F32));
    int64_t n = 0, k = 0, d = 0;
    LT_TRY(kmeans_rows(op, x, "c", c, &n, &k, &d));
    LT_TRY(lt__numel_is(op, "assign", assign, n));
    LT_TRY(lt__numel_is(op, "dist", dist, n));
    LT_TRY(lt__numel_is(op, "cnorm", cnorm, k));
    if (second) {
        LT_TRY(lt__arg(be, op, "second", second, LT_F32));
        LT_TRY(lt__numel_is(op, "second", second, n));
    }
    if (n == 0) return 0;
    return LT_CALL(be, kmeans_assign, assign->data, dist->data, second ? second->data : NULL, x->data, c->data,
                   cnorm->data, n, k, d);
}

int lt_kmeans_update(lt_backend *be, lt_tensor *sums, lt_tensor *counts, const lt_tensor *x, const lt_tensor *assign) {
    const char *op = "kmeans_update";
    LT_TRY(lt__arg(be, op, "sums", sums, LT_F32));
    LT_TRY(lt__arg(be, op, "counts", counts, LT_I32));
    LT_TRY(lt__arg(be, op, "x", x, LT_F32));
    LT_TRY(lt__arg(be, op, "assign", assign, LT_I32));
    int64_t n = 0, k = 0, d = 0;
    LT_TRY(kmeans_rows(op, x, "sums", sums, &n, &k, &d));
    LT_TRY(lt__numel_is(op, "assign", assign, n));
    LT_TRY(lt__numel_is(op, "counts", counts, k));
    if (n == 0) return 0;
    return LT_CALL(be, kmeans_update, sums->data, counts->data, x->data, assign->data, n, k, d);
}

/* ---- recurrent layers (LSTM, GRU) ------------------------------------------------------------------ */

int lt_cell_gates(lt_cell cell) { return cell == LT_CELL_LSTM ? 4 : cell == LT_CELL_GRU ? 3 : 0; }

static const char *cell_name(lt_cell cell) { return cell == LT_CELL_LSTM ? "lstm" : "gru"; }

static int rnn_sizes(const char *op, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H) {
    if (cell != LT_CELL_LSTM && cell != LT_CELL_GRU) return lt_error(LT_EINVAL, "%s: unknown cell %d", op, (int)cell);
    if (B < 1 || T < 1 || I < 1 || H < 1)
        return lt_error(LT_ESHAPE, "%s: B=%lld T=%lld I=%lld H=%lld: every size must be >= 1", op, (long long)B,
                        (long long)T, (long long)I, (long long)H);
    if (B * T > INT32_MAX || 4 * H > INT32_MAX || I > INT32_MAX)
        return lt_error(LT_ERANGE, "%s: B*T=%lld, I=%lld or 4*H=%lld exceeds 2^31-1", op, (long long)(B * T),
                        (long long)I, (long long)(4 * H));
    return 0;
}

int lt_rnn_reserve_bytes(lt_backend *be, lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, size_t *bytes) {
    const char *op = "rnn_reserve_bytes";
    if (!bytes) return lt_error(LT_EINVAL, "%s: bytes is NULL", op);
    *bytes = 0;
    LT_TRY(rnn_sizes(op, cell, B, T, I, H));
    return LT_CALL(be, rnn_reserve, cell, B, T, I, H, bytes);
}

/* t is NULL or of dtype dt with exactly the given shape (1 to 3 dims), on the backend's device. */
static int rnn_opt(lt_backend *be, const char *op, const char *name, const lt_tensor *t, lt_dtype dt, int ndim,
                   int64_t d0, int64_t d1, int64_t d2) {
    if (!t) return 0;
    LT_TRY(lt__arg(be, op, name, t, dt));
    int64_t want[3] = {d0, d1, d2};
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (ok) return 0;
    char s[96], w[64];
    if (ndim == 1) snprintf(w, sizeof w, "[%lld]", (long long)d0);
    else if (ndim == 2) snprintf(w, sizeof w, "[%lld, %lld]", (long long)d0, (long long)d1);
    else snprintf(w, sizeof w, "[%lld, %lld, %lld]", (long long)d0, (long long)d1, (long long)d2);
    return lt_error(LT_ESHAPE, "%s: %s: expected %s%s, got %s", op, name, lt_dtype_name(dt), w,
                    lt_tensor_str(t, s, sizeof s));
}

static int rnn_req(lt_backend *be, const char *op, const char *name, const lt_tensor *t, lt_dtype dt, int ndim,
                   int64_t d0, int64_t d1, int64_t d2) {
    if (!t) return lt_error(LT_EINVAL, "%s: %s is NULL", op, name);
    return rnn_opt(be, op, name, t, dt, ndim, d0, d1, d2);
}

/* The arguments both directions share: sizes from x[B, T, I] and w_hh[G*H, H], the activations'
 * dtype from x (f32 or bf16; h0 and c0 share it); weights and biases f32, lens (int32[B] on the host,
 * each in [0, T]) and the reserve ws (u8, at least lt_rnn_reserve_bytes; may be NULL when
 * ws_optional). */
static int rnn_args(lt_backend *be, const char *op, lt_cell cell, const lt_tensor *x, const lt_tensor *w_ih,
                    const lt_tensor *w_hh, const lt_tensor *b_ih, const lt_tensor *b_hh, const lt_tensor *h0,
                    const lt_tensor *c0, const lt_tensor *lens, const lt_tensor *ws, int ws_optional, lt_dtype *pdt,
                    int64_t *pB, int64_t *pT, int64_t *pI, int64_t *pH) {
    char s[96];
    if (cell != LT_CELL_LSTM && cell != LT_CELL_GRU) return lt_error(LT_EINVAL, "%s: unknown cell %d", op, (int)cell);
    LT_TRY(act(be, op, "x", x));
    const lt_dtype dt = x->dtype;
    if (x->ndim != 3) return lt_error(LT_ESHAPE, "%s: x %s must be [B, T, I]", op, lt_tensor_str(x, s, sizeof s));
    LT_TRY(lt__arg(be, op, "w_hh", w_hh, LT_F32));
    int64_t G = lt_cell_gates(cell), B = x->shape[0], T = x->shape[1], I = x->shape[2];
    if (w_hh->ndim != 2 || w_hh->shape[0] != G * w_hh->shape[1])
        return lt_error(LT_ESHAPE, "%s: w_hh %s must be [%lld*H, H] for %s", op, lt_tensor_str(w_hh, s, sizeof s),
                        (long long)G, cell_name(cell));
    int64_t H = w_hh->shape[1];
    LT_TRY(rnn_sizes(op, cell, B, T, I, H));
    LT_TRY(rnn_req(be, op, "w_ih", w_ih, LT_F32, 2, G * H, I, 0));
    LT_TRY(rnn_opt(be, op, "b_ih", b_ih, LT_F32, 1, G * H, 0, 0));
    LT_TRY(rnn_opt(be, op, "b_hh", b_hh, LT_F32, 1, G * H, 0, 0));
    LT_TRY(rnn_opt(be, op, "h0", h0, dt, 2, B, H, 0));
    if (cell == LT_CELL_GRU && c0) return lt_error(LT_EINVAL, "%s: c0 must be NULL for a GRU (it has no cell state)", op);
    LT_TRY(rnn_opt(be, op, "c0", c0, dt, 2, B, H, 0));
    /* lens: on the host whatever the backend, as the loops over steps are planned there */
    if (!lens) return lt_error(LT_EINVAL, "%s: lens is NULL", op);
    if (lens->dtype != LT_I32)
        return lt_error(LT_EDTYPE, "%s: lens: expected i32[%lld], got %s", op, (long long)B,
                        lt_tensor_str(lens, s, sizeof s));
    if (lens->device != LT_CPU)
        return lt_error(LT_EDEVICE, "%s: lens: expected a tensor on the host (cpu) whatever the backend, got %s", op,
                        lt_tensor_str(lens, s, sizeof s));
    LT_TRY(lt__numel_is(op, "lens", lens, B));
    if (!lens->data) return lt_error(LT_EINVAL, "%s: lens has no data", op);
    const int32_t *l = lens->data;
    for (int64_t b = 0; b < B; b++)
        if (l[b] < 0 || l[b] > T)
            return lt_error(LT_ERANGE, "%s: lens[%lld] = %d is outside [0, T = %lld]", op, (long long)b, (int)l[b],
                            (long long)T);
    if (ws || !ws_optional) {
        if (!ws) return lt_error(LT_EINVAL, "%s: ws (the forward's reserve) is NULL", op);
        LT_TRY(lt__arg(be, op, "ws", ws, LT_U8));
        size_t need = 0;
        LT_TRY(lt_rnn_reserve_bytes(be, cell, B, T, I, H, &need));
        if (lt_nbytes(ws) < need)
            return lt_error(LT_ESHAPE, "%s: ws %s is smaller than the %zu bytes lt_rnn_reserve_bytes asks for", op,
                            lt_tensor_str(ws, s, sizeof s), need);
    }
    *pdt = dt, *pB = B, *pT = T, *pI = I, *pH = H;
    return 0;
}

#define RNN_DATA(t) ((t) ? (t)->data : NULL)

int lt_rnn_fwd(lt_backend *be, lt_cell cell, lt_tensor *y, lt_tensor *hT, lt_tensor *cT, lt_tensor *ws,
               const lt_tensor *x, const lt_tensor *w_ih, const lt_tensor *w_hh, const lt_tensor *b_ih,
               const lt_tensor *b_hh, const lt_tensor *h0, const lt_tensor *c0, const lt_tensor *lens) {
    const char *op = "rnn_fwd";
    lt_dtype dt;
    int64_t B, T, I, H;
    LT_TRY(rnn_args(be, op, cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lens, ws, 1, &dt, &B, &T, &I, &H));
    LT_TRY(rnn_req(be, op, "y", y, dt, 3, B, T, H));
    LT_TRY(rnn_opt(be, op, "hT", hT, dt, 2, B, H, 0));
    if (cell == LT_CELL_GRU && cT) return lt_error(LT_EINVAL, "%s: cT must be NULL for a GRU (it has no cell state)", op);
    LT_TRY(rnn_opt(be, op, "cT", cT, dt, 2, B, H, 0));
    return LT_CALL(be, rnn_fwd, cell, y->data, RNN_DATA(hT), RNN_DATA(cT), RNN_DATA(ws), x->data, w_ih->data,
                   w_hh->data, RNN_DATA(b_ih), RNN_DATA(b_hh), RNN_DATA(h0), RNN_DATA(c0), lens->data, dt, B, T, I, H);
}

int lt_rnn_bwd(lt_backend *be, lt_cell cell, lt_tensor *dx, lt_tensor *dw_ih, lt_tensor *dw_hh, lt_tensor *db_ih,
               lt_tensor *db_hh, lt_tensor *dh0, lt_tensor *dc0, const lt_tensor *dy, const lt_tensor *dhT,
               const lt_tensor *dcT, const lt_tensor *ws, const lt_tensor *x, const lt_tensor *y,
               const lt_tensor *w_ih, const lt_tensor *w_hh, const lt_tensor *b_ih, const lt_tensor *b_hh,
               const lt_tensor *h0, const lt_tensor *c0, const lt_tensor *lens) {
    const char *op = "rnn_bwd";
    lt_dtype dt;
    int64_t B, T, I, H;
    LT_TRY(rnn_args(be, op, cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lens, ws, 0, &dt, &B, &T, &I, &H));
    int64_t GH = lt_cell_gates(cell) * H;
    LT_TRY(rnn_req(be, op, "y", y, dt, 3, B, T, H));
    LT_TRY(rnn_req(be, op, "dy", dy, dt, 3, B, T, H));
    LT_TRY(rnn_opt(be, op, "dhT", dhT, dt, 2, B, H, 0));
    LT_TRY(rnn_opt(be, op, "dx", dx, dt, 3, B, T, I));
    LT_TRY(rnn_opt(be, op, "dw_ih", dw_ih, LT_F32, 2, GH, I, 0));
    LT_TRY(rnn_req(be, op, "dw_hh", dw_hh, LT_F32, 2, GH, H, 0));
    LT_TRY(rnn_opt(be, op, "db_ih", db_ih, LT_F32, 1, GH, 0, 0));
    LT_TRY(rnn_opt(be, op, "db_hh", db_hh, LT_F32, 1, GH, 0, 0));
    LT_TRY(rnn_opt(be, op, "dh0", dh0, dt, 2, B, H, 0));
    if (cell == LT_CELL_GRU && (dcT || dc0))
        return lt_error(LT_EINVAL, "%s: %s must be NULL for a GRU (it has no cell state)", op, dcT ? "dcT" : "dc0");
    LT_TRY(rnn_opt(be, op, "dcT", dcT, dt, 2, B, H, 0));
    LT_TRY(rnn_opt(be, op, "dc0", dc0, dt, 2, B, H, 0));
    return LT_CALL(be, rnn_bwd, cell, RNN_DATA(dx), RNN_DATA(dw_ih), dw_hh->data, RNN_DATA(db_ih), RNN_DATA(db_hh),
                   RNN_DATA(dh0), RNN_DATA(dc0), dy->data, RNN_DATA(dhT), RNN_DATA(dcT), ws->data, x->data, y->data,
                   w_ih->data, w_hh->data, RNN_DATA(b_ih), RNN_DATA(b_hh), RNN_DATA(h0), RNN_DATA(c0), lens->data, dt,
                   B, T, I, H);
}

int lt_rnn_set_impl(lt_backend *be, lt_rnn_impl impl) {
    if (!be) return lt_error(LT_EINVAL, "rnn_set_impl: backend is NULL");
    if (impl != LT_RNN_NATIVE && impl != LT_RNN_CUDNN)
        return lt_error(LT_EINVAL, "rnn_set_impl: unknown implementation %d", (int)impl);
    return LT_CALL(be, rnn_set_impl, impl);
}
