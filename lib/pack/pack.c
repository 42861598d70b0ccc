/*
 * pack.c — qtip-pack: a complete model directory from the original one and the
 * descriptions of its quantized layers (docs/formats/model-dir.md,
 * docs/formats/exports.md). The formats are rows of lib/pack/export_formats.c;
 * the directory is written by lib/pack/model_writer.c.
 */
#include "io/io_internal.h"
#include "pack/pack_internal.h"
#include "io/model_dir_internal.h"
#include "ldlq/quant_internal.h"

#include <math.h>
#include <string.h>

void qtip_pack_options_default(qtip_pack_options *o)
{
    memset(o, 0, sizeof *o);
    o->format = QTIP_EXPORT_CANONICAL;
    o->max_shard_size = 5ull << 30;
}

int qtip_module_prefix_(const char *name, char *out, size_t cap)
{
    if (!name) name = "";
    size_t l = strlen(name);
    int weight = l > 7 && strcmp(name + l - 7, ".weight") == 0;
    if (weight) l -= 7;
    if (l >= cap) {
        if (cap) out[0] = 0;
        return -1;
    }
    memcpy(out, name, l);
    out[l] = 0;
    return weight;
}


/* The loader-facing settings of a layer (the method row's loader_json); two
 * layers with equal objects may share one quantization_config. */
static json_t *layer_settings(const qtip_layer_info *l) { return qtip_loader_settings_json_(&l->params); }

/* tp_split is no setting: it follows the layer's role (row- or column-parallel). */
static int same_settings(const qtip_layer_info *a, const qtip_layer_info *b)
{
    json_t *x = layer_settings(a), *y = layer_settings(b);
    json_object_del(x, "tp_split");
    json_object_del(y, "tp_split");
    int eq = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

/* Layer i against the model, the format and the layers before it. */
static qtip_status check_layer(const qtip_model_dir *src, const qtip_layer_info *layers, size_t i,
                               const qtip_pack_options *opt, const qtip_export_row *fmt)
{
    const qtip_layer_info *l = &layers[i];
    char pre[1024], wn[1100], p0[1024];
    QTIP_RETURN_ERROR_IF(qtip_module_prefix_(l->tensor, pre, sizeof pre) < 0, QTIP_E_FORMAT,
                         "layer %zu: tensor name longer than %zu bytes", i + 1, sizeof pre - 1);
    QTIP_RETURN_ERROR_IF(!pre[0], QTIP_E_FORMAT, "layer %zu names no tensor", i + 1);
    for (size_t j = 0; j < i; j++) {
        qtip_module_prefix_(layers[j].tensor, p0, sizeof p0);
        QTIP_RETURN_ERROR_IF(strcmp(p0, pre) == 0, QTIP_E_PARAM,
                             "two artifacts for layer '%s' (inputs %zu and %zu)", pre, j + 1, i + 1);
    }
    snprintf(wn, sizeof wn, "%s.weight", pre);
    const qtip_tensor_view *v = qtip_st_find(qtip_model_dir_weights(src), wn);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_NOT_FOUND, "artifact for '%s' has no tensor '%s' in '%s'", pre, wn,
                         qtip_model_dir_path(src));
    QTIP_RETURN_ERROR_IF(v->ndim != 2 || v->shape[0] != l->m || v->shape[1] != l->n, QTIP_E_SHAPE,
                         "artifact for '%s' has shape [%lld, %lld], the model's tensor '%s' has "
                         "[%lld, %lld]", pre, (long long)l->m, (long long)l->n, wn,
                         (long long)v->shape[0], (long long)(v->ndim > 1 ? v->shape[1] : 0));
    QTIP_RETURN_ERROR_IF(!isfinite(l->wscale) || l->wscale == 0, QTIP_E_NONFINITE,
                         "artifact for '%s' has Wscale %g", pre, (double)l->wscale);
    QTIP_RETURN_ERROR_IF(!(fmt->methods & (1u << l->params.method)), QTIP_E_UNSUPPORTED,
                         "layer '%s': the %s export holds %s layers only", pre, fmt->name, fmt->holds);
    QTIP_RETURN_ERROR_IF(l->params.tp_size > 1 && opt->format != QTIP_EXPORT_CANONICAL, QTIP_E_UNSUPPORTED,
                         "layer '%s' was quantized for tensor-parallel degree %d (per-shard Hadamard "
                         "transforms); the %s export has whole-layer transforms only: pack it with "
                         "--format qtip", pre, l->params.tp_size, fmt->name);
    QTIP_FORWARD_IF_ERROR(fmt->check_layer(l, pre));
    qtip_module_prefix_(layers[0].tensor, p0, sizeof p0);
    QTIP_RETURN_ERROR_IF(l->params.tp_size != layers[0].params.tp_size, QTIP_E_PARAM,
                         "artifacts for '%s' and '%s' were quantized for tensor-parallel degrees %d "
                         "and %d: a packed directory is served at one degree", p0, pre,
                         layers[0].params.tp_size, l->params.tp_size);
    if (i == 0 || same_settings(&layers[0], l)) return QTIP_OK;
    QTIP_RETURN_ERROR_IF(!opt->allow_mixed, QTIP_E_PARAM,
                         "artifacts for '%s' and '%s' were made with different settings "
                         "(use --allow-mixed for mixed precision)", p0, pre);
    QTIP_RETURN_ERROR_IF(opt->format != QTIP_EXPORT_CANONICAL, QTIP_E_UNSUPPORTED,
                         "artifacts for '%s' and '%s' were made with different settings; the "
                         "exports hold one setting per model (mixed precision needs --format qtip)",
                         p0, pre);
    return QTIP_OK;
}

