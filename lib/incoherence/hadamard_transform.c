/*
 * hadamard_transform.c — the fast Hadamard transform on the CPU: radix-2
 * butterflies over the power-of-two part, then the dense H_K step, batched over
 * rows (or over column panels), vectorizable unit-stride loops, OpenMP over
 * independent rows/panels (so results never depend on the thread count).
 */
#include "incoherence/hadamard_internal.h"
#include "incoherence/hadamard_kernel.h"

#include <math.h>
#include <omp.h>

/* Column panels of 128 bytes: two cache lines per row; a panel of N rows then
 * fits in L2 for every N the models use. */
#define HAD_PANEL_BYTES 128

/* Panel width of the structured fp32 path: 64 floats (256 bytes per row: fewer
 * pages touched per panel than one line, measured faster on 4096 and 11008). */
#define HAD_SIMD_PANEL 64

/* The structured path exists for fp32 only (the fp64 Hessian transforms are not
 * on the hot path); these adapt it to the type-generic passes. */
static void had_fast_row_f32(float *r, int64_t K, int64_t M, const uint32_t *mk, float scale, float *tmp)
{
    qtip_had_simd_row_(r, K, M, mk, scale, tmp);
}
static void had_fast_panel_f32(float *x, int64_t cols, int64_t j0, int64_t L, int64_t K, int64_t M,
                               const uint32_t *mk, float scale, float *buf)
{
    qtip_had_simd_panel_(x, cols, j0, L, K, M, mk, scale, buf);
}
static void had_fast_row_f64(double *r, int64_t K, int64_t M, const uint32_t *mk, double scale,
                             double *tmp)
{
    QTIP_ASSERT(0 && "no fp64 structured path");
}
static void had_fast_panel_f64(double *x, int64_t cols, int64_t j0, int64_t L, int64_t K, int64_t M,
                               const uint32_t *mk, double scale, double *buf)
{
    QTIP_ASSERT(0 && "no fp64 structured path");
}

#define T float
#define SUF f32
#define HAD_IS_F32 1
#include "incoherence/hadamard_transform_impl.h"
#undef T
#undef SUF
#undef HAD_IS_F32

#define T double
#define SUF f64
#define HAD_IS_F32 0
#include "incoherence/hadamard_transform_impl.h"
#undef T
#undef SUF
#undef HAD_IS_F32

qtip_status qtip_had_transform_f32(float *x, int64_t rows, int64_t N, int inverse)
{
    return had_rows_f32(x, rows, N, inverse, NULL, NULL, 0);
}
qtip_status qtip_had_transform_f64(double *x, int64_t rows, int64_t N, int inverse)
{
    return had_rows_f64(x, rows, N, inverse, NULL, NULL, 0);
}
qtip_status qtip_had_transform_cols_f32(float *x, int64_t N, int64_t cols, int inverse)
{
    return had_cols_f32(x, N, cols, inverse);
}

/* ---- RHT (declared in qtip_hadamard.h; here because it reuses the passes) ---- */

qtip_status qtip_rht_weight(float *W, int64_t m, int64_t n, const float *SU, const float *SV)
{
    QTIP_RETURN_ERROR_IF(!W || !SU || !SV, QTIP_E_PARAM, "rht: NULL argument");
    /* W diag(SU) U_n, rows scaled by SV first; then U_m^T (.) on the columns. */
    if (!qtip_had_supported(n, NULL, NULL)) return qtip_had_unsupported_error_(n, "hadamard transform for in-features");
    if (!qtip_had_supported(m, NULL, NULL)) return qtip_had_unsupported_error_(m, "hadamard transform for out-features");
    /* Finite values near FLT_MAX overflow in the transform's sums (3e38 + 3e38):
     * report that, with the largest input, instead of the NaN it turns into. */
    const size_t mn = (size_t)m * (size_t)n;
    float big = 0;
    for (size_t i = 0; i < mn; i++) big = fabsf(W[i]) > big ? fabsf(W[i]) : big;
    QTIP_FORWARD_IF_ERROR(had_rows_f32(W, m, n, 1, SU, SV, 0));
    QTIP_FORWARD_IF_ERROR(had_cols_f32(W, m, n, 1));
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(W[i]), QTIP_E_NONFINITE,
                             "weight is too large for float32 arithmetic: the incoherence "
                             "transform overflows (largest |w| is %g)", (double)big);
    return QTIP_OK;
}

qtip_status qtip_rht_weight_inverse(float *W, int64_t m, int64_t n, const float *SU, const float *SV)
{
    QTIP_RETURN_ERROR_IF(!W || !SU || !SV, QTIP_E_PARAM, "rht: NULL argument");
    if (!qtip_had_supported(n, NULL, NULL)) return qtip_had_unsupported_error_(n, "hadamard transform for in-features");
    if (!qtip_had_supported(m, NULL, NULL)) return qtip_had_unsupported_error_(m, "hadamard transform for out-features");
    QTIP_FORWARD_IF_ERROR(had_cols_f32(W, m, n, 0));
    return had_rows_f32(W, m, n, 0, SU, SV, 1);
}

qtip_status qtip_rht_hessian(double *H, int64_t n, const float *SU)
{
    QTIP_RETURN_ERROR_IF(!H || !SU, QTIP_E_PARAM, "rht: NULL argument");
    if (!qtip_had_supported(n, NULL, NULL)) return qtip_had_unsupported_error_(n, "hadamard transform for the hessian");
    QTIP_FORWARD_IF_ERROR(had_rows_f64(H, n, n, 1, SU, SU, 0));
    return had_cols_f64(H, n, n, 1);
}

