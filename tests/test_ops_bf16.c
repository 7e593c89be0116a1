/* tests/test_ops_bf16: the bf16 paths of the transformer-block ops on CUDA.
 *
 * For each op: random inputs rounded to bf16; the CUDA op on bf16 tensors; the CPU op in f32 on
 * the same (rounded) values; every output and accumulated gradient compared as
 *   |cuda - cpu| <= arel * max|cpu| + rtol * |cpu|
 * with tolerances that allow for bf16 storage (8 bits of mantissa) and bf16 tensor-core inputs.
 * Gradients start from random values on both sides, so an op that overwrites fails.
 * Where the CPU backend lacks an op (LT_ENOTSUP) that comparison is reported as skipped; attention
 * is then still checked, in bf16 and f32, against a double-precision reference written here, and
 * its backward is run twice to check that it is bit-for-bit deterministic.
 * Casts are checked bit for bit against lt_f32_to_bf16 / lt_bf16_to_f32.
 * Without a GPU every case prints "skipped: no CUDA device" and the program exits 0.
 * The seed is printed; LONGTAIL_TEST_SEED=<seed> repeats a run. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/ops.h"
#include "longtail/rng.h"
#include "testutil.h"

static lt_rng g_rng;
static lt_backend *g_cpu, *g_cuda;

/* ---- host data and tensors -------------------------------------------------------------------- */

static float bf(float x) { return lt_bf16_to_f32(lt_f32_to_bf16(x)); }

/* n floats uniform in [lo, hi), rounded to bf16 when round is set */
static float *rnd(int64_t n, float lo, float hi, int round) {
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        p[i] = lo + (hi - lo) * lt_rng_next_uniform(&g_rng);
        if (round) p[i] = bf(p[i]);
    }
    return p;
}

static float *fdup(const float *h, int64_t n) {
    float *p = malloc((size_t)n * sizeof(float));
    memcpy(p, h, (size_t)n * sizeof(float));
    return p;
}

/* A dt tensor on be holding the host floats h (rounded to bf16 for a bf16 tensor). */
static lt_tensor up(lt_backend *be, lt_dtype dt, const float *h, int ndim, const int64_t *shape) {
    lt_tensor t;
    OK(lt_tensor_new(&t, be, dt, ndim, shape));
    int64_t n = lt_numel(&t);
    void *src = (void *)h;
    uint16_t *b = NULL;
    if (dt == LT_BF16) {
        b = malloc((size_t)n * 2 + 2);
        for (int64_t i = 0; i < n; i++) b[i] = lt_f32_to_bf16(h[i]);
        src = b;
    }
    lt_tensor host = lt_view(src, dt, LT_CPU, ndim, shape);
    OK(lt_tensor_copy(be, &t, &host));
    free(b);
    return t;
}

static lt_tensor up_i32(lt_backend *be, const int32_t *h, int64_t n) {
    lt_tensor t, host = lt_view1((void *)h, LT_I32, LT_CPU, n);
    OK(lt_tensor_new(&t, be, LT_I32, 1, &n));
    OK(lt_tensor_copy(be, &t, &host));
    return t;
}

/* t's values as host floats */
static float *down(lt_backend *be, const lt_tensor *t) {
    int64_t n = lt_numel(t);
    float *f = malloc((size_t)n * sizeof(float) + 4);
    void *raw = t->dtype == LT_BF16 ? malloc((size_t)n * 2 + 2) : (void *)f;
    lt_tensor host = lt_view(raw, t->dtype, LT_CPU, t->ndim, t->shape);
    OK(lt_tensor_copy(be, &host, t));
    OK(lt_backend_sync(be));
    if (t->dtype == LT_BF16) {
        for (int64_t i = 0; i < n; i++) f[i] = lt_bf16_to_f32(((uint16_t *)raw)[i]);
        free(raw);
    }
    return f;
}

/* worst |got - want| / (arel max|want| + rtol |want|) over n values; equal infinities and NaNs
 * match. Prints the worst element when it fails. */
