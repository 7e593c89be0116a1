/* tests/test_ops_bf16: every op that takes bf16 activations, on every backend present: the CPU
 * always, CUDA when there is a device (without one it prints "cuda: skipped: no CUDA device").
 *
 * A case runs its ops twice: on the backend under test with bf16 activations, and on the CPU in
 * f32 on the same values (inputs are drawn rounded to bf16, so both sides see identical numbers;
 * parameters and statistics are f32 on both sides). Every output, statistic and accumulated
 * gradient is compared with the f32 op's, rounded to the output's dtype (what an ideal bf16 op
 * stores):   |got - round(want)| <= arel * max|want| + rtol * |want|
 *  - On the CPU arel = rtol = 0: bit for bit. The CPU runs bf16 through its f32 kernels on
 *    widened copies and rounds each output once (src/cpu/wide.c), so anything else is a bug: an
 *    output not narrowed, rounded twice, overwritten instead of added to.
 *  - On CUDA, the tolerances below (the kernels sum in other orders). bf16 keeps 8 significant
 *    bits (7 stored), so one rounding moves a value by at most half a step, 2^-8 of it; a kernel
 *    whose fp32 result differs from the CPU's in its last bits may round to the neighbouring
 *    step, 2^-7 of it (rtol); a sum over a row adds absolute noise (arel, of the largest value).
 *    Ops whose contract fixes every fp32 operation (add, bias_add, the embedding gather and its
 *    ordered scatter, cast, dropout's mask, an ignored cross-entropy row) are exact there too.
 * += outputs start from random values on both sides, so an op that overwrites fails. Every op
 * must run: LT_ENOTSUP is a failure on either backend ("an op that answers 'not supported' on
 * the GPU counts as a failure there"). Each case also makes one call with mixed dtypes (or a
 * bf16 statistic) and expects LT_EDTYPE with a message naming the op.
 * Attention also runs in f32 (CUDA against the CPU; the CPU against a double-precision
 * reference written here) and its backward runs twice to check it is bit-for-bit deterministic.
 * Casts are checked bit for bit against lt_f32_to_bf16 / lt_bf16_to_f32.
 * The seed is printed; LONGTAIL_TEST_SEED=<seed> repeats a run. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/ops.h"
#include "longtail/rng.h"
#include "testutil.h"

#define EMB_CHUNK 256 /* LT_EMB_CHUNK (src/core/backend_impl.h): occurrences of an id summed per chunk */

static lt_rng g_rng;
static lt_backend *g_cpu, *g_cuda;

/* Allowed error of a CUDA output (see the header); the CPU is always held to EXACT. */
typedef struct {
    double arel, rtol;
} tol;
static const tol EXACT = {0, 0};
static const tol STEP = {1e-5, 0x1p-7}; /* element-wise: may round to the neighbouring bf16 step */
static const tol ROW = {1e-4, 0x1p-7};  /* a bf16 output that depends on fp32 sums over its row */
static const tol SUM = {1e-4, 1e-4};    /* an f32 sum in another order: statistics, bias/weight grads */

/* ---- the case in progress: its name, its worst error, what it allocated ---------------------- */

#define MAX_HELD 64

static struct {
    lt_backend *be;  /* the backend under test */
    lt_dtype dt;     /* its activations' dtype (bf16, or f32 for attention) */
    const char *vs;  /* what it is compared with */
    char name[96];
    char note[96];   /* extra words for the report line */
    double worst;    /* worst error / tolerance */
    int broken;      /* an op failed: nothing to compare */
    int refused;     /* 1: every call with mixed dtypes was refused */
    int nt, nh;
    lt_tensor *t[MAX_HELD];
    void *h[MAX_HELD];
} C;

static lt_backend *backend_of(const lt_tensor *t) { return t->device == LT_CPU ? g_cpu : g_cuda; }

/* The CPU's bf16 against its own f32 op: held bit for bit (see the header). */
static int exact_here(void) { return C.be == g_cpu && !strcmp(C.vs, "cpu f32"); }

static void begin(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(C.name, sizeof C.name, fmt, ap);
    va_end(ap);
    C.dt = LT_BF16, C.vs = "cpu f32", C.note[0] = 0, C.worst = 0, C.broken = C.refused = 0;
}

/* Prints the case's line, counts a failure, frees what it held. */
static void end_case(void) {
    if (!C.broken) {
        char how[64];
        if (exact_here()) snprintf(how, sizeof how, "%s", "bit-exact");
        else snprintf(how, sizeof how, "worst err/tol %.3f", C.worst);
        const char *mixed = C.refused > 0 ? ", mixed dtypes refused" : C.refused ? ", mixed dtypes NOT refused" : "";
        printf("  %-48s %s %s vs %s: %s%s%s: %s\n", C.name, lt_backend_name(C.be), lt_dtype_name(C.dt), C.vs, how,
               C.note, mixed, C.worst <= 1 && C.refused >= 0 ? "ok" : "FAIL");
        CHECK_MSG(C.worst <= 1, "%s: %s %s and %s differ", C.name, lt_backend_name(C.be), lt_dtype_name(C.dt), C.vs);
    }
    for (int i = 0; i < C.nt; i++) lt_tensor_free(backend_of(C.t[i]), C.t[i]), free(C.t[i]);
    for (int i = 0; i < C.nh; i++) free(C.h[i]);
    C.nt = C.nh = 0;
}

static void *hold(void *p) {
    if (!p || C.nh == MAX_HELD) fprintf(stderr, "test_ops_bf16: out of memory or MAX_HELD\n"), exit(1);
    return C.h[C.nh++] = p;
}

/* ---- host data and tensors ---------------------------------------------------------------------- */

static float bf(float x) { return lt_bf16_to_f32(lt_f32_to_bf16(x)); }

/* n floats uniform in [lo, hi), rounded to bf16 when round is set (activations) */
static float *rnd(int64_t n, float lo, float hi, int round) {
    float *p = hold(malloc((size_t)n * sizeof(float) + 4));
    for (int64_t i = 0; i < n; i++) {
        p[i] = lo + (hi - lo) * lt_rng_next_uniform(&g_rng);
        if (round) p[i] = bf(p[i]);
    }
    return p;
}

/* A dt tensor on be holding the host values h (NULL: zeros): floats rounded to bf16 for a bf16
 * tensor, else h's bytes as they are (f32, i32). */
