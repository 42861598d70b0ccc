/*
 * test_layer_quant.cpp — kernels/layer_quant.cu, the whole trellis layer on the device
 * (RHT, damping + cuSOLVER Cholesky, block LDL, Wscale, BlockLDLQ with cuBLAS feedback
 * and the batched Viterbi), run on the CPU execution layer with its cuBLAS/cuSOLVER
 * shims, against the CPU path: qtip_quantize_layer with --device cpu and with
 * --device cuda through an in-process plugin table (qtip_backend_cuda_inject_) whose
 * entries are the kernels' own. The same bytes: codes, Wscale, damping, both proxy
 * losses; the same errors (not positive definite). A simulated device memory limit
 * makes the layer shrink its Viterbi batches instead of failing.
 * Shapes are small (L=12 tiles; a few on the OS-thread back-end / under sanitizers).
 */
#include <cuda_runtime.h>

#include <stdlib.h>
#include <string>
#include <vector>

#include "kernel_check.h"
#include "layer_quant.cuh"
#include <cublas_v2.h>

extern "C" {
#include "core/backend.h"
}

static bool small_only()
{
    return qcpu::get_backend() != qcpu::BACKEND_FIBERS || getenv("QTIP_TEST_SANITIZED") != nullptr;
}
/* The seeded shuffled schedule (the _shuffled ctest): the new kernels have no barriers
 * or collectives (the Viterbi kernel's are covered by kernels_test_viterbi_shuffled),
 * so one layer of each kind is enough there. */
static bool shuffled() { return getenv("QTIP_CUDA_CPU_SEED") != nullptr; }

/* ---- the in-process plugin table ---------------------------------------------- */

static const char *table_last_error(void)
{
    /* a copy: the caller formats it into the same (shared) message buffer */
    static char copy[1024];
    snprintf(copy, sizeof copy, "%s", qtip_last_error());
    return copy;
}
static qtip_status table_device_count(int *count)
{
    *count = 1;
    return QTIP_OK;
}
static qtip_status table_device_info(int, char *name, size_t cap, size_t *total, int *cc)
{
    snprintf(name, cap, "CPU execution layer");
    size_t free_b = 0;
    cudaMemGetInfo(&free_b, total);
    *cc = 90;
    return QTIP_OK;
}

static const qtip_cuda_plugin cpu_layer_table = {
    QTIP_CUDA_PLUGIN_ABI,
    (uint32_t)sizeof(qtip_cuda_plugin),
    "cpu execution layer",
    table_last_error,
    table_device_count,
    table_device_info,
    nullptr, nullptr, nullptr, nullptr, /* the Hessian accumulator: not used here */
    qtip_cuda_viterbi_create,
    qtip_cuda_viterbi_run,
    qtip_cuda_viterbi_free,
    qtip_cuda_layer_quantize,
    nullptr, nullptr, nullptr, /* serving: tests/kernels/test_bitshift_gemm.cpp */
};

/* ---- the library's log lines (which path ran) ------------------------------------ */

static std::vector<std::string> g_log;
static qtip_status g_last_status;

static void record_log(qtip_log_level, const char *msg, void *) { g_log.push_back(msg); }

/* Lines containing `what` since the last call (which clears the record). */
static int log_count(const char *what)
{
    int c = 0;
    for (const auto &l : g_log)
        c += what[0] && l.find(what) != std::string::npos;
    g_log.clear();
    return c;
}

/* ---- inputs and comparison ------------------------------------------------------- */

static qtip_quant_params l12_params(int K, qtip_device device)
{
    qtip_quant_params p = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    p.trellis.L = 12;
    p.trellis.K = K;
    p.device = device;
    return p;
}

/* H = X^T X / rows with a few dead inputs (zero rows and columns). */
static std::vector<double> make_hessian(test_rng *rng, int64_t n, int dead)
{
    const int64_t rows = 2 * n;
    std::vector<double> X((size_t)(rows * n)), H((size_t)(n * n), 0.0);
    for (auto &x : X)
        x = test_rng_normal(rng);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                H[(size_t)(i * n + j)] += X[(size_t)(r * n + i)] * X[(size_t)(r * n + j)] / rows;
    for (int d = 0; d < dead; d++)
        for (int64_t j = 0; j < n; j++)
            H[(size_t)(d * 7 % n * n + j)] = H[(size_t)(j * n + d * 7 % n)] = 0.0;
    return H;
}

struct layer_out {
    qtip_status st;
    std::string msg;
    qtip_layer_artifact *a;
};

static layer_out quantize(const qtip_quant_params &p, const float *W, int64_t m, int64_t n,
                          const double *H)
{
    layer_out o = {QTIP_OK, "", nullptr};
    qtip_quantizer *q = nullptr;
    o.st = qtip_quantizer_create(&p, &q);
    if (o.st == QTIP_OK)
        o.st = qtip_quantize_layer(q, W, m, n, H, "layer", &o.a);
    if (o.st != QTIP_OK)
        o.msg = qtip_last_error();
    qtip_quantizer_free(q);
    return o;
}

