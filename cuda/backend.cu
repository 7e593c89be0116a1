/* The CUDA backend: device set-up, stream-ordered memory, copies, sync and the op table.
 * Every op is queued on one non-blocking stream; nothing waits for the device except sync,
 * and copies that touch host memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "cuda_common.cuh"

extern "C" int lt__cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device is an answer (0), not an error */
        return 0;
    }
    return n;
}

int lt__cuda_scratch(lt_backend *be, size_t nbytes, void **ptr) {
    lt_cuda *cu = lt__cu(be);
    if (nbytes > cu->scratch_bytes) {
        if (cu->scratch) LT_CUDA_CHECK(cudaFreeAsync(cu->scratch, cu->stream));
        cu->scratch = NULL;
        cu->scratch_bytes = 0;
        size_t n = nbytes + nbytes / 4; /* some headroom, so slowly growing sizes do not reallocate each call */
        LT_CUDA_CHECK(cudaMallocAsync(&cu->scratch, n, cu->stream));
        cu->scratch_bytes = n;
    }
    *ptr = cu->scratch;
    return 0;
}

/* ---- memory ---------------------------------------------------------------------------------- */

static int cuda_alloc(lt_backend *be, void **ptr, size_t nbytes) {
    cudaError_t e = cudaMallocAsync(ptr, nbytes, lt__cu(be)->stream);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        *ptr = NULL;
        return lt_error(LT_ENOMEM, "cuda: cannot allocate %zu bytes on the device", nbytes);
    }
    LT_CUDA_CHECK(e);
    return 0;
}

static void cuda_free(lt_backend *be, void *ptr) {
    /* stream-ordered: kernels already queued that read ptr still see valid memory */
    if (cudaFreeAsync(ptr, lt__cu(be)->stream) != cudaSuccess) (void)cudaGetLastError();
}

static const char *fault_message(int code) {
    switch (code) {
    case LT_FAULT_EMBEDDING_FWD: return "embedding_fwd: an id is outside [0, vocab)";
    case LT_FAULT_EMBEDDING_BWD: return "embedding_bwd: an id is outside [0, vocab)";
    case LT_FAULT_XENT_FWD: return "xent_fwd: a target is outside [0, vocab) and is not ignore_index";
    case LT_FAULT_XENT_BWD: return "xent_bwd: a target is outside [0, vocab) and is not ignore_index";
    default: return "a kernel reported an unknown fault";
    }
}

/* Wait for the stream, then report what went wrong on the way: a CUDA error, or bad data a
 * kernel met (the status word, copied back in the same trip and reset for the next op). */
static int finish(lt_cuda *cu) {
    LT_CUDA_CHECK(cudaMemcpyAsync(&cu->pinned->status, cu->status, sizeof(int), cudaMemcpyDeviceToHost,
                                  cu->stream));
    LT_CUDA_CHECK(cudaStreamSynchronize(cu->stream));
    int code = cu->pinned->status;
    if (code == LT_FAULT_NONE) return 0;
    cu->pinned->status = 0;
    LT_CUDA_CHECK(cudaMemsetAsync(cu->status, 0, sizeof(int), cu->stream));
    return lt_error(LT_ERANGE, "%s (found at sync)", fault_message(code));
}

static int cuda_memcpy(lt_backend *be, void *dst, lt_device dd, const void *src, lt_device sd, size_t n) {
    lt_cuda *cu = lt__cu(be);
    if (dd == LT_CPU && sd == LT_CPU) {
        memmove(dst, src, n); /* no device memory involved, and no copy into host memory is pending */
        return 0;
    }
    LT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, cu->stream));
    /* The caller may read or reuse the host buffer as soon as we return. */
    return dd == LT_CPU || sd == LT_CPU ? finish(cu) : 0;
}

static int cuda_memset0(lt_backend *be, void *ptr, size_t n) {
    LT_CUDA_CHECK(cudaMemsetAsync(ptr, 0, n, lt__cu(be)->stream));
    return 0;
}

static int cuda_sync(lt_backend *be) { return finish(lt__cu(be)); }

static void destroy(lt_backend *be) {
    lt_cuda *cu = lt__cu(be);
    if (cu->stream) (void)cudaStreamSynchronize(cu->stream);
    lt__cuda_gemm_release(be);
    lt__cuda_rnn_release(be);
    if (cu->scratch) (void)cudaFreeAsync(cu->scratch, cu->stream);
    if (cu->status) (void)cudaFreeAsync(cu->status, cu->stream);
    if (cu->stream) (void)cudaStreamSynchronize(cu->stream);
    if (cu->pinned) (void)cudaFreeHost(cu->pinned);
    if (cu->blaslt) (void)cublasLtDestroy(cu->blaslt);
    if (cu->blas) (void)cublasDestroy(cu->blas);
    if (cu->stream) (void)cudaStreamDestroy(cu->stream);
    (void)cudaGetLastError();
    free(be);
}