static qtip_status check_layers(const qtip_model_dir *src, const qtip_layer_info *layers, size_t nl,
                                const qtip_pack_options *opt, const qtip_export_row *fmt)
{
    for (size_t i = 0; i < nl; i++) QTIP_FORWARD_IF_ERROR(check_layer(src, layers, i, opt, fmt));
    for (size_t i = 0; i < qtip_model_dir_linear_count(src); i++) {
        const char *want = qtip_model_dir_linear(src, i);
        int found = 0;
        for (size_t j = 0; j < nl && !found; j++) {
            char pj[1024];
            qtip_module_prefix_(layers[j].tensor, pj, sizeof pj);
            found = strcmp(pj, want) == 0;
        }
        QTIP_RETURN_ERROR_IF(!found, QTIP_E_NOT_FOUND, "no artifact for layer '%s' of '%s'", want,
                             qtip_model_dir_path(src));
    }
    return QTIP_OK;
}

/* The layer whose weight is tensor `name`, or NULL. */
static const qtip_layer_info *layer_of(const char *name, const qtip_layer_info *layers, size_t nl,
                                       char pre[1024])
{
    for (size_t j = 0; j < nl; j++) {
        qtip_module_prefix_(layers[j].tensor, pre, 1024);
        size_t pl = strlen(pre);
        if (strncmp(name, pre, pl) == 0 && strcmp(name + pl, ".weight") == 0) return &layers[j];
    }
    return NULL;
}

/* Tensors in the original file order: quantized linears at their weight's place. */
static qtip_status write_tensors(qtip_model_writer *w, const qtip_model_dir *src,
                                 const qtip_layer_info *layers, size_t nl, const qtip_export_row *fmt,
                                 const qtip_export_ctx *cx)
{
    qtip_st_file *st = qtip_model_dir_weights(src);
    char pre[1024];
    for (size_t i = 0; i < qtip_st_count(st); i++) {
        const qtip_tensor_view *v = qtip_st_tensor(st, i);
        const qtip_layer_info *l = layer_of(v->name, layers, nl, pre);
        QTIP_FORWARD_IF_ERROR(l ? fmt->add_layer(w, l, pre, cx)
                                : qtip_model_writer_tensor(w, v->name, v->dtype, v->ndim, v->shape, v->data, 0));
    }
    return qtip_model_writer_tensors_done(w);
}

/* What quantize_config.json records per layer. */
static json_t *layer_record(const qtip_layer_info *l)
{
    json_t *o = layer_settings(l);
    json_object_set_new(o, "shape", json_pack("[I,I]", (json_int_t)l->m, (json_int_t)l->n));
    json_object_set_new(o, "proxy_loss", io_json_number(l->proxy_loss));
    json_object_set_new(o, "hessian_checksum", json_string(l->hessian_checksum ? l->hessian_checksum : ""));
    json_object_set_new(o, "weights_checksum", json_string(l->weights_checksum ? l->weights_checksum : ""));
    json_object_set_new(o, "seed", json_integer((json_int_t)l->params.seed));
    return o;
}

/* quantize_config.json: the shared settings `qc`, the tool, the quantizer's
 * settings, every layer, and the checksum of every tensor written. */
static json_t *full_config(const json_t *qc, const qtip_layer_info *layers, size_t nl,
                           const qtip_pack_options *opt, qtip_model_writer *w)
{
    json_t *full = json_deep_copy(qc);
    json_object_set_new(full, "tool", json_string("qtip " QTIP_VERSION_STRING));
    json_t *sj = opt->settings_json ? json_loads(opt->settings_json, 0, NULL) : NULL;
    if (sj) json_object_set_new(full, "settings", sj);
    json_t *lays = json_object();
    char pre[1024];
    for (size_t i = 0; i < nl; i++) {
        qtip_module_prefix_(layers[i].tensor, pre, sizeof pre);
        json_object_set_new(lays, pre, layer_record(&layers[i]));
    }
    json_object_set_new(full, "layers", lays);
    json_object_set(full, "tensor_checksums", qtip_model_writer_checksums(w));
    return full;
}

