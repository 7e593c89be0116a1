/* libFuzzer target for the raw-file parsers: the first byte picks a parser and strict or
 * --skip-bad mode, the rest is the file. Any crash, hang or sanitizer report is a bug; errors are
 * fine. Build with -DLONGTAIL_FUZZ=ON and CC=clang; run:
 *   build-fuzz/tests/fuzz_import -max_total_time=120 tests/corpus/import */
#include <stdint.h>
#include <stdlib.h>

#include "data/textio.h"
#include "longtail/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int pick = data[0] & 7, skip = (data[0] >> 3) & 1;
    lt_lines l;
    lt_lines_mem(&l, "fuzz", (const char *)data + 1, size - 1);
    lt_catalog cat = {0};
    lt_strmap ids = {0}, items = {0};
    lt_import_report rep = {0};
    int64_t idx;
    int added;
    lt_strmap_get_or_add(&items, "1", 1, &idx, &added);
    lt_strmap_get_or_add(&items, "2", 1, &idx, &added);
    lt_ev_builder *b;
    if (lt_ev_builder_new(&b) < 0) return 0;
    int rc = 0;
    switch (pick) {
    case 0: rc = lt_parse_items_tsv(&l, &cat, &ids, skip, &rep); break;
    case 1: rc = lt_parse_items_jsonl(&l, &cat, &ids, skip, &rep); break;
    case 2: rc = lt_parse_events_tsv(&l, &items, b, skip, &rep); break;
    case 3: rc = lt_parse_events_jsonl(&l, &items, b, skip, &rep); break;
    case 4: rc = lt_parse_beauty_items(&l, &cat, &ids, skip, &rep); break;
    case 5: rc = lt_parse_beauty_seqs(&l, &items, b, skip, &rep); break;
    case 6: rc = lt_parse_movielens_movies(&l, &cat, &ids, skip, &rep); break;
    default: rc = lt_parse_movielens_ratings(&l, &items, b, 0, skip, &rep); break;
    }
    if (rc >= 0 && (pick == 2 || pick == 3 || pick == 5 || pick == 7)) { /* the event parsers */
        lt_events e;
        if (lt_ev_builder_finish(b, 2, &e) == 0) lt_events_free(&e);
    }
    lt_lines_close(&l);
    lt_catalog_free(&cat);
    lt_strmap_free(&ids);
    lt_strmap_free(&items);
    lt_ev_builder_free(b);
    return 0;
}
