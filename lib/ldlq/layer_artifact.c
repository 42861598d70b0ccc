/*
 * layer_artifact.c — the per-layer artifact: memory object and safetensors file
 * (docs/formats/layer-artifact.md). The method's own fields go through its
 * operations (quant_internal.h); decoding is layer_decode.c's.
 */
#include "ldlq/quant_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

qtip_status qtip_layer_artifact_alloc_(const qtip_quant_params *p, int64_t m, int64_t n,
                                       qtip_layer_artifact **out)
{
    *out = NULL;
    const qtip_method_ops *ops = qtip_method_ops_(p->method);
    int64_t cc = ops ? ops->code_cols(p, n) : 0;
    QTIP_RETURN_ERROR_IF(cc <= 0 || m <= 0, QTIP_E_SHAPE,
                         "layer shape [%lld, %lld] does not fit the code layout",
                         (long long)m, (long long)n);
    qtip_layer_artifact *a = qtip_calloc(1, sizeof *a, "layer artifact");
    if (!a) return QTIP_E_NOMEM;
    a->params = *p;
    a->m = m;
    a->n = n;
    a->code_cols = cc;
    a->code_is_i32 = ops->code_is_i32(p);
    a->codes = qtip_calloc((size_t)m * (size_t)cc, a->code_is_i32 ? 4 : 2, "layer codes");
    a->SU = qtip_alloc((size_t)n, sizeof(float), "SU");
    a->SV = qtip_alloc((size_t)m, sizeof(float), "SV");
    a->tensor = qtip_calloc(1, 1, "tensor name");
    if (!a->codes || !a->SU || !a->SV || !a->tensor) {
        qtip_layer_artifact_free(a);
        return QTIP_E_NOMEM;
    }
    *out = a;
    return QTIP_OK;
}

void qtip_layer_artifact_free(qtip_layer_artifact *a)
{
    if (!a) return;
    free(a->tensor);
    free(a->refine_losses);
    free(a->codes);
    free(a->SU);
    free(a->SV);
    free(a->tlut);
    free(a);
}

void qtip_layer_artifact_info(const qtip_layer_artifact *a, qtip_layer_info *info)
{
    memset(info, 0, sizeof *info);
    info->params = a->params;
    info->m = a->m;
    info->n = a->n;
    info->tensor = a->tensor;
    info->proxy_loss = a->proxy_loss;
    info->proxy_loss_rotated = a->proxy_loss_rotated;
    info->damping = a->damping;
    info->wscale = a->wscale;
    info->bits_per_weight = qtip_method_ops_(a->params.method)->bits_per_weight(&a->params);
    info->seconds = a->seconds;
    info->weights_checksum = a->weights_checksum;
    info->hessian_checksum = a->hessian_checksum;
    info->refine_count = a->refine_count;
    info->refine_losses = a->refine_losses;
    info->code_cols = a->code_cols;
    info->code_is_i32 = a->code_is_i32;
    info->codes = a->codes;
    info->SU = a->SU;
    info->SV = a->SV;
    info->tlut = a->tlut;
    info->tlut_rows = a->tlut_rows;
    info->tlut_cols = a->tlut_cols;
}

qtip_status qtip_layer_artifact_set_source(qtip_layer_artifact *a, const char *weights_checksum,
                                           const char *hessian_checksum)
{
    if (weights_checksum)
        snprintf(a->weights_checksum, sizeof a->weights_checksum, "%s", weights_checksum);
    if (hessian_checksum)
        snprintf(a->hessian_checksum, sizeof a->hessian_checksum, "%s", hessian_checksum);
    return QTIP_OK;
}

/* ---------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------- */

#define META_FORMAT "qtip-layer"

qtip_status qtip_meta_set_(qtip_st_writer *w, const char *key, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return qtip_st_writer_set_metadata(w, key, buf);
}

