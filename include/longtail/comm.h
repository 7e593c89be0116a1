/* Communicators: how the ranks of a data-parallel job talk. The trainer only sees this interface;
 * the single-process communicator is here, MPI (host buffers) and NCCL (device buffers) plug in
 * behind the same table. Every call is collective: all ranks make it, in the same order. */
#ifndef LONGTAIL_COMM_H
#define LONGTAIL_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_comm lt_comm;

typedef struct lt_comm_ops {
    /* buf[n] on device dev = its sum over all ranks, in place */
    int (*allreduce_sum)(lt_comm *c, float *buf, int64_t n, lt_device dev);
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

int lt_comm_allreduce(lt_comm *c, lt_tensor *buf); /* sum in place, f32 */
int lt_comm_allgather_i64(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all);
int lt_comm_broadcast(lt_comm *c, void *buf, size_t bytes, int root);
int lt_comm_barrier(lt_comm *c);
void lt_comm_release(lt_comm *c);

#ifdef __cplusplus
}
#endif
#endif
