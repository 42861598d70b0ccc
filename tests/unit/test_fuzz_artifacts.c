/*
 * test_fuzz_artifacts.c — bad input gets a clear error, never a crash, for the
 * parsers above the safetensors layer: the Hessian file loader and the
 * reference-layout importer, the per-layer artifact loader + decoder, and
 * qtip_verify_model on a packed directory. Valid files are built here with the
 * library, then mutated with a printed seed: raw byte flips and truncations
 * (exercising the safetensors layer beneath), and structural edits re-written as
 * VALID safetensors (metadata values replaced by wrong types, huge, negative,
 * NaN or empty strings, keys removed, tensors renamed or dropped, shapes and
 * dtypes changed so they disagree with each other and with the metadata, data
 * values replaced by NaN/Inf/odd numbers), so the checks above the container are
 * reached. Each load must either succeed with consistent results (decode gives
 * finite values) or fail with a non-OK status and a message naming the file
 * (tests/fuzz/fuzz_*.c abort otherwise); sanitizer builds catch the rest.
 * QTIP_TEST_SANITIZED=1 scales the mutation counts down.
 */
#include "check.h"

#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#define FUZZ_NO_ENTRY
#include "../fuzz/fuzz_hessian_file.c"
#include "../fuzz/fuzz_layer_artifact.c"

static int scale_div = 1;

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, n, f);
    fclose(f);
}

static const char *const bad_values[] = {
    "", "-1", "0", "1", "2", "3", "7", "9", "17", "33", "64", "65537", "-9223372036854775808",
    "9223372036854775807", "99999999999999999999999", "1e308", "-1e308", "nan", "NaN", "inf",
    "-inf", "3.5", "0x10", " 8", "8 ", "abc", "true", "[]", "{}", "trellis", "e8p", "1MAD",
    "HYB", "LUT", "E8P12", "E8P12RVQ4B", "qtip.hessian", "qtip-layer", "tril-row-major"};
#define NBAD (sizeof bad_values / sizeof bad_values[0])

static const char *const hessian_keys[] = {"format", "format_version", "tool", "site", "n",
                                           "count", "skipped", "has_mean", "layout", "inputs"};
static const char *const layer_keys[] = {
    "format", "format_version", "tool_version", "tensor", "method", "decode_mode", "L", "K", "V",
    "tlut_bits", "td_x", "td_y", "tile_order", "codebook", "resid_scale", "sigma_reg",
    "damping_tries", "damping", "scale_override", "seed", "refine_passes", "ldlq", "proxy_loss",
    "proxy_loss_rotated", "weights_checksum", "hessian_checksum"};

