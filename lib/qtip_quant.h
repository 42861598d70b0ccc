/*
 * qtip_quant.h — BlockLDLQ and the quantization of one linear layer, for both
 * methods: QTIP bitshift trellis codes and QuIP# E8P12 lattice codes.
 * Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 *
 * Pipeline of one layer (docs/cmd/qtip-quantize.md, docs/formats/layer-artifact.md):
 *   W (m x n) and H = E[x x^T] (n x n)
 *   -> H /= mean(diag H), dead inputs (H_ii = 0) get H_ii = 1 and W[:, i] = 0
 *   -> RHT with signs SU (n), SV (m) drawn from (seed, tensor name)
 *   -> H += sigma * I (retry ladder when Cholesky fails), block LDL with b columns
 *   -> Wscale (one scalar), LDLQ from the last column block to the first,
 *      optional greedy refinement passes (E8P default 10)
 *   -> codes in the canonical packed layout, proxy loss in the original space.
 */
#ifndef QTIP_QUANT_H
#define QTIP_QUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Parameters (pinned enum values: never renumber, only append)
 * ------------------------------------------------------------------------- */
typedef enum { QTIP_METHOD_TRELLIS = 0, QTIP_METHOD_E8P = 1 } qtip_quant_method;
typedef enum { QTIP_DEVICE_CPU = 0, QTIP_DEVICE_CUDA = 1, QTIP_DEVICE_AUTO = 2 } qtip_device;
/* Which dimension a tensor-parallel serving engine shards (docs/formats/layer-artifact.md,
 * "Tensor parallelism"); the values are the reference's `rcp` (1 row, 2 column). */
typedef enum {
    QTIP_TP_SPLIT_AUTO = 0,   /* from the tensor name (qtip_tp_split_for_name); never stored */
    QTIP_TP_SPLIT_INPUT = 1,  /* row-parallel (o_proj, down_proj): in-features sharded, the
                                 input-side RHT is tp_size Hadamards of n/tp_size */
    QTIP_TP_SPLIT_OUTPUT = 2, /* column-parallel (q/k/v, gate/up): out-features sharded, the
                                 output-side RHT is tp_size Hadamards of m/tp_size */
} qtip_tp_split;

typedef struct {
    qtip_quant_method method;
    qtip_trellis_params trellis; /* method TRELLIS */
    qtip_e8p_kind e8p;           /* method E8P */
    double sigma_reg;      /* damping, in units of mean(diag H); default 0.01, >= 0 */
    int damping_tries;     /* Cholesky attempts, each adding sigma_reg more; default 10 */
    double scale_override; /* target RMS factor; <= 0 means the method default:
                              0.9 (trellis, times the code's RMS), opt_scale (E8P) */
    uint64_t seed;         /* sign vectors: (seed, tensor name) */
    int refine_passes;     /* greedy passes after LDLQ; default 10 (E8P), 0 (trellis) */
    int ldlq;              /* 1 (default): error feedback; 0: plain nearest rounding
                              of the rotated weights (an ablation baseline) */
    qtip_device device;    /* CUDA: the trellis layer (RHT, LDL, LDLQ, Viterbi) on
                              cuda:0, rotated proxy loss within 2% of the CPU's
                              (docs/kernels.md); with refinement passes only the
                              Viterbi (same codes); E8P runs on the CPU. AUTO: the
                              GPU when usable, else the CPU, logged. Best-of-n
                              tail-biting: CPU only */
    int tail_biting;       /* trellis search: 0 (default) or 1, the reference's two
                              passes; n >= 2 (up to 65536), best of n overlaps
                              (qtip_trellis_work_set_tail_biting): never worse,
                              slower. Recorded in the artifact, not needed to decode */
    int device_index;      /* k of cuda:<k> for CUDA and AUTO (default 0) */
    int tp_size;           /* tensor-parallel degree the RHT is split for: 1 (default) = one
                              Hadamard per side; N: the sharded side's RHT is block diagonal,
                              N blocks (tp_split), so each rank transforms its own slice */
    int tp_split;          /* qtip_tp_split; AUTO resolves from the tensor name when quantizing */
} qtip_quant_params;

