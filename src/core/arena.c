/* Bump allocation of tensors from one backend buffer. */
#include "longtail/arena.h"

#include "longtail/backend.h"
#include "longtail/error.h"

int lt_arena_init(lt_arena *a, lt_backend *be, size_t capacity) {
    a->be = be;
    a->cap = capacity;
    a->used = a->peak = 0;
    a->base = NULL;
    return lt_backend_alloc(be, (void **)&a->base, capacity);
}

void lt_arena_free(lt_arena *a) {
    if (a->base) lt_backend_free(a->be, a->base);
    a->base = NULL;
    a->cap = a->used = 0;
}

int lt_arena_tensor(lt_arena *a, lt_tensor *out, lt_dtype dtype, int ndim, const int64_t *shape) {
    lt_tensor t = lt_view(NULL, dtype, lt_backend_device(a->be), ndim, shape);
    size_t n = (lt_nbytes(&t) + 63) & ~(size_t)63;
    if (a->used + n > a->cap)
        return lt_error(LT_ENOMEM, "arena: need %zu more bytes, %zu of %zu in use", n, a->used, a->cap);
    t.data = a->base + a->used;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    *out = t;
    return 0;
}

void lt_arena_reset(lt_arena *a) { a->used = 0; }
