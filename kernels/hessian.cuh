/*
 * hessian.cuh — CUDA twin of the Hessian accumulation in lib/ (qtip_hessian_add_rows):
 * S += X^T X in float64 and the column sums, for one batch of rows on the device.
 * All pointers are device pointers; the caller owns them. Built for the GPU by nvcc
 * and for the CPU tests by g++ through the execution layer (docs/kernels.md).
 */
#ifndef QTIP_KERNELS_HESSIAN_CUH
#define QTIP_KERNELS_HESSIAN_CUH

#include <stdint.h>

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

#endif /* QTIP_KERNELS_HESSIAN_CUH */