static void compare_layer(const char *name, const qtip_quant_params &p, const float *W, int64_t m,
                          int64_t n, const double *H)
{
    qtip_quant_params pc = p, pd = p;
    pc.device = QTIP_DEVICE_CPU;
    pd.device = QTIP_DEVICE_CUDA;
    layer_out ref = quantize(pc, W, m, n, H);
    g_log.clear();
    layer_out got = quantize(pd, W, m, n, H);
    bool on_device = false;
    for (const auto &l : g_log)
        on_device |= l.find("each layer (RHT, LDL, LDLQ, Viterbi) on cuda:0 (CPU execution layer") !=
                     std::string::npos;
    CHECK(on_device, "%s: the device run did not take the device layer", name);
    g_last_status = got.st;
    CHECK(ref.st == got.st, "%s: status cpu %d, device %d (%s)", name, ref.st, got.st, got.msg.c_str());
    CHECK(ref.msg == got.msg, "%s: messages differ:\n  cpu:    %s\n  device: %s", name,
          ref.msg.c_str(), got.msg.c_str());
    if (ref.st == QTIP_OK && got.st == QTIP_OK) {
        qtip_layer_info a, b;
        qtip_layer_artifact_info(ref.a, &a);
        qtip_layer_artifact_info(got.a, &b);
        const size_t words = (size_t)m * (size_t)a.code_cols;
        validate_result(name, "codes", (const uint16_t *)b.codes, (const uint16_t *)a.codes, words, 0, 0);
        validate_result(name, "wscale", &b.wscale, &a.wscale, 1, 0, 0);
        validate_result(name, "damping", &b.damping, &a.damping, 1, 0, 0);
        validate_result(name, "proxy_loss", &b.proxy_loss, &a.proxy_loss, 1, 0, 0);
        validate_result(name, "proxy_loss_rotated", &b.proxy_loss_rotated, &a.proxy_loss_rotated, 1, 0, 0);
        fprintf(stderr, "%s: %lld x %lld, damping %g, proxy loss %.6g: same bytes\n", name,
                (long long)m, (long long)n, a.damping, a.proxy_loss);
    }
    qtip_layer_artifact_free(ref.a);
    qtip_layer_artifact_free(got.a);
}

static std::vector<float> make_weight(test_rng *rng, int64_t m, int64_t n)
{
    std::vector<float> W((size_t)(m * n));
    for (auto &w : W)
        w = (float)(0.02 * test_rng_normal(rng));
    return W;
}