static qtip_status write_all(const qtip_layer_artifact *a, qtip_st_writer *w, const char *path)
{
    const qtip_quant_params *p = &a->params;
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "format", "%s", META_FORMAT));
    /* version 2 only where it differs: a tensor-parallel layer, which a version-1
     * reader must refuse rather than decode with whole-layer transforms */
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "format_version", "%d",
                                         p->tp_size > 1 ? QTIP_LAYER_FORMAT_VERSION_TP
                                                        : QTIP_LAYER_FORMAT_VERSION));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "tool_version", "qtip %s", qtip_version_string()));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "tensor", "%s", a->tensor));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "method", "%s", qtip_quant_method_name(p->method)));
    QTIP_FORWARD_IF_ERROR(qtip_method_ops_(p->method)->write_meta(p, w));
    QTIP_FORWARD_IF_ERROR(qtip_tp_write_meta_(p, w));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "sigma_reg", "%.17g", p->sigma_reg));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "damping_tries", "%d", p->damping_tries));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "damping", "%.17g", a->damping));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "scale_override", "%.17g", p->scale_override));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "seed", "%llu", (unsigned long long)p->seed));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "refine_passes", "%d", p->refine_passes));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "ldlq", "%d", p->ldlq));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "proxy_loss", "%.17g", a->proxy_loss));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "proxy_loss_rotated", "%.17g", a->proxy_loss_rotated));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "weights_checksum", "%s", a->weights_checksum));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "hessian_checksum", "%s", a->hessian_checksum));

    int64_t shape[2] = {a->m, a->code_cols};
    QTIP_FORWARD_IF_ERROR(qtip_st_writer_add_ref(w, "codes", a->code_is_i32 ? QTIP_DT_I32 : QTIP_DT_I16,
                                                 2, shape, a->codes));
    int64_t sn = a->n, sm = a->m;
    QTIP_FORWARD_IF_ERROR(qtip_st_writer_add_ref(w, "SU", QTIP_DT_F32, 1, &sn, a->SU));
    QTIP_FORWARD_IF_ERROR(qtip_st_writer_add_ref(w, "SV", QTIP_DT_F32, 1, &sm, a->SV));
    QTIP_FORWARD_IF_ERROR(qtip_st_writer_add_ref(w, "Wscale", QTIP_DT_F32, 0, NULL, &a->wscale));
    if (a->tlut) {
        int64_t ts[2] = {(int64_t)a->tlut_rows, (int64_t)a->tlut_cols};
        QTIP_FORWARD_IF_ERROR(qtip_st_writer_add_ref(w, "tlut", QTIP_DT_F32, 2, ts, a->tlut));
    }
    if (a->refine_count > 0) {
        int64_t rc = a->refine_count;
        QTIP_FORWARD_IF_ERROR(qtip_st_writer_add_ref(w, "refine_losses", QTIP_DT_F64, 1, &rc,
                                                     a->refine_losses));
    }
    return qtip_st_writer_write(w, path, 0);
}

qtip_status qtip_layer_artifact_save(const qtip_layer_artifact *a, const char *path)
{
    qtip_st_writer *w = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_writer_create(&w));
    qtip_status st = write_all(a, w, path);
    qtip_st_writer_free(w);
    if (st != QTIP_OK) qtip_error_prefix("cannot write layer artifact '%s'", path);
    return st;
}

/* --- loading --- */

qtip_status qtip_meta_int_(const qtip_st_file *f, const char *path, const char *key, long long lo,
                           long long hi, long long *out)
{
    const char *v = qtip_st_metadata(f, key);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_FORMAT, "'%s': layer artifact lacks metadata '%s'", path, key);
    char *end;
    long long x = strtoll(v, &end, 10);
    QTIP_RETURN_ERROR_IF(*end || end == v || x < lo || x > hi, QTIP_E_FORMAT,
                         "'%s': metadata '%s' is '%s', expected an integer in %lld..%lld", path,
                         key, v, lo, hi);
    *out = x;
    return QTIP_OK;
}

