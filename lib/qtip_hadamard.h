/*
 * qtip_hadamard.h — Hadamard matrices of order N = K * 2^p and the randomized
 * Hadamard transform (RHT) used for incoherence processing.
 * Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 *
 * Had_N = H_K (x) S_M (Kronecker, H_K on the OUTER index): element x[a*M + b],
 * a < K, b < M = 2^p; S_M is Sylvester in natural order, S[i][j] = (-1)^popcount(i&j);
 * H_K is the +-1 special matrix (H_1 = [1]). U_N = Had_N / sqrt(N) is orthogonal.
 * This is the reference tools' definition (QTIP / quip-sharp matmul_had.py):
 *   hadU(x)  = U_N   x      ("forward",  inverse = 0)
 *   hadUt(x) = U_N^T x      ("inverse",  inverse = 1)
 * The float operation order is pinned in lib/incoherence/hadamard_kernel.h so the CPU and the
 * CUDA kernel give the same bits. Constructions, the size rule and the list of
 * supported orders: docs/algorithms-hadamard.md.
 */
#ifndef QTIP_HADAMARD_H
#define QTIP_HADAMARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest special factor K used (the dense H_K step costs K operations per element). */
#define QTIP_HAD_MAX_K 1024

/* Whether a Hadamard transform of order N is available; if so (returns 1), *K
 * receives the special factor (1 for powers of two) and *p the power of two, N =
 * K * 2^p. Rule: b = odd part of N; K = 1 if b = 1, else the smallest K = b * 2^j,
 * j >= 2, K <= QTIP_HAD_MAX_K, that a construction reaches. For every order the
 * reference tools support this gives their K (12, 20, ..., 172). K, p may be NULL. */
int qtip_had_supported(int64_t N, int64_t *K, int *p);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Nearest supported orders below and above N (0 when there is none below; the
 * search above is bounded by 4 N). Either pointer may be NULL. */
void qtip_had_nearest(int64_t N, int64_t *below, int64_t *above);

/* Whether a special matrix of order K is constructible (K = 1, 2, or a multiple
 * of 4 reached by a construction, K <= QTIP_HAD_MAX_K). */
int qtip_had_special_supported(int64_t K);
#endif /* QTIP_EXPERIMENTAL */

/* Name of the construction used for order K, e.g. "paley1 q=107",
 * "paley2 q=7^2", "williamson k=43", "kronecker 12 x 12", "sylvester"; "" when
 * unsupported. Static storage per call thread; valid until the next call. */
