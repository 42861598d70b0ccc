/*
 * layer_quant.cuh — one linear layer's trellis quantization on the device: the twin
 * of the CPU pipeline's middle (lib/ldlq/quant_layer.c: RHT, damping + block LDL,
 * Wscale, BlockLDLQ with the trellis quantizer; lib/ldlq/ldl.c, lib/ldlq/ldlq.c),
 * giving the same codes on the CPU execution layer (tested) and on a GPU up to the
 * order in which cuBLAS / cuSOLVER sum (docs/kernels.md, "The layer on the device").
 * Host buffers in and out (qtip_cuda_layer_io); everything between stays on the
 * device. The plugin's layer_quantize entry is this function. Design: layer_quant.cu.
 */
#ifndef QTIP_KERNELS_LAYER_QUANT_CUH
#define QTIP_KERNELS_LAYER_QUANT_CUH

#include "viterbi_batch.cuh"

extern "C" {
#include "core/cuda_plugin.h"
}

/* v: the codebook's device Viterbi (its td_x x td_y tiles; b = td_y is the LDL
 * block). m a multiple of td_x, n of td_y; m, n transform lengths of the RHT kernel. */
qtip_status qtip_cuda_layer_quantize(qtip_cuda_viterbi *v, const qtip_cuda_layer_args *a,
                                     qtip_cuda_layer_io *io);

#endif /* QTIP_KERNELS_LAYER_QUANT_CUH */