static qtip_status meta_double(const qtip_st_file *f, const char *path, const char *key, double *out)
{
    const char *v = qtip_st_metadata(f, key);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_FORMAT, "'%s': layer artifact lacks metadata '%s'", path, key);
    char *end;
    double x = strtod(v, &end);
    QTIP_RETURN_ERROR_IF(*end || end == v, QTIP_E_FORMAT,
                         "'%s': metadata '%s' is '%s', expected a number", path, key, v);
    *out = x;
    return QTIP_OK;
}

static qtip_status get_tensor(const qtip_st_file *f, const char *path, const char *name,
                              qtip_dtype dt, int ndim, const int64_t *shape,
                              const qtip_tensor_view **out)
{
    const qtip_tensor_view *t = qtip_st_find(f, name);
    QTIP_RETURN_ERROR_IF(!t, QTIP_E_FORMAT, "'%s': layer artifact lacks tensor '%s'", path, name);
    int ok = t->dtype == dt && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[64] = "", got[64] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        return qtip_error(QTIP_E_FORMAT, "'%s': tensor '%s' is %s [%s], expected %s [%s]", path,
                          name, qtip_dtype_name(t->dtype), got, qtip_dtype_name(dt), want);
    }
    *out = t;
    return QTIP_OK;
}

/* Format, version and the parameters (the method's own through its row). */
static qtip_status read_params(const qtip_st_file *f, const char *path, qtip_quant_params *p)
{
    const char *fmt = qtip_st_metadata(f, "format");
    QTIP_RETURN_ERROR_IF(!fmt || strcmp(fmt, META_FORMAT) != 0, QTIP_E_FORMAT,
                         "'%s' is not a layer artifact: metadata 'format' is '%s', expected '%s'",
                         path, fmt ? fmt : "(missing)", META_FORMAT);
    long long ver, x;
    QTIP_FORWARD_IF_ERROR(qtip_meta_int_(f, path, "format_version", 1, 1000000, &ver));
    QTIP_RETURN_ERROR_IF(ver != QTIP_LAYER_FORMAT_VERSION && ver != QTIP_LAYER_FORMAT_VERSION_TP,
                         QTIP_E_FORMAT, "'%s': layer artifact format version %lld, this build reads %d "
                         "and %d", path, ver, QTIP_LAYER_FORMAT_VERSION, QTIP_LAYER_FORMAT_VERSION_TP);
    const char *method = qtip_st_metadata(f, "method");
    QTIP_RETURN_ERROR_IF(!method, QTIP_E_FORMAT, "'%s': layer artifact lacks metadata 'method'", path);
    const qtip_method_ops *ops = qtip_method_ops_((qtip_quant_method)qtip_quant_method_from_name(method));
    QTIP_RETURN_ERROR_IF(!ops || strcmp(method, ops->name) != 0, QTIP_E_FORMAT,
                         "'%s': unknown method '%s', expected 'trellis' or 'e8p'", path, method);
    *p = qtip_quant_default_params((qtip_quant_method)qtip_quant_method_from_name(method));
    QTIP_FORWARD_IF_ERROR(ops->read_meta(f, path, p));
    if (ver == QTIP_LAYER_FORMAT_VERSION_TP) QTIP_FORWARD_IF_ERROR(qtip_tp_read_meta_(f, path, p));
    QTIP_FORWARD_IF_ERROR(meta_double(f, path, "sigma_reg", &p->sigma_reg));
    QTIP_FORWARD_IF_ERROR(meta_double(f, path, "scale_override", &p->scale_override));
    QTIP_FORWARD_IF_ERROR(qtip_meta_int_(f, path, "damping_tries", 1, 1000000, &x));
    p->damping_tries = (int)x;
    QTIP_FORWARD_IF_ERROR(qtip_meta_int_(f, path, "refine_passes", 0, 1000000, &x));
    p->refine_passes = (int)x;
    QTIP_FORWARD_IF_ERROR(qtip_meta_int_(f, path, "ldlq", 0, 1, &x));
    p->ldlq = (int)x;
    const char *seed = qtip_st_metadata(f, "seed");
    QTIP_RETURN_ERROR_IF(!seed, QTIP_E_FORMAT, "'%s': layer artifact lacks metadata 'seed'", path);
    p->seed = strtoull(seed, NULL, 10);
    if (qtip_quant_check_params(p) != QTIP_OK) {
        qtip_error_prefix("'%s'", path);
        return QTIP_E_FORMAT;
    }
    return QTIP_OK;
}