static double cmp(const char *what, const float *got, const float *want, int64_t n, double arel, double rtol) {
    double big = 0, worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > big) big = fabs(want[i]);
    double atol = arel * (big > 0 ? big : 1);
    for (int64_t i = 0; i < n; i++) {
        double x = got[i], y = want[i];
        double e = (x == y || (isnan(x) && isnan(y))) ? 0 : fabs(x - y) / (atol + rtol * fabs(y));
        if (isnan(e)) e = INFINITY;
        if (e > worst) worst = e, wi = i;
    }
    if (worst > 1)
        fprintf(stderr, "  %s: element %lld: cuda %.8g, expected %.8g (atol %.3g)\n", what, (long long)wi, got[wi],
                want[wi], atol);
    return worst;
}

static void report(const char *name, const char *vs, double arel, double rtol, double worst) {
    printf("  %-36s cuda vs %s (arel %.0e, rtol %.0e): worst err/tol %.3f %s\n", name, vs, arel, rtol, worst,
           worst <= 1 ? "ok" : "FAIL");
    CHECK_MSG(worst <= 1, "%s: cuda and %s differ", name, vs);
}

/* The CPU twin's return code: 1 = ran, 0 = not implemented yet (reported as a skip). */
static int cpu_ran(int rc, const char *name) {
    if (rc == LT_ENOTSUP) {
        printf("  %-36s cuda vs cpu: skipped: %s\n", name, lt_last_error());
        lt_clear_error();
        return 0;
    }
    OK(rc);
    return 1;
}

#define NAME_MAX_LEN 96

/* The case's name (printf-style) into name[NAME_MAX_LEN]; 0, after its skip line, when there is
 * no device to run it on. */
static int begin(char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, NAME_MAX_LEN, fmt, ap);
    va_end(ap);
    if (g_cuda) return 1;
    printf("  %-36s skipped: no CUDA device\n", name);
    return 0;
}

/* ---- cast ------------------------------------------------------------------------------------------- */

/* f32 -> bf16 -> f32 on the device against the host conversions, bit for bit: random bit
 * patterns (every class of float, NaNs included), rounding ties, overflow, subnormals; an
 * aligned and a misaligned (scalar path) view; and the same-type copies. */
