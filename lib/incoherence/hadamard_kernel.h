/*
 * hadamard_kernel.h — element logic of the fast Hadamard transform, shared by the
 * CPU code (lib/incoherence/hadamard_transform.c) and the CUDA kernel (kernels/). Not installed.
 *
 * The transform of one vector x of length N = K * M (M = 2^p) is defined, bit for bit,
 * as this sequence of float operations (docs/algorithms-hadamard.md):
 *   1. butterflies over the inner index b of x[a*M + b], stages h = 1, 2, 4, ..., M/2
 *      in that order: (u, v) <- (u + v, u - v) for the pair (b, b + h) of each block
 *      of 2h (qtip_hadk_butterfly_*);
 *   2. when K > 1, y[a*M + b] = 0 (+/-) x[0*M + b] (+/-) x[1*M + b] ... in ascending
 *      c, the sign H_K[a][c] (forward) or H_K[c][a] (inverse) (qtip_hadk_special_*);
 *   3. every element times qtip_hadk_scale_*(N) = (float)(1 / sqrt(N)).
 * A caller may fuse stages or vectorize across independent vectors; it must keep
 * this order of operations per element so that every path gives the same bits.
 * C that is also valid C++ (no designated initializers, no VLAs).
 */
#ifndef QTIP_HADAMARD_KERNEL_H
#define QTIP_HADAMARD_KERNEL_H

#include "core/hd.h"

#include <math.h>
#include <stdint.h>

/* In-place butterfly: (u, v) <- (u + v, u - v). */
QTIP_HD void qtip_hadk_butterfly_f32(float *u, float *v)
{
    float a = *u, b = *v;
    *u = a + b;
    *v = a - b;
}
QTIP_HD void qtip_hadk_butterfly_f64(double *u, double *v)
{
    double a = *u, b = *v;
    *u = a + b;
    *v = a - b;
}

/* Index of the lower element of butterfly number `i` (0 <= i < M/2) of stage h
 * (a power of two below M); its partner is that index + h. */
QTIP_HD int64_t qtip_hadk_pair_lo(int64_t i, int64_t h)
{
    return (i / h) * 2 * h + (i % h);
}

/* Entry of H_K used for output row a and input c: H[a][c] forward, H[c][a] inverse. */
QTIP_HD int qtip_hadk_sign(const int8_t *HK, int64_t K, int64_t a, int64_t c, int inverse)
{
    return inverse ? HK[c * K + a] : HK[a * K + c];
}

/* Step 2 for one output element: x points at element (0, b), consecutive c are
 * `stride` apart (stride = M for one vector). Accumulates from +0 in ascending c. */
QTIP_HD float qtip_hadk_special_f32(const int8_t *HK, int64_t K, int64_t a, int inverse,
                                    const float *x, int64_t stride)
{
    float y = 0.0f;
    for (int64_t c = 0; c < K; c++) {
        float v = x[c * stride];
        y = qtip_hadk_sign(HK, K, a, c, inverse) > 0 ? y + v : y - v;
    }
    return y;
}
QTIP_HD double qtip_hadk_special_f64(const int8_t *HK, int64_t K, int64_t a, int inverse,
                                     const double *x, int64_t stride)
{
    double y = 0.0;
    for (int64_t c = 0; c < K; c++) {
        double v = x[c * stride];
        y = qtip_hadk_sign(HK, K, a, c, inverse) > 0 ? y + v : y - v;
    }
    return y;
}

/* Step 3: the normalization, rounded once from double. */
QTIP_HD float qtip_hadk_scale_f32(int64_t N)
{
    return (float)(1.0 / sqrt((double)N));
}
QTIP_HD double qtip_hadk_scale_f64(int64_t N)
{
    return 1.0 / sqrt((double)N);
}

/* Reference transform of one vector, straight from the definition above (the
 * CPU fast path is tested against it; a GPU thread can use it for one row).
 * tmp: N scratch elements. */
QTIP_HD void qtip_hadk_vector_f32(float *x, int64_t K, int64_t M, const int8_t *HK, int inverse,
                                  float *tmp)
{
    for (int64_t h = 1; h < M; h *= 2)
        for (int64_t a = 0; a < K; a++)
            for (int64_t i = 0; i < M / 2; i++) {
                int64_t lo = a * M + qtip_hadk_pair_lo(i, h);
                qtip_hadk_butterfly_f32(&x[lo], &x[lo + h]);
            }
    float s = qtip_hadk_scale_f32(K * M);
    if (K == 1) {
        for (int64_t b = 0; b < M; b++) x[b] = x[b] * s;
        return;
    }
    for (int64_t a = 0; a < K; a++)
        for (int64_t b = 0; b < M; b++)
            tmp[a * M + b] = qtip_hadk_special_f32(HK, K, a, inverse, x + b, M);
    for (int64_t i = 0; i < K * M; i++) x[i] = tmp[i] * s;
}

#endif /* QTIP_HADAMARD_KERNEL_H */
