/* test_quant_layer.c — the whole one-layer pipeline for both methods: LDLQ against
 * plain rounding on a correlated Hessian, refinement, artifact round trip, exact
 * decoding, stored proxy loss, determinism across thread counts. */
#include "check.h"
#include "core/internal.h"
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

#include <unistd.h>

/* Correlated Hessian: AR(1) covariance times per-input scales, plus a shared
 * component, so the RHT does not make it diagonal. */
static double *corr_hessian(test_rng *r, int64_t n, double rho)
{
    double *H = malloc(sizeof(double) * (size_t)(n * n));
    double *s = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) s[i] = 0.5 + test_rng_uniform(r);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            H[i * n + j] = s[i] * s[j] * (pow(rho, (double)llabs(i - j)) + 0.3);
    free(s);
    return H;
}

static float *rand_weight(test_rng *r, int64_t m, int64_t n)
{
    float *W = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m * n; i++) W[i] = (float)(0.02 * test_rng_normal(r));
    return W;
}

static qtip_quant_params small_trellis(void)
{
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    p.trellis.L = 12; p.trellis.K = 2; p.trellis.V = 1; p.trellis.Q = 0;
    p.trellis.code = QTIP_CODE_1MAD;
    p.seed = 7;
    return p;
}

static double quantize_loss(const qtip_quant_params *p, const float *W, int64_t m, int64_t n,
                            const double *H, qtip_layer_artifact **keep)
{
    qtip_quantizer *q = NULL;
    qtip_layer_artifact *a = NULL;
    double loss = NAN;
    CHECK_OK(qtip_quantizer_create(p, &q));
    if (q) CHECK_OK(qtip_quantize_layer(q, W, m, n, H, "layers.0.mlp.down_proj.weight", &a));
    if (a) {
        qtip_layer_info info;
        qtip_layer_artifact_info(a, &info);
        loss = info.proxy_loss;
    }
    if (keep) *keep = a;
    else qtip_layer_artifact_free(a);
    qtip_quantizer_free(q);
    return loss;
}

TEST(trellis_ldlq_beats_plain)
{
    test_rng r = test_rng_seeded(31);
    int64_t m = 64, n = 128;
    float *W = rand_weight(&r, m, n);
    double *H = corr_hessian(&r, n, 0.95);
    qtip_quant_params p = small_trellis();
    double ldlq = quantize_loss(&p, W, m, n, H, NULL);
    p.ldlq = 0;
    double plain = quantize_loss(&p, W, m, n, H, NULL);
    fprintf(stderr, "trellis L12 K2 1mad 64x128: LDLQ %.5f, plain %.5f\n", ldlq, plain);
    CHECK(ldlq < 0.8 * plain, "LDLQ %.5f not clearly below plain %.5f", ldlq, plain);
    free(W);
    free(H);
}

TEST(e8p_ldlq_refine_beats_plain)
{
    test_rng r = test_rng_seeded(32);
    int64_t m = 64, n = 128;
    float *W = rand_weight(&r, m, n);
    double *H = corr_hessian(&r, n, 0.95);
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_E8P);
    p.seed = 3;
    qtip_layer_artifact *a = NULL;
    double full = quantize_loss(&p, W, m, n, H, &a);
    p.refine_passes = 0;
    double ldlq = quantize_loss(&p, W, m, n, H, NULL);
    p.ldlq = 0;
    double plain = quantize_loss(&p, W, m, n, H, NULL);
    fprintf(stderr, "e8p12 64x128: LDLQ+10 passes %.5f, LDLQ %.5f, plain %.5f\n", full, ldlq, plain);
    CHECK(ldlq < 0.8 * plain, "LDLQ %.5f vs plain %.5f", ldlq, plain);
    CHECK(full < plain * 0.8 && full <= ldlq * 1.001, "LDLQ+refine %.5f vs plain %.5f", full, plain);
    if (a) {
        qtip_layer_info info;
        qtip_layer_artifact_info(a, &info);
        CHECK(info.refine_count == 11, "%d losses", info.refine_count);
        for (int i = 1; i < info.refine_count; i++)
            CHECK(info.refine_losses[i] <= info.refine_losses[i - 1], "pass %d: %.9g > %.9g", i,
                  info.refine_losses[i], info.refine_losses[i - 1]);
        CHECK(info.refine_losses[10] < info.refine_losses[0], "refinement lowered nothing");
    }
    qtip_layer_artifact_free(a);
    /* RVQ variants run and get better with more bits */
    p = qtip_quant_default_params(QTIP_METHOD_E8P);
    p.refine_passes = 2;
    p.e8p = QTIP_E8P12_RVQ3;
    double l3 = quantize_loss(&p, W, m, n, H, NULL);
    p.e8p = QTIP_E8P12_RVQ4;
    double l4 = quantize_loss(&p, W, m, n, H, NULL);
    fprintf(stderr, "rvq3 %.5f, rvq4 %.5f\n", l3, l4);
    CHECK(l3 < full && l4 < l3, "more bits, lower loss: %.5f %.5f %.5f", full, l3, l4);
    free(W);
    free(H);
}

