/*
 * test_pack.c — qtip-pack and qtip-verify on a small real-shaped model built here
 * (HF directory with config.json + safetensors, Hadamard factors 12, 20, 28, 172):
 * pack, verify, dequantize; refusals of inconsistent inputs; corruption caught.
 *
 * Layers are made here from random codes (a valid trellis stream is any bit string),
 * so the expected reconstruction is computed in this file: 1MAD values from
 * qtip.md 1.3.1, placed row-major, times Wscale, inverse RHT.
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
static const int64_t dims[NL][2] = {{192, 192}, {320, 192}, {2752, 192}, {192, 448}, {448, 320}};

typedef struct {
    float *W, *SU, *SV, *What;
    uint16_t *codes;
    float wscale;
    double proxy;
    char hck[QTIP_CHECKSUM_STRLEN];
} layer_data;

static layer_data L[NL];
static qtip_layer_info P[NL];
static char model[512], hdir[512];

static float onemad(uint32_t s)
{
    uint32_t x = s * 34038481u + 76625530u;
    int y = (int)(x & 255) + (int)((x >> 8) & 255) + (int)((x >> 16) & 255) + (int)(x >> 24) - 510;
    return (float)y / 147.800537109375f;
}

/* canonical rule: tile (R,C) words at rows 16R.., columns C*K..; 16-bit windows */
static void expected_rotated(const uint16_t *codes, int64_t m, int64_t n, int K, float *Wr)
{
    int64_t rw = n * K / 16, total = 256 * K;
    for (int64_t R = 0; R < m / 16; R++)
        for (int64_t C = 0; C < n / 16; C++)
            for (int i = 0; i < 256; i++) {
                uint32_t s = 0;
                for (int k = 0; k < 16; k++) {
                    int64_t b = ((int64_t)i * K + k) % total, w = b / 16;
                    uint16_t word = codes[(16 * R + w / K) * rw + C * K + w % K];
                    s = (s << 1) | ((word >> (15 - b % 16)) & 1u);
                }
                Wr[(16 * R + i / 16) * n + 16 * C + i % 16] = onemad(s);
            }
}

static void write_text(const char *path, const char *text)
{
    CHECK_OK(qtip_write_file_atomic(path, text, strlen(text), 0));
}

