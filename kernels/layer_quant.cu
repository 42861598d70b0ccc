/*
 * layer_quant.cu — one linear layer's trellis quantization on the device
 * (layer_quant.cuh): the steps of lib/ldlq/quant_layer.c between the normalized
 * inputs and the codes, with W, H, the factor and the LDLQ state resident on the
 * device from the first upload to the last download.
 *
 * Design (docs/kernels.md, "The layer on the device"):
 * - RHT: sign kernel, then rht.cu's row transform; the column transform is a
 *   transpose, the row transform and a transpose back (same per-element operations
 *   as the CPU's column pass). W in float32, H in float64 (the CPU's types).
 * - Wscale and the overflow check need one sum in the CPU's order: the rotated W
 *   is read back once (it is also the caller's LDLQ target for the losses).
 * - Damping ladder (lib/ldlq/layer_steps.h, the same amounts and errors): add to the
 *   diagonal, transpose to column-major (what LAPACKE's row-major entry does before
 *   LAPACK's dpotrf) and cusolverDnDpotrf(LOWER); devInfo read back per try.
 * - Block LDL: lib/ldlq/ldl.c's loops as kernels, one thread per output element in
 *   the CPU's order of operations (inverse of each diagonal block by columns, then
 *   Lu = Lc blockdiag^-1), so the factor is the CPU's bit for bit given the same Lc.
 * - BlockLDLQ (lib/ldlq/ldlq.c, block callbacks): buffers of 128 columns from the
 *   last; target = W + P, plus cublasSgemm for the feedback inside the buffer;
 *   gather into tile sequences, the batched Viterbi kernel, scatter the values into
 *   What and E; P += E Lu over finished buffers by cublasSgemm. Row-major products
 *   are issued as their column-major transposes (C^T = B^T A^T).
 * Float order: every kernel here repeats the CPU loop's operations per element
 * (nvcc --fmad=false, g++ -ffp-contract=off). On the CPU layer cuBLAS/cuSOLVER are
 * OpenBLAS/LAPACKE with the CPU path's own calls, so the codes are the CPU path's;
 * on a GPU, cuBLAS and cuSOLVER sum in their own order (see the docs for the bound).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.cuh"
#include "layer_quant.cuh"
#include "rht.cuh"
#include "viterbi.cuh"

extern "C" {
#include "incoherence/hadamard_internal.h"
#include "ldlq/layer_steps.h"
}

#define LQ_THREADS 256
#define LQ_MAX_BLOCKS 8192
/* qtip_quant_proxy_terms's chunk of rows (ldlq.c): the same dgemm shapes. */
#define LQ_PROXY_ROWS 128

/* Grid-stride loop over count elements. */
#define LQ_FOR(e, count)                                                              \
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < (count);     \
         e += (int64_t)gridDim.x * blockDim.x)

static dim3 lq_grid(int64_t count)
{
    const unsigned b = qtip_cuda_blocks(count > 0 ? count : 1, LQ_THREADS);
    return dim3(b < LQ_MAX_BLOCKS ? b : LQ_MAX_BLOCKS);
}

/* ---- kernels ---------------------------------------------------------------- */

/* x[i, j] = (x[i, j] * cs[j]) * rs[i], the CPU rows pass's signs. */
template <class T>
__global__ void __launch_bounds__(LQ_THREADS)
    signs_kernel(T *x, int64_t rows, int64_t cols, const float *cs, const float *rs)
{
    LQ_FOR(e, rows * cols) x[e] = (x[e] * (T)cs[e % cols]) * (T)rs[e / cols];
}

/* out (cols x rows) = in (rows x cols) transposed. */
template <class T>
__global__ void __launch_bounds__(LQ_THREADS)
    transpose_kernel(const T *in, int64_t rows, int64_t cols, T *out)
{
    LQ_FOR(e, rows * cols) out[e] = in[(e % rows) * cols + e / rows];
}

template <class T>
__global__ void __launch_bounds__(LQ_THREADS) count_nonfinite_kernel(const T *x, int64_t count, int *bad)
{
    LQ_FOR(e, count) if (!isfinite(x[e])) atomicAdd(bad, 1);
}

__global__ void __launch_bounds__(LQ_THREADS) diag_kernel(const double *H, int64_t n, double *d)
{
    LQ_FOR(i, n) d[i] = H[i * n + i];
}

