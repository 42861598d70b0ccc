/*
 * test_rht.c — sign vectors, the RHT of W and H against dense matrices, the
 * preserved proxy loss tr(W H W^T), and the drop of the incoherence mu.
 */
#include "check.h"

#include <xxhash.h>

/* Second implementation of the documented generator (docs/algorithms-hadamard.md). */
static void spec_signs(uint64_t seed, const char *name, const char *which, int64_t n, float *s)
{
    uint64_t st = XXH64(which, strlen(which), XXH64(name, strlen(name), seed)), w = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 64 == 0) {
            uint64_t z = (st += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            w = z ^ (z >> 31);
        }
        s[i] = (w >> (i % 64)) & 1 ? -1.0f : 1.0f;
    }
}

TEST(signs_follow_spec_and_differ_per_tensor)
{
    int64_t n = 11008;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    qtip_rht_signs(7, "model.layers.3.mlp.down_proj.weight", "SU", n, a);
    spec_signs(7, "model.layers.3.mlp.down_proj.weight", "SU", n, b);
    CHECK(!memcmp(a, b, sizeof(float) * n), "signs differ from the documented generator");
    int64_t neg = 0;
    for (int64_t i = 0; i < n; i++) { CHECK(a[i] == 1.0f || a[i] == -1.0f, "s[%lld]=%g", (long long)i, a[i]); neg += a[i] < 0; }
    CHECK(llabs(2 * neg - n) < 6 * (int64_t)sqrt((double)n), "unbalanced: %lld of %lld negative", (long long)neg, (long long)n);
    /* different which / name / seed -> (almost surely) different vectors */
    const char *names[3] = {"model.layers.3.mlp.down_proj.weight", "model.layers.4.mlp.down_proj.weight", "model.layers.3.mlp.down_proj.weight"};
    const char *whichs[3] = {"SV", "SU", "SU"};
    uint64_t seeds[3] = {7, 7, 8};
    for (int t = 0; t < 3; t++) {
        qtip_rht_signs(seeds[t], names[t], whichs[t], n, b);
        int64_t same = 0;
        for (int64_t i = 0; i < n; i++) same += a[i] == b[i];
        CHECK(same > n / 2 - 4 * (int64_t)sqrt((double)n) && same < n / 2 + 4 * (int64_t)sqrt((double)n),
              "case %d: %lld of %lld equal", t, (long long)same, (long long)n);
    }
    /* a prefix is stable: length does not change the first entries */
    qtip_rht_signs(7, "model.layers.3.mlp.down_proj.weight", "SU", 100, b);
    CHECK(!memcmp(a, b, 100 * sizeof(float)), "prefix changed");
    free(a); free(b);
}

static double *dense_u(int64_t N) /* U_N = Had_N / sqrt(N) */
{
    int64_t K;
    int p;
    qtip_had_supported(N, &K, &p);
    int64_t M = (int64_t)1 << p;
    int8_t *HK = malloc((size_t)(K * K));
    qtip_had_special(K, HK);
    double *U = malloc(sizeof(double) * (size_t)(N * N));
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++)
            U[i * N + j] = HK[(i / M) * K + j / M] * (__builtin_popcountll((uint64_t)((i % M) & (j % M))) & 1 ? -1.0 : 1.0) / sqrt((double)N);
    free(HK);
    return U;
}

/* C = op(A) B for square/rect dense doubles, naive. */
static void mm(const double *A, int ta, const double *B, int tb, double *C, int64_t m, int64_t k, int64_t n)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t t = 0; t < k; t++)
                s += (ta ? A[t * m + i] : A[i * k + t]) * (tb ? B[j * k + t] : B[t * n + j]);
            C[i * n + j] = s;
        }
}

