/*
 * dtype.c — the dtype table and element conversions.
 *
 * f32 -> f16/bf16 round to nearest, ties to even, as numpy and torch do, so a
 * tensor converted here is bit-identical to one converted there (core/fp16.h,
 * shared with the kernels). Loads go through
 * memcpy: tensor data inside a safetensors mapping need not be aligned.
 */
#include "core/fp16.h"
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

/* The public names of core/fp16.h's conversions (one implementation). */
float qtip_f16_to_f32(uint16_t h) { return qtip_fp16_to_float(h); }
uint16_t qtip_f32_to_f16(float f) { return qtip_float_to_fp16(f); }
float qtip_bf16_to_f32(uint16_t h) { return qtip_bf16_to_float(h); }
uint16_t qtip_f32_to_bf16(float f) { return qtip_float_to_bf16(f); }

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
