/* qtip-pack — a loadable model directory from the original model and per-layer artifacts. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {
    "qtip-pack [--format <fmt>] [--max-shard-size <bytes>] [--allow-mixed] [--follow-links] -o <out-dir> "
    "<model-dir> <artifact>...",
    NULL};

/* The library's export format names, indexed by qtip_export_format (--format). */
#define MAX_FORMATS 8
static const char *format_names[MAX_FORMATS + 1];

static void list_formats(void)
{
    for (int f = 0; f < MAX_FORMATS && qtip_export_format_name((qtip_export_format)f); f++)
        format_names[f] = qtip_export_format_name((qtip_export_format)f);
}

/* Load the artifacts, describe them and pack; the message of a failure is out. */
static qtip_status pack(const char *model, int follow, char **paths, int na, const qtip_pack_options *o,
                        const char *out)
{
    qtip_layer_artifact **arts = calloc((size_t)na, sizeof *arts);
    qtip_layer_info *layers = calloc((size_t)na, sizeof *layers);
    if (!arts || !layers) cli_die("out of memory");
    qtip_model_dir *md = NULL;
    qtip_status s = qtip_model_dir_open(model, follow ? QTIP_MODEL_DIR_FOLLOW_LINKS : 0, &md);
    for (int i = 0; !s && i < na; i++) {
        s = qtip_layer_artifact_load(paths[i], &arts[i]);
        if (!s) qtip_layer_artifact_info(arts[i], &layers[i]);
    }
    if (!s) s = qtip_pack_model(md, layers, (size_t)na, o, out);
    for (int i = 0; i < na; i++) qtip_layer_artifact_free(arts[i]);
    free(arts);
    free(layers);
    qtip_model_dir_close(md);
    return s;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    int format = QTIP_EXPORT_CANONICAL, follow = 0;
    list_formats();
    const cli_option opts[] = {
        {'o', "output", CLI_STRING, &out, "<out-dir>", "output directory (must not exist)"},
        {0, "format", CLI_ENUM, &(cli_enum_spec){&format, format_names}, "<fmt>",
         "qtip (default), qtip-reference or quip-for-all"},
        {0, "max-shard-size", CLI_U64, &o.max_shard_size, "<bytes>", "split the weights above this size (default 5 GiB)"},
        {0, "allow-mixed", CLI_FLAG, &o.allow_mixed, NULL, "accept artifacts made with different settings"},
        {0, "follow-links", CLI_FLAG, &follow, NULL,
         "copy files linked from outside the model directory (refused by default)"},
        CLI_END};
    const cli_command cmd = {"qtip-pack", usage,
                             "Replace every quantized linear of <model-dir> by its packed tensors and write a "
                             "complete model directory atomically.", opts};
    int npos = cli_parse(&cmd, argc, argv);
    cli_require(&cmd, out, "-o <out-dir>");
    cli_expect_args(&cmd, npos, 2, -1, "arguments (a model directory and its artifacts)");
    o.format = (qtip_export_format)format;
    qtip_status s = pack(argv[1], follow, argv + 2, npos - 1, &o, out);
    if (s) return cli_fail(s);
    if (cli_g.json)
        cli_print_json(json_pack("{s:s,s:i,s:s}", "output", out, "layers", npos - 1, "format", format_names[format]));
    return CLI_EXIT_OK;
}
