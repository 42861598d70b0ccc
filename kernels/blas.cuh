/*
 * blas.cuh — cuBLAS and cuSOLVER for the kernels' host code: the headers (the
 * toolkit's under nvcc, the CPU layer's OpenBLAS/LAPACKE shims in the CPU build,
 * kernels/cpu/cublas_v2.h) and the checks that turn a failed call into QTIP_E_CUDA
 * with the statement and the library's status.
 */
#ifndef QTIP_KERNELS_BLAS_CUH
#define QTIP_KERNELS_BLAS_CUH

#include <cublas_v2.h>
#include <cusolverDn.h>

#include "common.cuh"

#define QTIP_CUBLAS_CHECK(stmt)                                                          \
    do {                                                                                 \
        cublasStatus_t qtip_cublas_e_ = (stmt);                                          \
        if (qtip_cublas_e_ != CUBLAS_STATUS_SUCCESS)                                     \
            return qtip_error(QTIP_E_CUDA, "cublas call '%s' failed: %s (%s)", #stmt,    \
                              cublasGetStatusString(qtip_cublas_e_),                     \
                              cublasGetStatusName(qtip_cublas_e_));                      \
    } while (0)

#define QTIP_CUSOLVER_CHECK(stmt)                                                        \
    do {                                                                                 \
        cusolverStatus_t qtip_cusolver_e_ = (stmt);                                      \
        if (qtip_cusolver_e_ != CUSOLVER_STATUS_SUCCESS)                                 \
            return qtip_error(QTIP_E_CUDA, "cusolver call '%s' failed: status %d", #stmt,  \
                              (int)qtip_cusolver_e_);                                    \
    } while (0)

#endif /* QTIP_KERNELS_BLAS_CUH */