static void build_model(void)
{
    test_rng r = test_rng_seeded(5101);
    snprintf(model, sizeof model, "%s/orig", test_tmpdir());
    snprintf(hdir, sizeof hdir, "%s/hess", test_tmpdir());
    mkdir(model, 0755);
    mkdir(hdir, 0755);
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", model);
    write_text(p, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 192, "
                  "\"torch_dtype\": \"float32\", \"model_type\": \"llama\"}\n");
    snprintf(p, sizeof p, "%s/tokenizer.json", model);
    write_text(p, "{\"version\": \"1.0\"}\n");
    qtip_st_writer *w;
    CHECK_OK(qtip_st_writer_create(&w));
    static uint16_t emb[64 * 192];
    static float norm[192];
    for (int i = 0; i < 64 * 192; i++) emb[i] = qtip_f32_to_f16((float)test_rng_normal(&r));
    for (int i = 0; i < 192; i++) norm[i] = 1.0f + 0.01f * (float)i;
    int64_t es[2] = {64, 192}, ns = 192;
    CHECK_OK(qtip_st_writer_add(w, "model.embed_tokens.weight", QTIP_DT_F16, 2, es, emb));
    qtip_trellis_params tp = {16, 2, 1, 0, QTIP_CODE_1MAD, 16, 16};
    for (int l = 0; l < NL; l++) {
        int64_t m = dims[l][0], n = dims[l][1];
        layer_data *d = &L[l];
        d->W = malloc(m * n * 4);
        d->What = malloc(m * n * 4);
        d->SU = malloc(n * 4);
        d->SV = malloc(m * 4);
        d->codes = malloc(m * n * 2 / 8);
        for (int64_t i = 0; i < m * n; i++) d->W[i] = (float)test_rng_normal(&r) * 0.02f;
        for (int64_t i = 0; i < m * n / 8; i++) d->codes[i] = (uint16_t)test_rng_next(&r);
        qtip_rht_signs(7, names[l], "SU", n, d->SU);
        qtip_rht_signs(7, names[l], "SV", m, d->SV);
        d->wscale = 0.0123f + 0.001f * (float)l;
        expected_rotated(d->codes, m, n, 2, d->What);
        for (int64_t i = 0; i < m * n; i++) d->What[i] *= d->wscale;
        CHECK_OK(qtip_rht_weight_inverse(d->What, m, n, d->SU, d->SV));
        char wn[256];
        snprintf(wn, sizeof wn, "%s.weight", names[l]);
        int64_t sh[2] = {m, n};
        CHECK_OK(qtip_st_writer_add(w, wn, QTIP_DT_F32, 2, sh, d->W));
        /* Hessian of the layer's inputs, and the proxy loss "recorded at quantization" */
        qtip_hessian *h;
        CHECK_OK(qtip_hessian_create(n, names[l], &h));
        float *x = malloc((n + 16) * n * 4);
        for (int64_t i = 0; i < (n + 16) * n; i++) x[i] = (float)test_rng_normal(&r);
        CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, x, (size_t)(n + 16)));
        snprintf(p, sizeof p, "%s/%s.safetensors", hdir, names[l]);
        CHECK_OK(qtip_hessian_save(h, p));
        CHECK_OK(qtip_checksum_file(p, d->hck));
        double *H = malloc(n * n * 8), e = 0, ref = 0;
        CHECK_OK(qtip_hessian_expectation(h, H, NULL));
        CHECK_OK(qtip_quant_proxy_terms(d->W, d->What, m, n, H, &e, &ref));
        d->proxy = e / ref;
        free(H);
        free(x);
        qtip_hessian_free(h);
        qtip_layer_info *pl = &P[l];
        memset(pl, 0, sizeof *pl);
        pl->tensor = names[l];
        pl->m = m;
        pl->n = n;
        pl->params = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
        pl->params.trellis = tp;
        pl->params.seed = 7;
        pl->codes = d->codes;
        pl->code_cols = n * 2 / 16;
        pl->SU = d->SU;
        pl->SV = d->SV;
        pl->wscale = d->wscale;
        pl->proxy_loss = d->proxy;
        pl->hessian_checksum = d->hck;
    }
    CHECK_OK(qtip_st_writer_add(w, "model.norm.weight", QTIP_DT_F32, 1, &ns, norm));
    snprintf(p, sizeof p, "%s/model.safetensors", model);
    CHECK_OK(qtip_st_writer_write(w, p, 0));
    qtip_st_writer_free(w);
}

/* Copy a directory so each corruption starts clean. */
static void copy_dir(const char *from, const char *to)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", from, to);
    CHECK(system(cmd) == 0, "%s", cmd);
}

static qtip_status pack_to(const char *name, uint64_t shard, qtip_layer_info *layers, size_t n,
                           int mixed, char *out, size_t cap)
{
    qtip_model_dir *md = NULL;
    qtip_status s = qtip_model_dir_open(model, 0, &md);
    if (s) return s;
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    o.max_shard_size = shard;
    o.allow_mixed = mixed;
    snprintf(out, cap, "%s/%s", test_tmpdir(), name);
    s = qtip_pack_model(md, layers, n, &o, out);
    qtip_model_dir_close(md);
    return s;
}

TEST(model_dir_lists_linears)
{
    qtip_model_dir *md;
    CHECK_OK(qtip_model_dir_open(model, 0, &md));
    if (!md) return;
    CHECK(qtip_model_dir_linear_count(md) == NL, "found %zu linears, expected %d",
          qtip_model_dir_linear_count(md), NL);
    CHECK(qtip_model_dir_extra_count(md) == 1 && strcmp(qtip_model_dir_extra(md, 0), "tokenizer.json") == 0,
          "extra files: %zu", qtip_model_dir_extra_count(md));
    qtip_model_dir_close(md);
    CHECK(qtip_is_quantizable_linear("bert.encoder.layer.0.attention.self.query"), "BERT query");
    CHECK(qtip_is_quantizable_linear("bert.encoder.layer.0.output.dense"), "BERT output.dense");
    CHECK(!qtip_is_quantizable_linear("bert.pooler.dense"), "pooler is not quantized");
    CHECK(!qtip_is_quantizable_linear("lm_head"), "lm_head is not quantized");
}

