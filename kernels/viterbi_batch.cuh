/*
 * viterbi_batch.cuh — the Viterbi kernel (viterbi.cuh) behind a handle that owns the
 * device buffers: a codebook's value tables, uploaded once, and back-pointer scratch
 * for batches of tiles. Host pointers in and out. The plugin's viterbi_* entries
 * (lib/core/cuda_plugin.h) are these; the CPU execution layer runs them in CI.
 */
#ifndef QTIP_KERNELS_VITERBI_BATCH_CUH
#define QTIP_KERNELS_VITERBI_BATCH_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "qtip.h"
}

typedef struct qtip_cuda_viterbi qtip_cuda_viterbi;

/* On device dev: vals (V planes of 2^L floats) and norm (2^L floats), the library's
 * tables (trellis_internal.h), copied. Scratch for batches of up to max_tiles tiles;
 * when the device lacks the memory, smaller batches (halving down to one tile), not
 * a failure. QTIP_E_PARAM / QTIP_E_UNSUPPORTED as qtip_cuda_viterbi_quantize says,
 * QTIP_E_CUDA when even one tile does not fit or a call fails. */
qtip_status qtip_cuda_viterbi_create(int dev, const qtip_trellis_params *p, const float *vals,
                                     const float *norm, size_t max_tiles, qtip_cuda_viterbi **out);
/* Tiles per launch that the scratch holds. */
size_t qtip_cuda_viterbi_batch(const qtip_cuda_viterbi *v);
/* Give device memory back: batches of at most half as many tiles (halving further
 * while the smaller scratch does not fit either). QTIP_E_NOMEM at one tile already. */
qtip_status qtip_cuda_viterbi_shrink(qtip_cuda_viterbi *v);
/* seq: nseq x T finite floats (host) -> states: nseq x S (host), in batches. */
qtip_status qtip_cuda_viterbi_run(qtip_cuda_viterbi *v, const float *seq, size_t nseq,
                                  uint32_t *states);
/* The same with device buffers: dseq (nseq x T) -> dstates (nseq x S), batches of
 * qtip_cuda_viterbi_batch tiles, no copies (the device layer, layer_quant.cu). */
qtip_status qtip_cuda_viterbi_run_device(qtip_cuda_viterbi *v, const float *dseq, size_t nseq,
                                         uint32_t *dstates);
/* The codebook as the handle holds it: its parameters and the device value table
 * (V planes of 2^L floats). */
const qtip_trellis_params *qtip_cuda_viterbi_params(const qtip_cuda_viterbi *v);
const float *qtip_cuda_viterbi_device_vals(const qtip_cuda_viterbi *v);
int qtip_cuda_viterbi_device(const qtip_cuda_viterbi *v);
void qtip_cuda_viterbi_free(qtip_cuda_viterbi *v);

#endif /* QTIP_KERNELS_VITERBI_BATCH_CUH */
