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
    qtip_status fs = qtip_hessian_check_finite(h, qtip_hessian_site(h));
    if (fs != QTIP_OK) {
        qtip_error_prefix("cannot export to '%s'", path);
        return fs;
    }
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

/* The convention for `path` (docs/formats/hessian.md, "Reference layouts"). */
static qtip_status resolve_centering(const char *path, qtip_st_file *f, int has_mu,
                                     qtip_hessian_centering asked, qtip_hessian_centering *applied)
{
    const char *meta = qtip_st_metadata(f, "centered");
    int stated = -1; /* what the file's metadata says: 1 centred, 0 not, -1 nothing */
    if (meta && !strcmp(meta, "true")) stated = 1;
    else if (meta && !strcmp(meta, "false")) stated = 0;
    else QTIP_RETURN_ERROR_IF(meta, QTIP_E_FORMAT,
                              "'%s': metadata 'centered' is '%s', expected 'true' or 'false'", path, meta);
    int want = asked == QTIP_HESSIAN_CENTERING_AUTO ? stated : asked == QTIP_HESSIAN_CENTERED;
    QTIP_RETURN_ERROR_IF(stated >= 0 && want != stated, QTIP_E_FORMAT,
                         "'%s': metadata 'centered' is '%s', but the %s convention was asked for",
                         path, meta, want ? "centred" : "uncentred");
    QTIP_RETURN_ERROR_IF(!has_mu && want == 1, QTIP_E_FORMAT,
                         "'%s': has no tensor 'mu', so a centred matrix cannot be made E[x x^T] "
                         "(mu mu^T cannot be added back)", path);
    if (want < 0 && has_mu) {
        qtip_log(QTIP_LOG_WARN,
                 "'%s': holds 'mu' but does not say whether its matrix is centred: taken as "
                 "centred (E[x x^T] - mu mu^T, QuIP#'s layout), mu mu^T added back; "
                 "--centered or --uncentered chooses", path);
        want = 1;
    }
    *applied = want == 1 ? QTIP_HESSIAN_CENTERED : QTIP_HESSIAN_UNCENTERED;
    return QTIP_OK;
}

/* n, from the scalar 'n' when present, else from the matrix's shape. */
static qtip_status import_dim(const char *path, qtip_st_file *f, const qtip_tensor_view *tH,
                              int full, int64_t *n_out)
{
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
    QTIP_RETURN_ERROR_IF(elems != want, QTIP_E_SHAPE,
                         "'%s': tensor '%s' has %lld elements, expected %lld for n = %lld", path,
                         tH->name, (long long)elems, (long long)want, (long long)n);
    *n_out = n;
    return QTIP_OK;
}

/* The matrix ('flatH' or 'H'), n, the count and the optional 'mu', checked. */
typedef struct {
    const qtip_tensor_view *H, *mu;
    int full;
    int64_t n, ct;
} import_parts;

static qtip_status import_find(const char *path, qtip_st_file *f, import_parts *p)
{
    p->H = qtip_st_find(f, "flatH");
    p->full = !p->H;
    if (!p->H) p->H = qtip_st_find(f, "H");
    QTIP_RETURN_ERROR_IF(!p->H, QTIP_E_FORMAT, "'%s': has neither 'flatH' nor 'H'", path);
    QTIP_RETURN_ERROR_IF(p->H->dtype != QTIP_DT_F32 && p->H->dtype != QTIP_DT_F64 &&
                             p->H->dtype != QTIP_DT_F16 && p->H->dtype != QTIP_DT_BF16,
                         QTIP_E_FORMAT, "'%s': tensor '%s' has dtype %s, expected a float type",
                         path, p->H->name, qtip_dtype_name(p->H->dtype));
    QTIP_FORWARD_IF_ERROR(import_dim(path, f, p->H, p->full, &p->n));
    const qtip_tensor_view *tc = qtip_st_find(f, "ct");
    QTIP_RETURN_ERROR_IF(!tc, QTIP_E_FORMAT, "'%s': missing tensor 'ct' (the token count)", path);
    QTIP_FORWARD_IF_ERROR(hessian_scalar_i64(tc, path, &p->ct));
    QTIP_RETURN_ERROR_IF(p->ct <= 0, QTIP_E_FORMAT, "'%s': 'ct' is %lld, expected > 0", path,
                         (long long)p->ct);
    p->mu = qtip_st_find(f, "mu");
    if (p->mu) {
        int64_t me = 1;
        for (int d = 0; d < p->mu->ndim; d++) me *= p->mu->shape[d];
        QTIP_RETURN_ERROR_IF(me != p->n, QTIP_E_SHAPE,
                             "'%s': tensor 'mu' has %lld elements, expected %lld", path,
                             (long long)me, (long long)p->n);
    }
    return QTIP_OK;
}