static lt_tensor *tensor(lt_backend *be, lt_dtype dt, const void *h, int ndim, const int64_t *shape) {
    if (C.nt == MAX_HELD) fprintf(stderr, "test_ops_bf16: more than MAX_HELD tensors\n"), exit(1);
    lt_tensor *t = C.t[C.nt++] = malloc(sizeof *t);
    OK(lt_tensor_new(t, be, dt, ndim, shape));
    if (!h) return t;
    int64_t n = lt_numel(t);
    uint16_t *b = NULL;
    if (dt == LT_BF16) {
        b = malloc((size_t)n * 2 + 2);
        for (int64_t i = 0; i < n; i++) b[i] = lt_f32_to_bf16(((const float *)h)[i]);
    }
    lt_tensor host = lt_view(b ? (void *)b : (void *)h, dt, LT_CPU, ndim, shape);
    OK(lt_tensor_copy(be, t, &host));
    free(b);
    return t;
}

static lt_tensor *ints(lt_backend *be, const int32_t *h, int64_t n) { return tensor(be, LT_I32, h, 1, &n); }

/* t's values as host floats (held by the case) */
static float *fetch(const lt_tensor *t) {
    lt_backend *be = backend_of(t);
    int64_t n = lt_numel(t);
    float *f = hold(malloc((size_t)n * sizeof(float) + 4));
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

/* ---- the two sides of a case, running ops, comparing -------------------------------------------- */

/* Side 0 is the backend under test in its dtype, side 1 the reference: the CPU in f32. */
typedef struct {
    lt_backend *be;
    lt_dtype dt;
} side;
static side side_of(int s) { return s == 0 ? (side){C.be, C.dt} : (side){g_cpu, LT_F32}; }

static lt_tensor *act_t(side d, const float *h, int ndim, const int64_t *shape) {
    return tensor(d.be, d.dt, h, ndim, shape);
}
static lt_tensor *f32_t(side d, const float *h, int64_t n) { return tensor(d.be, LT_F32, h, 1, &n); }

/* Runs an op of the case unless an earlier one failed; a failure (LT_ENOTSUP included) is counted. */
#define RUN(d, call)                                                                                      \
    do {                                                                                                  \
        if (!C.broken) ran((d), (call), #call);                                                           \
    } while (0)

static void ran(side d, int rc, const char *call) {
    if (rc >= 0) return;
    CHECK_MSG(0, "%s on %s %s: %s: %s (%s)%s", C.name, lt_backend_name(d.be), lt_dtype_name(d.dt), call,
              lt_err_name(rc), lt_last_error(), rc == LT_ENOTSUP ? "; 'not supported' counts as a failure" : "");
    printf("  %-48s %s %s: FAIL (%s)\n", C.name, lt_backend_name(d.be), lt_dtype_name(d.dt), lt_err_name(rc));
    lt_clear_error();
    C.broken = 1;
}

/* A call with mixed dtypes (or an f32 argument given in bf16) must fail with LT_EDTYPE naming op. */
#define REFUSED(call, op) refused((lt_clear_error(), (call)), (op), #call)

static void refused(int rc, const char *op, const char *call) {
    char needle[64];
    snprintf(needle, sizeof needle, "%s:", op);
    int ok = rc == LT_EDTYPE && strstr(lt_last_error(), needle);
    CHECK_MSG(ok, "%s: %s returned %s (%s), expected LT_EDTYPE naming %s", C.name, call, lt_err_name(rc),
              lt_last_error(), op);
    C.refused = ok && C.refused >= 0 ? 1 : -1; /* -1 once one was not */
    lt_clear_error();
}

/* Compares n values got (stored in dtype gdt) with want; see the header. Prints the worst element
 * when it fails. */
static void expect_host(const char *what, const float *got, lt_dtype gdt, const float *want, int64_t n, tol t) {
    if (exact_here()) t = EXACT;
    double big = 0, worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > big) big = fabs(want[i]);
    double atol = t.arel * (big > 0 ? big : 1);
    for (int64_t i = 0; i < n; i++) {
        double x = got[i], y = gdt == LT_BF16 ? bf(want[i]) : want[i];
        double e = (x == y || (isnan(x) && isnan(y))) ? 0 : fabs(x - y) / (atol + t.rtol * fabs(y));
        if (isnan(e)) e = INFINITY;
        if (e > worst) worst = e, wi = i;
    }
    if (worst > 1)
        fprintf(stderr, "  %s: %s: element %lld: %s %.8g, expected %.8g (%s %.8g; atol %.3g, rtol %.3g)\n", C.name,
                what, (long long)wi, lt_backend_name(C.be), got[wi], gdt == LT_BF16 ? bf(want[wi]) : want[wi], C.vs,
                want[wi], atol, t.rtol);
    if (worst > C.worst) C.worst = worst;
}

/* got (on the backend under test) against want (the reference side's tensor) */
static void expect(const char *what, const lt_tensor *got, const lt_tensor *want, tol t) {
    if (C.broken) return;
    expect_host(what, fetch(got), got->dtype, fetch(want), lt_numel(want), t);
}

/* ---- cast ------------------------------------------------------------------------------------------- */

/* f32 -> bf16 -> f32 on the backend against the host conversions, bit for bit: random bit
 * patterns (every class of float, NaNs included), rounding ties, overflow, subnormals; an
 * aligned and a misaligned (scalar path) view; and the same-type copies. */
static void test_cast(void) {
    begin("cast f32 <-> bf16");
    const int64_t n = 1003, m = n + 1;
    uint32_t *bits = hold(malloc((size_t)m * sizeof(uint32_t)));
    const uint32_t special[] = {0x00000000, 0x80000000, 0x3f800000, 0x3f808000 /* tie: to even (down) */,
                                0x3f818000 /* tie: to even (up) */, 0x3f808001, 0x7f7fffff /* to inf */,
                                0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001 /* signalling NaN */, 0xffffffff,
                                0x00000001, 0x007fffff, 0x00008000, 0x80018000};
    int ns = (int)(sizeof special / sizeof special[0]);
    for (int64_t i = 0; i < m; i++) bits[i] = i < ns ? special[i] : lt_rng_next_u32(&g_rng);
    lt_device dev = lt_backend_device(C.be);
    int bad = 0;
    for (int off = 0; off < 2; off++) { /* off = 1: views one element in, not 16-byte aligned */
        lt_tensor *f = tensor(C.be, LT_F32, bits, 1, &m), *h = tensor(C.be, LT_BF16, NULL, 1, &m);
        lt_tensor *f2 = tensor(C.be, LT_F32, NULL, 1, &m), *h2 = tensor(C.be, LT_BF16, NULL, 1, &m);
        lt_tensor fv = lt_view1((float *)f->data + off, LT_F32, dev, n);
        lt_tensor hv = lt_view1((uint16_t *)h->data + off, LT_BF16, dev, n);
        lt_tensor f2v = lt_view1((float *)f2->data + off, LT_F32, dev, n);
        lt_tensor h2v = lt_view1((uint16_t *)h2->data + off, LT_BF16, dev, n);
        side d = side_of(0);
        RUN(d, lt_cast(C.be, &hv, &fv));   /* f32 -> bf16 */
        RUN(d, lt_cast(C.be, &h2v, &hv));  /* bf16 -> bf16 (copy) */
        RUN(d, lt_cast(C.be, &f2v, &h2v)); /* bf16 -> f32 */
        RUN(d, lt_cast(C.be, &fv, &f2v));  /* f32 -> f32 (copy) */
        if (C.broken) break;
        uint16_t *hb = hold(malloc((size_t)m * 2));
        uint32_t *fb = hold(malloc((size_t)m * 4));
        lt_tensor hh = lt_view1(hb, LT_BF16, LT_CPU, m), hf = lt_view1(fb, LT_F32, LT_CPU, m);
        OK(lt_tensor_copy(C.be, &hh, h2));
        OK(lt_tensor_copy(C.be, &hf, f));
        for (int64_t i = 0; i < n; i++) {
            float x;
            memcpy(&x, &bits[i + off], 4);
            uint16_t want = lt_f32_to_bf16(x);
            uint32_t wantf = (uint32_t)want << 16;
            if ((hb[i + off] != want || fb[i + off] != wantf) && bad++ < 5)
                fprintf(stderr, "  cast: input 0x%08x (offset %d): bf16 0x%04x want 0x%04x, back 0x%08x want 0x%08x\n",
                        bits[i + off], off, hb[i + off], want, fb[i + off], wantf);
        }
    }
    snprintf(C.note, sizeof C.note, ", %lld values x aligned/misaligned, %d mismatches", (long long)n, bad);
    C.vs = "lt_f32_to_bf16 (bit for bit)", C.worst = bad ? INFINITY : 0;
    end_case();
}

/* ---- bias, GELU, LayerNorm ---------------------------------------------------------------------------- */

static void test_bias(int64_t R, int64_t Cn) {
    begin("bias_add + bias_bwd [%lld,%lld]", (long long)R, (long long)Cn);
    int64_t sh[2] = {R, Cn}, n = R * Cn;
    float *y0 = rnd(n, -2, 2, 1), *bias = rnd(Cn, -1, 1, 0), *dy = rnd(n, -1, 1, 1), *db0 = rnd(Cn, -1, 1, 0);
    lt_tensor *y[2], *db[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        lt_tensor *b = f32_t(d, bias, Cn), *g = act_t(d, dy, 2, sh);
        y[s] = act_t(d, y0, 2, sh), db[s] = f32_t(d, db0, Cn);
        RUN(d, lt_bias_add(d.be, y[s], b));
        RUN(d, lt_bias_bwd(d.be, db[s], g));
    }
    expect("y", y[0], y[1], EXACT); /* y + bias: one fp32 add, rounded once */
    expect("dbias", db[0], db[1], SUM);
    REFUSED(lt_bias_add(C.be, y[0], tensor(C.be, LT_BF16, bias, 1, &Cn)), "bias_add"); /* a bf16 bias */
    end_case();
}

static void test_gelu(int64_t n) {
    begin("gelu_fwd + gelu_bwd [%lld]", (long long)n);
    float *x = rnd(n, -5, 5, 1), *dy = rnd(n, -1, 1, 1), *dx0 = rnd(n, -1, 1, 1);
    lt_tensor *y[2], *yin[2], *dx[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        lt_tensor *tx = act_t(d, x, 1, &n), *tdy = act_t(d, dy, 1, &n);
        y[s] = act_t(d, NULL, 1, &n), yin[s] = act_t(d, x, 1, &n), dx[s] = act_t(d, dx0, 1, &n);
        RUN(d, lt_gelu_fwd(d.be, y[s], tx));
        RUN(d, lt_gelu_fwd(d.be, yin[s], yin[s])); /* y may alias x */
        RUN(d, lt_gelu_bwd(d.be, dx[s], tdy, tx));
    }
    expect("y", y[0], y[1], STEP);
    expect("y (in place)", yin[0], y[1], STEP);
    expect("dx", dx[0], dx[1], STEP);
    REFUSED(lt_gelu_fwd(C.be, y[0], tensor(C.be, LT_F32, x, 1, &n)), "gelu_fwd");
    REFUSED(lt_gelu_bwd(C.be, dx[0], tensor(C.be, LT_F32, dy, 1, &n), y[0]), "gelu_bwd");
    end_case();
}

/* Forward on both sides; the backward of both from the tested side's mean and rstd. */
static void test_layernorm(int64_t R, int64_t Cn) {
    begin("layernorm_fwd + layernorm_bwd [%lld,%lld]", (long long)R, (long long)Cn);
    int64_t sh[2] = {R, Cn}, n = R * Cn;
    float *x = rnd(n, -1, 3, 1), *w = rnd(Cn, 0.5f, 1.5f, 0), *b = rnd(Cn, -1, 1, 0), *dy = rnd(n, -1, 1, 1);
    float *dx0 = rnd(n, -1, 1, 1), *dw0 = rnd(Cn, -1, 1, 0), *db0 = rnd(Cn, -1, 1, 0);
    lt_tensor *y[2], *mean[2], *rstd[2], *dx[2], *dw[2], *db[2], *tx[2], *tw[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        tx[s] = act_t(d, x, 2, sh), tw[s] = f32_t(d, w, Cn), y[s] = act_t(d, NULL, 2, sh);
        mean[s] = f32_t(d, NULL, R), rstd[s] = f32_t(d, NULL, R);
        RUN(d, lt_layernorm_fwd(d.be, y[s], mean[s], rstd[s], tx[s], tw[s], f32_t(d, b, Cn), 1e-5f));
    }
    expect("y", y[0], y[1], ROW);
    expect("mean", mean[0], mean[1], SUM);
    expect("rstd", rstd[0], rstd[1], SUM);
    if (C.broken) {
        end_case();
        return;
    }
    float *m_g = fetch(mean[0]), *r_g = fetch(rstd[0]);
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        dx[s] = act_t(d, dx0, 2, sh), dw[s] = f32_t(d, dw0, Cn), db[s] = f32_t(d, db0, Cn);
        lt_tensor *m = s ? f32_t(d, m_g, R) : mean[0], *r = s ? f32_t(d, r_g, R) : rstd[0];
        RUN(d, lt_layernorm_bwd(d.be, dx[s], dw[s], db[s], act_t(d, dy, 2, sh), tx[s], tw[s], m, r));
    }
    expect("dx", dx[0], dx[1], ROW);
    expect("dw", dw[0], dw[1], SUM);
    expect("db", db[0], db[1], SUM);
    REFUSED(lt_layernorm_fwd(C.be, y[0], mean[0], rstd[0], tensor(C.be, LT_F32, x, 2, sh), tw[0], dw[0], 1e-5f),
            "layernorm_fwd");
    lt_tensor *dy32 = tensor(C.be, LT_F32, dy, 2, sh);
    REFUSED(lt_layernorm_bwd(C.be, dx[0], dw[0], db[0], dy32, tx[0], tw[0], mean[0], rstd[0]), "layernorm_bwd");
    end_case();
}

