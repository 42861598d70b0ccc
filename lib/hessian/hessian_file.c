/*
 * hessian_file.c — the Hessian file (docs/formats/hessian.md): safetensors with
 * the raw sums (lower triangle only, fp64) and provenance metadata; plus the
 * streamed header the exporters share (lib/io's safetensors writer).
 */
#include "hessian/hessian_internal.h"
#include "io/io_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hessian files are written in host byte order; little-endian hosts only"
#endif

/* The library's one safetensors writer, streamed: declared tensors, header now,
 * data from the caller (a 28672-wide triangle is 3.3 GB: never held twice). */
qtip_status hessian_st_begin(const char *path, const hessian_st_tensor *tensors, size_t count,
                             json_t *metadata, qtip_atomic_file **out)
{
    *out = NULL;
    qtip_st_writer *w = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_writer_create(&w));
    qtip_status s = QTIP_OK;
    const char *key;
    json_t *v;
    json_object_foreach(metadata, key, v) {
        if (s == QTIP_OK && json_is_string(v))
            s = qtip_st_writer_set_metadata(w, key, json_string_value(v));
    }
    for (size_t i = 0; s == QTIP_OK && i < count; i++)
        s = st_writer_declare(w, tensors[i].name, tensors[i].dtype, tensors[i].ndim,
                              tensors[i].shape);
    if (s == QTIP_OK) s = st_writer_begin(w, path, 0, out);
    qtip_st_writer_free(w);
    return s;
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

/* A tensor the format requires: present, of dtype `dt` and `elems` elements (one
 * dimension or a scalar). NULL with a message naming file, tensor and defect. */
static const qtip_tensor_view *need(const qtip_st_file *f, const char *path, const char *name,
                                    qtip_dtype dt, int64_t elems, const char *why)
{
    const qtip_tensor_view *t = qtip_st_find(f, name);
    if (!t) {
        qtip_error(QTIP_E_FORMAT, "'%s': qtip hessian file lacks tensor '%s'", path, name);
        return NULL;
    }
    uint64_t e = 1;
    for (int d = 0; d < t->ndim; d++) e *= (uint64_t)t->shape[d]; /* checked by the reader */
    if (t->dtype != dt || e != (uint64_t)elems || t->ndim > 1) {
        qtip_error(QTIP_E_FORMAT, "'%s': tensor '%s' is %s with %llu elements in %d dimensions, "
                   "expected %s with %lld (%s)", path, name, qtip_dtype_name(t->dtype),
                   (unsigned long long)e, t->ndim, qtip_dtype_name(dt), (long long)elems, why);
        return NULL;
    }
    return t;
}

/* A metadata value that must be a decimal integer in [lo, hi]. */
static qtip_status meta_int(const qtip_st_file *f, const char *path, const char *key, long long lo,
                            long long hi, int required, long long *out)
{
    const char *v = qtip_st_metadata(f, key);
    QTIP_RETURN_ERROR_IF(!v && required, QTIP_E_FORMAT, "'%s': metadata '%s' is missing", path, key);
    if (!v) return QTIP_OK;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    QTIP_RETURN_ERROR_IF(!v[0] || *end || errno || x < lo || x > hi || v[0] == ' ', QTIP_E_FORMAT,
                         "'%s': metadata '%s' is '%s', expected an integer in %lld..%lld", path,
                         key, v, lo, hi);
    *out = x;
    return QTIP_OK;
}

static qtip_status check_header(const char *path, const qtip_st_file *f)
{
    const char *fmt = qtip_st_metadata(f, "format");
    QTIP_RETURN_ERROR_IF(!fmt || strcmp(fmt, "qtip.hessian"), QTIP_E_FORMAT,
                         "'%s': not a qtip hessian file (metadata 'format' is %s%s%s, expected "
                         "'qtip.hessian'); use 'qtip-hessian import' for reference layouts",
                         path, fmt ? "'" : "", fmt ? fmt : "missing", fmt ? "'" : "");
    long long ver = -1;
    qtip_status s = meta_int(f, path, "format_version", 0, 1 << 30, 1, &ver);
    QTIP_FORWARD_IF_ERROR(s);
    QTIP_RETURN_ERROR_IF(ver != QTIP_HESSIAN_FORMAT_VERSION, QTIP_E_UNSUPPORTED,
                         "'%s': metadata 'format_version' is %lld, this qtip reads version %d",
                         path, ver, QTIP_HESSIAN_FORMAT_VERSION);
    const char *hm = qtip_st_metadata(f, "has_mean");
    QTIP_RETURN_ERROR_IF(hm && strcmp(hm, "true") && strcmp(hm, "false"), QTIP_E_FORMAT,
                         "'%s': metadata 'has_mean' is '%s', expected 'true' or 'false'", path, hm);
    const char *lay = qtip_st_metadata(f, "layout");
    QTIP_RETURN_ERROR_IF(!lay || strcmp(lay, "tril-row-major"), QTIP_E_FORMAT,
                         "'%s': metadata 'layout' is %s%s%s, expected 'tril-row-major'", path,
                         lay ? "'" : "", lay ? lay : "missing", lay ? "'" : "");
    return QTIP_OK;
}

