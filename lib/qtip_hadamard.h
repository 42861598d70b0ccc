/*
 * qtip_hadamard.h — Hadamard matrices of order N = K * 2^p and the randomized
 * Hadamard transform (RHT) used for incoherence processing.
 * Part of the public API; include "qtip.h", not this file.
 *
 * The orthonormal transform of order N is Had_N = (H_K (x) Sylvester_{2^p}) / sqrt(N),
 * the special factor H_K on the outer index, as the QTIP / QuIP# reference tools
 * define it (docs/algorithms.md). Applied to a row vector x of length N:
 *   y = x * Had_N^T   ("forward"),   x = y * Had_N   ("inverse").
 */
#ifndef QTIP_HADAMARD_H
#define QTIP_HADAMARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether a Hadamard matrix of order N is available; if so, *K receives the special
 * factor (1 for powers of two) and *p the power of two. */
int qtip_had_supported(int64_t N, int64_t *K, int *p);

/* The unnormalized +-1 matrix of order K (a supported special order), row-major
 * K x K int8. QTIP_E_UNSUPPORTED with the nearest supported orders otherwise. */
qtip_status qtip_had_special(int64_t K, int8_t *out);

/* Transform `rows` row vectors of length N in place (orthonormal, so the inverse
 * is the transpose). inverse = 0: x <- x Had_N^T; inverse = 1: x <- x Had_N. */
qtip_status qtip_had_transform_f32(float *x, int64_t rows, int64_t N, int inverse);
qtip_status qtip_had_transform_f64(double *x, int64_t rows, int64_t N, int inverse);

/* Sign vector of length n, entries +-1, from a seeded, platform-independent
 * generator: the seed, the tensor name and `which` ("SU" or "SV") determine it. */
void qtip_rht_signs(uint64_t seed, const char *name, const char *which, int64_t n, float *s);

/* Incoherence processing of one layer (m x n weight W, n x n Hessian H):
 *   Wr = Had_m diag(SV) W diag(SU) Had_n^T,    Hr = Had_n diag(SU) H diag(SU) Had_n^T
 * so that tr(Wr Hr Wr^T) = tr(W H W^T). In place. */
qtip_status qtip_rht_weight(float *W, int64_t m, int64_t n, const float *SU, const float *SV);
qtip_status qtip_rht_weight_inverse(float *W, int64_t m, int64_t n, const float *SU,
                                    const float *SV);
qtip_status qtip_rht_hessian(double *H, int64_t n, const float *SU);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_HADAMARD_H */
