/*
 * hessian.c — the Hessian accumulator: S = sum x x^T (fp64, lower triangle),
 * column sums, row count; merge and expectation.
 *
 * Rows are converted to double into a block of fixed size (block_rows, a function
 * of n only) and each full block goes to S through one dsyrk, so the result
 * depends only on the sequence of rows (see qtip_hessian.h, "Determinism").
 */
#include "core/fp16.h"
#include "hessian/hessian_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define HESSIAN_BLOCK_MAX_ROWS 4096
#define HESSIAN_BLOCK_MAX_BYTES ((size_t)64 << 20)

struct qtip_hessian {
    int64_t n;
    char *site;
    double *S;   /* n x n, lower triangle */
    double *sx;  /* n */
    uint64_t count, skipped;
    int has_mean;
    double *blk; /* block_rows x n */
    size_t block_rows, fill;
    qtip_nonfinite_policy policy;
    char *source;
    uint64_t src_row;
    char **in_name, **in_sum;
    size_t nin, capin;
    hessian_device_ops dev; /* dev.add != NULL: a device holds part of S */
    int dev_pending;        /* blocks on the device not yet synced into S */
    char dev_name[160];
    char import_centering[16]; /* "centered" / "uncentered" after an import, else "" */
};

static char *dup_str(const char *s, const char *what)
{
    size_t len = strlen(s ? s : "");
    char *p = qtip_alloc(len + 1, 1, what);
    if (p) memcpy(p, s ? s : "", len + 1);
    return p;
}

qtip_status qtip_hessian_create(int64_t n, const char *site, qtip_hessian **out)
{
    QTIP_RETURN_ERROR_IF(!out, QTIP_E_PARAM, "qtip_hessian_create: out is NULL");
    *out = NULL;
    QTIP_RETURN_ERROR_IF(n <= 0 || n > (int64_t)1 << 20, QTIP_E_PARAM,
                         "invalid hessian dimension %lld, expected 1 to 1048576", (long long)n);
    qtip_hessian *h = calloc(1, sizeof *h);
    QTIP_RETURN_ERROR_IF(!h, QTIP_E_NOMEM, "cannot allocate a hessian accumulator");
    h->n = n;
    h->has_mean = 1;
    size_t rows = HESSIAN_BLOCK_MAX_BYTES / ((size_t)n * sizeof(double));
    if (rows > HESSIAN_BLOCK_MAX_ROWS) rows = HESSIAN_BLOCK_MAX_ROWS;
    if (rows < 1) rows = 1;
    h->block_rows = rows;
    h->site = dup_str(site, "the hessian's site name");
    h->source = dup_str("", "the hessian's source name");
    h->S = qtip_calloc((size_t)n * (size_t)n, sizeof(double), "the hessian sum (n x n doubles)");
    h->sx = qtip_calloc((size_t)n, sizeof(double), "the hessian column sums");
    h->blk = qtip_alloc(rows * (size_t)n, sizeof(double), "the hessian row block");
    if (!h->site || !h->source || !h->S || !h->sx || !h->blk) {
        qtip_hessian_free(h);
        return QTIP_E_NOMEM;
    }
    *out = h;
    return QTIP_OK;
}

void qtip_hessian_free(qtip_hessian *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->nin; i++) {
        free(h->in_name[i]);
        free(h->in_sum[i]);
    }
    free(h->in_name);
    free(h->in_sum);
    free(h->site);
    free(h->source);
    free(h->S);
    free(h->sx);
    free(h->blk);
    if (h->dev.release) h->dev.release(h->dev.user);
    free(h);
}