/* ---- RHT with block-diagonal sides (tensor parallelism, qtip_hadamard.h) ----
 * A side of B blocks is B independent transforms of order N/B on consecutive
 * slices. Row-major data makes both passes plain calls: a row of N values is B
 * rows of N/B (rows pass), and a block of N/B rows is a contiguous sub-matrix
 * (columns pass). The scaling runs as its own loop, in the rows pass's order. */

static qtip_status check_blocks(int64_t N, int64_t blocks, const char *what)
{
    QTIP_RETURN_ERROR_IF(blocks < 1 || N % blocks != 0, QTIP_E_PARAM,
                         "rht: %s %lld does not split into %lld blocks", what, (long long)N,
                         (long long)blocks);
    if (!qtip_had_supported(N / blocks, NULL, NULL)) return qtip_had_unsupported_error_(N / blocks, what);
    return QTIP_OK;
}

#define SCALE_FN(T, SUF)                                                                          \
    static void scale_##SUF(T *x, int64_t rows, int64_t cols, const float *cs, const float *rs)   \
    {                                                                                             \
        for (int64_t i = 0; i < rows; i++)                                                        \
            for (int64_t j = 0; j < cols; j++)                                                    \
                x[i * cols + j] = (x[i * cols + j] * (T)cs[j]) * (T)rs[i];                         \
    }
SCALE_FN(float, f32)
SCALE_FN(double, f64)
#undef SCALE_FN

static qtip_status cols_blocks_f32(float *x, int64_t N, int64_t cols, int64_t blocks, int inverse)
{
    const int64_t nb = N / blocks;
    for (int64_t b = 0; b < blocks; b++) QTIP_FORWARD_IF_ERROR(had_cols_f32(x + b * nb * cols, nb, cols, inverse));
    return QTIP_OK;
}

qtip_status qtip_rht_weight_blocks(float *W, int64_t m, int64_t n, const float *SU, const float *SV,
                                   int64_t out_blocks, int64_t in_blocks)
{
    if (out_blocks == 1 && in_blocks == 1) return qtip_rht_weight(W, m, n, SU, SV);
    QTIP_RETURN_ERROR_IF(!W || !SU || !SV, QTIP_E_PARAM, "rht: NULL argument");
    QTIP_FORWARD_IF_ERROR(check_blocks(n, in_blocks, "hadamard transform for in-features"));
    QTIP_FORWARD_IF_ERROR(check_blocks(m, out_blocks, "hadamard transform for out-features"));
    const size_t mn = (size_t)m * (size_t)n;
    float big = 0;
    for (size_t i = 0; i < mn; i++) big = fabsf(W[i]) > big ? fabsf(W[i]) : big;
    scale_f32(W, m, n, SU, SV);
    QTIP_FORWARD_IF_ERROR(had_rows_f32(W, m * in_blocks, n / in_blocks, 1, NULL, NULL, 0));
    QTIP_FORWARD_IF_ERROR(cols_blocks_f32(W, m, n, out_blocks, 1));
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(W[i]), QTIP_E_NONFINITE,
                             "weight is too large for float32 arithmetic: the incoherence "
                             "transform overflows (largest |w| is %g)", (double)big);
    return QTIP_OK;
}

qtip_status qtip_rht_weight_inverse_blocks(float *W, int64_t m, int64_t n, const float *SU,
                                           const float *SV, int64_t out_blocks, int64_t in_blocks)
{
    if (out_blocks == 1 && in_blocks == 1) return qtip_rht_weight_inverse(W, m, n, SU, SV);
    QTIP_RETURN_ERROR_IF(!W || !SU || !SV, QTIP_E_PARAM, "rht: NULL argument");
    QTIP_FORWARD_IF_ERROR(check_blocks(n, in_blocks, "hadamard transform for in-features"));
    QTIP_FORWARD_IF_ERROR(check_blocks(m, out_blocks, "hadamard transform for out-features"));
    QTIP_FORWARD_IF_ERROR(cols_blocks_f32(W, m, n, out_blocks, 0));
    QTIP_FORWARD_IF_ERROR(had_rows_f32(W, m * in_blocks, n / in_blocks, 0, NULL, NULL, 0));
    scale_f32(W, m, n, SU, SV);
    return QTIP_OK;
}

qtip_status qtip_rht_hessian_blocks(double *H, int64_t n, const float *SU, int64_t blocks)
{
    if (blocks == 1) return qtip_rht_hessian(H, n, SU);
    QTIP_RETURN_ERROR_IF(!H || !SU, QTIP_E_PARAM, "rht: NULL argument");
    QTIP_FORWARD_IF_ERROR(check_blocks(n, blocks, "hadamard transform for the hessian"));
    const int64_t nb = n / blocks;
    scale_f64(H, n, n, SU, SU);
    QTIP_FORWARD_IF_ERROR(had_rows_f64(H, n * blocks, nb, 1, NULL, NULL, 0));
    for (int64_t b = 0; b < blocks; b++) QTIP_FORWARD_IF_ERROR(had_cols_f64(H + b * nb * n, nb, n, 1));
    return QTIP_OK;
}
