/* cuemu-rewrite IN OUT: turns a CUDA source into C++ that cuemu (tools/cuemu) runs on the CPU.
 * Two constructs are not C++ and are rewritten; everything else is left to cuemu's headers:
 *   K<<<grid, block, smem, stream>>>(args)
 *     -> lt_emu::launch(lt_emu::config(grid, block, smem, stream), "K", __func__, [=]() { K(args); })
 *     with .with((const void *)&K) after the config when smem is not 0, for the opt-in check: K
 *     must then name one function (a template's arguments written out, not deduced)
 *   extern __shared__ __align__(16) T name[];
 *     -> T *name = (T *)lt_emu::dyn_smem();
 * Line numbers are kept (no line is added or removed), so errors and sanitizer reports name the
 * line of the .cu file. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    if (!s || fread(s, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(s);
        return NULL;
    }
    fclose(f);
    s[len] = 0;
    *n = (size_t)len;
    return s;
}

static int ident(char c) { return isalnum((unsigned char)c) || c == '_' || c == ':'; }

/* start of the kernel expression that ends just before `end` (an identifier, maybe qualified,
 * maybe with template arguments) */
static size_t kernel_start(const char *s, size_t end) {
    size_t i = end;
    while (i > 0 && isspace((unsigned char)s[i - 1])) i--;
    if (i > 0 && s[i - 1] == '>') { /* template arguments: back to the matching '<' */
        int depth = 0;
        do {
            i--;
            if (s[i] == '>') depth++;
            else if (s[i] == '<') depth--;
        } while (i > 0 && depth > 0);
    }
    while (i > 0 && ident(s[i - 1])) i--;
    return i;
}

/* index just past the ')' matching the '(' at s[open] */
static size_t match_paren(const char *s, size_t n, size_t open) {
    int depth = 0;
    for (size_t i = open; i < n; i++) {
        if (s[i] == '"' || s[i] == '\'') { /* skip literals */
            char q = s[i];
            for (i++; i < n && s[i] != q; i++)
                if (s[i] == '\\') i++;
            continue;
        }
        if (s[i] == '(') depth++;
        if (s[i] == ')' && --depth == 0) return i + 1;
    }
    return 0;
}

/* whether s[i] is in a #define: its line, or a line it continues with a backslash, starts one */
static int in_macro(const char *s, size_t i) {
    size_t b = i;
    for (;;) {
        while (b > 0 && s[b - 1] != '\n') b--;
        const char *p = s + b;
        while (*p == ' ' || *p == '\t') p++;
        if (!strncmp(p, "#define", 7)) return 1;
        if (b < 2 || s[b - 2] != '\\') return 0; /* the line before does not continue into this one */
        b--;
    }
}

/* whether the launch configuration s[a, b) has a third argument other than 0 */
static int has_smem(const char *s, size_t a, size_t b) {
    int depth = 0, arg = 0;
    size_t from = 0, to = b;
    for (size_t i = a; i < b; i++) {
        if (s[i] == '(') depth++;
        else if (s[i] == ')') depth--;
        else if (s[i] == ',' && depth == 0 && ++arg == 2) from = i + 1;
        else if (s[i] == ',' && depth == 0 && arg == 3) to = i;
    }
    if (!from) return 0;
    while (from < to && isspace((unsigned char)s[from])) from++;
    while (to > from && isspace((unsigned char)s[to - 1])) to--;
    return !(to - from == 1 && s[from] == '0');
}

static void put(FILE *o, const char *s, size_t a, size_t b) { fwrite(s + a, 1, b - a, o); }

/* s[a, b) on one line: without its spaces, line breaks and macro continuations */
static void put_squeezed(FILE *o, const char *s, size_t a, size_t b) {
    for (size_t k = a; k < b; k++)
        if (!isspace((unsigned char)s[k]) && s[k] != '\\') fputc(s[k], o);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: cuemu-rewrite IN.cu OUT.cc\n");
        return 2;
    }
    size_t n;
    char *s = slurp(argv[1], &n);
    if (!s) {
        fprintf(stderr, "cuemu-rewrite: cannot read %s\n", argv[1]);
        return 1;
    }
    char *tmp = malloc(strlen(argv[2]) + 5);
    sprintf(tmp, "%s.tmp", argv[2]);
    FILE *o = fopen(tmp, "wb");
    if (!o) {
        fprintf(stderr, "cuemu-rewrite: cannot write %s\n", tmp);
        return 1;
    }
    fprintf(o, "#line 1 \"%s\"\n", argv[1]);
    size_t done = 0; /* s[0, done) is written */
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(s + i, "extern __shared__", 17)) {
            size_t semi = i;
            while (semi < n && s[semi] != ';') semi++;
            /* name[] just before ';', the type between "extern __shared__" and the name */
            size_t br = semi;
            while (br > i && s[br] != '[') br--;
            size_t ne = br, nb = br;
            while (nb > i && ident(s[nb - 1])) nb--;
            size_t tb = i + 17, te = nb;
            const char *al = strstr(s + tb, "__align__(");
            if (al && (size_t)(al - s) < te) tb = (size_t)(strchr(al, ')') - s) + 1;
            put(o, s, done, i);
            fprintf(o, "%.*s *%.*s = (%.*s *)lt_emu::dyn_smem()", (int)(te - tb), s + tb, (int)(ne - nb), s + nb,
                    (int)(te - tb), s + tb);
            done = semi, i = semi;
            continue;
        }
        if (strncmp(s + i, "<<<", 3) != 0) continue;
        size_t ks = kernel_start(s, i);
        char *close = strstr(s + i + 3, ">>>");
        if (!close || ks == i) {
            fprintf(stderr, "%s: a launch cuemu-rewrite cannot read near byte %zu\n", argv[1], i);
            return 1;
        }
        size_t cb = i + 3, ce = (size_t)(close - s), p = ce + 3;
        while (p < n && isspace((unsigned char)s[p])) p++;
        size_t ae = s[p] == '(' ? match_paren(s, n, p) : 0;
        if (!ae) {
            fprintf(stderr, "%s: a launch without its arguments near byte %zu\n", argv[1], i);
            return 1;
        }
        put(o, s, done, ks);
        fprintf(o, "lt_emu::launch(lt_emu::config(");
        put(o, s, cb, ce);
        fprintf(o, ")");
        if (has_smem(s, cb, ce)) { /* the kernel's address, for its shared memory opt-in */
            fprintf(o, ".with((const void *)&");
            put_squeezed(o, s, ks, i);
            fprintf(o, ")");
        }
        /* the kernel's name for messages; in a macro, its identifier is the macro's parameter, so
         * the name is that argument stringified and the rest of the text (#kernel "<32>") */
        size_t rest = ks;
        fprintf(o, ", ");
        if (in_macro(s, i)) {
            while (rest < i && ident(s[rest])) rest++;
            fprintf(o, "#%.*s ", (int)(rest - ks), s + ks);
        }
        fprintf(o, "\"");
        put_squeezed(o, s, rest, i);
        fprintf(o, "\", __func__, [=]() { ");
        put(o, s, ks, i);
        put(o, s, ce + 3, ae);
        fprintf(o, "; })");
        done = ae, i = ae - 1;
    }
    put(o, s, done, n);
    int bad = fclose(o) != 0 || rename(tmp, argv[2]) != 0;
    if (bad) {
        fprintf(stderr, "cuemu-rewrite: cannot write %s\n", argv[2]);
        remove(tmp);
    }
    free(tmp);
    free(s);
    return bad;
}