TEST(rht_weight_and_hessian_equal_dense_definition)
{
    test_rng rng = test_rng_seeded(21);
    int64_t m = 48, n = 80; /* 12 * 4 and 20 * 4: both special factors */
    float *W = malloc(sizeof(float) * m * n), *SU = malloc(sizeof(float) * n), *SV = malloc(sizeof(float) * m);
    double *Wd = malloc(sizeof(double) * m * n), *T1 = malloc(sizeof(double) * m * n), *T2 = malloc(sizeof(double) * m * n);
    qtip_rht_signs(1, "w", "SU", n, SU);
    qtip_rht_signs(1, "w", "SV", m, SV);
    for (int64_t i = 0; i < m * n; i++) W[i] = (float)test_rng_normal(&rng);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) Wd[i * n + j] = (double)W[i * n + j] * SV[i] * SU[j];
    double *Um = dense_u(m), *Un = dense_u(n);
    mm(Wd, 0, Un, 0, T1, m, n, n);   /* (SV W SU) U_n */
    mm(Um, 1, T1, 0, T2, m, m, n);   /* U_m^T (...) */
    float *W0 = malloc(sizeof(float) * m * n);
    memcpy(W0, W, sizeof(float) * m * n);
    CHECK_OK(qtip_rht_weight(W, m, n, SU, SV));
    double err = 0;
    for (int64_t i = 0; i < m * n; i++) err = fmax(err, fabs(W[i] - T2[i]));
    CHECK(err < 1e-5, "Wr differs from U_m^T SV W SU U_n by %g", err);
    CHECK_OK(qtip_rht_weight_inverse(W, m, n, SU, SV));
    err = 0;
    for (int64_t i = 0; i < m * n; i++) err = fmax(err, fabs(W[i] - W0[i]));
    CHECK(err < 1e-5, "inverse roundtrip %g", err);

    /* Hessian */
    double *X = malloc(sizeof(double) * 200 * n), *H = malloc(sizeof(double) * n * n);
    double *Hd = malloc(sizeof(double) * n * n), *A = malloc(sizeof(double) * n * n), *B = malloc(sizeof(double) * n * n);
    for (int64_t i = 0; i < 200 * n; i++) X[i] = test_rng_normal(&rng);
    mm(X, 1, X, 0, H, n, 200, n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) Hd[i * n + j] = H[i * n + j] * SU[i] * SU[j];
    mm(Hd, 0, Un, 0, A, n, n, n);
    mm(Un, 1, A, 0, B, n, n, n);
    CHECK_OK(qtip_rht_hessian(H, n, SU));
    err = 0;
    for (int64_t i = 0; i < n * n; i++) err = fmax(err, fabs(H[i] - B[i]) / 200.0);
    CHECK(err < 1e-13, "Hr differs from U^T SU H SU U by %g (relative)", err);
    free(W); free(SU); free(SV); free(Wd); free(T1); free(T2); free(Um); free(Un); free(W0);
    free(X); free(H); free(Hd); free(A); free(B);
}

static double proxy(const float *W, const double *H, int64_t m, int64_t n) /* tr(W H W^T) */
{
    double tr = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t a = 0; a < n; a++) {
            double s = 0;
            for (int64_t b = 0; b < n; b++) s += H[a * n + b] * W[i * n + b];
            tr += W[i * n + a] * s;
        }
    return tr;
}

/* Real-like layer: Gaussian weights with a few outlier input columns, and a
 * Hessian whose inputs have a few heavy features (as in LLM activations). */
static void real_like(test_rng *rng, int64_t m, int64_t n, float *W, double *H)
{
    for (int64_t i = 0; i < m * n; i++) W[i] = (float)(0.02 * test_rng_normal(rng));
    for (int64_t c = 0; c < 6; c++) {
        int64_t j = (int64_t)(test_rng_uniform(rng) * (double)n);
        for (int64_t i = 0; i < m; i++) W[i * n + j] *= 25.0f;
    }
    int64_t T = 4 * n;
    double *X = malloc(sizeof(double) * T * n), *scale = malloc(sizeof(double) * n);
    for (int64_t j = 0; j < n; j++) scale[j] = j % 97 == 5 ? 30.0 : 1.0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < n; j++) X[t * n + j] = scale[j] * test_rng_normal(rng);
    memset(H, 0, sizeof(double) * n * n);
    for (int64_t t = 0; t < T; t++)
        for (int64_t a = 0; a < n; a++) {
            double xa = X[t * n + a] / (double)T;
            for (int64_t b = 0; b < n; b++) H[a * n + b] += xa * X[t * n + b];
        }
    free(X); free(scale);
}

