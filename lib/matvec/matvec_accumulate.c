/*
 * matvec_accumulate.c — a decoded tile times the inputs, portable: the lane
 * accumulators of matvec_internal.h, one fmaf per element, and the lane sums.
 * The AVX2 kernel (matvec_avx2.c) does the same operations eight lanes at once.
 */
#include "matvec/matvec_internal.h"

#include <math.h>

void qtip_mv_accumulate(const float *tile, int rows, int cols, int ld, const float *X, int64_t n,
                        int64_t col0, int batch, float *acc)
{
    for (int b = 0; b < batch; b++) {
        const float *x = X + (size_t)b * (size_t)n + col0;
        for (int r = 0; r < rows; r++) {
            const float *w = tile + (size_t)r * (size_t)ld;
            float *a = acc + ((size_t)b * (size_t)rows + (size_t)r) * QTIP_MV_LANES;
            /* lane of column c: (col0 + c) % 8, as the AVX2 kernel's vectors */
            for (int c = 0; c < cols; c++) {
                float *lane = &a[(col0 + c) % QTIP_MV_LANES];
                *lane = fmaf(w[c], x[c], *lane);
            }
        }
    }
}

void qtip_mv_reduce(const float *acc, int rows, int batch, int64_t m, int64_t row0, float *Y)
{
    for (int b = 0; b < batch; b++)
        for (int r = 0; r < rows; r++) {
            const float *a = acc + ((size_t)b * (size_t)rows + (size_t)r) * QTIP_MV_LANES;
            float s = a[0];
            for (int l = 1; l < QTIP_MV_LANES; l++) s += a[l];
            Y[(size_t)b * (size_t)m + (size_t)(row0 + r)] = s;
        }
}
