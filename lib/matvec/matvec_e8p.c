/*
 * matvec_e8p.c — the E8P codebooks in the CPU matvec: a row block is 8 rows; its
 * tiles are 8 rows x 256 columns (32 codes a row), decoded by qtip_e8p_decode
 * (the one E8P decoder) into the thread's buffer.
 */
#include "matvec/matvec_internal.h"

#include <string.h>

qtip_status qtip_mv_e8p_init(qtip_matvec *mv, const qtip_layer_info *l)
{
    QTIP_FORWARD_IF_ERROR(qtip_e8p_create(mv->p.e8p, &mv->cb));
    const size_t count = (size_t)mv->m * (size_t)(mv->n / 8);
    mv->codes_i32 = l->code_is_i32;
    mv->codes_own = qtip_alloc(count, mv->codes_i32 ? 4 : 2, "E8P codes");
    if (!mv->codes_own) return QTIP_E_NOMEM;
    memcpy(mv->codes_own, l->codes, count * (mv->codes_i32 ? 4 : 2));
    mv->codes = mv->codes_own;
    mv->rows_per_block = QTIP_MV_E8P_ROWS;
    mv->nblocks = (mv->m + QTIP_MV_E8P_ROWS - 1) / QTIP_MV_E8P_ROWS;
    mv->tile_floats = (size_t)QTIP_MV_E8P_ROWS * QTIP_MV_E8P_CODES * 8;
    /* qtip_e8p_decode refuses codes wider than the kind; finding out per call
     * would be too late (the kernel cannot fail), so all are decoded once here */
    float out[8 * QTIP_MV_E8P_CODES];
    uint32_t c[QTIP_MV_E8P_CODES];
    for (size_t i0 = 0; i0 < count; i0 += QTIP_MV_E8P_CODES) {
        size_t cnt = count - i0 < QTIP_MV_E8P_CODES ? count - i0 : QTIP_MV_E8P_CODES;
        for (size_t i = 0; i < cnt; i++)
            c[i] = mv->codes_i32 ? (uint32_t)((const int32_t *)l->codes)[i0 + i]
                                 : (uint32_t)(uint16_t)((const int16_t *)l->codes)[i0 + i];
        qtip_status st = qtip_e8p_decode(mv->cb, c, cnt, out);
        if (st) {
            qtip_error_prefix("matvec: layer '%s'", l->tensor);
            return st;
        }
    }
    return QTIP_OK;
}

/* Codes [j0, j0 + cnt) of row `row` as uint32 (the decoder's input). */
static void row_codes(const qtip_matvec *mv, int64_t row, int64_t j0, int cnt, uint32_t *out)
{
    const size_t base = (size_t)row * (size_t)(mv->n / 8) + (size_t)j0;
    for (int i = 0; i < cnt; i++)
        out[i] = mv->codes_i32 ? (uint32_t)((const int32_t *)mv->codes)[base + (size_t)i]
                               : (uint32_t)(uint16_t)((const int16_t *)mv->codes)[base + (size_t)i];
}

void qtip_mv_e8p_block(const qtip_matvec *mv, int use_avx2, int64_t blk, const float *X,
                       int batch, float *Y, qtip_mv_scratch *s)
{
    const int64_t row0 = blk * QTIP_MV_E8P_ROWS, ncodes = mv->n / 8;
    const int rows = (int)(mv->m - row0 < QTIP_MV_E8P_ROWS ? mv->m - row0 : QTIP_MV_E8P_ROWS);
    const int ld = 8 * QTIP_MV_E8P_CODES;
    memset(s->acc, 0, (size_t)batch * (size_t)rows * QTIP_MV_LANES * sizeof(float));
    for (int64_t j0 = 0; j0 < ncodes; j0 += QTIP_MV_E8P_CODES) {
        const int cnt = (int)(ncodes - j0 < QTIP_MV_E8P_CODES ? ncodes - j0 : QTIP_MV_E8P_CODES);
        for (int r = 0; r < rows; r++) {
            row_codes(mv, row0 + r, j0, cnt, s->words);
            /* checked at set-up: cannot fail */
            (void)qtip_e8p_decode(mv->cb, s->words, (size_t)cnt, s->tile + (size_t)r * ld);
        }
        if (use_avx2)
            qtip_mv_accumulate_avx2(s->tile, 1, 0, rows, 8 * cnt, ld, X, mv->n, 8 * j0, batch, s->acc);
        else
            qtip_mv_accumulate(s->tile, rows, 8 * cnt, ld, X, mv->n, 8 * j0, batch, s->acc);
    }
    qtip_mv_reduce(s->acc, rows, batch, mv->m, row0, Y);
}
