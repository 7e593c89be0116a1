/* The inline-PTX building blocks of the tensor-core kernels (attention.cu, kmeans.cu): ldmatrix,
 * mma.sync m16n8k16 in bf16 with fp32 accumulation, and cp.async. Fragment layouts (PTX ISA), lane =
 * 4 g + t: A (16 x 16, row-major) a[0] = (row g, cols 2t, 2t+1), a[1] = (row g+8, same cols),
 * a[2] = (row g, cols 2t+8, 2t+9), a[3] = (row g+8, cols 2t+8, 2t+9); B (16 x 8, k x n) b0 = (k 2t,
 * 2t+1; col g), b1 = (k 2t+8, 2t+9; col g); C and D (16 x 8) c[0], c[1] = (row g, cols 2t, 2t+1),
 * c[2], c[3] = (row g+8, same cols). The lower column (or k) of a pair is the low half of its word.
 * cuemu (tools/cuemu) has its own versions of these, which run the same layouts on the CPU. */
#ifndef LONGTAIL_CUDA_PTX_CUH
#define LONGTAIL_CUDA_PTX_CUH

#include <stdint.h>

#ifdef LT_CUDA_EMU
#include "cuemu_ptx.h"
#else

__device__ __forceinline__ uint32_t lt__smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* four 8x8 b16 matrices from shared memory; lane l gives the address of row l % 8 of matrix l / 8,
 * and r[j] gets (row l / 4, cols 2 (l % 4), +1) of matrix j */
__device__ __forceinline__ void lt__ldsm4(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(lt__smem_u32(p))
                 : "memory");
}
/* the same, each matrix transposed: r[j] gets (rows 2 (l % 4), +1; col l / 4) of matrix j */
__device__ __forceinline__ void lt__ldsm4t(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(lt__smem_u32(p))
                 : "memory");
}

/* c += a b (16x16 bf16 times 16x8 bf16, fp32 accumulate) */
__device__ __forceinline__ void lt__mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* 16 bytes global -> shared without the registers; valid == false fills the 16 bytes with zeros
 * and reads nothing. The copies of a thread land by group: commit closes a group, wait<N> returns
 * once at most the N newest groups are still in flight. */
__device__ __forceinline__ void lt__cp_async16(void *smem, const void *gmem, bool valid) {
    int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(lt__smem_u32(smem)), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void lt__cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void lt__cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

#endif
#endif
