/* cuemu's runtime: fibers and their scheduler, the warp and block barriers, cp.async, the host API
 * and a reference GEMM behind the cuBLAS entry points. See include/cuemu.h for what it is for. */
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "cuemu.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define LT_EMU_ASAN 1
#endif

/* ---- context switch (x86-64 System V) --------------------------------------------------------------
 * lt_emu_swap saves the callee-saved registers, the SSE and x87 control words and the stack pointer
 * of the running code in *save and resumes the code whose stack pointer is `load`. A new fiber's
 * stack is laid out so that the first swap to it "returns" into lt_emu_boot, which calls r13(r12). */
extern "C" void lt_emu_swap(void **save, void *load);
extern "C" void lt_emu_boot(void);
asm(R"(
    .text
    .globl lt_emu_swap
    .type lt_emu_swap,@function
lt_emu_swap:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr 8(%rsp)
    fnstcw (%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    fldcw (%rsp)
    ldmxcsr 8(%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size lt_emu_swap,.-lt_emu_swap
    .globl lt_emu_boot
    .type lt_emu_boot,@function
lt_emu_boot:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size lt_emu_boot,.-lt_emu_boot
    .section .note.GNU-stack,"",@progbits
    .text
)");

namespace lt_emu {

thread_ctx *cur;

enum { ST_RUN, ST_BLOCK, ST_WARP, ST_CLUSTER, ST_DONE };
enum { STACK_BYTES = 256 << 10 };

struct cp_req {
    void *dst;
    const void *src;
    size_t n;
    bool valid;
    int group; /* -1 until committed */
};

struct block;
struct fiber {
    void *sp;
    char *stack;
    thread_ctx ctx;
    block *blk;
    int state;
    lt_emu_where where;
    std::vector<cp_req> cp;
    int committed;
#ifdef LT_EMU_ASAN
    void *fake;
#endif
};

struct warp {
    unsigned waiting, mask[32];
    unsigned present, exited; /* the lanes this block has, and those that have returned */
    unsigned char in[32][64], out[32][16];
};

/* A barrier over a run of fibers (a block's, or a whole cluster's): it opens when every fiber of the
 * run that has not returned waits at it. */
struct barrier {
    fiber *first;
    int n, alive, arrived;
    int state;          /* what a fiber waiting at it is: ST_BLOCK or ST_CLUSTER */
    const char *group;  /* "block" or "cluster", for messages */
    lt_emu_where where; /* where the first fiber to arrive waits */
};

struct block {
    dim3 bid;
    barrier bar; /* __syncthreads; its fibers are the block's threads, bar.first[0 .. bar.n) */
    unsigned char *dyn;
    warp warps[32];
};

/* the launch running now */
static struct {
    const char *name, *host;
    body_fn body;
    const void *ctx;
    size_t smem;
    int nblocks; /* blocks running together (a cluster) */
    barrier cluster;
    block blocks[16];
    std::vector<fiber> fibers;
    void *sched_sp;
#ifdef LT_EMU_ASAN
    void *sched_fake;
    const void *sched_bottom;
    size_t sched_size;
#endif
} L;

static std::vector<char *> stacks;
static std::mutex launch_lock;
static cudaError_t last_error = cudaSuccess;

static const char *state_name(int s) {
    switch (s) {
    case ST_BLOCK: return "__syncthreads";
    case ST_WARP: return "a warp operation";
    case ST_CLUSTER: return "cluster.sync";
    case ST_DONE: return "its return";
    default: return "running";
    }
}

void fail(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cur)
        fprintf(stderr, "cuemu: kernel %s (launched by %s), block (%u,%u,%u), thread (%u,%u,%u): %s\n", L.name,
                L.host && *L.host ? L.host : "?", cur->bid.x, cur->bid.y, cur->bid.z, cur->tid.x, cur->tid.y, cur->tid.z,
                msg);
    else
        fprintf(stderr, "cuemu: %s\n", msg);
    fflush(stderr);
    abort();
}

/* ---- switching ------------------------------------------------------------------------------------- */

static void to_scheduler(fiber *f, bool exiting) {
#ifdef LT_EMU_ASAN
    __sanitizer_start_switch_fiber(exiting ? NULL : &f->fake, L.sched_bottom, L.sched_size);
#else
    (void)exiting;
#endif
    lt_emu_swap(&f->sp, L.sched_sp);
#ifdef LT_EMU_ASAN
    __sanitizer_finish_switch_fiber(f->fake, NULL, NULL);
#endif
}

static void to_fiber(fiber *f) {
    cur = &f->ctx;
    threadIdx = f->ctx.tid, blockIdx = f->ctx.bid;
#ifdef LT_EMU_ASAN
    __sanitizer_start_switch_fiber(&L.sched_fake, f->stack, STACK_BYTES);
#endif
    lt_emu_swap(&L.sched_sp, f->sp);
#ifdef LT_EMU_ASAN
    __sanitizer_finish_switch_fiber(L.sched_fake, NULL, NULL);
#endif
    cur = NULL;
}

static void check(barrier *b);
static void check_warp_exit(fiber *f);

static void fiber_main(fiber *f) {
#ifdef LT_EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, &L.sched_bottom, &L.sched_size);
#endif
    L.body(L.ctx);
    f->state = ST_DONE;
    f->blk->bar.alive--;
    L.cluster.alive--;
    check_warp_exit(f);
    check(&f->blk->bar);
    check(&L.cluster);
    to_scheduler(f, true);
    abort(); /* never resumed */
}

static char *stack_at(size_t i) {
    while (stacks.size() <= i) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        void *p = mmap(NULL, STACK_BYTES + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) fail("cannot map a fiber stack");
        mprotect(p, page, PROT_NONE); /* a stack overflow faults instead of writing into the next stack */
        stacks.push_back((char *)p + page);
    }
    return stacks[i];
}

static void fiber_init(fiber *f, size_t i) {
    f->stack = stack_at(i);
#ifdef LT_EMU_ASAN
    __asan_unpoison_memory_region(f->stack, STACK_BYTES);
    f->fake = NULL;
#endif
    uint64_t *top = (uint64_t *)(f->stack + STACK_BYTES);
    uint64_t *sp = top - 11; /* sp + 72 bytes (after the swap's pops and ret) is 16-byte aligned */
    uint32_t mxcsr;
    uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    memset(sp, 0, 88);                         /* r15, r14, rbx, rbp: zeros */
    memcpy((char *)sp, &fpucw, 2);
    memcpy((char *)sp + 8, &mxcsr, 4);
    sp[4] = (uint64_t)(uintptr_t)&fiber_main;  /* r13: what boot calls */
    sp[5] = (uint64_t)(uintptr_t)f;            /* r12: its argument */
    sp[8] = (uint64_t)(uintptr_t)&lt_emu_boot; /* the return address */
    f->sp = sp;
    f->state = ST_RUN;
    f->cp.clear();
    f->committed = 0;
}

/* ---- barriers ------------------------------------------------------------------------------------- */

static void release(fiber *f, int state) {
    if (f->state == state) f->state = ST_RUN;
}

static void check(barrier *b) {
    if (b->arrived > 0 && b->arrived == b->alive) {
        for (int i = 0; i < b->n; i++) release(&b->first[i], b->state);
        b->arrived = 0;
    }
}

static bool env_lenient(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("LT_EMU_LENIENT");
        v = e && *e && strcmp(e, "0") != 0;
    }
    return v;
}

