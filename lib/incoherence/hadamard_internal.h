/*
 * hadamard_internal.h — what lib/incoherence/hadamard_*.c and rht.c share (not installed).
 */
#ifndef QTIP_HADAMARD_PRIVATE_H
#define QTIP_HADAMARD_PRIVATE_H

#include "core/internal.h"

/* *H receives the verified H_K of a supported special order (built once, cached
 * for the process's lifetime, thread-safe; K = 1 gives [1]). Errors:
 * QTIP_E_UNSUPPORTED, QTIP_E_NOMEM, QTIP_E_INTERNAL (a construction failed its check). */
qtip_status qtip_had_special_get_(int64_t K, const int8_t **H);

/* Fail with QTIP_E_UNSUPPORTED, naming N, `what` and the nearest supported orders. */
qtip_status qtip_had_unsupported_error_(int64_t N, const char *what);

/* The structured fp32 path (hadamard_simd.c). The *_ok_ predicates say whether it
 * handles a shape at the current level (qtip_had_simd() > 0); callers fall back to
 * the portable loops otherwise, which give the same bytes. */
int qtip_had_simd_row_ok_(int64_t K, int64_t M);
int qtip_had_simd_panel_ok_(int64_t K, int64_t M, int64_t L);
/* Sign-bit masks of the dense step, mk[c*K + a] (qtip_alloc'ed; NULL: no memory). */
uint32_t *qtip_had_simd_masks_(const int8_t *HK, int64_t K, int inverse);
/* One row of K*M floats in place; tmp: K*M floats (K > 1). */
void qtip_had_simd_row_(float *r, int64_t K, int64_t M, const uint32_t *mk, float scale, float *tmp);
/* Columns j0 .. j0+L-1 of the row-major K*M x cols matrix x in place; buf: K*M*L floats. */
void qtip_had_simd_panel_(float *x, int64_t cols, int64_t j0, int64_t L, int64_t K, int64_t M,
                          const uint32_t *mk, float scale, float *buf);

#endif /* QTIP_HADAMARD_PRIVATE_H */
