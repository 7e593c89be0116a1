/* tests/test_core: errors, RNG, config, tensors, arena, bf16, progress formatting, the CPU ops' temporaries. */
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "longtail/arena.h"
#include "longtail/backend.h"
#include "longtail/config.h"
#include "longtail/ops.h"
#include "longtail/progress.h"
#include "longtail/rng.h"
#include "longtail/tensor.h"
#include "testutil.h"

/* Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors). */
static void test_philox(void) {
    static const struct { uint32_t ctr[4], key[2], out[4]; } kat[3] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        lt_philox4x32(kat[i].ctr, kat[i].key, out);
        CHECK_MSG(!memcmp(out, kat[i].out, sizeof out), "philox KAT %d: got %08x %08x %08x %08x", i, out[0], out[1],
                  out[2], out[3]);
    }
    /* the sequential generator is the counter function read in order, and resumes from pos */
    lt_rng r;
    lt_rng_init(&r, 42, 7);
    uint32_t first[10];
    for (int i = 0; i < 10; i++) first[i] = lt_rng_next_u32(&r);
    for (int i = 0; i < 10; i++) CHECK(first[i] == lt_rng_u32(42, 7, (uint64_t)i));
    lt_rng again = {.seed = 42, .stream = 7, .pos = 5};
    CHECK(lt_rng_next_u32(&again) == first[5]);
    CHECK(lt_rng_u32(42, 8, 0) != first[0]); /* streams differ */
    /* uniform and below: range and rough balance */
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        float u = lt_rng_next_uniform(&r);
        CHECK(u >= 0.0f && u < 1.0f);
        uint64_t b = lt_rng_below(&r, 10);
        CHECK(b < 10);
        hist[b]++;
    }
    for (int i = 0; i < 10; i++) CHECK_MSG(abs(hist[i] - 10000) < 500, "below(10) bucket %d has %d", i, hist[i]);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double z = lt_rng_next_normal(&r);
        s += z, s2 += z * z;
    }
    CHECK_MSG(fabs(s / 1e5) < 0.02 && fabs(s2 / 1e5 - 1) < 0.03, "normal mean %.4f var %.4f", s / 1e5, s2 / 1e5);
    int32_t a[100];
    for (int i = 0; i < 100; i++) a[i] = i;
    lt_rng_shuffle_i32(&r, a, 100);
    int sum = 0, moved = 0;
    for (int i = 0; i < 100; i++) sum += a[i], moved += a[i] != i;
    CHECK(sum == 4950 && moved > 80);
}

static void test_errors(void) {
    CHECK(!strcmp(lt_err_name(LT_ESHAPE), "ESHAPE"));
    CHECK(!strcmp(lt_strerror(LT_ENOENT), "no such file, dataset or key"));
    CHECK(!strcmp(lt_err_name(12345), "EUNKNOWN"));
    CHECK(lt_error(LT_EIO, "disk %d", 3) == LT_EIO);
    CHECK(!strcmp(lt_last_error(), "disk 3"));
    lt_error_wrap(LT_EIO, "reading %s: ", "x.h5");
    CHECK(!strcmp(lt_last_error(), "reading x.h5: disk 3"));
}

static void test_config(void) {
    lt_config *c;
    OK(lt_config_new(&c));
    const char *ini = "# demo\n[train]\nlr = 3e-3   ; learning rate\nepochs=20\nname = demo run # comment\n"
                      "\n[data]\npath = /tmp/x#y\nflag = yes\n";
    OK(lt_config_parse(c, ini, "demo.ini"));
    double lr;
    int64_t ep;
    int flag;
    OK(lt_config_float(c, "train.lr", 1, &lr));
    OK(lt_config_int(c, "train.epochs", 1, &ep));
    OK(lt_config_bool(c, "data.flag", 0, &flag));
    CHECK(lr == 3e-3 && ep == 20 && flag == 1);
    CHECK(!strcmp(lt_config_str(c, "train.name", ""), "demo run"));
    CHECK(!strcmp(lt_config_str(c, "data.path", ""), "/tmp/x#y")); /* '#' inside a value is kept */
    CHECK(!strcmp(lt_config_str(c, "train.missing", "dflt"), "dflt"));
    OK(lt_config_int(c, "train.missing", 7, &ep));
    CHECK(ep == 7);

    char *argv[] = {"prog", "--train.lr=0.5", "file", "--data.flag=off", "--verbose"};
    int argc = lt_config_apply_args(c, 5, argv);
    CHECK(argc == 3 && !strcmp(argv[1], "file") && !strcmp(argv[2], "--verbose"));
    OK(lt_config_float(c, "train.lr", 1, &lr));
    OK(lt_config_bool(c, "data.flag", 1, &flag));
    CHECK(lr == 0.5 && flag == 0);

    /* malformed values and files name where they came from */
    OK(lt_config_set(c, "train.epochs", "many", "demo.ini:4"));
    FAILS_WITH(lt_config_int(c, "train.epochs", 1, &ep), LT_ECONFIG, "demo.ini:4: train.epochs: expected an integer");
    char *bad[] = {"--train.lr"};
    FAILS_WITH(lt_config_apply_args(c, 1, bad), LT_ECONFIG, "needs a value");
    FAILS_WITH(lt_config_parse(c, "[a]\nk = v\nnot a setting\n", "x.ini"), LT_ECONFIG, "x.ini:3:");
    FAILS_WITH(lt_config_parse(c, "k = v\n", "y.ini"), LT_ECONFIG, "y.ini:1: 'k' appears before any [section]");
    FAILS_WITH(lt_config_parse(c, "[a\n", "z.ini"), LT_ECONFIG, "z.ini:1: malformed section header");
    FAILS_WITH(lt_config_load(c, "/nonexistent/longtail.ini"), LT_ENOENT, "/nonexistent/longtail.ini");
    lt_config_free(c);
}

