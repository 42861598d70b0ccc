/*
 * matvec_hyb_mma.c — the fast AVX2 decode of the released models' trellis code:
 * HYB (quantlut_sym), L 16, V 2, Q 9, K 2..4, 16 x 16 tiles in the tensor-core
 * order (qtip_trellis_tile_is_mma).
 *
 * Why a kernel of its own: on cores with slow gathers the general AVX2 decode
 * (matvec_avx2.c) spends most of its time moving indices between vector and
 * integer registers. Here every state's position in the tile's bitstream is a
 * compile-time constant (the tile order and K fixed, the 16 rows unrolled), so
 * a state is four integer operations (shift, add, multiply, bit field) and one
 * load of its value pair, which goes straight into a vector register:
 *  - the stream is kept as 32-bit chunks in reverse order (mv->chunks), so one
 *    little-endian 64-bit load gives any 64-bit window starting at a multiple of
 *    32 bits, most significant bit first (as qtip_trellis_window reads it);
 *  - the value table is doubled with the sign folded in (mv->hyb_signed): bits
 *    6 .. 15 of s(s+1) index it directly (bit 15, the sign of the first value,
 *    selects the negated half), the same bits as qtip_code_hyb's -a;
 *  - a tile row's 16 values times the tile's 16 inputs go into the row's 8 lane
 *    accumulators as 4-lane halves: lanes 0..3 take columns 0..3 then 8..11,
 *    lanes 4..7 columns 4..7 then 12..15 — the order of matvec_internal.h, so
 *    the results equal the other kernels' bit for bit.
 */
#include "matvec/matvec_internal.h"

#include <string.h>

#define HYB_Q 9

int qtip_mv_hyb_mma_fits(const qtip_trellis_params *tp)
{
    return qtip_trellis_tile_is_mma(tp) && tp->Q == HYB_Q;
}

/* The bit where the state of row-major pair j of tile row r starts: the inverse
 * of qtip_trellis_tile_order's mma fragment order (row a*8 + b, column h*8 + d*2
 * hold state b*16 + d*4 + h*2 + a), times the K*V bits each state advances. */
#define MMA_STATE(r, j) (((r) & 7) * 16 + ((j) & 3) * 4 + ((j) >> 2) * 2 + ((r) >> 3))

qtip_status qtip_mv_hyb_mma_init(qtip_matvec *mv)
{
    const qtip_trellis_params *tp = &mv->p.trellis;
    for (int k = 0; k < mv->S; k++) /* the formula above is the layout's own map */
        QTIP_RETURN_ERROR_IF(mv->state_of[k] != MMA_STATE(k / 8, k % 8), QTIP_E_INTERNAL,
                             "matvec: HYB tile order disagrees with the fast decoder at state %d", k);
    size_t count;
    const float *tlut = qtip_trellis_lut(mv->tr, &count);
    const size_t rows = (size_t)1 << tp->Q;
    mv->hyb_signed = qtip_alloc(2 * rows, sizeof(uint64_t), "HYB signed table");
    if (!mv->hyb_signed) return QTIP_E_NOMEM;
    for (size_t i = 0; i < 2 * rows; i++) {
        uint32_t lo, hi;
        memcpy(&lo, &tlut[2 * (i % rows)], 4);
        memcpy(&hi, &tlut[2 * (i % rows) + 1], 4);
        if (i >= rows) lo ^= 0x80000000u; /* -a, bit for bit */
        mv->hyb_signed[i] = (uint64_t)hi << 32 | lo;
    }
    const int chunks = mv->wpt / 2 + 1; /* the last repeats the first: windows wrap */
    const size_t ntiles = (size_t)mv->nblocks * (size_t)mv->tiles_c, stride = (size_t)mv->wpt + 1;
    mv->chunks = qtip_alloc(ntiles * (size_t)chunks, sizeof(uint32_t), "tile chunks");
    if (!mv->chunks) return QTIP_E_NOMEM;
    for (size_t t = 0; t < ntiles; t++) {
        const uint16_t *w = mv->words + t * stride;
        uint32_t *c = mv->chunks + t * (size_t)chunks;
        for (int i = 0; i < chunks; i++) {
            int a = (2 * i) % mv->wpt;
            c[chunks - 1 - i] = (uint32_t)w[a] << 16 | w[a + 1];
        }
    }
    return QTIP_OK;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HYB_TARGET __attribute__((target("avx2,fma,bmi,bmi2")))
#define HYB_INLINE HYB_TARGET __attribute__((always_inline)) static inline

/* The value pair of the state starting at bit `pos` (a constant) of the tile
 * whose chunks are stored in reverse ending at `top` (top[-i] is chunk i). */
HYB_INLINE uint64_t pair_at(const uint32_t *top, int pos, const uint64_t *table)
{
    uint64_t win;
    memcpy(&win, top - 1 - (pos >> 5), 8); /* chunks pos/32 (high) and pos/32 + 1 */
    /* the state in bits 0..15 (a rotate, rorx: win stays for the next state) */
    uint32_t s = (uint32_t)__rorq(win, 48 - (pos & 31));
    uint64_t p = s * (s + 1u); /* bits 0..15 only depend on the state's 16 bits */
    return table[_bextr_u64(p, 15 - HYB_Q, HYB_Q + 1)];
}

/* Pairs j and j + 1 of tile row r as 4 floats. */
HYB_INLINE __m128 quad_at(const uint32_t *top, int KV, int r, int j, const uint64_t *table)
{
    __m128i a = _mm_cvtsi64_si128((long long)pair_at(top, KV * MMA_STATE(r, j), table));
    __m128i b = _mm_cvtsi64_si128((long long)pair_at(top, KV * MMA_STATE(r, j + 1), table));
    return _mm_castsi128_ps(_mm_unpacklo_epi64(a, b));
}

/* Tile row r's 16 values: v[0] columns 0..3, v[1] 4..7, v[2] 8..11, v[3] 12..15. */
HYB_INLINE void row_values(const uint32_t *top, int KV, int r, const uint64_t *table, __m128 v[4])
{
    for (int q = 0; q < 4; q++) v[q] = quad_at(top, KV, r, 2 * q, table);
}

/* acc (16 rows x 8 lanes) += the tile times x (its 16 inputs). */
HYB_INLINE void tile_times_x(const uint32_t *restrict top, int KV, const uint64_t *restrict table,
                             const float *restrict x, float *restrict acc)
{
    const __m128 x0 = _mm_loadu_ps(x), x1 = _mm_loadu_ps(x + 4), x2 = _mm_loadu_ps(x + 8),
                 x3 = _mm_loadu_ps(x + 12);
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++) {
        __m128 v[4];
        row_values(top, KV, r, table, v);
        __m128 lo = _mm_fmadd_ps(v[0], x0, _mm_loadu_ps(acc + 8 * r));
        __m128 hi = _mm_fmadd_ps(v[1], x1, _mm_loadu_ps(acc + 8 * r + 4));
        _mm_storeu_ps(acc + 8 * r, _mm_fmadd_ps(v[2], x2, lo));
        _mm_storeu_ps(acc + 8 * r + 4, _mm_fmadd_ps(v[3], x3, hi));
    }
}

