/*
 * test_trellis_decode.cpp — kernels/trellis_decode.cu against qtip_trellis_decode,
 * bit-exact, for every built-in code of the traits table, on random bitstreams (every state reachable) and tile
 * shapes whose step counts are not multiples of the block size.
 */
#include <cuda_runtime.h>

#include <stdlib.h>

#include "kernel_check.h"
#include "trellis_decode.cuh"

static void run_case(test_rng *rng, qtip_trellis_params p, size_t nseq)
{
    char name[128];
    snprintf(name, sizeof name, "decode %s L=%d K=%d V=%d tile %dx%d nseq=%zu",
             qtip_code_name(p.code), p.L, p.K, p.V, p.td_x, p.td_y, nseq);
    qtip_trellis *t = nullptr;
    qtip_status st = qtip_trellis_create(&p, &t);
    CHECK(st == QTIP_OK, "%s: create: %s", name, qtip_last_error());
    if (st != QTIP_OK)
        return;
    size_t nw = qtip_trellis_words_per_tile(&p), T = (size_t)(p.td_x * p.td_y);
    uint16_t *bits = (uint16_t *)malloc(nseq * nw * sizeof(uint16_t));
    for (size_t i = 0; i < nseq * nw; i++)
        bits[i] = (uint16_t)test_rng_next(rng);
    float *got = (float *)malloc(nseq * T * sizeof(float)), *ref = (float *)malloc(nseq * T * sizeof(float));
    CHECK_OK(qtip_trellis_decode(t, bits, nseq, ref));
    size_t nlut = 0;
    const float *lut = qtip_trellis_lut(t, &nlut);
    float *dlut = lut ? to_device(lut, nlut) : nullptr, *dout = nullptr;
    uint16_t *dbits = to_device(bits, nseq * nw);
    cudaMalloc(&dout, nseq * T * sizeof(float));
    CHECK_OK(qtip_cuda_trellis_decode(&p, dlut, dbits, nseq, dout));
    to_host(got, dout, nseq * T);
    validate_result(name, "values", got, ref, nseq * T, 0.0, 0.0);
    cudaFree(dlut);
    cudaFree(dbits);
    cudaFree(dout);
    free(bits);
    free(got);
    free(ref);
    qtip_trellis_free(t);
}

static qtip_trellis_params params(qtip_code code, int L, int K, int V, int Q, int tx, int ty)
{
    qtip_trellis_params p = qtip_trellis_default_params();
    p.code = code;
    p.L = L;
    p.K = K;
    p.V = V;
    p.Q = Q;
    p.td_x = tx;
    p.td_y = ty;
    return p;
}

TEST(test_codes)
{
    test_rng rng = test_rng_seeded(37);
    run_case(&rng, qtip_trellis_default_params(), 5); /* HYB, L=16, K=2, V=2, 16x16 */
    run_case(&rng, params(QTIP_CODE_1MAD, 16, 2, 1, 0, 16, 16), 3);
    run_case(&rng, params(QTIP_CODE_2MAD, 12, 3, 1, 0, 16, 16), 3);
    run_case(&rng, params(QTIP_CODE_3INST, 16, 4, 1, 0, 16, 16), 3);
    run_case(&rng, params(QTIP_CODE_HYB, 16, 1, 2, 9, 16, 16), 2);
    run_case(&rng, params(QTIP_CODE_1MAD, 16, 2, 1, 0, 8, 24), 2); /* 192 steps: a tail */
    run_case(&rng, params(QTIP_CODE_LUT, 10, 2, 2, 10, 16, 16), 2);
    run_case(&rng, params(QTIP_CODE_LUT, 12, 3, 1, 12, 16, 16), 2);
}

TEST(test_bad_params)
{
    qtip_trellis_params p = qtip_trellis_default_params();
    CHECK_STATUS(qtip_cuda_trellis_decode(&p, nullptr, nullptr, 1, nullptr), QTIP_E_PARAM);
    p.L = 40;
    CHECK_STATUS(qtip_cuda_trellis_decode(&p, nullptr, nullptr, 1, nullptr), QTIP_E_PARAM);
    /* a code number outside the table is rejected by the parameter check */
    p = qtip_trellis_default_params();
    p.code = (qtip_code)99;
    CHECK_STATUS(qtip_cuda_trellis_decode(&p, nullptr, nullptr, 1, nullptr), QTIP_E_PARAM);
}

int main(void)
{
    kernel_test_init();
    RUN(test_codes);
    RUN(test_bad_params);
    return check_summary();
}
