/* Temporaries of the CPU's ops (cpu.h: lt__tmp_alloc / lt__tmp_free): widened copies of bf16
 * arguments, GEMM operands, per-thread rows. An op takes and gives back the same sizes on every
 * call, and large blocks from malloc come straight from mmap and go back to the kernel on free, so
 * each call would fault in and zero fresh pages: a BERT-base forward in bf16 on the CPU faulted
 * 147,000 pages (575 MB) per call, a fifth of its time. Large blocks are kept here instead and
 * handed to the next request they fit (the smallest that fits), so after the first call an op
 * touches pages it already has.
 *
 * What is kept: at most TMP_SLOTS blocks and TMP_KEEP_MAX bytes, the least recently returned going
 * first; blocks under TMP_KEEP_MIN go straight back to malloc (its own free lists serve them without
 * faults). Thread-safe: one mutex, taken twice per large temporary. Under AddressSanitizer a kept
 * block is poisoned until it is handed out again (and then only the bytes asked for are open), so
 * a read of a temporary after lt__tmp_free, or past its end, is still reported. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "cpu/cpu.h"

#if defined(__SANITIZE_ADDRESS__)
#define TMP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TMP_ASAN 1
#endif
#endif
#ifdef TMP_ASAN
#include <sanitizer/asan_interface.h>
#define TMP_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TMP_OPEN(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TMP_POISON(p, n) ((void)(p), (void)(n))
#define TMP_OPEN(p, n) ((void)(p), (void)(n))
#endif

#define TMP_SLOTS 16
#define TMP_KEEP_MIN ((size_t)256 << 10)
#define TMP_KEEP_MAX ((size_t)2 << 30)
#define TMP_HEAD 64 /* the block's size, in front of the 64-byte-aligned pointer handed out */

static struct {
    pthread_mutex_t lock;
    void *base[TMP_SLOTS]; /* NULL: a free slot */
    size_t cap[TMP_SLOTS];
    uint64_t when[TMP_SLOTS];
    uint64_t clock;
    size_t kept;
    uint64_t reused; /* requests served from a kept block (lt__tmp_stats) */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *user(void *base) { return (char *)base + TMP_HEAD; }

void *lt__tmp_alloc(size_t bytes) {
    if (bytes > SIZE_MAX - TMP_HEAD - 4095) return NULL; /* the header and the rounding below must fit */
    if (bytes >= TMP_KEEP_MIN) {
        pthread_mutex_lock(&g.lock);
        int best = -1;
        for (int i = 0; i < TMP_SLOTS; i++)
            if (g.base[i] && g.cap[i] >= bytes && (best < 0 || g.cap[i] < g.cap[best])) best = i;
        if (best >= 0) {
            void *base = g.base[best];
            g.kept -= g.cap[best];
            g.base[best] = NULL;
            g.reused++;
            pthread_mutex_unlock(&g.lock);
            TMP_OPEN(user(base), bytes);
            return user(base);
        }
        pthread_mutex_unlock(&g.lock);
        bytes = (bytes + 4095) & ~(size_t)4095; /* whole pages: a slightly larger request fits next time */
    }
    void *base;
    if (posix_memalign(&base, 64, TMP_HEAD + bytes)) return NULL;
    *(size_t *)base = bytes;
    return user(base);
}

/* Give kept block i back to malloc; with the lock held. */
static void drop(int i) {
    TMP_OPEN(user(g.base[i]), g.cap[i]);
    free(g.base[i]);
    g.kept -= g.cap[i];
    g.base[i] = NULL;
}

/* The least recently returned kept block, or -1; with the lock held. */
static int oldest(void) {
    int old = -1;
    for (int i = 0; i < TMP_SLOTS; i++)
        if (g.base[i] && (old < 0 || g.when[i] < g.when[old])) old = i;
    return old;
}

void lt__tmp_free(void *p) {
    if (!p) return;
    void *base = (char *)p - TMP_HEAD;
    size_t cap = *(size_t *)base;
    if (cap < TMP_KEEP_MIN || cap > TMP_KEEP_MAX) {
        free(base);
        return;
    }
    pthread_mutex_lock(&g.lock);
    while (g.kept + cap > TMP_KEEP_MAX) drop(oldest()); /* something is kept: cap <= TMP_KEEP_MAX */
    int slot = -1;
    for (int i = 0; i < TMP_SLOTS && slot < 0; i++)
        if (!g.base[i]) slot = i;
    if (slot < 0) drop(slot = oldest()); /* every slot holds a block */
    TMP_POISON(p, cap);
    g.base[slot] = base, g.cap[slot] = cap, g.when[slot] = ++g.clock;
    g.kept += cap;
    pthread_mutex_unlock(&g.lock);
}

void lt__tmp_trim(void) {
    pthread_mutex_lock(&g.lock);
    for (int i = 0; i < TMP_SLOTS; i++)
        if (g.base[i]) drop(i);
    pthread_mutex_unlock(&g.lock);
}

void lt__tmp_stats(size_t *kept, uint64_t *reused) {
    pthread_mutex_lock(&g.lock);
    if (kept) *kept = g.kept;
    if (reused) *reused = g.reused;
    pthread_mutex_unlock(&g.lock);
}
