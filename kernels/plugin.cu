/*
 * plugin.cu — libqtip_cuda.so, the GPU backend that libqtip loads at run time
 * (lib/core/cuda_plugin.h, lib/core/backend.c; docs/kernels.md, "GPU backend").
 *
 * Design: libqtip never links CUDA; this shared object does (cudart, cublas) and
 * exports one symbol, qtip_cuda_backend_v1, returning a table of plain C entries.
 * It carries a private copy of the libqtip code it uses (error messages, trellis
 * parameters), hidden from the loader, so its messages are read back through
 * last_error().
 *
 * Hessian: the sum D = sum X^T X stays on the device across blocks (one cuBLAS
 * dsyrk per block, beta = 1) and is added into the host's S only when S is read.
 * A row-major n x n lower triangle is a column-major upper triangle, so the call
 * is dsyrk(UPPER, N, n, rows, X^T as an n x rows column-major matrix). Uploads go
 * through two pinned staging buffers, so the host prepares block b+1 while block
 * b is copied and multiplied; a block whose values are all exact in float32 (any
 * f32/f16/bf16 input) crosses the bus as float32 and is widened on the device.
 *
 * Viterbi: the entries are viterbi_batch.cu's handle, which the CPU execution layer
 * also runs in CI; layer_quantize is layer_quant.cu's driver (cuBLAS, cuSOLVER), run
 * in CI through the layer's OpenBLAS/LAPACKE shims.
 *
 * Serving: gemm_* are bitshift_gemm.cu's context (fused decode + GEMV of a packed
 * layer), the same source the CPU execution layer runs in CI.
 */
#include <string.h>

#include "bitshift_gemm.cuh"
#include "blas.cuh"
#include "hessian.cuh"
#include "layer_quant.cuh"
#include "viterbi_batch.cuh"

#include "core/cuda_plugin.h"

struct qtip_cuda_hessian_acc {
    int dev;
    int64_t n;
    size_t max_rows;
    cudaStream_t stream;
    cublasHandle_t blas;
    double *dS;          /* n x n, lower triangle (row-major) = upper (column-major) */
    double *dX;          /* max_rows x n */
    float *dXf;          /* max_rows x n, the float32 upload */
    void *stage[2];      /* pinned, max_rows x n doubles each */
    cudaEvent_t free_[2]; /* recorded once stage[i]'s upload has been read */
    int cur;
};

static const char *plugin_last_error(void) { return qtip_last_error(); }

static qtip_status plugin_device_count(int *count)
{
    *count = 0;
    cudaError_t e = cudaGetDeviceCount(count);
    if (e != cudaSuccess) {
        *count = 0;
        return qtip_error(QTIP_E_CUDA, "cudaGetDeviceCount returned %s (%s)", cudaGetErrorName(e),
                          cudaGetErrorString(e));
    }
    return QTIP_OK;
}

static qtip_status plugin_device_info(int dev, char *name, size_t cap, size_t *total_bytes, int *cc)
{
    cudaDeviceProp prop;
    QTIP_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    if (cap) {
        strncpy(name, prop.name, cap - 1);
        name[cap - 1] = 0;
    }
    *total_bytes = prop.totalGlobalMem;
    *cc = prop.major * 10 + prop.minor;
    return QTIP_OK;
}

static void plugin_hessian_free(qtip_cuda_hessian_acc *a)
{
    if (!a)
        return;
    cudaSetDevice(a->dev);
    if (a->stream)
        cudaStreamSynchronize(a->stream);
    if (a->blas)
        cublasDestroy(a->blas);
    for (int i = 0; i < 2; i++) {
        if (a->free_[i])
            cudaEventDestroy(a->free_[i]);
        if (a->stage[i])
            cudaFreeHost(a->stage[i]);
    }
    cudaFree(a->dS);
    cudaFree(a->dX);
    cudaFree(a->dXf);
    if (a->stream)
        cudaStreamDestroy(a->stream);
    free(a);
}

static qtip_status hessian_init(qtip_cuda_hessian_acc *a)
{
    const size_t n = (size_t)a->n, nn = n * n, blk = a->max_rows * n;
    QTIP_CUDA_CHECK(cudaSetDevice(a->dev));
    size_t free_b = 0, total_b = 0;
    QTIP_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const size_t need = nn * sizeof(double) + blk * (sizeof(double) + sizeof(float));
    QTIP_RETURN_ERROR_IF(need > free_b, QTIP_E_NOMEM,
                         "needs %.2f GiB of device memory, %.2f GiB of %.2f GiB are free",
                         need / 1073741824.0, free_b / 1073741824.0, total_b / 1073741824.0);
    QTIP_CUDA_CHECK(cudaStreamCreateWithFlags(&a->stream, cudaStreamNonBlocking));
    QTIP_CUDA_CHECK(cudaMalloc(&a->dS, nn * sizeof(double)));
    QTIP_CUDA_CHECK(cudaMalloc(&a->dX, blk * sizeof(double)));
    QTIP_CUDA_CHECK(cudaMalloc(&a->dXf, blk * sizeof(float)));
    QTIP_CUDA_CHECK(cudaMemsetAsync(a->dS, 0, nn * sizeof(double), a->stream));
    for (int i = 0; i < 2; i++) {
        QTIP_CUDA_CHECK(cudaHostAlloc(&a->stage[i], blk * sizeof(double), cudaHostAllocDefault));
        QTIP_CUDA_CHECK(cudaEventCreateWithFlags(&a->free_[i], cudaEventDisableTiming));
    }
    QTIP_CUBLAS_CHECK(cublasCreate(&a->blas));
    QTIP_CUBLAS_CHECK(cublasSetStream(a->blas, a->stream));
    QTIP_CUDA_CHECK(cudaStreamSynchronize(a->stream));
    return QTIP_OK;
}

