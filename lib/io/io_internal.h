/*
 * io_internal.h — what lib/io shares with the rest of libqtip (not installed):
 * the one file-opening policy for parsed inputs, the registry of opened inputs
 * that outputs check against, the directory fsync, bounded whole-stream reads,
 * and the header parsers of .npy and safetensors that work on bytes from a
 * stream as well as from a buffer.
 */
#ifndef QTIP_IO_INTERNAL_H
#define QTIP_IO_INTERNAL_H

#include "core/internal.h"

#include <jansson.h>
#include <sys/stat.h>

/* --- Opening parsed inputs ---------------------------------------------------
 * Regular files only (a symlink is followed: clusters link shared weights); a
 * FIFO, socket, device or directory is refused with QTIP_E_IO naming the path and
 * its type, before any open that could block. The open is O_NONBLOCK|O_CLOEXEC,
 * confirmed with fstat, then made blocking. The file is recorded as an input.
 * *st receives the fstat of the opened descriptor. */
qtip_status io_open_input(const char *path, int *fd, struct stat *st);
/* Record an input's (st_dev, st_ino) so that qtip_atomic_open refuses to write
 * over it (thread-safe; an inode is recorded once). */
void io_note_input(const struct stat *st, const char *path);
/* QTIP_E_IO, "'X' is also an input ('Y'); refusing to overwrite an input", when
 * `path` exists and is (a link to) a recorded input; else QTIP_OK. */
qtip_status io_refuse_input(const char *path);

/* QTIP_E_IO, "'out' is inside the input directory 'dir'; ...", when the output
 * directory `out` (which need not exist) resolves to `dir` or below it. */
qtip_status io_refuse_inside(const char *out, const char *dir);

/* fsync the directory `dir` (what makes a rename inside it durable). File systems
 * that cannot sync directories (EINVAL, EROFS) are not an error. */
qtip_status io_fsync_dir(const char *dir);
/* io_fsync_dir of the directory that holds `path` ("." without a slash). */
qtip_status io_fsync_parent(const char *path);

/* --- Temporaries of atomic writers -----------------------------------------
 * The one naming of temporaries (io_atomic.c): "<target>.qtip-tmp.<host>-<pid>_<start>.<6 hex>",
 * beside the target so that rename(2) is atomic. io_tmp_create writes the name
 * into tmp (cap bytes) and creates it exclusively: a file (mode 0666 less the
 * umask; returns its descriptor) or, with is_dir, a directory (0777 less the
 * umask; returns 0); -1 with errno on failure. io_remove_stale_tmps deletes the
 * temporaries of `target` (files or whole directories) that a run on this host,
 * now dead, left behind (kill -9), and nothing else. io_remove_tree removes a
 * directory tree without following links. */
int io_tmp_create(const char *target, int is_dir, char *tmp, size_t cap);
void io_remove_stale_tmps(const char *target);
void io_remove_tree(const char *dir);

/* Writers of temporaries (io_tmp_owner.c). io_process_start_time: when process
 * `pid` started (Linux: /proc/<pid>/stat field 22, clock ticks since boot), 0
 * where that cannot be read. io_tmp_writer_gone: whether the writer recorded as
 * (pid, start) has ended: its pid is dead, or the process holding it now started
 * at another time (the pid was reused); start 0 (unknown) leaves it to the pid. */
unsigned long long io_process_start_time(long pid);
int io_tmp_writer_gone(long pid, unsigned long long start);

/* A JSON object from a file (qtip_read_file, duplicate keys refused): QTIP_E_FORMAT
 * naming the file and the line for bad JSON or a non-object. */
qtip_status io_read_json_object(const char *path, json_t **out);
/* The one way libqtip writes a double into JSON: a real, or null when it is not
 * finite (JSON has no NaN or Inf; json_real would refuse it). */
json_t *io_json_number(double v);

/* Read the rest of `r` into a malloc'd buffer, after `lead` bytes left for the
 * caller to fill, plus one NUL after them: *len bytes are read. More than `limit`
 * bytes is QTIP_E_FORMAT naming the file, the limit and `what` it was meant to
 * hold. Memory grows with what actually arrives, never past lead + limit + 2. */
qtip_status io_read_all(qtip_reader *r, size_t lead, size_t limit, const char *what, void **buf,
                        size_t *len);

/* --- .npy --------------------------------------------------------------------
 * A .npy reader over a stream whose first 8 bytes (magic and version) the caller
 * has already read into `pre` (to recognise the format). `in` is borrowed: it must
 * outlive the npy reader, and qtip_npy_close leaves it open. */
qtip_status npy_open_stream(qtip_reader *in, const unsigned char pre[8], qtip_npy_reader **out);

/* --- safetensors headers -----------------------------------------------------
 * One parsed and checked header: tensors sorted by data offset, with names and
 * views borrowed from `root` (views' data pointers are NULL until placed). */
typedef struct {
    qtip_tensor_view v;
    uint64_t begin, end; /* data_offsets */
} st_entry;
typedef struct {
    json_t *root;
    st_entry *t;
    size_t n;
    uint64_t data_end; /* the largest end offset: the bytes the tensors need */
} st_header;

/* The reference implementation caps headers at 100 MB; so do we. */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* Check the 8-byte little-endian header length `len8` against the limit and, when
 * `avail` is not UINT64_MAX, against the bytes that follow it. */
qtip_status st_header_length(const unsigned char len8[8], uint64_t avail, const char *file,
                             uint64_t *n);
/* Parse and check the JSON header (`len` bytes, need not be NUL-terminated).
 * `data_len` is the size of the data buffer after the header, or UINT64_MAX when
 * it is not known yet (a stream): then offsets are checked when the data are read. */
qtip_status st_header_parse(const char *file, const char *json, size_t len, uint64_t data_len,
                            st_header *h);
/* Read the JSON header from a stream positioned after the 8 length bytes `len8`. */
qtip_status st_header_read(qtip_reader *r, const unsigned char len8[8], const char *file,
                           st_header *h);
void st_header_free(st_header *h);

/* --- safetensors writing, streamed -------------------------------------------
 * Declare a tensor without its data (qtip_st_writer_add's checks), then
 * st_writer_begin writes the header of all tensors atomically to `path` and hands
 * back the open file: the caller writes every declared tensor's bytes, in the
 * order declared, then commits (or aborts). For data too large to hold twice. */
qtip_status st_writer_declare(qtip_st_writer *w, const char *name, qtip_dtype dt, int ndim,
                              const int64_t *shape);
qtip_status st_writer_begin(const qtip_st_writer *w, const char *path, int compress_level,
                            qtip_atomic_file **out);

#endif /* QTIP_IO_INTERNAL_H */