/* The table the codes need (its shape from the method's row; for trellis the
 * code's traits row). */
static qtip_status read_tlut(const qtip_st_file *f, const char *path, qtip_layer_artifact *a)
{
    size_t rows, cols;
    if (!qtip_method_ops_(a->params.method)->table_shape(&a->params, &rows, &cols)) return QTIP_OK;
    const qtip_tensor_view *t;
    int64_t ts[2] = {(int64_t)rows, (int64_t)cols};
    QTIP_FORWARD_IF_ERROR(get_tensor(f, path, "tlut", QTIP_DT_F32, 2, ts, &t));
    a->tlut = qtip_alloc(rows * cols, sizeof(float), "tlut");
    if (!a->tlut) return QTIP_E_NOMEM;
    memcpy(a->tlut, t->data, t->nbytes);
    a->tlut_rows = rows;
    a->tlut_cols = cols;
    return QTIP_OK;
}

static qtip_status read_tensors(const qtip_st_file *f, const char *path, qtip_layer_artifact *a)
{
    const qtip_tensor_view *t;
    int64_t m = a->m, n = a->n, cs[2] = {m, a->code_cols};
    QTIP_FORWARD_IF_ERROR(get_tensor(f, path, "codes", a->code_is_i32 ? QTIP_DT_I32 : QTIP_DT_I16, 2, cs, &t));
    memcpy(a->codes, t->data, t->nbytes);
    QTIP_FORWARD_IF_ERROR(get_tensor(f, path, "SU", QTIP_DT_F32, 1, &n, &t));
    memcpy(a->SU, t->data, t->nbytes);
    QTIP_FORWARD_IF_ERROR(get_tensor(f, path, "SV", QTIP_DT_F32, 1, &m, &t));
    memcpy(a->SV, t->data, t->nbytes);
    QTIP_FORWARD_IF_ERROR(get_tensor(f, path, "Wscale", QTIP_DT_F32, 0, NULL, &t));
    memcpy(&a->wscale, t->data, sizeof(float));
    QTIP_FORWARD_IF_ERROR(read_tlut(f, path, a));
    if ((t = qtip_st_find(f, "refine_losses")) == NULL) return QTIP_OK;
    QTIP_RETURN_ERROR_IF(t->dtype != QTIP_DT_F64 || t->ndim != 1 || t->shape[0] > 1000000,
                         QTIP_E_FORMAT, "'%s': tensor 'refine_losses' must be 1-D F64", path);
    a->refine_count = (int)t->shape[0];
    a->refine_losses = qtip_alloc((size_t)a->refine_count + 1, sizeof(double), "losses");
    if (!a->refine_losses) return QTIP_E_NOMEM;
    memcpy(a->refine_losses, t->data, t->nbytes);
    return QTIP_OK;
}

