/*
 * test_hessian.c — the accumulator's math: shards and merges against a long
 * double reference, determinism, non-finite rows, merge refusals, and the
 * statistics against analytic cases. No file I/O.
 */
#include "check.h"

#include <cblas.h>

/* Activations shaped like a real LLM layer input: rank-r signal + small noise,
 * a few outlier channels 300x larger, a non-zero mean. Rows are float-exact. */
static float *make_acts(test_rng *r, int64_t n, size_t T, int rank)
{
    float *X = malloc(sizeof(float) * (size_t)n * T);
    double *U = malloc(sizeof(double) * (size_t)n * (size_t)rank);
    for (int64_t i = 0; i < n * rank; i++) U[i] = test_rng_normal(r);
    for (size_t t = 0; t < T; t++) {
        double z[16];
        for (int k = 0; k < rank; k++) z[k] = test_rng_normal(r) * (k + 1);
        for (int64_t j = 0; j < n; j++) {
            double v = 0.3 + 1e-3 * test_rng_normal(r);
            for (int k = 0; k < rank; k++) v += U[j * rank + k] * z[k];
            if (j % 17 == 5) v *= 300.0; /* outlier channels */
            X[t * (size_t)n + (size_t)j] = (float)v;
        }
    }
    free(U);
    return X;
}

/* Independent reference: plain loops in long double. */
static void ref_sums(const float *X, int64_t n, size_t T, long double *S, long double *sx)
{
    memset(S, 0, sizeof(long double) * (size_t)(n * n));
    memset(sx, 0, sizeof(long double) * (size_t)n);
    for (size_t t = 0; t < T; t++) {
        const float *x = X + t * (size_t)n;
        for (int64_t i = 0; i < n; i++) {
            sx[i] += x[i];
            for (int64_t j = 0; j <= i; j++) S[i * n + j] += (long double)x[i] * x[j];
        }
    }
}

/* max over i>=j of |S - ref| / sqrt(ref_ii ref_jj): the error on the correlation scale,
 * which stays meaningful next to outlier channels. */
static double rel_err(const double *S, const long double *ref, int64_t n)
{
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            long double scale = sqrtl(ref[i * n + i] * ref[j * n + j]);
            double e = (double)(fabsl((long double)S[i * n + j] - ref[i * n + j]) / scale);
            if (e > worst) worst = e;
        }
    return worst;
}

TEST(shards_merge_match_long_double)
{
    test_rng r = test_rng_seeded(20240601);
    const int64_t n = 64;
    const size_t T = 9000;
    float *X = make_acts(&r, n, T, 4);
    long double *ref = malloc(sizeof(long double) * (size_t)(n * n));
    long double *rsx = malloc(sizeof(long double) * (size_t)n);
    ref_sums(X, n, T, ref, rsx);

    /* Three different ways to split the rows into shards. */
    const size_t splits[3][4] = {{0, 9000, 9000, 9000}, {0, 1, 4097, 9000}, {0, 2999, 3000, 9000}};
    for (int s = 0; s < 3; s++) {
        qtip_hessian *total = NULL;
        CHECK_OK(qtip_hessian_create(n, "layers.0.qkv", &total));
        for (int k = 0; k < 3; k++) {
            size_t a = splits[s][k], b = splits[s][k + 1];
            qtip_hessian *part = NULL;
            CHECK_OK(qtip_hessian_create(n, "layers.0.qkv", &part));
            /* Ragged call sizes inside each shard. */
            for (size_t t = a; t < b;) {
                size_t m = 1 + test_rng_next(&r) % 700;
                if (m > b - t) m = b - t;
                CHECK_OK(qtip_hessian_add_rows(part, QTIP_DT_F32, X + t * (size_t)n, m));
                t += m;
            }
            CHECK(qtip_hessian_count(part) == b - a, "count %llu", (unsigned long long)qtip_hessian_count(part));
            CHECK_OK(qtip_hessian_merge(total, part, 0));
            qtip_hessian_free(part);
        }
        CHECK(qtip_hessian_count(total) == T, "merged count %llu", (unsigned long long)qtip_hessian_count(total));
        CHECK_OK(qtip_hessian_flush(total));
        double e = rel_err(qtip_hessian_sum_xx(total), ref, n);
        fprintf(stderr, "split %d: max relative error %.3g\n", s, e);
        CHECK(e <= 1e-12, "split %d: relative error %.3g > 1e-12", s, e);
        const double *sx = qtip_hessian_sum_x(total);
        for (int64_t j = 0; j < n; j++)
            CHECK(fabsl(sx[j] - rsx[j]) <= 1e-12L * sqrtl(ref[j * n + j] * T), "sum_x[%lld]", (long long)j);

        double *H = malloc(sizeof(double) * (size_t)(n * n)), *mu = malloc(sizeof(double) * (size_t)n);
        CHECK_OK(qtip_hessian_expectation(total, H, mu));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                long double want = (i >= j ? ref[i * n + j] : ref[j * n + i]) / T;
                long double sc = sqrtl(ref[i * n + i] * ref[j * n + j]) / T;
                CHECK(fabsl(H[i * n + j] - want) <= 1e-12L * sc, "E[%lld,%lld]", (long long)i, (long long)j);
            }
        CHECK_NEAR(mu[3], (double)(rsx[3] / T), 1e-12 * fabs(mu[3]) + 1e-15);
        free(H);
        free(mu);
        qtip_hessian_free(total);
    }
    free(X);
    free(ref);
    free(rsx);
}