/* ---- cross-entropy --------------------------------------------------------------------------------------- */

/* Row `ign` has target == ignore_index: loss exactly 0 and its gradient row untouched on every
 * backend. The starting gradient is about as large as softmax's entries (~1/V), so a gradient
 * that is not added shows after bf16 rounding. */
static void test_xent(int64_t R, int64_t V, int ignore_index, int64_t ign) {
    begin("xent_fwd + xent_bwd [%lld,%lld] ignore %d", (long long)R, (long long)V, ignore_index);
    int64_t sh[2] = {R, V}, n = R * V;
    float g0 = 4.0f / (float)V;
    float *logits = rnd(n, -6, 6, 1), *dl0 = rnd(n, -g0, g0, 1), *dloss = rnd(R, 0.5f, 1.5f, 0);
    int32_t *tg = hold(malloc((size_t)R * sizeof(int32_t)));
    for (int64_t r = 0; r < R; r++) {
        tg[r] = (int32_t)(lt_rng_next_u32(&g_rng) % (uint32_t)V);
        if (tg[r] == ignore_index) tg[r] = (tg[r] + 1) % (int32_t)V;
    }
    tg[ign] = ignore_index;
    lt_tensor *loss[2], *lse[2], *dl[2], *tl[2], *tt[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        tl[s] = act_t(d, logits, 2, sh), tt[s] = ints(d.be, tg, R);
        loss[s] = f32_t(d, NULL, R), lse[s] = f32_t(d, NULL, R), dl[s] = act_t(d, dl0, 2, sh);
        RUN(d, lt_xent_fwd(d.be, loss[s], lse[s], tl[s], tt[s], ignore_index));
        RUN(d, lt_xent_bwd(d.be, dl[s], tl[s], lse[s], tt[s], f32_t(d, dloss, R), ignore_index));
    }
    expect("loss", loss[0], loss[1], SUM);
    expect("lse", lse[0], lse[1], SUM);
    expect("dlogits", dl[0], dl[1], STEP);
    if (!C.broken) { /* the ignored row, exactly */
        float *lg = fetch(loss[0]), *dg = fetch(dl[0]);
        expect_host("loss of the ignored row", lg + ign, LT_F32, (const float[]){0}, 1, EXACT);
        expect_host("dlogits of the ignored row", dg + ign * V, LT_BF16, dl0 + ign * V, V, EXACT);
    }
    REFUSED(lt_xent_fwd(C.be, loss[0], tensor(C.be, LT_BF16, NULL, 1, &R), tl[0], tt[0], ignore_index), "xent_fwd");
    REFUSED(lt_xent_bwd(C.be, dl[0], tensor(C.be, LT_F32, logits, 2, sh), lse[0], tt[0], loss[0], ignore_index),
            "xent_bwd");
    end_case();
}

