/*
 * viterbi_device_check.h — the plugin's Viterbi entries on a real GPU against the CPU
 * path (qtip_trellis_quantize_seq), bit for bit, and their throughput (printed;
 * scripts/gpu-check.sh collects the line). Included by test_cuda_plugin.c.
 */
#ifndef QTIP_TEST_VITERBI_DEVICE_CHECK_H
#define QTIP_TEST_VITERBI_DEVICE_CHECK_H

#include <time.h>

#include "check.h"
#include "core/cuda_plugin.h"
#include "trellis/trellis_internal.h"

static double viterbi_check_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* nseq Gaussian tiles of codebook p on device 0: equal states to the CPU's; the
 * device's wall time printed with its candidate rate (states x steps x 2 passes / s,
 * each state one predecessor candidate of its group). */
static void viterbi_device_compare(const qtip_cuda_plugin *P, qtip_trellis_params p, size_t nseq,
                                   test_rng *rng)
{
    qtip_trellis *t = NULL;
    CHECK_OK(qtip_trellis_create(&p, &t));
    if (!t) return;
    const size_t T = (size_t)t->T, S = (size_t)t->S, nw = qtip_trellis_words_per_tile(&p);
    float *seq = malloc(nseq * T * sizeof(float));
    uint32_t *got = malloc(nseq * S * sizeof(uint32_t)), *ref = malloc(nseq * S * sizeof(uint32_t));
    uint16_t *bits = malloc(nw * sizeof(uint16_t));
    for (size_t i = 0; i < nseq * T; i++) seq[i] = (float)(test_rng_normal(rng) * t->rms);
    qtip_cuda_viterbi *v = NULL;
    CHECK(P->viterbi_create(0, &p, t->vals, t->norm, nseq, &v) == QTIP_OK, "viterbi_create: %s",
          P->last_error());
    double t0 = viterbi_check_now();
    if (v)
        CHECK(P->viterbi_quantize(v, seq, nseq, got) == QTIP_OK, "viterbi_quantize: %s", P->last_error());
    double dt = viterbi_check_now() - t0;
    qtip_trellis_work *w = NULL;
    CHECK_OK(qtip_trellis_work_create(t, 1, &w));
    size_t check_n = nseq < 64 ? nseq : 64, bad = 0; /* the CPU costs ~20 ms a tile */
    for (size_t q = 0; w && q < check_n; q++) {
        CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, seq + q * T, bits, NULL, ref + q * S));
        bad += memcmp(got + q * S, ref + q * S, S * sizeof(uint32_t)) != 0;
    }
    CHECK(bad == 0, "viterbi %s L=%d K=%d V=%d: %zu of %zu tiles differ from the CPU",
          qtip_code_name(p.code), p.L, p.K, p.V, bad, check_n);
    printf("  viterbi %s L=%d K=%d V=%d: %zu tiles in %.3f s (%.1f tiles/s, %.2f G candidates/s), "
           "%zu checked against the cpu\n",
           qtip_code_name(p.code), p.L, p.K, p.V, nseq, dt, (double)nseq / dt,
           (double)nseq * (double)S * 2.0 * (double)(1u << p.L) / dt * 1e-9, check_n);
    if (v) P->viterbi_free(v);
    qtip_trellis_work_free(w);
    qtip_trellis_free(t);
    free(seq);
    free(got);
    free(ref);
    free(bits);
}

#endif /* QTIP_TEST_VITERBI_DEVICE_CHECK_H */
