/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader as every command
 * opens weights, artifacts and Hessians: qtip_st_open on a path (mapped, or
 * decompressed with a bound when zstd). Build and run: scripts/fuzz.sh.
 *
 * Invariants checked on success: every view's byte count agrees with its shape and
 * dtype, its first and last bytes can be read (inside the mapping), lookups by name
 * find the same view. A failure leaves no handle and a message naming the file.
 * tests/unit/test_fuzz_regress.c replays tests/fuzz/corpus/fuzz_safetensors.
 */
#include "qtip.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return 0;
    qtip_st_file *f = NULL;
    qtip_status s = qtip_st_open(path, &f);
    if (s != QTIP_OK) {
        if (f) abort();
        fuzz_expect_named_failure("fuzz_safetensors", path, s);
        return 0;
    }
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < qtip_st_count(f); i++) {
        const qtip_tensor_view *t = qtip_st_tensor(f, i);
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= (uint64_t)t->shape[d];
        if (count * qtip_dtype_size(t->dtype) != t->nbytes) abort();
        if (qtip_st_find(f, t->name) != t) abort();
        if (t->nbytes) {
            const unsigned char *p = (const unsigned char *)t->data;
            sink ^= p[0];
            sink ^= p[t->nbytes - 1]; /* outside the mapping: a crash */
        }
        float tmp[4];
        size_t n = count < 4 ? (size_t)count : 4;
        if (qtip_convert_to_f32(t->dtype, t->data, n, tmp) != QTIP_OK) abort();
    }
    (void)sink;
    qtip_st_metadata(f, "format");
    qtip_st_close(f);
    return 0;
}
