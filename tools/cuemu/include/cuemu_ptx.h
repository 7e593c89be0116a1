/* cuemu's versions of cuda/ptx.cuh: ldmatrix, mma.sync m16n8k16 (bf16 in, fp32 accumulate) and
 * cp.async, with the fragment layouts that file states. ldmatrix and mma are warp collectives, as on
 * the hardware (every lane must take part): the last lane to arrive computes all 32 lanes' results.
 * mma sums each output's 16 products in double and adds them to the accumulator once, in fp32. */
#ifndef LT_CUEMU_PTX_H
#define LT_CUEMU_PTX_H

#include "cuemu.h"

static inline float lt_emu_lo(uint32_t w) { return lt_emu_bf16_f((uint16_t)(w & 0xffff)); }
static inline float lt_emu_hi(uint32_t w) { return lt_emu_bf16_f((uint16_t)(w >> 16)); }

/* every lane's four registers from the 32 row addresses (arg: transposed or not) */
static void lt_emu_ldsm_fn(const unsigned char (*in)[64], unsigned char (*out)[16], unsigned, const void *arg) {
    bool trans = arg != NULL;
    const unsigned char *rows[32];
    for (int l = 0; l < 32; l++) memcpy(&rows[l], in[l], sizeof rows[l]);
    for (int l = 0; l < 32; l++)
        for (int j = 0; j < 4; j++) {
            const unsigned char *const *m = rows + 8 * j; /* matrix j: its 8 row addresses */
            uint16_t lo, hi;
            if (!trans) {
                memcpy(&lo, m[l / 4] + 4 * (l % 4), 2);
                memcpy(&hi, m[l / 4] + 4 * (l % 4) + 2, 2);
            } else {
                memcpy(&lo, m[2 * (l % 4)] + 2 * (l / 4), 2);
                memcpy(&hi, m[2 * (l % 4) + 1] + 2 * (l / 4), 2);
            }
            uint32_t r = (uint32_t)lo | (uint32_t)hi << 16;
            memcpy(out[l] + 4 * j, &r, 4);
        }
}
static inline void lt__ldsm4(uint32_t (&r)[4], const void *p, LT_EMU_SITE) {
    lt_emu::warp_collective(0xffffffffu, &p, sizeof p, r, sizeof r, lt_emu_ldsm_fn, NULL, LT_EMU_HERE);
}
static inline void lt__ldsm4t(uint32_t (&r)[4], const void *p, LT_EMU_SITE) {
    lt_emu::warp_collective(0xffffffffu, &p, sizeof p, r, sizeof r, lt_emu_ldsm_fn, (const void *)1, LT_EMU_HERE);
}

/* the warp's A, B and C fragments in, every lane's D fragment out */
struct lt_emu_mma_in {
    uint32_t a[4], b[2];
    float c[4];
};
static void lt_emu_mma_fn(const unsigned char (*in)[64], unsigned char (*out)[16], unsigned, const void *) {
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; l++) {
        int g = l / 4, t = l % 4;
        lt_emu_mma_in f;
        memcpy(&f, in[l], sizeof f);
        A[g][2 * t] = lt_emu_lo(f.a[0]), A[g][2 * t + 1] = lt_emu_hi(f.a[0]);
        A[g + 8][2 * t] = lt_emu_lo(f.a[1]), A[g + 8][2 * t + 1] = lt_emu_hi(f.a[1]);
        A[g][2 * t + 8] = lt_emu_lo(f.a[2]), A[g][2 * t + 9] = lt_emu_hi(f.a[2]);
        A[g + 8][2 * t + 8] = lt_emu_lo(f.a[3]), A[g + 8][2 * t + 9] = lt_emu_hi(f.a[3]);
        B[2 * t][g] = lt_emu_lo(f.b[0]), B[2 * t + 1][g] = lt_emu_hi(f.b[0]);
        B[2 * t + 8][g] = lt_emu_lo(f.b[1]), B[2 * t + 9][g] = lt_emu_hi(f.b[1]);
    }
    for (int l = 0; l < 32; l++) {
        int g = l / 4, t = l % 4;
        lt_emu_mma_in f;
        memcpy(&f, in[l], sizeof f);
        float d[4];
        for (int i = 0; i < 4; i++) {
            int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
            double s = 0;
            for (int k = 0; k < 16; k++) s += (double)A[row][k] * (double)B[k][col];
            d[i] = (float)((double)f.c[i] + s);
        }
        memcpy(out[l], d, sizeof d);
    }
}
static inline void lt__mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, LT_EMU_SITE) {
    lt_emu_mma_in mine = {{a[0], a[1], a[2], a[3]}, {b0, b1}, {c[0], c[1], c[2], c[3]}};
    lt_emu::warp_collective(0xffffffffu, &mine, sizeof mine, c, sizeof c, lt_emu_mma_fn, NULL, LT_EMU_HERE);
}

static inline void lt__cp_async16(void *smem, const void *gmem, bool valid) { lt_emu::cp_async(smem, gmem, 16, valid); }
static inline void lt__cp_async_commit() { lt_emu::cp_commit(); }
template <int N> static inline void lt__cp_async_wait() { lt_emu::cp_wait(N); }

#endif
