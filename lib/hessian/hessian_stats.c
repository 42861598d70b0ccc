/*
 * hessian_stats.c — what `qtip-hessian info` reports: trace, diagonal range,
 * finiteness, positive definiteness after damping, a condition estimate; and the
 * finiteness check that merge and export apply.
 *
 * The damped matrix is built in the upper triangle of S (scratch) and factored
 * there, so a 28672-wide Hessian needs no second n x n buffer. LAPACKE is called
 * column-major on the row-major buffer: the row-major upper triangle IS the
 * column-major lower triangle, and the column-major call does not transpose into
 * a temporary copy (the row-major LAPACKE wrappers would).
 *
 * OpenBLAS's blocked factorizations round differently for different thread
 * counts, so the LAPACK calls run on one BLAS thread: the figures are then the
 * same bytes for every --threads (the same inputs give the same output). The
 * condition estimate's last bits still vary from run to run (dpocon's solves
 * depend on where OpenBLAS's buffers fall), and it is an estimate within a small
 * factor anyway: it is rounded to 4 significant digits.
 */
#include "core/internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#define HESSIAN_EIG_MAX_N 1024

qtip_status qtip_hessian_check_finite(qtip_hessian *h, const char *name)
{
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush(h));
    const size_t n = (size_t)qtip_hessian_dim(h);
    const double *S = qtip_hessian_sum_xx(h), *sx = qtip_hessian_sum_x(h);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j <= i; j++)
            QTIP_RETURN_ERROR_IF(!isfinite(S[i * n + j]), QTIP_E_NONFINITE,
                                 "'%s': hessian entry (%zu, %zu) is %g; refusing a non-finite hessian",
                                 name, i, j, S[i * n + j]);
        QTIP_RETURN_ERROR_IF(!isfinite(sx[i]), QTIP_E_NONFINITE,
                             "'%s': mean entry %zu is %g; refusing a non-finite hessian", name, i,
                             sx[i]);
    }
    return QTIP_OK;
}

static int all_finite(qtip_hessian *h)
{
    const size_t n = (size_t)qtip_hessian_dim(h);
    const double *S = qtip_hessian_sum_xx(h), *sx = qtip_hessian_sum_x(h);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(sx[i])) return 0;
        for (size_t j = 0; j <= i; j++)
            if (!isfinite(S[i * n + j])) return 0;
    }
    return 1;
}

/* Trace, range and zero count of the diagonal of E = S / count; diag keeps S_ii. */
static void diagonal_stats(const double *S, size_t n, double ct, double *diag, qtip_hessian_info *out)
{
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
}

/* Damped E into the upper triangle (row-major) of S; returns its 1-norm. */
static double build_damped(double *S, size_t n, double ct, const double *diag, double damp,
                           double *rowabs)
{
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
    return anorm;
}

/* Extreme eigenvalues of the damped matrix (small n only: needs an n x n copy). */
static qtip_status extreme_eigenvalues(const double *S, size_t n, qtip_hessian_info *out)
{
    if (n > HESSIAN_EIG_MAX_N) return QTIP_OK;
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

/* Cholesky of the damped matrix in place, then the 1-norm condition estimate. */
static void cholesky_condition(double *S, size_t n, double anorm, qtip_hessian_info *out)
{
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, S, (lapack_int)n);
    if (info != 0) return;
    double rcond = 0.0;
    info = LAPACKE_dpocon(LAPACK_COL_MAJOR, 'L', (lapack_int)n, S, (lapack_int)n, anorm, &rcond);
    out->pd = 1;
    out->rcond = info == 0 ? rcond : 0.0;
    out->cond_est = INFINITY;
    if (rcond > 0.0) {
        char digits[32];
        snprintf(digits, sizeof digits, "%.4g", 1.0 / rcond);
        out->cond_est = strtod(digits, NULL);
    }
}

/* The damped analysis of a finite hessian; S's diagonal is restored from diag. */
static qtip_status damped_analysis(double *S, size_t n, double ct, double *diag, qtip_hessian_info *out)
{
    double *rowabs = qtip_calloc(n, sizeof(double), "the hessian row norms");
    if (!rowabs) return QTIP_E_NOMEM;
    double anorm = build_damped(S, n, ct, diag, out->sigma * out->diag_mean, rowabs);
    free(rowabs);
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    qtip_status st = extreme_eigenvalues(S, n, out);
    if (st == QTIP_OK) cholesky_condition(S, n, anorm, out);
    openblas_set_num_threads(threads);
    for (size_t i = 0; i < n; i++) S[i * n + i] = diag[i];
    return st;
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
    out->finite = all_finite(h);
    double *diag = qtip_alloc(n, sizeof(double), "the hessian diagonal");
    if (!diag) return QTIP_E_NOMEM;
    /* S is ours to use as scratch above the diagonal (qtip_hessian.h). */
    double *S = (double *)qtip_hessian_sum_xx(h);
    diagonal_stats(S, n, (double)count, diag, out);
    qtip_status st = out->finite ? damped_analysis(S, n, (double)count, diag, out) : QTIP_OK;
    free(diag);
    return st;
}
