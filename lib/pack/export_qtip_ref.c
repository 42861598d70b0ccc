/*
 * export_qtip_ref.c — the QTIP reference's layouts (qtip.md 6.1, 6.2): per-tile
 * streams and the kernel byte swizzle, from our canonical words.
 */
#include "core/internal.h"

static qtip_status check_dims(int64_t m, int64_t n, int K, int64_t mult)
{
    QTIP_RETURN_ERROR_IF(K < 1 || K > 8, QTIP_E_PARAM, "trellis K = %d, expected 1..8", K);
    QTIP_RETURN_ERROR_IF(m <= 0 || n <= 0 || m % mult || n % mult, QTIP_E_SHAPE,
                         "trellis matrix [%lld, %lld] is not a multiple of %lld in both "
                         "dimensions", (long long)m, (long long)n, (long long)mult);
    return QTIP_OK;
}

/* 16 x 16 tiles at K bits: the canonical layout's tile words (trellis_layout.c). */
static qtip_trellis_params tile16(int K)
{
    qtip_trellis_params p = qtip_trellis_default_params();
    p.K = K;
    return p;
}

qtip_status qtip_pack_trellis_to_tiles(const uint16_t *codes, int64_t m, int64_t n, int K,
                                       uint16_t *tiles)
{
    QTIP_FORWARD_IF_ERROR(check_dims(m, n, K, 16));
    const qtip_trellis_params p = tile16(K);
    const int64_t tc = n / 16, tw = 16 * (int64_t)K;
    for (int64_t R = 0; R < m / 16; R++)
        for (int64_t C = 0; C < tc; C++)
            qtip_trellis_get_tile(&p, codes, n * K / 16, R, C, tiles + (R * tc + C) * tw);
    return QTIP_OK;
}

/* Byte b (MSB-first stream order) of a tile's stream. */
static inline uint8_t stream_byte(const uint16_t *t, int64_t b)
{
    uint16_t w = t[b >> 1];
    return (uint8_t)((b & 1) ? (w & 0xFF) : (w >> 8));
}

/* Byte offset of lane q's chunk of tile (R, C) in the swizzled array (qtip.md 6.2). */
static inline int64_t chunk_offset(int64_t R, int64_t C, int64_t n, int q, int K)
{
    int64_t R2 = R >> 1, r = R & 1, C2 = C >> 1, c = C & 1;
    return (R2 * (n / 32) + C2) * (128 * (int64_t)K) + (int64_t)q * 4 * K + (2 * c + r) * K;
}

qtip_status qtip_pack_trellis_kernel_swizzle(const uint16_t *tiles, int64_t m, int64_t n, int K,
                                             int16_t *out)
{
    QTIP_FORWARD_IF_ERROR(check_dims(m, n, K, 32));
    QTIP_RETURN_ERROR_IF(K < 2 || K > 4, QTIP_E_PARAM,
                         "kernel layout needs K in 2..4, found %d", K);
    uint8_t *ob = (uint8_t *)out;
    int64_t tc = n / 16, tw = 16 * (int64_t)K;
    for (int64_t R = 0; R < m / 16; R++)
        for (int64_t C = 0; C < tc; C++) {
            const uint16_t *t = tiles + (R * tc + C) * tw;
            for (int q = 0; q < 32; q++) {
                int64_t off = chunk_offset(R, C, n, q, K);
                /* little-endian: the chunk's first stream byte is the most significant */
                for (int k = 0; k < K; k++)
                    ob[off + k] = stream_byte(t, (int64_t)q * K + (K - 1 - k));
            }
        }
    return QTIP_OK;
}

/* --- the inverses, for qtip-verify of an exported directory ------------------------ */

qtip_status qtip_pack_trellis_from_tiles(const uint16_t *tiles, int64_t m, int64_t n, int K,
                                         uint16_t *codes)
{
    QTIP_FORWARD_IF_ERROR(check_dims(m, n, K, 16));
    const qtip_trellis_params p = tile16(K);
    const int64_t tc = n / 16, tw = 16 * (int64_t)K;
    for (int64_t R = 0; R < m / 16; R++)
        for (int64_t C = 0; C < tc; C++)
            qtip_trellis_put_tile(&p, codes, n * K / 16, R, C, tiles + (R * tc + C) * tw);
    return QTIP_OK;
}

qtip_status qtip_pack_trellis_kernel_unswizzle(const int16_t *in, int64_t m, int64_t n, int K,
                                               uint16_t *tiles)
{
    QTIP_FORWARD_IF_ERROR(check_dims(m, n, K, 32));
    QTIP_RETURN_ERROR_IF(K < 2 || K > 4, QTIP_E_PARAM,
                         "kernel layout needs K in 2..4, found %d", K);
    const uint8_t *ib = (const uint8_t *)in;
    int64_t tc = n / 16, tw = 16 * (int64_t)K;
    for (int64_t R = 0; R < m / 16; R++)
        for (int64_t C = 0; C < tc; C++) {
            uint16_t *t = tiles + (R * tc + C) * tw;
            for (int q = 0; q < 32; q++) {
                int64_t off = chunk_offset(R, C, n, q, K);
                for (int k = 0; k < K; k++) {
                    /* stream byte b = q*K + (K-1-k), MSB-first within its word */
                    int64_t b = (int64_t)q * K + (K - 1 - k);
                    uint16_t *w = &t[b >> 1];
                    *w = (b & 1) ? (uint16_t)((*w & 0xFF00) | ib[off + k])
                                 : (uint16_t)((*w & 0x00FF) | (ib[off + k] << 8));
                }
            }
        }
    return QTIP_OK;
}
