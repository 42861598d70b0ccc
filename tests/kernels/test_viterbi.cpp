/*
 * test_viterbi.cpp — kernels/viterbi.cu against qtip_trellis_quantize_seq (the CPU fast
 * path, two-pass tail-biting), bit for bit: the states of every step and the packed
 * bitstream, for HYB K=2,3,4 V=2 and 1MAD / 3INST V=1, on L=12 tiles and a few L=16
 * ones (slow on the CPU execution layer), on Gaussian targets and on targets with ties
 * (all zero: every path of equal cost, so only the tie rules decide).
 * On the OS-thread back-end (the TSan build) and under ASan/UBSan a few small blocks only.
 */
#include <cuda_runtime.h>

#include <stdlib.h>

#include "kernel_check.h"
#include "viterbi.cuh"
#include "viterbi_batch.cuh"

extern "C" {
#include "trellis/trellis_internal.h"
}

static bool on_fibers() { return qcpu::get_backend() == qcpu::BACKEND_FIBERS; }
/* The few small blocks of the OS-thread back-end, also for the ASan/UBSan pass
 * (QTIP_TEST_SANITIZED, scripts/test.sh), where the full table exceeds ten minutes. */
static bool small_only() { return !on_fibers() || getenv("QTIP_TEST_SANITIZED") != nullptr; }

/* The kernel's states for nseq tiles of seq (host), through device buffers. */
static qtip_status device_states(const qtip_trellis *t, const float *seq, size_t nseq,
                                 uint32_t *states)
{
    const qtip_trellis_params *p = &t->p;
    const size_t NS = (size_t)1 << p->L, T = (size_t)t->T, S = (size_t)t->S;
    float *dvals = to_device(t->vals, NS * (size_t)p->V), *dnorm = to_device(t->norm, NS);
    float *dseq = to_device(seq, nseq * T);
    uint32_t *dbp = nullptr, *dstates = nullptr;
    cudaMalloc(&dbp, nseq * qtip_cuda_viterbi_scratch_words(p) * sizeof(uint32_t));
    cudaMalloc(&dstates, nseq * S * sizeof(uint32_t));
    qtip_status st = qtip_cuda_viterbi_quantize(p, dvals, dnorm, dseq, nseq, dbp, dstates, 0);
    if (st == QTIP_OK)
        to_host(states, dstates, nseq * S);
    cudaFree(dvals);
    cudaFree(dnorm);
    cudaFree(dseq);
    cudaFree(dbp);
    cudaFree(dstates);
    return st;
}

static void compare_case(const char *name, const qtip_trellis *t, const float *seq, size_t nseq)
{
    const size_t T = (size_t)t->T, S = (size_t)t->S, nw = qtip_trellis_words_per_tile(&t->p);
    uint32_t *ref = (uint32_t *)malloc(nseq * S * sizeof(uint32_t));
    uint32_t *got = (uint32_t *)malloc(nseq * S * sizeof(uint32_t));
    uint16_t *bref = (uint16_t *)malloc(nseq * nw * sizeof(uint16_t));
    uint16_t *bgot = (uint16_t *)malloc(nseq * nw * sizeof(uint16_t));
    qtip_trellis_work *w = nullptr;
    CHECK_OK(qtip_trellis_work_create(t, 1, &w));
    for (size_t q = 0; q < nseq; q++)
        CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, seq + q * T, bref + q * nw,
                                           nullptr, ref + q * S));
    CHECK_OK(device_states(t, seq, nseq, got));
    validate_result(name, "states", got, ref, nseq * S, 0.0, 0.0);
    for (size_t q = 0; q < nseq; q++)
        qtip_trellis_pack_path_(&t->p, got + q * S, bgot + q * nw);
    validate_result(name, "bits", bgot, bref, nseq * nw, 0.0, 0.0);
    qtip_trellis_work_free(w);
    free(ref);
    free(got);
    free(bref);
    free(bgot);
}

static void run_case(test_rng *rng, qtip_code code, int L, int K, int V, int tx, int ty,
                     size_t nseq)
{
    qtip_trellis_params p = qtip_trellis_default_params();
    p.code = code;
    p.L = L;
    p.K = K;
    p.V = V;
    if (code != QTIP_CODE_HYB)
        p.Q = 0;
    p.td_x = tx;
    p.td_y = ty;
    char name[128];
    snprintf(name, sizeof name, "viterbi %s L=%d K=%d V=%d tile %dx%d nseq=%zu", qtip_code_name(code),
             L, K, V, tx, ty, nseq);
    qtip_trellis *t = nullptr;
    qtip_status st = qtip_trellis_create(&p, &t);
    CHECK(st == QTIP_OK, "%s: create: %s", name, qtip_last_error());
    if (st != QTIP_OK)
        return;
    const size_t T = (size_t)t->T;
    float *seq = (float *)calloc((nseq + 1) * T, sizeof(float));
    for (size_t i = 0; i < nseq * T; i++)
        seq[i] = (float)(test_rng_normal(rng) * t->rms);
    compare_case(name, t, seq, nseq);
    char ties[160];
    snprintf(ties, sizeof ties, "%s, zero targets", name);
    compare_case(ties, t, seq + nseq * T, 1); /* the extra all-zero tile */
    free(seq);
    qtip_trellis_free(t);
}