/* Rewrite the valid safetensors file `src` as `dst` after 1..3 structural edits. */
static void structural(const char *src, const char *dst, const char *const *keys, size_t nkeys,
                       test_rng *r)
{
    size_t len = 0;
    unsigned char *buf = slurp(src, &len);
    qtip_st_file *f = NULL;
    CHECK_OK(qtip_st_open(src, &f));
    if (!f) { free(buf); return; }
    /* metadata as (key, value) with edits */
    const char *mv[64];
    int keep[64];
    for (size_t i = 0; i < nkeys; i++) { mv[i] = qtip_st_metadata(f, keys[i]); keep[i] = 1; }
    size_t nt = qtip_st_count(f);
    typedef struct { char name[128]; qtip_dtype dt; int ndim; int64_t shape[4]; unsigned char *data; size_t nbytes; int keep; } tt;
    tt *t = calloc(nt + 1, sizeof *t);
    for (size_t i = 0; i < nt; i++) {
        const qtip_tensor_view *v = qtip_st_tensor(f, i);
        snprintf(t[i].name, sizeof t[i].name, "%s", v->name);
        t[i].dt = v->dtype;
        t[i].ndim = v->ndim;
        for (int d = 0; d < v->ndim && d < 4; d++) t[i].shape[d] = v->shape[d];
        t[i].nbytes = v->nbytes;
        t[i].data = malloc(v->nbytes + 1);
        memcpy(t[i].data, v->data, v->nbytes);
        t[i].keep = 1;
    }
    int edits = 1 + (int)(test_rng_next(r) % 3);
    for (int e = 0; e < edits; e++) {
        int kind = (int)(test_rng_next(r) % 6);
        if (kind <= 1 && nkeys) { /* metadata value */
            size_t k = test_rng_next(r) % nkeys;
            if (test_rng_next(r) % 6 == 0) keep[k] = 0;
            else mv[k] = bad_values[test_rng_next(r) % NBAD];
            continue;
        }
        if (!nt) continue;
        tt *x = &t[test_rng_next(r) % nt];
        if (kind == 2) { /* rename or drop */
            if (test_rng_next(r) % 2) x->keep = 0;
            else snprintf(x->name, sizeof x->name, "%s", test_rng_next(r) % 2 ? "SU" : "codes_");
        } else if (kind == 3 || kind == 4) { /* shape edit, data resized */
            int d = x->ndim ? (int)(test_rng_next(r) % (unsigned)x->ndim) : 0;
            static const int64_t pick[] = {0, 1, 2, 3, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 64, 256};
            if (x->ndim == 0 || test_rng_next(r) % 5 == 0) {
                x->ndim = (int)(test_rng_next(r) % 3);
                for (int i = 0; i < x->ndim; i++) x->shape[i] = pick[test_rng_next(r) % 16];
            } else if (test_rng_next(r) % 2) {
                x->shape[d] = pick[test_rng_next(r) % 16];
            } else {
                x->shape[d] = x->shape[d] + (test_rng_next(r) % 2 ? 1 : -1);
                if (x->shape[d] < 0) x->shape[d] = 0;
            }
            size_t el = 1;
            for (int i = 0; i < x->ndim; i++) el *= (size_t)x->shape[i];
            size_t nb = el * qtip_dtype_size(x->dt);
            x->data = realloc(x->data, nb + 1);
            for (size_t i = x->nbytes; i < nb; i++) x->data[i] = (unsigned char)test_rng_next(r);
            x->nbytes = nb;
        } else { /* dtype swap of the same size, or data values */
            if (test_rng_next(r) % 3 == 0) {
                static const qtip_dtype sw[][2] = {{QTIP_DT_F32, QTIP_DT_I32}, {QTIP_DT_I16, QTIP_DT_F16},
                                                   {QTIP_DT_F64, QTIP_DT_I64}, {QTIP_DT_I16, QTIP_DT_BF16}};
                for (int i = 0; i < 4; i++)
                    if (x->dt == sw[i][0]) { x->dt = sw[i][1]; break; }
                    else if (x->dt == sw[i][1]) { x->dt = sw[i][0]; break; }
            } else if (x->nbytes >= 4) {
                static const float fv[] = {NAN, INFINITY, -INFINITY, 0.0f, -1.0f, 0.5f, 3e38f, 1e-40f};
                size_t at = (test_rng_next(r) % (x->nbytes / 4)) * 4;
                if (x->dt == QTIP_DT_F64 && x->nbytes >= 8) {
                    double dv = (double)fv[test_rng_next(r) % 8];
                    memcpy(x->data + (at & ~(size_t)7), &dv, 8);
                } else if (x->dt == QTIP_DT_F32) {
                    memcpy(x->data + at, &fv[test_rng_next(r) % 8], 4);
                } else {
                    uint32_t u = (uint32_t)test_rng_next(r);
                    memcpy(x->data + at, &u, 4);
                }
            }
        }
    }
    /* serialized here rather than with qtip_st_writer: its atomic write fsyncs,
     * which would dominate the run time */
    json_t *hdr = json_object(), *meta = json_object();
    for (size_t i = 0; i < nkeys; i++)
        if (keep[i] && mv[i]) json_object_set_new(meta, keys[i], json_string(mv[i]));
    if (json_object_size(meta)) json_object_set(hdr, "__metadata__", meta);
    json_decref(meta);
    size_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        if (!t[i].keep) continue;
        json_t *shp = json_array();
        for (int d = 0; d < t[i].ndim; d++) json_array_append_new(shp, json_integer(t[i].shape[d]));
        json_object_set_new(hdr, t[i].name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", qtip_dtype_name(t[i].dt), "shape",
                                      shp, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + t[i].nbytes)));
        off += t[i].nbytes;
    }
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(hdr);
    size_t hl = text ? strlen(text) : 0, pad = (hl + 7) & ~(size_t)7;
    unsigned char *o = malloc(8 + pad + off + 1), *q = o + 8 + pad;
    for (int i = 0; i < 8; i++) o[i] = (unsigned char)((uint64_t)pad >> (8 * i));
    memcpy(o + 8, text ? text : "", hl);
    memset(o + 8 + hl, ' ', pad - hl);
    for (size_t i = 0; i < nt; i++)
        if (t[i].keep) { memcpy(q, t[i].data, t[i].nbytes); q += t[i].nbytes; }
    spit(dst, o, (size_t)(q - o));
    free(o);
    free(text);
    for (size_t i = 0; i < nt; i++) free(t[i].data);
    free(t);
    qtip_st_close(f);
    free(buf);
}

