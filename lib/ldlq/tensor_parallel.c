/*
 * tensor_parallel.c — the RHT per tensor-parallel shard: which side a layer's
 * shards split (from its name or as given), the block counts of each side's
 * Hadamard, and the shape rule a sharded layer must meet (each shard is a layer
 * of its own: divisible, with a Hadamard order and whole code tiles).
 * docs/formats/layer-artifact.md, "Tensor parallelism".
 */
#include "ldlq/quant_internal.h"
#include "incoherence/hadamard_internal.h"

#include <string.h>
#include <strings.h>

static const char *const split_names[] = {
    [QTIP_TP_SPLIT_AUTO] = "auto", [QTIP_TP_SPLIT_INPUT] = "input", [QTIP_TP_SPLIT_OUTPUT] = "output"};

const char *qtip_tp_split_name(int split)
{
    return split >= QTIP_TP_SPLIT_AUTO && split <= QTIP_TP_SPLIT_OUTPUT ? split_names[split] : NULL;
}

int qtip_tp_split_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = QTIP_TP_SPLIT_AUTO; i <= QTIP_TP_SPLIT_OUTPUT; i++)
        if (!strcasecmp(name, split_names[i])) return i;
    if (!strcasecmp(name, "row")) return QTIP_TP_SPLIT_INPUT;
    if (!strcasecmp(name, "column")) return QTIP_TP_SPLIT_OUTPUT;
    return -1;
}

/* vLLM's RowParallelLinear / ColumnParallelLinear leaves of the common decoders. */
static const char *const row_parallel[] = {"o_proj", "down_proj", "out_proj", "dense_4h_to_h",
                                           "fc2", "wo", "w2", "c_proj", NULL};
static const char *const column_parallel[] = {
    "q_proj", "k_proj", "v_proj", "qkv_proj", "gate_proj", "up_proj", "gate_up_proj",
    "query_key_value", "dense_h_to_4h", "fc1", "wq", "wk", "wv", "w1", "w3", "c_attn", "c_fc", NULL};

static int leaf_in(const char *leaf, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == len && !strncmp(leaf, *list, len)) return 1;
    return 0;
}

qtip_tp_split qtip_tp_split_for_name(const char *tensor)
{
    if (!tensor) return QTIP_TP_SPLIT_AUTO;
    size_t end = strlen(tensor);
    if (end >= 7 && !strcmp(tensor + end - 7, ".weight")) end -= 7;
    size_t start = end;
    while (start > 0 && tensor[start - 1] != '.') start--;
    if (leaf_in(tensor + start, end - start, row_parallel)) return QTIP_TP_SPLIT_INPUT;
    if (leaf_in(tensor + start, end - start, column_parallel)) return QTIP_TP_SPLIT_OUTPUT;
    return QTIP_TP_SPLIT_AUTO;
}

void qtip_tp_blocks(const qtip_quant_params *p, int64_t *out_blocks, int64_t *in_blocks)
{
    const int tp = p->tp_size > 1 ? p->tp_size : 1;
    *out_blocks = p->tp_split == QTIP_TP_SPLIT_OUTPUT ? tp : 1;
    *in_blocks = p->tp_split == QTIP_TP_SPLIT_INPUT ? tp : 1;
}

qtip_status qtip_tp_resolve_(qtip_quant_params *p, const char *tensor)
{
    if (p->tp_size <= 1) {
        p->tp_split = QTIP_TP_SPLIT_AUTO; /* nothing is split: nothing to record */
        return QTIP_OK;
    }
    if (p->tp_split == QTIP_TP_SPLIT_AUTO) p->tp_split = qtip_tp_split_for_name(tensor);
    QTIP_RETURN_ERROR_IF(p->tp_split == QTIP_TP_SPLIT_AUTO, QTIP_E_PARAM,
                         "layer '%s': tensor-parallel degree %d, but its name says neither row-parallel "
                         "(o_proj, down_proj, ...) nor column-parallel (q/k/v, gate/up, ...): give "
                         "tp_split \"input\" (row-parallel) or \"output\" (column-parallel) "
                         "(qtip-quantize --tp-split)",
                         tensor ? tensor : "", p->tp_size);
    return QTIP_OK;
}

