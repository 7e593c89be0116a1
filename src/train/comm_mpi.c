/* The MPI communicator (include/longtail/comm.h): host buffers, MPI_COMM_WORLD.
 *
 * Every collective is started non-blocking (MPI_Iallreduce, ...) and waited for by polling with a
 * deadline, so a rank that died or hangs makes the others fail with a message naming the call
 * instead of waiting forever; the caller then takes the job down with lt_comm_abort. The poll
 * sleeps between tests (from 20 us up to 1 ms), which keeps a waiting rank from spinning a core
 * that another rank on an oversubscribed machine needs. Built only when CMake finds MPI. */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "longtail/backend.h"
#include "longtail/comm.h"
#include "longtail/error.h"
#include "longtail/log.h"

typedef struct {
    double timeout;
    lt_backend *be; /* whose device buffers may come (NULL: host only) */
    float *host;    /* staging for device buffers (CUDA ranks without NCCL) */
    int64_t host_n;
} mpi_impl;

static int we_initialized;

/* Wait for req with the communicator's deadline. */
static int wait_req(lt_comm *c, MPI_Request *req, const char *what) {
    mpi_impl *m = c->impl;
    double t0 = lt_seconds();
    long sleep_ns = 20000;
    for (;;) {
        int done = 0, e = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (e != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING];
            int len = 0;
            MPI_Error_string(e, msg, &len);
            return lt_error(LT_ECOMM, "comm mpi: rank %d of %d: %s failed: %s", c->rank, c->size, what, msg);
        }
        if (done) return 0;
        if (lt_seconds() - t0 > m->timeout)
            return lt_error(LT_ETIMEDOUT, "comm mpi: rank %d of %d: %s did not complete in %.0f s: another rank died or "
                            "hangs (LONGTAIL_COMM_TIMEOUT sets the limit)", c->rank, c->size, what, m->timeout);
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000) sleep_ns *= 2;
    }
}

/* A sum of n floats of host memory in pieces that fit MPI's int counts. */
static int host_allreduce(lt_comm *c, float *buf, int64_t n) {
    for (int64_t at = 0; at < n; at += INT_MAX / 2) {
        int k = (int)(n - at < INT_MAX / 2 ? n - at : INT_MAX / 2);
        MPI_Request req;
        if (MPI_Iallreduce(MPI_IN_PLACE, buf + at, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
            return lt_error(LT_ECOMM, "comm mpi: rank %d: MPI_Iallreduce of %d floats failed", c->rank, k);
        LT_TRY(wait_req(c, &req, "all-reduce"));
    }
    return 0;
}

static int mpi_allreduce(lt_comm *c, float *buf, int64_t n, lt_device dev) {
    if (dev == LT_CPU) return host_allreduce(c, buf, n);
    /* a device buffer without NCCL: through host memory (correct, not fast) */
    mpi_impl *m = c->impl;
    if (n > m->host_n) {
        float *h = realloc(m->host, sizeof *h * (size_t)n);
        if (!h) return lt_error(LT_ENOMEM, "comm mpi: out of memory for a %lld-float staging buffer", (long long)n);
        m->host = h, m->host_n = n;
    }
    lt_backend *be = m->be;
    if (!be || lt_backend_device(be) != dev) return lt_error(LT_EDEVICE, "comm mpi: a device buffer of another backend");
    LT_TRY(lt_backend_memcpy(be, m->host, LT_CPU, buf, dev, sizeof(float) * (size_t)n));
    LT_TRY(host_allreduce(c, m->host, n));
    return lt_backend_memcpy(be, buf, dev, m->host, LT_CPU, sizeof(float) * (size_t)n);
}

static int mpi_allgather(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all) {
    if (n > INT_MAX / c->size) return lt_error(LT_ERANGE, "comm mpi: an all-gather of %lld values", (long long)n);
    MPI_Request req;
    if (MPI_Iallgather(mine, (int)n, MPI_INT64_T, all, (int)n, MPI_INT64_T, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
        return lt_error(LT_ECOMM, "comm mpi: rank %d: MPI_Iallgather failed", c->rank);
    return wait_req(c, &req, "all-gather");
}

static int mpi_broadcast(lt_comm *c, void *buf, size_t bytes, int root) {
    for (size_t at = 0; at < bytes || (bytes == 0 && at == 0); at += INT_MAX / 2) {
        int k = (int)(bytes - at < (size_t)INT_MAX / 2 ? bytes - at : (size_t)INT_MAX / 2);
        MPI_Request req;
        if (MPI_Ibcast((char *)buf + at, k, MPI_BYTE, root, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
            return lt_error(LT_ECOMM, "comm mpi: rank %d: MPI_Ibcast failed", c->rank);
        LT_TRY(wait_req(c, &req, "broadcast"));
        if (bytes == 0) break;
    }
    return 0;
}

static int mpi_barrier(lt_comm *c) {
    MPI_Request req;
    if (MPI_Ibarrier(MPI_COMM_WORLD, &req) != MPI_SUCCESS)
        return lt_error(LT_ECOMM, "comm mpi: rank %d: MPI_Ibarrier failed", c->rank);
    return wait_req(c, &req, "barrier");
}

static void mpi_release(lt_comm *c) {
    mpi_impl *m = c->impl;
    free(m->host);
    free(m);
    free(c);
}

static const lt_comm_ops mpi_ops = {mpi_allreduce, NULL, NULL, mpi_allgather, mpi_broadcast, mpi_barrier, mpi_release};

int lt__comm_mpi_open(lt_comm **out, lt_backend *be) {
    *out = NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return lt_error(LT_ECOMM, "comm mpi: MPI_Init_thread failed");
        we_initialized = 1;
    }
    /* errors come back as codes (then lt_comm_abort), not as MPI's own abort without a word */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    lt_comm *c = calloc(1, sizeof *c);
    mpi_impl *m = calloc(1, sizeof *m);
    if (!c || !m) return free(c), free(m), lt_error(LT_ENOMEM, "comm mpi: out of memory");
    m->timeout = lt_comm_timeout(), m->be = be;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->name = "mpi", c->ops = &mpi_ops, c->impl = m;
    *out = c;
    return 0;
}

int lt__comm_mpi_initialized(void) {
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    return inited && !finalized;
}

void lt__comm_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void lt__comm_mpi_finalize(void) {
    if (we_initialized && lt__comm_mpi_initialized()) MPI_Finalize();
    we_initialized = 0;
}