static qtip_status import_open(const char *path, const char *site, qtip_st_file *f,
                               qtip_hessian_centering asked, qtip_hessian **out)
{
    import_parts p;
    QTIP_FORWARD_IF_ERROR(import_find(path, f, &p));
    qtip_hessian_centering c = QTIP_HESSIAN_UNCENTERED;
    QTIP_FORWARD_IF_ERROR(resolve_centering(path, f, p.mu != NULL, asked, &c));
    const int64_t n = p.n;
    qtip_hessian *h = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_create(n, site, &h));
    double *S = hessian_mut_S(h), *sx = hessian_mut_sx(h);
    for (int64_t j = 0; j < n; j++) sx[j] = p.mu ? hessian_elem(p.mu->dtype, p.mu->data, (size_t)j) : 0.0;
    const double ct = (double)p.ct;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            size_t k = p.full ? (size_t)i * (size_t)n + (size_t)j : (size_t)(i * (i + 1) / 2 + j);
            double e = hessian_elem(p.H->dtype, p.H->data, k);
            if (c == QTIP_HESSIAN_CENTERED) e += sx[i] * sx[j]; /* covariance back to E[x x^T] */
            S[(size_t)i * (size_t)n + (size_t)j] = e * ct;
        }
    for (int64_t j = 0; j < n; j++) sx[j] *= ct;
    hessian_set_counts(h, (uint64_t)p.ct, 0, p.mu != NULL);
    hessian_set_import_centering(h, c == QTIP_HESSIAN_CENTERED ? "centered" : "uncentered");
    qtip_status s = qtip_hessian_add_input(h, path, "");
    if (s != QTIP_OK) {
        qtip_hessian_free(h);
        return s;
    }
    *out = h;
    return QTIP_OK;
}

qtip_status qtip_hessian_import_ex(const char *path, const char *site, qtip_hessian_centering c,
                                   qtip_hessian **out)
{
    *out = NULL;
    QTIP_RETURN_ERROR_IF(c != QTIP_HESSIAN_CENTERING_AUTO && c != QTIP_HESSIAN_CENTERED &&
                             c != QTIP_HESSIAN_UNCENTERED,
                         QTIP_E_PARAM, "invalid centering %d", (int)c);
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(path, &f));
    qtip_status s = import_open(path, site, f, c, out);
    qtip_st_close(f);
    return s;
}

qtip_status qtip_hessian_open_any(const char *path, qtip_hessian_centering c, qtip_hessian **out)
{
    *out = NULL;
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(path, &f));
    const char *fmt = qtip_st_metadata(f, "format");
    /* ours by its format name, or by our tensor (then the loader names what is wrong
     * with the format metadata, instead of the importer saying 'no flatH') */
    int native = (fmt && !strcmp(fmt, "qtip.hessian")) || qtip_st_find(f, "sum_xxT_tril");
    qtip_st_close(f);
    QTIP_RETURN_ERROR_IF(native && c != QTIP_HESSIAN_CENTERING_AUTO, QTIP_E_PARAM,
                         "'%s': is a qtip hessian file (sums, not a centred or uncentred "
                         "matrix): a centering convention does not apply", path);
    return native ? qtip_hessian_load(path, out) : qtip_hessian_import_ex(path, NULL, c, out);
}

qtip_status qtip_hessian_load_expectation(const char *path, int64_t n, double **out)
{
    *out = NULL;
    qtip_hessian *h = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_open_any(path, QTIP_HESSIAN_CENTERING_AUTO, &h));
    qtip_status s = qtip_hessian_check_finite(h, path);
    if (s == QTIP_OK && qtip_hessian_dim(h) != n)
        s = qtip_error(QTIP_E_SHAPE, "hessian '%s' has dimension %lld, expected %lld (in features)",
                       path, (long long)qtip_hessian_dim(h), (long long)n);
    double *H = s ? NULL : qtip_alloc((size_t)n * (size_t)n, sizeof(double), "the hessian");
    if (s == QTIP_OK && !H) s = QTIP_E_NOMEM;
    /* E[x x^T] is the second moment: the mean is already inside, nothing to add. */
    if (s == QTIP_OK && (s = qtip_hessian_expectation(h, H, NULL)) != QTIP_OK)
        qtip_error_prefix("hessian '%s'", path);
    qtip_hessian_free(h);
    if (s != QTIP_OK) {
        free(H);
        return s;
    }
    *out = H;
    return QTIP_OK;
}
