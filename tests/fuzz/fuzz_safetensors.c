/* libFuzzer target: arbitrary bytes as a safetensors file (and as JSON text).
 *
 *   CC=clang cmake -B build-fuzz -DLONGTAIL_FUZZ=ON -DLONGTAIL_CUDA=OFF -DLONGTAIL_HDF5=OFF
 *   make -C build-fuzz fuzz_safetensors && build-fuzz/tests/fuzz_safetensors tests/fuzz/corpus/safetensors
 *
 * Besides "no crash, no out-of-bounds access" (ASan, UBSan) it checks what must hold for any input
 * the parser accepts: every tensor lies inside the image, holds numel * dtype-size bytes, and the
 * float ones convert. test_safetensors replays tests/fuzz/corpus/safetensors through this function
 * (tests/fuzz/make_safetensors_corpus.py wrote the hand-made part of that corpus). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "longtail/error.h"
#include "longtail/safetensors.h"
#include "model/json.h"

#define REQUIRE(cond)                                                                                            \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            fprintf(stderr, "fuzz_safetensors: %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, lt_last_error());  \
            abort();                                                                                             \
        }                                                                                                        \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lt_json_doc doc;
    int rc = lt_json_parse(&doc, (const char *)data, size);
    REQUIRE(rc == 0 || rc == LT_EFORMAT || rc == LT_ENOMEM);
    if (rc == 0) {
        REQUIRE(doc.n >= 1);
        lt_json_free(&doc);
    }
    lt_safetensors st;
    rc = lt_safetensors_parse(&st, data, size);
    REQUIRE(rc == 0 || rc == LT_EFORMAT || rc == LT_ENOMEM);
    if (rc) return 0;
    for (int i = 0; i < st.n; i++) {
        const lt_st_tensor *t = &st.t[i];
        REQUIRE(t->data >= data + 8 && t->data + t->nbytes <= data + size);
        REQUIRE(lt_safetensors_find(&st, t->name) == t);
        if (t->dtype != LT_ST_F32 && t->dtype != LT_ST_F16 && t->dtype != LT_ST_BF16) continue;
        float *f = malloc(sizeof(float) * (size_t)t->numel + 1);
        REQUIRE(f && lt_st_to_f32(t, f) == 0);
        free(f);
    }
    lt_safetensors_close(&st);
    return 0;
}
