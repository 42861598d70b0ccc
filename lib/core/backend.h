/*
 * backend.h — how libqtip reaches the CUDA plugin (not installed). libqtip never
 * links CUDA: the plugin (libqtip_cuda.so, lib/core/cuda_plugin.h) is dlopened at first
 * use, so the library loads and runs on machines without CUDA. docs/kernels.md,
 * "GPU backend", gives the lookup order and the fallback rules.
 */
#ifndef QTIP_BACKEND_H
#define QTIP_BACKEND_H

#include "core/cuda_plugin.h"
#include "core/internal.h"

/* The device a caller asked for: "cpu", "cuda", "cuda:<k>" or "auto" (NULL = "cpu"). */
/* qtip_device (QTIP_DEVICE_CPU, _CUDA, _AUTO) comes from qtip_quant.h. */

/* Parse a device string; QTIP_E_PARAM naming it when it is none of the above.
 * *index gets k of "cuda:<k>" (0 otherwise). */
qtip_status qtip_backend_parse_device(const char *device, qtip_device *kind, int *index);

/* The loaded plugin with at least one device, loading it on the first call (once
 * per process; thread-safe). On failure *out is NULL and the message says why:
 * QTIP_E_UNSUPPORTED "libqtip_cuda.so not found (built without CUDA?): ..." or a
 * plugin of another ABI; QTIP_E_CUDA "no CUDA device: cudaGetDeviceCount returned
 * ...". *ndev (may be NULL) gets the device count. */
qtip_status qtip_backend_cuda(const qtip_cuda_plugin **out, int *ndev);

/* Where the plugin was loaded from ("" when it was not). */
const char *qtip_backend_cuda_path(void);

/* Use table p instead of loading the plugin (NULL: back to the plugin). For the
 * tests that run the plugin's entries in-process on the CPU execution layer
 * (tests/kernels/test_layer_quant.cpp); call before the first device request. */
void qtip_backend_cuda_inject_(const qtip_cuda_plugin *p);

#endif /* QTIP_BACKEND_H */
