/*
 * fuzz_quant_params.c — libFuzzer target for the quantizer settings of a
 * quantize_config.json (qtip_quant_params_from_json, lib/ldlq/quant_params.c),
 * the reader `qtip-quantize --config` uses, on a path (fuzz_input.h).
 * Build and run: scripts/fuzz.sh.
 *
 * Invariants: a failure leaves a message naming the file; settings it accepts
 * either pass qtip_quant_check_params or fail it with a message, and accepted
 * ones give a positive LDLQ block width.
 */
#include "qtip.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return 0;
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    qtip_status s = qtip_quant_params_from_json(path, &p);
    if (s != QTIP_OK) {
        fuzz_expect_named_failure("fuzz_quant_params", path, (int)s);
        return 0;
    }
    s = qtip_quant_check_params(&p);
    if (s != QTIP_OK) {
        if (!qtip_last_error()[0]) abort();
        return 0;
    }
    if (qtip_quant_block_cols(&p) <= 0) {
        fprintf(stderr, "fuzz_quant_params: accepted settings with no block width\n");
        abort();
    }
    return 0;
}
