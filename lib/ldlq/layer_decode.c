/*
 * layer_decode.c — the one decoder of a layer's codes (qtip_layer_codes_decode),
 * and the artifact's W_hat through it: decode, times Wscale, inverse RHT (per
 * shard on a tensor-parallel layer's sharded side).
 */
#include "ldlq/quant_internal.h"

#include <math.h>

qtip_status qtip_layer_codes_decode(const qtip_quant_params *p, const float *tlut,
                                    const void *codes, int64_t m, int64_t n, float *Wr)
{
    QTIP_RETURN_ERROR_IF(!p || !codes || !Wr, QTIP_E_PARAM, "cannot decode layer codes: null argument");
    QTIP_FORWARD_IF_ERROR(qtip_quant_check_params(p));
    const qtip_method_ops *ops = qtip_method_ops_(p->method);
    QTIP_RETURN_ERROR_IF(m <= 0 || n <= 0 || ops->code_cols(p, n) <= 0, QTIP_E_SHAPE,
                         "cannot decode layer codes: shape [%lld, %lld] does not fit the code layout",
                         (long long)m, (long long)n);
    QTIP_FORWARD_IF_ERROR(ops->check_shape(p, m, n));
    return ops->decode(p, tlut, codes, m, n, Wr);
}

qtip_status qtip_layer_artifact_decode_rotated(const qtip_layer_artifact *a, float *Wr_hat)
{
    return qtip_layer_codes_decode(&a->params, a->tlut, a->codes, a->m, a->n, Wr_hat);
}

qtip_status qtip_layer_artifact_decode(const qtip_layer_artifact *a, float *What)
{
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_decode_rotated(a, What));
    size_t mn = (size_t)a->m * (size_t)a->n;
    for (size_t i = 0; i < mn; i++) What[i] *= a->wscale;
    int64_t out_blocks, in_blocks;
    qtip_tp_blocks(&a->params, &out_blocks, &in_blocks);
    QTIP_FORWARD_IF_ERROR(qtip_rht_weight_inverse_blocks(What, a->m, a->n, a->SU, a->SV, out_blocks, in_blocks));
    /* a finite but huge Wscale (e.g. from a damaged file) overflows to Inf */
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(What[i]), QTIP_E_NONFINITE,
                             "layer '%s': decoded weight %zu is not finite (Wscale %g)", a->tensor,
                             i, (double)a->wscale);
    return QTIP_OK;
}
