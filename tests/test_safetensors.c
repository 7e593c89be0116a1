/* tests/test_safetensors: the safetensors reader and writer, and the JSON reader under them.
 *
 *  1. every hand-made nasty file in tests/fuzz/corpus/safetensors is refused with the error it
 *     deserves (code and message naming the tensor / numbers), the valid one reads back its values
 *     (F16 subnormal and infinity, BF16 included);
 *  2. write, read back, compare; a missing file names the path;
 *  3. the JSON reader: escapes, surrogate pairs, exact 64-bit integers, depth limit;
 *  4. the whole corpus (the fuzzer's finds too) replayed through fuzz_safetensors.c's checks. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>

#include "longtail/safetensors.h"
#include "model/json.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_corpus[4096];

static const struct {
    const char *file;
    int code;
    const char *needle;
} g_nasty[] = {
    {"short_file", LT_EFORMAT, "shorter than the 8-byte header length"},
    {"truncated_header", LT_EFORMAT, "runs past the end of the file"},
    {"header_len_2p63", LT_EFORMAT, "header length 9223372036854775808 runs past the end"},
    {"offsets_past_end", LT_EFORMAT, "tensor w F32[1000]: data_offsets [0, 4000] run past the end of the data (16 bytes)"},
    {"overlapping", LT_EFORMAT, "tensors a and b overlap"},
    {"shape_offset_mismatch", LT_EFORMAT, "data_offsets [0, 16] hold 16 bytes but F32[2,3] needs 24"},
    {"hole", LT_EFORMAT, "bytes 4..8 of the data belong to no tensor"},
    {"trailing_bytes", LT_EFORMAT, "the tensors end at byte 8 of the data but it holds 16 bytes"},
    {"bad_json", LT_EFORMAT, "header: json: expected a member name"},
    {"unterminated_json", LT_EFORMAT, "unterminated object"},
    {"wrong_dtype", LT_EFORMAT, "tensor w: unknown dtype \"F33\""},
    {"negative_dim", LT_EFORMAT, "tensor w: shape must hold non-negative integers"},
    {"shape_overflow", LT_EFORMAT, "tensor w: the shape's element count overflows"},
    {"huge_offsets", LT_EFORMAT, "tensor w: data_offsets must hold non-negative integers"},
    {"duplicate_name", LT_EFORMAT, "tensor w appears twice"},
    {"not_object", LT_EFORMAT, "the header is not a JSON object"},
    {"deep_nesting", LT_EFORMAT, "nesting deeper than 64"},
    {"nul_in_name", LT_EFORMAT, "\\u0000 in string"},
    {"metadata_not_string", LT_EFORMAT, "__metadata__.format must be a string"},
    {"offsets_reversed", LT_EFORMAT, "end before they begin"},
    {"float_offset", LT_EFORMAT, "data_offsets must hold non-negative integers"},
};

static void nasty_files(void) {
    char path[8192];
    for (size_t i = 0; i < sizeof g_nasty / sizeof *g_nasty; i++) {
        snprintf(path, sizeof path, "%s/%s", g_corpus, g_nasty[i].file);
        lt_safetensors st;
        FAILS_WITH(lt_safetensors_open(&st, path), g_nasty[i].code, g_nasty[i].needle);
        CHECK_MSG(strstr(lt_last_error(), g_nasty[i].file) != NULL, "%s: the message does not name the file: %s",
                  g_nasty[i].file, lt_last_error());
    }
    printf("  %zu nasty files refused with messages that name the file, tensor and numbers\n",
           sizeof g_nasty / sizeof *g_nasty);

    snprintf(path, sizeof path, "%s/valid", g_corpus);
    lt_safetensors st;
    OK(lt_safetensors_open(&st, path));
    CHECK(st.n == 4);
    const lt_st_tensor *w = lt_safetensors_find(&st, "w"), *h = lt_safetensors_find(&st, "h");
    const lt_st_tensor *b = lt_safetensors_find(&st, "b"), *e = lt_safetensors_find(&st, "empty");
    CHECK(w && h && b && e && w->ndim == 2 && w->shape[1] == 2 && e->numel == 0 && e->ndim == 2);
    float f[4];
    OK(lt_st_to_f32(w, f));
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0.5f && f[3] == 3.25f);
    OK(lt_st_to_f32(h, f));
    CHECK(f[0] == ldexpf(1.0f, -24) && isinf(f[1]) && f[1] > 0 && f[2] == 1.0f);
    OK(lt_st_to_f32(b, f));
    CHECK(f[0] == 1.0f && f[1] == -2.0f);
    lt_safetensors_close(&st);
    printf("  valid file: F32, F16 (subnormal, inf), BF16 and an empty tensor read back exactly\n");
}

static void round_trip(void) {
    char dir[] = "/tmp/test_safetensors.XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    float a[6] = {1, 2, 3, 4, 5, 6}, s[1] = {-7.5f};
    int64_t sa[2] = {2, 3};
    lt_st_entry e[3] = {{"layer.0.weight", 2, sa, a}, {"scalar", 0, NULL, s}, {"empty", 1, (int64_t[]){0}, a}};
    OK(lt_safetensors_write(path, e, 3));
    lt_safetensors st;
    OK(lt_safetensors_open(&st, path));
    const lt_st_tensor *t = lt_safetensors_find(&st, "layer.0.weight"), *sc = lt_safetensors_find(&st, "scalar");
    float back[6] = {0};
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && sc && sc->ndim == 0 && sc->numel == 1);
    if (t) OK(lt_st_to_f32(t, back));
    CHECK(!memcmp(back, a, sizeof a) && sc && *(const float *)sc->data == -7.5f);
    CHECK((uintptr_t)(t->data - st.image) % 8 == 0); /* the data starts 8-byte aligned */
    lt_safetensors_close(&st);
    remove(path);
    rmdir(dir);
    FAILS_WITH(lt_safetensors_open(&st, "/nonexistent/model.safetensors"), LT_ENOENT, "/nonexistent/model.safetensors");
    printf("  write / read back: shapes, a scalar and an empty tensor, 8-byte aligned data: %s\n",
           tu_failures ? "FAIL" : "ok");
}

