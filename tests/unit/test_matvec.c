/*
 * test_matvec.c — the CPU matvec (qtip_matvec.h) against the decoded dense weight.
 *
 * For every trellis code and K, the E8P codebooks, and odd shapes: synthetic
 * codes, signs and scale make a layer; its W_hat comes from the existing decode
 * path (qtip_layer_artifact_decode, the bytes qtip-verify --dequantize writes) and
 * W_hat x is summed in double. The matvec (batch 1) and the batch matmul must
 * agree within the stated fp32 tolerance
 *     |y_i - (W_hat x)_i| <= 1e-6 * |W_hat row i| * |x|
 * (both sides round through fp32 Hadamard transforms; one wrong element would be
 * off by about |W_hat row i| |x| / sqrt(n), thousands of times more). The AVX2
 * and portable kernels, and 1 and 3 threads, must give the same bits; a batch
 * row the same bits as the single-vector call.
 */
#include "check.h"

#include <sys/stat.h>

#define TOL 1e-6

typedef struct {
    qtip_layer_info l;
    void *codes;
    float *SU, *SV, *tlut;
    qtip_trellis *tr;
} synth_layer;

static void synth_free(synth_layer *s)
{
    free(s->codes);
    free(s->SU);
    free(s->SV);
    qtip_trellis_free(s->tr);
}

/* Random codes of the layout p needs for m x n, random signs, Wscale 0.7. */
static int synth(const qtip_quant_params *p, int64_t m, int64_t n, test_rng *r, synth_layer *s)
{
    memset(s, 0, sizeof *s);
    qtip_layer_info *l = &s->l;
    l->params = *p;
    l->m = m;
    l->n = n;
    l->tensor = "synthetic";
    l->weights_checksum = l->hessian_checksum = "";
    l->wscale = 0.7f;
    int code_bits = 16;
    if (p->method == QTIP_METHOD_E8P) {
        l->code_cols = n / 8;
        code_bits = qtip_e8p_code_bits(p->e8p);
        l->code_is_i32 = code_bits > 16;
    } else {
        l->code_cols = n * p->trellis.K / 16;
        if (qtip_trellis_create(&p->trellis, &s->tr) != QTIP_OK) return 0;
        size_t rows, cols, cnt = qtip_trellis_tlut_shape(&p->trellis, &rows, &cols);
        if (cnt) {
            l->tlut = qtip_trellis_lut(s->tr, NULL);
            l->tlut_rows = rows;
            l->tlut_cols = cols;
        }
    }
    size_t count = (size_t)(m * l->code_cols);
    s->codes = malloc(count * (l->code_is_i32 ? 4 : 2));
    s->SU = malloc((size_t)n * 4);
    s->SV = malloc((size_t)m * 4);
    for (size_t i = 0; i < count; i++) {
        uint64_t v = test_rng_next(r);
        if (l->code_is_i32) ((int32_t *)s->codes)[i] = (int32_t)(uint32_t)(v >> (64 - code_bits));
        else ((uint16_t *)s->codes)[i] = (uint16_t)v;
    }
    for (int64_t i = 0; i < n; i++) s->SU[i] = test_rng_next(r) & 1 ? -1.0f : 1.0f;
    for (int64_t i = 0; i < m; i++) s->SV[i] = test_rng_next(r) & 1 ? -1.0f : 1.0f;
    l->codes = s->codes;
    l->SU = s->SU;
    l->SV = s->SV;
    return 1;
}

/* W_hat through the artifact's decoder. */
static float *dense_weight(const qtip_layer_info *l)
{
    qtip_layer_artifact *a = NULL;
    CHECK_OK(qtip_layer_artifact_from_info(l, &a));
    float *W = malloc((size_t)(l->m * l->n) * 4);
    if (a) CHECK_OK(qtip_layer_artifact_decode(a, W));
    qtip_layer_artifact_free(a);
    return W;
}

/* Every output of y (batch x m) against W x in double; returns the worst ratio
 * of error to tolerance. */
