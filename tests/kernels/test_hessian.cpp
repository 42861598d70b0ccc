/*
 * test_hessian.cpp — kernels/hessian.cu (run on the CPU through the execution layer)
 * against a plain C double loop, on a table of shapes with odd tail tiles; bit-exact,
 * since both sum the same products in the same order.
 */
#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>

#include "hessian.cuh"
#include "kernel_check.h"

struct shape {
    int64_t rows, n;
};

/* Reference: S[i][j] += sum_r x[r][i] x[r][j] for j <= i, summed over r in order. */
static void reference(const float *X, int64_t rows, int64_t n, double *S, double *mu)
{
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j <= i; j++) {
            double acc = 0.0;
            for (int64_t r = 0; r < rows; r++)
                acc += (double)X[r * n + i] * (double)X[r * n + j];
            S[i * n + j] += acc;
        }
        double m = 0.0;
        for (int64_t r = 0; r < rows; r++)
            m += (double)X[r * n + i];
        mu[i] += m;
    }
}

static void run_case(test_rng *rng, shape s)
{
    char name[96];
    snprintf(name, sizeof name, "hessian rows=%lld n=%lld", (long long)s.rows, (long long)s.n);
    size_t nx = (size_t)(s.rows * s.n), ns = (size_t)(s.n * s.n);
    float *X = (float *)malloc(nx * sizeof(float) + 1);
    double *S = (double *)malloc(ns * sizeof(double) + 1), *Sr = (double *)malloc(ns * 8 + 1);
    double *mu = (double *)malloc((size_t)s.n * 8 + 1), *mur = (double *)malloc((size_t)s.n * 8 + 1);
    /* correlated rows with a few outlier channels, like real activations */
    for (int64_t r = 0; r < s.rows; r++) {
        double common = test_rng_normal(rng);
        for (int64_t i = 0; i < s.n; i++)
            X[r * s.n + i] = (float)(0.5 * common + test_rng_normal(rng) * (i % 7 == 3 ? 40.0 : 1.0));
    }
    /* a non-zero starting S: the kernel accumulates */
    for (size_t k = 0; k < ns; k++)
        S[k] = Sr[k] = (double)(k % 5) * 0.25;
    for (int64_t i = 0; i < s.n; i++)
        mu[i] = mur[i] = (double)i;
    float *dX = to_device(X, nx);
    double *dS = to_device(S, ns), *dmu = to_device(mu, (size_t)s.n);
    CHECK_OK(qtip_cuda_hessian_accumulate(dX, s.rows, s.n, dS, dmu));
    to_host(S, dS, ns);
    to_host(mu, dmu, (size_t)s.n);
    reference(X, s.rows, s.n, Sr, mur);
    validate_result(name, "S", S, Sr, ns, 0.0, 0.0);
    validate_result(name, "mu", mu, mur, (size_t)s.n, 0.0, 0.0);
    cudaFree(dX);
    cudaFree(dS);
    cudaFree(dmu);
    free(X);
    free(S);
    free(Sr);
    free(mu);
    free(mur);
}

TEST(test_shapes)
{
    test_rng rng = test_rng_seeded(11);
    /* tails in both directions: n and rows not multiples of the 16 x 16 tile */
    static const shape fast[] = {{1, 1}, {17, 33}, {16, 16}, {5, 40}};
    static const shape more[] = {{100, 70}, {33, 130}, {64, 48}, {250, 17}};
    for (const shape &s : fast)
        run_case(&rng, s);
    if (qcpu::get_backend() == qcpu::BACKEND_FIBERS) /* OS threads: a few blocks only */
        for (const shape &s : more)
            run_case(&rng, s);
}

TEST(test_bad_sizes)
{
    CHECK_STATUS(qtip_cuda_hessian_accumulate(nullptr, -1, 4, nullptr, nullptr), QTIP_E_PARAM);
    CHECK_OK(qtip_cuda_hessian_accumulate(nullptr, 0, 4, nullptr, nullptr));
}

int main(void)
{
    kernel_test_init();
    RUN(test_shapes);
    RUN(test_bad_sizes);
    return check_summary();
}
