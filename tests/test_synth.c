/* longtail synth: what the synthetic shop promises, checked on the files it writes.
 * Determinism (same seed and options -> same bytes, whatever the thread count), the raw layout,
 * events that only name warm items, histories without repeats in time order, a popularity head,
 * description lengths, Chinese text that is valid UTF-8 and mostly CJK, and two signals a model
 * can learn: complements follow each other, and a user's colour taste shows in the titles. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/synth_words.h"
#include "longtail/error.h"
#include "longtail/synth.h"
#include "longtail/rng.h"
#include "testutil.h"

static char *slurp(const char *dir, const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return read_file(path, len);
}

static int same_file(const char *a, const char *b, const char *name) {
    size_t na, nb;
    char *pa = slurp(a, name, &na), *pb = slurp(b, name, &nb);
    int same = pa && pb && na == nb && !memcmp(pa, pb, na);
    free(pa), free(pb);
    return same;
}

/* Splits text in place into lines and each line into at most 8 tab-separated fields. */
typedef struct {
    int nf;
    char *f[8];
} row;

static row *rows_of(char *text, int64_t *n) {
    int64_t cap = 1024, k = 0;
    row *r = malloc(sizeof(row) * (size_t)cap);
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (k == cap) r = realloc(r, sizeof(row) * (size_t)(cap *= 2));
        row *w = &r[k++];
        w->nf = 0;
        for (char *p = line; p && w->nf < 8;) {
            w->f[w->nf++] = p;
            if ((p = strchr(p, '\t'))) *p++ = 0;
        }
    }
    *n = k;
    return r;
}

static int cat_of(const char *path, int lang) {
    for (int c = 0; c < SYNTH_NCATS; c++)
        if (!strcmp(synth_cats[c].text[lang].path, path)) return c;
    return -1;
}

static int words(const char *s) {
    int n = 0;
    for (const char *p = s; *p; p++) n += *p != ' ' && (p == s || p[-1] == ' ');
    return n;
}

/* Decodes one UTF-8 sequence strictly (no overlongs, no surrogates); -1 if invalid. */
static long utf8_next(const unsigned char **s) {
    const unsigned char *p = *s;
    long c = p[0];
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) return -1;
    if (n) c &= 0x3F >> n;
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) return -1;
        c = c << 6 | (p[i] & 0x3F);
    }
    static const long min[] = {0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
    *s = p + n + 1;
    return c;
}

static void opts_for(lt_synth_opts *o, const char *out, uint64_t seed, int threads) {
    lt_synth_opts_init(o);
    o->out = out;
    o->items = 3000;
    o->users = 2000;
    o->seed = seed;
    o->threads = threads;
    o->progress = 0;
}

/* The colour value that appears in a title (longest name first: "Rose Gold" before "Rose"). */
static int colour_in(const char *title) {
    synth_words v = synth_fams[F_COLOUR].values[SYNTH_EN];
    int best = -1;
    for (int k = 0; v[k]; k++)
        if (strstr(title, v[k]) && (best < 0 || strlen(v[k]) > strlen(v[best]))) best = k;
    return best;
}

static int has_family(int cat, int f) {
    for (int k = 0; k < SYNTH_SLOTS; k++)
        if (synth_cats[cat].fam[k] == f) return 1;
    return 0;
}

