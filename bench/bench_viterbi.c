/* bench_viterbi.c — tail-biting Viterbi speed (ms per 256-weight tile per core)
 * and distortion on i.i.d. N(0,1) at L=16, T=256, scale 1.0, for each code and K;
 * the time of a 4096 x 4096 layer at K=2 extrapolated from the measured tiles,
 * next to a roofline estimate from this core's measured fp32 add/min rate.
 *
 * usage: bench_viterbi [--seqs N] [--quick]
 *   --seqs N   sequences per code/K for the distortion (default 256; timing uses
 *              the same tiles, one thread)
 *   --quick    16 sequences, K=2 only
 */
#include "qtip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

/* CPU time of the calling thread: "ms of one core" even on a shared machine
 * (tiles and the baseline both run on this one thread). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ncores(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

static uint64_t rng_s = 12345;
static double uniform(void)
{
    uint64_t z = (rng_s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static double normal(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* Baseline: this core's rate of independent fp32 add + min, 8 lanes (AVX2) or
 * scalar, in Gop/s (one op = one lane of one add or min). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static double peak_avx2(void)
{
    __m256 a[12], inc = _mm256_set1_ps(1e-7f), cap = _mm256_set1_ps(1e30f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    const long iters = 10000000;
    double t0 = now();
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_min_ps(_mm256_add_ps(a[i], inc), cap);
    double t = now() - t0;
    float sink = 0, buf[8];
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(buf, a[i]);
        sink += buf[0];
    }
    if (sink == 42.0f) printf(" ");
    return (double)iters * 12 * 2 * 8 / t / 1e9;
}
#endif

typedef struct {
    qtip_code code;
    int K, V;
} cfg_t;

int main(int argc, char **argv)
{
    int nseq = 256, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seqs") && i + 1 < argc) nseq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_viterbi [--seqs N] [--quick]\n");
            return 2;
        }
    }
    if (quick) nseq = 16;
    if (nseq < 1) nseq = 1;
    printf("command: %s%s --seqs %d\n", argv[0], quick ? " --quick" : "", nseq);
    printf("fast viterbi kernel: %s; tiles timed on 1 thread; %d thread(s) available\n",
           qtip_trellis_simd(), ncores());
    double peak = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) peak = peak_avx2();
#endif
    printf("baseline: fp32 add+min peak of one core %.2f Gop/s\n", peak);

    const cfg_t cfgs[] = {
        {QTIP_CODE_1MAD, 2, 1}, {QTIP_CODE_3INST, 2, 1}, {QTIP_CODE_HYB, 2, 2}, {QTIP_CODE_2MAD, 2, 1},
        {QTIP_CODE_1MAD, 3, 1}, {QTIP_CODE_HYB, 3, 2},   {QTIP_CODE_1MAD, 4, 1}, {QTIP_CODE_HYB, 4, 2},
    };
    int ncfg = quick ? 3 : (int)(sizeof cfgs / sizeof cfgs[0]);
    printf("%-13s %2s %2s %10s %10s %10s %8s %9s\n", "code", "K", "V", "ms/tile", "roofline", "ratio",
           "mse", "seqs");
    double ms_k2 = 0;
    for (int c = 0; c < ncfg; c++) {
        qtip_trellis_params p = qtip_trellis_default_params();
        p.code = cfgs[c].code;
        p.K = cfgs[c].K;
        p.V = cfgs[c].V;
        p.Q = p.code == QTIP_CODE_HYB ? 9 : 0;
        qtip_trellis *t = NULL;
        qtip_trellis_work *w = NULL;
        if (qtip_trellis_create(&p, &t) || qtip_trellis_work_create(t, 1, &w)) {
            fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
            return 1;
        }
        const int T = 256;
        size_t nw = qtip_trellis_words_per_tile(&p);
        double rms = qtip_trellis_rms(t);
        float *x = malloc(sizeof(float) * T * nseq), *rec = malloc(sizeof(float) * T * nseq);
        uint16_t *bits = malloc(2 * nw * nseq);
        for (int i = 0; i < T * nseq; i++) x[i] = (float)(normal() * rms);
        int nt = qtip_get_threads();
        qtip_set_threads(1);
        double t0 = now();
        if (qtip_trellis_quantize_work(t, w, x, (size_t)nseq, bits, rec)) {
            fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
            return 1;
        }
        double ms = (now() - t0) * 1e3 / nseq;
        qtip_set_threads(nt);
        double se = 0;
        for (int i = 0; i < T * nseq; i++) se += ((double)rec[i] - x[i]) * ((double)rec[i] - x[i]);
        double mse = se / ((double)T * nseq * rms * rms);
        /* work of one tile: 2 passes x (S-1) steps x 2^L states; per state the
         * group minimum costs 2 ops (compare+select) x (2^KV-1)/2^KV, the error
         * 3 ops per value (sub, mul, add), plus the add of the minimum */
        double M = (double)(1 << (p.K * p.V)), S = T / p.V;
        double ops = 2.0 * (S - 1) * 65536.0 * (2.0 * (M - 1) / M + 3.0 * p.V + 1.0);
        double roof = peak > 0 ? ops / (peak * 1e9) * 1e3 : 0;
        printf("%-13s %2d %2d %10.3f %10.3f %10.2f %8.5f %9d\n", qtip_code_name(p.code), p.K, p.V, ms,
               roof, roof > 0 ? ms / roof : 0, mse, nseq);
        if (p.K == 2 && p.code == QTIP_CODE_HYB) ms_k2 = ms;
        free(x);
        free(rec);
        free(bits);
        qtip_trellis_work_free(w);
        qtip_trellis_free(t);
    }
    /* 4096 x 4096 at K=2 (HYB, the released setting): 65536 tiles */
    double tiles = 4096.0 * 4096.0 / 256.0;
    printf("4096x4096 layer, K=2 HYB: %.0f tiles x %.3f ms = %.1f s on 1 core, %.1f s on %d cores "
           "(extrapolated from the %d tiles above, assuming linear scaling)\n",
           tiles, ms_k2, tiles * ms_k2 / 1e3, tiles * ms_k2 / 1e3 / ncores(), ncores(), nseq);
    return 0;
}
