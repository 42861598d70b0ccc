/*
 * qtip-incoherence — run the incoherence step (randomized Hadamard transform) on
 * one weight, and optionally its Hessian, on its own: report mu before and after,
 * write the rotated tensors; or list the supported Hadamard orders
 * (docs/cmd/qtip-incoherence.md).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {
    "qtip-incoherence --tensor <name> [--hessian <file>] [--seed <n>] [-o <out>] [--json] <weights.safetensors>",
    "qtip-incoherence --list-sizes [--max <n>] [--json]",
    NULL,
};

static int list_sizes(int64_t max)
{
    json_t *arr = cli_g.json ? json_array() : NULL;
    for (int64_t N = 1; N <= max; N++) {
        int64_t K;
        int p;
        if (!qtip_had_supported(N, &K, &p)) continue;
        if (arr) {
            json_t *o = json_object();
            json_object_set_new(o, "n", json_integer(N));
            json_object_set_new(o, "k", json_integer(K));
            json_object_set_new(o, "p", json_integer(p));
            json_object_set_new(o, "construction", json_string(K == 1 ? "sylvester" : qtip_had_construction(K)));
            json_array_append_new(arr, o);
        } else {
            printf("%lld\t%lld\t2^%d\t%s\n", (long long)N, (long long)K, p,
                   K == 1 ? "sylvester" : qtip_had_construction(K));
        }
    }
    if (arr) cli_print_json(arr);
    return CLI_EXIT_OK;
}

static void print_result(const qtip_incoherence *r, const char *out)
{
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "tensor", json_string(r->tensor));
        json_object_set_new(o, "m", json_integer(r->m));
        json_object_set_new(o, "n", json_integer(r->n));
        json_object_set_new(o, "k_m", json_integer(r->k_m));
        json_object_set_new(o, "k_n", json_integer(r->k_n));
        json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
        json_object_set_new(o, "mu_w_before", cli_json_number(r->mu_w_before));
        json_object_set_new(o, "mu_w_after", cli_json_number(r->mu_w_after));
        json_object_set_new(o, "mu_h_before", cli_json_number(r->mu_h_before));
        json_object_set_new(o, "mu_h_after", cli_json_number(r->mu_h_after));
        json_object_set_new(o, "output", out ? json_string(out) : json_null());
        cli_print_json(o);
    } else if (cli_g.verbosity > 0) {
        printf("tensor '%s' [%lld, %lld]: K_m = %lld, K_n = %lld, seed %llu\n", r->tensor,
               (long long)r->m, (long long)r->n, (long long)r->k_m, (long long)r->k_n,
               (unsigned long long)r->seed);
        printf("mu(W): %.4f -> %.4f\n", r->mu_w_before, r->mu_w_after);
        if (r->H) printf("mu(H): %.4f -> %.4f\n", r->mu_h_before, r->mu_h_after);
        if (out) printf("wrote '%s'\n", out);
    }
}

int main(int argc, char **argv)
{
    const char *tensor = NULL, *hessian = NULL, *out = NULL;
    uint64_t seed = 0;
    int list = 0, max = 65536;
    const cli_option opts[] = {
        {0, "tensor", CLI_STRING, &tensor, "<name>", "the 2-D weight tensor (out x in features) to rotate"},
        {0, "hessian", CLI_STRING, &hessian, "<file>", "Hessian file of the layer's input (qtip-hessian, or a reference layout)"},
        {0, "seed", CLI_U64, &seed, "<n>", "seed of the sign vectors (default 0)"},
        {'o', "output", CLI_STRING, &out, "<out>", "write the rotated W (and H), SU and SV as safetensors"},
        {0, "list-sizes", CLI_FLAG, &list, NULL, "print every supported Hadamard order: N, K, 2^p, construction"},
        {0, "max", CLI_INT_IN, &(cli_int_spec){&max, 1, 1 << 30}, "<n>", "with --list-sizes: largest order listed (default 65536)"},
        CLI_END};
    const cli_command cmd = {
        "qtip-incoherence", usage,
        "Apply the randomized Hadamard transform of QTIP / QuIP# to one layer: "
        "Wr = U_m^T diag(SV) W diag(SU) U_n and Hr = U_n^T diag(SU) H diag(SU) U_n, with sign "
        "vectors determined by the seed and the tensor name. Reports the incoherence mu of W "
        "and H before and after.",
        opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (list) {
        if (npos || tensor || hessian || out) cli_usage_error(&cmd, "--list-sizes takes no other arguments");
        return list_sizes(max);
    }
    cli_expect_args(&cmd, npos, 1, 1, "weights file");
    cli_require(&cmd, tensor, "--tensor <name>");
    qtip_incoherence *r = NULL;
    qtip_status s = qtip_incoherence_run(argv[1], tensor, hessian, seed, &r);
    if (!s && out) s = qtip_incoherence_save(r, out);
    if (!s) print_result(r, out);
    qtip_incoherence_free(r);
    return s ? cli_fail(s) : CLI_EXIT_OK;
}