static qtip_status plugin_hessian_create(int dev, int64_t n, size_t max_rows,
                                         qtip_cuda_hessian_acc **out)
{
    *out = NULL;
    QTIP_RETURN_ERROR_IF(n <= 0 || max_rows == 0, QTIP_E_PARAM,
                         "cuda hessian of dimension %lld with blocks of %zu rows: both must be > 0",
                         (long long)n, max_rows);
    qtip_cuda_hessian_acc *a = (qtip_cuda_hessian_acc *)calloc(1, sizeof *a);
    QTIP_RETURN_ERROR_IF(!a, QTIP_E_NOMEM, "cannot allocate a cuda hessian accumulator");
    a->dev = dev;
    a->n = n;
    a->max_rows = max_rows;
    qtip_status s = hessian_init(a);
    if (s) {
        plugin_hessian_free(a);
        return s;
    }
    *out = a;
    return QTIP_OK;
}

static qtip_status plugin_hessian_add(qtip_cuda_hessian_acc *a, const double *X, size_t rows)
{
    QTIP_RETURN_ERROR_IF(rows > a->max_rows, QTIP_E_PARAM,
                         "cuda hessian block of %zu rows, expected at most %zu", rows, a->max_rows);
    if (rows == 0)
        return QTIP_OK;
    QTIP_CUDA_CHECK(cudaSetDevice(a->dev));
    const int slot = a->cur;
    a->cur ^= 1;
    const size_t count = rows * (size_t)a->n;
    /* the previous upload from this buffer must have been read */
    QTIP_CUDA_CHECK(cudaEventSynchronize(a->free_[slot]));
    if (qtip_cuda_hessian_narrow(X, count, (float *)a->stage[slot])) {
        QTIP_CUDA_CHECK(cudaMemcpyAsync(a->dXf, a->stage[slot], count * sizeof(float),
                                        cudaMemcpyHostToDevice, a->stream));
        QTIP_FORWARD_IF_ERROR(qtip_cuda_hessian_widen(a->dXf, count, a->dX, a->stream));
    } else {
        memcpy(a->stage[slot], X, count * sizeof(double));
        QTIP_CUDA_CHECK(cudaMemcpyAsync(a->dX, a->stage[slot], count * sizeof(double),
                                        cudaMemcpyHostToDevice, a->stream));
    }
    QTIP_CUDA_CHECK(cudaEventRecord(a->free_[slot], a->stream));
    const double one = 1.0;
    const int n = (int)a->n;
    QTIP_CUBLAS_CHECK(cublasDsyrk(a->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, n, (int)rows, &one,
                                  a->dX, n, &one, a->dS, n));
    return QTIP_OK;
}

static qtip_status plugin_hessian_sync(qtip_cuda_hessian_acc *a, double *S, int discard)
{
    QTIP_CUDA_CHECK(cudaSetDevice(a->dev));
    QTIP_CUDA_CHECK(cudaStreamSynchronize(a->stream)); /* also frees both staging buffers */
    const size_t n = (size_t)a->n;
    if (!discard) {
        double *buf = (double *)a->stage[0];
        for (size_t r0 = 0; r0 < n; r0 += a->max_rows) {
            const size_t rc = n - r0 < a->max_rows ? n - r0 : a->max_rows;
            QTIP_CUDA_CHECK(cudaMemcpyAsync(buf, a->dS + r0 * n, rc * n * sizeof(double),
                                            cudaMemcpyDeviceToHost, a->stream));
            QTIP_CUDA_CHECK(cudaStreamSynchronize(a->stream));
            for (size_t i = r0; i < r0 + rc; i++) {
                const double *src = buf + (i - r0) * n;
                double *dst = S + i * n;
                for (size_t j = 0; j <= i; j++)
                    dst[j] += src[j];
            }
        }
    }
    QTIP_CUDA_CHECK(cudaMemsetAsync(a->dS, 0, n * n * sizeof(double), a->stream));
    QTIP_CUDA_CHECK(cudaStreamSynchronize(a->stream));
    return QTIP_OK;
}

#define QTIP_PLUGIN_STR2_(x) #x
#define QTIP_PLUGIN_STR_(x) QTIP_PLUGIN_STR2_(x)

extern "C" __attribute__((visibility("default"))) const qtip_cuda_plugin *qtip_cuda_backend_v1(void)
{
    static const qtip_cuda_plugin table = {
        QTIP_CUDA_PLUGIN_ABI,
        (uint32_t)sizeof(qtip_cuda_plugin),
        "cuda " QTIP_PLUGIN_STR_(__CUDACC_VER_MAJOR__) "." QTIP_PLUGIN_STR_(__CUDACC_VER_MINOR__) ", cublas",
        plugin_last_error,
        plugin_device_count,
        plugin_device_info,
        plugin_hessian_create,
        plugin_hessian_add,
        plugin_hessian_sync,
        plugin_hessian_free,
        qtip_cuda_viterbi_create,
        qtip_cuda_viterbi_run,
        qtip_cuda_viterbi_free,
        qtip_cuda_layer_quantize,
        qtip_cuda_gemm_create,
        qtip_cuda_gemm_apply,
        qtip_cuda_gemm_free,
    };
    return &table;
}