static qtip_status write_configs(qtip_model_writer *w, const qtip_model_dir *src,
                                 const qtip_layer_info *layers, size_t nl, const qtip_pack_options *opt,
                                 const qtip_export_row *fmt)
{
    json_t *cfg = json_loads(qtip_model_dir_config_text(src), 0, NULL);
    QTIP_RETURN_ERROR_IF(!cfg, QTIP_E_FORMAT, "cannot parse config.json of '%s'", qtip_model_dir_path(src));
    json_t *qc = nl ? layer_settings(&layers[0]) : json_object();
    json_object_del(qc, "tp_split"); /* per layer: its role in the model */
    const int tp = nl && layers[0].params.tp_size > 1;
    json_object_set_new(qc, "layout_version",
                        json_integer(tp ? QTIP_PACK_LAYOUT_VERSION_TP : QTIP_PACK_LAYOUT_VERSION));
    json_object_set_new(qc, "scales", json_string("y = SV * Wscale * U_m(Wr U_n^T(SU * x))"));
    json_object_set_new(qc, "format", json_string(fmt->name));
    json_object_set_new(qc, "mixed", json_boolean(opt->allow_mixed));
    json_t *full = full_config(qc, layers, nl, opt, w);
    fmt->config(nl ? &layers[0] : NULL, cfg, qc);
    qtip_status s = qtip_model_writer_json(w, "config.json", cfg);
    if (!s && nl && fmt->config_copy)
        s = qtip_model_writer_json(w, fmt->config_copy, json_object_get(cfg, "quantization_config"));
    if (!s) s = qtip_model_writer_json(w, "quantize_config.json", full);
    json_decref(cfg);
    json_decref(full);
    return s;
}

static qtip_status copy_extras(qtip_model_writer *w, const qtip_model_dir *src)
{
    for (size_t i = 0; i < qtip_model_dir_extra_count(src); i++)
        QTIP_FORWARD_IF_ERROR(qtip_model_writer_copy(w, qtip_model_dir_extra_source_(src, i),
                                                     qtip_model_dir_extra(src, i)));
    return QTIP_OK;
}

/* The original model's dtype (config.json), for the exports' scale vectors. */
static qtip_status model_dtype(const qtip_model_dir *src, qtip_dtype *dt)
{
    json_t *cfg = json_loads(qtip_model_dir_config_text(src), 0, NULL);
    QTIP_RETURN_ERROR_IF(!cfg, QTIP_E_FORMAT, "cannot parse config.json of '%s'", qtip_model_dir_path(src));
    char where[1100];
    snprintf(where, sizeof where, "'%s/config.json'", qtip_model_dir_path(src));
    qtip_status s = qtip_export_model_dtype_(cfg, where, dt);
    json_decref(cfg);
    return s;
}

qtip_status qtip_pack_model(const qtip_model_dir *src, const qtip_layer_info *layers, size_t nlayers,
                            const qtip_pack_options *opt, const char *out_dir)
{
    qtip_pack_options dflt;
    if (!opt) { qtip_pack_options_default(&dflt); opt = &dflt; }
    const qtip_export_row *fmt = qtip_export_row_(opt->format);
    QTIP_RETURN_ERROR_IF(!fmt, QTIP_E_PARAM, "unknown export format %d", (int)opt->format);
    QTIP_FORWARD_IF_ERROR(check_layers(src, layers, nlayers, opt, fmt));
    qtip_export_ctx cx = {QTIP_DT_F32};
    if (fmt->format != QTIP_EXPORT_CANONICAL) QTIP_FORWARD_IF_ERROR(model_dtype(src, &cx.model_dtype));
    QTIP_FORWARD_IF_ERROR(io_refuse_inside(out_dir, qtip_model_dir_path(src)));
    qtip_model_writer *w = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_model_writer_open(out_dir, opt->max_shard_size, &w));
    qtip_status s = write_tensors(w, src, layers, nlayers, fmt, &cx);
    if (!s) s = write_configs(w, src, layers, nlayers, opt, fmt);
    if (!s) s = copy_extras(w, src);
    if (s) qtip_model_writer_abort(w);
    else s = qtip_model_writer_commit(w);
    if (s) qtip_error_prefix("cannot pack '%s'", out_dir);
    return s;
}
