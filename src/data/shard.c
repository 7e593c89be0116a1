/* Shards on the HDF5 C API (see shard.h for the contract).
 *
 * Every HDF5 call is checked. HDF5's automatic printing of its error stack is switched off once,
 * and a failure becomes one lt_error() naming the file, the dataset or attribute, and HDF5's own
 * innermost reason ("truncated file: eof = 100, ..."). Ids are closed on every path; files are
 * opened with H5F_CLOSE_STRONG as a second line of defence.
 *
 * Debian's HDF5 is the serial build, which is not thread-safe: use shards from one thread at a
 * time (a reader thread per process, not per batch). */
#include "longtail/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tmpfile.h"
#include "longtail/error.h"

#define SCHEMA_ATTR "longtail_schema"
#define DTYPE_ATTR "longtail_dtype" /* "bf16" on the uint16 datasets that hold bfloat16 */
#define CHUNK_BYTES ((hsize_t)1 << 20)
#define MAX_CHUNK_BYTES ((hsize_t)0xffffffffu) /* HDF5's limit on one chunk */
#define DEFLATE_LEVEL 4
#define NAME_MAX_LEN 1024
#define MAX_GROUP_DEPTH 32

struct lt_shard {
    hid_t file;
    char *path; /* the final name */
    char *tmp;  /* "<path>.tmp-<pid>" while writing; NULL for readers */
    char kind[64];
    int version;
    int failed; /* a write failed after touching the file, so commit refuses */
};

/* ---- HDF5 plumbing ---------------------------------------------------------------------------- */

/* Debian's HDF5 is built without thread safety, and a loader reads shards on a prefetch thread
 * while the main thread may write a checkpoint: every public function below holds this lock
 * (recursive, since some call others, and visitors may call back in). */
static pthread_mutex_t g_h5 = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

/* HDF5 prints its error stack on stderr unless told not to; longtail reports its errors itself
 * (h5_error). Where HDF5 keeps an error stack per thread (Debian's 1.10 does: embed's writer thread
 * printed its stack after the main thread had silenced its own), so does that setting: every thread
 * that enters the library through this file silences it, once (writer and prefetch threads too). */
static _Thread_local int g_quiet;
static void h5_init(void) {
    if (!g_quiet) H5Eset_auto2(H5E_DEFAULT, NULL, NULL), g_quiet = 1;
}
static void h5_lock(void) {
    pthread_mutex_lock(&g_h5);
    h5_init();
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *why) {
    if (n == 0 && e->desc && e->desc[0]) snprintf(why, 256, "%s", e->desc);
    else if (n == 0) H5Eget_msg(e->min_num, NULL, why, 256);
    return 0;
}

/* lt_error() for shard s: "<path>: <what>: <HDF5's innermost reason>", plus a note when a reader's
 * file is shorter than HDF5 expects (the usual cause of a read failing). Call it right after the
 * failing HDF5 call: the next one clears HDF5's error stack. */
static int h5_error(const lt_shard *s, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int h5_error(const lt_shard *s, int code, const char *fmt, ...) {
    char what[512], why[256] = "", note[96] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, why);
    struct stat st;
    haddr_t eoa;
    if (!s->tmp && s->file >= 0 && H5Fget_eoa(s->file, &eoa) >= 0 && stat(s->path, &st) == 0 &&
        (haddr_t)st.st_size < eoa)
        snprintf(note, sizeof note, " (the file is truncated: %lld of %llu bytes)", (long long)st.st_size,
                 (unsigned long long)eoa);
    return lt_error(code, "%s: %s%s%s%s", s->path, what, why[0] ? ": " : "", why, note);
}

/* Close an id of any kind; negative ids are ignored so cleanup can close everything it declared. */
static void h5_close(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
    }
}

static hid_t file_type(lt_dtype t) {
    switch (t) {
    case LT_F32: return H5T_IEEE_F32LE;
    case LT_BF16: return H5T_STD_U16LE;
    case LT_I32: return H5T_STD_I32LE;
    case LT_I64: return H5T_STD_I64LE;
    case LT_U8: return H5T_STD_U8LE;
    default: return H5I_INVALID_HID;
    }
}

static hid_t mem_type(lt_dtype t) {
    switch (t) {
    case LT_F32: return H5T_NATIVE_FLOAT;
    case LT_BF16: return H5T_NATIVE_UINT16;
    case LT_I32: return H5T_NATIVE_INT32;
    case LT_I64: return H5T_NATIVE_INT64;
    case LT_U8: return H5T_NATIVE_UINT8;
    default: return H5I_INVALID_HID;
    }
}

/* Product of dims[from..ndim), or -1 when it does not fit in int64 (a corrupt file can say anything). */
static int64_t count(const hsize_t *dims, int from, int ndim) {
    int64_t n = 1;
    for (int i = from; i < ndim; i++) {
        if (dims[i] > (hsize_t)INT64_MAX || (dims[i] && n > INT64_MAX / (int64_t)dims[i])) return -1;
        n *= (int64_t)dims[i];
    }
    return n;
}

static const char *objname(const char *obj) { return obj && obj[0] ? obj : "/"; }

static int writable(lt_shard *s, const char *what) {
    if (!s) return lt_error(LT_EINVAL, "shard %s: NULL shard", what);
    if (!s->tmp) return lt_error(LT_EINVAL, "%s: opened for reading, cannot %s", s->path, what);
    return 0;
}

/* Mark the shard failed when a write went wrong after touching the file. */
static int broke(lt_shard *s, int rc) {
    if (rc < 0) s->failed = 1;
    return rc;
}

/* Whether `name` links to something. Checked one component at a time because H5Lexists fails,
 * rather than answering no, when a parent is missing or is not a group; such a failure counts as
 * "no" (real damage shows again, with HDF5's reason, in the open or create that follows). */
static int exists(lt_shard *s, const char *name) {
    char buf[NAME_MAX_LEN];
    size_t n = strlen(name);
    if (n >= sizeof buf) return lt_error(LT_EINVAL, "%s: name '%.40s...' is too long", s->path, name);
    memcpy(buf, name, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if ((buf[i] != '/' && buf[i] != 0) || buf[i - 1] == '/') continue;
        char c = buf[i];
        buf[i] = 0;
        htri_t e = H5Lexists(s->file, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0) return 0;
    }
    return 1;
}

static int check_name(lt_shard *s, const char *name) {
    if (!name || !name[0] || !strcmp(name, "/"))
        return lt_error(LT_EINVAL, "%s: a dataset needs a name", s->path);
    return 0;
}

