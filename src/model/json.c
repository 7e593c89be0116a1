/* A strict, bounded JSON reader (json.h). Recursive descent over a private copy of the text;
 * strings are decoded in place (a decoded string is never longer than its quoted form). */
#include "model/json.h"

#include <stdlib.h>
#include <string.h>

#include "data/textio.h"
#include "longtail/error.h"

typedef struct {
    lt_json_doc *doc;
    char *s;     /* the copy being parsed */
    size_t len, pos;
} parser;

static int fail(const parser *p, const char *what) {
    return lt_error(LT_EFORMAT, "json: %s at byte %zu", what, p->pos);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* A new node; returns its index or a negative error. */
static int new_node(parser *p, lt_json_type type) {
    lt_json_doc *d = p->doc;
    if (d->n == LT_JSON_MAX_NODES) return fail(p, "more than LT_JSON_MAX_NODES values");
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 64;
        lt_json *n = realloc(d->nodes, sizeof *n * (size_t)cap);
        if (!n) return lt_error(LT_ENOMEM, "json: out of memory for %d nodes", cap);
        d->nodes = n, d->cap = cap;
    }
    d->nodes[d->n] = (lt_json){.type = type, .first = -1, .next = -1};
    return d->n++;
}

/* At an opening quote: the string decoded in place (data/textio.c, shared with the importer's
 * JSON lines); *out and *n give the result. */
static int parse_string(parser *p, const char **out, size_t *n) {
    char *at = p->s + p->pos, *str;
    int rc = lt_json_string(&at, p->s, &str);
    p->pos = (size_t)(at - p->s);
    if (rc < 0) return lt_error_wrap(rc, "json: ");
    *out = str, *n = strlen(str);
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *p, lt_json *node) {
    size_t b = p->pos;
    const char *s = p->s;
    int frac = 0;
    if (p->pos < p->len && s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len || !is_digit(s[p->pos])) return fail(p, "bad number");
    if (s[p->pos] == '0') p->pos++;
    else
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    if (p->pos < p->len && s[p->pos] == '.') {
        frac = 1, p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) return fail(p, "bad fraction");
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        frac = 1, p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) return fail(p, "bad exponent");
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    char buf[65];
    size_t n = p->pos - b;
    if (n >= sizeof buf) return fail(p, "number longer than 64 characters");
    memcpy(buf, s + b, n);
    buf[n] = 0;
    node->num = strtod(buf, NULL);
    if (!frac) { /* exact integer, when it fits */
        int neg = buf[0] == '-';
        uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        node->is_int = 1;
        for (const char *c = buf + neg; *c; c++) {
            if (v > (lim - (uint64_t)(*c - '0')) / 10) {
                node->is_int = 0;
                break;
            }
            v = v * 10 + (uint64_t)(*c - '0');
        }
        if (node->is_int) node->i = neg ? (int64_t)(0 - v) : (int64_t)v;
    }
    return 0;
}

static int parse_value(parser *p, int depth);

/* Arrays and objects: children linked in order. */
static int parse_container(parser *p, int depth, int obj) {
    if (depth >= LT_JSON_MAX_DEPTH) return fail(p, "nesting deeper than 64");
    int self = new_node(p, obj ? LT_JSON_OBJECT : LT_JSON_ARRAY);
    if (self < 0) return self;
    char close = obj ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return self;
    }
    int prev = -1;
    for (;;) {
        const char *key = NULL;
        size_t klen = 0;
        if (obj) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a member name");
            LT_TRY(parse_string(p, &key, &klen));
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':'");
            p->pos++;
        }
        int child = parse_value(p, depth + 1);
        if (child < 0) return child;
        lt_json *nodes = p->doc->nodes; /* may have moved */
        nodes[child].key = key;
        if (prev < 0) nodes[self].first = child;
        else nodes[prev].next = child;
        nodes[self].count++;
        prev = child;
        skip_ws(p);
        if (p->pos >= p->len) return fail(p, obj ? "unterminated object" : "unterminated array");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            return self;
        }
        return fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int literal(parser *p, const char *word, lt_json_type type, double num) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n)) return fail(p, "unexpected character");
    p->pos += n;
    int self = new_node(p, type);
    if (self >= 0) p->doc->nodes[self].num = num;
    return self;
}

/* Returns the new node's index or a negative error. */
static int parse_value(parser *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') return parse_container(p, depth, c == '{');
    if (c == '"') {
        const char *s = NULL;
        size_t n = 0;
        LT_TRY(parse_string(p, &s, &n));
        int self = new_node(p, LT_JSON_STRING);
        if (self >= 0) p->doc->nodes[self].str = s, p->doc->nodes[self].len = n;
        return self;
    }
    if (c == '-' || is_digit(c)) {
        int self = new_node(p, LT_JSON_NUMBER);
        if (self < 0) return self;
        LT_TRY(parse_number(p, &p->doc->nodes[self]));
        return self;
    }
    if (c == 't') return literal(p, "true", LT_JSON_BOOL, 1);
    if (c == 'f') return literal(p, "false", LT_JSON_BOOL, 0);
    if (c == 'n') return literal(p, "null", LT_JSON_NULL, 0);
    return fail(p, "unexpected character");
}

int lt_json_parse(lt_json_doc *doc, const char *text, size_t len) {
    memset(doc, 0, sizeof *doc);
    doc->text = malloc(len + 1);
    if (!doc->text) return lt_error(LT_ENOMEM, "json: out of memory for %zu bytes", len);
    memcpy(doc->text, text, len);
    doc->text[len] = 0;
    parser p = {doc, doc->text, len, 0};
    int rc = parse_value(&p, 0);
    if (rc >= 0) {
        skip_ws(&p);
        rc = p.pos == len ? 0 : fail(&p, "trailing characters after the value");
    }
    if (rc < 0) lt_json_free(doc);
    return rc < 0 ? rc : 0;
}

void lt_json_free(lt_json_doc *doc) {
    free(doc->nodes), free(doc->text);
    memset(doc, 0, sizeof *doc);
}

const lt_json *lt_json_root(const lt_json_doc *doc) { return doc->n ? &doc->nodes[0] : NULL; }

const lt_json *lt_json_get(const lt_json_doc *doc, const lt_json *obj, const char *key) {
    if (!obj || obj->type != LT_JSON_OBJECT) return NULL;
    for (int i = obj->first; i >= 0; i = doc->nodes[i].next)
        if (!strcmp(doc->nodes[i].key, key)) return &doc->nodes[i];
    return NULL;
}

const lt_json *lt_json_at(const lt_json_doc *doc, const lt_json *arr, int k) {
    if (!arr || (arr->type != LT_JSON_ARRAY && arr->type != LT_JSON_OBJECT)) return NULL;
    for (int i = arr->first; i >= 0; i = doc->nodes[i].next, k--)
        if (k == 0) return &doc->nodes[i];
    return NULL;
}

const char *lt_json_type_name(lt_json_type t) {
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}
