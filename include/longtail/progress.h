/* Progress of long work. On a terminal: one line redrawn in place with count, rate and ETA.
 * Otherwise (logs, CI): a plain line every `interval` seconds and one at the end. */
#ifndef LONGTAIL_PROGRESS_H
#define LONGTAIL_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_progress {
    const char *label; /* "embed" */
    const char *unit;  /* "items" */
    int64_t total;     /* 0 if unknown */
    int64_t done;
    double t_start, t_last_print, interval;
    int tty;           /* redraw in place */
    FILE *out;
} lt_progress;

void lt_progress_start(lt_progress *p, const char *label, const char *unit, int64_t total);
/* Add n units done; prints when due. */
void lt_progress_add(lt_progress *p, int64_t n);
/* Final line (always printed). */
void lt_progress_end(lt_progress *p);
/* "1.2k", "3.4M": human-readable count into buf. */
const char *lt_human_count(double v, char *buf, int n);

#ifdef __cplusplus
}
#endif
#endif
