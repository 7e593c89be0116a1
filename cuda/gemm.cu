/* GEMM on cuBLASLt, with cuBLAS as the fallback. lt_gemm_desc is row-major; cuBLAS is
 * column-major. A row-major matrix with row stride ld is the same memory as its transpose in
 * column-major with leading dim ld, so
 *   C = op(A) op(B)   (row-major)   <=>   C^T = op(B)^T op(A)^T   (column-major)
 * and the library gets the operands swapped and m, n exchanged: no copies, no transposes.
 *
 * cuBLASLt needs descriptors and an algorithm per shape. Both are made once per shape (types,
 * strides, math mode and pointer alignment included) and kept in a small table: a training step
 * repeats the same few dozen shapes, and the heuristic query costs far more than the matmul's
 * launch. Shapes Lt declines (no algorithm, a batch count past int32) take cublasGemmStridedBatchedEx,
 * which also covers stride-0 (broadcast) operands; Lt takes those too. */
#include <string.h>

#include "cuda_common.cuh"

#define GEMM_WORKSPACE ((size_t)32 << 20) /* what cuBLASLt may use for split-k and the like */
#define GEMM_PLANS 64

static cudaDataType cuda_type(lt_dtype t) { return t == LT_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

/* One shape's descriptors and algorithm. The key is all int64s, compared with memcmp. */
typedef struct gemm_plan {
    int64_t key[16];
    int used, ok; /* ok: Lt runs this shape; else the cuBLAS path */
    cublasLtMatmulDescOpaque_t desc;
    cublasLtMatrixLayoutOpaque_t la, lb, lc; /* Lt's A (our b), Lt's B (our a), C and D (our c) */
    cublasLtMatmulAlgo_t algo;
} gemm_plan;

struct lt_gemm_plans {
    gemm_plan p[GEMM_PLANS];
    int next; /* the slot a new shape takes when the table is full (round robin) */
};

int lt__cuda_gemm_init(lt_backend *be) {
    lt_cuda *cu = lt__cu(be);
    cu->plans = (struct lt_gemm_plans *)calloc(1, sizeof *cu->plans);
    if (!cu->plans) return lt_error(LT_ENOMEM, "cuda: out of host memory");
    LT_CUDA_CHECK(cudaMalloc(&cu->lt_workspace, GEMM_WORKSPACE));
    return 0;
}

void lt__cuda_gemm_release(lt_backend *be) {
    lt_cuda *cu = lt__cu(be);
    if (cu->lt_workspace) (void)cudaFree(cu->lt_workspace);
    free(cu->plans);
    cu->lt_workspace = NULL, cu->plans = NULL;
}

/* Largest power of two up to 256 dividing the address and the batch stride: what the heuristic
 * must assume of every batch item's pointer. */
static uint32_t align_of(const void *p, int64_t stride_bytes) {
    uint32_t a = 256;
    while (a > 1 && (((uintptr_t)p % a) != 0 || stride_bytes % a != 0)) a >>= 1;
    return a;
}

#define LT_SET(fn, obj, attr, val)                                                                   \
    do {                                                                                             \
        auto lt__v = (val);                                                                          \
        if (fn(obj, attr, &lt__v, sizeof lt__v) != CUBLAS_STATUS_SUCCESS) return 0;                  \
    } while (0)

/* One layout: a stored (column-major) rows x cols matrix, batched. 1 on success. */
static int layout(cublasLtMatrixLayoutOpaque_t *l, lt_dtype t, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                  int64_t stride) {
    if (cublasLtMatrixLayoutInit(l, cuda_type(t), (uint64_t)rows, (uint64_t)cols, ld) != CUBLAS_STATUS_SUCCESS)
        return 0;
    if (batch > 1) {
        LT_SET(cublasLtMatrixLayoutSetAttribute, l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, (int32_t)batch);
        LT_SET(cublasLtMatrixLayoutSetAttribute, l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, (int64_t)stride);
    }
    return 1;
}

/* Fill p for d: 1 when cuBLASLt has an algorithm for it. */
static int plan_make(lt_cuda *cu, gemm_plan *p, const lt_gemm_desc *d, cublasComputeType_t compute,
                     const uint32_t al[3]) {
    if (cublasLtMatmulDescInit(&p->desc, compute, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) return 0;
    LT_SET(cublasLtMatmulDescSetAttribute, &p->desc, CUBLASLT_MATMUL_DESC_TRANSA, (int32_t)(d->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N));
    LT_SET(cublasLtMatmulDescSetAttribute, &p->desc, CUBLASLT_MATMUL_DESC_TRANSB, (int32_t)(d->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N));
    /* stored column-major shapes: our row-major b is [k, n] (or [n, k] transposed) and so on */
    if (!layout(&p->la, d->b_type, d->trans_b ? d->k : d->n, d->trans_b ? d->n : d->k, d->ldb, d->batch, d->stride_b) ||
        !layout(&p->lb, d->a_type, d->trans_a ? d->m : d->k, d->trans_a ? d->k : d->m, d->lda, d->batch, d->stride_a) ||
        !layout(&p->lc, d->c_type, d->n, d->m, d->ldc, d->batch, d->stride_c))
        return 0;
    cublasLtMatmulPreferenceOpaque_t pref;
    if (cublasLtMatmulPreferenceInit(&pref) != CUBLAS_STATUS_SUCCESS) return 0;
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, (uint64_t)GEMM_WORKSPACE);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al[1]);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al[0]);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al[2]);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al[2]);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (cublasLtMatmulAlgoGetHeuristic(cu->blaslt, &p->desc, &p->la, &p->lb, &p->lc, &p->lc, &pref, 1, &res, &found) !=
            CUBLAS_STATUS_SUCCESS ||
        found < 1 || res.workspaceSize > GEMM_WORKSPACE)
        return 0;
    p->algo = res.algo;
    return 1;
}