/* Raw mutation: bit flips, JSON-ish bytes in the header, or truncation. */
static void raw(const unsigned char *b, size_t n, const char *dst, test_rng *r)
{
    unsigned char *m = malloc(n + 1);
    memcpy(m, b, n);
    size_t len = n;
    uint64_t hl = 0;
    for (int i = 0; i < 8 && i < (int)n; i++) hl |= (uint64_t)b[i] << (8 * i);
    size_t hend = hl + 8 < n ? (size_t)hl + 8 : n;
    int kind = (int)(test_rng_next(r) % 3), edits = 1 + (int)(test_rng_next(r) % 4);
    for (int k = 0; k < edits; k++) {
        int in_header = test_rng_next(r) % 2;
        size_t at = in_header && hend > 8 ? 8 + (size_t)(test_rng_next(r) % (hend - 8))
                                          : (size_t)(test_rng_next(r) % len);
        if (at >= len) continue;
        if (kind == 0) m[at] ^= (unsigned char)(1u << (test_rng_next(r) % 8));
        else if (kind == 1) m[at] = (unsigned char)"0123456789[]{},:\"-.eE"[test_rng_next(r) % 21];
        else m[at] = (unsigned char)test_rng_next(r);
    }
    spit(dst, m, len);
    free(m);
}

/* Truncations at every 1/64, raw mutations, structural mutations of `src`. */
static void fuzz_file(const char *src, const char *const *keys, size_t nkeys, int nraw, int nstruct,
                      uint64_t seed, int (*check)(const char *, void *), void *ctx, int *accepted)
{
    test_rng r = test_rng_seeded(seed);
    size_t n = 0;
    unsigned char *b = slurp(src, &n);
    CHECK(b != NULL, "cannot read '%s'", src);
    if (!b) return;
    char dst[1200];
    snprintf(dst, sizeof dst, "%s/mutant.safetensors", test_tmpdir());
    CHECK(check(src, ctx) > 0, "the valid file '%s' is refused: %s", src, qtip_last_error());
    for (int i = 0; i < 64; i++) {
        spit(dst, b, n * (size_t)i / 64);
        CHECK(check(dst, ctx) == 0, "'%s' truncated to %d/64 was accepted", src, i);
    }
    for (int i = 0; i < nraw; i++) {
        raw(b, n, dst, &r);
        *accepted += check(dst, ctx) > 0;
    }
    for (int i = 0; i < nstruct; i++) {
        structural(src, dst, keys, nkeys, &r);
        *accepted += check(dst, ctx) > 0;
    }
    free(b);
}

