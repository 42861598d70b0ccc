/*
 * rht.cu — the fast Hadamard transform over rows (rht.cuh).
 *
 * Design: one block per row; the row (N = K * M floats) and a second buffer for the
 * H_K step live in dynamic shared memory. Each butterfly stage h = 1 .. M/2 is
 * K * M / 2 independent butterflies spread over the block, a barrier between stages;
 * then every element's H_K combination (qtip_hadk_special_f32, ascending c) and the
 * scale. The order of float operations per element is the one lib/incoherence/hadamard_kernel.h
 * defines, so the result equals qtip_had_transform_f32 bit for bit (--fmad=false).
 */
#include "common.cuh"
#include "rht.cuh"

#include "incoherence/hadamard_kernel.h"

#define RHT_THREADS 256

/* grid rows, block RHT_THREADS, dynamic smem 2 N floats (N when K = 1). */
__global__ void __launch_bounds__(RHT_THREADS)
    had_rows_kernel(float *__restrict__ x, int64_t N, int64_t M, const int8_t *__restrict__ HK,
                    int64_t K, int inverse)
{
    DYN_SHARED(float, buf);
    float *row = x + (int64_t)blockIdx.x * N;
    const int64_t t = threadIdx.x, nt = blockDim.x;
    for (int64_t i = t; i < N; i += nt)
        buf[i] = row[i];
    __syncthreads();
    for (int64_t h = 1; h < M; h *= 2) {
        for (int64_t j = t; j < K * (M / 2); j += nt) {
            const int64_t a = j / (M / 2), i = j % (M / 2);
            const int64_t lo = a * M + qtip_hadk_pair_lo(i, h);
            qtip_hadk_butterfly_f32(&buf[lo], &buf[lo + h]);
        }
        __syncthreads();
    }
    const float s = qtip_hadk_scale_f32(N);
    if (K == 1) {
        for (int64_t i = t; i < N; i += nt)
            row[i] = buf[i] * s;
        return;
    }
    float *tmp = buf + N;
    for (int64_t e = t; e < N; e += nt) {
        const int64_t a = e / M, b = e % M;
        tmp[e] = qtip_hadk_special_f32(HK, K, a, inverse, buf + b, M);
    }
    /* every thread reads and writes only its own elements of tmp: no barrier needed */
    for (int64_t e = t; e < N; e += nt)
        row[e] = tmp[e] * s;
}

qtip_status qtip_cuda_had_transform_f32(float *x, int64_t rows, int64_t N, const int8_t *HK,
                                        int64_t K, int inverse)
{
    QTIP_RETURN_ERROR_IF(rows < 0 || N < 1 || K < 1 || N % K != 0, QTIP_E_PARAM,
                         "hadamard transform of %lld rows of length %lld with special order "
                         "%lld: sizes inconsistent",
                         (long long)rows, (long long)N, (long long)K);
    const int64_t M = N / K;
    QTIP_RETURN_ERROR_IF((M & (M - 1)) != 0, QTIP_E_PARAM,
                         "hadamard transform of length %lld: %lld / %lld is not a power of two",
                         (long long)N, (long long)N, (long long)K);
    QTIP_RETURN_ERROR_IF(K > 1 && !HK, QTIP_E_PARAM,
                         "hadamard transform of length %lld: no H_%lld matrix given",
                         (long long)N, (long long)K);
    const size_t smem = (size_t)N * sizeof(float) * (K > 1 ? 2 : 1);
    QTIP_RETURN_ERROR_IF(smem > 227 * 1024, QTIP_E_UNSUPPORTED,
                         "hadamard transform of length %lld: needs %zu bytes of shared memory, "
                         "the kernel supports at most 232448",
                         (long long)N, smem);
    QTIP_RETURN_ERROR_IF(rows > 0x7fffffff, QTIP_E_UNSUPPORTED,
                         "hadamard transform of %lld rows: at most 2^31-1 per call",
                         (long long)rows);
    if (rows == 0)
        return QTIP_OK;
    if (smem > 48 * 1024)
        QTIP_CUDA_CHECK(cudaFuncSetAttribute(had_rows_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)smem));
    LAUNCH(had_rows_kernel, dim3((unsigned)rows), dim3(RHT_THREADS), smem, 0, x, N, M, HK, K,
           inverse);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}
