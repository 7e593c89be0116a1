/* test_cuemu_self: cuemu checked on small kernels of its own, so that the emulator the CUDA tests
 * rely on is itself tested: results in every thread order, the warp collectives (shuffles, ballot,
 * ldmatrix and mma against plain loops), cp.async landing at the wait, clusters' shared memory,
 * rejected launches, and the faults it must stop at (each in a child process, which must abort
 * with the expected message). Built with LONGTAIL_CUDA_EMU=ON; tools/cuemu/check.sh runs it. Device
 * memory is host memory under cuemu, so the host reads results directly. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "ptx.cuh"

namespace cg = cooperative_groups;

static int failures;
#define CHECK(cond, ...)                                                                                \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            failures++;                                                                                 \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                               \
            printf(__VA_ARGS__);                                                                        \
            printf("\n");                                                                               \
        }                                                                                               \
    } while (0)

/* ---- kernels ---------------------------------------------------------------------------------------- */

/* out[block] = sum of in over the block, through shared memory; with barrier = 0 thread 0 reads the
 * others' values without waiting for them (a race) */
__global__ void block_sum(float *out, const float *in, int barrier) {
    extern __shared__ float part[];
    part[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
    if (barrier) __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0;
        for (unsigned i = 0; i < blockDim.x; i++) s += part[i];
        out[blockIdx.x] = s;
    }
}

__global__ void warp_ops(float *sum, unsigned *votes, int *up) {
    float v = (float)threadIdx.x;
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    sum[threadIdx.x] = v;
    votes[threadIdx.x] = __ballot_sync(0xffffffffu, threadIdx.x % 3 == 0);
    up[threadIdx.x] = __shfl_up_sync(0xffffffffu, (int)threadIdx.x, 2);
}

/* d = a (16 x 16) b (16 x 8) through ldmatrix (a row-major, b stored k x n and read transposed) and mma */
__global__ void mma_tile(float *d, const __nv_bfloat16 *a, const __nv_bfloat16 *b) {
    __shared__ __align__(16) uint16_t as[16][16], bs[16][8];
    int l = threadIdx.x;
    for (int i = l; i < 256; i += 32) as[i / 16][i % 16] = __bfloat16_as_ushort(a[i]);
    for (int i = l; i < 128; i += 32) bs[i / 8][i % 8] = __bfloat16_as_ushort(b[i]);
    __syncwarp();
    uint32_t af[4], bf[4];
    /* A: matrices (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 8-15) */
    lt__ldsm4(af, &as[(l / 8 % 2) * 8 + l % 8][(l / 16) * 8]);
    /* B^T fragments: matrices k 0-7 and k 8-15 of the 8 columns (x2 used of the x4) */
    lt__ldsm4t(bf, &bs[(l / 8 % 2) * 8 + l % 8][0]);
    float c[4] = {0, 0, 0, 0};
    lt__mma16816(c, af, bf[0], bf[1]);
    int g = l / 4, t = l % 4;
    d[g * 8 + 2 * t] = c[0], d[g * 8 + 2 * t + 1] = c[1];
    d[(g + 8) * 8 + 2 * t] = c[2], d[(g + 8) * 8 + 2 * t + 1] = c[3];
}

/* before[i], after[i]: what thread i sees of its 16 bytes in shared memory before and after the wait */
__global__ void cp_async_wait(uint32_t *before, uint32_t *after, const uint32_t *src) {
    extern __shared__ __align__(16) uint32_t buf[];
    int i = threadIdx.x;
    buf[4 * i] = 7;
    lt__cp_async16(&buf[4 * i], &src[4 * i], true);
    lt__cp_async_commit();
    before[i] = buf[4 * i];
    lt__cp_async_wait<0>();
    after[i] = buf[4 * i];
}

/* each block of a cluster of 4 reads its neighbour's rank from the neighbour's shared memory */
__global__ void cluster_ring(int *out) {
    extern __shared__ int mine[];
    cg::cluster_group cl = cg::this_cluster();
    int r = (int)cl.block_rank(), n = (int)cl.num_blocks();
    if (threadIdx.x == 0) mine[0] = 100 * (int)blockIdx.x + r;
    cl.sync();
    if (threadIdx.x == 0) out[blockIdx.x] = *cl.map_shared_rank(&mine[0], (r + 1) % n);
    cl.sync();
}

