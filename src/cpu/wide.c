/* bf16 activations on the CPU. The CPU's element-wise and row kernels compute in fp32; an op given
 * bf16 activations runs the same kernel on widened copies and rounds each output once at the end
 * (round to nearest even, lt_f32_to_bf16), which is what the op list promises for bf16. On a CPU
 * without bf16 arithmetic this costs a pass over the bytes; what bf16 saves here is the memory
 * (half the activations) and the GEMMs' operand rounding on CPUs with AMX or AVX512-BF16 (gemm.c).
 * With f32 arguments nothing is copied. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

static float *widen(lt__wide *w, const void *x, int64_t n) {
    if (w->failed || w->nbuf == LT__WIDE_MAX) {
        w->failed = 1;
        return NULL;
    }
    float *f = lt__tmp_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!f) {
        w->failed = 1;
        w->bytes = sizeof(float) * (size_t)n;
        return NULL;
    }
    w->buf[w->nbuf++] = f;
    if (x) lt__widen(f, x, n);
    return f;
}

const float *lt__wide_in(lt__wide *w, const void *x, lt_dtype dt, int64_t n) {
    if (dt == LT_F32 || !x) return x;
    return widen(w, x, n);
}

float *lt__wide_out(lt__wide *w, void *y, lt_dtype dt, int64_t n, int load) {
    if (dt == LT_F32 || !y) return y;
    float *f = widen(w, load ? y : NULL, n);
    if (f) w->out[w->nout] = y, w->outf[w->nout] = f, w->outn[w->nout++] = n;
    return f;
}

int lt__wide_end(lt__wide *w, const char *op, int rc) {
    if (w->failed && !rc)
        rc = lt_error(LT_ENOMEM, "%s: out of memory for an fp32 copy of a bf16 argument (%zu bytes)", op, w->bytes);
    for (int k = 0; k < w->nout && !rc; k++) lt__narrow(w->out[k], w->outf[k], w->outn[k]);
    for (int k = 0; k < w->nbuf; k++) lt__tmp_free(w->buf[k]);
    memset(w, 0, sizeof *w);
    return rc;
}

/* (a row-sized call stays a plain loop: no OpenMP call at all) */
void lt__widen(float *f, const uint16_t *h, int64_t n) {
    if (n < LT_CPU_PAR_MIN || omp_in_parallel()) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) f[j] = lt_bf16_to_f32(h[j]);
        return;
    }
#pragma omp parallel for simd
    for (int64_t j = 0; j < n; j++) f[j] = lt_bf16_to_f32(h[j]);
}

void lt__narrow(uint16_t *h, const float *f, int64_t n) {
    if (n < LT_CPU_PAR_MIN || omp_in_parallel()) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) h[j] = lt_f32_to_bf16(f[j]);
        return;
    }
#pragma omp parallel for simd
    for (int64_t j = 0; j < n; j++) h[j] = lt_f32_to_bf16(f[j]);
}

int lt__cpu_rows_scratch(int64_t rows, int64_t cols, int nbuf, lt__row_fn fn, void *ctx, const char *op) {
    int oom = 0;
#pragma omp parallel if (rows * cols >= LT_CPU_PAR_MIN)
    {
        float *scratch = lt__tmp_alloc(sizeof(float) * (size_t)(nbuf * cols + 1));
        if (!scratch) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for
        for (int64_t r = 0; r < rows; r++)
            if (scratch) fn(ctx, r, scratch);
        lt__tmp_free(scratch);
    }
    if (oom) return lt_error(LT_ENOMEM, "%s: out of memory for %d rows of %lld floats", op, nbuf, (long long)cols);
    return 0;
}
