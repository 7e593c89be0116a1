/* Softmax ranking over a catalog and top-K scoring (ops.h, "softmax ranking over a catalog"):
 * argument checks and the chunk loops, written once for every backend.
 *
 * Design. Scores s = u v^T + bias are never held for the whole catalog: each loop computes one
 * tile of scores with lt_gemm into a scratch buffer and hands it to a small per-tile kernel of the
 * backend (slots xent_tile_fwd, xent_tile_bwd, sampled_prep, sampled_scatter, topk_tile in
 * backend_impl.h). Peak extra memory is one tile, O(B x chunk), plus O(B) running state.
 *  - catalog_xent_fwd: per chunk of items, GEMM -> work[B, chunk]; the tile kernel adds the bias
 *    and merges the tile into a running (max, sum) per row (online log-sum-exp) and picks up the
 *    target's score when the target falls in the chunk; the last chunk writes lse and loss.
 *  - catalog_xent_bwd: per chunk, the scores are recomputed by the same GEMM; the tile kernel
 *    turns them into dS = dloss (exp(s - lse) - onehot) in place and adds dS's column sums to
 *    dbias; two GEMMs accumulate du += dS v_chunk and dv_chunk += dS^T u.
 *  - sampled_xent: the S shared negatives are gathered (embedding_fwd) into [S, D], one GEMM gives
 *    work[:, 1..S], sampled_prep adds column 0 (the target's own score), bias - logq and the
 *    accidental-hit mask; then the same tile kernels as the catalog run with tcol0 = 1. The
 *    backward's negative rows of dv go back through embedding_bwd (deterministic).
 *  - score_topk: tiles of rows x items (sized per device), GEMM, then topk_tile merges each tile
 *    into the running top-K with exclusions.
 * The running (max, sum, target score) state lives in a small buffer allocated per call.
 * On a CPU with several threads the same loops run in parallel parts, one per thread, each on its
 * own slice of the work buffer with single-threaded GEMMs (see cpu_parts): row blocks for the
 * forward and for top-K, interleaved item sub-chunks for the backward (dv and dbias rows are then
 * disjoint; du goes through one B x D partial per thread, added in order). There is no barrier
 * per chunk, and each tile stays in its core's cache; on a device, or with one thread, a part is
 * the whole loop and every GEMM fills the device (or is split over the threads). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/backend_impl.h"
#include "longtail/error.h"
#include "longtail/ops.h"

/* u[B, D] and v[N, D] (2-D, same width); B, N, D out */
static int uv_shapes(lt_backend *be, const char *op, const lt_tensor *u, const lt_tensor *v, int64_t *B, int64_t *N,
                     int64_t *D) {
    LT_TRY(lt__arg(be, op, "u", u, LT_F32));
    LT_TRY(lt__arg(be, op, "v", v, LT_F32));
    char su[96], sv[96];
    if (u->ndim != 2 || v->ndim != 2 || u->shape[1] != v->shape[1])
        return lt_error(LT_ESHAPE, "%s: u %s and v %s must be [B, D] and [N, D]", op, lt_tensor_str(u, su, sizeof su),
                        lt_tensor_str(v, sv, sizeof sv));
    *B = u->shape[0], *N = v->shape[0], *D = u->shape[1];
    if (*N > INT32_MAX) return lt_error(LT_ERANGE, "%s: v has %lld items; item ids are int32", op, (long long)*N);
    return 0;
}

/* an optional f32 of n elements (bias, logq, and the backward's du, dv, dbias) */
static int opt_vec(lt_backend *be, const char *op, const char *name, const lt_tensor *t, int64_t n) {
    if (!t) return 0;
    LT_TRY(lt__arg(be, op, name, t, LT_F32));
    return lt__numel_is(op, name, t, n);
}

