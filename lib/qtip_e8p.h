/*
 * qtip_e8p.h — QuIP#'s E8P12 lattice codebook (2 bits/weight) and its residual
 * variants E8P12RVQ3B (3 bits) and E8P12RVQ4B (4 bits), QuIP-for-all bit layouts.
 * Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 * Algorithms and layouts: docs/algorithms-e8p.md.
 *
 * Units. The codebooks work on "normalized weights": 8 consecutive input columns
 * of one row of the rotated weight matrix, divided by Wscale = RMS(W)/opt_scale,
 * so that the codebook sees values with RMS opt_scale. Codewords and `recon` are
 * in those same units (multiply by Wscale to get weights back).
 *
 * Codes (one uint32_t per 8-vector; bits above the code's width are zero):
 *  - E8P12, 16 bits: c = (a << 8) | sb with a the source-table index and sb the
 *    sign byte; p = popcount(sb) & 1 selects the shift (+1/4 if 0, -1/4 if 1).
 *    Decodes to quarter-integers in [-2.75, 2.75], exactly representable.
 *  - E8P12RVQ3B, 24 bits: c = (e8p << 8) | r, e8p a 16-bit E8P12 code of the
 *    first stage, r an index 0..255 into the E81B residual grid (half-integers).
 *  - E8P12RVQ4B, 32 bits: c = (e8p_main << 16) | e8p_resid, two E8P12 codes.
 *
 * Reconstruction (what `recon` and qtip_e8p_decode produce), with
 * rs = (float)qtip_e8p_opt_resid_scale(kind), i.e. the float nearest 1/2.04 or 1/3.45:
 *    E8P12: recon_i = E8P(c)_i
 *    RVQ3:  recon_i = E8P(c >> 8)_i + E81B(c & 0xff)_i * rs
 *    RVQ4:  recon_i = E8P(c >> 16)_i + E8P(c & 0xffff)_i * rs
 * evaluated in float32, one multiply then one add (no FMA): the formula of
 * QuIP-for-all's decoder (which evaluates it in fp16 on the GPU).
 * The RVQ encoders round x with E8P12 first (q1), then round the residual
 * (x_i - q1_i) / rs (float32) with the second stage.
 *
 * QuIP-for-all's `Qidxs` tensor of a layer with m rows and n inputs (n % 8 == 0):
 * code of row r, column block j (inputs 8j..8j+7, natural order) is codes[r*(n/8)+j].
 *  - E8P12: int16 [m, n/8], the 16-bit pattern (codes >= 0x8000 read as negative).
 *  - RVQ4:  int32 [m, n/8], the 32-bit pattern.
 *  - RVQ3:  int32 [m, 3n/32] (n % 32 == 0): each row's codes as 3 little-endian
 *           bytes [r, e8p_lo, e8p_hi] per block, blocks contiguous, the row's
 *           bytes read as little-endian int32.
 * qtip_e8p_pack_qidxs / qtip_e8p_unpack_qidxs convert (the one Qidxs packer: each
 * code as code_bits/8 little-endian bytes; all three layouts above are that).
 * Names, bits, scales, stages and the Qidxs element come from one kinds table
 * (lib/e8p/e8p.c): adding a kind is a row.
 */
#ifndef QTIP_E8P_H
#define QTIP_E8P_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pinned values. */
typedef enum {
    QTIP_E8P12 = 0,      /* 16-bit codes, 2 bits/weight */
    QTIP_E8P12_RVQ3 = 1, /* 24-bit codes (E8P12 + 1-bit E8 residual), 3 bits/weight */
    QTIP_E8P12_RVQ4 = 2, /* 32-bit codes (E8P12 twice), 4 bits/weight */
} qtip_e8p_kind;

/* "e8p12", "e8p12-rvq3", "e8p12-rvq4"; NULL for an unknown kind. */
const char *qtip_e8p_name(qtip_e8p_kind k);
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* QuIP-for-all's `codebook` config value: "E8P12", "E8P12RVQ3B", "E8P12RVQ4B". */
const char *qtip_e8p_config_name(qtip_e8p_kind k);
#endif /* QTIP_EXPERIMENTAL */
/* Parses both spellings above, ignoring case; -1 if unknown or NULL. */
int qtip_e8p_from_name(const char *name);
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
int qtip_e8p_bits(qtip_e8p_kind k);            /* bits per weight: 2, 3, 4 (0 if unknown) */
int qtip_e8p_code_bits(qtip_e8p_kind k);       /* bits per code: 16, 24, 32 */
float qtip_e8p_opt_scale(qtip_e8p_kind k);     /* target RMS of the inputs: 1.03, 0.98, 1.03 */
/* Multiplier of the residual before the second stage (quip-sharp's view):
 * 0 (no residual stage), 2.04, 3.45. */
