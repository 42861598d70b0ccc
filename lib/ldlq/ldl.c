/*
 * ldl.c — Hessian damping with a retry ladder, Cholesky, block LDL.
 *
 * The block LDL follows the reference tools (qtip.md 3.2, quipsharp.md 3):
 * H = Lc Lc^T, then Lu = Lc * blockdiag(Lc_kk)^-1 (unit diagonal blocks) and
 * D_k = Lc_kk Lc_kk^T, so H = Lu D Lu^T.
 */
#include "ldlq/layer_steps.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

static int all_finite(const double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

qtip_status qtip_ldl_check_mean_(double mean)
{
    QTIP_RETURN_ERROR_IF(!(mean > 0), QTIP_E_NOT_PD,
                         "hessian is not positive definite: mean of its diagonal is %g", mean);
    return QTIP_OK;
}

/* sigma = 0 asks for no damping; if that fails, climb in steps of 0.01. */
double qtip_ldl_damping_add_(double sigma, int t, double mean, double *applied)
{
    const double step = sigma > 0 ? sigma : 0.01;
    const double want = sigma > 0 ? step * (t + 1) : step * t;
    const double add = (want - *applied) * mean;
    *applied = want;
    return add;
}

void qtip_ldl_damping_note_(double applied, int t)
{
    if (t > 0)
        qtip_log(QTIP_LOG_INFO, "hessian needed damping %g x mean(diag) after %d failed tries",
                 applied, t);
}

qtip_status qtip_ldl_not_pd_error_(double applied, int tries, double sigma)
{
    return qtip_error(QTIP_E_NOT_PD,
                      "hessian is not positive definite even after damping %g x mean(diag) "
                      "(%d tries of sigma_reg %g); use a larger sigma_reg or more calibration data",
                      applied, tries, sigma);
}

qtip_status qtip_ldl_regularize(double *H, int64_t n, double sigma, int tries, double *Lc,
                                double *damp_used)
{
    QTIP_RETURN_ERROR_IF(n <= 0, QTIP_E_SHAPE, "hessian dimension must be positive, found %lld",
                         (long long)n);
    QTIP_RETURN_ERROR_IF(!(sigma >= 0) || !isfinite(sigma), QTIP_E_PARAM,
                         "sigma_reg must be a finite value >= 0, found %g", sigma);
    QTIP_RETURN_ERROR_IF(tries < 1, QTIP_E_PARAM, "damping tries must be >= 1, found %d", tries);
    size_t nn = (size_t)n * (size_t)n;
    QTIP_RETURN_ERROR_IF(!all_finite(H, nn), QTIP_E_NONFINITE,
                         "hessian has NaN or infinite entries");
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += H[i * n + i];
    mean /= (double)n;
    QTIP_FORWARD_IF_ERROR(qtip_ldl_check_mean_(mean));
    double applied = 0;
    for (int t = 0; t < tries; t++) {
        const double add = qtip_ldl_damping_add_(sigma, t, mean, &applied);
        for (int64_t i = 0; i < n; i++) H[i * n + i] += add;
        memcpy(Lc, H, nn * sizeof(double));
        lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, Lc, (lapack_int)n);
        if (info == 0) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = i + 1; j < n; j++) Lc[i * n + j] = 0;
            if (damp_used) *damp_used = applied;
            qtip_ldl_damping_note_(applied, t);
            return QTIP_OK;
        }
        QTIP_RETURN_ERROR_IF(info < 0, QTIP_E_INTERNAL, "LAPACKE_dpotrf rejected argument %d",
                             (int)-info);
    }
    return qtip_ldl_not_pd_error_(applied, tries, sigma);
}

/* Invert a b x b lower-triangular matrix in place (forward substitution). */
static int invert_lower(double *A, int b, double *tmp)
{
    memset(tmp, 0, sizeof(double) * (size_t)b * (size_t)b);
    for (int c = 0; c < b; c++) {
        for (int r = c; r < b; r++) {
            double s = r == c ? 1.0 : 0.0;
            for (int k = c; k < r; k++) s -= A[r * b + k] * tmp[k * b + c];
            if (A[r * b + r] == 0) return 0;
            tmp[r * b + c] = s / A[r * b + r];
        }
    }
    memcpy(A, tmp, sizeof(double) * (size_t)b * (size_t)b);
    return 1;
}

qtip_status qtip_ldl_block(const double *Lc, int64_t n, int b, double *Lu, double *D)
{
    QTIP_RETURN_ERROR_IF(b < 1 || n % b != 0, QTIP_E_SHAPE,
                         "block LDL needs n divisible by the block size: n %lld, block %d",
                         (long long)n, b);
    int64_t nb = n / b;
    size_t bb = (size_t)b * (size_t)b;
    double *inv = qtip_alloc(2 * bb, sizeof(double), "block LDL scratch");
    if (!inv) return QTIP_E_NOMEM;
    double *tmp = inv + bb;
    memset(Lu, 0, sizeof(double) * (size_t)n * (size_t)n);
    for (int64_t k = 0; k < nb; k++) {
        const int64_t k0 = k * b;
        /* D_k = Lkk Lkk^T */
        double *Dk = D + (size_t)k * bb;
        for (int r = 0; r < b; r++)
            for (int c = 0; c < b; c++) {
                double s = 0;
                for (int t = 0; t <= (r < c ? r : c); t++)
                    s += Lc[(k0 + r) * n + k0 + t] * Lc[(k0 + c) * n + k0 + t];
                Dk[r * b + c] = s;
            }
        for (int r = 0; r < b; r++)
            for (int c = 0; c < b; c++) inv[r * b + c] = c <= r ? Lc[(k0 + r) * n + k0 + c] : 0;
        if (!invert_lower(inv, b, tmp)) {
            free(inv);
            return qtip_error(QTIP_E_NONFINITE, "block LDL: diagonal block %lld is singular",
                              (long long)k);
        }
        /* Rows below the block: Lu[i, k] = Lc[i, k] * Lkk^-1; diagonal block = I. */
        for (int r = 0; r < b; r++) Lu[(k0 + r) * n + k0 + r] = 1.0;
        for (int64_t i = k0 + b; i < n; i++) {
            const double *src = Lc + i * n + k0;
            double *dst = Lu + i * n + k0;
            for (int c = 0; c < b; c++) {
                double s = 0;
                for (int t = c; t < b; t++) s += src[t] * inv[t * b + c];
                dst[c] = s;
            }
        }
    }
    free(inv);
    QTIP_RETURN_ERROR_IF(!all_finite(Lu, (size_t)n * (size_t)n), QTIP_E_NONFINITE,
                         "block LDL produced NaN or infinite values");
    return QTIP_OK;
}