/* Open the root ("" or "/"), a group or a dataset. */
static int obj_open(lt_shard *s, const char *obj, hid_t *out) {
    const char *o = objname(obj);
    if (strcmp(o, "/")) {
        int rc = exists(s, o);
        if (rc < 0) return rc;
        if (!rc) return lt_error(LT_ENOENT, "%s: no dataset or group '%s'", s->path, o);
    }
    *out = H5Oopen(s->file, o, H5P_DEFAULT);
    if (*out < 0) return h5_error(s, LT_EFORMAT, "cannot open '%s'", o);
    return 0;
}

/* "u16", "f64", "string": a stored type as text for messages, and its lt_dtype (-1: none). */
static int classify(hid_t t, char *name, size_t n) {
    size_t size = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER: {
        int u = H5Tget_sign(t) == H5T_SGN_NONE;
        snprintf(name, n, "%c%zu", u ? 'u' : 'i', 8 * size);
        return u && size == 1 ? LT_U8 : !u && size == 4 ? LT_I32 : !u && size == 8 ? LT_I64 : -1;
    }
    case H5T_FLOAT:
        snprintf(name, n, "f%zu", 8 * size);
        return H5Tequal(t, H5T_IEEE_F32LE) > 0 || H5Tequal(t, H5T_IEEE_F32BE) > 0 ? LT_F32 : -1;
    case H5T_STRING: snprintf(name, n, "string"); return -1;
    case H5T_COMPOUND: snprintf(name, n, "compound"); return -1;
    case H5T_ENUM: snprintf(name, n, "enum"); return -1;
    case H5T_ARRAY: snprintf(name, n, "array"); return -1;
    case H5T_VLEN: snprintf(name, n, "vlen"); return -1;
    default: snprintf(name, n, "an HDF5 type of class %d", (int)H5Tget_class(t)); return -1;
    }
}

/* ---- attributes on open objects --------------------------------------------------------------- */

