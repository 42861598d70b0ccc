/*
 * qtip_hessian.h — Hessians H = E[x x^T] of one linear layer's inputs.
 * Part of the public API; include "qtip.h", not this file.
 *
 * An accumulator holds, in float64, S = sum x x^T (lower triangle), the column
 * sums mu_sum = sum x and the row count; partial accumulators from many jobs
 * merge exactly (up to fp64 rounding). The file layout is docs/formats/hessian.md.
 */
#ifndef QTIP_HESSIAN_H
#define QTIP_HESSIAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qtip_hessian qtip_hessian;

/* New empty accumulator of dimension n for layer input `site` (may be NULL). */
qtip_status qtip_hessian_create(int64_t n, const char *site, qtip_hessian **out);
void qtip_hessian_free(qtip_hessian *h);

int64_t qtip_hessian_dim(const qtip_hessian *h);
uint64_t qtip_hessian_count(const qtip_hessian *h);   /* rows (tokens) accumulated */
const char *qtip_hessian_site(const qtip_hessian *h); /* "" when unnamed */

/* Add `rows` rows of n values (dtype F32, F16, BF16 or F64), row-major. */
qtip_status qtip_hessian_add_rows(qtip_hessian *h, qtip_dtype dt, const void *x, size_t rows);

/* dst += src; refuses a different n or a different non-empty site. */
qtip_status qtip_hessian_merge(qtip_hessian *dst, const qtip_hessian *src);

/* E[x x^T] as a full symmetric n x n row-major matrix (double). If `mu` is not
 * NULL it receives E[x] (n values). Fails when no rows were added. */
qtip_status qtip_hessian_expectation(const qtip_hessian *h, double *H, double *mu);

/* Files: docs/formats/hessian.md (safetensors, lower triangle only). */
qtip_status qtip_hessian_save(const qtip_hessian *h, const char *path);
qtip_status qtip_hessian_load(const char *path, qtip_hessian **out);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_HESSIAN_H */