__global__ void nothing(void) {}

/* faults */
__global__ void lane_returns(float *out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}
__global__ void split_barrier(float *out) {
    if (threadIdx.x < 64) __syncthreads();
    else __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void deadlock(float *out) {
    if (threadIdx.x == 0) __syncthreads();
    else __syncwarp();
    out[threadIdx.x] = 1;
}
__global__ void outside_mask(int *out) {
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_sync(0x0000ffffu, (int)threadIdx.x, 20);
}

/* ---- host ------------------------------------------------------------------------------------------- */

template <typename T> static T *dev(size_t n) {
    T *p = NULL;
    cudaMalloc(&p, n * sizeof(T));
    return p;
}

static void test_orders(void) {
    const int blocks = 3, threads = 128;
    float *in = dev<float>(blocks * threads), *out = dev<float>(blocks);
    for (int i = 0; i < blocks * threads; i++) in[i] = (float)(i % 7);
    float want[blocks] = {0};
    for (int i = 0; i < blocks * threads; i++) want[i / threads] += in[i];
    float race[3][blocks];
    for (int order = 0; order < 3; order++) {
        lt_emu::set_order(order);
        block_sum<<<blocks, threads, threads * sizeof(float)>>>(out, in, 1);
        for (int b = 0; b < blocks; b++) CHECK(out[b] == want[b], "order %d: block %d sums %g, not %g", order, b, out[b], want[b]);
        block_sum<<<blocks, threads, threads * sizeof(float)>>>(out, in, 0);
        memcpy(race[order], out, sizeof race[order]);
    }
    int differ = 0;
    for (int b = 0; b < blocks; b++) differ += memcmp(&race[0][b], &race[1][b], sizeof(float)) != 0;
    CHECK(differ, "a read before __syncthreads gives the same sums in forward and reverse order");
    printf("  block sums right in forward, reverse and random order; without the barrier forward and reverse differ: %s\n",
           differ ? "ok" : "FAIL");
    lt_emu::set_order(-1);
    cudaFree(in), cudaFree(out);
}

static void test_warp(void) {
    float *sum = dev<float>(32);
    unsigned *votes = dev<unsigned>(32);
    int *up = dev<int>(32);
    warp_ops<<<1, 32>>>(sum, votes, up);
    unsigned want_vote = 0;
    for (int l = 0; l < 32; l += 3) want_vote |= 1u << l;
    int bad = 0;
    for (int l = 0; l < 32; l++) bad += sum[l] != 496.0f || votes[l] != want_vote || up[l] != (l >= 2 ? l - 2 : l);
    CHECK(!bad, "%d lanes got a wrong shuffle sum, ballot or shfl_up", bad);
    printf("  xor-shuffle sum, ballot, shfl_up on 32 lanes: %s\n", bad ? "FAIL" : "ok");
    cudaFree(sum), cudaFree(votes), cudaFree(up);
}

static void test_mma(void) {
    __nv_bfloat16 *a = dev<__nv_bfloat16>(256), *b = dev<__nv_bfloat16>(128);
    float *d = dev<float>(128);
    for (int i = 0; i < 256; i++) a[i] = __float2bfloat16((float)((i * 7) % 11) - 5.0f);
    for (int i = 0; i < 128; i++) b[i] = __float2bfloat16((float)((i * 5) % 9) - 4.0f);
    mma_tile<<<1, 32>>>(d, a, b);
    int bad = 0;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 8; c++) {
            float s = 0;
            for (int k = 0; k < 16; k++) s += (float)a[r * 16 + k] * (float)b[k * 8 + c];
            bad += d[r * 8 + c] != s;
        }
    CHECK(!bad, "%d of 128 outputs of ldmatrix + mma differ from the plain product", bad);
    printf("  ldmatrix (plain and .trans) + mma.m16n8k16 vs the plain 16x16x8 product: %s\n", bad ? "FAIL" : "ok");
    cudaFree(a), cudaFree(b), cudaFree(d);
}

