/* A bump allocator over one backend buffer: the activations of a forward/backward pass are
 * carved from it and released together with lt_arena_reset(), so a training step allocates
 * nothing (fresh allocations of large buffers cost page faults on the CPU and syncs on CUDA). */
#ifndef LONGTAIL_ARENA_H
#define LONGTAIL_ARENA_H

#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_arena {
    lt_backend *be;
    char *base;
    size_t cap, used, peak;
} lt_arena;

int lt_arena_init(lt_arena *a, lt_backend *be, size_t capacity);
void lt_arena_free(lt_arena *a);
/* A tensor from the arena (64-byte aligned, contents undefined). LT_ENOMEM names the sizes. */
int lt_arena_tensor(lt_arena *a, lt_tensor *out, lt_dtype dtype, int ndim, const int64_t *shape);
void lt_arena_reset(lt_arena *a);

#ifdef __cplusplus
}
#endif
#endif