static void check_roundtrip(const char *dir)
{
    qtip_verify_options vo;
    qtip_verify_options_default(&vo);
    vo.original_dir = model;
    vo.hessian_dir = hdir;
    char deq[600];
    snprintf(deq, sizeof deq, "%s.deq", dir);
    vo.dequantize_dir = deq;
    vo.dequantize_dtype = QTIP_DT_F32;
    qtip_verify_report *rep = NULL;
    CHECK_OK(qtip_verify_model(dir, &vo, &rep));
    if (!rep) return;
    const char *msg;
    CHECK(qtip_verify_report_failures(rep, &msg) == 0, "failures: %s", msg);
    CHECK(qtip_verify_report_count(rep) == NL, "%zu layers", qtip_verify_report_count(rep));
    for (size_t i = 0; i < qtip_verify_report_count(rep); i++) {
        const qtip_verify_layer *v = qtip_verify_report_layer(rep, i);
        CHECK(v->proxy_matches, "%s: proxy %.12g vs recorded %.12g", v->name, v->proxy_loss,
              v->recorded_proxy_loss);
        CHECK(fabs(v->proxy_loss - v->recorded_proxy_loss) <= 1e-6 * v->recorded_proxy_loss,
              "%s: proxy differs", v->name);
        CHECK(v->forward_max_error < 1e-5, "%s: forward error %g", v->name, v->forward_max_error);
        CHECK(isfinite(v->rel_error) && v->rel_error > 0, "%s: rel error %g", v->name, v->rel_error);
        fprintf(stderr, "  %-34s [%5lld x %4lld] rel %.4f proxy %.6f fwd %.2e\n", v->name,
                (long long)v->m, (long long)v->n, v->rel_error, v->proxy_loss, v->forward_max_error);
    }
    qtip_verify_report_free(rep);
    /* the dequantized model holds exactly the expected reconstruction */
    qtip_st_file *st = NULL;
    CHECK_OK(qtip_st_open(deq, &st));
    if (!st) return;
    for (int l = 0; l < NL; l++) {
        char wn[256];
        snprintf(wn, sizeof wn, "%s.weight", names[l]);
        const qtip_tensor_view *v = qtip_st_find(st, wn);
        CHECK(v && v->dtype == QTIP_DT_F32 && v->nbytes == (size_t)(dims[l][0] * dims[l][1] * 4) &&
                  memcmp(v->data, L[l].What, v->nbytes) == 0,
              "%s: dequantized weights differ from the reconstruction", wn);
    }
    CHECK(qtip_st_find(st, "model.norm.weight") != NULL, "norm copied");
    qtip_st_close(st);
    char p[700];
    snprintf(p, sizeof p, "%s/tokenizer.json", deq);
    CHECK(access(p, R_OK) == 0, "tokenizer copied to the dequantized model");
}

TEST(pack_verify_roundtrip)
{
    char out[600];
    CHECK_OK(pack_to("packed", 0, P, NL, 0, out, sizeof out));
    char p[700];
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    CHECK(access(p, R_OK) == 0, "tokenizer copied");
    snprintf(p, sizeof p, "%s/model.safetensors", out);
    CHECK(access(p, R_OK) == 0, "single file when unsharded");
    check_roundtrip(out);
    /* the output exists now: a second pack refuses to overwrite it */
    CHECK_STATUS(pack_to("packed", 0, P, NL, 0, out, sizeof out), QTIP_E_IO);
}

TEST(pack_sharded)
{
    char out[600], p[700];
    CHECK_OK(pack_to("sharded", 200000, P, NL, 0, out, sizeof out));
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", out);
    CHECK(access(p, R_OK) == 0, "index written");
    snprintf(p, sizeof p, "%s/model.safetensors", out);
    CHECK(access(p, R_OK) != 0, "no single file when sharded");
    snprintf(p, sizeof p, "%s/model-00002-of-", out);
    char cmd[900];
    snprintf(cmd, sizeof cmd, "ls '%s'* >/dev/null 2>&1", p);
    CHECK(system(cmd) == 0, "at least two shards expected");
    check_roundtrip(out);
}