static int attr_write(lt_shard *s, hid_t o, const char *obj, const char *key, hid_t ftype, hid_t mtype,
                      const void *value) {
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    int rc = 0;
    htri_t ex = H5Aexists(o, key);
    if (ex < 0 || (ex > 0 && H5Adelete(o, key) < 0) || (sp = H5Screate(H5S_SCALAR)) < 0 ||
        (a = H5Acreate2(o, key, ftype, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 || H5Awrite(a, mtype, value) < 0)
        rc = h5_error(s, LT_EIO, "writing attribute '%s' on '%s'", key, objname(obj));
    h5_close(a);
    h5_close(sp);
    return rc;
}

/* Fixed-length NUL-terminated UTF-8 strings: what every HDF5 reader understands. */
static int attr_write_str(lt_shard *s, hid_t o, const char *obj, const char *key, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = 0;
    if (t < 0 || H5Tset_size(t, strlen(value) + 1) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)
        rc = h5_error(s, LT_EIO, "writing attribute '%s' on '%s'", key, objname(obj));
    else
        rc = attr_write(s, o, obj, key, t, t, value);
    h5_close(t);
    return rc;
}

/* Open attribute `key` of o with its type and element count. Unless want is H5T_NO_CLASS it must
 * be a single value of class want (LT_EDTYPE otherwise). */
static int attr_open(lt_shard *s, hid_t o, const char *obj, const char *key, H5T_class_t want, hid_t *a,
                     hid_t *type, hssize_t *npoints) {
    *a = *type = H5I_INVALID_HID;
    htri_t ex = H5Aexists(o, key);
    if (ex == 0) return lt_error(LT_ENOENT, "%s: no attribute '%s' on '%s'", s->path, key, objname(obj));
    hid_t sp = H5I_INVALID_HID;
    int rc = 0;
    if (ex < 0 || (*a = H5Aopen(o, key, H5P_DEFAULT)) < 0 || (*type = H5Aget_type(*a)) < 0 ||
        (sp = H5Aget_space(*a)) < 0 || (*npoints = H5Sget_simple_extent_npoints(sp)) < 0)
        rc = h5_error(s, LT_EFORMAT, "reading attribute '%s' on '%s'", key, objname(obj));
    h5_close(sp);
    char tname[48];
    if (!rc && want != H5T_NO_CLASS && *npoints != 1) {
        rc = lt_error(LT_EDTYPE, "%s: attribute '%s' on '%s' holds %lld values, expected one", s->path, key,
                      objname(obj), (long long)*npoints);
    } else if (!rc && want != H5T_NO_CLASS && H5Tget_class(*type) != want) {
        classify(*type, tname, sizeof tname);
        rc = lt_error(LT_EDTYPE, "%s: attribute '%s' on '%s' is %s, expected %s", s->path, key, objname(obj), tname,
                      want == H5T_STRING ? "a string" : want == H5T_INTEGER ? "an integer" : "a float");
    }
    if (rc) {
        h5_close(*type), h5_close(*a);
        *a = *type = H5I_INVALID_HID;
    }
    return rc;
}

/* Read a single-value attribute of class cls through memory type mtype. */
static int attr_read_num(lt_shard *s, hid_t o, const char *obj, const char *key, H5T_class_t cls,
                         hid_t mtype, void *out) {
    hid_t a, t;
    hssize_t np = 0;
    LT_TRY(attr_open(s, o, obj, key, cls, &a, &t, &np));
    int rc = 0;
    if (H5Aread(a, mtype, out) < 0) rc = h5_error(s, LT_EIO, "reading attribute '%s' on '%s'", key, objname(obj));
    h5_close(t), h5_close(a);
    return rc;
}

/* Strings may be fixed-length (what we write) or variable-length (what h5py writes). */
static int attr_read_str(lt_shard *s, hid_t o, const char *obj, const char *key, char *buf, size_t cap) {
    hid_t a, t, mt = H5I_INVALID_HID;
    hssize_t np = 0;
    LT_TRY(attr_open(s, o, obj, key, H5T_STRING, &a, &t, &np));
    char *v = NULL;
    int rc = 0, vlen = H5Tis_variable_str(t) > 0;
    if (!vlen && !(v = calloc(1, H5Tget_size(t) + 1)))
        rc = lt_error(LT_ENOMEM, "%s: out of memory reading attribute '%s'", s->path, key);
    else if ((mt = H5Tcopy(t)) < 0 || H5Aread(a, mt, vlen ? (void *)&v : (void *)v) < 0)
        rc = h5_error(s, LT_EIO, "reading attribute '%s' on '%s'", key, objname(obj));
    if (!rc && cap) snprintf(buf, cap, "%s", v ? v : "");
    if (vlen) H5free_memory(v);
    else free(v);
    h5_close(mt), h5_close(t), h5_close(a);
    return rc;
}

/* ---- datasets ------------------------------------------------------------------------------- */

typedef struct {
    hid_t id;
    int dtype;       /* lt_dtype, or -1 when longtail has none for the stored type */
    char tname[64];  /* the stored type as text ("bf16", "u16", "f64") */
    int ndim;
    hsize_t dims[LT_MAX_DIMS], maxdims[LT_MAX_DIMS];
} dset;

static void dset_close(dset *d) {
    h5_close(d->id);
    d->id = H5I_INVALID_HID;
}

/* uint16 is bf16 only when marked so; a marker on anything else makes the type unknown. */
static int dset_dtype(lt_shard *s, const char *name, dset *d) {
    hid_t t = H5Dget_type(d->id);
    if (t < 0) return h5_error(s, LT_EFORMAT, "reading the type of dataset '%s'", name);
    d->dtype = classify(t, d->tname, sizeof d->tname);
    h5_close(t);
    htri_t marked = H5Aexists(d->id, DTYPE_ATTR);
    if (marked < 0) return h5_error(s, LT_EFORMAT, "reading attributes of dataset '%s'", name);
    if (!marked) return 0;
    char mark[16];
    LT_TRY(attr_read_str(s, d->id, name, DTYPE_ATTR, mark, sizeof mark));
    if (!strcmp(mark, "bf16") && !strcmp(d->tname, "u16")) {
        d->dtype = LT_BF16;
        snprintf(d->tname, sizeof d->tname, "bf16");
    } else {
        d->dtype = -1;
        size_t n = strlen(d->tname);
        snprintf(d->tname + n, sizeof d->tname - n, " marked '%s'", mark);
    }
    return 0;
}

/* Open dataset `name` with its type and shape; LT_ENOENT when there is none. */
static int dset_open(lt_shard *s, const char *name, dset *d) {
    memset(d, 0, sizeof *d);
    d->id = H5I_INVALID_HID;
    if (!s) return lt_error(LT_EINVAL, "shard: NULL shard");
    LT_TRY(check_name(s, name));
    int rc = exists(s, name);
    if (rc <= 0) return rc < 0 ? rc : lt_error(LT_ENOENT, "%s: no dataset '%s'", s->path, name);
    rc = 0;
    if ((d->id = H5Oopen(s->file, name, H5P_DEFAULT)) < 0)
        return h5_error(s, LT_EFORMAT, "cannot open dataset '%s'", name);
    if (H5Iget_type(d->id) != H5I_DATASET) {
        dset_close(d);
        return lt_error(LT_ENOENT, "%s: no dataset '%s' (it is a group)", s->path, name);
    }
    hid_t sp = H5Dget_space(d->id);
    H5S_class_t cls = sp < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(sp);
    d->ndim = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (d->ndim < 0 || cls == H5S_NO_CLASS)
        rc = h5_error(s, LT_EFORMAT, "reading the shape of dataset '%s'", name);
    else if (cls == H5S_NULL)
        rc = lt_error(LT_EFORMAT, "%s: dataset '%s' has a null dataspace (no shape)", s->path, name);
    else if (d->ndim > LT_MAX_DIMS)
        rc = lt_error(LT_EFORMAT, "%s: dataset '%s' has %d dims, longtail reads 0..%d", s->path, name, d->ndim,
                      LT_MAX_DIMS);
    else if (H5Sget_simple_extent_dims(sp, d->dims, d->maxdims) < 0)
        rc = h5_error(s, LT_EFORMAT, "reading the shape of dataset '%s'", name);
    else if (count(d->dims, 0, d->ndim) < 0)
        rc = lt_error(LT_EFORMAT, "%s: dataset '%s' claims more than 2^63 elements", s->path, name);
    h5_close(sp);
    if (!rc) rc = dset_dtype(s, name, d);
    if (rc) dset_close(d);
    return rc;
}

/* Open a dataset that must hold exactly `want`. */
static int dset_open_as(lt_shard *s, const char *name, lt_dtype want, dset *d) {
    if ((unsigned)want >= LT_DTYPE_COUNT)
        return lt_error(LT_EDTYPE, "%s: reading '%s' as dtype %d", s ? s->path : "shard", name, (int)want);
    LT_TRY(dset_open(s, name, d));
    if (d->dtype == (int)want) return 0;
    dset_close(d);
    return lt_error(LT_EDTYPE, "%s: dataset '%s' is %s, expected %s", s->path, name, d->tname, lt_dtype_name(want));
}

/* "f32[10,3]" */
static const char *shape_str(char *buf, size_t n, const char *tname, int ndim, const hsize_t *dims) {
    size_t k = (size_t)snprintf(buf, n, "%s[", tname);
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ",%llu" : "%llu", (unsigned long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* Rows [row0, row0 + nrows) of dataset d: the file space with that hyperslab and a memory space. */
static int select_rows(hid_t d, int ndim, const hsize_t *dims, hsize_t row0, hsize_t nrows, hid_t *fs, hid_t *ms) {
    hsize_t start[LT_MAX_DIMS] = {row0}, cnt[LT_MAX_DIMS];
    cnt[0] = nrows;
    for (int i = 1; i < ndim; i++) cnt[i] = dims[i];
    *ms = H5I_INVALID_HID;
    if ((*fs = H5Dget_space(d)) < 0 || H5Sselect_hyperslab(*fs, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        (*ms = H5Screate_simple(ndim, cnt, NULL)) < 0)
        return -1;
    return 0;
}

/* dtype, ndim and shape checks shared by write and create_growing; shape[0..ndim) into dims. */
static int check_shape(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const int64_t *shape, hsize_t *dims) {
    if ((unsigned)dtype >= LT_DTYPE_COUNT)
        return lt_error(LT_EDTYPE, "%s: dataset '%s': no dtype %d", s->path, name, (int)dtype);
    if (ndim < 1 || ndim > LT_MAX_DIMS)
        return lt_error(LT_EINVAL, "%s: dataset '%s': ndim=%d, expected 1..%d", s->path, name, ndim, LT_MAX_DIMS);
    if (!shape) return lt_error(LT_EINVAL, "%s: dataset '%s': no shape", s->path, name);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return lt_error(LT_EINVAL, "%s: dataset '%s': shape[%d]=%lld", s->path, name, i, (long long)shape[i]);
        dims[i] = (hsize_t)shape[i];
    }
    if (count(dims, 0, ndim) < 0 || (size_t)count(dims, 0, ndim) > SIZE_MAX / lt_dtype_size(dtype))
        return lt_error(LT_EINVAL, "%s: dataset '%s': shape too large", s->path, name);
    return 0;
}

/* Create the groups leading to `name` ("a/b/c" -> a, a/b) without time stamps: HDF5 records
 * creation times by default, and a shard written twice must be the same bytes (a resumed
 * `longtail embed` is checked to equal an uninterrupted one). */
static int make_groups(lt_shard *s, const char *name) {
    char prefix[NAME_MAX_LEN + 1];
    int rc = 0;
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0) rc = h5_error(s, LT_EIO, "group properties for '%s'", name);
    for (const char *p = strchr(name + 1, '/'); p && !rc; p = strchr(p + 1, '/')) {
        size_t n = (size_t)(p - name);
        if (n >= sizeof prefix) break;
        memcpy(prefix, name, n);
        prefix[n] = 0;
        htri_t e = H5Lexists(s->file, prefix, H5P_DEFAULT);
        if (e > 0) continue;
        hid_t g = e == 0 ? H5Gcreate2(s->file, prefix, H5P_DEFAULT, gcpl, H5P_DEFAULT) : H5I_INVALID_HID;
        if (g < 0) rc = broke(s, h5_error(s, LT_EIO, "creating group '%s'", prefix));
        h5_close(g);
    }
    h5_close(gcpl);
    return rc;
}

/* Create dataset `name`, chunked every chunk_rows rows with shuffle (multi-byte types) and deflate.
 * chunk_rows 0 leaves it contiguous: HDF5 cannot chunk a dataset with a fixed zero-sized dim, and
 * there is nothing to compress in it. */
static int dset_create(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const hsize_t *dims,
                       const hsize_t *maxdims, hsize_t chunk_rows, hid_t *out) {
    int rc = exists(s, name);
    if (rc < 0) return rc;
    if (rc) return lt_error(LT_EINVAL, "%s: dataset '%s' already exists", s->path, name);
    hsize_t chunk[LT_MAX_DIMS];
    chunk[0] = chunk_rows;
    for (int i = 1; i < ndim; i++) chunk[i] = dims[i];
    hid_t lcpl, dcpl = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    *out = H5I_INVALID_HID;
    if ((rc = make_groups(s, name)) < 0) return rc;
    if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_obj_track_times(dcpl, 0) < 0 ||
        (chunk_rows && (H5Pset_chunk(dcpl, ndim, chunk) < 0 ||
                        (lt_dtype_size(dtype) > 1 && H5Pset_shuffle(dcpl) < 0) ||
                        H5Pset_deflate(dcpl, DEFLATE_LEVEL) < 0)) ||
        (sp = H5Screate_simple(ndim, dims, maxdims)) < 0 ||
        (*out = H5Dcreate2(s->file, name, file_type(dtype), sp, lcpl, dcpl, H5P_DEFAULT)) < 0)
        rc = broke(s, h5_error(s, LT_EIO, "creating dataset '%s'", name));
    else if (dtype == LT_BF16)
        rc = broke(s, attr_write_str(s, *out, name, DTYPE_ATTR, "bf16"));
    h5_close(sp), h5_close(dcpl), h5_close(lcpl);
    if (rc) h5_close(*out), *out = H5I_INVALID_HID;
    return rc;
}

/* ~1 MiB of rows, at least one; no more than a fixed dataset has (HDF5 requires it). */
static hsize_t default_chunk_rows(hsize_t row_bytes, hsize_t rows) {
    hsize_t r = row_bytes ? CHUNK_BYTES / row_bytes : CHUNK_BYTES;
    if (r < 1) r = 1;
    return rows && r > rows ? rows : r;
}

/* ---- writing -------------------------------------------------------------------------------- */

static void shard_free(lt_shard *s) {
    if (!s) return;
    h5_close(s->file);
    free(s->path);
    free(s->tmp);
    free(s);
}

static int shard_new(lt_shard **out, const char *path) {
    lt_shard *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return lt_error(LT_ENOMEM, "%s: out of memory", path);
    }
    s->file = H5I_INVALID_HID;
    *out = s;
    return 0;
}

/* Close strongly: whatever a failed call left open goes with the file. */
static hid_t fapl_strong(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) h5_close(fapl), fapl = H5I_INVALID_HID;
    return fapl;
}

