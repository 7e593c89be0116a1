/* Shared by the golden tests (test_bert, test_rnn, test_sasrec): the error measure against a
 * PyTorch fixture, and looking up a fixture's tensors. */
#ifndef LONGTAIL_TEST_GOLDEN_H
#define LONGTAIL_TEST_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "longtail/safetensors.h"

/* Worst |got - want| / (|want| + floor), floor = 1e-2 max |want|: fp32 sums leave errors of a few
 * 1e-7 of a tensor's largest entries on every entry, so entries below 1 % of that scale are judged at
 * 1 %. A tensor that is zero in exact math (all |want| <= 1e-10) uses zero_floor instead. */
static inline double golden_rel_err(const float *got, const float *want, int64_t n, double zero_floor) {
    double mx = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
    double floor = mx > 1e-10 ? 1e-2 * mx : zero_floor;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + floor);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* The fixture's tensor `name`; a missing one ends the test program, naming the fixture (`what`). */
static inline const lt_st_tensor *golden_tensor(const lt_safetensors *st, const char *what, const char *name) {
    const lt_st_tensor *t = lt_safetensors_find(st, name);
    if (!t) {
        fprintf(stderr, "%s fixture: %s missing\n", what, name);
        exit(1);
    }
    return t;
}

#endif
