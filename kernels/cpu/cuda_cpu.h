/*
 * cuda_cpu.h — the CPU execution layer: meanings for the CUDA keywords, built-in
 * variables, barriers, warp collectives, atomics and runtime calls, so that the
 * same kernel source (the kernels/ .cu files) builds with g++ and runs on the CPU in CI,
 * with every barrier and warp collective checked. Reached through the shim
 * kernels/cpu/cuda_runtime.h; never include it from code that nvcc compiles.
 * Design, back-ends and limits: docs/kernels.md; facts: the cuda_on_cpu digest.
 *
 * Model: the blocks of a launch run one after another (so `__shared__` is
 * `static`); the threads of one block run either as fibers on one OS thread
 * (deterministic, optionally shuffled by a seed; the default, works under
 * ASan/UBSan) or as one OS thread each (barriers and warp rounds on mutexes and
 * condition variables, so ThreadSanitizer sees a missing __syncthreads as a race;
 * the default under TSan). Misuse is reported through a hook (default: message on
 * stderr, abort) naming the kernel, block, thread and source line.
 */
#ifndef QTIP_CUDA_CPU_H
#define QTIP_CUDA_CPU_H

#if defined(__CUDACC__)
#error "cuda_cpu.h is the CPU execution layer; nvcc must see the real cuda_runtime.h"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

/* The keywords first: the toolkit's host_defines.h keeps definitions that exist. */
#define __global__
#define __device__
#define __host__
#define __constant__ static
#define __managed__
#define __grid_constant__

#if defined(QTIP_CPU_HAVE_TOOLKIT_HEADERS)
#include <driver_types.h>
#include <vector_types.h>
#else
#include "cuda_cpu_types.h"
#endif

/* host_defines.h (toolkit) gives __shared__/__launch_bounds__ GNU attributes that
 * g++ does not know: replace them. __forceinline__, __align__ are kept. */
#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)
#ifndef __forceinline__
#define __forceinline__ inline __attribute__((always_inline))
#endif
#ifndef __align__
#define __align__(n) __attribute__((aligned(n)))
#endif

/* Built-in variables: per OS thread, and set by the fiber scheduler on each switch. */
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace qcpu {

enum backend { BACKEND_FIBERS = 0, BACKEND_THREADS = 1 };

/* Back-end for the following launches. Default: env QTIP_CUDA_CPU_BACKEND
 * ("fibers" or "threads"), else threads under TSan and fibers otherwise. */
void set_backend(backend b);
backend get_backend();
/* Fiber schedule: 0 runs the threads in index order; any other seed shuffles the
 * order of every scheduling round reproducibly. Default: env QTIP_CUDA_CPU_SEED. */
void set_seed(uint64_t seed);

/* Where reports go. The default hook prints `msg` on stderr and aborts. A hook that
 * returns lets the layer go on with a defined fallback (the launch then fails with
 * cudaErrorLaunchFailure); a deadlocked block is abandoned. NULL restores the default. */
typedef void (*report_hook)(const char *msg, void *user);
void set_report_hook(report_hook hook, void *user);
/* Number of reports since the start of the process. */
unsigned long report_count();

/* True when [p, p + bytes) lies inside one cudaMalloc allocation (the library shims,
 * cuda_cpu_blas.cpp, check their matrix arguments with it). */
bool device_range(const void *p, size_t bytes);
/* A misuse found outside the layer (the library shims), through the report hook. */
void report_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A simulated device memory size: cudaMalloc fails with cudaErrorMemoryAllocation once
 * the live allocations would exceed `bytes` (0: no limit, the default; env
 * QTIP_CUDA_CPU_MEM_LIMIT, bytes). cudaMemGetInfo reports it. Tests of the
 * out-of-memory paths (smaller Viterbi batches) use it. */
void set_memory_limit(size_t bytes);
/* The most device memory live at once since the last reset (bytes). */
size_t memory_peak();
void reset_memory_peak();

/* ---- internals used by the macros below ---------------------------------- */
enum warp_op { OP_SHFL, OP_SHFL_UP, OP_SHFL_DOWN, OP_SHFL_XOR, OP_BALLOT, OP_ANY, OP_ALL,
               OP_SYNCWARP };
void sync_block(const char *file, int line);
uint64_t warp_collective(warp_op op, unsigned mask, uint64_t value, int arg, int width,
                         const char *file, int line);
void *dyn_shared();
cudaError_t launch_body(const void *fn, const char *name, dim3 grid, dim3 block, size_t smem,
                        const std::function<void()> &body, const char *file, int line);
cudaError_t func_set_attribute(const void *fn, cudaFuncAttribute attr, int value);

template <class T> inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                  "warp collectives move values of at most 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T> inline T from_bits(uint64_t b)
{
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}
template <class T>
inline T shfl(const char *f, int l, warp_op op, unsigned mask, T var, int arg, int width = 32)
{
    return from_bits<T>(warp_collective(op, mask, to_bits(var), arg, width, f, l));
}

/* Kernel arguments are converted to the parameter types at launch, as CUDA does. */
template <class... P, class... A>
inline void launch(void (*kernel)(P...), const char *name, dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, const char *file, int line, A &&...args)
{
    (void)stream;
    std::tuple<typename std::decay<P>::type...> params(std::forward<A>(args)...);
    std::function<void()> body = [kernel, params]() { std::apply(kernel, params); };
    launch_body(reinterpret_cast<const void *>(kernel), name, grid, block, smem, body, file,
                line);
}

} // namespace qcpu

