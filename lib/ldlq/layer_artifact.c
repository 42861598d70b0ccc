/*
 * layer_artifact.c — the per-layer artifact: memory object, safetensors file
 * (docs/formats/layer-artifact.md), and the decoder that re-derives W_hat.
 */
#include "ldlq/quant_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int64_t qtip_quant_code_cols_(const qtip_quant_params *p, int64_t n)
{
    if (p->method == QTIP_METHOD_TRELLIS) {
        const qtip_trellis_params *t = &p->trellis;
        if (t->td_y < 1 || n % t->td_y || (t->td_y * t->K) % 16) return 0;
        return n * t->K / 16;
    }
    return n % 8 ? 0 : n / 8;
}

qtip_status qtip_layer_artifact_alloc_(const qtip_quant_params *p, int64_t m, int64_t n,
                                       qtip_layer_artifact **out)
{
    *out = NULL;
    int64_t cc = qtip_quant_code_cols_(p, n);
    QTIP_RETURN_ERROR_IF(cc <= 0 || m <= 0, QTIP_E_SHAPE,
                         "layer shape [%lld, %lld] does not fit the code layout",
                         (long long)m, (long long)n);
    qtip_layer_artifact *a = qtip_calloc(1, sizeof *a, "layer artifact");
    if (!a) return QTIP_E_NOMEM;
    a->params = *p;
    a->m = m;
    a->n = n;
    a->code_cols = cc;
    a->code_is_i32 = p->method == QTIP_METHOD_E8P && p->e8p != QTIP_E8P12;
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
    info->bits_per_weight = a->params.method == QTIP_METHOD_TRELLIS
                                ? (double)a->params.trellis.K
                                : (double)qtip_e8p_bits(a->params.e8p);
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
 * Decoding
 * ------------------------------------------------------------------------- */

static qtip_status decode_trellis(const qtip_layer_artifact *a, float *out)
{
    const qtip_trellis_params *tp = &a->params.trellis;
    const int64_t m = a->m, n = a->n;
    const int T = tp->td_x * tp->td_y, wr = tp->td_y * tp->K / 16, wpt = tp->td_x * wr;
    const int64_t tiles_r = m / tp->td_x, tiles_c = n / tp->td_y;
    qtip_trellis *tr = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_trellis_create_with_lut(tp, a->tlut, &tr));
    size_t ntiles = (size_t)tiles_r * (size_t)tiles_c;
    uint16_t *bits = qtip_alloc(ntiles, (size_t)wpt * sizeof(uint16_t), "tile bitstreams");
    float *vals = qtip_alloc(ntiles, (size_t)T * sizeof(float), "tile values");
    int *order = qtip_alloc((size_t)T, sizeof(int), "tile order");
    qtip_status st = QTIP_OK;
    if (!bits || !vals || !order) {
        st = QTIP_E_NOMEM;
        goto done;
    }
    qtip_trellis_tile_order(tp, order);
    const int16_t *codes = a->codes;
    for (int64_t R = 0; R < tiles_r; R++)
        for (int64_t C = 0; C < tiles_c; C++) {
            uint16_t *b = bits + (size_t)(R * tiles_c + C) * (size_t)wpt;
            for (int w = 0; w < wpt; w++)
                b[w] = (uint16_t)codes[(R * tp->td_x + w / wr) * a->code_cols + C * wr + w % wr];
        }
    st = qtip_trellis_decode(tr, bits, ntiles, vals);
    if (st != QTIP_OK) goto done;
    for (int64_t R = 0; R < tiles_r; R++)
        for (int64_t C = 0; C < tiles_c; C++) {
            const float *v = vals + (size_t)(R * tiles_c + C) * (size_t)T;
            for (int j = 0; j < T; j++) {
                int r = order[j] / tp->td_y, c = order[j] % tp->td_y;
                out[(R * tp->td_x + r) * n + C * tp->td_y + c] = v[j];
            }
        }
done:
    qtip_trellis_free(tr);
    free(bits);
    free(vals);
    free(order);
    return st;
}

static qtip_status decode_e8p(const qtip_layer_artifact *a, float *out)
{
    qtip_e8p *cb = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_e8p_create(a->params.e8p, &cb));
    size_t count = (size_t)a->m * (size_t)a->code_cols;
    uint32_t *codes = qtip_alloc(count, sizeof(uint32_t), "E8P codes");
    qtip_status st = QTIP_E_NOMEM;
    if (codes) {
        for (size_t i = 0; i < count; i++)
            codes[i] = a->code_is_i32 ? (uint32_t)((const int32_t *)a->codes)[i]
                                      : (uint32_t)(uint16_t)((const int16_t *)a->codes)[i];
        /* (m, n/8) codes decode to m x n/8 x 8 = m x n row-major. */
        st = qtip_e8p_decode(cb, codes, count, out);
    }
    free(codes);
    qtip_e8p_free(cb);
    return st;
}

