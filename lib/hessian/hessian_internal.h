/*
 * hessian_internal.h — what the hessian_*.c files share (not installed): mutable
 * access to the sums for loaders, and a streaming safetensors writer that never
 * holds a whole tensor (a 28672-wide triangle is 3.3 GB).
 */
#ifndef QTIP_HESSIAN_INTERNAL_H
#define QTIP_HESSIAN_INTERNAL_H

#include "core/internal.h"

#include <jansson.h>

double *hessian_mut_S(qtip_hessian *h);
double *hessian_mut_sx(qtip_hessian *h);
void hessian_set_counts(qtip_hessian *h, uint64_t count, uint64_t skipped, int has_mean);
/* Record the convention an import applied ("centered", "uncentered"; NULL or ""
 * for none): saved as metadata "import_centering" (docs/formats/hessian.md). */
void hessian_set_import_centering(qtip_hessian *h, const char *c);

/* A device that keeps its own partial sum D across blocks (lib/hessian/hessian_device.c):
 * add(D += X^T X) for each full block, sync(S_lower += D, D = 0; discard: D = 0
 * only) whenever S is read, release when the accumulator is freed or the device
 * is replaced. `name` ("cuda:0 (NVIDIA H100 ...)") is copied. ops NULL: back to
 * the CPU. */
typedef struct {
    qtip_status (*add)(void *user, int64_t n, size_t rows, const double *X);
    qtip_status (*sync)(void *user, int64_t n, double *S, int discard);
    void (*release)(void *user);
    void *user;
} hessian_device_ops;
void hessian_attach_device(qtip_hessian *h, const hessian_device_ops *ops, const char *name);
/* qtip_hessian_set_default_device's choice, NULL for none (lib/hessian/hessian_device.c). */
const char *hessian_default_device(void);

/* One tensor of a streamed safetensors file: the caller writes exactly nbytes of
 * it, in the declared order, after hessian_st_begin. */
typedef struct {
    const char *name;
    qtip_dtype dtype;
    int ndim;
    int64_t shape[2];
} hessian_st_tensor;

/* Open `path` atomically and write the header for `tensors` (metadata: a JSON
 * object of strings, borrowed). On failure nothing is left behind. */
qtip_status hessian_st_begin(const char *path, const hessian_st_tensor *tensors, size_t count,
                             json_t *metadata, qtip_atomic_file **out);

/* Element i of a float tensor (F64/F32/F16/BF16) as double; unaligned-safe. */
double hessian_elem(qtip_dtype dt, const void *data, size_t i);
/* An integer scalar tensor (any int dtype, or float holding an integer; shape [] or [1]). */
qtip_status hessian_scalar_i64(const qtip_tensor_view *t, const char *file, int64_t *out);

#endif /* QTIP_HESSIAN_INTERNAL_H */
