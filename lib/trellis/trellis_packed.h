/*
 * trellis_packed.h — where a trellis layer's state lives in the canonical packed
 * code matrix (docs/formats/packing.md), as element logic shared by the C library
 * and the CUDA kernels (QTIP_HD; C that is also valid C++). A reader that walks
 * the packed (m x code_cols) int16 words directly, without copying a tile out
 * first (the fused decode-GEMV kernels, kernels/bitshift_gemm.cu), and the
 * layout code of trellis_layout.c use the same word placement from here.
 */
#ifndef QTIP_TRELLIS_PACKED_H
#define QTIP_TRELLIS_PACKED_H

#include "core/hd.h"

#include <stdint.h>

/* Word w of tile (R, C) in the packed matrix: row R*td_x + w/wr, word column
 * C*wr + w%wr, wr = td_y*K/16 words per tile row. Returns the flat index. */
QTIP_HD int64_t qtip_trellis_word_index(int64_t code_cols, int td_x, int wr, int64_t R, int64_t C,
                                        int w)
{
    return (R * td_x + w / wr) * code_cols + C * wr + w % wr;
}

/* The sequence position j of tile element (r, c) (row r < td_x, column c < td_y):
 * j = r*td_y + c in row-major tiles; in the tensor-core fragment order of the
 * kernel configuration (16 x 16, qtip_trellis_tile_is_mma) the inverse of
 * qtip_trellis_tile_order's j = b*32 + d*8 + h*4 + a*2 + e -> (a*8 + b, h*8 + d*2 + e). */
QTIP_HD int qtip_trellis_seq_of(int mma, int td_y, int r, int c)
{
    if (!mma) return r * td_y + c;
    const int a = r >> 3, b = r & 7, h = c >> 3, d = (c >> 1) & 3, e = c & 1;
    return b * 32 + d * 8 + h * 4 + a * 2 + e;
}

/* The L-bit state at bit `pos` of tile (R, C)'s circular stream of nw words (the
 * same window as qtip_trellis_window, trellis_codes.h), read from the packed
 * matrix: the two words the window straddles, the second wrapping to word 0. */
QTIP_HD uint32_t qtip_trellis_packed_window(const uint16_t *codes, int64_t code_cols, int td_x,
                                            int wr, int nw, int64_t R, int64_t C, uint32_t pos,
                                            int L)
{
    const int a = (int)(pos >> 4), b = a + 1 == nw ? 0 : a + 1;
    const uint32_t x = ((uint32_t)codes[qtip_trellis_word_index(code_cols, td_x, wr, R, C, a)] << 16) |
                       (uint32_t)codes[qtip_trellis_word_index(code_cols, td_x, wr, R, C, b)];
    return (x >> (32u - (pos & 15u) - (uint32_t)L)) & ((1u << L) - 1u);
}

#endif /* QTIP_TRELLIS_PACKED_H */
