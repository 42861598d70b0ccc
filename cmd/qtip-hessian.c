/*
 * qtip-hessian — collect and inspect Hessians H = E[x x^T] of layer inputs.
 * Subcommands: accumulate, merge, info, export, import (docs/cmd/qtip-hessian.md).
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const top_usage[] = {
    "qtip-hessian accumulate [--site <name>] [--tensor <name>] [--dim <n> --dtype <t>] [--skip-nonfinite] [--device <d>] -o <out> <input>...",
    "qtip-hessian merge [--force-site] -o <out> <partial>...",
    "qtip-hessian info [--sigma <x>] [--json] <hessian>",
    "qtip-hessian export [--full] [--centered] [--dtype <t>] -o <out> <hessian>",
    "qtip-hessian import [--site <name>] -o <out> <file>",
    NULL,
};
static const cli_option no_options[] = {CLI_END};
static const cli_command top = {"qtip-hessian", top_usage,
                                "Hessians of layer inputs: accumulate S = sum x x^T from activation "
                                "files, merge partial results, inspect, and convert to and from the "
                                "reference tools' flatH layout.",
                                no_options};

static json_t *json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static int save_or_fail(qtip_hessian *h, const char *out)
{
    qtip_status s = qtip_hessian_save(h, out);
    return s ? cli_fail(s) : CLI_EXIT_OK;
}

static void report(const char *verb, qtip_hessian *h, const char *out)
{
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "output", json_string(out));
        json_object_set_new(o, "site", json_string(qtip_hessian_site(h)));
        json_object_set_new(o, "n", json_integer(qtip_hessian_dim(h)));
        json_object_set_new(o, "count", json_integer((json_int_t)qtip_hessian_count(h)));
        json_object_set_new(o, "skipped", json_integer((json_int_t)qtip_hessian_skipped(h)));
        json_object_set_new(o, "inputs", json_integer((json_int_t)qtip_hessian_input_count(h)));
        json_object_set_new(o, "device", json_string(qtip_hessian_device(h)));
        cli_print_json(o);
    } else if (cli_g.verbosity > 0) {
        printf("%s %llu rows (%llu skipped), n = %lld, from %zu input(s) into '%s'\n", verb,
               (unsigned long long)qtip_hessian_count(h), (unsigned long long)qtip_hessian_skipped(h),
               (long long)qtip_hessian_dim(h), qtip_hessian_input_count(h), out);
    }
}

static int parse_dtype(const cli_command *cmd, const char *s, qtip_dtype *dt)
{
    if (!strcmp(s, "f32") || !strcmp(s, "F32")) *dt = QTIP_DT_F32;
    else if (!strcmp(s, "f16") || !strcmp(s, "F16")) *dt = QTIP_DT_F16;
    else if (!strcmp(s, "bf16") || !strcmp(s, "BF16")) *dt = QTIP_DT_BF16;
    else if (!strcmp(s, "f64") || !strcmp(s, "F64")) *dt = QTIP_DT_F64;
    else cli_usage_error(cmd, "unknown dtype '%s', expected f32, f16, bf16 or f64", s);
    return 0;
}

static int cmd_accumulate(int argc, char **argv)
{
    static const char *const usage[] = {
        "qtip-hessian accumulate [--site <name>] [--tensor <name>] [--dim <n> --dtype <t>] [--skip-nonfinite] [--device <d>] -o <out> <input>...",
        NULL};
    const char *out = NULL, *site = NULL, *tensor = NULL, *dtype = NULL, *device = "auto";
    int64_t dim = 0;
    int skip = 0, dim_i = 0;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "the Hessian file to write (atomically)"},
        {0, "site", CLI_STRING, &site, "<name>", "layer input name, e.g. layers.3.mlp.down_proj"},
        {0, "tensor", CLI_STRING, &tensor, "<name>", "tensor to read from safetensors inputs"},
        {0, "dim", CLI_INT, &dim_i, "<n>", "raw input: columns per row"},
        {0, "dtype", CLI_STRING, &dtype, "<t>", "raw input: f32, f16, bf16 or f64"},
        {0, "skip-nonfinite", CLI_FLAG, &skip, NULL, "skip rows holding NaN or Inf (counted) instead of failing"},
        {0, "device", CLI_STRING, &device, "<d>", "cpu, cuda, cuda:<k> or auto (default: cuda when a GPU and libqtip_cuda.so are found)"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian accumulate", usage,
                             "Accumulate S = sum x x^T, sum x and the row count, in float64, from "
                             "activations of shape (..., n): .npy, safetensors, or raw rows "
                             "(--dim, --dtype); '-' reads stdin; zstd input is detected.",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (!out) cli_usage_error(&cmd, "missing -o <out>");
    if (npos < 1) cli_usage_error(&cmd, "no input files");
    dim = dim_i;
    if ((dim > 0) != (dtype != NULL)) cli_usage_error(&cmd, "--dim and --dtype go together (raw input)");
    if (dim < 0) cli_usage_error(&cmd, "--dim must be > 0");
    qtip_hessian_source src = {tensor, dim, QTIP_DT_F32, QTIP_NONFINITE_ERROR};
    if (dtype) parse_dtype(&cmd, dtype, &src.raw_dtype);
    if (strcmp(device, "cpu") && strcmp(device, "auto") && strncmp(device, "cuda", 4))
        cli_usage_error(&cmd, "unknown device '%s', expected cpu, cuda, cuda:<k> or auto", device);
    qtip_status ds = qtip_hessian_set_default_device(device);
    if (ds) return cli_fail(ds);
    src.nonfinite = skip ? QTIP_NONFINITE_SKIP : QTIP_NONFINITE_ERROR;
    qtip_hessian *h = NULL;
    for (int i = 0; i < npos; i++) {
        qtip_status s = qtip_hessian_add_file(&h, site, argv[1 + i], &src);
        if (s) {
            qtip_hessian_free(h);
            return cli_fail(s);
        }
    }
    int rc = save_or_fail(h, out);
    if (!rc) report("accumulated", h, out);
    qtip_hessian_free(h);
    return rc;
}

static int cmd_merge(int argc, char **argv)
{
    static const char *const usage[] = {"qtip-hessian merge [--force-site] -o <out> <partial>...", NULL};
    const char *out = NULL;
    int force = 0;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "the merged Hessian file (written atomically)"},
        {0, "force-site", CLI_FLAG, &force, NULL, "merge partials even when their sites differ"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian merge", usage,
                             "Sum partial Hessian files (same n, same site) into one; exact up to "
                             "float64 rounding.",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (!out) cli_usage_error(&cmd, "missing -o <out>");
    if (npos < 1) cli_usage_error(&cmd, "no input files");
    qtip_hessian *h = NULL;
    qtip_status s = qtip_hessian_load(argv[1], &h);
    for (int i = 1; s == QTIP_OK && i < npos; i++) {
        qtip_hessian *p = NULL;
        s = qtip_hessian_load(argv[1 + i], &p);
        if (s == QTIP_OK && (s = qtip_hessian_merge_ex(h, p, force)) != QTIP_OK) {
            cli_error("cannot merge '%s' into '%s': %s", argv[1 + i], argv[1], qtip_last_error());
            qtip_hessian_free(p);
            qtip_hessian_free(h);
            return CLI_EXIT_FAIL;
        }
        qtip_hessian_free(p);
    }
    int rc = s ? cli_fail(s) : save_or_fail(h, out);
    if (!rc) report("merged", h, out);
    qtip_hessian_free(h);
    return rc;
}

/* A qtip Hessian file, or else a reference layout (flatH / H). On failure the
 * load error is reported: it names what the file lacks. */
