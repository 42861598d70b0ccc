/*
 * qtip_io.h — files: atomic writes, transparent zstd streams, checksums.
 * Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 */
#ifndef QTIP_IO_H
#define QTIP_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- Atomic output -------------------------------------------------------
 * Writes go to a temporary file in the destination's directory
 * ("<path>.qtip-tmp.<host>-<pid>_<start>.XXXXXX"); opening removes such temporaries of the
 * same `path` left on this host by processes that no longer exist (a killed run). A `path` that is
 * (a link to) a file this process opened as an input is refused with QTIP_E_IO:
 * "'X' is also an input ('Y'); refusing to overwrite an input". Commit fsyncs it and renames it over `path`, then
 * fsyncs the directory. abort (or free without commit) deletes the temporary:
 * a killed or failed command never leaves a partial file, and a previous
 * `path` stays untouched until the new one is complete.
 * With compress_level > 0 the bytes are written as one zstd frame (with its
 * content checksum). The path "-" streams to stdout instead: not atomic, and
 * abort cannot take back what was written.
 * Errors are QTIP_E_IO naming the path and the system's reason. */
typedef struct qtip_atomic_file qtip_atomic_file;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_atomic_open(const char *path, int compress_level, qtip_atomic_file **out);
qtip_status qtip_atomic_write(qtip_atomic_file *f, const void *buf, size_t len);
/* Finish: flush, fsync, rename. `f` is freed whether or not it succeeds. */
qtip_status qtip_atomic_commit(qtip_atomic_file *f);
/* Discard the temporary. Accepts NULL. */
void qtip_atomic_abort(qtip_atomic_file *f);

/* Forget the inputs recorded so far: a program that means to rewrite a file it
 * has read (an in-place update, a test corrupting its own fixture) calls this
 * first. Commands never do. */
void qtip_io_forget_inputs(void);

/* Write a whole buffer to `path` atomically. */
qtip_status qtip_write_file_atomic(const char *path, const void *buf, size_t len,
                                   int compress_level);
#endif /* QTIP_EXPERIMENTAL */

/* --- Input streams ---------------------------------------------------------
 * A sequential reader over a file or stdin ("-"). Only regular files (or links to
 * them) are opened: a FIFO, socket, device or directory is refused with QTIP_E_IO
 * naming the path and its type, without blocking; stdin is read only as "-". zstd input is detected by its
 * magic number (28 B5 2F FD) and decompressed on the fly, multiple frames
 * included. Memory is bounded (a fixed buffer), whatever the input size. */
typedef struct qtip_reader qtip_reader;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_reader_open(const char *path, qtip_reader **out);
/* Read up to `len` bytes; *got = 0 means end of input. Short reads happen (pipes,
 * frame ends): loop, or use _read_exact. Corrupt or truncated zstd: QTIP_E_FORMAT. */
qtip_status qtip_reader_read(qtip_reader *r, void *buf, size_t len, size_t *got);
/* Read exactly `len` bytes or fail with a message naming the file (truncation). */
qtip_status qtip_reader_read_exact(qtip_reader *r, void *buf, size_t len);
/* Name used in messages ("<stdin>" for "-"). */
const char *qtip_reader_name(const qtip_reader *r);
/* Running checksum of all bytes read so far (of the stored, possibly compressed, bytes). */
uint64_t qtip_reader_checksum(const qtip_reader *r);
void qtip_reader_free(qtip_reader *r);

/* Read a whole file or stdin ("-"), decompressing zstd, into a malloc'd buffer
 * (free()); one NUL byte is stored after the `*len` bytes, so text can be parsed
 * in place. Truncated or corrupt zstd input is QTIP_E_FORMAT, naming the file.
 * Compressed input and stdin may bring at most QTIP_READ_FILE_MAX bytes (a 32 KB
 * zstd file can expand to gigabytes): more is QTIP_E_FORMAT naming the file and
 * the limit. A plain regular file is read whole, whatever its size. */
#define QTIP_READ_FILE_MAX ((size_t)256 << 20)
qtip_status qtip_read_file(const char *path, void **buf, size_t *len);

/* --- Checksums -------------------------------------------------------------
 * XXH3-128 (libxxhash), printed as 32 lowercase hex digits with the prefix
 * "xxh3-128:". Used for provenance of inputs; fast enough for 100 GB models. */
#define QTIP_CHECKSUM_STRLEN 42 /* "xxh3-128:" + 32 hex + NUL */
void qtip_checksum_buffer(const void *buf, size_t len, char out[QTIP_CHECKSUM_STRLEN]);
/* Checksum of the file's bytes as stored (a .zst file's compressed bytes); "-" reads
 * stdin. Digits are XXH128's canonical order, as `xxhsum -H2` prints them. */
qtip_status qtip_checksum_file(const char *path, char out[QTIP_CHECKSUM_STRLEN]);

/* --- Memory maps ------------------------------------------------------------
 * Read-only, private map of a whole regular file (opened by the readers' policy:
 * special files refused, the file recorded as an input); an empty file maps to
 * {NULL, 0}. close accepts NULL and a zeroed struct. */
typedef struct {
    void *data;
    size_t size;
} qtip_mmap;
qtip_status qtip_mmap_open(const char *path, qtip_mmap *out);
void qtip_mmap_close(qtip_mmap *m);
#endif /* QTIP_EXPERIMENTAL */

#ifdef __cplusplus
}
#endif
#endif /* QTIP_IO_H */
