/* longtail update: continue a trained recommender on the events that came after it was trained,
 * without retraining from scratch. The model (MODEL/rec.h5) starts from its weights and trains a few
 * epochs on the whole of the new data (each user's history up to its last two events, as train
 * does) at a lower learning rate, with validation NDCG@10 and early stopping; the result goes to
 * OUT/rec.h5. Items the old model never saw in training enter through their text: they have no id
 * part and are scored by their text alone, through the updated text projection and user tower
 * (--new-ids gives an id part to those the new events hold; on the synthetic shop that made them
 * worse: an id vector learnt from one or two events is mostly noise).
 *
 * Then it reports, on the new data's test cases (each user's last event, which neither model trained
 * on), the stale model (as it was) against the updated one, both scored over the whole catalog, with
 * the recall on the cases whose target is an item new to the stale model; with --retrain also a model
 * trained from scratch on the new data, and the update's cost as a fraction of that retrain.
 *
 * Which items the stale model saw: a model trained with train --time-split F records F, and the old
 * training data is then exactly the first share F of every history here; otherwise the stale model is
 * taken to know every item of the new training portions (a warning says so). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "cli/rec_cli.h"
#include "data/dataio.h"
#include "longtail/error.h"
#include "longtail/log.h"
#include "longtail/recmodel.h"

static const lt_cli_opt opts[] = {
    {"--data", "update.data", 0, "folder with the catalog and the new events.h5 (longtail import): old and new events"},
    {"--model", "update.model", 0, "the trained recommender to continue (longtail train --out DIR)"},
    {"--out", "update.out", 0, "folder for the updated model (rec.h5), its checkpoint and its log"},
    {"--emb", "update.emb", 0, "the items' text embeddings (default: the ones the model was trained with)"},
    {"--epochs", "update.epochs", 0, "passes over the new data (default 5)"},
    {"--lr", "update.lr", 0, "peak learning rate of the update (default 3e-3)"},
    {"--warmup", "update.warmup", 0, "warm-up steps (default 10)"},
    {"--batch", "update.batch", 0, "users per step (default 128)"},
    {"--patience", "update.patience", 0, "stop after this many epochs without a better validation NDCG@10 (default 2)"},
    {"--eval-users", "update.eval_users", 0, "users in the per-epoch validation (default 0: all)"},
    {"--new-ids", "update.new_ids", 1,
     "give items first seen in the new events an id part too (default: they stay text-only, as the stale model scores them)"},
    {"--retrain", "update.retrain", 1, "also train a model from scratch on the new data, for the cost and the accuracy it buys"},
    {"--retrain-epochs", "update.retrain_epochs", 0, "the retrain's epochs (default 30, as train)"},
    {"--retrain-lr", "update.retrain_lr", 0, "the retrain's learning rate (default 3e-3, as train)"},
    {"--json", "update.json", 1, "print one JSON object: a member per model and the cost"},
    {"--seed", "update.seed", 0, "seed of batches and dropouts (default 1)"},
    {"--ckpt-every", "update.ckpt_every", 0, "steps between checkpoints (default 500)"},
    {"--log-every", "update.log_every", 0, "steps between log lines (default 50)"},
    {"--device", "update.device", 0, "cpu (default) or cuda[:N]"},
    {"--math", "update.math", 0, "GEMMs: auto (default), bf16, tf32, fp32"},
    {0},
};
const lt_cli_opt *const lt_cli_opts_update = opts; /* every setting is checked against these (settings.c) */

/* A split whose test cases are only those whose target the stale model never trained on. */
static int new_item_cases(const lt_rec_split *s, const int64_t *old_freq, lt_rec_split *sub, int64_t *n) {
    *sub = *s;
    sub->test = malloc(sizeof *sub->test * (size_t)(s->n_users ? s->n_users : 1));
    if (!sub->test) return lt_error(LT_ENOMEM, "update: out of memory");
    *n = 0;
    for (int64_t u = 0; u < s->n_users; u++) {
        int32_t t = s->test[u];
        sub->test[u] = t >= 0 && old_freq[t] == 0 ? t : -1;
        *n += sub->test[u] >= 0;
    }
    return 0;
}