static int open_any(const char *path, qtip_hessian **h)
{
    qtip_status s = qtip_hessian_load(path, h);
    if (s == QTIP_OK) return CLI_EXIT_OK;
    if (s != QTIP_E_FORMAT) return cli_fail(s);
    char first[2048];
    snprintf(first, sizeof first, "%s", qtip_last_error());
    if (qtip_hessian_import(path, NULL, h) == QTIP_OK) return CLI_EXIT_OK;
    cli_error("%s", first);
    return CLI_EXIT_FAIL;
}

static int cmd_info(int argc, char **argv)
{
    static const char *const usage[] = {"qtip-hessian info [--sigma <x>] [--json] <hessian>", NULL};
    double sigma = 0.01;
    const cli_option opts[] = {
        {0, "sigma", CLI_DOUBLE, &sigma, "<x>", "damping: add sigma * mean(diag) to the diagonal (default 0.01)"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian info", usage,
                             "Dimension, count, trace, diagonal range, finiteness, positive "
                             "definiteness after damping and a condition estimate of E[x x^T].",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (npos != 1) cli_usage_error(&cmd, "expected one Hessian file");
    if (!(sigma >= 0)) cli_usage_error(&cmd, "--sigma must be >= 0");
    const char *path = argv[1];
    qtip_hessian *h = NULL;
    int rc = open_any(path, &h);
    if (rc) return rc;
    qtip_hessian_info in;
    qtip_status s = qtip_hessian_analyze(h, sigma, &in);
    if (s) {
        qtip_hessian_free(h);
        return cli_fail(s);
    }
    if (cli_g.json) {
        json_t *o = json_object(), *ins = json_array();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "site", json_string(qtip_hessian_site(h)));
        json_object_set_new(o, "n", json_integer(in.n));
        json_object_set_new(o, "count", json_integer((json_int_t)in.count));
        json_object_set_new(o, "skipped", json_integer((json_int_t)in.skipped));
        json_object_set_new(o, "trace", json_num(in.trace));
        json_object_set_new(o, "diag_min", json_num(in.diag_min));
        json_object_set_new(o, "diag_max", json_num(in.diag_max));
        json_object_set_new(o, "diag_mean", json_num(in.diag_mean));
        json_object_set_new(o, "zero_diag", json_integer(in.zero_diag));
        json_object_set_new(o, "finite", json_boolean(in.finite));
        json_object_set_new(o, "sigma", json_real(in.sigma));
        json_object_set_new(o, "positive_definite", json_boolean(in.pd));
        json_object_set_new(o, "condition_estimate", json_num(in.cond_est));
        json_object_set_new(o, "eig_min", in.have_eig ? json_num(in.eig_min) : json_null());
        json_object_set_new(o, "eig_max", in.have_eig ? json_num(in.eig_max) : json_null());
        for (size_t i = 0; i < qtip_hessian_input_count(h); i++) {
            json_t *e = json_object();
            json_object_set_new(e, "name", json_string(qtip_hessian_input_name(h, i)));
            json_object_set_new(e, "checksum", json_string(qtip_hessian_input_checksum(h, i)));
            json_array_append_new(ins, e);
        }
        json_object_set_new(o, "inputs", ins);
        cli_print_json(o);
    } else {
        printf("file:        %s\n", path);
        printf("site:        %s\n", qtip_hessian_site(h)[0] ? qtip_hessian_site(h) : "(none)");
        printf("n:           %lld\n", (long long)in.n);
        printf("count:       %llu rows (%llu skipped)\n", (unsigned long long)in.count,
               (unsigned long long)in.skipped);
        printf("trace:       %.6g\n", in.trace);
        printf("diagonal:    min %.6g, max %.6g, mean %.6g, %lld zero\n", in.diag_min, in.diag_max,
               in.diag_mean, (long long)in.zero_diag);
        printf("finite:      %s\n", in.finite ? "yes" : "NO");
        printf("damped:      sigma %.3g: %s", in.sigma, in.pd ? "positive definite" : "NOT positive definite");
        if (in.pd) printf(", condition estimate %.4g (1-norm)", in.cond_est);
        printf("\n");
        if (in.have_eig) printf("eigenvalues: damped min %.6g, max %.6g\n", in.eig_min, in.eig_max);
        printf("inputs:      %zu\n", qtip_hessian_input_count(h));
        for (size_t i = 0; i < qtip_hessian_input_count(h) && cli_g.verbosity > 1; i++)
            printf("  %s  %s\n", qtip_hessian_input_checksum(h, i), qtip_hessian_input_name(h, i));
    }
    qtip_hessian_free(h);
    return CLI_EXIT_OK;
}

static int cmd_export(int argc, char **argv)
{
    static const char *const usage[] = {"qtip-hessian export [--full] [--centered] [--dtype <t>] -o <out> <hessian>", NULL};
    const char *out = NULL, *dtype = "f32";
    int full = 0, centered = 0;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "safetensors file to write (atomically)"},
        {0, "full", CLI_FLAG, &full, NULL, "write the full n x n matrix 'H' instead of 'flatH'"},
        {0, "centered", CLI_FLAG, &centered, NULL, "store E[x x^T] - mu mu^T and 'mu' (QuIP# layout)"},
        {0, "dtype", CLI_STRING, &dtype, "<t>", "f32 (default, as the reference tools) or f64"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian export", usage,
                             "Write E[x x^T] in the reference tools' layout: 'flatH' (lower "
                             "triangle, row-major tril order), 'n', 'ct', and 'mu' when centred.",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (!out) cli_usage_error(&cmd, "missing -o <out>");
    if (npos != 1) cli_usage_error(&cmd, "expected one Hessian file");
    qtip_hessian_export_opts o = {full ? QTIP_HESSIAN_FULL : QTIP_HESSIAN_FLAT, centered, QTIP_DT_F32};
    parse_dtype(&cmd, dtype, &o.dtype);
    qtip_hessian *h = NULL;
    qtip_status s = qtip_hessian_load(argv[1], &h);
    if (!s) s = qtip_hessian_export(h, out, &o);
    qtip_hessian_free(h);
    return s ? cli_fail(s) : CLI_EXIT_OK;
}

static int cmd_import(int argc, char **argv)
{
    static const char *const usage[] = {"qtip-hessian import [--site <name>] -o <out> <file>", NULL};
    const char *out = NULL, *site = NULL;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "the Hessian file to write (atomically)"},
        {0, "site", CLI_STRING, &site, "<name>", "layer input name to record"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian import", usage,
                             "Read a reference-layout safetensors file ('flatH' or 'H', 'n', 'ct', "
                             "optional 'mu'; scripts/pt_to_safetensors.py converts torch .pt files) "
                             "into a Hessian file with S = ct * E[x x^T].",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (!out) cli_usage_error(&cmd, "missing -o <out>");
    if (npos != 1) cli_usage_error(&cmd, "expected one input file");
    qtip_hessian *h = NULL;
    qtip_status s = qtip_hessian_import(argv[1], site, &h);
    int rc = s ? cli_fail(s) : save_or_fail(h, out);
    if (!rc) report("imported", h, out);
    qtip_hessian_free(h);
    return rc;
}

int main(int argc, char **argv)
{
    cli_prog = "qtip-hessian";
    if (argc < 2 || argv[1][0] == '-') {
        cli_parse(&top, argc, argv); /* --help / --version exit here */
        cli_usage_error(&top, "expected a subcommand");
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "accumulate")) return cmd_accumulate(argc - 1, argv + 1);
    if (!strcmp(sub, "merge")) return cmd_merge(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(sub, "export")) return cmd_export(argc - 1, argv + 1);
    if (!strcmp(sub, "import")) return cmd_import(argc - 1, argv + 1);
    cli_usage_error(&top, "unknown subcommand '%s'", sub);
}
