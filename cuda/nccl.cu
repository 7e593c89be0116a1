/* The NCCL communicator (include/longtail/comm.h): gradients of a CUDA backend all-reduced on the
 * GPU.
 *
 *  - bootstrap: rank 0 makes the unique id, the MPI communicator broadcasts it, every rank joins
 *    with ncclCommInitRankConfig in non-blocking mode, so a rank that never comes is a timeout,
 *    not a hang; host collectives (all-gather of cursors, broadcasts, barriers) stay on MPI;
 *  - reductions run on a stream of their own: allreduce_start records an event on the compute
 *    stream and makes the NCCL stream wait for it, so a bucket is reduced as soon as the kernels
 *    that wrote it are done, while the backward goes on queuing kernels for the next layers; wait
 *    records an event on the NCCL stream and makes the compute stream wait for it (no host sync
 *    for the ordering), then polls that event with the deadline so a stuck collective fails;
 *  - fp32 reduction by default; bf16 (LONGTAIL_NCCL_REDUCE=bf16) converts each bucket to bf16 in
 *    a scratch buffer, reduces that (half the bytes) and converts the sum back to fp32.
 *
 * Built when CMake finds NCCL next to the CUDA toolkit and MPI (NCCL needs it to bootstrap). */
#include <nccl.h>
#include <stdlib.h>
#include <time.h>

#include "cuda_common.cuh"
#include "longtail/comm.h"
#include "longtail/log.h"

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;   /* the reductions' own stream */
    cudaEvent_t ready, done;
    lt_comm *boot;         /* MPI: the id's broadcast and the host collectives */
    lt_backend *be;
    int bf16;
    __nv_bfloat16 *scratch; /* bf16 buckets in flight */
    int64_t scratch_n, scratch_used;
    int pending;
    double timeout;
} nccl_impl;

/* A collective past the deadline: abort the communicator (its kernels stop) and say so. */
static int nccl_timed_out(lt_comm *c, const char *what) {
    nccl_impl *m = (nccl_impl *)c->impl;
    ncclCommAbort(m->comm);
    m->comm = NULL;
    return lt_error(LT_ETIMEDOUT, "comm nccl: rank %d of %d: %s did not complete in %.0f s: another rank died or hangs "
                    "(LONGTAIL_COMM_TIMEOUT sets the limit)", c->rank, c->size, what, m->timeout);
}

/* A non-blocking communicator's call returns ncclInProgress; wait for it with the deadline. */
static int nccl_settle(lt_comm *c, ncclResult_t r, const char *what) {
    nccl_impl *m = (nccl_impl *)c->impl;
    double t0 = lt_seconds();
    while (r == ncclInProgress) {
        if (lt_seconds() - t0 > m->timeout) return nccl_timed_out(c, what);
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
        ncclCommGetAsyncError(m->comm, &r);
    }
    if (r != ncclSuccess)
        return lt_error(LT_ECOMM, "comm nccl: rank %d of %d: %s failed: %s (%s)", c->rank, c->size, what,
                        ncclGetErrorString(r), ncclGetLastError(m->comm));
    return 0;
}

