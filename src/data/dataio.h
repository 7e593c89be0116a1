/* Helpers shared by the shard writers and readers of src/data/: ragged arrays (CSR: a
 * `values` dataset plus an `offsets` dataset, under one group) and shard folders. */
#ifndef LONGTAIL_DATAIO_H
#define LONGTAIL_DATAIO_H

#include "longtail/data.h"
#include "longtail/shard.h"

/* Write entries [b, e) of a CSR array as name/values and name/offsets (rebased to start at 0). */
int lt_ragged_write(lt_shard *s, const char *name, lt_dtype dt, const void *values, const int64_t *off, int64_t b,
                    int64_t e);
/* Read name/{values,offsets}: *n entries; *values and *off (n + 1, from 0) are malloc'd. The
 * offsets are checked (start at 0, never decrease, end at the number of values). */
int lt_ragged_read(lt_shard *s, const char *name, lt_dtype dt, void **values, int64_t **off, int64_t *n);
/* Read a u8 ragged array (strings) and append its entries to dst. */
int lt_ragged_read_append(lt_shard *s, const char *name, lt_strs *dst, int64_t *n);

/* Rows sorted by length, then row index: batches of similar length in a fixed order. */
typedef struct {
    int64_t len, row;
} lt_len_row;
void lt_sort_len_rows(lt_len_row *v, int64_t n);

/* mkdir -p of an output folder; an existing file there is an error, and the "*.tmp-PID" files of
 * writers that were killed are removed from it (core/tmpfile.h). */
int lt_mkdirs(const char *dir);
/* Sorted names "<prefix>NNNNN.h5" in dir (malloc'd; free with lt_free_names). */
int lt_list_shards(const char *dir, const char *prefix, char ***names, int *count);
void lt_free_names(char **names, int count);
/* The error for a shard set whose count (declared in the shards) does not match the files:
 * names the first missing file, or the extra one. */
int lt_shard_set_error(const char *dir, const char *prefix, char **names, int count, int64_t declared);

#endif
