/*
 * test_bitshift_gemm.cpp — kernels/bitshift_gemm.cu, the fused decode + GEMV of a
 * packed layer, on the CPU execution layer, against the C decoder.
 *
 * For every trellis code and K (HYB in the tensor-core tile order at K = 2..4,
 * 1MAD, 2MAD, 3INST, LUT V = 1, 2, K = 1..4), narrow tiles, and the E8P codebooks,
 * at odd shapes (48 x 80: Hadamard factors 12 and 20; 20 x 2304; 576 x 1536), a
 * layer of random codes, signs and scale is run at batch 1 (register decode) and
 * batches 2 .. 32 (shared-memory chunks, their products as 3xTF32 mma on 16-row
 * blocks, plain FMAs otherwise); every output must equal W_hat x, W_hat
 * from qtip_layer_artifact_decode (what qtip-verify --dequantize writes) and the
 * product summed in double, within test_matvec's fp32 bound
 *     |y_i - (W_hat x)_i| <= 1e-6 * |W_hat row i| * |x|
 * (the transforms are the CPU's bits; only the product's summation order differs
 * from the CPU matvec). A batch row must equal the batch-1 call of that row within
 * the same bound, and the public entry (qtip_cuda_matvec_*, through an in-process
 * plugin table of these kernels) the kernel's bits.
 */
#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>

#include "bitshift_gemm.cuh"
#include "kernel_check.h"

extern "C" {
#include "core/backend.h"
}

#define TOL 1e-6

static double g_worst = 0.0;

/* Fewer and smaller layers on the OS-thread back-end (20-40x slower) and under
 * sanitizers. */
static bool small_only()
{
    return qcpu::get_backend() != qcpu::BACKEND_FIBERS || getenv("QTIP_TEST_SANITIZED") != nullptr;
}

/* ---- a synthetic layer (as tests/unit/test_matvec.c builds them) ----------- */

struct synth_layer {
    qtip_layer_info l;
    void *codes;
    float *SU, *SV;
    qtip_trellis *tr;
};

static void synth_free(synth_layer *s)
{
    free(s->codes);
    free(s->SU);
    free(s->SV);
    qtip_trellis_free(s->tr);
}

/* Random codes of the layout p needs for m x n, random signs, Wscale 0.7. */
static bool synth(const qtip_quant_params *p, int64_t m, int64_t n, test_rng *r, synth_layer *s)
{
    memset(s, 0, sizeof *s);
    qtip_layer_info *l = &s->l;
    l->params = *p;
    l->m = m;
    l->n = n;
    l->tensor = "synthetic";
    l->weights_checksum = l->hessian_checksum = "";
    l->wscale = 0.7f;
    int code_bits = 16;
    if (p->method == QTIP_METHOD_E8P) {
        l->code_cols = n / 8;
        code_bits = qtip_e8p_code_bits(p->e8p);
        l->code_is_i32 = code_bits > 16;
    } else {
        l->code_cols = n * p->trellis.K / 16;
        if (qtip_trellis_create(&p->trellis, &s->tr) != QTIP_OK)
            return false;
        size_t rows, cols;
        if (qtip_trellis_tlut_shape(&p->trellis, &rows, &cols)) {
            l->tlut = qtip_trellis_lut(s->tr, nullptr);
            l->tlut_rows = rows;
            l->tlut_cols = cols;
        }
    }
    const size_t count = (size_t)(m * l->code_cols);
    s->codes = malloc(count * (l->code_is_i32 ? 4 : 2));
    s->SU = (float *)malloc((size_t)n * 4);
    s->SV = (float *)malloc((size_t)m * 4);
    for (size_t i = 0; i < count; i++) {
        const uint64_t v = test_rng_next(r);
        if (l->code_is_i32)
            ((int32_t *)s->codes)[i] = (int32_t)(uint32_t)(v >> (64 - code_bits));
        else
            ((uint16_t *)s->codes)[i] = (uint16_t)v;
    }
    for (int64_t i = 0; i < n; i++)
        s->SU[i] = test_rng_next(r) & 1 ? -1.0f : 1.0f;
    for (int64_t i = 0; i < m; i++)
        s->SV[i] = test_rng_next(r) & 1 ? -1.0f : 1.0f;
    l->codes = s->codes;
    l->SU = s->SU;
    l->SV = s->SV;
    return true;
}

