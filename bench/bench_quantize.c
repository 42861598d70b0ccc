/*
 * bench_quantize.c — wall time of qtip_quantize_layer on one synthetic layer per
 * method, as ratios to baselines measured in the same run:
 *   - one OpenBLAS dgemm of the same m x n x n shape (the cost of one dense
 *     product with the Hessian, which the pipeline needs a handful of), and
 *   - the pure codebook search on the same number of values: the tail-biting
 *     Viterbi on m*n/256 tiles (trellis) or qtip_e8p_quantize on m*n/8 vectors.
 * For the trellis the search time is the Viterbi's share of the layer (the layer
 * runs the search exactly once on m*n values); for E8P it is one LDLQ sweep's
 * worth of searches, so the ratio says how many sweeps' cost the layer took.
 * Peak RSS is the process high-water mark, reset before each method.
 *
 * Weights: N(0, 0.02) i.i.d.; Hessian: AR(1) covariance 0.95^|i-j| (strongly
 * non-diagonal). Methods: trellis HYB L16 K2 V2, e8p12 with 10 refinement passes,
 * e8p12 with 0 passes.
 *
 * usage: bench_quantize [--large] [--threads <t>] [--only <trellis|e8p10|e8p0>] [<m> <n>]
 *   default 1024 x 1024; --large: 4096 x 4096.
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


/* Peak RSS in MiB since the last reset (Linux: VmHWM; reset by clear_refs 5). */
static void rss_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double rss_peak_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    fclose(f);
    return kb / 1024.0;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_quantize: %s: %s\n", what, qtip_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    int64_t m = 1024, n = 1024;
    int threads = 0;
    const char *only = NULL;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--large") == 0) m = n = 4096;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (pos == 0) { m = atoll(argv[i]); pos++; }
        else if (pos == 1) { n = atoll(argv[i]); pos++; }
        else {
            fprintf(stderr, "usage: bench_quantize [--large] [--threads <t>] [--only <method>] [<m> <n>]\n");
            return 2;
        }
    }
    if (threads > 0) qtip_set_threads(threads);
    threads = qtip_get_threads();
    printf("# reproduce: bench_quantize --threads %d%s%s %lld %lld\n", threads, only ? " --only " : "",
           only ? only : "", (long long)m, (long long)n);

    const size_t mn = (size_t)m * (size_t)n, nn = (size_t)n * (size_t)n;
    float *W = malloc(mn * sizeof *W);
    double *H = malloc(nn * sizeof *H);
    if (!W || !H) return 1;
    for (size_t i = 0; i < mn; i++) W[i] = (float)(0.02 * rng_normal());
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) H[i * n + j] = pow(0.95, (double)llabs(i - j));

    /* Baseline 1: one dgemm m x n x n (best of 2). */
    double t_gemm = INFINITY;
    {
        double *A = malloc(mn * sizeof *A), *C = malloc(mn * sizeof *C);
        if (!A || !C) return 1;
        for (size_t i = 0; i < mn; i++) A[i] = W[i];
        for (int r = 0; r < 2; r++) {
            double t0 = now();
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, 1.0, A,
                        (int)n, H, (int)n, 0.0, C, (int)n);
            double dt = now() - t0;
            if (dt < t_gemm) t_gemm = dt;
        }
        free(A);
        free(C);
    }
    printf("baseline dgemm %lldx%lldx%lld: %.3f s (%.1f GFLOP/s)\n", (long long)m, (long long)n,
           (long long)n, t_gemm, 2.0 * (double)m * (double)n * (double)n / t_gemm * 1e-9);

    /* Baseline 2: the pure searches on m*n values of N(0, 1) data (scaled as
     * the pipeline scales them). */
    double t_vit = 0, t_e8 = 0;
    {
        float *x = malloc(mn * sizeof *x), *rec = malloc(mn * sizeof *rec);
        if (!x || !rec) return 1;
        if (!only || strcmp(only, "trellis") == 0) {
            qtip_trellis_params tp = qtip_trellis_default_params();
            qtip_trellis *tr = NULL;
            if (qtip_trellis_create(&tp, &tr) != QTIP_OK) die("trellis");
            double rms = qtip_trellis_rms(tr);
            for (size_t i = 0; i < mn; i++) x[i] = (float)(0.9 * rms * rng_normal());
            size_t T = (size_t)(tp.td_x * tp.td_y), nseq = mn / T;
            uint16_t *bits = malloc(nseq * qtip_trellis_words_per_tile(&tp) * sizeof *bits);
            double t0 = now();
            if (qtip_trellis_quantize_work(tr, NULL, x, nseq, bits, rec) != QTIP_OK) die("viterbi");
            t_vit = now() - t0;
            printf("baseline viterbi (HYB L16 K2 V2) on %zu tiles: %.3f s\n", nseq, t_vit);
            free(bits);
            qtip_trellis_free(tr);
        }
        qtip_e8p *cb = NULL;
        if (qtip_e8p_create(QTIP_E8P12, &cb) != QTIP_OK) die("e8p");
        for (size_t i = 0; i < mn; i++) x[i] = (float)(1.03 * rng_normal());
        uint32_t *codes = malloc(mn / 8 * sizeof *codes);
        if (!only || strncmp(only, "e8p", 3) == 0) {
            double t0 = now();
            if (qtip_e8p_quantize(cb, x, mn / 8, codes, rec) != QTIP_OK) die("e8p search");
            t_e8 = now() - t0;
            printf("baseline e8p12 search on %zu vectors: %.3f s\n", mn / 8, t_e8);
        }
        free(codes);
        qtip_e8p_free(cb);
        free(x);
        free(rec);
    }

    struct {
        const char *name;
        qtip_quant_method method;
        int passes;
    } runs[3] = {{"trellis", QTIP_METHOD_TRELLIS, 0}, {"e8p10", QTIP_METHOD_E8P, 10},
                 {"e8p0", QTIP_METHOD_E8P, 0}};
    printf("%-8s %9s %9s %11s %12s %9s %11s\n", "method", "seconds", "x dgemm", "search s",
           "search share", "rss MiB", "proxy");
    for (int r = 0; r < 3; r++) {
        if (only && strcmp(only, runs[r].name) != 0) continue;
        qtip_quant_params p = qtip_quant_default_params(runs[r].method);
        p.refine_passes = runs[r].passes;
        qtip_quantizer *q = NULL;
        if (qtip_quantizer_create(&p, &q) != QTIP_OK) die("quantizer");
        rss_reset();
        qtip_layer_artifact *a = NULL;
        double t0 = now();
        if (qtip_quantize_layer(q, W, m, n, H, "bench.weight", &a) != QTIP_OK) die(runs[r].name);
        double dt = now() - t0, rss = rss_peak_mib();
        qtip_layer_info info;
        qtip_layer_artifact_info(a, &info);
        double ts = runs[r].method == QTIP_METHOD_TRELLIS ? t_vit : t_e8;
        printf("%-8s %9.3f %9.2f %11.3f %11.1f%% %9.1f %11.6f\n", runs[r].name, dt, dt / t_gemm, ts,
               100.0 * ts / dt, rss, info.proxy_loss);
        qtip_layer_artifact_free(a);
        qtip_quantizer_free(q);
    }
    free(W);
    free(H);
    return 0;
}
