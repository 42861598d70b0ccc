/*
 * hessian_export.c — E[x x^T] in the reference tools' layouts (qtip.md §5.1/5.2,
 * quipsharp.md §4.1): `flatH` = lower triangle in torch.tril_indices order
 * ((0,0),(1,0),(1,1),(2,0),...), fp32, with `n`, `ct`, and `mu` when the stored
 * matrix is the centred covariance; or the full matrix `H`. Rows are converted
 * and streamed one at a time.
 */
#include "hessian/hessian_internal.h"

#include <math.h>
#include <string.h>

static void put(qtip_dtype dt, void *row, size_t j, double v)
{
    if (dt == QTIP_DT_F64) ((double *)row)[j] = v;
    else ((float *)row)[j] = (float)v;
}

qtip_status qtip_hessian_export(const qtip_hessian *hc, const char *path,
                                const qtip_hessian_export_opts *o)
{
    qtip_hessian *h = (qtip_hessian *)hc; /* logically const: only pending rows are flushed */
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush(h));
    const qtip_dtype dt = o->dtype;
    QTIP_RETURN_ERROR_IF(dt != QTIP_DT_F32 && dt != QTIP_DT_F64, QTIP_E_UNSUPPORTED,
                         "cannot export a hessian as %s, expected F32 or F64", qtip_dtype_name(dt));
    const int64_t n = qtip_hessian_dim(h);
    const uint64_t count = qtip_hessian_count(h);
    QTIP_RETURN_ERROR_IF(count == 0, QTIP_E_PARAM, "cannot export a hessian with no rows");
    QTIP_RETURN_ERROR_IF(o->centered && !qtip_hessian_has_mean(h), QTIP_E_PARAM,
                         "cannot export a centred hessian: the mean of the inputs is unknown");
    const double ct = (double)count;
    const double *S = qtip_hessian_sum_xx(h), *sx = qtip_hessian_sum_x(h);
    const size_t esz = qtip_dtype_size(dt);
    double *mu = qtip_alloc((size_t)n, sizeof(double), "the mean");
    void *row = qtip_alloc((size_t)n, esz, "an export row");
    if (!mu || !row) {
        free(mu);
        free(row);
        return QTIP_E_NOMEM;
    }
    for (int64_t j = 0; j < n; j++) mu[j] = sx[j] / ct;

    /* Scalars first, the matrix 8-aligned after them, mu last (may end unaligned). */
    hessian_st_tensor t[4] = {
        {"n", QTIP_DT_I64, 0, {0, 0}},
        {"ct", QTIP_DT_I64, 0, {0, 0}},
        {o->layout == QTIP_HESSIAN_FULL ? "H" : "flatH", dt, 1, {n * (n + 1) / 2, 0}},
        {"mu", dt, 1, {n, 0}},
    };
    if (o->layout == QTIP_HESSIAN_FULL) {
        t[2].ndim = 2;
        t[2].shape[0] = n;
        t[2].shape[1] = n;
    }
    size_t nt = o->centered ? 4 : 3;
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string(o->layout == QTIP_HESSIAN_FULL ? "full" : "flatH"));
    json_object_set_new(meta, "centered", json_string(o->centered ? "true" : "false"));
    json_object_set_new(meta, "site", json_string(qtip_hessian_site(h)));
    json_object_set_new(meta, "tool", json_string("qtip " QTIP_VERSION_STRING));
    qtip_atomic_file *f = NULL;
    qtip_status s = hessian_st_begin(path, t, nt, meta, &f);
    json_decref(meta);
    if (s != QTIP_OK) goto out;
    int64_t scal[2] = {n, (int64_t)count};
    s = qtip_atomic_write(f, scal, 16);
    for (int64_t i = 0; i < n && s == QTIP_OK; i++) {
        int64_t m = o->layout == QTIP_HESSIAN_FULL ? n : i + 1;
        for (int64_t j = 0; j < m; j++) {
            double sij = j <= i ? S[(size_t)i * (size_t)n + (size_t)j] : S[(size_t)j * (size_t)n + (size_t)i];
            double v = sij / ct;
            if (o->centered) v -= mu[i] * mu[j];
            put(dt, row, (size_t)j, v);
        }
        s = qtip_atomic_write(f, row, (size_t)m * esz);
    }
    if (s == QTIP_OK && o->centered) {
        for (int64_t j = 0; j < n; j++) put(dt, row, (size_t)j, mu[j]);
        s = qtip_atomic_write(f, row, (size_t)n * esz);
    }
    if (s == QTIP_OK) s = qtip_atomic_commit(f);
    else qtip_atomic_abort(f);
out:
    free(mu);
    free(row);
    return s;
}

