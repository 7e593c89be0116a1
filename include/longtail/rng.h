/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
 * The n-th number of a stream is a pure function of (seed, stream, n), so a CUDA thread and a
 * CPU loop that ask for the same index get the same bits, and any position can be reached
 * without generating the ones before it (resume from a checkpoint = remember one counter).
 * Header-only so the CUDA kernels use exactly this code. */
#ifndef LONGTAIL_RNG_H
#define LONGTAIL_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define LT_HD __host__ __device__ __forceinline__
#else
#define LT_HD static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

LT_HD void lt_philox4x32(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The i-th 32-bit word of stream `stream` under `seed`. */
LT_HD uint32_t lt_rng_u32(uint64_t seed, uint64_t stream, uint64_t i) {
    uint64_t block = i >> 2;
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    lt_philox4x32(ctr, key, out);
    return out[i & 3];
}

/* Uniform in [0, 1) with 24 random bits: exact in fp32, identical on every device. */
LT_HD float lt_u32_to_uniform(uint32_t u) { return (float)(u >> 8) * (1.0f / 16777216.0f); }

LT_HD float lt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    return lt_u32_to_uniform(lt_rng_u32(seed, stream, i));
}

#ifdef __cplusplus
}
#endif

#ifndef __CUDACC__
/* A sequential host generator over one stream, for shuffling, sampling and initialisation. */
#include <stddef.h>
typedef struct lt_rng {
    uint64_t seed, stream, pos; /* pos = index of the next word: save it to resume */
    uint64_t tag;               /* 1 + the Philox block held in cache (0: none) */
    uint32_t cache[4];          /* one Philox call gives four words */
} lt_rng;

void lt_rng_init(lt_rng *r, uint64_t seed, uint64_t stream);
uint32_t lt_rng_next_u32(lt_rng *r);
uint64_t lt_rng_next_u64(lt_rng *r);
float lt_rng_next_uniform(lt_rng *r);  /* [0, 1) */
double lt_rng_next_double(lt_rng *r);  /* [0, 1), 53 bits */
uint64_t lt_rng_below(lt_rng *r, uint64_t n); /* uniform in [0, n), unbiased; n >= 1 */
float lt_rng_next_normal(lt_rng *r);   /* standard normal (Box-Muller) */
void lt_rng_shuffle_i32(lt_rng *r, int32_t *a, size_t n); /* Fisher-Yates */
#endif

#endif
