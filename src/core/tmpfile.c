/* Temporary output names and the removal of a killed writer's leftovers (tmpfile.h). */
#include "core/tmpfile.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "longtail/error.h"

/* The pid of a name that ends in ".tmp-<digits>", or 0. */
static long tmp_pid(const char *name) {
    const char *t = NULL;
    for (const char *p = strstr(name, ".tmp-"); p; p = strstr(p + 1, ".tmp-")) t = p; /* the last one */
    if (!t || !t[5]) return 0;
    char *end;
    errno = 0;
    long pid = strtol(t + 5, &end, 10);
    return *end || errno || pid <= 0 ? 0 : pid;
}

/* A process that kill(pid, 0) cannot find is gone (EPERM: it exists, under another user). Pids are
 * those of this machine's pid namespace: a folder shared with writers on other machines or in other
 * containers is not swept safely, which is why only the folder being written is swept. */
static int gone(long pid) { return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

int lt_tmp_sweep(const char *dir) {
    DIR *d = opendir(dir && dir[0] ? dir : ".");
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    char path[4352];
    while ((e = readdir(d))) {
        long pid = tmp_pid(e->d_name);
        if (!pid || !gone(pid)) continue;
        snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : ".", e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(path) == 0) n++;
    }
    closedir(d);
    return n;
}

int lt_tmp_path(char *out, size_t cap, const char *path) {
    if (snprintf(out, cap, "%s.tmp-%ld", path, (long)getpid()) >= (int)cap)
        return lt_error(LT_EINVAL, "path too long: %s", path);
    static _Thread_local char last[4096]; /* the folder swept last by this thread */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof dir) return 0;
    memcpy(dir, path, n);
    dir[n] = 0;
    if (slash && !n) snprintf(dir, sizeof dir, "/");
    if (strcmp(dir, last)) {
        lt_tmp_sweep(dir[0] ? dir : ".");
        snprintf(last, sizeof last, "%s", dir);
    }
    return 0;
}
