/*
 * viterbi.cuh — CUDA twin of the tail-biting trellis quantization of
 * qtip_trellis_quantize_seq (lib/trellis/trellis_quantize.c, two-pass method): a batch
 * of sequences (tiles) to their paths of states, the same states bit for bit as the
 * CPU fast path (lib/trellis/viterbi_fast.c). Device pointers; the caller owns them.
 * Design: viterbi.cu.
 */
#ifndef QTIP_KERNELS_VITERBI_CUH
#define QTIP_KERNELS_VITERBI_CUH

#include <cuda_runtime.h>

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "qtip.h"
}

/* The largest dynamic shared memory a Viterbi block may use: 160 KiB, so that with
 * the kernel's few static bytes (at most 3 KiB, asserted by the nvcc gate) a block
 * fits sm_80's opt-in limit of 163 KiB (sm_90: 227 KiB). Codebooks that need more
 * (L = 16 with K*V = 1: two 2^15-float rows of group minima) are QTIP_E_UNSUPPORTED
 * on the device. */
#define QTIP_CUDA_VITERBI_SMEM_MAX ((size_t)163840)

/* Dynamic shared memory of one block for codebook p: two rows of 2^(L-KV) group
 * minima (fp32), the tile's T targets and its S states. */
size_t qtip_cuda_viterbi_smem_bytes(const qtip_trellis_params *p);

/* Back-pointer scratch per tile, in uint32 words: S steps x KV bit planes x
 * ceil(2^(L-KV) / 32) words (bit j of a plane = bit q of group j's best k). */
size_t qtip_cuda_viterbi_scratch_words(const qtip_trellis_params *p);

/* Quantize nseq tiles: seq (nseq x T float32) -> states (nseq x S uint32), the
 * path of qtip_trellis_quantize_seq's two-pass tail-biting search.
 * vals: V planes of 2^L fp32 values (plane v at vals + v * 2^L) and norm: 2^L
 * squared norms (qtip_trellis_norm), the library's tables uploaded as they are.
 * bp: nseq x qtip_cuda_viterbi_scratch_words(p) uint32 of scratch.
 * Inputs must be finite (the caller checks, as the CPU path does).
 * QTIP_E_PARAM for invalid parameters, QTIP_E_UNSUPPORTED when the codebook needs
 * more shared memory than QTIP_CUDA_VITERBI_SMEM_MAX, QTIP_E_CUDA if the launch fails. */
qtip_status qtip_cuda_viterbi_quantize(const qtip_trellis_params *p, const float *vals,
                                       const float *norm, const float *seq, size_t nseq,
                                       uint32_t *bp, uint32_t *states, cudaStream_t stream);

#endif /* QTIP_KERNELS_VITERBI_CUH */
