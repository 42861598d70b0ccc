/*
 * cuda_plugin.h — the table of functions that the CUDA plugin (libqtip_cuda.so,
 * built from kernels/plugin.cu only when nvcc is found) hands to libqtip.
 * Not installed. Plain C with no CUDA types, so that libqtip builds, loads and runs
 * without CUDA: lib/core/backend.c dlopens the plugin at first use and calls
 * QTIP_CUDA_PLUGIN_SYMBOL to get this table (docs/kernels.md, "GPU backend").
 *
 * The plugin carries a private copy of the library code it needs, so its error
 * messages live in its own buffer: after an entry returns a status other than
 * QTIP_OK, last_error() gives the message (the caller copies it into its own).
 * Entries are not thread-safe against each other on one accumulator.
 *
 * Compatibility: a change of any entry's meaning or order bumps
 * QTIP_CUDA_PLUGIN_ABI (and the symbol's suffix); entries are only appended
 * within one ABI, and `size` tells the caller how many there are.
 */
#ifndef QTIP_CUDA_PLUGIN_H
#define QTIP_CUDA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "qtip.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QTIP_CUDA_PLUGIN_ABI 1
#define QTIP_CUDA_PLUGIN_SYMBOL "qtip_cuda_backend_v1"
/* Shared object names, newest first: the SONAME, then the development link. */
#define QTIP_CUDA_PLUGIN_SONAME "libqtip_cuda.so.0"
#define QTIP_CUDA_PLUGIN_DEVNAME "libqtip_cuda.so"

/* A device-resident Hessian accumulator: D (n x n float64) plus upload buffers. */
typedef struct qtip_cuda_hessian_acc qtip_cuda_hessian_acc;
/* A trellis codebook's tables on a device plus Viterbi scratch (kernels/viterbi_batch.cuh). */
typedef struct qtip_cuda_viterbi qtip_cuda_viterbi;

/* A packed layer ready for the fused decode-GEMV (kernels/bitshift_gemm.cuh). */
typedef struct qtip_cuda_gemm qtip_cuda_gemm;

/* One linear layer's trellis quantization on the device (layer_quantize below,
 * kernels/layer_quant.cuh): its settings ... */
typedef struct {
    int64_t m, n;         /* W is m x n; n x n Hessian */
    int feedback;         /* LDLQ error feedback (qtip_ldlq_config.feedback) */
    double sigma_reg;     /* the damping ladder of qtip_ldl_regularize */
    int damping_tries;
    double target_rms;    /* Wscale makes RMS(Wr / Wscale) this (code RMS x scale) */
} qtip_cuda_layer_args;

/* ... and its buffers, all host, row-major. */
typedef struct {
    const float *W;       /* in, m x n: the weight, dead input columns zeroed */
    const double *H;      /* in, n x n: the Hessian over mean(diag), dead diagonal = 1 */
    const float *SU, *SV; /* in, n and m: the RHT signs */
    const int *order;     /* in, T: the tile's element order (qtip_trellis_tile_order) */
    float *Wr;            /* out, m x n: rotated weight over wscale (LDLQ's target) */
    double *Hr;           /* out (NULL: not wanted), n x n: rotated, damped Hessian */
    float *What;          /* out, m x n: the reconstruction of Wr */
    uint32_t *states;     /* out: (n / td_y) column blocks x (m / td_x) tiles x S states */
    float wscale;         /* out */
    double damping;       /* out: multiple of mean(diag) added */
    double err, ref;      /* out: qtip_quant_proxy_terms(Wr, What, Hr): the LDLQ objective */
} qtip_cuda_layer_io;

/* On a GPU, cuSOLVER's Cholesky and cuBLAS's products sum in another order than
 * OpenBLAS/LAPACK, so the factor and the LDLQ targets differ in their last bits and a
 * few Viterbi choices between near-equal paths differ: the codes are not the CPU's
 * bytes. What holds (tested on the CPU layer with its shims summing in another order,
 * kernels_test_layer_quant, and on a GPU by gpu_test_cuda_plugin): each layer's
 * rotated proxy loss err/ref within this relative tolerance of the CPU path's. */
#define QTIP_CUDA_LAYER_LOSS_RTOL 0.02

