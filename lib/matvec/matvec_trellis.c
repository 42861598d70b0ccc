/*
 * matvec_trellis.c — the trellis codes in the CPU matvec: the codes re-laid tile
 * by tile (the same words, read in order), the tile order folded into a state
 * map, and one tile row of Wr times the inputs. A tile decodes with the
 * decoder's own pieces: qtip_trellis_window finds a state's L bits, the
 * codebook's value table (qtip_trellis_values) gives its V values.
 */
#include "matvec/matvec_internal.h"
#include "trellis/trellis_codes.h"

#include <string.h>

/* The AVX2 kernel reads the words of 8 states with one permute of 8 word pairs
 * when they lie that close (a gather otherwise). */
static qtip_status build_groups(qtip_matvec *mv)
{
    const int G = (mv->S + 7) / 8;
    mv->group_base = qtip_alloc((size_t)G, sizeof(int32_t), "tile word groups");
    mv->rel_of = qtip_alloc((size_t)G * 8, sizeof(int32_t), "tile word offsets");
    if (!mv->group_base || !mv->rel_of) return QTIP_E_NOMEM;
    for (int g = 0; g < G; g++) {
        int lo = mv->word_of[8 * g], hi = lo;
        for (int k = 8 * g; k < 8 * g + 8 && k < mv->S; k++) {
            if (mv->word_of[k] < lo) lo = mv->word_of[k];
            if (mv->word_of[k] > hi) hi = mv->word_of[k];
        }
        mv->group_base[g] = hi - lo < 8 ? lo : -1;
        for (int k = 8 * g; k < 8 * g + 8; k++) mv->rel_of[k] = k < mv->S ? mv->word_of[k] - lo : 0;
    }
    return QTIP_OK;
}

/* state_of: the tile order (qtip_trellis_tile_order) maps the V values of a state
 * to V consecutive row-major elements starting at a multiple of V in both orders
 * there are; anything else is refused rather than decoded wrong. */
static qtip_status build_state_maps(qtip_matvec *mv)
{
    const qtip_trellis_params *tp = &mv->p.trellis;
    const int T = tp->td_x * tp->td_y, V = tp->V, KV = tp->K * tp->V;
    int *order = qtip_alloc((size_t)T, sizeof(int), "tile order");
    mv->state_of = qtip_alloc((size_t)mv->S, sizeof(int32_t), "tile state map");
    mv->word_of = qtip_alloc((size_t)mv->S, sizeof(int32_t), "tile word map");
    mv->shift_of = qtip_alloc((size_t)mv->S, sizeof(int32_t), "tile shift map");
    if (!order || !mv->state_of || !mv->word_of || !mv->shift_of) {
        free(order);
        return QTIP_E_NOMEM;
    }
    qtip_trellis_tile_order(tp, order);
    qtip_status st = QTIP_OK;
    for (int i = 0; i < mv->S && !st; i++) {
        int e = order[i * V];
        for (int v = 1; v < V; v++)
            if (order[i * V + v] != e + v) e = -1;
        if (e < 0 || e % V) st = qtip_error(QTIP_E_UNSUPPORTED, "matvec: the %s tile order splits the values of state %d",
                                            qtip_code_name(tp->code), i);
        else mv->state_of[e / V] = i;
    }
    for (int k = 0; k < mv->S && !st; k++) {
        uint32_t pos = (uint32_t)mv->state_of[k] * (uint32_t)KV;
        mv->word_of[k] = (int32_t)(pos >> 4);
        mv->shift_of[k] = (int32_t)(32u - (pos & 15u) - (uint32_t)tp->L);
    }
    free(order);
    return st ? st : build_groups(mv);
}

