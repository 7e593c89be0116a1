/* Reading the one-line JSON a reference script (bench/kmeans_ref.py, bench/rank_ref.py) prints: a number or a string member
 * of one of its objects. Shared by the benchmarks that run a reference beside longtail. */
#ifndef LONGTAIL_BENCH_JSON_H
#define LONGTAIL_BENCH_JSON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the number after "key": inside the object "name" of the script's one-line JSON */
static inline int json_num(const char *js, const char *name, const char *key, double *v) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": {", name);
    const char *o = js ? strstr(js, pat) : NULL, *end = o ? strchr(o, '}') : NULL;
    if (!o || !end) return -1;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *k = strstr(o, pat);
    if (!k || k > end) return -1;
    *v = strtod(k + strlen(pat), NULL);
    return 0;
}

static inline void json_str(const char *js, const char *name, const char *key, char *buf, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": {", name);
    const char *o = js ? strstr(js, pat) : NULL, *end = o ? strchr(o, '}') : NULL;
    buf[0] = 0;
    if (!o || !end) return;
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *k = strstr(o, pat);
    if (!k || k > end) return;
    k += strlen(pat);
    size_t n = 0;
    while (k[n] && k[n] != '"' && n + 1 < cap) n++;
    memcpy(buf, k, n), buf[n] = 0;
}

#endif
