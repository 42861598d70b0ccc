/*
 * trellis_layout.c — where a trellis code's values and words live: the element
 * order inside a tile (row-major, or the tensor-core fragment order of the
 * reference's kernel configuration) and the canonical packed code layout of a
 * layer (tile words inside the m x code_cols int16 matrix). Every reader and
 * writer of trellis codes (quantizer, decoder, exports) goes through these.
 */
#include "core/internal.h"
#include "trellis/trellis_packed.h"

int qtip_trellis_tile_is_mma(const qtip_trellis_params *p)
{
    return p->code == QTIP_CODE_HYB && p->L == 16 && p->V == 2 && p->Q == 9 && p->K >= 2 &&
           p->K <= 4 && p->td_x == 16 && p->td_y == 16;
}

void qtip_trellis_tile_order(const qtip_trellis_params *p, int *order)
{
    const int T = p->td_x * p->td_y;
    if (!qtip_trellis_tile_is_mma(p)) {
        for (int j = 0; j < T; j++) order[j] = j;
        return;
    }
    /* mma.m16n8k16 A-fragment order: j = b*32 + d*8 + h*4 + a*2 + e holds
     * (row a*8 + b, col h*8 + d*2 + e) (qtip.md 3.4). */
    for (int j = 0; j < T; j++) {
        int bb = j >> 5, d = (j >> 3) & 3, h = (j >> 2) & 1, a = (j >> 1) & 1, e = j & 1;
        order[j] = (a * 8 + bb) * 16 + h * 8 + d * 2 + e;
    }
}

/* Word w of tile (R, C): row R*td_x + w/wr, word column C*wr + w%wr, with
 * wr = td_y*K/16 words per tile row (qtip_quant_check_params makes it whole). */
static int64_t word_pos(const qtip_trellis_params *p, int64_t code_cols, int64_t R, int64_t C,
                        int w)
{
    return qtip_trellis_word_index(code_cols, p->td_x, p->td_y * p->K / 16, R, C, w);
}

void qtip_trellis_get_tile(const qtip_trellis_params *p, const uint16_t *codes, int64_t code_cols,
                           int64_t R, int64_t C, uint16_t *words)
{
    const int nw = (int)qtip_trellis_words_per_tile(p);
    for (int w = 0; w < nw; w++) words[w] = codes[word_pos(p, code_cols, R, C, w)];
}

void qtip_trellis_put_tile(const qtip_trellis_params *p, uint16_t *codes, int64_t code_cols,
                           int64_t R, int64_t C, const uint16_t *words)
{
    const int nw = (int)qtip_trellis_words_per_tile(p);
    for (int w = 0; w < nw; w++) codes[word_pos(p, code_cols, R, C, w)] = words[w];
}
