/* bench_viterbi.c — tail-biting Viterbi speed (ms per 256-weight tile per core)
 * and distortion on i.i.d. N(0,1) at L=16, T=256, scale 1.0, for each code and K;
 * the time of a 4096 x 4096 layer at K=2 extrapolated from the measured tiles,
 * next to a roofline estimate from this core's measured fp32 add/min rate.
 *
 * usage: bench_viterbi [--threads N] [--seqs N] [--quick] [--tail-biting MODE]
 *        bench_viterbi [--threads N] --distortion [--seqs N] [--tail-biting MODE]
 *        bench_viterbi [--threads N] --gen-hyb-table > lib/trellis/trellis_hyb_table.c
 *        bench_viterbi [--threads N] --tune-hyb ITERS TILES EVAL_TILES
 *   (default)      speed: ms per tile on one thread for every code at K=2,3,4
 *                  (--seqs tiles each, default 32, best of 3 rounds), with the
 *                  mse of those tiles
 *   --distortion   full-size distortion, N sequences per code (default 2048, all
 *                  threads), each figure against the bound, its standard
 *                  error, the digest's figure and the rate-distortion bound
 *   --quick        8 tiles, K=2 only
 *   --bounded      --distortion: only the codes the issue bounds (K=2 1MAD, 3INST,
 *                  HYB; K=3, 4 1MAD)
 *   --tail-biting  two-pass (default) or best-of-<n> (qtip_trellis_work_set_tail_biting)
 *   --gen-hyb-table  the shipped Q=9 HYB table: k-means, then the trellis-aware
 *                  Lloyd stage (hyb_lloyd); identical for any --threads
 *   --tune-hyb     the Lloyd stage with ITERS steps on TILES tiles per K, compared
 *                  with the k-means table on EVAL_TILES held-out tiles (paired)
 *   --threads N    OpenMP threads (first argument; default all cores)
 */
#include "qtip.h"
#include "core/rng.h"
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

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
    uint64_t z = qtip_splitmix64(&rng_s);
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

/* FNV-1a 64 of the fp16 bit patterns (little-endian) of n values. */
static uint64_t fnv_fp16(const float *v, int n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) {
        uint16_t b = qtip_float_to_fp16(v[i]);
        h = (h ^ (b & 0xFFu)) * 0x100000001b3ull;
        h = (h ^ (uint64_t)(b >> 8)) * 0x100000001b3ull;
    }
    return h;
}

/* the trellis-aware Lloyd stage (hyb_lloyd, below) */
#define HYB_LLOYD_ITERS 8
#define HYB_LLOYD_TILES 1024
#define HYB_LLOYD_K2_WEIGHT 4.0 /* K=2 (the released setting) counts 4x */
#define HYB_LLOYD_SEED 0x7E11150ULL /* training tiles */
#define HYB_EVAL_SEED 0xE7A1ULL     /* held-out tiles (--tune-hyb) */
static int hyb_lloyd(float *tab, int iters, int ntiles, int verbose);

/* Write lib/trellis/trellis_hyb_table.c to stdout: the Q = 9 HYB table at the
 * reference's size (2^20 samples, Lloyd to convergence), then refined by the
 * trellis-aware Lloyd steps of hyb_lloyd (below). */
