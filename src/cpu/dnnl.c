/* bf16 GEMMs on the CPU through oneDNN, for lt_math = LT_MATH_BF16 (the CPU's analogue of the
 * tensor-core mode on CUDA: operands rounded to bf16, products summed in fp32).
 *
 * Why oneDNN: recent Xeons multiply bf16 matrices in their AMX tile units at several times their
 * fp32 FMA rate (about 8x OpenBLAS's sgemm on the 2 cores of the development machine), and
 * OpenBLAS 0.3.21 has no AMX kernels. oneDNN's matmul primitive has them and picks the best
 * kernel this CPU runs (AMX, else AVX512-BF16), so it is the library for this one job.
 *
 * How: fp32 operands are rounded to bf16 into scratch buffers (the A operand also made
 * non-transposed on the way: the AMX kernels take row-major activations); bf16 operands (the
 * encoder's activations and its bf16 weight copies) are read in place, with their own strides,
 * except a transposed bf16 A, which is packed too. Then one matmul primitive runs with alpha as
 * its output scale and beta as a sum post-op. A primitive is made once per shape and kept in a
 * small table, as cuda/gemm.cu keeps cuBLASLt plans. Calls are serialised by a lock (one table, one
 * set of scratch buffers); each call uses every OpenMP thread.
 *
 * Built only when CMake finds oneDNN (Debian: libdnnl-dev); otherwise lt__dnnl_available() is 0
 * and the CPU's GEMMs stay fp32 (bf16 activations are still stored in bf16 when math is bf16).
 *
 * Check mode (LONGTAIL_DNNL_CHECK=1, or lt__dnnl_check(1)): on a CPU without bf16 instructions
 * oneDNN has no bf16 matmul at all, so this file could only ever run on AMX / AVX512-BF16 machines.
 * In check mode the operands are packed as fp32 holding the bf16-rounded values (an operand read
 * in place is widened into an fp32 copy with the same layout), and a bf16 C goes through an fp32
 * copy (widened, multiplied, rounded once): the same products and sums as the bf16
 * primitive up to summation order, through the same packing, descriptors, strides, batching,
 * broadcasting, scales and plan table. The op test runs it wherever oneDNN is built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

#ifndef LONGTAIL_HAVE_DNNL

int lt__dnnl_available(void) { return 0; }
const char *lt__dnnl_describe(void) { return "none (this build has no oneDNN)"; }
int lt__dnnl_gemm(const lt_gemm_desc *d) { return 1; }
int lt__dnnl_check(int on) { return 0; }
int64_t lt__dnnl_runs(void) { return 0; }

#else
#include <dnnl.h>
#include <omp.h>
#include <pthread.h>

#define PLANS 64

#define PLAN_KEY 18

typedef struct plan {
    int64_t key[PLAN_KEY];
    int used;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} plan;

static struct {
    pthread_mutex_t lock;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int state; /* 0 unknown, 1 available, -1 not */
    char describe[96];
    plan plans[PLANS];
    int next;
    void *buf[3]; /* bf16 copies of A and B (fp32 in check mode), and C's fp32 copy in check mode */
    size_t cap[3]; /* bytes */
    int check;     /* check mode: -1 not asked yet (the environment decides), 0 off, 1 on */
    dnnl_data_type_t op_type; /* the packed operands' type: bf16, or f32 in check mode */
    int64_t runs;             /* matmuls run so far (lt__dnnl_runs) */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .check = -1};

