/* Reading raw text inputs: lines from plain or gzip files (or memory, for tests and fuzzing),
 * tab/separator splitting, UTF-8 checks, Latin-1 conversion, and flat JSON objects.
 * Internal to src/data/. */
#ifndef LONGTAIL_TEXTIO_H
#define LONGTAIL_TEXTIO_H

#include <stddef.h>
#include <stdint.h>

/* ---- lines ---------------------------------------------------------------------------------- */

typedef struct lt_lines {
    const char *name;      /* file name for messages */
    void *gz;              /* gzFile, or NULL when reading memory */
    const char *mem;       /* memory source */
    size_t mem_len, mem_pos;
    char *buf;             /* current line, NUL-terminated, without \n or \r\n */
    size_t len, cap;
    int64_t lineno;        /* 1-based number of the current line */
    size_t max_line;       /* longer lines are an error (garbage input must not eat memory) */
    size_t in_len, in_pos;
    int eof;
    int has_nul;           /* the current line contains a NUL byte (binary garbage) */
    char inbuf[1 << 16];   /* read-ahead; last, so that resetting the fields above is cheap */
} lt_lines;

/* Open a file; gzip files are decompressed on the fly (zlib reads plain files unchanged). */
int lt_lines_open(lt_lines *l, const char *path);
/* Read lines from memory; name is used in messages. */
void lt_lines_mem(lt_lines *l, const char *name, const char *data, size_t len);
/* Next line into l->buf/l->len. Returns 1 for a line, 0 at end of input, <0 on error (read
 * error, line longer than max_line). A line holding a NUL byte is returned with has_nul set. */
int lt_lines_next(lt_lines *l);
void lt_lines_close(lt_lines *l);

/* ---- fields ---------------------------------------------------------------------------------- */

/* Split s (modified in place) at every occurrence of sep (a string, e.g. "\t" or "::").
 * Returns the number of fields (up to max; the last field keeps the rest of the line). */
int lt_split(char *s, const char *sep, char **fields, int max);

/* Length of the valid UTF-8 prefix of s (== len when all of s is valid, no overlongs,
 * no surrogates, nothing above U+10FFFF). */
size_t lt_utf8_valid_prefix(const char *s, size_t len);
/* Latin-1 (ISO-8859-1) to UTF-8; out needs 2 * len + 1 bytes. Returns the output length. */
size_t lt_latin1_to_utf8(const char *in, size_t len, char *out);
/* Parse a decimal int64 that spans the whole string. */
int lt_parse_i64(const char *s, int64_t *out);

/* ---- fingerprints ---------------------------------------------------------------------------- */

/* FNV-1a, 64 bit: h = lt_fnv1a(LT_FNV1A_INIT, p, n), and chained over more bytes. Simple and well
 * distributed; not for adversaries. */
#define LT_FNV1A_INIT 0xcbf29ce484222325ull
static inline uint64_t lt_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
/* FNV-1a of a whole file's bytes; errors name the file. */
int lt_file_fnv1a(const char *path, uint64_t *out);

/* ---- flat JSON objects -------------------------------------------------------------------- */

/* One JSON object whose values are strings, numbers, true/false/null (nested arrays and objects
 * are rejected). Strings are decoded in place (escapes, \uXXXX with surrogate pairs -> UTF-8). */
#define LT_JSON_MAX_KEYS 32
typedef struct {
    int n;
    char *key[LT_JSON_MAX_KEYS];
    char *val[LT_JSON_MAX_KEYS]; /* decoded string, or the literal text of a number/true/false */
    int is_str[LT_JSON_MAX_KEYS];
    int is_null[LT_JSON_MAX_KEYS];
} lt_json_obj;

/* Parse s (modified in place). Returns 0, or LT_EFORMAT with a reason and the byte column. */
int lt_json_parse_flat(char *s, lt_json_obj *o);
/* Index of key, or -1. */
int lt_json_find(const lt_json_obj *o, const char *key);
/* The JSON string whose opening quote *s points at (in NUL-terminated text), decoded in place as
 * lt_json_parse_flat does and NUL-terminated; *s moves past the closing quote. Errors give the
 * column counted from start. (src/model/json.c parses nested JSON with it.) */
int lt_json_string(char **s, const char *start, char **out);

#endif