/* ---- embedding ------------------------------------------------------------------------------------------- */

/* n ids into a [V, D] table: two of every three positions hold the hot id 7 (more than two
 * chunks of EMB_CHUNK once n > 3 EMB_CHUNK / 2), every sixth the skip id 0, the rest random.
 * Gather and scatter are exact on every backend (the scatter's order is the contract's); the
 * scatter runs once without a skip id and once with it, whose row must stay untouched. */
static void test_embedding(int64_t V, int64_t D, int64_t n) {
    begin("embedding_fwd + _bwd(_skip) V%lld D%lld n%lld", (long long)V, (long long)D, (long long)n);
    int64_t sht[2] = {V, D}, sho[2] = {n, D};
    int32_t *ids = hold(malloc((size_t)n * sizeof(int32_t)));
    int hot = 0;
    for (int64_t i = 0; i < n; i++) {
        ids[i] = i % 3 != 2 ? 7 : i % 6 == 2 ? 0 : 1 + (int32_t)(lt_rng_next_u32(&g_rng) % (uint32_t)(V - 1));
        hot += ids[i] == 7;
    }
    float *table = rnd(V * D, -1, 1, 1), *dout = rnd(n * D, -1, 1, 1), *dt0 = rnd(V * D, -1, 1, 1);
    lt_tensor *out[2], *dt[2], *dts[2], *tt[2], *ti[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        tt[s] = act_t(d, table, 2, sht), ti[s] = ints(d.be, ids, n), out[s] = act_t(d, NULL, 2, sho);
        dt[s] = act_t(d, dt0, 2, sht), dts[s] = act_t(d, dt0, 2, sht);
        lt_tensor *tdo = act_t(d, dout, 2, sho);
        RUN(d, lt_embedding_fwd(d.be, out[s], tt[s], ti[s]));
        RUN(d, lt_embedding_bwd(d.be, dt[s], tdo, ti[s]));
        RUN(d, lt_embedding_bwd_skip(d.be, dts[s], tdo, ti[s], 0));
    }
    expect("out", out[0], out[1], EXACT);
    expect("dtable", dt[0], dt[1], EXACT);
    expect("dtable (skip 0)", dts[0], dts[1], EXACT);
    if (!C.broken) expect_host("the skipped row", fetch(dts[0]), LT_BF16, dt0, D, EXACT);
    snprintf(C.note, sizeof C.note, ", hot id x%d (%d chunk%s)", hot, (hot + EMB_CHUNK - 1) / EMB_CHUNK,
             hot > EMB_CHUNK ? "s" : "");
    REFUSED(lt_embedding_fwd(C.be, tensor(C.be, LT_F32, NULL, 2, sho), tt[0], ti[0]), "embedding_fwd");
    REFUSED(lt_embedding_bwd_skip(C.be, dt[0], tensor(C.be, LT_F32, dout, 2, sho), ti[0], 0), "embedding_bwd");
    end_case();
}

/* ---- dropout ------------------------------------------------------------------------------------------- */

/* The mask comes from (seed, stream) alone, so the bf16 and f32 outputs are zero at exactly the
 * same elements (x has no zeros); the forward also runs in place (y aliases x). */
