/*
 * qtip_pack.h — packed model directories, exports for existing loaders, and their
 * verification. Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 *
 * Formats: docs/formats/model-dir.md (our canonical packed directory) and
 * docs/formats/exports.md (the QTIP reference layout and QuIP-for-all).
 *
 * Canonical code layout (both families), one row per output channel:
 *  - trellis: (m, n*K/16) uint16 words (stored as int16). Tile (R, C) of 16 x 16
 *    weights owns rows 16R..16R+15 and word columns C*K..C*K+K-1; reading those
 *    16 rows' K words in row order gives the tile's circular bitstream (16K words,
 *    MSB first). Value j of the tile's sequence (step j/V, component j%V) sits at
 *    the tile position given by qtip_trellis_tile_order().
 *  - E8P: (m, n/8) codes, one per 8 consecutive input columns; int16 (bit pattern)
 *    for E8P12, int32 for the RVQ kinds ((e8p << 8) | resid for RVQ3,
 *    (main << 16) | resid for RVQ4).
 */
#ifndef QTIP_PACK_H
#define QTIP_PACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the canonical layout written into quantize_config.json. */
#define QTIP_PACK_LAYOUT_VERSION 1
/* The layout_version of a directory whose layers were quantized for tensor
 * parallelism (tp_size > 1, docs/formats/model-dir.md): version 1 plus tp_size
 * and per-layer tp_split, so a reader without them refuses it. */
#define QTIP_PACK_LAYOUT_VERSION_TP 2

/* ---------------------------------------------------------------------------
 * Pure layout transforms (no I/O). Tiles are 16 x 16; m, n multiples of 16.
 * ------------------------------------------------------------------------- */

/* The configuration the QTIP reference kernels use is qtip_trellis_tile_is_mma's:
 * the reference then stores tiles in the tensor-core fragment value order
 * (qtip_trellis_tile_order) and the swizzled byte layout of qtip.md 6.2. */

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* canonical (m, n*K/16) words -> per-tile streams ((m/16)*(n/16), 16*K), tiles
 * row-major: this is the reference's generic `trellis` tensor (qtip.md 6.1).
 * QTIP_E_SHAPE when m or n is not a multiple of 16, QTIP_E_PARAM for K outside 1..8. */
qtip_status qtip_pack_trellis_to_tiles(const uint16_t *codes, int64_t m, int64_t n, int K,
                                       uint16_t *tiles);

/* Per-tile streams -> the reference's kernel byte layout (qtip.md 6.2): 2 x 2
 * super-tiles, 32 lane chunks of K bytes, each chunk stored little-endian.
 * Output has the same size as the input ((m/16)*(n/16)*16*K int16).
 * QTIP_E_SHAPE unless m and n are multiples of 32; K must be 2..4. */
qtip_status qtip_pack_trellis_kernel_swizzle(const uint16_t *tiles, int64_t m, int64_t n, int K,
                                             int16_t *out);

/* The inverses of the two above (qtip-verify of an exported directory): per-tile
 * streams -> canonical words, and the kernel byte layout -> per-tile streams, with
 * the same shape rules and errors. */
qtip_status qtip_pack_trellis_from_tiles(const uint16_t *tiles, int64_t m, int64_t n, int K,
                                         uint16_t *codes);
qtip_status qtip_pack_trellis_kernel_unswizzle(const int16_t *in, int64_t m, int64_t n, int K,
                                               uint16_t *tiles);

/* Shape of Qidxs for kind k (cols = n/8 or 3n/32) and its dtype (I16 or I32);
 * qtip_e8p_pack_qidxs writes its bytes. */
qtip_status qtip_pack_qidxs_shape(qtip_e8p_kind k, int64_t m, int64_t n, int64_t shape[2],
                                  qtip_dtype *dt);
#endif /* QTIP_EXPERIMENTAL */

/* ---------------------------------------------------------------------------
 * Model directories (lib/io/model_dir.c)
 * ------------------------------------------------------------------------- */
