/* qtip-pack — a loadable model directory from the original model and per-layer artifacts. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {
    "qtip-pack [--format <fmt>] [--max-shard-size <bytes>] [--allow-mixed] -o <out-dir> <model-dir> <artifact>...",
    NULL};

int main(int argc, char **argv)
{
    const char *out = NULL, *format = "qtip";
    uint64_t shard = 5ull << 30;
    int mixed = 0;
    cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<dir>", "output directory (must not exist)"},
        {0, "format", CLI_STRING, &format, "<fmt>", "qtip (default), qtip-reference or quip-for-all"},
        {0, "max-shard-size", CLI_U64, &shard, "<bytes>", "split the weights above this size (default 5 GiB)"},
        {0, "allow-mixed", CLI_FLAG, &mixed, NULL, "accept artifacts made with different settings"},
        CLI_END};
    cli_command cmd = {"qtip-pack", usage,
                       "Replace every quantized linear of <model-dir> by its packed tensors and write a "
                       "complete model directory atomically.", opts};
    int npos = cli_parse(&cmd, argc, argv);
    if (!out) cli_usage_error(&cmd, "missing -o <out-dir>");
    if (npos < 2) cli_usage_error(&cmd, "need a model directory and at least one artifact");
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    o.max_shard_size = shard;
    o.allow_mixed = mixed;
    if (strcmp(format, "qtip") == 0) o.format = QTIP_EXPORT_CANONICAL;
    else if (strcmp(format, "qtip-reference") == 0) o.format = QTIP_EXPORT_QTIP_REF;
    else if (strcmp(format, "quip-for-all") == 0) o.format = QTIP_EXPORT_QUIP_FOR_ALL;
    else cli_usage_error(&cmd, "unknown --format '%s'", format);
    int na = npos - 1;
    qtip_layer_artifact **arts = calloc((size_t)na, sizeof *arts);
    qtip_packed_layer *layers = calloc((size_t)na, sizeof *layers);
    if (!arts || !layers) cli_die("out of memory");
    qtip_model_dir *md = NULL;
    qtip_status s = qtip_model_dir_open(argv[1], &md);
    for (int i = 0; !s && i < na; i++) {
        s = qtip_layer_artifact_load(argv[2 + i], &arts[i]);
        if (!s) s = qtip_packed_layer_from_artifact(arts[i], &layers[i]);
    }
    if (!s) s = qtip_pack_model(md, layers, (size_t)na, &o, out);
    for (int i = 0; i < na; i++) qtip_layer_artifact_free(arts[i]);
    free(arts);
    free(layers);
    qtip_model_dir_close(md);
    if (s) return cli_fail(s);
    if (cli_g.json) cli_print_json(json_pack("{s:s,s:i,s:s}", "output", out, "layers", na, "format", format));
    return CLI_EXIT_OK;
}