static int gen_hyb_table(void)
{
    float tab[1024];
    int iters = 0;
    double t0 = now();
    if (qtip_trellis_hyb_kmeans_(QTIP_HYB_TABLE_Q, QTIP_HYB_TABLE_SAMPLES, QTIP_HYB_TABLE_MAX_ITERS,
                                 tab, &iters)) {
        fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
        return 1;
    }
    fprintf(stderr, "k-means: %d iterations, %.1f s\n", iters, now() - t0);
    uint64_t h_km = fnv_fp16(tab, 1024);
    if (hyb_lloyd(tab, HYB_LLOYD_ITERS, HYB_LLOYD_TILES, 1)) return 1;
    /* the checksums test_trellis_codes pins: the table, and the cheap prefix of
     * the same run (2 iterations) that it regenerates */
    float two[1024];
    if (qtip_trellis_hyb_kmeans_(QTIP_HYB_TABLE_Q, QTIP_HYB_TABLE_SAMPLES, 2, two, NULL)) {
        fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
        return 1;
    }
    fprintf(stderr, "fnv1a64 of the fp16 bits: table 0x%016llxull, k-means stage 0x%016llxull, "
            "2 k-means iterations 0x%016llxull\n", (unsigned long long)fnv_fp16(tab, 1024),
            (unsigned long long)h_km, (unsigned long long)fnv_fp16(two, 1024));
    printf("/*\n * trellis_hyb_table.c — GENERATED by `bench_viterbi --gen-hyb-table`; do not edit.\n"
           " * The HYB (quantlut_sym) table for Q = 9: Lloyd k-means of 2^20 deterministic\n"
           " * 2-D standard normal samples into 512 centroids, run until the mean distance\n"
           " * improves by at most 1e-5 (%d iterations), scaled to element std sqrt(15/16)\n"
           " * and rounded to fp16 (qtip.md 1.4); then %d trellis-aware Lloyd steps over\n"
           " * %d deterministic Gaussian tiles per K = 2, 3, 4 (each entry to the weighted\n"
           " * mean of the sign-corrected pairs the Viterbi paths assign to it, K=2 weight\n"
           " * %g, renormalized and rounded to fp16 again; docs/algorithms-trellis.md).\n"
           " * Stored as fp16 bits, entry 2i + v = value v of index i. test_trellis_codes\n"
           " * pins its checksum and regenerates the start of the k-means stage.\n */\n",
           iters, HYB_LLOYD_ITERS, HYB_LLOYD_TILES, HYB_LLOYD_K2_WEIGHT);
    printf("#include \"trellis/trellis_internal.h\"\n\nconst uint16_t qtip_hyb_table_q9_[1024] = {\n");
    for (int i = 0; i < 1024; i++)
        printf("%s0x%04x,%s", i % 8 == 0 ? "    " : "", qtip_float_to_fp16(tab[i]), i % 8 == 7 ? "\n" : " ");
    printf("};\n");
    return 0;
}

/* ---------------------------------------------------------------------------
 * Trellis-aware Lloyd refinement of the HYB table (--gen-hyb-table's second
 * stage; --tune-hyb measures it). k-means fits the table to 2-D Gaussian
 * pairs, but the trellis uses each entry through 128 states, half of them with
 * v0 negated, and picks among only 2^KV successors per step. So: quantize a
 * fixed training set of Gaussian tiles with the table (K = 2, 3, 4, two-pass
 * tail-biting, tiles scaled to rms(table) as --distortion does), move every
 * entry to the weighted mean of the sign-corrected value pairs the chosen paths
 * assigned to it (no assignment: unchanged), re-apply the reference's normalization
 * (element std sqrt(15/16)) and fp16 rounding, repeat. Deterministic: own
 * Gaussian draws (splitmix64 + polar method + a log of basic IEEE operations,
 * as the library's k-means), the searches are deterministic for any thread
 * count, and the sums run in tile order on one thread.
 * ------------------------------------------------------------------------- */

/* n standard normal values from seed (n even) */
static double *det_normals(uint64_t seed, size_t n)
{
    double *z = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i += 2)
        qtip_det_normal_pair(&seed, &z[i], &z[i + 1]);
    return z;
}

static qtip_trellis *make_hyb(const float *tab, int K)
{
    qtip_trellis_params p = qtip_trellis_default_params();
    p.code = QTIP_CODE_HYB;
    p.K = K;
    p.V = 2;
    p.Q = QTIP_HYB_TABLE_Q;
    qtip_trellis *t = NULL;
    if (qtip_trellis_create_with_lut(&p, tab, &t)) fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
    return t;
}

/* Quantize the tiles z (nseq x 256 standard normals) scaled to rms(t); per-tile
 * relative squared error into err (may be NULL); states (may be NULL): nseq x
 * 128 path states. Returns the mean relative error, or -1 on failure. */
static double hyb_run(const qtip_trellis *t, const double *z, int nseq, double *err, uint32_t *states,
                      float *x_out)
{
    const qtip_trellis_params *p = qtip_trellis_get_params(t);
    size_t nw = qtip_trellis_words_per_tile(p);
    double rms = qtip_trellis_rms(t);
    float *x = x_out ? x_out : malloc(sizeof(float) * 256 * (size_t)nseq);
    float *rec = malloc(sizeof(float) * 256 * (size_t)nseq);
    uint16_t *bits = malloc(2 * nw * (size_t)nseq);
    for (size_t i = 0; i < 256 * (size_t)nseq; i++) x[i] = (float)(z[i] * rms);
    double tot = -1;
    if (qtip_trellis_quantize_work(t, NULL, x, (size_t)nseq, bits, rec)) {
        fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
    } else {
        tot = 0;
        for (int q = 0; q < nseq; q++) {
            double sq = 0;
            for (size_t i = (size_t)q * 256; i < (size_t)(q + 1) * 256; i++)
                sq += ((double)rec[i] - x[i]) * ((double)rec[i] - x[i]);
            sq /= 256 * rms * rms;
            if (err) err[q] = sq;
            tot += sq;
            if (states) qtip_trellis_unpack(p, bits + (size_t)q * nw, states + (size_t)q * 128);
        }
        tot /= nseq;
    }
    if (!x_out) free(x);
    free(rec);
    free(bits);
    return tot;
}

