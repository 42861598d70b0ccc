/*
 * fuzz_packed_config.c — libFuzzer target for the configs of a packed directory
 * as `qtip-verify` reads them (qtip_verify_model: config.json's
 * quantization_config, quantize_config.json's layers, settings, recorded
 * checksums; lib/verify/verify_config.c, verify_checksum.c).
 *
 * The first call packs a one-layer model (16 x 256, trellis defaults) into
 * P_tmpdir/qtip-fuzz-packed-<pid>/packed; every input then replaces that
 * directory's two configs: the bytes before the input's first NUL are
 * config.json, the rest quantize_config.json (the corpus seeds are the real pair).
 * The directory is removed at exit (scripts/fuzz.sh removes it after a timed run,
 * which exits without atexit). Build and run: scripts/fuzz.sh.
 *
 * Invariants: a failure leaves no report and a message naming the directory or a
 * file in it; a success reports the one layer with the model's shape.
 */
#include "qtip.h"

#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_M = 16, FUZZ_N = 256 };
static char packed_base[256], packed_dir[320];

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void remove_packed_base(void)
{
    nftw(packed_base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* The original model: config.json and one linear layer with a norm. */
static int write_model(const char *model)
{
    static float W[FUZZ_M * FUZZ_N], norm[FUZZ_M];
    for (int i = 0; i < FUZZ_M * FUZZ_N; i++) W[i] = 0.02f * sinf(0.37f * (float)i + 0.11f * (float)(i % 7));
    for (int i = 0; i < FUZZ_M; i++) norm[i] = 1.0f;
    const char *cfg = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
                      "\"torch_dtype\": \"float32\"}\n";
    char p[400];
    snprintf(p, sizeof p, "%s/config.json", model);
    if (mkdir(model, 0700) != 0 || write_bytes(p, cfg, strlen(cfg)) != 0) return -1;
    qtip_st_writer *w = NULL;
    int64_t ws[2] = {FUZZ_M, FUZZ_N}, ns = FUZZ_M;
    snprintf(p, sizeof p, "%s/model.safetensors", model);
    int bad = qtip_st_writer_create(&w) ||
              qtip_st_writer_add(w, "model.layers.0.mlp.down_proj.weight", QTIP_DT_F32, 2, ws, W) ||
              qtip_st_writer_add(w, "model.norm.weight", QTIP_DT_F32, 1, &ns, norm) ||
              qtip_st_writer_write(w, p, 0);
    qtip_st_writer_free(w);
    return bad ? -1 : 0;
}

/* Quantize the layer and pack the model into packed_dir. */
static int pack_model(const char *model)
{
    qtip_model_dir *src = NULL;
    qtip_quantizer *q = NULL;
    qtip_layer_artifact *a = NULL;
    static float W[FUZZ_M * FUZZ_N];
    for (int i = 0; i < FUZZ_M * FUZZ_N; i++) W[i] = 0.02f * sinf(0.37f * (float)i + 0.11f * (float)(i % 7));
    qtip_quant_params prm = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    int bad = qtip_quantizer_create(&prm, &q) ||
              qtip_quantize_layer(q, W, FUZZ_M, FUZZ_N, NULL, "model.layers.0.mlp.down_proj", &a) ||
              qtip_model_dir_open(model, 0, &src);
    if (!bad) {
        qtip_layer_info info;
        qtip_layer_artifact_info(a, &info);
        info.tensor = "model.layers.0.mlp.down_proj";
        qtip_pack_options o;
        qtip_pack_options_default(&o);
        bad = qtip_pack_model(src, &info, 1, &o, packed_dir) != QTIP_OK;
    }
    qtip_model_dir_close(src);
    qtip_layer_artifact_free(a);
    qtip_quantizer_free(q);
    return bad ? -1 : 0;
}

/* The packed directory, made on the first call; NULL if it cannot be made. */
static const char *packed(void)
{
    static int state; /* 0 not tried, 1 ready, -1 failed */
    if (state) return state > 0 ? packed_dir : NULL;
    state = -1;
    snprintf(packed_base, sizeof packed_base, "%s/qtip-fuzz-packed-%ld", P_tmpdir, (long)getpid());
    snprintf(packed_dir, sizeof packed_dir, "%s/packed", packed_base);
    char model[320];
    snprintf(model, sizeof model, "%s/model", packed_base);
    if (mkdir(packed_base, 0700) != 0) return NULL;
    atexit(remove_packed_base);
    if (write_model(model) != 0 || pack_model(model) != 0) {
        fprintf(stderr, "fuzz_packed_config: cannot pack the seed model: %s\n", qtip_last_error());
        abort();
    }
    state = 1;
    return packed_dir;
}

static void check_verify(const char *dir)
{
    qtip_verify_options o;
    qtip_verify_options_default(&o);
    qtip_verify_report *r = (qtip_verify_report *)1;
    qtip_status s = qtip_verify_model(dir, &o, &r);
    if (s != QTIP_OK) {
        if (r || !strstr(qtip_last_error(), dir)) {
            fprintf(stderr, "fuzz_packed_config: failure (status %d) without the directory in it: '%s'\n",
                    (int)s, qtip_last_error());
            abort();
        }
        return;
    }
    const qtip_verify_layer *l = qtip_verify_report_count(r) == 1 ? qtip_verify_report_layer(r, 0) : NULL;
    if (!l || l->m != FUZZ_M || l->n != FUZZ_N) {
        fprintf(stderr, "fuzz_packed_config: accepted a directory whose report is not its one layer\n");
        abort();
    }
    qtip_verify_report_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = packed();
    if (!dir) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t first = nul ? (size_t)(nul - data) : size;
    char p[400];
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (write_bytes(p, data, first) != 0) return 0;
    snprintf(p, sizeof p, "%s/quantize_config.json", dir);
    if (write_bytes(p, nul ? nul + 1 : data + size, nul ? size - first - 1 : 0) != 0) return 0;
    check_verify(dir);
    return 0;
}