static void test_cast(void) {
    char name[NAME_MAX_LEN];
    if (!begin(name, "cast f32 <-> bf16 (bit exact)")) return;
    const int64_t n = 1003;
    uint32_t *bits = malloc((n + 1) * sizeof(uint32_t));
    const uint32_t special[] = {0x00000000, 0x80000000, 0x3f800000, 0x3f808000 /* tie: to even (down) */,
                                0x3f818000 /* tie: to even (up) */, 0x3f808001, 0x7f7fffff /* to inf */,
                                0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001 /* signalling NaN */, 0xffffffff,
                                0x00000001, 0x007fffff, 0x00008000, 0x80018000};
    int ns = (int)(sizeof special / sizeof special[0]);
    for (int64_t i = 0; i < n + 1; i++) bits[i] = i < ns ? special[i] : lt_rng_next_u32(&g_rng);
    int bad = 0;
    for (int off = 0; off < 2; off++) { /* off = 1: views one element in, not 16-byte aligned */
        lt_tensor f, h, f2, h2;
        int64_t m = n + 1;
        OK(lt_tensor_new(&f, g_cuda, LT_F32, 1, &m));
        OK(lt_tensor_new(&h, g_cuda, LT_BF16, 1, &m));
        OK(lt_tensor_new(&f2, g_cuda, LT_F32, 1, &m));
        OK(lt_tensor_new(&h2, g_cuda, LT_BF16, 1, &m));
        lt_tensor hostf = lt_view1(bits, LT_F32, LT_CPU, m);
        OK(lt_tensor_copy(g_cuda, &f, &hostf));
        lt_tensor fv = lt_view1((float *)f.data + off, LT_F32, LT_CUDA, n);
        lt_tensor hv = lt_view1((uint16_t *)h.data + off, LT_BF16, LT_CUDA, n);
        lt_tensor f2v = lt_view1((float *)f2.data + off, LT_F32, LT_CUDA, n);
        lt_tensor h2v = lt_view1((uint16_t *)h2.data + off, LT_BF16, LT_CUDA, n);
        OK(lt_cast(g_cuda, &hv, &fv));   /* f32 -> bf16 */
        OK(lt_cast(g_cuda, &h2v, &hv));  /* bf16 -> bf16 (copy) */
        OK(lt_cast(g_cuda, &f2v, &h2v)); /* bf16 -> f32 */
        OK(lt_cast(g_cuda, &fv, &f2v));  /* f32 -> f32 (copy) */
        uint16_t *hb = malloc((size_t)m * 2);
        uint32_t *fb = malloc((size_t)m * 4);
        lt_tensor hh = lt_view1(hb, LT_BF16, LT_CPU, m), hf = lt_view1(fb, LT_F32, LT_CPU, m);
        OK(lt_tensor_copy(g_cuda, &hh, &h2));
        OK(lt_tensor_copy(g_cuda, &hf, &f));
        for (int64_t i = 0; i < n; i++) {
            float x;
            memcpy(&x, &bits[i + off], 4);
            uint16_t want = lt_f32_to_bf16(x);
            uint32_t wantf = (uint32_t)want << 16;
            if (hb[i + off] != want || fb[i + off] != wantf) {
                if (bad++ < 5)
                    fprintf(stderr, "  cast: input 0x%08x (offset %d): bf16 0x%04x want 0x%04x, back 0x%08x want 0x%08x\n",
                            bits[i + off], off, hb[i + off], want, fb[i + off], wantf);
            }
        }
        free(hb), free(fb);
        lt_tensor_free(g_cuda, &f), lt_tensor_free(g_cuda, &h), lt_tensor_free(g_cuda, &f2), lt_tensor_free(g_cuda, &h2);
    }
    printf("  %-36s %lld values x aligned/misaligned, round trip and copies: %d mismatches %s\n", name,
           (long long)n, bad, bad ? "FAIL" : "ok");
    CHECK_MSG(bad == 0, "cast: %d values differ from lt_f32_to_bf16", bad);
    free(bits);
}

/* ---- bias + GELU ------------------------------------------------------------------------------------- */

static void test_bias_gelu(int64_t R, int64_t C) {
    char name[NAME_MAX_LEN];
    if (!begin(name, "bias_gelu bf16 [%lld,%lld]", (long long)R, (long long)C)) return;
    int64_t sh[2] = {R, C}, n = R * C;
    float *x = rnd(n, -3, 3, 1), *bias = rnd(C, -1, 1, 0), *dy = rnd(n, -1, 1, 1), *dx0 = rnd(n, -1, 1, 1);
    float *db0 = rnd(C, -1, 1, 0);
    /* cuda, bf16 activations */
    lt_tensor gx = up(g_cuda, LT_BF16, x, 2, sh), gb = up(g_cuda, LT_F32, bias, 1, &C), gy = up(g_cuda, LT_BF16, x, 2, sh);
    lt_tensor gdy = up(g_cuda, LT_BF16, dy, 2, sh), gdx = up(g_cuda, LT_BF16, dx0, 2, sh), gdb = up(g_cuda, LT_F32, db0, 1, &C);
    OK(lt_bias_gelu_fwd(g_cuda, &gy, &gx, &gb));
    OK(lt_bias_gelu_bwd(g_cuda, &gdx, &gdb, &gdy, &gx, &gb));
    float *y_g = down(g_cuda, &gy), *dx_g = down(g_cuda, &gdx), *db_g = down(g_cuda, &gdb);
    /* cpu, f32 on the same values */
    lt_tensor cx = up(g_cpu, LT_F32, x, 2, sh), cb = up(g_cpu, LT_F32, bias, 1, &C), cy = up(g_cpu, LT_F32, x, 2, sh);
    lt_tensor cdy = up(g_cpu, LT_F32, dy, 2, sh), cdx = up(g_cpu, LT_F32, dx0, 2, sh), cdb = up(g_cpu, LT_F32, db0, 1, &C);
    if (cpu_ran(lt_bias_gelu_fwd(g_cpu, &cy, &cx, &cb), name) &&
        cpu_ran(lt_bias_gelu_bwd(g_cpu, &cdx, &cdb, &cdy, &cx, &cb), name)) {
        double w = cmp("y", y_g, cy.data, n, 1e-2, 1e-2);
        double e = cmp("dx", dx_g, cdx.data, n, 1e-2, 1e-2);
        w = e > w ? e : w;
        e = cmp("dbias", db_g, cdb.data, C, 1e-4, 1e-4);
        report(name, "cpu f32", 1e-2, 1e-2, e > w ? e : w);
    }
    lt_tensor ts[] = {gx, gb, gy, gdy, gdx, gdb};
    for (int i = 0; i < 6; i++) lt_tensor_free(g_cuda, &ts[i]);
    lt_tensor tc[] = {cx, cb, cy, cdy, cdx, cdb};
    for (int i = 0; i < 6; i++) lt_tensor_free(g_cpu, &tc[i]);
    free(x), free(bias), free(dy), free(dx0), free(db0), free(y_g), free(dx_g), free(db_g);
}