static double check_against_dense(const float *W, int64_t m, int64_t n, const float *x, int batch,
                                  const float *y, const char *what)
{
    double worst = 0;
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (size_t)b * (size_t)n;
        double xn = 0;
        for (int64_t j = 0; j < n; j++) xn += (double)xb[j] * xb[j];
        for (int64_t i = 0; i < m; i++) {
            const float *w = W + (size_t)i * (size_t)n;
            double dot = 0, wn = 0;
            for (int64_t j = 0; j < n; j++) {
                dot += (double)w[j] * xb[j];
                wn += (double)w[j] * w[j];
            }
            double err = fabs(y[(size_t)b * (size_t)m + (size_t)i] - dot), tol = TOL * sqrt(wn * xn);
            if (err / tol > worst) worst = err / tol;
        }
    }
    CHECK(worst <= 1.0, "%s: error %.3g times the tolerance", what, worst);
    return worst;
}

static void fill_inputs(test_rng *r, float *x, size_t count)
{
    for (size_t i = 0; i < count; i++) x[i] = (float)test_rng_normal(r);
}

/* The layer of p at m x n through every path, batch sizes 1 and `batch`. */
static void check_layer(const qtip_quant_params *p, int64_t m, int64_t n, int batch, const char *what)
{
    test_rng r = test_rng_seeded(0x6d76ull + (uint64_t)(m * 31 + n));
    synth_layer s;
    CHECK(synth(p, m, n, &r, &s), "%s: %s", what, qtip_last_error());
    float *W = dense_weight(&s.l);
    qtip_matvec *mv = NULL;
    CHECK_OK(qtip_matvec_create(&s.l, &mv));
    size_t xs = (size_t)batch * (size_t)n, ys = (size_t)batch * (size_t)m;
    float *x = malloc(xs * 4), *y = malloc(ys * 4), *y1 = malloc((size_t)m * 4), *yp = malloc(ys * 4),
          *yt = malloc(ys * 4);
    fill_inputs(&r, x, xs);
    if (mv) {
        CHECK_OK(qtip_matvec_apply(mv, x, y1));
        check_against_dense(W, m, n, x, 1, y1, what);
        CHECK_OK(qtip_matvec_apply_batch(mv, x, batch, y));
        double worst = check_against_dense(W, m, n, x, batch, y, what);
        CHECK(memcmp(y, y1, (size_t)m * 4) == 0, "%s: batch row 0 differs from the single call", what);
        setenv("QTIP_NO_AVX2", "1", 1);
        CHECK_OK(qtip_matvec_apply_batch(mv, x, batch, yp));
        unsetenv("QTIP_NO_AVX2");
        CHECK(memcmp(y, yp, ys * 4) == 0, "%s: portable and %s kernels differ", what, qtip_matvec_simd());
        qtip_set_threads(1);
        CHECK_OK(qtip_matvec_apply_batch(mv, x, batch, yt));
        CHECK(memcmp(y, yt, ys * 4) == 0, "%s: 1 thread differs", what);
        qtip_set_threads(3);
        CHECK_OK(qtip_matvec_apply_batch(mv, x, batch, yt));
        CHECK(memcmp(y, yt, ys * 4) == 0, "%s: 3 threads differ", what);
        qtip_set_threads(0);
        fprintf(stderr, "   %-28s %4lld x %-4lld batch %2d: worst error %.3f of the tolerance\n", what,
                (long long)m, (long long)n, batch, worst);
    }
    qtip_matvec_free(mv);
    free(x), free(y), free(y1), free(yp), free(yt), free(W);
    synth_free(&s);
}

static qtip_quant_params trellis_params(qtip_code code, int K, int V, int Q)
{
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    p.trellis.code = code;
    p.trellis.K = K;
    p.trellis.V = V;
    p.trellis.Q = Q;
    return p;
}

TEST(trellis_codes_every_k)
{
    static const struct { qtip_code code; int V, Q; } codes[] = {
        {QTIP_CODE_HYB, 2, 9}, {QTIP_CODE_1MAD, 1, 0}, {QTIP_CODE_2MAD, 1, 0},
        {QTIP_CODE_3INST, 1, 0}, {QTIP_CODE_LUT, 1, 16}, {QTIP_CODE_LUT, 2, 16},
    };
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++)
        for (int K = 1; K <= 4; K++) {
            qtip_quant_params p = trellis_params(codes[c].code, K, codes[c].V, codes[c].Q);
            char what[64];
            snprintf(what, sizeof what, "%s V%d K%d", qtip_code_name(codes[c].code), codes[c].V, K);
            check_layer(&p, 48, 80, 3, what);
        }
}

/* The default 2-bit HYB (tensor-core tile order) and 3-bit 3INST at a model's
 * odd size, batch 32. */