TEST(half_inputs_convert_exactly)
{
    test_rng r = test_rng_seeded(7);
    const int64_t n = 24;
    const size_t T = 300;
    uint16_t *h16 = malloc(2 * (size_t)n * T), *b16 = malloc(2 * (size_t)n * T);
    float *f = malloc(4 * (size_t)n * T), *g = malloc(4 * (size_t)n * T);
    for (size_t i = 0; i < (size_t)n * T; i++) {
        /* Random finite halves (exponent field < 31) and bf16 from random floats. */
        uint16_t v = (uint16_t)(test_rng_next(&r) & 0xFFFF);
        if (((v >> 10) & 31) == 31) v &= 0xBFFF;
        h16[i] = v;
        int sgn = v >> 15, e = (v >> 10) & 31, m = v & 1023;
        double x = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        f[i] = (float)(sgn ? -x : x);
        float y = (float)test_rng_normal(&r);
        uint32_t u;
        memcpy(&u, &y, 4);
        b16[i] = (uint16_t)(u >> 16);
        u &= 0xFFFF0000u;
        memcpy(&g[i], &u, 4);
    }
    qtip_hessian *a, *b, *c, *d;
    CHECK_OK(qtip_hessian_create(n, NULL, &a));
    CHECK_OK(qtip_hessian_create(n, NULL, &b));
    CHECK_OK(qtip_hessian_create(n, NULL, &c));
    CHECK_OK(qtip_hessian_create(n, NULL, &d));
    CHECK_OK(qtip_hessian_add_rows(a, QTIP_DT_F16, h16, T));
    CHECK_OK(qtip_hessian_add_rows(b, QTIP_DT_F32, f, T));
    CHECK_OK(qtip_hessian_add_rows(c, QTIP_DT_BF16, b16, T));
    CHECK_OK(qtip_hessian_add_rows(d, QTIP_DT_F32, g, T));
    CHECK_OK(qtip_hessian_flush(a));
    CHECK_OK(qtip_hessian_flush(b));
    CHECK_OK(qtip_hessian_flush(c));
    CHECK_OK(qtip_hessian_flush(d));
    CHECK(!memcmp(qtip_hessian_sum_xx(a), qtip_hessian_sum_xx(b), sizeof(double) * n * n), "f16 != f32 sums");
    CHECK(!memcmp(qtip_hessian_sum_xx(c), qtip_hessian_sum_xx(d), sizeof(double) * n * n), "bf16 != f32 sums");
    qtip_hessian_free(a);
    qtip_hessian_free(b);
    qtip_hessian_free(c);
    qtip_hessian_free(d);
    free(h16);
    free(b16);
    free(f);
    free(g);
}

static double *accumulate_bytes(const float *X, int64_t n, size_t T, int threads, size_t chunk)
{
    qtip_set_threads(threads);
    qtip_hessian *h;
    if (qtip_hessian_create(n, NULL, &h)) return NULL;
    for (size_t t = 0; t < T; t += chunk)
        if (qtip_hessian_add_rows(h, QTIP_DT_F32, X + t * (size_t)n, T - t < chunk ? T - t : chunk))
            return NULL;
    qtip_hessian_flush(h);
    double *S = malloc(sizeof(double) * (size_t)(n * n + n));
    const double *hs = qtip_hessian_sum_xx(h);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) S[i * n + j] = j <= i ? hs[i * n + j] : 0.0;
    memcpy(S + n * n, qtip_hessian_sum_x(h), sizeof(double) * (size_t)n);
    qtip_hessian_free(h);
    qtip_set_threads(0);
    return S;
}