TEST(pack_refuses_inconsistent_inputs)
{
    char out[600];
    qtip_layer_info two[NL];
    memcpy(two, P, sizeof two);
    CHECK_STATUS(pack_to("bad1", 0, P, NL - 1, 0, out, sizeof out), QTIP_E_NOT_FOUND);
    CHECK(strstr(qtip_last_error(), "model.layers.1.mlp.gate_proj") != NULL, "message: %s", qtip_last_error());
    two[4] = P[0];
    CHECK_STATUS(pack_to("bad2", 0, two, NL, 0, out, sizeof out), QTIP_E_PARAM);
    CHECK(strstr(qtip_last_error(), "two artifacts") != NULL, "message: %s", qtip_last_error());
    memcpy(two, P, sizeof two);
    two[1].m = 336;
    CHECK_STATUS(pack_to("bad3", 0, two, NL, 0, out, sizeof out), QTIP_E_SHAPE);
    memcpy(two, P, sizeof two);
    two[2].params.trellis.K = 3;
    CHECK_STATUS(pack_to("bad4", 0, two, NL, 0, out, sizeof out), QTIP_E_PARAM);
    CHECK(strstr(qtip_last_error(), "different settings") != NULL, "message: %s", qtip_last_error());
    struct stat sb;
    CHECK(stat(out, &sb) != 0, "a refused pack leaves no directory");
}


static qtip_status verify_dir(const char *dir, size_t *failures, const char **msgcopy)
{
    qtip_verify_options vo;
    qtip_verify_options_default(&vo);
    vo.original_dir = model;
    vo.hessian_dir = hdir;
    qtip_verify_report *rep = NULL;
    qtip_status s = qtip_verify_model(dir, &vo, &rep);
    static char buf[1024];
    *failures = 0;
    if (rep) {
        const char *m;
        *failures = qtip_verify_report_failures(rep, &m);
        snprintf(buf, sizeof buf, "%s", m);
        *msgcopy = buf;
    }
    qtip_verify_report_free(rep);
    return s;
}

/* File offset of a tensor's data, from the safetensors header (format rules). */
static long tensor_offset(const char *path, const char *name)
{
    void *buf;
    size_t len;
    CHECK_OK(qtip_read_file(path, &buf, &len));
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | ((unsigned char *)buf)[i];
    json_t *h = json_loadb((char *)buf + 8, (size_t)hl, 0, NULL);
    json_t *off = json_object_get(json_object_get(h, name), "data_offsets");
    long r = (long)(8 + hl + (uint64_t)json_integer_value(json_array_get(off, 0)));
    CHECK(off != NULL, "tensor '%s' in header", name);
    json_decref(h);
    free(buf);
    return r;
}

static void patch_file(const char *path, long off, int bit, long truncate_to)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    if (bit >= 0) {
        fseek(f, off, SEEK_SET);
        int c = fgetc(f);
        fseek(f, off, SEEK_SET);
        fputc(c ^ (1 << bit), f);
    }
    fclose(f);
    if (truncate_to >= 0) CHECK(truncate(path, truncate_to) == 0, "truncate");
}

/* Record the current checksum of `tensor` in quantize_config.json, as if the
 * packer had written the changed bytes: the checks behind the checksum then run. */
static void rechecksum(const char *dir, const char *tensor)
{
    char p[800], ck[QTIP_CHECKSUM_STRLEN];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    qtip_st_file *st = NULL;
    CHECK_OK(qtip_st_open(p, &st));
    const qtip_tensor_view *v = st ? qtip_st_find(st, tensor) : NULL;
    CHECK(v != NULL, "tensor '%s' in %s", tensor, p);
    if (v) qtip_checksum_buffer(v->data, v->nbytes, ck);
    qtip_st_close(st);
    if (!v) return;
    snprintf(p, sizeof p, "%s/quantize_config.json", dir);
    json_t *qc = json_load_file(p, 0, NULL);
    json_t *rec = json_object_get(qc, "tensor_checksums");
    CHECK(json_is_object(rec), "quantize_config.json records checksums");
    json_object_set_new(rec, tensor, json_string(ck));
    CHECK(json_dump_file(qc, p, JSON_INDENT(2)) == 0, "rewrite %s", p);
    json_decref(qc);
}

