/*
 * hessian.cuh — CUDA twin of the Hessian accumulation in lib/ (qtip_hessian_add_rows):
 * S += X^T X in float64 and the column sums, for one batch of rows on the device.
 * All pointers are device pointers; the caller owns them. Built for the GPU by nvcc
 * and for the CPU tests by g++ through the execution layer (docs/kernels.md).
 */
#ifndef QTIP_KERNELS_HESSIAN_CUH
#define QTIP_KERNELS_HESSIAN_CUH

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

extern "C" {
#include "qtip.h"
}

/* Rows of X per shared-memory tile, and the S tile edge (the block is TILE x TILE). */
#define QTIP_CUDA_HESSIAN_TILE 16

/* X: rows x n float32, row-major. S: n x n float64, row-major; the lower triangle
 * (i >= j) gets S[i][j] += sum_r X[r][i] * X[r][j], the rest is left untouched.
 * mu: n float64, mu[i] += sum_r X[r][i] (may be NULL). Each entry is summed over the
 * rows in order, then added once, so the result is the plain C double loop's bit for
 * bit. QTIP_E_PARAM for negative sizes, QTIP_E_CUDA if a launch fails. */
qtip_status qtip_cuda_hessian_accumulate(const float *X, int64_t rows, int64_t n, double *S,
                                         double *mu);

/* The plugin's upload path (kernels/plugin.cu): a block of rows already converted
 * to float64 on the host goes over the bus as float32 when that is exact (every
 * f32/f16/bf16 input), halving the transfer, and is widened back on the device.
 *
 * Host: y[k] = (float)x[k] for k < count; returns 1 when every value round-trips
 * ((double)y[k] == x[k] with the same sign of zero), 0 at the first that does not
 * (y is then partly written). */
int qtip_cuda_hessian_narrow(const double *x, size_t count, float *y);

/* Device: y[k] = (double)x[k] for k < count (x float32, y float64, device
 * pointers, not overlapping), exact; on `stream`. QTIP_E_CUDA if the launch fails. */
qtip_status qtip_cuda_hessian_widen(const float *x, size_t count, double *y, cudaStream_t stream);

#endif /* QTIP_KERNELS_HESSIAN_CUH */
