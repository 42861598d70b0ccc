/*
 * bitshift_gemm.cu — the fused decode + GEMV of a packed layer (bitshift_gemm.cuh).
 *
 * Design:
 * - One decoder. A trellis state is the L-bit window of the tile's circular
 *   stream, read straight from the packed (m x code_cols) words
 *   (trellis/trellis_packed.h: word placement, tile order) and turned into its V
 *   values by qtip_code_state_values (trellis_codes.h), the dispatch the C
 *   library's codebook uses; an E8P code by qtip_e8p_decode_code (e8p_kernel.h),
 *   the body of qtip_e8p_decode. So every decoded value equals the C decoder's.
 * - Batch 1 (gemv_trellis_kernel, gemv_e8p_kernel): values live in registers
 *   only. Trellis: one block per tile row (td_x outputs); thread (r, g) walks
 *   tiles g, g + G, ... of its row r (lanes of a warp on neighbouring tiles of
 *   one row: adjacent code words), a fixed-order sum of the G partials per
 *   output. E8P: one warp per output row, lanes on codes j, j + 32, ..., a
 *   shuffle tree. The HYB / LUT table and the E8P tables sit in shared memory.
 * - Batch 2 .. 32 (gemm_batch_kernel): one block per row block decodes a chunk of
 *   64 columns of its rows into shared memory once, stages the batch's inputs
 *   for those columns beside it, and multiplies: a value is decoded once per
 *   batch. With 16-row blocks (16 x td_y tiles, E8P) the chunk products run on
 *   tensor cores as 3xTF32 mma.sync m16n8k8 (each fp32 operand split in two tf32
 *   parts: fp16 or plain tf32 would round x to 11 bits, far above the fp32 bound
 *   every path is held to); the 8 warps split the batch into n-tiles of 8 and the
 *   chunk's k-steps, their partial fragments summed in a fixed order at the end.
 *   Other row blocks, or QTIP_GEMM_NO_MMA=1, take plain fp32 FMAs, each thread
 *   owning (row, batch row) outputs. The CPU execution layer runs both: the mma
 *   instruction has a lane-by-lane C++ meaning there (mma_3xtf32).
 * - No float atomics: one thread owns each output; results are deterministic.
 *   The order of the sum differs from the CPU matvec's, hence a tolerance
 *   (docs/matvec.md), not bits.
 */
#include "common.cuh"
#include "bitshift_gemm_internal.cuh"


#include "e8p/e8p_kernel.h"
#include "trellis/trellis_codes.h"
#include "trellis/trellis_packed.h"

/* Fully unrolled 8-value loops keep the values in registers (nvcc); g++ spells it
 * differently. */
#if defined(__CUDACC__)
#define GEMM_UNROLL _Pragma("unroll")
#else
#define GEMM_UNROLL _Pragma("GCC unroll 8")
#endif

/* ------------------------------------------------------------------------- */
/* Decoding, shared by the kernels                                             */
/* ------------------------------------------------------------------------- */

/* The table every thread reads: staged into `smem` (all threads copy, then a
 * barrier every thread reaches) when small enough, else the global copy. */
__device__ inline const float *stage_table(const gemm_layer &g, float *smem)
{
    for (int i = (int)threadIdx.x; i < g.table_floats; i += (int)blockDim.x)
        smem[i] = g.tlut[i];
    __syncthreads();
    return g.table_floats ? smem : g.tlut;
}

/* The V values of tile (R, C)'s element (r, c), c a multiple of V. */
__device__ inline void trellis_values(const gemm_layer &g, const float *table, int64_t R,
                                      int64_t C, int r, int c, float *v)
{
    const int i = qtip_trellis_seq_of(g.mma, g.td_y, r, c) / g.V;
    const uint32_t s = qtip_trellis_packed_window((const uint16_t *)g.codes, g.code_cols, g.td_x,
                                                  g.wr, g.nw, R, C, (uint32_t)(i * g.KV), g.L);
    qtip_code_state_values(g.code, s, g.V, g.Q, table, v);
}

/* E8P code j of row `row` as the decoder's uint32 (int16 codes zero-extended). */
__device__ inline uint32_t e8p_code(const gemm_layer &g, int64_t row, int64_t j)
{
    const int64_t at = row * g.code_cols + j;
    return g.i32 ? (uint32_t)((const int32_t *)g.codes)[at]
                 : (uint32_t)(uint16_t)((const int16_t *)g.codes)[at];
}