__global__ void __launch_bounds__(LQ_THREADS) diag_add_kernel(double *H, int64_t n, double add)
{
    LQ_FOR(i, n) H[i * n + i] += add;
}

/* L (row-major, upper zeroed) from the column-major lower factor C. */
__global__ void __launch_bounds__(LQ_THREADS) lower_rowmajor_kernel(const double *C, int64_t n, double *L)
{
    LQ_FOR(e, n * n)
    {
        const int64_t i = e / n, j = e % n;
        L[e] = j <= i ? C[i + j * n] : 0.0;
    }
}

/* Column c of the inverse of diagonal block k of Lc (ldl.c's invert_lower, whose
 * columns are independent), one thread per (k, c); *singular = the lowest block
 * with a zero pivot. */
__global__ void __launch_bounds__(LQ_THREADS)
    block_inverse_kernel(const double *Lc, int64_t n, int b, double *inv, int *singular)
{
    LQ_FOR(e, (n / b) * b)
    {
        const int64_t k = e / b, k0 = k * b;
        const int c = (int)(e % b);
        const double *A = Lc + k0 * n + k0;
        double *I = inv + k * b * b;
        for (int r = 0; r < c; r++)
            I[r * b + c] = 0.0;
        for (int r = c; r < b; r++) {
            double s = r == c ? 1.0 : 0.0;
            for (int t = c; t < r; t++)
                s -= A[r * n + t] * I[t * b + c];
            if (A[r * n + r] == 0) {
                atomicMin(singular, (int)k);
                break;
            }
            I[r * b + c] = s / A[r * n + r];
        }
    }
}

/* Lu = Lc blockdiag(Lkk)^-1 below the diagonal blocks, identity on them (ldl.c). */
__global__ void __launch_bounds__(LQ_THREADS)
    block_lu_kernel(const double *Lc, int64_t n, int b, const double *inv, double *Lu)
{
    LQ_FOR(e, n * n)
    {
        const int64_t i = e / n, j = e % n, k = j / b, k0 = k * b;
        const int c = (int)(j - k0);
        double v = i == j ? 1.0 : 0.0;
        if (k0 + b <= i) {
            const double *src = Lc + i * n + k0, *I = inv + k * b * b;
            double s = 0;
            for (int t = c; t < b; t++)
                s += src[t] * I[t * b + c];
            v = s;
        }
        Lu[e] = v;
    }
}

__global__ void __launch_bounds__(LQ_THREADS) to_float_kernel(const double *x, int64_t count, float *y)
{
    LQ_FOR(e, count) y[e] = (float)x[e];
}

/* tgt (m x b) = W + P on columns k0 .. k0+b-1 (ldlq.c's sweep_block_plain). */
__global__ void __launch_bounds__(LQ_THREADS)
    block_targets_kernel(const float *W, const float *P, int64_t m, int64_t n, int64_t k0, int b,
                         float *tgt)
{
    LQ_FOR(e, m * b)
    {
        const int64_t at = (e / b) * n + k0 + e % b;
        tgt[e] = W[at] + P[at];
    }
}

/* Tile q's sequence: element j is the block's element q*T + order[j] (rows q*td_x ..
 * of the row-major m x b block are tile q's T values); non-finite values counted. */
__global__ void __launch_bounds__(LQ_THREADS)
    gather_kernel(const float *tgt, const int *order, int64_t T, int64_t count, float *seq, int *bad)
{
    LQ_FOR(e, count)
    {
        const float x = tgt[(e / T) * T + order[e % T]];
        seq[e] = x;
        if (!isfinite(x))
            atomicAdd(bad, 1);
    }
}

/* The values of tile q's states back into What and E = W - What (trellis_device.c's
 * reconstruction, then ldlq.c's bookkeeping). */
__global__ void __launch_bounds__(LQ_THREADS)
    scatter_kernel(const uint32_t *states, const float *vals, int L, int V, int64_t S, int64_t T,
                   const int *order, int64_t count, const float *W, int64_t n, int64_t k0, int b,
                   float *What, float *E)
{
    LQ_FOR(e, count)
    {
        const int64_t q = e / T, j = e % T, i = j / V, v = j % V;
        const float val = vals[(v << L) + (int64_t)states[q * S + i]];
        const int64_t pos = q * T + order[j], at = (pos / b) * n + k0 + pos % b;
        What[at] = val;
        E[at] = W[at] - val;
    }
}

