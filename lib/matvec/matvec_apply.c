/*
 * matvec_apply.c — one call of the CPU matvec: y = SV * U_m(Wscale * Wr U_n^T(SU * x))
 * for a batch of inputs, as python/qtip/linear.py computes it. The rotated
 * inputs and outputs are the call's own buffers; Wr never exists as a whole:
 * each thread decodes one tile at a time (matvec_trellis.c, matvec_e8p.c).
 */
#include "matvec/matvec_internal.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

size_t qtip_mv_scratch_words(const qtip_matvec *mv)
{
    size_t pairs = mv->tr ? (size_t)mv->wpt + 8 : QTIP_MV_E8P_CODES; /* + 8: read by a permute */
    return pairs > QTIP_MV_E8P_CODES ? pairs : QTIP_MV_E8P_CODES;
}

/* One thread's scratch for `batch` inputs inside `buf` (see scratch_floats). */
static qtip_mv_scratch scratch_at(const qtip_matvec *mv, float *buf, int batch)
{
    qtip_mv_scratch s;
    s.acc = buf;
    s.tile = s.acc + (size_t)batch * (size_t)mv->rows_per_block * QTIP_MV_LANES;
    s.words = (uint32_t *)(s.tile + mv->tile_floats);
    return s;
}

/* Floats per thread, rounded up to whole cache lines (no false sharing). */
static size_t scratch_floats(const qtip_matvec *mv, int batch)
{
    size_t f = (size_t)batch * (size_t)mv->rows_per_block * QTIP_MV_LANES + mv->tile_floats +
               qtip_mv_scratch_words(mv);
    return (f + 15) / 16 * 16;
}

/* Y (batch x m) = Wr X (X batch x n, rotated inputs), row blocks over threads. */
static qtip_status multiply(const qtip_matvec *mv, const float *X, int batch, float *Y)
{
    const int nt = qtip_threads(), use_avx2 = qtip_mv_have_avx2();
    const size_t per = scratch_floats(mv, batch);
    float *buf = qtip_alloc((size_t)nt, per * sizeof(float), "matvec scratch");
    if (!buf) return QTIP_E_NOMEM;
#pragma omp parallel num_threads(nt) if (nt > 1 && mv->nblocks > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        qtip_mv_scratch s = scratch_at(mv, buf + (size_t)tid * per, batch);
#pragma omp for schedule(dynamic, 2)
        for (int64_t blk = 0; blk < mv->nblocks; blk++) {
            if (mv->tr) qtip_mv_trellis_block(mv, use_avx2, blk, X, batch, Y, &s);
            else qtip_mv_e8p_block(mv, use_avx2, blk, X, batch, Y, &s);
        }
    }
    free(buf);
    return QTIP_OK;
}

qtip_status qtip_matvec_apply_batch(const qtip_matvec *mv, const float *x, int64_t batch, float *y)
{
    QTIP_RETURN_ERROR_IF(!mv || !x || !y, QTIP_E_PARAM, "matvec: null argument");
    QTIP_RETURN_ERROR_IF(batch < 1 || batch > QTIP_MATVEC_MAX_BATCH, QTIP_E_PARAM,
                         "matvec: batch %lld is outside 1 .. %d", (long long)batch,
                         QTIP_MATVEC_MAX_BATCH);
    const int64_t m = mv->m, n = mv->n;
    float *X = qtip_alloc((size_t)(batch * n), sizeof(float), "matvec inputs");
    float *Y = qtip_alloc((size_t)(batch * m), sizeof(float), "matvec outputs");
    qtip_status st = X && Y ? QTIP_OK : QTIP_E_NOMEM;
    for (int64_t i = 0; !st && i < batch * n; i++) X[i] = x[i] * mv->SU[i % n];
    if (!st) st = qtip_had_transform_f32(X, batch, n, 1); /* U_n^T */
    if (!st) st = multiply(mv, X, (int)batch, Y);
    for (int64_t i = 0; !st && i < batch * m; i++) Y[i] *= mv->wscale;
    if (!st) st = qtip_had_transform_f32(Y, batch, m, 0); /* U_m */
    for (int64_t i = 0; !st && i < batch * m; i++) y[i] = Y[i] * mv->SV[i % m];
    free(X);
    free(Y);
    return st;
}

qtip_status qtip_matvec_apply(const qtip_matvec *mv, const float *x, float *y)
{
    return qtip_matvec_apply_batch(mv, x, 1, y);
}
