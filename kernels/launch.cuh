/*
 * launch.cuh — the two constructs a header cannot give the CPU build, written once
 * for both builds (docs/kernels.md):
 *   LAUNCH(kernel, grid, block, smem, stream, args...)  the triple-chevron kernel launch
 *   DYN_SHARED(T, name)                                  T *name = the block's dynamic shared memory
 * Under nvcc they are the CUDA syntax; in the CPU build (g++ with kernels/cpu first on
 * the include path) they go to the execution layer, which checks the configuration
 * and the dynamic shared-memory budget. Use LAUNCH only inside the launchers
 * (qtip_cuda_<stage>_<op>) so that their grid arithmetic is tested too.
 */
#ifndef QTIP_KERNELS_LAUNCH_CUH
#define QTIP_KERNELS_LAUNCH_CUH

#include <cuda_runtime.h>

#if defined(__CUDACC__)
/* One line each: these are the only places where the raw CUDA syntax may appear. */
#define LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define DYN_SHARED(T, name) extern __shared__ __align__(16) unsigned char qtip_dyn_smem_[]; T *name = reinterpret_cast<T *>(qtip_dyn_smem_)
#else
#define LAUNCH(kernel, grid, block, smem, stream, ...) \
    ::qcpu::launch(kernel, #kernel, (grid), (block), (smem), (stream), __FILE__, __LINE__, \
                   __VA_ARGS__)
#define DYN_SHARED(T, name) T *name = reinterpret_cast<T *>(::qcpu::dyn_shared())
#endif

#endif /* QTIP_KERNELS_LAUNCH_CUH */
