/*
 * verify_config.c — structural checks of a packed directory: its two configs
 * agree and name the canonical format, and each layer's settings and tensors
 * (dtypes, shapes, finite scales) are what the settings need. A layer read back
 * becomes an artifact so that the library's one decoder decodes it.
 */
#include "io/io_internal.h"
#include "ldlq/quant_internal.h"
#include "verify/verify_internal.h"

#include <math.h>
#include <string.h>

/* A JSON object file of `dir`: QTIP_E_IO when it cannot be read (the directory is
 * not a readable model), QTIP_E_FORMAT when it is not a JSON object. */
static qtip_status load_json(const char *dir, const char *name, json_t **out)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    qtip_status s = io_read_json_object(p, out);
    return s == QTIP_E_NOMEM || s == QTIP_E_FORMAT ? s : s ? QTIP_E_IO : QTIP_OK;
}

/* The row of the format quantize_config.json names ("qtip" when it names none). */
static qtip_status find_format(vdir *d)
{
    const char *name = json_string_value(json_object_get(d->qc, "format"));
    if (!name) name = "qtip";
    for (int f = 0; qtip_export_format_name((qtip_export_format)f); f++)
        if (strcmp(qtip_export_format_name((qtip_export_format)f), name) == 0)
            d->fmt = qtip_export_row_((qtip_export_format)f);
    QTIP_RETURN_ERROR_IF(!d->fmt, QTIP_E_FORMAT, "'%s/quantize_config.json' names format '%s', which "
                         "qtip-pack does not write", d->dir, name);
    return QTIP_OK;
}

/* The canonical format, its layout version, and config.json's quantization_config
 * equal to the copy in quantize_config.json; an export's top (verify_export.c). */
static qtip_status check_top(vdir *d)
{
    const char *dir = d->dir;
    QTIP_FORWARD_IF_ERROR(find_format(d));
    if (d->fmt->format != QTIP_EXPORT_CANONICAL) return vexport_check_top(d);
    QTIP_RETURN_ERROR_IF(!json_is_object(d->top), QTIP_E_FORMAT, "'%s/config.json' has no 'quantization_config'", dir);
    const char *fmt = json_string_value(json_object_get(d->top, "format"));
    QTIP_RETURN_ERROR_IF(!fmt || strcmp(fmt, "qtip"), QTIP_E_MISMATCH,
                         "'%s/config.json' names format '%s', quantize_config.json the canonical "
                         "'qtip'", dir, fmt ? fmt : "(none)");
    json_t *lv = json_object_get(d->top, "layout_version");
    json_t *tp = json_object_get(d->top, "tp_size");
    d->tp_size = json_is_integer(tp) ? json_integer_value(tp) : tp ? 0 : 1;
    QTIP_RETURN_ERROR_IF(d->tp_size < 1 || d->tp_size > 1024, QTIP_E_FORMAT,
                         "'%s/config.json': tp_size must be an integer in 1..1024", dir);
    /* layout 2 is layout 1 with per-shard transforms: tp_size > 1 exactly then */
    const int want = d->tp_size > 1 ? QTIP_PACK_LAYOUT_VERSION_TP : QTIP_PACK_LAYOUT_VERSION;
    QTIP_RETURN_ERROR_IF(json_integer_value(lv) != want, QTIP_E_FORMAT,
                         "'%s/config.json': layout_version %lld, expected %d for tp_size %lld", dir,
                         (long long)json_integer_value(lv), want, (long long)d->tp_size);
    const char *key;
    json_t *val;
    json_object_foreach(d->top, key, val) {
        json_t *o = json_object_get(d->qc, key);
        QTIP_RETURN_ERROR_IF(!o || !json_equal(o, val), QTIP_E_MISMATCH,
                             "'%s': config.json's quantization_config field '%s' differs from "
                             "quantize_config.json", dir, key);
    }
    QTIP_RETURN_ERROR_IF(!json_is_object(d->layers), QTIP_E_FORMAT,
                         "'%s/quantize_config.json' has no 'layers' object", dir);
    return QTIP_OK;
}