/* The backward's gradients: dloss[B] and lse[B], and the optional du[B, D], dv[N, D], dbias[N]. */
static int grad_args(lt_backend *be, const char *op, const lt_tensor *dloss, const lt_tensor *lse, const lt_tensor *du,
                     const lt_tensor *dv, const lt_tensor *dbias, int64_t B, int64_t N, int64_t D) {
    LT_TRY(lt__arg(be, op, "dloss", dloss, LT_F32));
    LT_TRY(lt__numel_is(op, "dloss", dloss, B));
    LT_TRY(lt__arg(be, op, "lse", lse, LT_F32));
    LT_TRY(lt__numel_is(op, "lse", lse, B));
    LT_TRY(opt_vec(be, op, "du", du, B * D));
    LT_TRY(opt_vec(be, op, "dv", dv, N * D));
    return opt_vec(be, op, "dbias", dbias, N);
}

static const float *fptr(const lt_tensor *t) { return t ? (const float *)t->data : NULL; }

/* c[m, n] (row stride ldc) = alpha op(a) op(b) + beta c, all f32 */
static int mm(lt_backend *be, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    lt_gemm_desc d = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 1.0f, .beta = beta,
                      .a = a, .a_type = LT_F32, .lda = lda, .b = b, .b_type = LT_F32, .ldb = ldb,
                      .c = c, .c_type = LT_F32, .ldc = ldc, .batch = 1};
    return lt_gemm(be, &d);
}

/* ---- full catalog ----------------------------------------------------------------------------- */

/* the checks both directions share; *cn = min(chunk, N) */
static int catalog_args(lt_backend *be, const char *op, const lt_tensor *u, const lt_tensor *v, const lt_tensor *bias,
                        const lt_tensor *targets, int64_t chunk, const lt_tensor *work, int64_t *B, int64_t *N,
                        int64_t *D, int64_t *cn) {
    LT_TRY(uv_shapes(be, op, u, v, B, N, D));
    LT_TRY(opt_vec(be, op, "bias", bias, *N));
    LT_TRY(lt__arg(be, op, "targets", targets, LT_I32));
    LT_TRY(lt__numel_is(op, "targets", targets, *B));
    LT_TRY(lt__arg(be, op, "work", work, LT_F32));
    if (*N < 1) return lt_error(LT_ESHAPE, "%s: v has no items", op);
    if (chunk < 1) return lt_error(LT_EINVAL, "%s: chunk = %lld must be >= 1", op, (long long)chunk);
    *cn = chunk < *N ? chunk : *N;
    if (lt_numel(work) < *B * *cn)
        return lt_error(LT_ESHAPE, "%s: work has %lld elements, needs B * chunk = %lld", op, (long long)lt_numel(work),
                        (long long)(*B * *cn));
    if (*B * *cn > INT32_MAX) /* one GEMM output; BLAS sizes are 32-bit */
        return lt_error(LT_ERANGE, "%s: B * chunk = %lld is too large for one tile", op, (long long)(*B * *cn));
    return 0;
}

/* How many parts a CPU loop runs in parallel, one per thread, each on its own slice of the work
 * buffer with single-threaded GEMMs (inside the loop, GEMMs and tile kernels see omp_in_parallel()
 * and stay on their thread): no barrier per chunk, and each tile stays in its core's cache. 1 on a
 * device, with one thread, or when `units` (rows or items per chunk) leave fewer than `least` per
 * part; the loop then runs as one part whose GEMMs are split over the threads instead. */
static int cpu_parts(lt_backend *be, int64_t units, int64_t least) {
    if (be->device != LT_CPU || omp_in_parallel()) return 1;
    int nt = omp_get_max_threads();
    return nt > 1 && units >= least * nt ? nt : 1;
}

/* Errors inside a parallel loop are per thread: the first one is kept with its message. */
typedef struct {
    int rc;
    char msg[512];
} par_err;
static void par_fail(par_err *pe, int rc) {
    if (!rc) return;
#pragma omp critical(lt_rank_error)
    if (!pe->rc) pe->rc = rc, snprintf(pe->msg, sizeof pe->msg, "%s", lt_last_error());
}
static int par_result(const par_err *pe) { return pe->rc ? lt_error(pe->rc, "%s", pe->msg) : 0; }