/* decode multiplies by these: a NaN or odd sign would silently poison W_hat */
static qtip_status check_values(const char *path, const qtip_layer_artifact *a)
{
    for (int64_t i = 0; i < a->n; i++)
        QTIP_RETURN_ERROR_IF(a->SU[i] != 1.0f && a->SU[i] != -1.0f, QTIP_E_FORMAT,
                             "'%s': tensor 'SU' has %g at %lld, expected +1 or -1", path,
                             (double)a->SU[i], (long long)i);
    for (int64_t i = 0; i < a->m; i++)
        QTIP_RETURN_ERROR_IF(a->SV[i] != 1.0f && a->SV[i] != -1.0f, QTIP_E_FORMAT,
                             "'%s': tensor 'SV' has %g at %lld, expected +1 or -1", path,
                             (double)a->SV[i], (long long)i);
    QTIP_RETURN_ERROR_IF(!isfinite(a->wscale), QTIP_E_FORMAT,
                         "'%s': tensor 'Wscale' is %g, expected a finite value", path,
                         (double)a->wscale);
    for (size_t i = 0; a->tlut && i < a->tlut_rows * a->tlut_cols; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(a->tlut[i]), QTIP_E_FORMAT,
                             "'%s': tensor 'tlut' has a non-finite value at %zu", path, i);
    return QTIP_OK;
}

/* Results and provenance. */
static qtip_status read_info(const qtip_st_file *f, const char *path, qtip_layer_artifact *a)
{
    QTIP_FORWARD_IF_ERROR(meta_double(f, path, "proxy_loss", &a->proxy_loss));
    QTIP_FORWARD_IF_ERROR(meta_double(f, path, "proxy_loss_rotated", &a->proxy_loss_rotated));
    QTIP_FORWARD_IF_ERROR(meta_double(f, path, "damping", &a->damping));
    const char *s = qtip_st_metadata(f, "tensor");
    free(a->tensor);
    a->tensor = strdup(s ? s : "");
    if (!a->tensor) return qtip_error(QTIP_E_NOMEM, "out of memory");
    return qtip_layer_artifact_set_source(a, qtip_st_metadata(f, "weights_checksum"),
                                          qtip_st_metadata(f, "hessian_checksum"));
}

static qtip_status load_from(qtip_st_file *f, const char *path, qtip_layer_artifact **out)
{
    qtip_quant_params p;
    QTIP_FORWARD_IF_ERROR(read_params(f, path, &p));
    const qtip_tensor_view *su = qtip_st_find(f, "SU"), *sv = qtip_st_find(f, "SV");
    QTIP_RETURN_ERROR_IF(!su || !sv || su->ndim != 1 || sv->ndim != 1, QTIP_E_FORMAT,
                         "'%s': layer artifact needs 1-D tensors 'SU' and 'SV'", path);
    qtip_layer_artifact *a = NULL;
    if (qtip_layer_artifact_alloc_(&p, sv->shape[0], su->shape[0], &a) != QTIP_OK) {
        qtip_error_prefix("'%s'", path);
        return QTIP_E_FORMAT;
    }
    qtip_status st = qtip_tp_check_shape_(&p, a->m, a->n, qtip_st_metadata(f, "tensor"));
    if (st != QTIP_OK) qtip_error_prefix("'%s'", path);
    if (st == QTIP_OK) st = read_tensors(f, path, a);
    if (st == QTIP_OK) st = check_values(path, a);
    if (st == QTIP_OK) qtip_clear_error();
    if (st == QTIP_OK) st = read_info(f, path, a);
    if (st != QTIP_OK) {
        qtip_layer_artifact_free(a);
        return st;
    }
    *out = a;
    return QTIP_OK;
}

qtip_status qtip_layer_artifact_load(const char *path, qtip_layer_artifact **out)
{
    *out = NULL;
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(path, &f));
    qtip_status st = load_from(f, path, out);
    qtip_st_close(f);
    return st;
}

/* ---------------------------------------------------------------------------
 * From a description (a layer read back from a packed model directory)
 * ------------------------------------------------------------------------- */