typedef struct qtip_cuda_plugin {
    uint32_t abi;      /* QTIP_CUDA_PLUGIN_ABI */
    uint32_t size;     /* sizeof(qtip_cuda_plugin) in the plugin's build */
    const char *build; /* e.g. "cuda 13.0 (runtime 13000), cublas" */

    const char *(*last_error)(void);

    /* Devices. device_count fails with QTIP_E_CUDA (message: cudaGetDeviceCount's
     * error, e.g. no driver) or succeeds with *count >= 0. device_info: the name
     * (NUL-terminated, truncated to cap), total memory in bytes and compute
     * capability as major * 10 + minor. */
    qtip_status (*device_count)(int *count);
    qtip_status (*device_info)(int dev, char *name, size_t cap, size_t *total_bytes, int *cc);

    /* Hessian: D += X^T X for blocks of at most max_rows rows of n doubles (host,
     * row-major), D lower triangle (row-major, as qtip_hessian's S), on device
     * `dev`. add returns once X may be reused (X is copied to a pinned staging
     * buffer; upload and dsyrk run asynchronously). Blocks whose values are all
     * exact in float32 (any f32/f16/bf16 input) are uploaded as float32 and widened
     * on the device. sync waits for the work queued, then S_lower += D (host,
     * n x n row-major, lower triangle only; skipped when discard) and D = 0.
     * create: QTIP_E_NOMEM when the device cannot hold D; QTIP_E_CUDA otherwise. */
    qtip_status (*hessian_create)(int dev, int64_t n, size_t max_rows, qtip_cuda_hessian_acc **out);
    qtip_status (*hessian_add)(qtip_cuda_hessian_acc *a, const double *X, size_t rows);
    qtip_status (*hessian_sync)(qtip_cuda_hessian_acc *a, double *S, int discard);
    void (*hessian_free)(qtip_cuda_hessian_acc *a);

    /* Trellis Viterbi (appended; present when size covers them): the two-pass
     * tail-biting search of qtip_trellis_quantize_seq on the device, the same states
     * bit for bit. viterbi_create copies the codebook's tables (vals: V planes of 2^L
     * floats, norm: 2^L, trellis_internal.h) to device dev and allocates scratch for
     * batches of up to max_tiles tiles (fewer when memory is short);
     * QTIP_E_UNSUPPORTED for codebooks beyond the kernel's shared memory (L=16 with
     * K*V=1). viterbi_quantize: nseq x T finite floats (host) -> nseq x S states
     * (host), synchronous. */
    qtip_status (*viterbi_create)(int dev, const qtip_trellis_params *p, const float *vals,
                                  const float *norm, size_t max_tiles, qtip_cuda_viterbi **out);
    qtip_status (*viterbi_quantize)(qtip_cuda_viterbi *v, const float *seq, size_t nseq,
                                    uint32_t *states);
    void (*viterbi_free)(qtip_cuda_viterbi *v);

    /* One layer on the device (appended): RHT of W and H, damping + Cholesky
     * (cuSOLVER) + block LDL, Wscale, the BlockLDLQ sweep with the feedback
     * products in cuBLAS and each column block's tiles through v's Viterbi; the
     * layer stays on the device between steps. b = v's td_y, two-pass tail-biting,
     * no refinement passes. Errors as the CPU path words them (not positive
     * definite, non-finite values), QTIP_E_UNSUPPORTED for transform lengths beyond
     * the RHT kernel, QTIP_E_CUDA / QTIP_E_NOMEM for the device. */
    qtip_status (*layer_quantize)(qtip_cuda_viterbi *v, const qtip_cuda_layer_args *a,
                                  qtip_cuda_layer_io *io);

    /* Serving a packed layer (appended; kernels/bitshift_gemm.cuh): the entries
     * behind qtip_cuda_matvec_create / _apply / _free (lib/qtip_matvec.h), with
     * their arguments and errors. The layer's arrays are device pointers the
     * caller keeps alive; apply is asynchronous on `stream` (a cudaStream_t). */
    qtip_status (*gemm_create)(int dev, const qtip_cuda_matvec_layer *layer, qtip_cuda_gemm **out);
    qtip_status (*gemm_apply)(qtip_cuda_gemm *g, const float *x, float *y, int64_t batch,
                              void *stream);
    void (*gemm_free)(qtip_cuda_gemm *g);

} qtip_cuda_plugin;

/* The one exported symbol of libqtip_cuda.so. */
typedef const qtip_cuda_plugin *(*qtip_cuda_plugin_entry)(void);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_CUDA_PLUGIN_H */