/* Rows a call of the chunk loops takes on the CPU: blocks of XENT_TILE / chunk rows (at least 64) keep
 * the tile of scores, rows x chunk floats, in the caches; with every row at once (the recommender's
 * batch x positions, thousands of rows) the tile is up to 100 MiB and each GEMM and exp pass streams
 * it through memory (bench/rec). Rows are independent, so the blocks give each row's loss, lse and
 * du as one call would; dv and dbias add the blocks' contributions in block order. A device takes
 * every row at once. */
#define XENT_TILE ((int64_t)1 << 20) /* floats of scores per block on the CPU: 4 MiB */
static int64_t xent_block_rows(lt_backend *be, int64_t B, int64_t cn) {
    int64_t r = XENT_TILE / cn;
    if (be->device != LT_CPU || r >= B) return B > 0 ? B : 1;
    return r < 64 ? 64 : r;
}

/* The forward over rows [B] (pointers already at the block's first row) */
static int xent_fwd_block(lt_backend *be, float *ls, float *lz, const float *uu, const float *vv, const float *bb,
                          const int32_t *tg, int64_t B, int64_t N, int64_t D, int64_t cn, float *work) {
    float *st = NULL; /* running max, sum and target score: [3, B] */
    LT_TRY(lt_backend_alloc(be, (void **)&st, sizeof(float) * (size_t)(3 * B)));
    /* parts = blocks of rows (rows are independent here); part p's tile is work[r0 * cn, r1 * cn) */
    int np = cpu_parts(be, B, 64);
    par_err pe = {0};
#pragma omp parallel for schedule(static, 1) num_threads(np) if (np > 1)
    for (int p = 0; p < np; p++) {
        int64_t r0 = B * p / np, rows = B * (p + 1) / np - r0;
        float *s = work + r0 * cn;
        int rc = 0;
        for (int64_t j0 = 0; j0 < N && !rc; j0 += cn) {
            int64_t n = N - j0 < cn ? N - j0 : cn;
            rc = mm(be, 0, 1, rows, n, D, uu + r0 * D, D, vv + j0 * D, D, 0.0f, s, n);
            if (!rc)
                rc = LT_CALL(be, xent_tile_fwd, ls + r0, lz + r0, st + r0, st + B + r0, st + 2 * B + r0, s,
                             bb ? bb + j0 : NULL, tg + r0, rows, n, j0, N, 0, j0 == 0, j0 + n >= N);
        }
        par_fail(&pe, rc);
    }
    lt_backend_free(be, st); /* stream-ordered on CUDA */
    return par_result(&pe);
}

int lt_catalog_xent_fwd(lt_backend *be, lt_tensor *loss, lt_tensor *lse, const lt_tensor *u, const lt_tensor *v,
                        const lt_tensor *bias, const lt_tensor *targets, int64_t chunk, lt_tensor *work) {
    const char *op = "catalog_xent_fwd";
    int64_t B = 0, N = 0, D = 0, cn = 0;
    LT_TRY(catalog_args(be, op, u, v, bias, targets, chunk, work, &B, &N, &D, &cn));
    LT_TRY(lt__arg(be, op, "loss", loss, LT_F32));
    LT_TRY(lt__arg(be, op, "lse", lse, LT_F32));
    LT_TRY(lt__numel_is(op, "loss", loss, B));
    LT_TRY(lt__numel_is(op, "lse", lse, B));
    const float *uu = u->data, *vv = v->data, *bb = fptr(bias);
    float *ls = loss->data, *lz = lse->data;
    const int32_t *tg = targets->data;
    int64_t R = xent_block_rows(be, B, cn);
    for (int64_t b0 = 0; b0 < B; b0 += R) {
        int64_t n = B - b0 < R ? B - b0 : R;
        LT_TRY(xent_fwd_block(be, ls + b0, lz + b0, uu + b0 * D, vv, bb, tg + b0, n, N, D, cn, work->data));
    }
    return 0;
}