static int check_hload(const char *p, void *ctx) { (void)ctx; return fuzz_hessian_check(p, 0); }
static int check_himport(const char *p, void *ctx) { (void)ctx; return fuzz_hessian_check(p, 1); }
static int check_layer(const char *p, void *ctx) { (void)ctx; return fuzz_layer_check(p); }

TEST(test_hessian_files)
{
    const int64_t n = 24;
    test_rng r = test_rng_seeded(7301);
    qtip_hessian *h = NULL;
    CHECK_OK(qtip_hessian_create(n, "model.layers.0.mlp.up_proj", &h));
    if (!h) return;
    float x[64 * 24];
    for (int i = 0; i < 64 * 24; i++) x[i] = (float)test_rng_normal(&r);
    CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, x, 64));
    CHECK_OK(qtip_hessian_add_input(h, "acts.npy", "xxh3-128:00"));
    char p[1024], pf[1024], pF[1024];
    snprintf(p, sizeof p, "%s/h.safetensors", test_tmpdir());
    snprintf(pf, sizeof pf, "%s/flat.safetensors", test_tmpdir());
    snprintf(pF, sizeof pF, "%s/full.safetensors", test_tmpdir());
    CHECK_OK(qtip_hessian_save(h, p));
    qtip_hessian_export_opts o = {QTIP_HESSIAN_FLAT, 1, QTIP_DT_F32};
    CHECK_OK(qtip_hessian_export(h, pf, &o));
    o.layout = QTIP_HESSIAN_FULL;
    o.centered = 0;
    o.dtype = QTIP_DT_F64;
    CHECK_OK(qtip_hessian_export(h, pF, &o));
    qtip_hessian_free(h);
    int acc = 0, nr = 300 / scale_div, ns = 400 / scale_div;
    fuzz_file(p, hessian_keys, 10, nr, ns, 7302, check_hload, NULL, &acc);
    fprintf(stderr, "  hessian load: %d of %d mutants accepted\n", acc, nr + ns);
    acc = 0;
    fuzz_file(pf, NULL, 0, nr / 2, ns / 2, 7303, check_himport, NULL, &acc);
    fuzz_file(pF, NULL, 0, nr / 2, ns / 2, 7304, check_himport, NULL, &acc);
    fprintf(stderr, "  hessian import: %d of %d mutants accepted\n", acc, nr + ns);
}

/* Regression inputs found by this test (fixed in lib/hessian/hessian_file.c). */
TEST(test_hessian_regressions)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/hreg.safetensors", test_tmpdir());
    /* metadata n so large that n(n+1)/2 overflows int64 (UB before the fix) */
    static const char *const ns[] = {"9223372036854775807", "4294967296", "3037000500"};
    for (int i = 0; i < 3; i++) {
        qtip_st_writer *w = NULL;
        CHECK_OK(qtip_st_writer_create(&w));
        if (!w) return;
        qtip_st_writer_set_metadata(w, "format", "qtip.hessian");
        qtip_st_writer_set_metadata(w, "format_version", "1");
        qtip_st_writer_set_metadata(w, "n", ns[i]);
        int64_t c = 1, one = 1;
        double v = 1;
        qtip_st_writer_add(w, "count", QTIP_DT_I64, 0, NULL, &c);
        qtip_st_writer_add(w, "sum_x", QTIP_DT_F64, 1, &one, &v);
        qtip_st_writer_add(w, "sum_xxT_tril", QTIP_DT_F64, 1, &one, &v);
        qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
        CHECK_OK(qtip_st_writer_write(w, p, 0));
        qtip_st_writer_free(w);
        qtip_hessian *h = NULL;
        CHECK(qtip_hessian_load(p, &h) != QTIP_OK, "n = %s accepted", ns[i]);
        CHECK(strstr(qtip_last_error(), "hreg.safetensors") != NULL, "message: %s", qtip_last_error());
        qtip_hessian_free(h);
    }
}

static void write_text(const char *path, const char *text)
{
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    CHECK_OK(qtip_write_file_atomic(path, text, strlen(text), 0));
}

static char art_tr[1024], art_e8[1024];