__global__ void f32_to_bf16(__nv_bfloat16 *dst, const float *src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16(src[i]);
}
__global__ void bf16_to_f32(float *dst, const __nv_bfloat16 *src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

static int nccl_wait(lt_comm *c);

static int nccl_start(lt_comm *c, float *buf, int64_t n, lt_device dev) {
    nccl_impl *m = (nccl_impl *)c->impl;
    if (dev != LT_CUDA) return lt_error(LT_EDEVICE, "comm nccl: rank %d: all-reduce of a host buffer", c->rank);
    if (n == 0) return 0;
    lt_cuda *cu = lt__cu(m->be);
    LT_CUDA_CHECK(cudaEventRecord(m->ready, cu->stream));  /* the kernels that wrote buf ... */
    LT_CUDA_CHECK(cudaStreamWaitEvent(m->stream, m->ready, 0)); /* ... before the reduction */
    if (!m->bf16) {
        LT_TRY(nccl_settle(c, ncclAllReduce(buf, buf, (size_t)n, ncclFloat32, ncclSum, m->comm, m->stream), "all-reduce"));
        m->pending = 1;
        return 0;
    }
    if (m->scratch_used + n > m->scratch_n) { /* room for this bucket: after the ones in flight */
        LT_TRY(nccl_wait(c));
        if (n > m->scratch_n) {
            if (m->scratch) LT_CUDA_CHECK(cudaFree(m->scratch));
            m->scratch = NULL, m->scratch_n = 0; /* a failed cudaMalloc below leaves no stale size behind */
            int64_t cap = n > (int64_t)(16 << 20) ? n : (int64_t)(16 << 20);
            LT_CUDA_CHECK(cudaMalloc((void **)&m->scratch, sizeof *m->scratch * (size_t)cap));
            m->scratch_n = cap;
        }
    }
    __nv_bfloat16 *s = m->scratch + m->scratch_used;
    m->scratch_used += n;
    int blocks = (int)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
    f32_to_bf16<<<blocks, 256, 0, m->stream>>>(s, buf, n);
    LT_CUDA_CHECK(cudaGetLastError());
    LT_TRY(nccl_settle(c, ncclAllReduce(s, s, (size_t)n, ncclBfloat16, ncclSum, m->comm, m->stream), "bf16 all-reduce"));
    bf16_to_f32<<<blocks, 256, 0, m->stream>>>(buf, s, n);
    LT_CUDA_CHECK(cudaGetLastError());
    m->pending = 1;
    return 0;
}

static int nccl_wait(lt_comm *c) {
    nccl_impl *m = (nccl_impl *)c->impl;
    if (!m->pending) return 0;
    lt_cuda *cu = lt__cu(m->be);
    LT_CUDA_CHECK(cudaEventRecord(m->done, m->stream));
    LT_CUDA_CHECK(cudaStreamWaitEvent(cu->stream, m->done, 0)); /* the optimizer runs after the sums */
    double t0 = lt_seconds();
    for (;;) { /* and the host learns of a collective that never completes */
        cudaError_t e = cudaEventQuery(m->done);
        if (e == cudaSuccess) break;
        if (e != cudaErrorNotReady) LT_CUDA_CHECK(e);
        ncclResult_t r;
        ncclCommGetAsyncError(m->comm, &r);
        if (r != ncclSuccess && r != ncclInProgress) LT_TRY(nccl_settle(c, r, "all-reduce"));
        if (lt_seconds() - t0 > m->timeout) return nccl_timed_out(c, "the all-reduce");
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    m->pending = 0, m->scratch_used = 0;
    return 0;
}

static int nccl_allreduce(lt_comm *c, float *buf, int64_t n, lt_device dev) {
    LT_TRY(nccl_start(c, buf, n, dev));
    return nccl_wait(c);
}
static int nccl_allgather(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all) {
    lt_comm *b = ((nccl_impl *)c->impl)->boot;
    return b->ops->allgather_i64(b, mine, n, all);
}
static int nccl_broadcast(lt_comm *c, void *buf, size_t bytes, int root) {
    lt_comm *b = ((nccl_impl *)c->impl)->boot;
    return b->ops->broadcast(b, buf, bytes, root);
}
static int nccl_barrier(lt_comm *c) {
    lt_comm *b = ((nccl_impl *)c->impl)->boot;
    return b->ops->barrier(b);
}

static void nccl_release(lt_comm *c) {
    nccl_impl *m = (nccl_impl *)c->impl;
    if (m->comm) ncclCommDestroy(m->comm);
    if (m->scratch) cudaFree(m->scratch);
    if (m->ready) cudaEventDestroy(m->ready);
    if (m->done) cudaEventDestroy(m->done);
    if (m->stream) cudaStreamDestroy(m->stream);
    lt_comm_release(m->boot);
    free(m);
    free(c);
}

static const lt_comm_ops nccl_ops = {nccl_allreduce, nccl_start,     nccl_wait,    nccl_allgather,
                                     nccl_broadcast, nccl_barrier,   nccl_release};

extern "C" int lt__comm_nccl_open(lt_comm **out, lt_comm *boot, lt_backend *be, int bf16) {
    *out = NULL;
    if (lt_backend_device(be) != LT_CUDA) return lt_error(LT_EDEVICE, "comm nccl: the backend is not a CUDA device");
    lt_comm *c = (lt_comm *)calloc(1, sizeof *c);
    nccl_impl *m = (nccl_impl *)calloc(1, sizeof *m);
    if (!c || !m) return free(c), free(m), lt_error(LT_ENOMEM, "comm nccl: out of memory");
    m->boot = boot, m->be = be, m->bf16 = bf16, m->timeout = lt_comm_timeout();
    c->name = bf16 ? "nccl (bf16 reduction)" : "nccl", c->rank = boot->rank, c->size = boot->size;
    c->ops = &nccl_ops, c->impl = m;
    lt_cuda *cu = lt__cu(be);
    ncclUniqueId id;
    int rc = 0;
    if (boot->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess) rc = lt_error(LT_ECOMM, "comm nccl: ncclGetUniqueId: %s", ncclGetErrorString(r));
    }
    int ok = rc == 0; /* every rank learns whether rank 0 has an id */
    if (boot->ops->broadcast(boot, &ok, sizeof ok, 0) || !ok) rc = rc ? rc : lt_error(LT_ECOMM, "comm nccl: rank 0 has no id");
    if (!rc) rc = boot->ops->broadcast(boot, &id, sizeof id, 0);
    if (!rc && cudaSetDevice(cu->device) != cudaSuccess) rc = lt_error(LT_ECUDA, "comm nccl: cudaSetDevice(%d)", cu->device);
    if (!rc && (cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking) != cudaSuccess ||
                cudaEventCreateWithFlags(&m->ready, cudaEventDisableTiming) != cudaSuccess ||
                cudaEventCreateWithFlags(&m->done, cudaEventDisableTiming) != cudaSuccess))
        rc = lt_error(LT_ECUDA, "comm nccl: cannot create the stream and events");
    if (!rc) {
        ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
        cfg.blocking = 0; /* so that joining can time out */
        ncclResult_t r = ncclCommInitRankConfig(&m->comm, c->size, id, c->rank, &cfg);
        if (r != ncclSuccess && r != ncclInProgress)
            rc = lt_error(LT_ECOMM, "comm nccl: rank %d: ncclCommInitRankConfig: %s", c->rank, ncclGetErrorString(r));
        else
            rc = nccl_settle(c, r, "joining the NCCL communicator");
    }
    if (rc) {
        m->boot = NULL; /* the caller still owns it */
        if (m->comm) ncclCommAbort(m->comm), m->comm = NULL;
        if (m->ready) cudaEventDestroy(m->ready);
        if (m->done) cudaEventDestroy(m->done);
        if (m->stream) cudaStreamDestroy(m->stream);
        free(m), free(c);
        return rc;
    }
    *out = c;
    return 0;
}