/* The backward over rows [B] (pointers already at the block's first row; du may be NULL) */
static int xent_bwd_block(lt_backend *be, float *du, float *dv, float *db, const float *dl, const float *uu,
                          const float *vv, const float *bb, const float *lz, const int32_t *tg, int64_t B, int64_t N,
                          int64_t D, int64_t cn, float *work) {
    /* parts = interleaved sub-chunks of cs = cn / np items (dv and dbias rows are disjoint between
     * them); du is summed over every item, so each part adds into a B x D partial of its own, and
     * the partials are added to du in part order afterwards (deterministic for a thread count) */
    int np = cpu_parts(be, cn, 64);
    int64_t cs = cn / np;
    float *part = NULL;
    if (np > 1 && du) {
        LT_TRY(lt_backend_alloc(be, (void **)&part, sizeof(float) * (size_t)(np * B * D)));
        LT_TRY(LT_CALL(be, memset0, part, sizeof(float) * (size_t)(np * B * D)));
    }
    par_err pe = {0};
#pragma omp parallel for schedule(static, 1) num_threads(np) if (np > 1)
    for (int p = 0; p < np; p++) {
        float *s = work + (int64_t)p * B * cs, *dup = part ? part + (int64_t)p * B * D : du;
        int rc = 0;
        for (int64_t j0 = (int64_t)p * cs; j0 < N && !rc; j0 += np * cs) {
            int64_t n = N - j0 < cs ? N - j0 : cs;
            rc = mm(be, 0, 1, B, n, D, uu, D, vv + j0 * D, D, 0.0f, s, n);
            if (!rc)
                rc = LT_CALL(be, xent_tile_bwd, s, db ? db + j0 : NULL, bb ? bb + j0 : NULL, lz, dl, tg, B, n, j0, 0);
            if (!rc && dup) rc = mm(be, 0, 0, B, D, n, s, n, vv + j0 * D, D, 1.0f, dup, D);
            if (!rc && dv) rc = mm(be, 1, 0, n, D, B, s, n, uu, D, 1.0f, dv + j0 * D, D);
        }
        par_fail(&pe, rc);
    }
    int rc = par_result(&pe);
    for (int p = 0; p < np && part && !rc; p++) rc = LT_CALL(be, axpy, du, 1.0f, part + (int64_t)p * B * D, LT_F32, B * D);
    lt_backend_free(be, part);
    return rc;
}

int lt_catalog_xent_bwd(lt_backend *be, lt_tensor *du, lt_tensor *dv, lt_tensor *dbias, const lt_tensor *dloss,
                        const lt_tensor *u, const lt_tensor *v, const lt_tensor *bias, const lt_tensor *targets,
                        const lt_tensor *lse, int64_t chunk, lt_tensor *work) {
    const char *op = "catalog_xent_bwd";
    int64_t B = 0, N = 0, D = 0, cn = 0;
    LT_TRY(catalog_args(be, op, u, v, bias, targets, chunk, work, &B, &N, &D, &cn));
    LT_TRY(grad_args(be, op, dloss, lse, du, dv, dbias, B, N, D));
    if (!du && !dv && !dbias) return 0;
    const float *uu = u->data, *vv = v->data, *bb = fptr(bias), *dl = dloss->data, *lz = lse->data;
    const int32_t *tg = targets->data;
    float *dd = du ? du->data : NULL, *dvv = dv ? dv->data : NULL, *db = dbias ? dbias->data : NULL;
    int64_t R = xent_block_rows(be, B, cn);
    for (int64_t b0 = 0; b0 < B; b0 += R) {
        int64_t n = B - b0 < R ? B - b0 : R;
        LT_TRY(xent_bwd_block(be, dd ? dd + b0 * D : NULL, dvv, db, dl + b0, uu + b0 * D, vv, bb, lz + b0, tg + b0, n,
                              N, D, cn, work->data));
    }
    return 0;
}