static int valid_kind(const char *kind) {
    size_t n = kind ? strlen(kind) : 0;
    if (n == 0 || n >= sizeof ((lt_shard *)0)->kind) return 0;
    for (const char *p = kind; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') && *p != '_' &&
            *p != '-' && *p != '.')
            return 0;
    return 1;
}

static int create_locked(lt_shard **out, const char *path, const char *kind, int version) {
    *out = NULL;
    if (!path || !path[0]) return lt_error(LT_EINVAL, "shard create: no path");
    if (!valid_kind(kind) || version < 1)
        return lt_error(LT_EINVAL, "%s: schema '%s/%d' is not <kind>/<version> (kind [A-Za-z0-9_.-]{1,63}, version >= 1)",
                        path, kind ? kind : "(null)", version);
    h5_init();
    lt_shard *s = NULL;
    LT_TRY(shard_new(&s, path));
    size_t n = strlen(path) + 32;
    int rc = 0;
    if (!(s->tmp = malloc(n))) {
        shard_free(s);
        return lt_error(LT_ENOMEM, "%s: out of memory", path);
    }
    if ((rc = lt_tmp_path(s->tmp, n, path)) < 0) {
        shard_free(s);
        return rc;
    }
    snprintf(s->kind, sizeof s->kind, "%s", kind);
    s->version = version;
    /* The 1.8 file format (readable by HDF5 >= 1.8) checksums the superblock, object headers and
     * group indexes, so a damaged file is refused rather than misparsed. */
    hid_t fapl = fapl_strong();
    if (fapl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
        h5_close(fapl), fapl = H5I_INVALID_HID;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE); /* no time stamps: the same content is the same bytes */
    if (fcpl >= 0 && H5Pset_obj_track_times(fcpl, 0) < 0) h5_close(fcpl), fcpl = H5I_INVALID_HID;
    s->file = H5Fcreate(s->tmp, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT, fapl);
    if (s->file < 0) rc = h5_error(s, LT_EIO, "cannot create %s", s->tmp);
    h5_close(fapl), h5_close(fcpl);
    if (!rc) {
        char schema[96];
        snprintf(schema, sizeof schema, "%s/%d", kind, version);
        rc = attr_write_str(s, s->file, "", SCHEMA_ATTR, schema);
    }
    if (rc) {
        lt_shard_abort(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int write_locked(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const int64_t *shape,
                   const void *data) {
    LT_TRY(writable(s, "write"));
    LT_TRY(check_name(s, name));
    hsize_t dims[LT_MAX_DIMS];
    LT_TRY(check_shape(s, name, dtype, ndim, shape, dims));
    int64_t n = count(dims, 0, ndim);
    if (n > 0 && !data) return lt_error(LT_EINVAL, "%s: dataset '%s': no data", s->path, name);
    hsize_t row_bytes = (hsize_t)count(dims, 1, ndim) * lt_dtype_size(dtype);
    if (n > 0 && row_bytes > MAX_CHUNK_BYTES)
        return lt_error(LT_EINVAL, "%s: dataset '%s': a row of %llu bytes exceeds HDF5's 4 GiB chunk limit", s->path,
                        name, (unsigned long long)row_bytes);
    hid_t d;
    LT_TRY(dset_create(s, name, dtype, ndim, dims, NULL, n > 0 ? default_chunk_rows(row_bytes, dims[0]) : 0, &d));
    int rc = 0;
    if (n > 0 && H5Dwrite(d, mem_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = broke(s, h5_error(s, LT_EIO, "writing dataset '%s'", name));
    h5_close(d);
    return rc;
}

static int create_growing_locked(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const int64_t *row_shape,
                            int64_t chunk_rows) {
    LT_TRY(writable(s, "create a dataset"));
    LT_TRY(check_name(s, name));
    if (ndim > 1 && !row_shape) return lt_error(LT_EINVAL, "%s: growing dataset '%s': no row shape", s->path, name);
    int64_t shape[LT_MAX_DIMS] = {0};
    for (int i = 1; i < ndim && i < LT_MAX_DIMS; i++) shape[i] = row_shape[i - 1];
    hsize_t dims[LT_MAX_DIMS], maxdims[LT_MAX_DIMS];
    LT_TRY(check_shape(s, name, dtype, ndim, shape, dims));
    hsize_t row_bytes = (hsize_t)count(dims, 1, ndim) * lt_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) maxdims[i] = i ? dims[i] : H5S_UNLIMITED;
    if (row_bytes == 0)
        return lt_error(LT_EINVAL, "%s: growing dataset '%s' has a zero-sized row dim", s->path, name);
    if (chunk_rows <= 0) chunk_rows = (int64_t)default_chunk_rows(row_bytes, 0);
    if ((hsize_t)chunk_rows > MAX_CHUNK_BYTES / row_bytes)
        return lt_error(LT_EINVAL, "%s: growing dataset '%s': %lld rows of %llu bytes exceed HDF5's 4 GiB chunk limit",
                        s->path, name, (long long)chunk_rows, (unsigned long long)row_bytes);
    hid_t d;
    LT_TRY(dset_create(s, name, dtype, ndim, dims, maxdims, (hsize_t)chunk_rows, &d));
    h5_close(d);
    return 0;
}

static int append_locked(lt_shard *s, const char *name, const void *rows, int64_t nrows) {
    LT_TRY(writable(s, "append"));
    if (nrows < 0 || (nrows > 0 && !rows))
        return lt_error(LT_EINVAL, "%s: appending %lld rows to '%s'%s", s->path, (long long)nrows, name ? name : "",
                        rows ? "" : " from NULL");
    dset d;
    LT_TRY(dset_open(s, name, &d));
    int rc = 0;
    if (d.ndim < 1 || d.maxdims[0] != H5S_UNLIMITED)
        rc = lt_error(LT_EINVAL, "%s: dataset '%s' was not created with lt_shard_create_growing", s->path, name);
    else if (d.dtype < 0)
        rc = lt_error(LT_EDTYPE, "%s: dataset '%s' is %s, which longtail does not write", s->path, name, d.tname);
    if (rc || nrows == 0) {
        dset_close(&d);
        return rc;
    }
    hsize_t old = d.dims[0];
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    d.dims[0] += (hsize_t)nrows;
    if (H5Dset_extent(d.id, d.dims) < 0 || select_rows(d.id, d.ndim, d.dims, old, (hsize_t)nrows, &fs, &ms) < 0 ||
        H5Dwrite(d.id, mem_type((lt_dtype)d.dtype), ms, fs, H5P_DEFAULT, rows) < 0)
        rc = broke(s, h5_error(s, LT_EIO, "appending %lld rows to dataset '%s'", (long long)nrows, name));
    h5_close(ms), h5_close(fs);
    dset_close(&d);
    return rc;
}

/* longtail's own markers are not for callers to overwrite. */
static int attr_set(lt_shard *s, const char *obj, const char *key, hid_t ftype, hid_t mtype, const void *value,
                    const char *str) {
    LT_TRY(writable(s, "set an attribute"));
    if (!key || !key[0] || (str && !value)) return lt_error(LT_EINVAL, "%s: attribute needs a key and a value", s->path);
    if (!strcmp(key, SCHEMA_ATTR) || !strcmp(key, DTYPE_ATTR))
        return lt_error(LT_EINVAL, "%s: attribute '%s' is set by longtail itself", s->path, key);
    hid_t o;
    LT_TRY(obj_open(s, obj, &o));
    int rc = broke(s, str ? attr_write_str(s, o, obj, key, str) : attr_write(s, o, obj, key, ftype, mtype, value));
    h5_close(o);
    return rc;
}

static int set_attr_str_locked(lt_shard *s, const char *obj, const char *key, const char *value) {
    return attr_set(s, obj, key, H5I_INVALID_HID, H5I_INVALID_HID, value, value ? value : "");
}
static int set_attr_i64_locked(lt_shard *s, const char *obj, const char *key, int64_t value) {
    return attr_set(s, obj, key, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, NULL);
}
static int set_attr_f64_locked(lt_shard *s, const char *obj, const char *key, double value) {
    return attr_set(s, obj, key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, NULL);
}

/* open + fsync + close: the only way to fsync a file HDF5 has already closed (or a directory). */
static int fsync_path(const char *path, int dir) {
    int fd = open(path, O_RDONLY | (dir ? O_DIRECTORY : 0));
    if (fd < 0) return lt_error(LT_EIO, "%s: open for fsync: %s", path, strerror(errno));
    int rc = 0;
    /* Some file systems cannot fsync a directory (EINVAL); the rename has happened either way. */
    if (fsync(fd) != 0 && !(dir && errno == EINVAL)) rc = lt_error(LT_EIO, "%s: fsync: %s", path, strerror(errno));
    close(fd);
    return rc;
}

static int commit_locked(lt_shard *s) {
    if (!s) return lt_error(LT_EINVAL, "shard commit: NULL shard");
    if (!s->tmp) {
        int rc = lt_error(LT_EINVAL, "%s: opened for reading, nothing to commit", s->path);
        shard_free(s);
        return rc;
    }
    if (s->failed) {
        int rc = lt_error(LT_EIO, "%s: not committed: an earlier write to it failed", s->path);
        lt_shard_abort(s);
        return rc;
    }
    int rc = 0;
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) rc = h5_error(s, LT_EIO, "flushing %s", s->tmp);
    if (H5Fclose(s->file) < 0 && !rc) rc = h5_error(s, LT_EIO, "closing %s", s->tmp);
    s->file = H5I_INVALID_HID;
    if (!rc) rc = fsync_path(s->tmp, 0);
    if (!rc && rename(s->tmp, s->path) != 0)
        rc = lt_error(LT_EIO, "%s: renaming %s into place: %s", s->path, s->tmp, strerror(errno));
    if (rc) {
        unlink(s->tmp);
    } else {
        /* Make the rename itself durable. Should this fail, the file is complete and in place;
         * only its surviving a power cut is in doubt, which the error reports. */
        char *dir = strdup(s->path), *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) slash[slash == dir] = 0;
        rc = dir ? fsync_path(slash ? dir : ".", 1) : lt_error(LT_ENOMEM, "%s: out of memory", s->path);
        free(dir);
    }
    shard_free(s);
    return rc;
}

static void abort_locked(lt_shard *s) {
    if (!s) return;
    /* Only a file we created is ours to delete. */
    if (s->tmp && s->file >= 0) {
        h5_close(s->file);
        s->file = H5I_INVALID_HID;
        unlink(s->tmp);
    }
    shard_free(s);
}

/* ---- reading -------------------------------------------------------------------------------- */

/* HDF5 puts its 8-byte signature at 0, 512, 1024, 2048, ... (after an optional user block).
 * Looking for it ourselves gives "not an HDF5 file" instead of a page of HDF5 internals. */
static int check_signature(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f) return lt_error(errno == ENOENT ? LT_ENOENT : LT_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0, found = 0;
    if (fstat(fileno(f), &st) != 0) rc = lt_error(LT_EIO, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) rc = lt_error(LT_EFORMAT, "%s: not a regular file", path);
    else if (st.st_size == 0) rc = lt_error(LT_EFORMAT, "%s: not an HDF5 file (it is empty)", path);
    for (off_t off = 0; !rc && !found && off + 8 <= st.st_size; off = off ? 2 * off : 512) {
        unsigned char buf[8];
        if (fseeko(f, off, SEEK_SET) != 0 || fread(buf, 1, 8, f) != 8)
            rc = lt_error(LT_EIO, "%s: reading: %s", path, ferror(f) ? strerror(errno) : "short read");
        found = !rc && !memcmp(buf, sig, 8);
    }
    fclose(f);
    if (!rc && !found) rc = lt_error(LT_EFORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
    return rc;
}

static int read_schema(lt_shard *s, const char *kind, int max_version) {
    char want[96], v[128];
    if (!kind) snprintf(want, sizeof want, "<kind>/<version>");
    else if (max_version == 1) snprintf(want, sizeof want, "%s/1", kind);
    else snprintf(want, sizeof want, "%s/1..%d", kind, max_version);
    htri_t ex = H5Aexists(s->file, SCHEMA_ATTR);
    if (ex < 0) return h5_error(s, LT_EFORMAT, "reading the root attributes");
    if (!ex)
        return lt_error(LT_ESCHEMA, "%s: no '%s' attribute, not a longtail shard (expected %s)", s->path,
                        SCHEMA_ATTR, want);
    int rc = attr_read_str(s, s->file, "", SCHEMA_ATTR, v, sizeof v);
    if (rc < 0) return rc == LT_EDTYPE ? LT_ESCHEMA : rc;
    char *slash = strrchr(v, '/'), *end = NULL;
    long ver = slash && slash[1] >= '0' && slash[1] <= '9' ? strtol(slash + 1, &end, 10) : 0;
    if (!slash || slash == v || slash - v >= (long)sizeof s->kind || ver < 1 || ver > 1 << 30 || *end)
        return lt_error(LT_ESCHEMA, "%s: %s is '%s', not <kind>/<version>%s%s%s", s->path, SCHEMA_ATTR, v,
                        kind ? " (expected " : "", kind ? want : "", kind ? ")" : "");
    snprintf(s->kind, sizeof s->kind, "%.*s", (int)(slash - v), v);
    s->version = (int)ver;
    if (kind && strcmp(kind, s->kind))
        return lt_error(LT_ESCHEMA, "%s: %s is '%s', expected %s", s->path, SCHEMA_ATTR, v, want);
    if (s->version > max_version)
        return lt_error(LT_ESCHEMA, "%s: %s is '%s', this longtail reads %s (written by a newer longtail?)", s->path,
                        SCHEMA_ATTR, v, want);
    return 0;
}

static int open_locked(lt_shard **out, const char *path, const char *kind, int max_version) {
    *out = NULL;
    if (!path || !path[0]) return lt_error(LT_EINVAL, "shard open: no path");
    if (max_version < 1) return lt_error(LT_EINVAL, "%s: max_version=%d, expected >= 1", path, max_version);
    h5_init();
    LT_TRY(check_signature(path));
    lt_shard *s = NULL;
    LT_TRY(shard_new(&s, path));
    hid_t fapl = fapl_strong();
    int rc = 0;
    s->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (s->file < 0) rc = h5_error(s, LT_EFORMAT, "cannot open as HDF5");
    h5_close(fapl);
    if (!rc) rc = read_schema(s, kind, max_version);
    if (rc) {
        shard_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* A writer closed without commit is aborted: only commit makes a file look finished. */
static void close_locked(lt_shard *s) {
    if (s && s->tmp) lt_shard_abort(s);
    else shard_free(s);
}

const char *lt_shard_path(const lt_shard *s) { return s ? s->path : ""; }
const char *lt_shard_kind(const lt_shard *s) { return s ? s->kind : ""; }
int lt_shard_version(const lt_shard *s) { return s ? s->version : 0; }

static int has_locked(lt_shard *s, const char *name) {
    dset d;
    int rc = dset_open(s, name, &d);
    dset_close(&d);
    return rc == 0 ? 1 : rc == LT_ENOENT ? 0 : rc;
}

static int shape_locked(lt_shard *s, const char *name, lt_dtype *dtype, int *ndim, int64_t *shape) {
    dset d;
    LT_TRY(dset_open(s, name, &d));
    dset_close(&d);
    if (d.dtype < 0)
        return lt_error(LT_EDTYPE, "%s: dataset '%s' is %s, which longtail does not read", s->path, name, d.tname);
    if (dtype) *dtype = (lt_dtype)d.dtype;
    if (ndim) *ndim = d.ndim;
    for (int i = 0; shape && i < d.ndim; i++) shape[i] = (int64_t)d.dims[i];
    return 0;
}

/* Check that buf of cap bytes can take n elements of dtype. */
static int check_cap(lt_shard *s, const char *name, const dset *d, int64_t n, const void *buf, size_t cap) {
    char sh[128];
    int64_t size = (int64_t)lt_dtype_size((lt_dtype)d->dtype);
    if (n > INT64_MAX / size || (uint64_t)(n * size) > cap)
        return lt_error(LT_EINVAL, "%s: dataset '%s' %s: %lld values of %lld bytes do not fit a buffer of %zu bytes",
                        s->path, name, shape_str(sh, sizeof sh, d->tname, d->ndim, d->dims), (long long)n,
                        (long long)size, cap);
    if (n > 0 && !buf) return lt_error(LT_EINVAL, "%s: reading dataset '%s' into NULL", s->path, name);
    return 0;
}

static int read_locked(lt_shard *s, const char *name, lt_dtype dtype, void *buf, size_t cap) {
    dset d;
    LT_TRY(dset_open_as(s, name, dtype, &d));
    int64_t n = count(d.dims, 0, d.ndim);
    int rc = check_cap(s, name, &d, n, buf, cap);
    if (!rc && n > 0 && H5Dread(d.id, mem_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = h5_error(s, LT_EIO, "reading dataset '%s'", name);
    dset_close(&d);
    return rc;
}

static int read_rows_locked(lt_shard *s, const char *name, lt_dtype dtype, int64_t row0, int64_t nrows, void *buf,
                       size_t cap) {
    dset d;
    LT_TRY(dset_open_as(s, name, dtype, &d));
    int rc = 0;
    if (d.ndim < 1) {
        rc = lt_error(LT_EINVAL, "%s: dataset '%s' is a scalar, it has no rows", s->path, name);
    } else if (row0 < 0 || nrows < 0 || (hsize_t)row0 > d.dims[0] || (hsize_t)nrows > d.dims[0] - (hsize_t)row0) {
        rc = lt_error(LT_ERANGE, "%s: dataset '%s': rows [%lld, %.0f) asked, it has %llu rows", s->path, name,
                      (long long)row0, (double)row0 + (double)nrows, (unsigned long long)d.dims[0]);
    } else {
        int64_t row = count(d.dims, 1, d.ndim);
        rc = check_cap(s, name, &d, row && nrows > INT64_MAX / row ? INT64_MAX : nrows * row, buf, cap);
    }
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    if (!rc && nrows > 0 &&
        (select_rows(d.id, d.ndim, d.dims, (hsize_t)row0, (hsize_t)nrows, &fs, &ms) < 0 ||
         H5Dread(d.id, mem_type(dtype), ms, fs, H5P_DEFAULT, buf) < 0))
        rc = h5_error(s, LT_EIO, "reading rows [%lld, %lld) of dataset '%s'", (long long)row0,
                      (long long)(row0 + nrows), name);
    h5_close(ms), h5_close(fs);
    dset_close(&d);
    return rc;
}

static int attr_get(lt_shard *s, const char *obj, const char *key, H5T_class_t cls, hid_t mtype, void *out,
                    char *str, size_t cap) {
    if (!s) return lt_error(LT_EINVAL, "shard attribute: NULL shard");
    if (!key || (!str && !out)) return lt_error(LT_EINVAL, "%s: attribute look-up needs a key and a result", s->path);
    hid_t o;
    LT_TRY(obj_open(s, obj, &o));
    int rc = str ? attr_read_str(s, o, obj, key, str, cap) : attr_read_num(s, o, obj, key, cls, mtype, out);
    h5_close(o);
    return rc;
}

static int attr_str_locked(lt_shard *s, const char *obj, const char *key, char *buf, size_t cap) {
    if (!buf || !cap) return lt_error(LT_EINVAL, "%s: attribute '%s': no buffer", lt_shard_path(s), key ? key : "");
    return attr_get(s, obj, key, H5T_STRING, H5I_INVALID_HID, NULL, buf, cap);
}
static int attr_i64_locked(lt_shard *s, const char *obj, const char *key, int64_t *value) {
    return attr_get(s, obj, key, H5T_INTEGER, H5T_NATIVE_INT64, value, NULL, 0);
}
static int attr_f64_locked(lt_shard *s, const char *obj, const char *key, double *value) {
    return attr_get(s, obj, key, H5T_FLOAT, H5T_NATIVE_DOUBLE, value, NULL, 0);
}

/* ---- visiting ------------------------------------------------------------------------------- */

typedef struct {
    lt_shard *s;
    lt_shard_visit_fn fn;
    lt_shard_attr_visit_fn attr_fn;
    const char *obj;
    void *ud;
    char path[NAME_MAX_LEN];
    int depth; /* of groups; bounded because hard links can make a cycle */
    int rc;
} visit_ctx;

static int visit_group(visit_ctx *v, hid_t g);

static int visit_dataset(visit_ctx *v) {
    lt_dtype dtype = LT_F32;
    int ndim = 0;
    int64_t shape[LT_MAX_DIMS];
    LT_TRY(lt_shard_shape(v->s, v->path, &dtype, &ndim, shape));
    return v->fn(v->ud, v->path, dtype, ndim, shape);
}

static herr_t visit_link(hid_t g, const char *name, const H5L_info_t *info, void *p) {
    visit_ctx *v = p;
    if (info->type != H5L_TYPE_HARD) return 0; /* soft and external links are not part of a shard */
    size_t len = strlen(v->path);
    int n = snprintf(v->path + len, sizeof v->path - len, "%s%s", len ? "/" : "", name);
    if (n < 0 || (size_t)n >= sizeof v->path - len) {
        v->path[len] = 0;
        v->rc = lt_error(LT_EFORMAT, "%s: a name under '%s' is too long", v->s->path, objname(v->path));
        return 1;
    }
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) v->rc = h5_error(v->s, LT_EFORMAT, "cannot open '%s'", v->path);
    else if (H5Iget_type(o) == H5I_GROUP) v->rc = visit_group(v, o);
    else if (H5Iget_type(o) == H5I_DATASET) v->rc = visit_dataset(v);
    h5_close(o);
    v->path[len] = 0;
    return v->rc ? 1 : 0; /* 1 stops H5Literate without an HDF5 error */
}

static int visit_group(visit_ctx *v, hid_t g) {
    if (v->depth >= MAX_GROUP_DEPTH)
        return lt_error(LT_EFORMAT, "%s: groups nested deeper than %d at '%s' (a link cycle?)", v->s->path,
                        MAX_GROUP_DEPTH, v->path);
    hsize_t idx = 0;
    v->depth++;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_link, v) < 0 && !v->rc)
        v->rc = h5_error(v->s, LT_EFORMAT, "listing group '%s'", objname(v->path));
    v->depth--;
    return v->rc;
}

/* Depth first, sorted by name. A non-zero return from fn stops the walk and is returned. */
static int visit_locked(lt_shard *s, lt_shard_visit_fn fn, void *ud) {
    if (!s || !fn) return lt_error(LT_EINVAL, "shard visit: NULL shard or function");
    visit_ctx v = {.s = s, .fn = fn, .ud = ud};
    hid_t root;
    LT_TRY(obj_open(s, "", &root));
    int rc = visit_group(&v, root);
    h5_close(root);
    return rc;
}

/* An attribute as text: strings quoted, one number in decimal, anything else as its type. */
static int attr_text(visit_ctx *v, hid_t o, const char *key, char *buf, size_t n) {
    hid_t a, t;
    hssize_t np = 0;
    LT_TRY(attr_open(v->s, o, v->obj, key, H5T_NO_CLASS, &a, &t, &np));
    H5T_class_t cls = H5Tget_class(t);
    int u = cls == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE;
    char tname[48];
    classify(t, tname, sizeof tname);
    h5_close(t), h5_close(a);
    if (np != 1) {
        snprintf(buf, n, "(%s[%lld])", tname, (long long)np);
        return 0;
    }
    if (cls == H5T_STRING) {
        buf[0] = '"';
        LT_TRY(attr_read_str(v->s, o, v->obj, key, buf + 1, n - 2));
        strcat(buf, "\"");
    } else if (cls == H5T_INTEGER) {
        union { int64_t i; uint64_t u; } x;
        LT_TRY(attr_read_num(v->s, o, v->obj, key, cls, u ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, &x));
        if (u) snprintf(buf, n, "%llu", (unsigned long long)x.u);
        else snprintf(buf, n, "%lld", (long long)x.i);
    } else if (cls == H5T_FLOAT) {
        double x;
        LT_TRY(attr_read_num(v->s, o, v->obj, key, cls, H5T_NATIVE_DOUBLE, &x));
        snprintf(buf, n, "%.17g", x);
    } else {
        snprintf(buf, n, "(%s)", tname);
    }
    return 0;
}

static herr_t visit_attr(hid_t o, const char *key, const H5A_info_t *info, void *p) {
    visit_ctx *v = p;
    char text[512];
    v->rc = attr_text(v, o, key, text, sizeof text);
    if (!v->rc) v->rc = v->attr_fn(v->ud, key, text);
    return v->rc ? 1 : 0;
}

static int visit_attrs_locked(lt_shard *s, const char *obj, lt_shard_attr_visit_fn fn, void *ud) {
    if (!s || !fn) return lt_error(LT_EINVAL, "shard visit_attrs: NULL shard or function");
    visit_ctx v = {.s = s, .attr_fn = fn, .obj = obj, .ud = ud};
    hid_t o;
    LT_TRY(obj_open(s, obj, &o));
    hsize_t idx = 0;
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_attr, &v) < 0 && !v.rc)
        v.rc = h5_error(s, LT_EFORMAT, "listing the attributes of '%s'", objname(obj));
    h5_close(o);
    return v.rc;
}

/* ---- the public API: each call holds the HDF5 lock ------------------------------------------ */

int lt_shard_create(lt_shard **out, const char *path, const char *kind, int version) {
    h5_lock();
    int rc = create_locked(out, path, kind, version);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_write(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const int64_t *shape,
                   const void *data) {
    h5_lock();
    int rc = write_locked(s, name, dtype, ndim, shape, data);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_create_growing(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const int64_t *row_shape,
                            int64_t chunk_rows) {
    h5_lock();
    int rc = create_growing_locked(s, name, dtype, ndim, row_shape, chunk_rows);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_append(lt_shard *s, const char *name, const void *rows, int64_t nrows) {
    h5_lock();
    int rc = append_locked(s, name, rows, nrows);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_set_attr_str(lt_shard *s, const char *obj, const char *key, const char *value) {
    h5_lock();
    int rc = set_attr_str_locked(s, obj, key, value);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_set_attr_i64(lt_shard *s, const char *obj, const char *key, int64_t value) {
    h5_lock();
    int rc = set_attr_i64_locked(s, obj, key, value);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_set_attr_f64(lt_shard *s, const char *obj, const char *key, double value) {
    h5_lock();
    int rc = set_attr_f64_locked(s, obj, key, value);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_commit(lt_shard *s) {
    h5_lock();
    int rc = commit_locked(s);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

void lt_shard_abort(lt_shard *s) {
    h5_lock();
    abort_locked(s);
    pthread_mutex_unlock(&g_h5);
}

int lt_shard_open(lt_shard **out, const char *path, const char *kind, int max_version) {
    h5_lock();
    int rc = open_locked(out, path, kind, max_version);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

void lt_shard_close(lt_shard *s) {
    h5_lock();
    close_locked(s);
    pthread_mutex_unlock(&g_h5);
}

int lt_shard_has(lt_shard *s, const char *name) {
    h5_lock();
    int rc = has_locked(s, name);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_shape(lt_shard *s, const char *name, lt_dtype *dtype, int *ndim, int64_t *shape) {
    h5_lock();
    int rc = shape_locked(s, name, dtype, ndim, shape);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_read(lt_shard *s, const char *name, lt_dtype dtype, void *buf, size_t cap) {
    h5_lock();
    int rc = read_locked(s, name, dtype, buf, cap);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_read_rows(lt_shard *s, const char *name, lt_dtype dtype, int64_t row0, int64_t nrows, void *buf,
                       size_t cap) {
    h5_lock();
    int rc = read_rows_locked(s, name, dtype, row0, nrows, buf, cap);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_attr_str(lt_shard *s, const char *obj, const char *key, char *buf, size_t cap) {
    h5_lock();
    int rc = attr_str_locked(s, obj, key, buf, cap);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_attr_i64(lt_shard *s, const char *obj, const char *key, int64_t *value) {
    h5_lock();
    int rc = attr_i64_locked(s, obj, key, value);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_attr_f64(lt_shard *s, const char *obj, const char *key, double *value) {
    h5_lock();
    int rc = attr_f64_locked(s, obj, key, value);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_visit(lt_shard *s, lt_shard_visit_fn fn, void *ud) {
    h5_lock();
    int rc = visit_locked(s, fn, ud);
    pthread_mutex_unlock(&g_h5);
    return rc;
}

int lt_shard_visit_attrs(lt_shard *s, const char *obj, lt_shard_attr_visit_fn fn, void *ud) {
    h5_lock();
    int rc = visit_attrs_locked(s, obj, fn, ud);
    pthread_mutex_unlock(&g_h5);
    return rc;
}