#define __syncthreads() ::qcpu::sync_block(__FILE__, __LINE__)
#define __syncwarp(...) \
    ((void)::qcpu::warp_collective(::qcpu::OP_SYNCWARP, ::qcpu::syncwarp_mask(__VA_ARGS__), \
                                   0, 0, 32, __FILE__, __LINE__))
#define __shfl_sync(mask, ...) ::qcpu::shfl(__FILE__, __LINE__, ::qcpu::OP_SHFL, mask, __VA_ARGS__)
#define __shfl_up_sync(mask, ...) \
    ::qcpu::shfl(__FILE__, __LINE__, ::qcpu::OP_SHFL_UP, mask, __VA_ARGS__)
#define __shfl_down_sync(mask, ...) \
    ::qcpu::shfl(__FILE__, __LINE__, ::qcpu::OP_SHFL_DOWN, mask, __VA_ARGS__)
#define __shfl_xor_sync(mask, ...) \
    ::qcpu::shfl(__FILE__, __LINE__, ::qcpu::OP_SHFL_XOR, mask, __VA_ARGS__)
#define __ballot_sync(mask, pred) \
    ((unsigned)::qcpu::warp_collective(::qcpu::OP_BALLOT, mask, (pred) ? 1u : 0u, 0, 32, \
                                       __FILE__, __LINE__))
#define __any_sync(mask, pred) \
    ((int)::qcpu::warp_collective(::qcpu::OP_ANY, mask, (pred) ? 1u : 0u, 0, 32, __FILE__, \
                                  __LINE__))
#define __all_sync(mask, pred) \
    ((int)::qcpu::warp_collective(::qcpu::OP_ALL, mask, (pred) ? 1u : 0u, 0, 32, __FILE__, \
                                  __LINE__))

namespace qcpu {
inline unsigned syncwarp_mask() { return 0xffffffffu; }
inline unsigned syncwarp_mask(unsigned m) { return m; }
} // namespace qcpu

/* ---- device functions ------------------------------------------------------ */
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
inline unsigned __brev(unsigned x)
{
    unsigned r = 0;
    for (int i = 0; i < 32; i++)
        r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned __float_as_uint(float f) { return qcpu::from_bits<unsigned>(qcpu::to_bits(f)); }
inline float __uint_as_float(unsigned u) { return qcpu::from_bits<float>(qcpu::to_bits(u)); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
template <class T> inline T __ldg(const T *p) { return *p; }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/* ---- atomics ----------------------------------------------------------------- */
template <class T> inline T atomicAdd(T *p, T v)
{
    static_assert(std::is_integral<T>::value, "integer atomicAdd");
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
template <class F> inline F qcpu_atomic_add_float(F *p, F v)
{
    F old, want;
    __atomic_load(p, &old, __ATOMIC_SEQ_CST);
    do {
        want = old + v;
    } while (!__atomic_compare_exchange(p, &old, &want, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST));
    return old;
}
inline float atomicAdd(float *p, float v) { return qcpu_atomic_add_float(p, v); }
inline double atomicAdd(double *p, double v) { return qcpu_atomic_add_float(p, v); }
template <class T> inline T atomicSub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <class T> inline T atomicExch(T *p, T v)
{
    T old;
    __atomic_exchange(p, &v, &old, __ATOMIC_SEQ_CST);
    return old;
}
template <class T> inline T atomicCAS(T *p, T cmp, T v)
{
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
template <class T> inline T atomicMax(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST)) {
    }
    return old;
}
template <class T> inline T atomicMin(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST)) {
    }
    return old;
}
template <class T> inline T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
template <class T> inline T atomicAnd(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }

/* ---- runtime API ------------------------------------------------------------- */
cudaError_t cudaMalloc(void **p, size_t bytes);
template <class T> inline cudaError_t cudaMalloc(T **p, size_t bytes)
{
    return cudaMalloc(reinterpret_cast<void **>(p), bytes);
}
cudaError_t cudaFree(void *p);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = 0);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
template <class T> inline cudaError_t cudaFuncSetAttribute(T *func, cudaFuncAttribute attr, int value)
{
    return qcpu::func_set_attribute(reinterpret_cast<const void *>(func), attr, value);
}

#endif /* QTIP_CUDA_CPU_H */
