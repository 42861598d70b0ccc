/*
 * qtip_tensor.h — tensors in files: dtypes, safetensors (read/write, sharded),
 * .npy. Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 */
#ifndef QTIP_TENSOR_H
#define QTIP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pinned values. */
typedef enum {
    QTIP_DT_F64 = 0, QTIP_DT_F32 = 1, QTIP_DT_F16 = 2, QTIP_DT_BF16 = 3,
    QTIP_DT_I64 = 4, QTIP_DT_I32 = 5, QTIP_DT_I16 = 6, QTIP_DT_I8 = 7,
    QTIP_DT_U8 = 8, QTIP_DT_BOOL = 9, QTIP_DT_U16 = 10, QTIP_DT_U32 = 11,
    QTIP_DT_U64 = 12,
    QTIP_DT_COUNT_
} qtip_dtype;

#define QTIP_MAX_DIMS 8

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Size in bytes of one element; name as safetensors spells it ("F32", "BF16"). */
size_t qtip_dtype_size(qtip_dtype dt);
const char *qtip_dtype_name(qtip_dtype dt);
/* Parse a safetensors dtype name; returns -1 if unknown. */
int qtip_dtype_from_name(const char *name);

/* Element conversion (round to nearest even for narrowing to f16/bf16). */
float qtip_f16_to_f32(uint16_t h);
uint16_t qtip_f32_to_f16(float f);
float qtip_bf16_to_f32(uint16_t h);
uint16_t qtip_f32_to_bf16(float f);
/* Convert `count` elements of any dtype (floats, integers, BOOL as 0/1) to float.
 * `src` need not be aligned (mapped tensors may not be). src == dst is allowed
 * only for the identity conversion. */
qtip_status qtip_convert_to_f32(qtip_dtype dt, const void *src, size_t count, float *dst);
/* Narrow `count` floats to F64/F32/F16/BF16 (round to nearest even); `dst` need not
 * be aligned. QTIP_E_UNSUPPORTED for integer dtypes. */
qtip_status qtip_convert_from_f32(qtip_dtype dt, const float *src, size_t count, void *dst);
#endif /* QTIP_EXPERIMENTAL */

/* A tensor's description inside a file; `data` points into the mapping. */
typedef struct {
    const char *name;
    qtip_dtype dtype;
    int ndim;
    int64_t shape[QTIP_MAX_DIMS];
    size_t nbytes;
    /* Read-only, valid while the file is open. Not necessarily aligned to the
     * element size (the format does not promise it): load through memcpy or the
     * qtip_convert_* functions rather than casting. */
    const void *data;
} qtip_tensor_view;

/* --- safetensors reading -----------------------------------------------------
 * Opens a .safetensors file (memory-mapped), or a sharded model through its
 * `model.safetensors.index.json` (pass the index path, or a directory holding
 * either file). Every header rule is checked on open: 8-byte little-endian length,
 * JSON header, known dtypes, offsets in range and not overlapping, sizes agreeing
 * with shapes, no duplicate names, element counts that do not overflow. A
 * zstd-compressed file (detected by magic) is decompressed into memory first, up
 * to what its header accounts for (more is QTIP_E_FORMAT naming the limit). Only
 * regular files or links to them are opened (qtip_reader_open's policy).
 * Errors: QTIP_E_IO (cannot open/read/map), QTIP_E_FORMAT (any rule broken;
 * the message names the file and, where one is at fault, the tensor),
 * QTIP_E_UNSUPPORTED (a valid safetensors dtype that qtip does not handle, e.g. F8_E4M3).
 * Rules in full: docs/formats/safetensors.md. */