static void check_shop(const char *dir, const lt_synth_opts *o, const lt_synth_stats *st) {
    size_t ni, ne;
    char *it = slurp(dir, "items.tsv", &ni), *ev = slurp(dir, "events.tsv", &ne);
    CHECK_MSG(it && ev, "cannot read %s", dir);
    if (!it || !ev) return;
    CHECK_MSG(st->bytes == (int64_t)(ni + ne), "stats bytes %lld, files %zu", (long long)st->bytes, ni + ne);
    int64_t nr, nv;
    row *I = rows_of(it, &nr), *E = rows_of(ev, &nv);

    /* items.tsv: header, ids in order, four fields, a known category, 20-120 word descriptions */
    CHECK_MSG(nr == o->items + 1, "%lld item lines", (long long)nr);
    CHECK_MSG(I[0].nf == 4 && !strcmp(I[0].f[0], "item_id") && !strcmp(I[0].f[1], "title") &&
              !strcmp(I[0].f[2], "description") && !strcmp(I[0].f[3], "category"),
          "items header");
    int *cat = calloc((size_t)o->items, sizeof(int)), *colour = calloc((size_t)o->items, sizeof(int));
    int bad_desc = 0, bad_row = 0, min_w = 1000, max_w = 0;
    for (int64_t i = 1; i < nr; i++) {
        char id[32];
        snprintf(id, sizeof id, "I%07lld", (long long)i);
        if (I[i].nf != 4 || strcmp(I[i].f[0], id) || !I[i].f[1][0] || cat_of(I[i].f[3], SYNTH_EN) < 0) {
            if (!bad_row++) fprintf(stderr, "bad item row %lld: %s\n", (long long)i, I[i].f[0]);
            continue;
        }
        cat[i - 1] = cat_of(I[i].f[3], SYNTH_EN);
        colour[i - 1] = has_family(cat[i - 1], F_COLOUR) ? colour_in(I[i].f[1]) : -1;
        int w = words(I[i].f[2]);
        min_w = w < min_w ? w : min_w, max_w = w > max_w ? w : max_w;
        if (w < 20 || w > 120) bad_desc++;
        else if (strchr(I[i].f[1], '{') || strchr(I[i].f[2], '{')) bad_desc++; /* unfilled placeholder */
    }
    CHECK_MSG(bad_row == 0, "%d malformed item rows", bad_row);
    CHECK_MSG(bad_desc == 0, "%d descriptions outside 20-120 words (min %d, max %d)", bad_desc, min_w, max_w);

    /* events.tsv: header, users in order with contiguous histories, known warm items, no repeats,
     * non-decreasing time, at least 3 events each */
    CHECK_MSG(nv > 1 && E[0].nf == 3 && !strcmp(E[0].f[0], "user_id") && !strcmp(E[0].f[1], "item_id") &&
              !strcmp(E[0].f[2], "timestamp"),
          "events header");
    CHECK_MSG(nv - 1 == st->events, "%lld event lines, stats say %lld", (long long)nv - 1, (long long)st->events);
    uint8_t *cold = malloc((size_t)o->items);
    CHECK_MSG(lt_synth_cold_items(o, cold) == 0, "cold items: %s", lt_last_error());
    int64_t n_cold = 0;
    for (int64_t i = 0; i < o->items; i++) n_cold += cold[i];
    CHECK_MSG(n_cold == st->cold_items && n_cold == (int64_t)(o->cold * (double)o->items + 0.5), "%lld cold", (long long)n_cold);
    int64_t *count = calloc((size_t)o->items, sizeof(int64_t)), *ev_item = malloc(sizeof(int64_t) * (size_t)nv);
    int64_t users = 0, bad = 0, cold_hits = 0, repeats = 0, back_in_time = 0, short_hist = 0;
    int64_t start = 1;
    for (int64_t e = 1; e <= nv; e++) {
        int new_user = e == nv || e == 1 || strcmp(E[e].f[0], E[e - 1].f[0]);
        if (new_user && e > 1) { /* close the history [start, e) */
            if (e - start < 3) short_hist++;
            for (int64_t a = start; a < e; a++)
                for (int64_t b = a + 1; b < e; b++) repeats += ev_item[a] == ev_item[b];
            start = e;
        }
        if (e == nv) break;
        char uid[32] = "";
        if (new_user) snprintf(uid, sizeof uid, "U%07lld", (long long)++users);
        long long item = E[e].nf == 3 && E[e].f[1][0] == 'I' ? atoll(E[e].f[1] + 1) : 0;
        if (E[e].nf != 3 || (new_user && strcmp(E[e].f[0], uid)) || item < 1 || item > o->items) {
            bad++;
            ev_item[e] = 0;
            continue;
        }
        ev_item[e] = item - 1;
        count[item - 1]++;
        cold_hits += cold[item - 1];
        if (!new_user && E[e - 1].nf == 3 && atoll(E[e].f[2]) < atoll(E[e - 1].f[2])) back_in_time++;
    }
    CHECK_MSG(bad == 0, "%lld malformed events (or users out of order)", (long long)bad);
    CHECK_MSG(users == o->users, "%lld users with events", (long long)users);
    CHECK_MSG(cold_hits == 0, "%lld events on cold items", (long long)cold_hits);
    CHECK_MSG(repeats == 0, "%lld repeated items within a user", (long long)repeats);
    CHECK_MSG(back_in_time == 0, "%lld timestamps going back", (long long)back_in_time);
    CHECK_MSG(short_hist == 0, "%lld histories shorter than 3", (long long)short_hist);

    /* the head: the top 20% of items by events carry most of them */
    int64_t *sorted = malloc(sizeof(int64_t) * (size_t)o->items), head = 0;
    memcpy(sorted, count, sizeof(int64_t) * (size_t)o->items);
    for (int64_t i = 1; i < o->items; i++) /* insertion sort, descending: small n */
        for (int64_t j = i; j > 0 && sorted[j] > sorted[j - 1]; j--) {
            int64_t t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    for (int64_t i = 0; i < (o->items + 4) / 5; i++) head += sorted[i];
    double share = (double)head / (double)(nv - 1);
    CHECK_MSG(share > 0.5, "top 20%% of items carry %.3f of events", share);
    CHECK_MSG(share > st->head_share - 1e-9 && share < st->head_share + 1e-9, "stats head share %.4f, files %.4f",
          st->head_share, share);

    /* sequential signal: the next item is in a complement category of the previous one far more
     * often than complement categories occur at all */
    double cat_share[SYNTH_NCATS] = {0};
    for (int64_t e = 1; e < nv; e++) cat_share[cat[ev_item[e]]] += 1.0 / (double)(nv - 1);
    double hit = 0, base = 0, pairs = 0, same_colour = 0, colour_pairs = 0;
    double colour_share[16] = {0}, coloured = 0;
    for (int64_t e = 2; e < nv; e++) {
        if (strcmp(E[e].f[0], E[e - 1].f[0])) continue;
        int a = cat[ev_item[e - 1]], b = cat[ev_item[e]];
        int ca = colour[ev_item[e - 1]], cb = colour[ev_item[e]];
        if (ca >= 0 && cb >= 0) colour_pairs++, same_colour += ca == cb;
        if (synth_cats[a].comp[0] == C_NONE) continue;
        pairs++;
        for (int k = 0; synth_cats[a].comp[k] != C_NONE; k++) {
            hit += b == synth_cats[a].comp[k];
            base += cat_share[synth_cats[a].comp[k]];
        }
    }
    CHECK_MSG(pairs > 100 && hit / pairs > 4 * base / pairs, "complement next: %.3f, base rate %.3f", hit / pairs,
          base / pairs);
    fprintf(stderr, "  complement follows: %.3f vs base rate %.3f\n", hit / pairs, base / pairs);

    /* taste in the text: consecutive coloured items share their colour (read from the titles) far
     * more often than two events with colours drawn at random do */
    for (int64_t e = 1; e < nv; e++)
        if (colour[ev_item[e]] >= 0) colour_share[colour[ev_item[e]]]++, coloured++;
    double chance = 0;
    for (int k = 0; k < 16; k++) chance += (colour_share[k] / coloured) * (colour_share[k] / coloured);
    CHECK_MSG(colour_pairs > 100 && same_colour / colour_pairs > 1.3 * chance, "same colour next: %.3f, chance %.3f",
          same_colour / colour_pairs, chance);
    fprintf(stderr, "  same colour next: %.3f vs chance %.3f; top 20%% share %.3f\n", same_colour / colour_pairs,
            chance, share);

    free(sorted), free(count), free(ev_item), free(cold), free(cat), free(colour), free(I), free(E), free(it), free(ev);
}

static void check_zh(const char *dir) {
    size_t n;
    char *it = slurp(dir, "items.tsv", &n);
    CHECK_MSG(it != NULL, "no zh items");
    if (!it) return;
    long cjk = 0, latin = 0, bad = 0;
    for (const unsigned char *p = (const unsigned char *)it; *p;) {
        long c = utf8_next(&p);
        if (c < 0) {
            bad++;
            p++;
            continue;
        }
        if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)) cjk++;
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') latin++;
    }
    CHECK_MSG(bad == 0, "%ld invalid UTF-8 sequences", bad);
    CHECK_MSG(cjk > 3 * latin, "CJK %ld vs Latin letters %ld", cjk, latin); /* headers and ids are Latin too */
    int64_t nr;
    row *r = rows_of(it, &nr);
    int unknown = 0;
    for (int64_t i = 1; i < nr; i++) unknown += r[i].nf != 4 || cat_of(r[i].f[3], SYNTH_ZH) < 0;
    CHECK_MSG(unknown == 0, "%d zh rows without a known Chinese category path", unknown);
    free(r);
    free(it);
}

