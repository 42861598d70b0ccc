/*
 * io_reader.c — sequential input from a file or stdin, zstd detected by magic.
 *
 * The first four bytes are peeked to choose raw or zstd; raw reads go straight into
 * the caller's buffer, zstd input goes through one ZSTD_DStream whose buffers are
 * fixed in size, so memory stays bounded whatever the input. Concatenated frames
 * (what `zstd` and `cat a.zst b.zst` produce) decode as one stream; input that ends
 * inside a frame is an error, never a silent short read.
 */
#include "io/io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

struct qtip_reader {
    int fd;
    int is_stdin;
    int compressed;
    int eof;          /* the underlying file is exhausted */
    uint64_t size;    /* a regular file's stored size (0 for stdin) */
    char *name;
    XXH3_state_t *xxh; /* over stored bytes */
    /* Stored bytes read but not yet consumed (peeked magic, or zstd input). */
    unsigned char *in;
    size_t in_size, in_pos, in_len;
    ZSTD_DStream *zd;
    size_t last_ret; /* ZSTD_decompressStream's last hint: 0 at a frame's end */
};

static const unsigned char zstd_magic[4] = {0x28, 0xB5, 0x2F, 0xFD};

/* Read stored bytes from the file into buf; updates the checksum. */
static qtip_status raw_read(qtip_reader *r, void *buf, size_t len, size_t *got)
{
    *got = 0;
    if (r->eof || len == 0) return QTIP_OK;
    for (;;) {
        ssize_t n = read(r->fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return qtip_error(QTIP_E_IO, "cannot read '%s': %s", r->name, strerror(errno));
        }
        if (n == 0) r->eof = 1;
        XXH3_64bits_update(r->xxh, buf, (size_t)n);
        *got = (size_t)n;
        return QTIP_OK;
    }
}

qtip_status qtip_reader_open(const char *path, qtip_reader **out)
{
    QTIP_RETURN_ERROR_IF(!path || !out, QTIP_E_PARAM, "reader open: path and out are required");
    *out = NULL;
    qtip_reader *r = (qtip_reader *)calloc(1, sizeof *r);
    QTIP_RETURN_ERROR_IF(!r, QTIP_E_NOMEM, "cannot read '%s': out of memory", path);
    r->fd = -1;
    r->is_stdin = strcmp(path, "-") == 0;
    r->name = strdup(r->is_stdin ? "<stdin>" : path);
    r->xxh = XXH3_createState();
    r->in_size = ZSTD_DStreamInSize();
    if (r->in_size < 4) r->in_size = 4;
    r->in = (unsigned char *)malloc(r->in_size);
    if (!r->name || !r->xxh || !r->in) {
        qtip_reader_free(r);
        return qtip_error(QTIP_E_NOMEM, "cannot read '%s': out of memory", path);
    }
    XXH3_64bits_reset(r->xxh);
    if (r->is_stdin) {
        r->fd = STDIN_FILENO;
    } else {
        struct stat st;
        qtip_status s = io_open_input(path, &r->fd, &st);
        if (s != QTIP_OK) {
            qtip_reader_free(r);
            return s;
        }
        r->size = (uint64_t)st.st_size;
    }
    /* Peek the magic: a short read loop because pipes deliver what they have. */
    while (r->in_len < 4 && !r->eof) {
        size_t got;
        qtip_status s = raw_read(r, r->in + r->in_len, 4 - r->in_len, &got);
        if (s != QTIP_OK) {
            qtip_reader_free(r);
            return s;
        }
        r->in_len += got;
    }
    if (r->in_len == 4 && memcmp(r->in, zstd_magic, 4) == 0) {
        r->compressed = 1;
        r->zd = ZSTD_createDStream();
        if (!r->zd) {
            qtip_reader_free(r);
            return qtip_error(QTIP_E_NOMEM, "cannot read '%s': out of memory", path);
        }
        ZSTD_initDStream(r->zd);
        r->last_ret = 1; /* a frame has begun (its magic is here) */
    }
    *out = r;
    return QTIP_OK;
}

static qtip_status zstd_read(qtip_reader *r, void *buf, size_t len, size_t *got)
{
    ZSTD_outBuffer o = {buf, len, 0};
    while (o.pos == 0) {
        if (r->in_pos == r->in_len && !r->eof) {
            size_t n;
            QTIP_FORWARD_IF_ERROR(raw_read(r, r->in, r->in_size, &n));
            r->in_pos = 0;
            r->in_len = n;
        }
        /* Called with empty input too: the decoder may still hold output to flush. */
        ZSTD_inBuffer in = {r->in, r->in_len, r->in_pos};
        size_t ret = ZSTD_decompressStream(r->zd, &o, &in);
        if (ZSTD_isError(ret))
            return qtip_error(QTIP_E_FORMAT, "cannot read '%s': corrupt zstd data: %s", r->name,
                              ZSTD_getErrorName(ret));
        int progress = in.pos > r->in_pos || o.pos > 0;
        r->in_pos = in.pos;
        /* Without progress the hint describes a frame not yet begun: keep the old one. */
        if (progress) r->last_ret = ret;
        if (!progress && r->eof && r->in_pos == r->in_len) break;
    }
    if (o.pos == 0 && r->last_ret != 0)
        return qtip_error(QTIP_E_FORMAT, "cannot read '%s': truncated zstd stream", r->name);
    *got = o.pos;
    return QTIP_OK;
}

