/* GEMM on the CPU: fp32 through the loaded CBLAS, bf16 operands widened to fp32 first. BLAS runs
 * single-threaded (blas.c); each GEMM is split over the OpenMP threads here.
 * With lt_math = LT_MATH_BF16, products big enough to pay for rounding their operands run in bf16
 * with fp32 sums on oneDNN's AMX / AVX512-BF16 kernels instead (dnnl.c), when the build and the CPU
 * have them; TF32 means fp32 here. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

/* rows x cols matrix with row stride ld, as fp32 (copied from bf16 when needed: the span from its
 * first element to its last, with the same strides; load 0: only the room, for a C that is not read). */
static const float *as_f32(const void *p, lt_dtype t, int64_t rows, int64_t cols, int64_t ld, float **tmp, int load) {
    if (t == LT_F32) return p;
    int64_t n = rows > 0 && cols > 0 ? (rows - 1) * ld + cols : 0;
    *tmp = lt__tmp_alloc(sizeof(float) * (size_t)(n + 1));
    if (!*tmp) return NULL;
    if (load) lt__widen(*tmp, p, n);
    return *tmp;
}

/* Block t of nt of [0, n), cut at multiples of 16 (whole register tiles of the BLAS kernels). */
static int cut(int n, int t, int nt) { return t == nt ? n : (int)((int64_t)n * t / nt) & ~15; }

/* C[m,n] = alpha op(A) op(B) + beta C, C cut into one block of rows (or of columns, when it is
 * wider than tall) per thread, each a single-threaded BLAS call. Small products, and calls from
 * inside a parallel region (attention's per-head GEMMs), run on the calling thread. */
static void sgemm_split(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                        int ldb, float beta, float *c, int ldc) {
    int rows = m >= n, nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((double)m * n * k < (1 << 18)) nt = 1;
    if (nt > (rows ? m : n) / 16) nt = (rows ? m : n) / 16;
    if (nt <= 1) {
        lt__sgemm(LT_CBLAS_ROW_MAJOR, ta ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS, tb ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS, m,
                  n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), lo = cut(rows ? m : n, t, nt), hi = cut(rows ? m : n, t + 1, nt);
        const float *at = a, *bt = b;
        float *ct = c;
        if (rows) at = ta ? a + lo : a + (size_t)lo * lda, ct = c + (size_t)lo * ldc;
        else bt = tb ? b + (size_t)lo * ldb : b + lo, ct = c + lo;
        lt__sgemm(LT_CBLAS_ROW_MAJOR, ta ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS, tb ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS,
                  rows ? hi - lo : m, rows ? n : hi - lo, k, alpha, at, lda, bt, ldb, beta, ct, ldc);
    }
}

/* Below this many multiply-adds per batch item, rounding operands to bf16 costs more than it saves;
 * calls from inside a parallel region (attention's per-head GEMMs) stay on sgemm too. */
#define BF16_MIN_MACS (1 << 20)

int lt__cpu_gemm(lt_backend *be, const lt_gemm_desc *d) {
    if (be->math == LT_MATH_BF16 && (double)d->m * d->n * d->k >= BF16_MIN_MACS && !omp_in_parallel()) {
        int rc = lt__dnnl_gemm(d);
        if (rc <= 0) return rc;
    }
    size_t asz = lt_dtype_size(d->a_type), bsz = lt_dtype_size(d->b_type), csz = lt_dtype_size(d->c_type);
    int64_t a_rows = d->trans_a ? d->k : d->m, b_rows = d->trans_b ? d->n : d->k;
    int64_t a_cols = d->trans_a ? d->m : d->k, b_cols = d->trans_b ? d->k : d->n;
    for (int64_t i = 0; i < d->batch; i++) {
        const char *ap = (const char *)d->a + (size_t)(i * d->stride_a) * asz;
        const char *bp = (const char *)d->b + (size_t)(i * d->stride_b) * bsz;
        char *cp = (char *)d->c + (size_t)(i * d->stride_c) * csz;
        float *ta = NULL, *tb = NULL, *tc = NULL;
        int rc = 0;
        const float *a = d->k ? as_f32(ap, d->a_type, a_rows, a_cols, d->lda, &ta, 1) : (const float *)ap;
        const float *b = d->k ? as_f32(bp, d->b_type, b_rows, b_cols, d->ldb, &tb, 1) : (const float *)bp;
        float *c = (float *)cp;
        if (d->c_type == LT_BF16) c = (float *)as_f32(cp, LT_BF16, d->m, d->n, d->ldc, &tc, d->beta != 0);
        if ((d->k && (!a || !b)) || !c) {
            rc = lt_error(LT_ENOMEM, "gemm: out of memory widening bf16 operands");
        } else if (d->k == 0) { /* BLAS may reject k = 0: C = beta * C */
            for (int64_t r = 0; r < d->m; r++)
                for (int64_t j = 0; j < d->n; j++) c[r * d->ldc + j] = d->beta == 0 ? 0 : d->beta * c[r * d->ldc + j];
        } else {
            sgemm_split(d->trans_a, d->trans_b, (int)d->m, (int)d->n, (int)d->k, d->alpha, a, (int)d->lda, b,
                        (int)d->ldb, d->beta, c, (int)d->ldc);
        }
        if (!rc && tc) {
#pragma omp parallel for if (d->m * d->n >= LT_CPU_PAR_MIN && !omp_in_parallel())
            for (int64_t r = 0; r < d->m; r++) lt__narrow((uint16_t *)cp + r * d->ldc, tc + r * d->ldc, d->n);
        }
        lt__tmp_free(ta), lt__tmp_free(tb), lt__tmp_free(tc);
        if (rc) return rc;
    }
    return 0;
}

/* One fp32 row-major GEMM on the calling thread (rnn.c splits its GEMMs itself, by shape only, so
 * that results do not depend on the number of threads); nothing happens when m, n or k is 0. */
void lt__cpu_sgemm1(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    lt__sgemm(LT_CBLAS_ROW_MAJOR, ta ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS, tb ? LT_CBLAS_TRANS : LT_CBLAS_NO_TRANS,
              (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}
