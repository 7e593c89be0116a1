/* Command-line options shared by all subcommands: every option is a config setting.
 *   -c FILE / --config FILE    INI file (sections per stage: [import], [train], ...)
 *   --section.key=value        any setting
 *   --flag VALUE / --flag=VALUE a subcommand's own short names for its settings
 * Later sources win: file < --section.key < --flag. Leftover positional arguments are kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "longtail/backend.h"
#include "longtail/comm.h"
#include "longtail/error.h"
#include "longtail/log.h"

int lt_cli_backend(const char *spec, const char *math, lt_backend **out) {
    *out = NULL;
    int automatic = !math || !strcmp(math, "auto");
    lt_math m = LT_MATH_FP32;
    if (!automatic && !strcmp(math, "bf16")) m = LT_MATH_BF16;
    else if (!automatic && !strcmp(math, "tf32")) m = LT_MATH_TF32;
    else if (!automatic && strcmp(math, "fp32")) return lt_error(LT_ECONFIG, "math '%s': expected auto, bf16, tf32 or fp32", math);
    if (spec && !strcmp(spec, "cuda")) { /* one GPU per rank of the box, by the launcher's local rank */
        lt_launch l;
        lt_launch_detect(&l);
        int n = lt_cuda_device_count();
        LT_TRY(lt_backend_cuda(out, n > 0 ? l.local_rank % n : 0));
    } else {
        LT_TRY(lt_backend_open(out, spec));
    }
    int native = lt_backend_bf16_native(*out);
    if (automatic) m = native ? LT_MATH_BF16 : LT_MATH_FP32; /* bf16 units with fp32 sums, where there are any */
    else if (m == LT_MATH_BF16 && !native)
        lt_warn("math bf16: this CPU or build has no bf16 units (%s): activations are stored in bf16 but every "
                "product runs in fp32, slower than --math fp32", lt_backend_describe(*out));
    lt_backend_set_math(*out, m);
    return 0;
}

static void print_usage(FILE *f, const char *cmd, const char *synopsis, const lt_cli_opt *opts) {
    fprintf(f, "usage: longtail %s %s\n\noptions:\n", cmd, synopsis);
    for (const lt_cli_opt *o = opts; o && o->flag; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s", o->flag, o->is_bool ? "" : " VALUE");
        fprintf(f, "  %-24s %s [%s]\n", left, o->help, o->key);
    }
    fprintf(f, "  %-24s %s\n  %-24s %s\n", "-c, --config FILE", "read settings from an INI file", "--section.key=value",
            "set any setting (file < --section.key < the options above)");
}

int lt_cli_parse(const char *cmd, const char *synopsis, const lt_cli_opt *opts, int argc, char **argv,
                 lt_config **cfg, char ***pos, int *npos) {
    *cfg = NULL;
    *pos = NULL;
    *npos = 0;
    lt_config *c;
    if (lt_config_new(&c) < 0) return lt_cli_fail(cmd, LT_ENOMEM);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    /* pass 1: the config file */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            print_usage(stdout, cmd, synopsis, opts);
            lt_config_free(c), free(rest);
            return 1;
        }
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            int rc = lt_config_load(c, argv[++i]);
            if (rc < 0) {
                lt_cli_fail(cmd, rc);
                lt_config_free(c), free(rest);
                return 2;
            }
        }
    }
    /* pass 2: --section.key=value, then the command's own flags */
    int n = lt_config_apply_args(c, argc - 1, argv + 1);
    if (n < 0) {
        lt_config_free(c), free(rest);
        fprintf(stderr, "longtail %s: %s\n", cmd, lt_last_error());
        return 2;
    }
    int nr = 0;
    for (int i = 1; i <= n; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            i++;
            continue;
        }
        const lt_cli_opt *o = NULL;
        char *eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        for (const lt_cli_opt *p = opts; p && p->flag; p++)
            if (strlen(p->flag) == alen && !strncmp(a, p->flag, alen)) o = p;
        if (!o) {
            if (a[0] == '-' && a[1]) {
                fprintf(stderr, "longtail %s: unknown option '%s'\n\n", cmd, a);
                print_usage(stderr, cmd, synopsis, opts);
                lt_config_free(c), free(rest);
                return 2;
            }
            rest[nr++] = a;
            continue;
        }
        const char *val = eq ? eq + 1 : o->is_bool ? "true" : (i + 1 <= n ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "longtail %s: %s needs a value\n", cmd, o->flag);
            lt_config_free(c), free(rest);
            return 2;
        }
        lt_config_set(c, o->key, val, "command line");
    }
    if (lt_cli_check_config(c) < 0) { /* a mistyped setting is an error, not a silent default */
        fprintf(stderr, "longtail %s: %s\n", cmd, lt_last_error());
        lt_config_free(c), free(rest);
        return 2;
    }
    *cfg = c;
    *pos = rest;
    *npos = nr;
    return 0;
}

int lt_cli_preflight;

int lt_cli_out_dir(const char *setting, const char *path) {
    struct stat sb;
    if (path && stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return lt_error(LT_ECONFIG, "%s: %s exists and is not a folder (the outputs go into a folder)", setting, path);
    return 0;
}