TEST(trellis_large_shape)
{
    qtip_quant_params p = trellis_params(QTIP_CODE_HYB, 2, 2, 9);
    check_layer(&p, 576, 1536, 32, "hyb K2 (mma order)");
    p = trellis_params(QTIP_CODE_HYB, 4, 2, 9);
    check_layer(&p, 576, 1536, 8, "hyb K4 (mma order)");
    p = trellis_params(QTIP_CODE_3INST, 3, 1, 0);
    check_layer(&p, 576, 1536, 5, "3inst K3");
}

/* Tiles whose width is not a multiple of 8 (the kernels' lane groups). */
TEST(trellis_narrow_tiles)
{
    qtip_quant_params p = trellis_params(QTIP_CODE_1MAD, 4, 1, 0);
    p.trellis.td_x = 8;
    p.trellis.td_y = 4;
    p.trellis.L = 12;
    check_layer(&p, 48, 80, 3, "1mad K4 8x4 tiles");
}

TEST(e8p_codebooks)
{
    for (int k = QTIP_E8P12; k <= QTIP_E8P12_RVQ4; k++) {
        qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_E8P);
        p.e8p = (qtip_e8p_kind)k;
        check_layer(&p, 48, 80, 3, qtip_e8p_name(p.e8p));
        check_layer(&p, 20, 2304, 2, qtip_e8p_name(p.e8p)); /* a partial row block and tile */
        check_layer(&p, 576, 1536, 9, qtip_e8p_name(p.e8p));
    }
}

/* A packed directory's layer through qtip_matvec_open: the same bits as the
 * context made from the description that was packed. */
TEST(open_packed_directory)
{
    test_rng r = test_rng_seeded(11);
    qtip_quant_params p = trellis_params(QTIP_CODE_HYB, 2, 2, 9);
    synth_layer s;
    CHECK(synth(&p, 48, 80, &r, &s), "synth");
    s.l.tensor = "model.layers.0.mlp.down_proj";
    char model[600], packed[600], path[700];
    snprintf(model, sizeof model, "%s/orig", test_tmpdir());
    snprintf(packed, sizeof packed, "%s/packed", test_tmpdir());
    CHECK(mkdir(model, 0755) == 0, "mkdir %s", model);
    snprintf(path, sizeof path, "%s/config.json", model);
    const char *cfg = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
                      "\"torch_dtype\": \"float32\"}\n";
    test_write_file(path, cfg, strlen(cfg));
    float *W = calloc(48 * 80, 4);
    int64_t shape[2] = {48, 80};
    qtip_st_writer *w = NULL;
    CHECK_OK(qtip_st_writer_create(&w));
    CHECK_OK(qtip_st_writer_add(w, "model.layers.0.mlp.down_proj.weight", QTIP_DT_F32, 2, shape, W));
    snprintf(path, sizeof path, "%s/model.safetensors", model);
    CHECK_OK(qtip_st_writer_write(w, path, 0));
    qtip_st_writer_free(w);
    qtip_model_dir *md = NULL;
    CHECK_OK(qtip_model_dir_open(model, 0, &md));
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    if (md) CHECK_OK(qtip_pack_model(md, &s.l, 1, &o, packed));
    qtip_model_dir_close(md);
    qtip_matvec *a = NULL, *b = NULL;
    CHECK_OK(qtip_matvec_open(packed, "model.layers.0.mlp.down_proj", &a));
    CHECK_OK(qtip_matvec_create(&s.l, &b));
    float x[2 * 80], ya[2 * 48], yb[2 * 48];
    fill_inputs(&r, x, 2 * 80);
    if (a && b) {
        CHECK_OK(qtip_matvec_apply_batch(a, x, 2, ya));
        CHECK_OK(qtip_matvec_apply_batch(b, x, 2, yb));
        CHECK(memcmp(ya, yb, sizeof ya) == 0, "the packed layer computes differently");
    }
    qtip_matvec_free(a);
    qtip_matvec_free(b);
    CHECK_STATUS(qtip_matvec_open(packed, "model.layers.1.mlp.down_proj", &a), QTIP_E_NOT_FOUND);
    CHECK(a == NULL, "no context on failure");
    free(W);
    synth_free(&s);
}

/* qtip_matvec_create_flat (the ctypes entry point) makes the context that
 * qtip_matvec_create makes from the same layer: the same bits. */