TEST(rht_preserves_proxy_loss_and_lowers_mu)
{
    test_rng rng = test_rng_seeded(22);
    int64_t m = 192, n = 384; /* 12 * 16, 12 * 32 */
    float *W = malloc(sizeof(float) * m * n), *SU = malloc(sizeof(float) * n), *SV = malloc(sizeof(float) * m);
    double *H = malloc(sizeof(double) * n * n);
    real_like(&rng, m, n, W, H);
    qtip_rht_signs(3, "layers.0.mlp.up_proj.weight", "SU", n, SU);
    qtip_rht_signs(3, "layers.0.mlp.up_proj.weight", "SV", m, SV);
    double muW0, muH0, muW1, muH1, p0 = proxy(W, H, m, n);
    CHECK_OK(qtip_rht_mu_weight(W, m, n, &muW0));
    CHECK_OK(qtip_rht_mu_hessian(H, n, &muH0));
    CHECK_OK(qtip_rht_weight(W, m, n, SU, SV));
    CHECK_OK(qtip_rht_hessian(H, n, SU));
    double p1 = proxy(W, H, m, n);
    CHECK_OK(qtip_rht_mu_weight(W, m, n, &muW1));
    CHECK_OK(qtip_rht_mu_hessian(H, n, &muH1));
    fprintf(stderr, "tr(W H W^T) %.10g -> %.10g; mu(W) %.2f -> %.2f; mu(H) %.2f -> %.2f\n", p0, p1,
            muW0, muW1, muH0, muH1);
    CHECK(fabs(p1 - p0) <= 1e-5 * fabs(p0), "proxy loss changed: %.10g -> %.10g", p0, p1);
    /* Gaussian max over m*n = 73728 entries is about 4.4 sigma: after the RHT mu(W)
     * must be near that, far below the outliers' ~25x. */
    CHECK(muW1 < 6.0 && muW1 < muW0 / 3, "mu(W) %g -> %g", muW0, muW1);
    CHECK(muH1 < muH0 / 2, "mu(H) %g -> %g", muH0, muH1);
    free(W); free(SU); free(SV); free(H);
}

/* Block-diagonal U: `blocks` copies of U_{N/blocks} on the diagonal. */
static double *dense_blocks(int64_t N, int64_t blocks)
{
    int64_t nb = N / blocks;
    double *Ub = dense_u(nb), *U = calloc((size_t)(N * N), sizeof(double));
    for (int64_t b = 0; b < blocks; b++)
        for (int64_t i = 0; i < nb; i++)
            for (int64_t j = 0; j < nb; j++) U[(b * nb + i) * N + b * nb + j] = Ub[i * nb + j];
    free(Ub);
    return U;
}

/* Tensor parallelism: each side's Hadamard block diagonal (qtip_rht_*_blocks)
 * equals the dense definition with block-diagonal U, round-trips, keeps
 * tr(W H W^T), and with one block per side gives qtip_rht_weight's bytes. */
