/*
 * test_layer_checks.cpp — the CPU execution layer itself: correct collectives give
 * CUDA's values and no report; each misuse the layer promises to catch is reported
 * (through a recording hook instead of the default abort), naming the call site.
 * `--race-missing-barrier` runs a kernel without its barrier on OS threads, for the
 * TSan build's ctest that expects ThreadSanitizer's data-race report.
 */
#include <cuda_runtime.h>

#include <mutex>
#include <string>
#include <vector>

#include "kernel_check.h"
#include "launch.cuh"

static std::vector<std::string> g_msgs;
/* On OS threads several lanes of one misused collective report at once. */
static std::mutex g_msgs_lock;
static void record(const char *msg, void *)
{
    std::lock_guard<std::mutex> hold(g_msgs_lock);
    g_msgs.push_back(msg);
}

/* Expect at least one report since `before` whose text contains `what`. */
static void expect_report(const char *case_name, size_t before, const char *what)
{
    bool found = false;
    for (size_t i = before; i < g_msgs.size(); i++)
        if (g_msgs[i].find(what) != std::string::npos)
            found = true;
    CHECK(found, "%s: no report containing '%s' (%zu reports: %s)", case_name, what,
          g_msgs.size() - before, g_msgs.size() > before ? g_msgs.back().c_str() : "");
    if (found)
        fprintf(stderr, "%s: reported as expected: %s\n", case_name, g_msgs.back().c_str());
    (void)cudaGetLastError(); /* the launch failed on purpose */
}

static bool on_fibers() { return qcpu::get_backend() == qcpu::BACKEND_FIBERS; }

/* ---- kernels ------------------------------------------------------------------ */

__global__ void race_kernel(const int *in, int *out, int n, int with_barrier)
{
    __shared__ int s[256];
    int t = (int)threadIdx.x;
    s[t] = in[t];
    if (with_barrier)
        __syncthreads();
    out[t] = s[(t + 1) % n];
}

__global__ void early_return_kernel(int *out)
{
    __shared__ int s[64];
    if (threadIdx.x == 3)
        return;
    s[threadIdx.x] = 1;
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}

__global__ void divergent_barrier_kernel(int *out)
{
    if (threadIdx.x < 16) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

__global__ void shuffle_kernel(int *out)
{
    int lane = (int)threadIdx.x;
    out[lane] = __shfl_down_sync(0xffffffffu, lane, 1);
}

__global__ void half_warp_only_kernel(int *out)
{
    int lane = (int)threadIdx.x;
    if (lane < 16)
        out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);
}

__global__ void deadlock_kernel(int *out)
{
    int lane = (int)threadIdx.x;
    if (lane < 16)
        out[lane] = __shfl_sync(0xffffffffu, lane, 0);
    __syncthreads();
}

__global__ void dyn_smem_kernel(unsigned char *out, int bytes)
{
    DYN_SHARED(unsigned char, buf);
    for (int i = (int)threadIdx.x; i < bytes; i += (int)blockDim.x)
        buf[i] = (unsigned char)i;
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned s = 0;
        for (int i = 0; i < bytes; i++)
            s += buf[i];
        out[0] = (unsigned char)s;
    }
}

