/* CSR string lists and a string -> index hash map (open addressing, linear probing). */
#include <stdlib.h>
#include <string.h>

#include "data/textio.h"
#include "longtail/data.h"
#include "longtail/error.h"

int lt_strs_push(lt_strs *s, const char *str, size_t len) {
    if (s->n + 2 > s->cap_n) {
        int64_t cap = s->cap_n ? 2 * s->cap_n : 1024;
        int64_t *off = realloc(s->off, (size_t)cap * sizeof *off);
        if (!off) return lt_error(LT_ENOMEM, "strings: out of memory");
        if (!s->off) off[0] = 0;
        s->off = off, s->cap_n = cap;
    }
    size_t used = (size_t)s->off[s->n];
    if (used + len > s->cap_bytes) {
        size_t cap = s->cap_bytes ? 2 * s->cap_bytes : 65536;
        while (cap < used + len) cap *= 2;
        char *b = realloc(s->bytes, cap);
        if (!b) return lt_error(LT_ENOMEM, "strings: out of memory (%zu bytes)", cap);
        s->bytes = b, s->cap_bytes = cap;
    }
    if (len) memcpy(s->bytes + used, str, len);
    s->off[s->n + 1] = (int64_t)(used + len);
    s->n++;
    return 0;
}

const char *lt_strs_get(const lt_strs *s, int64_t i, size_t *len) {
    *len = (size_t)(s->off[i + 1] - s->off[i]);
    return s->bytes ? s->bytes + s->off[i] : "";
}

void lt_strs_free(lt_strs *s) {
    free(s->bytes);
    free(s->off);
    memset(s, 0, sizeof *s);
}

/* FNV-1a: ids are short, and it is simple and well distributed. */
static uint64_t hash_bytes(const char *p, size_t n) { return lt_fnv1a(LT_FNV1A_INIT, p, n); }

static int64_t probe(const lt_strmap *m, const char *key, size_t len, uint64_t h) {
    int64_t mask = m->cap - 1;
    for (int64_t i = (int64_t)(h & (uint64_t)mask);; i = (i + 1) & mask) {
        if (!m->slot[i]) return i;
        if (m->hash[i] == h) {
            size_t l;
            const char *k = lt_strs_get(&m->keys, m->slot[i] - 1, &l);
            if (l == len && !memcmp(k, key, len)) return i;
        }
    }
}

static int grow(lt_strmap *m) {
    int64_t cap = m->cap ? 2 * m->cap : 1024;
    int64_t *slot = calloc((size_t)cap, sizeof *slot);
    uint64_t *hash = calloc((size_t)cap, sizeof *hash);
    if (!slot || !hash) {
        free(slot), free(hash);
        return lt_error(LT_ENOMEM, "string map: out of memory");
    }
    lt_strmap n = {.keys = m->keys, .slot = slot, .hash = hash, .cap = cap};
    for (int64_t i = 0; i < m->cap; i++)
        if (m->slot[i]) {
            int64_t j = probe(&n, "", (size_t)-1, m->hash[i]); /* an impossible key: finds an empty slot */
            n.slot[j] = m->slot[i], n.hash[j] = m->hash[i];
        }
    free(m->slot), free(m->hash);
    *m = n;
    return 0;
}

int lt_strmap_get_or_add(lt_strmap *m, const char *key, size_t len, int64_t *index, int *added) {
    if (2 * (m->keys.n + 1) > m->cap) LT_TRY(grow(m));
    uint64_t h = hash_bytes(key, len);
    int64_t i = probe(m, key, len, h);
    *added = !m->slot[i];
    if (*added) {
        LT_TRY(lt_strs_push(&m->keys, key, len));
        m->slot[i] = m->keys.n;
        m->hash[i] = h;
    }
    *index = m->slot[i] - 1;
    return 0;
}

int64_t lt_strmap_find(const lt_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    int64_t i = probe(m, key, len, hash_bytes(key, len));
    return m->slot[i] - 1;
}

void lt_strmap_free(lt_strmap *m) {
    lt_strs_free(&m->keys);
    free(m->slot), free(m->hash);
    memset(m, 0, sizeof *m);
}
