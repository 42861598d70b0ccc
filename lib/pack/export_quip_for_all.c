/*
 * export_quip_for_all.c — QuIP-for-all's `Qidxs` from our canonical E8P codes
 * (quipsharp.md 5.1).
 */
#include "core/internal.h"

#include <string.h>

qtip_status qtip_pack_qidxs_shape(qtip_e8p_kind k, int64_t m, int64_t n, int64_t shape[2],
                                  qtip_dtype *dt)
{
    QTIP_RETURN_ERROR_IF(m <= 0 || n <= 0 || n % 8, QTIP_E_SHAPE,
                         "E8P matrix [%lld, %lld]: in features must be a positive multiple of 8",
                         (long long)m, (long long)n);
    shape[0] = m;
    switch (k) {
    case QTIP_E8P12: shape[1] = n / 8; *dt = QTIP_DT_I16; return QTIP_OK;
    case QTIP_E8P12_RVQ4: shape[1] = n / 8; *dt = QTIP_DT_I32; return QTIP_OK;
    case QTIP_E8P12_RVQ3:
        QTIP_RETURN_ERROR_IF(n % 32, QTIP_E_SHAPE,
                             "E8P12RVQ3B needs in features divisible by 32, found %lld",
                             (long long)n);
        shape[1] = 3 * n / 32;
        *dt = QTIP_DT_I32;
        return QTIP_OK;
    }
    return qtip_error(QTIP_E_PARAM, "unknown E8P kind %d", (int)k);
}

qtip_status qtip_pack_e8p_to_qidxs(qtip_e8p_kind k, const uint32_t *codes, int64_t m, int64_t n,
                                   void *out)
{
    int64_t shape[2];
    qtip_dtype dt;
    QTIP_FORWARD_IF_ERROR(qtip_pack_qidxs_shape(k, m, n, shape, &dt));
    int64_t count = m * (n / 8);
    if (k == QTIP_E8P12) {
        uint16_t *o = (uint16_t *)out;
        for (int64_t i = 0; i < count; i++) o[i] = (uint16_t)codes[i];
    } else if (k == QTIP_E8P12_RVQ4) {
        memcpy(out, codes, (size_t)count * sizeof(uint32_t));
    } else {
        /* per block: [resid, e8p_lo, e8p_hi] = the code's 3 little-endian bytes */
        uint8_t *o = (uint8_t *)out;
        int64_t bpr = n / 8, rowbytes = 3 * bpr;
        for (int64_t r = 0; r < m; r++)
            for (int64_t b = 0; b < bpr; b++) {
                uint32_t c = codes[r * bpr + b];
                uint8_t *p = o + r * rowbytes + 3 * b;
                p[0] = (uint8_t)(c & 0xFF);
                p[1] = (uint8_t)((c >> 8) & 0xFF);
                p[2] = (uint8_t)((c >> 16) & 0xFF);
            }
    }
    return QTIP_OK;
}