/* ---- residual + LayerNorm ------------------------------------------------------------------------------ */

/* Forward with s aliasing a on CUDA (in place, as BERT's residual stream runs); backward with
 * da == db on CUDA (both get ds) against the CPU's separate da and db (starting from 0). */
static void test_residual_layernorm(int64_t R, int64_t C) {
    char name[NAME_MAX_LEN];
    if (!begin(name, "residual_layernorm bf16 [%lld,%lld]", (long long)R, (long long)C)) return;
    int64_t sh[2] = {R, C}, n = R * C;
    float *a = rnd(n, -2, 2, 1), *b = rnd(n, -2, 2, 1), *w = rnd(C, 0.5f, 1.5f, 0), *beta = rnd(C, -1, 1, 0);
    float *dy = rnd(n, -1, 1, 1), *da0 = rnd(n, -1, 1, 1), *dw0 = rnd(C, -1, 1, 0), *dbeta0 = rnd(C, -1, 1, 0);
    float *zero = calloc((size_t)n, sizeof(float));
    lt_tensor ga = up(g_cuda, LT_BF16, a, 2, sh), gb = up(g_cuda, LT_BF16, b, 2, sh), gy = up(g_cuda, LT_BF16, zero, 2, sh);
    lt_tensor gw = up(g_cuda, LT_F32, w, 1, &C), gbeta = up(g_cuda, LT_F32, beta, 1, &C);
    lt_tensor gm = up(g_cuda, LT_F32, zero, 1, &R), gr = up(g_cuda, LT_F32, zero, 1, &R);
    OK(lt_residual_layernorm_fwd(g_cuda, &gy, &ga, &gm, &gr, &ga, &gb, &gw, &gbeta, 1e-5f)); /* s = a, in place */
    float *y_g = down(g_cuda, &gy), *s_g = down(g_cuda, &ga), *m_g = down(g_cuda, &gm), *r_g = down(g_cuda, &gr);
    /* backward with da == db, from the CUDA s, mean, rstd (the CPU gets the same values) */
    lt_tensor gdy = up(g_cuda, LT_BF16, dy, 2, sh), gda = up(g_cuda, LT_BF16, da0, 2, sh);
    lt_tensor gdw = up(g_cuda, LT_F32, dw0, 1, &C), gdbeta = up(g_cuda, LT_F32, dbeta0, 1, &C);
    OK(lt_residual_layernorm_bwd(g_cuda, &gda, &gda, &gdw, &gdbeta, &gdy, &ga, &gw, &gm, &gr));
    float *da_g = down(g_cuda, &gda), *dw_g = down(g_cuda, &gdw), *dbeta_g = down(g_cuda, &gdbeta);

    lt_tensor ca = up(g_cpu, LT_F32, a, 2, sh), cb = up(g_cpu, LT_F32, b, 2, sh), cy = up(g_cpu, LT_F32, zero, 2, sh);
    lt_tensor cs = up(g_cpu, LT_F32, zero, 2, sh), cw = up(g_cpu, LT_F32, w, 1, &C), cbeta = up(g_cpu, LT_F32, beta, 1, &C);
    lt_tensor cm = up(g_cpu, LT_F32, zero, 1, &R), cr = up(g_cpu, LT_F32, zero, 1, &R);
    if (cpu_ran(lt_residual_layernorm_fwd(g_cpu, &cy, &cs, &cm, &cr, &ca, &cb, &cw, &cbeta, 1e-5f), name)) {
        double e, worst = cmp("y", y_g, cy.data, n, 2e-2, 2e-2);
        e = cmp("s", s_g, cs.data, n, 1e-2, 1e-2), worst = e > worst ? e : worst;
        e = cmp("mean", m_g, cm.data, R, 1e-2, 1e-2), worst = e > worst ? e : worst;
        e = cmp("rstd", r_g, cr.data, R, 1e-2, 1e-2), worst = e > worst ? e : worst;
        report(name, "cpu f32 (fwd)", 2e-2, 2e-2, worst);
    }
    lt_tensor cdy = up(g_cpu, LT_F32, dy, 2, sh), cda = up(g_cpu, LT_F32, da0, 2, sh), cdb = up(g_cpu, LT_F32, zero, 2, sh);
    lt_tensor cdw = up(g_cpu, LT_F32, dw0, 1, &C), cdbeta = up(g_cpu, LT_F32, dbeta0, 1, &C);
    lt_tensor cs2 = up(g_cpu, LT_F32, s_g, 2, sh), cm2 = up(g_cpu, LT_F32, m_g, 1, &R), cr2 = up(g_cpu, LT_F32, r_g, 1, &R);
    if (cpu_ran(lt_residual_layernorm_bwd(g_cpu, &cda, &cdb, &cdw, &cdbeta, &cdy, &cs2, &cw, &cm2, &cr2), name)) {
        float *want = fdup(cda.data, n);
        for (int64_t i = 0; i < n; i++) want[i] += ((float *)cdb.data)[i]; /* da == db: da0 + 2 ds */
        double e, worst = cmp("da (== db)", da_g, want, n, 2e-2, 2e-2);
        e = cmp("dw", dw_g, cdw.data, C, 1e-3, 1e-3), worst = e > worst ? e : worst;
        e = cmp("dbeta", dbeta_g, cdbeta.data, C, 1e-4, 1e-4), worst = e > worst ? e : worst;
        report(name, "cpu f32 (bwd)", 2e-2, 2e-2, worst);
        free(want);
    }
    lt_tensor t1[] = {gdy, gda, gdw, gdbeta};
    for (int i = 0; i < 4; i++) lt_tensor_free(g_cuda, &t1[i]);
    lt_tensor t2[] = {cdy, cda, cdb, cdw, cdbeta, cs2, cm2, cr2};
    for (int i = 0; i < 8; i++) lt_tensor_free(g_cpu, &t2[i]);
    free(da_g), free(dw_g), free(dbeta_g);
    lt_tensor tg[] = {ga, gb, gy, gw, gbeta, gm, gr};
    for (int i = 0; i < 7; i++) lt_tensor_free(g_cuda, &tg[i]);
    lt_tensor tc[] = {ca, cb, cy, cs, cw, cbeta, cm, cr};
    for (int i = 0; i < 8; i++) lt_tensor_free(g_cpu, &tc[i]);
    free(a), free(b), free(w), free(beta), free(dy), free(da0), free(dw0), free(dbeta0), free(zero);
    free(y_g), free(s_g), free(m_g), free(r_g);
}

