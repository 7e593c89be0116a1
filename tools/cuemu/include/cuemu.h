/* cuemu: longtail's CUDA sources run on the CPU, for testing where there is no GPU.
 *
 * Every CUDA thread of a block is a fiber; the fibers of a block (of a whole cluster, for cluster
 * launches) take turns on the calling host thread, each running until it meets a barrier
 * (__syncthreads, a warp shuffle or vote, cluster.sync) or returns. Blocks run one after another.
 * Shared memory is per block; warp operations are collectives of the warp's fibers. A launch a GPU
 * would refuse (a shape past the limits, dynamic shared memory over 48 KiB without the opt-in) fails
 * as it would there, through cudaGetLastError. What a GPU would leave undefined aborts the run,
 * naming the kernel, the host function, the block and the thread: a shuffle whose mask names a lane
 * that has returned or reads a lane outside its mask, threads of a block meeting at different
 * __syncthreads, a block that can make no progress. cp.async copies land only when the thread waits
 * for them, so a read before the wait sees the old bytes, as it may on a GPU.
 *
 * Environment: LT_EMU_ORDER=reverse|random runs the fibers of each round in another order (a result
 * that changes with the order is a race between threads: a missing __syncthreads); LT_EMU_LENIENT=1
 * lets the threads of a block meet at different __syncthreads; LT_EMU_DEVICES=0 hides the device.
 *
 * This header stands in for cuda_runtime.h, cuda_bf16.h, cooperative_groups.h and the cuBLAS/cub
 * headers (tools/cuemu/include): only the part longtail's kernels and cuda/*.cu call. The .cu files
 * are rewritten by cuemu-rewrite (launch syntax and extern __shared__). Host API calls are
 * synchronous. One host thread at a time may use it. */
#ifndef LT_CUEMU_H
#define LT_CUEMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <tuple>
#include <type_traits>
#include <utility>

#define LT_CUDA_EMU 1

/* ---- keywords ----------------------------------------------------------------------------------- */
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static /* blocks run one at a time: a static is one block's shared memory */
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

/* ---- vector types ----------------------------------------------------------------------------- */
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned x, y, z, w; };
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

/* ---- bf16 (cuda_bf16.h) ------------------------------------------------------------------------- */
static inline uint16_t lt_emu_bf16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff; /* CUDA's canonical NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static inline float lt_emu_bf16_f(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
struct __attribute__((aligned(2))) __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : __x(lt_emu_bf16_rn(f)) {}
    __nv_bfloat16(double f) : __x(lt_emu_bf16_rn((float)f)) {}
    operator float() const { return lt_emu_bf16_f(__x); }
};
struct __attribute__((aligned(4))) __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
static inline float __bfloat162float(__nv_bfloat16 b) { return (float)b; }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
    __nv_bfloat16 b;
    b.__x = u;
    return b;
}
static inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) { return {__nv_bfloat16(lo), __nv_bfloat16(hi)}; }

/* ---- device intrinsics ---------------------------------------------------------------------------- */
template <typename To, typename From> static inline To lt_emu_bits(From f) {
    static_assert(sizeof(To) == sizeof(From), "same size");
    To t;
    memcpy(&t, &f, sizeof t);
    return t;
}
static inline float __uint_as_float(unsigned u) { return lt_emu_bits<float>(u); }
static inline unsigned __float_as_uint(float f) { return lt_emu_bits<unsigned>(f); }
static inline float __int_as_float(int u) { return lt_emu_bits<float>(u); }
/* cuemu is built with FMA contraction on, as nvcc builds kernels (--fmad=true); the _rn forms are
 * single roundings that must not fuse with what follows, so their result passes an empty asm */