static int cuda_host_alloc(lt_backend *be, void **ptr, size_t n) {
    LT_CUDA_CHECK(cudaMallocHost(ptr, n));
    return 0;
}

static void cuda_host_free(lt_backend *be, void *ptr) { (void)cudaFreeHost(ptr); }

/* Filled by name, so the table cannot drift out of order with lt_backend_ops. */
static lt_backend_ops make_ops(void) {
    lt_backend_ops o;
    memset(&o, 0, sizeof o);
    o.alloc = cuda_alloc, o.free = cuda_free, o.memcpy = cuda_memcpy, o.memset0 = cuda_memset0;
    o.sync = cuda_sync, o.release = destroy;
    o.host_alloc = cuda_host_alloc, o.host_free = cuda_host_free;
#define LT_OP(name, params) o.name = lt__cuda_##name;
#include "core/op_list.h"
    return o;
}
static const lt_backend_ops cuda_ops = make_ops();

/* ---- debug mode: LONGTAIL_CUDA_SYNC=1 ----------------------------------------------------------
 * A second op table whose every slot calls the real one, then waits for the stream and checks for
 * a CUDA error or a kernel's fault word. The first fault is reported with the slot's name, its
 * size arguments in the order of backend_impl.h (pointers as '*', NULL as 'NULL') and the tensors
 * the public op checked (lt__arg's trace): "cuda fault after layernorm_fwd(*, *, *, *, *, *, 4096,
 * 768, 1e-05): an illegal memory access ...; op checked: layernorm_fwd: y f32[4096,768]@cuda ...".
 * One template wraps every signature, so no op needs code of its own. */

static void arg_str(char *b, size_t n, const void *p) { snprintf(b, n, "%s", p ? "*" : "NULL"); }
static void arg_str(char *b, size_t n, const lt_gemm_desc *d) {
    if (!d) { snprintf(b, n, "NULL"); return; }
    snprintf(b, n, "{m=%lld n=%lld k=%lld batch=%lld%s%s %s x %s -> %s lda=%lld ldb=%lld ldc=%lld}", (long long)d->m,
             (long long)d->n, (long long)d->k, (long long)d->batch, d->trans_a ? " A^T" : "", d->trans_b ? " B^T" : "",
             lt_dtype_name(d->a_type), lt_dtype_name(d->b_type), lt_dtype_name(d->c_type), (long long)d->lda,
             (long long)d->ldb, (long long)d->ldc);
}
static void arg_str(char *b, size_t n, lt_dtype t) { snprintf(b, n, "%s", lt_dtype_name(t)); }
static void arg_str(char *b, size_t n, double v) { snprintf(b, n, "%g", v); }
static void arg_str(char *b, size_t n, long long v) { snprintf(b, n, "%lld", v); }
template <typename T> static void arg_one(char *b, size_t n, T v) {
    if constexpr (std::is_pointer<T>::value) {
        if constexpr (std::is_same<T, const lt_gemm_desc *>::value) arg_str(b, n, v);
        else arg_str(b, n, (const void *)v);
    } else if constexpr (std::is_same<T, lt_dtype>::value) arg_str(b, n, v);
    else if constexpr (std::is_floating_point<T>::value) arg_str(b, n, (double)v);
    else arg_str(b, n, (long long)v); /* sizes, flags, other enums */
}

/* The op returned rc. A CUDA error it met (LT_ECUDA), or any fault the sync then finds, is reported
 * with the op; other errors (a dtype the backend lacks, ...) pass through unchanged. */
static int sync_check(lt_backend *be, const char *slot, int rc, const char *args) {
    const char *when = rc == LT_ECUDA ? "in" : NULL;
    if (rc >= 0) {
        rc = finish(lt__cu(be));
        when = "after";
    }
    if (rc < 0 && when) {
        char why[1024], full[4096];
        snprintf(why, sizeof why, "%s", lt_last_error());
        snprintf(full, sizeof full, "LONGTAIL_CUDA_SYNC: cuda fault %s %s(%s): %s; op checked: %s", when, slot, args,
                 why, lt__op_trace());
        fprintf(stderr, "longtail: %s\n", full); /* whole, where the error message (1 KiB) may be cut */
        rc = lt_error(rc, "%s", full);
    }
    lt__op_trace_seal();
    return rc;
}