/* The tile's values, row-major (16 x 16), for the batch kernel. */
HYB_INLINE void tile_values(const uint32_t *restrict top, int KV, const uint64_t *restrict table,
                            float *restrict tile)
{
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++) {
        __m128 v[4];
        row_values(top, KV, r, table, v);
        for (int q = 0; q < 4; q++) _mm_storeu_ps(tile + 16 * r + 4 * q, v[q]);
    }
}

/* One function per K: the bit positions become constants. */
#define HYB_KERNELS(K)                                                                          \
    HYB_TARGET static void row_block_##K(                                                     \
        const uint32_t *c, int chunks, int64_t ntiles, const uint64_t *t, const float *x,       \
        float *acc)                                                                             \
    {                                                                                           \
        for (int64_t C = 0; C < ntiles; C++)                                                    \
            tile_times_x(c + (size_t)(C + 1) * (size_t)chunks - 1, 2 * (K), t, x + 16 * C, acc);\
    }                                                                                           \
    HYB_TARGET static void tiles_##K(const uint32_t *c, int chunks,                           \
                                                              int count, const uint64_t *t,     \
                                                              float *tile)                      \
    {                                                                                           \
        for (int g = 0; g < count; g++)                                                         \
            tile_values(c + (size_t)(g + 1) * (size_t)chunks - 1, 2 * (K), t, tile + 256 * g);\
    }
HYB_KERNELS(2)
HYB_KERNELS(3)
HYB_KERNELS(4)

static const uint32_t *block_chunks(const qtip_matvec *mv, int64_t blk, int64_t C, int *chunks)
{
    *chunks = mv->wpt / 2 + 1;
    return mv->chunks + (size_t)(blk * mv->tiles_c + C) * (size_t)*chunks;
}

void qtip_mv_hyb_mma_row_block(const qtip_matvec *mv, int64_t blk, const float *x, float *acc)
{
    int chunks;
    const uint32_t *c = block_chunks(mv, blk, 0, &chunks);
    const uint64_t *t = mv->hyb_signed;
    switch (mv->p.trellis.K) {
    case 2: row_block_2(c, chunks, mv->tiles_c, t, x, acc); break;
    case 3: row_block_3(c, chunks, mv->tiles_c, t, x, acc); break;
    default: row_block_4(c, chunks, mv->tiles_c, t, x, acc); break;
    }
}

void qtip_mv_hyb_mma_tiles(const qtip_matvec *mv, int64_t blk, int64_t C, int count, float *tile)
{
    int chunks;
    const uint32_t *c = block_chunks(mv, blk, C, &chunks);
    switch (mv->p.trellis.K) {
    case 2: tiles_2(c, chunks, count, mv->hyb_signed, tile); break;
    case 3: tiles_3(c, chunks, count, mv->hyb_signed, tile); break;
    default: tiles_4(c, chunks, count, mv->hyb_signed, tile); break;
    }
}

#else /* no AVX2 path on this target: never called */

void qtip_mv_hyb_mma_row_block(const qtip_matvec *mv, int64_t blk, const float *x, float *acc)
{
    (void)mv, (void)blk, (void)x, (void)acc;
}

void qtip_mv_hyb_mma_tiles(const qtip_matvec *mv, int64_t blk, int64_t C, int count, float *tile)
{
    (void)mv, (void)blk, (void)C, (void)count, (void)tile;
}

#endif