/* The E8P tables into shared memory: 256 uint64 then 256 uint32. */
__device__ inline void stage_e8p(const gemm_layer &g, uint64_t *packed, uint32_t *e81b)
{
    for (int i = (int)threadIdx.x; i < 256; i += (int)blockDim.x) {
        packed[i] = g.packed[i];
        e81b[i] = g.e81b_tab[i];
    }
    __syncthreads();
}

/* ------------------------------------------------------------------------- */
/* Batch 1                                                                     */
/* ------------------------------------------------------------------------- */

/* grid m/td_x (tile rows), block GEMM_THREADS, smem GEMM_THREADS + table_floats floats. */
__global__ void __launch_bounds__(GEMM_THREADS)
    gemv_trellis_kernel(gemm_layer g, const float *__restrict__ x, float *__restrict__ y)
{
    DYN_SHARED(float, smem);
    float *part = smem;
    const float *table = stage_table(g, smem + GEMM_THREADS);
    const int t = (int)threadIdx.x, G = (int)blockDim.x / g.td_x, r = t / G, grp = t % G;
    const int64_t R = blockIdx.x, tiles_c = g.n / g.td_y;
    float acc = 0.0f;
    if (r < g.td_x)
        for (int64_t C = grp; C < tiles_c; C += G) {
            const float *xc = x + C * g.td_y;
            for (int c = 0; c < g.td_y; c += g.V) {
                float v[2];
                trellis_values(g, table, R, C, r, c, v);
                acc = fmaf(v[0], xc[c], acc);
                if (g.V == 2)
                    acc = fmaf(v[1], xc[c + 1], acc);
            }
        }
    part[t] = acc;
    __syncthreads();
    if (t < g.td_x) {
        float sum = 0.0f;
        for (int k = 0; k < G; k++)
            sum += part[t * G + k];
        y[R * g.td_x + t] = sum * g.wscale;
    }
}

/* grid ceil(m / 8), block GEMM_THREADS (8 warps, one row each), smem the E8P tables. */
__global__ void __launch_bounds__(GEMM_THREADS)
    gemv_e8p_kernel(gemm_layer g, const float *__restrict__ x, float *__restrict__ y)
{
    DYN_SHARED(uint64_t, packed);
    uint32_t *e81b = (uint32_t *)(packed + 256);
    stage_e8p(g, packed, e81b);
    const int lane = (int)threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    if (row >= g.m)
        return; /* the whole warp: no barrier or shuffle follows for it */
    float acc = 0.0f;
    for (int64_t j = lane; j < g.n / 8; j += 32) {
        float w[8];
        qtip_e8p_decode_code(e8p_code(g, row, j), g.shift, g.e81b, packed, e81b, g.rs, w);
        const float *xj = x + 8 * j;
GEMM_UNROLL
        for (int k = 0; k < 8; k++)
            acc = fmaf(w[k], xj[k], acc);
    }
    for (int off = 16; off > 0; off >>= 1)
        acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0)
        y[row] = acc * g.wscale;
}

/* ------------------------------------------------------------------------- */
/* Batch 2 .. 32                                                               */
/* ------------------------------------------------------------------------- */

/* Columns col0 .. col0 + cols - 1 of rows row0 .. row0 + rows - 1 of Wr into W
 * (rows x cw floats), spread over the block. */
__device__ void decode_chunk(const gemm_layer &g, const float *table, const uint64_t *packed,
                             const uint32_t *e81b, int64_t row0, int rows, int64_t col0, int cols,
                             int cw, float *W)
{
    const int per = g.e8p ? 8 : g.V, units = cols / per;
    for (int k = (int)threadIdx.x; k < rows * units; k += (int)blockDim.x) {
        const int r = k / units, cc = (k % units) * per;
        float v[8];
        if (g.e8p) {
            qtip_e8p_decode_code(e8p_code(g, row0 + r, (col0 + cc) / 8), g.shift, g.e81b, packed,
                                 e81b, g.rs, v);
        } else {
            const int64_t col = col0 + cc;
            trellis_values(g, table, row0 / g.td_x, col / g.td_y, r, (int)(col % g.td_y), v);
        }
GEMM_UNROLL
        for (int e = 0; e < 8; e++) /* constant indices keep v in registers */
            if (e < per)
                W[r * cw + cc + e] = v[e];
    }
}