/* 1 when oneDNN runs bf16 matmuls natively on this CPU (AMX or AVX512-BF16). */
static int probe(void) {
    if (g.state) return g.state > 0;
    g.state = -1;
    if (g.check < 0) {
        const char *e = getenv("LONGTAIL_DNNL_CHECK");
        g.check = e && *e && strcmp(e, "0") != 0;
    }
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const dnnl_version_t *v = dnnl_version();
    int amx = (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx;
    int bf16 = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    g.op_type = g.check ? dnnl_f32 : dnnl_bf16;
    snprintf(g.describe, sizeof g.describe, "oneDNN %d.%d.%d, %s", v->major, v->minor, v->patch,
             g.check ? "CHECK MODE: fp32 operands holding bf16 values (slow; for tests)"
             : amx   ? "AMX-BF16"
             : bf16  ? "AVX512-BF16"
                     : "no bf16 instructions: GEMMs stay fp32 (math auto: fp32)");
    if (!bf16 && !g.check) return 0;
    if (dnnl_engine_create(&g.engine, dnnl_cpu, 0) || dnnl_stream_create(&g.stream, g.engine, dnnl_stream_default_flags)) {
        snprintf(g.describe, sizeof g.describe, "oneDNN: cannot create a CPU engine: GEMMs stay fp32 (math auto: fp32)");
        return 0;
    }
    g.state = 1;
    return 1;
}

static void plan_clear(plan *p);

int lt__dnnl_check(int on) {
    pthread_mutex_lock(&g.lock);
    for (int i = 0; i < PLANS; i++) plan_clear(&g.plans[i]);
    g.next = 0;
    g.check = on != 0;
    if (g.state > 0) dnnl_stream_destroy(g.stream), dnnl_engine_destroy(g.engine);
    g.state = 0;
    int ok = probe();
    pthread_mutex_unlock(&g.lock);
    return ok;
}

int64_t lt__dnnl_runs(void) {
    pthread_mutex_lock(&g.lock);
    int64_t n = g.runs;
    pthread_mutex_unlock(&g.lock);
    return n;
}

int lt__dnnl_available(void) {
    pthread_mutex_lock(&g.lock);
    int ok = probe();
    pthread_mutex_unlock(&g.lock);
    return ok;
}

const char *lt__dnnl_describe(void) {
    lt__dnnl_available();
    return g.describe;
}

/* Copy batch x [rows, cols] (row stride ld, batch stride bs) of type t into dst as compact bf16,
 * transposed when trans (dst is then batch x [cols, rows]); in check mode the same bf16 values
 * widened to fp32. */
static void pack(void *dst, const void *src, lt_dtype t, int64_t batch, int64_t rows, int64_t cols, int64_t ld,
                 int64_t bs, int trans) {
    size_t es = lt_dtype_size(t);
    int check = g.check;
#pragma omp parallel for collapse(2) if (batch * rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t i = 0; i < batch; i++)
        for (int64_t r = 0; r < rows; r++) {
            const char *row = (const char *)src + (size_t)(i * bs + r * ld) * es;
            if (check) {
                float *o = (float *)dst + (size_t)i * rows * cols;
                for (int64_t j = 0; j < cols; j++)
                    o[trans ? j * rows + r : r * cols + j] =
                        lt_bf16_to_f32(t == LT_BF16 ? ((const uint16_t *)row)[j] : lt_f32_to_bf16(((const float *)row)[j]));
                continue;
            }
            uint16_t *o = (uint16_t *)dst + (size_t)i * rows * cols;
            if (t == LT_BF16) {
                const uint16_t *h = (const uint16_t *)row;
                if (trans)
                    for (int64_t j = 0; j < cols; j++) o[j * rows + r] = h[j];
                else
                    memcpy(o + r * cols, h, (size_t)cols * 2);
            } else {
                const float *f = (const float *)row;
                if (trans)
                    for (int64_t j = 0; j < cols; j++) o[j * rows + r] = lt_f32_to_bf16(f[j]);
                else {
                    uint16_t *orow = o + r * cols;
#pragma omp simd
                    for (int64_t j = 0; j < cols; j++) orow[j] = lt_f32_to_bf16(f[j]);
                }
            }
        }
}

static void *scratch(int i, size_t bytes) {
    if (bytes > g.cap[i]) {
        free(g.buf[i]);
        g.cap[i] = 0;
        if (posix_memalign(&g.buf[i], 64, bytes)) return g.buf[i] = NULL;
        g.cap[i] = bytes;
    }
    return g.buf[i];
}

/* A memory descriptor of batch x [rows, cols] with the given strides (ndims 2 when batch is 0). */
static int md(dnnl_memory_desc_t *m, int64_t batch, int64_t rows, int64_t cols, dnnl_data_type_t t, int64_t sb,
              int64_t sr, int64_t sc) {
    if (batch) {
        dnnl_dims_t dims = {batch, rows, cols}, strides = {sb, sr, sc};
        return dnnl_memory_desc_init_by_strides(m, 3, dims, t, strides);
    }
    dnnl_dims_t dims = {rows, cols}, strides = {sr, sc};
    return dnnl_memory_desc_init_by_strides(m, 2, dims, t, strides);
}

/* bf16 operands read in place (else packed): A when not transposed, B always */
static int a_in_place(const lt_gemm_desc *d) { return d->a_type == LT_BF16 && !d->trans_a; }
static int b_in_place(const lt_gemm_desc *d) { return d->b_type == LT_BF16; }

/* Make the primitive for key (see lt__dnnl_gemm); 0 on success. */
static int plan_make(plan *p, const lt_gemm_desc *d, int64_t ba, int64_t bb, int64_t nd) {
    dnnl_memory_desc_t a, b, c;
    dnnl_data_type_t ct = d->c_type == LT_BF16 && !g.check ? dnnl_bf16 : dnnl_f32;
    /* packed: A compact [m, k]; B compact as stored, [k, n] or [n, k] when trans_b */
    int a_in = a_in_place(d), b_in = b_in_place(d);
    int64_t lda = a_in ? d->lda : d->k, sa = a_in ? d->stride_a : d->m * d->k;
    int64_t ldb = b_in ? d->ldb : d->trans_b ? d->k : d->n, sb = b_in ? d->stride_b : d->k * d->n;
    if (md(&a, nd ? ba : 0, d->m, d->k, g.op_type, sa, lda, 1) ||
        md(&b, nd ? bb : 0, d->k, d->n, g.op_type, sb, d->trans_b ? 1 : ldb, d->trans_b ? ldb : 1) ||
        md(&c, nd ? d->batch : 0, d->m, d->n, ct, d->stride_c, d->ldc, 1))
        return -1;
    dnnl_matmul_desc_t mm;
    if (dnnl_matmul_desc_init(&mm, &a, &b, NULL, &c)) return -1;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    if (dnnl_primitive_attr_create(&attr)) goto out;
    if (d->alpha != 1 && dnnl_primitive_attr_set_output_scales(attr, 1, 0, &d->alpha)) goto out;
    if (d->beta != 0 && (dnnl_post_ops_create(&po) || dnnl_post_ops_append_sum(po, d->beta) ||
                         dnnl_primitive_attr_set_post_ops(attr, po)))
        goto out;
    if (dnnl_primitive_desc_create(&pd, &mm, attr, g.engine, NULL)) goto out;
    const char *impl = NULL;
    /* a reference kernel would be slower than sgemm: decline the shape instead */
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl || strstr(impl, "ref")) goto out;
    if (dnnl_primitive_create(&p->prim, pd)) goto out;
    if (dnnl_memory_create(&p->a, &a, g.engine, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&p->b, &b, g.engine, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&p->c, &c, g.engine, DNNL_MEMORY_NONE))
        goto out;
    rc = 0;
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return rc;
}