/* In place: iters Lloyd steps on tab (1024 fp16-exact values), each over
 * ntiles training tiles at each of K = 2, 3, 4 (its own tiles per K; the same
 * Q = 9 table serves every K). An entry moves to the weighted mean of its
 * assigned pairs, weight 1 / (that K's mean relative error) so that each K's
 * relative distortion counts alike (K=4's errors are ten times smaller than
 * K=2's; unweighted, K=2 alone would set the table and K=4 gets worse).
 * Returns 0 on success. */
static int hyb_lloyd(float *tab, int iters, int ntiles, int verbose)
{
    double *z = det_normals(HYB_LLOYD_SEED, 3 * 256 * (size_t)ntiles);
    uint32_t *st = malloc(sizeof(uint32_t) * 128 * (size_t)ntiles);
    float *x = malloc(sizeof(float) * 256 * (size_t)ntiles);
    int rc = 0;
    for (int it = 0; it < iters && !rc; it++) {
        double sum[1536] = {0}; /* per entry: weighted sign-corrected v0, v1, weight */
        double m[3] = {0, 0, 0};
        for (int K = 2; K <= 4 && !rc; K++) {
            qtip_trellis *t = make_hyb(tab, K);
            m[K - 2] = t ? hyb_run(t, z + (size_t)(K - 2) * 256 * (size_t)ntiles, ntiles, NULL, st, x) : -1;
            qtip_trellis_free(t);
            if (m[K - 2] <= 0) {
                rc = 1;
                break;
            }
            double w = (K == 2 ? HYB_LLOYD_K2_WEIGHT : 1.0) / m[K - 2];
            for (size_t q = 0; q < (size_t)ntiles; q++)
                for (int i = 0; i < 128; i++) {
                    uint32_t s = st[q * 128 + (size_t)i];
                    uint32_t idx = qtip_hyb_index(s, QTIP_HYB_TABLE_Q);
                    double x0 = x[q * 256 + 2 * (size_t)i], x1 = x[q * 256 + 2 * (size_t)i + 1];
                    sum[3 * idx] += w * (qtip_hyb_neg(s) ? -x0 : x0);
                    sum[3 * idx + 1] += w * x1;
                    sum[3 * idx + 2] += w;
                }
        }
        if (rc) break;
        double cen[1024];
        int empty = 0;
        for (int c = 0; c < 512; c++) {
            if (sum[3 * c + 2] > 0) {
                cen[2 * c] = sum[3 * c] / sum[3 * c + 2];
                cen[2 * c + 1] = sum[3 * c + 1] / sum[3 * c + 2];
            } else {
                cen[2 * c] = tab[2 * c];
                cen[2 * c + 1] = tab[2 * c + 1];
                empty++;
            }
        }
        qtip_trellis_hyb_normalize_(cen, 1024, tab);
        if (verbose)
            fprintf(stderr, "lloyd %d: training mse before the step K=2 %.6f K=3 %.6f K=4 %.6f, %d unused entries\n",
                    it + 1, m[0], m[1], m[2], empty);
    }
    free(z);
    free(st);
    free(x);
    return rc;
}

/* --tune-hyb ITERS TILES EVAL_TILES: the k-means table against its Lloyd refinement on
 * held-out tiles, paired (same tiles, per-tile differences), at K=2, 3, 4. */
