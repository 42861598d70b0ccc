/*
 * test_verify.c — the round trip with the REAL quantizer: a small
 * real-shaped HF model built here (config.json + safetensors; dims with Hadamard
 * factors 12, 20, 28 and 172), Hessians of correlated activations accumulated with
 * qtip_hessian, qtip_quantize_layer -> artifact save/load -> qtip_pack_model ->
 * qtip_verify_model. Expectations come from the quantizer itself: every layer's
 * dequantized weights must equal qtip_layer_artifact_decode of the artifact (the
 * quantizer's reconstruction) bit for bit, and verify's proxy loss must equal the
 * one the quantizer recorded to 1e-6 relative. Also: the recorded weights checksum
 * is resolved against the original (single file and sharded), and --dequantize
 * output is sharded above max_shard_size.
 */
#include "check.h"

#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NL 5
static const char *const names[NL] = {
    "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.o_proj",
    "model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj", "model.layers.1.mlp.gate_proj"};
/* out x in: factors 12 (192), 20 (320), 172 (2752), 28 (448) */
static const int64_t dims[NL][2] = {{192, 192}, {320, 192}, {2752, 192}, {192, 448}, {448, 320}};
/* the last layer is E8P12 (mixed precision), the others 1MAD L=8 K=2 */
static const int is_e8p[NL] = {0, 0, 0, 0, 1};

static float *Wt[NL], *What[NL];
static double proxy[NL];
static char model[512], model_sh[512], hdir[512], art[NL][600];

static void write_text(const char *path, const char *text)
{
    CHECK_OK(qtip_write_file_atomic(path, text, strlen(text), 0));
}

static qtip_quant_params params_for(int l)
{
    qtip_quant_params p;
    if (is_e8p[l]) {
        p = qtip_quant_default_params(QTIP_METHOD_E8P);
        p.e8p = QTIP_E8P12;
        p.refine_passes = 1;
    } else {
        p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
        qtip_trellis_params tp = {8, 2, 1, 0, QTIP_CODE_1MAD, 16, 16};
        p.trellis = tp;
    }
    p.seed = 11;
    return p;
}

/* Model directory (single file), the same weights sharded (one tensor per shard),
 * Hessians, and one artifact per layer quantized with the real quantizer. */
static float bias0[192]; /* bias of layer 0 (m = 192) */

