/* The communicator interface (include/longtail/comm.h): the single-process communicator, the
 * launcher's environment, and the choice of the job's communicator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longtail/backend.h"
#include "longtail/comm.h"
#include "longtail/error.h"
#include "longtail/log.h"

static int single_allreduce(lt_comm *c, float *buf, int64_t n, lt_device dev) {
    (void)c, (void)buf, (void)n, (void)dev; /* one rank: the sum is the buffer itself */
    return 0;
}
static int single_allgather(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all) {
    (void)c;
    if (all != mine) memmove(all, mine, sizeof *all * (size_t)n);
    return 0;
}
static int single_broadcast(lt_comm *c, void *buf, size_t bytes, int root) {
    (void)c, (void)buf, (void)bytes, (void)root;
    return 0;
}
static int single_barrier(lt_comm *c) {
    (void)c;
    return 0;
}

static const lt_comm_ops single_ops = {single_allreduce, NULL, NULL, single_allgather, single_broadcast,
                                       single_barrier, NULL};
static lt_comm single = {"single", 0, 1, &single_ops, NULL};

lt_comm *lt_comm_single(void) { return &single; }

int lt_comm_allreduce(lt_comm *c, lt_tensor *buf) {
    if (!buf || buf->dtype != LT_F32) return lt_error(LT_EDTYPE, "comm %s: all-reduce of a non-f32 buffer", c->name);
    return c->ops->allreduce_sum(c, buf->data, lt_numel(buf), buf->device);
}
int lt_comm_allreduce_start(lt_comm *c, lt_tensor *buf) {
    if (!buf || buf->dtype != LT_F32) return lt_error(LT_EDTYPE, "comm %s: all-reduce of a non-f32 buffer", c->name);
    if (!c->ops->allreduce_start) return c->ops->allreduce_sum(c, buf->data, lt_numel(buf), buf->device);
    return c->ops->allreduce_start(c, buf->data, lt_numel(buf), buf->device);
}
int lt_comm_wait(lt_comm *c) { return c->ops->wait ? c->ops->wait(c) : 0; }
int lt_comm_allgather_i64(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all) {
    return c->ops->allgather_i64(c, mine, n, all);
}
int lt_comm_sum_i64(lt_comm *c, int64_t *v, int n) {
    if (c->size == 1) return 0;
    int64_t *all = malloc(sizeof *all * (size_t)n * (size_t)c->size);
    if (!all) return lt_error(LT_ENOMEM, "comm %s: out of memory", c->name);
    int rc = c->ops->allgather_i64(c, v, n, all);
    for (int i = 0; i < n && !rc; i++) {
        v[i] = 0;
        for (int r = 0; r < c->size; r++) v[i] += all[(int64_t)r * n + i];
    }
    free(all);
    return rc;
}
int lt_comm_broadcast(lt_comm *c, void *buf, size_t bytes, int root) { return c->ops->broadcast(c, buf, bytes, root); }
int lt_comm_barrier(lt_comm *c) { return c->ops->barrier(c); }
void lt_comm_release(lt_comm *c) {
    if (c && c->ops->release) c->ops->release(c);
}

/* ---- the launcher's environment ------------------------------------------------------------------ */

static int env_int(const char *name, int *out) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > 1 << 24) return 0;
    *out = (int)x;
    return 1;
}

void lt_launch_detect(lt_launch *l) {
    *l = (lt_launch){0, 1, 0, "none"};
    static const struct { const char *name, *rank, *size, *local; } envs[] = {
        {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
        {"mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
        {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
    };
    for (size_t i = 0; i < sizeof envs / sizeof *envs; i++) {
        int r, s;
        if (!env_int(envs[i].rank, &r) || !env_int(envs[i].size, &s) || s < 1 || r >= s) continue;
        l->rank = r, l->size = s, l->launcher = envs[i].name;
        if (!env_int(envs[i].local, &l->local_rank)) l->local_rank = 0;
        return;
    }
}

double lt_comm_timeout(void) {
    const char *v = getenv("LONGTAIL_COMM_TIMEOUT");
    double t = v ? atof(v) : 0;
    return t > 0 ? t : 600.0;
}

/* ---- the job's communicator ------------------------------------------------------------------------ */

static lt_comm *world;

const char *lt_comm_built(void) {
#if defined(LONGTAIL_HAVE_MPI) && defined(LONGTAIL_HAVE_NCCL)
    return "single mpi nccl";
#elif defined(LONGTAIL_HAVE_MPI)
    return "single mpi";
#else
    return "single";
#endif
}

int lt_comm_world(lt_comm **out, lt_backend *be) {
    if (world) return *out = world, 0;
    *out = NULL;
    lt_launch l;
    lt_launch_detect(&l);
    /* LONGTAIL_COMM=nccl: NCCL even for one rank (the GPU check runs the NCCL path on one GPU this way) */
    const char *force = getenv("LONGTAIL_COMM");
    int want_nccl = force && !strcmp(force, "nccl"), cuda = be && lt_backend_device(be) == LT_CUDA;
    if (l.size == 1 && !want_nccl) return *out = world = lt_comm_single(), 0;
    if (want_nccl && !cuda) return lt_error(LT_ECONFIG, "LONGTAIL_COMM=nccl: NCCL reduces device buffers; use --device cuda");
#if !defined(LONGTAIL_HAVE_MPI) || !defined(LONGTAIL_HAVE_NCCL)
    if (want_nccl) return lt_error(LT_ENOTSUP, "LONGTAIL_COMM=nccl: this build lacks MPI or NCCL (the unique id travels over MPI)");
#endif
#ifndef LONGTAIL_HAVE_MPI
    return lt_error(LT_ENOTSUP, "this job has %d ranks (launched by %s) but longtail was built without MPI: install "
                    "an MPI (Debian: libopenmpi-dev) and build again", l.size, l.launcher);
#else
    lt_comm *mpi;
    LT_TRY(lt__comm_mpi_open(&mpi, be));
    world = mpi;
    if (cuda && !(force && !strcmp(force, "mpi"))) {
#ifdef LONGTAIL_HAVE_NCCL
        const char *red = getenv("LONGTAIL_NCCL_REDUCE");
        lt_comm *nccl;
        LT_TRY(lt__comm_nccl_open(&nccl, mpi, be, red && !strcmp(red, "bf16")));
        world = nccl;
#else
        if (mpi->rank == 0)
            lt_warn("comm: this build has no NCCL; gradients on the GPU are all-reduced through host memory over MPI");
#endif
    }
    if (world->rank == 0) lt_info("comm: %d ranks (%s), %s", world->size, l.launcher, world->name);
    *out = world;
    return 0;
#endif
}

void lt_comm_world_finish(void) {
    if (world && world != lt_comm_single()) lt_comm_release(world);
    world = NULL;
#ifdef LONGTAIL_HAVE_MPI
    lt__comm_mpi_finalize();
#endif
}

void lt_comm_abort(int code, const char *why) {
    lt_launch l;
    lt_launch_detect(&l);
    if (l.size > 1)
        fprintf(stderr, "longtail: rank %d of %d failed: %s; taking the whole job down\n", l.rank, l.size,
                why && *why ? why : lt_strerror(code));
#ifdef LONGTAIL_HAVE_MPI
    if (lt__comm_mpi_initialized()) lt__comm_mpi_abort(code < 0 ? -code : code ? code : 1);
#endif
}
