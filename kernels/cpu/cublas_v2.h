/*
 * cublas_v2.h (CPU shim) — the few cuBLAS entry points the kernels' host code calls,
 * backed by OpenBLAS (cuda_cpu_blas.cpp), so that the device drivers run in CI
 * without a GPU. First on the include path of the CPU build, like cuda_runtime.h.
 * Only what the project uses: add an entry here when a driver starts calling it.
 *
 * Semantics kept from cuBLAS: column-major operands, device pointers (each matrix
 * argument is checked to lie inside one cudaMalloc allocation; a host pointer is
 * reported), host scalars (CUBLAS_POINTER_MODE_HOST, the default). Calls are
 * synchronous. The shim calls cblas_?gemm with CblasColMajor and the same arguments;
 * OpenBLAS's row-major entry is the column-major one with the operands swapped, so a
 * row-major CPU product and its column-major device twin give the same bits here
 * (on a GPU cuBLAS sums in its own order: docs/kernels.md, "The layer on the device").
 */
#ifndef QTIP_CPU_CUBLAS_V2_SHIM_H
#define QTIP_CPU_CUBLAS_V2_SHIM_H

#include "cuda_cpu.h"

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_FILL_MODE_LOWER = 0, CUBLAS_FILL_MODE_UPPER = 1 } cublasFillMode_t;

typedef struct qcpu_cublas_context *cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t *handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
const char *cublasGetStatusString(cublasStatus_t s);
const char *cublasGetStatusName(cublasStatus_t s);

/* C = alpha op(A) op(B) + beta C, column-major, m x n result, k inner. */
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc);
cublasStatus_t cublasDgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const double *alpha,
                           const double *A, int lda, const double *B, int ldb,
                           const double *beta, double *C, int ldc);

namespace qcpu {
/* Sum in another order, as a GPU library would (default off; env
 * QTIP_CUDA_CPU_BLAS_REORDER=1): gemm splits its inner dimension in two halves
 * (C = A1 B1 + beta C, then C += A2 B2, as a split-K kernel does) and potrf factors
 * the other triangle. The tests use it to check the documented tolerance of a device
 * path whose float order differs from the CPU's. */
void set_blas_reorder(bool on);
bool blas_reorder();
} // namespace qcpu

#endif /* QTIP_CPU_CUBLAS_V2_SHIM_H */
