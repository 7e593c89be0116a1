/* Plain SVG plots for the report (eval.h): a frame with data coordinates, linear or log axes,
 * ticks, labels and a legend. Callers draw points and lines themselves with lt__svg_px/py. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/eval.h"
#include "longtail/error.h"

static double tr(double v, int lg) { return lg ? log10(v > 1e-300 ? v : 1e-300) : v; }

double lt__svg_px(const lt_svg *s, double x) {
    double a = tr(s->x0, s->logx), b = tr(s->x1, s->logx);
    return s->left + (tr(x, s->logx) - a) / (b - a) * (s->w - s->left - s->right);
}

double lt__svg_py(const lt_svg *s, double y) {
    double a = tr(s->y0, s->logy), b = tr(s->y1, s->logy);
    return s->h - s->bottom - (tr(y, s->logy) - a) / (b - a) * (s->h - s->top - s->bottom);
}

void lt__svg_text(lt_svg *s, double px, double py, const char *anchor, int size, const char *color, const char *text) {
    fprintf(s->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">", px, py, anchor, size,
            color);
    for (const char *c = text; *c; c++) {
        if (*c == '<') fputs("&lt;", s->f);
        else if (*c == '>') fputs("&gt;", s->f);
        else if (*c == '&') fputs("&amp;", s->f);
        else if (*c == '"') fputs("&quot;", s->f);
        else fputc(*c, s->f);
    }
    fputs("</text>\n", s->f);
}

int lt__svg_open(lt_svg *s, const char *path, double w, double h, const char *title, const char *xlabel,
                 const char *ylabel, double x0, double x1, double y0, double y1, int logx, int logy) {
    memset(s, 0, sizeof *s);
    s->f = fopen(path, "w");
    if (!s->f) return lt_error(LT_EIO, "%s: cannot write", path);
    s->w = w, s->h = h, s->x0 = x0, s->x1 = x1 > x0 ? x1 : x0 + 1, s->y0 = y0, s->y1 = y1 > y0 ? y1 : y0 + 1;
    s->logx = logx, s->logy = logy;
    s->left = 72, s->right = 24, s->top = 40, s->bottom = 52;
    fprintf(s->f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                  "font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            w, h, w, h);
    lt__svg_text(s, w / 2, 24, "middle", 15, "#222", title);
    lt__svg_text(s, (s->left + w - s->right) / 2, h - 12, "middle", 12, "#333", xlabel);
    fprintf(s->f, "<g transform=\"translate(16 %.1f) rotate(-90)\">", (s->top + h - s->bottom) / 2);
    lt__svg_text(s, 0, 0, "middle", 12, "#333", ylabel);
    fputs("</g>\n", s->f);
    fprintf(s->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", s->left,
            s->top, w - s->left - s->right, h - s->top - s->bottom);
    return 0;
}

/* up to ~6 ticks: decades on a log axis, 1/2/5 steps on a linear one */
static int ticks(double a, double b, int lg, double *t) {
    int n = 0;
    if (lg) { /* decades; 2x and 5x too when the axis spans less than three */
        int sub = log10(b / a) < 3;
        for (double e = floor(log10(a)); e <= ceil(log10(b)) && n < 14; e++)
            for (int m = 1; m <= 5; m += sub ? (m == 1 ? 1 : 3) : 5) {
                double v = m * pow(10, e);
                if (v >= a * 0.999 && v <= b * 1.001) t[n++] = v;
            }
        return n;
    }
    double span = b - a, step = pow(10, floor(log10(span / 5)));
    if (span / step > 10) step *= 2;
    if (span / step > 10) step *= 2.5;
    for (double v = ceil(a / step) * step; v <= b + 1e-9 * span && n < 16; v += step) t[n++] = fabs(v) < 1e-12 * span ? 0 : v;
    return n;
}

void lt__svg_axes(lt_svg *s) {
    double t[16];
    char buf[32];
    int n = ticks(s->x0, s->x1, s->logx, t);
    for (int i = 0; i < n; i++) {
        double px = lt__svg_px(s, t[i]);
        fprintf(s->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px, s->top, px,
                s->h - s->bottom);
        snprintf(buf, sizeof buf, "%g", t[i]);
        lt__svg_text(s, px, s->h - s->bottom + 16, "middle", 11, "#555", buf);
    }
    n = ticks(s->y0, s->y1, s->logy, t);
    for (int i = 0; i < n; i++) {
        double py = lt__svg_py(s, t[i]);
        fprintf(s->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", s->left, py,
                s->w - s->right, py);
        snprintf(buf, sizeof buf, "%g", t[i]);
        lt__svg_text(s, s->left - 6, py + 4, "end", 11, "#555", buf);
    }
}

void lt__svg_legend(lt_svg *s, int row, const char *color, const char *label) {
    double x = s->left + 12, y = s->top + 16 + 18 * row;
    fprintf(s->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x, y - 10, color);
    lt__svg_text(s, x + 18, y, "start", 12, "#222", label);
}

int lt__svg_close(lt_svg *s) {
    fputs("</svg>\n", s->f);
    int bad = ferror(s->f);
    bad |= fclose(s->f) != 0;
    s->f = NULL;
    return bad ? lt_error(LT_EIO, "writing an SVG plot failed") : 0;
}