static void build(void)
{
    test_rng r = test_rng_seeded(5201);
    snprintf(model, sizeof model, "%s/orig", test_tmpdir());
    snprintf(model_sh, sizeof model_sh, "%s/orig_sharded", test_tmpdir());
    snprintf(hdir, sizeof hdir, "%s/hess", test_tmpdir());
    mkdir(model, 0755);
    mkdir(model_sh, 0755);
    mkdir(hdir, 0755);
    char p[1024];
    const char *cfg = "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 192, "
                      "\"torch_dtype\": \"float32\", \"model_type\": \"llama\"}\n";
    snprintf(p, sizeof p, "%s/config.json", model);
    write_text(p, cfg);
    snprintf(p, sizeof p, "%s/config.json", model_sh);
    write_text(p, cfg);
    snprintf(p, sizeof p, "%s/tokenizer.json", model);
    write_text(p, "{\"version\": \"1.0\"}\n");
    qtip_st_writer *w;
    CHECK_OK(qtip_st_writer_create(&w));
    static float norm[192];
    for (int i = 0; i < 192; i++) norm[i] = 1.0f + 0.01f * (float)i;
    int64_t ns = 192;
    json_t *wmap = json_object();
    for (int l = 0; l < NL; l++) {
        int64_t m = dims[l][0], n = dims[l][1];
        Wt[l] = malloc((size_t)(m * n) * 4);
        for (int64_t i = 0; i < m * n; i++) Wt[l][i] = (float)test_rng_normal(&r) * 0.02f;
        char wn[256], shard[64];
        snprintf(wn, sizeof wn, "%s.weight", names[l]);
        int64_t sh[2] = {m, n};
        CHECK_OK(qtip_st_writer_add_ref(w, wn, QTIP_DT_F32, 2, sh, Wt[l]));
        qtip_st_writer *ws;
        CHECK_OK(qtip_st_writer_create(&ws));
        CHECK_OK(qtip_st_writer_add_ref(ws, wn, QTIP_DT_F32, 2, sh, Wt[l]));
        snprintf(shard, sizeof shard, "model-%05d-of-%05d.safetensors", l + 1, NL + 1);
        snprintf(p, sizeof p, "%s/%s", model_sh, shard);
        CHECK_OK(qtip_st_writer_write(ws, p, 0));
        qtip_st_writer_free(ws);
        json_object_set_new(wmap, wn, json_string(shard));
        /* correlated activations: AR(1) along the features */
        size_t rows = (size_t)n + 64;
        float *x = malloc(rows * (size_t)n * 4);
        for (size_t i = 0; i < rows; i++) {
            double z = 0;
            for (int64_t j = 0; j < n; j++) {
                z = 0.8 * z + test_rng_normal(&r);
                x[i * (size_t)n + (size_t)j] = (float)z;
            }
        }
        qtip_hessian *h;
        CHECK_OK(qtip_hessian_create(n, names[l], &h));
        CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, x, rows));
        free(x);
        snprintf(p, sizeof p, "%s/%s.safetensors", hdir, names[l]);
        CHECK_OK(qtip_hessian_save(h, p));
        char hck[QTIP_CHECKSUM_STRLEN];
        CHECK_OK(qtip_checksum_file(p, hck));
        double *H = malloc((size_t)(n * n) * 8);
        CHECK_OK(qtip_hessian_expectation(h, H, NULL));
        qtip_hessian_free(h);
        qtip_quant_params qp = params_for(l);
        qtip_quantizer *q = NULL;
        CHECK_OK(qtip_quantizer_create(&qp, &q));
        qtip_layer_artifact *a = NULL;
        CHECK_OK(qtip_quantize_layer(q, Wt[l], m, n, H, wn, &a));
        free(H);
        qtip_quantizer_free(q);
        if (!a) continue;
        What[l] = malloc((size_t)(m * n) * 4);
        CHECK_OK(qtip_layer_artifact_decode(a, What[l]));
        qtip_layer_info info;
        qtip_layer_artifact_info(a, &info);
        proxy[l] = info.proxy_loss;
        snprintf(art[l], sizeof art[l], "%s/art%d.safetensors", test_tmpdir(), l);
        /* the weights checksum is set once the model files exist (set_weight_checksums) */
        CHECK_OK(qtip_layer_artifact_set_source(a, NULL, hck));
        CHECK_OK(qtip_layer_artifact_save(a, art[l]));
        qtip_layer_artifact_free(a);
        fprintf(stderr, "  quantized %-34s [%4lld x %3lld] %s proxy %.6f\n", names[l], (long long)m,
                (long long)n, is_e8p[l] ? "E8P12" : "1MAD L8 K2", proxy[l]);
    }
    CHECK_OK(qtip_st_writer_add(w, "model.norm.weight", QTIP_DT_F32, 1, &ns, norm));
    /* a quantized linear's bias: kept beside its packed tensors and in a dequantized model */
    char bn[256];
    snprintf(bn, sizeof bn, "%s.bias", names[0]);
    int64_t bs = dims[0][0];
    for (int i = 0; i < 192; i++) bias0[i] = 0.5f - 0.003f * (float)i;
    CHECK_OK(qtip_st_writer_add(w, bn, QTIP_DT_F32, 1, &bs, bias0));
    snprintf(p, sizeof p, "%s/model.safetensors", model);
    CHECK_OK(qtip_st_writer_write(w, p, 0));
    qtip_st_writer_free(w);
    /* last shard: the norm; then the index */
    qtip_st_writer *ws;
    CHECK_OK(qtip_st_writer_create(&ws));
    CHECK_OK(qtip_st_writer_add(ws, "model.norm.weight", QTIP_DT_F32, 1, &ns, norm));
    CHECK_OK(qtip_st_writer_add(ws, bn, QTIP_DT_F32, 1, &bs, bias0));
    snprintf(p, sizeof p, "%s/model-%05d-of-%05d.safetensors", model_sh, NL + 1, NL + 1);
    CHECK_OK(qtip_st_writer_write(ws, p, 0));
    qtip_st_writer_free(ws);
    char shard[64];
    snprintf(shard, sizeof shard, "model-%05d-of-%05d.safetensors", NL + 1, NL + 1);
    json_object_set_new(wmap, "model.norm.weight", json_string(shard));
    json_object_set_new(wmap, bn, json_string(shard));
    json_t *idx = json_pack("{s:{s:i},s:o}", "metadata", "total_size", 0, "weight_map", wmap);
    char *txt = json_dumps(idx, JSON_INDENT(2));
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", model_sh);
    write_text(p, txt);
    free(txt);
    json_decref(idx);
}

