/*
 * qtip-quantize — quantize one linear layer to QTIP trellis codes or QuIP# E8P
 * codes and write its per-layer artifact (docs/cmd/qtip-quantize.md).
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const usage[] = {
    "qtip-quantize --tensor <name> (--hessian <file> | --identity-hessian) -o <out> [<options>] <weights>",
    "qtip-quantize --codebook <cb> --tensor <name> (--hessian <file> | --identity-hessian) -o <out> <weights>",
    NULL,
};

/* Numeric options are taken as strings so that "not given" is distinguishable
 * from any value: the command line overrides --config, which overrides defaults. */
static const char *o_tensor, *o_hessian, *o_output, *o_config, *o_method, *o_codebook, *o_mode,
    *o_L, *o_K, *o_V, *o_Q, *o_tdx, *o_tdy, *o_sigma, *o_scale, *o_seed, *o_refine, *o_device,
    *o_tail;
static int o_identity, o_no_ldlq;

static const cli_option options[] = {
    {0, "tensor", CLI_STRING, &o_tensor, "<name>", "weight tensor (or layer name; '.weight' is appended if needed)"},
    {0, "hessian", CLI_STRING, &o_hessian, "<file>", "Hessian of the layer's input (qtip-hessian, or the reference tools' flatH file)"},
    {0, "identity-hessian", CLI_FLAG, &o_identity, NULL, "use H = I: no calibration data, lower quality"},
    {'o', "output", CLI_STRING, &o_output, "<out>", "layer artifact to write (atomically)"},
    {0, "config", CLI_STRING, &o_config, "<json>", "quantize_config.json with parameters (options override it)"},
    {0, "method", CLI_STRING, &o_method, "<m>", "trellis (QTIP, default) or e8p (QuIP#)"},
    {0, "codebook", CLI_STRING, &o_codebook, "<cb>", "e8p12, e8p12-rvq3 or e8p12-rvq4 (selects the QuIP# path)"},
    {0, "decode-mode", CLI_STRING, &o_mode, "<code>", "trellis code: hyb (quantlut_sym, default), 1mad, 2mad, 3inst, lut"},
    {0, "L", CLI_STRING, &o_L, "<bits>", "trellis state bits, 8..16 (default 16)"},
    {0, "K", CLI_STRING, &o_K, "<bits>", "bits per weight, 1..4 (default 2)"},
    {0, "V", CLI_STRING, &o_V, "<n>", "values per trellis step, 1 or 2 (default 2)"},
    {0, "tlut-bits", CLI_STRING, &o_Q, "<q>", "HYB table bits (default 9; L for lut, 0 otherwise)"},
    {0, "td-x", CLI_STRING, &o_tdx, "<rows>", "tile rows (default 16)"},
    {0, "td-y", CLI_STRING, &o_tdy, "<cols>", "tile columns (default 16)"},
    {0, "sigma-reg", CLI_STRING, &o_sigma, "<x>", "Hessian damping in units of mean(diag) (default 0.01)"},
    {0, "scale-override", CLI_STRING, &o_scale, "<x>", "target RMS factor (default 0.9 trellis, codebook opt_scale e8p)"},
    {0, "seed", CLI_STRING, &o_seed, "<n>", "seed of the sign vectors (default 0)"},
    {0, "refine-passes", CLI_STRING, &o_refine, "<n>", "greedy passes after LDLQ (default 10 e8p, 0 trellis)"},
    {0, "no-ldlq", CLI_FLAG, &o_no_ldlq, NULL, "round without error feedback (a baseline, worse)"},
    {0, "tail-biting", CLI_STRING, &o_tail, "<search>", "trellis tail-biting search: two-pass (default, the reference's) or best-of-<n> (slower, lower error)"},
    {0, "device", CLI_STRING, &o_device, "<d>", "cpu, cuda or auto (default cpu; cuda not yet available)"},
    CLI_END,
};

static const cli_command cmd = {
    "qtip-quantize", usage,
    "Quantize one linear layer: incoherence processing (RHT), BlockLDLQ with the "
    "layer's input Hessian, QTIP bitshift trellis codes (default) or QuIP# E8P lattice "
    "codes (--codebook). Writes a per-layer artifact (docs/formats/layer-artifact.md).",
    options,
};

static long parse_long(const char *what, const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 0);
    if (end == s || *end || v < lo || v > hi)
        cli_usage_error(&cmd, "option '--%s' expects an integer in %ld..%ld, got '%s'", what, lo, hi, s);
    return v;
}

