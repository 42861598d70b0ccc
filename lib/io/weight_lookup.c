/*
 * weight_lookup.c — a layer's weight by tensor or layer name (weight_lookup_internal.h).
 */
#include "io/weight_lookup_internal.h"

#include <string.h>

qtip_status qtip_st_find_weight_(const qtip_st_file *f, const char *path, const char *tensor,
                                 char *used, size_t cap, const qtip_tensor_view **out)
{
    *out = NULL;
    /* a name that does not fit would be looked up truncated: another tensor */
    QTIP_RETURN_ERROR_IF(strlen(tensor) + sizeof ".weight" > cap, QTIP_E_PARAM,
                         "cannot read '%s': tensor name '%.64s...' is longer than %zu bytes", path,
                         tensor, cap - sizeof ".weight");
    snprintf(used, cap, "%s", tensor);
    *out = qtip_st_find(f, used);
    if (*out) return QTIP_OK;
    snprintf(used, cap, "%s.weight", tensor);
    *out = qtip_st_find(f, used);
    QTIP_RETURN_ERROR_IF(!*out, QTIP_E_NOT_FOUND, "cannot read '%s': no tensor '%s' (nor '%s.weight')",
                         path, tensor, tensor);
    return QTIP_OK;
}