static bool same(lt_emu_where a, lt_emu_where b) { return a.line == b.line && !strcmp(a.file, b.file); }

static void wait_at(barrier *b, lt_emu_where where) {
    fiber *f = cur->self;
    if (b->arrived == 0) b->where = where;
    else if (!same(b->where, where) && !env_lenient())
        fail("threads of one %s wait at different %s (%s:%d and %s:%d): the barrier is in divergent code", b->group,
             state_name(b->state), b->where.file, b->where.line, where.file, where.line);
    f->state = b->state;
    f->where = where;
    b->arrived++;
    check(b);
    to_scheduler(f, false);
}

void sync_block(lt_emu_where where) { wait_at(&cur->self->blk->bar, where); }
void sync_cluster(lt_emu_where where) { wait_at(&L.cluster, where); }

/* a lane returned: lanes waiting for it in a warp operation would wait forever */
static void check_warp_exit(fiber *f) {
    warp *w = &f->blk->warps[f->ctx.warp];
    int l = f->ctx.lane;
    w->exited |= 1u << l;
    for (int o = 0; o < 32; o++)
        if ((w->waiting >> o & 1) && (w->mask[o] >> l & 1))
            fail("returns while lane %d waits for it in a warp operation (mask %#x)", o, w->mask[o]);
}

