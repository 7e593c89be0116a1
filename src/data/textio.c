/* Raw text input: lines through zlib, field splitting, UTF-8, Latin-1, flat JSON. */
#include "data/textio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "longtail/error.h"

int lt_lines_open(lt_lines *l, const char *path) {
    memset(l, 0, offsetof(lt_lines, inbuf));
    l->name = path;
    l->max_line = 64u << 20;
    gzFile gz = gzopen(path, "rb");
    if (!gz) return lt_error(LT_ENOENT, "%s: %s", path, errno ? strerror(errno) : "cannot open");
    gzbuffer(gz, 1 << 17);
    l->gz = gz;
    return 0;
}

void lt_lines_mem(lt_lines *l, const char *name, const char *data, size_t len) {
    memset(l, 0, offsetof(lt_lines, inbuf));
    l->name = name;
    l->mem = data;
    l->mem_len = len;
    l->max_line = 64u << 20;
}

/* Refill inbuf; returns bytes available (0 at EOF) or <0 on a read error. */
static int fill(lt_lines *l) {
    if (l->gz) {
        int n = gzread((gzFile)l->gz, l->inbuf, sizeof l->inbuf);
        if (n < 0) {
            int zerr;
            const char *msg = gzerror((gzFile)l->gz, &zerr);
            return lt_error(LT_EIO, "%s: read error after line %lld, at byte %lld of the file: %s", l->name,
                            (long long)l->lineno - 1, (long long)gzoffset((gzFile)l->gz), msg);
        }
        if (n == 0) { /* zlib reports a stream that ends before its trailer only through gzerror */
            int zerr;
            gzerror((gzFile)l->gz, &zerr);
            if (zerr == Z_BUF_ERROR)
                return lt_error(LT_EFORMAT,
                                "%s: gzip stream cut short at byte %lld (after line %lld): no CRC and length trailer; "
                                "the file is truncated",
                                l->name, (long long)gzoffset((gzFile)l->gz), (long long)l->lineno - 1);
        }
        l->in_len = (size_t)n, l->in_pos = 0;
        return n;
    }
    size_t n = l->mem_len - l->mem_pos;
    if (n > sizeof l->inbuf) n = sizeof l->inbuf;
    memcpy(l->inbuf, l->mem + l->mem_pos, n);
    l->mem_pos += n;
    l->in_len = n, l->in_pos = 0;
    return (int)n;
}

static int append(lt_lines *l, const char *p, size_t n) {
    if (l->len + n + 1 > l->max_line)
        return lt_error(LT_EFORMAT, "%s:%lld: line longer than %zu bytes (not a text file?)", l->name,
                        (long long)l->lineno, l->max_line);
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n + 1) cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b) return lt_error(LT_ENOMEM, "%s:%lld: out of memory", l->name, (long long)l->lineno);
        l->buf = b, l->cap = cap;
    }
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    return 0;
}

int lt_lines_next(lt_lines *l) {
    if (l->eof) return 0;
    l->len = 0;
    l->lineno++;
    int any = 0;
    for (;;) {
        if (l->in_pos == l->in_len) {
            int n = fill(l);
            if (n < 0) return n;
            if (n == 0) {
                l->eof = 1;
                if (!any) return 0;
                break;
            }
        }
        any = 1;
        const char *start = l->inbuf + l->in_pos;
        size_t avail = l->in_len - l->in_pos;
        const char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        LT_TRY(append(l, start, take));
        l->in_pos += take + (nl ? 1 : 0);
        if (nl) break;
    }
    if (l->len && l->buf[l->len - 1] == '\r') l->len--;
    if (!l->buf) LT_TRY(append(l, "", 0));
    l->buf[l->len] = 0;
    l->has_nul = memchr(l->buf, 0, l->len) != NULL;
    return 1;
}

void lt_lines_close(lt_lines *l) {
    if (l->gz) gzclose((gzFile)l->gz);
    l->gz = NULL;
    free(l->buf);
    l->buf = NULL;
    l->cap = l->len = 0;
}

