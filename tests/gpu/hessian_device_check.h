/*
 * hessian_device_check.h — one check shared by tests/unit/test_hessian_device.c (any
 * build, any machine) and tests/gpu/test_cuda_plugin.c (builds with the plugin):
 * the same rows accumulated on a device and on the CPU path must agree.
 *
 *   cpu fallback: S, the column sums and the count byte-identical;
 *   cuda:         the column sums and count byte-identical, S within the documented
 *                 bound |S - S_cpu| <= 1e-12 sqrt(S_ii S_jj) (fp64 both sides, only the
 *                 summation order differs: cuBLAS tiles versus OpenBLAS tiles).
 *
 * The rows are like real activations (low rank plus noise, a few huge outlier
 * channels), split into uneven add_rows calls that cross block boundaries, half as
 * F32 (uploaded as float32) and half as F64 values float32 cannot hold (uploaded as
 * float64). Include check.h first.
 */
#ifndef QTIP_TEST_HESSIAN_DEVICE_CHECK_H
#define QTIP_TEST_HESSIAN_DEVICE_CHECK_H

/* Fills `used` with the device the accumulator ended up on. */
static void hessian_device_compare(const char *device, int64_t n, test_rng *rng, char *used,
                                   size_t cap)
{
    qtip_hessian *hc = NULL, *hd = NULL;
    CHECK_OK(qtip_hessian_create(n, "dev", &hc));
    CHECK_OK(qtip_hessian_create(n, "dev", &hd));
    if (!hc || !hd) return;
    CHECK_OK(qtip_hessian_set_device(hd, device));
    snprintf(used, cap, "%s", qtip_hessian_device(hd));
    const size_t rows = 2 * qtip_hessian_block_rows(hd) + 123;
    float *x32 = malloc(rows * (size_t)n * sizeof(float));
    double *x64 = malloc(rows * (size_t)n * sizeof(double));
    const int rank = 4;
    double *basis = malloc((size_t)rank * (size_t)n * sizeof(double));
    for (int64_t k = 0; k < rank * n; k++) basis[k] = test_rng_normal(rng);
    for (size_t r = 0; r < rows; r++) {
        double c[4];
        for (int k = 0; k < rank; k++) c[k] = test_rng_normal(rng) * (k + 1);
        for (int64_t i = 0; i < n; i++) {
            double v = 0.01 * test_rng_normal(rng);
            for (int k = 0; k < rank; k++) v += c[k] * basis[k * n + i];
            if (i % 37 == 5) v *= 300.0; /* outlier channels */
            x32[r * (size_t)n + (size_t)i] = (float)v;
            x64[r * (size_t)n + (size_t)i] = v * (1.0 + 1e-9); /* not exact in float32 */
        }
    }
    const size_t half = rows / 2;
    const size_t cuts[] = {1, 777, 4096, 5000};
    size_t done = 0;
    for (int pass = 0; done < rows; pass++) {
        const size_t left = done < half ? half - done : rows - done;
        const size_t m = cuts[pass % 4] < left ? cuts[pass % 4] : left;
        for (int k = 0; k < 2; k++) {
            qtip_hessian *h = k ? hd : hc;
            if (done < half) CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, x32 + done * (size_t)n, m));
            else CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F64, x64 + done * (size_t)n, m));
        }
        done += m;
    }
    CHECK_OK(qtip_hessian_flush(hc));
    CHECK_OK(qtip_hessian_flush(hd));
    CHECK(qtip_hessian_count(hc) == rows && qtip_hessian_count(hd) == rows, "count %llu, %llu, want %zu",
          (unsigned long long)qtip_hessian_count(hc), (unsigned long long)qtip_hessian_count(hd), rows);
    const double *Sc = qtip_hessian_sum_xx(hc), *Sd = qtip_hessian_sum_xx(hd);
    CHECK(!memcmp(qtip_hessian_sum_x(hc), qtip_hessian_sum_x(hd), (size_t)n * sizeof(double)),
          "%s: column sums differ from the cpu's", used);
    const int on_cpu = !strcmp(used, "cpu");
    int64_t bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            const double a = Sc[i * n + j], b = Sd[i * n + j];
            const double scale = sqrt(Sc[i * n + i] * Sc[j * n + j]);
            const double rel = fabs(a - b) / scale;
            if (rel > worst) worst = rel;
            if (on_cpu ? memcmp(&a, &b, sizeof a) != 0 : !(rel <= 1e-12)) bad++;
        }
    CHECK(bad == 0, "%s: %lld entries of S differ from the cpu's (worst %.3g of sqrt(S_ii S_jj))",
          used, (long long)bad, worst);
    printf("  %s: n=%lld rows=%zu, worst |S - S_cpu| / sqrt(S_ii S_jj) = %.3g\n", used,
           (long long)n, rows, worst);
    /* rows sent to the device but not synced must be dropped by set_sums */
    CHECK_OK(qtip_hessian_add_rows(hd, QTIP_DT_F32, x32, qtip_hessian_block_rows(hd)));
    double *tri = calloc((size_t)(n * (n + 1) / 2), sizeof(double));
    for (int64_t i = 0; i < n; i++) tri[i * (i + 1) / 2 + i] = 2.0;
    CHECK_OK(qtip_hessian_set_sums(hd, tri, NULL, 7));
    CHECK_OK(qtip_hessian_flush(hd));
    Sd = qtip_hessian_sum_xx(hd);
    CHECK(Sd[0] == 2.0 && Sd[(n - 1) * n + n - 1] == 2.0 && Sd[n] == 0.0,
          "%s: set_sums kept device partial sums (S00 %g)", used, Sd[0]);
    free(tri);
    free(basis);
    free(x32);
    free(x64);
    qtip_hessian_free(hc);
    qtip_hessian_free(hd);
}

#endif /* QTIP_TEST_HESSIAN_DEVICE_CHECK_H */
