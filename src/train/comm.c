/* The communicator interface (include/longtail/comm.h) and its single-process implementation. */
#include <string.h>

#include "longtail/comm.h"
#include "longtail/error.h"

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

static const lt_comm_ops single_ops = {single_allreduce, single_allgather, single_broadcast, single_barrier, NULL};
static lt_comm single = {"single", 0, 1, &single_ops, NULL};

lt_comm *lt_comm_single(void) { return &single; }

int lt_comm_allreduce(lt_comm *c, lt_tensor *buf) {
    if (!buf || buf->dtype != LT_F32) return lt_error(LT_EDTYPE, "comm %s: all-reduce of a non-f32 buffer", c->name);
    return c->ops->allreduce_sum(c, buf->data, lt_numel(buf), buf->device);
}
int lt_comm_allgather_i64(lt_comm *c, const int64_t *mine, int64_t n, int64_t *all) {
    return c->ops->allgather_i64(c, mine, n, all);
}
int lt_comm_broadcast(lt_comm *c, void *buf, size_t bytes, int root) { return c->ops->broadcast(c, buf, bytes, root); }
int lt_comm_barrier(lt_comm *c) { return c->ops->barrier(c); }
void lt_comm_release(lt_comm *c) {
    if (c && c->ops->release) c->ops->release(c);
}
