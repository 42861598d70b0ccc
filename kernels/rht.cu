/*
 * rht.cu — the fast Hadamard transform over rows (rht.cuh), float32 and float64
 * (one template; the float64 form rotates the Hessian in the device layer).
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

/* The element logic per type (hadamard_kernel.h names them by suffix). */
__device__ inline void had_butterfly(float *u, float *v) { qtip_hadk_butterfly_f32(u, v); }
__device__ inline void had_butterfly(double *u, double *v) { qtip_hadk_butterfly_f64(u, v); }
__device__ inline float had_special(const int8_t *HK, int64_t K, int64_t a, int inverse,
                                    const float *x, int64_t stride)
{
    return qtip_hadk_special_f32(HK, K, a, inverse, x, stride);
}
__device__ inline double had_special(const int8_t *HK, int64_t K, int64_t a, int inverse,
                                     const double *x, int64_t stride)
{
    return qtip_hadk_special_f64(HK, K, a, inverse, x, stride);
}
template <class T> __device__ inline T had_scale(int64_t N);
template <> __device__ inline float had_scale<float>(int64_t N) { return qtip_hadk_scale_f32(N); }
template <> __device__ inline double had_scale<double>(int64_t N) { return qtip_hadk_scale_f64(N); }

/* grid rows, block RHT_THREADS, dynamic smem 2 N elements (N when K = 1). */
template <class T>
__global__ void __launch_bounds__(RHT_THREADS)
    had_rows_kernel(T *__restrict__ x, int64_t N, int64_t M, const int8_t *__restrict__ HK,
                    int64_t K, int inverse)
{
    DYN_SHARED(T, buf);
    T *row = x + (int64_t)blockIdx.x * N;
    const int64_t t = threadIdx.x, nt = blockDim.x;
    for (int64_t i = t; i < N; i += nt)
        buf[i] = row[i];
    __syncthreads();
    for (int64_t h = 1; h < M; h *= 2) {
        for (int64_t j = t; j < K * (M / 2); j += nt) {
            const int64_t a = j / (M / 2), i = j % (M / 2);
            const int64_t lo = a * M + qtip_hadk_pair_lo(i, h);
            had_butterfly(&buf[lo], &buf[lo + h]);
        }
        __syncthreads();
    }
    const T s = had_scale<T>(N);
    if (K == 1) {
        for (int64_t i = t; i < N; i += nt)
            row[i] = buf[i] * s;
        return;
    }
    T *tmp = buf + N;
    for (int64_t e = t; e < N; e += nt) {
        const int64_t a = e / M, b = e % M;
        tmp[e] = had_special(HK, K, a, inverse, buf + b, M);
    }
    /* every thread reads and writes only its own elements of tmp: no barrier needed */
    for (int64_t e = t; e < N; e += nt)
        row[e] = tmp[e] * s;
}

template <class T>
static qtip_status had_transform(T *x, int64_t rows, int64_t N, const int8_t *HK, int64_t K,
                                 int inverse, cudaStream_t stream)
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
    const size_t smem = (size_t)N * sizeof(T) * (K > 1 ? 2 : 1);
    QTIP_RETURN_ERROR_IF(smem > QTIP_CUDA_RHT_SMEM_MAX, QTIP_E_UNSUPPORTED,
                         "hadamard transform of length %lld (%zu-byte elements): needs %zu "
                         "bytes of shared memory, the kernel supports at most %zu",
                         (long long)N, sizeof(T), smem, (size_t)QTIP_CUDA_RHT_SMEM_MAX);
    QTIP_RETURN_ERROR_IF(rows > 0x7fffffff, QTIP_E_UNSUPPORTED,
                         "hadamard transform of %lld rows: at most 2^31-1 per call",
                         (long long)rows);
    if (rows == 0)
        return QTIP_OK;
    if (smem > 48 * 1024)
        QTIP_CUDA_CHECK(cudaFuncSetAttribute(had_rows_kernel<T>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)smem));
    LAUNCH(had_rows_kernel<T>, dim3((unsigned)rows), dim3(RHT_THREADS), smem, stream, x, N, M, HK,
           K, inverse);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}

qtip_status qtip_cuda_had_transform_f32(float *x, int64_t rows, int64_t N, const int8_t *HK,
                                        int64_t K, int inverse)
{
    return had_transform(x, rows, N, HK, K, inverse, (cudaStream_t)0);
}

qtip_status qtip_cuda_had_transform_f32_on(float *x, int64_t rows, int64_t N, const int8_t *HK,
                                           int64_t K, int inverse, cudaStream_t stream)
{
    return had_transform(x, rows, N, HK, K, inverse, stream);
}

qtip_status qtip_cuda_had_transform_f64(double *x, int64_t rows, int64_t N, const int8_t *HK,
                                        int64_t K, int inverse)
{
    return had_transform(x, rows, N, HK, K, inverse, (cudaStream_t)0);
}