typedef struct qtip_model_dir qtip_model_dir;

/* Flag of qtip_model_dir_open: also copy files whose links lead outside the model
 * directory (by default they are refused, naming the link and its target). */
#define QTIP_MODEL_DIR_FOLLOW_LINKS 1u

/* Open an HF model directory: config.json (must exist and parse), weights from
 * model.safetensors or model.safetensors.index.json (parsed files: links may point
 * anywhere), and the list of the other files to copy (docs/formats/model-dir.md,
 * "Files copied"): regular files, sub-directories recursively; links only when they
 * resolve inside the directory or, for a Hugging Face cache snapshot, inside its
 * blobs/ (or anywhere with QTIP_MODEL_DIR_FOLLOW_LINKS). A FIFO, socket, device or
 * dangling link among them is refused (QTIP_E_IO naming it). */
qtip_status qtip_model_dir_open(const char *dir, unsigned flags, qtip_model_dir **out);
void qtip_model_dir_close(qtip_model_dir *d);
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
const char *qtip_model_dir_path(const qtip_model_dir *d);
/* The opened weights (owned by d). */
qtip_st_file *qtip_model_dir_weights(const qtip_model_dir *d);
/* config.json as text (owned by d). */
const char *qtip_model_dir_config_text(const qtip_model_dir *d);
/* Linear layers to quantize, in file order: module prefixes (without ".weight")
 * whose names end in a known projection (Llama/Qwen/Mistral q/k/v/o_proj,
 * gate/up/down_proj; BERT attention.self.query/key/value, attention.output.dense,
 * intermediate.dense, output.dense) and whose weight is 2-D. */
size_t qtip_model_dir_linear_count(const qtip_model_dir *d);
const char *qtip_model_dir_linear(const qtip_model_dir *d, size_t i);
/* Whether a module prefix names a linear layer that qtip quantizes. */
int qtip_is_quantizable_linear(const char *prefix);
/* Files of the directory other than weights and config (tokenizer, generation
 * config, sub-directories' files such as "1_Pooling/config.json"), paths relative
 * to the directory, sorted; owned by d. */
size_t qtip_model_dir_extra_count(const qtip_model_dir *d);
const char *qtip_model_dir_extra(const qtip_model_dir *d, size_t i);
#endif /* QTIP_EXPERIMENTAL */

/* ---------------------------------------------------------------------------
 * Packing (lib/pack/pack.c) and exports (lib/pack/export_*.c)
 * ------------------------------------------------------------------------- */
typedef enum {
    QTIP_EXPORT_CANONICAL = 0,   /* "qtip": ours, docs/formats/model-dir.md */
    QTIP_EXPORT_QTIP_REF = 1,    /* "qtip-reference": QTIP hfize layout */
    QTIP_EXPORT_QUIP_FOR_ALL = 2 /* "quip-for-all": QuIP-for-all layout */
} qtip_export_format;

/* The name of format f ("qtip", "qtip-reference", "quip-for-all"); NULL when f is
 * not a format (the values are 0, 1, 2, ...: a loop from 0 lists them all). */
const char *qtip_export_format_name(qtip_export_format f);

typedef struct {
    qtip_export_format format;
    uint64_t max_shard_size;  /* bytes per shard; 0 = one file */
    int allow_mixed;          /* accept layers with different settings */
    const char *settings_json; /* quantizer settings to record (JSON object text) or NULL */
} qtip_pack_options;

void qtip_pack_options_default(qtip_pack_options *o);

