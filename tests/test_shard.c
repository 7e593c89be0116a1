/* Shards: round trips of every dtype and shape, growing datasets, attributes, bounds, schemas, the
 * temp-file-and-rename rule, and the ways a file can be bad (truncated, not HDF5, empty, wrong
 * schema, ...). Every failure must carry the exact code and a message naming the file and the
 * field; the messages of the bad-file cases are printed so a run shows what users will see. */
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "longtail/error.h"
#include "longtail/shard.h"
#include "longtail/tensor.h"

#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n  last error: %s\n", __FILE__, __LINE__, #cond,    \
                    lt_last_error());                                                                    \
            exit(1);                                                                                     \
        }                                                                                                \
    } while (0)
#define OK(expr) expect(__FILE__, __LINE__, #expr, (expr), 0, NULL)
/* expr fails with exactly `code`, and the message contains every string given. */
#define FAILS(expr, code, ...) expect(__FILE__, __LINE__, #expr, (expr), code, (const char *[]){__VA_ARGS__, NULL})

static void expect(const char *file, int line, const char *expr, int rc, int code, const char **needles) {
    const char *msg = lt_last_error();
    if (rc != code) {
        fprintf(stderr, "%s:%d: %s returned %s (%d), expected %s\n  last error: %s\n", file, line, expr,
                lt_err_name(rc), rc, lt_err_name(code), msg);
        exit(1);
    }
    for (int i = 0; needles && needles[i]; i++) {
        if (!strstr(msg, needles[i])) {
            fprintf(stderr, "%s:%d: %s: message lacks \"%s\"\n  message: %s\n", file, line, expr, needles[i], msg);
            exit(1);
        }
    }
    if (code) printf("  %-8s %s\n", lt_err_name(code), msg);
}

static char g_dir[512];