qtip_status qtip_reader_read(qtip_reader *r, void *buf, size_t len, size_t *got)
{
    QTIP_RETURN_ERROR_IF(!r || !got, QTIP_E_PARAM, "reader read: no reader");
    *got = 0;
    if (len == 0) return QTIP_OK;
    QTIP_RETURN_ERROR_IF(!buf, QTIP_E_PARAM, "cannot read '%s': NULL buffer", r->name);
    if (r->compressed) return zstd_read(r, buf, len, got);
    if (r->in_pos < r->in_len) { /* peeked bytes first */
        size_t n = r->in_len - r->in_pos;
        if (n > len) n = len;
        memcpy(buf, r->in + r->in_pos, n);
        r->in_pos += n;
        *got = n;
        return QTIP_OK;
    }
    return raw_read(r, buf, len, got);
}

qtip_status qtip_reader_read_exact(qtip_reader *r, void *buf, size_t len)
{
    QTIP_RETURN_ERROR_IF(!r, QTIP_E_PARAM, "reader read: no reader");
    unsigned char *p = (unsigned char *)buf;
    size_t done = 0;
    while (done < len) {
        size_t got;
        QTIP_FORWARD_IF_ERROR(qtip_reader_read(r, p + done, len - done, &got));
        if (got == 0)
            return qtip_error(QTIP_E_FORMAT,
                              "cannot read '%s': truncated: expected %zu more bytes, found %zu",
                              r->name, len, done);
        done += got;
    }
    return QTIP_OK;
}

const char *qtip_reader_name(const qtip_reader *r) { return r ? r->name : ""; }
uint64_t qtip_reader_checksum(const qtip_reader *r)
{
    return r ? (uint64_t)XXH3_64bits_digest(r->xxh) : 0;
}

void qtip_reader_free(qtip_reader *r)
{
    if (!r) return;
    if (r->fd >= 0 && !r->is_stdin) close(r->fd);
    ZSTD_freeDStream(r->zd);
    if (r->xxh) XXH3_freeState(r->xxh);
    free(r->in);
    free(r->name);
    free(r);
}

qtip_status io_read_all(qtip_reader *r, size_t lead, size_t limit, const char *what, void **buf,
                        size_t *len)
{
    *buf = NULL;
    *len = 0;
    /* A plain file's size is known: one allocation. Otherwise grow with what arrives. */
    size_t cap = 1 << 16, n = lead;
    if (!r->compressed && !r->is_stdin && r->size <= limit) cap = (size_t)r->size + 1;
    cap += lead;
    limit += lead;
    unsigned char *p = (unsigned char *)malloc(cap);
    qtip_status s = QTIP_OK;
    if (!p) s = qtip_error(QTIP_E_NOMEM, "cannot read '%s': cannot allocate %zu bytes", r->name, cap);
    while (s == QTIP_OK) {
        if (cap - n < 2) {
            size_t ncap = cap <= limit / 2 ? cap * 2 : limit + 2;
            unsigned char *q = ncap > cap ? (unsigned char *)realloc(p, ncap) : NULL;
            if (!q) {
                s = qtip_error(QTIP_E_NOMEM, "cannot read '%s': cannot allocate %zu bytes",
                               r->name, ncap);
                break;
            }
            p = q;
            cap = ncap;
        }
        size_t got;
        s = qtip_reader_read(r, p + n, cap - n - 1, &got);
        if (s != QTIP_OK || got == 0) break;
        n += got;
        if (n > limit)
            s = qtip_error(QTIP_E_FORMAT, "cannot read '%s': %s more than %zu bytes, the limit "
                           "for %s", r->name, r->compressed ? "decompresses to" : "holds",
                           limit - lead, what);
    }
    if (s != QTIP_OK) {
        free(p);
        return s;
    }
    p[n] = 0;
    *buf = p;
    *len = n - lead;
    return QTIP_OK;
}

qtip_status qtip_read_file(const char *path, void **buf, size_t *len)
{
    QTIP_RETURN_ERROR_IF(!path || !buf || !len, QTIP_E_PARAM, "read file: missing argument");
    *buf = NULL;
    *len = 0;
    qtip_reader *r;
    QTIP_FORWARD_IF_ERROR(qtip_reader_open(path, &r));
    /* A plain file is as large as it is; what decompresses or streams in is capped
     * so that a small zstd bomb cannot take the machine's memory. */
    size_t limit = QTIP_READ_FILE_MAX;
    if (!r->compressed && !r->is_stdin && r->size > limit)
        limit = r->size < SIZE_MAX - 2 ? (size_t)r->size : SIZE_MAX - 2;
    qtip_status s = io_read_all(r, 0, limit, "a whole-file read (configuration, index or copied file)",
                                buf, len);
    qtip_reader_free(r);
    return s;
}
