/* longtail classify: will a product end up in the long tail? Learned from its text alone by the network
 * of include/longtail/classify.h, on head/tail labels from the shop's interactions.
 *
 * Training (no --model): labels from events.h5 by the split every evaluation uses (rec.h: head = the
 * floor(20 %) most frequent items of the training portions, tail = the rest); the items are split at
 * random (seeded) into training, validation (the per-epoch AUC in the log) and held-out test items.
 * On the test items it reports accuracy, balanced accuracy and ROC AUC of the classifier against the
 * majority class and a logistic regression on the items' embeddings (--emb: the encoder's shards, or
 * tfidf-embed's), as a table or --json. It writes OUT/classify.h5 (weights + description), OUT/vocab.txt,
 * the trainer's log, checkpoint and loss plot, and the test items' predictions (OUT/predictions.h5, .csv).
 *
 * Prediction (--model DIR): P(tail) of every item of --data (new items: a catalog imported and tokenized
 * with the model's vocabulary), into OUT/predictions.h5 and .csv.
 *
 * predictions.h5, schema "tail_predictions/1": items i64[n] (catalog indices), item_id (strings),
 * p_tail f32[n], tail u8[n] (p_tail >= threshold), label i32[n] (1 tail, 0 head, -1 unknown: events.h5
 * absent); attributes model, threshold, items_total. predictions.csv: item_id,p_tail,predicted,label. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/rec_cli.h"
#include "core/tmpfile.h"
#include "data/dataio.h"
#include "longtail/classify.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/rec.h"
#include "longtail/shard.h"
#include "longtail/vocab_bind.h"

static const lt_cli_opt opts[] = {
    {"--data", "classify.data", 0, "folder with the catalog, events.h5 and token shards (import, vocab)"},
    {"--out", "classify.out", 0, "folder for the model, its log and the predictions"},
    {"--emb", "classify.emb", 0, "item embeddings (emb-NNNNN.h5) for the logistic-regression baseline (none: skipped)"},
    {"--model", "classify.model", 0, "predict with this trained classifier (a classify --out folder) instead of training"},
    {"--embed", "classify.embed", 0, "token embedding width (default 300)"},
    {"--hidden", "classify.hidden", 0, "first LSTM's width, every step returned (default 128)"},
    {"--hidden2", "classify.hidden2", 0, "second LSTM's width, its last state returned (default 64)"},
    {"--dropout", "classify.dropout", 0, "dropout after each LSTM (default 0.2)"},
    {"--max-len", "classify.max_len", 0, "tokens read per item (default 64)"},
    {"--epochs", "classify.epochs", 0, "passes over the training items (default 5)"},
    {"--batch", "classify.batch", 0, "items per step (default 32)"},
    {"--lr", "classify.lr", 0, "Adam's learning rate (default 1e-3, constant)"},
    {"--test", "classify.test", 0, "share of the items held out for the report (default 0.2)"},
    {"--valid", "classify.valid", 0, "share of the items for the per-epoch validation AUC (default 0.1)"},
    {"--class-weight", "classify.class_weight", 0, "none (default) or balanced: weight each class by n / (2 n_class)"},
    {"--threshold", "classify.threshold", 0, "P(tail) from which an item is called tail (default 0.5)"},
    {"--C", "classify.C", 0, "the logistic regression's inverse L2 strength, as sklearn's C (default 1)"},
    {"--json", "classify.json", 1, "print the report as one JSON object"},
    {"--no-csv", "classify.no_csv", 1, "write predictions.h5 only"},
    {"--seed", "classify.seed", 0, "seed of the split, initialisation, batches and dropouts (default 1)"},
    {"--log-every", "classify.log_every", 0, "steps between log lines (default 50)"},
    {"--ckpt-every", "classify.ckpt_every", 0, "steps between checkpoints (default 500)"},
    {"--device", "classify.device", 0, "cpu (default) or cuda[:N]"},
    {"--math", "classify.math", 0, "GEMMs: auto (default), bf16, tf32, fp32"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_classify = opts; /* every setting is checked against these (settings.c) */