int64_t qtip_hessian_dim(const qtip_hessian *h) { return h->n; }
uint64_t qtip_hessian_count(const qtip_hessian *h) { return h->count + h->fill; }
const char *qtip_hessian_site(const qtip_hessian *h) { return h->site; }
size_t qtip_hessian_block_rows(const qtip_hessian *h) { return h->block_rows; }
void qtip_hessian_set_nonfinite(qtip_hessian *h, qtip_nonfinite_policy p) { h->policy = p; }
uint64_t qtip_hessian_skipped(const qtip_hessian *h) { return h->skipped; }
const double *qtip_hessian_sum_xx(const qtip_hessian *h) { return h->S; }
const double *qtip_hessian_sum_x(const qtip_hessian *h) { return h->sx; }
int qtip_hessian_has_mean(const qtip_hessian *h) { return h->has_mean; }
const char *qtip_hessian_import_centering(const qtip_hessian *h) { return h->import_centering; }

void hessian_set_import_centering(qtip_hessian *h, const char *c)
{
    snprintf(h->import_centering, sizeof h->import_centering, "%s", c ? c : "");
}

static qtip_status set_site(qtip_hessian *h, const char *site)
{
    char *s = dup_str(site, "the hessian's site name");
    if (!s) return QTIP_E_NOMEM;
    free(h->site);
    h->site = s;
    return QTIP_OK;
}

qtip_status qtip_hessian_set_source(qtip_hessian *h, const char *name)
{
    char *s = dup_str(name, "the hessian's source name");
    if (!s) return QTIP_E_NOMEM;
    free(h->source);
    h->source = s;
    h->src_row = 0;
    return QTIP_OK;
}

qtip_status qtip_hessian_add_input(qtip_hessian *h, const char *name, const char *checksum)
{
    if (h->nin == h->capin) {
        size_t cap = h->capin ? 2 * h->capin : 8;
        char **a = realloc(h->in_name, cap * sizeof *a);
        if (a) h->in_name = a;
        char **b = realloc(h->in_sum, cap * sizeof *b);
        if (b) h->in_sum = b;
        QTIP_RETURN_ERROR_IF(!a || !b, QTIP_E_NOMEM, "cannot grow the hessian's input list");
        h->capin = cap;
    }
    char *a = dup_str(name, "an input name"), *b = dup_str(checksum, "an input checksum");
    if (!a || !b) {
        free(a);
        free(b);
        return QTIP_E_NOMEM;
    }
    h->in_name[h->nin] = a;
    h->in_sum[h->nin] = b;
    h->nin++;
    return QTIP_OK;
}

size_t qtip_hessian_input_count(const qtip_hessian *h) { return h->nin; }
const char *qtip_hessian_input_name(const qtip_hessian *h, size_t i)
{
    return i < h->nin ? h->in_name[i] : NULL;
}
const char *qtip_hessian_input_checksum(const qtip_hessian *h, size_t i)
{
    return i < h->nin ? h->in_sum[i] : NULL;
}

/* The CPU path: OpenBLAS dsyrk. The BLAS thread count is set explicitly, so
 * the library's --threads governs it; the result does not depend on it. */
static void syrk_openblas(int64_t n, size_t rows, const double *X, double *S)
{
    openblas_set_num_threads(qtip_threads());
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (blasint)n, (blasint)rows, 1.0, X,
                (blasint)n, 1.0, S, (blasint)n);
}

static qtip_status flush_block(qtip_hessian *h);

/* Device partial sums into S (discard: dropped, for loaders that replace S). */
static qtip_status device_sync(qtip_hessian *h, int discard)
{
    if (!h->dev.add || !h->dev_pending) return QTIP_OK;
    h->dev_pending = 0;
    return h->dev.sync(h->dev.user, h->n, h->S, discard);
}

void hessian_attach_device(qtip_hessian *h, const hessian_device_ops *ops, const char *name)
{
    if (h->dev.release) h->dev.release(h->dev.user);
    memset(&h->dev, 0, sizeof h->dev);
    h->dev_pending = 0;
    if (ops) h->dev = *ops;
    snprintf(h->dev_name, sizeof h->dev_name, "%s", ops && name ? name : "cpu");
}

const char *qtip_hessian_device(const qtip_hessian *h)
{
    return h->dev_name[0] ? h->dev_name : "cpu";
}

