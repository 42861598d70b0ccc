/*
 * bench_gemm_cuda.cu — the fused decode-GEMV (kernels/bitshift_gemm.cu) on a GPU:
 * a 4096 x 4096 2-bit HYB layer (synthetic codes, the default L=16 V=2 Q=9 16 x 16
 * mma tiles) at batch 1 and 8, against cuBLAS sgemv / sgemm on the layer's dense
 * fp32 weight W_hat (qtip_layer_artifact_decode) and a device-to-device copy's
 * bandwidth, all in the same run; first the outputs are checked against W_hat x in
 * double (docs/matvec.md's bound). Built only with CUDA (kernels/CMakeLists.txt),
 * run by scripts/gpu-check.sh; prints "  gemm ..." lines, exit 1 on a failed check.
 *   gpu_bench_gemm [m n]
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitshift_gemm.cuh"

#define REPS 50
#define DIE(...) (fprintf(stderr, "gpu_bench_gemm: " __VA_ARGS__), exit(2))

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

template <class T> static T *upload(const T *h, size_t count)
{
    T *d = nullptr;
    if (cudaMalloc(&d, count * sizeof(T)) || cudaMemcpy(d, h, count * sizeof(T), cudaMemcpyHostToDevice))
        DIE("upload of %zu bytes failed\n", count * sizeof(T));
    return d;
}

/* Milliseconds per call of f, the mean of REPS after 5 warm-up calls. */
template <class F> static double time_ms(F f)
{
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (int i = 0; i < 5; i++)
        f();
    cudaEventRecord(a);
    for (int i = 0; i < REPS; i++)
        f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return ms / REPS;
}

/* Worst |y - W x| / (1e-6 |W_i| |x|) over a batch, W x in double. */
static double worst_ratio(const float *W, int64_t m, int64_t n, const float *x, int batch, const float *y)
{
    double worst = 0;
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (size_t)b * n;
        double xn = 0;
        for (int64_t j = 0; j < n; j++)
            xn += (double)xb[j] * xb[j];
        for (int64_t i = 0; i < m; i++) {
            const float *w = W + (size_t)i * n;
            double dot = 0, wn = 0;
            for (int64_t j = 0; j < n; j++) {
                dot += (double)w[j] * xb[j];
                wn += (double)w[j] * w[j];
            }
            worst = fmax(worst, fabs(y[(size_t)b * m + i] - dot) / (1e-6 * sqrt(wn * xn)));
        }
    }
    return worst;
}

struct host_layer {
    qtip_layer_info l;
    uint16_t *codes;
    float *SU, *SV, *W;
    qtip_trellis *tr;
};

static void make_layer(int64_t m, int64_t n, host_layer *h)
{
    memset(h, 0, sizeof *h);
    qtip_layer_info *l = &h->l;
    l->params = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    l->m = m;
    l->n = n;
    l->tensor = "bench";
    l->weights_checksum = l->hessian_checksum = "";
    l->wscale = 0.02f;
    l->code_cols = n * l->params.trellis.K / 16;
    if (qtip_trellis_create(&l->params.trellis, &h->tr))
        DIE("%s\n", qtip_last_error());
    l->tlut = qtip_trellis_lut(h->tr, nullptr);
    qtip_trellis_tlut_shape(&l->params.trellis, &l->tlut_rows, &l->tlut_cols);
    h->codes = (uint16_t *)malloc((size_t)(m * l->code_cols) * 2);
    h->SU = (float *)malloc((size_t)n * 4);
    h->SV = (float *)malloc((size_t)m * 4);
    for (int64_t i = 0; i < m * l->code_cols; i++)
        h->codes[i] = (uint16_t)rng_next();
    for (int64_t i = 0; i < n; i++)
        h->SU[i] = rng_next() & 1 ? -1.0f : 1.0f;
    for (int64_t i = 0; i < m; i++)
        h->SV[i] = rng_next() & 1 ? -1.0f : 1.0f;
    l->codes = h->codes;
    l->SU = h->SU;
    l->SV = h->SV;
    qtip_layer_artifact *a = nullptr;
    h->W = (float *)malloc((size_t)(m * n) * 4);
    if (qtip_layer_artifact_from_info(l, &a) || qtip_layer_artifact_decode(a, h->W))
        DIE("%s\n", qtip_last_error());
    qtip_layer_artifact_free(a);
}