static int tune_hyb(int iters, int ntrain, int neval)
{
    float km[1024], tuned[1024];
    /* the k-means stage of --gen-hyb-table (the shipped table is its refinement) */
    if (qtip_trellis_hyb_kmeans_(QTIP_HYB_TABLE_Q, QTIP_HYB_TABLE_SAMPLES, QTIP_HYB_TABLE_MAX_ITERS, km, NULL)) {
        fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
        return 1;
    }
    memcpy(tuned, km, sizeof km);
    double t0 = now();
    if (hyb_lloyd(tuned, iters, ntrain, 1)) return 1;
    fprintf(stderr, "lloyd: %d iterations on %d tiles, %.1f s (this thread)\n", iters, ntrain, now() - t0);
    fprintf(stderr, "tuned table fnv1a64 0x%016llxull\n", (unsigned long long)fnv_fp16(tuned, 1024));
    double *z = det_normals(HYB_EVAL_SEED, 256 * (size_t)neval);
    double *ea = malloc(sizeof(double) * (size_t)neval), *eb = malloc(sizeof(double) * (size_t)neval);
    printf("held-out paired comparison, %d tiles (seed 0x%llx), two-pass tail-biting\n", neval,
           (unsigned long long)HYB_EVAL_SEED);
    printf("%2s %10s %10s %11s %10s\n", "K", "k-means", "tuned", "tuned-km", "+-sem");
    for (int K = 2; K <= 4; K++) {
        qtip_trellis *a = make_hyb(km, K), *b = make_hyb(tuned, K);
        if (!a || !b) return 1;
        double ma = hyb_run(a, z, neval, ea, NULL, NULL), mb = hyb_run(b, z, neval, eb, NULL, NULL);
        double d = 0, d2 = 0;
        for (int q = 0; q < neval; q++) d += eb[q] - ea[q];
        d /= neval;
        for (int q = 0; q < neval; q++) d2 += (eb[q] - ea[q] - d) * (eb[q] - ea[q] - d);
        printf("%2d %10.6f %10.6f %+11.6f %10.6f\n", K, ma, mb, d, sqrt(d2 / (neval - 1) / neval));
        fflush(stdout);
        qtip_trellis_free(a);
        qtip_trellis_free(b);
    }
    free(z);
    free(ea);
    free(eb);
    return 0;
}

typedef struct {
    qtip_code code;
    int K, V;
    double bound, digest; /* the bound and the digest's figure (0: none) */
} cfg_t;

static const cfg_t cfgs[] = {
    {QTIP_CODE_1MAD, 2, 1, 0.0690, 0.0685},  {QTIP_CODE_3INST, 2, 1, 0.0690, 0.0684},
    {QTIP_CODE_HYB, 2, 2, 0.0705, 0.0701},   {QTIP_CODE_2MAD, 2, 1, 0, 0},
    /* the K=3/K=4 bounds go with the digest's 1MAD figures */
    {QTIP_CODE_1MAD, 3, 1, 0.0178, 0.0175},  {QTIP_CODE_3INST, 3, 1, 0, 0},
    {QTIP_CODE_HYB, 3, 2, 0, 0},             {QTIP_CODE_1MAD, 4, 1, 0.0050, 0.0048},
    {QTIP_CODE_3INST, 4, 1, 0, 0},           {QTIP_CODE_HYB, 4, 2, 0, 0},
};
#define NCFG ((int)(sizeof cfgs / sizeof cfgs[0]))

static int tb_n = 1, bounded = 0; /* --tail-biting, --bounded */
static const char *tb_name = "two-pass";

/* A work object of nthreads slots with the chosen tail-biting search. */
static qtip_trellis_work *make_work(const qtip_trellis *t, int nthreads)
{
    qtip_trellis_work *w = NULL;
    if (qtip_trellis_work_create(t, nthreads, &w) || qtip_trellis_work_set_tail_biting(w, t, tb_n)) {
        fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
        qtip_trellis_work_free(w);
        return NULL;
    }
    return w;
}

static qtip_trellis *make(const cfg_t *c)
{
    qtip_trellis_params p = qtip_trellis_default_params();
    p.code = c->code;
    p.K = c->K;
    p.V = c->V;
    p.Q = p.code == QTIP_CODE_HYB ? 9 : 0;
    qtip_trellis *t = NULL;
    if (qtip_trellis_create(&p, &t)) fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
    return t;
}

/* nseq i.i.d. N(0,1) tiles scaled to rms(codebook) (scale_override 1.0) */
static float *gaussian_tiles(const qtip_trellis *t, int nseq)
{
    double rms = qtip_trellis_rms(t);
    float *x = malloc(sizeof(float) * 256 * (size_t)nseq);
    for (size_t i = 0; i < 256 * (size_t)nseq; i++) x[i] = (float)(normal() * rms);
    return x;
}

