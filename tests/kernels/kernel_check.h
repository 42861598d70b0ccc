/*
 * kernel_check.h — comparing a kernel's output with its C reference, as llm.c's
 * validate_result does: tolerance = abs + |reference| * rel (0, 0 for bit-exact),
 * non-finite reference entries must match in kind, each mismatch reported with the
 * tensor's name, the index and both values, at most ten per tensor.
 * Used with tests/unit/check.h (CHECK counts the failure).
 */
#ifndef QTIP_TEST_KERNEL_CHECK_H
#define QTIP_TEST_KERNEL_CHECK_H

#include <cuda_runtime.h>

#include <cmath>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

/* Returns the number of mismatches (also counted as one check failure). */
template <class T>
static int validate_result(const char *case_name, const char *tensor, const T *got,
                           const T *ref, size_t count, double abs_tol, double rel_tol)
{
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        double g = (double)got[i], r = (double)ref[i];
        bool ok;
        if (abs_tol == 0.0 && rel_tol == 0.0)
            ok = memcmp(&got[i], &ref[i], sizeof(T)) == 0;
        else if (!std::isfinite(r))
            ok = (std::isnan(r) && std::isnan(g)) || g == r;
        else
            ok = fabs(g - r) <= abs_tol + fabs(r) * rel_tol;
        if (std::isfinite(r) && std::isfinite(g) && fabs(g - r) > worst)
            worst = fabs(g - r);
        if (!ok) {
            if (bad < 10)
                fprintf(stderr, "%s: tensor '%s' mismatch at index %zu: kernel %.17g, "
                                "reference %.17g\n",
                        case_name, tensor, i, g, r);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: tensor '%s': %d of %zu entries differ (max |diff| %.3g)", case_name,
          tensor, bad, count, worst);
    return bad;
}

/* Call first in main. On the OS-thread back-end (the TSan build) the C references run
 * on one thread: libgomp is not instrumented, so its threads would be false races. */
static inline void kernel_test_init(void)
{
    if (qcpu::get_backend() == qcpu::BACKEND_THREADS)
        qtip_set_threads(1);
}

/* Device buffer from host data, and back. Abort on failure: a test bug. */
template <class T> static T *to_device(const T *h, size_t count)
{
    T *d = nullptr;
    if (cudaMalloc(&d, count * sizeof(T) + (count == 0)) != cudaSuccess ||
        cudaMemcpy(d, h, count * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess) {
        fprintf(stderr, "to_device: %s\n", cudaGetErrorString(cudaGetLastError()));
        abort();
    }
    return d;
}
template <class T> static void to_host(T *h, const T *d, size_t count)
{
    if (cudaMemcpy(h, d, count * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) {
        fprintf(stderr, "to_host: %s\n", cudaGetErrorString(cudaGetLastError()));
        abort();
    }
}

#endif /* QTIP_TEST_KERNEL_CHECK_H */