static int only_final_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0, other = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        n++;
        other += strcmp(e->d_name, "items.tsv") && strcmp(e->d_name, "events.tsv") && strcmp(e->d_name, "synth.ini") &&
                 strcmp(e->d_name, "planted.tsv");
    }
    if (d) closedir(d);
    return n == 4 && !other;
}

/* The oracle (the bandit's ground truth) agrees with the histories: the items users took have a
 * click probability far above that of random items for the same users. */
static void check_oracle(const char *dir, const lt_synth_opts *o) {
    lt_synth_oracle *or = NULL;
    OK(lt_synth_oracle_open(&or, o));
    CHECK(lt_synth_oracle_items(or) == o->items && lt_synth_oracle_users(or) == o->users);
    char p[1024], line[256];
    snprintf(p, sizeof p, "%s/events.tsv", dir);
    FILE *f = fopen(p, "r");
    CHECK_MSG(f != NULL, "%s", p);
    double taken = 0, other = 0;
    long n = 0;
    lt_rng r;
    lt_rng_init(&r, 5, 0);
    while (f && fgets(line, sizeof line, f)) {
        long u, i;
        if (sscanf(line, "U%ld\tI%ld", &u, &i) != 2) continue; /* the header */
        int64_t items[2] = {i - 1, (int64_t)lt_rng_below(&r, (uint64_t)o->items)};
        double pr[2];
        lt_synth_oracle_ctr(or, u - 1, items, 2, pr);
        CHECK(pr[0] >= 0 && pr[0] <= LT_SYNTH_ORACLE_MAX && pr[1] >= 0 && pr[1] <= LT_SYNTH_ORACLE_MAX);
        taken += pr[0], other += pr[1], n++;
    }
    if (f) fclose(f);
    printf("  oracle: mean click probability of taken items %.4f, of random items %.4f (%ld events)\n", taken / n,
           other / n, n);
    CHECK_MSG(n > 0 && taken > 4 * other, "the oracle does not favour what users took: %.4f vs %.4f", taken / n, other / n);
    lt_synth_oracle_free(or);
}

