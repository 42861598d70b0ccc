/*
 * fuzz_npy.c — libFuzzer target for the .npy reader (header parser and streaming
 * reads). The reader takes a path, so the input goes through a memfd; build as
 * fuzz_safetensors.c says. Invariants: a successful open has a dtype of non-zero
 * size and at most QTIP_MAX_DIMS dimensions; reads never return more elements
 * than the shape holds.
 */
#include "qtip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.npy", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    qtip_npy_reader *r = NULL;
    if (qtip_npy_open(path, &r) == QTIP_OK) {
        if (qtip_dtype_size(qtip_npy_dtype(r)) == 0 || qtip_npy_ndim(r) > QTIP_MAX_DIMS) abort();
        unsigned char buf[4096];
        size_t per = sizeof buf / qtip_dtype_size(qtip_npy_dtype(r)), got;
        uint64_t total = 0;
        while (qtip_npy_read(r, buf, per, &got) == QTIP_OK && got) {
            total += got;
            if (total > qtip_npy_count(r)) abort();
        }
    } else if (r) {
        abort();
    }
    qtip_npy_close(r);
    close(fd);
    return 0;
}
