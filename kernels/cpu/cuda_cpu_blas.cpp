/*
 * cuda_cpu_blas.cpp — the cuBLAS / cuSOLVER shims of the CPU execution layer
 * (cublas_v2.h, cusolverDn.h): OpenBLAS and LAPACKE on the device buffers, which in
 * this layer are host memory. Each matrix argument must lie inside one cudaMalloc
 * allocation (a host pointer handed to cuBLAS is a bug the GPU would fault on), and
 * is reported through the layer's hook like any other misuse.
 */
#include "cublas_v2.h"
#include "cusolverDn.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>

struct qcpu_cublas_context {
    int unused;
};
struct qcpu_cusolver_context {
    int unused;
};

namespace {

/* Elements spanned by a column-major rows x cols matrix with leading dimension ld. */
size_t span(int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    return (size_t)(cols - 1) * (size_t)ld + (size_t)rows;
}

template <class T> bool on_device(const char *fn, const char *arg, const T *p, size_t count)
{
    if (count == 0 || qcpu::device_range(p, count * sizeof(T)))
        return true;
    qcpu::report_misuse("%s: argument %s (%p, %zu elements) is not within a device allocation", fn, arg,
                 (const void *)p, count);
    return false;
}

/* The operand shapes of a gemm, checked; false (reported) when one is off the device. */
template <class T>
bool gemm_args_ok(const char *fn, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                  const T *A, int lda, const T *B, int ldb, const T *C, int ldc)
{
    const size_t sa = ta == CUBLAS_OP_N ? span(m, k, lda) : span(k, m, lda);
    const size_t sb = tb == CUBLAS_OP_N ? span(k, n, ldb) : span(n, k, ldb);
    return on_device(fn, "A", A, sa) && on_device(fn, "B", B, sb) &&
           on_device(fn, "C", C, span(m, n, ldc));
}

CBLAS_TRANSPOSE cblas_op(cublasOperation_t t) { return t == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

int g_reorder = -1; /* -1: read the environment */

/* Element offset of column/row `k0` of the inner dimension in an operand. */
size_t inner_offset(cublasOperation_t t, int k0, int ld, bool left)
{
    /* A (m x k): N -> column k0 at k0 * ld; T -> row k0 at k0. B (k x n): the other way. */
    const bool by_column = left ? t == CUBLAS_OP_N : t != CUBLAS_OP_N;
    return by_column ? (size_t)k0 * (size_t)ld : (size_t)k0;
}

template <class T, class F>
void gemm_in_order(F gemm, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha,
                   const T *A, int lda, const T *B, int ldb, T beta, T *C, int ldc)
{
    if (!qcpu::blas_reorder() || k < 2) {
        gemm(CblasColMajor, cblas_op(ta), cblas_op(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int h = k / 2;
    gemm(CblasColMajor, cblas_op(ta), cblas_op(tb), m, n, h, alpha, A, lda, B, ldb, beta, C, ldc);
    gemm(CblasColMajor, cblas_op(ta), cblas_op(tb), m, n, k - h, alpha, A + inner_offset(ta, h, lda, true),
         lda, B + inner_offset(tb, h, ldb, false), ldb, (T)1, C, ldc);
}

/* potrf of the lower triangle through the upper one (reorder mode): mirror, factor
 * U^T U, mirror back. */
int potrf_lower_via_upper(int n, double *A, int lda)
{
    for (int j = 0; j < n; j++)
        for (int i = j + 1; i < n; i++)
            A[j + (size_t)i * lda] = A[i + (size_t)j * lda];
    const int info = (int)LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', n, A, lda);
    for (int j = 0; j < n; j++)
        for (int i = j + 1; i < n; i++)
            A[i + (size_t)j * lda] = A[j + (size_t)i * lda];
    return info;
}

} // namespace

void qcpu::set_blas_reorder(bool on) { g_reorder = on ? 1 : 0; }
bool qcpu::blas_reorder()
{
    if (g_reorder < 0) {
        const char *e = getenv("QTIP_CUDA_CPU_BLAS_REORDER");
        g_reorder = e && atoi(e) > 0 ? 1 : 0;
    }
    return g_reorder == 1;
}

cublasStatus_t cublasCreate(cublasHandle_t *handle)
{
    *handle = new qcpu_cublas_context();
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }

const char *cublasGetStatusName(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    default: return "CUBLAS_STATUS_EXECUTION_FAILED";
    }
}
const char *cublasGetStatusString(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid value was used as an argument";
    default: return "the CPU layer's cuBLAS shim failed";
    }
}

/* Both precisions: the argument checks, then the product in the stand-in's order. */
template <typename T, typename Cblas>
static cublasStatus_t gemm_shim(const char *name, cublasHandle_t handle, Cblas cblas_gemm,
                                cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                                int k, const T *alpha, const T *A, int lda, const T *B, int ldb,
                                const T *beta, T *C, int ldc)
{
    if (!handle || m < 0 || n < 0 || k < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!gemm_args_ok(name, transa, transb, m, n, k, A, lda, B, ldb, C, ldc))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m && n)
        gemm_in_order<T>(cblas_gemm, transa, transb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc)
{
    return gemm_shim<float>("cublasSgemm", handle, cblas_sgemm, transa, transb, m, n, k, alpha, A,
                            lda, B, ldb, beta, C, ldc);
}

cublasStatus_t cublasDgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const double *alpha,
                           const double *A, int lda, const double *B, int ldb,
                           const double *beta, double *C, int ldc)
{
    return gemm_shim<double>("cublasDgemm", handle, cblas_dgemm, transa, transb, m, n, k, alpha, A,
                             lda, B, ldb, beta, C, ldc);
}

cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t *handle)
{
    *handle = new qcpu_cusolver_context();
    return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t handle)
{
    delete handle;
    return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t, cudaStream_t)
{
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t, int n,
                                             double *A, int lda, int *Lwork)
{
    if (!handle || n < 0 || lda < (n > 1 ? n : 1) || !on_device("cusolverDnDpotrf_bufferSize", "A", A, span(n, n, lda)))
        return CUSOLVER_STATUS_INVALID_VALUE;
    *Lwork = 1; /* LAPACKE allocates its own work space */
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n,
                                  double *A, int lda, double *Workspace, int Lwork, int *devInfo)
{
    if (!handle || n < 0 || lda < (n > 1 ? n : 1) || Lwork < 1)
        return CUSOLVER_STATUS_INVALID_VALUE;
    if (!on_device("cusolverDnDpotrf", "A", A, span(n, n, lda)) ||
        !on_device("cusolverDnDpotrf", "Workspace", Workspace, (size_t)Lwork) ||
        !on_device("cusolverDnDpotrf", "devInfo", devInfo, 1))
        return CUSOLVER_STATUS_INVALID_VALUE;
    if (n == 0)
        *devInfo = 0;
    else if (uplo == CUBLAS_FILL_MODE_LOWER && qcpu::blas_reorder())
        *devInfo = potrf_lower_via_upper(n, A, lda);
    else
        *devInfo = (int)LAPACKE_dpotrf(LAPACK_COL_MAJOR, uplo == CUBLAS_FILL_MODE_LOWER ? 'L' : 'U',
                                       n, A, lda);
    return CUSOLVER_STATUS_SUCCESS;
}