/* W_hat through the artifact's decoder. */
static float *dense_weight(const qtip_layer_info *l)
{
    qtip_layer_artifact *a = nullptr;
    CHECK_OK(qtip_layer_artifact_from_info(l, &a));
    float *W = (float *)malloc((size_t)(l->m * l->n) * 4);
    if (a)
        CHECK_OK(qtip_layer_artifact_decode(a, W));
    qtip_layer_artifact_free(a);
    return W;
}

/* ---- the layer on the device --------------------------------------------- */

struct device_layer {
    qtip_cuda_matvec_layer d;
    void *codes;
    float *SU, *SV, *tlut;
};

static device_layer upload(const qtip_layer_info *l)
{
    device_layer dl;
    memset(&dl, 0, sizeof dl);
    const size_t count = (size_t)(l->m * l->code_cols);
    if (l->code_is_i32)
        dl.codes = to_device((const int32_t *)l->codes, count);
    else
        dl.codes = to_device((const uint16_t *)l->codes, count);
    dl.SU = to_device(l->SU, (size_t)l->n);
    dl.SV = to_device(l->SV, (size_t)l->m);
    dl.tlut = l->tlut ? to_device(l->tlut, l->tlut_rows * l->tlut_cols) : nullptr;
    dl.d.params = l->params;
    dl.d.m = l->m;
    dl.d.n = l->n;
    dl.d.wscale = l->wscale;
    dl.d.code_cols = l->code_cols;
    dl.d.codes = dl.codes;
    dl.d.SU = dl.SU;
    dl.d.SV = dl.SV;
    dl.d.tlut = dl.tlut;
    return dl;
}

static void device_free(device_layer *dl)
{
    cudaFree(dl->codes);
    cudaFree(dl->SU);
    cudaFree(dl->SV);
    cudaFree(dl->tlut);
}

/* y (batch x m) = layer(x) through the kernels' context. */
static void run_device(qtip_cuda_gemm *g, const float *x, int64_t n, int64_t m, int batch, float *y)
{
    float *dx = to_device(x, (size_t)batch * (size_t)n), *dy = nullptr;
    cudaMalloc(&dy, (size_t)batch * (size_t)m * sizeof(float));
    CHECK_OK(qtip_cuda_gemm_apply(g, dx, dy, batch, nullptr));
    to_host(y, dy, (size_t)batch * (size_t)m);
    cudaFree(dx);
    cudaFree(dy);
}

/* Worst ratio of |y - W x| to the bound over the batch (W x in double). */
static double ratio_to_bound(const float *W, int64_t m, int64_t n, const float *x, int batch,
                             const float *y)
{
    double worst = 0;
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (size_t)b * (size_t)n;
        double xn = 0;
        for (int64_t j = 0; j < n; j++)
            xn += (double)xb[j] * xb[j];
        for (int64_t i = 0; i < m; i++) {
            const float *w = W + (size_t)i * (size_t)n;
            double dot = 0, wn = 0;
            for (int64_t j = 0; j < n; j++) {
                dot += (double)w[j] * xb[j];
                wn += (double)w[j] * w[j];
            }
            const double err = fabs(y[(size_t)b * (size_t)m + (size_t)i] - dot);
            worst = fmax(worst, err / (TOL * sqrt(wn * xn)));
        }
    }
    return worst;
}