/* Device-to-device copy bandwidth (read + write), GB/s. */
static double copy_gbs(void)
{
    const size_t bytes = (size_t)1 << 30;
    void *a = nullptr, *b = nullptr;
    if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes))
        DIE("no memory for the bandwidth copy\n");
    double ms = time_ms([&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); });
    cudaFree(a);
    cudaFree(b);
    return 2.0 * bytes / (ms * 1e-3) * 1e-9;
}

int main(int argc, char **argv)
{
    const int64_t m = argc > 2 ? atoll(argv[1]) : 4096, n = argc > 2 ? atoll(argv[2]) : 4096;
    const int B = 8;
    host_layer h;
    make_layer(m, n, &h);
    float *x = (float *)malloc((size_t)(B * n) * 4), *y = (float *)malloc((size_t)(B * m) * 4);
    for (int64_t i = 0; i < B * n; i++)
        x[i] = (float)((int64_t)(rng_next() >> 40) - (1 << 23)) / (1 << 23);
    qtip_cuda_matvec_layer d;
    memset(&d, 0, sizeof d);
    d.params = h.l.params;
    d.m = m;
    d.n = n;
    d.wscale = h.l.wscale;
    d.code_cols = h.l.code_cols;
    d.codes = upload(h.codes, (size_t)(m * h.l.code_cols));
    d.SU = upload(h.SU, (size_t)n);
    d.SV = upload(h.SV, (size_t)m);
    d.tlut = upload(h.l.tlut, h.l.tlut_rows * h.l.tlut_cols);
    qtip_cuda_gemm *g = nullptr;
    if (qtip_cuda_gemm_create(0, &d, &g))
        DIE("%s\n", qtip_last_error());
    float *dx = upload(x, (size_t)(B * n)), *dy = nullptr, *dW = upload(h.W, (size_t)(m * n));
    cudaMalloc(&dy, (size_t)(B * m) * 4);
    int bad = 0;
    for (int batch : {1, B}) {
        if (qtip_cuda_gemm_apply(g, dx, dy, batch, nullptr) || cudaDeviceSynchronize())
            DIE("apply: %s\n", qtip_last_error());
        cudaMemcpy(y, dy, (size_t)(batch * m) * 4, cudaMemcpyDeviceToHost);
        const double w = worst_ratio(h.W, m, n, x, batch, y);
        printf("  gemm check HYB K=2 %lldx%lld batch %d: worst error %.3f of the bound%s\n",
               (long long)m, (long long)n, batch, w, w <= 1.0 ? "" : "  FAILED");
        bad |= !(w <= 1.0);
    }
    cublasHandle_t blas;
    cublasCreate(&blas);
    const float one = 1.0f, zero = 0.0f;
    const double bw = copy_gbs(), codes_mib = (double)(m * h.l.code_cols) * 2 / (1 << 20);
    for (int batch : {1, B}) {
        double layer = time_ms([&] { qtip_cuda_gemm_apply(g, dx, dy, batch, nullptr); });
        double product = time_ms([&] { qtip_cuda_bitshift_gemm(g, dx, batch, dy, 0); });
        double dense = time_ms([&] {
            if (batch == 1) /* row-major W (m x n) is column-major W^T (n x m) */
                cublasSgemv(blas, CUBLAS_OP_T, (int)n, (int)m, &one, dW, (int)n, dx, 1, &zero, dy, 1);
            else
                cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)m, batch, (int)n, &one, dW, (int)n,
                            dx, (int)n, &zero, dy, (int)m);
        });
        printf("  gemm HYB K=2 %lldx%lld batch %d: layer %.4f ms (product %.4f ms), cuBLAS %s %.4f ms "
               "on the fp32 weight: qtip/dense speed %.2fx; codes %.1f MiB at %.0f GB/s, "
               "dense-equivalent %.0f GB/s, copy bandwidth %.0f GB/s\n",
               (long long)m, (long long)n, batch, layer, product, batch == 1 ? "sgemv" : "sgemm", dense,
               dense / layer, codes_mib, codes_mib * 1.048576e-3 / (product * 1e-3),
               (double)(m * n) * 4e-9 / (layer * 1e-3), bw);
    }
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess)
        DIE("%s\n", cudaGetErrorString(e));
    cublasDestroy(blas);
    qtip_cuda_gemm_free(g);
    return bad;
}
