/*
 * qtip-quantize — quantize one linear layer to QTIP trellis codes or QuIP# E8P
 * codes and write its per-layer artifact (docs/cmd/qtip-quantize.md).
 */
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {
    "qtip-quantize --tensor <name> (--hessian <file> | --identity-hessian) -o <out> [<options>] <weights>",
    "qtip-quantize --codebook <cb> --tensor <name> (--hessian <file> | --identity-hessian) -o <out> <weights>",
    NULL,
};

/* Options are typed once, here: cli_parse checks each range and name list. A
 * value left at its sentinel (NOT_GIVEN, NUM_NOT_GIVEN, -1 for the enums) was
 * not given: the command line overrides --config, which overrides the defaults.
 * The ranges are the library's (qtip_trellis_check_params, the parameters table
 * of quant_params.c); combinations (K*V < L, td_y*K) are its to check. */
#define NOT_GIVEN INT_MIN
#define NUM_NOT_GIVEN (-DBL_MAX)
static const char *o_tensor, *o_hessian, *o_output, *o_config, *o_codebook, *o_mode, *o_tail, *o_seed,
    *o_device;
static int o_L = NOT_GIVEN, o_K = NOT_GIVEN, o_V = NOT_GIVEN, o_Q = NOT_GIVEN, o_tdx = NOT_GIVEN,
           o_tdy = NOT_GIVEN, o_refine = NOT_GIVEN, o_method = -1, o_tp = NOT_GIVEN, o_tp_split = -1;
static double o_sigma = NUM_NOT_GIVEN, o_scale = NUM_NOT_GIVEN;
static int o_identity, o_no_ldlq;

/* --method: indices are the library's enum values. */
static const char *const method_names[] = {[QTIP_METHOD_TRELLIS] = "trellis", [QTIP_METHOD_E8P] = "e8p", NULL};
/* --tp-split: indices are qtip_tp_split's values. */
static const char *const tp_split_names[] = {[QTIP_TP_SPLIT_AUTO] = "auto", [QTIP_TP_SPLIT_INPUT] = "input",
                                             [QTIP_TP_SPLIT_OUTPUT] = "output", NULL};

/* Help lines naming the codes and codebooks of the library's tables. */
static char code_help[256], codebook_help[128];

static cli_option options[] = {
    {0, "tensor", CLI_STRING, &o_tensor, "<name>", "weight tensor (or layer name; '.weight' is appended if needed)"},
    {0, "hessian", CLI_STRING, &o_hessian, "<file>", "Hessian of the layer's input (qtip-hessian, or the reference tools' flatH file)"},
    {0, "identity-hessian", CLI_FLAG, &o_identity, NULL, "use H = I: no calibration data, lower quality"},
    {'o', "output", CLI_STRING, &o_output, "<out>", "layer artifact to write (atomically)"},
    {0, "config", CLI_STRING, &o_config, "<json>", "quantize_config.json with parameters (options override it)"},
    {0, "method", CLI_ENUM, &(cli_enum_spec){&o_method, method_names}, "<m>", "trellis (QTIP, default) or e8p (QuIP#)"},
    {0, "codebook", CLI_STRING, &o_codebook, "<cb>", codebook_help},
    {0, "decode-mode", CLI_STRING, &o_mode, "<code>", code_help},
    {0, "L", CLI_INT_IN, &(cli_int_spec){&o_L, 8, 16}, "<bits>", "trellis state bits, 8..16 (default 16)"},
    {0, "K", CLI_INT_IN, &(cli_int_spec){&o_K, 1, 4}, "<bits>", "bits per weight, 1..4 (default 2)"},
    {0, "V", CLI_INT_IN, &(cli_int_spec){&o_V, 1, 2}, "<n>", "values per trellis step, 1 or 2 (default 2)"},
    {0, "tlut-bits", CLI_INT_IN, &(cli_int_spec){&o_Q, 0, 16}, "<q>", "HYB table bits (default 9; L for lut, 0 otherwise)"},
    {0, "td-x", CLI_INT_IN, &(cli_int_spec){&o_tdx, 1, 1 << 16}, "<rows>", "tile rows (default 16)"},
    {0, "td-y", CLI_INT_IN, &(cli_int_spec){&o_tdy, 1, 64}, "<cols>", "tile columns, at most 64 (default 16)"},
    {0, "sigma-reg", CLI_DOUBLE_IN, &(cli_double_spec){&o_sigma, 0, 1e6}, "<x>", "Hessian damping in units of mean(diag) (default 0.01)"},
    {0, "scale-override", CLI_DOUBLE_IN, &(cli_double_spec){&o_scale, -INFINITY, 100}, "<x>", "target RMS factor (default 0.9 trellis, codebook opt_scale e8p)"},
    {0, "seed", CLI_STRING, &o_seed, "<n>", "seed of the sign vectors (default 0)"},
    {0, "refine-passes", CLI_INT_IN, &(cli_int_spec){&o_refine, 0, 1000}, "<n>", "greedy passes after LDLQ (default 10 e8p, 0 trellis)"},
    {0, "no-ldlq", CLI_FLAG, &o_no_ldlq, NULL, "round without error feedback (a baseline, worse)"},
    {0, "tail-biting", CLI_STRING, &o_tail, "<search>", "trellis tail-biting search: two-pass (default, the reference's) or best-of-<n> (slower, lower error)"},
    {0, "tp", CLI_INT_IN, &(cli_int_spec){&o_tp, 1, 1024}, "<n>", "tensor-parallel degree to serve at: the sharded side's RHT becomes n Hadamards, one per shard (default 1: whole layer)"},
    {0, "tp-split", CLI_ENUM, &(cli_enum_spec){&o_tp_split, tp_split_names}, "<side>", "the side --tp shards: input (row-parallel: o_proj, down_proj), output (column-parallel: q/k/v, gate/up), auto (default: from the tensor name)"},
    {0, "device", CLI_STRING, &o_device, "<d>", "cpu, cuda, cuda:<k> or auto (default cpu; cuda = cuda:0): the trellis layer (RHT, LDL, LDLQ, Viterbi) on the GPU, same codes as the CPU up to cuBLAS/cuSOLVER summation order (rotated proxy loss within 2% of the CPU's; docs/kernels.md); with refinement passes only the Viterbi; E8P and best-of-n stay on the CPU; auto falls back to the CPU and says so"},
    CLI_END,
};

