/* bench/tokenize: longtail's WordPiece tokenizer beside Hugging Face tokenizers, in one run.
 *
 * Text: the 12,101 Amazon Beauty titles, repeated to --mb MB (ASCII product titles, ~67 bytes
 * each). longtail's figures are lt_tokenize and lt_encode (max_len 128) on one thread, then
 * lt_encode on all threads (OpenMP, one title per call, as a loader calls it). The reference is
 * HF tokenizers' encodeBatch with the bert-base-uncased pipeline, run by bench/tokenize_hf.mjs
 * with TOKENIZERS_PARALLELISM=false (one thread) over --hf-mb MB (it is much slower, so less text).
 * Rounds alternate between the two and each figure is the best round, so a noisy neighbour hurts
 * both alike. The piece counts of one pass must agree.
 *
 *   tokenize [--mb 50] [--hf-mb 4] [--rounds 3] [--datasets DIR] [--no-hf]
 * The reference needs node and `npm ci` in tests/fixtures/wordpiece; without them it is skipped. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/beauty.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/wordpiece.h"

#ifndef LT_SOURCE_DIR
#define LT_SOURCE_DIR "."
#endif

/* Seconds for passes over the corpus on this thread; *pieces counts one pass. */
static double run_single(const lt_vocab *v, const beauty_titles *c, int passes, int encode, int64_t *pieces) {
    int32_t ids[512];
    int64_t n, total = 0;
    double t0 = lt_seconds();
    for (int p = 0; p < passes; p++)
        for (int64_t i = 0; i < c->n; i++) {
            if (encode)
                lt_encode(v, NULL, c->text[i], c->len[i], 128, ids, &n);
            else
                lt_tokenize(v, NULL, c->text[i], c->len[i], ids, 512, &n);
            if (p == 0) total += n;
        }
    *pieces = total;
    return lt_seconds() - t0;
}

static double run_threads(const lt_vocab *v, const beauty_titles *c, int passes) {
    double t0 = lt_seconds();
    for (int p = 0; p < passes; p++) {
#pragma omp parallel for schedule(static, 256)
        for (int64_t i = 0; i < c->n; i++) {
            int32_t ids[128];
            int64_t n;
            lt_encode(v, NULL, c->text[i], c->len[i], 128, ids, &n);
        }
    }
    return lt_seconds() - t0;
}

/* One reference measurement: MB/s, or a negative value when it could not run. */
static double run_hf(const char *vocab, const char *titles, double mb, int64_t *pieces) {
    char modules[1024], cmd[4096];
    snprintf(modules, sizeof modules, "%s/tests/fixtures/wordpiece", LT_SOURCE_DIR);
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/node_modules/tokenizers/package.json", modules);
    if (access(probe, R_OK) != 0) return -1;
    snprintf(cmd, sizeof cmd, "TOKENIZERS_PARALLELISM=false node '%s/bench/tokenize_hf.mjs' '%s' '%s' '%s' %g 2>&1",
             LT_SOURCE_DIR, modules, vocab, titles, mb);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char out[4096] = {0};
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    pclose(p);
    double m = 0, s = 0;
    long long pc = 0;
    const char *a = strstr(out, "\"mb\":"), *b = strstr(out, "\"seconds\":"), *d = strstr(out, "\"pieces\":");
    if (!a || !b || !d || sscanf(a + 5, "%lf", &m) != 1 || sscanf(b + 10, "%lf", &s) != 1 ||
        sscanf(d + 9, "%lld", &pc) != 1 || s <= 0) {
        fprintf(stderr, "tokenize: the reference failed:\n%s\n", out);
        return -1;
    }
    *pieces = pc;
    return m / s;
}

int main(int argc, char **argv) {
    double mb = 50, hf_mb = 4;
    int rounds = 3, hf = 1;
    char datasets[1024];
    snprintf(datasets, sizeof datasets, "%s/../shared/datasets", LT_SOURCE_DIR);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--hf-mb") && i + 1 < argc)
            hf_mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--datasets") && i + 1 < argc)
            snprintf(datasets, sizeof datasets, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--no-hf"))
            hf = 0;
        else {
            fprintf(stderr, "usage: tokenize [--mb 50] [--hf-mb 4] [--rounds 3] [--datasets DIR] [--no-hf]\n");
            return 2;
        }
    }
    char vocab_path[1100], titles_path[1100];
    snprintf(vocab_path, sizeof vocab_path, "%s/bert-base-uncased/vocab.txt", datasets);
    snprintf(titles_path, sizeof titles_path, "%s/amazon-beauty/beauty_items.tsv", datasets);
    lt_vocab *v;
    beauty_titles c;
    if (lt_vocab_load(&v, vocab_path) < 0) {
        fprintf(stderr, "tokenize: %s\n", lt_last_error());
        return 1;
    }
    if (beauty_titles_read(&c, titles_path) < 0) {
        fprintf(stderr, "tokenize: cannot read %s\n", titles_path);
        return 1;
    }
    int passes = (int)(mb * 1e6 / (double)c.bytes) + 1;
    double text_mb = (double)passes * (double)c.bytes / 1e6;
    printf("text: %lld Beauty titles, %.2f MB per pass, %d passes = %.1f MB; %d rounds, best of each\n",
           (long long)c.n, (double)c.bytes / 1e6, passes, text_mb, rounds);

    double best_tok = 0, best_enc = 0, best_thr = 0, best_hf = -1;
    int64_t pieces = 0, hf_pieces = -1;
    for (int r = 0; r < rounds; r++) {
        double s = run_single(v, &c, passes, 0, &pieces);
        if (text_mb / s > best_tok) best_tok = text_mb / s;
        s = run_single(v, &c, passes, 1, &pieces);
        if (text_mb / s > best_enc) best_enc = text_mb / s;
        s = run_threads(v, &c, passes);
        if (text_mb / s > best_thr) best_thr = text_mb / s;
        if (hf) {
            int64_t hp = -1;
            double m = run_hf(vocab_path, titles_path, hf_mb, &hp);
            if (m < 0) hf = 0;
            if (m > best_hf) best_hf = m, hf_pieces = hp;
        }
    }
    run_single(v, &c, 1, 0, &pieces);
    printf("%-44s %10s %10s\n", "", "MB/s", "vs HF");
    char label[64];
    snprintf(label, sizeof label, "longtail lt_encode, %d threads (OpenMP)", omp_get_max_threads());
    const char *names[3] = {"longtail lt_tokenize, 1 thread", "longtail lt_encode(max_len 128), 1 thread", label};
    double mbps[3] = {best_tok, best_enc, best_thr};
    for (int i = 0; i < 3; i++) {
        printf("%-44s %10.1f", names[i], mbps[i]);
        if (best_hf > 0)
            printf(" %9.1fx\n", mbps[i] / best_hf);
        else
            printf(" %10s\n", "-");
    }
    if (best_hf > 0)
        printf("%-44s %10.2f %9.1fx\n", "HF tokenizers encodeBatch, 1 thread (node)", best_hf, 1.0);
    else
        printf("HF tokenizers: not run (--no-hf, or no node / `npm ci` in tests/fixtures/wordpiece)\n");
    printf("pieces per pass: longtail %lld", (long long)pieces);
    if (hf_pieces >= 0) printf(", HF %lld (%s)", (long long)hf_pieces, hf_pieces == pieces ? "same" : "DIFFERENT");
    printf("\n");
    lt_vocab_free(v);
    beauty_titles_free(&c);
    return hf_pieces >= 0 && hf_pieces != pieces;
}
