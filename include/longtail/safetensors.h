/* safetensors files (the format Hugging Face checkpoints use):
 *
 *   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data]
 *   header: {"__metadata__": {"k": "v", ...},
 *            "<name>": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...}
 *
 * Offsets are relative to the start of the data. The reader trusts nothing: every size, offset and
 * shape is checked against the file length with overflow-safe arithmetic, tensors may not overlap
 * and must cover the data without holes (as the reference implementation demands), and a failure
 * names the tensor, the numbers involved and the file. Data is little-endian, as on the hosts
 * longtail runs on. */
#ifndef LONGTAIL_SAFETENSORS_H
#define LONGTAIL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LT_ST_MAX_DIMS 8
#define LT_ST_MAX_HEADER (100u << 20) /* as the reference implementation */

typedef enum {
    LT_ST_BOOL, LT_ST_U8, LT_ST_I8, LT_ST_F8_E4M3, LT_ST_F8_E5M2, LT_ST_I16, LT_ST_U16, LT_ST_F16, LT_ST_BF16,
    LT_ST_I32, LT_ST_U32, LT_ST_F32, LT_ST_I64, LT_ST_U64, LT_ST_F64, LT_ST_DTYPE_COUNT
} lt_st_dtype;

typedef struct lt_st_tensor {
    const char *name;
    lt_st_dtype dtype;
    int ndim;
    int64_t shape[LT_ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* into the file image */
    size_t nbytes;
} lt_st_tensor;

struct lt_json_doc;

typedef struct lt_safetensors {
    const uint8_t *image; /* the whole file */
    size_t len;
    lt_st_tensor *t;      /* in file order */
    int n;
    void *owned;          /* the image when read from a file */
    struct lt_json_doc *header;
} lt_safetensors;

/* Parse an image in memory; it is not copied and must outlive st. */
int lt_safetensors_parse(lt_safetensors *st, const void *image, size_t len);
/* Read a whole file and parse it; errors are prefixed with the path. */
int lt_safetensors_open(lt_safetensors *st, const char *path);
void lt_safetensors_close(lt_safetensors *st);

const lt_st_tensor *lt_safetensors_find(const lt_safetensors *st, const char *name);
const char *lt_st_dtype_name(lt_st_dtype t);
/* The tensor's numel values as f32 (F32, F16 and BF16 are converted; other dtypes are refused with
 * LT_EDTYPE naming the tensor). */
int lt_st_to_f32(const lt_st_tensor *t, float *out);

/* One f32 tensor to write. */
typedef struct lt_st_entry {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} lt_st_entry;

/* Write n f32 tensors (with __metadata__ {"format": "pt"}, which transformers expects) to a
 * temporary name, then rename it to path. */
int lt_safetensors_write(const char *path, const lt_st_entry *ts, int n);

#ifdef __cplusplus
}
#endif
#endif