/* Defaults for a method: trellis = qtip_trellis_default_params() (HYB L16 K2 V2),
 * E8P = E8P12; sigma_reg 0.01, 10 damping tries, scale_override -1 (method
 * default), seed 0, ldlq 1, device CPU, tail_biting 0 (two-pass), tp_size 1. */
qtip_quant_params qtip_quant_default_params(qtip_quant_method method);

/* QTIP_E_PARAM naming the bad field (also checks the trellis parameters and that
 * a tile row of td_y*K bits is a whole number of 16-bit words). */
qtip_status qtip_quant_check_params(const qtip_quant_params *p);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Method names: "trellis", "e8p" (NULL if unknown); from_name also takes the
 * aliases qtip, bitshift / quip, quip#, any case; -1 if unknown. */
const char *qtip_quant_method_name(qtip_quant_method m);
int qtip_quant_method_from_name(const char *name);
#endif /* QTIP_EXPERIMENTAL */

/* p with another method: the method's defaults, keeping sigma_reg and seed
 * (a copy of p when the method is the same). */
qtip_quant_params qtip_quant_switch_method(const qtip_quant_params *p, qtip_quant_method method);

/* Apply a quantize_config.json (path) to p: the reference's fields
 * (quant_method, L, K, V, tlut_bits, decode_mode, td_x, td_y, codebook,
 * quip_tune_iters) and ours (sigma_reg, scale_override, seed, refine_passes,
 * ldlq, tail_biting, tp_size, tp_split), at top level or under "quantization_config". An E8P
 * codebook or a quant_method first resets p to that method's defaults. Unknown
 * fields are logged (QTIP_LOG_WARN) and ignored. Errors: QTIP_E_FORMAT
 * (unreadable, a field of the wrong type), QTIP_E_PARAM (an unknown method,
 * code or codebook name). Values are checked by qtip_quant_check_params. */
qtip_status qtip_quant_params_from_json(const char *path, qtip_quant_params *p);

/* ---------------------------------------------------------------------------
 * Tensor parallelism: the RHT per shard (docs/formats/layer-artifact.md)
 * ------------------------------------------------------------------------- */

/* "input", "output" (and "auto" for QTIP_TP_SPLIT_AUTO); NULL for another value. */
const char *qtip_tp_split_name(int split);
/* The inverse of qtip_tp_split_name (also "row" = input, "column" = output); -1 if unknown. */
int qtip_tp_split_from_name(const char *name);
/* The split a layer's name implies, from its last component before ".weight":
 * INPUT for the row-parallel leaves of vLLM's models (o_proj, down_proj,
 * out_proj, dense_4h_to_h, fc2, wo, w2, c_proj), OUTPUT for column-parallel ones
 * (q_proj, k_proj, v_proj, qkv_proj, gate_proj, up_proj, gate_up_proj,
 * query_key_value, dense_h_to_4h, fc1, wq, wk, wv, w1, w3, c_attn, c_fc), AUTO
 * for any other name (the caller must then be told). */
qtip_tp_split qtip_tp_split_for_name(const char *tensor);
/* The number of diagonal blocks of each side's Hadamard transform: 1 and 1 for
 * tp_size 1; tp_size on the side tp_split names. */
void qtip_tp_blocks(const qtip_quant_params *p, int64_t *out_blocks, int64_t *in_blocks);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Column block size of the block LDL: td_y (trellis) or 8 (E8P). */
int qtip_quant_block_cols(const qtip_quant_params *p);

/* The scale_override actually used (resolving <= 0 to the method default). */
double qtip_quant_effective_scale(const qtip_quant_params *p);

/* ---------------------------------------------------------------------------
 * Hessian regularization and block LDL (building blocks, public for tests/tools)
 * ------------------------------------------------------------------------- */

