/*
 * bitshift_gemm.cuh — the fused decode + GEMV of a packed layer on a CUDA device,
 * twin of the CPU matvec (lib/qtip_matvec.h, docs/matvec.md):
 *
 *     y = SV * U_m( Wscale * (Wr @ U_n^T(SU * x)) )          = x @ W_hat^T
 *
 * for every built-in trellis code (HYB, 1MAD, 2MAD, 3INST, LUT; K = 1..4, V = 1
 * or 2, L <= 16, both tile orders) and the E8P codebooks (E8P12, RVQ3, RVQ4).
 * Wr is never materialized in global memory: the codes are read in the packed
 * (m x code_cols) layout as qtip-pack writes them and decoded in registers
 * (batch 1) or one chunk at a time into shared memory (batch 2 .. 32).
 * Device pointers throughout; the caller owns the layer's arrays and x, y.
 */
#ifndef QTIP_KERNELS_BITSHIFT_GEMM_CUH
#define QTIP_KERNELS_BITSHIFT_GEMM_CUH

#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "qtip.h"
#include "core/cuda_plugin.h"
}

/* Create a context on device `dev` for `layer` (qtip_cuda_matvec_create's
 * contract, lib/qtip_matvec.h): checks, uploads the special Hadamard factors and
 * the E8P tables, allocates the rotated-input buffer (32 x n floats). */
qtip_status qtip_cuda_gemm_create(int dev, const qtip_cuda_matvec_layer *layer,
                                  qtip_cuda_gemm **out);

/* y (batch x m) = layer(x) (batch x n), batch 1 .. 32, queued on `stream`. */
qtip_status qtip_cuda_gemm_apply(qtip_cuda_gemm *g, const float *x, float *y, int64_t batch,
                                 void *stream);

void qtip_cuda_gemm_free(qtip_cuda_gemm *g);

/* The middle product alone, bitshift_gemm: Y (batch x m) = Wscale * (Wr X) for
 * the rotated inputs X (batch x n), the codes decoded on the fly. Batch 1: the
 * register-decode GEMV; 2 .. 32: the shared-memory tile path. */
qtip_status qtip_cuda_bitshift_gemm(const qtip_cuda_gemm *g, const float *X, int64_t batch,
                                    float *Y, cudaStream_t stream);

#endif /* QTIP_KERNELS_BITSHIFT_GEMM_CUH */
