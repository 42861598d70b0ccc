/*
 * fuzz_activations.c — libFuzzer target for the activation reader of
 * 'qtip-hessian accumulate': qtip_hessian_add_file on a path, which recognises
 * .npy or safetensors by the first bytes and streams the rows through lib/io's
 * readers (zstd input included), and, for the same bytes, raw input with a
 * dimension taken from the input's length. Build and run: scripts/fuzz.sh.
 *
 * Invariants: a failure leaves a message naming the file; a success has a
 * positive dimension and at least one row (counted or skipped as non-finite). tests/unit/test_fuzz_regress.c replays tests/fuzz/corpus/fuzz_activations.
 */
#include "qtip.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const char *path, const qtip_hessian_source *src)
{
    qtip_hessian *h = NULL;
    qtip_status s = qtip_hessian_add_file(&h, "site", path, src);
    if (s != QTIP_OK) {
        qtip_hessian_free(h); /* may hold the rows read before the defect */
        fuzz_expect_named_failure("fuzz_activations", path, s);
        return;
    }
    if (!h || qtip_hessian_dim(h) <= 0 || qtip_hessian_count(h) + qtip_hessian_skipped(h) == 0)
        abort();
    qtip_hessian_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return 0;
    qtip_hessian_source src = {NULL, 0, QTIP_DT_F32, QTIP_NONFINITE_SKIP};
    one(path, &src);
    src.tensor = "x";
    one(path, &src);
    src.tensor = NULL;
    src.raw_dim = 1 + (int64_t)(size % 5);
    src.raw_dtype = size % 2 ? QTIP_DT_F16 : QTIP_DT_F32;
    one(path, &src);
    return 0;
}