/* The plan for d, made on first sight of its shape. */
static gemm_plan *plan_for(lt_cuda *cu, const lt_gemm_desc *d, cublasComputeType_t compute) {
    size_t ea = lt_dtype_size(d->a_type), ec = lt_dtype_size(d->c_type);
    const uint32_t al[3] = {align_of(d->a, d->stride_a * (int64_t)ea), align_of(d->b, d->stride_b * (int64_t)ea),
                            align_of(d->c, d->stride_c * (int64_t)ec)};
    int64_t key[16] = {d->trans_a, d->trans_b, d->m, d->n, d->k, d->lda, d->ldb, d->ldc, d->stride_a, d->stride_b,
                       d->stride_c, d->batch, d->a_type, d->c_type, (int64_t)compute,
                       (int64_t)al[0] | (int64_t)al[1] << 16 | (int64_t)al[2] << 32};
    struct lt_gemm_plans *t = cu->plans;
    for (int i = 0; i < GEMM_PLANS; i++)
        if (t->p[i].used && memcmp(t->p[i].key, key, sizeof key) == 0) return &t->p[i];
    gemm_plan *p = &t->p[t->next];
    t->next = (t->next + 1) % GEMM_PLANS;
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, sizeof key);
    p->used = 1;
    p->ok = plan_make(cu, p, d, compute, al);
    return p;
}

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

    if (d->batch <= INT32_MAX) {
        gemm_plan *p = plan_for(cu, d, compute);
        if (p->ok) {
            cublasStatus_t st = cublasLtMatmul(cu->blaslt, &p->desc, &d->alpha, d->b, &p->la, d->a, &p->lb, &d->beta,
                                               d->c, &p->lc, d->c, &p->lc, &p->algo, cu->lt_workspace,
                                               GEMM_WORKSPACE, cu->stream);
            if (st == CUBLAS_STATUS_SUCCESS) return 0;
            if (st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE)
                return lt_error(LT_ECUDA, "%s:%d: cublasLtMatmul: %s", __FILE__, __LINE__, cublasGetStatusString(st));
            p->ok = 0; /* declined after all: this shape takes the cuBLAS path from now on */
        }
    }
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
