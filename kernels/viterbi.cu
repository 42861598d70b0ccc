/*
 * viterbi.cu — the tail-biting Viterbi search on the device (viterbi.cuh).
 *
 * Design: one block per tile; many tiles in flight (the grid is the batch). A block
 * runs both passes of trellis_quantize.c's two-pass method: pass 1, unconstrained, on
 * the sequence rotated by (S/2)*V, traced back to step S/2 for the overlap
 * o = path[S/2] >> KV; pass 2 on the sequence with start and end groups o.
 *
 * A step keeps only the 2^(L-KV) group minima, as viterbi_fast.c does: cost_i(s) =
 * branch(best_{i-1}[s >> KV], s) for the states s = j + k*G (G = 2^(L-KV)) of group j
 * is reduced at once to best_i[j] = min_k (first lowest k wins). The two rows of
 * group minima are in dynamic shared memory; thread t handles groups t, t + blockDim,
 * ... (a uniform trip count, so whole warps take part in the ballots). The branch
 * cost is trellis_codes.h's qtip_trellis_branch_cost on the library's own value and
 * norm tables (uploaded by the host, read through the read-only cache), so with
 * --fmad=false here and -ffp-contract=off on the CPU every cost and comparison is
 * the CPU's, and the path is the same bit for bit.
 *
 * Back-pointers: KV bit planes per step in global memory, one __ballot_sync per plane
 * and 32 groups (bit j of plane q = bit q of group j's best k). Step i's planes sit
 * at slot i (step 0 has none: the unconstrained pass's last step uses slot 0 for
 * the final choice, as viterbi_fast.c does). One thread traces back.
 *
 * Final state: the lexicographic minimum of (cost, state) over the candidates, which
 * is what viterbi_fast.c's scans choose (unconstrained: lowest cost, then lowest k,
 * then lowest j, i.e. lowest state j + k*G); a warp-shuffle and shared-memory
 * reduction, order-free since the key is a total order.
 */
#include "common.cuh"
#include "viterbi.cuh"

#include <math.h>

#include "trellis/trellis_codes.h"

#define VITERBI_THREADS 256
#define VITERBI_WARPS (VITERBI_THREADS / 32)
/* Blocks per SM the register budget is planned for (4 x 256 threads: at most 64
 * registers each). Without it ptxas for sm_90a spilled 4 bytes at 40 registers. */
#define VITERBI_MIN_BLOCKS 4

struct viterbi_args {
    const float *vals, *norm, *seq;
    uint32_t *bp, *states;
    int L, KV, V, S;
    uint32_t G, words; /* groups; uint32 words per bit plane */
    size_t bp_tile;    /* back-pointer words per tile */
};

/* Read-only loads through the texture path on the device. */
__device__ __forceinline__ float table(const float *p, uint32_t i) { return __ldg(p + i); }

/* One step: next[j] = min_k branch(prev[s >> KV], s), s = j + k*G, first k wins;
 * the arg k into the KV planes at bp (NULL: not kept). */
__device__ __forceinline__ void sweep(const viterbi_args &a, const float *prev, float *next,
                             uint32_t *bp, float x0, float x1)
{
    const uint32_t M = 1u << a.KV, G = a.G;
    const float *v0 = a.vals, *v1 = a.vals + ((size_t)1 << a.L);
    const float m0 = -2.0f * x0, m1 = a.V == 2 ? -2.0f * x1 : 0.0f;
    for (uint32_t j0 = 0; j0 < G; j0 += blockDim.x) {
        const uint32_t j = j0 + threadIdx.x;
        const bool live = j < G;
        float b = 0.0f;
        uint32_t arg = 0;
        if (live) {
            for (uint32_t k = 0; k < M; k++) {
                const uint32_t s = j + k * G;
                const float c = qtip_trellis_branch_cost(prev[s >> a.KV], table(a.norm, s),
                                                         table(v0, s), m0,
                                                         a.V == 2 ? table(v1, s) : 0.0f, m1, a.V);
                if (k == 0 || c < b) {
                    b = c;
                    arg = k;
                }
            }
            next[j] = b;
        }
        for (int q = 0; q < a.KV; q++) {
            const unsigned w = __ballot_sync(0xffffffffu, live && ((arg >> q) & 1u));
            if ((threadIdx.x & 31u) == 0 && live)
                bp[(size_t)q * a.words + (j >> 5)] = w;
        }
    }
}

/* Best k of group j at the planes of one step. */
__device__ __forceinline__ uint32_t read_k(const viterbi_args &a, const uint32_t *bp, uint32_t j)
{
    uint32_t k = 0;
    for (int q = 0; q < a.KV; q++)
        k |= ((bp[(size_t)q * a.words + (j >> 5)] >> (j & 31u)) & 1u) << q;
    return k;
}