static void test_dropout(int64_t n, float p) {
    begin("dropout_fwd + dropout_bwd [%lld] p=%g", (long long)n, p);
    uint64_t seed = lt_rng_next_u64(&g_rng), stream = 3;
    float *x = rnd(n, 0.25f, 2, 1), *dy = rnd(n, -1, 1, 1), *dx0 = rnd(n, -1, 1, 1);
    for (int64_t i = 0; i < n; i += 2) x[i] = -x[i];
    lt_tensor *y[2], *yin[2], *dx[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        lt_tensor *tx = act_t(d, x, 1, &n);
        y[s] = act_t(d, NULL, 1, &n), yin[s] = act_t(d, x, 1, &n), dx[s] = act_t(d, dx0, 1, &n);
        RUN(d, lt_dropout_fwd(d.be, y[s], tx, p, seed, stream));
        RUN(d, lt_dropout_fwd(d.be, yin[s], yin[s], p, seed, stream));
        RUN(d, lt_dropout_bwd(d.be, dx[s], act_t(d, dy, 1, &n), p, seed, stream));
    }
    expect("y", y[0], y[1], STEP);
    expect("y (in place)", yin[0], y[1], STEP);
    expect("dx", dx[0], dx[1], STEP);
    if (!C.broken) {
        float *yg = fetch(y[0]), *yw = fetch(y[1]);
        int64_t differ = 0, zeros = 0;
        for (int64_t i = 0; i < n; i++) differ += (yg[i] == 0) != (yw[i] == 0), zeros += yw[i] == 0;
        CHECK_MSG(differ == 0, "%s: the bf16 and f32 masks differ at %lld elements", C.name, (long long)differ);
        CHECK_MSG(fabs((double)zeros / n - p) < 0.03, "%s: %lld of %lld dropped for p = %g", C.name, (long long)zeros,
                  (long long)n, p);
        snprintf(C.note, sizeof C.note, ", masks %s (%lld dropped)", differ ? "DIFFER" : "identical", (long long)zeros);
    }
    REFUSED(lt_dropout_fwd(C.be, y[0], tensor(C.be, LT_F32, x, 1, &n), p, seed, stream), "dropout_fwd");
    REFUSED(lt_dropout_bwd(C.be, dx[0], tensor(C.be, LT_F32, dy, 1, &n), p, seed, stream), "dropout_bwd");
    end_case();
}

/* ---- add, axpy ------------------------------------------------------------------------------------------ */

static void test_add_axpy(int64_t n) {
    begin("add + axpy [%lld]", (long long)n);
    const float alpha = -0.37f;
    float *a = rnd(n, -2, 2, 1), *b = rnd(n, -2, 2, 1), *y0 = rnd(n, -1, 1, 1);
    lt_tensor *y[2], *yin[2], *ax[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        lt_tensor *ta = act_t(d, a, 1, &n), *tb = act_t(d, b, 1, &n);
        y[s] = act_t(d, NULL, 1, &n), yin[s] = act_t(d, a, 1, &n), ax[s] = act_t(d, y0, 1, &n);
        RUN(d, lt_add(d.be, y[s], ta, tb));
        RUN(d, lt_add(d.be, yin[s], yin[s], tb)); /* y aliases a */
        RUN(d, lt_axpy(d.be, ax[s], alpha, ta));
    }
    expect("add", y[0], y[1], EXACT); /* one fp32 add, rounded once */
    expect("add (in place)", yin[0], y[1], EXACT);
    expect("axpy", ax[0], ax[1], STEP); /* y + alpha x: fma or not */
    REFUSED(lt_add(C.be, y[0], tensor(C.be, LT_F32, a, 1, &n), yin[0]), "add");
    REFUSED(lt_axpy(C.be, ax[0], alpha, tensor(C.be, LT_F32, a, 1, &n)), "axpy");
    end_case();
}

/* ---- mean pooling ---------------------------------------------------------------------------------------- */

/* x [B, T, Cn] bf16, out f32; dx rows past lens[b] must stay as they were. */
static void test_mean_pool(int64_t B, int64_t T, int64_t Cn, const int32_t *lens) {
    begin("mean_pool_fwd + mean_pool_bwd [%lld,%lld,%lld]", (long long)B, (long long)T, (long long)Cn);
    int64_t sh[3] = {B, T, Cn}, n = B * T * Cn;
    float *x = rnd(n, -2, 2, 1), *dout = rnd(B * Cn, -4, 4, 0), *dx0 = rnd(n, -0.1f, 0.1f, 1);
    lt_tensor *out[2], *dx[2], *tl[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        tl[s] = ints(d.be, lens, B), out[s] = f32_t(d, NULL, B * Cn), dx[s] = act_t(d, dx0, 3, sh);
        RUN(d, lt_mean_pool_fwd(d.be, out[s], act_t(d, x, 3, sh), tl[s]));
        RUN(d, lt_mean_pool_bwd(d.be, dx[s], f32_t(d, dout, B * Cn), tl[s]));
    }
    expect("out", out[0], out[1], SUM);
    expect("dx", dx[0], dx[1], STEP);
    REFUSED(lt_mean_pool_fwd(C.be, tensor(C.be, LT_BF16, NULL, 1, (int64_t[]){B * Cn}), dx[0], tl[0]), "mean_pool_fwd");
    REFUSED(lt_mean_pool_bwd(C.be, dx[0], tensor(C.be, LT_BF16, dout, 1, (int64_t[]){B * Cn}), tl[0]), "mean_pool_bwd");
    end_case();
}

/* ---- bias + GELU, residual + LayerNorm ----------------------------------------------------------------- */

/* x drawn from [lo, hi] */
static void test_bias_gelu(int64_t R, int64_t Cn, float lo, float hi, const char *what) {
    begin("bias_gelu_fwd + _bwd [%lld,%lld]%s", (long long)R, (long long)Cn, what);
    int64_t sh[2] = {R, Cn}, n = R * Cn;
    float *x = rnd(n, lo, hi, 1), *bias = rnd(Cn, -1, 1, 0), *dy = rnd(n, -1, 1, 1), *dx0 = rnd(n, -1, 1, 1);
    float *db0 = rnd(Cn, -1, 1, 0);
    lt_tensor *y[2], *dx[2], *db[2], *tx[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        lt_tensor *tb = f32_t(d, bias, Cn);
        tx[s] = act_t(d, x, 2, sh), y[s] = act_t(d, NULL, 2, sh);
        dx[s] = act_t(d, dx0, 2, sh), db[s] = f32_t(d, db0, Cn);
        RUN(d, lt_bias_gelu_fwd(d.be, y[s], tx[s], tb));
        RUN(d, lt_bias_gelu_bwd(d.be, dx[s], db[s], act_t(d, dy, 2, sh), tx[s], tb));
    }
    const tol t = {1e-2, 1e-2};
    expect("y", y[0], y[1], t);
    expect("dx", dx[0], dx[1], t);
    expect("dbias", db[0], db[1], SUM);
    REFUSED(lt_bias_gelu_fwd(C.be, y[0], tensor(C.be, LT_F32, x, 2, sh), db[0]), "bias_gelu_fwd");
    end_case();
}

/* The tested side runs in place as BERT's residual stream does: s aliases a in the forward,
 * da == db in the backward (both get ds); the reference keeps s, da and db apart. The backward
 * of both sides starts from the tested side's s, mean and rstd. */