/* ---- tensor cores: 3xTF32 m16n8k8 ---------------------------------------------
 * fp32 values a are split into a tf32 part and the tf32 rounding of the rest,
 * a = big + small (about 22 of fp32's 24 bits); a*b = big*big + big*small +
 * small*big up to 2^-22 relative, so the chunk products stay within the fp32 bound
 * the tests hold (an fp16 or plain tf32 mma would not: 2^-11 relative). Under nvcc
 * (sm_80+) the mma.sync instruction; in the CPU build its meaning lane by lane
 * through a per-warp scratch, so CI runs the fragment code. */
#define GEMM_MMA_WARP_FLOATS 384 /* CPU build: big and small A (16 x 8) and B (8 x 8) */
#if defined(__CUDACC__)
#define GEMM_MMA_SCRATCH 0
#else
#define GEMM_MMA_SCRATCH (GEMM_THREADS / 32 * GEMM_MMA_WARP_FLOATS)
#endif

/* cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero. */
__device__ inline uint32_t tf32_of(float v)
{
#if defined(__CUDA_ARCH__)
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
    return r & 0xffffe000u;
#else
    uint32_t b = __float_as_uint(v);
    if ((b & 0x7f800000u) != 0x7f800000u)
        b += 0x1000u; /* half an ulp of the kept bits, on the magnitude */
    return b & 0xffffe000u;
#endif
}

/* c (16 x 8 fp32, fragment) += A B with A = Ab + As (16 x 8) and B = Bb + Bs (8 x 8)
 * in tf32 parts, as As Bb + Ab Bs + Ab Bb (the small terms first; As Bs is below
 * the bound). PTX fragment layout: lane = 4 g + t; a = A[g][t], A[g+8][t],
 * A[g][t+4], A[g+8][t+4]; b = B[t][g], B[t+4][g]; c = C[g][2t], C[g][2t+1],
 * C[g+8][2t], C[g+8][2t+1]. */
__device__ inline void mma_3xtf32(float *c, const uint32_t *ab, const uint32_t *as,
                                  const uint32_t *bb, const uint32_t *bs, float *scratch)
{
#if defined(__CUDA_ARCH__)
#define GEMM_MMA(A, B)                                                                        \
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, "         \
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"                                     \
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])                             \
                 : "r"(A[0]), "r"(A[1]), "r"(A[2]), "r"(A[3]), "r"(B[0]), "r"(B[1]))
    GEMM_MMA(as, bb);
    GEMM_MMA(ab, bs);
    GEMM_MMA(ab, bb);
#undef GEMM_MMA
#elif !defined(__CUDACC__)
    /* the instructions' meaning: each lane puts its fragments where the layout
     * says, then computes its c from the whole matrices (one fma chain per mma) */
    const int lane = (int)threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    float *S = scratch + (threadIdx.x >> 5) * GEMM_MMA_WARP_FLOATS;
    for (int part = 0; part < 2; part++) { /* 0: big, 1: small */
        const uint32_t *a = part ? as : ab, *b = part ? bs : bb;
        float *A = S + part * 192, *B = A + 128;
        A[g * 8 + t] = __uint_as_float(a[0]);
        A[(g + 8) * 8 + t] = __uint_as_float(a[1]);
        A[g * 8 + t + 4] = __uint_as_float(a[2]);
        A[(g + 8) * 8 + t + 4] = __uint_as_float(a[3]);
        B[t * 8 + g] = __uint_as_float(b[0]);
        B[(t + 4) * 8 + g] = __uint_as_float(b[1]);
    }
    __syncwarp();
    const int order[3][2] = {{1, 0}, {0, 1}, {0, 0}}; /* (A part, B part): As Bb, Ab Bs, Ab Bb */
    for (int p = 0; p < 3; p++) {
        const float *A = S + order[p][0] * 192, *B = S + order[p][1] * 192 + 128;
        for (int i = 0; i < 4; i++) {
            const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
            for (int k = 0; k < 8; k++)
                c[i] = fmaf(A[row * 8 + k], B[k * 8 + col], c[i]);
        }
    }
    __syncwarp();
#endif
}

