/*
 * fuzz_hessian_file.c — libFuzzer target for the Hessian file loader
 * (qtip_hessian_load) and the reference-layout importer (qtip_hessian_import).
 * Both take a path: each input is handed over as a file (fuzz_input.h).
 *
 * Build and run: scripts/fuzz.sh.
 *
 * Invariants: a failure leaves no object and a message naming the file; a
 * success gives a consistent accumulator whose analysis and expectation run.
 * tests/unit/test_fuzz_artifacts.c calls fuzz_hessian_check() on mutated files.
 */
#include "qtip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 0: load, 1: import. Returns 1 when the file was accepted, 0 when refused
 * cleanly; aborts on a broken invariant. */
static int fuzz_hessian_check(const char *path, int import)
{
    qtip_hessian *h = (qtip_hessian *)1;
    qtip_status s = import ? qtip_hessian_import_ex(path, NULL, QTIP_HESSIAN_CENTERING_AUTO, &h) : qtip_hessian_load(path, &h);
    if (s != QTIP_OK) {
        const char *msg = qtip_last_error();
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (h || !msg[0] || !strstr(msg, base)) {
            fprintf(stderr, "fuzz_hessian: bad failure on '%s' (status %d): '%s'\n", path, (int)s, msg);
            abort();
        }
        return 0;
    }
    if (!h || qtip_hessian_dim(h) <= 0) abort();
    int64_t n = qtip_hessian_dim(h);
    if (n <= 512) {
        qtip_hessian_info info;
        qtip_hessian_analyze(h, 0.01, &info); /* may fail (not PD, no rows): must not crash */
        double *H = malloc((size_t)(n * n) * sizeof(double)), *mu = malloc((size_t)n * sizeof(double));
        if (H && mu) qtip_hessian_expectation(h, H, mu);
        free(H);
        free(mu);
    }
    qtip_hessian_free(h);
    return 1;
}

#ifndef FUZZ_NO_ENTRY
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    if (!path) return 0;
    fuzz_hessian_check(path, 0);
    fuzz_hessian_check(path, 1);
    return 0;
}
#endif
