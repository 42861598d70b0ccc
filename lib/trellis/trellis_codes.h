/*
 * trellis_codes.h — element logic of the bitshift trellis codes, shared bit for bit
 * by the C library and the CUDA kernels (QTIP_HD; C that is also valid C++).
 *
 * Formulas: qtip.md §1.3 (reference: lib/codebook/bitshift.py). All integer
 * arithmetic is on uint32 modulo 2^32. The fp16 rounding of 3INST and of the
 * tables is core/fp16.h's, shared with the rest of the library.
 */
#ifndef QTIP_TRELLIS_CODES_H
#define QTIP_TRELLIS_CODES_H

#include "core/fp16.h"
#include "core/hd.h"
#include "qtip.h"

#include <math.h>
#include <stdint.h>

/* float32(sqrt(21845)): the std of a sum of four uniform bytes, so 1MAD/2MAD
 * values have unit variance over uniform x. */
#define QTIP_MAD_DIV 147.800537109375f
/* The 3INST mask constant (the reference's "fpmask", 996162400). */
#define QTIP_3INST_MASK 0x3B603B60u
/* HYB (quantlut_sym) table std: sqrt(15/16). */
#define QTIP_HYB_STD 0.9682458365518543

QTIP_HD uint32_t qtip_byte_sum(uint32_t x)
{
    return (x & 0xFFu) + ((x >> 8) & 0xFFu) + ((x >> 16) & 0xFFu) + (x >> 24);
}

/* 1MAD: one LCG step, sum of the four bytes, centred and scaled to unit variance. */
QTIP_HD float qtip_code_1mad(uint32_t s)
{
    uint32_t x = s * 34038481u + 76625530u;
    return (float)((int32_t)qtip_byte_sum(x) - 510) / QTIP_MAD_DIV;
}

/* 2MAD: LCG step, then x += high 32 bits of x * 1664525 (64-bit product). */
QTIP_HD float qtip_code_2mad(uint32_t s)
{
    uint32_t x = s * 264435761u + 1013904223u;
    x = (uint32_t)(((uint64_t)x * 1664525u) >> 32) + x;
    return (float)((int32_t)qtip_byte_sum(x) - 510) / QTIP_MAD_DIV;
}

/* 3INST: LCG step, mask + xor turn each 16-bit half into an fp16 in +-[0.125, 2),
 * and their fp16 sum is the value. The float sum of two such halves is exact, so
 * rounding it to fp16 once equals the fp16 add. Not normalized (RMS 1.2437). */
QTIP_HD float qtip_code_3inst(uint32_t s)
{
    uint32_t x = s * 89226354u + 64248484u;
    uint32_t r = (x & 0x8FFF8FFFu) ^ QTIP_3INST_MASK;
    float hi = qtip_fp16_to_float((uint16_t)(r >> 16));
    float lo = qtip_fp16_to_float((uint16_t)(r & 0xFFFFu));
    return qtip_round_fp16(hi + lo);
}

/* HYB (quantlut_sym) table index of state s: bits 15-Q .. 14 of s*(s+1); the
 * reference hard-codes 16 in this shift for every L. */
QTIP_HD uint32_t qtip_hyb_index(uint32_t s, int Q)
{
    uint32_t p = s * (s + 1u);
    return (p >> (15 - Q)) & ((1u << Q) - 1u);
}

/* HYB sign: bit 15 of s*(s+1); when set, the FIRST of the two values is negated. */
QTIP_HD uint32_t qtip_hyb_neg(uint32_t s)
{
    uint32_t p = s * (s + 1u);
    return (p >> 15) & 1u;
}

/* HYB values of state s from a (2^Q x 2) row-major table. */
QTIP_HD void qtip_code_hyb(uint32_t s, int Q, const float *tlut, float *v0, float *v1)
{
    uint32_t idx = qtip_hyb_index(s, Q);
    float a = tlut[2 * idx];
    *v0 = qtip_hyb_neg(s) ? -a : a;
    *v1 = tlut[2 * idx + 1];
}

/* The built-in codes (qtip_code values 0 .. QTIP_CODE_BUILTIN_COUNT-1) have
 * element logic here; codes registered at run time (trellis_traits.c) have a
 * host function only. */
#define QTIP_CODE_BUILTIN_COUNT 5

/* The V values of state s of a built-in code (the one dispatch shared by the
 * library's builtin traits rows and the CUDA decoder). tlut: HYB 2^Q x 2, LUT
 * 2^L x V, row-major; unused otherwise. */
QTIP_HD void qtip_code_state_values(int code, uint32_t s, int V, int Q, const float *tlut,
                                    float *out)
{
    switch (code) {
    case QTIP_CODE_1MAD: out[0] = qtip_code_1mad(s); break;
    case QTIP_CODE_2MAD: out[0] = qtip_code_2mad(s); break;
    case QTIP_CODE_3INST: out[0] = qtip_code_3inst(s); break;
    case QTIP_CODE_HYB: qtip_code_hyb(s, Q, tlut, &out[0], &out[1]); break;
    default: /* QTIP_CODE_LUT, V = 1 or 2 (its traits row): no loop, so a kernel's
              * out[2] stays in registers (a variable index would put it in
              * local memory) */
        out[0] = tlut[(size_t)s * (size_t)V];
        if (V == 2) out[1] = tlut[(size_t)s * 2u + 1u];
        break;
    }
}

/* The Viterbi's branch cost (viterbi.c, viterbi_fast.c and any device search
 * use this one expression): the cost of a path reaching a state of values
 * (v0, v1) and squared norm n (qtip_trellis_norm) from a predecessor of path cost
 * prev, against a step's targets given as m0 = -2*x0, m1 = -2*x1 (exact):
 *   prev + |v - x|^2 - |x|^2 = fma(v1, m1, fma(v0, m0, n + prev)).
 * Leaving out the per-step constant |x|^2 leaves every comparison between paths
 * of the same steps unchanged (so the search is the same) and costs three
 * operations instead of six; path costs are the squared error minus sum |x|^2
 * (negative for good paths). V = 1: fma(v0, m0, n + prev). */
QTIP_HD float qtip_trellis_branch_cost(float prev, float n, float v0, float m0, float v1, float m1, int V)
{
    float c = fmaf(v0, m0, n + prev);
    return V == 2 ? fmaf(v1, m1, c) : c;
}

/* The squared norm of a state's values as the branch cost wants it (fp32, v0
 * squared first, unfused). */
QTIP_HD float qtip_trellis_norm(float v0, float v1, int V)
{
    float n = v0 * v0;
    return V == 2 ? n + v1 * v1 : n;
}

/* The L-bit state starting at bit `pos` of a circular MSB-first stream of `nwords`
 * uint16 words (16*nwords bits, 16*nwords >= L, L <= 16, pos < 16*nwords). */
QTIP_HD uint32_t qtip_trellis_window(const uint16_t *words, uint32_t nwords, uint32_t pos, int L)
{
    uint32_t a = pos >> 4, b = a + 1u == nwords ? 0u : a + 1u;
    uint32_t x = ((uint32_t)words[a] << 16) | (uint32_t)words[b];
    return (x >> (32u - (pos & 15u) - (uint32_t)L)) & ((1u << L) - 1u);
}

#endif /* QTIP_TRELLIS_CODES_H */
