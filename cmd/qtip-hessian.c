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
    "qtip-hessian info [--sigma <x>] [--centered | --uncentered] [--json] <hessian>",
    "qtip-hessian export [--full] [--centered | --uncentered] [--dtype <t>] -o <out> <hessian>",
    "qtip-hessian import [--site <name>] [--centered | --uncentered] -o <out> <file>",
    NULL,
};
static const cli_option no_options[] = {CLI_END};
static const cli_command top = {"qtip-hessian", top_usage,
                                "Hessians of layer inputs: accumulate S = sum x x^T from activation "
                                "files, merge partial results, inspect, and convert to and from the "
                                "reference tools' flatH layout.",
                                no_options};

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
        if (qtip_hessian_import_centering(h)[0])
            json_object_set_new(o, "import_centering", json_string(qtip_hessian_import_centering(h)));
        cli_print_json(o);
    } else if (cli_g.verbosity > 0) {
        printf("%s %llu rows (%llu skipped), n = %lld, from %zu input(s) into '%s'\n", verb,
               (unsigned long long)qtip_hessian_count(h), (unsigned long long)qtip_hessian_skipped(h),
               (long long)qtip_hessian_dim(h), qtip_hessian_input_count(h), out);
        if (qtip_hessian_import_centering(h)[0])
            printf("the stored matrix was taken as %s\n", qtip_hessian_import_centering(h));
    }
}

/* accumulate's raw dtypes, in the order of the --dtype names. */
static const char *const dtype_names[] = {"f32", "f16", "bf16", "f64", NULL};
static const qtip_dtype dtype_values[] = {QTIP_DT_F32, QTIP_DT_F16, QTIP_DT_BF16, QTIP_DT_F64};

/* --centered / --uncentered: at most one; neither is AUTO. */
static qtip_hessian_centering centering_flags(const cli_command *cmd, int centered, int uncentered)
{
    if (centered && uncentered) cli_usage_error(cmd, "--centered and --uncentered exclude each other");
    return centered ? QTIP_HESSIAN_CENTERED : uncentered ? QTIP_HESSIAN_UNCENTERED : QTIP_HESSIAN_CENTERING_AUTO;
}

/* Refuse a hessian holding NaN or Inf: merging or exporting it would spread it. */
static int check_finite(qtip_hessian *h, const char *path)
{
    qtip_status s = qtip_hessian_check_finite(h, path);
    return s ? cli_fail(s) : CLI_EXIT_OK;
}

/* --device: cpu, auto, cuda or cuda:<k> (the library checks k against the GPUs). */
static void check_device(const cli_command *cmd, const char *device)
{
    if (strcmp(device, "cpu") && strcmp(device, "auto") && strcmp(device, "cuda") &&
        strncmp(device, "cuda:", 5))
        cli_bad_value(cmd, "--device", "cpu, cuda, cuda:<k> or auto", device);
}

static int cmd_accumulate(int argc, char **argv)
{
    const char *const usage[] = {top_usage[0], NULL};
    const char *out = NULL, *site = NULL, *tensor = NULL, *device = "auto";
    int skip = 0, dim = 0, dt = -1;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "the Hessian file to write (atomically)"},
        {0, "site", CLI_STRING, &site, "<name>", "layer input name, e.g. layers.3.mlp.down_proj"},
        {0, "tensor", CLI_STRING, &tensor, "<name>", "tensor to read from safetensors inputs"},
        {0, "dim", CLI_INT_IN, &(cli_int_spec){&dim, 1, 1 << 20}, "<n>", "raw input: columns per row"},
        {0, "dtype", CLI_ENUM, &(cli_enum_spec){&dt, dtype_names}, "<t>", "raw input: f32, f16, bf16 or f64"},
        {0, "skip-nonfinite", CLI_FLAG, &skip, NULL, "skip rows holding NaN or Inf (counted) instead of failing"},
        {0, "device", CLI_STRING, &device, "<d>", "cpu, cuda, cuda:<k> or auto (default: cuda when a GPU and libqtip_cuda.so are found)"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian accumulate", usage,
                             "Accumulate S = sum x x^T, sum x and the row count, in float64, from "
                             "activations of shape (..., n): .npy, safetensors, or raw rows "
                             "(--dim, --dtype); '-' reads stdin; zstd input is detected.",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    cli_require(&cmd, out, "-o <out>");
    cli_expect_args(&cmd, npos, 1, -1, "input file(s)");
    if ((dim > 0) != (dt >= 0)) cli_usage_error(&cmd, "--dim and --dtype go together (raw input)");
    check_device(&cmd, device);
    qtip_hessian_source src = {tensor, dim, dt >= 0 ? dtype_values[dt] : QTIP_DT_F32,
                               skip ? QTIP_NONFINITE_SKIP : QTIP_NONFINITE_ERROR};
    qtip_status s = qtip_hessian_set_default_device(device);
    if (s) return cli_fail(s);
    qtip_hessian *h = NULL;
    for (int i = 0; i < npos && s == QTIP_OK; i++) s = qtip_hessian_add_file(&h, site, argv[1 + i], &src);
    int rc = s ? cli_fail(s) : save_or_fail(h, out);
    if (!rc) report("accumulated", h, out);
    qtip_hessian_free(h);
    return rc;
}