/* lane l of f's warp arrives at a warp operation with mask; when it completes the barrier, fn (if
 * any) computes every lane's out. Then the lane yields. */
static void warp_arrive(fiber *f, unsigned mask, collective_fn fn, const void *arg, lt_emu_where where) {
    int l = f->ctx.lane;
    warp *w = &f->blk->warps[f->ctx.warp];
    if (!(mask >> l & 1)) fail("a warp operation with mask %#x, which leaves out the calling lane %d", mask, l);
    if (mask & ~w->present)
        fail("a warp operation with mask %#x names lanes this block does not have (%#x)", mask, mask & ~w->present);
    if (mask & w->exited) fail("a warp operation with mask %#x names lanes that have returned (%#x)", mask, mask & w->exited);
    w->mask[l] = mask;
    w->waiting |= 1u << l;
    f->state = ST_WARP;
    f->where = where;
    if ((w->waiting & mask) == mask) {
        for (int o = 0; o < 32; o++)
            if ((mask >> o & 1) && w->mask[o] != mask)
                fail("lanes %d and %d meet in a warp operation with different masks (%#x, %#x)", l, o, mask, w->mask[o]);
        if (fn) fn(w->in, w->out, mask, arg);
        fiber *first = &f->blk->bar.first[f->ctx.warp * 32];
        for (int o = 0; o < 32; o++)
            if (mask >> o & 1) release(first + o, ST_WARP);
        w->waiting &= ~mask;
    }
    to_scheduler(f, false);
}

void warp_barrier(unsigned mask, lt_emu_where where) { warp_arrive(cur->self, mask, NULL, NULL, where); }

void warp_collective(unsigned mask, const void *in, size_t n_in, void *out, size_t n_out, collective_fn fn,
                     const void *arg, lt_emu_where where) {
    fiber *f = cur->self;
    warp *w = &f->blk->warps[f->ctx.warp];
    if (n_in > sizeof w->in[0] || n_out > sizeof w->out[0]) fail("a warp collective of %zu -> %zu bytes", n_in, n_out);
    memcpy(w->in[f->ctx.lane], in, n_in);
    warp_arrive(f, mask, fn, arg, where);
    memcpy(out, w->out[f->ctx.lane], n_out); /* no other operation of this lane's has run since */
}

void shfl_fn(const unsigned char (*in)[64], unsigned char (*out)[16], unsigned mask, const void *) {
    for (int l = 0; l < 32; l++) {
        if (!(mask >> l & 1)) continue;
        int src;
        memcpy(&src, in[l], 4);
        if (src < 0 || src > 31 || !(mask >> src & 1))
            fail("shuffle: lane %d reads lane %d, outside the mask %#x", l, src, mask);
        memcpy(out[l], in[src] + 4, 8);
    }
}

static void ballot_fn(const unsigned char (*in)[64], unsigned char (*out)[16], unsigned mask, const void *) {
    unsigned r = 0;
    for (int l = 0; l < 32; l++)
        if ((mask >> l & 1) && in[l][0]) r |= 1u << l;
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1) memcpy(out[l], &r, 4);
}

unsigned ballot(unsigned mask, int pred, lt_emu_where where) {
    unsigned char p = pred != 0;
    unsigned r;
    warp_collective(mask, &p, 1, &r, sizeof r, ballot_fn, NULL, where);
    return r;
}