/* ---- attention -------------------------------------------------------------------------------------------- */

typedef struct {
    int64_t B, T, H, D;
    const int32_t *lens;
    int causal; /* lt_attention_causal_*: query i sees keys j <= i */
} attn_case;

static int64_t attn_keys(const attn_case *c, int64_t b, int64_t i) {
    int64_t len = c->lens[b] < 0 ? 0 : c->lens[b] > c->T ? c->T : c->lens[b];
    return c->causal && i + 1 < len ? i + 1 : len;
}
static int attn_fwd(lt_backend *be, const attn_case *c, lt_tensor *o, lt_tensor *l, const lt_tensor *q,
                    const lt_tensor *lens, float scale) {
    return c->causal ? lt_attention_causal_fwd(be, o, l, q, lens, (int)c->H, scale)
                     : lt_attention_fwd(be, o, l, q, lens, (int)c->H, scale);
}
static int attn_bwd(lt_backend *be, const attn_case *c, lt_tensor *dq, const lt_tensor *dout, const lt_tensor *q,
                    const lt_tensor *o, const lt_tensor *l, const lt_tensor *lens, float scale) {
    return c->causal ? lt_attention_causal_bwd(be, dq, dout, q, o, l, lens, (int)c->H, scale)
                     : lt_attention_bwd(be, dq, dout, q, o, l, lens, (int)c->H, scale);
}