/* Every collective, with CUDA's width rules; out[k * 64 + tid]. */
__global__ void collectives_kernel(int *out)
{
    int t = (int)threadIdx.x, lane = t % 32;
    out[0 * 64 + t] = __shfl_sync(0xffffffffu, t * 10, 5, 8);   /* lane 5 of each 8 */
    out[1 * 64 + t] = __shfl_up_sync(0xffffffffu, t, 3, 16);     /* own value below 3 */
    out[2 * 64 + t] = __shfl_down_sync(0xffffffffu, t, 2, 16);
    out[3 * 64 + t] = __shfl_xor_sync(0xffffffffu, t, 16);       /* other half-warp */
    out[4 * 64 + t] = (int)__ballot_sync(0xffffffffu, lane % 3 == 0);
    out[5 * 64 + t] = __any_sync(0xffffffffu, t == 40);
    out[6 * 64 + t] = __all_sync(0xffffffffu, lane < 31);
    float v = (float)lane; /* tree reduction, as kernels do */
    for (int o = 16; o > 0; o /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    out[7 * 64 + t] = (int)v;
    if (lane < 16) /* a half-warp collective with its own mask is legal */
        out[8 * 64 + t] = __shfl_down_sync(0x0000ffffu, lane, 1, 16);
    else
        out[8 * 64 + t] = -1;
    __syncwarp();
}

/* ---- tests -------------------------------------------------------------------- */

TEST(test_collectives_values)
{
    size_t before = g_msgs.size();
    int *d = nullptr;
    cudaMalloc(&d, 9 * 64 * sizeof(int));
    LAUNCH(collectives_kernel, 1, 64, 0, 0, d);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "collectives launch failed");
    int h[9 * 64], ref[9 * 64];
    to_host(h, d, 9 * 64);
    for (int t = 0; t < 64; t++) {
        int lane = t % 32;
        ref[0 * 64 + t] = ((t & ~7) + 5) * 10;
        ref[1 * 64 + t] = (t % 16) >= 3 ? t - 3 : t;
        ref[2 * 64 + t] = (t % 16) + 2 < 16 ? t + 2 : t;
        ref[3 * 64 + t] = t ^ 16;
        ref[4 * 64 + t] = (int)0x49249249u;
        ref[5 * 64 + t] = t >= 32; /* t == 40 is in the second warp */
        ref[6 * 64 + t] = 0;
        ref[7 * 64 + t] = 496;
        ref[8 * 64 + t] = lane < 16 ? (lane + 1 < 16 ? lane + 1 : lane) : -1;
    }
    validate_result("collectives", "out", h, ref, 9 * 64, 0.0, 0.0);
    CHECK(g_msgs.size() == before, "correct kernel reported: %s", g_msgs.back().c_str());
    cudaFree(d);
}

TEST(test_missing_barrier_fibers)
{
    if (!on_fibers())
        return; /* on OS threads, TSan reports it: kernels_layer_missing_barrier_race */
    int n = 64, in[64], h[64];
    for (int i = 0; i < n; i++)
        in[i] = i + 100;
    int *din = to_device(in, 64), *dout = nullptr;
    cudaMalloc(&dout, sizeof in);
    LAUNCH(race_kernel, 1, n, 0, 0, din, dout, n, 1);
    to_host(h, dout, 64);
    int wrong = 0;
    for (int i = 0; i < n; i++)
        wrong += h[i] != in[(i + 1) % n];
    CHECK(wrong == 0, "with the barrier: %d wrong", wrong);
    for (int i = 0; i < n; i++) /* new values: the static shared array keeps the old ones */
        in[i] = i + 5000;
    cudaMemcpy(din, in, sizeof in, cudaMemcpyHostToDevice);
    LAUNCH(race_kernel, 1, n, 0, 0, din, dout, n, 0);
    to_host(h, dout, 64);
    wrong = 0;
    for (int i = 0; i < n; i++)
        wrong += h[i] != in[(i + 1) % n];
    /* fibers run a thread until it blocks, so a read before the missing barrier sees
     * the other threads' writes not yet done */
    CHECK(wrong > 0, "without the barrier the fibers still gave the right result");
    cudaFree(din);
    cudaFree(dout);
}

TEST(test_early_return)
{
    size_t before = g_msgs.size();
    int *d = nullptr;
    cudaMalloc(&d, 64 * sizeof(int));
    LAUNCH(early_return_kernel, 1, 64, 0, 0, d);
    expect_report("early return", before, "early return before a barrier");
    expect_report("early return", before, "thread (3,0,0)");
    cudaFree(d);
}

TEST(test_divergent_barrier)
{
    size_t before = g_msgs.size();
    int *d = nullptr;
    cudaMalloc(&d, 64 * sizeof(int));
    LAUNCH(divergent_barrier_kernel, 1, 64, 0, 0, d);
    expect_report("divergent barrier", before, "different call sites");
    cudaFree(d);
}

