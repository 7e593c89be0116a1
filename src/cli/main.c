/* longtail: one binary, git-style subcommands. main() only dispatches; each subcommand lives in
 * its own file (cmd_*.c) and reads its settings from a config plus --section.key=value flags. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "longtail/backend.h"
#include "longtail/comm.h"
#include "longtail/error.h"

#ifdef LONGTAIL_HAVE_HDF5
#define IF_HDF5(f) f
#else
#define IF_HDF5(f) NULL /* needs the HDF5 shard layer */
#endif

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* NULL: not built yet */
    const char *summary;
    int parallel;                      /* runs data-parallel under mpirun / srun */
} command;

static const command commands[] = {
    {"synth", lt_cmd_synth, "write a synthetic catalog + interactions (raw files)", 0},
    {"import", IF_HDF5(lt_cmd_import), "raw catalog/events (TSV, JSON lines, Amazon, MovieLens) -> HDF5 shards", 0},
    {"vocab", IF_HDF5(lt_cmd_vocab), "train a WordPiece vocabulary, or load a BERT vocab.txt", 0},
    {"pretrain", IF_HDF5(lt_cmd_pretrain), "masked-language-model pretraining of the text encoder", 1},
    {"embed", IF_HDF5(lt_cmd_embed), "bulk (re-)embedding of a catalog, shard by shard, resumable", 1},
    {"cluster", IF_HDF5(lt_cmd_cluster), "k-means + PCA on embeddings, long-tail report", 0},
    {"train", IF_HDF5(lt_cmd_train), "train the recommender (mpirun -np N for data parallelism)", 1},
    {"eval", IF_HDF5(lt_cmd_eval), "leave-one-out full-ranking metrics, accuracy and long tail", 0},
    {"recommend", IF_HDF5(lt_cmd_recommend), "top-K for every user (or a list) into HDF5/CSV, with long-tail re-ranking", 0},
    {"similar", IF_HDF5(lt_cmd_similar), "related items (by text, model or blend) into HDF5/CSV", 0},
    {"report", IF_HDF5(lt_cmd_report), "the HTML report of a run: plots, metrics, sample recommendations", 0},
    {"classify", IF_HDF5(lt_cmd_classify), "the long-tail classifier of product text: train, evaluate, predict", 0},
    {"update", IF_HDF5(lt_cmd_update), "continue a trained recommender on newer events (new items enter by their text)", 0},
    {"bandit", IF_HDF5(lt_cmd_bandit), "exploration policies evaluated by replay on logged feedback", 0},
    {"run", IF_HDF5(lt_cmd_run), "the whole chain from one config", 0},
    {"info", lt_cmd_info, "describe a shard, checkpoint or config file", 0},
};
#define NCOMMANDS (int)(sizeof commands / sizeof *commands)

int lt_cli_fail(const char *cmd, int code) {
    const char *detail = lt_last_error();
    lt_launch l;
    lt_launch_detect(&l);
    char who[48] = "";
    if (l.size > 1) snprintf(who, sizeof who, " (rank %d of %d)", l.rank, l.size);
    fprintf(stderr, "longtail %s%s: %s\n", cmd, who, detail[0] ? detail : lt_strerror(code));
    if (l.size > 1) lt_comm_abort(code, "see the line above"); /* no rank waits for this one */
    return 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: longtail <command> [options] [--section.key=value ...]\n"
            "\n"
            "Recommendations that reach the long tail: product text -> BERT-style embeddings ->\n"
            "long-tail clusters -> an LSTM next-item recommender, on CPU or CUDA.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s%s\n", commands[i].name, commands[i].summary, commands[i].run ? "" : " (not built yet)");
    fprintf(f,
            "\n"
            "  longtail <command> --help   options of one command\n"
            "  longtail --version          version, build options and backends\n");
}

static int version(void) {
    printf("longtail %s\n", LONGTAIL_VERSION);
    printf("build: cuda=%s comm=%s hdf5=%s\n", lt_cuda_built() ? "yes" : "no", lt_comm_built(),
#ifdef LONGTAIL_HAVE_HDF5
           "yes"
#else
           "no"
#endif
    );
    printf("%s\n", lt_backend_describe(lt_backend_cpu()));
    int n = lt_cuda_device_count();
    if (lt_cuda_built()) printf("cuda: %d device%s\n", n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        lt_backend *be;
        if (lt_backend_cuda(&be, i) == 0) {
            printf("%s\n", lt_backend_describe(be));
            lt_backend_release(be);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) return version();
    for (int i = 0; i < NCOMMANDS; i++) {
        if (strcmp(cmd, commands[i].name)) continue;
        if (!commands[i].run) {
            fprintf(stderr, "longtail %s: not built yet in this version (%s)\n", cmd, LONGTAIL_VERSION);
            return 2;
        }
        lt_launch l;
        lt_launch_detect(&l);
        if (l.size > 1 && !commands[i].parallel) {
            if (l.rank == 0)
                fprintf(stderr, "longtail %s: does not run data-parallel (this job has %d ranks): run it with one; "
                        "train, pretrain and embed use several\n", cmd, l.size);
            return 2;
        }
        int rc = commands[i].run(argc - 1, argv + 1);
        if (rc && l.size > 1) lt_comm_abort(rc, "it exited with an error (above)");
        lt_comm_world_finish();
        return rc;
    }
    fprintf(stderr, "longtail: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