static void plan_clear(plan *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->a) dnnl_memory_destroy(p->a);
    if (p->b) dnnl_memory_destroy(p->b);
    if (p->c) dnnl_memory_destroy(p->c);
    memset(p, 0, sizeof *p);
}

/* The plan for d: found in the table or made (a shape oneDNN declines is remembered too, with
 * prim NULL, so it is asked only once). */
static plan *plan_get(const lt_gemm_desc *d, int64_t ba, int64_t bb, int64_t nd) {
    float ab[2] = {d->alpha, d->beta};
    int a_in = a_in_place(d), b_in = b_in_place(d); /* an operand read in place brings its strides */
    int64_t key[PLAN_KEY] = {d->trans_b, d->m, d->n, d->k, ba, bb, d->batch, d->ldc, d->stride_c, d->c_type, nd,
                             0, a_in, a_in ? d->lda : 0, a_in ? d->stride_a : 0,
                             b_in, b_in ? d->ldb : 0, b_in ? d->stride_b : 0};
    memcpy(&key[11], ab, sizeof ab);
    for (int i = 0; i < PLANS; i++)
        if (g.plans[i].used && !memcmp(g.plans[i].key, key, sizeof key)) return &g.plans[i];
    plan *p = &g.plans[g.next];
    g.next = (g.next + 1) % PLANS;
    plan_clear(p);
    memcpy(p->key, key, sizeof key);
    p->used = 1;
    if (plan_make(p, d, ba, bb, nd)) {
        plan_clear(p);
        memcpy(p->key, key, sizeof key);
        p->used = 1;
    }
    return p;
}

