/*
 * matvec_internal.h — the parts of the CPU matvec (lib/matvec/, not installed):
 * the context and its set-up (matvec.c), one call over the row blocks
 * (matvec_apply.c), the row-block kernels of the trellis
 * codes (matvec_trellis.c) and of E8P (matvec_e8p.c), and the two ways to
 * multiply a decoded tile (matvec_accumulate.c portable, matvec_avx2.c).
 *
 * One row block (a tile row of a trellis layer, 8 rows of an E8P layer) is the
 * unit of work: a thread decodes its tiles one at a time into a small row-major
 * buffer and adds tile times input into per-lane accumulators
 * acc[(b * rows + r) * 8 + c % 8] (b the batch index, r the row in the block, c
 * the column in the layer); the block's outputs are the lane sums, lane 0 to 7.
 * Every step is a fused multiply-add in this order in both kernels, so they agree
 * bit for bit and no result depends on which thread ran the block.
 */
#ifndef QTIP_MATVEC_INTERNAL_H
#define QTIP_MATVEC_INTERNAL_H

#include "core/internal.h"

#define QTIP_MV_LANES 8
#define QTIP_MV_E8P_ROWS 8   /* rows of an E8P row block */
#define QTIP_MV_E8P_CODES 32 /* codes per E8P tile row (256 columns) */
#define QTIP_MV_TILE_GROUP 4 /* trellis tiles decoded side by side for a batch */

struct qtip_matvec {
    qtip_quant_params p;
    int64_t m, n;
    float wscale;
    float *SU, *SV;
    int64_t rows_per_block, nblocks;
    size_t tile_floats; /* the decode buffer of a row block's tiles in flight */
    /* trellis */
    qtip_trellis *tr;   /* its value table decodes a state */
    const float *vals;  /* V planes of 2^L values */
    uint16_t *words;    /* the codes tile by tile: tile (R, C) at (R * tiles_c + C) * (wpt + 1),
                         * its first word repeated after its last (the stream is circular) */
    int64_t tiles_c;
    int wpt, S, V, L, td_x, td_y;
    /* state_of[k]: the state whose V values are row-major elements k*V .. k*V+V-1
     * of the tile (the tile order folded in); word_of / shift_of: where its L bits
     * start in the tile's words as the AVX2 kernel reads them */
    int32_t *state_of, *word_of, *shift_of;
    /* group_base[g]: the first word of the 8 states 8g .. 8g+7 when their words
     * lie within 8 consecutive pairs (rel_of: their offsets from it), else -1 */
    int32_t *group_base, *rel_of;
    long long *hyb_pairs; /* HYB: the 2^Q x 2 table's rows as 64-bit words (AVX2) */
    /* HYB in the tensor-core tile order (matvec_hyb_mma.c), AVX2 only: the table
     * doubled with the sign folded in, and each tile's words as 32-bit chunks in
     * reverse (one wrap chunk), wpt / 2 + 1 per tile */
    uint64_t *hyb_signed;
    uint32_t *chunks;
    /* E8P */
    qtip_e8p *cb;
    const void *codes; /* m x n/8, int16 (E8P12) or int32 (RVQ) */
    void *codes_own;
    int codes_i32;
};

/* Per-thread scratch of one apply call. */
typedef struct {
    float *acc;       /* batch x rows_per_block x 8 */
    float *tile;      /* tile_floats */
    uint32_t *words;  /* a tile's 32-bit word pairs (AVX2) or E8P codes */
} qtip_mv_scratch;

/* Scratch sizes (floats / uint32) a thread needs for `mv`. */
size_t qtip_mv_scratch_words(const qtip_matvec *mv);

/* Trellis set-up (matvec_trellis.c): the tile-major words and state maps. */
/* qtip_quant_params from a code name and its trellis settings (matvec_flat.c):
 * shared by the flat entry points of the CPU and CUDA contexts. */
qtip_status qtip_mv_params_of_code(const char *code, int L, int K, int V, int Q, int td_x,
                                   int td_y, qtip_quant_params *p);

qtip_status qtip_mv_trellis_init(qtip_matvec *mv, const qtip_layer_info *l);
/* E8P set-up (matvec_e8p.c). */
qtip_status qtip_mv_e8p_init(qtip_matvec *mv, const qtip_layer_info *l);

/* Row block `blk` of Wr times the batch's rotated inputs X (batch x n) into rows
 * blk * rows_per_block ... of Y (batch x m). */
void qtip_mv_trellis_block(const qtip_matvec *mv, int use_avx2, int64_t blk, const float *X,
                           int batch, float *Y, qtip_mv_scratch *s);
void qtip_mv_e8p_block(const qtip_matvec *mv, int use_avx2, int64_t blk, const float *X,
                       int batch, float *Y, qtip_mv_scratch *s);

/* acc += tile (rows x cols, row-major, leading dimension ld) times columns
 * col0 .. col0 + cols - 1 of each input row of X (batch x n), per lane. */
void qtip_mv_accumulate(const float *tile, int rows, int cols, int ld, const float *X, int64_t n,
                        int64_t col0, int batch, float *acc);
/* The block's outputs: Y[b * m + row0 + r] = lane sum of acc, lane 0 first. */
void qtip_mv_reduce(const float *acc, int rows, int batch, int64_t m, int64_t row0, float *Y);

/* AVX2 + FMA (matvec_avx2.c); only called when qtip_mv_have_avx2(). */
int qtip_mv_have_avx2(void);
/* The same for `ntiles` tiles side by side (tile g at tile + g * tstride, its
 * columns col0 + g * cols ...), the same FMAs in the same order per lane. */
void qtip_mv_accumulate_avx2(const float *tile, int ntiles, size_t tstride, int rows, int cols,
                             int ld, const float *X, int64_t n, int64_t col0, int batch, float *acc);
/* A trellis tile's row-major values from its words (pairs: wpt + 8 scratch). */
void qtip_mv_trellis_tile_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                               float *tile);
/* HYB, batch 1, 16-column tiles (qtip_mv_hyb_fused_fits): decode and multiply
 * in one pass: acc (td_x x 8) += tile times x (the tile's 16 inputs). */
int qtip_mv_hyb_fused_fits(const qtip_matvec *mv);
void qtip_mv_hyb_fused_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                            const float *x, float *acc);
/* HYB, L 16, V 2, Q 9, K 2..4, tensor-core 16 x 16 tiles (matvec_hyb_mma.c):
 * whether a layer is one, its tables (after the state maps and words), row block
 * blk times x (batch 1: acc 16 x 8 lanes, x the layer's rotated input), and
 * tiles C .. C + count - 1 of row block blk decoded row-major (256 floats each). */
int qtip_mv_hyb_mma_fits(const qtip_trellis_params *tp);
qtip_status qtip_mv_hyb_mma_init(qtip_matvec *mv);
void qtip_mv_hyb_mma_row_block(const qtip_matvec *mv, int64_t blk, const float *x, float *acc);
void qtip_mv_hyb_mma_tiles(const qtip_matvec *mv, int64_t blk, int64_t C, int count, float *tile);
/* The portable tile decode of states k0 .. S-1 (the AVX2 kernel's tail). */
void qtip_mv_trellis_tile_tail(const qtip_matvec *mv, const uint16_t *w, int k0, float *tile);

#endif /* QTIP_MATVEC_INTERNAL_H */