void *dyn_smem(void) { return cur->self->blk->dyn; }
int cluster_blocks(void) { return L.nblocks; }

void *map_shared(const void *p, int rank) {
    block *b = cur->self->blk;
    if (rank < 0 || rank >= L.nblocks) fail("map_shared_rank to block %d of a cluster of %d", rank, L.nblocks);
    const unsigned char *q = (const unsigned char *)p;
    if (q < b->dyn || q >= b->dyn + L.smem)
        fail("map_shared_rank of %p, which is not in this block's dynamic shared memory", p);
    return L.blocks[rank].dyn + (q - b->dyn);
}

void cp_async(void *dst, const void *src, size_t n, bool valid) {
    cur->self->cp.push_back(cp_req{dst, src, n, valid, -1});
}
void cp_commit(void) {
    fiber *f = cur->self;
    for (cp_req &r : f->cp)
        if (r.group < 0) r.group = f->committed;
    f->committed++;
}
void cp_wait(int newest_pending) {
    fiber *f = cur->self;
    int upto = f->committed - newest_pending; /* groups [0, upto) must have landed */
    size_t keep = 0;
    for (size_t i = 0; i < f->cp.size(); i++) {
        cp_req &r = f->cp[i];
        if (r.group >= 0 && r.group < upto) {
            if (r.valid) memcpy(r.dst, r.src, r.n);
            else memset(r.dst, 0, r.n);
        } else {
            f->cp[keep++] = r;
        }
    }
    f->cp.resize(keep);
}

/* ---- launches -------------------------------------------------------------------------------------- */

static std::unordered_map<const void *, int> smem_optin;
enum { SMEM_DEFAULT = 48 << 10, SMEM_OPTIN_MAX = 227 << 10, SMS = 132 };

static int order_set = -1;
void set_order(int mode) { order_set = mode; }
static int order_mode(void) { /* 0 in order, 1 reverse, 2 random; read once per block */
    if (order_set >= 0) return order_set;
    const char *e = getenv("LT_EMU_ORDER");
    return !e ? 0 : !strcmp(e, "reverse") ? 1 : !strcmp(e, "random") ? 2 : 0;
}