TEST(verify_catches_corruption)
{
    char base[600], d[700], p[800];
    size_t fails;
    const char *msg = "";
    snprintf(base, sizeof base, "%s/packed", test_tmpdir());
    /* 1. a flipped bit in a packed code tensor: its checksum differs from the one
     *    recorded at pack time (no original needed) ... */
    snprintf(d, sizeof d, "%s/c1", test_tmpdir());
    copy_dir(base, d);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    long off = tensor_offset(p, "model.layers.0.mlp.down_proj.qtip_codes") + 1000;
    patch_file(p, off, 3, -1);
    qtip_verify_report *rep = NULL;
    CHECK_STATUS(qtip_verify_model(d, NULL, &rep), QTIP_E_MISMATCH);
    CHECK(strstr(qtip_last_error(), "'model.layers.0.mlp.down_proj.qtip_codes': checksum mismatch") != NULL,
          "message: %s", qtip_last_error());
    fprintf(stderr, "  flipped bit -> %s\n", qtip_last_error());
    /*    ... and with the checksum rewritten, it decodes to other weights, and the
     *    proxy loss no longer equals the recorded one */
    rechecksum(d, "model.layers.0.mlp.down_proj.qtip_codes");
    CHECK_OK(verify_dir(d, &fails, &msg));
    CHECK(fails >= 1 && strstr(msg, "down_proj") && strstr(msg, "proxy loss"), "flipped bit: %zu failures: %s",
          fails, msg);
    fprintf(stderr, "  flipped bit, checksum rewritten -> %s\n", msg);
    /* 2. a truncated shard */
    snprintf(d, sizeof d, "%s/c2", test_tmpdir());
    copy_dir(base, d);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    struct stat sb;
    stat(p, &sb);
    patch_file(p, 0, -1, (long)sb.st_size - 100);
    CHECK_STATUS(verify_dir(d, &fails, &msg), QTIP_E_FORMAT);
    fprintf(stderr, "  truncated -> %s\n", qtip_last_error());
    /* 3. a missing tensor: drop SU of one layer by renaming it in the header */
    snprintf(d, sizeof d, "%s/c3", test_tmpdir());
    copy_dir(base, d);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    void *buf;
    size_t len;
    CHECK_OK(qtip_read_file(p, &buf, &len));
    char *hit = memmem(buf, len, "self_attn.o_proj.SU\"", 20);
    CHECK(hit != NULL, "SU name in header");
    if (hit) hit[17] = 'X';
    qtip_io_forget_inputs(); /* rewriting a file read above, on purpose */
    CHECK_OK(qtip_write_file_atomic(p, buf, len, 0));
    free(buf);
    CHECK_STATUS(verify_dir(d, &fails, &msg), QTIP_E_NOT_FOUND);
    CHECK(strstr(qtip_last_error(), "model.layers.0.self_attn.o_proj.SU") != NULL, "message: %s",
          qtip_last_error());
    fprintf(stderr, "  missing -> %s\n", qtip_last_error());
    /* 4. a wrong config field */
    snprintf(d, sizeof d, "%s/c4", test_tmpdir());
    copy_dir(base, d);
    snprintf(p, sizeof p, "%s/config.json", d);
    CHECK_OK(qtip_read_file(p, &buf, &len));
    hit = memmem(buf, len, "\"K\": 2", 6);
    CHECK(hit != NULL, "K in config");
    if (hit) hit[5] = '3';
    qtip_io_forget_inputs();
    CHECK_OK(qtip_write_file_atomic(p, buf, len, 0));
    free(buf);
    CHECK_STATUS(verify_dir(d, &fails, &msg), QTIP_E_MISMATCH);
    CHECK(strstr(qtip_last_error(), "'K'") != NULL, "message: %s", qtip_last_error());
    fprintf(stderr, "  config -> %s\n", qtip_last_error());
    /* 5. a flipped bit in a copied (unquantized) tensor, checksum rewritten: only
     *    the comparison with the original finds it */
    snprintf(d, sizeof d, "%s/c5", test_tmpdir());
    copy_dir(base, d);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    patch_file(p, tensor_offset(p, "model.norm.weight") + 40, 0, -1);
    rechecksum(d, "model.norm.weight");
    rep = NULL;
    CHECK_OK(qtip_verify_model(d, NULL, &rep));
    qtip_verify_report_free(rep);
    CHECK_STATUS(verify_dir(d, &fails, &msg), QTIP_E_MISMATCH);
    CHECK(strstr(qtip_last_error(), "copied tensor 'model.norm.weight' differs") != NULL, "message: %s",
          qtip_last_error());
    fprintf(stderr, "  copied tensor -> %s\n", qtip_last_error());
    /* 6. a finite but huge Wscale, checksum rewritten: the decoded weights overflow,
     *    which must fail rather than give NaN errors that pass every threshold */
    snprintf(d, sizeof d, "%s/c6", test_tmpdir());
    copy_dir(base, d);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    FILE *f = fopen(p, "r+b");
    CHECK(f != NULL, "open %s", p);
    if (f) {
        float big = 3e38f;
        fseek(f, tensor_offset(p, "model.layers.0.mlp.up_proj.Wscale"), SEEK_SET);
        fwrite(&big, 4, 1, f);
        fclose(f);
    }
    rechecksum(d, "model.layers.0.mlp.up_proj.Wscale");
    rep = NULL;
    CHECK_STATUS(qtip_verify_model(d, NULL, &rep), QTIP_E_NONFINITE);
    CHECK(strstr(qtip_last_error(), "up_proj") && strstr(qtip_last_error(), "not finite"), "message: %s",
          qtip_last_error());
    fprintf(stderr, "  huge Wscale -> %s\n", qtip_last_error());
}