static void test_residual_layernorm(int64_t R, int64_t Cn) {
    begin("residual_layernorm_fwd + _bwd [%lld,%lld]", (long long)R, (long long)Cn);
    int64_t sh[2] = {R, Cn}, n = R * Cn;
    float *a = rnd(n, -2, 2, 1), *b = rnd(n, -2, 2, 1), *w = rnd(Cn, 0.5f, 1.5f, 0), *beta = rnd(Cn, -1, 1, 0);
    float *dy = rnd(n, -1, 1, 1), *da0 = rnd(n, -1, 1, 1), *dw0 = rnd(Cn, -1, 1, 0), *dbeta0 = rnd(Cn, -1, 1, 0);
    /* bf16 normalises s as stored (rounded): the f32 reference gets that s as a, and 0 as b */
    float *ab = hold(malloc((size_t)n * sizeof(float))), *zero = hold(calloc((size_t)n, sizeof(float)));
    for (int64_t i = 0; i < n; i++) ab[i] = lt_bf16_to_f32(lt_f32_to_bf16(a[i] + b[i]));
    lt_tensor *y[2], *sum[2], *mean[2], *rstd[2], *tw[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        lt_tensor *ta = act_t(d, s ? ab : a, 2, sh);
        sum[s] = s ? act_t(d, NULL, 2, sh) : ta, y[s] = act_t(d, NULL, 2, sh), tw[s] = f32_t(d, w, Cn);
        mean[s] = f32_t(d, NULL, R), rstd[s] = f32_t(d, NULL, R);
        RUN(d, lt_residual_layernorm_fwd(d.be, y[s], sum[s], mean[s], rstd[s], ta, act_t(d, s ? zero : b, 2, sh),
                                         tw[s], f32_t(d, beta, Cn), 1e-5f));
    }
    const tol t2 = {2e-2, 2e-2}, t1 = {1e-2, 1e-2};
    expect("y", y[0], y[1], t2);
    expect("s", sum[0], sum[1], t1);
    expect("mean", mean[0], mean[1], t1);
    expect("rstd", rstd[0], rstd[1], t1);
    if (C.broken) {
        end_case();
        return;
    }
    float *s_g = fetch(sum[0]), *m_g = fetch(mean[0]), *r_g = fetch(rstd[0]);
    lt_tensor *da[2], *db = NULL, *dw[2], *dbeta[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        da[s] = act_t(d, da0, 2, sh), dw[s] = f32_t(d, dw0, Cn), dbeta[s] = f32_t(d, dbeta0, Cn);
        lt_tensor *dbs = s ? (db = act_t(d, NULL, 2, sh)) : da[0];
        lt_tensor *ts = s ? act_t(d, s_g, 2, sh) : sum[0], *tm = s ? f32_t(d, m_g, R) : mean[0];
        lt_tensor *tr = s ? f32_t(d, r_g, R) : rstd[0];
        RUN(d, lt_residual_layernorm_bwd(d.be, da[s], dbs, dw[s], dbeta[s], act_t(d, dy, 2, sh), ts, tw[s], tm, tr));
    }
    if (!C.broken) { /* da == db: da0 + 2 ds */
        float *want = fetch(da[1]), *ds = fetch(db);
        for (int64_t i = 0; i < n; i++) want[i] += ds[i];
        expect_host("da (== db)", fetch(da[0]), LT_BF16, want, n, t2);
    }
    expect("dw", dw[0], dw[1], (tol){1e-3, 1e-3});
    expect("dbeta", dbeta[0], dbeta[1], SUM);
    REFUSED(lt_residual_layernorm_fwd(C.be, y[0], sum[0], mean[0], rstd[0], sum[0], tensor(C.be, LT_F32, b, 2, sh),
                                      tw[0], dw[0], 1e-5f),
            "residual_layernorm_fwd");
    end_case();
}

/* residual_layernorm_bwd with da == db (BERT's residual stream may alias them) on exact values: given
 * mean 0 and rstd 1, s in {1, 0, -1} and small whole dy make ds exact in fp32; da starts at 256,
 * where bf16 steps are 2 above and 1 below, so da + ds rounded and then + ds rounded again lands
 * on another step than da + 2 ds rounded once (the contract: one rounding per store). C = 4: the
 * scalar path; C = 8: 16-byte rows. Exact on every backend. */
