/* h5_reldiff A.h5 B.h5 TOL [PREFIX [SKIP]]: every float dataset of A (whose name starts with PREFIX,
 * and does not contain SKIP)
 * against the one of the same name in B. Per dataset, the relative difference is
 * max_i |a_i - b_i| / max_j |b_j|: the largest change against the tensor's scale. (Element by
 * element, |a_i - b_i| / |b_i| is no usable measure after AdamW steps: the first steps move every
 * weight by ~lr whatever the gradient's size, so a gradient element that is ~0 and summed in another
 * order moves its weight by a different ~lr; one rank with the softmax in chunks of 32 instead of 64
 * already differs by 3e-5 that way after one step.) Prints the worst dataset and exits 1 when any
 * difference exceeds TOL, when a dataset is missing in B or has another size, or when A holds no
 * float dataset at all. The mpi equivalence tests compare N ranks' weights with one rank's.
 * TOL written cos=C compares rows instead: each dataset's rows (its last dimension) by cosine, and
 * fails when any row's cosine is below C (the bf16 embeddings against fp32 ones). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    hid_t b;
    double tol, worst; /* cosine mode: 1 - the lowest row cosine */
    int cosine;
    const char *prefix, *skip;
    char worst_name[512];
    int count, bad;
} ctx;

static float *read_all(hid_t f, const char *name, hssize_t *n, hsize_t *cols) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    *n = H5Sget_simple_extent_npoints(sp);
    hsize_t dims[8] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd >= 1 && nd <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
    *cols = nd >= 1 && nd <= 8 && dims[nd - 1] ? dims[nd - 1] : 1;
    float *v = malloc(sizeof *v * (size_t)(*n > 0 ? *n : 1));
    if (v && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) free(v), v = NULL;
    H5Sclose(sp), H5Dclose(d);
    return v;
}

static herr_t visit(hid_t a, const char *name, const H5O_info_t *info, void *op) {
    ctx *c = op;
    if (info->type != H5O_TYPE_DATASET || strncmp(name, c->prefix, strlen(c->prefix))) return 0;
    if (c->skip && strstr(name, c->skip)) return 0;
    hid_t d = H5Dopen2(a, name, H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    int is_float = H5Tget_class(t) == H5T_FLOAT;
    H5Tclose(t), H5Dclose(d);
    if (!is_float) return 0;
    hssize_t na = 0, nb = 0;
    hsize_t cols = 1, colsb = 1;
    float *x = read_all(a, name, &na, &cols);
    float *y = NULL;
    H5E_BEGIN_TRY { y = read_all(c->b, name, &nb, &colsb); } H5E_END_TRY;
    if (!x || !y || na != nb) {
        fprintf(stderr, "h5_reldiff: %s: missing or of another size in the second file\n", name);
        c->bad = 1;
        free(x), free(y);
        return 0;
    }
    double big = 0, worst = 0;
    if (c->cosine) {
        for (hssize_t r = 0; r < nb / (hssize_t)cols; r++) {
            double xy = 0, xx = 0, yy = 0;
            for (hsize_t j = 0; j < cols; j++) {
                double u = x[r * cols + j], v = y[r * cols + j];
                xy += u * v, xx += u * u, yy += v * v;
            }
            double e = xx == 0 && yy == 0 ? 0 : 1 - xy / sqrt(xx * yy);
            if (!(e <= worst)) worst = e; /* a zero row against a nonzero one, or NaN: the worst */
        }
    } else {
        for (hssize_t i = 0; i < nb; i++) big = fmax(big, fabs(y[i]));
        for (hssize_t i = 0; i < nb; i++) {
            double r = fabs((double)x[i] - y[i]) / fmax(big, 1e-30);
            if (!(r <= worst)) worst = r; /* NaN counts as the worst */
        }
    }
    c->count++;
    if (!(worst <= c->worst)) c->worst = worst, snprintf(c->worst_name, sizeof c->worst_name, "%s", name);
    free(x), free(y);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: h5_reldiff A.h5 B.h5 TOL|cos=C [PREFIX [SKIP]]\n");
        return 2;
    }
    hid_t a = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT), b = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (a < 0 || b < 0) {
        fprintf(stderr, "h5_reldiff: cannot open %s\n", a < 0 ? argv[1] : argv[2]);
        return 1;
    }
    ctx c = {.b = b, .tol = atof(argv[3]), .prefix = argc > 4 ? argv[4] : "", .skip = argc > 5 ? argv[5] : NULL};
    if (!strncmp(argv[3], "cos=", 4)) c.cosine = 1, c.tol = 1 - atof(argv[3] + 4);
    if (H5Ovisit2(a, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &c, H5O_INFO_BASIC) < 0) {
        fprintf(stderr, "h5_reldiff: %s: cannot walk the file\n", argv[1]);
        return 1;
    }
    H5Fclose(a), H5Fclose(b);
    if (c.cosine)
        printf("h5_reldiff: %d float datasets, lowest row cosine %.7f (%s)\n", c.count, 1 - c.worst, c.worst_name);
    else
        printf("h5_reldiff: %d float datasets, max relative difference %.3g (%s)\n", c.count, c.worst, c.worst_name);
    if (!c.count) return fprintf(stderr, "h5_reldiff: no float dataset to compare\n"), 1;
    return c.bad || !(c.worst <= c.tol);
}
