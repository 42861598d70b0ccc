/*
 * bench_hessian.c — Hessian accumulation throughput against OpenBLAS dgemm, and
 * peak memory, in the same run.
 *
 *   bench_hessian [n] [input_MiB] [threads]     (defaults: 4096 1024 0 = all cores)
 *
 * Input: a generated stream of f32 rows (input_MiB of them), fed through
 * qtip_hessian_add_rows in 1 MiB calls, as the command feeds file blocks.
 * FLOP convention: accumulate counts n^2 flops per row (the syrk's useful
 * n(n+1)/2 multiply-adds, times 2, rounded to n^2); dgemm counts 2 m n k. The
 * ratio is accumulate GFLOP/s over dgemm GFLOP/s with k = the block rows, i.e.
 * how close the triangle-only update gets to the machine's best dense rate.
 * Peak memory: getrusage ru_maxrss taken after the accumulation and before the
 * baseline allocates its own buffers, so it is the accumulator's peak.
 */
#include "qtip.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) * (1.0 / 9007199254740992.0) - 0.5);
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 4096;
    size_t mib = argc > 2 ? (size_t)atoll(argv[2]) : 1024;
    int threads = argc > 3 ? atoi(argv[3]) : 0;
    qtip_set_threads(threads);
    printf("command: %s %lld %zu %d\n", argv[0], (long long)n, mib, threads);
    printf("openblas: %s\n", openblas_get_config());

    qtip_hessian *h;
    if (qtip_hessian_create(n, "bench", &h)) {
        fprintf(stderr, "%s\n", qtip_last_error());
        return 1;
    }
    const size_t k = qtip_hessian_block_rows(h);

    /* Accumulate a generated f32 stream, 1 MiB per call. */
    const size_t rows_total = (mib << 20) / (4 * (size_t)n);
    const size_t call_rows = ((size_t)1 << 20) / (4 * (size_t)n) ? ((size_t)1 << 20) / (4 * (size_t)n) : 1;
    float *X = malloc(sizeof(float) * call_rows * (size_t)n);
    for (size_t i = 0; i < call_rows * (size_t)n; i++) X[i] = frand();
    double t0 = now(), t;
    for (size_t done = 0; done < rows_total; done += call_rows) {
        size_t m = rows_total - done < call_rows ? rows_total - done : call_rows;
        X[done % (call_rows * (size_t)n)] += 1.0f; /* different data per call */
        if (qtip_hessian_add_rows(h, QTIP_DT_F32, X, m)) {
            fprintf(stderr, "%s\n", qtip_last_error());
            return 1;
        }
    }
    qtip_hessian_flush(h);
    t = now() - t0;
    double acc = (double)n * n * (double)rows_total / t / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    /* Baseline: dgemm of the same shape as one block update (n x k times k x n). */
    double *A = malloc(sizeof(double) * k * (size_t)n), *C = calloc((size_t)(n * n), sizeof(double));
    for (size_t i = 0; i < k * (size_t)n; i++) A[i] = frand();
    openblas_set_num_threads(threads > 0 ? threads : openblas_get_num_threads());
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)k, 1.0, A, (int)n, A,
                (int)n, 1.0, C, (int)n); /* warm-up */
    int reps = 0;
    t0 = now();
    do {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)k, 1.0, A,
                    (int)n, A, (int)n, 1.0, C, (int)n);
        reps++;
    } while ((t = now() - t0) < 3.0);
    double gemm = 2.0 * n * n * (double)k * reps / t / 1e9;
    /* The bare dsyrk on the same block (what the accumulator calls), n^2 k flops. */
    reps = 0;
    t0 = now();
    do {
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)n, (int)k, 1.0, A, (int)n, 1.0, C,
                    (int)n);
        reps++;
    } while ((t = now() - t0) < 3.0);
    double syrk = (double)n * n * (double)k * reps / t / 1e9;
    free(A);
    free(C);

    printf("n %lld, rows %zu (%zu MiB f32), block %zu rows, threads %d\n", (long long)n, rows_total,
           mib, k, threads);
    printf("dgemm baseline:   %8.1f GFLOP/s (2 n n k, k = %zu)\n", gemm, k);
    printf("bare dsyrk:       %8.1f GFLOP/s (n^2 k), %.3f of dgemm\n", syrk, syrk / gemm);
    printf("accumulate:       %8.1f GFLOP/s (n^2 per row), %.2f s, %.0f rows/s, %.0f MiB/s of f32\n",
           acc, t, rows_total / t, (double)mib / t);
    printf("ratio:            %8.3f of dgemm (target >= 0.85)\n", acc / gemm);
    printf("peak RSS:         %8.1f MiB (S alone: %.1f MiB)\n", ru.ru_maxrss / 1024.0,
           8.0 * n * n / 1048576.0);
    free(X);
    qtip_hessian_free(h);
    return 0;
}
