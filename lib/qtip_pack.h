/*
 * qtip_pack.h — packed model directories, exports for existing loaders, and their
 * verification. Part of the public API; include "qtip.h", not this file.
 *
 * Formats: docs/formats/model-dir.md (our canonical packed directory) and
 * docs/formats/exports.md (the QTIP reference layout and QuIP-for-all).
 *
 * Canonical code layout (both families), one row per output channel:
 *  - trellis: (m, n*K/16) uint16 words (stored as int16). Tile (R, C) of 16 x 16
 *    weights owns rows 16R..16R+15 and word columns C*K..C*K+K-1; reading those
 *    16 rows' K words in row order gives the tile's circular bitstream (16K words,
 *    MSB first). Value j of the tile's sequence (step j/V, component j%V) sits at
 *    the tile position given by qtip_pack_tile_position().
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

/* ---------------------------------------------------------------------------
 * Pure layout transforms (no I/O). Tiles are 16 x 16; m, n multiples of 16.
 * ------------------------------------------------------------------------- */

/* The configuration the QTIP reference kernels use is qtip_trellis_tile_is_mma's:
 * the reference then stores tiles in the tensor-core fragment value order
 * (qtip_trellis_tile_order) and the swizzled byte layout of qtip.md 6.2. */

/* Tile position (row, col, both 0..15) of value j (0..255) of a 16 x 16 tile:
 * qtip_trellis_tile_order's entry j. Transitional (lib/verify/verify.c's last
 * caller moves to qtip_layer_codes_decode; then this goes). */
void qtip_pack_tile_position(const qtip_trellis_params *p, int j, int *row, int *col);

/* canonical (m, n*K/16) words -> per-tile streams ((m/16)*(n/16), 16*K), tiles
 * row-major: this is the reference's generic `trellis` tensor (qtip.md 6.1).
 * QTIP_E_SHAPE when m or n is not a multiple of 16, QTIP_E_PARAM for K outside 1..8. */
qtip_status qtip_pack_trellis_to_tiles(const uint16_t *codes, int64_t m, int64_t n, int K,
                                       uint16_t *tiles);
/* The inverse of qtip_pack_trellis_to_tiles. */
qtip_status qtip_pack_trellis_from_tiles(const uint16_t *tiles, int64_t m, int64_t n, int K,
                                         uint16_t *codes);

/* Per-tile streams -> the reference's kernel byte layout (qtip.md 6.2): 2 x 2
 * super-tiles, 32 lane chunks of K bytes, each chunk stored little-endian.
 * Output has the same size as the input ((m/16)*(n/16)*16*K int16).
 * QTIP_E_SHAPE unless m and n are multiples of 32; K must be 2..4. */
qtip_status qtip_pack_trellis_kernel_swizzle(const uint16_t *tiles, int64_t m, int64_t n, int K,
                                             int16_t *out);
/* The inverse of qtip_pack_trellis_kernel_swizzle. */
qtip_status qtip_pack_trellis_kernel_unswizzle(const int16_t *in, int64_t m, int64_t n, int K,
                                               uint16_t *tiles);

/* Decode canonical trellis codes into the transformed, unscaled matrix Wr (m x n,
 * row-major floats), with the codebook `t` (its params decide the value order). */
qtip_status qtip_pack_trellis_decode(const qtip_trellis *t, const uint16_t *codes, int64_t m,
                                     int64_t n, float *Wr);

/* Shape of Qidxs for kind k (cols = n/8 or 3n/32) and its dtype (I16 or I32);
 * qtip_e8p_pack_qidxs writes its bytes. */
qtip_status qtip_pack_qidxs_shape(qtip_e8p_kind k, int64_t m, int64_t n, int64_t shape[2],
                                  qtip_dtype *dt);

/* ---------------------------------------------------------------------------
 * One quantized layer as the packer and verifier see it (the canonical form).
 * Arrays are owned by whoever filled the struct; the packer only reads them.
 * ------------------------------------------------------------------------- */
typedef enum { QTIP_FAMILY_TRELLIS = 0, QTIP_FAMILY_E8P = 1 } qtip_family;

typedef struct {
    const char *name;         /* HF module prefix, e.g. "model.layers.0.mlp.up_proj" */
    int64_t m, n;             /* out, in features */
    qtip_family family;
    qtip_trellis_params tp;   /* trellis family */
    qtip_e8p_kind ek;         /* E8P family */
    const void *codes;        /* canonical codes, m x code_cols */
    int64_t code_cols;        /* nK/16 words (trellis), n/8 (E8P) */
    int code_is_i32;          /* 1: int32 codes (E8P RVQ), 0: int16 words */
    const float *SU;          /* n input-side signs/scales */
    const float *SV;          /* m output-side signs/scales (Wscale NOT folded) */
    float Wscale;
    const float *tlut;        /* HYB: 2^Q x V, LUT: 2^L x V; NULL otherwise */
    size_t tlut_count;        /* floats in tlut */
    double proxy_loss;        /* recorded at quantization time; NaN if unknown */
    const char *hessian_checksum; /* "xxh3-128:..." of the Hessian file, or NULL */
    const char *weight_checksum;  /* of the original weight tensor's bytes, or NULL */
    uint64_t seed;
} qtip_packed_layer;