/* The contract of ops.h in double: out, lse from qkv; then dqkv += the gradient of dout, with P
 * recomputed from the given out and lse (as both backends do). */
static void attn_ref_fwd(const attn_case *c, const float *qkv, float *out, float *lse, double scale) {
    int64_t T = c->T, H = c->H, D = c->D;
    double *s = malloc((size_t)T * sizeof(double));
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                int64_t len = attn_keys(c, b, i);
                const float *q = qkv + ((b * T + i) * 3 * H + h) * D;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < len; j++) {
                    const float *k = qkv + ((b * T + j) * 3 * H + H + h) * D;
                    double d = 0;
                    for (int64_t e = 0; e < D; e++) d += (double)q[e] * k[e];
                    s[j] = d * scale;
                    if (s[j] > mx) mx = s[j];
                }
                for (int64_t j = 0; j < len; j++) sum += exp(s[j] - mx);
                float *o = out + ((b * T + i) * H + h) * D;
                for (int64_t e = 0; e < D; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < len; j++) acc += exp(s[j] - mx) / sum * qkv[((b * T + j) * 3 * H + 2 * H + h) * D + e];
                    o[e] = (float)acc;
                }
                lse[(b * H + h) * T + i] = len ? (float)(mx + log(sum)) : -INFINITY;
            }
    free(s);
}

static void attn_ref_bwd(const attn_case *c, const float *qkv, const float *out, const float *lse, const float *dout,
                         float *dqkv, double scale) {
    int64_t T = c->T, H = c->H, D = c->D, n = c->B * T * 3 * H * D;
    double *g = calloc((size_t)n, sizeof(double));
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < T; i++) {
                int64_t len = attn_keys(c, b, i);
                int64_t qi = ((b * T + i) * 3 * H + h) * D, oi = ((b * T + i) * H + h) * D;
                double ds = 0;
                for (int64_t e = 0; e < D; e++) ds += (double)dout[oi + e] * out[oi + e];
                for (int64_t j = 0; j < len; j++) {
                    int64_t ki = ((b * T + j) * 3 * H + H + h) * D, vi = ki + H * D;
                    double s = 0, dp = 0;
                    for (int64_t e = 0; e < D; e++) s += (double)qkv[qi + e] * qkv[ki + e], dp += (double)dout[oi + e] * qkv[vi + e];
                    double p = exp(s * scale - lse[(b * H + h) * T + i]), dsc = p * (dp - ds) * scale;
                    for (int64_t e = 0; e < D; e++) {
                        g[vi + e] += p * dout[oi + e];
                        g[qi + e] += dsc * qkv[ki + e];
                        g[ki + e] += dsc * qkv[qi + e];
                    }
                }
            }
        }
    for (int64_t i = 0; i < n; i++) dqkv[i] += (float)g[i];
    free(g);
}