/* ---- sampled softmax -------------------------------------------------------------------------- */

static int sampled_args(lt_backend *be, const char *op, const lt_tensor *u, const lt_tensor *v, const lt_tensor *bias,
                        const lt_tensor *logq, const lt_tensor *targets, const lt_tensor *neg, const lt_tensor *work,
                        int64_t *B, int64_t *N, int64_t *D, int64_t *S) {
    LT_TRY(uv_shapes(be, op, u, v, B, N, D));
    LT_TRY(opt_vec(be, op, "bias", bias, *N));
    LT_TRY(opt_vec(be, op, "logq", logq, *N));
    LT_TRY(lt__arg(be, op, "targets", targets, LT_I32));
    LT_TRY(lt__numel_is(op, "targets", targets, *B));
    LT_TRY(lt__arg(be, op, "neg", neg, LT_I32));
    LT_TRY(lt__arg(be, op, "work", work, LT_F32));
    *S = lt_numel(neg);
    if (*N < 1) return lt_error(LT_ESHAPE, "%s: v has no items", op);
    if (lt_numel(work) < *B * (*S + 1))
        return lt_error(LT_ESHAPE, "%s: work has %lld elements, needs B * (S + 1) = %lld", op,
                        (long long)lt_numel(work), (long long)(*B * (*S + 1)));
    return 0;
}

/* work[B, S+1] = the corrected, masked scores; vneg[S, D] (when S > 0) the gathered negatives */
static int sampled_scores(lt_backend *be, float *s, float *vneg, const lt_tensor *u, const lt_tensor *v,
                          const lt_tensor *bias, const lt_tensor *logq, const lt_tensor *targets, const lt_tensor *neg,
                          int64_t B, int64_t N, int64_t D, int64_t S) {
    if (S > 0) {
        LT_TRY(LT_CALL(be, embedding_fwd, vneg, v->data, neg->data, LT_F32, S, N, D));
        LT_TRY(mm(be, 0, 1, B, S, D, u->data, D, vneg, D, 0.0f, s + 1, S + 1));
    }
    return LT_CALL(be, sampled_prep, s, u->data, v->data, fptr(bias), fptr(logq), targets->data, neg->data, B, S, D, N);
}

int lt_sampled_xent_fwd(lt_backend *be, lt_tensor *loss, lt_tensor *lse, const lt_tensor *u, const lt_tensor *v,
                        const lt_tensor *bias, const lt_tensor *logq, const lt_tensor *targets, const lt_tensor *neg,
                        lt_tensor *work) {
    const char *op = "sampled_xent_fwd";
    int64_t B = 0, N = 0, D = 0, S = 0;
    LT_TRY(sampled_args(be, op, u, v, bias, logq, targets, neg, work, &B, &N, &D, &S));
    LT_TRY(lt__arg(be, op, "loss", loss, LT_F32));
    LT_TRY(lt__arg(be, op, "lse", lse, LT_F32));
    LT_TRY(lt__numel_is(op, "loss", loss, B));
    LT_TRY(lt__numel_is(op, "lse", lse, B));
    if (B == 0) return 0;
    float *tmp = NULL; /* [3, B] running state, then vneg[S, D] */
    LT_TRY(lt_backend_alloc(be, (void **)&tmp, sizeof(float) * (size_t)(3 * B + S * D)));
    float *s = work->data;
    int rc = sampled_scores(be, s, tmp + 3 * B, u, v, bias, logq, targets, neg, B, N, D, S);
    if (!rc)
        rc = LT_CALL(be, xent_tile_fwd, loss->data, lse->data, tmp, tmp + B, tmp + 2 * B, s, NULL, targets->data, B,
                     S + 1, 0, N, 1, 1, 1);
    lt_backend_free(be, tmp);
    return rc;
}