/* The layer of p at m x n: batch 1 and each of `batches` against W_hat x. */
static void check_layer(const qtip_quant_params *p, int64_t m, int64_t n, const int *batches,
                        int nb, const char *what)
{
    test_rng r = test_rng_seeded(0x6267ull + (uint64_t)(m * 31 + n));
    synth_layer s;
    CHECK(synth(p, m, n, &r, &s), "%s: %s", what, qtip_last_error());
    float *W = dense_weight(&s.l);
    device_layer dl = upload(&s.l);
    qtip_cuda_gemm *g = nullptr;
    CHECK_OK(qtip_cuda_gemm_create(0, &dl.d, &g));
    const int bmax = batches[nb - 1];
    float *x = (float *)malloc((size_t)bmax * (size_t)n * 4);
    float *y = (float *)malloc((size_t)bmax * (size_t)m * 4), *y1 = (float *)malloc((size_t)m * 4);
    for (size_t i = 0; i < (size_t)bmax * (size_t)n; i++)
        x[i] = (float)test_rng_normal(&r);
    double worst = 0;
    for (int k = 0; g && k < nb; k++) {
        const int batch = batches[k];
        run_device(g, x, n, m, batch, y);
        double w = ratio_to_bound(W, m, n, x, batch, y);
        CHECK(w <= 1.0, "%s %lld x %lld batch %d: error %.3g times the bound", what, (long long)m,
              (long long)n, batch, w);
        worst = fmax(worst, w);
        if (batch == 1)
            memcpy(y1, y, (size_t)m * 4);
        else /* the tile path's row 0 against the register path, the same bound */
            CHECK(ratio_to_bound(W, m, n, x, 1, y) <= 1.0 && ratio_to_bound(W, m, n, x, 1, y1) <= 1.0,
                  "%s: batch row 0 and the batch-1 call", what);
    }
    g_worst = fmax(g_worst, worst);
    fprintf(stderr, "   %-24s %4lld x %-4lld batches 1..%-2d: worst error %.3f of the bound\n",
            what, (long long)m, (long long)n, bmax, worst);
    qtip_cuda_gemm_free(g);
    device_free(&dl);
    free(x), free(y), free(y1), free(W);
    synth_free(&s);
}

static qtip_quant_params trellis_params(qtip_code code, int K, int V, int Q)
{
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    p.trellis.code = code;
    p.trellis.K = K;
    p.trellis.V = V;
    p.trellis.Q = Q;
    return p;
}

static const int kBatches[] = {1, 2, 7, 32};
static const int kSmallBatches[] = {1, 3};
static const int kLargeBatches[] = {1, 32}; /* the large shapes: the ends (time) */

static void check_small(const qtip_quant_params *p, int64_t m, int64_t n, const char *what)
{
    if (small_only())
        check_layer(p, m, n, kSmallBatches, 2, what);
    else
        check_layer(p, m, n, kBatches, 4, what);
}

TEST(trellis_codes_every_k)
{
    static const struct {
        qtip_code code;
        int V, Q;
    } codes[] = {
        {QTIP_CODE_HYB, 2, 9},   {QTIP_CODE_1MAD, 1, 0}, {QTIP_CODE_2MAD, 1, 0},
        {QTIP_CODE_3INST, 1, 0}, {QTIP_CODE_LUT, 1, 16}, {QTIP_CODE_LUT, 2, 16},
    };
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++)
        for (int K = 1; K <= 4; K++) {
            if (small_only() && K != 2 && codes[c].code != QTIP_CODE_HYB)
                continue;
            qtip_quant_params p = trellis_params(codes[c].code, K, codes[c].V, codes[c].Q);
            char what[64];
            snprintf(what, sizeof what, "%s V%d K%d%s", qtip_code_name(codes[c].code), codes[c].V,
                     K, qtip_trellis_tile_is_mma(&p.trellis) ? " (mma)" : "");
            check_small(&p, 48, 80, what);
        }
}

/* The default 2-bit HYB (tensor-core tile order) and 3-bit 3INST at a model's odd
 * size (Hadamard factors 36 and 12). */
TEST(trellis_large_shape)
{
    if (small_only())
        return;
    qtip_quant_params p = trellis_params(QTIP_CODE_HYB, 2, 2, 9);
    check_layer(&p, 576, 1536, kLargeBatches, 2, "hyb K2 (mma)");
    p = trellis_params(QTIP_CODE_3INST, 3, 1, 0);
    check_layer(&p, 576, 1536, kLargeBatches, 2, "3inst K3");
}

