/* Helpers shared by src/eval/: the small dense linear algebra PCA and t-SNE need (in double, on
 * the host: the matrices are d x d at most), and SVG drawing for the report. Internal. */
#ifndef LONGTAIL_EVAL_H
#define LONGTAIL_EVAL_H

#include <stdint.h>
#include <stdio.h>

/* Eigen-decomposition of the symmetric n x n matrix a (row-major, destroyed) by cyclic Jacobi
 * rotations: evals[n] descending, evecs[n, n] with eigenvector i in row i. */
int lt__eig_sym(double *a, int64_t n, double *evals, double *evecs);
/* Orthonormalise the l rows of q[l, d] in place (modified Gram-Schmidt, twice for stability);
 * a row that collapses is replaced by a fresh direction orthogonal to the previous ones. */
void lt__orthonormalize_rows(double *q, int64_t l, int64_t d);
/* Flip v[d] so that its entry of largest magnitude is positive (the first of equal ones). */
void lt__fix_sign(double *v, int64_t d);
/* Solve A x = b for the symmetric positive definite A[n, n] (destroyed) by Cholesky; x in b.
 * -1 when A is not positive definite (nothing else is reported). */
int lt__chol_solve(double *A, double *b, int64_t n);

/* ---- SVG ---------------------------------------------------------------------------------------- */

typedef struct lt_svg {
    FILE *f;
    double w, h;         /* canvas */
    double x0, x1, y0, y1; /* data range of the plot area */
    double left, right, top, bottom; /* plot area in pixels */
    int logx, logy;
} lt_svg;

/* Open path and draw the frame, the title and axis labels; data coordinates map into the frame
 * (log10 when logx/logy). */
int lt__svg_open(lt_svg *s, const char *path, double w, double h, const char *title, const char *xlabel,
                 const char *ylabel, double x0, double x1, double y0, double y1, int logx, int logy);
double lt__svg_px(const lt_svg *s, double x);
double lt__svg_py(const lt_svg *s, double y);
/* Ticks and their labels on both axes (decades on log axes). */
void lt__svg_axes(lt_svg *s);
/* Text with XML special characters escaped. */
void lt__svg_text(lt_svg *s, double px, double py, const char *anchor, int size, const char *color, const char *text);
void lt__svg_legend(lt_svg *s, int row, const char *color, const char *label);
int lt__svg_close(lt_svg *s);

#endif

/* ---- the report of longtail cluster (report.c) ------------------------------------------------------ */

#include "longtail/cluster.h"

typedef struct lt__report_in {
    const char *out, *data, *emb, *emb_model, *backend;
    const lt_cluster_opts *opts;
    const lt_kmeans_result *km;
    const lt_cluster_stat *stats;
    const lt_popularity *pop;  /* NULL without events */
    const lt_catalog *cat;     /* NULL without a catalog */
    int64_t n_users, emb_dim;
    const float *pca2;         /* [n, 2] */
    double pca_var[2], total_var;
    const float *tsne;         /* [tsne_n, 2] of items tsne_items, or NULL */
    const int64_t *tsne_items;
    int64_t tsne_n;
    double seconds;
} lt__report_in;

/* DIR/report.md and its plots (popularity.svg, map_pca.svg, map_tsne.svg, clusters.svg). */
int lt__write_report(const lt__report_in *r);
