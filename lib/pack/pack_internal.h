/*
 * pack_internal.h — the model-directory writer (lib/pack/model_writer.c): the one
 * place that writes a whole model directory atomically, used by qtip-pack and by
 * qtip-verify --dequantize. Private to libqtip.
 */
#ifndef QTIP_PACK_INTERNAL_H
#define QTIP_PACK_INTERNAL_H

#include "core/internal.h"

#include <jansson.h>

typedef struct qtip_model_writer qtip_model_writer;

/* Start writing the model directory `out` in a temporary sibling named
 * "<out>.qtip-tmp.<host>-<pid>_<start>.XXXXXX". Refuses an existing `out` (QTIP_E_IO).
 * First removes the temporaries of the same `out` left by killed runs of this host
 * (their pid is no longer alive); nothing else is touched. Tensors go to shards
 * of at most `max_shard` bytes (0: one file). */
qtip_status qtip_model_writer_open(const char *out, uint64_t max_shard, qtip_model_writer **w);

/* Add a tensor in file order. `data` must live until the writer is done with it:
 * own = 1 hands it over (freed by the writer, also on error). Records the tensor's
 * checksum (xxh3-128 of its bytes). */
qtip_status qtip_model_writer_tensor(qtip_model_writer *w, const char *name, qtip_dtype dt, int ndim,
                                     const int64_t *shape, const void *data, int own);

/* After the last tensor: name the shards like Hugging Face (model.safetensors, or
 * model-0000i-of-0000N.safetensors with model.safetensors.index.json). */
qtip_status qtip_model_writer_tensors_done(qtip_model_writer *w);

/* {tensor name: "xxh3-128:<hex>"} of every tensor added (owned by w). */
json_t *qtip_model_writer_checksums(const qtip_model_writer *w);

/* `rel` (a path inside the directory) as indented, key-sorted JSON + newline. */
qtip_status qtip_model_writer_json(qtip_model_writer *w, const char *rel, json_t *j);

/* Copy `src` byte for byte to `rel` (sub-directories created). `src` must be a
 * regular file, not a link (checked on the opened descriptor: no FIFO can block,
 * no link is followed). */
qtip_status qtip_model_writer_copy(qtip_model_writer *w, const char *src, const char *rel);

/* fsync and rename the temporary over `out`, fsync its parent. Frees w; on error
 * the temporary is removed. */
qtip_status qtip_model_writer_commit(qtip_model_writer *w);

/* Remove the temporary and free w (NULL is fine). */
void qtip_model_writer_abort(qtip_model_writer *w);

/* A linear's module prefix: `name` without a trailing ".weight", into `out` (cap
 * bytes). Returns 1 when `name` ended in ".weight", 0 when not, -1 (out empty)
 * when the prefix does not fit. Artifacts may name the weight or the module;
 * packed layers, quantization configs and checksums all key on the prefix
 * (lib/pack/pack.c). */
int qtip_module_prefix_(const char *name, char *out, size_t cap);

/* What a layer's export needs besides the layer: the model's dtype (config.json's
 * torch_dtype), in which the loaders declare their scale vectors. */
typedef struct {
    qtip_dtype model_dtype;
} qtip_export_ctx;

/* One export format (lib/pack/export_formats.c). Adding a format is one row. */
typedef struct {
    qtip_export_format format;
    const char *name;  /* as given to --format and recorded in quantize_config.json */
    unsigned methods;  /* bit 1u << method for each qtip_quant_method it holds */
    const char *holds; /* those methods in words, for the refusal */
    /* the suffixes of a layer's tensors ("<prefix>.<suffix>"), NULL-terminated */
    const char *const *tensors;
    /* whether the format can hold layer `l` (module prefix `pre`); the error names
     * the layer, the dimension and the reason */
    qtip_status (*check_layer)(const qtip_layer_info *l, const char *pre);
    /* the packed tensors of one layer (module prefix `pre`) */
    qtip_status (*add_layer)(qtip_model_writer *w, const qtip_layer_info *l, const char *pre,
                             const qtip_export_ctx *cx);
    /* the loader-facing config: edits config.json (`cfg`) from the first layer `l0`
     * (NULL: no layer) and `qc`, our quantization_config for it (consumed); also
     * what qtip-verify rebuilds to check an exported config.json */
    void (*config)(const qtip_layer_info *l0, json_t *cfg, json_t *qc);
    /* a file that gets a copy of config.json's quantization_config when there are
     * layers (NULL: none) */
    const char *config_copy;
} qtip_export_row;

/* The model's dtype from config.json (`torch_dtype`, or `dtype` as newer
 * transformers write it): float16, bfloat16 or float32; absent: float16, both
 * loaders' default. QTIP_E_UNSUPPORTED naming `where` and the value otherwise. */
qtip_status qtip_export_model_dtype_(const json_t *cfg, const char *where, qtip_dtype *dt);

/* The loaders' dimension rules (lib/pack/export_hadamard.c): whether each of the
 * layer's dimensions has the Hadamard matrix the loader rebuilds equal to ours. */
qtip_status qtip_export_check_qtip_ref_(const qtip_layer_info *l, const char *pre);
qtip_status qtip_export_check_quip_for_all_(const qtip_layer_info *l, const char *pre);

/* The row of a format, NULL if none. */
const qtip_export_row *qtip_export_row_(qtip_export_format f);

#endif /* QTIP_PACK_INTERNAL_H */
