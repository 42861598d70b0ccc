/*
 * qtip_trellis.h — QTIP's bitshift trellis codes and the tail-biting Viterbi search.
 * Part of the public API; include "qtip.h", not this file.
 *
 * A sequence of T values (one td_x x td_y tile, T = td_x * td_y) is coded by a
 * circular bitstream of T*K bits; step i (i = 0 .. T/V - 1) reads the L-bit window
 * starting at bit i*K*V (MSB first, wrapping around), and the code function maps
 * that state to V values. Bitstreams are stored as T*K/16 uint16 words, word 0
 * holding bits 0..15 with bit 0 as its most significant bit.
 */
#ifndef QTIP_TRELLIS_H
#define QTIP_TRELLIS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pinned values. */
typedef enum {
    QTIP_CODE_1MAD = 0,
    QTIP_CODE_2MAD = 1,
    QTIP_CODE_3INST = 2,
    QTIP_CODE_LUT = 3,   /* pure lookup table of 2^L entries */
    QTIP_CODE_HYB = 4,   /* quantlut_sym: Q-bit LUT of V=2 vectors with a sign bit */
} qtip_code;

/* Name as the reference's decode_mode spells it ("1mad", "2mad", "3inst", "lut",
 * "quantlut_sym"); parse accepts those and "hyb"; returns -1 if unknown. */
const char *qtip_code_name(qtip_code c);
int qtip_code_from_name(const char *name);

typedef struct {
    int L;          /* state bits, 8..16 */
    int K;          /* bits per weight, 1..4 */
    int V;          /* values per step, 1 or 2 */
    int Q;          /* tlut_bits: 9 for HYB, L for LUT, 0 otherwise */
    qtip_code code;
    int td_x, td_y; /* tile: rows (output dim) x cols (input dim); T = td_x * td_y */
} qtip_trellis_params;

/* Defaults: L=16, K=2, V=2, Q=9, HYB, 16 x 16 (the released models' setting). */
qtip_trellis_params qtip_trellis_default_params(void);
/* QTIP_E_PARAM with a message naming the bad field for invalid combinations. */
qtip_status qtip_trellis_check_params(const qtip_trellis_params *p);

typedef struct qtip_trellis qtip_trellis;

/* Build the codebook: the value table of all 2^L states (and, for HYB/LUT, the
 * table `tlut` from k-means on Gaussian samples with a fixed seed). */
qtip_status qtip_trellis_create(const qtip_trellis_params *p, qtip_trellis **out);
/* Same, with a given tlut (HYB: 2^Q x V floats; LUT: 2^L x V), e.g. read from a layer. */
qtip_status qtip_trellis_create_with_lut(const qtip_trellis_params *p, const float *tlut,
                                         qtip_trellis **out);
void qtip_trellis_free(qtip_trellis *t);

const qtip_trellis_params *qtip_trellis_get_params(const qtip_trellis *t);
/* The V values of `state` (0 <= state < 2^L). */
void qtip_trellis_state_values(const qtip_trellis *t, uint32_t state, float *out);
/* The tlut (NULL for pure-compute codes); *count = number of floats. */
const float *qtip_trellis_lut(const qtip_trellis *t, size_t *count);

/* Words of one tile's bitstream: T*K/16. */
size_t qtip_trellis_words_per_tile(const qtip_trellis_params *p);

/* Quantize `nseq` sequences of T values each (row-major, nseq x T).
 * bits: nseq x words_per_tile uint16; recon (may be NULL): nseq x T values decoded
 * from `bits`. Tail-biting: every emitted bitstream is a consistent circular stream.
 * Deterministic; multithreaded over sequences; same result on any thread count. */
qtip_status qtip_trellis_quantize(const qtip_trellis *t, const float *seq, size_t nseq,
                                  uint16_t *bits, float *recon);

/* Decode nseq bitstreams into nseq x T values. */
qtip_status qtip_trellis_decode(const qtip_trellis *t, const uint16_t *bits, size_t nseq,
                                float *out);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_TRELLIS_H */