/* 0 when done, 1 when declined (the caller runs sgemm), < 0 on error. */
int lt__dnnl_gemm(const lt_gemm_desc *d) {
    if (d->m <= 0 || d->n <= 0 || d->k <= 0 || d->batch <= 0) return 1;
    pthread_mutex_lock(&g.lock);
    int rc = 1;
    if (!probe()) goto out;
    /* operands with batch stride 0 are one matrix broadcast over the batch */
    int64_t ba = d->stride_a ? d->batch : 1, bb = d->stride_b ? d->batch : 1, nd = d->batch > 1;
    plan *p = plan_get(d, ba, bb, nd);
    if (!p->prim) goto out;
    int64_t a_rows = d->trans_a ? d->k : d->m, a_cols = d->trans_a ? d->m : d->k;
    int64_t b_rows = d->trans_b ? d->n : d->k, b_cols = d->trans_b ? d->k : d->n;
    size_t es = g.check ? 4 : 2;
    /* an operand read in place spans from its first to its last element; check mode widens that span */
    int a_in = a_in_place(d), b_in = b_in_place(d);
    size_t a_span = (size_t)((ba - 1) * d->stride_a + (d->m - 1) * d->lda + d->k);
    size_t b_span = (size_t)((bb - 1) * d->stride_b + (b_rows - 1) * d->ldb + b_cols);
    void *a = a_in && !g.check ? (void *)d->a : scratch(0, es * (a_in ? a_span : (size_t)(ba * d->m * d->k)));
    void *b = b_in && !g.check ? (void *)d->b : scratch(1, es * (b_in ? b_span : (size_t)(bb * d->k * d->n)));
    /* check mode with a bf16 C: an fp32 copy of C's span, widened before and rounded after */
    size_t c_span = (size_t)((d->batch - 1) * d->stride_c + (d->m - 1) * d->ldc + d->n);
    int c_copy = g.check && d->c_type == LT_BF16;
    void *c = c_copy ? scratch(2, 4 * c_span) : d->c;
    if (!a || !b || !c) {
        rc = lt_error(LT_ENOMEM, "gemm: out of memory for bf16 operands (%lld x %lld x %lld)", (long long)d->m,
                      (long long)d->n, (long long)d->k);
        goto out;
    }
    if (!a_in) pack(a, d->a, d->a_type, ba, a_rows, a_cols, d->lda, d->stride_a, d->trans_a);
    else if (g.check) lt__widen(a, d->a, (int64_t)a_span);
    if (!b_in) pack(b, d->b, d->b_type, bb, b_rows, b_cols, d->ldb, d->stride_b, 0);
    else if (g.check) lt__widen(b, d->b, (int64_t)b_span);
    if (c_copy) lt__widen(c, d->c, (int64_t)c_span);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}};
    if (dnnl_memory_set_data_handle(p->a, a) || dnnl_memory_set_data_handle(p->b, b) ||
        dnnl_memory_set_data_handle(p->c, c) || dnnl_primitive_execute(p->prim, g.stream, 3, args) ||
        dnnl_stream_wait(g.stream)) {
        rc = lt_error(LT_ENOTSUP, "gemm: oneDNN matmul failed (%lld x %lld x %lld)", (long long)d->m, (long long)d->n,
                      (long long)d->k);
    } else {
        if (c_copy) lt__narrow(d->c, c, (int64_t)c_span);
        g.runs++;
        rc = 0;
    }
out:
    pthread_mutex_unlock(&g.lock);
    return rc;
}
#endif