/* Rows r0 .. r0+cnt-1 of W - What (pass 0) or W (pass 1) in double, as
 * qtip_quant_proxy_terms forms them. */
__global__ void __launch_bounds__(LQ_THREADS)
    proxy_rows_kernel(const float *W, const float *What, int64_t r0, int64_t cnt, int64_t n,
                      int pass, double *D)
{
    LQ_FOR(e, cnt * n)
    {
        const int64_t at = r0 * n + e;
        D[e] = pass == 0 ? (double)W[at] - (double)What[at] : (double)W[at];
    }
}

/* rowv[i] = sum over j, in order, of D[i, j] G[i, j]: one thread per row. */
__global__ void __launch_bounds__(LQ_THREADS)
    row_dots_kernel(const double *D, const double *G, int64_t cnt, int64_t n, double *rowv)
{
    LQ_FOR(i, cnt)
    {
        double s = 0;
        for (int64_t j = 0; j < n; j++)
            s += D[i * n + j] * G[i * n + j];
        rowv[i] = s;
    }
}

/* ---- the layer's device state ------------------------------------------------- */

typedef struct {
    int64_t m, n, nseq, nb, T, S;
    int b;
    cublasHandle_t blas;
    cusolverDnHandle_t sol;
    float *W, *P, *E, *What, *Luf, *tgt, *seq, *SU, *SV;
    double *H, *C, *L, *inv, *work, *diag;
    double *D, *G, *rowv; /* proxy loss: 128-row chunks, and the m row sums */
    int8_t *HKm, *HKn;
    int64_t Km, Kn;
    int *order, *flag, *info;
    uint32_t *states;
    int lwork;
} lq_dev;

static void lq_free(lq_dev *d)
{
    if (d->blas)
        cublasDestroy(d->blas);
    if (d->sol)
        cusolverDnDestroy(d->sol);
    void *bufs[] = {d->W,   d->P,   d->E,    d->What, d->Luf, d->tgt, d->seq,
                    d->SU,  d->SV,  d->H,    d->C,    d->L,   d->inv, d->work,
                    d->diag, d->HKm, d->HKn, d->order, d->flag, d->info, d->states,
                    d->D,   d->G,   d->rowv};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cudaFree(bufs[i]);
}

/* cudaMalloc with the out-of-memory case named (the caller may retry elsewhere). */
template <class X> static qtip_status lq_malloc(X **p, size_t count, const char *what)
{
    if (cudaMalloc(p, (count ? count : 1) * sizeof(X)) == cudaSuccess)
        return QTIP_OK;
    cudaGetLastError();
    *p = nullptr;
    return qtip_error(QTIP_E_NOMEM, "device layer: no device memory for the %s (%zu bytes)", what,
                      count * sizeof(X));
}

/* H_K of the transform of length N on the device (NULL when K = 1). */
static qtip_status lq_special(int64_t N, int8_t **dst, int64_t *K)
{
    int p = 0;
    QTIP_RETURN_ERROR_IF(!qtip_had_supported(N, K, &p), QTIP_E_UNSUPPORTED,
                         "device layer: no hadamard transform of length %lld", (long long)N);
    if (*K == 1)
        return QTIP_OK;
    const int8_t *HK = nullptr;
    QTIP_FORWARD_IF_ERROR(qtip_had_special_get_(*K, &HK));
    QTIP_FORWARD_IF_ERROR(lq_malloc(dst, (size_t)(*K * *K), "hadamard matrix"));
    QTIP_CUDA_CHECK(cudaMemcpy(*dst, HK, (size_t)(*K * *K), cudaMemcpyHostToDevice));
    return QTIP_OK;
}

