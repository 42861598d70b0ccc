/*
 * trellis_decode.cu — bitstream tiles to values (trellis_decode.cuh).
 *
 * Design: one block per tile (sequence); the tile's words are staged in dynamic shared
 * memory (every step's L-bit window straddles two words, read by two threads), then
 * thread i decodes steps i, i + blockDim, ...: window -> state -> V values through
 * the shared dispatch qtip_code_state_values (trellis_codes.h; the code traits
 * table's built-in rows use it too). Integer work and table reads only: bit-exact.
 */
#include "common.cuh"
#include "trellis_decode.cuh"

#include "trellis/trellis_codes.h"

#define DECODE_THREADS 128

/* grid nseq, block DECODE_THREADS, dynamic smem nw uint16. */
__global__ void __launch_bounds__(DECODE_THREADS)
    trellis_decode_kernel(const uint16_t *__restrict__ bits, uint32_t nw, int steps, int L,
                          int KV, int V, int Q, int code, const float *__restrict__ tlut,
                          float *__restrict__ out)
{
    DYN_SHARED(uint16_t, words);
    const uint16_t *w = bits + (size_t)blockIdx.x * nw;
    for (uint32_t i = threadIdx.x; i < nw; i += blockDim.x)
        words[i] = w[i];
    __syncthreads();
    float *o = out + (size_t)blockIdx.x * (size_t)steps * (size_t)V;
    for (int i = (int)threadIdx.x; i < steps; i += (int)blockDim.x) {
        const uint32_t s = qtip_trellis_window(words, nw, (uint32_t)(i * KV), L);
        qtip_code_state_values(code, s, V, Q, tlut, o + (size_t)i * (size_t)V);
    }
}

qtip_status qtip_cuda_trellis_decode(const qtip_trellis_params *p, const float *tlut,
                                     const uint16_t *bits, size_t nseq, float *out)
{
    QTIP_RETURN_ERROR_IF(!p, QTIP_E_PARAM, "cannot decode trellis bitstreams: no parameters");
    QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(p));
    QTIP_RETURN_ERROR_IF((int)p->code >= QTIP_CODE_BUILTIN_COUNT, QTIP_E_UNSUPPORTED,
                         "cannot decode trellis code '%s' on the GPU: host-only code",
                         qtip_code_name(p->code));
    QTIP_RETURN_ERROR_IF(qtip_trellis_tlut_shape(p, NULL, NULL) && !tlut, QTIP_E_PARAM,
                         "cannot decode trellis bitstreams: code '%s' needs its table",
                         qtip_code_name(p->code));
    QTIP_RETURN_ERROR_IF(nseq > 0x7fffffff, QTIP_E_UNSUPPORTED,
                         "cannot decode %zu trellis tiles: at most 2^31-1 per call", nseq);
    if (nseq == 0)
        return QTIP_OK;
    const int T = p->td_x * p->td_y, steps = T / p->V;
    const uint32_t nw = (uint32_t)qtip_trellis_words_per_tile(p);
    LAUNCH(trellis_decode_kernel, dim3((unsigned)nseq), dim3(DECODE_THREADS),
           nw * sizeof(uint16_t), 0, bits, nw, steps, p->L, p->K * p->V, p->V, p->Q,
           (int)p->code, tlut, out);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}