/* A partial Hessian file, checked finite; on failure the message is out. */
static int load_partial(const char *path, qtip_hessian **h)
{
    qtip_status s = qtip_hessian_load(path, h);
    return s ? cli_fail(s) : check_finite(*h, path);
}

static int cmd_merge(int argc, char **argv)
{
    const char *const usage[] = {top_usage[1], NULL};
    const char *out = NULL;
    int force = 0;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "the merged Hessian file (written atomically)"},
        {0, "force-site", CLI_FLAG, &force, NULL, "merge partials even when their sites differ"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian merge", usage,
                             "Sum partial Hessian files (same n, same site) into one; exact up to "
                             "float64 rounding. A partial holding NaN or Inf is refused.",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    cli_require(&cmd, out, "-o <out>");
    cli_expect_args(&cmd, npos, 1, -1, "input file(s)");
    qtip_hessian *h = NULL;
    int rc = load_partial(argv[1], &h);
    for (int i = 1; rc == CLI_EXIT_OK && i < npos; i++) {
        qtip_hessian *p = NULL;
        rc = load_partial(argv[1 + i], &p);
        if (rc == CLI_EXIT_OK && qtip_hessian_merge(h, p, force) != QTIP_OK) {
            cli_error("cannot merge '%s' into '%s': %s", argv[1 + i], argv[1], qtip_last_error());
            rc = CLI_EXIT_FAIL;
        }
        qtip_hessian_free(p);
    }
    if (rc == CLI_EXIT_OK) rc = save_or_fail(h, out);
    if (rc == CLI_EXIT_OK) report("merged", h, out);
    qtip_hessian_free(h);
    return rc;
}

static void print_info_json(const char *path, qtip_hessian *h, const qtip_hessian_info *in)
{
    json_t *o = json_object(), *ins = json_array();
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "site", json_string(qtip_hessian_site(h)));
    json_object_set_new(o, "n", json_integer(in->n));
    json_object_set_new(o, "count", json_integer((json_int_t)in->count));
    json_object_set_new(o, "skipped", json_integer((json_int_t)in->skipped));
    json_object_set_new(o, "trace", cli_json_number(in->trace));
    json_object_set_new(o, "diag_min", cli_json_number(in->diag_min));
    json_object_set_new(o, "diag_max", cli_json_number(in->diag_max));
    json_object_set_new(o, "diag_mean", cli_json_number(in->diag_mean));
    json_object_set_new(o, "zero_diag", json_integer(in->zero_diag));
    json_object_set_new(o, "finite", json_boolean(in->finite));
    json_object_set_new(o, "sigma", cli_json_number(in->sigma));
    json_object_set_new(o, "positive_definite", json_boolean(in->pd));
    json_object_set_new(o, "condition_estimate", cli_json_number(in->cond_est));
    json_object_set_new(o, "eig_min", in->have_eig ? cli_json_number(in->eig_min) : json_null());
    json_object_set_new(o, "eig_max", in->have_eig ? cli_json_number(in->eig_max) : json_null());
    if (qtip_hessian_import_centering(h)[0])
        json_object_set_new(o, "import_centering", json_string(qtip_hessian_import_centering(h)));
    for (size_t i = 0; i < qtip_hessian_input_count(h); i++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(qtip_hessian_input_name(h, i)));
        json_object_set_new(e, "checksum", json_string(qtip_hessian_input_checksum(h, i)));
        json_array_append_new(ins, e);
    }
    json_object_set_new(o, "inputs", ins);
    cli_print_json(o);
}

static void print_info_text(const char *path, qtip_hessian *h, const qtip_hessian_info *in)
{
    printf("file:        %s\n", path);
    printf("site:        %s\n", qtip_hessian_site(h)[0] ? qtip_hessian_site(h) : "(none)");
    printf("n:           %lld\n", (long long)in->n);
    printf("count:       %llu rows (%llu skipped)\n", (unsigned long long)in->count,
           (unsigned long long)in->skipped);
    if (qtip_hessian_import_centering(h)[0])
        printf("imported:    as %s\n", qtip_hessian_import_centering(h));
    printf("trace:       %.6g\n", in->trace);
    printf("diagonal:    min %.6g, max %.6g, mean %.6g, %lld zero\n", in->diag_min, in->diag_max,
           in->diag_mean, (long long)in->zero_diag);
    printf("finite:      %s\n", in->finite ? "yes" : "NO");
    printf("damped:      sigma %.3g: %s", in->sigma, in->pd ? "positive definite" : "NOT positive definite");
    if (in->pd) printf(", condition estimate %.4g (1-norm)", in->cond_est);
    printf("\n");
    if (in->have_eig) printf("eigenvalues: damped min %.6g, max %.6g\n", in->eig_min, in->eig_max);
    printf("inputs:      %zu\n", qtip_hessian_input_count(h));
    for (size_t i = 0; i < qtip_hessian_input_count(h) && cli_g.verbosity > 1; i++)
        printf("  %s  %s\n", qtip_hessian_input_checksum(h, i), qtip_hessian_input_name(h, i));
}