static double parse_num(const char *what, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        cli_usage_error(&cmd, "option '--%s' expects a number, got '%s'", what, s);
    return v;
}

static void set_code(qtip_quant_params *p, const char *s, const char *where)
{
    int c = qtip_code_from_name(s);
    if (c < 0) cli_usage_error(&cmd, "%s: unknown decode_mode '%s', expected hyb, 1mad, 2mad, 3inst or lut", where, s);
    p->trellis.code = (qtip_code)c;
}

static void set_codebook(qtip_quant_params *p, const char *s, const char *where)
{
    int k = qtip_e8p_from_name(s);
    if (k < 0) cli_usage_error(&cmd, "%s: unknown codebook '%s', expected e8p12, e8p12-rvq3 or e8p12-rvq4", where, s);
    p->method = QTIP_METHOD_E8P;
    p->e8p = (qtip_e8p_kind)k;
}

static void set_method(qtip_quant_params *p, const char *s, const char *where)
{
    if (!strcasecmp(s, "trellis") || !strcasecmp(s, "qtip") || !strcasecmp(s, "bitshift"))
        p->method = QTIP_METHOD_TRELLIS;
    else if (!strcasecmp(s, "e8p") || !strcasecmp(s, "quip") || !strcasecmp(s, "quip#"))
        p->method = QTIP_METHOD_E8P;
    else
        cli_usage_error(&cmd, "%s: unknown method '%s', expected trellis or e8p", where, s);
}

/* quantize_config.json: the reference's fields (quant_method, L, K, V, tlut_bits,
 * decode_mode, td_x, td_y, codebook) plus ours (sigma_reg, scale_override, seed,
 * refine_passes, ldlq, tail_biting). Returns 1 when the file names an E8P codebook. */
static void read_config(const char *path, qtip_quant_params *p)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) cli_die("cannot read config '%s': %s (line %d)", path, err.text, err.line);
    if (!json_is_object(root)) cli_die("cannot read config '%s': expected a JSON object", path);
    json_t *qc = json_object_get(root, "quantization_config");
    json_t *obj = json_is_object(qc) ? qc : root;
    const char *key;
    json_t *v;
    char where[600];
    snprintf(where, sizeof where, "config '%s'", path);
    /* method first: per-method defaults are set before the other fields */
    json_t *cbv = json_object_get(obj, "codebook");
    json_t *qm = json_object_get(obj, "quant_method");
    if (json_is_string(cbv) && qtip_e8p_from_name(json_string_value(cbv)) >= 0) {
        *p = qtip_quant_default_params(QTIP_METHOD_E8P);
    } else if (json_is_string(qm)) {
        qtip_quant_params t = *p;
        set_method(&t, json_string_value(qm), where);
        *p = qtip_quant_default_params(t.method);
    }
    json_object_foreach(obj, key, v) {
#define INTF(name, field)                                                              \
    if (!strcmp(key, name)) {                                                          \
        if (!json_is_integer(v)) cli_die("%s: field '%s' must be an integer", where, key); \
        field = (int)json_integer_value(v);                                            \
        continue;                                                                      \
    }
#define NUMF(name, field)                                                              \
    if (!strcmp(key, name)) {                                                          \
        if (!json_is_number(v)) cli_die("%s: field '%s' must be a number", where, key); \
        field = json_number_value(v);                                                  \
        continue;                                                                      \
    }
        INTF("L", p->trellis.L)
        INTF("K", p->trellis.K)
        INTF("V", p->trellis.V)
        INTF("tlut_bits", p->trellis.Q)
        INTF("td_x", p->trellis.td_x)
        INTF("td_y", p->trellis.td_y)
        INTF("refine_passes", p->refine_passes)
        INTF("quip_tune_iters", p->refine_passes)
        INTF("ldlq", p->ldlq)
        NUMF("sigma_reg", p->sigma_reg)
        NUMF("scale_override", p->scale_override)
        if (!strcmp(key, "seed")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                cli_die("%s: field 'seed' must be a non-negative integer", where);
            p->seed = (uint64_t)json_integer_value(v);
            continue;
        }
        if (!strcmp(key, "tail_biting")) {
            int n = json_is_string(v) ? qtip_trellis_tail_biting_from_name(json_string_value(v)) : -1;
            if (n < 1) cli_die("%s: field 'tail_biting' must be \"two-pass\" or \"best-of-<n>\"", where);
            p->tail_biting = n >= 2 ? n : 0;
            continue;
        }
        if (!strcmp(key, "decode_mode") || !strcmp(key, "codebook") || !strcmp(key, "quant_method")) {
            if (!json_is_string(v)) cli_die("%s: field '%s' must be a string", where, key);
            if (!strcmp(key, "decode_mode")) set_code(p, json_string_value(v), where);
            else if (!strcmp(key, "codebook")) {
                /* the reference QTIP config says "bitshift" here */
                if (strcasecmp(json_string_value(v), "bitshift") != 0)
                    set_codebook(p, json_string_value(v), where);
            }
            continue;
        }
        cli_warn("%s: ignoring unknown field '%s'", where, key);
#undef INTF
#undef NUMF
    }
    json_decref(root);
}