/* A path inside the test directory; a few rotating buffers so calls can be nested. */
static const char *P(const char *name) {
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_dir, name);
    return buf[i];
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(data, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

/* Copy the first n bytes of src to dst. */
static void copy_prefix(const char *src, const char *dst, long n) {
    FILE *f = fopen(src, "rb");
    CHECK(f != NULL);
    char *buf = malloc((size_t)n);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    write_bytes(dst, buf, (size_t)n);
    free(buf);
}

/* How many entries of the test directory start with prefix. */
static int count_entries(const char *prefix) {
    DIR *d = opendir(g_dir);
    CHECK(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

/* HDF5 files, datasets, groups and attributes still open anywhere: error paths must close theirs. */
static long open_objects(void) { return (long)H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL); }

static const char *tmp_of(const char *path) {
    static char buf[1100];
    snprintf(buf, sizeof buf, "%s.tmp-%ld", path, (long)getpid());
    return buf;
}

/* Pseudo-random floats that deflate cannot shrink much, so the file really has its data at the end. */
static float frand(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 16777216.0f - 0.5f;
}

/* A small catalog shard: ids i64[10], emb f32[10,4], big f32[300000] (two chunks). */
#define BIG_N 300000
static void write_catalog(const char *path, const char *kind, int version) {
    lt_shard *s;
    OK(lt_shard_create(&s, path, kind, version));
    int64_t ids[10];
    float emb[40];
    static float big[BIG_N];
    uint32_t st = 7;
    for (int i = 0; i < 10; i++) ids[i] = 1000 + i;
    for (int i = 0; i < 40; i++) emb[i] = (float)i * 0.25f;
    for (int i = 0; i < BIG_N; i++) big[i] = frand(&st);
    OK(lt_shard_write(s, "ids", LT_I64, 1, (int64_t[]){10}, ids));
    OK(lt_shard_write(s, "emb", LT_F32, 2, (int64_t[]){10, 4}, emb));
    OK(lt_shard_write(s, "big", LT_F32, 1, (int64_t[]){BIG_N}, big));
    OK(lt_shard_commit(s));
}

/* ---- round trips ------------------------------------------------------------------------------ */

typedef struct {
    char names[512];
    int n;
    lt_dtype dtype_u8;
    int ndim_u8;
    int64_t shape_u8[LT_MAX_DIMS];
} visit_log;

static int log_dataset(void *ud, const char *name, lt_dtype dtype, int ndim, const int64_t *shape) {
    visit_log *v = ud;
    size_t k = strlen(v->names);
    snprintf(v->names + k, sizeof v->names - k, "%s%s", v->n++ ? "," : "", name);
    if (!strcmp(name, "a/b/c/u8")) {
        v->dtype_u8 = dtype;
        v->ndim_u8 = ndim;
        memcpy(v->shape_u8, shape, (size_t)ndim * sizeof *shape);
    }
    return 0;
}

static int stop_at_second(void *ud, const char *name, lt_dtype dtype, int ndim, const int64_t *shape) {
    return ++*(int *)ud == 2 ? 42 : 0;
}

/* Shape and contents of dataset `name` equal (dtype, ndim, shape, want). */
static void check_dataset(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const int64_t *shape,
                          const void *want) {
    lt_dtype dt;
    int nd;
    int64_t sh[LT_MAX_DIMS], n = 1;
    OK(lt_shard_shape(s, name, &dt, &nd, sh));
    CHECK(dt == dtype);
    CHECK(nd == ndim);
    for (int i = 0; i < ndim; i++) {
        CHECK(sh[i] == shape[i]);
        n *= shape[i];
    }
    size_t bytes = (size_t)n * lt_dtype_size(dtype);
    void *got = malloc(bytes + 1);
    CHECK(got != NULL);
    OK(lt_shard_read(s, name, dtype, got, bytes));
    CHECK(memcmp(got, want, bytes) == 0);
    free(got);
}

static void test_roundtrip(void) {
    float f[21];
    uint16_t bf[20];
    int32_t i32[10];
    int64_t i64[24];
    uint8_t u8[24];
    for (int i = 0; i < 21; i++) f[i] = (float)i / 3.0f - 2.0f;
    for (int i = 0; i < 20; i++) bf[i] = lt_f32_to_bf16((float)i * 0.37f - 1.0f);
    for (int i = 0; i < 10; i++) i32[i] = (i - 5) * 100000;
    for (int i = 0; i < 24; i++) i64[i] = ((int64_t)1 << 40) + i * 3 - 7;
    for (int i = 0; i < 24; i++) u8[i] = (uint8_t)(i * 11);
    static float big[BIG_N];
    uint32_t st = 3;
    for (int i = 0; i < BIG_N; i++) big[i] = frand(&st);

    const char *path = P("rt.h5");
    lt_shard *s;
    OK(lt_shard_create(&s, path, "catalog", 1));
    OK(lt_shard_write(s, "f32", LT_F32, 2, (int64_t[]){7, 3}, f));
    OK(lt_shard_write(s, "bf16", LT_BF16, 2, (int64_t[]){5, 4}, bf));
    OK(lt_shard_write(s, "i32", LT_I32, 1, (int64_t[]){10}, i32));
    OK(lt_shard_write(s, "text/i64", LT_I64, 3, (int64_t[]){2, 3, 4}, i64));
    OK(lt_shard_write(s, "a/b/c/u8", LT_U8, 4, (int64_t[]){3, 2, 2, 2}, u8));
    OK(lt_shard_write(s, "zero", LT_F32, 2, (int64_t[]){0, 8}, NULL));
    OK(lt_shard_write(s, "empty/inner", LT_I32, 2, (int64_t[]){3, 0}, NULL));
    OK(lt_shard_write(s, "big", LT_F32, 1, (int64_t[]){BIG_N}, big));
    /* A writer can read back what it wrote. */
    check_dataset(s, "i32", LT_I32, 1, (int64_t[]){10}, i32);
    FAILS(lt_shard_write(s, "f32", LT_F32, 1, (int64_t[]){1}, f), LT_EINVAL, path, "'f32'", "already exists");
    FAILS(lt_shard_write(s, "x", LT_F32, 0, (int64_t[]){1}, f), LT_EINVAL, path, "'x'", "ndim=0");
    FAILS(lt_shard_write(s, "x", LT_F32, 2, (int64_t[]){1, -2}, f), LT_EINVAL, path, "'x'", "shape[1]=-2");
    FAILS(lt_shard_write(s, "x", (lt_dtype)99, 1, (int64_t[]){1}, f), LT_EDTYPE, path, "'x'");
    FAILS(lt_shard_write(s, "", LT_F32, 1, (int64_t[]){1}, f), LT_EINVAL, path);
    OK(lt_shard_commit(s));

    OK(lt_shard_open(&s, path, "catalog", 1));
    CHECK(!strcmp(lt_shard_path(s), path));
    CHECK(!strcmp(lt_shard_kind(s), "catalog"));
    CHECK(lt_shard_version(s) == 1);
    check_dataset(s, "f32", LT_F32, 2, (int64_t[]){7, 3}, f);
    check_dataset(s, "bf16", LT_BF16, 2, (int64_t[]){5, 4}, bf);
    check_dataset(s, "i32", LT_I32, 1, (int64_t[]){10}, i32);
    check_dataset(s, "text/i64", LT_I64, 3, (int64_t[]){2, 3, 4}, i64);
    check_dataset(s, "a/b/c/u8", LT_U8, 4, (int64_t[]){3, 2, 2, 2}, u8);
    check_dataset(s, "/a/b/c/u8", LT_U8, 4, (int64_t[]){3, 2, 2, 2}, u8);
    check_dataset(s, "zero", LT_F32, 2, (int64_t[]){0, 8}, f);
    check_dataset(s, "empty/inner", LT_I32, 2, (int64_t[]){3, 0}, i32);
    check_dataset(s, "big", LT_F32, 1, (int64_t[]){BIG_N}, big);
    OK(lt_shard_read(s, "zero", LT_F32, NULL, 0));

    CHECK(lt_shard_has(s, "text/i64") == 1);
    CHECK(lt_shard_has(s, "text") == 0); /* a group */
    CHECK(lt_shard_has(s, "nope") == 0);
    CHECK(lt_shard_has(s, "nope/deeper") == 0);
    CHECK(lt_shard_has(s, "i32/under_a_dataset") == 0);

    /* Rows across the chunk boundary of "big" (262144 rows of f32 a chunk). */
    float *rows = malloc(400 * sizeof *rows);
    CHECK(rows != NULL);
    OK(lt_shard_read_rows(s, "big", LT_F32, 262000, 400, rows, 400 * sizeof *rows));
    CHECK(memcmp(rows, big + 262000, 400 * sizeof *rows) == 0);
    OK(lt_shard_read_rows(s, "f32", LT_F32, 2, 3, rows, 9 * sizeof *rows));
    CHECK(memcmp(rows, f + 6, 9 * sizeof *rows) == 0);
    OK(lt_shard_read_rows(s, "f32", LT_F32, 7, 0, NULL, 0));
    free(rows);

    visit_log v = {.n = 0};
    OK(lt_shard_visit(s, log_dataset, &v));
    CHECK(!strcmp(v.names, "a/b/c/u8,bf16,big,empty/inner,f32,i32,text/i64,zero"));
    CHECK(v.dtype_u8 == LT_U8 && v.ndim_u8 == 4);
    CHECK(v.shape_u8[0] == 3 && v.shape_u8[1] == 2 && v.shape_u8[2] == 2 && v.shape_u8[3] == 2);
    int seen = 0;
    CHECK(lt_shard_visit(s, stop_at_second, &seen) == 42);
    CHECK(seen == 2);
    lt_shard_close(s);
}

static void test_growing(void) {
    const char *path = P("grow.h5");
    enum { APPENDS = 100, MAXROWS = 450 };
    int64_t items[MAXROWS];
    float emb[MAXROWS * 6];
    for (int i = 0; i < MAXROWS; i++) items[i] = (int64_t)i * 7 - 3;
    for (int i = 0; i < MAXROWS * 6; i++) emb[i] = (float)i * 0.5f;

    lt_shard *s;
    OK(lt_shard_create(&s, path, "events", 2));
    OK(lt_shard_create_growing(s, "events/items", LT_I64, 1, NULL, 7));
    OK(lt_shard_create_growing(s, "events/emb", LT_F32, 3, (int64_t[]){2, 3}, 0));
    OK(lt_shard_create_growing(s, "never", LT_BF16, 2, (int64_t[]){5}, 16));
    OK(lt_shard_write(s, "fixed", LT_I32, 1, (int64_t[]){2}, (int32_t[]){1, 2}));
    FAILS(lt_shard_create_growing(s, "bad", LT_F32, 2, (int64_t[]){0}, 4), LT_EINVAL, path, "'bad'");
    int64_t total = 0;
    for (int i = 0; i < APPENDS; i++) {
        int64_t k = i % 10;
        OK(lt_shard_append(s, "events/items", items + total, k));
        OK(lt_shard_append(s, "events/emb", emb + total * 6, k));
        total += k;
    }
    CHECK(total == MAXROWS);
    FAILS(lt_shard_append(s, "fixed", (int32_t[]){3}, 1), LT_EINVAL, path, "'fixed'", "growing");
    FAILS(lt_shard_append(s, "missing", items, 1), LT_ENOENT, path, "'missing'");
    FAILS(lt_shard_append(s, "events/items", items, -1), LT_EINVAL, path, "'events/items'");
    CHECK(open_objects() == 1);
    OK(lt_shard_commit(s));

    OK(lt_shard_open(&s, path, "events", 2));
    check_dataset(s, "events/items", LT_I64, 1, (int64_t[]){MAXROWS}, items);
    check_dataset(s, "events/emb", LT_F32, 3, (int64_t[]){MAXROWS, 2, 3}, emb);
    check_dataset(s, "never", LT_BF16, 2, (int64_t[]){0, 5}, items);
    int64_t part[50];
    OK(lt_shard_read_rows(s, "events/items", LT_I64, 100, 50, part, sizeof part));
    CHECK(memcmp(part, items + 100, sizeof part) == 0);
    lt_shard_close(s);
}

/* ---- attributes ------------------------------------------------------------------------------- */

static int log_attr(void *ud, const char *key, const char *value) {
    size_t k = strlen(ud);
    snprintf((char *)ud + k, 512 - k, "%s=%s;", key, value);
    return 0;
}

static void test_attrs(void) {
    const char *path = P("attrs.h5");
    lt_shard *s;
    OK(lt_shard_create(&s, path, "catalog", 1));
    OK(lt_shard_write(s, "grp/ids", LT_I64, 1, (int64_t[]){2}, (int64_t[]){5, 6}));
    OK(lt_shard_set_attr_str(s, "", "name", "first"));
    OK(lt_shard_set_attr_str(s, "", "name", "catalog of things")); /* overwrites */
    OK(lt_shard_set_attr_str(s, "", "empty", ""));
    OK(lt_shard_set_attr_i64(s, "", "count", -((int64_t)1 << 50)));
    OK(lt_shard_set_attr_f64(s, "", "scale", 0.5));
    OK(lt_shard_set_attr_i64(s, "grp/ids", "vocab", 30522));
    OK(lt_shard_set_attr_str(s, "grp", "note", "on a group"));
    FAILS(lt_shard_set_attr_str(s, "nope", "k", "v"), LT_ENOENT, path, "'nope'");
    FAILS(lt_shard_set_attr_str(s, "", "longtail_schema", "tokens/1"), LT_EINVAL, path, "longtail_schema");
    OK(lt_shard_commit(s));

    OK(lt_shard_open(&s, path, "catalog", 1));
    char buf[64];
    int64_t i;
    double d;
    OK(lt_shard_attr_str(s, "", "name", buf, sizeof buf));
    CHECK(!strcmp(buf, "catalog of things"));
    OK(lt_shard_attr_str(s, "", "name", buf, 4)); /* cap-1 bytes + NUL */
    CHECK(!strcmp(buf, "cat"));
    OK(lt_shard_attr_str(s, "", "empty", buf, sizeof buf));
    CHECK(buf[0] == 0);
    OK(lt_shard_attr_i64(s, "", "count", &i));
    CHECK(i == -((int64_t)1 << 50));
    OK(lt_shard_attr_f64(s, "", "scale", &d));
    CHECK(d == 0.5);
    OK(lt_shard_attr_i64(s, "grp/ids", "vocab", &i));
    CHECK(i == 30522);
    OK(lt_shard_attr_str(s, "/grp", "note", buf, sizeof buf));
    CHECK(!strcmp(buf, "on a group"));
    OK(lt_shard_attr_str(s, "", "longtail_schema", buf, sizeof buf));
    CHECK(!strcmp(buf, "catalog/1"));

    FAILS(lt_shard_attr_i64(s, "", "missing", &i), LT_ENOENT, path, "'missing'", "'/'");
    FAILS(lt_shard_attr_str(s, "grp/ids", "nokey", buf, sizeof buf), LT_ENOENT, path, "'nokey'", "'grp/ids'");
    FAILS(lt_shard_attr_f64(s, "grp/nope", "vocab", &d), LT_ENOENT, path, "'grp/nope'");
    FAILS(lt_shard_attr_i64(s, "", "name", &i), LT_EDTYPE, path, "'name' on '/' is string, expected an integer");
    FAILS(lt_shard_attr_str(s, "grp/ids", "vocab", buf, sizeof buf), LT_EDTYPE, path, "'vocab' on 'grp/ids' is i64, expected a string");
    FAILS(lt_shard_attr_f64(s, "", "count", &d), LT_EDTYPE, path, "'count' on '/' is i64, expected a float");

    char log[512] = "";
    OK(lt_shard_visit_attrs(s, "", log_attr, log));
    CHECK(!strcmp(log, "count=-1125899906842624;empty=\"\";longtail_schema=\"catalog/1\";"
                       "name=\"catalog of things\";scale=0.5;"));
    log[0] = 0;
    OK(lt_shard_visit_attrs(s, "grp/ids", log_attr, log));
    CHECK(!strcmp(log, "vocab=30522;"));
    FAILS(lt_shard_set_attr_i64(s, "", "k", 1), LT_EINVAL, path, "opened for reading");
    CHECK(open_objects() == 1); /* the file itself */
    lt_shard_close(s);
}

/* ---- bounds ----------------------------------------------------------------------------------- */

static void test_bounds(void) {
    const char *path = P("bounds.h5");
    write_catalog(path, "catalog", 1);
    lt_shard *s;
    OK(lt_shard_open(&s, path, NULL, 1));
    int64_t ids[16];
    float emb[40];
    FAILS(lt_shard_read_rows(s, "ids", LT_I64, 8, 4, ids, sizeof ids), LT_ERANGE, path, "'ids'", "rows [8, 12)",
          "10 rows");
    FAILS(lt_shard_read_rows(s, "ids", LT_I64, -1, 2, ids, sizeof ids), LT_ERANGE, path, "'ids'", "rows [-1, 1)");
    FAILS(lt_shard_read_rows(s, "ids", LT_I64, 11, 0, ids, sizeof ids), LT_ERANGE, path, "rows [11, 11)");
    FAILS(lt_shard_read_rows(s, "emb", LT_F32, 0, 3, emb, 11 * sizeof *emb), LT_EINVAL, path, "'emb'",
          "12 values", "44 bytes");
    FAILS(lt_shard_read(s, "ids", LT_I64, ids, 79), LT_EINVAL, path, "'ids'", "i64[10]", "79 bytes");
    CHECK(open_objects() == 1);
    OK(lt_shard_read_rows(s, "ids", LT_I64, 8, 2, ids, 2 * sizeof *ids));
    CHECK(ids[0] == 1008 && ids[1] == 1009);
    OK(lt_shard_read(s, "ids", LT_I64, ids, sizeof ids)); /* a larger buffer is fine */
    CHECK(ids[9] == 1009);
    lt_shard_close(s);
}

/* ---- schemas and bad files -------------------------------------------------------------------- */

/* A plain HDF5 file (not written by longtail): a u16 dataset without the bf16 marker, an f64 one,
 * and a root longtail_schema attribute that is `schema` (a string), or an integer, or absent. */
enum { SCHEMA_NONE, SCHEMA_STR, SCHEMA_INT };
static void write_raw(const char *path, int how, const char *schema) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0);
    hsize_t n = 4;
    hid_t sp = H5Screate_simple(1, &n, NULL), scalar = H5Screate(H5S_SCALAR);
    uint16_t u[4] = {1, 2, 3, 4};
    double x[4] = {1, 2, 3, 4};
    hid_t d = H5Dcreate2(f, "u16", H5T_STD_U16LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, u) >= 0 && H5Dclose(d) >= 0);
    d = H5Dcreate2(f, "f64", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0 && H5Dclose(d) >= 0);
    if (how == SCHEMA_STR) {
        hid_t t = H5Tcopy(H5T_C_S1);
        CHECK(t >= 0 && H5Tset_size(t, strlen(schema) + 1) >= 0);
        hid_t a = H5Acreate2(f, "longtail_schema", t, scalar, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, t, schema) >= 0 && H5Aclose(a) >= 0 && H5Tclose(t) >= 0);
    } else if (how == SCHEMA_INT) {
        int64_t one = 1;
        hid_t a = H5Acreate2(f, "longtail_schema", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &one) >= 0 && H5Aclose(a) >= 0);
    }
    CHECK(H5Sclose(sp) >= 0 && H5Sclose(scalar) >= 0 && H5Fclose(f) >= 0);
}

