/*
 * cuda_runtime.h (CPU shim) — placed first on the include path of the CPU build
 * of the kernels, so that `#include <cuda_runtime.h>` in a kernel source reaches
 * the project's CPU execution layer instead of the toolkit's header (force-including
 * the layer beside the real header gives conflicting declarations). docs/kernels.md.
 */
#ifndef QTIP_CPU_CUDA_RUNTIME_SHIM_H
#define QTIP_CPU_CUDA_RUNTIME_SHIM_H
#include "cuda_cpu.h"
#endif