const char *qtip_had_construction(int64_t K);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* The unnormalized +-1 matrix H_K, row-major K x K int8 (caller's buffer of K*K).
 * Every constructed matrix is checked H H^T = K I exactly (integer arithmetic)
 * before it is used. For the 12 orders the reference tools ship (12, 20, 28, 36,
 * 52, 60, 108, 116, 124, 140, 156, 172) it equals their table entry for entry.
 * QTIP_E_UNSUPPORTED naming the nearest supported orders otherwise. */
qtip_status qtip_had_special(int64_t K, int8_t *out);

/* Transform `rows` row-major vectors of length N in place, each x <- U_N x
 * (inverse = 0, hadU) or x <- U_N^T x (inverse = 1, hadUt). For a matrix X whose
 * rows are the vectors: X <- X U_N^T, resp. X <- X U_N. Multithreaded over rows;
 * results do not depend on the thread count. QTIP_E_UNSUPPORTED for an order
 * without a construction (message names the nearest ones), QTIP_E_PARAM for N < 1
 * or rows < 0. */
qtip_status qtip_had_transform_f32(float *x, int64_t rows, int64_t N, int inverse);
qtip_status qtip_had_transform_f64(double *x, int64_t rows, int64_t N, int inverse);

/* The same map applied to every COLUMN of the row-major N x cols matrix X:
 * X <- U_N X (inverse = 0) or X <- U_N^T X (inverse = 1). Bitwise equal to
 * transposing, calling qtip_had_transform_f32, and transposing back. */
qtip_status qtip_had_transform_cols_f32(float *x, int64_t N, int64_t cols, int inverse);

/* Vector path of the fp32 fast transforms: 0 = the portable loops; 1 = the
 * structured path (radix-8 register stages, cache-resident column panels,
 * register-blocked H_K step) on the baseline ISA (SSE2 on x86-64); 2 = the same
 * with AVX2, when the CPU has it. All levels give identical bytes (the order of
 * float operations per element is the pinned one). level < 0 picks the best
 * available, or 0 when the environment variable QTIP_NO_SIMD is set to a value
 * other than "0" (read at the first transform); a level above what the CPU has is
 * lowered. Returns the level now in effect. Process-wide; set it between calls. */
int qtip_had_set_simd(int level);
/* The level in effect (chosen as qtip_had_set_simd(-1) on first use). */
int qtip_had_simd(void);

/* Sign vector of length n, entries +-1.0f, from a seeded, platform-independent
 * generator: the seed, the tensor name and `which` ("SU" or "SV") determine it
 * (docs/algorithms-hadamard.md, "Sign vectors"): state = XXH64(which,
 * XXH64(name, seed)); word k = splitmix64 output k; s[64k + j] = bit j of word k
 * ? -1 : +1. name may be NULL (treated as ""). */
void qtip_rht_signs(uint64_t seed, const char *name, const char *which, int64_t n, float *s);

/* Incoherence processing of one layer, in place (reference: QTIP finetune.py):
 *   W (m x n, row-major) <- U_m^T diag(SV) W diag(SU) U_n
 *   H (n x n, row-major) <- U_n^T diag(SU) H diag(SU) U_n
 * so that tr(Wr Hr Wr^T) = tr(W H W^T) for +-1 signs. SU has n entries, SV m.
 * The inverse (what inference computes; SU, SV may be general real scales):
 *   W <- diag(SV) U_m W U_n^T diag(SU).
 * QTIP_E_UNSUPPORTED when m or n has no Hadamard order (message names the nearest
 * supported ones), QTIP_E_NOMEM. */
qtip_status qtip_rht_weight(float *W, int64_t m, int64_t n, const float *SU, const float *SV);
qtip_status qtip_rht_weight_inverse(float *W, int64_t m, int64_t n, const float *SU,
                                    const float *SV);
qtip_status qtip_rht_hessian(double *H, int64_t n, const float *SU);

/* The same with block-diagonal sides (tensor parallelism, qtip_tp_blocks): U_m
 * is replaced by out_blocks independent U_{m/out_blocks} on consecutive slices of
 * the out-features, U_n by in_blocks U_{n/in_blocks}; the Hessian takes the input
 * side's blocks. Each shard of the blocked side can then transform its own slice
 * alone. (1, 1) is exactly the functions above (same bytes). QTIP_E_PARAM when a
 * dimension does not split evenly, QTIP_E_UNSUPPORTED when a block has no
 * Hadamard order. */
qtip_status qtip_rht_weight_blocks(float *W, int64_t m, int64_t n, const float *SU, const float *SV,
                                   int64_t out_blocks, int64_t in_blocks);
qtip_status qtip_rht_weight_inverse_blocks(float *W, int64_t m, int64_t n, const float *SU,
                                           const float *SV, int64_t out_blocks, int64_t in_blocks);
qtip_status qtip_rht_hessian_blocks(double *H, int64_t n, const float *SU, int64_t blocks);

/* Incoherence mu (QuIP, Chee et al. 2023, Def. 1):
 *   mu(W) = max |W_ij| * sqrt(m n) / ||W||_F                  (1 <= mu <= sqrt(m n))
 *   mu(H) = max |Q_ij| * sqrt(n),  H = Q diag(lambda) Q^T     (1 <= mu <= sqrt(n))
 * Computed in double. The Hessian one needs an eigendecomposition (LAPACK dsyevd,
 * O(n^3)). QTIP_E_NONFINITE for non-finite input, QTIP_E_PARAM for an all-zero W. */
qtip_status qtip_rht_mu_weight(const float *W, int64_t m, int64_t n, double *mu);
qtip_status qtip_rht_mu_hessian(const double *H, int64_t n, double *mu);
#endif /* QTIP_EXPERIMENTAL */

/* --- One layer's incoherence step on its own (lib/incoherence/incoherence.c) -----
 * What qtip-incoherence runs: the weight `tensor` (or `tensor`.weight) of a
 * safetensors file or model directory, and optionally the layer's Hessian file
 * (qtip_hessian_load_expectation: a qtip file or a reference layout), rotated
 * with the sign vectors of `seed` and the weight's name. Errors name the file and
 * the tensor: QTIP_E_NOT_FOUND, QTIP_E_SHAPE (not 2-D; an order without a Hadamard
 * transform, naming the nearest supported ones; a Hessian of another dimension). */
typedef struct {
    char tensor[512];          /* the weight's name as found */
    uint64_t seed;
    int64_t m, n;              /* out x in features */
    int64_t k_m, k_n;          /* special factors of U_m and U_n */
    float *W;                  /* m x n: U_m^T diag(SV) W diag(SU) U_n */
    float *SU, *SV;            /* n and m signs */
    double *H;                 /* n x n: U_n^T diag(SU) E[x x^T] diag(SU) U_n; NULL without one */
    double mu_w_before, mu_w_after;
    double mu_h_before, mu_h_after; /* NAN without a Hessian */
} qtip_incoherence;

qtip_status qtip_incoherence_run(const char *weights_path, const char *tensor,
                                 const char *hessian_path, uint64_t seed, qtip_incoherence **out);
/* Safetensors (atomically): the rotated weight under its name, SU, SV, `hessian`
 * when present; metadata qtip.seed, qtip.tensor, qtip.transform. */
qtip_status qtip_incoherence_save(const qtip_incoherence *r, const char *path);
void qtip_incoherence_free(qtip_incoherence *r);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_HADAMARD_H */