/* MSE per weight relative to the source variance; *sem: its standard error from
 * the spread of the per-tile figures. */
static double mse_of(const qtip_trellis *t, const float *x, const float *rec, int nseq, double *sem)
{
    double rms = qtip_trellis_rms(t), se = 0, s2 = 0;
    for (int q = 0; q < nseq; q++) {
        double sq = 0;
        for (size_t i = (size_t)q * 256; i < (size_t)(q + 1) * 256; i++)
            sq += ((double)rec[i] - x[i]) * ((double)rec[i] - x[i]);
        se += sq;
        sq /= 256 * rms * rms;
        s2 += sq * sq;
    }
    double m = se / (256.0 * nseq * rms * rms);
    *sem = nseq > 1 ? sqrt(fmax(s2 / nseq - m * m, 0) / (nseq - 1)) : m;
    return m;
}

static int distortion(int nseq)
{
    printf("distortion on i.i.d. N(0,1), L=16, T=256 (16x16 tiles), scale 1.0, %s tail-biting, %d "
           "tiles per code, %d threads\n", tb_name, nseq, qtip_get_threads() > 0 ? qtip_get_threads() : ncores());
    printf("%-13s %2s %2s %9s %9s %8s %8s %8s %10s  %s\n", "code", "K", "V", "mse", "+-sem", "bound",
           "digest", "R(D)", "cpu ms/tile", "verdict");
    int bad = 0;
    for (int c = 0; c < NCFG; c++) {
        if (bounded && cfgs[c].bound <= 0) continue;
        qtip_trellis *t = make(&cfgs[c]);
        if (!t) return 1;
        clock_t c0 = clock(); /* CPU time of all threads: the per-tile cost on a shared machine */
        size_t nw = qtip_trellis_words_per_tile(qtip_trellis_get_params(t));
        float *x = gaussian_tiles(t, nseq), *rec = malloc(sizeof(float) * 256 * (size_t)nseq);
        uint16_t *bits = malloc(2 * nw * (size_t)nseq);
        qtip_trellis_work *w = make_work(t, 0);
        if (!w || qtip_trellis_quantize_work(t, w, x, (size_t)nseq, bits, rec)) {
            fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
            return 1;
        }
        qtip_trellis_work_free(w);
        double cpu_ms = (double)(clock() - c0) / CLOCKS_PER_SEC * 1e3 / nseq;
        double sem, m = mse_of(t, x, rec, nseq, &sem), rd = pow(2.0, -2.0 * cfgs[c].K);
        const char *verdict = "";
        if (m <= rd) verdict = "WRONG (below the rate-distortion bound)", bad++;
        else if (cfgs[c].bound > 0) verdict = m <= cfgs[c].bound ? "ok" : "ABOVE BOUND", bad += m > cfgs[c].bound;
        printf("%-13s %2d %2d %9.5f %9.5f %8.4f %8.4f %8.5f %10.3f  %s\n", qtip_code_name(cfgs[c].code),
               cfgs[c].K, cfgs[c].V, m, sem, cfgs[c].bound, cfgs[c].digest, rd, cpu_ms, verdict);
        fflush(stdout);
        free(x);
        free(rec);
        free(bits);
        qtip_trellis_free(t);
    }
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--threads")) { /* any mode: OpenMP threads (default: all cores) */
        qtip_set_threads(atoi(argv[2]));
        argc -= 2;
        argv += 2;
    }
    if (argc == 2 && !strcmp(argv[1], "--gen-hyb-table")) return gen_hyb_table();
    if (argc == 5 && !strcmp(argv[1], "--tune-hyb")) return tune_hyb(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    int nseq = -1, quick = 0, dist = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seqs") && i + 1 < argc) nseq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--distortion")) dist = 1;
        else if (!strcmp(argv[i], "--bounded")) bounded = 1;
        else if (!strcmp(argv[i], "--tail-biting") && i + 1 < argc &&
                 (tb_n = qtip_trellis_tail_biting_from_name(argv[i + 1])) > 0)
            tb_name = argv[++i];
        else {
            fprintf(stderr, "usage: bench_viterbi [--seqs N] [--quick] [--tail-biting two-pass|best-of-<n>]\n"
                            "   or: bench_viterbi --distortion [--seqs N] [--bounded] [--tail-biting two-pass|best-of-<n>]\n"
                            "   or: bench_viterbi --gen-hyb-table > lib/trellis/trellis_hyb_table.c\n"
                            "   or: bench_viterbi --tune-hyb ITERS TILES EVAL_TILES\n"
                            "   (any mode may start with --threads N)\n");
            return 2;
        }
    }
    if (nseq < 0) nseq = dist ? 2048 : quick ? 8 : 32;
    if (nseq < 1) nseq = 1;
    printf("command: %s%s%s%s --seqs %d --tail-biting %s\n", argv[0], dist ? " --distortion" : "",
           bounded ? " --bounded" : "", quick ? " --quick" : "", nseq, tb_name);
    if (dist) return distortion(nseq);
    printf("fast viterbi kernel: %s; tiles timed on 1 thread (thread CPU time); %d thread(s) available\n",
           qtip_trellis_simd(), ncores());
    double peak = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        for (int round = 0; round < 3; round++) peak = fmax(peak, peak_avx2()); /* best of 3 */