static void test_schema(void) {
    lt_shard *s = NULL;
    const char *v3 = P("v3.h5");
    write_catalog(v3, "catalog", 3);
    printf("schema checks:\n");
    FAILS(lt_shard_open(&s, v3, "catalog", 2), LT_ESCHEMA, v3, "longtail_schema", "'catalog/3'", "catalog/1..2");
    CHECK(s == NULL);
    FAILS(lt_shard_open(&s, v3, "tokens", 1), LT_ESCHEMA, v3, "longtail_schema", "'catalog/3'", "tokens/1");
    OK(lt_shard_open(&s, v3, "catalog", 3));
    CHECK(lt_shard_version(s) == 3);
    lt_shard_close(s);
    OK(lt_shard_open(&s, v3, NULL, 5));
    CHECK(!strcmp(lt_shard_kind(s), "catalog"));
    lt_shard_close(s);

    const char *none = P("noschema.h5"), *bad = P("badschema.h5"), *num = P("intschema.h5");
    write_raw(none, SCHEMA_NONE, NULL);
    write_raw(bad, SCHEMA_STR, "catalog");
    write_raw(num, SCHEMA_INT, NULL);
    FAILS(lt_shard_open(&s, none, "catalog", 1), LT_ESCHEMA, none, "no 'longtail_schema'", "catalog/1");
    FAILS(lt_shard_open(&s, bad, "catalog", 1), LT_ESCHEMA, bad, "longtail_schema", "'catalog'", "<kind>/<version>");
    FAILS(lt_shard_open(&s, num, "catalog", 1), LT_ESCHEMA, num, "'longtail_schema' on '/' is i64, expected a string");
    CHECK(s == NULL);

    /* Types longtail does not read, in a file with a valid schema. */
    const char *raw = P("raw.h5");
    write_raw(raw, SCHEMA_STR, "catalog/1");
    OK(lt_shard_open(&s, raw, "catalog", 1));
    uint16_t u[4];
    FAILS(lt_shard_read(s, "u16", LT_BF16, u, sizeof u), LT_EDTYPE, raw, "'u16'", "is u16, expected bf16");
    FAILS(lt_shard_shape(s, "f64", NULL, NULL, NULL), LT_EDTYPE, raw, "'f64'", "f64");
    FAILS(lt_shard_visit(s, log_dataset, &(visit_log){.n = 0}), LT_EDTYPE, raw, "'f64'");
    CHECK(open_objects() == 1);
    lt_shard_close(s);

    /* A hard link from a group to itself must not send the visit into endless recursion. */
    const char *cycle = P("cycle.h5");
    write_catalog(cycle, "catalog", 1);
    hid_t f = H5Fopen(cycle, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Gclose(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
    CHECK(H5Lcreate_hard(f, "g", f, "g/again", H5P_DEFAULT, H5P_DEFAULT) >= 0 && H5Fclose(f) >= 0);
    OK(lt_shard_open(&s, cycle, "catalog", 1));
    FAILS(lt_shard_visit(s, log_dataset, &(visit_log){.n = 0}), LT_EFORMAT, cycle, "link cycle");
    CHECK(open_objects() == 1);
    lt_shard_close(s);

    FAILS(lt_shard_create(&s, P("k.h5"), "a/b", 1), LT_EINVAL, "a/b");
    FAILS(lt_shard_create(&s, P("k.h5"), "catalog", 0), LT_EINVAL, "catalog/0");
    CHECK(s == NULL && count_entries("k.h5") == 0);
}

static void test_bad_files(void) {
    lt_shard *s = NULL;
    const char *good = P("good.h5");
    write_catalog(good, "catalog", 1);
    long size = file_size(good);
    CHECK(size > 800000); /* big really is on disk (1.2 MB raw), so half the file loses data */

    const char *half = P("half.h5"), *tiny = P("tiny.h5"), *text = P("text.h5"), *empty = P("empty.h5");
    copy_prefix(good, half, size / 2);
    copy_prefix(good, tiny, 100);
    const char *ini = "[train]\nepochs = 3\n";
    write_bytes(text, ini, strlen(ini));
    write_bytes(empty, "", 0);

    printf("bad files:\n");
    FAILS(lt_shard_open(&s, half, "catalog", 1), LT_EFORMAT, half, "truncated");
    FAILS(lt_shard_open(&s, tiny, "catalog", 1), LT_EFORMAT, tiny, "cannot open as HDF5", "truncated");
    FAILS(lt_shard_open(&s, text, "catalog", 1), LT_EFORMAT, text, "not an HDF5 file");
    FAILS(lt_shard_open(&s, empty, "catalog", 1), LT_EFORMAT, empty, "not an HDF5 file", "empty");
    FAILS(lt_shard_open(&s, P("absent.h5"), "catalog", 1), LT_ENOENT, "absent.h5", "No such file");
    FAILS(lt_shard_open(&s, g_dir, "catalog", 1), LT_EFORMAT, g_dir, "not a regular file");
    CHECK(s == NULL);

    OK(lt_shard_open(&s, good, "catalog", 1));
    float f[40];
    FAILS(lt_shard_read(s, "nope", LT_F32, f, sizeof f), LT_ENOENT, good, "no dataset 'nope'");
    FAILS(lt_shard_shape(s, "emb/nope", NULL, NULL, NULL), LT_ENOENT, good, "no dataset 'emb/nope'");
    FAILS(lt_shard_read(s, "ids", LT_F32, f, sizeof f), LT_EDTYPE, good, "dataset 'ids' is i64, expected f32");
    FAILS(lt_shard_read_rows(s, "emb", LT_I32, 0, 1, f, sizeof f), LT_EDTYPE, good, "'emb' is f32, expected i32");
    CHECK(open_objects() == 1);
    lt_shard_close(s);

    /* Truncated under an open reader: the failure comes at the read, and names file and dataset. */
    const char *cut = P("cut.h5");
    write_catalog(cut, "catalog", 1);
    OK(lt_shard_open(&s, cut, "catalog", 1));
    int64_t sh[LT_MAX_DIMS];
    OK(lt_shard_shape(s, "big", NULL, NULL, sh));
    CHECK(truncate(cut, file_size(cut) / 2) == 0);
    float *big = malloc(BIG_N * sizeof *big);
    CHECK(big != NULL);
    FAILS(lt_shard_read(s, "big", LT_F32, big, BIG_N * sizeof *big), LT_EIO, cut, "reading dataset 'big'", "the file is truncated");
    FAILS(lt_shard_read_rows(s, "big", LT_F32, BIG_N - 10, 10, big, 10 * sizeof *big), LT_EIO, cut,
          "dataset 'big'");
    free(big);
    CHECK(open_objects() == 1);
    lt_shard_close(s);

    /* One flipped byte inside a compressed chunk: deflate's checksum refuses it at the read. */
    const char *flip = P("flip.h5");
    copy_prefix(good, flip, size);
    hid_t hf = H5Fopen(flip, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(hf, "emb", H5P_DEFAULT);
    haddr_t addr = HADDR_UNDEF;
    hsize_t nbytes = 0;
    CHECK(d >= 0 && H5Dget_chunk_info_by_coord(d, (hsize_t[]){0, 0}, NULL, &addr, &nbytes) >= 0); /* 1.10.5+ */
    CHECK(addr != HADDR_UNDEF && nbytes > 8);
    CHECK(H5Dclose(d) >= 0 && H5Fclose(hf) >= 0);
    FILE *fp = fopen(flip, "r+b");
    unsigned char c;
    CHECK(fp && fseek(fp, (long)(addr + nbytes / 2), SEEK_SET) == 0 && fread(&c, 1, 1, fp) == 1);
    c ^= 0x5a;
    CHECK(fseek(fp, (long)(addr + nbytes / 2), SEEK_SET) == 0 && fwrite(&c, 1, 1, fp) == 1 && fclose(fp) == 0);
    OK(lt_shard_open(&s, flip, "catalog", 1));
    FAILS(lt_shard_read(s, "emb", LT_F32, f, sizeof f), LT_EIO, flip, "reading dataset 'emb'");
    CHECK(open_objects() == 1);
    lt_shard_close(s);
}

/* ---- the temp-file-and-rename rule --------------------------------------------------------------- */

static void test_crash_safety(void) {
    const char *path = P("cs.h5");
    lt_shard *s;
    OK(lt_shard_create(&s, path, "catalog", 1));
    OK(lt_shard_write(s, "ids", LT_I64, 1, (int64_t[]){2}, (int64_t[]){1, 2}));
    CHECK(!file_exists(path)); /* a crash now leaves only the tmp file */
    CHECK(file_exists(tmp_of(path)));
    lt_shard_abort(s);
    CHECK(!file_exists(path));
    CHECK(!file_exists(tmp_of(path)));

    OK(lt_shard_create(&s, path, "catalog", 1));
    OK(lt_shard_write(s, "ids", LT_I64, 1, (int64_t[]){2}, (int64_t[]){1, 2}));
    OK(lt_shard_commit(s));
    CHECK(file_exists(path));
    CHECK(!file_exists(tmp_of(path)));
    CHECK(count_entries("cs.h5") == 1);

    /* Re-writing replaces the old file only at commit. */
    OK(lt_shard_create(&s, path, "catalog", 2));
    lt_shard_close(s); /* close without commit aborts */
    CHECK(!file_exists(tmp_of(path)));
    OK(lt_shard_open(&s, path, "catalog", 2));
    CHECK(lt_shard_version(s) == 1);
    FAILS(lt_shard_commit(s), LT_EINVAL, path, "opened for reading"); /* and frees s */

    /* A failed write poisons the shard: commit refuses and removes the tmp file. */
    const char *p2 = P("poisoned.h5");
    OK(lt_shard_create(&s, p2, "catalog", 1));
    OK(lt_shard_write(s, "ids", LT_I64, 1, (int64_t[]){2}, (int64_t[]){1, 2}));
    FAILS(lt_shard_write(s, "ids/under", LT_I64, 1, (int64_t[]){1}, (int64_t[]){1}), LT_EIO, p2, "'ids/under'");
    CHECK(open_objects() == 1);
    FAILS(lt_shard_commit(s), LT_EIO, p2, "not committed");
    CHECK(count_entries("poisoned.h5") == 0);

    FAILS(lt_shard_create(&s, P("no/such/dir.h5"), "catalog", 1), LT_EIO, "no/such/dir.h5");
    CHECK(s == NULL);
}

/* ---- main ------------------------------------------------------------------------------------- */

/* Empty and remove the test directory; returns 0 when it is gone. Also run at exit, so a failed
 * CHECK leaves nothing behind either (set LONGTAIL_KEEP_TEST_FILES to look at the files). */
static int remove_dir(void) {
    DIR *d = opendir(g_dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(P(e->d_name));
    closedir(d);
    return rmdir(g_dir);
}

static void cleanup_at_exit(void) {
    if (getenv("LONGTAIL_KEEP_TEST_FILES")) fprintf(stderr, "test files kept in %s\n", g_dir);
    else if (file_exists(g_dir)) remove_dir();
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/longtail-shard-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    CHECK(mkdtemp(g_dir) != NULL);
    atexit(cleanup_at_exit);
    test_roundtrip();
    test_growing();
    test_attrs();
    test_bounds();
    test_schema();
    test_bad_files();
    test_crash_safety();
    CHECK(open_objects() == 0); /* every shard closed, and every failure closed what it opened */
    if (getenv("LONGTAIL_KEEP_TEST_FILES")) return 0;
    CHECK(remove_dir() == 0); /* only regular files were left: no stray directories */
    printf("test_shard: ok\n");
    return 0;
}
