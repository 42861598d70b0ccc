/*
 * bench_rht.c — the randomized Hadamard transform of a weight on both sides
 * (qtip_rht_weight: one pass over the rows, one over column panels), against
 *   - a streaming copy of the same data (memcpy), measured interleaved with the
 *     RHT runs: the figure of merit is time per pass / copy time (target: <= 3);
 *   - a dense-GEMM Hadamard: Wr = U_m^T (W U_n) with OpenBLAS sgemm;
 *   - for orders with a special factor K > 1 (11008 = 172 * 64: ~190 add/sub per
 *     element, compute-bound by nature), an arithmetic roofline: the add
 *     throughput of this core measured in the same run (independent vector adds
 *     at the widest level the transform uses).
 * Single-thread figures use the thread's CPU time (robust on a shared machine);
 * the multi-thread figures wall time. Best of --reps.
 * usage: bench_rht [--threads N] [--reps R] [--no-gemm] [--simd LEVEL]
 */
#include "qtip.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clk(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *dense_u(int64_t N) /* U_N, row-major, float */
{
    float *U = calloc((size_t)(N * N), sizeof(float));
    for (int64_t i = 0; i < N; i++) U[i * N + i] = 1.0f;
    qtip_had_transform_f32(U, N, N, 0); /* row i = U_N e_i = column i of U_N: U^T */
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = i + 1; j < N; j++) {
            float t = U[i * N + j];
            U[i * N + j] = U[j * N + i];
            U[j * N + i] = t;
        }
    return U;
}

typedef float v8sf __attribute__((vector_size(32)));
typedef float v4sf __attribute__((vector_size(16)));

/* 12 independent chains of vector adds (latency hidden); the empty asm keeps
 * each add in a register and stops the compiler from folding the loop. */
#define ADD_BODY(V, W)                                                                             \
    V a[12], d;                                                                                    \
    for (int j = 0; j < W; j++) d[j] = 1e-7f;                                                      \
    for (int k = 0; k < 12; k++) a[k] = d * (float)k;                                              \
    for (long i = 0; i < iters; i++)                                                               \
        for (int k = 0; k < 12; k++) {                                                             \
            a[k] = a[k] + d;                                                                       \
            __asm__ volatile("" : "+x"(a[k]));                                                     \
        }                                                                                          \
    float s = 0;                                                                                   \
    for (int k = 0; k < 12; k++) s += a[k][0];                                                     \
    *sink = s;
#if defined(__x86_64__)
__attribute__((target("avx2"), noinline)) static void adds_avx2(long iters, float *sink) { ADD_BODY(v8sf, 8) }
#endif
__attribute__((noinline)) static void adds_base(long iters, float *sink) { ADD_BODY(v4sf, 4) }

static double add_rate(int level) /* float adds per second, one thread, CPU time */
{
    long iters = 400000;
    float sink;
    double best = 1e30, width = 4;
    for (int r = 0; r < 3; r++) {
        double t0 = clk(CLOCK_THREAD_CPUTIME_ID);
#if defined(__x86_64__)
        if (level >= 2) adds_avx2(iters, &sink), width = 8;
        else
#endif
            adds_base(iters, &sink);
        double t = clk(CLOCK_THREAD_CPUTIME_ID) - t0;
        if (t < best) best = t;
    }
    return (double)iters * 12 * width / best;
}