typedef struct qtip_st_file qtip_st_file;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_st_open(const char *path, qtip_st_file **out);
size_t qtip_st_count(const qtip_st_file *f);
/* Tensors in file order (sharded: shard order, then file order). */
const qtip_tensor_view *qtip_st_tensor(const qtip_st_file *f, size_t i);
/* NULL, with a QTIP_E_NOT_FOUND message, when absent. */
const qtip_tensor_view *qtip_st_find(const qtip_st_file *f, const char *name);
/* `__metadata__` value for `key`, or NULL. */
const char *qtip_st_metadata(const qtip_st_file *f, const char *key);
/* Path of the file (or index) opened. */
const char *qtip_st_path(const qtip_st_file *f);
void qtip_st_close(qtip_st_file *f);
#endif /* QTIP_EXPERIMENTAL */

/* --- safetensors writing ------------------------------------------------------
 * Collects tensors (data copied, or referenced with _ref), then writes the file
 * atomically. Layout (docs/formats/safetensors.md): the JSON header holds
 * "__metadata__" first (when set, keys in the order set), then the tensors in the
 * order added; it is compact JSON padded with spaces to a multiple of 8 bytes, so
 * the data starts 8-aligned. Tensor data follow in the order added, contiguous
 * (the format forbids gaps), so a tensor is 8-aligned when the ones before it have
 * sizes that are multiples of 8. Identical inputs give byte-identical files.
 * Errors: QTIP_E_PARAM (empty/duplicate name, "__metadata__" as a name, bad
 * shape or dtype), QTIP_E_IO from the atomic writer. */
typedef struct qtip_st_writer qtip_st_writer;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_st_writer_create(qtip_st_writer **out);
qtip_status qtip_st_writer_add(qtip_st_writer *w, const char *name, qtip_dtype dt, int ndim,
                               const int64_t *shape, const void *data);
/* Like _add but keeps a pointer: `data` must stay valid until _write returns. */
qtip_status qtip_st_writer_add_ref(qtip_st_writer *w, const char *name, qtip_dtype dt,
                                   int ndim, const int64_t *shape, const void *data);
qtip_status qtip_st_writer_set_metadata(qtip_st_writer *w, const char *key, const char *value);
/* compress_level > 0 writes the whole file as zstd (readers detect it). */
qtip_status qtip_st_writer_write(qtip_st_writer *w, const char *path, int compress_level);
void qtip_st_writer_free(qtip_st_writer *w);
#endif /* QTIP_EXPERIMENTAL */

/* --- .npy reading --------------------------------------------------------------
 * Versions 1.0–3.0, little-endian, C order, dtypes f2/f4/f8/i*, u*, bool.
 * Streaming: the header is parsed on open; rows are read on demand, so a 100 GB
 * file is read with bounded memory. Works on stdin and zstd input. */
typedef struct qtip_npy_reader qtip_npy_reader;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_npy_open(const char *path, qtip_npy_reader **out);
/* Header errors are QTIP_E_FORMAT (bad magic, version, dict, shape) or
 * QTIP_E_UNSUPPORTED (fortran_order True, big-endian, structured or unknown
 * descr), naming the file. Rules: docs/formats/npy.md. */
qtip_dtype qtip_npy_dtype(const qtip_npy_reader *r);
int qtip_npy_ndim(const qtip_npy_reader *r);
const int64_t *qtip_npy_shape(const qtip_npy_reader *r);
/* Read up to `max_elems` elements (raw little-endian bytes of the file's dtype);
 * *got elements, 0 once all are read. Reads whole elements only. Data ending before
 * the shape's count, or bytes after it, are QTIP_E_FORMAT. */
qtip_status qtip_npy_read(qtip_npy_reader *r, void *buf, size_t max_elems, size_t *got);
void qtip_npy_close(qtip_npy_reader *r);

/* Write a .npy (v1.0; v2.0 only if the header needs it) atomically: little-endian,
 * C order, header padded to a multiple of 64 bytes as numpy does. BF16 has no npy
 * descr: QTIP_E_UNSUPPORTED. */
qtip_status qtip_npy_write(const char *path, qtip_dtype dt, int ndim, const int64_t *shape,
                           const void *data);
#endif /* QTIP_EXPERIMENTAL */

#ifdef __cplusplus
}
#endif
#endif /* QTIP_TENSOR_H */
