/*
 * bench_rng.h — the benchmarks' Gaussian source (header only): splitmix64 uniforms
 * (lib/core/rng.h)
 * through Box–Muller, one global state seeded 0x5eed, so every run of a benchmark
 * measures the same inputs.
 */
#ifndef QTIP_BENCH_RNG_H
#define QTIP_BENCH_RNG_H

#include "core/rng.h"

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 0x5eedULL;

static double rng_normal(void)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        u[k] = (double)(qtip_splitmix64(&rng_state) >> 11) * (1.0 / 9007199254740992.0);
    }
    if (u[0] < 1e-300) u[0] = 1e-300;
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

#endif /* QTIP_BENCH_RNG_H */
