/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors parser.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I lib \
 *     tests/fuzz/fuzz_safetensors.c lib/<*.c> -ljansson -lzstd -lxxhash -lm
 *   ./a.out tests/fuzz/corpus
 *
 * Invariants checked on success: every view lies inside the input, its byte count
 * agrees with its shape and dtype, lookups by name find the same view.
 * tests/unit/test_fuzz_regress.c replays the corpus without a fuzzing engine.
 */
#include "qtip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qtip_st_file *f = NULL;
    if (qtip_st_open_buffer(data, size, "fuzz", &f) != QTIP_OK) {
        if (f || !qtip_last_error()[0]) abort(); /* failures leave a message, no handle */
        return 0;
    }
    const uint8_t *end = data + size;
    for (size_t i = 0; i < qtip_st_count(f); i++) {
        const qtip_tensor_view *t = qtip_st_tensor(f, i);
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= (uint64_t)t->shape[d];
        if (count * qtip_dtype_size(t->dtype) != t->nbytes) abort();
        const uint8_t *p = (const uint8_t *)t->data;
        if (p < data || p > end || t->nbytes > (size_t)(end - p)) abort();
        if (qtip_st_find(f, t->name) != t) abort();
        double tmp[4];
        size_t n = count < 4 ? (size_t)count : 4;
        if (qtip_convert_to_f64(t->dtype, t->data, n, tmp) != QTIP_OK) abort();
    }
    qtip_st_metadata(f, "format");
    qtip_st_close(f);
    return 0;
}
