/* Replays the fuzz corpus (tests/fuzz/corpus/wordpiece) through fuzz_wordpiece.c's checks, so the
 * ordinary (and the -DLONGTAIL_SANITIZE=ON) build runs every nasty input the fuzzer kept. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beauty.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(void) {
    const char *src = getenv("LONGTAIL_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/wordpiece", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: cannot open\n", dir);
        return 1;
    }
    int files = 0;
    long bytes = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t got;
        char *buf = read_file(path, &got);
        if (!buf) continue;
        LLVMFuzzerTestOneInput((const uint8_t *)buf, got);
        free(buf);
        files++;
        bytes += (long)got;
    }
    closedir(d);
    printf("replayed %d corpus files (%ld bytes)\n", files, bytes);
    return files > 0 ? 0 : 1;
}