static void test_tensors(void) {
    CHECK(lt_dtype_size(LT_BF16) == 2 && lt_dtype_size(LT_I64) == 8);
    float buf[24];
    lt_tensor t = lt_view3(buf, LT_F32, LT_CPU, 2, 3, 4), r;
    CHECK(lt_numel(&t) == 24 && lt_rows(&t) == 6 && lt_cols(&t) == 4 && lt_nbytes(&t) == 96);
    int64_t s2[2] = {4, 6}, bad[2] = {5, 5};
    OK(lt_reshape(&r, &t, 2, s2));
    CHECK(r.data == buf && r.shape[1] == 6);
    FAILS_WITH(lt_reshape(&r, &t, 2, bad), LT_ESHAPE, "f32[2,3,4]@cpu");
    char str[64];
    CHECK(!strcmp(lt_tensor_str(&t, str, sizeof str), "f32[2,3,4]@cpu"));

    /* bf16: round to nearest even, exact for representable values, NaN stays NaN */
    CHECK(lt_bf16_to_f32(lt_f32_to_bf16(1.0f)) == 1.0f);
    CHECK(lt_bf16_to_f32(lt_f32_to_bf16(-3.5f)) == -3.5f);
    CHECK(lt_f32_to_bf16(1.00390625f) == 0x3f80); /* halfway 1 + 2^-8: ties to even (down) */
    CHECK(lt_f32_to_bf16(1.01171875f) == 0x3f82); /* halfway 1 + 3*2^-8: ties to even (up) */
    CHECK(isnan(lt_bf16_to_f32(lt_f32_to_bf16(NAN))));
    CHECK(isinf(lt_bf16_to_f32(lt_f32_to_bf16(INFINITY))));

    lt_backend *cpu = lt_backend_cpu();
    lt_tensor a;
    int64_t shape[2] = {3, 5};
    OK(lt_tensor_new(&a, cpu, LT_F32, 2, shape));
    for (int i = 0; i < 15; i++) CHECK(((float *)a.data)[i] == 0.0f);
    lt_tensor_free(cpu, &a);
    CHECK(a.data == NULL);

    lt_arena ar;
    OK(lt_arena_init(&ar, cpu, 1024));
    lt_tensor x, y;
    OK(lt_arena_tensor(&ar, &x, LT_F32, 2, shape)); /* 60 bytes -> 64 */
    OK(lt_arena_tensor(&ar, &y, LT_F32, 2, shape));
    CHECK((char *)y.data - (char *)x.data == 64 && ((uintptr_t)y.data & 63) == 0);
    int64_t big[1] = {1000};
    FAILS_WITH(lt_arena_tensor(&ar, &x, LT_F32, 1, big), LT_ENOMEM, "arena");
    lt_arena_reset(&ar);
    CHECK(ar.used == 0 && ar.peak == 128);
    lt_arena_free(&ar);
}

/* how a child that runs fn(t) ends: 0 normally, else the signal that ended it */
static int child_signal(void (*fn)(lt_tensor *), lt_tensor *t) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr); /* the guard's report and backtrace */
        fn(t);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}
static volatile float sink;
static void host_read(lt_tensor *t) { sink = ((float *)t->data)[3]; }
static void host_write(lt_tensor *t) { ((float *)t->data)[0] = 1.0f; }
static void read_after_op(lt_tensor *t) {
    lt_fill(lt_backend_guard(), t, 3.0f);
    sink = ((float *)t->data)[0];
}
static void op_only(lt_tensor *t) {
    lt_scale(lt_backend_guard(), t, t, 2.0f);
}

/* The guarded device (src/cpu/guard.c): ops and copies reach its memory, host code does not, and
 * a host array handed to one of its ops is refused, as on CUDA. */