qtip_status qtip_tp_check_shape_(const qtip_quant_params *p, int64_t m, int64_t n, const char *tensor)
{
    if (p->tp_size <= 1) return QTIP_OK;
    const int input = p->tp_split == QTIP_TP_SPLIT_INPUT;
    const char *nm = tensor ? tensor : "", *dim = input ? "in-features" : "out-features";
    const int64_t size = input ? n : m, tp = p->tp_size, shard = size / tp;
    QTIP_RETURN_ERROR_IF(p->tp_split != QTIP_TP_SPLIT_INPUT && p->tp_split != QTIP_TP_SPLIT_OUTPUT,
                         QTIP_E_PARAM, "layer '%s': tensor-parallel degree %lld without a split side",
                         nm, (long long)tp);
    QTIP_RETURN_ERROR_IF(size % tp != 0, QTIP_E_SHAPE,
                         "layer '%s' [%lld, %lld]: %s %lld is not divisible by tensor-parallel degree %lld",
                         nm, (long long)m, (long long)n, dim, (long long)size, (long long)tp);
    if (!qtip_had_supported(shard, NULL, NULL)) {
        qtip_status s = qtip_had_unsupported_error_(shard, "hadamard transform of a shard");
        qtip_error_prefix("layer '%s' [%lld, %lld]: %s %lld split %lld ways gives shards of %lld",
                          nm, (long long)m, (long long)n, dim, (long long)size, (long long)tp,
                          (long long)shard);
        return s;
    }
    /* a shard's codes must be whole tiles / code blocks: the shard is a layer of its own */
    qtip_status s = qtip_method_ops_(p->method)->check_shape(p, input ? m : shard, input ? shard : n);
    if (s) qtip_error_prefix("layer '%s' [%lld, %lld]: %s %lld split %lld ways gives shards of %lld",
                             nm, (long long)m, (long long)n, dim, (long long)size, (long long)tp,
                             (long long)shard);
    return s;
}

/* ---------------------------------------------------------------------------
 * The fields in each form: JSON (report, packed settings) and artifact metadata.
 * A layer of tp_size 1 writes none of them, so its bytes are those of a build
 * without tensor parallelism.
 * ------------------------------------------------------------------------- */

void qtip_tp_json_(const qtip_quant_params *p, json_t *o)
{
    if (p->tp_size <= 1) return;
    json_object_set_new(o, "tp_size", json_integer(p->tp_size));
    json_object_set_new(o, "tp_split", json_string(qtip_tp_split_name(p->tp_split)));
}

qtip_status qtip_tp_from_json_(json_t *o, const char *where, qtip_quant_params *p)
{
    json_t *size = json_object_get(o, "tp_size"), *split = json_object_get(o, "tp_split");
    p->tp_size = 1;
    p->tp_split = QTIP_TP_SPLIT_AUTO;
    if (!size && !split) return QTIP_OK;
    QTIP_RETURN_ERROR_IF(!json_is_integer(size) || json_integer_value(size) < 1 ||
                             json_integer_value(size) > 1024,
                         QTIP_E_FORMAT, "%s: tp_size must be an integer in 1..1024", where);
    p->tp_size = (int)json_integer_value(size);
    if (p->tp_size == 1 && !split) return QTIP_OK;
    int sp = json_is_string(split) ? qtip_tp_split_from_name(json_string_value(split)) : -1;
    QTIP_RETURN_ERROR_IF(sp != QTIP_TP_SPLIT_INPUT && sp != QTIP_TP_SPLIT_OUTPUT, QTIP_E_FORMAT,
                         "%s: tp_size %d needs tp_split \"input\" or \"output\"", where, p->tp_size);
    p->tp_split = p->tp_size > 1 ? sp : QTIP_TP_SPLIT_AUTO;
    return QTIP_OK;
}

qtip_status qtip_tp_write_meta_(const qtip_quant_params *p, qtip_st_writer *w)
{
    if (p->tp_size <= 1) return QTIP_OK;
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "tp_size", "%d", p->tp_size));
    return qtip_meta_set_(w, "tp_split", "%s", qtip_tp_split_name(p->tp_split));
}

qtip_status qtip_tp_read_meta_(const qtip_st_file *f, const char *path, qtip_quant_params *p)
{
    long long tp;
    QTIP_FORWARD_IF_ERROR(qtip_meta_int_(f, path, "tp_size", 2, 1024, &tp));
    const char *split = qtip_st_metadata(f, "tp_split");
    int sp = split ? qtip_tp_split_from_name(split) : -1;
    QTIP_RETURN_ERROR_IF(sp != QTIP_TP_SPLIT_INPUT && sp != QTIP_TP_SPLIT_OUTPUT, QTIP_E_FORMAT,
                         "'%s': metadata 'tp_split' is '%s', expected 'input' or 'output'", path,
                         split ? split : "(missing)");
    p->tp_size = (int)tp;
    p->tp_split = sp;
    return QTIP_OK;
}