/* OUT/predictions.h5 and (csv) OUT/predictions.csv for items[n]; label NULL: unknown. */
static int write_predictions(const char *out, const lt_catalog *cat, const int32_t *items, int64_t n, const float *p,
                             const uint8_t *tail, double threshold, const char *model, int csv) {
    char path[4200];
    int64_t *it64 = malloc(sizeof *it64 * (size_t)(n + 1));
    uint8_t *pred = malloc((size_t)n + 1);
    int32_t *lab = malloc(sizeof *lab * (size_t)(n + 1));
    lt_strs ids = {0};
    int rc = it64 && pred && lab ? 0 : lt_error(LT_ENOMEM, "classify: out of memory");
    for (int64_t i = 0; i < n && !rc; i++) {
        size_t len;
        const char *s = lt_strs_get(&cat->item_id, items[i], &len);
        it64[i] = items[i], pred[i] = p[i] >= threshold, lab[i] = tail ? tail[items[i]] != 0 : -1;
        rc = lt_strs_push(&ids, s, len);
    }
    snprintf(path, sizeof path, "%s/predictions.h5", out);
    lt_shard *s = NULL;
    if (!rc) rc = lt_shard_create(&s, path, "tail_predictions", 1);
    if (!rc) rc = lt_shard_write(s, "items", LT_I64, 1, &n, it64);
    if (!rc) rc = lt_ragged_write(s, "item_id", LT_U8, ids.bytes, ids.off, 0, n);
    if (!rc) rc = lt_shard_write(s, "p_tail", LT_F32, 1, &n, p);
    if (!rc) rc = lt_shard_write(s, "tail", LT_U8, 1, &n, pred);
    if (!rc) rc = lt_shard_write(s, "label", LT_I32, 1, &n, lab);
    if (!rc) rc = lt_shard_set_attr_str(s, "", "model", model);
    if (!rc) rc = lt_shard_set_attr_f64(s, "", "threshold", threshold);
    if (!rc) rc = lt_shard_set_attr_i64(s, "", "items_total", cat->n);
    if (s) rc = rc ? (lt_shard_abort(s), rc) : lt_shard_commit(s);
    if (!rc && csv) {
        char tmp[4400];
        snprintf(path, sizeof path, "%s/predictions.csv", out);
        rc = lt_tmp_path(tmp, sizeof tmp, path);
        FILE *f = rc ? NULL : fopen(tmp, "w");
        if (!rc && !f) rc = lt_error(LT_EIO, "%s: cannot write", tmp);
        if (f) {
            fprintf(f, "item_id,p_tail,predicted,label\n");
            for (int64_t i = 0; i < n; i++) {
                size_t len;
                const char *id = lt_strs_get(&ids, i, &len);
                lt_cli_csv_field(f, id, len);
                fprintf(f, ",%.6f,%s,%s\n", p[i], pred[i] ? "tail" : "head", lab[i] < 0 ? "" : lab[i] ? "tail" : "head");
            }
            int bad = ferror(f) != 0;
            if (fflush(f) || fsync(fileno(f))) bad = 1;
            if (fclose(f)) bad = 1;
            if (bad || rename(tmp, path)) unlink(tmp), rc = lt_error(LT_EIO, "%s: write failed", path);
        }
    }
    lt_strs_free(&ids);
    free(it64), free(pred), free(lab);
    return rc;
}

static void report_row(const char *name, const lt_bin_metrics *m) {
    printf("%-24s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n", name, m->accuracy, m->balanced_accuracy, m->auc,
           m->auc_se, m->tail_recall, m->head_recall, m->logloss);
}
static void report_json(const char *name, const lt_bin_metrics *m, int last) {
    printf("  \"%s\": {\"accuracy\": %.6g, \"balanced_accuracy\": %.6g, \"auc\": %.6g, \"auc_se\": %.6g, \"tail_recall\": %.6g, "
           "\"head_recall\": %.6g, \"logloss\": %.6g}%s\n", name, m->accuracy, m->balanced_accuracy,
           isnan(m->auc) ? 0.5 : m->auc, m->auc_se, m->tail_recall, m->head_recall, m->logloss, last ? "" : ",");
}

