/*
 * matvec_avx2.c — the AVX2 + FMA kernel of the CPU matvec (runtime dispatch, the
 * target attribute as in trellis/viterbi_fast.c; QTIP_NO_AVX2=1 forces the
 * portable kernel):
 *  - a trellis tile: 8 states at a time, each state's L bits cut from the 32-bit
 *    word pair it starts in (the vector form of qtip_trellis_window: the same
 *    shift and mask, with the tile's pairs built once), its values gathered from
 *    the codebook's value table; V = 2 values interleaved into row-major order.
 *    States left over when S is not a multiple of 8 take the portable decode;
 *  - HYB at batch 1 with 16-column tiles: each 8 states are a tile row, multiplied
 *    as soon as decoded (no tile buffer), the same FMAs in the same order;
 *  - tile times inputs: the lane accumulators of matvec_internal.h, eight lanes
 *    per FMA; 4 rows x 3 inputs of accumulators kept in registers across up to 4
 *    tiles side by side (QTIP_MV_TILE_GROUP). Columns not
 *    in whole aligned groups of 8 take the portable loop (same lanes, same fmaf).
 */
#include "matvec/matvec_internal.h"

#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QTIP_AVX2 __attribute__((target("avx2,fma")))
#define QTIP_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline

int qtip_mv_have_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        /* BMI1/2 (every AVX2 core has them) for matvec_hyb_mma.c's bit fields */
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                 __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    }
    return cached && !getenv("QTIP_NO_AVX2");
}

/* Rows r .. r+3 of `ntiles` tiles side by side times inputs b .. b+B-1 (B <= 3):
 * 12 accumulator vectors stay in registers across all the tiles' columns (one
 * load and store each per call, not per tile row). w: row r of tile 0; x: input
 * b at the first tile's first column; a: the accumulators of (b, r). */
QTIP_AVX2_INLINE void block4(const float *w, int ntiles, size_t tstride, int cols, int ld,
                             const float *x, int64_t n, float *a, int rows, int B)
{
    __m256 s[4][3];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < B; j++) s[i][j] = _mm256_loadu_ps(a + ((size_t)j * (size_t)rows + (size_t)i) * 8);
    for (int g = 0; g < ntiles; g++)
        for (int c = 0; c < cols; c += QTIP_MV_LANES) {
            const float *wg = w + (size_t)g * tstride + c, *xg = x + (size_t)g * (size_t)cols + c;
            __m256 xv[3];
            for (int j = 0; j < B; j++) xv[j] = _mm256_loadu_ps(xg + (size_t)j * (size_t)n);
            for (int i = 0; i < 4; i++) {
                __m256 wv = _mm256_loadu_ps(wg + (size_t)i * (size_t)ld);
                for (int j = 0; j < B; j++) s[i][j] = _mm256_fmadd_ps(wv, xv[j], s[i][j]);
            }
        }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < B; j++) _mm256_storeu_ps(a + ((size_t)j * (size_t)rows + (size_t)i) * 8, s[i][j]);
}

QTIP_AVX2 void qtip_mv_accumulate_avx2(const float *tile, int ntiles, size_t tstride, int rows,
                                       int cols, int ld, const float *X, int64_t n, int64_t col0,
                                       int batch, float *acc)
{
    if (cols % QTIP_MV_LANES || col0 % QTIP_MV_LANES || rows % 4) {
        for (int g = 0; g < ntiles; g++)
            qtip_mv_accumulate(tile + (size_t)g * tstride, rows, cols, ld, X, n, col0 + (int64_t)g * cols,
                               batch, acc);
        return;
    }
    for (int r = 0; r < rows; r += 4) {
        const float *w = tile + (size_t)r * (size_t)ld;
        int b = 0;
        for (; b + 3 <= batch; b += 3)
            block4(w, ntiles, tstride, cols, ld, X + (size_t)b * (size_t)n + col0, n,
                   acc + ((size_t)b * (size_t)rows + (size_t)r) * 8, rows, 3);
        float *a = acc + ((size_t)b * (size_t)rows + (size_t)r) * 8;
        const float *x = X + (size_t)b * (size_t)n + col0;
        if (batch - b == 2) block4(w, ntiles, tstride, cols, ld, x, n, a, rows, 2);
        if (batch - b == 1) block4(w, ntiles, tstride, cols, ld, x, n, a, rows, 1);
    }
}

