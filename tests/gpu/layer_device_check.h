/*
 * layer_device_check.h — the whole trellis layer on a GPU (kernels/layer_quant.cu through
 * the plugin, qtip_quantize_layer with device cuda) against the CPU path: each layer's
 * rotated proxy loss within QTIP_CUDA_LAYER_LOSS_RTOL of the CPU's (cuBLAS/cuSOLVER sum
 * in their own order, so codes may differ in a few tiles: the share is printed), and
 * both wall times. Used by test_cuda_plugin.c on a GPU machine.
 */
#ifndef QTIP_TEST_LAYER_DEVICE_CHECK_H
#define QTIP_TEST_LAYER_DEVICE_CHECK_H

#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "core/cuda_plugin.h"
#include "qtip_quant.h"

/* H = X^T X / (2n) for Gaussian X: a calibration-like positive definite Hessian. */
static double *layer_check_hessian(test_rng *rng, int64_t n)
{
    const int64_t rows = 2 * n;
    double *X = malloc((size_t)(rows * n) * sizeof(double));
    double *H = calloc((size_t)(n * n), sizeof(double));
    for (int64_t i = 0; X && i < rows * n; i++) X[i] = test_rng_normal(rng);
    for (int64_t r = 0; X && H && r < rows; r++)
        for (int64_t i = 0; i < n; i++) {
            const double xi = X[r * n + i] / (double)rows;
            for (int64_t j = 0; j < n; j++) H[i * n + j] += xi * X[r * n + j];
        }
    free(X);
    return H;
}

static void layer_device_compare(int64_t m, int64_t n, test_rng *rng)
{
    float *W = malloc((size_t)(m * n) * sizeof(float));
    double *H = layer_check_hessian(rng, n);
    for (int64_t i = 0; W && i < m * n; i++) W[i] = (float)(0.02 * test_rng_normal(rng));
    qtip_layer_artifact *a[2] = {NULL, NULL};
    for (int d = 0; d < 2 && W && H; d++) {
        qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
        p.device = d ? QTIP_DEVICE_CUDA : QTIP_DEVICE_CPU;
        qtip_quantizer *q = NULL;
        CHECK_OK(qtip_quantizer_create(&p, &q));
        if (q) CHECK_OK(qtip_quantize_layer(q, W, m, n, H, "layer", &a[d]));
        qtip_quantizer_free(q);
    }
    if (a[0] && a[1]) {
        qtip_layer_info c, g;
        qtip_layer_artifact_info(a[0], &c);
        qtip_layer_artifact_info(a[1], &g);
        size_t words = (size_t)m * (size_t)c.code_cols, diff = 0;
        for (size_t i = 0; i < words; i++)
            diff += ((const uint16_t *)c.codes)[i] != ((const uint16_t *)g.codes)[i];
        const double rel = fabs(g.proxy_loss_rotated - c.proxy_loss_rotated) / c.proxy_loss_rotated;
        printf("  layer %lldx%lld HYB L=16 K=2: gpu %.2f s, cpu %.2f s; rotated proxy loss %.6g "
               "vs %.6g (relative %.2g, tolerance %g); %.2f%% of code words differ\n",
               (long long)m, (long long)n, g.seconds, c.seconds, g.proxy_loss_rotated,
               c.proxy_loss_rotated, rel, QTIP_CUDA_LAYER_LOSS_RTOL, 100.0 * (double)diff / (double)words);
        CHECK(rel <= QTIP_CUDA_LAYER_LOSS_RTOL, "layer %lldx%lld: relative proxy loss difference %.3g",
              (long long)m, (long long)n, rel);
    }
    qtip_layer_artifact_free(a[0]);
    qtip_layer_artifact_free(a[1]);
    free(W);
    free(H);
}

#endif /* QTIP_TEST_LAYER_DEVICE_CHECK_H */