static int cmd_info(int argc, char **argv)
{
    const char *const usage[] = {top_usage[2], NULL};
    double sigma = 0.01;
    int centered = 0, uncentered = 0;
    const cli_option opts[] = {
        {0, "sigma", CLI_DOUBLE_IN, &(cli_double_spec){&sigma, 0, INFINITY}, "<x>", "damping: add sigma * mean(diag) to the diagonal (default 0.01)"},
        {0, "centered", CLI_FLAG, &centered, NULL, "a reference-layout file holding 'mu' stores E[x x^T] - mu mu^T"},
        {0, "uncentered", CLI_FLAG, &uncentered, NULL, "a reference-layout file holding 'mu' stores E[x x^T]"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian info", usage,
                             "Dimension, count, trace, diagonal range, finiteness, positive "
                             "definiteness after damping and a condition estimate of E[x x^T], "
                             "of a Hessian file or a reference-layout file (as import reads it).",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    cli_expect_args(&cmd, npos, 1, 1, "Hessian file");
    qtip_hessian_centering c = centering_flags(&cmd, centered, uncentered);
    const char *path = argv[1];
    qtip_hessian *h = NULL;
    qtip_hessian_info in;
    qtip_status s = qtip_hessian_open_any(path, c, &h);
    if (!s) s = qtip_hessian_analyze(h, sigma, &in);
    if (!s && cli_g.json) print_info_json(path, h, &in);
    else if (!s) print_info_text(path, h, &in);
    qtip_hessian_free(h);
    return s ? cli_fail(s) : CLI_EXIT_OK;
}

static int cmd_export(int argc, char **argv)
{
    const char *const usage[] = {top_usage[3], NULL};
    static const char *const names[] = {"f32", "f64", NULL};
    const char *out = NULL;
    int full = 0, centered = 0, uncentered = 0, dt = 0;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "safetensors file to write (atomically)"},
        {0, "full", CLI_FLAG, &full, NULL, "write the full n x n matrix 'H' instead of 'flatH'"},
        {0, "centered", CLI_FLAG, &centered, NULL, "store E[x x^T] - mu mu^T and 'mu' (QuIP# layout)"},
        {0, "uncentered", CLI_FLAG, &uncentered, NULL, "store E[x x^T] (QTIP layout; the default)"},
        {0, "dtype", CLI_ENUM, &(cli_enum_spec){&dt, names}, "<t>", "f32 (default, as the reference tools) or f64"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian export", usage,
                             "Write E[x x^T] in the reference tools' layout: 'flatH' (lower "
                             "triangle, row-major tril order), 'n', 'ct', and 'mu' when centred; "
                             "metadata 'centered' records which. A hessian holding NaN or Inf is "
                             "refused.",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    cli_require(&cmd, out, "-o <out>");
    cli_expect_args(&cmd, npos, 1, 1, "Hessian file");
    qtip_hessian_export_opts o = {full ? QTIP_HESSIAN_FULL : QTIP_HESSIAN_FLAT,
                                  centering_flags(&cmd, centered, uncentered) == QTIP_HESSIAN_CENTERED,
                                  dt ? QTIP_DT_F64 : QTIP_DT_F32};
    qtip_hessian *h = NULL;
    qtip_status s = qtip_hessian_load(argv[1], &h);
    if (!s) s = qtip_hessian_check_finite(h, argv[1]);
    if (!s) s = qtip_hessian_export(h, out, &o);
    qtip_hessian_free(h);
    return s ? cli_fail(s) : CLI_EXIT_OK;
}

static int cmd_import(int argc, char **argv)
{
    const char *const usage[] = {top_usage[4], NULL};
    const char *out = NULL, *site = NULL;
    int centered = 0, uncentered = 0;
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out>", "the Hessian file to write (atomically)"},
        {0, "site", CLI_STRING, &site, "<name>", "layer input name to record"},
        {0, "centered", CLI_FLAG, &centered, NULL, "the file's matrix is E[x x^T] - mu mu^T: add mu mu^T back"},
        {0, "uncentered", CLI_FLAG, &uncentered, NULL, "the file's matrix is E[x x^T]; 'mu' is only the mean"},
        CLI_END};
    const cli_command cmd = {"qtip-hessian import", usage,
                             "Read a reference-layout safetensors file ('flatH' or 'H', 'n', 'ct', "
                             "optional 'mu'; scripts/pt_to_safetensors.py converts torch .pt files) "
                             "into a Hessian file with S = ct * E[x x^T]. With 'mu' and neither "
                             "flag, the file's metadata 'centered' decides, else it is taken as "
                             "centred (QuIP#'s layout) with a warning; the output records which.",
                             opts};
    int npos = cli_parse(&cmd, argc, argv);
    cli_require(&cmd, out, "-o <out>");
    cli_expect_args(&cmd, npos, 1, 1, "input file");
    qtip_hessian_centering c = centering_flags(&cmd, centered, uncentered);
    qtip_hessian *h = NULL;
    qtip_status s = qtip_hessian_import_ex(argv[1], site, c, &h);
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
