/*
 * layer_report.c — a layer artifact's settings and results as JSON text (the
 * per-layer summary commands print), method fields through the method's row.
 */
#include "io/io_internal.h"
#include "ldlq/quant_internal.h"

static void add_results(const qtip_layer_info *info, json_t *o)
{
    const qtip_quant_params *p = &info->params;
    json_object_set_new(o, "bits_per_weight", io_json_number(info->bits_per_weight));
    json_object_set_new(o, "proxy_loss", io_json_number(info->proxy_loss));
    json_object_set_new(o, "proxy_loss_rotated", io_json_number(info->proxy_loss_rotated));
    json_t *rl = json_array();
    for (int i = 0; i < info->refine_count; i++)
        json_array_append_new(rl, io_json_number(info->refine_losses[i]));
    json_object_set_new(o, "refine_losses", rl);
    json_object_set_new(o, "sigma_reg", io_json_number(p->sigma_reg));
    json_object_set_new(o, "damping", io_json_number(info->damping));
    json_object_set_new(o, "scale_override", io_json_number(qtip_quant_effective_scale(p)));
    json_object_set_new(o, "wscale", io_json_number(info->wscale));
    json_object_set_new(o, "seed", json_integer((json_int_t)p->seed));
    json_object_set_new(o, "ldlq", json_boolean(p->ldlq));
    json_object_set_new(o, "seconds", io_json_number(info->seconds));
    json_object_set_new(o, "weights_checksum", json_string(info->weights_checksum));
    json_object_set_new(o, "hessian_checksum", json_string(info->hessian_checksum));
}

char *qtip_layer_artifact_json(const qtip_layer_artifact *a)
{
    qtip_layer_info info;
    qtip_layer_artifact_info(a, &info);
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "tensor", json_string(info.tensor));
    json_t *shape = json_array();
    json_array_append_new(shape, json_integer(info.m));
    json_array_append_new(shape, json_integer(info.n));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "method", json_string(qtip_quant_method_name(info.params.method)));
    qtip_method_ops_(info.params.method)->settings_json(&info.params, o);
    qtip_tp_json_(&info.params, o);
    add_results(&info, o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return text;
}