/* Set the weights checksum of every artifact to `which`: 0 the single file,
 * 1 the shard holding the tensor, 2 a wrong value. */
static void set_weight_checksums(int which)
{
    char p[1024], ck[QTIP_CHECKSUM_STRLEN];
    for (int l = 0; l < NL; l++) {
        if (which == 0) snprintf(p, sizeof p, "%s/model.safetensors", model);
        else snprintf(p, sizeof p, "%s/model-%05d-of-%05d.safetensors", model_sh, l + 1, NL + 1);
        CHECK_OK(qtip_checksum_file(p, ck));
        if (which == 2) ck[12] = ck[12] == '0' ? '1' : '0';
        qtip_layer_artifact *a = NULL;
        CHECK_OK(qtip_layer_artifact_load(art[l], &a));
        if (!a) continue;
        CHECK_OK(qtip_layer_artifact_set_source(a, ck, NULL));
        qtip_io_forget_inputs(); /* an in-place update of the artifact just read */
        CHECK_OK(qtip_layer_artifact_save(a, art[l]));
        qtip_layer_artifact_free(a);
    }
}

/* Load the artifacts from disk and pack them. */
static qtip_status pack(const char *src, const char *name, qtip_export_format fmt, uint64_t shard,
                        char *out, size_t cap)
{
    qtip_layer_artifact *a[NL] = {0};
    qtip_layer_info pl[NL];
    qtip_status s = QTIP_OK;
    for (int l = 0; l < NL && !s; l++) {
        s = qtip_layer_artifact_load(art[l], &a[l]);
        if (!s) qtip_layer_artifact_info(a[l], &pl[l]);
    }
    qtip_model_dir *md = NULL;
    if (!s) s = qtip_model_dir_open(src, 0, &md);
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    o.format = fmt;
    o.max_shard_size = shard;
    o.allow_mixed = 1;
    snprintf(out, cap, "%s/%s", test_tmpdir(), name);
    if (!s) s = qtip_pack_model(md, pl, NL, &o, out);
    qtip_model_dir_close(md);
    for (int l = 0; l < NL; l++) qtip_layer_artifact_free(a[l]);
    return s;
}

static void check_dequantized(const char *deq, int expect_sharded)
{
    char p[800];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", deq);
    CHECK((access(p, R_OK) == 0) == expect_sharded, "dequantized model %s sharded",
          expect_sharded ? "should be" : "should not be");
    qtip_st_file *st = NULL;
    CHECK_OK(qtip_st_open(deq, &st));
    if (!st) return;
    for (int l = 0; l < NL; l++) {
        char wn[256];
        snprintf(wn, sizeof wn, "%s.weight", names[l]);
        const qtip_tensor_view *v = qtip_st_find(st, wn);
        size_t bytes = (size_t)(dims[l][0] * dims[l][1] * 4);
        CHECK(v && What[l] && v->dtype == QTIP_DT_F32 && v->nbytes == bytes &&
                  memcmp(v->data, What[l], bytes) == 0,
              "%s: dequantized weights differ from the quantizer's reconstruction", wn);
    }
    CHECK(qtip_st_find(st, "model.norm.weight") != NULL, "norm copied to the dequantized model");
    char bn[256];
    snprintf(bn, sizeof bn, "%s.bias", names[0]);
    const qtip_tensor_view *b = qtip_st_find(st, bn);
    CHECK(b && b->nbytes == sizeof bias0 && memcmp(b->data, bias0, sizeof bias0) == 0,
          "'%s' of a quantized layer copied unchanged to the dequantized model", bn);
    qtip_st_close(st);
}