#endif
    printf("baseline: fp32 add+min peak of one core %.2f Gop/s\n", peak);
    printf("%-13s %2s %2s %10s %10s %10s %8s %9s\n", "code", "K", "V", "ms/tile", "roofline", "ratio",
           "mse", "tiles");
    double ms_k2 = 0;
    for (int c = 0; c < NCFG; c++) {
        if (quick && cfgs[c].K != 2) continue;
        qtip_trellis *t = make(&cfgs[c]);
        qtip_trellis_work *w = t ? make_work(t, 1) : NULL;
        if (!w) return 1;
        const qtip_trellis_params *p = qtip_trellis_get_params(t);
        size_t nw = qtip_trellis_words_per_tile(p);
        float *x = gaussian_tiles(t, nseq), *rec = malloc(sizeof(float) * 256 * (size_t)nseq);
        uint16_t *bits = malloc(2 * nw * (size_t)nseq);
        int nt = qtip_get_threads();
        qtip_set_threads(1);
        /* best of 3 rounds: the machine may be shared, and interference only
         * ever adds time */
        double ms = INFINITY;
        for (int round = 0; round < 3; round++) {
            double t0 = now();
            if (qtip_trellis_quantize_work(t, w, x, (size_t)nseq, bits, rec)) {
                fprintf(stderr, "bench_viterbi: %s\n", qtip_last_error());
                return 1;
            }
            ms = fmin(ms, (now() - t0) * 1e3 / nseq);
        }
        qtip_set_threads(nt);
        double sem, mse = mse_of(t, x, rec, nseq, &sem);
        /* work of one tile (two-pass; best-of-n does more): 2 passes x (S-1) steps x 2^L states; per state the
         * group minimum costs 2 ops (compare+select) x (2^KV-1)/2^KV, the error
         * 3 ops per value (sub, mul, add), plus the add of the minimum */
        double M = (double)(1 << (p->K * p->V)), S = 256.0 / p->V;
        double ops = 2.0 * (S - 1) * 65536.0 * (2.0 * (M - 1) / M + 3.0 * p->V + 1.0);
        double roof = peak > 0 ? ops / (peak * 1e9) * 1e3 : 0;
        printf("%-13s %2d %2d %10.3f %10.3f %10.2f %8.5f %9d\n", qtip_code_name(p->code), p->K, p->V, ms,
               roof, roof > 0 ? ms / roof : 0, mse, nseq);
        if (p->K == 2 && p->code == QTIP_CODE_HYB) ms_k2 = ms;
        free(x);
        free(rec);
        free(bits);
        qtip_trellis_work_free(w);
        qtip_trellis_free(t);
    }
    /* 4096 x 4096 at K=2 (HYB, the released setting): 65536 tiles */
    double tiles = 4096.0 * 4096.0 / 256.0;
    double roof_k2 = peak > 0 ? 2.0 * 127 * 65536.0 * (2.0 * 15 / 16 + 7.0) / (peak * 1e9) : 0;
    printf("4096x4096 layer, K=2 HYB: %.0f tiles x %.3f ms = %.1f s on 1 core, %.1f s on %d cores "
           "(extrapolated, linear scaling); roofline %.1f s on 1 core, %.1f s on %d cores\n",
           tiles, ms_k2, tiles * ms_k2 / 1e3, tiles * ms_k2 / 1e3 / ncores(), ncores(), tiles * roof_k2,
           tiles * roof_k2 / ncores(), ncores());
    return 0;
}