TEST(deterministic_across_threads_and_chunking)
{
    test_rng r = test_rng_seeded(99);
    const int64_t n = 1100; /* wide enough for OpenBLAS and OpenMP to use threads */
    const size_t T = 2500;
    float *X = make_acts(&r, n, T, 8);
    double *a = accumulate_bytes(X, n, T, 1, T);
    double *b = accumulate_bytes(X, n, T, 2, 333);
    double *c = accumulate_bytes(X, n, T, 4, 1);
    CHECK(a && b && c, "accumulation failed: %s", qtip_last_error());
    if (a && b && c) {
        size_t bytes = sizeof(double) * (size_t)(n * n + n);
        CHECK(!memcmp(a, b, bytes), "1 thread / whole vs 2 threads / 333-row calls differ");
        CHECK(!memcmp(a, c, bytes), "1 thread / whole vs 4 threads / 1-row calls differ");
    }
    free(a);
    free(b);
    free(c);
    free(X);
}

TEST(nonfinite_rows)
{
    const int64_t n = 4;
    float X[5 * 4] = {1, 2, 3, 4, 1, 1, 1, 1, 0, 0, NAN, 0, 2, 2, 2, 2, INFINITY, 0, 0, 0};
    qtip_hessian *h;
    CHECK_OK(qtip_hessian_create(n, NULL, &h));
    CHECK_OK(qtip_hessian_set_source(h, "acts.npy"));
    CHECK_STATUS(qtip_hessian_add_rows(h, QTIP_DT_F32, X, 5), QTIP_E_NONFINITE);
    CHECK(strstr(qtip_last_error(), "'acts.npy'") && strstr(qtip_last_error(), "row 2") &&
              strstr(qtip_last_error(), "column 2"),
          "message: %s", qtip_last_error());
    qtip_hessian_free(h);

    CHECK_OK(qtip_hessian_create(n, NULL, &h));
    qtip_hessian_set_nonfinite(h, QTIP_NONFINITE_SKIP);
    CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, X, 5));
    CHECK(qtip_hessian_count(h) == 3 && qtip_hessian_skipped(h) == 2, "count %llu skipped %llu",
          (unsigned long long)qtip_hessian_count(h), (unsigned long long)qtip_hessian_skipped(h));
    double H[16], mu[4];
    CHECK_OK(qtip_hessian_expectation(h, H, mu));
    /* rows kept: (1,2,3,4) (1,1,1,1) (2,2,2,2) */
    CHECK_NEAR(H[3 * 4 + 3], (16.0 + 1 + 4) / 3, 1e-15);
    CHECK_NEAR(H[0 * 4 + 3], (4.0 + 1 + 4) / 3, 1e-15);
    CHECK_NEAR(mu[1], 5.0 / 3, 1e-15);
    qtip_hessian_free(h);
}

TEST(merge_refusals)
{
    qtip_hessian *a, *b, *c, *e;
    CHECK_OK(qtip_hessian_create(8, "layers.0.qkv", &a));
    CHECK_OK(qtip_hessian_create(9, "layers.0.qkv", &b));
    CHECK_OK(qtip_hessian_create(8, "layers.0.o", &c));
    CHECK_STATUS(qtip_hessian_merge(a, b, 0), QTIP_E_SHAPE);
    CHECK(strstr(qtip_last_error(), "9") && strstr(qtip_last_error(), "8"), "%s", qtip_last_error());
    CHECK_STATUS(qtip_hessian_merge(a, c, 0), QTIP_E_MISMATCH);
    CHECK(strstr(qtip_last_error(), "'layers.0.o'"), "%s", qtip_last_error());
    CHECK_OK(qtip_hessian_merge(a, c, 1));
    CHECK_STATUS(qtip_hessian_expectation(a, NULL, NULL), QTIP_E_PARAM); /* no rows */
    CHECK_OK(qtip_hessian_create(8, NULL, &e));
    CHECK_STATUS(qtip_hessian_add_rows(e, QTIP_DT_I32, "", 0), QTIP_E_UNSUPPORTED);
    qtip_hessian *bad = NULL;
    CHECK_STATUS(qtip_hessian_create(0, NULL, &bad), QTIP_E_PARAM);
    qtip_hessian_free(a);
    qtip_hessian_free(b);
    qtip_hessian_free(c);
    qtip_hessian_free(e);
}