qtip_status qtip_layer_artifact_decode_rotated(const qtip_layer_artifact *a, float *Wr_hat)
{
    if (a->params.method == QTIP_METHOD_TRELLIS) return decode_trellis(a, Wr_hat);
    return decode_e8p(a, Wr_hat);
}

qtip_status qtip_layer_artifact_decode(const qtip_layer_artifact *a, float *What)
{
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_decode_rotated(a, What));
    size_t mn = (size_t)a->m * (size_t)a->n;
    for (size_t i = 0; i < mn; i++) What[i] *= a->wscale;
    QTIP_FORWARD_IF_ERROR(qtip_rht_weight_inverse(What, a->m, a->n, a->SU, a->SV));
    /* a finite but huge Wscale (e.g. from a damaged file) overflows to Inf */
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(What[i]), QTIP_E_NONFINITE,
                             "layer '%s': decoded weight %zu is not finite (Wscale %g)", a->tensor,
                             i, (double)a->wscale);
    return QTIP_OK;
}

/* ---------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------- */

#define META_FORMAT "qtip-layer"

static qtip_status meta_set(qtip_st_writer *w, const char *key, const char *fmt, ...)
    QTIP_PRINTF(3, 4);
static qtip_status meta_set(qtip_st_writer *w, const char *key, const char *fmt, ...)
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
    QTIP_FORWARD_IF_ERROR(meta_set(w, "format", "%s", META_FORMAT));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "format_version", "%d", QTIP_LAYER_FORMAT_VERSION));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "tool_version", "qtip %s", qtip_version_string()));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "tensor", "%s", a->tensor));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "method", "%s", p->method == QTIP_METHOD_TRELLIS ? "trellis" : "e8p"));
    if (p->method == QTIP_METHOD_TRELLIS) {
        const qtip_trellis_params *t = &p->trellis;
        QTIP_FORWARD_IF_ERROR(meta_set(w, "decode_mode", "%s", qtip_code_name(t->code)));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "L", "%d", t->L));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "K", "%d", t->K));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "V", "%d", t->V));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "tlut_bits", "%d", t->Q));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "td_x", "%d", t->td_x));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "td_y", "%d", t->td_y));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "tile_order", "%s", qtip_trellis_tile_is_mma(t) ? "mma16x16" : "row-major"));
        /* the search that made the codes (decoding does not need it) */
        if (p->tail_biting >= 2) QTIP_FORWARD_IF_ERROR(meta_set(w, "tail_biting", "best-of-%d", p->tail_biting));
        else QTIP_FORWARD_IF_ERROR(meta_set(w, "tail_biting", "%s", "two-pass"));
    } else {
        QTIP_FORWARD_IF_ERROR(meta_set(w, "codebook", "%s", qtip_e8p_name(p->e8p)));
        QTIP_FORWARD_IF_ERROR(meta_set(w, "resid_scale", "%.9g", (double)qtip_e8p_resid_scale(p->e8p)));
    }
    QTIP_FORWARD_IF_ERROR(meta_set(w, "sigma_reg", "%.17g", p->sigma_reg));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "damping_tries", "%d", p->damping_tries));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "damping", "%.17g", a->damping));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "scale_override", "%.17g", p->scale_override));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "seed", "%llu", (unsigned long long)p->seed));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "refine_passes", "%d", p->refine_passes));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "ldlq", "%d", p->ldlq));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "proxy_loss", "%.17g", a->proxy_loss));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "proxy_loss_rotated", "%.17g", a->proxy_loss_rotated));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "weights_checksum", "%s", a->weights_checksum));
    QTIP_FORWARD_IF_ERROR(meta_set(w, "hessian_checksum", "%s", a->hessian_checksum));

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