int lt_sampled_xent_bwd(lt_backend *be, lt_tensor *du, lt_tensor *dv, lt_tensor *dbias, const lt_tensor *dloss,
                        const lt_tensor *u, const lt_tensor *v, const lt_tensor *bias, const lt_tensor *logq,
                        const lt_tensor *targets, const lt_tensor *neg, const lt_tensor *lse, lt_tensor *work) {
    const char *op = "sampled_xent_bwd";
    int64_t B = 0, N = 0, D = 0, S = 0;
    LT_TRY(sampled_args(be, op, u, v, bias, logq, targets, neg, work, &B, &N, &D, &S));
    LT_TRY(grad_args(be, op, dloss, lse, du, dv, dbias, B, N, D));
    if (B == 0 || (!du && !dv && !dbias)) return 0;
    float *vneg = NULL; /* vneg[S, D], later reused for dvneg */
    LT_TRY(lt_backend_alloc(be, (void **)&vneg, sizeof(float) * (size_t)(S * D + 1)));
    float *s = work->data;
    int rc = sampled_scores(be, s, vneg, u, v, bias, logq, targets, neg, B, N, D, S);
    /* dS in place: the scores already hold bias - logq and the mask, so no bias here */
    if (!rc) rc = LT_CALL(be, xent_tile_bwd, s, NULL, NULL, lse->data, dloss->data, targets->data, B, S + 1, 0, 1);
    if (!rc && du && S > 0) rc = mm(be, 0, 0, B, D, S, s + 1, S + 1, vneg, D, 1.0f, du->data, D);
    if (!rc && S > 0 && (dv || dbias)) {
        if (dv) rc = mm(be, 1, 0, S, D, B, s + 1, S + 1, u->data, D, 0.0f, vneg, D);
        if (!rc && dv) rc = LT_CALL(be, embedding_bwd, dv->data, vneg, neg->data, LT_F32, S, N, D, -1);
    }
    if (!rc)
        rc = LT_CALL(be, sampled_scatter, du ? du->data : NULL, dv ? dv->data : NULL, dbias ? dbias->data : NULL, s,
                     u->data, v->data, targets->data, neg->data, B, S, D);
    lt_backend_free(be, vneg);
    return rc;
}

/* ---- top-K scoring ---------------------------------------------------------------------------- */

/* Tiles of rows x items per GEMM. CUDA takes big tiles so that one GEMM fills the device. The
 * CPU, given enough rows, runs row blocks in parallel, one per thread with a tile of its own: the
 * tile's GEMM and merge run back to back on one core while the tile is warm in its cache, and no
 * barrier stands between them (inside the parallel loop the GEMM and the merge see
 * omp_in_parallel() and stay on their thread). With few rows, one block's GEMM is split over the
 * threads instead. */
#define TOPK_TILE_CUDA ((int64_t)1 << 26) /* floats: 256 MiB */
#define TOPK_TILE_CPU ((int64_t)1 << 20)  /* floats: 4 MiB, one block */
#define TOPK_ROWS_CPU 512                 /* rows per block when blocks run in parallel */
#define TOPK_COLS_CPU 1024                /* items per tile then */