TEST(test_layers_against_cpu)
{
    test_rng rng = test_rng_seeded(23);
    struct { int64_t m, n; int K, ldlq, dead; bool identity; } cases[] = {
        {32, 64, 2, 1, 0, false},   /* one LDLQ buffer */
        {16, 160, 2, 1, 2, false},  /* two buffers: feedback through P; dead inputs */
        {32, 64, 3, 0, 0, false},   /* no feedback */
        {16, 48, 2, 1, 0, true},    /* H = I; n = 3 x 16: a non-power-of-two transform */
        {16, 16, 2, 1, 0, false},   /* the OS-thread back-end's (TSan's) one small layer */
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    for (size_t c = small_only() ? ncases - 1 : 0; c < (shuffled() ? 2 : ncases); c++) {
        qtip_quant_params p = l12_params(cases[c].K, QTIP_DEVICE_CUDA);
        p.ldlq = cases[c].ldlq;
        std::vector<float> W = make_weight(&rng, cases[c].m, cases[c].n);
        std::vector<double> H = make_hessian(&rng, cases[c].n, cases[c].dead);
        char name[64];
        snprintf(name, sizeof name, "layer %zu", c);
        compare_layer(name, p, W.data(), cases[c].m, cases[c].n, cases[c].identity ? nullptr : H.data());
    }
}

/* Damping that needs more than one try, and a Hessian no damping makes positive
 * definite: the same amount, and the same error, on both paths. */
TEST(test_damping_ladder)
{
    if (small_only() || shuffled()) { /* not CHECK_SKIP: exit 77 fails these ctests */
        fprintf(stderr, "  fibers in order only (the ladder is host logic; slow elsewhere)\n");
        return;
    }
    test_rng rng = test_rng_seeded(29);
    const int64_t m = 16, n = 32;
    std::vector<float> W = make_weight(&rng, m, n);
    std::vector<double> H((size_t)(n * n), 0.0);
    for (int64_t i = 0; i < n; i++)
        H[(size_t)(i * n + i)] = 1.0;
    H[0] = -0.015; /* eigenvalue -0.015, mean ~0.97: the second try (0.02 x mean) passes */
    qtip_quant_params p = l12_params(2, QTIP_DEVICE_CUDA);
    p.sigma_reg = 0.01;
    compare_layer("ladder", p, W.data(), m, n, H.data());
    CHECK(log_count("hessian needed damping 0.02 x mean(diag) after 1 failed tries") == 1,
          "the ladder's info line from the device path");
    p.damping_tries = 1;
    compare_layer("not pd", p, W.data(), m, n, H.data());
    CHECK(log_count("") == 0 && g_last_status == QTIP_E_NOT_PD, "not positive definite on both paths");
}

/* --device cuda:<k> names the device; one that does not exist is a clean error. */
TEST(test_device_index)
{
    std::vector<float> W((size_t)(16 * 16), 0.01f);
    qtip_quant_params p = l12_params(2, QTIP_DEVICE_CUDA);
    p.device_index = 1;
    layer_out o = quantize(p, W.data(), 16, 16, nullptr);
    CHECK(o.st == QTIP_E_PARAM &&
              o.msg.find("device cuda:1: no CUDA device cuda:1: there is 1 device") != std::string::npos,
          "cuda:1 of one device: %d '%s'", o.st, o.msg.c_str());
    qtip_layer_artifact_free(o.a);
}

/* A device too small for the layer with whole-block Viterbi batches: smaller
 * batches, the same codes. */
TEST(test_memory_limit)
{
    if (small_only() || shuffled()) { /* not CHECK_SKIP: exit 77 fails these ctests */
        fprintf(stderr, "  fibers in order only (slow elsewhere)\n");
        return;
    }
    test_rng rng = test_rng_seeded(31);
    const int64_t m = 64, n = 16; /* one column block of 4 tiles */
    std::vector<float> W = make_weight(&rng, m, n);
    std::vector<double> H = make_hessian(&rng, n, 0);
    qtip_quant_params p = l12_params(2, QTIP_DEVICE_CUDA);
    qcpu::reset_memory_peak();
    layer_out full = quantize(p, W.data(), m, n, H.data());
    CHECK(full.st == QTIP_OK, "unlimited: %s", full.msg.c_str());
    const size_t peak = qcpu::memory_peak();
    /* the Viterbi scratch of one tile: S steps x K V planes x 2^(L-KV)/32 words */
    const size_t tile = 128 * 4 * ((size_t)1 << 8) / 32 * sizeof(uint32_t);
    qcpu::set_memory_limit(peak - tile);
    compare_layer("memory limit", p, W.data(), m, n, H.data());
    CHECK(log_count("out of device memory, Viterbi batches of 2 tiles") == 1,
          "the batch went from 4 to 2 tiles");
    qcpu::set_memory_limit(0);
    qtip_layer_artifact_free(full.a);
}

/* cuBLAS/cuSOLVER on a GPU sum in another order: with the shims doing the same
 * (split-K products, the other triangle's Cholesky), the codes may differ; the
 * rotated proxy loss stays within QTIP_CUDA_LAYER_LOSS_RTOL of the CPU path's. */
TEST(test_other_float_order)
{
    if (small_only() || shuffled()) { /* not CHECK_SKIP: exit 77 fails these ctests */
        fprintf(stderr, "  fibers in order only (slow elsewhere)\n");
        return;
    }
    test_rng rng = test_rng_seeded(37);
    qcpu::set_blas_reorder(true);
    struct { int64_t m, n; } shapes[] = {{32, 64}, {16, 160}};
    for (const auto &sh : shapes) {
        std::vector<float> W = make_weight(&rng, sh.m, sh.n);
        std::vector<double> H = make_hessian(&rng, sh.n, 1);
        qtip_quant_params p = l12_params(2, QTIP_DEVICE_CPU);
        layer_out ref = quantize(p, W.data(), sh.m, sh.n, H.data());
        p.device = QTIP_DEVICE_CUDA;
        layer_out got = quantize(p, W.data(), sh.m, sh.n, H.data());
        CHECK(ref.st == QTIP_OK && got.st == QTIP_OK, "reordered: %s %s", ref.msg.c_str(), got.msg.c_str());
        if (ref.st == QTIP_OK && got.st == QTIP_OK) {
            qtip_layer_info a, b;
            qtip_layer_artifact_info(ref.a, &a);
            qtip_layer_artifact_info(got.a, &b);
            size_t words = (size_t)sh.m * (size_t)a.code_cols, diff = 0;
            for (size_t i = 0; i < words; i++)
                diff += ((const uint16_t *)a.codes)[i] != ((const uint16_t *)b.codes)[i];
            const double rel = fabs(b.proxy_loss_rotated - a.proxy_loss_rotated) / a.proxy_loss_rotated;
            fprintf(stderr, "reordered %lld x %lld: %zu of %zu code words differ, rotated proxy "
                    "loss %.9g vs %.9g (relative %.3g)\n", (long long)sh.m, (long long)sh.n, diff,
                    words, b.proxy_loss_rotated, a.proxy_loss_rotated, rel);
            CHECK(rel <= QTIP_CUDA_LAYER_LOSS_RTOL, "relative proxy loss difference %.3g > %g", rel,
                  QTIP_CUDA_LAYER_LOSS_RTOL);
        }
        qtip_layer_artifact_free(ref.a);
        qtip_layer_artifact_free(got.a);
    }
    qcpu::set_blas_reorder(false);
}

int main(void)
{
    kernel_test_init();
    qtip_backend_cuda_inject_(&cpu_layer_table);
    qtip_log_set(record_log, nullptr);
    RUN(test_layers_against_cpu);
    RUN(test_damping_ladder);
    RUN(test_device_index);
    RUN(test_memory_limit);
    RUN(test_other_float_order);
    return check_summary();
}
