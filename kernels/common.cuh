/*
 * common.cuh — what every kernel file shares: the runtime header (the real one under
 * nvcc, the CPU execution layer's shim in the CPU build), LAUNCH/DYN_SHARED, the
 * library's error model, and QTIP_CUDA_CHECK.
 *
 * Launchers (qtip_cuda_<stage>_<op>) return qtip_status like the rest of libqtip:
 * a failed CUDA call becomes QTIP_E_CUDA with the statement and CUDA's error text.
 */
#ifndef QTIP_KERNELS_COMMON_CUH
#define QTIP_KERNELS_COMMON_CUH

#include <cuda_runtime.h>

#include "launch.cuh"

extern "C" {
#include "core/internal.h"
}

/* Evaluate a CUDA runtime call; on failure set the message and return QTIP_E_CUDA. */
#define QTIP_CUDA_CHECK(stmt)                                                        \
    do {                                                                             \
        cudaError_t qtip_cuda_e_ = (stmt);                                           \
        if (qtip_cuda_e_ != cudaSuccess)                                             \
            return qtip_error(QTIP_E_CUDA, "cuda call '%s' failed: %s (%s)", #stmt,  \
                              cudaGetErrorString(qtip_cuda_e_),                      \
                              cudaGetErrorName(qtip_cuda_e_));                       \
    } while (0)

/* After a LAUNCH: a bad configuration (or, in the CPU build, a reported misuse). */
#define QTIP_CUDA_CHECK_LAUNCH() QTIP_CUDA_CHECK(cudaGetLastError())

static inline unsigned qtip_cuda_blocks(int64_t n, int64_t per_block)
{
    return (unsigned)((n + per_block - 1) / per_block);
}

#endif /* QTIP_KERNELS_COMMON_CUH */
