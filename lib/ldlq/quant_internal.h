/*
 * quant_private.h — the per-layer artifact's fields, shared by quant_layer.c
 * (which fills them) and layer_artifact.c (which saves, loads and decodes them).
 * Not installed.
 */
#ifndef QTIP_QUANT_PRIVATE_H
#define QTIP_QUANT_PRIVATE_H

#include "core/internal.h"

struct qtip_layer_artifact {
    qtip_quant_params params;
    int64_t m, n;
    char *tensor;
    double proxy_loss, proxy_loss_rotated, damping, seconds;
    float wscale;
    char weights_checksum[64], hessian_checksum[64];
    int refine_count;
    double *refine_losses;
    int64_t code_cols;
    int code_is_i32;
    void *codes; /* m x code_cols, int16 or int32 */
    float *SU, *SV;
    float *tlut;
    size_t tlut_rows, tlut_cols;
};

/* Empty artifact with codes/SU/SV allocated for (m, n) and params. */
qtip_status qtip_layer_artifact_alloc_(const qtip_quant_params *p, int64_t m, int64_t n,
                                       qtip_layer_artifact **out);

/* Columns of the packed code tensor (0 if the shape does not fit the params). */
int64_t qtip_quant_code_cols_(const qtip_quant_params *p, int64_t n);

#endif /* QTIP_QUANT_PRIVATE_H */
