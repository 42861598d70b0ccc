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

/* ---------------------------------------------------------------------------
 * The same layer on a CUDA device (docs/matvec.md, "On a GPU"): the fused
 * decode-GEMV kernels of the CUDA plugin (kernels/bitshift_gemm.cu), reached
 * through libqtip_cuda.so like every device path; libqtip itself never links
 * CUDA. The layer's arrays stay where the caller put them (device memory, e.g.
 * torch CUDA tensors' data_ptr()); they are read by every apply and must live
 * as long as the context.
 * ------------------------------------------------------------------------- */

/* A packed layer in device memory: the fields of qtip_layer_info a decoder reads. */
typedef struct {
    qtip_quant_params params; /* method, trellis parameters or E8P kind */
    int64_t m, n;             /* out, in features */
    float wscale;
    int64_t code_cols;        /* trellis: n*K/16 int16 words; E8P: n/8 codes */
    const void *codes;        /* device, m x code_cols: int16 (trellis, E8P12) or int32 (RVQ3/4) */
    const float *SU, *SV;     /* device, n and m floats */
    const float *tlut;        /* device: HYB 2^Q x 2, LUT 2^L x V floats; NULL otherwise */
} qtip_cuda_matvec_layer;

typedef struct qtip_cuda_matvec qtip_cuda_matvec;

/* A context on device `device` (cuda:<device>): checks the parameters and shapes
 * (QTIP_E_PARAM / QTIP_E_SHAPE), the Hadamard orders of m and n
 * (QTIP_E_UNSUPPORTED without a construction or beyond the transform kernel's
 * 29056), uploads the special Hadamard factors and the E8P tables and allocates
 * the rotated-input buffer for 32 rows. QTIP_E_UNSUPPORTED when the plugin is
 * missing or too old, QTIP_E_CUDA without a device. The device arrays' values
 * are not read here (no check of the codes' widths or of non-finite SU, SV or
 * table entries, which qtip_matvec_create makes on host copies). */
qtip_status qtip_cuda_matvec_create(int device, const qtip_cuda_matvec_layer *layer,
                                    qtip_cuda_matvec **out);

/* The same from plain values, for foreign-function callers
 * (python/qtip/cuda_matvec.py): code, L, K, V, Q, td_x, td_y as in
 * qtip_matvec_create_flat; codes, SU, SV, tlut device pointers as in
 * qtip_cuda_matvec_layer (the code width follows the code: int32 for RVQ3/4). */
qtip_status qtip_cuda_matvec_create_flat(int device, const char *code, int L, int K, int V, int Q,
                                         int td_x, int td_y, int64_t m, int64_t n,
                                         const void *codes, int64_t code_cols, const float *SU,
                                         const float *SV, float wscale, const float *tlut,
                                         qtip_cuda_matvec **out);

/* y = layer(x) for `batch` rows (1 .. QTIP_MATVEC_MAX_BATCH): x batch x n, y
 * batch x m, float32, row-major, device pointers; queued on `stream` (a
 * cudaStream_t, NULL = the default stream), asynchronous. Batch 1 runs the
 * register-decode GEMV, 2 .. 32 the shared-memory tile path. Calls on one
 * context share its buffer: order them on one stream. Equal to qtip_matvec_apply
 * within the fp32 bound of docs/matvec.md (summation order). */
qtip_status qtip_cuda_matvec_apply(qtip_cuda_matvec *mv, const float *x, float *y, int64_t batch,
                                   void *stream);

void qtip_cuda_matvec_free(qtip_cuda_matvec *mv);

#ifdef __cplusplus
}
#endif

#endif /* QTIP_MATVEC_H */