/* One shape, in dtype dt on CUDA, against the CPU f32 op (or the reference when the CPU has none). */
static void test_attention_case(const attn_case *c, lt_dtype dt) {
    char name[NAME_MAX_LEN];
    if (!begin(name, "%sattention %s B%lld T%lld H%lld D%lld", c->causal ? "causal " : "", dt == LT_BF16 ? "bf16" : "f32", (long long)c->B,
               (long long)c->T, (long long)c->H, (long long)c->D))
        return;
    int64_t B = c->B, T = c->T, H = c->H, D = c->D, nqkv = B * T * 3 * H * D, nout = B * T * H * D, nl = B * H * T;
    int64_t sq[3] = {B, T, 3 * H * D}, so[3] = {B, T, H * D}, sl[3] = {B, H, T}; /* at most 4 dims */
    int round = dt == LT_BF16;
    float scale = 1.0f / sqrtf((float)D);
    float *qkv = rnd(nqkv, -2, 2, round), *dout = rnd(nout, -1, 1, round), *dqkv0 = rnd(nqkv, -1, 1, round);
    float *zero = calloc((size_t)nqkv, sizeof(float));

    lt_tensor gq = up(g_cuda, dt, qkv, 3, sq), go = up(g_cuda, dt, zero, 3, so), gl = up(g_cuda, LT_F32, zero, 3, sl);
    lt_tensor glen = up_i32(g_cuda, c->lens, B);
    OK(attn_fwd(g_cuda, c, &go, &gl, &gq, &glen, scale));
    float *out_g = down(g_cuda, &go), *lse_g = down(g_cuda, &gl);
    /* backward twice from the same start: bit-identical results */
    lt_tensor gdo = up(g_cuda, dt, dout, 3, so), gd1 = up(g_cuda, dt, dqkv0, 3, sq), gd2 = up(g_cuda, dt, dqkv0, 3, sq);
    OK(attn_bwd(g_cuda, c, &gd1, &gdo, &gq, &go, &gl, &glen, scale));
    OK(attn_bwd(g_cuda, c, &gd2, &gdo, &gq, &go, &gl, &glen, scale));
    float *d1 = down(g_cuda, &gd1), *d2 = down(g_cuda, &gd2);
    int same = memcmp(d1, d2, (size_t)nqkv * sizeof(float)) == 0;
    CHECK_MSG(same, "%s: backward is not deterministic", name);

    /* the expected values: the CPU op in f32, or the reference */
    float *out_w = calloc((size_t)nout, sizeof(float)), *lse_w = calloc((size_t)nl, sizeof(float));
    float *dq_w = fdup(dqkv0, nqkv);
    const char *vs = "cpu f32";
    lt_tensor cq = up(g_cpu, LT_F32, qkv, 3, sq), co = up(g_cpu, LT_F32, zero, 3, so), cl = up(g_cpu, LT_F32, zero, 3, sl);
    lt_tensor clen = up_i32(g_cpu, c->lens, B);
    int rc = attn_fwd(g_cpu, c, &co, &cl, &cq, &clen, scale);
    if (cpu_ran(rc, name)) {
        memcpy(out_w, co.data, (size_t)nout * sizeof(float)), memcpy(lse_w, cl.data, (size_t)nl * sizeof(float));
        /* backward on identical inputs: the CUDA out and lse */
        lt_tensor co2 = up(g_cpu, LT_F32, out_g, 3, so), cl2 = up(g_cpu, LT_F32, lse_g, 3, sl);
        lt_tensor cdo = up(g_cpu, LT_F32, dout, 3, so), cd = up(g_cpu, LT_F32, dqkv0, 3, sq);
        if (cpu_ran(attn_bwd(g_cpu, c, &cd, &cdo, &cq, &co2, &cl2, &clen, scale), name))
            memcpy(dq_w, cd.data, (size_t)nqkv * sizeof(float));
        else
            attn_ref_bwd(c, qkv, out_g, lse_g, dout, dq_w, scale), vs = "cpu f32 fwd / reference bwd";
        lt_tensor_free(g_cpu, &co2), lt_tensor_free(g_cpu, &cl2), lt_tensor_free(g_cpu, &cdo), lt_tensor_free(g_cpu, &cd);
    } else {
        attn_ref_fwd(c, qkv, out_w, lse_w, scale);
        attn_ref_bwd(c, qkv, out_g, lse_g, dout, dq_w, scale);
        vs = "double reference";
    }
    double ar = round ? 2e-2 : 1e-4, rr = round ? 2e-2 : 1e-4, e, worst;
    worst = cmp("out", out_g, out_w, nout, ar, rr);
    e = cmp("lse", lse_g, lse_w, nl, 1e-4, round ? 1e-3 : 1e-5), worst = e > worst ? e : worst;
    e = cmp("dqkv", d1, dq_w, nqkv, ar, rr), worst = e > worst ? e : worst;
    char what[160];
    snprintf(what, sizeof what, "%s%s", name, same ? "" : " (NOT deterministic)");
    report(what, vs, ar, rr, worst);

    lt_tensor tg[] = {gq, go, gl, glen, gdo, gd1, gd2};
    for (int i = 0; i < 7; i++) lt_tensor_free(g_cuda, &tg[i]);
    lt_tensor tc[] = {cq, co, cl, clen};
    for (int i = 0; i < 4; i++) lt_tensor_free(g_cpu, &tc[i]);
    free(qkv), free(dout), free(dqkv0), free(zero), free(out_g), free(lse_g), free(d1), free(d2);
    free(out_w), free(lse_w), free(dq_w);
}

