/*
 * rht.cuh — CUDA twin of the fast Hadamard transform over rows (qtip_had_transform_f32,
 * lib/qtip_hadamard.h), sharing its element logic (lib/incoherence/hadamard_kernel.h) so that GPU
 * and CPU give the same bits. Device pointers; the caller owns them.
 */
#ifndef QTIP_KERNELS_RHT_CUH
#define QTIP_KERNELS_RHT_CUH

#include <cuda_runtime.h>
#include <stdint.h>

/* Dynamic shared memory one row may use: sm_90's opt-in limit per block. */
#define QTIP_CUDA_RHT_SMEM_MAX (227 * 1024)

extern "C" {
#include "qtip.h"
}

/* x: rows x N float32 row-major (device), transformed in place: x <- x Had_N^T
 * (inverse = 0) or x Had_N (inverse = 1), N = K * 2^p. HK: the K x K +-1 matrix
 * (device, int8, row-major, from qtip_had_special), NULL when K = 1. One block per
 * row with the row in shared memory: N <= 29056 (2 N floats within 227 KB).
 * QTIP_E_PARAM for inconsistent N, K; QTIP_E_UNSUPPORTED for a larger N;
 * QTIP_E_CUDA if a launch fails. */
qtip_status qtip_cuda_had_transform_f32(float *x, int64_t rows, int64_t N, const int8_t *HK,
                                        int64_t K, int inverse);
/* The same queued on `stream` (the serving path, kernels/bitshift_gemm.cu). */
qtip_status qtip_cuda_had_transform_f32_on(float *x, int64_t rows, int64_t N, const int8_t *HK,
                                           int64_t K, int inverse, cudaStream_t stream);
/* The same on float64 rows (qtip_had_transform_f64's bits): N <= 14528 (2 N doubles
 * within 227 KB; N <= 29056 when K = 1). */
qtip_status qtip_cuda_had_transform_f64(double *x, int64_t rows, int64_t N, const int8_t *HK,
                                        int64_t K, int inverse);

#endif /* QTIP_KERNELS_RHT_CUH */