/* The two tf32 parts of four (or two) floats. */
__device__ inline void tf32_split(const float *v, int count, uint32_t *big, uint32_t *small)
{
    for (int i = 0; i < count; i++) {
        big[i] = tf32_of(v[i]);
        small[i] = tf32_of(v[i] - __uint_as_float(big[i]));
    }
}

/* Warp (n-tile nt, k-group kg of KG): its k-steps of the chunk (16 rows of W x
 * cw, batch rows of Xs) into its fragment c. */
__device__ void mma_chunk(const float *W, const float *Xs, int cw, int cols, int batch, int nt,
                          int kg, int KG, float *c, float *scratch)
{
    const int lane = (int)threadIdx.x & 31, g = lane >> 2, t = lane & 3, bcol = nt * 8 + g;
    for (int k0 = kg * 8; k0 < cols; k0 += KG * 8) {
        const float av[4] = {W[g * cw + k0 + t], W[(g + 8) * cw + k0 + t], W[g * cw + k0 + t + 4],
                             W[(g + 8) * cw + k0 + t + 4]};
        const float bv[2] = {bcol < batch ? Xs[bcol * cw + k0 + t] : 0.0f,
                             bcol < batch ? Xs[bcol * cw + k0 + t + 4] : 0.0f};
        uint32_t ab[4], as[4], bb[2], bs[2];
        tf32_split(av, 4, ab, as);
        tf32_split(bv, 2, bb, bs);
        mma_3xtf32(c, ab, as, bb, bs, scratch);
    }
}

/* Warps over (n-tile, k-group): NTu n-tiles of 8 batch rows (1, 2 or 4), the
 * other factor of the 8 warps splits the k-steps. */
__host__ __device__ inline int mma_ntiles(int batch) { return batch <= 8 ? 1 : batch <= 16 ? 2 : 4; }

/* The KG partial fragments summed in a fixed order into Y (rows x batch of the
 * row block), through `red` (KG x 16 x 8 NTu floats). */
__device__ void mma_store(const gemm_layer &g, const float *c, int batch, int64_t row0, int rows,
                          float *red, float *Y)
{
    const int NTu = mma_ntiles(batch), KG = GEMM_THREADS / 32 / NTu, w = (int)threadIdx.x >> 5;
    const int lane = (int)threadIdx.x & 31, gg = lane >> 2, t = lane & 3, ld = 8 * NTu;
    const int nt = w % NTu, kg = w / NTu;
    for (int i = 0; i < 4; i++)
        red[(kg * 16 + gg + 8 * (i >> 1)) * ld + nt * 8 + 2 * t + (i & 1)] = c[i];
    __syncthreads();
    for (int o = (int)threadIdx.x; o < rows * batch; o += (int)blockDim.x) {
        const int r = o / batch, b = o % batch;
        float sum = 0.0f;
        for (int k = 0; k < KG; k++)
            sum += red[(k * 16 + r) * ld + b];
        Y[(int64_t)b * g.m + row0 + r] = sum * g.wscale;
    }
}

/* The chunk's tail columns up to a multiple of 8 set to zero (the mma's k-steps
 * read whole steps of 8). */
__device__ void zero_tail(float *W, int rows_all, float *Xs, int batch, int cw, int cols)
{
    const int pad = (8 - (cols & 7)) & 7;
    for (int i = (int)threadIdx.x; i < (rows_all + batch) * pad; i += (int)blockDim.x) {
        const int r = i / pad, c = cols + i % pad;
        (r < rows_all ? W + r * cw : Xs + (r - rows_all) * cw)[c] = 0.0f;
    }
}

/* grid row blocks, block GEMM_THREADS, smem gemm_batch_smem_bytes(g, batch):
 * W chunk (rows x cw), X chunk (batch x cw), sums (rows x batch), mma scratch,
 * tables. use_mma (16-row blocks only): the chunk products on tensor cores. */
