/* test_ldl.c — damping ladder, Cholesky failure, block LDL reconstruction. */
#include "check.h"
#include "core/internal.h"

static double *random_spd(test_rng *r, int64_t n)
{
    int64_t k = n + 8;
    double *A = malloc(sizeof(double) * (size_t)(n * k));
    double *H = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n * k; i++) A[i] = test_rng_normal(r);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t t = 0; t < k; t++) s += A[i * k + t] * A[j * k + t];
            H[i * n + j] = s / (double)k + (i == j ? 0.5 : 0.0);
        }
    free(A);
    return H;
}

static void check_ldl(const double *H, int64_t n, int b)
{
    double *Hd = malloc(sizeof(double) * (size_t)(n * n));
    double *Lc = malloc(sizeof(double) * (size_t)(n * n));
    double *Lu = malloc(sizeof(double) * (size_t)(n * n));
    double *D = malloc(sizeof(double) * (size_t)(n * b));
    memcpy(Hd, H, sizeof(double) * (size_t)(n * n));
    double damp = -1;
    CHECK_OK(qtip_ldl_regularize(Hd, n, 0.01, 10, Lc, &damp));
    CHECK_NEAR(damp, 0.01, 0);
    CHECK_OK(qtip_ldl_block(Lc, n, b, Lu, D));
    /* Lu D Lu^T against the damped H, and Lu's structure. */
    double maxabs = 0, maxdiff = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < n / b; k++)
                for (int r = 0; r < b; r++)
                    for (int c = 0; c < b; c++)
                        s += Lu[i * n + k * b + r] * D[k * b * b + r * b + c] * Lu[j * n + k * b + c];
            double d = fabs(s - Hd[i * n + j]);
            if (d > maxdiff) maxdiff = d;
            if (fabs(Hd[i * n + j]) > maxabs) maxabs = fabs(Hd[i * n + j]);
            if (j / b == i / b) CHECK(Lu[i * n + j] == (i == j ? 1.0 : 0.0), "diag block %lld,%lld", (long long)i, (long long)j);
            if (j / b > i / b) CHECK(Lu[i * n + j] == 0, "upper %lld,%lld", (long long)i, (long long)j);
        }
    CHECK(maxdiff <= 1e-10 * maxabs, "b=%d: |L D L^T - H| %.3g vs |H| %.3g", b, maxdiff, maxabs);
    free(Hd);
    free(Lc);
    free(Lu);
    free(D);
}

TEST(block_ldl_reconstructs_h)
{
    test_rng r = test_rng_seeded(11);
    double *H = random_spd(&r, 64);
    check_ldl(H, 64, 16);
    check_ldl(H, 64, 8);
    check_ldl(H, 64, 1);
    free(H);
}

TEST(indefinite_fails_cleanly)
{
    int64_t n = 32;
    double *H = calloc((size_t)(n * n), sizeof(double));
    double *Lc = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++) H[i * n + i] = i == 5 ? -3.0 : 1.0;
    CHECK_STATUS(qtip_ldl_regularize(H, n, 0.01, 10, Lc, NULL), QTIP_E_NOT_PD);
    CHECK(strstr(qtip_last_error(), "not positive definite") != NULL, "'%s'", qtip_last_error());
    CHECK(strstr(qtip_last_error(), "larger sigma") != NULL, "'%s'", qtip_last_error());
    /* zero / negative mean diagonal and NaN */
    memset(H, 0, sizeof(double) * (size_t)(n * n));
    CHECK_STATUS(qtip_ldl_regularize(H, n, 0.01, 10, Lc, NULL), QTIP_E_NOT_PD);
    H[3] = NAN;
    CHECK_STATUS(qtip_ldl_regularize(H, n, 0.01, 10, Lc, NULL), QTIP_E_NONFINITE);
    free(H);
    free(Lc);
}

TEST(damping_ladder_climbs)
{
    /* H = I - (1 + eps) u u^T has one eigenvalue -eps: sigma 0 fails, the ladder's
     * first step (0.01 x mean diag > eps) succeeds. */
    int64_t n = 48;
    double eps = 0.004;
    double *H = malloc(sizeof(double) * (size_t)(n * n));
    double *Lc = malloc(sizeof(double) * (size_t)(n * n));
    double u[48], nu = 0;
    for (int i = 0; i < n; i++) { u[i] = 1.0 + 0.1 * i; nu += u[i] * u[i]; }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) H[i * n + j] = (i == j) - (1 + eps) * u[i] * u[j] / nu;
    double damp = -1;
    CHECK_OK(qtip_ldl_regularize(H, n, 0.0, 10, Lc, &damp));
    CHECK_NEAR(damp, 0.01, 1e-15);
    /* only one try allowed: fails and says so */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) H[i * n + j] = (i == j) - (1 + eps) * u[i] * u[j] / nu;
    CHECK_STATUS(qtip_ldl_regularize(H, n, 0.0, 1, Lc, &damp), QTIP_E_NOT_PD);
    free(H);
    free(Lc);
}

TEST(bad_block_size)
{
    double Lc[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, Lu[9], D[9];
    CHECK_STATUS(qtip_ldl_block(Lc, 3, 2, Lu, D), QTIP_E_SHAPE);
}

int main(void)
{
    RUN(block_ldl_reconstructs_h);
    RUN(indefinite_fails_cleanly);
    RUN(damping_ladder_climbs);
    RUN(bad_block_size);
    return check_summary();
}