/* Damp and factor: tries H + (sigma*(t+1)) * mean(diag H) * I for t = 0 .. tries-1
 * (sigma = 0 tries no damping first, then steps of 0.01) until the Cholesky
 * succeeds. On success H (n x n, row-major, symmetric, double) holds the damped
 * matrix, Lc its lower Cholesky factor (n x n, upper triangle zero) and
 * *damp_used the total damping in units of mean(diag). QTIP_E_NOT_PD when all
 * tries fail (the message suggests a larger sigma), QTIP_E_NONFINITE for NaN/Inf,
 * QTIP_E_NOT_PD when mean(diag) <= 0. */
qtip_status qtip_ldl_regularize(double *H, int64_t n, double sigma, int tries, double *Lc,
                                double *damp_used);

/* Block LDL from a Cholesky factor Lc (H = Lc Lc^T) with b-column blocks (n % b == 0):
 * H = Lu D Lu^T, Lu (n x n) unit block-lower-triangular (diagonal blocks exactly I,
 * upper part 0), D block diagonal stored as n/b blocks of b x b (n*b doubles, block k
 * at D + k*b*b). QTIP_E_NONFINITE if a diagonal block is singular. */
qtip_status qtip_ldl_block(const double *Lc, int64_t n, int b, double *Lu, double *D);
#endif /* QTIP_EXPERIMENTAL */

/* ---------------------------------------------------------------------------
 * LDLQ over column blocks (method independent)
 * ------------------------------------------------------------------------- */

/* Quantize one m x b column block: `target` (m x b row-major) -> `recon` (m x b),
 * keeping the codes of column block `block` in a staging area of the callee. Rows
 * are grouped in units of `group_rows` (a unit is coded jointly and independently
 * of other units). Must be deterministic. */
typedef qtip_status (*qtip_block_quant_fn)(void *user, int64_t block, const float *target,
                                           int64_t m, int b, float *recon);
/* Make the staged codes of `block` final: all units when `accept` is NULL, else
 * only units u with accept[u] != 0 (the others keep their earlier codes). */
typedef void (*qtip_block_commit_fn)(void *user, int64_t block, const uint8_t *accept);

/* Optional unit-level variants (both or neither). `units` lists `count` distinct
 * unit indices u (rows u*group_rows .. +group_rows-1); target and recon hold
 * count*group_rows x b values, unit i's rows at row i*group_rows. The quant
 * variant stages the codes of each listed unit in that unit's own slot; commit
 * makes the staged codes of the listed units final. Calls for disjoint unit sets
 * of the same block may run concurrently on different threads (so each call must
 * be single-threaded or nest safely, and must not touch other units' slots).
 * With them, the sweep and the refinement run in one OpenMP loop over units and
 * refinement skips units whose targets cannot have changed. */
typedef qtip_status (*qtip_units_quant_fn)(void *user, int64_t block, const int64_t *units,
                                           int64_t count, const float *target, float *recon);
typedef void (*qtip_units_commit_fn)(void *user, int64_t block, const int64_t *units,
                                     int64_t count);

typedef struct {
    int b;              /* column block size */
    int group_rows;     /* rows coded jointly (td_x for trellis, 1 for E8P) */
    int feedback;       /* 1: LDLQ; 0: each block quantized from W alone */
    int refine_passes;  /* greedy passes after the LDLQ sweep */
    qtip_block_quant_fn quant;
    qtip_block_commit_fn commit;
    void *user;
    qtip_units_quant_fn quant_units;   /* optional (NULL: block callbacks only) */
    qtip_units_commit_fn commit_units; /* required with quant_units */
} qtip_ldlq_config;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Run LDLQ on W (m x n, row-major, already rotated and scaled) with the unit block
 * lower factor Lu (n x n) of the regularized Hessian Hr (n x n; used by the
 * refinement passes only, may be NULL when refine_passes = 0). What (m x n)
 * receives the reconstruction. If `losses` is not NULL it receives
 * refine_passes + 1 values: tr((W-What) Hr (W-What)^T) / tr(W Hr W^T) after the
 * sweep and after each pass (needs Hr). A refinement pass keeps a unit's new
 * codes only when they lower that unit's loss, so no pass increases it.
 * Determinism: every unit's arithmetic is a fixed sequence independent of the
 * thread count (units are independent under the proxy loss; float sums run in a
 * fixed order; OpenBLAS is used only for whole-matrix gemm products, which
 * OpenBLAS splits over the output, never over the summed dimension), so the
 * result is byte-identical for any qtip_set_threads and OpenBLAS thread count. */