typedef struct {
    const char *name;
    lt_rec *m;
    lt_rec_metrics all, fresh;
    double seconds, cpu; /* training: wall and CPU time (every thread of the process) */
} result;

/* CPU seconds of the process so far: on a shared machine the steadier measure of a training's cost. */
static double cpu_seconds(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static int evaluate(const lt_rec_split *s, const lt_rec_split *fresh, int64_t n_fresh, result *r) {
    lt_rec_model mm = lt_rec_as_model(r->m, r->name);
    LT_TRY(lt_rec_evaluate(s, LT_REC_TEST, &mm, 256, &r->all));
    memset(&r->fresh, 0, sizeof r->fresh);
    if (n_fresh) LT_TRY(lt_rec_evaluate(fresh, LT_REC_TEST, &mm, 256, &r->fresh));
    return 0;
}

int lt_cmd_update(int argc, char **argv) {
    lt_config *c;
    char **pos;
    int npos;
    int r = lt_cli_parse("update", "--data DIR --model DIR --out DIR [--epochs N] [--retrain] [--json]", opts, argc, argv,
                         &c, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    const char *data = lt_config_str(c, "update.data", NULL), *old = lt_config_str(c, "update.model", NULL);
    const char *out = lt_config_str(c, "update.out", NULL), *emb = lt_config_str(c, "update.emb", NULL);
    if (!data || !old || !out) {
        fprintf(stderr, "longtail update: needs --data DIR, --model DIR and --out DIR (longtail update --help)\n");
        lt_config_free(c);
        return 2;
    }
    lt_rec_train_opts o, ro;
    memset(&o, 0, sizeof o);
    lt_trainer_cfg_init(&o.trainer);
    int64_t seed = 1, warmup = 10, rt_epochs = 30;
    double lr = 3e-3, rt_lr = 3e-3;
    int json = 0, retrain = 0, new_ids = 0;
    struct { const char *k; int64_t def, *dst; } ints[] = {
        {"update.epochs", 5, &o.epochs}, {"update.batch", 128, &o.batch}, {"update.warmup", 10, &warmup},
        {"update.patience", 2, &o.trainer.patience}, {"update.eval_users", 0, &o.eval_users}, {"update.seed", 1, &seed},
        {"update.ckpt_every", 500, &o.trainer.ckpt_every}, {"update.log_every", 50, &o.trainer.log_every},
        {"update.retrain_epochs", 30, &rt_epochs},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof ints / sizeof *ints && !rc; i++) rc = lt_config_int(c, ints[i].k, ints[i].def, ints[i].dst);
    if (!rc) rc = lt_config_float(c, "update.lr", lr, &lr);
    if (!rc) rc = lt_config_float(c, "update.retrain_lr", rt_lr, &rt_lr);
    if (!rc) rc = lt_config_bool(c, "update.json", 0, &json);
    if (!rc) rc = lt_config_bool(c, "update.retrain", 0, &retrain);
    if (!rc) rc = lt_config_bool(c, "update.new_ids", 0, &new_ids);
    if (!rc && (o.epochs < 1 || o.batch < 1 || rt_epochs < 1 || !(lr >= 0) || !(rt_lr > 0)))
        rc = lt_error(LT_ECONFIG, "update: epochs, batch and retrain_epochs >= 1, lr >= 0, retrain_lr > 0");
    if (!rc) rc = lt_cli_out_dir("update.out", out);
    o.trainer.optim.lr = (float)lr, o.trainer.optim.warmup_steps = warmup, o.trainer.optim.schedule = LT_SCHED_COSINE;
    o.trainer.seed = (uint64_t)seed, o.trainer.dir = out, o.trainer.name = "update", o.trainer.quiet = json;
    ro = o;
    ro.epochs = rt_epochs, ro.trainer.patience = 5, ro.trainer.optim.lr = (float)rt_lr, ro.trainer.optim.warmup_steps = 100;
    ro.trainer.name = "retrain";
    if (!rc && LT_CLI_PREFLIGHT_DONE(c)) return 0;

    char desc[4600], newdesc[4600], path[4200];
    double keep = 1;
    if (!rc) rc = lt_cli_rec_desc(old, desc, sizeof desc);
    if (!rc) { /* the new model's description: the old one without its time split */
        const char *ts = strstr(desc, "\ntime_split=");
        if (ts) keep = strtod(ts + 12, NULL);
        size_t head = ts ? (size_t)(ts - desc) : strlen(desc);
        const char *tail = ts ? strchr(ts + 1, '\n') : NULL;
        snprintf(newdesc, sizeof newdesc, "%.*s%s", (int)head, desc, ts ? (tail ? tail : "") : desc + head);
        if (!(keep > 0 && keep <= 1)) rc = lt_error(LT_EFORMAT, "%s/rec.h5: a time split of %g", old, keep);
    }
    lt_backend *be = NULL;
    lt_events ev = {0}, ev_old = {0};
    lt_rec_split split = {0}, split_old = {0}, fresh = {0};
    result res[3] = {{.name = "stale"}, {.name = "updated"}, {.name = "retrained"}};
    int nres = retrain ? 3 : 2;
    float *text = NULL;
    uint8_t *seen = NULL;
    int64_t n_fresh = 0, n_new_items = 0;
    snprintf(path, sizeof path, "%s/events.h5", data);
    if (!rc) rc = lt_events_load(&ev, path);
    if (!rc) rc = lt_rec_split_make(&ev, NULL, &split);
    const int64_t *old_freq = split.freq;
    if (!rc && keep < 1) {
        rc = lt_rec_time_split(&ev, keep, &ev_old);
        if (!rc) rc = lt_rec_split_make(&ev_old, NULL, &split_old);
        old_freq = split_old.freq;
    } else if (!rc) {
        lt_warn("update: %s records no time split (train --time-split): the stale model is taken to know every item "
                "of the new training portions", old);
    }
    if (!rc) rc = new_item_cases(&split, old_freq, &fresh, &n_fresh);
    for (int64_t i = 0; !rc && i < ev.n_items; i++) n_new_items += old_freq[i] == 0 && split.freq[i] > 0;
    if (!rc) rc = lt_mkdirs(out);
    if (!rc) rc = lt_cli_backend(lt_config_str(c, "update.device", "cpu"), lt_config_str(c, "update.math", NULL), &be);
    if (!rc) rc = lt_cli_load_rec(old, emb, be, ev.n_items, old_freq, &res[0].m, NULL);
    if (!rc) rc = lt_cli_load_rec(old, emb, be, ev.n_items, new_ids ? split.freq : old_freq, &res[1].m, &text);
    if (!rc) rc = lt_rec_set_popularity(res[1].m, split.freq);
    if (!rc) {
        if (!json)
            lt_info("update: %s on %lld users (%lld items newly seen, %lld test cases with such a target), %lld epochs at "
                    "lr %g on %s", old, (long long)ev.n_users, (long long)n_new_items, (long long)n_fresh,
                    (long long)o.epochs, lr, lt_backend_describe(be));
        o.trainer.model = newdesc;
        double t0 = lt_seconds(), c0 = cpu_seconds();
        rc = lt_rec_train(res[1].m, &split, &o);
        res[1].seconds = lt_seconds() - t0, res[1].cpu = cpu_seconds() - c0;
        if (rc == LT_TRAIN_STOPPED) rc = lt_error(LT_ECONFIG, "update: stopped; run again to continue");
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/rec.h5", out);
        rc = lt_checkpoint_save(path, lt_rec_params(res[1].m), 0, NULL, newdesc);
    }
    if (!rc && retrain) { /* the same model from scratch on the new data */
        lt_rec_config rcfg;
        rc = lt_rec_config_parse(newdesc, &rcfg);
        seen = rc ? NULL : malloc((size_t)ev.n_items);
        for (int64_t i = 0; seen && i < ev.n_items; i++) seen[i] = split.freq[i] > 0;
        if (!rc && !seen) rc = lt_error(LT_ENOMEM, "update: out of memory");
        if (!rc) rc = lt_rec_create(&res[2].m, be, &rcfg, text, seen, lt_rng_key((uint64_t)seed, 0, LT_SITE_INIT));
        if (!rc) rc = lt_rec_set_popularity(res[2].m, split.freq);
        if (!rc) {
            ro.trainer.model = newdesc;
            double t0 = lt_seconds(), c0 = cpu_seconds();
            rc = lt_rec_train(res[2].m, &split, &ro);
            res[2].seconds = lt_seconds() - t0, res[2].cpu = cpu_seconds() - c0;
            if (rc == LT_TRAIN_STOPPED) rc = lt_error(LT_ECONFIG, "update: the retrain stopped; run again to continue");
        }
    }
    for (int i = 0; i < nres && !rc; i++) rc = evaluate(&split, &fresh, n_fresh, &res[i]);
    if (!rc && json) {
        printf("{");
        for (int i = 0; i < nres; i++) {
            lt_rec_metrics_json(stdout, &res[i].all);
            printf(", \"%s@new_items\": {\"cases\": %lld, \"recall@10\": %.6f, \"recall@20\": %.6f}, ", res[i].name,
                   (long long)res[i].fresh.cases, res[i].fresh.recall10, res[i].fresh.recall20);
        }
        printf("\"cost\": {\"update_seconds\": %.3f, \"update_cpu_seconds\": %.3f", res[1].seconds, res[1].cpu);
        if (retrain)
            printf(", \"retrain_seconds\": %.3f, \"retrain_cpu_seconds\": %.3f, \"fraction\": %.4f, \"cpu_fraction\": %.4f",
                   res[2].seconds, res[2].cpu, res[1].seconds / res[2].seconds, res[1].cpu / res[2].cpu);
        printf(", \"new_items\": %lld, \"time_split\": %.6g}}\n", (long long)n_new_items, keep);
    } else if (!rc) {
        printf("the new period (each user's last event, %lld cases; %lld with an item new to the stale model):\n",
               (long long)res[0].all.cases, (long long)n_fresh);
        for (int i = 0; i < nres; i++) lt_rec_metrics_row(stdout, &res[i].all, i == 0);
        printf("\nrecall on the %lld cases whose target is new to the stale model:\n", (long long)n_fresh);
        for (int i = 0; i < nres; i++)
            printf("  %-10s recall@10 %.4f  recall@20 %.4f\n", res[i].name, res[i].fresh.recall10, res[i].fresh.recall20);
        printf("\nupdate: %.1f s (%.1f s CPU)", res[1].seconds, res[1].cpu);
        if (retrain)
            printf("; retrain from scratch: %.1f s (%.1f s CPU); the update costs %.3f of a retrain (%.3f of its CPU time)",
                   res[2].seconds, res[2].cpu, res[1].seconds / res[2].seconds, res[1].cpu / res[2].cpu);
        printf("\nupdated recommender: %s/rec.h5\n", out);
    }
    for (int i = 0; i < 3; i++) lt_rec_free(res[i].m);
    if (be && be != lt_backend_cpu()) lt_backend_release(be);
    free(fresh.test);
    lt_rec_split_free(&split);
    lt_rec_split_free(&split_old);
    lt_events_free(&ev);
    lt_events_free(&ev_old);
    free(text), free(seen);
    lt_config_free(c);
    return rc < 0 ? lt_cli_fail("update", rc) : 0;
}