static const cli_command cmd = {
    "qtip-quantize", usage,
    "Quantize one linear layer: incoherence processing (RHT), BlockLDLQ with the "
    "layer's input Hessian, QTIP bitshift trellis codes (default) or QuIP# E8P lattice "
    "codes (--codebook). Writes a per-layer artifact (docs/formats/layer-artifact.md).",
    options,
};

/* The names of the code traits table (HYB as hyb) and of the E8P kinds table. */
static const char *code_label(int c)
{
    const qtip_code_traits *t = qtip_code_get_traits(c);
    return !t ? NULL : t->alias ? t->alias : t->name;
}

static const char *codebook_label(int k) { return qtip_e8p_name((qtip_e8p_kind)k); }

/* "a, b or c": every name label(0), label(1), ... up to the first NULL. */
static void join_names(char *buf, size_t size, const char *(*label)(int))
{
    size_t len = 0;
    int n = 0;
    while (label(n)) n++;
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
                                i == 0 ? "" : i == n - 1 ? " or " : ", ", label(i));
}

static char code_list[128], codebook_list[96];

static void build_help(void)
{
    join_names(code_list, sizeof code_list, code_label);
    join_names(codebook_list, sizeof codebook_list, codebook_label);
    snprintf(code_help, sizeof code_help, "trellis code: %s (default hyb, the reference's quantlut_sym)",
             code_list);
    snprintf(codebook_help, sizeof codebook_help, "%s (selects the QuIP# path)", codebook_list);
}

static void set_codebook(qtip_quant_params *p, const char *s)
{
    int k = qtip_e8p_from_name(s);
    if (k < 0) cli_bad_value(&cmd, "--codebook", codebook_list, s);
    *p = qtip_quant_switch_method(p, QTIP_METHOD_E8P);
    p->e8p = (qtip_e8p_kind)k;
}

static void read_config(const char *path, qtip_quant_params *p)
{
    qtip_status s = qtip_quant_params_from_json(path, p);
    if (s == QTIP_E_PARAM) cli_usage_error(&cmd, "%s", qtip_last_error());
    if (s) exit(cli_fail(s));
}

/* The trellis fields given on the command line, then the code's rule for V and
 * tlut bits where neither was given (qtip_trellis_set_code). */
static void set_trellis(qtip_trellis_params *t)
{
    if (o_mode) {
        int c = qtip_code_from_name(o_mode);
        if (c < 0) cli_bad_value(&cmd, "--decode-mode", code_list, o_mode);
        t->code = (qtip_code)c;
    }
    int *const field[] = {&t->L, &t->K, &t->V, &t->Q, &t->td_x, &t->td_y};
    const int given[] = {o_L, o_K, o_V, o_Q, o_tdx, o_tdy};
    for (int i = 0; i < 6; i++)
        if (given[i] != NOT_GIVEN) *field[i] = given[i];
    if (o_mode || o_config) qtip_trellis_set_code(t, (int)t->code, !o_mode || o_V != NOT_GIVEN, o_Q != NOT_GIVEN);
}

/* --seed: any uint64 (CLI_U64 would leave no value meaning "not given"). */
static uint64_t seed_of(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-') cli_bad_value(&cmd, "--seed", "a non-negative integer", s);
    return v;
}

/* --tail-biting: the library's names; best-of-1 is two-pass. */
static int tail_biting_of(const char *s)
{
    int n = qtip_trellis_tail_biting_from_name(s);
    if (n < 1) cli_bad_value(&cmd, "--tail-biting", "two-pass or best-of-<n> with n from 1 to 65536", s);
    return n >= 2 ? n : 0;
}