static void run_unit(dim3 grid, dim3 blk, unsigned first_block) {
    unsigned nt = blk.x * blk.y * blk.z;
    L.fibers.resize((size_t)L.nblocks * nt);
    L.cluster = barrier{L.fibers.data(), (int)L.fibers.size(), (int)L.fibers.size(), 0, ST_CLUSTER, "cluster", {"", 0}};
    for (int r = 0; r < L.nblocks; r++) {
        block *b = &L.blocks[r];
        unsigned id = first_block + (unsigned)r;
        b->bid = dim3(id % grid.x, id / grid.x % grid.y, id / grid.x / grid.y);
        b->bar = barrier{&L.fibers[(size_t)r * nt], (int)nt, (int)nt, 0, ST_BLOCK, "block", {"", 0}};
        for (unsigned wi = 0; wi < (nt + 31) / 32; wi++) {
            warp *w = &b->warps[wi];
            unsigned lanes = nt - wi * 32 >= 32 ? 32 : nt - wi * 32;
            w->waiting = 0, w->exited = 0, w->present = lanes == 32 ? ~0u : (1u << lanes) - 1;
        }
        if (L.smem) memset(b->dyn, 0xff, L.smem); /* shared memory starts as garbage (NaNs), never zeros */
        for (unsigned t = 0; t < nt; t++) {
            fiber *f = &b->bar.first[t];
            fiber_init(f, (size_t)r * nt + t);
            f->blk = b;
            f->ctx.tid = dim3(t % blk.x, t / blk.x % blk.y, t / blk.x / blk.y);
            f->ctx.bid = b->bid;
            f->ctx.lane = (int)(t % 32), f->ctx.warp = (int)(t / 32), f->ctx.rank = r;
            f->ctx.self = f;
        }
    }
    int mode = order_mode();
    std::vector<size_t> order(L.fibers.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = mode == 1 ? order.size() - 1 - i : i;
    static std::mt19937_64 rng(12345);
    for (;;) {
        if (mode == 2) std::shuffle(order.begin(), order.end(), rng);
        bool ran = false, alive = false;
        for (size_t i : order) {
            fiber *f = &L.fibers[i];
            if (f->state == ST_RUN) {
                to_fiber(f);
                ran = true;
            }
            if (f->state != ST_DONE) alive = true;
        }
        if (!alive) break;
        if (!ran) {
            for (fiber &f : L.fibers)
                if (f.state != ST_DONE) {
                    cur = &f.ctx;
                    int waiting[5] = {0};
                    for (fiber &g : L.fibers) waiting[g.state]++;
                    fail("no thread can go on (a deadlock): this one waits at %s (%s:%d); threads waiting at "
                         "__syncthreads %d, a warp operation %d, cluster.sync %d; returned %d",
                         state_name(f.state), f.where.file, f.where.line, waiting[ST_BLOCK], waiting[ST_WARP], waiting[ST_CLUSTER],
                         waiting[ST_DONE]);
                }
        }
    }
}

int run(const config &c, const char *name, const char *host, body_fn body, const void *ctx) {
    std::lock_guard<std::mutex> hold(launch_lock);
    if (cur) fail("a launch from device code (%s)", name);
    unsigned nt = c.block.x * c.block.y * c.block.z;
    cudaError_t bad = cudaSuccess;
    if (nt == 0 || nt > 1024 || c.block.z > 64 || c.grid.x == 0 || c.grid.x > 0x7fffffffu || c.grid.y == 0 ||
        c.grid.y > 65535 || c.grid.z == 0 || c.grid.z > 65535)
        bad = cudaErrorInvalidConfiguration;
    const void *k = c.kernel;
    if (c.smem > SMEM_DEFAULT) {
        auto it = k ? smem_optin.find(k) : smem_optin.end();
        if (it == smem_optin.end() || (size_t)it->second < c.smem) {
            fprintf(stderr, "cuemu: %s: %zu bytes of dynamic shared memory without the opt-in "
                            "(cudaFuncAttributeMaxDynamicSharedMemorySize)%s\n",
                    name, c.smem, k ? "" : "; the launch does not say which kernel it is");
            bad = cudaErrorInvalidValue;
        }
    }
    if (c.cluster != 1 && (c.cluster < 1 || c.cluster > 16 || c.grid.x % c.cluster || c.grid.y != 1 || c.grid.z != 1))
        bad = cudaErrorInvalidConfiguration;
    if (bad != cudaSuccess) {
        fprintf(stderr, "cuemu: %s: launch rejected: grid (%u,%u,%u), block (%u,%u,%u), %zu bytes shared, cluster %u\n",
                name, c.grid.x, c.grid.y, c.grid.z, c.block.x, c.block.y, c.block.z, c.smem, c.cluster);
        last_error = bad;
        return bad;
    }
    L.name = name, L.host = host, L.body = body, L.ctx = ctx, L.smem = c.smem, L.nblocks = (int)c.cluster;
    std::vector<unsigned char *> dyn(L.nblocks);
    for (int r = 0; r < L.nblocks; r++) {
        dyn[r] = c.smem ? (unsigned char *)aligned_alloc(128, (c.smem + 127) / 128 * 128) : NULL;
        L.blocks[r].dyn = dyn[r];
    }
    gridDim = c.grid, blockDim = c.block;
    uint64_t total = (uint64_t)c.grid.x * c.grid.y * c.grid.z;
    for (uint64_t b = 0; b < total; b += c.cluster) run_unit(c.grid, c.block, (unsigned)b);
    for (unsigned char *p : dyn) free(p);
    return cudaSuccess;
}

cudaError_t func_set_attribute(const void *kernel, cudaFuncAttribute a, int v) {
    if (a == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (v < 0 || v > SMEM_OPTIN_MAX) return last_error = cudaErrorInvalidValue;
        smem_optin[kernel] = v;
    }
    return cudaSuccess;
}

unsigned cluster_of(const cudaLaunchConfig_t *c) {
    for (unsigned i = 0; i < c->numAttrs; i++)
        if (c->attrs[i].id == cudaLaunchAttributeClusterDimension) return c->attrs[i].val.clusterDim.x;
    return 1;
}

int max_active_clusters(unsigned cluster, unsigned threads, size_t smem) {
    /* an H200: 2,048 threads, 228 KiB of shared memory (1 KiB kept per block) and 32 blocks per SM;
     * clusters do not span GPCs, taken as 8 of 16 SMs */
    unsigned by_threads = threads ? 2048 / threads : 0, by_smem = (unsigned)((228u << 10) / (smem + 1024));
    unsigned per_sm = std::min(std::min(by_threads, by_smem), 32u);
    return cluster ? (int)(8 * (16 * per_sm / cluster)) : 0;
}

} /* namespace lt_emu */