static qtip_status lq_alloc(lq_dev *d)
{
    const size_t mn = (size_t)d->m * (size_t)d->n, nn = (size_t)d->n * (size_t)d->n;
    const size_t mb = (size_t)d->m * (size_t)d->b;
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->W, mn, "weight"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->P, mn, "LDLQ feedback"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->E, mn, "LDLQ error"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->What, mn, "reconstruction"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->Luf, nn, "float LDL factor"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->tgt, mb, "block targets"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->seq, mb, "tile sequences"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->SU, (size_t)d->n, "signs"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->SV, (size_t)d->m, "signs"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->H, nn, "hessian"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->C, nn, "hessian factor"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->L, nn, "cholesky factor"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->inv, (size_t)d->n * (size_t)d->b, "block inverses"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->diag, (size_t)d->n, "hessian diagonal"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->order, (size_t)d->T, "tile order"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->flag, 1, "flag"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->info, 1, "solver info"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->states, (size_t)(d->nb * d->nseq * d->S), "states"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->D, (size_t)LQ_PROXY_ROWS * (size_t)d->n, "proxy rows"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->G, (size_t)LQ_PROXY_ROWS * (size_t)d->n, "proxy products"));
    QTIP_FORWARD_IF_ERROR(lq_malloc(&d->rowv, (size_t)d->m, "proxy row sums"));
    QTIP_FORWARD_IF_ERROR(lq_special(d->m, &d->HKm, &d->Km));
    QTIP_FORWARD_IF_ERROR(lq_special(d->n, &d->HKn, &d->Kn));
    QTIP_CUBLAS_CHECK(cublasCreate(&d->blas));
    QTIP_CUSOLVER_CHECK(cusolverDnCreate(&d->sol));
    QTIP_CUSOLVER_CHECK(cusolverDnDpotrf_bufferSize(d->sol, CUBLAS_FILL_MODE_LOWER, (int)d->n,
                                                    d->C, (int)d->n, &d->lwork));
    return lq_malloc(&d->work, (size_t)(d->lwork > 0 ? d->lwork : 1), "solver workspace");
}

/* The number of non-finite values among count elements of x (device). */
template <class T> static qtip_status lq_nonfinite(lq_dev *d, const T *x, int64_t count, int *bad)
{
    QTIP_CUDA_CHECK(cudaMemset(d->flag, 0, sizeof(int)));
    LAUNCH(count_nonfinite_kernel<T>, lq_grid(count), dim3(LQ_THREADS), 0, 0, x, count, d->flag);
    QTIP_CUDA_CHECK_LAUNCH();
    QTIP_CUDA_CHECK(cudaMemcpy(bad, d->flag, sizeof(int), cudaMemcpyDeviceToHost));
    return QTIP_OK;
}

template <class T> static qtip_status lq_transpose(const T *in, int64_t rows, int64_t cols, T *out)
{
    LAUNCH(transpose_kernel<T>, lq_grid(rows * cols), dim3(LQ_THREADS), 0, 0, in, rows, cols, out);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}

/* ---- steps --------------------------------------------------------------------- */

/* Wr = U_m^T diag(SV) W diag(SU) U_n (qtip_rht_weight), read back for Wscale and
 * the overflow check, divided by Wscale and put back. scratch: m x n. */