static void check_flat(const qtip_quant_params *p, const char *code, test_rng *r)
{
    synth_layer s;
    CHECK(synth(p, 48, 80, r, &s), "synth %s", code);
    const qtip_trellis_params *t = &p->trellis;
    const qtip_layer_info *l = &s.l;
    qtip_matvec *a = NULL, *b = NULL;
    CHECK_OK(qtip_matvec_create(l, &a));
    CHECK_OK(qtip_matvec_create_flat("flat", code, t->L, t->K, t->V, t->Q, t->td_x, t->td_y, l->m,
                                     l->n, l->codes, l->code_cols, l->code_is_i32, l->SU, l->SV,
                                     l->wscale, l->tlut, (int64_t)l->tlut_rows,
                                     (int64_t)l->tlut_cols, &b));
    float x[2 * 80], ya[2 * 48], yb[2 * 48];
    fill_inputs(r, x, 2 * 80);
    if (a && b) {
        CHECK_OK(qtip_matvec_apply_batch(a, x, 2, ya));
        CHECK_OK(qtip_matvec_apply_batch(b, x, 2, yb));
        CHECK(memcmp(ya, yb, sizeof ya) == 0, "%s: the flat context computes differently", code);
    }
    qtip_matvec_free(a);
    qtip_matvec_free(b);
    synth_free(&s);
}

TEST(flat_entry_point)
{
    test_rng r = test_rng_seeded(13);
    qtip_quant_params p = trellis_params(QTIP_CODE_HYB, 3, 2, 9);
    check_flat(&p, "quantlut_sym", &r);
    p = trellis_params(QTIP_CODE_1MAD, 2, 1, 0);
    check_flat(&p, "1mad", &r);
    p = qtip_quant_default_params(QTIP_METHOD_E8P);
    p.e8p = QTIP_E8P12_RVQ4;
    check_flat(&p, "E8P12RVQ4B", &r);
    qtip_matvec *mv = NULL;
    float one = 1;
    CHECK_STATUS(qtip_matvec_create_flat(NULL, "nosuchcode", 16, 2, 2, 9, 16, 16, 16, 16, &one, 2, 0,
                                         &one, &one, 1, NULL, 0, 0, &mv),
                 QTIP_E_PARAM);
    CHECK(strstr(qtip_last_error(), "nosuchcode") && !mv, "message names the code: %s",
          qtip_last_error());
}

TEST(refusals)
{
    test_rng r = test_rng_seeded(5);
    qtip_quant_params p = trellis_params(QTIP_CODE_HYB, 2, 2, 9);
    synth_layer s;
    CHECK(synth(&p, 48, 80, &r, &s), "synth");
    qtip_matvec *mv = NULL;
    CHECK_STATUS(qtip_matvec_create(NULL, &mv), QTIP_E_PARAM);
    s.SU[7] = NAN;
    CHECK_STATUS(qtip_matvec_create(&s.l, &mv), QTIP_E_NONFINITE);
    CHECK(strstr(qtip_last_error(), "SU[7]"), "message names the entry: %s", qtip_last_error());
    s.SU[7] = 1;
    CHECK_OK(qtip_matvec_create(&s.l, &mv));
    float x[80 * 2] = {0}, y[48 * 2];
    CHECK_STATUS(qtip_matvec_apply_batch(mv, x, 0, y), QTIP_E_PARAM);
    CHECK_STATUS(qtip_matvec_apply_batch(mv, x, QTIP_MATVEC_MAX_BATCH + 1, y), QTIP_E_PARAM);
    CHECK_STATUS(qtip_matvec_apply(mv, NULL, y), QTIP_E_PARAM);
    int64_t m = 0, n = 0;
    qtip_matvec_shape(mv, &m, &n);
    CHECK(m == 48 && n == 80, "shape %lld x %lld", (long long)m, (long long)n);
    qtip_matvec_free(mv);
    CHECK_STATUS(qtip_matvec_open("/nonexistent-dir", "x", &mv), QTIP_E_IO);
    synth_free(&s);
}

int main(void)
{
    fprintf(stderr, "kernel: %s\n", qtip_matvec_simd());
    RUN(trellis_codes_every_k);
    RUN(trellis_large_shape);
    RUN(trellis_narrow_tiles);
    RUN(e8p_codebooks);
    RUN(open_packed_directory);
    RUN(flat_entry_point);
    RUN(refusals);
    return check_summary();
}