/* pairs[a] = words a and a + 1 (the tile's words end with its first again). */
QTIP_AVX2 static inline void make_pairs(const uint16_t *w, int nw, uint32_t *pairs)
{
    for (int a = 0; a < nw; a++) pairs[a] = ((uint32_t)w[a] << 16) | w[a + 1];
    for (int a = nw; a < nw + 8; a++) pairs[a] = 0; /* read by the permute, never used */
}

/* What the decode loops read of the context, as locals: the intrinsics' stores
 * may alias anything, so fields read through `mv` would be reloaded (and the
 * masks rebuilt) for every 8 states. */
typedef struct {
    const int32_t *shift_of, *rel_of, *word_of, *group_base;
    const long long *tl; /* HYB table rows as 64-bit pairs */
    __m256i lmask, qmask;
    __m128i qshift;
} dec_consts;

QTIP_AVX2 static inline dec_consts consts_of(const qtip_matvec *mv)
{
    dec_consts c;
    c.shift_of = mv->shift_of;
    c.rel_of = mv->rel_of;
    c.word_of = mv->word_of;
    c.group_base = mv->group_base;
    c.tl = mv->hyb_pairs;
    c.lmask = _mm256_set1_epi32((int)((1u << mv->L) - 1u));
    c.qmask = _mm256_set1_epi32((1 << mv->p.trellis.Q) - 1);
    c.qshift = _mm_cvtsi32_si128(15 - mv->p.trellis.Q);
    return c;
}

/* The L-bit states of row-major entries k .. k+7 of the state map (k a multiple
 * of 8): each state's 32-bit word pair by one permute of 8 pairs (a gather when
 * the group's words are further apart), then its shift and mask. */
QTIP_AVX2 static inline __m256i states8(const dec_consts *c, const uint32_t *pairs, int k)
{
    const __m256i shift = _mm256_loadu_si256((const __m256i *)(c->shift_of + k));
    const int base = c->group_base[k >> 3];
    __m256i x;
    if (base >= 0)
        x = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(pairs + base)),
                                        _mm256_loadu_si256((const __m256i *)(c->rel_of + k)));
    else
        x = _mm256_i32gather_epi32((const int *)pairs,
                                   _mm256_loadu_si256((const __m256i *)(c->word_of + k)), 4);
    return _mm256_and_si256(_mm256_srlv_epi32(x, shift), c->lmask);
}

/* HYB: the vector form of qtip_code_hyb (trellis_codes.h): p = s(s+1), the table
 * row (p >> (15 - Q)) mod 2^Q read as one 64-bit pair, the first value's sign
 * flipped by bit 15 of p. States k .. k+7 -> 16 row-major values (lo, hi). */
QTIP_AVX2 static inline void hyb16(const dec_consts *c, const uint32_t *pairs, int k, __m256 *lo,
                                   __m256 *hi)
{
    const long long *tl = c->tl;
    __m256i s = states8(c, pairs, k);
    __m256i p = _mm256_mullo_epi32(s, _mm256_add_epi32(s, _mm256_set1_epi32(1)));
    __m256i idx = _mm256_and_si256(_mm256_srl_epi32(p, c->qshift), c->qmask);
    __m256i sg = _mm256_and_si256(_mm256_slli_epi32(p, 16), _mm256_set1_epi32((int)0x80000000u));
    /* 8 scalar loads: faster than a gather on cores that microcode gathers; the
     * indices leave the vector two at a time */
    __m128i i0 = _mm256_castsi256_si128(idx), i1 = _mm256_extracti128_si256(idx, 1);
    uint64_t a0 = (uint64_t)_mm_cvtsi128_si64(i0), a1 = (uint64_t)_mm_extract_epi64(i0, 1);
    uint64_t a2 = (uint64_t)_mm_cvtsi128_si64(i1), a3 = (uint64_t)_mm_extract_epi64(i1, 1);
    __m256i l = _mm256_set_epi64x(tl[a1 >> 32], tl[(uint32_t)a1], tl[a0 >> 32], tl[(uint32_t)a0]);
    __m256i h = _mm256_set_epi64x(tl[a3 >> 32], tl[(uint32_t)a3], tl[a2 >> 32], tl[(uint32_t)a2]);
    *lo = _mm256_castsi256_ps(_mm256_xor_si256(l, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(sg))));
    *hi = _mm256_castsi256_ps(_mm256_xor_si256(h, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(sg, 1))));
}