/* A copied file swapped for a link to an outside file after the directory was
 * listed (the race a hostile directory could attempt) is not followed. */
TEST(pack_refuses_link_swapped_after_listing)
{
    char m2[600], p[700], secret[600], out[600];
    snprintf(m2, sizeof m2, "%s/model_swap", test_tmpdir());
    copy_dir(model, m2);
    qtip_model_dir *md = NULL;
    CHECK_OK(qtip_model_dir_open(m2, 0, &md));
    if (!md) return;
    snprintf(secret, sizeof secret, "%s/secret.txt", test_tmpdir());
    write_text(secret, "not for sharing");
    snprintf(p, sizeof p, "%s/tokenizer.json", m2);
    CHECK(unlink(p) == 0 && symlink(secret, p) == 0, "swap %s for a link", p);
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    snprintf(out, sizeof out, "%s/packed_swap", test_tmpdir());
    CHECK_STATUS(qtip_pack_model(md, P, NL, &o, out), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "tokenizer.json") != NULL, "message: %s", qtip_last_error());
    struct stat sb;
    CHECK(stat(out, &sb) != 0, "no output left");
    qtip_model_dir_close(md);
}

/* Verify without an original or Hessians: the recorded checksums alone pass. */
TEST(verify_without_original)
{
    char d[700];
    snprintf(d, sizeof d, "%s/packed", test_tmpdir());
    qtip_verify_report *rep = NULL;
    CHECK_OK(qtip_verify_model(d, NULL, &rep));
    CHECK(rep && qtip_verify_report_count(rep) == NL, "all layers decoded");
    qtip_verify_report_free(rep);
    /* an unreadable original is an unreadable input (QTIP_E_IO: exit 1), not a mismatch */
    qtip_verify_options vo;
    qtip_verify_options_default(&vo);
    vo.original_dir = "/nonexistent-original";
    CHECK_STATUS(qtip_verify_model(d, &vo, &rep), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "original") != NULL, "message: %s", qtip_last_error());
}

int main(void)
{
    build_model();
    RUN(model_dir_lists_linears);
    RUN(pack_verify_roundtrip);
    RUN(pack_sharded);
    RUN(pack_refuses_inconsistent_inputs);
    RUN(verify_catches_corruption);
    RUN(verify_without_original);
    RUN(pack_refuses_link_swapped_after_listing);
    for (int l = 0; l < NL; l++) {
        free(L[l].W); free(L[l].What); free(L[l].SU); free(L[l].SV); free(L[l].codes);
    }
    return check_summary();
}
