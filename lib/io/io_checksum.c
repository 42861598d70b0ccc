/*
 * io_checksum.c — XXH3-128 checksums of buffers and files, as printable strings.
 *
 * The digest is printed in XXH128's canonical (big-endian) byte order, the same
 * digits `xxhsum -H2` prints, so a user can check a figure with a standard tool.
 * Files are hashed as stored: a compressed input's checksum is that of its .zst bytes.
 */
#include "io/io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static void format_digest(XXH128_hash_t h, char out[QTIP_CHECKSUM_STRLEN])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "xxh3-128:", 9);
    for (int i = 0; i < 16; i++) {
        out[9 + 2 * i] = hex[c.digest[i] >> 4];
        out[10 + 2 * i] = hex[c.digest[i] & 15];
    }
    out[41] = 0;
}

void qtip_checksum_buffer(const void *buf, size_t len, char out[QTIP_CHECKSUM_STRLEN])
{
    format_digest(XXH3_128bits(len ? buf : "", len), out);
}

qtip_status qtip_checksum_file(const char *path, char out[QTIP_CHECKSUM_STRLEN])
{
    QTIP_RETURN_ERROR_IF(!path || !out, QTIP_E_PARAM, "checksum: path and out are required");
    out[0] = 0;
    int is_stdin = strcmp(path, "-") == 0;
    int fd = STDIN_FILENO;
    if (!is_stdin) QTIP_FORWARD_IF_ERROR(io_open_input(path, &fd, NULL));
    XXH3_state_t *st = XXH3_createState();
    size_t bufsize = 1 << 20;
    unsigned char *buf = (unsigned char *)malloc(bufsize);
    qtip_status s = QTIP_OK;
    if (!st || !buf) s = qtip_error(QTIP_E_NOMEM, "cannot checksum '%s': out of memory", path);
    if (s == QTIP_OK) XXH3_128bits_reset(st);
    while (s == QTIP_OK) {
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0) {
            if (errno == EINTR) continue;
            s = qtip_error(QTIP_E_IO, "cannot read '%s': %s", is_stdin ? "<stdin>" : path,
                           strerror(errno));
            break;
        }
        if (n == 0) break;
        XXH3_128bits_update(st, buf, (size_t)n);
    }
    if (s == QTIP_OK) format_digest(XXH3_128bits_digest(st), out);
    free(buf);
    if (st) XXH3_freeState(st);
    if (!is_stdin) close(fd);
    return s;
}