int lt_score_topk(lt_backend *be, lt_tensor *vals, lt_tensor *idx, const lt_tensor *u, const lt_tensor *v,
                  const lt_tensor *bias, int64_t first, const lt_tensor *excl_off, const lt_tensor *excl_ids) {
    const char *op = "score_topk";
    int64_t B = 0, n = 0, D = 0;
    LT_TRY(uv_shapes(be, op, u, v, &B, &n, &D));
    LT_TRY(opt_vec(be, op, "bias", bias, n));
    LT_TRY(lt__arg(be, op, "vals", vals, LT_F32));
    LT_TRY(lt__arg(be, op, "idx", idx, LT_I32));
    char s1[96], s2[96];
    if (vals->ndim != 2 || idx->ndim != 2 || vals->shape[0] != B || idx->shape[0] != B ||
        vals->shape[1] != idx->shape[1])
        return lt_error(LT_ESHAPE, "score_topk: vals %s and idx %s must both be [B = %lld, K]",
                        lt_tensor_str(vals, s1, sizeof s1), lt_tensor_str(idx, s2, sizeof s2), (long long)B);
    int64_t K = vals->shape[1];
    if (K < 1 || K > LT_TOPK_MAX) return lt_error(LT_EINVAL, "score_topk: K = %lld must be in 1..%d", (long long)K, LT_TOPK_MAX);
    if (first < 0 || first + n > INT32_MAX)
        return lt_error(LT_ERANGE, "score_topk: items %lld .. %lld: ids must fit int32", (long long)first,
                        (long long)(first + n));
    if ((excl_off == NULL) != (excl_ids == NULL))
        return lt_error(LT_EINVAL, "score_topk: excl_off and excl_ids go together (both or neither)");
    if (excl_off) {
        LT_TRY(lt__arg(be, op, "excl_off", excl_off, LT_I64));
        LT_TRY(lt__numel_is(op, "excl_off", excl_off, B + 1));
        LT_TRY(lt__arg(be, op, "excl_ids", excl_ids, LT_I32));
    }
    if (B == 0 || n == 0) return 0;
    int64_t budget = be->device == LT_CPU ? TOPK_TILE_CPU : TOPK_TILE_CUDA, rb = B, cn;
    int nt = be->device == LT_CPU && !omp_in_parallel() ? omp_get_max_threads() : 1, nbuf = 1;
    if (nt > 1 && B >= 64 * (int64_t)nt) { /* CPU, many rows: parallel row blocks */
        rb = (B + nt - 1) / nt;
        if (rb > TOPK_ROWS_CPU) rb = TOPK_ROWS_CPU;
        cn = TOPK_COLS_CPU;
        nbuf = nt;
    } else { /* one block at a time: all rows when 1024 items fit, else 1024 items per tile */
        if (rb * 1024 > budget) rb = budget / 1024;
        cn = budget / rb;
    }
    if (cn > n) cn = n;
    int64_t nblk = (B + rb - 1) / rb;
    if (nbuf > nblk) nbuf = (int)nblk;
    float *tiles = NULL;
    LT_TRY(lt_backend_alloc(be, (void **)&tiles, sizeof(float) * (size_t)(nbuf * rb * cn)));
    const float *uu = u->data, *vv = v->data, *bb = fptr(bias);
    const int64_t *off = excl_off ? excl_off->data : NULL;
    const int32_t *ex = excl_ids ? excl_ids->data : NULL;
    float *vp = vals->data;
    int32_t *ip = idx->data;
    par_err pe = {0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(nbuf) if (nbuf > 1)
    for (int64_t blk = 0; blk < nblk; blk++) {
        float *tile = tiles + (size_t)omp_get_thread_num() * (size_t)(rb * cn);
        int64_t r0 = blk * rb, rows = B - r0 < rb ? B - r0 : rb;
        int e = 0;
        for (int64_t j0 = 0; j0 < n && !e; j0 += cn) {
            int64_t m = n - j0 < cn ? n - j0 : cn;
            e = mm(be, 0, 1, rows, m, D, uu + r0 * D, D, vv + j0 * D, D, 0.0f, tile, m);
            if (!e)
                e = LT_CALL(be, topk_tile, vp + r0 * K, ip + r0 * K, tile, bb ? bb + j0 : NULL, rows, m, first + j0,
                            (int)K, off ? off + r0 : NULL, ex);
        }
        par_fail(&pe, e);
    }
    int rc = par_result(&pe);
    lt_backend_free(be, tiles);
    return rc;
}
