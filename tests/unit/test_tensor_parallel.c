/*
 * test_tensor_parallel.c — a layer quantized for tensor parallelism (tp_size 2
 * and 4, both sides, trellis and E8P): its decoded weight equals the shards
 * decoded as plain layers from their own slices of codes and signs (each rank's
 * view), the artifact file keeps the fields (format version 2), the split follows
 * the layer's name, and what cannot work is refused: an indivisible dimension,
 * a description for the library matvec (whole-layer transforms only).
 */
#include "check.h"

static float *random_weight(test_rng *rng, int64_t m, int64_t n)
{
    float *W = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m * n; i++) W[i] = (float)(0.02 * test_rng_normal(rng));
    return W;
}

/* Shard r of `count` of a tensor-parallel artifact as a plain layer description:
 * rows of codes and SV (output split) or code columns and SU (input split). */
static void shard_of(const qtip_layer_info *l, int r, int count, qtip_layer_info *s, void *codes)
{
    *s = *l;
    s->params.tp_size = 1;
    s->params.tp_split = QTIP_TP_SPLIT_AUTO;
    const size_t esz = l->code_is_i32 ? 4 : 2;
    const int input = l->params.tp_split == QTIP_TP_SPLIT_INPUT;
    s->m = input ? l->m : l->m / count;
    s->n = input ? l->n / count : l->n;
    s->code_cols = input ? l->code_cols / count : l->code_cols;
    for (int64_t i = 0; i < s->m; i++) {
        const char *src = (const char *)l->codes + ((size_t)(input ? i : r * s->m + i) * (size_t)l->code_cols +
                                                    (size_t)(input ? r * s->code_cols : 0)) * esz;
        memcpy((char *)codes + (size_t)(i * s->code_cols) * esz, src, (size_t)s->code_cols * esz);
    }
    s->codes = codes;
    s->SU = input ? l->SU + r * s->n : l->SU;
    s->SV = input ? l->SV : l->SV + r * s->m;
}

/* The artifact's W_hat against its shards decoded alone, placed side by side. */
static void check_shards(const qtip_layer_artifact *a, const char *what)
{
    qtip_layer_info l;
    qtip_layer_artifact_info(a, &l);
    const int count = l.params.tp_size, input = l.params.tp_split == QTIP_TP_SPLIT_INPUT;
    float *W = malloc(sizeof(float) * (size_t)(l.m * l.n)), *S = malloc(sizeof(float) * (size_t)(l.m * l.n));
    void *codes = malloc((size_t)(l.m * l.code_cols) * 4);
    CHECK_OK(qtip_layer_artifact_decode(a, W));
    double err = 0, big = 0;
    for (int r = 0; r < count; r++) {
        qtip_layer_info s;
        shard_of(&l, r, count, &s, codes);
        qtip_layer_artifact *b = NULL;
        CHECK_OK(qtip_layer_artifact_from_info(&s, &b));
        if (!b) continue;
        CHECK_OK(qtip_layer_artifact_decode(b, S));
        for (int64_t i = 0; i < s.m; i++)
            for (int64_t j = 0; j < s.n; j++) {
                int64_t gi = input ? i : r * s.m + i, gj = input ? r * s.n + j : j;
                double w = W[gi * l.n + gj];
                err = fmax(err, fabs(w - S[i * s.n + j]));
                big = fmax(big, fabs(w));
            }
        qtip_layer_artifact_free(b);
    }
    CHECK(err <= 1e-6 * big, "%s: shards decoded alone differ from the layer by %g (max |w| %g)", what,
          err, big);
    free(W); free(S); free(codes);
}

TEST(shards_decode_to_the_layer)
{
    test_rng rng = test_rng_seeded(31);
    const int64_t m = 64, n = 128;
    float *W = random_weight(&rng, m, n);
    const qtip_quant_method methods[2] = {QTIP_METHOD_TRELLIS, QTIP_METHOD_E8P};
    const char *names[2] = {"model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.up_proj.weight"};
    for (int mi = 0; mi < 2; mi++)
        for (int tp = 2; tp <= 4; tp *= 2)
            for (int side = 0; side < 2; side++) {
                qtip_quant_params p = qtip_quant_default_params(methods[mi]);
                if (methods[mi] == QTIP_METHOD_TRELLIS) {
                    p.trellis.code = QTIP_CODE_1MAD, p.trellis.L = 12, p.trellis.V = 1, p.trellis.Q = 0;
                }
                p.refine_passes = 0;
                p.tp_size = tp; /* split AUTO: from the name */
                qtip_quantizer *q = NULL;
                qtip_layer_artifact *a = NULL;
                CHECK_OK(qtip_quantizer_create(&p, &q));
                CHECK_OK(qtip_quantize_layer(q, W, m, n, NULL, names[side], &a));
                char what[160];
                snprintf(what, sizeof what, "%s tp %d %s", qtip_quant_method_name(methods[mi]), tp, names[side]);
                if (a) {
                    qtip_layer_info l;
                    qtip_layer_artifact_info(a, &l);
                    CHECK(l.params.tp_split == (side ? QTIP_TP_SPLIT_OUTPUT : QTIP_TP_SPLIT_INPUT),
                          "%s: split %d", what, l.params.tp_split);
                    CHECK(l.proxy_loss > 0 && l.proxy_loss < 0.3, "%s: proxy loss %g", what, l.proxy_loss);
                    check_shards(a, what);
                }
                qtip_layer_artifact_free(a);
                qtip_quantizer_free(q);
            }
    free(W);
}