static void roundtrip(const qtip_quant_params *p, const char *file)
{
    test_rng r = test_rng_seeded(33);
    int64_t m = 64, n = 128;
    float *W = rand_weight(&r, m, n);
    double *H = corr_hessian(&r, n, 0.9);
    qtip_layer_artifact *a = NULL, *b = NULL;
    quantize_loss(p, W, m, n, H, &a);
    if (!a) goto out;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), file);
    CHECK_OK(qtip_layer_artifact_save(a, path));
    CHECK_OK(qtip_layer_artifact_load(path, &b));
    if (!b) goto out;
    float *d1 = malloc(sizeof(float) * (size_t)(m * n)), *d2 = malloc(sizeof(float) * (size_t)(m * n));
    CHECK_OK(qtip_layer_artifact_decode(a, d1));
    CHECK_OK(qtip_layer_artifact_decode(b, d2));
    CHECK(memcmp(d1, d2, sizeof(float) * (size_t)(m * n)) == 0, "decoded file differs from memory");
    qtip_layer_info ia, ib;
    qtip_layer_artifact_info(a, &ia);
    qtip_layer_artifact_info(b, &ib);
    CHECK(ia.proxy_loss == ib.proxy_loss, "stored proxy %.17g vs %.17g", ia.proxy_loss, ib.proxy_loss);
    CHECK(ia.wscale == ib.wscale && ib.m == m && ib.n == n, "wscale/shape");
    CHECK(strcmp(ib.tensor, "layers.0.mlp.down_proj.weight") == 0, "tensor '%s'", ib.tensor);
    /* independent recomputation of the proxy loss from the decoded weights */
    double err = 0, ref = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t x = 0; x < n; x++)
            for (int64_t y = 0; y < n; y++) {
                double dx = (double)W[i * n + x] - d2[i * n + x], dy = (double)W[i * n + y] - d2[i * n + y];
                err += dx * H[x * n + y] * dy;
                ref += (double)W[i * n + x] * H[x * n + y] * W[i * n + y];
            }
    CHECK_NEAR(ib.proxy_loss, err / ref, 1e-9 * (err / ref));
    /* a quantized weight is close to the original but not equal */
    CHECK(ib.proxy_loss > 0 && ib.proxy_loss < 0.3, "proxy %.5f", ib.proxy_loss);
    /* the rotated decode times Wscale is what the inverse RHT starts from */
    CHECK_OK(qtip_layer_artifact_decode_rotated(b, d2));
    for (int64_t i = 0; i < m * n; i++) d2[i] *= ib.wscale;
    CHECK_OK(qtip_rht_weight_inverse(d2, m, n, ib.SU, ib.SV));
    CHECK(memcmp(d1, d2, sizeof(float) * (size_t)(m * n)) == 0, "decode = inverse RHT of rotated decode");
    free(d1);
    free(d2);
out:
    qtip_layer_artifact_free(a);
    qtip_layer_artifact_free(b);
    free(W);
    free(H);
}

TEST(artifact_roundtrip_trellis) { qtip_quant_params p = small_trellis(); roundtrip(&p, "t.safetensors"); }
TEST(artifact_roundtrip_e8p)
{
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_E8P);
    p.refine_passes = 3;
    roundtrip(&p, "e.safetensors");
    p.e8p = QTIP_E8P12_RVQ3;
    roundtrip(&p, "e3.safetensors");
}
TEST(artifact_roundtrip_hyb_l16)
{
    /* the one L = 16 case: the released models' setting, fragment tile order */
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    roundtrip(&p, "h.safetensors");
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*len);
    if (fread(b, 1, *len, f) != *len) { free(b); b = NULL; }
    fclose(f);
    return b;
}