qtip_status qtip_ldlq_run(const qtip_ldlq_config *cfg, const float *W, int64_t m, int64_t n,
                          const double *Lu, const double *Hr, float *What, double *losses);

/* tr((W-What) H (W-What)^T) and tr(W H W^T), in double, fixed summation order
 * (same result on any thread count). W, What: m x n floats; H: n x n doubles or
 * NULL for the identity. err or ref may be NULL. */
qtip_status qtip_quant_proxy_terms(const float *W, const float *What, int64_t m, int64_t n,
                                   const double *H, double *err, double *ref);
#endif /* QTIP_EXPERIMENTAL */

/* ---------------------------------------------------------------------------
 * One layer
 * ------------------------------------------------------------------------- */

/* The per-layer artifact: codes, signs, Wscale, table, parameters, provenance.
 * Layout on disk: docs/formats/layer-artifact.md. The reconstruction is not
 * stored; qtip_layer_artifact_decode re-derives it. */
typedef struct qtip_layer_artifact qtip_layer_artifact;

typedef struct {
    qtip_quant_params params;
    int64_t m, n;              /* out, in features */
    const char *tensor;        /* tensor name ("" if none) */
    double proxy_loss;         /* tr(dW H dW^T)/tr(W H W^T), original space, H as given */
    double proxy_loss_rotated; /* same on the rotated, damped Hessian (the LDLQ objective) */
    double damping;            /* total damping used, units of mean(diag H) */
    float wscale;
    double bits_per_weight;    /* code bits only (K, or 2/3/4 for E8P) */
    double seconds;            /* wall time of qtip_quantize_layer */
    const char *weights_checksum; /* "" when unknown */
    const char *hessian_checksum; /* "" when unknown, "identity" for H = I */
    int refine_count;          /* entries in refine_losses */
    const double *refine_losses; /* rotated proxy after LDLQ, then after each pass */
    int64_t code_cols;         /* columns of the packed code tensor */
    int code_is_i32;           /* 1: int32 codes (RVQ), 0: int16 words */
    const void *codes;         /* m x code_cols int16 or int32 */
    const float *SU, *SV;      /* +-1, n and m values */
    const float *tlut;         /* NULL unless HYB/LUT */
    size_t tlut_rows, tlut_cols;
} qtip_layer_info;

/* A reusable quantizer (codebook built once). One per thread. */
typedef struct qtip_quantizer qtip_quantizer;

qtip_status qtip_quantizer_create(const qtip_quant_params *p, qtip_quantizer **out);
void qtip_quantizer_free(qtip_quantizer *q);

/* Quantize W (m x n floats, row-major) with H (n x n doubles, E[x x^T]; NULL = I).
 * `name` (may be NULL) seeds the signs with params.seed. The artifact is new
 * (free it); its info holds the proxy loss. Errors: QTIP_E_SHAPE (m, n not
 * multiples of the tile/block or without a Hadamard matrix), QTIP_E_NOT_PD,
 * QTIP_E_NONFINITE (NaN/Inf in W or H), QTIP_E_CUDA (a device call failed). */
qtip_status qtip_quantize_layer(qtip_quantizer *q, const float *W, int64_t m, int64_t n,
                                const double *H, const char *name, qtip_layer_artifact **out);

/* From files: tensor `tensor` of a safetensors file or model directory (F32, F16,
 * BF16, 2-D; a name without ".weight" is tried with it) and a Hessian file
 * (NULL = identity). Records both files' checksums. */
qtip_status qtip_quantize_layer_file(qtip_quantizer *q, const char *weights_path,
                                     const char *tensor, const char *hessian_path,
                                     qtip_layer_artifact **out);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Provenance recorded in the artifact (strings copied; NULL leaves a field). */
