/*
 * bitshift_layer.cu — the layer around the decode-GEMV (bitshift_gemm.cuh): the
 * context's checks (those of the C matvec) and uploads (special Hadamard factors,
 * E8P tables, the rotated-input buffer), and one call: SU * x, U_n^T (rht.cu),
 * bitshift_gemm, U_m, * SV, all queued on the caller's stream. The multiplies
 * and the transforms are the CPU matvec's float operations, so only the product's
 * summation order differs from it.
 */
#include "common.cuh"
#include "bitshift_gemm_internal.cuh"
#include "rht.cuh"

#include "trellis/trellis_codes.h" /* QTIP_CODE_BUILTIN_COUNT: the codes with element logic */

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------- */
/* The layer around the product: signs, Hadamard transforms, scale            */
/* ------------------------------------------------------------------------- */

/* out[i] = in[i] * s[i % n] for `total` elements (in == out allowed): the
 * CPU matvec's float multiply, so the transforms see the same bits. */
__global__ void __launch_bounds__(GEMM_THREADS)
    gemm_scale_kernel(const float *in, const float *__restrict__ s, int64_t n, int64_t total,
                      float *out)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total)
        out[i] = in[i] * s[i % n];
}

static qtip_status scale_rows(const float *in, const float *s, int64_t n, int64_t total, float *out,
                              cudaStream_t stream)
{
    LAUNCH(gemm_scale_kernel, dim3(qtip_cuda_blocks(total, GEMM_THREADS)), dim3(GEMM_THREADS), 0,
           stream, in, s, n, total, out);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}

/* The trellis fields of the kernels' view; the checks the C matvec makes. */
static qtip_status trellis_view(const qtip_cuda_matvec_layer *l, gemm_layer *g)
{
    const qtip_trellis_params *p = &l->params.trellis;
    QTIP_RETURN_ERROR_IF((int)p->code >= QTIP_CODE_BUILTIN_COUNT || p->L > 16, QTIP_E_UNSUPPORTED,
                         "cuda matvec: code '%s' with L = %d: the kernels decode the built-in "
                         "codes with L <= 16", qtip_code_name(p->code), p->L);
    QTIP_RETURN_ERROR_IF(l->m % p->td_x || l->n % p->td_y || l->code_cols != l->n * p->K / 16,
                         QTIP_E_SHAPE,
                         "cuda matvec: a %lld x %lld layer with %lld code columns does not fit "
                         "%d x %d tiles at K = %d", (long long)l->m, (long long)l->n,
                         (long long)l->code_cols, p->td_x, p->td_y, p->K);
    g->mma = qtip_trellis_tile_is_mma(p);
    QTIP_RETURN_ERROR_IF(p->td_x > GEMM_THREADS || (p->V == 2 && !g->mma && p->td_y % 2),
                         QTIP_E_UNSUPPORTED,
                         "cuda matvec: %d x %d tiles (V = %d): at most %d rows, and a state's "
                         "values in one row", p->td_x, p->td_y, p->V, GEMM_THREADS);
    size_t floats = qtip_trellis_tlut_shape(p, NULL, NULL);
    QTIP_RETURN_ERROR_IF(floats && !l->tlut, QTIP_E_PARAM,
                         "cuda matvec: code '%s' needs its table", qtip_code_name(p->code));
    g->L = p->L;
    g->KV = p->K * p->V;
    g->V = p->V;
    g->Q = p->Q;
    g->code = (int)p->code;
    g->td_x = p->td_x;
    g->td_y = p->td_y;
    g->wr = p->td_y * p->K / 16;
    g->nw = (int)qtip_trellis_words_per_tile(p);
    g->tlut = l->tlut;
    g->table_floats = floats * sizeof(float) <= GEMM_TABLE_SMEM_MAX ? (int)floats : 0;
    return QTIP_OK;
}

