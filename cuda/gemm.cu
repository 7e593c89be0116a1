/* GEMM on cuBLAS. lt_gemm_desc is row-major; cuBLAS is column-major. A row-major matrix with
 * row stride ld is the same memory as its transpose in column-major with leading dim ld, so
 *   C = op(A) op(B)   (row-major)   <=>   C^T = op(B)^T op(A)^T   (column-major)
 * and we call cuBLAS with the operands swapped and m, n exchanged: no copies, no transposes. */
#include <cuda_bf16.h>

#include "cuda_common.cuh"

static cudaDataType cuda_type(lt_dtype t) { return t == LT_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

/* C[batch][m, n] (row stride ldc, batch stride sc) = beta * C, or 0 where beta == 0 (C is then
 * not read, as BLAS does). The k == 0 case, done here so it never depends on a library's
 * reading of an empty product. */
template <typename T>
__global__ void scale_c_kernel(T *c, int64_t m, int64_t n, int64_t ldc, int64_t sc, int64_t batch, float beta) {
    int64_t total = batch * m * n, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int64_t j = i % n, r = i / n % m, b = i / (m * n);
        T *p = c + b * sc + r * ldc + j;
        *p = (T)(beta == 0.0f ? 0.0f : beta * (float)*p);
    }
}

extern "C" int lt__cuda_gemm(lt_backend *be, const lt_gemm_desc *d) {
    lt_cuda *cu = lt__cu(be);
    if (d->m == 0 || d->n == 0 || d->batch == 0) return 0;
    if (d->k == 0) {
        unsigned blocks = lt__blocks(d->batch * d->m * d->n, 256, (int64_t)cu->sm_count * 16);
        if (d->c_type == LT_BF16)
            scale_c_kernel<<<blocks, 256, 0, cu->stream>>>((__nv_bfloat16 *)d->c, d->m, d->n, d->ldc, d->stride_c,
                                                           d->batch, d->beta);
        else
            scale_c_kernel<<<blocks, 256, 0, cu->stream>>>((float *)d->c, d->m, d->n, d->ldc, d->stride_c,
                                                           d->batch, d->beta);
        LT_LAUNCH_CHECK();
        return 0;
    }
    /* fp32 data may use tensor cores (inputs rounded to tf32 or bf16, fp32 accumulation);
     * bf16 data always accumulates in fp32. */
    cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
    if (d->a_type == LT_F32 && be->math == LT_MATH_TF32) compute = CUBLAS_COMPUTE_32F_FAST_TF32;
    if (d->a_type == LT_F32 && be->math == LT_MATH_BF16) compute = CUBLAS_COMPUTE_32F_FAST_16BF;
    cublasOperation_t op_a = d->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_b = d->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    /* the _64 entry point takes a 64-bit batch count: no chunking of huge batches */
    LT_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(
        cu->blas, op_b, op_a, d->n, d->m, d->k, &d->alpha,
        d->b, cuda_type(d->b_type), d->ldb, d->stride_b,
        d->a, cuda_type(d->a_type), d->lda, d->stride_a, &d->beta,
        d->c, cuda_type(d->c_type), d->ldc, d->stride_c, d->batch, compute, CUBLAS_GEMM_DEFAULT));
    return 0;
}