TEST(same_bytes_for_any_thread_count)
{
    test_rng r = test_rng_seeded(34);
    int64_t m = 64, n = 128;
    float *W = rand_weight(&r, m, n);
    double *H = corr_hessian(&r, n, 0.9);
    qtip_quant_params ps[2] = {small_trellis(), qtip_quant_default_params(QTIP_METHOD_E8P)};
    ps[1].refine_passes = 2;
    for (int k = 0; k < 2; k++) {
        void *bytes[2] = {NULL, NULL};
        size_t len[2] = {0, 0};
        for (int t = 0; t < 2; t++) {
            qtip_set_threads(t + 1);
            qtip_layer_artifact *a = NULL;
            quantize_loss(&ps[k], W, m, n, H, &a);
            char path[512];
            snprintf(path, sizeof path, "%s/thr%d_%d.safetensors", test_tmpdir(), k, t);
            if (a) CHECK_OK(qtip_layer_artifact_save(a, path));
            qtip_layer_artifact_free(a);
            bytes[t] = slurp(path, &len[t]);
        }
        CHECK(bytes[0] && bytes[1] && len[0] == len[1] && memcmp(bytes[0], bytes[1], len[0]) == 0,
              "method %d: artifacts differ between 1 and 2 threads", k);
        free(bytes[0]);
        free(bytes[1]);
    }
    qtip_set_threads(0);
    free(W);
    free(H);
}

/* --- a code added through the traits table alone ---------------------------------
 * "uniform-test": a test-only scalar code, V = 1, no table: 256 levels evenly
 * spaced over [-1.725, 1.725] (RMS about 1) picked by a multiplicative hash of the
 * state. Registered as a row, it must quantize, save, load and decode through
 * the generic path; the decode is checked against a second implementation
 * written here from the layout documentation (qtip_trellis.h). */
static float uniform_value(uint32_t s)
{
    uint32_t h = (s * 2654435761u) >> 24;
    return ((float)h - 127.5f) / 73.9f;
}

static void uniform_values(uint32_t s, const qtip_trellis_params *p, const float *tlut, float *out)
{
    (void)p;
    (void)tlut;
    out[0] = uniform_value(s);
}

/* Rotated W from the codes by hand: tile (R, C) word w at row R*td_x + w/wr,
 * column C*wr + w%wr; step i reads L bits at i*K of the circular stream; value j
 * of the row-major tile at row j/td_y, column j%td_y. */
static void hand_decode(const qtip_trellis_params *tp, const int16_t *codes, int64_t m, int64_t n,
                        float *Wr)
{
    const int wr = tp->td_y * tp->K / 16, nw = tp->td_x * wr, T = tp->td_x * tp->td_y;
    const int64_t cc = n * tp->K / 16;
    uint16_t words[64];
    for (int64_t R = 0; R < m / tp->td_x; R++)
        for (int64_t C = 0; C < n / tp->td_y; C++) {
            for (int w = 0; w < nw; w++) words[w] = (uint16_t)codes[(R * tp->td_x + w / wr) * cc + C * wr + w % wr];
            for (int j = 0; j < T; j++) {
                uint32_t st = 0;
                for (int b = 0; b < tp->L; b++) {
                    int bit = (j * tp->K + b) % (16 * nw);
                    st = (st << 1) | ((words[bit / 16] >> (15 - bit % 16)) & 1u);
                }
                Wr[(R * tp->td_x + j / tp->td_y) * n + C * tp->td_y + j % tp->td_y] = uniform_value(st);
            }
        }
}