static qtip_status e8p_view(const qtip_cuda_matvec_layer *l, gemm_layer *g)
{
    const qtip_e8p_kind k = l->params.e8p;
    QTIP_RETURN_ERROR_IF(l->n % 8 || l->code_cols != l->n / 8, QTIP_E_SHAPE,
                         "cuda matvec: a %lld x %lld E8P layer needs n %% 8 == 0 and n/8 code "
                         "columns, not %lld", (long long)l->m, (long long)l->n,
                         (long long)l->code_cols);
    g->e8p = 1;
    g->shift = qtip_e8p_code_bits(k) - 16;
    g->e81b = k == QTIP_E8P12_RVQ3;
    g->i32 = k != QTIP_E8P12;
    g->rs = (float)qtip_e8p_opt_resid_scale(k);
    return QTIP_OK;
}

/* H_K of the transform of length N on the device (NULL when K = 1), and the
 * transform kernel's limit checked now rather than at the first call. */
static qtip_status upload_special(int64_t N, const char *side, int8_t **dst, int64_t *K)
{
    int p = 0;
    QTIP_RETURN_ERROR_IF(!qtip_had_supported(N, K, &p), QTIP_E_UNSUPPORTED,
                         "cuda matvec: no Hadamard matrix of order %lld (%s features)",
                         (long long)N, side);
    const size_t smem = (size_t)N * sizeof(float) * (*K > 1 ? 2 : 1);
    QTIP_RETURN_ERROR_IF(smem > QTIP_CUDA_RHT_SMEM_MAX, QTIP_E_UNSUPPORTED,
                         "cuda matvec: a Hadamard transform of order %lld (%s features) is "
                         "beyond the transform kernel", (long long)N, side);
    if (*K == 1)
        return QTIP_OK;
    int8_t *H = (int8_t *)malloc((size_t)(*K * *K));
    QTIP_RETURN_ERROR_IF(!H, QTIP_E_NOMEM, "cuda matvec: no memory for H_%lld", (long long)*K);
    qtip_status st = qtip_had_special(*K, H);
    cudaError_t e = st ? cudaSuccess : cudaMalloc(dst, (size_t)(*K * *K));
    if (!st && e == cudaSuccess)
        e = cudaMemcpy(*dst, H, (size_t)(*K * *K), cudaMemcpyHostToDevice);
    free(H);
    QTIP_FORWARD_IF_ERROR(st);
    QTIP_CUDA_CHECK(e);
    return QTIP_OK;
}

/* The device buffers of a context: Hadamard factors, E8P tables, inputs. */
static qtip_status gemm_buffers(qtip_cuda_gemm *h, const qtip_cuda_matvec_layer *l)
{
    QTIP_FORWARD_IF_ERROR(upload_special(l->n, "in", &h->HKn, &h->Kn));
    QTIP_FORWARD_IF_ERROR(upload_special(l->m, "out", &h->HKm, &h->Km));
    QTIP_CUDA_CHECK(cudaMalloc(&h->X, (size_t)QTIP_MATVEC_MAX_BATCH * (size_t)l->n * sizeof(float)));
    if (h->g.e8p) {
        QTIP_CUDA_CHECK(cudaMalloc(&h->packed, 256 * sizeof(uint64_t)));
        QTIP_CUDA_CHECK(cudaMalloc(&h->e81b, 256 * sizeof(uint32_t)));
        QTIP_CUDA_CHECK(cudaMemcpy(h->packed, qtip_e8p_packed_abs_table(), 256 * sizeof(uint64_t),
                                   cudaMemcpyHostToDevice));
        QTIP_CUDA_CHECK(cudaMemcpy(h->e81b, qtip_e8p_e81b_packed_table(), 256 * sizeof(uint32_t),
                                   cudaMemcpyHostToDevice));
        h->g.packed = h->packed;
        h->g.e81b_tab = h->e81b;
    }
    return QTIP_OK;
}

void qtip_cuda_gemm_free(qtip_cuda_gemm *h)
{
    if (!h)
        return;
    cudaSetDevice(h->dev);
    cudaFree(h->HKn);
    cudaFree(h->HKm);
    cudaFree(h->X);
    cudaFree(h->packed);
    cudaFree(h->e81b);
    free(h);
}

