/* qtip-verify — check a packed model directory; decode and measure every layer. */
#include "cli.h"

#include <math.h>
#include <stdio.h>

static const char *const usage[] = {
    "qtip-verify [--original <dir>] [--hessians <dir>] [--max-proxy-loss <x>] [--max-rel-error <x>] "
    "[--forward-tol <x>] [--dequantize <out-dir> [--dtype <t>] [--max-shard-size <bytes>]] "
    "<packed-dir>",
    "qtip-verify --artifact <layer.safetensors> --dequantize <out.safetensors> [--dtype <t>]",
    NULL};

/* --dtype: the names, then the dtypes in the same order. */
static const char *const dtype_names[] = {"f16", "bf16", "f32", NULL};
static const qtip_dtype dtype_values[] = {QTIP_DT_F16, QTIP_DT_BF16, QTIP_DT_F32};

/* Exit 1: the directory (or an input named by an option) cannot be read or
 * verified at all; exit 3: it was read and something in it is wrong. */
static int fail_exit(qtip_status s)
{
    cli_fail(s);
    switch (s) {
    case QTIP_E_FORMAT: case QTIP_E_SHAPE: case QTIP_E_MISMATCH: case QTIP_E_NONFINITE:
    case QTIP_E_NOT_FOUND:
        return CLI_EXIT_MISMATCH;
    default:
        return CLI_EXIT_FAIL;
    }
}

static void print_report(const qtip_verify_report *r, const char *dir, size_t fails)
{
    if (cli_g.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < qtip_verify_report_count(r); i++) {
            const qtip_verify_layer *l = qtip_verify_report_layer(r, i);
            json_array_append_new(arr, json_pack("{s:s,s:[I,I],s:o,s:o,s:o,s:b,s:o,s:o}", "name", l->name, "shape",
                                                 (json_int_t)l->m, (json_int_t)l->n, "rel_error", cli_json_number(l->rel_error),
                                                 "proxy_loss", cli_json_number(l->proxy_loss), "recorded_proxy_loss",
                                                 cli_json_number(l->recorded_proxy_loss), "proxy_matches", l->proxy_matches,
                                                 "forward_max_error", cli_json_number(l->forward_max_error),
                                                 "weights_checksum_ok",
                                                 l->weights_checksum_ok < 0 ? json_null()
                                                                            : json_boolean(l->weights_checksum_ok)));
        }
        cli_print_json(json_pack("{s:s,s:o,s:I,s:b}", "dir", dir, "layers", arr, "failures",
                                 (json_int_t)fails, "ok", fails == 0));
        return;
    }
    printf("%-48s %12s %10s %12s %12s %10s\n", "layer", "shape", "rel_err", "proxy", "recorded", "fwd_err");
    for (size_t i = 0; i < qtip_verify_report_count(r); i++) {
        const qtip_verify_layer *l = qtip_verify_report_layer(r, i);
        char sh[32];
        snprintf(sh, sizeof sh, "%lldx%lld", (long long)l->m, (long long)l->n);
        printf("%-48s %12s %10.6f %12.8g %12.8g %10.2e%s\n", l->name, sh, l->rel_error, l->proxy_loss,
               l->recorded_proxy_loss, l->forward_max_error, l->proxy_matches ? "" : "  MISMATCH");
    }
}

/* --artifact A --dequantize out: one layer's W_hat, no packed directory. */
static int dequantize_artifact(const cli_command *cmd, int npos, const char *artifact,
                               const qtip_verify_options *o)
{
    cli_expect_args(cmd, npos, 0, 0, "arguments besides --artifact");
    cli_require(cmd, o->dequantize_dir, "--dequantize <out.safetensors>");
    qtip_status s = qtip_verify_artifact_dequantize(artifact, o->dequantize_dir, o->dequantize_dtype);
    if (s) return cli_fail(s);
    if (cli_g.json) cli_print_json(json_pack("{s:s,s:s}", "artifact", artifact, "output", o->dequantize_dir));
    return CLI_EXIT_OK;
}

static int verify_dir(const cli_command *cmd, int npos, const char *dir, const qtip_verify_options *o)
{
    cli_expect_args(cmd, npos, 1, 1, "packed directory");
    if (o->hessian_dir) cli_require(cmd, o->original_dir, "--original <dir> (--hessians needs it)");
    qtip_verify_report *r = NULL;
    qtip_status s = qtip_verify_model(dir, o, &r);
    if (s) return fail_exit(s);
    const char *msg;
    size_t fails = qtip_verify_report_failures(r, &msg);
    print_report(r, dir, fails);
    if (fails) cli_error("%zu check(s) failed; first: %s", fails, msg);
    qtip_verify_report_free(r); /* owns msg */
    return fails ? CLI_EXIT_MISMATCH : CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    qtip_verify_options o;
    qtip_verify_options_default(&o);
    const char *artifact = NULL;
    int dtype = 0;
    o.dequantize_max_shard_size = 5ull << 30;
    const cli_option opts[] = {
        {0, "original", CLI_STRING, &o.original_dir, "<dir>", "original model: relative errors"},
        {0, "hessians", CLI_STRING, &o.hessian_dir, "<dir>", "Hessians <prefix>.safetensors: proxy loss"},
        {0, "max-proxy-loss", CLI_DOUBLE_IN, &(cli_double_spec){&o.max_proxy_loss, 0, INFINITY}, "<x>",
         "fail (exit 3) above this proxy loss"},
        {0, "max-rel-error", CLI_DOUBLE_IN, &(cli_double_spec){&o.max_rel_error, 0, INFINITY}, "<x>",
         "fail (exit 3) above this relative error"},
        {0, "forward-tol", CLI_DOUBLE_IN, &(cli_double_spec){&o.forward_tol, 0, INFINITY}, "<x>",
         "forward check tolerance (default 1e-4)"},
        {0, "dequantize", CLI_STRING, &o.dequantize_dir, "<out-dir>",
         "write a plain model directory (with --artifact: a safetensors file)"},
        {0, "artifact", CLI_STRING, &artifact, "<layer.safetensors>", "decode this layer artifact to --dequantize"},
        {0, "dtype", CLI_ENUM, &(cli_enum_spec){&dtype, dtype_names}, "<t>",
         "dtype of --dequantize: f16 (default), bf16, f32"},
        {0, "max-shard-size", CLI_U64, &o.dequantize_max_shard_size, "<bytes>",
         "split the --dequantize weights above this size (default 5 GiB)"},
        CLI_END};
    const cli_command cmd = {"qtip-verify", usage,
                             "Check a packed model directory against its config, decode every layer and "
                             "report errors; thresholds turn the report into exit code 3.", opts};
    int npos = cli_parse(&cmd, argc, argv);
    o.dequantize_dtype = dtype_values[dtype];
    return artifact ? dequantize_artifact(&cmd, npos, artifact, &o) : verify_dir(&cmd, npos, argv[1], &o);
}