static qtip_status lq_rotate_weight(lq_dev *d, const qtip_cuda_layer_args *a, qtip_cuda_layer_io *io)
{
    const int64_t m = d->m, n = d->n;
    const size_t mn = (size_t)m * (size_t)n;
    float big = 0;
    for (size_t i = 0; i < mn; i++)
        big = fabsf(io->W[i]) > big ? fabsf(io->W[i]) : big;
    QTIP_CUDA_CHECK(cudaMemcpy(d->W, io->W, mn * sizeof(float), cudaMemcpyHostToDevice));
    QTIP_CUDA_CHECK(cudaMemcpy(d->SU, io->SU, (size_t)n * sizeof(float), cudaMemcpyHostToDevice));
    QTIP_CUDA_CHECK(cudaMemcpy(d->SV, io->SV, (size_t)m * sizeof(float), cudaMemcpyHostToDevice));
    LAUNCH(signs_kernel<float>, lq_grid(m * n), dim3(LQ_THREADS), 0, 0, d->W, m, n,
           (const float *)d->SU, (const float *)d->SV);
    QTIP_CUDA_CHECK_LAUNCH();
    QTIP_FORWARD_IF_ERROR(qtip_cuda_had_transform_f32(d->W, m, n, d->HKn, d->Kn, 1));
    QTIP_FORWARD_IF_ERROR(lq_transpose(d->W, m, n, d->E));
    QTIP_FORWARD_IF_ERROR(qtip_cuda_had_transform_f32(d->E, n, m, d->HKm, d->Km, 1));
    QTIP_FORWARD_IF_ERROR(lq_transpose(d->E, n, m, d->W));
    QTIP_CUDA_CHECK(cudaMemcpy(io->Wr, d->W, mn * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(io->Wr[i]), QTIP_E_NONFINITE,
                             "weight is too large for float32 arithmetic: the incoherence "
                             "transform overflows (largest |w| is %g)", (double)big);
    io->wscale = qtip_layer_wscale_(io->Wr, mn, a->target_rms);
    QTIP_CUDA_CHECK(cudaMemcpy(d->W, io->Wr, mn * sizeof(float), cudaMemcpyHostToDevice));
    return QTIP_OK;
}

/* Hr = U_n^T diag(SU) H diag(SU) U_n (qtip_rht_hessian) in d->H; d->C is scratch. */
static qtip_status lq_rotate_hessian(lq_dev *d, const qtip_cuda_layer_io *io)
{
    const int64_t n = d->n;
    QTIP_CUDA_CHECK(cudaMemcpy(d->H, io->H, (size_t)(n * n) * sizeof(double), cudaMemcpyHostToDevice));
    LAUNCH(signs_kernel<double>, lq_grid(n * n), dim3(LQ_THREADS), 0, 0, d->H, n, n,
           (const float *)d->SU, (const float *)d->SU);
    QTIP_CUDA_CHECK_LAUNCH();
    QTIP_FORWARD_IF_ERROR(qtip_cuda_had_transform_f64(d->H, n, n, d->HKn, d->Kn, 1));
    QTIP_FORWARD_IF_ERROR(lq_transpose(d->H, n, n, d->C));
    QTIP_FORWARD_IF_ERROR(qtip_cuda_had_transform_f64(d->C, n, n, d->HKn, d->Kn, 1));
    return lq_transpose(d->C, n, n, d->H);
}

/* qtip_ldl_regularize on d->H: the same checks, ladder and errors; the row-major
 * lower Cholesky factor lands in d->L. */
static qtip_status lq_regularize(lq_dev *d, const qtip_cuda_layer_args *a, qtip_cuda_layer_io *io)
{
    const int64_t n = d->n;
    int bad = 0;
    QTIP_FORWARD_IF_ERROR(lq_nonfinite(d, (const double *)d->H, n * n, &bad));
    QTIP_RETURN_ERROR_IF(bad, QTIP_E_NONFINITE, "hessian has NaN or infinite entries");
    LAUNCH(diag_kernel, lq_grid(n), dim3(LQ_THREADS), 0, 0, (const double *)d->H, n, d->diag);
    QTIP_CUDA_CHECK_LAUNCH();
    double *diag = (double *)malloc((size_t)n * sizeof(double));
    QTIP_RETURN_ERROR_IF(!diag, QTIP_E_NOMEM, "device layer: out of host memory");
    cudaError_t ce = cudaMemcpy(diag, d->diag, (size_t)n * sizeof(double), cudaMemcpyDeviceToHost);
    double mean = 0;
    for (int64_t i = 0; i < n; i++)
        mean += diag[i];
    free(diag);
    QTIP_CUDA_CHECK(ce);
    mean /= (double)n;
    QTIP_FORWARD_IF_ERROR(qtip_ldl_check_mean_(mean));
    double applied = 0;
    for (int t = 0; t < a->damping_tries; t++) {
        const double add = qtip_ldl_damping_add_(a->sigma_reg, t, mean, &applied);
        LAUNCH(diag_add_kernel, lq_grid(n), dim3(LQ_THREADS), 0, 0, d->H, n, add);
        QTIP_CUDA_CHECK_LAUNCH();
        QTIP_FORWARD_IF_ERROR(lq_transpose((const double *)d->H, n, n, d->C));
        QTIP_CUSOLVER_CHECK(cusolverDnDpotrf(d->sol, CUBLAS_FILL_MODE_LOWER, (int)n, d->C, (int)n,
                                            d->work, d->lwork, d->info));
        int info = 0;
        QTIP_CUDA_CHECK(cudaMemcpy(&info, d->info, sizeof(int), cudaMemcpyDeviceToHost));
        if (info == 0) {
            LAUNCH(lower_rowmajor_kernel, lq_grid(n * n), dim3(LQ_THREADS), 0, 0,
                   (const double *)d->C, n, d->L);
            QTIP_CUDA_CHECK_LAUNCH();
            io->damping = applied;
            qtip_ldl_damping_note_(applied, t);
            return QTIP_OK;
        }
        QTIP_RETURN_ERROR_IF(info < 0, QTIP_E_INTERNAL, "cusolverDnDpotrf rejected argument %d",
                             -info);
    }
    return qtip_ldl_not_pd_error_(applied, a->damping_tries, a->sigma_reg);
}

/* qtip_ldl_block on d->L: the unit block-lower factor Lu in d->C, as float in d->Luf. */
static qtip_status lq_block_ldl(lq_dev *d)
{
    const int64_t n = d->n, nb = n / d->b;
    int first = (int)nb;
    QTIP_CUDA_CHECK(cudaMemcpy(d->flag, &first, sizeof(int), cudaMemcpyHostToDevice));
    LAUNCH(block_inverse_kernel, lq_grid(n), dim3(LQ_THREADS), 0, 0, (const double *)d->L, n, d->b,
           d->inv, d->flag);
    QTIP_CUDA_CHECK_LAUNCH();
    QTIP_CUDA_CHECK(cudaMemcpy(&first, d->flag, sizeof(int), cudaMemcpyDeviceToHost));
    QTIP_RETURN_ERROR_IF(first < nb, QTIP_E_NONFINITE, "block LDL: diagonal block %lld is singular",
                         (long long)first);
    LAUNCH(block_lu_kernel, lq_grid(n * n), dim3(LQ_THREADS), 0, 0, (const double *)d->L, n, d->b,
           (const double *)d->inv, d->C);
    QTIP_CUDA_CHECK_LAUNCH();
    int bad = 0;
    QTIP_FORWARD_IF_ERROR(lq_nonfinite(d, (const double *)d->C, n * n, &bad));
    QTIP_RETURN_ERROR_IF(bad, QTIP_E_NONFINITE, "block LDL produced NaN or infinite values");
    LAUNCH(to_float_kernel, lq_grid(n * n), dim3(LQ_THREADS), 0, 0, (const double *)d->C, n * n,
           d->Luf);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}

/* Row-major C (rows x cols, ldc) += A (rows x inner, lda) B (inner x cols, ldb), issued
 * as the column-major C^T += B^T A^T. */
static qtip_status lq_gemm_acc(lq_dev *d, int64_t rows, int64_t cols, int64_t inner, const float *A,
                               int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    const float one = 1.0f;
    QTIP_CUBLAS_CHECK(cublasSgemm(d->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)cols, (int)rows,
                                  (int)inner, &one, B, (int)ldb, A, (int)lda, &one, C, (int)ldc));
    return QTIP_OK;
}

