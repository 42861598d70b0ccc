/*
 * hessian_file.c — the Hessian file (docs/formats/hessian.md): safetensors with
 * the raw sums (lower triangle only, fp64) and provenance metadata; plus the
 * streaming safetensors writer the exporters share.
 */
#include "hessian/hessian_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hessian files are written in host byte order; little-endian hosts only"
#endif

qtip_status hessian_st_begin(const char *path, const hessian_st_tensor *tensors, size_t count,
                             json_t *metadata, qtip_atomic_file **out)
{
    *out = NULL;
    json_t *hdr = json_object();
    QTIP_RETURN_ERROR_IF(!hdr, QTIP_E_NOMEM, "cannot build the header of '%s'", path);
    if (metadata) json_object_set(hdr, "__metadata__", metadata);
    uint64_t off = 0;
    for (size_t i = 0; i < count; i++) {
        const hessian_st_tensor *t = &tensors[i];
        json_t *shape = json_array();
        uint64_t elems = 1;
        for (int d = 0; d < t->ndim; d++) {
            json_array_append_new(shape, json_integer(t->shape[d]));
            elems *= (uint64_t)t->shape[d];
        }
        uint64_t bytes = elems * qtip_dtype_size(t->dtype);
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + bytes)));
        json_t *o = json_object();
        json_object_set_new(o, "dtype", json_string(qtip_dtype_name(t->dtype)));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "data_offsets", offs);
        json_object_set_new(hdr, t->name, o);
        off += bytes;
    }
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(hdr);
    QTIP_RETURN_ERROR_IF(!text, QTIP_E_NOMEM, "cannot encode the header of '%s'", path);
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    qtip_atomic_file *f = NULL;
    qtip_status s = qtip_atomic_open(path, 0, &f);
    if (s == QTIP_OK) s = qtip_atomic_write(f, le, 8);
    if (s == QTIP_OK) s = qtip_atomic_write(f, text, len);
    if (s == QTIP_OK && padded > len) s = qtip_atomic_write(f, "        ", padded - len);
    free(text);
    if (s != QTIP_OK) {
        qtip_atomic_abort(f);
        return s;
    }
    *out = f;
    return QTIP_OK;
}

double hessian_elem(qtip_dtype dt, const void *data, size_t i)
{
    const unsigned char *p = data;
    switch (dt) {
    case QTIP_DT_F64: {
        double v;
        memcpy(&v, p + 8 * i, 8);
        return v;
    }
    case QTIP_DT_F32: {
        float v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case QTIP_DT_F16: {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        return qtip_f16_to_f32(v);
    }
    case QTIP_DT_BF16: {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        return qtip_bf16_to_f32(v);
    }
    default: return NAN;
    }
}

qtip_status hessian_scalar_i64(const qtip_tensor_view *t, const char *file, int64_t *out)
{
    int64_t elems = 1;
    for (int d = 0; d < t->ndim; d++) elems *= t->shape[d];
    QTIP_RETURN_ERROR_IF(elems != 1, QTIP_E_SHAPE,
                         "'%s': tensor '%s' has %lld elements, expected a scalar", file, t->name,
                         (long long)elems);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case QTIP_DT_I64: case QTIP_DT_U64: { int64_t v; memcpy(&v, p, 8); *out = v; break; }
    case QTIP_DT_I32: { int32_t v; memcpy(&v, p, 4); *out = v; break; }
    case QTIP_DT_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; break; }
    case QTIP_DT_I16: { int16_t v; memcpy(&v, p, 2); *out = v; break; }
    case QTIP_DT_F64: case QTIP_DT_F32: {
        double v = hessian_elem(t->dtype, p, 0);
        QTIP_RETURN_ERROR_IF(!(v >= 0 && v < 9.2e18) || v != floor(v), QTIP_E_FORMAT,
                             "'%s': tensor '%s' = %g, expected an integer", file, t->name, v);
        *out = (int64_t)v;
        break;
    }
    default:
        return qtip_error(QTIP_E_FORMAT, "'%s': tensor '%s' has dtype %s, expected an integer",
                          file, t->name, qtip_dtype_name(t->dtype));
    }
    /* sizes and counts: callers square them, so refuse what could overflow */
    QTIP_RETURN_ERROR_IF(*out < 0 || *out > ((int64_t)1 << 53), QTIP_E_FORMAT,
                         "'%s': tensor '%s' = %lld, expected an integer in 0..2^53", file, t->name,
                         (long long)*out);
    return QTIP_OK;
}