static void remove_shop(const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/items.tsv", dir), unlink(p);
    snprintf(p, sizeof p, "%s/events.tsv", dir), unlink(p);
    snprintf(p, sizeof p, "%s/planted.tsv", dir), unlink(p);
    snprintf(p, sizeof p, "%s/synth.ini", dir), unlink(p);
    rmdir(dir);
}

int main(void) {
    CHECK_MSG(lt_synth_words_check() == 0, "%s", lt_last_error());

    char root[] = "/tmp/longtail-test-synth-XXXXXX";
    if (!mkdtemp(root)) return perror("mkdtemp"), 1;
    char a[256], b[256], c[256], d[256], z[256];
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b/nested", root); /* folders are created as needed */
    snprintf(c, sizeof c, "%s/c", root);
    snprintf(d, sizeof d, "%s/d", root);
    snprintf(z, sizeof z, "%s/zh", root);

    lt_synth_opts oa, ob, oc, od, oz;
    lt_synth_stats sa, sb, sc, sd, sz;
    opts_for(&oa, a, 7, 2);
    opts_for(&ob, b, 7, 1);
    opts_for(&od, d, 7, 5); /* more threads than chunks of items, fewer than of users */
    opts_for(&oc, c, 8, 2);
    opts_for(&oz, z, 7, 2);
    oz.lang = "zh", oz.items = 800, oz.users = 200;
    CHECK_MSG(lt_synth_write(&oa, &sa) == 0, "%s", lt_last_error());
    CHECK_MSG(lt_synth_write(&ob, &sb) == 0, "%s", lt_last_error());
    CHECK_MSG(lt_synth_write(&oc, &sc) == 0, "%s", lt_last_error());
    CHECK_MSG(lt_synth_write(&od, &sd) == 0, "%s", lt_last_error());
    CHECK_MSG(lt_synth_write(&oz, &sz) == 0, "%s", lt_last_error());

    CHECK_MSG(same_file(a, b, "items.tsv") && same_file(a, b, "events.tsv"), "same seed, 2 vs 1 threads: files differ");
    CHECK_MSG(same_file(a, d, "items.tsv") && same_file(a, d, "events.tsv"), "same seed, 2 vs 5 threads: files differ");
    CHECK_MSG(!same_file(a, c, "items.tsv") && !same_file(a, c, "events.tsv"), "another seed gave the same files");
    CHECK_MSG(only_final_files(a), "%s holds more than items.tsv, events.tsv, planted.tsv and synth.ini", a);
    /* the planted long tail: the niche categories hold their share of the items, far less of the events */
    CHECK_MSG(sa.niche_item_share > 0.05 && sa.niche_event_share < 0.4 * sa.niche_item_share,
              "niche categories: %.3f of items, %.3f of events", sa.niche_item_share, sa.niche_event_share);
    CHECK_MSG(sa.items == 3000 && sa.users == 2000 && sa.mean_history > 8 && sa.mean_history < 12,
          "stats: %lld items, %lld users, mean history %.2f", (long long)sa.items, (long long)sa.users, sa.mean_history);
    check_shop(a, &oa, &sa);
    check_oracle(a, &oa);
    check_zh(z);

    /* bad options are refused with a message, and nothing is written */
    lt_synth_opts bad = oa;
    bad.lang = "fr";
    CHECK_MSG(lt_synth_write(&bad, NULL) == LT_EINVAL && strstr(lt_last_error(), "fr"), "lang fr: %s", lt_last_error());
    bad = oa, bad.cold = 1.0;
    CHECK_MSG(lt_synth_write(&bad, NULL) == LT_ERANGE, "cold 1.0 accepted");
    bad = oa, bad.events_per_user = 2;
    CHECK_MSG(lt_synth_write(&bad, NULL) == LT_ERANGE, "2 events per user accepted");
    bad = oa, bad.out = NULL;
    CHECK_MSG(lt_synth_write(&bad, NULL) == LT_EINVAL, "no output folder accepted");

    remove_shop(a), remove_shop(b), remove_shop(c), remove_shop(d), remove_shop(z);
    snprintf(b, sizeof b, "%s/b", root), rmdir(b);
    rmdir(root);
    return tu_finish("test_synth");
}
