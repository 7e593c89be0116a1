/* Temporary names of files being written: "<path>.tmp-<pid>", renamed to <path> once complete, so a
 * killed job never leaves a file that looks finished. A killed job does leave its .tmp-<pid> file:
 * lt_tmp_path removes those of processes that are gone from the folder it is about to write in. */
#ifndef LONGTAIL_TMPFILE_H
#define LONGTAIL_TMPFILE_H

#include <stddef.h>

/* out = "<path>.tmp-<this pid>" (LT_EINVAL when it does not fit in cap). First removes, from the
 * folder of path, every "*.tmp-<pid>" file whose process no longer exists (once per folder and
 * thread in a row: writing many shards to one folder scans it once). */
int lt_tmp_path(char *out, size_t cap, const char *path);

/* The sweep alone: remove dir's "*.tmp-<pid>" files of processes that are gone; returns how many. */
int lt_tmp_sweep(const char *dir);

#endif
