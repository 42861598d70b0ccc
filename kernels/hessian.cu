/*
 * hessian.cu — S += X^T X (float64) and column sums, one batch of rows (hessian.cuh).
 *
 * Design: one TILE x TILE block per tile of the lower triangle of S; the block walks
 * the rows TILE at a time, staging the two X panels (rows x TILE columns) in shared
 * memory, and each thread owns one S entry, summing its products in float64 in row
 * order. No atomics, so the result does not depend on scheduling and equals the
 * plain C loop bit for bit (float*float is exact in double). Blocks above the
 * diagonal exit at once, as whole blocks (no barrier is skipped by part of a block).
 *
 * The GPU backend (plugin.cu) accumulates with cuBLAS dsyrk instead, which is far
 * faster; what it needs of ours is the f32 upload: narrow on the host, widen here
 * (a grid-stride copy; exact, so any order gives the same bits).
 */
#include "common.cuh"
#include "hessian.cuh"

#define TILE QTIP_CUDA_HESSIAN_TILE

/* grid (n/TILE, n/TILE), block (TILE, TILE). X rows x n, S n x n. */
__global__ void __launch_bounds__(TILE *TILE)
    hessian_xtx_kernel(const float *__restrict__ X, int64_t rows, int64_t n,
                       double *__restrict__ S)
{
    __shared__ float xi[TILE][TILE + 1]; /* [row in chunk][column i - i0] */
    __shared__ float xj[TILE][TILE + 1]; /* [row in chunk][column j - j0] */
    const int64_t i0 = (int64_t)blockIdx.y * TILE, j0 = (int64_t)blockIdx.x * TILE;
    if (j0 > i0)
        return; /* upper triangle: the whole block leaves */
    const int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
    const int64_t i = i0 + ty, j = j0 + tx;
    double acc = 0.0;
    for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
        const int64_t r = r0 + ty;
        xi[ty][tx] = (r < rows && i0 + tx < n) ? X[r * n + i0 + tx] : 0.0f;
        xj[ty][tx] = (r < rows && j0 + tx < n) ? X[r * n + j0 + tx] : 0.0f;
        __syncthreads();
        const int kmax = rows - r0 < TILE ? (int)(rows - r0) : TILE;
        for (int k = 0; k < kmax; k++)
            acc += (double)xi[k][ty] * (double)xj[k][tx];
        __syncthreads();
    }
    if (i < n && j < n && j <= i)
        S[i * n + j] += acc;
}

/* grid n/256, block 256: one column per thread. */
__global__ void __launch_bounds__(256)
    hessian_colsum_kernel(const float *__restrict__ X, int64_t rows, int64_t n,
                          double *__restrict__ mu)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    double acc = 0.0;
    for (int64_t r = 0; r < rows; r++)
        acc += (double)X[r * n + i];
    mu[i] += acc;
}

qtip_status qtip_cuda_hessian_accumulate(const float *X, int64_t rows, int64_t n, double *S,
                                         double *mu)
{
    QTIP_RETURN_ERROR_IF(rows < 0 || n < 0, QTIP_E_PARAM,
                         "hessian batch of %lld rows of dimension %lld: sizes must be >= 0",
                         (long long)rows, (long long)n);
    if (rows == 0 || n == 0)
        return QTIP_OK;
    const unsigned t = qtip_cuda_blocks(n, TILE);
    LAUNCH(hessian_xtx_kernel, dim3(t, t), dim3(TILE, TILE), 0, 0, X, rows, n, S);
    QTIP_CUDA_CHECK_LAUNCH();
    if (mu) {
        LAUNCH(hessian_colsum_kernel, dim3(qtip_cuda_blocks(n, 256)), dim3(256), 0, 0, X, rows,
               n, mu);
        QTIP_CUDA_CHECK_LAUNCH();
    }
    return QTIP_OK;
}

int qtip_cuda_hessian_narrow(const double *x, size_t count, float *y)
{
    for (size_t k = 0; k < count; k++) {
        const float f = (float)x[k];
        /* == also accepts 0.0 for -0.0, but the cast keeps the sign of zero */
        if ((double)f != x[k])
            return 0;
        y[k] = f;
    }
    return 1;
}

/* Grid-stride: grid min(count/256, 4096) x 256 threads. */
__global__ void __launch_bounds__(256)
    hessian_widen_kernel(const float *__restrict__ x, size_t count, double *__restrict__ y)
{
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < count; k += stride)
        y[k] = (double)x[k];
}

qtip_status qtip_cuda_hessian_widen(const float *x, size_t count, double *y, cudaStream_t stream)
{
    if (count == 0)
        return QTIP_OK;
    const size_t blocks = (count + 255) / 256;
    const unsigned grid = (unsigned)(blocks < 4096 ? blocks : 4096);
    LAUNCH(hessian_widen_kernel, dim3(grid), dim3(256), 0, stream, x, count, y);
    QTIP_CUDA_CHECK_LAUNCH();
    return QTIP_OK;
}