static void test_residual_layernorm_alias(int64_t Cn) {
    begin("residual_layernorm_bwd da == db, one rounding [1,%lld]", (long long)Cn);
    C.vs = "exact values";
    static const float s4[8] = {1, 0, 0, -1, 0, 0, 0, 0}, dy4[8] = {6, 4, 2, 0, 0, 0, 0, 0};
    float *sh = hold(calloc(8, sizeof(float))), *dy = hold(calloc(8, sizeof(float))), *da = hold(malloc(8 * sizeof(float)));
    float *w = hold(malloc(8 * sizeof(float))), *want = hold(malloc(8 * sizeof(float)));
    float sg = 0, sgn = 0, zero = 0, one = 1;
    for (int64_t j = 0; j < Cn; j++) sh[j] = s4[j], dy[j] = dy4[j], da[j] = 256, w[j] = 1, sg += dy[j], sgn += dy[j] * sh[j];
    for (int64_t j = 0; j < Cn; j++) want[j] = bf(da[j] + 2 * (dy[j] - sg / (float)Cn - sh[j] * (sgn / (float)Cn)));
    int64_t shape[2] = {1, Cn};
    side d = side_of(0);
    lt_tensor *tda = act_t(d, da, 2, shape);
    RUN(d, lt_residual_layernorm_bwd(C.be, tda, tda, f32_t(d, NULL, Cn), f32_t(d, NULL, Cn), act_t(d, dy, 2, shape),
                                     act_t(d, sh, 2, shape), f32_t(d, w, Cn), f32_t(d, &zero, 1), f32_t(d, &one, 1)));
    if (!C.broken) expect_host("da (== db)", fetch(tda), LT_BF16, want, Cn, EXACT);
    end_case();
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

/* One shape in dtype dt on the backend under test, against the CPU f32 op; the CPU's own f32
 * op (dt = f32 on the CPU) against the double reference. The backward of both sides starts
 * from the tested side's out and lse, and runs twice on the tested side: bit-identical. */
static void test_attention_case(const attn_case *c, lt_dtype dt) {
    begin("%sattention B%lld T%lld H%lld D%lld", c->causal ? "causal " : "", (long long)c->B, (long long)c->T,
          (long long)c->H, (long long)c->D);
    C.dt = dt;
    int use_ref = C.be == g_cpu && dt == LT_F32;
    if (use_ref) C.vs = "double reference";
    int64_t B = c->B, T = c->T, H = c->H, D = c->D, nqkv = B * T * 3 * H * D, nout = B * T * H * D, nl = B * H * T;
    int64_t sq[3] = {B, T, 3 * H * D}, so[3] = {B, T, H * D}, sl[3] = {B, H, T}; /* at most 4 dims */
    float scale = 1.0f / sqrtf((float)D);
    float *qkv = rnd(nqkv, -2, 2, 1), *dout = rnd(nout, -1, 1, 1), *dqkv0 = rnd(nqkv, -1, 1, 1);
    lt_tensor *o[2], *l[2], *d1[2], *d2 = NULL, *tq[2], *tlen[2];
    float *out_g = NULL, *lse_g = NULL;
    for (int s = 0; s < 2 - use_ref; s++) {
        side d = side_of(s);
        tq[s] = act_t(d, qkv, 3, sq), tlen[s] = ints(d.be, c->lens, B);
        o[s] = act_t(d, NULL, 3, so), l[s] = tensor(d.be, LT_F32, NULL, 3, sl);
        RUN(d, attn_fwd(d.be, c, o[s], l[s], tq[s], tlen[s], scale));
        if (C.broken) break;
        if (!s) out_g = fetch(o[0]), lse_g = fetch(l[0]);
        lt_tensor *to = s ? act_t(d, out_g, 3, so) : o[0], *tl = s ? tensor(d.be, LT_F32, lse_g, 3, sl) : l[0];
        lt_tensor *tdo = act_t(d, dout, 3, so);
        d1[s] = act_t(d, dqkv0, 3, sq);
        RUN(d, attn_bwd(d.be, c, d1[s], tdo, tq[s], to, tl, tlen[s], scale));
        if (!s) d2 = act_t(d, dqkv0, 3, sq);
        if (!s) RUN(d, attn_bwd(d.be, c, d2, tdo, tq[s], to, tl, tlen[s], scale));
    }
    if (C.broken) {
        end_case();
        return;
    }
    float *g1 = fetch(d1[0]), *g2 = fetch(d2);
    int same = memcmp(g1, g2, (size_t)nqkv * sizeof(float)) == 0;
    CHECK_MSG(same, "%s on %s: backward is not deterministic", C.name, lt_backend_name(C.be));
    if (!same) snprintf(C.note, sizeof C.note, " (NOT deterministic)");
    float *out_w, *lse_w, *dq_w;
    if (use_ref) {
        out_w = hold(calloc((size_t)nout, sizeof(float))), lse_w = hold(calloc((size_t)nl, sizeof(float)));
        dq_w = hold(malloc((size_t)nqkv * sizeof(float)));
        memcpy(dq_w, dqkv0, (size_t)nqkv * sizeof(float));
        attn_ref_fwd(c, qkv, out_w, lse_w, scale);
        attn_ref_bwd(c, qkv, out_g, lse_g, dout, dq_w, scale);
    } else {
        out_w = fetch(o[1]), lse_w = fetch(l[1]), dq_w = fetch(d1[1]);
    }
    int round = dt == LT_BF16;
    tol t = {round ? 2e-2 : 1e-4, round ? 2e-2 : 1e-4};
    expect_host("out", out_g, dt, out_w, nout, t);
    expect_host("lse", lse_g, LT_F32, lse_w, nl, (tol){1e-4, round ? 1e-3 : 1e-5});
    expect_host("dqkv", g1, dt, dq_w, nqkv, t);
    if (dt == LT_BF16) /* bf16 out, f32 qkv */
        REFUSED(attn_fwd(C.be, c, o[0], l[0], tensor(C.be, LT_F32, qkv, 3, sq), tlen[0], scale),
                c->causal ? "attention_causal_fwd" : "attention_fwd");
    end_case();
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

/* ---- recurrent layers (LSTM, GRU) ----------------------------------------------------------------------- */

/* One LSTM or GRU layer, forward and backward through time, bf16 activations against the CPU's
 * f32 op. lens holds a middle length, a 0 and a full T (padded steps, an empty sequence); h0/c0
 * given (init) or NULL; every gradient (dx, dh0, dc0 in bf16, the weights' and biases' in f32)
 * starts from random values, so one that overwrites fails. Each side backpropagates through its
 * own forward (x, y, ws).
 * CUDA tolerance, 2e-2 of the largest value plus 2e-2 relative (as test_rnn's bf16-math check):
 * with bf16 activations the GEMMs with x and dx take bf16 operands (W_ih and dG rounded to 8
 * significant bits, 2^-9 relative each) and under the default lt_math the recurrent GEMMs round
 * W_hh and h the same way; over the T steps of the recurrence these relative errors of a few 2^-9
 * add up, and the outputs' own rounding adds a step of 2^-8 on top. */
static void test_rnn_case(lt_cell cell, int64_t B, int64_t T, int64_t I, int64_t H, const int32_t *lens, int init) {
    const int lstm = cell == LT_CELL_LSTM;
    begin("rnn %s B%lld T%lld I%lld H%lld %s", lstm ? "lstm" : "gru", (long long)B, (long long)T, (long long)I,
          (long long)H, init ? "h0/c0" : "no h0/c0");
    const int64_t G = lstm ? 4 : 3, GH = G * H, nx = B * T * I, ny = B * T * H, nh = B * H;
    const int64_t sx[3] = {B, T, I}, sy[3] = {B, T, H}, sh[2] = {B, H};
    const int64_t swi[2] = {GH, I}, swh[2] = {GH, H};
    const float a = 1.0f / sqrtf((float)H); /* PyTorch's initial range */
    float *x = rnd(nx, -1, 1, 1), *wih = rnd(GH * I, -a, a, 0), *whh = rnd(GH * H, -a, a, 0);
    float *bih = rnd(GH, -0.5f, 0.5f, 0), *bhh = rnd(GH, -0.5f, 0.5f, 0);
    float *h0 = rnd(nh, -1, 1, 1), *c0 = rnd(nh, -1, 1, 1);
    float *dy = rnd(ny, -1, 1, 1), *dhT = rnd(nh, -1, 1, 1), *dcT = rnd(nh, -1, 1, 1);
    float *dx0 = rnd(nx, -1, 1, 1), *dh00 = rnd(nh, -1, 1, 1), *dc00 = rnd(nh, -1, 1, 1);
    float *dwih0 = rnd(GH * I, -1, 1, 0), *dwhh0 = rnd(GH * H, -1, 1, 0);
    float *dbih0 = rnd(GH, -1, 1, 0), *dbhh0 = rnd(GH, -1, 1, 0);
    lt_tensor *tl = ints(g_cpu, lens, B); /* lens: on the host whatever the backend */
    lt_tensor *y[2], *hT[2], *cT[2] = {NULL, NULL}, *dx[2], *dh0[2], *dc0[2] = {NULL, NULL};
    lt_tensor *dwih[2], *dwhh[2], *dbih[2], *dbhh[2], *tx[2], *twih[2], *twhh[2], *tws[2];
    for (int s = 0; s < 2; s++) {
        side d = side_of(s);
        size_t bytes = 0;
        RUN(d, lt_rnn_reserve_bytes(d.be, cell, B, T, I, H, &bytes));
        if (C.broken) break;
        int64_t nb = (int64_t)bytes;
        tws[s] = tensor(d.be, LT_U8, NULL, 1, &nb);
        tx[s] = act_t(d, x, 3, sx), twih[s] = tensor(d.be, LT_F32, wih, 2, swi);
        twhh[s] = tensor(d.be, LT_F32, whh, 2, swh);
        lt_tensor *tbih = f32_t(d, bih, GH), *tbhh = f32_t(d, bhh, GH);
        lt_tensor *th0 = init ? act_t(d, h0, 2, sh) : NULL, *tc0 = init && lstm ? act_t(d, c0, 2, sh) : NULL;
        y[s] = act_t(d, dy, 3, sy); /* garbage in y: the forward must write every element */
        hT[s] = act_t(d, NULL, 2, sh);
        if (lstm) cT[s] = act_t(d, NULL, 2, sh);
        RUN(d, lt_rnn_fwd(d.be, cell, y[s], hT[s], cT[s], tws[s], tx[s], twih[s], twhh[s], tbih, tbhh, th0, tc0, tl));
        dx[s] = act_t(d, dx0, 3, sx), dh0[s] = act_t(d, dh00, 2, sh);
        if (lstm) dc0[s] = act_t(d, dc00, 2, sh);
        dwih[s] = tensor(d.be, LT_F32, dwih0, 2, swi), dwhh[s] = tensor(d.be, LT_F32, dwhh0, 2, swh);
        dbih[s] = f32_t(d, dbih0, GH), dbhh[s] = f32_t(d, dbhh0, GH);
        lt_tensor *tdy = act_t(d, dy, 3, sy), *tdhT = act_t(d, dhT, 2, sh), *tdcT = lstm ? act_t(d, dcT, 2, sh) : NULL;
        RUN(d, lt_rnn_bwd(d.be, cell, dx[s], dwih[s], dwhh[s], dbih[s], dbhh[s], dh0[s], dc0[s], tdy, tdhT, tdcT,
                          tws[s], tx[s], y[s], twih[s], twhh[s], tbih, tbhh, th0, tc0, tl));
    }
    const tol t = {2e-2, 2e-2};
    expect("y", y[0], y[1], t);
    expect("hT", hT[0], hT[1], t);
    if (lstm) expect("cT", cT[0], cT[1], t);
    expect("dx", dx[0], dx[1], t);
    expect("dh0", dh0[0], dh0[1], t);
    if (lstm) expect("dc0", dc0[0], dc0[1], t);
    expect("dw_ih", dwih[0], dwih[1], t);
    expect("dw_hh", dwhh[0], dwhh[1], t);
    expect("db_ih", dbih[0], dbih[1], t);
    expect("db_hh", dbhh[0], dbhh[1], t);
    if (!C.broken) { /* bf16 x with an f32 y; an f32 dy in a bf16 backward */
        lt_tensor *fy = tensor(C.be, LT_F32, NULL, 3, sy);
        REFUSED(lt_rnn_fwd(C.be, cell, fy, NULL, NULL, NULL, tx[0], twih[0], twhh[0], NULL, NULL, NULL, NULL, tl),
                "rnn_fwd");
        REFUSED(lt_rnn_bwd(C.be, cell, NULL, NULL, dwhh[0], NULL, NULL, NULL, NULL, fy, NULL, NULL, tws[0], tx[0], y[0],
                           twih[0], twhh[0], NULL, NULL, NULL, NULL, tl),
                "rnn_bwd");
    }
    end_case();
}

static void test_rnn(void) {
    static const int32_t lens_small[] = {5, 0, 9}, lens_wide[] = {3, 0, 4};
    for (int c = 0; c < 2; c++) {
        lt_cell cell = c ? LT_CELL_GRU : LT_CELL_LSTM;
        test_rnn_case(cell, 3, 9, 7, 12, lens_small, 1);
        test_rnn_case(cell, 3, 9, 7, 12, lens_small, 0);
        /* H > 256: CUDA's per-step kernels instead of the persistent one; the CPU's unit chunks */
        test_rnn_case(cell, 3, 4, 16, 260, lens_wide, 1);
    }
}

/* ---- every case on one backend ------------------------------------------------------------------------------ */

static void test_backend(lt_backend *be) {
    static const int32_t lens_a[] = {50, 0, 17}, lens_b[] = {128, 5};
    C.be = be;
    printf("%s bf16 vs cpu f32: %s\n", lt_backend_name(be), lt_backend_describe(be));
    test_cast();
    test_bias(67, 200);
    test_bias(35, 37); /* a row not a multiple of 8 */
    test_gelu(13411);
    test_gelu(7);
    test_layernorm(33, 768);
    test_layernorm(8, 1536); /* rows wider than 1024 */
    test_layernorm(3, 4100); /* wider than 4096 */
    test_layernorm(17, 37);
    test_xent(5, 30522, -100, 2); /* BERT's vocabulary */
    test_xent(9, 37, 3, 4);       /* ignore_index a real class */
    test_embedding(64, 37, 900);  /* hot id 600 times: three chunks; skip id 0 */
    test_embedding(1000, 768, 200);
    test_dropout(10007, 0.1f);
    test_add_axpy(1031);
    test_mean_pool(3, 50, 37, lens_a);
    test_mean_pool(2, 128, 768, lens_b);
    test_bias_gelu(67, 200, -3, 3, ""); /* 16-byte rows */
    test_bias_gelu(35, 37, -3, 3, "");  /* scalar path */
    /* GELU's left tail, where 1 + erf(x/sqrt 2) cancels: a last-bit difference between vector and
     * scalar erff moves y by ~1e-4 of itself and often across a bf16 rounding boundary, so every
     * column (vector body or tail) must be computed alike on both sides */
    test_bias_gelu(256, 37, -4, -3, " left tail");
    test_residual_layernorm(33, 768);
    test_residual_layernorm(17, 100);
    test_residual_layernorm_alias(4);
    test_residual_layernorm_alias(8);
    test_attention();
    test_rnn();
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* failures (stderr) next to their case's line */
    lt_rng_init(&g_rng, tu_seed(), 0);
    g_cpu = lt_backend_cpu();
    if (tu_gpu(&g_cuda) < 0) {
        printf("cuda: skipped: no CUDA device (%s)\n", lt_last_error());
        g_cuda = NULL;
    }
    lt_backend *backends[] = {g_cpu, g_cuda};
    for (int i = 0; i < 2; i++)
        if (backends[i]) test_backend(backends[i]);
    if (g_cuda) lt_backend_release(g_cuda);
    return tu_finish("test_ops_bf16");
}