/* Diagonal E: condition (d_max + s) / (d_min + s) with s = sigma * mean(d), exactly. */
TEST(analyze_diagonal_analytic)
{
    const int64_t n = 50;
    double *L = calloc((size_t)(n * (n + 1) / 2), sizeof(double));
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = pow(10.0, -6.0 + 6.0 * (double)i / (double)(n - 1)); /* 1e-6 .. 1 */
        L[i * (i + 1) / 2 + i] = d * 10.0;                                /* count 10 */
        sum += d;
    }
    qtip_hessian *h;
    CHECK_OK(qtip_hessian_create(n, NULL, &h));
    CHECK_OK(qtip_hessian_set_sums(h, L, NULL, 10));
    for (int pass = 0; pass < 2; pass++) {
        double sigma = pass ? 0.01 : 0.0;
        qtip_hessian_info info;
        CHECK_OK(qtip_hessian_analyze(h, sigma, &info));
        double s = sigma * sum / n;
        double want = (1.0 + s) / (1e-6 + s);
        CHECK(info.pd == 1 && info.finite == 1, "pd %d finite %d", info.pd, info.finite);
        CHECK_NEAR(info.cond_est, want, 5e-4 * want); /* reported to 4 significant digits */
        CHECK_NEAR(info.trace, sum, 1e-12 * sum);
        CHECK_NEAR(info.diag_min, 1e-6, 1e-18);
        CHECK_NEAR(info.diag_max, 1.0, 1e-15);
        CHECK(info.have_eig, "no eigenvalues");
        CHECK_NEAR(info.eig_min, 1e-6 + s, 1e-15);
        CHECK_NEAR(info.eig_max, 1.0 + s, 1e-13);
    }
    /* analyze leaves the lower triangle intact */
    const double *S = qtip_hessian_sum_xx(h);
    CHECK(S[0] == L[0] && S[(n - 1) * n + n - 1] == L[n * (n + 1) / 2 - 1], "diagonal changed");
    qtip_hessian_free(h);
    free(L);
}

/* Rank one x x^T with x = (1,2,3): singular without damping (exact zero pivot),
 * PD with eigenvalues {14 + s, s, s} after it. Non-finite sums are reported. */
TEST(analyze_rank_one_and_nonfinite)
{
    qtip_hessian *h;
    CHECK_OK(qtip_hessian_create(3, NULL, &h));
    float x[3] = {1, 2, 3};
    CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, x, 1));
    qtip_hessian_info info;
    CHECK_OK(qtip_hessian_analyze(h, 0.0, &info));
    CHECK(info.pd == 0 && isinf(info.cond_est), "pd %d cond %g", info.pd, info.cond_est);
    CHECK_OK(qtip_hessian_analyze(h, 0.01, &info));
    double s = 0.01 * 14.0 / 3;
    CHECK(info.pd == 1, "not pd after damping");
    CHECK_NEAR(info.eig_min, s, 1e-13);
    CHECK_NEAR(info.eig_max, 14 + s, 1e-12);
    /* 1-norm and 2-norm conditions agree within a factor n */
    double c2 = (14 + s) / s;
    CHECK(info.cond_est >= c2 / 3 && info.cond_est <= 3 * c2, "cond %g vs %g", info.cond_est, c2);
    double L[6] = {1, 0, 1, 0, 0, NAN};
    CHECK_OK(qtip_hessian_set_sums(h, L, NULL, 1));
    CHECK_OK(qtip_hessian_analyze(h, 0.01, &info));
    CHECK(info.finite == 0 && info.pd == 0, "finite %d pd %d", info.finite, info.pd);
    qtip_hessian_free(h);
}

/* Correlated low-rank activations with outliers: ill-conditioned; damping makes
 * them PD, and the 1-norm estimate brackets the exact 2-norm condition. */
TEST(analyze_ill_conditioned_activations)
{
    test_rng r = test_rng_seeded(31337);
    const int64_t n = 96;
    const size_t T = 2000;
    float *X = make_acts(&r, n, T, 3);
    qtip_hessian *h;
    CHECK_OK(qtip_hessian_create(n, NULL, &h));
    CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, X, T));
    qtip_hessian_info info;
    CHECK_OK(qtip_hessian_analyze(h, 0.0, &info));
    CHECK(info.have_eig && info.eig_max / info.eig_min > 1e9, "not ill-conditioned: %g / %g",
          info.eig_max, info.eig_min);
    CHECK_OK(qtip_hessian_analyze(h, 0.01, &info));
    CHECK(info.pd, "not pd after damping");
    double c2 = info.eig_max / info.eig_min;
    fprintf(stderr, "damped: cond2 %.4g, cond1 estimate %.4g\n", c2, info.cond_est);
    CHECK(info.cond_est >= c2 / (3.0 * n) && info.cond_est <= c2 * n, "cond %g vs %g", info.cond_est, c2);
    qtip_hessian_free(h);
    free(X);
}

int main(void)
{
    RUN(shards_merge_match_long_double);
    RUN(half_inputs_convert_exactly);
    RUN(deterministic_across_threads_and_chunking);
    RUN(nonfinite_rows);
    RUN(merge_refusals);
    RUN(analyze_diagonal_analytic);
    RUN(analyze_rank_one_and_nonfinite);
    RUN(analyze_ill_conditioned_activations);
    return check_summary();
}
