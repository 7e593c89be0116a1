/* A minimal JSON reader for the headers of safetensors files and Hugging Face config.json: the
 * whole text is parsed into a flat array of nodes, strings are decoded in place in a private copy
 * of the text (by lt_json_string, data/textio.h). Strict (RFC 8259) and bounded: nesting deeper than LT_JSON_MAX_DEPTH, more than
 * LT_JSON_MAX_NODES values, numbers longer than 64 characters, bad escapes and control characters
 * are errors with a byte offset. */
#ifndef LONGTAIL_MODEL_JSON_H
#define LONGTAIL_MODEL_JSON_H

#include <stddef.h>
#include <stdint.h>

#define LT_JSON_MAX_DEPTH 64
#define LT_JSON_MAX_NODES (1 << 22) /* 4M values: far above any checkpoint header */

typedef enum { LT_JSON_NULL, LT_JSON_BOOL, LT_JSON_NUMBER, LT_JSON_STRING, LT_JSON_ARRAY, LT_JSON_OBJECT } lt_json_type;

typedef struct lt_json {
    lt_json_type type;
    const char *key;  /* the member's name when the parent is an object, else NULL */
    const char *str;  /* LT_JSON_STRING: decoded, NUL-terminated, len bytes (\u0000 is refused) */
    size_t len;
    double num;       /* LT_JSON_NUMBER (and LT_JSON_BOOL: 0 or 1) */
    int is_int;       /* the number is an integer literal that fits in int64 ... */
    int64_t i;        /* ... with this value */
    int count;        /* arrays and objects: number of children */
    int first, next;  /* index of the first child and of the next sibling; -1 when none */
} lt_json;

typedef struct lt_json_doc {
    lt_json *nodes; /* nodes[0] is the root */
    int n, cap;
    char *text;     /* the private copy that strings point into */
} lt_json_doc;

/* Parse text[0, len) (no NUL needed). Errors: LT_EFORMAT "json: <what> at byte <offset>", LT_ENOMEM. */
int lt_json_parse(lt_json_doc *doc, const char *text, size_t len);
void lt_json_free(lt_json_doc *doc);

const lt_json *lt_json_root(const lt_json_doc *doc);
/* A child of an object by name (the first one), or NULL. */
const lt_json *lt_json_get(const lt_json_doc *doc, const lt_json *obj, const char *key);
/* The i-th child of an array or object (0-based), or NULL. */
const lt_json *lt_json_at(const lt_json_doc *doc, const lt_json *arr, int i);
const char *lt_json_type_name(lt_json_type t);

#endif
