/*
 * rht.c — sign vectors of the randomized Hadamard transform and the incoherence
 * measure mu. (The RHT maps themselves live in hadamard_transform.c, beside the
 * passes they are made of.)
 */
#include "core/rng.h"
#include "incoherence/hadamard_internal.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>
#include <xxhash.h>

void qtip_rht_signs(uint64_t seed, const char *name, const char *which, int64_t n, float *s)
{
    if (!name) name = "";
    if (!which) which = "";
    /* XXH64 is defined on bytes with a fixed little-endian output, so the stream
     * is the same on every platform. */
    uint64_t st = XXH64(name, strlen(name), seed);
    st = XXH64(which, strlen(which), st);
    uint64_t w = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 64 == 0) w = qtip_splitmix64(&st);
        s[i] = ((w >> (i % 64)) & 1) ? -1.0f : 1.0f;
    }
}

qtip_status qtip_rht_mu_weight(const float *W, int64_t m, int64_t n, double *mu)
{
    QTIP_RETURN_ERROR_IF(!W || !mu || m < 1 || n < 1, QTIP_E_PARAM, "mu: bad arguments");
    double mx = 0, ss = 0;
    for (int64_t i = 0; i < m * n; i++) {
        double v = W[i];
        QTIP_RETURN_ERROR_IF(!isfinite(v), QTIP_E_NONFINITE, "mu: weight element %lld is not finite",
                             (long long)i);
        if (fabs(v) > mx) mx = fabs(v);
        ss += v * v;
    }
    QTIP_RETURN_ERROR_IF(ss == 0, QTIP_E_PARAM, "mu: the weight matrix is all zeros");
    *mu = mx * sqrt((double)m * (double)n) / sqrt(ss);
    return QTIP_OK;
}

qtip_status qtip_rht_mu_hessian(const double *H, int64_t n, double *mu)
{
    QTIP_RETURN_ERROR_IF(!H || !mu || n < 1, QTIP_E_PARAM, "mu: bad arguments");
    for (int64_t i = 0; i < n * n; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(H[i]), QTIP_E_NONFINITE,
                             "mu: hessian element (%lld, %lld) is not finite", (long long)(i / n),
                             (long long)(i % n));
    double *Q = (double *)qtip_alloc((size_t)(n * n + n), sizeof(double), "eigenvectors");
    if (!Q) return QTIP_E_NOMEM;
    memcpy(Q, H, (size_t)(n * n) * sizeof(double));
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)n, Q, (lapack_int)n,
                                     Q + n * n);
    if (info != 0) {
        free(Q);
        return qtip_error(QTIP_E_INTERNAL, "mu: eigendecomposition of the %lldx%lld hessian failed (info %d)",
                          (long long)n, (long long)n, (int)info);
    }
    double mx = 0;
    for (int64_t i = 0; i < n * n; i++)
        if (fabs(Q[i]) > mx) mx = fabs(Q[i]);
    free(Q);
    *mu = mx * sqrt((double)n);
    return QTIP_OK;
}
