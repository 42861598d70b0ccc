/*
 * bitshift_gemm_internal.cuh — what the decode-GEMV kernels (bitshift_gemm.cu) and
 * the layer around them (bitshift_layer.cu: checks, uploads, transforms) share:
 * the kernels' view of a layer, the context, the batch path's block shape.
 */
#ifndef QTIP_KERNELS_BITSHIFT_GEMM_INTERNAL_CUH
#define QTIP_KERNELS_BITSHIFT_GEMM_INTERNAL_CUH

#include "bitshift_gemm.cuh"

#define GEMM_THREADS 256
#define GEMM_CHUNK 64             /* batch path: columns decoded per step */
#define GEMM_E8P_ROWS 16          /* batch path: rows of an E8P row block */
#define GEMM_TABLE_SMEM_MAX 16384 /* a HYB/LUT table up to this many bytes is staged */

/* What the kernels read of the layer, by value. */
struct gemm_layer {
    const void *codes;
    int64_t code_cols, m, n;
    float wscale;
    int e8p;                                            /* method E8P */
    int L, KV, V, Q, code, td_x, td_y, wr, nw, mma;     /* trellis */
    const float *tlut;
    int table_floats;                                   /* staged table floats (0: read tlut) */
    int shift, e81b, i32;                               /* E8P */
    float rs;
    const uint64_t *packed;
    const uint32_t *e81b_tab;
};

struct qtip_cuda_gemm {
    int dev;
    gemm_layer g;
    const float *SU, *SV;
    int8_t *HKn, *HKm;
    int64_t Kn, Km;
    uint64_t *packed;
    uint32_t *e81b;
    float *X; /* QTIP_MATVEC_MAX_BATCH x n: the rotated inputs */
    int use_mma; /* batch path on tensor cores (16-row blocks; QTIP_GEMM_NO_MMA=1: off) */
};

/* The batch path's row block (rows) and chunk (columns) for the layer. */
__host__ __device__ inline int batch_rows(const gemm_layer &g) { return g.e8p ? GEMM_E8P_ROWS : g.td_x; }
__host__ __device__ inline int batch_chunk(const gemm_layer &g)
{
    return g.e8p ? GEMM_CHUNK : g.td_y * (g.td_y >= GEMM_CHUNK ? 1 : GEMM_CHUNK / g.td_y);
}

/* Dynamic shared memory of the batch path for `batch` rows (bitshift_gemm.cu). */
size_t gemm_batch_smem_bytes(const gemm_layer &g, int batch);

#endif /* QTIP_KERNELS_BITSHIFT_GEMM_INTERNAL_CUH */
