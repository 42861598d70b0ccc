/*
 * qtip-incoherence — run the incoherence step (randomized Hadamard transform) on
 * one weight, and optionally its Hessian, on its own: report mu before and after,
 * write the rotated tensors; or list the supported Hadamard orders
 * (docs/cmd/qtip-incoherence.md).
 */
#include "cli.h"

#include <math.h>
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

static json_t *json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int main(int argc, char **argv)
{
    const char *tensor = NULL, *hessian = NULL, *out = NULL;
    uint64_t seed = 0;
    int list = 0, max_i = 65536;
    const cli_option opts[] = {
        {0, "tensor", CLI_STRING, &tensor, "<name>", "the 2-D weight tensor (out x in features) to rotate"},
        {0, "hessian", CLI_STRING, &hessian, "<file>", "Hessian file of the layer's input (qtip-hessian)"},
        {0, "seed", CLI_U64, &seed, "<n>", "seed of the sign vectors (default 0)"},
        {'o', "output", CLI_STRING, &out, "<out>", "write the rotated W (and H), SU and SV as safetensors"},
        {0, "list-sizes", CLI_FLAG, &list, NULL, "print every supported Hadamard order: N, K, 2^p, construction"},
        {0, "max", CLI_INT, &max_i, "<n>", "with --list-sizes: largest order listed (default 65536)"},
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
        if (max_i < 1) cli_usage_error(&cmd, "--max must be at least 1, got %d", max_i);
        return list_sizes(max_i);
    }
    if (npos != 1) cli_usage_error(&cmd, "expected one weights file, got %d", npos);
    if (!tensor) cli_usage_error(&cmd, "--tensor is required");
    const char *path = argv[1];

    qtip_st_file *f = NULL;
    qtip_status s = qtip_st_open(path, &f);
    if (s) return cli_fail(s);
    const qtip_tensor_view *v = qtip_st_find(f, tensor);
    if (!v) {
        cli_error("cannot read '%s': no tensor '%s'", path, tensor);
        qtip_st_close(f);
        return CLI_EXIT_FAIL;
    }
    if (v->ndim != 2) {
        cli_error("cannot rotate '%s': tensor '%s' has %d dimensions, expected 2", path, tensor, v->ndim);
        qtip_st_close(f);
        return CLI_EXIT_FAIL;
    }
    int64_t m = v->shape[0], n = v->shape[1];
    int64_t Km, Kn;
    if (!qtip_had_supported(m, &Km, NULL) || !qtip_had_supported(n, &Kn, NULL)) {
        int64_t bad = qtip_had_supported(m, NULL, NULL) ? n : m, lo, hi;
        qtip_had_nearest(bad, &lo, &hi);
        cli_error("cannot rotate '%s': tensor '%s' has shape [%lld, %lld]: no hadamard transform of "
                  "order %lld (nearest supported orders are %lld and %lld)",
                  path, tensor, (long long)m, (long long)n, (long long)bad, (long long)lo, (long long)hi);
        qtip_st_close(f);
        return CLI_EXIT_FAIL;
    }
    float *W = malloc(sizeof(float) * (size_t)(m * n));
    float *SU = malloc(sizeof(float) * (size_t)n), *SV = malloc(sizeof(float) * (size_t)m);
    double *H = NULL;
    if (!W || !SU || !SV) cli_die("out of memory for a [%lld, %lld] tensor", (long long)m, (long long)n);
    s = qtip_convert_to_f32(v->dtype, v->data, (size_t)(m * n), W);
    qtip_st_close(f);
    if (s) {
        cli_error("cannot read '%s': tensor '%s': %s", path, tensor, qtip_last_error());
        return CLI_EXIT_FAIL;
    }
    if (hessian) {
        qtip_hessian *h = NULL;
        s = qtip_hessian_load(hessian, &h);
        if (s) return cli_fail(s);
        if (qtip_hessian_dim(h) != n) {
            cli_error("cannot use '%s': hessian has dimension %lld, expected %lld (in-features of '%s')",
                      hessian, (long long)qtip_hessian_dim(h), (long long)n, tensor);
            qtip_hessian_free(h);
            return CLI_EXIT_FAIL;
        }
        H = malloc(sizeof(double) * (size_t)(n * n));
        if (!H) cli_die("out of memory for a %lld x %lld hessian", (long long)n, (long long)n);
        s = qtip_hessian_expectation(h, H, NULL);
        qtip_hessian_free(h);
        if (s) return cli_fail(s);
    }

    double muW0, muW1, muH0 = NAN, muH1 = NAN;
    qtip_rht_signs(seed, tensor, "SU", n, SU);
    qtip_rht_signs(seed, tensor, "SV", m, SV);
    if ((s = qtip_rht_mu_weight(W, m, n, &muW0))) return cli_fail(s);
    if ((s = qtip_rht_weight(W, m, n, SU, SV))) return cli_fail(s);
    if ((s = qtip_rht_mu_weight(W, m, n, &muW1))) return cli_fail(s);
    if (H) {
        if ((s = qtip_rht_mu_hessian(H, n, &muH0))) return cli_fail(s);
        if ((s = qtip_rht_hessian(H, n, SU))) return cli_fail(s);
        if ((s = qtip_rht_mu_hessian(H, n, &muH1))) return cli_fail(s);
    }
    if (out) {
        qtip_st_writer *w = NULL;
        int64_t shW[2] = {m, n}, shH[2] = {n, n}, shU[1] = {n}, shV[1] = {m};
        char seedstr[32];
        snprintf(seedstr, sizeof seedstr, "%llu", (unsigned long long)seed);
        if ((s = qtip_st_writer_create(&w)) ||
            (s = qtip_st_writer_add_ref(w, tensor, QTIP_DT_F32, 2, shW, W)) ||
            (s = qtip_st_writer_add_ref(w, "SU", QTIP_DT_F32, 1, shU, SU)) ||
            (s = qtip_st_writer_add_ref(w, "SV", QTIP_DT_F32, 1, shV, SV)) ||
            (H && (s = qtip_st_writer_add_ref(w, "hessian", QTIP_DT_F64, 2, shH, H))) ||
            (s = qtip_st_writer_set_metadata(w, "qtip.seed", seedstr)) ||
            (s = qtip_st_writer_set_metadata(w, "qtip.tensor", tensor)) ||
            (s = qtip_st_writer_set_metadata(w, "qtip.transform",
                                             "W: U_m^T diag(SV) W diag(SU) U_n; hessian: U_n^T diag(SU) H diag(SU) U_n")) ||
            (s = qtip_st_writer_write(w, out, 0))) {
            qtip_st_writer_free(w);
            return cli_fail(s);
        }
        qtip_st_writer_free(w);
    }
    if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "tensor", json_string(tensor));
        json_object_set_new(o, "m", json_integer(m));
        json_object_set_new(o, "n", json_integer(n));
        json_object_set_new(o, "k_m", json_integer(Km));
        json_object_set_new(o, "k_n", json_integer(Kn));
        json_object_set_new(o, "seed", json_integer((json_int_t)seed));
        json_object_set_new(o, "mu_w_before", json_num(muW0));
        json_object_set_new(o, "mu_w_after", json_num(muW1));
        json_object_set_new(o, "mu_h_before", H ? json_num(muH0) : json_null());
        json_object_set_new(o, "mu_h_after", H ? json_num(muH1) : json_null());
        json_object_set_new(o, "output", out ? json_string(out) : json_null());
        cli_print_json(o);
    } else if (cli_g.verbosity > 0) {
        printf("tensor '%s' [%lld, %lld]: K_m = %lld, K_n = %lld, seed %llu\n", tensor, (long long)m,
               (long long)n, (long long)Km, (long long)Kn, (unsigned long long)seed);
        printf("mu(W): %.4f -> %.4f\n", muW0, muW1);
        if (H) printf("mu(H): %.4f -> %.4f\n", muH0, muH1);
        if (out) printf("wrote '%s'\n", out);
    }
    free(W); free(SU); free(SV); free(H);
    return CLI_EXIT_OK;
}