/* Tiles narrower than the batch path's chunk, with a row of one word. */
TEST(trellis_narrow_tiles)
{
    qtip_quant_params p = trellis_params(QTIP_CODE_1MAD, 4, 1, 0);
    p.trellis.td_x = 8;
    p.trellis.td_y = 4;
    p.trellis.L = 12;
    check_small(&p, 48, 80, "1mad K4 8x4 tiles");
}

TEST(e8p_codebooks)
{
    for (int k = QTIP_E8P12; k <= QTIP_E8P12_RVQ4; k++) {
        qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_E8P);
        p.e8p = (qtip_e8p_kind)k;
        check_small(&p, 48, 80, qtip_e8p_name(p.e8p));
        if (small_only())
            continue;
        check_layer(&p, 20, 2304, kBatches, 4, qtip_e8p_name(p.e8p)); /* a partial row block */
        check_layer(&p, 576, 1536, kLargeBatches, 2, qtip_e8p_name(p.e8p));
    }
}

/* The batch path's plain fp32 form where the tensor-core form would run (16-row
 * blocks), the other one the kernels have (QTIP_GEMM_NO_MMA=1 at create). */
TEST(batch_path_without_mma)
{
    setenv("QTIP_GEMM_NO_MMA", "1", 1);
    qtip_quant_params p = trellis_params(QTIP_CODE_HYB, 3, 2, 9);
    check_small(&p, 48, 80, "hyb K3 (mma) fp32 FMAs");
    p = qtip_quant_default_params(QTIP_METHOD_E8P);
    p.e8p = QTIP_E8P12_RVQ4;
    check_small(&p, 48, 80, "e8p12-rvq4 fp32 FMAs");
    unsetenv("QTIP_GEMM_NO_MMA");
}

/* Argument and shape checks, before any launch. */
TEST(bad_arguments)
{
    test_rng r = test_rng_seeded(5);
    qtip_quant_params p = trellis_params(QTIP_CODE_HYB, 2, 2, 9);
    synth_layer s;
    CHECK(synth(&p, 48, 80, &r, &s), "synth");
    device_layer dl = upload(&s.l);
    qtip_cuda_gemm *g = nullptr;
    qtip_cuda_matvec_layer bad = dl.d;
    bad.code_cols = 9;
    CHECK_STATUS(qtip_cuda_gemm_create(0, &bad, &g), QTIP_E_SHAPE);
    bad = dl.d;
    bad.tlut = nullptr;
    CHECK_STATUS(qtip_cuda_gemm_create(0, &bad, &g), QTIP_E_PARAM);
    bad = dl.d;
    bad.codes = nullptr;
    CHECK_STATUS(qtip_cuda_gemm_create(0, &bad, &g), QTIP_E_PARAM);
    bad = dl.d;
    bad.params.trellis.K = 9;
    CHECK_STATUS(qtip_cuda_gemm_create(0, &bad, &g), QTIP_E_PARAM);
    CHECK(g == nullptr, "no context on failure");
    CHECK_OK(qtip_cuda_gemm_create(0, &dl.d, &g));
    float *d = nullptr;
    cudaMalloc(&d, 48 * 33 * sizeof(float));
    CHECK_STATUS(qtip_cuda_gemm_apply(g, d, d, 0, nullptr), QTIP_E_PARAM);
    CHECK_STATUS(qtip_cuda_gemm_apply(g, d, d, 33, nullptr), QTIP_E_PARAM);
    CHECK_STATUS(qtip_cuda_gemm_apply(g, nullptr, d, 1, nullptr), QTIP_E_PARAM);
    cudaFree(d);
    qtip_cuda_gemm_free(g);
    device_free(&dl);
    synth_free(&s);
}

/* ---- the public entry through an in-process plugin table ------------------ */

static const char *table_last_error(void)
{
    static char copy[1024]; /* the caller formats it into the shared message buffer */
    snprintf(copy, sizeof copy, "%s", qtip_last_error());
    return copy;
}
static qtip_status table_device_count(int *count)
{
    *count = 1;
    return QTIP_OK;
}