/* (c, s) < (bc, bs) lexicographically. */
__device__ __forceinline__ bool better(float c, uint32_t s, float bc, uint32_t bs)
{
    return c < bc || (c == bc && s < bs);
}

/* The block's lexicographic minimum of (c, s); every thread gets it. */
__device__ __forceinline__ uint32_t block_argmin(float c, uint32_t s)
{
    __shared__ float red_c[VITERBI_WARPS];
    __shared__ uint32_t red_s[VITERBI_WARPS + 1];
    for (int off = 16; off > 0; off >>= 1) {
        const float oc = __shfl_down_sync(0xffffffffu, c, off);
        const uint32_t os = __shfl_down_sync(0xffffffffu, s, off);
        if (better(oc, os, c, s)) {
            c = oc;
            s = os;
        }
    }
    if ((threadIdx.x & 31u) == 0) {
        red_c[threadIdx.x >> 5] = c;
        red_s[threadIdx.x >> 5] = s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (uint32_t w = 1; w < blockDim.x >> 5; w++)
            if (better(red_c[w], red_s[w], c, s)) {
                c = red_c[w];
                s = red_s[w];
            }
        red_s[VITERBI_WARPS] = s;
    }
    __syncthreads();
    return red_s[VITERBI_WARPS];
}

/* This thread's best final candidate (lexicographic (cost, state)) after the sweeps;
 * prev: the last group minima (or the start row when no sweep ran). */
__device__ __forceinline__ void final_candidates(const viterbi_args &a, const float *prev, const float *x,
                                        int32_t overlap, bool last_sweep, const uint32_t *bp0,
                                        float *bc, uint32_t *bs)
{
    const uint32_t G = a.G, M = 1u << a.KV;
    *bc = INFINITY;
    *bs = 0xffffffffu;
    if (last_sweep) { /* group minima of the last step with their k in slot 0 */
        for (uint32_t j = threadIdx.x; j < G; j += blockDim.x) {
            const uint32_t s = j + read_k(a, bp0, j) * G;
            if (better(prev[j], s, *bc, *bs)) {
                *bc = prev[j];
                *bs = s;
            }
        }
        return;
    }
    /* the allowed final states: group overlap, or all (a single unconstrained step) */
    const float *v0 = a.vals, *v1 = a.vals + ((size_t)1 << a.L);
    const float *xl = x + (size_t)(a.S - 1) * a.V;
    const float m0 = -2.0f * xl[0], m1 = a.V == 2 ? -2.0f * xl[1] : 0.0f;
    const uint32_t n = overlap < 0 ? G * M : M;
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
        const uint32_t s = overlap < 0 ? i : (uint32_t)overlap + i * G;
        const float c = qtip_trellis_branch_cost(prev[s >> a.KV], table(a.norm, s), table(v0, s),
                                                 m0, a.V == 2 ? table(v1, s) : 0.0f, m1, a.V);
        if (better(c, s, *bc, *bs)) {
            *bc = c;
            *bs = s;
        }
    }
}

/* One pass over the tile's targets x (shared): path[stop .. S-1] (shared) of the best
 * path, free start when overlap < 0, else start and end in group overlap. Ends with
 * a barrier, so path is readable by every thread. */
__device__ __forceinline__ void pass(const viterbi_args &a, const float *x, int32_t overlap, float *ca,
                            float *cb, uint32_t *bp, uint32_t *path, int stop)
{
    const int S = a.S, V = a.V;
    const size_t step_words = (size_t)a.KV * a.words;
    for (uint32_t u = threadIdx.x; u < a.G; u += blockDim.x)
        ca[u] = overlap < 0 || u == (uint32_t)overlap ? 0.0f : INFINITY;
    __syncthreads();
    const bool last_sweep = overlap < 0 && S > 1;
    const int nsweeps = last_sweep ? S : S - 1;
    float *prev = ca, *next = cb;
    for (int i = 0; i < nsweeps; i++) {
        const float *xi = x + (size_t)i * V;
        sweep(a, prev, next, bp + (size_t)((i + 1) % S) * step_words, xi[0], V == 2 ? xi[1] : 0.0f);
        __syncthreads();
        float *t = prev;
        prev = next;
        next = t;
    }
    float c;
    uint32_t s;
    final_candidates(a, prev, x, overlap, last_sweep, bp, &c, &s);
    const uint32_t fin = block_argmin(c, s);
    if (threadIdx.x == 0) {
        path[S - 1] = fin;
        for (int i = S - 1; i > stop; i--) {
            const uint32_t j = path[i] >> a.KV;
            path[i - 1] = j | (read_k(a, bp + (size_t)i * step_words, j) << (a.L - a.KV));
        }
    }
    __syncthreads();
}