/* --device: cpu, cuda (= cuda:0), cuda:<k> or auto (exit 2 for anything else). */
static void set_device(qtip_quant_params *p, const char *s)
{
    static const char *const expected = "cpu, cuda, cuda:<k> or auto";
    p->device_index = 0;
    if (!strcmp(s, "cpu")) p->device = QTIP_DEVICE_CPU;
    else if (!strcmp(s, "auto")) p->device = QTIP_DEVICE_AUTO;
    else if (!strcmp(s, "cuda")) p->device = QTIP_DEVICE_CUDA;
    else if (!strncmp(s, "cuda:", 5) && s[5] >= '0' && s[5] <= '9') {
        char *end;
        errno = 0;
        long k = strtol(s + 5, &end, 10);
        if (errno || *end || k > 1023) cli_bad_value(&cmd, "--device", expected, s);
        p->device = QTIP_DEVICE_CUDA;
        p->device_index = (int)k;
    } else
        cli_bad_value(&cmd, "--device", expected, s);
}

/* Defaults, then --config, then the options. */
static qtip_quant_params params_from_options(void)
{
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    if (o_config) read_config(o_config, &p);
    if (o_method >= 0) p = qtip_quant_switch_method(&p, (qtip_quant_method)o_method);
    if (o_codebook) set_codebook(&p, o_codebook);
    set_trellis(&p.trellis);
    if (o_sigma != NUM_NOT_GIVEN) p.sigma_reg = o_sigma;
    if (o_scale != NUM_NOT_GIVEN) p.scale_override = o_scale;
    if (o_seed) p.seed = seed_of(o_seed);
    if (o_refine != NOT_GIVEN) p.refine_passes = o_refine;
    if (o_no_ldlq) p.ldlq = 0;
    if (o_tail) p.tail_biting = tail_biting_of(o_tail);
    if (o_device) set_device(&p, o_device);
    if (o_tp != NOT_GIVEN) p.tp_size = o_tp;
    if (o_tp_split >= 0) p.tp_split = o_tp_split;
    if (p.tp_size > 1 && p.tp_split == QTIP_TP_SPLIT_AUTO && qtip_tp_split_for_name(o_tensor) == QTIP_TP_SPLIT_AUTO)
        cli_usage_error(&cmd, "--tp %d: the name '%s' says neither row-parallel (o_proj, down_proj, ...) nor "
                        "column-parallel (q/k/v, gate/up, ...): give --tp-split input or output",
                        p.tp_size, o_tensor);
    if (qtip_quant_check_params(&p)) cli_usage_error(&cmd, "%s", qtip_last_error());
    return p;
}

static void report(const qtip_layer_artifact *a)
{
    if (cli_g.json) {
        char *text = qtip_layer_artifact_json(a);
        json_t *summary = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (!summary) cli_die("out of memory");
        json_t *o = json_object();
        json_object_set_new(o, "output", json_string(o_output));
        json_object_update(o, summary);
        json_decref(summary);
        json_object_set_new(o, "threads", json_integer(qtip_get_threads()));
        cli_print_json(o);
    } else if (cli_g.verbosity > 0) {
        qtip_layer_info info;
        qtip_layer_artifact_info(a, &info);
        printf("quantized '%s' [%lld, %lld] to '%s': proxy loss %.6g at %g bits/weight (%.1f s)\n",
               info.tensor, (long long)info.m, (long long)info.n, o_output, info.proxy_loss,
               info.bits_per_weight, info.seconds);
        if (info.params.tp_size > 1)
            printf("  RHT per shard: %d shards of the %s side (tensor-parallel degree %d)\n",
                   info.params.tp_size, qtip_tp_split_name(info.params.tp_split), info.params.tp_size);
    }
}

int main(int argc, char **argv)
{
    build_help();
    int npos = cli_parse(&cmd, argc, argv);
    cli_expect_args(&cmd, npos, 1, 1, "weights file or model directory");
    cli_require(&cmd, o_tensor, "--tensor <name>");
    cli_require(&cmd, o_output, "-o <out>");
    if (!o_hessian == !o_identity)
        cli_usage_error(&cmd, "give exactly one of '--hessian <file>' and '--identity-hessian'");
    qtip_quant_params p = params_from_options();

    qtip_quantizer *q = NULL;
    qtip_layer_artifact *a = NULL;
    qtip_status s = qtip_quantizer_create(&p, &q);
    if (!s) s = qtip_quantize_layer_file(q, argv[1], o_tensor, o_identity ? NULL : o_hessian, &a);
    if (!s) s = qtip_layer_artifact_save(a, o_output);
    if (!s) report(a);
    qtip_layer_artifact_free(a);
    qtip_quantizer_free(q);
    return s ? cli_fail(s) : CLI_EXIT_OK;
}