int lt_split(char *s, const char *sep, char **fields, int max) {
    size_t sl = strlen(sep);
    int n = 0;
    fields[n++] = s;
    while (n < max) {
        char *p = strstr(s, sep);
        if (!p) break;
        *p = 0;
        s = p + sl;
        fields[n++] = s;
    }
    return n;
}

size_t lt_utf8_valid_prefix(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07, min = 0x10000;
        else return i;
        if (i + n > len) return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += n;
    }
    return i;
}

size_t lt_latin1_to_utf8(const char *in, size_t len, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x80) out[o++] = (char)c;
        else out[o++] = (char)(0xc0 | (c >> 6)), out[o++] = (char)(0x80 | (c & 0x3f));
    }
    out[o] = 0;
    return o;
}

int lt_parse_i64(const char *s, int64_t *out) {
    if (!*s) return LT_EFORMAT;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) return LT_EFORMAT;
    *out = v;
    return 0;
}

/* ---- flat JSON ------------------------------------------------------------------------------ */

typedef struct {
    char *s, *start;
} jcur;

static void jws(jcur *c) {
    while (*c->s == ' ' || *c->s == '\t' || *c->s == '\r' || *c->s == '\n') c->s++;
}

static int jerr(jcur *c, const char *what) {
    return lt_error(LT_EFORMAT, "%s at column %ld", what, (long)(c->s - c->start) + 1);
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        unsigned d = (h >= '0' && h <= '9') ? (unsigned)(h - '0') : (h >= 'a' && h <= 'f') ? (unsigned)(h - 'a' + 10)
                   : (h >= 'A' && h <= 'F') ? (unsigned)(h - 'A' + 10) : 16u;
        if (d > 15) return -1;
        *v = *v * 16 + d;
    }
    return 0;
}

static char *put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) *o++ = (char)cp;
    else if (cp < 0x800) *o++ = (char)(0xc0 | (cp >> 6)), *o++ = (char)(0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
        *o++ = (char)(0xe0 | (cp >> 12)), *o++ = (char)(0x80 | ((cp >> 6) & 0x3f)), *o++ = (char)(0x80 | (cp & 0x3f));
    else
        *o++ = (char)(0xf0 | (cp >> 18)), *o++ = (char)(0x80 | ((cp >> 12) & 0x3f)),
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f)), *o++ = (char)(0x80 | (cp & 0x3f));
    return o;
}

/* Decode a string starting at the opening quote; the decoded text is written over the input
 * (it is never longer) and NUL-terminated. */
static int jstring(jcur *c, char **out) {
    c->s++; /* opening quote */
    char *o = c->s;
    *out = o;
    for (;;) {
        unsigned char ch = (unsigned char)*c->s;
        if (ch == '"') {
            c->s++;
            *o = 0;
            return 0;
        }
        if (ch == 0) return jerr(c, "unterminated string");
        if (ch < 0x20) return jerr(c, "control character in string");
        if (ch != '\\') {
            *o++ = *c->s++;
            continue;
        }
        c->s++;
        char e = *c->s++;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(c->s, &cp)) return jerr(c, "bad \\u escape");
            c->s += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair encodes one code point above U+FFFF */
                if (c->s[0] != '\\' || c->s[1] != 'u' || hex4(c->s + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return jerr(c, "unpaired surrogate in \\u escape");
                c->s += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return jerr(c, "unpaired surrogate in \\u escape");
            }
            if (cp == 0) return jerr(c, "\\u0000 in string");
            o = put_utf8(o, cp); /* at most 4 bytes for the 6 or 12 read: stays behind c->s */
            break;
        }
        default: c->s--; return jerr(c, "bad escape");
        }
    }
}

int lt_json_string(char **s, const char *start, char **out) {
    jcur c = {*s, (char *)start};
    int rc = jstring(&c, out);
    *s = c.s;
    return rc;
}

