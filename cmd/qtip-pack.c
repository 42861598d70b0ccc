/* qtip-pack — a loadable model directory from the original model and per-layer artifacts. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {
    "qtip-pack [--format <fmt>] [--max-shard-size <bytes>] [--allow-mixed] [--follow-links] -o <out-dir> "
    "<model-dir> <artifact>...",
    NULL};

int main(int argc, char **argv)
{
    const char *out = NULL, *format = "qtip";
    uint64_t shard = 5ull << 30;
    int mixed = 0, follow = 0;
    cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<dir>", "output directory (must not exist)"},
        {0, "format", CLI_STRING, &format, "<fmt>", "qtip (default), qtip-reference or quip-for-all"},
        {0, "max-shard-size", CLI_U64, &shard, "<bytes>", "split the weights above this size (default 5 GiB)"},
        {0, "allow-mixed", CLI_FLAG, &mixed, NULL, "accept artifacts made with different settings"},
        {0, "follow-links", CLI_FLAG, &follow, NULL,
         "copy files linked from outside the model directory (refused by default)"},
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
    if (qtip_export_format_from_name(format, &o.format)) cli_usage_error(&cmd, "unknown --format '%s'", format);
    int na = npos - 1;
    qtip_layer_artifact **arts = calloc((size_t)na, sizeof *arts);
    qtip_layer_info *layers = calloc((size_t)na, sizeof *layers);
    if (!arts || !layers) cli_die("out of memory");
    qtip_model_dir *md = NULL;
    qtip_status s = qtip_model_dir_open(argv[1], follow ? QTIP_MODEL_DIR_FOLLOW_LINKS : 0, &md);
    for (int i = 0; !s && i < na; i++) {
        s = qtip_layer_artifact_load(argv[2 + i], &arts[i]);
        if (!s) qtip_layer_artifact_info(arts[i], &layers[i]);
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
