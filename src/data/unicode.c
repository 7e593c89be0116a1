/* UTF-8 and the generated Unicode tables (src/data/unicode_data.h, from tools/gen_unicode.py). */
#include "data/unicode.h"

#include <stddef.h>

#include "data/unicode_data.h"

int lt_utf8_decode(const uint8_t *s, const uint8_t *end, uint32_t *cp) {
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* Length and the smallest value of each form (to reject overlong ones). */
    int n;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, min = 0x80, c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, min = 0x800, c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (end - s < n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        c = c << 6 | (s[i] & 0x3F);
    }
    if (c < min || c > LT_UNI_MAX || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return n;
}

int lt_utf8_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Index of cp in a sorted key array, or -1. */
static ptrdiff_t find(const uint32_t *keys, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (keys[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && keys[lo] == cp ? (ptrdiff_t)lo : -1;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int lt_uni_lower(uint32_t cp, uint32_t out[2]) {
    if (cp == 0x130) { /* the one unconditional two-character lowercase: i + combining dot */
        out[0] = 0x69, out[1] = 0x307;
        return 2;
    }
    ptrdiff_t i = find(uni_lower_key, COUNT(uni_lower_key), cp);
    out[0] = i < 0 ? cp : uni_lower_val[i];
    return 1;
}

int lt_uni_decomp(uint32_t cp, uint32_t out[4]) {
    /* Hangul syllables decompose arithmetically into two or three jamo. */
    enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, NV = 21, NT = 28 };
    if (cp >= SBASE && cp < SBASE + 19 * NV * NT) {
        uint32_t s = cp - SBASE;
        out[0] = LBASE + s / (NV * NT);
        out[1] = VBASE + s % (NV * NT) / NT;
        if (s % NT == 0) return 2;
        out[2] = TBASE + s % NT;
        return 3;
    }
    ptrdiff_t i = find(uni_decomp_key, COUNT(uni_decomp_key), cp);
    if (i < 0) {
        out[0] = cp;
        return 1;
    }
    int n = uni_decomp_val[i] & 7;
    const uint32_t *d = uni_decomp_pool + (uni_decomp_val[i] >> 3);
    for (int k = 0; k < n; k++) out[k] = d[k];
    return n;
}

int lt_uni_ccc(uint32_t cp) {
    if (!(lt_uni_flags(cp) & LT_UNI_CCC)) return 0;
    ptrdiff_t i = find(uni_ccc_key, COUNT(uni_ccc_key), cp);
    return i < 0 ? 1 : uni_ccc_val[i];
}

uint64_t lt_uni_probe_hash(void) { return LT_UNI_PROBE_FNV1A64; }
