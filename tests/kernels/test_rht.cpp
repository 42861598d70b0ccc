/*
 * test_rht.cpp — kernels/rht.cu against libqtip's qtip_had_transform_f32 / _f64,
 * bit-exact, forward and inverse, on powers of two and non-power-of-two orders K * 2^p.
 */
#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>

#include "kernel_check.h"
#include "rht.cuh"

/* The kernel and the library's transform per element type. */
static qtip_status device_had(float *x, int64_t rows, int64_t N, const int8_t *hk, int64_t K, int inv)
{
    return qtip_cuda_had_transform_f32(x, rows, N, hk, K, inv);
}
static qtip_status device_had(double *x, int64_t rows, int64_t N, const int8_t *hk, int64_t K, int inv)
{
    return qtip_cuda_had_transform_f64(x, rows, N, hk, K, inv);
}
static qtip_status host_had(float *x, int64_t rows, int64_t N, int inv)
{
    return qtip_had_transform_f32(x, rows, N, inv);
}
static qtip_status host_had(double *x, int64_t rows, int64_t N, int inv)
{
    return qtip_had_transform_f64(x, rows, N, inv);
}

template <class T> static void run_case(test_rng *rng, int64_t N, int64_t rows, int inverse)
{
    char name[96];
    snprintf(name, sizeof name, "had f%d N=%lld rows=%lld %s", (int)(8 * sizeof(T)), (long long)N,
             (long long)rows, inverse ? "inverse" : "forward");
    int64_t K = 0;
    int p = 0;
    if (!qtip_had_supported(N, &K, &p)) {
        CHECK(0, "%s: the library does not support N", name);
        return;
    }
    size_t n = (size_t)(N * rows);
    T *x = (T *)malloc(n * sizeof(T)), *ref = (T *)malloc(n * sizeof(T));
    for (size_t i = 0; i < n; i++)
        x[i] = ref[i] = (T)test_rng_normal(rng) * (i % 13 == 0 ? (T)30 : (T)1);
    int8_t *hk = (int8_t *)malloc((size_t)(K * K)), *dhk = nullptr;
    if (K > 1) {
        CHECK_OK(qtip_had_special(K, hk));
        dhk = to_device(hk, (size_t)(K * K));
    }
    T *dx = to_device(x, n);
    CHECK_OK(device_had(dx, rows, N, dhk, K, inverse));
    to_host(x, dx, n);
    CHECK_OK(host_had(ref, rows, N, inverse));
    validate_result(name, "x", x, ref, n, 0.0, 0.0);
    cudaFree(dx);
    cudaFree(dhk);
    free(hk);
    free(x);
    free(ref);
}

TEST(test_sizes)
{
    test_rng rng = test_rng_seeded(23);
    /* powers of two (incl. 1, 2, one warp, more than a block's threads) and the
     * special orders with tails of the butterfly loop */
    static const int64_t fast[] = {1, 2, 32, 512, 12, 20 * 4, 28 * 8};
    static const int64_t more[] = {4096, 36 * 2, 52 * 16, 60, 108 * 4, 172 * 2, 12 * 1024};
    for (int64_t N : fast)
        for (int inv = 0; inv < 2; inv++) {
            run_case<float>(&rng, N, 3, inv);
            run_case<double>(&rng, N, 2, inv);
        }
    if (qcpu::get_backend() == qcpu::BACKEND_FIBERS)
        for (int64_t N : more) {
            run_case<float>(&rng, N, 2, 0);
            run_case<double>(&rng, N, 1, 1);
        }
}

TEST(test_bad_args)
{
    CHECK_STATUS(qtip_cuda_had_transform_f32(nullptr, 1, 24, nullptr, 5, 0), QTIP_E_PARAM);
    CHECK_STATUS(qtip_cuda_had_transform_f32(nullptr, 1, 36, nullptr, 12, 0), QTIP_E_PARAM);
    CHECK_STATUS(qtip_cuda_had_transform_f32(nullptr, 1, 65536, nullptr, 1, 0),
                 QTIP_E_UNSUPPORTED);
    /* 2 N doubles of 172 * 128: beyond the shared memory of a block */
    static const int8_t hk[1] = {1}; /* not read: the size check comes first */
    CHECK_STATUS(qtip_cuda_had_transform_f64(nullptr, 1, 172 * 128, hk, 172, 0),
                 QTIP_E_UNSUPPORTED);
}

int main(void)
{
    kernel_test_init();
    RUN(test_sizes);
    RUN(test_bad_args);
    return check_summary();
}
