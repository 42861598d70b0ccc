/*
 * trellis_decode.cuh — CUDA twin of qtip_trellis_decode (lib/qtip_trellis.h): packed
 * bitstream tiles to values, with the code functions of lib/trellis/trellis_codes.h, so the
 * values equal the library's bit for bit. Device pointers; the caller owns them.
 */
#ifndef QTIP_KERNELS_TRELLIS_DECODE_CUH
#define QTIP_KERNELS_TRELLIS_DECODE_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "qtip.h"
}

/* bits: nseq x words_per_tile uint16 (T*K/16 each), out: nseq x T float32.
 * tlut: the table of qtip_trellis_lut (device; HYB 2^Q x 2, LUT 2^L x V), NULL for
 * the pure-compute codes. QTIP_E_PARAM for invalid parameters (as
 * qtip_trellis_check_params says), QTIP_E_CUDA if the launch fails. */
qtip_status qtip_cuda_trellis_decode(const qtip_trellis_params *p, const float *tlut,
                                     const uint16_t *bits, size_t nseq, float *out);

#endif /* QTIP_KERNELS_TRELLIS_DECODE_CUH */
