/*
 * e8p_kernel.h — decode of one E8P12 / E81B code to 8 values, shared by the C
 * library and the CUDA kernels (not installed). Valid C and C++.
 *
 * The E8P12 decode is QuIP-for-all's SWAR trick on the packed abs table
 * (qtip_e8p_packed_abs_table): every byte ends up as 4*v, an odd int8, so the
 * values are exact quarter-integers on either side. docs/algorithms-e8p.md.
 */
#ifndef QTIP_E8P_KERNEL_H
#define QTIP_E8P_KERNEL_H

#include "core/hd.h"

#include <stdint.h>

/* popcount parity of a byte, branch-free and the same on host and device */
QTIP_HD uint32_t qtip_e8p_parity8(uint32_t b)
{
    b ^= b >> 4;
    b ^= b >> 2;
    b ^= b >> 1;
    return b & 1u;
}

/* 16-bit code -> 8 bytes, byte k = 4 * v[PERM[k]] as int8 (PERM = 0,2,1,3,4,6,5,7). */
QTIP_HD uint64_t qtip_e8p_decode8_bytes(uint32_t code, const uint64_t *packed_abs)
{
    uint32_t sb = code & 0xffu;
    uint32_t p = qtip_e8p_parity8(sb);
    uint64_t sv = (uint64_t)(sb ^ p);
    /* bit 7-k of sv lands in the top bit of byte k; no partial products overlap */
    uint64_t neg = ((sv * 0x8040201008040201ull) & 0x8080808080808080ull) >> 7;
    /* b ^ 0xfc == -b for b in {+-2, +-6, +-10}: negates exactly the flagged bytes */
    uint64_t w = packed_abs[(code >> 8) & 0xffu] ^ (neg * 252u);
    w |= 0x0101010101010101ull;              /* +1/4: bytes become odd */
    if (p) w -= 0x0202020202020202ull;       /* -1/2 more; odd bytes >= 3 unsigned: no borrow */
    return w;
}

/* 16-bit E8P12 code -> 8 floats in natural coordinate order. */
QTIP_HD void qtip_e8p_decode8(uint32_t code, const uint64_t *packed_abs, float *out)
{
    uint64_t w = qtip_e8p_decode8_bytes(code, packed_abs);
    const int perm[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int i = 0; i < 8; i++)
        out[i] = (float)(int8_t)(uint8_t)(w >> (8 * perm[i])) * 0.25f;
}

/* E81B index (0..255) -> 8 half-integers in natural coordinate order. */
QTIP_HD void qtip_e81b_decode8(uint32_t idx, const uint32_t *e81b_packed, float *out)
{
    uint32_t w = e81b_packed[idx & 0xffu];
    const int ord[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int k = 0; k < 8; k++) {
        int nib = (int)((w >> (4 * k)) & 0xfu);
        if (nib >= 8) nib -= 16;
        out[ord[k]] = (float)nib * 0.5f;
    }
}

/* RVQ combination of QuIP-for-all's decoder: out_i = q1_i + q2_i * rs (float32,
 * multiply then add; no FMA under -ffp-contract=off / --fmad=false). */
QTIP_HD void qtip_e8p_rvq_combine8(const float *q1, const float *q2, float rs, float *out)
{
    for (int i = 0; i < 8; i++) {
        float t = q2[i] * rs;
        out[i] = q1[i] + t;
    }
}

/* One code of any E8P kind to 8 floats (qtip_e8p.h, "Reconstruction"): the
 * first stage is the 16-bit E8P12 code at bit `shift` (0 for E8P12, 8 for RVQ3,
 * 16 for RVQ4); with shift > 0 the second stage (its low bits: an E81B index
 * when resid_e81b, else a second E8P12 code) is added times rs. */
QTIP_HD void qtip_e8p_decode_code(uint32_t code, int shift, int resid_e81b,
                                  const uint64_t *packed_abs, const uint32_t *e81b_packed,
                                  float rs, float *out)
{
    if (shift == 0) {
        qtip_e8p_decode8(code, packed_abs, out);
        return;
    }
    float q1[8], q2[8];
    qtip_e8p_decode8(code >> shift, packed_abs, q1);
    if (resid_e81b) qtip_e81b_decode8(code & 0xffu, e81b_packed, q2);
    else qtip_e8p_decode8(code & 0xffffu, packed_abs, q2);
    qtip_e8p_rvq_combine8(q1, q2, rs, out);
}

#endif /* QTIP_E8P_KERNEL_H */
