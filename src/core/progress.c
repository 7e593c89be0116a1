/* Progress lines: redrawn in place on a terminal, plain and periodic elsewhere. */
#include "longtail/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "longtail/log.h"

const char *lt_human_count(double v, char *buf, int n) {
    static const char suffix[] = " kMGT";
    int i = 0;
    while (v >= 1000.0 && i < 4) v /= 1000.0, i++;
    if (i == 0) snprintf(buf, (size_t)n, "%.0f", v);
    else snprintf(buf, (size_t)n, v < 10 ? "%.2f%c" : v < 100 ? "%.1f%c" : "%.0f%c", v, suffix[i]);
    return buf;
}

static void fmt_time(double s, char *buf, int n) {
    if (s < 0 || s > 1e7) snprintf(buf, (size_t)n, "?");
    else if (s < 60) snprintf(buf, (size_t)n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, (size_t)n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, (size_t)n, "%dh%02dm", (int)s / 3600, ((int)s / 60) % 60);
}

void lt_progress_start(lt_progress *p, const char *label, const char *unit, int64_t total) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->t_start = p->t_last_print = lt_seconds();
    p->out = stderr;
    p->tty = isatty(fileno(stderr));
    p->interval = p->tty ? 0.2 : 10.0;
}

static void print_line(lt_progress *p, int final) {
    double el = lt_seconds() - p->t_start;
    double rate = el > 0 ? (double)p->done / el : 0;
    char d[16], t[16], r[16], e[16], eta[16];
    lt_human_count((double)p->done, d, sizeof d);
    lt_human_count(rate, r, sizeof r);
    fmt_time(el, e, sizeof e);
    char line[256];
    if (p->total > 0) {
        lt_human_count((double)p->total, t, sizeof t);
        fmt_time(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
        snprintf(line, sizeof line, "%s: %s/%s %s (%.1f%%) | %s %s/s | %s elapsed | ETA %s", p->label, d, t,
                 p->unit, 100.0 * (double)p->done / (double)p->total, r, p->unit, e, final ? "0s" : eta);
    } else {
        snprintf(line, sizeof line, "%s: %s %s | %s %s/s | %s elapsed", p->label, d, p->unit, r, p->unit, e);
    }
    if (p->tty) fprintf(p->out, "\r%s\033[K%s", line, final ? "\n" : "");
    else fprintf(p->out, "%s\n", line);
    fflush(p->out);
}

void lt_progress_add(lt_progress *p, int64_t n) {
    p->done += n;
    double now = lt_seconds();
    if (now - p->t_last_print >= p->interval) {
        p->t_last_print = now;
        print_line(p, 0);
    }
}

void lt_progress_end(lt_progress *p) { print_line(p, 1); }