static void run_verify(const char *dir, const char *orig, const char *deq, uint64_t deq_shard)
{
    qtip_verify_options vo;
    qtip_verify_options_default(&vo);
    vo.original_dir = orig;
    vo.hessian_dir = hdir;
    vo.dequantize_dir = deq;
    vo.dequantize_dtype = QTIP_DT_F32;
    vo.dequantize_max_shard_size = deq_shard;
    qtip_verify_report *rep = NULL;
    CHECK_OK(qtip_verify_model(dir, &vo, &rep));
    if (!rep) return;
    const char *msg;
    CHECK(qtip_verify_report_failures(rep, &msg) == 0, "failures: %s", msg);
    CHECK(qtip_verify_report_count(rep) == NL, "%zu layers", qtip_verify_report_count(rep));
    for (size_t i = 0; i < qtip_verify_report_count(rep); i++) {
        const qtip_verify_layer *v = qtip_verify_report_layer(rep, i);
        int l = -1;
        for (int k = 0; k < NL; k++)
            if (strcmp(names[k], v->name) == 0) l = k;
        CHECK(l >= 0, "unexpected layer '%s'", v->name);
        if (l < 0) continue;
        CHECK(v->proxy_matches, "%s: proxy %.12g vs recorded %.12g", v->name, v->proxy_loss,
              v->recorded_proxy_loss);
        CHECK(fabs(v->proxy_loss - proxy[l]) <= 1e-6 * proxy[l],
              "%s: verify's proxy %.12g differs from the quantizer's %.12g", v->name, v->proxy_loss,
              proxy[l]);
        CHECK(v->recorded_proxy_loss == proxy[l], "%s: recorded %.17g, quantizer %.17g", v->name,
              v->recorded_proxy_loss, proxy[l]);
        CHECK(v->forward_max_error < 1e-5, "%s: forward error %g", v->name, v->forward_max_error);
        CHECK(v->weights_checksum_ok == 1, "%s: weights checksum not confirmed (%d)", v->name,
              v->weights_checksum_ok);
        fprintf(stderr, "  verified  %-34s rel %.4f proxy %.6f (quantizer %.6f) fwd %.2e\n", v->name,
                v->rel_error, v->proxy_loss, proxy[l], v->forward_max_error);
    }
    qtip_verify_report_free(rep);
    if (deq) check_dequantized(deq, deq_shard > 0);
}

TEST(real_quantizer_roundtrip)
{
    char out[600], deq[700];
    set_weight_checksums(0);
    CHECK_OK(pack(model, "packed", QTIP_EXPORT_CANONICAL, 0, out, sizeof out));
    snprintf(deq, sizeof deq, "%s.deq", out);
    run_verify(out, model, deq, 0);
}

TEST(sharded_original_and_outputs)
{
    /* quantized from the shards: the checksum names the shard holding the tensor */
    char out[600], deq[700];
    set_weight_checksums(1);
    CHECK_OK(pack(model_sh, "packed_sh", QTIP_EXPORT_CANONICAL, 100000, out, sizeof out));
    char p[800];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", out);
    CHECK(access(p, R_OK) == 0, "packed output sharded");
    snprintf(deq, sizeof deq, "%s.deq", out);
    run_verify(out, model_sh, deq, 1000000);
}

TEST(wrong_weights_checksum_is_a_mismatch)
{
    char out[600];
    set_weight_checksums(2);
    CHECK_OK(pack(model, "packed_badck", QTIP_EXPORT_CANONICAL, 0, out, sizeof out));
    qtip_verify_options vo;
    qtip_verify_options_default(&vo);
    vo.original_dir = model;
    qtip_verify_report *rep = NULL;
    CHECK_STATUS(qtip_verify_model(out, &vo, &rep), QTIP_E_MISMATCH);
    CHECK(strstr(qtip_last_error(), "checksum") && strstr(qtip_last_error(), "model.layers.0"),
          "message: %s", qtip_last_error());
    fprintf(stderr, "  wrong checksum -> %s\n", qtip_last_error());
    qtip_verify_report_free(rep);
    /* without --original nothing can be resolved: not checked, not failed */
    vo.original_dir = NULL;
    CHECK_OK(qtip_verify_model(out, &vo, &rep));
    if (rep) CHECK(qtip_verify_report_layer(rep, 0)->weights_checksum_ok == -1, "unresolved checksum");
    qtip_verify_report_free(rep);
}