/* grid: one block per tile; block min(256, max(32, G)); dynamic smem
 * qtip_cuda_viterbi_smem_bytes. */
__global__ void __launch_bounds__(VITERBI_THREADS, VITERBI_MIN_BLOCKS) viterbi_tile_kernel(viterbi_args a)
{
    DYN_SHARED(float, smem);
    const int S = a.S, T = a.S * a.V, shift = (a.S / 2) * a.V;
    float *ca = smem, *cb = smem + a.G, *x = smem + 2 * (size_t)a.G;
    uint32_t *path = reinterpret_cast<uint32_t *>(x + T);
    const float *seq = a.seq + (size_t)blockIdx.x * (size_t)T;
    uint32_t *bp = a.bp + (size_t)blockIdx.x * a.bp_tile;
    for (int i = (int)threadIdx.x; i < T; i += (int)blockDim.x)
        x[i] = seq[((i - shift) % T + T) % T]; /* trellis_quantize.c's rotation */
    __syncthreads();
    pass(a, x, -1, ca, cb, bp, path, S / 2);
    const int32_t overlap = (int32_t)(path[S / 2] >> a.KV);
    for (int i = (int)threadIdx.x; i < T; i += (int)blockDim.x)
        x[i] = seq[i];
    __syncthreads();
    pass(a, x, overlap, ca, cb, bp, path, 0);
    uint32_t *out = a.states + (size_t)blockIdx.x * (size_t)S;
    for (int i = (int)threadIdx.x; i < S; i += (int)blockDim.x)
        out[i] = path[i];
}

size_t qtip_cuda_viterbi_smem_bytes(const qtip_trellis_params *p)
{
    const size_t G = (size_t)1 << (p->L - p->K * p->V), T = (size_t)p->td_x * (size_t)p->td_y;
    return (2 * G + T) * sizeof(float) + T / (size_t)p->V * sizeof(uint32_t);
}

size_t qtip_cuda_viterbi_scratch_words(const qtip_trellis_params *p)
{
    const int KV = p->K * p->V;
    const size_t G = (size_t)1 << (p->L - KV), S = (size_t)p->td_x * (size_t)p->td_y / (size_t)p->V;
    return S * (size_t)KV * ((G + 31) / 32);
}

qtip_status qtip_cuda_viterbi_quantize(const qtip_trellis_params *p, const float *vals,
                                       const float *norm, const float *seq, size_t nseq,
                                       uint32_t *bp, uint32_t *states, cudaStream_t stream)
{
    QTIP_RETURN_ERROR_IF(!p, QTIP_E_PARAM, "cannot quantize trellis tiles: no parameters");
    QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(p));
    const size_t smem = qtip_cuda_viterbi_smem_bytes(p);
    QTIP_RETURN_ERROR_IF(smem > QTIP_CUDA_VITERBI_SMEM_MAX, QTIP_E_UNSUPPORTED,
                         "cannot quantize L=%d K=%d V=%d tiles on the GPU: %zu bytes of shared "
                         "memory per block, at most %zu",
                         p->L, p->K, p->V, smem, QTIP_CUDA_VITERBI_SMEM_MAX);
    QTIP_RETURN_ERROR_IF(nseq > 0x7fffffff, QTIP_E_UNSUPPORTED,
                         "cannot quantize %zu trellis tiles: at most 2^31-1 per call", nseq);
    if (nseq == 0)
        return QTIP_OK;
    QTIP_RETURN_ERROR_IF(!vals || !norm || !seq || !bp || !states, QTIP_E_PARAM,
                         "cannot quantize trellis tiles: null buffer");
    viterbi_args a;
    a.vals = vals;
    a.norm = norm;
    a.seq = seq;
    a.bp = bp;
    a.states = states;
    a.L = p->L;
    a.KV = p->K * p->V;
    a.V = p->V;
    a.S = p->td_x * p->td_y / p->V;
    a.G = 1u << (a.L - a.KV);
    a.words = (a.G + 31u) / 32u;
    a.bp_tile = qtip_cuda_viterbi_scratch_words(p);
    const unsigned threads = a.G >= VITERBI_THREADS ? VITERBI_THREADS : a.G >= 32 ? a.G : 32;
    if (smem > 48 * 1024)
        QTIP_CUDA_CHECK(cudaFuncSetAttribute(viterbi_tile_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    LAUNCH(viterbi_tile_kernel, dim3((unsigned)nseq), dim3(threads), smem, stream, a);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}