static qtip_status load_inputs(const char *path, const qtip_st_file *f, qtip_hessian *h)
{
    const char *in = qtip_st_metadata(f, "inputs");
    if (!in) return QTIP_OK;
    json_t *arr = json_loads(in, 0, NULL);
    qtip_status s = QTIP_OK;
    if (!json_is_array(arr))
        s = qtip_error(QTIP_E_FORMAT, "'%s': metadata 'inputs' is not a JSON array", path);
    for (size_t i = 0; s == QTIP_OK && i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *nm = json_string_value(json_object_get(o, "name"));
        const char *ck = json_string_value(json_object_get(o, "checksum"));
        s = qtip_hessian_add_input(h, nm ? nm : "", ck ? ck : "");
    }
    json_decref(arr);
    return s;
}

/* qtip_hessian_load on the opened container. */
static qtip_status hessian_load_st(const char *path, const qtip_st_file *f, qtip_hessian **out)
{
    *out = NULL;
    QTIP_FORWARD_IF_ERROR(check_header(path, f));
    long long n = 0, mcount = -1, skipped = 0;
    /* n bounded so that n(n+1)/2 below cannot overflow */
    QTIP_FORWARD_IF_ERROR(meta_int(f, path, "n", 1, (long long)1 << 31, 1, &n));
    QTIP_FORWARD_IF_ERROR(meta_int(f, path, "count", 0, INT64_MAX, 1, &mcount));
    QTIP_FORWARD_IF_ERROR(meta_int(f, path, "skipped", 0, INT64_MAX, 0, &skipped));
    char why[64];
    snprintf(why, sizeof why, "metadata 'n' is %lld", n);
    const qtip_tensor_view *tc = need(f, path, "count", QTIP_DT_I64, 1, "a scalar count");
    const qtip_tensor_view *tx = tc ? need(f, path, "sum_x", QTIP_DT_F64, n, why) : NULL;
    const qtip_tensor_view *tS = tx ? need(f, path, "sum_xxT_tril", QTIP_DT_F64, n * (n + 1) / 2, why) : NULL;
    if (!tS) return QTIP_E_FORMAT;
    int64_t count;
    memcpy(&count, tc->data, 8);
    QTIP_RETURN_ERROR_IF(count < 0, QTIP_E_FORMAT, "'%s': tensor 'count' is %lld, expected >= 0",
                         path, (long long)count);
    QTIP_RETURN_ERROR_IF(mcount != count, QTIP_E_FORMAT,
                         "'%s': tensor 'count' is %lld, but metadata 'count' is %lld", path,
                         (long long)count, mcount);
    qtip_hessian *h = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_create(n, qtip_st_metadata(f, "site"), &h));
    double *S = hessian_mut_S(h);
    const unsigned char *src = tS->data;
    for (long long i = 0; i < n; i++)
        memcpy(S + (size_t)i * (size_t)n, src + (size_t)(i * (i + 1) / 2) * 8, (size_t)(i + 1) * 8);
    memcpy(hessian_mut_sx(h), tx->data, (size_t)n * 8);
    const char *hm = qtip_st_metadata(f, "has_mean");
    hessian_set_counts(h, (uint64_t)count, (uint64_t)skipped, !hm || strcmp(hm, "false"));
    hessian_set_import_centering(h, qtip_st_metadata(f, "import_centering"));
    qtip_status s = load_inputs(path, f, h);
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
    qtip_status s = hessian_load_st(path, f, out);
    qtip_st_close(f);
    return s;
}