dim3 threadIdx, blockIdx, blockDim, gridDim;

/* ---- runtime API ----------------------------------------------------------------------------------- */
using lt_emu::last_error;

static cudaError_t err(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

cudaError_t cudaGetDeviceCount(int *n) {
    const char *e = getenv("LT_EMU_DEVICES"); /* LT_EMU_DEVICES=0: as on a machine without a GPU */
    *n = e ? atoi(e) : 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : err(cudaErrorInvalidDevice); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (d != 0) return err(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cuemu (an H200 emulated on the CPU)");
    p->totalGlobalMem = (size_t)141 << 30;
    p->sharedMemPerBlock = 48 << 10, p->sharedMemPerBlockOptin = 227 << 10;
    p->major = 9, p->minor = 0, p->multiProcessorCount = lt_emu::SMS, p->maxThreadsPerBlock = 1024, p->warpSize = 32;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
    if (a == cudaDevAttrMaxSharedMemoryPerBlockOptin) return *v = lt_emu::SMEM_OPTIN_MAX, cudaSuccess;
    return err(cudaErrorInvalidValue);
}
cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    }
    return "unknown error";
}

struct lt_emu_stream {
    int unused;
};
struct lt_emu_event {
    int unused;
};
static lt_emu_stream the_stream;
static lt_emu_event the_event;
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { return *s = &the_stream, cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) { return *e = &the_event, cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }

/* Device memory is host memory, filled with 0xff bytes (NaN in f32 and bf16) as it comes, so a
 * kernel that reads what nobody wrote shows it. */
cudaError_t cudaMalloc(void **p, size_t n) {
    *p = NULL;
    if (n == 0) return cudaSuccess;
    if (posix_memalign(p, 256, n) != 0) return *p = NULL, err(cudaErrorMemoryAllocation);
    memset(*p, 0xff, n);
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) { return free(p), cudaSuccess; }
cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
cudaError_t cudaFreeAsync(void *p, cudaStream_t) { return cudaFree(p); }
cudaError_t cudaMallocHost(void **p, size_t n) { return cudaMalloc(p, n); }
cudaError_t cudaFreeHost(void *p) { return cudaFree(p); }
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t) {
    return memmove(d, s, n), cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) { return memset(p, v, n), cudaSuccess; }
cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int v, size_t w, size_t h, cudaStream_t) {
    if (w > pitch) return err(cudaErrorInvalidValue);
    for (size_t r = 0; r < h; r++) memset((char *)p + r * pitch, v, w);
    return cudaSuccess;
}
struct lt_emu_pool {
    int unused;
};
static lt_emu_pool the_pool;
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int) { return *pool = &the_pool, cudaSuccess; }
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void *) { return cudaSuccess; }

/* ---- cuBLAS / cuBLASLt: the CPU backend's sgemm ----------------------------------------------------------
 * Column-major C = alpha op(A) op(B) + beta C with fp32 sums (the engine's BLAS, src/cpu/cpu.h);
 * the FAST_TF32 and FAST_16BF compute types first round the fp32 operands as tensor cores would, and
 * bf16 operands are widened. With beta == 0, C is not read. Arguments are checked as cuBLAS checks
 * them; a cuBLASLt layout that does not fit the product aborts, since gemm.cu would otherwise fall
 * back to cuBLAS quietly. */
