/* The guarded device ("--device guard"): the CPU backend with memory that host code cannot touch.
 *
 * Why: no CUDA line runs on the machines that build and test longtail, so a model or a command that
 * reads a device tensor's memory on the host, or hands an op a host array, works on the CPU
 * backend and crashes on its first GPU. The guarded device runs the CPU kernels, but its tensors
 * live in memory that only a backend op may touch, and its device is not LT_CPU, so every host
 * code path takes the branch it takes on CUDA (copies through lt_backend_memcpy, device-resident
 * buffers, ops refusing host views). Any test or command can run on it.
 *
 * How: every allocation is its own mapping, filled with all bits set (NaN, -1: what a GPU's pool
 * hands out is stale, never zeros). Ops run between lt__guard_enter and lt__guard_leave (LT_CALL in
 * backend_impl.h), and only then may the mappings be touched. Two ways to enforce that:
 *  - protection keys (x86 PKU; the default where the CPU and kernel have them): the mappings carry
 *    one key; the thread that calls an op gets access to it for the op's duration (a register
 *    write, no system call), OpenMP's threads, which run only inside ops, have it for good;
 *  - page protection (LONGTAIL_GUARD_MODE=mprotect, or no PKU): the mappings are kept PROT_NONE;
 *    inside an op a fault opens the mapping it hit and the access is retried, and leaving the
 *    outermost op closes every mapping opened. Slow: an op that touches the activation arena
 *    reprotects all of it.
 * A fault on a guarded mapping outside an op is host code touching device memory: it is reported
 * with the allocation it hit and a backtrace, and the process aborts.
 *
 * One host thread drives the backend at a time (as with a CUDA stream); the op's OpenMP threads
 * may fault concurrently, so the list of opened mappings takes a lock that is safe in a signal
 * handler (a spin on an atomic flag). For tests only. */
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/backend_impl.h"
#include "cpu/cpu.h"
#include "longtail/error.h"

#define GUARD_MAX 65536 /* live allocations */

typedef struct {
    char *p;
    size_t len; /* mapped bytes (whole pages) */
    size_t asked;
    int open;
} region;

static struct {
    region r[GUARD_MAX];
    int n;                /* r[0..n) in use, sorted by address */
    int opened[GUARD_MAX]; /* indices of the regions opened inside the current op */
    int nopened;
    atomic_flag lock;
    atomic_int depth;     /* > 0 while a backend op runs */
    int pkey;             /* >= 0: the protection key of the mappings (else page protection) */
    size_t page;
    struct sigaction prev;
} g = {.lock = ATOMIC_FLAG_INIT};

static void lock(void) {
    while (atomic_flag_test_and_set_explicit(&g.lock, memory_order_acquire)) {
    }
}
static void unlock(void) { atomic_flag_clear_explicit(&g.lock, memory_order_release); }

/* the region holding address a, or -1 (caller holds the lock) */
static int find(const char *a) {
    int lo = 0, hi = g.n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a < g.r[mid].p) hi = mid - 1;
        else if (a >= g.r[mid].p + g.r[mid].len) lo = mid + 1;
        else return mid;
    }
    return -1;
}

static void say(const char *s) {
    ssize_t w = write(2, s, strlen(s));
    (void)w;
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
    const char *a = si->si_addr;
    lock();
    int i = find(a);
    /* page protection: an op touching its device's memory, open the mapping (with protection keys
     * every thread running an op has access, so any fault is a finding) */
    if (i >= 0 && g.pkey < 0 && atomic_load(&g.depth) > 0) {
        if (!g.r[i].open) {
            mprotect(g.r[i].p, g.r[i].len, PROT_READ | PROT_WRITE);
            g.r[i].open = 1;
            g.opened[g.nopened++] = i;
        }
        unlock();
        return;
    }
    if (i >= 0) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "longtail: guarded device: host code touched device memory at %p (byte %zu of an allocation of %zu "
                 "bytes) outside a backend op (or from a thread not running one); on a GPU this is a crash. "
                 "Backtrace (addr2line -f -e BINARY +OFFSET names a function):\n",
                 (const void *)a, (size_t)(a - g.r[i].p), g.r[i].asked);
        say(msg);
        void *bt[48];
        backtrace_symbols_fd(bt, backtrace(bt, 48), 2);
        unlock();
        abort();
    }
    unlock();
    /* not ours: the fault the program would have had without the guard */
    sigaction(SIGSEGV, &g.prev, NULL);
    (void)sig, (void)uc;
}

