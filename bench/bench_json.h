/* The benchmarks' JSON: reading the one-line JSON a reference script (bench/kmeans_ref.py, bench/rank_ref.py) prints
 * (a number or a string member of one of its objects), and writing a benchmark's --json file (to FILE.tmp, renamed
 * to FILE when complete, so a crash leaves no half-written file; a figure that was not measured is null). */
#ifndef LONGTAIL_BENCH_JSON_H
#define LONGTAIL_BENCH_JSON_H

#include <math.h>
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

/* the string after "key": inside the object "name" (name NULL: anywhere in the line, as in a flat
 * one-object line) into buf; "" when absent */
static inline void json_str(const char *js, const char *name, const char *key, char *buf, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": {", name ? name : "");
    const char *o = js && name ? strstr(js, pat) : js, *end = !o ? NULL : name ? strchr(o, '}') : o + strlen(o);
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

/* --json FILE: opened as FILE.tmp (name kept in tmp[cap]); bench_json_close renames it to FILE. NULL: perror'd. */
static inline FILE *bench_json_open(const char *path, char *tmp, size_t cap) {
    snprintf(tmp, cap, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) perror(tmp);
    return f;
}

/* close and rename FILE.tmp to FILE: 0, or -1 (perror'd, the temporary removed) */
static inline int bench_json_close(FILE *f, const char *tmp, const char *path) {
    if (!f) return -1;
    int bad = ferror(f);
    bad |= fclose(f);
    if (bad || rename(tmp, path) != 0) {
        perror(bad ? tmp : path);
        remove(tmp);
        return -1;
    }
    return 0;
}

/* a run that failed: no JSON file at all (the temporary removed) */
static inline void bench_json_abort(FILE *f, const char *tmp) {
    if (f) fclose(f), remove(tmp);
}

/* ", \"key\": v" with prec decimals, or ", \"key\": null" when v was not measured (the benchmarks keep
 * -1 for "did not run": anything not > 0 or not finite). gpu-check.sh reads null as "no number". */
static inline void bench_json_meas(FILE *f, const char *key, double v, int prec) {
    if (v > 0 && isfinite(v)) fprintf(f, ", \"%s\": %.*f", key, prec, v);
    else fprintf(f, ", \"%s\": null", key);
}

/* ", \"key\": \"s\"", s escaped (quotes, backslashes; control characters as spaces) */
static inline void bench_json_str(FILE *f, const char *key, const char *s) {
    fprintf(f, ", \"%s\": \"", key);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
    }
    fputc('"', f);
}

#endif