/* qtip_verify_artifact_dequantize writes the quantizer's own reconstruction
 * (qtip_layer_artifact_decode at quantization time), trellis and E8P alike. */
TEST(artifact_dequantize_is_the_reconstruction)
{
    for (int l = 0; l < NL; l++) {
        char out[700], wn[256];
        snprintf(out, sizeof out, "%s/w%d.safetensors", test_tmpdir(), l);
        CHECK_OK(qtip_verify_artifact_dequantize(art[l], out, QTIP_DT_F32));
        qtip_st_file *st = NULL;
        CHECK_OK(qtip_st_open(out, &st));
        if (!st) continue;
        snprintf(wn, sizeof wn, "%s.weight", names[l]);
        const qtip_tensor_view *v = qtip_st_find(st, wn);
        size_t bytes = (size_t)(dims[l][0] * dims[l][1]) * 4;
        CHECK(qtip_st_count(st) == 1 && v && v->dtype == QTIP_DT_F32 && v->ndim == 2 &&
                  v->shape[0] == dims[l][0] && v->shape[1] == dims[l][1] && v->nbytes == bytes &&
                  memcmp(v->data, What[l], bytes) == 0,
              "%s: --artifact output differs from the quantizer's reconstruction", wn);
        qtip_st_close(st);
    }
    char out[700];
    snprintf(out, sizeof out, "%s/w_i16.safetensors", test_tmpdir());
    CHECK_STATUS(qtip_verify_artifact_dequantize(art[0], out, QTIP_DT_I16), QTIP_E_PARAM);
}

/* An artifact rebuilt from its own description decodes to the same bytes; a
 * description whose arrays do not fit its parameters is refused. */
TEST(artifact_from_info)
{
    qtip_layer_artifact *a = NULL, *b = NULL;
    CHECK_OK(qtip_layer_artifact_load(art[1], &a));
    if (!a) return;
    qtip_layer_info in;
    qtip_layer_artifact_info(a, &in);
    CHECK_OK(qtip_layer_artifact_from_info(&in, &b));
    size_t mn = (size_t)(in.m * in.n);
    float *x = malloc(mn * 4), *y = malloc(mn * 4);
    CHECK_OK(qtip_layer_artifact_decode(a, x));
    if (b) CHECK_OK(qtip_layer_artifact_decode(b, y));
    CHECK(b && memcmp(x, y, mn * 4) == 0, "rebuilt artifact decodes differently");
    qtip_layer_artifact_free(b);
    b = NULL;
    qtip_layer_info bad = in;
    bad.code_cols = in.code_cols + 1;
    CHECK_STATUS(qtip_layer_artifact_from_info(&bad, &b), QTIP_E_SHAPE);
    bad = in;
    bad.params.trellis.code = QTIP_CODE_HYB; /* needs a table, none given */
    bad.params.trellis.V = 2;
    bad.params.trellis.Q = 9;
    bad.code_cols = in.n * bad.params.trellis.K / 16;
    qtip_status st = qtip_layer_artifact_from_info(&bad, &b);
    CHECK(st == QTIP_E_SHAPE && b == NULL && strstr(qtip_last_error(), "table"), "HYB without its table: %s",
          qtip_last_error());
    free(x);
    free(y);
    qtip_layer_artifact_free(a);
}

int main(void)
{
    build();
    RUN(real_quantizer_roundtrip);
    RUN(sharded_original_and_outputs);
    RUN(wrong_weights_checksum_is_a_mismatch);
    RUN(artifact_dequantize_is_the_reconstruction);
    RUN(artifact_from_info);
    for (int l = 0; l < NL; l++) {
        free(Wt[l]);
        free(What[l]);
    }
    return check_summary();
}