qtip_status qtip_hessian_save(const qtip_hessian *hc, const char *path)
{
    qtip_hessian *h = (qtip_hessian *)hc; /* logically const: only pending rows are flushed */
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush(h));
    const int64_t n = qtip_hessian_dim(h);
    const uint64_t count = qtip_hessian_count(h);
    char buf[64];
    json_t *meta = json_object(), *inputs = json_array();
    json_object_set_new(meta, "format", json_string("qtip.hessian"));
    snprintf(buf, sizeof buf, "%d", QTIP_HESSIAN_FORMAT_VERSION);
    json_object_set_new(meta, "format_version", json_string(buf));
    json_object_set_new(meta, "tool", json_string("qtip " QTIP_VERSION_STRING));
    json_object_set_new(meta, "site", json_string(qtip_hessian_site(h)));
    snprintf(buf, sizeof buf, "%lld", (long long)n);
    json_object_set_new(meta, "n", json_string(buf));
    snprintf(buf, sizeof buf, "%" PRIu64, count);
    json_object_set_new(meta, "count", json_string(buf));
    snprintf(buf, sizeof buf, "%" PRIu64, qtip_hessian_skipped(h));
    json_object_set_new(meta, "skipped", json_string(buf));
    json_object_set_new(meta, "has_mean", json_string(qtip_hessian_has_mean(h) ? "true" : "false"));
    if (qtip_hessian_import_centering(h)[0])
        json_object_set_new(meta, "import_centering", json_string(qtip_hessian_import_centering(h)));
    json_object_set_new(meta, "layout", json_string("tril-row-major"));
    for (size_t i = 0; i < qtip_hessian_input_count(h); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(qtip_hessian_input_name(h, i)));
        json_object_set_new(o, "checksum", json_string(qtip_hessian_input_checksum(h, i)));
        json_array_append_new(inputs, o);
    }
    char *itext = json_dumps(inputs, JSON_COMPACT);
    json_decref(inputs);
    json_object_set_new(meta, "inputs", json_string(itext ? itext : "[]"));
    free(itext);

    hessian_st_tensor t[3] = {
        {"count", QTIP_DT_I64, 0, {0, 0}},
        {"sum_x", QTIP_DT_F64, 1, {n, 0}},
        {"sum_xxT_tril", QTIP_DT_F64, 1, {n * (n + 1) / 2, 0}},
    };
    qtip_atomic_file *f = NULL;
    qtip_status s = hessian_st_begin(path, t, 3, meta, &f);
    json_decref(meta);
    QTIP_FORWARD_IF_ERROR(s);
    int64_t c = (int64_t)count;
    s = qtip_atomic_write(f, &c, 8);
    if (s == QTIP_OK) s = qtip_atomic_write(f, qtip_hessian_sum_x(h), (size_t)n * 8);
    const double *S = qtip_hessian_sum_xx(h);
    for (int64_t i = 0; i < n && s == QTIP_OK; i++)
        s = qtip_atomic_write(f, S + (size_t)i * (size_t)n, (size_t)(i + 1) * 8);
    if (s != QTIP_OK) {
        qtip_atomic_abort(f);
        return s;
    }
    return qtip_atomic_commit(f);
}

static const qtip_tensor_view *need(const qtip_st_file *f, const char *path, const char *name,
                                    qtip_dtype dt, int64_t elems)
{
    const qtip_tensor_view *t = qtip_st_find(f, name);
    if (!t) {
        qtip_error(QTIP_E_FORMAT, "'%s': missing tensor '%s', not a qtip hessian file", path, name);
        return NULL;
    }
    int64_t e = 1;
    for (int d = 0; d < t->ndim; d++) e *= t->shape[d];
    if (t->dtype != dt || e != elems || t->ndim > 1) {
        qtip_error(QTIP_E_FORMAT, "'%s': tensor '%s' is %s with %lld elements, expected %s with %lld",
                   path, name, qtip_dtype_name(t->dtype), (long long)e, qtip_dtype_name(dt),
                   (long long)elems);
        return NULL;
    }
    return t;
}