TEST(extra_code_through_the_traits_table)
{
    const qtip_code_traits row = {"uniform-test", NULL, 1u << 1, QTIP_TLUT_NONE, 0, 0, 0, 1.0,
                                  uniform_values, "test-only uniform scalar code"};
    int id = qtip_code_register_(&row);
    CHECK(id >= QTIP_CODE_BUILTIN_COUNT && qtip_code_from_name("uniform-test") == id, "registered as %d", id);
    CHECK(qtip_code_register_(&row) == -1, "a name is registered once");
    if (id < 0) return;
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    p.trellis.L = 12;
    CHECK_OK(qtip_trellis_set_code(&p.trellis, id, 0, 0));
    CHECK(p.trellis.V == 1 && p.trellis.Q == 0, "the row's V and tlut bits: %d, %d", p.trellis.V, p.trellis.Q);
    test_rng r = test_rng_seeded(1212);
    const int64_t m = 32, n = 64;
    float *W = rand_weight(&r, m, n), *Wr = malloc(sizeof(float) * m * n), *hand = malloc(sizeof(float) * m * n);
    double *H = corr_hessian(&r, n, 0.8);
    qtip_layer_artifact *a = NULL, *b = NULL;
    double loss = quantize_loss(&p, W, m, n, H, &a);
    /* 2 bits per weight of a 256-level code: well below the no-information loss 1 */
    CHECK(loss > 0 && loss < 0.3, "proxy loss %g", loss);
    const char *path = test_path("uniform.safetensors");
    if (a) CHECK_OK(qtip_layer_artifact_save(a, path));
    if (a) CHECK_OK(qtip_layer_artifact_load(path, &b));
    if (b) {
        qtip_layer_info info;
        qtip_layer_artifact_info(b, &info);
        CHECK(info.params.trellis.code == (qtip_code)id && info.tlut == NULL, "loaded code %d",
              (int)info.params.trellis.code);
        CHECK_OK(qtip_layer_codes_decode(&info.params, NULL, info.codes, m, n, Wr));
        hand_decode(&info.params.trellis, info.codes, m, n, hand);
        int bad = 0;
        for (int64_t i = 0; i < m * n; i++) bad += Wr[i] != hand[i];
        CHECK(bad == 0, "%d values differ from the hand decode", bad);
        CHECK(fabs(info.proxy_loss - loss) == 0, "stored loss %g", info.proxy_loss);
    }
    qtip_layer_artifact_free(a);
    qtip_layer_artifact_free(b);
    free(W);
    free(Wr);
    free(hand);
    free(H);
}

/* quantize_config.json through the parameters table. */
static qtip_status config_from(const char *json, qtip_quant_params *p)
{
    const char *path = test_path("config.json");
    test_write_file(path, json, strlen(json));
    *p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    return qtip_quant_params_from_json(path, p);
}

TEST(params_from_config_json)
{
    qtip_quant_params p, d = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    CHECK(d.sigma_reg == 0.01 && d.scale_override == -1 && d.ldlq == 1 && d.damping_tries == 10 &&
              d.refine_passes == 0 && d.tail_biting == 0 && d.seed == 0,
          "trellis defaults");
    CHECK(qtip_quant_default_params(QTIP_METHOD_E8P).refine_passes == 10, "e8p refine default");
    CHECK_OK(config_from("{\"quantization_config\": {\"quant_method\": \"QTIP\", \"decode_mode\": "
                         "\"1mad\", \"L\": 12, \"K\": 3, \"V\": 1, \"tlut_bits\": 0, "
                         "\"sigma_reg\": 0.05, \"seed\": 9, \"tail_biting\": \"best-of-4\", "
                         "\"quip_tune_iters\": 2, \"damping_tries\": 3, \"codebook\": \"bitshift\"}}",
                         &p));
    CHECK(p.method == QTIP_METHOD_TRELLIS && p.trellis.code == QTIP_CODE_1MAD && p.trellis.L == 12 &&
              p.trellis.K == 3 && p.trellis.V == 1 && p.trellis.Q == 0 && p.sigma_reg == 0.05 &&
              p.seed == 9 && p.tail_biting == 4 && p.refine_passes == 2 && p.damping_tries == 3,
          "trellis config fields");
    CHECK_OK(qtip_quant_check_params(&p));
    /* an E8P codebook resets to the E8P defaults before the other fields */
    CHECK_OK(config_from("{\"sigma_reg\": 0.2, \"codebook\": \"E8P12RVQ3B\", \"unknown\": 1}", &p));
    CHECK(p.method == QTIP_METHOD_E8P && p.e8p == QTIP_E8P12_RVQ3 && p.refine_passes == 10 &&
              p.sigma_reg == 0.2,
          "e8p config");
    CHECK_STATUS(config_from("{\"L\": \"x\"}", &p), QTIP_E_FORMAT);
    CHECK_STATUS(config_from("{\"seed\": -1}", &p), QTIP_E_FORMAT);
    CHECK_STATUS(config_from("[1]", &p), QTIP_E_FORMAT);
    CHECK_STATUS(config_from("{\"decode_mode\": \"nope\"}", &p), QTIP_E_PARAM);
    CHECK_STATUS(config_from("{\"quant_method\": \"nope\"}", &p), QTIP_E_PARAM);
    /* ranges of the table: sigma_reg, ldlq, tail_biting */
    CHECK_OK(config_from("{\"sigma_reg\": -0.5}", &p));
    CHECK_STATUS(qtip_quant_check_params(&p), QTIP_E_PARAM);
    CHECK(strstr(qtip_last_error(), "sigma_reg") != NULL, "names the field: %s", qtip_last_error());
    CHECK_OK(config_from("{\"ldlq\": 2}", &p));
    CHECK_STATUS(qtip_quant_check_params(&p), QTIP_E_PARAM);
}

