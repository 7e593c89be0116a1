/* Loading BLAS with the right kernels.
 *
 * Why longtail does not simply link -lopenblas: OpenBLAS (DYNAMIC_ARCH builds, as in Debian)
 * chooses its kernels once, in a library constructor that runs before main(), by looking up the
 * CPU's model number. Version 0.3.21 (Debian 12) does not know recent Xeons (Sapphire and Emerald
 * Rapids report family 6, model 143/207) and falls back to its "Prescott" SSE3 kernels, which run
 * sgemm 4-6x slower. It does honour OPENBLAS_CORETYPE, but only if that is set before the
 * constructor runs, i.e. before the library is loaded.
 *
 * So the engine loads BLAS itself, at the first use of the CPU backend: it reads the CPU's
 * feature bits with CPUID (what the CPU can execute, not what it is called, so future models are
 * handled too), sets OPENBLAS_CORETYPE to the best kernel family those features allow unless the
 * user already set it, and only then dlopen()s the library. Any CBLAS can be used instead with
 * LONGTAIL_BLAS=/path/to/libcblas.so (MKL's libmkl_rt.so, BLIS, the reference CBLAS). */
#include <cpuid.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu/cpu.h"
#include "longtail/error.h"
#include "longtail/log.h"

lt_sgemm_fn lt__sgemm;

static char g_desc[256];
static void *g_lib;

/* XCR0 says which register states the OS saves: AVX needs bits 1-2, AVX-512 also 5-7. */
static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

const char *lt__cpu_coretype(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return NULL;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return NULL;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return NULL;
    unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0, tmp;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, tmp, b7, c7, d7);
        __cpuid_count(7, 1, a71, tmp, tmp, tmp);
    }
    int avx2 = (b7 >> 5) & 1;
    int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1) &&
                 (xcr0 & 0xe0) == 0xe0; /* F, DQ, BW, VL and OS support */
    int avx512_bf16 = (a71 >> 5) & 1;
    if (avx512 && avx512_bf16) return "Cooperlake";
    if (avx512) return "SkylakeX";
    if (avx2 && fma) return "Haswell";
    return "Sandybridge";
}

static void *open_first(const char **names, int n, const char **which) {
    for (int i = 0; i < n; i++) {
        if (!names[i]) continue;
        void *h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        if (h) {
            *which = names[i];
            return h;
        }
    }
    return NULL;
}

int lt__blas_open(int fix_coretype) {
    if (lt__sgemm) return 0;
    const char *user = getenv("LONGTAIL_BLAS");
    const char *set_by = "";
    if (fix_coretype && !getenv("OPENBLAS_CORETYPE")) {
        const char *core = lt__cpu_coretype();
        if (core) {
            setenv("OPENBLAS_CORETYPE", core, 0);
            set_by = " (chosen by longtail from CPUID)";
        }
    }
    const char *candidates[] = {
        user,
#ifdef LONGTAIL_BLAS_HINT
        LONGTAIL_BLAS_HINT,
#endif
        "libopenblas.so.0", "libopenblas.so", "libmkl_rt.so.2", "libmkl_rt.so", "libblis.so.4",
        "libcblas.so.3", "libblas.so.3",
    };
    const char *which = NULL;
    void *h = user ? open_first(candidates, 1, &which)
                   : open_first(candidates + 1, (int)(sizeof candidates / sizeof *candidates) - 1, &which);
    if (!h)
        return lt_error(LT_ENOTSUP, "no CBLAS library could be loaded (%s%s); install libopenblas0 or set "
                        "LONGTAIL_BLAS=/path/to/libcblas.so", user ? "LONGTAIL_BLAS=" : "tried libopenblas.so.0 and others",
                        user ? user : "");
    lt_sgemm_fn f = (lt_sgemm_fn)dlsym(h, "cblas_sgemm");
    if (!f) return lt_error(LT_ENOTSUP, "%s has no cblas_sgemm", which);

    char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    char *(*config)(void) = (char *(*)(void))dlsym(h, "openblas_get_config");
    int (*nthreads)(void) = (int (*)(void))dlsym(h, "openblas_get_num_threads");
    if (corename) {
        const char *got = corename();
        const char *want = lt__cpu_coretype();
        snprintf(g_desc, sizeof g_desc, "%s, %s kernels%s, %d threads", config ? config() : "OpenBLAS", got,
                 getenv("OPENBLAS_CORETYPE") ? (set_by[0] ? set_by : " (OPENBLAS_CORETYPE from the environment)") : "",
                 nthreads ? nthreads() : 0);
        if (want && !strcasecmp(got, "prescott"))
            lt_warn("BLAS: OpenBLAS runs its slow Prescott kernels although this CPU supports %s; "
                    "unset OPENBLAS_CORETYPE or set it to %s", want, want);
    } else {
        snprintf(g_desc, sizeof g_desc, "%s", which);
    }
    g_lib = h;
    lt__sgemm = f;
    return 0;
}

/* OpenBLAS (pthreads build) keeps its own pool of threads beside OpenMP's. On a small machine the
 * two pools take turns and each spins while the other works: a model that interleaves GEMMs with
 * OpenMP loops lost ~30 % of its time that way. So the CPU backend runs BLAS single-threaded and
 * splits each GEMM over its OpenMP threads itself (gemm.c). */
int lt__blas_single_thread(void) {
    static const char *knobs[] = {"openblas_set_num_threads", "MKL_Set_Num_Threads", "bli_thread_set_num_threads"};
    for (size_t i = 0; g_lib && i < sizeof knobs / sizeof *knobs; i++) {
        void (*set)(int) = (void (*)(int))dlsym(g_lib, knobs[i]);
        if (!set) continue;
        set(1);
        char *t = strstr(g_desc, " threads");
        if (t) { /* "..., 2 threads" -> "..., calls single-threaded" */
            while (t > g_desc && t[-1] != ' ') t--;
            snprintf(t, sizeof g_desc - (size_t)(t - g_desc), "calls single-threaded");
        }
        return 0;
    }
    return -1;
}

const char *lt__blas_describe(void) { return g_desc[0] ? g_desc : "BLAS not loaded"; }
