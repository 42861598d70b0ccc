/*
 * bench_rng.h — the benchmarks' Gaussian source (header only): splitmix64 uniforms
 * through Box–Muller, one global state seeded 0x5eed, so every run of a benchmark
 * measures the same inputs.
 */
#ifndef QTIP_BENCH_RNG_H
#define QTIP_BENCH_RNG_H

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 0x5eedULL;

static double rng_normal(void)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        u[k] = (double)(z >> 11) * (1.0 / 9007199254740992.0);
    }
    if (u[0] < 1e-300) u[0] = 1e-300;
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

#endif /* QTIP_BENCH_RNG_H */