/* add/sub per element of the both-sided RHT: butterfly stages and dense steps */
static double ops_per_elem(int64_t N)
{
    int64_t K;
    int p;
    qtip_had_supported(N, &K, &p);
    return (double)p + (K > 1 ? (double)K : 0.0);
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 5, gemm = 1, simd = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--simd") && i + 1 < argc) simd = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-gemm")) gemm = 0;
        else {
            fprintf(stderr, "usage: bench_rht [--threads N] [--reps R] [--no-gemm] [--simd LEVEL]\n");
            return 2;
        }
    }
    int level = qtip_had_set_simd(simd);
    printf("# command: %s", argv[0]);
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    double rate = add_rate(level);
    printf("\n# simd level %d (0 portable, 1 baseline vectors, 2 avx2); best of %d; "
           "add throughput %.2f Gadd/s (one thread)\n", level, reps, rate * 1e-9);
    static const int64_t shapes[][2] = {{4096, 4096}, {11008, 4096}};
    printf("%-11s %3s %8s %9s %9s %9s %9s %10s %9s %9s\n", "shape", "thr", "copy_ms", "copy_GB/s",
           "rht_ms", "pass/copy", "gemm_ms", "gemm/rht", "roof_ms", "rht/roof");
    for (int s = 0; s < 2; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1];
        size_t bytes = (size_t)(m * n) * sizeof(float);
        float *W = malloc(bytes), *D = malloc(bytes), *SU = malloc(sizeof(float) * n), *SV = malloc(sizeof(float) * m);
        for (int64_t i = 0; i < m * n; i++) W[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
        memset(D, 0, bytes);
        qtip_rht_signs(1, "bench", "SU", n, SU);
        qtip_rht_signs(1, "bench", "SV", m, SV);
        double ops = (double)(m * n) * (ops_per_elem(m) + ops_per_elem(n));
        int64_t Km, Kn;
        qtip_had_supported(m, &Km, NULL);
        qtip_had_supported(n, &Kn, NULL);
        double tg = NAN;
        if (gemm) {
            qtip_set_threads(threads);
            openblas_set_num_threads(threads);
            float *Um = dense_u(m), *Un = n == m ? Um : dense_u(n), *T = malloc(bytes);
            double t0 = clk(CLOCK_MONOTONIC);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, 1.0f, W, (int)n, Un,
                        (int)n, 0.0f, T, (int)n);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)m, 1.0f, Um, (int)m, T,
                        (int)n, 0.0f, D, (int)n);
            tg = clk(CLOCK_MONOTONIC) - t0;
            free(T);
            if (Un != Um) free(Un);
            free(Um);
        }
        for (int thr = 1; thr <= threads; thr = thr == 1 && threads > 1 ? threads : threads + 1) {
            qtip_set_threads(thr);
            /* one thread: the thread's CPU time; several: wall time */
            clockid_t id = thr == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
            double tc = 1e30, tr = 1e30;
            for (int r = 0; r < reps; r++) { /* copy and RHT interleaved */
                double t0 = clk(id);
                memcpy(D, W, bytes);
                double t1 = clk(id);
                if (t1 - t0 < tc) tc = t1 - t0;
                t0 = clk(id);
                qtip_status st = qtip_rht_weight(W, m, n, SU, SV);
                t1 = clk(id);
                if (st != QTIP_OK) { fprintf(stderr, "rht failed: %s\n", qtip_last_error()); return 1; }
                if (t1 - t0 < tr) tr = t1 - t0;
                double ar = add_rate(level); /* the roofline, interleaved too: best seen */
                if (ar > rate) rate = ar;
            }
            double roof = ops / (rate * thr);
            char shape[32], rs[16] = "-", rr[16] = "-", gs[16] = "-", gr[16] = "-";
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)m, (long long)n);
            if (Km > 1 || Kn > 1) {
                snprintf(rs, sizeof rs, "%.1f", roof * 1e3);
                snprintf(rr, sizeof rr, "%.2f", tr / roof);
            }
            if (gemm && thr == threads) {
                snprintf(gs, sizeof gs, "%.0f", tg * 1e3);
                snprintf(gr, sizeof gr, "%.1f", tg / tr);
            }
            printf("%-11s %3d %8.2f %9.2f %9.2f %9.2f %9s %10s %9s %9s\n", shape, thr, tc * 1e3,
                   2.0 * (double)bytes / tc / 1e9, tr * 1e3, tr * 0.5 / tc, gs, gr, rs, rr);
            fflush(stdout);
        }
        free(W); free(D); free(SU); free(SV);
    }
    printf("# copy_GB/s counts read + write; pass/copy = (rht time / 2 passes) / copy time; gemm = two\n"
           "# OpenBLAS sgemm with dense U_m, U_n (wall, all threads); roof = add/sub count of both passes\n"
           "# (log2 of the power of two + K per side) / measured add throughput x threads\n");
    return 0;
}
