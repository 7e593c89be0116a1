/* The subcommands of the longtail binary. Each takes the arguments after its name and returns
 * the process exit status: 0 success, 1 failure (message printed), 2 usage error. */
#ifndef LONGTAIL_CLI_H
#define LONGTAIL_CLI_H

#include "longtail/config.h"

int lt_cmd_info(int argc, char **argv);
int lt_cmd_synth(int argc, char **argv);
int lt_cmd_import(int argc, char **argv);
int lt_cmd_vocab(int argc, char **argv);
int lt_cmd_run(int argc, char **argv);
int lt_cmd_pretrain(int argc, char **argv);
int lt_cmd_embed(int argc, char **argv);
int lt_cmd_eval(int argc, char **argv);
int lt_cmd_train(int argc, char **argv);
int lt_cmd_recommend(int argc, char **argv);
int lt_cmd_similar(int argc, char **argv);
int lt_cmd_report(int argc, char **argv);
int lt_cmd_classify(int argc, char **argv);
int lt_cmd_bandit(int argc, char **argv);
int lt_cmd_update(int argc, char **argv);
struct lt_synth_opts;
/* The synth.* settings of a config over the options already in o (synth's own, and bandit's --truth). */
int lt_cli_synth_opts(const lt_config *c, struct lt_synth_opts *o);

struct lt_backend;
/* "cpu", "cuda" or "cuda:N" -> a backend (the CPU one is shared: do not release it). math picks
 * how GEMMs multiply fp32 data: "bf16" (bf16 units with fp32 accumulation: CUDA tensor cores, CPU
 * AMX / AVX512-BF16 through oneDNN), "tf32" (CUDA), "fp32", or "auto" / NULL: bf16 where the
 * backend has bf16 units (lt_backend_bf16_native), else fp32. */
int lt_cli_backend(const char *spec, const char *math, struct lt_backend **out);
int lt_cmd_cluster(int argc, char **argv);

/* A subcommand option: a short name for one config setting. */
typedef struct {
    const char *flag; /* "--in" */
    const char *key;  /* "import.in" */
    int is_bool;      /* takes no value */
    const char *help;
} lt_cli_opt;

/* Parse argv (argv[0] is the command name) into a config: -c FILE, --section.key=value and the
 * command's options (a table ending in {0}). Positional arguments are returned in *pos (free it).
 * Returns 0 to proceed, 1 when --help was printed (exit 0), 2 on a usage error (printed). */
int lt_cli_parse(const char *cmd, const char *synopsis, const lt_cli_opt *opts, int argc, char **argv,
                 lt_config **cfg, char ***pos, int *npos);

/* Settings that no command knows are errors (src/cli/settings.c): "FILE:LINE: [embed] btach: unknown
 * setting (did you mean batch?)". lt_cli_parse checks every setting it gathers; reserved sections
 * (commands not built yet) and x- extensions pass. Returns 0 or LT_ECONFIG. */
int lt_cli_check_setting(const char *key, const char *origin);
int lt_cli_check_config(const lt_config *c);

/* An output folder setting: an existing file there is an error (LT_ECONFIG), found before any work. */
int lt_cli_out_dir(const char *setting, const char *path);

/* run's preflight: with lt_cli_preflight set, a command reads and checks its settings, then returns
 * 0 before any work (LT_CLI_PREFLIGHT_DONE frees its config and says so), so that `longtail run`
 * finds a wrong setting of its last stage before it runs the first. */
extern int lt_cli_preflight;
#define LT_CLI_PREFLIGHT_DONE(c) (lt_cli_preflight ? (lt_config_free(c), 1) : 0)

/* Print "longtail <cmd>: <message>" with the last error's detail; returns 1. */
int lt_cli_fail(const char *cmd, int code);

#endif
