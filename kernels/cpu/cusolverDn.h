/*
 * cusolverDn.h (CPU shim) — the cuSOLVER dense entry points the kernels' host code
 * calls, backed by LAPACKE (cuda_cpu_blas.cpp); see cublas_v2.h for the rules.
 * cusolverDnDpotrf calls LAPACKE_dpotrf(LAPACK_COL_MAJOR, ...) on the device buffer
 * and writes LAPACK's info to the device integer devInfo, as cuSOLVER does.
 */
#ifndef QTIP_CPU_CUSOLVERDN_SHIM_H
#define QTIP_CPU_CUSOLVERDN_SHIM_H

#include "cublas_v2.h"

typedef enum {
    CUSOLVER_STATUS_SUCCESS = 0,
    CUSOLVER_STATUS_NOT_INITIALIZED = 1,
    CUSOLVER_STATUS_ALLOC_FAILED = 2,
    CUSOLVER_STATUS_INVALID_VALUE = 3,
    CUSOLVER_STATUS_EXECUTION_FAILED = 6,
} cusolverStatus_t;

typedef struct qcpu_cusolver_context *cusolverDnHandle_t;

cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t *handle);
cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t handle);
cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t handle, cudaStream_t stream);

/* Cholesky of the n x n column-major A (uplo triangle), in place. */
cusolverStatus_t cusolverDnDpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t uplo,
                                             int n, double *A, int lda, int *Lwork);
cusolverStatus_t cusolverDnDpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n,
                                  double *A, int lda, double *Workspace, int Lwork, int *devInfo);

#endif /* QTIP_CPU_CUSOLVERDN_SHIM_H */
