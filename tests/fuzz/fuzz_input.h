/*
 * fuzz_input.h — hand a fuzz input to the library as a file, the way commands get
 * their inputs: by path, through the io layer's opening policy.
 *
 * One memfd per process, rewritten for every input: its path (/proc/self/fd/N) is
 * a regular file to stat(), so the readers take it as they take a user's file, and
 * being one inode it is recorded once in the registry of inputs however many
 * inputs the fuzzer runs.
 */
#ifndef QTIP_FUZZ_INPUT_H
#define QTIP_FUZZ_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The path of a file holding exactly `data`; NULL if the memfd cannot be made. */
static const char *fuzz_input_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("qtip-fuzz-input", MFD_CLOEXEC);
        if (fd < 0) return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0) return NULL;
        done += (size_t)n;
    }
    return path;
}

/* A failure must leave a message naming the input (its path's last component). */
static void fuzz_expect_named_failure(const char *who, const char *path, int status)
{
    const char *msg = qtip_last_error();
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!msg[0] || !strstr(msg, base)) {
        fprintf(stderr, "%s: failure on '%s' (status %d) without a message naming it: '%s'\n",
                who, path, status, msg);
        abort();
    }
}

#endif /* QTIP_FUZZ_INPUT_H */
