/*
 * weight_lookup_internal.h — finding a layer's weight in a safetensors file, as
 * qtip-quantize and qtip-incoherence both do (lib/io/weight_lookup.c). Private to
 * libqtip.
 */
#ifndef QTIP_WEIGHT_LOOKUP_INTERNAL_H
#define QTIP_WEIGHT_LOOKUP_INTERNAL_H

#include "core/internal.h"

/* The tensor `tensor` of f (opened from `path`), or `tensor`.weight when `tensor`
 * is a layer name ("model.layers.0.mlp.down_proj"); `used` (cap bytes) receives
 * the name found. QTIP_E_NOT_FOUND, naming the file and both names, when neither
 * exists; QTIP_E_PARAM when the name does not fit in `used`. */
qtip_status qtip_st_find_weight_(const qtip_st_file *f, const char *path, const char *tensor,
                                 char *used, size_t cap, const qtip_tensor_view **out);

#endif /* QTIP_WEIGHT_LOOKUP_INTERNAL_H */