QTIP_AVX2 static void hyb_values(const qtip_matvec *mv, const uint32_t *pairs, int S8, float *tile)
{
    const dec_consts c = consts_of(mv);
    for (int k = 0; k < S8; k += 8) {
        __m256 lo, hi;
        hyb16(&c, pairs, k, &lo, &hi);
        _mm256_storeu_ps(tile + 2 * k, lo);
        _mm256_storeu_ps(tile + 2 * k + 8, hi);
    }
}

/* Other codes: the values gathered from the codebook's value table. */
QTIP_AVX2 static void table_values(const qtip_matvec *mv, const uint32_t *pairs, int S8, float *tile)
{
    const dec_consts c = consts_of(mv);
    const float *v0 = mv->vals, *v1 = mv->vals + ((size_t)1 << mv->L);
    const int V = mv->V;
    for (int k = 0; k < S8; k += 8) {
        __m256i s = states8(&c, pairs, k);
        __m256 a = _mm256_i32gather_ps(v0, s, 4);
        if (V == 1) {
            _mm256_storeu_ps(tile + k, a);
            continue;
        }
        __m256 b = _mm256_i32gather_ps(v1, s, 4);
        __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
        _mm256_storeu_ps(tile + 2 * k, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(tile + 2 * k + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
}

int qtip_mv_hyb_fused_fits(const qtip_matvec *mv)
{
    return mv->hyb_pairs && mv->td_y == 16 && mv->S % 8 == 0;
}

QTIP_AVX2 void qtip_mv_hyb_fused_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                                      const float *x, float *acc)
{
    make_pairs(w, mv->wpt, pairs);
    const dec_consts c = consts_of(mv);
    const int S = mv->S;
    const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
    for (int k = 0; k < S; k += 8) { /* 8 states: tile row k / 8 */
        __m256 lo, hi;
        hyb16(&c, pairs, k, &lo, &hi);
        float *ap = acc + (size_t)(k / 8) * QTIP_MV_LANES;
        __m256 a = _mm256_fmadd_ps(lo, x0, _mm256_loadu_ps(ap));
        _mm256_storeu_ps(ap, _mm256_fmadd_ps(hi, x1, a));
    }
}

QTIP_AVX2 void qtip_mv_trellis_tile_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                                         float *tile)
{
    const int S8 = mv->V <= 2 ? mv->S / 8 * 8 : 0;
    make_pairs(w, mv->wpt, pairs);
    if (mv->hyb_pairs) hyb_values(mv, pairs, S8, tile);
    else table_values(mv, pairs, S8, tile);
    if (S8 < mv->S) qtip_mv_trellis_tile_tail(mv, w, S8, tile);
}

#else /* no AVX2 path on this target: never called */

int qtip_mv_have_avx2(void) { return 0; }

void qtip_mv_accumulate_avx2(const float *tile, int ntiles, size_t tstride, int rows, int cols,
                             int ld, const float *X, int64_t n, int64_t col0, int batch, float *acc)
{
    for (int g = 0; g < ntiles; g++)
        qtip_mv_accumulate(tile + (size_t)g * tstride, rows, cols, ld, X, n, col0 + (int64_t)g * cols,
                           batch, acc);
}

void qtip_mv_trellis_tile_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                               float *tile)
{
    (void)pairs;
    qtip_mv_trellis_tile_tail(mv, w, 0, tile);
}

int qtip_mv_hyb_fused_fits(const qtip_matvec *mv)
{
    (void)mv;
    return 0;
}

void qtip_mv_hyb_fused_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                            const float *x, float *acc)
{
    (void)mv, (void)w, (void)pairs, (void)x, (void)acc;
}

#endif