static void make_artifact(int e8p, const float *W, const char *path)
{
    qtip_quant_params p;
    if (e8p) {
        p = qtip_quant_default_params(QTIP_METHOD_E8P);
        p.e8p = QTIP_E8P12;
        p.refine_passes = 1;
    } else {
        p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
        qtip_trellis_params tp = {8, 2, 1, 0, QTIP_CODE_1MAD, 16, 16};
        p.trellis = tp;
    }
    p.seed = 3;
    qtip_quantizer *q = NULL;
    CHECK_OK(qtip_quantizer_create(&p, &q));
    qtip_layer_artifact *a = NULL;
    if (q) CHECK_OK(qtip_quantize_layer(q, W, 32, 32, NULL, "model.layers.0.mlp.up_proj.weight", &a));
    qtip_quantizer_free(q);
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    if (a) CHECK_OK(qtip_layer_artifact_save(a, path));
    qtip_layer_artifact_free(a);
}

TEST(test_layer_artifacts)
{
    test_rng r = test_rng_seeded(7401);
    static float W[32 * 32];
    for (int i = 0; i < 32 * 32; i++) W[i] = (float)test_rng_normal(&r) * 0.02f;
    snprintf(art_tr, sizeof art_tr, "%s/art_trellis.safetensors", test_tmpdir());
    snprintf(art_e8, sizeof art_e8, "%s/art_e8p.safetensors", test_tmpdir());
    make_artifact(0, W, art_tr);
    make_artifact(1, W, art_e8);
    int acc = 0, nr = 250 / scale_div, ns = 500 / scale_div;
    fuzz_file(art_tr, layer_keys, 26, nr, ns, 7402, check_layer, NULL, &acc);
    fprintf(stderr, "  trellis artifact: %d of %d mutants accepted\n", acc, nr + ns);
    acc = 0;
    fuzz_file(art_e8, layer_keys, 26, nr, ns, 7403, check_layer, NULL, &acc);
    fprintf(stderr, "  e8p artifact: %d of %d mutants accepted\n", acc, nr + ns);
}

/* --- packed directory --- */

static const char *const jbad[] = {"null", "-1", "0", "1", "7", "32", "1e300", "3.5", "\"x\"",
                                   "\"1MAD\"", "[]", "{}", "[32]", "[32, 32, 1]", "[-16, 32]",
                                   "[0, 32]", "[16, 24]", "[9223372036854775807, 32]", "true"};

/* Replace a random member of a random object inside j (recursively). */
static void json_mutate(json_t *j, test_rng *r)
{
    for (int depth = 0; depth < 6; depth++) {
        size_t n = json_is_object(j) ? json_object_size(j) : json_is_array(j) ? json_array_size(j) : 0;
        if (!n) return;
        size_t k = test_rng_next(r) % n;
        json_t *child;
        const char *key = NULL;
        if (json_is_object(j)) {
            void *it = json_object_iter(j);
            for (size_t i = 0; i < k; i++) it = json_object_iter_next(j, it);
            key = json_object_iter_key(it);
            child = json_object_iter_value(it);
        } else {
            child = json_array_get(j, k);
        }
        if ((json_is_object(child) || json_is_array(child)) && test_rng_next(r) % 4) {
            j = child;
            continue;
        }
        if (key && test_rng_next(r) % 5 == 0) { json_object_del(j, key); return; }
        json_t *v = json_loads(jbad[test_rng_next(r) % (sizeof jbad / sizeof jbad[0])],
                               JSON_DECODE_ANY, NULL);
        if (key) json_object_set_new(j, key, v);
        else json_array_set_new(j, k, v);
        return;
    }
}

static void copy_file(const char *a, const char *b)
{
    size_t n;
    unsigned char *d = slurp(a, &n);
    if (d) spit(b, d, n);
    free(d);
}

static const char *const vfiles[] = {"model.safetensors", "config.json", "quantize_config.json"};

