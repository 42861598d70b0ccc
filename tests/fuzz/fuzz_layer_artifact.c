/*
 * fuzz_layer_artifact.c — libFuzzer target for the per-layer artifact loader
 * (qtip_layer_artifact_load) and its decoder, on a path (fuzz_input.h).
 *
 * Build and run: scripts/fuzz.sh.
 *
 * Invariants: a failure leaves no object and a message naming the file; a
 * loaded artifact decodes to finite values or fails with a message.
 * tests/unit/test_fuzz_artifacts.c calls fuzz_layer_check() on mutated files.
 */
#include "qtip.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns 2 when loaded and decoded, 1 when loaded but decode refused, 0 when
 * refused cleanly; aborts on a broken invariant. */
static int fuzz_layer_check(const char *path)
{
    qtip_layer_artifact *a = (qtip_layer_artifact *)1;
    qtip_status s = qtip_layer_artifact_load(path, &a);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (s != QTIP_OK) {
        const char *msg = qtip_last_error();
        if (a || !msg[0] || !strstr(msg, base)) {
            fprintf(stderr, "fuzz_layer: bad failure on '%s' (status %d): '%s'\n", path, (int)s, msg);
            abort();
        }
        return 0;
    }
    if (!a) abort();
    qtip_layer_info info;
    qtip_layer_artifact_info(a, &info);
    if (info.m <= 0 || info.n <= 0 || !info.codes || !info.SU || !info.SV) abort();
    int rc = 1;
    size_t mn = (size_t)info.m * (size_t)info.n;
    float *W = mn <= ((size_t)1 << 24) ? malloc(mn * sizeof(float)) : NULL;
    if (W) {
        s = qtip_layer_artifact_decode(a, W);
        if (s == QTIP_OK) {
            for (size_t i = 0; i < mn; i++)
                if (!isfinite(W[i])) {
                    fprintf(stderr, "fuzz_layer: '%s' decodes to a non-finite value at %zu\n", path, i);
                    abort();
                }
            rc = 2;
        } else if (!qtip_last_error()[0]) {
            abort();
        }
    }
    free(W);
    qtip_layer_artifact_free(a);
    return rc;
}

#ifndef FUZZ_NO_ENTRY
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return 0;
    fuzz_layer_check(path);
    return 0;
}
#endif