static qtip_status gemm_init(qtip_cuda_gemm *h, const qtip_cuda_matvec_layer *l)
{
    QTIP_FORWARD_IF_ERROR(qtip_quant_check_params(&l->params));
    gemm_layer *g = &h->g;
    g->codes = l->codes;
    g->code_cols = l->code_cols;
    g->m = l->m;
    g->n = l->n;
    g->wscale = l->wscale;
    h->SU = l->SU;
    h->SV = l->SV;
    QTIP_FORWARD_IF_ERROR(l->params.method == QTIP_METHOD_E8P ? e8p_view(l, g) : trellis_view(l, g));
    QTIP_RETURN_ERROR_IF(gemm_batch_smem_bytes(*g, QTIP_MATVEC_MAX_BATCH) > 48 * 1024,
                         QTIP_E_UNSUPPORTED,
                         "cuda matvec: %d x %d tiles need more than 48 KiB of shared memory",
                         g->td_x, g->td_y);
    const char *no_mma = getenv("QTIP_GEMM_NO_MMA");
    h->use_mma = batch_rows(*g) == 16 && batch_chunk(*g) % 8 == 0 && !(no_mma && *no_mma == '1');
    QTIP_CUDA_CHECK(cudaSetDevice(h->dev));
    return gemm_buffers(h, l);
}

qtip_status qtip_cuda_gemm_create(int dev, const qtip_cuda_matvec_layer *l, qtip_cuda_gemm **out)
{
    QTIP_RETURN_ERROR_IF(!l || !out || !l->codes || !l->SU || !l->SV, QTIP_E_PARAM,
                         "cuda matvec: null argument");
    *out = nullptr;
    QTIP_RETURN_ERROR_IF(l->m < 1 || l->n < 1 || !isfinite(l->wscale), QTIP_E_PARAM,
                         "cuda matvec: a %lld x %lld layer with Wscale %g", (long long)l->m,
                         (long long)l->n, (double)l->wscale);
    qtip_cuda_gemm *h = (qtip_cuda_gemm *)calloc(1, sizeof *h);
    QTIP_RETURN_ERROR_IF(!h, QTIP_E_NOMEM, "cuda matvec: no memory for a context");
    h->dev = dev;
    qtip_status st = gemm_init(h, l);
    if (st) {
        qtip_cuda_gemm_free(h);
        return st;
    }
    *out = h;
    return QTIP_OK;
}

qtip_status qtip_cuda_gemm_apply(qtip_cuda_gemm *h, const float *x, float *y, int64_t batch,
                                 void *stream_)
{
    QTIP_RETURN_ERROR_IF(!h || !x || !y, QTIP_E_PARAM, "cuda matvec: null argument");
    QTIP_RETURN_ERROR_IF(batch < 1 || batch > QTIP_MATVEC_MAX_BATCH, QTIP_E_PARAM,
                         "cuda matvec: batch %lld is outside 1 .. %d", (long long)batch,
                         QTIP_MATVEC_MAX_BATCH);
    cudaStream_t stream = (cudaStream_t)stream_;
    const int64_t m = h->g.m, n = h->g.n;
    QTIP_CUDA_CHECK(cudaSetDevice(h->dev));
    QTIP_FORWARD_IF_ERROR(scale_rows(x, h->SU, n, batch * n, h->X, stream));
    QTIP_FORWARD_IF_ERROR(qtip_cuda_had_transform_f32_on(h->X, batch, n, h->HKn, h->Kn, 1, stream));
    QTIP_FORWARD_IF_ERROR(qtip_cuda_bitshift_gemm(h, h->X, batch, y, stream));
    QTIP_FORWARD_IF_ERROR(qtip_cuda_had_transform_f32_on(y, batch, m, h->HKm, h->Km, 0, stream));
    return scale_rows(y, h->SV, m, batch * m, y, stream);
}