/* Fill `l` from an artifact (pointers into it; `a` must outlive `l`).
 * QTIP_E_FORMAT when the artifact names no tensor. */
qtip_status qtip_packed_layer_from_artifact(const qtip_layer_artifact *a, qtip_packed_layer *l);

/* The loader-facing settings of a layer as a new JSON object (quant_method, L, K, V,
 * tlut_bits, decode_mode, td_x, td_y, codebook, codesz, tile_order); two layers
 * with equal objects may share one quantization_config. */
struct json_t;
struct json_t *qtip_pack_layer_settings(const qtip_packed_layer *l);

/* ---------------------------------------------------------------------------
 * Model directories (lib/model_dir.c)
 * ------------------------------------------------------------------------- */
typedef struct qtip_model_dir qtip_model_dir;

/* Open an HF model directory: config.json (must exist and parse), weights from
 * model.safetensors or model.safetensors.index.json. */
qtip_status qtip_model_dir_open(const char *dir, qtip_model_dir **out);
void qtip_model_dir_close(qtip_model_dir *d);
const char *qtip_model_dir_path(const qtip_model_dir *d);
/* The opened weights (owned by d). */
qtip_st_file *qtip_model_dir_weights(const qtip_model_dir *d);
/* config.json as text (owned by d). */
const char *qtip_model_dir_config_text(const qtip_model_dir *d);
/* The torch_dtype of config.json as a dtype (F16 when absent or unknown). */
qtip_dtype qtip_model_dir_dtype(const qtip_model_dir *d);
/* Linear layers to quantize, in file order: module prefixes (without ".weight")
 * whose names end in a known projection (Llama/Qwen/Mistral q/k/v/o_proj,
 * gate/up/down_proj; BERT attention.self.query/key/value, attention.output.dense,
 * intermediate.dense, output.dense) and whose weight is 2-D. */
size_t qtip_model_dir_linear_count(const qtip_model_dir *d);
const char *qtip_model_dir_linear(const qtip_model_dir *d, size_t i);
/* Whether a module prefix names a linear layer that qtip quantizes. */
int qtip_is_quantizable_linear(const char *prefix);
/* Files of the directory other than weights and config (tokenizer, generation
 * config, ...), names relative to the directory; owned by d. */
size_t qtip_model_dir_extra_count(const qtip_model_dir *d);
const char *qtip_model_dir_extra(const qtip_model_dir *d, size_t i);

/* ---------------------------------------------------------------------------
 * Packing (lib/pack.c) and exports (lib/export_*.c)
 * ------------------------------------------------------------------------- */
typedef enum {
    QTIP_EXPORT_CANONICAL = 0,   /* ours: docs/formats/model-dir.md */
    QTIP_EXPORT_QTIP_REF = 1,    /* "qtip-reference": QTIP hfize layout */
    QTIP_EXPORT_QUIP_FOR_ALL = 2 /* "quip-for-all": QuIP-for-all layout */
} qtip_export_format;

typedef struct {
    qtip_export_format format;
    uint64_t max_shard_size;  /* bytes per shard; 0 = one file */
    int allow_mixed;          /* accept layers with different settings */
    const char *settings_json; /* quantizer settings to record (JSON object text) or NULL */
} qtip_pack_options;

void qtip_pack_options_default(qtip_pack_options *o);

/* Write a complete model directory at `out_dir`: every layer of `layers` replaced
 * by its packed tensors, every other tensor of `src` copied unchanged, config.json
 * with a quantization_config, quantize_config.json, other files copied. Written in
 * a temporary sibling directory, fsynced, then renamed over `out_dir` (which must
 * not exist, or be a directory this function may replace).
 * Refuses: a quantizable linear of src without a layer (QTIP_E_NOT_FOUND), two
 * layers of one name (QTIP_E_PARAM), a shape different from the model's
 * (QTIP_E_SHAPE), different settings without allow_mixed (QTIP_E_PARAM). */
qtip_status qtip_pack_model(const qtip_model_dir *src, const qtip_packed_layer *layers,
                            size_t nlayers, const qtip_pack_options *opt, const char *out_dir);

/* ---------------------------------------------------------------------------
 * Verification (lib/verify.c)
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
 * (missing tensor, shape, dtype, non-finite scale, config field, checksum) fail
 * with QTIP_E_FORMAT / QTIP_E_MISMATCH / QTIP_E_NOT_FOUND and a message naming
 * the file and tensor. On success *out holds the per-layer report; thresholds are
 * evaluated by qtip_verify_report_failures. */
qtip_status qtip_verify_model(const char *dir, const qtip_verify_options *opt,
                              qtip_verify_report **out);
size_t qtip_verify_report_count(const qtip_verify_report *r);
const qtip_verify_layer *qtip_verify_report_layer(const qtip_verify_report *r, size_t i);
/* Number of threshold violations / proxy-loss mismatches; the first is described
 * in *msg (owned by r) when not NULL. */
size_t qtip_verify_report_failures(const qtip_verify_report *r, const char **msg);
void qtip_verify_report_free(qtip_verify_report *r);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_PACK_H */
