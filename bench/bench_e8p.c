/*
 * bench_e8p.c — E8P12 nearest-codeword search: the structured search of libqtip
 * against exhaustive scans of all 65,536 codewords measured in the same run
 * (a plain scalar scan, and QuIP-for-all's approach: an OpenBLAS sgemm of the
 * inputs against the 65536 x 8 grid followed by an argmax).
 *
 * usage: bench_e8p [vectors [brute_vectors [threads]]]   (defaults 200000 2000 1)
 * `threads` drives the structured search and OpenBLAS; the scalar scan always
 * runs on one thread, so compare ratios at threads = 1.
 */
#include "qtip.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_rng.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    size_t nb = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (n < nb) nb = n;
    if (nb < 64) nb = 64 < n ? 64 : n;
    qtip_set_threads(threads);
    openblas_set_num_threads(threads > 0 ? threads : 1);

    float *x = malloc(n * 8 * sizeof *x);
    uint32_t *codes = malloc(n * sizeof *codes);
    for (size_t i = 0; i < n * 8; i++) x[i] = (float)(1.03 * rng_normal());

    qtip_e8p *cb[3] = {0};
    for (int k = 0; k < 3; k++)
        if (qtip_e8p_create((qtip_e8p_kind)k, &cb[k]) != QTIP_OK) {
            fprintf(stderr, "bench_e8p: %s\n", qtip_last_error());
            return 1;
        }

    /* the full grid, decoded by the library, for the exhaustive scans */
    float *grid = malloc((size_t)65536 * 8 * sizeof *grid), *gn = malloc(65536 * sizeof *gn);
    float *gT = malloc((size_t)65536 * 8 * sizeof *gT); /* coordinate-major for the scalar scan */
    uint32_t *all = malloc(65536 * sizeof *all);
    for (uint32_t c = 0; c < 65536; c++) all[c] = c;
    qtip_e8p_decode(cb[0], all, 65536, grid);
    for (size_t c = 0; c < 65536; c++) {
        float s = 0;
        for (int i = 0; i < 8; i++) {
            s += grid[8 * c + i] * grid[8 * c + i];
            gT[(size_t)i * 65536 + c] = grid[8 * c + i];
        }
        gn[c] = s;
    }

    /* structured search */
    double t0 = now();
    qtip_e8p_quantize(cb[0], x, n, codes, NULL);
    double t_struct = now() - t0;
    double v_struct = (double)n / t_struct;

    /* scalar exhaustive scan: score = |g|^2 - 2 x.g over all codes */
    uint32_t *bcodes = malloc(nb * sizeof *bcodes);
    float *sc = malloc(65536 * sizeof *sc);
    t0 = now();
    for (size_t v = 0; v < nb; v++) {
        const float *xv = x + 8 * v;
        for (size_t c = 0; c < 65536; c++) sc[c] = gn[c];
        for (int i = 0; i < 8; i++) {
            float m2 = -2.0f * xv[i];
            const float *g = gT + (size_t)i * 65536;
            for (size_t c = 0; c < 65536; c++) sc[c] += m2 * g[c];
        }
        uint32_t best = 0;
        for (uint32_t c = 1; c < 65536; c++)
            if (sc[c] < sc[best]) best = c;
        bcodes[v] = best;
    }
    double t_scan = now() - t0;
    double v_scan = (double)nb / t_scan;
    size_t agree_scan = 0;
    for (size_t v = 0; v < nb; v++) agree_scan += bcodes[v] == codes[v];

    /* sgemm scan in blocks of 64 vectors: S = X G^T (64 x 65536), then argmax 2S - |g|^2 */
    const size_t blk = 64;
    float *S = malloc(blk * 65536 * sizeof *S);
    t0 = now();
    for (size_t v0 = 0; v0 < nb; v0 += blk) {
        size_t rows = nb - v0 < blk ? nb - v0 : blk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, 65536, 8, 1.0f,
                    x + 8 * v0, 8, grid, 8, 0.0f, S, 65536);
        for (size_t r = 0; r < rows; r++) {
            const float *s = S + r * 65536;
            uint32_t best = 0;
            float bv = 2.0f * s[0] - gn[0];
            for (uint32_t c = 1; c < 65536; c++) {
                float val = 2.0f * s[c] - gn[c];
                if (val > bv) {
                    bv = val;
                    best = c;
                }
            }
            bcodes[v0 + r] = best;
        }
    }
    double t_gemm = now() - t0;
    double v_gemm = (double)nb / t_gemm;
    size_t agree_gemm = 0;
    for (size_t v = 0; v < nb; v++) agree_gemm += bcodes[v] == codes[v];

    /* the residual codebooks, for scale */
    double v_rvq[2];
    for (int k = 1; k < 3; k++) {
        t0 = now();
        qtip_e8p_quantize(cb[k], x, n, codes, NULL);
        v_rvq[k - 1] = (double)n / (now() - t0);
    }

    printf("command: %s %zu %zu %d\n", argv[0], n, nb, threads);
    printf("threads %d, %zu vectors (structured), %zu vectors (exhaustive scans)\n", threads, n, nb);
    printf("structured search  %12.0f vectors/s\n", v_struct);
    printf("scalar full scan   %12.0f vectors/s   structured / scan  = %7.1fx  (agree %zu/%zu)\n",
           v_scan, v_struct / v_scan, agree_scan, nb);
    printf("sgemm full scan    %12.0f vectors/s   structured / sgemm = %7.1fx  (agree %zu/%zu)\n",
           v_gemm, v_struct / v_gemm, agree_gemm, nb);
    printf("e8p12-rvq3         %12.0f vectors/s   (%.2fx e8p12)\n", v_rvq[0], v_rvq[0] / v_struct);
    printf("e8p12-rvq4         %12.0f vectors/s   (%.2fx e8p12)\n", v_rvq[1], v_rvq[1] / v_struct);

    for (int k = 0; k < 3; k++) qtip_e8p_free(cb[k]);
    free(x);
    free(codes);
    free(grid);
    free(gn);
    free(gT);
    free(all);
    free(bcodes);
    free(sc);
    free(S);
    return 0;
}