TEST(test_half_warp_full_mask)
{
    size_t before = g_msgs.size();
    int *d = nullptr;
    cudaMalloc(&d, 32 * sizeof(int));
    LAUNCH(shuffle_kernel, 1, 16, 0, 0, d); /* 16 threads, mask of 32 lanes */
    expect_report("half warp, full mask", before, "names lanes that do not exist");
    before = g_msgs.size();
    LAUNCH(half_warp_only_kernel, 1, 32, 0, 0, d); /* lanes 16..31 never call it */
    expect_report("half warp in a branch", before, "has exited");
    cudaFree(d);
}

TEST(test_deadlock)
{
    if (!on_fibers())
        return; /* OS threads detect it by a timeout and abort */
    size_t before = g_msgs.size();
    int *d = nullptr;
    cudaMalloc(&d, 32 * sizeof(int));
    LAUNCH(deadlock_kernel, 1, 32, 0, 0, d);
    expect_report("deadlock", before, "deadlock");
    cudaFree(d);
}

TEST(test_dynamic_smem_limit)
{
    size_t before = g_msgs.size();
    unsigned char *d = nullptr;
    cudaMalloc(&d, 1);
    int big = 64 * 1024;
    LAUNCH(dyn_smem_kernel, 1, 128, (size_t)big, 0, d, big);
    expect_report("64 KB dynamic smem", before, "cudaFuncAttributeMaxDynamicSharedMemorySize");
    before = g_msgs.size();
    CHECK(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               big) == cudaSuccess, "set attribute");
    LAUNCH(dyn_smem_kernel, 1, 128, (size_t)big, 0, d, big);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "64 KB with the attribute failed");
    CHECK(g_msgs.size() == before, "64 KB with the attribute reported: %s", g_msgs.back().c_str());
    unsigned char h = 0;
    to_host(&h, d, 1);
    unsigned s = 0;
    for (int i = 0; i < big; i++)
        s += (unsigned char)i;
    CHECK(h == (unsigned char)s, "sum %u, want %u", h, s & 0xffu);
    cudaFree(d);
}

TEST(test_swapped_memcpy)
{
    size_t before = g_msgs.size();
    float host[4] = {1, 2, 3, 4}, *d = nullptr;
    cudaMalloc(&d, sizeof host);
    cudaError_t e = cudaMemcpy(host, d, sizeof host, cudaMemcpyHostToDevice); /* swapped */
    CHECK(e == cudaErrorInvalidMemcpyDirection, "swapped memcpy returned %s", cudaGetErrorName(e));
    expect_report("swapped memcpy", before, "destination is host memory");
    CHECK(host[0] == 1.0f, "host buffer overwritten by a refused copy");
    cudaFree(d);
}

TEST(test_malloc_poison)
{
    float *d = nullptr, h[3];
    cudaMalloc(&d, sizeof h);
    to_host(h, d, 3);
    CHECK(std::isnan(h[0]) && std::isnan(h[2]), "fresh device memory must read as NaN");
    cudaFree(d);
}

static int race_main(void)
{
    /* The TSan ctest expects ThreadSanitizer to report the race in race_kernel. */
    qcpu::set_backend(qcpu::BACKEND_THREADS);
    int n = 64, in[64], h[64];
    for (int i = 0; i < n; i++)
        in[i] = i;
    int *din = to_device(in, 64), *dout = nullptr;
    cudaMalloc(&dout, sizeof in);
    LAUNCH(race_kernel, 1, n, 0, 0, din, dout, n, 0);
    to_host(h, dout, 64);
    printf("ran race_kernel without its barrier; out[0] = %d\n", h[0]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--race-missing-barrier") == 0)
        return race_main();
    qcpu::set_report_hook(record, nullptr);
    fprintf(stderr, "backend %s\n", on_fibers() ? "fibers" : "threads");
    RUN(test_collectives_values);
    RUN(test_missing_barrier_fibers);
    RUN(test_early_return);
    RUN(test_divergent_barrier);
    RUN(test_half_warp_full_mask);
    RUN(test_deadlock);
    RUN(test_dynamic_smem_limit);
    RUN(test_swapped_memcpy);
    RUN(test_malloc_poison);
    return check_summary();
}