TEST(test_against_cpu)
{
    test_rng rng = test_rng_seeded(16);
    if (small_only()) {
        run_case(&rng, QTIP_CODE_HYB, 12, 4, 2, 8, 8, 2);  /* G = 16: 32 threads, a partial warp of groups */
        run_case(&rng, QTIP_CODE_1MAD, 10, 2, 1, 8, 8, 1); /* G = 256: 256 threads */
        return;
    }
    run_case(&rng, QTIP_CODE_HYB, 12, 2, 2, 16, 16, 3);
    run_case(&rng, QTIP_CODE_HYB, 12, 3, 2, 16, 16, 3);
    run_case(&rng, QTIP_CODE_HYB, 12, 4, 2, 16, 16, 3);
    run_case(&rng, QTIP_CODE_1MAD, 12, 2, 1, 16, 16, 3);
    run_case(&rng, QTIP_CODE_3INST, 12, 3, 1, 16, 16, 2);
    run_case(&rng, QTIP_CODE_1MAD, 12, 1, 1, 8, 24, 2); /* odd tile shape, K=1 */
    run_case(&rng, QTIP_CODE_HYB, 16, 2, 2, 16, 16, 1);  /* the released models' shape */
    run_case(&rng, QTIP_CODE_3INST, 16, 4, 1, 16, 16, 1);
    run_case(&rng, QTIP_CODE_1MAD, 14, 1, 1, 8, 8, 1); /* 64 KiB of shared memory: the opt-in */
}

/* The handle (viterbi_batch.cu, the plugin's entries): 5 tiles in batches of 2. */
TEST(test_batches)
{
    test_rng rng = test_rng_seeded(17);
    qtip_trellis_params p = qtip_trellis_default_params();
    p.L = 12;
    if (small_only()) { /* G = 16: one warp per block */
        p.K = 4;
        p.td_x = p.td_y = 8;
    }
    qtip_trellis *t = nullptr;
    CHECK_OK(qtip_trellis_create(&p, &t));
    if (!t)
        return;
    const size_t nseq = small_only() ? 3 : 5, T = (size_t)t->T, S = (size_t)t->S;
    float *seq = (float *)malloc(nseq * T * sizeof(float));
    for (size_t i = 0; i < nseq * T; i++)
        seq[i] = (float)test_rng_normal(&rng);
    uint32_t *ref = (uint32_t *)malloc(nseq * S * sizeof(uint32_t));
    uint32_t *got = (uint32_t *)malloc(nseq * S * sizeof(uint32_t));
    uint16_t *bits = (uint16_t *)malloc(qtip_trellis_words_per_tile(&p) * sizeof(uint16_t));
    qtip_trellis_work *w = nullptr;
    CHECK_OK(qtip_trellis_work_create(t, 1, &w));
    for (size_t q = 0; q < nseq; q++)
        CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, seq + q * T, bits, nullptr,
                                           ref + q * S));
    qtip_cuda_viterbi *v = nullptr;
    CHECK_OK(qtip_cuda_viterbi_create(0, &p, t->vals, t->norm, 2, &v));
    if (v) {
        CHECK(qtip_cuda_viterbi_batch(v) == 2, "batch %zu, expected 2", qtip_cuda_viterbi_batch(v));
        CHECK_OK(qtip_cuda_viterbi_run(v, seq, nseq, got));
        validate_result("viterbi handle, batches of 2", "states", got, ref, nseq * S, 0.0, 0.0);
        CHECK_OK(qtip_cuda_viterbi_run(v, seq, 0, nullptr));
    }
    qtip_cuda_viterbi_free(v);
    qtip_trellis_work_free(w);
    qtip_trellis_free(t);
    free(seq);
    free(ref);
    free(got);
    free(bits);
}

TEST(test_bad_params)
{
    qtip_trellis_params p = qtip_trellis_default_params();
    p.L = 40;
    CHECK_STATUS(qtip_cuda_viterbi_quantize(&p, nullptr, nullptr, nullptr, 1, nullptr, nullptr, 0),
                 QTIP_E_PARAM);
    p = qtip_trellis_default_params();
    CHECK_STATUS(qtip_cuda_viterbi_quantize(&p, nullptr, nullptr, nullptr, 1, nullptr, nullptr, 0),
                 QTIP_E_PARAM);
    CHECK_OK(qtip_cuda_viterbi_quantize(&p, nullptr, nullptr, nullptr, 0, nullptr, nullptr, 0));
    /* two 2^15-float rows of group minima: more shared memory than any block gets */
    p.code = QTIP_CODE_1MAD;
    p.Q = 0;
    p.K = 1;
    p.V = 1;
    CHECK_STATUS(qtip_cuda_viterbi_quantize(&p, nullptr, nullptr, nullptr, 1, nullptr, nullptr, 0),
                 QTIP_E_UNSUPPORTED);
    CHECK(qtip_cuda_viterbi_smem_bytes(&p) > QTIP_CUDA_VITERBI_SMEM_MAX, "L=16 K=1 V=1 smem");
    p.K = 2; /* L=16 K=2 V=1: 128 KiB of minima, above the default 48 KiB, within the budget */
    CHECK(qtip_cuda_viterbi_smem_bytes(&p) <= QTIP_CUDA_VITERBI_SMEM_MAX, "L=16 K=2 V=1 smem");
}

int main(void)
{
    kernel_test_init();
    RUN(test_against_cpu);
    RUN(test_batches);
    RUN(test_bad_params);
    return check_summary();
}
