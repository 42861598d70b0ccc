/*
 * bench_matvec.c — the CPU matvec (qtip_matvec.h) of a 4096 x 4096 2-bit HYB
 * layer (the released models' code, tensor-core tile order; synthetic codes and
 * signs: the speed does not depend on their values) against, in the same run:
 *   - OpenBLAS cblas_sgemv of a dense fp32 4096 x 4096 weight (batch 1) and
 *     cblas_sgemm of the same weight times 8 vectors (batch 8);
 *   - the memory bandwidth: a STREAM-like sum over a 256 MiB buffer with the same
 *     threads. "dense-equivalent GB/s" is 64 MiB (the fp32 weight) over the
 *     matvec's time: above the measured bandwidth means faster than any dense
 *     fp32 matvec can be on this machine; the 2-bit codes themselves are 4 MiB.
 * The matvec includes the input and output Hadamard transforms and signs (the
 * whole layer as a model runs it). One thread: CPU time; more: wall time; the
 * median of --reps runs of each, interleaved (the machine may be shared).
 * usage: bench_matvec [--threads N] [--reps R] [--json]
 */
#include "qtip.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIM 4096
#define STREAM_FLOATS ((size_t)64 << 20) /* 256 MiB */

/* One thread: the process's CPU time (robust on a shared machine, as bench_rht);
 * more: wall time. */
static clockid_t clock_id = CLOCK_MONOTONIC;
static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x5eedULL;
static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static float next_f(void) { return (float)((double)(next_u64() >> 40) / 16777216.0 - 0.5); }

volatile double stream_sink; /* keeps the sums alive */

/* One STREAM-like read of the 256 MiB buffer: seconds. */
static double stream_once(const float *buf, int threads)
{
    double t0 = now(), s = 0;
    /* 32 independent float sums a chunk (vectorized, no add-latency chain) */
#pragma omp parallel for reduction(+ : s) num_threads(threads) schedule(static)
    for (long c = 0; c < (long)(STREAM_FLOATS / 4096); c++) {
        float part[32] = {0};
        for (int i = 0; i < 4096; i += 32)
            for (int l = 0; l < 32; l++) part[l] += buf[(size_t)c * 4096 + (size_t)i + (size_t)l];
        for (int l = 0; l < 32; l++) s += part[l];
    }
    double t = now() - t0;
    stream_sink = s;
    return t;
}

static qtip_matvec *hyb_layer(void)
{
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS); /* HYB, K 2 */
    qtip_trellis *tr = NULL;
    if (qtip_trellis_create(&p.trellis, &tr) != QTIP_OK) return NULL;
    size_t rows, cols, ncodes = (size_t)DIM * DIM * 2 / 16;
    qtip_trellis_tlut_shape(&p.trellis, &rows, &cols);
    uint16_t *codes = malloc(ncodes * 2);
    float *SU = malloc(DIM * 4), *SV = malloc(DIM * 4);
    for (size_t i = 0; i < ncodes; i++) codes[i] = (uint16_t)next_u64();
    for (int i = 0; i < DIM; i++) SU[i] = next_u64() & 1 ? 1.0f : -1.0f;
    for (int i = 0; i < DIM; i++) SV[i] = next_u64() & 1 ? 1.0f : -1.0f;
    qtip_layer_info l;
    memset(&l, 0, sizeof l);
    l.params = p;
    l.m = l.n = DIM;
    l.tensor = "bench";
    l.weights_checksum = l.hessian_checksum = "";
    l.wscale = 0.01f;
    l.code_cols = DIM * 2 / 16;
    l.codes = codes;
    l.SU = SU;
    l.SV = SV;
    l.tlut = qtip_trellis_lut(tr, NULL);
    l.tlut_rows = rows;
    l.tlut_cols = cols;
    qtip_matvec *mv = NULL;
    if (qtip_matvec_create(&l, &mv) != QTIP_OK) fprintf(stderr, "bench_matvec: %s\n", qtip_last_error());
    free(codes), free(SU), free(SV);
    qtip_trellis_free(tr);
    return mv;
}

typedef struct {
    double gbs, sgemv_ms, sgemm8_ms, mv1_ms, mv8_ms;
} figures;

enum { STREAM, SGEMV, SGEMM8, MV1, MV8, NWHAT };

/* One run of `what`: milliseconds. */
static double time_once(int what, int threads, const qtip_matvec *mv, const float *buf,
                        const float *W, const float *x, float *y)
{
    if (what == STREAM) return stream_once(buf, threads) * 1e3;
    double t0 = now();
    if (what == SGEMV) cblas_sgemv(CblasRowMajor, CblasNoTrans, DIM, DIM, 1.0f, W, DIM, x, 1, 0.0f, y, 1);
    if (what == SGEMM8)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 8, DIM, DIM, 1.0f, x, DIM, W, DIM, 0.0f, y, DIM);
    if (what == MV1) qtip_matvec_apply(mv, x, y);
    if (what == MV8) qtip_matvec_apply_batch(mv, x, 8, y);
    return (now() - t0) * 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Every measurement `reps` times, interleaved (one of each per round, so load
 * from other jobs on the shared machine falls on all of them alike), after one
 * warm-up round; the medians. */