qtip_status qtip_mv_trellis_init(qtip_matvec *mv, const qtip_layer_info *l)
{
    const qtip_trellis_params *tp = &mv->p.trellis;
    QTIP_RETURN_ERROR_IF(tp->L > 16, QTIP_E_UNSUPPORTED,
                         "matvec: layer '%s' has L = %d; the decoder reads at most 16 bits a state",
                         l->tensor, tp->L);
    QTIP_FORWARD_IF_ERROR(l->tlut ? qtip_trellis_create_with_lut(tp, l->tlut, &mv->tr)
                                  : qtip_trellis_create(tp, &mv->tr));
    mv->vals = qtip_trellis_values(mv->tr);
    if (tp->code == QTIP_CODE_HYB && tp->V == 2) { /* a copy: read as 64-bit words */
        size_t count;
        const float *tlut = qtip_trellis_lut(mv->tr, &count);
        mv->hyb_pairs = qtip_alloc(count / 2, sizeof(long long), "HYB table pairs");
        if (!mv->hyb_pairs) return QTIP_E_NOMEM;
        memcpy(mv->hyb_pairs, tlut, count * sizeof(float));
    }
    mv->td_x = tp->td_x;
    mv->td_y = tp->td_y;
    mv->V = tp->V;
    mv->L = tp->L;
    mv->S = tp->td_x * tp->td_y / tp->V;
    mv->wpt = (int)qtip_trellis_words_per_tile(tp);
    mv->tiles_c = mv->n / tp->td_y;
    mv->rows_per_block = tp->td_x;
    mv->nblocks = mv->m / tp->td_x;
    mv->tile_floats = QTIP_MV_TILE_GROUP * (size_t)tp->td_x * (size_t)tp->td_y;
    QTIP_FORWARD_IF_ERROR(build_state_maps(mv));
    const size_t ntiles = (size_t)mv->nblocks * (size_t)mv->tiles_c;
    const size_t stride = (size_t)mv->wpt + 1;
    mv->words = qtip_alloc(ntiles, stride * sizeof(uint16_t), "tile words");
    if (!mv->words) return QTIP_E_NOMEM;
    for (int64_t R = 0; R < mv->nblocks; R++)
        for (int64_t C = 0; C < mv->tiles_c; C++) {
            uint16_t *w = mv->words + (size_t)(R * mv->tiles_c + C) * stride;
            qtip_trellis_get_tile(tp, (const uint16_t *)l->codes, l->code_cols, R, C, w);
            w[mv->wpt] = w[0];
        }
    /* the fast decoder's copy of the codes only where it can run */
    return qtip_mv_hyb_mma_fits(tp) && qtip_mv_have_avx2() ? qtip_mv_hyb_mma_init(mv) : QTIP_OK;
}

void qtip_mv_trellis_tile_tail(const qtip_matvec *mv, const uint16_t *w, int k0, float *tile)
{
    const uint32_t KV = (uint32_t)(mv->p.trellis.K * mv->V), plane = 1u << mv->L;
    for (int k = k0; k < mv->S; k++) {
        uint32_t s = qtip_trellis_window(w, (uint32_t)mv->wpt, (uint32_t)mv->state_of[k] * KV, mv->L);
        for (int v = 0; v < mv->V; v++) tile[k * mv->V + v] = mv->vals[v * plane + s];
    }
}

/* Tiles C .. C + count - 1 of row block blk, AVX2: decoded side by side, then
 * multiplied at once (the accumulators stay in registers across them). */
static void tiles_avx2(const qtip_matvec *mv, int64_t blk, int64_t C, int count, const float *X,
                       int batch, qtip_mv_scratch *s)
{
    const size_t T = (size_t)mv->td_x * (size_t)mv->td_y;
    if (mv->chunks) qtip_mv_hyb_mma_tiles(mv, blk, C, count, s->tile);
    else for (int g = 0; g < count; g++)
        qtip_mv_trellis_tile_avx2(mv, mv->words + (size_t)(blk * mv->tiles_c + C + g) * (size_t)(mv->wpt + 1),
                                  s->words, s->tile + (size_t)g * T);
    qtip_mv_accumulate_avx2(s->tile, count, T, mv->td_x, mv->td_y, mv->td_y, X, mv->n, C * mv->td_y,
                            batch, s->acc);
}

void qtip_mv_trellis_block(const qtip_matvec *mv, int use_avx2, int64_t blk, const float *X,
                           int batch, float *Y, qtip_mv_scratch *s)
{
    const int rows = mv->td_x;
    memset(s->acc, 0, (size_t)batch * (size_t)rows * QTIP_MV_LANES * sizeof(float));
    const int fused = use_avx2 && batch == 1 && qtip_mv_hyb_fused_fits(mv);
    if (use_avx2 && batch == 1 && mv->chunks) {
        qtip_mv_hyb_mma_row_block(mv, blk, X, s->acc);
        qtip_mv_reduce(s->acc, rows, batch, mv->m, blk * rows, Y);
        return;
    }
    for (int64_t C = 0; C < mv->tiles_c;) {
        const uint16_t *w = mv->words + (size_t)(blk * mv->tiles_c + C) * (size_t)(mv->wpt + 1);
        if (fused) {
            qtip_mv_hyb_fused_avx2(mv, w, s->words, X + C * mv->td_y, s->acc);
            C++;
        } else if (use_avx2) {
            int count = (int)(mv->tiles_c - C < QTIP_MV_TILE_GROUP ? mv->tiles_c - C : QTIP_MV_TILE_GROUP);
            tiles_avx2(mv, blk, C, count, X, batch, s);
            C += count;
        } else {
            qtip_mv_trellis_tile_tail(mv, w, 0, s->tile);
            qtip_mv_accumulate(s->tile, rows, mv->td_y, mv->td_y, X, mv->n, C * mv->td_y, batch,
                               s->acc);
            C++;
        }
    }
    qtip_mv_reduce(s->acc, rows, batch, mv->m, blk * rows, Y);
}