qtip_status qtip_layer_artifact_set_source(qtip_layer_artifact *a, const char *weights_checksum,
                                           const char *hessian_checksum);
#endif /* QTIP_EXPERIMENTAL */

/* Read-only view, valid while `a` lives. qtip_layer_info is the one description
 * of a quantized layer: the packer takes it, the verifier reads it back from a
 * packed directory. */
void qtip_layer_artifact_info(const qtip_layer_artifact *a, qtip_layer_info *info);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* A new artifact holding copies of a description's arrays (params, m, n, tensor,
 * codes, SU, SV, wscale, tlut, proxy_loss and checksums; the rest default), so the
 * artifact's decoder can decode a layer that was not loaded from an artifact file.
 * Checks the parameters, that codes and table have the shapes the parameters need
 * (QTIP_E_PARAM / QTIP_E_SHAPE naming the tensor); the values are not checked.
 * A description with tp_size > 1 is refused (QTIP_E_UNSUPPORTED): the library
 * matvec, built through this function, applies whole-layer transforms only. */
qtip_status qtip_layer_artifact_from_info(const qtip_layer_info *info, qtip_layer_artifact **out);
#endif /* QTIP_EXPERIMENTAL */

/* Rebuild W_hat (m x n floats, original space) from the codes alone: decode,
 * times Wscale, inverse RHT. Gives exactly the reconstruction the quantizer
 * computed (same code path); the codebook is rebuilt from the artifact's
 * parameters and stored table. */
qtip_status qtip_layer_artifact_decode(const qtip_layer_artifact *a, float *What);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Decode in the rotated, scaled space (what LDLQ produced, before Wscale). */
qtip_status qtip_layer_artifact_decode_rotated(const qtip_layer_artifact *a, float *Wr_hat);

/* The one decoder of a layer's codes: codes in the canonical layout (trellis:
 * m x n*K/16 int16 words, tiles placed by qtip_trellis_put_tile, values in
 * qtip_trellis_tile_order; E8P: m x n/8 codes, int16 for E8P12, int32 for RVQ)
 * to the rotated, unscaled W (m x n floats; multiply by Wscale and invert the
 * RHT for weights). tlut: the stored table of a HYB/LUT code (as given, no
 * rounding), or NULL for the code's own table (and for codes without one).
 * Errors: QTIP_E_PARAM (params), QTIP_E_SHAPE (m, n do not fit the tile or
 * block), QTIP_E_NONFINITE (tlut), QTIP_E_PARAM from E8P for codes wider than
 * the kind. */
qtip_status qtip_layer_codes_decode(const qtip_quant_params *p, const float *tlut,
                                    const void *codes, int64_t m, int64_t n, float *Wr);
#endif /* QTIP_EXPERIMENTAL */

/* The layer's settings and results as one JSON object (text, compact; free it):
 * tensor, shape, method and the method's fields, bits_per_weight, proxy losses,
 * refine_losses, sigma_reg, damping, scale_override (effective), wscale, seed,
 * ldlq, seconds, checksums. NULL when out of memory. */
char *qtip_layer_artifact_json(const qtip_layer_artifact *a);

/* Save atomically as safetensors; load checks the format version, shapes and
 * parameters (QTIP_E_FORMAT naming the file and the field). */
qtip_status qtip_layer_artifact_save(const qtip_layer_artifact *a, const char *path);
qtip_status qtip_layer_artifact_load(const char *path, qtip_layer_artifact **out);
void qtip_layer_artifact_free(qtip_layer_artifact *a);

#define QTIP_LAYER_FORMAT_VERSION 1
/* The version a tensor-parallel artifact (tp_size > 1) carries: version 1 plus
 * the metadata tp_size and tp_split, so a reader without them refuses it. */
#define QTIP_LAYER_FORMAT_VERSION_TP 2

#ifdef __cplusplus
}
#endif
#endif /* QTIP_QUANT_H */