__global__ void __launch_bounds__(GEMM_THREADS)
    gemm_batch_kernel(gemm_layer g, const float *__restrict__ X, int batch, int use_mma,
                      float *__restrict__ Y)
{
    DYN_SHARED(float, smem);
    const int R = batch_rows(g), cw = batch_chunk(g), t = (int)threadIdx.x, nt = (int)blockDim.x;
    float *W = smem, *Xs = W + R * cw, *acc = Xs + batch * cw, *scratch = acc + R * batch;
    float *tab = scratch + GEMM_MMA_SCRATCH;
    const int64_t row0 = (int64_t)blockIdx.x * R;
    const int rows = (int)(g.m - row0 < R ? g.m - row0 : R);
    uint64_t *packed = (uint64_t *)tab; /* E8P: 256 uint64 then 256 uint32 (8-aligned: all sizes even) */
    uint32_t *e81b = (uint32_t *)(packed + 256);
    const float *table = nullptr;
    if (g.e8p)
        stage_e8p(g, packed, e81b);
    else
        table = stage_table(g, tab);
    const int NTu = mma_ntiles(batch), KG = GEMM_THREADS / 32 / NTu, w = t >> 5;
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int o = t; o < rows * batch; o += nt)
        acc[o] = 0.0f;
    for (int64_t col0 = 0; col0 < g.n; col0 += cw) {
        const int cols = (int)(g.n - col0 < cw ? g.n - col0 : cw);
        decode_chunk(g, table, packed, e81b, row0, rows, col0, cols, cw, W);
        for (int i = t; i < batch * cols; i += nt)
            Xs[(i / cols) * cw + i % cols] = X[(int64_t)(i / cols) * g.n + col0 + i % cols];
        if (use_mma)
            zero_tail(W, R, Xs, batch, cw, cols);
        __syncthreads();
        if (use_mma)
            mma_chunk(W, Xs, cw, cols, batch, w % NTu, w / NTu, KG, c, scratch);
        else
            for (int o = t; o < rows * batch; o += nt) {
                const float *wr = W + (o / batch) * cw, *xb = Xs + (o % batch) * cw;
                float a = acc[o];
                for (int k = 0; k < cols; k++)
                    a = fmaf(wr[k], xb[k], a);
                acc[o] = a; /* owned by this thread in every chunk */
            }
        __syncthreads();
    }
    if (use_mma) {
        mma_store(g, c, batch, row0, rows, W, Y); /* W is free: KG x 16 x 8 NTu = 1024 floats */
        return;
    }
    for (int o = t; o < rows * batch; o += nt)
        Y[(int64_t)(o % batch) * g.m + row0 + o / batch] = acc[o] * g.wscale;
}

size_t gemm_batch_smem_bytes(const gemm_layer &g, int batch)
{
    const size_t R = (size_t)batch_rows(g), cw = (size_t)batch_chunk(g);
    const size_t tables = g.e8p ? 256 * 3 : (size_t)g.table_floats;
    /* + 1: 8-byte alignment of the E8P tables */
    return (R * cw + (size_t)batch * cw + R * (size_t)batch + GEMM_MMA_SCRATCH + 1 + tables) * sizeof(float);
}

/* ------------------------------------------------------------------------- */
/* Launchers                                                                   */
/* ------------------------------------------------------------------------- */

qtip_status qtip_cuda_bitshift_gemm(const qtip_cuda_gemm *h, const float *X, int64_t batch,
                                    float *Y, cudaStream_t stream)
{
    QTIP_RETURN_ERROR_IF(!h || !X || !Y, QTIP_E_PARAM, "bitshift_gemm: null argument");
    QTIP_RETURN_ERROR_IF(batch < 1 || batch > QTIP_MATVEC_MAX_BATCH, QTIP_E_PARAM,
                         "bitshift_gemm: batch %lld is outside 1 .. %d", (long long)batch,
                         QTIP_MATVEC_MAX_BATCH);
    const gemm_layer &g = h->g;
    if (batch == 1 && g.e8p) {
        const size_t smem = 256 * (sizeof(uint64_t) + sizeof(uint32_t));
        LAUNCH(gemv_e8p_kernel, dim3(qtip_cuda_blocks(g.m, GEMM_THREADS / 32)), dim3(GEMM_THREADS),
               smem, stream, g, X, Y);
    } else if (batch == 1) {
        const size_t smem = (GEMM_THREADS + (size_t)g.table_floats) * sizeof(float);
        LAUNCH(gemv_trellis_kernel, dim3((unsigned)(g.m / g.td_x)), dim3(GEMM_THREADS), smem,
               stream, g, X, Y);
    } else {
        const size_t smem = gemm_batch_smem_bytes(g, (int)batch);
        const int R = batch_rows(g);
        LAUNCH(gemm_batch_kernel, dim3(qtip_cuda_blocks(g.m, R)), dim3(GEMM_THREADS), smem, stream,
               g, X, (int)batch, h->use_mma, Y);
    }
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}
