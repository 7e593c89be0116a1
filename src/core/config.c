/* INI settings with command-line overrides. Small on purpose: a flat list of
 * "section.key" = value entries, each remembering the file:line (or "command line") it came from. */
#include "longtail/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "longtail/error.h"

typedef struct {
    char *key, *value, *origin;
} entry;

struct lt_config {
    entry *e;
    int n, cap;
};

int lt_config_new(lt_config **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : lt_error(LT_ENOMEM, "config: out of memory");
}

void lt_config_free(lt_config *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->e[i].key), free(c->e[i].value), free(c->e[i].origin);
    free(c->e);
    free(c);
}

static entry *find(const lt_config *c, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].key, key)) return &c->e[i];
    return NULL;
}

static int valid_key(const char *k) {
    const char *dot = strchr(k, '.');
    if (!dot || dot == k || !dot[1]) return 0;
    for (const char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') return 0;
    return 1;
}

int lt_config_set(lt_config *c, const char *key, const char *value, const char *origin) {
    if (!valid_key(key))
        return lt_error(LT_ECONFIG, "%s: '%s' is not a setting name (expected section.key)", origin, key);
    entry *e = find(c, key);
    if (!e) {
        if (c->n == c->cap) {
            int cap = c->cap ? 2 * c->cap : 32;
            entry *ne = realloc(c->e, (size_t)cap * sizeof *ne);
            if (!ne) return lt_error(LT_ENOMEM, "config: out of memory");
            c->e = ne, c->cap = cap;
        }
        e = &c->e[c->n++];
        e->key = strdup(key);
        e->value = e->origin = NULL;
    }
    free(e->value);
    free(e->origin);
    e->value = strdup(value);
    e->origin = strdup(origin);
    if (!e->key || !e->value || !e->origin) return lt_error(LT_ENOMEM, "config: out of memory");
    return 0;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
    return s;
}

int lt_config_parse(lt_config *c, const char *text, const char *origin) {
    char section[128] = "";
    char *buf = strdup(text);
    if (!buf) return lt_error(LT_ENOMEM, "config: out of memory");
    int rc = 0, lineno = 0;
    char *save = NULL;
    for (char *line = buf; line && !rc; line = save) {
        save = strchr(line, '\n');
        if (save) *save++ = 0;
        lineno++;
        char where[512];
        snprintf(where, sizeof where, "%s:%d", origin, lineno);
        /* a comment starts a line, or follows whitespace inside one */
        for (char *p = line; *p; p++)
            if ((*p == '#' || *p == ';') && (p == line || isspace((unsigned char)p[-1]))) {
                *p = 0;
                break;
            }
        char *s = trim(line);
        if (!*s) continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end || end[1]) {
                rc = lt_error(LT_ECONFIG, "%s: malformed section header '%s'", where, s);
                break;
            }
            *end = 0;
            char *name = trim(s + 1);
            if (!*name || strlen(name) >= sizeof section || strchr(name, '.')) {
                rc = lt_error(LT_ECONFIG, "%s: bad section name '%s'", where, name);
                break;
            }
            strcpy(section, name);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = lt_error(LT_ECONFIG, "%s: expected 'key = value' or '[section]', got '%s'", where, s);
            break;
        }
        *eq = 0;
        char *key = trim(s), *value = trim(eq + 1);
        if (!section[0]) {
            rc = lt_error(LT_ECONFIG, "%s: '%s' appears before any [section]", where, key);
            break;
        }
        char full[512];
        snprintf(full, sizeof full, "%s.%s", section, key);
        rc = lt_config_set(c, full, value, where);
    }
    free(buf);
    return rc;
}

int lt_config_load(lt_config *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return lt_error(LT_ENOENT, "%s: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = 2 * (len + got + 1);
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return lt_error(LT_ENOMEM, "%s: out of memory", path);
            }
            text = t;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(text);
        return lt_error(LT_EIO, "%s: read error", path);
    }
    if (memchr(text ? text : "", 0, len)) {
        free(text);
        return lt_error(LT_ECONFIG, "%s: contains a NUL byte (not a text file?)", path);
    }
    if (!text) text = calloc(1, 1);
    text[len] = 0;
    int rc = lt_config_parse(c, text, path);
    free(text);
    return rc;
}

int lt_config_apply_args(lt_config *c, int argc, char **argv) {
    int out = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *dot = a[0] == '-' && a[1] == '-' ? strchr(a + 2, '.') : NULL;
        const char *eq = dot ? strchr(a, '=') : NULL;
        if (dot && (!eq || dot < eq)) {
            if (!eq) return lt_error(LT_ECONFIG, "command line: '%s' needs a value (--section.key=value)", a);
            char key[256];
            size_t klen = (size_t)(eq - (a + 2));
            if (klen >= sizeof key) return lt_error(LT_ECONFIG, "command line: setting name too long in '%s'", a);
            memcpy(key, a + 2, klen);
            key[klen] = 0;
            LT_TRY(lt_config_set(c, key, eq + 1, "command line"));
            continue;
        }
        argv[out++] = argv[i];
    }
    return out;
}

const char *lt_config_str(const lt_config *c, const char *key, const char *def) {
    const entry *e = c ? find(c, key) : NULL;
    return e ? e->value : def;
}

int lt_config_has(const lt_config *c, const char *key) { return c && find(c, key) != NULL; }

int lt_config_int(const lt_config *c, const char *key, int64_t def, int64_t *out) {
    const entry *e = c ? find(c, key) : NULL;
    if (!e) return *out = def, 0;
    char *end;
    errno = 0;
    long long v = strtoll(e->value, &end, 0);
    if (end == e->value || *end || errno)
        return lt_error(LT_ECONFIG, "%s: %s: expected an integer, got '%s'", e->origin, key, e->value);
    *out = v;
    return 0;
}

int lt_config_float(const lt_config *c, const char *key, double def, double *out) {
    const entry *e = c ? find(c, key) : NULL;
    if (!e) return *out = def, 0;
    char *end;
    errno = 0;
    double v = strtod(e->value, &end);
    if (end == e->value || *end || errno || !isfinite(v))
        return lt_error(LT_ECONFIG, "%s: %s: expected a number, got '%s'", e->origin, key, e->value);
    *out = v;
    return 0;
}

int lt_config_bool(const lt_config *c, const char *key, int def, int *out) {
    const entry *e = c ? find(c, key) : NULL;
    if (!e) return *out = def, 0;
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(e->value, yes[i])) return *out = 1, 0;
        if (!strcasecmp(e->value, no[i])) return *out = 0, 0;
    }
    return lt_error(LT_ECONFIG, "%s: %s: expected true/false, got '%s'", e->origin, key, e->value);
}

int lt_config_entry(const lt_config *c, int i, const char **key, const char **value, const char **origin) {
    if (i < 0 || i >= c->n) return LT_ENOENT;
    *key = c->e[i].key, *value = c->e[i].value, *origin = c->e[i].origin;
    return 0;
}