/* A number or literal. Its text stays in place; it is NUL-terminated after the whole object is
 * parsed (its end is the delimiter the parser still has to read). */
static int jscalar(jcur *c, char **out, size_t *len, int *is_null) {
    char *b = c->s;
    while (*c->s && *c->s != ',' && *c->s != '}' && *c->s != ' ' && *c->s != '\t' && *c->s != '\r' && *c->s != '\n')
        c->s++;
    size_t n = (size_t)(c->s - b);
    if (n == 0) return jerr(c, "expected a value");
    *is_null = n == 4 && !memcmp(b, "null", 4);
    int ok = *is_null || (n == 4 && !memcmp(b, "true", 4)) || (n == 5 && !memcmp(b, "false", 5));
    if (!ok) { /* a JSON number: -?digits(.digits)?([eE][+-]?digits)? */
        const char *p = b;
        if (*p == '-') p++;
        int digits = 0;
        while (p < c->s && *p >= '0' && *p <= '9') p++, digits++;
        if (p < c->s && *p == '.') {
            p++;
            while (p < c->s && *p >= '0' && *p <= '9') p++, digits++;
        }
        if (digits && p < c->s && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < c->s && (*p == '+' || *p == '-')) p++;
            int ed = 0;
            while (p < c->s && *p >= '0' && *p <= '9') p++, ed++;
            if (!ed) digits = 0;
        }
        ok = digits && p == c->s;
    }
    if (!ok) return jerr(c, "expected a string, number, true, false or null");
    *out = b;
    *len = n;
    return 0;
}

int lt_json_parse_flat(char *s, lt_json_obj *o) {
    jcur c = {s, s};
    size_t slen[LT_JSON_MAX_KEYS];
    o->n = 0;
    jws(&c);
    if (*c.s != '{') return jerr(&c, "expected '{'");
    c.s++;
    jws(&c);
    if (*c.s == '}') {
        c.s++;
        goto tail;
    }
    for (;;) {
        jws(&c);
        if (*c.s != '"') return jerr(&c, "expected a key string");
        if (o->n == LT_JSON_MAX_KEYS) return jerr(&c, "too many keys");
        int k = o->n;
        LT_TRY(jstring(&c, &o->key[k]));
        jws(&c);
        if (*c.s != ':') return jerr(&c, "expected ':'");
        c.s++;
        jws(&c);
        o->is_str[k] = *c.s == '"';
        o->is_null[k] = 0;
        if (*c.s == '{' || *c.s == '[') return jerr(&c, "nested objects and arrays are not supported");
        slen[k] = (size_t)-1;
        if (o->is_str[k]) LT_TRY(jstring(&c, &o->val[k]));
        else LT_TRY(jscalar(&c, &o->val[k], &slen[k], &o->is_null[k]));
        o->n++;
        jws(&c);
        if (*c.s == ',') {
            c.s++;
            continue;
        }
        if (*c.s == '}') {
            c.s++;
            break;
        }
        return jerr(&c, "expected ',' or '}'");
    }
tail:
    jws(&c);
    if (*c.s) return jerr(&c, "trailing characters after the object");
    for (int k = 0; k < o->n; k++)
        if (slen[k] != (size_t)-1) o->val[k][slen[k]] = 0;
    return 0;
}

int lt_json_find(const lt_json_obj *o, const char *key) {
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->key[i], key)) return i;
    return -1;
}

int lt_file_fnv1a(const char *path, uint64_t *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return lt_error(LT_EIO, "%s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return lt_error(LT_ENOMEM, "%s: out of memory", path);
    }
    uint64_t h = LT_FNV1A_INIT;
    size_t n;
    while ((n = fread(buf, 1, CHUNK, f)) > 0) h = lt_fnv1a(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) return lt_error(LT_EIO, "%s: read error", path);
    *out = h;
    return 0;
}
