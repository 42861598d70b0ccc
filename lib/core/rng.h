/*
 * rng.h — the project's one pseudo-random source (QTIP_HD: the C library, the
 * CUDA kernels, the tests and the benchmarks share it; not installed).
 *
 * splitmix64 (Steele, Lea, Flood 2014): a 64-bit counter stepped by the golden
 * ratio and mixed; every output depends only on the state, so a stream is the
 * same on every platform and compiler. Deterministic Gaussian draws use the polar
 * method with a log written in basic IEEE operations (libm's log may differ in
 * the last bit between versions), so every machine draws the same numbers.
 */
#ifndef QTIP_RNG_H
#define QTIP_RNG_H

#include "core/hd.h"

#include <math.h>
#include <stdint.h>

/* Next output of the stream whose state is *s (the state advances). */
QTIP_HD uint64_t qtip_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform double in [-1, 1) from the top 53 bits of one output. */
QTIP_HD double qtip_rng_symmetric(uint64_t *s)
{
    return (double)(qtip_splitmix64(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* log(x) for finite x > 0 in basic IEEE operations: the atanh series of the
 * mantissa, reduced to [sqrt(1/2), sqrt(2)). */
QTIP_HD double qtip_det_log(double x)
{
    int e;
    double m = frexp(x, &e); /* exact */
    if (m < 0.70710678118654752) {
        m *= 2.0;
        e--;
    }
    double z = (m - 1.0) / (m + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 0; k < 14; k++) {
        sum += term / (double)(2 * k + 1);
        term *= z2;
    }
    return 2.0 * sum + (double)e * 0.69314718055994530942;
}

/* Two independent standard normal draws (polar method). */
QTIP_HD void qtip_det_normal_pair(uint64_t *s, double *a, double *b)
{
    for (;;) {
        double u = qtip_rng_symmetric(s);
        double v = qtip_rng_symmetric(s);
        double r = u * u + v * v;
        if (r >= 1.0 || r == 0.0) continue;
        double f = sqrt(-2.0 * qtip_det_log(r) / r);
        *a = u * f;
        *b = v * f;
        return;
    }
}

#endif /* QTIP_RNG_H */
