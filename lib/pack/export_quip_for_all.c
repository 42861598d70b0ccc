/*
 * export_quip_for_all.c — the shape and dtype of QuIP-for-all's `Qidxs` tensor
 * (quipsharp.md 5.1); the bytes themselves come from qtip_e8p_pack_qidxs, the
 * one Qidxs packer, driven by the E8P kinds table.
 */
#include "core/internal.h"

qtip_status qtip_pack_qidxs_shape(qtip_e8p_kind k, int64_t m, int64_t n, int64_t shape[2],
                                  qtip_dtype *dt)
{
    const char *name = qtip_e8p_config_name(k);
    QTIP_RETURN_ERROR_IF(!name, QTIP_E_PARAM, "unknown E8P kind %d", (int)k);
    QTIP_RETURN_ERROR_IF(m <= 0 || n <= 0 || n % 8, QTIP_E_SHAPE,
                         "E8P matrix [%lld, %lld]: in features must be a positive multiple of 8",
                         (long long)m, (long long)n);
    const size_t cols = qtip_e8p_qidxs_cols(k, (size_t)n);
    QTIP_RETURN_ERROR_IF(cols == 0, QTIP_E_SHAPE,
                         "%s: %lld in features do not fill whole Qidxs elements", name,
                         (long long)n);
    shape[0] = m;
    shape[1] = (int64_t)cols;
    *dt = qtip_e8p_qidxs_elem_size(k) == 2 ? QTIP_DT_I16 : QTIP_DT_I32;
    return QTIP_OK;
}
