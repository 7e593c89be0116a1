/* The text encoder: BERT (Devlin et al., 2019) in the layout of Hugging Face's BertModel, for product
 * embeddings and masked-LM pretraining. Written once against ops.h, so the same code runs on the
 * CPU and CUDA backends.
 *
 *   x0 = dropout(LayerNorm(word[ids] + position[t] + token_type[0]))            (positions 0..T-1, one segment)
 *   per layer (post-LN, as BERT):
 *     qkv = x Wqkv^T + b;  a = attention(qkv, lens);  x1 = LayerNorm(x + dropout(a Wo^T + bo))
 *     x2 = LayerNorm(x1 + dropout(gelu(x1 W1^T + b1) W2^T + b2))
 *   pooled = mean of the final hidden states over the lens[b] real tokens (or the [CLS] one),
 *            L2-normalised by default
 *   MLM head (BertForMaskedLM): logits = LayerNorm(gelu(h W + b)) word^T + bias at the masked
 *            positions only, softmax cross-entropy averaged over them
 *
 * Parameters carry the Hugging Face names ("encoder.layer.3.attention.self.query.weight", linear
 * weights [out, in] as torch stores them), so checkpoints load from and save to safetensors
 * directories that transformers reads. Activations come from one arena sized by lt_bert_reserve:
 * a training step allocates nothing. Attention-probability dropout is not supported (it would
 * have to live inside the fused attention kernel); hidden dropout is. */
#ifndef LONGTAIL_BERT_H
#define LONGTAIL_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "longtail/param.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LT_BERT_POOL_MEAN = 0, LT_BERT_POOL_CLS } lt_bert_pool;

typedef struct lt_bert_config {
    int64_t vocab, hidden, layers, heads, ffn; /* ffn: the intermediate size */
    int64_t max_pos, type_vocab;
    int64_t pad_id;    /* [PAD]: its word-embedding row gets no gradient (padding_idx); -1: none */
    float ln_eps;      /* 1e-12, as BERT */
    float dropout;     /* hidden dropout: after the embeddings, the attention output and the FFN output */
    lt_bert_pool pool; /* mean over real tokens (default) or the [CLS] position */
    int normalize;     /* L2-normalise the pooled output (default 1) */
    int mlm_head;      /* with the masked-LM head cls.predictions.* (decoder tied to the word embeddings) */
} lt_bert_config;

/* BERT-base: vocab 30522, hidden 768, 12 layers, 12 heads, ffn 3072, 512 positions, 2 token types,
 * eps 1e-12, dropout 0.1, pad id 0, mean pooling, normalised, no MLM head. */
void lt_bert_config_init(lt_bert_config *c);
/* Sizes positive, hidden divisible by heads, 0 <= dropout < 1, eps > 0: LT_ECONFIG naming the field. */
int lt_bert_config_check(const lt_bert_config *c);
/* A Hugging Face config.json (model_type bert): vocab_size, hidden_size, num_hidden_layers,
 * num_attention_heads, intermediate_size (required), max_position_embeddings (512), type_vocab_size
 * (2), layer_norm_eps (1e-12), hidden_dropout_prob (0.1), pad_token_id (0; null: none), hidden_act (must be "gelu", the exact erf
 * GELU), position_embedding_type (must be "absolute"); and longtail's own longtail_pooling ("mean"
 * or "cls") and longtail_normalize. mlm_head is left as c had it. */
int lt_bert_config_from_json(lt_bert_config *c, const char *json, size_t len);

typedef struct lt_bert lt_bert;

/* A new model, initialised as BERT: weights normal(0, 0.02) from (seed, stream 0), LayerNorm weights
 * 1, biases 0. */
int lt_bert_create(lt_bert **out, lt_backend *be, const lt_bert_config *cfg, uint64_t seed);
/* dir/config.json + dir/model.safetensors. Names may carry a "bert." prefix (BertForMaskedLM and
 * BertForPreTraining checkpoints) and LayerNorm gamma/beta instead of weight/bias (old conversions);
 * F32, F16 and BF16 tensors are converted; other tensors (pooler, NSP head) are ignored. A missing
 * tensor or a wrong shape is an error naming the tensor, the shapes and the file. With mlm_head,
 * an absent head is initialised as in lt_bert_create (with a warning), as transformers does. */