void lt__guard_enter(void) {
    if (atomic_fetch_add(&g.depth, 1) == 0 && g.pkey >= 0) pkey_set(g.pkey, 0);
}

void lt__guard_leave(void) {
    if (atomic_fetch_sub(&g.depth, 1) != 1) return;
    if (g.pkey >= 0) {
        pkey_set(g.pkey, PKEY_DISABLE_ACCESS);
        return;
    }
    lock();
    for (int k = 0; k < g.nopened; k++) {
        region *r = &g.r[g.opened[k]];
        mprotect(r->p, r->len, PROT_NONE);
        r->open = 0;
    }
    g.nopened = 0;
    unlock();
}

static int guard_alloc(lt_backend *be, void **ptr, size_t nbytes) {
    *ptr = NULL;
    size_t len = (nbytes + g.page - 1) / g.page * g.page;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return lt_error(LT_ENOMEM, "guard: cannot map %zu bytes", nbytes);
    /* a GPU's fresh memory holds whatever its pool held last: here all bits set (NaN in f32 and bf16,
     * -1 in the integers), so code that reads memory it never wrote fails here too */
    memset(p, 0xff, len);
    if (g.pkey >= 0) pkey_mprotect(p, len, PROT_READ | PROT_WRITE, g.pkey);
    else mprotect(p, len, PROT_NONE);
    lock();
    if (g.n == GUARD_MAX) {
        unlock();
        munmap(p, len);
        return lt_error(LT_ENOMEM, "guard: more than %d live allocations", GUARD_MAX);
    }
    int i = g.n;
    while (i > 0 && g.r[i - 1].p > (char *)p) i--;
    memmove(&g.r[i + 1], &g.r[i], sizeof g.r[0] * (size_t)(g.n - i));
    for (int k = 0; k < g.nopened; k++) /* opened indices at or after i move up one */
        if (g.opened[k] >= i) g.opened[k]++;
    g.r[i] = (region){p, len, nbytes, 0};
    g.n++;
    unlock();
    *ptr = p;
    return 0;
}

static void guard_free(lt_backend *be, void *ptr) {
    lock();
    int i = find(ptr);
    if (i < 0 || g.r[i].p != (char *)ptr) {
        unlock();
        say("longtail: guarded device: free of memory it did not allocate\n");
        abort();
    }
    region r = g.r[i];
    int w = 0;
    for (int k = 0; k < g.nopened; k++) /* drop i from the opened list, renumber those after it */
        if (g.opened[k] != i) g.opened[w++] = g.opened[k] > i ? g.opened[k] - 1 : g.opened[k];
    g.nopened = w;
    memmove(&g.r[i], &g.r[i + 1], sizeof g.r[0] * (size_t)(g.n - i - 1));
    g.n--;
    unlock();
    munmap(r.p, r.len);
}

/* The CPU's table with the guard's alloc and free. memset0 and memcpy are the CPU's too and run as
 * ops (LT_CALL), so lt_tensor_new's zero fill and every copy reach the memory; nothing else does. */
lt_backend *lt__guard_backend_create(void) {
    static lt_backend be;
    static lt_backend_ops ops;
    if (be.ops) return &be;
    lt_backend *cpu = lt_backend_cpu();
    g.page = (size_t)sysconf(_SC_PAGESIZE);
    const char *mode = getenv("LONGTAIL_GUARD_MODE");
    g.pkey = mode && !strcmp(mode, "mprotect") ? -1 : pkey_alloc(0, 0); /* -1 without PKU */
    if (g.pkey >= 0) {
        int k = g.pkey;
#pragma omp parallel
        pkey_set(k, 0);                      /* OpenMP's threads run only inside ops: access for good */
        pkey_set(k, PKEY_DISABLE_ACCESS);    /* the host thread: only inside ops */
    }
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g.prev);
    ops = *cpu->ops;
    ops.alloc = guard_alloc;
    ops.free = guard_free;
    be = *cpu;
    be.name = "guard";
    be.device = LT_GUARD;
    be.guard = 1;
    be.ops = &ops;
    snprintf(be.describe, sizeof be.describe,
             "guard (%s): CPU kernels on device memory that only ops may touch (tests the GPU code paths); %.200s",
             g.pkey >= 0 ? "protection keys" : "page protection", cpu->describe);
    return &be;
}