/* The logistic regression on the items' embeddings (emb: DIR of emb-NNNNN.h5) fitted on the training
 * items, with the classifier's class weights; P(tail) of the test items into prob[n_test]. */
static int logreg_baseline(const char *emb, int64_t n_items, const lt_clf_train_opts *o, const int32_t *test,
                           int64_t n_test, double C, float *prob) {
    int64_t d, n = o->n_train > n_test ? o->n_train : n_test;
    float *x;
    LT_TRY(lt_cli_load_text(emb, n_items, 0, &x, &d));
    float *xs = malloc(sizeof *xs * (size_t)(n * d)), *wt = malloc(sizeof *wt * (size_t)o->n_train), cw[2];
    uint8_t *y = malloc((size_t)o->n_train);
    int rc = xs && wt && y ? 0 : lt_error(LT_ENOMEM, "classify: out of memory for the logistic regression");
    lt_clf_class_weights(o->tail, o->train, o->n_train, o->balanced, cw);
    for (int64_t i = 0; !rc && i < o->n_train; i++) {
        memcpy(xs + i * d, x + (int64_t)o->train[i] * d, sizeof *xs * (size_t)d);
        y[i] = o->tail[o->train[i]] != 0, wt[i] = cw[y[i]];
    }
    lt_logreg m;
    double t0 = lt_seconds();
    if (!rc) rc = lt_logreg_fit(xs, o->n_train, d, y, wt, C, &m);
    if (!rc) {
        for (int64_t i = 0; i < n_test; i++) memcpy(xs + i * d, x + (int64_t)test[i] * d, sizeof *xs * (size_t)d);
        lt_logreg_predict(&m, xs, n_test, prob);
        lt_info("classify: logistic regression on %s (%lld dims, C %g): %d Newton steps, %.1fs", emb, (long long)d, C,
                m.iters, lt_seconds() - t0);
        lt_logreg_free(&m);
    }
    free(x), free(xs), free(wt), free(y);
    return rc;
}

/* mm: the classifier, the majority class, the logistic regression (when have_lr) */
static void print_report(int json, int64_t n, int64_t n_test, double thr, int balanced, int maj, const lt_bin_metrics *mm,
                         int have_lr, double t_train, const char *out) {
    double share = (double)mm[0].positives / (double)n_test;
    if (json) {
        printf("{\n  \"items\": %lld, \"test_items\": %lld, \"test_tail_share\": %.6g, \"train_seconds\": %.3g,\n",
               (long long)n, (long long)n_test, share, t_train);
        report_json("majority", &mm[1], 0);
        if (have_lr) report_json("logreg", &mm[2], 0);
        report_json("lstm", &mm[0], 1);
        printf("}\n");
        return;
    }
    printf("classify: %lld test items of %lld (%.1f%% tail), threshold %g%s\n", (long long)n_test, (long long)n,
           100.0 * share, thr, balanced ? ", classes weighted" : "");
    printf("%-24s %8s %8s %8s %8s %8s %8s %8s\n", "model", "accuracy", "bal_acc", "auc", "auc_se", "tail_rec", "head_rec",
           "logloss");
    report_row(maj ? "majority (tail)" : "majority (head)", &mm[1]);
    if (have_lr) report_row("logreg (embeddings)", &mm[2]);
    report_row("lstm (text)", &mm[0]);
    printf("model %s/classify.h5, predictions %s/predictions.h5; trained in %.1fs\n", out, out, t_train);
}

/* A trained classifier from DIR/classify.h5 (its description picks the shapes). */
static int load_model(const char *dir, lt_backend *be, lt_clf **out, char *desc, size_t cap) {
    char path[4200];
    snprintf(path, sizeof path, "%s/classify.h5", dir);
    LT_TRY(lt_cli_model_desc(path, desc, cap));
    lt_clf_config c;
    LT_TRY(lt_clf_config_parse(desc, &c));
    LT_TRY(lt_clf_create(out, be, &c, 0));
    int rc = lt_checkpoint_load(path, lt_clf_params(*out), 0, NULL, NULL, 0);
    if (rc) lt_clf_free(*out), *out = NULL;
    return rc;
}