static int check_verify(const char *dir)
{
    qtip_verify_options vo;
    qtip_verify_options_default(&vo);
    qtip_verify_report *rep = (qtip_verify_report *)1;
    qtip_status s = qtip_verify_model(dir, &vo, &rep);
    if (s != QTIP_OK) {
        if (rep || !qtip_last_error()[0]) {
            fprintf(stderr, "verify: bad failure (status %d): '%s'\n", (int)s, qtip_last_error());
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < qtip_verify_report_count(rep); i++) {
        const qtip_verify_layer *l = qtip_verify_report_layer(rep, i);
        if (l->m <= 0 || l->n <= 0) abort();
    }
    qtip_verify_report_free(rep);
    return 1;
}

TEST(test_packed_dir)
{
    char src[1024], out[1024], mut[1024], p[1200], q[1200];
    snprintf(src, sizeof src, "%s/src_model", test_tmpdir());
    snprintf(out, sizeof out, "%s/packed", test_tmpdir());
    snprintf(mut, sizeof mut, "%s/packed_mut", test_tmpdir());
    mkdir(src, 0755);
    mkdir(mut, 0755);
    snprintf(p, sizeof p, "%s/config.json", src);
    write_text(p, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32, "
                  "\"torch_dtype\": \"float32\", \"model_type\": \"llama\"}\n");
    test_rng r = test_rng_seeded(7501);
    static float W[32 * 32];
    for (int i = 0; i < 32 * 32; i++) W[i] = (float)test_rng_normal(&r) * 0.02f;
    qtip_st_writer *w = NULL;
    CHECK_OK(qtip_st_writer_create(&w));
    int64_t sh[2] = {32, 32};
    if (w) qtip_st_writer_add(w, "model.layers.0.mlp.up_proj.weight", QTIP_DT_F32, 2, sh, W);
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    if (w) CHECK_OK(qtip_st_writer_write(w, p, 0));
    qtip_st_writer_free(w);
    make_artifact(0, W, art_tr);
    qtip_layer_artifact *a = NULL;
    CHECK_OK(qtip_layer_artifact_load(art_tr, &a));
    qtip_layer_info pl;
    qtip_model_dir *md = NULL;
    if (a) qtip_layer_artifact_info(a, &pl);
    CHECK_OK(qtip_model_dir_open(src, 0, &md));
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    if (a && md) CHECK_OK(qtip_pack_model(md, &pl, 1, &o, out));
    qtip_model_dir_close(md);
    qtip_layer_artifact_free(a);
    CHECK(check_verify(out) == 1, "the valid packed directory is refused: %s", qtip_last_error());
    int nm = 200 / scale_div, acc = 0;
    for (int it = 0; it < nm; it++) {
        for (int f = 0; f < 3; f++) {
            snprintf(p, sizeof p, "%s/%s", out, vfiles[f]);
            snprintf(q, sizeof q, "%s/%s", mut, vfiles[f]);
            copy_file(p, q);
        }
        int which = (int)(test_rng_next(&r) % 3);
        snprintf(p, sizeof p, "%s/%s", out, vfiles[which]);
        snprintf(q, sizeof q, "%s/%s", mut, vfiles[which]);
        if (which == 0) {
            structural(p, q, NULL, 0, &r);
        } else {
            json_t *j = json_load_file(p, 0, NULL);
            CHECK(j != NULL, "cannot parse '%s'", p);
            if (!j) continue;
            int edits = 1 + (int)(test_rng_next(&r) % 3);
            for (int e = 0; e < edits; e++) json_mutate(j, &r);
            json_dump_file(j, q, 0);
            json_decref(j);
        }
        acc += check_verify(mut);
    }
    fprintf(stderr, "  packed directory: %d of %d mutants accepted\n", acc, nm);
}

int main(void)
{
    const char *san = getenv("QTIP_TEST_SANITIZED");
    if (san && atoi(san)) scale_div = 2;
    RUN(test_hessian_files);
    RUN(test_hessian_regressions);
    RUN(test_layer_artifacts);
    RUN(test_packed_dir);
    return check_summary();
}
