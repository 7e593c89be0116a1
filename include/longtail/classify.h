/* The long-tail classifier of product text: from an item's WordPiece ids alone, will it end up in the
 * tail? By default exactly the network it was specified with, in Keras terms:
 *
 *   Embedding(vocab, 300) -> LSTM(128, return_sequences=True) -> Dropout(0.2) -> LSTM(64) -> Dropout(0.2)
 *   -> Dense(1, sigmoid);  binary cross-entropy, Adam, 5 epochs, batch 32
 *
 * written once on the op table (src/model/classify.c), so it trains on the CPU and CUDA backends:
 *
 *   ids[B, T] --lt_embedding_fwd--> E[B, T, 300] --rnn 1 (lt_recurrent, 1 layer)--> Y1[B, T, 128]
 *   --dropout--> D1 --rnn 2--> its final state h[B, 64] (the state after the last real token, as Keras'
 *   LSTM(64) returns it and pack_padded_sequence gives it) --dropout--> D2 --> z[B] = D2 w + b,
 *   p = sigmoid(z), loss = mean_b weight_b BCE(p_b, y_b)
 *
 * Sequences are right-padded with lens (0 < lens[b] <= T): padding never reaches a state, as with a
 * Keras Masking of the padding. Parameters use PyTorch's names ("embedding.weight" [vocab, 300], an
 * embedding table of the trainer; "lstm1." and "lstm2." as torch.nn.LSTM; "dense.weight" [1, 64],
 * "dense.bias" [1] as torch.nn.Linear), so tests/golden/make_classify_fixture.py builds the same network
 * in torch. Initialisation: the embedding U(-0.05, 0.05) as Keras', the rest as torch's.
 * y = 1 means tail. The sigmoid and the loss of B numbers run on the host. */
#ifndef LONGTAIL_CLASSIFY_H
#define LONGTAIL_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "longtail/param.h"
#include "longtail/tokens.h"
#include "longtail/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_clf_config {
    int64_t vocab;            /* embedding rows: the token shards' vocab_size */
    int64_t embed;            /* 300 */
    int64_t hidden1, hidden2; /* 128, 64 */
    float dropout;            /* 0.2 after each LSTM */
    int64_t max_len;          /* tokens per item read (the first max_len, [CLS] included; default 64) */
} lt_clf_config;

void lt_clf_config_init(lt_clf_config *c);
/* "classify vocab=30522 embed=300 hidden=128,64 dropout=0.2 max_len=64" (checked on load) */
void lt_clf_config_describe(const lt_clf_config *c, char *buf, size_t cap);
int lt_clf_config_parse(const char *desc, lt_clf_config *c);

typedef struct lt_clf lt_clf;

int lt_clf_create(lt_clf **out, lt_backend *be, const lt_clf_config *c, uint64_t seed);
void lt_clf_free(lt_clf *m);
lt_params *lt_clf_params(lt_clf *m);
const lt_clf_config *lt_clf_get_config(const lt_clf *m);

/* One training micro-batch: ids[B * T] (host; row b's first lens[b] >= 1 entries are real), labels
 * y[B] (0 head, 1 tail), per-example weights w[B] (NULL: 1). Forward with dropout keyed by the step
 * (s NULL: no dropout) and backward, ACCUMULATING into the gradients; *loss = mean of w_b BCE_b.
 * logits[B] (may be NULL) receives z. */
int lt_clf_train_batch(lt_clf *m, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, const float *y,
                       const float *w, const lt_step *s, double *loss, float *logits);
/* Inference (no dropout): logits[B] = z, P(tail) = sigmoid(z). */
int lt_clf_logits(lt_clf *m, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, float *logits);

/* ---- training and prediction on a catalog (src/train/classify_train.c) -------------------------- */

typedef struct lt_clf_train_opts {
    lt_trainer_cfg trainer;  /* seed, checkpoints, logging; steps come from epochs */
    int64_t epochs, batch;   /* 5, 32 */
    const int32_t *train, *valid; /* item indices of the training and validation items */
    int64_t n_train, n_valid;
    const uint8_t *tail;     /* [n_items] the label: 1 tail, 0 head */
    int balanced;            /* weight each class by n / (2 n_class) (Keras class_weight='balanced'); 0: 1 */
} lt_clf_train_opts;

/* The weight of each class (w[0] head, w[1] tail) among items[n]: 1 and 1, or balanced. */
void lt_clf_class_weights(const uint8_t *tail, const int32_t *items, int64_t n, int balanced, float w[2]);
/* Train: batches of `batch` items drawn in a new random order every epoch, the final weights kept (as
 * Keras' fit); the validation AUC is logged every epoch. 0, LT_TRAIN_STOPPED or an error. */
int lt_clf_train(lt_clf *m, const lt_token_set *tok, const lt_clf_train_opts *o);
/* P(tail) of items[n] (all items when items is NULL and n = tok->n_items) into prob[n]. */
int lt_clf_predict(lt_clf *m, const lt_token_set *tok, const int32_t *items, int64_t n, int64_t batch, float *prob);

/* ---- judging a binary classifier, and the logistic-regression baseline (src/eval/binary.c) -------- */

typedef struct lt_bin_metrics {
    int64_t n, positives;
    double accuracy;          /* at score >= threshold */
    double balanced_accuracy; /* mean of the recalls of both classes: 0.5 for a constant answer */
    double auc;               /* ROC AUC (Mann-Whitney, ties count half); NaN with one class only */
    double auc_se;            /* its standard error (Hanley & McNeil 1982) */
    double tail_recall, head_recall;
    double logloss;           /* of score as a probability (clipped to [1e-7, 1 - 1e-7]) */
} lt_bin_metrics;

void lt_bin_metrics_compute(const float *score, const uint8_t *label, int64_t n, double threshold, lt_bin_metrics *m);

/* L2-regularised logistic regression on standardised features, as sklearn's LogisticRegression(C)
 * solves it: minimise sum_i w_i logloss_i + ||beta||^2 / (2 C) (the intercept unpenalised), by Newton's
 * method in double. x[n, d] row-major, y[n] 0/1, wt[n] example weights or NULL. */
typedef struct lt_logreg {
    int64_t d;
    double *mean, *scale; /* standardisation: (x - mean) / scale */
    double *coef, intercept;
    int iters;
} lt_logreg;

int lt_logreg_fit(const float *x, int64_t n, int64_t d, const uint8_t *y, const float *wt, double C, lt_logreg *m);
/* P(y = 1) of x[n, d] */
void lt_logreg_predict(const lt_logreg *m, const float *x, int64_t n, float *prob);
void lt_logreg_free(lt_logreg *m);

#ifdef __cplusplus
}
#endif
#endif