TEST(rht_blocks_equal_dense_block_diagonal)
{
    test_rng rng = test_rng_seeded(23);
    const int64_t m = 48, n = 80, cases[4][2] = {{1, 2}, {2, 1}, {4, 1}, {1, 4}};
    float *W = malloc(sizeof(float) * m * n), *W0 = malloc(sizeof(float) * m * n);
    float *SU = malloc(sizeof(float) * n), *SV = malloc(sizeof(float) * m);
    double *Wd = malloc(sizeof(double) * m * n), *T1 = malloc(sizeof(double) * m * n), *T2 = malloc(sizeof(double) * m * n);
    double *H = malloc(sizeof(double) * n * n), *Hd = malloc(sizeof(double) * n * n);
    double *A = malloc(sizeof(double) * n * n), *B = malloc(sizeof(double) * n * n);
    qtip_rht_signs(4, "w", "SU", n, SU);
    qtip_rht_signs(4, "w", "SV", m, SV);
    for (int64_t i = 0; i < m * n; i++) W0[i] = (float)test_rng_normal(&rng);
    for (int c = 0; c < 4; c++) {
        int64_t ob = cases[c][0], ib = cases[c][1];
        memcpy(W, W0, sizeof(float) * m * n);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) Wd[i * n + j] = (double)W[i * n + j] * SV[i] * SU[j];
        double *Um = dense_blocks(m, ob), *Un = dense_blocks(n, ib);
        mm(Wd, 0, Un, 0, T1, m, n, n);
        mm(Um, 1, T1, 0, T2, m, m, n);
        CHECK_OK(qtip_rht_weight_blocks(W, m, n, SU, SV, ob, ib));
        double err = 0;
        for (int64_t i = 0; i < m * n; i++) err = fmax(err, fabs(W[i] - T2[i]));
        CHECK(err < 1e-5, "blocks (%lld, %lld): Wr differs from the dense definition by %g", (long long)ob,
              (long long)ib, err);
        /* the proxy loss is kept when H turns with the same input-side blocks */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) H[i * n + j] = (i == j ? 2.0 : 0.0) + 0.5 * cos((double)(i - j));
        double p0 = proxy(W0, H, m, n);
        memcpy(Hd, H, sizeof(double) * n * n);
        CHECK_OK(qtip_rht_hessian_blocks(H, n, SU, ib));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) Hd[i * n + j] *= SU[i] * SU[j];
        mm(Hd, 0, Un, 0, A, n, n, n);
        mm(Un, 1, A, 0, B, n, n, n);
        err = 0;
        for (int64_t i = 0; i < n * n; i++) err = fmax(err, fabs(H[i] - B[i]));
        CHECK(err < 1e-12, "blocks %lld: Hr differs from the dense definition by %g", (long long)ib, err);
        double p1 = proxy(W, H, m, n);
        CHECK(fabs(p1 - p0) <= 1e-5 * fabs(p0), "proxy %.10g -> %.10g", p0, p1);
        CHECK_OK(qtip_rht_weight_inverse_blocks(W, m, n, SU, SV, ob, ib));
        err = 0;
        for (int64_t i = 0; i < m * n; i++) err = fmax(err, fabs(W[i] - W0[i]));
        CHECK(err < 1e-5, "blocks (%lld, %lld): inverse roundtrip %g", (long long)ob, (long long)ib, err);
        free(Um); free(Un);
    }
    /* one block per side: the whole-layer functions, byte for byte */
    memcpy(W, W0, sizeof(float) * m * n);
    memcpy(Wd, W0, sizeof(float) * m * n); /* (as float storage) */
    float *Wf = (float *)Wd;
    CHECK_OK(qtip_rht_weight_blocks(W, m, n, SU, SV, 1, 1));
    CHECK_OK(qtip_rht_weight(Wf, m, n, SU, SV));
    CHECK(!memcmp(W, Wf, sizeof(float) * m * n), "blocks (1, 1) differ from qtip_rht_weight");
    /* a dimension that does not split, and a block without a Hadamard order */
    CHECK_STATUS(qtip_rht_weight_blocks(W, m, n, SU, SV, 1, 3), QTIP_E_PARAM);
    CHECK(strstr(qtip_last_error(), "80") != NULL, "message: %s", qtip_last_error());
    CHECK_STATUS(qtip_rht_weight_blocks(W, m, n, SU, SV, 16, 1), QTIP_E_UNSUPPORTED);
    free(W); free(W0); free(SU); free(SV); free(Wd); free(T1); free(T2); free(H); free(Hd); free(A); free(B);
}

TEST(mu_analytic_values_and_errors)
{
    float W[6] = {1, 1, 1, 1, 1, 1}, Z[6] = {0};
    double mu;
    CHECK_OK(qtip_rht_mu_weight(W, 2, 3, &mu));
    CHECK_NEAR(mu, 1.0, 1e-12); /* all equal: perfectly incoherent */
    W[4] = 100;
    CHECK_OK(qtip_rht_mu_weight(W, 2, 3, &mu));
    CHECK_NEAR(mu, 100.0 * sqrt(6.0) / sqrt(5.0 + 10000.0), 1e-12);
    CHECK_STATUS(qtip_rht_mu_weight(Z, 2, 3, &mu), QTIP_E_PARAM);
    W[0] = NAN;
    CHECK_STATUS(qtip_rht_mu_weight(W, 2, 3, &mu), QTIP_E_NONFINITE);
    double I[9] = {1, 0, 0, 0, 2, 0, 0, 0, 3};
    CHECK_OK(qtip_rht_mu_hessian(I, 3, &mu));
    CHECK_NEAR(mu, sqrt(3.0), 1e-12); /* eigenvectors are unit axes: maximally coherent */
    float SU[6] = {1, 1, 1, 1, 1, 1};
    float X[6 * 6] = {0};
    CHECK_STATUS(qtip_rht_weight(X, 6, 6, SU, SU), QTIP_E_UNSUPPORTED);
    CHECK(strstr(qtip_last_error(), "order 6") != NULL, "message: %s", qtip_last_error());
}

/* All-3e38 weights are finite but overflow the transform's sums: the error names
 * that and the largest input, not the NaN it turns into ("value 0 is -nan"). */
