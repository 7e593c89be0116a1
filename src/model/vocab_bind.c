/* The binding of a model folder to its vocabulary (include/longtail/vocab_bind.h). */
#include "longtail/vocab_bind.h"

#include <stdio.h>
#include <unistd.h>

#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/shard.h"
#include "longtail/tokens.h"
#include "longtail/wordpiece.h"

/* The vocabulary the token shards of dir were made with: every shard's vocab_hash and vocab_size
 * (attributes only: the ids are not read), which must agree. Every token shard carries them since
 * schema tokens/1, so there are no older shards to excuse. */
static int shards_vocab(const char *dir, uint64_t *hash, int64_t *size, char *first, size_t cap) {
    char path[4200];
    int rc = 0, k = 0;
    for (;; k++) {
        snprintf(path, sizeof path, "%s/tokens-%05d.h5", dir, k);
        if (access(path, F_OK) != 0) break;
        lt_shard *s;
        int64_t h = 0, n = 0;
        LT_TRY(lt_shard_open(&s, path, "tokens", 1));
        rc = lt_shard_attr_i64(s, "", "vocab_hash", &h);
        if (!rc) rc = lt_shard_attr_i64(s, "", "vocab_size", &n);
        lt_shard_close(s);
        if (rc) return rc;
        if (!k) {
            *hash = (uint64_t)h, *size = n;
            snprintf(first, cap, "%s", path);
        } else if ((uint64_t)h != *hash || n != *size)
            return lt_error(LT_EFORMAT, "%s was made with another vocabulary (%lld tokens, fnv1a %016llx) than %s (%lld "
                            "tokens, fnv1a %016llx): run longtail vocab again",
                            path, (long long)n, (unsigned long long)h, first, (long long)*size, (unsigned long long)*hash);
    }
    if (!k) return lt_error(LT_ENOENT, "%s: no tokens-NNNNN.h5 shards (run longtail vocab first)", dir);
    return 0;
}

static int vocab_of(const char *path, uint64_t *hash, int64_t *size) {
    lt_vocab *v;
    LT_TRY(lt_vocab_load(&v, path));
    *hash = lt_vocab_hash(v), *size = lt_vocab_size(v);
    lt_vocab_free(v);
    return 0;
}

int lt_model_vocab_bind(const char *model_dir, const char *data_dir) {
    char first[4200], path[4200];
    uint64_t sh = 0;
    int64_t sn = 0;
    LT_TRY(shards_vocab(data_dir, &sh, &sn, first, sizeof first));
    snprintf(path, sizeof path, "%s/vocab.txt", data_dir);
    lt_vocab *v;
    LT_TRY(lt_vocab_load(&v, path));
    int rc = 0;
    if (lt_vocab_hash(v) != sh)
        rc = lt_error(LT_EFORMAT, "%s (%lld tokens, fnv1a %016llx) is not the vocabulary %s was made with (%lld tokens, "
                      "fnv1a %016llx): run longtail vocab again",
                      path, (long long)lt_vocab_size(v), (unsigned long long)lt_vocab_hash(v), first, (long long)sn,
                      (unsigned long long)sh);
    snprintf(path, sizeof path, "%s/vocab.txt", model_dir);
    if (!rc) rc = lt_vocab_save(v, path);
    lt_vocab_free(v);
    return rc;
}

int lt_model_vocab_check(const char *model_dir, const char *data_dir, int64_t model_vocab_size) {
    char first[4200], path[4200];
    uint64_t sh = 0, mh = 0;
    int64_t sn = 0, mn = 0;
    LT_TRY(shards_vocab(data_dir, &sh, &sn, first, sizeof first));
    snprintf(path, sizeof path, "%s/vocab.txt", model_dir);
    if (access(path, F_OK) != 0) {
        /* A model folder without vocab.txt: written before pretrain kept it, or a checkpoint copied
         * without it. The words cannot be checked, only the size; warn and go on, since refusing
         * would break every such model while the size check still catches most mix-ups. */
        if (model_vocab_size != sn)
            return lt_error(LT_ECONFIG, "%s was made with a vocabulary of %lld tokens, the model %s has %lld (config.json "
                            "vocab_size): tokenize the catalog with the model's vocabulary",
                            first, (long long)sn, model_dir, (long long)model_vocab_size);
        lt_warn("%s has no vocab.txt: cannot check that %s was made with the model's vocabulary", model_dir, first);
        return 0;
    }
    LT_TRY(vocab_of(path, &mh, &mn));
    if (mh != sh || mn != sn)
        return lt_error(LT_ECONFIG, "%s was made with another vocabulary (%lld tokens, fnv1a %016llx; %s/vocab.txt) than "
                        "the model was trained with (%s: %lld tokens, fnv1a %016llx): run longtail vocab --bert-vocab %s, "
                        "or use a model pretrained on these shards",
                        first, (long long)sn, (unsigned long long)sh, data_dir, path, (long long)mn,
                        (unsigned long long)mh, path);
    if (mn != model_vocab_size)
        return lt_error(LT_ECONFIG, "%s has %lld tokens, the model's config.json says vocab_size %lld", path, (long long)mn,
                        (long long)model_vocab_size);
    return 0;
}
