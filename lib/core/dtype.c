/*
 * dtype.c — the dtype table and element conversions.
 *
 * f32 -> f16/bf16 round to nearest, ties to even, as numpy and torch do, so a
 * tensor converted here is bit-identical to one converted there. Loads go through
 * memcpy: tensor data inside a safetensors mapping need not be aligned.
 */
#include "core/internal.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[QTIP_DT_COUNT_] = {
    [QTIP_DT_F64] = {"F64", 8},  [QTIP_DT_F32] = {"F32", 4},  [QTIP_DT_F16] = {"F16", 2},
    [QTIP_DT_BF16] = {"BF16", 2}, [QTIP_DT_I64] = {"I64", 8}, [QTIP_DT_I32] = {"I32", 4},
    [QTIP_DT_I16] = {"I16", 2},  [QTIP_DT_I8] = {"I8", 1},    [QTIP_DT_U8] = {"U8", 1},
    [QTIP_DT_BOOL] = {"BOOL", 1}, [QTIP_DT_U16] = {"U16", 2}, [QTIP_DT_U32] = {"U32", 4},
    [QTIP_DT_U64] = {"U64", 8},
};

size_t qtip_dtype_size(qtip_dtype dt)
{
    return (unsigned)dt < QTIP_DT_COUNT_ ? dtypes[dt].size : 0;
}

const char *qtip_dtype_name(qtip_dtype dt)
{
    return (unsigned)dt < QTIP_DT_COUNT_ ? dtypes[dt].name : "?";
}

int qtip_dtype_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < QTIP_DT_COUNT_; i++)
        if (strcmp(name, dtypes[i].name) == 0) return i;
    return -1;
}

int qtip_dtype_is_float(qtip_dtype dt)
{
    return dt == QTIP_DT_F64 || dt == QTIP_DT_F32 || dt == QTIP_DT_F16 || dt == QTIP_DT_BF16;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float qtip_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        /* Subnormal: normalize so the leading one becomes the implicit bit. */
        uint32_t e = 0;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            e++;
        }
        return bits_f32(sign | ((113u - e) << 23) | ((mant & 0x3ffu) << 13));
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t qtip_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x1ffu)); /* NaN stays NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to Inf */
    if (a < 0x38800000u) { /* below 2^-14: subnormal f16 (or zero) */
        if (a <= 0x33000000u) return sign; /* <= 2^-25: ties to even give 0 */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* value / 2^-24 = m * 2^(e-126) */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t h = (a - 0x38000000u) >> 13, rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

float qtip_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t qtip_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

#define LOAD_LOOP(T, EXPR)                                                     \
    for (size_t i = 0; i < count; i++) {                                       \
        T v;                                                                   \
        memcpy(&v, s + i * sizeof(T), sizeof(T));                              \
        dst[i] = EXPR;                                                         \
    }

#define CONVERT_BODY(OUT_T)                                                    \
    const unsigned char *s = (const unsigned char *)src;                       \
    switch (dt) {                                                              \
    case QTIP_DT_F64: LOAD_LOOP(double, (OUT_T)v) break;                       \
    case QTIP_DT_F32: LOAD_LOOP(float, (OUT_T)v) break;                        \
    case QTIP_DT_F16: LOAD_LOOP(uint16_t, (OUT_T)qtip_f16_to_f32(v)) break;    \
    case QTIP_DT_BF16: LOAD_LOOP(uint16_t, (OUT_T)qtip_bf16_to_f32(v)) break;  \
    case QTIP_DT_I64: LOAD_LOOP(int64_t, (OUT_T)v) break;                      \
    case QTIP_DT_I32: LOAD_LOOP(int32_t, (OUT_T)v) break;                      \
    case QTIP_DT_I16: LOAD_LOOP(int16_t, (OUT_T)v) break;                      \
    case QTIP_DT_I8: LOAD_LOOP(int8_t, (OUT_T)v) break;                        \
    case QTIP_DT_U8: LOAD_LOOP(uint8_t, (OUT_T)v) break;                       \
    case QTIP_DT_BOOL: LOAD_LOOP(uint8_t, (OUT_T)(v != 0)) break;              \
    case QTIP_DT_U16: LOAD_LOOP(uint16_t, (OUT_T)v) break;                     \
    case QTIP_DT_U32: LOAD_LOOP(uint32_t, (OUT_T)v) break;                     \
    case QTIP_DT_U64: LOAD_LOOP(uint64_t, (OUT_T)v) break;                     \
    default:                                                                   \
        return qtip_error(QTIP_E_PARAM, "cannot convert: unknown dtype %d", (int)dt); \
    }                                                                          \
    return QTIP_OK;

qtip_status qtip_convert_to_f32(qtip_dtype dt, const void *src, size_t count, float *dst)
{
    QTIP_RETURN_ERROR_IF(count && (!src || !dst), QTIP_E_PARAM, "cannot convert: NULL buffer");
    if (dt == QTIP_DT_F32) {
        if (count) memmove(dst, src, count * 4);
        return QTIP_OK;
    }
    CONVERT_BODY(float)
}

qtip_status qtip_convert_to_f64(qtip_dtype dt, const void *src, size_t count, double *dst)
{
    QTIP_RETURN_ERROR_IF(count && (!src || !dst), QTIP_E_PARAM, "cannot convert: NULL buffer");
    if (dt == QTIP_DT_F64) {
        if (count) memmove(dst, src, count * 8);
        return QTIP_OK;
    }
    CONVERT_BODY(double)
}

qtip_status qtip_convert_from_f32(qtip_dtype dt, const float *src, size_t count, void *dst)
{
    QTIP_RETURN_ERROR_IF(count && (!src || !dst), QTIP_E_PARAM, "cannot convert: NULL buffer");
    unsigned char *d = (unsigned char *)dst;
    switch (dt) {
    case QTIP_DT_F32:
        if (count) memmove(dst, src, count * 4);
        break;
    case QTIP_DT_F64:
        for (size_t i = 0; i < count; i++) {
            double v = (double)src[i];
            memcpy(d + 8 * i, &v, 8);
        }
        break;
    case QTIP_DT_F16:
    case QTIP_DT_BF16:
        for (size_t i = 0; i < count; i++) {
            uint16_t v = dt == QTIP_DT_F16 ? qtip_f32_to_f16(src[i]) : qtip_f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &v, 2);
        }
        break;
    default:
        return qtip_error(QTIP_E_UNSUPPORTED, "cannot convert f32 to %s: not a float dtype",
                          qtip_dtype_name(dt));
    }
    return QTIP_OK;
}