TEST(rht_weight_overflow_named)
{
    const int64_t m = 16, n = 32;
    float W[16 * 32], SU[32], SV[16];
    for (int i = 0; i < 16 * 32; i++) W[i] = 3e38f;
    for (int i = 0; i < 32; i++) SU[i] = 1;
    for (int i = 0; i < 16; i++) SV[i] = 1;
    CHECK_STATUS(qtip_rht_weight(W, m, n, SU, SV), QTIP_E_NONFINITE);
    CHECK(strstr(qtip_last_error(), "overflows") && strstr(qtip_last_error(), "3e+38") &&
              !strstr(qtip_last_error(), "nan"),
          "message: %s", qtip_last_error());
}

/* The one-layer step from files. Analytic: a one-hot W (m x n) is maximally
 * coherent, mu = sqrt(m n); rotated, every entry is +-1/sqrt(m n): mu = 1. A
 * diagonal H with distinct entries has the unit axes as eigenvectors (mu =
 * sqrt(n)); rotated, they become Hadamard columns, entries +-1/sqrt(n): mu = 1.
 * The rotated W equals qtip_rht_weight with the documented signs. */
TEST(incoherence_run_from_files)
{
    enum { M = 8, N = 16 };
    float W[M * N] = {0};
    W[3 * N + 5] = 2.5f;
    char wp[512], hp[512];
    snprintf(wp, sizeof wp, "%s/w.safetensors", test_tmpdir());
    snprintf(hp, sizeof hp, "%s/h.qh", test_tmpdir());
    int64_t shape[2] = {M, N};
    qtip_st_writer *w = NULL;
    CHECK_OK(qtip_st_writer_create(&w));
    CHECK_OK(qtip_st_writer_add_ref(w, "layer.weight", QTIP_DT_F32, 2, shape, W));
    CHECK_OK(qtip_st_writer_write(w, wp, 0));
    qtip_st_writer_free(w);
    double L[N * (N + 1) / 2] = {0};
    for (int i = 0; i < N; i++) L[i * (i + 1) / 2 + i] = 1.0 + i;
    qtip_hessian *h = NULL;
    CHECK_OK(qtip_hessian_create(N, NULL, &h));
    CHECK_OK(qtip_hessian_set_sums(h, L, NULL, 1));
    CHECK_OK(qtip_hessian_save(h, hp));
    qtip_hessian_free(h);

    qtip_incoherence *r = NULL;
    CHECK_OK(qtip_incoherence_run(wp, "layer", hp, 11, &r)); /* "layer" finds layer.weight */
    if (!r) return;
    CHECK(!strcmp(r->tensor, "layer.weight") && r->m == M && r->n == N, "%s [%lld, %lld]", r->tensor,
          (long long)r->m, (long long)r->n);
    CHECK_NEAR(r->mu_w_before, sqrt((double)M * N), 1e-9);
    CHECK_NEAR(r->mu_w_after, 1.0, 1e-5);
    CHECK_NEAR(r->mu_h_before, sqrt((double)N), 1e-9);
    CHECK_NEAR(r->mu_h_after, 1.0, 1e-9);
    float SU[N], SV[M];
    spec_signs(11, "layer.weight", "SU", N, SU);
    spec_signs(11, "layer.weight", "SV", M, SV);
    CHECK_OK(qtip_rht_weight(W, M, N, SU, SV));
    CHECK(!memcmp(W, r->W, sizeof W) && !memcmp(SU, r->SU, sizeof SU) && !memcmp(SV, r->SV, sizeof SV),
          "rotated W or signs differ from qtip_rht_weight");
    qtip_incoherence_free(r);
    r = NULL;
    CHECK_STATUS(qtip_incoherence_run(wp, "nope", NULL, 0, &r), QTIP_E_NOT_FOUND);
    CHECK(strstr(qtip_last_error(), "'nope'") && strstr(qtip_last_error(), "w.safetensors"),
          "message: %s", qtip_last_error());
}

int main(void)
{
    RUN(signs_follow_spec_and_differ_per_tensor);
    RUN(rht_weight_and_hessian_equal_dense_definition);
    RUN(rht_preserves_proxy_loss_and_lowers_mu);
    RUN(rht_blocks_equal_dense_block_diagonal);
    RUN(mu_analytic_values_and_errors);
    RUN(rht_weight_overflow_named);
    RUN(incoherence_run_from_files);
    return check_summary();
}
