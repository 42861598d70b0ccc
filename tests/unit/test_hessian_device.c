/*
 * test_hessian_device.c — qtip_hessian_set_device in any build: names are checked;
 * "auto" without a usable GPU falls back to the CPU path byte for byte (with one, it
 * matches it to the documented bound: tests/gpu/hessian_device_check.h); "cuda"
 * without one fails with a message saying why (no plugin, or no device).
 */
#include "check.h"

#include "../gpu/hessian_device_check.h"

TEST(test_names)
{
    qtip_hessian *h = NULL;
    CHECK_OK(qtip_hessian_create(4, NULL, &h));
    CHECK(!strcmp(qtip_hessian_device(h), "cpu"), "default device '%s'", qtip_hessian_device(h));
    CHECK_STATUS(qtip_hessian_set_device(h, "gpu"), QTIP_E_PARAM);
    CHECK(strstr(qtip_last_error(), "unknown device 'gpu'"), "message: %s", qtip_last_error());
    CHECK_STATUS(qtip_hessian_set_device(h, "cuda:x"), QTIP_E_PARAM);
    CHECK_STATUS(qtip_hessian_set_device(h, "cuda:1 "), QTIP_E_PARAM);
    CHECK_OK(qtip_hessian_set_device(h, "cpu"));
    CHECK_OK(qtip_hessian_set_device(h, NULL));
    CHECK_STATUS(qtip_hessian_set_default_device(
                     "a-device-name-much-longer-than-anything-the-library-would-accept-here"),
                 QTIP_E_PARAM);
    CHECK_OK(qtip_hessian_set_default_device(NULL));
    qtip_hessian_free(h);
}

TEST(test_auto_matches_cpu)
{
    test_rng rng = test_rng_seeded(41);
    char used[160];
    hessian_device_compare("auto", 96, &rng, used, sizeof used);
}

TEST(test_cuda_without_gpu_fails_clearly)
{
    qtip_hessian *h = NULL;
    CHECK_OK(qtip_hessian_create(8, NULL, &h));
    qtip_status s = qtip_hessian_set_device(h, "cuda");
    if (s == QTIP_OK) {
        printf("  a GPU is present: %s\n", qtip_hessian_device(h));
        CHECK(!strncmp(qtip_hessian_device(h), "cuda:0 (", 8), "device '%s'", qtip_hessian_device(h));
    } else {
        const char *m = qtip_last_error();
        printf("  no GPU: %s\n", m);
        CHECK((s == QTIP_E_UNSUPPORTED && strstr(m, "libqtip_cuda.so not found (built without CUDA?)")) ||
                  (s == QTIP_E_CUDA && strstr(m, "no CUDA device: cudaGetDeviceCount")),
              "status %s, message: %s", qtip_status_name(s), m);
        CHECK(!strcmp(qtip_hessian_device(h), "cpu"), "device '%s' after a failure", qtip_hessian_device(h));
        /* the accumulator still works */
        float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, x, 1));
        CHECK_OK(qtip_hessian_flush(h));
        CHECK(qtip_hessian_sum_xx(h)[7 * 8 + 7] == 64.0, "S77 = %g", qtip_hessian_sum_xx(h)[63]);
    }
    qtip_hessian_free(h);
}

int main(void)
{
    RUN(test_names);
    RUN(test_auto_matches_cpu);
    RUN(test_cuda_without_gpu_fails_clearly);
    return check_summary();
}