static void json(void) {
    const char *text = " {\"s\": \"a\\u00e9\\ud83d\\ude00\\n\\\"\", \"big\": 9223372036854775807, \"neg\": -9223372036854775808,"
                       " \"over\": 9223372036854775808, \"x\": [1.5e3, true, null, {}]} ";
    lt_json_doc d;
    OK(lt_json_parse(&d, text, strlen(text)));
    const lt_json *r = lt_json_root(&d), *s = lt_json_get(&d, r, "s"), *x = lt_json_get(&d, r, "x");
    CHECK(s && s->len == 9 && !memcmp(s->str, "a\xc3\xa9\xf0\x9f\x98\x80\n\"", 9));
    CHECK(lt_json_get(&d, r, "big")->is_int && lt_json_get(&d, r, "big")->i == INT64_MAX);
    CHECK(lt_json_get(&d, r, "neg")->is_int && lt_json_get(&d, r, "neg")->i == INT64_MIN);
    CHECK(!lt_json_get(&d, r, "over")->is_int);
    CHECK(x && x->count == 4 && lt_json_at(&d, x, 0)->num == 1500 && !lt_json_at(&d, x, 0)->is_int);
    CHECK(lt_json_at(&d, x, 1)->type == LT_JSON_BOOL && lt_json_at(&d, x, 3)->type == LT_JSON_OBJECT);
    lt_json_free(&d);
    const char *bad[] = {"", "01", "[1,]", "{\"a\" 1}", "\"\\x\"", "\"\\ud800\"", "[1] 2", "-", "1.", "\"\x01\"", "nul", "\"\\u0000\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        FAILS_WITH(lt_json_parse(&d, bad[i], strlen(bad[i])), LT_EFORMAT, "json: ");
    printf("  json: escapes, surrogate pairs, exact int64, %zu malformed texts refused\n", sizeof bad / sizeof *bad);
}

static void replay(void) {
    DIR *dir = opendir(g_corpus);
    CHECK_MSG(dir != NULL, "%s: cannot open", g_corpus);
    if (!dir) return;
    int files = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        char path[8192];
        size_t n;
        snprintf(path, sizeof path, "%s/%s", g_corpus, e->d_name);
        char *buf = read_file(path, &n);
        if (!buf) continue;
        LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
        free(buf);
        files++;
    }
    closedir(dir);
    printf("  replayed %d corpus files through the fuzz target\n", files);
    CHECK(files >= (int)(sizeof g_nasty / sizeof *g_nasty) + 1);
}

int main(void) {
    snprintf(g_corpus, sizeof g_corpus, "%s/tests/fuzz/corpus/safetensors", tu_source_dir());
    nasty_files();
    round_trip();
    json();
    replay();
    return tu_finish("test_safetensors");
}
