/* Communicators: how the ranks of a data-parallel job talk. The trainer only sees this interface:
 *
 *   single  one rank: nothing to talk to (src/train/comm.c)
 *   mpi     host buffers, MPI_Allreduce and friends, for CPU ranks (src/train/comm_mpi.c)
 *   nccl    device buffers: gradients reduced by NCCL on a stream of its own, ordered after the
 *           compute stream by events; the unique id broadcast over MPI (cuda/nccl.cu)
 *
 * lt_comm_world picks one: one rank needs neither; several ranks use NCCL when the backend is a
 * CUDA device and the build has NCCL, else MPI. Every call is collective: all ranks make it, in the
 * same order. No call waits forever: a collective that has not completed within the timeout
 * (LONGTAIL_COMM_TIMEOUT seconds, default 600) fails with LT_ETIMEDOUT naming the rank and the
 * call, and lt_comm_abort then takes the whole job down. */
#ifndef LONGTAIL_COMM_H
#define LONGTAIL_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_comm lt_comm;

typedef struct lt_comm_ops {
    /* buf[n] on device dev = its sum over all ranks, in place */
    int (*allreduce_sum)(lt_comm *c, float *buf, int64_t n, lt_device dev);
    /* The same, started and not waited for (NULL: allreduce_sum, done at once). The buffer must
     * not be touched until wait returns; buckets started one after another complete in order. */
    int (*allreduce_start)(lt_comm *c, float *buf, int64_t n, lt_device dev);
    /* Every started all-reduce is complete and visible to the backend's next op (NULL: nothing). */
    int (*wait)(lt_comm *c);
    /* all[rank * n .. rank * n + n - 1] = mine[0 .. n - 1] of every rank (host memory) */
    int (*allgather_i64)(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all);
    /* root's buf (host memory, bytes) to every rank */
    int (*broadcast)(lt_comm *c, void *buf, size_t bytes, int root);
    int (*barrier)(lt_comm *c);
    void (*release)(lt_comm *c);
} lt_comm_ops;

struct lt_comm {
    const char *name; /* "single", "mpi", "nccl" */
    int rank, size;
    const lt_comm_ops *ops;
    void *impl;
};

/* The process-wide single-process communicator: rank 0 of 1; the all-reduce leaves the buffer as
 * it is, the all-gather copies, broadcast and barrier do nothing. */
lt_comm *lt_comm_single(void);

/* Where the launcher put this process, from its environment: OpenMPI (OMPI_COMM_WORLD_*), Slurm
 * (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID), MPICH/Hydra (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID).
 * Rank 0 of 1 when nothing says otherwise. local_rank picks the GPU (lt_cli_backend). */
typedef struct lt_launch {
    int rank, size, local_rank;
    const char *launcher; /* "openmpi", "slurm", "mpich" or "none" */
} lt_launch;
void lt_launch_detect(lt_launch *l);

/* The job's communicator, opened on the first call (later calls return the same one; be is only
 * looked at then): single when the job has one rank; NCCL when it has more and be is a CUDA
 * device of a build with NCCL (LONGTAIL_COMM=mpi forces MPI); else MPI. Several ranks in a build
 * without MPI is an error that says so. */
int lt_comm_world(lt_comm **out, lt_backend *be);
/* Release the job's communicator (MPI_Finalize): main calls it on a normal exit. */
void lt_comm_world_finish(void);
/* "single", "mpi" or "mpi nccl": the communicators this build has. */
const char *lt_comm_built(void);
/* A rank failed: print why, naming the rank, and take the whole job down (MPI_Abort) so that no
 * other rank waits for it. Returns only when the job is not an MPI job. */
void lt_comm_abort(int code, const char *why);
/* Seconds a collective may take before it fails (LONGTAIL_COMM_TIMEOUT, default 600). */
double lt_comm_timeout(void);

/* Constructors behind lt_comm_world (internal; NULL/LT_ENOTSUP when not built). */
int lt__comm_mpi_open(lt_comm **out, lt_backend *be); /* be: device buffers staged through the host */
void lt__comm_mpi_abort(int code);
int lt__comm_mpi_initialized(void);
void lt__comm_mpi_finalize(void);
/* The NCCL communicator of a CUDA backend, bootstrapped over `boot` (the MPI one, which it keeps
 * for host collectives). bf16: reduce gradients in bf16 (half the bytes, fp32 everywhere else). */
int lt__comm_nccl_open(lt_comm **out, lt_comm *boot, lt_backend *be, int bf16);

int lt_comm_allreduce(lt_comm *c, lt_tensor *buf); /* sum in place, f32 */
int lt_comm_allreduce_start(lt_comm *c, lt_tensor *buf); /* the same, not waited for */
int lt_comm_wait(lt_comm *c);                            /* every started one done */
/* The sum over ranks of a few host integers, in place (through the all-gather: any communicator). */
int lt_comm_sum_i64(lt_comm *c, int64_t *v, int n);
int lt_comm_allgather_i64(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all);
int lt_comm_broadcast(lt_comm *c, void *buf, size_t bytes, int root);
int lt_comm_barrier(lt_comm *c);
void lt_comm_release(lt_comm *c);

#ifdef __cplusplus
}
#endif
#endif