/* Column block k0 of the buffer ending at e: targets, tiles through the Viterbi,
 * What and E (ldlq.c's sweep_block_plain with the trellis callbacks). */
static qtip_status lq_sweep_block(lq_dev *d, qtip_cuda_viterbi *v, int feedback, int64_t k0, int64_t e)
{
    const int64_t m = d->m, n = d->n, count = d->nseq * d->T;
    const int b = d->b;
    const qtip_trellis_params *p = qtip_cuda_viterbi_params(v);
    LAUNCH(block_targets_kernel, lq_grid(m * b), dim3(LQ_THREADS), 0, 0, (const float *)d->W,
           (const float *)d->P, m, n, k0, b, d->tgt);
    QTIP_CUDA_CHECK_LAUNCH();
    if (feedback && k0 + b < e)
        QTIP_FORWARD_IF_ERROR(lq_gemm_acc(d, m, b, e - k0 - b, d->E + k0 + b, n,
                                          d->Luf + (k0 + b) * n + k0, n, d->tgt, b));
    QTIP_CUDA_CHECK(cudaMemset(d->flag, 0, sizeof(int)));
    LAUNCH(gather_kernel, lq_grid(count), dim3(LQ_THREADS), 0, 0, (const float *)d->tgt,
           (const int *)d->order, d->T, count, d->seq, d->flag);
    QTIP_CUDA_CHECK_LAUNCH();
    int bad = 0;
    QTIP_CUDA_CHECK(cudaMemcpy(&bad, d->flag, sizeof(int), cudaMemcpyDeviceToHost));
    QTIP_RETURN_ERROR_IF(bad, QTIP_E_NONFINITE,
                         "LDLQ targets of column block %lld have %d NaN or infinite values",
                         (long long)(k0 / b), bad);
    uint32_t *st = d->states + (k0 / b) * d->nseq * d->S;
    QTIP_FORWARD_IF_ERROR(qtip_cuda_viterbi_run_device(v, d->seq, (size_t)d->nseq, st));
    LAUNCH(scatter_kernel, lq_grid(count), dim3(LQ_THREADS), 0, 0, (const uint32_t *)st,
           qtip_cuda_viterbi_device_vals(v), p->L, p->V, d->S, d->T, (const int *)d->order, count,
           (const float *)d->W, n, k0, b, d->What, d->E);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}

