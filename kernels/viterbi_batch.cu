/*
 * viterbi_batch.cu — the Viterbi kernel's buffers and batch loop (viterbi_batch.cuh).
 *
 * Batch sizing: the caller's max_tiles (the LDLQ loop passes the tiles of one column
 * block: rows / td_x, 256 for a 4096-row layer) caps it; the back-pointer scratch,
 * S * KV * G / 32 words per tile (256 KiB for HYB L=16 K=2 V=2, 1 MiB for 1MAD L=16
 * K=2), is allocated for that many tiles, halving on out-of-memory. Each batch is
 * one launch, one block per tile, with synchronous copies on the default stream.
 */
#include "common.cuh"
#include "viterbi.cuh"
#include "viterbi_batch.cuh"

#include <stdlib.h>

struct qtip_cuda_viterbi {
    int dev;
    qtip_trellis_params p;
    size_t T, S, batch;
    float *vals, *norm, *seq;
    uint32_t *bp, *states;
};

void qtip_cuda_viterbi_free(qtip_cuda_viterbi *v)
{
    if (!v)
        return;
    cudaSetDevice(v->dev);
    cudaFree(v->vals);
    cudaFree(v->norm);
    cudaFree(v->seq);
    cudaFree(v->bp);
    cudaFree(v->states);
    free(v);
}

/* The per-batch buffers for `tiles` tiles; false (error cleared) on out-of-memory. */
static bool alloc_batch(qtip_cuda_viterbi *v, size_t tiles)
{
    const size_t words = qtip_cuda_viterbi_scratch_words(&v->p);
    if (cudaMalloc(&v->bp, tiles * words * sizeof(uint32_t)) == cudaSuccess &&
        cudaMalloc(&v->seq, tiles * v->T * sizeof(float)) == cudaSuccess &&
        cudaMalloc(&v->states, tiles * v->S * sizeof(uint32_t)) == cudaSuccess) {
        v->batch = tiles;
        return true;
    }
    cudaGetLastError();
    cudaFree(v->bp);
    cudaFree(v->seq);
    cudaFree(v->states);
    v->bp = nullptr;
    v->seq = nullptr;
    v->states = nullptr;
    return false;
}

static qtip_status upload_tables(qtip_cuda_viterbi *v, const float *vals, const float *norm)
{
    const size_t NS = (size_t)1 << v->p.L;
    QTIP_CUDA_CHECK(cudaMalloc(&v->vals, NS * (size_t)v->p.V * sizeof(float)));
    QTIP_CUDA_CHECK(cudaMalloc(&v->norm, NS * sizeof(float)));
    QTIP_CUDA_CHECK(cudaMemcpy(v->vals, vals, NS * (size_t)v->p.V * sizeof(float),
                               cudaMemcpyHostToDevice));
    QTIP_CUDA_CHECK(cudaMemcpy(v->norm, norm, NS * sizeof(float), cudaMemcpyHostToDevice));
    for (size_t tiles = v->batch; tiles >= 1; tiles /= 2)
        if (alloc_batch(v, tiles))
            return QTIP_OK;
    return qtip_error(QTIP_E_CUDA, "cannot allocate the Viterbi scratch of one tile (%zu bytes)",
                      qtip_cuda_viterbi_scratch_words(&v->p) * sizeof(uint32_t));
}

qtip_status qtip_cuda_viterbi_create(int dev, const qtip_trellis_params *p, const float *vals,
                                     const float *norm, size_t max_tiles, qtip_cuda_viterbi **out)
{
    QTIP_RETURN_ERROR_IF(!p || !vals || !norm || !out, QTIP_E_PARAM,
                         "cannot create the device Viterbi: null argument");
    *out = nullptr;
    QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(p));
    QTIP_RETURN_ERROR_IF(qtip_cuda_viterbi_smem_bytes(p) > QTIP_CUDA_VITERBI_SMEM_MAX,
                         QTIP_E_UNSUPPORTED,
                         "cannot quantize L=%d K=%d V=%d tiles on the GPU: %zu bytes of shared "
                         "memory per block, at most %zu",
                         p->L, p->K, p->V, qtip_cuda_viterbi_smem_bytes(p),
                         QTIP_CUDA_VITERBI_SMEM_MAX);
    QTIP_CUDA_CHECK(cudaSetDevice(dev));
    qtip_cuda_viterbi *v = (qtip_cuda_viterbi *)calloc(1, sizeof *v);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_NOMEM, "cannot allocate the device Viterbi handle");
    v->dev = dev;
    v->p = *p;
    v->T = (size_t)p->td_x * (size_t)p->td_y;
    v->S = v->T / (size_t)p->V;
    v->batch = max_tiles ? max_tiles : 1;
    qtip_status st = upload_tables(v, vals, norm);
    if (st != QTIP_OK) {
        qtip_cuda_viterbi_free(v);
        return st;
    }
    *out = v;
    return QTIP_OK;
}

