/* A model is bound to the vocabulary it was trained with: token ids mean nothing under another one.
 * `longtail pretrain` keeps a copy of the vocabulary in the model folder (MODEL/vocab.txt, as Hugging
 * Face model folders do), and every stage that feeds token shards to a model checks that the shards
 * were made with that vocabulary (the token shards' vocab_hash attribute, lt_vocab_hash). */
#ifndef LONGTAIL_VOCAB_BIND_H
#define LONGTAIL_VOCAB_BIND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Write data_dir/vocab.txt into model_dir/vocab.txt, after checking that it is the vocabulary the
 * token shards of data_dir were made with. */
int lt_model_vocab_bind(const char *model_dir, const char *data_dir);

/* Refuse (LT_ECONFIG, naming both vocabularies) token shards of data_dir made with another
 * vocabulary than the model in model_dir; the shards must also agree with each other.
 * model_vocab_size is the model's embedding rows (config.json vocab_size). */
int lt_model_vocab_check(const char *model_dir, const char *data_dir, int64_t model_vocab_size);

#ifdef __cplusplus
}
#endif
#endif