int lt_cmd_classify(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("classify", "--data DIR --out DIR [--emb DIR] [--model DIR] [--epochs N] [--json]", opts, argc,
                         argv, &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "classify.data", NULL), *out = lt_config_str(c, "classify.out", NULL);
    const char *emb = lt_config_str(c, "classify.emb", NULL), *model_dir = lt_config_str(c, "classify.model", NULL);
    const char *cw = lt_config_str(c, "classify.class_weight", "none");
    if (!data || !out) {
        fprintf(stderr, "longtail classify: needs --data DIR and --out DIR (longtail classify --help)\n");
        lt_config_free(c);
        return 2;
    }
    lt_clf_config mc;
    lt_clf_config_init(&mc);
    lt_clf_train_opts o;
    memset(&o, 0, sizeof o);
    lt_trainer_cfg_init(&o.trainer);
    int64_t seed = 1;
    double lr = 1e-3, dr = mc.dropout, test = 0.2, valid = 0.1, thr = 0.5, C = 1.0;
    int json = 0, no_csv = 0, rc = 0;
    struct { const char *k; int64_t def, *dst; } ints[] = {
        {"classify.embed", mc.embed, &mc.embed}, {"classify.hidden", mc.hidden1, &mc.hidden1},
        {"classify.hidden2", mc.hidden2, &mc.hidden2}, {"classify.max_len", mc.max_len, &mc.max_len},
        {"classify.epochs", 5, &o.epochs}, {"classify.batch", 32, &o.batch}, {"classify.seed", 1, &seed},
        {"classify.log_every", 50, &o.trainer.log_every}, {"classify.ckpt_every", 500, &o.trainer.ckpt_every},
        {"classify.stop_after", 0, &o.trainer.stop_after},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints && !rc; i++) rc = lt_config_int(c, ints[i].k, ints[i].def, ints[i].dst);
    struct { const char *k; double *dst; } fls[] = {{"classify.lr", &lr}, {"classify.dropout", &dr}, {"classify.test", &test},
                                                    {"classify.valid", &valid}, {"classify.threshold", &thr}, {"classify.C", &C}};
    for (size_t i = 0; i < sizeof fls / sizeof *fls && !rc; i++) rc = lt_config_float(c, fls[i].k, *fls[i].dst, fls[i].dst);
    if (!rc) rc = lt_config_bool(c, "classify.json", 0, &json);
    if (!rc) rc = lt_config_bool(c, "classify.no_csv", 0, &no_csv);
    if (!rc && strcmp(cw, "none") && strcmp(cw, "balanced"))
        rc = lt_error(LT_ECONFIG, "classify.class_weight: expected none or balanced, got '%s'", cw);
    if (!rc && !(test > 0 && valid >= 0 && test + valid < 1))
        rc = lt_error(LT_ECONFIG, "classify.test (%g) and classify.valid (%g): test > 0, valid >= 0, together below 1", test, valid);
    if (!rc && !(lr > 0)) rc = lt_error(LT_ECONFIG, "classify.lr: %g must be > 0", lr);
    if (!rc && !(C > 0)) rc = lt_error(LT_ECONFIG, "classify.C: %g must be > 0", C);
    if (!rc && !(thr > 0 && thr < 1)) rc = lt_error(LT_ECONFIG, "classify.threshold: %g must be in (0, 1)", thr);
    if (!rc && !(dr >= 0 && dr < 1)) rc = lt_error(LT_ECONFIG, "classify.dropout: %g must be in [0, 1)", dr);
    mc.dropout = (float)dr, o.balanced = !strcmp(cw, "balanced");
    /* Keras' Adam: no weight decay, no clipping, a constant rate */
    o.trainer.optim.lr = (float)lr, o.trainer.optim.weight_decay = 0, o.trainer.optim.max_grad_norm = 0;
    o.trainer.optim.schedule = LT_SCHED_CONSTANT, o.trainer.seed = (uint64_t)seed;
    o.trainer.dir = out, o.trainer.name = "classify";
    if (!rc) rc = lt_cli_out_dir("classify.out", out);
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0; /* longtail run checks every stage's settings first */

    double t0 = lt_seconds();
    lt_backend *be = NULL;
    lt_events ev = {0};
    lt_catalog cat = {0};
    lt_rec_split split = {0};
    lt_token_set tok = {0};
    lt_clf *m = NULL;
    uint8_t *tail = NULL;
    int32_t *perm = NULL;
    float *prob = NULL;
    char path[4200], desc[512];
    if (!rc) rc = lt_token_set_load(data, &tok);
    if (!rc) rc = lt_catalog_load_ids(&cat, data);
    if (!rc && cat.n != tok.n_items)
        rc = lt_error(LT_EFORMAT, "%s: the catalog has %lld items, the token shards %lld", data, (long long)cat.n,
                      (long long)tok.n_items);
    snprintf(path, sizeof path, "%s/events.h5", data);
    int have_events = access(path, F_OK) == 0;
    if (!rc && (have_events || !model_dir)) rc = lt_events_load(&ev, path);
    if (!rc && ev.n_items && ev.n_items != cat.n)
        rc = lt_error(LT_EFORMAT, "%s: %lld items, the catalog %lld", path, (long long)ev.n_items, (long long)cat.n);
    if (!rc && ev.n_items) rc = lt_rec_split_make(&ev, NULL, &split);
    int64_t n = cat.n;
    tail = rc || !ev.n_items ? NULL : malloc((size_t)n + 1);
    if (!rc && ev.n_items && !tail) rc = lt_error(LT_ENOMEM, "classify: out of memory");
    for (int64_t i = 0; tail && i < n; i++) tail[i] = !split.head[i];
    if (!rc) rc = lt_mkdirs(out);
    if (!rc) rc = lt_cli_backend(lt_config_str(c, "classify.device", "cpu"), lt_config_str(c, "classify.math", NULL), &be);

    if (!rc && model_dir) { /* ---- prediction ---- */
        if (!rc) rc = load_model(model_dir, be, &m, desc, sizeof desc);
        if (!rc) rc = lt_model_vocab_check(model_dir, data, lt_clf_get_config(m)->vocab);
        perm = rc ? NULL : malloc(sizeof *perm * (size_t)(n + 1));
        prob = rc ? NULL : malloc(sizeof *prob * (size_t)(n + 1));
        if (!rc && (!perm || !prob)) rc = lt_error(LT_ENOMEM, "classify: out of memory");
        for (int64_t i = 0; !rc && i < n; i++) perm[i] = (int32_t)i;
        if (!rc) rc = lt_clf_predict(m, &tok, perm, n, 256, prob);
        if (!rc) rc = write_predictions(out, &cat, perm, n, prob, tail, thr, desc, !no_csv);
        int64_t called = 0;
        for (int64_t i = 0; !rc && i < n; i++) called += prob[i] >= thr;
        if (!rc && tail) { /* the catalog has its interactions: say how the predictions fare */
            lt_bin_metrics bm;
            lt_bin_metrics_compute(prob, tail, n, thr, &bm);
            printf("against this catalog's own interactions: accuracy %.4f, balanced accuracy %.4f, AUC %.4f\n",
                            bm.accuracy, bm.balanced_accuracy, bm.auc);
        }
        if (!rc) printf("predicted %lld items: %lld called tail (P(tail) >= %g); %s/predictions.h5%s (%.1fs)\n",
                        (long long)n, (long long)called, thr, out, no_csv ? "" : " and .csv", lt_seconds() - t0);
    } else if (!rc) { /* ---- training and the report ---- */
        mc.vocab = tok.vocab_size;
        perm = malloc(sizeof *perm * (size_t)(n + 1));
        if (!perm) rc = lt_error(LT_ENOMEM, "classify: out of memory");
        for (int64_t i = 0; perm && i < n; i++) perm[i] = (int32_t)i;
        if (perm) {
            lt_rng rg;
            lt_rng_init(&rg, lt_rng_key((uint64_t)seed, 0, LT_SITE_SHUFFLE), 0xc1a55);
            lt_rng_shuffle_i32(&rg, perm, (size_t)n);
        }
        int64_t n_test = (int64_t)(test * (double)n), n_valid = (int64_t)(valid * (double)n);
        const int32_t *test_items = perm;
        o.valid = perm + n_test, o.n_valid = n_valid, o.train = perm + n_test + n_valid, o.n_train = n - n_test - n_valid;
        o.tail = tail;
        if (!rc && (n_test < 2 || o.n_train < 2))
            rc = lt_error(LT_EINVAL, "%s: %lld items are too few to split into training and test items", data, (long long)n);
        if (!rc) rc = lt_clf_create(&m, be, &mc, lt_rng_key((uint64_t)seed, 0, LT_SITE_INIT));
        if (!rc) {
            lt_clf_config_describe(&mc, desc, sizeof desc);
            o.trainer.model = desc;
            lt_info("classify: %s on %s; %lld items: %lld train, %lld valid, %lld test", desc, lt_backend_describe(be),
                    (long long)n, (long long)o.n_train, (long long)o.n_valid, (long long)n_test);
            rc = lt_clf_train(m, &tok, &o);
        }
        double t_train = lt_seconds() - t0;
        if (rc == LT_TRAIN_STOPPED) {
            printf("classify: stopped; run again to continue\n");
        } else if (!rc) {
            snprintf(path, sizeof path, "%s/classify.h5", out);
            rc = lt_checkpoint_save(path, lt_clf_params(m), 0, NULL, desc);
            if (!rc) rc = lt_model_vocab_bind(out, data);
            prob = rc ? NULL : malloc(sizeof *prob * (size_t)(n_test + 1) * 3);
            uint8_t *lab = rc ? NULL : malloc((size_t)n_test + 1);
            if (!rc && (!prob || !lab)) rc = lt_error(LT_ENOMEM, "classify: out of memory");
            if (!rc) rc = lt_clf_predict(m, &tok, test_items, n_test, 256, prob);
            if (!rc) rc = write_predictions(out, &cat, test_items, n_test, prob, tail, thr, desc, !no_csv);
            lt_bin_metrics mm[3];
            int64_t train_tail = 0;
            for (int64_t i = 0; i < o.n_train; i++) train_tail += tail[o.train[i]];
            /* the majority class: the training items' tail share as P(tail) for every item, called at 0.5 */
            int maj = 2 * train_tail >= o.n_train;
            for (int64_t i = 0; !rc && i < n_test; i++)
                lab[i] = tail[test_items[i]], prob[n_test + i] = (float)train_tail / (float)o.n_train;
            if (!rc) lt_bin_metrics_compute(prob, lab, n_test, thr, &mm[0]);
            if (!rc) lt_bin_metrics_compute(prob + n_test, lab, n_test, 0.5, &mm[1]);
            int have_lr = 0;
            if (!rc && emb) rc = logreg_baseline(emb, n, &o, test_items, n_test, C, prob + 2 * n_test);
            if (!rc && emb) lt_bin_metrics_compute(prob + 2 * n_test, lab, n_test, thr, &mm[2]), have_lr = 1;
            if (!rc) print_report(json, n, n_test, thr, o.balanced, maj, mm, have_lr, t_train, out);
            free(lab);
        }
        if (rc == LT_TRAIN_STOPPED) rc = 0;
    }
    lt_clf_free(m);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    lt_rec_split_free(&split);
    lt_events_free(&ev);
    lt_catalog_free(&cat);
    lt_token_set_free(&tok);
    free(tail), free(perm), free(prob);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("classify", rc) : 0;
}