qtip_status vdir_open(const char *dir, const char *original, vdir *d)
{
    memset(d, 0, sizeof *d);
    d->dir = dir;
    d->tp_size = 1; /* the exports' (check_top reads the canonical format's) */
    qtip_status s = load_json(dir, "config.json", &d->cfg);
    if (!s) s = load_json(dir, "quantize_config.json", &d->qc);
    if (s) {
        qtip_error_prefix("cannot verify '%s'", dir);
        return s;
    }
    d->top = json_object_get(d->cfg, "quantization_config");
    d->layers = json_object_get(d->qc, "layers");
    d->mixed = json_is_true(json_object_get(d->top, "mixed"));
    QTIP_FORWARD_IF_ERROR(check_top(d));
    QTIP_FORWARD_IF_ERROR(qtip_st_open(dir, &d->st));
    if (original && (s = qtip_st_open(original, &d->orig)) != QTIP_OK) {
        /* an input named by an option that cannot be read: exit 1, not a mismatch */
        qtip_error_prefix("cannot read the original model");
        return s == QTIP_E_NOMEM ? s : QTIP_E_IO;
    }
    return QTIP_OK;
}

void vdir_close(vdir *d)
{
    qtip_st_close(d->st);
    qtip_st_close(d->orig);
    json_decref(d->cfg);
    json_decref(d->qc);
    memset(d, 0, sizeof *d);
}

int vdir_is_packed(const vdir *d, const char *name)
{
    const char *const *packed = d->fmt->tensors;
    const char *dot = strrchr(name, '.');
    char pre[1024];
    size_t pl = dot ? (size_t)(dot - name) : 0;
    if (!dot || pl >= sizeof pre) return 0;
    memcpy(pre, name, pl);
    pre[pl] = 0;
    for (size_t k = 0; packed[k]; k++)
        if (strcmp(dot + 1, packed[k]) == 0) return json_object_get(d->layers, pre) != NULL;
    return 0;
}

/* --- one layer -------------------------------------------------------------------- */

/* "[a, b]" (up to two dimensions shown; "..." for more) into buf (96 bytes). */
static const char *shape_text(int ndim, const int64_t *shape, char *buf)
{
    int o = snprintf(buf, 96, "[");
    for (int i = 0; i < ndim && i < 2; i++)
        o += snprintf(buf + o, (size_t)(96 - o), "%s%lld", i ? ", " : "", (long long)shape[i]);
    snprintf(buf + o, (size_t)(96 - o), "%s]", ndim > 2 ? ", ..." : "");
    return buf;
}

qtip_status vdir_want_tensor(const vdir *d, const char *pre, const char *suf, qtip_dtype dt, int ndim,
                             const int64_t *shape, const qtip_tensor_view **out)
{
    char nm[1200];
    snprintf(nm, sizeof nm, "%s.%s", pre, suf);
    const qtip_tensor_view *v = qtip_st_find(d->st, nm);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_NOT_FOUND, "tensor '%s' is missing", nm);
    QTIP_RETURN_ERROR_IF(v->dtype != dt, QTIP_E_FORMAT, "tensor '%s' has dtype %s, expected %s",
                         nm, qtip_dtype_name(v->dtype), qtip_dtype_name(dt));
    int ok = v->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = v->shape[i] == shape[i];
    char got[96], want[96];
    QTIP_RETURN_ERROR_IF(!ok, QTIP_E_SHAPE, "tensor '%s' has shape %s, expected %s", nm,
                         shape_text(v->ndim, v->shape, got), shape_text(ndim, shape, want));
    *out = v;
    return verify_tensor_checksum(d, v);
}

static qtip_status finite_f32(const char *pre, const char *what, const float *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(v[i]), QTIP_E_NONFINITE,
                             "tensor '%s.%s' has a non-finite value at %zu", pre, what, i);
    return QTIP_OK;
}

/* Shape, results and (without mixed) equality with the model's settings. */
static qtip_status layer_header(const vdir *d, const char *pre, json_t *o, qtip_layer_info *l)
{
    json_t *shape = json_object_get(o, "shape");
    QTIP_RETURN_ERROR_IF(json_array_size(shape) != 2, QTIP_E_FORMAT,
                         "quantize_config.json: layer '%s' lacks 'shape'", pre);
    l->m = json_integer_value(json_array_get(shape, 0));
    l->n = json_integer_value(json_array_get(shape, 1));
    QTIP_RETURN_ERROR_IF(l->m <= 0 || l->n <= 0 || l->m > ((int64_t)1 << 30) || l->n > ((int64_t)1 << 30),
                         QTIP_E_FORMAT, "quantize_config.json: layer '%s' has shape [%lld, %lld]",
                         pre, (long long)l->m, (long long)l->n);
    const char *key;
    json_t *val;
    if (!d->mixed) json_object_foreach(o, key, val) { /* every loader field equals the model's */
        json_t *t = json_object_get(d->top, key);
        QTIP_RETURN_ERROR_IF(t && !json_equal(t, val), QTIP_E_MISMATCH,
                             "quantize_config.json: layer '%s' has '%s' different from the "
                             "model's quantization_config", pre, key);
    }
    json_t *pl = json_object_get(o, "proxy_loss");
    l->proxy_loss = json_is_number(pl) ? json_number_value(pl) : NAN;
    l->hessian_checksum = json_string_value(json_object_get(o, "hessian_checksum"));
    l->weights_checksum = json_string_value(json_object_get(o, "weights_checksum"));
    return QTIP_OK;
}

