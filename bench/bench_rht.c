/*
 * bench_rht.c — the randomized Hadamard transform of a weight on both sides
 * (qtip_rht_weight: one pass over the rows, one over column panels), against
 *   - a streaming copy of the same data (memcpy), measured in the same run: the
 *     figure of merit is time per pass / copy time (target: <= 3);
 *   - a dense-GEMM Hadamard: Wr = U_m^T (W U_n) with OpenBLAS sgemm.
 * usage: bench_rht [--threads N] [--reps R] [--no-gemm]
 */
#include "qtip.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *dense_u(int64_t N) /* U_N, row-major, float */
{
    float *U = calloc((size_t)(N * N), sizeof(float));
    for (int64_t i = 0; i < N; i++) U[i * N + i] = 1.0f;
    qtip_had_transform_f32(U, N, N, 0); /* row i = U_N e_i = column i of U_N: U^T */
    /* transpose in place to get U_N */
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = i + 1; j < N; j++) {
            float t = U[i * N + j];
            U[i * N + j] = U[j * N + i];
            U[j * N + i] = t;
        }
    return U;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 5, gemm = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-gemm")) gemm = 0;
        else { fprintf(stderr, "usage: bench_rht [--threads N] [--reps R] [--no-gemm]\n"); return 2; }
    }
    qtip_set_threads(threads);
    printf("# command: %s", argv[0]);
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    printf("\n# threads %d, best of %d\n", qtip_get_threads() ? qtip_get_threads() : 0, reps);
    static const int64_t shapes[][2] = {{4096, 4096}, {11008, 4096}};
    printf("%-12s %10s %10s %12s %12s %14s %12s %10s\n", "shape", "copy_ms", "copy_GB/s", "rht_ms",
           "per_pass_ms", "pass/copy", "gemm_ms", "gemm/rht");
    for (int s = 0; s < 2; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1];
        size_t bytes = (size_t)(m * n) * sizeof(float);
        float *W = malloc(bytes), *D = malloc(bytes), *SU = malloc(sizeof(float) * n), *SV = malloc(sizeof(float) * m);
        for (int64_t i = 0; i < m * n; i++) W[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
        memset(D, 0, bytes);
        qtip_rht_signs(1, "bench", "SU", n, SU);
        qtip_rht_signs(1, "bench", "SV", m, SV);
        double tc = 1e30, tr = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            memcpy(D, W, bytes);
            double t1 = now();
            if (t1 - t0 < tc) tc = t1 - t0;
        }
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            qtip_status st = qtip_rht_weight(W, m, n, SU, SV);
            double t1 = now();
            if (st != QTIP_OK) { fprintf(stderr, "rht failed: %s\n", qtip_last_error()); return 1; }
            if (t1 - t0 < tr) tr = t1 - t0;
        }
        double tg = NAN;
        if (gemm) {
            float *Um = dense_u(m), *Un = n == m ? Um : dense_u(n), *T = malloc(bytes);
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, 1.0f, W, (int)n, Un,
                        (int)n, 0.0f, T, (int)n);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)m, 1.0f, Um, (int)m, T,
                        (int)n, 0.0f, D, (int)n);
            tg = now() - t0;
            free(T);
            if (Un != Um) free(Un);
            free(Um);
        }
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)m, (long long)n);
        printf("%-12s %10.2f %10.2f %12.2f %12.2f %14.2f %12.1f %10.1f\n", shape, tc * 1e3,
               2.0 * (double)bytes / tc / 1e9, tr * 1e3, tr * 0.5e3, tr * 0.5 / tc, tg * 1e3, tg / tr);
        free(W); free(D); free(SU); free(SV);
    }
    printf("# copy_GB/s counts read + write; pass/copy = (rht time / 2 passes) / copy time; "
           "gemm = two OpenBLAS sgemm with dense U_m, U_n\n");
    return 0;
}
