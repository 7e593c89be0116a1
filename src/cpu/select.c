/* Per-row top-k on the CPU: a k-element min-heap per row (O(N log k)), then a final sort. */
#include <math.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "longtail/error.h"

/* "a ranks above b": larger value first, then lower index; NaN below everything. */
static inline int above(float a, int32_t ia, float b, int32_t ib) {
    if (isnan(a)) return isnan(b) && ia < ib;
    if (isnan(b)) return 1;
    return a > b || (a == b && ia < ib);
}

/* The heap keeps the k best seen so far with the lowest-ranked at h[0]. */
static void sift_down(float *hv, int32_t *hi, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && above(hv[w], hi[w], hv[l], hi[l])) w = l;
        if (r < k && above(hv[w], hi[w], hv[r], hi[r])) w = r;
        if (w == i) return;
        float tv = hv[i]; hv[i] = hv[w]; hv[w] = tv;
        int32_t ti = hi[i]; hi[i] = hi[w]; hi[w] = ti;
        i = w;
    }
}

int lt__cpu_topk(lt_backend *be, float *vals, int32_t *idx, const float *x, int64_t rows,
                 int64_t cols, int k) {
#pragma omp parallel for schedule(dynamic, 4) if (rows * cols >= LT_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *hv = vals + r * k;
        int32_t *hi = idx + r * k;
        for (int j = 0; j < k; j++) hv[j] = xr[j], hi[j] = j;
        for (int j = k / 2 - 1; j >= 0; j--) sift_down(hv, hi, k, j);
        for (int64_t j = k; j < cols; j++)
            if (above(xr[j], (int32_t)j, hv[0], hi[0])) {
                hv[0] = xr[j], hi[0] = (int32_t)j;
                sift_down(hv, hi, k, 0);
            }
        /* heap sort: repeatedly move the lowest-ranked to the end -> descending order */
        for (int n = k - 1; n > 0; n--) {
            float tv = hv[0]; hv[0] = hv[n]; hv[n] = tv;
            int32_t ti = hi[0]; hi[0] = hi[n]; hi[n] = ti;
            sift_down(hv, hi, n, 0);
        }
    }
    return 0;
}
