/* Shards: the HDF5 files longtail reads and writes (catalogs, token ids, event sequences,
 * embeddings, recommendations). Each holds named, typed datasets (chunked, deflate-compressed)
 * and a root attribute `longtail_schema` = "<kind>/<version>", e.g. "catalog/1".
 *
 * Writers work on "<path>.tmp-<pid>" and rename it to <path> in lt_shard_commit(), so a killed
 * job never leaves a file that looks finished. Readers check the schema first and name the file
 * and the dataset in every error. Text is stored as one uint8 dataset of concatenated UTF-8 bytes
 * plus an int64 offsets dataset (CSR), never as HDF5 variable-length strings. */
#ifndef LONGTAIL_SHARD_H
#define LONGTAIL_SHARD_H

#include <stdint.h>
#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_shard lt_shard;

/* ---- writing ---- */
int lt_shard_create(lt_shard **out, const char *path, const char *kind, int version);
/* A whole dataset in one call; shape[0] rows. Names may contain '/' (groups are created). */
int lt_shard_write(lt_shard *s, const char *name, lt_dtype dtype, int ndim, const int64_t *shape,
                   const void *data);
/* Datasets that grow along dim 0: create with the shape of one row (ndim-1 dims after the
 * row dim, given in row_shape; ndim counts the row dim), then append rows. */
int lt_shard_create_growing(lt_shard *s, const char *name, lt_dtype dtype, int ndim,
                            const int64_t *row_shape, int64_t chunk_rows);
int lt_shard_append(lt_shard *s, const char *name, const void *rows, int64_t nrows);
/* Attributes on the root ("") or on a dataset. */
int lt_shard_set_attr_str(lt_shard *s, const char *obj, const char *key, const char *value);
int lt_shard_set_attr_i64(lt_shard *s, const char *obj, const char *key, int64_t value);
int lt_shard_set_attr_f64(lt_shard *s, const char *obj, const char *key, double value);
/* Flush, close, fsync and rename into place; frees s whatever happens. */
int lt_shard_commit(lt_shard *s);
/* Close and delete the temporary file; frees s. */
void lt_shard_abort(lt_shard *s);

/* ---- reading ---- */
/* kind NULL accepts any longtail shard; otherwise the kind must match and the version must be
 * 1..max_version (LT_ESCHEMA otherwise). */
int lt_shard_open(lt_shard **out, const char *path, const char *kind, int max_version);
void lt_shard_close(lt_shard *s);
const char *lt_shard_path(const lt_shard *s);
const char *lt_shard_kind(const lt_shard *s);
int lt_shard_version(const lt_shard *s);

int lt_shard_has(lt_shard *s, const char *name);
/* dtype, ndim and shape of a dataset; LT_ENOENT "file: no dataset 'x'" when missing. */
int lt_shard_shape(lt_shard *s, const char *name, lt_dtype *dtype, int *ndim, int64_t *shape);
/* Read a whole dataset of exactly `dtype` into buf of `cap` bytes. */
int lt_shard_read(lt_shard *s, const char *name, lt_dtype dtype, void *buf, size_t cap);
/* Read rows [row0, row0 + nrows) along dim 0. */
int lt_shard_read_rows(lt_shard *s, const char *name, lt_dtype dtype, int64_t row0,
                       int64_t nrows, void *buf, size_t cap);
/* Attribute look-ups: LT_ENOENT when absent. str copies at most cap-1 bytes + NUL. */
int lt_shard_attr_str(lt_shard *s, const char *obj, const char *key, char *buf, size_t cap);
int lt_shard_attr_i64(lt_shard *s, const char *obj, const char *key, int64_t *value);
int lt_shard_attr_f64(lt_shard *s, const char *obj, const char *key, double *value);

/* Visit every dataset (depth first, sorted by name). */
typedef int (*lt_shard_visit_fn)(void *ud, const char *name, lt_dtype dtype, int ndim,
                                 const int64_t *shape);
int lt_shard_visit(lt_shard *s, lt_shard_visit_fn fn, void *ud);
/* Visit the attributes of obj ("" = root) sorted by name, each value as text: strings quoted,
 * a single number in decimal, anything else as its type ("(f32[3])"). For `longtail info`. */
typedef int (*lt_shard_attr_visit_fn)(void *ud, const char *key, const char *value);
int lt_shard_visit_attrs(lt_shard *s, const char *obj, lt_shard_attr_visit_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