static qtip_cuda_plugin serving_table()
{
    qtip_cuda_plugin t;
    memset(&t, 0, sizeof t);
    t.abi = QTIP_CUDA_PLUGIN_ABI;
    t.size = (uint32_t)sizeof t;
    t.build = "cpu execution layer";
    t.last_error = table_last_error;
    t.device_count = table_device_count;
    t.gemm_create = qtip_cuda_gemm_create;
    t.gemm_apply = qtip_cuda_gemm_apply;
    t.gemm_free = qtip_cuda_gemm_free;
    return t;
}

/* qtip_cuda_matvec_* give the kernels' bits; errors carry the kernels' message. */
TEST(public_entry)
{
    static const qtip_cuda_plugin table = serving_table();
    qtip_backend_cuda_inject_(&table);
    test_rng r = test_rng_seeded(9);
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_E8P);
    synth_layer s;
    CHECK(synth(&p, 48, 80, &r, &s), "synth");
    device_layer dl = upload(&s.l);
    float x[2 * 80], ya[2 * 48], yb[2 * 48];
    for (float &v : x)
        v = (float)test_rng_normal(&r);
    qtip_cuda_matvec *mv = nullptr;
    qtip_cuda_gemm *g = nullptr;
    CHECK_OK(qtip_cuda_matvec_create(0, &dl.d, &mv));
    CHECK_OK(qtip_cuda_gemm_create(0, &dl.d, &g));
    float *dx = to_device(x, 2 * 80), *dy = nullptr;
    cudaMalloc(&dy, sizeof ya);
    if (mv && g) {
        CHECK_OK(qtip_cuda_matvec_apply(mv, dx, dy, 2, nullptr));
        to_host(ya, dy, 2 * 48);
        CHECK_OK(qtip_cuda_gemm_apply(g, dx, dy, 2, nullptr));
        to_host(yb, dy, 2 * 48);
        validate_result("public entry", "y", ya, yb, 2 * 48, 0.0, 0.0);
        CHECK_STATUS(qtip_cuda_matvec_apply(mv, dx, dy, 40, nullptr), QTIP_E_PARAM);
        CHECK(strstr(qtip_last_error(), "batch 40") != nullptr, "message: %s", qtip_last_error());
        /* the flat entry (ctypes callers) builds the same layer from plain values */
        qtip_cuda_matvec *mvf = nullptr;
        CHECK_OK(qtip_cuda_matvec_create_flat(0, qtip_e8p_name(p.e8p), 0, 0, 0, 0, 0, 0, 48, 80,
                                              dl.d.codes, dl.d.code_cols, dl.d.SU, dl.d.SV,
                                              dl.d.wscale, dl.d.tlut, &mvf));
        if (mvf) {
            CHECK_OK(qtip_cuda_matvec_apply(mvf, dx, dy, 2, nullptr));
            to_host(yb, dy, 2 * 48);
            validate_result("flat entry", "y", ya, yb, 2 * 48, 0.0, 0.0);
        }
        qtip_cuda_matvec_free(mvf);
        CHECK_STATUS(qtip_cuda_matvec_create_flat(0, "nosuchcode", 0, 0, 0, 0, 0, 0, 48, 80,
                                                  dl.d.codes, dl.d.code_cols, dl.d.SU, dl.d.SV,
                                                  dl.d.wscale, dl.d.tlut, &mvf),
                     QTIP_E_PARAM);
        CHECK(strstr(qtip_last_error(), "nosuchcode") != nullptr, "message: %s", qtip_last_error());
    }
    qtip_cuda_matvec_free(mv);
    CHECK_STATUS(qtip_cuda_matvec_create(1, &dl.d, &mv), QTIP_E_PARAM); /* one device */
    qtip_cuda_gemm_free(g);
    cudaFree(dx);
    cudaFree(dy);
    device_free(&dl);
    synth_free(&s);
    qtip_backend_cuda_inject_(nullptr);
}

int main(void)
{
    kernel_test_init();
    RUN(trellis_codes_every_k);
    RUN(trellis_large_shape);
    RUN(trellis_narrow_tiles);
    RUN(e8p_codebooks);
    RUN(batch_path_without_mma);
    RUN(bad_arguments);
    RUN(public_entry);
    fprintf(stderr, "worst error over all layers: %.3f of the bound\n", g_worst);
    return check_summary();
}