float qtip_e8p_resid_scale(qtip_e8p_kind k);
/* QuIP-for-all's `opt_resid_scale` = 1 / resid_scale, as the double to write into
 * quantization_config (0.49019607843137253, 0.2898550724637681); 0 for E8P12.
 * Never write -1 (the reference tool's default): it silently ruins quality. */
double qtip_e8p_opt_resid_scale(qtip_e8p_kind k);

typedef struct qtip_e8p qtip_e8p;
/* Build the search tables of a codebook (about 40 KB). QTIP_E_PARAM for an
 * unknown kind. The object is immutable: share it between threads freely. */
qtip_status qtip_e8p_create(qtip_e8p_kind k, qtip_e8p **out);
void qtip_e8p_free(qtip_e8p *cb);

/* Nearest codeword (stage by stage for RVQ) of each of `count` 8-vectors
 * x (count x 8 floats, normalized units). E8P12 stages use an exact structured
 * search (2 shifts x 256 source vectors x 8 coordinates); the E81B stage scans
 * its 256 points. Distances are compared in double; among codewords at equal
 * distance the smallest code wins, so the result equals an exhaustive scan with
 * that tie rule. codes: count values; recon (may be NULL): count x 8 floats,
 * bit-identical to qtip_e8p_decode(codes). Multithreaded over vectors
 * (qtip_set_threads); the result does not depend on the thread count.
 * QTIP_E_NONFINITE (naming the vector) for NaN or Inf in x; codes and recon
 * are then unspecified. */
qtip_status qtip_e8p_quantize(const qtip_e8p *cb, const float *x, size_t count,
                              uint32_t *codes, float *recon);

/* Decode `count` codes into count x 8 floats (see "Reconstruction" above).
 * QTIP_E_PARAM (naming the index) for a code wider than the kind's code bits. */
qtip_status qtip_e8p_decode(const qtip_e8p *cb, const uint32_t *codes, size_t count,
                            float *out);

/* Columns of the Qidxs tensor for n inputs: n/8 (E8P12, RVQ4) or 3n/32 (RVQ3);
 * 0 if n is not a multiple of 8 (32 for RVQ3). Its element size is
 * qtip_e8p_qidxs_elem_size: 2 (int16) or 4 (int32). */
size_t qtip_e8p_qidxs_cols(qtip_e8p_kind k, size_t n);
size_t qtip_e8p_qidxs_elem_size(qtip_e8p_kind k);

/* codes (m x n/8, row-major) <-> Qidxs bytes (m x qidxs_cols, little-endian
 * elements as the host stores them; the caller owns both buffers).
 * QTIP_E_SHAPE if n does not suit the kind; pack: QTIP_E_PARAM for a code wider
 * than the kind's code bits. */
qtip_status qtip_e8p_pack_qidxs(qtip_e8p_kind k, const uint32_t *codes, size_t m, size_t n,
                                void *qidxs);
qtip_status qtip_e8p_unpack_qidxs(qtip_e8p_kind k, const void *qidxs, size_t m, size_t n,
                                  uint32_t *codes);

/* Runtime constant tables of QuIP-for-all's kernels (static storage, never NULL):
 * grid_packed_abs, 256 entries: byte k of entry a is int8(4 * Ahat[PERM[k]]) with
 *   Ahat = S[a], coordinate 7 negated when sum(S[a]) is odd, PERM = 0,2,1,3,4,6,5,7;
 * e81b packed grid, 256 entries: nibble k = (2 * g[ORD[k]]) & 0xf, ORD = 0,2,4,6,1,3,5,7. */
const uint64_t *qtip_e8p_packed_abs_table(void);
const uint32_t *qtip_e8p_e81b_packed_table(void);
/* Source vector S[a] (a < 256; all entries positive: 0.5, 1.5 or 2.5) into out[8]. */
void qtip_e8p_source_vector(unsigned a, float out[8]);
#endif /* QTIP_EXPERIMENTAL */

#ifdef __cplusplus
}
#endif
#endif /* QTIP_E8P_H */