/* ldlq.c's sweep: buffers of 128 columns from the last; P carries finished buffers. */
static qtip_status lq_sweep(lq_dev *d, qtip_cuda_viterbi *v, int feedback)
{
    const int64_t m = d->m, n = d->n, b = d->b, buf = b * (128 / b > 0 ? 128 / b : 1);
    QTIP_CUDA_CHECK(cudaMemset(d->P, 0, (size_t)(m * n) * sizeof(float)));
    QTIP_CUDA_CHECK(cudaMemset(d->E, 0, (size_t)(m * n) * sizeof(float)));
    for (int64_t bi = (n + buf - 1) / buf - 1; bi >= 0; bi--) {
        const int64_t s = bi * buf, e = s + buf < n ? s + buf : n;
        for (int64_t k0 = e - b; k0 >= s; k0 -= b)
            QTIP_FORWARD_IF_ERROR(lq_sweep_block(d, v, feedback, k0, e));
        if (feedback && s > 0)
            QTIP_FORWARD_IF_ERROR(lq_gemm_acc(d, m, s, e - s, d->E + s, n, d->Luf + s * n, n, d->P, n));
    }
    return QTIP_OK;
}

/* qtip_quant_proxy_terms(Wr, What, Hr, &err, &ref) on the device: chunks of 128
 * rows, G = D Hr by cublasDgemm, row sums in order; the totals on the host. */
static qtip_status lq_proxy_terms(lq_dev *d, double *err, double *ref)
{
    const int64_t m = d->m, n = d->n;
    const double one = 1.0, zero = 0.0;
    double *rowv = (double *)malloc((size_t)m * sizeof(double));
    QTIP_RETURN_ERROR_IF(!rowv, QTIP_E_NOMEM, "device layer: out of host memory");
    qtip_status st = QTIP_OK;
    for (int pass = 0; pass < 2 && st == QTIP_OK; pass++) {
        for (int64_t r0 = 0; r0 < m && st == QTIP_OK; r0 += LQ_PROXY_ROWS) {
            const int64_t cnt = m - r0 < LQ_PROXY_ROWS ? m - r0 : LQ_PROXY_ROWS;
            LAUNCH(proxy_rows_kernel, lq_grid(cnt * n), dim3(LQ_THREADS), 0, 0, (const float *)d->W,
                   (const float *)d->What, r0, cnt, n, pass, d->D);
            cublasStatus_t bs = cublasDgemm(d->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)cnt,
                                            (int)n, &one, d->H, (int)n, d->D, (int)n, &zero, d->G,
                                            (int)n);
            if (bs != CUBLAS_STATUS_SUCCESS)
                st = qtip_error(QTIP_E_CUDA, "cublasDgemm (proxy loss) failed: %s",
                                cublasGetStatusName(bs));
            LAUNCH(row_dots_kernel, lq_grid(cnt), dim3(LQ_THREADS), 0, 0, (const double *)d->D,
                   (const double *)d->G, cnt, n, d->rowv + r0);
        }
        cudaError_t ce = cudaGetLastError(); /* the launches above */
        if (ce == cudaSuccess)
            ce = cudaMemcpy(rowv, d->rowv, (size_t)m * sizeof(double), cudaMemcpyDeviceToHost);
        if (st == QTIP_OK && ce != cudaSuccess)
            st = qtip_error(QTIP_E_CUDA, "device layer: proxy loss: %s (%s)",
                            cudaGetErrorString(ce), cudaGetErrorName(ce));
        double tot = 0;
        for (int64_t i = 0; i < m; i++)
            tot += rowv[i];
        *(pass == 0 ? err : ref) = tot;
    }
    free(rowv);
    return st;
}

