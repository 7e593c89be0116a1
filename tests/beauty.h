/* Test and benchmark helpers: whole files and the Amazon Beauty titles. Header-only, so the
 * tests and bench/tokenize can share it without a library of their own. */
#ifndef LONGTAIL_TESTS_BEAUTY_H
#define LONGTAIL_TESTS_BEAUTY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bytes of path, NUL-terminated, *n without the NUL (malloc'd); NULL when it cannot be read
 * whole. */
static inline char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (data && fread(data, 1, (size_t)size, f) != (size_t)size) free(data), data = NULL;
    fclose(f);
    if (data) data[size] = 0, *n = (size_t)size;
    return data;
}

typedef struct {
    char **text;  /* n titles, NUL-terminated, pointing into data */
    int64_t *len; /* their lengths in bytes */
    int64_t n, bytes;
    char *data;
} beauty_titles;

/* The titles (third column) of datasets/amazon-beauty/beauty_items.tsv; 0, or -1 when the file
 * cannot be read. */
static inline int beauty_titles_read(beauty_titles *t, const char *path) {
    size_t size;
    memset(t, 0, sizeof *t);
    if (!(t->data = read_file(path, &size))) return -1;
    int64_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += t->data[i] == '\n';
    t->text = malloc((size_t)lines * sizeof *t->text);
    t->len = malloc((size_t)lines * sizeof *t->len);
    for (char *line = strtok(t->data, "\n"); line; line = strtok(NULL, "\n")) {
        char *s = strchr(line, '\t');
        s = s ? strchr(s + 1, '\t') : NULL;
        if (!s) continue;
        char *e = strchr(++s, '\t');
        if (e) *e = 0;
        t->text[t->n] = s;
        t->len[t->n] = (int64_t)strlen(s);
        t->bytes += t->len[t->n++];
    }
    return 0;
}

static inline void beauty_titles_free(beauty_titles *t) {
    free(t->text);
    free(t->len);
    free(t->data);
}

#endif
