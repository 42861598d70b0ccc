/* qtip-verify — check a packed model directory; decode and measure every layer. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const usage[] = {
    "qtip-verify [--original <dir>] [--hessians <dir>] [--max-proxy-loss <x>] [--max-rel-error <x>] "
    "[--forward-tol <x>] [--dequantize <out-dir> [--dtype <f16|bf16|f32>] [--max-shard-size <bytes>]] "
    "<packed-dir>",
    "qtip-verify --artifact <layer.safetensors> --dequantize <out.safetensors> [--dtype <f16|bf16|f32>]",
    NULL};

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

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
                                                 (json_int_t)l->m, (json_int_t)l->n, "rel_error", num(l->rel_error),
                                                 "proxy_loss", num(l->proxy_loss), "recorded_proxy_loss",
                                                 num(l->recorded_proxy_loss), "proxy_matches", l->proxy_matches,
                                                 "forward_max_error", num(l->forward_max_error),
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

int main(int argc, char **argv)
{
    qtip_verify_options o;
    qtip_verify_options_default(&o);
    const char *dtype = "f16", *artifact = NULL;
    o.dequantize_max_shard_size = 5ull << 30;
    cli_option opts[] = {
        {0, "original", CLI_STRING, &o.original_dir, "<dir>", "original model: relative errors"},
        {0, "hessians", CLI_STRING, &o.hessian_dir, "<dir>", "Hessians <prefix>.safetensors: proxy loss"},
        {0, "max-proxy-loss", CLI_DOUBLE, &o.max_proxy_loss, "<x>", "fail (exit 3) above this proxy loss"},
        {0, "max-rel-error", CLI_DOUBLE, &o.max_rel_error, "<x>", "fail (exit 3) above this relative error"},
        {0, "forward-tol", CLI_DOUBLE, &o.forward_tol, "<x>", "forward check tolerance (default 1e-4)"},
        {0, "dequantize", CLI_STRING, &o.dequantize_dir, "<dir>",
         "write a plain model directory (with --artifact: a safetensors file)"},
        {0, "artifact", CLI_STRING, &artifact, "<file>", "decode this layer artifact to --dequantize"},
        {0, "dtype", CLI_STRING, &dtype, "<t>", "dtype of --dequantize: f16 (default), bf16, f32"},
        {0, "max-shard-size", CLI_U64, &o.dequantize_max_shard_size, "<bytes>",
         "split the --dequantize weights above this size (default 5 GiB)"},
        CLI_END};
    cli_command cmd = {"qtip-verify", usage,
                       "Check a packed model directory against its config, decode every layer and "
                       "report errors; thresholds turn the report into exit code 3.", opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (strcmp(dtype, "f16") == 0) o.dequantize_dtype = QTIP_DT_F16;
    else if (strcmp(dtype, "bf16") == 0) o.dequantize_dtype = QTIP_DT_BF16;
    else if (strcmp(dtype, "f32") == 0) o.dequantize_dtype = QTIP_DT_F32;
    else cli_usage_error(&cmd, "unknown --dtype '%s'", dtype);
    if (artifact) {
        if (npos != 0) cli_usage_error(&cmd, "--artifact takes no packed directory");
        if (!o.dequantize_dir) cli_usage_error(&cmd, "--artifact needs --dequantize <out.safetensors>");
        qtip_status s = qtip_verify_artifact_dequantize(artifact, o.dequantize_dir, o.dequantize_dtype);
        if (s) return cli_fail(s);
        if (cli_g.json) cli_print_json(json_pack("{s:s,s:s}", "artifact", artifact, "output", o.dequantize_dir));
        return CLI_EXIT_OK;
    }
    if (npos != 1) cli_usage_error(&cmd, "need exactly one packed directory");
    if (o.hessian_dir && !o.original_dir) cli_usage_error(&cmd, "--hessians needs --original");
    qtip_verify_report *r = NULL;
    qtip_status s = qtip_verify_model(argv[1], &o, &r);
    if (s) return fail_exit(s);
    const char *msg;
    size_t fails = qtip_verify_report_failures(r, &msg);
    print_report(r, argv[1], fails);
    if (fails) cli_error("%zu check(s) failed; first: %s", fails, msg);
    qtip_verify_report_free(r); /* owns msg */
    return fails ? CLI_EXIT_MISMATCH : CLI_EXIT_OK;
}