static void test_cp_async(void) {
    uint32_t *before = dev<uint32_t>(32), *after = dev<uint32_t>(32), *src = dev<uint32_t>(128);
    for (int i = 0; i < 128; i++) src[i] = 1000 + i;
    cp_async_wait<<<1, 32, 32 * 16>>>(before, after, src);
    int bad = 0;
    for (int i = 0; i < 32; i++) bad += before[i] != 7 || after[i] != 1000 + 4 * (uint32_t)i;
    CHECK(!bad, "%d threads saw cp.async land before the wait or not after it", bad);
    printf("  cp.async: the old bytes before the wait, the copy after it: %s\n", bad ? "FAIL" : "ok");
    cudaFree(before), cudaFree(after), cudaFree(src);
}

static void test_cluster(void) {
    int *out = dev<int>(8);
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 4, attr[0].val.clusterDim.y = 1, attr[0].val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(8), cfg.blockDim = dim3(64), cfg.dynamicSmemBytes = sizeof(int), cfg.attrs = attr, cfg.numAttrs = 1;
    CHECK(cudaLaunchKernelEx(&cfg, cluster_ring, out) == cudaSuccess, "cluster launch refused");
    int bad = 0;
    for (int b = 0; b < 8; b++) {
        int q = b / 4, r = b % 4, nb = q * 4 + (r + 1) % 4;
        bad += out[b] != 100 * nb + (r + 1) % 4;
    }
    CHECK(!bad, "%d blocks read the wrong neighbour through map_shared_rank", bad);
    printf("  clusters of 4: each block reads its neighbour's shared memory: %s\n", bad ? "FAIL" : "ok");
    cudaFree(out);
}

static void test_launch_limits(void) {
    (void)cudaGetLastError();
    nothing<<<1, 1025>>>();
    cudaError_t e1 = cudaGetLastError();
    nothing<<<dim3(1, 70000), 32>>>();
    cudaError_t e2 = cudaGetLastError();
    nothing<<<1, 32, 64 << 10>>>();
    cudaError_t e3 = cudaGetLastError();
    cudaFuncSetAttribute(nothing, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 << 10);
    nothing<<<1, 32, 64 << 10>>>();
    cudaError_t e4 = cudaGetLastError();
    CHECK(e1 == cudaErrorInvalidConfiguration && e2 == cudaErrorInvalidConfiguration, "bad shapes gave %d, %d", e1, e2);
    CHECK(e3 == cudaErrorInvalidValue && e4 == cudaSuccess, "64 KiB without / with the opt-in gave %d, %d", e3, e4);
    printf("  launches refused: 1025 threads, grid.y 70000, 64 KiB of shared memory without the opt-in (with it: runs): %s\n",
           e1 == cudaErrorInvalidConfiguration && e2 == cudaErrorInvalidConfiguration && e3 == cudaErrorInvalidValue &&
                   e4 == cudaSuccess
               ? "ok"
               : "FAIL");
}

/* runs f in a child, which must abort with `needle` in what it prints */
static void must_abort(const char *what, void (*f)(void), const char *needle) {
    int fd[2];
    if (pipe(fd) != 0) abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        f();
        _exit(0);
    }
    close(fd[1]);
    char buf[4096] = {0};
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)k;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, needle);
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
    CHECK(ok, "%s: expected an abort saying '%s', got status %d and: %s", what, needle, st, buf);
    printf("  %-44s %s\n    %s\n", what, ok ? "stopped: ok" : "FAIL", buf);
}

static void run_lane_returns(void) { lane_returns<<<1, 32>>>(dev<float>(32)); }
static void run_split_barrier(void) { split_barrier<<<1, 128>>>(dev<float>(128)); }
static void run_deadlock(void) { deadlock<<<1, 32>>>(dev<float>(32)); }
static void run_outside_mask(void) { outside_mask<<<1, 32>>>(dev<int>(32)); }

int main(void) {
    printf("test_cuemu_self: cuemu on kernels of its own\n");
    test_orders();
    test_warp();
    test_mma();
    test_cp_async();
    test_cluster();
    test_launch_limits();
    must_abort("a lane returns before a full-warp shuffle", run_lane_returns, "return");
    must_abort("threads at two different __syncthreads", run_split_barrier, "different __syncthreads");
    must_abort("lane 0 at __syncthreads, lanes 1-31 at __syncwarp", run_deadlock, "a deadlock");
    must_abort("a shuffle reading a lane outside its mask", run_outside_mask, "outside the mask");
    printf(failures ? "test_cuemu_self: %d checks FAILED\n" : "test_cuemu_self: all checks passed\n", failures);
    return failures ? 1 : 0;
}
