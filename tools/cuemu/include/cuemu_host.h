/* cuemu's host API: the part of the CUDA runtime, cuBLAS(Lt), cub and cooperative groups that
 * longtail calls. Included by cuemu.h. Every call is synchronous; streams and events are tokens. */
#ifndef LT_CUEMU_HOST_H
#define LT_CUEMU_HOST_H

/* ---- runtime ------------------------------------------------------------------------------------ */
enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
};
typedef enum cudaError cudaError_t;
typedef struct lt_emu_stream *cudaStream_t;
typedef struct lt_emu_event *cudaEvent_t;
typedef struct lt_emu_pool *cudaMemPool_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum { cudaStreamNonBlocking = 1 };
enum { cudaEventDisableTiming = 2 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin;
    int major, minor, multiProcessorCount, maxThreadsPerBlock, warpSize;
};

enum cudaLaunchAttributeID { cudaLaunchAttributeClusterDimension = 4 };
struct cudaLaunchAttributeValue {
    struct {
        unsigned x, y, z;
    } clusterDim;
};
struct cudaLaunchAttribute {
    cudaLaunchAttributeID id;
    cudaLaunchAttributeValue val;
};
struct cudaLaunchConfig_t {
    dim3 gridDim, blockDim;
    size_t dynamicSmemBytes;
    cudaStream_t stream;
    cudaLaunchAttribute *attrs;
    unsigned numAttrs;
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s);
cudaError_t cudaFreeAsync(void *p, cudaStream_t s);
cudaError_t cudaMallocHost(void **p, size_t n);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t st = 0);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s = 0);
cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int v, size_t w, size_t h, cudaStream_t s = 0);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int d);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr a, void *v);
template <typename T> static inline cudaError_t cudaMalloc(T **p, size_t n) { return cudaMalloc((void **)p, n); }
template <typename T> static inline cudaError_t cudaMallocAsync(T **p, size_t n, cudaStream_t s) {
    return cudaMallocAsync((void **)p, n, s);
}
template <typename T> static inline cudaError_t cudaMallocHost(T **p, size_t n) { return cudaMallocHost((void **)p, n); }

namespace lt_emu {
cudaError_t func_set_attribute(const void *kernel, cudaFuncAttribute a, int v);
/* clusters of `cluster` blocks of `threads` threads and `smem` bytes that fit on the emulated H200 at once */
int max_active_clusters(unsigned cluster, unsigned threads, size_t smem);
unsigned cluster_of(const cudaLaunchConfig_t *c);
} /* namespace lt_emu */

template <typename K> static inline cudaError_t cudaFuncSetAttribute(K *kernel, cudaFuncAttribute a, int v) {
    return lt_emu::func_set_attribute((const void *)kernel, a, v);
}
template <typename K> static inline cudaError_t cudaOccupancyMaxActiveClusters(int *n, K *, const cudaLaunchConfig_t *c) {
    *n = lt_emu::max_active_clusters(lt_emu::cluster_of(c), c->blockDim.x * c->blockDim.y * c->blockDim.z,
                                      c->dynamicSmemBytes);
    return cudaSuccess;
}
/* cudaLaunchKernelEx(config, kernel, args...), told which host function launches it */
template <typename... P, typename... A>
static inline cudaError_t lt_emu_launch_ex(const char *host, const cudaLaunchConfig_t *c, void (*kernel)(P...), A &&...args) {
    lt_emu::config cfg(c->gridDim, c->blockDim, c->dynamicSmemBytes);
    cfg.cluster = lt_emu::cluster_of(c), cfg.kernel = (const void *)kernel;
    std::tuple<typename std::decay<P>::type...> params(std::forward<A>(args)...);
    auto body = [&]() { std::apply(kernel, params); };
    return (cudaError_t)lt_emu::run(cfg, "(by cudaLaunchKernelEx)", host,
                                    [](const void *ctx) { (*(const decltype(body) *)ctx)(); }, &body);
}
#define cudaLaunchKernelEx(...) lt_emu_launch_ex(__func__, __VA_ARGS__)

/* ---- cooperative groups: clusters ---------------------------------------------------------------- */
namespace cooperative_groups {
struct cluster_group {
    unsigned num_blocks() const { return (unsigned)lt_emu::cluster_blocks(); }
    unsigned block_rank() const { return (unsigned)lt_emu::cur->rank; }
    void sync(LT_EMU_SITE) const { lt_emu::sync_cluster(LT_EMU_HERE); }
    template <typename T> T *map_shared_rank(T *p, int rank) const { return (T *)lt_emu::map_shared(p, rank); }
};
static inline cluster_group this_cluster() { return cluster_group(); }
} /* namespace cooperative_groups */