static inline float lt_emu_opaque(float v) {
    asm("" : "+x"(v));
    return v;
}
static inline float __fmul_rn(float a, float b) { return lt_emu_opaque(a * b); }
static inline float __fadd_rn(float a, float b) { return lt_emu_opaque(a + b); }
static inline float __fsub_rn(float a, float b) { return lt_emu_opaque(a - b); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline size_t __cvta_generic_to_shared(const void *p) { return (size_t)p; }
/* CUDA's min and max of two numbers, in the type both convert to */
template <typename A, typename B> static inline typename std::common_type<A, B>::type min(A a, B b) {
    return b < a ? b : a;
}
template <typename A, typename B> static inline typename std::common_type<A, B>::type max(A a, B b) {
    return a < b ? b : a;
}

/* ---- the emulated machine ---------------------------------------------------------------------- */
/* where a barrier is called from: the call's file and line (default arguments take the caller's) */
struct lt_emu_where {
    const char *file;
    int line;
};
namespace lt_emu {

struct fiber;

/* what a fiber knows of itself; `cur` is the fiber running now */
struct thread_ctx {
    dim3 tid, bid;
    int lane, warp, rank; /* rank: block within the cluster */
    fiber *self;
};
extern thread_ctx *cur;

[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void sync_block(lt_emu_where where);
void sync_cluster(lt_emu_where where);
/* every lane of mask (which must hold the caller) passes only when all of them are here */
void warp_barrier(unsigned mask, lt_emu_where where);
/* A warp-wide operation: each lane of mask gives in (up to 64 bytes); when the last of them arrives,
 * fn(in, out, mask, arg) computes every lane's result at once (in[l], out[l] are lane l's), and each
 * lane gets its own out (up to 16 bytes) back. */
typedef void (*collective_fn)(const unsigned char (*in)[64], unsigned char (*out)[16], unsigned mask, const void *arg);
void warp_collective(unsigned mask, const void *in, size_t n_in, void *out, size_t n_out, collective_fn fn,
                     const void *arg, lt_emu_where where);
/* the order in which a block's threads take turns: 0 natural, 1 reverse, 2 random, -1 as
 * LT_EMU_ORDER says (the default) */
void set_order(int mode);
void *dyn_smem(void);
/* the same place in block `rank`'s dynamic shared memory (cluster launches) */
void *map_shared(const void *p, int rank);
int cluster_blocks(void);

/* cp.async: queued per thread, copied when the thread waits for the group */
void cp_async(void *dst, const void *src, size_t n, bool valid);
void cp_commit(void);
void cp_wait(int newest_pending);

/* out[l] = in[src of l]: the 8-byte value after the source lane's int */
void shfl_fn(const unsigned char (*in)[64], unsigned char (*out)[16], unsigned mask, const void *arg);
template <typename T> static inline T shfl_src(unsigned mask, T v, int src, lt_emu_where where) {
    static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
    unsigned char mine[12] = {0}, got[8];
    memcpy(mine, &src, 4);
    memcpy(mine + 4, &v, sizeof(T));
    warp_collective(mask, mine, sizeof mine, got, sizeof got, shfl_fn, NULL, where);
    T r;
    memcpy(&r, got, sizeof r);
    return r;
}
unsigned ballot(unsigned mask, int pred, lt_emu_where where);

/* ---- launches ---------------------------------------------------------------------------------- */
struct config {
    dim3 grid, block;
    size_t smem;
    unsigned cluster;   /* blocks per cluster (x), 1 for plain launches */
    const void *kernel; /* for the shared memory opt-in; NULL where the launch does not say */
    template <typename G, typename B>
    config(G g, B b, size_t s = 0, const void * = nullptr)
        : grid(to_dim3(g)), block(to_dim3(b)), smem(s), cluster(1), kernel(nullptr) {}
    config &with(const void *k) { return kernel = k, *this; }
    static dim3 to_dim3(dim3 d) { return d; }
    template <typename I> static dim3 to_dim3(I i) { return dim3((unsigned)i); }
};

typedef void (*body_fn)(const void *ctx);
/* runs body(ctx) on every thread of the launch; returns the cudaError it would give. name: the
 * kernel's, host: the function that launches it (for messages) */
int run(const config &c, const char *name, const char *host, body_fn body, const void *ctx);

template <typename F> static inline int launch(const config &c, const char *name, const char *host, F f) {
    return run(c, name, host, [](const void *ctx) { (*(const F *)ctx)(); }, &f);
}

} /* namespace lt_emu */

/* the running fiber's indices, set at every switch, and the launch's shape */
extern dim3 threadIdx, blockIdx, blockDim, gridDim;
#define LT_EMU_SITE const char *lt_file = __builtin_FILE(), int lt_line = __builtin_LINE()
#define LT_EMU_HERE (lt_emu_where{lt_file, lt_line})

static inline void __syncthreads(LT_EMU_SITE) { lt_emu::sync_block(LT_EMU_HERE); }
static inline void __syncwarp(unsigned mask = 0xffffffffu, LT_EMU_SITE) { lt_emu::warp_barrier(mask, LT_EMU_HERE); }
template <typename T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32, LT_EMU_SITE) {
    int lane = lt_emu::cur->lane;
    return lt_emu::shfl_src(mask, v, (lane / width) * width + (src % width), LT_EMU_HERE);
}
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32, LT_EMU_SITE) {
    int lane = lt_emu::cur->lane, src = lane ^ m;
    if (src / width != lane / width) src = lane;
    return lt_emu::shfl_src(mask, v, src, LT_EMU_HERE);
}
template <typename T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32, LT_EMU_SITE) {
    int lane = lt_emu::cur->lane, src = lane % width >= (int)d ? lane - (int)d : lane;
    return lt_emu::shfl_src(mask, v, src, LT_EMU_HERE);
}
static inline unsigned __ballot_sync(unsigned mask, int pred, LT_EMU_SITE) { return lt_emu::ballot(mask, pred, LT_EMU_HERE); }
static inline int __any_sync(unsigned mask, int pred, LT_EMU_SITE) { return __ballot_sync(mask, pred, lt_file, lt_line) != 0; }

/* fibers never run at the same time, so a plain read-modify-write is atomic */
template <typename T> static inline T atomicAdd(T *p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
template <typename T> static inline T atomicCAS(T *p, T cmp, T v) {
    T old = *p;
    if (old == cmp) *p = v;
    return old;
}

#include "cuemu_host.h"

#endif