static figures measure(int reps, int threads, const qtip_matvec *mv, const float *buf,
                       const float *W, const float *x, float *y)
{
    double *t = malloc((size_t)reps * NWHAT * sizeof(double)), med[NWHAT];
    for (int what = 0; what < NWHAT; what++) time_once(what, threads, mv, buf, W, x, y);
    for (int r = 0; r < reps; r++)
        for (int what = 0; what < NWHAT; what++)
            t[what * reps + r] = time_once(what, threads, mv, buf, W, x, y);
    for (int what = 0; what < NWHAT; what++) {
        qsort(t + what * reps, (size_t)reps, sizeof(double), cmp_double);
        med[what] = reps % 2 ? t[what * reps + reps / 2]
                             : 0.5 * (t[what * reps + reps / 2 - 1] + t[what * reps + reps / 2]);
    }
    free(t);
    figures f = {(double)STREAM_FLOATS * 4 / (med[STREAM] * 1e-3) / 1e9, med[SGEMV], med[SGEMM8],
                 med[MV1], med[MV8]};
    return f;
}

/* "vs bandwidth": the time a dense fp32 pass would take at the measured
 * bandwidth over the matvec's time (above 1: faster than any dense fp32 matvec
 * on this machine can be). */
static void print_table(const figures *f, int threads, int reps)
{
    const double dense_mb = (double)DIM * DIM * 4 / 1e6, dense_ms = dense_mb / f->gbs;
    printf("CPU matvec, 4096 x 4096, 2-bit HYB, %d thread(s), kernel %s, median of %d interleaved runs\n",
           threads, qtip_matvec_simd(), reps);
    printf("memory bandwidth (STREAM-like read): %.1f GB/s; a dense fp32 pass at it: %.2f ms\n",
           f->gbs, dense_ms);
    printf("%-6s %9s %13s %11s %13s %17s\n", "batch", "qtip ms", "OpenBLAS ms", "vs OpenBLAS",
           "vs bandwidth", "dense-equiv GB/s");
    printf("%-6d %9.3f %7.3f sgemv %10.2fx %12.2fx %17.1f\n", 1, f->mv1_ms, f->sgemv_ms,
           f->sgemv_ms / f->mv1_ms, dense_ms / f->mv1_ms, dense_mb / f->mv1_ms);
    printf("%-6d %9.3f %7.3f sgemm %10.2fx %12.2fx %17.1f\n", 8, f->mv8_ms, f->sgemm8_ms,
           f->sgemm8_ms / f->mv8_ms, 8 * dense_ms / f->mv8_ms, 8 * dense_mb / f->mv8_ms);
    printf("(batch 8 against bandwidth: 8 dense passes, as 8 separate matvecs would read)\n");
}

static void print_json(const figures *f, int threads, int reps)
{
    const double dense_mb = (double)DIM * DIM * 4 / 1e6, dense_ms = dense_mb / f->gbs;
    printf("{\"bench\": \"matvec\", \"shape\": [%d, %d], \"code\": \"quantlut_sym\", \"K\": 2, "
           "\"threads\": %d, \"kernel\": \"%s\", \"reps\": %d, \"stream_gbs\": %.3f, "
           "\"batch1\": {\"qtip_ms\": %.4f, \"sgemv_ms\": %.4f, \"speedup\": %.3f, \"vs_bandwidth\": %.3f}, "
           "\"batch8\": {\"qtip_ms\": %.4f, \"sgemm_ms\": %.4f, \"speedup\": %.3f, \"vs_bandwidth\": %.3f}}\n",
           DIM, DIM, threads, qtip_matvec_simd(), reps, f->gbs, f->mv1_ms, f->sgemv_ms,
           f->sgemv_ms / f->mv1_ms, dense_ms / f->mv1_ms, f->mv8_ms, f->sgemm8_ms,
           f->sgemm8_ms / f->mv8_ms, 8 * dense_ms / f->mv8_ms);
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 10, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else {
            fprintf(stderr, "usage: bench_matvec [--threads N] [--reps R] [--json]\n");
            return 2;
        }
    }
    if (threads < 1 || reps < 1) return 2;
    qtip_set_threads(threads);
    if (threads == 1) clock_id = CLOCK_PROCESS_CPUTIME_ID;
    openblas_set_num_threads(threads);
    float *buf = malloc(STREAM_FLOATS * 4), *W = malloc((size_t)DIM * DIM * 4);
    float *x = malloc(8 * DIM * 4), *y = malloc(8 * DIM * 4);
    qtip_matvec *mv = hyb_layer();
    if (!buf || !W || !x || !y || !mv) return 1;
    for (size_t i = 0; i < STREAM_FLOATS; i++) buf[i] = (float)(i & 1023);
    for (size_t i = 0; i < (size_t)DIM * DIM; i++) W[i] = next_f();
    for (int i = 0; i < 8 * DIM; i++) x[i] = next_f();
    figures f = measure(reps, threads, mv, buf, W, x, y);
    if (json) print_json(&f, threads, reps);
    else print_table(&f, threads, reps);
    qtip_matvec_free(mv);
    free(buf), free(W), free(x), free(y);
    return 0;
}