TEST(artifact_file_keeps_the_degree)
{
    test_rng rng = test_rng_seeded(32);
    float *W = random_weight(&rng, 64, 128);
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_E8P);
    p.refine_passes = 0;
    p.tp_size = 4;
    p.tp_split = QTIP_TP_SPLIT_OUTPUT;
    qtip_quantizer *q = NULL;
    qtip_layer_artifact *a = NULL, *b = NULL;
    CHECK_OK(qtip_quantizer_create(&p, &q));
    CHECK_OK(qtip_quantize_layer(q, W, 64, 128, NULL, "custom.proj", &a));
    char path[700];
    snprintf(path, sizeof path, "%s/tp.safetensors", test_tmpdir());
    if (a) CHECK_OK(qtip_layer_artifact_save(a, path));
    CHECK_OK(qtip_layer_artifact_load(path, &b));
    if (b) {
        qtip_layer_info l;
        qtip_layer_artifact_info(b, &l);
        CHECK(l.params.tp_size == 4 && l.params.tp_split == QTIP_TP_SPLIT_OUTPUT, "loaded tp %d split %d",
              l.params.tp_size, l.params.tp_split);
        qtip_st_file *f = NULL;
        CHECK_OK(qtip_st_open(path, &f));
        CHECK(f && !strcmp(qtip_st_metadata(f, "format_version"), "2"), "format version");
        qtip_st_close(f);
        /* the library matvec applies whole-layer transforms: refused, naming why */
        qtip_matvec *mv = NULL;
        CHECK_STATUS(qtip_matvec_create(&l, &mv), QTIP_E_UNSUPPORTED);
        CHECK(strstr(qtip_last_error(), "per-shard") && strstr(qtip_last_error(), "custom.proj"), "message: %s",
              qtip_last_error());
    }
    qtip_layer_artifact_free(a);
    qtip_layer_artifact_free(b);
    qtip_quantizer_free(q);
    free(W);
}

TEST(names_and_refusals)
{
    CHECK(qtip_tp_split_for_name("model.layers.3.mlp.down_proj.weight") == QTIP_TP_SPLIT_INPUT, "down_proj");
    CHECK(qtip_tp_split_for_name("model.layers.3.self_attn.o_proj") == QTIP_TP_SPLIT_INPUT, "o_proj");
    CHECK(qtip_tp_split_for_name("model.layers.3.self_attn.k_proj.weight") == QTIP_TP_SPLIT_OUTPUT, "k_proj");
    CHECK(qtip_tp_split_for_name("model.layers.3.mlp.gate_proj") == QTIP_TP_SPLIT_OUTPUT, "gate_proj");
    CHECK(qtip_tp_split_for_name("model.layers.3.mlp.not_o_proj") == QTIP_TP_SPLIT_AUTO, "a longer leaf");
    CHECK(qtip_tp_split_for_name("lm_head.weight") == QTIP_TP_SPLIT_AUTO, "lm_head");
    CHECK(qtip_tp_split_from_name("row") == QTIP_TP_SPLIT_INPUT && qtip_tp_split_from_name("x") == -1, "names");
    test_rng rng = test_rng_seeded(33);
    float *W = random_weight(&rng, 48, 64);
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_E8P);
    p.refine_passes = 0;
    p.tp_size = 5; /* 48 out-features do not split in 5 */
    qtip_quantizer *q = NULL;
    qtip_layer_artifact *a = NULL;
    CHECK_OK(qtip_quantizer_create(&p, &q));
    CHECK_STATUS(qtip_quantize_layer(q, W, 48, 64, NULL, "m.q_proj.weight", &a), QTIP_E_SHAPE);
    CHECK(strstr(qtip_last_error(), "m.q_proj.weight") && strstr(qtip_last_error(), "out-features 48"),
          "message: %s", qtip_last_error());
    CHECK_STATUS(qtip_quantize_layer(q, W, 48, 64, NULL, "m.unknown.weight", &a), QTIP_E_PARAM);
    CHECK(a == NULL, "an artifact despite the refusals");
    qtip_quantizer_free(q);
    free(W);
}

int main(void)
{
    RUN(shards_decode_to_the_layer);
    RUN(artifact_file_keeps_the_degree);
    RUN(names_and_refusals);
    return check_summary();
}