static qtip_status meta_int(const qtip_st_file *f, const char *path, const char *key, long long lo,
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

static qtip_status load_from(qtip_st_file *f, const char *path, qtip_layer_artifact **out)
{
    const char *fmt = qtip_st_metadata(f, "format");
    QTIP_RETURN_ERROR_IF(!fmt || strcmp(fmt, META_FORMAT) != 0, QTIP_E_FORMAT,
                         "'%s' is not a layer artifact: metadata 'format' is '%s', expected '%s'",
                         path, fmt ? fmt : "(missing)", META_FORMAT);
    long long ver;
    QTIP_FORWARD_IF_ERROR(meta_int(f, path, "format_version", 1, 1000000, &ver));
    QTIP_RETURN_ERROR_IF(ver != QTIP_LAYER_FORMAT_VERSION, QTIP_E_FORMAT,
                         "'%s': layer artifact format version %lld, this build reads %d", path, ver,
                         QTIP_LAYER_FORMAT_VERSION);
    const char *method = qtip_st_metadata(f, "method");
    QTIP_RETURN_ERROR_IF(!method, QTIP_E_FORMAT, "'%s': layer artifact lacks metadata 'method'", path);
    qtip_quant_params p;
    long long x;
    if (strcmp(method, "trellis") == 0) {
        p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
        const char *dm = qtip_st_metadata(f, "decode_mode");
        int code = dm ? qtip_code_from_name(dm) : -1;
        QTIP_RETURN_ERROR_IF(code < 0, QTIP_E_FORMAT, "'%s': unknown decode_mode '%s'", path,
                             dm ? dm : "(missing)");
        p.trellis.code = (qtip_code)code;
        QTIP_FORWARD_IF_ERROR(meta_int(f, path, "L", 1, 32, &x)); p.trellis.L = (int)x;
        QTIP_FORWARD_IF_ERROR(meta_int(f, path, "K", 1, 32, &x)); p.trellis.K = (int)x;
        QTIP_FORWARD_IF_ERROR(meta_int(f, path, "V", 1, 32, &x)); p.trellis.V = (int)x;
        QTIP_FORWARD_IF_ERROR(meta_int(f, path, "tlut_bits", 0, 32, &x)); p.trellis.Q = (int)x;
        QTIP_FORWARD_IF_ERROR(meta_int(f, path, "td_x", 1, 65536, &x)); p.trellis.td_x = (int)x;
        QTIP_FORWARD_IF_ERROR(meta_int(f, path, "td_y", 1, 65536, &x)); p.trellis.td_y = (int)x;
        /* optional: artifacts written before the option have the two-pass search */
        const char *tb = qtip_st_metadata(f, "tail_biting");
        int tbn = tb ? qtip_trellis_tail_biting_from_name(tb) : 1;
        QTIP_RETURN_ERROR_IF(tbn < 1, QTIP_E_FORMAT,
                             "'%s': metadata 'tail_biting' is '%s', expected two-pass or best-of-<n>", path, tb);
        p.tail_biting = tbn >= 2 ? tbn : 0;
    } else if (strcmp(method, "e8p") == 0) {
        p = qtip_quant_default_params(QTIP_METHOD_E8P);
        const char *cb = qtip_st_metadata(f, "codebook");
        int k = cb ? qtip_e8p_from_name(cb) : -1;
        QTIP_RETURN_ERROR_IF(k < 0, QTIP_E_FORMAT, "'%s': unknown codebook '%s'", path,
                             cb ? cb : "(missing)");
        p.e8p = (qtip_e8p_kind)k;
    } else {
        return qtip_error(QTIP_E_FORMAT, "'%s': unknown method '%s', expected 'trellis' or 'e8p'",
                          path, method);
    }
    QTIP_FORWARD_IF_ERROR(meta_double(f, path, "sigma_reg", &p.sigma_reg));
    QTIP_FORWARD_IF_ERROR(meta_double(f, path, "scale_override", &p.scale_override));
    QTIP_FORWARD_IF_ERROR(meta_int(f, path, "damping_tries", 1, 1000000, &x)); p.damping_tries = (int)x;
    QTIP_FORWARD_IF_ERROR(meta_int(f, path, "refine_passes", 0, 1000000, &x)); p.refine_passes = (int)x;
    QTIP_FORWARD_IF_ERROR(meta_int(f, path, "ldlq", 0, 1, &x)); p.ldlq = (int)x;
    const char *seed = qtip_st_metadata(f, "seed");
    QTIP_RETURN_ERROR_IF(!seed, QTIP_E_FORMAT, "'%s': layer artifact lacks metadata 'seed'", path);
    p.seed = strtoull(seed, NULL, 10);
    qtip_status st = qtip_quant_check_params(&p);
    if (st != QTIP_OK) {
        qtip_error_prefix("'%s'", path);
        return QTIP_E_FORMAT;
    }

    const qtip_tensor_view *su = qtip_st_find(f, "SU"), *sv = qtip_st_find(f, "SV");
    QTIP_RETURN_ERROR_IF(!su || !sv || su->ndim != 1 || sv->ndim != 1, QTIP_E_FORMAT,
                         "'%s': layer artifact needs 1-D tensors 'SU' and 'SV'", path);
    int64_t m = sv->shape[0], n = su->shape[0];
    qtip_layer_artifact *a = NULL;
    st = qtip_layer_artifact_alloc_(&p, m, n, &a);
    if (st != QTIP_OK) {
        qtip_error_prefix("'%s'", path);
        return QTIP_E_FORMAT;
    }
    const qtip_tensor_view *t;
    int64_t cs[2] = {m, a->code_cols};
    st = get_tensor(f, path, "codes", a->code_is_i32 ? QTIP_DT_I32 : QTIP_DT_I16, 2, cs, &t);
    if (st == QTIP_OK) memcpy(a->codes, t->data, t->nbytes);
    if (st == QTIP_OK) st = get_tensor(f, path, "SU", QTIP_DT_F32, 1, &n, &t);
    if (st == QTIP_OK) memcpy(a->SU, t->data, t->nbytes);
    if (st == QTIP_OK) st = get_tensor(f, path, "SV", QTIP_DT_F32, 1, &m, &t);
    if (st == QTIP_OK) memcpy(a->SV, t->data, t->nbytes);
    if (st == QTIP_OK) st = get_tensor(f, path, "Wscale", QTIP_DT_F32, 0, NULL, &t);
    if (st == QTIP_OK) memcpy(&a->wscale, t->data, sizeof(float));
    if (st == QTIP_OK && p.method == QTIP_METHOD_TRELLIS &&
        (p.trellis.code == QTIP_CODE_HYB || p.trellis.code == QTIP_CODE_LUT)) {
        int64_t rows = (int64_t)1 << (p.trellis.code == QTIP_CODE_HYB ? p.trellis.Q : p.trellis.L);
        int64_t ts[2] = {rows, p.trellis.code == QTIP_CODE_HYB ? 2 : p.trellis.V};
        st = get_tensor(f, path, "tlut", QTIP_DT_F32, 2, ts, &t);
        if (st == QTIP_OK) {
            a->tlut = qtip_alloc((size_t)(ts[0] * ts[1]), sizeof(float), "tlut");
            if (!a->tlut) st = QTIP_E_NOMEM;
            else memcpy(a->tlut, t->data, t->nbytes);
            a->tlut_rows = (size_t)ts[0];
            a->tlut_cols = (size_t)ts[1];
        }
    }
    if (st == QTIP_OK && (t = qtip_st_find(f, "refine_losses")) != NULL) {
        if (t->dtype != QTIP_DT_F64 || t->ndim != 1 || t->shape[0] > 1000000) {
            st = qtip_error(QTIP_E_FORMAT, "'%s': tensor 'refine_losses' must be 1-D F64", path);
        } else {
            a->refine_count = (int)t->shape[0];
            a->refine_losses = qtip_alloc((size_t)a->refine_count + 1, sizeof(double), "losses");
            if (!a->refine_losses) st = QTIP_E_NOMEM;
            else memcpy(a->refine_losses, t->data, t->nbytes);
        }
    }
    /* decode multiplies by these: a NaN or odd sign would silently poison W_hat */
    for (int64_t i = 0; st == QTIP_OK && i < n; i++)
        if (a->SU[i] != 1.0f && a->SU[i] != -1.0f)
            st = qtip_error(QTIP_E_FORMAT, "'%s': tensor 'SU' has %g at %lld, expected +1 or -1",
                            path, (double)a->SU[i], (long long)i);
    for (int64_t i = 0; st == QTIP_OK && i < m; i++)
        if (a->SV[i] != 1.0f && a->SV[i] != -1.0f)
            st = qtip_error(QTIP_E_FORMAT, "'%s': tensor 'SV' has %g at %lld, expected +1 or -1",
                            path, (double)a->SV[i], (long long)i);
    if (st == QTIP_OK && !isfinite(a->wscale))
        st = qtip_error(QTIP_E_FORMAT, "'%s': tensor 'Wscale' is %g, expected a finite value", path,
                        (double)a->wscale);
    for (size_t i = 0; st == QTIP_OK && a->tlut && i < a->tlut_rows * a->tlut_cols; i++)
        if (!isfinite(a->tlut[i]))
            st = qtip_error(QTIP_E_FORMAT, "'%s': tensor 'tlut' has a non-finite value at %zu", path, i);
    if (st == QTIP_OK) qtip_clear_error();
    if (st == QTIP_OK) st = meta_double(f, path, "proxy_loss", &a->proxy_loss);
    if (st == QTIP_OK) st = meta_double(f, path, "proxy_loss_rotated", &a->proxy_loss_rotated);
    if (st == QTIP_OK) st = meta_double(f, path, "damping", &a->damping);
    if (st == QTIP_OK) {
        const char *s;
        free(a->tensor);
        s = qtip_st_metadata(f, "tensor");
        a->tensor = strdup(s ? s : "");
        if (!a->tensor) st = qtip_error(QTIP_E_NOMEM, "out of memory");
        qtip_layer_artifact_set_source(a, qtip_st_metadata(f, "weights_checksum"),
                                       qtip_st_metadata(f, "hessian_checksum"));
    }
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