static const lt_backend_ops *real_ops; /* the table the debug one wraps */

template <auto Slot> struct sync_wrap;
template <typename... A, int (*lt_backend_ops::*Slot)(lt_backend *, A...)> struct sync_wrap<Slot> {
    static inline const char *name;
    static int call(lt_backend *be, A... a) {
        int rc = (real_ops->*Slot)(be, a...);
        char args[768] = "", one[256];
        size_t len = 0;
        ((arg_one(one, sizeof one, a),
          len += (size_t)snprintf(args + len, len < sizeof args ? sizeof args - len : 0, "%s%s", len ? ", " : "", one),
          len = len < sizeof args ? len : sizeof args),
         ...);
        return sync_check(be, name, rc, args);
    }
};

static lt_backend_ops make_sync_ops(const lt_backend_ops *real) {
    real_ops = real;
    lt_backend_ops o = *real;
#define LT_WRAP(s) sync_wrap<&lt_backend_ops::s>::name = #s, o.s = sync_wrap<&lt_backend_ops::s>::call;
    LT_WRAP(memcpy) LT_WRAP(memset0) /* the copies too; alloc/free/host memory/sync/release stay as they are */
#define LT_OP(name, params) LT_WRAP(name)
#include "core/op_list.h"
#undef LT_WRAP
    return o;
}
static const lt_backend_ops cuda_sync_ops = make_sync_ops(&cuda_ops);

static int env_sync(void) {
    const char *s = getenv("LONGTAIL_CUDA_SYNC");
    return s && *s && strcmp(s, "0") != 0;
}

/* The backend and its private state in one allocation. */
typedef struct {
    lt_backend be;
    lt_cuda cu;
} cuda_backend;

static int create(cuda_backend *b, int device) {
    lt_cuda *cu = &b->cu;
    cu->device = device;
    LT_CUDA_CHECK(cudaSetDevice(device));
    LT_CUDA_CHECK(cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking));
    LT_CUBLAS_CHECK(cublasCreate(&cu->blas));
    LT_CUBLAS_CHECK(cublasSetStream(cu->blas, cu->stream));
    LT_CUBLAS_CHECK(cublasLtCreate(&cu->blaslt));
    LT_TRY(lt__cuda_gemm_init(&b->be));

    /* Keep freed blocks in the stream-ordered pool instead of returning them to the driver at
     * every sync: alloc/free per step then costs almost nothing. */
    cudaMemPool_t pool;
    LT_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep = UINT64_MAX;
    LT_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));

    LT_CUDA_CHECK(cudaMallocHost((void **)&cu->pinned, sizeof *cu->pinned));
    memset(cu->pinned, 0, sizeof *cu->pinned);
    LT_CUDA_CHECK(cudaMallocAsync((void **)&cu->status, sizeof(int), cu->stream));
    LT_CUDA_CHECK(cudaMemsetAsync(cu->status, 0, sizeof(int), cu->stream));

    cudaDeviceProp prop;
    LT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    cu->sm_count = prop.multiProcessorCount;
    int ver = 0;
    LT_CUBLAS_CHECK(cublasGetVersion(cu->blas, &ver));

    lt_backend *be = &b->be;
    be->name = "cuda";
    be->device = LT_CUDA;
    be->math = LT_MATH_FP32;
    be->ops = &cuda_ops;
    be->impl = cu;
    be->trace = env_sync();
    if (be->trace) be->ops = &cuda_sync_ops;
    snprintf(be->describe, sizeof be->describe, "cuda:%d %.100s, %.1f GiB, sm_%d%d, %d SMs, cuBLAS %d.%d%s", device,
             prop.name, (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor,
             prop.multiProcessorCount, ver / 10000, ver / 100 % 100,
             be->trace ? ", LONGTAIL_CUDA_SYNC=1: synchronised after every op (debug, slow)" : "");
    LT_CUDA_CHECK(cudaStreamSynchronize(cu->stream));
    return 0;
}

extern "C" int lt__cuda_backend_create(lt_backend **out, int device) {
    *out = NULL;
    cuda_backend *b = (cuda_backend *)calloc(1, sizeof *b);
    if (!b) return lt_error(LT_ENOMEM, "cuda: out of host memory");
    b->be.impl = &b->cu; /* destroy() finds the state through impl */
    int rc = create(b, device);
    if (rc < 0) {
        destroy(&b->be);
        return rc;
    }
    *out = &b->be;
    return 0;
}
