/*
 * test_hessian.cpp — kernels/hessian.cu (run on the CPU through the execution layer)
 * against a plain C double loop, on a table of shapes with odd tail tiles; bit-exact,
 * since both sum the same products in the same order. Also the GPU backend's own
 * upload path (narrow on the host, widen on the device; kernels/plugin.cu), whose
 * cuBLAS dsyrk cannot run here: the library tests cover that step with OpenBLAS.
 */
#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* narrow + widen reproduce float64 blocks that came from f32/f16/bf16 bit for bit,
 * and refuse (return 0) every block that float32 cannot hold exactly. */
TEST(test_narrow_widen)
{
    test_rng rng = test_rng_seeded(12);
    /* tails around the 256-thread block and beyond the 4096-block grid (the
     * grid-stride loop's second lap) */
    size_t counts[] = {1, 255, 256, 257, 4096 * 256 + 777};
    const size_t ncase = qcpu::get_backend() == qcpu::BACKEND_FIBERS ? 5 : 4;
    for (size_t c = 0; c < ncase; c++) {
        const size_t count = counts[c];
        char name[64];
        snprintf(name, sizeof name, "widen count=%zu", count);
        double *x = (double *)malloc(count * sizeof(double)), *back = (double *)malloc(count * 8);
        float *y = (float *)malloc(count * sizeof(float));
        for (size_t k = 0; k < count; k++) {
            /* f32 values of every kind: normal, huge, subnormal, signed zero */
            float f = (float)(test_rng_normal(&rng) * (k % 11 == 5 ? 1e30 : 3.0));
            if (k % 97 == 13) f = 1e-41f * (float)(k % 5 + 1); /* subnormal */
            if (k % 89 == 7) f = (k & 1) ? -0.0f : 0.0f;
            x[k] = (double)f;
        }
        CHECK(qtip_cuda_hessian_narrow(x, count, y) == 1, "%s: values from f32 must narrow", name);
        float *dy = to_device(y, count);
        double *dx = nullptr; /* the layer fills it with 0xff (NaN) until written */
        CHECK(cudaMalloc(&dx, count * sizeof(double)) == cudaSuccess, "%s: cudaMalloc", name);
        CHECK_OK(qtip_cuda_hessian_widen(dy, count, dx, 0));
        to_host(back, dx, count);
        CHECK(memcmp(back, x, count * sizeof(double)) == 0, "%s: bits differ", name); /* -0.0 too */
        validate_result(name, "y", back, x, count, 0.0, 0.0);
        cudaFree(dy);
        cudaFree(dx);
        free(x);
        free(back);
        free(y);
    }
    /* values float32 cannot hold: the upload must fall back to float64 */
    const double bad[] = {0.1, 1e-300, 1e300, 1.0 + 1e-12, 16777217.0};
    for (double b : bad) {
        double x[3] = {1.0, -2.5, b};
        float y[3];
        CHECK(qtip_cuda_hessian_narrow(x, 3, y) == 0, "%.17g must not narrow to float32", b);
    }
    CHECK_OK(qtip_cuda_hessian_widen(nullptr, 0, nullptr, 0));
}

int main(void)
{
    kernel_test_init();
    RUN(test_shapes);
    RUN(test_bad_sizes);
    RUN(test_narrow_widen);
    return check_summary();
}