static void test_attention(void) {
    static const int32_t l3[] = {77, 0, 33}, l2a[] = {130, 1}, l2b[] = {64, 50}, l2c[] = {9, 200}, l1[] = {1},
                         l4[] = {128, 100, 128, 7};
    const attn_case cases[] = {
        {3, 77, 2, 64, l3, 0},   /* padding, an empty sequence, a partial last tile */
        {2, 130, 3, 32, l2a, 0}, /* three key tiles, one key only */
        {2, 64, 2, 128, l2b, 0}, /* the widest head */
        {2, 40, 2, 48, l2c, 0},  /* D = 48 runs padded to 64; lens past T clamps */
        {2, 33, 2, 20, l2c, 0},  /* D = 20: rows not whole 16-byte words (scalar loads) */
        {1, 1, 1, 64, l1, 0},    /* T = 1 */
        {4, 128, 12, 64, l4, 0}, /* BERT-base heads */
        /* causal: the diagonal tiles, skipped tiles on both sides, padding and an empty row */
        {3, 77, 2, 64, l3, 1},
        {2, 130, 3, 32, l2a, 1},
        {2, 64, 2, 128, l2b, 1},
        {2, 33, 2, 20, l2c, 1},
        {1, 1, 1, 64, l1, 1},
        {4, 128, 2, 64, l4, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_attention_case(&cases[i], LT_BF16);
        test_attention_case(&cases[i], LT_F32);
    }
}

/* ---- the bf16 transformer-block tests ---------------------------------------------------------------------- */

static void test_transformer_bf16(void) {
    test_cast();
    test_bias_gelu(67, 200); /* 16-byte rows */
    test_bias_gelu(35, 37);  /* scalar path */
    test_residual_layernorm(33, 768);
    test_residual_layernorm(17, 100);
    test_attention();
    /* mean_pool and l2norm take f32 only (test_ops compares them with the CPU) */
}

int main(void) {
    lt_rng_init(&g_rng, tu_seed(), 0);
    g_cpu = lt_backend_cpu();
    if (lt_backend_cuda(&g_cuda, 0) < 0) {
        g_cuda = NULL;
        printf("cuda: skipped: no CUDA device (%s)\n", lt_last_error());
    } else {
        printf("%s\n", lt_backend_describe(g_cuda));
    }
    test_transformer_bf16();
    if (g_cuda) lt_backend_release(g_cuda);
    return tu_finish("test_ops_bf16");
}