TEST(bad_inputs)
{
    qtip_quant_params p = small_trellis();
    qtip_quantizer *q = NULL;
    CHECK_OK(qtip_quantizer_create(&p, &q));
    float *W = calloc(40 * 128, sizeof(float));
    qtip_layer_artifact *a = NULL;
    CHECK_STATUS(qtip_quantize_layer(q, W, 40, 128, NULL, "w", &a), QTIP_E_SHAPE);
    CHECK(strstr(qtip_last_error(), "[40, 128]") != NULL, "'%s'", qtip_last_error());
    W[5] = NAN;
    CHECK_STATUS(qtip_quantize_layer(q, W, 32, 128, NULL, "w", &a), QTIP_E_NONFINITE);
    /* indefinite hessian */
    double *H = calloc(128 * 128, sizeof(double));
    for (int i = 0; i < 128; i++) H[i * 128 + i] = i == 3 ? -50.0 : 1.0;
    W[5] = 0;
    CHECK_STATUS(qtip_quantize_layer(q, W, 32, 128, H, "w", &a), QTIP_E_NOT_PD);
    CHECK(strstr(qtip_last_error(), "sigma") != NULL, "'%s'", qtip_last_error());
    qtip_quantizer_free(q);
    p.device = QTIP_DEVICE_CUDA;
    CHECK_STATUS(qtip_quantizer_create(&p, &q), QTIP_E_UNSUPPORTED);
    p = small_trellis();
    p.sigma_reg = -1;
    CHECK_STATUS(qtip_quant_check_params(&p), QTIP_E_PARAM);
    p = small_trellis();
    p.trellis.td_y = 4;
    CHECK_STATUS(qtip_quant_check_params(&p), QTIP_E_PARAM);
    /* identity hessian runs and says so */
    p = small_trellis();
    CHECK_OK(qtip_quantizer_create(&p, &q));
    for (int i = 0; i < 32 * 128; i++) W[i] = (float)((i * 37 % 101) - 50) * 0.01f;
    CHECK_OK(qtip_quantize_layer(q, W, 32, 128, NULL, "w", &a));
    if (a) {
        qtip_layer_info info;
        qtip_layer_artifact_info(a, &info);
        CHECK(strcmp(info.hessian_checksum, "identity") == 0, "'%s'", info.hessian_checksum);
        CHECK(info.proxy_loss > 0 && info.proxy_loss < 0.2, "%.4f", info.proxy_loss);
    }
    qtip_layer_artifact_free(a);
    qtip_quantizer_free(q);
    free(W);
    free(H);
}

int main(void)
{
    RUN(trellis_ldlq_beats_plain);
    RUN(e8p_ldlq_refine_beats_plain);
    RUN(artifact_roundtrip_trellis);
    RUN(artifact_roundtrip_e8p);
    RUN(artifact_roundtrip_hyb_l16);
    RUN(same_bytes_for_any_thread_count);
    RUN(extra_code_through_the_traits_table);
    RUN(params_from_config_json);
    RUN(bad_inputs);
    return check_summary();
}