extern "C" int lt__blas_open(int fix_coretype);
extern "C" void lt__cpu_sgemm1(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
struct lt_emu_blas {
    int unused;
};
static lt_emu_blas the_blas;

static float ld_elem(const void *p, cudaDataType t, int64_t i) {
    return t == CUDA_R_16BF ? lt_emu_bf16_f(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}
static float round_to(float v, cublasComputeType_t c, cudaDataType t) {
    if (t != CUDA_R_32F) return v;
    if (c == CUBLAS_COMPUTE_32F_FAST_16BF) return lt_emu_bf16_f(lt_emu_bf16_rn(v));
    if (c == CUBLAS_COMPUTE_32F_FAST_TF32) {
        uint32_t u = __float_as_uint(v);
        if ((u & 0x7fffffffu) < 0x7f800000u) u = (u + 0xfffu + ((u >> 13) & 1)) & ~0x1fffu;
        return __uint_as_float(u);
    }
    return v;
}

static cublasStatus_t gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const void *A, cudaDataType at,
                           int64_t lda, int64_t sa, const void *B, cudaDataType bt, int64_t ldb, int64_t sb, float beta,
                           void *C, cudaDataType ct, int64_t ldc, int64_t sc, int64_t batch, cublasComputeType_t compute) {
    if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max<int64_t>(1, ta ? k : m) ||
        ldb < std::max<int64_t>(1, tb ? n : k) || ldc < std::max<int64_t>(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (at != bt) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (lt__blas_open(1) < 0) lt_emu::fail("cuBLAS: no BLAS to run the GEMM on");
    /* each batch item: a = op(A) [m, k] and b = op(B)^T [n, k] row-major, t = a b^T [m, n] */
    std::vector<float> a((size_t)(m * k)), b((size_t)(k * n)), t((size_t)(m * n));
    for (int64_t q = 0; q < batch; q++) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t p = 0; p < k; p++)
                a[(size_t)(i * k + p)] = round_to(ld_elem(A, at, q * sa + (ta ? p + i * lda : i + p * lda)), compute, at);
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = 0; j < n; j++)
                b[(size_t)(j * k + p)] = round_to(ld_elem(B, bt, q * sb + (tb ? j + p * ldb : p + j * ldb)), compute, bt);
        lt__cpu_sgemm1(0, 1, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, t.data(), n);
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                int64_t ci = q * sc + i + j * ldc;
                float v = alpha * t[(size_t)(i * n + j)];
                if (beta != 0.0f) v += beta * ld_elem(C, ct, ci);
                if (ct == CUDA_R_16BF) ((uint16_t *)C)[ci] = lt_emu_bf16_rn(v);
                else ((float *)C)[ci] = v;
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasCreate(cublasHandle_t *h) { return *h = &the_blas, CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasGetVersion(cublasHandle_t, int *v) { return *v = 0, CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_(other)";
    }
}
cublasStatus_t cublasGemmStridedBatchedEx_64(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                             int64_t n, int64_t k, const void *alpha, const void *A, cudaDataType at,
                                             int64_t lda, int64_t sa, const void *B, cudaDataType bt, int64_t ldb,
                                             int64_t sb, const void *beta, void *C, cudaDataType ct, int64_t ldc,
                                             int64_t sc, int64_t batch, cublasComputeType_t compute, cublasGemmAlgo_t) {
    return gemm(ta, tb, m, n, k, *(const float *)alpha, A, at, lda, sa, B, bt, ldb, sb, *(const float *)beta, C, ct, ldc,
                sc, batch, compute);
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) { return *h = &the_blas, CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtDestroy(cublasLtHandle_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulDescInit(cublasLtMatmulDescOpaque_t *d, cublasComputeType_t compute, cudaDataType scale) {
    if (scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    d->compute = compute, d->transa = d->transb = CUBLAS_OP_N;
    return CUBLAS_STATUS_SUCCESS;
}
template <typename T> static cublasStatus_t get_attr(T *out, const void *v, size_t n) {
    if (n != sizeof(T)) return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(out, v, n);
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, const void *v, size_t n) {
    if (a == CUBLASLT_MATMUL_DESC_TRANSA) return get_attr(&d->transa, v, n);
    if (a == CUBLASLT_MATMUL_DESC_TRANSB) return get_attr(&d->transb, v, n);
    return CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasLtMatrixLayoutInit(cublasLtMatrixLayoutOpaque_t *l, cudaDataType t, uint64_t rows, uint64_t cols, int64_t ld) {
    l->type = t, l->rows = rows, l->cols = cols, l->ld = ld, l->stride = 0, l->batch = 1;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a, const void *v, size_t n) {
    if (a == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT) return get_attr(&l->batch, v, n);
    if (a == CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET) return get_attr(&l->stride, v, n);
    return CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasLtMatmulPreferenceInit(cublasLtMatmulPreferenceOpaque_t *p) { return p->max_workspace = 0, CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t a,
                                                    const void *v, size_t n) {
    if (a == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) return get_attr(&p->max_workspace, v, n);
    uint32_t al;
    return get_attr(&al, v, n);
}

/* the product's m, n, k from the layouts; aborts when they do not agree */
static void lt_shape(const cublasLtMatmulDescOpaque_t *d, const cublasLtMatrixLayoutOpaque_t *a,
                     const cublasLtMatrixLayoutOpaque_t *b, const cublasLtMatrixLayoutOpaque_t *c, int64_t *m, int64_t *n,
                     int64_t *k) {
    *m = (int64_t)c->rows, *n = (int64_t)c->cols;
    int64_t am = (int64_t)(d->transa ? a->cols : a->rows), ak = (int64_t)(d->transa ? a->rows : a->cols);
    int64_t bk = (int64_t)(d->transb ? b->cols : b->rows), bn = (int64_t)(d->transb ? b->rows : b->cols);
    if (am != *m || bn != *n || ak != bk || a->batch != c->batch || b->batch != c->batch ||
        a->ld < (int64_t)a->rows || b->ld < (int64_t)b->rows || c->ld < (int64_t)c->rows)
        lt_emu::fail("cublasLt: layouts that do not make a product: A %llux%llu ld %lld%s, B %llux%llu ld %lld%s, "
                     "C %llux%llu ld %lld, batches %d %d %d",
                     (unsigned long long)a->rows, (unsigned long long)a->cols, (long long)a->ld, d->transa ? " (T)" : "",
                     (unsigned long long)b->rows, (unsigned long long)b->cols, (long long)b->ld, d->transb ? " (T)" : "",
                     (unsigned long long)c->rows, (unsigned long long)c->cols, (long long)c->ld, a->batch, b->batch,
                     c->batch);
    *k = ak;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a,
                                              cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int want, cublasLtMatmulHeuristicResult_t *res,
                                              int *found) {
    int64_t m, n, k;
    lt_shape(d, a, b, c, &m, &n, &k);
    *found = 0;
    if (want < 1) return CUBLAS_STATUS_INVALID_VALUE;
    memset(res, 0, sizeof *res);
    *found = 1;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t d, const void *alpha, const void *A,
                              cublasLtMatrixLayout_t la, const void *B, cublasLtMatrixLayout_t lb, const void *beta,
                              const void *C, cublasLtMatrixLayout_t lc, void *D, cublasLtMatrixLayout_t ld,
                              const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t) {
    int64_t m, n, k;
    lt_shape(d, la, lb, lc, &m, &n, &k);
    if (C != D || memcmp(lc, ld, sizeof *lc) != 0) return CUBLAS_STATUS_NOT_SUPPORTED; /* longtail passes C == D */
    return gemm(d->transa, d->transb, m, n, k, *(const float *)alpha, A, la->type, la->ld, la->stride, B, lb->type,
                lb->ld, lb->stride, *(const float *)beta, D, ld->type, ld->ld, ld->stride, lc->batch, d->compute);
}