/* ---- cub: the radix sort longtail uses ------------------------------------------------------------ */
namespace cub {
struct DeviceRadixSort {
    /* stable, by bits [begin, end) of the key, as cub sorts */
    template <typename K, typename V>
    static cudaError_t SortPairs(void *temp, size_t &temp_bytes, const K *kin, K *kout, const V *vin, V *vout, int n,
                                 int begin = 0, int end = (int)sizeof(K) * 8, cudaStream_t = 0) {
        if (!temp) {
            temp_bytes = 16;
            return cudaSuccess;
        }
        typedef typename std::make_unsigned<K>::type U;
        U mask = end - begin >= (int)sizeof(K) * 8 ? (U)~(U)0 : (U)(((U)1 << (end - begin)) - 1);
        struct kv {
            U key;
            K k;
            V v;
        };
        kv *t = (kv *)malloc(sizeof(kv) * (size_t)(n > 0 ? n : 1));
        if (!t) return cudaErrorMemoryAllocation;
        for (int i = 0; i < n; i++) t[i] = kv{(U)((U)kin[i] >> begin & mask), kin[i], vin[i]};
        std::stable_sort(t, t + n, [](const kv &a, const kv &b) { return a.key < b.key; });
        for (int i = 0; i < n; i++) kout[i] = t[i].k, vout[i] = t[i].v;
        free(t);
        return cudaSuccess;
    }
};
} /* namespace cub */

/* ---- cuBLAS and cuBLASLt: the GEMM entry points longtail calls ------------------------------------ */
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_NOT_SUPPORTED = 15 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_16BF = 75, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 } cudaDataType;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
typedef struct lt_emu_blas *cublasHandle_t;
typedef struct lt_emu_blas *cublasLtHandle_t;

typedef struct {
    cublasComputeType_t compute;
    int32_t transa, transb;
} cublasLtMatmulDescOpaque_t;
typedef struct {
    cudaDataType type;
    uint64_t rows, cols;
    int64_t ld, stride;
    int32_t batch;
} cublasLtMatrixLayoutOpaque_t;
typedef struct {
    uint64_t max_workspace;
} cublasLtMatmulPreferenceOpaque_t;
typedef struct {
    uint64_t data[8];
} cublasLtMatmulAlgo_t;
typedef struct {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
} cublasLtMatmulHeuristicResult_t;
typedef cublasLtMatmulDescOpaque_t *cublasLtMatmulDesc_t;
typedef cublasLtMatrixLayoutOpaque_t *cublasLtMatrixLayout_t;
typedef cublasLtMatmulPreferenceOpaque_t *cublasLtMatmulPreference_t;
typedef enum { CUBLASLT_MATMUL_DESC_TRANSA = 3, CUBLASLT_MATMUL_DESC_TRANSB = 4 } cublasLtMatmulDescAttributes_t;
typedef enum { CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6 } cublasLtMatrixLayoutAttribute_t;
typedef enum { CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
               CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
               CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8 } cublasLtMatmulPreferenceAttributes_t;

cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasGetVersion(cublasHandle_t h, int *v);
const char *cublasGetStatusString(cublasStatus_t s);
cublasStatus_t cublasGemmStridedBatchedEx_64(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                             int64_t n, int64_t k, const void *alpha, const void *A, cudaDataType at,
                                             int64_t lda, int64_t sa, const void *B, cudaDataType bt, int64_t ldb,
                                             int64_t sb, const void *beta, void *C, cudaDataType ct, int64_t ldc,
                                             int64_t sc, int64_t batch, cublasComputeType_t compute, cublasGemmAlgo_t algo);
cublasStatus_t cublasLtCreate(cublasLtHandle_t *h);
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h);
cublasStatus_t cublasLtMatmulDescInit(cublasLtMatmulDescOpaque_t *d, cublasComputeType_t compute, cudaDataType scale);
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, const void *v, size_t n);
cublasStatus_t cublasLtMatrixLayoutInit(cublasLtMatrixLayoutOpaque_t *l, cudaDataType t, uint64_t rows, uint64_t cols, int64_t ld);
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a, const void *v, size_t n);
cublasStatus_t cublasLtMatmulPreferenceInit(cublasLtMatmulPreferenceOpaque_t *p);
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t a,
                                                    const void *v, size_t n);
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a,
                                              cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dd,
                                              cublasLtMatmulPreference_t p, int want, cublasLtMatmulHeuristicResult_t *res,
                                              int *found);
cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void *alpha, const void *A,
                              cublasLtMatrixLayout_t la, const void *B, cublasLtMatrixLayout_t lb, const void *beta,
                              const void *C, cublasLtMatrixLayout_t lc, void *D, cublasLtMatrixLayout_t ld,
                              const cublasLtMatmulAlgo_t *algo, void *ws, size_t ws_bytes, cudaStream_t s);

#endif
