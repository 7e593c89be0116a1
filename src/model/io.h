/* File output shared by the model code: whole files written under a temporary name, synced, then
 * renamed, so a killed job never leaves a file that looks finished. */
#ifndef LONGTAIL_MODEL_IO_H
#define LONGTAIL_MODEL_IO_H

#include <stddef.h>

/* Write the n parts, in order, as the file at path. */
int lt__write_file(const char *path, const void *const *parts, const size_t *sizes, int n);

#endif