static void test_guard(void) {
    lt_backend *g = lt_backend_guard();
    CHECK(lt_backend_device(g) == LT_GUARD && !strcmp(lt_device_name(LT_GUARD), "guard"));
    lt_tensor a;
    int64_t shape[2] = {3, 5};
    OK(lt_tensor_new(&a, g, LT_F32, 2, shape));
    OK(lt_fill(g, &a, 2.0f));
    OK(lt_scale(g, &a, &a, 1.5f));
    float h[15] = {0};
    lt_tensor hv = lt_view2(h, LT_F32, LT_CPU, 3, 5);
    OK(lt_tensor_copy(g, &hv, &a));
    CHECK(h[0] == 3.0f && h[14] == 3.0f);
    FAILS_WITH(lt_fill(g, &hv, 1.0f), LT_EDEVICE, "guard");
    CHECK(child_signal(host_read, &a) == SIGABRT);
    CHECK(child_signal(host_write, &a) == SIGABRT);
    CHECK(child_signal(read_after_op, &a) == SIGABRT); /* closed again when the op returns */
    CHECK(child_signal(op_only, &a) == 0);
    lt_tensor_free(g, &a);
}

static void test_progress(void) {
    char b[16];
    CHECK(!strcmp(lt_human_count(999, b, sizeof b), "999"));
    CHECK(!strcmp(lt_human_count(1234, b, sizeof b), "1.23k"));
    CHECK(!strcmp(lt_human_count(45600000, b, sizeof b), "45.6M"));
    lt_progress p;
    lt_progress_start(&p, "test", "items", 100);
    FILE *f = tmpfile();
    p.out = f, p.tty = 0, p.interval = 0;
    lt_progress_add(&p, 40);
    lt_progress_end(&p);
    rewind(f);
    char line[256];
    CHECK(fgets(line, sizeof line, f) && strstr(line, "test: 40/100 items (40.0%)") && strstr(line, "ETA"));
    fclose(f);
}

/* The CPU ops' temporaries (src/cpu/scratch.c): a large block given back serves the next request
 * it fits, the smallest such first; small blocks are not kept; aligned; threads get distinct blocks. */
static void test_tmp(void) {
    lt__tmp_trim();
    size_t kept;
    uint64_t r0, r1;
    lt__tmp_stats(&kept, &r0);
    CHECK(kept == 0);
    char *big = lt__tmp_alloc(4u << 20), *mid = lt__tmp_alloc(1u << 20), *small = lt__tmp_alloc(1000);
    CHECK(big && mid && small);
    CHECK((uintptr_t)big % 64 == 0 && (uintptr_t)mid % 64 == 0 && (uintptr_t)small % 64 == 0);
    memset(big, 1, 4u << 20), memset(mid, 2, 1u << 20), memset(small, 3, 1000);
    lt__tmp_free(big), lt__tmp_free(mid), lt__tmp_free(small), lt__tmp_free(NULL);
    lt__tmp_stats(&kept, &r1);
    CHECK_MSG(kept == (5u << 20), "kept %zu bytes, want the two large blocks (%u)", kept, 5u << 20);
    char *a = lt__tmp_alloc(900u << 10); /* fits both: the smaller is taken */
    CHECK(a == mid);
    char *b = lt__tmp_alloc(3u << 20);
    CHECK(b == big);
    char *c = lt__tmp_alloc(8u << 20); /* fits none: a new block */
    CHECK(c && c != big && c != mid);
    lt__tmp_stats(&kept, &r1);
    CHECK(kept == 0 && r1 == r0 + 2);
    lt__tmp_free(a), lt__tmp_free(b), lt__tmp_free(c);
    /* threads taking and giving back at once never share a block */
    int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    for (int i = 0; i < 200; i++) {
        size_t n = ((size_t)(i % 5) + 1) << 18;
        unsigned char *p = lt__tmp_alloc(n), tag = (unsigned char)(omp_get_thread_num() * 50 + i % 50);
        if (!p) {
            bad++;
            continue;
        }
        memset(p, tag, n);
        for (size_t j = 0; j < n; j += 4093) bad += p[j] != tag;
        lt__tmp_free(p);
    }
    CHECK_MSG(bad == 0, "%d bytes changed under a thread (or allocations failed)", bad);
    /* more blocks given back than there are slots (16): the least recently given back go */
    lt__tmp_trim();
    enum { MANY = 20, SZ = 300 << 10 };
    char *blk[MANY];
    for (int i = 0; i < MANY; i++) blk[i] = lt__tmp_alloc(SZ);
    for (int i = 0; i < MANY; i++) lt__tmp_free(blk[i]);
    lt__tmp_stats(&kept, NULL);
    size_t one = ((size_t)SZ + 4095) & ~(size_t)4095;
    CHECK_MSG(kept == 16 * one, "kept %zu bytes after %d blocks came back, want 16 of %zu", kept, MANY, one);
    int newest = 0;
    for (int i = 0; i < 16; i++) {
        char *p = lt__tmp_alloc(SZ);
        for (int j = MANY - 16; j < MANY; j++) newest += p == blk[j];
        blk[i] = p;
    }
    CHECK_MSG(newest == 16, "%d of the 16 kept blocks are the last given back", newest);
    for (int i = 0; i < 16; i++) lt__tmp_free(blk[i]);
    lt__tmp_trim();
    lt__tmp_stats(&kept, NULL);
    CHECK(kept == 0);
}

int main(void) {
    test_philox();
    test_errors();
    test_config();
    test_tensors();
    test_guard();
    test_progress();
    test_tmp();
    return tu_finish("test_core");
}
