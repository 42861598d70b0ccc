/*
 * matvec_flat.c — qtip_matvec_create from plain values (qtip_matvec.h), so that
 * a foreign-function caller (python/qtip/cpu_matvec.py) never lays out
 * qtip_layer_info or qtip_quant_params itself: the library fills its own
 * structures, and a field added to them cannot be read as garbage.
 */
#include "matvec/matvec_internal.h"

#include <string.h>

/* The method and parameters a code name stands for (matvec_internal.h). */
qtip_status qtip_mv_params_of_code(const char *code, int L, int K, int V, int Q, int td_x, int td_y,
                             qtip_quant_params *p)
{
    const int trellis_code = qtip_code_from_name(code), e8p = qtip_e8p_from_name(code);
    QTIP_RETURN_ERROR_IF(trellis_code < 0 && e8p < 0, QTIP_E_PARAM,
                         "matvec: '%s' is neither a trellis decode_mode nor an E8P codebook", code);
    if (trellis_code < 0) {
        *p = qtip_quant_default_params(QTIP_METHOD_E8P);
        p->e8p = (qtip_e8p_kind)e8p;
        return QTIP_OK;
    }
    *p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    p->trellis.code = (qtip_code)trellis_code;
    p->trellis.L = L;
    p->trellis.K = K;
    p->trellis.V = V;
    p->trellis.Q = Q;
    p->trellis.td_x = td_x;
    p->trellis.td_y = td_y;
    return QTIP_OK;
}

qtip_status qtip_matvec_create_flat(const char *tensor, const char *code, int L, int K, int V,
                                    int Q, int td_x, int td_y, int64_t m, int64_t n,
                                    const void *codes, int64_t code_cols, int code_is_i32,
                                    const float *SU, const float *SV, float wscale,
                                    const float *tlut, int64_t tlut_rows, int64_t tlut_cols,
                                    qtip_matvec **out)
{
    QTIP_RETURN_ERROR_IF(!code || !out || tlut_rows < 0 || tlut_cols < 0, QTIP_E_PARAM,
                         "matvec: null code name or output, or a negative table shape");
    qtip_layer_info l;
    memset(&l, 0, sizeof l);
    QTIP_FORWARD_IF_ERROR(qtip_mv_params_of_code(code, L, K, V, Q, td_x, td_y, &l.params));
    l.m = m;
    l.n = n;
    l.tensor = tensor ? tensor : "";
    l.weights_checksum = l.hessian_checksum = "";
    l.wscale = wscale;
    l.code_cols = code_cols;
    l.code_is_i32 = code_is_i32 != 0;
    l.codes = codes;
    l.SU = SU;
    l.SV = SV;
    l.tlut = tlut;
    l.tlut_rows = (size_t)tlut_rows;
    l.tlut_cols = (size_t)tlut_cols;
    return qtip_matvec_create(&l, out);
}