qtip_status qtip_hessian_flush(qtip_hessian *h)
{
    QTIP_FORWARD_IF_ERROR(flush_block(h));
    return device_sync(h, 0);
}

/* The buffered block into S, or into the device's partial sum. */
static qtip_status flush_block(qtip_hessian *h)
{
    if (h->fill == 0) return QTIP_OK;
    const int64_t n = h->n;
    const size_t rows = h->fill;
    const double *X = h->blk;
    /* Column sums: each column summed by one thread in row order (deterministic). */
#pragma omp parallel for schedule(static) num_threads(qtip_threads()) if (n >= 1024)
    for (int64_t j = 0; j < n; j++) {
        double s = h->sx[j];
        for (size_t r = 0; r < rows; r++) s += X[r * (size_t)n + (size_t)j];
        h->sx[j] = s;
    }
    if (h->dev.add) {
        QTIP_FORWARD_IF_ERROR(h->dev.add(h->dev.user, n, rows, X));
        h->dev_pending = 1;
    } else {
        syrk_openblas(n, rows, X, h->S);
    }
    h->count += rows;
    h->fill = 0;
    return QTIP_OK;
}

/* Convert one row into dst; returns the first non-finite column or -1. */
static int64_t convert_row(qtip_dtype dt, const void *src, int64_t n, double *dst)
{
    int64_t bad = -1;
    switch (dt) {
    case QTIP_DT_F64: memcpy(dst, src, (size_t)n * sizeof(double)); break;
    case QTIP_DT_F32: {
        const float *s = src;
        for (int64_t j = 0; j < n; j++) dst[j] = (double)s[j];
        break;
    }
    case QTIP_DT_F16: {
        const uint16_t *s = src;
        for (int64_t j = 0; j < n; j++) dst[j] = (double)qtip_fp16_to_float(s[j]); /* exact */
        break;
    }
    case QTIP_DT_BF16: {
        const uint16_t *s = src;
        for (int64_t j = 0; j < n; j++) dst[j] = (double)qtip_bf16_to_float(s[j]);
        break;
    }
    default: break;
    }
    /* x - x is 0 for finite x and NaN otherwise: one cheap branch-free pass. */
    double acc = 0.0;
    for (int64_t j = 0; j < n; j++) acc += dst[j] - dst[j];
    if (acc != 0.0) /* also true for NaN */
        for (int64_t j = 0; j < n && bad < 0; j++)
            if (!isfinite(dst[j])) bad = j;
    return bad;
}

qtip_status qtip_hessian_add_rows(qtip_hessian *h, qtip_dtype dt, const void *x, size_t rows)
{
    QTIP_RETURN_ERROR_IF(dt != QTIP_DT_F64 && dt != QTIP_DT_F32 && dt != QTIP_DT_F16 &&
                             dt != QTIP_DT_BF16,
                         QTIP_E_UNSUPPORTED,
                         "cannot accumulate a hessian from dtype %d, expected F64, F32, F16 or BF16",
                         (int)dt);
    QTIP_RETURN_ERROR_IF(rows && !x, QTIP_E_PARAM, "qtip_hessian_add_rows: x is NULL");
    const int64_t n = h->n;
    const size_t esz = dt == QTIP_DT_F64 ? 8 : dt == QTIP_DT_F32 ? 4 : 2;
    const unsigned char *p = x;
    for (size_t r = 0; r < rows; r++, p += esz * (size_t)n, h->src_row++) {
        double *dst = h->blk + h->fill * (size_t)n;
        int64_t bad = convert_row(dt, p, n, dst);
        if (bad >= 0) {
            if (h->policy == QTIP_NONFINITE_SKIP) {
                h->skipped++;
                continue;
            }
            return qtip_error(QTIP_E_NONFINITE,
                              "%s%s%srow %llu has a non-finite value (column %lld = %g); "
                              "use --skip-nonfinite to skip such rows",
                              h->source[0] ? "'" : "", h->source, h->source[0] ? "': " : "",
                              (unsigned long long)h->src_row, (long long)bad, dst[bad]);
        }
        if (++h->fill == h->block_rows) QTIP_FORWARD_IF_ERROR(flush_block(h));
    }
    return QTIP_OK;
}