static json_t *json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int main(int argc, char **argv)
{
    int npos = cli_parse(&cmd, argc, argv);
    if (npos != 1) cli_usage_error(&cmd, "expected one weights file or model directory, got %d", npos);
    const char *weights = argv[1];
    if (!o_tensor) cli_usage_error(&cmd, "missing '--tensor <name>'");
    if (!o_output) cli_usage_error(&cmd, "missing '-o <out>'");
    if (!o_hessian == !o_identity)
        cli_usage_error(&cmd, "give exactly one of '--hessian <file>' and '--identity-hessian'");

    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    if (o_config) read_config(o_config, &p);
    if (o_method) {
        qtip_quant_params t = p;
        set_method(&t, o_method, "--method");
        if (t.method != p.method) {
            /* switching method resets the method-specific defaults */
            qtip_quant_params d = qtip_quant_default_params(t.method);
            d.sigma_reg = p.sigma_reg;
            d.seed = p.seed;
            p = d;
        }
    }
    if (o_codebook) {
        if (p.method != QTIP_METHOD_E8P) {
            qtip_quant_params d = qtip_quant_default_params(QTIP_METHOD_E8P);
            d.sigma_reg = p.sigma_reg;
            d.seed = p.seed;
            p = d;
        }
        set_codebook(&p, o_codebook, "--codebook");
    }
    if (o_mode) set_code(&p, o_mode, "--decode-mode");
    if (o_L) p.trellis.L = (int)parse_long("L", o_L, 1, 64);
    if (o_K) p.trellis.K = (int)parse_long("K", o_K, 1, 64);
    if (o_V) p.trellis.V = (int)parse_long("V", o_V, 1, 64);
    if (o_Q) p.trellis.Q = (int)parse_long("tlut-bits", o_Q, 0, 64);
    if (o_tdx) p.trellis.td_x = (int)parse_long("td-x", o_tdx, 1, 65536);
    if (o_tdy) p.trellis.td_y = (int)parse_long("td-y", o_tdy, 1, 65536);
    /* a non-HYB code given without its own tlut bits: the only valid value */
    if ((o_mode || o_config) && !o_Q) {
        if (p.trellis.code == QTIP_CODE_LUT) p.trellis.Q = p.trellis.L;
        else if (p.trellis.code != QTIP_CODE_HYB) p.trellis.Q = 0;
    }
    if (o_mode && !o_V && p.trellis.code != QTIP_CODE_HYB && p.trellis.code != QTIP_CODE_LUT) p.trellis.V = 1;
    if (o_sigma) p.sigma_reg = parse_num("sigma-reg", o_sigma);
    if (o_scale) p.scale_override = parse_num("scale-override", o_scale);
    if (o_seed) {
        char *end;
        unsigned long long s = strtoull(o_seed, &end, 0);
        if (end == o_seed || *end || o_seed[0] == '-')
            cli_usage_error(&cmd, "option '--seed' expects a non-negative integer, got '%s'", o_seed);
        p.seed = s;
    }
    if (o_refine) p.refine_passes = (int)parse_long("refine-passes", o_refine, 0, 1000);
    if (o_no_ldlq) p.ldlq = 0;
    if (o_tail) {
        int n = qtip_trellis_tail_biting_from_name(o_tail);
        if (n < 1)
            cli_usage_error(&cmd, "option '--tail-biting' expects two-pass or best-of-<n> (n in 1..65536), got '%s'",
                            o_tail);
        p.tail_biting = n >= 2 ? n : 0;
    }
    if (o_device) {
        if (!strcmp(o_device, "cpu")) p.device = QTIP_DEVICE_CPU;
        else if (!strcmp(o_device, "cuda")) p.device = QTIP_DEVICE_CUDA;
        else if (!strcmp(o_device, "auto")) p.device = QTIP_DEVICE_AUTO;
        else cli_usage_error(&cmd, "option '--device' expects cpu, cuda or auto, got '%s'", o_device);
    }
    qtip_status s = qtip_quant_check_params(&p);
    if (s) cli_usage_error(&cmd, "%s", qtip_last_error());

    qtip_quantizer *q = NULL;
    s = qtip_quantizer_create(&p, &q);
    if (s) return cli_fail(s);
    qtip_layer_artifact *a = NULL;
    s = qtip_quantize_layer_file(q, weights, o_tensor, o_identity ? NULL : o_hessian, &a);
    if (s) {
        qtip_quantizer_free(q);
        return cli_fail(s);
    }
    s = qtip_layer_artifact_save(a, o_output);
    if (s) {
        qtip_layer_artifact_free(a);
        qtip_quantizer_free(q);
        return cli_fail(s);
    }
    qtip_layer_info info;
    qtip_layer_artifact_info(a, &info);
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "output", json_string(o_output));
        json_object_set_new(o, "tensor", json_string(info.tensor));
        json_t *shape = json_array();
        json_array_append_new(shape, json_integer(info.m));
        json_array_append_new(shape, json_integer(info.n));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "method", json_string(p.method == QTIP_METHOD_TRELLIS ? "trellis" : "e8p"));
        if (p.method == QTIP_METHOD_TRELLIS) {
            json_object_set_new(o, "decode_mode", json_string(qtip_code_name(p.trellis.code)));
            json_object_set_new(o, "L", json_integer(p.trellis.L));
            json_object_set_new(o, "K", json_integer(p.trellis.K));
            json_object_set_new(o, "V", json_integer(p.trellis.V));
            json_object_set_new(o, "tlut_bits", json_integer(p.trellis.Q));
            json_object_set_new(o, "td_x", json_integer(p.trellis.td_x));
            json_object_set_new(o, "td_y", json_integer(p.trellis.td_y));
            char tb[32];
            if (p.tail_biting >= 2) snprintf(tb, sizeof tb, "best-of-%d", p.tail_biting);
            else snprintf(tb, sizeof tb, "two-pass");
            json_object_set_new(o, "tail_biting", json_string(tb));
        } else {
            json_object_set_new(o, "codebook", json_string(qtip_e8p_name(p.e8p)));
        }
        json_object_set_new(o, "bits_per_weight", json_num(info.bits_per_weight));
        json_object_set_new(o, "proxy_loss", json_num(info.proxy_loss));
        json_object_set_new(o, "proxy_loss_rotated", json_num(info.proxy_loss_rotated));
        json_t *rl = json_array();
        for (int i = 0; i < info.refine_count; i++) json_array_append_new(rl, json_num(info.refine_losses[i]));
        json_object_set_new(o, "refine_losses", rl);
        json_object_set_new(o, "sigma_reg", json_num(p.sigma_reg));
        json_object_set_new(o, "damping", json_num(info.damping));
        json_object_set_new(o, "scale_override", json_num(qtip_quant_effective_scale(&p)));
        json_object_set_new(o, "wscale", json_num(info.wscale));
        json_object_set_new(o, "seed", json_integer((json_int_t)p.seed));
        json_object_set_new(o, "ldlq", json_boolean(p.ldlq));
        json_object_set_new(o, "seconds", json_num(info.seconds));
        json_object_set_new(o, "weights_checksum", json_string(info.weights_checksum));
        json_object_set_new(o, "hessian_checksum", json_string(info.hessian_checksum));
        json_object_set_new(o, "threads", json_integer(qtip_get_threads()));
        cli_print_json(o);
    } else if (cli_g.verbosity > 0) {
        printf("quantized '%s' [%lld, %lld] to '%s': proxy loss %.6g at %g bits/weight (%.1f s)\n",
               info.tensor, (long long)info.m, (long long)info.n, o_output, info.proxy_loss,
               info.bits_per_weight, info.seconds);
    }
    qtip_layer_artifact_free(a);
    qtip_quantizer_free(q);
    return CLI_EXIT_OK;
}