static qtip_status import_open(const char *path, const char *site, qtip_st_file *f,
                               qtip_hessian **out)
{
    const qtip_tensor_view *tH = qtip_st_find(f, "flatH");
    int full = 0;
    if (!tH) {
        tH = qtip_st_find(f, "H");
        full = 1;
    }
    const char *fmt = qtip_st_metadata(f, "format");
    if (!tH && fmt && !strcmp(fmt, "qtip.hessian")) { /* ours: name its real defect */
        qtip_hessian *h = NULL;
        QTIP_FORWARD_IF_ERROR(hessian_load_st(path, f, &h));
        qtip_hessian_free(h);
        return qtip_error(QTIP_E_FORMAT, "'%s' is a qtip hessian file already; import reads the "
                          "reference layouts (tensor 'flatH' or 'H')", path);
    }
    QTIP_RETURN_ERROR_IF(!tH, QTIP_E_FORMAT, "'%s': has neither tensor 'flatH' nor 'H' (a reference "
                         "layout) nor metadata 'format' = 'qtip.hessian'", path);
    QTIP_RETURN_ERROR_IF(tH->dtype != QTIP_DT_F32 && tH->dtype != QTIP_DT_F64 &&
                             tH->dtype != QTIP_DT_F16 && tH->dtype != QTIP_DT_BF16,
                         QTIP_E_FORMAT, "'%s': tensor '%s' has dtype %s, expected a float type",
                         path, tH->name, qtip_dtype_name(tH->dtype));
    int64_t elems = 1;
    for (int d = 0; d < tH->ndim; d++) elems *= tH->shape[d];
    int64_t n = 0;
    const qtip_tensor_view *tn = qtip_st_find(f, "n");
    if (tn) QTIP_FORWARD_IF_ERROR(hessian_scalar_i64(tn, path, &n));
    else if (full && tH->ndim == 2) n = tH->shape[0];
    else n = (int64_t)((sqrt(8.0 * (double)elems + 1.0) - 1.0) / 2.0 + 0.5);
    QTIP_RETURN_ERROR_IF(n <= 0 || n > ((int64_t)1 << 31), QTIP_E_SHAPE,
                         "'%s': n = %lld is out of range", path, (long long)n);
    int64_t want = full ? n * n : n * (n + 1) / 2;
    QTIP_RETURN_ERROR_IF(n <= 0 || elems != want, QTIP_E_SHAPE,
                         "'%s': tensor '%s' has %lld elements, expected %lld for n = %lld", path,
                         tH->name, (long long)elems, (long long)want, (long long)n);
    int64_t ct = 0;
    const qtip_tensor_view *tc = qtip_st_find(f, "ct");
    QTIP_RETURN_ERROR_IF(!tc, QTIP_E_FORMAT, "'%s': missing tensor 'ct' (the token count)", path);
    QTIP_FORWARD_IF_ERROR(hessian_scalar_i64(tc, path, &ct));
    QTIP_RETURN_ERROR_IF(ct <= 0, QTIP_E_FORMAT, "'%s': 'ct' is %lld, expected > 0", path, (long long)ct);
    const qtip_tensor_view *tm = qtip_st_find(f, "mu");
    if (tm) {
        int64_t me = 1;
        for (int d = 0; d < tm->ndim; d++) me *= tm->shape[d];
        QTIP_RETURN_ERROR_IF(me != n, QTIP_E_SHAPE, "'%s': tensor 'mu' has %lld elements, expected %lld",
                             path, (long long)me, (long long)n);
    }
    qtip_hessian *h = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_create(n, site, &h));
    double *S = hessian_mut_S(h), *sx = hessian_mut_sx(h);
    for (int64_t j = 0; j < n; j++) sx[j] = tm ? hessian_elem(tm->dtype, tm->data, (size_t)j) : 0.0;
    const double c = (double)ct;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            size_t k = full ? (size_t)i * (size_t)n + (size_t)j : (size_t)(i * (i + 1) / 2 + j);
            double e = hessian_elem(tH->dtype, tH->data, k);
            if (tm) e += sx[i] * sx[j]; /* centred covariance back to E[x x^T] */
            S[(size_t)i * (size_t)n + (size_t)j] = e * c;
        }
    for (int64_t j = 0; j < n; j++) sx[j] *= c;
    hessian_set_counts(h, (uint64_t)ct, 0, tm != NULL);
    qtip_status s = qtip_hessian_add_input(h, path, "");
    if (s != QTIP_OK) {
        qtip_hessian_free(h);
        return s;
    }
    *out = h;
    return QTIP_OK;
}

qtip_status qtip_hessian_import(const char *path, const char *site, qtip_hessian **out)
{
    *out = NULL;
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(path, &f));
    qtip_status s = import_open(path, site, f, out);
    qtip_st_close(f);
    return s;
}