static qtip_status load_open(const char *path, qtip_st_file *f, qtip_hessian **out)
{
    const char *fmt = qtip_st_metadata(f, "format"), *ver = qtip_st_metadata(f, "format_version");
    QTIP_RETURN_ERROR_IF(!fmt || strcmp(fmt, "qtip.hessian"), QTIP_E_FORMAT,
                         "'%s': not a qtip hessian file (metadata 'format' is %s%s%s, expected "
                         "'qtip.hessian'); use 'qtip-hessian import' for reference layouts",
                         path, fmt ? "'" : "", fmt ? fmt : "missing", fmt ? "'" : "");
    QTIP_RETURN_ERROR_IF(!ver || atoi(ver) != QTIP_HESSIAN_FORMAT_VERSION, QTIP_E_UNSUPPORTED,
                         "'%s': hessian format version %s, expected %d", path,
                         ver ? ver : "missing", QTIP_HESSIAN_FORMAT_VERSION);
    const char *ns = qtip_st_metadata(f, "n");
    char *nend = NULL;
    long long n = ns ? strtoll(ns, &nend, 10) : 0;
    /* bounded so that n(n+1)/2 below cannot overflow */
    QTIP_RETURN_ERROR_IF(n <= 0 || n > ((long long)1 << 31) || *nend, QTIP_E_FORMAT,
                         "'%s': bad metadata 'n' (%s)", path, ns ? ns : "missing");
    const qtip_tensor_view *tc = need(f, path, "count", QTIP_DT_I64, 1);
    const qtip_tensor_view *tx = tc ? need(f, path, "sum_x", QTIP_DT_F64, n) : NULL;
    const qtip_tensor_view *tS = tx ? need(f, path, "sum_xxT_tril", QTIP_DT_F64, n * (n + 1) / 2) : NULL;
    if (!tS) return QTIP_E_FORMAT;
    int64_t count;
    memcpy(&count, tc->data, 8);
    const char *cs = qtip_st_metadata(f, "count");
    QTIP_RETURN_ERROR_IF(count < 0 || (cs && strtoull(cs, NULL, 10) != (uint64_t)count),
                         QTIP_E_FORMAT, "'%s': count tensor %lld disagrees with metadata '%s'",
                         path, (long long)count, cs ? cs : "");
    const char *sk = qtip_st_metadata(f, "skipped"), *hm = qtip_st_metadata(f, "has_mean");
    qtip_hessian *h = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_create(n, qtip_st_metadata(f, "site"), &h));
    double *S = hessian_mut_S(h);
    const unsigned char *src = tS->data;
    for (long long i = 0; i < n; i++)
        memcpy(S + (size_t)i * (size_t)n, src + (size_t)(i * (i + 1) / 2) * 8, (size_t)(i + 1) * 8);
    memcpy(hessian_mut_sx(h), tx->data, (size_t)n * 8);
    hessian_set_counts(h, (uint64_t)count, sk ? strtoull(sk, NULL, 10) : 0, !hm || strcmp(hm, "false"));
    hessian_set_import_centering(h, qtip_st_metadata(f, "import_centering"));
    const char *in = qtip_st_metadata(f, "inputs");
    json_t *arr = in ? json_loads(in, 0, NULL) : NULL;
    qtip_status s = QTIP_OK;
    if (in && !json_is_array(arr))
        s = qtip_error(QTIP_E_FORMAT, "'%s': metadata 'inputs' is not a JSON array", path);
    for (size_t i = 0; s == QTIP_OK && arr && i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *nm = json_string_value(json_object_get(o, "name"));
        const char *ck = json_string_value(json_object_get(o, "checksum"));
        s = qtip_hessian_add_input(h, nm ? nm : "", ck ? ck : "");
    }
    json_decref(arr);
    if (s != QTIP_OK) {
        qtip_hessian_free(h);
        return s;
    }
    *out = h;
    return QTIP_OK;
}

qtip_status qtip_hessian_load(const char *path, qtip_hessian **out)
{
    *out = NULL;
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(path, &f));
    qtip_status s = load_open(path, f, out);
    qtip_st_close(f);
    return s;
}