static qtip_status lq_check(const qtip_cuda_viterbi *v, const qtip_cuda_layer_args *a,
                            const qtip_cuda_layer_io *io)
{
    QTIP_RETURN_ERROR_IF(!v || !a || !io || !io->W || !io->H || !io->SU || !io->SV || !io->order ||
                             !io->Wr || !io->What || !io->states,
                         QTIP_E_PARAM, "device layer: null argument");
    const qtip_trellis_params *p = qtip_cuda_viterbi_params(v);
    QTIP_RETURN_ERROR_IF(a->m < 1 || a->n < 1 || a->m % p->td_x || a->n % p->td_y, QTIP_E_SHAPE,
                         "device layer: shape [%lld, %lld] is not a multiple of the %d x %d tile",
                         (long long)a->m, (long long)a->n, p->td_x, p->td_y);
    QTIP_RETURN_ERROR_IF(a->n > 0x7fffffff / (a->m > a->n ? a->m : a->n), QTIP_E_UNSUPPORTED,
                         "device layer: shape [%lld, %lld] exceeds 32-bit BLAS indices",
                         (long long)a->m, (long long)a->n);
    QTIP_RETURN_ERROR_IF(a->damping_tries < 1 || !(a->sigma_reg >= 0), QTIP_E_PARAM,
                         "device layer: damping tries %d, sigma_reg %g", a->damping_tries,
                         a->sigma_reg);
    return QTIP_OK;
}

/* The steps in order; the caller frees d. */
static qtip_status lq_run(lq_dev *d, qtip_cuda_viterbi *v, const qtip_cuda_layer_args *a,
                          qtip_cuda_layer_io *io)
{
    QTIP_FORWARD_IF_ERROR(lq_alloc(d));
    QTIP_CUDA_CHECK(cudaMemcpy(d->order, io->order, (size_t)d->T * sizeof(int), cudaMemcpyHostToDevice));
    QTIP_FORWARD_IF_ERROR(lq_rotate_weight(d, a, io));
    QTIP_FORWARD_IF_ERROR(lq_rotate_hessian(d, io));
    QTIP_FORWARD_IF_ERROR(lq_regularize(d, a, io));
    QTIP_FORWARD_IF_ERROR(lq_block_ldl(d));
    QTIP_FORWARD_IF_ERROR(lq_sweep(d, v, a->feedback));
    QTIP_FORWARD_IF_ERROR(lq_proxy_terms(d, &io->err, &io->ref));
    const size_t mn = (size_t)d->m * (size_t)d->n, nn = (size_t)d->n * (size_t)d->n;
    QTIP_CUDA_CHECK(cudaMemcpy(io->What, d->What, mn * sizeof(float), cudaMemcpyDeviceToHost));
    if (io->Hr)
        QTIP_CUDA_CHECK(cudaMemcpy(io->Hr, d->H, nn * sizeof(double), cudaMemcpyDeviceToHost));
    QTIP_CUDA_CHECK(cudaMemcpy(io->states, d->states,
                               (size_t)(d->nb * d->nseq * d->S) * sizeof(uint32_t),
                               cudaMemcpyDeviceToHost));
    return QTIP_OK;
}

/* An empty device state with the layer's shape. */
static void lq_init(lq_dev *d, const qtip_cuda_viterbi *v, const qtip_cuda_layer_args *a)
{
    const qtip_trellis_params *p = qtip_cuda_viterbi_params(v);
    memset(d, 0, sizeof *d);
    d->m = a->m;
    d->n = a->n;
    d->b = p->td_y;
    d->T = (int64_t)p->td_x * p->td_y;
    d->S = d->T / p->V;
    d->nseq = a->m / p->td_x;
    d->nb = a->n / p->td_y;
}

qtip_status qtip_cuda_layer_quantize(qtip_cuda_viterbi *v, const qtip_cuda_layer_args *a,
                                     qtip_cuda_layer_io *io)
{
    QTIP_FORWARD_IF_ERROR(lq_check(v, a, io));
    QTIP_CUDA_CHECK(cudaSetDevice(qtip_cuda_viterbi_device(v)));
    lq_dev d;
    lq_init(&d, v, a);
    /* Out of device memory: smaller Viterbi batches give the layer room, not a failure. */
    qtip_status st;
    while ((st = lq_run(&d, v, a, io)) == QTIP_E_NOMEM && qtip_cuda_viterbi_batch(v) > 1) {
        lq_free(&d);
        lq_init(&d, v, a);
        QTIP_FORWARD_IF_ERROR(qtip_cuda_viterbi_shrink(v));
        qtip_log(QTIP_LOG_INFO, "device layer: out of device memory, Viterbi batches of %zu tiles",
                 qtip_cuda_viterbi_batch(v));
    }
    lq_free(&d);
    return st;
}
