/* Ridge models of the bandits (ops.h, "ridge regression for the bandits"): argument checks. */
#include <stdio.h>

#include "core/backend_impl.h"
#include "longtail/error.h"
#include "longtail/ops.h"

/* ainv[M, D, D], b[M, D], x[n, D], model int32[n] or NULL; M, D, n out. */
static int ridge_args(lt_backend *be, const char *op, const lt_tensor *ainv, const lt_tensor *b, const lt_tensor *x,
                      const lt_tensor *model, int64_t *M, int64_t *D, int64_t *n) {
    char sa[96], sb[96], sx[96];
    LT_TRY(lt__arg(be, op, "ainv", ainv, LT_F32));
    LT_TRY(lt__arg(be, op, "b", b, LT_F32));
    LT_TRY(lt__arg(be, op, "x", x, LT_F32));
    lt_tensor_str(ainv, sa, sizeof sa), lt_tensor_str(b, sb, sizeof sb), lt_tensor_str(x, sx, sizeof sx);
    if (x->ndim != 2 || b->ndim != 2 || ainv->ndim != 3)
        return lt_error(LT_ESHAPE, "%s: ainv %s, b %s, x %s: expected [M, D, D], [M, D], [n, D]", op, sa, sb, sx);
    *M = ainv->shape[0], *D = ainv->shape[1], *n = x->shape[0];
    if (ainv->shape[2] != *D || b->shape[0] != *M || b->shape[1] != *D || x->shape[1] != *D)
        return lt_error(LT_ESHAPE, "%s: ainv %s, b %s, x %s: expected [M, D, D], [M, D], [n, D]", op, sa, sb, sx);
    if (*M < 1 || *D < 1 || *D > LT_RIDGE_MAX_DIM)
        return lt_error(LT_ESHAPE, "%s: ainv %s: need M >= 1 and 1 <= D <= %d", op, sa, LT_RIDGE_MAX_DIM);
    if (model) {
        LT_TRY(lt__arg(be, op, "model", model, LT_I32));
        LT_TRY(lt__numel_is(op, "model", model, *n));
    } else if (*M != 1) {
        return lt_error(LT_EINVAL, "%s: %lld models but no model ids", op, (long long)*M);
    }
    return 0;
}

int lt_ridge_update(lt_backend *be, lt_tensor *ainv, lt_tensor *b, const lt_tensor *x, const lt_tensor *r,
                    const lt_tensor *model) {
    int64_t M = 0, D = 0, n = 0;
    LT_TRY(ridge_args(be, "ridge_update", ainv, b, x, model, &M, &D, &n));
    LT_TRY(lt__arg(be, "ridge_update", "r", r, LT_F32));
    LT_TRY(lt__numel_is("ridge_update", "r", r, n));
    if (n == 0) return 0;
    return LT_CALL(be, ridge_update, ainv->data, b->data, x->data, r->data, model ? model->data : NULL, n, M, D);
}

int lt_ridge_score(lt_backend *be, lt_tensor *mean, lt_tensor *var, const lt_tensor *ainv, const lt_tensor *b,
                   const lt_tensor *x, const lt_tensor *model) {
    int64_t M = 0, D = 0, n = 0;
    LT_TRY(ridge_args(be, "ridge_score", ainv, b, x, model, &M, &D, &n));
    LT_TRY(lt__arg(be, "ridge_score", "mean", mean, LT_F32));
    LT_TRY(lt__numel_is("ridge_score", "mean", mean, n));
    if (var) {
        LT_TRY(lt__arg(be, "ridge_score", "var", var, LT_F32));
        LT_TRY(lt__numel_is("ridge_score", "var", var, n));
    }
    if (n == 0) return 0;
    return LT_CALL(be, ridge_score, mean->data, var ? var->data : NULL, ainv->data, b->data, x->data,
                   model ? model->data : NULL, n, M, D);
}
