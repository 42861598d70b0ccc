/*
 * qtip_matvec.h — a packed layer run on the CPU without a dequantized weight
 * (part of qtip.h; docs/matvec.md).
 *
 * A context holds one quantized linear layer as it lies in a packed model
 * directory (codes, SU, SV, Wscale, table) and computes, for each input x (n
 * floats), the output y (m floats) of
 *
 *     y = SV * U_m( Wscale * (Wr @ U_n^T(SU * x)) )
 *
 * which is x @ W_hat^T, W_hat the weight qtip_layer_artifact_decode (and
 * qtip-verify --dequantize) gives: the torch module python/qtip/linear.py
 * computes the same. Wr is decoded tile by tile from the codes while it is
 * multiplied (one tile per thread at a time, never the whole matrix), with the
 * library's decoders (the trellis state values; qtip_e8p_decode).
 *
 * Results are fp32; they do not depend on the thread count (each output row is
 * summed by one thread in a fixed order), and the AVX2 kernel gives the same
 * bits as the portable one (both fuse each multiply-add, in the same order).
 * QTIP_NO_AVX2=1 in the environment forces the portable kernel.
 */
#ifndef QTIP_MATVEC_H
#define QTIP_MATVEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most input vectors one qtip_matvec_apply_batch call takes. */
#define QTIP_MATVEC_MAX_BATCH 32

typedef struct qtip_matvec qtip_matvec;

/* A context for the layer `layer` describes (arrays copied; `layer` may go away
 * after). Trellis codes (any built-in code, L <= 16) and the E8P codebooks.
 * Errors: QTIP_E_PARAM / QTIP_E_SHAPE from the description's checks (naming the
 * tensor), QTIP_E_NONFINITE for a non-finite Wscale, SU, SV or table,
 * QTIP_E_UNSUPPORTED for a Hadamard order without a construction, QTIP_E_NOMEM. */
qtip_status qtip_matvec_create(const qtip_layer_info *layer, qtip_matvec **out);

/* The layer with module prefix `layer` (e.g. "model.layers.0.mlp.up_proj") of
 * the packed model directory `dir`, read and checked as qtip-verify reads it. */
qtip_status qtip_matvec_open(const char *dir, const char *layer, qtip_matvec **out);

/* The same context from plain values, for callers through a foreign-function
 * interface (python/qtip/cpu_matvec.py through ctypes), which must not mirror
 * the library's structures (a mirror drifts silently when a field is added).
 * code: a trellis decode_mode ("quantlut_sym", "1mad", ...; then L, K, V, Q,
 * td_x, td_y are its settings) or an E8P codebook ("E8P12", "e8p12-rvq3", ...;
 * then they are ignored). codes: m x code_cols, int32 when code_is_i32 (RVQ),
 * int16 otherwise; SU n floats, SV m floats; tlut: tlut_rows x tlut_cols floats
 * or NULL (the code's own table); tensor names the layer in error messages
 * (NULL: none). Errors as qtip_matvec_create, and QTIP_E_PARAM
 * for an unknown code name. */
qtip_status qtip_matvec_create_flat(const char *tensor, const char *code, int L, int K, int V,
                                    int Q, int td_x, int td_y, int64_t m, int64_t n,
                                    const void *codes, int64_t code_cols, int code_is_i32,
                                    const float *SU, const float *SV, float wscale,
                                    const float *tlut, int64_t tlut_rows, int64_t tlut_cols,
                                    qtip_matvec **out);

void qtip_matvec_free(qtip_matvec *mv);

/* Out features m and in features n. */
void qtip_matvec_shape(const qtip_matvec *mv, int64_t *m, int64_t *n);

/* y (m floats) = layer(x) (n floats). QTIP_E_PARAM for a null argument. */
qtip_status qtip_matvec_apply(const qtip_matvec *mv, const float *x, float *y);

/* The same for `batch` inputs at once (1 .. QTIP_MATVEC_MAX_BATCH): x is batch x n
 * and y batch x m, row-major. Each tile is decoded once for the whole batch. Row
 * b of y equals qtip_matvec_apply of row b of x bit for bit. */
qtip_status qtip_matvec_apply_batch(const qtip_matvec *mv, const float *x, int64_t batch, float *y);

/* The kernel the calls use: "avx2" or "portable". */
const char *qtip_matvec_simd(void);

#ifdef __cplusplus
}
#endif

#endif /* QTIP_MATVEC_H */