size_t qtip_cuda_viterbi_batch(const qtip_cuda_viterbi *v) { return v->batch; }

qtip_status qtip_cuda_viterbi_shrink(qtip_cuda_viterbi *v)
{
    QTIP_RETURN_ERROR_IF(v->batch <= 1, QTIP_E_NOMEM,
                         "device Viterbi: out of device memory with batches of one tile");
    QTIP_CUDA_CHECK(cudaSetDevice(v->dev));
    cudaFree(v->bp);
    cudaFree(v->seq);
    cudaFree(v->states);
    v->bp = nullptr;
    v->seq = nullptr;
    v->states = nullptr;
    for (size_t tiles = v->batch / 2; tiles >= 1; tiles /= 2)
        if (alloc_batch(v, tiles))
            return QTIP_OK;
    v->batch = 0;
    return qtip_error(QTIP_E_CUDA, "cannot allocate the Viterbi scratch of one tile (%zu bytes)",
                      qtip_cuda_viterbi_scratch_words(&v->p) * sizeof(uint32_t));
}

qtip_status qtip_cuda_viterbi_run(qtip_cuda_viterbi *v, const float *seq, size_t nseq,
                                  uint32_t *states)
{
    QTIP_RETURN_ERROR_IF(!v || (nseq && (!seq || !states)), QTIP_E_PARAM,
                         "device Viterbi: null argument");
    QTIP_CUDA_CHECK(cudaSetDevice(v->dev));
    for (size_t q0 = 0; q0 < nseq; q0 += v->batch) {
        const size_t n = nseq - q0 < v->batch ? nseq - q0 : v->batch;
        QTIP_CUDA_CHECK(cudaMemcpy(v->seq, seq + q0 * v->T, n * v->T * sizeof(float),
                                   cudaMemcpyHostToDevice));
        QTIP_FORWARD_IF_ERROR(qtip_cuda_viterbi_quantize(&v->p, v->vals, v->norm, v->seq, n, v->bp,
                                                         v->states, 0));
        QTIP_CUDA_CHECK(cudaMemcpy(states + q0 * v->S, v->states, n * v->S * sizeof(uint32_t),
                                   cudaMemcpyDeviceToHost));
    }
    return QTIP_OK;
}

qtip_status qtip_cuda_viterbi_run_device(qtip_cuda_viterbi *v, const float *dseq, size_t nseq,
                                         uint32_t *dstates)
{
    QTIP_RETURN_ERROR_IF(!v || (nseq && (!dseq || !dstates)), QTIP_E_PARAM,
                         "device Viterbi: null argument");
    for (size_t q0 = 0; q0 < nseq; q0 += v->batch) {
        const size_t n = nseq - q0 < v->batch ? nseq - q0 : v->batch;
        QTIP_FORWARD_IF_ERROR(qtip_cuda_viterbi_quantize(&v->p, v->vals, v->norm, dseq + q0 * v->T,
                                                         n, v->bp, dstates + q0 * v->S, 0));
    }
    return QTIP_OK;
}

const qtip_trellis_params *qtip_cuda_viterbi_params(const qtip_cuda_viterbi *v) { return &v->p; }
const float *qtip_cuda_viterbi_device_vals(const qtip_cuda_viterbi *v) { return v->vals; }
int qtip_cuda_viterbi_device(const qtip_cuda_viterbi *v) { return v->dev; }