static qtip_status check_info_shapes(const qtip_layer_info *in, const qtip_layer_artifact *a,
                                     size_t rows, size_t cols)
{
    const char *nm = in->tensor ? in->tensor : "";
    QTIP_RETURN_ERROR_IF(!in->codes || !in->SU || !in->SV, QTIP_E_PARAM,
                         "layer '%s': codes, SU and SV are required", nm);
    QTIP_RETURN_ERROR_IF(a->code_cols != in->code_cols || a->code_is_i32 != in->code_is_i32,
                         QTIP_E_SHAPE, "layer '%s': codes of %lld %s columns, its parameters and "
                         "shape [%lld, %lld] need %lld %s columns", nm, (long long)in->code_cols,
                         in->code_is_i32 ? "int32" : "int16", (long long)in->m, (long long)in->n,
                         (long long)a->code_cols, a->code_is_i32 ? "int32" : "int16");
    qtip_status st = qtip_method_ops_(in->params.method)->check_shape(&in->params, in->m, in->n);
    if (!st) st = qtip_tp_check_shape_(&in->params, in->m, in->n, nm);
    if (st) {
        qtip_error_prefix("layer '%s'", nm);
        return st;
    }
    QTIP_RETURN_ERROR_IF(rows && (!in->tlut || in->tlut_rows != rows || in->tlut_cols != cols),
                         QTIP_E_SHAPE, "layer '%s': its code needs a [%zu, %zu] table, found [%zu, %zu]",
                         nm, rows, cols, in->tlut ? in->tlut_rows : 0, in->tlut ? in->tlut_cols : 0);
    return QTIP_OK;
}

qtip_status qtip_layer_artifact_from_info(const qtip_layer_info *in, qtip_layer_artifact **out)
{
    *out = NULL;
    /* The library matvec builds its context through here and applies whole-layer
     * transforms (lib/matvec/ does not know per-shard ones yet): refuse rather
     * than compute with the wrong transform. */
    QTIP_RETURN_ERROR_IF(in->params.tp_size > 1, QTIP_E_UNSUPPORTED,
                         "layer '%s': per-shard Hadamard transforms (tp_size %d, %s side) are not "
                         "supported here: the library matvec applies whole-layer transforms only; "
                         "run it shard by shard (each shard is a plain layer), or decode with "
                         "qtip-verify --dequantize", in->tensor ? in->tensor : "", in->params.tp_size,
                         qtip_tp_split_name(in->params.tp_split));
    return qtip_layer_artifact_from_info_tp_(in, out);
}

qtip_status qtip_layer_artifact_from_info_tp_(const qtip_layer_info *in, qtip_layer_artifact **out)
{
    *out = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_quant_check_params(&in->params));
    qtip_layer_artifact *a = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_alloc_(&in->params, in->m, in->n, &a));
    /* the method's table rule (trellis: the code traits' qtip_trellis_tlut_shape) */
    size_t rows = 0, cols = 0;
    const int table = qtip_method_ops_(in->params.method)->table_shape(&in->params, &rows, &cols) > 0;
    qtip_status st = check_info_shapes(in, a, rows, cols);
    if (!st && table) {
        a->tlut = qtip_alloc(rows * cols, sizeof(float), "tlut");
        if (a->tlut) memcpy(a->tlut, in->tlut, rows * cols * sizeof(float));
        a->tlut_rows = rows;
        a->tlut_cols = cols;
        st = a->tlut ? QTIP_OK : QTIP_E_NOMEM;
    }
    free(a->tensor);
    a->tensor = strdup(in->tensor ? in->tensor : "");
    if (!st && !a->tensor) st = qtip_error(QTIP_E_NOMEM, "out of memory");
    if (st) {
        qtip_layer_artifact_free(a);
        return st;
    }
    memcpy(a->codes, in->codes, (size_t)(a->m * a->code_cols) * (a->code_is_i32 ? 4 : 2));
    memcpy(a->SU, in->SU, (size_t)a->n * sizeof(float));
    memcpy(a->SV, in->SV, (size_t)a->m * sizeof(float));
    a->wscale = in->wscale;
    a->proxy_loss = in->proxy_loss;
    qtip_layer_artifact_set_source(a, in->weights_checksum, in->hessian_checksum);
    *out = a;
    return QTIP_OK;
}
