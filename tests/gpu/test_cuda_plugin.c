/*
 * test_cuda_plugin.c — libqtip_cuda.so as built (path in QTIP_CUDA_PLUGIN, set by
 * kernels/CMakeLists.txt): it loads without a GPU or driver (cudart and cublas are
 * ordinary shared libraries; the driver is only opened by cudaGetDeviceCount),
 * exports the table with this libqtip's ABI, and reports a missing device as an
 * error naming cudaGetDeviceCount. Where a GPU is present, the same program checks
 * the cuBLAS accumulation against the CPU path (hessian_device_check.h), including
 * blocks uploaded as float32 and as float64 and several syncs, and the Viterbi
 * entries against the CPU search (viterbi_device_check.h), with their throughput, and
 * whole layers against the CPU path within the proxy-loss tolerance (layer_device_check.h).
 */
#include "check.h"

#include <dlfcn.h>

#include "core/cuda_plugin.h"
#include "hessian_device_check.h"
#include "layer_device_check.h"
#include "viterbi_device_check.h"

static const qtip_cuda_plugin *P;
static int ndev = -1;

TEST(test_load)
{
    const char *path = getenv("QTIP_CUDA_PLUGIN");
    CHECK(path && path[0], "QTIP_CUDA_PLUGIN is not set");
    if (!path) return;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "dlopen '%s': %s", path, dlerror());
    if (!h) return;
    void *sym = dlsym(h, QTIP_CUDA_PLUGIN_SYMBOL);
    CHECK(sym != NULL, "%s missing", QTIP_CUDA_PLUGIN_SYMBOL);
    /* private copies of libqtip stay private: no qtip_* symbol but the entry */
    CHECK(dlsym(h, "qtip_error_") == NULL && dlsym(h, "qtip_last_error") == NULL,
          "the plugin exports libqtip symbols");
    if (!sym) return;
    qtip_cuda_plugin_entry entry;
    memcpy(&entry, &sym, sizeof entry);
    P = entry();
    CHECK(P && P->abi == QTIP_CUDA_PLUGIN_ABI && P->size == sizeof(qtip_cuda_plugin),
          "abi %u size %u, expected %d and %zu", P ? P->abi : 0, P ? P->size : 0,
          QTIP_CUDA_PLUGIN_ABI, sizeof(qtip_cuda_plugin));
    printf("  plugin '%s': %s\n", path, P ? P->build : "?");
    int n = -1;
    qtip_status s = P->device_count(&n);
    if (s == QTIP_OK) {
        CHECK(n >= 0, "device count %d", n);
        ndev = n;
    } else {
        CHECK(s == QTIP_E_CUDA && strstr(P->last_error(), "cudaGetDeviceCount returned"),
              "device_count: %s: %s", qtip_status_name(s), P->last_error());
        CHECK(n == 0, "device count %d after an error", n);
        ndev = 0;
        printf("  no device: %s\n", P->last_error());
        /* and every entry that needs one fails cleanly, not with a crash */
        qtip_cuda_hessian_acc *a = NULL;
        CHECK(P->hessian_create(0, 16, 8, &a) == QTIP_E_CUDA && a == NULL, "hessian_create: %s",
              P->last_error());
        qtip_trellis_params tp = qtip_trellis_default_params();
        qtip_cuda_viterbi *v = NULL;
        float tab[1] = {0};
        CHECK(P->viterbi_create(0, &tp, tab, tab, 1, &v) == QTIP_E_CUDA && v == NULL,
              "viterbi_create: %s", P->last_error());
    }
    CHECK(P->hessian_create(0, 0, 8, &(qtip_cuda_hessian_acc *){NULL}) == QTIP_E_PARAM,
          "n = 0 must be refused");
}

TEST(test_gpu_matches_cpu)
{
    if (ndev <= 0) CHECK_SKIP("no CUDA device (run this ctest on a GPU machine)");
    char name[128];
    size_t mem;
    int cc;
    CHECK_OK(P->device_info(0, name, sizeof name, &mem, &cc));
    printf("  device 0: %s, %.1f GiB, sm_%d\n", name, (double)mem / (1 << 30), cc);
    test_rng rng = test_rng_seeded(43);
    char used[160];
    const int64_t ns[] = {1, 33, 300, 1031};
    for (int k = 0; k < 4; k++) {
        hessian_device_compare("cuda", ns[k], &rng, used, sizeof used);
        CHECK(!strncmp(used, "cuda:0 (", 8), "device '%s'", used);
    }
}

/* The Viterbi kernel natively: the released models' HYB L=16 K=2 V=2 (a 4096-row
 * layer's column block is 256 tiles; 4096 tiles is a 4096 x 256 slab), then K=3, K=4
 * and a V=1 code. */
TEST(test_gpu_viterbi)
{
    if (ndev <= 0) CHECK_SKIP("no CUDA device (run this ctest on a GPU machine)");
    /* under compute-sanitizer (scripts/gpu-check.sh): a few tiles each */
    const size_t few = getenv("QTIP_GPU_CHECK_QUICK") ? 3 : 0;
    test_rng rng = test_rng_seeded(44);
    qtip_trellis_params p = qtip_trellis_default_params();
    viterbi_device_compare(P, p, few ? few : 256, &rng);
    if (!few) viterbi_device_compare(P, p, 4096, &rng);
    p.K = 3;
    viterbi_device_compare(P, p, few ? few : 1024, &rng);
    p.K = 4;
    viterbi_device_compare(P, p, few ? few : 1024, &rng);
    p.code = QTIP_CODE_1MAD;
    p.Q = 0;
    p.K = 2;
    p.V = 1;
    viterbi_device_compare(P, p, few ? few : 1024, &rng);
}

/* The whole layer (RHT, LDL, LDLQ, Viterbi) through qtip_quantize_layer, against the
 * CPU path within the proxy-loss tolerance (layer_device_check.h). */
TEST(test_gpu_layer)
{
    if (ndev <= 0) CHECK_SKIP("no CUDA device (run this ctest on a GPU machine)");
    test_rng rng = test_rng_seeded(45);
    layer_device_compare(256, 256, &rng);
    if (!getenv("QTIP_GPU_CHECK_QUICK")) layer_device_compare(1024, 1024, &rng);
}

int main(void)
{
    RUN(test_load);
    RUN(test_gpu_matches_cpu);
    RUN(test_gpu_viterbi);
    RUN(test_gpu_layer);
    return check_summary();
}
