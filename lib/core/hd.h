/*
 * hd.h — qualifiers for element logic shared by the C reference and the CUDA
 * kernels (not installed). A function marked QTIP_HD is compiled as a plain
 * static inline C function in lib/, and as __host__ __device__ under nvcc, so CPU
 * and GPU share one definition bit for bit (build flags: -ffp-contract=off on the
 * CPU, --fmad=false on the GPU). Keep QTIP_HD code to C that is also valid C++.
 */
#ifndef QTIP_HD_H
#define QTIP_HD_H

#if defined(__CUDACC__)
#define QTIP_HD static __host__ __device__ __forceinline__
#else
#define QTIP_HD static inline
#endif

#endif /* QTIP_HD_H */