qtip_status qtip_hessian_set_sums(qtip_hessian *h, const double *S_lower, const double *sum_x,
                                  uint64_t count)
{
    const size_t n = (size_t)h->n;
    h->fill = 0;
    QTIP_FORWARD_IF_ERROR(device_sync(h, 1));
    for (size_t i = 0; i < n; i++)
        memcpy(h->S + i * n, S_lower + i * (i + 1) / 2, (i + 1) * sizeof(double));
    if (sum_x) memcpy(h->sx, sum_x, n * sizeof(double));
    else memset(h->sx, 0, n * sizeof(double));
    h->has_mean = sum_x != NULL;
    h->count = count;
    return QTIP_OK;
}

qtip_status qtip_hessian_merge(qtip_hessian *dst, const qtip_hessian *src, int force_site)
{
    QTIP_RETURN_ERROR_IF(dst->n != src->n, QTIP_E_SHAPE,
                         "cannot merge hessians of different dimensions: %lld, expected %lld",
                         (long long)src->n, (long long)dst->n);
    if (!force_site && dst->site[0] && src->site[0] && strcmp(dst->site, src->site))
        return qtip_error(QTIP_E_MISMATCH,
                          "cannot merge hessians of different sites: '%s', expected '%s'",
                          src->site, dst->site);
    /* src is logically const: flushing pending rows changes no observable value. */
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush((qtip_hessian *)src));
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush(dst));
    if (!dst->site[0] && src->site[0]) QTIP_FORWARD_IF_ERROR(set_site(dst, src->site));
    if (!dst->import_centering[0]) hessian_set_import_centering(dst, src->import_centering);
    const int64_t n = dst->n;
#pragma omp parallel for schedule(dynamic, 64) num_threads(qtip_threads()) if (n >= 1024)
    for (int64_t i = 0; i < n; i++) {
        double *d = dst->S + (size_t)i * (size_t)n;
        const double *s = src->S + (size_t)i * (size_t)n;
        for (int64_t j = 0; j <= i; j++) d[j] += s[j];
    }
    for (int64_t j = 0; j < n; j++) dst->sx[j] += src->sx[j];
    dst->count += src->count;
    dst->skipped += src->skipped;
    dst->has_mean = dst->has_mean && src->has_mean;
    for (size_t i = 0; i < src->nin; i++)
        QTIP_FORWARD_IF_ERROR(qtip_hessian_add_input(dst, src->in_name[i], src->in_sum[i]));
    return QTIP_OK;
}

qtip_status qtip_hessian_expectation(const qtip_hessian *h, double *H, double *mu)
{
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush((qtip_hessian *)h));
    QTIP_RETURN_ERROR_IF(h->count == 0, QTIP_E_PARAM,
                         "cannot compute E[x x^T]%s%s%s: no rows were accumulated",
                         h->site[0] ? " of '" : "", h->site, h->site[0] ? "'" : "");
    const size_t n = (size_t)h->n;
    const double ct = (double)h->count;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) {
            double v = h->S[i * n + j] / ct;
            H[i * n + j] = v;
            H[j * n + i] = v;
        }
    if (mu)
        for (size_t j = 0; j < n; j++) mu[j] = h->has_mean ? h->sx[j] / ct : 0.0;
    return QTIP_OK;
}

/* --- hessian_internal.h ------------------------------------------------------- */
double *hessian_mut_S(qtip_hessian *h) { return h->S; }
double *hessian_mut_sx(qtip_hessian *h) { return h->sx; }
void hessian_set_counts(qtip_hessian *h, uint64_t count, uint64_t skipped, int has_mean)
{
    h->fill = 0;
    (void)device_sync(h, 1); /* loaders create fresh accumulators: nothing is pending */
    h->count = count;
    h->skipped = skipped;
    h->has_mean = has_mean;
}
