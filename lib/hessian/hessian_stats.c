/*
 * hessian_stats.c — what `qtip-hessian info` reports: trace, diagonal range,
 * finiteness, positive definiteness after damping, a condition estimate.
 *
 * The damped matrix is built in the upper triangle of S (scratch) and factored
 * there, so a 28672-wide Hessian needs no second n x n buffer. LAPACKE is called
 * column-major on the row-major buffer: the row-major upper triangle IS the
 * column-major lower triangle, and the column-major call does not transpose into
 * a temporary copy (the row-major LAPACKE wrappers would).
 */
#include "core/internal.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

#define HESSIAN_EIG_MAX_N 1024

/* S's lower triangle and sx hold no NaN or infinity. */
static int all_finite(const double *S, const double *sx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j <= i; j++)
            if (!isfinite(S[i * n + j])) return 0;
        if (!isfinite(sx[i])) return 0;
    }
    return 1;
}

/* Smallest and largest eigenvalue of the damped matrix (column-major lower = S's
 * row-major upper triangle), on a copy: dsyevd destroys its input. */
static qtip_status eig_range(const double *S, size_t n, qtip_hessian_info *out)
{
    double *A = qtip_alloc(n * n, sizeof(double), "the eigenvalue work matrix");
    double *w = qtip_alloc(n, sizeof(double), "the eigenvalues");
    if (!A || !w) {
        free(A);
        free(w);
        return QTIP_E_NOMEM;
    }
    memcpy(A, S, n * n * sizeof(double));
    lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', (lapack_int)n, A, (lapack_int)n, w);
    if (info == 0) {
        out->have_eig = 1;
        out->eig_min = w[0];
        out->eig_max = w[n - 1];
    }
    free(A);
    free(w);
    return QTIP_OK;
}

/* Cholesky of the damped matrix in place (S's upper triangle), then LAPACK's
 * 1-norm reciprocal condition estimate. */
static void cond_estimate(double *S, size_t n, double anorm, qtip_hessian_info *out)
{
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, S, (lapack_int)n);
    if (info != 0) return;
    double rcond = 0.0;
    /* Our own 64-byte-aligned work arrays: LAPACKE's are malloc'd, and the BLAS
     * kernels' rounding follows their alignment, so the estimate's last digits
     * would depend on the heap's state (the path's length changed them). */
    double *work = qtip_alloc(3 * n, sizeof(double), "the condition estimate's work");
    lapack_int *iwork = qtip_alloc(n, sizeof(lapack_int), "the condition estimate's work");
    info = work && iwork ? LAPACKE_dpocon_work(LAPACK_COL_MAJOR, 'L', (lapack_int)n, S,
                                               (lapack_int)n, anorm, &rcond, work, iwork)
                         : -1;
    free(work);
    free(iwork);
    out->pd = 1;
    out->rcond = info == 0 ? rcond : 0.0;
    out->cond_est = rcond > 0.0 ? 1.0 / rcond : INFINITY;
}

qtip_status qtip_hessian_analyze(qtip_hessian *h, double sigma, qtip_hessian_info *out)
{
    QTIP_RETURN_ERROR_IF(!(sigma >= 0.0) || !isfinite(sigma), QTIP_E_PARAM,
                         "invalid damping %g, expected a finite value >= 0", sigma);
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush(h));
    memset(out, 0, sizeof *out);
    const size_t n = (size_t)qtip_hessian_dim(h);
    const uint64_t count = qtip_hessian_count(h);
    out->n = (int64_t)n;
    out->count = count;
    out->skipped = qtip_hessian_skipped(h);
    out->sigma = sigma;
    out->cond_est = INFINITY;
    QTIP_RETURN_ERROR_IF(count == 0, QTIP_E_PARAM, "cannot analyze a hessian with no rows");
    /* S is ours to use as scratch above the diagonal (qtip_hessian.h). */
    double *S = (double *)qtip_hessian_sum_xx(h);
    const double *sx = qtip_hessian_sum_x(h);
    const double ct = (double)count;

    const int finite = all_finite(S, sx, n);
    out->finite = finite;

    double *diag = qtip_alloc(n, sizeof(double), "the hessian diagonal");
    double *rowabs = qtip_calloc(n, sizeof(double), "the hessian row norms");
    if (!diag || !rowabs) {
        free(diag);
        free(rowabs);
        return QTIP_E_NOMEM;
    }
    double tr = 0.0, dmin = INFINITY, dmax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        diag[i] = S[i * n + i];
        double e = diag[i] / ct;
        tr += e;
        if (e < dmin) dmin = e;
        if (e > dmax) dmax = e;
        if (e == 0.0) out->zero_diag++;
    }
    out->trace = tr;
    out->diag_min = dmin;
    out->diag_max = dmax;
    out->diag_mean = tr / (double)n;
    qtip_status st = QTIP_OK;
    if (!finite) goto done;

    const double damp = sigma * out->diag_mean;
    /* Damped E into the upper triangle (row-major), with its 1-norm. */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            double v = S[i * n + j] / ct;
            S[j * n + i] = v;
            rowabs[i] += fabs(v);
            rowabs[j] += fabs(v);
        }
        S[i * n + i] = diag[i] / ct + damp;
        rowabs[i] += fabs(S[i * n + i]);
    }
    double anorm = 0.0;
    for (size_t i = 0; i < n; i++)
        if (rowabs[i] > anorm) anorm = rowabs[i];

    if (n <= HESSIAN_EIG_MAX_N && (st = eig_range(S, n, out)) != QTIP_OK) goto restore;
    cond_estimate(S, n, anorm, out);
restore:
    for (size_t i = 0; i < n; i++) S[i * n + i] = diag[i];
done:
    free(diag);
    free(rowabs);
    return st;
}