int lt_bert_load(lt_bert **out, lt_backend *be, const char *dir, int mlm_head);
/* Writes dir/config.json and dir/model.safetensors (dir is created if needed): BertModel names, or
 * with the MLM head BertForMaskedLM's ("bert." prefix, the tied decoder weight omitted). */
int lt_bert_save(const lt_bert *m, const char *dir);
void lt_bert_free(lt_bert *m);

const lt_bert_config *lt_bert_get_config(const lt_bert *m);
/* How the encoder pools its final hidden states from now on (embed --pooling), over config.json's
 * longtail_pooling. */
int lt_bert_set_pool(lt_bert *m, lt_bert_pool pool);
/* The parameters with their gradients and optimizer moments (param.h): optimizer steps, gradient
 * clipping and longtail checkpoints work on this list. */
lt_params *lt_bert_params(lt_bert *m);

/* Size the activation arena for a [max_batch, max_len] batch and up to max_masked masked positions
 * (MLM head only; lt_mlm_mask picks about 15 % of the real tokens and at least one per sequence).
 * Any batch whose activations fit runs (about max_batch x max_len tokens, in any shape); a larger one
 * is refused with LT_ENOMEM. training = 0 reserves for forward passes only (layers then share their buffers: a
 * fraction of the memory); backward needs training = 1. Call again to resize. The backend's math at
 * this call fixes the activations' dtype (bf16 for LT_MATH_BF16, else f32): set the math first; a
 * forward after the math changed is refused until the next reserve. */
int lt_bert_reserve(lt_bert *m, int64_t max_batch, int64_t max_len, int64_t max_masked, int training);
size_t lt_bert_reserved_bytes(const lt_bert *m);

/* Forward pass. ids [B, T] and lens [B] are host arrays: sequence b holds lens[b] real tokens
 * (0 <= lens[b] <= T), the rest is padding (any valid id; [PAD] as BERT). train != 0: dropout on,
 * its masks drawn from (seed, step), so a run and its resumed copy draw the same masks. */
int lt_bert_forward(lt_bert *m, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, int train,
                    uint64_t seed, uint64_t step);
/* Outputs of the last forward, on the backend's device, valid until the next one:
 * pooled [B, hidden] (normalised if configured) and the final hidden states [B, T, hidden]. */
const lt_tensor *lt_bert_pooled(const lt_bert *m);
const lt_tensor *lt_bert_hidden(const lt_bert *m);

/* An eval-mode forward with the pooled rows copied to host memory out[B, hidden]: the encode
 * function of an lt_encoder (embed.h), with the model as its ctx. */
int lt_bert_encode(void *bert, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, float *out);

/* Masked-LM loss of the last forward (host arrays, as lt_mlm_mask writes them): pos[i] = b * T + t,
 * target[i] its original id, or -100 to ignore the row. *loss = mean over the rows not ignored
 * (0 when there are none). Logits are computed for these rows only. */
int lt_bert_mlm_loss(lt_bert *m, const int64_t *pos, const int32_t *target, int64_t n, float *loss);

/* Backward of L = <dpooled, pooled> + <dhidden, hidden> + mlm_scale * mlm_loss, accumulated into
 * the parameters' gradients (zero them with lt_params_zero_grad). dpooled [B, hidden] and dhidden
 * [B, T, hidden] live on the backend's device; either may be NULL; mlm_scale = 0 skips the head. */
int lt_bert_backward(lt_bert *m, const lt_tensor *dpooled, const lt_tensor *dhidden, float mlm_scale);

/* Matrix-multiply FLOPs of the encoder (no MLM head) for a [B, T] batch: forward, or forward +
 * backward counted as 3x forward (the recomputation in attention's backward is not counted). */
double lt_bert_flops(const lt_bert_config *c, int64_t B, int64_t T, int with_backward);

#ifdef __cplusplus
}
#endif
#endif
