/* longtail info FILE...: what is inside a shard (schema, datasets, shapes, attributes) or a
 * config (every setting and where it came from). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "longtail/config.h"
#include "longtail/error.h"
#include "longtail/shard.h"

static int is_hdf5(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char buf[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, 8, f);
    fclose(f);
    return n == 8 && !memcmp(buf, sig, 8);
}

#ifdef LONGTAIL_HAVE_HDF5
/* "12.3 MB": sizes for people. */
static const char *human_bytes(int64_t n) {
    static char buf[32];
    static const char *unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double x = (double)n;
    int u = 0;
    while (x >= 1000 && u < 5) x /= 1000, u++;
    snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", x, unit[u]);
    return buf;
}

static int print_dataset(void *ud, const char *name, lt_dtype dtype, int ndim, const int64_t *shape) {
    char type[128];
    int k = snprintf(type, sizeof type, "%s[", lt_dtype_name(dtype));
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (k < (int)sizeof type) k += snprintf(type + k, sizeof type - (size_t)k, i ? ",%lld" : "%lld", (long long)shape[i]);
        n *= shape[i];
    }
    if (k < (int)sizeof type) snprintf(type + k, sizeof type - (size_t)k, "]");
    printf("    %-28s %-24s %s\n", name, type, human_bytes(n * (int64_t)lt_dtype_size(dtype)));
    ++*(int *)ud;
    return 0;
}

/* The schema is the header line already. */
static int print_attr(void *ud, const char *key, const char *value) {
    if (strcmp(key, "longtail_schema")) printf("    %-28s = %s\n", key, value), ++*(int *)ud;
    return 0;
}

static int info_shard(const char *path) {
    lt_shard *s;
    int rc = lt_shard_open(&s, path, NULL, 1 << 30);
    if (rc < 0) return rc;
    struct stat st;
    printf("%s: longtail shard, schema %s/%d, %s on disk\n", path, lt_shard_kind(s), lt_shard_version(s),
           stat(path, &st) == 0 ? human_bytes((int64_t)st.st_size) : "?");
    int nattr = 0, ndata = 0;
    printf("  attributes:\n");
    rc = lt_shard_visit_attrs(s, "", print_attr, &nattr);
    if (rc == 0 && !nattr) printf("    (none)\n");
    if (rc == 0) {
        printf("  datasets (dtype[shape], uncompressed size):\n");
        rc = lt_shard_visit(s, print_dataset, &ndata);
        if (rc == 0 && !ndata) printf("    (none)\n");
    }
    lt_shard_close(s);
    return rc;
}
#endif

static int info_config(const char *path) {
    lt_config *c;
    LT_TRY(lt_config_new(&c));
    int rc = lt_config_load(c, path);
    if (rc == 0) rc = lt_cli_check_config(c); /* every setting one that longtail knows */
    if (rc == 0) {
        printf("%s: config\n", path);
        const char *k, *v, *o;
        for (int i = 0; lt_config_entry(c, i, &k, &v, &o) == 0; i++) printf("  %-28s = %-20s (%s)\n", k, v, o);
    }
    lt_config_free(c);
    return rc;
}

int lt_cmd_info(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: longtail info FILE...\n"
                                            "  describes HDF5 shards (schema, datasets, shapes) and INI configs\n");
        return argc < 2 ? 2 : 0;
    }
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int rc;
        if (is_hdf5(argv[i])) {
#ifdef LONGTAIL_HAVE_HDF5
            rc = info_shard(argv[i]);
#else
            rc = lt_error(LT_ENOTSUP, "%s: this longtail was built without HDF5", argv[i]);
#endif
        } else {
            rc = info_config(argv[i]);
        }
        if (rc < 0) status = lt_cli_fail("info", rc);
    }
    return status;
}
