/*
 * fp16.h — the one fp16 / bf16 <-> fp32 conversion of the project (QTIP_HD: the
 * C library and the CUDA kernels share it bit for bit; not installed). Written in
 * integer code so that host and device round identically without <cuda_fp16.h>.
 *
 * fp32 -> fp16 / bf16 round to nearest, ties to even, as numpy, torch and a GPU's
 * __float2half_rn do; overflow goes to +-Inf. NaN stays NaN with the sign and the
 * top payload bits kept and the quiet bit set (numpy's rule), so a NaN whose
 * payload sits only in the low bits never turns into Inf. fp16 / bf16 -> fp32 is
 * exact (every half is a float).
 */
#ifndef QTIP_FP16_H
#define QTIP_FP16_H

#include "core/hd.h"

#include <stdint.h>
#include <string.h>

QTIP_HD float qtip_bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

QTIP_HD uint32_t qtip_float_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* IEEE binary16 -> binary32. */
QTIP_HD float qtip_fp16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = ((uint32_t)h >> 10) & 0x1Fu;
    uint32_t man = (uint32_t)h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: man * 2^-24, renormalized */
            uint32_t e = 113;
            while (!(man & 0x400u)) {
                man <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((man & 0x3FFu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    return qtip_bits_to_float(bits);
}

/* binary32 -> binary16, round to nearest, ties to even. */
QTIP_HD uint16_t qtip_float_to_fp16(float f)
{
    uint32_t x = qtip_float_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x1FFu)); /* NaN */
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* >= 65520 (and Inf) to Inf */
    if (ax < 0x38800000u) {                                    /* below 2^-14: subnormal */
        if (ax <= 0x33000000u) return (uint16_t)sign;           /* <= 2^-25 rounds to 0 */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14 .. 24: value / 2^-24 = m * 2^(e-126) */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t h = (ax - 0x38000000u) >> 13; /* rebias 127 -> 15, drop 13 bits */
    uint32_t rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* carry may reach Inf: fine */
    return (uint16_t)(sign | h);
}

/* Round a float to the nearest fp16 value (ties to even), as a float. */
QTIP_HD float qtip_round_fp16(float f) { return qtip_fp16_to_float(qtip_float_to_fp16(f)); }

/* bfloat16 -> binary32: the high half of the float. */
QTIP_HD float qtip_bf16_to_float(uint16_t h) { return qtip_bits_to_float((uint32_t)h << 16); }

/* binary32 -> bfloat16, round to nearest, ties to even; NaN to a quiet NaN. */
QTIP_HD uint16_t qtip_float_to_bf16(float f)
{
    uint32_t x = qtip_float_to_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7FFFu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

#endif /* QTIP_FP16_H */