/* Write a complete model directory at `out_dir`: every layer of `layers` (each the
 * description of a quantized layer, e.g. from qtip_layer_artifact_info; `tensor` is
 * its module prefix, a trailing ".weight" ignored) replaced by its packed tensors,
 * every other tensor of `src` copied unchanged, config.json with a
 * quantization_config, quantize_config.json (with the checksum of every tensor
 * written), other files copied. Written in a temporary sibling directory
 * ("<out_dir>.qtip-tmp.<host>-<pid>_<start>.XXXXXX"; those of killed runs are removed
 * first), fsynced, then renamed to `out_dir`, which must not exist.
 * Refuses: a quantizable linear of src without a layer (QTIP_E_NOT_FOUND), two
 * layers of one name (QTIP_E_PARAM), a shape different from the model's
 * (QTIP_E_SHAPE), different settings without allow_mixed (QTIP_E_PARAM). */
qtip_status qtip_pack_model(const qtip_model_dir *src, const qtip_layer_info *layers,
                            size_t nlayers, const qtip_pack_options *opt, const char *out_dir);

/* ---------------------------------------------------------------------------
 * Verification (lib/verify/)
 * ------------------------------------------------------------------------- */
typedef struct {
    const char *original_dir;  /* original model, for relative errors; NULL: skip */
    const char *hessian_dir;   /* Hessians "<prefix>.safetensors"; NULL: skip */
    double max_proxy_loss;     /* <= 0: no threshold */
    double max_rel_error;      /* <= 0: no threshold */
    double forward_tol;        /* max |forward - materialized| / max|materialized|; default 1e-4 */
    const char *dequantize_dir; /* write a plain model here; NULL: don't */
    qtip_dtype dequantize_dtype; /* F16 (default), BF16 or F32 */
    uint64_t dequantize_max_shard_size; /* bytes per shard of --dequantize; 0 = one file */
    uint64_t seed;             /* for the forward check's random inputs */
} qtip_verify_options;

void qtip_verify_options_default(qtip_verify_options *o);

typedef struct {
    char name[256];
    int64_t m, n;
    double rel_error;          /* ||W - What||_F / ||W||_F; NaN without original */
    double proxy_loss;         /* NaN without Hessians */
    double recorded_proxy_loss; /* from quantize_config.json; NaN if none */
    int proxy_matches;         /* |proxy - recorded| <= 1e-6 relative (1 also when unknown) */
    double forward_max_error;  /* relative to max |materialized y| */
    int weights_checksum_ok;   /* 1: the recorded weights checksum equals the file of the
                                  original that holds the tensor; -1: not checked (no
                                  original, or none recorded). A mismatch is an error. */
} qtip_verify_layer;

typedef struct qtip_verify_report qtip_verify_report;

/* Check a packed directory (docs/formats/model-dir.md). Structural problems
 * (missing tensor, shape, dtype, non-finite scale, config field, a tensor whose
 * checksum differs from the one recorded at pack time, with original_dir a copied
 * tensor that differs from the original's) fail with QTIP_E_FORMAT /
 * QTIP_E_MISMATCH / QTIP_E_NOT_FOUND and a message naming the file and tensor;
 * an original_dir that cannot be read fails with QTIP_E_IO. On success *out holds the per-layer report; thresholds are
 * evaluated by qtip_verify_report_failures. */
qtip_status qtip_verify_model(const char *dir, const qtip_verify_options *opt,
                              qtip_verify_report **out);
size_t qtip_verify_report_count(const qtip_verify_report *r);
const qtip_verify_layer *qtip_verify_report_layer(const qtip_verify_report *r, size_t i);
/* Number of threshold violations / proxy-loss mismatches; the first is described
 * in *msg (owned by r) when not NULL. */
size_t qtip_verify_report_failures(const qtip_verify_report *r, const char **msg);
void qtip_verify_report_free(qtip_verify_report *r);

/* Decode a layer artifact to its plain weight W_hat (the same decoder and bytes as
 * qtip_verify_model's dequantized model) and write it atomically to the safetensors
 * file `out` as one tensor "<prefix>.weight" of shape [m, n] in `dt` (F16, BF16 or
 * F32). */
qtip_status qtip_verify_artifact_dequantize(const char *artifact, const char *out, qtip_dtype dt);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_PACK_H */