/* The method's settings, read by its row of the method table (the reader of what
 * qtip-pack wrote), and the code layout they give for the layer's shape. */
static qtip_status layer_settings(const vdir *d, const char *pre, json_t *o, qtip_layer_info *l)
{
    char where[1200];
    snprintf(where, sizeof where, "quantize_config.json: layer '%s'", pre);
    QTIP_FORWARD_IF_ERROR(qtip_loader_settings_from_json_(o, where, &l->params));
    QTIP_RETURN_ERROR_IF(l->params.tp_size != d->tp_size, QTIP_E_MISMATCH,
                         "%s has tp_size %d, the model's quantization_config %lld", where,
                         l->params.tp_size, (long long)d->tp_size);
    const qtip_method_ops *ops = qtip_method_ops_(l->params.method);
    qtip_status s = ops->check_shape(&l->params, l->m, l->n);
    if (s) {
        qtip_error_prefix("%s", where);
        return s;
    }
    l->code_cols = ops->code_cols(&l->params, l->n);
    l->code_is_i32 = ops->code_is_i32(&l->params);
    return QTIP_OK;
}

/* The layer's tensors (pointers into the mapped file; copied by the artifact). */
static qtip_status layer_tensors(const vdir *d, const char *pre, qtip_layer_info *l)
{
    const qtip_tensor_view *v;
    int64_t m = l->m, n = l->n, sh[2] = {m, l->code_cols};
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "qtip_codes", l->code_is_i32 ? QTIP_DT_I32 : QTIP_DT_I16,
                                      2, sh, &v));
    l->codes = v->data;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "SU", QTIP_DT_F32, 1, &n, &v));
    l->SU = v->data;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "SV", QTIP_DT_F32, 1, &m, &v));
    l->SV = v->data;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "Wscale", QTIP_DT_F32, 0, sh, &v));
    memcpy(&l->wscale, v->data, 4);
    /* whether the code needs a table, of which shape, is the artifact's to check */
    char nm[1200];
    snprintf(nm, sizeof nm, "%s.tlut", pre);
    if (!(v = qtip_st_find(d->st, nm))) return QTIP_OK;
    QTIP_RETURN_ERROR_IF(v->dtype != QTIP_DT_F32 || v->ndim != 2, QTIP_E_FORMAT,
                         "tensor '%s' is %s with %d dimensions, expected a 2-D F32 table", nm,
                         qtip_dtype_name(v->dtype), v->ndim);
    l->tlut = v->data;
    l->tlut_rows = (size_t)v->shape[0];
    l->tlut_cols = (size_t)v->shape[1];
    return verify_tensor_checksum(d, v);
}

qtip_status vdir_load_layer(const vdir *d, const char *pre, json_t *o, qtip_layer_artifact **out)
{
    *out = NULL;
    qtip_layer_info l;
    memset(&l, 0, sizeof l);
    l.tensor = pre;
    QTIP_FORWARD_IF_ERROR(layer_header(d, pre, o, &l));
    QTIP_FORWARD_IF_ERROR(layer_settings(d, pre, o, &l));
    vexport_arrays owned = {0};
    qtip_status s = d->fmt->format == QTIP_EXPORT_CANONICAL ? layer_tensors(d, pre, &l)
                                                            : vexport_layer_tensors(d, pre, &l, &owned);
    qtip_layer_artifact *a = NULL;
    if (!s) s = qtip_layer_artifact_from_info_tp_(&l, &a);
    vexport_free(&owned);
    if (s) return s;
    qtip_layer_artifact_info(a, &l); /* the copies: aligned, owned by a */
    s = finite_f32(pre, "SU", l.SU, (size_t)l.n);
    if (!s) s = finite_f32(pre, "SV", l.SV, (size_t)l.m);
    if (!s) s = finite_f32(pre, "Wscale", &l.wscale, 1);
    if (!s) s = finite_f32(pre, "tlut", l.tlut, l.tlut_rows * l.tlut_cols);
    if (s) qtip_layer_artifact_free(a);
    else *out = a;
    return s;
}
