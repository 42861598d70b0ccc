/*
 * matvec_avx2.c — the AVX2 + FMA kernel of the CPU matvec (runtime dispatch, the
 * target attribute as in trellis/viterbi_fast.c; QTIP_NO_AVX2=1 forces the
 * portable kernel):
 *  - a trellis tile: 8 states at a time, each state's L bits cut from the 32-bit
 *    word pair it starts in (the vector form of qtip_trellis_window: the same
 *    shift and mask, with the tile's pairs built once), its values gathered from
 *    the codebook's value table; V = 2 values interleaved into row-major order.
 *    States left over when S is not a multiple of 8 take the portable decode;
 *  - tile times inputs: the lane accumulators of matvec_internal.h, eight lanes
 *    per FMA, one accumulator vector a tile row kept in a register. Columns not
 *    in whole aligned groups of 8 take the portable loop (same lanes, same fmaf).
 */
#include "matvec/matvec_internal.h"

#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QTIP_AVX2 __attribute__((target("avx2,fma")))

int qtip_mv_have_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return cached && !getenv("QTIP_NO_AVX2");
}

QTIP_AVX2 void qtip_mv_accumulate_avx2(const float *tile, int rows, int cols, int ld,
                                       const float *X, int64_t n, int64_t col0, int batch,
                                       float *acc)
{
    if (cols % QTIP_MV_LANES || col0 % QTIP_MV_LANES) {
        qtip_mv_accumulate(tile, rows, cols, ld, X, n, col0, batch, acc);
        return;
    }
    for (int b = 0; b < batch; b++) {
        const float *x = X + (size_t)b * (size_t)n + col0;
        for (int r = 0; r < rows; r++) {
            const float *w = tile + (size_t)r * (size_t)ld;
            float *ap = acc + ((size_t)b * (size_t)rows + (size_t)r) * QTIP_MV_LANES;
            __m256 a = _mm256_loadu_ps(ap);
            for (int c = 0; c < cols; c += QTIP_MV_LANES)
                a = _mm256_fmadd_ps(_mm256_loadu_ps(w + c), _mm256_loadu_ps(x + c), a);
            _mm256_storeu_ps(ap, a);
        }
    }
}

/* The L-bit states of entries k .. k+7 of the state map. */
QTIP_AVX2 static inline __m256i states8(const qtip_matvec *mv, const uint32_t *pairs, int k)
{
    const __m256i word = _mm256_loadu_si256((const __m256i *)(mv->word_of + k));
    const __m256i shift = _mm256_loadu_si256((const __m256i *)(mv->shift_of + k));
    const __m256i mask = _mm256_set1_epi32((int)((1u << mv->L) - 1u));
    __m256i x = _mm256_i32gather_epi32((const int *)pairs, word, 4);
    return _mm256_and_si256(_mm256_srlv_epi32(x, shift), mask);
}

QTIP_AVX2 void qtip_mv_trellis_tile_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                                         float *tile)
{
    const int nw = mv->wpt, S8 = mv->V <= 2 ? mv->S / 8 * 8 : 0;
    for (int a = 0; a < nw; a++) pairs[a] = ((uint32_t)w[a] << 16) | w[a + 1 == nw ? 0 : a + 1];
    const float *v0 = mv->vals, *v1 = mv->vals + ((size_t)1 << mv->L);
    if (mv->V == 1) {
        for (int k = 0; k < S8; k += 8)
            _mm256_storeu_ps(tile + k, _mm256_i32gather_ps(v0, states8(mv, pairs, k), 4));
    } else {
        for (int k = 0; k < S8; k += 8) {
            __m256i s = states8(mv, pairs, k);
            __m256 a = _mm256_i32gather_ps(v0, s, 4), b = _mm256_i32gather_ps(v1, s, 4);
            __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
            _mm256_storeu_ps(tile + 2 * k, _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_storeu_ps(tile + 2 * k + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
        }
    }
    if (S8 < mv->S) qtip_mv_trellis_tile_tail(mv, w, S8, tile);
}

#else /* no AVX2 path on this target: never called */

int qtip_mv_have_avx2(void) { return 0; }

void qtip_mv_accumulate_avx2(const float *tile, int rows, int cols, int ld, const float *X,
                             int64_t n, int64_t col0, int batch, float *acc)
{
    qtip_mv_accumulate(tile, rows, cols, ld, X, n, col0, batch, acc);
}

void qtip_mv_trellis_tile_avx2(const qtip_matvec *mv, const uint16_t *w, uint32_t *pairs,
                               float *tile)
{
    (void)pairs;
    qtip_mv_trellis_tile_tail(mv, w, 0, tile);
}

#endif
