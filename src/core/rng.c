/* The sequential host generator: a cursor over one Philox stream. */
#include "longtail/rng.h"

#include <math.h>

void lt_rng_init(lt_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    r->pos = 0;
    r->tag = 0;
}

/* Word pos of the stream, as lt_rng_u32 defines it, computing each Philox block once. */
uint32_t lt_rng_next_u32(lt_rng *r) {
    uint64_t block = r->pos >> 2;
    if (r->tag != block + 1) {
        uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)r->stream, (uint32_t)(r->stream >> 32)};
        uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
        lt_philox4x32(ctr, key, r->cache);
        r->tag = block + 1;
    }
    return r->cache[r->pos++ & 3];
}

uint64_t lt_rng_next_u64(lt_rng *r) {
    uint64_t hi = lt_rng_next_u32(r);
    return (hi << 32) | lt_rng_next_u32(r);
}

float lt_rng_next_uniform(lt_rng *r) { return lt_u32_to_uniform(lt_rng_next_u32(r)); }

double lt_rng_next_double(lt_rng *r) { return (double)(lt_rng_next_u64(r) >> 11) * 0x1.0p-53; }

/* Lemire's nearly-divisionless method: unbiased without a modulo in the common case. */
uint64_t lt_rng_below(lt_rng *r, uint64_t n) {
    if (n <= 0xffffffffu) {
        uint64_t m = (uint64_t)lt_rng_next_u32(r) * n;
        uint32_t lo = (uint32_t)m;
        if (lo < n) {
            uint32_t t = (uint32_t)(-(uint32_t)n) % (uint32_t)n;
            while (lo < t) {
                m = (uint64_t)lt_rng_next_u32(r) * n;
                lo = (uint32_t)m;
            }
        }
        return m >> 32;
    }
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x; /* rare: n above 2^32 */
    do x = lt_rng_next_u64(r);
    while (x >= lim);
    return x % n;
}

float lt_rng_next_normal(lt_rng *r) {
    double u1 = 1.0 - lt_rng_next_double(r); /* (0, 1]: log is finite */
    double u2 = lt_rng_next_double(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void lt_rng_shuffle_i32(lt_rng *r, int32_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)lt_rng_below(r, i);
        int32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
